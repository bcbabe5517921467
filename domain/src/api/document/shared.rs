//! The document's shared pieces: small schema helpers, the error responses
//! (one per status, with the codes [`ApiError`] gives it), the envelopes,
//! and the rule that request schemas refuse NUL.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::super::schema::NO_NUL;
use crate::error::ApiError;

pub(super) fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

pub(super) fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

pub(super) fn path_id(name: &str, what: &str) -> Value {
    json!({
        "name": name, "in": "path", "required": true,
        "description": format!("{what} (a UUID; anything else is a 404)"),
        "schema": {"type": "string", "format": "uuid"},
    })
}

pub(super) fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

/// A link to another operation, passing the given `$response` values.
pub(super) fn link(operation: &str, parameters: Value) -> Value {
    json!({"operationId": operation, "parameters": parameters})
}

/// One value of every [`ApiError`] variant. The match is exhaustive, so a new
/// variant cannot be added without its status and code reaching the document.
pub(super) fn every_error() -> Vec<ApiError> {
    let all = vec![
        ApiError::Validation(Default::default()),
        ApiError::MalformedJson(String::new()),
        ApiError::InvalidCredentials,
        ApiError::Unauthorized(""),
        ApiError::Forbidden(""),
        ApiError::NotFound(""),
        ApiError::MethodNotAllowed { allow: String::new() },
        ApiError::Conflict(""),
        ApiError::PayloadTooLarge { limit: 0 },
        ApiError::UnsupportedMediaType,
        ApiError::RateLimited { limit: 0, retry_after: 0, reset: 0 },
        ApiError::IdempotencyKeyReused,
        ApiError::RuleViolated(Default::default()),
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
            | ApiError::RuleViolated(_)
            | ApiError::RequestInProgress
            | ApiError::Unavailable(_)
            | ApiError::Internal(_) => {}
        }
    }
    all
}

pub(super) fn status_description(status: u16) -> &'static str {
    match status {
        400 => "Invalid input: `details` names each field and its problems",
        401 => "No credentials, or credentials that are not valid",
        403 => "Not allowed",
        404 => "Not found",
        409 => "A conflict with the current state, or a request with this `X-Request-ID` is still running",
        413 => "The body is larger than 64 KiB",
        415 => "The body is not JSON (`Content-Type: application/json`)",
        422 => {
            "This `X-Request-ID` was used with another request (`idempotency_key_reused`), or the request breaks a rule of the service (`rule_violated`: `details` names each field and the rule)"
        }
        429 => "Too many requests: retry after `Retry-After` seconds",
        503 => "A backing service (database, cache) is unavailable",
        _ => "Error",
    }
}

pub(super) fn header(description: &str, schema: Value) -> Value {
    json!({"description": description, "schema": schema})
}

/// The shared error responses, one per status, each with its codes.
pub(super) fn error_responses() -> Map<String, Value> {
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
pub(super) fn success(data: &Value, meta: Option<&Value>) -> Value {
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

pub(super) fn envelopes() -> Vec<(&'static str, Value)> {
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
pub(super) fn forbid_nul(schema: &mut Value) {
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
