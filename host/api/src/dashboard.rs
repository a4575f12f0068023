//! The web dashboard (`dashboard/`, built by Vite into `dashboard/dist`),
//! served at `/`. Release builds embed the files into the binary, so
//! `paddock serve` alone serves it; debug builds read them from
//! `dashboard/dist` at run time, so a rebuilt dashboard needs no recompile.
//!
//! Any path outside `/api` and `/metrics` that is not a file gets
//! `index.html`: the dashboard routes in the browser. Hashed assets are
//! cached for a year, `index.html` never; every response carries a strict
//! content security policy.

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

/// The built dashboard.
#[derive(RustEmbed)]
#[folder = "../../dashboard/dist"]
#[allow_missing = true]
struct Assets;

/// What the page may load: only this origin (the API and its WebSocket);
/// inline styles for the chart and terminal libraries; no frames.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Shown when the binary was built before the dashboard was.
const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
    <title>Paddock</title></head><body><main><h1>Paddock</h1>\
    <p>The dashboard was not built into this binary. Run <code>make build</code> \
    (or <code>npm --prefix dashboard ci &amp;&amp; npm --prefix dashboard run build</code>) \
    and start Paddock again. The API is served under <code>/api</code>.</p></main></body></html>";

fn security_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

fn file_response(path: &str, file: rust_embed::EmbeddedFile) -> Response {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let cache = if path.starts_with("assets/") {
        // Vite names them by content hash.
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut resp = (StatusCode::OK, file.data.into_owned()).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    security_headers(h);
    resp
}

/// `GET` of anything that is not an API route.
pub async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if let Some(file) = (!path.is_empty()).then(|| Assets::get(path)).flatten() {
        return file_response(path, file);
    }
    // A missing asset is a 404, not the page: a stale index.html asking for
    // an old bundle must not get HTML back as JavaScript.
    if path.starts_with("assets/") {
        return super::not_found().await.into_response();
    }
    match Assets::get("index.html") {
        Some(index) => file_response("index.html", index),
        None => {
            let mut resp = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                NOT_BUILT,
            )
                .into_response();
            security_headers(resp.headers_mut());
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_paths_get_the_page_and_missing_assets_a_404() {
        let page = serve(Uri::from_static("/agents/123")).await;
        assert_eq!(page.status(), StatusCode::OK);
        assert!(
            page.headers()
                .get(header::CONTENT_SECURITY_POLICY)
                .is_some()
        );
        let ctype = page.headers().get(header::CONTENT_TYPE).cloned();
        assert!(
            ctype
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/html")),
            "{ctype:?}"
        );
        let missing = serve(Uri::from_static("/assets/gone-0000.js")).await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }
}
