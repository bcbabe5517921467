//! Passwordless sign-in with a code sent by email (issue 21).
//!
//! - `POST /api/v1/auth/email-code/`: 202 whether or not the email has an
//!   account, after the same work: one statement stores the code's keyed
//!   digest and queues the `email_code` email only for an active account.
//!   Limited per email and per client address (an IPv6 client by its /64).
//! - `POST /api/v1/auth/email-code/verify/`: the email and the code trade
//!   for a session signed in by `email` (or, for an account with a second
//!   factor, a challenge for `POST /api/v1/auth/login/mfa/`). Signing in
//!   this way verifies the email. A wrong, used or expired code and an
//!   unknown email are the same 401; wrong codes count against the code's
//!   five tries and against the account's failure allowance, as wrong
//!   passwords do, and the logins-per-address limit applies.
//!
//! Codes live in PostgreSQL, not Redis: a sign-in must not depend on the
//! cache being up, and erasing an account removes its code by cascade.

use component_kit::db::Db;
use component_kit::model::audit::{Actor, AuditEvent, Outcome};
use component_kit::model::event::Event;
use component_kit::rate_limit;
use component_kit::router::Context;
use component_kit::store::email_codes::{self, Spent};
use component_kit::{ApiError, ApiRequest, Reply, config, store};
use serde_json::json;
use user_domain::amr::{Method, Methods};
use user_domain::api::requests::{EmailCodeRequest, EmailCodeVerifyRequest};
use user_domain::api::responses::Empty;
use user_domain::email_code::{EmailCode, TTL_SECS};
use user_domain::envelope::Replay;
use user_domain::tokens::now_secs;
use user_domain::{Email, UserId};

/// `POST /api/v1/auth/email-code/`.
pub fn request_code(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let cache = ctx.cache();
    let EmailCodeRequest { email } = EmailCodeRequest::parse(&request.json()?)?;
    let now = now_secs();
    rate_limit::email_code_per_address()?.hit_address(cache, request, now)?;
    rate_limit::email_code_per_email()?.hit(cache, email.as_ref(), now)?;

    let code = EmailCode::generate().map_err(ApiError::internal)?;
    let code_hash = code.digest(&config::jwt_secret()?, email.as_ref());
    // The user id and name are filled in by the statement, from the account.
    let notice = Event::email_to_user(
        UserId::new(),
        "email_code",
        json!({"name": "", "email": email.as_ref(), "code": code.as_str(), "expires_in": TTL_SECS}),
        request,
    )?;
    let audit = AuditEvent::new(request, "auth.email_code_sent", Actor::Anonymous)?;
    let db = Db::connect()?;
    email_codes::issue(&db, &email, &code_hash, TTL_SECS, &notice, &audit)?;
    Ok(Reply::ok(202, "If an account exists for this email, a sign-in code is on its way", Empty {}))
}

/// `POST /api/v1/auth/email-code/verify/`.
pub fn verify_code(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let cache = ctx.cache();
    let now = now_secs();
    let usage = rate_limit::login_per_address()?.hit_address(cache, request, now)?;
    let EmailCodeVerifyRequest { email, code } = EmailCodeVerifyRequest::parse(&request.json()?)?;
    // A malformed email has no account and a malformed code is a wrong one:
    // both are the same 401 as a wrong code, after the same checks.
    let account_key = email.trim().to_lowercase();
    let failures = rate_limit::login_failures_per_account()?;
    failures.hit(cache, &account_key, now)?;
    let Some(email) = Email::parse(&email).ok() else { return Err(ApiError::InvalidCredentials) };
    let code_hash = match EmailCode::parse(&code) {
        Some(code) => code.digest(&config::jwt_secret()?, email.as_ref()),
        // Matches no stored digest (those are 64 hex digits), but still
        // counts a wrong try against the account's live code.
        None => "not-a-code".to_owned(),
    };

    let db = Db::connect()?;
    let user = match email_codes::spend(&db, &email, &code_hash)? {
        Spent::SignedIn(user) => user,
        Spent::Wrong(user) => {
            failed(request, &db, Some(user), "wrong_code")?;
            return Err(ApiError::InvalidCredentials);
        }
        Spent::NoCode => {
            failed(request, &db, None, "no_code")?;
            return Err(ApiError::InvalidCredentials);
        }
    };
    // Codes are sent to active accounts only, but one may have been
    // deactivated (or erased) since.
    let user = store::users::by_id(&db, user)?.ok_or(ApiError::InvalidCredentials)?;
    if !user.is_active {
        failed(request, &db, Some(user.id), "deactivated")?;
        return Err(ApiError::Forbidden("This account is deactivated"));
    }
    let mut reply = if store::mfa::is_confirmed(&db, user.id)? {
        // As after a password: the failure count stays until the second
        // factor passes too.
        Reply::ok(200, "A second factor is required", crate::signin::challenge(&db, &user, Method::Email)?)
            .replayed(Replay::Never)
    } else {
        failures.reset(cache, &account_key, now);
        crate::signin::start_session(request, cache, &db, &user, Methods::of(&[Method::Email]))?
    };
    if let Some(usage) = usage {
        for (name, value) in usage.headers() {
            reply = reply.with_header(name, value);
        }
    }
    Ok(reply)
}

/// Records a sign-in with a code that did not happen, and why (no code, no email).
fn failed(request: &ApiRequest, db: &Db, subject: Option<UserId>, reason: &str) -> Result<(), ApiError> {
    let mut event = AuditEvent::new(request, "auth.login_failed", Actor::Anonymous)?
        .outcome(Outcome::Failure)
        .details(json!({"reason": reason, "method": "email"}));
    event.subject = subject;
    Ok(store::audit::record(db, &event)?)
}
