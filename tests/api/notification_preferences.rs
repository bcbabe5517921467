//! Preferences per category and channel, quiet hours and locale (issue 18),
//! through the real preferences and users components: merge patches, the
//! rules that refuse, the configuration from Spin variables, concurrent
//! changes, and what a change does to the messages held for quiet hours.

use api_tests::{Op, Spawn, TestApp, path_of, path_with, spawn_app, spawn_with};
use reqwest::Method;
use serde_json::{Value, json};

const KEY: &str = "service-key-for-tests";

async fn patch(app: &TestApp, token: &str, body: Value) -> api_tests::Answer {
    app.authed(Method::PATCH, path_of(Op::PatchPreferences), token, Some(&body)).await
}

/// Holds a message for `user` in the worker's table, as the worker would.
async fn hold(app: &TestApp, user: &str, request_id: &str) {
    app.db()
        .await
        .execute(
            "INSERT INTO held_messages (user_id, request_id, category, body, release_at) \
             VALUES ($1::text::uuid, $2, 'marketing', '\\x7b7d', now() + interval '6 hours')",
            &[&user, &request_id],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn every_configured_category_is_answered_and_a_merge_patch_changes_only_what_it_names() {
    let app = spawn_app().await;
    let (_, token) = app.plain_user().await;
    let first = app.authed(Method::GET, path_of(Op::GetPreferences), &token, None).await.json()["data"].clone();
    let on = json!({"email": true, "push": true});
    assert_eq!(
        first,
        json!({"email": true, "push": true, "quiet_hours": null, "locale": null, "categories": {
            "account": on, "marketing": on, "reminders": on, "security": on, "transactional": on}})
    );

    let quiet = json!({"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"});
    let changed = patch(
        &app,
        &token,
        json!({"categories": {"marketing": {"push": false}}, "quiet_hours": quiet, "locale": "pt-BR"}),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    let data = changed.json()["data"].clone();
    assert_eq!(data["categories"]["marketing"], json!({"email": true, "push": false}));
    assert_eq!(data["categories"]["reminders"], on);
    assert_eq!((&data["quiet_hours"], &data["locale"]), (&quiet, &json!("pt-BR")));

    // A second patch merges: the first one's changes stay.
    let more = patch(&app, &token, json!({"categories": {"reminders": {"email": false}}})).await.json()["data"].clone();
    assert_eq!(more["categories"]["marketing"], json!({"email": true, "push": false}));
    assert_eq!(more["categories"]["reminders"], json!({"email": false, "push": true}));
    assert_eq!(more["quiet_hours"], quiet);
    let read = app.authed(Method::GET, path_of(Op::GetPreferences), &token, None).await.json()["data"].clone();
    assert_eq!(read, more, "the cached read shows the change at once");

    // null removes: one category's override, the quiet hours, the locale.
    let removed = patch(&app, &token, json!({"categories": {"marketing": null}, "quiet_hours": null, "locale": null}))
        .await
        .json()["data"]
        .clone();
    assert_eq!(removed["categories"]["marketing"], on);
    assert_eq!(removed["categories"]["reminders"], json!({"email": false, "push": true}));
    assert_eq!((&removed["quiet_hours"], &removed["locale"]), (&Value::Null, &Value::Null));

    // PUT replaces the whole: what it leaves out goes back to the default.
    let put = app
        .authed(Method::PUT, path_of(Op::PutPreferences), &token, Some(&json!({"email": true, "push": false})))
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.json()["data"]["categories"]["reminders"], on);
    assert_eq!(put.json()["data"]["push"], false);

    // The user object keeps the seed's two switches.
    let profile = app.authed(Method::GET, path_of(Op::GetProfile), &token, None).await;
    assert_eq!(profile.json()["data"]["preferences"], json!({"email": true, "push": false}));
}

#[tokio::test]
async fn bad_preferences_are_a_400_naming_the_field_and_a_broken_rule_a_422() {
    let app = spawn_app().await;
    let (_, token) = app.plain_user().await;
    let cases = [
        (json!({"categories": {"promo": {"push": false}}}), "categories.promo"),
        (json!({"categories": {"marketing": {"sms": false}}}), "categories.marketing.sms"),
        (json!({"categories": {"marketing": {"push": "no"}}}), "categories.marketing.push"),
        (json!({"quiet_hours": {"start": "24:00", "end": "07:00", "timezone": "UTC"}}), "quiet_hours.start"),
        (json!({"quiet_hours": {"start": "22:00", "end": "7:00", "timezone": "UTC"}}), "quiet_hours.end"),
        (
            json!({"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Mars/Olympus"}}),
            "quiet_hours.timezone",
        ),
        (json!({"locale": "x".repeat(36)}), "locale"),
        (json!({"locale": "en\u{0}US"}), "locale"),
    ];
    for (body, field) in cases {
        let answer = patch(&app, &token, body.clone()).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.text);
        let details = answer.json()["details"].clone();
        assert!(details.get(field).is_some(), "{body} should name {field}: {details}");
    }
    // Well-formed but against a rule: 422, naming the field and the rule.
    let rules = [
        (json!({"categories": {"security": {"push": false}}}), "categories.security.push", "required"),
        (json!({"quiet_hours": {"start": "22:00", "end": "22:00", "timezone": "UTC"}}), "quiet_hours.end", "differ"),
        // Valid as a patch, but no quiet hours are stored to complete it.
        (json!({"quiet_hours": {"start": "22:00"}}), "quiet_hours.end", "stored"),
    ];
    for (body, field, rule) in rules {
        let answer = patch(&app, &token, body.clone()).await;
        assert_eq!(
            (answer.status, answer.json()["code"].as_str()),
            (422, Some("rule_violated")),
            "{body}: {}",
            answer.text
        );
        assert!(answer.json()["details"][field][0].as_str().unwrap().contains(rule), "{}", answer.text);
    }
    // Nothing of the refused changes was stored.
    let read = app.authed(Method::GET, path_of(Op::GetPreferences), &token, None).await.json()["data"].clone();
    assert_eq!((&read["quiet_hours"], &read["locale"]), (&Value::Null, &Value::Null));
    assert_eq!(read["categories"]["marketing"], json!({"email": true, "push": true}));
}

/// The app as `scripts/bench.sh` runs it: every variable, the required
/// `jwt_secret` too, given in a `--variable` file and none in the
/// environment (README, "Variables under spin up").
#[tokio::test]
async fn every_variable_may_come_from_a_variable_file() {
    let app = spawn_with(
        Spawn::default()
            .variable("notification_categories", "billing,security")
            .variable("quiet_hours_exempt_categories", "security")
            .all_given(),
    )
    .await;
    let (_, token) = app.plain_user().await;
    let read = app.authed(Method::GET, path_of(Op::GetPreferences), &token, None).await;
    assert_eq!(read.status, 200, "{}", read.text);
    let categories = read.json()["data"]["categories"].clone();
    let names: Vec<&String> = categories.as_object().unwrap().keys().collect();
    assert_eq!(names, ["billing", "security"]);
}

#[tokio::test]
async fn the_categories_come_from_spin_variables() {
    let app = spawn_with(
        Spawn::default()
            .variable("notification_categories", "billing, news ,security")
            .variable("notification_required_categories", "billing")
            .variable("quiet_hours_exempt_categories", "billing")
            .variable("service_keys", KEY),
    )
    .await;
    let (id, token) = app.plain_user().await;
    let read = app.authed(Method::GET, path_of(Op::GetPreferences), &token, None).await.json()["data"].clone();
    let names: Vec<&String> = read["categories"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["billing", "news", "security"]);
    assert_eq!(patch(&app, &token, json!({"categories": {"billing": {"push": false}}})).await.status, 422);
    assert_eq!(
        patch(&app, &token, json!({"categories": {"security": {"push": false}}})).await.status,
        200,
        "not required here"
    );
    assert_eq!(patch(&app, &token, json!({"categories": {"marketing": {"push": false}}})).await.status, 400);
    let internal =
        app.send(app.client.get(app.url(&path_with(Op::InternalUser, &[&id]))).header("x-service-key", KEY)).await;
    assert_eq!(internal.json()["data"]["preferences"]["categories"]["security"], json!({"email": true, "push": false}));

    let broken = spawn_with(Spawn::default().variable("notification_categories", "a,,b")).await;
    let (_, token) = broken.plain_user().await;
    let answer = broken.authed(Method::GET, path_of(Op::GetPreferences), &token, None).await;
    assert_eq!(answer.status, 500, "an operator's mistake, named in the log: {}", answer.text);
    assert!(!answer.text.contains("a,,b"), "configuration stays out of answers: {}", answer.text);
}

/// The components read the three category lists as one variable,
/// `notification_category_lists` (the lists joined with NUL;
/// `user_domain::setting_groups`). A list that holds a NUL itself, which a
/// `--variable` file can carry, splits the group into four parts: the read
/// fails as a malformed setting does, and is never answered with the lists
/// shifted (here the exempt list would have read `marketing`).
#[tokio::test]
async fn a_category_list_holding_a_nul_is_refused_not_read_shifted() {
    let app = spawn_with(Spawn::default().given("notification_required_categories", "security\u{0}marketing")).await;
    let (_, token) = app.plain_user().await;
    let answer = app.authed(Method::GET, path_of(Op::GetPreferences), &token, None).await;
    assert_eq!(answer.status, 500, "an operator's mistake, named in the log: {}", answer.text);
    assert_eq!(answer.json()["success"], json!(false), "{}", answer.text);
    assert!(!answer.text.contains("marketing"), "configuration stays out of answers: {}", answer.text);
}

/// Ten patches at once, each muting another category: a read-modify-write
/// that lost a race is done again, so all ten land.
#[tokio::test]
async fn concurrent_patches_of_different_categories_all_land() {
    let names: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
    let app = spawn_with(
        Spawn::default()
            .variable("notification_categories", names.join(","))
            .variable("notification_required_categories", "")
            .variable("quiet_hours_exempt_categories", ""),
    )
    .await;
    let (_, token) = app.plain_user().await;
    let answers = futures::future::join_all(
        names.iter().map(|name| patch(&app, &token, json!({"categories": {name.as_str(): {"push": false}}}))),
    )
    .await;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    let read = app.authed(Method::GET, path_of(Op::GetPreferences), &token, None).await.json()["data"].clone();
    for name in &names {
        assert_eq!(read["categories"][name]["push"], false, "{name} was lost: {read}");
    }
}

#[tokio::test]
async fn a_change_releases_held_messages_and_erasure_removes_them() {
    let app = spawn_app().await;
    let (id, token) = app.plain_user().await;
    let (other, _) = app.plain_user().await;
    hold(&app, &id, &format!("held-{id}")).await;
    hold(&app, &other, &format!("held-{other}")).await;
    let due = "SELECT count(*) FROM held_messages WHERE user_id = $1::text::uuid AND release_at <= now()";
    let count = |user: String| {
        let app = &app;
        async move { app.db().await.query_one(due, &[&user]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!(count(id.clone()).await, 0);
    let quiet = json!({"start": "23:00", "end": "06:00", "timezone": "America/Sao_Paulo"});
    assert_eq!(patch(&app, &token, json!({"quiet_hours": quiet})).await.status, 200);
    assert_eq!(count(id.clone()).await, 1, "released, to be decided again under the new quiet hours");
    assert_eq!(count(other.clone()).await, 0, "another user's stay held");

    let (_, staff) = app.staff_user().await;
    assert_eq!(app.authed(Method::DELETE, &path_with(Op::EraseUser, &[&other]), &staff, None).await.status, 200);
    let left: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM held_messages WHERE user_id = $1::text::uuid", &[&other])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "erasing the account removed its held messages");
}

#[tokio::test]
async fn the_fan_out_lookup_carries_the_whole_preferences() {
    let app = spawn_with(Spawn::default().variable("service_keys", KEY)).await;
    let (id, token) = app.plain_user().await;
    let quiet = json!({"start": "21:30", "end": "06:15", "timezone": "Asia/Kolkata"});
    let body = json!({"categories": {"marketing": {"email": false}}, "quiet_hours": quiet, "locale": "hi-IN"});
    assert_eq!(patch(&app, &token, body).await.status, 200);
    let answer = app
        .send(
            app.client.post(app.url(path_of(Op::LookupUsers))).header("x-service-key", KEY).json(&json!({"ids": [id]})),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let preferences = answer.json()["data"]["users"][0]["preferences"].clone();
    assert_eq!(preferences["categories"]["marketing"], json!({"email": false, "push": true}));
    assert_eq!(preferences["categories"].as_object().unwrap().len(), 5);
    assert_eq!((&preferences["quiet_hours"], &preferences["locale"]), (&quiet, &json!("hi-IN")));
}
