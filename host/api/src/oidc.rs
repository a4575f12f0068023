//! OpenID Connect single sign-on (`[[auth.oidc]]` in `paddock.toml`): the
//! public routes that sign a browser in with a provider, and the list of
//! sign-in methods the sign-in page shows.
//!
//! - `GET /api/auth/methods`: how one may sign in here (password, token,
//!   each provider's "Sign in with …" link, and its `logout_url` when the
//!   provider has an `end_session_endpoint`).
//! - `GET /auth/oidc/{name}/login?return_to=/path`: the authorization code
//!   flow with PKCE (S256), a `state` (single use, [`STATE_TTL`]) and a
//!   `nonce`, kept on this server and bound to the browser by a cookie
//!   (HttpOnly, SameSite=Lax: it must come back on the provider's
//!   cross-site redirect); 302 to the provider.
//! - `GET /auth/oidc/{name}/callback`: takes the state (a replay finds
//!   none), exchanges the code (`client_secret_basic`, or `_post` when the
//!   provider lists only that), verifies the ID token ([`verify`]), maps
//!   the role claim to a role, finds the user by (issuer, subject) or
//!   creates it (`allow_signup`), updates its role, opens a dashboard
//!   session and 303s to `return_to` (a same-origin path). Every failure
//!   303s to `/?login=failed&reason=CODE` and is audited (`sign_in`,
//!   `failed`, actor `sso NAME`); a success is audited with the user.
//!
//! Signing out is `DELETE /api/session`; it ends the Paddock session only.
//! To end the provider's too, the dashboard sends the browser to the
//! provider's `logout_url` afterwards.
//!
//! Pending sign-ins live in this process's memory: a sign-in started on one
//! host of a cluster must come back to it (or the `state` is unknown).
//! Tokens and codes are never logged, stored or audited.

pub mod verify;

use crate::AppState;
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use paddock_core::auth::{DefaultRole, OidcProviderConfig};
use paddock_protocol::identity::Role;
use paddock_store::{NewAudit, NewUser, StoreError, UserPatch, UserRecord};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use verify::{Failure, KeyCache, Metadata, Reason, fail};

/// How long a sign-in may take at the provider before its `state` expires.
pub const STATE_TTL: Duration = Duration::from_secs(600);

/// The most sign-ins pending at once (the login route is public).
const MAX_PENDING: usize = 10_000;

/// How long a request to a provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest `return_to` kept.
const MAX_RETURN_TO: usize = 2048;

/// A provider with what was learnt of it.
struct Provider {
    config: OidcProviderConfig,
    metadata: tokio::sync::Mutex<Option<(Instant, Arc<Metadata>)>>,
    /// The metadata as last fetched, for the sign-in page (never waits).
    known: Mutex<Option<Arc<Metadata>>>,
    keys: tokio::sync::Mutex<KeyCache>,
}

/// A sign-in between the login route and the callback.
struct Pending {
    provider: String,
    verifier: String,
    nonce: String,
    return_to: String,
    redirect_uri: String,
    /// SHA-256 of the browser's binding cookie.
    browser: String,
    expires: Instant,
}

/// Single sign-on: the configured providers and the sign-ins under way.
pub struct Sso {
    providers: Vec<Arc<Provider>>,
    public_url: Option<String>,
    http: reqwest::Client,
    pending: Mutex<HashMap<String, Pending>>,
    /// The name of the cookie that binds a sign-in to its browser (per
    /// process: pending sign-ins do not outlive it).
    cookie: String,
}

impl std::fmt::Debug for Sso {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sso")
            .field(
                "providers",
                &self
                    .providers
                    .iter()
                    .map(|p| p.config.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

fn random_b64(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

fn sha256_b64(text: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes()))
}

impl Sso {
    /// Single sign-on with these providers; `public_url` is `[server]
    /// public_url`.
    pub fn new(providers: &[OidcProviderConfig], public_url: Option<String>) -> Sso {
        let http = reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Sso {
            providers: providers
                .iter()
                .map(|c| {
                    Arc::new(Provider {
                        config: c.clone(),
                        metadata: tokio::sync::Mutex::new(None),
                        known: Mutex::new(None),
                        keys: tokio::sync::Mutex::new(KeyCache::default()),
                    })
                })
                .collect(),
            public_url: public_url.map(|u| u.trim_end_matches('/').to_string()),
            http,
            pending: Mutex::new(HashMap::new()),
            cookie: format!("paddock_oidc_{}", &random_b64(6)),
        }
    }

    fn provider(&self, name: &str) -> Option<&Arc<Provider>> {
        self.providers.iter().find(|p| p.config.name == name)
    }

    /// The provider's discovery document, fetched when not known or stale.
    async fn metadata(&self, p: &Provider) -> Result<Arc<Metadata>, Failure> {
        let mut cached = p.metadata.lock().await;
        if let Some((at, m)) = cached.as_ref()
            && at.elapsed() < verify::CACHE_FOR
        {
            return Ok(m.clone());
        }
        let m = Arc::new(verify::discover(&self.http, &p.config.issuer).await?);
        *cached = Some((Instant::now(), m.clone()));
        if let Ok(mut known) = p.known.lock() {
            *known = Some(m.clone());
        }
        Ok(m)
    }

    /// Where this server is reached, for the redirect URI: `[server]
    /// public_url`, else the request's `Host` when it is a loopback name.
    fn base_url(&self, headers: &HeaderMap) -> Result<String, Failure> {
        if let Some(u) = &self.public_url {
            return Ok(u.clone());
        }
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if crate::auth::is_loopback_authority(host) {
            return Ok(format!("http://{host}"));
        }
        Err(fail(
            Reason::Configuration,
            format!(
                "cannot tell this server's URL for the redirect URI from the host `{host}`: \
                 set `[server] public_url` in paddock.toml"
            ),
        ))
    }

    fn binding_cookie<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        super::auth::cookie_value(headers, &self.cookie).filter(|v| !v.is_empty() && v.len() <= 64)
    }

    /// Keeps a pending sign-in (dropping expired ones); false when too
    /// many are pending.
    fn remember(&self, state: String, p: Pending) -> bool {
        let Ok(mut pending) = self.pending.lock() else {
            return false;
        };
        let now = Instant::now();
        if pending.len() >= MAX_PENDING / 2 {
            pending.retain(|_, v| v.expires > now);
        }
        if pending.len() >= MAX_PENDING {
            return false;
        }
        pending.insert(state, p);
        true
    }

    /// Takes the pending sign-in of `state` (once).
    fn take(&self, state: &str) -> Option<Pending> {
        self.pending
            .lock()
            .ok()?
            .remove(state)
            .filter(|p| p.expires > Instant::now())
    }

    /// The provider's keys, fetched when missing or stale, or (rate
    /// limited) when `kid` is not among them.
    async fn key_for(
        &self,
        p: &Provider,
        m: &Metadata,
        kid: Option<&str>,
        alg: jsonwebtoken::Algorithm,
    ) -> Result<jsonwebtoken::jwk::Jwk, Failure> {
        let mut cache = p.keys.lock().await;
        if cache.stale() {
            cache.set = Some(verify::fetch_jwks(&self.http, &m.jwks_uri).await?);
            cache.fetched_at = Some(Instant::now());
        }
        let found = cache
            .set
            .as_ref()
            .and_then(|s| verify::find_key(s, kid, alg))
            .cloned();
        if let Some(k) = found {
            return Ok(k);
        }
        if !cache.may_force() {
            return Err(fail(
                Reason::Signature,
                format!(
                    "no key `{}` among the provider's keys (fetched again at most every {} s)",
                    kid.unwrap_or("(none)"),
                    verify::FORCED_REFETCH_EVERY.as_secs()
                ),
            ));
        }
        // Perhaps the provider rotated its keys.
        cache.forced_at = Some(Instant::now());
        cache.set = Some(verify::fetch_jwks(&self.http, &m.jwks_uri).await?);
        cache.fetched_at = Some(Instant::now());
        tracing::info!(provider = %p.config.name, kid = kid.unwrap_or(""), "single sign-on: fetched the provider's keys again for an unknown key id");
        cache
            .set
            .as_ref()
            .and_then(|s| verify::find_key(s, kid, alg))
            .cloned()
            .ok_or_else(|| {
                fail(
                    Reason::Signature,
                    format!(
                        "no key `{}` among the provider's keys",
                        kid.unwrap_or("(none)")
                    ),
                )
            })
    }

    /// Exchanges the code for the ID token.
    async fn exchange(
        &self,
        p: &Provider,
        m: &Metadata,
        code: &str,
        pending: &Pending,
    ) -> Result<String, Failure> {
        let c = &p.config;
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", pending.redirect_uri.as_str()),
            ("code_verifier", pending.verifier.as_str()),
        ];
        let secret = c.secret();
        let methods = m.token_endpoint_auth_methods_supported.as_deref();
        let lists = |name: &str| methods.is_some_and(|ms| ms.iter().any(|x| x == name));
        // Basic is the default when the provider lists nothing.
        let basic = secret.is_some() && (methods.is_none() || lists("client_secret_basic"));
        if !basic {
            form.push(("client_id", c.client_id.as_str()));
            if let Some(s) = &secret {
                if !lists("client_secret_post") {
                    return Err(fail(
                        Reason::TokenExchange,
                        "the provider takes neither client_secret_basic nor client_secret_post",
                    ));
                }
                form.push(("client_secret", s.as_str()));
            }
        }
        let body = serde_urlencoded::to_string(&form)
            .map_err(|e| fail(Reason::Internal, format!("the token request: {e}")))?;
        let mut req = self
            .http
            .post(&m.token_endpoint)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body);
        if basic && let Some(s) = &secret {
            // RFC 6749 §2.3.1: each part form-encoded, then Basic.
            let enc = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", enc(&c.client_id), enc(s));
            let value = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            );
            req = req.header(reqwest::header::AUTHORIZATION, value);
        }
        let resp = req.send().await.map_err(|e| {
            fail(
                Reason::TokenExchange,
                format!("POST {}: {e}", m.token_endpoint),
            )
        })?;
        let status = resp.status();
        #[derive(Deserialize)]
        struct TokenResponse {
            #[serde(default)]
            id_token: Option<String>,
            #[serde(default)]
            error: Option<String>,
        }
        let body: TokenResponse = resp.json().await.map_err(|e| {
            fail(
                Reason::TokenExchange,
                format!("the token response (HTTP {status}): {e}"),
            )
        })?;
        if !status.is_success() {
            return Err(fail(
                Reason::TokenExchange,
                format!(
                    "the token endpoint answered HTTP {status} `{}`",
                    body.error.unwrap_or_default()
                ),
            ));
        }
        body.id_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| fail(Reason::TokenExchange, "the token response has no id_token"))
    }

    /// Verifies the ID token of a sign-in.
    async fn verify(
        &self,
        p: &Provider,
        m: &Metadata,
        token: &str,
        nonce: &str,
    ) -> Result<verify::Claims, Failure> {
        let expected = verify::Expected {
            issuer: &p.config.issuer,
            client_id: &p.config.client_id,
            nonce,
            skew: p.config.clock_skew_secs,
            provider_algs: m.id_token_signing_alg_values_supported.as_deref(),
            now: chrono::Utc::now().timestamp(),
        };
        let (kid, alg) = verify::header(token, &expected)?;
        let key = self.key_for(p, m, kid.as_deref(), alg).await?;
        verify::verify(token, &key, alg, &expected)
    }
}

/// The role the claims give, per the provider's mapping (None: refused).
pub fn role_from_claims(config: &OidcProviderConfig, values: &[String]) -> Option<Role> {
    let any = |list: &[String]| values.iter().any(|v| list.contains(v));
    if any(&config.admin_values) {
        Some(Role::Admin)
    } else if any(&config.member_values) {
        Some(Role::Member)
    } else if any(&config.viewer_values) {
        Some(Role::Viewer)
    } else {
        match config.default_role {
            DefaultRole::Member => Some(Role::Member),
            DefaultRole::Viewer => Some(Role::Viewer),
            DefaultRole::None => None,
        }
    }
}

/// A plain user name from a claim (`Alice Smith@corp` → `Alice-Smith`).
pub fn plain_name(claim: &str) -> String {
    let local = claim.split('@').next().unwrap_or(claim);
    let mut out = String::new();
    for ch in local.chars() {
        let ch = if ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-') {
            ch
        } else {
            '-'
        };
        if !(ch == '-' && out.ends_with('-')) {
            out.push(ch);
        }
    }
    let out = out.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let out: String = out.chars().take(48).collect();
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() { "user".into() } else { out }
}

/// `return_to` if it is a same-origin path (`/…`, not `//…` nor `/\…`),
/// else `/`.
pub fn safe_return_to(return_to: Option<&str>) -> String {
    match return_to {
        Some(r)
            if r.starts_with('/')
                && !r.starts_with("//")
                && !r.starts_with("/\\")
                && r.len() <= MAX_RETURN_TO
                && !r.chars().any(|c| c.is_control() || c == '\\') =>
        {
            r.to_string()
        }
        _ => "/".into(),
    }
}

/// How one may sign in.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuthMethods {
    /// Local accounts sign in with a name and a password
    /// (`POST /api/session`).
    pub password: bool,
    /// A token (personal access token or the API token) signs in too
    /// (`POST /api/session`).
    pub token: bool,
    /// Single sign-on providers, in the configuration's order.
    pub sso: Vec<SsoProvider>,
}

/// A single sign-on provider, for the sign-in page.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SsoProvider {
    /// Its name.
    pub name: String,
    /// "Sign in with <display_name>".
    pub display_name: String,
    /// Where the browser goes to sign in (add `?return_to=/path`).
    pub login_url: String,
    /// Where to send the browser after signing out to end its session at
    /// the provider too (its `end_session_endpoint`), once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logout_url: Option<String>,
}

/// The ways to sign in here (no credentials needed).
#[utoipa::path(get, path = "/api/auth/methods", tag = "meta", operation_id = "auth_methods",
    security(()),
    responses((status = 200, body = AuthMethods)))]
pub async fn methods(State(state): State<AppState>) -> Json<AuthMethods> {
    let sso = &state.sso;
    let mut out = Vec::new();
    for p in &sso.providers {
        let known = p.known.lock().ok().and_then(|k| k.clone());
        if known.is_none() {
            // Learn it in the background: the page never waits on a provider.
            let sso = state.sso.clone();
            let p = p.clone();
            tokio::spawn(async move {
                if let Err(e) = sso.metadata(&p).await {
                    tracing::warn!(provider = %p.config.name, error = %e, "single sign-on: the provider's discovery failed");
                }
            });
        }
        let logout_url = known.and_then(|m| m.end_session_endpoint.clone()).map(|e| {
            let sep = if e.contains('?') { '&' } else { '?' };
            let id: String =
                form_urlencoded::byte_serialize(p.config.client_id.as_bytes()).collect();
            format!("{e}{sep}client_id={id}")
        });
        out.push(SsoProvider {
            name: p.config.name.clone(),
            display_name: p.config.shown_name().to_string(),
            login_url: format!("/auth/oidc/{}/login", p.config.name),
            logout_url,
        });
    }
    Json(AuthMethods {
        password: true,
        token: true,
        sso: out,
    })
}

/// `?return_to=`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoginQuery {
    /// Where to go once signed in: a path of this server (default `/`).
    pub return_to: Option<String>,
}

fn redirect(status: StatusCode, to: &str) -> Response {
    let mut r = status.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn failed_redirect(reason: Reason) -> Response {
    redirect(
        StatusCode::SEE_OTHER,
        &format!("/?login=failed&reason={}", reason.as_str()),
    )
}

/// Records a failed sign-in (audit and log) and sends the browser to the
/// sign-in page with the reason.
async fn refuse(state: &AppState, provider: &str, f: &Failure) -> Response {
    tracing::warn!(provider, reason = f.reason.as_str(), detail = %f.detail, "single sign-on refused");
    let entry = NewAudit {
        kind: "sign_in".into(),
        action: "failed".into(),
        actor: format!("sso {provider}"),
        reason: format!("{}: {}", f.reason.as_str(), f.detail),
        detail: serde_json::json!({"method": "sso", "provider": provider, "reason": f.reason.as_str()}),
        ..Default::default()
    };
    if let Err(e) = state.store.audit(&entry).await {
        tracing::warn!(error = %e, "could not audit a failed sign-in");
    }
    failed_redirect(f.reason)
}

fn unknown_provider(name: &str) -> ApiError {
    ApiError::not_found(format!("no single sign-on provider `{name}`"))
}

/// Starts signing in with a provider: 302 to its authorization endpoint.
#[utoipa::path(get, path = "/auth/oidc/{name}/login", tag = "meta", operation_id = "sso_login",
    security(()),
    params(("name" = String, Path, description = "The provider's name"), LoginQuery),
    responses(
        (status = 302, description = "To the provider's sign-in page"),
        (status = 303, description = "Sign-in not possible: to `/?login=failed&reason=CODE`"),
        (status = 404, body = super::error::ErrorBody, description = "No such provider")))]
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    super::error::ApiPath(name): super::error::ApiPath<String>,
    super::error::ApiQuery(q): super::error::ApiQuery<LoginQuery>,
) -> Result<Response, ApiError> {
    state.auth.check_host(&headers)?;
    let sso = &state.sso;
    let Some(p) = sso.provider(&name).cloned() else {
        return Err(unknown_provider(&name));
    };
    let base = match sso.base_url(&headers) {
        Ok(b) => b,
        Err(f) => return Ok(refuse(&state, &name, &f).await),
    };
    let m = match sso.metadata(&p).await {
        Ok(m) => m,
        Err(f) => return Ok(refuse(&state, &name, &f).await),
    };
    let state_value = random_b64(32);
    let nonce = random_b64(32);
    let verifier = random_b64(32);
    let binding = sso
        .binding_cookie(&headers)
        .map(str::to_string)
        .unwrap_or_else(|| random_b64(32));
    let redirect_uri = format!("{base}/auth/oidc/{name}/callback");
    let pending = Pending {
        provider: name.clone(),
        verifier: verifier.clone(),
        nonce: nonce.clone(),
        return_to: safe_return_to(q.return_to.as_deref()),
        redirect_uri: redirect_uri.clone(),
        browser: sha256_b64(&binding),
        expires: Instant::now() + STATE_TTL,
    };
    if !sso.remember(state_value.clone(), pending) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many sign-ins under way; try again in a few minutes",
        ));
    }
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", p.config.client_id.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("scope", p.config.request_scopes().join(" ").as_str()),
        ("state", state_value.as_str()),
        ("nonce", nonce.as_str()),
        ("code_challenge", sha256_b64(&verifier).as_str()),
        ("code_challenge_method", "S256"),
    ])
    .map_err(|e| ApiError::internal("cannot build the sign-in URL", &e))?;
    let sep = if m.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    let mut resp = redirect(
        StatusCode::FOUND,
        &format!("{}{sep}{query}", m.authorization_endpoint),
    );
    let secure = if base.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{}={binding}; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        sso.cookie,
        STATE_TTL.as_secs()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// What the provider sends back.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    pub code: Option<String>,
    /// The state given at login.
    pub state: Option<String>,
    /// The issuer (RFC 9207), when the provider sends it.
    pub iss: Option<String>,
    /// An error code, when the provider refused.
    pub error: Option<String>,
    /// The error, for humans.
    pub error_description: Option<String>,
}

/// The provider's redirect back: signs the browser in and 303s to where
/// it was going, or to `/?login=failed&reason=CODE`.
#[utoipa::path(get, path = "/auth/oidc/{name}/callback", tag = "meta", operation_id = "sso_callback",
    security(()),
    params(("name" = String, Path, description = "The provider's name"), CallbackQuery),
    responses(
        (status = 303, description = "Signed in (the session cookie is set) and on to `return_to`, or refused: to `/?login=failed&reason=CODE`"),
        (status = 404, body = super::error::ErrorBody, description = "No such provider")))]
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    super::error::ApiPath(name): super::error::ApiPath<String>,
    super::error::ApiQuery(q): super::error::ApiQuery<CallbackQuery>,
) -> Result<Response, ApiError> {
    state.auth.check_host(&headers)?;
    let Some(p) = state.sso.provider(&name).cloned() else {
        return Err(unknown_provider(&name));
    };
    match sign_in(&state, &p, &headers, &q).await {
        Ok((user, return_to)) => {
            // The session's cookie and the CSRF one, `Secure` as the
            // request says.
            let cookies = state
                .auth
                .open_user_session_cookies(&user, Some(&headers))
                .await?;
            let entry = NewAudit {
                kind: "sign_in".into(),
                action: "succeeded".into(),
                actor: format!("sso {name}"),
                reason: format!("{} signed in with {}", user.name, p.config.shown_name()),
                detail: serde_json::json!({"method": "sso", "provider": name, "role": user.role.as_str()}),
                user_id: Some(user.id.clone()),
                ..Default::default()
            };
            if let Err(e) = state.store.audit(&entry).await {
                tracing::warn!(error = %e, "could not audit a sign-in");
            }
            tracing::info!(provider = %name, user = %user.name, "signed in with single sign-on");
            let mut resp = redirect(StatusCode::SEE_OTHER, &return_to);
            for cookie in cookies {
                resp.headers_mut().append(header::SET_COOKIE, cookie);
            }
            Ok(resp)
        }
        Err(f) => Ok(refuse(&state, &name, &f).await),
    }
}

fn store_failure(what: &str, e: &StoreError) -> Failure {
    fail(Reason::Internal, format!("{what}: {e}"))
}

/// The callback's work: the state, the code, the ID token, the user.
async fn sign_in(
    state: &AppState,
    p: &Provider,
    headers: &HeaderMap,
    q: &CallbackQuery,
) -> Result<(UserRecord, String), Failure> {
    let sso = &state.sso;
    let c = &p.config;
    let given = q
        .state
        .as_deref()
        .ok_or_else(|| fail(Reason::State, "the provider's answer has no state"))?;
    let pending = sso.take(given).ok_or_else(|| {
        fail(
            Reason::State,
            "the state is unknown, expired or already used",
        )
    })?;
    if pending.provider != c.name {
        return Err(fail(Reason::State, "the state belongs to another provider"));
    }
    let browser = sso.binding_cookie(headers).map(sha256_b64);
    if browser.as_deref() != Some(pending.browser.as_str()) {
        return Err(fail(
            Reason::State,
            "the sign-in was started in another browser",
        ));
    }
    if let Some(error) = &q.error {
        let mut e: String = error.chars().take(100).collect();
        if let Some(d) = &q.error_description {
            e.push_str(": ");
            e.extend(d.chars().take(300));
        }
        return Err(fail(Reason::ProviderRefused, e));
    }
    if let Some(iss) = &q.iss
        && *iss != c.issuer
    {
        return Err(fail(
            Reason::Issuer,
            format!("the answer comes from issuer `{iss}`"),
        ));
    }
    let code = q
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| fail(Reason::ProviderRefused, "the provider's answer has no code"))?;
    let m = sso.metadata(p).await?;
    let id_token = sso.exchange(p, &m, code, &pending).await?;
    let claims = sso.verify(p, &m, &id_token, &pending.nonce).await?;
    let values = claims.values(&c.role_claim);
    let role = role_from_claims(c, &values).ok_or_else(|| {
        fail(
            Reason::NoRole,
            format!(
                "no value of the claim `{}` maps to a role ({} value(s)), and default_role is none",
                c.role_claim,
                values.len()
            ),
        )
    })?;
    let store = &state.store;
    let found = store
        .find_user_by_oidc(&c.issuer, &claims.sub)
        .await
        .map_err(|e| store_failure("finding the user", &e))?;
    let user = match found {
        Some(u) => {
            if u.disabled {
                return Err(fail(
                    Reason::Disabled,
                    format!("the user `{}` is disabled", u.name),
                ));
            }
            if u.role == role {
                u
            } else {
                let patch = UserPatch {
                    role: Some(role),
                    ..Default::default()
                };
                let updated = store
                    .update_user(&u.id, &patch)
                    .await
                    .map_err(|e| store_failure("updating the user's role", &e))?
                    .ok_or_else(|| fail(Reason::Internal, "the user vanished"))?;
                state.auth.forget_user(&u.id);
                updated
            }
        }
        None => {
            if !c.allow_signup {
                return Err(fail(
                    Reason::SignupDisabled,
                    format!(
                        "no user has this identity, and sign-up with `{}` is off",
                        c.name
                    ),
                ));
            }
            create(state, c, &claims, role).await?
        }
    };
    store
        .touch_sign_in(&user.id, chrono::Utc::now())
        .await
        .map_err(|e| store_failure("recording the sign-in", &e))?;
    Ok((user, pending.return_to))
}

/// Creates the user of a first sign-in, under a unique plain name.
async fn create(
    state: &AppState,
    c: &OidcProviderConfig,
    claims: &verify::Claims,
    role: Role,
) -> Result<UserRecord, Failure> {
    let base = plain_name(
        claims
            .string("preferred_username")
            .or_else(|| claims.string("email"))
            .unwrap_or(claims.sub.as_str()),
    );
    let display = claims
        .string("name")
        .or_else(|| claims.string("preferred_username"))
        .unwrap_or("")
        .to_string();
    for i in 0..100u32 {
        let name = match i {
            0 => base.clone(),
            1..50 => format!("{base}-{}", i + 1),
            _ => format!("{base}-{}", random_b64(4).replace(['-', '_'], "x")),
        };
        if state
            .store
            .get_user_by_name(&name)
            .await
            .map_err(|e| store_failure("looking up a name", &e))?
            .is_some()
        {
            continue;
        }
        let new = NewUser {
            name,
            display_name: display.clone(),
            email: claims.string("email").map(str::to_string),
            role: Some(role),
            password_hash: None,
            oidc: Some((c.issuer.clone(), claims.sub.clone())),
        };
        match state.store.create_user(&new).await {
            Ok(u) => return Ok(u),
            // Taken meanwhile (the name, or this identity by a parallel
            // first sign-in).
            Err(StoreError::Conflict(_)) => {
                if let Some(u) = state
                    .store
                    .find_user_by_oidc(&c.issuer, &claims.sub)
                    .await
                    .map_err(|e| store_failure("finding the user", &e))?
                {
                    return Ok(u);
                }
            }
            Err(e) => return Err(store_failure("creating the user", &e)),
        }
    }
    Err(fail(Reason::Internal, "no free user name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(default_role: DefaultRole) -> OidcProviderConfig {
        let mut c: paddock_core::auth::AuthConfig = toml::from_str(
            "[[oidc]]\nname = \"corp\"\nissuer = \"https://id\"\nclient_id = \"c\"\n\
             admin_values = [\"ops\"]\nmember_values = [\"dev\"]\nviewer_values = [\"qa\"]\n",
        )
        .unwrap();
        c.oidc[0].default_role = default_role;
        c.oidc.remove(0)
    }

    #[test]
    fn roles_from_claims() {
        let c = config(DefaultRole::Viewer);
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(role_from_claims(&c, &v(&["dev", "ops"])), Some(Role::Admin));
        assert_eq!(role_from_claims(&c, &v(&["qa", "dev"])), Some(Role::Member));
        assert_eq!(role_from_claims(&c, &v(&["qa"])), Some(Role::Viewer));
        assert_eq!(role_from_claims(&c, &v(&["x"])), Some(Role::Viewer));
        let none = config(DefaultRole::None);
        assert_eq!(role_from_claims(&none, &v(&[])), None);
        assert_eq!(role_from_claims(&none, &v(&["dev"])), Some(Role::Member));
    }

    #[test]
    fn names_and_return_paths() {
        assert_eq!(plain_name("alice"), "alice");
        assert_eq!(plain_name("Alice Smith@corp.example"), "Alice-Smith");
        assert_eq!(plain_name("--ü--x"), "x");
        assert_eq!(plain_name("@@"), "user");
        assert_eq!(plain_name(&"a".repeat(100)).len(), 48);
        assert!(paddock_protocol::is_plain_name(&plain_name(
            "  j.doe+test "
        )));
        assert_eq!(safe_return_to(Some("/agents/1?x=2")), "/agents/1?x=2");
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "evil",
            "/a\nb",
        ] {
            assert_eq!(safe_return_to(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_return_to(None), "/");
    }
}
