//! Request bodies as the handlers receive them: each type is both what its
//! `parse` returns (every problem collected, as `validation::Fields` does) and, with
//! the `openapi` feature, the schema the OpenAPI document shows. A field
//! added here must be read by `parse` (the struct literal does not compile
//! otherwise) and shows up in the document without anything else changing.

mod account;
mod auth;

pub use account::*;
pub use auth::*;
