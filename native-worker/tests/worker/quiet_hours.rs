//! Quiet hours: a message that can wait is held in `held_messages` with a
//! `held` status event, and published back to push.queue when its quiet
//! hours end or the user's preferences change; forwarded once, enriched
//! with the preferences of then; kept across a killed worker.

use std::time::Duration;

use chrono::{DateTime, NaiveTime, SecondsFormat, TimeDelta, Timelike, Utc};
use lapin::types::{AMQPValue, FieldTable};
use native_worker::worker::Parts;
use serde_json::{Value, json};

use crate::helpers::{TestEnv, count_by_request, eventually, invalidate, stop_gracefully};
use crate::preferences::{categorised, store_preferences};

const WAIT: Duration = Duration::from_secs(15);
const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// Quiet hours from 22:00 to 07:00 in a zone other than UTC where it is
/// night now: Tokyo (UTC+9 all year) when its night has a while to run,
/// else the `Etc/GMT` zone where it is about 23:00 (or 01:00). With the
/// instant they end, worked out here by the zone's fixed offset.
struct Night {
    quiet_hours: Value,
    release_at: DateTime<Utc>,
}

fn night_around_now() -> Night {
    let now = Utc::now();
    let hour = now.hour() as i64;
    let mut offset = if hour == 23 { 2 } else { 23 - hour };
    if offset > 14 {
        offset -= 24;
    }
    let etc = if offset > 0 { format!("Etc/GMT-{offset}") } else { format!("Etc/GMT+{}", -offset) };
    for (zone, offset) in [("Asia/Tokyo".to_owned(), 9), (etc, offset)] {
        let local = now.naive_utc() + TimeDelta::hours(offset);
        let (start, end) = (NaiveTime::from_hms_opt(22, 0, 0).unwrap(), NaiveTime::from_hms_opt(7, 0, 0).unwrap());
        let day = match local.time() {
            t if t >= start => local.date().succ_opt().unwrap(),
            t if t < end => local.date(),
            _ => continue,
        };
        let release_at = (day.and_time(end) - TimeDelta::hours(offset)).and_utc();
        if release_at - now >= TimeDelta::minutes(10) {
            let quiet_hours = json!({"start": "22:00", "end": "07:00", "timezone": zone});
            return Night { quiet_hours, release_at };
        }
    }
    unreachable!("a zone where it is 23:00 has eight hours of night left")
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A user with one device and quiet hours around now.
async fn user_at_night(env: &TestEnv, token: &str) -> (uuid::Uuid, Night) {
    let user = env.insert_user(true, Some(token)).await;
    let night = night_around_now();
    store_preferences(env, user, true, json!({}), Some(night.quiet_hours.clone())).await;
    (user, night)
}

/// Publishes `body` to push.queue with a trace header and a correlation id.
async fn publish_traced(env: &TestEnv, body: &Value) -> Vec<u8> {
    let raw = serde_json::to_vec(body).unwrap();
    let mut headers = FieldTable::default();
    headers.insert("traceparent".into(), AMQPValue::LongString(TRACEPARENT.into()));
    let properties = native_worker::topology::json_properties()
        .with_priority(7)
        .with_correlation_id("corr-night".into())
        .with_headers(headers);
    env.publish_with(&raw, properties).await;
    raw
}

/// `(request_id, category, body, properties, release_at)` of `user`'s held rows.
async fn held_rows(env: &TestEnv, user: uuid::Uuid) -> Vec<(String, String, Vec<u8>, Value, DateTime<Utc>)> {
    let rows = env
        .pool
        .get()
        .await
        .unwrap()
        .query(
            "SELECT request_id, category, body, properties, release_at FROM held_messages WHERE user_id = $1",
            &[&user],
        )
        .await
        .unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))).collect()
}

/// What the components do on a change of preferences: the change and the
/// early release of the user's held messages commit, then the cached
/// records go. `quiet_hours` is stored as given; the locale is set too, so
/// the row changes even when the quiet hours do not.
async fn change_preferences(
    env: &TestEnv,
    cache: &native_worker::cache::Cache,
    user: uuid::Uuid,
    quiet: Option<Value>,
) {
    let client = env.pool.get().await.unwrap();
    client
        .execute(
            "WITH changed AS ( \
                 UPDATE user_preferences p SET quiet_hours = $2, locale = 'ja', updated_at = now() \
                 FROM users u WHERE u.preferences_id = p.id AND u.id = $1 RETURNING p.id \
             ) \
             UPDATE held_messages SET release_at = now() \
             WHERE user_id = $1 AND release_at > now() AND EXISTS (SELECT 1 FROM changed)",
            &[&user, &quiet],
        )
        .await
        .unwrap();
    invalidate(cache, user).await;
}

#[tokio::test]
async fn during_quiet_hours_across_midnight_a_message_is_held_with_a_status_event_and_exempt_ones_go_out() {
    let mut env = TestEnv::new().await;
    let (user, night) = user_at_night(&env, "tok-night").await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    let raw = publish_traced(&env, &categorised(user, "req-night", Some(json!("marketing")))).await;
    env.publish(&categorised(user, "req-security", Some(json!("security")))).await;
    env.publish(&categorised(user, "req-transactional", None)).await;

    let events = env.take(&env.config.status_queue, 1, WAIT).await;
    let event = &events[0].body;
    assert_eq!(event["status"], "held");
    assert_eq!(event["request_id"], "req-night");
    assert_eq!(event["user_id"], user.to_string());
    assert_eq!(event["category"], "marketing");
    assert_eq!(event["release_at"], rfc3339(night.release_at), "07:00 the next morning in {}", night.quiet_hours);
    let out = env.take(&env.config.ready_queue, 2, WAIT).await;
    let mut forwarded: Vec<String> = out.iter().map(|m| m.request_id()).collect();
    forwarded.sort();
    assert_eq!(forwarded, ["req-security", "req-transactional"], "exempt from quiet hours");

    let rows = held_rows(&env, user).await;
    assert_eq!(rows.len(), 1);
    let (request_id, category, body, properties, release_at) = &rows[0];
    assert_eq!((request_id.as_str(), category.as_str()), ("req-night", "marketing"));
    assert_eq!(body, &raw, "the body as it came, byte for byte");
    assert_eq!(release_at, &night.release_at);
    assert_eq!(properties["priority"], 7);
    assert_eq!(properties["correlation_id"], "corr-night");
    assert_eq!(properties["headers"]["traceparent"], TRACEPARENT);
    let held_until = properties["headers"]["x-held-until"].as_str().unwrap();
    assert_eq!(DateTime::parse_from_rfc3339(held_until).unwrap(), night.release_at);
    eventually("counted", WAIT, || worker.metrics.held.get() == 1 && worker.metrics.forwarded.get() == 2).await;
    assert_eq!(env.queue_len(&env.config.push_queue).await, 0, "the held delivery was acked");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(env.drain(&env.config.ready_queue).await.is_empty(), "nothing of it on push.ready");
    env.cleanup().await;
}

#[tokio::test]
async fn quiet_hours_turned_off_release_a_held_message_to_push_ready_once_enriched_with_them() {
    let mut env = TestEnv::new().await;
    let (user, _) = user_at_night(&env, "tok-release").await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    publish_traced(&env, &categorised(user, "req-release", Some(json!("reminders")))).await;
    env.take(&env.config.status_queue, 1, WAIT).await;
    assert_eq!(held_rows(&env, user).await.len(), 1);

    change_preferences(&env, &worker.probes.cache, user, None).await;
    let out = env.take(&env.config.ready_queue, 1, Duration::from_secs(5)).await;
    let body = &out[0].body;
    assert_eq!(body["request_id"], "req-release");
    assert_eq!(body["category"], "reminders");
    assert_eq!(body["user"]["user_id"], user.to_string());
    assert_eq!(body["user"]["preferences"]["quiet_hours"], Value::Null, "the preferences of the release");
    assert_eq!(body["user"]["preferences"]["locale"], "ja");
    assert_eq!(body["devices"][0]["token"], "tok-release");
    assert_eq!(out[0].properties.priority(), &Some(7), "the original priority, through the hold");
    eventually("released and forwarded", WAIT, || {
        worker.metrics.held_released.get() == 1 && worker.metrics.forwarded.get() == 1
    })
    .await;
    assert!(held_rows(&env, user).await.is_empty(), "the row goes once the release is confirmed");
    // Once: no second copy, no second event.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(env.drain(&env.config.ready_queue).await.is_empty());
    assert!(env.drain(&env.config.status_queue).await.is_empty());
    assert_eq!(worker.metrics.duplicates.get(), 0);
    env.cleanup().await;
}

#[tokio::test]
async fn an_early_release_while_quiet_hours_still_apply_holds_the_message_again() {
    let mut env = TestEnv::new().await;
    let (user, night) = user_at_night(&env, "tok-again").await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    publish_traced(&env, &categorised(user, "req-again", Some(json!("marketing")))).await;
    env.take(&env.config.status_queue, 1, WAIT).await;

    // Another change (the locale): released early, decided again, held anew.
    change_preferences(&env, &worker.probes.cache, user, Some(night.quiet_hours.clone())).await;
    let events = env.take(&env.config.status_queue, 1, WAIT).await;
    assert_eq!(events[0].body["status"], "held");
    assert_eq!(events[0].body["release_at"], rfc3339(night.release_at));
    eventually("released then held again", WAIT, || {
        worker.metrics.held_released.get() == 1 && worker.metrics.held.get() == 2
    })
    .await;
    let rows = held_rows(&env, user).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].4, night.release_at, "until the end of the same quiet hours");
    assert!(env.drain(&env.config.ready_queue).await.is_empty());
    env.cleanup().await;
}

#[tokio::test]
async fn a_message_released_at_the_end_of_its_window_is_not_held_again_for_it() {
    let mut env = TestEnv::new().await;
    let (user, _) = user_at_night(&env, "tok-end").await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    publish_traced(&env, &categorised(user, "req-end", Some(json!("marketing")))).await;
    env.take(&env.config.status_queue, 1, WAIT).await;

    // As if its window ended now by the clock of the worker that releases it
    // (ahead of this one, which still reads the user's quiet hours).
    env.pool
        .get()
        .await
        .unwrap()
        .execute(
            "UPDATE held_messages SET release_at = now(), \
                 properties = jsonb_set(properties, '{headers,x-held-until}', \
                     to_jsonb(to_char(now() AT TIME ZONE 'UTC' + interval '20 seconds', \
                                      'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))) \
             WHERE user_id = $1",
            &[&user],
        )
        .await
        .unwrap();
    let out = env.take(&env.config.ready_queue, 1, WAIT).await;
    assert_eq!(out[0].request_id(), "req-end");
    assert!(out[0].body["user"]["preferences"]["quiet_hours"].is_object(), "quiet hours still set");
    eventually("forwarded", WAIT, || worker.metrics.forwarded.get() == 1).await;
    assert_eq!(worker.metrics.held.get(), 1, "not held a second time");
    assert!(held_rows(&env, user).await.is_empty());
    assert!(env.drain(&env.config.status_queue).await.is_empty(), "no second held event");
    env.cleanup().await;
}

#[tokio::test]
async fn a_hold_decided_on_a_cached_record_the_user_just_changed_is_decided_again() {
    let mut env = TestEnv::new().await;
    let (user, _) = user_at_night(&env, "tok-stale").await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    // An exempt message caches the record, quiet hours and all.
    env.publish(&categorised(user, "req-cache", Some(json!("security")))).await;
    env.take(&env.config.ready_queue, 1, WAIT).await;
    let key = user_domain::cache_keys::worker_user(user_domain::UserId::parse(&user.to_string()).unwrap());
    eventually_cached(&worker.probes.cache, &key).await;
    // Quiet hours turned off and committed; the components have not deleted
    // the cached record yet.
    store_preferences(&env, user, true, json!({}), None).await;
    env.publish(&categorised(user, "req-stale", Some(json!("marketing")))).await;

    let out = env.take(&env.config.ready_queue, 1, WAIT).await;
    assert_eq!(out[0].request_id(), "req-stale", "forwarded on the database's word");
    assert_eq!(out[0].body["user"]["preferences"]["quiet_hours"], Value::Null);
    assert!(held_rows(&env, user).await.is_empty(), "not held until morning");
    assert!(env.drain(&env.config.status_queue).await.is_empty());
    assert_eq!(worker.metrics.held.get(), 0);
    worker.probes.cache.del(&[key]).await.unwrap();
    env.cleanup().await;
}

async fn eventually_cached(cache: &native_worker::cache::Cache, key: &str) {
    let until = std::time::Instant::now() + WAIT;
    while !cache.get(key).await.unwrap().is_some_and(|raw| raw.starts_with('{')) {
        assert!(std::time::Instant::now() < until, "the record was never cached");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn held_messages_survive_a_killed_worker_and_are_released_once_after_a_restart() {
    let env = TestEnv::new().await;
    let (user, _) = user_at_night(&env, "tok-kill").await;
    let quiet = || std::process::Stdio::null();
    let mut first = env.command(&["run"]).stdout(quiet()).stderr(quiet()).spawn().unwrap();
    publish_traced(&env, &categorised(user, "req-kill", Some(json!("marketing")))).await;
    let events = env.take(&env.config.status_queue, 1, Duration::from_secs(30)).await;
    assert_eq!(events[0].body["status"], "held");
    let pid = first.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
    tokio::time::timeout(WAIT, first.wait()).await.expect("killed").unwrap();
    assert_eq!(held_rows(&env, user).await.len(), 1, "the hold outlives the process");

    let cache = native_worker::cache::Cache::new(&env.config.redis_url).unwrap();
    change_preferences(&env, &cache, user, None).await;
    let second = env.command(&["run"]).stdout(quiet()).stderr(quiet()).spawn().unwrap();
    let out = env.take(&env.config.ready_queue, 1, Duration::from_secs(30)).await;
    assert_eq!(out[0].request_id(), "req-kill");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut all = out.clone();
    all.extend(env.drain(&env.config.ready_queue).await);
    assert_eq!(count_by_request(&all).get("req-kill"), Some(&1), "forwarded exactly once");
    assert!(held_rows(&env, user).await.is_empty());
    stop_gracefully(second).await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_hold_of_a_message_whose_row_is_being_released_waits_for_the_release_and_holds_anew() {
    let mut env = TestEnv::new().await;
    let (user, night) = user_at_night(&env, "tok-race").await;
    env.start(Parts { consumer: true, relay: false }).await;
    let raw = publish_traced(&env, &categorised(user, "req-race", Some(json!("marketing")))).await;
    env.take(&env.config.status_queue, 1, WAIT).await;
    env.stop().await;
    // A release round under way: the row claimed and deleted, the confirm
    // not back yet, nothing committed.
    let mut client = env.pool.get().await.unwrap();
    let release = client.transaction().await.unwrap();
    let deleted = release.execute("DELETE FROM held_messages WHERE user_id = $1", &[&user]).await.unwrap();
    assert_eq!(deleted, 1);
    // Meanwhile the released copy reached a consumer, still in quiet hours.
    let hold = tokio::spawn({
        let pool = env.pool.clone();
        let release_at = night.release_at;
        async move {
            let version: String = pool
                .get()
                .await
                .unwrap()
                .query_one(
                    "SELECT p.xmin::text FROM users u JOIN user_preferences p ON p.id = u.preferences_id \
                     WHERE u.id = $1",
                    &[&user],
                )
                .await
                .unwrap()
                .get(0);
            let properties = json!({});
            let hold = native_worker::held::Hold {
                user,
                request_id: "req-race",
                category: "marketing",
                body: &raw,
                properties: &properties,
                release_at,
                preferences_version: &version,
            };
            native_worker::held::hold(&pool, &hold).await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!hold.is_finished(), "the hold waits for the release round");
    release.commit().await.unwrap();
    let held = tokio::time::timeout(WAIT, hold).await.unwrap().unwrap().unwrap();
    assert_eq!(held, native_worker::held::Held::Stored(night.release_at), "held anew, not taken for a duplicate");
    assert_eq!(held_rows(&env, user).await.len(), 1);
    env.cleanup().await;
}
