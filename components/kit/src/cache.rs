//! Redis through `fermyon:spin/redis`, and the hot reads through Spin's
//! key-value store `cache` on the same Redis. The cache is an optimisation
//! and the rate limiter's store: when Redis is down, reads fall back to the
//! database and limits are not enforced, but no request fails because of it.
//!
//! Why two interfaces to one Redis: under `spin up` every `fermyon:spin/redis`
//! `open` is a new TCP connection and handshake, while a Redis-backed
//! key-value store shares one connection per process. So the reads that
//! answer most requests (one `get` of a cached entry, which carries the
//! user's ended sessions: `crate::revocation`, through a [`CacheReader`]) go through the key-value store, and everything that
//! needs what the key-value interface lacks (expiry, `SET NX`, counters)
//! stays on `redis_url`: fills, tombstones, marks and limits. Both must name
//! the same Redis database (README, "Caching"); the keys are the same, as
//! Spin's Redis store keeps keys as given.

use std::cell::OnceCell;

use serde_json::json;
use spin_sdk::key_value::Store;
use spin_sdk::redis::{Connection, RedisParameter, RedisResult};
use user_domain::ApiError;

use crate::config::{self, CacheReads};
use crate::log;

/// The key-value store label the components declare (`key_value_stores`)
/// and the runtime config backs with Redis.
pub const KEY_VALUE_STORE: &str = "cache";

pub struct Cache {
    connection: Connection,
    correlation_id: String,
}

impl Cache {
    /// Connects to the `redis_url` variable's Redis, or logs why not.
    pub fn connect(correlation_id: &str) -> Option<Self> {
        let url = match crate::config::redis_url() {
            Ok(url) => url,
            Err(error) => {
                log::warn(correlation_id, "no redis_url; running without cache", json!({"error": error.to_string()}));
                return None;
            }
        };
        Self::open(&url, correlation_id)
            .map_err(|error| {
                log::warn(correlation_id, "redis unavailable; running without cache", json!({"error": error}));
            })
            .ok()
    }

    /// Opens the Redis at `url` (for callers that hold the address already).
    pub fn open(url: &str, correlation_id: &str) -> Result<Self, String> {
        Connection::open(url)
            .map(|connection| Self { connection, correlation_id: correlation_id.to_owned() })
            .map_err(|e| format!("{e:?}"))
    }

    /// Proves the connection with PING (for health checks).
    pub fn ping(&self) -> Result<(), String> {
        match self.connection.execute("PING", &[]) {
            Ok(results) if results.iter().any(|r| matches!(r, RedisResult::Status(s) if s == "PONG")) => Ok(()),
            Ok(other) => Err(format!("unexpected PING answer {other:?}")),
            Err(e) => Err(format!("{e:?}")),
        }
    }

    pub(crate) fn failed(&self, operation: &str, error: impl std::fmt::Debug) {
        log::warn(
            &self.correlation_id,
            "redis command failed",
            json!({"operation": operation, "error": format!("{error:?}")}),
        );
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.connection.get(key).map_err(|e| self.failed("GET", e)).ok().flatten()
    }

    /// SET with a time to live.
    pub fn set_ex(&self, key: &str, value: &[u8], ttl_secs: u64) {
        let args = [
            RedisParameter::Binary(key.as_bytes().to_vec()),
            RedisParameter::Binary(value.to_vec()),
            RedisParameter::Binary(b"EX".to_vec()),
            RedisParameter::Int64(ttl_secs as i64),
        ];
        if let Err(e) = self.connection.execute("SET", &args) {
            self.failed("SET", e);
        }
    }

    /// SET with a time to live, only if the key does not exist (`NX`).
    pub fn set_ex_if_absent(&self, key: &str, value: &[u8], ttl_secs: u64) {
        let args = [
            RedisParameter::Binary(key.as_bytes().to_vec()),
            RedisParameter::Binary(value.to_vec()),
            RedisParameter::Binary(b"NX".to_vec()),
            RedisParameter::Binary(b"EX".to_vec()),
            RedisParameter::Int64(ttl_secs as i64),
        ];
        if let Err(e) = self.connection.execute("SET", &args) {
            self.failed("SET NX", e);
        }
    }

    pub fn del(&self, keys: &[String]) {
        if let Err(e) = self.connection.del(keys) {
            self.failed("DEL", e);
        }
    }

    /// INCR, setting the key's expiry when this call created it.
    pub fn incr_with_ttl(&self, key: &str, ttl_secs: u64) -> Option<i64> {
        let count = self.connection.incr(key).map_err(|e| self.failed("INCR", e)).ok()?;
        if count == 1 {
            let args = [RedisParameter::Binary(key.as_bytes().to_vec()), RedisParameter::Int64(ttl_secs as i64)];
            if let Err(e) = self.connection.execute("EXPIRE", &args) {
                self.failed("EXPIRE", e);
            }
        }
        Some(count)
    }
}

impl Cache {
    /// Any command; `None` when Redis failed (logged).
    pub fn execute(&self, command: &str, arguments: &[RedisParameter]) -> Option<Vec<RedisResult>> {
        self.connection.execute(command, arguments).map_err(|e| self.failed(command, e)).ok()
    }
}

/// A cache connection opened on first use, so endpoints that never touch
/// Redis never pay for a connection (under `spin up`, every open is one).
pub struct LazyCache<'a> {
    correlation_id: &'a str,
    cell: OnceCell<Option<Cache>>,
}

impl<'a> LazyCache<'a> {
    pub fn new(correlation_id: &'a str) -> Self {
        Self { correlation_id, cell: OnceCell::new() }
    }

    /// The connection, opened now if this is the first call; `None` without Redis.
    pub fn get(&self) -> Option<&Cache> {
        self.cell.get_or_init(|| Cache::connect(self.correlation_id)).as_ref()
    }
}

/// Spin's key-value store [`KEY_VALUE_STORE`], for reads only.
pub struct KeyValueCache {
    store: Store,
    correlation_id: String,
}

impl KeyValueCache {
    /// Opens the store, or logs why not (`None`: read the database).
    fn open(correlation_id: &str) -> Option<Self> {
        match Store::open(KEY_VALUE_STORE) {
            Ok(store) => Some(Self { store, correlation_id: correlation_id.to_owned() }),
            Err(error) => {
                log::warn(
                    correlation_id,
                    "key-value store unavailable; reading the database",
                    json!({"store": KEY_VALUE_STORE, "error": format!("{error:?}")}),
                );
                None
            }
        }
    }

    /// One key's value; `Err` (logged) when the store failed.
    fn read(&self, key: &str) -> Result<Option<Vec<u8>>, ()> {
        self.store.get(key).map_err(|error| {
            log::warn(
                &self.correlation_id,
                "key-value get failed",
                json!({"store": KEY_VALUE_STORE, "error": format!("{error:?}")}),
            );
        })
    }
}

/// Where a cached read looks: the key-value store or a Redis connection
/// ([`CacheReads`]). A failure of either is a miss (logged).
pub enum CacheReader<'c> {
    KeyValue(&'c KeyValueCache),
    Redis(&'c Cache),
}

impl CacheReader<'_> {
    /// One key's value; `None` when absent or on failure.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self {
            Self::KeyValue(store) => store.read(key).ok().flatten(),
            Self::Redis(cache) => cache.get(key),
        }
    }
}

/// How this request reads cached entries, decided on first use: the
/// key-value store opened then, or Redis through the [`LazyCache`].
pub struct LazyReader<'a> {
    correlation_id: &'a str,
    cell: OnceCell<Reads>,
}

enum Reads {
    KeyValue(Option<KeyValueCache>),
    Redis,
}

impl<'a> LazyReader<'a> {
    pub fn new(correlation_id: &'a str) -> Self {
        Self { correlation_id, cell: OnceCell::new() }
    }

    /// The reader `cache_reads` chooses; `None` without one (read the
    /// database). A malformed `cache_reads` is an operator error (500).
    pub fn get<'c>(&'c self, cache: &'c LazyCache<'_>) -> Result<Option<CacheReader<'c>>, ApiError> {
        let reads = match self.cell.get() {
            Some(reads) => reads,
            None => {
                let reads = match config::cache_reads()? {
                    CacheReads::KeyValue => Reads::KeyValue(KeyValueCache::open(self.correlation_id)),
                    CacheReads::Redis => Reads::Redis,
                };
                self.cell.get_or_init(|| reads)
            }
        };
        Ok(match reads {
            Reads::KeyValue(store) => store.as_ref().map(CacheReader::KeyValue),
            Reads::Redis => cache.get().map(CacheReader::Redis),
        })
    }
}
