//! Token introspection for gateways (RFC 7662; issue 16, item 2): a gateway
//! that verifies access tokens by the JWKS cannot see that a session ended;
//! one that asks `POST /api/v1/auth/introspect/` can.

use api_tests::{JWT_SECRET, Op, Spawn, TestApp, claims_of, path_of, spawn_with};
use serde_json::{Value, json};
use user_domain::tokens::now_secs;

const KEY: &str = "introspection-test-service-key";

async fn app() -> TestApp {
    spawn_with(Spawn::default().variable("service_keys", KEY)).await
}

async fn introspect_json(app: &TestApp, body: &Value) -> api_tests::Answer {
    let request = app.client.post(app.url(path_of(Op::Introspect))).header("x-service-key", KEY).json(body);
    app.send(request).await
}

async fn introspect_form(app: &TestApp, form: &str) -> api_tests::Answer {
    let request = app
        .client
        .post(app.url(path_of(Op::Introspect)))
        .header("x-service-key", KEY)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned());
    app.send(request).await
}

fn form_escape(token: &str) -> String {
    token
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn an_access_token_is_active_until_its_session_ends() {
    let app = app().await;
    let (_, _, registered) = app.registered_user().await;
    let token = registered["data"]["access_token"].as_str().unwrap().to_owned();
    let claims = claims_of(&token);

    for answer in [
        introspect_json(&app, &json!({"token": token})).await,
        introspect_form(&app, &format!("token={}&token_type_hint=access_token", form_escape(&token))).await,
    ] {
        assert_eq!(answer.status, 200, "{}", answer.text);
        let body = answer.json();
        assert!(body.get("success").is_none(), "RFC 7662's object, not the envelope: {body}");
        assert_eq!(body["active"], true);
        assert_eq!(body["token_type"], "access_token");
        for claim in ["sub", "sid", "exp", "iat", "nbf", "iss", "aud", "jti"] {
            assert_eq!(body[claim], claims[claim], "{claim}");
        }
        assert_eq!(body["amr"], json!(["pwd"]));
        assert_eq!(body["is_staff"], false);
        assert_eq!(answer.header("cache-control"), Some("no-store"));
    }

    // A refresh token is introspected too, whatever the hint says.
    let refresh = registered["data"]["refresh_token"].as_str().unwrap().to_owned();
    let answer = introspect_json(&app, &json!({"token": refresh, "token_type_hint": "access_token"})).await.json();
    assert_eq!((answer["active"].clone(), answer["token_type"].clone()), (json!(true), json!("refresh_token")));
    assert_eq!(answer["sid"], claims["sid"]);

    let logout = json!({"refresh_token": refresh});
    assert_eq!(app.post_json(path_of(Op::Logout), &logout).await.status, 200);
    for token in [&token, &refresh] {
        let answer = introspect_json(&app, &json!({"token": token})).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.json(), json!({"active": false}), "nothing said of an ended session's token");
    }
}

#[tokio::test]
async fn unknown_malformed_expired_and_forged_tokens_are_inactive() {
    let app = app().await;
    let (id, token) = app.plain_user().await;
    let sid = claims_of(&token)["sid"].clone();
    let now = now_secs();
    let expired_claims = json!({
        "sub": id, "exp": now - 60, "iat": now - 1000, "nbf": now - 1000, "iss": "user-service",
        "aud": "notification-platform", "jti": "old", "type": "access", "is_staff": false, "sid": sid,
    });
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let expired =
        jsonwebtoken::encode(&header, &expired_claims, &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()))
            .unwrap();
    let mut valid_claims = expired_claims.clone();
    valid_claims["exp"] = json!(now + 600);
    let forged = jsonwebtoken::encode(
        &header,
        &valid_claims,
        &jsonwebtoken::EncodingKey::from_secret(b"another-secret-that-is-long-enough-too"),
    )
    .unwrap();
    for token in ["", "garbage", "a.b.c", expired.as_str(), forged.as_str(), "\u{1F600}"] {
        let answer = introspect_json(&app, &json!({"token": token})).await;
        assert_eq!(answer.status, 200, "{token}: {}", answer.text);
        assert_eq!(answer.json(), json!({"active": false}), "{token}");
    }
}

#[tokio::test]
async fn only_services_introspect_and_the_token_is_required() {
    let app = app().await;
    let (_, token) = app.plain_user().await;
    let url = app.url(path_of(Op::Introspect));
    let none = app.send(app.client.post(&url).json(&json!({"token": token}))).await;
    assert_eq!(none.status, 401, "{}", none.text);
    let wrong = app.send(app.client.post(&url).header("x-service-key", "nope").json(&json!({"token": token}))).await;
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    let bearer = app.send(app.client.post(&url).bearer_auth(&token).json(&json!({"token": token}))).await;
    assert_eq!(bearer.status, 401, "a user's token is no service key: {}", bearer.text);
    let missing = introspect_json(&app, &json!({})).await;
    assert_eq!(missing.status, 400, "{}", missing.text);
    assert!(missing.json()["details"]["token"].is_array());
    let twice = introspect_form(&app, "token=a&token=b").await;
    assert_eq!(twice.status, 400, "a parameter must not repeat: {}", twice.text);
    assert!(twice.json()["details"]["token"].is_array());
    let (_, _, registered) = app.registered_user().await;
    let live = registered["data"]["access_token"].as_str().unwrap();
    let extras = introspect_form(&app, &format!("x=1&x=2&token={}", form_escape(live))).await;
    assert_eq!(extras.json()["active"], true, "unknown fields are ignored, repeated or not: {}", extras.text);
    let nul = introspect_form(&app, "token=a%00b").await;
    assert_eq!(nul.status, 400, "{}", nul.text);
    let text = app
        .send(app.client.post(&url).header("x-service-key", KEY).header("content-type", "text/plain").body("token=a"))
        .await;
    assert_eq!(text.status, 415, "{}", text.text);
    assert_eq!(app.send(app.client.get(&url)).await.status, 405);
}

#[tokio::test]
async fn an_introspection_is_never_replayed() {
    let app = app().await;
    let (_, _, registered) = app.registered_user().await;
    let token = registered["data"]["access_token"].as_str().unwrap().to_owned();
    let request = || {
        app.client
            .post(app.url(path_of(Op::Introspect)))
            .header("x-service-key", KEY)
            .header("x-request-id", "same-key")
            .json(&json!({"token": token}))
    };
    assert_eq!(app.send(request()).await.json()["active"], true);
    let logout = json!({"refresh_token": registered["data"]["refresh_token"]});
    assert_eq!(app.post_json(path_of(Op::Logout), &logout).await.status, 200);
    let again = app.send(request()).await;
    assert!(again.header("idempotent-replayed").is_none());
    assert_eq!(again.json(), json!({"active": false}), "the answer is about now");
}
