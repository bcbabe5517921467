//! What an `X-Request-ID` repeat may be given again, and what the
//! idempotency table keeps (issue 16, items 3 and 4), and retried refreshes
//! (item 3a) with the per-session refresh limit (item 10).

use api_tests::{JWT_SECRET, Op, Spawn, TestApp, path_of, path_with, spawn_app, spawn_with};
use reqwest::Method;
use serde_json::{Value, json};

fn keyed(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    key: &str,
    body: &Value,
) -> reqwest::RequestBuilder {
    let mut request = app.client.request(method, app.url(path)).header("x-request-id", key).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
}

fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test]
async fn a_replay_passes_the_same_checks_as_a_fresh_request() {
    let app = spawn_app().await;
    let (id, token) = app.plain_user().await;
    let k = key();
    let body = json!({"name": "Renamed Once"});
    let first = app.send(keyed(&app, Method::PATCH, path_of(Op::PatchProfile), Some(&token), &k, &body)).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let replay = app.send(keyed(&app, Method::PATCH, path_of(Op::PatchProfile), Some(&token), &k, &body)).await;
    assert_eq!((replay.status, replay.header("idempotent-replayed")), (200, Some("true")));

    // Deactivated behind the API's back (the session still lives): the
    // replay is refused as a fresh request is.
    app.db().await.execute("UPDATE users SET is_active = false WHERE id::text = $1", &[&id]).await.unwrap();
    let fresh = app.authed(Method::PATCH, path_of(Op::PatchProfile), &token, Some(&json!({"name": "Other"}))).await;
    assert_eq!(fresh.status, 403, "{}", fresh.text);
    let replay = app.send(keyed(&app, Method::PATCH, path_of(Op::PatchProfile), Some(&token), &k, &body)).await;
    assert_eq!(replay.status, 403, "{}", replay.text);
    assert!(replay.header("idempotent-replayed").is_none());

    // Deactivated through the API: the session ended, and so did the replay.
    app.db().await.execute("UPDATE users SET is_active = true WHERE id::text = $1", &[&id]).await.unwrap();
    let (_, staff) = app.staff_user().await;
    let off = json!({"is_active": false});
    assert_eq!(app.authed(Method::PATCH, &path_with(Op::PatchUser, &[&id]), &staff, Some(&off)).await.status, 200);
    let replay = app.send(keyed(&app, Method::PATCH, path_of(Op::PatchProfile), Some(&token), &k, &body)).await;
    assert_eq!(replay.status, 401, "{}", replay.text);
}

#[tokio::test]
async fn a_staff_replay_needs_staff_rights_now() {
    let app = spawn_app().await;
    let (staff_id, staff) = app.staff_user().await;
    let (id, _) = app.plain_user().await;
    let k = key();
    let path = path_with(Op::GetUser, &[&id]);
    let body = json!({"name": "Named By Staff"});
    let first = app.send(keyed(&app, Method::PATCH, &path, Some(&staff), &k, &body)).await;
    assert_eq!(first.status, 200, "{}", first.text);
    app.db().await.execute("UPDATE users SET is_staff = false WHERE id::text = $1", &[&staff_id]).await.unwrap();
    let replay = app.send(keyed(&app, Method::PATCH, &path, Some(&staff), &k, &body)).await;
    assert_eq!(replay.status, 403, "{}", replay.text);
    assert!(replay.header("idempotent-replayed").is_none());
}

#[tokio::test]
async fn answers_that_hand_out_a_session_replay_only_while_it_lives() {
    let app = spawn_app().await;
    let (email, password, _) = app.registered_user().await;
    let k = key();
    let body = json!({"email": email, "password": password});
    let first = app.send(keyed(&app, Method::POST, path_of(Op::Login), None, &k, &body)).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let replay = app.send(keyed(&app, Method::POST, path_of(Op::Login), None, &k, &body)).await;
    assert_eq!((replay.status, replay.header("idempotent-replayed")), (200, Some("true")));
    assert_eq!(replay.json()["data"]["refresh_token"], first.json()["data"]["refresh_token"]);

    let logout = json!({"refresh_token": first.json()["data"]["refresh_token"]});
    assert_eq!(app.post_json(path_of(Op::Logout), &logout).await.status, 200);
    let replay = app.send(keyed(&app, Method::POST, path_of(Op::Login), None, &k, &body)).await;
    assert_eq!(replay.status, 409, "the session it started has ended: {}", replay.text);
    assert!(!replay.text.contains("refresh_token\":\""), "no token in the refusal");

    // Registration likewise.
    let k = key();
    let body = json!({"name": "Ada", "email": api_tests::unique_email("replay"), "password": "Analytical#Engine1843"});
    let registered = app.send(keyed(&app, Method::POST, path_of(Op::Register), None, &k, &body)).await;
    assert_eq!(registered.status, 201, "{}", registered.text);
    let logout = json!({"refresh_token": registered.json()["data"]["refresh_token"], "all": true});
    assert_eq!(app.post_json(path_of(Op::Logout), &logout).await.status, 200);
    let replay = app.send(keyed(&app, Method::POST, path_of(Op::Register), None, &k, &body)).await;
    assert_eq!(replay.status, 409, "{}", replay.text);
}

#[tokio::test]
async fn refusals_of_credentials_and_sign_in_challenges_are_not_kept() {
    let app = spawn_with(Spawn::default().variable("mfa_key", "replays-test-mfa-key-of-32-bytes-or-more")).await;
    let (email, password, registered) = app.registered_user().await;
    let k = key();
    let wrong = json!({"email": email, "password": "not-the-password"});
    assert_eq!(app.send(keyed(&app, Method::POST, path_of(Op::Login), None, &k, &wrong)).await.status, 401);
    let kept: i64 = app.db().await.query_one("SELECT count(*) FROM idempotency_keys", &[]).await.unwrap().get(0);
    assert_eq!(kept, 0, "a 401 is not kept: a repeat is checked again");

    // An account with a second factor: its challenge is single use, and a
    // repeat gets a new one rather than the first again.
    let token = registered["data"]["access_token"].as_str().unwrap();
    let started = app.post_authed(path_of(Op::StartMfa), token, &json!({"password": password})).await;
    let secret = started.json()["data"]["secret"].as_str().unwrap().to_owned();
    let secret = user_domain::totp::Secret::from_bytes(user_domain::totp::base32_decode(&secret).unwrap());
    let step = user_domain::tokens::now_secs() / user_domain::totp::PERIOD_SECS;
    let confirm = json!({"code": secret.code_at_step(step)});
    assert_eq!(app.post_authed(path_of(Op::ConfirmMfa), token, &confirm).await.status, 200);
    let k = key();
    let body = json!({"email": email, "password": password});
    let first = app.send(keyed(&app, Method::POST, path_of(Op::Login), None, &k, &body)).await;
    let again = app.send(keyed(&app, Method::POST, path_of(Op::Login), None, &k, &body)).await;
    assert_eq!((first.status, again.status), (200, 200), "{} {}", first.text, again.text);
    assert!(again.header("idempotent-replayed").is_none());
    assert_ne!(first.json()["data"]["challenge_token"], again.json()["data"]["challenge_token"]);
}

#[tokio::test]
async fn a_header_that_is_no_valid_token_does_not_escape_the_anonymous_key_limit() {
    let app = spawn_with(Spawn::default().variable("rate_limit_anonymous_request_ids_per_minute", "3")).await;
    api_tests::avoid_window_edge(60).await;
    let mut statuses = Vec::new();
    for n in 0..4 {
        let request = app
            .client
            .post(app.url(path_of(Op::Logout)))
            .header("x-request-id", format!("junk-{n}"))
            .header("authorization", "x")
            .json(&json!({"refresh_token": "not-a-token"}));
        statuses.push(app.send(request).await.status);
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
}

#[tokio::test]
async fn the_kept_request_digest_is_keyed_by_the_service_secret() {
    let app = spawn_app().await;
    let (email, password, _) = app.registered_user().await;
    let k = key();
    let body = json!({"email": email, "password": password});
    let request = keyed(&app, Method::POST, path_of(Op::Login), None, &k, &body);
    let bytes = request.try_clone().unwrap().build().unwrap().body().unwrap().as_bytes().unwrap().to_vec();
    assert_eq!(app.send(request).await.status, 200);
    let stored: String =
        app.db().await.query_one("SELECT request_hash FROM idempotency_keys", &[]).await.unwrap().get(0);
    let material = user_domain::idempotency::request_material("POST", path_of(Op::Login), None, &bytes);
    // An unkeyed digest of the request (the password inside) is not what is kept…
    let unkeyed = user_domain::secrets::digest(&String::from_utf8_lossy(&material));
    assert!(!stored.contains(&unkeyed), "a dump would allow offline guessing");
    // …but an HMAC under the service's secret.
    assert_eq!(stored, user_domain::idempotency::request_hash(JWT_SECRET.as_bytes(), &material));
    let sealed: Value =
        app.db().await.query_one("SELECT response_data FROM idempotency_keys", &[]).await.unwrap().get(0);
    assert!(!sealed.to_string().contains(&password) && !sealed.to_string().contains("access_token"));
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_share_one_new_token_and_the_session_goes_on() {
    let app = spawn_with(Spawn::default().variable("rate_limit_refresh_per_session_per_minute", "100")).await;
    let (_, _, registered) = app.registered_user().await;
    let body = json!({"refresh_token": registered["data"]["refresh_token"]});
    let answers = futures::future::join_all((0..20).map(|_| app.post_json(path_of(Op::Refresh), &body))).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert!(statuses.iter().all(|s| *s == 200), "a retry is not a theft: {statuses:?}");
    let children: std::collections::BTreeSet<String> =
        answers.iter().map(|a| a.json()["data"]["refresh_token"].as_str().unwrap().to_owned()).collect();
    assert_eq!(children.len(), 1, "the same child for every retry");
    let child = children.into_iter().next().unwrap();
    for answer in &answers {
        let token = answer.json()["data"]["access_token"].as_str().unwrap().to_owned();
        assert_eq!(app.authed(Method::GET, path_of(Op::ListOwnSessions), &token, None).await.status, 200);
    }
    let next = app.post_json(path_of(Op::Refresh), &json!({"refresh_token": child})).await;
    assert_eq!(next.status, 200, "the winner's token goes on: {}", next.text);
}

#[tokio::test]
async fn a_spent_token_past_the_reuse_interval_ends_the_session() {
    let app = spawn_with(Spawn::default().variable("refresh_reuse_interval_secs", "1")).await;
    let (_, _, registered) = app.registered_user().await;
    let body = json!({"refresh_token": registered["data"]["refresh_token"]});
    let rotated = app.post_json(path_of(Op::Refresh), &body).await;
    assert_eq!(rotated.status, 200);
    let retry = app.post_json(path_of(Op::Refresh), &body).await;
    assert_eq!(retry.status, 200, "within the interval: {}", retry.text);
    assert_eq!(retry.json()["data"]["refresh_token"], rotated.json()["data"]["refresh_token"]);
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let copy = app.post_json(path_of(Op::Refresh), &body).await;
    assert_eq!(copy.status, 401, "past it, a copy: {}", copy.text);
    let child = json!({"refresh_token": rotated.json()["data"]["refresh_token"]});
    assert_eq!(app.post_json(path_of(Op::Refresh), &child).await.status, 401, "the session ended");
    let token = rotated.json()["data"]["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.authed(Method::GET, path_of(Op::GetPreferences), &token, None).await.status, 401);
}

#[tokio::test]
async fn a_refresh_retried_with_its_request_id_gets_the_same_answer() {
    let app = spawn_app().await;
    let (_, _, registered) = app.registered_user().await;
    let body = json!({"refresh_token": registered["data"]["refresh_token"]});
    let k = key();
    let first = app.send(keyed(&app, Method::POST, path_of(Op::Refresh), None, &k, &body)).await;
    let again = app.send(keyed(&app, Method::POST, path_of(Op::Refresh), None, &k, &body)).await;
    assert_eq!((first.status, again.status), (200, 200), "{}", again.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json()["data"], first.json()["data"]);
}

#[tokio::test]
async fn refreshes_are_limited_per_session() {
    let app = spawn_with(Spawn::default().variable("rate_limit_refresh_per_session_per_minute", "3")).await;
    api_tests::avoid_window_edge(60).await;
    let (email, password, registered) = app.registered_user().await;
    // The registration's token is the session's first of this minute.
    let mut refresh = registered["data"]["refresh_token"].clone();
    for _ in 0..2 {
        let answer = app.post_json(path_of(Op::Refresh), &json!({"refresh_token": refresh})).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        refresh = answer.json()["data"]["refresh_token"].clone();
    }
    let limited = app.post_json(path_of(Op::Refresh), &json!({"refresh_token": refresh})).await;
    assert_eq!(limited.status, 429, "{}", limited.text);
    assert!(limited.header("retry-after").is_some());
    // The token was not spent by the refusal, and other sessions are not held back.
    let other = app.login(&email, &password).await.json();
    let answer = app.post_json(path_of(Op::Refresh), &json!({"refresh_token": other["data"]["refresh_token"]})).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}
