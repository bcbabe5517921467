//! The language a user's notifications are written in: a BCP 47-like tag
//! (`en`, `pt-BR`, `zh-Hant-TW`). Only its shape is checked, not that the
//! language exists: the template service picks the closest translation it
//! has, and a registry of languages would go stale here.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A tag of hyphen-separated subtags of 1 to 8 ASCII letters or digits, the
/// first (the language) of 2 to 8 letters; 2 to 35 characters in all (35 is
/// the length RFC 5646 section 4.4.1 asks every implementation to take).
/// Kept as written: tags compare case-insensitively, and the client's own
/// spelling is what it expects back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Locale(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocaleError {
    #[error("must be at most 35 characters")]
    TooLong,
    #[error("must be a language tag such as en, pt-BR or zh-Hant-TW")]
    Malformed,
}

impl Locale {
    pub const MAX_CHARS: usize = 35;
    /// The schema's pattern for what [`Locale::parse`] accepts, length aside.
    pub const PATTERN: &str = "^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$";

    pub fn parse(raw: &str) -> Result<Self, LocaleError> {
        if raw.len() > Self::MAX_CHARS {
            return Err(LocaleError::TooLong);
        }
        let mut subtags = raw.split('-');
        let language = subtags.next().unwrap_or_default();
        let language_ok = (2..=8).contains(&language.len()) && language.bytes().all(|b| b.is_ascii_alphabetic());
        let rest_ok = subtags.all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()));
        if language_ok && rest_ok { Ok(Self(raw.to_owned())) } else { Err(LocaleError::Malformed) }
    }
}

impl TryFrom<String> for Locale {
    type Error = LocaleError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<Locale> for String {
    fn from(locale: Locale) -> Self {
        locale.0
    }
}

impl AsRef<str> for Locale {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn common_tags_are_accepted_as_written() {
        for tag in ["en", "pt-BR", "zh-Hant-TW", "es-419", "de-CH-1996", "sr-Latn-RS", "fil"] {
            assert_eq!(Locale::parse(tag).map(|l| l.to_string()), Ok(tag.to_owned()));
        }
    }

    #[test]
    fn malformed_tags_are_refused() {
        for tag in ["", "e", "en-", "-en", "en--US", "en_US", "12", "en-US!", "en US", "ünï", "en-abcdefghi"] {
            assert_eq!(Locale::parse(tag), Err(LocaleError::Malformed), "{tag:?}");
        }
    }

    #[test]
    fn thirty_five_characters_is_the_limit() {
        let longest = "en-aaaaaaaa-bbbbbbbb-cccccccc-ddddd";
        assert_eq!(longest.len(), 35);
        assert!(Locale::parse(longest).is_ok());
        assert_eq!(Locale::parse(&format!("{longest}d")), Err(LocaleError::TooLong));
    }

    /// The pattern, unanchored for proptest, with at most three subtags
    /// after the language (8 + 3 × 9 = 35 characters).
    fn within_35_characters() -> impl Strategy<Value = String> {
        let unanchored = Locale::PATTERN.trim_start_matches('^').trim_end_matches('$');
        proptest::string::string_regex(&unanchored.replace(")*", "){0,3}")).unwrap()
    }

    proptest! {
        /// Whatever the document's pattern allows is accepted.
        #[test]
        fn what_the_pattern_allows_is_accepted(raw in within_35_characters()) {
            prop_assert!(Locale::parse(&raw).is_ok(), "{:?}", raw);
        }
    }
}
