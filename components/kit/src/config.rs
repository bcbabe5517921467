//! Every Spin variable the components read, and nowhere else: one typed
//! function per setting, its default documented in `spin.toml` (and the
//! README's table). A missing or malformed variable is an operator error:
//! the request fails with a 500 and the log names the variable. A
//! component reads only the variables its `[component.x.variables]`
//! declares; reading another is `undefined`, as under Spin.
//!
//! Variables are read when a request needs them, not at start: a WASIp2
//! instance lives for one request, so there is no "start" to read them at.

use std::str::FromStr;

use user_domain::ApiError;
use user_domain::client_address::TrustedProxies;
use user_domain::preferences::CategoryConfig;
use user_domain::sealed::{Keyring, KeyringError};
use user_domain::setting_groups;
use user_domain::tokens::TokenConfig;

fn var(name: &str) -> Result<String, ApiError> {
    spin_sdk::variables::get(name).map_err(|e| ApiError::internal(format!("variable `{name}`: {e}")))
}

/// A variable parsed into `T`.
fn parsed<T: FromStr>(name: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    let raw = var(name)?;
    raw.trim().parse().map_err(|e| ApiError::internal(format!("variable `{name}` = {raw:?}: {e}")))
}

/// `notification_categories` (`transactional,security,account,marketing,reminders`),
/// `notification_required_categories` (`security`: they cannot be muted) and
/// `quiet_hours_exempt_categories` (`security,transactional`: quiet hours do
/// not hold them); the worker reads the same three lists from its environment.
/// Read as one group, the component variable `notification_category_lists`
/// (`user_domain::setting_groups`).
pub fn categories() -> Result<CategoryConfig, ApiError> {
    let group = var(CATEGORY_LISTS)?;
    let [categories, required, exempt] = setting_groups::split(CATEGORY_LISTS, &group).map_err(bad_group)?;
    CategoryConfig::parse(categories, required, exempt).map_err(|e| ApiError::internal(format!("{e}")))
}

/// The group of [`categories`]: in spin.toml, `"{{ notification_categories }}\u0000{{
/// notification_required_categories }}\u0000{{ quiet_hours_exempt_categories }}"`.
const CATEGORY_LISTS: &str = "notification_category_lists";

/// The group of the access-token settings ([`tokens`], [`access_verifier`]):
/// in spin.toml, `jwt_secret`, `jwt_issuer`, `jwt_audience` and
/// `jwt_signing_key`, in this order, joined with `\u0000`.
const ACCESS_TOKEN_SETTINGS: &str = "access_token_settings";

/// The group read only when `jwt_signing_key` is set: `jwt_next_public_keys`,
/// `jwt_retired_public_keys` and `jwt_hs256_accepted_until`. Apart, so that
/// an HS256 deployment resolves no more application variables per check
/// than before the groups (under Spin's environment provider each costs a
/// blocking lookup; README, "Variables under spin up").
const SIGNING_KEY_ROTATION: &str = "signing_key_rotation";

fn bad_group(e: setting_groups::GroupError) -> ApiError {
    ApiError::internal(e.to_string())
}

/// `database_url`: the PostgreSQL address.
pub fn database_url() -> Result<String, ApiError> {
    var("database_url")
}

/// `redis_url`: the Redis address (cache, rate limits, marks).
pub fn redis_url() -> Result<String, ApiError> {
    var("redis_url")
}

/// Where the cached reads (the preferences and profile reads) look first:
/// the `cache_reads` variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheReads {
    /// `key_value` (the default): Spin's key-value store `cache`, which the
    /// runtime config backs with the same Redis as `redis_url`. Spin keeps
    /// one connection to it per process, so a read is one round trip; but
    /// while that Redis is unreachable, Spin's store waits for it to come
    /// back instead of failing (README, "Caching").
    KeyValue,
    /// `redis`: a connection of `redis_url` per request, as every other use
    /// of Redis. A new connection per read under `spin up` (about a third as
    /// fast), but a Redis that is down fails at once and the read goes to
    /// PostgreSQL.
    Redis,
}

impl FromStr for CacheReads {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "key_value" => Ok(Self::KeyValue),
            "redis" => Ok(Self::Redis),
            _ => Err("must be `key_value` or `redis`".to_owned()),
        }
    }
}

/// `cache_reads` (`key_value`): see [`CacheReads`].
pub fn cache_reads() -> Result<CacheReads, ApiError> {
    parsed("cache_reads")
}

/// `jwt_secret`: the service's secret (HS256 tokens until a signing key is
/// set; the key idempotency digests, kept answers and retried refreshes are
/// sealed under). At least 32 bytes (checked by [`tokens`]).
pub fn jwt_secret() -> Result<String, ApiError> {
    var("jwt_secret")
}

/// `email_queue`, `push_queue`, `audit_queue`: routing keys of outbox events.
pub fn email_queue() -> Result<String, ApiError> {
    var("email_queue")
}

pub fn push_queue() -> Result<String, ApiError> {
    var("push_queue")
}

pub fn audit_queue() -> Result<String, ApiError> {
    var("audit_queue")
}

/// `trusted_proxies`: the networks whose `X-Forwarded-For` is believed. A
/// component that does not declare it trusts no proxy; a malformed list is
/// an error the caller logs (and then trusts none).
pub fn trusted_proxies() -> Result<TrustedProxies, String> {
    match spin_sdk::variables::get("trusted_proxies") {
        Ok(list) => TrustedProxies::parse(&list),
        Err(_) => Ok(TrustedProxies::default()),
    }
}

/// The rate limits' allowances (`rate_limit_*`), per window.
pub mod limits {
    use super::{ApiError, parsed};

    /// `rate_limit_login_per_minute` (30): logins per client address.
    pub fn login_per_minute() -> Result<u64, ApiError> {
        parsed("rate_limit_login_per_minute")
    }

    /// `rate_limit_login_failures` (5) per `rate_limit_login_failure_window_secs` (300).
    pub fn login_failures() -> Result<(u64, u64), ApiError> {
        Ok((parsed("rate_limit_login_failures")?, parsed("rate_limit_login_failure_window_secs")?))
    }

    /// `rate_limit_register_per_minute` (20): registrations per client address.
    pub fn register_per_minute() -> Result<u64, ApiError> {
        parsed("rate_limit_register_per_minute")
    }

    /// `rate_limit_password_reset_per_hour` (5): reset requests per email.
    pub fn reset_per_email_per_hour() -> Result<u64, ApiError> {
        parsed("rate_limit_password_reset_per_hour")
    }

    /// `rate_limit_password_reset_per_address_per_hour` (20).
    pub fn reset_per_address_per_hour() -> Result<u64, ApiError> {
        parsed("rate_limit_password_reset_per_address_per_hour")
    }

    /// `rate_limit_email_code_per_hour` (5): sign-in code requests per email.
    pub fn email_code_per_email_per_hour() -> Result<u64, ApiError> {
        parsed("rate_limit_email_code_per_hour")
    }

    /// `rate_limit_email_code_per_address_per_hour` (20).
    pub fn email_code_per_address_per_hour() -> Result<u64, ApiError> {
        parsed("rate_limit_email_code_per_address_per_hour")
    }

    /// `rate_limit_passkey_options_per_minute` (30): passkey sign-in
    /// options (challenges made for anyone who asks) per client address.
    pub fn passkey_options_per_minute() -> Result<u64, ApiError> {
        parsed("rate_limit_passkey_options_per_minute")
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

    /// `rate_limit_anonymous_request_ids_per_minute` (60): `X-Request-ID`
    /// keys a caller without a valid access token may create per address.
    pub fn anonymous_request_ids_per_minute() -> Result<u64, ApiError> {
        parsed("rate_limit_anonymous_request_ids_per_minute")
    }
}

/// Token settings from `jwt_secret`, `jwt_issuer`, `jwt_audience`,
/// `access_token_ttl_secs`, `refresh_token_ttl_secs` and, for EdDSA,
/// `jwt_signing_key`, `jwt_next_public_keys`, `jwt_retired_public_keys` and
/// `jwt_hs256_accepted_until` (see the README's rotation steps).
pub fn tokens() -> Result<TokenConfig, ApiError> {
    let group = var(ACCESS_TOKEN_SETTINGS)?;
    let settings = AccessTokenSettings::split(&group)?;
    let config = TokenConfig::new(
        settings.secret,
        settings.issuer,
        settings.audience,
        parsed("access_token_ttl_secs")?,
        parsed("refresh_token_ttl_secs")?,
    )
    .map_err(bad_tokens)?;
    settings.with_signing_keys(config)
}

/// What checking a caller's access token needs ([`TokenConfig::verifier`]):
/// [`tokens`] without the lifetimes, in one variable read on every request
/// that carries a token.
pub fn access_verifier() -> Result<TokenConfig, ApiError> {
    let group = var(ACCESS_TOKEN_SETTINGS)?;
    let settings = AccessTokenSettings::split(&group)?;
    let config = TokenConfig::verifier(settings.secret, settings.issuer, settings.audience).map_err(bad_tokens)?;
    settings.with_signing_keys(config)
}

fn bad_tokens(e: user_domain::tokens::TokenError) -> ApiError {
    ApiError::internal(format!("token configuration: {e}"))
}

/// The settings of the group `access_token_settings`, in its order.
struct AccessTokenSettings<'a> {
    secret: &'a str,
    issuer: &'a str,
    audience: &'a str,
    signing_key: &'a str,
}

impl<'a> AccessTokenSettings<'a> {
    fn split(group: &'a str) -> Result<Self, ApiError> {
        let [secret, issuer, audience, signing_key] =
            setting_groups::split(ACCESS_TOKEN_SETTINGS, group).map_err(bad_group)?;
        Ok(Self { secret, issuer, audience, signing_key })
    }

    /// `config` signing with the Ed25519 key of `jwt_signing_key`, if one is
    /// set, with the public keys and the HS256 deadline of the rotation group.
    fn with_signing_keys(&self, config: TokenConfig) -> Result<TokenConfig, ApiError> {
        let signing = pem(self.signing_key);
        if signing.trim().is_empty() {
            return Ok(config);
        }
        let rotation = var(SIGNING_KEY_ROTATION)?;
        let [next, retired, until] = setting_groups::split(SIGNING_KEY_ROTATION, &rotation).map_err(bad_group)?;
        let until = match until.trim() {
            "" => None,
            raw => Some(epoch_secs(raw).ok_or_else(|| {
                ApiError::internal(format!(
                    "jwt_hs256_accepted_until = {raw:?}: not RFC 3339 nor seconds since the epoch"
                ))
            })?),
        };
        config.with_ed25519(&signing, &pem(next), &pem(retired), until).map_err(bad_tokens)
    }
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

/// The relying party passkeys are made for: `webauthn_rp_id` (`localhost`),
/// `webauthn_rp_name` (`User Service`), `webauthn_origins`
/// (`http://localhost:3000`, comma-separated) and
/// `webauthn_user_verification` (`preferred`, or `required`).
pub fn relying_party() -> Result<user_domain::webauthn::RelyingParty, ApiError> {
    user_domain::webauthn::RelyingParty::parse(
        &var("webauthn_rp_id")?,
        &var("webauthn_rp_name")?,
        &var("webauthn_origins")?,
        &var("webauthn_user_verification")?,
    )
    .map_err(|e| ApiError::internal(format!("passkey settings: {e}")))
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

/// The `service_keys` variable: the keys accepted in `X-Service-Key`
/// (comma-separated; several at once, for rotation).
pub fn service_keys() -> Result<Vec<String>, ApiError> {
    Ok(var("service_keys")?.split(',').map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()).collect())
}

/// The `refresh_reuse_interval_secs` variable (10): how long after a refresh
/// the token it spent may be presented again and get the same new refresh
/// token (a client that lost the answer, two tabs at once) instead of
/// ending the session as a stolen copy would. 0 turns the grace off.
pub fn refresh_reuse_interval_secs() -> Result<u64, ApiError> {
    parsed("refresh_reuse_interval_secs")
}
