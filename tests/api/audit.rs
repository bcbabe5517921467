//! The audit trail: each audited action leaves one event (same statement as
//! the change), readable by the account's owner and by staff, newest first
//! with a cursor; the table refuses updates; no secret is ever recorded.

use api_tests::{Op, Spawn, TestApp, path_of, path_with, spawn_app, spawn_with};
use reqwest::Method;
use serde_json::{Value, json};

async fn own_events(app: &TestApp, token: &str) -> Vec<Value> {
    let answer = app.authed(Method::GET, &format!("{}?limit=100", path_of(Op::OwnAudit)), token, None).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()["data"].as_array().unwrap().clone()
}

fn actions(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["action"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_users_own_actions_leave_events_without_secrets() {
    let app = spawn_app().await;
    let (email, password, registered) = app.registered_user().await;
    let token = registered["data"]["access_token"].as_str().unwrap().to_owned();
    let refresh = registered["data"]["refresh_token"].clone();
    assert_eq!(app.login(&email, "a-wrong-password").await.status, 401);
    let login = app.login(&email, &password).await.json();
    let token2 = login["data"]["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.authed(Method::PATCH, path_of(Op::PatchProfile), &token, Some(&json!({"name": "Renamed"}))).await.status,
        200
    );
    assert_eq!(
        app.authed(Method::PATCH, path_of(Op::PatchPreferences), &token, Some(&json!({"push": false}))).await.status,
        200
    );
    assert_eq!(app.post_json(path_of(Op::Logout), &json!({"refresh_token": refresh})).await.status, 200);
    let new_password = "Zx9$kQw3!plm-longer";
    let change = json!({"current_password": password, "new_password": new_password});
    let changed = app.post_authed(path_of(Op::ChangePassword), &token2, &change).await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    // The change ended every session: the caller goes on in the new one.
    let token3 = changed.json()["data"]["access_token"].as_str().unwrap().to_owned();

    let events = own_events(&app, &token3).await;
    let seen = actions(&events);
    assert_eq!(
        seen,
        [
            "auth.password_changed",
            "auth.logout",
            "user.preferences_changed",
            "user.profile_changed",
            "auth.login",
            "auth.login_failed",
            "user.registered"
        ],
        "newest first"
    );
    let failed = &events[5];
    assert_eq!(
        (failed["outcome"].as_str(), failed["details"]["reason"].as_str()),
        (Some("failure"), Some("wrong_password"))
    );
    assert_eq!(events[3]["details"]["fields"], json!(["name"]));
    assert!(events.iter().all(|e| e["client_address"] == app.client_ip.to_string() && e["correlation_id"].is_string()));
    assert_eq!(events[0]["actor"]["kind"], "user");

    let stored: String = app
        .db()
        .await
        .query_one("SELECT coalesce(string_agg(to_jsonb(a)::text, ' '), '') FROM audit_events a", &[])
        .await
        .unwrap()
        .get(0);
    for secret in [password.as_str(), new_password, "a-wrong-password", &token, refresh.as_str().unwrap()] {
        assert!(!stored.contains(secret), "a secret in the audit trail");
    }
    // Every event also went to the outbox for the audit queue.
    let relayed: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM outbox WHERE routing_key = 'audit.events'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(relayed, 7);
}

#[tokio::test]
async fn security_events_are_recorded_as_refusals() {
    // No grace for a retried refresh: a spent token presented again is a copy.
    let app = spawn_with(
        Spawn::default().variable("rate_limit_login_failures", "2").variable("refresh_reuse_interval_secs", "0"),
    )
    .await;
    api_tests::avoid_window_edge(300).await;
    let (email, password, registered) = app.registered_user().await;
    // A second session reads the trail: the reuse below ends the first.
    let token = app.login(&email, &password).await.json()["data"]["access_token"].as_str().unwrap().to_owned();
    let first = registered["data"]["refresh_token"].clone();
    assert_eq!(app.post_json(path_of(Op::Refresh), &json!({"refresh_token": first})).await.status, 200);
    assert_eq!(app.post_json(path_of(Op::Refresh), &json!({"refresh_token": first})).await.status, 401);
    for _ in 0..2 {
        assert_eq!(app.login(&email, "wrong-wrong-wrong").await.status, 401);
    }
    assert_eq!(app.login(&email, &password).await.status, 429);

    let events = own_events(&app, &token).await;
    let reuse = events.iter().find(|e| e["action"] == "auth.refresh_reuse_detected").expect("reuse recorded");
    assert_eq!(reuse["outcome"], "denied");
    let locked = events.iter().find(|e| e["details"]["reason"] == "failure_allowance_spent").expect("lockout recorded");
    assert_eq!((locked["action"].as_str(), locked["outcome"].as_str()), (Some("auth.login_failed"), Some("denied")));
}

#[tokio::test]
async fn staff_read_an_accounts_trail_page_by_page_and_their_actions_are_in_it() {
    let app = spawn_app().await;
    let (staff_id, staff) = app.staff_user().await;
    let (id, token) = app.plain_user().await;
    let change = json!({"name": "Set By Staff"});
    assert_eq!(app.authed(Method::PATCH, &path_with(Op::PatchUser, &[&id]), &staff, Some(&change)).await.status, 200);
    assert_eq!(app.authed(Method::GET, &path_with(Op::GetUser, &[&id]), &staff, None).await.status, 200);
    assert_eq!(app.authed(Method::GET, &path_with(Op::ListUserSessions, &[&id]), &staff, None).await.status, 200);

    let refused = app.authed(Method::GET, &path_with(Op::UserAudit, &[&id]), &token, None).await;
    assert_eq!(refused.status, 403);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{}?limit=2&cursor={c}", path_with(Op::UserAudit, &[&id])),
            None => format!("{}?limit=2", path_with(Op::UserAudit, &[&id])),
        };
        let page = app.authed(Method::GET, &path, &staff, None).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let body = page.json();
        seen.extend(body["data"].as_array().unwrap().iter().cloned());
        cursor = body["meta"]["next_cursor"].as_str().map(str::to_owned);
        assert_eq!(body["meta"]["has_next"].as_bool(), Some(cursor.is_some()));
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(actions(&seen), ["staff.sessions_viewed", "staff.user_viewed", "staff.user_changed", "user.registered"]);
    let changed = &seen[2];
    assert_eq!(changed["actor"], json!({"kind": "staff", "id": staff_id}));
    assert_eq!(changed["details"]["fields"], json!(["name"]));
    let bad = app.authed(Method::GET, &format!("{}?cursor=x", path_with(Op::UserAudit, &[&id])), &staff, None).await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn the_trail_is_append_only() {
    let app = spawn_app().await;
    app.plain_user().await;
    let db = app.db().await;
    let tampered = db.execute("UPDATE audit_events SET outcome = 'success'", &[]).await;
    assert!(tampered.unwrap_err().to_string().contains("db error"), "an update is refused");
    let error = db.execute("UPDATE audit_events SET action = 'x'", &[]).await.unwrap_err();
    assert!(error.as_db_error().unwrap().message().contains("append-only"));
}

#[tokio::test]
async fn owners_see_that_staff_or_a_service_acted_but_not_who_or_from_where() {
    let app = spawn_with(Spawn::default().variable("service_keys", "audit-view-key")).await;
    let (staff_id, staff) = app.staff_user().await;
    let (id, token) = app.plain_user().await;
    assert_eq!(app.authed(Method::GET, &path_with(Op::GetUser, &[&id]), &staff, None).await.status, 200);
    let lookup = app
        .send(app.client.get(app.url(&path_with(Op::InternalUser, &[&id]))).header("x-service-key", "audit-view-key"))
        .await;
    assert_eq!(lookup.status, 200, "{}", lookup.text);

    let own = own_events(&app, &token).await;
    for kind in ["staff", "service"] {
        let event = own.iter().find(|e| e["actor"]["kind"] == kind).unwrap_or_else(|| panic!("a {kind} event"));
        assert_eq!(event["actor"]["id"], Value::Null, "{kind}: {event}");
        assert_eq!(event["client_address"], Value::Null, "{kind}: {event}");
        assert_eq!(event["correlation_id"], Value::Null, "{kind}: {event}");
    }
    let text = serde_json::to_string(&own).unwrap();
    assert!(!text.contains(&staff_id), "no staff identity in the owner's view");
    // The owner's own events keep their address.
    let registered = own.iter().find(|e| e["action"] == "user.registered").unwrap();
    assert_eq!(registered["client_address"], app.client_ip.to_string());

    // Staff see the whole record.
    let full =
        app.authed(Method::GET, &format!("{}?limit=100", path_with(Op::UserAudit, &[&id])), &staff, None).await.json();
    let viewed = full["data"].as_array().unwrap().iter().find(|e| e["action"] == "staff.user_viewed").unwrap().clone();
    assert_eq!(viewed["actor"]["id"], staff_id.as_str());
    assert_eq!(viewed["client_address"], app.client_ip.to_string());
}
