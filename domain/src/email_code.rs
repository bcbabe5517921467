//! Email one-time codes: eight digits drawn uniformly, and the keyed digest
//! the database keeps instead of the code.
//!
//! Eight digits, not six: a code allows five wrong tries and an address may
//! ask for a few codes an hour, so with six digits a patient attacker would
//! have a fair chance at a targeted account within months; with eight it
//! stays under one in a few hundred a year. The digest is an HMAC under the
//! service's secret, bound to the email, because a plain hash of one of
//! 10^8 codes is reversed by trying them all.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secrets::{RandomError, random_bytes};

/// How many digits a code has.
pub const DIGITS: usize = 8;
/// How long a code may be used, in seconds.
pub const TTL_SECS: u64 = 600;
/// Wrong tries a code allows; past them even the right code is refused.
pub const MAX_FAILED_ATTEMPTS: i32 = 5;

/// A code as the user types it: exactly [`DIGITS`] ASCII digits once the
/// spaces and hyphens people copy with it are dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailCode(String);

impl std::fmt::Debug for EmailCode {
    // A live code is a credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmailCode(…)")
    }
}

impl EmailCode {
    /// A new code, uniform over all 10^8 (rejection sampling: no digit is
    /// likelier than another).
    pub fn generate() -> Result<Self, RandomError> {
        const SPACE: u32 = 100_000_000;
        // The largest multiple of SPACE that fits a u32.
        let limit = u32::MAX - u32::MAX % SPACE;
        loop {
            let value = u32::from_le_bytes(random_bytes::<4>()?);
            if value < limit {
                return Ok(Self(format!("{:08}", value % SPACE)));
            }
        }
    }

    /// `None` for anything that cannot be a code (it is simply a wrong one).
    pub fn parse(raw: &str) -> Option<Self> {
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        (digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(Self(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The keyed digest kept for this code of `email` (already
    /// normalised: `Email` lower-cases it), hex.
    pub fn digest(&self, secret: &str, email: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
        mac.update(b"email_code\0");
        mac.update(email.as_bytes());
        mac.update(b"\0");
        mac.update(self.0.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_eight_digits_and_vary() {
        let codes: Vec<String> = (0..200).map(|_| EmailCode::generate().unwrap().0).collect();
        assert!(codes.iter().all(|c| c.len() == 8 && c.bytes().all(|b| b.is_ascii_digit())));
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert!(distinct.len() > 190, "200 draws from 10^8 repeat rarely");
        // Leading zeros are kept: every first digit turns up.
        let firsts: std::collections::HashSet<_> = codes.iter().map(|c| &c[..1]).collect();
        assert!(firsts.len() >= 8, "{firsts:?}");
    }

    #[test]
    fn typed_codes_parse_and_everything_else_does_not() {
        assert_eq!(EmailCode::parse("0123 4567").unwrap().as_str(), "01234567");
        assert_eq!(EmailCode::parse("0123-4567").unwrap().as_str(), "01234567");
        for bad in ["", "1234567", "123456789", "1234567a", "１２３４５６７８", "1234\u{0}567", "12345678\n"] {
            assert!(EmailCode::parse(bad).is_none(), "{bad:?}");
        }
        assert_eq!(format!("{:?}", EmailCode::parse("12345678").unwrap()), "EmailCode(…)");
    }

    #[test]
    fn the_digest_is_keyed_and_bound_to_the_email() {
        let code = EmailCode::parse("12345678").unwrap();
        let d = code.digest("secret-one", "a@example.com");
        assert_eq!(d.len(), 64);
        assert_eq!(d, code.digest("secret-one", "a@example.com"));
        assert_ne!(d, code.digest("secret-two", "a@example.com"));
        assert_ne!(d, code.digest("secret-one", "b@example.com"));
        assert_ne!(d, EmailCode::parse("12345679").unwrap().digest("secret-one", "a@example.com"));
    }
}
