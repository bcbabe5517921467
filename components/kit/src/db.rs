//! PostgreSQL through `spin:postgres`. Errors are sorted into what callers
//! act on: the database is unreachable (503), a unique constraint was hit
//! (usually a 409), or something else went wrong (500, cause logged).

use spin_sdk::pg4::{self, Connection, ParameterValue, RowSet};
use user_domain::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("unique constraint {constraint:?} violated")]
    UniqueViolation { constraint: Option<String> },
    #[error("database error: {0}")]
    Other(String),
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unavailable(_) => ApiError::Unavailable("database"),
            other => ApiError::internal(other),
        }
    }
}

fn classify(error: pg4::PgError) -> DbError {
    match error {
        pg4::PgError::ConnectionFailed(text) => DbError::Unavailable(text),
        pg4::PgError::QueryFailed(pg4::QueryError::DbError(db)) if db.code == "23505" => {
            let constraint = db.extras.iter().find(|(k, _)| k == "constraint").map(|(_, v)| v.clone());
            DbError::UniqueViolation { constraint }
        }
        pg4::PgError::QueryFailed(pg4::QueryError::DbError(db)) => {
            // Class 08 is "connection exception", 57P0x "operator intervention" (shutdown).
            if db.code.starts_with("08") || db.code.starts_with("57P0") {
                DbError::Unavailable(db.message)
            } else {
                DbError::Other(format!("{} ({})", db.message, db.code))
            }
        }
        pg4::PgError::QueryFailed(pg4::QueryError::Text(text)) => {
            let lowered = text.to_lowercase();
            if lowered.contains("connection closed") || lowered.contains("communicating with the server") {
                DbError::Unavailable(text)
            } else {
                DbError::Other(text)
            }
        }
        other => DbError::Other(format!("{other:?}")),
    }
}

/// One connection for the length of a request.
pub struct Db(Connection);

impl Db {
    /// Connects to the `database_url` variable's database.
    pub fn connect() -> Result<Self, ApiError> {
        let url = crate::config::var("database_url")?;
        Self::connect_to(&url).map_err(ApiError::from)
    }

    pub fn connect_to(url: &str) -> Result<Self, DbError> {
        Connection::open(url).map(Self).map_err(classify)
    }

    pub fn query(&self, sql: &str, params: &[ParameterValue]) -> Result<RowSet, DbError> {
        self.0.query(sql, params).map_err(classify)
    }

    pub fn execute(&self, sql: &str, params: &[ParameterValue]) -> Result<u64, DbError> {
        self.0.execute(sql, params).map_err(classify)
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

    pub fn boolean(value: bool) -> ParameterValue {
        ParameterValue::Boolean(value)
    }

    pub fn int(value: i64) -> ParameterValue {
        ParameterValue::Int64(value)
    }

    pub fn json(value: &serde_json::Value) -> ParameterValue {
        ParameterValue::Jsonb(value.to_string().into_bytes())
    }
}
