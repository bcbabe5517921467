//! # preferences component
//!
//! `GET`, `PATCH`, `PUT /api/v1/users/preferences/` for the caller, and
//! `GET /api/v1/users/{id}/preferences/` for services holding a service key.
//!
//! Reads go through the cache (`user_preferences:{id}`, one hour), read
//! through Spin's key-value store `cache` (`component_kit::cache`): the push
//! and email services ask before every notification, so most answers should
//! not touch PostgreSQL. Every change tombstones the user's cached records
//! (this one and the worker's) so it is seen at once everywhere; a Redis
//! outage falls back to the database, never to an error. The entry carries
//! the user's recently ended sessions (`component_kit::revocation`), so the
//! owner's cached read refuses an ended session's token with the one read
//! it makes.

use component_kit::db::Db;
use component_kit::model::audit::{Actor, AuditEvent};
use component_kit::reply::respond;
use component_kit::revocation::{self, Lookup};
use component_kit::router::{self, Context, Handler};
use component_kit::{ApiError, ApiRequest, Reply, config, store, user_cache};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;
use user_domain::api::endpoints::{Component, Op};
use user_domain::api::requests::{PreferencesPatch, PreferencesReplace};
use user_domain::preferences::NotificationPreferences;
use user_domain::{UserId, cache_keys};

#[http_component]
async fn handle(request: IncomingRequest, out: ResponseOutparam) {
    let request = ApiRequest::read(request).await;
    let result = router::serve(&request, Component::Preferences, handler);
    respond(out, &request, result)
}

/// The handler of each of this component's endpoints.
fn handler(op: Op) -> Option<Handler> {
    Some(match op {
        Op::GetPreferences => |_, ctx| {
            let caller = ctx.caller()?;
            let stored = stored(ctx, caller.user_id, Reader::Owner(caller.session))?;
            Ok(Reply::ok(200, "Preferences", NotificationPreferences::effective(stored, &config::categories()?)))
        },
        Op::PatchPreferences => |request, ctx| update(request, ctx, false),
        Op::PutPreferences => |request, ctx| update(request, ctx, true),
        // The service key was checked by the router (the endpoint is `Service`'s).
        Op::ServicePreferences => |_, ctx| {
            let stored = stored(ctx, ctx.user_id(0)?, Reader::Service)?;
            Ok(Reply::ok(200, "Preferences", NotificationPreferences::effective(stored, &config::categories()?)))
        },
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

/// The user's stored preferences, from the cache when it has them.
///
/// The cache holds entries of active accounts only, and every deactivation
/// or deletion deletes the user's entries (`user_cache::invalidate`), so a hit
/// answers the owner without a database round trip and still refuses a
/// deactivated account: a miss reads the account's state with its
/// preferences, and a deactivated owner gets the same 403 as everywhere else.
/// An ended session's token is refused by the entry's list of ended sessions.
/// The entry is the stored form: the configuration's categories are spelled
/// out on every answer, so a change of the configuration shows at once.
fn stored(ctx: &Context, user: UserId, reader: Reader) -> Result<NotificationPreferences, ApiError> {
    let key = cache_keys::preferences(user);
    let session = match reader {
        Reader::Owner(session) => Some(session),
        Reader::Service => None,
    };
    // The owner's entry is refused if it lists the token's session as ended.
    let miss = match revocation::cached(ctx.cache_reader()?.as_ref(), &key, session.as_ref())? {
        Lookup::Hit(cached) => return Ok(cached),
        Lookup::Miss(miss) => miss,
    };
    let db = Db::connect()?;
    let stored = store::preferences::of(&db, user, session, revocation::window_secs()?)?;
    let stored = match (stored, reader) {
        (None, Reader::Owner(_)) => return Err(ApiError::Unauthorized("The account no longer exists")),
        (None, Reader::Service) => return Err(ApiError::NotFound("User")),
        (Some(stored), Reader::Owner(_)) if !stored.session_live => return Err(revocation::ended()),
        (Some(stored), Reader::Owner(_)) if !stored.is_active => {
            return Err(ApiError::Forbidden("This account is deactivated"));
        }
        (Some(stored), _) => stored,
    };
    if stored.is_active {
        miss.fill(ctx.cache(), &stored.preferences, &stored.ended, cache_keys::TTL_SECS);
    }
    Ok(stored.preferences)
}

/// A read-modify-write lost to a concurrent change is done again from a
/// fresh read, this many times before the caller is told to retry (409).
/// Each round of racing changes lands at least one of them, so this many
/// changes of one user at once all land. (A transaction holding the row
/// would need the connection across statements, which Spin's pooled
/// connections do not promise.)
const ATTEMPTS: usize = 16;

/// A change reads the preferences for their version only, not to cache
/// them: no ended sessions are listed.
const NO_ENDED_SESSIONS: u64 = 0;

fn update(request: &ApiRequest, ctx: &Context, replace: bool) -> Result<Reply, ApiError> {
    let cache = ctx.cache();
    let (db, caller) = ctx.account()?;
    let config = config::categories()?;
    let body = request.json()?;
    // A PUT does not depend on what is stored, but it is written the same
    // way (against the version read), so the two share one path.
    let replacement = if replace { Some(PreferencesReplace::parse(&body, &config)?.into()) } else { None };
    for _ in 0..ATTEMPTS {
        let current = store::preferences::of(&db, caller.id, None, NO_ENDED_SESSIONS)?
            .ok_or(ApiError::Forbidden("This account is deactivated"))?;
        if !current.is_active {
            return Err(ApiError::Forbidden("This account is deactivated"));
        }
        let updated = match &replacement {
            Some(replacement) => NotificationPreferences::clone(replacement),
            None => PreferencesPatch::apply(&current.preferences, &body, &config)?,
        };
        let audit = AuditEvent::new(request, "user.preferences_changed", Actor::User(caller.id))?
            .details(json!({"fields": changed_fields(&current.preferences, &updated)}));
        // None: changed by another request since the read, or deactivated.
        if let Some(stored) = store::preferences::replace(&db, caller.id, &updated, &current.version, &audit)? {
            user_cache::invalidate(cache, caller.id);
            // The change is saved: a failure here only delays held messages
            // to the end of their window, so it is logged, not answered.
            if let Err(e) = store::preferences::release_held(&db, caller.id) {
                let error = json!({"error": e.to_string()});
                component_kit::log::warn(&request.correlation_id, "held messages not released after a change", error);
            }
            return Ok(Reply::ok(200, "Preferences updated", NotificationPreferences::effective(stored, &config)));
        }
    }
    Err(ApiError::Conflict("The preferences changed while this change was applied; try again"))
}

/// The top-level members a change touched, for the audit trail (their
/// values stay out of it: a locale or a time zone says where someone lives).
fn changed_fields(before: &NotificationPreferences, after: &NotificationPreferences) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if before.email != after.email {
        fields.push("email");
    }
    if before.push != after.push {
        fields.push("push");
    }
    if before.categories != after.categories {
        fields.push("categories");
    }
    if before.quiet_hours != after.quiet_hours {
        fields.push("quiet_hours");
    }
    if before.locale != after.locale {
        fields.push("locale");
    }
    fields
}
