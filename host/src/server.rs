//! The HTTP side of the host: accept connections, route each request to a
//! fresh instance of its component, add the headers Spin adds, bound the
//! instance's time, and log one line per request.
//!
//! As in Spin: no route is a 404 with an empty body, and a component that
//! fails (traps, never answers, or runs past its deadline) is a 500 with an
//! empty body; the host itself keeps serving.
//!
//! Not in Spin: the body is read before the request waits for an instance
//! (see [`crate::body`]); a body that does not arrive in time is a 408 with a
//! small JSON envelope, a body the client breaks off is an empty 400.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::sync::Semaphore;
use wasmtime::{Engine, Store};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::body::{self, BodyError};
use crate::engine::{EPOCH_TICK, Limits};
use crate::routes::{RouteMatch, Router};
use crate::state::{ComponentContext, InstanceState, Shared};

/// A component ready to serve.
pub struct LoadedComponent {
    pub pre: ProxyPre<InstanceState>,
    pub context: ComponentContext,
}

pub struct Server {
    pub engine: Engine,
    pub router: Router,
    pub components: HashMap<String, LoadedComponent>,
    pub shared: Arc<Shared>,
    pub limits: Limits,
    pub request_timeout: Duration,
    /// How long the whole request body may take to arrive, before the
    /// request may wait for an instance.
    pub body_read_timeout: Duration,
    /// One permit per instance the pooling allocator can hold, so a burst
    /// queues instead of failing to instantiate.
    pub instances: Arc<Semaphore>,
}

fn empty(status: StatusCode) -> Response<HyperOutgoingBody> {
    let mut response = Response::new(Empty::<Bytes>::new().map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = status;
    response
}

/// The answer to a body that did not arrive in time. Spin has no such
/// answer (it never reads the body for the component); the envelope is the
/// API's, so clients parse it like any other error. The connection closes:
/// the rest of the body is never read.
fn body_timed_out() -> Response<HyperOutgoingBody> {
    let envelope = serde_json::json!({
        "success": false,
        "message": "The request body did not arrive in time",
        "data": null,
        "error": "request body timeout",
        "code": "request_timeout",
    });
    let mut response =
        Response::new(Full::new(Bytes::from(envelope.to_string())).map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    let headers = response.headers_mut();
    headers.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    headers.insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
    response
}

impl Server {
    pub async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        client: SocketAddr,
    ) -> Result<Response<HyperOutgoingBody>, Infallible> {
        let started = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let caller_correlation = header(&request, "x-correlation-id");
        // The caller's trace: the request's span continues it, and the log
        // line names it.
        let caller_trace =
            header(&request, telemetry::TRACEPARENT).and_then(|value| telemetry::TraceParent::parse(&value));
        let span = request_span(&request, client, caller_trace);

        let (response, component) = match self.router.route(&path) {
            None => (empty(StatusCode::NOT_FOUND), "-".to_owned()),
            Some(matched) => {
                let component = matched.component.clone();
                span.record("http.route", matched.raw_route.as_str());
                span.record("otel.name", format!("{method} {}", matched.raw_route));
                (self.run_component(matched, request, client).instrument(span.clone()).await, component)
            }
        };
        span.record("http.response.status_code", response.status().as_u16());

        let correlation = response
            .headers()
            .get("x-correlation-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or(caller_correlation)
            .unwrap_or_else(|| "-".to_owned());
        tracing::info!(
            target: "host::request",
            %method,
            %path,
            status = response.status().as_u16(),
            duration_ms = format_args!("{:.2}", started.elapsed().as_secs_f64() * 1000.0),
            %component,
            correlation_id = %correlation,
            trace_id = caller_trace.map(|parent| parent.trace_id()).as_deref(),
            span_id = telemetry::traceparent_of(&span).map(|own| own.parent_id()).as_deref(),
        );
        Ok(response)
    }

    async fn run_component(
        &self,
        matched: RouteMatch,
        request: Request<Incoming>,
        client: SocketAddr,
    ) -> Response<HyperOutgoingBody> {
        let Some(component) = self.components.get(&matched.component) else {
            tracing::error!(component = %matched.component, "routed to a component that is not loaded");
            return empty(StatusCode::INTERNAL_SERVER_ERROR);
        };
        // The body first, under its own short deadline: a slow client must not
        // hold an instance slot while it trickles (issue 7 item 9).
        let (parts, incoming) = request.into_parts();
        let body = match body::read_capped(incoming, body::READ_LIMIT, self.body_read_timeout).await {
            Ok(body) => body,
            Err(error @ BodyError::TimedOut(_)) => {
                tracing::warn!(component = %matched.component, %client, %error, "request body too slow");
                return body_timed_out();
            }
            Err(error @ BodyError::Broken(_)) => {
                tracing::warn!(component = %matched.component, %client, %error, "request body broken off");
                return empty(StatusCode::BAD_REQUEST);
            }
        };
        let request = Request::from_parts(parts, Full::new(body));

        // Under overload, requests queue for an instance, but not past their deadline.
        let permit = match tokio::time::timeout(self.request_timeout, self.instances.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                tracing::warn!(component = %matched.component, "no instance free within the request deadline");
                return empty(StatusCode::SERVICE_UNAVAILABLE);
            }
        };
        let path = request.uri().path().to_owned();
        let request = spin_request(request, &matched, client);

        let state = InstanceState::new(&component.context, &self.shared, self.limits.max_memory_bytes, &path);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        let ticks = (self.request_timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();

        let (sender, receiver) = tokio::sync::oneshot::channel();
        let prepared = store.data_mut().http().new_incoming_request(Scheme::Http, request).and_then(|incoming| {
            let outparam = store.data_mut().http().new_response_outparam(sender)?;
            Ok((incoming, outparam))
        });
        let (incoming, outparam) = match prepared {
            Ok(pair) => pair,
            Err(error) => {
                tracing::error!(component = %component.context.id, %error, "cannot hand the request to the component");
                return empty(StatusCode::INTERNAL_SERVER_ERROR);
            }
        };

        let pre = component.pre.clone();
        // The instance runs in its own task: it may keep streaming the body
        // after the response head is sent. The permit lives as long as it does.
        let task = tokio::spawn(
            async move {
                let _permit = permit;
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy.wasi_http_incoming_handler().call_handle(&mut store, incoming, outparam).await
            }
            // The component's outbound calls are children of the request's span.
            .in_current_span(),
        );

        let id = &component.context.id;
        match tokio::time::timeout(self.request_timeout, receiver).await {
            Ok(Ok(Ok(response))) => response,
            Ok(Ok(Err(code))) => {
                tracing::error!(component = %id, error = ?code, "component answered with an error code");
                empty(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Ok(Err(_)) => {
                // The component ended without setting a response: find out why.
                match task.await {
                    Ok(Ok(())) => tracing::error!(component = %id, "component returned without a response"),
                    Ok(Err(trap)) => tracing::error!(component = %id, error = format!("{trap:?}"), "component trapped"),
                    Err(join) => tracing::error!(component = %id, error = %join, "component task failed"),
                }
                empty(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Err(_) => {
                task.abort();
                tracing::error!(component = %id, timeout_ms = self.request_timeout.as_millis() as u64, "component timed out");
                empty(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

fn header<B>(request: &Request<B>, name: &str) -> Option<String> {
    request.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Rewrites the request as Spin hands it to a component: an absolute URI and
/// the `spin-*` headers; `Connection` is dropped.
fn spin_request<B>(request: Request<B>, matched: &RouteMatch, client: SocketAddr) -> Request<B> {
    let (mut parts, body) = request.into_parts();
    let host = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or("localhost")
        .to_owned();
    let path_and_query = parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into());
    let full_url = format!("http://{host}{path_and_query}");
    if let Ok(uri) = full_url.parse() {
        parts.uri = uri;
    }

    let headers = &mut parts.headers;
    headers.remove(hyper::header::CONNECTION);
    let mut set = |name: &str, value: &str| {
        if let (Ok(name), Ok(value)) =
            (hyper::header::HeaderName::try_from(name), hyper::header::HeaderValue::try_from(value))
        {
            headers.insert(name, value);
        }
    };
    set("spin-full-url", &full_url);
    set("spin-path-info", &matched.path_info);
    set("spin-matched-route", &matched.raw_route);
    set("spin-base-path", "/");
    set("spin-raw-component-route", &matched.raw_route);
    set("spin-component-route", matched.component_route());
    set("spin-client-addr", &client.to_string());
    for (name, value) in &matched.captures {
        set(&format!("spin-path-match-{name}"), value);
    }
    Request::from_parts(parts, body)
}

/// The request's span, named and described as Spin's
/// (`spin_trigger_http.handle_http_request`, `crates/trigger-http`), made
/// only while spans are exported. It continues `caller`'s trace (the
/// request's valid `traceparent`), if any.
fn request_span<B>(request: &Request<B>, client: SocketAddr, caller: Option<telemetry::TraceParent>) -> tracing::Span {
    if !telemetry::exporting() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "spin_trigger_http.handle_http_request",
        otel.kind = "server",
        http.request.method = %request.method(),
        network.peer.address = %client.ip(),
        network.peer.port = client.port(),
        network.protocol.name = "http",
        url.path = request.uri().path(),
        url.query = request.uri().query().unwrap_or(""),
        url.scheme = request.uri().scheme_str().unwrap_or(""),
        http.response.status_code = tracing::field::Empty,
        http.route = tracing::field::Empty,
        otel.name = tracing::field::Empty,
    );
    if let Some(parent) = caller {
        telemetry::continue_trace(&span, parent);
    }
    span
}
