//! Spin variables, read with their defaults documented in `spin.toml`.
//! A missing or malformed variable is an operator error: the request fails
//! with a 500 and the log names the variable.

use std::str::FromStr;

use user_domain::ApiError;
use user_domain::sealed::{Keyring, KeyringError};
use user_domain::tokens::TokenConfig;

pub fn var(name: &str) -> Result<String, ApiError> {
    spin_sdk::variables::get(name).map_err(|e| ApiError::internal(format!("variable `{name}`: {e}")))
}

/// A variable parsed into `T`.
pub fn parsed<T: FromStr>(name: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    let raw = var(name)?;
    raw.trim().parse().map_err(|e| ApiError::internal(format!("variable `{name}` = {raw:?}: {e}")))
}

/// Token settings from `jwt_secret`, `jwt_issuer`, `jwt_audience`,
/// `access_token_ttl_secs`, `refresh_token_ttl_secs` and, for EdDSA,
/// `jwt_signing_key`, `jwt_next_public_keys`, `jwt_retired_public_keys` and
/// `jwt_hs256_accepted_until` (see the README's rotation steps).
pub fn tokens() -> Result<TokenConfig, ApiError> {
    let bad = |e: user_domain::tokens::TokenError| ApiError::internal(format!("token configuration: {e}"));
    let config = TokenConfig::new(
        &var("jwt_secret")?,
        &var("jwt_issuer")?,
        &var("jwt_audience")?,
        parsed("access_token_ttl_secs")?,
        parsed("refresh_token_ttl_secs")?,
    )
    .map_err(bad)?;
    let signing = pem(&var("jwt_signing_key")?);
    if signing.trim().is_empty() {
        return Ok(config);
    }
    let until = var("jwt_hs256_accepted_until")?;
    let until = match until.trim() {
        "" => None,
        raw => Some(epoch_secs(raw).ok_or_else(|| {
            ApiError::internal(format!("jwt_hs256_accepted_until = {raw:?}: not RFC 3339 nor seconds since the epoch"))
        })?),
    };
    config
        .with_ed25519(&signing, &pem(&var("jwt_next_public_keys")?), &pem(&var("jwt_retired_public_keys")?), until)
        .map_err(bad)
}

/// A PEM value as variables carry it: line breaks may be written `\n`
/// (a `.env` line cannot hold a real one).
fn pem(value: &str) -> String {
    value.replace("\\n", "\n")
}

/// RFC 3339 or whole seconds since the epoch.
fn epoch_secs(raw: &str) -> Option<u64> {
    raw.parse::<u64>()
        .ok()
        .or_else(|| chrono::DateTime::parse_from_rfc3339(raw).ok().and_then(|t| u64::try_from(t.timestamp()).ok()))
}

/// The secrets TOTP secrets are sealed under: the `mfa_key` variable (at
/// least 32 bytes) seals; the `mfa_previous_keys` variable (earlier keys,
/// separated by commas or white space, each at least 32 bytes) only opens,
/// so `mfa_key` can be rotated without turning anyone's factor off. Without
/// `mfa_key` (the default), two-factor sign-in is off and its endpoints
/// answer 503; a previous key too short to be one is refused the same way,
/// since a typo there would silently lock its users out.
pub fn mfa_keys() -> Result<Keyring, ApiError> {
    Keyring::from_settings(&var("mfa_key")?, &var("mfa_previous_keys")?).map_err(|e| match e {
        KeyringError::NoCurrent => ApiError::Unavailable("two-factor sign-in (mfa_key is not set)"),
        KeyringError::ShortPrevious => {
            ApiError::Unavailable("two-factor sign-in (an mfa_previous_keys entry is under 32 bytes)")
        }
    })
}

/// The `mfa_required_for_staff` variable: staff powers need a confirmed
/// second factor.
pub fn staff_need_mfa() -> Result<bool, ApiError> {
    parsed("mfa_required_for_staff")
}

/// The `access_token_ttl_secs` variable: how long an access token lives,
/// and so how long an ended session's mark must be kept.
pub fn access_ttl_secs() -> Result<u64, ApiError> {
    parsed("access_token_ttl_secs")
}

/// The `service_keys` variable: comma-separated keys accepted in `X-Service-Key`.
pub fn service_keys() -> Result<String, ApiError> {
    var("service_keys")
}

/// The `refresh_reuse_interval_secs` variable (10): how long after a refresh
/// the token it spent may be presented again and get the same new refresh
/// token (a client that lost the answer, two tabs at once) instead of
/// ending the session as a stolen copy would. 0 turns the grace off.
pub fn refresh_reuse_interval_secs() -> Result<u64, ApiError> {
    parsed("refresh_reuse_interval_secs")
}

/// The `rate_limit_refresh_per_session_per_minute` variable (10): refresh
/// tokens one session may be issued per minute; past it a refresh is 429.
pub fn refresh_per_session_per_minute() -> Result<u64, ApiError> {
    parsed("rate_limit_refresh_per_session_per_minute")
}

/// The `rate_limit_ipv6_prefix` variable (64): IPv6 clients are counted by
/// this many leading bits of their address by every per-address limit.
pub fn ipv6_prefix() -> Result<u8, ApiError> {
    let prefix: u8 = parsed("rate_limit_ipv6_prefix")?;
    if prefix == 0 || prefix > 128 {
        return Err(ApiError::internal(format!("variable `rate_limit_ipv6_prefix` = {prefix}: must be 1 to 128")));
    }
    Ok(prefix)
}
