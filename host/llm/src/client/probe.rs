//! Testing a provider for real, before or after it is saved: list its
//! models (`GET {base_url}/models` with its key) or, when the server has no
//! such route, send one tiny request to its first model. The server's
//! answer is reported plainly (status and its error message, the key
//! redacted); an upstream failure is a report with `ok: false`, never an
//! error of the caller.

use super::{ModelClient, Secret, error_chain, error_message};
use paddock_protocol::llm::WireApi;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Serialize;
use std::time::{Duration, Instant};

/// How long one request of a test may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// What testing a provider found.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ProbeReport {
    /// Whether the provider answered and accepted the key.
    pub ok: bool,
    /// The models it lists (or the one model a request succeeded with).
    pub models: Vec<String>,
    /// What happened, for humans: on failure the HTTP status and the
    /// server's own error message, or why it could not be reached.
    pub message: String,
    /// The HTTP status of the last answer, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// How long the test took.
    pub duration_ms: u64,
}

/// The result of one request of a test.
enum Answer {
    Ok(serde_json::Value),
    Status(u16, String),
    Unreachable(String),
}

impl ModelClient {
    /// Tests the provider: its model list, else (404 or 405 there) a
    /// one-token request to `model` (its first configured model).
    pub async fn probe(&self, base_url: &str, model: Option<&str>) -> ProbeReport {
        let started = Instant::now();
        let base = base_url.trim_end_matches('/');
        let list = format!("{base}/models");
        let report = |ok, models, message: String, http_status| ProbeReport {
            ok,
            models,
            message,
            http_status,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        match self.send(self.inner.http.get(&list)).await {
            Answer::Ok(body) => {
                let models: Vec<String> = body
                    .get("data")
                    .and_then(|d| d.as_array())
                    .map(|d| {
                        d.iter()
                            .filter_map(|m| m.get("id").and_then(|i| i.as_str()))
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                let message = if models.is_empty() {
                    format!("GET {list} answered, listing no models")
                } else {
                    format!("GET {list} answered with {} model(s)", models.len())
                };
                report(true, models, message, Some(200))
            }
            Answer::Status(status @ (404 | 405), _) => {
                let Some(model) = model else {
                    return report(
                        false,
                        Vec::new(),
                        format!(
                            "GET {list} answered HTTP {status} (the server lists no models); add a model to test it with a one-token request"
                        ),
                        Some(status),
                    );
                };
                let body = match self.inner.api {
                    WireApi::Chat => serde_json::json!({
                        "model": model,
                        "messages": [{"role": "user", "content": "Say OK."}],
                        "max_tokens": 1,
                        "stream": false,
                    }),
                    WireApi::Responses => serde_json::json!({
                        "model": model,
                        "input": "Say OK.",
                        "max_output_tokens": 16,
                        "stream": false,
                    }),
                };
                let request = self
                    .inner
                    .http
                    .post(&self.inner.url)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.to_string());
                match self.send(request).await {
                    Answer::Ok(_) => report(
                        true,
                        vec![model.to_string()],
                        format!(
                            "the server lists no models (HTTP {status}); a one-token request to `{model}` succeeded"
                        ),
                        Some(200),
                    ),
                    Answer::Status(s, m) => report(
                        false,
                        Vec::new(),
                        format!("a one-token request to `{model}` answered HTTP {s}: {m}"),
                        Some(s),
                    ),
                    Answer::Unreachable(m) => report(false, Vec::new(), m, None),
                }
            }
            Answer::Status(s, m) => report(
                false,
                Vec::new(),
                format!("GET {list} answered HTTP {s}: {m}"),
                Some(s),
            ),
            Answer::Unreachable(m) => report(false, Vec::new(), m, None),
        }
    }

    /// Sends one request of a test with the key.
    async fn send(&self, mut request: reqwest::RequestBuilder) -> Answer {
        if let Some(Secret(key)) = &self.inner.key
            && let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {key}"))
        {
            v.set_sensitive(true);
            request = request.header(AUTHORIZATION, v);
        }
        let resp = match request.timeout(PROBE_TIMEOUT).send().await {
            Ok(r) => r,
            Err(e) => {
                let url = e.url().map(|u| u.to_string()).unwrap_or_default();
                return Answer::Unreachable(self.redact(&format!(
                    "cannot reach {url}: {}",
                    error_chain(&e.without_url())
                )));
            }
        };
        let status = resp.status();
        if !status.is_success() {
            let message = self.redact(&error_message(resp, PROBE_TIMEOUT).await);
            return Answer::Status(status.as_u16(), message);
        }
        match resp.json::<serde_json::Value>().await {
            Ok(v) => Answer::Ok(v),
            Err(_) => Answer::Ok(serde_json::Value::Null),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ModelClient;
    use crate::config::ProviderConfig;

    #[tokio::test]
    async fn an_unreachable_server_is_a_report_not_an_error() {
        // A port nothing listens on.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let base = format!("http://127.0.0.1:{port}/v1");
        let client = ModelClient::with_key(
            &ProviderConfig::new("p", &base, None),
            Some("sk-test-key-0123456789"),
        )
        .unwrap();
        let r = client.probe(&base, Some("m")).await;
        assert!(!r.ok);
        assert_eq!(r.http_status, None);
        assert!(r.message.contains("cannot reach"), "{}", r.message);
        assert!(!r.message.contains("sk-test-key"), "{}", r.message);
    }
}
