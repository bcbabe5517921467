use api_tests::{Op, Spawn, path_of, path_with, spawn_app, spawn_with};
use reqwest::Method;
use serde_json::json;

const KEY: &str = "service-key-for-tests";

/// The seed's two master switches of a preferences answer.
fn switches(preferences: &serde_json::Value) -> serde_json::Value {
    json!({"email": preferences["email"], "push": preferences["push"]})
}

#[tokio::test]
async fn preferences_are_read_through_the_cache_and_a_change_is_seen_at_once() {
    let app = spawn_app().await;
    let (id, token) = app.plain_user().await;
    let first = app.authed(Method::GET, path_of(Op::GetPreferences), &token, None).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(switches(&first.json()["data"]), json!({"email": true, "push": true}));

    // Changed behind the service's back: the cached answer stands.
    app.db()
        .await
        .execute("UPDATE user_preferences SET push = false WHERE id = (SELECT preferences_id FROM users WHERE id = $1::text::uuid)", &[&id])
        .await
        .unwrap();
    let cached = app.authed(Method::GET, path_of(Op::GetPreferences), &token, None).await;
    assert_eq!(cached.json()["data"]["push"], true, "served from Redis");

    // Changed through the API: the cache is dropped and the change shows.
    let patched =
        app.authed(Method::PATCH, path_of(Op::PatchPreferences), &token, Some(&json!({"email": false}))).await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(switches(&patched.json()["data"]), json!({"email": false, "push": false}));
    let after = app.authed(Method::GET, path_of(Op::GetPreferences), &token, None).await;
    assert_eq!(switches(&after.json()["data"]), json!({"email": false, "push": false}));

    let put_partial = app.authed(Method::PUT, path_of(Op::PutPreferences), &token, Some(&json!({"email": true}))).await;
    assert_eq!(put_partial.status, 400);
    assert_eq!(put_partial.json()["details"]["push"][0], "is required");
    let wrong_type =
        app.authed(Method::PATCH, path_of(Op::PatchPreferences), &token, Some(&json!({"push": "no"}))).await;
    assert_eq!(wrong_type.status, 400);
}

/// During a rolling deploy an older build's entry (bare JSON, without the
/// ended sessions) is never answered from: it reads as a miss, and is
/// tombstoned so a fill replaces it a minute later.
#[tokio::test]
async fn an_older_builds_entry_is_not_answered_and_is_tombstoned() {
    let app = spawn_app().await;
    let (id, token) = app.plain_user().await;
    let user = user_domain::UserId::parse(&id).unwrap();
    let cache = native_worker::cache::Cache::new("redis://127.0.0.1:6379").unwrap();
    let stale = r#"{"email":false,"push":false,"categories":{},"quiet_hours":null,"locale":null}"#;
    for key in [user_domain::cache_keys::preferences(user), user_domain::cache_keys::profile(user)] {
        cache.set_ex(&key, stale, 600).await.unwrap();
    }
    let read = app.authed(Method::GET, path_of(Op::GetPreferences), &token, None).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(switches(&read.json()["data"]), json!({"email": true, "push": true}), "from the database");
    let profile = app.authed(Method::GET, path_of(Op::GetProfile), &token, None).await;
    assert_eq!(profile.status, 200, "{}", profile.text);
    assert_eq!(profile.json()["data"]["id"], id.as_str(), "the profile, not the stale entry");
    for key in [user_domain::cache_keys::preferences(user), user_domain::cache_keys::profile(user)] {
        assert_eq!(cache.get(&key).await.unwrap().as_deref(), Some(""), "{key} tombstoned");
    }
}

#[tokio::test]
async fn a_redis_outage_serves_preferences_from_the_database() {
    let app = spawn_with(Spawn::default().without_redis()).await;
    let (_, token) = app.plain_user().await;
    let answer = app.authed(Method::GET, path_of(Op::GetPreferences), &token, None).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let patched = app.authed(Method::PATCH, path_of(Op::PatchPreferences), &token, Some(&json!({"push": false}))).await;
    assert_eq!(patched.status, 200);
}

#[tokio::test]
async fn services_read_preferences_with_any_configured_key() {
    let app = spawn_with(Spawn::default().variable("service_keys", format!("old-key, {KEY}"))).await;
    let (id, _) = app.plain_user().await;
    let path = path_with(Op::ServicePreferences, &[&id]);
    for key in [KEY, "old-key"] {
        let answer = app.send(app.client.get(app.url(&path)).header("x-service-key", key)).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(switches(&answer.json()["data"]), json!({"email": true, "push": true}));
        assert_eq!(answer.json()["data"]["categories"].as_object().map(|c| c.len()), Some(5), "the whole model");
    }
    assert_eq!(app.send(app.client.get(app.url(&path)).header("x-service-key", "wrong")).await.status, 401);
    assert_eq!(app.get(&path).await.status, 401);
    let unknown = app
        .send(
            app.client
                .get(app.url(&path_with(Op::ServicePreferences, &[&uuid::Uuid::new_v4()])))
                .header("x-service-key", KEY),
        )
        .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn the_internal_lookup_gives_what_delivery_needs() {
    let app = spawn_with(Spawn::default().variable("service_keys", KEY)).await;
    let (id, token) = app.plain_user().await;
    app.authed(Method::PATCH, path_of(Op::PatchProfile), &token, Some(&json!({"push_token": "fcm:1"}))).await;
    let answer =
        app.send(app.client.get(app.url(&path_with(Op::InternalUser, &[&id]))).header("x-service-key", KEY)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let data = answer.json()["data"].clone();
    assert_eq!(data["user_id"], id.as_str());
    assert_eq!(data["push_token"], "fcm:1");
    assert_eq!(switches(&data["preferences"]), json!({"email": true, "push": true}));
    assert_eq!(data["preferences"]["categories"]["marketing"], json!({"email": true, "push": true}), "the whole model");
    assert_eq!(data["is_active"], true);
    assert!(data.get("password").is_none());
    let no_key = app.get(&path_with(Op::InternalUser, &[&id])).await;
    assert_eq!(no_key.status, 401);
}
