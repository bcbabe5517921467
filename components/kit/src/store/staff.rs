//! Statements staff run on accounts: the list with its filters, changes to
//! another account (a deactivation ends its sessions), erasure.

use serde::Deserialize;
use user_domain::{UserId, UserName};

use super::sessions::end_sessions;
use super::users::{select_users, user_columns};
use crate::db::{Db, DbError, Rows, param};
use crate::model::audit::AuditEvent;
use crate::model::user::UserRecord;

/// The staff list's filters. `search` matches email or name, with the
/// caller's `%` and `_` taken literally.
pub struct Filter {
    pub search: Option<String>,
    pub is_active: Option<bool>,
}

impl Filter {
    fn params(&self) -> [spin_sdk::pg4::ParameterValue; 2] {
        let pattern = self
            .search
            .as_ref()
            .map(|s| format!("%{}%", s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
        [param::opt_text(pattern), param::opt_boolean(self.is_active)]
    }
}

#[derive(Deserialize)]
pub struct Page {
    pub total: u64,
    pub users: Vec<UserRecord>,
}

/// One page of users, newest first, and how many match in all.
pub fn page(db: &Db, filter: &Filter, limit: u64, offset: u64) -> Result<Page, DbError> {
    let [search, is_active] = filter.params();
    let page = db.first(
        Rows::with(
            "matching AS ( \
                 SELECT u.id FROM users u \
                 WHERE ($1::text IS NULL OR u.email ILIKE $1 OR u.name ILIKE $1) \
                   AND ($2::boolean IS NULL OR u.is_active = $2) \
             )",
            concat!(
                "SELECT (SELECT count(*) FROM matching) AS total, coalesce(( \
                     SELECT jsonb_agg(listed ORDER BY listed.created_at DESC, listed.id) FROM (",
                select_users!(),
                " WHERE u.id IN (SELECT id FROM matching) ORDER BY u.created_at DESC, u.id LIMIT $3 OFFSET $4 \
                     ) listed), '[]'::jsonb) AS users"
            ),
        ),
        &[search, is_active, param::int(limit as i64), param::int(offset as i64)],
    )?;
    page.ok_or_else(|| DbError::Decode("the page query returned no row".into()))
}

/// What staff may change of an account; `None` leaves a field as it is.
pub struct StaffChange {
    pub is_active: Option<bool>,
    pub is_staff: Option<bool>,
    pub name: Option<UserName>,
}

/// A staff change as applied: the account as it is now, and the sessions a
/// deactivation ended.
#[derive(Debug, Deserialize)]
pub struct StaffChanged {
    #[serde(flatten)]
    pub user: UserRecord,
    pub ended: Vec<uuid::Uuid>,
}

/// Applies a staff change; a deactivation also ends every session.
/// Returns the changed account, or `None` if there is no such user.
pub fn apply_staff_change(
    db: &Db,
    id: UserId,
    change: &StaffChange,
    audit: &AuditEvent,
) -> Result<Option<StaffChanged>, DbError> {
    db.first(
        Rows::with(
            concat!(
                "u AS ( \
                     UPDATE users SET is_active = COALESCE($2, is_active), is_staff = COALESCE($3, is_staff), \
                            name = COALESCE($4, name), updated_at = now() \
                     WHERE id = $1 RETURNING * \
                 ), ",
                end_sessions!("s.user_id IN (SELECT id FROM u WHERE NOT is_active)", "'deactivated_by_staff'")
            ),
            concat!(
                "SELECT ",
                user_columns!(),
                ", (SELECT coalesce(array_agg(id), '{}') FROM ended) AS ended \
                 FROM u JOIN user_preferences p ON p.id = u.preferences_id"
            ),
        )
        .audited(audit),
        &[
            param::uuid(id),
            param::opt_boolean(change.is_active),
            param::opt_boolean(change.is_staff),
            param::opt_text(change.name.as_ref().map(|n| n.as_ref().to_owned())),
        ],
    )
}

#[derive(Deserialize)]
struct Erased {
    sessions: Vec<uuid::Uuid>,
}

/// Erases an account and its preferences (its sessions go by cascade).
/// Returns the sessions that were live, or `None` if there was no such user.
pub fn erase(db: &Db, id: UserId, audit: &AuditEvent) -> Result<Option<Vec<uuid::Uuid>>, DbError> {
    let gone: Option<Erased> = db.first(
        Rows::with(
            "live AS (SELECT id FROM sessions WHERE user_id = $1 AND ended_at IS NULL), \
             gone AS (DELETE FROM users WHERE id = $1 RETURNING id, preferences_id), \
             prefs AS (DELETE FROM user_preferences WHERE id IN (SELECT preferences_id FROM gone))",
            "SELECT id, (SELECT coalesce(array_agg(id), '{}') FROM live) AS sessions FROM gone",
        )
        .audited(audit),
        &[param::uuid(id)],
    )?;
    Ok(gone.map(|g| g.sessions))
}
