//! Ed25519 keys for access tokens (EdDSA), so gateways and edge functions
//! verify tokens with public keys from the JWKS and never hold a secret.
//!
//! Keys come as PEM: the signing key as PKCS#8 (`BEGIN PRIVATE KEY`, what
//! `openssl genpkey -algorithm ed25519` writes), public keys as SPKI
//! (`BEGIN PUBLIC KEY`, `openssl pkey -pubout`). Each key's `kid` is its
//! RFC 7638 JWK thumbprint, so it needs no configuration and is the same on
//! every instance.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// DER prefixes of an Ed25519 PKCS#8 v1 private key and SPKI public key:
/// what precedes the 32 key bytes.
const PKCS8_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
const SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("not a PEM block of {0}")]
    NotPem(&'static str),
    #[error("not an Ed25519 {0}")]
    NotEd25519(&'static str),
}

/// The DER bodies of every PEM block labelled `label` in `text`.
fn pem_blocks(text: &str, label: &'static str) -> Result<Vec<Vec<u8>>, KeyError> {
    let (begin, end) = (format!("-----BEGIN {label}-----"), format!("-----END {label}-----"));
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let after = &rest[start + begin.len()..];
        let stop = after.find(&end).ok_or(KeyError::NotPem(label))?;
        let body: String = after[..stop].chars().filter(|c| !c.is_whitespace()).collect();
        blocks.push(STANDARD.decode(body).map_err(|_| KeyError::NotPem(label))?);
        rest = &after[stop + end.len()..];
    }
    Ok(blocks)
}

/// An Ed25519 public key, as the JWKS lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    bytes: [u8; 32],
}

impl PublicKey {
    /// Every `BEGIN PUBLIC KEY` block of `pem` (several may be concatenated;
    /// none is an empty list).
    pub fn parse_all(pem: &str) -> Result<Vec<Self>, KeyError> {
        pem_blocks(pem, "PUBLIC KEY")?
            .into_iter()
            .map(|der| match der.strip_prefix(&SPKI_PREFIX) {
                Some(key) if key.len() == 32 => Ok(Self { bytes: key.try_into().expect("32 bytes") }),
                _ => Err(KeyError::NotEd25519("public key")),
            })
            .collect()
    }

    /// The JWK `x`: the key bytes, base64url.
    /// The raw 32 key bytes (RFC 8032), to verify with.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    pub fn x(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.bytes)
    }

    /// RFC 7638 thumbprint: SHA-256 of the required members in order.
    pub fn kid(&self) -> String {
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, self.x());
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    pub fn jwk(&self) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "x": self.x(), "kid": self.kid(), "alg": "EdDSA", "use": "sig"})
    }
}

/// The Ed25519 key access tokens are signed with.
#[derive(Clone)]
pub struct SigningKey {
    /// PKCS#8 DER, as jsonwebtoken takes it.
    der: Vec<u8>,
    pub public: PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.public.kid()).finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn parse(pem: &str) -> Result<Self, KeyError> {
        let der = pem_blocks(pem, "PRIVATE KEY")?.into_iter().next().ok_or(KeyError::NotPem("PRIVATE KEY"))?;
        let seed: [u8; 32] = der
            .strip_prefix(&PKCS8_PREFIX)
            .and_then(|seed| seed.try_into().ok())
            .ok_or(KeyError::NotEd25519("private key"))?;
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        Ok(Self { der, public: PublicKey { bytes: public } })
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAJrNHztKiy3kXiVbTcCVTRzooIVx59egYampPPObjDB\n-----END PRIVATE KEY-----\n";
    const PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAfNePAjz46FKuvolwF1HelXwXo9Odr26Ts/rMdFEQBPM=\n-----END PUBLIC KEY-----\n";

    #[test]
    fn the_public_key_is_derived_from_the_private_one() {
        let signing = SigningKey::parse(PRIVATE).unwrap();
        assert_eq!(PublicKey::parse_all(PUBLIC).unwrap(), vec![signing.public.clone()]);
        assert!(!format!("{signing:?}").contains("MC4C"));
    }

    #[test]
    fn kids_are_rfc_7638_thumbprints() {
        // RFC 8037 appendix A.3's example key and thumbprint.
        let x = URL_SAFE_NO_PAD.decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").unwrap();
        let key = PublicKey { bytes: x.try_into().unwrap() };
        assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn several_public_keys_and_bad_input() {
        let both = format!("{PUBLIC}{PUBLIC}");
        assert_eq!(PublicKey::parse_all(&both).unwrap().len(), 2);
        assert_eq!(PublicKey::parse_all("").unwrap(), vec![]);
        assert!(SigningKey::parse(PUBLIC).is_err());
        assert!(SigningKey::parse("-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----").is_err());
    }
}
