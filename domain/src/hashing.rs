//! Password hashing with Argon2id at OWASP's minimum (19 MiB, 2 passes,
//! 1 lane), stored as a PHC string so parameters can be raised later without
//! breaking existing hashes: verification reads them from the hash itself.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::password::Password;
use crate::secrets::random_bytes;

pub const MEMORY_KIB: u32 = 19 * 1024;
pub const PASSES: u32 = 2;
pub const LANES: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error(transparent)]
    Random(#[from] crate::secrets::RandomError),
    #[error("argon2 failed: {0}")]
    Argon2(String),
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).expect("constant parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a new password into PHC form with a fresh 128-bit salt.
pub fn hash_password(password: &Password) -> Result<String, HashError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?).map_err(|e| HashError::Argon2(e.to_string()))?;
    hasher()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| HashError::Argon2(e.to_string()))
}

/// True when `candidate` is the password behind `phc`. A malformed stored hash
/// never matches.
pub fn verify_password(candidate: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| hasher().verify_password(candidate.as_bytes(), &hash).is_ok())
}

/// Spends the same work as a real verification, for logins whose email is
/// unknown, so response time does not reveal which emails have accounts.
pub fn verify_against_dummy(candidate: &str) {
    let _ = verify_password(candidate, DUMMY_HASH);
}

/// The hash of a random, discarded password, with the parameters above.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$7BNSNpt4JMZ6+4fiPuKxP46W6z+kdz9jxv4wxtIzW7M";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::PasswordContext;

    #[test]
    fn hashes_verify_and_use_owasp_parameters() {
        let password = Password::parse("Vq8#mLp2!zr", &PasswordContext::default()).unwrap();
        let phc = hash_password(&password).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("Vq8#mLp2!zr", &phc));
        assert!(!verify_password("Vq8#mLp2!zR", &phc));
        assert_ne!(phc, hash_password(&password).unwrap(), "salts must differ");
    }

    #[test]
    fn malformed_hashes_never_match() {
        assert!(!verify_password("anything", "not-a-phc-string"));
        assert!(!verify_password("anything", ""));
    }

    #[test]
    fn the_dummy_hash_has_the_current_parameters() {
        let hash = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(hash.algorithm.as_str(), "argon2id");
        let params = Params::try_from(&hash).unwrap();
        assert_eq!((params.m_cost(), params.t_cost(), params.p_cost()), (MEMORY_KIB, PASSES, LANES));
    }
}
