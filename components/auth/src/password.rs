//! Passwords after registration.
//!
//! - `POST /api/v1/auth/password-reset/`: always 200, whether or not the
//!   email has an account (no enumeration). For an active account, a single-use
//!   token valid for one hour is kept in Redis (as its digest) and sent in a
//!   `password_reset` email event; a newer token replaces an older one.
//! - `POST /api/v1/auth/password-reset/confirm/`: spends the token, sets the
//!   new password and revokes every refresh token of the user.
//! - `POST /api/v1/auth/password-change/` (authenticated): needs the current
//!   password; revokes every session and hands this client a fresh one.
//!
//! Both changes send a `password_changed` email event.

use component_kit::cache::Cache;
use component_kit::db::{Db, param};
use component_kit::sessions::{Session, insert_refresh_sql};
use component_kit::{ApiError, ApiRequest, Reply, auth, config, events, users};
use serde_json::json;
use spin_sdk::redis::RedisParameter;
use user_domain::hashing::{hash_password, verify_password};
use user_domain::password::PasswordContext;
use user_domain::secrets::{digest, random_token};
use user_domain::tokens::now_secs;
use user_domain::validation::Fields;
use user_domain::{Email, Password, UserId};

const RESET_TTL_SECS: u64 = 3600;

fn reset_key(token_digest: &str) -> String {
    format!("password_reset:{token_digest}")
}

fn reset_user_key(user: UserId) -> String {
    format!("password_reset_user:{user}")
}

fn require_cache(cache: Option<&Cache>) -> Result<&Cache, ApiError> {
    // Reset tokens live only in Redis; without it no reset can be honoured.
    cache.ok_or(ApiError::Unavailable("cache"))
}

pub fn request_reset(request: &ApiRequest, cache: Option<&Cache>) -> Result<Reply, ApiError> {
    let body = request.json()?;
    let mut fields = Fields::of(&body)?;
    let email = fields.required_str("email").and_then(|raw| fields.check("email", Email::parse(raw)));
    fields.finish()?;
    let email = email.ok_or_else(|| ApiError::internal("validated field missing"))?;
    crate::limits::reset_per_email()?.hit(cache, email.as_ref(), now_secs())?;
    let cache = require_cache(cache)?;

    let db = Db::connect()?;
    let found =
        db.query("SELECT id, name FROM users WHERE email = $1 AND is_active", &[param::text(email.as_ref())])?;
    if let Some(row) = found.rows().next() {
        let id: uuid::Uuid = row.get("id").ok_or_else(|| ApiError::internal("user without id"))?;
        let user = UserId::parse(&id.to_string()).map_err(ApiError::internal)?;
        let token = random_token().map_err(ApiError::internal)?;
        let token_digest = digest(&token);
        if let Some(previous) = cache.get(&reset_user_key(user)) {
            cache.del(&[reset_key(&String::from_utf8_lossy(&previous))]);
        }
        cache.set_ex(&reset_key(&token_digest), user.to_string().as_bytes(), RESET_TTL_SECS);
        cache.set_ex(&reset_user_key(user), token_digest.as_bytes(), RESET_TTL_SECS);
        let event = events::email(
            user,
            "password_reset",
            json!({"name": row.get::<String>("name"), "email": email.as_ref(), "reset_token": token, "expires_in": RESET_TTL_SECS}),
            &request.correlation_id,
        );
        db.execute(&events::insert_sql(1, 2, ""), &[param::text(config::var("email_queue")?), param::json(&event)])?;
    }
    Ok(Reply::ok(200, "If an account exists for this email, a password reset email is on its way", json!({})))
}

pub fn confirm_reset(request: &ApiRequest, cache: Option<&Cache>) -> Result<Reply, ApiError> {
    let body = request.json()?;
    let mut fields = Fields::of(&body)?;
    let token = fields.required_str("token");
    let password = fields.required_str("password");
    let confirm = fields.required_str("password_confirm");
    if let (Some(password), Some(confirm)) = (password, confirm)
        && password != confirm
    {
        fields.problem("password_confirm", "does not match the password");
    }
    fields.finish()?;
    let (Some(token), Some(password)) = (token, password) else {
        return Err(ApiError::internal("validated field missing"));
    };
    let cache = require_cache(cache)?;
    let invalid_token = || ApiError::validation_of("token", "is invalid, expired or already used");
    let key = reset_key(&digest(token));
    let user =
        cache.get(&key).and_then(|id| UserId::parse(&String::from_utf8_lossy(&id)).ok()).ok_or_else(invalid_token)?;

    let db = Db::connect()?;
    let found = db.query("SELECT email, name FROM users WHERE id = $1 AND is_active", &[param::uuid(user)])?;
    let row = found.rows().next().ok_or_else(invalid_token)?;
    let (email, name) = (row.get::<String>("email"), row.get::<String>("name"));
    let password = parse_new_password("password", password, email.as_deref(), name.as_deref())?;

    // Spend the token atomically: of two concurrent confirmations, one wins.
    let spent = cache_getdel(cache, &key)?;
    if spent.as_deref() != Some(user.to_string().as_bytes()) {
        return Err(invalid_token());
    }
    cache.del(&[reset_user_key(user)]);

    set_password(&db, request, user, &password, "password_reset", (name, email), None)?;
    Ok(Reply::ok(200, "Password has been reset; sign in with the new password", json!({})))
}

/// In one statement: stores the new password's hash, revokes every refresh
/// token of the user (recording `reason`), queues a `password_changed` email
/// and, when given, records the caller's new session.
fn set_password(
    db: &Db,
    request: &ApiRequest,
    user: UserId,
    password: &Password,
    reason: &str,
    (name, email): (Option<String>, Option<String>),
    session: Option<&Session>,
) -> Result<(), ApiError> {
    let hash = hash_password(password).map_err(ApiError::internal)?;
    let event = events::email(user, "password_changed", json!({"name": name, "email": email}), &request.correlation_id);
    let session_cte = match session {
        Some(_) => format!(
            ", session AS ({})",
            insert_refresh_sql("updated.id", "gen_random_uuid()", "NULL::uuid", "updated", 6)
        ),
        None => String::new(),
    };
    let mut params = vec![
        param::uuid(user),
        param::text(hash),
        param::text(reason),
        param::text(config::var("email_queue")?),
        param::json(&event),
    ];
    if let Some(session) = session {
        params.extend(session.refresh.params());
    }
    db.execute(
        &format!(
            "WITH updated AS (UPDATE users SET password = $2, updated_at = now() WHERE id = $1 RETURNING id), \
             revoked AS ( \
                 UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = $3 \
                 WHERE user_id = $1 AND revoked_at IS NULL \
             ), event AS ({}){session_cte} SELECT 1",
            events::insert_sql(4, 5, "FROM updated"),
        ),
        &params,
    )?;
    Ok(())
}

/// A new password for an account, judged against its email and name.
fn parse_new_password(field: &str, raw: &str, email: Option<&str>, name: Option<&str>) -> Result<Password, ApiError> {
    Password::parse(raw, &PasswordContext { email, name }).map_err(|problems| ApiError::validation_all(field, problems))
}

fn cache_getdel(cache: &Cache, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
    cache
        .execute("GETDEL", &[RedisParameter::Binary(key.as_bytes().to_vec())])
        .map(|results| match results.into_iter().next() {
            Some(spin_sdk::redis::RedisResult::Binary(value)) => Some(value),
            _ => None,
        })
        .ok_or(ApiError::Unavailable("cache"))
}

pub fn change(request: &ApiRequest) -> Result<Reply, ApiError> {
    let caller = auth::caller(request)?;
    let body = request.json()?;
    let mut fields = Fields::of(&body)?;
    let current = fields.required_str("current_password");
    let new = fields.required_str("new_password");
    fields.finish()?;
    let (Some(current), Some(new)) = (current, new) else {
        return Err(ApiError::internal("validated field missing"));
    };

    let db = Db::connect()?;
    let user = users::active(&db, caller.user_id)?;
    let stored = db.query("SELECT password FROM users WHERE id = $1", &[param::uuid(caller.user_id)])?;
    let stored = stored.rows().next().and_then(|row| row.get::<String>("password")).unwrap_or_default();
    if !verify_password(current, &stored) {
        return Err(ApiError::validation_of("current_password", "is incorrect"));
    }
    if current == new {
        return Err(ApiError::validation_of("new_password", "must differ from the current password"));
    }
    let password = parse_new_password("new_password", new, Some(&user.email), Some(&user.name))?;
    let session = Session::start(&config::tokens()?, caller.user_id, user.is_staff)?;
    set_password(
        &db,
        request,
        caller.user_id,
        &password,
        "password_changed",
        (Some(user.name), Some(user.email)),
        Some(&session),
    )?;
    Ok(Reply::ok(200, "Password changed; other sessions were signed out", session.to_json(None)))
}
