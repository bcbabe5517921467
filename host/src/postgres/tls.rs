//! How a pool's connections are secured, chosen by the address's `sslmode`
//! exactly as Spin chooses: `disable` is plain TCP; anything else (including
//! tokio-postgres's default, `prefer`) is TLS through native-tls (OpenSSL on
//! Linux, as in Spin), verifying the server's certificate against the system
//! roots (`SSL_CERT_FILE` / `SSL_CERT_DIR` add or replace them) and the
//! address's host name or IP.
//!
//! A certificate that does not verify fails the connection; tokio-postgres
//! never falls back to plaintext after a failed handshake. Only a server that
//! declines TLS altogether is spoken to in plaintext under `prefer`, as in
//! Spin. Connecting without TLS whatever the address says would let the host
//! reach a database that `spin up` cannot.

use deadpool_postgres::{Manager, ManagerConfig};
use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode;

/// A connection manager for `config`, with or without TLS by its `sslmode`.
pub fn manager(config: tokio_postgres::Config, manager_config: ManagerConfig) -> Result<Manager, native_tls::Error> {
    Ok(match config.get_ssl_mode() {
        SslMode::Disable => Manager::from_config(config, NoTls, manager_config),
        _ => {
            let connector = native_tls::TlsConnector::builder().build()?;
            Manager::from_config(config, postgres_native_tls::MakeTlsConnector::new(connector), manager_config)
        }
    })
}
