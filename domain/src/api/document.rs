//! The OpenAPI document of the whole API, built from the request and
//! response types (their `utoipa` schemas) and from the operations declared
//! below. The docs component serialises it at build time (its `build.rs`);
//! nothing else writes the document.
//!
//! Every operation answers in the envelope. The statuses an operation can
//! answer follow from what it does, by the same rules the components apply:
//! - a JSON body: 400 (invalid or malformed), 413 (over 64 KiB), 415 (not JSON);
//! - a mutating method: `X-Request-ID` idempotency, so 400 (a bad key),
//!   409 (`request_in_progress`), 422 (`idempotency_key_reused`), 429 (keys
//!   of anonymous callers are rate limited) and 503 (the key store);
//! - a bearer token: 401 (none, bad, expired, or the account is gone) and
//!   403 (deactivated; for staff operations, not staff); a service key: 401;
//! - a path id: 404; a database or cache behind it: 503.
//!
//! Each error status carries the `code`s that [`ApiError`] gives it.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, Schema};

use super::MAX_BODY_BYTES;
use super::requests::*;
use super::responses::*;
use super::schema::NO_NUL;
use crate::ApiError;
use crate::envelope::{CursorMeta, PageMeta};

/// Who may call an operation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Public,
    /// `Authorization: Bearer <access token>` of an active account.
    Bearer,
    /// A bearer token of a staff account.
    Staff,
    /// `X-Service-Key`.
    Service,
}

/// One operation as declared below.
struct Operation {
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    description: &'static str,
    access: Access,
    body: Option<Value>,
    /// Status, description, `data` schema (`None`: not JSON, see `raw`), extras.
    answers: Vec<(u16, &'static str, Value)>,
    /// A whole response object for a status (the health check's 503, the document).
    raw: Vec<(u16, Value)>,
    /// Error statuses beyond those [the rules](self) imply.
    errors: Vec<u16>,
    parameters: Vec<Value>,
    /// Pagination: the `meta` schema of a list.
    meta: Option<Value>,
    /// Whether a database or cache stands behind it (503).
    backed: bool,
    links: Vec<(&'static str, Value)>,
    /// Whether a mutating method honours `X-Request-ID` (introspection, a
    /// read that POSTs, does not: a replayed `active: true` could outlive
    /// the session).
    idempotent: bool,
    /// Whether the body may also come as a form (`application/x-www-form-urlencoded`).
    form: bool,
}

impl Operation {
    fn new(method: &'static str, path: &'static str, tag: &'static str, summary: &'static str) -> Self {
        Self {
            method,
            path,
            tag,
            summary,
            description: "",
            access: Access::Public,
            body: None,
            answers: Vec::new(),
            raw: Vec::new(),
            errors: Vec::new(),
            parameters: Vec::new(),
            meta: None,
            backed: true,
            links: Vec::new(),
            idempotent: true,
            form: false,
        }
    }
    fn describe(mut self, text: &'static str) -> Self {
        self.description = text;
        self
    }
    fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }
    fn body(mut self, schema: Value) -> Self {
        self.body = Some(schema);
        self
    }
    fn answer(mut self, status: u16, description: &'static str, data: Value) -> Self {
        self.answers.push((status, description, data));
        self
    }
    fn raw(mut self, status: u16, response: Value) -> Self {
        self.raw.push((status, response));
        self
    }
    fn errors(mut self, statuses: &[u16]) -> Self {
        self.errors.extend_from_slice(statuses);
        self
    }
    fn parameter(mut self, parameter: Value) -> Self {
        self.parameters.push(parameter);
        self
    }
    fn paginated(mut self, meta: Value) -> Self {
        self.meta = Some(meta);
        self
    }
    fn unbacked(mut self) -> Self {
        self.backed = false;
        self
    }
    fn link(mut self, name: &'static str, link: Value) -> Self {
        self.links.push((name, link));
        self
    }
    fn not_idempotent(mut self) -> Self {
        self.idempotent = false;
        self
    }
    fn form_too(mut self) -> Self {
        self.form = true;
        self
    }
    fn mutating(&self) -> bool {
        matches!(self.method, "post" | "put" | "patch" | "delete") && self.idempotent
    }
}

/// Schemas gathered while the operations are declared.
#[derive(Default)]
struct Schemas(BTreeMap<String, Value>);

impl Schemas {
    /// A `$ref` to `T`, registering `T` and every schema it refers to.
    fn of<T: ToSchema>(&mut self) -> Value {
        let mut found: Vec<(String, RefOr<Schema>)> = vec![(T::name().into_owned(), T::schema())];
        T::schemas(&mut found);
        for (name, schema) in found {
            self.0.insert(name, serde_json::to_value(schema).expect("schemas serialise"));
        }
        reference(&T::name())
    }
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

fn path_id(name: &str, what: &str) -> Value {
    json!({
        "name": name, "in": "path", "required": true,
        "description": format!("{what} (a UUID; anything else is a 404)"),
        "schema": {"type": "string", "format": "uuid"},
    })
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

/// A link to another operation, passing the given `$response` values.
fn link(operation: &str, parameters: Value) -> Value {
    json!({"operationId": operation, "parameters": parameters})
}

/// One value of every [`ApiError`] variant. The match is exhaustive, so a new
/// variant cannot be added without its status and code reaching the document.
fn every_error() -> Vec<ApiError> {
    let all = vec![
        ApiError::Validation(Default::default()),
        ApiError::MalformedJson(String::new()),
        ApiError::InvalidCredentials,
        ApiError::Unauthorized(""),
        ApiError::Forbidden(""),
        ApiError::NotFound(""),
        ApiError::MethodNotAllowed { allow: "" },
        ApiError::Conflict(""),
        ApiError::PayloadTooLarge { limit: 0 },
        ApiError::UnsupportedMediaType,
        ApiError::RateLimited { limit: 0, retry_after: 0, reset: 0 },
        ApiError::IdempotencyKeyReused,
        ApiError::RequestInProgress,
        ApiError::Unavailable(""),
        ApiError::Internal(String::new()),
    ];
    for error in &all {
        match error {
            ApiError::Validation(_)
            | ApiError::MalformedJson(_)
            | ApiError::InvalidCredentials
            | ApiError::Unauthorized(_)
            | ApiError::Forbidden(_)
            | ApiError::NotFound(_)
            | ApiError::MethodNotAllowed { .. }
            | ApiError::Conflict(_)
            | ApiError::PayloadTooLarge { .. }
            | ApiError::UnsupportedMediaType
            | ApiError::RateLimited { .. }
            | ApiError::IdempotencyKeyReused
            | ApiError::RequestInProgress
            | ApiError::Unavailable(_)
            | ApiError::Internal(_) => {}
        }
    }
    all
}

fn status_description(status: u16) -> &'static str {
    match status {
        400 => "Invalid input: `details` names each field and its problems",
        401 => "No credentials, or credentials that are not valid",
        403 => "Not allowed",
        404 => "Not found",
        409 => "A conflict with the current state, or a request with this `X-Request-ID` is still running",
        413 => "The body is larger than 64 KiB",
        415 => "The body is not JSON (`Content-Type: application/json`)",
        422 => "This `X-Request-ID` was used with another request",
        429 => "Too many requests: retry after `Retry-After` seconds",
        503 => "A backing service (database, cache) is unavailable",
        _ => "Error",
    }
}

fn header(description: &str, schema: Value) -> Value {
    json!({"description": description, "schema": schema})
}

/// The shared error responses, one per status, each with its codes.
fn error_responses() -> Map<String, Value> {
    let mut codes: BTreeMap<u16, Vec<&'static str>> = BTreeMap::new();
    for error in every_error() {
        codes.entry(error.status()).or_default().push(error.code());
    }
    let mut responses = Map::new();
    for (status, codes) in codes {
        if status == 500 {
            continue; // never an answer to a request, only a bug
        }
        let mut headers = json!({"X-Correlation-ID": {"$ref": "#/components/headers/X-Correlation-ID"}});
        match status {
            405 => headers["Allow"] = header("The methods the path serves", json!({"type": "string"})),
            429 => {
                headers["Retry-After"] = header("Seconds until a retry may succeed", json!({"type": "integer"}));
            }
            503 => {
                headers["Retry-After"] = header("Seconds until a retry may succeed", json!({"type": "integer"}));
            }
            _ => {}
        }
        let schema = json!({
            "allOf": [
                reference("ErrorEnvelope"),
                {"type": "object", "properties": {"code": {"type": "string", "enum": codes}}},
            ]
        });
        responses.insert(
            format!("Error{status}"),
            json!({
                "description": status_description(status),
                "headers": headers,
                "content": {"application/json": {"schema": schema}},
            }),
        );
    }
    responses
}

/// The envelope of a success whose `data` is `data` (and `meta`, on lists).
fn success(data: &Value, meta: Option<&Value>) -> Value {
    let mut properties = json!({"data": data});
    let mut required = vec!["data"];
    if let Some(meta) = meta {
        properties["meta"] = meta.clone();
        required.push("meta");
    }
    json!({
        "allOf": [
            reference("SuccessEnvelope"),
            {"type": "object", "required": required, "properties": properties},
        ]
    })
}

fn envelopes() -> Vec<(&'static str, Value)> {
    let codes: Vec<&str> = {
        let mut codes: Vec<&str> = every_error().iter().map(ApiError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        codes
    };
    vec![
        (
            "SuccessEnvelope",
            json!({
                "type": "object",
                "description": "Every successful JSON answer. `meta` only on lists.",
                "required": ["success", "message", "data", "error"],
                "properties": {
                    "success": {"type": "boolean", "const": true},
                    "message": {"type": "string"},
                    "data": {},
                    "meta": {"type": "object"},
                    "error": {"type": "null"},
                },
            }),
        ),
        (
            "ErrorEnvelope",
            json!({
                "type": "object",
                "description": "Every failed answer. `details` only for validation failures: field name to its problems.",
                "required": ["success", "message", "data", "error", "code"],
                "properties": {
                    "success": {"type": "boolean", "const": false},
                    "message": {"type": "string"},
                    "data": {"type": "null"},
                    "error": {"type": "string", "description": "A human-readable reason"},
                    "code": {"type": "string", "enum": codes, "description": "Stable and machine-readable"},
                    "details": {
                        "type": "object",
                        "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    },
                },
            }),
        ),
        (
            "JsonValue",
            json!({
                "description": "Any JSON a request body may carry: no NUL characters (in keys or strings), numbers within ±1e300, at most 32 levels deep.",
                "anyOf": [
                    {"type": "null"},
                    {"type": "boolean"},
                    {"type": "number", "minimum": -1e300, "maximum": 1e300},
                    {"type": "string", "pattern": NO_NUL},
                    {"type": "array", "items": reference("JsonValue")},
                    {"type": "object", "propertyNames": {"pattern": NO_NUL}, "additionalProperties": reference("JsonValue")},
                ],
            }),
        ),
        (
            "JwkSet",
            json!({
                "type": "object",
                "description": "RFC 7517 key set: the Ed25519 public keys access tokens verify with (empty while tokens are HS256).",
                "required": ["keys"],
                "properties": {"keys": {"type": "array", "items": {
                    "type": "object",
                    "required": ["kty", "crv", "x", "kid", "alg", "use"],
                    "properties": {
                        "kty": {"type": "string", "const": "OKP"},
                        "crv": {"type": "string", "const": "Ed25519"},
                        "x": {"type": "string"},
                        "kid": {"type": "string"},
                        "alg": {"type": "string", "const": "EdDSA"},
                        "use": {"type": "string", "const": "sig"},
                    },
                }}},
            }),
        ),
    ]
}

/// What the body check (`carriable`) refuses anywhere in a body, said in
/// each request schema: no string may hold NUL where the type's own schema
/// does not already constrain it, and the unknown fields a body may carry
/// (they are ignored) are still JSON the check accepts: no NUL in their
/// names, numbers within ±1e300.
fn forbid_nul(schema: &mut Value) {
    match schema {
        Value::Object(object) => {
            let is = |kind: &str, object: &Map<String, Value>| {
                object.get("type").is_some_and(|t| t == kind || t.as_array().is_some_and(|a| a.contains(&json!(kind))))
            };
            if is("string", object) && !object.contains_key("pattern") {
                object.insert("pattern".into(), json!(NO_NUL));
            }
            if is("object", object) && object.contains_key("properties") && !object.contains_key("additionalProperties")
            {
                object.insert("propertyNames".into(), json!({"pattern": NO_NUL}));
                object.insert("additionalProperties".into(), reference("JsonValue"));
            }
            for value in object.values_mut() {
                forbid_nul(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(forbid_nul),
        _ => {}
    }
}

fn operations(s: &mut Schemas) -> Vec<Operation> {
    let user = s.of::<UserView>();
    let tokens = s.of::<SessionTokens>();
    let preferences = s.of::<Preferences>();
    let empty = s.of::<Empty>();
    let page_meta = s.of::<PageMeta>();
    let cursor_meta = s.of::<CursorMeta>();
    let audit = s.of::<AuditEntry>();
    let session = s.of::<SessionInfo>();
    let id = || path_id("id", "The user's id");
    let audit_params = |op: Operation| {
        op.parameter(query(
            "limit",
            "Events per page",
            json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 20}),
        ))
        .parameter(query(
            "cursor",
            "The `meta.next_cursor` of the previous page",
            json!({"type": "string", "pattern": "^[1-9][0-9]{0,17}$"}),
        ))
        .paginated(cursor_meta.clone())
        .errors(&[400])
    };
    let registered_user = json!({"id": "$response.body#/data/user/id"});
    let health = s.of::<Health>();
    let readiness = |op: Operation| {
        op.describe("Checks PostgreSQL and Redis. The outcome is reused for up to a second (`data.checked_at` says when the checks ran), so polling cannot load the database.")
            .answer(200, "Healthy", health.clone())
            .raw(
                503,
                json!({
                    "description": "Unhealthy: the envelope of a failure (`code: service_unavailable`) that still carries `data.checks`",
                    "headers": {
                        "X-Correlation-ID": {"$ref": "#/components/headers/X-Correlation-ID"},
                        "Retry-After": header("Seconds until a retry may succeed", json!({"type": "integer"})),
                    },
                    "content": {"application/json": {"schema": {"allOf": [
                        reference("ErrorEnvelope"),
                        {"type": "object", "required": ["data"], "properties": {"data": reference("Health")}},
                    ]}}},
                }),
            )
            .unbacked()
    };

    vec![
        readiness(Operation::new("get", "/api/v1/health/", "health", "Health of the service and what it depends on")),
        readiness(Operation::new("get", "/api/v1/health/ready/", "health", "Readiness: the same checks as `/api/v1/health/`")),
        Operation::new("get", "/api/v1/health/live/", "health", "Liveness: the instance answers")
            .describe("Touches nothing (no database, no cache), so a liveness probe never restarts an instance because a dependency is down.")
            .answer(200, "Alive", s.of::<Liveness>())
            .unbacked(),
        Operation::new("get", "/api/v1/openapi.json", "docs", "This document")
            .raw(200, json!({"description": "The OpenAPI document", "content": {"application/json": {"schema": {"type": "object"}}}}))
            .unbacked(),
        Operation::new("get", "/api/v1/docs/", "docs", "The document rendered for people (Swagger UI)")
            .raw(200, json!({"description": "An HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}))
            .unbacked(),
        Operation::new("get", "/.well-known/jwks.json", "auth", "Public keys of access tokens (JWKS)")
            .describe("Cacheable for five minutes. The same set as `/api/v1/auth/jwks.json`.")
            .raw(200, json!({"description": "The key set", "content": {"application/jwk-set+json": {"schema": reference("JwkSet")}}}))
            .unbacked(),
        Operation::new("get", "/api/v1/auth/jwks.json", "auth", "Public keys of access tokens (JWKS)")
            .raw(200, json!({"description": "The key set", "content": {"application/jwk-set+json": {"schema": reference("JwkSet")}}}))
            .unbacked(),
        Operation::new("post", "/api/v1/users/", "users", "Register")
            .describe("Creates the account, its preferences and its first session in one statement, and sends a verification email event. Rate limited per client address.")
            .body(s.of::<RegisterRequest>())
            .answer(201, "Registered: the user and a session", tokens.clone())
            .errors(&[409])
            .link("GetUserById", link("staffGetUser", registered_user.clone()))
            .link("PatchUserById", link("staffPatchUser", registered_user.clone()))
            .link("DeleteUserById", link("staffDeleteUser", registered_user.clone()))
            .link("GetInternalUser", link("internalGetUser", registered_user.clone()))
            .link("GetUserPreferences", link("serviceGetPreferences", registered_user.clone())),
        Operation::new("get", "/api/v1/users/", "staff", "List users")
            .access(Access::Staff)
            .parameter(query("page", "From 1", json!({"type": "integer", "minimum": 1, "maximum": u32::MAX, "default": 1})))
            .parameter(query("limit", "Users per page", json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 20})))
            .parameter(query("search", "Part of an email or name, case-insensitive", json!({"type": "string", "pattern": NO_NUL})))
            .parameter(query("is_active", "Only active (true) or deactivated (false) accounts", json!({"type": "boolean"})))
            .answer(200, "A page of users", array(user.clone()))
            .paginated(page_meta)
            .errors(&[400]),
        Operation::new("post", "/api/v1/auth/login/", "auth", "Sign in")
            .describe("An unknown email and a wrong password get the same 401. Past the account's failure allowance even the right password gets 429. An account with two-factor sign-in gets a challenge instead of tokens.")
            .body(s.of::<LoginRequest>())
            .answer(200, "Signed in (tokens and the user), or a second factor is required (a challenge)", json!({"oneOf": [tokens.clone(), s.of::<MfaChallenge>()]}))
            .errors(&[401, 403]),
        Operation::new("post", "/api/v1/auth/login/mfa/", "auth", "Complete a sign-in with a second factor")
            .body(s.of::<MfaLoginRequest>())
            .answer(200, "Signed in", tokens.clone())
            .errors(&[401, 403]),
        Operation::new("post", "/api/v1/auth/refresh/", "auth", "Trade a refresh token for new tokens")
            .describe("The refresh token is spent: presenting it again is a 401 and revokes its whole session.")
            .body(s.of::<RefreshRequest>())
            .answer(200, "New tokens", tokens.clone())
            .errors(&[401]),
        Operation::new("post", "/api/v1/auth/logout/", "auth", "End this session, or every session")
            .body(s.of::<LogoutRequest>())
            .answer(200, "Logged out", s.of::<RevokedTokens>())
            .errors(&[401]),
        Operation::new("post", "/api/v1/auth/verify-email/", "auth", "Verify the email address")
            .body(s.of::<TokenRequest>())
            .answer(200, "Verified", s.of::<EmailVerification>()),
        Operation::new("post", "/api/v1/auth/verify-email/resend/", "auth", "Send a new verification email")
            .access(Access::Bearer)
            .answer(200, "Sent", s.of::<EmailVerification>())
            .errors(&[409]),
        Operation::new("post", "/api/v1/auth/password-reset/", "auth", "Ask for a password reset email")
            .describe("200 whether or not the email has an account. Needs the cache (503 without it).")
            .body(s.of::<ResetRequest>())
            .answer(200, "If the account exists, the email is on its way", empty.clone()),
        Operation::new("post", "/api/v1/auth/password-reset/confirm/", "auth", "Set a new password with a reset token")
            .body(s.of::<ResetConfirmRequest>())
            .answer(200, "The password is reset; every session is revoked", empty.clone()),
        Operation::new("post", "/api/v1/auth/password-change/", "auth", "Change the password")
            .describe("Wrong current passwords count against the account's failure allowance (429 past it). Other sessions are revoked; this client gets new tokens.")
            .access(Access::Bearer)
            .body(s.of::<PasswordChangeRequest>())
            .answer(200, "Changed: a fresh session", tokens.clone()),
        Operation::new("post", "/api/v1/auth/introspect/", "service", "Introspect a token (RFC 7662)")
            .describe("For gateways: whether an access or refresh token is active now (signature, expiry, its session not ended, the account active). The answer is RFC 7662's object at the top level, not the envelope: an unknown, malformed, expired or ended token is `{\"active\": false}`. Not idempotent (`X-Request-ID` is ignored): the answer is about now.")
            .access(Access::Service)
            .not_idempotent()
            .form_too()
            .body(s.of::<IntrospectRequest>())
            .raw(200, json!({
                "description": "The token's state (RFC 7662, section 2.2)",
                "headers": {"X-Correlation-ID": {"$ref": "#/components/headers/X-Correlation-ID"}},
                "content": {"application/json": {"schema": s.of::<Introspection>()}},
            })),
        Operation::new("get", "/api/v1/auth/sessions/", "auth", "The caller's sessions")
            .access(Access::Bearer)
            .answer(200, "Sessions that can still be refreshed, newest use first", array(session.clone()))
            .link("EndFirstSession", link("deleteAuthSessionsId", json!({"id": "$response.body#/data/0/id"}))),
        Operation::new("delete", "/api/v1/auth/sessions/{id}/", "auth", "End one of the caller's sessions")
            .access(Access::Bearer)
            .parameter(path_id("id", "The session's id"))
            .answer(200, "Ended", s.of::<SessionEnded>())
            .errors(&[404]),
        audit_params(
            Operation::new("get", "/api/v1/auth/audit/", "auth", "The caller's audit trail")
                .access(Access::Bearer)
                .answer(200, "Events, newest first", array(audit.clone())),
        ),
        Operation::new("post", "/api/v1/auth/mfa/totp/", "mfa", "Start two-factor enrolment")
            .describe("Needs the current password: a wrong one is a 400 and counts against the account's failure allowance (429 past it).")
            .access(Access::Bearer)
            .body(s.of::<PasswordRequest>())
            .answer(200, "A pending secret", s.of::<MfaEnrolment>())
            .errors(&[409]),
        Operation::new("delete", "/api/v1/auth/mfa/totp/", "mfa", "Turn two-factor sign-in off")
            .access(Access::Bearer)
            .body(s.of::<PasswordAndCodeRequest>())
            .answer(200, "Off; every session is signed out", s.of::<MfaState>()),
        Operation::new("post", "/api/v1/auth/mfa/totp/confirm/", "mfa", "Confirm enrolment with a current code")
            .describe("Every other session of the account ends: whoever held them signed in without this factor.")
            .access(Access::Bearer)
            .body(s.of::<CodeRequest>())
            .answer(200, "On: the recovery codes, shown once", s.of::<MfaEnabled>())
            .errors(&[409]),
        Operation::new("post", "/api/v1/auth/mfa/recovery-codes/", "mfa", "Replace the recovery codes")
            .access(Access::Bearer)
            .body(s.of::<PasswordAndCodeRequest>())
            .answer(200, "New codes; the old ones no longer work", s.of::<RecoveryCodes>()),
        Operation::new("get", "/api/v1/users/profile/", "profile", "The caller's account")
            .access(Access::Bearer)
            .answer(200, "The user", user.clone()),
        Operation::new("patch", "/api/v1/users/profile/", "profile", "Change some of the caller's fields")
            .access(Access::Bearer)
            .body(s.of::<ProfilePatch>())
            .answer(200, "The changed user", user.clone()),
        Operation::new("put", "/api/v1/users/profile/", "profile", "Replace the caller's editable fields")
            .access(Access::Bearer)
            .body(s.of::<ProfileReplace>())
            .answer(200, "The changed user", user.clone()),
        Operation::new("delete", "/api/v1/users/profile/", "profile", "Deactivate the caller's account")
            .describe("Sets `is_active` to false and ends every session.")
            .access(Access::Bearer)
            .answer(200, "Deactivated", s.of::<Deactivated>()),
        Operation::new("get", "/api/v1/users/preferences/", "preferences", "The caller's notification preferences")
            .access(Access::Bearer)
            .answer(200, "Preferences", preferences.clone()),
        Operation::new("patch", "/api/v1/users/preferences/", "preferences", "Change some preferences")
            .access(Access::Bearer)
            .body(s.of::<PreferencesPatch>())
            .answer(200, "Preferences", preferences.clone()),
        Operation::new("put", "/api/v1/users/preferences/", "preferences", "Replace the preferences")
            .access(Access::Bearer)
            .body(s.of::<PreferencesReplace>())
            .answer(200, "Preferences", preferences.clone()),
        Operation::new("get", "/api/v1/users/{id}/", "staff", "A user")
            .access(Access::Staff)
            .parameter(id())
            .answer(200, "The user", user.clone())
            .errors(&[404]),
        Operation::new("patch", "/api/v1/users/{id}/", "staff", "Change a user")
            .describe("Staff cannot deactivate or demote themselves (400).")
            .access(Access::Staff)
            .parameter(id())
            .body(s.of::<StaffUserPatch>())
            .answer(200, "The changed user", user.clone())
            .errors(&[404]),
        Operation::new("delete", "/api/v1/users/{id}/", "staff", "Erase a user")
            .describe("Staff cannot erase themselves (400).")
            .access(Access::Staff)
            .parameter(id())
            .answer(200, "Erased", s.of::<UserDeleted>())
            .errors(&[400, 404]),
        Operation::new("get", "/api/v1/users/{id}/sessions/", "staff", "A user's sessions")
            .access(Access::Staff)
            .parameter(id())
            .answer(200, "Sessions", array(session.clone()))
            .link(
                "EndFirstSession",
                link(
                    "deleteUsersIdSessionsSession",
                    json!({"id": "$request.path.id", "session": "$response.body#/data/0/id"}),
                ),
            )
            .errors(&[404]),
        Operation::new("delete", "/api/v1/users/{id}/sessions/", "staff", "End every session of a user")
            .describe("Their refresh and access tokens stop working at once. Not for the caller's own account (400: use `/api/v1/auth/sessions/` or log out).")
            .access(Access::Staff)
            .parameter(id())
            .answer(200, "Ended", s.of::<RevokedTokens>())
            .errors(&[400, 404]),
        Operation::new("delete", "/api/v1/users/{id}/sessions/{session}/", "staff", "End one session of a user")
            .describe("Its refresh and access tokens stop working at once. Not for the caller's own account (400).")
            .access(Access::Staff)
            .parameter(id())
            .parameter(path_id("session", "The session's id"))
            .answer(200, "Ended", s.of::<SessionEnded>())
            .errors(&[400, 404]),
        Operation::new("delete", "/api/v1/users/{id}/mfa/", "staff", "Reset a user's lost second factor")
            .describe("Removes the user's factor (pending or confirmed) and recovery codes, ends every session of the user and sends them an `mfa_reset` email event. Audited. Answers 200 with `removed: false` for a user without a factor. Not for the caller's own factor (400: turning it off takes the password and a code).")
            .access(Access::Staff)
            .parameter(id())
            .answer(200, "Reset", s.of::<MfaReset>())
            .errors(&[400, 404]),
        audit_params(
            Operation::new("get", "/api/v1/users/{id}/audit/", "staff", "A user's audit trail")
                .access(Access::Staff)
                .parameter(id())
                .answer(200, "Events, newest first", array(audit)),
        ),
        Operation::new("get", "/api/v1/users/{id}/preferences/", "service", "A user's preferences, for services")
            .access(Access::Service)
            .parameter(id())
            .answer(200, "Preferences", preferences)
            .errors(&[404]),
        Operation::new("get", "/api/v1/internal/users/{id}/", "service", "What a service needs to address a user")
            .access(Access::Service)
            .parameter(id())
            .answer(200, "The user, for services", s.of::<InternalUser>())
            .errors(&[404]),
        Operation::new("post", "/api/v1/notifications/test/", "staff", "Queue a test push notification")
            .access(Access::Staff)
            .body(s.of::<TestNotificationRequest>())
            .answer(202, "Queued", s.of::<QueuedNotification>())
            .errors(&[404]),
    ]
}

/// A stable id per operation (links name their target by it).
fn operation_id(op: &Operation) -> String {
    let known = match (op.method, op.path) {
        ("get", "/api/v1/users/{id}/") => Some("staffGetUser"),
        ("patch", "/api/v1/users/{id}/") => Some("staffPatchUser"),
        ("delete", "/api/v1/users/{id}/") => Some("staffDeleteUser"),
        ("get", "/api/v1/internal/users/{id}/") => Some("internalGetUser"),
        ("get", "/api/v1/users/{id}/preferences/") => Some("serviceGetPreferences"),
        _ => None,
    };
    if let Some(known) = known {
        return known.to_owned();
    }
    let mut id = op.method.to_owned();
    for word in
        op.path.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty() && *w != "api" && *w != "v1")
    {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            id.push(first.to_ascii_uppercase());
            id.extend(chars);
        }
    }
    id
}

fn render(op: Operation) -> Value {
    let mut statuses: Vec<u16> = op.errors.clone();
    if op.body.is_some() {
        statuses.extend([400, 413, 415]);
    }
    if op.mutating() {
        statuses.extend([400, 409, 422, 429, 503]);
    }
    match op.access {
        Access::Public => {}
        Access::Bearer | Access::Staff => statuses.extend([401, 403]),
        Access::Service => statuses.push(401),
    }
    if op.path.contains('{') {
        statuses.push(404);
    }
    if op.backed {
        statuses.push(503);
    }
    statuses.sort_unstable();
    statuses.dedup();

    let mut responses = Map::new();
    for (status, description, data) in &op.answers {
        let mut response = json!({
            "description": description,
            "headers": {"X-Correlation-ID": {"$ref": "#/components/headers/X-Correlation-ID"}},
            "content": {"application/json": {"schema": success(data, op.meta.as_ref())}},
        });
        if !op.links.is_empty() {
            response["links"] = op.links.iter().map(|(name, link)| ((*name).to_owned(), link.clone())).collect();
        }
        responses.insert(status.to_string(), response);
    }
    for (status, response) in &op.raw {
        responses.insert(status.to_string(), response.clone());
    }
    for status in statuses {
        responses
            .entry(status.to_string())
            .or_insert_with(|| json!({"$ref": format!("#/components/responses/Error{status}")}));
    }

    let mut parameters = op.parameters.clone();
    if op.mutating() {
        parameters.push(json!({"$ref": "#/components/parameters/X-Request-ID"}));
    }
    let security = match op.access {
        Access::Public => json!([]),
        Access::Bearer | Access::Staff => json!([{"bearerAuth": []}]),
        Access::Service => json!([{"serviceKey": []}]),
    };
    let mut description = op.description.to_owned();
    if op.access == Access::Staff {
        description = format!("Staff only (`is_staff`, checked in the database at each request). {description}");
    }
    let mut operation = json!({
        "operationId": operation_id(&op),
        "tags": [op.tag],
        "summary": op.summary,
        "security": security,
        "responses": responses,
    });
    if !description.trim().is_empty() {
        operation["description"] = json!(description.trim());
    }
    if !parameters.is_empty() {
        operation["parameters"] = json!(parameters);
    }
    if let Some(body) = &op.body {
        operation["requestBody"] = json!({
            "required": true,
            "description": format!("JSON, at most {MAX_BODY_BYTES} bytes. Unknown fields are ignored."),
            "content": if op.form {
                json!({"application/json": {"schema": body}, "application/x-www-form-urlencoded": {"schema": body}})
            } else {
                json!({"application/json": {"schema": body}})
            },
        });
        if op.form {
            operation["requestBody"]["description"] =
                json!(format!("JSON or a form, at most {MAX_BODY_BYTES} bytes. Unknown fields are ignored."));
        }
    }
    operation
}

/// The OpenAPI document, as `GET /api/v1/openapi.json` serves it.
pub fn document() -> Value {
    let mut schemas = Schemas::default();
    let operations = operations(&mut schemas);
    let mut paths: Map<String, Value> = Map::new();
    for op in operations {
        let (method, path) = (op.method, op.path);
        let item = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        item[method] = render(op);
    }
    for (name, schema) in envelopes() {
        schemas.0.insert(name.to_owned(), schema);
    }
    let request_types = [
        "RegisterRequest",
        "LoginRequest",
        "MfaLoginRequest",
        "RefreshRequest",
        "LogoutRequest",
        "TokenRequest",
        "ResetRequest",
        "ResetConfirmRequest",
        "PasswordChangeRequest",
        "PasswordAndCodeRequest",
        "PasswordRequest",
        "IntrospectRequest",
        "CodeRequest",
        "ProfilePatch",
        "ProfileReplace",
        "PreferencesPatch",
        "PreferencesReplace",
        "StaffUserPatch",
        "TestNotificationRequest",
        "PreferencesInput",
    ];
    for name in request_types {
        if let Some(schema) = schemas.0.get_mut(name) {
            forbid_nul(schema);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "User service",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Accounts, authentication and notification preferences of the notification platform.\n\n\
                Every JSON answer is an envelope (`SuccessEnvelope`, `ErrorEnvelope`) and every response carries \
                `X-Correlation-ID` (the caller's, or a new UUID). A known path with another method answers 405 \
                with `Allow`; an unknown path, 404. Mutating requests may carry `X-Request-ID`: a repeat within \
                24 hours replays the first answer (`Idempotent-Replayed: true`).\n\n\
                Generated from the request and response types the components parse and emit (`user_domain::api`).",
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "auth", "description": "Sessions and credentials"},
            {"name": "mfa", "description": "Two-factor sign-in (TOTP); 503 when the service has no `mfa_key`"},
            {"name": "users", "description": "Registration"},
            {"name": "profile", "description": "The caller's own account"},
            {"name": "preferences", "description": "Notification channels"},
            {"name": "staff", "description": "Administration, for staff"},
            {"name": "service", "description": "For other services of the platform (`X-Service-Key`)"},
            {"name": "health", "description": "Probes"},
            {"name": "docs", "description": "This document"},
        ],
        "paths": paths,
        "components": {
            "schemas": schemas.0,
            "responses": error_responses(),
            "parameters": {
                "X-Request-ID": {
                    "name": "X-Request-ID", "in": "header", "required": false,
                    "description": "Idempotency key: a repeat of the same request within 24 hours replays the first answer; the same key with another request is a 422; while the first still runs, a 409.",
                    "schema": {"type": "string", "pattern": "^[!-~](?:[ -~]{0,253}[!-~])?$"},
                },
            },
            "headers": {
                "X-Correlation-ID": {"description": "The caller's correlation id, or a new UUID", "schema": {"type": "string"}},
            },
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "An access token from register, login or refresh"},
                "serviceKey": {"type": "apiKey", "in": "header", "name": "X-Service-Key", "description": "One of the keys in the `service_keys` variable"},
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn references(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(object) => {
                if let Some(Value::String(reference)) = object.get("$ref") {
                    found.push(reference.clone());
                }
                object.values().for_each(|v| references(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| references(v, found)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves() {
        let document = document();
        let mut found = Vec::new();
        references(&document, &mut found);
        assert!(found.len() > 100);
        for reference in found {
            assert!(document.pointer(reference.trim_start_matches('#')).is_some(), "{reference} does not resolve");
        }
    }

    #[test]
    fn operation_ids_are_unique_and_links_name_real_ones() {
        let document = document();
        let mut ids = Vec::new();
        let mut targets = Vec::new();
        for item in document["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                ids.push(operation["operationId"].as_str().unwrap().to_owned());
                for response in operation["responses"].as_object().unwrap().values() {
                    for link in response.get("links").and_then(Value::as_object).into_iter().flatten() {
                        targets.push(link.1["operationId"].as_str().unwrap().to_owned());
                    }
                }
            }
        }
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "duplicate operation ids");
        assert!(!targets.is_empty());
        for target in targets {
            assert!(ids.contains(&target), "a link names {target}, which no operation is");
        }
    }

    #[test]
    fn request_strings_refuse_nul_and_required_fields_follow_the_types() {
        let document = document();
        let login = &document["components"]["schemas"]["LoginRequest"];
        assert_eq!(login["properties"]["password"]["pattern"], NO_NUL);
        assert_eq!(login["required"], json!(["email", "password"]));
        let patch = &document["components"]["schemas"]["ProfilePatch"];
        assert!(patch.get("required").is_none_or(|r| r.as_array().unwrap().is_empty()), "{patch}");
    }

    /// The schema's property names come from the Rust fields, `parse` reads
    /// string literals: a body giving every documented property a value of
    /// the wrong kind must be refused naming exactly those properties, so the
    /// two can never name different fields.
    #[test]
    fn every_documented_request_field_is_the_one_parse_reads() {
        type Parse = fn(&Value) -> Result<(), ApiError>;
        let parsers: [(&str, Parse); 19] = [
            ("PasswordRequest", |b| PasswordRequest::parse(b).map(drop)),
            ("IntrospectRequest", |b| IntrospectRequest::parse(b).map(drop)),
            ("RegisterRequest", |b| RegisterRequest::parse(b).map(drop)),
            ("LoginRequest", |b| LoginRequest::parse(b).map(drop)),
            ("MfaLoginRequest", |b| MfaLoginRequest::parse(b).map(drop)),
            ("RefreshRequest", |b| RefreshRequest::parse(b).map(drop)),
            ("LogoutRequest", |b| LogoutRequest::parse(b).map(drop)),
            ("TokenRequest", |b| TokenRequest::parse(b).map(drop)),
            ("ResetRequest", |b| ResetRequest::parse(b).map(drop)),
            ("ResetConfirmRequest", |b| ResetConfirmRequest::parse(b).map(drop)),
            ("PasswordChangeRequest", |b| PasswordChangeRequest::parse(b).map(drop)),
            ("PasswordAndCodeRequest", |b| PasswordAndCodeRequest::parse(b).map(drop)),
            ("CodeRequest", |b| CodeRequest::parse(b).map(drop)),
            ("ProfilePatch", |b| ProfilePatch::parse(b).map(drop)),
            ("ProfileReplace", |b| ProfileReplace::parse(b).map(drop)),
            ("PreferencesPatch", |b| PreferencesPatch::parse(b).map(drop)),
            ("PreferencesReplace", |b| PreferencesReplace::parse(b).map(drop)),
            ("StaffUserPatch", |b| StaffUserPatch::parse(b).map(drop)),
            ("TestNotificationRequest", |b| TestNotificationRequest::parse(b).map(drop)),
        ];
        let document = document();
        for (name, parse) in parsers {
            let properties = document["components"]["schemas"][name]["properties"].as_object().unwrap();
            let body: Map<String, Value> = properties.keys().map(|field| (field.clone(), json!([]))).collect();
            let Err(ApiError::Validation(details)) = parse(&Value::Object(body)) else {
                panic!("{name}: wrong kinds everywhere were accepted")
            };
            let refused: Vec<&String> = details.keys().collect();
            let documented: Vec<&String> = properties.keys().collect();
            assert_eq!(refused, documented, "{name}");
        }
    }
}
