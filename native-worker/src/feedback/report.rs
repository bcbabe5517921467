//! A report on the feedback queue, as the push service writes it:
//! `{user_id, token, reason}` for a token FCM or APNs refused. Parsing keeps
//! what the retirement needs and ignores every other field; what cannot be a
//! report is refused here, so it is dead-lettered before any query.

use serde_json::Value;
use user_domain::UserId;
use user_domain::device::DeviceToken;

/// Longest reason kept (the `retired_reason` column's CHECK); a longer one
/// is cut, not refused: the token is dead whatever the provider said.
pub const MAX_REASON_CHARS: usize = 200;

/// A report whose fields were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub user_id: UserId,
    /// Exactly as sent: it is matched against the stored token as it is.
    pub token: String,
    /// The provider's reason, without control characters, trimmed, at most
    /// [`MAX_REASON_CHARS`]; `None` when absent, blank or not text.
    pub reason: Option<String>,
}

/// Why a body is not a report.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    #[error("body is not a JSON object")]
    NotAnObject,
    #[error("field `user_id` is missing or not a UUID")]
    BadUserId,
    #[error("field `token` is missing or not a string")]
    MissingToken,
    #[error("field `token` is empty")]
    EmptyToken,
    #[error("field `token` is {0} characters, over {max}", max = DeviceToken::MAX_CHARS)]
    TokenTooLong(usize),
    /// No registered token holds one (the components refuse them), and
    /// PostgreSQL cannot even compare a NUL.
    #[error("field `token` contains a control character (U+{code:04X}) at character {at}")]
    TokenControl { code: u32, at: usize },
}

impl Report {
    pub fn parse(bytes: &[u8]) -> Result<Self, ReportError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| ReportError::NotJson(e.to_string()))?;
        let Value::Object(body) = value else {
            return Err(ReportError::NotAnObject);
        };
        let user_id = match body.get("user_id") {
            Some(Value::String(s)) => UserId::parse(s).map_err(|_| ReportError::BadUserId)?,
            _ => return Err(ReportError::BadUserId),
        };
        let Some(Value::String(token)) = body.get("token") else {
            return Err(ReportError::MissingToken);
        };
        let chars = token.chars().count();
        if chars == 0 {
            return Err(ReportError::EmptyToken);
        }
        if chars > DeviceToken::MAX_CHARS {
            return Err(ReportError::TokenTooLong(chars));
        }
        if let Some((at, c)) = token.chars().enumerate().find(|(_, c)| c.is_control()) {
            return Err(ReportError::TokenControl { code: c.into(), at });
        }
        let reason = match body.get("reason") {
            Some(Value::String(s)) => clean_reason(s),
            _ => None,
        };
        Ok(Self { user_id, token: token.clone(), reason })
    }
}

/// Control characters become spaces (a NUL would make PostgreSQL refuse the
/// whole report), then the text is trimmed and cut to [`MAX_REASON_CHARS`].
fn clean_reason(raw: &str) -> Option<String> {
    let printable: String = raw.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let cut: String = printable.trim().chars().take(MAX_REASON_CHARS).collect();
    let cut = cut.trim_end();
    (!cut.is_empty()).then(|| cut.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "0b6c3f0e-8a51-4d0f-9c35-3f1d3f3c2a11";

    fn parse(body: serde_json::Value) -> Result<Report, ReportError> {
        Report::parse(&serde_json::to_vec(&body).unwrap())
    }

    #[test]
    fn reads_a_report_and_ignores_other_fields() {
        let r =
            parse(serde_json::json!({"user_id": USER, "token": "fcm:abc", "reason": "Unregistered", "x": 1})).unwrap();
        assert_eq!(r.user_id.to_string(), USER);
        assert_eq!(r.token, "fcm:abc");
        assert_eq!(r.reason.as_deref(), Some("Unregistered"));
        let bare = parse(serde_json::json!({"user_id": USER, "token": "t"})).unwrap();
        assert_eq!(bare.reason, None, "the reason is optional");
        let odd = parse(serde_json::json!({"user_id": USER, "token": "t", "reason": 410})).unwrap();
        assert_eq!(odd.reason, None, "a reason that is not text is left out, the report kept");
    }

    #[test]
    fn a_reason_is_cleaned_and_cut_to_200_characters() {
        let long = format!("  {}  ", "é".repeat(300));
        let r = parse(serde_json::json!({"user_id": USER, "token": "t", "reason": long})).unwrap();
        assert_eq!(r.reason.unwrap(), "é".repeat(MAX_REASON_CHARS));
        let r = parse(serde_json::json!({"user_id": USER, "token": "t", "reason": "bad\u{0}token\n"})).unwrap();
        assert_eq!(r.reason.as_deref(), Some("bad token"));
        let r = parse(serde_json::json!({"user_id": USER, "token": "t", "reason": " \t "})).unwrap();
        assert_eq!(r.reason, None);
    }

    #[test]
    fn refuses_what_cannot_be_a_report() {
        assert!(matches!(Report::parse(b"nope"), Err(ReportError::NotJson(_))));
        assert_eq!(Report::parse(b"[1]"), Err(ReportError::NotAnObject));
        for user_id in [serde_json::json!("42"), serde_json::json!(42), serde_json::json!(null)] {
            assert_eq!(parse(serde_json::json!({"user_id": user_id, "token": "t"})), Err(ReportError::BadUserId));
        }
        assert_eq!(parse(serde_json::json!({"token": "t"})), Err(ReportError::BadUserId));
        assert_eq!(parse(serde_json::json!({"user_id": USER})), Err(ReportError::MissingToken));
        assert_eq!(parse(serde_json::json!({"user_id": USER, "token": 7})), Err(ReportError::MissingToken));
        assert_eq!(parse(serde_json::json!({"user_id": USER, "token": ""})), Err(ReportError::EmptyToken));
        assert!(parse(serde_json::json!({"user_id": USER, "token": "x".repeat(4096)})).is_ok());
        assert_eq!(
            parse(serde_json::json!({"user_id": USER, "token": "x".repeat(4097)})),
            Err(ReportError::TokenTooLong(4097))
        );
        assert_eq!(
            parse(serde_json::json!({"user_id": USER, "token": "a\u{0}b"})).map_err(|e| e.to_string()),
            Err("field `token` contains a control character (U+0000) at character 1".into())
        );
    }
}
