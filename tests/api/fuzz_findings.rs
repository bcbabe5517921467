//! What Schemathesis found (tests/api/fuzz.rs), pinned one by one so each
//! fix stays fixed even where a random seed would not find it again.

use api_tests::{Op, Spawn, path_of, spawn_app, spawn_with};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_method_the_path_does_not_serve_is_a_405_with_allow_even_under_a_reused_key() {
    let app = spawn_app().await;
    let (_, staff) = app.staff_user().await;
    for body in [json!({"user_id": "a"}), json!({"user_id": "b"})] {
        let put = app
            .client
            .put(app.url(path_of(Op::TestNotification)))
            .bearer_auth(&staff)
            .header("x-request-id", "same-key")
            .json(&body);
        let answer = app.send(put).await;
        assert_eq!((answer.status, answer.header("allow")), (405, Some("POST")), "{}", answer.text);
    }
    for _ in 0..2 {
        let post = app
            .client
            .post(app.url(path_of(Op::GetPreferences)))
            .bearer_auth(&staff)
            .header("x-request-id", "other-key")
            .json(&json!({"email": false}));
        let answer = app.send(post).await;
        assert_eq!((answer.status, answer.header("allow")), (405, Some("GET, PATCH, PUT")), "{}", answer.text);
    }
}

#[tokio::test]
async fn a_rate_limited_request_is_not_replayed_its_key_runs_again() {
    let app = spawn_with(Spawn::default().variable("rate_limit_register_per_minute", "1")).await;
    api_tests::avoid_window_edge(60).await;
    app.registered_user().await;
    for name in ["First Try", "Second Try"] {
        let email = api_tests::unique_email("limited");
        let body = json!({"name": name, "email": email, "password": "Vq8#mLp2!zr-long"});
        let post = app.client.post(app.url(path_of(Op::Register))).header("x-request-id", "limited-key").json(&body);
        let answer = app.send(post).await;
        // Not 422 the second time: the 429 was not kept under the key.
        assert_eq!(answer.status, 429, "{name}: {}", answer.text);
        assert!(answer.header("retry-after").is_some());
    }
}

#[tokio::test]
async fn a_caller_without_a_token_learns_that_before_any_key_limit() {
    let app = spawn_app().await;
    // Past the 60 keys an address may create without credentials.
    for i in 0..65 {
        let delete = app.client.delete(app.url(path_of(Op::DeactivateProfile))).header("x-request-id", format!("k{i}"));
        let answer = app.send(delete).await;
        assert_eq!(answer.status, 401, "request {i}: {}", answer.text);
    }
}

#[tokio::test]
async fn list_filters_and_test_notifications_read_what_the_document_says() {
    let app = spawn_app().await;
    let (staff_id, staff) = app.staff_user().await;
    // `is_active` is a boolean: an empty value is not one.
    let empty = app.authed(Method::GET, &format!("{}?is_active=", path_of(Op::ListUsers)), &staff, None).await;
    assert_eq!(empty.status, 400, "{}", empty.text);
    // `priority` is an integer, and 2.0 is the integer 2 in JSON.
    let body = json!({"user_id": staff_id, "priority": 2.0});
    let queued = app.authed(Method::POST, path_of(Op::TestNotification), &staff, Some(&body)).await;
    assert_eq!(queued.status, 202, "{}", queued.text);
    let fraction = json!({"user_id": staff_id, "priority": 2.5});
    let refused = app.authed(Method::POST, path_of(Op::TestNotification), &staff, Some(&fraction)).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
}
