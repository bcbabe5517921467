//! Status events on the status queue (`STATUS_QUEUE`, `notification.status`),
//! for the gateway's notification tracking: a push `skipped`, and why, or
//! `held` for the user's quiet hours, and until when. The consumer publishes
//! them, confirmed, before it acks the delivery they tell of
//! (`Processor::publish_status`); a redelivery may tell again.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::message::PushMessage;
use crate::user_record::SkipReason;

/// `{"status": "skipped", "reason": …}` and the message's identity.
pub(super) fn skipped(message: &PushMessage, reason: SkipReason) -> Value {
    let mut event = common(message, "skipped");
    event["reason"] = reason.as_str().into();
    event
}

/// `{"status": "held", "release_at": RFC 3339}` and the message's identity.
pub(super) fn held(message: &PushMessage, release_at: DateTime<Utc>) -> Value {
    let mut event = common(message, "held");
    event["release_at"] = release_at.to_rfc3339_opts(SecondsFormat::Secs, true).into();
    event
}

fn common(message: &PushMessage, status: &str) -> Value {
    json!({
        "request_id": message.request_id.as_ref(),
        "user_id": message.user_id.to_string(),
        "notification_type": message.body.get("notification_type"),
        "category": message.category,
        "status": status,
        "timestamp": Utc::now().to_rfc3339(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> PushMessage {
        PushMessage::parse(
            br#"{"notification_type":"push","user_id":"0b6c3f0e-8a51-4d0f-9c35-3f1d3f3c2a11","request_id":"r-1","category":"marketing"}"#,
        )
        .unwrap()
    }

    #[test]
    fn a_skip_says_why_and_of_which_category() {
        let event = skipped(&message(), SkipReason::CategoryMuted);
        assert_eq!(event["status"], "skipped");
        assert_eq!(event["reason"], "category_muted");
        assert_eq!(event["category"], "marketing");
        assert_eq!(event["request_id"], "r-1");
        assert_eq!(event["user_id"], "0b6c3f0e-8a51-4d0f-9c35-3f1d3f3c2a11");
        assert_eq!(event["notification_type"], "push");
        assert!(event["timestamp"].as_str().is_some_and(|t| DateTime::parse_from_rfc3339(t).is_ok()));
    }

    #[test]
    fn a_hold_says_until_when() {
        let at = DateTime::parse_from_rfc3339("2025-01-15T22:00:00Z").unwrap().with_timezone(&Utc);
        let event = held(&message(), at);
        assert_eq!(event["status"], "held");
        assert_eq!(event["release_at"], "2025-01-15T22:00:00Z");
        assert_eq!(event["category"], "marketing");
        assert!(event.get("reason").is_none());
    }
}
