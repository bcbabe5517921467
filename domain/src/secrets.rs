//! Random tokens, their digests, and comparison that takes the same time
//! whatever the inputs, so secrets cannot be guessed byte by byte from timing.

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Debug, thiserror::Error)]
#[error("the system random source failed: {0}")]
pub struct RandomError(String);

pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
    Ok(bytes)
}

/// A URL-safe token carrying 256 bits of randomness.
pub fn random_token() -> Result<String, RandomError> {
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// The hex SHA-256 of a token: what the database keeps instead of the token.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two secrets in constant time. Hashing first hides their lengths too.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.ct_eq(&b).into()
}

/// True when `candidate` equals any of the configured keys. Every key is
/// compared, so the time taken does not reveal which one matched.
pub fn matches_any_key<'a>(candidate: &str, keys: impl IntoIterator<Item = &'a str>) -> bool {
    let mut matched = subtle::Choice::from(0u8);
    for key in keys {
        let key = key.trim();
        if !key.is_empty() {
            matched |= Sha256::digest(candidate.as_bytes()).ct_eq(&Sha256::digest(key.as_bytes()));
        }
    }
    matched.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_url_safe() {
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[test]
    fn digests_are_stable_hex() {
        assert_eq!(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn key_matching_accepts_any_configured_key_and_ignores_blanks() {
        let keys = ["old-key", " new-key ", ""];
        assert!(matches_any_key("new-key", keys));
        assert!(matches_any_key("old-key", keys));
        assert!(!matches_any_key("", keys));
        assert!(!matches_any_key("other", keys));
        assert!(constant_time_eq("same", "same"));
        assert!(!constant_time_eq("same", "same!"));
    }
}
