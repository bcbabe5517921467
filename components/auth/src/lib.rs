//! # auth component
//!
//! Accounts and sessions: `POST /api/v1/users/` (register) and
//! `POST /api/v1/auth/login/`. Each endpoint is a module; this file only
//! routes and turns results into responses.

mod limits;
mod login;
mod register;

use component_kit::cache::Cache;
use component_kit::reply::{not_found, respond};
use component_kit::{ApiError, ApiRequest, Reply};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: IncomingRequest) -> Response {
    let request = ApiRequest::read(request).await;
    let result = route(&request);
    respond(&request, result)
}

fn route(request: &ApiRequest) -> Result<Reply, ApiError> {
    let path = request.route_path();
    let allow = match path.as_str() {
        "/api/v1/users/" | "/api/v1/auth/login/" => "POST",
        _ => return Err(not_found()),
    };
    if request.method != "POST" {
        return Err(ApiError::MethodNotAllowed { allow });
    }
    let cache = Cache::connect(&request.correlation_id);
    match path.as_str() {
        "/api/v1/users/" => register::handle(request, cache.as_ref()),
        _ => login::handle(request, cache.as_ref()),
    }
}
