//! Connection pools, one per component and address as in Spin, shared by
//! every request so a request does not pay for a TCP and auth handshake.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

/// The most connections one pool opens, from `HOST_PG_POOL_SIZE` (default 16).
/// Spin's 64 per component would let two busy components exhaust a default
/// PostgreSQL's 100 connections; 16 keeps a 2-core instance's database busy.
fn max_pool_size() -> usize {
    std::env::var("HOST_PG_POOL_SIZE").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(16)
}

#[derive(Default)]
pub struct Pools {
    pools: Mutex<HashMap<(String, String), Pool>>,
}

impl Pools {
    pub fn pool(&self, component: &str, address: &str, config: tokio_postgres::Config) -> Pool {
        let mut pools = self.pools.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        pools
            .entry((component.to_owned(), address.to_owned()))
            .or_insert_with(|| {
                let manager =
                    Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
                Pool::builder(manager)
                    .max_size(max_pool_size())
                    .runtime(Runtime::Tokio1)
                    .wait_timeout(Some(Duration::from_secs(10)))
                    .create_timeout(Some(Duration::from_secs(5)))
                    .build()
                    .expect("a pool with a runtime and timeouts always builds")
            })
            .clone()
    }
}

/// A pool error as the guest's `connection-failed` text.
pub fn describe_pool_error(error: &PoolError) -> String {
    match error {
        // tokio-postgres says only "db error"; the server's own words are in the source.
        PoolError::Backend(e) => match e.as_db_error() {
            Some(db) => format!("{e}: {}", db.message()),
            None => std::error::Error::source(e).map_or_else(|| e.to_string(), |source| format!("{e}: {source}")),
        },
        PoolError::Timeout(_) => "timed out waiting for a database connection".to_owned(),
        other => other.to_string(),
    }
}
