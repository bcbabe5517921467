//! How the worker writes its cached user (`worker:user:{id}`) so that an
//! entry can never outlive the invalidation of the record it holds.
//!
//! The components change a user, commit, then delete the key. A reader that
//! read the user just before such a change and wrote the cache just after
//! the delete used to leave the old record cached for an hour: pushes kept
//! going to a user who had turned them off. A plain write cannot tell; the
//! fill is therefore done in three steps, each safe against a change
//! committed at any moment:
//!
//! 1. **Claim**: `SET key claim:<nonce> NX`, with a short TTL. Only an absent
//!    key is claimed, so a newer entry (or another reader's claim) is never
//!    overwritten. Readers treat a claim as a miss.
//! 2. **Re-check**: read the row's version again. If it moved since the
//!    record was read, the record is stale: delete the claim (if still ours)
//!    and cache nothing.
//! 3. **Confirm**: replace the claim with the record, only if the key still
//!    holds our claim. A change committed after the re-check is followed by
//!    its delete, which either removed the claim (the confirm then fails) or
//!    comes after the confirm (and removes the entry).
//!
//! So an entry survives only if no change was committed between the record's
//! read and the re-check, and any change after that deletes it: the cache
//! never serves a record older than the last invalidation.
//!
//! The version is PostgreSQL's `xmin` of the user and preferences rows and
//! a digest of the active devices read with them
//! (`"<users.xmin>:<user_preferences.xmin>:<md5>"`): every UPDATE writes a
//! new row version stamped with its transaction, whether or not the writer
//! remembers to bump `updated_at`, and two versions are only ever compared
//! for equality. A device change bumps the user row too (the components and
//! [`crate::devices`] do, in the same statement); the digest covers one that
//! would not. Nothing is needed from the components beyond the delete they
//! already do.
//!
//! The preferences row holds every preference (the master switches, the
//! category overrides, quiet hours and locale), so its `xmin` moves with
//! any of them.
//!
//! Each entry says its [`FORMAT`]; an entry of another format (one written
//! before devices, with a single `push_token`, or before the whole
//! preferences were kept) is not trusted but replaced.

use serde::{Deserialize, Serialize};

use user_domain::{UserId, cache_keys};

use crate::cache::{Cache, CacheError};
use crate::db::DbError;
use crate::user_record::UserRecord;

/// How long a claim lives if its reader dies before confirming it; long
/// enough for a re-check under load, short enough not to matter.
const CLAIM_TTL_SECS: u64 = 10;

/// Prefix of a claim; never the start of a JSON record.
const CLAIM_PREFIX: &str = "claim:";

/// The shape of the cached record. Entries without it were written with a
/// single `push_token` and no devices (or before versions), format 2 with
/// the two master switches only; bump it whenever [`UserRecord`] changes
/// what it means, so older entries are replaced.
pub const FORMAT: u32 = 3;

/// The preferences row's part of a version (`"<users.xmin>:<user_preferences.xmin>:<md5>"`):
/// what a decision taken on the preferences alone (holding a message for
/// quiet hours) is checked against when it is written down.
pub fn preferences_version(version: &str) -> Option<&str> {
    version.split(':').nth(1).filter(|part| !part.is_empty())
}

/// A record and the version of the rows it was read from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versioned {
    #[serde(flatten)]
    pub record: UserRecord,
    pub version: String,
    /// Always [`FORMAT`] when written; anything else is [`Entry::Unreadable`].
    pub format: u32,
}

impl Versioned {
    pub fn new(record: UserRecord, version: String) -> Self {
        Self { record, version, format: FORMAT }
    }
}

/// What a cache key holds.
#[derive(Debug, PartialEq)]
pub enum Entry {
    Record(Box<Versioned>),
    /// A reader is filling it: a miss that must not be overwritten.
    Claimed,
    /// Not a record of the current [`FORMAT`] (one written before devices or
    /// before versions, say): a miss, to be replaced.
    Unreadable,
}

impl Entry {
    pub fn decode(raw: &str) -> Self {
        if raw.starts_with(CLAIM_PREFIX) {
            return Entry::Claimed;
        }
        match serde_json::from_str::<Versioned>(raw) {
            Ok(v) if v.format == FORMAT => Entry::Record(Box::new(v)),
            _ => Entry::Unreadable,
        }
    }
}

/// Why a fill cached nothing; all are fine for the lookup itself.
#[derive(Debug, thiserror::Error)]
pub enum FillError {
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
    #[error("re-check failed: {0}")]
    Recheck(DbError),
}

/// What a fill did, for tests and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filled {
    Cached,
    /// The key held something else (an entry or another reader's claim).
    Occupied,
    /// The record changed after it was read; nothing cached.
    Stale,
    /// The key was deleted (an invalidation) between the claim and the confirm.
    Invalidated,
}

/// Caches `read` under `key` by the claim, re-check, confirm protocol above.
/// `after_claim` runs between claim and re-check (a test hook), `recheck`
/// reads the row's current version (`None`: the user is gone).
pub async fn fill<H, R>(
    cache: &Cache,
    key: &str,
    read: &Versioned,
    ttl_secs: u64,
    after_claim: H,
    recheck: R,
) -> Result<Filled, FillError>
where
    H: Future<Output = ()>,
    R: Future<Output = Result<Option<String>, DbError>>,
{
    let claim = format!("{CLAIM_PREFIX}{}", uuid::Uuid::new_v4());
    if !cache.set_nx_ex(key, &claim, CLAIM_TTL_SECS).await? {
        return Ok(Filled::Occupied);
    }
    after_claim.await;
    let current = match recheck.await {
        Ok(current) => current,
        Err(e) => {
            cache.delete_if(key, &claim).await?;
            return Err(FillError::Recheck(e));
        }
    };
    if current.as_deref() != Some(read.version.as_str()) {
        cache.delete_if(key, &claim).await?;
        return Ok(Filled::Stale);
    }
    let value = serde_json::to_string(read).expect("a record always serialises");
    if cache.replace_if(key, &claim, &value, ttl_secs).await? { Ok(Filled::Cached) } else { Ok(Filled::Invalidated) }
}

/// Drops the user's cached records after a change the worker made itself
/// (a device retired): its own entry, and the profile (which shows the push
/// token) with a tombstone for [`cache_keys::TOMBSTONE_SECS`], as the
/// components' `user_cache::invalidate` does. Call it after the commit.
pub async fn invalidate(cache: &Cache, user: UserId) -> Result<(), CacheError> {
    cache.set_ex(&cache_keys::profile(user), "", cache_keys::TOMBSTONE_SECS).await?;
    cache.del(&[cache_keys::worker_user(user)]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versioned() -> Versioned {
        Versioned::new(
            UserRecord {
                user_id: uuid::Uuid::nil(),
                name: "Ada".into(),
                email: "ada@example.com".into(),
                devices: vec![crate::user_record::Device {
                    id: uuid::Uuid::from_u128(7),
                    platform: "android".into(),
                    token: "tok".into(),
                }],
                preferences: Default::default(),
                email_verified: false,
                is_active: true,
            },
            "741:742:0f3a".into(),
        )
    }

    #[test]
    fn decodes_records_claims_and_older_shapes() {
        let v = versioned();
        assert_eq!(Entry::decode(&serde_json::to_string(&v).unwrap()), Entry::Record(Box::new(v.clone())));
        assert_eq!(Entry::decode("claim:5f0c"), Entry::Claimed);
        // A record cached before versions existed must not be trusted.
        let unversioned = serde_json::to_string(&v.record).unwrap();
        assert_eq!(Entry::decode(&unversioned), Entry::Unreadable);
        assert_eq!(Entry::decode("garbage"), Entry::Unreadable);
    }

    #[test]
    fn entries_written_before_devices_are_not_trusted() {
        // The shape the worker cached before devices: a single push_token, a version, no format.
        let before_devices = r#"{"user_id":"00000000-0000-0000-0000-000000000000","name":"Ada","email":"ada@example.com","push_token":"tok","email_enabled":true,"push_enabled":true,"email_verified":false,"is_active":true,"version":"741:742"}"#;
        assert_eq!(Entry::decode(before_devices), Entry::Unreadable);
        // A record of this shape under another format number is not trusted either.
        let mut other = serde_json::to_value(versioned()).unwrap();
        other["format"] = (FORMAT + 1).into();
        assert_eq!(Entry::decode(&other.to_string()), Entry::Unreadable);
        other["format"] = FORMAT.into();
        assert_eq!(Entry::decode(&other.to_string()), Entry::Record(Box::new(versioned())));
    }

    #[test]
    fn entries_written_with_only_the_master_switches_are_not_trusted() {
        // Format 2: devices, but only `email_enabled` and `push_enabled`.
        let format_2 = r#"{"user_id":"00000000-0000-0000-0000-000000000000","name":"Ada","email":"ada@example.com","devices":[],"email_enabled":true,"push_enabled":true,"email_verified":false,"is_active":true,"version":"741:742:0f3a","format":2}"#;
        assert_eq!(Entry::decode(format_2), Entry::Unreadable);
    }

    #[test]
    fn the_preferences_part_of_a_version() {
        assert_eq!(preferences_version("741:742:0f3a"), Some("742"));
        assert_eq!(preferences_version("741"), None);
        assert_eq!(preferences_version("741::0f3a"), None);
    }
}
