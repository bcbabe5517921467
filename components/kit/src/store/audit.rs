//! The `audit_events` table: events with no change of their own, and the
//! trail as staff and the account's owner read it. Events that go with a
//! change are written by the change's statement ([`Rows::audited`]).

use serde::Deserialize;
use serde_json::Value;
use user_domain::UserId;

use crate::db::{Db, DbError, Rows, param};
use crate::model::audit::AuditEvent;

/// Records an event that changes nothing else (a failed login, a lookup).
pub fn record(db: &Db, event: &AuditEvent) -> Result<(), DbError> {
    let _: Vec<Value> = db.rows(Rows::select("SELECT NULL::uuid AS id").audited(event), &[])?;
    Ok(())
}

/// An event as stored.
#[derive(Debug, Deserialize)]
pub struct Recorded {
    pub id: i64,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub actor_kind: String,
    pub actor_id: Option<UserId>,
    pub subject_id: Option<UserId>,
    pub action: String,
    pub outcome: String,
    pub client_address: Option<String>,
    pub correlation_id: Option<String>,
    pub details: Value,
}

/// Up to `limit` events about `subject`, newest first, older than the
/// event `before` (a cursor: the last id of the previous page) if given.
pub fn page(db: &Db, subject: UserId, before: Option<i64>, limit: u64) -> Result<Vec<Recorded>, DbError> {
    let mut events: Vec<Recorded> = db.rows(
        Rows::select(
            "SELECT id, occurred_at, actor_kind, actor_id, subject_id, action, outcome, client_address, \
                    correlation_id, details \
             FROM audit_events WHERE subject_id = $1 AND ($2::bigint IS NULL OR id < $2) \
             ORDER BY id DESC LIMIT $3",
        ),
        &[
            param::uuid(subject),
            before.map_or(spin_sdk::pg4::ParameterValue::DbNull, param::int),
            param::int(limit as i64),
        ],
    )?;
    events.sort_by_key(|e| std::cmp::Reverse(e.id));
    Ok(events)
}
