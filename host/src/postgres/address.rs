//! Which database addresses a component may open: every host of the
//! address, as tokio-postgres reads it, checked against the component's
//! `allowed_outbound_hosts` as `postgres://host:port` (Spin's
//! `factor-outbound-pg/src/allowed_hosts.rs` does the same), with a connect
//! timeout when the address sets none.

use crate::allowed_hosts::AllowedHosts;
use crate::bindings::pg_wit::Error;

/// Parses `address` as tokio-postgres does and checks every host in it.
// The error is the WIT's own type, large or not.
#[allow(clippy::result_large_err)]
pub fn permitted_config(allowed: &AllowedHosts, address: &str) -> Result<tokio_postgres::Config, Error> {
    let mut config: tokio_postgres::Config =
        address.parse().map_err(|e| Error::ConnectionFailed(format!("invalid address: {e}")))?;
    let hosts = config.get_hosts().to_vec();
    if hosts.is_empty() {
        return Err(Error::ConnectionFailed("the address names no host".into()));
    }
    let ports = config.get_ports().to_vec();
    for (index, host) in hosts.iter().enumerate() {
        let port = ports.get(index).or(ports.first()).copied().unwrap_or(5432);
        let host = match host {
            tokio_postgres::config::Host::Tcp(host) => host.clone(),
            #[allow(unreachable_patterns)]
            other => format!("{other:?}"),
        };
        if !allowed.allows("postgres", &host, Some(port)) {
            return Err(Error::ConnectionFailed(format!("address postgres://{host}:{port} is not permitted")));
        }
    }
    // `hostaddr` is where tokio-postgres actually connects, whatever `host`
    // says (which then only names the server for TLS): every one of them
    // must be allowed too, or `?hostaddr=10.0.0.9` would reach any address.
    // Spin 4.1 checks only `host`; the host is stricter, on purpose.
    for (index, address) in config.get_hostaddrs().iter().enumerate() {
        let port = ports.get(index).or(ports.first()).copied().unwrap_or(5432);
        let address = address.to_string();
        if !allowed.allows("postgres", &address, Some(port)) {
            return Err(Error::ConnectionFailed(format!(
                "address postgres://{address}:{port} (hostaddr) is not permitted"
            )));
        }
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(5));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(entries.iter().copied()).unwrap()
    }

    #[test]
    fn urls_and_key_value_addresses_are_checked_host_by_host() {
        let hosts = allowed(&["postgres://127.0.0.1:5432"]);
        assert!(permitted_config(&hosts, "postgres://postgres@127.0.0.1:5432/db").is_ok());
        assert!(permitted_config(&hosts, "host=127.0.0.1 user=postgres dbname=db").is_ok());
        let denied = permitted_config(&hosts, "postgres://postgres@127.0.0.1:6543/db").unwrap_err();
        assert_eq!(denied, Error::ConnectionFailed("address postgres://127.0.0.1:6543 is not permitted".into()));
        assert!(permitted_config(&hosts, "postgres://localhost/db").is_err());
        let bypass = permitted_config(&hosts, "postgres://u@127.0.0.1:5432/db?hostaddr=10.0.0.9").unwrap_err();
        assert_eq!(
            bypass,
            Error::ConnectionFailed("address postgres://10.0.0.9:5432 (hostaddr) is not permitted".into())
        );
        assert!(permitted_config(&hosts, "host=127.0.0.1 hostaddr=10.0.0.9 user=x").is_err());
        assert!(permitted_config(&hosts, "postgres://u@127.0.0.1:5432/db?hostaddr=127.0.0.1").is_ok());
        assert!(permitted_config(&hosts, "host=127.0.0.1,10.0.0.1 user=x").is_err(), "every host must be allowed");
        assert!(permitted_config(&allowed(&[]), "postgres://127.0.0.1/db").is_err());
    }

    #[test]
    fn unparsable_addresses_are_connection_failures() {
        assert!(matches!(
            permitted_config(&allowed(&["postgres://*:*"]), "postgres://[::1"),
            Err(Error::ConnectionFailed(_))
        ));
    }
}
