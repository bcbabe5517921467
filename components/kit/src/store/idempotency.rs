//! The `idempotency_keys` table: one row per `X-Request-ID`, holding the
//! first answer once there is one (see [`crate::idempotency`] for the rules).

use serde::Deserialize;
use serde_json::Value;

use crate::db::{Db, DbError, Rows, param};

/// Claims `key` for a request: a new key, an expired one, or one whose
/// first run died without answering (older than any request can run, with
/// the same request). Returns whether this request now owns it.
pub fn claim(db: &Db, key: &str, endpoint: &str, request_hash: &str) -> Result<bool, DbError> {
    let claimed: Vec<Value> = db.rows(
        Rows::select(
            "INSERT INTO idempotency_keys (request_id, endpoint, request_hash, expires_at) \
             VALUES ($1, $2, $3, now() + interval '24 hours') \
             ON CONFLICT (request_id) DO UPDATE SET endpoint = EXCLUDED.endpoint, \
                request_hash = EXCLUDED.request_hash, response_data = NULL, status_code = NULL, session_id = NULL, \
                created_at = now(), expires_at = EXCLUDED.expires_at \
             WHERE idempotency_keys.expires_at < now() \
                OR (idempotency_keys.status_code IS NULL AND idempotency_keys.created_at < now() - interval '2 minutes' \
                    AND idempotency_keys.request_hash = EXCLUDED.request_hash) \
             RETURNING id",
        ),
        &[param::text(key), param::text(endpoint), param::text(request_hash)],
    )?;
    Ok(!claimed.is_empty())
}

/// A key as stored: no status or answer yet while its first request still runs.
#[derive(Debug, Deserialize)]
pub struct Stored {
    pub request_hash: String,
    pub status_code: Option<u16>,
    pub response_data: Option<Value>,
    /// The session the answer started or continued, if it holds its tokens:
    /// it replays only while that session lives.
    pub session_id: Option<uuid::Uuid>,
}

pub fn stored(db: &Db, key: &str) -> Result<Option<Stored>, DbError> {
    db.first(
        Rows::select(
            "SELECT request_hash, status_code, response_data, session_id FROM idempotency_keys WHERE request_id = $1",
        ),
        &[param::text(key)],
    )
}

/// Keeps the answer for replays; `session`: the session whose tokens it holds.
pub fn record(db: &Db, key: &str, status: u16, body: &Value, session: Option<uuid::Uuid>) -> Result<(), DbError> {
    db.execute(
        "UPDATE idempotency_keys SET status_code = $2, response_data = $3, session_id = $4 WHERE request_id = $1",
        &[
            param::text(key),
            spin_sdk::pg4::ParameterValue::Int32(i32::from(status)),
            param::json(body),
            session.map_or(spin_sdk::pg4::ParameterValue::DbNull, param::uuid),
        ],
    )?;
    Ok(())
}

/// Frees a key whose request failed on our side, so it may be retried.
pub fn forget(db: &Db, key: &str) -> Result<(), DbError> {
    db.execute("DELETE FROM idempotency_keys WHERE request_id = $1", &[param::text(key)])?;
    Ok(())
}

/// Deletes up to a few hundred expired keys.
pub fn purge_expired(db: &Db) -> Result<u64, DbError> {
    db.execute(
        "DELETE FROM idempotency_keys WHERE id IN \
         (SELECT id FROM idempotency_keys WHERE expires_at < now() LIMIT 500)",
        &[],
    )
}
