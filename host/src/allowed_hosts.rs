//! `allowed_outbound_hosts`, matched as Spin matches it. A component may only
//! reach what its manifest entry lists: `scheme://host[:port]`, with `*` for
//! any scheme, host or port, `*.domain` for subdomains, CIDR ranges for
//! addresses, `a..b` port ranges (end excluded), and the scheme's default port
//! when none is written. Hosts compare as parsed: `localhost` is not
//! `127.0.0.1`.

use std::net::IpAddr;
use std::ops::Range;

use ipnet::IpNet;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid allowed outbound host {entry:?}: {problem}")]
pub struct AllowedHostError {
    pub entry: String,
    pub problem: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SchemeRule {
    Any,
    Exactly(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostRule {
    Any,
    /// Stored with its leading dot, e.g. `.example.com`.
    SubdomainOf(String),
    Network(IpNet),
    Name(String),
    /// `self`: the app itself; only relevant to outbound HTTP, never a database.
    ToSelf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortRule {
    Any,
    Exactly(u16),
    Range(Range<u16>),
}

/// One parsed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: SchemeRule,
    host: HostRule,
    port: PortRule,
}

/// Every entry of one component; an empty list denies everything.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Vec<AllowedHost>);

/// The default port of the schemes Spin knows.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl AllowedHost {
    pub fn parse(entry: &str) -> Result<Self, AllowedHostError> {
        let fail = |problem: &str| AllowedHostError { entry: entry.to_owned(), problem: problem.to_owned() };
        let trimmed = entry.trim();
        let (scheme, rest) =
            trimmed.split_once("://").ok_or_else(|| fail("a scheme is required (e.g. `postgres://`)"))?;
        let scheme = match scheme {
            "*" => SchemeRule::Any,
            s if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphabetic()) => SchemeRule::Exactly(s.to_owned()),
            _ => return Err(fail("the scheme must be alphabetic or `*`")),
        };
        // A CIDR holds a `/`, so split off the port before looking for paths.
        let (host, port_and_path) = rest.rsplit_once(':').unwrap_or((rest, ""));
        let port = match port_and_path.split_once('/') {
            Some((_, path)) if !path.is_empty() => return Err(fail("paths are not allowed")),
            Some((port, _)) => port,
            None => port_and_path,
        };
        let host = parse_host(host.trim()).map_err(|p| fail(&p))?;
        let port = match port {
            "" => {
                let scheme_name = match &scheme {
                    SchemeRule::Exactly(s) => s.as_str(),
                    SchemeRule::Any => "*",
                };
                PortRule::Exactly(
                    default_port(scheme_name)
                        .ok_or_else(|| fail("no port was given and the scheme has no default port"))?,
                )
            }
            "*" => PortRule::Any,
            p => match p.split_once("..") {
                Some((start, end)) => PortRule::Range(
                    start.parse().map_err(|_| fail("port range has a non-number"))?
                        ..end.parse().map_err(|_| fail("port range has a non-number"))?,
                ),
                None => PortRule::Exactly(p.parse().map_err(|_| fail("the port is not a number"))?),
            },
        };
        Ok(Self { scheme, host, port })
    }

    fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme_ok = match &self.scheme {
            SchemeRule::Any => true,
            SchemeRule::Exactly(s) => s == scheme,
        };
        let host_ok = match &self.host {
            HostRule::Any => true,
            HostRule::SubdomainOf(suffix) => host.ends_with(suffix.as_str()),
            HostRule::Name(name) => name == host,
            HostRule::Network(net) => host.parse::<IpAddr>().is_ok_and(|ip| net.contains(&ip)),
            HostRule::ToSelf => false,
        };
        let port_ok = match &self.port {
            PortRule::Any => true,
            rule => match port.or_else(|| default_port(scheme)) {
                None => false,
                Some(port) => match rule {
                    PortRule::Exactly(p) => *p == port,
                    PortRule::Range(range) => range.contains(&port),
                    PortRule::Any => true,
                },
            },
        };
        scheme_ok && host_ok && port_ok
    }
}

fn parse_host(host: &str) -> Result<HostRule, String> {
    if host == "*" {
        return Ok(HostRule::Any);
    }
    if host == "self" || host == "self.alt" {
        return Ok(HostRule::ToSelf);
    }
    if let Ok(net) = host.parse::<IpNet>() {
        return Ok(HostRule::Network(net.trunc()));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(HostRule::Network(IpNet::from(ip)));
    }
    if let Some(domain) = host.strip_prefix("*.") {
        if domain.contains('*') {
            return Err("wildcards are allowed only as a prefix".into());
        }
        return Ok(HostRule::SubdomainOf(format!(".{domain}")));
    }
    if host.contains('*') {
        return Err("wildcards are allowed only as subdomains".into());
    }
    if host.contains('/') {
        return Err("hosts must not contain paths".into());
    }
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    Ok(HostRule::Name(host.trim_end_matches('/').to_owned()))
}

impl AllowedHosts {
    /// Parses resolved entries (templates already expanded); empty ones are skipped.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, AllowedHostError> {
        entries
            .into_iter()
            .filter(|e| !e.trim().is_empty())
            .map(AllowedHost::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether `scheme://host:port` may be reached.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        self.0.iter().any(|rule| rule.allows(scheme, host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(entries.iter().copied()).unwrap()
    }

    #[test]
    fn an_empty_list_denies_everything() {
        assert!(!hosts(&[]).allows("postgres", "127.0.0.1", Some(5432)));
        assert!(!hosts(&["", "  "]).allows("redis", "127.0.0.1", None));
    }

    #[test]
    fn a_missing_port_means_the_schemes_default() {
        let h = hosts(&["postgres://db.internal", "redis://127.0.0.1"]);
        assert!(h.allows("postgres", "db.internal", Some(5432)));
        assert!(h.allows("postgres", "db.internal", None));
        assert!(!h.allows("postgres", "db.internal", Some(5433)));
        assert!(h.allows("redis", "127.0.0.1", Some(6379)));
        assert!(!h.allows("redis", "127.0.0.1", Some(1)));
    }

    #[test]
    fn hosts_compare_as_parsed_so_localhost_is_not_loopback() {
        let h = hosts(&["postgres://127.0.0.1:5432"]);
        assert!(!h.allows("postgres", "localhost", Some(5432)));
    }

    #[test]
    fn wildcards_cidrs_and_port_ranges() {
        let h = hosts(&["*://*.example.com:*", "redis://10.0.0.0/8:6379", "postgres://127.0.0.1:5000..5433"]);
        assert!(h.allows("anything", "db.example.com", Some(1)));
        assert!(!h.allows("anything", "example.com", Some(1)));
        assert!(h.allows("redis", "10.1.2.3", Some(6379)));
        assert!(!h.allows("redis", "11.1.2.3", Some(6379)));
        assert!(h.allows("postgres", "127.0.0.1", Some(5432)));
        assert!(!h.allows("postgres", "127.0.0.1", Some(5433)), "range end is excluded");
        assert!(!h.allows("mysql", "127.0.0.1", Some(5432)));
    }

    #[test]
    fn malformed_entries_are_errors() {
        for bad in [
            "127.0.0.1:5432",
            "postgres://h/path",
            "post-gres://h",
            "custom://h",
            "postgres://a*b",
            "postgres://h:port",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
        assert!(AllowedHost::parse("custom://h:99").is_ok());
    }
}
