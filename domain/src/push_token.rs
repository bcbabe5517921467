//! A device push token as the push service hands it to providers (FCM, APNs).
//! Providers' tokens are opaque, so only length and printability are checked.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct PushToken(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PushTokenError {
    #[error("must not be empty (send null to clear it)")]
    Empty,
    #[error("must be at most 512 characters")]
    TooLong,
    #[error("must not contain whitespace or control characters")]
    Unprintable,
}

impl PushToken {
    pub const MAX_CHARS: usize = 512;

    pub fn parse(raw: &str) -> Result<Self, PushTokenError> {
        let token = raw.trim();
        if token.is_empty() {
            return Err(PushTokenError::Empty);
        }
        if token.chars().count() > Self::MAX_CHARS {
            return Err(PushTokenError::TooLong);
        }
        if token.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(PushTokenError::Unprintable);
        }
        Ok(Self(token.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl AsRef<str> for PushToken {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PushToken {
    // A push token addresses one device; keep it out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PushToken(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bounded_and_printable() {
        assert!(PushToken::parse("fcm:abc123").is_ok());
        assert!(PushToken::parse(&"x".repeat(512)).is_ok());
        assert_eq!(PushToken::parse(&"x".repeat(513)), Err(PushTokenError::TooLong));
        assert_eq!(PushToken::parse("a b"), Err(PushTokenError::Unprintable));
        assert_eq!(PushToken::parse(""), Err(PushTokenError::Empty));
        assert_eq!(format!("{:?}", PushToken::parse("secret").unwrap()), "PushToken(..)");
    }
}
