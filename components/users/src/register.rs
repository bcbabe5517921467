//! `POST /api/v1/users/`: create an account and start its first session.
//!
//! The user, its preferences, its first refresh token and the verification
//! email event are written by one SQL statement, so they exist together or
//! not at all; a taken email (case-insensitive, since emails are stored
//! lower-cased) is a 409.

use component_kit::audit::{Actor, AuditEvent};
use component_kit::cache::Cache;
use component_kit::db::Db;
use component_kit::events::Event;
use component_kit::rate_limit::Limit;
use component_kit::sessions::{Client, Session};
use component_kit::store::{self, users::NewAccount, users::Registered};
use component_kit::users::Preferences;
use component_kit::{ApiError, ApiRequest, Reply, config};
use serde_json::json;
use user_domain::hashing::hash_password;
use user_domain::password::PasswordContext;
use user_domain::secrets::{digest, random_token};
use user_domain::tokens::now_secs;
use user_domain::validation::{Fields, Patch};
use user_domain::{Email, Password, PushToken, UserId, UserName};

struct NewUser {
    name: UserName,
    email: Email,
    password: Password,
    push_token: Option<PushToken>,
    preferences: Preferences,
}

fn parse(body: &serde_json::Value) -> Result<NewUser, ApiError> {
    let mut fields = Fields::of(body)?;
    let name = fields.required_str("name").and_then(|raw| fields.check("name", UserName::parse(raw)));
    let email = fields.required_str("email").and_then(|raw| fields.check("email", Email::parse(raw)));
    let password = fields.required_str("password").and_then(|raw| {
        let context =
            PasswordContext { email: email.as_ref().map(AsRef::as_ref), name: name.as_ref().map(AsRef::as_ref) };
        fields.check_all("password", Password::parse(raw, &context))
    });
    let push_token = match fields.optional_str("push_token") {
        Patch::Value(raw) => fields.check("push_token", PushToken::parse(raw)),
        Patch::Absent | Patch::Null => None,
    };
    let (mut email_enabled, mut push_enabled) = (true, true);
    if let Some(preferences) = fields.optional_object("preferences") {
        for (key, target) in [("email", &mut email_enabled), ("push", &mut push_enabled)] {
            match preferences.get(key) {
                None | Some(serde_json::Value::Null) => {}
                Some(serde_json::Value::Bool(value)) => *target = *value,
                Some(_) => fields.problem(&format!("preferences.{key}"), "must be true or false"),
            }
        }
    }
    fields.finish()?;
    match (name, email, password) {
        (Some(name), Some(email), Some(password)) => {
            let preferences = Preferences { email: email_enabled, push: push_enabled };
            Ok(NewUser { name, email, password, push_token, preferences })
        }
        _ => Err(ApiError::internal("validation passed without every required field")),
    }
}

/// Registrations per client address per minute (`rate_limit_register_per_minute`).
fn register_per_address() -> Result<Limit, ApiError> {
    Ok(Limit { scope: "register_ip", max: config::parsed("rate_limit_register_per_minute")?, window_secs: 60 })
}

pub fn handle(request: &ApiRequest, cache: Option<&Cache>) -> Result<Reply, ApiError> {
    let usage = register_per_address()?.hit(cache, request.client_ip(), now_secs())?;
    let new_user = parse(&request.json()?)?;
    let db = Db::connect()?;
    let mut reply = create(&db, request, new_user)?;
    if let Some(usage) = usage {
        for (name, value) in usage.headers() {
            reply = reply.with_header(name, value);
        }
    }
    Ok(reply)
}

fn create(db: &Db, request: &ApiRequest, new_user: NewUser) -> Result<Reply, ApiError> {
    let tokens = config::tokens()?;
    let password_hash = hash_password(&new_user.password).map_err(ApiError::internal)?;
    let id = UserId::new();
    let session = Session::start(&tokens, id, false, Client::of(request))?;
    let verification_token = random_token().map_err(ApiError::internal)?;
    let welcome = Event::email_to_user(
        id,
        "email_verification",
        json!({"name": new_user.name.as_ref(), "email": new_user.email.as_ref(), "verification_token": verification_token}),
        &request.correlation_id,
    )?;
    let account = NewAccount {
        id,
        name: &new_user.name,
        email: &new_user.email,
        password_hash: &password_hash,
        push_token: new_user.push_token.as_ref(),
        preferences: new_user.preferences,
        verification_digest: &digest(&verification_token),
        welcome: &welcome,
        session: &session,
    };
    let audit = AuditEvent::new(request, "user.registered", Actor::User(id));
    match store::users::register(db, &account, &audit)? {
        Registered::Created(user) => Ok(Reply::ok(201, "User registered", session.to_json(Some(user.to_json())))),
        Registered::EmailTaken => Err(ApiError::Conflict("A user with this email already exists")),
    }
}
