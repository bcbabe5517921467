//! Sessions a user can see and end (a session is a refresh-token family),
//! and staff tools for a user's sessions.

use api_tests::{Op, TestApp, path_of, path_with, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

async fn login_from(app: &TestApp, email: &str, password: &str, agent: &str) -> Value {
    let request = app
        .client
        .post(app.url(path_of(Op::Login)))
        .header("user-agent", agent)
        .json(&json!({"email": email, "password": password}));
    let answer = app.send(request).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()["data"].clone()
}

async fn list(app: &TestApp, token: &str) -> Vec<Value> {
    let answer = app.authed(Method::GET, path_of(Op::ListOwnSessions), token, None).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()["data"].as_array().unwrap().clone()
}

async fn refresh(app: &TestApp, token: &Value, agent: &str) -> u16 {
    let request = app
        .client
        .post(app.url(path_of(Op::Refresh)))
        .header("user-agent", agent)
        .json(&json!({"refresh_token": token}));
    app.send(request).await.status
}

#[tokio::test]
async fn users_see_their_sessions_and_end_one_at_once() {
    let app = spawn_app().await;
    let (email, password, registered) = app.registered_user().await;
    let laptop = login_from(&app, &email, &password, "Laptop/1.0").await;
    let phone = login_from(&app, &email, &password, "  Phone/2.0\twith a tab  ").await;

    let sessions = list(&app, phone["access_token"].as_str().unwrap()).await;
    assert_eq!(sessions.len(), 3, "registration, laptop, phone: {sessions:?}");
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["device"], "Phone/2.0 with a tab", "trimmed, control characters as spaces");
    assert_eq!(sessions[0]["device"], current[0]["device"], "most recently used first");
    assert!(sessions.iter().all(|s| s["client_address"] == app.client_ip.to_string() && s["created_at"].is_string()));

    // End the laptop's session from the phone: its refresh token dies at once.
    let laptop_id = sessions.iter().find(|s| s["device"] == "Laptop/1.0").unwrap()["id"].as_str().unwrap().to_owned();
    let phone_token = phone["access_token"].as_str().unwrap();
    let ended = app.authed(Method::DELETE, &path_with(Op::EndOwnSession, &[&laptop_id]), phone_token, None).await;
    assert_eq!(ended.status, 200, "{}", ended.text);
    assert_eq!(refresh(&app, &laptop["refresh_token"], "Laptop/1.0").await, 401);
    assert_eq!(list(&app, phone_token).await.len(), 2);
    let again = app.authed(Method::DELETE, &path_with(Op::EndOwnSession, &[&laptop_id]), phone_token, None).await;
    assert_eq!(again.status, 404, "an ended session is gone");

    // A refresh keeps the session and records where it was used from.
    assert_eq!(refresh(&app, &registered["data"]["refresh_token"], "Tablet/3").await, 200);
    let sessions = list(&app, phone_token).await;
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["device"], "Tablet/3");
}

#[tokio::test]
async fn another_users_session_cannot_be_ended() {
    let app = spawn_app().await;
    let (_, alice_token) = app.plain_user().await;
    let (_, bob_token) = app.plain_user().await;
    let bobs = list(&app, &bob_token).await;
    let bob_session = bobs[0]["id"].as_str().unwrap();
    let answer = app.authed(Method::DELETE, &path_with(Op::EndOwnSession, &[&bob_session]), &alice_token, None).await;
    assert_eq!(answer.status, 404, "{}", answer.text);
    assert_eq!(list(&app, &bob_token).await.len(), 1, "Bob's session lives on");
    for bad in ["not-a-uuid", "00000000-0000-0000-0000-000000000000"] {
        let answer = app.authed(Method::DELETE, &path_with(Op::EndOwnSession, &[&bad]), &alice_token, None).await;
        assert_eq!(answer.status, 404, "{bad}");
    }
    let anonymous = app.get(path_of(Op::ListOwnSessions)).await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn staff_list_and_end_a_users_sessions() {
    let app = spawn_app().await;
    let (_, staff) = app.staff_user().await;
    let (email, password, registered) = app.registered_user().await;
    let id = registered["data"]["user"]["id"].as_str().unwrap().to_owned();
    let second = login_from(&app, &email, &password, "Second/1").await;
    let user_token = registered["data"]["access_token"].as_str().unwrap().to_owned();

    let refused = app.authed(Method::GET, &path_with(Op::ListUserSessions, &[&id]), &user_token, None).await;
    assert_eq!(refused.status, 403);
    let listed = app.authed(Method::GET, &path_with(Op::ListUserSessions, &[&id]), &staff, None).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let sessions = listed.json()["data"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2);
    assert!(sessions.iter().all(|s| s["current"] == false), "staff's own session is none of these");

    let one = sessions.iter().find(|s| s["device"] == "Second/1").unwrap()["id"].as_str().unwrap().to_owned();
    let ended = app.authed(Method::DELETE, &path_with(Op::EndUserSession, &[&id, &one]), &staff, None).await;
    assert_eq!(ended.status, 200, "{}", ended.text);
    assert_eq!(refresh(&app, &second["refresh_token"], "Second/1").await, 401);

    let all = app.authed(Method::DELETE, &path_with(Op::EndUserSessions, &[&id]), &staff, None).await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(refresh(&app, &registered["data"]["refresh_token"], "x").await, 401);
    let unknown = uuid::Uuid::new_v4();
    let missing = app.authed(Method::GET, &path_with(Op::ListUserSessions, &[&unknown]), &staff, None).await;
    assert_eq!(missing.status, 404);
}
