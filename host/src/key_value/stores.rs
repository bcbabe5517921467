//! The `[key_value_store.<label>]` tables of a runtime config file, read as
//! Spin's `factor-key-value/src/runtime_config/spin.rs` reads them: each
//! label names a `type` and that type's settings. Of Spin's four types
//! (`spin`, `redis`, `azure_cosmos`, `aws_dynamo`) only `redis` is
//! implemented; any other is refused at start with its label and type, as
//! Spin refuses a type it has not registered.
//!
//! Stricter than Spin, never looser: Spin ignores keys a store type does not
//! know (`RedisKeyValueRuntimeConfig` is plain serde); here they are refused
//! by name, since a misspelt setting would otherwise be silently dropped. Of
//! the URL schemes Spin's Redis client accepts, only `redis://` is honoured:
//! this host's Redis client has no TLS (`rediss://`) and is not asked to
//! reach a Unix socket.

use std::collections::BTreeMap;

/// A runtime config's key-value stores, by label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreConfigs(BTreeMap<String, StoreConfig>);

/// One store's backing, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// `type = "redis"`: a Redis server, keys stored as given.
    Redis { url: String },
}

/// Why a `[key_value_store.<label>]` table is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreConfigError {
    #[error("`key_value_store` must be a table of `[key_value_store.<label>]` tables")]
    NotATable,
    #[error("`key_value_store.{label}` must be a table with a `type`")]
    NoType { label: String },
    #[error(
        "`key_value_store.{label}`: type {kind:?} is not supported by this host (only \"redis\"; Spin also knows \
         \"spin\", \"azure_cosmos\" and \"aws_dynamo\")"
    )]
    UnsupportedType { label: String, kind: String },
    #[error("`key_value_store.{label}`: a \"redis\" store needs a `url` string")]
    MissingUrl { label: String },
    #[error("`key_value_store.{label}.{key}` is not a setting of a \"redis\" store (Spin would ignore it)")]
    UnknownSetting { label: String, key: String },
    #[error("`key_value_store.{label}.url`: {problem}")]
    InvalidUrl { label: String, problem: String },
}

impl StoreConfigs {
    /// The stores of a runtime config's `key_value_store` value.
    pub fn from_toml(value: &toml::Value) -> Result<Self, StoreConfigError> {
        let tables = value.as_table().ok_or(StoreConfigError::NotATable)?;
        let mut stores = BTreeMap::new();
        for (label, table) in tables {
            let no_type = || StoreConfigError::NoType { label: label.clone() };
            let table = table.as_table().ok_or_else(no_type)?;
            let kind = table.get("type").and_then(toml::Value::as_str).ok_or_else(no_type)?;
            if kind != "redis" {
                return Err(StoreConfigError::UnsupportedType { label: label.clone(), kind: kind.to_owned() });
            }
            if let Some(key) = table.keys().find(|key| !matches!(key.as_str(), "type" | "url")) {
                return Err(StoreConfigError::UnknownSetting { label: label.clone(), key: key.clone() });
            }
            let url = table
                .get("url")
                .and_then(toml::Value::as_str)
                .ok_or_else(|| StoreConfigError::MissingUrl { label: label.clone() })?;
            check_url(url).map_err(|problem| StoreConfigError::InvalidUrl { label: label.clone(), problem })?;
            stores.insert(label.clone(), StoreConfig::Redis { url: url.to_owned() });
        }
        Ok(Self(stores))
    }

    pub fn get(&self, label: &str) -> Option<&StoreConfig> {
        self.0.get(label)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &StoreConfig)> {
        self.0.iter().map(|(label, config)| (label.as_str(), config))
    }
}

/// Spin refuses at start a URL its Redis client cannot parse ("Invalid Redis
/// URL"); so does this, and a scheme this host cannot honour.
fn check_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|error| format!("invalid Redis URL {url:?}: {error}"))?;
    if parsed.scheme() != "redis" {
        return Err(format!(
            "scheme {:?} is not supported by this host (only \"redis\": no TLS, no Unix sockets)",
            parsed.scheme()
        ));
    }
    redis::Client::open(url).map_err(|error| format!("invalid Redis URL {url:?}: {error}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StoreConfigs, StoreConfigError> {
        let table: toml::Table = toml::from_str(text).unwrap();
        StoreConfigs::from_toml(&table["key_value_store"])
    }

    #[test]
    fn a_redis_store_is_its_url() {
        let stores = parse(
            "[key_value_store.cache]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n\
             [key_value_store.other_one]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379/3\"\n",
        )
        .unwrap();
        assert_eq!(stores.get("cache"), Some(&StoreConfig::Redis { url: "redis://127.0.0.1:6379".into() }));
        assert_eq!(stores.get("other_one"), Some(&StoreConfig::Redis { url: "redis://127.0.0.1:6379/3".into() }));
        assert_eq!(stores.get("default"), None, "no store is implied");
    }

    #[test]
    fn spins_other_store_types_are_refused_naming_label_and_type() {
        for kind in ["spin", "azure_cosmos", "aws_dynamo", "memcached"] {
            let error = parse(&format!("[key_value_store.cache]\ntype = \"{kind}\"\npath = \"x.db\"\n")).unwrap_err();
            assert_eq!(error, StoreConfigError::UnsupportedType { label: "cache".into(), kind: kind.into() });
            let text = error.to_string();
            assert!(text.contains("key_value_store.cache") && text.contains(kind), "{text}");
        }
    }

    #[test]
    fn a_redis_store_needs_a_url_and_nothing_else() {
        assert_eq!(
            parse("[key_value_store.cache]\ntype = \"redis\"\n").unwrap_err(),
            StoreConfigError::MissingUrl { label: "cache".into() }
        );
        assert_eq!(
            parse("[key_value_store.cache]\ntype = \"redis\"\nurl = 6379\n").unwrap_err(),
            StoreConfigError::MissingUrl { label: "cache".into() }
        );
        assert_eq!(
            parse("[key_value_store.cache]\ntype = \"redis\"\nurl = \"redis://h\"\nurll = \"x\"\n").unwrap_err(),
            StoreConfigError::UnknownSetting { label: "cache".into(), key: "urll".into() }
        );
        assert_eq!(
            parse("[key_value_store.cache]\nurl = \"redis://h\"\n").unwrap_err(),
            StoreConfigError::NoType { label: "cache".into() }
        );
        assert_eq!(parse("key_value_store = 1\n").unwrap_err(), StoreConfigError::NotATable);
    }

    #[test]
    fn urls_are_checked_at_start() {
        for url in ["not a url", "rediss://127.0.0.1:6380", "unix:///tmp/redis.sock", "http://127.0.0.1:6379"] {
            let error = parse(&format!("[key_value_store.cache]\ntype = \"redis\"\nurl = \"{url}\"\n")).unwrap_err();
            assert!(matches!(&error, StoreConfigError::InvalidUrl { label, .. } if label == "cache"), "{url}: {error}");
        }
    }
}
