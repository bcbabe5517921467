//! Devices (issue 18): many per user, each by its provider's token, a token
//! belonging to one user, a cap per user, and the seed's single
//! `push_token` kept working on top of them.

use api_tests::{Op, TestApp, path_of, path_with, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

fn token() -> String {
    format!("fcm:{}", uuid::Uuid::new_v4().simple())
}

async fn register_device(app: &TestApp, bearer: &str, body: &Value) -> api_tests::Answer {
    app.post_authed(path_of(Op::RegisterDevice), bearer, body).await
}

async fn devices(app: &TestApp, bearer: &str) -> Vec<Value> {
    let answer = app.authed(Method::GET, path_of(Op::ListDevices), bearer, None).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_device_is_registered_seen_again_listed_and_removed() {
    let app = spawn_app().await;
    let (_, bearer) = app.plain_user().await;
    let phone = token();
    let created =
        register_device(&app, &bearer, &json!({"token": phone, "platform": "ios", "name": " Ada's phone "})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let device = created.json()["data"].clone();
    assert_eq!((device["token"].as_str(), device["platform"].as_str()), (Some(phone.as_str()), Some("ios")));
    assert_eq!((device["name"].as_str(), device["active"].as_bool()), (Some("Ada's phone"), Some(true)));
    for field in ["id", "created_at", "last_seen_at"] {
        assert!(device[field].is_string(), "{field}: {device}");
    }

    // The same token again is the same device, seen now.
    let again = register_device(&app, &bearer, &json!({"token": phone, "platform": "ios"})).await;
    assert_eq!(again.status, 200, "{}", again.text);
    let seen = again.json()["data"].clone();
    assert_eq!(seen["id"], device["id"]);
    assert_eq!(seen["name"], "Ada's phone", "a name not given is kept");
    assert!(seen["last_seen_at"].as_str() > device["last_seen_at"].as_str());

    let tablet = token();
    assert_eq!(register_device(&app, &bearer, &json!({"token": tablet, "platform": "android"})).await.status, 201);
    let listed = devices(&app, &bearer).await;
    let tokens: Vec<&str> = listed.iter().map(|d| d["token"].as_str().unwrap()).collect();
    assert_eq!(tokens, [tablet.as_str(), phone.as_str()], "most recently seen first");

    let id = device["id"].as_str().unwrap();
    let removed = app.authed(Method::DELETE, &path_with(Op::RemoveDevice, &[&id]), &bearer, None).await;
    assert_eq!(removed.status, 200, "{}", removed.text);
    assert_eq!(removed.json()["data"], json!({"id": id, "removed": true}));
    assert_eq!(app.authed(Method::DELETE, &path_with(Op::RemoveDevice, &[&id]), &bearer, None).await.status, 404);
    assert_eq!(devices(&app, &bearer).await.len(), 1);

    // Another user's device is a 404, like one that does not exist.
    let (_, stranger) = app.plain_user().await;
    let theirs = devices(&app, &bearer).await[0]["id"].as_str().unwrap().to_owned();
    let refused = app.authed(Method::DELETE, &path_with(Op::RemoveDevice, &[&theirs]), &stranger, None).await;
    assert_eq!(refused.status, 404, "{}", refused.text);
    assert_eq!(devices(&app, &bearer).await.len(), 1);

    let events: Vec<String> = app
        .db()
        .await
        .query("SELECT action FROM audit_events WHERE action LIKE 'device.%' ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(events, ["device.registered", "device.registered", "device.registered", "device.removed"]);
}

#[tokio::test]
async fn a_token_registered_by_another_user_moves_to_them() {
    let app = spawn_app().await;
    let (_, alice) = app.plain_user().await;
    let (_, bob) = app.plain_user().await;
    let shared = token();
    assert_eq!(register_device(&app, &alice, &json!({"token": shared, "platform": "web"})).await.status, 201);
    let moved = register_device(&app, &bob, &json!({"token": shared, "platform": "web"})).await;
    assert_eq!(moved.status, 201, "a new device for bob: {}", moved.text);
    assert!(devices(&app, &alice).await.is_empty(), "gone from alice");
    assert_eq!(devices(&app, &bob).await[0]["token"], shared.as_str());
    // The profile's push token follows: alice has none left.
    let profile = app.authed(Method::GET, path_of(Op::GetProfile), &alice, None).await.json();
    assert_eq!(profile["data"]["push_token"], Value::Null);
}

#[tokio::test]
async fn bad_devices_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let (_, bearer) = app.plain_user().await;
    let cases = [
        (json!({"token": "", "platform": "ios"}), "token"),
        (json!({"token": "x".repeat(4097), "platform": "ios"}), "token"),
        (json!({"token": "with space", "platform": "ios"}), "token"),
        (json!({"token": "a\u{0}b", "platform": "ios"}), "token"),
        (json!({"token": token(), "platform": "windows"}), "platform"),
        (json!({"token": token(), "platform": "unknown"}), "platform"),
        (json!({"token": token(), "platform": "ios", "name": "n".repeat(101)}), "name"),
        (json!({"platform": "ios"}), "token"),
    ];
    for (body, field) in cases {
        let answer = register_device(&app, &bearer, &body).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.text);
        assert!(answer.json()["details"][field].is_array(), "{field}: {}", answer.text);
    }
    // A token of 4,096 characters is a real (long) one.
    let long = register_device(&app, &bearer, &json!({"token": "y".repeat(4096), "platform": "web"})).await;
    assert_eq!(long.status, 201, "{}", long.text);
    assert!(devices(&app, &bearer).await.len() == 1);
}

#[tokio::test]
async fn past_the_cap_the_least_recently_seen_device_goes() {
    let app = spawn_app().await;
    let (_, bearer) = app.plain_user().await;
    let mut tokens = Vec::new();
    for _ in 0..user_domain::device::MAX_DEVICES_PER_USER {
        let t = token();
        assert_eq!(register_device(&app, &bearer, &json!({"token": t, "platform": "android"})).await.status, 201);
        tokens.push(t);
    }
    // The first is seen again, so the second is now the least recently seen.
    assert_eq!(register_device(&app, &bearer, &json!({"token": tokens[0], "platform": "android"})).await.status, 200);
    let newest = token();
    assert_eq!(register_device(&app, &bearer, &json!({"token": newest, "platform": "ios"})).await.status, 201);
    let kept: Vec<String> =
        devices(&app, &bearer).await.iter().map(|d| d["token"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kept.len(), user_domain::device::MAX_DEVICES_PER_USER);
    assert!(!kept.contains(&tokens[1]), "the least recently seen was evicted");
    assert!(kept.contains(&tokens[0]) && kept.contains(&newest));
}

#[tokio::test]
async fn the_profiles_push_token_is_the_most_recently_seen_device() {
    let app = spawn_app().await;
    let seed = token();
    let body = json!({"name": "Ada", "email": api_tests::unique_email("seed"), "password": "Analytical#Engine1843", "push_token": seed});
    let registered = app.register(&body).await;
    assert_eq!(registered.status, 201, "{}", registered.text);
    assert_eq!(registered.json()["data"]["user"]["push_token"], seed.as_str());
    let bearer = registered.json()["data"]["access_token"].as_str().unwrap().to_owned();
    let listed = devices(&app, &bearer).await;
    assert_eq!((listed.len(), listed[0]["platform"].as_str()), (1, Some("unknown")), "the seed's token is a device");

    let phone = token();
    assert_eq!(register_device(&app, &bearer, &json!({"token": phone, "platform": "ios"})).await.status, 201);
    let profile = app.authed(Method::GET, path_of(Op::GetProfile), &bearer, None).await.json();
    assert_eq!(profile["data"]["push_token"], phone.as_str());

    // Setting it touches (or registers) a device; null removes that device.
    let patched =
        app.authed(Method::PATCH, path_of(Op::PatchProfile), &bearer, Some(&json!({"push_token": seed}))).await;
    assert_eq!(patched.json()["data"]["push_token"], seed.as_str(), "{}", patched.text);
    assert_eq!(devices(&app, &bearer).await.len(), 2, "the same device, seen now");
    // Touching a device through the profile keeps what its app registered.
    let touched =
        app.authed(Method::PATCH, path_of(Op::PatchProfile), &bearer, Some(&json!({"push_token": phone}))).await;
    assert_eq!(touched.json()["data"]["push_token"], phone.as_str(), "{}", touched.text);
    let phone_device = devices(&app, &bearer).await.into_iter().find(|d| d["token"] == phone.as_str()).unwrap();
    assert_eq!(phone_device["platform"], "ios");
    let cleared =
        app.authed(Method::PATCH, path_of(Op::PatchProfile), &bearer, Some(&json!({"push_token": null}))).await;
    assert_eq!(cleared.json()["data"]["push_token"], seed.as_str(), "the next most recent: {}", cleared.text);
    let left: Vec<Value> = devices(&app, &bearer).await;
    assert_eq!((left.len(), left[0]["token"].as_str()), (1, Some(seed.as_str())), "null removed that device");
}

#[tokio::test]
async fn staff_list_a_users_devices_and_erasing_the_user_removes_them() {
    let app = spawn_app().await;
    let (_, staff) = app.staff_user().await;
    let (id, bearer) = app.plain_user().await;
    assert_eq!(register_device(&app, &bearer, &json!({"token": token(), "platform": "ios"})).await.status, 201);
    let listed = app.authed(Method::GET, &path_with(Op::ListUserDevices, &[&id]), &staff, None).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.json()["data"].as_array().unwrap().len(), 1);
    assert_eq!(app.authed(Method::GET, &path_with(Op::ListUserDevices, &[&id]), &bearer, None).await.status, 403);
    assert_eq!(app.authed(Method::DELETE, &path_with(Op::EraseUser, &[&id]), &staff, None).await.status, 200);
    let left: i64 = app.db().await.query_one("SELECT count(*) FROM devices", &[]).await.unwrap().get(0);
    assert_eq!(left, 0);
}
