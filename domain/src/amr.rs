//! How a session was signed in: its authentication methods, as RFC 8176
//! names them, carried by every access token of the session (`amr`) and kept
//! on the session's row. Staff powers under `mfa_required_for_staff` are
//! judged per session from these, not per account: a session opened with the
//! password alone stays a one-factor session even after the account gains a
//! second factor elsewhere.

use serde::{Deserialize, Serialize};

/// One method (RFC 8176, section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// The account's password.
    Pwd,
    /// A one-time code: TOTP or a recovery code.
    Otp,
    /// A proof of possession of a hardware-secured key (a passkey).
    Hwk,
    /// User presence and verification on the authenticator (biometrics, PIN).
    User,
    /// A code sent by email: proves the mailbox, not a second factor.
    Email,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Pwd => "pwd",
            Method::Otp => "otp",
            Method::Hwk => "hwk",
            Method::User => "user",
            Method::Email => "email",
        }
    }
}

/// The methods of one session, kept sorted and without repeats so equal
/// sets compare equal and read the same in tokens and rows.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Methods(Vec<Method>);

impl Methods {
    pub fn of(methods: &[Method]) -> Self {
        let mut all = methods.to_vec();
        all.sort();
        all.dedup();
        Self(all)
    }

    /// A sign-in with the password alone.
    pub fn password() -> Self {
        Self::of(&[Method::Pwd])
    }

    /// The password and a one-time code (TOTP or recovery code).
    pub fn password_and_code() -> Self {
        Self::of(&[Method::Pwd, Method::Otp])
    }

    pub fn contains(&self, method: Method) -> bool {
        self.0.contains(&method)
    }

    /// Whether the session proved a second factor: a one-time code, or a
    /// hardware key with user verification. An emailed code is not one.
    pub fn is_multi_factor(&self) -> bool {
        self.contains(Method::Otp) || (self.contains(Method::Hwk) && self.contains(Method::User))
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|m| m.as_str()).collect()
    }

    /// Reads stored names, ignoring any this build does not know (a newer
    /// release may add methods; ignoring one never grants more).
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Self {
        let known: Vec<Method> = names
            .iter()
            .filter_map(|n| serde_json::from_value(serde_json::Value::String(n.as_ref().to_owned())).ok())
            .collect();
        Self::of(&known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_code_or_a_verified_hardware_key_is_a_second_factor() {
        assert!(!Methods::password().is_multi_factor());
        assert!(Methods::password_and_code().is_multi_factor());
        assert!(Methods::of(&[Method::Hwk, Method::User]).is_multi_factor());
        assert!(!Methods::of(&[Method::Hwk]).is_multi_factor(), "a passkey without user verification is one factor");
        assert!(!Methods::of(&[Method::Email]).is_multi_factor());
        assert!(!Methods::of(&[Method::Pwd, Method::Email]).is_multi_factor());
    }

    #[test]
    fn methods_are_sorted_named_as_rfc_8176_and_unknown_names_grant_nothing() {
        let methods = Methods::of(&[Method::Otp, Method::Pwd, Method::Otp]);
        assert_eq!(methods.names(), ["pwd", "otp"]);
        assert_eq!(serde_json::to_string(&methods).unwrap(), r#"["pwd","otp"]"#);
        assert_eq!(Methods::from_names(&["otp", "pwd", "retina"]), methods);
        assert!(!Methods::from_names(&["mfa", "OTP"]).is_multi_factor());
    }
}
