//! Who may call the API, and from where.
//!
//! **Every request is authenticated**, on loopback too (an agent's sandbox
//! and other local users are local processes as well). A caller presents:
//! - a bearer token (`Authorization: Bearer …`): the user token
//!   (`PADDOCK_TOKEN`, or generated at first start and kept in the data
//!   dir's `api-token`, mode 0600, for the CLI and scripts) or the admin
//!   token (`PADDOCK_ADMIN_TOKEN`, or `admin-token` likewise), which also
//!   passes as the user token;
//! - or a session cookie (HttpOnly, `SameSite=Strict`) for the dashboard,
//!   set by the one-time login link `paddock serve` prints at every start
//!   (`/login?code=…`, an admin session) or by signing in with a token
//!   (`POST /api/session`). Sessions are kept in the store, hashed, and last
//!   [`SESSION_DAYS`] days.
//! - `?token=` is taken on the WebSocket upgrade only (browsers cannot set
//!   headers there; the dashboard uses its cookie).
//!
//! `--unsafe-no-auth` restores the old loopback behaviour (no credentials
//! needed on a loopback bind) and is announced at every start.
//!
//! **Cross-site requests are refused.** A request that changes state (any
//! method but GET, HEAD and OPTIONS) must come from the dashboard's own
//! origin when it says where it comes from (`Origin`, else `Sec-Fetch-Site`)
//! and must carry something a cross-site HTML form cannot send: an
//! `Authorization` header, a JSON content type, or `X-Paddock-Request`.
//! Bound to loopback, foreign `Host` names are refused (DNS rebinding).
//!
//! **Sessions carry a CSRF token.** With the session cookie the server sets
//! `paddock_csrf_<port>` (readable by the dashboard, `SameSite=Strict`),
//! whose value is derived from the session's secret; a state-changing
//! request authenticated by the session cookie must send it back as
//! `X-Paddock-CSRF` (403 `csrf_failed` otherwise). A session whose browser
//! lacks the cookie (one opened by single sign-on's redirect) gets it with
//! its next answer. Bearer tokens need no such header. Both cookies are
//! `Secure` when `[server] public_url` starts with `https://`, or, with
//! `[server] trust_proxy`, when the sign-in came with
//! `X-Forwarded-Proto: https`.
//!
//! **Each credential has a request rate** (`[server]
//! rate_limit_per_minute`, see [`crate::limits`]), and each user name a
//! number of failed password sign-ins; past either, 429 `rate_limited`
//! with `Retry-After`. Passwords are checked against a dummy hash for
//! unknown names (about the same time as a known one). Every sign-in and
//! failed sign-in is audited (kind `sign_in`).

use super::error::ApiError;
use super::limits::{RateLimiter, SignInFailures};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use paddock_store::{DocKind, NewAudit, Store, StoreError, TokenRecord, UserRecord};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// How long a dashboard session lasts.
pub const SESSION_DAYS: i64 = 30;

/// The header a non-browser client (or the dashboard) may send on a
/// state-changing request without a JSON body, to show it is not a
/// cross-site form.
pub const REQUEST_HEADER: &str = "x-paddock-request";

/// The header a change made with the session cookie must carry: the value
/// of the `paddock_csrf_<port>` cookie.
pub const CSRF_HEADER: &str = "x-paddock-csrf";

pub use paddock_protocol::identity::{LOCAL_USER, Role, Scope};

/// How a caller proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A service token: `PADDOCK_TOKEN`/`PADDOCK_ADMIN_TOKEN` (or the data
    /// dir's token files), acting as the local account.
    ServiceToken,
    /// A personal access token.
    AccessToken,
    /// The dashboard's session cookie.
    Session,
    /// Nothing: `--unsafe-no-auth` on loopback (the local account, scope
    /// `write`).
    Nothing,
}

/// The authenticated caller of a request (an extractor; the auth
/// middleware puts it into the request): a user, with the role of the
/// user and the scope of the credential it came with.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The user's id ([`LOCAL_USER`] for the service tokens, the login
    /// link and `--unsafe-no-auth`).
    pub user_id: String,
    /// The user's name, for humans and the audit log.
    pub user_name: String,
    /// The user's role.
    pub role: Role,
    /// The credential's scope (a session's is its user's role's: `admin`
    /// for an admin, `write` otherwise).
    pub scope: Scope,
    /// The personal access token it came with.
    pub token_id: Option<String>,
    /// The ids of the groups the user is in.
    pub groups: Vec<String>,
    /// How it proved who it is.
    pub via: Via,
    /// The hash of its session, when it came with the session cookie.
    session: Option<String>,
}

impl Caller {
    /// The local account, as a service token, the login link or
    /// `--unsafe-no-auth` presents it.
    pub fn local(scope: Scope, via: Via) -> Caller {
        Caller {
            user_id: LOCAL_USER.to_string(),
            user_name: LOCAL_USER.to_string(),
            role: Role::Admin,
            scope,
            token_id: None,
            groups: Vec::new(),
            via,
            session: None,
        }
    }

    /// Whether it may call admin routes (an admin with scope `admin`).
    pub fn is_admin(&self) -> bool {
        crate::access::Access::Admin.allows(self.role, self.scope)
    }

    /// Whether it sees every agent, workspace and approval (an admin, any
    /// scope).
    pub fn sees_everything(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether it may change things (a member or admin with scope `write`
    /// or more).
    pub fn may_write(&self) -> bool {
        crate::access::Access::Write.allows(self.role, self.scope)
    }

    /// Who is acting, for the audit log and `decided_by`: the user's name
    /// and the channel (`alice (REST)`). The local account keeps the names
    /// it had before there were users: `admin (REST)` with admin scope,
    /// `user (WebSocket)` otherwise.
    pub fn actor(&self, channel: &str) -> String {
        if self.user_id == LOCAL_USER {
            let who = match (self.via, self.scope) {
                (Via::Nothing, _) => "unauthenticated local user",
                (_, Scope::Admin) => "admin",
                _ => "user",
            };
            return format!("{who} ({channel})");
        }
        format!("{} ({channel})", self.user_name)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "this route is not behind authentication",
            )
        })
    }
}

/// A token and where it came from, for the startup message (never the
/// token itself unless it was just generated).
#[derive(Debug)]
pub struct TokenNotice(pub String);

/// Why auth could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// A token file could not be read or written.
    #[error("{path}: {source}")]
    TokenFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// `--unsafe-no-auth` was asked for a server reachable from other
    /// machines.
    #[error(
        "--unsafe-no-auth only applies to a loopback bind (127.0.0.1, [::1]); {0} is reachable from other machines"
    )]
    NoAuthBeyondLoopback(SocketAddr),
}

/// `--unsafe-no-auth` applies to a loopback bind only.
pub fn check_unsafe_no_auth(unsafe_no_auth: bool, bind: SocketAddr) -> Result<(), AuthSetupError> {
    if unsafe_no_auth && !bind.ip().is_loopback() {
        return Err(AuthSetupError::NoAuthBeyondLoopback(bind));
    }
    Ok(())
}

fn random_hex() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Reads the token from `env`, else from `file`, else generates one and
/// writes it to `file` (mode 0600).
fn load_or_create(
    env: &str,
    file: &Path,
    what: &str,
) -> Result<(String, TokenNotice), AuthSetupError> {
    let io = |source| AuthSetupError::TokenFile {
        path: file.display().to_string(),
        source,
    };
    if let Ok(t) = std::env::var(env)
        && !t.trim().is_empty()
    {
        return Ok((
            t.trim().to_string(),
            TokenNotice(format!("{what}: from ${env}")),
        ));
    }
    match std::fs::read_to_string(file) {
        Ok(t) if !t.trim().is_empty() => {
            return Ok((
                t.trim().to_string(),
                TokenNotice(format!("{what}: in {}", file.display())),
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let token = random_hex();
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut f = options.open(file).map_err(io)?;
    f.write_all(token.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok((
        token.clone(),
        TokenNotice(format!(
            "{what} (generated, kept in {}; set ${env} to choose one): {token}",
            file.display()
        )),
    ))
}

/// A stored session (its key is the SHA-256 of the cookie's value).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Session {
    /// Whose (None in sessions from before there were users: the local
    /// account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    /// Its scope (None before there were users: see `legacy_role`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<Scope>,
    /// What sessions from before there were users had instead: `admin`
    /// or `user` (scope `admin` or `write` of the local account).
    #[serde(default, rename = "role", skip_serializing)]
    legacy_role: Option<String>,
    expires_at: DateTime<Utc>,
}

impl Session {
    fn user_id(&self) -> &str {
        self.user_id.as_deref().unwrap_or(LOCAL_USER)
    }

    fn scope(&self) -> Scope {
        self.scope.unwrap_or(match self.legacy_role.as_deref() {
            Some("admin") => Scope::Admin,
            _ => Scope::Write,
        })
    }
}

/// The dashboard's sessions: in the store, hashed, with a cache in front
/// (so the store is read once per session, and a store outage does not
/// sign anyone out).
#[derive(Debug)]
struct Sessions {
    store: Option<Store>,
    cache: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    fn cached(&self, hash: &str) -> Option<Session> {
        self.cache.lock().ok()?.get(hash).cloned()
    }

    fn remember(&self, hash: &str, session: Option<Session>) {
        if let Ok(mut cache) = self.cache.lock() {
            match session {
                Some(s) => cache.insert(hash.to_string(), s),
                None => cache.remove(hash),
            };
        }
    }

    async fn find(&self, hash: &str) -> Result<Option<Session>, StoreError> {
        if let Some(s) = self.cached(hash) {
            return Ok(Some(s));
        }
        let Some(store) = &self.store else {
            return Ok(None);
        };
        let found = store
            .get_doc(DocKind::Session, hash)
            .await?
            .and_then(|d| serde_json::from_value::<Session>(d.body).ok());
        if let Some(s) = &found {
            self.remember(hash, Some(s.clone()));
        }
        Ok(found)
    }

    async fn create(&self, user_id: &str, scope: Scope) -> Result<String, StoreError> {
        let secret = random_hex();
        let hash = sha256_hex(&secret);
        let session = Session {
            user_id: Some(user_id.to_string()),
            scope: Some(scope),
            legacy_role: None,
            expires_at: Utc::now() + chrono::Duration::days(SESSION_DAYS),
        };
        if let Some(store) = &self.store {
            let body = serde_json::to_value(&session)
                .map_err(|e| StoreError::Invalid(format!("session: {e}")))?;
            store.put_doc(DocKind::Session, &hash, &body).await?;
        }
        self.remember(&hash, Some(session));
        Ok(secret)
    }

    async fn delete(&self, hash: &str) -> Result<(), StoreError> {
        self.remember(hash, None);
        if let Some(store) = &self.store {
            store.delete_doc(DocKind::Session, hash).await?;
        }
        Ok(())
    }

    /// Removes the expired sessions from the store.
    async fn purge_expired(&self) -> Result<usize, StoreError> {
        let Some(store) = &self.store else {
            return Ok(0);
        };
        let now = Utc::now();
        let mut purged = 0;
        for doc in store.list_docs(DocKind::Session).await? {
            let expired = serde_json::from_value::<Session>(doc.body)
                .map(|s| s.expires_at <= now)
                .unwrap_or(true);
            if expired {
                store.delete_doc(DocKind::Session, &doc.name).await?;
                purged += 1;
            }
        }
        Ok(purged)
    }
}

/// The credentials and rules in force.
#[derive(Debug)]
pub struct Auth {
    /// The user token (the admin token passes too).
    token: String,
    /// Required on admin routes.
    admin_token: String,
    /// `--unsafe-no-auth`: no credentials needed (loopback only).
    no_auth: bool,
    /// Bound to a loopback address only.
    loopback: bool,
    /// Origins other than the server's own allowed to make requests.
    allowed_origins: Vec<String>,
    /// The session cookie's name (per port: browsers share cookies across
    /// the ports of one host).
    cookie: String,
    sessions: Sessions,
    /// Users and personal access tokens as recently read from the store.
    identities: Identities,
    /// The hash of the one-time login code, until it is used.
    login_code: Mutex<Option<String>>,
    /// The CSRF cookie's name (`paddock_csrf_<port>`).
    csrf_cookie: String,
    /// `[server] public_url` starts with `https://`: cookies are `Secure`.
    https: bool,
    /// `[server] trust_proxy`: believe `X-Forwarded-Proto`.
    trust_proxy: bool,
    /// Requests per credential.
    limiter: RateLimiter,
    /// Failed password sign-ins per name.
    failures: SignInFailures,
}

/// How long a user or token read from the store is trusted before it is
/// read again (a change made through this host's API is seen at once:
/// see [`Auth::forget_user`], [`Auth::forget_token`]; another host's, or
/// the command line's, within this time).
const IDENTITY_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// How often a token's `last_used_at` is written (at most).
const TOKEN_TOUCH_EVERY: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

/// A user with its groups, as read at `at`.
#[derive(Clone, Debug)]
struct CachedUser {
    at: std::time::Instant,
    user: UserRecord,
    groups: Vec<String>,
}

/// A personal access token, as read at `at` (by the SHA-256 of its
/// secret).
#[derive(Clone, Debug)]
struct CachedToken {
    at: std::time::Instant,
    token: TokenRecord,
}

/// The cache of users and tokens in front of the store.
#[derive(Debug, Default)]
struct Identities {
    users: Mutex<HashMap<String, CachedUser>>,
    tokens: Mutex<HashMap<String, CachedToken>>,
}

/// What [`Auth::setup`] takes.
#[derive(Debug)]
pub struct AuthOptions<'a> {
    /// Where generated tokens are kept.
    pub data_dir: &'a Path,
    /// The address the server listens on.
    pub bound: SocketAddr,
    /// Other origins allowed to make requests (`[server] allowed_origins`).
    pub allowed_origins: Vec<String>,
    /// `--unsafe-no-auth`.
    pub unsafe_no_auth: bool,
    /// Where sessions are kept.
    pub store: Store,
}

impl Auth {
    /// Sets up the tokens for a server listening on `options.bound`,
    /// keeping generated ones in the data dir, and a one-time login code;
    /// returns the lines to print at start (the login link last).
    pub fn setup(options: AuthOptions<'_>) -> Result<(Auth, Vec<TokenNotice>), AuthSetupError> {
        let loopback = options.bound.ip().is_loopback();
        check_unsafe_no_auth(options.unsafe_no_auth, options.bound)?;
        let mut notices = Vec::new();
        let (token, n) = load_or_create(
            "PADDOCK_TOKEN",
            &options.data_dir.join("api-token"),
            "API token",
        )?;
        notices.push(n);
        let (admin_token, n) = load_or_create(
            "PADDOCK_ADMIN_TOKEN",
            &options.data_dir.join("admin-token"),
            "admin token",
        )?;
        notices.push(n);
        let mut auth = Auth::new(token, admin_token, loopback);
        auth.no_auth = options.unsafe_no_auth;
        auth.allowed_origins = options.allowed_origins;
        auth.cookie = format!("paddock_session_{}", options.bound.port());
        auth.csrf_cookie = format!("paddock_csrf_{}", options.bound.port());
        auth.sessions.store = Some(options.store);
        if auth.no_auth {
            notices.push(TokenNotice(
                "WARNING: --unsafe-no-auth: any local process (an agent's sandbox with network, \
                 another user, a web page in your browser) can use this API without a token"
                    .into(),
            ));
        }
        let code = auth.new_login_code();
        notices.push(TokenNotice(format!(
            "open the dashboard (this link signs you in once): {}/login?code={code}",
            local_url(options.bound)
        )));
        Ok((auth, notices))
    }

    /// Applies `[server]`: the request rate per credential, and when the
    /// cookies are `Secure`.
    pub fn configure(&mut self, server: &paddock_core::config::ServerConfig) {
        self.limiter = RateLimiter::new(server.rate_limit_per_minute);
        self.https = server
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"));
        self.trust_proxy = server.trust_proxy;
    }

    /// Ends the one-time login link (with team users, people sign in as
    /// themselves).
    pub fn drop_login_code(&self) {
        if let Ok(mut c) = self.login_code.lock() {
            *c = None;
        }
    }

    /// The failed password sign-ins per name.
    pub fn sign_in_failures(&self) -> &SignInFailures {
        &self.failures
    }

    /// Rules with explicit tokens and no stored sessions (tests, embedding).
    pub fn new(token: String, admin_token: String, loopback: bool) -> Auth {
        Auth {
            token,
            admin_token,
            no_auth: false,
            loopback,
            allowed_origins: Vec::new(),
            cookie: "paddock_session".into(),
            sessions: Sessions {
                store: None,
                cache: Mutex::new(HashMap::new()),
            },
            identities: Identities::default(),
            login_code: Mutex::new(None),
            csrf_cookie: "paddock_csrf".into(),
            https: false,
            trust_proxy: false,
            limiter: RateLimiter::new(super::limits::DEFAULT_PER_MINUTE),
            failures: SignInFailures::default(),
        }
    }

    /// Makes a new one-time login code (replacing any unused one).
    pub fn new_login_code(&self) -> String {
        let code = random_hex();
        if let Ok(mut c) = self.login_code.lock() {
            *c = Some(sha256_hex(&code));
        }
        code
    }

    /// Whether requests need credentials (false only with
    /// `--unsafe-no-auth`).
    pub fn credentials_required(&self) -> bool {
        !self.no_auth
    }

    /// Removes expired sessions from the store (at start).
    pub async fn purge_expired_sessions(&self) {
        match self.sessions.purge_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "expired dashboard sessions removed"),
            Err(e) => tracing::warn!(error = %e, "could not remove expired dashboard sessions"),
        }
    }

    fn bearer(headers: &HeaderMap) -> Option<&str> {
        let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim())
    }

    fn query_token(query: Option<&str>) -> Option<String> {
        query_param(query, "token")
    }

    fn session_cookie<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        cookie_value(headers, &self.cookie)
    }

    /// The CSRF token of the session whose cookie's value is `secret`:
    /// derived from it (one-way), so it is checked without being stored.
    fn csrf_value(secret: &str) -> String {
        sha256_hex(&format!("paddock-csrf\0{secret}"))
    }

    /// Whether the request came over TLS, as far as the server can tell:
    /// `public_url` is `https://…`, or a trusted proxy says
    /// `X-Forwarded-Proto: https`.
    fn secure(&self, headers: Option<&HeaderMap>) -> bool {
        self.https
            || (self.trust_proxy
                && headers
                    .and_then(|h| h.get("x-forwarded-proto"))
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split(',').next())
                    .is_some_and(|p| p.trim().eq_ignore_ascii_case("https")))
    }

    /// A `Set-Cookie` value for the CSRF cookie (readable by the page).
    fn csrf_cookie_header(&self, value: &str, max_age: i64, secure: bool) -> HeaderValue {
        HeaderValue::from_str(&format!(
            "{}={value}; Path=/; SameSite=Strict; Max-Age={max_age}{}",
            self.csrf_cookie,
            if secure { "; Secure" } else { "" }
        ))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The CSRF cookie that goes with a session cookie this server set
    /// (the `Set-Cookie` value [`Auth::open_user_session`] returns), for a
    /// caller that sets the session cookie itself.
    pub fn csrf_cookie_for(&self, session_set_cookie: &HeaderValue) -> Option<HeaderValue> {
        let text = session_set_cookie.to_str().ok()?;
        let (name, rest) = text.split_once('=')?;
        if name != self.cookie {
            return None;
        }
        let secret = rest.split(';').next()?;
        Some(self.csrf_cookie_header(
            &Auth::csrf_value(secret),
            SESSION_DAYS * 24 * 3600,
            text.contains("; Secure"),
        ))
    }

    /// For a change (not GET, HEAD, OPTIONS) made with the session cookie:
    /// the `X-Paddock-CSRF` header must be the session's CSRF token.
    fn check_csrf(
        &self,
        method: &Method,
        headers: &HeaderMap,
        caller: &Caller,
    ) -> Result<(), ApiError> {
        if caller.via != Via::Session
            || matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        {
            return Ok(());
        }
        let expected = self.session_cookie(headers).map(Auth::csrf_value);
        let presented = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        match (expected, presented) {
            (Some(e), Some(p)) if constant_time_eq(e.as_bytes(), p.trim().as_bytes()) => Ok(()),
            _ => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf_failed",
                format!(
                    "a change made with the dashboard's session cookie must send the header \
                     `X-Paddock-CSRF` with the value of the `{}` cookie (or use a bearer token)",
                    self.csrf_cookie
                ),
            )),
        }
    }

    /// For a request made with the session cookie whose browser lacks the
    /// matching CSRF cookie: the `Set-Cookie` that gives it.
    fn csrf_refresh(&self, headers: &HeaderMap, caller: &Caller) -> Option<HeaderValue> {
        if caller.via != Via::Session {
            return None;
        }
        let expected = Auth::csrf_value(self.session_cookie(headers)?);
        let has = cookie_value(headers, &self.csrf_cookie)
            .is_some_and(|v| constant_time_eq(v.as_bytes(), expected.as_bytes()));
        (!has).then(|| {
            self.csrf_cookie_header(
                &expected,
                SESSION_DAYS * 24 * 3600,
                self.secure(Some(headers)),
            )
        })
    }

    /// The rate limit's key of a caller's credential (None: no credential).
    fn limit_key(caller: &Caller) -> Option<&str> {
        match caller.via {
            Via::ServiceToken if caller.scope == Scope::Admin => Some("service:admin"),
            Via::ServiceToken => Some("service:write"),
            Via::AccessToken => caller.token_id.as_deref(),
            Via::Session => caller.session.as_deref(),
            Via::Nothing => None,
        }
    }

    /// The scope of a service token (the local account's), if `presented`
    /// is one: the admin token has `admin`, the API token `write`.
    fn service_scope(&self, presented: &str) -> Option<Scope> {
        if constant_time_eq(presented.as_bytes(), self.admin_token.as_bytes()) {
            Some(Scope::Admin)
        } else if constant_time_eq(presented.as_bytes(), self.token.as_bytes()) {
            Some(Scope::Write)
        } else {
            None
        }
    }

    fn store(&self) -> Option<&Store> {
        self.sessions.store.as_ref()
    }

    /// Forgets what is cached of this user (after a change of its role,
    /// groups or state), so the next request reads it again.
    pub fn forget_user(&self, user_id: &str) {
        if let Ok(mut users) = self.identities.users.lock() {
            users.remove(user_id);
        }
    }

    /// Forgets every cached user (after a change of a group's members).
    pub fn forget_users(&self) {
        if let Ok(mut users) = self.identities.users.lock() {
            users.clear();
        }
    }

    /// Forgets what is cached of this token (after it was revoked).
    pub fn forget_token(&self, token_id: &str) {
        if let Ok(mut tokens) = self.identities.tokens.lock() {
            tokens.retain(|_, t| t.token.id != token_id);
        }
    }

    /// The user with its groups: from the cache when read recently, else
    /// from the store. None when there is no such user.
    async fn user(&self, user_id: &str) -> Result<Option<CachedUser>, ApiError> {
        if let Some(c) = self
            .identities
            .users
            .lock()
            .ok()
            .and_then(|u| u.get(user_id).cloned())
            .filter(|c| c.at.elapsed() < IDENTITY_TTL)
        {
            return Ok(Some(c));
        }
        let Some(store) = self.store() else {
            return Ok(None);
        };
        let read = async {
            let Some(user) = store.get_user(user_id).await? else {
                return Ok(None);
            };
            let groups = store.groups_of(user_id).await?;
            Ok::<_, StoreError>(Some(CachedUser {
                at: std::time::Instant::now(),
                user,
                groups,
            }))
        };
        let found = read
            .await
            .map_err(|e| super::error::store_error("cannot read the user", &e))?;
        if let (Some(c), Ok(mut users)) = (&found, self.identities.users.lock()) {
            users.insert(user_id.to_string(), c.clone());
        }
        Ok(found)
    }

    /// The caller a user is, with a credential of `scope`: refused when
    /// the user no longer exists or is disabled.
    async fn user_caller(
        &self,
        user_id: &str,
        scope: Scope,
        via: Via,
        token_id: Option<String>,
        session: Option<String>,
    ) -> Result<Caller, ApiError> {
        if user_id == LOCAL_USER && self.store().is_none() {
            let mut c = Caller::local(scope, via);
            c.token_id = token_id;
            c.session = session;
            return Ok(c);
        }
        let Some(c) = self.user(user_id).await? else {
            return Err(unauthorized(
                "the account of this credential no longer exists",
            ));
        };
        if c.user.disabled {
            return Err(unauthorized("this account is disabled"));
        }
        Ok(Caller {
            user_id: c.user.id,
            user_name: c.user.name,
            role: c.user.role,
            scope,
            token_id,
            groups: c.groups,
            via,
            session,
        })
    }

    /// The caller a personal access token is: its user, with its scope;
    /// refused when it is unknown, revoked or expired.
    async fn token_caller(&self, presented: &str) -> Result<Caller, ApiError> {
        let bad = || unauthorized("the bearer token is not valid");
        let Some(store) = self.store() else {
            return Err(bad());
        };
        let hash = sha256_hex(presented);
        let cached = self
            .identities
            .tokens
            .lock()
            .ok()
            .and_then(|t| t.get(&hash).cloned())
            .filter(|c| c.at.elapsed() < IDENTITY_TTL);
        let token = match cached {
            Some(c) => c.token,
            None => {
                let found = store
                    .token_by_hash(&hash)
                    .await
                    .map_err(|e| super::error::store_error("cannot read the token", &e))?
                    .ok_or_else(bad)?;
                if let Ok(mut tokens) = self.identities.tokens.lock() {
                    tokens.insert(
                        hash.clone(),
                        CachedToken {
                            at: std::time::Instant::now(),
                            token: found.clone(),
                        },
                    );
                }
                found
            }
        };
        let now = Utc::now();
        if token.revoked_at.is_some() {
            return Err(unauthorized("this token was revoked"));
        }
        if !token.is_live(now) {
            return Err(unauthorized("this token has expired"));
        }
        if token
            .last_used_at
            .is_none_or(|t| now - t >= TOKEN_TOUCH_EVERY)
        {
            self.touch_token(store, &hash, &token.id, now);
        }
        self.user_caller(
            &token.user_id,
            token.scope,
            Via::AccessToken,
            Some(token.id),
            None,
        )
        .await
    }

    /// Records a token's use, in the background (a slow store does not
    /// slow the request), and in the cache at once (so it is written at
    /// most once per [`TOKEN_TOUCH_EVERY`]).
    fn touch_token(&self, store: &Store, hash: &str, id: &str, now: DateTime<Utc>) {
        if let Ok(mut tokens) = self.identities.tokens.lock()
            && let Some(c) = tokens.get_mut(hash)
        {
            c.token.last_used_at = Some(now);
        }
        let store = store.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            if let Err(e) = store.touch_token(&id, now).await {
                tracing::debug!(token = %id, error = %e, "could not record a token's use");
            }
        });
    }

    /// Who is asking: a bearer token (or `?token=` when `query_token_ok`,
    /// the WebSocket upgrade) — a service token or a personal access
    /// token —, else the session cookie, else nobody (an error unless
    /// `--unsafe-no-auth`).
    async fn identify(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        query_token_ok: bool,
    ) -> Result<Caller, ApiError> {
        let presented = Auth::bearer(headers)
            .map(str::to_string)
            .or_else(|| query_token_ok.then(|| Auth::query_token(query)).flatten());
        if let Some(token) = presented {
            if let Some(scope) = self.service_scope(&token) {
                return Ok(Caller::local(scope, Via::ServiceToken));
            }
            return self.token_caller(&token).await;
        }
        if let Some(secret) = self.session_cookie(headers) {
            let hash = sha256_hex(secret);
            let found = self
                .sessions
                .find(&hash)
                .await
                .map_err(|e| super::error::store_error("cannot read the session", &e))?;
            match found {
                Some(s) if s.expires_at > Utc::now() => {
                    return self
                        .user_caller(s.user_id(), s.scope(), Via::Session, None, Some(hash))
                        .await;
                }
                Some(_) => self.sessions.remember(&hash, None),
                None => {}
            }
        }
        if self.no_auth {
            return Ok(Caller::local(Scope::Write, Via::Nothing));
        }
        Err(unauthorized(
            "sign in: open the link `paddock serve` printed, or send `Authorization: Bearer <token>` \
             (a personal access token, or the token in the data dir's api-token file)",
        ))
    }

    pub(crate) fn check_host(&self, headers: &HeaderMap) -> Result<(), ApiError> {
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

    /// Whether the request's `Origin` is this server (its `Host`) or an
    /// allowed origin; no `Origin` at all is not a browser's cross-site
    /// request and passes.
    pub fn check_origin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = origin.to_str().unwrap_or("null");
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .unwrap_or("");
        if (!host.is_empty() && origin_authority.eq_ignore_ascii_case(host))
            || self.allowed_origins.iter().any(|o| o == origin)
        {
            Ok(())
        } else {
            Err(cross_site(format!(
                "requests from origin `{origin}` are refused: only this server's own pages may use its API"
            )))
        }
    }

    /// The checks against cross-site requests (see the module doc) for a
    /// request that changes state.
    fn check_not_cross_site(&self, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Ok(());
        }
        self.check_origin(headers)?;
        if headers.get(header::ORIGIN).is_none()
            && let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
            && !matches!(site, "same-origin" | "none")
        {
            return Err(cross_site(format!(
                "a `{site}` request may not change anything here (Sec-Fetch-Site)"
            )));
        }
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            })
            .unwrap_or(false);
        if json
            || headers.contains_key(header::AUTHORIZATION)
            || headers.contains_key(REQUEST_HEADER)
        {
            Ok(())
        } else {
            Err(cross_site(format!(
                "a request that changes something must carry `Content-Type: application/json`, \
                 an `Authorization` header or `{REQUEST_HEADER}: 1` (a cross-site form can send none of them)"
            )))
        }
    }

    /// Everything [`authorize`] checks, for a request's parts: the
    /// `Host`, the caller, and (for state-changing requests) that it is not
    /// cross-site.
    async fn authenticate(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<Caller, ApiError> {
        self.check_host(headers)?;
        let caller = self.identify(headers, query, path == "/api/ws").await?;
        self.check_not_cross_site(method, headers)?;
        self.check_csrf(method, headers, &caller)?;
        Ok(caller)
    }

    /// A `Set-Cookie` value for the session cookie (`value` empty and
    /// `max_age` 0 clear it).
    fn cookie_header(&self, value: &str, max_age: i64, secure: bool) -> HeaderValue {
        HeaderValue::from_str(&format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
            self.cookie,
            if secure { "; Secure" } else { "" }
        ))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// Opens a session: the `Set-Cookie` values that hand it to the
    /// browser, the session cookie first, then its CSRF cookie.
    async fn open_session(
        &self,
        user_id: &str,
        scope: Scope,
        secure: bool,
    ) -> Result<[HeaderValue; 2], ApiError> {
        let secret = self
            .sessions
            .create(user_id, scope)
            .await
            .map_err(|e| super::error::store_error("cannot store the session", &e))?;
        let max_age = SESSION_DAYS * 24 * 3600;
        Ok([
            self.cookie_header(&secret, max_age, secure),
            self.csrf_cookie_header(&Auth::csrf_value(&secret), max_age, secure),
        ])
    }

    /// Opens a dashboard session for a user who just signed in (with a
    /// password or single sign-on): the session cookie's `Set-Cookie`
    /// value (its CSRF cookie: [`Auth::csrf_cookie_for`], or the next
    /// answer sets it). Its scope is what the user's role allows (`admin`
    /// for an admin, else `write`); `Secure` when `public_url` is https.
    pub async fn open_user_session(&self, user: &UserRecord) -> Result<HeaderValue, ApiError> {
        let [session, _csrf] = self.open_user_session_cookies(user, None).await?;
        Ok(session)
    }

    /// [`Auth::open_user_session`] with both cookies (the session's, then
    /// the CSRF one), `Secure` as the request's `headers` say.
    pub async fn open_user_session_cookies(
        &self,
        user: &UserRecord,
        headers: Option<&HeaderMap>,
    ) -> Result<[HeaderValue; 2], ApiError> {
        let scope = if user.role == Role::Admin {
            Scope::Admin
        } else {
            Scope::Write
        };
        self.forget_user(&user.id);
        self.open_session(&user.id, scope, self.secure(headers))
            .await
    }

    /// Uses the one-time login code: true (once) if it is the current one.
    fn take_login_code(&self, code: &str) -> bool {
        let Ok(mut current) = self.login_code.lock() else {
            return false;
        };
        let ok = current
            .as_deref()
            .is_some_and(|h| constant_time_eq(h.as_bytes(), sha256_hex(code).as_bytes()));
        if ok {
            *current = None;
        }
        ok
    }
}

/// The value of the cookie `name` the request carries.
pub(crate) fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// `http://HOST:PORT` of a server bound to `bound` (127.0.0.1 for an
/// unspecified address).
pub fn local_url(bound: SocketAddr) -> String {
    let host = match bound.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("http://{host}:{}", bound.port())
}

/// The first value of the query parameter `name`, percent-decoded.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub(crate) fn is_loopback_authority(host: &str) -> bool {
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

fn cross_site(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "cross_site_request", message)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware of every authenticated route: authenticates the caller
/// (see the module doc), checks that its role and scope pass the route's
/// [`crate::access::Access`] (a route missing from the table is refused:
/// fail closed), and hands it to the handler as a [`Caller`].
pub async fn authorize(
    State(auth): State<Arc<Auth>>,
    matched: Option<axum::extract::MatchedPath>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let caller = auth
        .authenticate(
            req.method(),
            req.uri().path(),
            req.headers(),
            req.uri().query(),
        )
        .await?;
    if let Some(key) = Auth::limit_key(&caller) {
        auth.limiter.take(key)?;
    }
    let path = matched.as_ref().map_or("", |m| m.as_str());
    let Some(access) = crate::access::access_of(req.method(), path) else {
        return Err(ApiError::internal(
            "this route has no access level",
            &format!("{} {path}", req.method()),
        ));
    };
    if !access.allows(caller.role, caller.scope) {
        return Err(if caller.via == Via::Nothing {
            unauthorized(&format!(
                "this route needs {}: sign in or send `Authorization: Bearer …`",
                access.needs()
            ))
        } else {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "this route needs {} (you are {} `{}`, with scope `{}`)",
                    access.needs(),
                    caller.role.as_str(),
                    caller.user_name,
                    caller.scope.as_str()
                ),
            )
        });
    }
    let csrf = auth.csrf_refresh(req.headers(), &caller);
    req.extensions_mut().insert(caller);
    let mut resp = next.run(req).await;
    if let Some(cookie) = csrf {
        resp.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(resp)
}

/// `POST /api/session`: a token, or a user's name and password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged, try_from = "serde_json::Value")]
pub enum SignIn {
    /// With a token.
    Token(TokenSignIn),
    /// With a name and password.
    Password(PasswordSignIn),
}

/// Signing in with a token.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenSignIn {
    /// A personal access token, or the user or admin token.
    #[schema(max_length = 4096)]
    pub token: String,
}

/// Signing in with a user's name and password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordSignIn {
    /// The user's sign-in name.
    #[schema(max_length = 256)]
    pub name: String,
    /// The user's password.
    #[schema(max_length = 1024)]
    pub password: String,
}

impl TryFrom<serde_json::Value> for SignIn {
    type Error = String;

    /// `token` makes it a token sign-in, else a password one (so errors
    /// name the fields of the one meant).
    fn try_from(v: serde_json::Value) -> Result<SignIn, String> {
        let with_token = v.get("token").is_some();
        let named = |e: serde_path_to_error::Error<serde_json::Error>| {
            let path = e.path().to_string();
            if path == "." {
                e.inner().to_string()
            } else {
                format!("{path}: {}", e.inner())
            }
        };
        if with_token {
            serde_path_to_error::deserialize(v)
                .map(SignIn::Token)
                .map_err(named)
        } else {
            serde_path_to_error::deserialize(v)
                .map(SignIn::Password)
                .map_err(named)
        }
    }
}

/// The signed-in caller.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// The user's id.
    pub user_id: String,
    /// The user's name.
    pub name: String,
    /// The user's role.
    pub role: Role,
    /// What the session may do within that role.
    pub scope: Scope,
}

/// A PHC hash of no one's password, checked for names that have no
/// password, so a wrong name costs about what a wrong password does.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        super::credentials::hash_password(&random_hex()).unwrap_or_else(|_| String::new())
    })
}

/// Records a sign-in (`succeeded`) or a failed one in the audit log. A
/// failure to record a failed one is logged (the caller is refused
/// anyway); a success that cannot be recorded is an error.
async fn audit_sign_in(
    state: &super::AppState,
    succeeded: bool,
    actor: String,
    user_id: Option<String>,
    token_id: Option<String>,
    reason: &str,
) -> Result<(), ApiError> {
    // How: the actor's channel (`alice (password)`, `admin (login link)`).
    let method = actor
        .rsplit_once(" (")
        .map_or("", |(_, m)| m.trim_end_matches(')'))
        .to_string();
    let entry = NewAudit {
        agent_id: String::new(),
        kind: "sign_in".into(),
        action: if succeeded { "succeeded" } else { "failed" }.into(),
        actor,
        reason: reason.into(),
        detail: serde_json::json!({ "method": method }),
        user_id,
        token_id,
        ..NewAudit::default()
    };
    match state.store.audit(&entry).await {
        Ok(_) => Ok(()),
        Err(e) if succeeded => Err(super::error::store_error("cannot audit the sign-in", &e)),
        Err(e) => {
            tracing::warn!(error = %e, "could not audit a failed sign-in");
            Ok(())
        }
    }
}

/// A name someone typed, fit for the audit log: at most 64 characters,
/// control characters escaped.
fn typed_name(name: &str) -> String {
    let short: String = name.chars().take(64).collect();
    short.escape_debug().to_string()
}

/// The answer to a sign-in: 201, the view, and the cookies.
fn signed_in(caller_view: SessionView, cookies: [HeaderValue; 2]) -> Response {
    let mut resp = (StatusCode::CREATED, axum::Json(caller_view)).into_response();
    for c in cookies {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// Signs the browser in — with a token (a personal access token, or a
/// service token), or with a user's name and password — and sets the
/// session cookie (HttpOnly, SameSite=Strict) and its CSRF cookie. Failed
/// password sign-ins are limited per name (429 with `Retry-After`); a
/// disabled user is refused (403). Every attempt is audited.
#[utoipa::path(post, path = "/api/session", tag = "meta", operation_id = "create_session",
    security(()),
    request_body = SignIn,
    responses((status = 201, body = SessionView, description = "Signed in; the session and CSRF cookies are set"),
        (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody),
        (status = 403, body = super::error::ErrorBody),
        (status = 429, body = super::error::ErrorBody, description = "Too many failed sign-ins with this name",
            headers(("Retry-After" = u32, description = "Seconds after which a retry may succeed"))),
        (status = 503, body = super::error::ErrorBody)))]
pub async fn sign_in(
    State(state): State<super::AppState>,
    headers: HeaderMap,
    method: Method,
    super::error::ApiJson(body): super::error::ApiJson<SignIn>,
) -> Result<Response, ApiError> {
    let auth = &state.auth;
    auth.check_host(&headers)?;
    auth.check_not_cross_site(&method, &headers)?;
    let secure = auth.secure(Some(&headers));
    let token = match body {
        SignIn::Token(t) => t.token,
        SignIn::Password(p) => {
            return sign_in_with_password(&state, p.name.trim(), p.password, &headers).await;
        }
    };
    let token = token.trim();
    let caller = match auth.service_scope(token) {
        Some(scope) => Caller::local(scope, Via::ServiceToken),
        None => match auth.token_caller(token).await {
            Ok(c) => c,
            Err(e) => {
                audit_sign_in(
                    &state,
                    false,
                    "unknown (token)".into(),
                    None,
                    None,
                    &format!("token: {}", e.message),
                )
                .await?;
                return Err(if e.status == StatusCode::UNAUTHORIZED {
                    unauthorized(&format!("token: {}", e.message))
                } else {
                    e
                });
            }
        },
    };
    let cookies = auth
        .open_session(&caller.user_id, caller.scope, secure)
        .await?;
    audit_sign_in(
        &state,
        true,
        caller.actor("token"),
        Some(caller.user_id.clone()),
        caller.token_id.clone(),
        "signed in with a token",
    )
    .await?;
    Ok(signed_in(
        SessionView {
            user_id: caller.user_id,
            name: caller.user_name,
            role: caller.role,
            scope: caller.scope,
        },
        cookies,
    ))
}

/// The password half of [`sign_in`].
async fn sign_in_with_password(
    state: &super::AppState,
    name: &str,
    password: String,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let auth = &state.auth;
    let actor = format!("{} (password)", typed_name(name));
    if let Err(e) = auth.failures.check(name) {
        audit_sign_in(
            state,
            false,
            actor,
            None,
            None,
            "too many failed sign-ins with this name",
        )
        .await?;
        return Err(e);
    }
    let user = state
        .store
        .get_user_by_name(name)
        .await
        .map_err(|e| super::error::store_error("cannot read the user", &e))?;
    let hash = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| dummy_hash().to_string());
    let right = super::credentials::verify_off_thread(password, hash).await;
    let user_id = user.as_ref().map(|u| u.id.clone());
    let Some(user) = user.filter(|u| right && u.password_hash.is_some()) else {
        auth.failures.fail(name);
        let reason = if user_id.is_some() {
            "wrong password (or no password)"
        } else {
            "no such user"
        };
        audit_sign_in(state, false, actor, user_id, None, reason).await?;
        return Err(unauthorized("name or password: not valid"));
    };
    if user.disabled {
        audit_sign_in(
            state,
            false,
            actor,
            Some(user.id.clone()),
            None,
            "the account is disabled",
        )
        .await?;
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this account is disabled: ask an admin",
        ));
    }
    auth.failures.clear(name);
    let cookies = auth.open_user_session_cookies(&user, Some(headers)).await?;
    if let Err(e) = state.store.touch_sign_in(&user.id, Utc::now()).await {
        tracing::warn!(user = %user.id, error = %e, "could not record a sign-in's time");
    }
    audit_sign_in(
        state,
        true,
        format!("{} (password)", user.name),
        Some(user.id.clone()),
        None,
        "signed in with a password",
    )
    .await?;
    let scope = if user.role == Role::Admin {
        Scope::Admin
    } else {
        Scope::Write
    };
    Ok(signed_in(
        SessionView {
            user_id: user.id,
            name: user.name,
            role: user.role,
            scope,
        },
        cookies,
    ))
}

/// Signs out: forgets the session and clears its cookies.
#[utoipa::path(delete, path = "/api/session", tag = "meta", operation_id = "delete_session",
    responses((status = 204, description = "Signed out"), (status = 401, body = super::error::ErrorBody),
        (status = 403, body = super::error::ErrorBody)))]
pub async fn sign_out(
    State(state): State<super::AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(hash) = &caller.session {
        state
            .auth
            .sessions
            .delete(hash)
            .await
            .map_err(|e| super::error::store_error("cannot remove the session", &e))?;
    }
    let secure = state.auth.secure(Some(&headers));
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .append(header::SET_COOKIE, state.auth.cookie_header("", 0, secure));
    resp.headers_mut().append(
        header::SET_COOKIE,
        state.auth.csrf_cookie_header("", 0, secure),
    );
    Ok(resp)
}

/// `GET /login?code=…`: the one-time link `paddock serve` prints (when
/// there are no team users). A valid code sets an admin session cookie;
/// either way the browser goes on to the dashboard (`/?login=failed` when
/// the code was used or is wrong, where the dashboard offers to sign in).
pub async fn login_link(
    State(state): State<super::AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let auth = &state.auth;
    auth.check_host(&headers)?;
    let code = query_param(uri.query(), "code").unwrap_or_default();
    let see_other = |to: &'static str| {
        let mut r = StatusCode::SEE_OTHER.into_response();
        r.headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static(to));
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    };
    if code.is_empty() || !auth.take_login_code(&code) {
        return Ok(see_other("/?login=failed"));
    }
    let cookies = auth
        .open_session(LOCAL_USER, Scope::Admin, auth.secure(Some(&headers)))
        .await?;
    audit_sign_in(
        &state,
        true,
        Caller::local(Scope::Admin, Via::Session).actor("login link"),
        Some(LOCAL_USER.to_string()),
        None,
        "signed in with the one-time login link",
    )
    .await?;
    let mut resp = see_other("/");
    for c in cookies {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
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

    fn auth() -> Auth {
        Auth::new("user-t".into(), "admin-t".into(), true)
    }

    #[tokio::test]
    async fn tokens_roles_and_where_they_are_taken() {
        let a = auth();
        let role = |h: &HeaderMap, q: Option<&str>, ws: bool| {
            let a = &a;
            let h = h.clone();
            let q = q.map(str::to_string);
            async move {
                a.identify(&h, q.as_deref(), ws)
                    .await
                    .map(|c| (c.user_id, c.role, c.scope))
            }
        };
        let user = (LOCAL_USER.to_string(), Role::Admin, Scope::Write);
        let admin_scope = (LOCAL_USER.to_string(), Role::Admin, Scope::Admin);
        assert!(role(&HeaderMap::new(), None, false).await.is_err());
        let bad = headers(&[("authorization", "Bearer nope")]);
        assert_eq!(role(&bad, None, false).await.unwrap_err().status, 401);
        let user_h = headers(&[("authorization", "Bearer user-t")]);
        assert_eq!(role(&user_h, None, false).await.unwrap(), user);
        let admin = headers(&[("authorization", "bearer admin-t")]);
        assert_eq!(role(&admin, None, false).await.unwrap(), admin_scope);
        // `?token=` only where the caller allows it (the WebSocket upgrade).
        assert!(
            role(&HeaderMap::new(), Some("a=1&token=user-t"), false)
                .await
                .is_err()
        );
        assert_eq!(
            role(&HeaderMap::new(), Some("a=1&token=user-t"), true)
                .await
                .unwrap(),
            user
        );
    }

    #[tokio::test]
    async fn unsafe_no_auth_lets_nobody_in_but_a_wrong_token_is_still_wrong() {
        let mut a = auth();
        a.no_auth = true;
        let c = a.identify(&HeaderMap::new(), None, false).await.unwrap();
        assert_eq!((c.via, c.scope), (Via::Nothing, Scope::Write));
        assert_eq!(c.actor("REST"), "unauthenticated local user (REST)");
        let bad = headers(&[("authorization", "Bearer nope")]);
        assert!(a.identify(&bad, None, false).await.is_err());
    }

    #[tokio::test]
    async fn sessions_by_cookie_and_the_one_time_code() {
        let a = auth();
        let secret = a.sessions.create(LOCAL_USER, Scope::Admin).await.unwrap();
        let cookie = format!("other=1; {}={secret}; x=y", a.cookie);
        let h = headers(&[("cookie", &cookie)]);
        let c = a.identify(&h, None, false).await.unwrap();
        assert_eq!((c.role, c.scope), (Role::Admin, Scope::Admin));
        assert!(c.session.is_some());
        assert_eq!(c.actor("REST"), "admin (REST)");
        let wrong = headers(&[("cookie", &format!("{}=abc", a.cookie))]);
        assert!(a.identify(&wrong, None, false).await.is_err());
        // Another port's cookie is not ours.
        let other = headers(&[("cookie", &format!("paddock_session_9={secret}"))]);
        assert!(a.identify(&other, None, false).await.is_err());

        let code = a.new_login_code();
        assert!(!a.take_login_code("nope"));
        assert!(a.take_login_code(&code));
        assert!(!a.take_login_code(&code), "the login code works once");
    }

    /// Sessions stored before there were users still open, as the local
    /// account with the scope their role had.
    #[test]
    fn sessions_from_before_users_are_the_local_accounts() {
        let old: Session = serde_json::from_value(
            serde_json::json!({"role": "user", "expires_at": "2030-01-01T00:00:00Z"}),
        )
        .unwrap();
        assert_eq!((old.user_id(), old.scope()), (LOCAL_USER, Scope::Write));
        let old: Session = serde_json::from_value(
            serde_json::json!({"role": "admin", "expires_at": "2030-01-01T00:00:00Z"}),
        )
        .unwrap();
        assert_eq!(old.scope(), Scope::Admin);
        let new = serde_json::to_value(Session {
            user_id: Some("u1".into()),
            scope: Some(Scope::Read),
            legacy_role: None,
            expires_at: Utc::now(),
        })
        .unwrap();
        assert!(new.get("role").is_none(), "{new}");
    }

    fn pair(v: &HeaderValue) -> String {
        v.to_str().unwrap().split(';').next().unwrap().to_string()
    }

    #[tokio::test]
    async fn a_change_with_the_session_cookie_needs_its_csrf_token() {
        let a = auth();
        let [session, csrf] = a
            .open_session(LOCAL_USER, Scope::Admin, false)
            .await
            .unwrap();
        assert!(session.to_str().unwrap().contains("HttpOnly"));
        assert!(
            !csrf.to_str().unwrap().contains("HttpOnly"),
            "the page reads it"
        );
        assert!(csrf.to_str().unwrap().contains("SameSite=Strict"));
        let session = pair(&session);
        let csrf_pair = pair(&csrf);
        let token = csrf_pair.split_once('=').unwrap().1.to_string();
        assert!(!session.contains(&token), "not the session's secret");
        let h = headers(&[("cookie", &session)]);
        let caller = a.identify(&h, None, false).await.unwrap();
        assert!(
            a.check_csrf(&Method::GET, &h, &caller).is_ok(),
            "reads need none"
        );
        let e = a.check_csrf(&Method::POST, &h, &caller).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (403, "csrf_failed"));
        let wrong = headers(&[("cookie", &session), ("x-paddock-csrf", "abc")]);
        assert!(a.check_csrf(&Method::DELETE, &wrong, &caller).is_err());
        let right = headers(&[("cookie", &session), ("x-paddock-csrf", &token)]);
        assert!(a.check_csrf(&Method::DELETE, &right, &caller).is_ok());
        // Another session's token is not this one's.
        let [other, other_csrf] = a
            .open_session(LOCAL_USER, Scope::Admin, false)
            .await
            .unwrap();
        let other_token = pair(&other_csrf).split_once('=').unwrap().1.to_string();
        let mixed = headers(&[("cookie", &session), ("x-paddock-csrf", &other_token)]);
        assert!(a.check_csrf(&Method::POST, &mixed, &caller).is_err());
        assert_eq!(
            a.csrf_cookie_for(&other).map(|v| pair(&v)),
            Some(pair(&other_csrf))
        );
        // Bearer tokens need none.
        let bearer = headers(&[("authorization", "Bearer admin-t"), ("cookie", &session)]);
        let c = a.identify(&bearer, None, false).await.unwrap();
        assert!(a.check_csrf(&Method::POST, &bearer, &c).is_ok());
        // A browser without the CSRF cookie gets it with the next answer;
        // one with it, nothing.
        assert_eq!(
            a.csrf_refresh(&h, &caller).map(|v| pair(&v)),
            Some(csrf_pair.clone())
        );
        let both = headers(&[("cookie", &format!("{session}; {csrf_pair}"))]);
        assert!(a.csrf_refresh(&both, &caller).is_none());
        assert!(a.csrf_refresh(&bearer, &c).is_none());
    }

    #[test]
    fn cookies_are_secure_behind_https_and_a_trusted_proxy() {
        use paddock_core::config::ServerConfig;
        let mut a = auth();
        let proxied = headers(&[("x-forwarded-proto", "https")]);
        assert!(!a.secure(None));
        assert!(
            !a.secure(Some(&proxied)),
            "the header is not trusted by default"
        );
        a.configure(&ServerConfig {
            trust_proxy: true,
            ..ServerConfig::default()
        });
        assert!(a.secure(Some(&proxied)));
        assert!(!a.secure(Some(&headers(&[("x-forwarded-proto", "http")]))));
        assert!(!a.secure(None));
        a.configure(&ServerConfig {
            public_url: Some("https://paddock.example".into()),
            ..ServerConfig::default()
        });
        assert!(a.secure(None));
        assert!(
            a.cookie_header("x", 1, true)
                .to_str()
                .unwrap()
                .ends_with("; Secure")
        );
        assert!(
            a.csrf_cookie_header("x", 1, true)
                .to_str()
                .unwrap()
                .ends_with("; Secure")
        );
        assert!(
            !a.cookie_header("x", 1, false)
                .to_str()
                .unwrap()
                .contains("Secure")
        );
    }

    #[test]
    fn each_credential_is_limited_apart() {
        let mut a = auth();
        a.configure(&paddock_core::config::ServerConfig {
            rate_limit_per_minute: 2,
            ..paddock_core::config::ServerConfig::default()
        });
        let admin = Caller::local(Scope::Admin, Via::ServiceToken);
        let user = Caller::local(Scope::Write, Via::ServiceToken);
        let key = |c: &Caller| Auth::limit_key(c).unwrap().to_string();
        assert_ne!(key(&admin), key(&user));
        assert!(a.limiter.take(&key(&admin)).is_ok());
        assert!(a.limiter.take(&key(&admin)).is_ok());
        let e = a.limiter.take(&key(&admin)).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (429, "rate_limited"));
        assert!(a.limiter.take(&key(&user)).is_ok());
        assert!(Auth::limit_key(&Caller::local(Scope::Write, Via::Nothing)).is_none());
    }

    #[test]
    fn a_sign_in_is_a_token_or_a_name_and_password_and_says_which_field_is_wrong() {
        let parse = |v: serde_json::Value| SignIn::try_from(v);
        assert!(
            matches!(parse(serde_json::json!({"token": "t"})), Ok(SignIn::Token(t)) if t.token == "t")
        );
        assert!(matches!(
            parse(serde_json::json!({"name": "a", "password": "p"})),
            Ok(SignIn::Password(p)) if p.name == "a" && p.password == "p"
        ));
        let both = parse(serde_json::json!({"token": "t", "name": "a"}))
            .err()
            .unwrap();
        assert!(both.contains("name"), "{both}");
        let none = parse(serde_json::json!({})).err().unwrap();
        assert!(none.contains("name"), "{none}");
        let half = parse(serde_json::json!({"name": "a"})).err().unwrap();
        assert!(half.contains("password"), "{half}");
        let typed = parse(serde_json::json!({"name": 3, "password": "p"}))
            .err()
            .unwrap();
        assert!(typed.starts_with("name:"), "{typed}");
        // The document says the same: one of two closed objects.
        let doc: serde_json::Value = serde_json::from_str(&crate::openapi_json()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let one_of = schemas["SignIn"]["oneOf"].as_array().unwrap();
        assert_eq!(one_of.len(), 2, "{}", schemas["SignIn"]);
        for (name, required) in [
            ("TokenSignIn", vec!["token"]),
            ("PasswordSignIn", vec!["name", "password"]),
        ] {
            assert_eq!(schemas[name]["additionalProperties"], false, "{name}");
            assert_eq!(
                schemas[name]["required"],
                serde_json::json!(required),
                "{name}"
            );
        }
    }

    #[test]
    fn cross_site_requests_are_refused() {
        let a = auth();
        let post = Method::POST;
        let host = ("host", "127.0.0.1:7700");
        // Reads are never blocked here.
        assert!(
            a.check_not_cross_site(
                &Method::GET,
                &headers(&[host, ("origin", "http://evil.example")])
            )
            .is_ok()
        );
        // A form from another site: refused for its origin, its
        // Sec-Fetch-Site, and its content type.
        for h in [
            headers(&[
                host,
                ("origin", "http://evil.example"),
                ("content-type", "application/json"),
            ]),
            headers(&[
                host,
                ("origin", "http://127.0.0.1:8000"),
                ("content-type", "application/json"),
            ]),
            headers(&[host, ("origin", "null"), ("x-paddock-request", "1")]),
            headers(&[
                host,
                ("sec-fetch-site", "cross-site"),
                ("content-type", "application/json"),
            ]),
            headers(&[
                host,
                ("sec-fetch-site", "same-site"),
                ("x-paddock-request", "1"),
            ]),
            headers(&[host, ("content-type", "text/plain")]),
            headers(&[host, ("content-type", "multipart/form-data; boundary=x")]),
            headers(&[host]),
        ] {
            let e = a.check_not_cross_site(&post, &h).unwrap_err();
            assert_eq!(e.status, 403, "{h:?}");
            assert_eq!(e.code, "cross_site_request");
        }
        // The dashboard's own requests and non-browser clients pass.
        for h in [
            headers(&[
                host,
                ("origin", "http://127.0.0.1:7700"),
                ("content-type", "application/json; charset=utf-8"),
            ]),
            headers(&[
                host,
                ("sec-fetch-site", "same-origin"),
                ("x-paddock-request", "1"),
            ]),
            headers(&[host, ("authorization", "Bearer x")]),
            headers(&[host, ("content-type", "application/merge-patch+json")]),
        ] {
            assert!(a.check_not_cross_site(&post, &h).is_ok(), "{h:?}");
        }
    }

    #[test]
    fn loopback_host_names_only() {
        let a = auth();
        for ok in ["127.0.0.1:7700", "localhost:7700", "[::1]:7700"] {
            assert!(a.check_host(&headers(&[("host", ok)])).is_ok(), "{ok}");
        }
        assert!(
            a.check_host(&headers(&[("host", "evil.example:7700")]))
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
