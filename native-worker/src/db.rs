//! The PostgreSQL connection pool, and the worker's database errors. The
//! pool replaces broken connections on checkout, which is how the worker
//! reconnects to PostgreSQL after an outage.
//!
//! Every statement runs through [`timed`] with the name of what it does
//! (`"outbox.claim"`, `"dedup.purge"`: table, then operation), and an error
//! carries that name, so a log line says which query failed, not only how.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("invalid DATABASE_URL: {0}")]
    Config(#[source] tokio_postgres::Error),
    #[error("cannot build the pool: {0}")]
    Build(String),
    /// No connection for the statement named `op`.
    #[error("no database connection ({op}): {source}")]
    Pool {
        op: &'static str,
        #[source]
        source: deadpool_postgres::PoolError,
    },
    /// The statement named `op` failed.
    #[error("query failed ({op}): {source}")]
    Query {
        op: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    /// The statement named `op` got no answer within [`QUERY_TIMEOUT`].
    #[error("database did not answer in time ({op})")]
    Timeout { op: &'static str },
    /// A batched query failed; the message is shared by every caller in it.
    #[error("{0}")]
    Batch(String),
    /// PostgreSQL refused a value this caller sent (SQLSTATE class 22, data
    /// exception): the caller's input is at fault, not the database, so it is
    /// neither retried nor held against the circuit breaker.
    #[error("the database refused a value: {0}")]
    Data(String),
    /// A row came back that cannot be read into its Rust type.
    #[error("unreadable row: {0}")]
    Unreadable(String),
}

impl DbError {
    /// The error as each caller of a failed batch receives it (the driver's
    /// error cannot be cloned), keeping whether it was caller-specific.
    pub fn shared(&self) -> DbError {
        match self {
            DbError::Data(m) => DbError::Data(m.clone()),
            DbError::Unreadable(m) => DbError::Unreadable(m.clone()),
            DbError::Query { source, .. } if is_data_exception(source) => DbError::Data(source.to_string()),
            other => DbError::Batch(other.to_string()),
        }
    }

    /// True when the failure belongs to the values one caller sent or read,
    /// so another caller asking the same question with other values would
    /// have succeeded (see [`crate::batch`]'s fallback).
    pub fn is_caller_specific(&self) -> bool {
        match self {
            DbError::Data(_) | DbError::Unreadable(_) => true,
            DbError::Query { source, .. } => is_data_exception(source),
            _ => false,
        }
    }
}

/// Reads column `idx` of `row`; a value that does not fit the Rust type is
/// an [`DbError::Unreadable`] error, never a panic.
pub fn column<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    idx: usize,
) -> Result<T, DbError> {
    row.try_get(idx).map_err(|e| DbError::Unreadable(format!("column {idx}: {e}")))
}

/// SQLSTATE class 22 ("data exception": a NUL in text, a value out of range,
/// bad encoding): the statement's values are wrong, not the database.
pub fn is_data_exception(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| c.code().starts_with("22"))
}

/// Bound on one query, so a dead link fails a message instead of hanging it.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

pub fn pool(database_url: &str, size: usize) -> Result<Pool, DbError> {
    let mut config: tokio_postgres::Config = database_url.parse().map_err(DbError::Config)?;
    config.connect_timeout(Duration::from_secs(3));
    // Dedup records and outbox marks are written per message. Not waiting for
    // the WAL flush multiplies throughput; a PostgreSQL crash can lose the last
    // fraction of a second of them, which costs at most a duplicate push or a
    // re-sent event, both of which downstream consumers must tolerate anyway.
    config.options("-c synchronous_commit=off");
    let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
    // TLS by the address's sslmode, as the components connect under Spin (crate::pg_tls).
    let manager = match crate::pg_tls::connector(&config).map_err(|e| DbError::Build(e.to_string()))? {
        crate::pg_tls::Connector::Plain => Manager::from_config(config, tokio_postgres::NoTls, manager_config),
        crate::pg_tls::Connector::Tls(tls) => Manager::from_config(config, tls, manager_config),
    };
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(3)))
        .recycle_timeout(Some(Duration::from_secs(3)))
        .build()
        .map_err(|e| DbError::Build(e.to_string()))
}

/// A failure of the driver or the pool, as the error of the statement `op`.
pub trait Failure {
    fn during(self, op: &'static str) -> DbError;
}

impl Failure for tokio_postgres::Error {
    fn during(self, op: &'static str) -> DbError {
        DbError::Query { op, source: self }
    }
}

impl Failure for deadpool_postgres::PoolError {
    fn during(self, op: &'static str) -> DbError {
        DbError::Pool { op, source: self }
    }
}

/// Runs `fut`, a step of the statement named `op` (checking out its
/// connection, preparing, running, committing), under [`QUERY_TIMEOUT`].
pub async fn timed<T, E: Failure>(op: &'static str, fut: impl Future<Output = Result<T, E>>) -> Result<T, DbError> {
    match tokio::time::timeout(QUERY_TIMEOUT, fut).await {
        Ok(result) => result.map_err(|e| e.during(op)),
        Err(_) => Err(DbError::Timeout { op }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_error_names_the_statement_it_came_from() {
        let closed = async { Err::<(), _>(deadpool_postgres::PoolError::Closed) };
        let error = timed("dedup.purge", closed).await.unwrap_err();
        assert!(error.to_string().starts_with("no database connection (dedup.purge): "), "{error}");
        assert!(!error.is_caller_specific(), "an outage is everyone's");
        let shared = error.shared();
        assert!(
            matches!(&shared, DbError::Batch(m) if m.starts_with("no database connection (dedup.purge)")),
            "{shared}"
        );
    }
}
