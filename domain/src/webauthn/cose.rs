//! A passkey's public key, read from the COSE_Key (RFC 9052, RFC 9053) its
//! authenticator reports at registration. Two algorithms are offered and
//! accepted: ES256 (ECDSA on P-256 with SHA-256, what nearly every passkey
//! uses) and EdDSA on Ed25519. The COSE bytes are what the database keeps;
//! they are read again, and checked again, at every sign-in.

use p256::ecdsa::signature::Verifier;

use super::cbor::{self, Value};

/// COSE algorithm identifiers (IANA "COSE Algorithms").
pub const ES256: i64 = -7;
pub const EDDSA: i64 = -8;

/// The algorithms the registration options offer, in order of preference.
pub const OFFERED: [i64; 2] = [ES256, EDDSA];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the public key is not CBOR: {0}")]
    NotCbor(#[from] cbor::CborError),
    #[error("the public key's algorithm is not ES256 or EdDSA")]
    UnsupportedAlgorithm,
    #[error("the public key is malformed")]
    Malformed,
}

/// A credential public key that can check signatures.
#[derive(Debug, Clone)]
pub enum PublicKey {
    Es256(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PublicKey {
    /// Reads a COSE_Key. Its `kty`, `alg` and curve must agree (an EC2 key
    /// claiming EdDSA is refused, not guessed at).
    pub fn from_cose(key: &Value) -> Result<Self, KeyError> {
        let int = |label: i64| key.get_int(label).and_then(Value::as_int);
        let bytes = |label: i64| key.get_int(label).and_then(Value::as_bytes);
        // kty (1), alg (3), crv (-1), x (-2), y (-3).
        match (int(1), int(3), int(-1)) {
            (Some(2), Some(ES256), Some(1)) => {
                let (x, y) = (bytes(-2).ok_or(KeyError::Malformed)?, bytes(-3).ok_or(KeyError::Malformed)?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(KeyError::Malformed);
                }
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                // Refuses points not on the curve and the identity.
                let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|_| KeyError::Malformed)?;
                Ok(PublicKey::Es256(key))
            }
            (Some(1), Some(EDDSA), Some(6)) => {
                let x: [u8; 32] = bytes(-2).and_then(|x| x.try_into().ok()).ok_or(KeyError::Malformed)?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(&x).map_err(|_| KeyError::Malformed)?;
                // A weak (small-order) key would accept forged signatures.
                if key.is_weak() {
                    return Err(KeyError::Malformed);
                }
                Ok(PublicKey::Ed25519(key))
            }
            _ => Err(KeyError::UnsupportedAlgorithm),
        }
    }

    /// Reads the COSE bytes as stored.
    pub fn from_cose_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        Self::from_cose(&cbor::decode(bytes)?)
    }

    /// The COSE algorithm identifier.
    pub fn algorithm(&self) -> i64 {
        match self {
            PublicKey::Es256(_) => ES256,
            PublicKey::Ed25519(_) => EDDSA,
        }
    }

    /// Whether `signature` signs `message`. ES256 signatures come DER
    /// encoded (WebAuthn §6.5.6); EdDSA ones are the raw 64 bytes, checked
    /// strictly (no malleable or small-order forms).
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            PublicKey::Es256(key) => p256::ecdsa::Signature::from_der(signature)
                .map(|signature| key.verify(message, &signature).is_ok())
                .unwrap_or(false),
            PublicKey::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .map(|signature| key.verify_strict(message, &signature).is_ok())
                .unwrap_or(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;

    fn es256_cose(point: &[u8]) -> Value {
        Value::Map(vec![
            (Value::int(1), Value::int(2)),
            (Value::int(3), Value::int(ES256)),
            (Value::int(-1), Value::int(1)),
            (Value::int(-2), Value::Bytes(point[1..33].to_vec())),
            (Value::int(-3), Value::Bytes(point[33..65].to_vec())),
        ])
    }

    #[test]
    fn an_es256_key_checks_its_der_signatures() {
        let signing = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let point = signing.verifying_key().to_encoded_point(false);
        let key = PublicKey::from_cose(&es256_cose(point.as_bytes())).unwrap();
        assert_eq!(key.algorithm(), ES256);
        let signature: p256::ecdsa::Signature = signing.sign(b"message");
        let der = signature.to_der();
        assert!(key.verifies(b"message", der.as_bytes()));
        assert!(!key.verifies(b"messagf", der.as_bytes()));
        assert!(!key.verifies(b"message", &signature.to_bytes()), "the raw form is not DER");
        assert!(!key.verifies(b"message", &[]));
    }

    #[test]
    fn an_ed25519_key_checks_its_signatures() {
        use ed25519_dalek::Signer as _;
        let signing = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
        let cose = Value::Map(vec![
            (Value::int(1), Value::int(1)),
            (Value::int(3), Value::int(EDDSA)),
            (Value::int(-1), Value::int(6)),
            (Value::int(-2), Value::Bytes(signing.verifying_key().to_bytes().to_vec())),
        ]);
        let key = PublicKey::from_cose(&cose).unwrap();
        let signature = signing.sign(b"message").to_bytes();
        assert!(key.verifies(b"message", &signature));
        assert!(!key.verifies(b"other", &signature));
    }

    fn hex(text: &str) -> Vec<u8> {
        hex::decode(text).unwrap()
    }

    /// RFC 8032, section 7.1, TEST 1 (the empty message), through a COSE key.
    #[test]
    fn the_rfc_8032_vector_verifies() {
        let cose = Value::Map(vec![
            (Value::int(1), Value::int(1)),
            (Value::int(3), Value::int(EDDSA)),
            (Value::int(-1), Value::int(6)),
            (Value::int(-2), Value::Bytes(hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"))),
        ]);
        let key = PublicKey::from_cose(&cose).unwrap();
        let signature = hex(concat!(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155",
            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        ));
        assert!(key.verifies(b"", &signature));
        assert!(!key.verifies(b"x", &signature));
    }

    /// RFC 6979, appendix A.2.5 (P-256, SHA-256, message "sample"), its
    /// (r, s) written as the DER a WebAuthn assertion carries.
    #[test]
    fn the_rfc_6979_p256_vector_verifies() {
        let x = hex("60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6");
        let y = hex("7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299");
        let mut point = vec![0x04];
        point.extend_from_slice(&x);
        point.extend_from_slice(&y);
        let key = PublicKey::from_cose(&es256_cose(&point)).unwrap();
        let r = hex("efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716");
        let s = hex("f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8");
        let signature =
            p256::ecdsa::Signature::from_scalars(<[u8; 32]>::try_from(r).unwrap(), <[u8; 32]>::try_from(s).unwrap())
                .unwrap();
        assert!(key.verifies(b"sample", signature.to_der().as_bytes()));
        assert!(!key.verifies(b"test", signature.to_der().as_bytes()));
    }

    #[test]
    fn keys_that_do_not_agree_with_themselves_are_refused() {
        let signing = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let point = signing.verifying_key().to_encoded_point(false);
        let Value::Map(mut entries) = es256_cose(point.as_bytes()) else { unreachable!() };
        entries[1].1 = Value::int(EDDSA);
        assert_eq!(PublicKey::from_cose(&Value::Map(entries.clone())).unwrap_err(), KeyError::UnsupportedAlgorithm);
        entries[1].1 = Value::int(-257); // RS256: not offered
        assert_eq!(PublicKey::from_cose(&Value::Map(entries.clone())).unwrap_err(), KeyError::UnsupportedAlgorithm);
        entries[1].1 = Value::int(ES256);
        entries[4].1 = Value::Bytes(vec![0; 32]); // y off the curve
        assert_eq!(PublicKey::from_cose(&Value::Map(entries.clone())).unwrap_err(), KeyError::Malformed);
        entries[4].1 = Value::Bytes(vec![0; 31]);
        assert_eq!(PublicKey::from_cose(&Value::Map(entries)).unwrap_err(), KeyError::Malformed);
        assert_eq!(PublicKey::from_cose(&Value::Unsigned(1)).unwrap_err(), KeyError::UnsupportedAlgorithm);
    }
}
