//! Sessions, from the worker's side.
//!
//! - **Ended sessions, announced again.** The components answer cached
//!   reads from Redis without the database; their entries carry the user's
//!   recently ended sessions (`user_domain::cached_record`). The component
//!   that ends a session tombstones the user's entries, then marks the
//!   session (`session_ended:{id}`, `user_domain::cache_keys`). Every
//!   `SESSION_MARKS_INTERVAL_MS` this looks at the marks of every session
//!   that ended within the access-token lifetime (`sessions.ended_at`, the
//!   truth): where one is missing (a failed write, a Redis restart), it
//!   tombstones that user's entries and writes the mark, so an entry filled
//!   before the end cannot answer the session's tokens past that interval.
//! - **Retention.** Sessions ended (or whose refresh tokens all expired)
//!   more than `SESSION_RETENTION_DAYS` ago, refresh tokens expired that
//!   long, sign-in and passkey challenges a day past their expiry, and the sealed
//!   children kept for retried refreshes an hour after use are deleted, so
//!   the tables do not grow with every refresh and sign-in.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use user_domain::{UserId, cache_keys};

use crate::cache::Cache;
use crate::db::{DbError, column, timed};

/// What one purge deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub sessions: u64,
    pub refresh_tokens: u64,
    pub challenges: u64,
    /// Sealed children cleared from spent tokens.
    pub children: u64,
}

pub struct Sessions {
    pub pool: Pool,
    pub cache: Arc<Cache>,
    /// The access-token lifetime the components use (`access_token_ttl_secs`).
    pub access_ttl_secs: u64,
    pub retention: Duration,
}

impl Sessions {
    /// Announces again every session that ended recently enough for one of
    /// its access tokens to be alive and whose mark is missing: tombstones
    /// its user's cached entries, then writes the mark for the time it has
    /// left (in that order, as the components do: a mark means the
    /// tombstones were written). Returns how many sessions it announced.
    pub async fn mark_ended(&self) -> Result<usize, MarkError> {
        let window = cache_keys::session_ended_ttl(self.access_ttl_secs) as f64;
        let client = timed("sessions.recently_ended", self.pool.get()).await?;
        let rows = timed(
            "sessions.recently_ended",
            client.query(
                "SELECT id, user_id, ceil($1::float8 - extract(epoch FROM now() - ended_at)::float8)::bigint AS ttl \
                 FROM sessions WHERE ended_at > now() - make_interval(secs => $1::float8)",
                &[&window],
            ),
        )
        .await?;
        let mut ended = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: uuid::Uuid = column(row, 0)?;
            let user: uuid::Uuid = column(row, 1)?;
            let ttl: i64 = column(row, 2)?;
            ended.push((cache_keys::session_ended(&id), UserId::from(user), ttl.max(1) as u64));
        }
        let keys: Vec<String> = ended.iter().map(|(key, _, _)| key.clone()).collect();
        let marked = self.cache.exist(&keys).await?;
        let missing: Vec<_> = ended.into_iter().zip(marked).filter(|(_, marked)| !marked).map(|(e, _)| e).collect();
        let users: HashSet<UserId> = missing.iter().map(|(_, user, _)| *user).collect();
        let tombstones: Vec<(String, &str, u64)> = users
            .iter()
            .flat_map(|user| [cache_keys::preferences(*user), cache_keys::profile(*user)])
            .map(|key| (key, "", cache_keys::TOMBSTONE_SECS))
            .collect();
        self.cache.set_many_ex(&tombstones).await?;
        let marks: Vec<(String, &str, u64)> = missing.into_iter().map(|(key, _, ttl)| (key, "1", ttl)).collect();
        self.cache.set_many_ex(&marks).await?;
        Ok(marks.len())
    }

    /// Deletes what outlived its purpose (see the module's doc).
    pub async fn purge(&self) -> Result<Purged, DbError> {
        let secs = self.retention.as_secs_f64();
        let client = timed("sessions.purge", self.pool.get()).await?;
        let sessions = timed(
            "sessions.purge",
            client.execute(
                "DELETE FROM sessions s WHERE s.ended_at < now() - make_interval(secs => $1) \
                    OR (s.ended_at IS NULL AND NOT EXISTS ( \
                        SELECT 1 FROM refresh_tokens r \
                        WHERE r.session_id = s.id AND r.expires_at > now() - make_interval(secs => $1)))",
                &[&secs],
            ),
        )
        .await?;
        let refresh_tokens = timed(
            "refresh_tokens.purge",
            client.execute("DELETE FROM refresh_tokens WHERE expires_at < now() - make_interval(secs => $1)", &[&secs]),
        )
        .await?;
        let challenges = timed(
            "mfa_challenges.purge",
            client.execute("DELETE FROM mfa_challenges WHERE expires_at < now() - interval '1 day'", &[]),
        )
        .await?;
        // Passkey ceremonies' challenges nobody answered (an answered one is
        // deleted as it is judged).
        let passkey_challenges = timed(
            "passkey_challenges.purge",
            client.execute("DELETE FROM passkey_challenges WHERE expires_at < now() - interval '1 day'", &[]),
        )
        .await?;
        let children = timed(
            "refresh_tokens.clear_children",
            client.execute(
                "UPDATE refresh_tokens SET child_sealed = NULL \
                 WHERE child_sealed IS NOT NULL AND spent_at < now() - interval '1 hour'",
                &[],
            ),
        )
        .await?;
        Ok(Purged { sessions, refresh_tokens, challenges: challenges + passkey_challenges, children })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MarkError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
}
