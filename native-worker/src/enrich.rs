//! Looking up the user a push message is for: Redis first (the worker's own
//! key, `cache_keys::worker_user`), then PostgreSQL, caching what was read.
//! The components delete that key on every change to the user, and the
//! worker writes it so that no entry outlives such a delete (see
//! [`crate::user_cache`]), so the cache never serves a stale device list for
//! longer than it takes them to commit and delete. The record carries the
//! user's active devices and whole stored preferences, read in the same
//! statement as the user.

use deadpool_postgres::Pool;
use tokio::sync::mpsc;
use user_domain::{UserId, cache_keys};

use crate::batch::{Reply, ask, batcher};
use crate::cache::Cache;
use crate::db::{DbError, column, timed};
use crate::hooks::Hooks;
use crate::user_cache::{self, Entry, Versioned};
// Also where callers found the record before it had a module of its own.
pub use crate::user_record::{Device, SkipReason, UserRecord};

/// Where a record came from, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Database,
}

/// Where a lookup may read the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Redis, then PostgreSQL on a miss: every message's lookup.
    CacheFirst,
    /// PostgreSQL only (the cache is still filled): when a decision taken
    /// on a cached record turned out to be stale before it was written
    /// down, and the database's word is needed.
    Database,
}

pub struct Enricher {
    pub cache: std::sync::Arc<Cache>,
    /// Cache misses are looked up in batches (see [`crate::batch`]).
    lookups: mpsc::UnboundedSender<(uuid::Uuid, Reply<Option<Versioned>>)>,
    /// Test hooks; all empty in production.
    hooks: Hooks,
}

impl Enricher {
    /// Starts the lookup batcher; must be called inside a Tokio runtime.
    pub fn new(pool: Pool, cache: std::sync::Arc<Cache>) -> Self {
        let (lookups, rx) = mpsc::unbounded_channel();
        tokio::spawn(batcher(rx, move |ids: Vec<uuid::Uuid>| {
            let pool = pool.clone();
            async move {
                let found = users_batch(&pool, &ids).await?;
                Ok(ids.iter().map(|id| found.iter().find(|u| u.record.user_id == *id).cloned()).collect())
            }
        }));
        Self { cache, lookups, hooks: Hooks::default() }
    }

    /// The same enricher with test hooks.
    pub fn with_hooks(self, hooks: Hooks) -> Self {
        Self { hooks, ..self }
    }

    /// The user, or `None` when no such user exists. Fails only when
    /// PostgreSQL cannot answer; a Redis failure is a miss.
    pub async fn lookup(&self, id: UserId) -> Result<Option<(UserRecord, Source)>, DbError> {
        Ok(self.lookup_versioned(id, Read::CacheFirst).await?.map(|(found, source)| (found.record, source)))
    }

    /// [`Enricher::lookup`] with the version of the rows the record was
    /// read from (see [`crate::user_cache`]), and a say in where it is read.
    pub async fn lookup_versioned(&self, id: UserId, read: Read) -> Result<Option<(Versioned, Source)>, DbError> {
        let key = cache_keys::worker_user(id);
        let cached = match read {
            Read::CacheFirst => self.cache.get(&key).await.map(|raw| raw.map(|raw| (Entry::decode(&raw), raw))),
            Read::Database => Ok(None),
        };
        match cached {
            Ok(Some((Entry::Record(cached), _))) => return Ok(Some((*cached, Source::Cache))),
            Ok(Some((Entry::Claimed, _))) | Ok(None) => {}
            Ok(Some((Entry::Unreadable, raw))) => {
                // Written before versions or devices (another format), or by
                // something else: not to be trusted, and in the way of a fill (which only takes an
                // absent key). Removed only if nobody replaced it meanwhile.
                tracing::debug!(%key, "unreadable cached user; replacing it");
                if let Err(e) = self.cache.delete_if(&key, &raw).await {
                    tracing::debug!(error = %e, "could not remove an unreadable cached user");
                }
            }
            Err(e) => tracing::debug!(error = %e, "cache read failed, reading the database"),
        }
        let Some(read) = self.read_database(id).await? else {
            return Ok(None);
        };
        Hooks::run(&self.hooks.after_database_read, id.as_uuid()).await;
        let after_claim = Hooks::run(&self.hooks.after_cache_claim, id.as_uuid());
        let recheck = async { Ok(self.read_database(id).await?.map(|now| now.version)) };
        match user_cache::fill(&self.cache, &key, &read, cache_keys::TTL_SECS, after_claim, recheck).await {
            Ok(filled) => tracing::trace!(?filled, %key, "cache fill"),
            Err(e) => tracing::debug!(error = %e, "cache fill failed"),
        }
        Ok(Some((read, Source::Database)))
    }

    async fn read_database(&self, id: UserId) -> Result<Option<Versioned>, DbError> {
        ask(&self.lookups, id.as_uuid()).await
    }
}

/// The users with these ids, each with its active devices (most recently
/// seen first) and its version (see [`crate::user_cache`]): one statement
/// for the whole batch, devices included.
async fn users_batch(pool: &Pool, ids: &[uuid::Uuid]) -> Result<Vec<Versioned>, DbError> {
    let client = timed("users.lookup", pool.get()).await?;
    let stmt = timed(
        "users.lookup",
        client.prepare_cached(
            "SELECT u.id, u.name, u.email, d.devices, \
                    jsonb_build_object('email', p.email, 'push', p.push, 'categories', p.categories, \
                                       'quiet_hours', p.quiet_hours, 'locale', p.locale), \
                    u.email_verified, u.is_active, \
                    u.xmin::text || ':' || p.xmin::text || ':' || md5(d.devices::text) \
             FROM users u JOIN user_preferences p ON p.id = u.preferences_id \
             CROSS JOIN LATERAL ( \
                 SELECT coalesce(jsonb_agg(jsonb_build_object('id', d.id, 'platform', d.platform, 'token', d.token) \
                                           ORDER BY d.last_seen_at DESC, d.id), '[]'::jsonb) AS devices \
                 FROM devices d WHERE d.user_id = u.id AND d.active) d \
             WHERE u.id = ANY($1)",
        ),
    )
    .await?;
    let rows = timed("users.lookup", client.query(&stmt, &[&ids])).await?;
    rows.iter()
        .map(|row| {
            let devices: serde_json::Value = column(row, 3)?;
            // The stored form, as the components write it (the serde form of
            // the domain's type); a row that breaks one of its rules is
            // unreadable, like any other.
            let preferences: serde_json::Value = column(row, 4)?;
            let record = UserRecord {
                user_id: column(row, 0)?,
                name: column(row, 1)?,
                email: column(row, 2)?,
                devices: serde_json::from_value(devices).map_err(|e| DbError::Unreadable(format!("devices: {e}")))?,
                preferences: serde_json::from_value(preferences)
                    .map_err(|e| DbError::Unreadable(format!("preferences: {e}")))?,
                email_verified: column(row, 5)?,
                is_active: column(row, 6)?,
            };
            Ok(Versioned::new(record, column(row, 7)?))
        })
        .collect()
}
