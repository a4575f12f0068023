//! The API's error shape, `{"error": {"code", "message"}}`, with the right
//! status for every failure, and the JSON body extractor that turns serde's
//! complaints (unknown field, wrong type, missing field) into a 400 naming
//! the field.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use paddock_core::agent::AgentError;
use paddock_plugins::PluginError;
use paddock_store::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

/// An API failure.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable code.
    pub code: &'static str,
    /// What went wrong, for humans.
    pub message: String,
    /// Seconds after which a retry may succeed (`Retry-After`, with 503).
    pub retry_after: Option<u32>,
}

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// An error's code and message.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs: `invalid_request`, `not_found`, `unauthorized`,
    /// `forbidden`, `payload_too_large`, `conflict`, `internal`, …
    pub code: String,
    /// For humans.
    pub message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 503 `store_unavailable` with `Retry-After`: the database is away
    /// for now.
    pub fn store_unavailable(message: impl Into<String>) -> ApiError {
        let mut err = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            message,
        );
        err.retry_after = Some(STORE_RETRY_AFTER_SECS);
        err
    }

    /// 500; the details go to the log, not to the client.
    pub fn internal(context: &str, error: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(%error, "{context}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{context}; see the server log"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        resp
    }
}

/// How long a client should wait before retrying while the store is away.
pub const STORE_RETRY_AFTER_SECS: u32 = 5;

/// A store failure as the API reports it: 503 `store_unavailable` with
/// `Retry-After` while the database is away or cannot write (nothing is
/// lost: retry), else a 500 whose details go to the log.
pub fn store_error(context: &str, e: &StoreError) -> ApiError {
    if e.is_unavailable() {
        tracing::warn!(error = %e, "{context}: the store is unavailable");
        ApiError::store_unavailable(format!(
            "{context}: the database is unavailable for now; retry later"
        ))
    } else {
        ApiError::internal(context, e)
    }
}

impl From<AgentError> for ApiError {
    fn from(e: AgentError) -> ApiError {
        match e {
            AgentError::NotFound(_) => ApiError::not_found(e.to_string()),
            AgentError::Invalid(m) => ApiError::invalid(m),
            AgentError::Stopped(_) => {
                ApiError::new(StatusCode::CONFLICT, "agent_stopped", e.to_string())
            }
            AgentError::NoApproval { .. } => ApiError::not_found(e.to_string()),
            AgentError::Conflict(m) => ApiError::conflict(m),
            AgentError::Store(s) => s.into(),
            AgentError::WaitingForStore(_) => {
                ApiError::store_unavailable(format!("{e}; retry later"))
            }
            AgentError::QuotaExceeded(m) => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", m)
            }
            AgentError::HostUnavailable(m) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "host_unavailable", m)
            }
            AgentError::HandedOver(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "host_unavailable",
                format!("{e}: retry"),
            ),
        }
    }
}

impl From<paddock_core::policy::PolicyError> for ApiError {
    fn from(e: paddock_core::policy::PolicyError) -> ApiError {
        use paddock_core::policy::PolicyError;
        match e {
            PolicyError::Rule(_) | PolicyError::Invalid(_) => ApiError::invalid(e.to_string()),
            PolicyError::NotFound(_) => ApiError::not_found(e.to_string()),
            PolicyError::ReadOnly(_) => ApiError::conflict(e.to_string()),
            PolicyError::Store(s) => s.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        store_error("the store failed", &e)
    }
}

impl From<PluginError> for ApiError {
    fn from(e: PluginError) -> ApiError {
        match &e {
            PluginError::NotFound(_) => ApiError::not_found(e.to_string()),
            PluginError::Manifest(_) | PluginError::Install { .. } | PluginError::Invalid(_) => {
                ApiError::invalid(e.to_string())
            }
            PluginError::Tool(_) => ApiError::invalid(e.to_string()),
            PluginError::Registry(_) | PluginError::Engine(_) => {
                ApiError::internal("the plugin host failed", &e)
            }
        }
    }
}

/// A JSON body: unknown fields, wrong types and missing fields are a 400
/// naming the field; a body over the limit is a 413. The body is an object
/// (or `null`, for an optional one): serde would read a struct from an
/// array too. A number with no fraction (`3.0`) is the integer it equals,
/// as JSON Schema has it.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mut value = match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(v)) => v,
            Err(rejection) => return Err(json_rejection(rejection)),
        };
        if !(value.is_object() || value.is_null()) {
            return Err(ApiError::invalid(
                "invalid request body: the body must be a JSON object",
            ));
        }
        integral_floats_as_integers(&mut value);
        serde_path_to_error::deserialize(value)
            .map(ApiJson)
            .map_err(|e| {
                let path = e.path().to_string();
                if path == "." || path.contains('?') {
                    ApiError::invalid(format!("invalid request body: {}", e.inner()))
                } else {
                    ApiError::invalid(format!("invalid request body: {path}: {}", e.inner()))
                }
            })
    }
}

/// Turns every number with no fraction that an integer type can hold
/// (`3.0`, `-0.0`) into that integer, everywhere in `v`.
fn integral_floats_as_integers(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
            {
                // The casts saturate; the comparisons keep only exact ones.
                if f >= 0.0 && f < u64::MAX as f64 {
                    *v = Value::from(f as u64);
                } else if f < 0.0 && f >= i64::MIN as f64 {
                    *v = Value::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(map) => map.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

/// An optional JSON body: an empty body is `None`; any other is read as
/// [`ApiJson`] reads it.
impl<S: Send + Sync, T: DeserializeOwned> axum::extract::OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes =
            axum::body::Bytes::from_request(Request::from_parts(parts.clone(), body), state)
                .await
                .map_err(bytes_rejection)?;
        if bytes.is_empty() {
            return Ok(None);
        }
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        <ApiJson<T> as FromRequest<S>>::from_request(req, state)
            .await
            .map(Some)
    }
}

fn bytes_rejection(e: axum::extract::rejection::BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is over the size limit",
        )
    } else {
        ApiError::invalid(format!("cannot read the request body: {e}"))
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => {
            ApiError::invalid(format!("invalid request body: {}", source_text(&e)))
        }
        JsonRejection::JsonSyntaxError(e) => ApiError::invalid(format!(
            "request body is not valid JSON: {}",
            source_text(&e)
        )),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ),
        JsonRejection::BytesRejection(e) => bytes_rejection(e),
        other => ApiError::invalid(other.body_text()),
    }
}

/// The innermost message of an error chain (serde's words, which name the
/// field and the position).
fn source_text(e: &dyn std::error::Error) -> String {
    let mut inner: &dyn std::error::Error = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

/// A JSON object being taken apart field by field, for request bodies that
/// combine their own fields with those of another struct. serde's
/// `flatten` would do it but loses the field's name in type errors (and
/// does not support `deny_unknown_fields`); this names it.
pub struct Fields(serde_json::Map<String, serde_json::Value>);

impl Fields {
    /// Removes `key` and decodes it (absent or null: None).
    pub fn take<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>, String> {
        match self.0.remove(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => serde_path_to_error::deserialize(v).map(Some).map_err(|e| {
                let path = e.path().to_string();
                if path == "." || path.contains('?') {
                    format!("{key}: {}", e.inner())
                } else if path.starts_with('[') {
                    format!("{key}{path}: {}", e.inner())
                } else {
                    format!("{key}.{path}: {}", e.inner())
                }
            }),
        }
    }

    /// Removes `key`, which must be present.
    pub fn require<T: DeserializeOwned>(&mut self, key: &str) -> Result<T, String> {
        self.take(key)?
            .ok_or_else(|| format!("missing field `{key}`"))
    }

    /// Decodes the remaining fields as `T` (whose unknown fields, if it
    /// denies them, are errors naming them).
    pub fn rest<T: DeserializeOwned>(self) -> Result<T, String> {
        serde_path_to_error::deserialize(serde_json::Value::Object(self.0))
            .map_err(|e| e.to_string())
    }
}

impl TryFrom<serde_json::Value> for Fields {
    type Error = String;

    fn try_from(v: serde_json::Value) -> Result<Fields, String> {
        match v {
            serde_json::Value::Object(m) => Ok(Fields(m)),
            _ => Err("the body must be a JSON object".to_string()),
        }
    }
}

/// A time given in a query parameter: RFC 3339, or with `dates` also
/// `YYYY-MM-DD` (UTC midnight); the error names `field`. These times bound
/// searches, so one beyond the years the store can keep (1677 to 2262) is
/// taken as the nearest it can: nothing is stored before or after.
pub fn query_time(
    field: &str,
    text: &str,
    dates: bool,
) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
    let t = match DateTime::parse_from_rfc3339(text) {
        Ok(t) => t.with_timezone(&Utc),
        Err(e) => match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            Ok(d) if dates => Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN)),
            _ if dates => {
                return Err(ApiError::invalid(format!(
                    "{field}: `{text}` is not an RFC 3339 time or a YYYY-MM-DD date"
                )));
            }
            _ => {
                return Err(ApiError::invalid(format!(
                    "{field}: `{text}` is not an RFC 3339 time such as 2026-01-31T12:00:00Z ({e})"
                )));
            }
        },
    };
    Ok(storable(t))
}

/// The time the store can keep nearest to `t` (it keeps 1677 to 2262).
pub fn storable(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    let earliest = chrono::DateTime::from_timestamp_nanos(i64::MIN);
    let latest = chrono::DateTime::from_timestamp_nanos(i64::MAX);
    t.clamp(earliest, latest)
}

/// Query parameters with a 400 naming the bad parameter (unknown ones,
/// values of the wrong type).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        // serde_urlencoded's own errors do not say which parameter was bad.
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| ApiError::invalid(format!("invalid query string: {e}")))
    }
}

/// Path parameters with a 404/400 in the API's shape.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(ApiError::not_found(
                format!("no such resource: {}", e.body_text()),
            )),
            Err(other) => Err(ApiError::invalid(other.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_floats_read_as_integers() {
        let mut v = serde_json::json!({"a": 171.0, "b": [2.5, -3.0, 0.0], "c": {"d": 1e300}});
        integral_floats_as_integers(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a": 171, "b": [2.5, -3, 0], "c": {"d": 1e300}})
        );
        assert!(v["a"].is_u64() && v["b"][1].is_i64());
    }

    #[test]
    fn query_times_beyond_the_stores_years_are_clamped() {
        let far = query_time("since", "9999-12-31T23:59:59Z", false).unwrap();
        assert!(far.timestamp_nanos_opt().is_some(), "{far}");
        assert!(far.to_rfc3339().starts_with("2262-04-11"), "{far}");
        let early = query_time("from", "0001-01-01", true).unwrap();
        assert!(early.to_rfc3339().starts_with("1677-09-21"), "{early}");
        let now = query_time("to", "2026-01-31T12:00:00+01:00", false).unwrap();
        assert_eq!(now.to_rfc3339(), "2026-01-31T11:00:00+00:00");
        let e = query_time("since", "2026-01-31", false).unwrap_err();
        assert!(e.message.starts_with("since:"), "{}", e.message);
        let e = query_time("from", "yesterday", true).unwrap_err();
        assert!(e.message.starts_with("from:"), "{}", e.message);
    }
}
