//! The audit trail as its readers see it: the owner of an account
//! (`GET /api/v1/auth/audit/`) and staff (`GET /api/v1/users/{id}/audit/`),
//! page by page, newest first. Events are written with the change they
//! record (`model::audit`, `db::Rows::audited`).

use user_domain::api::responses::{AuditActor, AuditEntry};
use user_domain::{ApiError, UserId};

use crate::db::Db;
use crate::model::user::timestamp;
use crate::request::ApiRequest;
use crate::store;
use user_domain::envelope::Reply;

/// Who reads a trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// The account's owner: sees that staff or a service acted, not who
    /// (their ids) or from where (their addresses).
    Owner,
    /// Staff: the whole record.
    Staff,
}

/// One page of the trail about `subject`, newest first, as the audit
/// endpoints answer it: `?limit=` (1 to 100, default 20) and `?cursor=` (the
/// `next_cursor` of the previous page). `meta` says whether more follow.
pub fn page(db: &Db, request: &ApiRequest, subject: UserId, viewer: Viewer) -> Result<Reply, ApiError> {
    let limit = match request.query_param("limit") {
        None => 20,
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::validation_of("limit", "must be a whole number from 1 to 100"))?,
    };
    let cursor = match request.query_param("cursor") {
        None => None,
        Some(raw) => Some(
            raw.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError::validation_of("cursor", "must be a next_cursor this endpoint gave"))?,
        ),
    };
    let mut events = store::audit::page(db, subject, cursor, limit + 1)?;
    let has_next = events.len() as u64 > limit;
    events.truncate(limit as usize);
    let next_cursor = if has_next { events.last().map(|e| e.id.to_string()) } else { None };
    let data: Vec<AuditEntry> = events
        .iter()
        .map(|e| {
            // Another party's identity and address are staff's to see.
            let someone_else = viewer == Viewer::Owner && matches!(e.actor_kind.as_str(), "staff" | "service");
            AuditEntry {
                id: e.id.to_string(),
                occurred_at: timestamp(&e.occurred_at),
                action: e.action.clone(),
                outcome: e.outcome.clone(),
                actor: AuditActor { kind: e.actor_kind.clone(), id: if someone_else { None } else { e.actor_id } },
                subject_id: e.subject_id,
                client_address: if someone_else { None } else { e.client_address.clone() },
                correlation_id: if someone_else { None } else { e.correlation_id.clone() },
                details: e.details.clone(),
            }
        })
        .collect();
    let envelope = user_domain::Envelope {
        meta: Some(user_domain::envelope::CursorMeta { limit, next_cursor, has_next }.into()),
        ..user_domain::Envelope::ok("Audit events", data)
    };
    Ok(Reply::json(200, &envelope))
}
