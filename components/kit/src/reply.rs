//! From a handler's result to a Spin response. Failures are logged here, once,
//! with their cause (clients only ever see the envelope's public message).
//! Every answer is `Cache-Control: no-store` unless its handler says otherwise.

use serde_json::json;
use spin_sdk::http::Response;
use user_domain::ApiError;
use user_domain::envelope::Reply;

use crate::log;
use crate::request::ApiRequest;

/// The reply for a failed request; internal causes go to the log only.
pub fn failure(request: &ApiRequest, error: &ApiError) -> Reply {
    match error {
        ApiError::Internal(cause) => log::error(
            &request.correlation_id,
            "request failed",
            json!({"method": request.method, "path": request.path, "cause": cause}),
        ),
        ApiError::Unavailable(what) => log::warn(
            &request.correlation_id,
            "backing service unavailable",
            json!({"method": request.method, "path": request.path, "service": what}),
        ),
        _ => {}
    }
    Reply::error(error)
}

/// Finishes a request: the reply (or its failure) plus `X-Correlation-ID`.
pub fn respond(request: &ApiRequest, result: Result<Reply, ApiError>) -> Response {
    let reply = result.unwrap_or_else(|error| failure(request, &error));
    let mut builder = Response::builder();
    builder.status(reply.status);
    for (name, value) in &reply.headers {
        builder.header(name.as_str(), value.as_str());
    }
    // Answers carry tokens, personal data and per-caller state: no shared
    // cache (a gateway, a CDN) and no browser cache may keep them, unless the
    // handler chose otherwise (the OpenAPI document).
    if !reply.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("cache-control")) {
        builder.header("cache-control", "no-store");
    }
    builder.header("x-correlation-id", request.correlation_id.as_str());
    builder.body(reply.body);
    builder.build()
}
