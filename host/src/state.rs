//! The runtime's side of one component instance: what it holds while it
//! serves one request. WASI and WASI HTTP contexts, the resource table they
//! share and the store's limits are the runtime's own; each Spin capability
//! (`key_value`, `postgres`, `redis`, `variables`) keeps its state in a field
//! of its own type, and links its interface against that field alone, as
//! Spin's factors do. This module composes them and knows none of their
//! insides.

use std::collections::BTreeSet;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::allowed_hosts::AllowedHosts;
use crate::key_value;
use crate::memory_growth::{Limiter, MemoryGrowth};
use crate::postgres::{self, PostgresSettings};
use crate::redis;
use crate::variables::{self, ComponentVariables};

/// A component's configuration, resolved once at start.
pub struct ComponentContext {
    pub id: Arc<str>,
    pub allowed_hosts: Arc<AllowedHosts>,
    /// The key-value store labels it declares, each configured.
    pub key_value_stores: Arc<BTreeSet<String>>,
    pub variables: Arc<ComponentVariables>,
    pub environment: Vec<(String, String)>,
}

/// Capabilities shared across requests and components, for the whole
/// application (Spin keeps them per process).
pub struct Shared {
    pub key_value: Arc<key_value::AppState>,
    pub postgres: Arc<postgres::AppState>,
    pub redis: Arc<redis::AppState>,
    /// Requests whose instance grew its linear memory.
    pub memory_growth: Arc<MemoryGrowth>,
}

impl Shared {
    pub fn new(postgres_settings: PostgresSettings, key_value: Arc<key_value::AppState>) -> Self {
        Self {
            key_value,
            postgres: Arc::new(postgres::AppState::new(postgres_settings)),
            redis: Arc::new(redis::AppState::default()),
            memory_growth: Arc::new(MemoryGrowth::default()),
        }
    }
}

pub struct InstanceState {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
    /// The store's limits, noting growth (`crate::memory_growth`).
    pub limits: Limiter,
    /// `fermyon:spin/key-value`: the stores this instance opened.
    key_value: key_value::InstanceState,
    /// `spin:postgres/postgres`: the connections this instance holds.
    postgres: postgres::InstanceState,
    /// `fermyon:spin/redis`: the connections this instance holds.
    redis: redis::InstanceState,
    /// `fermyon:spin/variables`: its component's variables.
    variables: variables::InstanceState,
    hooks: OutboundHttp,
}

impl InstanceState {
    /// The state of an instance of `component` serving a request for `path`.
    pub fn new(component: &ComponentContext, shared: &Shared, max_memory_bytes: usize, path: &str) -> Self {
        let mut wasi = WasiCtx::builder();
        // Spin gives components stdout and stderr (it logs them) and the
        // manifest's `environment`; no arguments, no files.
        wasi.inherit_stdout().inherit_stderr();
        for (key, value) in &component.environment {
            wasi.env(key, value);
        }
        Self {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limits: Limiter::new(
                wasmtime::StoreLimitsBuilder::new()
                    .memory_size(max_memory_bytes)
                    .instances(64)
                    .tables(64)
                    .memories(8)
                    .trap_on_grow_failure(false)
                    .build(),
                component.id.clone(),
                path.to_owned(),
                shared.memory_growth.clone(),
            ),
            key_value: key_value::InstanceState::new(shared.key_value.clone(), component.key_value_stores.clone()),
            postgres: postgres::InstanceState::new(
                shared.postgres.clone(),
                component.id.clone(),
                component.allowed_hosts.clone(),
            ),
            redis: redis::InstanceState::new(shared.redis.clone(), component.allowed_hosts.clone()),
            variables: variables::InstanceState::new(component.variables.clone()),
            hooks: OutboundHttp,
        }
    }

    /// The key-value capability's part, for its interface's linker.
    pub fn key_value(&mut self) -> &mut key_value::InstanceState {
        &mut self.key_value
    }

    /// The Postgres capability's part, for its interface's linker.
    pub fn postgres(&mut self) -> &mut postgres::InstanceState {
        &mut self.postgres
    }

    /// The Redis capability's part, for its interface's linker.
    pub fn redis(&mut self) -> &mut redis::InstanceState {
        &mut self.redis
    }

    /// The variables capability's part, for its interface's linker.
    pub fn variables(&mut self) -> &mut variables::InstanceState {
        &mut self.variables
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// Outbound HTTP. The manifest loader refuses `http`/`https` entries in
/// `allowed_outbound_hosts`, so every component's list denies all HTTP, and
/// Spin answers a denied request with `HttpRequestDenied`; so does this.
struct OutboundHttp;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                )>,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}
