//! Fixed-window rate limits kept in Redis, per client address and per
//! account. Subjects are hashed into the key so no email address sits in
//! Redis in clear. Without Redis, limits are not enforced (and the outage is
//! logged): refusing every login because the cache is down would turn a
//! cache outage into a full outage.

use user_domain::ApiError;
use user_domain::secrets::digest;

use user_domain::client_address::limit_subject;

use crate::ApiRequest;
use crate::cache::Cache;

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
        let subject = limit_subject(request.client_ip(), crate::config::ipv6_prefix()?);
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
