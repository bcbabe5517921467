//! A person's display name: what templates greet them with, so it must be
//! printable and of a sane length.

use std::fmt;

/// A trimmed name of 1 to 100 characters with no control characters.
#[derive(Clone, PartialEq, Eq)]
pub struct UserName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error("is required")]
    Empty,
    #[error("must be at most 100 characters")]
    TooLong,
    #[error("must not contain control characters")]
    ControlCharacters,
}

impl UserName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(NameError::TooLong);
        }
        if name.chars().any(char::is_control) {
            return Err(NameError::ControlCharacters);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl AsRef<str> for UserName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserName({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded_in_characters_not_bytes() {
        assert_eq!(UserName::parse("  Ada  ").unwrap().as_ref(), "Ada");
        assert!(UserName::parse(&"é".repeat(100)).is_ok());
        assert_eq!(UserName::parse(&"é".repeat(101)), Err(NameError::TooLong));
        assert_eq!(UserName::parse(" \t "), Err(NameError::Empty));
        assert_eq!(UserName::parse("Ada\u{0}"), Err(NameError::ControlCharacters));
    }
}
