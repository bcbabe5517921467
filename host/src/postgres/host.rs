//! The `spin:postgres/postgres` interface on this capability's own state:
//! what the process shares ([`AppState`]: the pools and the settings) and
//! what one instance holds ([`InstanceState`]: its open connections).

use std::sync::Arc;
use tracing::Instrument;

use wasmtime::component::{HasSelf, Linker, Resource};

use super::address::permitted_config;
use super::client::{self, Pools};
use super::settings::PostgresSettings;
use super::{statement, types};
use crate::allowed_hosts::AllowedHosts;
use crate::bindings::pg_wit::{self, Connection, Error, ParameterValue, RowSet};
use crate::resource_table::Table;

/// The most connections one instance may hold at once.
const MAX_OPEN_PER_INSTANCE: usize = 8;

/// What every instance of every component shares, for the whole process.
pub struct AppState {
    /// One pool per component and database address.
    pools: Pools,
    /// How statements behave where Spin versions differ.
    settings: PostgresSettings,
}

impl AppState {
    pub fn new(settings: PostgresSettings) -> Self {
        Self { pools: Pools::new(settings.pool_size), settings }
    }
}

/// What one instance (one request) holds.
pub struct InstanceState {
    app: Arc<AppState>,
    /// The component's id: pools are kept per component, as Spin keeps them.
    component: Arc<str>,
    allowed_hosts: Arc<AllowedHosts>,
    /// The connections the guest holds open, capped so one request cannot
    /// take a whole pool; dropping one returns it to its pool.
    connections: Table<deadpool_postgres::Object>,
}

impl InstanceState {
    pub fn new(app: Arc<AppState>, component: Arc<str>, allowed_hosts: Arc<AllowedHosts>) -> Self {
        Self { app, component, allowed_hosts, connections: Table::new(MAX_OPEN_PER_INSTANCE) }
    }

    fn client(&self, connection: &Resource<Connection>) -> wasmtime::Result<&deadpool_postgres::Object> {
        self.connections.get(connection.rep()).ok_or_else(|| wasmtime::format_err!("unknown Postgres connection"))
    }
}

/// Links `spin:postgres/postgres` for a store whose data gives this
/// capability's state through `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut InstanceState,
) -> wasmtime::Result<()> {
    pg_wit::add_to_linker::<T, HasSelf<InstanceState>>(linker, get)
}

impl pg_wit::Host for InstanceState {}

impl pg_wit::HostConnection for InstanceState {
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        let config = match permitted_config(&self.allowed_hosts, &address) {
            Ok(config) => config,
            Err(error) => return Ok(Err(error)),
        };
        if self.connections.is_full() {
            return Ok(Err(Error::ConnectionFailed("too many open connections for this instance".into())));
        }
        let span = outbound_span!("spin_outbound_pg.open", db.system.name = "postgresql");
        let client = match self.app.pools.connect(&self.component, &address, config).instrument(span).await {
            Ok(client) => client,
            Err(error) => return Ok(Err(Error::ConnectionFailed(client::describe_connect_error(&error)))),
        };
        match self.connections.push(client) {
            Ok(key) => Ok(Ok(Resource::new_own(key))),
            Err(_returned) => Ok(Err(Error::ConnectionFailed("too many open connections for this instance".into()))),
        }
    }

    async fn query(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        let params = match types::to_sql_params(params) {
            Ok(params) => params,
            Err(problem) => return Ok(Err(Error::BadParameter(problem))),
        };
        let empty_results = self.app.settings.empty_results;
        let client = self.client(&connection)?;
        let span = outbound_span!("spin_outbound_pg.query", db.system.name = "postgresql");
        Ok(statement::query(client, &statement, &params, empty_results).instrument(span).await)
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let params = match types::to_sql_params(params) {
            Ok(params) => params,
            Err(problem) => return Ok(Err(Error::ValueConversionFailed(problem))),
        };
        let client = self.client(&connection)?;
        let span = outbound_span!("spin_outbound_pg.execute", db.system.name = "postgresql");
        Ok(statement::execute(client, &statement, &params).instrument(span).await)
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        let client = self
            .connections
            .remove(connection.rep())
            .ok_or_else(|| wasmtime::format_err!("unknown Postgres connection"))?;
        // Back to its pool, reset before its next use.
        drop(client);
        Ok(())
    }
}
