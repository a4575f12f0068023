//! The little HTTP the egress proxy speaks: reading a client's request
//! head (bounded), telling a `CONNECT host:port` from an absolute-form
//! `GET http://host:port/path`, rewriting the latter to origin form, and
//! the proxy's own answers (403 with a body that says why, 400, 502…).

use std::fmt;

/// Longest request head (request line and headers) the proxy reads.
pub const MAX_HEAD: usize = 32 * 1024;

/// What the client asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The host as the client wrote it (a name, or an address literal
    /// without brackets), lowercase.
    pub host: String,
    /// The port.
    pub port: u16,
    /// A tunnel (`CONNECT`), or a plain HTTP request to forward.
    pub kind: Kind,
}

/// The two ways a client uses a proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `CONNECT host:port`: a tunnel (HTTPS, or anything over TCP).
    Connect,
    /// A plain HTTP request: this head, rewritten to origin form, is sent
    /// to the server first.
    Forward(Vec<u8>),
}

/// Why a request head was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// Longer than [`MAX_HEAD`].
    TooLarge,
    /// Not a request the proxy understands; says what is wrong.
    Bad(String),
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadError::TooLarge => write!(f, "the request head is over {MAX_HEAD} bytes"),
            HeadError::Bad(m) => f.write_str(m),
        }
    }
}

/// Where the head of `buf` ends (the index after its blank line).
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Parses a complete request head (up to and including its blank line).
pub fn parse(head: &[u8]) -> Result<Request, HeadError> {
    let bad = |m: &str| HeadError::Bad(m.to_string());
    let text = std::str::from_utf8(head).map_err(|_| bad("the request head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("the request line is not `METHOD TARGET HTTP/1.x`"));
    };
    if !matches!(version, "HTTP/1.1" | "HTTP/1.0") {
        return Err(bad("only HTTP/1.0 and HTTP/1.1 requests are proxied"));
    }
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad("the request method is not a method"));
    }
    if method == "CONNECT" {
        let (host, port) = authority(target, None)?;
        return Ok(Request {
            host,
            port,
            kind: Kind::Connect,
        });
    }
    let lower = target.to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &target[7..]
    } else if lower.starts_with("https://") {
        return Err(bad(
            "an https:// URL must go through CONNECT (set HTTPS_PROXY, not a plain request)",
        ));
    } else {
        return Err(bad(
            "this is a proxy: the request target must be an absolute http:// URL or CONNECT host:port",
        ));
    };
    let (auth, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if auth.contains('@') {
        return Err(bad("user information in the URL is not proxied"));
    }
    let (host, port) = authority(auth, Some(80))?;
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    let mut out = Vec::with_capacity(head.len());
    out.extend_from_slice(format!("{method} {path} {version}\r\n").as_bytes());
    let mut has_host = false;
    for header in lines.take_while(|l| !l.is_empty()) {
        let Some((name, _)) = header.split_once(':') else {
            return Err(bad("a header line has no `:`"));
        };
        let name = name.trim().to_ascii_lowercase();
        if name.starts_with("proxy-") || name == "connection" || name == "keep-alive" {
            continue;
        }
        has_host |= name == "host";
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !has_host {
        out.extend_from_slice(format!("Host: {auth}\r\n").as_bytes());
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    Ok(Request {
        host,
        port,
        kind: Kind::Forward(out),
    })
}

/// `host:port`, `[v6]:port`, or (with a default port) a bare host.
fn authority(s: &str, default_port: Option<u16>) -> Result<(String, u16), HeadError> {
    let bad = |m: String| HeadError::Bad(m);
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| bad(format!("`{s}`: no closing `]`")))?;
        (h, after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match (port, default_port) {
        (Some(p), _) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad(format!("`{s}`: the port is not 1 to 65535")))?,
        (None, Some(d)) => d,
        (None, None) => return Err(bad(format!("`{s}`: CONNECT needs host:port"))),
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
    if !ok {
        return Err(bad(format!("`{s}`: not a host name or address")));
    }
    Ok((host, port))
}

/// One of the proxy's own answers, with a plain-text body (closing the
/// connection).
pub fn answer(status: u16, reason: &str, body: &str) -> Vec<u8> {
    let body = format!("{body}\n");
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nX-Paddock-Egress: {}\r\nConnection: close\r\n\r\n{body}",
        body.len(),
        if status == 403 { "refused" } else { "error" },
    )
    .into_bytes()
}

/// What a tunnel's client is told once the server is connected.
pub const ESTABLISHED: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Request, HeadError> {
        parse(s.as_bytes())
    }

    #[test]
    fn connect_names_host_and_port() {
        let r = p("CONNECT Registry.npmjs.org:443 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.kind),
            ("registry.npmjs.org", 443, Kind::Connect)
        );
        let r = p("CONNECT [2606:4700::1]:443 HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!((r.host.as_str(), r.port), ("2606:4700::1", 443));
        assert!(p("CONNECT example.com HTTP/1.1\r\n\r\n").is_err());
        assert!(p("CONNECT example.com:0 HTTP/1.1\r\n\r\n").is_err());
        assert!(p("CONNECT exa mple.com:1 HTTP/1.1\r\n\r\n").is_err());
    }

    #[test]
    fn a_plain_request_is_rewritten_to_origin_form() {
        let r = p(
            "GET http://Example.com:8080/a/b?c=1 HTTP/1.1\r\nHost: example.com:8080\r\n\
             Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic eA==\r\n\
             Connection: keep-alive\r\nAccept: */*\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.host.as_str(), r.port), ("example.com", 8080));
        let Kind::Forward(head) = r.kind else {
            panic!("not forwarded")
        };
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "GET /a/b?c=1 HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\n\
             Connection: close\r\n\r\n"
        );
        let r = p("GET http://example.com HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(r.port, 80);
        let Kind::Forward(head) = r.kind else {
            panic!("not forwarded")
        };
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "GET / HTTP/1.0\r\nHost: example.com\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        for bad in [
            "",
            "\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET https://example.com/ HTTP/1.1\r\n\r\n",
            "GET http://u:p@example.com/ HTTP/1.1\r\n\r\n",
            "GET http://example.com/ HTTP/2\r\n\r\n",
            "get http://example.com/ HTTP/1.1\r\n\r\n",
            "GET http://example.com/ HTTP/1.1\r\nbroken\r\n\r\n",
            "GET  http://example.com/ HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                matches!(p(bad), Err(HeadError::Bad(_))),
                "{bad:?}: {:?}",
                p(bad)
            );
        }
        assert!(parse(&[0xff, 0xfe, b'\r', b'\n', b'\r', b'\n']).is_err());
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
    }

    #[test]
    fn answers_carry_their_body() {
        let a = String::from_utf8(answer(403, "Forbidden", "no")).unwrap();
        assert!(a.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{a}");
        assert!(a.contains("Content-Length: 3\r\n"), "{a}");
        assert!(a.ends_with("\r\n\r\nno\n"), "{a}");
    }
}
