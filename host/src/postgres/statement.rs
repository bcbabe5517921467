//! Running a guest's statement the way Spin 4.0.x runs it, so the host
//! fails wherever `spin up` would:
//!
//! - `query` prepares and binds the statement, then streams its rows. What
//!   fails before the stream starts comes back structured; what fails while
//!   rows stream (a server error, or a value Spin cannot convert, such as a
//!   TIMESTAMPTZ column) comes back flattened to text (see [`super::errors`]).
//! - A `query` that streams no row at all never returns under Spin 4.0.0 to
//!   4.0.2 (spinframework/spin#3671: it waits for column metadata that only a
//!   first row brings). The host cannot usefully hang, so it fails the query
//!   with a text naming the statement, unless told to answer as a fixed Spin
//!   does ([`EmptyResults::Columns`]: no rows, the prepared statement's columns).
//! - `execute` is a plain tokio-postgres `execute`, every failure structured.

use futures::TryStreamExt;

use super::errors;
use super::settings::EmptyResults;
use super::types::{self, Param};
use crate::bindings::pg_wit::{Error, QueryError, RowSet};

pub async fn query(
    client: &tokio_postgres::Client,
    statement: &str,
    params: &[Param],
    empty_results: EmptyResults,
) -> Result<RowSet, Error> {
    let prepared = client.prepare(statement).await.map_err(|e| errors::structured(&e))?;
    let stream = client.query_raw(&prepared, types::as_refs(params)).await.map_err(|e| errors::structured(&e))?;
    futures::pin_mut!(stream);
    let mut rows = Vec::new();
    while let Some(row) = stream.try_next().await.map_err(|e| errors::flattened(&e))? {
        rows.push(types::row(&row).map_err(|e| errors::row_conversion(&e))?);
    }
    if rows.is_empty() && empty_results == EmptyResults::Fail {
        return Err(empty_result(statement));
    }
    Ok(RowSet { columns: types::columns(prepared.columns()), rows })
}

pub async fn execute(client: &tokio_postgres::Client, statement: &str, params: &[Param]) -> Result<u64, Error> {
    client.execute(statement, &types::as_refs(params)).await.map_err(|e| errors::structured(&e))
}

/// The loud failure that stands in for Spin 4.0.x's silent hang.
fn empty_result(statement: &str) -> Error {
    Error::QueryFailed(QueryError::Text(format!(
        "the query `{statement}` returned no rows, and Spin 4.0.0–4.0.2 never answers a synchronous `query` \
         that returns no rows: the request hangs (spinframework/spin#3671). Make the statement always return a \
         row (an aggregate such as `jsonb_agg`, or `RETURNING` inside a CTE), or start the host with \
         `--postgres-empty-results columns` to answer as a Spin with the fix does."
    )))
}
