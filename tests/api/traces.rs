//! Spans from the app (issue 20). With `OTEL_EXPORTER_OTLP_ENDPOINT` set,
//! the runtime exports a span for each request, in the trace of the
//! request's `traceparent`, and a span for each call the component makes
//! through a Spin interface, under it: this repository's host through the
//! `telemetry` crate, `spin up` on its own. The host's spans carry Spin's
//! names, so a collector shows the same tree under both. The collector is
//! the test's own (`telemetry::collector`).

use std::time::Duration;

use api_tests::{Op, Runtime, Spawn, path_of, spawn_with};
use serde_json::json;
use telemetry::collector::{Collector, ExportedSpan};

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN: &str = "b7ad6b7169203331";

fn attribute<'a>(span: &'a ExportedSpan, key: &str) -> Option<&'a str> {
    span.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_request_and_its_database_calls_are_exported_in_the_callers_trace() {
    let collector = Collector::start().await;
    // The embedded host exports through this process's subscriber; `spin up`
    // through its own exporter, from its environment.
    let tracing = match Runtime::from_env() {
        Runtime::Host => {
            let args = telemetry::TraceArgs { otlp_endpoint: Some(collector.url.clone()), ..Default::default() };
            Some(telemetry::init(telemetry::LogFormat::Text, "warn", Some((&args, "user-service"))).expect("installed"))
        }
        Runtime::Spin => None,
    };
    let app = spawn_with(
        Spawn::default()
            .process_env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.url)
            .process_env("OTEL_BSP_SCHEDULE_DELAY", "100"),
    )
    .await;
    let email = format!("spans-{}@example.com", uuid::Uuid::new_v4().simple());
    let body = json!({"name": "Span Ner", "email": email, "password": "Vq8#mLp2!zr-long"});
    let traceparent = format!("00-{TRACE_ID}-{CALLER_SPAN}-01");
    let request = app.client.post(app.url(path_of(Op::Register))).header("traceparent", traceparent).json(&body);
    let registered = app.send(request).await;
    assert_eq!(registered.status, 201, "{}", registered.text);
    // The host's buffered spans go out when its exporter shuts down; it
    // blocks until they are sent, so not on the thread that runs the
    // collector.
    tokio::task::spawn_blocking(move || drop(tracing)).await.unwrap();

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (server, spans) = loop {
        let spans = collector.of_trace(TRACE_ID);
        let server = spans.iter().find(|s| s.kind == 2).cloned();
        if let Some(server) = server
            && spans.iter().any(|s| s.name.starts_with("spin_outbound_pg."))
        {
            break (server, spans);
        }
        assert!(std::time::Instant::now() < deadline, "{} exported: {spans:#?}", app.runtime);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(server.parent_span_id, CALLER_SPAN, "the request's span continues the caller's");
    assert_eq!(server.name, "POST /api/v1/users/...", "named by method and route, as Spin names it");
    assert_eq!(attribute(&server, "http.route"), Some("/api/v1/users/..."));
    assert_eq!(attribute(&server, "http.request.method"), Some("POST"));
    let database: Vec<&ExportedSpan> = spans.iter().filter(|s| s.name.starts_with("spin_outbound_pg.")).collect();
    assert!(
        database.iter().all(|s| s.kind == 3 && attribute(s, "db.system.name") == Some("postgresql")),
        "{database:#?}"
    );
    if app.runtime == Runtime::Host {
        assert_eq!(server.service, "user-service");
        assert!(database.iter().all(|s| s.parent_span_id == server.span_id), "{database:#?}");
    }
}
