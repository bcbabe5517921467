//! The `publicKey` options of both ceremonies, in WebAuthn's JSON form
//! (`PublicKeyCredentialCreationOptionsJSON`, `…RequestOptionsJSON`, §5.1):
//! binary values as base64url, which `PublicKeyCredential.parseCreationOptionsFromJSON()`
//! (or a few lines of client code) turns into what `navigator.credentials` takes.

use serde_json::{Value, json};

use super::{Challenge, RelyingParty, b64, cose};

/// How long a ceremony's challenge is accepted, in seconds; the options'
/// `timeout` tells the browser the same.
pub const CHALLENGE_TTL_SECS: u64 = 300;

/// A credential the browser is told about (to exclude at registration, to
/// allow at sign-in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub id: Vec<u8>,
    pub transports: Vec<String>,
}

fn descriptors(credentials: &[Descriptor]) -> Vec<Value> {
    credentials
        .iter()
        .map(|c| {
            let mut descriptor = json!({"type": "public-key", "id": b64(&c.id)});
            if !c.transports.is_empty() {
                descriptor["transports"] = json!(c.transports);
            }
            descriptor
        })
        .collect()
}

/// Who the new passkey is for.
pub struct User<'a> {
    /// The user handle: opaque bytes, returned by the authenticator at a
    /// usernameless sign-in.
    pub handle: &'a [u8],
    /// The email, which the authenticator shows as the account's name.
    pub name: &'a str,
    pub display_name: &'a str,
}

/// Options for `navigator.credentials.create()`: a discoverable credential
/// (so sign-in needs no email), ES256 or EdDSA, no attestation, and none
/// of the account's existing passkeys again.
pub fn creation(rp: &RelyingParty, user: &User<'_>, challenge: &Challenge, existing: &[Descriptor]) -> Value {
    let params: Vec<Value> = cose::OFFERED.iter().map(|alg| json!({"type": "public-key", "alg": alg})).collect();
    json!({
        "rp": {"id": rp.id, "name": rp.name},
        "user": {"id": b64(user.handle), "name": user.name, "displayName": user.display_name},
        "challenge": challenge.to_b64(),
        "pubKeyCredParams": params,
        "timeout": CHALLENGE_TTL_SECS * 1000,
        "excludeCredentials": descriptors(existing),
        "authenticatorSelection": {
            "residentKey": "required",
            "requireResidentKey": true,
            "userVerification": rp.user_verification.as_str(),
        },
        "attestation": "none",
    })
}

/// Options for `navigator.credentials.get()`. An empty `allowed` list is a
/// usernameless sign-in: the authenticator offers whichever passkey it
/// holds for this RP.
pub fn request(rp: &RelyingParty, challenge: &Challenge, allowed: &[Descriptor]) -> Value {
    json!({
        "challenge": challenge.to_b64(),
        "timeout": CHALLENGE_TTL_SECS * 1000,
        "rpId": rp.id,
        "allowCredentials": descriptors(allowed),
        "userVerification": rp.user_verification.as_str(),
    })
}

/// What the sign-in options list for an email with no passkey (no account,
/// or an account without one): stand-in credentials, stable per email, so
/// the answer looks like an account's. One or two of them, as accounts with
/// a passkey or two list; none can ever sign in (no passkey has their ID).
pub fn decoys(secret: &[u8], email: &str) -> Vec<Descriptor> {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(b"passkey-decoy:");
    mac.update(email.as_bytes());
    let seed = mac.finalize().into_bytes();
    let count = 1 + usize::from(seed[0] & 1);
    (0..count)
        .map(|n| {
            let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&seed).expect("any key length");
            mac.update(&[n as u8]);
            let id = mac.finalize().into_bytes().to_vec();
            Descriptor { id, transports: vec!["hybrid".into(), "internal".into()] }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_options_ask_for_a_discoverable_es256_or_eddsa_key_without_attestation() {
        let rp = RelyingParty::parse("example.com", "Example", "https://example.com", "required").unwrap();
        let user = User { handle: &[1, 2, 3], name: "ada@example.com", display_name: "Ada" };
        let existing = [Descriptor { id: vec![9, 9], transports: vec!["usb".into()] }];
        let options = creation(&rp, &user, &Challenge([0; 32]), &existing);
        assert_eq!(options["rp"], json!({"id": "example.com", "name": "Example"}));
        assert_eq!(options["user"]["id"], "AQID");
        assert_eq!(options["challenge"], b64(&[0; 32]));
        assert_eq!(options["pubKeyCredParams"][0]["alg"], -7);
        assert_eq!(options["pubKeyCredParams"][1]["alg"], -8);
        assert_eq!(options["attestation"], "none");
        assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
        assert_eq!(options["authenticatorSelection"]["userVerification"], "required");
        assert_eq!(options["excludeCredentials"], json!([{"type": "public-key", "id": "CQk", "transports": ["usb"]}]));
    }

    #[test]
    fn request_options_name_the_rp_and_the_allowed_credentials() {
        let rp = RelyingParty::parse("example.com", "", "https://example.com", "preferred").unwrap();
        let options = request(&rp, &Challenge([1; 32]), &[]);
        assert_eq!(options["rpId"], "example.com");
        assert_eq!(options["allowCredentials"], json!([]));
        assert_eq!(options["userVerification"], "preferred");
        assert_eq!(options["timeout"], 300_000);
    }

    #[test]
    fn decoys_are_stable_per_email_and_differ_between_emails() {
        let a = decoys(b"secret", "ada@example.com");
        assert_eq!(a, decoys(b"secret", "ada@example.com"));
        assert!((1..=2).contains(&a.len()));
        assert_ne!(a[0].id, decoys(b"secret", "bob@example.com")[0].id);
        assert_ne!(a[0].id, decoys(b"other", "ada@example.com")[0].id);
        assert_eq!(a[0].id.len(), 32);
    }
}
