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

    pub async fn del(&self, keys: &[String]) -> Result<(), CacheError> {
        let mut conn = self.conn().await?;
        tokio::time::timeout(OP_TIMEOUT, conn.del::<_, ()>(keys))
            .await
            .map_err(|_| CacheError::Timeout)?
            .map_err(Into::into)
    }

    pub async fn ping(&self) -> Result<(), CacheError> {
        let mut conn = self.conn().await?;
        tokio::time::timeout(OP_TIMEOUT, redis::cmd("PING").query_async::<String>(&mut conn))
            .await
            .map_err(|_| CacheError::Timeout)??;
        Ok(())
    }
}
