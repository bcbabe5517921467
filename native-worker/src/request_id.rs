//! A push message's `request_id`, checked once at parse time.
//!
//! The id travels further than the message: it is a key in PostgreSQL
//! (`forwarded_requests`, TEXT, which refuses NUL), it becomes the forward's
//! AMQP `message_id` (a short string: at most 255 bytes), and it is written
//! into logs and status events. An id any of those cannot carry used to fail
//! a whole batch of dedup lookups (a NUL makes PostgreSQL reject the query)
//! and count against the breaker for every message in it; now such a message
//! is malformed, and dead-lettered alone.

use std::fmt;

/// Most bytes of UTF-8 an id may take (AMQP's short string), hence at most
/// 255 characters.
pub const MAX_BYTES: usize = 255;

/// Why a string is not a request id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestIdError {
    #[error("is blank")]
    Blank,
    #[error("is {0} bytes long; at most {MAX_BYTES} are allowed")]
    TooLong(usize),
    #[error("contains a control or non-printable character (U+{code:04X}) at character {position}")]
    NotPrintable { code: u32, position: usize },
}

/// A non-blank id of printable characters, at most [`MAX_BYTES`] bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    pub fn parse(raw: &str) -> Result<Self, RequestIdError> {
        if raw.len() > MAX_BYTES {
            return Err(RequestIdError::TooLong(raw.len()));
        }
        // Control characters (NUL, C0, DEL, C1) and whitespace other than a
        // plain space (line and paragraph separators, tabs, ...) do not print.
        if let Some((position, c)) =
            raw.chars().enumerate().find(|(_, c)| c.is_control() || (c.is_whitespace() && *c != ' '))
        {
            return Err(RequestIdError::NotPrintable { code: c.into(), position });
        }
        if raw.trim().is_empty() {
            return Err(RequestIdError::Blank);
        }
        Ok(Self(raw.to_owned()))
    }
}

impl AsRef<str> for RequestId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_printable_ids_up_to_255_bytes() {
        for ok in ["r-1", "550e8400-e29b-41d4-a716-446655440000", "with space", "ünïcødé ✓", &"x".repeat(255)] {
            assert_eq!(RequestId::parse(ok).map(|id| id.to_string()), Ok(ok.to_owned()));
        }
        // 127 two-byte characters: 254 bytes.
        assert!(RequestId::parse(&"é".repeat(127)).is_ok());
    }

    #[test]
    fn refuses_blank_long_and_unprintable_ids() {
        assert_eq!(RequestId::parse(""), Err(RequestIdError::Blank));
        assert_eq!(RequestId::parse("   "), Err(RequestIdError::Blank));
        assert_eq!(RequestId::parse(&"x".repeat(256)), Err(RequestIdError::TooLong(256)));
        // 128 characters, but 256 bytes: too long for a message_id.
        assert_eq!(RequestId::parse(&"é".repeat(128)), Err(RequestIdError::TooLong(256)));
        assert_eq!(RequestId::parse("a\0b"), Err(RequestIdError::NotPrintable { code: 0, position: 1 }));
        assert_eq!(RequestId::parse("bell\u{7}"), Err(RequestIdError::NotPrintable { code: 7, position: 4 }));
        assert_eq!(RequestId::parse("del\u{7f}"), Err(RequestIdError::NotPrintable { code: 0x7f, position: 3 }));
        assert_eq!(RequestId::parse("c1\u{85}"), Err(RequestIdError::NotPrintable { code: 0x85, position: 2 }));
        assert_eq!(RequestId::parse("line\nbreak"), Err(RequestIdError::NotPrintable { code: 10, position: 4 }));
        assert_eq!(RequestId::parse("sep\u{2028}"), Err(RequestIdError::NotPrintable { code: 0x2028, position: 3 }));
        assert_eq!(RequestId::parse("\t"), Err(RequestIdError::NotPrintable { code: 9, position: 0 }));
    }
}
