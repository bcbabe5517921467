//! Fixed-window rate limits kept in Redis, per client address and per
//! account, and every limit the service applies (their allowances are
//! settings: `config::limits`). Subjects are hashed into the key so no email address sits in
//! Redis in clear. Without Redis, limits are not enforced (and the outage is
//! logged): refusing every login because the cache is down would turn a
//! cache outage into a full outage.

use user_domain::ApiError;
use user_domain::secrets::digest;

use user_domain::client_address::limit_subject;

use crate::cache::Cache;
use crate::config::limits;
use crate::request::ApiRequest;

#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Names the limit in its Redis key, e.g. `login_ip`.
    pub scope: &'static str,
    pub max: u64,
    pub window_secs: u64,
}

/// What a response may tell the client about its allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub limit: u64,
    pub remaining: u64,
    pub reset: u64,
}

impl Usage {
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            ("x-ratelimit-limit", self.limit.to_string()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
            ("x-ratelimit-reset", self.reset.to_string()),
        ]
    }
}

impl Limit {
    fn key(&self, subject: &str, now: u64) -> (String, u64) {
        let window = now / self.window_secs;
        let key = format!("ratelimit:{}:{}:{window}", self.scope, &digest(subject)[..32]);
        (key, (window + 1) * self.window_secs)
    }

    fn limited(&self, reset: u64, now: u64) -> ApiError {
        ApiError::RateLimited { limit: self.max, retry_after: reset.saturating_sub(now).max(1), reset }
    }

    /// Counts one request; fails with 429 once the window's allowance is spent.
    pub fn hit(&self, cache: Option<&Cache>, subject: &str, now: u64) -> Result<Option<Usage>, ApiError> {
        let Some(cache) = cache else { return Ok(None) };
        let (key, reset) = self.key(subject, now);
        let Some(count) = cache.incr_with_ttl(&key, self.window_secs + 1) else { return Ok(None) };
        let count = count.max(0) as u64;
        if count > self.max {
            return Err(self.limited(reset, now));
        }
        Ok(Some(Usage { limit: self.max, remaining: self.max - count, reset }))
    }

    /// [`hit`](Self::hit) with the request's client address as the subject:
    /// an IPv6 address by its network (`rate_limit_ipv6_prefix`, /64 by
    /// default), since one host can draw on every address of its /64.
    pub fn hit_address(
        &self,
        cache: Option<&Cache>,
        request: &ApiRequest,
        now: u64,
    ) -> Result<Option<Usage>, ApiError> {
        let subject = limit_subject(request.client_ip(), limits::ipv6_prefix()?);
        self.hit(cache, &subject, now)
    }

    /// Forgets the current window's count (after a success, for failure limits).
    pub fn reset(&self, cache: Option<&Cache>, subject: &str, now: u64) {
        if let Some(cache) = cache {
            let (key, _) = self.key(subject, now);
            cache.del(&[key]);
        }
    }
}

/// Logins (and second steps of a login) per client address and minute.
pub fn login_per_address() -> Result<Limit, ApiError> {
    Ok(Limit { scope: "login_ip", max: limits::login_per_minute()?, window_secs: 60 })
}

/// Failed sign-in attempts (wrong passwords, wrong codes) per account and
/// window; past it even the right password gets 429 until the window passes.
pub fn login_failures_per_account() -> Result<Limit, ApiError> {
    let (max, window_secs) = limits::login_failures()?;
    Ok(Limit { scope: "login_failures", max, window_secs })
}

/// Registrations per client address and minute.
pub fn register_per_address() -> Result<Limit, ApiError> {
    Ok(Limit { scope: "register_ip", max: limits::register_per_minute()?, window_secs: 60 })
}

/// Password reset requests per email and hour.
pub fn reset_per_email() -> Result<Limit, ApiError> {
    Ok(Limit { scope: "password_reset", max: limits::reset_per_email_per_hour()?, window_secs: 3600 })
}

/// Password reset requests per client address and hour, whatever the
/// emails: the per-email limit alone let one client mail every address.
pub fn reset_per_address() -> Result<Limit, ApiError> {
    Ok(Limit { scope: "password_reset_ip", max: limits::reset_per_address_per_hour()?, window_secs: 3600 })
}

/// Sign-in code requests per email and hour.
pub fn email_code_per_email() -> Result<Limit, ApiError> {
    Ok(Limit { scope: "email_code", max: limits::email_code_per_email_per_hour()?, window_secs: 3600 })
}

/// Sign-in code requests per client address and hour, whatever the emails.
pub fn email_code_per_address() -> Result<Limit, ApiError> {
    Ok(Limit { scope: "email_code_ip", max: limits::email_code_per_address_per_hour()?, window_secs: 3600 })
}

/// Passkey sign-in options per client address and minute: each stores a
/// challenge for whoever asks.
pub fn passkey_options_per_address() -> Result<Limit, ApiError> {
    Ok(Limit { scope: "passkey_options_ip", max: limits::passkey_options_per_minute()?, window_secs: 60 })
}

/// `X-Request-ID` keys created by callers without a valid access token, per
/// client address and minute, so strangers cannot fill the table.
pub fn anonymous_request_ids() -> Result<Limit, ApiError> {
    Ok(Limit { scope: "idempotency_anonymous", max: limits::anonymous_request_ids_per_minute()?, window_secs: 60 })
}
