//! # auth component
//!
//! Sessions and credentials: every `POST /api/v1/auth/...` endpoint
//! (registration lives in the users component, which owns `/api/v1/users/`). Each endpoint lives in a module; this
//! file routes, applies `X-Request-ID` idempotency to every one of them, and
//! turns results into responses.

mod limits;
mod login;
mod logout;
mod password;
mod refresh;
mod verification;

use component_kit::cache::LazyCache;
use component_kit::reply::{not_found, respond};
use component_kit::{ApiError, ApiRequest, Reply, idempotency};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: IncomingRequest) -> Response {
    let request = ApiRequest::read(request).await;
    let result = route(&request);
    respond(&request, result)
}

type Handler = fn(&ApiRequest, &LazyCache) -> Result<Reply, ApiError>;

fn endpoint(path: &str) -> Option<Handler> {
    Some(match path {
        "/api/v1/auth/login/" => |r, c| login::handle(r, c.get()),
        "/api/v1/auth/refresh/" => |r, _| refresh::handle(r),
        "/api/v1/auth/logout/" => |r, _| logout::handle(r),
        "/api/v1/auth/verify-email/" => |r, c| verification::verify(r, c.get()),
        "/api/v1/auth/verify-email/resend/" => |r, c| verification::resend(r, c.get()),
        "/api/v1/auth/password-reset/" => |r, c| password::request_reset(r, c.get()),
        "/api/v1/auth/password-reset/confirm/" => |r, c| password::confirm_reset(r, c.get()),
        "/api/v1/auth/password-change/" => |r, c| password::change(r, c.get()),
        _ => return None,
    })
}

fn route(request: &ApiRequest) -> Result<Reply, ApiError> {
    let path = request.route_path();
    let handler = endpoint(&path).ok_or_else(not_found)?;
    if request.method != "POST" {
        return Err(ApiError::MethodNotAllowed { allow: "POST" });
    }
    let cache = LazyCache::new(&request.correlation_id);
    idempotency::guard(request, || handler(request, &cache))
}
