//! The API in this process: the app assembled from the same options
//! `paddock serve` gives it (the data dir, the configuration with the tests'
//! workspace root, the staged built-in plugins, the shared component cache,
//! `mcpServers.json` if present) and its router called directly with
//! `tower::ServiceExt::oneshot`, without a listener or a child process. For
//! tests of what the routes answer; what only the binary does (start-up,
//! the listener, signals, the data dir's lock) stays with [`super::Server`].

use super::{ADMIN_TOKEN, Paddock, USER_TOKEN, paddock_bin, shared_cache_dir};
use axum::body::Body;
use paddock_api::app::{App, AppOptions};
use paddock_api::auth::Auth;
use std::path::{Path, PathBuf};
use tower::ServiceExt;

/// A response, read whole.
pub struct Response {
    pub status: u16,
    /// Its `Content-Type` ("" when none).
    pub content_type: String,
    pub body: String,
}

/// The app and its router.
pub struct Api {
    app: App,
    router: axum::Router,
}

/// Where `paddock serve` finds the built-in plugins: `plugins/` beside
/// the binary or one level up (`target/plugins`, staged by `make`).
fn builtin_plugins() -> Option<PathBuf> {
    let bin = paddock_bin();
    let dir = bin.parent()?;
    [dir.join("plugins"), dir.join("../plugins")]
        .into_iter()
        .find(|p| p.is_dir())
}

impl Api {
    /// Opens the app on `p`'s data dir with the configuration file
    /// `config`, as `paddock serve --workspace-root <temp dir> --config
    /// CONFIG` on loopback with the tests' tokens would.
    pub async fn open(p: &Paddock, config: &Path) -> Api {
        let mut config =
            paddock_core::config::Config::load(config).expect("the configuration loads");
        config.workspaces.roots = vec![std::env::temp_dir()];
        let app = App::open(AppOptions {
            data_dir: p.data_dir().to_path_buf(),
            config,
            builtin_plugins: builtin_plugins(),
            cache_dir: Some(shared_cache_dir()),
            load_agents: true,
            sandbox: None,
            unsafe_no_sandbox: false,
            mcp_config: Some(paddock_mcp::FileSource {
                path: PathBuf::from("mcpServers.json"),
                required: false,
            }),
            master_key_file: None,
        })
        .await
        .expect("the app opens");
        let auth = Auth::new(USER_TOKEN.into(), ADMIN_TOKEN.into(), true);
        let router = paddock_api::router(app.state(auth));
        Api { app, router }
    }

    /// `METHOD path` with `Authorization: Bearer <token>`, a `Host` on
    /// loopback, and `body` with its content type (none when `None`).
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<(&str, String)>,
    ) -> Response {
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, "127.0.0.1")
            .header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        let body = match body {
            Some((content_type, text)) => {
                req = req.header(http::header::CONTENT_TYPE, content_type);
                Body::from(text)
            }
            None => Body::empty(),
        };
        let req = req.body(body).expect("a request");
        let resp = self
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("the router answers");
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("the response body");
        Response {
            status,
            content_type,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// `GET path` with the user token; the body as JSON (it must be).
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.request("GET", path, USER_TOKEN, None).await;
        let v = serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {}", r.body));
        (r.status, v)
    }

    /// Shuts down as `paddock serve` does after its server stops.
    pub async fn close(self) {
        drop(self.router);
        self.app.sandbox.shutdown().await;
        self.app.mcp.shutdown().await;
        self.app.store.close().await;
    }
}
