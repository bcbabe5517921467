//! Database errors in the shapes Spin gives them, measured under `spin up`
//! (4.1.0-pre0, whose `query` is 4.0.2's), so a component's error handling
//! that works here works there:
//!
//! - [`structured`]: `execute`, and a `query` that fails before any row
//!   streams (parse, bind, planning: a syntax error, an unknown table, a
//!   constant `1 / 0`), give `query-failed(db-error{…})` whose `as-text` is
//!   tokio-postgres's `Debug` of the error. Errors that do not come from the
//!   server (a parameter of the wrong type) are `query-failed(text)` with
//!   that same `Debug` text.
//! - [`flattened`]: a `query` whose error arrives while rows stream (a unique
//!   violation in `INSERT … RETURNING`, a check constraint in
//!   `UPDATE … RETURNING`, a division by zero met in the data) gives
//!   `query-failed(text)` holding the `Debug` of the structured error:
//!   `Error::QueryFailed(QueryError::DbError(DbError { as-text: "…", severity:
//!   "ERROR", code: "23505", … }))`. The SQLSTATE survives only inside that
//!   text, so a component has to look for it there too.
//! - [`row_conversion`]: a value Spin cannot convert (a TIMESTAMPTZ column)
//!   is flattened the same way, around the conversion error's `anyhow` text.
//!
//! Spin's texts are `anyhow`'s `Debug` (the error, then `Caused by:` and its
//! sources), plus a stack backtrace when Rust backtraces are enabled in its
//! environment. The host writes the same text without the backtrace: one
//! captured and symbolized per database error would cost every request that
//! meets one, and no component can depend on its content.

use crate::bindings::pg_wit::{DbError, Error, QueryError};

/// `query-failed` for an error met before any row streamed, or from `execute`.
pub fn structured(error: &tokio_postgres::Error) -> Error {
    let as_text = format!("{error:?}");
    Error::QueryFailed(match error.as_db_error() {
        None => QueryError::Text(as_text),
        Some(db) => QueryError::DbError(DbError {
            as_text,
            severity: db.severity().to_owned(),
            code: db.code().code().to_owned(),
            message: db.message().to_owned(),
            detail: db.detail().map(str::to_owned),
            extras: extras(db),
        }),
    })
}

/// `query-failed(text)` for an error that arrived while rows streamed.
pub fn flattened(error: &tokio_postgres::Error) -> Error {
    flatten(structured(error))
}

/// `query-failed(text)` for a row value that does not convert to its WIT type.
pub fn row_conversion(error: &tokio_postgres::Error) -> Error {
    flatten(Error::QueryFailed(QueryError::Text(chain_text(error))))
}

/// The guest's error as Spin flattens it (its `Display`, which the bindings
/// generate as its `Debug`).
fn flatten(error: Error) -> Error {
    Error::QueryFailed(QueryError::Text(chain_text(&error)))
}

/// An error and its sources as `anyhow`'s `Debug` prints them, without the
/// backtrace: `error\n\nCaused by:\n    source` for one source, and
/// `    0: …`, `    1: …` for several.
pub fn chain_text(error: &(dyn std::error::Error + 'static)) -> String {
    use std::fmt::Write;
    let mut text = error.to_string();
    let sources: Vec<String> = std::iter::successors(error.source(), |e| e.source()).map(|e| e.to_string()).collect();
    if !sources.is_empty() {
        text.push_str("\n\nCaused by:");
    }
    let numbered = sources.len() > 1;
    for (index, source) in sources.iter().enumerate() {
        let prefix = if numbered { format!("{index:>5}: ") } else { "    ".to_owned() };
        let continuation = " ".repeat(prefix.len());
        for (line_number, line) in source.lines().enumerate() {
            let lead = if line_number == 0 { prefix.as_str() } else { continuation.as_str() };
            let _ = write!(text, "\n{lead}{line}");
        }
    }
    text
}

/// The server's optional fields, under Spin's names and in Spin's order.
fn extras(db: &tokio_postgres::error::DbError) -> Vec<(String, String)> {
    let line = db.line().map(|line| line.to_string());
    [
        ("column", db.column()),
        ("constraint", db.constraint()),
        ("routine", db.routine()),
        ("hint", db.hint()),
        ("table", db.table()),
        ("datatype", db.datatype()),
        ("schema", db.schema()),
        ("file", db.file()),
        ("line", line.as_deref()),
        ("where_", db.where_()),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|value| (name.to_owned(), value.to_owned())))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Middle);
    #[derive(Debug, thiserror::Error)]
    #[error("middle")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn error_chains_read_as_anyhow_prints_them_without_a_backtrace() {
        let one = Middle(std::io::Error::other("inner"));
        assert_eq!(chain_text(&one), "middle\n\nCaused by:\n    inner");
        let two = Outer(Middle(std::io::Error::other("inner")));
        assert_eq!(chain_text(&two), "outer\n\nCaused by:\n    0: middle\n    1: inner");
        assert_eq!(chain_text(&std::io::Error::other("alone")), "alone");
    }
}
