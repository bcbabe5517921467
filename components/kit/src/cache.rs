//! Redis through `fermyon:spin/redis`. The cache is an optimisation and the
//! rate limiter's store: when Redis is down, reads fall back to the database
//! and limits are not enforced, but no request fails because of it.

use serde_json::json;
use spin_sdk::redis::{Connection, RedisParameter, RedisResult};

use crate::log;

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

    fn failed(&self, operation: &str, error: impl std::fmt::Debug) {
        log::warn(
            &self.correlation_id,
            "redis command failed",
            json!({"operation": operation, "error": format!("{error:?}")}),
        );
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.connection.get(key).map_err(|e| self.failed("GET", e)).ok().flatten()
    }

    /// Several keys in one round trip (`MGET`): each value, or `None` for a
    /// key that is absent. `None` as a whole when Redis failed (logged).
    pub fn get_many(&self, keys: &[&str]) -> Option<Vec<Option<Vec<u8>>>> {
        let args: Vec<RedisParameter> = keys.iter().map(|k| RedisParameter::Binary(k.as_bytes().to_vec())).collect();
        let results = self.execute("MGET", &args)?;
        if results.len() != keys.len() {
            self.failed("MGET", format!("{} answers for {} keys", results.len(), keys.len()));
            return None;
        }
        Some(
            results
                .into_iter()
                .map(|r| match r {
                    RedisResult::Binary(bytes) => Some(bytes),
                    RedisResult::Status(text) => Some(text.into_bytes()),
                    _ => None,
                })
                .collect(),
        )
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
    cell: std::cell::OnceCell<Option<Cache>>,
}

impl<'a> LazyCache<'a> {
    pub fn new(correlation_id: &'a str) -> Self {
        Self { correlation_id, cell: std::cell::OnceCell::new() }
    }

    /// The connection, opened now if this is the first call; `None` without Redis.
    pub fn get(&self) -> Option<&Cache> {
        self.cell.get_or_init(|| Cache::connect(self.correlation_id)).as_ref()
    }
}
