//! Capabilities: what a plugin asks for in its manifest, what an admin grants,
//! and the effective set (requested ∩ granted) the runtime enforces.
//!
//! Text forms (CLI, API, registry): `fs:/workspace:ro`, `fs:/srv/docs:rw`,
//! `net:api.github.com:443`, `env:GITHUB_TOKEN`, `exec`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// The guest path at which every plugin sees the agent's workspace.
pub const WORKSPACE: &str = "/workspace";

/// Read-only or read-write access to a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsAccess {
    /// Read files and list directories.
    Ro,
    /// Also create, write, rename and delete.
    Rw,
}

impl FsAccess {
    fn as_str(self) -> &'static str {
        match self {
            FsAccess::Ro => "ro",
            FsAccess::Rw => "rw",
        }
    }
}

/// One capability.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Capability {
    /// A directory, by its guest path. `/workspace` and paths below it are the
    /// agent's workspace; any other path is the same path on the host.
    Fs {
        /// The path as the guest sees it.
        path: String,
        /// Read-only or read-write.
        access: FsAccess,
    },
    /// Outgoing connections to one host and port (TCP, and HTTP through
    /// `wasi:http`).
    Net {
        /// The host name or IP address (lowercase).
        host: String,
        /// The port.
        port: u16,
    },
    /// Read one environment variable of the host process.
    Env(String),
    /// Run commands in the agent's sandbox.
    Exec,
}

/// A capability string that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid capability `{text}`: {reason}")]
pub struct CapabilityParseError {
    /// The text as given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

fn parse_err(text: &str, reason: impl Into<String>) -> CapabilityParseError {
    CapabilityParseError {
        text: text.to_string(),
        reason: reason.into(),
    }
}

impl Capability {
    /// Parses a manifest `fs` entry such as `/workspace:rw`.
    pub fn parse_fs(entry: &str) -> Result<Self, CapabilityParseError> {
        let (path, access) = entry
            .rsplit_once(':')
            .ok_or_else(|| parse_err(entry, "expected `/path:ro` or `/path:rw`"))?;
        let access = match access {
            "ro" => FsAccess::Ro,
            "rw" => FsAccess::Rw,
            other => {
                return Err(parse_err(
                    entry,
                    format!("access must be `ro` or `rw`, not `{other}`"),
                ));
            }
        };
        Ok(Capability::Fs {
            path: normalize_guest_path(path).map_err(|r| parse_err(entry, r))?,
            access,
        })
    }

    /// Parses a manifest `net` entry such as `api.github.com:443`.
    pub fn parse_net(entry: &str) -> Result<Self, CapabilityParseError> {
        let (host, port) = entry
            .rsplit_once(':')
            .ok_or_else(|| parse_err(entry, "expected `host:port`"))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| parse_err(entry, format!("`{port}` is not a port (1-65535)")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.parse::<std::net::IpAddr>().is_err() && !is_hostname(host) {
            return Err(parse_err(
                entry,
                format!("`{host}` is not a host name or IP address"),
            ));
        }
        Ok(Capability::Net {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Parses a manifest `env` entry (a variable name).
    pub fn parse_env(entry: &str) -> Result<Self, CapabilityParseError> {
        let valid = entry
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && entry.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(parse_err(entry, "not an environment variable name"));
        }
        Ok(Capability::Env(entry.to_string()))
    }
}

impl FromStr for Capability {
    type Err = CapabilityParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "exec" {
            return Ok(Capability::Exec);
        }
        match s.split_once(':') {
            Some(("fs", rest)) => Capability::parse_fs(rest).map_err(|e| parse_err(s, e.reason)),
            Some(("net", rest)) => Capability::parse_net(rest).map_err(|e| parse_err(s, e.reason)),
            Some(("env", rest)) => Capability::parse_env(rest).map_err(|e| parse_err(s, e.reason)),
            _ => Err(parse_err(
                s,
                "expected `fs:/path:ro|rw`, `net:host:port`, `env:NAME` or `exec`",
            )),
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Capability::Fs { path, access } => write!(f, "fs:{path}:{}", access.as_str()),
            Capability::Net { host, port } if host.contains(':') => {
                write!(f, "net:[{host}]:{port}")
            }
            Capability::Net { host, port } => write!(f, "net:{host}:{port}"),
            Capability::Env(name) => write!(f, "env:{name}"),
            Capability::Exec => f.write_str("exec"),
        }
    }
}

impl TryFrom<String> for Capability {
    type Error = CapabilityParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Capability> for String {
    fn from(c: Capability) -> String {
        c.to_string()
    }
}

fn is_hostname(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Checks that a guest path is absolute and normal (no `.`, `..`, empty
/// segments or trailing slash) and returns it.
fn normalize_guest_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("`{path}` is not an absolute path"));
    }
    if path == "/" {
        return Ok(path.to_string());
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    if segments
        .iter()
        .any(|s| s.is_empty() || *s == "." || *s == "..")
    {
        return Err(format!(
            "`{path}` must be a normal path (no `.`, `..`, `//` or trailing `/`)"
        ));
    }
    Ok(path.to_string())
}

/// True when `inner` is `outer` or lies below it.
fn path_within(inner: &str, outer: &str) -> bool {
    outer == "/"
        || inner == outer
        || (inner.starts_with(outer) && inner.as_bytes().get(outer.len()) == Some(&b'/'))
}

/// The effective capabilities: what was requested, narrowed by what was
/// granted. A grant for a directory covers requests below it; a request for a
/// directory is narrowed to a granted subdirectory; access is the lesser of
/// the two.
pub fn effective(
    requested: &BTreeSet<Capability>,
    granted: &BTreeSet<Capability>,
) -> BTreeSet<Capability> {
    let mut out = BTreeSet::new();
    for r in requested {
        match r {
            Capability::Fs {
                path: rp,
                access: ra,
            } => {
                for g in granted {
                    if let Capability::Fs {
                        path: gp,
                        access: ga,
                    } = g
                    {
                        let path = if path_within(rp, gp) {
                            rp
                        } else if path_within(gp, rp) {
                            gp
                        } else {
                            continue;
                        };
                        out.insert(Capability::Fs {
                            path: path.clone(),
                            access: (*ra).min(*ga),
                        });
                    }
                }
            }
            other => {
                if granted.contains(other) {
                    out.insert(other.clone());
                }
            }
        }
    }
    // A read-only entry is redundant next to a read-write one for the same path.
    let rw: BTreeSet<String> = out
        .iter()
        .filter_map(|c| match c {
            Capability::Fs {
                path,
                access: FsAccess::Rw,
            } => Some(path.clone()),
            _ => None,
        })
        .collect();
    out.retain(
        |c| !matches!(c, Capability::Fs { path, access: FsAccess::Ro } if rw.contains(path)),
    );
    out
}

/// True when granting `grant` would widen what a plugin requesting
/// `requested` can do; a grant that matches no request has no effect.
pub fn grant_applies(requested: &BTreeSet<Capability>, grant: &Capability) -> bool {
    let only = BTreeSet::from([grant.clone()]);
    !effective(requested, &only).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<Capability> {
        items.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn parses_and_prints_every_kind() {
        for s in [
            "fs:/workspace:ro",
            "fs:/workspace:rw",
            "fs:/srv/docs:ro",
            "net:api.github.com:443",
            "net:127.0.0.1:8080",
            "net:[::1]:8080",
            "env:GITHUB_TOKEN",
            "exec",
        ] {
            let c: Capability = s.parse().unwrap();
            assert_eq!(c.to_string(), s);
        }
    }

    #[test]
    fn rejects_malformed_capabilities() {
        for s in [
            "fs:workspace:ro",
            "fs:/workspace",
            "fs:/workspace:rx",
            "fs:/workspace/../etc:ro",
            "fs:/workspace/:ro",
            "net:example.com",
            "net:example.com:0",
            "net:example.com:99999",
            "net:exa mple.com:80",
            "env:1ABC",
            "env:A-B",
            "execute",
            "disk:/x:ro",
        ] {
            assert!(s.parse::<Capability>().is_err(), "{s} should not parse");
        }
        let err = "fs:/workspace:rx".parse::<Capability>().unwrap_err();
        assert!(err.to_string().contains("`ro` or `rw`"), "{err}");
    }

    #[test]
    fn effective_is_the_intersection() {
        let requested = set(&["fs:/workspace:rw", "net:a.com:443", "env:A", "exec"]);
        assert!(effective(&requested, &BTreeSet::new()).is_empty());
        assert_eq!(
            effective(&requested, &set(&["fs:/workspace:ro", "env:A", "env:B"])),
            set(&["fs:/workspace:ro", "env:A"])
        );
        assert_eq!(
            effective(&requested, &set(&["net:a.com:80", "net:b.com:443"])),
            BTreeSet::new()
        );
        assert_eq!(
            effective(&requested, &set(&["net:a.com:443", "exec"])),
            set(&["net:a.com:443", "exec"])
        );
    }

    #[test]
    fn fs_grants_narrow_and_cover() {
        // A read-only request never becomes read-write.
        assert_eq!(
            effective(&set(&["fs:/workspace:ro"]), &set(&["fs:/workspace:rw"])),
            set(&["fs:/workspace:ro"])
        );
        // A grant of a parent covers a request below it.
        assert_eq!(
            effective(&set(&["fs:/srv/docs/a:rw"]), &set(&["fs:/srv:rw"])),
            set(&["fs:/srv/docs/a:rw"])
        );
        // A grant of a subdirectory narrows a broader request.
        assert_eq!(
            effective(&set(&["fs:/workspace:rw"]), &set(&["fs:/workspace/src:rw"])),
            set(&["fs:/workspace/src:rw"])
        );
        // Sibling paths that merely share a prefix do not match.
        assert!(effective(&set(&["fs:/srv/docs2:ro"]), &set(&["fs:/srv/docs:ro"])).is_empty());
        // rw wins over a redundant ro for the same path.
        assert_eq!(
            effective(
                &set(&["fs:/workspace:rw"]),
                &set(&["fs:/workspace:ro", "fs:/workspace:rw"])
            ),
            set(&["fs:/workspace:rw"])
        );
    }

    #[test]
    fn grant_applies_only_to_requested_capabilities() {
        let requested = set(&["fs:/workspace:ro", "env:A"]);
        assert!(grant_applies(
            &requested,
            &"fs:/workspace:rw".parse().unwrap()
        ));
        assert!(grant_applies(&requested, &"env:A".parse().unwrap()));
        assert!(!grant_applies(&requested, &"env:B".parse().unwrap()));
        assert!(!grant_applies(&requested, &"exec".parse().unwrap()));
        assert!(!grant_applies(&requested, &"fs:/etc:ro".parse().unwrap()));
    }
}
