//! Starting a session: an access token and a refresh token, and the SQL that
//! records the refresh token. Register, login and refresh all hand out the
//! same `data` shape, so it is built here once.

use serde_json::{Value, json};
use user_domain::tokens::{RefreshToken, TokenConfig, now_secs};
use user_domain::{ApiError, UserId};

pub struct Session {
    pub access_token: String,
    pub refresh: RefreshToken,
    pub expires_in: u64,
    /// Unix time at which the refresh token expires.
    pub refresh_expires_at: u64,
}

impl Session {
    pub fn start(config: &TokenConfig, user: UserId, is_staff: bool) -> Result<Self, ApiError> {
        let now = now_secs();
        Ok(Self {
            access_token: config.issue_access(user, is_staff, now).map_err(ApiError::internal)?,
            refresh: RefreshToken::generate().map_err(ApiError::internal)?,
            expires_in: config.access_ttl_secs,
            refresh_expires_at: now + config.refresh_ttl_secs,
        })
    }

    /// `data` of register, login and refresh.
    pub fn to_json(&self, user: Option<Value>) -> Value {
        let mut data = json!({
            "access_token": self.access_token,
            "refresh_token": self.refresh.token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        });
        if let Some(user) = user {
            data["user"] = user;
        }
        data
    }
}
