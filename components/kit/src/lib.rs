//! # component-kit
//!
//! What every HTTP component of the user service shares on top of
//! `spin-sdk`. Domain rules live in `user-domain`; this crate is the Spin
//! side: reading requests, writing replies, and reaching PostgreSQL and Redis
//! through Spin's outbound interfaces.
//!
//! ## Layout, in layers
//! Each layer uses only the layers above it in this list, never one below.
//! - Ground: [`config`] (every Spin variable, typed, with documented
//!   defaults), [`log`] (one-line structured logs with the correlation ID),
//!   [`request`] (the incoming request, its body read with a size cap).
//! - [`model`]: plain data: audit and outbox events, the user record, sessions.
//! - [`db`]: PostgreSQL access that behaves the same on every Spin, and its
//!   error mapping; [`cache`]: Redis that degrades instead of failing.
//! - [`store`]: every SQL statement, as typed operations.
//! - [`auth`] (who is calling: tokens of live sessions, staff, service
//!   keys), [`revocation`] (ended sessions marked for the cached reads),
//!   [`rate_limit`] (every limit, fixed windows in Redis), [`user_cache`]
//!   (dropping a user's cached records).
//! - Endpoint helpers: [`reply`] (a handler's result as a Spin response, and
//!   the one place a failure is logged), [`idempotency`] (`X-Request-ID`),
//!   [`audit_trail`] (the trail's pages), and [`router`]: the one router,
//!   which dispatches a component's requests from the endpoint table.
//!
//! Rules for every component: handlers reach the database only through
//! [`store`]; an atomic change is one SQL statement (CTEs chain the inserts),
//! because connections are pooled by the runtime and an explicit transaction
//! left open by a failed request could leak into the next one.

pub mod audit_trail;
pub mod auth;
pub mod cache;
pub mod config;
pub mod db;
pub mod idempotency;
pub mod log;
pub mod model;
pub mod rate_limit;
pub mod reply;
pub mod request;
pub mod revocation;
pub mod router;
pub mod store;
pub mod user_cache;

pub use request::ApiRequest;
pub use user_domain::ApiError;
pub use user_domain::envelope::Reply;
