//! Passkeys (issue 21), driven by a software authenticator
//! (`api_tests::authenticator`) through the real components: registration
//! with the password, usernameless and email sign-in, each way an
//! assertion is refused (replay, another origin or RP ID, an expired
//! challenge, a bad signature, a counter that goes backwards, another
//! account's passkey), options that do not reveal accounts, management
//! (with the owner's security emails),
//! deactivation, erasure and the user verification policy.

use api_tests::authenticator::Authenticator;
use api_tests::{Answer, Op, Spawn, TestApp, claims_of, path_of, path_with, spawn_app, spawn_with};
use reqwest::Method;
use serde_json::{Value, json};

const ORIGIN: &str = "http://localhost:3000";

/// A registered user with a passkey: (email, password, access token, authenticator).
async fn with_passkey(app: &TestApp) -> (String, String, String, Authenticator) {
    let (email, password, registered) = app.registered_user().await;
    let token = registered["data"]["access_token"].as_str().unwrap().to_owned();
    let mut authenticator = Authenticator::new(ORIGIN);
    let added = app.register_passkey(&token, &password, &mut authenticator).await;
    assert_eq!(added.status, 201, "{}", added.text);
    (email, password, token, authenticator)
}

fn refused(answer: &Answer) {
    assert_eq!((answer.status, answer.json()["code"].as_str()), (401, Some("invalid_credentials")), "{}", answer.text);
}

async fn failure_reasons(app: &TestApp) -> Vec<String> {
    app.db()
        .await
        .query(
            "SELECT details->>'reason' FROM audit_events WHERE action = 'auth.login_failed' \
             AND details->>'method' = 'passkey' ORDER BY occurred_at, id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn a_passkey_registered_through_the_api_signs_in_without_a_password() {
    let app = spawn_app().await;
    let (email, password, registered) = app.registered_user().await;
    let token = registered["data"]["access_token"].as_str().unwrap().to_owned();

    let wrong = app.post_authed(path_of(Op::PasskeyRegisterOptions), &token, &json!({"password": "not it"})).await;
    assert_eq!(wrong.status, 400, "the current password is required: {}", wrong.text);
    let options = app.post_authed(path_of(Op::PasskeyRegisterOptions), &token, &json!({"password": password})).await;
    let public_key = &options.json()["data"]["publicKey"];
    assert_eq!(public_key["rp"]["id"], "localhost");
    assert_eq!(public_key["user"]["name"], email.as_str());
    assert_eq!(public_key["attestation"], "none");
    assert_eq!(public_key["authenticatorSelection"]["residentKey"], "required");
    let algorithms: Vec<i64> =
        public_key["pubKeyCredParams"].as_array().unwrap().iter().map(|p| p["alg"].as_i64().unwrap()).collect();
    assert_eq!(algorithms, [-7, -8]);

    let mut authenticator = Authenticator::new(ORIGIN);
    let added = app.register_passkey(&token, &password, &mut authenticator).await;
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(added.json()["data"]["name"], "Test key");
    let told = app.last_event("passkey_added").await.expect("the owner is told by email");
    assert_eq!((&told["variables"]["email"], &told["variables"]["passkey"]), (&json!(email), &json!("Test key")));
    let again = app.register_passkey(&token, &password, &mut authenticator).await;
    assert_eq!(again.status, 409, "the same credential twice: {}", again.text);

    // Usernameless: the options name no credential.
    let options = app.passkey_options(None).await;
    assert_eq!(options["publicKey"]["allowCredentials"], json!([]));
    assert_eq!(options["publicKey"]["rpId"], "localhost");
    let credential = authenticator.get(&options["publicKey"]);
    let body = json!({"challenge_id": options["challenge_id"], "credential": credential});
    let signed_in = app.post_json(path_of(Op::PasskeyLogin), &body).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);
    let data = signed_in.json()["data"].clone();
    assert_eq!(data["user"]["email"], email.as_str());
    assert_eq!(claims_of(data["access_token"].as_str().unwrap())["amr"], json!(["hwk", "user"]));
    // The same assertion again: its challenge was spent.
    refused(&app.post_json(path_of(Op::PasskeyLogin), &body).await);

    let listed = app.authed(Method::GET, path_of(Op::ListPasskeys), &token, None).await.json();
    let passkey = &listed["data"][0];
    assert_eq!((passkey["name"].as_str(), passkey["backed_up"].as_bool()), (Some("Test key"), Some(true)));
    assert!(passkey["last_used_at"].is_string(), "{passkey}");
    let db = app.db().await;
    let actions: Vec<String> = db
        .query("SELECT action FROM audit_events WHERE action LIKE 'auth.passkey%' OR action = 'auth.login'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(actions.contains(&"auth.passkey_registered".to_owned()) && actions.contains(&"auth.login".to_owned()));
    assert_eq!(failure_reasons(&app).await, ["no_challenge"]);
}

#[tokio::test]
async fn assertions_from_elsewhere_or_out_of_time_are_refused_and_audited() {
    let app = spawn_app().await;
    let (email, _, _, mut authenticator) = with_passkey(&app).await;

    authenticator.origin = "https://evil.example".into();
    refused(&app.passkey_login(None, &mut authenticator).await);
    authenticator.origin = ORIGIN.into();
    authenticator.rp_id = Some("evil.example".into());
    refused(&app.passkey_login(None, &mut authenticator).await);
    authenticator.rp_id = None;

    // An expired challenge.
    let options = app.passkey_options(Some(&email)).await;
    app.db()
        .await
        .execute("UPDATE passkey_challenges SET expires_at = now() - interval '1 second'", &[])
        .await
        .unwrap();
    let credential = authenticator.get(&options["publicKey"]);
    refused(
        &app.post_json(
            path_of(Op::PasskeyLogin),
            &json!({"challenge_id": options["challenge_id"], "credential": credential}),
        )
        .await,
    );

    // A signature over something else.
    let options = app.passkey_options(None).await;
    let mut credential = authenticator.get(&options["publicKey"]);
    let other = authenticator.get(&app.passkey_options(None).await["publicKey"]);
    credential["response"]["signature"] = other["response"]["signature"].clone();
    refused(
        &app.post_json(
            path_of(Op::PasskeyLogin),
            &json!({"challenge_id": options["challenge_id"], "credential": credential}),
        )
        .await,
    );

    // The counter goes backwards: a cloned authenticator.
    assert_eq!(app.passkey_login(None, &mut authenticator).await.status, 200);
    authenticator.counter = Some(2);
    refused(&app.passkey_login(None, &mut authenticator).await);

    assert_eq!(
        failure_reasons(&app).await,
        ["wrong_origin", "wrong_rp_id", "no_challenge", "bad_signature", "counter_regressed"]
    );
}

#[tokio::test]
async fn options_for_an_email_do_not_reveal_whether_it_has_an_account() {
    let app = spawn_app().await;
    let (email, _, _, mut authenticator) = with_passkey(&app).await;
    let (without_passkey, _, _) = app.registered_user().await;
    let nobody = api_tests::unique_email("nobody");

    let listed = app.passkey_options(Some(&email)).await["publicKey"]["allowCredentials"].clone();
    assert_eq!(listed, json!([{"type": "public-key", "id": authenticator.id(), "transports": ["internal", "hybrid"]}]));
    let shape = |options: Value| {
        let allowed = options["publicKey"]["allowCredentials"].as_array().unwrap().clone();
        assert!((1..=2).contains(&allowed.len()), "{allowed:?}");
        allowed.iter().map(|a| a["id"].as_str().unwrap().len()).collect::<Vec<_>>()
    };
    let unknown = app.passkey_options(Some(&nobody)).await;
    let again = app.passkey_options(Some(&nobody)).await;
    assert_eq!(unknown["publicKey"]["allowCredentials"], again["publicKey"]["allowCredentials"], "stable per email");
    assert_ne!(unknown["publicKey"]["challenge"], again["publicKey"]["challenge"]);
    assert!(shape(unknown).iter().all(|len| *len == 43));
    assert!(shape(app.passkey_options(Some(&without_passkey)).await).iter().all(|len| *len == 43));

    // Options asked for one email take no other account's passkey.
    let (_, _, _, mut other) = with_passkey(&app).await;
    refused(&app.passkey_login(Some(&email), &mut other).await);
    refused(&app.passkey_login(Some(&nobody), &mut authenticator).await);
    assert_eq!(app.passkey_login(Some(&email), &mut authenticator).await.status, 200);
    assert_eq!(failure_reasons(&app).await, ["not_allowed", "not_allowed"]);
}

#[tokio::test]
async fn passkeys_are_listed_removed_with_the_password_and_go_with_the_account() {
    let app = spawn_app().await;
    let (email, password, token, mut authenticator) = with_passkey(&app).await;
    let listed = app.authed(Method::GET, path_of(Op::ListPasskeys), &token, None).await.json();
    let id = listed["data"][0]["id"].as_str().unwrap().to_owned();
    let path = path_with(Op::RemovePasskey, &[&id]);

    let wrong = app.authed(Method::DELETE, &path, &token, Some(&json!({"password": "not it"}))).await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    let (_, _, others) = app.registered_user().await;
    let foreign = others["data"]["access_token"].as_str().unwrap();
    let not_theirs = app.authed(Method::DELETE, &path, foreign, Some(&json!({"password": "Vq8#mLp2!zr-long"}))).await;
    assert_eq!(not_theirs.status, 404, "another account's passkey: {}", not_theirs.text);
    let removed = app.authed(Method::DELETE, &path, &token, Some(&json!({"password": password}))).await;
    assert_eq!((removed.status, removed.json()["data"]["removed"].as_bool()), (200, Some(true)), "{}", removed.text);
    refused(&app.passkey_login(None, &mut authenticator).await);
    let told = app.last_event("passkey_removed").await.expect("the owner is told by email");
    assert_eq!((&told["variables"]["email"], &told["variables"]["passkey"]), (&json!(email), &json!("Test key")));
    let db = app.db().await;
    let announced = "SELECT count(*) FROM outbox WHERE payload->>'template_code' = 'passkey_removed'";
    let removals: i64 = db.query_one(announced, &[]).await.unwrap().get(0);
    assert_eq!(removals, 1, "only the removal that happened is announced");

    // Deactivated: the passkey still proves who it is, and gets 403.
    let mut second = Authenticator::new(ORIGIN);
    assert_eq!(app.register_passkey(&token, &password, &mut second).await.status, 201);
    db.execute("UPDATE users SET is_active = false WHERE email = $1", &[&email]).await.unwrap();
    assert_eq!(app.passkey_login(None, &mut second).await.status, 403);
    let (_, staff) = app.staff_user().await;
    let user_id: uuid::Uuid = db.query_one("SELECT id FROM users WHERE email = $1", &[&email]).await.unwrap().get(0);
    let erased = app.authed(Method::DELETE, &path_with(Op::EraseUser, &[&user_id]), &staff, None).await;
    assert_eq!(erased.status, 200, "{}", erased.text);
    let left: i64 = db.query_one("SELECT count(*) FROM passkeys", &[]).await.unwrap().get(0);
    assert_eq!(left, 0, "erasing the account erases its passkeys");
}

#[tokio::test]
async fn required_user_verification_refuses_a_passkey_without_it_and_bad_bodies_are_400() {
    let app = spawn_with(Spawn::default().variable("webauthn_user_verification", "required")).await;
    let (_, password, registered) = app.registered_user().await;
    let token = registered["data"]["access_token"].as_str().unwrap().to_owned();
    let mut authenticator = Authenticator::new(ORIGIN);
    authenticator.user_verified = false;
    let added = app.register_passkey(&token, &password, &mut authenticator).await;
    assert_eq!(added.status, 400, "{}", added.text);
    assert!(added.text.contains("no_user_verification"), "{}", added.text);

    for body in [
        json!({}),
        json!({"challenge_id": "x", "credential": {}}),
        json!({"challenge_id": uuid::Uuid::new_v4(), "credential": "a\u{0}b"}),
        json!([1, 2]),
    ] {
        let answer = app.post_json(path_of(Op::PasskeyLogin), &body).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.text);
    }
    let nul_name = json!({"challenge_id": uuid::Uuid::new_v4(), "credential": authenticator.get(&json!({"challenge": "AA", "rpId": "localhost"})), "name": "a\u{0}b"});
    let answer = app.post_authed(path_of(Op::RegisterPasskey), &token, &nul_name).await;
    assert_eq!(answer.status, 400, "{}", answer.text);
}
