//! Time-based one-time passwords (RFC 6238 over RFC 4226): HMAC-SHA-1,
//! 6 digits, 30-second steps, 160-bit secrets, as every authenticator app
//! expects. Verification accepts the codes of one step either side (clocks
//! drift) and says which step matched, so the caller can refuse a code
//! whose step was already used (a replay).

use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::secrets::{RandomError, random_bytes};

pub const DIGITS: u32 = 6;
pub const PERIOD_SECS: u64 = 30;
/// Steps accepted either side of the current one.
pub const SKEW_STEPS: u64 = 1;

/// A shared TOTP secret. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// 160 random bits, RFC 4226's recommended length.
    pub fn generate() -> Result<Self, RandomError> {
        Ok(Self(random_bytes::<20>()?.to_vec()))
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Base32 without padding, as authenticator apps take it.
    pub fn to_base32(&self) -> String {
        base32_encode(&self.0)
    }

    /// The `otpauth://` URI an authenticator app scans.
    pub fn uri(&self, issuer: &str, account: &str) -> String {
        let label = format!("{}:{}", percent_encode(issuer), percent_encode(account));
        format!(
            "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={PERIOD_SECS}",
            self.to_base32(),
            percent_encode(issuer)
        )
    }

    /// The code of time step `step` (Unix seconds / 30).
    pub fn code_at_step(&self, step: u64) -> String {
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(&step.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let offset = (digest[19] & 0x0f) as usize;
        let binary =
            u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
        format!("{:0width$}", binary % 10u32.pow(DIGITS), width = DIGITS as usize)
    }

    /// The step of `code` within [`SKEW_STEPS`] of `now`, if it matches one.
    /// Every candidate is compared, in constant time, whatever matches.
    pub fn verify(&self, code: &str, now_secs: u64) -> Option<u64> {
        let code = code.trim();
        if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = now_secs / PERIOD_SECS;
        let mut matched = None;
        for step in current.saturating_sub(SKEW_STEPS)..=current + SKEW_STEPS {
            if crate::secrets::constant_time_eq(&self.code_at_step(step), code) {
                matched = Some(step);
            }
        }
        matched
    }
}

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes base32 (case-insensitive, padding and spaces ignored).
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !matches!(c, b'=' | b' ')) {
        let value = ALPHABET.iter().position(|a| *a == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            out.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    Some(out)
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 secret and times (8-digit codes there; the
    /// last 6 digits are the 6-digit codes, since both take the value mod 10^n).
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = Secret::from_bytes(b"12345678901234567890".to_vec());
        for (time, eight_digits) in [
            (59u64, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
        ] {
            assert_eq!(secret.code_at_step(time / PERIOD_SECS), eight_digits[2..], "at {time}");
        }
    }

    #[test]
    fn codes_are_accepted_one_step_either_side_and_say_their_step() {
        let secret = Secret::generate().unwrap();
        let now = 1_800_000_015;
        let step = now / PERIOD_SECS;
        for offset in [-1i64, 0, 1] {
            let at = (step as i64 + offset) as u64;
            assert_eq!(secret.verify(&secret.code_at_step(at), now), Some(at));
        }
        assert_eq!(secret.verify(&secret.code_at_step(step + 2), now), None);
        assert_eq!(secret.verify(&secret.code_at_step(step - 2), now), None);
        assert_eq!(secret.verify("12345", now), None);
        assert_eq!(secret.verify("abcdef", now), None);
    }

    #[test]
    fn base32_round_trips_and_uris_carry_the_secret() {
        let secret = Secret::generate().unwrap();
        let text = secret.to_base32();
        assert_eq!(text.len(), 32, "160 bits are 32 base32 characters");
        assert_eq!(base32_decode(&text).unwrap(), secret.as_bytes());
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        let uri = secret.uri("User Service", "ada@example.com");
        assert!(uri.starts_with("otpauth://totp/User%20Service:ada@example.com?secret="), "{uri}");
        assert!(uri.contains(&text) && uri.contains("digits=6") && uri.contains("period=30"));
        assert!(!format!("{secret:?}").contains(&text));
    }
}
