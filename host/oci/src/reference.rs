//! OCI references as admins type them: `oci://REGISTRY/REPO:TAG` or
//! `oci://REGISTRY/REPO@sha256:HEX` (the `oci://` prefix optional where
//! the context is clear). Parsing checks every part against the OCI
//! distribution grammar, so nothing odd reaches a URL.

use std::fmt;

/// The tag used when a reference names neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";

/// What a reference points at in its repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A tag, which may move.
    Tag(String),
    /// A manifest digest (`sha256:` + 64 hex digits), which may not.
    Digest(String),
}

/// A parsed reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`.
    pub registry: String,
    /// The repository path (`team/plugin`).
    pub repository: String,
    /// The tag or digest.
    pub target: Target,
}

/// A reference that cannot be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid OCI reference `{reference}`: {message}")]
pub struct ReferenceError {
    /// The reference as given (cut to 200 characters).
    pub reference: String,
    /// What is wrong.
    pub message: String,
}

fn err(reference: &str, message: impl Into<String>) -> ReferenceError {
    ReferenceError {
        reference: reference.chars().take(200).collect(),
        message: message.into(),
    }
}

/// Whether `digest` is `sha256:` followed by 64 lowercase hex digits.
pub fn valid_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn valid_tag(tag: &str) -> bool {
    // [\w][\w.-]{0,127}
    let mut bytes = tag.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric() || b == b'_')
        && tag.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn valid_registry(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.contains(']') || n.ends_with(']') => (n, Some(p)),
        _ => (host, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok());
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
        && !name.starts_with(['.', '-']);
    port_ok && name_ok
}

impl Reference {
    /// Parses `oci://REGISTRY/REPO[:TAG|@DIGEST]` (`oci://` optional).
    pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
        let rest = text.strip_prefix("oci://").unwrap_or(text);
        if rest.contains("://") {
            return Err(err(text, "only `oci://` references are supported"));
        }
        let (registry, path) = rest
            .split_once('/')
            .ok_or_else(|| err(text, "expected REGISTRY/REPOSITORY[:TAG|@sha256:DIGEST]"))?;
        if !valid_registry(registry) {
            return Err(err(
                text,
                format!("`{registry}` is not a registry host[:port]"),
            ));
        }
        let (repo, target) = if let Some((repo, digest)) = path.split_once('@') {
            if !valid_digest(digest) {
                return Err(err(
                    text,
                    "the digest must be `sha256:` followed by 64 lowercase hex digits",
                ));
            }
            (repo, Target::Digest(digest.to_string()))
        } else {
            match path.rsplit_once(':') {
                Some((repo, tag)) if !tag.contains('/') => {
                    if !valid_tag(tag) {
                        return Err(err(text, format!("`{tag}` is not a valid tag")));
                    }
                    (repo, Target::Tag(tag.to_string()))
                }
                _ => (path, Target::Tag(DEFAULT_TAG.to_string())),
            }
        };
        if repo.is_empty() || repo.len() > 255 || !repo.split('/').all(valid_component) {
            return Err(err(
                text,
                format!(
                    "`{repo}` is not a repository name (lowercase letters, digits and . _ - separated by /)"
                ),
            ));
        }
        Ok(Reference {
            registry: registry.to_string(),
            repository: repo.to_string(),
            target,
        })
    }

    /// The same repository at `digest`.
    pub fn with_digest(&self, digest: &str) -> Reference {
        Reference {
            target: Target::Digest(digest.to_string()),
            ..self.clone()
        }
    }

    /// The same repository at `tag`.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            target: Target::Tag(tag.to_string()),
            ..self.clone()
        }
    }

    /// The tag or digest as it goes in a URL path.
    pub fn target_str(&self) -> &str {
        match &self.target {
            Target::Tag(t) => t,
            Target::Digest(d) => d,
        }
    }

    /// Whether the registry is on a loopback address (plain HTTP allowed).
    pub fn is_loopback(&self) -> bool {
        let host = match self.registry.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => self.registry.as_str(),
        };
        host == "localhost"
            || host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback())
            || host == "[::1]"
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Tag(t) => write!(f, "oci://{}/{}:{t}", self.registry, self.repository),
            Target::Digest(d) => write!(f, "oci://{}/{}@{d}", self.registry, self.repository),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tags_digests_and_defaults() {
        let r = Reference::parse("oci://127.0.0.1:5000/team/echo-tool:1.2.0").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/echo-tool");
        assert_eq!(r.target, Target::Tag("1.2.0".into()));
        assert!(r.is_loopback());
        assert_eq!(r.to_string(), "oci://127.0.0.1:5000/team/echo-tool:1.2.0");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("ghcr.io/acme/p@{d}")).unwrap();
        assert_eq!(r.target, Target::Digest(d));
        assert!(!r.is_loopback());
        let r = Reference::parse("oci://localhost:5000/p").unwrap();
        assert_eq!(r.target, Target::Tag("latest".into()));
        assert!(r.is_loopback());
    }

    #[test]
    fn refuses_bad_parts_naming_them() {
        for (bad, says) in [
            ("https://ghcr.io/a/b:1", "only `oci://`"),
            ("oci://ghcr.io", "expected REGISTRY/REPOSITORY"),
            ("oci://ghcr.io/Upper/b:1", "is not a repository name"),
            ("oci://ghcr.io/a/../b:1", "is not a repository name"),
            ("oci://ghcr.io/a/b:-x", "is not a valid tag"),
            ("oci://ghcr.io/a/b@sha256:12", "64 lowercase hex"),
            ("oci://gh cr.io/a/b:1", "is not a registry"),
            ("oci://ghcr.io:99999/a/b:1", "is not a registry"),
        ] {
            let e = Reference::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
