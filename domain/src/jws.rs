//! Compact JWS (RFC 7515), as access tokens arrive: three unpadded
//! base64url parts, the signature checked over the first two before the
//! payload is read. Only what validating an access token needs: HS256
//! (HMAC-SHA256, compared in constant time) and EdDSA (Ed25519, strict
//! verification). Which algorithm and key apply is the caller's decision
//! (`tokens::TokenConfig::validate_access`), never the header's alone.

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Not a token, or not one signed with the given key: nothing more is said
/// (`tokens` answers it as an invalid token).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Invalid;

/// The members of a JOSE header that validation reads.
#[derive(Deserialize)]
pub(crate) struct JoseHeader {
    pub alg: String,
    pub kid: Option<String>,
}

/// A token split and decoded, its signature not yet checked.
pub(crate) struct Compact<'t> {
    pub header: JoseHeader,
    /// `header.payload`, the bytes the signature covers.
    signed: &'t [u8],
    payload: &'t str,
    signature: Vec<u8>,
}

impl<'t> Compact<'t> {
    pub fn parse(token: &'t str) -> Result<Self, Invalid> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Invalid);
        };
        Ok(Self {
            header: serde_json::from_slice(&base64url(header)?).map_err(|_| Invalid)?,
            signed: &token.as_bytes()[..header.len() + 1 + payload.len()],
            payload,
            signature: base64url(signature)?,
        })
    }

    pub fn verify_hs256(&self, secret: &[u8]) -> Result<Verified<'t>, Invalid> {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).map_err(|_| Invalid)?;
        mac.update(self.signed);
        mac.verify_slice(&self.signature).map_err(|_| Invalid)?;
        Ok(Verified { payload: self.payload })
    }

    pub fn verify_ed25519(&self, key: &[u8; 32]) -> Result<Verified<'t>, Invalid> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(key).map_err(|_| Invalid)?;
        let signature = ed25519_dalek::Signature::from_slice(&self.signature).map_err(|_| Invalid)?;
        key.verify_strict(self.signed, &signature).map_err(|_| Invalid)?;
        Ok(Verified { payload: self.payload })
    }
}

/// A token whose signature checked out: only now is its payload read.
pub(crate) struct Verified<'t> {
    payload: &'t str,
}

impl Verified<'_> {
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, Invalid> {
        serde_json::from_slice(&base64url(self.payload)?).map_err(|_| Invalid)
    }
}

/// Unpadded base64url; anything else is not a token.
fn base64url(part: &str) -> Result<Vec<u8>, Invalid> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).map_err(|_| Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    const SECRET: &[u8] = b"an-hs256-test-secret-of-enough-length!!";

    fn b64(json: &serde_json::Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(json).unwrap())
    }

    fn sign(claims: &serde_json::Value) -> String {
        let key = jsonwebtoken::EncodingKey::from_secret(SECRET);
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), claims, &key).unwrap()
    }

    fn payload(token: &str) -> Result<serde_json::Value, Invalid> {
        Compact::parse(token)?.verify_hs256(SECRET)?.payload()
    }

    #[test]
    fn a_signed_token_verifies_and_anything_malformed_or_tampered_does_not() {
        let claims = serde_json::json!({"sub": "someone", "is_staff": false});
        let token = sign(&claims);
        assert_eq!(payload(&token), Ok(claims));
        assert_eq!(Compact::parse(&token).unwrap().header.alg, "HS256");
        let [header, body, signature]: [&str; 3] = token.split('.').collect::<Vec<_>>().try_into().unwrap();
        let cases = [
            format!("{header}.{body}"),
            format!("{header}.{body}.{signature}.{signature}"),
            format!("{header}.{body}.{signature}="),
            format!("{header}.{}.{signature}", b64(&serde_json::json!({"sub": "someone", "is_staff": true}))),
            format!("{header}.{body}.{}", &signature[..signature.len() - 2]),
            format!("{header}.{body}."),
            format!(" {token}"),
            String::new(),
        ];
        for case in cases {
            assert_eq!(payload(&case), Err(Invalid), "{case:?}");
        }
        assert!(Compact::parse(&token).unwrap().verify_hs256(b"another-secret-that-is-long-enough-too").is_err());
        assert!(Compact::parse(&token).unwrap().verify_ed25519(&[7; 32]).is_err(), "not an Ed25519 signature");
    }
}
