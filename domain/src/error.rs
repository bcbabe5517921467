//! Every way a request can fail, and the one place where each failure gets
//! its HTTP status, its stable machine-readable `code` and the message a
//! client may see. Components return these; nothing else picks a status.

use std::collections::BTreeMap;

/// The envelope's `details`: field name to the problems found with it.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("The request has invalid fields")]
    Validation(FieldErrors),
    #[error("The request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("Invalid email or password")]
    InvalidCredentials,
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("Method not allowed")]
    /// `allow`: the methods the path serves, as the `Allow` header lists them.
    MethodNotAllowed { allow: String },
    #[error("{0}")]
    Conflict(&'static str),
    #[error("The request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("The request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("Too many requests; retry in {retry_after} seconds")]
    RateLimited { limit: u64, retry_after: u64, reset: u64 },
    #[error("This X-Request-ID was already used with a different request")]
    IdempotencyKeyReused,
    /// Well-formed fields asking for what a rule of the service forbids (a
    /// required category muted, an empty quiet-hours window): `details`
    /// names each field and the rule.
    #[error("The request breaks a rule of the service")]
    RuleViolated(FieldErrors),
    #[error("A request with this X-Request-ID is still being processed")]
    RequestInProgress,
    #[error("A backing service is unavailable: {0}")]
    Unavailable(&'static str),
    /// The cause is for the logs only; clients see a generic message.
    #[error("Internal server error")]
    Internal(String),
}

impl ApiError {
    /// A validation failure of one field.
    pub fn validation_of(field: &str, problem: &str) -> Self {
        let mut details = FieldErrors::new();
        details.insert(field.to_owned(), vec![problem.to_owned()]);
        Self::Validation(details)
    }

    /// A validation failure of one field with several problems.
    pub fn validation_all<P: std::fmt::Display>(field: &str, problems: impl IntoIterator<Item = P>) -> Self {
        let mut details = FieldErrors::new();
        details.insert(field.to_owned(), problems.into_iter().map(|p| p.to_string()).collect());
        Self::Validation(details)
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::Validation(_) | Self::MalformedJson(_) => 400,
            Self::InvalidCredentials | Self::Unauthorized(_) => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::Conflict(_) | Self::RequestInProgress => 409,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType => 415,
            Self::IdempotencyKeyReused | Self::RuleViolated(_) => 422,
            Self::RateLimited { .. } => 429,
            Self::Internal(_) => 500,
            Self::Unavailable(_) => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation_failed",
            Self::MalformedJson(_) => "malformed_json",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited { .. } => "rate_limited",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::RuleViolated(_) => "rule_violated",
            Self::RequestInProgress => "request_in_progress",
            Self::Unavailable(_) => "service_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    /// Headers the status code calls for (`Allow`, `Retry-After`, rate-limit state).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::MethodNotAllowed { allow } => vec![("allow", allow.clone())],
            Self::RateLimited { limit, retry_after, reset } => vec![
                ("retry-after", retry_after.to_string()),
                ("x-ratelimit-limit", limit.to_string()),
                ("x-ratelimit-remaining", "0".to_owned()),
                ("x-ratelimit-reset", reset.to_string()),
            ],
            Self::Unavailable(_) => vec![("retry-after", "5".to_owned())],
            _ => Vec::new(),
        }
    }

    pub fn details(&self) -> Option<&FieldErrors> {
        match self {
            Self::Validation(details) | Self::RuleViolated(details) => Some(details),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_causes_never_reach_the_message() {
        let error = ApiError::internal("password=hunter2 in query");
        assert_eq!(error.to_string(), "Internal server error");
        assert_eq!(error.status(), 500);
    }

    #[test]
    fn statuses_and_codes_follow_the_contract() {
        let cases = [
            (ApiError::validation_of("email", "is required"), 400, "validation_failed"),
            (ApiError::InvalidCredentials, 401, "invalid_credentials"),
            (ApiError::Conflict("taken"), 409, "conflict"),
            (ApiError::PayloadTooLarge { limit: 1 }, 413, "payload_too_large"),
            (ApiError::UnsupportedMediaType, 415, "unsupported_media_type"),
            (ApiError::IdempotencyKeyReused, 422, "idempotency_key_reused"),
            (ApiError::RuleViolated(FieldErrors::new()), 422, "rule_violated"),
            (ApiError::RequestInProgress, 409, "request_in_progress"),
            (ApiError::Unavailable("database"), 503, "service_unavailable"),
        ];
        for (error, status, code) in cases {
            assert_eq!((error.status(), error.code()), (status, code), "{error:?}");
        }
    }

    #[test]
    fn rate_limits_and_405_carry_their_headers() {
        let limited = ApiError::RateLimited { limit: 30, retry_after: 12, reset: 1_700_000_000 };
        assert!(limited.headers().contains(&("retry-after", "12".to_owned())));
        let not_allowed = ApiError::MethodNotAllowed { allow: "GET, PATCH".into() };
        assert_eq!(not_allowed.headers(), vec![("allow", "GET, PATCH".to_owned())]);
    }
}
