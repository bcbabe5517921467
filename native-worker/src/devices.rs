//! The `devices` table (migration V8) as the worker changes it: a device
//! whose token the push service reported dead is retired, in one statement
//! that also bumps the user row (the version the cached record is checked
//! against, [`crate::user_cache`]) and writes the audit event and its outbox
//! copy, the way the components' audited statements do (`kit::db`'s
//! `AUDIT_CTES`): the change and its record commit together or not at all.

use deadpool_postgres::Pool;
use serde_json::json;
use user_domain::UserId;

use crate::db::{DbError, column, timed};

/// The audit action of a retirement.
pub const RETIRED_ACTION: &str = "device.retired";

/// The priority of audit events on their queue (the components' `audit::PRIORITY`).
const AUDIT_PRIORITY: i16 = 3;

/// What a retirement found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retirement {
    /// The user's active device with that token, retired now.
    Retired { device: uuid::Uuid },
    /// The user has a device with that token, retired before (a report
    /// repeated, or redelivered after its change committed).
    AlreadyRetired,
    /// No device of that user has that token (another user's, or none).
    Unknown,
}

/// A retirement asked for by the push service.
#[derive(Debug, Clone, Copy)]
pub struct Retire<'a> {
    pub user: UserId,
    pub token: &'a str,
    /// Why the provider refused the token; at most 200 characters (the
    /// column's CHECK), cut by the caller.
    pub reason: Option<&'a str>,
    /// The report's AMQP correlation id, recorded with the audit event.
    pub correlation_id: Option<&'a str>,
    /// Where the audit event's outbox copy goes (`AUDIT_QUEUE`).
    pub audit_queue: &'a str,
}

/// Retires the user's active device with `token`, if there is one; see the
/// module's doc for what the same statement writes beside it.
pub async fn retire(pool: &Pool, retire: &Retire<'_>) -> Result<Retirement, DbError> {
    // The event as the components store and send it (`AuditEvent::to_json`);
    // the statement adds the subject and the details it alone knows.
    let event = json!({
        "event_type": "audit",
        "action": RETIRED_ACTION,
        "outcome": "success",
        "actor_kind": "service",
        "actor_id": null,
        "client_address": null,
        "correlation_id": retire.correlation_id,
    });
    let client = timed("devices.retire", pool.get()).await?;
    let stmt = timed(
        "devices.retire",
        client.prepare_cached(
            "WITH retired AS ( \
                 UPDATE devices SET active = false, retired_at = now(), retired_reason = $3 \
                 WHERE user_id = $1 AND token = $2 AND active \
                 RETURNING id, user_id \
             ), \
             touched AS ( \
                 UPDATE users SET updated_at = now() WHERE id IN (SELECT user_id FROM retired) \
             ), \
             audit_event AS ( \
                 SELECT $4::jsonb || jsonb_build_object('subject_id', r.user_id, \
                            'details', jsonb_build_object('device', r.id, 'reason', $3::text)) AS e, \
                        r.user_id AS subject \
                 FROM retired r \
             ), \
             audited AS ( \
                 INSERT INTO audit_events (actor_id, actor_kind, subject_id, action, outcome, client_address, \
                                           correlation_id, details) \
                 SELECT (e->>'actor_id')::uuid, e->>'actor_kind', subject, e->>'action', e->>'outcome', \
                        e->>'client_address', e->>'correlation_id', e->'details' \
                 FROM audit_event \
                 RETURNING id, occurred_at, actor_id, subject_id \
             ), \
             audit_relayed AS ( \
                 INSERT INTO outbox (routing_key, payload, priority) \
                 SELECT $5, e || jsonb_build_object('id', a.id, 'occurred_at', a.occurred_at, \
                                                    'actor_id', a.actor_id, 'subject_id', a.subject_id), $6 \
                 FROM audited a JOIN audit_event ON audit_event.subject = a.subject_id \
             ) \
             SELECT (SELECT id FROM retired), \
                    EXISTS (SELECT 1 FROM devices WHERE user_id = $1 AND token = $2)",
        ),
    )
    .await?;
    let user = retire.user.as_uuid();
    let row = timed(
        "devices.retire",
        client.query_one(&stmt, &[&user, &retire.token, &retire.reason, &event, &retire.audit_queue, &AUDIT_PRIORITY]),
    )
    .await?;
    // The EXISTS reads the statement's snapshot: the device as it was before.
    let retired: Option<uuid::Uuid> = column(&row, 0)?;
    let known: bool = column(&row, 1)?;
    Ok(match (retired, known) {
        (Some(device), _) => Retirement::Retired { device },
        (None, true) => Retirement::AlreadyRetired,
        (None, false) => Retirement::Unknown,
    })
}
