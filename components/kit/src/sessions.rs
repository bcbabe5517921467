//! Starting a session: an access token and a refresh token (recorded by the
//! operations in [`crate::store`]). Register, login, refresh and password
//! changes all hand out the same `data` shape, so it is built here once.

use serde_json::{Value, json};
use user_domain::tokens::{RefreshToken, TokenConfig, now_secs};
use user_domain::{ApiError, UserId};

/// A refresh token not yet stored.
pub struct NewRefresh {
    pub token: RefreshToken,
    /// Unix time at which it expires.
    pub expires_at: u64,
}

impl NewRefresh {
    pub fn generate(config: &TokenConfig) -> Result<Self, ApiError> {
        Ok(Self {
            token: RefreshToken::generate().map_err(ApiError::internal)?,
            expires_at: now_secs() + config.refresh_ttl_secs,
        })
    }
}

pub struct Session {
    pub access_token: String,
    pub refresh: NewRefresh,
    pub expires_in: u64,
}

impl Session {
    pub fn start(config: &TokenConfig, user: UserId, is_staff: bool) -> Result<Self, ApiError> {
        Self::with_refresh(config, user, is_staff, NewRefresh::generate(config)?)
    }

    pub fn with_refresh(
        config: &TokenConfig,
        user: UserId,
        is_staff: bool,
        refresh: NewRefresh,
    ) -> Result<Self, ApiError> {
        Ok(Self {
            access_token: config.issue_access(user, is_staff, now_secs()).map_err(ApiError::internal)?,
            refresh,
            expires_in: config.access_ttl_secs,
        })
    }

    /// `data` of register, login and refresh.
    pub fn to_json(&self, user: Option<Value>) -> Value {
        let mut data = json!({
            "access_token": self.access_token,
            "refresh_token": self.refresh.token.token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        });
        if let Some(user) = user {
            data["user"] = user;
        }
        data
    }
}

/// The `is_staff` claim of a new access token: staff, and, when
/// `mfa_required_for_staff` is on, with a confirmed second factor. (Staff
/// endpoints check the same rule in the database; the claim tells gateways.)
pub fn staff_claim(is_staff: bool, has_mfa: bool) -> Result<bool, ApiError> {
    Ok(is_staff && (has_mfa || !crate::config::staff_need_mfa()?))
}
