//! `fermyon:spin/key-value@2.0.0`: a component's key-value stores, backed by
//! Redis as a runtime config file declares them, as strict as `spin up`. One
//! capability, as Spin's `factor-key-value` with `key-value-redis`: it owns
//! its state and its interface, and knows nothing of the runtime that
//! composes it.
//!
//! - `stores`: the `[key_value_store.<label>]` tables of the runtime config
//!   ([`StoreConfigs`]); only `type = "redis"` with a `redis://` `url`, any
//!   other type refused at start by label and type.
//! - `host`: the interface on this capability's state ([`AppState`] for the
//!   process, [`InstanceState`] for one request), and [`add_to_linker`]. A
//!   component may open only the labels its `key_value_stores` declares
//!   (`access-denied` otherwise), and every declared label must be
//!   configured, `default` included, or the host refuses to start.
//! - `store`: one Redis connection per store for the whole process, keys
//!   and values as given, Spin's commands, result limit and error texts.

mod host;
mod store;
mod stores;

pub use host::{AppState, InstanceState, UndefinedStore, add_to_linker};
pub use store::MAX_RESULT_BYTES;
pub use stores::{StoreConfig, StoreConfigError, StoreConfigs};
