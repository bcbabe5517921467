//! The AMQP properties of a held message, as `held_messages.properties`
//! keeps them: JSON an operator can read, from which the release publishes
//! the message as it came (priority, correlation and message ids, headers
//! such as `traceparent`).
//!
//! Kept: `content_type`, `content_encoding`, `headers`, `priority`,
//! `correlation_id`, `reply_to`, `message_id`, `timestamp`, `type`,
//! `app_id`. Left out: `delivery_mode` (a release is always persistent),
//! `expiration` (a TTL counted again from the release would be wrong),
//! `user_id` (RabbitMQ refuses one that is not the publisher's own login,
//! and the worker is not the gateway) and `cluster_id` (deprecated).
//!
//! A header holding text is kept as a JSON string; any other AMQP value as
//! `{"amqp": …}`, its own serde form, so it comes back as the same type.
//! What cannot be read back (a row edited by hand) is left out with a
//! warning: a release is never stuck on its properties.

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use serde_json::{Map, Value, json};

/// The member of a header value that is not text.
const TYPED: &str = "amqp";

/// `properties` as stored with a held message.
pub fn to_json(properties: &BasicProperties) -> Value {
    let mut out = Map::new();
    let mut text = |name: &str, value: &Option<ShortString>| {
        if let Some(value) = value {
            out.insert(name.to_owned(), Value::String(value.as_str().to_owned()));
        }
    };
    text("content_type", properties.content_type());
    text("content_encoding", properties.content_encoding());
    text("correlation_id", properties.correlation_id());
    text("reply_to", properties.reply_to());
    text("message_id", properties.message_id());
    text("type", properties.kind());
    text("app_id", properties.app_id());
    if let Some(priority) = properties.priority() {
        out.insert("priority".into(), json!(priority));
    }
    if let Some(timestamp) = properties.timestamp() {
        out.insert("timestamp".into(), json!(timestamp));
    }
    if let Some(headers) = properties.headers() {
        let headers: Map<String, Value> =
            headers.inner().iter().map(|(name, value)| (name.as_str().to_owned(), header_to_json(value))).collect();
        out.insert("headers".into(), Value::Object(headers));
    }
    Value::Object(out)
}

fn header_to_json(value: &AMQPValue) -> Value {
    if let AMQPValue::LongString(s) = value
        && let Ok(text) = std::str::from_utf8(s.as_bytes())
    {
        return Value::String(text.to_owned());
    }
    json!({ TYPED: serde_json::to_value(value).unwrap_or(Value::Null) })
}

/// The properties to publish a held message with on its release:
/// persistent, and whatever of `stored` reads back.
pub fn from_json(stored: &Value) -> BasicProperties {
    let mut properties = BasicProperties::default().with_delivery_mode(2);
    let Some(stored) = stored.as_object() else {
        tracing::warn!("held message properties are not an object; released without them");
        return properties;
    };
    let text = |name: &str| -> Option<ShortString> {
        let value = stored.get(name)?;
        match value.as_str() {
            Some(s) if s.len() <= 255 => Some(s.into()),
            _ => {
                tracing::warn!(property = name, "unreadable held message property left out");
                None
            }
        }
    };
    if let Some(v) = text("content_type") {
        properties = properties.with_content_type(v);
    }
    if let Some(v) = text("content_encoding") {
        properties = properties.with_content_encoding(v);
    }
    if let Some(v) = text("correlation_id") {
        properties = properties.with_correlation_id(v);
    }
    if let Some(v) = text("reply_to") {
        properties = properties.with_reply_to(v);
    }
    if let Some(v) = text("message_id") {
        properties = properties.with_message_id(v);
    }
    if let Some(v) = text("type") {
        properties = properties.with_type(v);
    }
    if let Some(v) = text("app_id") {
        properties = properties.with_app_id(v);
    }
    if let Some(priority) = stored.get("priority").and_then(Value::as_u64).and_then(|p| u8::try_from(p).ok()) {
        properties = properties.with_priority(priority);
    }
    if let Some(timestamp) = stored.get("timestamp").and_then(Value::as_u64) {
        properties = properties.with_timestamp(timestamp);
    }
    if let Some(headers) = stored.get("headers").and_then(Value::as_object) {
        let mut table = FieldTable::default();
        for (name, value) in headers {
            match header_from_json(value) {
                Some(value) if name.len() <= 255 => {
                    table.insert(ShortString::from(name.as_str()), value);
                }
                _ => tracing::warn!(header = %name, "unreadable held message header left out"),
            }
        }
        properties = properties.with_headers(table);
    }
    properties
}

fn header_from_json(value: &Value) -> Option<AMQPValue> {
    match value {
        Value::String(text) => Some(AMQPValue::LongString(text.as_str().into())),
        Value::Object(typed) => serde_json::from_value(typed.get(TYPED)?.clone()).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use lapin::types::{FieldArray, LongString};

    use super::*;

    fn delivered() -> BasicProperties {
        let mut headers = FieldTable::default();
        headers.insert(
            "traceparent".into(),
            AMQPValue::LongString("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        );
        headers.insert("x-count".into(), AMQPValue::LongLongInt(3));
        headers.insert("x-flag".into(), AMQPValue::Boolean(true));
        headers.insert("x-bytes".into(), AMQPValue::LongString(LongString::from(vec![0xff, 0x00, 0x7f])));
        let mut nested = FieldTable::default();
        nested.insert("k".into(), AMQPValue::ShortString("v".into()));
        headers.insert("x-table".into(), AMQPValue::FieldTable(nested));
        headers.insert("x-list".into(), AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::LongInt(1)])));
        BasicProperties::default()
            .with_content_type("application/json".into())
            .with_priority(7)
            .with_correlation_id("corr-1".into())
            .with_message_id("msg-1".into())
            .with_timestamp(1_736_978_400)
            .with_type("push".into())
            .with_app_id("gateway".into())
            .with_headers(headers)
            .with_user_id("gateway-user".into())
            .with_expiration("60000".into())
            .with_delivery_mode(1)
    }

    #[test]
    fn what_is_kept_comes_back_as_it_was() {
        let original = delivered();
        let back = from_json(&to_json(&original));
        assert_eq!(back.headers(), original.headers(), "every header, with its type");
        assert_eq!(back.priority(), &Some(7));
        assert_eq!(back.correlation_id(), original.correlation_id());
        assert_eq!(back.message_id(), original.message_id());
        assert_eq!(back.timestamp(), original.timestamp());
        assert_eq!(back.kind(), original.kind());
        assert_eq!(back.app_id(), original.app_id());
        assert_eq!(back.content_type(), original.content_type());
        assert_eq!(back.delivery_mode(), &Some(2), "a release is persistent");
        assert_eq!(back.user_id(), &None, "the broker would refuse another login's user_id");
        assert_eq!(back.expiration(), &None, "no TTL restarts at the release");
    }

    #[test]
    fn text_headers_are_readable_in_the_row() {
        let stored = to_json(&delivered());
        assert_eq!(stored["headers"]["traceparent"], "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        assert_eq!(stored["priority"], 7);
        assert_eq!(stored["correlation_id"], "corr-1");
        assert!(stored["headers"]["x-count"].get("amqp").is_some(), "{stored}");
        assert!(stored.get("user_id").is_none() && stored.get("expiration").is_none());
    }

    #[test]
    fn what_does_not_read_back_is_left_out() {
        let back = from_json(&json!({
            "priority": 900,
            "correlation_id": 5,
            "message_id": "kept",
            "headers": {"good": "yes", "bad": 12, "worse": {"amqp": {"NoSuchType": 1}}},
        }));
        assert_eq!(back.priority(), &None);
        assert_eq!(back.correlation_id(), &None);
        assert_eq!(back.message_id().as_ref().map(|s| s.as_str()), Some("kept"));
        let headers = back.headers().clone().unwrap();
        assert_eq!(headers.inner().len(), 1);
        assert_eq!(headers.inner().get("good"), Some(&AMQPValue::LongString("yes".into())));
        assert_eq!(from_json(&json!("not an object")).delivery_mode(), &Some(2));
        assert_eq!(from_json(&json!({})).headers(), &None);
    }
}
