//! The worker's PostgreSQL connections are secured as the address's
//! `sslmode` says, by Spin's rule (src/pg_tls.rs): only `disable` is plain,
//! anything else is TLS that verifies the server. The local PostgreSQL
//! (Debian's) offers TLS with a self-signed certificate issued to
//! `localhost`; trusting that file through `SSL_CERT_FILE` and reaching the
//! server by that name is the one way these connections verify.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::helpers::TestEnv;

const LOCAL_CERTIFICATE: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
/// Mozilla's roots as Debian ships them: real CAs, none of which issued the local certificate.
const PUBLIC_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// This test's database, at `host`, without `sslmode` (tokio-postgres's default, `prefer`).
fn address(env: &TestEnv, host: &str, application: &str) -> String {
    let plain = &env.config.database_url;
    let without_mode = plain.split('?').next().unwrap().replace("127.0.0.1", host);
    format!("{without_mode}?application_name={application}")
}

/// `native-worker ARGS` trusting only the certificates in `roots`
/// (`SSL_CERT_DIR`, which machines set to /etc/ssl/certs, would add the rest).
fn worker(env: &TestEnv, args: &[&str], url: &str, roots: &str) -> tokio::process::Command {
    let mut command = env.command(args);
    command.env("DATABASE_URL", url).env("SSL_CERT_FILE", roots).env_remove("SSL_CERT_DIR");
    command
}

async fn migrate(env: &TestEnv, url: &str, roots: &str) -> std::process::Output {
    worker(env, &["migrate"], url, roots).output().await.unwrap()
}

#[tokio::test]
async fn without_sslmode_disable_the_worker_speaks_verified_tls() {
    assert!(Path::new(LOCAL_CERTIFICATE).exists(), "the local PostgreSQL's certificate is missing");
    let env = TestEnv::new().await;
    let application = format!("worker_tls_{}", uuid::Uuid::new_v4().simple());

    let migrated = migrate(&env, &address(&env, "localhost", &application), LOCAL_CERTIFICATE).await;
    assert!(migrated.status.success(), "{migrated:?}");

    // A running worker's pooled connections, seen from the server's side.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _worker = worker(&env, &["run"], &address(&env, "localhost", &application), LOCAL_CERTIFICATE)
        .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
        .spawn()
        .unwrap();
    let started = Instant::now();
    let encrypted: Vec<bool> = loop {
        let rows = env
            .pool
            .get()
            .await
            .unwrap()
            .query(
                "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
                &[&application],
            )
            .await
            .unwrap();
        if !rows.is_empty() {
            break rows.iter().map(|row| row.get(0)).collect();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the worker never connected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(encrypted.iter().all(|ssl| *ssl), "every connection of the worker is TLS: {encrypted:?}");
    drop(_worker);
    env.cleanup().await;
}

#[tokio::test]
async fn a_certificate_that_does_not_verify_is_refused_not_bypassed() {
    let env = TestEnv::new().await;
    let cases = [
        // Trusted, but issued to `localhost`, not to the address's IP.
        ("127.0.0.1", LOCAL_CERTIFICATE, "not valid for name \"127.0.0.1\""),
        // The right name, issued by nobody the roots know.
        ("localhost", PUBLIC_ROOTS, "UnknownIssuer"),
    ];
    for (host, roots, why) in cases {
        let refused = migrate(&env, &address(&env, host, "worker_tls_refused"), roots).await;
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{host} with {roots} connected");
        assert!(said.contains("certificate") && said.contains(why), "{host} with {roots}: {said}");
    }
    // `require` verifies as well.
    let required = format!("{}&sslmode=require", address(&env, "127.0.0.1", "worker_tls_required"));
    let refused = migrate(&env, &required, LOCAL_CERTIFICATE).await;
    assert!(!refused.status.success(), "sslmode=require connected to a certificate that does not verify");
    env.cleanup().await;
}
