//! A client of the OCI distribution API (`/v2/…`): pull a manifest (by
//! tag or digest) and blobs, each checked against its digest and size
//! limit; push blobs (monolithic upload) and manifests. HTTPS, except for
//! loopback registries and those an admin listed as insecure. Registry
//! credentials come from the environment (`PADDOCK_REGISTRY_USERNAME`,
//! `PADDOCK_REGISTRY_PASSWORD`) and are only ever sent, never logged; a
//! registry asking for a bearer token gets one from its realm.

use crate::OciError;
use crate::layout::{Descriptor, OCI_MANIFEST_MEDIA_TYPE, digest_of};
use crate::reference::{Reference, Target};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, LOCATION, WWW_AUTHENTICATE};
use std::sync::Mutex;

/// Largest manifest accepted.
pub const MAX_MANIFEST: u64 = 4 * 1024 * 1024;
/// Largest blob accepted (a component or a manifest layer).
pub const MAX_BLOB: u64 = 64 * 1024 * 1024;

/// Registry login, from the environment.
#[derive(Clone)]
struct Credentials {
    username: String,
    password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.username)
    }
}

/// A registry client for one reference's registry.
pub struct Client {
    http: reqwest::Client,
    base: String,
    registry: String,
    credentials: Option<Credentials>,
    /// The `Authorization` value that worked last (a bearer token or basic).
    auth: Mutex<Option<HeaderValue>>,
}

fn http_err(registry: &str, e: &reqwest::Error) -> OciError {
    // reqwest's messages carry the URL (no credentials: they go in headers).
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message = format!("{message}: {s}");
        source = s.source();
    }
    OciError::Registry {
        registry: registry.to_string(),
        message,
    }
}

impl Client {
    /// A client for `reference`'s registry. Plain HTTP only when the
    /// registry is on loopback or listed in `insecure`.
    pub fn new(reference: &Reference, insecure: &[String]) -> Result<Client, OciError> {
        let plain = reference.is_loopback() || insecure.iter().any(|r| r == &reference.registry);
        let base = format!(
            "{}://{}",
            if plain { "http" } else { "https" },
            reference.registry
        );
        let http = reqwest::Client::builder()
            .user_agent(concat!("paddock/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(15))
            .timeout(std::time::Duration::from_secs(300))
            .build()
            .map_err(|e| http_err(&reference.registry, &e))?;
        let credentials = match (
            std::env::var("PADDOCK_REGISTRY_USERNAME"),
            std::env::var("PADDOCK_REGISTRY_PASSWORD"),
        ) {
            (Ok(username), Ok(password)) if !username.is_empty() => {
                Some(Credentials { username, password })
            }
            _ => None,
        };
        Ok(Client {
            http,
            base,
            registry: reference.registry.clone(),
            credentials,
            auth: Mutex::new(None),
        })
    }

    fn url(&self, repository: &str, rest: &str) -> String {
        format!("{}/v2/{repository}/{rest}", self.base)
    }

    /// Sends a request, answering one authentication challenge.
    async fn send(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
        scope: &str,
    ) -> Result<reqwest::Response, OciError> {
        let with_auth =
            |rb: reqwest::RequestBuilder| match self.auth.lock().ok().and_then(|a| a.clone()) {
                Some(v) => rb.header(AUTHORIZATION, v),
                None => rb,
            };
        let resp = with_auth(build())
            .send()
            .await
            .map_err(|e| http_err(&self.registry, &e))?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let header = self.authenticate(&challenge, scope).await?;
        if let Ok(mut a) = self.auth.lock() {
            *a = Some(header);
        }
        with_auth(build())
            .send()
            .await
            .map_err(|e| http_err(&self.registry, &e))
    }

    async fn authenticate(&self, challenge: &str, scope: &str) -> Result<HeaderValue, OciError> {
        let denied = |why: &str| OciError::Registry {
            registry: self.registry.clone(),
            message: format!("authentication required: {why}"),
        };
        let lower = challenge.to_ascii_lowercase();
        if lower.starts_with("basic") {
            let c = self.credentials.as_ref().ok_or_else(|| {
                denied("set PADDOCK_REGISTRY_USERNAME and PADDOCK_REGISTRY_PASSWORD")
            })?;
            return basic(c).ok_or_else(|| denied("the credentials are not valid header text"));
        }
        if !lower.starts_with("bearer") {
            return Err(denied(
                "the registry sent no usable WWW-Authenticate challenge",
            ));
        }
        let params = parse_challenge(&challenge[6..]);
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| denied("the bearer challenge names no realm"))?;
        if !realm.starts_with("https://") && !realm.starts_with(&self.base) {
            return Err(denied("the token realm is not HTTPS"));
        }
        let mut query: Vec<(String, String)> =
            params.into_iter().filter(|(k, _)| k == "service").collect();
        query.push(("scope".into(), scope.to_string()));
        let mut rb = self.http.get(&realm).query(&query);
        if let Some(c) = &self.credentials {
            rb = rb.basic_auth(&c.username, Some(&c.password));
        }
        let resp = rb.send().await.map_err(|e| http_err(&self.registry, &e))?;
        if !resp.status().is_success() {
            return Err(denied(&format!(
                "the token service answered {}",
                resp.status()
            )));
        }
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| http_err(&self.registry, &e))?;
        let token = body
            .get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| denied("the token service returned no token"))?;
        HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| denied("the token is not valid header text"))
    }

    async fn read_limited(
        &self,
        mut resp: reqwest::Response,
        limit: u64,
        what: &str,
    ) -> Result<Vec<u8>, OciError> {
        let too_large = || OciError::TooLarge {
            what: what.to_string(),
            limit,
        };
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let mut out = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| http_err(&self.registry, &e))?
        {
            if out.len() as u64 + chunk.len() as u64 > limit {
                return Err(too_large());
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    async fn status_err(&self, resp: reqwest::Response, what: &str) -> OciError {
        let status = resp.status();
        let body = self
            .read_limited(resp, 4096, what)
            .await
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .chars()
                    .take(300)
                    .collect::<String>()
            })
            .unwrap_or_default();
        OciError::Status {
            registry: self.registry.clone(),
            what: what.to_string(),
            status: status.as_u16(),
            body,
        }
    }

    /// Pulls the manifest `reference` names: its bytes and digest. A digest
    /// reference must match the bytes received. `Ok(None)` when the registry
    /// has no such manifest.
    pub async fn pull_manifest(
        &self,
        reference: &Reference,
    ) -> Result<Option<(Vec<u8>, String)>, OciError> {
        let url = self.url(
            &reference.repository,
            &format!("manifests/{}", reference.target_str()),
        );
        let scope = format!("repository:{}:pull", reference.repository);
        let resp = self
            .send(
                || {
                    self.http
                        .get(&url)
                        .header(reqwest::header::ACCEPT, OCI_MANIFEST_MEDIA_TYPE)
                },
                &scope,
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(self
                .status_err(resp, &format!("manifest {reference}"))
                .await);
        }
        let bytes = self
            .read_limited(resp, MAX_MANIFEST, &format!("manifest {reference}"))
            .await?;
        let digest = digest_of(&bytes);
        if let Target::Digest(expected) = &reference.target
            && *expected != digest
        {
            return Err(OciError::DigestMismatch {
                what: format!("manifest {reference}"),
                expected: expected.clone(),
                actual: digest,
            });
        }
        Ok(Some((bytes, digest)))
    }

    /// Pulls a blob and checks its size and digest against `descriptor`.
    pub async fn pull_blob(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        what: &str,
    ) -> Result<Vec<u8>, OciError> {
        if descriptor.size > MAX_BLOB {
            return Err(OciError::TooLarge {
                what: what.to_string(),
                limit: MAX_BLOB,
            });
        }
        let url = self.url(
            &reference.repository,
            &format!("blobs/{}", descriptor.digest),
        );
        let scope = format!("repository:{}:pull", reference.repository);
        let resp = self.send(|| self.http.get(&url), &scope).await?;
        if !resp.status().is_success() {
            return Err(self.status_err(resp, what).await);
        }
        let bytes = self.read_limited(resp, descriptor.size, what).await?;
        let actual = digest_of(&bytes);
        if actual != descriptor.digest || bytes.len() as u64 != descriptor.size {
            return Err(OciError::DigestMismatch {
                what: what.to_string(),
                expected: descriptor.digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Uploads a blob unless the registry has it already.
    pub async fn push_blob(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        bytes: &[u8],
    ) -> Result<(), OciError> {
        let scope = format!("repository:{}:pull,push", reference.repository);
        let head = self.url(
            &reference.repository,
            &format!("blobs/{}", descriptor.digest),
        );
        let resp = self.send(|| self.http.head(&head), &scope).await?;
        if resp.status().is_success() {
            return Ok(());
        }
        let start = self.url(&reference.repository, "blobs/uploads/");
        let resp = self.send(|| self.http.post(&start), &scope).await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(self.status_err(resp, "starting a blob upload").await);
        }
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| OciError::Registry {
                registry: self.registry.clone(),
                message: "the upload answer has no Location".into(),
            })?
            .to_string();
        let mut put_url = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        };
        put_url.push(if put_url.contains('?') { '&' } else { '?' });
        put_url.push_str(&format!("digest={}", descriptor.digest));
        let body = bytes.to_vec();
        let resp = self
            .send(
                || {
                    self.http
                        .put(&put_url)
                        .header(CONTENT_TYPE, "application/octet-stream")
                        .body(body.clone())
                },
                &scope,
            )
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(self
                .status_err(resp, &format!("uploading blob {}", descriptor.digest))
                .await);
        }
        Ok(())
    }

    /// Uploads a manifest under `tag`; returns its digest.
    pub async fn push_manifest(
        &self,
        reference: &Reference,
        tag: &str,
        manifest: &[u8],
    ) -> Result<String, OciError> {
        let scope = format!("repository:{}:pull,push", reference.repository);
        let url = self.url(&reference.repository, &format!("manifests/{tag}"));
        let body = manifest.to_vec();
        let resp = self
            .send(
                || {
                    self.http
                        .put(&url)
                        .header(CONTENT_TYPE, OCI_MANIFEST_MEDIA_TYPE)
                        .body(body.clone())
                },
                &scope,
            )
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(self
                .status_err(resp, &format!("pushing manifest {tag}"))
                .await);
        }
        Ok(digest_of(manifest))
    }
}

fn basic(c: &Credentials) -> Option<HeaderValue> {
    use base64::Engine;
    let raw = format!("{}:{}", c.username, c.password);
    let mut v = HeaderValue::from_str(&format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    ))
    .ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// `key="value", key2="value2"` → pairs.
fn parse_challenge(params: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = params.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.split_once('"') {
                Some((v, t)) => (v.to_string(), t),
                None => (quoted.to_string(), ""),
            }
        } else {
            match after.split_once(',') {
                Some((v, t)) => (v.trim().to_string(), t),
                None => (after.trim().to_string(), ""),
            }
        };
        out.push((key, value));
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_parse() {
        let p = parse_challenge(
            r#" realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        );
        assert_eq!(
            p,
            vec![
                ("realm".into(), "https://auth.example/token".into()),
                ("service".into(), "registry.example".into()),
                ("scope".into(), "repository:a/b:pull".into()),
            ]
        );
    }

    #[test]
    fn credentials_never_print() {
        let c = Credentials {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(basic(&c).unwrap().is_sensitive());
    }
}
