//! Email verification: `POST /api/v1/auth/verify-email/` spends the token
//! from the verification email; `POST /api/v1/auth/verify-email/resend/`
//! (authenticated) issues a new one. Only the token's digest is stored, and
//! a new token replaces the old one.

use component_kit::cache::Cache;
use component_kit::db::{Db, param};
use component_kit::rate_limit::Limit;
use component_kit::{ApiError, ApiRequest, Reply, auth, config, events, users};
use serde_json::json;
use user_domain::UserId;
use user_domain::cache_keys;
use user_domain::secrets::{digest, random_token};
use user_domain::tokens::now_secs;
use user_domain::validation::Fields;

/// Resends per user per hour.
const RESEND_LIMIT: Limit = Limit { scope: "verify_resend", max: 5, window_secs: 3600 };

pub fn verify(request: &ApiRequest, cache: Option<&Cache>) -> Result<Reply, ApiError> {
    let body = request.json()?;
    let mut fields = Fields::of(&body)?;
    let token = fields.required_str("token");
    fields.finish()?;
    let token = token.ok_or_else(|| ApiError::internal("validated field missing"))?;
    let db = Db::connect()?;
    let verified = db.query(
        "UPDATE users SET email_verified = true, email_verification_token = NULL, \
                email_verification_expires_at = NULL, updated_at = now() \
         WHERE email_verification_token = $1 AND email_verification_expires_at > now() RETURNING id",
        &[param::text(digest(token))],
    )?;
    let Some(id) = verified.rows().next().and_then(|row| row.get::<uuid::Uuid>("id")) else {
        return Err(ApiError::validation_of("token", "is invalid, expired or already used"));
    };
    if let (Some(cache), Ok(user)) = (cache, UserId::parse(&id.to_string())) {
        cache.del(&cache_keys::all_for_user(user));
    }
    Ok(Reply::ok(200, "Email verified", json!({"email_verified": true})))
}

pub fn resend(request: &ApiRequest, cache: Option<&Cache>) -> Result<Reply, ApiError> {
    let caller = auth::caller(request)?;
    RESEND_LIMIT.hit(cache, &caller.user_id.to_string(), now_secs())?;
    let db = Db::connect()?;
    let user = users::active(&db, caller.user_id)?;
    if user.email_verified {
        return Err(ApiError::Conflict("The email address is already verified"));
    }
    let token = random_token().map_err(ApiError::internal)?;
    let event = events::email(
        caller.user_id,
        "email_verification",
        json!({"name": user.name, "email": user.email, "verification_token": token}),
        &request.correlation_id,
    );
    db.execute(
        &format!(
            "WITH updated AS ( \
                 UPDATE users SET email_verification_token = $2, \
                        email_verification_expires_at = now() + interval '24 hours' \
                 WHERE id = $1 RETURNING id \
             ) {}",
            events::insert_sql(3, 4, "FROM updated")
        ),
        &[
            param::uuid(caller.user_id),
            param::text(digest(&token)),
            param::text(config::var("email_queue")?),
            param::json(&event),
        ],
    )?;
    Ok(Reply::ok(200, "Verification email sent", json!({"email_verified": false})))
}
