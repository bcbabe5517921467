//! The breaker in the running worker: PostgreSQL goes away behind a proxy,
//! the breaker opens, consumption pauses without burning messages into
//! retries, and it recovers by itself when PostgreSQL is back.

use std::time::Duration;

use native_worker::worker::Parts;

use crate::helpers::{Proxy, TestEnv, count_by_request, eventually};

#[tokio::test]
async fn breaker_opens_pauses_consumption_and_recovers() {
    let mut env = TestEnv::new().await;
    let user = env.insert_user(true, Some("tok")).await;
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let db = env.config.database_url.rsplit_once('/').unwrap().1.to_owned();
    env.config.database_url = format!("postgres://postgres@{}/{db}", proxy.addr);
    env.config.breaker_failure_threshold = 3;
    env.config.breaker_open_ms = 600;
    env.config.retry_delays_ms = vec![100, 100, 100];
    proxy.cut();
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    let bodies: Vec<_> = (0..40).map(|i| TestEnv::push_body(user, &format!("req-b-{i}"))).collect();
    env.publish_many(&bodies).await;

    eventually("breaker open", Duration::from_secs(10), || worker.metrics.breaker_state.get() == 1).await;
    // While open, messages wait in push.queue instead of being burnt.
    assert!(worker.metrics.retried.get() <= 2, "only failures before opening retry: {}", worker.metrics.retried.get());
    // The consumer hands back what it held as it stops; that happens just after the state flips.
    eventually("held messages requeued", Duration::from_secs(5), || worker.metrics.requeued.get() >= 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(env.queue_len(&env.config.push_queue).await >= 30, "consumption paused");
    assert_eq!(worker.metrics.dead_lettered.get(), 0);
    assert_eq!(worker.metrics.forwarded.get(), 0);
    assert!(worker.probes.amqp_connected.load(std::sync::atomic::Ordering::Relaxed));

    // A failed trial reopens it; once PostgreSQL is back, the next trial closes it.
    proxy.restore();
    let out = env.take(&env.config.ready_queue, 40, Duration::from_secs(20)).await;
    assert!(count_by_request(&out).values().all(|n| *n == 1));
    assert_eq!(count_by_request(&out).len(), 40);
    eventually("breaker closed", Duration::from_secs(5), || worker.metrics.breaker_state.get() == 0).await;
    assert_eq!(worker.metrics.dead_lettered.get(), 0);
    env.cleanup().await;
}
