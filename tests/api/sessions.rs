//! The refresh token lifecycle: rotation, reuse detection, logout.

use api_tests::{Op, path_of, spawn_app};
use serde_json::json;

#[tokio::test]
async fn a_refresh_rotates_both_tokens() {
    let app = spawn_app().await;
    let (_, _, registered) = app.registered_user().await;
    let first = registered["data"]["refresh_token"].as_str().unwrap();
    let answer = app.post_json(path_of(Op::Refresh), &json!({"refresh_token": first})).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let data = &answer.json()["data"];
    assert_eq!(data["token_type"], "Bearer");
    assert_ne!(data["refresh_token"], first);
    assert_ne!(data["access_token"], registered["data"]["access_token"]);
    // The new refresh token works in turn.
    let next = app.post_json(path_of(Op::Refresh), &json!({"refresh_token": data["refresh_token"]})).await;
    assert_eq!(next.status, 200, "{}", next.text);
}

#[tokio::test]
async fn spent_refresh_token_revokes_the_family() {
    // Without the grace for retries: any second use is a copy.
    let app = api_tests::spawn_with(api_tests::Spawn::default().variable("refresh_reuse_interval_secs", "0")).await;
    let (_, _, registered) = app.registered_user().await;
    let original = registered["data"]["refresh_token"].as_str().unwrap().to_owned();
    let rotated = app.post_json(path_of(Op::Refresh), &json!({"refresh_token": original})).await.json();
    let child = rotated["data"]["refresh_token"].as_str().unwrap().to_owned();

    // A thief replays the spent original: refused, and the family dies.
    let replay = app.post_json(path_of(Op::Refresh), &json!({"refresh_token": original})).await;
    assert_eq!(replay.status, 401, "{}", replay.text);
    assert_eq!(replay.json()["code"], "unauthorized");
    let child_after = app.post_json(path_of(Op::Refresh), &json!({"refresh_token": child})).await;
    assert_eq!(child_after.status, 401, "the descendant is revoked too: {}", child_after.text);
}

#[tokio::test]
async fn other_logins_survive_a_revoked_family() {
    let app = spawn_app().await;
    let (email, password, registered) = app.registered_user().await;
    let other_login = app.login(&email, &password).await.json();
    let original = registered["data"]["refresh_token"].as_str().unwrap();
    app.post_json(path_of(Op::Refresh), &json!({"refresh_token": original})).await;
    app.post_json(path_of(Op::Refresh), &json!({"refresh_token": original})).await;
    let other =
        app.post_json(path_of(Op::Refresh), &json!({"refresh_token": other_login["data"]["refresh_token"]})).await;
    assert_eq!(other.status, 200, "{}", other.text);
}

#[tokio::test]
async fn unknown_refresh_tokens_are_401_and_missing_ones_400() {
    let app = spawn_app().await;
    let unknown = app.post_json(path_of(Op::Refresh), &json!({"refresh_token": "made-up"})).await;
    assert_eq!(unknown.status, 401);
    let missing = app.post_json(path_of(Op::Refresh), &json!({})).await;
    assert_eq!(missing.status, 400);
}

#[tokio::test]
async fn logout_ends_one_session_and_all_ends_every_session() {
    let app = spawn_app().await;
    let (email, password, registered) = app.registered_user().await;
    let second = app.login(&email, &password).await.json();
    let third = app.login(&email, &password).await.json();
    let first_token = registered["data"]["refresh_token"].as_str().unwrap();

    let out = app.post_json(path_of(Op::Logout), &json!({"refresh_token": first_token})).await;
    assert_eq!(out.status, 200, "{}", out.text);
    assert_eq!(app.post_json(path_of(Op::Refresh), &json!({"refresh_token": first_token})).await.status, 401);
    let second_token = second["data"]["refresh_token"].as_str().unwrap();
    let refreshed = app.post_json(path_of(Op::Refresh), &json!({"refresh_token": second_token})).await;
    assert_eq!(refreshed.status, 200, "another session is untouched");

    let all = app
        .post_json(path_of(Op::Logout), &json!({"refresh_token": third["data"]["refresh_token"], "all": true}))
        .await;
    assert_eq!(all.status, 200, "{}", all.text);
    let rotated = refreshed.json()["data"]["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(app.post_json(path_of(Op::Refresh), &json!({"refresh_token": rotated})).await.status, 401);

    let again = app.post_json(path_of(Op::Logout), &json!({"refresh_token": first_token})).await;
    assert_eq!(again.status, 200, "logging out twice is fine");
    let unknown = app.post_json(path_of(Op::Logout), &json!({"refresh_token": "never-issued"})).await;
    assert_eq!(unknown.status, 401);
}

#[tokio::test]
async fn a_deactivated_user_cannot_refresh() {
    let app = spawn_app().await;
    let (email, _, registered) = app.registered_user().await;
    app.db().await.execute("UPDATE users SET is_active = false WHERE email = $1", &[&email]).await.unwrap();
    let answer =
        app.post_json(path_of(Op::Refresh), &json!({"refresh_token": registered["data"]["refresh_token"]})).await;
    assert_eq!(answer.status, 401);
}
