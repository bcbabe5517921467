//! `fermyon:spin/redis@2.0.0`: a component's Redis connections.
//!
//! As in Spin, `open` refuses an address that does not parse or that the
//! component's `allowed_outbound_hosts` does not allow (`invalid-address`).
//! Connections are shared per address across requests: a multiplexed
//! connection manager that reconnects by itself after Redis comes back, so a
//! request pays no handshake and an outage heals without a restart. After a
//! failed connection attempt, opens fail at once for a second instead of each
//! waiting out its own timeout; the guest sees the same `other` error.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Value};
use wasmtime::component::Resource;

use crate::allowed_hosts::AllowedHosts;
use crate::bindings::redis_wit::{self, Error, Payload, RedisParameter, RedisResult};
use crate::state::InstanceState;

/// The most connections one instance may hold at once.
const MAX_OPEN_PER_INSTANCE: usize = 8;
/// How long a connection attempt or a command may take before it fails.
const TIMEOUT: Duration = Duration::from_secs(2);

/// The host side of a guest's `connection` resource.
pub struct RedisConnection {
    connection: ConnectionManager,
}

/// How long a failed connection attempt makes later opens fail at once, so
/// an unreachable Redis costs requests one timeout per interval, not one each.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Clients {
    managers: std::sync::Mutex<HashMap<String, Slot>>,
}

enum Slot {
    Ready(ConnectionManager),
    FailedAt(std::time::Instant),
}

impl Clients {
    async fn connect(&self, address: &str) -> Result<ConnectionManager, Error> {
        {
            let managers = self.managers.lock().unwrap_or_else(|p| p.into_inner());
            match managers.get(address) {
                Some(Slot::Ready(manager)) => return Ok(manager.clone()),
                Some(Slot::FailedAt(at)) if at.elapsed() < RETRY_AFTER_FAILURE => {
                    return Err(Error::Other("Redis is unreachable (the last attempt just failed)".into()));
                }
                _ => {}
            }
        }
        // Connect without holding the lock: one slow attempt must not queue every request.
        let client = redis::Client::open(address).map_err(|_| Error::InvalidAddress)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(TIMEOUT)
            .set_response_timeout(TIMEOUT)
            .set_number_of_retries(1);
        let result = client.get_connection_manager_with_config(config).await;
        let mut managers = self.managers.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(manager) => {
                // Another request may have connected meanwhile; either connection serves.
                managers.insert(address.to_owned(), Slot::Ready(manager.clone()));
                Ok(manager)
            }
            Err(error) => {
                managers.insert(address.to_owned(), Slot::FailedAt(std::time::Instant::now()));
                Err(other(error))
            }
        }
    }
}

fn other(error: redis::RedisError) -> Error {
    if error.kind() == redis::ErrorKind::TypeError { Error::TypeError } else { Error::Other(error.to_string()) }
}

/// Parses a Redis URL and checks it as `scheme://host:port`.
fn permitted(allowed: &AllowedHosts, address: &str) -> Result<(), Error> {
    let url = url::Url::parse(address).map_err(|_| Error::InvalidAddress)?;
    let scheme = url.scheme();
    if !matches!(scheme, "redis" | "rediss") {
        return Err(Error::InvalidAddress);
    }
    let host = url.host_str().ok_or(Error::InvalidAddress)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if allowed.allows(scheme, host, Some(url.port().unwrap_or(6379))) { Ok(()) } else { Err(Error::InvalidAddress) }
}

impl InstanceState {
    fn redis(&self, connection: &Resource<RedisConnection>) -> wasmtime::Result<ConnectionManager> {
        Ok(self.table.get(connection)?.connection.clone())
    }
}

impl redis_wit::Host for InstanceState {}

impl redis_wit::HostConnection for InstanceState {
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<RedisConnection>, Error>> {
        if let Err(error) = permitted(&self.component.allowed_hosts, &address) {
            return Ok(Err(error));
        }
        if self.open_redis >= MAX_OPEN_PER_INSTANCE {
            return Ok(Err(Error::TooManyConnections));
        }
        let connection = match self.shared.redis.connect(&address).await {
            Ok(connection) => connection,
            Err(error) => return Ok(Err(error)),
        };
        self.open_redis += 1;
        Ok(Ok(self.table.push(RedisConnection { connection })?))
    }

    async fn publish(
        &mut self,
        c: Resource<RedisConnection>,
        channel: String,
        payload: Payload,
    ) -> wasmtime::Result<Result<(), Error>> {
        let mut conn = self.redis(&c)?;
        Ok(conn.publish::<_, _, i64>(channel, payload).await.map(drop).map_err(other))
    }

    async fn get(
        &mut self,
        c: Resource<RedisConnection>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Payload>, Error>> {
        let mut conn = self.redis(&c)?;
        Ok(conn.get(key).await.map_err(other))
    }

    async fn set(
        &mut self,
        c: Resource<RedisConnection>,
        key: String,
        value: Payload,
    ) -> wasmtime::Result<Result<(), Error>> {
        let mut conn = self.redis(&c)?;
        Ok(conn.set(key, value).await.map_err(other))
    }

    async fn incr(&mut self, c: Resource<RedisConnection>, key: String) -> wasmtime::Result<Result<i64, Error>> {
        let mut conn = self.redis(&c)?;
        Ok(conn.incr(key, 1).await.map_err(other))
    }

    async fn del(&mut self, c: Resource<RedisConnection>, keys: Vec<String>) -> wasmtime::Result<Result<u32, Error>> {
        let mut conn = self.redis(&c)?;
        Ok(conn.del(keys).await.map_err(other))
    }

    async fn sadd(
        &mut self,
        c: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let mut conn = self.redis(&c)?;
        Ok(conn.sadd(key, values).await.map_err(other))
    }

    async fn smembers(
        &mut self,
        c: Resource<RedisConnection>,
        key: String,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let mut conn = self.redis(&c)?;
        Ok(conn.smembers(key).await.map_err(other))
    }

    async fn srem(
        &mut self,
        c: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let mut conn = self.redis(&c)?;
        Ok(conn.srem(key, values).await.map_err(other))
    }

    async fn execute(
        &mut self,
        c: Resource<RedisConnection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<RedisResult>, Error>> {
        let mut conn = self.redis(&c)?;
        let mut cmd = redis::cmd(&command);
        for argument in arguments {
            match argument {
                RedisParameter::Int64(v) => cmd.arg(v),
                RedisParameter::Binary(v) => cmd.arg(v),
            };
        }
        Ok(cmd.query_async::<Value>(&mut conn).await.map_err(other).and_then(|value| {
            let mut results = Vec::new();
            flatten(value, &mut results)?;
            Ok(results)
        }))
    }

    async fn drop(&mut self, c: Resource<RedisConnection>) -> wasmtime::Result<()> {
        self.table.delete(c)?;
        self.open_redis = self.open_redis.saturating_sub(1);
        Ok(())
    }
}

/// Spin's shape for `execute` results: arrays, sets and maps flattened; `OK`
/// as a status; doubles and big numbers as strings; booleans as 0/1.
fn flatten(value: Value, out: &mut Vec<RedisResult>) -> Result<(), Error> {
    match value {
        Value::Nil => out.push(RedisResult::Nil),
        Value::Int(i) => out.push(RedisResult::Int64(i)),
        Value::BulkString(bytes) => out.push(RedisResult::Binary(bytes)),
        Value::SimpleString(s) => out.push(RedisResult::Status(s)),
        Value::Okay => out.push(RedisResult::Status("OK".into())),
        Value::Array(items) | Value::Set(items) => {
            for item in items {
                flatten(item, out)?;
            }
        }
        Value::Map(pairs) => {
            for (k, v) in pairs {
                flatten(k, out)?;
                flatten(v, out)?;
            }
        }
        Value::Attribute { data, .. } => flatten(*data, out)?,
        Value::Double(d) => out.push(RedisResult::Binary(d.to_string().into_bytes())),
        Value::Boolean(b) => out.push(RedisResult::Int64(i64::from(b))),
        Value::VerbatimString { text, .. } => out.push(RedisResult::Binary(text.into_bytes())),
        Value::BigNumber(n) => out.push(RedisResult::Binary(n.to_string().into_bytes())),
        Value::Push { data, .. } => {
            for item in data {
                flatten(item, out)?;
            }
        }
        Value::ServerError(e) => return Err(Error::Other(format!("{e:?}"))),
        #[allow(unreachable_patterns)]
        _ => return Err(Error::Other("unsupported Redis value".into())),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_or_unparsable_addresses_are_invalid() {
        let allowed = AllowedHosts::parse(["redis://127.0.0.1:6379"]).unwrap();
        assert_eq!(permitted(&allowed, "redis://127.0.0.1:6379"), Ok(()));
        assert_eq!(permitted(&allowed, "redis://127.0.0.1"), Ok(()));
        assert_eq!(permitted(&allowed, "redis://127.0.0.1:6380"), Err(Error::InvalidAddress));
        assert_eq!(permitted(&allowed, "redis://localhost:6379"), Err(Error::InvalidAddress));
        assert_eq!(permitted(&allowed, "not a url"), Err(Error::InvalidAddress));
        assert_eq!(permitted(&allowed, "http://127.0.0.1:6379"), Err(Error::InvalidAddress));
    }

    #[test]
    fn execute_results_are_flattened_like_spin() {
        let mut out = Vec::new();
        let value = Value::Array(vec![
            Value::Okay,
            Value::Int(3),
            Value::Set(vec![Value::BulkString(b"a".to_vec())]),
            Value::Boolean(true),
            Value::Double(1.5),
        ]);
        flatten(value, &mut out).unwrap();
        assert_eq!(
            out,
            vec![
                RedisResult::Status("OK".into()),
                RedisResult::Int64(3),
                RedisResult::Binary(b"a".to_vec()),
                RedisResult::Int64(1),
                RedisResult::Binary(b"1.5".to_vec()),
            ]
        );
    }
}
