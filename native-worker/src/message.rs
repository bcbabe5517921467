//! The push message as the gateway writes it, and the headers the worker
//! reads and writes on it. Parsing keeps every field it does not know, so
//! the push service receives exactly what the gateway sent, plus `user` and
//! `devices`.

use chrono::{DateTime, SecondsFormat, Utc};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use serde_json::{Map, Value};
use user_domain::UserId;
use user_domain::preferences::{CategoryConfig, CategoryName};
use user_domain::trace_context::{self, TraceParent};

use crate::request_id::{RequestId, RequestIdError};

/// Header counting the retries a message went through (set by the worker,
/// never by the consumer's memory, so it survives restarts and redeliveries).
pub const RETRY_COUNT_HEADER: &str = "x-retry-count";
/// Header saying why a message was dead-lettered.
pub const FAILURE_REASON_HEADER: &str = "x-failure-reason";
/// Header of a message released from quiet hours: the end (RFC 3339) of
/// the window it was held for, so it is not held again for that window
/// (`UserRecord::decide`). Set when it is held, kept with it in
/// `held_messages`, and published with it on its release.
pub const HELD_UNTIL_HEADER: &str = "x-held-until";

/// The category of a message that names none (CONTRACT section 5).
pub const DEFAULT_CATEGORY: &str = "transactional";
/// Start of the failure reason of a message whose category is not
/// configured. Not malformed: `dlq replay` may send it again once the
/// category is added to `NOTIFICATION_CATEGORIES`.
pub const UNKNOWN_CATEGORY: &str = "unknown_category: ";

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
    #[error("field `category` is not a string")]
    BadCategory,
}

/// A push message whose required fields were checked.
#[derive(Debug, Clone, PartialEq)]
pub struct PushMessage {
    pub user_id: UserId,
    pub request_id: RequestId,
    /// The `category` given ([`DEFAULT_CATEGORY`] when absent or null), as
    /// written: whether it is configured is the consumer's question
    /// ([`PushMessage::unknown_category`]).
    pub category: String,
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
        // Null reads as absent: a gateway serialising an unset Option.
        let category = match body.get("category") {
            None | Some(Value::Null) => DEFAULT_CATEGORY.to_owned(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(ParseError::BadCategory),
        };
        Ok(Self { user_id, request_id, category, body })
    }

    /// The failure reason when the message's category is not configured:
    /// `unknown_category: <name>`, the name cut (it ends up in a header, and
    /// a name past [`CategoryName::MAX_CHARS`] is none anyway).
    pub fn unknown_category(&self, config: &CategoryConfig) -> Option<String> {
        if config.is_category(&self.category) {
            return None;
        }
        let shown: String = self.category.chars().take(CategoryName::MAX_CHARS + 1).collect();
        let cut = if shown.len() < self.category.len() { "…" } else { "" };
        Some(format!("{UNKNOWN_CATEGORY}{shown}{cut}"))
    }

    /// The body for push.ready: the original plus the user record and the
    /// user's active devices, most recently seen first (CONTRACT section 5).
    pub fn enriched(&self, user: &crate::user_record::UserRecord, config: &CategoryConfig) -> Vec<u8> {
        let mut body = self.body.clone();
        body.insert("user".into(), user.forwarded_json(config));
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

/// The trace a delivery belongs to (W3C Trace Context): its `traceparent`
/// header if that is valid, else a trace derived from its body, so that
/// everything published for it (forward, retries, dead letter, status
/// events) lands in one trace, however often it is redelivered.
pub fn trace_of(headers: Option<&FieldTable>, body: &[u8]) -> TraceParent {
    let header = headers.and_then(|h| h.inner().get(trace_context::HEADER)).and_then(|value| match value {
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok().and_then(TraceParent::parse),
        AMQPValue::ShortString(s) => TraceParent::parse(s.as_str()),
        _ => None,
    });
    header.unwrap_or_else(|| TraceParent::derived(body))
}

/// A copy of `headers` carrying `trace` as its `traceparent`.
pub fn with_trace(headers: Option<&FieldTable>, trace: TraceParent) -> FieldTable {
    let mut table = headers.cloned().unwrap_or_default();
    table.insert(ShortString::from(trace_context::HEADER), AMQPValue::LongString(trace.to_string().as_str().into()));
    table
}

/// The end of the quiet hours a released message was held for, from its
/// header; absent or unreadable means it was not released from any.
pub fn held_until(headers: Option<&FieldTable>) -> Option<DateTime<Utc>> {
    let raw = match headers?.inner().get(HELD_UNTIL_HEADER)? {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.as_str().to_owned(),
        _ => return None,
    };
    DateTime::parse_from_rfc3339(raw.trim()).ok().map(|t| t.with_timezone(&Utc))
}

/// A copy of `headers` saying the message is held until `release_at`.
pub fn with_held_until(headers: Option<&FieldTable>, release_at: DateTime<Utc>) -> FieldTable {
    let mut table = headers.cloned().unwrap_or_default();
    let at = release_at.to_rfc3339_opts(SecondsFormat::Millis, true);
    table.insert(ShortString::from(HELD_UNTIL_HEADER), AMQPValue::LongString(at.as_str().into()));
    table
}

/// A copy of `headers` without the worker's own bookkeeping and the broker's
/// `x-death` history, for a message that starts over (a replayed dead
/// letter, a message held for quiet hours).
pub fn fresh_headers(headers: Option<&FieldTable>) -> FieldTable {
    let mut map = headers.map(|h| h.inner().clone()).unwrap_or_default();
    for key in [
        RETRY_COUNT_HEADER,
        FAILURE_REASON_HEADER,
        HELD_UNTIL_HEADER,
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
    fn the_category_is_transactional_unless_given_and_must_be_a_string() {
        assert_eq!(PushMessage::parse(&body("")).unwrap().category, "transactional");
        assert_eq!(PushMessage::parse(&body(r#","category":null"#)).unwrap().category, "transactional");
        let m = PushMessage::parse(&body(r#","category":"marketing""#)).unwrap();
        assert_eq!(m.category, "marketing");
        assert_eq!(m.body["category"], "marketing", "kept in the forwarded body");
        for bad in [r#","category":7"#, r#","category":["marketing"]"#, r#","category":{}"#, r#","category":true"#] {
            assert_eq!(PushMessage::parse(&body(bad)), Err(ParseError::BadCategory), "{bad}");
        }
        assert_eq!(ParseError::BadCategory.to_string(), "field `category` is not a string");
    }

    #[test]
    fn a_category_not_configured_is_named_in_the_reason() {
        let config = CategoryConfig::default();
        let of = |category: &str| {
            let extra = format!(r#","category":{}"#, serde_json::to_string(category).unwrap());
            PushMessage::parse(&body(&extra)).unwrap().unknown_category(&config)
        };
        assert_eq!(of("marketing"), None);
        assert_eq!(of("promotions").as_deref(), Some("unknown_category: promotions"));
        assert_eq!(of("Marketing").as_deref(), Some("unknown_category: Marketing"), "names are exact");
        assert_eq!(of("").as_deref(), Some("unknown_category: "));
        let long = of(&"é".repeat(1000)).unwrap();
        assert_eq!(long, format!("unknown_category: {}…", "é".repeat(33)));
        assert!(!is_malformed_reason(&long), "replayable once the category is configured");
    }

    #[test]
    fn held_until_is_read_back_from_the_header_it_writes() {
        assert_eq!(held_until(None), None);
        let at = DateTime::parse_from_rfc3339("2025-01-15T22:00:00.250Z").unwrap().with_timezone(&Utc);
        let mut t = with_held_until(Some(&with_retry_count(None, 1)), at);
        assert_eq!(held_until(Some(&t)), Some(at));
        assert_eq!(retry_count(Some(&t)), 1, "other headers kept");
        t.insert(HELD_UNTIL_HEADER.into(), AMQPValue::LongString("tomorrow".into()));
        assert_eq!(held_until(Some(&t)), None, "unreadable: as if never held");
        t.insert(HELD_UNTIL_HEADER.into(), AMQPValue::Boolean(true));
        assert_eq!(held_until(Some(&t)), None);
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
