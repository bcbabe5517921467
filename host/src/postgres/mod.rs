//! `spin:postgres/postgres@4.0.0`: a component's database connections, as
//! strict as `spin up` so that what works here works there. One capability,
//! as Spin's `factor-outbound-pg`: it owns its state and its interface, and
//! knows nothing of the runtime that composes it.
//!
//! - `host`: the interface on this capability's state ([`AppState`] for
//!   the process, [`InstanceState`] for one request), and [`add_to_linker`].
//! - `address`: as in Spin, `open` checks the address against the
//!   component's `allowed_outbound_hosts` (every host of a tokio-postgres
//!   configuration, as `postgres://host:port`).
//! - `client`: then hands out a connection from the component's pool of that
//!   address, secured by its `sslmode` (`tls`).
//! - `statement`: statements run as Spin runs them, with Spin's conversions
//!   (`types`) and error shapes (`errors`).
//! - `settings`: what the operator sets ([`PostgresSettings`]: pool size,
//!   empty results).
//!
//! Dropping the resource returns the connection to its pool.

mod address;
mod client;
mod errors;
mod host;
mod settings;
mod statement;
mod tls;
mod types;

pub use client::Pools;
pub use host::{AppState, InstanceState, add_to_linker};
pub use settings::{EmptyResults, InvalidPoolSize, PoolSize, PostgresSettings};
