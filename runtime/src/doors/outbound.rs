//! The outbound-HTTP allowlist of one plugin (DESIGN §9, the first door):
//! `allowed_outbound_hosts` from its sidecar, in Spin's syntax, parsed once
//! into typed entries, then asked about each request by the authority that
//! is actually dialled (the URL's scheme, host and port; never a `Host`
//! header) and the addresses its name resolved to.
//!
//! Owns the matching and the rule for private addresses: loopback, private,
//! link-local (which holds the cloud metadata address), unique-local and
//! unspecified addresses are refused unless an entry names that host or
//! address literally (not through a wildcard). It never resolves a name or
//! dials: the HTTP door resolves once, asks [`AllowedHosts::check`], and
//! connects to the address it returns, so a name cannot re-resolve
//! elsewhere between the check and the connection. A leaf: imports nothing
//! of this crate.

use std::net::IpAddr;

/// Schemes a plugin may dial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn parse(s: &str) -> Option<Scheme> {
        match s.to_ascii_lowercase().as_str() {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            _ => None,
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// This host or address exactly (lowercase, no trailing dot, an IPv6
    /// address without brackets).
    Exact(String),
    /// `*.suffix`: any name ending in `.suffix`, not `suffix` itself.
    Subdomains(String),
    /// `*`: any host.
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortPattern {
    /// No port in the entry: the scheme's default.
    Default,
    Exact(u16),
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// `None`: `*://`, either scheme.
    scheme: Option<Scheme>,
    host: HostPattern,
    port: PortPattern,
}

/// Why an entry of `allowed_outbound_hosts` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("allowed_outbound_hosts entry {entry:?}: {reason}")]
pub struct InvalidEntry {
    pub entry: String,
    pub reason: &'static str,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("{scheme}://{host}:{port} is not in allowed_outbound_hosts")]
    NotListed { scheme: &'static str, host: String, port: u16 },
    #[error(
        "{host} resolves only to private, loopback or link-local addresses, which only an entry naming it literally allows"
    )]
    PrivateAddress { host: String },
    #[error("{host} did not resolve to any address")]
    NoAddress { host: String },
}

impl Entry {
    /// Does this entry allow `scheme://host:port` (`host` normalized)?
    fn matches(&self, scheme: Scheme, host: &str, port: u16) -> bool {
        let scheme_ok = self.scheme.is_none_or(|s| s == scheme);
        let port_ok = match self.port {
            PortPattern::Any => true,
            PortPattern::Exact(p) => p == port,
            PortPattern::Default => port == scheme.default_port(),
        };
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(h) => h == host,
            HostPattern::Subdomains(suffix) => {
                host.len() > suffix.len() + 1
                    && host.ends_with(suffix.as_str())
                    && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
            }
        };
        scheme_ok && port_ok && host_ok
    }
}

/// One plugin's allowlist; empty (the default) allows nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    entries: Vec<Entry>,
}

/// A host as compared: lowercase, no trailing dot, no IPv6 brackets.
fn normalize_host(host: &str) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => inner.to_owned(),
        None => host,
    }
}

fn parse_entry(raw: &str) -> Result<Entry, InvalidEntry> {
    let invalid = |reason| InvalidEntry { entry: raw.to_owned(), reason };
    let (scheme, rest) =
        raw.split_once("://").ok_or_else(|| invalid("has no scheme (http://, https:// or *://)"))?;
    let scheme = match scheme {
        "*" => None,
        s => Some(Scheme::parse(s).ok_or_else(|| invalid("scheme must be http, https or *"))?),
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#']) {
        return Err(invalid("names a path, query or fragment: only scheme, host and port are allowed"));
    }
    if authority.contains('@') {
        return Err(invalid("has user information"));
    }
    // An IPv6 literal is bracketed; the port follows the bracket.
    let (host, port) = match authority.strip_prefix('[') {
        Some(inner) => {
            let (addr, after) = inner.split_once(']').ok_or_else(|| invalid("has an unclosed '['"))?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| invalid("has text after the IPv6 address"))?),
            };
            (addr, port)
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let port = match port {
        None => PortPattern::Default,
        Some("*") => PortPattern::Any,
        Some(p) => {
            PortPattern::Exact(p.parse().map_err(|_| invalid("port must be a number from 0 to 65535 or *"))?)
        }
    };
    if scheme.is_none() && port == PortPattern::Default {
        return Err(invalid("*:// needs a port (a number or *)"));
    }
    let host = match host {
        "" => return Err(invalid("has no host")),
        "*" => HostPattern::Any,
        h => match h.strip_prefix("*.") {
            Some(suffix) if !suffix.is_empty() && !suffix.contains('*') => {
                HostPattern::Subdomains(normalize_host(suffix))
            }
            Some(_) => return Err(invalid("a wildcard host is *.name")),
            None if h.contains('*') => return Err(invalid("a wildcard may only lead the host (*.name)")),
            None => HostPattern::Exact(normalize_host(h)),
        },
    };
    Ok(Entry { scheme, host, port })
}

impl AllowedHosts {
    /// Parses every entry; the first invalid one is the error.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, InvalidEntry> {
        let entries = entries.iter().map(|e| parse_entry(e.as_ref().trim())).collect::<Result<_, _>>()?;
        Ok(Self { entries })
    }

    /// Whether no request at all is allowed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether an entry allows `scheme://host:port` (before any address
    /// is looked at).
    pub fn allows(&self, scheme: Scheme, host: &str, port: u16) -> bool {
        let host = normalize_host(host);
        self.entries.iter().any(|e| e.matches(scheme, &host, port))
    }

    /// Whether an entry that allows `scheme://host:port` names `host`
    /// itself (not through a wildcard): only such an entry opens a private
    /// address, and only for the scheme and port it names.
    fn names_literally(&self, scheme: Scheme, host: &str, port: u16) -> bool {
        let host = normalize_host(host);
        self.entries
            .iter()
            .any(|e| matches!(&e.host, HostPattern::Exact(h) if *h == host) && e.matches(scheme, &host, port))
    }

    /// The address to connect to for `scheme://host:port`, given what
    /// `host` resolved to (an IP literal resolves to itself): the first
    /// address the rules allow. A private address is allowed only when an
    /// entry names the host literally.
    pub fn check(
        &self,
        scheme: Scheme,
        host: &str,
        port: u16,
        resolved: &[IpAddr],
    ) -> Result<IpAddr, Denied> {
        let scheme_name = match scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        if !self.allows(scheme, host, port) {
            return Err(Denied::NotListed { scheme: scheme_name, host: normalize_host(host), port });
        }
        if resolved.is_empty() {
            return Err(Denied::NoAddress { host: normalize_host(host) });
        }
        let literal = self.names_literally(scheme, host, port);
        resolved
            .iter()
            .copied()
            .find(|ip| literal || !is_private(*ip))
            .ok_or_else(|| Denied::PrivateAddress { host: normalize_host(host) })
    }
}

/// Loopback, private, link-local (169.254.169.254, the metadata address,
/// is one), shared (100.64/10), unspecified, broadcast, IPv6 unique-local
/// and link-local, and IPv4 addresses in IPv6 form that are any of these.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b))
                || a == 0
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_private(IpAddr::V4(v4)),
            None => {
                v6.is_loopback() || v6.is_unspecified() || v6.is_unique_local() || v6.is_unicast_link_local()
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(entries).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const PUBLIC: &str = "93.184.215.14";

    #[test]
    fn nothing_is_allowed_by_default() {
        let none = AllowedHosts::default();
        assert!(none.is_empty());
        assert!(!none.allows(Scheme::Https, "example.com", 443));
        assert!(matches!(
            none.check(Scheme::Https, "example.com", 443, &[ip(PUBLIC)]),
            Err(Denied::NotListed { .. })
        ));
    }

    #[test]
    fn an_entry_allows_its_scheme_host_and_port_only() {
        let h = hosts(&["https://api.example.com"]);
        assert!(h.allows(Scheme::Https, "api.example.com", 443));
        assert!(h.allows(Scheme::Https, "API.Example.COM.", 443), "case and a trailing dot do not matter");
        assert!(!h.allows(Scheme::Http, "api.example.com", 80), "another scheme");
        assert!(!h.allows(Scheme::Https, "api.example.com", 8443), "another port");
        assert!(!h.allows(Scheme::Https, "example.com", 443), "the parent domain");
        assert!(!h.allows(Scheme::Https, "x.api.example.com", 443), "a subdomain");
        assert!(!h.allows(Scheme::Https, "api.example.com.evil.net", 443), "a suffix trick");
    }

    #[test]
    fn wildcards_match_what_they_say_and_no_more() {
        let h = hosts(&["https://*.example.org", "http://localhost:*", "*://files.example.net:*"]);
        assert!(h.allows(Scheme::Https, "a.example.org", 443));
        assert!(h.allows(Scheme::Https, "a.b.example.org", 443));
        assert!(!h.allows(Scheme::Https, "example.org", 443), "*.name is not the name itself");
        assert!(!h.allows(Scheme::Https, "evilexample.org", 443), "a label must end at the dot");
        assert!(!h.allows(Scheme::Https, "a.example.org.evil.net", 443));
        assert!(h.allows(Scheme::Http, "localhost", 1), "any port");
        assert!(h.allows(Scheme::Http, "localhost", 65535));
        assert!(!h.allows(Scheme::Https, "localhost", 443), "http only");
        assert!(
            h.allows(Scheme::Http, "files.example.net", 8080)
                && h.allows(Scheme::Https, "files.example.net", 1)
        );
    }

    #[test]
    fn a_name_that_resolves_to_a_private_address_is_refused_unless_named_literally() {
        let h = hosts(&["https://*.example.org", "http://127.0.0.1:8080", "http://db.internal:5000"]);
        // A listed wildcard name that resolves to loopback: refused.
        let rebound = h.check(Scheme::Https, "evil.example.org", 443, &[ip("127.0.0.1")]);
        assert!(matches!(rebound, Err(Denied::PrivateAddress { .. })), "{rebound:?}");
        // The cloud metadata address behind a listed name: refused.
        let metadata = h.check(Scheme::Https, "meta.example.org", 443, &[ip("169.254.169.254")]);
        assert!(matches!(metadata, Err(Denied::PrivateAddress { .. })));
        // Private among public: the public address is the one to dial.
        let mixed = h.check(Scheme::Https, "cdn.example.org", 443, &[ip("10.0.0.5"), ip(PUBLIC)]);
        assert_eq!(mixed, Ok(ip(PUBLIC)));
        // Named literally: allowed, and pinned to what was checked.
        assert_eq!(h.check(Scheme::Http, "127.0.0.1", 8080, &[ip("127.0.0.1")]), Ok(ip("127.0.0.1")));
        assert_eq!(h.check(Scheme::Http, "db.internal", 5000, &[ip("10.1.2.3")]), Ok(ip("10.1.2.3")));
        // The literal grant is for its own port only.
        assert!(matches!(
            h.check(Scheme::Http, "127.0.0.1", 8081, &[ip("127.0.0.1")]),
            Err(Denied::NotListed { .. })
        ));
        assert!(matches!(h.check(Scheme::Https, "x.example.org", 443, &[]), Err(Denied::NoAddress { .. })));
    }

    #[test]
    fn the_metadata_address_is_refused_even_through_an_any_host_entry() {
        let h = hosts(&["https://*", "http://*:*"]);
        for addr in
            ["169.254.169.254", "::ffff:169.254.169.254", "fd00:ec2::254", "127.0.0.1", "[::1]", "0.0.0.0"]
        {
            let host = addr.trim_matches(['[', ']']);
            let got = h.check(Scheme::Http, addr, 80, &[ip(host)]);
            assert!(matches!(got, Err(Denied::PrivateAddress { .. })), "{addr}: {got:?}");
        }
        assert_eq!(h.check(Scheme::Https, "example.com", 443, &[ip(PUBLIC)]), Ok(ip(PUBLIC)));
    }

    #[test]
    fn private_ranges_are_known() {
        for private in [
            "127.0.0.1",
            "127.255.0.9",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_private(ip(private)), "{private}");
        }
        for public in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(!is_private(ip(public)), "{public}");
        }
    }

    #[test]
    fn ipv6_literals_take_brackets_and_ports() {
        let h = hosts(&["http://[::1]:8080", "https://[2606:4700::1111]"]);
        assert!(h.allows(Scheme::Http, "[::1]", 8080) && h.allows(Scheme::Http, "::1", 8080));
        assert!(h.allows(Scheme::Https, "[2606:4700::1111]", 443));
        assert!(!h.allows(Scheme::Http, "[::1]", 80));
    }

    #[test]
    fn entries_that_say_more_or_less_than_an_authority_are_refused() {
        for bad in [
            "example.com",
            "ftp://example.com",
            "https://example.com/path",
            "https://example.com?q=1",
            "https://user@example.com",
            "https://",
            "https://example.com:http",
            "https://example.com:70000",
            "https://a.*.example.com",
            "https://*.",
            "*://example.com",
            "http://[::1",
        ] {
            let err = AllowedHosts::parse(&[bad]).expect_err(bad);
            assert_eq!(err.entry, bad);
        }
        assert!(AllowedHosts::parse(&["https://example.com/"]).is_ok(), "a bare trailing slash is harmless");
    }
}
