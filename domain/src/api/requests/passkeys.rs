//! Bodies of the passkey endpoints. The credentials are WebAuthn's own JSON
//! forms (`RegistrationResponseJSON`, `AuthenticationResponseJSON`, what
//! `PublicKeyCredential.toJSON()` gives); their shape is checked here,
//! their content by `webauthn::ceremony`.

use serde_json::Value;
use uuid::Uuid;

use crate::device::DeviceName;
use crate::email::Email;
use crate::error::ApiError;
use crate::validation::{Fields, Patch, complete};
use crate::webauthn::ceremony::{AuthenticationResponse, RegistrationResponse};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

fn challenge_id(fields: &mut Fields<'_>) -> Option<Uuid> {
    let raw = fields.required_str("challenge_id")?;
    fields.check("challenge_id", Uuid::parse_str(raw).map_err(|_| "must be the challenge_id of the options"))
}

/// The `credential` member, read as `T`; a problem names the JSON form expected.
fn credential<T: serde::de::DeserializeOwned>(fields: &mut Fields<'_>, body: &Value, form: &str) -> Option<T> {
    match body.get("credential") {
        None | Some(Value::Null) => {
            fields.problem("credential", "is required");
            None
        }
        Some(value) => fields.check(
            "credential",
            serde_json::from_value(value.clone()).map_err(|_| format!("must be {form} (PublicKeyCredential.toJSON())")),
        ),
    }
}

/// `POST /api/v1/auth/passkeys/register/`.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PasskeyRegisterRequest {
    /// From `POST /api/v1/auth/passkeys/register/options/`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub challenge_id: Uuid,
    /// `RegistrationResponseJSON` (WebAuthn §5.1), binary values in base64url;
    /// other members (`clientExtensionResults`, ...) are ignored.
    pub credential: RegistrationResponse,
    /// What the user calls it (1 to 100 characters); `Passkey` if left out.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, min_length = 1, max_length = 100, pattern = r"^[^\x00-\x1f\x7f]*$"))]
    pub name: Option<DeviceName>,
}

impl PasskeyRegisterRequest {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let challenge_id = challenge_id(&mut fields);
        let credential = credential(&mut fields, body, "a RegistrationResponseJSON");
        let name = match fields.optional_str("name") {
            Patch::Value(raw) => fields.check("name", DeviceName::parse(raw)),
            Patch::Absent | Patch::Null => None,
        };
        fields.finish()?;
        Ok(Self { challenge_id: complete(challenge_id)?, credential: complete(credential)?, name })
    }
}

/// `POST /api/v1/auth/passkeys/login/options/`.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PasskeyLoginOptionsRequest {
    /// Leave out for a usernameless sign-in (the authenticator offers its
    /// passkeys for this site). With it, the options list the account's
    /// passkeys; the answer looks the same whether or not the account exists.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::email::Email>))]
    pub email: Option<Email>,
}

impl PasskeyLoginOptionsRequest {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let email = fields.optional("email", Email::parse);
        fields.finish()?;
        Ok(Self { email })
    }
}

/// `POST /api/v1/auth/passkeys/login/`.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PasskeyLoginRequest {
    /// From `POST /api/v1/auth/passkeys/login/options/`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub challenge_id: Uuid,
    /// `AuthenticationResponseJSON` (WebAuthn §5.1), binary values in
    /// base64url; other members are ignored.
    pub credential: AuthenticationResponse,
}

impl PasskeyLoginRequest {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let challenge_id = challenge_id(&mut fields);
        let credential = credential(&mut fields, body, "an AuthenticationResponseJSON");
        fields.finish()?;
        Ok(Self { challenge_id: complete(challenge_id)?, credential: complete(credential)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(result: Result<impl Sized, ApiError>) -> Vec<String> {
        match result {
            Err(ApiError::Validation(errors)) => errors.into_keys().collect(),
            Err(other) => panic!("not a validation error: {other:?}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn every_problem_is_named() {
        assert_eq!(problems(PasskeyLoginRequest::parse(&json!({}))), ["challenge_id", "credential"]);
        let bad = json!({"challenge_id": "nope", "credential": {"id": 1}, "name": "a\u{0}b"});
        assert_eq!(problems(PasskeyRegisterRequest::parse(&bad)), ["challenge_id", "credential", "name"]);
        assert_eq!(problems(PasskeyLoginOptionsRequest::parse(&json!({"email": "nope"}))), ["email"]);
        assert!(PasskeyLoginOptionsRequest::parse(&json!({})).unwrap().email.is_none());
    }

    #[test]
    fn a_credential_in_webauthn_json_form_is_read() {
        let body = json!({
            "challenge_id": "0190c9b2-0000-7000-8000-000000000000",
            "credential": {
                "id": "AQI", "rawId": "AQI", "type": "public-key", "clientExtensionResults": {},
                "response": {"clientDataJSON": "e30", "authenticatorData": "AA", "signature": "AA", "userHandle": null},
            },
        });
        let parsed = PasskeyLoginRequest::parse(&body).unwrap();
        assert_eq!(parsed.credential.credential_id(), Some(vec![1, 2]));
        assert_eq!(parsed.credential.response.user_handle, None);
    }
}
