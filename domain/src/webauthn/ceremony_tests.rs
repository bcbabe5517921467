//! The ceremonies checked against the W3C's test vectors (WebAuthn Level 3,
//! "Test Vectors", w3c/webauthn `index.bs` at 146d0db0: RP ID
//! `example.org`, origin `https://example.org`), then against each way an
//! attacker or a broken client could depart from them.

use super::*;
use crate::webauthn::{RelyingParty, b64};

// "ES256 Credential with No Attestation" and "Packed Attestation with
// Ed25519 Credential", hex as the spec prints them.
const ES256_REG_CHALLENGE: &str = "00c30fb78531c464d2b6771dab8d7b603c01162f2fa486bea70f283ae556e130";
const ES256_REG_CLIENT_DATA: &str = "7b2274797065223a22776562617574686e2e637265617465222c226368616c6c656e6765223a22414d4d507434557878475453746e63647134313759447742466938767049612d7077386f4f755657345441222c226f726967696e223a2268747470733a2f2f6578616d706c652e6f7267222c2263726f73734f726967696e223a66616c73652c22657874726144617461223a22636c69656e74446174614a534f4e206d617920626520657874656e6465642077697468206164646974696f6e616c206669656c647320696e20746865206675747572652c207375636820617320746869733a20426b5165446a646354427258426941774a544c453551227d";
const ES256_ATTESTATION_OBJECT: &str = "a363666d74646e6f6e656761747453746d74a068617574684461746158a4bfabc37432958b063360d3ad6461c9c4735ae7f8edd46592a5e0f01452b2e4b559000000008446ccb9ab1db374750b2367ff6f3a1f0020f91f391db4c9b2fde0ea70189cba3fb63f579ba6122b33ad94ff3ec330084be4a5010203262001215820afefa16f97ca9b2d23eb86ccb64098d20db90856062eb249c33a9b672f26df61225820930a56b87a2fca66334b03458abf879717c12cc68ed73290af2e2664796b9220";
const ES256_CREDENTIAL_ID: &str = "f91f391db4c9b2fde0ea70189cba3fb63f579ba6122b33ad94ff3ec330084be4";
const ES256_AUTH_CHALLENGE: &str = "39c0e7521417ba54d43e8dc95174f423dee9bf3cd804ff6d65c857c9abf4d408";
const ES256_AUTH_DATA: &str = "bfabc37432958b063360d3ad6461c9c4735ae7f8edd46592a5e0f01452b2e4b51900000000";
const ES256_AUTH_CLIENT_DATA: &str = "7b2274797065223a22776562617574686e2e676574222c226368616c6c656e6765223a224f63446e55685158756c5455506f334a5558543049393770767a7a59425039745a63685879617630314167222c226f726967696e223a2268747470733a2f2f6578616d706c652e6f7267222c2263726f73734f726967696e223a66616c73657d";
const ES256_SIGNATURE: &str = "3046022100f50a4e2e4409249c4a853ba361282f09841df4dd4547a13a87780218deffcd380221008480ac0f0b93538174f575bf11a1dd5d78c6e486013f937295ea13653e331e87";
const EDDSA_REG_CHALLENGE: &str = "a8abf9dabdc6b0df63466b39bda9e8a34a34e185337a59f1c579990676d3b3bd";
const EDDSA_REG_CLIENT_DATA: &str = "7b2274797065223a22776562617574686e2e637265617465222c226368616c6c656e6765223a22714b763532723347734e396a526d733576616e6f6f306f303459557a656c6e7878586d5a426e6254733730222c226f726967696e223a2268747470733a2f2f6578616d706c652e6f7267222c2263726f73734f726967696e223a66616c73652c22657874726144617461223a22636c69656e74446174614a534f4e206d617920626520657874656e6465642077697468206164646974696f6e616c206669656c647320696e20746865206675747572652c207375636820617320746869733a20425f44543567375a445f2d394f544c59583549764551227d";
const EDDSA_ATTESTATION_OBJECT: &str = "a363666d74667061636b65646761747453746d74a363616c67266373696758483046022100d83f60bd80269537583218858aefb03ac57d45fa06e42feaae332d187f62da9f022100a02bd3cb6f7e1d283c93bad1f3f4b5a4c0494463da7fdbf256949116754d1f17637835638159022730820223308201c8a003020102021100b2cfc9ea33c8643b0e1a760463eaf164300a06082a8648ce3d0403023062311e301c06035504030c15576562417574686e207465737420766563746f7273310c300a060355040a0c0357334331253023060355040b0c1c41757468656e74696361746f72204174746573746174696f6e204341310b30090603550406130241413020170d3234303130313030303030305a180f33303234303130313030303030305a305f311e301c06035504030c15576562417574686e207465737420766563746f7273310c300a060355040a0c0357334331223020060355040b0c1941757468656e74696361746f72204174746573746174696f6e310b30090603550406130241413059301306072a8648ce3d020106082a8648ce3d03010703420004dd2b7a564b73b8c0b81c4c62e521925c4d1198ec9f583dbf1eebe364b65cd9c29a9bdf346aaa81fb6b9507e5249a52fdaf8e39e26b0b7dc45992a7e233b70f70a360305e300c0603551d130101ff04023000300e0603551d0f0101ff040403020780301d0603551d0e041604140ae27546bc7eccb1b4b597bd354f0c0b1f1f8f8e301f0603551d2304183016801445aff715b0dd786741fee996ebc16547a3931b1e300a06082a8648ce3d0403020349003046022100a0d434ecb5fc3bfd7da5f41904517ad2836249f561bd834ba7a438a8ab7a4ce8022100fac845bb7a02513b58e9f319654dbe49b0f02b95835bac568c71f8a18cdde9ab6861757468446174615881bfabc37432958b063360d3ad6461c9c4735ae7f8edd46592a5e0f01452b2e4b54100000000d5aa33581e8ca478e20fe713f5d32ff20020ce9f840ed96599580cd140fbc7bb3230633f50f61041aff73308ae71caa8a2bda401010327200621582044e06ddd331c36a8dc667bab52bcae63486c916aa5e339e6acebaa84934bf832";
const EDDSA_CREDENTIAL_ID: &str = "ce9f840ed96599580cd140fbc7bb3230633f50f61041aff73308ae71caa8a2bd";
const EDDSA_AUTH_CHALLENGE: &str = "895957e01c633a698348a2d8a31a54b7db27e8c1c43b2080d79ae2190267bfd2";
const EDDSA_AUTH_DATA: &str = "bfabc37432958b063360d3ad6461c9c4735ae7f8edd46592a5e0f01452b2e4b50100000000";
const EDDSA_AUTH_CLIENT_DATA: &str = "7b2274797065223a22776562617574686e2e676574222c226368616c6c656e6765223a2269566c583442786a4f6d6d44534b4c596f7870557439736e364d48454f7943413135726947514a6e763949222c226f726967696e223a2268747470733a2f2f6578616d706c652e6f7267222c2263726f73734f726967696e223a66616c73657d";
const EDDSA_SIGNATURE: &str = "f5c59c7e46c34f6f8cc197101ddf9934fa2595f68eb1913a637e8419eb9ba4cfdfc48f85393bc0d40b011f0d6fecb097d6607525713223a0dc0d453993dae00b";

fn hex(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap()
}

fn rp(uv: &str) -> RelyingParty {
    RelyingParty::parse("example.org", "Example", "https://example.org", uv).unwrap()
}

fn challenge(text: &str) -> Challenge {
    Challenge(hex(text).try_into().unwrap())
}

fn registration(client_data: &str, attestation_object: &str, id: &str) -> RegistrationResponse {
    let id = b64(&hex(id));
    RegistrationResponse {
        id: id.clone(),
        raw_id: id,
        kind: "public-key".into(),
        response: AttestationResponse {
            client_data_json: b64(&hex(client_data)),
            attestation_object: b64(&hex(attestation_object)),
            transports: vec!["internal".into()],
        },
    }
}

fn es256_registration() -> RegistrationResponse {
    registration(ES256_REG_CLIENT_DATA, ES256_ATTESTATION_OBJECT, ES256_CREDENTIAL_ID)
}

fn assertion(id: &str, data: &str, client_data: &str, signature: &str) -> AuthenticationResponse {
    let id = b64(&hex(id));
    AuthenticationResponse {
        id: id.clone(),
        raw_id: id,
        kind: "public-key".into(),
        response: AssertionResponse {
            client_data_json: b64(&hex(client_data)),
            authenticator_data: b64(&hex(data)),
            signature: b64(&hex(signature)),
            user_handle: None,
        },
    }
}

fn es256_assertion() -> AuthenticationResponse {
    assertion(ES256_CREDENTIAL_ID, ES256_AUTH_DATA, ES256_AUTH_CLIENT_DATA, ES256_SIGNATURE)
}

fn es256_stored(sign_count: u32) -> StoredPasskey {
    let new = verify_registration(&rp("preferred"), &challenge(ES256_REG_CHALLENGE), &es256_registration()).unwrap();
    StoredPasskey { credential_id: new.credential_id, cose_key: new.cose_key, sign_count, user_handle: vec![1; 16] }
}

#[test]
fn the_es256_vector_registers_and_signs_in() {
    let new = verify_registration(&rp("preferred"), &challenge(ES256_REG_CHALLENGE), &es256_registration()).unwrap();
    assert_eq!(new.credential_id, hex(ES256_CREDENTIAL_ID));
    assert_eq!(new.algorithm, super::super::cose::ES256);
    assert_eq!((new.sign_count, new.user_verified, new.backup_eligible, new.backed_up), (0, false, true, true));
    assert_eq!(new.aaguid.to_vec(), hex("8446ccb9ab1db374750b2367ff6f3a1f"));
    assert_eq!(new.transports, ["internal"]);

    let stored = es256_stored(0);
    let signed_in = verify_assertion(&rp("preferred"), &challenge(ES256_AUTH_CHALLENGE), &es256_assertion(), &stored);
    // The counter stays 0 (as synced passkeys keep it): accepted.
    assert_eq!(signed_in, Ok(Assertion { sign_count: 0, user_verified: false, backed_up: true }));
}

#[test]
fn the_ed25519_vector_signs_in_but_its_attested_registration_is_refused() {
    // Its packed statement carries a certificate chain: no trust anchors
    // are kept here, so it is refused rather than taken on trust.
    let registration = registration(EDDSA_REG_CLIENT_DATA, EDDSA_ATTESTATION_OBJECT, EDDSA_CREDENTIAL_ID);
    let refused = verify_registration(&rp("preferred"), &challenge(EDDSA_REG_CHALLENGE), &registration);
    assert_eq!(refused.unwrap_err(), Refused::UnsupportedAttestation);

    let object = cbor::decode(&hex(EDDSA_ATTESTATION_OBJECT)).unwrap();
    let auth_data = AuthenticatorData::parse(object.get_text("authData").unwrap().as_bytes().unwrap()).unwrap();
    let attested = auth_data.attested.unwrap();
    assert_eq!(attested.public_key.algorithm(), super::super::cose::EDDSA);
    let stored = StoredPasskey {
        credential_id: attested.credential_id,
        cose_key: attested.cose_key,
        sign_count: 0,
        user_handle: vec![],
    };
    let login = assertion(EDDSA_CREDENTIAL_ID, EDDSA_AUTH_DATA, EDDSA_AUTH_CLIENT_DATA, EDDSA_SIGNATURE);
    let signed_in = verify_assertion(&rp("preferred"), &challenge(EDDSA_AUTH_CHALLENGE), &login, &stored).unwrap();
    assert_eq!((signed_in.sign_count, signed_in.user_verified), (0, false));
}

#[test]
fn registrations_for_another_challenge_origin_rp_or_type_are_refused() {
    let right = challenge(ES256_REG_CHALLENGE);
    let registration = es256_registration();
    let other_challenge = Challenge([7; 32]);
    assert_eq!(
        verify_registration(&rp("preferred"), &other_challenge, &registration).unwrap_err(),
        Refused::WrongChallenge
    );
    let other_origin = RelyingParty::parse("example.org", "", "https://evil.example", "preferred").unwrap();
    assert_eq!(verify_registration(&other_origin, &right, &registration).unwrap_err(), Refused::WrongOrigin);
    let other_rp = RelyingParty::parse("evil.example", "", "https://example.org", "preferred").unwrap();
    assert_eq!(verify_registration(&other_rp, &right, &registration).unwrap_err(), Refused::WrongRpId);
    // The vector's authenticator did not verify the user.
    assert_eq!(verify_registration(&rp("required"), &right, &registration).unwrap_err(), Refused::NoUserVerification);
    // An assertion's client data is not a registration's.
    let mut swapped = registration.clone();
    swapped.response.client_data_json = b64(&hex(ES256_AUTH_CLIENT_DATA));
    assert_eq!(
        verify_registration(&rp("preferred"), &challenge(ES256_AUTH_CHALLENGE), &swapped).unwrap_err(),
        Refused::WrongType
    );
    // The client reports a credential ID the authenticator did not make.
    let mut renamed = registration.clone();
    renamed.id = b64(&[1; 32]);
    renamed.raw_id = renamed.id.clone();
    assert_eq!(verify_registration(&rp("preferred"), &right, &renamed).unwrap_err(), Refused::WrongCredential);
    let mut garbage = registration;
    garbage.response.attestation_object = "not base64!".into();
    assert_eq!(verify_registration(&rp("preferred"), &right, &garbage).unwrap_err(), Refused::Malformed);
}

#[test]
fn assertions_that_depart_from_the_vector_are_refused() {
    let rp = rp("preferred");
    let right = challenge(ES256_AUTH_CHALLENGE);
    let stored = es256_stored(0);
    assert_eq!(
        verify_assertion(&rp, &Challenge([0; 32]), &es256_assertion(), &stored).unwrap_err(),
        Refused::WrongChallenge
    );
    // A counter that went backwards (or stood still above 0): a clone.
    assert_eq!(
        verify_assertion(&rp, &right, &es256_assertion(), &es256_stored(3)).unwrap_err(),
        Refused::CounterRegressed
    );
    // One flipped bit of the authenticator data breaks the signature.
    let mut tampered = es256_assertion();
    let mut data = hex(ES256_AUTH_DATA);
    data[32] |= flags::USER_VERIFIED;
    tampered.response.authenticator_data = b64(&data);
    assert_eq!(verify_assertion(&rp, &right, &tampered, &stored).unwrap_err(), Refused::BadSignature);
    let mut resigned = es256_assertion();
    resigned.response.signature = b64(&hex(ES256_SIGNATURE)[..70]);
    assert_eq!(verify_assertion(&rp, &right, &resigned, &stored).unwrap_err(), Refused::BadSignature);
    // Another account's user handle.
    let mut other_user = es256_assertion();
    other_user.response.user_handle = Some(b64(&[2; 16]));
    assert_eq!(verify_assertion(&rp, &right, &other_user, &stored).unwrap_err(), Refused::WrongUser);
    // Another credential.
    let mut other_credential = es256_assertion();
    other_credential.id = b64(&[3; 32]);
    other_credential.raw_id = other_credential.id.clone();
    assert_eq!(verify_assertion(&rp, &right, &other_credential, &stored).unwrap_err(), Refused::WrongCredential);
    let strict = RelyingParty { user_verification: UserVerification::Required, ..rp };
    assert_eq!(
        verify_assertion(&strict, &right, &es256_assertion(), &stored).unwrap_err(),
        Refused::NoUserVerification
    );
}
