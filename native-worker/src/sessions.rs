//! Sessions, from the worker's side.
//!
//! - **Marks of ended sessions.** The components answer cached reads from
//!   Redis without the database, and refuse an access token whose session
//!   has ended by a mark they read with the entry (`session_ended:{id}`,
//!   `user_domain::cache_keys`). The component that ends a session writes
//!   its mark at once; this writes the marks of every session that ended
//!   within the access-token lifetime again, every `SESSION_MARKS_INTERVAL_MS`,
//!   from PostgreSQL (`sessions.ended_at`, the truth), so a mark lost to a
//!   failed write or a Redis restart is back within that interval.
//! - **Retention.** Sessions ended (or whose refresh tokens all expired)
//!   more than `SESSION_RETENTION_DAYS` ago, refresh tokens expired that
//!   long, sign-in challenges a day past their expiry, and the sealed
//!   children kept for retried refreshes an hour after use are deleted, so
//!   the tables do not grow with every refresh and sign-in.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use user_domain::cache_keys;

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
    /// Writes the mark of every session that ended recently enough for one
    /// of its access tokens to be alive, for the time it has left. Returns
    /// how many.
    pub async fn mark_ended(&self) -> Result<usize, MarkError> {
        let window = cache_keys::session_ended_ttl(self.access_ttl_secs) as f64;
        let client = timed("sessions.recently_ended", self.pool.get()).await?;
        let rows = timed(
            "sessions.recently_ended",
            client.query(
                "SELECT id, ceil($1::float8 - extract(epoch FROM now() - ended_at)::float8)::bigint AS ttl \
                 FROM sessions WHERE ended_at > now() - make_interval(secs => $1::float8)",
                &[&window],
            ),
        )
        .await?;
        let mut marks = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: uuid::Uuid = column(row, 0)?;
            let ttl: i64 = column(row, 1)?;
            marks.push((cache_keys::session_ended(&id), "1", ttl.max(1) as u64));
        }
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
        let children = timed(
            "refresh_tokens.clear_children",
            client.execute(
                "UPDATE refresh_tokens SET child_sealed = NULL \
                 WHERE child_sealed IS NOT NULL AND spent_at < now() - interval '1 hour'",
                &[],
            ),
        )
        .await?;
        Ok(Purged { sessions, refresh_tokens, challenges, children })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MarkError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
}
