//! # host
//!
//! A wasmtime host that runs a Spin application from its `spin.toml`, the
//! way `spin up` does, for machines where the `spin` CLI is not available.
//! The components it runs are unchanged Spin components; anything that works
//! here must work under `spin up`, so every behaviour follows Spin's.
//!
//! ## Layout
//! Modules lower in the list use none above them.
//! - [`app`]: [`app::Application`], which ties it together.
//! - [`config`]: `host up`'s flags ([`config::UpFlags`], where every default
//!   lives) and the [`HostConfig`] built from them.
//! - [`server`]: the HTTP server: routing, Spin's headers, limits, logs.
//! - [`engine`]: wasmtime configuration, loading and pre-instantiation; the
//!   linker, where each capability links its own interface.
//! - [`state`]: what one instance (one request) holds: the runtime's WASI
//!   state, and one field per capability.
//! - [`runtime_config`]: reads and checks the runtime config file
//!   (`--runtime-config-file`): its key-value stores, and nothing else.
//! - The capabilities, one module each, as Spin's factors: each owns its
//!   instance state and its interface, and none knows the runtime.
//!   - [`key_value`]: `fermyon:spin/key-value@2.0.0` over Redis-backed
//!     stores from the runtime config, one connection per store.
//!   - [`postgres`]: `spin:postgres/postgres@4.0.0` over pooled connections.
//!   - [`redis`]: `fermyon:spin/redis@2.0.0` over shared connections.
//!   - [`variables`]: application and component variables, and the
//!     `fermyon:spin/variables` interface.
//!   - [`variable_sources`]: `--variable` arguments and the files they name.
//! - [`resource_table`]: the connections (and stores) one instance holds,
//!   per capability.
//! - [`memory_growth`]: each store's limiter; it records the requests whose
//!   instance grew its linear memory (costly under `spin up`).
//! - [`bindings`]: the generated WIT bindings; they name nothing of the host.
//! - [`manifest`]: reads and checks `spin.toml`.
//! - [`template`]: variable names and `{{ name }}` templates, for the
//!   manifest's checks and the variables' rendering.
//! - [`routes`]: Spin's route matching.
//! - [`allowed_hosts`]: `allowed_outbound_hosts` matching.
//! - [`body`]: reads a request body, under a deadline, before it takes an
//!   instance.
//! - [`connection_limit`]: concurrent connections per client address.
//!
//! `scripts/import-cycles.py host/src` checks that no module uses itself
//! through others.

/// A span for one call a component makes through a Spin interface, named
/// as Spin names the same call (`spin_outbound_pg.query`,
/// `spin_outbound_redis.get`, `spin_key_value.get`), made only while spans
/// are exported (`telemetry::exporting`): otherwise `Span::none()`, free.
macro_rules! outbound_span {
    ($name:literal, db.system.name = $system:literal) => {
        if telemetry::exporting() {
            tracing::info_span!($name, otel.kind = "client", db.system.name = $system)
        } else {
            tracing::Span::none()
        }
    };
    ($name:literal, kv.backend = $backend:literal) => {
        if telemetry::exporting() {
            tracing::info_span!($name, otel.kind = "client", kv.backend = $backend)
        } else {
            tracing::Span::none()
        }
    };
}

pub mod allowed_hosts;
pub mod app;
pub mod bindings;
pub mod body;
pub mod config;
pub mod connection_limit;
pub mod engine;
pub mod key_value;
pub mod manifest;
pub mod memory_growth;
pub mod postgres;
pub mod redis;
pub mod resource_table;
pub mod routes;
pub mod runtime_config;
pub mod server;
pub mod state;
pub mod template;
pub mod variable_sources;
pub mod variables;

pub use app::Application;
pub use config::HostConfig;
