//! # native-worker
//!
//! The native half of the user service. Spin components run as Wasm and have
//! no AMQP sockets, so this process owns what must stay native.
//!
//! ## Layout
//! - [`migrate`]: applies `migrations/` (embedded at build time) with refinery.

pub mod migrate;
