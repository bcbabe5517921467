//! The JSON shape of every response, success or failure, and the [`Reply`]
//! a component turns into an HTTP response. Building replies here keeps the
//! envelope identical across components and testable without Spin.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::error::FieldErrors;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Envelope<T = Value> {
    pub success: bool,
    pub message: String,
    pub data: Option<T>,
    /// Only on paginated lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<FieldErrors>,
}

/// How a list is paginated: by page number (the contract's lists) or by a
/// cursor (the audit trail, which grows while it is read).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Meta {
    Page(PageMeta),
    Cursor(CursorMeta),
}

impl From<PageMeta> for Meta {
    fn from(meta: PageMeta) -> Self {
        Meta::Page(meta)
    }
}

impl From<CursorMeta> for Meta {
    fn from(meta: CursorMeta) -> Self {
        Meta::Cursor(meta)
    }
}

/// A cursor-paginated list: pass `next_cursor` as `?cursor=` for the next page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CursorMeta {
    pub limit: u64,
    pub next_cursor: Option<String>,
    pub has_next: bool,
}

/// A page-numbered list.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PageMeta {
    pub total: u64,
    pub limit: u64,
    pub page: u64,
    pub total_pages: u64,
    pub has_next: bool,
    pub has_previous: bool,
}

impl PageMeta {
    pub fn new(total: u64, page: u64, limit: u64) -> Self {
        let total_pages = total.div_ceil(limit.max(1));
        Self { total, limit, page, total_pages, has_next: page < total_pages, has_previous: page > 1 }
    }
}

impl<T> Envelope<T> {
    pub fn ok(message: impl Into<String>, data: T) -> Self {
        Self {
            success: true,
            message: message.into(),
            data: Some(data),
            meta: None,
            error: None,
            code: None,
            details: None,
        }
    }
}

impl Envelope<Value> {
    pub fn failure(error: &ApiError) -> Self {
        let message = error.to_string();
        Self {
            success: false,
            error: Some(message.clone()),
            message,
            data: None,
            meta: None,
            code: Some(error.code().to_owned()),
            details: error.details().cloned(),
        }
    }
}

/// An HTTP answer before it meets a transport: status, headers, JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether an `X-Request-ID` repeat may be given this answer again.
    pub replay: Replay,
}

/// When a kept answer may be replayed to a repeat of its request (which
/// passes the same access checks as a fresh request first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Replay {
    /// Whenever the repeat passes those checks.
    #[default]
    Always,
    /// Only while this session lives: the answer holds its tokens.
    WhileSessionLives(uuid::Uuid),
    /// Never kept: a repeat runs again (a sign-in challenge, which is single
    /// use and cheap to issue anew).
    Never,
}

impl Reply {
    pub fn json<T: Serialize>(status: u16, envelope: &Envelope<T>) -> Self {
        let body = serde_json::to_vec(envelope).expect("an envelope always serializes");
        Self { status, headers: vec![("content-type".into(), "application/json".into())], body, replay: Replay::Always }
    }

    pub fn ok<T: Serialize>(status: u16, message: &str, data: T) -> Self {
        Self::json(status, &Envelope::ok(message, data))
    }

    pub fn error(error: &ApiError) -> Self {
        let mut reply = Self::json(error.status(), &Envelope::failure(error));
        reply.headers.extend(error.headers().into_iter().map(|(k, v)| (k.to_owned(), v)));
        reply
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Says when this answer may be replayed (see [`Replay`]).
    pub fn replayed(mut self, replay: Replay) -> Self {
        self.replay = replay;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn success_envelope_has_null_error_and_no_meta() {
        let reply = Reply::ok(200, "fine", json!({"a": 1}));
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body, json!({"success": true, "message": "fine", "data": {"a": 1}, "error": null}));
    }

    #[test]
    fn failure_envelope_carries_code_and_details() {
        let reply = Reply::error(&ApiError::validation_of("email", "is required"));
        assert_eq!(reply.status, 400);
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["success"], false);
        assert_eq!(body["data"], Value::Null);
        assert_eq!(body["code"], "validation_failed");
        assert_eq!(body["details"]["email"][0], "is required");
    }

    #[test]
    fn page_meta_arithmetic() {
        assert_eq!(
            PageMeta::new(45, 1, 20),
            PageMeta { total: 45, limit: 20, page: 1, total_pages: 3, has_next: true, has_previous: false }
        );
        let last = PageMeta::new(45, 3, 20);
        assert!(!last.has_next && last.has_previous);
        assert_eq!(PageMeta::new(0, 1, 20).total_pages, 0);
    }
}
