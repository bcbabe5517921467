//! Edge-verifiable access tokens: EdDSA with a `kid`, the JWKS that verifies
//! them, a key rotation, the HS256 switch-over, and a gateway in another
//! language (Python, PyJWT) verifying tokens from the JWKS alone.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use api_tests::{JWT_SECRET, Op, Spawn, TestApp, grant_like, path_of, repo_root, spawn_with};
use reqwest::Method;
use serde_json::{Value, json};
use user_domain::tokens::{TokenConfig, now_secs};

fn key(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/fixtures/keys").join(name)).unwrap()
}

/// An app signing with `signing`, also publishing `next` and `retired`.
fn signing(signing: &str, next: &str, retired: &str) -> Spawn {
    Spawn::default()
        .variable("jwt_signing_key", key(signing))
        .variable("jwt_next_public_keys", next.is_empty().then(String::new).unwrap_or_else(|| key(next)))
        .variable("jwt_retired_public_keys", retired.is_empty().then(String::new).unwrap_or_else(|| key(retired)))
}

async fn access_token(app: &TestApp) -> String {
    let (_, token) = app.plain_user().await;
    token
}

fn header_of(token: &str) -> Value {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

#[tokio::test]
async fn tokens_are_eddsa_and_the_jwks_lists_their_keys() {
    let app = spawn_with(signing("first.pem", "second.pub.pem", "")).await;
    for path in [path_of(Op::Jwks), path_of(Op::JwksUnderApi)] {
        let answer = app.get(path).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
        assert_eq!(answer.header("cache-control"), Some("public, max-age=300"));
        let keys = answer.json()["keys"].as_array().unwrap().clone();
        assert_eq!(keys.len(), 2, "the signing key and the next one");
        assert!(keys.iter().all(|k| k["kty"] == "OKP" && k["crv"] == "Ed25519" && k.get("d").is_none()));
    }
    let token = access_token(&app).await;
    let header = header_of(&token);
    assert_eq!(header["alg"], "EdDSA");
    let jwks = app.get(path_of(Op::Jwks)).await.json();
    assert_eq!(header["kid"], jwks["keys"][0]["kid"]);
    assert_eq!(app.authed(Method::GET, path_of(Op::GetProfile), &token, None).await.status, 200);
    assert_eq!(app.send(app.client.post(app.url(path_of(Op::Jwks)))).await.status, 405);
}

#[tokio::test]
async fn hs256_tokens_are_accepted_after_the_switch_only_until_the_configured_time() {
    // The same secret, now signing with Ed25519, HS256 accepted for a while.
    let until = (now_secs() + 600).to_string();
    let lenient = spawn_with(signing("first.pem", "", "").variable("jwt_hs256_accepted_until", until)).await;
    // An HS256 token of a user in this app's own database.
    let (_, token) = lenient.plain_user().await;
    let config = TokenConfig::new(JWT_SECRET, "user-service", "notification-platform", 900, 60).unwrap();
    let legacy = config.issue_access(&grant_like(&token, false), now_secs()).unwrap();
    assert_eq!(lenient.authed(Method::GET, path_of(Op::GetProfile), &legacy, None).await.status, 200);

    let strict =
        spawn_with(signing("first.pem", "", "").variable("jwt_hs256_accepted_until", "2020-01-01T00:00:00Z")).await;
    let (_, token) = strict.plain_user().await;
    let legacy = config.issue_access(&grant_like(&token, false), now_secs()).unwrap();
    let refused = strict.authed(Method::GET, path_of(Op::GetProfile), &legacy, None).await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    assert_eq!(refused.json()["error"], "The access token is not valid");
}

/// A Python with PyJWT and cryptography, in a virtual environment made on
/// first use from PyPI (`target/gateway-venv`).
fn gateway_python() -> PathBuf {
    let venv = repo_root().join("target/gateway-venv");
    let python = venv.join("bin/python");
    let ready = venv.join(".ready");
    if !ready.exists() {
        let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3 runs");
        assert!(made.success(), "python3 -m venv failed");
        let pip = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "pyjwt>=2.8", "cryptography>=42"])
            .status()
            .expect("pip runs");
        assert!(pip.success(), "pip could not install PyJWT and cryptography");
        std::fs::write(&ready, "").unwrap();
    }
    python
}

fn verify_in_python(jwks_url: &str, cases: &Value) -> Value {
    let mut child = Command::new(gateway_python())
        .arg(repo_root().join("tests/gateway/verify_tokens.py"))
        .args([jwks_url, "user-service", "notification-platform"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the gateway example starts");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(cases.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn tampered(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let signature = &mut parts[2];
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    signature.replace_range(0..1, flipped);
    parts.join(".")
}

fn with_kid(token: &str, kid: &str) -> String {
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut header = header_of(token);
    header["kid"] = json!(kid);
    let rest = token.split_once('.').unwrap().1;
    format!("{}.{rest}", engine.encode(serde_json::to_vec(&header).unwrap()))
}

#[tokio::test]
async fn a_gateway_verifies_tokens_from_the_jwks_alone_across_a_rotation() {
    // Before the rotation: the first key signs, the second is announced.
    let before = spawn_with(signing("first.pem", "second.pub.pem", "")).await;
    let old = access_token(&before).await;
    // After: the second key signs, the first is retired but still listed.
    let after = spawn_with(signing("second.pem", "", "first.pub.pem")).await;
    let new = access_token(&after).await;
    // Tokens the gateway must refuse though the service's own key signed them.
    let elsewhere = spawn_with(signing("second.pem", "", "").variable("jwt_audience", "another-platform")).await;
    let wrong_audience = access_token(&elsewhere).await;
    let short = spawn_with(signing("second.pem", "", "").variable("access_token_ttl_secs", "1")).await;
    let expired = access_token(&short).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let cases = json!({
        "old": old,
        "new": new,
        "tampered": tampered(&new),
        "unknown_kid": with_kid(&new, "no-such-key"),
        "wrong_audience": wrong_audience,
        "expired": expired,
    });
    let jwks_url = after.url(path_of(Op::Jwks));
    let verdicts = tokio::task::spawn_blocking(move || verify_in_python(&jwks_url, &cases)).await.unwrap();
    assert_eq!(verdicts["old"], "ok", "{verdicts}");
    assert_eq!(verdicts["new"], "ok", "{verdicts}");
    for refused in ["tampered", "unknown_kid", "wrong_audience", "expired"] {
        assert!(verdicts[refused].as_str().unwrap().starts_with("refused"), "{refused}: {verdicts}");
    }
    assert!(verdicts["wrong_audience"].as_str().unwrap().contains("Audience"), "{verdicts}");
    assert!(verdicts["expired"].as_str().unwrap().contains("Expired"), "{verdicts}");
}

/// `scripts/secrets.sh` (what `scripts/up.sh` runs) makes a new deployment
/// sign EdDSA tokens with a non-empty JWKS, without any step of the
/// operator's, and leaves the keys alone on the next run (issue 16, item 13).
#[tokio::test]
async fn a_new_deployment_signs_eddsa_tokens_out_of_the_box() {
    let dir = std::env::temp_dir().join(format!("secrets-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let env_file = dir.join(".env");
    let run = || {
        let status = Command::new(repo_root().join("scripts/secrets.sh"))
            .arg(&env_file)
            .env_remove("SPIN_VARIABLE_JWT_SECRET")
            .env_remove("SPIN_VARIABLE_MFA_KEY")
            .env_remove("SPIN_VARIABLE_JWT_SIGNING_KEY")
            .stderr(Stdio::null())
            .status()
            .expect("the script runs");
        assert!(status.success());
        std::fs::read_to_string(&env_file).unwrap()
    };
    let first = run();
    assert_eq!(run(), first, "a second run keeps the secrets");
    let variables: Vec<(String, String)> = first
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.trim_start_matches("SPIN_VARIABLE_").to_lowercase(), value.to_owned()))
        .collect();
    let names: Vec<&str> = variables.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["jwt_secret", "mfa_key", "jwt_signing_key"], "no HS256 grace for a new deployment");
    let mut spawn = Spawn::default();
    for (name, value) in &variables {
        spawn = spawn.variable(name, value.clone());
    }
    let app = spawn_with(spawn).await;
    let jwks = app.get(path_of(Op::Jwks)).await.json();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1, "{jwks}");
    let token = access_token(&app).await;
    let header = header_of(&token);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], jwks["keys"][0]["kid"]);
    assert_eq!(app.authed(Method::GET, path_of(Op::GetProfile), &token, None).await.status, 200);
    std::fs::remove_dir_all(&dir).unwrap();
}
