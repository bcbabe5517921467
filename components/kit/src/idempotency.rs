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
//! - The table holds no secret: the request's digest is keyed by the
//!   service's secret (`user_domain::idempotency::request_hash`), and the
//!   answer is sealed under a key only the same request can rebuild.
//! - A replay passes the same access checks as a fresh request, and an
//!   answer that holds a session's tokens replays only while the session
//!   lives ([`Replay`]). 401 answers and sign-in challenges are not kept.
//! - Requests without a valid access token may create at most
//!   `rate_limit::anonymous_request_ids` keys per client address and minute, so strangers
//!   cannot fill the table.

use serde_json::{Value, json};
use user_domain::envelope::{Replay, Reply};
use user_domain::sealed::{self, Purpose};
use user_domain::secrets::constant_time_eq;
use user_domain::{ApiError, idempotency};

use user_domain::api::endpoints::Access;

use crate::cache::Cache;
use crate::db::Db;
use crate::request::ApiRequest;
use crate::{auth, config, rate_limit, store};

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

/// Claims the request's key, or says how it was answered before. A replay
/// passes `access` again first, exactly as a fresh request would (the
/// token, its session, the account's state, staff rights now), and an
/// answer that holds a session's tokens replays only while that session
/// lives.
pub fn begin(db: &Db, request: &ApiRequest, access: Access, endpoint: &str) -> Result<Idempotency, ApiError> {
    let Some(key) = validated_key(request)? else { return Ok(Idempotency::NotRequested) };
    let key = idempotency::scoped_key(endpoint, request.header("authorization"), key);
    let material = canonical(request);
    let secret = config::jwt_secret()?;
    let hash = idempotency::request_hash(secret.as_bytes(), &material);
    if store::idempotency::claim(db, &key, endpoint, &hash)? {
        purge_sometimes(db);
        return Ok(Idempotency::Claimed(key));
    }
    // Deleted between our two statements (a 5xx finished): let the client retry.
    let stored = store::idempotency::stored(db, &key)?.ok_or(ApiError::RequestInProgress)?;
    let no_longer = || ApiError::Conflict("The first answer to this X-Request-ID can no longer be replayed");
    if !stored.request_hash.starts_with("k1:") {
        // Its digest was wiped (kept unkeyed before V7): it cannot be compared.
        return Err(no_longer());
    }
    if !constant_time_eq(&stored.request_hash, &hash) {
        return Err(ApiError::IdempotencyKeyReused);
    }
    let (Some(status), Some(answer)) = (stored.status_code, stored.response_data) else {
        return Err(ApiError::RequestInProgress);
    };
    auth::check(access, db, request)?;
    if let Some(session) = stored.session_id
        && !store::sessions::is_live(db, session)?
    {
        return Err(ApiError::Conflict("The session this answer started has ended: sign in again"));
    }
    let sealed = answer.get("sealed").and_then(Value::as_str).ok_or_else(no_longer)?;
    let body =
        sealed::open(secret.as_bytes(), Purpose::IdempotentAnswer, &material, sealed).map_err(|_| no_longer())?;
    let headers = vec![("content-type".into(), "application/json".into())];
    Ok(Idempotency::Replay(
        Reply { status, headers, body, replay: Replay::Always }.with_header("idempotent-replayed", "true"),
    ))
}

/// Records the answer, sealed, for replays, or frees the key after an
/// answer that says nothing about the request itself, or must not be kept:
/// a 5xx, a 429 (a retry after `Retry-After` must run, not replay the
/// refusal for 24 hours), a 405 (no such operation: nothing to do once, and
/// a replay would lose `Allow`), a 401 (the credentials were refused: a
/// repeat with the same ones is checked again) and answers marked
/// [`Replay::Never`].
pub fn finish(db: &Db, request: &ApiRequest, key: &str, reply: &Reply) -> Result<(), ApiError> {
    if reply.status >= 500 || matches!(reply.status, 401 | 405 | 429) || reply.replay == Replay::Never {
        return Ok(store::idempotency::forget(db, key)?);
    }
    let secret = config::jwt_secret()?;
    let sealed = sealed::seal(secret.as_bytes(), Purpose::IdempotentAnswer, &canonical(request), &reply.body)
        .map_err(ApiError::internal)?;
    let session = match reply.replay {
        Replay::WhileSessionLives(session) => Some(session),
        Replay::Always | Replay::Never => None,
    };
    Ok(store::idempotency::record(db, key, reply.status, &json!({ "sealed": sealed }), session)?)
}

/// Runs `handler` under the request's idempotency key, if it has one.
pub fn run(
    db: &Db,
    request: &ApiRequest,
    access: Access,
    endpoint: &str,
    handler: impl FnOnce() -> Result<Reply, ApiError>,
) -> Result<Reply, ApiError> {
    match begin(db, request, access, endpoint)? {
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

/// [`run`] for a request to an endpoint that `access` guards, whose
/// credentials the router checked already. A database connection is opened
/// only when the request is mutating and carries `X-Request-ID`. Callers of
/// a public endpoint without a valid access token may create only
/// `rate_limit::anonymous_request_ids` keys per address and minute,
/// whatever their `Authorization` header says.
pub fn guard(
    request: &ApiRequest,
    access: Access,
    handler: impl FnOnce() -> Result<Reply, ApiError>,
) -> Result<Reply, ApiError> {
    if validated_key(request)?.is_none() {
        return handler();
    }
    if access == Access::Public && auth::caller(request).is_err() {
        let cache = Cache::connect(&request.correlation_id);
        rate_limit::anonymous_request_ids()?.hit_address(cache.as_ref(), request, user_domain::tokens::now_secs())?;
    }
    let db = Db::connect()?;
    run(&db, request, access, &format!("{} {}", request.method, request.route_path()), handler)
}
