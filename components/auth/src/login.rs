//! `POST /api/v1/auth/login/`: trade an email and password for a session.
//!
//! An unknown email and a wrong password get the same 401 after the same
//! amount of work (a dummy hash is verified), so responses do not reveal who
//! has an account. Failures count against the account; once its allowance
//! is spent, even the right password gets 429 until the window passes. For
//! an account with two-factor sign-in, the right password answers a
//! challenge for `POST /api/v1/auth/login/mfa/` instead of a session.

use component_kit::db::Db;
use component_kit::model::audit::{Actor, AuditEvent, Outcome};
use component_kit::rate_limit;
use component_kit::router::Context;
use component_kit::{ApiError, ApiRequest, Reply, store};
use serde_json::json;
use user_domain::amr::{Method, Methods};
use user_domain::api::requests::LoginRequest;
use user_domain::envelope::Replay;
use user_domain::hashing::{verify_against_dummy, verify_password};
use user_domain::tokens::now_secs;
use user_domain::{Email, UserId};

pub fn handle(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let cache = ctx.cache();
    let now = now_secs();
    let usage = rate_limit::login_per_address()?.hit_address(cache, request, now)?;
    let LoginRequest { email, password } = LoginRequest::parse(&request.json()?)?;
    let (email, password) = (email.as_str(), password.as_str());

    // A malformed email cannot have an account; it fails like an unknown one.
    let account_key = email.trim().to_lowercase();
    // Counted before the password is checked: a burst of concurrent guesses
    // from many addresses cannot all pass a check made before any of them
    // was recorded. A success clears the count.
    let failures = rate_limit::login_failures_per_account()?;
    let email = Email::parse(email).ok();
    if let Err(locked) = failures.hit(cache, &account_key, now) {
        // Best effort: the lockout stands whether or not it could be recorded.
        let _ = Db::connect().and_then(|db| {
            let subject = match &email {
                Some(email) => store::users::id_by_email(&db, email)?,
                None => None,
            };
            failed_login(request, &db, subject, Outcome::Denied, "failure_allowance_spent")
        });
        return Err(locked);
    }

    let db = Db::connect()?;
    let found = match &email {
        Some(email) => store::users::credentials(&db, email)?,
        None => None,
    };
    let user = match found {
        Some(found) if verify_password(password, &found.password_hash) => found.user,
        Some(found) => {
            failed_login(request, &db, Some(found.user.id), Outcome::Failure, "wrong_password")?;
            return Err(ApiError::InvalidCredentials);
        }
        None => {
            verify_against_dummy(password);
            failed_login(request, &db, None, Outcome::Failure, "unknown_account")?;
            return Err(ApiError::InvalidCredentials);
        }
    };
    if !user.is_active {
        failed_login(request, &db, Some(user.id), Outcome::Denied, "deactivated")?;
        return Err(ApiError::Forbidden("This account is deactivated"));
    }

    let mut reply = if store::mfa::is_confirmed(&db, user.id)? {
        // The failure count stays until the second factor passes too:
        // clearing it here would give every correct password a fresh
        // allowance of code guesses. A challenge is single use and cheap to
        // issue again: a repeat with the same X-Request-ID gets a new one.
        Reply::ok(200, "A second factor is required", crate::signin::challenge(&db, &user, Method::Pwd)?)
            .replayed(Replay::Never)
    } else {
        failures.reset(cache, &account_key, now);
        crate::signin::start_session(request, cache, &db, &user, Methods::password())?
    };
    if let Some(usage) = usage {
        for (name, value) in usage.headers() {
            reply = reply.with_header(name, value);
        }
    }
    Ok(reply)
}

/// Records a sign-in that did not happen, and why (no secret, no email).
fn failed_login(
    request: &ApiRequest,
    db: &Db,
    subject: Option<UserId>,
    outcome: Outcome,
    reason: &str,
) -> Result<(), ApiError> {
    let mut event = AuditEvent::new(request, "auth.login_failed", Actor::Anonymous)?
        .outcome(outcome)
        .details(json!({"reason": reason}));
    event.subject = subject;
    Ok(store::audit::record(db, &event)?)
}
