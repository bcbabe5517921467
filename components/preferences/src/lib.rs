//! # preferences component
//!
//! `GET`, `PATCH`, `PUT /api/v1/users/preferences/` for the caller, and
//! `GET /api/v1/users/{id}/preferences/` for services holding a service key.
//!
//! Reads go through Redis (`user_preferences:{id}`, one hour): the push and
//! email services ask before every notification, so most answers should not
//! touch PostgreSQL. Every change deletes the user's cached records (this
//! one and the worker's) so it is seen at once everywhere; a Redis outage
//! falls back to the database, never to an error. The owner's cached read
//! checks the token's session in the same round trip (`MGET entry mark`),
//! so an ended session's token is refused without the database too.

use component_kit::cache::Cache;
use component_kit::db::Db;
use component_kit::model::audit::{Actor, AuditEvent};
use component_kit::model::user::Preferences;
use component_kit::reply::respond;
use component_kit::router::{self, Context, Handler};
use component_kit::{ApiError, ApiRequest, Reply, revocation, store, user_cache};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;
use user_domain::api::endpoints::{Component, Op};
use user_domain::api::requests::{PreferencesPatch, PreferencesReplace};
use user_domain::{UserId, cache_keys};

#[http_component]
async fn handle(request: IncomingRequest) -> Response {
    let request = ApiRequest::read(request).await;
    let result = router::serve(&request, Component::Preferences, handler);
    respond(&request, result)
}

/// The handler of each of this component's endpoints.
fn handler(op: Op) -> Option<Handler> {
    Some(match op {
        Op::GetPreferences => |_, ctx| {
            let caller = ctx.caller()?;
            Ok(Reply::ok(200, "Preferences", read(ctx.cache(), caller.user_id, Reader::Owner(caller.session))?))
        },
        Op::PatchPreferences => |request, ctx| update(request, ctx, false),
        Op::PutPreferences => |request, ctx| update(request, ctx, true),
        // The service key was checked by the router (the endpoint is `Service`'s).
        Op::ServicePreferences => {
            |_, ctx| Ok(Reply::ok(200, "Preferences", read(ctx.cache(), ctx.user_id(0)?, Reader::Service)?))
        }
        _ => return None,
    })
}

/// Who reads: the account itself, in a session that has not ended, must
/// be active; services may read any.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reader {
    /// The owner, by an access token of this session.
    Owner(uuid::Uuid),
    Service,
}

/// The user's preferences, from the cache when it has them.
///
/// The cache holds entries of active accounts only, and every deactivation
/// or deletion deletes the user's entries (`user_cache::invalidate`), so a hit
/// answers the owner without a database round trip and still refuses a
/// deactivated account: a miss reads the account's state with its
/// preferences, and a deactivated owner gets the same 403 as everywhere else.
fn read(cache: Option<&Cache>, user: UserId, reader: Reader) -> Result<Preferences, ApiError> {
    let key = cache_keys::preferences(user);
    // The owner's entry is read with the mark of its session, in one round trip.
    let cached = match reader {
        Reader::Owner(session) => revocation::cached_entry(cache, &key, &session)?,
        Reader::Service => cache.and_then(|c| c.get(&key)),
    };
    if let Some(cached) = cached.and_then(|bytes| serde_json::from_slice(&bytes).ok()) {
        return Ok(cached);
    }
    let db = Db::connect()?;
    let session = match reader {
        Reader::Owner(session) => Some(session),
        Reader::Service => None,
    };
    let stored = store::preferences::of(&db, user, session)?;
    let stored = match (stored, reader) {
        (None, Reader::Owner(_)) => return Err(ApiError::Unauthorized("The account no longer exists")),
        (None, Reader::Service) => return Err(ApiError::NotFound("User")),
        (Some(stored), Reader::Owner(_)) if !stored.session_live => return Err(revocation::ended()),
        (Some(stored), Reader::Owner(_)) if !stored.is_active => {
            return Err(ApiError::Forbidden("This account is deactivated"));
        }
        (Some(stored), _) => stored,
    };
    if let Some(cache) = cache.filter(|_| stored.is_active) {
        let json = serde_json::to_vec(&stored.preferences).map_err(ApiError::internal)?;
        // Only into an absent key: a tombstone left by a recent change means
        // this value may predate it.
        cache.set_ex_if_absent(&key, &json, cache_keys::TTL_SECS);
    }
    Ok(stored.preferences)
}

fn update(request: &ApiRequest, ctx: &Context, replace: bool) -> Result<Reply, ApiError> {
    let cache = ctx.cache();
    let (db, caller) = ctx.account()?;
    let body = request.json()?;
    let (email, push) = if replace {
        let PreferencesReplace { email, push } = PreferencesReplace::parse(&body)?;
        (Some(email), Some(push))
    } else {
        let PreferencesPatch { email, push } = PreferencesPatch::parse(&body)?;
        (email, push)
    };

    // None: deactivated between the check and the update.
    let fields: Vec<&str> =
        [("email", email), ("push", push)].into_iter().filter(|(_, v)| v.is_some()).map(|(f, _)| f).collect();
    let audit = AuditEvent::new(request, "user.preferences_changed", Actor::User(caller.id))?
        .details(serde_json::json!({"fields": fields, "email": email, "push": push}));
    let preferences = store::preferences::update(&db, caller.id, email, push, &audit)?
        .ok_or(ApiError::Forbidden("This account is deactivated"))?;
    user_cache::invalidate(cache, caller.id);
    Ok(Reply::ok(200, "Preferences updated", preferences))
}
