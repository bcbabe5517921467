//! Passkeys (WebAuthn, issue 21): registering one, signing in with one,
//! listing and removing them. The verification is `user_domain::webauthn`'s;
//! this module holds the ceremonies' order and the rules around them.
//!
//! - Registering needs the signed-in account's current password, as any
//!   new factor does (a stolen access token alone must not add the thief's
//!   authenticator); so does removing one. Both are announced to the
//!   account's email (`passkey_added`, `passkey_removed`).
//! - A challenge is taken before the credential answering it is judged: it
//!   serves one try, right or wrong, within five minutes.
//! - Sign-in options for an email look the same whether or not it has an
//!   account (stand-in credentials for one without passkeys), and every
//!   refused assertion is the same 401, its reason only in the audit trail.
//! - The account's failure allowance and deactivation apply as they do to
//!   the password. A passkey with user verification is two factors (`amr`
//!   `hwk` and `user`); without it, an account with TOTP still needs its code.

use component_kit::db::Db;
use component_kit::model::audit::{Actor, AuditEvent, Outcome};
use component_kit::model::event::Event;
use component_kit::rate_limit;
use component_kit::router::Context;
use component_kit::store::passkeys::{self, Purpose, Registered};
use component_kit::{ApiError, ApiRequest, Reply, config, store};
use serde_json::json;
use user_domain::UserId;
use user_domain::amr::{Method, Methods};
use user_domain::api::requests::{
    PasskeyLoginOptionsRequest, PasskeyLoginRequest, PasskeyRegisterRequest, PasswordRequest,
};
use user_domain::api::responses::{PasskeyOptions, PasskeyRemoved};
use user_domain::envelope::Replay;
use user_domain::tokens::now_secs;
use user_domain::webauthn::ceremony::{StoredPasskey, verify_assertion, verify_registration};
use user_domain::webauthn::options::{self, CHALLENGE_TTL_SECS, User};
use user_domain::webauthn::{Challenge, unb64};

/// Passkeys one account may keep.
const MAX_PASSKEYS: usize = 20;

/// The WebAuthn user handle of an account: its id's 16 bytes (random, and
/// no personal data, as §14.6.1 asks).
fn user_handle(user: UserId) -> Vec<u8> {
    user.as_uuid().as_bytes().to_vec()
}

fn new_challenge() -> Result<Challenge, ApiError> {
    Challenge::generate().map_err(ApiError::internal)
}

fn stored_challenge(text: &str) -> Result<Challenge, ApiError> {
    Challenge::from_b64(text).ok_or_else(|| ApiError::internal("a stored passkey challenge is not 32 bytes"))
}

/// `POST /api/v1/auth/passkeys/register/options/`.
pub fn register_options(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let (db, user) = ctx.account()?;
    let PasswordRequest { password } = PasswordRequest::parse(&request.json()?)?;
    let rp = config::relying_party()?;
    crate::signin::confirm_password(ctx.cache(), &db, &user, &password)?;
    let challenge = new_challenge()?;
    let id = passkeys::create_challenge(
        &db,
        Purpose::Register,
        &challenge.to_b64(),
        Some(user.id),
        false,
        CHALLENGE_TTL_SECS,
    )?;
    let handle = user_handle(user.id);
    let person = User { handle: &handle, name: &user.email, display_name: &user.name };
    let public_key = options::creation(&rp, &person, &challenge, &passkeys::descriptors(&db, user.id)?);
    Ok(Reply::ok(
        200,
        "Create the passkey with these options, then register it",
        PasskeyOptions { challenge_id: id, public_key },
    ))
}

/// `POST /api/v1/auth/passkeys/register/`.
pub fn register(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let (db, user) = ctx.account()?;
    let PasskeyRegisterRequest { challenge_id, credential, name } = PasskeyRegisterRequest::parse(&request.json()?)?;
    let rp = config::relying_party()?;
    let taken = passkeys::take_challenge(&db, challenge_id, Purpose::Register)?
        .filter(|taken| taken.user_id == Some(user.id))
        .ok_or_else(|| {
            ApiError::validation_of("challenge_id", "is not a live registration challenge of this account")
        })?;
    let new = match verify_registration(&rp, &stored_challenge(&taken.challenge)?, &credential) {
        Ok(new) => new,
        Err(refused) => {
            let event = AuditEvent::new(request, "auth.passkey_registration_failed", Actor::User(user.id))?
                .outcome(Outcome::Failure)
                .details(json!({"reason": refused.reason()}));
            store::audit::record(&db, &event)?;
            // The caller is the account's owner: the reason helps them, and
            // tells nothing about anyone else.
            return Err(ApiError::validation_of("credential", &format!("was refused ({})", refused.reason())));
        }
    };
    let audit = AuditEvent::new(request, "auth.passkey_registered", Actor::User(user.id))?.details(json!({
        "algorithm": new.algorithm,
        "user_verified": new.user_verified,
        "backed_up": new.backed_up,
    }));
    // The owner hears of every new way into the account.
    let notice = Event::email_to_user(
        user.id,
        "passkey_added",
        json!({"name": user.name, "email": user.email, "passkey": name.as_ref().map_or("Passkey", |n| n.as_ref())}),
        request,
    )?;
    match passkeys::register(&db, user.id, &new, name.as_ref(), MAX_PASSKEYS, &notice, &audit)? {
        Registered::Added(view) => Ok(Reply::ok(201, "Passkey registered", view)),
        Registered::Full => Err(ApiError::Conflict("An account keeps at most 20 passkeys; remove one first")),
        Registered::Duplicate => Err(ApiError::Conflict("This passkey is registered already")),
    }
}

/// `POST /api/v1/auth/passkeys/login/options/`.
pub fn login_options(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    rate_limit::passkey_options_per_address()?.hit_address(ctx.cache(), request, now_secs())?;
    let PasskeyLoginOptionsRequest { email } = PasskeyLoginOptionsRequest::parse(&request.json()?)?;
    let rp = config::relying_party()?;
    let db = Db::connect()?;
    let (owner, allowed) = match &email {
        None => (None, Vec::new()),
        Some(email) => {
            let owner = store::users::id_by_email(&db, email)?;
            let listed = match owner {
                Some(owner) => passkeys::descriptors(&db, owner)?,
                None => Vec::new(),
            };
            if listed.is_empty() {
                (owner, options::decoys(config::jwt_secret()?.as_bytes(), email.as_ref()))
            } else {
                (owner, listed)
            }
        }
    };
    let challenge = new_challenge()?;
    let id = passkeys::create_challenge(
        &db,
        Purpose::Login,
        &challenge.to_b64(),
        owner,
        email.is_some(),
        CHALLENGE_TTL_SECS,
    )?;
    Ok(Reply::ok(
        200,
        "Sign in with a passkey using these options",
        PasskeyOptions { challenge_id: id, public_key: options::request(&rp, &challenge, &allowed) },
    )
    .replayed(Replay::Never))
}

/// `POST /api/v1/auth/passkeys/login/`.
pub fn login(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let cache = ctx.cache();
    let now = now_secs();
    let usage = rate_limit::login_per_address()?.hit_address(cache, request, now)?;
    let PasskeyLoginRequest { challenge_id, credential } = PasskeyLoginRequest::parse(&request.json()?)?;
    let rp = config::relying_party()?;
    let db = Db::connect()?;
    let refuse = |subject: Option<UserId>, outcome: Outcome, reason: &str| -> Result<Reply, ApiError> {
        let mut event = AuditEvent::new(request, "auth.login_failed", Actor::Anonymous)?
            .outcome(outcome)
            .details(json!({"reason": reason, "method": "passkey"}));
        event.subject = subject;
        store::audit::record(&db, &event)?;
        Err(ApiError::InvalidCredentials)
    };

    let Some(taken) = passkeys::take_challenge(&db, challenge_id, Purpose::Login)? else {
        return refuse(None, Outcome::Failure, "no_challenge");
    };
    let found = match credential.credential_id() {
        Some(id) => passkeys::by_credential(&db, &id)?.map(|stored| (id, stored)),
        None => None,
    };
    let Some((credential_id, stored)) = found else {
        return refuse(None, Outcome::Failure, "unknown_credential");
    };
    // Options asked for an email allow only that account's passkeys.
    if taken.named && taken.user_id != Some(stored.user_id) {
        return refuse(Some(stored.user_id), Outcome::Failure, "not_allowed");
    }
    let Some(user) = store::users::by_id(&db, stored.user_id)? else {
        return refuse(None, Outcome::Failure, "unknown_credential");
    };
    let failures = rate_limit::login_failures_per_account()?;
    if let Err(locked) = failures.hit(cache, &user.email, now) {
        refuse(Some(user.id), Outcome::Denied, "failure_allowance_spent").ok();
        return Err(locked);
    }
    let judged = StoredPasskey {
        credential_id,
        cose_key: unb64(&stored.public_key).unwrap_or_default(),
        sign_count: u32::try_from(stored.sign_count).unwrap_or(u32::MAX),
        user_handle: user_handle(user.id),
    };
    let assertion = match verify_assertion(&rp, &stored_challenge(&taken.challenge)?, &credential, &judged) {
        Ok(assertion) => assertion,
        Err(refused) => return refuse(Some(user.id), Outcome::Failure, &refused.reason()),
    };
    if !user.is_active {
        refuse(Some(user.id), Outcome::Denied, "deactivated").ok();
        return Err(ApiError::Forbidden("This account is deactivated"));
    }
    // Judged against `stored.sign_count`: if another sign-in moved the
    // counter meanwhile, this one is a regression too.
    if !passkeys::record_use(&db, stored.id, stored.sign_count, assertion.sign_count.into(), assertion.backed_up)? {
        return refuse(Some(user.id), Outcome::Failure, "counter_regressed");
    }

    let mut reply = if assertion.user_verified {
        failures.reset(cache, &user.email, now);
        crate::signin::start_session(request, cache, &db, &user, Methods::of(&[Method::Hwk, Method::User]))?
    } else if store::mfa::is_confirmed(&db, user.id)? {
        Reply::ok(200, "A second factor is required", crate::signin::challenge(&db, &user, Method::Hwk)?)
            .replayed(Replay::Never)
    } else {
        failures.reset(cache, &user.email, now);
        crate::signin::start_session(request, cache, &db, &user, Methods::of(&[Method::Hwk]))?
    };
    if let Some(usage) = usage {
        for (name, value) in usage.headers() {
            reply = reply.with_header(name, value);
        }
    }
    Ok(reply)
}

/// `GET /api/v1/auth/passkeys/`.
pub fn list(_request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let (db, user) = ctx.account()?;
    Ok(Reply::ok(200, "Passkeys", passkeys::list(&db, user.id)?))
}

/// `DELETE /api/v1/auth/passkeys/{id}/`.
pub fn remove(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let not_found = || ApiError::NotFound("Passkey");
    let id = uuid::Uuid::parse_str(ctx.param(0)).map_err(|_| not_found())?;
    let (db, user) = ctx.account()?;
    let PasswordRequest { password } = PasswordRequest::parse(&request.json()?)?;
    crate::signin::confirm_password(ctx.cache(), &db, &user, &password)?;
    let audit = AuditEvent::new(request, "auth.passkey_removed", Actor::User(user.id))?.details(json!({"passkey": id}));
    // `passkey` (its name) is filled in by the statement.
    let notice = Event::email_to_user(
        user.id,
        "passkey_removed",
        json!({"name": user.name, "email": user.email, "passkey": ""}),
        request,
    )?;
    if !passkeys::remove(&db, user.id, id, &notice, &audit)? {
        return Err(not_found());
    }
    Ok(Reply::ok(200, "Passkey removed", PasskeyRemoved { id, removed: true }))
}
