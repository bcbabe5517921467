//! The worker as a process: probes, metrics and graceful shutdown.

use std::time::Duration;

use native_worker::worker::Parts;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestEnv, count_by_request, eventually, stop_gracefully};

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let status = raw.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn probes_report_readiness_and_metrics() {
    let mut env = TestEnv::new().await;
    let user = env.insert_user(true, Some("tok")).await;
    let worker = env.start(Parts { consumer: true, relay: true }).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let addr = worker.serve_http("127.0.0.1:0".parse().unwrap(), stop.clone()).await.unwrap();

    assert_eq!(get(addr, "/health").await.0, 200);
    let connected = &worker.probes.amqp_connected;
    eventually("connected", Duration::from_secs(10), || connected.load(std::sync::atomic::Ordering::Relaxed)).await;
    let (status, body) = get(addr, "/ready").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""rabbitmq":true"#) && body.contains(r#""database":true"#) && body.contains(r#""cache":true"#),
        "{body}"
    );

    env.publish(&TestEnv::push_body(user, "req-metrics")).await;
    env.take(&env.config.ready_queue, 1, Duration::from_secs(10)).await;
    eventually("counted", Duration::from_secs(5), || worker.metrics.forwarded.get() == 1).await;
    let (status, metrics) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    for line in [
        "native_worker_messages_consumed_total 1",
        "native_worker_messages_forwarded_total 1",
        "native_worker_breaker_state 0",
        "native_worker_processing_seconds_count 1",
        "native_worker_outbox_relayed_total 0",
    ] {
        assert!(metrics.contains(line), "missing {line:?} in\n{metrics}");
    }
    assert_eq!(get(addr, "/nope").await.0, 404);
    stop.cancel();
    env.cleanup().await;
}

#[tokio::test]
async fn ready_is_503_when_a_dependency_is_down() {
    let mut env = TestEnv::new().await;
    env.config.redis_url = "redis://127.0.0.1:1".into();
    let worker = env.start(Parts { consumer: false, relay: true }).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let addr = worker.serve_http("127.0.0.1:0".parse().unwrap(), stop.clone()).await.unwrap();
    let (status, body) = get(addr, "/ready").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(r#""cache":false"#), "{body}");
    stop.cancel();
    env.cleanup().await;
}

#[tokio::test]
async fn shutdown_mid_stream_settles_everything_it_held() {
    let mut env = TestEnv::new().await;
    let user = env.insert_user(true, Some("tok")).await;
    let bodies: Vec<_> = (0..2000).map(|i| TestEnv::push_body(user, &format!("req-s-{i}"))).collect();
    env.publish_many(&bodies).await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    eventually("under way", Duration::from_secs(20), || worker.metrics.forwarded.get() >= 300).await;
    env.stop().await;

    // Everything is either forwarded once or back in push.queue, unacked by nobody.
    let forwarded = env.drain(&env.config.ready_queue).await;
    let counts = count_by_request(&forwarded);
    assert!(counts.values().all(|n| *n == 1), "a graceful stop duplicates nothing");
    assert_eq!(forwarded.len() as u64, worker.metrics.forwarded.get());
    assert!(forwarded.len() < 2000, "stopped mid-stream");
    let left = env.queue_len(&env.config.push_queue).await as usize;
    assert_eq!(forwarded.len() + left, 2000, "{} forwarded + {left} left", forwarded.len());
    env.cleanup().await;
}

#[tokio::test]
async fn the_process_survives_an_outbox_row_it_cannot_read() {
    let env = TestEnv::new().await;
    let client = env.pool.get().await.unwrap();
    // The largest f64, which PostgreSQL's JSONB keeps as a 309-digit integer:
    // before quarantine, reading it back panicked the relay on every start.
    client
        .execute(
            "INSERT INTO outbox (routing_key, payload) VALUES ($1, '{\"request_id\": \"huge\", \"n\": 1.7976931348623157e308}')",
            &[&env.config.email_queue],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO outbox (routing_key, payload) VALUES ($1, '{\"request_id\": \"after\"}')",
            &[&env.config.email_queue],
        )
        .await
        .unwrap();
    let mut process = env.command(&["run"]).stdout(std::process::Stdio::null()).spawn().unwrap();

    let out = env.take(&env.config.email_queue, 1, Duration::from_secs(30)).await;
    assert_eq!(out[0].request_id(), "after");
    // The batch's rows are settled together: the good row may reach the
    // queue a moment before the bad one is marked.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let quarantined: bool = client
            .query_one("SELECT quarantined_at IS NOT NULL FROM outbox WHERE payload->>'request_id' = 'huge'", &[])
            .await
            .unwrap()
            .get(0);
        if quarantined {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the unreadable row was never quarantined");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(process.try_wait().unwrap().is_none(), "the worker is still running");
    stop_gracefully(process).await;
    env.cleanup().await;
}
