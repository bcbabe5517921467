//! Access and refresh tokens.
//!
//! Access tokens are short-lived HS256 JWTs that any component can check
//! without a database round trip. Validation is strict: the algorithm is
//! pinned (so `alg: none` and algorithm swaps fail), every time claim is
//! required and checked, and issuer, audience and `type` must match.
//!
//! Refresh tokens are opaque random strings; only their SHA-256 digest is
//! stored, so a database leak does not hand out sessions.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::UserId;
use crate::secrets::{RandomError, digest, random_token};

/// The only `type` an access token may carry.
pub const ACCESS: &str = "access";
/// Clock skew tolerated between this service's instances.
const LEEWAY_SECS: u64 = 5;
/// HS256 keys shorter than the hash output weaken it.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Clone)]
pub struct TokenConfig {
    secret: Vec<u8>,
    pub issuer: String,
    pub audience: String,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("access_ttl_secs", &self.access_ttl_secs)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the signing secret must be at least {MIN_SECRET_BYTES} bytes")]
    WeakSecret,
    #[error("token lifetimes must be positive")]
    BadLifetime,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid")]
    Invalid,
    #[error("the token could not be signed: {0}")]
    Signing(String),
    #[error("{0}")]
    Random(String),
}

impl From<RandomError> for TokenError {
    fn from(e: RandomError) -> Self {
        Self::Random(e.to_string())
    }
}

/// The claims of an access token, exactly as the contract lists them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub sub: String,
    pub exp: u64,
    pub iat: u64,
    pub nbf: u64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    #[serde(rename = "type")]
    pub token_type: String,
    pub is_staff: bool,
}

impl AccessClaims {
    pub fn user_id(&self) -> Result<UserId, TokenError> {
        UserId::parse(&self.sub).map_err(|_| TokenError::Invalid)
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

impl TokenConfig {
    pub fn new(
        secret: &str,
        issuer: &str,
        audience: &str,
        access_ttl_secs: u64,
        refresh_ttl_secs: u64,
    ) -> Result<Self, TokenError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(TokenError::WeakSecret);
        }
        if access_ttl_secs == 0 || refresh_ttl_secs == 0 {
            return Err(TokenError::BadLifetime);
        }
        Ok(Self {
            secret: secret.as_bytes().to_vec(),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            access_ttl_secs,
            refresh_ttl_secs,
        })
    }

    /// Signs an access token for `user` issued at `now` (seconds since the epoch).
    pub fn issue_access(&self, user: UserId, is_staff: bool, now: u64) -> Result<String, TokenError> {
        let claims = AccessClaims {
            sub: user.to_string(),
            exp: now + self.access_ttl_secs,
            iat: now,
            nbf: now,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: uuid::Uuid::new_v4().to_string(),
            token_type: ACCESS.to_owned(),
            is_staff,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&self.secret))
            .map_err(|e| TokenError::Signing(e.to_string()))
    }

    /// Checks signature, algorithm, every time claim, issuer, audience and type.
    pub fn validate_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.required_spec_claims =
            ["exp", "nbf", "iat", "iss", "aud", "sub"].into_iter().map(String::from).collect::<HashSet<_>>();
        let claims = decode::<AccessClaims>(token, &DecodingKey::from_secret(&self.secret), &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?
            .claims;
        // jsonwebtoken does not judge `iat`; a token from the future is forged or skewed.
        if claims.iat > now_secs() + LEEWAY_SECS || claims.token_type != ACCESS {
            return Err(TokenError::Invalid);
        }
        claims.user_id()?;
        Ok(claims)
    }
}

/// A freshly minted refresh token: the secret goes to the client, the digest
/// to the database.
pub struct RefreshToken {
    pub token: String,
    pub digest: String,
}

impl RefreshToken {
    pub fn generate() -> Result<Self, TokenError> {
        let token = random_token()?;
        Ok(Self { digest: digest(&token), token })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    const SECRET: &str = "an-hs256-test-secret-of-enough-length!!";

    fn config() -> TokenConfig {
        TokenConfig::new(SECRET, "user-service", "notification-platform", 900, 86400).unwrap()
    }

    fn b64(json: &serde_json::Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(json).unwrap())
    }

    fn sign(claims: &serde_json::Value, secret: &str) -> String {
        encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
    }

    fn valid_claims() -> serde_json::Value {
        let now = now_secs();
        serde_json::json!({
            "sub": UserId::new().to_string(), "exp": now + 60, "iat": now, "nbf": now,
            "iss": "user-service", "aud": "notification-platform", "jti": "j", "type": "access", "is_staff": false
        })
    }

    #[test]
    fn an_issued_token_validates_with_all_claims() {
        let user = UserId::new();
        let token = config().issue_access(user, true, now_secs()).unwrap();
        let claims = config().validate_access(&token).unwrap();
        assert_eq!(claims.user_id().unwrap(), user);
        assert!(claims.is_staff);
        assert_eq!(claims.exp - claims.iat, 900);
        assert_eq!(claims.token_type, "access");
    }

    #[test]
    fn weak_secrets_are_refused() {
        assert_eq!(TokenConfig::new("short", "i", "a", 1, 1).unwrap_err(), TokenError::WeakSecret);
    }

    #[test]
    fn expired_tokens_are_refused() {
        let token = config().issue_access(UserId::new(), false, now_secs() - 1000).unwrap();
        assert_eq!(config().validate_access(&token).unwrap_err(), TokenError::Expired);
    }

    #[test]
    fn alg_none_is_refused() {
        let token = format!("{}.{}.", b64(&serde_json::json!({"alg": "none", "typ": "JWT"})), b64(&valid_claims()));
        assert_eq!(config().validate_access(&token).unwrap_err(), TokenError::Invalid);
    }

    #[test]
    fn tokens_with_a_wrong_claim_or_key_are_refused() {
        assert!(config().validate_access(&sign(&valid_claims(), SECRET)).is_ok());
        let mutations: [(&str, serde_json::Value); 6] = [
            ("iss", "someone-else".into()),
            ("aud", "another-audience".into()),
            ("type", "refresh".into()),
            ("nbf", (now_secs() + 600).into()),
            ("iat", (now_secs() + 600).into()),
            ("sub", "not-a-uuid".into()),
        ];
        for (claim, value) in mutations {
            let mut claims = valid_claims();
            claims[claim] = value;
            assert_eq!(config().validate_access(&sign(&claims, SECRET)).unwrap_err(), TokenError::Invalid, "{claim}");
        }
        for missing in ["exp", "nbf", "iat", "aud"] {
            let mut claims = valid_claims();
            claims.as_object_mut().unwrap().remove(missing);
            assert!(config().validate_access(&sign(&claims, SECRET)).is_err(), "missing {missing}");
        }
        let forged = sign(&valid_claims(), "another-secret-that-is-long-enough-too");
        assert_eq!(config().validate_access(&forged).unwrap_err(), TokenError::Invalid);
        assert_eq!(config().validate_access("garbage").unwrap_err(), TokenError::Invalid);
    }

    #[test]
    fn refresh_tokens_store_only_a_digest() {
        let token = RefreshToken::generate().unwrap();
        assert_eq!(token.digest, digest(&token.token));
        assert_ne!(token.digest, token.token);
    }
}
