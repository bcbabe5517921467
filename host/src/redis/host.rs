//! The `fermyon:spin/redis` interface on this capability's own state: what
//! the process shares ([`AppState`]: the connections by address) and what one
//! instance holds ([`InstanceState`]: the connections its guest opened).

use std::sync::Arc;
use tracing::Instrument;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Value};
use wasmtime::component::{HasSelf, Linker, Resource};

use super::address::permitted;
use super::client::Clients;
use super::types::{flatten, other};
use crate::allowed_hosts::AllowedHosts;
use crate::bindings::redis_wit::{self, Connection, Error, Payload, RedisParameter, RedisResult};
use crate::resource_table::Table;

/// The most connections one instance may hold at once.
const MAX_OPEN_PER_INSTANCE: usize = 8;

/// What every instance of every component shares, for the whole process.
pub type AppState = Clients;

/// What one instance (one request) holds.
pub struct InstanceState {
    app: Arc<AppState>,
    allowed_hosts: Arc<AllowedHosts>,
    /// The connections the guest opened (handles to shared connection
    /// managers), capped per instance as Spin caps them.
    connections: Table<ConnectionManager>,
}

impl InstanceState {
    pub fn new(app: Arc<AppState>, allowed_hosts: Arc<AllowedHosts>) -> Self {
        Self { app, allowed_hosts, connections: Table::new(MAX_OPEN_PER_INSTANCE) }
    }

    fn connection(&self, connection: &Resource<Connection>) -> wasmtime::Result<ConnectionManager> {
        self.connections.get(connection.rep()).cloned().ok_or_else(|| wasmtime::format_err!("unknown Redis connection"))
    }
}

/// Links `fermyon:spin/redis` for a store whose data gives this capability's
/// state through `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut InstanceState,
) -> wasmtime::Result<()> {
    redis_wit::add_to_linker::<T, HasSelf<InstanceState>>(linker, get)
}

impl redis_wit::Host for InstanceState {}

impl redis_wit::HostConnection for InstanceState {
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        if let Err(error) = permitted(&self.allowed_hosts, &address) {
            return Ok(Err(error));
        }
        if self.connections.is_full() {
            return Ok(Err(Error::TooManyConnections));
        }
        let span = outbound_span!("spin_outbound_redis.open_connection", db.system.name = "redis");
        let connection = match self.app.connect(&address).instrument(span).await {
            Ok(connection) => connection,
            Err(error) => return Ok(Err(error)),
        };
        Ok(self.connections.push(connection).map(Resource::new_own).map_err(|_| Error::TooManyConnections))
    }

    async fn publish(
        &mut self,
        c: Resource<Connection>,
        channel: String,
        payload: Payload,
    ) -> wasmtime::Result<Result<(), Error>> {
        let mut conn = self.connection(&c)?;
        Ok(conn.publish::<_, _, i64>(channel, payload).await.map(drop).map_err(other))
    }

    async fn get(&mut self, c: Resource<Connection>, key: String) -> wasmtime::Result<Result<Option<Payload>, Error>> {
        let mut conn = self.connection(&c)?;
        Ok(conn
            .get(key)
            .instrument(outbound_span!("spin_outbound_redis.get", db.system.name = "redis"))
            .await
            .map_err(other))
    }

    async fn set(
        &mut self,
        c: Resource<Connection>,
        key: String,
        value: Payload,
    ) -> wasmtime::Result<Result<(), Error>> {
        let mut conn = self.connection(&c)?;
        let span = outbound_span!("spin_outbound_redis.set", db.system.name = "redis");
        Ok(conn.set(key, value).instrument(span).await.map_err(other))
    }

    async fn incr(&mut self, c: Resource<Connection>, key: String) -> wasmtime::Result<Result<i64, Error>> {
        let mut conn = self.connection(&c)?;
        let span = outbound_span!("spin_outbound_redis.incr", db.system.name = "redis");
        Ok(conn.incr(key, 1).instrument(span).await.map_err(other))
    }

    async fn del(&mut self, c: Resource<Connection>, keys: Vec<String>) -> wasmtime::Result<Result<u32, Error>> {
        let mut conn = self.connection(&c)?;
        Ok(conn
            .del(keys)
            .instrument(outbound_span!("spin_outbound_redis.del", db.system.name = "redis"))
            .await
            .map_err(other))
    }

    async fn sadd(
        &mut self,
        c: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let mut conn = self.connection(&c)?;
        Ok(conn.sadd(key, values).await.map_err(other))
    }

    async fn smembers(&mut self, c: Resource<Connection>, key: String) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let mut conn = self.connection(&c)?;
        Ok(conn.smembers(key).await.map_err(other))
    }

    async fn srem(
        &mut self,
        c: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let mut conn = self.connection(&c)?;
        Ok(conn.srem(key, values).await.map_err(other))
    }

    async fn execute(
        &mut self,
        c: Resource<Connection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<RedisResult>, Error>> {
        let mut conn = self.connection(&c)?;
        let mut cmd = redis::cmd(&command);
        for argument in arguments {
            match argument {
                RedisParameter::Int64(v) => cmd.arg(v),
                RedisParameter::Binary(v) => cmd.arg(v),
            };
        }
        let span = outbound_span!("spin_outbound_redis.execute", db.system.name = "redis");
        Ok(cmd.query_async::<Value>(&mut conn).instrument(span).await.map_err(other).and_then(|value| {
            let mut results = Vec::new();
            flatten(value, &mut results)?;
            Ok(results)
        }))
    }

    async fn drop(&mut self, c: Resource<Connection>) -> wasmtime::Result<()> {
        self.connections.remove(c.rep()).ok_or_else(|| wasmtime::format_err!("unknown Redis connection"))?;
        Ok(())
    }
}
