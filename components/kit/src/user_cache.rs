//! The cached records of a user (the preferences and profile reads', the
//! worker's), dropped at every change so the change is seen at once. The
//! preferences and profile keys keep a tombstone for a minute
//! (`user_domain::cache_keys::preferences`), so a read that fetched from the
//! database before a change cannot put the old value back after it.

use user_domain::{UserId, cache_keys};

use crate::cache::Cache;

/// Drops every cached record of the user, so a change is seen at once by the
/// preferences and profile endpoints and by the worker. The preferences and
/// profile keys keep a tombstone for a minute (see
/// `user_domain::cache_keys::preferences`). Every change to a user row goes
/// through here, `last_login` included: the cached profile shows it.
pub fn invalidate(cache: Option<&Cache>, id: UserId) {
    if let Some(cache) = cache {
        tombstone_reads(cache, id);
        cache.del(&[cache_keys::worker_user(id)]);
    }
}

/// Tombstones the entries the owner's cached reads answer from
/// (preferences, profile): also what ending a session does
/// (`crate::revocation::announce`), since those entries carry the user's
/// ended sessions.
pub fn tombstone_reads(cache: &Cache, id: UserId) {
    for key in [cache_keys::preferences(id), cache_keys::profile(id)] {
        cache.set_ex(&key, b"", cache_keys::TOMBSTONE_SECS);
    }
}

/// [`invalidate`] for changes only the profile shows (`last_login`,
/// `updated_at` after a password change): the preferences stay cached.
pub fn invalidate_profile(cache: Option<&Cache>, id: UserId) {
    if let Some(cache) = cache {
        cache.set_ex(&cache_keys::profile(id), b"", cache_keys::TOMBSTONE_SECS);
    }
}
