//! Access and refresh tokens.
//!
//! Access tokens are short-lived JWTs that any component can check without a
//! database round trip. With an Ed25519 signing key configured they are
//! EdDSA tokens with a `kid`, verifiable by anyone from the published JWKS
//! (the signing key's public half, the next key's, retired ones'); without
//! one they are HS256 under `jwt_secret`, as before. After the switch, HS256
//! tokens are accepted until a configured time, then refused. Validation is
//! strict: the algorithm is pinned per key (so `alg: none` and algorithm
//! swaps fail), every time claim is required and checked, and issuer,
//! audience and `type` must match.
//!
//! Refresh tokens are opaque random strings; only their SHA-256 digest is
//! stored, so a database leak does not hand out sessions.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::amr::Methods;
use crate::jws::Compact;
use crate::secrets::{RandomError, digest, random_token};
use crate::signing_keys::{PublicKey, SigningKey};
use crate::user_id::UserId;

/// The only `type` an access token may carry.
pub const ACCESS: &str = "access";
/// Clock skew tolerated between this service's instances.
const LEEWAY_SECS: u64 = 5;
/// HS256 keys shorter than the hash output weaken it.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Clone)]
pub struct TokenConfig {
    /// The HS256 key: what signs when no Ed25519 key is configured.
    secret: Vec<u8>,
    ed25519: Option<Ed25519>,
    pub issuer: String,
    pub audience: String,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
    /// Made by [`TokenConfig::verifier`]: checks tokens, issues none.
    verify_only: bool,
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
    #[error("signing key configuration: {0}")]
    BadKey(String),
}

/// EdDSA signing: the key that signs, every key the JWKS publishes, and
/// until when HS256 tokens from before the switch are still accepted.
#[derive(Clone, Debug)]
struct Ed25519 {
    signing: SigningKey,
    /// The signing key's public half first, then the next keys, then retired ones.
    published: Vec<PublicKey>,
    hs256_accepted_until: Option<u64>,
}

impl From<crate::jws::Invalid> for TokenError {
    fn from(_: crate::jws::Invalid) -> Self {
        Self::Invalid
    }
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
    /// The session the token was issued in. Required: a token whose session
    /// has ended is refused, so a token that names none cannot be judged
    /// (every such token expired long ago).
    pub sid: String,
    /// How the session was signed in (RFC 8176). Tokens from before it was
    /// carried read as none, which grants nothing.
    #[serde(default)]
    pub amr: Methods,
}

impl AccessClaims {
    pub fn user_id(&self) -> Result<UserId, TokenError> {
        UserId::parse(&self.sub).map_err(|_| TokenError::Invalid)
    }

    /// The session, as the id the database keeps.
    pub fn session_id(&self) -> Result<uuid::Uuid, TokenError> {
        uuid::Uuid::parse_str(&self.sid).map_err(|_| TokenError::Invalid)
    }
}

/// Whom an access token is for: the user, the staff claim, the session and
/// how it was signed in.
#[derive(Debug, Clone)]
pub struct Grant {
    pub user: UserId,
    pub is_staff: bool,
    pub session: uuid::Uuid,
    pub amr: Methods,
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
            ed25519: None,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            access_ttl_secs,
            refresh_ttl_secs,
            verify_only: false,
        })
    }

    /// Checks access tokens only: no lifetimes, so two settings (host calls
    /// under Spin) fewer per request. Issuing with it is an error.
    pub fn verifier(secret: &str, issuer: &str, audience: &str) -> Result<Self, TokenError> {
        Ok(Self { verify_only: true, ..Self::new(secret, issuer, audience, 1, 1)? })
    }

    /// Signs with Ed25519 from now on. `next` and `retired` are public keys
    /// (PEM, concatenated) the JWKS also lists: the key that will sign after
    /// the next rotation, and keys whose tokens may still be live.
    /// `hs256_accepted_until` (seconds since the epoch) keeps HS256 tokens
    /// issued before the switch valid until then; `None` refuses them.
    pub fn with_ed25519(
        mut self,
        signing_pem: &str,
        next: &str,
        retired: &str,
        hs256_accepted_until: Option<u64>,
    ) -> Result<Self, TokenError> {
        let bad = |what: &str, e: crate::signing_keys::KeyError| TokenError::BadKey(format!("{what}: {e}"));
        let signing = SigningKey::parse(signing_pem).map_err(|e| bad("signing key", e))?;
        let mut published = vec![signing.public.clone()];
        for (what, pem) in [("next keys", next), ("retired keys", retired)] {
            for key in PublicKey::parse_all(pem).map_err(|e| bad(what, e))? {
                if !published.contains(&key) {
                    published.push(key);
                }
            }
        }
        self.ed25519 = Some(Ed25519 { signing, published, hs256_accepted_until });
        Ok(self)
    }

    /// The JSON Web Key Set of every key a token may be verified with (empty
    /// while tokens are HS256: that key is a secret).
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self.ed25519.iter().flat_map(|e| e.published.iter().map(PublicKey::jwk)).collect();
        json!({ "keys": keys })
    }

    /// Signs an access token for `grant` issued at `now` (seconds since the epoch).
    pub fn issue_access(&self, grant: &Grant, now: u64) -> Result<String, TokenError> {
        if self.verify_only {
            return Err(TokenError::Signing("a verifier issues no tokens".into()));
        }
        let claims = AccessClaims {
            sub: grant.user.to_string(),
            exp: now + self.access_ttl_secs,
            iat: now,
            nbf: now,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: uuid::Uuid::new_v4().to_string(),
            token_type: ACCESS.to_owned(),
            is_staff: grant.is_staff,
            sid: grant.session.to_string(),
            amr: grant.amr.clone(),
        };
        let signed = match &self.ed25519 {
            Some(ed) => {
                let header = Header { kid: Some(ed.signing.public.kid()), ..Header::new(Algorithm::EdDSA) };
                encode(&header, &claims, &EncodingKey::from_ed_der(ed.signing.der()))
            }
            None => encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&self.secret)),
        };
        signed.map_err(|e| TokenError::Signing(e.to_string()))
    }

    /// Checks signature, algorithm, every time claim, issuer, audience and
    /// type ([`crate::jws`]: `jsonwebtoken::decode` parsed each part twice,
    /// a third of a cached read's guest time). The header's `alg` only picks
    /// among the keys this configuration accepts: `none` and swaps fail.
    pub fn validate_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let jws = Compact::parse(token)?;
        let verified = match (jws.header.alg.as_str(), &self.ed25519) {
            ("HS256", None) => jws.verify_hs256(&self.secret)?,
            ("HS256", Some(ed)) if ed.hs256_accepted_until.is_some_and(|until| now_secs() < until) => {
                jws.verify_hs256(&self.secret)?
            }
            ("EdDSA", Some(ed)) => {
                let kid = jws.header.kid.as_deref().ok_or(TokenError::Invalid)?;
                let key = ed.published.iter().find(|k| k.kid() == kid).ok_or(TokenError::Invalid)?;
                jws.verify_ed25519(key.bytes())?
            }
            _ => return Err(TokenError::Invalid),
        };
        // Every claim the struct names is required (exp, nbf, iat, iss, aud
        // and sub among them).
        let claims: AccessClaims = verified.payload()?;
        let now = now_secs();
        if claims.exp.saturating_add(LEEWAY_SECS) < now {
            return Err(TokenError::Expired);
        }
        // A token from the future (`nbf`, `iat`) is forged or skewed.
        if claims.nbf > now + LEEWAY_SECS
            || claims.iat > now + LEEWAY_SECS
            || claims.iss != self.issuer
            || claims.aud != self.audience
            || claims.token_type != ACCESS
        {
            return Err(TokenError::Invalid);
        }
        claims.user_id()?;
        claims.session_id()?;
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
    use jsonwebtoken::decode_header;

    const SECRET: &str = "an-hs256-test-secret-of-enough-length!!";

    fn config() -> TokenConfig {
        TokenConfig::new(SECRET, "user-service", "notification-platform", 900, 86400).unwrap()
    }

    fn grant(user: UserId, is_staff: bool) -> Grant {
        Grant { user, is_staff, session: uuid::Uuid::new_v4(), amr: Methods::password() }
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
            "iss": "user-service", "aud": "notification-platform", "jti": "j", "type": "access", "is_staff": false,
            "sid": uuid::Uuid::new_v4().to_string()
        })
    }

    #[test]
    fn an_issued_token_validates_with_all_claims() {
        let user = UserId::new();
        let token = config().issue_access(&grant(user, true), now_secs()).unwrap();
        let claims = config().validate_access(&token).unwrap();
        assert_eq!(claims.user_id().unwrap(), user);
        assert!(claims.is_staff);
        assert_eq!(claims.exp - claims.iat, 900);
        assert_eq!(claims.token_type, "access");
        assert_eq!(claims.amr, Methods::password());
        assert!(claims.session_id().is_ok());
    }

    #[test]
    fn a_token_without_a_session_or_with_a_malformed_one_is_refused() {
        assert!(config().validate_access(&sign(&valid_claims(), SECRET)).is_ok());
        let mut claims = valid_claims();
        claims.as_object_mut().unwrap().remove("sid");
        assert_eq!(config().validate_access(&sign(&claims, SECRET)).unwrap_err(), TokenError::Invalid);
        claims["sid"] = "not-a-session".into();
        assert_eq!(config().validate_access(&sign(&claims, SECRET)).unwrap_err(), TokenError::Invalid);
    }

    #[test]
    fn weak_secrets_are_refused() {
        assert_eq!(TokenConfig::new("short", "i", "a", 1, 1).unwrap_err(), TokenError::WeakSecret);
    }

    #[test]
    fn expired_tokens_are_refused() {
        let token = config().issue_access(&grant(UserId::new(), false), now_secs() - 1000).unwrap();
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

    const FIRST: &str = include_str!("../../tests/fixtures/keys/first.pem");
    const FIRST_PUBLIC: &str = include_str!("../../tests/fixtures/keys/first.pub.pem");
    const SECOND: &str = include_str!("../../tests/fixtures/keys/second.pem");
    const SECOND_PUBLIC: &str = include_str!("../../tests/fixtures/keys/second.pub.pem");

    fn eddsa(signing: &str, next: &str, retired: &str, hs256_until: Option<u64>) -> TokenConfig {
        config().with_ed25519(signing, next, retired, hs256_until).unwrap()
    }

    #[test]
    fn eddsa_tokens_carry_a_kid_and_verify_from_the_published_keys() {
        let first = eddsa(FIRST, SECOND_PUBLIC, "", None);
        let token = first.issue_access(&grant(UserId::new(), false), now_secs()).unwrap();
        let header = decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        let jwks = first.jwks();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2, "signing and next key");
        assert_eq!(header.kid.as_deref(), jwks["keys"][0]["kid"].as_str());
        assert!(first.validate_access(&token).is_ok());
        assert!(!jwks.to_string().contains("\"d\""), "no private part: {jwks}");
    }

    #[test]
    fn a_rotation_keeps_live_tokens_valid_until_the_old_key_is_dropped() {
        let before = eddsa(FIRST, SECOND_PUBLIC, "", None);
        let old_token = before.issue_access(&grant(UserId::new(), false), now_secs()).unwrap();
        let after = eddsa(SECOND, "", FIRST_PUBLIC, None);
        assert!(after.validate_access(&old_token).is_ok(), "signed by the retired key");
        let new_token = after.issue_access(&grant(UserId::new(), false), now_secs()).unwrap();
        assert!(before.validate_access(&new_token).is_ok(), "instances not yet rotated know the next key");
        let dropped = eddsa(SECOND, "", "", None);
        assert_eq!(dropped.validate_access(&old_token).unwrap_err(), TokenError::Invalid);
    }

    #[test]
    fn hs256_tokens_are_accepted_after_the_switch_only_until_the_configured_time() {
        let hs256 = config().issue_access(&grant(UserId::new(), false), now_secs()).unwrap();
        assert!(eddsa(FIRST, "", "", Some(now_secs() + 60)).validate_access(&hs256).is_ok());
        assert_eq!(
            eddsa(FIRST, "", "", Some(now_secs() - 1)).validate_access(&hs256).unwrap_err(),
            TokenError::Invalid
        );
        assert_eq!(eddsa(FIRST, "", "", None).validate_access(&hs256).unwrap_err(), TokenError::Invalid);
        // Without EdDSA nothing but HS256 is accepted: an EdDSA token is refused.
        let eddsa_token = eddsa(FIRST, "", "", None).issue_access(&grant(UserId::new(), false), now_secs()).unwrap();
        assert_eq!(config().validate_access(&eddsa_token).unwrap_err(), TokenError::Invalid);
    }

    #[test]
    fn an_eddsa_token_with_an_unknown_or_missing_kid_is_refused() {
        let signer = eddsa(FIRST, "", "", None);
        let claims = valid_claims();
        let key = EncodingKey::from_ed_der(SigningKey::parse(FIRST).unwrap().der());
        let no_kid = encode(&Header::new(Algorithm::EdDSA), &claims, &key).unwrap();
        assert_eq!(signer.validate_access(&no_kid).unwrap_err(), TokenError::Invalid);
        let header = Header { kid: Some("someone-elses".into()), ..Header::new(Algorithm::EdDSA) };
        let unknown = encode(&header, &claims, &key).unwrap();
        assert_eq!(signer.validate_access(&unknown).unwrap_err(), TokenError::Invalid);
        // The right kid on a token signed by another key fails its signature.
        let kid = SigningKey::parse(FIRST).unwrap().public.kid();
        let other = EncodingKey::from_ed_der(SigningKey::parse(SECOND).unwrap().der());
        let forged = encode(&Header { kid: Some(kid), ..Header::new(Algorithm::EdDSA) }, &claims, &other).unwrap();
        assert_eq!(signer.validate_access(&forged).unwrap_err(), TokenError::Invalid);
    }

    #[test]
    fn the_leeway_covers_clock_skew_and_no_more() {
        let mut claims = valid_claims();
        claims["exp"] = (now_secs() - 3).into();
        assert!(config().validate_access(&sign(&claims, SECRET)).is_ok(), "within the leeway");
        claims["exp"] = (now_secs() - 60).into();
        assert_eq!(config().validate_access(&sign(&claims, SECRET)).unwrap_err(), TokenError::Expired);
        claims["exp"] = (now_secs() + 60).into();
        claims["nbf"] = (now_secs() + 3).into();
        assert!(config().validate_access(&sign(&claims, SECRET)).is_ok(), "within the leeway");
    }

    #[test]
    fn a_verifier_checks_tokens_and_issues_none() {
        let token = config().issue_access(&grant(UserId::new(), false), now_secs()).unwrap();
        let verifier = TokenConfig::verifier(SECRET, "user-service", "notification-platform").unwrap();
        assert!(verifier.validate_access(&token).is_ok());
        assert!(matches!(verifier.issue_access(&grant(UserId::new(), false), now_secs()), Err(TokenError::Signing(_))));
        let eddsa_token = eddsa(FIRST, "", "", None).issue_access(&grant(UserId::new(), false), now_secs()).unwrap();
        let eddsa_verifier = verifier.with_ed25519(FIRST, "", "", None).unwrap();
        assert!(eddsa_verifier.validate_access(&eddsa_token).is_ok());
        assert_eq!(TokenConfig::verifier("short", "i", "a").unwrap_err(), TokenError::WeakSecret);
    }

    #[test]
    fn refresh_tokens_store_only_a_digest() {
        let token = RefreshToken::generate().unwrap();
        assert_eq!(token.digest, digest(&token.token));
        assert_ne!(token.digest, token.token);
    }
}
