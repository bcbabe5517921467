//! `native-worker reseal-mfa` as an operator runs it: keys from the
//! environment, a report on stdout, exit 1 naming the users whose factor no
//! key given opens.

use user_domain::sealed::{Keyring, Purpose};

use crate::helpers::TestEnv;

const OLD: &str = "the-old-mfa-key-of-at-least-32-bytes";
const NEW: &str = "the-new-mfa-key-of-at-least-32-bytes";

async fn factor(env: &TestEnv, key: &str) -> uuid::Uuid {
    let user = env.insert_user(true, None).await;
    let sealed =
        Keyring::new(key, vec![]).seal(Purpose::TotpSecret, user.to_string().as_bytes(), b"totp secret").unwrap();
    let client = env.pool.get().await.unwrap();
    client.execute("INSERT INTO mfa_totp (user_id, secret_sealed) VALUES ($1, $2)", &[&user, &sealed]).await.unwrap();
    user
}

#[tokio::test]
async fn reseal_mfa_seals_old_factors_under_the_new_key_and_names_what_it_cannot_open() {
    let env = TestEnv::new().await;
    let old = factor(&env, OLD).await;
    let lost = factor(&env, "a-key-nobody-has-any-more-32-bytes-long").await;

    let run =
        |previous: &str| env.command(&["reseal-mfa"]).env("MFA_KEY", NEW).env("MFA_PREVIOUS_KEYS", previous).output();
    let output = run(OLD).await.unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(said.contains("resealed 1,") && said.contains(&format!("the factor of user {lost}")), "{said}");
    assert!(!said.contains(OLD) && !said.contains(NEW), "no key in the report");

    let sealed: String = env
        .pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT secret_sealed FROM mfa_totp WHERE user_id = $1", &[&old])
        .await
        .unwrap()
        .get(0);
    let opened = Keyring::new(NEW, vec![]).open(Purpose::TotpSecret, old.to_string().as_bytes(), &sealed).unwrap();
    assert_eq!(opened.0, b"totp secret");

    let refused =
        env.command(&["reseal-mfa"]).env("MFA_KEY", NEW).env("MFA_PREVIOUS_KEYS", "short").output().await.unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("under 32 bytes"), "{refused:?}");
    env.cleanup().await;
}
