//! The user record as the API shows it. Every query that returns users
//! selects [`COLUMNS`] from `users u JOIN user_preferences p`, so the shape
//! is defined once; the password hash is never among them.

use chrono::{NaiveDateTime, SecondsFormat};
use serde_json::{Value, json};
use spin_sdk::pg4::{Row, RowSet};
use user_domain::{ApiError, UserId};

pub const COLUMNS: &str = "u.id, u.name, u.email, u.push_token, u.email_verified, u.is_active, u.is_staff, \
     u.created_at, u.updated_at, u.last_login, p.email AS pref_email, p.push AS pref_push";

#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub push_token: Option<String>,
    pub email_verified: bool,
    pub is_active: bool,
    pub is_staff: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_login: Option<NaiveDateTime>,
    pub preferences: Preferences,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Preferences {
    pub email: bool,
    pub push: bool,
}

fn missing(column: &str) -> ApiError {
    ApiError::internal(format!("user row lacks a readable `{column}`"))
}

impl UserRecord {
    pub fn from_row(row: &Row) -> Result<Self, ApiError> {
        let id: uuid::Uuid = row.get("id").ok_or_else(|| missing("id"))?;
        Ok(Self {
            id: UserId::parse(&id.to_string()).map_err(|_| missing("id"))?,
            name: row.get("name").ok_or_else(|| missing("name"))?,
            email: row.get("email").ok_or_else(|| missing("email"))?,
            push_token: row.get::<Option<String>>("push_token").ok_or_else(|| missing("push_token"))?,
            email_verified: row.get("email_verified").ok_or_else(|| missing("email_verified"))?,
            is_active: row.get("is_active").ok_or_else(|| missing("is_active"))?,
            is_staff: row.get("is_staff").ok_or_else(|| missing("is_staff"))?,
            created_at: row.get("created_at").ok_or_else(|| missing("created_at"))?,
            updated_at: row.get("updated_at").ok_or_else(|| missing("updated_at"))?,
            last_login: row.get::<Option<NaiveDateTime>>("last_login").ok_or_else(|| missing("last_login"))?,
            preferences: Preferences {
                email: row.get("pref_email").ok_or_else(|| missing("pref_email"))?,
                push: row.get("pref_push").ok_or_else(|| missing("pref_push"))?,
            },
        })
    }

    /// The first user of a result, if any.
    pub fn first(rows: &RowSet) -> Result<Option<Self>, ApiError> {
        rows.rows().next().map(|row| Self::from_row(&row)).transpose()
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "push_token": self.push_token,
            "preferences": {"email": self.preferences.email, "push": self.preferences.push},
            "email_verified": self.email_verified,
            "is_active": self.is_active,
            "is_staff": self.is_staff,
            "created_at": timestamp(&self.created_at),
            "updated_at": timestamp(&self.updated_at),
            "last_login": self.last_login.as_ref().map(timestamp),
        })
    }
}

/// RFC 3339 in UTC with microseconds, as PostgreSQL keeps them.
pub fn timestamp(at: &NaiveDateTime) -> String {
    at.and_utc().to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The current time in RFC 3339, from the WASI wall clock.
pub fn now_rfc3339() -> String {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    chrono::DateTime::from_timestamp(since_epoch.as_secs() as i64, since_epoch.subsec_nanos())
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The user with this id, if there is one.
pub fn load(db: &crate::db::Db, id: UserId) -> Result<Option<UserRecord>, ApiError> {
    let rows = db.query(
        &format!("SELECT {COLUMNS} FROM users u JOIN user_preferences p ON p.id = u.preferences_id WHERE u.id = $1"),
        &[crate::db::param::uuid(id)],
    )?;
    UserRecord::first(&rows)
}

/// The caller's own account, which must still exist (401) and be active (403).
pub fn active(db: &crate::db::Db, id: UserId) -> Result<UserRecord, ApiError> {
    let user = load(db, id)?.ok_or(ApiError::Unauthorized("The account no longer exists"))?;
    if user.is_active { Ok(user) } else { Err(ApiError::Forbidden("This account is deactivated")) }
}

/// Drops every cached record of the user, so a change is seen at once by the
/// preferences endpoints and by the worker.
pub fn invalidate(cache: Option<&crate::cache::Cache>, id: UserId) {
    if let Some(cache) = cache {
        cache.del(&user_domain::cache_keys::all_for_user(id));
    }
}
