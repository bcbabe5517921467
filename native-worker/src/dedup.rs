//! Remembering which `request_id`s were forwarded, so a redelivered or
//! re-sent message is not pushed twice. Kept in PostgreSQL (table
//! `forwarded_requests`, migration V2) rather than Redis: the record must
//! survive a Redis outage, which the cache is allowed to have. A record is
//! written only after push.ready confirmed the publish, and kept 24 hours.

use std::time::Duration;

use deadpool_postgres::Pool;

use crate::db::{DbError, timed};

pub struct Dedup {
    pub pool: Pool,
    pub ttl: Duration,
}

impl Dedup {
    /// True when `request_id` was forwarded within the TTL.
    pub async fn seen(&self, request_id: &str) -> Result<bool, DbError> {
        let client = timed(self.pool.get()).await?;
        let stmt = timed(client.prepare_cached(
            "SELECT 1 FROM forwarded_requests WHERE request_id = $1 AND forwarded_at > now() - make_interval(secs => $2)",
        ))
        .await?;
        let ttl = self.ttl.as_secs_f64();
        Ok(timed(client.query_opt(&stmt, &[&request_id, &ttl])).await?.is_some())
    }

    /// Records a confirmed forward. A record older than the TTL is renewed.
    pub async fn record(&self, request_id: &str) -> Result<(), DbError> {
        let client = timed(self.pool.get()).await?;
        let stmt = timed(client.prepare_cached(
            "INSERT INTO forwarded_requests (request_id) VALUES ($1) \
             ON CONFLICT (request_id) DO UPDATE SET forwarded_at = now()",
        ))
        .await?;
        timed(client.execute(&stmt, &[&request_id])).await?;
        Ok(())
    }

    /// Deletes records past the TTL; returns how many.
    pub async fn purge(&self) -> Result<u64, DbError> {
        let client = timed(self.pool.get()).await?;
        let ttl = self.ttl.as_secs_f64();
        timed(client.execute("DELETE FROM forwarded_requests WHERE forwarded_at <= now() - make_interval(secs => $1)", &[&ttl])).await
    }
}
