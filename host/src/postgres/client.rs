//! Connection pools as Spin keeps them: one deadpool per component and
//! address (measured under `spin up` 4.1.0-pre0: after 30 concurrent
//! requests to each of three components naming the same address, PostgreSQL
//! counted 30, then 56, then 80 connections; idle ones are kept), at most
//! [`PoolSize`] connections each (Spin's 64 unless the operator says
//! otherwise), and every connection reset with `RecyclingMethod::Clean`
//! before its next use, so no session state (temporary tables, settings,
//! advisory locks, cursors, listeners) leaks from one request into the next.
//!
//! The budget a deployment has to plan for is 64 connections per component
//! that uses the database, per address, per process: this app's four such
//! components can hold 256, past PostgreSQL's default `max_connections` of
//! 100, and the host takes as many as Spin would, so the shortfall shows
//! here first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use deadpool_postgres::{ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};

use super::settings::PoolSize;
use super::tls;

/// The pools of one running application: by component id, then by the
/// guest's address text (two maps, so a lookup allocates nothing).
pub struct Pools {
    size: PoolSize,
    pools: Mutex<HashMap<String, HashMap<String, Pool>>>,
}

/// Why `open` could not hand out a connection.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot set up TLS for the connection")]
    Tls(#[source] native_tls::Error),
    #[error(transparent)]
    Pool(#[from] PoolError),
}

impl Pools {
    pub fn new(size: PoolSize) -> Self {
        Self { size, pools: Mutex::new(HashMap::new()) }
    }

    /// A connection from `component`'s pool of `address`, whose parsed form is `config`.
    pub async fn connect(
        &self,
        component: &str,
        address: &str,
        config: tokio_postgres::Config,
    ) -> Result<deadpool_postgres::Object, ConnectError> {
        let pool = self.pool(component, address, config)?;
        Ok(pool.get().await?)
    }

    fn pool(&self, component: &str, address: &str, config: tokio_postgres::Config) -> Result<Pool, ConnectError> {
        let mut pools = self.pools.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(pool) = pools.get(component).and_then(|of_component| of_component.get(address)) {
            return Ok(pool.clone());
        }
        let manager = tls::manager(config, ManagerConfig { recycling_method: RecyclingMethod::Clean })
            .map_err(ConnectError::Tls)?;
        // Spin sets no timeouts; these only turn an unreachable server or an
        // exhausted pool into `connection-failed` before the request's own
        // deadline would cut the instance off with an empty 500.
        let pool = Pool::builder(manager)
            .max_size(self.size.get())
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(5)))
            .build()
            .expect("a pool with a runtime and timeouts always builds");
        pools.entry(component.to_owned()).or_default().insert(address.to_owned(), pool.clone());
        Ok(pool)
    }

    /// The state of `component`'s pool of `address`, if it has one.
    pub fn status(&self, component: &str, address: &str) -> Option<deadpool_postgres::Status> {
        let pools = self.pools.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        pools.get(component).and_then(|of_component| of_component.get(address)).map(Pool::status)
    }
}

/// A failed `open` as the guest's `connection-failed` text, in Spin's words:
/// the error and its causes as `anyhow` prints them (`…\n\nCaused by:\n    0: …`),
/// so a TLS failure reads `error performing TLS handshake … certificate
/// verify failed … (IP address mismatch)` here as under `spin up`.
pub fn describe_connect_error(error: &ConnectError) -> String {
    match error {
        ConnectError::Pool(pool) => super::errors::chain_text(pool),
        tls @ ConnectError::Tls(_) => super::errors::chain_text(tls),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &str = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable";

    async fn connect_as(pools: &Pools, component: &str) -> deadpool_postgres::Object {
        pools.connect(component, PLAIN, PLAIN.parse().unwrap()).await.expect("the local PostgreSQL answers")
    }

    async fn connect(pools: &Pools) -> deadpool_postgres::Object {
        connect_as(pools, "a").await
    }

    #[tokio::test]
    async fn a_pool_holds_spins_64_connections_unless_told_otherwise() {
        let pools = Pools::new(PoolSize::default());
        drop(connect(&pools).await);
        assert_eq!(pools.status("a", PLAIN).unwrap().max_size, 64);
        let small = Pools::new(PoolSize::new(3).unwrap());
        drop(connect(&small).await);
        assert_eq!(small.status("a", PLAIN).unwrap().max_size, 3);
    }

    #[tokio::test]
    async fn each_component_has_its_own_pool_of_an_address_as_under_spin() {
        let pools = Pools::new(PoolSize::new(2).unwrap());
        let (a, b) = (connect_as(&pools, "auth").await, connect_as(&pools, "auth").await);
        let status = pools.status("auth", PLAIN).unwrap();
        assert_eq!((status.size, status.available), (2, 0), "both connections came from auth's pool");
        // auth's pool is exhausted; another component still gets connections
        // of its own, so the process holds more than one pool's worth.
        let (c, d) = (connect_as(&pools, "users").await, connect_as(&pools, "users").await);
        assert_eq!(pools.status("users", PLAIN).unwrap().size, 2);
        drop((a, b, c, d));
        assert_eq!(pools.status("auth", PLAIN).unwrap().available, 2);
        assert_eq!(pools.status("users", PLAIN).unwrap().available, 2);
    }

    #[tokio::test]
    async fn a_returned_connection_is_cleaned_before_its_next_use() {
        let pools = Pools::new(PoolSize::new(1).unwrap());
        let first = connect(&pools).await;
        let pid: i32 = first.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
        first.batch_execute("CREATE TEMP TABLE leftover (x int); SET statement_timeout = 1234").await.unwrap();
        drop(first);

        let second = connect(&pools).await;
        let again: i32 = second.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
        assert_eq!(again, pid, "the same connection, reused");
        let leftover: Option<String> =
            second.query_one("SELECT to_regclass('pg_temp.leftover')::text", &[]).await.unwrap().get(0);
        assert_eq!(leftover, None, "temporary tables are gone");
        let timeout: String = second.query_one("SHOW statement_timeout", &[]).await.unwrap().get(0);
        assert_eq!(timeout, "0", "settings are reset");
    }
}
