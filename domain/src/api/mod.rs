//! The HTTP API's bodies: the request types the handlers parse
//! ([`requests`]) and the `data` they answer with ([`responses`]). With the
//! `openapi` feature, the same types give the OpenAPI document
//! ([`document`]), so the served document cannot drift from what is parsed
//! and emitted. [`endpoints`] is the table of every endpoint: method, path,
//! component and who may call it, declared once.

pub mod endpoints;
pub mod requests;
pub mod responses;

#[cfg(feature = "openapi")]
pub mod document;
#[cfg(feature = "openapi")]
pub mod schema;

/// The largest request body the components read (413 past it).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
