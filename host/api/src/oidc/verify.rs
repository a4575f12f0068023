//! What single sign-on trusts of a provider: its discovery document, its
//! signing keys (the JWKS, cached, fetched again for an unknown `kid` at
//! most once per [`FORCED_REFETCH_EVERY`]) and the ID tokens they sign,
//! checked as OpenID Connect Core §3.1.3.7 says (the checks follow
//! `openidconnect-rs`): the signature with an asymmetric algorithm the key
//! and the provider allow (RS*, PS*, ES256/ES384; never `none`, never HS*),
//! the issuer, the audience (and `azp` when there are several), `exp`,
//! `iat` and `nbf` with the configured clock skew, and the nonce.
//! Signatures are checked by `jsonwebtoken` (aws-lc-rs).

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::time::{Duration, Instant};

/// How long a discovery document and a JWKS are trusted before they are
/// fetched again.
pub const CACHE_FOR: Duration = Duration::from_secs(3600);

/// The least time between two fetches of a JWKS forced by an unknown
/// `kid` (a token with made-up key ids cannot make Paddock hammer the
/// provider).
pub const FORCED_REFETCH_EVERY: Duration = Duration::from_secs(10);

/// The largest discovery document or JWKS read.
const MAX_DOCUMENT: usize = 1024 * 1024;

/// Why a sign-in failed: a short code (in the redirect's `reason` and the
/// audit log) and what happened, for the log and the audit (never a token
/// or a code).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", reason.as_str())]
pub struct Failure {
    /// The short code.
    pub reason: Reason,
    /// For humans.
    pub detail: String,
}

/// The closed set of reasons a sign-in fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The provider could not be reached, or its discovery document or
    /// JWKS is unusable.
    ProviderUnavailable,
    /// The provider answered the sign-in with an error (`access_denied`…).
    ProviderRefused,
    /// The `state` is missing, unknown, expired or already used, or was
    /// issued to another browser.
    State,
    /// The code could not be exchanged for tokens.
    TokenExchange,
    /// The ID token is malformed or lacks a claim it must have.
    IdToken,
    /// The ID token's signature does not verify (or its key is unknown).
    Signature,
    /// The ID token (or the response) comes from another issuer.
    Issuer,
    /// The ID token is for another client.
    Audience,
    /// The ID token has expired, or is not yet valid, or was issued in the
    /// future.
    Expired,
    /// The ID token's nonce is missing or not this sign-in's.
    Nonce,
    /// No claim value maps to a role and the default role is `none`.
    NoRole,
    /// The user does not exist and sign-up is off for this provider.
    SignupDisabled,
    /// The user is disabled.
    Disabled,
    /// This server cannot say its own URL (set `[server] public_url`).
    Configuration,
    /// Something on this side failed (the store).
    Internal,
}

impl Reason {
    /// Its short code.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ProviderUnavailable => "provider_unavailable",
            Reason::ProviderRefused => "provider_refused",
            Reason::State => "state",
            Reason::TokenExchange => "token_exchange",
            Reason::IdToken => "id_token",
            Reason::Signature => "signature",
            Reason::Issuer => "issuer",
            Reason::Audience => "audience",
            Reason::Expired => "expired",
            Reason::Nonce => "nonce",
            Reason::NoRole => "no_role",
            Reason::SignupDisabled => "signup_disabled",
            Reason::Disabled => "disabled",
            Reason::Configuration => "configuration",
            Reason::Internal => "internal",
        }
    }
}

/// A failure for `reason`.
pub fn fail(reason: Reason, detail: impl Into<String>) -> Failure {
    Failure {
        reason,
        detail: detail.into(),
    }
}

/// The parts of a provider's discovery document single sign-on uses.
#[derive(Clone, Debug, Deserialize)]
pub struct Metadata {
    /// Must be the configured issuer, exactly.
    pub issuer: String,
    /// Where the browser is sent.
    pub authorization_endpoint: String,
    /// Where the code is exchanged.
    pub token_endpoint: String,
    /// The signing keys.
    pub jwks_uri: String,
    /// Where a browser ends its session at the provider.
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    /// How the client may authenticate (default `client_secret_basic`).
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// The algorithms ID tokens may be signed with.
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Option<Vec<String>>,
    /// PKCE methods (when given, it must include `S256`).
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
}

/// Reads a JSON document of at most [`MAX_DOCUMENT`] bytes.
async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    what: &str,
) -> Result<T, Failure> {
    let unavailable = |d: String| fail(Reason::ProviderUnavailable, format!("{what}: {d}"));
    let resp = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| unavailable(format!("GET {url}: {e}")))?;
    if !resp.status().is_success() {
        return Err(unavailable(format!("GET {url}: HTTP {}", resp.status())));
    }
    let body = resp
        .bytes()
        .await
        .map_err(|e| unavailable(format!("GET {url}: {e}")))?;
    if body.len() > MAX_DOCUMENT {
        return Err(unavailable(format!(
            "GET {url}: more than {MAX_DOCUMENT} bytes"
        )));
    }
    serde_json::from_slice(&body).map_err(|e| unavailable(format!("GET {url}: {e}")))
}

/// Fetches and checks the discovery document of `issuer` (as configured).
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Metadata, Failure> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let m: Metadata = get_json(http, &url, "discovery").await?;
    if m.issuer != issuer {
        return Err(fail(
            Reason::ProviderUnavailable,
            format!(
                "discovery: the document's issuer `{}` is not the configured `{issuer}`",
                m.issuer
            ),
        ));
    }
    if let Some(methods) = &m.code_challenge_methods_supported
        && !methods.iter().any(|x| x == "S256")
    {
        return Err(fail(
            Reason::ProviderUnavailable,
            "discovery: the provider does not support PKCE with S256",
        ));
    }
    Ok(m)
}

/// Fetches a JWKS.
pub async fn fetch_jwks(http: &reqwest::Client, url: &str) -> Result<JwkSet, Failure> {
    // Keys of kinds `jsonwebtoken` does not know are skipped, not fatal.
    #[derive(Deserialize)]
    struct Raw {
        keys: Vec<Value>,
    }
    let raw: Raw = get_json(http, url, "JWKS").await?;
    Ok(JwkSet {
        keys: raw
            .keys
            .into_iter()
            .filter_map(|k| serde_json::from_value::<Jwk>(k).ok())
            .collect(),
    })
}

/// A provider's keys as last fetched.
#[derive(Debug, Default)]
pub struct KeyCache {
    /// The keys.
    pub set: Option<JwkSet>,
    /// When they were fetched.
    pub fetched_at: Option<Instant>,
    /// When an unknown `kid` last made them be fetched.
    pub forced_at: Option<Instant>,
}

impl KeyCache {
    /// Whether the keys must be fetched before use (none yet, or stale).
    pub fn stale(&self) -> bool {
        self.set.is_none() || self.fetched_at.is_none_or(|t| t.elapsed() > CACHE_FOR)
    }

    /// Whether an unknown `kid` may make them be fetched now.
    pub fn may_force(&self) -> bool {
        self.forced_at
            .is_none_or(|t| t.elapsed() >= FORCED_REFETCH_EVERY)
    }
}

/// What an ID token must say.
#[derive(Clone, Debug)]
pub struct Expected<'a> {
    /// The issuer, exactly.
    pub issuer: &'a str,
    /// Our client id: an audience, and `azp` when present.
    pub client_id: &'a str,
    /// This sign-in's nonce.
    pub nonce: &'a str,
    /// Clock skew allowed on `exp`, `iat`, `nbf`, in seconds.
    pub skew: u64,
    /// The algorithms the provider says it signs ID tokens with (None:
    /// any asymmetric one).
    pub provider_algs: Option<&'a [String]>,
    /// Now, in seconds since the epoch.
    pub now: i64,
}

/// The verified claims of an ID token.
#[derive(Clone, Debug)]
pub struct Claims {
    /// The subject.
    pub sub: String,
    /// Every claim, to map the role claim from.
    pub all: Map<String, Value>,
}

impl Claims {
    /// A string claim.
    pub fn string(&self, name: &str) -> Option<&str> {
        self.all
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    }

    /// The values of a claim at `path` (dots go into objects:
    /// `realm_access.roles`): a string, or the strings of a list.
    pub fn values(&self, path: &str) -> Vec<String> {
        let mut at: Option<&Value> = None;
        for (i, part) in path.split('.').enumerate() {
            at = if i == 0 {
                self.all.get(part)
            } else {
                at.and_then(|v| v.get(part))
            };
        }
        match at {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// The asymmetric algorithms accepted, by name.
fn algorithm(name: &str) -> Option<Algorithm> {
    Some(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        _ => return None,
    })
}

/// The `kid` and algorithm of a token's header, checked to be an
/// asymmetric algorithm the provider allows.
pub fn header(
    token: &str,
    expected: &Expected<'_>,
) -> Result<(Option<String>, Algorithm), Failure> {
    let h = jsonwebtoken::decode_header(token)
        .map_err(|e| fail(Reason::IdToken, format!("the ID token's header: {e}")))?;
    let name = format!("{:?}", h.alg);
    let alg = algorithm(&name).ok_or_else(|| {
        fail(
            Reason::Signature,
            format!("the ID token is signed with `{name}`, which is not accepted (RS*, PS*, ES256, ES384 only)"),
        )
    })?;
    if let Some(allowed) = expected.provider_algs
        && !allowed.contains(&name)
    {
        return Err(fail(
            Reason::Signature,
            format!("the ID token is signed with `{name}`, which the provider does not list"),
        ));
    }
    Ok((h.kid, alg))
}

/// The key of `set` that may verify a token with this `kid` and
/// algorithm: a signing key of the algorithm's kind (and of that `alg`
/// when the key names one). Without a `kid`, the set's only such key.
pub fn find_key<'s>(set: &'s JwkSet, kid: Option<&str>, alg: Algorithm) -> Option<&'s Jwk> {
    let fits = |k: &&Jwk| {
        let kind_ok = match &k.algorithm {
            AlgorithmParameters::RSA(_) => matches!(
                alg,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ),
            AlgorithmParameters::EllipticCurve(_) => {
                matches!(alg, Algorithm::ES256 | Algorithm::ES384)
            }
            _ => false,
        };
        let use_ok = k
            .common
            .public_key_use
            .as_ref()
            .is_none_or(|u| *u == PublicKeyUse::Signature);
        let alg_ok = k
            .common
            .key_algorithm
            .is_none_or(|a| key_algorithm_is(a, alg));
        kind_ok && use_ok && alg_ok
    };
    match kid {
        Some(kid) => set
            .keys
            .iter()
            .filter(fits)
            .find(|k| k.common.key_id.as_deref() == Some(kid)),
        None => {
            let mut fitting = set.keys.iter().filter(fits);
            let first = fitting.next();
            if fitting.next().is_some() {
                None
            } else {
                first
            }
        }
    }
}

fn key_algorithm_is(k: KeyAlgorithm, alg: Algorithm) -> bool {
    matches!(
        (k, alg),
        (KeyAlgorithm::RS256, Algorithm::RS256)
            | (KeyAlgorithm::RS384, Algorithm::RS384)
            | (KeyAlgorithm::RS512, Algorithm::RS512)
            | (KeyAlgorithm::PS256, Algorithm::PS256)
            | (KeyAlgorithm::PS384, Algorithm::PS384)
            | (KeyAlgorithm::PS512, Algorithm::PS512)
            | (KeyAlgorithm::ES256, Algorithm::ES256)
            | (KeyAlgorithm::ES384, Algorithm::ES384)
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Verifies `token` with `key` (found by [`find_key`] for `alg`) against
/// what it must say.
pub fn verify(
    token: &str,
    key: &Jwk,
    alg: Algorithm,
    expected: &Expected<'_>,
) -> Result<Claims, Failure> {
    use jsonwebtoken::errors::ErrorKind;
    if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
        return Err(fail(
            Reason::Internal,
            "no cryptography provider for jsonwebtoken",
        ));
    }
    let decoding = DecodingKey::from_jwk(key)
        .map_err(|e| fail(Reason::Signature, format!("the provider's key: {e}")))?;
    let mut v = Validation::new(alg);
    v.algorithms = vec![alg];
    v.set_issuer(&[expected.issuer]);
    v.set_audience(&[expected.client_id]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.leeway = expected.skew;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.validate_aud = true;
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &decoding, &v).map_err(|e| {
        let reason = match e.kind() {
            ErrorKind::InvalidSignature
            | ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::InvalidKeyFormat
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidEcdsaKey => Reason::Signature,
            ErrorKind::InvalidIssuer => Reason::Issuer,
            ErrorKind::InvalidAudience => Reason::Audience,
            ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => Reason::Expired,
            _ => Reason::IdToken,
        };
        fail(reason, format!("the ID token: {e}"))
    })?;
    let all = data.claims;
    // `aud` may be one string or several; with several, `azp` must be us.
    let audiences: Vec<&str> = match all.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&expected.client_id) {
        return Err(fail(
            Reason::Audience,
            "the ID token is not for this client",
        ));
    }
    let azp = all.get("azp").and_then(Value::as_str);
    if audiences.len() > 1 && azp.is_none() {
        return Err(fail(
            Reason::Audience,
            "the ID token has several audiences and no `azp`",
        ));
    }
    if let Some(azp) = azp
        && azp != expected.client_id
    {
        return Err(fail(
            Reason::Audience,
            format!("the ID token's `azp` is `{azp}`, not this client"),
        ));
    }
    let skew = i64::try_from(expected.skew).unwrap_or(i64::MAX);
    let iat = all
        .get("iat")
        .and_then(Value::as_f64)
        .ok_or_else(|| fail(Reason::IdToken, "the ID token has no `iat`"))?;
    let iat = iat as i64;
    if iat > expected.now.saturating_add(skew) {
        return Err(fail(
            Reason::Expired,
            "the ID token was issued in the future (`iat`)",
        ));
    }
    match all.get("nonce").and_then(Value::as_str) {
        None => {
            return Err(fail(Reason::Nonce, "the ID token has no nonce"));
        }
        Some(n) if !constant_time_eq(n.as_bytes(), expected.nonce.as_bytes()) => {
            return Err(fail(
                Reason::Nonce,
                "the ID token's nonce is not this sign-in's",
            ));
        }
        Some(_) => {}
    }
    let sub = all
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| fail(Reason::IdToken, "the ID token has no `sub`"))?
        .to_string();
    Ok(Claims { sub, all })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use base64::Engine;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    /// A P-256 key: the private key to sign with and its public JWK.
    fn key(kid: &str) -> (EncodingKey, Jwk) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let public = pair.public_key().as_ref().to_vec();
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwk: Jwk = serde_json::from_value(json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
            "x": b64(&public[1..33]), "y": b64(&public[33..65]),
        }))
        .unwrap();
        (EncodingKey::from_ec_der(pkcs8.as_ref()), jwk)
    }

    fn sign(k: &EncodingKey, kid: &str, claims: &Value) -> String {
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some(kid.into());
        jsonwebtoken::encode(&h, claims, k).unwrap()
    }

    fn expected(now: i64) -> Expected<'static> {
        Expected {
            issuer: "https://id.example",
            client_id: "paddock",
            nonce: "n-1",
            skew: 60,
            provider_algs: None,
            now,
        }
    }

    fn check(token: &str, set: &JwkSet, now: i64) -> Result<Claims, Failure> {
        let e = expected(now);
        let (kid, alg) = header(token, &e)?;
        let key =
            find_key(set, kid.as_deref(), alg).ok_or_else(|| fail(Reason::Signature, "no key"))?;
        verify(token, key, alg, &e)
    }

    #[test]
    fn id_tokens_are_checked_claim_by_claim() {
        let now = chrono::Utc::now().timestamp();
        let (k1, j1) = key("k1");
        let (k2, _) = key("k2");
        let set = JwkSet { keys: vec![j1] };
        let good = json!({"iss": "https://id.example", "aud": "paddock", "sub": "alice",
            "exp": now + 300, "iat": now, "nonce": "n-1", "groups": ["a", "b"],
            "realm_access": {"roles": ["x"]}});
        let c = check(&sign(&k1, "k1", &good), &set, now).unwrap();
        assert_eq!(c.sub, "alice");
        assert_eq!(c.values("groups"), ["a", "b"]);
        assert_eq!(c.values("realm_access.roles"), ["x"]);
        assert!(c.values("nope").is_empty());
        let with = |patch: Value| {
            let mut v = good.clone();
            for (k, x) in patch.as_object().unwrap() {
                if x.is_null() {
                    v.as_object_mut().unwrap().remove(k);
                } else {
                    v[k] = x.clone();
                }
            }
            sign(&k1, "k1", &v)
        };
        for (token, reason) in [
            (with(json!({"aud": "other"})), Reason::Audience),
            (with(json!({"aud": ["paddock", "other"]})), Reason::Audience),
            (
                with(json!({"aud": ["paddock", "other"], "azp": "other"})),
                Reason::Audience,
            ),
            (with(json!({"azp": "other"})), Reason::Audience),
            (with(json!({"iss": "https://evil.example"})), Reason::Issuer),
            (with(json!({"exp": now - 61})), Reason::Expired),
            (with(json!({"nbf": now + 120})), Reason::Expired),
            (with(json!({"iat": now + 120})), Reason::Expired),
            (with(json!({"iat": null})), Reason::IdToken),
            (with(json!({"nonce": null})), Reason::Nonce),
            (with(json!({"nonce": "n-2"})), Reason::Nonce),
            (with(json!({"sub": null})), Reason::IdToken),
            (sign(&k2, "k1", &good), Reason::Signature),
        ] {
            assert_eq!(
                check(&token, &set, now).unwrap_err().reason,
                reason,
                "{token}"
            );
        }
        // Within the skew; several audiences with `azp` us.
        check(&with(json!({"exp": now - 30, "iat": now + 30})), &set, now).unwrap();
        check(
            &with(json!({"aud": ["paddock", "other"], "azp": "paddock"})),
            &set,
            now,
        )
        .unwrap();
    }

    #[test]
    fn no_none_no_hmac_and_keys_by_kid() {
        let now = chrono::Utc::now().timestamp();
        let e = expected(now);
        let b64 = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        let claims = json!({"iss": "https://id.example", "aud": "paddock", "sub": "a",
            "exp": now + 300, "iat": now, "nonce": "n-1"});
        let none = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims));
        assert!(header(&none, &e).is_err());
        // HS256 "signed" with the public key's text is refused before any key is used.
        let (_, j1) = key("k1");
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(serde_json::to_string(&j1).unwrap().as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(header(&hs, &e).unwrap_err().reason, Reason::Signature);
        // Provider-listed algorithms only.
        let (k1, _) = key("k1");
        let es = sign(&k1, "k1", &claims);
        let rs_only = ["RS256".to_string()];
        let strict = Expected {
            provider_algs: Some(&rs_only),
            ..e.clone()
        };
        assert_eq!(header(&es, &strict).unwrap_err().reason, Reason::Signature);
        // Keys by kid and kind; without a kid only a lone fitting key.
        let (_, j2) = key("k2");
        let set = JwkSet {
            keys: vec![j1.clone(), j2],
        };
        assert_eq!(
            find_key(&set, Some("k2"), Algorithm::ES256)
                .and_then(|k| k.common.key_id.clone())
                .as_deref(),
            Some("k2")
        );
        assert!(find_key(&set, Some("k3"), Algorithm::ES256).is_none());
        assert!(find_key(&set, Some("k1"), Algorithm::RS256).is_none());
        assert!(find_key(&set, None, Algorithm::ES256).is_none());
        let one = JwkSet { keys: vec![j1] };
        assert!(find_key(&one, None, Algorithm::ES256).is_some());
    }

    #[test]
    fn forced_refetches_are_rate_limited() {
        let mut c = KeyCache::default();
        assert!(c.stale() && c.may_force());
        c.set = Some(JwkSet { keys: vec![] });
        c.fetched_at = Some(Instant::now());
        assert!(!c.stale());
        c.forced_at = Some(Instant::now());
        assert!(!c.may_force());
    }
}
