//! The push message as the gateway writes it, and the headers the worker
//! reads and writes on it. Parsing keeps every field it does not know, so
//! the push service receives exactly what the gateway sent, plus `user` and
//! `devices`.

use lapin::types::{AMQPValue, FieldTable, ShortString};
use serde_json::{Map, Value};
use user_domain::UserId;

use crate::request_id::{RequestId, RequestIdError};

/// Header counting the retries a message went through (set by the worker,
/// never by the consumer's memory, so it survives restarts and redeliveries).
pub const RETRY_COUNT_HEADER: &str = "x-retry-count";
/// Header saying why a message was dead-lettered.
pub const FAILURE_REASON_HEADER: &str = "x-failure-reason";

/// Start of the failure reason of a message that can never be processed as
/// it is: not a push message, or holding a value the database refuses.
pub const MALFORMED: &str = "malformed: ";
/// Start of the failure reason of a message over `MAX_MESSAGE_BYTES`.
pub const TOO_LARGE: &str = "too large: ";

/// True for a dead letter whose reason says replaying it cannot help (it
/// would be dead-lettered again for the same reason): `dlq replay` leaves
/// those in place unless asked.
pub fn is_malformed_reason(reason: &str) -> bool {
    reason.starts_with(MALFORMED) || reason.starts_with(TOO_LARGE)
}

/// Why a body is not a push message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    #[error("body is not a JSON object")]
    NotAnObject,
    #[error("field `{0}` is missing or not a string")]
    MissingString(&'static str),
    #[error("field `user_id` is not a UUID")]
    BadUserId,
    #[error("field `request_id` {0}")]
    BadRequestId(RequestIdError),
}

/// A push message whose required fields were checked.
#[derive(Debug, Clone, PartialEq)]
pub struct PushMessage {
    pub user_id: UserId,
    pub request_id: RequestId,
    /// The whole body as received, forwarded unchanged apart from `user`.
    pub body: Map<String, Value>,
}

impl PushMessage {
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| ParseError::NotJson(e.to_string()))?;
        let Value::Object(body) = value else {
            return Err(ParseError::NotAnObject);
        };
        let string = |field: &'static str| match body.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            _ => Err(ParseError::MissingString(field)),
        };
        string("notification_type")?;
        let user_id = UserId::parse(&string("user_id")?).map_err(|_| ParseError::BadUserId)?;
        let request_id = RequestId::parse(&string("request_id")?).map_err(ParseError::BadRequestId)?;
        Ok(Self { user_id, request_id, body })
    }

    /// The body for push.ready: the original plus the user record and the
    /// user's active devices, most recently seen first (CONTRACT section 5).
    pub fn enriched(&self, user: &crate::user_record::UserRecord) -> Vec<u8> {
        let mut body = self.body.clone();
        body.insert("user".into(), user.forwarded_json());
        body.insert("devices".into(), user.forwarded_devices());
        serde_json::to_vec(&Value::Object(body)).expect("a JSON map always serialises")
    }
}

/// Retries already done, from the message's header; absent means none. A
/// header of the wrong type counts as none rather than poisoning the message.
pub fn retry_count(headers: Option<&FieldTable>) -> u32 {
    let Some(value) = headers.and_then(|h| h.inner().get(RETRY_COUNT_HEADER)) else {
        return 0;
    };
    let n: i64 = match value {
        AMQPValue::ShortShortInt(n) => (*n).into(),
        AMQPValue::ShortShortUInt(n) => (*n).into(),
        AMQPValue::ShortInt(n) => (*n).into(),
        AMQPValue::ShortUInt(n) => (*n).into(),
        AMQPValue::LongInt(n) => (*n).into(),
        AMQPValue::LongUInt(n) => (*n).into(),
        AMQPValue::LongLongInt(n) => *n,
        AMQPValue::LongString(s) => {
            std::str::from_utf8(s.as_bytes()).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
        }
        _ => 0,
    };
    n.clamp(0, u32::MAX.into()) as u32
}

/// The failure reason header of a dead letter, if any.
pub fn failure_reason(headers: Option<&FieldTable>) -> Option<String> {
    match headers?.inner().get(FAILURE_REASON_HEADER)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

/// A copy of `headers` with the retry count set to `count`.
pub fn with_retry_count(headers: Option<&FieldTable>, count: u32) -> FieldTable {
    let mut table = headers.cloned().unwrap_or_default();
    table.insert(ShortString::from(RETRY_COUNT_HEADER), AMQPValue::LongLongInt(count.into()));
    table
}

/// A copy of `headers` with the failure reason set.
pub fn with_failure_reason(headers: Option<&FieldTable>, reason: &str) -> FieldTable {
    let mut table = headers.cloned().unwrap_or_default();
    table.insert(ShortString::from(FAILURE_REASON_HEADER), AMQPValue::LongString(reason.into()));
    table
}

/// A copy of `headers` without the worker's own bookkeeping and the broker's
/// `x-death` history, for a message that starts over (a replayed dead letter).
pub fn fresh_headers(headers: Option<&FieldTable>) -> FieldTable {
    let mut map = headers.map(|h| h.inner().clone()).unwrap_or_default();
    for key in [
        RETRY_COUNT_HEADER,
        FAILURE_REASON_HEADER,
        "x-death",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
    ] {
        map.remove(key);
    }
    map.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "0b6c3f0e-8a51-4d0f-9c35-3f1d3f3c2a11";

    fn body(extra: &str) -> Vec<u8> {
        format!(r#"{{"notification_type":"push","user_id":"{USER}","template_code":"welcome","variables":{{"a":1}},"request_id":"r-1","priority":5,"metadata":{{}}{extra}}}"#).into_bytes()
    }

    #[test]
    fn parses_a_gateway_message_and_keeps_unknown_fields() {
        let m = PushMessage::parse(&body(r#","extra":"kept""#)).unwrap();
        assert_eq!(m.user_id.to_string(), USER);
        assert_eq!(m.request_id.as_ref(), "r-1");
        assert_eq!(m.body["extra"], "kept");
    }

    #[test]
    fn rejects_what_is_not_a_push_message() {
        assert!(matches!(PushMessage::parse(b"not json"), Err(ParseError::NotJson(_))));
        assert_eq!(PushMessage::parse(b"[1]"), Err(ParseError::NotAnObject));
        assert_eq!(
            PushMessage::parse(br#"{"notification_type":"push","request_id":"r"}"#),
            Err(ParseError::MissingString("user_id"))
        );
        assert_eq!(
            PushMessage::parse(br#"{"notification_type":"push","user_id":"nope","request_id":"r"}"#),
            Err(ParseError::BadUserId)
        );
        let no_request = format!(r#"{{"notification_type":"push","user_id":"{USER}"}}"#);
        assert_eq!(PushMessage::parse(no_request.as_bytes()), Err(ParseError::MissingString("request_id")));
        let blank_request = format!(r#"{{"notification_type":"push","user_id":"{USER}","request_id":"  "}}"#);
        assert_eq!(PushMessage::parse(blank_request.as_bytes()), Err(ParseError::MissingString("request_id")));
        let nul_request = format!(r#"{{"notification_type":"push","user_id":"{USER}","request_id":"a\u0000b"}}"#);
        assert_eq!(
            PushMessage::parse(nul_request.as_bytes()).map_err(|e| e.to_string()),
            Err("field `request_id` contains a control or non-printable character (U+0000) at character 1".into())
        );
    }

    #[test]
    fn malformed_and_too_large_reasons_are_told_apart_from_the_rest() {
        assert!(is_malformed_reason("malformed: body is not valid JSON"));
        assert!(is_malformed_reason("too large: 300000 bytes"));
        assert!(!is_malformed_reason("unknown user 42"));
        assert!(!is_malformed_reason("retries exhausted: malformed: x"));
    }

    #[test]
    fn retry_count_is_read_back_from_the_header_it_writes() {
        assert_eq!(retry_count(None), 0);
        let once = with_retry_count(None, 1);
        assert_eq!(retry_count(Some(&once)), 1);
        let twice = with_retry_count(Some(&once), 2);
        assert_eq!(retry_count(Some(&twice)), 2);
    }

    #[test]
    fn retry_count_tolerates_foreign_encodings() {
        let mut t = FieldTable::default();
        t.insert(RETRY_COUNT_HEADER.into(), AMQPValue::LongString("3".into()));
        assert_eq!(retry_count(Some(&t)), 3);
        t.insert(RETRY_COUNT_HEADER.into(), AMQPValue::ShortShortUInt(2));
        assert_eq!(retry_count(Some(&t)), 2);
        t.insert(RETRY_COUNT_HEADER.into(), AMQPValue::LongInt(-4));
        assert_eq!(retry_count(Some(&t)), 0);
        t.insert(RETRY_COUNT_HEADER.into(), AMQPValue::Boolean(true));
        assert_eq!(retry_count(Some(&t)), 0);
    }

    #[test]
    fn fresh_headers_drop_bookkeeping_but_keep_the_rest() {
        let mut t = with_failure_reason(Some(&with_retry_count(None, 3)), "boom");
        t.insert("x-custom".into(), AMQPValue::Boolean(true));
        assert_eq!(failure_reason(Some(&t)).as_deref(), Some("boom"));
        let fresh = fresh_headers(Some(&t));
        assert_eq!(retry_count(Some(&fresh)), 0);
        assert_eq!(failure_reason(Some(&fresh)), None);
        assert!(fresh.contains_key("x-custom"));
    }
}
