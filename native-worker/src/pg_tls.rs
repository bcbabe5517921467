//! How the worker secures its PostgreSQL connections. One `DATABASE_URL`
//! serves the components (under Spin) and the worker, so it must mean the
//! same to both: the worker follows Spin's rule (`../shared/SPIN-FACTS.md`,
//! "TLS"; the host's `postgres/tls.rs` follows it too):
//! - `sslmode=disable` is plain TCP;
//! - anything else (tokio-postgres's default `prefer`, and `require`) is TLS
//!   that verifies the server's certificate chain against the trusted roots
//!   and its name against the address's host name or IP. A certificate that
//!   does not verify fails the connection; only a server that declines TLS
//!   altogether is spoken to in plaintext under `prefer`.
//!
//! Before this module the worker connected without TLS whatever the address
//! said, so a worker on another machine than its database sent passwords and
//! user records in the clear.
//!
//! The trusted roots are the system's, found as OpenSSL finds them, with
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` replacing them (rustls-native-certs reads
//! both). The worker's image (`FROM scratch`) has no system roots, so a
//! deployment that uses TLS mounts its CA and points `SSL_CERT_FILE` at it.
//! rustls with ring, not OpenSSL, keeps that image one static binary.
//!
//! Redis (`rediss://`) and RabbitMQ (`amqps://`) connections are TLS through
//! the same rustls and the same roots, by their clients' own features (the
//! redis crate's `tokio-rustls-comp`, lapin's `rustls--ring` with native
//! roots); `config::verified_redis_url` refuses the redis crate's
//! `#insecure`.

use std::sync::{Arc, OnceLock};

use tokio::task::JoinHandle;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

/// TLS could not be set up (not a failed handshake: that is a connection error).
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot set up TLS to PostgreSQL: {0}")]
pub struct TlsSetupError(String);

/// A connection outside the pool could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Setup(#[from] TlsSetupError),
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
}

/// How connections to one address are made.
pub enum Connector {
    Plain,
    Tls(MakeRustlsConnect),
}

/// The connector `config`'s `sslmode` asks for.
pub fn connector(config: &Config) -> Result<Connector, TlsSetupError> {
    Ok(match config.get_ssl_mode() {
        SslMode::Disable => Connector::Plain,
        _ => Connector::Tls(tls_connector()?),
    })
}

/// One connection outside the pool (migrations, admin commands), its driver
/// spawned; the handle ends when the connection closes.
pub async fn connect(config: &Config) -> Result<(Client, JoinHandle<()>), ConnectError> {
    Ok(match connector(config)? {
        Connector::Plain => {
            let (client, connection) = config.connect(NoTls).await?;
            (client, tokio::spawn(drive(connection)))
        }
        Connector::Tls(tls) => {
            let (client, connection) = config.connect(tls).await?;
            (client, tokio::spawn(drive(connection)))
        }
    })
}

async fn drive<F: Future<Output = Result<(), tokio_postgres::Error>>>(connection: F) {
    if let Err(e) = connection.await {
        tracing::warn!(error = %e, "PostgreSQL connection ended with an error");
    }
}

/// The rustls connector, made once per process (loading the roots reads
/// files); its clones share one configuration.
fn tls_connector() -> Result<MakeRustlsConnect, TlsSetupError> {
    static CONNECTOR: OnceLock<Result<MakeRustlsConnect, TlsSetupError>> = OnceLock::new();
    CONNECTOR.get_or_init(|| build(roots()).map(MakeRustlsConnect::new)).clone()
}

/// The system's roots, or those `SSL_CERT_FILE` / `SSL_CERT_DIR` name.
fn roots() -> rustls::RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "a trusted root for PostgreSQL TLS could not be read");
    }
    let mut roots = rustls::RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        tracing::warn!(ignored, "trusted roots for PostgreSQL TLS that rustls cannot use were skipped");
    }
    if added == 0 {
        tracing::warn!(
            "no trusted roots for PostgreSQL TLS: a server offering TLS will be refused; \
             set SSL_CERT_FILE to its CA, or sslmode=disable on a private network"
        );
    }
    roots
}

fn build(roots: rustls::RootCertStore) -> Result<rustls::ClientConfig, TlsSetupError> {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sslmode_disable_is_plain() {
        let plain: Config = "postgres://u@h/db?sslmode=disable".parse().unwrap();
        assert!(matches!(connector(&plain), Ok(Connector::Plain)));
        for url in ["postgres://u@h/db", "postgres://u@h/db?sslmode=prefer", "postgres://u@h/db?sslmode=require"] {
            let config: Config = url.parse().unwrap();
            assert!(matches!(connector(&config), Ok(Connector::Tls(_))), "{url}");
        }
    }
}
