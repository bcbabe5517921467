//! Two-factor sign-in: enrolment, sign-in with a code the test computes from
//! the secret (as an authenticator app would), replay refusal, recovery
//! codes, lockout through wrong codes, turning it off, the staff policy.

use api_tests::{
    Answer, JWT_SECRET, Op, Spawn, TestApp, avoid_window_edge, claims_of, path_of, path_with, spawn_app, spawn_with,
};
use reqwest::Method;
use serde_json::json;
use user_domain::sealed::{Keyring, Purpose};
use user_domain::tokens::TokenConfig;
use user_domain::totp::{PERIOD_SECS, Secret, base32_decode};

const MFA_KEY: &str = "an-mfa-sealing-key-for-the-tests-only!";

async fn app_with_mfa(spawn: Spawn) -> TestApp {
    spawn_with(spawn.variable("mfa_key", MFA_KEY)).await
}

fn step_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / PERIOD_SECS
}

/// What an authenticator app holding `secret` shows at `step`.
fn code(secret: &str, step: u64) -> String {
    Secret::from_bytes(base32_decode(secret).unwrap()).code_at_step(step)
}

struct Enrolled {
    email: String,
    password: String,
    token: String,
    /// The refresh token of the session registration started.
    refresh: String,
    secret: String,
    recovery_codes: Vec<String>,
    /// The step whose code confirmed the factor (spent).
    confirmed_step: u64,
}

async fn enrolled_user(app: &TestApp) -> Enrolled {
    let (email, password, registered) = app.registered_user().await;
    let token = registered["data"]["access_token"].as_str().unwrap().to_owned();
    let refresh = registered["data"]["refresh_token"].as_str().unwrap().to_owned();
    let started = app.post_authed(path_of(Op::StartMfa), &token, &json!({"password": password})).await;
    assert_eq!(started.status, 200, "{}", started.text);
    let data = started.json()["data"].clone();
    let secret = data["secret"].as_str().unwrap().to_owned();
    assert!(data["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/"));
    let step = step_now();
    let confirmed = app.post_authed(path_of(Op::ConfirmMfa), &token, &json!({"code": code(&secret, step)})).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    let recovery_codes: Vec<String> = confirmed.json()["data"]["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    Enrolled { email, password, token, refresh, secret, recovery_codes, confirmed_step: step }
}

async fn challenge(app: &TestApp, user: &Enrolled) -> String {
    let login = app.login(&user.email, &user.password).await;
    assert_eq!(login.status, 200, "{}", login.text);
    let data = login.json()["data"].clone();
    assert_eq!(data["mfa_required"], true, "{data}");
    assert!(data.get("access_token").is_none() && data.get("refresh_token").is_none(), "no session yet: {data}");
    data["challenge_token"].as_str().unwrap().to_owned()
}

async fn second_step(app: &TestApp, challenge: &str, code: &str) -> Answer {
    app.post_json(path_of(Op::LoginMfa), &json!({"challenge_token": challenge, "code": code})).await
}

#[tokio::test]
async fn sign_in_takes_a_current_code_once() {
    let app = app_with_mfa(Spawn::default()).await;
    let user = enrolled_user(&app).await;

    // The secret is not in the database in clear, in any encoding.
    let sealed: String = app.db().await.query_one("SELECT secret_sealed FROM mfa_totp", &[]).await.unwrap().get(0);
    let raw = base32_decode(&user.secret).unwrap();
    assert!(!sealed.contains(&user.secret) && !sealed.contains(&hex_of(&raw)));

    // The confirming code's step is spent: the same code cannot sign in.
    let first = challenge(&app, &user).await;
    let replay = second_step(&app, &first, &code(&user.secret, user.confirmed_step)).await;
    assert_eq!(replay.status, 401, "{}", replay.text);

    // The next step's code (accepted one step early) signs in, once.
    let next = code(&user.secret, user.confirmed_step + 1);
    let signed_in = second_step(&app, &first, &next).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);
    let data = signed_in.json()["data"].clone();
    assert!(data["access_token"].is_string() && data["refresh_token"].is_string());
    assert_eq!(second_step(&app, &first, &next).await.status, 401, "a challenge is single use");
    let again = challenge(&app, &user).await;
    assert_eq!(second_step(&app, &again, &next).await.status, 401, "a code is never accepted twice");
    assert_eq!(second_step(&app, "not-a-challenge", &next).await.status, 401);
}

/// An emailed code is a first step like the password: the account's second
/// factor still stands, and the session is signed in with both.
#[tokio::test]
async fn an_emailed_code_needs_the_second_factor_and_the_session_has_both() {
    let app = app_with_mfa(Spawn::default()).await;
    let user = enrolled_user(&app).await;
    app.post_json(path_of(Op::RequestEmailCode), &json!({"email": user.email})).await;
    let emailed = app.last_event("email_code").await.unwrap()["variables"]["code"].as_str().unwrap().to_owned();
    let first = app.post_json(path_of(Op::VerifyEmailCode), &json!({"email": user.email, "code": emailed})).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let data = first.json()["data"].clone();
    assert_eq!(data["mfa_required"], true, "{data}");
    assert!(data.get("access_token").is_none(), "no session before the second factor: {data}");
    let challenge = data["challenge_token"].as_str().unwrap();
    let signed_in = second_step(&app, challenge, &code(&user.secret, user.confirmed_step + 1)).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);
    let token = signed_in.json()["data"]["access_token"].as_str().unwrap().to_owned();
    // Both steps; a password-and-code session says ["pwd", "otp"] (below).
    assert_eq!(claims_of(&token)["amr"], json!(["otp", "email"]));
}

/// A passkey without user verification is one factor: the account's TOTP
/// still stands (`["otp", "hwk"]`); with it, the passkey is both (`["hwk", "user"]`).
#[tokio::test]
async fn a_passkey_without_user_verification_needs_the_second_factor() {
    let app = app_with_mfa(Spawn::default()).await;
    let user = enrolled_user(&app).await;
    let mut authenticator = api_tests::authenticator::Authenticator::new("http://localhost:3000");
    authenticator.user_verified = false;
    let added = app.register_passkey(&user.token, &user.password, &mut authenticator).await;
    assert_eq!(added.status, 201, "{}", added.text);
    let first = app.passkey_login(None, &mut authenticator).await;
    let data = first.json()["data"].clone();
    assert_eq!(data["mfa_required"], true, "{}", first.text);
    let challenge = data["challenge_token"].as_str().unwrap();
    let signed_in = second_step(&app, challenge, &code(&user.secret, user.confirmed_step + 1)).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);
    assert_eq!(claims_of(signed_in.json()["data"]["access_token"].as_str().unwrap())["amr"], json!(["otp", "hwk"]));

    authenticator.user_verified = true;
    let verified = app.passkey_login(None, &mut authenticator).await;
    assert_eq!(verified.status, 200, "{}", verified.text);
    assert_eq!(claims_of(verified.json()["data"]["access_token"].as_str().unwrap())["amr"], json!(["hwk", "user"]));
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_recovery_code_signs_in_once_and_is_announced() {
    let app = app_with_mfa(Spawn::default()).await;
    let user = enrolled_user(&app).await;
    assert_eq!(user.recovery_codes.len(), 10);
    let stored: i64 = app.db().await.query_one("SELECT count(*) FROM mfa_recovery_codes", &[]).await.unwrap().get(0);
    assert_eq!(stored, 10);
    let code_text = user.recovery_codes[3].clone();
    let in_clear: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM mfa_recovery_codes WHERE code_hash LIKE '%' || $1 || '%'", &[&code_text])
        .await
        .unwrap()
        .get(0);
    assert_eq!(in_clear, 0, "only digests are kept");

    let first = challenge(&app, &user).await;
    let answer = second_step(&app, &first, &code_text.to_uppercase()).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let event = app.last_event("mfa_recovery_code_used").await.expect("the use is announced by email");
    assert_eq!(event["variables"]["email"], user.email.as_str());
    let again = challenge(&app, &user).await;
    assert_eq!(second_step(&app, &again, &code_text).await.status, 401, "single use");
}

#[tokio::test]
async fn wrong_codes_count_against_the_account() {
    let app = app_with_mfa(Spawn::default().variable("rate_limit_login_failures", "3")).await;
    avoid_window_edge(300).await;
    let user = enrolled_user(&app).await;
    let first = challenge(&app, &user).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(second_step(&app, &first, "000000").await.status);
    }
    // The password step counted once and was not cleared: 3 failures allowed in all.
    assert_eq!(statuses, [401, 401, 429], "{statuses:?}");
    let right = second_step(&app, &first, &code(&user.secret, user.confirmed_step + 1)).await;
    assert_eq!(right.status, 429, "locked, even with the right code: {}", right.text);
}

#[tokio::test]
async fn turning_it_off_needs_the_password_and_a_code_and_ends_every_session() {
    let app = app_with_mfa(Spawn::default()).await;
    let user = enrolled_user(&app).await;
    let off = |password: &str, code: String| json!({"password": password, "code": code});
    let wrong = app
        .authed(
            Method::DELETE,
            path_of(Op::DisableMfa),
            &user.token,
            Some(&off("wrong-password", code(&user.secret, step_now()))),
        )
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    let stale = app
        .authed(Method::DELETE, path_of(Op::DisableMfa), &user.token, Some(&off(&user.password, "123456".into())))
        .await;
    assert_eq!(stale.status, 401, "{}", stale.text);
    let fresh_step = user.confirmed_step + 1;
    let turned_off = app
        .authed(
            Method::DELETE,
            path_of(Op::DisableMfa),
            &user.token,
            Some(&off(&user.password, code(&user.secret, fresh_step))),
        )
        .await;
    assert_eq!(turned_off.status, 200, "{}", turned_off.text);
    let refreshed = app.post_json(path_of(Op::Refresh), &json!({"refresh_token": user.refresh})).await;
    assert_eq!(refreshed.status, 401, "every session ended");
    crate::revocation::assert_ended(&[&app], &user.token).await;
    let login = app.login(&user.email, &user.password).await;
    assert!(login.json()["data"]["access_token"].is_string(), "a plain sign-in again: {}", login.text);
}

#[tokio::test]
async fn enrolment_needs_the_current_password_and_wrong_ones_count() {
    let app = app_with_mfa(Spawn::default().variable("rate_limit_login_failures", "2")).await;
    avoid_window_edge(300).await;
    let (_, password, registered) = app.registered_user().await;
    let token = registered["data"]["access_token"].as_str().unwrap().to_owned();
    // A stolen access token alone cannot bind the thief's authenticator.
    let none = app.post_authed(path_of(Op::StartMfa), &token, &json!({})).await;
    assert_eq!(none.status, 400, "{}", none.text);
    assert!(none.json()["details"]["password"].is_array(), "{}", none.text);
    let wrong = app.post_authed(path_of(Op::StartMfa), &token, &json!({"password": "not-the-password"})).await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    assert_eq!(wrong.json()["details"]["password"][0], "is incorrect");
    let pending: i64 = app.db().await.query_one("SELECT count(*) FROM mfa_totp", &[]).await.unwrap().get(0);
    assert_eq!(pending, 0, "nothing enrolled");
    // Two wrong passwords spent the allowance: even the right one waits.
    let _ = app.post_authed(path_of(Op::StartMfa), &token, &json!({"password": "still-not-it"})).await;
    let locked = app.post_authed(path_of(Op::StartMfa), &token, &json!({"password": password})).await;
    assert_eq!(locked.status, 429, "{}", locked.text);
}

#[tokio::test]
async fn confirming_a_factor_ends_the_other_sessions() {
    let app = app_with_mfa(Spawn::default()).await;
    let (email, password, registered) = app.registered_user().await;
    let other = registered["data"]["access_token"].as_str().unwrap().to_owned();
    crate::revocation::prime(&app, &other).await;
    let login = app.login(&email, &password).await.json();
    let token = login["data"]["access_token"].as_str().unwrap().to_owned();
    let started = app.post_authed(path_of(Op::StartMfa), &token, &json!({"password": password})).await;
    let secret = started.json()["data"]["secret"].as_str().unwrap().to_owned();
    let confirmed = app.post_authed(path_of(Op::ConfirmMfa), &token, &json!({"code": code(&secret, step_now())})).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    // Whoever held the other session signed in without this factor.
    crate::revocation::assert_ended(&[&app], &other).await;
    let refresh =
        app.post_json(path_of(Op::Refresh), &json!({"refresh_token": registered["data"]["refresh_token"]})).await;
    assert_eq!(refresh.status, 401, "{}", refresh.text);
    crate::revocation::assert_live(&app, &token).await;
}

#[tokio::test]
async fn sessions_carry_how_they_were_signed_in_and_staff_powers_follow_the_session() {
    let app = app_with_mfa(Spawn::default().variable("mfa_required_for_staff", "true")).await;
    let user = enrolled_user(&app).await;
    app.db().await.execute("UPDATE users SET is_staff = true WHERE email = $1", &[&user.email]).await.unwrap();
    let registered_amr = api_tests::claims_of(&user.token)["amr"].clone();
    assert_eq!(registered_amr, json!(["pwd"]));
    // The registration session predates the factor: one factor, no staff powers.
    assert_eq!(app.authed(Method::GET, path_of(Op::ListUsers), &user.token, None).await.status, 403);

    let first = challenge(&app, &user).await;
    let signed_in = second_step(&app, &first, &code(&user.secret, user.confirmed_step + 1)).await;
    let two_factor = signed_in.json()["data"]["access_token"].as_str().unwrap().to_owned();
    assert_eq!(api_tests::claims_of(&two_factor)["amr"], json!(["pwd", "otp"]));
    assert!(staff_claim(&two_factor));
    assert_eq!(app.authed(Method::GET, path_of(Op::ListUsers), &two_factor, None).await.status, 200);
    // The session list says so too, and a refresh keeps it.
    let sessions = app.authed(Method::GET, path_of(Op::ListOwnSessions), &two_factor, None).await.json();
    let current = sessions["data"].as_array().unwrap().iter().find(|s| s["current"] == true).unwrap().clone();
    assert_eq!(current["amr"], json!(["pwd", "otp"]));
    let refreshed =
        app.post_json(path_of(Op::Refresh), &json!({"refresh_token": signed_in.json()["data"]["refresh_token"]})).await;
    let refreshed_token = refreshed.json()["data"]["access_token"].as_str().unwrap().to_owned();
    assert_eq!(api_tests::claims_of(&refreshed_token)["amr"], json!(["pwd", "otp"]));
    assert_eq!(app.authed(Method::GET, path_of(Op::ListUsers), &refreshed_token, None).await.status, 200);
}

#[tokio::test]
async fn staff_reset_a_lost_factor() {
    let app = app_with_mfa(Spawn::default()).await;
    let (staff_id, staff) = app.staff_user().await;
    // Not their own: turning one's own factor off takes the password and a code.
    let own = app.authed(Method::DELETE, &path_with(Op::ResetUserMfa, &[&staff_id]), &staff, None).await;
    assert_eq!(own.status, 400, "{}", own.text);
    let user = enrolled_user(&app).await;
    let id = api_tests::claims_of(&user.token)["sub"].as_str().unwrap().to_owned();
    let path = path_with(Op::ResetUserMfa, &[&id]);
    // Not for the user themselves, nor for anyone else.
    assert_eq!(app.authed(Method::DELETE, &path, &user.token, None).await.status, 403);
    let reset = app.authed(Method::DELETE, &path, &staff, None).await;
    assert_eq!(reset.status, 200, "{}", reset.text);
    assert_eq!(reset.json()["data"]["removed"], true);
    assert_eq!(reset.json()["data"]["sessions_ended"], 1);
    // Whoever holds the lost device may hold a session: every one ended.
    crate::revocation::assert_ended(&[&app], &user.token).await;
    let told = app.last_event("mfa_reset").await.expect("the user is told by email");
    assert_eq!(told["variables"]["email"], user.email.as_str());
    let audited: i64 = app
        .db()
        .await
        .query_one(
            "SELECT count(*) FROM audit_events WHERE action = 'staff.mfa_reset' AND subject_id::text = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 1);
    // The password alone signs in again; the user may enrol anew.
    let login = app.login(&user.email, &user.password).await;
    assert!(login.json()["data"]["access_token"].is_string(), "{}", login.text);
    let again = app.authed(Method::DELETE, &path, &staff, None).await;
    assert_eq!((again.status, again.json()["data"]["removed"].clone()), (200, json!(false)));
    let unknown =
        app.authed(Method::DELETE, &path_with(Op::ResetUserMfa, &[&uuid::Uuid::new_v4()]), &staff, None).await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
}

#[tokio::test]
async fn staff_without_a_second_factor_sign_in_only_to_enrol() {
    let app = app_with_mfa(Spawn::default().variable("mfa_required_for_staff", "true")).await;
    let (email, password, _) = app.registered_user().await;
    app.db().await.execute("UPDATE users SET is_staff = true WHERE email = $1", &[&email]).await.unwrap();
    let login = app.login(&email, &password).await;
    let token = login.json()["data"]["access_token"].as_str().unwrap().to_owned();
    assert!(!staff_claim(&token), "no staff power in the token");
    let refused = app.authed(Method::GET, path_of(Op::ListUsers), &token, None).await;
    assert_eq!(refused.status, 403, "{}", refused.text);

    let started = app.post_authed(path_of(Op::StartMfa), &token, &json!({"password": password})).await;
    let secret = started.json()["data"]["secret"].as_str().unwrap().to_owned();
    let step = step_now();
    let confirmed = app.post_authed(path_of(Op::ConfirmMfa), &token, &json!({"code": code(&secret, step)})).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    // Assurance is the session's: this one was opened with the password
    // alone, and confirming a factor in it does not make it a two-factor one.
    let still = app.authed(Method::GET, path_of(Op::ListUsers), &token, None).await;
    assert_eq!(still.status, 403, "{}", still.text);
    let login = app.login(&email, &password).await;
    let challenge = login.json()["data"]["challenge_token"].as_str().unwrap().to_owned();
    let signed_in = second_step(&app, &challenge, &code(&secret, step + 1)).await;
    assert!(staff_claim(signed_in.json()["data"]["access_token"].as_str().unwrap()));
}

fn staff_claim(token: &str) -> bool {
    let config = TokenConfig::new(JWT_SECRET, "user-service", "notification-platform", 900, 60).unwrap();
    config.validate_access(token).expect("a valid access token").is_staff
}

#[tokio::test]
async fn recovery_codes_can_be_replaced() {
    let app = app_with_mfa(Spawn::default()).await;
    let user = enrolled_user(&app).await;
    let body = json!({"password": user.password, "code": code(&user.secret, user.confirmed_step + 1)});
    let replaced = app.post_authed(path_of(Op::ReplaceRecoveryCodes), &user.token, &body).await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    let fresh = replaced.json()["data"]["recovery_codes"][0].as_str().unwrap().to_owned();
    let old = challenge(&app, &user).await;
    assert_eq!(second_step(&app, &old, &user.recovery_codes[0]).await.status, 401, "old codes are gone");
    let next = challenge(&app, &user).await;
    assert_eq!(second_step(&app, &next, &fresh).await.status, 200);
}

#[tokio::test]
async fn without_an_mfa_key_two_factor_sign_in_is_unavailable() {
    let app = spawn_app().await;
    let (_, token) = app.plain_user().await;
    let answer = app.post_authed(path_of(Op::StartMfa), &token, &json!({"password": "any"})).await;
    assert_eq!(answer.status, 503, "{}", answer.text);
    assert_eq!(answer.json()["code"], "service_unavailable");
}

/// The stored seal of `user`'s factor.
async fn sealed_factor(app: &TestApp, email: &str) -> (uuid::Uuid, String) {
    let row = app
        .db()
        .await
        .query_one(
            "SELECT t.user_id, t.secret_sealed FROM mfa_totp t JOIN users u ON u.id = t.user_id WHERE u.email = $1",
            &[&email],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// Whether `sealed` opens under `key` alone, as `user`'s TOTP secret.
fn opens_under(key: &str, user: uuid::Uuid, sealed: &str) -> bool {
    Keyring::new(key, vec![]).open(Purpose::TotpSecret, user.to_string().as_bytes(), sealed).is_ok()
}

/// `mfa_key` rotated: the old key moves to `mfa_previous_keys`, factors
/// sealed under it keep working and are sealed again under the new key as
/// they are used; `native-worker reseal-mfa` seals the rest, after which the
/// old key can go.
#[tokio::test]
async fn rotating_the_mfa_key_turns_no_factor_off() {
    const NEW_KEY: &str = "the-rotated-mfa-sealing-key-for-tests";
    let before = app_with_mfa(Spawn::default()).await;
    let signs_in = enrolled_user(&before).await;
    let stays_away = enrolled_user(&before).await;
    let (id, sealed_old) = sealed_factor(&before, &signs_in.email).await;
    assert!(opens_under(MFA_KEY, id, &sealed_old));

    let rotated = spawn_with(
        Spawn::default()
            .sharing_database_of(&before)
            .variable("mfa_key", NEW_KEY)
            .variable("mfa_previous_keys", format!("some-other-retired-key-of-32-bytes-or-more, {MFA_KEY}")),
    )
    .await;
    avoid_window_edge(PERIOD_SECS).await;
    let challenge_token = challenge(&rotated, &signs_in).await;
    let signed_in = second_step(&rotated, &challenge_token, &code(&signs_in.secret, step_now() + 1)).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);
    let (_, sealed_now) = sealed_factor(&before, &signs_in.email).await;
    assert!(opens_under(NEW_KEY, id, &sealed_now) && !opens_under(MFA_KEY, id, &sealed_now), "sealed again on use");

    // The rest, by the worker's command: without the old key it can open nothing it must reseal.
    let database: tokio_postgres::Config = before.database_url.parse().unwrap();
    let (away_id, _) = sealed_factor(&before, &stays_away.email).await;
    let new_only = Keyring::from_settings(NEW_KEY, "").unwrap();
    let report = native_worker::reseal::reseal(&database, &new_only).await.unwrap();
    assert_eq!((report.current, report.resealed, report.unopenable), (1, 0, vec![away_id]));
    let with_old = Keyring::from_settings(NEW_KEY, MFA_KEY).unwrap();
    let report = native_worker::reseal::reseal(&database, &with_old).await.unwrap();
    assert_eq!((report.current, report.resealed, report.unopenable.len()), (1, 1, 0));
    let report = native_worker::reseal::reseal(&database, &with_old).await.unwrap();
    assert_eq!((report.current, report.resealed), (2, 0), "a second run has nothing left to do");

    // The old key gone: the user who stayed away signs in.
    let after = spawn_with(Spawn::default().sharing_database_of(&before).variable("mfa_key", NEW_KEY)).await;
    avoid_window_edge(PERIOD_SECS).await;
    let challenge_token = challenge(&after, &stays_away).await;
    let signed_in = second_step(&after, &challenge_token, &code(&stays_away.secret, step_now() + 1)).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);

    // A retired key mistyped (too short to be one) is refused, not skipped.
    let mistyped = spawn_with(
        Spawn::default()
            .sharing_database_of(&before)
            .variable("mfa_key", NEW_KEY)
            .variable("mfa_previous_keys", "typo"),
    )
    .await;
    let refused =
        mistyped.post_authed(path_of(Op::StartMfa), &signs_in.token, &json!({"password": signs_in.password})).await;
    assert_eq!(refused.status, 503, "{}", refused.text);
    assert!(refused.text.contains("mfa_previous_keys"), "{}", refused.text);
}
