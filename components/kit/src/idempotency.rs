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
use user_domain::secrets::digest;

use crate::ApiRequest;
use crate::db::{Db, param};

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
    // Claim a new key, an expired one, or one whose first run died without
    // answering (older than any request can run).
    let claimed = db.query(
        "INSERT INTO idempotency_keys (request_id, endpoint, request_hash, expires_at) \
         VALUES ($1, $2, $3, now() + interval '24 hours') \
         ON CONFLICT (request_id) DO UPDATE SET endpoint = EXCLUDED.endpoint, request_hash = EXCLUDED.request_hash, \
           response_data = NULL, status_code = NULL, created_at = now(), expires_at = EXCLUDED.expires_at \
         WHERE idempotency_keys.expires_at < now() \
            OR (idempotency_keys.status_code IS NULL AND idempotency_keys.created_at < now() - interval '2 minutes' \
                AND idempotency_keys.request_hash = EXCLUDED.request_hash) \
         RETURNING id",
        &[param::text(key), param::text(endpoint), param::text(hash.clone())],
    )?;
    if !claimed.rows.is_empty() {
        purge_sometimes(db);
        return Ok(Idempotency::Claimed(key.to_owned()));
    }
    let existing = db.query(
        "SELECT request_hash, status_code, response_data FROM idempotency_keys WHERE request_id = $1",
        &[param::text(key)],
    )?;
    let Some(row) = existing.rows().next() else {
        // Deleted between our two statements (a 5xx finished): let the client retry.
        return Err(ApiError::RequestInProgress);
    };
    if row.get::<String>("request_hash").as_deref() != Some(hash.as_str()) {
        return Err(ApiError::IdempotencyKeyReused);
    }
    match (row.get::<Option<i32>>("status_code").flatten(), row.get::<Option<Value>>("response_data").flatten()) {
        (Some(status), Some(body)) => Ok(Idempotency::Replay(
            Reply {
                status: status as u16,
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
        db.execute("DELETE FROM idempotency_keys WHERE request_id = $1", &[param::text(key)])?;
        return Ok(());
    }
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    db.execute(
        "UPDATE idempotency_keys SET status_code = $2, response_data = $3 WHERE request_id = $1",
        &[param::text(key), spin_sdk::pg4::ParameterValue::Int32(i32::from(reply.status)), param::json(&body)],
    )?;
    Ok(())
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
        let _ = db.execute(
            "DELETE FROM idempotency_keys WHERE id IN \
             (SELECT id FROM idempotency_keys WHERE expires_at < now() LIMIT 500)",
            &[],
        );
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
