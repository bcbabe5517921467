//! The fan-out lookup (issue 18): many users in one call and one query, for
//! a broadcast, each with its active devices; the ids of none in `missing`.

use api_tests::{Op, Spawn, TestApp, path_of, spawn_with};
use reqwest::Method;
use serde_json::{Value, json};

const KEY: &str = "lookup-test-service-key";

async fn lookup(app: &TestApp, body: &Value) -> api_tests::Answer {
    let request = app.client.post(app.url(path_of(Op::LookupUsers))).header("x-service-key", KEY).json(body);
    app.send(request).await
}

#[tokio::test]
async fn many_users_come_back_in_one_call_with_their_devices() {
    let app = spawn_with(Spawn::default().variable("service_keys", KEY)).await;
    let (with_two, bearer) = app.plain_user().await;
    let (with_none, _) = app.plain_user().await;
    for (token, platform) in [("apns:old", "ios"), ("fcm:new", "android")] {
        let body = json!({"token": format!("{token}-{with_two}"), "platform": platform});
        assert_eq!(app.post_authed(path_of(Op::RegisterDevice), &bearer, &body).await.status, 201);
    }
    let unknown = uuid::Uuid::new_v4().to_string();
    let answer = lookup(&app, &json!({"ids": [with_two, with_none, unknown, with_two]})).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let data = answer.json()["data"].clone();
    assert_eq!(data["missing"], json!([unknown]));
    let users = data["users"].as_array().unwrap();
    assert_eq!(users.len(), 2, "repeats count once");
    let two = users.iter().find(|u| u["user_id"] == with_two.as_str()).unwrap();
    let platforms: Vec<&str> =
        two["devices"].as_array().unwrap().iter().map(|d| d["platform"].as_str().unwrap()).collect();
    assert_eq!(platforms, ["android", "ios"], "most recently seen first");
    assert_eq!(two["push_token"], format!("fcm:new-{with_two}"));
    for field in ["name", "email", "preferences", "email_verified", "is_active"] {
        assert!(two.get(field).is_some(), "{field}: {two}");
    }
    let none = users.iter().find(|u| u["user_id"] == with_none.as_str()).unwrap();
    assert_eq!((none["devices"].clone(), none["push_token"].clone()), (json!([]), Value::Null));

    // One audit event per call, not one per user.
    let events: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM audit_events WHERE action = 'service.users_looked_up'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(events, 1);
}

#[tokio::test]
async fn five_hundred_ids_at_most_and_only_for_services() {
    let app = spawn_with(Spawn::default().variable("service_keys", KEY)).await;
    let ids = |n: usize| (0..n).map(|_| uuid::Uuid::new_v4().to_string()).collect::<Vec<_>>();
    let full = lookup(&app, &json!({"ids": ids(500)})).await;
    assert_eq!(full.status, 200, "{}", full.text);
    assert_eq!(full.json()["data"]["missing"].as_array().unwrap().len(), 500);
    for (body, why) in [
        (json!({"ids": ids(501)}), "501 ids"),
        (json!({"ids": []}), "no id"),
        (json!({"ids": ["not-a-uuid"]}), "not a user id"),
        (json!({"ids": [42]}), "a number"),
        (json!({"ids": "all"}), "not an array"),
        (json!({}), "no ids"),
    ] {
        let answer = lookup(&app, &body).await;
        assert_eq!(answer.status, 400, "{why}: {}", answer.text);
        assert!(answer.json()["details"]["ids"].is_array(), "{why}: {}", answer.text);
    }
    let (_, bearer) = app.plain_user().await;
    let as_user = app.authed(Method::POST, path_of(Op::LookupUsers), &bearer, Some(&json!({"ids": ids(1)}))).await;
    assert_eq!(as_user.status, 401, "a user's token is no service key: {}", as_user.text);
}
