//! `POST /api/v1/users/`: create an account and start its first session.
//!
//! The user, its preferences, its first refresh token and the verification
//! email event are written by one SQL statement, so they exist together or
//! not at all; a taken email (case-insensitive, since emails are stored
//! lower-cased) is a 409.

use component_kit::cache::Cache;
use component_kit::db::{Db, DbError, param};
use component_kit::rate_limit::Limit;
use component_kit::sessions::{Session, insert_refresh_sql};
use component_kit::users::{COLUMNS, UserRecord};
use component_kit::{ApiError, ApiRequest, Reply, config, events};
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
    email_enabled: bool,
    push_enabled: bool,
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
            Ok(NewUser { name, email, password, push_token, email_enabled, push_enabled })
        }
        _ => Err(ApiError::internal("validation passed without every required field")),
    }
}

/// Registrations per client address per minute (`rate_limit_register_per_minute`).
fn register_per_address() -> Result<Limit, ApiError> {
    Ok(Limit { scope: "register_ip", max: config::parsed("rate_limit_register_per_minute")?, window_secs: 60 })
}

pub fn handle(request: &ApiRequest, cache: Option<&Cache>) -> Result<Reply, ApiError> {
    let usage = register_per_address()?.hit(cache, &request.client_ip, now_secs())?;
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
    let user_id = UserId::new();
    let session = Session::start(&tokens, user_id, false)?;
    let verification_token = random_token().map_err(ApiError::internal)?;
    let event = events::email(
        user_id,
        "email_verification",
        json!({"name": new_user.name.as_ref(), "email": new_user.email.as_ref(), "verification_token": verification_token}),
        &request.correlation_id,
    );

    let [refresh_hash, refresh_expires] = session.refresh.params();
    let sql = format!(
        "WITH p AS ( \
             INSERT INTO user_preferences (email, push) VALUES ($1, $2) RETURNING id, email, push \
         ), u AS ( \
             INSERT INTO users (id, email, name, password, push_token, preferences_id, \
                                email_verification_token, email_verification_expires_at) \
             SELECT $3, $4, $5, $6, $7, p.id, $8, now() + interval '24 hours' FROM p \
             RETURNING * \
         ), event AS ({event}), session AS ({session}) \
         SELECT {COLUMNS} FROM u, p",
        event = events::insert_sql(9, 10, "FROM u"),
        session = insert_refresh_sql("u.id", "gen_random_uuid()", "NULL::uuid", "u", 11)
    );
    let result = db.query(
        &sql,
        &[
            param::boolean(new_user.email_enabled),
            param::boolean(new_user.push_enabled),
            param::uuid(user_id),
            param::text(new_user.email.as_ref()),
            param::text(new_user.name.as_ref()),
            param::text(password_hash),
            param::opt_text(new_user.push_token.map(PushToken::into_inner)),
            param::text(digest(&verification_token)),
            param::text(config::var("email_queue")?),
            param::json(&event),
            refresh_hash,
            refresh_expires,
        ],
    );
    let rows = match result {
        Ok(rows) => rows,
        Err(DbError::UniqueViolation { .. }) => {
            return Err(ApiError::Conflict("A user with this email already exists"));
        }
        Err(other) => return Err(other.into()),
    };
    let user = UserRecord::first(&rows)?.ok_or_else(|| ApiError::internal("insert returned no user"))?;
    Ok(Reply::ok(201, "User registered", session.to_json(Some(user.to_json()))))
}
