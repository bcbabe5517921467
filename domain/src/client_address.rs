//! Which address a request comes from, for per-address rate limits.
//!
//! Behind the platform's gateway every request arrives from the gateway's
//! address, so per-address limits would become one global limit. A gateway
//! (or load balancer) on a trusted network appends the address it saw to
//! `X-Forwarded-For`; only when the peer itself is trusted is that header
//! read, from the right, skipping trusted hops: the first untrusted entry
//! is the client. Anyone else's `X-Forwarded-For` is ignored, so a client
//! cannot choose its own address to escape a limit.

use std::net::IpAddr;

/// A network in CIDR form (`10.0.0.0/8`, `fd00::/8`), or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (address, prefix) = match raw.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (raw, None),
        };
        let address: IpAddr = address.parse().map_err(|_| format!("{raw:?} is not an IP address or network"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("{raw:?} has a bad prefix"))?,
        };
        Ok(Self { address, prefix })
    }

    pub fn contains(&self, candidate: IpAddr) -> bool {
        let candidate = canonical(candidate);
        match (canonical(self.address), candidate) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => same_prefix(&net.octets(), &ip.octets(), self.prefix),
            (IpAddr::V6(net), IpAddr::V6(ip)) => same_prefix(&net.octets(), &ip.octets(), self.prefix),
            _ => false,
        }
    }
}

/// An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is the IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

fn same_prefix(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let (whole, rest) = ((prefix / 8) as usize, prefix % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0
}

/// The subject a per-address rate limit counts: an IPv4 address as it is,
/// an IPv6 address by its first `ipv6_prefix` bits (64 by default: one
/// customer's network, since a host given a /64 can use any of its 2^64
/// addresses and would otherwise get a fresh allowance from each). Written
/// as the network (`2001:db8:1:2::/64`). Anything that is not an address
/// (the host's "unknown") counts as itself.
pub fn limit_subject(address: &str, ipv6_prefix: u8) -> String {
    match address.parse::<IpAddr>().map(canonical) {
        Ok(IpAddr::V6(v6)) => {
            let prefix = ipv6_prefix.min(128);
            let bits = u128::from(v6);
            let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
            format!("{}/{prefix}", std::net::Ipv6Addr::from(bits & mask))
        }
        Ok(v4) => v4.to_string(),
        Err(_) => address.to_owned(),
    }
}

/// The networks whose `X-Forwarded-For` is believed (none by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Network>);

impl TrustedProxies {
    /// A comma-separated list of networks; empty means none.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',').filter(|entry| !entry.trim().is_empty()).map(Network::parse).collect::<Result<_, _>>().map(Self)
    }

    pub fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(address))
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port
/// (`1.2.3.4:5678`, `[::1]:80`), as some proxies write them.
fn entry_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(address) = entry.parse() {
        return Some(address);
    }
    let host = match entry.strip_prefix('[') {
        Some(rest) => rest.split_once(']')?.0,
        None => entry.rsplit_once(':')?.0,
    };
    host.parse().ok()
}

/// The client's address: the peer's, unless the peer is a trusted proxy,
/// then the rightmost untrusted address in `forwarded_for`. An entry that
/// is not an address stops the walk at the last hop that was.
pub fn client_address(peer: IpAddr, forwarded_for: Option<&str>, trusted: &TrustedProxies) -> IpAddr {
    if !trusted.trusts(peer) {
        return peer;
    }
    let mut client = peer;
    for entry in forwarded_for.unwrap_or_default().rsplit(',') {
        match entry_address(entry) {
            Some(address) => {
                client = address;
                if !trusted.trusts(address) {
                    break;
                }
            }
            None => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(list: &str) -> TrustedProxies {
        TrustedProxies::parse(list).unwrap()
    }

    #[test]
    fn networks_match_by_prefix() {
        let net = Network::parse("10.1.0.0/16").unwrap();
        assert!(net.contains(ip("10.1.200.3")) && !net.contains(ip("10.2.0.1")));
        assert!(Network::parse("192.168.1.5").unwrap().contains(ip("192.168.1.5")));
        assert!(Network::parse("172.16.0.0/12").unwrap().contains(ip("172.31.255.255")));
        assert!(!Network::parse("172.16.0.0/12").unwrap().contains(ip("172.32.0.0")));
        assert!(Network::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(Network::parse("10.0.0.0/8").unwrap().contains(ip("::ffff:10.9.9.9")), "IPv4-mapped IPv6");
        assert!(Network::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0.0/x", "::/129"] {
            assert!(Network::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address() {
        let trusted = proxies("10.0.0.0/8");
        assert_eq!(client_address(ip("203.0.113.9"), Some("1.2.3.4"), &trusted), ip("203.0.113.9"));
        assert_eq!(client_address(ip("203.0.113.9"), None, &TrustedProxies::default()), ip("203.0.113.9"));
        assert_eq!(client_address(ip("10.0.0.2"), Some("1.2.3.4"), &TrustedProxies::default()), ip("10.0.0.2"));
    }

    #[test]
    fn a_trusted_proxy_names_the_rightmost_untrusted_hop() {
        let trusted = proxies("10.0.0.0/8, 192.168.0.0/16");
        // The client put a fake address first; the gateway appended the real one.
        let header = "6.6.6.6, 198.51.100.7, 192.168.3.3";
        assert_eq!(client_address(ip("10.0.0.2"), Some(header), &trusted), ip("198.51.100.7"));
        assert_eq!(client_address(ip("10.0.0.2"), Some("198.51.100.7:5123"), &trusted), ip("198.51.100.7"));
        assert_eq!(client_address(ip("10.0.0.2"), Some("[2001:db8::1]:443"), &trusted), ip("2001:db8::1"));
        // Every hop trusted: the leftmost is as far as anyone can tell.
        assert_eq!(client_address(ip("10.0.0.2"), Some("10.9.9.9, 192.168.1.1"), &trusted), ip("10.9.9.9"));
        // No header, or garbage where the client should be: the last trusted hop.
        assert_eq!(client_address(ip("10.0.0.2"), None, &trusted), ip("10.0.0.2"));
        assert_eq!(client_address(ip("10.0.0.2"), Some("not-an-ip"), &trusted), ip("10.0.0.2"));
        assert_eq!(client_address(ip("10.0.0.2"), Some("junk, 10.3.3.3"), &trusted), ip("10.3.3.3"));
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_network() {
        use super::limit_subject;
        let a = limit_subject("2001:db8:1:2::1", 64);
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(a, limit_subject("2001:db8:1:2:ffff:ffff:ffff:ffff", 64));
        assert_ne!(a, limit_subject("2001:db8:1:3::1", 64));
        assert_eq!(limit_subject("2001:db8:1:2::1", 128), "2001:db8:1:2::1/128");
        assert_eq!(limit_subject("2001:db8:1:2::1", 48), limit_subject("2001:db8:1:ffff::9", 48));
        assert_eq!(limit_subject("::ffff:10.0.0.1", 64), "10.0.0.1", "an IPv4 address written as IPv6");
        assert_eq!(limit_subject("192.0.2.7", 64), "192.0.2.7");
        assert_eq!(limit_subject("unknown", 64), "unknown");
    }
}
