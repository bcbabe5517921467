//! Staff administration: `GET /api/v1/users/` (paginated, `?search=` on
//! email or name, `?is_active=`), and `GET`, `PATCH` (`is_active`,
//! `is_staff`, `name`), `DELETE /api/v1/users/{id}/`; a user's sessions and
//! second factor. Staff cannot demote, deactivate or delete themselves, so
//! an instance cannot lock itself out by accident, nor end their own
//! sessions or reset their own factor here (their own endpoints do that,
//! with their own checks). DELETE erases the account; deactivation is
//! `PATCH is_active`.

use component_kit::model::audit::{Actor, AuditEvent};
use component_kit::model::event::Event;
use component_kit::model::session::describe;
use component_kit::model::user::UserRecord;
use component_kit::router::Context;
use component_kit::store::{self, staff::Filter, staff::StaffChange};
use component_kit::user_cache;
use component_kit::{ApiError, ApiRequest, Reply, revocation};
use serde_json::json;
use user_domain::api::requests::StaffUserPatch;
use user_domain::api::responses::{MfaReset, RevokedTokens, SessionEnded, UserDeleted, UserView};
use user_domain::carriable;
use user_domain::envelope::{Envelope, PageMeta};
use user_domain::{FieldErrors, UserId};

const DEFAULT_LIMIT: u64 = 20;
const MAX_LIMIT: u64 = 100;

fn number(request: &ApiRequest, name: &str, default: u64, max: u64) -> Result<u64, ApiError> {
    match request.query_param(name) {
        None => Ok(default),
        Some(raw) => match raw.parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::validation_of(name, &format!("must be a whole number from 1 to {max}"))),
        },
    }
}

pub fn list(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let (db, _) = ctx.staff()?;
    let page = number(request, "page", 1, u64::from(u32::MAX))?;
    let limit = number(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let is_active = match request.query_param("is_active").as_deref() {
        // An empty value is not a boolean: it is refused like any other.
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(ApiError::validation_of("is_active", "must be true or false")),
    };
    let search = request.query_param("search").map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    if let Some(search) = &search {
        carriable::check_text("search", search)?;
    }
    let filter = Filter { search, is_active };

    let page_of_users = store::staff::page(&db, &filter, limit, (page - 1) * limit)?;
    let users: Vec<UserView> = page_of_users.users.iter().map(UserRecord::view).collect();
    let envelope =
        Envelope { meta: Some(PageMeta::new(page_of_users.total, page, limit).into()), ..Envelope::ok("Users", users) };
    Ok(Reply::json(200, &envelope))
}

pub fn get(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let id = ctx.user_id(0)?;
    let (db, caller) = ctx.staff()?;
    let user = store::users::by_id(&db, id)?.ok_or(ApiError::NotFound("User"))?;
    store::audit::record(&db, &AuditEvent::new(request, "staff.user_viewed", Actor::Staff(caller.id))?.subject(id))?;
    Ok(Reply::ok(200, "User", user.view()))
}

pub fn update(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let (cache, id) = (ctx.cache(), ctx.user_id(0)?);
    let (db, caller) = ctx.staff()?;
    let StaffUserPatch { is_active, is_staff, name } = StaffUserPatch::parse(&request.json()?)?;
    if caller.id == id {
        let mut refused = FieldErrors::new();
        if is_active == Some(false) {
            refused.entry("is_active".into()).or_default().push("staff cannot deactivate themselves".into());
        }
        if is_staff == Some(false) {
            refused.entry("is_staff".into()).or_default().push("staff cannot remove their own staff access".into());
        }
        if !refused.is_empty() {
            return Err(ApiError::Validation(refused));
        }
    }

    let change = StaffChange { is_active, is_staff, name };
    let fields: Vec<&str> = [
        ("is_active", change.is_active.is_some()),
        ("is_staff", change.is_staff.is_some()),
        ("name", change.name.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, given)| given.then_some(field))
    .collect();
    let audit = AuditEvent::new(request, "staff.user_changed", Actor::Staff(caller.id))?
        .subject(id)
        .details(json!({"fields": fields, "is_active": change.is_active, "is_staff": change.is_staff}));
    let changed = store::staff::apply_staff_change(&db, id, &change, &audit)?.ok_or(ApiError::NotFound("User"))?;
    revocation::announce(cache, &request.correlation_id, &[id], &changed.ended);
    user_cache::invalidate(cache, id);
    Ok(Reply::ok(200, "User updated", changed.user.view()))
}

pub fn delete(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let (cache, id) = (ctx.cache(), ctx.user_id(0)?);
    let (db, caller) = ctx.staff()?;
    if caller.id == id {
        return Err(ApiError::validation_of("id", "staff cannot delete themselves"));
    }
    let audit = AuditEvent::new(request, "staff.user_erased", Actor::Staff(caller.id))?.subject(id);
    let sessions = store::staff::erase(&db, id, &audit)?.ok_or(ApiError::NotFound("User"))?;
    revocation::announce(cache, &request.correlation_id, &[id], &sessions);
    user_cache::invalidate(cache, id);
    Ok(Reply::ok(200, "User deleted", UserDeleted { id, deleted: true }))
}

/// Staff act on other accounts through these endpoints; on their own, the
/// account's own endpoints apply, with their own checks (400 naming `id`).
fn not_oneself(caller: &UserRecord, id: UserId, why: &str) -> Result<(), ApiError> {
    if caller.id == id { Err(ApiError::validation_of("id", why)) } else { Ok(()) }
}

/// `GET /api/v1/users/{id}/sessions/`: the user's active sessions.
pub fn sessions(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let id = ctx.user_id(0)?;
    let (db, caller) = ctx.staff()?;
    store::users::by_id(&db, id)?.ok_or(ApiError::NotFound("User"))?;
    store::audit::record(
        &db,
        &AuditEvent::new(request, "staff.sessions_viewed", Actor::Staff(caller.id))?.subject(id),
    )?;
    let sessions: Vec<_> = store::sessions::active(&db, id)?.iter().map(|s| describe(s, None)).collect();
    Ok(Reply::ok(200, "Sessions", sessions))
}

/// `DELETE /api/v1/users/{id}/sessions/`: ends every session of the user.
pub fn end_sessions(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let (cache, id) = (ctx.cache(), ctx.user_id(0)?);
    let (db, caller) = ctx.staff()?;
    not_oneself(&caller, id, "staff end their own sessions at /api/v1/auth/sessions/ or by logging out")?;
    store::users::by_id(&db, id)?.ok_or(ApiError::NotFound("User"))?;
    let audit = AuditEvent::new(request, "staff.sessions_ended", Actor::Staff(caller.id))?.subject(id);
    let ended = store::sessions::end_all(&db, id, None, "ended_by_staff", &audit)?;
    revocation::announce(cache, &request.correlation_id, &ended.users, &ended.sessions);
    Ok(Reply::ok(
        200,
        "Every session ended",
        RevokedTokens { revoked_tokens: ended.revoked_tokens(), sessions_ended: ended.count() },
    ))
}

/// `DELETE /api/v1/users/{id}/mfa/`: resets a lost second factor. The
/// factor, its recovery codes and pending challenges go; every session of
/// the user ends (whoever holds one may hold the lost device); the user is
/// told by email (`mfa_reset`), so a reset they did not ask for is noticed.
pub fn reset_mfa(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let (cache, id) = (ctx.cache(), ctx.user_id(0)?);
    let (db, caller) = ctx.staff()?;
    // Turning one's own factor off takes the password and a current code
    // (`DELETE /api/v1/auth/mfa/totp/`): a stolen staff session must not skip them.
    not_oneself(&caller, id, "staff cannot reset their own second factor")?;
    let user = store::users::by_id(&db, id)?.ok_or(ApiError::NotFound("User"))?;
    let notice = Event::email_to_user(id, "mfa_reset", json!({"name": user.name, "email": user.email}), request)?;
    let audit = AuditEvent::new(request, "staff.mfa_reset", Actor::Staff(caller.id))?.subject(id);
    let reset = store::mfa::reset(&db, id, &notice, &audit)?.ok_or(ApiError::NotFound("User"))?;
    revocation::announce(cache, &request.correlation_id, &reset.ended.users, &reset.ended.sessions);
    let message = if reset.removed { "Two-factor sign-in reset" } else { "The user had no second factor" };
    Ok(Reply::ok(200, message, MfaReset { user_id: id, removed: reset.removed, sessions_ended: reset.ended.count() }))
}

/// `DELETE /api/v1/users/{id}/sessions/{session}/`: ends one.
pub fn end_session(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let (cache, id, session) = (ctx.cache(), ctx.user_id(0)?, ctx.param(1));
    let (db, caller) = ctx.staff()?;
    not_oneself(&caller, id, "staff end their own sessions at /api/v1/auth/sessions/ or by logging out")?;
    let session = uuid::Uuid::parse_str(session).map_err(|_| ApiError::NotFound("Session"))?;
    let audit = AuditEvent::new(request, "staff.session_ended", Actor::Staff(caller.id))?
        .subject(id)
        .details(json!({"session": session}));
    let ended =
        store::sessions::end(&db, id, session, "ended_by_staff", &audit)?.ok_or(ApiError::NotFound("Session"))?;
    revocation::announce(cache, &request.correlation_id, &ended.users, &ended.sessions);
    Ok(Reply::ok(200, "Session ended", SessionEnded { id: session, ended: true }))
}

/// `GET /api/v1/users/{id}/devices/`: the user's devices, tokens included.
pub fn devices(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let id = ctx.user_id(0)?;
    let (db, caller) = ctx.staff()?;
    store::users::by_id(&db, id)?.ok_or(ApiError::NotFound("User"))?;
    store::audit::record(&db, &AuditEvent::new(request, "staff.devices_viewed", Actor::Staff(caller.id))?.subject(id))?;
    let devices: Vec<_> = store::devices::of_user(&db, id)?.iter().map(|d| d.view()).collect();
    Ok(Reply::ok(200, "Devices", devices))
}

/// `GET /api/v1/users/{id}/audit/`: the trail of an account, newest first.
pub fn audit(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let id = ctx.user_id(0)?;
    let (db, _) = ctx.staff()?;
    component_kit::audit_trail::page(&db, request, id, component_kit::audit_trail::Viewer::Staff)
}
