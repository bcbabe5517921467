//! `spin:postgres/postgres@4.0.0`: a component's database connections, as
//! strict as `spin up` so that what works here works there.
//!
//! As in Spin, `open` checks the address against the component's
//! `allowed_outbound_hosts` (every host of a tokio-postgres configuration, as
//! `postgres://host:port`), then hands out a connection from the process-wide
//! pool of that address (`client`), secured by its `sslmode` (`tls`).
//! Statements run as Spin runs them (`statement`), with Spin's conversions
//! (`types`) and error shapes (`errors`). Dropping the resource returns the
//! connection to its pool.

mod client;
mod errors;
mod settings;
mod statement;
mod tls;
mod types;

pub use client::Pools;
pub use settings::{EmptyResults, InvalidPoolSize, PoolSize, PostgresSettings};

use wasmtime::component::Resource;

use crate::allowed_hosts::AllowedHosts;
use crate::bindings::pg_wit::{self, Error, ParameterValue, RowSet};
use crate::state::InstanceState;

/// The most connections one instance may hold at once.
const MAX_OPEN_PER_INSTANCE: usize = 8;

/// The host side of a guest's `connection` resource.
pub struct PgConnection {
    client: deadpool_postgres::Object,
}

impl pg_wit::Host for InstanceState {}

impl pg_wit::HostConnection for InstanceState {
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        let config = match permitted_config(&self.component.allowed_hosts, &address) {
            Ok(config) => config,
            Err(error) => return Ok(Err(error)),
        };
        if self.open_postgres >= MAX_OPEN_PER_INSTANCE {
            return Ok(Err(Error::ConnectionFailed("too many open connections for this instance".into())));
        }
        let client = match self.shared.postgres.connect(&self.component.id, &address, config).await {
            Ok(client) => client,
            Err(error) => return Ok(Err(Error::ConnectionFailed(client::describe_connect_error(&error)))),
        };
        self.open_postgres += 1;
        Ok(Ok(self.table.push(PgConnection { client })?))
    }

    async fn query(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        let params = match types::to_sql_params(params) {
            Ok(params) => params,
            Err(problem) => return Ok(Err(Error::BadParameter(problem))),
        };
        let empty_results = self.shared.postgres_settings.empty_results;
        let client = &self.table.get(&connection)?.client;
        Ok(statement::query(client, &statement, &params, empty_results).await)
    }

    async fn execute(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let params = match types::to_sql_params(params) {
            Ok(params) => params,
            Err(problem) => return Ok(Err(Error::ValueConversionFailed(problem))),
        };
        let client = &self.table.get(&connection)?.client;
        Ok(statement::execute(client, &statement, &params).await)
    }

    async fn drop(&mut self, connection: Resource<PgConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        self.open_postgres = self.open_postgres.saturating_sub(1);
        Ok(())
    }
}

/// Parses `address` as tokio-postgres does and checks every host in it.
// The error is the WIT's own type, large or not.
#[allow(clippy::result_large_err)]
fn permitted_config(allowed: &AllowedHosts, address: &str) -> Result<tokio_postgres::Config, Error> {
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
