//! `GET /api/v1/internal/users/{id}/`: what the push and email services need
//! to address a user, for callers holding a service key.

use component_kit::db::Db;
use component_kit::model::audit::{Actor, AuditEvent};
use component_kit::router::Context;
use component_kit::{ApiError, ApiRequest, Reply, store};
use user_domain::api::responses::InternalUser;

/// The service key was checked by the router (the endpoint is `Service`'s).
pub fn get(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let id = ctx.user_id(0)?;
    let db = Db::connect()?;
    let user = store::users::by_id(&db, id)?.ok_or(ApiError::NotFound("User"))?;
    store::audit::record(&db, &AuditEvent::new(request, "service.user_looked_up", Actor::Service)?.subject(id))?;
    Ok(Reply::ok(
        200,
        "User",
        InternalUser {
            user_id: user.id,
            name: user.name,
            email: user.email,
            push_token: user.push_token,
            preferences: user.preferences,
            email_verified: user.email_verified,
            is_active: user.is_active,
        },
    ))
}
