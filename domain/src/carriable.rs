//! JSON the rest of the pipeline can carry. A request body is stored in
//! PostgreSQL (TEXT and JSONB columns, the outbox) and read back by the
//! native worker, so a value is refused at the edge, with a 400 naming its
//! field, when a later stage could not take it:
//! - a NUL character: PostgreSQL rejects 0x00 in TEXT and JSONB alike;
//! - a number beyond ±1e300: JSONB keeps numbers as exact decimals, and a
//!   value near `f64::MAX` comes back as a 309-digit integer that may no
//!   longer parse as a finite `f64`;
//! - nesting deeper than [`MAX_DEPTH`]: no part of the API needs it, and
//!   recursive readers should not have to defend against it.

use serde_json::Value;

use crate::error::ApiError;

/// Arrays and objects within arrays and objects, counting the body itself.
pub const MAX_DEPTH: usize = 32;

/// The largest magnitude a number may have.
pub const MAX_MAGNITUDE: f64 = 1e300;

/// Checks a whole request body; the error names the first field at fault
/// as a path (`metadata.n`, `tags[2]`).
pub fn check(body: &Value) -> Result<(), ApiError> {
    walk(body, "body", 1)
}

/// Checks one text value outside a body (a query parameter, a header).
pub fn check_text(field: &str, text: &str) -> Result<(), ApiError> {
    if text.contains('\0') { Err(ApiError::validation_of(field, NUL)) } else { Ok(()) }
}

const NUL: &str = "must not contain NUL characters";

fn join(path: &str, key: &str) -> String {
    if path == "body" { key.to_owned() } else { format!("{path}.{key}") }
}

fn walk(value: &Value, path: &str, depth: usize) -> Result<(), ApiError> {
    match value {
        Value::String(text) => check_text(path, text),
        Value::Number(number) => match number.as_f64() {
            Some(x) if x.is_finite() && x.abs() <= MAX_MAGNITUDE => Ok(()),
            _ => Err(ApiError::validation_of(path, "must be a number between -1e300 and 1e300")),
        },
        Value::Array(_) | Value::Object(_) if depth > MAX_DEPTH => {
            Err(ApiError::validation_of(path, &format!("nests deeper than {MAX_DEPTH} levels")))
        }
        Value::Array(items) => {
            items.iter().enumerate().try_for_each(|(i, item)| walk(item, &format!("{path}[{i}]"), depth + 1))
        }
        Value::Object(fields) => fields.iter().try_for_each(|(key, item)| {
            let at = join(path, key);
            check_text(&at, key)?;
            walk(item, &at, depth + 1)
        }),
        Value::Null | Value::Bool(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn field_of(error: ApiError) -> String {
        match error {
            ApiError::Validation(details) => details.keys().next().cloned().unwrap_or_default(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn ordinary_bodies_pass() {
        let body = json!({"name": "Ada", "metadata": {"n": 1.5e299, "tags": ["a", 1, null, true]}, "priority": -3});
        assert!(check(&body).is_ok());
    }

    #[test]
    fn a_nul_anywhere_is_refused_with_its_path() {
        assert_eq!(field_of(check(&json!({"name": "a\u{0}b"})).unwrap_err()), "name");
        assert_eq!(field_of(check(&json!({"metadata": {"k": ["ok", "x\u{0}"]}})).unwrap_err()), "metadata.k[1]");
        assert_eq!(field_of(check(&json!({"metadata": {"bad\u{0}key": 1}})).unwrap_err()), "metadata.bad\u{0}key");
        assert!(check_text("search", "\0").is_err() && check_text("search", "fine").is_ok());
    }

    #[test]
    fn numbers_the_database_cannot_give_back_are_refused() {
        let body: Value = serde_json::from_str(r#"{"metadata": {"n": 1.7976931348623157e308}}"#).unwrap();
        assert_eq!(field_of(check(&body).unwrap_err()), "metadata.n");
        assert!(check(&json!({"n": -1e301})).is_err());
        assert!(check(&json!({"n": u64::MAX, "m": i64::MIN, "f": 1e300})).is_ok());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut deep = json!(1);
        for _ in 0..MAX_DEPTH {
            deep = json!([deep]);
        }
        assert!(check(&deep).is_ok(), "{MAX_DEPTH} levels are allowed");
        assert!(check(&json!([deep])).is_err());
    }
}
