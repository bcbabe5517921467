//! Passwords after registration.
//!
//! - `POST /api/v1/auth/password-reset/`: always 200, whether or not the
//!   email has an account, after the same work (no enumeration, by answer
//!   or by timing). For an active account, a single-use token valid for one
//!   hour is kept in Redis (as its digest) and sent in a `password_reset`
//!   email event; a newer token replaces an older one.
//! - `POST /api/v1/auth/password-reset/confirm/`: spends the token, sets the
//!   new password and revokes every refresh token of the user.
//! - `POST /api/v1/auth/password-change/` (authenticated): needs the current
//!   password; revokes every session and hands this client a fresh one.
//!
//! Both changes send a `password_changed` email event.

use component_kit::cache::Cache;
use component_kit::db::Db;
use component_kit::model::audit::{Actor, AuditEvent};
use component_kit::model::event::Event;
use component_kit::model::session::{Client, Session, staff_claim};
use component_kit::rate_limit;
use component_kit::router::Context;
use component_kit::store::{self, users::Contact, users::PasswordChange};
use component_kit::user_cache;
use component_kit::{ApiError, ApiRequest, Reply, config, revocation};
use serde_json::json;
use spin_sdk::redis::RedisParameter;
use user_domain::api::requests::{PasswordChangeRequest, ResetConfirmRequest, ResetRequest};
use user_domain::api::responses::Empty;
use user_domain::envelope::Replay;
use user_domain::hashing::{hash_password, verify_password};
use user_domain::password::PasswordContext;
use user_domain::secrets::{digest, random_token};
use user_domain::tokens::now_secs;
use user_domain::{Password, UserId};

const RESET_TTL_SECS: u64 = 3600;

fn reset_key(token_digest: &str) -> String {
    format!("password_reset:{token_digest}")
}

/// The digest of the newest token asked for an email (its digest too: no
/// address sits in Redis in clear), so a newer request voids the older token.
fn reset_email_key(email: &str) -> String {
    format!("password_reset_email:{}", digest(email))
}

/// What a token of a request for an email without an active account
/// resolves to: nothing (no such token is ever sent anywhere).
const NO_ACCOUNT: &[u8] = b"-";

fn require_cache(cache: Option<&Cache>) -> Result<&Cache, ApiError> {
    // Reset tokens live only in Redis; without it no reset can be honoured.
    cache.ok_or(ApiError::Unavailable("cache"))
}

/// Asks for a reset email. Known and unknown emails get the same answer and
/// cost the same: the same Redis commands, one database statement that
/// queues the email only if an active account has the address, the same
/// token drawn. Limited per email and per client address (an IPv6 client
/// by its /64), so one client cannot mail every registered address.
pub fn request_reset(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let cache = ctx.cache();
    let ResetRequest { email } = ResetRequest::parse(&request.json()?)?;
    let now = now_secs();
    rate_limit::reset_per_address()?.hit_address(cache, request, now)?;
    rate_limit::reset_per_email()?.hit(cache, email.as_ref(), now)?;
    let cache = require_cache(cache)?;

    let token = random_token().map_err(ApiError::internal)?;
    let token_digest = digest(&token);
    let email_key = reset_email_key(email.as_ref());
    let previous = cache.get(&email_key);
    // The user id and name are filled in by the statement, from the account.
    let notice = Event::email_to_user(
        UserId::new(),
        "password_reset",
        json!({"name": "", "email": email.as_ref(), "reset_token": token, "expires_in": RESET_TTL_SECS}),
        request,
    )?;
    let db = Db::connect()?;
    let account = store::users::reset_requested(&db, &email, &notice)?;
    // A newer request voids the older token (for an unknown email there is
    // none, and the key deleted is one that never existed).
    let voided = previous.map_or_else(|| digest(&token_digest), |p| String::from_utf8_lossy(&p).into_owned());
    cache.del(&[reset_key(&voided)]);
    let owner = account.map(|id| id.to_string().into_bytes()).unwrap_or_else(|| NO_ACCOUNT.to_vec());
    cache.set_ex(&reset_key(&token_digest), &owner, RESET_TTL_SECS);
    cache.set_ex(&email_key, token_digest.as_bytes(), RESET_TTL_SECS);
    Ok(Reply::ok(200, "If an account exists for this email, a password reset email is on its way", Empty {}))
}

pub fn confirm_reset(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let cache = ctx.cache();
    let ResetConfirmRequest { token, password, .. } = ResetConfirmRequest::parse(&request.json()?)?;
    let cache = require_cache(cache)?;
    let invalid_token = || ApiError::validation_of("token", "is invalid, expired or already used");
    let key = reset_key(&digest(&token));
    let user =
        cache.get(&key).and_then(|id| UserId::parse(&String::from_utf8_lossy(&id)).ok()).ok_or_else(invalid_token)?;

    let db = Db::connect()?;
    let account = store::users::active_contact(&db, user)?.ok_or_else(invalid_token)?;
    let password = parse_new_password("password", &password, Some(&account.email), Some(&account.name))?;

    // Spend the token atomically: of two concurrent confirmations, one wins.
    let spent = cache_getdel(cache, &key)?;
    if spent.as_deref() != Some(user.to_string().as_bytes()) {
        return Err(invalid_token());
    }
    cache.del(&[reset_email_key(&account.email)]);

    set_password(&db, Some(cache), request, &account, &password, "password_reset", None)?;
    Ok(Reply::ok(200, "Password has been reset; sign in with the new password", Empty {}))
}

/// Stores the new password's hash, revokes every refresh token of the user
/// (recording `reason`), queues a `password_changed` email and, when given,
/// records the caller's new session: all in one statement.
fn set_password(
    db: &Db,
    cache: Option<&Cache>,
    request: &ApiRequest,
    account: &Contact,
    password: &Password,
    reason: &str,
    session: Option<&Session>,
) -> Result<(), ApiError> {
    let hash = hash_password(password).map_err(ApiError::internal)?;
    let notice = Event::email_to_user(
        account.id,
        "password_changed",
        json!({"name": account.name, "email": account.email}),
        request,
    )?;
    let change = PasswordChange { password_hash: &hash, reason, notice: &notice, new_session: session };
    let action = if session.is_some() { "auth.password_changed" } else { "auth.password_reset" };
    let audit = AuditEvent::new(request, action, Actor::User(account.id))?;
    let ended = store::users::set_password(db, account.id, &change, &audit)?;
    // Every other session's access tokens stop working too.
    revocation::announce(cache, &request.correlation_id, &ended.users, &ended.sessions);
    // `updated_at` changed, and the cached profile shows it.
    user_cache::invalidate_profile(cache, account.id);
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

pub fn change(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let cache = ctx.cache();
    let signed = ctx.signed_in()?;
    let (db, user) = (signed.db, signed.user);
    let PasswordChangeRequest { current_password, new_password } = PasswordChangeRequest::parse(&request.json()?)?;
    let (current, new) = (current_password.as_str(), new_password.as_str());

    // A stolen access token must not allow unlimited guesses of the current
    // password: wrong ones count against the same allowance as logins, and
    // the attempt is counted before the hash is checked, so a burst of
    // concurrent guesses cannot all slip under the limit.
    let now = now_secs();
    let failures = rate_limit::login_failures_per_account()?;
    failures.hit(cache, &user.email, now)?;
    let stored = store::users::password_hash(&db, user.id)?.unwrap_or_default();
    if !verify_password(current, &stored) {
        return Err(ApiError::validation_of("current_password", "is incorrect"));
    }
    failures.reset(cache, &user.email, now);
    if current == new {
        return Err(ApiError::validation_of("new_password", "must differ from the current password"));
    }
    let password = parse_new_password("new_password", new, Some(&user.email), Some(&user.name))?;
    // The caller's session goes on as a new one, signed in as it was.
    let staff = staff_claim(user.is_staff, &signed.amr)?;
    let session = Session::start(&config::tokens()?, user.id, staff, signed.amr.clone(), Client::of(request))?;
    let account = Contact { id: user.id, name: user.name, email: user.email };
    set_password(&db, cache, request, &account, &password, "password_changed", Some(&session))?;
    Ok(Reply::ok(200, "Password changed; other sessions were signed out", session.tokens(None))
        .replayed(Replay::WhileSessionLives(session.id)))
}
