//! `/api/v1/users/profile/`: the caller's own account. GET reads it, PATCH
//! changes the fields given, PUT replaces every editable field (an absent
//! `push_token` clears it), DELETE deactivates the account and ends its
//! sessions. Every change drops the user's cached records.

use component_kit::model::audit::{Actor, AuditEvent};
use component_kit::revocation::{self, Lookup};
use component_kit::router::Context;
use component_kit::store::{self, users::Change};
use component_kit::user_cache;
use component_kit::{ApiError, ApiRequest, Reply};
use serde_json::json;
use serde_json::value::RawValue;
use user_domain::api::requests::{ProfilePatch, ProfileReplace};
use user_domain::api::responses::Deactivated;
use user_domain::cache_keys;
use user_domain::validation::Patch;

/// The caller's profile, from the cache when it has it. The cache holds
/// active accounts only and every change tombstones the key
/// (`user_cache::invalidate`), so a hit needs no database round trip and a
/// deactivated or deleted account still gets its 401/403 on the miss. The
/// entry carries the user's recently ended sessions, so an ended session's
/// token is refused on a hit too (`revocation`).
pub fn get(_request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let key = cache_keys::profile(caller.user_id);
    // A hit is answered as it was stored, not parsed into a `Value` and
    // written out again: the entry holds what a miss answers (below).
    let miss = match revocation::cached::<Box<RawValue>>(ctx.cache_reader()?.as_ref(), &key, Some(&caller.session))? {
        Lookup::Hit(profile) => return Ok(Reply::ok(200, "Profile", profile)),
        Lookup::Miss(miss) => miss,
    };
    let (db, user) = ctx.account()?;
    let profile = serde_json::to_value(user.view()).map_err(ApiError::internal)?;
    if let Some(cache) = ctx.cache() {
        let ended = store::sessions::ended_within(&db, user.id, revocation::window_secs()?)?;
        miss.fill(Some(cache), &profile, &ended, cache_keys::PROFILE_TTL_SECS);
    }
    Ok(Reply::ok(200, "Profile", profile))
}

pub fn patch(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    update(request, ctx, false)
}

pub fn put(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    update(request, ctx, true)
}

fn update(request: &ApiRequest, ctx: &Context, replace: bool) -> Result<Reply, ApiError> {
    let cache = ctx.cache();
    let (db, caller) = ctx.account()?;
    let body = request.json()?;
    let (name, push_token) = if replace {
        let ProfileReplace { name, push_token } = ProfileReplace::parse(&body)?;
        (Some(name), push_token)
    } else {
        let ProfilePatch { name, push_token } = ProfilePatch::parse(&body)?;
        (name, push_token)
    };
    let name = name.as_ref();
    let push_token = match &push_token {
        Patch::Absent => Change::Keep,
        Patch::Null => Change::Clear,
        Patch::Value(token) => Change::Set(token),
    };
    let mut changed = Vec::new();
    if name.is_some() {
        changed.push("name");
    }
    if !matches!(push_token, Change::Keep) {
        changed.push("push_token");
    }
    let audit =
        AuditEvent::new(request, "user.profile_changed", Actor::User(caller.id))?.details(json!({"fields": changed}));
    let updated = store::users::update_profile(&db, caller.id, name, push_token, &audit)?;
    user_cache::invalidate(cache, caller.id);
    // None: deactivated between the check and the update.
    let changed = updated.ok_or(ApiError::Forbidden("This account is deactivated"))?;
    // The token was another account's device: its records change too.
    if let Some(previous) = changed.moved_from {
        user_cache::invalidate(cache, previous);
    }
    Ok(Reply::ok(200, "Profile updated", changed.user.view()))
}

pub fn deactivate(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let cache = ctx.cache();
    let (db, caller) = ctx.account()?;
    let ended = store::users::deactivate(
        &db,
        caller.id,
        &AuditEvent::new(request, "user.deactivated", Actor::User(caller.id))?,
    )?;
    revocation::announce(cache, &request.correlation_id, &ended.users, &ended.sessions);
    user_cache::invalidate(cache, caller.id);
    Ok(Reply::ok(200, "Account deactivated", Deactivated { is_active: false }))
}
