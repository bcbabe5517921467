//! Events for the rest of the platform, in the contract's message shape
//! (`notification_type, user_id, template_code, variables, request_id,
//! priority, metadata`). Components cannot speak AMQP, so events go into the
//! outbox table in the same statement as the change that causes them, and
//! the native worker relays them.

use serde_json::{Value, json};
use user_domain::UserId;

/// An email for `user` rendered by the email service from `template_code`.
pub fn email(user: UserId, template_code: &str, variables: Value, correlation_id: &str) -> Value {
    json!({
        "notification_type": "email",
        "user_id": user,
        "template_code": template_code,
        "variables": variables,
        "request_id": uuid::Uuid::new_v4(),
        "priority": 5,
        "metadata": {"correlation_id": correlation_id, "source": "user-service"},
    })
}

/// The SQL that appends one event to the outbox: `routing_key` and
/// `payload` are parameter numbers; `from` (e.g. `FROM updated`) makes the
/// insert depend on an earlier CTE, or is empty for an unconditional insert.
pub fn insert_sql(routing_key: usize, payload: usize, from: &str) -> String {
    format!("INSERT INTO outbox (routing_key, payload, priority) SELECT ${routing_key}, ${payload}, 5 {from}")
}
