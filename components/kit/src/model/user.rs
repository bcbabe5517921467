//! The user record as the API shows it. `store::users` reads it (one
//! definition of its columns, never the password hash) and this module
//! shows it: to the caller, to staff, to other services.

use chrono::{DateTime, SecondsFormat, Utc};
use user_domain::UserId;
use user_domain::api::responses::UserView;

use user_domain::preferences::{ChannelSwitches, NotificationPreferences};

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct UserRecord {
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub push_token: Option<String>,
    pub email_verified: bool,
    pub is_active: bool,
    pub is_staff: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login: Option<DateTime<Utc>>,
    /// As stored: only what the user set (`NotificationPreferences::effective`
    /// spells out every configured category).
    pub preferences: NotificationPreferences,
}

impl UserRecord {
    /// The user object of the API (`User` in the OpenAPI document).
    pub fn view(&self) -> UserView {
        UserView {
            id: self.id,
            name: self.name.clone(),
            email: self.email.clone(),
            push_token: self.push_token.clone(),
            preferences: ChannelSwitches { email: self.preferences.email, push: self.preferences.push },
            email_verified: self.email_verified,
            is_active: self.is_active,
            is_staff: self.is_staff,
            created_at: timestamp(&self.created_at),
            updated_at: timestamp(&self.updated_at),
            last_login: self.last_login.as_ref().map(timestamp),
        }
    }
}

/// RFC 3339 in UTC with microseconds, as PostgreSQL keeps them.
pub fn timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The current time in RFC 3339, from the WASI wall clock.
pub fn now_rfc3339() -> String {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    chrono::DateTime::from_timestamp(since_epoch.as_secs() as i64, since_epoch.subsec_nanos())
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}
