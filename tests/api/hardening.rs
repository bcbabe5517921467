//! Attacks a public auth service meets, each refused (issue 7): stale staff
//! rights, deactivated accounts, raced lockouts, unlimited password guesses,
//! hostile JSON, forged client addresses, cacheable tokens.

use api_tests::{Op, Spawn, TestApp, avoid_window_edge, path_of, path_with, spawn_app, spawn_with, unique_email};
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "Vq8#mLp2!zr-long";

async fn set(app: &TestApp, sql: &str, id: &str) {
    let id: uuid::Uuid = id.parse().unwrap();
    app.db().await.execute(sql, &[&id]).await.unwrap();
}

#[tokio::test]
async fn staff_powers_follow_the_database_not_the_token() {
    let app = spawn_app().await;
    let (staff_id, token) = app.staff_user().await;
    let (other_id, _) = app.plain_user().await;
    assert_eq!(app.authed(Method::GET, path_of(Op::ListUsers), &token, None).await.status, 200);

    // Demoted: the token still says is_staff, the database no longer does.
    set(&app, "UPDATE users SET is_staff = false WHERE id = $1", &staff_id).await;
    for (method, path, body) in [
        (Method::GET, path_of(Op::ListUsers).to_owned(), None),
        (Method::GET, path_with(Op::GetUser, &[&other_id]), None),
        (Method::PATCH, path_with(Op::PatchUser, &[&staff_id]), Some(json!({"is_staff": true}))),
        (Method::DELETE, path_with(Op::EraseUser, &[&other_id]), None),
        (Method::POST, path_of(Op::TestNotification).to_owned(), Some(json!({"user_id": other_id}))),
    ] {
        let answer = app.authed(method.clone(), &path, &token, body.as_ref()).await;
        assert_eq!(answer.status, 403, "{method} {path}: {}", answer.text);
    }
    let still: bool = app
        .db()
        .await
        .query_one("SELECT is_staff FROM users WHERE id = $1", &[&staff_id.parse::<uuid::Uuid>().unwrap()])
        .await
        .unwrap()
        .get(0);
    assert!(!still, "a demoted staff member cannot restore themselves");

    // Deactivated staff: 403; deleted staff: 401.
    set(&app, "UPDATE users SET is_staff = true, is_active = false WHERE id = $1", &staff_id).await;
    assert_eq!(app.authed(Method::GET, path_of(Op::ListUsers), &token, None).await.status, 403);
    set(&app, "DELETE FROM users WHERE id = $1", &staff_id).await;
    assert_eq!(app.authed(Method::GET, path_of(Op::ListUsers), &token, None).await.status, 401);
}

#[tokio::test]
async fn a_deactivated_account_is_refused_its_preferences() {
    let app = spawn_app().await;
    // Deactivated behind the API's back, before anything was cached.
    let (id, token) = app.plain_user().await;
    set(&app, "UPDATE users SET is_active = false WHERE id = $1", &id).await;
    let answer = app.authed(Method::GET, path_of(Op::GetPreferences), &token, None).await;
    assert_eq!(answer.status, 403, "{}", answer.text);
    let patch = app.authed(Method::PATCH, path_of(Op::PatchPreferences), &token, Some(&json!({"push": false}))).await;
    assert_eq!(patch.status, 403, "{}", patch.text);

    // Deactivated through the API while its preferences sit in the cache.
    let (_, token) = app.plain_user().await;
    assert_eq!(app.authed(Method::GET, path_of(Op::GetPreferences), &token, None).await.status, 200);
    assert_eq!(app.authed(Method::DELETE, path_of(Op::DeactivateProfile), &token, None).await.status, 200);
    // Deactivation ended the session: its token is refused as such.
    let answer = app.authed(Method::GET, path_of(Op::GetPreferences), &token, None).await;
    assert_eq!(answer.status, 401, "{}", answer.text);
    assert_eq!(answer.json()["error"], "The session has ended");
}

#[tokio::test]
async fn concurrent_wrong_passwords_cannot_outrun_the_lockout() {
    let app = spawn_with(Spawn::default().variable("rate_limit_login_per_minute", "1000")).await;
    let (email, _, _) = app.registered_user().await;
    let attempts = (0..40).map(|_| app.login(&email, "wrong-password-1"));
    let answers = futures::future::join_all(attempts).await;
    let unauthorized = answers.iter().filter(|a| a.status == 401).count();
    let limited = answers.iter().filter(|a| a.status == 429).count();
    assert_eq!(unauthorized + limited, 40, "{:?}", answers.iter().map(|a| a.status).collect::<Vec<_>>());
    assert!(unauthorized <= 5, "{unauthorized} guesses were checked; the allowance is 5");
    assert_eq!(app.login(&email, PASSWORD).await.status, 429, "the right password waits out the window too");
}

#[tokio::test]
async fn password_change_guesses_count_against_the_account() {
    let app = spawn_with(Spawn::default().variable("rate_limit_login_failures", "3")).await;
    avoid_window_edge(300).await;
    let (email, password, registered) = app.registered_user().await;
    let token = registered["data"]["access_token"].as_str().unwrap().to_owned();
    let change = |current: &str| json!({"current_password": current, "new_password": "Zx9$kQw3!plm-longer"});
    for _ in 0..3 {
        let answer = app.post_authed(path_of(Op::ChangePassword), &token, &change("not-it-at-all")).await;
        assert_eq!(answer.status, 400, "{}", answer.text);
    }
    let locked = app.post_authed(path_of(Op::ChangePassword), &token, &change(&password)).await;
    assert_eq!(locked.status, 429, "{}", locked.text);
    assert!(locked.header("retry-after").is_some());
    assert_eq!(app.login(&email, &password).await.status, 429, "the same allowance as logins");
}

#[tokio::test]
async fn nul_characters_are_refused_by_name() {
    let app = spawn_app().await;
    let (user_id, _) = app.plain_user().await;
    let (_, staff) = app.staff_user().await;
    let search = app.authed(Method::GET, &format!("{}?search=%00", path_of(Op::ListUsers)), &staff, None).await;
    assert_eq!(search.status, 400, "{}", search.text);
    assert!(search.json()["details"]["search"].is_array(), "{}", search.text);

    let test_push = json!({"user_id": user_id, "metadata": {"note": "a\u{0}b"}});
    let answer = app.post_authed(path_of(Op::TestNotification), &staff, &test_push).await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert!(answer.json()["details"]["metadata.note"].is_array(), "{}", answer.text);

    let register = json!({"name": "Nul\u{0}Name", "email": unique_email("nul"), "password": PASSWORD});
    let answer = app.register(&register).await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert!(answer.json()["details"]["name"].is_array(), "{}", answer.text);
}

#[tokio::test]
async fn json_the_pipeline_cannot_carry_back_is_refused_at_the_edge() {
    let app = spawn_app().await;
    let (user_id, _) = app.plain_user().await;
    let (_, staff) = app.staff_user().await;
    let huge = format!(r#"{{"user_id": "{user_id}", "metadata": {{"n": 1.7976931348623157e308}}}}"#);
    let request = app
        .client
        .post(app.url(path_of(Op::TestNotification)))
        .bearer_auth(&staff)
        .header("content-type", "application/json")
        .body(huge);
    let answer = app.send(request).await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert!(answer.json()["details"]["metadata.n"].is_array(), "{}", answer.text);

    let mut deep = json!("bottom");
    for _ in 0..40 {
        deep = json!({"d": deep});
    }
    let answer =
        app.post_authed(path_of(Op::TestNotification), &staff, &json!({"user_id": user_id, "metadata": deep})).await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    let queued: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM outbox WHERE routing_key <> 'audit.events'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(queued, 2, "only the two verification emails; nothing the worker could choke on");
}

async fn register_from(app: &TestApp, forwarded_for: &str) -> u16 {
    let body = json!({"name": "Proxied", "email": unique_email("proxied"), "password": PASSWORD});
    let request = app.client.post(app.url(path_of(Op::Register))).header("x-forwarded-for", forwarded_for).json(&body);
    app.send(request).await.status
}

#[tokio::test]
async fn a_forged_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn_with(Spawn::default().variable("rate_limit_register_per_minute", "2")).await;
    avoid_window_edge(60).await;
    assert_eq!(register_from(&app, "198.51.100.1").await, 201);
    assert_eq!(register_from(&app, "198.51.100.2").await, 201);
    assert_eq!(register_from(&app, "198.51.100.3").await, 429, "the peer's own address is what counts");
}

#[tokio::test]
async fn a_trusted_proxy_gives_each_client_its_own_allowance() {
    // Loopback stands for the gateway's network: the test client is the gateway.
    let app = spawn_with(
        Spawn::default().variable("rate_limit_register_per_minute", "2").variable("trusted_proxies", "127.0.0.0/8"),
    )
    .await;
    avoid_window_edge(60).await;
    let client = format!("198.51.{}.{}", rand_octet(), rand_octet());
    // The client put a fake address first; the gateway appended the real one.
    assert_eq!(register_from(&app, &format!("6.6.6.6, {client}")).await, 201);
    assert_eq!(register_from(&app, &format!("6.6.6.7, {client}")).await, 201);
    assert_eq!(register_from(&app, &format!("6.6.6.8, {client}")).await, 429, "same client behind the gateway");
    let another = format!("203.0.{}.{}", rand_octet(), rand_octet());
    assert_eq!(register_from(&app, &another).await, 201, "another client has its own allowance");
}

/// Per-address limits live in the shared Redis: addresses differ per run.
fn rand_octet() -> u8 {
    uuid::Uuid::new_v4().as_bytes()[0]
}

#[tokio::test]
async fn token_answers_are_never_cached() {
    let app = spawn_app().await;
    let (email, password, _) = app.registered_user().await;
    let login = app.login(&email, &password).await;
    assert_eq!(login.header("cache-control"), Some("no-store"));
    let refresh_token = login.json()["data"]["refresh_token"].as_str().unwrap().to_owned();
    let refreshed = app.post_json(path_of(Op::Refresh), &json!({"refresh_token": refresh_token})).await;
    assert_eq!((refreshed.status, refreshed.header("cache-control")), (200, Some("no-store")));
    let register = app.register(&json!({"name": "N", "email": unique_email("cc"), "password": PASSWORD})).await;
    assert_eq!(register.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn signing_out_everywhere_needs_a_live_refresh_token() {
    let app = spawn_app().await;
    let (email, password, registered) = app.registered_user().await;
    let first: Value = registered["data"]["refresh_token"].clone();
    let other = app.login(&email, &password).await.json()["data"]["refresh_token"].clone();
    // Spend the first token.
    let rotated = app.post_json(path_of(Op::Refresh), &json!({"refresh_token": first})).await;
    assert_eq!(rotated.status, 200);
    let answer = app.post_json(path_of(Op::Logout), &json!({"refresh_token": first, "all": true})).await;
    assert_eq!(answer.status, 401, "{}", answer.text);
    // The other session survived the attempt, and can end every session itself.
    let answer = app.post_json(path_of(Op::Logout), &json!({"refresh_token": other, "all": true})).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}

#[tokio::test]
async fn idempotent_answers_keep_no_usable_token_at_rest() {
    let app = spawn_app().await;
    let (email, password, _) = app.registered_user().await;
    let login = || {
        let body = json!({"email": email, "password": password});
        app.client.post(app.url(path_of(Op::Login))).header("x-request-id", "login-once").json(&body)
    };
    let first = app.send(login()).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let data = first.json()["data"].clone();
    let (access, refresh) = (data["access_token"].as_str().unwrap(), data["refresh_token"].as_str().unwrap());

    let stored: Vec<String> = app
        .db()
        .await
        .query("SELECT coalesce(response_data::text, '') FROM idempotency_keys", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains(access) && !stored[0].contains(refresh), "tokens at rest: {}", stored[0]);
    assert!(!stored[0].contains(&email), "the answer's personal data is sealed too");

    let replay = app.send(login()).await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.json()["data"]["refresh_token"], data["refresh_token"], "the same request still replays");
}

#[tokio::test]
async fn idempotency_keys_are_scoped_to_their_caller() {
    let app = spawn_app().await;
    let (_, alice) = app.plain_user().await;
    let (_, bob) = app.plain_user().await;
    let patch = |token: &str, name: &str| {
        app.client
            .patch(app.url(path_of(Op::PatchProfile)))
            .bearer_auth(token)
            .header("x-request-id", "shared-key")
            .json(&json!({"name": name}))
    };
    assert_eq!(app.send(patch(&alice, "Alice")).await.status, 200);
    let answer = app.send(patch(&bob, "Bob")).await;
    assert_eq!(answer.status, 200, "Bob's key is his own: {}", answer.text);
    assert_eq!(answer.json()["data"]["name"], "Bob");
    assert!(answer.header("idempotent-replayed").is_none());
}

#[tokio::test]
async fn strangers_cannot_fill_the_idempotency_table() {
    let app = spawn_app().await;
    avoid_window_edge(60).await;
    let mut statuses = Vec::new();
    for n in 0..61 {
        let request = app
            .client
            .post(app.url(path_of(Op::Logout)))
            .header("x-request-id", format!("stranger-{n}"))
            .json(&json!({"refresh_token": "not-a-token"}));
        statuses.push(app.send(request).await.status);
    }
    assert!(statuses[..60].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(statuses[60], 429);
    // 401 answers are not kept (a repeat is checked again), so the table
    // holds none of them; the quota counted every key created.
    let keys: i64 = app.db().await.query_one("SELECT count(*) FROM idempotency_keys", &[]).await.unwrap().get(0);
    assert_eq!(keys, 0);
}

/// The same limit, set lower through its variable: the setting is read.
#[tokio::test]
async fn the_anonymous_key_limit_is_a_setting() {
    let app =
        api_tests::spawn_with(api_tests::Spawn::default().variable("rate_limit_anonymous_request_ids_per_minute", "2"))
            .await;
    avoid_window_edge(60).await;
    let mut statuses = Vec::new();
    for n in 0..3 {
        let request = app
            .client
            .post(app.url(path_of(Op::Logout)))
            .header("x-request-id", format!("stranger-{n}"))
            .json(&json!({"refresh_token": "not-a-token"}));
        statuses.push(app.send(request).await.status);
    }
    assert_eq!(statuses, [401, 401, 429]);
}

#[tokio::test]
async fn a_read_that_began_before_a_change_cannot_cache_the_old_value() {
    let app = spawn_app().await;
    let (id, token) = app.plain_user().await;
    let read = || app.authed(Method::GET, path_of(Op::GetPreferences), &token, None);
    let patched =
        app.authed(Method::PATCH, path_of(Op::PatchPreferences), &token, Some(&json!({"email": false}))).await;
    assert_eq!(patched.status, 200);
    // Right after a change, a read finds the key invalidated and must not
    // refill it: it could be a read that fetched the old row before the change.
    assert_eq!(read().await.json()["data"]["push"], true);
    set_push_behind_the_back(&app, &id, false).await;
    assert_eq!(read().await.json()["data"]["push"], false, "the first read after the change was not cached");
}

async fn set_push_behind_the_back(app: &TestApp, id: &str, push: bool) {
    let sql =
        "UPDATE user_preferences SET push = $2 WHERE id = (SELECT preferences_id FROM users WHERE id = $1::text::uuid)";
    app.db().await.execute(sql, &[&id, &push]).await.unwrap();
}

/// Per-address limits count an IPv6 client by its /64: one host can draw on
/// every address of its network, and must not get a fresh allowance from
/// each (issue 16, item 11). The clients arrive through a trusted proxy.
#[tokio::test]
async fn ipv6_clients_are_limited_by_their_network() {
    let spawn = |prefix: &str| {
        Spawn::default()
            .variable("rate_limit_login_per_minute", "3")
            .variable("trusted_proxies", "127.0.0.0/8")
            .variable("rate_limit_ipv6_prefix", prefix)
    };
    async fn login(app: &TestApp, from: String) -> u16 {
        let request = app
            .client
            .post(app.url(path_of(Op::Login)))
            .header("x-forwarded-for", from)
            .json(&json!({"email": unique_email("v6"), "password": "whatever-it-is"}));
        app.send(request).await.status
    }
    let network = |n: u16| format!("2001:db8:{:x}:{:x}", rand_word(), n);
    avoid_window_edge(60).await;
    let app = spawn_with(spawn("64")).await;
    let net = network(1);
    let mut statuses = Vec::new();
    for host in 1..=4 {
        statuses.push(login(&app, format!("{net}::{host:x}")).await);
    }
    assert_eq!(statuses, [401, 401, 401, 429], "four addresses of one /64 share one allowance");
    assert_eq!(login(&app, format!("{}::1", network(2))).await, 401, "another /64 has its own");

    let per_address = spawn_with(spawn("128")).await;
    let net = network(3);
    for host in 1..=4 {
        assert_eq!(login(&per_address, format!("{net}::{host:x}")).await, 401, "with /128 each address is its own");
    }
}

fn rand_word() -> u16 {
    uuid::Uuid::new_v4().as_bytes()[0] as u16 * 256 + uuid::Uuid::new_v4().as_bytes()[1] as u16
}
