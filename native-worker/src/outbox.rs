//! The `outbox` table as the relay sees it: one typed function per query, so
//! the relay's loop never sees SQL, and every row read through `try_get`, so
//! no row can panic the worker.
//!
//! A row is read into an [`Event`] the relay can publish as it stands, or
//! into the reason it cannot ([`Unusable`]). Such a row is quarantined
//! (`quarantined_at`, `last_error`; migration V3) rather than claimed again
//! forever: before V3 a JSONB payload serde_json could not read back (a
//! 309-digit integer, which is how PostgreSQL stores `1.7976931348623157e308`)
//! panicked the relay, and the restarted worker claimed the same row again.

use deadpool_postgres::Transaction;
use tokio_postgres::Row;
use user_domain::trace_context::{self, TraceParent};

use crate::db::{DbError, timed};

/// Longest exchange name or routing key AMQP can carry (a short string).
const MAX_SHORT_STRING: usize = 255;

/// A claimed row, ready to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub event_id: uuid::Uuid,
    pub exchange: String,
    pub routing_key: String,
    /// The payload as compact JSON.
    pub body: Vec<u8>,
    /// Always within AMQP's 0..=10 (the table's CHECK holds it too).
    pub priority: u8,
    /// The trace of the request that wrote the row (the payload's
    /// `metadata.traceparent`, set by the components), sent on as the
    /// message's `traceparent` header. `None` for rows without a valid one
    /// (audit events, rows written before traces were kept).
    pub traceparent: Option<TraceParent>,
}

/// Why a claimed row cannot be published as it stands.
#[derive(Debug, thiserror::Error)]
pub enum Unusable {
    #[error("column `{column}` cannot be read: {source}")]
    Column {
        column: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("payload cannot be serialised: {0}")]
    Payload(#[from] serde_json::Error),
    #[error("`{column}` is {len} bytes; AMQP carries at most {MAX_SHORT_STRING}")]
    TooLong { column: &'static str, len: usize },
    #[error("priority {0} is outside 0..=10")]
    Priority(i16),
}

/// One row the relay claimed: its id (always readable, or the batch fails)
/// and what could be made of the rest.
#[derive(Debug)]
pub struct Claimed {
    pub id: i64,
    pub event: Result<Event, Unusable>,
}

/// Claims up to `limit` rows neither published nor quarantined, in id order,
/// locked for this transaction; rows another relay holds are skipped.
pub async fn claim(tx: &Transaction<'_>, limit: i64) -> Result<Vec<Claimed>, DbError> {
    let rows = timed(
        "outbox.claim",
        tx.query(
            "SELECT id, event_id, exchange, routing_key, payload, priority FROM outbox \
             WHERE published_at IS NULL AND quarantined_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
            &[&limit],
        ),
    )
    .await?;
    rows.iter()
        .map(|row| {
            let id = row.try_get("id").map_err(|e| DbError::Unreadable(format!("outbox id: {e}")))?;
            Ok(Claimed { id, event: read_event(row) })
        })
        .collect()
}

fn read_event(row: &Row) -> Result<Event, Unusable> {
    fn column<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, column: &'static str) -> Result<T, Unusable> {
        row.try_get(column).map_err(|source| Unusable::Column { column, source })
    }
    let short = |value: String, column: &'static str| {
        if value.len() > MAX_SHORT_STRING { Err(Unusable::TooLong { column, len: value.len() }) } else { Ok(value) }
    };
    let payload: serde_json::Value = column(row, "payload")?;
    let priority: i16 = column(row, "priority")?;
    let traceparent = payload
        .get("metadata")
        .and_then(|m| m.get(trace_context::HEADER))
        .and_then(|t| t.as_str())
        .and_then(TraceParent::parse);
    Ok(Event {
        traceparent,
        event_id: column(row, "event_id")?,
        exchange: short(column(row, "exchange")?, "exchange")?,
        routing_key: short(column(row, "routing_key")?, "routing_key")?,
        body: serde_json::to_vec(&payload)?,
        priority: u8::try_from(priority).ok().filter(|p| *p <= 10).ok_or(Unusable::Priority(priority))?,
    })
}

/// Marks rows published and, in the same statement, strips their secrets
/// (`outbox_redacted`, migration V3): the event went out, the stored copy
/// needs no working tokens.
pub async fn mark_published(tx: &Transaction<'_>, ids: &[i64]) -> Result<(), DbError> {
    timed(
        "outbox.mark_published",
        tx.execute(
            "UPDATE outbox SET published_at = now(), payload = outbox_redacted(payload) WHERE id = ANY($1)",
            &[&ids],
        ),
    )
    .await?;
    Ok(())
}

/// Leaves a row pending, counting the attempt and saying why it failed.
pub async fn mark_failed(tx: &Transaction<'_>, id: i64, error: &str) -> Result<(), DbError> {
    timed(
        "outbox.mark_failed",
        tx.execute("UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1", &[&id, &error]),
    )
    .await?;
    Ok(())
}

/// Sets a row aside: never claimed again until an operator clears `quarantined_at`.
pub async fn quarantine(tx: &Transaction<'_>, id: i64, error: &str) -> Result<(), DbError> {
    timed(
        "outbox.quarantine",
        tx.execute(
            "UPDATE outbox SET quarantined_at = now(), attempts = attempts + 1, last_error = $2 WHERE id = $1",
            &[&id, &error],
        ),
    )
    .await?;
    Ok(())
}

/// Deletes audit events older than `retention` (none when it is zero);
/// returns how many.
pub async fn purge_audit(client: &deadpool_postgres::Client, retention: std::time::Duration) -> Result<u64, DbError> {
    if retention.is_zero() {
        return Ok(0);
    }
    let secs = retention.as_secs_f64();
    timed(
        "audit_events.purge",
        client.execute("DELETE FROM audit_events WHERE occurred_at < now() - make_interval(secs => $1)", &[&secs]),
    )
    .await
}

/// Deletes rows published, or quarantined, longer than `retention` ago;
/// returns how many. Quarantined rows go too: by then any token they hold
/// has expired, and the quarantine was logged and counted when it happened.
pub async fn purge(client: &deadpool_postgres::Client, retention: std::time::Duration) -> Result<u64, DbError> {
    let secs = retention.as_secs_f64();
    timed(
        "outbox.purge",
        client.execute(
            "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1) \
                                   OR quarantined_at < now() - make_interval(secs => $1)",
            &[&secs],
        ),
    )
    .await
}
