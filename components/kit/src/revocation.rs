//! Ended sessions, for access tokens too. An access token names its session
//! (`sid`) and is refused once that session has ended, by every instance,
//! at once:
//! - Requests that reach the database read the session's state in the same
//!   query as the account (`store::users::signed_in`): PostgreSQL is the
//!   truth (`sessions.ended_at`).
//! - The cached reads (preferences, profile) answer from Redis without the
//!   database. Their entries carry the user's recently ended sessions
//!   (`user_domain::cached_record`), read from PostgreSQL in the fill's own
//!   query, so a hit checks the token's session with the one read it makes
//!   ([`cached`]). Whoever ends a session tombstones the user's entries right
//!   after ([`announce`]), so no entry filled before the end is used after it.
//!
//! [`announce`] then marks the sessions (`cache_keys::session_ended`). No
//! read looks at a mark: it tells the worker the announcement was made. The
//! worker marks every recently ended session again every few seconds from
//! PostgreSQL (`native-worker`'s `session_marks`, `SET NX`), and where a mark
//! was missing (a failed write, a Redis restart) it tombstones the user's
//! entries itself. Without Redis there is no cached read: every request goes
//! to PostgreSQL, so revocation never turns off.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use spin_sdk::redis::RedisParameter;
use user_domain::cached_record::{self, Found};
use user_domain::{ApiError, UserId, cache_keys};

use crate::cache::{Cache, CacheReader};
use crate::{config, log, user_cache};

/// Ends `sessions` (of `users`) for the cached reads: tombstones the users'
/// cached entries first, then marks the sessions until every access token
/// they issued has expired. In that order, so a mark the worker finds
/// means the tombstones were written.
pub fn announce(cache: Option<&Cache>, correlation_id: &str, users: &[UserId], sessions: &[uuid::Uuid]) {
    if sessions.is_empty() {
        return;
    }
    let Some(cache) = cache else {
        log::warn(
            correlation_id,
            "sessions ended without Redis: the worker will announce them",
            json!({"sessions": sessions.len()}),
        );
        return;
    };
    for user in users {
        user_cache::tombstone_reads(cache, *user);
    }
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
        // A failure is logged by the cache; the worker announces it again.
        let _ = cache.execute("SET", &args);
    }
}

/// How far back a fill lists the user's ended sessions: an access token's
/// lifetime and the tolerated skew (`cache_keys::session_ended_ttl`).
pub fn window_secs() -> Result<u64, ApiError> {
    config::access_ttl_secs().map(cache_keys::session_ended_ttl)
}

/// What a cached read found.
pub enum Lookup<'k, T> {
    Hit(T),
    /// Read the database, then [`Miss::fill`].
    Miss(Miss<'k>),
}

/// A cached read that must go to the database.
pub struct Miss<'k> {
    key: &'k str,
    /// The key holds what this build cannot read (`Found::Unreadable`).
    unreadable: bool,
}

/// The cached value under `key`, for an access token of `session` (`None`:
/// a service reads, for whom sessions do not matter). `Err(401)` if the
/// entry lists that session as ended; a miss on an absent key, a
/// tombstone, a failed read or without a reader.
pub fn cached<'k, T: DeserializeOwned>(
    reader: Option<&CacheReader>,
    key: &'k str,
    session: Option<&uuid::Uuid>,
) -> Result<Lookup<'k, T>, ApiError> {
    let miss = |unreadable| Ok(Lookup::Miss(Miss { key, unreadable }));
    let Some(reader) = reader else { return miss(false) };
    match cached_record::decode::<T>(reader.get(key).as_deref()) {
        Found::Record(record) => match session {
            None => Ok(Lookup::Hit(record.value)),
            Some(session) => record.for_session(session).map(Lookup::Hit).ok_or_else(ended),
        },
        Found::Miss => miss(false),
        Found::Unreadable => miss(true),
    }
}

impl Miss<'_> {
    /// Caches what the database answered: `value`, with the user's sessions
    /// that ended within [`window_secs`], read in the same query. Only into
    /// an absent key: a tombstone means this read may predate a change or a
    /// session's end. What this build cannot read (an older build's entry,
    /// a record of another model) is tombstoned instead, so a fill replaces
    /// it once the tombstone expires.
    pub fn fill<T: Serialize>(self, cache: Option<&Cache>, value: &T, ended: &[uuid::Uuid], ttl_secs: u64) {
        let Some(cache) = cache else { return };
        if self.unreadable {
            cache.set_ex(self.key, b"", cache_keys::TOMBSTONE_SECS);
            return;
        }
        match cached_record::encode(value, ended) {
            Ok(record) => cache.set_ex_if_absent(self.key, &record, ttl_secs),
            // Not cached: the next read goes to the database again.
            Err(error) => cache.failed("encode", error),
        }
    }
}

/// What an access token of an ended session gets.
pub fn ended() -> ApiError {
    ApiError::Unauthorized("The session has ended")
}
