//! Reading a JSON request body field by field, collecting every problem
//! instead of stopping at the first, so a client learns all it must fix from
//! one answer. Unknown fields are ignored, as the contract asks.

use std::fmt::Display;

use serde_json::{Map, Value};

use crate::error::{ApiError, FieldErrors};

/// A field that may be absent, explicitly `null`, or set (PATCH semantics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Patch<T> {
    Absent,
    Null,
    Value(T),
}

/// A JSON object being read; problems accumulate until [`Fields::finish`].
pub struct Fields<'a> {
    object: &'a Map<String, Value>,
    errors: FieldErrors,
}

impl<'a> Fields<'a> {
    /// The body must be a JSON object; anything else is a validation failure.
    pub fn of(body: &'a Value) -> Result<Self, ApiError> {
        match body {
            Value::Object(object) => Ok(Self { object, errors: FieldErrors::new() }),
            _ => Err(ApiError::validation_of("body", "must be a JSON object")),
        }
    }

    pub fn required_str(&mut self, name: &str) -> Option<&'a str> {
        match self.object.get(name) {
            None | Some(Value::Null) => self.problem(name, "is required"),
            Some(Value::String(s)) => return Some(s.as_str()),
            Some(_) => self.problem(name, "must be a string"),
        }
        None
    }

    pub fn optional_str(&mut self, name: &str) -> Patch<&'a str> {
        match self.object.get(name) {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Null,
            Some(Value::String(s)) => Patch::Value(s.as_str()),
            Some(_) => {
                self.problem(name, "must be a string or null");
                Patch::Absent
            }
        }
    }

    pub fn optional_bool(&mut self, name: &str) -> Option<bool> {
        match self.object.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.problem(name, "must be true or false");
                None
            }
        }
    }

    /// The array at `name`, which must be present.
    pub fn required_array(&mut self, name: &str) -> Option<&'a Vec<Value>> {
        match self.object.get(name) {
            None | Some(Value::Null) => self.problem(name, "is required"),
            Some(Value::Array(items)) => return Some(items),
            Some(_) => self.problem(name, "must be an array"),
        }
        None
    }

    /// The nested object at `name`, if present and an object.
    pub fn optional_object(&mut self, name: &str) -> Option<&'a Map<String, Value>> {
        match self.object.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => Some(o),
            Some(_) => {
                self.problem(name, "must be an object");
                None
            }
        }
    }

    /// An optional string member parsed by `parse`: absent and null are
    /// both `None`; a problem (not a string, or refused by `parse`) is
    /// recorded against `name`.
    pub fn optional<T, E: Display>(&mut self, name: &str, parse: impl FnOnce(&str) -> Result<T, E>) -> Option<T> {
        match self.optional_str(name) {
            Patch::Value(raw) => self.check(name, parse(raw)),
            Patch::Absent | Patch::Null => None,
        }
    }

    /// Records the error of a parse (if any) against `name`.
    pub fn check<T, E: Display>(&mut self, name: &str, parsed: Result<T, E>) -> Option<T> {
        parsed.map_err(|e| self.problem(name, e)).ok()
    }

    /// Records several problems of one parse against `name`.
    pub fn check_all<T, E: Display>(&mut self, name: &str, parsed: Result<T, Vec<E>>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(problems) => {
                for problem in problems {
                    self.problem(name, problem);
                }
                None
            }
        }
    }

    pub fn problem(&mut self, name: &str, problem: impl Display) {
        self.errors.entry(name.to_owned()).or_default().push(problem.to_string());
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(self.errors)) }
    }
}

/// Turns a `parse` that passed validation into its value: a missing value
/// after [`Fields::finish`] succeeded would be a bug of `parse` itself.
pub fn complete<T>(value: Option<T>) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::internal("validation passed without every required field"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn all_problems_are_collected_and_unknown_fields_ignored() {
        let body = json!({"email": 5, "extra": "ignored", "flag": "yes"});
        let mut fields = Fields::of(&body).unwrap();
        assert_eq!(fields.required_str("email"), None);
        assert_eq!(fields.required_str("password"), None);
        assert_eq!(fields.optional_bool("flag"), None);
        let Err(ApiError::Validation(details)) = fields.finish() else { panic!("expected validation error") };
        assert_eq!(details["email"], vec!["must be a string"]);
        assert_eq!(details["password"], vec!["is required"]);
        assert_eq!(details["flag"], vec!["must be true or false"]);
        assert!(!details.contains_key("extra"));
    }

    #[test]
    fn optional_strings_distinguish_absent_null_and_set() {
        let body = json!({"a": null, "b": "x"});
        let mut fields = Fields::of(&body).unwrap();
        assert_eq!(fields.optional_str("a"), Patch::Null);
        assert_eq!(fields.optional_str("b"), Patch::Value("x"));
        assert_eq!(fields.optional_str("c"), Patch::Absent);
        assert!(fields.finish().is_ok());
    }

    #[test]
    fn a_non_object_body_is_refused() {
        assert!(matches!(Fields::of(&json!([1, 2])), Err(ApiError::Validation(_))));
    }
}
