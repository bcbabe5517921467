//! How `X-Request-ID` keys and requests are identified, shared by the
//! components (which keep the keys) and the tests (which inspect them).

use crate::secrets::digest;

/// A request as one byte string: method, path, `Authorization` and body.
/// Its digest tells a replay from a reuse; the key that seals its answer is
/// derived from it (see [`crate::sealed`]).
pub fn request_material(method: &str, path: &str, authorization: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut material = Vec::new();
    for part in [method.as_bytes(), path.as_bytes(), authorization.unwrap_or("").as_bytes()] {
        material.extend_from_slice(part);
        material.push(0);
    }
    material.extend_from_slice(body);
    material
}

/// The digest of [`request_material`] that the database keeps, to tell a
/// replay from a reuse: HMAC-SHA-256 keyed by the service's secret, since the
/// material holds the password of a login or registration and an unkeyed
/// digest in a dump could be guessed offline at GPU speed. Prefixed `k1:`,
/// the version of this rule.
pub fn request_hash(secret: &[u8], material: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"user-service/idempotency-request-hash/v1\0");
    mac.update(material);
    format!("k1:{}", hex::encode(mac.finalize().into_bytes()))
}

/// The key as stored: the client's key within its endpoint (`"POST /path/"`)
/// and its caller (the `Authorization` header, or none), so one caller's keys
/// can neither collide with nor block another's.
pub fn scoped_key(endpoint: &str, authorization: Option<&str>, key: &str) -> String {
    let caller = authorization.unwrap_or("anonymous");
    format!("{}:{key}", &digest(&format!("{endpoint}\0{caller}"))[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_caller_and_endpoint_but_not_by_call() {
        let alice = scoped_key("PATCH /api/v1/users/profile/", Some("Bearer a"), "k");
        assert_eq!(alice, scoped_key("PATCH /api/v1/users/profile/", Some("Bearer a"), "k"));
        assert_ne!(alice, scoped_key("PATCH /api/v1/users/profile/", Some("Bearer b"), "k"));
        assert_ne!(alice, scoped_key("PUT /api/v1/users/profile/", Some("Bearer a"), "k"));
        assert!(alice.ends_with(":k"));
    }

    #[test]
    fn request_hashes_are_keyed() {
        let material = request_material("POST", "/api/v1/auth/login/", None, br#"{"password":"hunter2"}"#);
        let hash = request_hash(b"first-secret", &material);
        assert!(hash.starts_with("k1:"));
        assert_eq!(hash, request_hash(b"first-secret", &material));
        assert_ne!(hash, request_hash(b"other-secret", &material));
        // Not the unkeyed digest a dump could be checked against.
        assert!(!hash.contains(&digest(&String::from_utf8_lossy(&material))));
    }

    #[test]
    fn material_separates_its_parts() {
        assert_ne!(request_material("POST", "/a", Some("b"), b""), request_material("POST", "/ab", None, b""));
    }
}
