//! Remembering which `request_id`s were forwarded, so a redelivered or
//! re-sent message is not pushed twice. Kept in PostgreSQL (table
//! `forwarded_requests`, migration V2) rather than Redis: the record must
//! survive a Redis outage, which the cache is allowed to have. A record is
//! written only after push.ready confirmed the publish, and kept 24 hours.
//!
//! Every message asks once and records once, so both go through
//! [`crate::batch`].

use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::mpsc;

use crate::batch::{Reply, ask, batcher};
use crate::db::{DbError, column, timed};

pub struct Dedup {
    pool: Pool,
    ttl: Duration,
    seen_tx: mpsc::UnboundedSender<(String, Reply<bool>)>,
    record_tx: mpsc::UnboundedSender<(String, Reply<()>)>,
}

impl Dedup {
    /// Starts the batchers; must be called inside a Tokio runtime.
    pub fn new(pool: Pool, ttl: Duration) -> Self {
        let (seen_tx, seen_rx) = mpsc::unbounded_channel();
        let (record_tx, record_rx) = mpsc::unbounded_channel();
        tokio::spawn(batcher(seen_rx, {
            let pool = pool.clone();
            move |ids: Vec<String>| {
                let pool = pool.clone();
                async move {
                    seen_batch(&pool, ttl, &ids).await.map(|found| ids.iter().map(|id| found.contains(id)).collect())
                }
            }
        }));
        tokio::spawn(batcher(record_rx, {
            let pool = pool.clone();
            move |ids: Vec<String>| {
                let pool = pool.clone();
                async move { record_batch(&pool, &ids).await.map(|()| vec![(); ids.len()]) }
            }
        }));
        Self { pool, ttl, seen_tx, record_tx }
    }

    /// True when `request_id` was forwarded within the TTL.
    pub async fn seen(&self, request_id: &str) -> Result<bool, DbError> {
        ask(&self.seen_tx, request_id.to_owned()).await
    }

    /// Records a confirmed forward. A record older than the TTL is renewed.
    pub async fn record(&self, request_id: &str) -> Result<(), DbError> {
        ask(&self.record_tx, request_id.to_owned()).await
    }

    /// Deletes records past the TTL; returns how many.
    pub async fn purge(&self) -> Result<u64, DbError> {
        let client = timed("dedup.purge", self.pool.get()).await?;
        let ttl = self.ttl.as_secs_f64();
        timed(
            "dedup.purge",
            client.execute(
                "DELETE FROM forwarded_requests WHERE forwarded_at <= now() - make_interval(secs => $1)",
                &[&ttl],
            ),
        )
        .await
    }
}

async fn seen_batch(pool: &Pool, ttl: Duration, ids: &[String]) -> Result<std::collections::HashSet<String>, DbError> {
    let client = timed("dedup.seen", pool.get()).await?;
    let stmt = timed("dedup.seen", client.prepare_cached(
        "SELECT request_id FROM forwarded_requests WHERE request_id = ANY($1) AND forwarded_at > now() - make_interval(secs => $2)",
    ))
    .await?;
    let ttl = ttl.as_secs_f64();
    let rows = timed("dedup.seen", client.query(&stmt, &[&ids, &ttl])).await?;
    rows.iter().map(|r| column(r, 0)).collect()
}

async fn record_batch(pool: &Pool, ids: &[String]) -> Result<(), DbError> {
    let client = timed("dedup.record", pool.get()).await?;
    // Sorted and distinct: two rows for one key in one INSERT .. ON CONFLICT
    // is an error, and a fixed order avoids deadlocks between batches.
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    let stmt = timed(
        "dedup.record",
        client.prepare_cached(
            "INSERT INTO forwarded_requests (request_id) SELECT unnest($1::text[]) \
             ON CONFLICT (request_id) DO UPDATE SET forwarded_at = now()",
        ),
    )
    .await?;
    timed("dedup.record", client.execute(&stmt, &[&ids])).await?;
    Ok(())
}
