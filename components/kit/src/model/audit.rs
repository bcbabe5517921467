//! An audit trail event: what happened to an account, by whom, from where,
//! with what outcome. An event is written in the same statement as the change it
//! records ([`crate::db::Rows::audited`]: recorded only if the statement
//! changed something), or on its own for events with no change (a failed
//! login, a service's lookup: [`crate::store::audit::record`]). Each event
//! also goes through the outbox to the `audit_queue` variable's queue, for a
//! SIEM or the platform's log pipeline. Details never hold a secret.

use serde_json::{Value, json};
use user_domain::UserId;

use crate::config;
use crate::request::ApiRequest;

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
    /// [`subject`](Self::subject) says otherwise. Fails only when the
    /// `audit_queue` variable cannot be read (an operator's error: 500).
    pub fn new(request: &ApiRequest, action: &'static str, actor: Actor) -> Result<Self, user_domain::ApiError> {
        let subject = match actor {
            Actor::User(id) => Some(id),
            _ => None,
        };
        Ok(Self {
            action,
            outcome: Outcome::Success,
            actor,
            subject,
            client_address: request.client_ip().to_owned(),
            correlation_id: request.correlation_id.clone(),
            details: json!({}),
            queue: config::audit_queue()?,
        })
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
