//! Passkeys: the relying party's side of WebAuthn (Level 3), kept small.
//!
//! Only what this service offers is here: `"none"` attestation (and a
//! `"packed"` self attestation, checked, since some authenticators send one
//! anyway), ES256 and EdDSA keys, the client data, the authenticator data
//! and the signature counter. Why not a library: see the README's
//! "Passkeys" decisions. The W3C's test vectors and a software
//! authenticator written against the spec (`tests/src/authenticator.rs`)
//! check it.
//!
//! - [`RelyingParty`]: who we are (RP ID, name, allowed origins, whether
//!   user verification is required), parsed once from the settings.
//! - [`ceremony`]: verifying a registration and an assertion.
//! - [`options`]: the `publicKey` options a browser passes to
//!   `navigator.credentials.create()` and `.get()`.
//! - [`cbor`], [`cose`]: the encodings the authenticator speaks.

pub mod cbor;
pub mod ceremony;
pub mod cose;
pub mod options;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest, Sha256};

use crate::secrets::{RandomError, random_bytes};

/// Base64url as WebAuthn's JSON forms write it. Written without padding;
/// read with or without, since some clients pad.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Reads base64url (padded or not); `None` for anything else.
pub fn unb64(text: &str) -> Option<Vec<u8>> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(text).ok()
}

/// Whether an assertion must carry the authenticator's user verification
/// (PIN, biometrics) flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserVerification {
    /// Asked for; a ceremony without it is accepted as one factor.
    Preferred,
    /// A ceremony without it is refused.
    Required,
}

impl UserVerification {
    pub fn as_str(self) -> &'static str {
        match self {
            UserVerification::Preferred => "preferred",
            UserVerification::Required => "required",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("webauthn_rp_id must be a host name (no scheme, port or path), got {0:?}")]
    RpId(String),
    #[error("webauthn_origins must list origins like https://example.com, got {0:?}")]
    Origin(String),
    #[error("webauthn_user_verification must be preferred or required, got {0:?}")]
    UserVerification(String),
    #[error("webauthn_origins is empty")]
    NoOrigin,
}

/// The relying party, from the `webauthn_*` variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    pub id: String,
    pub name: String,
    pub origins: Vec<String>,
    pub user_verification: UserVerification,
}

impl RelyingParty {
    /// `origins` is comma-separated. Each origin is a scheme, a host and
    /// perhaps a port, exactly as browsers write `clientDataJSON.origin`
    /// (no path, no trailing slash), since that is compared as a string.
    pub fn parse(id: &str, name: &str, origins: &str, user_verification: &str) -> Result<Self, SettingsError> {
        let id = id.trim().to_ascii_lowercase();
        let host_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
        if id.is_empty() || !id.chars().all(host_char) || id.starts_with('.') || id.ends_with('.') {
            return Err(SettingsError::RpId(id));
        }
        let mut parsed = Vec::new();
        for origin in origins.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))
                .ok_or_else(|| SettingsError::Origin(origin.to_owned()))?;
            let (host, port) = rest.split_once(':').unwrap_or((rest, ""));
            let valid = !host.is_empty() && host.chars().all(host_char) && port.chars().all(|c| c.is_ascii_digit());
            if !valid || (rest.contains(':') && port.is_empty()) {
                return Err(SettingsError::Origin(origin.to_owned()));
            }
            parsed.push(origin.to_ascii_lowercase());
        }
        if parsed.is_empty() {
            return Err(SettingsError::NoOrigin);
        }
        let user_verification = match user_verification.trim() {
            "preferred" => UserVerification::Preferred,
            "required" => UserVerification::Required,
            other => return Err(SettingsError::UserVerification(other.to_owned())),
        };
        Ok(Self { id, name: name.trim().to_owned(), origins: parsed, user_verification })
    }

    /// SHA-256 of the RP ID, which the authenticator data must start with.
    pub fn id_hash(&self) -> [u8; 32] {
        Sha256::digest(self.id.as_bytes()).into()
    }
}

/// A ceremony's challenge: 32 random bytes, used once.
#[derive(Clone, PartialEq, Eq)]
pub struct Challenge(pub [u8; 32]);

impl std::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Challenge(…)")
    }
}

impl Challenge {
    pub fn generate() -> Result<Self, RandomError> {
        Ok(Self(random_bytes::<32>()?))
    }

    pub fn to_b64(&self) -> String {
        b64(&self.0)
    }

    /// The stored form read back; `None` if it is not 32 bytes of base64url.
    pub fn from_b64(text: &str) -> Option<Self> {
        unb64(text)?.try_into().ok().map(Self)
    }
}

/// Authenticator data flags (WebAuthn §6.1).
pub mod flags {
    pub const USER_PRESENT: u8 = 0x01;
    pub const USER_VERIFIED: u8 = 0x04;
    pub const BACKUP_ELIGIBLE: u8 = 0x08;
    pub const BACKED_UP: u8 = 0x10;
    pub const ATTESTED_CREDENTIAL: u8 = 0x40;
    pub const EXTENSIONS: u8 = 0x80;
}

/// The longest credential ID WebAuthn allows (§5.8.3).
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;

/// A credential created at registration (attested credential data, §6.5.1).
#[derive(Debug, Clone)]
pub struct AttestedCredential {
    pub aaguid: [u8; 16],
    pub credential_id: Vec<u8>,
    /// The COSE_Key bytes exactly as sent: what is stored.
    pub cose_key: Vec<u8>,
    pub public_key: cose::PublicKey,
}

/// Authenticator data (§6.1), read strictly: nothing may follow what its
/// flags announce.
#[derive(Debug, Clone)]
pub struct AuthenticatorData {
    pub rp_id_hash: [u8; 32],
    pub flags: u8,
    pub sign_count: u32,
    pub attested: Option<AttestedCredential>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthDataError {
    #[error("authenticator data is too short")]
    Truncated,
    #[error("authenticator data has bytes its flags do not announce")]
    TrailingBytes,
    #[error("the credential ID is longer than 1023 bytes")]
    CredentialIdTooLong,
    #[error("the credential public key: {0}")]
    Key(#[from] cose::KeyError),
    #[error("authenticator data extensions are not CBOR")]
    Extensions,
}

impl AuthenticatorData {
    pub fn parse(bytes: &[u8]) -> Result<Self, AuthDataError> {
        if bytes.len() < 37 {
            return Err(AuthDataError::Truncated);
        }
        let rp_id_hash: [u8; 32] = bytes[..32].try_into().expect("32 bytes");
        let flags = bytes[32];
        let sign_count = u32::from_be_bytes(bytes[33..37].try_into().expect("4 bytes"));
        let mut rest = &bytes[37..];
        let attested = if flags & flags::ATTESTED_CREDENTIAL != 0 {
            if rest.len() < 18 {
                return Err(AuthDataError::Truncated);
            }
            let aaguid: [u8; 16] = rest[..16].try_into().expect("16 bytes");
            let id_len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
            if id_len > MAX_CREDENTIAL_ID_LEN {
                return Err(AuthDataError::CredentialIdTooLong);
            }
            rest = &rest[18..];
            if rest.len() < id_len {
                return Err(AuthDataError::Truncated);
            }
            let credential_id = rest[..id_len].to_vec();
            rest = &rest[id_len..];
            let (key, used) = cbor::decode_prefix(rest).map_err(cose::KeyError::from)?;
            let public_key = cose::PublicKey::from_cose(&key)?;
            let cose_key = rest[..used].to_vec();
            rest = &rest[used..];
            Some(AttestedCredential { aaguid, credential_id, cose_key, public_key })
        } else {
            None
        };
        if flags & flags::EXTENSIONS != 0 {
            let (_, used) = cbor::decode_prefix(rest).map_err(|_| AuthDataError::Extensions)?;
            rest = &rest[used..];
        }
        if !rest.is_empty() {
            return Err(AuthDataError::TrailingBytes);
        }
        Ok(Self { rp_id_hash, flags, sign_count, attested })
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_parsed_once_and_refused_with_their_names() {
        let rp =
            RelyingParty::parse("Example.COM", " Example ", "https://example.com, http://localhost:3000", "required")
                .unwrap();
        assert_eq!(rp.id, "example.com");
        assert_eq!(rp.name, "Example");
        assert_eq!(rp.origins, ["https://example.com", "http://localhost:3000"]);
        assert_eq!(rp.user_verification, UserVerification::Required);
        assert!(matches!(
            RelyingParty::parse("https://x.com", "", "https://x.com", "preferred"),
            Err(SettingsError::RpId(_))
        ));
        assert!(matches!(RelyingParty::parse("x.com", "", "x.com", "preferred"), Err(SettingsError::Origin(_))));
        assert!(matches!(
            RelyingParty::parse("x.com", "", "https://x.com/", "preferred"),
            Err(SettingsError::Origin(_))
        ));
        assert!(matches!(
            RelyingParty::parse("x.com", "", "https://x.com:", "preferred"),
            Err(SettingsError::Origin(_))
        ));
        assert_eq!(RelyingParty::parse("x.com", "", " , ", "preferred"), Err(SettingsError::NoOrigin));
        assert!(matches!(
            RelyingParty::parse("x.com", "", "https://x.com", "discouraged"),
            Err(SettingsError::UserVerification(_))
        ));
    }

    #[test]
    fn base64url_is_read_padded_or_not_and_nothing_else() {
        assert_eq!(unb64("AQI"), Some(vec![1, 2]));
        assert_eq!(unb64("AQI="), Some(vec![1, 2]));
        assert_eq!(unb64("AQ+/"), None, "standard alphabet");
        assert_eq!(b64(&[0xfb, 0xff]), "-_8");
        assert!(Challenge::from_b64(&b64(&[1; 31])).is_none());
        let challenge = Challenge::generate().unwrap();
        assert_eq!(Challenge::from_b64(&challenge.to_b64()), Some(challenge));
    }

    #[test]
    fn authenticator_data_is_read_strictly() {
        let mut data = vec![0u8; 32];
        data.push(flags::USER_PRESENT);
        data.extend_from_slice(&7u32.to_be_bytes());
        let parsed = AuthenticatorData::parse(&data).unwrap();
        assert_eq!((parsed.sign_count, parsed.has(flags::USER_PRESENT), parsed.attested.is_none()), (7, true, true));
        assert_eq!(AuthenticatorData::parse(&data[..36]).unwrap_err(), AuthDataError::Truncated);
        let mut trailing = data.clone();
        trailing.push(0);
        assert_eq!(AuthenticatorData::parse(&trailing).unwrap_err(), AuthDataError::TrailingBytes);
        let mut announced = data.clone();
        announced[32] |= flags::ATTESTED_CREDENTIAL;
        assert_eq!(AuthenticatorData::parse(&announced).unwrap_err(), AuthDataError::Truncated);
        announced.extend_from_slice(&[0; 16]);
        announced.extend_from_slice(&2000u16.to_be_bytes());
        assert_eq!(AuthenticatorData::parse(&announced).unwrap_err(), AuthDataError::CredentialIdTooLong);
        let mut extensions = data;
        extensions[32] |= flags::EXTENSIONS;
        extensions.push(0xa0);
        assert!(AuthenticatorData::parse(&extensions).is_ok());
    }
}
