//! What the push and email services need to address users, for callers
//! holding a service key: `GET /api/v1/internal/users/{id}/` for one, and
//! `POST /api/v1/internal/users/lookup/` for up to 500 at once (a broadcast
//! to 100,000 users is 200 calls, not 100,000), in one query.

use component_kit::db::Db;
use component_kit::model::audit::{Actor, AuditEvent};
use component_kit::model::user::UserRecord;
use component_kit::router::Context;
use component_kit::{ApiError, ApiRequest, Reply, config, store};
use serde_json::json;
use user_domain::api::requests::LookupRequest;
use user_domain::api::responses::{InternalUser, LookedUpUser, Lookup};
use user_domain::preferences::{CategoryConfig, NotificationPreferences};

/// The service key was checked by the router (the endpoint is `Service`'s).
pub fn get(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let id = ctx.user_id(0)?;
    let db = Db::connect()?;
    let user = store::users::by_id(&db, id)?.ok_or(ApiError::NotFound("User"))?;
    store::audit::record(&db, &AuditEvent::new(request, "service.user_looked_up", Actor::Service)?.subject(id))?;
    Ok(Reply::ok(200, "User", internal(user, &config::categories()?)))
}

/// The service key was checked by the router (the endpoint is `Service`'s).
pub fn lookup(request: &ApiRequest, _ctx: &Context) -> Result<Reply, ApiError> {
    let LookupRequest { ids } = LookupRequest::parse(&request.json()?)?;
    let db = Db::connect()?;
    let found = store::users::with_devices(&db, &ids)?;
    // One event per call: one per user would cost a write per user of a broadcast.
    let audit = AuditEvent::new(request, "service.users_looked_up", Actor::Service)?
        .details(json!({"asked": ids.len(), "found": found.len()}));
    store::audit::record(&db, &audit)?;
    let config = config::categories()?;
    let missing = ids.iter().filter(|id| !found.iter().any(|f| f.user.id == **id)).copied().collect();
    let users =
        found.into_iter().map(|f| LookedUpUser { user: internal(f.user, &config), devices: f.devices }).collect();
    Ok(Reply::ok(200, "Users", Lookup { users, missing }))
}

/// A user as services see it: the whole preferences, every configured
/// category spelled out.
fn internal(user: UserRecord, config: &CategoryConfig) -> InternalUser {
    InternalUser {
        user_id: user.id,
        name: user.name,
        email: user.email,
        push_token: user.push_token,
        preferences: NotificationPreferences::effective(user.preferences, config),
        email_verified: user.email_verified,
        is_active: user.is_active,
    }
}
