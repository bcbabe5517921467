//! Events for the rest of the platform, in the contract's message shape
//! (`notification_type, user_id, template_code, variables, request_id,
//! priority, metadata`). Components cannot speak AMQP, so events go into the
//! outbox table in the same statement as the change that causes them, and
//! the native worker relays them.

use serde_json::{Value, json};
use user_domain::UserId;
use user_domain::trace_context;

use crate::request::ApiRequest;

/// A message waiting to be published to `queue` (a routing key on the
/// default exchange) by the worker's outbox relay.
#[derive(Debug, Clone)]
pub struct Event {
    pub queue: String,
    pub payload: Value,
    /// RabbitMQ priority, 0 to 10 (the outbox's CHECK holds the range).
    pub priority: i16,
}

/// The priority of the service's own emails: ordinary mail, above bulk.
const EMAIL_PRIORITY: i16 = 5;

impl Event {
    /// An email for `user` rendered by the email service from `template_code`,
    /// caused by `request`: its correlation ID and trace go into `metadata`,
    /// and the relay sends the trace on as the `traceparent` header.
    pub fn email(queue: String, user: UserId, template_code: &str, variables: Value, request: &ApiRequest) -> Self {
        let payload = json!({
            "notification_type": "email",
            "user_id": user,
            "template_code": template_code,
            "variables": variables,
            "request_id": uuid::Uuid::new_v4(),
            "priority": EMAIL_PRIORITY,
            "metadata": {
                "correlation_id": request.correlation_id,
                "source": "user-service",
                trace_context::HEADER: request.trace().to_string(),
            },
        });
        Self { queue, payload, priority: EMAIL_PRIORITY }
    }

    /// An email to the `email_queue` variable's queue.
    pub fn email_to_user(
        user: UserId,
        template_code: &str,
        variables: Value,
        request: &ApiRequest,
    ) -> Result<Self, user_domain::ApiError> {
        Ok(Self::email(crate::config::email_queue()?, user, template_code, variables, request))
    }
}
