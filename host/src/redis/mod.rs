//! `fermyon:spin/redis@2.0.0`: a component's Redis connections. One
//! capability, as Spin's `factor-outbound-redis`: it owns its state and its
//! interface, and knows nothing of the runtime that composes it.
//!
//! - `host`: the interface on this capability's state ([`AppState`] for the
//!   process, [`InstanceState`] for one request), and [`add_to_linker`].
//! - `address`: as in Spin, `open` refuses an address that does not parse
//!   or that the component's `allowed_outbound_hosts` does not allow
//!   (`invalid-address`).
//! - `client`: connections are shared per address across requests: a
//!   multiplexed connection manager that reconnects by itself after Redis
//!   comes back, so a request pays no handshake and an outage heals without
//!   a restart. After a failed connection attempt, opens fail at once for a
//!   second instead of each waiting out its own timeout; the guest sees the
//!   same `other` error.
//! - `types`: Redis replies and errors in the interface's shapes.

mod address;
mod client;
mod host;
mod types;

pub use client::Clients;
pub use host::{AppState, InstanceState, add_to_linker};
