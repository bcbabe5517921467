//! Spans, exported over OTLP when the operator names a collector, so one
//! request's journey shows as one trace in whatever collector they run
//! (Jaeger, Tempo, Honeycomb: anything that speaks OTLP).
//!
//! - **Off unless asked.** Without `OTEL_EXPORTER_OTLP_ENDPOINT` nothing is
//!   installed: `tracing` spans cost what they cost without a subscriber
//!   that records them, and nothing is sent anywhere.
//! - **As the specification reads the variables.** The endpoint is a base
//!   URL to which `/v1/traces` is added; the protocol is `http/protobuf` (as
//!   Spin's exporter); `service.name` is `OTEL_SERVICE_NAME`, else the
//!   binary's own. The SDK's batch processor exports on its own thread, so a
//!   slow or unreachable collector never delays the work (spans it cannot
//!   take are dropped, and logged by the SDK).
//! - **W3C trace context in and out.** [`continue_trace`] makes a span
//!   continue a `traceparent` that came with a message; [`traceparent_of`]
//!   is what to send on from inside a span (its own context, so the next hop
//!   is its child), `None` when spans are not exported.

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracerProvider, Tracer};
use tracing::Subscriber;
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt};
use tracing_subscriber::registry::LookupSpan;
use user_domain::trace_context::TraceParent;

/// Whether this process exports spans (set once, by [`exporter`]): code on
/// hot paths makes its spans only then ([`exporting`]), so tracing off costs
/// nothing.
static EXPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether spans are exported: make a span only if so (`Span::none()` is free).
pub fn exporting() -> bool {
    EXPORTING.load(std::sync::atomic::Ordering::Relaxed)
}

/// The span settings of a binary's command line.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TraceArgs {
    /// An OTLP/HTTP collector's base URL (`/v1/traces` is added), e.g.
    /// `http://127.0.0.1:4318`; without it no span is exported.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,
    /// The spans' `service.name` (each binary has its default).
    #[arg(long, env = "OTEL_SERVICE_NAME", global = true)]
    pub service_name: Option<String>,
    /// The OTLP protocol: only `http/protobuf` (the default, as Spin's) is
    /// spoken; another is refused at start rather than silently ignored.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_PROTOCOL", global = true)]
    pub otlp_protocol: Option<String>,
}

/// The span exporter, while it runs; dropping it sends what is buffered.
pub struct Tracing {
    provider: Option<SdkTracerProvider>,
}

impl Tracing {
    pub(crate) fn off() -> Self {
        Self { provider: None }
    }

    /// Whether spans are exported.
    pub fn is_on(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for Tracing {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            // Sends the spans still buffered; a collector that is gone only
            // costs the export's timeout.
            let _ = provider.shutdown();
        }
    }
}

/// The exporter and the `tracing` layer that feeds it, when `args` names a
/// collector. A URL the exporter cannot use is an error naming the variable.
pub(crate) fn exporter<S>(
    args: &TraceArgs,
    default_service: &str,
) -> Result<(Tracing, Option<OpenTelemetryLayer<S, Tracer>>), String>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let Some(base) = args.otlp_endpoint.as_deref().map(str::trim).filter(|b| !b.is_empty()) else {
        return Ok((Tracing::off(), None));
    };
    if let Some(protocol) =
        args.otlp_protocol.as_deref().map(str::trim).filter(|p| !p.is_empty() && *p != "http/protobuf")
    {
        return Err(format!("OTEL_EXPORTER_OTLP_PROTOCOL = {protocol:?}: only http/protobuf is supported"));
    }
    let endpoint = format!("{}/v1/traces", base.trim_end_matches('/'));
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| format!("OTEL_EXPORTER_OTLP_ENDPOINT = {base:?}: {e}"))?;
    let service = args.service_name.clone().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| default_service.into());
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service.clone()).build())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer(service));
    EXPORTING.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok((Tracing { provider: Some(provider) }, Some(layer)))
}

/// `traceparent` as an OpenTelemetry context whose span is remote.
pub fn context_of(parent: TraceParent) -> opentelemetry::Context {
    let (trace_id, span_id, flags) = parent.parts();
    let remote = SpanContext::new(
        TraceId::from_bytes(trace_id),
        SpanId::from_bytes(span_id),
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    );
    opentelemetry::Context::new().with_remote_span_context(remote)
}

/// Makes `span` a child of `parent` (nothing when spans are not exported).
pub fn continue_trace(span: &tracing::Span, parent: TraceParent) {
    let _ = span.set_parent(context_of(parent));
}

/// What to send on from inside `span`: its own context, so the next hop is
/// its child; `None` when spans are not exported.
pub fn traceparent_of(span: &tracing::Span) -> Option<TraceParent> {
    let context = span.context();
    let current = context.span();
    let own = current.span_context();
    if !own.is_valid() {
        return None;
    }
    TraceParent::from_parts(own.trace_id().to_bytes(), own.span_id().to_bytes(), own.trace_flags().to_u8())
}
