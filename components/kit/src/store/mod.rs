//! Every SQL statement the components run, one typed operation each
//! (`users::by_id`, `sessions::rotate`, `outbox::append`, …). Handlers call
//! these and never see SQL or parameter numbers; each statement sits next to
//! the parameters it binds, so the two cannot drift apart.
//!
//! Rules every operation here follows, because the components must run
//! unchanged on Spin 4.0.x, on a Spin with the fix for its empty-result hang,
//! and on this project's host:
//! - A statement that yields rows goes through [`Db::rows`](crate::db::Db::rows),
//!   which always answers one row; plain `execute` is for the rest.
//! - An atomic change is one statement (CTEs chain the inserts), never an
//!   explicit transaction: connections are pooled by the runtime, so a
//!   transaction left open by a failed request could leak into the next.
//! - Timestamps are read only inside the JSON answer (never as a TIMESTAMPTZ
//!   column) and written with `now()` or `to_timestamp($n)`.

pub mod audit;
pub mod devices;
pub mod email_codes;
pub mod idempotency;
pub mod mfa;
pub mod outbox;
pub mod passkeys;
pub mod preferences;
pub mod sessions;
pub mod staff;
pub mod users;

/// A row holding only an id, for statements that say which rows they touched.
#[derive(serde::Deserialize)]
struct Id {
    id: user_domain::UserId,
}
