//! The audit trail: what happened to an account, by whom, from where, with
//! what outcome. An event is written in the same statement as the change it
//! records ([`crate::db::Rows::audited`]: recorded only if the statement
//! changed something), or on its own for events with no change (a failed
//! login, a service's lookup: [`crate::store::audit::record`]). Each event
//! also goes through the outbox to the `audit_queue` variable's queue, for a
//! SIEM or the platform's log pipeline. Details never hold a secret.

use serde_json::{Value, json};
use user_domain::UserId;

use crate::ApiRequest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    /// Refused by a rule (a lockout, a rate limit, a missing permission).
    Denied,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The account itself.
    User(UserId),
    /// The account itself, known only from the statement's answer (the
    /// holder of a refresh token, of an emailed token).
    Owner,
    /// A staff member acting on an account.
    Staff(UserId),
    /// Another service, by its key.
    Service,
    /// Nobody known yet (a login, a reset request).
    Anonymous,
}

#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub action: &'static str,
    pub outcome: Outcome,
    pub actor: Actor,
    /// The account concerned; when `None` in an audited statement, the first
    /// answered row's `user_id` or `id`.
    pub subject: Option<UserId>,
    pub client_address: String,
    pub correlation_id: String,
    pub details: Value,
    /// Where the outbox sends it (`audit_queue`).
    pub queue: String,
}

/// The priority of audit events on the queue: below the users' own mail.
pub const PRIORITY: i16 = 3;

impl AuditEvent {
    /// A successful `action` by `actor`, about the actor's own account unless
    /// [`subject`](Self::subject) says otherwise.
    pub fn new(request: &ApiRequest, action: &'static str, actor: Actor) -> Self {
        let subject = match actor {
            Actor::User(id) => Some(id),
            _ => None,
        };
        Self {
            action,
            outcome: Outcome::Success,
            actor,
            subject,
            client_address: request.client_ip().to_owned(),
            correlation_id: request.correlation_id.clone(),
            details: json!({}),
            queue: crate::config::var("audit_queue").unwrap_or_else(|_| "audit.events".to_owned()),
        }
    }

    pub fn subject(mut self, subject: UserId) -> Self {
        self.subject = Some(subject);
        self
    }

    /// Leaves the subject to the audited statement's answer.
    pub fn subject_from_answer(mut self) -> Self {
        self.subject = None;
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// The event as stored and as sent.
    pub fn to_json(&self) -> Value {
        let (actor_kind, actor_id) = match self.actor {
            Actor::User(id) => ("user", Some(id)),
            Actor::Owner => ("user", None),
            Actor::Staff(id) => ("staff", Some(id)),
            Actor::Service => ("service", None),
            Actor::Anonymous => ("anonymous", None),
        };
        json!({
            "event_type": "audit",
            "action": self.action,
            "outcome": self.outcome.as_str(),
            "actor_kind": actor_kind,
            "actor_id": actor_id,
            "subject_id": self.subject,
            "client_address": self.client_address,
            "correlation_id": self.correlation_id,
            "details": self.details,
        })
    }
}

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
pub fn page(
    db: &crate::db::Db,
    request: &ApiRequest,
    subject: UserId,
    viewer: Viewer,
) -> Result<crate::Reply, user_domain::ApiError> {
    use user_domain::ApiError;
    use user_domain::api::responses::{AuditActor, AuditEntry};
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
    let mut events = crate::store::audit::page(db, subject, cursor, limit + 1)?;
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
                occurred_at: crate::users::timestamp(&e.occurred_at),
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
    Ok(crate::Reply::json(200, &envelope))
}
