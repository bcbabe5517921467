//! Email verification, password reset and password change.

use api_tests::{Op, Spawn, path_of, spawn_app, spawn_with};
use serde_json::json;

#[tokio::test]
async fn the_verification_token_from_the_email_verifies_once() {
    let app = spawn_app().await;
    let (email, password, _) = app.registered_user().await;
    let event = app.last_event("email_verification").await.expect("registration queued an email");
    let token = event["variables"]["verification_token"].as_str().unwrap();
    let answer = app.post_json(path_of(Op::VerifyEmail), &json!({"token": token})).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let user = app.login(&email, &password).await.json();
    assert_eq!(user["data"]["user"]["email_verified"], true);
    let again = app.post_json(path_of(Op::VerifyEmail), &json!({"token": token})).await;
    assert_eq!(again.status, 400, "a used token is refused");
    assert_eq!(again.json()["details"]["token"][0], "is invalid, expired or already used");
    assert_eq!(app.post_json(path_of(Op::VerifyEmail), &json!({"token": "bogus"})).await.status, 400);
}

#[tokio::test]
async fn resend_issues_a_new_token_and_the_old_one_stops_working() {
    let app = spawn_app().await;
    let (_, _, registered) = app.registered_user().await;
    let access = registered["data"]["access_token"].as_str().unwrap();
    let old = app.last_event("email_verification").await.unwrap()["variables"]["verification_token"].clone();
    let resent = app.post_authed(path_of(Op::ResendVerification), access, &json!({})).await;
    assert_eq!(resent.status, 200, "{}", resent.text);
    let new = app.last_event("email_verification").await.unwrap()["variables"]["verification_token"].clone();
    assert_ne!(old, new);
    assert_eq!(app.post_json(path_of(Op::VerifyEmail), &json!({"token": old})).await.status, 400);
    assert_eq!(app.post_json(path_of(Op::VerifyEmail), &json!({"token": new})).await.status, 200);
    let after = app.post_authed(path_of(Op::ResendVerification), access, &json!({})).await;
    assert_eq!(after.status, 409, "already verified: {}", after.text);
    let anonymous = app.post_json(path_of(Op::ResendVerification), &json!({})).await;
    assert_eq!(anonymous.status, 401);
    let forged = app.post_authed(path_of(Op::ResendVerification), "not.a.jwt", &json!({})).await;
    assert_eq!(forged.status, 401);
}

#[tokio::test]
async fn password_reset_answers_alike_and_the_token_works_once() {
    let app = spawn_app().await;
    let (email, old_password, registered) = app.registered_user().await;
    let unknown =
        app.post_json(path_of(Op::RequestPasswordReset), &json!({"email": api_tests::unique_email("nobody")})).await;
    let known = app.post_json(path_of(Op::RequestPasswordReset), &json!({"email": email})).await;
    assert_eq!((unknown.status, known.status), (200, 200));
    assert_eq!(unknown.json()["message"], known.json()["message"]);
    let event = app.last_event("password_reset").await.expect("a reset email was queued");
    assert_eq!(event["variables"]["email"], email);
    let token = event["variables"]["reset_token"].as_str().unwrap();

    let mismatch = app
        .post_json(
            path_of(Op::ConfirmPasswordReset),
            &json!({"token": token, "password": "Brand#New-Pass-1", "password_confirm": "other"}),
        )
        .await;
    assert_eq!(mismatch.status, 400);
    assert!(mismatch.json()["details"]["password_confirm"].is_array());

    let confirm = app
        .post_json(
            path_of(Op::ConfirmPasswordReset),
            &json!({"token": token, "password": "Brand#New-Pass-1", "password_confirm": "Brand#New-Pass-1"}),
        )
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.text);
    assert_eq!(app.login(&email, &old_password).await.status, 401, "the old password stops working");
    assert_eq!(app.login(&email, "Brand#New-Pass-1").await.status, 200);
    let old_session =
        app.post_json(path_of(Op::Refresh), &json!({"refresh_token": registered["data"]["refresh_token"]})).await;
    assert_eq!(old_session.status, 401, "every refresh token was revoked");
    let reused = app
        .post_json(
            path_of(Op::ConfirmPasswordReset),
            &json!({"token": token, "password": "Another#Pass-22", "password_confirm": "Another#Pass-22"}),
        )
        .await;
    assert_eq!(reused.status, 400, "single use");
    assert!(app.last_event("password_changed").await.is_some());
}

#[tokio::test]
async fn a_newer_reset_token_replaces_the_older_one() {
    let app = spawn_app().await;
    let (email, _, _) = app.registered_user().await;
    app.post_json(path_of(Op::RequestPasswordReset), &json!({"email": email})).await;
    let first = app.last_event("password_reset").await.unwrap()["variables"]["reset_token"].clone();
    app.post_json(path_of(Op::RequestPasswordReset), &json!({"email": email})).await;
    let body = json!({"token": first, "password": "Brand#New-Pass-1", "password_confirm": "Brand#New-Pass-1"});
    assert_eq!(app.post_json(path_of(Op::ConfirmPasswordReset), &body).await.status, 400);
}

#[tokio::test]
async fn password_reset_requests_are_limited_per_email() {
    let app = spawn_with(Spawn::default().variable("rate_limit_password_reset_per_hour", "2")).await;
    api_tests::avoid_window_edge(3600).await;
    let email = format!("limited-{}@example.com", uuid::Uuid::new_v4().simple());
    for _ in 0..2 {
        assert_eq!(app.post_json(path_of(Op::RequestPasswordReset), &json!({"email": email})).await.status, 200);
    }
    let limited = app.post_json(path_of(Op::RequestPasswordReset), &json!({"email": email})).await;
    assert_eq!(limited.status, 429, "{}", limited.text);
}

#[tokio::test]
async fn password_change_needs_the_current_password_and_signs_out_other_sessions() {
    let app = spawn_app().await;
    let (email, password, registered) = app.registered_user().await;
    let access = registered["data"]["access_token"].as_str().unwrap();
    let other = app.login(&email, &password).await.json();

    let wrong = app
        .post_authed(
            path_of(Op::ChangePassword),
            access,
            &json!({"current_password": "nope", "new_password": "Brand#New-Pass-1"}),
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.json()["details"]["current_password"][0], "is incorrect");
    let weak = app
        .post_authed(
            path_of(Op::ChangePassword),
            access,
            &json!({"current_password": password, "new_password": "12345678"}),
        )
        .await;
    assert_eq!(weak.status, 400);
    assert!(weak.json()["details"]["new_password"].is_array());

    let changed = app
        .post_authed(
            path_of(Op::ChangePassword),
            access,
            &json!({"current_password": password, "new_password": "Brand#New-Pass-1"}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    let fresh = changed.json()["data"]["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.post_json(path_of(Op::Refresh), &json!({"refresh_token": other["data"]["refresh_token"]})).await.status,
        401
    );
    assert_eq!(app.post_json(path_of(Op::Refresh), &json!({"refresh_token": fresh})).await.status, 200);
    assert_eq!(app.login(&email, &password).await.status, 401);
    assert_eq!(app.login(&email, "Brand#New-Pass-1").await.status, 200);
}

#[tokio::test]
async fn password_reset_requests_are_limited_per_address_whatever_the_emails() {
    let app = spawn_with(Spawn::default().variable("rate_limit_password_reset_per_address_per_hour", "3")).await;
    api_tests::avoid_window_edge(3600).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let email = api_tests::unique_email("spray");
        statuses.push(app.post_json(path_of(Op::RequestPasswordReset), &json!({"email": email})).await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 429], "one client cannot mail every registered address");
}

/// Known and unknown emails get the same answer after the same work: the
/// same Redis keys are written for both (a token and the email's newest
/// token), so neither the answer nor the work done tells them apart.
#[tokio::test]
async fn known_and_unknown_emails_cost_the_same() {
    let app = spawn_app().await;
    let (known, _, _) = app.registered_user().await;
    let unknown = api_tests::unique_email("nobody");
    let cache = native_worker::cache::Cache::new("redis://127.0.0.1:6379").unwrap();
    let mut answers = Vec::new();
    for email in [&known, &unknown] {
        let answer = app.post_json(path_of(Op::RequestPasswordReset), &json!({"email": email})).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answers.push(answer.json());
        let newest = format!("password_reset_email:{}", user_domain::secrets::digest(email));
        let token_digest = cache.get(&newest).await.unwrap().unwrap_or_else(|| panic!("{email}: no token recorded"));
        assert_eq!(token_digest.len(), 64, "{email}");
        let owner = cache.get(&format!("password_reset:{token_digest}")).await.unwrap();
        assert!(owner.is_some(), "{email}: a token kept as for any request");
    }
    assert_eq!(answers[0], answers[1], "the same answer");
    // Only the known account is emailed.
    let events: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM outbox WHERE payload->>'template_code' = 'password_reset'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(events, 1);
    let event = app.last_event("password_reset").await.unwrap();
    assert_eq!(event["variables"]["email"], known.as_str());
    assert_eq!(event["variables"]["name"], "Test User", "the name comes from the account");
    let user: String =
        app.db().await.query_one("SELECT id::text FROM users WHERE email = $1", &[&known]).await.unwrap().get(0);
    assert_eq!(event["user_id"], user.as_str());
}
