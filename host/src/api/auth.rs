//! Who may call the API. Bound to loopback, the API needs no token (but
//! refuses foreign `Host` headers, against DNS rebinding); bound elsewhere,
//! every route and the WebSocket upgrade need the bearer token
//! (`PADDOCK_TOKEN`, or one generated at first start and kept in the data
//! dir). Admin routes (plugins, grants) always need the admin token
//! (`PADDOCK_ADMIN_TOKEN`, or generated likewise), which also passes as the
//! ordinary token. WebSocket upgrades from a foreign `Origin` are refused.

use super::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// The tokens and rules in force.
#[derive(Clone, Debug)]
pub struct Auth {
    /// Required on every route when set (bound beyond loopback).
    token: Option<String>,
    /// Required on admin routes.
    admin_token: String,
    /// Bound to a loopback address only.
    loopback: bool,
    /// Extra origins allowed to open the WebSocket.
    allowed_origins: Vec<String>,
}

/// A token and where it came from, for the startup message (never the
/// token itself unless it was just generated).
#[derive(Debug)]
pub struct TokenNotice(pub String);

fn random_token() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// Reads the token from `env`, else from `file`, else generates one and
/// writes it to `file` (mode 0600).
fn load_or_create(env: &str, file: &Path, what: &str) -> std::io::Result<(String, TokenNotice)> {
    if let Ok(t) = std::env::var(env)
        && !t.trim().is_empty()
    {
        return Ok((
            t.trim().to_string(),
            TokenNotice(format!("{what}: from ${env}")),
        ));
    }
    if let Ok(t) = std::fs::read_to_string(file)
        && !t.trim().is_empty()
    {
        return Ok((
            t.trim().to_string(),
            TokenNotice(format!("{what}: in {}", file.display())),
        ));
    }
    let token = random_token();
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut f = options.open(file)?;
    f.write_all(token.as_bytes())?;
    f.sync_all()?;
    Ok((
        token.clone(),
        TokenNotice(format!(
            "{what} (generated, kept in {}; set ${env} to choose one): {token}",
            file.display()
        )),
    ))
}

impl Auth {
    /// Sets up the tokens for a server bound to `bind`, keeping generated
    /// ones in `data_dir`.
    pub fn setup(
        data_dir: &Path,
        bind: SocketAddr,
        allowed_origins: Vec<String>,
    ) -> std::io::Result<(Auth, Vec<TokenNotice>)> {
        let loopback = bind.ip().is_loopback();
        let mut notices = Vec::new();
        let token = if loopback {
            None
        } else {
            let (t, n) = load_or_create("PADDOCK_TOKEN", &data_dir.join("api-token"), "API token")?;
            notices.push(n);
            Some(t)
        };
        let (admin_token, n) = load_or_create(
            "PADDOCK_ADMIN_TOKEN",
            &data_dir.join("admin-token"),
            "admin token",
        )?;
        notices.push(n);
        Ok((
            Auth {
                token,
                admin_token,
                loopback,
                allowed_origins,
            },
            notices,
        ))
    }

    /// Rules with explicit tokens (tests, embedding).
    pub fn new(token: Option<String>, admin_token: String, loopback: bool) -> Auth {
        Auth {
            token,
            admin_token,
            loopback,
            allowed_origins: Vec::new(),
        }
    }

    fn presented(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
        if let Some(v) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            && let Some(t) = v
                .strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        {
            return Some(t.trim().to_string());
        }
        // Browsers cannot set headers on a WebSocket upgrade.
        query.and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("token="))
                .map(str::to_string)
        })
    }

    /// Who is asking, for the audit log: `admin` (the admin token), `user`
    /// (the user token) or `local user` (loopback without a token).
    pub fn role(&self, headers: &HeaderMap, query: Option<&str>) -> &'static str {
        let presented = Auth::presented(headers, query);
        if self.is_admin(presented.as_deref()) {
            "admin"
        } else if self.token.is_some() {
            "user"
        } else {
            "local user"
        }
    }

    /// Whether every route needs a token (bound beyond loopback).
    pub fn token_required(&self) -> bool {
        self.token.is_some()
    }

    fn is_admin(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| constant_time_eq(p.as_bytes(), self.admin_token.as_bytes()))
    }

    fn check_user(&self, presented: Option<&str>) -> Result<(), ApiError> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let ok = presented.is_some_and(|p| constant_time_eq(p.as_bytes(), token.as_bytes()))
            || self.is_admin(presented);
        if ok {
            Ok(())
        } else {
            Err(unauthorized(
                "a valid bearer token is required (Authorization: Bearer …)",
            ))
        }
    }

    fn check_host(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if !self.loopback {
            return Ok(());
        }
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if host.is_empty() || is_loopback_authority(host) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this server is bound to loopback and answers only to localhost names",
            ))
        }
    }

    /// Whether a WebSocket upgrade's `Origin` is acceptable: none (not a
    /// browser), the server's own host, or an allowed origin.
    pub fn check_origin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
            return Ok(());
        };
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .unwrap_or("");
        if (!host.is_empty() && origin_authority == host)
            || self.allowed_origins.iter().any(|o| o == origin)
        {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("origin `{origin}` may not open this WebSocket"),
            ))
        }
    }
}

fn is_loopback_authority(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware for ordinary routes.
pub async fn require_user(
    State(auth): State<Arc<Auth>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    auth.check_host(req.headers())?;
    let presented = Auth::presented(req.headers(), req.uri().query());
    auth.check_user(presented.as_deref())?;
    Ok(next.run(req).await)
}

/// Middleware for admin routes.
pub async fn require_admin(
    State(auth): State<Arc<Auth>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    auth.check_host(req.headers())?;
    let presented = Auth::presented(req.headers(), None);
    if !auth.is_admin(presented.as_deref()) {
        return Err(if presented.is_none() {
            unauthorized("this admin route needs the admin token (Authorization: Bearer …)")
        } else {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this route needs the admin token",
            )
        });
    }
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn tokens_and_admin() {
        let a = Auth::new(Some("user-t".into()), "admin-t".into(), false);
        assert!(a.check_user(None).is_err());
        assert!(a.check_user(Some("nope")).is_err());
        assert!(a.check_user(Some("user-t")).is_ok());
        assert!(
            a.check_user(Some("admin-t")).is_ok(),
            "admin passes as user"
        );
        assert!(!a.is_admin(Some("user-t")));
        let p = Auth::presented(&headers(&[("authorization", "Bearer user-t")]), None);
        assert_eq!(p.as_deref(), Some("user-t"));
        let q = Auth::presented(&HeaderMap::new(), Some("a=1&token=xyz"));
        assert_eq!(q.as_deref(), Some("xyz"));
    }

    #[test]
    fn loopback_host_and_origin_rules() {
        let a = Auth::new(None, "admin".into(), true);
        assert!(
            a.check_host(&headers(&[("host", "127.0.0.1:7700")]))
                .is_ok()
        );
        assert!(
            a.check_host(&headers(&[("host", "localhost:7700")]))
                .is_ok()
        );
        assert!(a.check_host(&headers(&[("host", "[::1]:7700")])).is_ok());
        assert!(
            a.check_host(&headers(&[("host", "evil.example:7700")]))
                .is_err()
        );
        assert!(a.check_origin(&HeaderMap::new()).is_ok());
        assert!(
            a.check_origin(&headers(&[
                ("host", "127.0.0.1:7700"),
                ("origin", "http://127.0.0.1:7700")
            ]))
            .is_ok()
        );
        assert!(
            a.check_origin(&headers(&[
                ("host", "127.0.0.1:7700"),
                ("origin", "http://evil.example")
            ]))
            .is_err()
        );
    }

    #[test]
    fn generated_tokens_persist_privately() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t");
        let (t1, n1) = load_or_create("PADDOCK_TEST_UNSET_TOKEN_VAR", &file, "x").unwrap();
        assert!(n1.0.contains("generated"));
        let (t2, n2) = load_or_create("PADDOCK_TEST_UNSET_TOKEN_VAR", &file, "x").unwrap();
        assert_eq!(t1, t2);
        assert!(!n2.0.contains(&t1), "a stored token is not printed again");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
