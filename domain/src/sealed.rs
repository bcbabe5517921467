//! Answers kept for idempotent replays, sealed so the database holds
//! nothing usable. A login, registration, refresh or password change answer
//! carries live tokens; stored in clear for 24 hours, any database reader or
//! backup would hold working sessions. So the stored answer is encrypted
//! (XChaCha20-Poly1305) under a key derived from the service's secret and the
//! whole original request, which holds the password, the refresh token or the
//! bearer token: only a repeat of that very request, reaching the service
//! itself, can open it. The database keeps only the request's digest.

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

/// Separates these keys from every other use of the same secret.
const CONTEXT: &[u8] = b"user-service/idempotent-answer/v1\0";

fn cipher(secret: &[u8], request: &[u8]) -> XChaCha20Poly1305 {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(CONTEXT);
    mac.update(request);
    XChaCha20Poly1305::new(&mac.finalize().into_bytes())
}

/// Seals `answer` for replays of `request` (its full canonical bytes).
pub fn seal(secret: &[u8], request: &[u8], answer: &[u8]) -> Result<String, SealError> {
    let nonce = random_bytes::<24>().map_err(|_| SealError::Random)?;
    let mut sealed = nonce.to_vec();
    sealed.extend(cipher(secret, request).encrypt(XNonce::from_slice(&nonce), answer).map_err(|_| SealError::Random)?);
    Ok(base64::engine::general_purpose::STANDARD_NO_PAD.encode(sealed))
}

/// Opens what [`seal`] made for the same secret and request.
pub fn open(secret: &[u8], request: &[u8], sealed: &str) -> Result<Vec<u8>, SealError> {
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD.decode(sealed).map_err(|_| SealError::Open)?;
    if bytes.len() < 24 {
        return Err(SealError::Open);
    }
    let (nonce, ciphertext) = bytes.split_at(24);
    cipher(secret, request).decrypt(XNonce::from_slice(nonce), ciphertext).map_err(|_| SealError::Open)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a service secret of some length";

    #[test]
    fn only_the_same_request_and_secret_open_an_answer() {
        let request = b"POST\0/api/v1/auth/login/\0\0{\"email\":\"a@b.c\",\"password\":\"pw\"}";
        let answer = br#"{"access_token":"eyJ..."}"#;
        let sealed = seal(SECRET, request, answer).unwrap();
        assert!(!sealed.contains("access_token"));
        assert_eq!(open(SECRET, request, &sealed).unwrap(), answer);
        let other_request = b"POST\0/api/v1/auth/login/\0\0{\"email\":\"a@b.c\",\"password\":\"px\"}";
        assert_eq!(open(SECRET, other_request, &sealed), Err(SealError::Open));
        assert_eq!(open(b"another secret", request, &sealed), Err(SealError::Open));
        assert_eq!(open(SECRET, request, "not base64!"), Err(SealError::Open));
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(open(SECRET, request, std::str::from_utf8(&tampered).unwrap()), Err(SealError::Open));
    }

    #[test]
    fn every_seal_is_fresh() {
        assert_ne!(seal(SECRET, b"r", b"a").unwrap(), seal(SECRET, b"r", b"a").unwrap());
    }
}
