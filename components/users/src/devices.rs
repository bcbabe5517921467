//! The caller's devices: `POST /api/v1/users/devices/` registers one (the
//! same token again is the same device, seen now; a token of another
//! user's moves to the caller; past `MAX_DEVICES_PER_USER` the least
//! recently seen goes), `GET` lists them, `DELETE .../{id}/` removes one
//! (another user's is a 404). Staff list a user's at
//! `GET /api/v1/users/{id}/devices/`. Every change drops the cached records
//! of each owner concerned, the worker's included.

use component_kit::model::audit::{Actor, AuditEvent};
use component_kit::router::Context;
use component_kit::{ApiError, ApiRequest, Reply, store, user_cache};
use serde_json::json;
use user_domain::api::requests::DeviceRequest;
use user_domain::api::responses::{DeviceRemoved, DeviceView};
use user_domain::device::MAX_DEVICES_PER_USER;

pub fn register(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let (db, user) = ctx.account()?;
    let DeviceRequest { token, platform, name } = DeviceRequest::parse(&request.json()?)?;
    let audit = AuditEvent::new(request, "device.registered", Actor::User(user.id))?
        .details(json!({"platform": platform.as_str()}));
    let registered =
        store::devices::register(&db, user.id, &token, platform, name.as_ref(), MAX_DEVICES_PER_USER, &audit)?
            .ok_or(ApiError::Forbidden("This account is deactivated"))?;
    user_cache::invalidate(ctx.cache(), user.id);
    if let Some(previous) = registered.moved_from {
        user_cache::invalidate(ctx.cache(), previous);
    }
    let (status, message) = if registered.seen { (200, "Device seen") } else { (201, "Device registered") };
    Ok(Reply::ok(status, message, registered.device.view()))
}

pub fn list(_request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let (db, user) = ctx.account()?;
    let devices: Vec<DeviceView> = store::devices::of_user(&db, user.id)?.iter().map(|d| d.view()).collect();
    Ok(Reply::ok(200, "Devices", devices))
}

pub fn remove(request: &ApiRequest, ctx: &Context) -> Result<Reply, ApiError> {
    let not_found = || ApiError::NotFound("Device");
    let id = uuid::Uuid::parse_str(ctx.param(0)).map_err(|_| not_found())?;
    let (db, user) = ctx.account()?;
    let audit = AuditEvent::new(request, "device.removed", Actor::User(user.id))?.details(json!({"device": id}));
    if !store::devices::remove(&db, user.id, id, &audit)? {
        return Err(not_found());
    }
    user_cache::invalidate(ctx.cache(), user.id);
    Ok(Reply::ok(200, "Device removed", DeviceRemoved { id, removed: true }))
}
