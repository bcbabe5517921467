//! `POST /api/v1/notifications/test/` (staff): puts a push message for a
//! user onto `push.queue`, through the outbox, so operators can check the
//! whole delivery path. Answers 202: delivery happens later, in the worker.

use component_kit::model::audit::{Actor, AuditEvent};
use component_kit::model::event::Event;
use component_kit::router::Context;
use component_kit::{ApiError, ApiRequest, Reply, config, store};
use serde_json::json;
use user_domain::api::requests::TestNotificationRequest;
use user_domain::api::responses::QueuedNotification;
use user_domain::trace_context;

pub fn test(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let (db, caller) = ctx.staff()?;
    let TestNotificationRequest { user_id: user, template_code, variables, priority, metadata, category } =
        TestNotificationRequest::parse(&request.json()?, &config::categories()?)?;

    store::users::by_id(&db, user)?.ok_or(ApiError::NotFound("User"))?;
    let request_id = uuid::Uuid::new_v4();
    let mut metadata = metadata;
    metadata.insert("correlation_id".into(), json!(request.correlation_id));
    metadata.insert("requested_by".into(), json!(caller.id));
    // The relay sends it on as the message's `traceparent` header.
    metadata.insert(trace_context::HEADER.into(), json!(request.trace().to_string()));
    let mut message = json!({
        "notification_type": "push",
        "user_id": user,
        "template_code": template_code,
        "variables": variables,
        "request_id": request_id,
        "priority": priority,
        "metadata": metadata,
    });
    if let Some(category) = &category {
        message["category"] = json!(category);
    }
    let event = Event { queue: config::push_queue()?, payload: message, priority: priority as i16 };
    let audit = AuditEvent::new(request, "staff.test_notification_sent", Actor::Staff(caller.id))?
        .subject(user)
        .details(json!({"request_id": request_id, "template_code": template_code}));
    store::outbox::append_audited(&db, &event, &audit)?;
    Ok(Reply::ok(202, "Test notification queued", QueuedNotification { request_id, user_id: user, queued: true }))
}
