//! # host
//!
//! A wasmtime host that runs a Spin application from its `spin.toml`, the
//! way `spin up` does, for machines where the `spin` CLI is not available.
//! The components it runs are unchanged Spin components; anything that works
//! here must work under `spin up`, so every behaviour follows Spin's.
//!
//! ## Layout
//! - [`manifest`]: reads and checks `spin.toml`.
//! - [`routes`]: Spin's route matching.
//! - [`variables`]: application and component variables, and the
//!   `fermyon:spin/variables` interface.
//! - [`allowed_hosts`]: `allowed_outbound_hosts` matching.
//! - [`postgres`]: `spin:postgres/postgres@4.0.0` over pooled connections.
//! - [`redis`]: `fermyon:spin/redis@2.0.0` over shared connections.
//! - [`bindings`]: the generated WIT bindings.
//! - [`state`]: what one instance (one request) holds.
//! - [`engine`]: wasmtime configuration, loading and pre-instantiation.
//! - [`body`]: reads a request body, under a deadline, before it takes an
//!   instance.
//! - [`connection_limit`]: concurrent connections per client address.
//! - [`server`]: the HTTP server: routing, Spin's headers, limits, logs.
//! - [`app`]: [`app::Application`], which ties it together.

pub mod allowed_hosts;
pub mod app;
pub mod bindings;
pub mod body;
pub mod connection_limit;
pub mod engine;
pub mod manifest;
pub mod postgres;
pub mod redis;
pub mod routes;
pub mod server;
pub mod state;
pub mod variables;

pub use app::{Application, HostConfig};
