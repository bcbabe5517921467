//! The `user_preferences` table, reached through its user.
//!
//! Rows keep the stored form of [`NotificationPreferences`] (the master
//! switches as columns, the category overrides, quiet hours and locale
//! beside them): only what the user set, so a category configured later
//! starts on for everyone. Readers build it with [`stored_preferences!`].

use serde::Deserialize;
use user_domain::UserId;
use user_domain::preferences::NotificationPreferences;

use crate::db::{Db, DbError, Rows, param};
use crate::model::audit::AuditEvent;
use crate::store::sessions::recently_ended;

/// The stored preferences of the `user_preferences` row aliased `$p`, as
/// one JSON object that reads as a [`NotificationPreferences`].
macro_rules! stored_preferences {
    ($p:literal) => {
        concat!(
            "jsonb_build_object('email', ",
            $p,
            ".email, 'push', ",
            $p,
            ".push, 'categories', ",
            $p,
            ".categories, 'quiet_hours', ",
            $p,
            ".quiet_hours, 'locale', ",
            $p,
            ".locale)"
        )
    };
}
pub(crate) use stored_preferences;

/// A user's preferences, whether the account is active and whether the
/// reader's session lives.
#[derive(Debug, Deserialize)]
pub struct Stored {
    pub preferences: NotificationPreferences,
    pub is_active: bool,
    /// The session given is one of the user's and has not ended (true when
    /// none was given: a service reads).
    pub session_live: bool,
    /// The row's version (PostgreSQL's `xmin`): a change made from this
    /// read names it, so a concurrent change is not overwritten.
    pub version: String,
    /// The user's sessions that ended within the window asked for: what a
    /// cached entry carries (`crate::revocation`).
    pub ended: Vec<uuid::Uuid>,
}

/// The user's preferences, or `None` if there is no such user; with the
/// state of `session` (the owner's, when the owner reads) and the user's
/// sessions that ended within the last `ended_window_secs`, in the same
/// round trip.
pub fn of(
    db: &Db,
    user: UserId,
    session: Option<uuid::Uuid>,
    ended_window_secs: u64,
) -> Result<Option<Stored>, DbError> {
    db.first(
        Rows::select(concat!(
            "SELECT ",
            stored_preferences!("p"),
            " AS preferences, u.is_active, p.xmin::text AS version, \
                    ($2::uuid IS NULL OR EXISTS ( \
                        SELECT 1 FROM sessions s WHERE s.id = $2 AND s.user_id = u.id AND s.ended_at IS NULL \
                    )) AS session_live, ",
            recently_ended!("u.id", "$3"),
            " AS ended \
             FROM users u JOIN user_preferences p ON p.id = u.preferences_id WHERE u.id = $1"
        )),
        &[
            param::uuid(user),
            session.map_or(spin_sdk::pg4::ParameterValue::DbNull, param::uuid),
            param::epoch_secs(ended_window_secs),
        ],
    )
}

/// Stores `preferences` for an active user whose row is still at
/// `version`, and releases the messages the worker holds for the user's
/// quiet hours (they are decided again under the new preferences: held
/// anew, skipped or sent). Returns them as stored, or `None` if the row
/// changed since it was read, or the user is gone or deactivated.
pub fn replace(
    db: &Db,
    user: UserId,
    preferences: &NotificationPreferences,
    version: &str,
    audit: &AuditEvent,
) -> Result<Option<NotificationPreferences>, DbError> {
    let categories = serde_json::to_value(&preferences.categories).map_err(|e| DbError::Other(e.to_string()))?;
    let quiet_hours = match &preferences.quiet_hours {
        Some(hours) => param::json(&serde_json::to_value(hours).map_err(|e| DbError::Other(e.to_string()))?),
        None => spin_sdk::pg4::ParameterValue::DbNull,
    };
    db.first(
        Rows::with(
            "changed AS ( \
                 UPDATE user_preferences p SET email = $2, push = $3, categories = $4, quiet_hours = $5, \
                        locale = $6, updated_at = now() \
                 FROM users u WHERE u.preferences_id = p.id AND u.id = $1 AND u.is_active AND p.xmin::text = $7 \
                 RETURNING p.* \
             ), \
             released AS ( \
                 UPDATE held_messages SET release_at = now() \
                 WHERE user_id = $1 AND release_at > now() AND EXISTS (SELECT 1 FROM changed) \
             )",
            concat!("SELECT ", stored_preferences!("changed"), " AS preferences, $1::uuid AS user_id FROM changed"),
        )
        .audited(audit),
        &[
            param::uuid(user),
            param::boolean(preferences.email),
            param::boolean(preferences.push),
            param::json(&categories),
            quiet_hours,
            param::opt_text(preferences.locale.as_ref().map(|l| l.as_ref().to_owned())),
            param::text(version),
        ],
    )
    .map(|row: Option<Replaced>| row.map(|r| r.preferences))
}

/// Releases the user's held messages again, after [`replace`] returned:
/// a hold the worker was committing while `replace` waited for the row
/// (the worker holds it `FOR SHARE` while it writes a hold) is not in
/// `replace`'s snapshot, so its row kept the end of the old window. This
/// statement's snapshot is taken after `replace` finished, so it sees it.
pub fn release_held(db: &Db, user: UserId) -> Result<u64, DbError> {
    db.execute(
        "UPDATE held_messages SET release_at = now() WHERE user_id = $1 AND release_at > now()",
        &[param::uuid(user)],
    )
}

#[derive(Deserialize)]
struct Replaced {
    preferences: NotificationPreferences,
}
