//! The `data` of successful answers, as the components serialise them. With
//! the `openapi` feature each type is also the schema the OpenAPI document
//! shows for that answer, so what is sent and what is documented are one
//! definition.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::user_id::UserId;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// A user's notification preferences as answers show them: the effective
/// form, every configured category listed (the schema is named
/// `Preferences`, as it always was).
pub type Preferences = crate::preferences::NotificationPreferences;

/// The user object: never a password hash or a token.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = User))]
pub struct UserView {
    pub id: UserId,
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    pub email: String,
    pub push_token: Option<String>,
    /// The two master switches; the whole model (categories, quiet hours,
    /// locale) is at `/api/v1/users/preferences/`.
    pub preferences: crate::preferences::ChannelSwitches,
    pub email_verified: bool,
    pub is_active: bool,
    pub is_staff: bool,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub updated_at: String,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub last_login: Option<String>,
}

/// How access tokens are presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub enum TokenType {
    Bearer,
}

/// A session's tokens: register and login also carry the user; refresh and
/// password change do not.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SessionTokens {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub user: Option<UserView>,
    /// A JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Opaque and single use: each refresh spends it.
    pub refresh_token: String,
    pub token_type: TokenType,
    /// Seconds the access token lives.
    pub expires_in: u64,
}

/// The login answer of an account with two-factor sign-in: no tokens yet.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MfaChallenge {
    /// Always true.
    pub mfa_required: bool,
    /// For `POST /api/v1/auth/login/mfa/`, single use.
    pub challenge_token: String,
    pub expires_in: u64,
}

/// What the push and email services need to address a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct InternalUser {
    pub user_id: UserId,
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    pub email: String,
    pub push_token: Option<String>,
    /// The whole model, every configured category listed.
    pub preferences: Preferences,
    pub email_verified: bool,
    pub is_active: bool,
}

/// A device as services address it (`devices` of the fan-out lookup and of
/// `push.ready` messages).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeviceAddress {
    pub id: uuid::Uuid,
    pub platform: crate::device::Platform,
    pub token: String,
}

/// One user of the fan-out lookup: what `/internal/users/{id}/` answers,
/// with the user's active devices (most recently seen first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LookedUpUser {
    #[serde(flatten)]
    pub user: InternalUser,
    pub devices: Vec<DeviceAddress>,
}

/// The fan-out lookup's answer: the users found, and the ids of none.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Lookup {
    pub users: Vec<LookedUpUser>,
    pub missing: Vec<UserId>,
}

/// A session as its owner or staff see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SessionInfo {
    pub id: uuid::Uuid,
    /// The `User-Agent` it was last used with, trimmed.
    pub device: Option<String>,
    pub client_address: Option<String>,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub last_used_at: String,
    /// The session of the access token presented.
    pub current: bool,
    /// How it was signed in (RFC 8176: `pwd`, `otp`, …).
    pub amr: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Healthy,
    Unhealthy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum CheckState {
    Up,
    Down,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HealthChecks {
    pub database: CheckState,
    pub cache: CheckState,
}

/// `GET /api/v1/health/` and `/api/v1/health/ready/`: also the `data` of
/// their 503.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Health {
    pub service: String,
    pub status: HealthStatus,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub timestamp: String,
    /// When the checks ran: their outcome is reused for up to a second.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub checked_at: String,
    pub checks: HealthChecks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LivenessStatus {
    Alive,
}

/// `GET /api/v1/health/live/`: the instance answers; nothing is checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Liveness {
    pub service: String,
    pub status: LivenessStatus,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub timestamp: String,
}

/// A pending second factor: scan `otpauth_uri`, then confirm with a code.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MfaEnrolment {
    /// Base32.
    pub secret: String,
    /// An `otpauth://totp/…` URI for authenticator apps.
    pub otpauth_uri: String,
    pub algorithm: String,
    pub digits: u32,
    pub period: u64,
}

/// Two-factor sign-in turned on: the recovery codes, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MfaEnabled {
    pub enabled: bool,
    pub recovery_codes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MfaState {
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// What an ending ended: the sessions, and their refresh tokens that could
/// still have been used. Their access tokens are refused from now on.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RevokedTokens {
    pub revoked_tokens: u64,
    pub sessions_ended: u64,
}

/// A device of a user's, as its owner and staff see it (the token included,
/// as OneSignal's and Knock's APIs show it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeviceView {
    pub id: uuid::Uuid,
    pub token: String,
    pub platform: crate::device::Platform,
    pub name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub last_seen_at: String,
    /// False once the push service reported the token dead: left out of pushes.
    pub active: bool,
}

/// A device removed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeviceRemoved {
    pub id: uuid::Uuid,
    pub removed: bool,
}

/// The options of a passkey ceremony: `publicKey` is what
/// `navigator.credentials.create()` (registration) or `.get()` (sign-in)
/// takes, in WebAuthn's JSON form (`PublicKeyCredential.parseCreationOptionsFromJSON()`
/// and `parseRequestOptionsFromJSON()` read it); `challenge_id` goes back
/// with the credential.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PasskeyOptions {
    pub challenge_id: uuid::Uuid,
    #[serde(rename = "publicKey")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub public_key: Value,
}

/// One of the caller's passkeys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PasskeyView {
    pub id: uuid::Uuid,
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub last_used_at: Option<String>,
    /// Whether the authenticator reported it backed up (a synced passkey).
    pub backed_up: bool,
    /// How the browser may reach its authenticator (`internal`, `usb`, `hybrid`, ...).
    pub transports: Vec<String>,
}

/// A passkey removed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PasskeyRemoved {
    pub id: uuid::Uuid,
    pub removed: bool,
}

/// A staff reset of a user's second factor.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MfaReset {
    pub user_id: UserId,
    /// Whether the user had a factor (pending or confirmed) to remove.
    pub removed: bool,
    pub sessions_ended: u64,
}

/// RFC 7662's introspection answer, at the top level (not in the envelope:
/// gateways' introspection clients read `active` there). An inactive token
/// is `{"active": false}` and nothing else, whatever made it inactive.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Introspection {
    pub active: bool,
    /// The user's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The session the token belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// `access_token` or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// How the session was signed in (RFC 8176: `pwd`, `otp`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// Whether the bearer has staff powers now (the account is staff, and,
    /// with `mfa_required_for_staff`, the session proved a second factor).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_staff: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EmailVerification {
    pub email_verified: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Deactivated {
    pub is_active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UserDeleted {
    pub id: UserId,
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SessionEnded {
    pub id: uuid::Uuid,
    pub ended: bool,
}

/// A test notification put on the outbox; the worker delivers it later.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct QueuedNotification {
    pub request_id: uuid::Uuid,
    pub user_id: UserId,
    pub queued: bool,
}

/// An answer with nothing to say beyond its message.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Empty {}

/// Who did something recorded in the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuditActor {
    /// `user`, `staff`, `service`, `anonymous` or `owner`.
    pub kind: String,
    pub id: Option<UserId>,
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuditEntry {
    /// Pass the last one of a page as `?cursor=` for the next.
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub occurred_at: String,
    pub action: String,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    pub actor: AuditActor,
    pub subject_id: Option<UserId>,
    pub client_address: Option<String>,
    pub correlation_id: Option<String>,
    /// Non-secret details (changed field names, a reason).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: Value,
}
