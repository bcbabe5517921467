use api_tests::{Op, path_of, path_with, spawn_app};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn staff_list_users_with_pagination_search_and_filters() {
    let app = spawn_app().await;
    let (_, staff) = app.staff_user().await;
    for _ in 0..3 {
        app.registered_user().await;
    }
    let page = app.authed(Method::GET, &format!("{}?limit=2&page=1", path_of(Op::ListUsers)), &staff, None).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let body = page.json();
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        body["meta"],
        json!({"total": 4, "limit": 2, "page": 1, "total_pages": 2, "has_next": true, "has_previous": false})
    );
    let last =
        app.authed(Method::GET, &format!("{}?limit=2&page=2", path_of(Op::ListUsers)), &staff, None).await.json();
    assert_eq!(last["meta"]["has_next"], false);

    let (email, _, _) = app.registered_user().await;
    let search = app
        .authed(
            Method::GET,
            &format!("{}?search={}", path_of(Op::ListUsers), &email[..12].to_uppercase()),
            &staff,
            None,
        )
        .await
        .json();
    assert_eq!(search["meta"]["total"], 1);
    assert_eq!(search["data"][0]["email"], email);
    let literal = app.authed(Method::GET, &format!("{}?search=%25", path_of(Op::ListUsers)), &staff, None).await.json();
    assert_eq!(literal["meta"]["total"], 0, "% is a literal, not a wildcard");

    app.db().await.execute("UPDATE users SET is_active = false WHERE email = $1", &[&email]).await.unwrap();
    let inactive =
        app.authed(Method::GET, &format!("{}?is_active=false", path_of(Op::ListUsers)), &staff, None).await.json();
    assert_eq!(inactive["meta"]["total"], 1);

    for bad in ["?limit=101", "?page=0", "?is_active=maybe", "?is_active=", "?limit=x"] {
        let answer = app.authed(Method::GET, &format!("/api/v1/users/{bad}"), &staff, None).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.text);
    }
}

#[tokio::test]
async fn non_staff_are_forbidden_and_anonymous_unauthorized() {
    let app = spawn_app().await;
    let (id, token) = app.plain_user().await;
    assert_eq!(app.authed(Method::GET, path_of(Op::ListUsers), &token, None).await.status, 403);
    assert_eq!(app.authed(Method::GET, &path_with(Op::GetUser, &[&id]), &token, None).await.status, 403);
    assert_eq!(app.get(path_of(Op::ListUsers)).await.status, 401);
}

#[tokio::test]
async fn staff_change_deactivate_and_delete_users_but_not_themselves() {
    let app = spawn_app().await;
    let (staff_id, staff) = app.staff_user().await;
    let (email, password, registered) = app.registered_user().await;
    let id = registered["data"]["user"]["id"].as_str().unwrap();

    let got = app.authed(Method::GET, &path_with(Op::GetUser, &[&id]), &staff, None).await;
    assert_eq!(got.json()["data"]["email"], email);
    let promoted = app
        .authed(
            Method::PATCH,
            &path_with(Op::PatchUser, &[&id]),
            &staff,
            Some(&json!({"is_staff": true, "name": "Renamed"})),
        )
        .await;
    assert_eq!(promoted.status, 200, "{}", promoted.text);
    assert_eq!(promoted.json()["data"]["is_staff"], true);
    assert_eq!(promoted.json()["data"]["name"], "Renamed");

    let deactivated =
        app.authed(Method::PATCH, &path_with(Op::PatchUser, &[&id]), &staff, Some(&json!({"is_active": false}))).await;
    assert_eq!(deactivated.json()["data"]["is_active"], false);
    assert_eq!(app.login(&email, &password).await.status, 403);
    let refresh =
        app.post_json(path_of(Op::Refresh), &json!({"refresh_token": registered["data"]["refresh_token"]})).await;
    assert_eq!(refresh.status, 401, "deactivation revokes sessions");

    let self_demote = app
        .authed(Method::PATCH, &path_with(Op::PatchUser, &[&staff_id]), &staff, Some(&json!({"is_staff": false})))
        .await;
    assert_eq!(self_demote.status, 400);
    let self_delete = app.authed(Method::DELETE, &path_with(Op::EraseUser, &[&staff_id]), &staff, None).await;
    assert_eq!(self_delete.status, 400);

    let deleted = app.authed(Method::DELETE, &path_with(Op::EraseUser, &[&id]), &staff, None).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(app.authed(Method::GET, &path_with(Op::GetUser, &[&id]), &staff, None).await.status, 404);
    let prefs: i64 = app.db().await.query_one("SELECT count(*) FROM user_preferences", &[]).await.unwrap().get(0);
    assert_eq!(prefs, 1, "only the staff user's preferences remain");
    assert_eq!(app.authed(Method::GET, &path_with(Op::GetUser, &[&"not-a-uuid"]), &staff, None).await.status, 404);
}

#[tokio::test]
async fn staff_queue_a_test_push_through_the_outbox() {
    let app = spawn_app().await;
    let (_, staff) = app.staff_user().await;
    let (id, token) = app.plain_user().await;
    let body = json!({"user_id": id, "template_code": "welcome", "variables": {"a": 1}, "priority": 8, "metadata": {"k": "v"}});
    let queued = app.authed(Method::POST, path_of(Op::TestNotification), &staff, Some(&body)).await;
    assert_eq!(queued.status, 202, "{}", queued.text);
    let row = app
        .db()
        .await
        .query_one("SELECT routing_key, payload, priority FROM outbox WHERE routing_key = 'push.queue'", &[])
        .await
        .unwrap();
    let payload: serde_json::Value = row.get(1);
    assert_eq!(payload["notification_type"], "push");
    assert_eq!(payload["user_id"], id.as_str());
    assert_eq!(payload["template_code"], "welcome");
    assert_eq!(payload["priority"], 8);
    assert_eq!(payload["request_id"], queued.json()["data"]["request_id"]);
    assert_eq!(row.get::<_, i16>(2), 8);

    assert_eq!(app.authed(Method::POST, path_of(Op::TestNotification), &token, Some(&body)).await.status, 403);
    let bad = app
        .authed(Method::POST, path_of(Op::TestNotification), &staff, Some(&json!({"user_id": "x", "priority": 11})))
        .await;
    assert_eq!(bad.status, 400);
    let unknown = app
        .authed(Method::POST, path_of(Op::TestNotification), &staff, Some(&json!({"user_id": uuid::Uuid::new_v4()})))
        .await;
    assert_eq!(unknown.status, 404);
}

/// After an erase, every read of the account answers 404 at once, the
/// cached ones (preferences, the internal lookup) included; the audit trail
/// alone stays readable, with the erasure in it (it is kept for the worker's
/// `AUDIT_RETENTION_DAYS`, so staff can investigate an erased account).
#[tokio::test]
async fn an_erased_user_is_gone_everywhere_but_the_audit_trail() {
    const KEY: &str = "erase-test-service-key";
    let app = api_tests::spawn_with(api_tests::Spawn::default().variable("service_keys", KEY)).await;
    let (_, staff) = app.staff_user().await;
    let (id, _) = app.plain_user().await;
    let service_reads = [path_with(Op::ServicePreferences, &[&id]), path_with(Op::InternalUser, &[&id])];
    let staff_reads = [path_with(Op::GetUser, &[&id]), path_with(Op::ListUserSessions, &[&id])];
    // Read once first, so what is cached has been cached.
    for path in &service_reads {
        let answer = app.send(app.client.get(app.url(path)).header("x-service-key", KEY)).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
    }
    for path in &staff_reads {
        assert_eq!(app.authed(Method::GET, path, &staff, None).await.status, 200, "{path}");
    }

    let erased = app.authed(Method::DELETE, &path_with(Op::EraseUser, &[&id]), &staff, None).await;
    assert_eq!(erased.status, 200, "{}", erased.text);

    for path in &service_reads {
        let answer = app.send(app.client.get(app.url(path)).header("x-service-key", KEY)).await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.text);
        assert_eq!(answer.json()["code"], "not_found", "{path}");
    }
    for path in &staff_reads {
        let answer = app.authed(Method::GET, path, &staff, None).await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.text);
    }
    let ending = app.authed(Method::DELETE, &path_with(Op::EndUserSessions, &[&id]), &staff, None).await;
    assert_eq!(ending.status, 404, "{}", ending.text);
    let trail = app.authed(Method::GET, &path_with(Op::UserAudit, &[&id]), &staff, None).await;
    assert_eq!(trail.status, 200, "{}", trail.text);
    assert_eq!(trail.json()["data"][0]["action"], "staff.user_erased", "{}", trail.text);
}
