//! `POST /api/v1/auth/refresh/`: rotate a refresh token.
//!
//! Each refresh token is single use: presenting it spends it and issues a
//! child in the same session. A spent token presented again is either a
//! retry or a copy:
//! - within `refresh_reuse_interval_secs` (10) of the refresh that spent it,
//!   while that child is unused, it is a retry (a client that lost the
//!   answer, two tabs at once): the same child comes back, with a fresh
//!   access token, and the session goes on;
//! - otherwise it is a copy: the session ends, so neither the thief nor the
//!   victim can go on with it.
//!
//! A session may be issued `rate_limit_refresh_per_session_per_minute` (10)
//! tokens a minute; past it a refresh is 429.

use component_kit::cache::Cache;
use component_kit::db::Db;
use component_kit::model::audit::{Actor, AuditEvent, Outcome};
use component_kit::model::session::{Client, NewRefresh, Session, staff_claim};
use component_kit::router::Context;
use component_kit::store::sessions::{Reused, Rotation};
use component_kit::{ApiError, ApiRequest, Reply, config, revocation, store};
use user_domain::UserId;
use user_domain::amr::Methods;
use user_domain::api::requests::RefreshRequest;
use user_domain::api::responses::{SessionTokens, TokenType};
use user_domain::envelope::Replay;
use user_domain::sealed::{self, Purpose};
use user_domain::secrets::digest;
use user_domain::tokens::{Grant, TokenConfig, now_secs};

/// Whom the session's next access token is for: its user, staff power as
/// the session's methods allow, the session.
fn grant(user: UserId, is_staff: bool, session: uuid::Uuid, amr: &[String]) -> Result<Grant, ApiError> {
    let amr = Methods::from_names(amr);
    Ok(Grant { user, is_staff: staff_claim(is_staff, &amr)?, session, amr })
}

fn not_valid() -> ApiError {
    ApiError::Unauthorized("The refresh token is not valid")
}

pub fn handle(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let cache = ctx.cache();
    let RefreshRequest { refresh_token } = RefreshRequest::parse(&request.json()?)?;
    let hash = digest(&refresh_token);
    let db = Db::connect()?;
    let tokens = config::tokens()?;
    let secret = config::jwt_secret()?;

    // The new token is drawn before we know whose it is: the user and staff
    // flag come back from the same statement that spends the old one.
    let child = NewRefresh::generate(&tokens, Client::of(request))?;
    let child_sealed =
        sealed::seal(secret.as_bytes(), Purpose::RefreshChild, refresh_token.as_bytes(), child.token.token.as_bytes())
            .map_err(ApiError::internal)?;
    let per_minute = config::limits::refresh_per_session_per_minute()?;
    match store::sessions::rotate(&db, &hash, &child, &child_sealed, per_minute)? {
        Rotation::Rotated(rotated) => {
            let grant = grant(rotated.user_id, rotated.is_staff, rotated.session_id, &rotated.amr)?;
            let session = Session::with_refresh(&tokens, grant, child)?;
            Ok(Reply::ok(200, "Token refreshed", session.tokens(None)).replayed(Replay::WhileSessionLives(session.id)))
        }
        Rotation::Throttled => {
            let now = now_secs();
            Err(ApiError::RateLimited { limit: per_minute, retry_after: 60, reset: now + 60 })
        }
        Rotation::NotLive => {
            let reused = store::sessions::reused(&db, &hash)?.ok_or_else(not_valid)?;
            retry_or_copy(request, cache, &db, &tokens, secret.as_bytes(), &refresh_token, reused)
        }
    }
}

/// A spent token presented again: the same child for a retry within the
/// reuse interval, the end of its session for a copy.
fn retry_or_copy(
    request: &ApiRequest,
    cache: Option<&Cache>,
    db: &Db,
    tokens: &TokenConfig,
    secret: &[u8],
    presented: &str,
    reused: Reused,
) -> Result<Reply, ApiError> {
    let interval = config::refresh_reuse_interval_secs()?;
    let within = reused.spent_secs_ago >= 0.0 && reused.spent_secs_ago < interval as f64;
    let child = reused
        .child_sealed
        .as_deref()
        .filter(|_| within && reused.child_live)
        .and_then(|sealed| sealed::open(secret, Purpose::RefreshChild, presented.as_bytes(), sealed).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok());
    if let Some(child) = child {
        let grant = grant(reused.user_id, reused.is_staff, reused.session_id, &reused.amr)?;
        let access_token = tokens.issue_access(&grant, now_secs()).map_err(ApiError::internal)?;
        let answer = SessionTokens {
            user: None,
            access_token,
            refresh_token: child,
            token_type: TokenType::Bearer,
            expires_in: tokens.access_ttl_secs,
        };
        return Ok(Reply::ok(200, "Token refreshed", answer).replayed(Replay::WhileSessionLives(reused.session_id)));
    }
    let audit = AuditEvent::new(request, "auth.refresh_reuse_detected", Actor::Anonymous)?
        .outcome(Outcome::Denied)
        .subject(reused.user_id)
        .details(serde_json::json!({"session": reused.session_id, "spent_secs_ago": reused.spent_secs_ago.round()}));
    let ended = store::sessions::end_reused(db, reused.session_id, &audit)?;
    revocation::announce(cache, &request.correlation_id, &ended.users, &ended.sessions);
    Err(not_valid())
}
