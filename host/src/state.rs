//! What one component instance holds while it serves one request: its WASI
//! contexts, its resource table, its limits, and handles to the capabilities
//! shared by every instance (database pools, Redis connections).

use std::sync::Arc;

use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::allowed_hosts::AllowedHosts;
use crate::postgres::PostgresSettings;
use crate::variables::ComponentVariables;

/// A component's configuration, resolved once at start.
pub struct ComponentContext {
    pub id: String,
    pub allowed_hosts: AllowedHosts,
    pub variables: ComponentVariables,
    pub environment: Vec<(String, String)>,
}

/// Capabilities shared across requests and components, for the whole
/// application (Spin keeps them per process).
pub struct Shared {
    /// One pool per database address.
    pub postgres: crate::postgres::Pools,
    /// How statements behave where Spin versions differ.
    pub postgres_settings: PostgresSettings,
    pub redis: crate::redis::Clients,
}

impl Shared {
    pub fn new(postgres_settings: PostgresSettings) -> Self {
        Self {
            postgres: crate::postgres::Pools::new(postgres_settings.pool_size),
            postgres_settings,
            redis: crate::redis::Clients::default(),
        }
    }
}

pub struct InstanceState {
    pub component: Arc<ComponentContext>,
    pub shared: Arc<Shared>,
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
    pub limits: StoreLimits,
    /// Connections this instance holds open, to cap what one request can take
    /// from the shared pools.
    pub open_postgres: usize,
    pub open_redis: usize,
    hooks: OutboundHttp,
}

impl InstanceState {
    pub fn new(component: Arc<ComponentContext>, shared: Arc<Shared>, max_memory_bytes: usize) -> Self {
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
            limits: wasmtime::StoreLimitsBuilder::new()
                .memory_size(max_memory_bytes)
                .instances(64)
                .tables(64)
                .memories(8)
                .trap_on_grow_failure(false)
                .build(),
            open_postgres: 0,
            open_redis: 0,
            component,
            shared,
            hooks: OutboundHttp,
        }
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
