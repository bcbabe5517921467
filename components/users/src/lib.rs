//! # users component
//!
//! Everything under `/api/v1/users/` except preferences (their own
//! component): registration, the caller's profile, staff administration; plus
//! the service-to-service lookup `/api/v1/internal/users/{id}/` and the
//! staff tool `POST /api/v1/notifications/test/`. Which endpoint is which,
//! and who may call it, is the endpoint table's (`user_domain::api::endpoints`).
//!
//! Registration lives here rather than in auth because Spin routes by path,
//! not by method, and `GET /api/v1/users/` (the staff list) shares its path.

mod devices;
mod internal;
mod notifications;
mod profile;
mod register;
mod staff;

use component_kit::ApiRequest;
use component_kit::reply::respond;
use component_kit::router::{self, Handler};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;
use user_domain::api::endpoints::{Component, Op};

#[http_component]
async fn handle(request: IncomingRequest, out: ResponseOutparam) {
    let request = ApiRequest::read(request).await;
    let result = router::serve(&request, Component::Users, handler);
    respond(out, &request, result)
}

/// The handler of each of this component's endpoints.
fn handler(op: Op) -> Option<Handler> {
    Some(match op {
        Op::Register => register::handle,
        Op::ListUsers => staff::list,
        Op::GetProfile => profile::get,
        Op::PatchProfile => profile::patch,
        Op::PutProfile => profile::put,
        Op::DeactivateProfile => profile::deactivate,
        Op::RegisterDevice => devices::register,
        Op::ListDevices => devices::list,
        Op::RemoveDevice => devices::remove,
        Op::ListUserDevices => staff::devices,
        Op::GetUser => staff::get,
        Op::PatchUser => staff::update,
        Op::EraseUser => staff::delete,
        Op::ListUserSessions => staff::sessions,
        Op::EndUserSessions => staff::end_sessions,
        Op::EndUserSession => staff::end_session,
        Op::ResetUserMfa => staff::reset_mfa,
        Op::UserAudit => staff::audit,
        Op::InternalUser => internal::get,
        Op::LookupUsers => internal::lookup,
        Op::TestNotification => notifications::test,
        _ => return None,
    })
}
