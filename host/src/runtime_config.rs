//! The runtime config file, `host up --runtime-config-file PATH`, as `spin
//! up --runtime-config-file` reads it: TOML whose top-level tables each
//! configure one capability. This host implements two of them:
//! `[key_value_store.<label>]` ([`crate::key_value::StoreConfigs`]) and
//! `[[variables_provider]]` of type `static` (a table of values, asked in
//! order before the environment, as SpinKube's Secret gives the app's
//! secrets). Every other top-level key (Spin's `sqlite_database`,
//! `llm_compute`, `state_dir`, `outbound_redis`, …, or a key Spin does not
//! know either) and every other provider type (`vault`,
//! `azure_key_vault`, `env`) is refused at start by name, as Spin refuses
//! keys it does not use ("unused runtime config key(s)"), so an app never
//! runs here with a setting silently dropped.

use std::collections::HashMap;

use std::path::Path;

use crate::key_value::{StoreConfigError, StoreConfigs};

/// What a runtime config file configures, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// `[key_value_store.<label>]`: the key-value stores by label.
    pub key_value: StoreConfigs,
    /// `[[variables_provider]]` of type `static`: their values, in order.
    pub variables: Vec<HashMap<String, String>>,
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
    #[error(
        "runtime config: `variables_provider` entry {index}: {problem} (this host implements only type \"static\" \
         with a `values` table of strings)"
    )]
    VariablesProvider { index: usize, problem: String },
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
                // Spin reads `config_provider`, the older name, only without `variables_provider`.
                "config_provider" if table.contains_key("variables_provider") => {
                    return Err(RuntimeConfigError::Unsupported { key: key.clone() });
                }
                "variables_provider" | "config_provider" => config.variables = static_providers(value)?,
                _ => return Err(RuntimeConfigError::Unsupported { key: key.clone() }),
            }
        }
        Ok(config)
    }
}

/// `[[variables_provider]]`: each entry must be `type = "static"` with a
/// `values` table of strings.
fn static_providers(value: &toml::Value) -> Result<Vec<HashMap<String, String>>, RuntimeConfigError> {
    let problem = |index, problem: &str| RuntimeConfigError::VariablesProvider { index, problem: problem.to_owned() };
    let entries = value.as_array().ok_or_else(|| problem(0, "not an array of tables ([[variables_provider]])"))?;
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let table = entry.as_table().ok_or_else(|| problem(index, "not a table"))?;
            match table.get("type").and_then(toml::Value::as_str) {
                Some("static") => {}
                Some(other) => return Err(problem(index, &format!("type {other:?}"))),
                None => return Err(problem(index, "no `type`")),
            }
            if let Some(key) = table.keys().find(|k| !["type", "values"].contains(&k.as_str())) {
                return Err(problem(index, &format!("unknown setting `{key}`")));
            }
            let values = table
                .get("values")
                .and_then(toml::Value::as_table)
                .ok_or_else(|| problem(index, "no `values` table"))?;
            values
                .iter()
                .map(|(name, value)| match value.as_str() {
                    Some(text) => Ok((name.clone(), text.to_owned())),
                    None => Err(problem(index, &format!("`{name}` is not a string"))),
                })
                .collect()
        })
        .collect()
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
    fn static_variables_providers_are_read_in_order() {
        let text = "[[variables_provider]]\ntype = \"static\"\n[variables_provider.values]\njwt_secret = \"s\"\n\n\
                    [[variables_provider]]\ntype = \"static\"\nvalues = { jwt_secret = \"later\", x = \"1\" }\n";
        let config = RuntimeConfig::from_toml(text).unwrap();
        assert_eq!(config.variables.len(), 2);
        assert_eq!((config.variables[0]["jwt_secret"].as_str(), config.variables[1]["x"].as_str()), ("s", "1"));
        let older =
            RuntimeConfig::from_toml("[[config_provider]]\ntype = \"static\"\nvalues = { a = \"b\" }\n").unwrap();
        assert_eq!(older.variables[0]["a"], "b");
    }

    #[test]
    fn other_variables_providers_are_refused_by_type() {
        for (text, says) in [
            ("[[variables_provider]]\ntype = \"vault\"\nurl = \"http://v\"\n", "type \"vault\""),
            ("[[variables_provider]]\ntype = \"azure_key_vault\"\n", "type \"azure_key_vault\""),
            ("[[variables_provider]]\ntype = \"env\"\nprefix = \"X\"\n", "type \"env\""),
            ("[[variables_provider]]\ntype = \"static\"\nvalues = { a = 1 }\n", "`a` is not a string"),
            ("[[variables_provider]]\ntype = \"static\"\nvalue = { a = \"b\" }\n", "unknown setting `value`"),
            ("[variables_provider]\ntype = \"static\"\n", "not an array"),
        ] {
            let error = RuntimeConfig::from_toml(text).unwrap_err().to_string();
            assert!(error.contains(says) && error.contains("variables_provider"), "{text}: {error}");
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
