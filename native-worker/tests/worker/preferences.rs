//! Notification preferences in the worker: the message's category, the
//! configured categories, mutes per category, and what a forward carries.
//! Quiet hours have their own file (`quiet_hours.rs`).

use std::time::Duration;

use native_worker::worker::Parts;
use serde_json::{Value, json};

use crate::helpers::{TestEnv, eventually};

const WAIT: Duration = Duration::from_secs(15);

/// A push message of `category` (none: the field is left out).
pub fn categorised(user: uuid::Uuid, request_id: &str, category: Option<Value>) -> Value {
    let mut body = TestEnv::push_body(user, request_id);
    if let Some(category) = category {
        body["category"] = category;
    }
    body
}

/// Stores preferences for `user` as the components do (the stored form:
/// master switches as columns, overrides and quiet hours as JSON). Does not
/// touch the cache: callers invalidate when the test needs it.
pub async fn store_preferences(env: &TestEnv, user: uuid::Uuid, push: bool, categories: Value, quiet: Option<Value>) {
    let changed = env
        .pool
        .get()
        .await
        .unwrap()
        .execute(
            "UPDATE user_preferences p SET push = $2, categories = $3, quiet_hours = $4, updated_at = now() \
             FROM users u WHERE u.preferences_id = p.id AND u.id = $1",
            &[&user, &push, &categories, &quiet],
        )
        .await
        .unwrap();
    assert_eq!(changed, 1);
}

/// `(request_id, status, reason)` of each status event, sorted.
fn statuses(events: &[crate::helpers::Received]) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = events
        .iter()
        .map(|e| {
            let text = |k: &str| e.body[k].as_str().unwrap_or_default().to_owned();
            (e.request_id(), text("status"), text("reason"))
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_category_that_is_not_configured_is_dead_lettered_and_a_non_string_one_is_malformed() {
    let mut env = TestEnv::new().await;
    let user = env.insert_user(true, Some("tok-unknown")).await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    env.publish(&categorised(user, "req-promo", Some(json!("promotions")))).await;
    env.publish(&categorised(user, "req-number", Some(json!(7)))).await;
    env.publish(&categorised(user, "req-upper", Some(json!("Marketing")))).await;

    let failed = env.take(&env.config.failed_queue, 3, WAIT).await;
    let mut reasons: Vec<(String, String)> = failed.iter().map(|f| (f.request_id(), f.reason().unwrap())).collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            ("req-number".into(), "malformed: field `category` is not a string".into()),
            ("req-promo".into(), "unknown_category: promotions".into()),
            ("req-upper".into(), "unknown_category: Marketing".into()),
        ]
    );
    assert_eq!(worker.metrics.retried.get(), 0, "never retried");
    assert_eq!(env.queue_len(&env.config.ready_queue).await, 0);
    assert_eq!(env.queue_len(&env.config.status_queue).await, 0);
    // The worker is still up and forwards the next message.
    env.publish(&categorised(user, "req-fine", Some(json!("marketing")))).await;
    assert_eq!(env.take(&env.config.ready_queue, 1, WAIT).await[0].request_id(), "req-fine");
    env.cleanup().await;
}

#[tokio::test]
async fn a_muted_category_is_skipped_with_a_status_event_and_a_required_one_goes_out_anyway() {
    let mut env = TestEnv::new().await;
    let user = env.insert_user(true, Some("tok-muted")).await;
    let off = json!({"email": true, "push": false});
    // Security is stored muted (as a row written before it became required
    // could be): required categories are on whatever is stored.
    let categories =
        json!({"marketing": off, "security": {"email": false, "push": false}, "reminders": {"email": false}});
    store_preferences(&env, user, true, categories, None).await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    env.publish(&categorised(user, "req-marketing", Some(json!("marketing")))).await;
    env.publish(&categorised(user, "req-security", Some(json!("security")))).await;
    env.publish(&categorised(user, "req-reminders", Some(json!("reminders")))).await;
    env.publish(&categorised(user, "req-default", None)).await;

    let events = env.take(&env.config.status_queue, 1, WAIT).await;
    assert_eq!(statuses(&events), [("req-marketing".into(), "skipped".into(), "category_muted".into())]);
    assert_eq!(events[0].body["category"], "marketing");
    assert_eq!(events[0].body["user_id"], user.to_string());
    let out = env.take(&env.config.ready_queue, 3, WAIT).await;
    let mut forwarded: Vec<String> = out.iter().map(|m| m.request_id()).collect();
    forwarded.sort();
    assert_eq!(forwarded, ["req-default", "req-reminders", "req-security"], "muted for email only still pushes");
    // The forward carries the whole effective model.
    let on = json!({"email": true, "push": true});
    let preferences = &out[0].body["user"]["preferences"];
    assert_eq!(
        preferences,
        &json!({
            "email": true,
            "push": true,
            "categories": {
                "account": on, "marketing": off, "reminders": {"email": false, "push": true},
                "security": on, "transactional": on,
            },
            "quiet_hours": null,
            "locale": null,
        })
    );
    eventually("counted", WAIT, || worker.metrics.skipped.get() == 1 && worker.metrics.forwarded.get() == 3).await;
    assert_eq!(env.queue_len(&env.config.push_queue).await, 0, "all acked");
    env.cleanup().await;
}

#[tokio::test]
async fn with_the_push_master_switch_off_every_category_is_push_disabled() {
    let mut env = TestEnv::new().await;
    let user = env.insert_user(true, Some("tok-off")).await;
    store_preferences(&env, user, false, json!({"marketing": {"push": false}}), None).await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    env.publish(&categorised(user, "req-off-marketing", Some(json!("marketing")))).await;
    env.publish(&categorised(user, "req-off-security", Some(json!("security")))).await;

    let events = env.take(&env.config.status_queue, 2, WAIT).await;
    assert_eq!(
        statuses(&events),
        [
            ("req-off-marketing".into(), "skipped".into(), "push_disabled".into()),
            ("req-off-security".into(), "skipped".into(), "push_disabled".into()),
        ]
    );
    eventually("skipped", WAIT, || worker.metrics.skipped.get() == 2).await;
    assert_eq!(env.queue_len(&env.config.ready_queue).await, 0);
    env.cleanup().await;
}

#[tokio::test]
async fn configured_categories_are_the_workers_own() {
    // A deployment with a category of its own and none required.
    let mut env = TestEnv::new_with(|c| {
        c.notification_categories = "transactional,billing".into();
        c.notification_required_categories = String::new();
        c.quiet_hours_exempt_categories = String::new();
    })
    .await;
    let user = env.insert_user(true, Some("tok-config")).await;
    store_preferences(&env, user, true, json!({"transactional": {"push": false}}), None).await;
    env.start(Parts { consumer: true, relay: false }).await;
    env.publish(&categorised(user, "req-billing", Some(json!("billing")))).await;
    env.publish(&categorised(user, "req-marketing", Some(json!("marketing")))).await;
    env.publish(&categorised(user, "req-transactional", None)).await;

    let out = env.take(&env.config.ready_queue, 1, WAIT).await;
    assert_eq!(out[0].request_id(), "req-billing");
    let categories = out[0].body["user"]["preferences"]["categories"].as_object().unwrap();
    assert_eq!(categories.keys().collect::<Vec<_>>(), ["billing", "transactional"]);
    let failed = env.take(&env.config.failed_queue, 1, WAIT).await;
    assert_eq!(failed[0].reason().unwrap(), "unknown_category: marketing");
    let events = env.take(&env.config.status_queue, 1, WAIT).await;
    assert_eq!(statuses(&events), [("req-transactional".into(), "skipped".into(), "category_muted".into())]);
    env.cleanup().await;
}

#[tokio::test]
async fn a_bad_category_list_stops_the_worker_at_start_naming_the_variable() {
    let env = TestEnv::new().await;
    let run = env.command(&["run"]).env("NOTIFICATION_REQUIRED_CATEGORIES", "security,Billing").output();
    let output = tokio::time::timeout(WAIT, run).await.expect("exits at once").unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("NOTIFICATION_REQUIRED_CATEGORIES: `Billing` is not a category name"),
        "the reason, with the variable to fix: {stderr}"
    );
    let run = env.command(&["run"]).env("QUIET_HOURS_EXEMPT_CATEGORIES", "security,alerts").output();
    let output = tokio::time::timeout(WAIT, run).await.expect("exits at once").unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("QUIET_HOURS_EXEMPT_CATEGORIES: `alerts` is not one of NOTIFICATION_CATEGORIES"),
        "{stderr}"
    );
    env.cleanup().await;
}
