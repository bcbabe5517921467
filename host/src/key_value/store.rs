//! A Redis-backed store, as Spin's `key-value-redis/src/store.rs`: one
//! connection manager per store (label) for the whole process, made by the
//! first `open` and shared by every instance after it, so a `get` is one
//! round trip on a warm connection. Keys are stored as given, no prefix;
//! values are the bytes given. The commands are Spin's: `GET`, `SET`, `DEL`,
//! `EXISTS` and `KEYS *`; a Redis failure is `other` with the client's text
//! (Spin's `log_error` formats the error with `{:?}`, which the redis crate
//! makes its `Display`).
//!
//! Where this differs from Spin, only in time: Spin's first `open` against an
//! unreachable Redis retries the connection with the redis crate's default
//! backoff (1 s, then 60 s five times, with jitter: 473 s measured under
//! `spin up` 4.1.0-pre0, nothing listening, before the same `other`); here an attempt takes at most [`TIMEOUT`] with one
//! retry, and for [`RETRY_AFTER_FAILURE`] after a failed attempt, opens fail
//! at once. Spin pings at every `open` and ignores the answer; the ping only
//! nudges the connection manager to reconnect, which it does by itself on
//! the next failed command, so it is left out (a round trip per request).

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::bindings::key_value_wit::Error;

/// How long a connection attempt or a command may take before it fails.
const TIMEOUT: Duration = Duration::from_secs(2);

/// How long a failed connection attempt makes later opens fail at once, so
/// an unreachable Redis costs requests one timeout per interval, not one each.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// Spin's limit on what one call may bring back from the store
/// (`spin_world::MAX_HOST_BUFFERED_BYTES`, 128 MiB), which its Redis store
/// checks on `get` and `get-keys` after the reply has arrived.
pub const MAX_RESULT_BYTES: usize = 128 << 20;

pub struct RedisStore {
    url: String,
    /// The store's one connection, or when the last attempt failed.
    connection: std::sync::Mutex<Slot>,
}

enum Slot {
    Unopened,
    Ready(ConnectionManager),
    FailedAt(Instant),
}

impl RedisStore {
    /// A store on `url` (checked at start); nothing connects until `open`.
    pub fn new(url: String) -> Self {
        Self { url, connection: std::sync::Mutex::new(Slot::Unopened) }
    }

    /// The store's shared connection, made on first use.
    pub async fn connect(&self) -> Result<ConnectionManager, Error> {
        {
            let slot = self.connection.lock().unwrap_or_else(|p| p.into_inner());
            match &*slot {
                Slot::Ready(manager) => return Ok(manager.clone()),
                Slot::FailedAt(at) if at.elapsed() < RETRY_AFTER_FAILURE => {
                    return Err(Error::Other("Redis is unreachable (the last attempt just failed)".into()));
                }
                _ => {}
            }
        }
        // Connect without holding the lock: one slow attempt must not queue every request.
        let client = redis::Client::open(self.url.as_str()).map_err(other)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(TIMEOUT)
            .set_response_timeout(TIMEOUT)
            .set_number_of_retries(1);
        let result = client.get_connection_manager_with_config(config).await;
        let mut slot = self.connection.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(manager) => {
                // Another instance may have connected meanwhile: keep the first, drop this one.
                if let Slot::Ready(first) = &*slot {
                    return Ok(first.clone());
                }
                *slot = Slot::Ready(manager.clone());
                Ok(manager)
            }
            Err(error) => {
                *slot = Slot::FailedAt(Instant::now());
                Err(other(error))
            }
        }
    }
}

/// The operations of an open store, on its shared connection.
pub async fn get(mut connection: ConnectionManager, key: &str) -> Result<Option<Vec<u8>>, Error> {
    let value: Option<Vec<u8>> = connection.get(key).await.map_err(other)?;
    let size = std::mem::size_of::<Option<Vec<u8>>>() + value.as_ref().map_or(0, Vec::len);
    within_limit(size, MAX_RESULT_BYTES)?;
    Ok(value)
}

pub async fn set(mut connection: ConnectionManager, key: &str, value: &[u8]) -> Result<(), Error> {
    connection.set(key, value).await.map_err(other)
}

pub async fn delete(mut connection: ConnectionManager, key: &str) -> Result<(), Error> {
    connection.del(key).await.map_err(other)
}

pub async fn exists(mut connection: ConnectionManager, key: &str) -> Result<bool, Error> {
    connection.exists(key).await.map_err(other)
}

pub async fn get_keys(mut connection: ConnectionManager) -> Result<Vec<String>, Error> {
    let keys: Vec<String> = connection.keys("*").await.map_err(other)?;
    within_limit(keys_size(&keys), MAX_RESULT_BYTES)?;
    Ok(keys)
}

/// What Spin counts for a `get-keys` result against the limit.
fn keys_size(keys: &[String]) -> usize {
    std::mem::size_of::<Vec<String>>() + keys.iter().map(|key| std::mem::size_of::<String>() + key.len()).sum::<usize>()
}

/// Spin's check and words for a result past the limit.
fn within_limit(size: usize, limit: usize) -> Result<(), Error> {
    if size > limit { Err(Error::Other(format!("query result exceeds limit of {limit} bytes"))) } else { Ok(()) }
}

/// A Redis failure, as Spin gives it to the guest.
fn other(error: redis::RedisError) -> Error {
    Error::Other(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_past_the_limit_fail_in_spins_words() {
        assert_eq!(within_limit(10, 10), Ok(()));
        assert_eq!(within_limit(11, 10), Err(Error::Other("query result exceeds limit of 10 bytes".into())));
        assert_eq!(MAX_RESULT_BYTES, 134_217_728);
        // As Spin counts: the vector, then each string's header and bytes.
        let keys = ["ab".to_owned(), "c".to_owned()];
        assert_eq!(keys_size(&keys), 3 * std::mem::size_of::<String>() + 3);
    }

    #[tokio::test]
    async fn an_unreachable_redis_fails_open_with_other_then_fails_fast() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let store = RedisStore::new(format!("redis://127.0.0.1:{port}"));
        let Err(Error::Other(first)) = store.connect().await else { panic!("nothing listens on {port}") };
        assert!(first.contains("refused"), "{first}");
        let started = Instant::now();
        let Err(Error::Other(second)) = store.connect().await else { panic!("still nothing listens") };
        assert!(second.contains("unreachable") && started.elapsed() < TIMEOUT, "{second}");
    }
}
