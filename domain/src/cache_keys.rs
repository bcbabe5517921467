//! Redis key names shared by the components (which write and invalidate) and
//! the worker (which reads). One definition, so a rename cannot leave a stale
//! cache behind on one side.

use crate::UserId;

/// Read-through cache of `{email, push}`; JSON; 1 hour TTL. An invalidation
/// leaves an empty value (a tombstone) for [`TOMBSTONE_SECS`], and readers
/// fill the key only if it is absent, so a reader that fetched from the
/// database before a change cannot put the old value back after it.
pub fn preferences(user: UserId) -> String {
    format!("user_preferences:{user}")
}

/// The worker's enrichment record of a user (its own JSON shape).
pub fn worker_user(user: UserId) -> String {
    format!("worker:user:{user}")
}

/// Every key that must be deleted when a user or its preferences change.
pub fn all_for_user(user: UserId) -> [String; 2] {
    [preferences(user), worker_user(user)]
}

/// Time to live of both cached records, in seconds.
pub const TTL_SECS: u64 = 3600;

/// How long an invalidated preferences key refuses to be refilled: longer
/// than any request may run, so every read that began before the change has
/// finished (or been cut off) by then.
pub const TOMBSTONE_SECS: u64 = 60;
