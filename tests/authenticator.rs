//! A software passkey authenticator for the tests, written against the
//! WebAuthn Level 3 spec (§6.1 authenticator data, §6.5 attestation, §5.8.5
//! CollectedClientData), with the browser's part folded in: it answers the
//! service's options with the JSON a browser's `credential.toJSON()` gives.
//! It is independent of `user_domain::webauthn` (its own CBOR writer, the
//! `p256` crate for ES256), so a mistake on one side is not mirrored by
//! the other. Its fields are the knobs the tests turn: another origin or
//! RP ID, no user verification, a counter that goes backwards.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub struct Authenticator {
    key: SigningKey,
    pub credential_id: Vec<u8>,
    /// The origin the "browser" reports (`clientDataJSON.origin`).
    pub origin: String,
    /// The RP ID whose hash starts the authenticator data; `None` takes the options'.
    pub rp_id: Option<String>,
    /// Whether the UV flag is set (a PIN or biometric was checked).
    pub user_verified: bool,
    /// The signature counter as the next assertion reports it, then counts
    /// on from; `None` keeps none (0 every time, as synced passkeys do).
    pub counter: Option<u32>,
    user_handle: Vec<u8>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("the service writes unpadded base64url")
}

/// A CBOR head (RFC 8949 §3): major type and length.
fn head(major: u8, len: usize, out: &mut Vec<u8>) {
    let major = major << 5;
    match len {
        0..=23 => out.push(major | len as u8),
        24..=0xff => out.extend_from_slice(&[major | 24, len as u8]),
        _ => {
            out.push(major | 25);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
    }
}

fn cbor_text(text: &str, out: &mut Vec<u8>) {
    head(3, text.len(), out);
    out.extend_from_slice(text.as_bytes());
}

fn cbor_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    head(2, bytes.len(), out);
    out.extend_from_slice(bytes);
}

impl Authenticator {
    /// A new authenticator with a fresh key, for `origin`, verifying the user.
    pub fn new(origin: &str) -> Self {
        let mut secret = [0u8; 32];
        rand::fill(&mut secret);
        let mut credential_id = vec![0u8; 32];
        rand::fill(&mut credential_id[..]);
        Self {
            key: SigningKey::from_slice(&secret).expect("a random scalar is a key"),
            credential_id,
            origin: origin.to_owned(),
            rp_id: None,
            user_verified: true,
            counter: Some(1),
            user_handle: Vec::new(),
        }
    }

    /// The credential ID as the API shows it.
    pub fn id(&self) -> String {
        b64(&self.credential_id)
    }

    fn client_data(&self, kind: &str, options: &Value) -> Vec<u8> {
        let challenge = options["challenge"].as_str().expect("options carry a challenge");
        serde_json::to_vec(&json!({"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false}))
            .unwrap()
    }

    fn flags(&self, extra: u8) -> u8 {
        // UP, and BE + BS: a synced passkey.
        0x01 | 0x08 | 0x10 | if self.user_verified { 0x04 } else { 0 } | extra
    }

    fn rp_hash(&self, options_rp_id: &str) -> [u8; 32] {
        Sha256::digest(self.rp_id.as_deref().unwrap_or(options_rp_id).as_bytes()).into()
    }

    fn next_count(&mut self) -> u32 {
        match &mut self.counter {
            Some(count) => {
                let now = *count;
                *count += 1;
                now
            }
            None => 0,
        }
    }

    /// The COSE_Key of the public key (EC2, ES256, P-256).
    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.verifying_key().to_encoded_point(false);
        let mut out = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21];
        cbor_bytes(point.x().unwrap(), &mut out);
        out.push(0x22);
        cbor_bytes(point.y().unwrap(), &mut out);
        out
    }

    /// A `PublicKeyCredential`'s `toJSON()` around its `response`.
    fn credential(&self, response: Value) -> Value {
        json!({
            "id": self.id(),
            "rawId": self.id(),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": response,
        })
    }

    /// `navigator.credentials.create({publicKey})`, then `toJSON()`.
    pub fn create(&mut self, public_key: &Value) -> Value {
        let offered: Vec<i64> =
            public_key["pubKeyCredParams"].as_array().unwrap().iter().filter_map(|p| p["alg"].as_i64()).collect();
        assert!(offered.contains(&-7), "ES256 is offered: {offered:?}");
        self.user_handle = unb64(public_key["user"]["id"].as_str().unwrap());
        let client_data = self.client_data("webauthn.create", public_key);
        let mut auth_data = self.rp_hash(public_key["rp"]["id"].as_str().unwrap()).to_vec();
        auth_data.push(self.flags(0x40));
        auth_data.extend_from_slice(&self.next_count().to_be_bytes());
        auth_data.extend_from_slice(&[0; 16]); // AAGUID: none
        auth_data.extend_from_slice(&(self.credential_id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&self.credential_id);
        auth_data.extend_from_slice(&self.cose_key());
        let mut object = vec![0xa3];
        cbor_text("fmt", &mut object);
        cbor_text("none", &mut object);
        cbor_text("attStmt", &mut object);
        object.push(0xa0);
        cbor_text("authData", &mut object);
        cbor_bytes(&auth_data, &mut object);
        self.credential(json!({
            "clientDataJSON": b64(&client_data),
            "attestationObject": b64(&object),
            "transports": ["internal", "hybrid"],
        }))
    }

    /// `navigator.credentials.get({publicKey})`, then `toJSON()`.
    pub fn get(&mut self, public_key: &Value) -> Value {
        let client_data = self.client_data("webauthn.get", public_key);
        let mut auth_data = self.rp_hash(public_key["rpId"].as_str().unwrap()).to_vec();
        auth_data.push(self.flags(0));
        auth_data.extend_from_slice(&self.next_count().to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature: Signature = self.key.sign(&signed);
        self.credential(json!({
            "clientDataJSON": b64(&client_data),
            "authenticatorData": b64(&auth_data),
            "signature": b64(signature.to_der().as_bytes()),
            "userHandle": b64(&self.user_handle),
        }))
    }
}

impl crate::TestApp {
    /// Registers `authenticator`'s passkey for the account of `token`
    /// (whose password is `password`): the options, then the credential.
    pub async fn register_passkey(
        &self,
        token: &str,
        password: &str,
        authenticator: &mut Authenticator,
    ) -> crate::Answer {
        let options = self
            .post_authed(crate::path_of(crate::Op::PasskeyRegisterOptions), token, &json!({"password": password}))
            .await;
        assert_eq!(options.status, 200, "{}", options.text);
        let data = options.json()["data"].clone();
        let credential = authenticator.create(&data["publicKey"]);
        let body = json!({"challenge_id": data["challenge_id"], "credential": credential, "name": "Test key"});
        self.post_authed(crate::path_of(crate::Op::RegisterPasskey), token, &body).await
    }

    /// The sign-in options (for `email`, or usernameless): `data`.
    pub async fn passkey_options(&self, email: Option<&str>) -> Value {
        let body = match email {
            Some(email) => json!({"email": email}),
            None => json!({}),
        };
        let options = self.post_json(crate::path_of(crate::Op::PasskeyLoginOptions), &body).await;
        assert_eq!(options.status, 200, "{}", options.text);
        options.json()["data"].clone()
    }

    /// Signs in with `authenticator` (usernameless unless `email` is given).
    pub async fn passkey_login(&self, email: Option<&str>, authenticator: &mut Authenticator) -> crate::Answer {
        let data = self.passkey_options(email).await;
        let credential = authenticator.get(&data["publicKey"]);
        self.post_json(
            crate::path_of(crate::Op::PasskeyLogin),
            &json!({"challenge_id": data["challenge_id"], "credential": credential}),
        )
        .await
    }
}
