//! The outbox relay: order, confirms, and several relays at once.

use std::collections::HashSet;
use std::time::Duration;

use native_worker::worker::Parts;

use crate::helpers::{TestEnv, eventually};

const WAIT: Duration = Duration::from_secs(20);

async fn insert_events(env: &TestEnv, n: i32) {
    env.pool
        .get()
        .await
        .unwrap()
        .execute(
            "INSERT INTO outbox (routing_key, payload) \
             SELECT $1, jsonb_build_object('notification_type', 'email', 'template_code', 'email_verification', \
                    'variables', jsonb_build_object('token', 't' || g), 'request_id', 'evt-' || g) \
             FROM generate_series(1, $2) g",
            &[&env.config.email_queue, &n],
        )
        .await
        .unwrap();
}

async fn pending(env: &TestEnv) -> i64 {
    env.pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT count(*) FROM outbox WHERE published_at IS NULL", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn relays_email_events_in_id_order_and_marks_them() {
    let mut env = TestEnv::new().await;
    env.config.relay_batch_size = 7;
    insert_events(&env, 50).await;
    let worker = env.start(Parts { consumer: false, relay: true }).await;

    let out = env.take(&env.config.email_queue, 50, WAIT).await;
    let order: Vec<String> = out.iter().map(|m| m.request_id()).collect();
    let expected: Vec<String> = (1..=50).map(|i| format!("evt-{i}")).collect();
    assert_eq!(order, expected);
    assert_eq!(out[0].body["variables"]["token"], "t1");
    assert!(out[0].properties.message_id().is_some(), "event_id travels as message_id");
    eventually("all marked", WAIT, || worker.metrics.relayed.get() == 50).await;
    assert_eq!(pending(&env).await, 0);
    env.cleanup().await;
}

#[tokio::test]
async fn two_relays_never_publish_a_row_twice() {
    let mut env = TestEnv::new().await;
    env.config.relay_batch_size = 25;
    insert_events(&env, 1000).await;
    let a = env.start(Parts { consumer: false, relay: true }).await;
    // A second, independent worker on the same outbox.
    let b = std::sync::Arc::new(native_worker::worker::Worker::build(env.config.clone()).unwrap());
    let stop_b = tokio_util::sync::CancellationToken::new();
    let run_b = {
        let (b, stop_b) = (b.clone(), stop_b.clone());
        tokio::spawn(async move { b.run(Parts { consumer: false, relay: true }, stop_b).await })
    };

    let out = env.take(&env.config.email_queue, 1000, WAIT).await;
    eventually("both relays idle", WAIT, || a.metrics.relayed.get() + b.metrics.relayed.get() == 1000).await;
    assert!(a.metrics.relayed.get() > 0 && b.metrics.relayed.get() > 0, "both relays took part");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let extra = env.drain(&env.config.email_queue).await;
    assert!(extra.is_empty(), "{} rows published twice", extra.len());
    let unique: HashSet<String> = out.iter().map(|m| m.request_id()).collect();
    assert_eq!(unique.len(), 1000);
    assert_eq!(pending(&env).await, 0);
    stop_b.cancel();
    run_b.await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn an_unroutable_event_stays_pending_with_its_error() {
    let mut env = TestEnv::new().await;
    env.pool
        .get()
        .await
        .unwrap()
        .execute("INSERT INTO outbox (routing_key, payload) VALUES ('no.such.queue.' || gen_random_uuid(), '{}')", &[])
        .await
        .unwrap();
    let worker = env.start(Parts { consumer: false, relay: true }).await;
    eventually("a failed publish", WAIT, || worker.metrics.relay_failures.get() >= 1).await;
    let row = env
        .pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT attempts, last_error, published_at IS NULL FROM outbox", &[])
        .await
        .unwrap();
    assert!(row.get::<_, i32>(0) >= 1);
    assert!(row.get::<_, String>(1).contains("unroutable"), "{}", row.get::<_, String>(1));
    assert!(row.get::<_, bool>(2), "still pending");
    env.cleanup().await;
}
