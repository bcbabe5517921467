//! The auth endpoints' rate limits, from Spin variables (defaults in spin.toml
//! follow the contract: login 30/min per address and 5 failures per 5 min per
//! account, password reset 5/hour per email and 20/hour per address).

use component_kit::config::parsed;
use component_kit::rate_limit::Limit;
use user_domain::ApiError;

pub fn login_per_address() -> Result<Limit, ApiError> {
    Ok(Limit { scope: "login_ip", max: parsed("rate_limit_login_per_minute")?, window_secs: 60 })
}

pub fn login_failures_per_account() -> Result<Limit, ApiError> {
    Ok(Limit {
        scope: "login_failures",
        max: parsed("rate_limit_login_failures")?,
        window_secs: parsed("rate_limit_login_failure_window_secs")?,
    })
}

pub fn reset_per_email() -> Result<Limit, ApiError> {
    Ok(Limit { scope: "password_reset", max: parsed("rate_limit_password_reset_per_hour")?, window_secs: 3600 })
}

/// Reset requests per client address and hour (`rate_limit_password_reset_per_address_per_hour`,
/// 20): the per-email limit alone let one client mail every registered address.
pub fn reset_per_address() -> Result<Limit, ApiError> {
    Ok(Limit {
        scope: "password_reset_ip",
        max: parsed("rate_limit_password_reset_per_address_per_hour")?,
        window_secs: 3600,
    })
}
