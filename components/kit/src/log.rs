//! Component logs: one JSON object per line on stderr, which Spin (and the
//! host) collect per component. Every line carries the correlation ID so one
//! request can be followed across services.

use serde_json::{Value, json};

pub fn event(level: &str, correlation_id: &str, message: &str, fields: Value) {
    let mut line = json!({"level": level, "correlation_id": correlation_id, "message": message});
    if let (Some(line), Value::Object(fields)) = (line.as_object_mut(), fields) {
        line.extend(fields);
    }
    eprintln!("{line}");
}

pub fn error(correlation_id: &str, message: &str, fields: Value) {
    event("error", correlation_id, message, fields);
}

pub fn warn(correlation_id: &str, message: &str, fields: Value) {
    event("warn", correlation_id, message, fields);
}

pub fn info(correlation_id: &str, message: &str, fields: Value) {
    event("info", correlation_id, message, fields);
}
