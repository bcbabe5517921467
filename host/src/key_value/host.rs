//! The `fermyon:spin/key-value` interface on this capability's own state,
//! as Spin's `factor-key-value/src/host.rs`: what the process shares
//! ([`AppState`]: one store per configured label) and what one instance holds
//! ([`InstanceState`]: the labels its component declares, the stores its
//! guest opened).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tracing::Instrument;

use redis::aio::ConnectionManager;
use wasmtime::component::{HasSelf, Linker, Resource};

use super::store::{self, RedisStore};
use super::stores::{StoreConfig, StoreConfigs};
use crate::bindings::key_value_wit::{self, Error, Store};
use crate::resource_table::Table;

/// The most stores one instance may hold open. `spin up` builds each
/// instance's table with `u32::MAX` places (`factor-key-value/src/lib.rs`,
/// `InstanceBuilder::build`); the 256 of `DEFAULT_STORE_TABLE_CAPACITY` is
/// only for embedders that call `KeyValueDispatch::new`. So, as under Spin,
/// `store-table-full` is not met in practice.
const MAX_OPEN_PER_INSTANCE: usize = u32::MAX as usize;

/// The stores of the runtime config, one per label for the whole process
/// (Spin keeps one store manager per label, whose Redis connection every
/// instance shares).
pub struct AppState {
    stores: HashMap<String, Arc<RedisStore>>,
}

/// A component declares a label the runtime config does not define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key_value_stores label {label:?} for component {component:?}: {hint}")]
pub struct UndefinedStore {
    pub component: String,
    pub label: String,
    hint: &'static str,
}

impl AppState {
    /// A store for each `[key_value_store.<label>]` of the runtime config;
    /// nothing connects until a guest opens one.
    pub fn new(configs: &StoreConfigs) -> Self {
        let stores = configs
            .iter()
            .map(|(label, config)| {
                let StoreConfig::Redis { url } = config;
                (label.to_owned(), Arc::new(RedisStore::new(url.clone())))
            })
            .collect();
        Self { stores }
    }

    /// The labels `component` may open, refused at start when one is not
    /// configured, as Spin refuses a label no store manager defines
    /// (`configure_app`: "unknown key_value_stores label").
    ///
    /// One difference, by choice: Spin defines `default` even without a
    /// runtime config, as a SQLite file under `.spin/`
    /// (`runtime-config/src/lib.rs`, `sqlite_key_value.db`). This host has
    /// no SQLite store, and a per-machine file would not be what the app
    /// gets where it is deployed, so `default` must be configured like any
    /// other label, or the component is refused at start.
    pub fn allowed_stores(&self, component: &str, labels: &[String]) -> Result<Arc<BTreeSet<String>>, UndefinedStore> {
        for label in labels {
            if !self.stores.contains_key(label) {
                let hint = if label == "default" {
                    "Spin would use a SQLite file under .spin/, which this host does not provide; define \
                     [key_value_store.default] in the runtime config file (--runtime-config-file)"
                } else {
                    "define it as [key_value_store.<label>] in the runtime config file (--runtime-config-file)"
                };
                return Err(UndefinedStore { component: component.to_owned(), label: label.clone(), hint });
            }
        }
        Ok(Arc::new(labels.iter().cloned().collect()))
    }
}

/// What one instance (one request) holds.
pub struct InstanceState {
    app: Arc<AppState>,
    /// The labels its component's `key_value_stores` declares.
    allowed: Arc<BTreeSet<String>>,
    /// The stores the guest opened: each a handle to its store's shared
    /// connection.
    stores: Table<ConnectionManager>,
}

impl InstanceState {
    pub fn new(app: Arc<AppState>, allowed: Arc<BTreeSet<String>>) -> Self {
        Self { app, allowed, stores: Table::new(MAX_OPEN_PER_INSTANCE) }
    }

    /// An open store's connection. An unknown handle is a host bug: a trap,
    /// as Spin's "invalid store".
    fn store(&self, store: &Resource<Store>) -> wasmtime::Result<ConnectionManager> {
        self.stores.get(store.rep()).cloned().ok_or_else(|| wasmtime::format_err!("invalid store"))
    }
}

/// Links `fermyon:spin/key-value` for a store whose data gives this
/// capability's state through `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut InstanceState,
) -> wasmtime::Result<()> {
    key_value_wit::add_to_linker::<T, HasSelf<InstanceState>>(linker, get)
}

impl key_value_wit::Host for InstanceState {}

impl key_value_wit::HostStore for InstanceState {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<Store>, Error>> {
        if !self.allowed.contains(&label) {
            return Ok(Err(Error::AccessDenied));
        }
        // Declared labels were checked against the configured ones at start.
        let Some(store) = self.app.stores.get(&label) else { return Ok(Err(Error::NoSuchStore)) };
        let span = outbound_span!("spin_key_value.open", kv.backend = "redis");
        let connection = match store.connect().instrument(span).await {
            Ok(connection) => connection,
            Err(error) => return Ok(Err(error)),
        };
        Ok(self.stores.push(connection).map(Resource::new_own).map_err(|_| Error::StoreTableFull))
    }

    async fn get(&mut self, s: Resource<Store>, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(store::get(self.store(&s)?, &key)
            .instrument(outbound_span!("spin_key_value.get", kv.backend = "redis"))
            .await)
    }

    async fn set(&mut self, s: Resource<Store>, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        let span = outbound_span!("spin_key_value.set", kv.backend = "redis");
        Ok(store::set(self.store(&s)?, &key, &value).instrument(span).await)
    }

    async fn delete(&mut self, s: Resource<Store>, key: String) -> wasmtime::Result<Result<(), Error>> {
        Ok(store::delete(self.store(&s)?, &key).await)
    }

    async fn exists(&mut self, s: Resource<Store>, key: String) -> wasmtime::Result<Result<bool, Error>> {
        Ok(store::exists(self.store(&s)?, &key).await)
    }

    async fn get_keys(&mut self, s: Resource<Store>) -> wasmtime::Result<Result<Vec<String>, Error>> {
        Ok(store::get_keys(self.store(&s)?).await)
    }

    async fn drop(&mut self, s: Resource<Store>) -> wasmtime::Result<()> {
        // As Spin: closing a store that is not open is not an error.
        self.stores.remove(s.rep());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::key_value_wit::HostStore;

    fn app(labels: &[&str]) -> Arc<AppState> {
        let text: String = labels
            .iter()
            .map(|label| format!("[key_value_store.{label}]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379/11\"\n"))
            .collect();
        let table: toml::Table = toml::from_str(&text).unwrap();
        Arc::new(AppState::new(&StoreConfigs::from_toml(&table["key_value_store"]).unwrap()))
    }

    fn declared(labels: &[&str]) -> Vec<String> {
        labels.iter().map(|label| (*label).to_owned()).collect()
    }

    #[test]
    fn a_declared_label_the_runtime_config_lacks_is_refused_naming_component_and_label() {
        let app = app(&["cache"]);
        assert!(app.allowed_stores("api", &declared(&["cache"])).is_ok());
        let error = app.allowed_stores("api", &declared(&["cache", "sessions"])).unwrap_err();
        assert_eq!((error.component.as_str(), error.label.as_str()), ("api", "sessions"));
        assert!(error.to_string().starts_with(r#"unknown key_value_stores label "sessions" for component "api""#));
        let default = app.allowed_stores("api", &declared(&["default"])).unwrap_err().to_string();
        assert!(default.contains(r#"label "default""#) && default.contains("SQLite"), "{default}");
    }

    #[tokio::test]
    async fn opening_a_label_the_component_does_not_declare_is_access_denied() {
        let app = app(&["cache", "other"]);
        let mut instance = InstanceState::new(app.clone(), app.allowed_stores("api", &declared(&["cache"])).unwrap());
        for label in ["other", "default", "nope"] {
            assert_eq!(instance.open(label.into()).await.unwrap().unwrap_err(), Error::AccessDenied, "{label}");
        }
    }

    /// Needs the local Redis: every instance's `cache` is one connection
    /// (one Redis client id), as under Spin; another label has its own.
    #[tokio::test]
    async fn instances_share_one_connection_per_store() {
        let app = app(&["cache", "other"]);
        let allowed = app.allowed_stores("api", &declared(&["cache", "other"])).unwrap();
        let mut client_ids = Vec::new();
        for label in ["cache", "cache", "other"] {
            let mut instance = InstanceState::new(app.clone(), allowed.clone());
            let store = instance.open(label.into()).await.unwrap().expect("the local Redis answers");
            let mut connection = instance.store(&store).unwrap();
            let id: i64 = redis::cmd("CLIENT").arg("ID").query_async(&mut connection).await.unwrap();
            client_ids.push(id);
            HostStore::drop(&mut instance, store).await.unwrap();
        }
        assert_eq!(client_ids[0], client_ids[1], "two instances, one connection");
        assert_ne!(client_ids[0], client_ids[2], "a connection per store");
    }
}
