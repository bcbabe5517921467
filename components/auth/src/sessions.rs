//! The caller's own sessions: `GET /api/v1/auth/sessions/` lists those that
//! can still be refreshed (device, address, created and last used; the one
//! the presented access token belongs to is `current`), and
//! `DELETE /api/v1/auth/sessions/{id}/` ends one at once (its refresh and
//! access tokens alike). Ending a session
//! that is not the caller's is a 404, like one that does not exist.

use component_kit::audit::{Actor, AuditEvent};
use component_kit::cache::Cache;
use component_kit::sessions::describe;
use component_kit::{ApiError, ApiRequest, Reply, auth, revocation, store};
use serde_json::json;
use user_domain::api::responses::SessionEnded;

pub const PREFIX: &str = "/api/v1/auth/sessions/";

pub fn list(request: &ApiRequest) -> Result<Reply, ApiError> {
    let caller = auth::caller(request)?;
    let (db, user) = auth::account_of(&caller)?;
    let current = Some(caller.session);
    let sessions: Vec<_> = store::sessions::active(&db, user.id)?.iter().map(|s| describe(s, current)).collect();
    Ok(Reply::ok(200, "Sessions", sessions))
}

pub fn end(request: &ApiRequest, cache: Option<&Cache>) -> Result<Reply, ApiError> {
    let not_found = || ApiError::NotFound("Session");
    let path = request.route_path();
    let id = path.strip_prefix(PREFIX).and_then(|rest| rest.strip_suffix('/')).ok_or_else(not_found)?;
    let id = uuid::Uuid::parse_str(id).map_err(|_| not_found())?;
    let (db, user) = auth::account(request)?;
    let audit = AuditEvent::new(request, "auth.session_ended", Actor::User(user.id)).details(json!({"session": id}));
    let ended = store::sessions::end(&db, user.id, id, "session_ended", &audit)?.ok_or_else(not_found)?;
    revocation::announce(cache, &request.correlation_id, &ended.sessions);
    Ok(Reply::ok(200, "Session ended", SessionEnded { id, ended: true }))
}
