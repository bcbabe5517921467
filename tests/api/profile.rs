use api_tests::{Op, Spawn, path_of, path_with, spawn_app, spawn_with};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn the_profile_reads_patches_and_replaces() {
    let app = spawn_app().await;
    let (id, token) = app.plain_user().await;
    let profile = app.authed(Method::GET, path_of(Op::GetProfile), &token, None).await;
    assert_eq!(profile.status, 200, "{}", profile.text);
    assert_eq!(profile.json()["data"]["id"], id.as_str());

    let patched =
        app.authed(Method::PATCH, path_of(Op::PatchProfile), &token, Some(&json!({"push_token": "apns:xyz"}))).await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.json()["data"]["push_token"], "apns:xyz");
    assert_eq!(patched.json()["data"]["name"], "Test User", "PATCH leaves other fields alone");

    let cleared =
        app.authed(Method::PATCH, path_of(Op::PatchProfile), &token, Some(&json!({"push_token": null}))).await;
    assert_eq!(cleared.json()["data"]["push_token"], serde_json::Value::Null);

    let replaced = app
        .authed(Method::PUT, path_of(Op::PutProfile), &token, Some(&json!({"name": "New Name", "push_token": "t1"})))
        .await;
    assert_eq!(replaced.json()["data"]["name"], "New Name");
    let put_without_token =
        app.authed(Method::PUT, path_of(Op::PutProfile), &token, Some(&json!({"name": "Newer"}))).await;
    assert_eq!(put_without_token.json()["data"]["push_token"], serde_json::Value::Null, "PUT replaces every field");
    let put_without_name =
        app.authed(Method::PUT, path_of(Op::PutProfile), &token, Some(&json!({"push_token": "t"}))).await;
    assert_eq!(put_without_name.status, 400);

    let bad = app
        .authed(
            Method::PATCH,
            path_of(Op::PatchProfile),
            &token,
            Some(&json!({"name": "", "push_token": "x".repeat(600)})),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["details"]["name"].is_array() && bad.json()["details"]["push_token"].is_array());
}

#[tokio::test]
async fn the_profile_needs_a_valid_token() {
    let app = spawn_app().await;
    let none = app.get(path_of(Op::GetProfile)).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.json()["code"], "unauthorized");
    let forged = app.authed(Method::GET, path_of(Op::GetProfile), "eyJhbGciOiJub25lIn0.e30.", None).await;
    assert_eq!(forged.status, 401);
    let wrong_method = app.send(app.client.post(app.url(path_of(Op::GetProfile)))).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("GET, PATCH, PUT, DELETE"));
}

#[tokio::test]
async fn deleting_the_profile_deactivates_and_ends_sessions() {
    let app = spawn_app().await;
    let (email, password, registered) = app.registered_user().await;
    let token = registered["data"]["access_token"].as_str().unwrap();
    let deleted = app.authed(Method::DELETE, path_of(Op::DeactivateProfile), token, None).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(app.login(&email, &password).await.status, 403);
    let refresh =
        app.post_json(path_of(Op::Refresh), &json!({"refresh_token": registered["data"]["refresh_token"]})).await;
    assert_eq!(refresh.status, 401);
    // The session ended with the account: its access token too.
    assert_eq!(app.authed(Method::GET, path_of(Op::GetProfile), token, None).await.status, 401);
}

#[tokio::test]
async fn an_idempotent_patch_is_applied_once() {
    let app = spawn_app().await;
    let (_, token) = app.plain_user().await;
    let request = || {
        app.client
            .patch(app.url(path_of(Op::PatchProfile)))
            .bearer_auth(&token)
            .header("x-request-id", "patch-once")
            .json(&json!({"name": "Once"}))
    };
    let first = app.send(request()).await;
    let second = app.send(request()).await;
    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    // Another caller's key of the same name is its own: it runs, and never
    // gets this caller's answer.
    let (_, other) = app.plain_user().await;
    let reused = app
        .send(
            app.client
                .patch(app.url(path_of(Op::PatchProfile)))
                .bearer_auth(&other)
                .header("x-request-id", "patch-once")
                .json(&json!({"name": "Once"})),
        )
        .await;
    assert_eq!(reused.status, 200, "{}", reused.text);
    assert!(reused.header("idempotent-replayed").is_none());
    assert_ne!(reused.json()["data"]["id"], first.json()["data"]["id"]);
}

#[tokio::test]
async fn the_profile_is_read_through_the_cache_and_every_change_is_seen_at_once() {
    let app = spawn_app().await;
    // Registration's own token: no change since, so the first read fills the cache.
    let (email, password, registered) = app.registered_user().await;
    let token = registered["data"]["access_token"].as_str().unwrap().to_owned();
    let id = registered["data"]["user"]["id"].as_str().unwrap().to_owned();
    let read = |token: String| {
        let app = &app;
        async move {
            let answer = app.authed(Method::GET, path_of(Op::GetProfile), &token, None).await;
            assert_eq!(answer.status, 200, "{}", answer.text);
            answer.json()["data"].clone()
        }
    };
    let first = read(token.clone()).await;

    // Changed behind the service's back: the cached answer stands, which
    // proves the second read did not go to the database.
    app.db().await.execute("UPDATE users SET name = 'Changed Behind' WHERE id = $1::text::uuid", &[&id]).await.unwrap();
    assert_eq!(read(token.clone()).await, first, "served from Redis");

    // Through the API, each kind of change shows at once.
    let patched =
        app.authed(Method::PATCH, path_of(Op::PatchProfile), &token, Some(&json!({"name": "New Name"}))).await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(read(token.clone()).await["name"], "New Name");

    let prefs = app.authed(Method::PATCH, path_of(Op::PatchPreferences), &token, Some(&json!({"push": false}))).await;
    assert_eq!(prefs.status, 200, "{}", prefs.text);
    assert_eq!(read(token.clone()).await["preferences"]["push"], false);

    let before_login = read(token.clone()).await["last_login"].clone();
    let login = app.login(&email, &password).await;
    assert_eq!(login.status, 200, "{}", login.text);
    let after_login = read(token.clone()).await["last_login"].clone();
    assert!(after_login.is_string());
    assert_ne!(after_login, before_login, "a login shows in the cached profile");

    let updated_before = read(token.clone()).await["updated_at"].clone();
    let new_password = "Kx7#wRt5!qz-other";
    let changed = app
        .authed(
            Method::POST,
            path_of(Op::ChangePassword),
            &token,
            Some(&json!({"current_password": password, "new_password": new_password})),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    let token = changed.json()["data"]["access_token"].as_str().unwrap().to_owned();
    assert_ne!(read(token.clone()).await["updated_at"], updated_before, "a password change shows");
}

#[tokio::test]
async fn a_deactivated_account_is_refused_its_cached_profile() {
    let app = spawn_app().await;
    let (_, token) = app.plain_user().await;
    let (_, staff_token) = app.staff_user().await;
    let cached = app.authed(Method::GET, path_of(Op::GetProfile), &token, None).await;
    assert_eq!(cached.status, 200, "{}", cached.text);
    let id = cached.json()["data"]["id"].as_str().unwrap().to_owned();

    // Deactivated by staff, not by the owner: the staff path invalidates too.
    let off = app
        .authed(Method::PATCH, &path_with(Op::PatchUser, &[&id]), &staff_token, Some(&json!({"is_active": false})))
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    // The deactivation ended the account's sessions, so the cached entry is
    // refused by the session's mark (401) before the account's state is seen.
    let refused = app.authed(Method::GET, path_of(Op::GetProfile), &token, None).await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    assert_eq!(refused.json()["error"], "The session has ended");
}

#[tokio::test]
async fn a_redis_outage_serves_the_profile_from_the_database() {
    let app = spawn_with(Spawn::default().without_redis()).await;
    let (_, token) = app.plain_user().await;
    let answer = app.authed(Method::GET, path_of(Op::GetProfile), &token, None).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.json()["data"]["email"].as_str().unwrap().contains('@'));
}
