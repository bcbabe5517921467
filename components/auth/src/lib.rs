//! # auth component
//!
//! Sessions and credentials: every `/api/v1/auth/...` endpoint and the
//! JWKS at `/.well-known/jwks.json`, token introspection for gateways
//! (registration lives in the users
//! component, which owns `/api/v1/users/`). Each endpoint lives in a module; this
//! file routes, applies `X-Request-ID` idempotency to every one of them, and
//! turns results into responses.

mod introspect;
mod limits;
mod login;
mod logout;
mod mfa;
mod password;
mod refresh;
mod sessions;
mod verification;

use component_kit::auth::Access;
use component_kit::cache::LazyCache;
use component_kit::reply::{not_found, respond};
use component_kit::{ApiError, ApiRequest, Reply, config, idempotency};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: IncomingRequest) -> Response {
    let request = ApiRequest::read(request).await;
    let result = route(&request);
    respond(&request, result)
}

type Handler = fn(&ApiRequest, &LazyCache) -> Result<Reply, ApiError>;

/// The handler of a method on a path; 404 for an unknown path, 405 (with
/// `Allow`) for a known path and another method.
fn endpoint(method: &str, path: &str) -> Result<Handler, ApiError> {
    let one_session = path
        .strip_prefix(sessions::PREFIX)
        .is_some_and(|rest| rest.strip_suffix('/').is_some_and(|id| !id.is_empty() && !id.contains('/')));
    if one_session {
        return match method {
            "DELETE" => Ok(|r, c| sessions::end(r, c.get())),
            _ => Err(ApiError::MethodNotAllowed { allow: "DELETE" }),
        };
    }
    let handler: Handler = match (method, path) {
        ("GET" | "HEAD", "/api/v1/auth/jwks.json/" | "/.well-known/jwks.json/") => |_, _| jwks(),
        ("POST", "/api/v1/auth/login/") => |r, c| login::handle(r, c.get()),
        ("GET", "/api/v1/auth/sessions/") => |r, _| sessions::list(r),
        ("GET", "/api/v1/auth/audit/") => |r, _| {
            let (db, user) = component_kit::auth::account(r)?;
            component_kit::audit::page(&db, r, user.id, component_kit::audit::Viewer::Owner)
        },
        ("POST", "/api/v1/auth/login/mfa/") => |r, c| mfa::complete_login(r, c.get()),
        ("POST", "/api/v1/auth/refresh/") => |r, c| refresh::handle(r, c.get()),
        ("POST", "/api/v1/auth/introspect/") => |r, _| introspect::handle(r),
        ("POST", "/api/v1/auth/logout/") => |r, c| logout::handle(r, c.get()),
        ("POST", "/api/v1/auth/verify-email/") => |r, c| verification::verify(r, c.get()),
        ("POST", "/api/v1/auth/verify-email/resend/") => |r, c| verification::resend(r, c.get()),
        ("POST", "/api/v1/auth/password-reset/") => |r, c| password::request_reset(r, c.get()),
        ("POST", "/api/v1/auth/password-reset/confirm/") => |r, c| password::confirm_reset(r, c.get()),
        ("POST", "/api/v1/auth/password-change/") => |r, c| password::change(r, c.get()),
        ("POST", "/api/v1/auth/mfa/totp/") => |r, c| mfa::enrol(r, c.get()),
        ("DELETE", "/api/v1/auth/mfa/totp/") => |r, c| mfa::disable(r, c.get()),
        ("POST", "/api/v1/auth/mfa/totp/confirm/") => |r, c| mfa::confirm(r, c.get()),
        ("POST", "/api/v1/auth/mfa/recovery-codes/") => |r, c| mfa::replace_recovery_codes(r, c.get()),
        (_, "/api/v1/auth/mfa/totp/") => return Err(ApiError::MethodNotAllowed { allow: "POST, DELETE" }),
        (_, "/api/v1/auth/sessions/" | "/api/v1/auth/audit/") => {
            return Err(ApiError::MethodNotAllowed { allow: "GET" });
        }
        (_, "/api/v1/auth/jwks.json/" | "/.well-known/jwks.json/") => {
            return Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" });
        }
        (
            _,
            "/api/v1/auth/login/"
            | "/api/v1/auth/login/mfa/"
            | "/api/v1/auth/refresh/"
            | "/api/v1/auth/introspect/"
            | "/api/v1/auth/logout/"
            | "/api/v1/auth/verify-email/"
            | "/api/v1/auth/verify-email/resend/"
            | "/api/v1/auth/password-reset/"
            | "/api/v1/auth/password-reset/confirm/"
            | "/api/v1/auth/password-change/"
            | "/api/v1/auth/mfa/totp/confirm/"
            | "/api/v1/auth/mfa/recovery-codes/",
        ) => return Err(ApiError::MethodNotAllowed { allow: "POST" }),
        _ => return Err(not_found()),
    };
    Ok(handler)
}

/// The public keys access tokens verify with, for gateways and edge
/// functions. They change only at a rotation, announced ahead through the
/// next key, so caches may keep the set for five minutes.
fn jwks() -> Result<Reply, ApiError> {
    let keys = config::tokens()?.jwks();
    let body = serde_json::to_vec(&keys).map_err(ApiError::internal)?;
    Ok(Reply {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/jwk-set+json".into()),
            ("cache-control".into(), "public, max-age=300".into()),
        ],
        body,
        replay: Default::default(),
    })
}

/// Who may call the operations of a path: services introspect, anyone
/// may call the public ones, and every other needs a bearer token.
fn access(path: &str) -> Access {
    if path == "/api/v1/auth/introspect/" {
        Access::Service
    } else if is_public(path) {
        Access::Public
    } else {
        Access::Bearer
    }
}

/// Operations anyone may call.
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/api/v1/auth/login/"
            | "/api/v1/auth/login/mfa/"
            | "/api/v1/auth/refresh/"
            | "/api/v1/auth/logout/"
            | "/api/v1/auth/verify-email/"
            | "/api/v1/auth/password-reset/"
            | "/api/v1/auth/password-reset/confirm/"
            | "/api/v1/auth/jwks.json/"
            | "/.well-known/jwks.json/"
    )
}

fn route(request: &ApiRequest) -> Result<Reply, ApiError> {
    let path = request.route_path();
    let handler = endpoint(&request.method, &path)?;
    let cache = LazyCache::new(&request.correlation_id);
    if path == "/api/v1/auth/introspect/" {
        // A read that POSTs: never replayed (an answer is about now).
        return handler(request, &cache);
    }
    idempotency::guard(request, access(&path), || handler(request, &cache))
}
