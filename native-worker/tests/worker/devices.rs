//! Devices in enrichment, and the push service's feedback retiring them.

use std::time::Duration;

use native_worker::worker::Parts;
use serde_json::{Value, json};
use user_domain::{UserId, cache_keys};

use crate::helpers::{TestEnv, eventually};

const WAIT: Duration = Duration::from_secs(15);

/// `(active, retired_reason, retired_at set)` of the device holding `token`.
async fn device_row(env: &TestEnv, token: &str) -> (bool, Option<String>, bool) {
    let row = env
        .pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT active, retired_reason, retired_at IS NOT NULL FROM devices WHERE token = $1", &[&token])
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

/// How many audit events and outbox rows say a device was retired.
async fn retirements_recorded(env: &TestEnv) -> (i64, i64) {
    let client = env.pool.get().await.unwrap();
    let events = client
        .query_one("SELECT count(*) FROM audit_events WHERE action = 'device.retired'", &[])
        .await
        .unwrap()
        .get(0);
    let copies = client
        .query_one("SELECT count(*) FROM outbox WHERE payload->>'action' = 'device.retired'", &[])
        .await
        .unwrap()
        .get(0);
    (events, copies)
}

#[tokio::test]
async fn every_active_device_is_forwarded_most_recently_seen_first() {
    let mut env = TestEnv::new().await;
    let user = env.insert_user(true, None).await;
    let older = env.insert_device(user, "tok-older", "android", 3600).await;
    let recent = env.insert_device(user, "tok-recent", "ios", 10).await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    env.publish(&TestEnv::push_body(user, "req-devices")).await;

    let out = env.take(&env.config.ready_queue, 1, WAIT).await;
    let body = &out[0].body;
    assert_eq!(
        body["devices"],
        json!([
            {"id": recent, "platform": "ios", "token": "tok-recent"},
            {"id": older, "platform": "android", "token": "tok-older"},
        ])
    );
    assert_eq!(body["user"]["push_token"], "tok-recent", "the profile's token: the most recently seen device's");
    // The cached record carries the devices, in the current format, and a
    // push served from it carries the same list.
    let key = cache_keys::worker_user(UserId::from(user));
    let cached: Value = serde_json::from_str(&worker.probes.cache.get(&key).await.unwrap().unwrap()).unwrap();
    assert_eq!(cached["format"], native_worker::user_cache::FORMAT);
    assert_eq!(cached["devices"].as_array().map(Vec::len), Some(2));
    env.publish(&TestEnv::push_body(user, "req-devices-cached")).await;
    let again = env.take(&env.config.ready_queue, 1, WAIT).await;
    assert_eq!(again[0].body["devices"], body["devices"]);
    worker.probes.cache.del(&[key]).await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn a_reported_token_retires_its_device_with_an_audit_event_and_later_pushes_leave_it_out() {
    let mut env = TestEnv::new().await;
    let user = env.insert_user(true, None).await;
    let kept = env.insert_device(user, "tok-kept", "android", 600).await;
    let dead = env.insert_device(user, "tok-dead", "ios", 5).await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    let cache = worker.probes.cache.clone();
    // A first push caches the record with both devices; the profile is cached too.
    env.publish(&TestEnv::push_body(user, "req-before")).await;
    let before = env.take(&env.config.ready_queue, 1, WAIT).await;
    assert_eq!(before[0].body["devices"].as_array().map(Vec::len), Some(2));
    let (worker_key, profile_key) =
        (cache_keys::worker_user(UserId::from(user)), cache_keys::profile(UserId::from(user)));
    assert!(cache.get(&worker_key).await.unwrap().is_some());
    cache.set_ex(&profile_key, r#"{"push_token":"tok-dead"}"#, 300).await.unwrap();
    let client = env.pool.get().await.unwrap();
    let updated_before: chrono::DateTime<chrono::Utc> =
        client.query_one("SELECT updated_at FROM users WHERE id = $1", &[&user]).await.unwrap().get(0);

    env.publish_feedback(&json!({"user_id": user, "token": "tok-dead", "reason": "Unregistered", "provider": "apns"}))
        .await;
    eventually("the device retired", WAIT, || worker.metrics.devices_retired.get() == 1).await;
    assert_eq!(device_row(&env, "tok-dead").await, (false, Some("Unregistered".into()), true));
    assert_eq!(device_row(&env, "tok-kept").await, (true, None, false));
    let updated_after: chrono::DateTime<chrono::Utc> =
        client.query_one("SELECT updated_at FROM users WHERE id = $1", &[&user]).await.unwrap().get(0);
    assert!(updated_after > updated_before, "the user row is bumped with the device");
    // Both cached records dropped: the worker's deleted, the profile tombstoned.
    assert_eq!(cache.get(&worker_key).await.unwrap(), None);
    assert_eq!(cache.get(&profile_key).await.unwrap().as_deref(), Some(""));

    // The audit event, and its copy on the way to the audit queue.
    let event = client
        .query_one(
            "SELECT id, actor_kind, actor_id, subject_id, outcome, details FROM audit_events \
             WHERE action = 'device.retired'",
            &[],
        )
        .await
        .unwrap();
    let details = json!({"device": dead, "reason": "Unregistered"});
    assert_eq!(event.get::<_, String>(1), "service");
    assert_eq!(event.get::<_, Option<uuid::Uuid>>(2), None);
    assert_eq!(event.get::<_, Option<uuid::Uuid>>(3), Some(user));
    assert_eq!(event.get::<_, String>(4), "success");
    assert_eq!(event.get::<_, Value>(5), details);
    let copy = client
        .query_one("SELECT routing_key, priority, payload FROM outbox WHERE payload->>'action' = 'device.retired'", &[])
        .await
        .unwrap();
    assert_eq!(copy.get::<_, String>(0), env.config.audit_queue);
    assert_eq!(copy.get::<_, i16>(1), 3);
    let payload: Value = copy.get(2);
    assert_eq!(payload["event_type"], "audit");
    assert_eq!(payload["actor_kind"], "service");
    assert_eq!(payload["outcome"], "success");
    assert_eq!(payload["id"], event.get::<_, i64>(0));
    assert_eq!(payload["subject_id"], user.to_string());
    assert_eq!(payload["details"], details);
    assert!(payload["occurred_at"].is_string(), "{payload}");

    // The next push goes to the device left, which is now the profile's token.
    env.publish(&TestEnv::push_body(user, "req-after")).await;
    let after = env.take(&env.config.ready_queue, 1, WAIT).await;
    assert_eq!(after[0].body["devices"], json!([{"id": kept, "platform": "android", "token": "tok-kept"}]));
    assert_eq!(after[0].body["user"]["push_token"], "tok-kept");

    // The same report again changes nothing and records nothing.
    env.publish_feedback(&json!({"user_id": user, "token": "tok-dead", "reason": "Unregistered"})).await;
    eventually("the repeat ignored", WAIT, || worker.metrics.feedback_ignored.get() == 1).await;
    assert_eq!(retirements_recorded(&env).await, (1, 1));
    assert_eq!(worker.metrics.devices_retired.get(), 1);
    assert_eq!(env.queue_len(&env.config.feedback_queue).await, 0, "reports are acked");
    cache.del(&[worker_key, profile_key]).await.unwrap();
    drop(client);
    env.cleanup().await;
}

#[tokio::test]
async fn a_user_whose_only_device_was_retired_is_skipped_as_without_a_push_token() {
    let mut env = TestEnv::new().await;
    let user = env.insert_user(true, Some("tok-only")).await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    env.publish_feedback(&json!({"user_id": user, "token": "tok-only"})).await;
    eventually("the device retired", WAIT, || worker.metrics.devices_retired.get() == 1).await;
    assert_eq!(device_row(&env, "tok-only").await, (false, None, true), "no reason given, none stored");

    env.publish(&TestEnv::push_body(user, "req-nobody")).await;
    let events = env.take(&env.config.status_queue, 1, WAIT).await;
    assert_eq!(events[0].request_id(), "req-nobody");
    assert_eq!(events[0].body["status"], "skipped");
    assert_eq!(events[0].body["reason"], "no_push_token", "consumers see the reason they always saw");
    eventually("skipped counted", WAIT, || worker.metrics.skipped.get() == 1).await;
    assert_eq!(env.queue_len(&env.config.ready_queue).await, 0);
    env.cleanup().await;
}

#[tokio::test]
async fn a_long_reason_is_kept_to_its_first_200_characters() {
    let mut env = TestEnv::new().await;
    let user = env.insert_user(true, Some("tok-long")).await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    let reason = format!("BadDeviceToken\u{0}{}", "é".repeat(300));
    env.publish_feedback(&json!({"user_id": user, "token": "tok-long", "reason": reason})).await;
    eventually("the device retired", WAIT, || worker.metrics.devices_retired.get() == 1).await;
    let kept: String = format!("BadDeviceToken {}", "é".repeat(185));
    assert_eq!(device_row(&env, "tok-long").await, (false, Some(kept.clone()), true));
    let details: Value = env
        .pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT details FROM audit_events WHERE action = 'device.retired'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(details["reason"], kept);
    env.cleanup().await;
}

#[tokio::test]
async fn malformed_feedback_is_dead_lettered_with_the_reason_and_the_worker_stays_ready() {
    let mut env = TestEnv::new().await;
    let user = env.insert_user(true, Some("tok-real")).await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let addr = worker.serve_http("127.0.0.1:0".parse().unwrap(), stop.clone()).await.unwrap();
    let refused: Vec<(Vec<u8>, &str)> = vec![
        (b"{not json".to_vec(), "malformed: body is not valid JSON: "),
        (b"[1]".to_vec(), "malformed: body is not a JSON object"),
        (
            serde_json::to_vec(&json!({"user_id": "not-a-uuid", "token": "tok-real"})).unwrap(),
            "malformed: field `user_id` is missing or not a UUID",
        ),
        (
            serde_json::to_vec(&json!({"token": "tok-real"})).unwrap(),
            "malformed: field `user_id` is missing or not a UUID",
        ),
        (
            serde_json::to_vec(&json!({"user_id": user, "token": "tok\u{0}real"})).unwrap(),
            "malformed: field `token` contains a control character (U+0000) at character 3",
        ),
        (serde_json::to_vec(&json!({"user_id": user, "token": ""})).unwrap(), "malformed: field `token` is empty"),
        (
            serde_json::to_vec(&json!({"user_id": user, "token": 42})).unwrap(),
            "malformed: field `token` is missing or not a string",
        ),
        (
            serde_json::to_vec(&json!({"user_id": user, "token": "x".repeat(4097)})).unwrap(),
            "malformed: field `token` is 4097 characters, over 4096",
        ),
    ];
    for (body, _) in &refused {
        env.publish_feedback_raw(body).await;
    }
    // A good report after them is still taken.
    env.publish_feedback(&json!({"user_id": user, "token": "tok-real", "reason": "Unregistered"})).await;

    let failed = env.take(&env.config.failed_queue, refused.len(), WAIT).await;
    for (body, expected) in &refused {
        let body: Value =
            serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
        let letter = failed.iter().find(|f| f.body == body).unwrap_or_else(|| panic!("{body} was not dead-lettered"));
        let reason = letter.reason().expect("a reason header");
        assert!(reason.starts_with(expected), "{body}: {reason}");
    }
    eventually("the good report retired its device", WAIT, || worker.metrics.devices_retired.get() == 1).await;
    assert_eq!(worker.metrics.feedback_malformed.get(), refused.len() as u64);
    assert_eq!(worker.metrics.panics.get(), 0);
    assert_eq!(env.queue_len(&env.config.feedback_queue).await, 0, "nothing requeued");
    assert!(env.drain(&env.config.failed_queue).await.is_empty(), "each refused once");
    assert_eq!(native_worker::http::probe(addr, "/ready").await.unwrap(), 200);
    assert!(worker.probes.amqp_connected.load(std::sync::atomic::Ordering::Relaxed));
    stop.cancel();
    env.cleanup().await;
}

#[tokio::test]
async fn feedback_naming_another_users_token_retires_nothing() {
    let mut env = TestEnv::new().await;
    let alice = env.insert_user(true, Some("tok-alice")).await;
    let bob = env.insert_user(true, Some("tok-bob")).await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    env.publish_feedback(&json!({"user_id": bob, "token": "tok-alice", "reason": "Unregistered"})).await;
    env.publish_feedback(&json!({"user_id": uuid::Uuid::new_v4(), "token": "tok-alice"})).await;
    env.publish_feedback(&json!({"user_id": alice, "token": "tok-nobody-has"})).await;

    eventually("three reports ignored", WAIT, || worker.metrics.feedback_ignored.get() == 3).await;
    assert_eq!(worker.metrics.devices_retired.get(), 0);
    assert_eq!(device_row(&env, "tok-alice").await, (true, None, false));
    assert_eq!(device_row(&env, "tok-bob").await, (true, None, false));
    assert_eq!(retirements_recorded(&env).await, (0, 0));
    env.publish(&TestEnv::push_body(alice, "req-alice")).await;
    let out = env.take(&env.config.ready_queue, 1, WAIT).await;
    assert_eq!(out[0].body["user"]["push_token"], "tok-alice");
    assert_eq!(env.queue_len(&env.config.failed_queue).await, 0, "well-formed reports are not dead letters");
    env.cleanup().await;
}

#[tokio::test]
async fn a_report_waits_out_a_database_failure_and_a_stop_hands_it_back() {
    let mut env = TestEnv::new().await;
    let user = env.insert_user(true, Some("tok-wait")).await;
    let rename = |from: &str, to: &str| format!("ALTER TABLE {from} RENAME TO {to}");
    let client = env.pool.get().await.unwrap();
    client.batch_execute(&rename("devices", "devices_away")).await.unwrap();
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    env.publish_feedback(&json!({"user_id": user, "token": "tok-wait"})).await;
    eventually("a failed attempt", WAIT, || worker.metrics.feedback_failures.get() >= 1).await;
    // Stopping while it waits hands the report back, neither acked nor dead-lettered.
    env.stop().await;
    assert_eq!(env.queue_len(&env.config.feedback_queue).await, 1, "the report is back in its queue");
    assert_eq!(env.queue_len(&env.config.failed_queue).await, 0);

    let worker = env.start(Parts { consumer: true, relay: false }).await;
    eventually("failing again", WAIT, || worker.metrics.feedback_failures.get() >= 1).await;
    client.batch_execute(&rename("devices_away", "devices")).await.unwrap();
    eventually("retired once the database answers", WAIT, || worker.metrics.devices_retired.get() == 1).await;
    assert_eq!(device_row(&env, "tok-wait").await, (false, None, true));
    assert_eq!(env.queue_len(&env.config.feedback_queue).await, 0);
    assert_eq!(env.queue_len(&env.config.failed_queue).await, 0, "a dependency's failure is not the report's");
    drop(client);
    env.cleanup().await;
}
