//! Sign-in with a code sent by email (issue 21): the same answer for every
//! address, eight digits that sign in once, within ten minutes and five
//! wrong tries, a newer code voiding the older, limits per email, the
//! code cleared from the outbox once published, and the email verified.

use api_tests::{Answer, Op, Spawn, TestApp, claims_of, path_of, spawn_app, spawn_with};
use serde_json::{Value, json};

async fn ask(app: &TestApp, email: &str) -> Answer {
    app.post_json(path_of(Op::RequestEmailCode), &json!({"email": email})).await
}

async fn verify(app: &TestApp, email: &str, code: &str) -> Answer {
    app.post_json(path_of(Op::VerifyEmailCode), &json!({"email": email, "code": code})).await
}

/// The newest code emailed to anyone.
async fn emailed(app: &TestApp) -> Value {
    app.last_event("email_code").await.expect("a code email was queued")
}

/// A code of the right shape that is not `code`.
fn other_than(code: &str) -> String {
    let last = (code.as_bytes()[7] - b'0' + 1) % 10;
    format!("{}{last}", &code[..7])
}

#[tokio::test]
async fn a_code_answers_alike_signs_in_once_and_verifies_the_email() {
    let app = spawn_app().await;
    let (email, _, _) = app.registered_user().await;
    let unknown = ask(&app, &api_tests::unique_email("nobody")).await;
    assert_eq!(app.last_event("email_code").await, None, "no email for an address without an account");
    let known = ask(&app, &email).await;
    assert_eq!((unknown.status, known.status), (202, 202), "{}", known.text);
    assert_eq!(unknown.json(), known.json(), "the same answer");

    let event = emailed(&app).await;
    let variables = &event["variables"];
    let code = variables["code"].as_str().unwrap().to_owned();
    assert!(code.len() == 8 && code.bytes().all(|b| b.is_ascii_digit()), "{code}");
    assert_eq!(
        (&variables["email"], &variables["name"], &variables["expires_in"]),
        (&json!(email), &json!("Test User"), &json!(600))
    );
    let db = app.db().await;
    let stored: String = db.query_one("SELECT code_hash FROM email_codes", &[]).await.unwrap().get(0);
    assert!(!stored.contains(&code) && stored.len() == 64, "kept as a digest");

    // Typed with a space, as people copy it.
    let signed_in = verify(&app, &email.to_uppercase(), &format!("{} {}", &code[..4], &code[4..])).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);
    let data = signed_in.json()["data"].clone();
    assert_eq!(claims_of(data["access_token"].as_str().unwrap())["amr"], json!(["email"]));
    assert_eq!(data["user"]["email_verified"], true, "signing in with a code proves the mailbox");
    let verified: bool =
        db.query_one("SELECT email_verified FROM users WHERE email = $1", &[&email]).await.unwrap().get(0);
    assert!(verified);

    let replay = verify(&app, &email, &code).await;
    assert_eq!((replay.status, replay.json()["code"].as_str()), (401, Some("invalid_credentials")), "single use");
    let audited: i64 = db
        .query_one("SELECT count(*) FROM audit_events WHERE action IN ('auth.email_code_sent', 'auth.login', 'auth.login_failed')", &[])
        .await
        .unwrap()
        .get(0);
    assert!(audited >= 3, "sent, used and the replay are in the trail: {audited}");
}

#[tokio::test]
async fn five_wrong_tries_spend_a_code_and_a_newer_code_voids_the_older() {
    // The account's failure allowance (5) would answer 429 first: lifted,
    // to see the code's own limit.
    let app = spawn_with(Spawn::default().variable("rate_limit_login_failures", "100")).await;
    let (email, _, _) = app.registered_user().await;
    ask(&app, &email).await;
    let older = emailed(&app).await["variables"]["code"].as_str().unwrap().to_owned();
    ask(&app, &email).await;
    let newer = emailed(&app).await["variables"]["code"].as_str().unwrap().to_owned();
    if older != newer {
        assert_eq!(verify(&app, &email, &older).await.status, 401, "the newer code voided the older");
    }
    assert_eq!(verify(&app, &email, &newer).await.status, 200);

    ask(&app, &email).await;
    let code = emailed(&app).await["variables"]["code"].as_str().unwrap().to_owned();
    for wrong in [other_than(&code), "abc".to_owned(), "1234567".to_owned(), other_than(&other_than(&code))] {
        let answer = verify(&app, &email, &wrong).await;
        assert_eq!((answer.status, answer.json()["code"].as_str()), (401, Some("invalid_credentials")), "{wrong}");
    }
    // Four wrong tries leave one; a fifth spends the code's allowance.
    assert_eq!(verify(&app, &email, &other_than(&code)).await.status, 401);
    assert_eq!(verify(&app, &email, &code).await.status, 401, "past five wrong tries even the right code fails");
}

#[tokio::test]
async fn an_expired_code_or_a_deactivated_account_does_not_sign_in() {
    let app = spawn_app().await;
    let (email, _, _) = app.registered_user().await;
    ask(&app, &email).await;
    let code = emailed(&app).await["variables"]["code"].as_str().unwrap().to_owned();
    let db = app.db().await;
    db.execute("UPDATE email_codes SET expires_at = now() - interval '1 second'", &[]).await.unwrap();
    assert_eq!(verify(&app, &email, &code).await.status, 401, "ten minutes, not more");

    ask(&app, &email).await;
    let code = emailed(&app).await["variables"]["code"].as_str().unwrap().to_owned();
    db.execute("UPDATE users SET is_active = false WHERE email = $1", &[&email]).await.unwrap();
    let refused = verify(&app, &email, &code).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let asked = ask(&app, &email).await;
    assert_eq!(asked.status, 202);
    let pending: i64 = db.query_one("SELECT count(*) FROM email_codes", &[]).await.unwrap().get(0);
    assert_eq!(pending, 0, "a deactivated account gets no new code (the refused one was spent)");
}

#[tokio::test]
async fn code_requests_are_limited_per_email() {
    let app = spawn_with(Spawn::default().variable("rate_limit_email_code_per_hour", "2")).await;
    let (email, _, _) = app.registered_user().await;
    for _ in 0..2 {
        assert_eq!(ask(&app, &email).await.status, 202);
    }
    let limited = ask(&app, &email).await;
    assert_eq!((limited.status, limited.json()["code"].as_str()), (429, Some("rate_limited")), "{}", limited.text);
    assert!(limited.header("retry-after").is_some());
    assert_eq!(ask(&app, &api_tests::unique_email("other")).await.status, 202, "another email has its own allowance");
}

#[tokio::test]
async fn the_code_is_cleared_from_the_outbox_once_published_and_bad_bodies_are_400() {
    let app = spawn_app().await;
    let (email, _, _) = app.registered_user().await;
    ask(&app, &email).await;
    // What the relay stores after publishing (`outbox_redacted`, migration V11).
    let redacted: Value = app
        .db()
        .await
        .query_one("SELECT outbox_redacted(payload) FROM outbox WHERE payload->>'template_code' = 'email_code'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(redacted["variables"]["code"], Value::Null);
    assert_eq!((&redacted["variables"]["email"], &redacted["variables"]["expires_in"]), (&json!(email), &json!(600)));

    let missing = app.post_json(path_of(Op::VerifyEmailCode), &json!({"email": email})).await;
    assert_eq!(missing.status, 400);
    assert!(missing.json()["details"]["code"].is_array(), "{}", missing.text);
    let nul = app.post_json(path_of(Op::VerifyEmailCode), &json!({"email": email, "code": "1234\u{0}5678"})).await;
    assert_eq!(nul.status, 400, "{}", nul.text);
    let bad_email = ask(&app, "not-an-email").await;
    assert_eq!(bad_email.status, 400);
    assert_eq!(verify(&app, "not-an-email", "12345678").await.status, 401, "a malformed email is an unknown one");
}
