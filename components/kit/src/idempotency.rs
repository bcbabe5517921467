//! `X-Request-ID` on mutating requests: the first request with a key runs,
//! a repeat within 24 hours gets the first answer again (with
//! `Idempotent-Replayed: true`), a repeat with a different request gets 422,
//! and a repeat while the first still runs gets 409. 5xx answers are not
//! kept, so a failed request may be retried with the same key.
//!
//! - "The same request" means the same method, path, body and `Authorization`
//!   header: a key reused by another caller never replays someone else's answer.
//! - Keys are scoped to the endpoint and the caller's `Authorization`, so one
//!   caller's keys can neither collide with nor block another's.
//! - The stored answer is sealed (`user_domain::sealed`) under a key that
//!   only the same request can rebuild: the table holds no usable token.
//! - Requests without credentials may create at most [`anonymous_keys`] keys
//!   per client address and minute, so strangers cannot fill the table.

use serde_json::{Value, json};
use user_domain::envelope::Reply;
use user_domain::sealed::{self, Purpose};
use user_domain::secrets::constant_time_eq;
use user_domain::{ApiError, idempotency};

use crate::cache::Cache;
use crate::db::Db;
use crate::rate_limit::Limit;
use crate::{ApiRequest, config, store};

/// What to do with a mutating request.
pub enum Idempotency {
    /// No key: just run it.
    NotRequested,
    /// This request owns the (scoped) key: run it, then [`finish`].
    Claimed(String),
    /// Answered before: send this again.
    Replay(Reply),
}

const MAX_KEY_LEN: usize = 255;

/// Keys created by requests without `Authorization`, per client address and
/// minute: the `rate_limit_anonymous_request_ids_per_minute` variable (60).
pub fn anonymous_keys() -> Result<Limit, ApiError> {
    Ok(Limit {
        scope: "idempotency_anonymous",
        max: config::parsed("rate_limit_anonymous_request_ids_per_minute")?,
        window_secs: 60,
    })
}

fn canonical(request: &ApiRequest) -> Vec<u8> {
    idempotency::request_material(&request.method, &request.path, request.header("authorization"), request.body_bytes())
}

fn validated_key(request: &ApiRequest) -> Result<Option<&str>, ApiError> {
    let Some(key) = request.header("x-request-id").map(str::trim) else { return Ok(None) };
    if !request.is_mutating() {
        return Ok(None);
    }
    if key.is_empty() || key.len() > MAX_KEY_LEN || key.chars().any(char::is_control) {
        return Err(ApiError::validation_of("X-Request-ID", "must be 1 to 255 printable characters"));
    }
    Ok(Some(key))
}

/// Claims the request's key, or says how it was answered before.
pub fn begin(db: &Db, request: &ApiRequest, endpoint: &str) -> Result<Idempotency, ApiError> {
    let Some(key) = validated_key(request)? else { return Ok(Idempotency::NotRequested) };
    let key = idempotency::scoped_key(endpoint, request.header("authorization"), key);
    let material = canonical(request);
    let hash = idempotency::request_hash(&material);
    if store::idempotency::claim(db, &key, endpoint, &hash)? {
        purge_sometimes(db);
        return Ok(Idempotency::Claimed(key));
    }
    // Deleted between our two statements (a 5xx finished): let the client retry.
    let stored = store::idempotency::stored(db, &key)?.ok_or(ApiError::RequestInProgress)?;
    if !constant_time_eq(&stored.request_hash, &hash) {
        return Err(ApiError::IdempotencyKeyReused);
    }
    let (Some(status), Some(answer)) = (stored.status_code, stored.response_data) else {
        return Err(ApiError::RequestInProgress);
    };
    let body = match answer.get("sealed").and_then(Value::as_str) {
        Some(sealed) => {
            sealed::open(config::var("jwt_secret")?.as_bytes(), Purpose::IdempotentAnswer, &material, sealed)
                .map_err(|_| ApiError::Conflict("The first answer to this X-Request-ID can no longer be replayed"))?
        }
        // Kept before answers were sealed (at most 24 hours old).
        None => answer.to_string().into_bytes(),
    };
    Ok(Idempotency::Replay(
        Reply { status, headers: vec![("content-type".into(), "application/json".into())], body }
            .with_header("idempotent-replayed", "true"),
    ))
}

/// Records the answer, sealed, for replays, or frees the key after an
/// answer that says nothing about the request itself: a 5xx, a 429 (a retry
/// after `Retry-After` must run, not replay the refusal for 24 hours) and a
/// 405 (no such operation: nothing to do once, and a replay would lose `Allow`).
pub fn finish(db: &Db, request: &ApiRequest, key: &str, reply: &Reply) -> Result<(), ApiError> {
    if reply.status >= 500 || matches!(reply.status, 405 | 429) {
        return Ok(store::idempotency::forget(db, key)?);
    }
    let secret = config::var("jwt_secret")?;
    let sealed = sealed::seal(secret.as_bytes(), Purpose::IdempotentAnswer, &canonical(request), &reply.body)
        .map_err(ApiError::internal)?;
    Ok(store::idempotency::record(db, key, reply.status, &json!({ "sealed": sealed }))?)
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
            finish(db, request, &key, &reply)?;
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

/// [`guard`] for an operation that needs `Authorization`. Without one, the
/// handler's own 401 answers at once: no key is claimed or counted for a
/// request that cannot succeed, so a caller who forgot its token learns that,
/// not that its address sent too many keys (429).
pub fn guard_authenticated(
    request: &ApiRequest,
    handler: impl FnOnce() -> Result<Reply, ApiError>,
) -> Result<Reply, ApiError> {
    if request.header("authorization").is_none() {
        return handler();
    }
    guard(request, handler)
}

/// [`run`] for any request: a database connection is opened only when the
/// request is mutating and carries `X-Request-ID`.
pub fn guard(request: &ApiRequest, handler: impl FnOnce() -> Result<Reply, ApiError>) -> Result<Reply, ApiError> {
    if validated_key(request)?.is_none() {
        return handler();
    }
    if request.header("authorization").is_none() {
        let cache = Cache::connect(&request.correlation_id);
        anonymous_keys()?.hit(cache.as_ref(), request.client_ip(), user_domain::tokens::now_secs())?;
    }
    let db = Db::connect()?;
    run(&db, request, &format!("{} {}", request.method, request.route_path()), handler)
}
