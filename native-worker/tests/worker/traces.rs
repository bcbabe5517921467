//! W3C trace context through the worker: a `push.queue` message's
//! `traceparent` travels on everything published for it (the forward to
//! `push.ready`, its dead letter, its status events); a message without one
//! gets one derived from its body, the same on every publish; the relay
//! sends an outbox row's trace (its payload's `metadata.traceparent`) as
//! the event's header.

use std::time::Duration;

use native_worker::message::{trace_of, with_trace};
use native_worker::worker::Parts;
use serde_json::Value;
use user_domain::trace_context::TraceParent;

use telemetry::collector::Collector;

use crate::helpers::{Received, TestEnv, stop_gracefully};

const WAIT: Duration = Duration::from_secs(20);
const TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

async fn publish_traced(env: &TestEnv, body: &Value, trace: Option<&str>) {
    let mut properties = native_worker::topology::json_properties();
    if let Some(trace) = trace {
        properties = properties.with_headers(with_trace(None, TraceParent::parse(trace).unwrap()));
    }
    env.publish_with(&serde_json::to_vec(body).unwrap(), properties).await;
}

/// The `traceparent` header a received message carries, as sent.
fn header(message: &Received) -> Option<String> {
    match message.headers.as_ref()?.inner().get("traceparent")? {
        lapin::types::AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        _ => None,
    }
}

#[tokio::test]
async fn a_messages_trace_travels_on_its_forward_its_dead_letter_and_its_status_events() {
    let mut env = TestEnv::new().await;
    let user = env.insert_user(true, Some("device-token-1")).await;
    let muted = env.insert_user(false, Some("device-token-2")).await;
    env.start(Parts { consumer: true, relay: false }).await;

    publish_traced(&env, &TestEnv::push_body(user, "req-traced"), Some(TRACE)).await;
    let forwarded = env.take(&env.config.ready_queue, 1, WAIT).await;
    assert_eq!(header(&forwarded[0]).as_deref(), Some(TRACE), "the forward continues the trace");

    publish_traced(&env, &TestEnv::push_body(uuid::Uuid::new_v4(), "req-unknown"), Some(TRACE)).await;
    let dead = env.take(&env.config.failed_queue, 1, WAIT).await;
    assert!(dead[0].reason().is_some_and(|r| r.starts_with("unknown user")));
    assert_eq!(header(&dead[0]).as_deref(), Some(TRACE), "the dead letter stays in the trace");

    publish_traced(&env, &TestEnv::push_body(muted, "req-muted"), Some(TRACE)).await;
    let status = env.take(&env.config.status_queue, 1, WAIT).await;
    assert_eq!(status[0].body["status"], "skipped");
    assert_eq!(header(&status[0]).as_deref(), Some(TRACE), "the status event is in the trace");
    env.cleanup().await;
}

#[tokio::test]
async fn a_message_without_a_trace_gets_one_derived_from_its_body() {
    let mut env = TestEnv::new().await;
    let user = env.insert_user(true, Some("device-token-1")).await;
    env.start(Parts { consumer: true, relay: false }).await;
    let body = TestEnv::push_body(user, "req-untraced");
    publish_traced(&env, &body, None).await;
    // Garbage is no trace either: the message is not refused for it.
    let garbage = TestEnv::push_body(user, "req-garbage");
    let mut headers = lapin::types::FieldTable::default();
    headers.insert("traceparent".into(), lapin::types::AMQPValue::LongString("00-not-a-trace".into()));
    let properties = native_worker::topology::json_properties().with_headers(headers);
    env.publish_with(&serde_json::to_vec(&garbage).unwrap(), properties).await;

    let out = env.take(&env.config.ready_queue, 2, WAIT).await;
    for message in &out {
        let sent = if message.request_id() == "req-untraced" { &body } else { &garbage };
        let expected = trace_of(None, &serde_json::to_vec(sent).unwrap()).to_string();
        assert_eq!(header(message), Some(expected), "{}", message.request_id());
    }
    env.cleanup().await;
}

#[tokio::test]
async fn the_relay_sends_an_outbox_rows_trace_as_the_events_header() {
    let mut env = TestEnv::new().await;
    env.pool
        .get()
        .await
        .unwrap()
        .execute(
            "INSERT INTO outbox (routing_key, payload) VALUES \
             ($1, jsonb_build_object('request_id', 'traced', 'metadata', jsonb_build_object('traceparent', $2::text))), \
             ($1, jsonb_build_object('request_id', 'untraced', 'metadata', jsonb_build_object('correlation_id', 'c'))), \
             ($1, jsonb_build_object('request_id', 'garbage', 'metadata', jsonb_build_object('traceparent', 'nope')))",
            &[&env.config.email_queue, &TRACE],
        )
        .await
        .unwrap();
    env.start(Parts { consumer: false, relay: true }).await;
    let out = env.take(&env.config.email_queue, 3, WAIT).await;
    let by_id = |id: &str| out.iter().find(|m| m.request_id() == id).unwrap();
    assert_eq!(header(by_id("traced")).as_deref(), Some(TRACE));
    assert_eq!(header(by_id("untraced")), None, "no trace is made up for a row without one");
    assert_eq!(header(by_id("garbage")), None, "nor sent on when it is not one");
    env.cleanup().await;
}

#[tokio::test]
async fn with_a_collector_the_worker_exports_its_spans_in_the_messages_trace() {
    let collector = Collector::start().await;
    let env = TestEnv::new().await;
    let user = env.insert_user(true, Some("device-token-1")).await;
    let process = env
        .command(&["run"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.url)
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("RUST_LOG", "info")
        .env("LOG_FORMAT", "json")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    publish_traced(&env, &TestEnv::push_body(user, "req-exported"), Some(TRACE)).await;
    let out = env.take(&env.config.ready_queue, 1, WAIT).await;
    let sent = TraceParent::parse(&header(&out[0]).expect("a traceparent")).unwrap();
    assert_eq!(sent.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736", "the message's trace");
    assert_ne!(sent.parent_id(), "00f067aa0ba902b7", "push.ready is a child of the worker's span, not the sender's");

    let spans = collector
        .wait_for("4bf92f3577b34da6a3ce929d0e0e4736", &["push.consume", "user.lookup", "push.publish"], WAIT)
        .await;
    let find = |name: &str| spans.iter().find(|s| s.name == name).unwrap().clone();
    let consume = find("push.consume");
    assert_eq!(consume.service, "user-service-worker");
    assert_eq!(consume.parent_span_id, "00f067aa0ba902b7", "the consume span continues the sender's");
    let lookup = find("user.lookup");
    assert_eq!(lookup.parent_span_id, consume.span_id);
    assert!(lookup.attributes.iter().any(|(k, v)| k == "source" && (v == "Cache" || v == "Database")), "{lookup:?}");
    assert_eq!(find("push.publish").parent_span_id, consume.span_id);
    assert_eq!(sent.parent_id(), consume.span_id, "the forward names the consume span as its parent");

    // The relay: an outbox row's trace, continued by a span of the relay's.
    let row_trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    env.pool
        .get()
        .await
        .unwrap()
        .execute(
            "INSERT INTO outbox (routing_key, payload) \
             VALUES ($1, jsonb_build_object('request_id', 'relayed', 'metadata', jsonb_build_object('traceparent', $2::text)))",
            &[&env.config.email_queue, &row_trace],
        )
        .await
        .unwrap();
    let relayed = env.take(&env.config.email_queue, 1, WAIT).await;
    let sent = TraceParent::parse(&header(&relayed[0]).expect("a traceparent")).unwrap();
    assert_eq!(sent.trace_id(), "0af7651916cd43dd8448eb211c80319c");
    let spans = collector.wait_for("0af7651916cd43dd8448eb211c80319c", &["outbox.publish"], WAIT).await;
    let publish = spans.iter().find(|s| s.name == "outbox.publish").unwrap();
    assert_eq!(publish.parent_span_id, "b7ad6b7169203331", "the relay's span continues the request's");
    assert_eq!(sent.parent_id(), publish.span_id, "the email event names the relay's span as its parent");

    // A log line written for a delivery names its trace and span.
    let unknown = TestEnv::push_body(uuid::Uuid::new_v4(), "req-logged");
    publish_traced(&env, &unknown, Some(TRACE)).await;
    env.take(&env.config.failed_queue, 1, WAIT).await;

    let output = stop_gracefully(process).await;
    let logs = String::from_utf8(output.stdout).unwrap();
    let line = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["message"] == "dead-lettering")
        .unwrap_or_else(|| panic!("no dead-lettering line in {logs}"));
    assert_eq!(line["span"]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736", "{line}");
    let span_id = line["span"]["span_id"].as_str().unwrap_or_default();
    assert!(span_id.len() == 16 && span_id != "00f067aa0ba902b7", "the worker's own span: {line}");
    env.cleanup().await;
}

#[tokio::test]
async fn an_unreachable_collector_slows_nothing_down() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let env = TestEnv::new().await;
    let user = env.insert_user(true, Some("device-token-1")).await;
    let process = env
        .command(&["run"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{closed}"))
        .env("OTEL_BSP_SCHEDULE_DELAY", "50")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Nothing listens at the collector's address: every export fails.
    let bodies: Vec<Value> = (0..50).map(|i| TestEnv::push_body(user, &format!("req-{i}"))).collect();
    env.publish_many(&bodies).await;
    let out = env.take(&env.config.ready_queue, 50, WAIT).await;
    assert_eq!(out.len(), 50);
    stop_gracefully(process).await;
    env.cleanup().await;
}

#[tokio::test]
async fn without_the_endpoint_nothing_is_exported() {
    // A collector is there, and the SDK's own per-signal variable names it:
    // the worker still exports nothing unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
    let collector = Collector::start().await;
    let env = TestEnv::new().await;
    let user = env.insert_user(true, Some("device-token-1")).await;
    let process = env
        .command(&["run"])
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", format!("{}/v1/traces", collector.url))
        .env("OTEL_BSP_SCHEDULE_DELAY", "50")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    publish_traced(&env, &TestEnv::push_body(user, "req-quiet"), Some(TRACE)).await;
    let out = env.take(&env.config.ready_queue, 1, WAIT).await;
    assert_eq!(header(&out[0]).as_deref(), Some(TRACE), "the context still travels, unchanged");
    stop_gracefully(process).await;
    assert!(collector.of_trace("4bf92f3577b34da6a3ce929d0e0e4736").is_empty(), "nothing was exported");
    env.cleanup().await;
}

#[tokio::test]
async fn a_protocol_the_worker_does_not_speak_is_refused_by_name() {
    let env = TestEnv::new().await;
    let output = env
        .command(&["run"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("OTEL_EXPORTER_OTLP_PROTOCOL") && stderr.contains("grpc"), "{stderr}");
    env.cleanup().await;
}
