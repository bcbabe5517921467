//! # user-domain
//!
//! The user service's domain logic, shared by every Spin component and by the
//! native worker. It knows nothing about Spin, HTTP libraries or databases, so
//! it compiles natively (fast unit tests) and to `wasm32-wasip2` alike.
//!
//! ## Layout
//! - [`amr`]: how a session was signed in (RFC 8176 methods), judged for staff powers.
//! - [`api`]: request bodies as handlers parse them, the `data` of answers,
//!   and (feature `openapi`) the OpenAPI document built from them.
//! - [`email`], [`name`], [`password`], [`push_token`], [`user_id`], [`device`]: parsed
//!   input types. Handlers only ever see values that are already valid.
//! - [`validation`]: collects per-field problems into the envelope's `details`.
//! - [`preferences`]: notification preferences (categories, channels, quiet
//!   hours in the user's time zone, locale), the categories' configuration,
//!   and the worker's questions of them. Their request bodies are in [`api`].
//! - [`merge_patch`]: JSON Merge Patch (RFC 7396), how preferences are PATCHed.
//! - [`client_address`]: the client's address behind trusted proxies (`X-Forwarded-For`).
//! - [`carriable`]: JSON the database and the worker can carry (no NUL, bounded numbers and depth).
//! - [`envelope`]: the JSON shape every response has.
//! - [`error`]: the one place where a failure becomes a status, a code and a message.
//! - [`hashing`]: Argon2id password hashing in PHC form.
//! - [`totp`]: RFC 6238 one-time codes for the second factor.
//! - [`signing_keys`]: Ed25519 keys of access tokens, their `kid`s and JWKs.
//! - [`tokens`]: JWT access tokens and opaque refresh tokens; `jws` (private)
//!   splits and verifies them.
//! - [`idempotency`]: how `X-Request-ID` keys and requests are identified.
//! - [`sealed`]: idempotent answers encrypted under a key only the same request rebuilds.
//! - [`secrets`]: random tokens, digests and constant-time comparison.
//! - [`setting_groups`]: settings read together in one variable read (the hot paths' host calls).
//! - [`cache_keys`]: Redis key names the components and the worker share.
//! - [`cached_record`]: the owner's cached entries, with the sessions that ended lately.
//! - [`correlation`]: the `X-Correlation-ID` rule.
//! - [`webauthn`]: passkeys, the relying party's side of WebAuthn (options, registration, assertions).
//! - [`trace_context`]: W3C `traceparent`, carried from a request to the messages it causes.

pub mod amr;
pub mod api;
pub mod cache_keys;
pub mod cached_record;
pub mod carriable;
pub mod client_address;
pub mod correlation;
pub mod device;
pub mod email;
pub mod email_code;
pub mod envelope;
pub mod error;
pub mod hashing;
pub mod idempotency;
mod jws;
pub mod merge_patch;
pub mod name;
pub mod password;
pub mod preferences;
pub mod push_token;
pub mod sealed;
pub mod secrets;
pub mod setting_groups;
pub mod signing_keys;
pub mod tokens;
pub mod totp;
pub mod trace_context;
pub mod user_id;
pub mod validation;
pub mod webauthn;

pub use email::Email;
pub use envelope::Envelope;
pub use error::ApiError;
pub use error::FieldErrors;
pub use name::UserName;
pub use password::Password;
pub use push_token::PushToken;
pub use user_id::UserId;
