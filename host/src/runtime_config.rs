//! The runtime config file, `host up --runtime-config-file PATH`, as `spin
//! up --runtime-config-file` reads it: TOML whose top-level tables each
//! configure one capability. This host implements one of them,
//! `[key_value_store.<label>]` ([`crate::key_value::StoreConfigs`]); every
//! other top-level key (Spin's `sqlite_database`, `llm_compute`,
//! `variables_provider`, `state_dir`, `outbound_redis`, …, or a key Spin
//! does not know either) is refused at start by name, as Spin refuses keys
//! it does not use ("unused runtime config key(s)"), so an app never runs
//! here with a setting silently dropped.

use std::path::Path;

use crate::key_value::{StoreConfigError, StoreConfigs};

/// What a runtime config file configures, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// `[key_value_store.<label>]`: the key-value stores by label.
    pub key_value: StoreConfigs,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeConfigError {
    #[error("cannot read the runtime config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid runtime config: {0}")]
    Toml(String),
    #[error(
        "runtime config: `{key}` is not supported by this host (it implements only `[key_value_store.<label>]` \
         with type \"redis\")"
    )]
    Unsupported { key: String },
    #[error("runtime config: {0}")]
    KeyValue(#[from] StoreConfigError),
}

impl RuntimeConfig {
    pub fn from_file(path: &Path) -> Result<Self, RuntimeConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| RuntimeConfigError::Read { path: path.display().to_string(), source })?;
        Self::from_toml(&text)
    }

    pub fn from_toml(text: &str) -> Result<Self, RuntimeConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| RuntimeConfigError::Toml(e.message().to_owned()))?;
        let mut config = Self::default();
        for (key, value) in &table {
            match key.as_str() {
                "key_value_store" => config.key_value = StoreConfigs::from_toml(value)?,
                _ => return Err(RuntimeConfigError::Unsupported { key: key.clone() }),
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_value::StoreConfig;

    #[test]
    fn redis_stores_are_read() {
        let config =
            RuntimeConfig::from_toml("[key_value_store.cache]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n")
                .unwrap();
        assert_eq!(config.key_value.get("cache"), Some(&StoreConfig::Redis { url: "redis://127.0.0.1:6379".into() }));
        assert_eq!(RuntimeConfig::from_toml("").unwrap(), RuntimeConfig::default(), "an empty file configures nothing");
    }

    #[test]
    fn every_other_top_level_key_is_refused_by_name() {
        for (text, key) in [
            ("[sqlite_database.default]\ntype = \"spin\"\n", "sqlite_database"),
            ("[llm_compute]\ntype = \"remote_http\"\n", "llm_compute"),
            ("[[variables_provider]]\ntype = \"vault\"\n", "variables_provider"),
            ("state_dir = \"/tmp\"\n", "state_dir"),
            ("[outbound_redis]\nmax_connections = 4\n", "outbound_redis"),
            ("colour = \"blue\"\n", "colour"),
        ] {
            let error = RuntimeConfig::from_toml(text).unwrap_err();
            assert!(matches!(&error, RuntimeConfigError::Unsupported { key: k } if k == key), "{text}: {error}");
            assert!(error.to_string().contains(&format!("`{key}`")), "{error}");
        }
    }

    #[test]
    fn store_errors_name_their_table() {
        let error = RuntimeConfig::from_toml("[key_value_store.cache]\ntype = \"spin\"\n").unwrap_err().to_string();
        assert!(error.contains("key_value_store.cache") && error.contains("\"spin\""), "{error}");
        let missing = RuntimeConfig::from_toml("[key_value_store.cache]\ntype = \"redis\"\n").unwrap_err().to_string();
        assert!(missing.contains("key_value_store.cache") && missing.contains("url"), "{missing}");
        assert!(matches!(RuntimeConfig::from_toml("[key_value_store"), Err(RuntimeConfigError::Toml(_))));
    }
}
