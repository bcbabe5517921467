//! From a handler's result to a Spin response. Failures are logged here, once,
//! with their cause (clients only ever see the envelope's public message).
//! Every answer is `Cache-Control: no-store` unless its handler says otherwise.
//!
//! The answer is written to WASI HTTP directly ([`send`]) rather than
//! returned to spin-sdk's macro, whose body sink checks, writes and
//! flushes the stream in separate host calls: under `spin up` every host
//! call costs the request a few microseconds, and the cached reads make few
//! others (README, "Benchmark").

use serde_json::json;
use spin_sdk::http::{Fields, OutgoingBody, OutgoingResponse, ResponseOutparam};
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

/// Finishes a request: the reply (or its failure) plus `X-Correlation-ID`,
/// sent on `out`.
pub fn respond(out: ResponseOutparam, request: &ApiRequest, result: Result<Reply, ApiError>) {
    let reply = result.unwrap_or_else(|error| failure(request, &error));
    let mut headers: Vec<(String, Vec<u8>)> =
        reply.headers.into_iter().map(|(name, value)| (name, value.into_bytes())).collect();
    // Answers carry tokens, personal data and per-caller state: no shared
    // cache (a gateway, a CDN) and no browser cache may keep them, unless the
    // handler chose otherwise (the OpenAPI document).
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("cache-control")) {
        headers.push(("cache-control".into(), b"no-store".to_vec()));
    }
    headers.push(("x-correlation-id".into(), request.correlation_id.clone().into_bytes()));
    if let Err(problem) = send(out, reply.status, &headers, &reply.body) {
        log::error(&request.correlation_id, "the answer could not be sent", json!({"problem": problem}));
    }
}

/// The most a `blocking-write-and-flush` takes at once (WASI I/O's rule).
const WRITE_CHUNK: usize = 4096;

/// Sends one whole answer: its head, then its body in blocking writes of at
/// most [`WRITE_CHUNK`] bytes, then the body's end. A client that went away
/// makes the write fail; there is no one left to answer, so the caller only
/// logs it.
fn send(out: ResponseOutparam, status: u16, headers: &[(String, Vec<u8>)], body: &[u8]) -> Result<(), String> {
    // A header the handlers built is always valid; this refusal is a bug.
    let fields = Fields::from_list(headers).map_err(|e| format!("headers refused: {e:?}"))?;
    let response = OutgoingResponse::new(fields);
    response.set_status_code(status).map_err(|()| format!("status {status} refused"))?;
    let outgoing = response.body().map_err(|()| "the body was already taken".to_owned())?;
    ResponseOutparam::set(out, response);
    let stream = outgoing.write().map_err(|()| "the body stream was already taken".to_owned())?;
    for chunk in body.chunks(WRITE_CHUNK) {
        stream.blocking_write_and_flush(chunk).map_err(|e| format!("writing the body: {e}"))?;
    }
    // The stream must be gone before the body may end.
    drop(stream);
    OutgoingBody::finish(outgoing, None).map_err(|e| format!("ending the body: {e:?}"))
}
