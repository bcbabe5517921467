//! Redis key names shared by the components (which write and invalidate) and
//! the worker (which reads). One definition, so a rename cannot leave a stale
//! cache behind on one side.

use crate::user_id::UserId;

/// Read-through cache of `{email, push}`; JSON; 1 hour TTL. An invalidation
/// leaves an empty value (a tombstone) for [`TOMBSTONE_SECS`], and readers
/// fill the key only if it is absent, so a reader that fetched from the
/// database before a change cannot put the old value back after it.
pub fn preferences(user: UserId) -> String {
    format!("user_preferences:{user}")
}

/// Read-through cache of the owner's profile, exactly as
/// `GET /api/v1/users/profile/` shows it; JSON; [`PROFILE_TTL_SECS`].
/// Tombstoned on invalidation like [`preferences`]. It holds active
/// accounts only, and every change to a user row (including `last_login`)
/// invalidates it, so a hit answers without a database round trip.
pub fn profile(user: UserId) -> String {
    format!("user_profile:{user}")
}

/// Time to live of a cached profile: shorter than the preferences', because
/// an operator's change made straight in the database (not through the API
/// or the worker's admin commands) is seen only when it expires.
pub const PROFILE_TTL_SECS: u64 = 300;

/// The worker's enrichment record of a user (its own JSON shape).
pub fn worker_user(user: UserId) -> String {
    format!("worker:user:{user}")
}

/// Every key that must be dropped when a user or its preferences change.
pub fn all_for_user(user: UserId) -> [String; 3] {
    [preferences(user), profile(user), worker_user(user)]
}

/// The mark of an ended session, read in the same round trip as a cached
/// entry (`MGET entry mark`) so a cached read never answers an access token
/// whose session has ended. Written by the component that ends the session,
/// and again by the worker from PostgreSQL (`sessions.ended_at`) every few
/// seconds, for marks lost to a Redis restart or a failed write. It must
/// outlive every access token of the session: [`session_ended_ttl`].
pub fn session_ended(session: &uuid::Uuid) -> String {
    format!("session_ended:{session}")
}

/// How long an ended session's mark is kept: the access-token lifetime plus
/// the tolerated clock skew and a margin, after which every token of the
/// session has expired on its own.
pub fn session_ended_ttl(access_ttl_secs: u64) -> u64 {
    access_ttl_secs + 60
}

/// Time to live of both cached records, in seconds.
pub const TTL_SECS: u64 = 3600;

/// How long an invalidated preferences key refuses to be refilled: longer
/// than any request may run, so every read that began before the change has
/// finished (or been cut off) by then.
pub const TOMBSTONE_SECS: u64 = 60;

/// The readiness answer of one deployment (its database and its Redis), kept
/// for [`READINESS_SECS`] so load balancers polling every instance cost the
/// database one check a second, not one per poll. The key names a digest of
/// both addresses without their credentials: apps that share a Redis but
/// not a database (tests, staging beside production) never read each
/// other's answer, and no password reaches a key name.
pub fn readiness(database_url: &str, redis_url: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    for url in [database_url, redis_url] {
        digest.update(without_credentials(url).as_bytes());
        digest.update([0]);
    }
    format!("health:ready:{}", hex::encode(&digest.finalize()[..12]))
}

/// How long a readiness answer is reused, in seconds.
pub const READINESS_SECS: u64 = 1;

/// `scheme://user:password@host/…` without `user:password@`.
fn without_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_keys_differ_by_address_and_never_hold_credentials() {
        let a = readiness("postgres://app:s3cret@db:5432/users?sslmode=require", "redis://cache:6379");
        let same_without_password = readiness("postgres://db:5432/users?sslmode=require", "redis://cache:6379");
        let other_database = readiness("postgres://app:s3cret@db:5432/staging", "redis://cache:6379");
        assert_eq!(a, same_without_password);
        assert_ne!(a, other_database);
        assert!(!a.contains("s3cret") && a.starts_with("health:ready:"));
        // The split between the two addresses is part of the digest.
        assert_ne!(readiness("ab", "c"), readiness("a", "bc"));
    }
}
