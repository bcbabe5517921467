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

/// What PostgreSQL keeps of `{"n": 1.7976931348623157e308}`: the largest
/// `f64`, as an exact 309-digit integer that serde_json cannot read back.
const BEYOND_F64: &str = r#"{"notification_type": "email", "request_id": "evt-huge", "n": 1.7976931348623157e308}"#;

async fn insert_raw(env: &TestEnv, payload: &str) {
    env.pool
        .get()
        .await
        .unwrap()
        .execute(
            "INSERT INTO outbox (routing_key, payload) VALUES ($1, $2::text::jsonb)",
            &[&env.config.email_queue, &payload],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_row_the_relay_cannot_read_is_quarantined_and_the_rest_keep_flowing() {
    let mut env = TestEnv::new().await;
    insert_raw(&env, BEYOND_F64).await;
    insert_events(&env, 3).await;
    let worker = env.start(Parts { consumer: false, relay: true }).await;

    let out = env.take(&env.config.email_queue, 3, WAIT).await;
    let order: Vec<String> = out.iter().map(|m| m.request_id()).collect();
    assert_eq!(order, ["evt-1", "evt-2", "evt-3"], "the rows behind it are relayed");
    eventually("quarantine counted", WAIT, || worker.metrics.quarantined.get() == 1).await;
    let row = env
        .pool
        .get()
        .await
        .unwrap()
        .query_one(
            "SELECT quarantined_at IS NOT NULL, published_at IS NULL, last_error, attempts FROM outbox \
             WHERE payload->>'request_id' = 'evt-huge'",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0), "quarantined");
    assert!(row.get::<_, bool>(1), "never published");
    let error: String = row.get(2);
    assert!(error.contains("column `payload` cannot be read"), "{error}");
    assert_eq!(row.get::<_, i32>(3), 1);
    // Never claimed again: the count stays at one while the relay keeps polling.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(worker.metrics.quarantined.get(), 1);
    assert!(env.drain(&env.config.email_queue).await.is_empty());
    assert!(worker.metrics.render().contains("native_worker_outbox_quarantined_total 1"));
    env.cleanup().await;
}

#[tokio::test]
async fn a_routing_key_amqp_cannot_carry_is_quarantined() {
    let mut env = TestEnv::new().await;
    env.pool
        .get()
        .await
        .unwrap()
        .execute("INSERT INTO outbox (routing_key, payload) VALUES (repeat('q', 256), '{}')", &[])
        .await
        .unwrap();
    insert_events(&env, 1).await;
    let worker = env.start(Parts { consumer: false, relay: true }).await;
    env.take(&env.config.email_queue, 1, WAIT).await;
    eventually("quarantine counted", WAIT, || worker.metrics.quarantined.get() == 1).await;
    let error: String = env
        .pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT last_error FROM outbox WHERE quarantined_at IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(error, "`routing_key` is 256 bytes; AMQP carries at most 255");
    env.cleanup().await;
}

#[tokio::test]
async fn a_published_row_keeps_no_tokens() {
    let mut env = TestEnv::new().await;
    let variables = r#"{"name": "Ada", "reset_token": "r-secret", "verification_token": "v-secret",
                        "Token": "t-secret", "tokens_left": 3, "expires_in": 3600}"#;
    insert_raw(
        &env,
        &format!(r#"{{"notification_type": "email", "request_id": "evt-secret", "variables": {variables}}}"#),
    )
    .await;
    insert_raw(&env, r#"{"notification_type": "email", "request_id": "evt-plain", "variables": {}}"#).await;
    let worker = env.start(Parts { consumer: false, relay: true }).await;

    let out = env.take(&env.config.email_queue, 2, WAIT).await;
    assert_eq!(out[0].body["variables"]["reset_token"], "r-secret", "the event itself carries its tokens");
    assert_eq!(out[0].body["variables"]["verification_token"], "v-secret");
    eventually("marked", WAIT, || worker.metrics.relayed.get() == 2).await;
    let client = env.pool.get().await.unwrap();
    let stored: serde_json::Value = client
        .query_one("SELECT payload FROM outbox WHERE payload->>'request_id' = 'evt-secret'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        stored["variables"],
        serde_json::json!({"name": "Ada", "reset_token": null, "verification_token": null, "Token": null,
                           "tokens_left": 3, "expires_in": 3600}),
        "tokens are gone, the rest is kept"
    );
    assert_eq!(stored["request_id"], "evt-secret");
    let plain: serde_json::Value = client
        .query_one("SELECT payload FROM outbox WHERE payload->>'request_id' = 'evt-plain'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(plain["variables"], serde_json::json!({}));
    env.cleanup().await;
}

#[tokio::test]
async fn rows_are_purged_after_the_retention_period() {
    let mut env = TestEnv::new().await;
    env.config.outbox_retention_hours = 168;
    insert_events(&env, 4).await;
    let worker = env.start(Parts { consumer: false, relay: true }).await;
    env.take(&env.config.email_queue, 4, WAIT).await;
    eventually("marked", WAIT, || worker.metrics.relayed.get() == 4).await;
    let client = env.pool.get().await.unwrap();
    // evt-1 published 169 hours ago, evt-2 167 hours ago; a pending row and a
    // quarantined one, both old.
    client
        .batch_execute(
            "UPDATE outbox SET published_at = now() - interval '169 hours' WHERE payload->>'request_id' = 'evt-1';
             UPDATE outbox SET published_at = now() - interval '167 hours' WHERE payload->>'request_id' = 'evt-2';
             INSERT INTO outbox (routing_key, payload, created_at, quarantined_at, last_error)
                 VALUES ('x', '{\"request_id\": \"old-quarantined\"}', now() - interval '300 hours',
                         now() - interval '200 hours', 'test');
             INSERT INTO outbox (routing_key, payload, created_at, quarantined_at, last_error)
                 VALUES ('x', '{\"request_id\": \"new-quarantined\"}', now(), now(), 'test');",
        )
        .await
        .unwrap();
    env.stop().await;
    client
        .execute(
            "INSERT INTO outbox (routing_key, payload, created_at) VALUES ('x', '{\"request_id\": \"old-pending\"}', now() - interval '300 hours')",
            &[],
        )
        .await
        .unwrap();

    assert_eq!(worker.relay.purge().await.unwrap(), 2);
    let mut left: Vec<String> = client
        .query("SELECT payload->>'request_id' FROM outbox", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    left.sort();
    assert_eq!(left, ["evt-2", "evt-3", "evt-4", "new-quarantined", "old-pending"], "a pending row is never purged");
    assert!(worker.metrics.render().contains("native_worker_outbox_purged_total 2"));
    env.cleanup().await;
}

#[tokio::test]
async fn a_running_worker_purges_at_start() {
    let mut env = TestEnv::new().await;
    env.config.outbox_retention_hours = 1;
    env.pool
        .get()
        .await
        .unwrap()
        .execute(
            "INSERT INTO outbox (routing_key, payload, published_at) VALUES ('x', '{}', now() - interval '2 hours')",
            &[],
        )
        .await
        .unwrap();
    let worker = env.start(Parts { consumer: false, relay: false }).await;
    eventually("purged", WAIT, || worker.metrics.outbox_purged.get() == 1).await;
    let left: i64 = env.pool.get().await.unwrap().query_one("SELECT count(*) FROM outbox", &[]).await.unwrap().get(0);
    assert_eq!(left, 0);
    env.cleanup().await;
}

#[tokio::test]
async fn audit_events_are_purged_after_their_retention_period() {
    let mut env = TestEnv::new().await;
    env.config.audit_retention_days = 30;
    let worker = env.start(Parts { consumer: false, relay: true }).await;
    env.stop().await;
    let client = env.pool.get().await.unwrap();
    client
        .batch_execute(
            "INSERT INTO audit_events (actor_kind, action, outcome, occurred_at)
                 VALUES ('anonymous', 'old', 'success', now() - interval '31 days'),
                        ('anonymous', 'recent', 'success', now() - interval '29 days');",
        )
        .await
        .unwrap();
    worker.relay.purge().await.unwrap();
    let left: Vec<String> =
        client.query("SELECT action FROM audit_events", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(left, ["recent"]);

    // Zero keeps every event.
    let keep_all = native_worker::relay::Relay {
        pool: worker.relay.pool.clone(),
        batch_size: worker.relay.batch_size,
        interval: worker.relay.interval,
        retention: worker.relay.retention,
        audit_retention: Duration::ZERO,
        metrics: worker.relay.metrics.clone(),
    };
    client
        .execute(
            "INSERT INTO audit_events (actor_kind, action, outcome, occurred_at) VALUES ('anonymous', 'ancient', 'success', now() - interval '3000 days')",
            &[],
        )
        .await
        .unwrap();
    keep_all.purge().await.unwrap();
    let count: i64 = client.query_one("SELECT count(*) FROM audit_events", &[]).await.unwrap().get(0);
    assert_eq!(count, 2);
}
