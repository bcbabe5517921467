//! Two-factor sign-in with TOTP (RFC 6238) and recovery codes.
//!
//! - `POST /api/v1/auth/mfa/totp/` (authenticated, with the current
//!   password): a new pending secret, with its `otpauth://` URI for an
//!   authenticator app.
//! - `POST /api/v1/auth/mfa/totp/confirm/` with a current code: turns it on,
//!   answers 10 recovery codes, shown this once (only digests are kept), and
//!   ends every other session of the account.
//! - `DELETE /api/v1/auth/mfa/totp/` with the password and a current code:
//!   turns it off and ends every session.
//! - `POST /api/v1/auth/mfa/recovery-codes/` with the password and a code:
//!   replaces the recovery codes.
//! - `POST /api/v1/auth/login/mfa/` with the challenge from `login` and a
//!   code (TOTP or recovery): completes the sign-in; the session's `amr` is
//!   `pwd` and `otp`, which staff powers may require.
//!
//! Secrets are sealed under the `mfa_key` variable, bound to their user;
//! `mfa_previous_keys` keeps earlier keys opening during a rotation. A
//! TOTP code is accepted one step either side of now and never twice (its
//! step is spent). Wrong codes, like wrong passwords, count against the
//! account's failure allowance, counted before the check.

use component_kit::cache::Cache;
use component_kit::db::Db;
use component_kit::model::audit::{Actor, AuditEvent, Outcome};
use component_kit::model::event::Event;
use component_kit::model::user::UserRecord;
use component_kit::rate_limit;
use component_kit::router::Context;
use component_kit::{ApiError, ApiRequest, Reply, config, revocation, store};
use serde_json::json;
use user_domain::amr::{Method, Methods};
use user_domain::api::requests::{CodeRequest, MfaLoginRequest, PasswordAndCodeRequest, PasswordRequest};
use user_domain::api::responses::{MfaEnabled, MfaEnrolment, MfaState, RecoveryCodes};
use user_domain::sealed::{Purpose, SealedUnder};
use user_domain::secrets::{digest, random_bytes};
use user_domain::tokens::now_secs;
use user_domain::totp::{DIGITS, PERIOD_SECS, Secret};

const RECOVERY_CODES: usize = 10;
/// The name authenticator apps show beside the account.
const ISSUER: &str = "User Service";

fn seal_secret(user: &UserRecord, secret: &Secret) -> Result<String, ApiError> {
    config::mfa_keys()?
        .seal(Purpose::TotpSecret, user.id.to_string().as_bytes(), secret.as_bytes())
        .map_err(ApiError::internal)
}

/// The user's TOTP secret. One sealed under an earlier key (`mfa_previous_keys`)
/// is sealed again under `mfa_key` as it is opened, unless it changed
/// meanwhile: a rotation completes by itself for everyone who signs in.
fn open_secret(db: &Db, user: &UserRecord, sealed_secret: &str) -> Result<Secret, ApiError> {
    let keys = config::mfa_keys()?;
    let binding = user.id.to_string();
    let (plain, under) = keys.open(Purpose::TotpSecret, binding.as_bytes(), sealed_secret).map_err(|e| {
        ApiError::internal(format!("TOTP secret of {} (sealed under a key not configured?): {e}", user.id))
    })?;
    if under == SealedUnder::Previous {
        let resealed = keys.seal(Purpose::TotpSecret, binding.as_bytes(), &plain).map_err(ApiError::internal)?;
        store::mfa::reseal(db, user.id, sealed_secret, &resealed)?;
    }
    Ok(Secret::from_bytes(plain))
}

/// Recovery codes as shown (`abcde-fghij`, 50 bits each) and their digests.
fn recovery_codes() -> Result<(Vec<String>, Vec<String>), ApiError> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut shown = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let bytes = random_bytes::<10>().map_err(ApiError::internal)?;
        let chars: String = bytes.iter().map(|b| ALPHABET[usize::from(b % 32)] as char).collect();
        shown.push(format!("{}-{}", &chars[..5], &chars[5..]));
    }
    let digests = shown.iter().map(|code| recovery_digest(code)).collect();
    Ok((shown, digests))
}

/// Recovery codes are compared without case, dashes or spaces.
fn recovery_digest(code: &str) -> String {
    let normal: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_lowercase();
    digest(&format!("recovery-code:{normal}"))
}

fn is_totp_code(code: &str) -> bool {
    let code = code.trim();
    code.len() == DIGITS as usize && code.bytes().all(|b| b.is_ascii_digit())
}

fn invalid_code() -> ApiError {
    ApiError::Unauthorized("The code is not valid")
}

/// A current TOTP code of the user's confirmed factor, spending its step.
fn check_totp(db: &Db, user: &UserRecord, code: &str) -> Result<(), ApiError> {
    let factor = store::mfa::factor(db, user.id)?.filter(|f| f.confirmed).ok_or_else(invalid_code)?;
    let step = open_secret(db, user, &factor.secret_sealed)?.verify(code, now_secs()).ok_or_else(invalid_code)?;
    if store::mfa::spend_step(db, user.id, step)? { Ok(()) } else { Err(invalid_code()) }
}

/// The password and a TOTP code, for turning the factor off or replacing
/// recovery codes. Both count against the account's failure allowance.
fn check_password_and_code(
    db: &Db,
    cache: Option<&Cache>,
    user: &UserRecord,
    password: &str,
    code: &str,
) -> Result<(), ApiError> {
    crate::signin::confirm_password_and(cache, db, user, password, || check_totp(db, user, code))
}

/// Reads `{password, code}`.
fn password_and_code(request: &ApiRequest) -> Result<(String, String), ApiError> {
    let PasswordAndCodeRequest { password, code } = PasswordAndCodeRequest::parse(&request.json()?)?;
    Ok((password, code))
}

/// Starts an enrolment. The current password is required, as for any new
/// factor: a stolen access token alone must not bind the thief's
/// authenticator. A wrong one counts against the failure allowance.
pub fn enrol(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let cache = ctx.cache();
    let (db, user) = ctx.account()?;
    let PasswordRequest { password } = PasswordRequest::parse(&request.json()?)?;
    // Without a key nothing can be sealed: say so before the password is judged.
    config::mfa_keys()?;
    crate::signin::confirm_password(cache, &db, &user, &password)?;
    let secret = Secret::generate().map_err(ApiError::internal)?;
    let audit = AuditEvent::new(request, "auth.mfa_enrolment_started", Actor::User(user.id))?;
    if !store::mfa::start_enrolment(&db, user.id, &seal_secret(&user, &secret)?, &audit)? {
        return Err(ApiError::Conflict("Two-factor sign-in is already on"));
    }
    Ok(Reply::ok(
        200,
        "Scan the URI with an authenticator app, then confirm with a code",
        MfaEnrolment {
            secret: secret.to_base32(),
            otpauth_uri: secret.uri(ISSUER, &user.email),
            algorithm: "SHA1".to_owned(),
            digits: DIGITS,
            period: PERIOD_SECS,
        },
    ))
}

/// Turns the pending factor on, and ends every other session of the
/// account: whoever holds them signed in without it.
pub fn confirm(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let cache = ctx.cache();
    let signed = ctx.signed_in()?;
    let (db, user) = (signed.db, signed.user);
    let CodeRequest { code } = CodeRequest::parse(&request.json()?)?;
    let factor = store::mfa::factor(&db, user.id)?.ok_or(ApiError::Conflict("Start an enrolment first"))?;
    if factor.confirmed {
        return Err(ApiError::Conflict("Two-factor sign-in is already on"));
    }
    let step = open_secret(&db, &user, &factor.secret_sealed)?
        .verify(&code, now_secs())
        .ok_or_else(|| ApiError::validation_of("code", "is not the current code"))?;
    let (shown, digests) = recovery_codes()?;
    let audit = AuditEvent::new(request, "auth.mfa_enabled", Actor::User(user.id))?;
    let ended = store::mfa::confirm(&db, user.id, step, &digests, signed.session, &audit)?
        .ok_or(ApiError::Conflict("Two-factor sign-in is already on"))?;
    revocation::announce(cache, &request.correlation_id, &ended.users, &ended.sessions);
    Ok(Reply::ok(
        200,
        "Two-factor sign-in is on; keep the recovery codes somewhere safe, they are shown only once",
        MfaEnabled { enabled: true, recovery_codes: shown },
    ))
}

pub fn disable(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let cache = ctx.cache();
    let (db, user) = ctx.account()?;
    let (password, code) = password_and_code(request)?;
    check_password_and_code(&db, cache, &user, &password, &code)?;
    let ended =
        store::mfa::disable(&db, user.id, &AuditEvent::new(request, "auth.mfa_disabled", Actor::User(user.id))?)?;
    revocation::announce(cache, &request.correlation_id, &ended.users, &ended.sessions);
    Ok(Reply::ok(200, "Two-factor sign-in is off; every session was signed out", MfaState { enabled: false }))
}

pub fn replace_recovery_codes(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let cache = ctx.cache();
    let (db, user) = ctx.account()?;
    let (password, code) = password_and_code(request)?;
    check_password_and_code(&db, cache, &user, &password, &code)?;
    let (shown, digests) = recovery_codes()?;
    let audit = AuditEvent::new(request, "auth.mfa_recovery_codes_replaced", Actor::User(user.id))?;
    store::mfa::replace_recovery_codes(&db, user.id, &digests, &audit)?;
    Ok(Reply::ok(200, "New recovery codes; the old ones no longer work", RecoveryCodes { recovery_codes: shown }))
}

/// `POST /api/v1/auth/login/mfa/`.
pub fn complete_login(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let cache = ctx.cache();
    let now = now_secs();
    rate_limit::login_per_address()?.hit_address(cache, request, now)?;
    let MfaLoginRequest { challenge_token, code } = MfaLoginRequest::parse(&request.json()?)?;
    let code = code.as_str();
    let challenge = digest(&challenge_token);
    let db = Db::connect()?;
    let invalid_challenge = || ApiError::Unauthorized("The sign-in challenge is not valid or has expired");
    let (owner, first_factor) = store::mfa::challenge_owner(&db, &challenge)?.ok_or_else(invalid_challenge)?;
    // The account must still exist (401) and be active (403), as for a password.
    let user = store::users::by_id(&db, owner)?.ok_or(ApiError::Unauthorized("The account no longer exists"))?;
    if !user.is_active {
        return Err(ApiError::Forbidden("This account is deactivated"));
    }

    let failures = rate_limit::login_failures_per_account()?;
    failures.hit(cache, &user.email, now)?;
    let checked = if is_totp_code(code) {
        check_totp(&db, &user, code)
    } else {
        let notice = Event::email_to_user(
            user.id,
            "mfa_recovery_code_used",
            json!({"name": user.name, "email": user.email}),
            request,
        )?;
        let audit = AuditEvent::new(request, "auth.mfa_recovery_code_used", Actor::User(user.id))?;
        match store::mfa::spend_recovery_code(&db, user.id, &recovery_digest(code), &notice, &audit)? {
            true => Ok(()),
            false => Err(invalid_code()),
        }
    };
    if let Err(error) = checked {
        let failed = AuditEvent::new(request, "auth.mfa_failed", Actor::User(user.id))?.outcome(Outcome::Failure);
        store::audit::record(&db, &failed)?;
        return Err(error);
    }
    if !store::mfa::spend_challenge(&db, &challenge)? {
        return Err(invalid_challenge());
    }
    failures.reset(cache, &user.email, now);
    // The first step (the password, or an emailed code) and this one.
    crate::signin::start_session(request, cache, &db, &user, Methods::of(&[first_factor, Method::Otp]))
}
