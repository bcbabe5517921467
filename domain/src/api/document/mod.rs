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

mod operation;
mod operations;
mod shared;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value, json};

use super::MAX_BODY_BYTES;
use super::endpoints::{Access, Op};
use operation::{Operation, Schemas};
use operations::operations;
use shared::{envelopes, error_responses, forbid_nul, success};

/// A stable id per operation (links name their target by it).
fn operation_id(op: &Operation) -> String {
    let method = op.method();
    // Ids links and clients rely on, kept as they were first published.
    let known = match op.endpoint.op {
        Op::GetUser => Some("staffGetUser"),
        Op::PatchUser => Some("staffPatchUser"),
        Op::EraseUser => Some("staffDeleteUser"),
        Op::InternalUser => Some("internalGetUser"),
        Op::ServicePreferences => Some("serviceGetPreferences"),
        _ => None,
    };
    if let Some(known) = known {
        return known.to_owned();
    }
    let mut id = method;
    for word in
        op.path().split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty() && *w != "api" && *w != "v1")
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
    match op.access() {
        Access::Public => {}
        Access::Bearer | Access::Staff => statuses.extend([401, 403]),
        Access::Service => statuses.push(401),
    }
    if op.path().contains('{') {
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
    let security = match op.access() {
        Access::Public => json!([]),
        Access::Bearer | Access::Staff => json!([{"bearerAuth": []}]),
        Access::Service => json!([{"serviceKey": []}]),
    };
    let mut description = op.description.to_owned();
    if op.access() == Access::Staff {
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
        let (method, path) = (op.method(), op.path());
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
        "EmailCodeRequest",
        "EmailCodeVerifyRequest",
        "PasswordChangeRequest",
        "PasswordAndCodeRequest",
        "PasswordRequest",
        "PasskeyRegisterRequest",
        "PasskeyLoginOptionsRequest",
        "PasskeyLoginRequest",
        "IntrospectRequest",
        "DeviceRequest",
        "LookupRequest",
        "CodeRequest",
        "ProfilePatch",
        "ProfileReplace",
        "PreferencesPatch",
        "PreferencesReplace",
        "StaffUserPatch",
        "TestNotificationRequest",
        "PreferencesInput",
        // Objects inside request bodies that ignore members they do not know.
        "QuietHours",
        "QuietHoursPatch",
        "RegistrationResponse",
        "AttestationResponse",
        "AuthenticationResponse",
        "AssertionResponse",
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
                24 hours replays the first answer (`Idempotent-Replayed: true`) after passing the same access checks \
                as a fresh request; an answer that holds a session's tokens replays only while the session lives \
                (else 409).\n\n\
                An access token is refused (401) once its session has ended (logout, a revocation, a password \
                change…); gateways that verify tokens by the JWKS see that only at expiry, `POST \
                /api/v1/auth/introspect/` at once.\n\n\
                Generated from the request and response types the components parse and emit (`user_domain::api`).",
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "auth", "description": "Sessions and credentials"},
            {"name": "mfa", "description": "Two-factor sign-in (TOTP); 503 when the service has no `mfa_key`"},
            {"name": "passkeys", "description": "Passkeys (WebAuthn): registration, sign-in without a password, management"},
            {"name": "users", "description": "Registration"},
            {"name": "profile", "description": "The caller's own account"},
            {"name": "preferences", "description": "Notification channels, categories, quiet hours and language"},
            {"name": "devices", "description": "The caller's devices and their push tokens"},
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
