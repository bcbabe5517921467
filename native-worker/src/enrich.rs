//! Looking up the user a push message is for: Redis first (the worker's own
//! key, `cache_keys::worker_user`), then PostgreSQL, caching what was read.
//! The components delete that key on every change to the user, and the
//! worker writes it so that no entry outlives such a delete (see
//! [`crate::user_cache`]), so the cache never serves a stale push token for
//! longer than it takes them to commit and delete.

use deadpool_postgres::Pool;
use serde::{Deserialize, Serialize};
use serde_json::json;
use user_domain::{UserId, cache_keys};

use tokio::sync::mpsc;

use crate::batch::{Reply, ask, batcher};
use crate::cache::Cache;
use crate::db::{DbError, column, timed};
use crate::hooks::Hooks;
use crate::user_cache::{self, Entry, Versioned};

/// The worker's cached shape of a user: what enrichment and the skip rule need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    pub user_id: uuid::Uuid,
    pub name: String,
    pub email: String,
    pub push_token: Option<String>,
    pub email_enabled: bool,
    pub push_enabled: bool,
    pub email_verified: bool,
    pub is_active: bool,
}

/// Why a user receives no push even though the message is fine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    PushDisabled,
    NoPushToken,
    Inactive,
}

impl SkipReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            SkipReason::PushDisabled => "push_disabled",
            SkipReason::NoPushToken => "no_push_token",
            SkipReason::Inactive => "inactive",
        }
    }
}

impl UserRecord {
    /// `None` when a push may go out.
    pub fn skip_reason(&self) -> Option<SkipReason> {
        if !self.is_active {
            Some(SkipReason::Inactive)
        } else if !self.push_enabled {
            Some(SkipReason::PushDisabled)
        } else if self.push_token.as_deref().is_none_or(|t| t.trim().is_empty()) {
            Some(SkipReason::NoPushToken)
        } else {
            None
        }
    }

    /// The `user` object added to a forwarded message (CONTRACT section 5).
    pub fn forwarded_json(&self) -> serde_json::Value {
        json!({
            "user_id": self.user_id,
            "name": self.name,
            "email": self.email,
            "push_token": self.push_token,
            "preferences": {"email": self.email_enabled, "push": self.push_enabled},
            "email_verified": self.email_verified,
        })
    }
}

/// Where a record came from, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
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
        let key = cache_keys::worker_user(id);
        match self.cache.get(&key).await.map(|raw| raw.map(|raw| (Entry::decode(&raw), raw))) {
            Ok(Some((Entry::Record(cached), _))) => return Ok(Some((cached.record, Source::Cache))),
            Ok(Some((Entry::Claimed, _))) | Ok(None) => {}
            Ok(Some((Entry::Unreadable, raw))) => {
                // Written before versions, or by something else: not to be
                // trusted, and in the way of a fill (which only takes an
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
        Ok(Some((read.record, Source::Database)))
    }

    async fn read_database(&self, id: UserId) -> Result<Option<Versioned>, DbError> {
        ask(&self.lookups, id.as_uuid()).await
    }
}

/// The users with these ids, each with its version (see [`crate::user_cache`]).
async fn users_batch(pool: &Pool, ids: &[uuid::Uuid]) -> Result<Vec<Versioned>, DbError> {
    let client = timed(pool.get()).await?;
    let stmt = timed(client.prepare_cached(
        "SELECT u.id, u.name, u.email, u.push_token, p.email, p.push, u.email_verified, u.is_active, \
                u.xmin::text || ':' || p.xmin::text \
         FROM users u JOIN user_preferences p ON p.id = u.preferences_id WHERE u.id = ANY($1)",
    ))
    .await?;
    let rows = timed(client.query(&stmt, &[&ids])).await?;
    rows.iter()
        .map(|row| {
            let record = UserRecord {
                user_id: column(row, 0)?,
                name: column(row, 1)?,
                email: column(row, 2)?,
                push_token: column(row, 3)?,
                email_enabled: column(row, 4)?,
                push_enabled: column(row, 5)?,
                email_verified: column(row, 6)?,
                is_active: column(row, 7)?,
            };
            Ok(Versioned { record, version: column(row, 8)? })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> UserRecord {
        UserRecord {
            user_id: uuid::Uuid::nil(),
            name: "Ada".into(),
            email: "ada@example.com".into(),
            push_token: Some("tok".into()),
            email_enabled: true,
            push_enabled: true,
            email_verified: false,
            is_active: true,
        }
    }

    #[test]
    fn skip_rule_follows_preferences_token_and_activity() {
        assert_eq!(record().skip_reason(), None);
        assert_eq!(UserRecord { push_enabled: false, ..record() }.skip_reason(), Some(SkipReason::PushDisabled));
        assert_eq!(UserRecord { push_token: None, ..record() }.skip_reason(), Some(SkipReason::NoPushToken));
        assert_eq!(
            UserRecord { push_token: Some(" ".into()), ..record() }.skip_reason(),
            Some(SkipReason::NoPushToken)
        );
        assert_eq!(UserRecord { is_active: false, ..record() }.skip_reason(), Some(SkipReason::Inactive));
    }

    #[test]
    fn forwarded_user_has_the_contract_shape() {
        let v = record().forwarded_json();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["email", "email_verified", "name", "preferences", "push_token", "user_id"]);
        assert_eq!(v["preferences"], json!({"email": true, "push": true}));
    }
}
