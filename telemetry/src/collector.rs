//! An OTLP collector for tests (feature `collector`): it accepts OTLP/HTTP
//! protobuf on `/v1/traces`, as the exporters here and Spin's send it, and
//! keeps every span with its service's name, so a test can check what a
//! process exported without a collector installed on the machine.

use std::sync::{Arc, Mutex};

use http_body_util::BodyExt;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;

/// One exported span, as a test looks at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedSpan {
    pub name: String,
    /// The resource's `service.name`.
    pub service: String,
    /// Ids in lower-case hex; the parent's is empty for a root span.
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    /// OTLP's span kind: 2 is a server span, 3 a client span.
    pub kind: i32,
    /// When it started and ended, in nanoseconds since the Unix epoch.
    pub start_ns: u64,
    pub end_ns: u64,
    /// String attributes (`http.route`, `db.system`, ...).
    pub attributes: Vec<(String, String)>,
}

/// A collector listening on loopback until the process ends.
pub struct Collector {
    /// Its base URL (`http://127.0.0.1:port`), for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub url: String,
    spans: Arc<Mutex<Vec<ExportedSpan>>>,
}

impl Collector {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = spans.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                        let kept = kept.clone();
                        async move {
                            let path = request.uri().path().to_owned();
                            let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            if path == "/v1/traces"
                                && let Ok(export) = ExportTraceServiceRequest::decode(body)
                            {
                                keep(&kept, export);
                            }
                            let empty = http_body_util::Full::new(bytes::Bytes::new());
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(empty))
                        }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        Self { url, spans }
    }

    /// Every span of trace `trace_id` (hex) received so far.
    pub fn of_trace(&self, trace_id: &str) -> Vec<ExportedSpan> {
        self.spans.lock().expect("not poisoned").iter().filter(|s| s.trace_id == trace_id).cloned().collect()
    }

    /// Waits (up to `limit`) until the spans of `trace_id` include every one
    /// of `names`; returns them, or panics with what did arrive.
    pub async fn wait_for(&self, trace_id: &str, names: &[&str], limit: std::time::Duration) -> Vec<ExportedSpan> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let spans = self.of_trace(trace_id);
            if names.iter().all(|name| spans.iter().any(|s| s.name == *name)) {
                return spans;
            }
            assert!(std::time::Instant::now() < deadline, "spans of {trace_id} wanted {names:?}, got {spans:#?}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

fn keep(kept: &Mutex<Vec<ExportedSpan>>, export: ExportTraceServiceRequest) {
    let text = |value: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>| match value
        .as_ref()
        .and_then(|v| v.value.as_ref())
    {
        Some(Value::StringValue(s)) => s.clone(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    let mut kept = kept.lock().expect("not poisoned");
    for resource in export.resource_spans {
        let service = resource
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .map(|a| text(&a.value))
            .unwrap_or_default();
        for span in resource.scope_spans.into_iter().flat_map(|scope| scope.spans) {
            kept.push(ExportedSpan {
                name: span.name,
                service: service.clone(),
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: hex(&span.parent_span_id),
                kind: span.kind,
                start_ns: span.start_time_unix_nano,
                end_ns: span.end_time_unix_nano,
                attributes: span.attributes.iter().map(|a| (a.key.clone(), text(&a.value))).collect(),
            });
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One trace as a waterfall: each span on a line, indented under its
/// parent, with its service, its start and length, and a bar on a common
/// time scale. What the README shows of a trace is drawn by this.
pub fn waterfall(spans: &[ExportedSpan]) -> String {
    const WIDTH: u64 = 40;
    let Some(start) = spans.iter().map(|s| s.start_ns).min() else { return String::new() };
    let end = spans.iter().map(|s| s.end_ns).max().unwrap_or(start);
    let total = (end - start).max(1);
    let ids: std::collections::HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut lines = Vec::new();
    // Roots: spans whose parent is not in the trace (the caller's, or none).
    let mut roots: Vec<&ExportedSpan> = spans.iter().filter(|s| !ids.contains(s.parent_span_id.as_str())).collect();
    roots.sort_by_key(|s| s.start_ns);
    fn draw<'a>(
        span: &'a ExportedSpan,
        depth: usize,
        spans: &'a [ExportedSpan],
        start: u64,
        total: u64,
        lines: &mut Vec<String>,
    ) {
        let from = (span.start_ns - start) * WIDTH / total;
        let to = ((span.end_ns.max(span.start_ns) - start) * WIDTH / total).max(from + 1).min(WIDTH);
        let bar: String = (0..WIDTH).map(|i| if i >= from && i < to { '#' } else { '.' }).collect();
        let name = format!("{}{}", "  ".repeat(depth), span.name);
        let ms = |ns: u64| ns as f64 / 1e6;
        lines.push(format!(
            "{name:<52} {:<20} {:>8.2} ms {:>8.2} ms  {bar}",
            span.service,
            ms(span.start_ns - start),
            ms(span.end_ns.saturating_sub(span.start_ns))
        ));
        let mut children: Vec<&ExportedSpan> = spans.iter().filter(|s| s.parent_span_id == span.span_id).collect();
        children.sort_by_key(|s| s.start_ns);
        for child in children {
            draw(child, depth + 1, spans, start, total, lines);
        }
    }
    for root in roots {
        draw(root, 0, spans, start, total, &mut lines);
    }
    format!(
        "{:<52} {:<20} {:>11} {:>11}  0 .. {:.1} ms\n{}\n",
        "span",
        "service",
        "start",
        "length",
        total as f64 / 1e6,
        lines.join("\n")
    )
}
