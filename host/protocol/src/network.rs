//! What a sandbox may reach on the network: nothing, the outside world, or
//! only the hosts of an allow-list ([`Network`]), and one allow-list entry
//! ([`HostPattern`]).
//!
//! On the wire and in `paddock.toml`, `network` is `false`, `true`, or a
//! list of `host[:port]` patterns: `["registry.npmjs.org:443",
//! "*.github.com", "pypi.org"]`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::IpAddr;

/// What a sandbox may reach.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Network {
    /// Nothing (loopback inside the sandbox only).
    #[default]
    Off,
    /// The outside world, never the host's own services.
    Open,
    /// Only these hosts, through Paddock's egress proxy (which resolves
    /// names itself and refuses loopback, private, link-local and metadata
    /// addresses unless an entry names that address literally).
    Allow(Vec<HostPattern>),
}

impl Network {
    /// Whether anything beyond the sandbox's own loopback is reachable.
    pub fn any(&self) -> bool {
        !matches!(self, Network::Off)
    }

    /// The allow-list, when this is one.
    pub fn allow_list(&self) -> Option<&[HostPattern]> {
        match self {
            Network::Allow(list) => Some(list),
            _ => None,
        }
    }

    /// Parses the list form from strings, naming the bad entry.
    pub fn allow<I, S>(patterns: I) -> Result<Network, HostPatternError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        patterns
            .into_iter()
            .map(|p| p.as_ref().parse())
            .collect::<Result<Vec<_>, _>>()
            .map(Network::Allow)
    }

    /// A short description for logs and screens: `off`, `on`, or the
    /// list.
    pub fn describe(&self) -> String {
        match self {
            Network::Off => "off".into(),
            Network::Open => "on".into(),
            Network::Allow(list) => list
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

impl From<bool> for Network {
    fn from(on: bool) -> Network {
        if on { Network::Open } else { Network::Off }
    }
}

impl Serialize for Network {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Network::Off => s.serialize_bool(false),
            Network::Open => s.serialize_bool(true),
            Network::Allow(list) => list.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Network, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Flag(bool),
            List(Vec<String>),
        }
        match Wire::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "network must be false, true, or a list of host[:port] patterns \
                 such as [\"registry.npmjs.org:443\", \"*.github.com\"]",
            )
        })? {
            Wire::Flag(on) => Ok(on.into()),
            Wire::List(list) => Network::allow(list).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Network {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .description(Some("false: no network; true: the outside world")),
            )
            .item(
                ArrayBuilder::new()
                    .items(ObjectBuilder::new().schema_type(Type::String))
                    .description(Some(
                        "only these hosts, as host[:port] patterns (`*.github.com`, \
                         `registry.npmjs.org:443`, an IP literal or `localhost`)",
                    )),
            )
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Network {}

/// One allow-list entry: a host name (optionally `*.` for any subdomain),
/// an IP literal or `localhost`, and optionally a port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPattern {
    host: HostMatch,
    port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum HostMatch {
    /// Exactly this name (lowercase, no trailing dot).
    Name(String),
    /// Any name ending in `.suffix` (not `suffix` itself).
    Subdomains(String),
    /// This address, literally.
    Ip(IpAddr),
}

/// Why an allow-list entry was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPatternError {
    /// The entry.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for HostPatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "network allow-list entry `{}`: {}",
            self.pattern, self.reason
        )
    }
}

impl std::error::Error for HostPatternError {}

impl std::str::FromStr for HostPattern {
    type Err = HostPatternError;

    fn from_str(s: &str) -> Result<HostPattern, HostPatternError> {
        let err = |reason| HostPatternError {
            pattern: s.to_string(),
            reason,
        };
        let raw = s.trim();
        if raw.is_empty() {
            return Err(err("is empty"));
        }
        if raw.contains("://") || raw.contains('/') {
            return Err(err(
                "is a host[:port], not a URL (write `pypi.org`, not `https://pypi.org/`)",
            ));
        }
        // `[v6]:port`, `[v6]`, a bare v6 literal, `host:port` or `host`.
        let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
            let (inside, after) = rest
                .split_once(']')
                .ok_or_else(|| err("has no closing `]`"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| err("has text after `]`"))?,
                ),
            };
            (inside, port)
        } else if raw.matches(':').count() > 1 {
            (raw, None)
        } else {
            match raw.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (raw, None),
            }
        };
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(err("has a port that is not 1 to 65535")),
                Ok(n) => Some(n),
            },
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(HostPattern {
                host: HostMatch::Ip(ip),
                port,
            });
        }
        let (wild, name) = match host.strip_prefix("*.") {
            Some(rest) => (true, rest.to_string()),
            None => (false, host.clone()),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(err(
                "is not a host name (letters, digits, `-` and dots; `*.` only as a prefix)",
            ));
        }
        if wild && !name.contains('.') {
            return Err(err(
                "`*.` needs a domain with a dot after it (`*.github.com`)",
            ));
        }
        Ok(HostPattern {
            host: if wild {
                HostMatch::Subdomains(name)
            } else {
                HostMatch::Name(name)
            },
            port,
        })
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            HostMatch::Name(n) => f.write_str(n)?,
            HostMatch::Subdomains(n) => write!(f, "*.{n}")?,
            HostMatch::Ip(IpAddr::V6(ip)) if self.port.is_some() => write!(f, "[{ip}]")?,
            HostMatch::Ip(ip) => write!(f, "{ip}")?,
        }
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

impl Serialize for HostPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HostPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<HostPattern, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl HostPattern {
    /// Whether a connection to `host` (a name as the client gave it, or an
    /// address literal) on `port` matches this entry.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        match &self.host {
            HostMatch::Name(n) => *n == host,
            HostMatch::Subdomains(n) => host
                .strip_suffix(n.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            HostMatch::Ip(ip) => host.parse::<IpAddr>().is_ok_and(|h| h == *ip),
        }
    }

    /// Whether this entry names an address literally (an IP literal or
    /// `localhost`): such an entry allows that address even when it is
    /// loopback or private.
    pub fn is_literal_address(&self) -> bool {
        match &self.host {
            HostMatch::Ip(_) => true,
            HostMatch::Name(n) => n == "localhost",
            HostMatch::Subdomains(_) => false,
        }
    }

    /// The address this entry names literally, if it is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match &self.host {
            HostMatch::Ip(ip) => Some(*ip),
            _ => None,
        }
    }

    /// The port, when the entry names one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

/// What the egress proxy did with one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum NetworkVerdict {
    /// It was let through (and has ended).
    Allowed,
    /// It was refused; the client was answered 403 with the reason.
    Refused,
}

impl NetworkVerdict {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkVerdict::Allowed => "allowed",
            NetworkVerdict::Refused => "refused",
        }
    }
}

/// One connection a sandbox made through the egress proxy (the
/// `network.connection` event): recorded when it was refused, or when an
/// allowed one ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NetworkConnection {
    /// The host as the client named it (a name or an address literal).
    pub host: String,
    /// The port.
    pub port: u16,
    /// The address connected to (or refused), when the name was resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Allowed or refused.
    pub verdict: NetworkVerdict,
    /// Why: the allow-list entry or rule that allowed it, or why it was
    /// refused.
    pub reason: String,
    /// Whether a human was asked about the host (an approval).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub asked: bool,
    /// Bytes from the sandbox to the server.
    #[serde(default)]
    pub bytes_sent: u64,
    /// Bytes from the server to the sandbox.
    #[serde(default)]
    pub bytes_received: u64,
    /// How long it was open, in milliseconds.
    #[serde(default)]
    pub duration_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> HostPattern {
        s.parse().unwrap()
    }

    #[test]
    fn network_reads_false_true_and_a_list() {
        let off: Network = serde_json::from_str("false").unwrap();
        let on: Network = serde_json::from_str("true").unwrap();
        let list: Network =
            serde_json::from_str(r#"["registry.npmjs.org:443","*.github.com","pypi.org"]"#)
                .unwrap();
        assert_eq!(off, Network::Off);
        assert_eq!(on, Network::Open);
        assert_eq!(list.allow_list().map(|l| l.len()), Some(3));
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            r#"["registry.npmjs.org:443","*.github.com","pypi.org"]"#
        );
        assert_eq!(serde_json::to_string(&off).unwrap(), "false");
        let e = serde_json::from_str::<Network>(r#"["https://pypi.org/"]"#).unwrap_err();
        assert!(e.to_string().contains("https://pypi.org/"), "{e}");
        assert!(e.to_string().contains("not a URL"), "{e}");
        assert!(serde_json::from_str::<Network>("\"yes\"").is_err());
    }

    #[test]
    fn patterns_match_names_subdomains_ports_and_literals() {
        assert!(p("pypi.org").matches("pypi.org", 443));
        assert!(p("pypi.org").matches("PyPI.org.", 80));
        assert!(!p("pypi.org").matches("files.pypi.org", 443));
        assert!(p("registry.npmjs.org:443").matches("registry.npmjs.org", 443));
        assert!(!p("registry.npmjs.org:443").matches("registry.npmjs.org", 80));
        assert!(p("*.github.com").matches("api.github.com", 443));
        assert!(p("*.github.com").matches("a.b.github.com", 443));
        assert!(!p("*.github.com").matches("github.com", 443));
        assert!(!p("*.github.com").matches("evilgithub.com", 443));
        assert!(p("127.0.0.1:8080").matches("127.0.0.1", 8080));
        assert!(p("127.0.0.1:8080").is_literal_address());
        assert!(p("localhost").is_literal_address());
        assert!(!p("*.github.com").is_literal_address());
        assert!(p("[::1]:80").matches("[::1]", 80));
        assert_eq!(p("[::1]:80").to_string(), "[::1]:80");
        assert_eq!(p("::1").to_string(), "::1");
        assert_eq!(p("*.GitHub.com").to_string(), "*.github.com");
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        for bad in [
            "",
            "*",
            "*.com",
            "a b",
            "host:0",
            "host:99999",
            "-a.com",
            "[::1",
            "x/y",
        ] {
            let e = bad.parse::<HostPattern>().unwrap_err();
            assert_eq!(e.pattern, bad);
        }
    }
}
