//! `POST /api/v1/auth/logout/`: end a session (the refresh token's), or with
//! `all: true` every session of its user, which needs a live token. The
//! sessions' access tokens are refused from then on, as their refresh tokens are.
//! Logging out twice is fine; a token the service never issued is a 401.

use component_kit::db::Db;
use component_kit::model::audit::{Actor, AuditEvent};
use component_kit::router::Context;
use component_kit::store::{self, sessions::LogOut};
use component_kit::{ApiError, ApiRequest, Reply, revocation};
use serde_json::json;
use user_domain::api::requests::LogoutRequest;
use user_domain::api::responses::RevokedTokens;
use user_domain::secrets::digest;

pub fn handle(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let cache = ctx.cache();
    let LogoutRequest { refresh_token, all } = LogoutRequest::parse(&request.json()?)?;
    let all = all.unwrap_or(false);
    let hash = digest(&refresh_token);
    let db = Db::connect()?;
    let audit = AuditEvent::new(request, "auth.logout", Actor::Owner)?.details(json!({"all": all}));
    let ended = match store::sessions::log_out(&db, &hash, all, &audit)? {
        LogOut::Ended(ended) => ended,
        LogOut::Refused => return Err(ApiError::Unauthorized("The refresh token is not valid (or not live)")),
    };
    // Their access tokens stop working too, at once.
    revocation::announce(cache, &request.correlation_id, &ended.users, &ended.sessions);
    let message = if all { "Logged out of every session" } else { "Logged out" };
    Ok(Reply::ok(200, message, RevokedTokens { revoked_tokens: ended.revoked_tokens(), sessions_ended: ended.count() }))
}
