//! Spin variables, read with their defaults documented in `spin.toml`.
//! A missing or malformed variable is an operator error: the request fails
//! with a 500 and the log names the variable.

use std::str::FromStr;

use user_domain::ApiError;
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
/// `access_token_ttl_secs` and `refresh_token_ttl_secs`.
pub fn tokens() -> Result<TokenConfig, ApiError> {
    TokenConfig::new(
        &var("jwt_secret")?,
        &var("jwt_issuer")?,
        &var("jwt_audience")?,
        parsed("access_token_ttl_secs")?,
        parsed("refresh_token_ttl_secs")?,
    )
    .map_err(|e| ApiError::internal(format!("token configuration: {e}")))
}

/// The `mfa_key` variable: the secret TOTP secrets are sealed under, at
/// least 32 bytes. Unset (the default), two-factor sign-in is off and its
/// endpoints answer 503.
pub fn mfa_key() -> Result<String, ApiError> {
    let key = var("mfa_key")?;
    if key.trim().len() < 32 { Err(ApiError::Unavailable("two-factor sign-in (mfa_key is not set)")) } else { Ok(key) }
}

/// The `mfa_required_for_staff` variable: staff powers need a confirmed
/// second factor.
pub fn staff_need_mfa() -> Result<bool, ApiError> {
    parsed("mfa_required_for_staff")
}
