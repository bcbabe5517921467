//! The worker's PostgreSQL connections are secured as the address's
//! `sslmode` says, by Spin's rule (src/pg_tls.rs): only `disable` is plain,
//! anything else is TLS that verifies the server. The local PostgreSQL
//! (Debian's) offers TLS with a self-signed certificate issued to
//! `localhost`; trusting that file through `SSL_CERT_FILE` and reaching the
//! server by that name is the one way these connections verify.
//!
//! Redis (`rediss://`) and RabbitMQ (`amqps://`) are reached through a TLS
//! endpoint of the test's own (a certificate made for `localhost` at test
//! time) in front of the real services, which listen in plaintext here.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

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

/// A TLS endpoint for `localhost` in front of `target`: it completes the
/// handshake with its own certificate, then relays plaintext.
struct TlsFront {
    addr: SocketAddr,
    /// Handshakes that completed (the client trusted the certificate).
    completed: Arc<AtomicUsize>,
    /// Handshakes the client broke off or failed.
    failed: Arc<AtomicUsize>,
}

impl TlsFront {
    async fn start(target: SocketAddr, certificate: &rcgen::CertifiedKey) -> Self {
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certificate.key_pair.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certificate.cert.der().clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (completed, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (done, broken) = (completed.clone(), failed.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let (acceptor, done, broken) = (acceptor.clone(), done.clone(), broken.clone());
                tokio::spawn(async move {
                    let Ok(mut secured) = acceptor.accept(inbound).await else {
                        broken.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    done.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut outbound) = TcpStream::connect(target).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut secured, &mut outbound).await;
                });
            }
        });
        Self { addr, completed, failed }
    }
}

/// The worker reaches Redis over `rediss://` and RabbitMQ over `amqps://`,
/// verifying their certificate against `SSL_CERT_FILE` as it does for
/// PostgreSQL, and refuses a certificate it has no root for.
#[tokio::test]
async fn rediss_and_amqps_are_verified_tls_with_the_same_roots() {
    let env = TestEnv::new().await;
    let certificate = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let roots = std::env::temp_dir().join(format!("worker-tls-{}.pem", uuid::Uuid::new_v4().simple()));
    std::fs::write(&roots, certificate.cert.pem()).unwrap();
    let redis = TlsFront::start("127.0.0.1:6379".parse().unwrap(), &certificate).await;
    let rabbitmq = TlsFront::start("127.0.0.1:5672".parse().unwrap(), &certificate).await;
    let redis_url = format!("rediss://localhost:{}/", redis.addr.port());
    let amqp_url = format!("amqps://guest:guest@localhost:{}/%2f", rabbitmq.addr.port());

    let run = |roots: &Path| {
        let addr: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let mut command = env.command(&["run"]);
        command
            .env("REDIS_URL", &redis_url)
            .env("AMQP_URL", &amqp_url)
            .env("SSL_CERT_FILE", roots)
            .env_remove("SSL_CERT_DIR")
            .env("HTTP_ADDR", addr.to_string());
        (command.spawn().unwrap(), addr)
    };
    // `/ready` answers 200 only when Redis, RabbitMQ and PostgreSQL all answer.
    let ready = |addr: SocketAddr| async move {
        let started = Instant::now();
        loop {
            let status = native_worker::http::probe(addr, "/ready").await.ok();
            if status == Some(200) || started.elapsed() > Duration::from_secs(8) {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };

    let (trusted, addr) = run(&roots);
    assert_eq!(ready(addr).await, Some(200), "ready through TLS");
    assert!(redis.completed.load(Ordering::SeqCst) > 0 && rabbitmq.completed.load(Ordering::SeqCst) > 0);
    drop(trusted);

    // Roots that do not hold the certificate: every handshake is refused.
    let (before_redis, before_rabbitmq) =
        (redis.completed.load(Ordering::SeqCst), rabbitmq.completed.load(Ordering::SeqCst));
    let (untrusting, addr) = run(Path::new(PUBLIC_ROOTS));
    let status = ready(addr).await;
    assert_ne!(status, Some(200), "ready with a certificate it cannot verify");
    assert_eq!(redis.completed.load(Ordering::SeqCst), before_redis, "no Redis handshake completed");
    assert_eq!(rabbitmq.completed.load(Ordering::SeqCst), before_rabbitmq, "no RabbitMQ handshake completed");
    assert!(redis.failed.load(Ordering::SeqCst) > 0 && rabbitmq.failed.load(Ordering::SeqCst) > 0, "both were tried");
    drop(untrusting);
    let _ = std::fs::remove_file(&roots);
    env.cleanup().await;
}
