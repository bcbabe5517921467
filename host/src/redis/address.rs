//! Which Redis addresses a component may open: a `redis://` or `rediss://`
//! URL whose `scheme://host:port` the component's `allowed_outbound_hosts`
//! allows (Spin's `factor-outbound-redis/src/allowed_hosts.rs`).

use crate::allowed_hosts::AllowedHosts;
use crate::bindings::redis_wit::Error;

/// Parses a Redis URL and checks it as `scheme://host:port`.
pub fn permitted(allowed: &AllowedHosts, address: &str) -> Result<(), Error> {
    let url = url::Url::parse(address).map_err(|_| Error::InvalidAddress)?;
    let scheme = url.scheme();
    if !matches!(scheme, "redis" | "rediss") {
        return Err(Error::InvalidAddress);
    }
    let host = url.host_str().ok_or(Error::InvalidAddress)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if allowed.allows(scheme, host, Some(url.port().unwrap_or(6379))) { Ok(()) } else { Err(Error::InvalidAddress) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_or_unparsable_addresses_are_invalid() {
        let allowed = AllowedHosts::parse(["redis://127.0.0.1:6379"]).unwrap();
        assert_eq!(permitted(&allowed, "redis://127.0.0.1:6379"), Ok(()));
        assert_eq!(permitted(&allowed, "redis://127.0.0.1"), Ok(()));
        assert_eq!(permitted(&allowed, "redis://127.0.0.1:6380"), Err(Error::InvalidAddress));
        assert_eq!(permitted(&allowed, "redis://localhost:6379"), Err(Error::InvalidAddress));
        assert_eq!(permitted(&allowed, "not a url"), Err(Error::InvalidAddress));
        assert_eq!(permitted(&allowed, "http://127.0.0.1:6379"), Err(Error::InvalidAddress));
    }
}
