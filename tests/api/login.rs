use api_tests::{JWT_SECRET, Op, Spawn, path_of, spawn_app, spawn_with};
use serde_json::json;
use user_domain::tokens::TokenConfig;

#[tokio::test]
async fn login_returns_a_session_and_records_last_login() {
    let app = spawn_app().await;
    let (email, password, registered) = app.registered_user().await;
    let answer = app.login(&email.to_uppercase(), &password).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let data = &answer.json()["data"];
    assert_eq!(data["user"]["id"], registered["data"]["user"]["id"]);
    assert!(data["user"]["last_login"].is_string(), "{data}");
    assert_ne!(data["refresh_token"], registered["data"]["refresh_token"]);
    let config = TokenConfig::new(JWT_SECRET, "user-service", "notification-platform", 900, 60).unwrap();
    assert!(config.validate_access(data["access_token"].as_str().unwrap()).is_ok());
    assert!(!answer.text.contains("argon2"));
    assert_eq!(answer.header("x-ratelimit-limit"), Some("30"));

    let last_login: bool = app
        .db()
        .await
        .query_one("SELECT last_login IS NOT NULL FROM users WHERE email = $1", &[&email])
        .await
        .unwrap()
        .get(0);
    assert!(last_login);
}

#[tokio::test]
async fn unknown_email_and_wrong_password_fail_alike() {
    let app = spawn_app().await;
    let (email, _, _) = app.registered_user().await;
    let wrong_password = app.login(&email, "not-the-password").await;
    let unknown = app.login(&api_tests::unique_email("nobody"), "not-the-password").await;
    let malformed = app.login(&format!("not an email {}", uuid::Uuid::new_v4()), "whatever").await;
    for answer in [&wrong_password, &unknown, &malformed] {
        assert_eq!(answer.status, 401, "{}", answer.text);
        let body = answer.json();
        assert_eq!(body["code"], "invalid_credentials");
        assert_eq!(body["error"], "Invalid email or password");
    }
    assert_eq!(wrong_password.json()["message"], unknown.json()["message"]);
}

#[tokio::test]
async fn missing_fields_are_a_validation_error() {
    let app = spawn_app().await;
    let answer = app.post_json(path_of(Op::Login), &json!({"email": "a@b.co"})).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["details"]["password"][0], "is required");
}

#[tokio::test]
async fn a_deactivated_account_is_forbidden() {
    let app = spawn_app().await;
    let (email, password, _) = app.registered_user().await;
    app.db().await.execute("UPDATE users SET is_active = false WHERE email = $1", &[&email]).await.unwrap();
    let answer = app.login(&email, &password).await;
    assert_eq!(answer.status, 403, "{}", answer.text);
    assert_eq!(answer.json()["code"], "forbidden");
    // The wrong password still says nothing about the account's state.
    assert_eq!(app.login(&email, "wrong-password").await.status, 401);
}

#[tokio::test]
async fn an_account_locked_by_failures_refuses_even_the_right_password() {
    let app = spawn_with(Spawn::default().variable("rate_limit_login_failures", "3")).await;
    api_tests::avoid_window_edge(300).await;
    let (email, password, _) = app.registered_user().await;
    for _ in 0..3 {
        assert_eq!(app.login(&email, "wrong-password").await.status, 401);
    }
    let locked = app.login(&email, &password).await;
    assert_eq!(locked.status, 429, "{}", locked.text);
    assert_eq!(locked.json()["code"], "rate_limited");
    assert!(locked.header("retry-after").is_some());
}

#[tokio::test]
async fn logins_are_rate_limited_per_address() {
    let app = spawn_with(Spawn::default().variable("rate_limit_login_per_minute", "2")).await;
    api_tests::avoid_window_edge(60).await;
    for _ in 0..2 {
        assert_eq!(app.login(&api_tests::unique_email("someone"), "whatever-pass").await.status, 401);
    }
    let limited = app.login(&api_tests::unique_email("someone-else"), "whatever-pass").await;
    assert_eq!(limited.status, 429, "{}", limited.text);
}

#[tokio::test]
async fn unknown_auth_paths_are_404_and_wrong_methods_405() {
    let app = spawn_app().await;
    let unknown = app.post_json("/api/v1/auth/nothing-here/", &json!({})).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["code"], "not_found");
    let get = app.get(path_of(Op::Login)).await;
    assert_eq!(get.status, 405);
    assert_eq!(get.header("allow"), Some("POST"));
}
