//! `GET /api/v1/internal/users/{id}/`: what the push and email services need
//! to address a user, for callers holding a service key.

use component_kit::audit::{Actor, AuditEvent};
use component_kit::db::Db;
use component_kit::{ApiError, ApiRequest, Reply, auth, store, users};
use user_domain::UserId;
use user_domain::api::responses::InternalUser;

pub fn get(request: &ApiRequest, id: UserId) -> Result<Reply, ApiError> {
    auth::service(request)?;
    let db = Db::connect()?;
    let user = users::load(&db, id)?.ok_or(ApiError::NotFound("User"))?;
    store::audit::record(&db, &AuditEvent::new(request, "service.user_looked_up", Actor::Service).subject(id))?;
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
