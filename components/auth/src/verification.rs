//! Email verification: `POST /api/v1/auth/verify-email/` spends the token
//! from the verification email; `POST /api/v1/auth/verify-email/resend/`
//! (authenticated) issues a new one. Only the token's digest is stored, and
//! a new token replaces the old one.

use component_kit::db::Db;
use component_kit::model::audit::{Actor, AuditEvent};
use component_kit::model::event::Event;
use component_kit::rate_limit::Limit;
use component_kit::router::Context;
use component_kit::user_cache;
use component_kit::{ApiError, ApiRequest, Reply, store};
use serde_json::json;
use user_domain::api::requests::TokenRequest;
use user_domain::api::responses::EmailVerification;
use user_domain::secrets::{digest, random_token};
use user_domain::tokens::now_secs;

/// Resends per user per hour.
const RESEND_LIMIT: Limit = Limit { scope: "verify_resend", max: 5, window_secs: 3600 };

pub fn verify(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let cache = ctx.cache();
    let TokenRequest { token } = TokenRequest::parse(&request.json()?)?;
    let db = Db::connect()?;
    let audit = AuditEvent::new(request, "auth.email_verified", Actor::Owner)?;
    let user = store::users::verify_email(&db, &digest(&token), &audit)?
        .ok_or_else(|| ApiError::validation_of("token", "is invalid, expired or already used"))?;
    user_cache::invalidate(cache, user);
    Ok(Reply::ok(200, "Email verified", EmailVerification { email_verified: true }))
}

pub fn resend(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let cache = ctx.cache();
    let caller = ctx.caller()?;
    RESEND_LIMIT.hit(cache, &caller.user_id.to_string(), now_secs())?;
    let (db, user) = ctx.account()?;
    if user.email_verified {
        return Err(ApiError::Conflict("The email address is already verified"));
    }
    let token = random_token().map_err(ApiError::internal)?;
    let email = Event::email_to_user(
        caller.user_id,
        "email_verification",
        json!({"name": user.name, "email": user.email, "verification_token": token}),
        request,
    )?;
    store::users::renew_verification(&db, caller.user_id, &digest(&token), &email)?;
    Ok(Reply::ok(200, "Verification email sent", EmailVerification { email_verified: false }))
}
