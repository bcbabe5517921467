//! `POST /api/v1/notifications/test/` (staff): puts a push message for a
//! user onto `push.queue`, through the outbox, so operators can check the
//! whole delivery path. Answers 202: delivery happens later, in the worker.

use component_kit::audit::{Actor, AuditEvent};
use component_kit::events::Event;
use component_kit::{ApiError, ApiRequest, Reply, auth, config, store, users};
use serde_json::{Map, Value, json};
use user_domain::UserId;
use user_domain::validation::{Fields, Patch};

pub fn test(request: &ApiRequest) -> Result<Reply, ApiError> {
    let (db, caller) = auth::staff(request)?;
    let body = request.json()?;
    let mut fields = Fields::of(&body)?;
    let user = fields.required_str("user_id").and_then(|raw| fields.check("user_id", UserId::parse(raw)));
    let template_code = match fields.optional_str("template_code") {
        Patch::Value(code) if (1..=100).contains(&code.trim().len()) => code.trim().to_owned(),
        Patch::Value(_) => {
            fields.problem("template_code", "must be 1 to 100 characters");
            String::new()
        }
        _ => "test_notification".to_owned(),
    };
    let variables = fields.optional_object("variables").cloned().unwrap_or_default();
    let metadata: Map<String, Value> = fields.optional_object("metadata").cloned().unwrap_or_default();
    let priority = match body.get("priority") {
        None | Some(Value::Null) => 5,
        Some(value) => match value.as_i64() {
            Some(p) if (0..=10).contains(&p) => p,
            _ => {
                fields.problem("priority", "must be a whole number from 0 to 10");
                5
            }
        },
    };
    fields.finish()?;
    let user = user.ok_or_else(|| ApiError::internal("validated field missing"))?;

    users::load(&db, user)?.ok_or(ApiError::NotFound("User"))?;
    let request_id = uuid::Uuid::new_v4();
    let mut metadata = metadata;
    metadata.insert("correlation_id".into(), json!(request.correlation_id));
    metadata.insert("requested_by".into(), json!(caller.id));
    let message = json!({
        "notification_type": "push",
        "user_id": user,
        "template_code": template_code,
        "variables": variables,
        "request_id": request_id,
        "priority": priority,
        "metadata": metadata,
    });
    let event = Event { queue: config::var("push_queue")?, payload: message, priority: priority as i16 };
    let audit = AuditEvent::new(request, "staff.test_notification_sent", Actor::Staff(caller.id))
        .subject(user)
        .details(json!({"request_id": request_id, "template_code": template_code}));
    store::outbox::append_audited(&db, &event, &audit)?;
    Ok(Reply::ok(202, "Test notification queued", json!({"request_id": request_id, "user_id": user, "queued": true})))
}
