//! Ended sessions, for access tokens too. An access token names its session
//! (`sid`) and is refused once that session has ended, by every instance,
//! at once:
//! - Requests that reach the database read the session's state in the same
//!   query as the account (`store::users::signed_in`): PostgreSQL is the
//!   truth (`sessions.ended_at`).
//! - The cached reads (preferences, profile) answer from Redis without the
//!   database, so an ended session is also marked there
//!   (`cache_keys::session_ended`) and read right after the cached entry,
//!   by the same reader ([`cached_entry`]): with the key-value store, a
//!   second `get` on the same warm connection; with Redis, one `MGET`.
//!
//! Marks are written right after the statement that ended the session
//! ([`announce`]); the worker writes them again from PostgreSQL every few
//! seconds (`native-worker`'s `session_marks`), so a mark lost to a failed
//! write or a Redis restart comes back. Without Redis there is no cached
//! read: every request goes to PostgreSQL, so revocation never turns off.

use serde_json::json;
use spin_sdk::redis::RedisParameter;
use user_domain::{ApiError, cache_keys};

use crate::cache::{Cache, CacheReader};
use crate::{config, log};

/// Marks `sessions` as ended for the cached reads, until every access token
/// they issued has expired.
pub fn announce(cache: Option<&Cache>, correlation_id: &str, sessions: &[uuid::Uuid]) {
    if sessions.is_empty() {
        return;
    }
    let Some(cache) = cache else {
        log::warn(
            correlation_id,
            "sessions ended without Redis: the worker will mark them",
            json!({"sessions": sessions.len()}),
        );
        return;
    };
    let ttl = match config::access_ttl_secs() {
        Ok(ttl) => cache_keys::session_ended_ttl(ttl),
        Err(error) => {
            log::error(correlation_id, "cannot mark ended sessions", json!({"error": error.to_string()}));
            return;
        }
    };
    for session in sessions {
        let args = [
            RedisParameter::Binary(cache_keys::session_ended(session).into_bytes()),
            RedisParameter::Binary(b"1".to_vec()),
            RedisParameter::Binary(b"EX".to_vec()),
            RedisParameter::Int64(ttl as i64),
        ];
        // A failure is logged by the cache; the worker writes the mark again.
        let _ = cache.execute("SET", &args);
    }
}

/// A cached entry for an access token's holder, read with the mark of its
/// session ([`CacheReader::entry_and_mark`]). `Err(401)` if the session is
/// marked ended; `Ok(None)` on a miss, a tombstone, a failed read or without
/// a reader (read the database, which checks the session).
pub fn cached_entry(reader: Option<&CacheReader>, key: &str, session: &uuid::Uuid) -> Result<Option<Vec<u8>>, ApiError> {
    let Some(reader) = reader else { return Ok(None) };
    match reader.entry_and_mark(key, &cache_keys::session_ended(session)) {
        Some((_, Some(_mark))) => Err(ended()),
        Some((entry, None)) => Ok(Some(entry)),
        None => Ok(None),
    }
}

/// What an access token of an ended session gets.
pub fn ended() -> ApiError {
    ApiError::Unauthorized("The session has ended")
}
