//! # component-kit
//!
//! What every HTTP component of the user service shares on top of
//! `spin-sdk`. Domain rules live in `user-domain`; this crate is the Spin
//! side: reading requests, writing replies, and reaching PostgreSQL and Redis
//! through Spin's outbound interfaces.
//!
//! ## Layout
//! - [`request`]: the incoming request, its body read with a size cap.
//! - [`reply`]: turning a [`user_domain::envelope::Reply`] into a Spin response,
//!   and the one place a failure is logged.
//! - [`config`]: Spin variables, typed, with documented defaults.
//! - [`db`]: PostgreSQL access that behaves the same on every Spin, and its error mapping.
//! - [`store`]: every SQL statement, as typed operations.
//! - [`cache`]: Redis access that degrades instead of failing.
//! - [`rate_limit`]: fixed-window limits kept in Redis.
//! - [`idempotency`]: `X-Request-ID` handling for mutating requests.
//! - [`users`]: the user record as the API shows it.
//! - [`sessions`]: access and refresh token issuance.
//! - [`auth`]: who is calling (bearer tokens of live sessions, staff, service keys).
//! - [`revocation`]: ended sessions marked for the cached reads.
//! - [`events`]: outbox events in the contract's message shape.
//! - [`audit`]: audit trail events, written with the change they record.
//! - [`log`]: one-line structured logs carrying the correlation ID.
//!
//! Rules for every component: handlers reach the database only through
//! [`store`]; an atomic change is one SQL statement (CTEs chain the inserts),
//! because connections are pooled by the runtime and an explicit transaction
//! left open by a failed request could leak into the next one.

pub mod audit;
pub mod auth;
pub mod cache;
pub mod config;
pub mod db;
pub mod events;
pub mod idempotency;
pub mod log;
pub mod rate_limit;
pub mod reply;
pub mod request;
pub mod revocation;
pub mod sessions;
pub mod store;
pub mod users;

pub use request::ApiRequest;
pub use user_domain::ApiError;
pub use user_domain::envelope::Reply;
