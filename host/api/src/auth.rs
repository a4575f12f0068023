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

use super::error::ApiError;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use paddock_store::{DocKind, Store, StoreError, TokenRecord, UserRecord};
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
        auth.sessions.store = Some(options.store);
        if auth.no_auth {
            notices.push(TokenNotice(
                "WARNING: --unsafe-no-auth: any local process (an agent's sandbox with network, \
                 another user, a web page in your browser) can use this API without a token"
                    .into(),
            ));
        }
        let code = auth.new_login_code();
        let host = match options.bound.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        notices.push(TokenNotice(format!(
            "open the dashboard (this link signs you in once): http://{host}:{}/login?code={code}",
            options.bound.port()
        )));
        Ok((auth, notices))
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
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|kv| {
                let (k, v) = kv.trim().split_once('=')?;
                (k == self.cookie).then_some(v)
            })
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
        Ok(caller)
    }

    /// A `Set-Cookie` value for the session cookie (`value` empty and
    /// `max_age` 0 clear it).
    fn cookie_header(&self, value: &str, max_age: i64) -> HeaderValue {
        HeaderValue::from_str(&format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}",
            self.cookie
        ))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// Opens a session for `role`: the `Set-Cookie` value that hands it to
    /// the browser.
    async fn open_session(&self, user_id: &str, scope: Scope) -> Result<HeaderValue, ApiError> {
        let secret = self
            .sessions
            .create(user_id, scope)
            .await
            .map_err(|e| super::error::store_error("cannot store the session", &e))?;
        Ok(self.cookie_header(&secret, SESSION_DAYS * 24 * 3600))
    }

    /// Opens a dashboard session for a user who just signed in (with a
    /// password or single sign-on): the `Set-Cookie` value. Its scope is
    /// what the user's role allows (`admin` for an admin, else `write`).
    pub async fn open_user_session(&self, user: &UserRecord) -> Result<HeaderValue, ApiError> {
        let scope = if user.role == Role::Admin {
            Scope::Admin
        } else {
            Scope::Write
        };
        self.forget_user(&user.id);
        self.open_session(&user.id, scope).await
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

/// The first value of the query parameter `name`, percent-decoded.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
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
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}

/// `POST /api/session`: a token to sign in with.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The user token or the admin token.
    pub token: String,
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

/// Signs the browser in with a token: sets the session cookie (HttpOnly,
/// SameSite=Strict) for the token's role.
#[utoipa::path(post, path = "/api/session", tag = "meta", operation_id = "create_session",
    security(()),
    request_body = SignIn,
    responses((status = 201, body = SessionView, description = "Signed in; the session cookie is set"),
        (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody),
        (status = 403, body = super::error::ErrorBody), (status = 503, body = super::error::ErrorBody)))]
pub async fn sign_in(
    State(state): State<super::AppState>,
    headers: HeaderMap,
    method: Method,
    super::error::ApiJson(body): super::error::ApiJson<SignIn>,
) -> Result<Response, ApiError> {
    let auth = &state.auth;
    auth.check_host(&headers)?;
    auth.check_not_cross_site(&method, &headers)?;
    let token = body.token.trim();
    let caller = match auth.service_scope(token) {
        Some(scope) => Caller::local(scope, Via::ServiceToken),
        None => auth
            .token_caller(token)
            .await
            .map_err(|e| unauthorized(&format!("token: {}", e.message)))?,
    };
    let cookie = auth.open_session(&caller.user_id, caller.scope).await?;
    let view = SessionView {
        user_id: caller.user_id,
        name: caller.user_name,
        role: caller.role,
        scope: caller.scope,
    };
    let mut resp = (StatusCode::CREATED, axum::Json(view)).into_response();
    resp.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(resp)
}

/// Signs out: forgets the session and clears its cookie.
#[utoipa::path(delete, path = "/api/session", tag = "meta", operation_id = "delete_session",
    responses((status = 204, description = "Signed out"), (status = 401, body = super::error::ErrorBody),
        (status = 403, body = super::error::ErrorBody)))]
pub async fn sign_out(
    State(state): State<super::AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    if let Some(hash) = &caller.session {
        state
            .auth
            .sessions
            .delete(hash)
            .await
            .map_err(|e| super::error::store_error("cannot remove the session", &e))?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, state.auth.cookie_header("", 0));
    Ok(resp)
}

/// `GET /login?code=…`: the one-time link `paddock serve` prints. A valid
/// code sets an admin session cookie; either way the browser goes on to the
/// dashboard (`/?login=failed` when the code was used or is wrong, where
/// the dashboard offers to sign in with a token).
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
    let cookie = auth.open_session(LOCAL_USER, Scope::Admin).await?;
    let mut resp = see_other("/");
    resp.headers_mut().insert(header::SET_COOKIE, cookie);
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
