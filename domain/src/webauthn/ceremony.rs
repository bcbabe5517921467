//! Verifying the two ceremonies (WebAuthn §7.1 registration, §7.2
//! authentication) against the challenge the server stored. Every check
//! that fails names itself in [`Refused`] (for the audit trail); callers
//! answer all of them alike.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::cbor::{self, Value};
use super::cose::PublicKey;
use super::{AuthenticatorData, Challenge, RelyingParty, UserVerification, flags, unb64};

/// Why a ceremony was refused. The names go to the audit trail, never to
/// the client (which learns only that it failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("malformed")]
    Malformed,
    #[error("wrong_type")]
    WrongType,
    #[error("wrong_challenge")]
    WrongChallenge,
    #[error("wrong_origin")]
    WrongOrigin,
    #[error("cross_origin")]
    CrossOrigin,
    #[error("wrong_rp_id")]
    WrongRpId,
    #[error("no_user_presence")]
    NoUserPresence,
    #[error("no_user_verification")]
    NoUserVerification,
    #[error("unsupported_attestation")]
    UnsupportedAttestation,
    #[error("bad_attestation")]
    BadAttestation,
    #[error("bad_signature")]
    BadSignature,
    #[error("wrong_credential")]
    WrongCredential,
    #[error("wrong_user")]
    WrongUser,
    #[error("counter_regressed")]
    CounterRegressed,
}

impl Refused {
    pub fn reason(self) -> String {
        self.to_string()
    }
}

/// `AuthenticatorAttestationResponseJSON`'s fields this service reads.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AttestationResponse {
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    pub attestation_object: String,
    #[serde(default)]
    pub transports: Vec<String>,
}

/// `RegistrationResponseJSON` (§5.1), as `credential.toJSON()` gives it.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RegistrationResponse {
    pub id: String,
    pub raw_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub response: AttestationResponse,
}

/// `AuthenticatorAssertionResponseJSON`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AssertionResponse {
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    pub authenticator_data: String,
    pub signature: String,
    #[serde(default)]
    pub user_handle: Option<String>,
}

/// `AuthenticationResponseJSON` (§5.1).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationResponse {
    pub id: String,
    pub raw_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub response: AssertionResponse,
}

impl AuthenticationResponse {
    /// The credential ID the assertion claims to be from, to look it up.
    pub fn credential_id(&self) -> Option<Vec<u8>> {
        let raw = unb64(&self.raw_id)?;
        (unb64(&self.id)? == raw && self.kind == "public-key").then_some(raw)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientData {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
    origin: String,
    #[serde(default)]
    cross_origin: Option<bool>,
}

/// Steps 5 to 12 (registration) and 10 to 17 (authentication): the client
/// data is JSON of the right type, for our challenge, from one of our
/// origins, not from a frame of another site. Answers its hash.
fn check_client_data(rp: &RelyingParty, encoded: &str, kind: &str, challenge: &Challenge) -> Result<[u8; 32], Refused> {
    let bytes = unb64(encoded).ok_or(Refused::Malformed)?;
    let data: ClientData = serde_json::from_slice(&bytes).map_err(|_| Refused::Malformed)?;
    if data.kind != kind {
        return Err(Refused::WrongType);
    }
    let sent = unb64(&data.challenge).ok_or(Refused::WrongChallenge)?;
    if sent.len() != challenge.0.len() || !bool::from(sent.ct_eq(&challenge.0)) {
        return Err(Refused::WrongChallenge);
    }
    if !rp.origins.contains(&data.origin) {
        return Err(Refused::WrongOrigin);
    }
    if data.cross_origin == Some(true) {
        return Err(Refused::CrossOrigin);
    }
    Ok(Sha256::digest(&bytes).into())
}

/// The authenticator data's checks common to both ceremonies: our RP ID,
/// the user present, verified if we require it, backup flags coherent.
fn check_authenticator_data(rp: &RelyingParty, data: &AuthenticatorData) -> Result<(), Refused> {
    if !bool::from(data.rp_id_hash.ct_eq(&rp.id_hash())) {
        return Err(Refused::WrongRpId);
    }
    if !data.has(flags::USER_PRESENT) {
        return Err(Refused::NoUserPresence);
    }
    if rp.user_verification == UserVerification::Required && !data.has(flags::USER_VERIFIED) {
        return Err(Refused::NoUserVerification);
    }
    // A credential that cannot be backed up is never backed up (§6.1.3).
    if data.has(flags::BACKED_UP) && !data.has(flags::BACKUP_ELIGIBLE) {
        return Err(Refused::Malformed);
    }
    Ok(())
}

/// A verified new passkey, ready to store.
#[derive(Debug, Clone)]
pub struct NewPasskey {
    pub credential_id: Vec<u8>,
    pub cose_key: Vec<u8>,
    pub algorithm: i64,
    pub sign_count: u32,
    pub user_verified: bool,
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub transports: Vec<String>,
    pub aaguid: [u8; 16],
}

/// Verifies a registration (§7.1) made for `challenge`. Attestation is
/// not trusted (the options ask for `"none"`): a `"none"` statement must
/// be empty, and a `"packed"` self attestation must verify with the new
/// key itself; any other format is refused rather than taken on trust.
pub fn verify_registration(
    rp: &RelyingParty,
    challenge: &Challenge,
    credential: &RegistrationResponse,
) -> Result<NewPasskey, Refused> {
    if credential.kind != "public-key" {
        return Err(Refused::Malformed);
    }
    let client_data_hash = check_client_data(rp, &credential.response.client_data_json, "webauthn.create", challenge)?;
    let object = unb64(&credential.response.attestation_object).ok_or(Refused::Malformed)?;
    let object = cbor::decode(&object).map_err(|_| Refused::Malformed)?;
    let fmt = object.get_text("fmt").and_then(Value::as_text).ok_or(Refused::Malformed)?;
    let statement = object.get_text("attStmt").ok_or(Refused::Malformed)?;
    let auth_data_bytes = object.get_text("authData").and_then(Value::as_bytes).ok_or(Refused::Malformed)?;
    let auth_data = AuthenticatorData::parse(auth_data_bytes).map_err(|_| Refused::Malformed)?;
    check_authenticator_data(rp, &auth_data)?;
    let attested = auth_data.attested.as_ref().ok_or(Refused::Malformed)?;
    // The ID the client reports is the one the authenticator made.
    let raw_id = unb64(&credential.raw_id).ok_or(Refused::Malformed)?;
    if raw_id != attested.credential_id || unb64(&credential.id).as_ref() != Some(&raw_id) {
        return Err(Refused::WrongCredential);
    }
    match fmt {
        "none" if *statement == Value::Map(vec![]) => {}
        "none" => return Err(Refused::BadAttestation),
        "packed" => {
            let alg = statement.get_text("alg").and_then(Value::as_int);
            let sig = statement.get_text("sig").and_then(Value::as_bytes);
            let (Some(alg), Some(sig)) = (alg, sig) else { return Err(Refused::BadAttestation) };
            // A certificate chain would need trust anchors we do not keep.
            if statement.get_text("x5c").is_some() {
                return Err(Refused::UnsupportedAttestation);
            }
            let mut signed = auth_data_bytes.to_vec();
            signed.extend_from_slice(&client_data_hash);
            if alg != attested.public_key.algorithm() || !attested.public_key.verifies(&signed, sig) {
                return Err(Refused::BadAttestation);
            }
        }
        _ => return Err(Refused::UnsupportedAttestation),
    }
    Ok(NewPasskey {
        credential_id: attested.credential_id.clone(),
        cose_key: attested.cose_key.clone(),
        algorithm: attested.public_key.algorithm(),
        sign_count: auth_data.sign_count,
        user_verified: auth_data.has(flags::USER_VERIFIED),
        backup_eligible: auth_data.has(flags::BACKUP_ELIGIBLE),
        backed_up: auth_data.has(flags::BACKED_UP),
        transports: credential.response.transports.iter().take(8).map(|t| t.chars().take(32).collect()).collect(),
        aaguid: attested.aaguid,
    })
}

/// What the server knows of the passkey an assertion claims to be from.
#[derive(Debug, Clone)]
pub struct StoredPasskey {
    pub credential_id: Vec<u8>,
    pub cose_key: Vec<u8>,
    pub sign_count: u32,
    /// The WebAuthn user handle of its account.
    pub user_handle: Vec<u8>,
}

/// A verified assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    pub sign_count: u32,
    pub user_verified: bool,
    pub backed_up: bool,
}

/// Verifies an assertion (§7.2) made for `challenge` by `stored`.
///
/// The counter: a passkey whose counter stays 0 (synced passkeys keep none)
/// is accepted; otherwise the new value must be above the stored one, and
/// one that is not is refused ([`Refused::CounterRegressed`]): a cloned
/// authenticator is the likeliest cause.
pub fn verify_assertion(
    rp: &RelyingParty,
    challenge: &Challenge,
    credential: &AuthenticationResponse,
    stored: &StoredPasskey,
) -> Result<Assertion, Refused> {
    if credential.credential_id().as_deref() != Some(&stored.credential_id[..]) {
        return Err(Refused::WrongCredential);
    }
    if let Some(handle) = &credential.response.user_handle {
        // Absent is allowed when the server named the credentials (§7.2 step 6).
        let handle = unb64(handle).ok_or(Refused::Malformed)?;
        if !handle.is_empty() && handle != stored.user_handle {
            return Err(Refused::WrongUser);
        }
    }
    let client_data_hash = check_client_data(rp, &credential.response.client_data_json, "webauthn.get", challenge)?;
    let auth_data_bytes = unb64(&credential.response.authenticator_data).ok_or(Refused::Malformed)?;
    let auth_data = AuthenticatorData::parse(&auth_data_bytes).map_err(|_| Refused::Malformed)?;
    check_authenticator_data(rp, &auth_data)?;
    let key = PublicKey::from_cose_bytes(&stored.cose_key).map_err(|_| Refused::Malformed)?;
    let signature = unb64(&credential.response.signature).ok_or(Refused::Malformed)?;
    let mut signed = auth_data_bytes;
    signed.extend_from_slice(&client_data_hash);
    if !key.verifies(&signed, &signature) {
        return Err(Refused::BadSignature);
    }
    let (new, old) = (auth_data.sign_count, stored.sign_count);
    if (new != 0 || old != 0) && new <= old {
        return Err(Refused::CounterRegressed);
    }
    Ok(Assertion {
        sign_count: new,
        user_verified: auth_data.has(flags::USER_VERIFIED),
        backed_up: auth_data.has(flags::BACKED_UP),
    })
}

#[cfg(test)]
#[path = "ceremony_tests.rs"]
mod tests;
