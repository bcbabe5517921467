//! PostgreSQL through `spin:postgres`, used only in the shapes that behave
//! the same on every runtime the components meet (see `../shared/SPIN-FACTS.md`):
//!
//! - **Reads never come back empty.** Spin 4.0.0 to 4.0.2 never answers a
//!   synchronous `query` that matches no row (spinframework/spin#3671). So
//!   [`Db::rows`] wraps every statement that yields rows in an aggregate:
//!   PostgreSQL always answers exactly one row holding a JSON array, which
//!   serde decodes into typed structs.
//! - **No TIMESTAMPTZ column is ever read.** Spin cannot convert one; inside
//!   the JSON array a timestamp is an RFC 3339 string with its offset.
//! - **Errors are classified in both shapes Spin gives them**: structured
//!   (`db-error`, from `execute` and from statements that fail before rows
//!   stream) and flattened to text (errors that arrive while rows stream).
//!
//! SQL itself lives in [`crate::store`]; handlers never see it.

use serde::de::DeserializeOwned;
use spin_sdk::pg4::{self, Connection, DbValue, ParameterValue};
use user_domain::ApiError;

use crate::model::audit::AuditEvent;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("unique constraint violated")]
    UniqueViolation,
    #[error("database answer not understood: {0}")]
    Decode(String),
    #[error("database error: {0}")]
    Other(String),
}

impl DbError {
    /// The error, naming the statement that failed by where its operation
    /// is: an outage or a unique violation says nothing more than it is.
    fn at(self, at: &std::panic::Location<'_>) -> Self {
        let file = at.file().rsplit_once("src/").map_or(at.file(), |(_, file)| file);
        match self {
            DbError::Decode(text) => DbError::Decode(format!("{text} (statement at {file}:{})", at.line())),
            DbError::Other(text) => DbError::Other(format!("{text} (statement at {file}:{})", at.line())),
            other => other,
        }
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unavailable(_) => ApiError::Unavailable("database"),
            other => ApiError::internal(other),
        }
    }
}

/// SQLSTATE classes that mean the database, not the statement, is the problem:
/// 08 "connection exception", 57P0x "operator intervention" (shutdown).
fn is_unavailable_code(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P0")
}

/// Finds the SQLSTATE inside an error Spin flattened to text. Spin writes
/// the error's Rust `Debug` form, where the code appears as `code: "23505"`
/// (its own `DbError`) or `SqlState(E23505)` (tokio-postgres's).
fn sqlstate_in_text(text: &str) -> Option<&str> {
    let after = |marker: &str| text.find(marker).map(|at| &text[at + marker.len()..]).and_then(|rest| rest.get(..5));
    [r#"code: ""#, r#"code: \""#, "SqlState(E"]
        .into_iter()
        .filter_map(after)
        .find(|code| code.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Whether an error's text says the connection, not the statement, failed:
/// a pooled connection the server closed (a restart, an idle timeout, an
/// operator's `pg_terminate_backend`) comes back from tokio-postgres as
/// `Error { kind: Closed, .. }`, or `kind: Io` for a reset socket.
fn connection_lost(text: &str) -> bool {
    let lower = text.to_lowercase();
    [
        "kind: closed",
        "kind: io",
        "connection closed",
        "communicating with the server",
        "broken pipe",
        "connection reset",
    ]
    .iter()
    .any(|marker| lower.contains(marker))
}

fn classify(error: pg4::PgError) -> DbError {
    match error {
        pg4::PgError::ConnectionFailed(text) => DbError::Unavailable(text),
        pg4::PgError::QueryFailed(pg4::QueryError::DbError(db)) => match db.code.as_str() {
            "23505" => DbError::UniqueViolation,
            code if is_unavailable_code(code) => DbError::Unavailable(db.message),
            code => DbError::Other(format!("{} ({code})", db.message)),
        },
        pg4::PgError::QueryFailed(pg4::QueryError::Text(text)) => match sqlstate_in_text(&text) {
            Some("23505") => DbError::UniqueViolation,
            Some(code) if is_unavailable_code(code) => DbError::Unavailable(text),
            _ if connection_lost(&text) => DbError::Unavailable(text),
            _ => DbError::Other(text),
        },
        pg4::PgError::Other(text) if connection_lost(&text) => DbError::Unavailable(text),
        other => DbError::Other(format!("{other:?}")),
    }
}

/// A statement that yields rows: `with` holds common table expressions run
/// first (data-modifying ones included, since PostgreSQL allows those only at
/// the top level), `select` gives the rows. [`Db::rows`] adds the aggregate
/// and, for an [`audited`](Rows::audited) statement, the audit event.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    pub with: &'a str,
    pub select: &'a str,
    audit: Option<&'a AuditEvent>,
}

/// The audit event's two inserts, into the trail and into the outbox, done
/// only when the statement answered a row (it changed something). `{event}`
/// and `{queue}` are the parameters holding the event and its queue.
const AUDIT_CTES: &str = "audit_event AS ( \
         SELECT e, coalesce((e->>'subject_id')::uuid, \
                            (SELECT coalesce(to_jsonb(a)->>'user_id', to_jsonb(a)->>'id')::uuid FROM answer a LIMIT 1) \
                           ) AS subject \
         FROM (SELECT {event}::jsonb AS e) given \
     ), \
     audited AS ( \
         INSERT INTO audit_events (actor_id, actor_kind, subject_id, action, outcome, client_address, \
                                   correlation_id, details) \
         SELECT coalesce((e->>'actor_id')::uuid, CASE WHEN e->>'actor_kind' = 'user' THEN subject END), \
                e->>'actor_kind', subject, e->>'action', e->>'outcome', e->>'client_address', \
                e->>'correlation_id', e->'details' \
         FROM audit_event WHERE EXISTS (SELECT 1 FROM answer) \
         RETURNING id, occurred_at, actor_id, subject_id \
     ), \
     audit_relayed AS ( \
         INSERT INTO outbox (routing_key, payload, priority) \
         SELECT {queue}, e || jsonb_build_object('id', a.id, 'occurred_at', a.occurred_at, \
                                                 'actor_id', a.actor_id, 'subject_id', a.subject_id), 3 \
         FROM audited a, audit_event \
     )";

impl<'a> Rows<'a> {
    pub const fn select(select: &'a str) -> Self {
        Self { with: "", select, audit: None }
    }

    pub const fn with(with: &'a str, select: &'a str) -> Self {
        Self { with, select, audit: None }
    }

    /// Records `event` in the audit trail in the same statement, if the
    /// statement answers at least one row.
    pub const fn audited(mut self, event: &'a AuditEvent) -> Self {
        self.audit = Some(event);
        self
    }

    /// The statement sent (always exactly one row, one JSONB column) for
    /// `bound` parameters of the caller's own.
    fn sql(&self, bound: usize) -> String {
        let with = if self.with.trim().is_empty() { String::new() } else { format!("{}, ", self.with.trim()) };
        let audit = match self.audit {
            Some(_) => format!(
                ", {}",
                AUDIT_CTES
                    .replace("{event}", &format!("${}", bound + 1))
                    .replace("{queue}", &format!("${}", bound + 2))
            ),
            None => String::new(),
        };
        format!(
            "WITH {with}answer AS ({}){audit} SELECT coalesce(jsonb_agg(answer), '[]'::jsonb) AS answer FROM answer",
            self.select
        )
    }
}

/// One connection for the length of a request.
pub struct Db(Connection);

impl Db {
    /// Connects to the `database_url` variable's database.
    pub fn connect() -> Result<Self, ApiError> {
        let url = crate::config::database_url()?;
        Self::connect_to(&url).map_err(ApiError::from)
    }

    pub fn connect_to(url: &str) -> Result<Self, DbError> {
        Connection::open(url).map(Self).map_err(classify)
    }

    /// Every row of `rows`, decoded from its columns by name. A failure
    /// names the statement by where its operation is (`store/users.rs:42`),
    /// so a 500 in the logs says which query failed.
    #[track_caller]
    pub fn rows<T: DeserializeOwned>(&self, rows: Rows<'_>, params: &[ParameterValue]) -> Result<Vec<T>, DbError> {
        let at = std::panic::Location::caller();
        self.rows_at(rows, params).map_err(|e| e.at(at))
    }

    fn rows_at<T: DeserializeOwned>(&self, rows: Rows<'_>, params: &[ParameterValue]) -> Result<Vec<T>, DbError> {
        let sql = rows.sql(params.len());
        let set = match rows.audit {
            Some(event) => {
                let mut all = params.to_vec();
                all.extend([param::json(&event.to_json()), param::text(event.queue.clone())]);
                self.0.query(&sql, &all)
            }
            None => self.0.query(&sql, params),
        }
        .map_err(classify)?;
        match set.rows.first().and_then(|row| row.first()) {
            Some(DbValue::Jsonb(json)) => serde_json::from_slice(json).map_err(|e| DbError::Decode(e.to_string())),
            other => Err(DbError::Decode(format!("expected one JSONB row, got {other:?}"))),
        }
    }

    /// The first row of `rows`, if there is one.
    #[track_caller]
    pub fn first<T: DeserializeOwned>(&self, rows: Rows<'_>, params: &[ParameterValue]) -> Result<Option<T>, DbError> {
        let at = std::panic::Location::caller();
        Ok(self.rows_at(rows, params).map_err(|e| e.at(at))?.into_iter().next())
    }

    /// Runs a statement for its effect; returns the rows it touched.
    #[track_caller]
    pub fn execute(&self, sql: &str, params: &[ParameterValue]) -> Result<u64, DbError> {
        let at = std::panic::Location::caller();
        self.0.execute(sql, params).map_err(classify).map_err(|e| e.at(at))
    }
}

/// Parameter helpers, so call sites read like the SQL they bind.
pub mod param {
    use spin_sdk::pg4::ParameterValue;

    pub fn text(value: impl Into<String>) -> ParameterValue {
        ParameterValue::Str(value.into())
    }

    pub fn opt_text(value: Option<impl Into<String>>) -> ParameterValue {
        value.map_or(ParameterValue::DbNull, |v| ParameterValue::Str(v.into()))
    }

    pub fn uuid(value: impl std::fmt::Display) -> ParameterValue {
        ParameterValue::Uuid(value.to_string())
    }

    pub fn opt_uuid(value: Option<impl std::fmt::Display>) -> ParameterValue {
        value.map_or(ParameterValue::DbNull, |v| ParameterValue::Uuid(v.to_string()))
    }

    pub fn boolean(value: bool) -> ParameterValue {
        ParameterValue::Boolean(value)
    }

    pub fn opt_boolean(value: Option<bool>) -> ParameterValue {
        value.map_or(ParameterValue::DbNull, ParameterValue::Boolean)
    }

    pub fn int(value: i64) -> ParameterValue {
        ParameterValue::Int64(value)
    }

    pub fn int16(value: i16) -> ParameterValue {
        ParameterValue::Int16(value)
    }

    pub fn json(value: &serde_json::Value) -> ParameterValue {
        ParameterValue::Jsonb(value.to_string().into_bytes())
    }

    /// An outbox event's routing key, payload and priority, in the order of
    /// the outbox's `(routing_key, payload, priority)` columns.
    pub fn event(event: &crate::model::event::Event) -> [ParameterValue; 3] {
        [text(event.queue.clone()), json(&event.payload), int16(event.priority)]
    }

    /// Seconds since the Unix epoch, for `to_timestamp($n)`.
    pub fn epoch_secs(secs: u64) -> ParameterValue {
        ParameterValue::Floating64(secs as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_is_wrapped_to_answer_one_row() {
        let plain = Rows::select("SELECT id FROM users WHERE email = $1").sql(1);
        assert_eq!(
            plain,
            "WITH answer AS (SELECT id FROM users WHERE email = $1) \
             SELECT coalesce(jsonb_agg(answer), '[]'::jsonb) AS answer FROM answer"
        );
        let chained = Rows::with("gone AS (DELETE FROM users RETURNING id)", "SELECT id FROM gone").sql(0);
        assert!(chained.starts_with("WITH gone AS (DELETE FROM users RETURNING id), answer AS (SELECT id FROM gone)"));
    }

    #[test]
    fn sqlstates_are_found_in_flattened_errors() {
        let spin_shape = r#"QueryFailed(DbError { code: "23505", message: "duplicate key" })"#;
        assert_eq!(sqlstate_in_text(spin_shape), Some("23505"));
        let escaped = r#"error: "db error { code: \"23505\" }""#;
        assert_eq!(sqlstate_in_text(escaped), Some("23505"));
        let tokio_shape = "Error { kind: Db, cause: Some(DbError { severity: \"ERROR\", code: SqlState(E23505) }) }";
        assert_eq!(sqlstate_in_text(tokio_shape), Some("23505"));
        assert_eq!(sqlstate_in_text("connection reset"), None);
    }

    #[test]
    fn unique_violations_are_recognised_in_both_shapes() {
        let flattened = pg4::PgError::QueryFailed(pg4::QueryError::Text(
            r#"Error { kind: Db, cause: Some(DbError { code: SqlState(E23505), constraint: Some("users_email_key") }) }"#
                .into(),
        ));
        assert!(matches!(classify(flattened), DbError::UniqueViolation));
        let other = pg4::PgError::QueryFailed(pg4::QueryError::Text("code: \"22012\" division by zero".into()));
        assert!(matches!(classify(other), DbError::Other(_)));
        let shutdown = pg4::PgError::QueryFailed(pg4::QueryError::Text("code: \"57P01\" terminating".into()));
        assert!(matches!(classify(shutdown), DbError::Unavailable(_)));
    }

    #[test]
    fn a_connection_the_server_closed_is_an_outage_not_a_bug() {
        // What Spin 4.1 answered when PostgreSQL restarted under load.
        for text in ["Error { kind: Closed, cause: None }", "Error { kind: Io, cause: Some(Os { code: 104 }) }"] {
            let closed = pg4::PgError::QueryFailed(pg4::QueryError::Text(text.into()));
            assert!(matches!(classify(closed), DbError::Unavailable(_)), "{text}");
            let other = pg4::PgError::Other(text.into());
            assert!(matches!(classify(other), DbError::Unavailable(_)), "{text}");
        }
        let syntax = pg4::PgError::QueryFailed(pg4::QueryError::Text("syntax error at or near \"SELEC\"".into()));
        assert!(matches!(classify(syntax), DbError::Other(_)));
    }
}
