//! Fault tests: the worker's link to RabbitMQ, then to Redis, is cut and
//! restored mid-stream through a proxy the test controls; every message must
//! end up in push.ready or failed.queue, in the right one, none lost.
//!
//! A Redis cut must not duplicate anything. A RabbitMQ cut can: a forward the
//! broker took just before the cut, whose confirm died with the link, is
//! unknowable to the worker, which forwards the redelivery again. The test
//! bounds those copies by what can be unconfirmed at once (the prefetch) and
//! checks each copy carries the request_id as message_id, for the push
//! service to drop.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use native_worker::worker::Parts;
use serde_json::Value;

use crate::helpers::{Proxy, Received, TestEnv, count_by_request, eventually};

const MESSAGES: usize = 3000;

/// 3000 messages over 30 users, one in ten for an unknown user (which must
/// end in failed.queue).
async fn workload(env: &TestEnv) -> (Vec<Value>, HashMap<String, bool>) {
    let mut users = Vec::new();
    for i in 0..30 {
        users.push(env.insert_user(true, Some(&format!("tok-{i}"))).await);
    }
    let mut bodies = Vec::new();
    let mut expect_forward = HashMap::new();
    for i in 0..MESSAGES {
        let request_id = format!("req-f-{i}");
        let unknown = i % 10 == 0;
        let user = if unknown { uuid::Uuid::new_v4() } else { users[i % users.len()] };
        bodies.push(TestEnv::push_body(user, &request_id));
        expect_forward.insert(request_id, !unknown);
    }
    (bodies, expect_forward)
}

/// Collects push.ready and failed.queue until every request arrived and the
/// worker has nothing left, then checks each request is in the right place once.
async fn assert_delivered(env: &TestEnv, expect_forward: &HashMap<String, bool>, max_unconfirmed_copies: usize) {
    let until = Instant::now() + Duration::from_secs(90);
    let mut ready: Vec<Received> = Vec::new();
    let mut failed: Vec<Received> = Vec::new();
    loop {
        ready.extend(env.drain(&env.config.ready_queue).await);
        failed.extend(env.drain(&env.config.failed_queue).await);
        let seen = count_by_request(&ready).len() + count_by_request(&failed).len();
        let mut backlog = env.queue_len(&env.config.push_queue).await;
        for q in env.retry_queues() {
            backlog += env.queue_len(&q).await;
        }
        if seen >= expect_forward.len() && backlog == 0 {
            break;
        }
        assert!(Instant::now() < until, "only {seen} of {} requests arrived; backlog {backlog}", expect_forward.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let anything still in flight land before the final count.
    tokio::time::sleep(Duration::from_millis(500)).await;
    ready.extend(env.drain(&env.config.ready_queue).await);
    failed.extend(env.drain(&env.config.failed_queue).await);

    let in_ready = count_by_request(&ready);
    let in_failed = count_by_request(&failed);
    let copies: usize = in_ready.values().chain(in_failed.values()).map(|n| n - 1).sum();
    assert!(copies <= max_unconfirmed_copies, "{copies} extra copies, at most {max_unconfirmed_copies} allowed");
    for m in &ready {
        let id = m.properties.message_id().as_ref().map(|s| s.to_string());
        assert_eq!(id, Some(m.request_id()), "every forward carries its request_id as message_id");
    }
    for (request, forward) in expect_forward {
        let (r, f) = (in_ready.get(request).copied().unwrap_or(0), in_failed.get(request).copied().unwrap_or(0));
        if *forward {
            assert!(r >= 1 && f == 0, "{request} should be forwarded, found {r} forwarded and {f} dead");
        } else {
            assert!(r == 0 && f >= 1, "{request} should be dead-lettered, found {r} forwarded and {f} dead");
        }
    }
    eprintln!("{} requests settled, {copies} extra copies", expect_forward.len());
}

#[tokio::test]
async fn rabbitmq_link_cut_mid_stream_loses_nothing() {
    let mut env = TestEnv::new().await;
    let proxy = Proxy::start("127.0.0.1:5672".parse().unwrap()).await;
    env.config.amqp_url = format!("amqp://guest:guest@{}/%2f", proxy.addr);
    env.config.prefetch = 128;
    let (bodies, expected) = workload(&env).await;
    env.publish_many(&bodies).await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;

    let until = Instant::now() + Duration::from_secs(30);
    while worker.metrics.forwarded.get() < (MESSAGES / 4) as u64 {
        assert!(Instant::now() < until, "worker never got going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    proxy.cut();
    let connected = &worker.probes.amqp_connected;
    eventually("the worker notices the cut", Duration::from_secs(5), || !connected.load(Ordering::Relaxed)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.restore();

    assert_delivered(&env, &expected, env.config.prefetch as usize).await;
    assert!(connected.load(Ordering::Relaxed), "reconnected");
    env.cleanup().await;
}

#[tokio::test]
async fn redis_link_cut_mid_stream_degrades_to_the_database_exactly_once() {
    let mut env = TestEnv::new().await;
    let proxy = Proxy::start("127.0.0.1:6379".parse().unwrap()).await;
    env.config.redis_url = format!("redis://{}", proxy.addr);
    let (bodies, expected) = workload(&env).await;
    env.publish_many(&bodies).await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;

    let until = Instant::now() + Duration::from_secs(30);
    while worker.metrics.forwarded.get() < (MESSAGES / 4) as u64 {
        assert!(Instant::now() < until, "worker never got going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.restore();

    assert_delivered(&env, &expected, 0).await;
    assert_eq!(worker.metrics.retried.get(), 0, "a cache outage is not a failure");
    env.cleanup().await;
}
