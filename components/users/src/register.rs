//! `POST /api/v1/users/`: create an account and start its first session.
//!
//! The user, its preferences, its first refresh token and the verification
//! email event are written by one SQL statement, so they exist together or
//! not at all; a taken email (case-insensitive, since emails are stored
//! lower-cased) is a 409.

use component_kit::cache::Cache;
use component_kit::db::Db;
use component_kit::model::audit::{Actor, AuditEvent};
use component_kit::model::event::Event;
use component_kit::model::session::{Client, Session};
use component_kit::rate_limit;
use component_kit::router::Context;
use component_kit::store::{self, users::NewAccount, users::Registered};
use component_kit::user_cache;
use component_kit::{ApiError, ApiRequest, Reply, config};
use serde_json::json;
use user_domain::UserId;
use user_domain::amr::Methods;
use user_domain::api::requests::RegisterRequest;
use user_domain::envelope::Replay;
use user_domain::hashing::hash_password;
use user_domain::preferences::NotificationPreferences;
use user_domain::secrets::{digest, random_token};
use user_domain::tokens::now_secs;

pub fn handle(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let usage = rate_limit::register_per_address()?.hit_address(ctx.cache(), request, now_secs())?;
    let new_user = RegisterRequest::parse(&request.json()?)?;
    let db = Db::connect()?;
    let mut reply = create(&db, request, ctx.cache(), new_user)?;
    if let Some(usage) = usage {
        for (name, value) in usage.headers() {
            reply = reply.with_header(name, value);
        }
    }
    Ok(reply)
}

fn create(db: &Db, request: &ApiRequest, cache: Option<&Cache>, new_user: RegisterRequest) -> Result<Reply, ApiError> {
    let tokens = config::tokens()?;
    let password_hash = hash_password(&new_user.password).map_err(ApiError::internal)?;
    let id = UserId::new();
    let session = Session::start(&tokens, id, false, Methods::password(), Client::of(request))?;
    let verification_token = random_token().map_err(ApiError::internal)?;
    let welcome = Event::email_to_user(
        id,
        "email_verification",
        json!({"name": new_user.name.as_ref(), "email": new_user.email.as_ref(), "verification_token": verification_token}),
        request,
    )?;
    let account = NewAccount {
        id,
        name: &new_user.name,
        email: &new_user.email,
        password_hash: &password_hash,
        push_token: new_user.push_token.as_ref(),
        preferences: NotificationPreferences::from(new_user.preferences.unwrap_or_default()),
        verification_digest: &digest(&verification_token),
        welcome: &welcome,
        session: &session,
    };
    let audit = AuditEvent::new(request, "user.registered", Actor::User(id))?;
    match store::users::register(db, &account, &audit)? {
        // The answer holds the session's tokens: a repeat gets it again only while the session lives.
        Registered::Created(created) => {
            // A token another account had moved to this one: its records change too.
            if let Some(previous) = created.moved_from {
                user_cache::invalidate(cache, previous);
            }
            Ok(Reply::ok(201, "User registered", session.tokens(Some(created.user.view())))
                .replayed(Replay::WhileSessionLives(session.id)))
        }
        Registered::EmailTaken => Err(ApiError::Conflict("A user with this email already exists")),
    }
}
