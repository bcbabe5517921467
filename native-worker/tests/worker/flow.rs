//! One test per fate of a push message.

use std::time::Duration;

use native_worker::message::RETRY_COUNT_HEADER;
use native_worker::worker::Parts;
use user_domain::{UserId, cache_keys};

use crate::helpers::{TestEnv, eventually};

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn forwarded_with_the_user_and_cached() {
    let mut env = TestEnv::new().await;
    let user = env.insert_user(true, Some("device-token-1")).await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    env.publish(&TestEnv::push_body(user, "req-forward")).await;

    let out = env.take(&env.config.ready_queue, 1, WAIT).await;
    let body = &out[0].body;
    assert_eq!(body["request_id"], "req-forward");
    assert_eq!(body["template_code"], "welcome");
    assert_eq!(body["metadata"]["k"], "v", "unknown fields travel unchanged");
    assert_eq!(body["user"]["user_id"], user.to_string());
    assert_eq!(body["user"]["push_token"], "device-token-1");
    assert_eq!(body["devices"][0]["token"], "device-token-1", "the user's devices travel beside it");
    assert_eq!(body["user"]["preferences"]["push"], true);
    assert_eq!(body["user"]["email_verified"], false);
    assert_eq!(out[0].properties.priority(), &Some(5), "priority is kept");
    assert_eq!(out[0].properties.delivery_mode(), &Some(2), "persistent");
    eventually("forwarded counted", WAIT, || worker.metrics.forwarded.get() == 1).await;

    // The lookup left the worker's record in Redis under the shared key.
    let key = cache_keys::worker_user(UserId::parse(&user.to_string()).unwrap());
    let cached = worker.probes.cache.get(&key).await.unwrap().expect("cached record");
    assert!(cached.contains("device-token-1"));
    assert_eq!(env.queue_len(&env.config.push_queue).await, 0, "the original was acked");
    worker.probes.cache.del(&[key]).await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn push_disabled_or_tokenless_users_are_skipped() {
    let mut env = TestEnv::new().await;
    let disabled = env.insert_user(false, Some("tok")).await;
    let tokenless = env.insert_user(true, None).await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    env.publish(&TestEnv::push_body(disabled, "req-disabled")).await;
    env.publish(&TestEnv::push_body(tokenless, "req-tokenless")).await;

    eventually("two skipped", WAIT, || worker.metrics.skipped.get() == 2).await;
    assert_eq!(worker.metrics.forwarded.get(), 0);
    assert_eq!(env.queue_len(&env.config.ready_queue).await, 0);
    assert_eq!(env.queue_len(&env.config.failed_queue).await, 0);
    assert_eq!(env.queue_len(&env.config.push_queue).await, 0, "skipped messages are acked");
    let mut events: Vec<(String, String, String)> = env
        .take(&env.config.status_queue, 2, WAIT)
        .await
        .iter()
        .map(|e| (e.request_id(), e.body["status"].as_str().unwrap().into(), e.body["reason"].as_str().unwrap().into()))
        .collect();
    events.sort();
    assert_eq!(
        events,
        [
            ("req-disabled".into(), "skipped".into(), "push_disabled".into()),
            ("req-tokenless".into(), "skipped".into(), "no_push_token".into())
        ]
    );
    env.cleanup().await;
}

#[tokio::test]
async fn unknown_user_is_dead_lettered_at_once_with_the_reason() {
    let mut env = TestEnv::new().await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    let ghost = uuid::Uuid::new_v4();
    env.publish(&TestEnv::push_body(ghost, "req-ghost")).await;

    let failed = env.take(&env.config.failed_queue, 1, WAIT).await;
    assert_eq!(failed[0].request_id(), "req-ghost");
    assert_eq!(failed[0].reason().unwrap(), format!("unknown user {ghost}"));
    assert_eq!(worker.metrics.retried.get(), 0, "no retry for an unknown user");
    assert_eq!(env.queue_len(&env.config.ready_queue).await, 0);
    env.cleanup().await;
}

#[tokio::test]
async fn malformed_messages_are_dead_lettered_with_the_reason() {
    let mut env = TestEnv::new().await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    env.publish_raw(b"{not json").await;
    env.publish_raw(br#"{"notification_type":"push","user_id":"not-a-uuid","request_id":"r"}"#).await;

    let failed = env.take(&env.config.failed_queue, 2, WAIT).await;
    let mut reasons: Vec<String> = failed.iter().map(|f| f.reason().unwrap()).collect();
    reasons.sort();
    assert!(reasons[0].starts_with("malformed: body is not valid JSON"), "{reasons:?}");
    assert_eq!(reasons[1], "malformed: field `user_id` is not a UUID");
    eventually("dead letters counted", WAIT, || worker.metrics.dead_lettered.get() == 2).await;
    assert_eq!(worker.metrics.retried.get(), 0);
    env.cleanup().await;
}

#[tokio::test]
async fn invalid_request_ids_are_dead_lettered_alone_and_never_fail_their_batch() {
    let mut env = TestEnv::new().await;
    let user = env.insert_user(true, Some("tok")).await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    let bad = ["nul\0inside".to_owned(), "bell\u{7}".to_owned(), "x".repeat(256), "é".repeat(128)];
    let good: Vec<String> = (0..30).map(|i| format!("req-ok-{i}")).chain(["é".repeat(127), "x".repeat(255)]).collect();
    // Published in one burst, so bad and good ids share dedup batches.
    let mut bodies: Vec<_> = good.iter().map(|id| TestEnv::push_body(user, id)).collect();
    for (i, id) in bad.iter().enumerate() {
        bodies.insert(i * 8, TestEnv::push_body(user, id));
    }
    env.publish_many(&bodies).await;

    let failed = env.take(&env.config.failed_queue, bad.len(), WAIT).await;
    let mut dead: Vec<String> = failed.iter().map(|m| m.request_id()).collect();
    dead.sort();
    let mut expected = bad.to_vec();
    expected.sort();
    assert_eq!(dead, expected);
    for m in &failed {
        let reason = m.reason().unwrap();
        assert!(reason.starts_with("malformed: field `request_id` "), "{reason}");
    }
    let forwarded = env.take(&env.config.ready_queue, good.len(), WAIT).await;
    let mut ids: Vec<String> = forwarded.iter().map(|m| m.request_id()).collect();
    ids.sort();
    let mut expected = good.clone();
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(worker.metrics.retried.get(), 0, "no message of the batch was failed by the bad ones");
    assert_eq!(worker.metrics.breaker_state.get(), 0);
    env.cleanup().await;
}

#[tokio::test]
async fn a_message_over_the_size_limit_is_dead_lettered_without_being_parsed() {
    let mut env = TestEnv::new().await;
    env.config.max_message_bytes = 4096;
    let user = env.insert_user(true, Some("tok")).await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    // A valid push message, padded past the limit.
    let mut big = TestEnv::push_body(user, "req-big");
    big["metadata"]["padding"] = "p".repeat(5000).into();
    env.publish(&big).await;
    // Not JSON at all: "too large", not "malformed", shows it was not parsed.
    env.publish_raw(format!("{{{}", "x".repeat(5000)).as_bytes()).await;
    // Exactly at the limit is fine.
    let mut edge = TestEnv::push_body(user, "req-edge");
    let size = serde_json::to_vec(&edge).unwrap().len();
    edge["metadata"]["padding"] = "p".repeat(4096 - size - r#","padding":"""#.len()).into();
    assert_eq!(serde_json::to_vec(&edge).unwrap().len(), 4096);
    env.publish(&edge).await;

    let failed = env.take(&env.config.failed_queue, 2, WAIT).await;
    let mut reasons: Vec<String> = failed.iter().map(|m| m.reason().unwrap()).collect();
    reasons.sort();
    let big_size = serde_json::to_vec(&big).unwrap().len();
    let mut expected = [big_size, 5001].map(|n| format!("too large: {n} bytes, over the limit of 4096"));
    expected.sort();
    assert_eq!(reasons, expected);
    let out = env.take(&env.config.ready_queue, 1, WAIT).await;
    assert_eq!(out[0].request_id(), "req-edge");
    eventually("dead letters counted", WAIT, || worker.metrics.dead_lettered.get() == 2).await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_request_id_already_forwarded_is_not_forwarded_again() {
    let mut env = TestEnv::new().await;
    let user = env.insert_user(true, Some("tok")).await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    env.publish(&TestEnv::push_body(user, "req-dup")).await;
    env.take(&env.config.ready_queue, 1, WAIT).await;
    env.publish(&TestEnv::push_body(user, "req-dup")).await;

    eventually("the copy counted as duplicate", WAIT, || worker.metrics.duplicates.get() == 1).await;
    assert_eq!(env.queue_len(&env.config.ready_queue).await, 0, "no second forward");
    assert_eq!(env.queue_len(&env.config.push_queue).await, 0, "the copy was acked");
    assert_eq!(worker.metrics.forwarded.get(), 1);
    env.cleanup().await;
}

/// Makes the user lookup fail by renaming the table the worker reads, the way
/// a broken dependency would, without touching the shared server.
pub(crate) async fn break_lookups(env: &TestEnv) {
    env.pool
        .get()
        .await
        .unwrap()
        .batch_execute("ALTER TABLE user_preferences RENAME TO user_preferences_away")
        .await
        .unwrap();
}

pub(crate) async fn repair_lookups(env: &TestEnv) {
    env.pool
        .get()
        .await
        .unwrap()
        .batch_execute("ALTER TABLE user_preferences_away RENAME TO user_preferences")
        .await
        .unwrap();
}

#[tokio::test]
async fn retried_through_delay_queues_then_forwarded() {
    let mut env = TestEnv::new().await;
    env.config.retry_delays_ms = vec![300, 300, 300];
    env.config.breaker_failure_threshold = 100;
    let user = env.insert_user(true, Some("tok")).await;
    break_lookups(&env).await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    env.publish(&TestEnv::push_body(user, "req-retry")).await;

    eventually("a first retry", WAIT, || worker.metrics.retried.get() >= 1).await;
    repair_lookups(&env).await;
    let out = env.take(&env.config.ready_queue, 1, WAIT).await;
    let retries = native_worker::message::retry_count(out[0].headers.as_ref());
    assert_eq!(out[0].body["user"]["user_id"], user.to_string());
    assert!(worker.metrics.retried.get() >= 1);
    assert_eq!(worker.metrics.dead_lettered.get(), 0);
    // The forwarded message carries no header of ours it should not; the
    // original's headers (the retry count) are not copied onto push.ready.
    assert!(out[0].headers.as_ref().is_none_or(|h| !h.contains_key(RETRY_COUNT_HEADER)), "retries seen: {retries}");
    env.cleanup().await;
}

#[tokio::test]
async fn retries_exhausted_then_dead_lettered() {
    let mut env = TestEnv::new().await;
    env.config.breaker_failure_threshold = 100;
    let user = env.insert_user(true, Some("tok")).await;
    break_lookups(&env).await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    env.publish(&TestEnv::push_body(user, "req-doomed")).await;

    let failed = env.take(&env.config.failed_queue, 1, WAIT).await;
    assert_eq!(failed[0].request_id(), "req-doomed");
    assert!(failed[0].reason().unwrap().starts_with("retries exhausted"), "{:?}", failed[0].reason());
    assert_eq!(native_worker::message::retry_count(failed[0].headers.as_ref()), 3, "three retries before giving up");
    // Sent without a trace: the one derived from its body went through every
    // retry queue to the dead letter.
    let body = serde_json::to_vec(&TestEnv::push_body(user, "req-doomed")).unwrap();
    let trace = native_worker::message::trace_of(None, &body);
    assert_eq!(native_worker::message::trace_of(failed[0].headers.as_ref(), b"other"), trace);
    assert_eq!(worker.metrics.retried.get(), 3);
    assert_eq!(env.queue_len(&env.config.ready_queue).await, 0);
    repair_lookups(&env).await;
    env.cleanup().await;
}
