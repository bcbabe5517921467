//! Bodies of the sign-in, session, password, second-factor and introspection endpoints.

use serde_json::Value;

use crate::email::Email;
use crate::error::ApiError;
use crate::validation::{Fields, Patch, complete};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// `POST /api/v1/auth/login/`. The email is not parsed: a malformed one
/// fails like an unknown account (401), not as a validation error.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LoginRequest {
    #[cfg_attr(feature = "openapi", schema(example = "ada@example.com"))]
    pub email: String,
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    pub password: String,
}

impl LoginRequest {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let email = fields.required_str("email").map(str::to_owned);
        let password = fields.required_str("password").map(str::to_owned);
        fields.finish()?;
        Ok(Self { email: complete(email)?, password: complete(password)? })
    }
}

/// `POST /api/v1/auth/refresh/`.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RefreshRequest {
    pub refresh_token: String,
}

impl RefreshRequest {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let refresh_token = fields.required_str("refresh_token").map(str::to_owned);
        fields.finish()?;
        Ok(Self { refresh_token: complete(refresh_token)? })
    }
}

/// `POST /api/v1/auth/logout/`.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LogoutRequest {
    pub refresh_token: String,
    /// End every session of the user, not only this one.
    #[cfg_attr(feature = "openapi", schema(default = false))]
    pub all: Option<bool>,
}

impl LogoutRequest {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let refresh_token = fields.required_str("refresh_token").map(str::to_owned);
        let all = fields.optional_bool("all");
        fields.finish()?;
        Ok(Self { refresh_token: complete(refresh_token)?, all })
    }
}

/// `POST /api/v1/auth/verify-email/`: the token from the verification email.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TokenRequest {
    pub token: String,
}

impl TokenRequest {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let token = fields.required_str("token").map(str::to_owned);
        fields.finish()?;
        Ok(Self { token: complete(token)? })
    }
}

/// `POST /api/v1/auth/password-reset/`.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ResetRequest {
    pub email: Email,
}

impl ResetRequest {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        Ok(Self { email: email_alone(body)? })
    }
}

/// A body whose one field is a valid `email`.
fn email_alone(body: &Value) -> Result<Email, ApiError> {
    let mut fields = Fields::of(body)?;
    let email = fields.required_str("email").and_then(|raw| fields.check("email", Email::parse(raw)));
    fields.finish()?;
    complete(email)
}

/// `POST /api/v1/auth/email-code/`: a sign-in code for this email.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EmailCodeRequest {
    pub email: Email,
}

impl EmailCodeRequest {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        Ok(Self { email: email_alone(body)? })
    }
}

/// `POST /api/v1/auth/email-code/verify/`. Neither field is parsed further
/// here: a malformed email or code is a wrong one (401), as at login.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EmailCodeVerifyRequest {
    #[cfg_attr(feature = "openapi", schema(example = "ada@example.com"))]
    pub email: String,
    /// The eight digits from the email (spaces and hyphens are ignored).
    #[cfg_attr(feature = "openapi", schema(example = "0123 4567"))]
    pub code: String,
}

impl EmailCodeVerifyRequest {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let email = fields.required_str("email").map(str::to_owned);
        let code = fields.required_str("code").map(str::to_owned);
        fields.finish()?;
        Ok(Self { email: complete(email)?, code: complete(code)? })
    }
}

/// `POST /api/v1/auth/password-reset/confirm/`. The new password is judged
/// against the account's email and name once the token names the account.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ResetConfirmRequest {
    pub token: String,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::password::Password))]
    pub password: String,
    /// The same as `password`.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::password::Password))]
    pub password_confirm: String,
}

impl ResetConfirmRequest {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let token = fields.required_str("token").map(str::to_owned);
        let password = fields.required_str("password").map(str::to_owned);
        let password_confirm = fields.required_str("password_confirm").map(str::to_owned);
        if let (Some(password), Some(confirm)) = (&password, &password_confirm)
            && password != confirm
        {
            fields.problem("password_confirm", "does not match the password");
        }
        fields.finish()?;
        Ok(Self {
            token: complete(token)?,
            password: complete(password)?,
            password_confirm: complete(password_confirm)?,
        })
    }
}

/// `POST /api/v1/auth/password-change/`.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PasswordChangeRequest {
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    pub current_password: String,
    /// Judged against the account's email and name; must differ from the current one.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::password::Password))]
    pub new_password: String,
}

impl PasswordChangeRequest {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let current = fields.required_str("current_password").map(str::to_owned);
        let new = fields.required_str("new_password").map(str::to_owned);
        fields.finish()?;
        Ok(Self { current_password: complete(current)?, new_password: complete(new)? })
    }
}

/// `POST /api/v1/auth/mfa/totp/confirm/`: a current code of the pending secret.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CodeRequest {
    #[cfg_attr(feature = "openapi", schema(example = "123456"))]
    pub code: String,
}

impl CodeRequest {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let code = fields.required_str("code").map(str::to_owned);
        fields.finish()?;
        Ok(Self { code: complete(code)? })
    }
}

/// `POST /api/v1/auth/mfa/totp/`: the current password, as for any new
/// factor, so a stolen access token alone cannot bind a thief's authenticator.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PasswordRequest {
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    pub password: String,
}

impl PasswordRequest {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let password = fields.required_str("password").map(str::to_owned);
        fields.finish()?;
        Ok(Self { password: complete(password)? })
    }
}

/// `POST /api/v1/auth/introspect/` (RFC 7662), as a form
/// (`application/x-www-form-urlencoded`, as the RFC has it) or as JSON.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct IntrospectRequest {
    /// An access token or a refresh token.
    pub token: String,
    /// `access_token` or `refresh_token`: where to look first (RFC 7662,
    /// section 2.1); a wrong hint does not change the answer.
    pub token_type_hint: Option<String>,
}

impl IntrospectRequest {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let token = fields.required_str("token").map(str::to_owned);
        let token_type_hint = match fields.optional_str("token_type_hint") {
            Patch::Value(hint) => Some(hint.to_owned()),
            Patch::Absent | Patch::Null => None,
        };
        fields.finish()?;
        Ok(Self { token: complete(token)?, token_type_hint })
    }
}

/// `DELETE /api/v1/auth/mfa/totp/` and `POST /api/v1/auth/mfa/recovery-codes/`.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PasswordAndCodeRequest {
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    pub password: String,
    /// A current TOTP code.
    pub code: String,
}

impl PasswordAndCodeRequest {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let password = fields.required_str("password").map(str::to_owned);
        let code = fields.required_str("code").map(str::to_owned);
        fields.finish()?;
        Ok(Self { password: complete(password)?, code: complete(code)? })
    }
}

/// `POST /api/v1/auth/login/mfa/`: the challenge from the login answer and a
/// TOTP code (6 digits) or a recovery code.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MfaLoginRequest {
    pub challenge_token: String,
    pub code: String,
}

impl MfaLoginRequest {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let challenge_token = fields.required_str("challenge_token").map(str::to_owned);
        let code = fields.required_str("code").map(str::to_owned);
        fields.finish()?;
        Ok(Self { challenge_token: complete(challenge_token)?, code: complete(code)? })
    }
}
