//! The caller's own sessions: `GET /api/v1/auth/sessions/` lists those that
//! can still be refreshed (device, address, created and last used; the one
//! the presented access token belongs to is `current`), and
//! `DELETE /api/v1/auth/sessions/{id}/` ends one at once (its refresh and
//! access tokens alike). Ending a session
//! that is not the caller's is a 404, like one that does not exist.

use component_kit::model::audit::{Actor, AuditEvent};
use component_kit::model::session::describe;
use component_kit::router::Context;
use component_kit::{ApiError, ApiRequest, Reply, revocation, store};
use serde_json::json;
use user_domain::api::responses::SessionEnded;

pub fn list(_request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let (db, user) = ctx.account()?;
    let current = Some(ctx.caller()?.session);
    let sessions: Vec<_> = store::sessions::active(&db, user.id)?.iter().map(|s| describe(s, current)).collect();
    Ok(Reply::ok(200, "Sessions", sessions))
}

pub fn end(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let cache = ctx.cache();
    let not_found = || ApiError::NotFound("Session");
    let id = uuid::Uuid::parse_str(ctx.param(0)).map_err(|_| not_found())?;
    let (db, user) = ctx.account()?;
    let audit = AuditEvent::new(request, "auth.session_ended", Actor::User(user.id))?.details(json!({"session": id}));
    let ended = store::sessions::end(&db, user.id, id, "session_ended", &audit)?.ok_or_else(not_found)?;
    revocation::announce(cache, &request.correlation_id, &ended.users, &ended.sessions);
    Ok(Reply::ok(200, "Session ended", SessionEnded { id, ended: true }))
}
