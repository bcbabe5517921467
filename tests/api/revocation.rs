//! Sessions end for access tokens too (issue 16, item 1). Every way a
//! session ends makes its access tokens answer 401 at once, on every
//! instance, on the cached reads (which answer from Redis, without the
//! database) as on the rest; a token that names no session is refused; an
//! announcement lost from Redis is made again by the worker; without Redis
//! the database decides.
//!
//! Each test first makes sure the cached reads really are cached (the
//! entries are in Redis), so a refusal proves that ending the session
//! tombstoned them: the entries primed before the end would have answered
//! 200. An entry filled after a session ended refuses that session's tokens
//! on the hit itself, from the ended sessions it carries.

use std::sync::Arc;

use api_tests::{JWT_SECRET, Op, Spawn, TestApp, claims_of, path_of, path_with, spawn_app, spawn_with};
use native_worker::cache::Cache;
use reqwest::Method;
use serde_json::{Value, json};
use user_domain::cache_keys;
use user_domain::tokens::now_secs;

/// The reads answered from Redis without the database.
const CACHED_READS: [Op; 2] = [Op::GetProfile, Op::GetPreferences];

fn redis() -> Cache {
    Cache::new("redis://127.0.0.1:6379").expect("a Redis URL")
}

fn user_of(token: &str) -> user_domain::UserId {
    user_domain::UserId::parse(claims_of(token)["sub"].as_str().unwrap()).unwrap()
}

/// Reads both cached reads until both entries sit in Redis, so the next
/// reads are hits. (A login tombstones the profile for a minute; callers
/// prime a session whose user has not logged in since registering.)
pub(crate) async fn prime(app: &TestApp, token: &str) {
    for path in CACHED_READS.map(path_of) {
        let answer = app.authed(Method::GET, path, token, None).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
    }
    let user = user_of(token);
    let cache = redis();
    for key in [cache_keys::preferences(user), cache_keys::profile(user)] {
        let entry = cache.get(&key).await.expect("Redis answers");
        assert!(entry.is_some_and(|e| !e.is_empty()), "{key} is cached");
    }
}

/// The token is refused as a token of an ended session, by the cached
/// reads and by a read that goes to the database, on each app given.
pub(crate) async fn assert_ended(apps: &[&TestApp], token: &str) {
    for app in apps {
        for path in CACHED_READS.into_iter().chain([Op::ListOwnSessions]).map(path_of) {
            let answer = app.authed(Method::GET, path, token, None).await;
            assert_eq!(answer.status, 401, "{path} under {}: {}", app.runtime, answer.text);
            assert_eq!(answer.json()["code"], "unauthorized");
            assert_eq!(answer.json()["error"], "The session has ended", "{path}");
        }
    }
}

pub(crate) async fn assert_live(app: &TestApp, token: &str) {
    for path in CACHED_READS.into_iter().chain([Op::ListOwnSessions]).map(path_of) {
        let answer = app.authed(Method::GET, path, token, None).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
    }
}

fn data(answer: &Value, field: &str) -> String {
    answer["data"][field].as_str().unwrap_or_else(|| panic!("no {field} in {answer}")).to_owned()
}

/// The app and a second instance of it on the same database.
async fn two_instances(spawn: Spawn) -> (TestApp, TestApp) {
    let spawn_again = Spawn { variables: spawn.variables.clone(), ..Spawn::default() };
    let app = spawn_with(spawn).await;
    let other = spawn_with(spawn_again.sharing_database_of(&app)).await;
    (app, other)
}

#[tokio::test]
async fn logging_out_ends_the_sessions_access_tokens_on_every_instance() {
    let (app, other) = two_instances(Spawn::default()).await;
    let (email, password, registered) = app.registered_user().await;
    let token = data(&registered, "access_token");
    prime(&app, &token).await;
    let logout =
        app.post_json(path_of(Op::Logout), &json!({"refresh_token": data(&registered, "refresh_token")})).await;
    assert_eq!(logout.status, 200, "{}", logout.text);
    assert_eq!(logout.json()["data"]["sessions_ended"], 1);
    assert_ended(&[&app, &other], &token).await;

    // `all: true` from another session ends every one of them.
    let second = app.login(&email, &password).await.json();
    let third = app.login(&email, &password).await.json();
    let all = json!({"refresh_token": data(&second, "refresh_token"), "all": true});
    assert_eq!(app.post_json(path_of(Op::Logout), &all).await.status, 200);
    assert_ended(&[&app, &other], &data(&second, "access_token")).await;
    assert_ended(&[&app, &other], &data(&third, "access_token")).await;
}

#[tokio::test]
async fn ending_one_session_leaves_the_others() {
    let app = spawn_app().await;
    let (email, password, registered) = app.registered_user().await;
    let first = data(&registered, "access_token");
    prime(&app, &first).await;
    let second = data(&app.login(&email, &password).await.json(), "access_token");
    let sid = claims_of(&first)["sid"].as_str().unwrap().to_owned();
    let ended = app.authed(Method::DELETE, &path_with(Op::EndOwnSession, &[&sid]), &second, None).await;
    assert_eq!(ended.status, 200, "{}", ended.text);
    assert_ended(&[&app], &first).await;
    assert_live(&app, &second).await;
}

#[tokio::test]
async fn staff_ending_a_users_sessions_ends_their_access_tokens() {
    let (app, other) = two_instances(Spawn::default()).await;
    let (_, staff) = app.staff_user().await;
    let (email, password, registered) = app.registered_user().await;
    let first = data(&registered, "access_token");
    prime(&app, &first).await;
    let id = user_of(&first);

    // One session by id.
    let sid = claims_of(&first)["sid"].as_str().unwrap().to_owned();
    let one = app.authed(Method::DELETE, &path_with(Op::EndUserSession, &[&id, &sid]), &staff, None).await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_ended(&[&app, &other], &first).await;

    // Then every one.
    let second = data(&app.login(&email, &password).await.json(), "access_token");
    assert_live(&app, &second).await;
    let all = app.authed(Method::DELETE, &path_with(Op::EndUserSessions, &[&id]), &staff, None).await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(all.json()["data"]["sessions_ended"], 1);
    assert_ended(&[&app, &other], &second).await;
}

#[tokio::test]
async fn a_password_change_or_reset_ends_the_other_sessions_access_tokens() {
    let app = spawn_app().await;
    let (email, password, registered) = app.registered_user().await;
    let first = data(&registered, "access_token");
    prime(&app, &first).await;
    let second = data(&app.login(&email, &password).await.json(), "access_token");
    let new_password = "Changed#Pass-2026";
    let change = json!({"current_password": password, "new_password": new_password});
    let changed = app.post_authed(path_of(Op::ChangePassword), &second, &change).await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_ended(&[&app], &first).await;
    let fresh = data(&changed.json(), "access_token");
    assert_live(&app, &fresh).await;

    // A reset ends every session, the one that asked for nothing included.
    assert_eq!(app.post_json(path_of(Op::RequestPasswordReset), &json!({"email": email})).await.status, 200);
    let reset_token = app.last_event("password_reset").await.unwrap()["variables"]["reset_token"].clone();
    let confirm = json!({"token": reset_token, "password": "Reset#Pass-2026!", "password_confirm": "Reset#Pass-2026!"});
    assert_eq!(app.post_json(path_of(Op::ConfirmPasswordReset), &confirm).await.status, 200);
    assert_ended(&[&app], &fresh).await;
}

#[tokio::test]
async fn a_detected_refresh_token_copy_ends_the_sessions_access_tokens() {
    let app = spawn_with(Spawn::default().variable("refresh_reuse_interval_secs", "0")).await;
    let (_, _, registered) = app.registered_user().await;
    let token = data(&registered, "access_token");
    prime(&app, &token).await;
    let refresh = json!({"refresh_token": data(&registered, "refresh_token")});
    let rotated = app.post_json(path_of(Op::Refresh), &refresh).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let rotated_token = data(&rotated.json(), "access_token");
    assert_eq!(app.post_json(path_of(Op::Refresh), &refresh).await.status, 401, "a copy");
    assert_ended(&[&app], &token).await;
    assert_ended(&[&app], &rotated_token).await;
}

#[tokio::test]
async fn deactivation_ends_the_sessions_access_tokens() {
    let (app, other) = two_instances(Spawn::default()).await;
    // By the account's owner.
    let (_, _, registered) = app.registered_user().await;
    let token = data(&registered, "access_token");
    prime(&app, &token).await;
    assert_eq!(app.authed(Method::DELETE, path_of(Op::DeactivateProfile), &token, None).await.status, 200);
    assert_ended(&[&app, &other], &token).await;

    // By staff.
    let (_, staff) = app.staff_user().await;
    let (id, token) = app.plain_user().await;
    prime(&app, &token).await;
    let off = json!({"is_active": false});
    assert_eq!(app.authed(Method::PATCH, &path_with(Op::PatchUser, &[&id]), &staff, Some(&off)).await.status, 200);
    assert_ended(&[&app, &other], &token).await;
}

#[tokio::test]
async fn an_erased_accounts_tokens_are_refused() {
    let app = spawn_app().await;
    let (_, staff) = app.staff_user().await;
    let (id, token) = app.plain_user().await;
    prime(&app, &token).await;
    assert_eq!(app.authed(Method::DELETE, &path_with(Op::EraseUser, &[&id]), &staff, None).await.status, 200);
    for path in CACHED_READS.map(path_of) {
        assert_eq!(app.authed(Method::GET, path, &token, None).await.status, 401, "{path}");
    }
}

#[tokio::test]
async fn a_token_that_names_no_session_is_refused() {
    let app = spawn_app().await;
    let (id, token) = app.plain_user().await;
    prime(&app, &token).await;
    let now = now_secs();
    let claims = json!({
        "sub": id, "exp": now + 600, "iat": now, "nbf": now, "iss": "user-service",
        "aud": "notification-platform", "jti": "no-session", "type": "access", "is_staff": false,
    });
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let key = jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes());
    let sessionless = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    for path in CACHED_READS.into_iter().chain([Op::ListOwnSessions]).map(path_of) {
        let answer = app.authed(Method::GET, path, &sessionless, None).await;
        assert_eq!(answer.status, 401, "{path}: {}", answer.text);
    }
    // A session of someone else's is no better than none.
    let (_, stranger) = app.plain_user().await;
    let mut borrowed = claims.clone();
    borrowed["sid"] = claims_of(&stranger)["sid"].clone();
    let borrowed = jsonwebtoken::encode(&header, &borrowed, &key).unwrap();
    let answer = app.authed(Method::GET, path_of(Op::ListOwnSessions), &borrowed, None).await;
    assert_eq!(answer.status, 401, "{}", answer.text);
}

#[tokio::test]
async fn without_redis_the_database_refuses_an_ended_sessions_tokens() {
    let app = spawn_with(Spawn::default().without_redis()).await;
    let (_, _, registered) = app.registered_user().await;
    let token = data(&registered, "access_token");
    assert_live(&app, &token).await;
    let logout = json!({"refresh_token": data(&registered, "refresh_token")});
    assert_eq!(app.post_json(path_of(Op::Logout), &logout).await.status, 200);
    assert_ended(&[&app], &token).await;
}

#[tokio::test]
async fn an_entry_filled_after_a_session_ended_refuses_its_tokens_on_the_hit() {
    let app = spawn_app().await;
    let (email, password, registered) = app.registered_user().await;
    let first = data(&registered, "access_token");
    let second = data(&app.login(&email, &password).await.json(), "access_token");
    let sid = claims_of(&first)["sid"].as_str().unwrap().to_owned();
    let ended = app.authed(Method::DELETE, &path_with(Op::EndOwnSession, &[&sid]), &second, None).await;
    assert_eq!(ended.status, 200, "{}", ended.text);

    // The tombstones' minute has passed: the other session's reads fill the
    // entries again, listing the ended session.
    let user = user_of(&first);
    let cache = redis();
    let keys = [cache_keys::preferences(user), cache_keys::profile(user)];
    cache.del(&keys).await.unwrap();
    prime(&app, &second).await;
    for key in &keys {
        let entry = cache.get(key).await.unwrap().unwrap_or_default();
        assert!(entry.contains(&sid), "{key} lists the ended session: {entry}");
    }
    assert_ended(&[&app], &first).await;
    for key in &keys {
        assert!(cache.get(key).await.unwrap().is_some_and(|e| e.contains(&sid)), "{key} answered from the cache");
    }
    assert_live(&app, &second).await;
}

#[tokio::test]
async fn a_lost_announcement_is_made_again_by_the_worker() {
    let app = spawn_app().await;
    let (_, _, registered) = app.registered_user().await;
    let token = data(&registered, "access_token");
    prime(&app, &token).await;
    let user = user_of(&token);
    let cache = Arc::new(redis());
    let keys = [cache_keys::preferences(user), cache_keys::profile(user)];
    let mut primed = Vec::new();
    for key in &keys {
        primed.push(cache.get(key).await.unwrap().expect("primed"));
    }
    let logout = json!({"refresh_token": data(&registered, "refresh_token")});
    assert_eq!(app.post_json(path_of(Op::Logout), &logout).await.status, 200);
    assert_ended(&[&app], &token).await;

    // Redis lost the announcement (a restart, a failed write): no mark, and
    // the entries filled before the logout, which do not list the session,
    // would let the token through until the worker announces it again.
    let sid = uuid::Uuid::parse_str(claims_of(&token)["sid"].as_str().unwrap()).unwrap();
    cache.del(&[cache_keys::session_ended(&sid)]).await.unwrap();
    for (key, entry) in keys.iter().zip(&primed) {
        cache.set_ex(key, entry, 600).await.unwrap();
    }
    let gap = app.authed(Method::GET, path_of(Op::GetPreferences), &token, None).await;
    assert_eq!(gap.status, 200, "the window the worker closes: {}", gap.text);

    let sessions = native_worker::sessions::Sessions {
        pool: native_worker::db::pool(&app.database_url, 1).unwrap(),
        cache: cache.clone(),
        access_ttl_secs: 900,
        retention: std::time::Duration::from_secs(30 * 86_400),
    };
    assert_eq!(sessions.mark_ended().await.unwrap(), 1, "this database's one ended session");
    let mark = cache.get(&cache_keys::session_ended(&sid)).await.unwrap();
    assert_eq!(mark.as_deref(), Some("1"));
    for key in &keys {
        assert_eq!(cache.get(key).await.unwrap().as_deref(), Some(""), "{key} is tombstoned");
    }
    assert_ended(&[&app], &token).await;
    // Announced once: the next round finds the mark and leaves the entries.
    assert_eq!(sessions.mark_ended().await.unwrap(), 0);
}
