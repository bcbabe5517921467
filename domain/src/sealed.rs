//! Secrets the database keeps but must not be able to give away, sealed
//! with XChaCha20-Poly1305 under a key derived (HMAC-SHA-256) from a service
//! secret, a [`Purpose`] and a binding:
//! - Answers kept for idempotent replays. A login, registration, refresh or
//!   password change answer carries live tokens; stored in clear for 24
//!   hours, any database reader or backup would hold working sessions. The
//!   binding is the whole original request, which holds the password, the
//!   refresh token or the bearer token: only a repeat of that very request,
//!   reaching the service itself, can open it.
//! - TOTP secrets, bound to their user, so a row copied to another account
//!   does not open.
//! - The child of a rotated refresh token, bound to the parent token: a
//!   client that lost the answer to its refresh and presents the parent
//!   again within the reuse interval gets the same child back. The database
//!   holds only the parent's digest, so a reader cannot open it.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secrets::random_bytes;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("the random source failed")]
    Random,
    #[error("the sealed answer is damaged or was sealed for another request or secret")]
    Open,
}

/// What a sealed value is for; keys of different purposes never coincide,
/// even under the same secret and binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    IdempotentAnswer,
    TotpSecret,
    /// The refresh token a token was rotated into, bound to the rotated
    /// (parent) token itself: only its holder can get the child back.
    RefreshChild,
}

impl Purpose {
    fn context(self) -> &'static [u8] {
        match self {
            Purpose::IdempotentAnswer => b"user-service/idempotent-answer/v1\0",
            Purpose::TotpSecret => b"user-service/totp-secret/v1\0",
            Purpose::RefreshChild => b"user-service/refresh-child/v1\0",
        }
    }
}

fn cipher(secret: &[u8], purpose: Purpose, binding: &[u8]) -> XChaCha20Poly1305 {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(purpose.context());
    mac.update(binding);
    XChaCha20Poly1305::new(&mac.finalize().into_bytes())
}

/// Seals `plaintext` under `secret`, for `purpose`, bound to `binding`.
pub fn seal(secret: &[u8], purpose: Purpose, binding: &[u8], plaintext: &[u8]) -> Result<String, SealError> {
    let nonce = random_bytes::<24>().map_err(|_| SealError::Random)?;
    let mut sealed = nonce.to_vec();
    let cipher = cipher(secret, purpose, binding);
    sealed.extend(cipher.encrypt(XNonce::from_slice(&nonce), plaintext).map_err(|_| SealError::Random)?);
    Ok(base64::engine::general_purpose::STANDARD_NO_PAD.encode(sealed))
}

/// Opens what [`seal`] made with the same secret, purpose and binding.
pub fn open(secret: &[u8], purpose: Purpose, binding: &[u8], sealed: &str) -> Result<Vec<u8>, SealError> {
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD.decode(sealed).map_err(|_| SealError::Open)?;
    if bytes.len() < 24 {
        return Err(SealError::Open);
    }
    let (nonce, ciphertext) = bytes.split_at(24);
    cipher(secret, purpose, binding).decrypt(XNonce::from_slice(nonce), ciphertext).map_err(|_| SealError::Open)
}

/// The secrets one kind of sealed value may be under: the current one, which
/// seals and opens, and earlier ones, which only open. A secret is rotated
/// by making a new one current and keeping the old one here until nothing is
/// sealed under it any more (what opens under an old secret is sealed again
/// under the current one when used, or by `native-worker reseal-mfa`).
pub struct Keyring {
    current: Vec<u8>,
    previous: Vec<Vec<u8>>,
}

/// Which secret of a [`Keyring`] opened a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedUnder {
    Current,
    /// An earlier secret: the value should be sealed again under the current one.
    Previous,
}

/// The shortest secret a [`Keyring`] takes from settings.
pub const MIN_KEY_BYTES: usize = 32;

/// Settings that do not make a [`Keyring`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyringError {
    #[error("the current key is not set (at least {MIN_KEY_BYTES} bytes)")]
    NoCurrent,
    #[error("an earlier key is under {MIN_KEY_BYTES} bytes")]
    ShortPrevious,
}

impl Keyring {
    pub fn new(current: impl Into<Vec<u8>>, previous: Vec<Vec<u8>>) -> Self {
        Self { current: current.into(), previous }
    }

    /// A keyring from settings as operators write them (the auth
    /// component's `mfa_key` and `mfa_previous_keys`, the worker's `MFA_KEY`
    /// and `MFA_PREVIOUS_KEYS`): the current key, and earlier keys separated
    /// by commas or white space. An earlier key too short to be one is
    /// refused rather than skipped: a typo there would lock its users out.
    pub fn from_settings(current: &str, previous: &str) -> Result<Self, KeyringError> {
        if current.trim().len() < MIN_KEY_BYTES {
            return Err(KeyringError::NoCurrent);
        }
        let previous: Vec<Vec<u8>> =
            previous.split(|c: char| c == ',' || c.is_whitespace()).filter(|k| !k.is_empty()).map(Vec::from).collect();
        if previous.iter().any(|k| k.len() < MIN_KEY_BYTES) {
            return Err(KeyringError::ShortPrevious);
        }
        Ok(Self::new(current, previous))
    }

    /// Seals under the current secret.
    pub fn seal(&self, purpose: Purpose, binding: &[u8], plaintext: &[u8]) -> Result<String, SealError> {
        seal(&self.current, purpose, binding, plaintext)
    }

    /// Opens under the current secret, else under the earlier ones in turn.
    pub fn open(&self, purpose: Purpose, binding: &[u8], sealed: &str) -> Result<(Vec<u8>, SealedUnder), SealError> {
        if let Ok(plain) = open(&self.current, purpose, binding, sealed) {
            return Ok((plain, SealedUnder::Current));
        }
        self.previous
            .iter()
            .find_map(|secret| open(secret, purpose, binding, sealed).ok())
            .map(|plain| (plain, SealedUnder::Previous))
            .ok_or(SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyrings_from_settings() {
        let key = "k".repeat(32);
        let old = "o".repeat(32);
        assert_eq!(Keyring::from_settings("", "").err(), Some(KeyringError::NoCurrent));
        assert_eq!(Keyring::from_settings(&"k".repeat(31), "").err(), Some(KeyringError::NoCurrent));
        assert_eq!(Keyring::from_settings(&key, "short").err(), Some(KeyringError::ShortPrevious));
        let ring = Keyring::from_settings(&key, &format!(" {old},\n{},", "p".repeat(40))).unwrap();
        assert_eq!(ring.previous, vec![old.into_bytes(), "p".repeat(40).into_bytes()]);
        assert!(Keyring::from_settings(&key, " , ").unwrap().previous.is_empty());
    }

    #[test]
    fn a_keyring_opens_under_earlier_secrets_and_seals_under_the_current_one() {
        let old = Keyring::new(b"the old secret, 32 bytes or more".to_vec(), vec![]);
        let sealed_before = old.seal(Purpose::TotpSecret, b"user", b"totp").unwrap();
        let rotated = Keyring::new(
            b"the new secret, 32 bytes or more".to_vec(),
            vec![b"unrelated".to_vec(), b"the old secret, 32 bytes or more".to_vec()],
        );
        assert_eq!(
            rotated.open(Purpose::TotpSecret, b"user", &sealed_before),
            Ok((b"totp".to_vec(), SealedUnder::Previous))
        );
        let sealed_now = rotated.seal(Purpose::TotpSecret, b"user", b"totp").unwrap();
        assert_eq!(
            rotated.open(Purpose::TotpSecret, b"user", &sealed_now),
            Ok((b"totp".to_vec(), SealedUnder::Current))
        );
        assert_eq!(old.open(Purpose::TotpSecret, b"user", &sealed_now), Err(SealError::Open), "old secrets never seal");
        // The binding still holds under every secret.
        assert_eq!(rotated.open(Purpose::TotpSecret, b"other user", &sealed_before), Err(SealError::Open));
        let forgotten = Keyring::new(b"the new secret, 32 bytes or more".to_vec(), vec![]);
        assert_eq!(forgotten.open(Purpose::TotpSecret, b"user", &sealed_before), Err(SealError::Open));
    }

    const SECRET: &[u8] = b"a service secret of some length";
    const ANSWER: Purpose = Purpose::IdempotentAnswer;

    #[test]
    fn only_the_same_request_and_secret_open_an_answer() {
        let request = b"POST\0/api/v1/auth/login/\0\0{\"email\":\"a@b.c\",\"password\":\"pw\"}";
        let answer = br#"{"access_token":"eyJ..."}"#;
        let sealed = seal(SECRET, ANSWER, request, answer).unwrap();
        assert!(!sealed.contains("access_token"));
        assert_eq!(open(SECRET, ANSWER, request, &sealed).unwrap(), answer);
        let other_request = b"POST\0/api/v1/auth/login/\0\0{\"email\":\"a@b.c\",\"password\":\"px\"}";
        assert_eq!(open(SECRET, ANSWER, other_request, &sealed), Err(SealError::Open));
        assert_eq!(open(b"another secret", ANSWER, request, &sealed), Err(SealError::Open));
        assert_eq!(open(SECRET, ANSWER, request, "not base64!"), Err(SealError::Open));
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(open(SECRET, ANSWER, request, std::str::from_utf8(&tampered).unwrap()), Err(SealError::Open));
    }

    #[test]
    fn every_seal_is_fresh() {
        assert_ne!(seal(SECRET, ANSWER, b"r", b"a").unwrap(), seal(SECRET, ANSWER, b"r", b"a").unwrap());
    }

    #[test]
    fn purposes_do_not_open_each_other() {
        let sealed = seal(SECRET, Purpose::TotpSecret, b"user", b"secret").unwrap();
        assert_eq!(open(SECRET, Purpose::IdempotentAnswer, b"user", &sealed), Err(SealError::Open));
        assert_eq!(open(SECRET, Purpose::TotpSecret, b"user", &sealed).unwrap(), b"secret");
    }
}
