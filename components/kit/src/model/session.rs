//! Starting a session: an access token and a refresh token (recorded by the
//! operations in [`crate::store`]). A session is a row of `sessions` with
//! its refresh tokens, and how it was signed in (`amr`). Its id is drawn
//! here, so the access token can name it (`sid`): a token of an ended
//! session is refused, and the user can see which session is the current
//! one. Register, login, refresh and password changes all hand out the same
//! `data` shape, built here once.

use user_domain::amr::Methods;
use user_domain::api::responses::{SessionInfo, SessionTokens, TokenType, UserView};
use user_domain::tokens::{Grant, RefreshToken, TokenConfig, now_secs};
use user_domain::{ApiError, UserId};

use crate::request::ApiRequest;

/// Where a session is used from, as its owner sees it in the session list.
#[derive(Debug, Clone)]
pub struct Client {
    /// The `User-Agent`, trimmed, control characters as spaces, at most
    /// [`MAX_DEVICE_CHARS`] characters.
    pub device: Option<String>,
    pub address: String,
}

pub const MAX_DEVICE_CHARS: usize = 200;

impl Client {
    pub fn of(request: &ApiRequest) -> Self {
        let device = request
            .header("user-agent")
            .map(|agent| {
                let agent = agent.trim();
                agent.chars().map(|c| if c.is_control() { ' ' } else { c }).take(MAX_DEVICE_CHARS).collect::<String>()
            })
            .map(|agent| agent.trim().to_owned())
            .filter(|agent| !agent.is_empty());
        Self { device, address: request.client_ip().to_owned() }
    }
}

/// A refresh token not yet stored, with the client it goes to.
pub struct NewRefresh {
    pub token: RefreshToken,
    /// Unix time at which it expires.
    pub expires_at: u64,
    pub client: Client,
}

impl NewRefresh {
    pub fn generate(config: &TokenConfig, client: Client) -> Result<Self, ApiError> {
        Ok(Self {
            token: RefreshToken::generate().map_err(ApiError::internal)?,
            expires_at: now_secs() + config.refresh_ttl_secs,
            client,
        })
    }
}

pub struct Session {
    pub access_token: String,
    pub refresh: NewRefresh,
    /// The session's id (`sid` in its access tokens).
    pub id: uuid::Uuid,
    /// How it was signed in.
    pub amr: Methods,
    pub expires_in: u64,
}

impl Session {
    /// A new session for `client`, signed in by `amr`.
    pub fn start(
        config: &TokenConfig,
        user: UserId,
        is_staff: bool,
        amr: Methods,
        client: Client,
    ) -> Result<Self, ApiError> {
        let refresh = NewRefresh::generate(config, client)?;
        let grant = Grant { user, is_staff, session: uuid::Uuid::new_v4(), amr };
        Self::with_refresh(config, grant, refresh)
    }

    /// The session of `grant` goes on with `refresh` (a rotation).
    pub fn with_refresh(config: &TokenConfig, grant: Grant, refresh: NewRefresh) -> Result<Self, ApiError> {
        let access_token = config.issue_access(&grant, now_secs()).map_err(ApiError::internal)?;
        Ok(Self { access_token, refresh, id: grant.session, amr: grant.amr, expires_in: config.access_ttl_secs })
    }

    /// `data` of register and login (with the user), refresh and password change.
    pub fn tokens(&self, user: Option<UserView>) -> SessionTokens {
        SessionTokens {
            user,
            access_token: self.access_token.clone(),
            refresh_token: self.refresh.token.token.clone(),
            token_type: TokenType::Bearer,
            expires_in: self.expires_in,
        }
    }
}

/// The `is_staff` claim of a new access token: staff, and, when
/// `mfa_required_for_staff` is on, in a session that proved a second factor
/// (its `amr`). Staff endpoints check the same rule against the database;
/// the claim tells gateways.
pub fn staff_claim(is_staff: bool, amr: &Methods) -> Result<bool, ApiError> {
    Ok(is_staff && (amr.is_multi_factor() || !crate::config::staff_need_mfa()?))
}

/// A session as the session lists show it; `current` is the caller's own
/// (the `sid` of the access token presented).
pub fn describe(session: &ActiveSession, current: Option<uuid::Uuid>) -> SessionInfo {
    SessionInfo {
        id: session.id,
        device: session.device.clone(),
        client_address: session.client_address.clone(),
        created_at: super::user::timestamp(&session.created_at),
        last_used_at: super::user::timestamp(&session.last_used_at),
        current: current == Some(session.id),
        amr: session.amr.clone(),
    }
}

/// A session as its owner (or staff) sees it, described by its newest token.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
pub struct ActiveSession {
    pub id: uuid::Uuid,
    pub device: Option<String>,
    pub client_address: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: chrono::DateTime<chrono::Utc>,
    pub amr: Vec<String>,
}
