//! The `devices` table: a user's devices and their push tokens. A token
//! belongs to one user (a unique index): registered by another user, the
//! device moves to them. Every change also touches the owners' `users` row
//! (`updated_at`), which is what the worker's cached record is versioned by,
//! so an enrichment cached before the change is never trusted after it.

use serde::Deserialize;
use user_domain::UserId;
use user_domain::device::{DeviceName, DeviceToken, Platform};

use crate::db::{Db, DbError, Rows, param};
use crate::model::audit::AuditEvent;
use crate::model::device::Device;

/// The SQL of a user's current push token: the token of their most recently
/// seen active device (`$user` is the SQL of the user's id).
macro_rules! current_token {
    ($user:literal) => {
        concat!(
            "(SELECT d.token FROM devices d WHERE d.user_id = ",
            $user,
            " AND d.active ORDER BY d.last_seen_at DESC LIMIT 1)"
        )
    };
}
pub(crate) use current_token;

/// What a registration did.
#[derive(Debug, Deserialize)]
pub struct Registered {
    #[serde(flatten)]
    pub device: Device,
    /// The token was already this user's: the device was seen again.
    pub seen: bool,
    /// The user the token moved from, if another had it.
    pub moved_from: Option<UserId>,
    /// Devices the cap evicted (the least recently seen).
    pub evicted: Vec<uuid::Uuid>,
}

/// Registers `token` as a device of `user` (an active account): a new
/// device, the same one seen again, or another user's moved to this one.
/// At most `cap` devices stay: past it the least recently seen others go.
/// `None` if the account is gone or deactivated.
pub fn register(
    db: &Db,
    user: UserId,
    token: &DeviceToken,
    platform: Platform,
    name: Option<&DeviceName>,
    cap: usize,
    audit: &AuditEvent,
) -> Result<Option<Registered>, DbError> {
    db.first(
        Rows::with(
            "owner AS (SELECT id FROM users WHERE id = $1 AND is_active), \
             existing AS (SELECT id, user_id FROM devices WHERE token = $2), \
             upsert AS ( \
                 INSERT INTO devices (user_id, token, platform, name) SELECT id, $2, $3, $4 FROM owner \
                 ON CONFLICT (token) DO UPDATE SET user_id = EXCLUDED.user_id, platform = EXCLUDED.platform, \
                        name = COALESCE(EXCLUDED.name, CASE WHEN devices.user_id = EXCLUDED.user_id THEN devices.name END), \
                        created_at = CASE WHEN devices.user_id = EXCLUDED.user_id THEN devices.created_at ELSE now() END, \
                        last_seen_at = now(), active = true, retired_at = NULL, retired_reason = NULL \
                 RETURNING * \
             ), evicted AS ( \
                 DELETE FROM devices WHERE id IN ( \
                     SELECT d.id FROM devices d, owner WHERE d.user_id = owner.id AND d.token <> $2 \
                     ORDER BY d.last_seen_at DESC OFFSET $5 \
                 ) RETURNING id \
             ), touched AS ( \
                 UPDATE users SET updated_at = now() \
                 WHERE id IN (SELECT user_id FROM upsert UNION SELECT user_id FROM existing) RETURNING id \
             )",
            "SELECT upsert.id, upsert.user_id, upsert.token, upsert.platform, upsert.name, upsert.created_at, \
                    upsert.last_seen_at, upsert.active, \
                    coalesce((SELECT user_id = $1 FROM existing), false) AS seen, \
                    (SELECT user_id FROM existing WHERE user_id <> $1) AS moved_from, \
                    (SELECT coalesce(array_agg(id), '{}') FROM evicted) AS evicted \
             FROM upsert",
        )
        .audited(audit),
        &[
            param::uuid(user),
            param::text(token.as_ref()),
            param::text(platform.as_str()),
            param::opt_text(name.map(|n| n.as_ref().to_owned())),
            // The others kept beside this one.
            param::int(cap.saturating_sub(1) as i64),
        ],
    )
}

/// The user's devices, most recently seen first, retired ones too.
pub fn of_user(db: &Db, user: UserId) -> Result<Vec<Device>, DbError> {
    db.rows(
        Rows::select(
            "SELECT id, user_id, token, platform, name, created_at, last_seen_at, active FROM devices \
             WHERE user_id = $1 ORDER BY last_seen_at DESC, id",
        ),
        &[param::uuid(user)],
    )
}

#[derive(Deserialize)]
struct Removed {
    id: uuid::Uuid,
}

/// Removes one of the user's devices; `false` if the user has no such
/// device (another user's included).
pub fn remove(db: &Db, user: UserId, device: uuid::Uuid, audit: &AuditEvent) -> Result<bool, DbError> {
    let removed: Option<Removed> = db.first(
        Rows::with(
            "gone AS (DELETE FROM devices WHERE id = $2 AND user_id = $1 RETURNING id, user_id), \
             touched AS (UPDATE users SET updated_at = now() WHERE id IN (SELECT user_id FROM gone) RETURNING id)",
            "SELECT id, user_id FROM gone",
        )
        .audited(audit),
        &[param::uuid(user), param::uuid(device)],
    )?;
    Ok(removed.is_some_and(|r| r.id == device))
}
