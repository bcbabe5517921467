//! What both steps of a sign-in end with, shared by the first steps
//! (`login`, `email_code`, `passkeys`) and the second-factor step (`mfa`):
//! a challenge for the second step, or the new session itself; and the
//! current password a signed-in caller confirms before changing a factor.

use component_kit::cache::Cache;
use component_kit::db::Db;
use component_kit::model::audit::{Actor, AuditEvent};
use component_kit::model::session::{Client, Session, staff_claim};
use component_kit::model::user::UserRecord;
use component_kit::{ApiError, ApiRequest, Reply, config, rate_limit, store, user_cache};
use serde_json::json;
use user_domain::amr::{Method, Methods};
use user_domain::api::responses::MfaChallenge;
use user_domain::envelope::Replay;
use user_domain::hashing::verify_password;
use user_domain::secrets::{digest, random_token};
use user_domain::tokens::now_secs;

/// How long a sign-in challenge waits for its second factor.
pub const CHALLENGE_TTL_SECS: u64 = 300;

/// Starts the second step of a sign-in: the challenge `login` (and a sign-in
/// with an emailed code) answers with, remembering how the first step was
/// made.
pub fn challenge(db: &Db, user: &UserRecord, first_factor: Method) -> Result<MfaChallenge, ApiError> {
    let token = random_token().map_err(ApiError::internal)?;
    store::mfa::create_challenge(db, user.id, &digest(&token), CHALLENGE_TTL_SECS, first_factor)?;
    Ok(MfaChallenge { mfa_required: true, challenge_token: token, expires_in: CHALLENGE_TTL_SECS })
}

/// A signed-in user's new session, signed in by `amr`, and `last_login`.
/// With `mfa_required_for_staff`, a session without a second factor gets a
/// token without staff power (the staff endpoints check the same rule).
/// The answer holds the session's tokens: an `X-Request-ID` repeat gets it
/// again only while the session lives.
pub fn start_session(
    request: &ApiRequest,
    cache: Option<&Cache>,
    db: &Db,
    user: &UserRecord,
    amr: Methods,
) -> Result<Reply, ApiError> {
    let staff = staff_claim(user.is_staff, &amr)?;
    let audit = AuditEvent::new(request, "auth.login", Actor::User(user.id))?
        .details(json!({"second_factor": amr.is_multi_factor(), "amr": amr.names()}));
    let session = Session::start(&config::tokens()?, user.id, staff, amr, Client::of(request))?;
    let user = store::users::record_login(db, user.id, &session, &audit)?.ok_or(ApiError::InvalidCredentials)?;
    // `last_login` changed, and the cached profile shows it.
    user_cache::invalidate_profile(cache, user.id);
    Ok(Reply::ok(200, "Login successful", session.tokens(Some(user.view())))
        .replayed(Replay::WhileSessionLives(session.id)))
}

/// The signed-in caller's current password, asked before a new factor is
/// added or one is removed: a stolen access token alone must not do either.
/// Counted against the account's failure allowance before it is checked (a
/// wrong one is a 400 on `password`); a right one clears the count.
pub fn confirm_password(cache: Option<&Cache>, db: &Db, user: &UserRecord, password: &str) -> Result<(), ApiError> {
    confirm_password_and(cache, db, user, password, || Ok(()))
}

/// [`confirm_password`] with a further check (a TOTP code) that must pass
/// too before the count is cleared: a right password alone must not give
/// the code a fresh allowance.
pub fn confirm_password_and(
    cache: Option<&Cache>,
    db: &Db,
    user: &UserRecord,
    password: &str,
    further: impl FnOnce() -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let now = now_secs();
    let failures = rate_limit::login_failures_per_account()?;
    failures.hit(cache, &user.email, now)?;
    let stored = store::users::password_hash(db, user.id)?.unwrap_or_default();
    if !verify_password(password, &stored) {
        return Err(ApiError::validation_of("password", "is incorrect"));
    }
    further()?;
    failures.reset(cache, &user.email, now);
    Ok(())
}
