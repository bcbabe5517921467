//! The Redis side of enrichment. Redis is an optimisation here, never a
//! dependency: every operation has a short timeout and every failure is
//! reported as a miss by the caller, which then reads PostgreSQL.

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer in time")]
    Timeout,
}

/// Bound on one Redis round trip: past this, reading PostgreSQL is faster.
const OP_TIMEOUT: Duration = Duration::from_millis(300);

pub struct Cache {
    client: redis::Client,
    /// Created on first use, so the worker starts while Redis is down; the
    /// manager then reconnects by itself.
    conn: Mutex<Option<ConnectionManager>>,
}

impl Cache {
    pub fn new(url: &str) -> Result<Self, CacheError> {
        Ok(Self { client: redis::Client::open(url)?, conn: Mutex::new(None) })
    }

    async fn conn(&self) -> Result<ConnectionManager, CacheError> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(OP_TIMEOUT)
            .set_response_timeout(OP_TIMEOUT)
            .set_number_of_retries(1)
            .set_max_delay(1000);
        let conn =
            tokio::time::timeout(OP_TIMEOUT * 2, ConnectionManager::new_with_config(self.client.clone(), config))
                .await
                .map_err(|_| CacheError::Timeout)??;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        let mut conn = self.conn().await?;
        tokio::time::timeout(OP_TIMEOUT, conn.get(key)).await.map_err(|_| CacheError::Timeout)?.map_err(Into::into)
    }

    pub async fn set_ex(&self, key: &str, value: &str, ttl_secs: u64) -> Result<(), CacheError> {
        let mut conn = self.conn().await?;
        tokio::time::timeout(OP_TIMEOUT, conn.set_ex::<_, _, ()>(key, value, ttl_secs))
            .await
            .map_err(|_| CacheError::Timeout)?
            .map_err(Into::into)
    }

    /// `SET key value NX EX ttl`: true when the key was absent and is now set.
    pub async fn set_nx_ex(&self, key: &str, value: &str, ttl_secs: u64) -> Result<bool, CacheError> {
        let mut conn = self.conn().await?;
        let mut set = redis::cmd("SET");
        set.arg(key).arg(value).arg("NX").arg("EX").arg(ttl_secs);
        let reply: Option<String> =
            tokio::time::timeout(OP_TIMEOUT, set.query_async(&mut conn)).await.map_err(|_| CacheError::Timeout)??;
        Ok(reply.is_some())
    }

    /// Sets `key` to `value` (expiring in `ttl_secs`) only if it still holds
    /// `expected`, atomically; true when it did.
    pub async fn replace_if(&self, key: &str, expected: &str, value: &str, ttl_secs: u64) -> Result<bool, CacheError> {
        const SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                                  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 \
                              end return 0";
        let mut conn = self.conn().await?;
        let mut eval = redis::cmd("EVAL");
        eval.arg(SCRIPT).arg(1).arg(key).arg(expected).arg(value).arg(ttl_secs);
        let done: i32 =
            tokio::time::timeout(OP_TIMEOUT, eval.query_async(&mut conn)).await.map_err(|_| CacheError::Timeout)??;
        Ok(done == 1)
    }

    /// Deletes `key` only if it still holds `expected`, atomically; true when it did.
    pub async fn delete_if(&self, key: &str, expected: &str) -> Result<bool, CacheError> {
        const SCRIPT: &str =
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
        let mut conn = self.conn().await?;
        let mut eval = redis::cmd("EVAL");
        eval.arg(SCRIPT).arg(1).arg(key).arg(expected);
        let done: i32 =
            tokio::time::timeout(OP_TIMEOUT, eval.query_async(&mut conn)).await.map_err(|_| CacheError::Timeout)??;
        Ok(done == 1)
    }

    pub async fn del(&self, keys: &[String]) -> Result<(), CacheError> {
        let mut conn = self.conn().await?;
        tokio::time::timeout(OP_TIMEOUT, conn.del::<_, ()>(keys))
            .await
            .map_err(|_| CacheError::Timeout)?
            .map_err(Into::into)
    }

    /// Which of `keys` exist, in one round trip (`MGET`).
    pub async fn exist(&self, keys: &[String]) -> Result<Vec<bool>, CacheError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn().await?;
        let mut mget = redis::cmd("MGET");
        mget.arg(keys);
        let values: Vec<Option<Vec<u8>>> =
            tokio::time::timeout(OP_TIMEOUT, mget.query_async(&mut conn)).await.map_err(|_| CacheError::Timeout)??;
        Ok(values.into_iter().map(|v| v.is_some()).collect())
    }

    /// `SET key value EX ttl` for many keys in one pipelined round trip.
    pub async fn set_many_ex(&self, entries: &[(String, &str, u64)]) -> Result<(), CacheError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        let mut pipe = redis::pipe();
        for (key, value, ttl) in entries {
            pipe.cmd("SET").arg(key).arg(*value).arg("EX").arg(*ttl).ignore();
        }
        tokio::time::timeout(OP_TIMEOUT * 4, pipe.query_async::<()>(&mut conn))
            .await
            .map_err(|_| CacheError::Timeout)??;
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), CacheError> {
        let mut conn = self.conn().await?;
        tokio::time::timeout(OP_TIMEOUT, redis::cmd("PING").query_async::<String>(&mut conn))
            .await
            .map_err(|_| CacheError::Timeout)??;
        Ok(())
    }
}
