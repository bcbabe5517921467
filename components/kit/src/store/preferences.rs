//! The `user_preferences` table, reached through its user.

use crate::db::{Db, DbError, Rows, param};
use crate::users::Preferences;
use user_domain::UserId;

/// The user's preferences, or `None` if there is no such user.
pub fn of(db: &Db, user: UserId) -> Result<Option<Preferences>, DbError> {
    db.first(
        Rows::select(
            "SELECT p.email, p.push FROM users u JOIN user_preferences p ON p.id = u.preferences_id WHERE u.id = $1",
        ),
        &[param::uuid(user)],
    )
}

/// Changes the given flags of an active user's preferences; `None` keeps one.
/// Returns them as stored, or `None` if the user is gone or deactivated.
pub fn update(db: &Db, user: UserId, email: Option<bool>, push: Option<bool>) -> Result<Option<Preferences>, DbError> {
    db.first(
        Rows::select(
            "UPDATE user_preferences p SET email = COALESCE($2, p.email), push = COALESCE($3, p.push), \
                    updated_at = now() \
             FROM users u WHERE u.preferences_id = p.id AND u.id = $1 AND u.is_active RETURNING p.email, p.push",
        ),
        &[param::uuid(user), param::opt_boolean(email), param::opt_boolean(push)],
    )
}
