//! # users component
//!
//! Everything under `/api/v1/users/` except preferences (their own
//! component): registration, the caller's profile, staff administration; plus
//! the service-to-service lookup `/api/v1/internal/users/{id}/` and the
//! staff tool `POST /api/v1/notifications/test/`.
//!
//! Registration lives here rather than in auth because Spin routes by path,
//! not by method, and `GET /api/v1/users/` (the staff list) shares its path.

mod internal;
mod notifications;
mod profile;
mod register;
mod staff;

use component_kit::auth::Access;
use component_kit::cache::LazyCache;
use component_kit::reply::{not_found, respond};
use component_kit::{ApiError, ApiRequest, Reply, idempotency};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;
use user_domain::UserId;

#[http_component]
async fn handle(request: IncomingRequest) -> Response {
    let request = ApiRequest::read(request).await;
    let result = route(&request);
    respond(&request, result)
}

fn not_allowed(allow: &'static str) -> Result<Reply, ApiError> {
    Err(ApiError::MethodNotAllowed { allow })
}

fn route(request: &ApiRequest) -> Result<Reply, ApiError> {
    let path = request.route_path();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // Only registration, the profile and changes to a user touch Redis.
    let cache = LazyCache::new(&request.correlation_id);
    let method = request.method.as_str();
    let user_id = |raw: &str| UserId::parse(raw).map_err(|_| ApiError::NotFound("User"));
    // Who may call it: registration needs no credentials, the lookup a
    // service key, the profile a bearer token, everything else is staff's.
    let access = match segments.as_slice() {
        ["api", "v1", "users"] if method == "POST" => Access::Public,
        ["api", "v1", "users", "profile"] => Access::Bearer,
        ["api", "v1", "internal", ..] => Access::Service,
        _ => Access::Staff,
    };
    let answer = || match segments.as_slice() {
        ["api", "v1", "users"] => match method {
            "POST" => register::handle(request, cache.get()),
            "GET" => staff::list(request),
            _ => not_allowed("GET, POST"),
        },
        ["api", "v1", "users", "profile"] => match method {
            "GET" => profile::get(request, cache.get()),
            "PATCH" => profile::update(request, cache.get(), false),
            "PUT" => profile::update(request, cache.get(), true),
            "DELETE" => profile::deactivate(request, cache.get()),
            _ => not_allowed("GET, PATCH, PUT, DELETE"),
        },
        ["api", "v1", "users", id] => match method {
            "GET" => staff::get(request, user_id(id)?),
            "PATCH" => staff::update(request, cache.get(), user_id(id)?),
            "DELETE" => staff::delete(request, cache.get(), user_id(id)?),
            _ => not_allowed("GET, PATCH, DELETE"),
        },
        ["api", "v1", "users", id, "sessions"] => match method {
            "GET" => staff::sessions(request, user_id(id)?),
            "DELETE" => staff::end_sessions(request, cache.get(), user_id(id)?),
            _ => not_allowed("GET, DELETE"),
        },
        ["api", "v1", "users", id, "mfa"] => match method {
            "DELETE" => staff::reset_mfa(request, cache.get(), user_id(id)?),
            _ => not_allowed("DELETE"),
        },
        ["api", "v1", "users", id, "audit"] => match method {
            "GET" => staff::audit(request, user_id(id)?),
            _ => not_allowed("GET"),
        },
        ["api", "v1", "users", id, "sessions", session] => match method {
            "DELETE" => staff::end_session(request, cache.get(), user_id(id)?, session),
            _ => not_allowed("DELETE"),
        },
        ["api", "v1", "internal", "users", id] => match method {
            "GET" => internal::get(request, user_id(id)?),
            _ => not_allowed("GET"),
        },
        ["api", "v1", "notifications", "test"] => match method {
            "POST" => notifications::test(request),
            _ => not_allowed("POST"),
        },
        _ => Err(not_found()),
    };
    idempotency::guard(request, access, answer)
}
