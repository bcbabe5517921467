//! The `user_preferences` table, reached through its user.

use serde::Deserialize;

use crate::db::{Db, DbError, Rows, param};
use crate::model::audit::AuditEvent;
use crate::model::user::Preferences;
use user_domain::UserId;

/// A user's preferences, whether the account is active and whether the
/// reader's session lives.
#[derive(Debug, Deserialize)]
pub struct Stored {
    pub preferences: Preferences,
    pub is_active: bool,
    /// The session given is one of the user's and has not ended (true when
    /// none was given: a service reads).
    pub session_live: bool,
}

/// The user's preferences, or `None` if there is no such user; with the
/// state of `session` (the owner's, when the owner reads) in the same round trip.
pub fn of(db: &Db, user: UserId, session: Option<uuid::Uuid>) -> Result<Option<Stored>, DbError> {
    db.first(
        Rows::select(
            "SELECT jsonb_build_object('email', p.email, 'push', p.push) AS preferences, u.is_active, \
                    ($2::uuid IS NULL OR EXISTS ( \
                        SELECT 1 FROM sessions s WHERE s.id = $2 AND s.user_id = u.id AND s.ended_at IS NULL \
                    )) AS session_live \
             FROM users u JOIN user_preferences p ON p.id = u.preferences_id WHERE u.id = $1",
        ),
        &[param::uuid(user), session.map_or(spin_sdk::pg4::ParameterValue::DbNull, param::uuid)],
    )
}

/// Changes the given flags of an active user's preferences; `None` keeps one.
/// Returns them as stored, or `None` if the user is gone or deactivated.
pub fn update(
    db: &Db,
    user: UserId,
    email: Option<bool>,
    push: Option<bool>,
    audit: &AuditEvent,
) -> Result<Option<Preferences>, DbError> {
    db.first(
        Rows::select(
            "UPDATE user_preferences p SET email = COALESCE($2, p.email), push = COALESCE($3, p.push), \
                    updated_at = now() \
             FROM users u WHERE u.preferences_id = p.id AND u.id = $1 AND u.is_active RETURNING p.email, p.push",
        )
        .audited(audit),
        &[param::uuid(user), param::opt_boolean(email), param::opt_boolean(push)],
    )
}
