use api_tests::{JWT_SECRET, Op, path_of, spawn_app};
use serde_json::json;
use user_domain::tokens::TokenConfig;

fn new_email() -> String {
    format!("ada-{}@Example.com", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn register_creates_the_user_and_returns_a_session() {
    let app = spawn_app().await;
    let email = new_email();
    let answer = app
        .register(&json!({
            "name": "  Ada Lovelace ", "email": email, "password": "Analytical#Engine1843",
            "push_token": "fcm:abc", "preferences": {"email": false}, "unknown_field": 1
        }))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["success"], true);
    assert_eq!(body["error"], serde_json::Value::Null);
    let data = &body["data"];
    assert_eq!(data["token_type"], "Bearer");
    assert_eq!(data["expires_in"], 900);
    let user = &data["user"];
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["email"], email.to_lowercase());
    assert_eq!(user["push_token"], "fcm:abc");
    assert_eq!(user["preferences"], json!({"email": false, "push": true}));
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["is_active"], true);
    assert_eq!(user["is_staff"], false);
    assert_eq!(user["last_login"], serde_json::Value::Null);
    assert!(!answer.text.contains("argon2"), "no hash may leave the service: {}", answer.text);
    assert!(user.get("password").is_none());

    // The access token is a valid JWT for this user.
    let config = TokenConfig::new(JWT_SECRET, "user-service", "notification-platform", 900, 60).unwrap();
    let claims = config.validate_access(data["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(claims.sub, user["id"].as_str().unwrap());
    assert!(!claims.is_staff);

    // Stored: an Argon2id hash, the preferences, a hashed refresh token, and an email event.
    let db = app.db().await;
    let row = db
        .query_one(
            "SELECT u.password, p.email, p.push FROM users u JOIN user_preferences p ON p.id = u.preferences_id WHERE u.email = $1",
            &[&email.to_lowercase()],
        )
        .await
        .unwrap();
    assert!(row.get::<_, String>(0).starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert_eq!((row.get::<_, bool>(1), row.get::<_, bool>(2)), (false, true));
    let refresh = data["refresh_token"].as_str().unwrap();
    let stored: i64 = db
        .query_one(
            "SELECT count(*) FROM refresh_tokens WHERE token_hash = $1",
            &[&user_domain::secrets::digest(refresh)],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 1);
    let event =
        db.query_one("SELECT routing_key, payload FROM outbox WHERE routing_key <> 'audit.events'", &[]).await.unwrap();
    assert_eq!(event.get::<_, String>(0), "email.queue");
    let payload: serde_json::Value = event.get(1);
    assert_eq!(payload["notification_type"], "email");
    assert_eq!(payload["template_code"], "email_verification");
    assert_eq!(payload["user_id"], user["id"]);
    assert_eq!(payload["variables"]["verification_token"].as_str().unwrap().len(), 43);
}

#[tokio::test]
async fn a_taken_email_is_a_conflict_whatever_its_case() {
    let app = spawn_app().await;
    let email = new_email();
    let first = app.register(&json!({"name": "Ada", "email": email, "password": "Analytical#Engine1843"})).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again =
        app.register(&json!({"name": "Ada", "email": email.to_uppercase(), "password": "Analytical#Engine1843"})).await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.json()["code"], "conflict");
    let db = app.db().await;
    let users: i64 = db.query_one("SELECT count(*) FROM users", &[]).await.unwrap().get(0);
    let prefs: i64 = db.query_one("SELECT count(*) FROM user_preferences", &[]).await.unwrap().get(0);
    assert_eq!((users, prefs), (1, 1), "the failed insert left nothing behind");
}

#[tokio::test]
async fn invalid_fields_are_all_reported_with_details() {
    let app = spawn_app().await;
    let answer = app
        .register(&json!({"name": "", "email": "not-an-email", "password": "12345678", "push_token": "x".repeat(513), "preferences": {"push": "yes"}}))
        .await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["success"], false);
    assert_eq!(body["data"], serde_json::Value::Null);
    assert_eq!(body["code"], "validation_failed");
    let details = &body["details"];
    for field in ["name", "email", "password", "push_token", "preferences.push"] {
        assert!(details[field].is_array(), "{field} missing from {details}");
    }
    assert!(details["password"].as_array().unwrap().iter().any(|p| p == "must not be entirely numeric"));

    let missing = app.register(&json!({})).await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.json()["details"]["email"][0], "is required");

    let similar =
        app.register(&json!({"name": "Grace Hopper", "email": new_email(), "password": "GraceHopper1"})).await;
    assert_eq!(similar.status, 400);
    assert!(similar.json()["details"]["password"].to_string().contains("too similar"));
}

#[tokio::test]
async fn malformed_bodies_get_400_413_and_415() {
    let app = spawn_app().await;
    let malformed = app
        .send(
            app.client
                .post(app.url(path_of(Op::Register)))
                .header("content-type", "application/json")
                .body("{\"name\":"),
        )
        .await;
    assert_eq!(malformed.status, 400, "{}", malformed.text);
    assert_eq!(malformed.json()["code"], "malformed_json");

    let not_json =
        app.send(app.client.post(app.url(path_of(Op::Register))).header("content-type", "text/plain").body("hi")).await;
    assert_eq!(not_json.status, 415, "{}", not_json.text);

    let huge = app
        .send(
            app.client
                .post(app.url(path_of(Op::Register)))
                .header("content-type", "application/json")
                .body(vec![b' '; 70 * 1024]),
        )
        .await;
    assert_eq!(huge.status, 413, "{}", huge.text);
    assert_eq!(huge.json()["code"], "payload_too_large");

    let array = app.post_json(path_of(Op::Register), &json!([1, 2])).await;
    assert_eq!(array.status, 400);
}

#[tokio::test]
async fn a_repeated_request_id_replays_and_a_reused_one_is_refused() {
    let app = spawn_app().await;
    let body = json!({"name": "Ada", "email": new_email(), "password": "Analytical#Engine1843"});
    let key = uuid::Uuid::new_v4().to_string();
    let send = |body: serde_json::Value| {
        app.client.post(app.url(path_of(Op::Register))).header("x-request-id", key.clone()).json(&body)
    };
    let first = app.send(send(body.clone())).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.header("idempotent-replayed"), None);
    let replay = app.send(send(body.clone())).await;
    assert_eq!(replay.status, 201, "{}", replay.text);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.json()["data"], first.json()["data"], "the first answer again");
    let users: i64 = app.db().await.query_one("SELECT count(*) FROM users", &[]).await.unwrap().get(0);
    assert_eq!(users, 1, "done once");

    let mut other = body.clone();
    other["name"] = json!("Someone Else");
    let reused = app.send(send(other)).await;
    assert_eq!(reused.status, 422, "{}", reused.text);
    assert_eq!(reused.json()["code"], "idempotency_key_reused");
}

#[tokio::test]
async fn a_key_whose_first_request_still_runs_is_409() {
    let app = spawn_app().await;
    let key = uuid::Uuid::new_v4().to_string();
    let body = json!({"name": "Ada", "email": new_email(), "password": "Analytical#Engine1843"});
    // Simulate a first request in flight: the key is claimed but unanswered.
    let request = app.client.post(app.url(path_of(Op::Register))).header("x-request-id", key.clone()).json(&body);
    let built = request.try_clone().unwrap().build().unwrap();
    let bytes = built.body().unwrap().as_bytes().unwrap().to_vec();
    let material = user_domain::idempotency::request_material("POST", path_of(Op::Register), None, &bytes);
    let hash = user_domain::idempotency::request_hash(api_tests::JWT_SECRET.as_bytes(), &material);
    let stored_key = user_domain::idempotency::scoped_key("POST /api/v1/users/", None, &key);
    app.db()
        .await
        .execute(
            "INSERT INTO idempotency_keys (request_id, endpoint, request_hash, expires_at) VALUES ($1, 'x', $2, now() + interval '1 day')",
            &[&stored_key, &hash],
        )
        .await
        .unwrap();
    let answer = app.send(request).await;
    assert_eq!(answer.status, 409, "{}", answer.text);
    assert_eq!(answer.json()["code"], "request_in_progress");
}

#[tokio::test]
async fn registration_is_rate_limited_per_address() {
    let app = api_tests::spawn_with(api_tests::Spawn::default().variable("rate_limit_register_per_minute", "2")).await;
    api_tests::avoid_window_edge(60).await;
    for _ in 0..2 {
        let ok = app.register(&json!({"name": "Ada", "email": new_email(), "password": "Analytical#Engine1843"})).await;
        assert_eq!(ok.status, 201, "{}", ok.text);
    }
    let limited =
        app.register(&json!({"name": "Ada", "email": new_email(), "password": "Analytical#Engine1843"})).await;
    assert_eq!(limited.status, 429, "{}", limited.text);
    assert_eq!(limited.json()["code"], "rate_limited");
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
}
