//! `X-Request-ID` on mutating requests: the first request with a key runs,
//! a repeat within 24 hours gets the first answer again (with
//! `Idempotent-Replayed: true`), a repeat with a different request gets 422,
//! and a repeat while the first still runs gets 409. 5xx answers are not
//! kept, so a failed request may be retried with the same key.
//!
//! "The same request" means the same method, path, body and `Authorization`
//! header: a key reused by another caller never replays someone else's answer.

use serde_json::Value;
use user_domain::ApiError;
use user_domain::envelope::Reply;
use user_domain::secrets::{constant_time_eq, digest};

use crate::ApiRequest;
use crate::db::Db;
use crate::store;

/// What to do with a mutating request.
pub enum Idempotency {
    /// No key: just run it.
    NotRequested,
    /// This request owns the key: run it, then [`finish`].
    Claimed(String),
    /// Answered before: send this again.
    Replay(Reply),
}

const MAX_KEY_LEN: usize = 255;

fn request_hash(request: &ApiRequest) -> String {
    let mut material = Vec::new();
    for part in
        [request.method.as_bytes(), request.path.as_bytes(), request.header("authorization").unwrap_or("").as_bytes()]
    {
        material.extend_from_slice(part);
        material.push(0);
    }
    material.extend_from_slice(request.body_bytes());
    digest(&String::from_utf8_lossy(&material))
}

/// Claims the request's key, or says how it was answered before.
pub fn begin(db: &Db, request: &ApiRequest, endpoint: &str) -> Result<Idempotency, ApiError> {
    let Some(key) = request.header("x-request-id").map(str::trim) else { return Ok(Idempotency::NotRequested) };
    if !request.is_mutating() {
        return Ok(Idempotency::NotRequested);
    }
    if key.is_empty() || key.len() > MAX_KEY_LEN || key.chars().any(char::is_control) {
        return Err(ApiError::validation_of("X-Request-ID", "must be 1 to 255 printable characters"));
    }
    let hash = request_hash(request);
    if store::idempotency::claim(db, key, endpoint, &hash)? {
        purge_sometimes(db);
        return Ok(Idempotency::Claimed(key.to_owned()));
    }
    // Deleted between our two statements (a 5xx finished): let the client retry.
    let stored = store::idempotency::stored(db, key)?.ok_or(ApiError::RequestInProgress)?;
    if !constant_time_eq(&stored.request_hash, &hash) {
        return Err(ApiError::IdempotencyKeyReused);
    }
    match (stored.status_code, stored.response_data) {
        (Some(status), Some(body)) => Ok(Idempotency::Replay(
            Reply {
                status,
                headers: vec![("content-type".into(), "application/json".into())],
                body: body.to_string().into_bytes(),
            }
            .with_header("idempotent-replayed", "true"),
        )),
        _ => Err(ApiError::RequestInProgress),
    }
}

/// Records the answer for replays (or frees the key after a 5xx).
pub fn finish(db: &Db, key: &str, reply: &Reply) -> Result<(), ApiError> {
    if reply.status >= 500 {
        return Ok(store::idempotency::forget(db, key)?);
    }
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    Ok(store::idempotency::record(db, key, reply.status, &body)?)
}

/// Runs `handler` under the request's idempotency key, if it has one.
pub fn run(
    db: &Db,
    request: &ApiRequest,
    endpoint: &str,
    handler: impl FnOnce() -> Result<Reply, ApiError>,
) -> Result<Reply, ApiError> {
    match begin(db, request, endpoint)? {
        Idempotency::NotRequested => handler(),
        Idempotency::Replay(reply) => Ok(reply),
        Idempotency::Claimed(key) => {
            let reply = handler().unwrap_or_else(|error| crate::reply::failure(request, &error));
            finish(db, &key, &reply)?;
            Ok(reply)
        }
    }
}

/// Expired keys are deleted a few hundred at a time by about one request in
/// a hundred, so the table stays small without a scheduler.
fn purge_sometimes(db: &Db) {
    if uuid::Uuid::new_v4().as_bytes()[0] < 3 {
        let _ = store::idempotency::purge_expired(db);
    }
}

/// [`run`] for any request: a database connection is opened only when the
/// request is mutating and carries `X-Request-ID`.
pub fn guard(request: &ApiRequest, handler: impl FnOnce() -> Result<Reply, ApiError>) -> Result<Reply, ApiError> {
    if !request.is_mutating() || request.header("x-request-id").is_none() {
        return handler();
    }
    let db = Db::connect()?;
    run(&db, request, &format!("{} {}", request.method, request.route_path()), handler)
}
