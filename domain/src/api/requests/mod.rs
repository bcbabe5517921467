//! Request bodies as the handlers receive them: each type is both what its
//! `parse` returns (every problem collected, as `validation::Fields` does) and, with
//! the `openapi` feature, the schema the OpenAPI document shows. A field
//! added here must be read by `parse` (the struct literal does not compile
//! otherwise) and shows up in the document without anything else changing.
//! One exception: `PreferencesPatch` is a merge patch, read whole by its
//! `apply`; its fields are only its schema, and the document's test of
//! every request field holds it to what `apply` reads.

mod account;
mod auth;
mod passkeys;
mod preferences;

pub use account::*;
pub use auth::*;
pub use passkeys::*;
pub use preferences::*;
