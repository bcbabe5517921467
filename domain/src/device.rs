//! A user's device as the push service addresses it: the token its
//! platform's provider (APNs, FCM, Web Push) issued, the platform, and a
//! name the user may give it. Parsed at the edge, so handlers and the store
//! only see tokens and platforms that are valid.

use std::fmt;

/// How many devices one user keeps. Registering another evicts the least
/// recently seen one: an app reinstalled many times must not be refused, and
/// the device unused longest is the likeliest dead.
pub const MAX_DEVICES_PER_USER: usize = 20;

/// A provider's token: opaque, so only its length and printability are
/// checked. Real FCM and APNs tokens are a few hundred characters.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceToken(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeviceError {
    #[error("must not be empty")]
    EmptyToken,
    #[error("must be at most 4096 characters")]
    TokenTooLong,
    #[error("must not contain whitespace or control characters")]
    Unprintable,
    #[error("must be one of ios, android, web")]
    UnknownPlatform,
    #[error("must be 1 to 100 characters, without control characters")]
    BadName,
}

impl DeviceToken {
    pub const MAX_CHARS: usize = 4096;

    pub fn parse(raw: &str) -> Result<Self, DeviceError> {
        let token = raw.trim();
        if token.is_empty() {
            return Err(DeviceError::EmptyToken);
        }
        if token.chars().count() > Self::MAX_CHARS {
            return Err(DeviceError::TokenTooLong);
        }
        if token.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(DeviceError::Unprintable);
        }
        Ok(Self(token.to_owned()))
    }
}

impl AsRef<str> for DeviceToken {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DeviceToken {
    // A token addresses one device; keep it out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceToken(..)")
    }
}

/// The platform a device's token is for. `Unknown` is only for tokens given
/// as the profile's `push_token` (the seed's single token), which says none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Platform {
    Ios,
    Android,
    Web,
    Unknown,
}

impl Platform {
    /// A platform a client may register (`unknown` is not one).
    pub fn parse(raw: &str) -> Result<Self, DeviceError> {
        match raw {
            "ios" => Ok(Platform::Ios),
            "android" => Ok(Platform::Android),
            "web" => Ok(Platform::Web),
            _ => Err(DeviceError::UnknownPlatform),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Ios => "ios",
            Platform::Android => "android",
            Platform::Web => "web",
            Platform::Unknown => "unknown",
        }
    }
}

/// What the user calls a device ("Ada's phone"): trimmed, 1 to 100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceName(String);

impl DeviceName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, DeviceError> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > Self::MAX_CHARS || name.chars().any(char::is_control) {
            return Err(DeviceError::BadName);
        }
        Ok(Self(name.to_owned()))
    }
}

impl AsRef<str> for DeviceName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bounded_and_printable() {
        assert_eq!(DeviceToken::parse("  apns:abc  ").unwrap().as_ref(), "apns:abc");
        assert!(DeviceToken::parse(&"x".repeat(4096)).is_ok());
        assert_eq!(DeviceToken::parse(&"x".repeat(4097)), Err(DeviceError::TokenTooLong));
        assert_eq!(DeviceToken::parse("   "), Err(DeviceError::EmptyToken));
        assert_eq!(DeviceToken::parse("a b"), Err(DeviceError::Unprintable));
        assert_eq!(DeviceToken::parse("a\u{0}b"), Err(DeviceError::Unprintable));
        assert_eq!(format!("{:?}", DeviceToken::parse("secret").unwrap()), "DeviceToken(..)");
    }

    #[test]
    fn clients_register_ios_android_or_web_only() {
        for (raw, platform) in [("ios", Platform::Ios), ("android", Platform::Android), ("web", Platform::Web)] {
            assert_eq!(Platform::parse(raw), Ok(platform));
            assert_eq!(platform.as_str(), raw);
        }
        for refused in ["unknown", "IOS", "", "windows"] {
            assert_eq!(Platform::parse(refused), Err(DeviceError::UnknownPlatform), "{refused}");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(DeviceName::parse(" Ada's phone ").unwrap().as_ref(), "Ada's phone");
        assert!(DeviceName::parse("").is_err());
        assert!(DeviceName::parse(&"n".repeat(101)).is_err());
        assert!(DeviceName::parse("a\nb").is_err());
    }
}
