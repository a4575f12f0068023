//! The MCP servers of a running Paddock: the file's and the API's, each
//! supervised by its own task (started lazily by the first agent that needs
//! it, or with the host when `eager`), restarted with backoff when it
//! crashes or hangs, with its health; and the MCP tools agents see.

use super::McpError;
use super::client::{self, ClientError, Handler, Notice};
use super::config::{self, ConfigError, Resolved, ServerSpec, TransportKind};
use paddock_plugins::PluginHost;
use paddock_plugins::adapter::{CallDecision, McpCall, McpTool};
use paddock_store::{DocKind, Store};
use rmcp::RoleClient;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// First wait before a restart; doubled per failure up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest wait between restarts.
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A connection that lived this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(60);
/// How long a server that timed a call out has to answer a ping before it
/// counts as hung and is restarted.
const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// Latencies kept for percentiles.
const LATENCY_WINDOW: usize = 1024;
/// Longest tool name models accept.
const MAX_TOOL_NAME: usize = 64;

/// Where a server's entry comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// `mcpServers.json` (read-only through the API).
    File,
    /// Added through the API (stored in the database).
    Api,
}

/// A server's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Not started yet (lazy servers wait for an agent that needs them).
    Idle,
    /// Connecting.
    Starting,
    /// Connected; its tools are known.
    Running,
    /// It failed; it will be restarted after a pause.
    Backoff,
    /// Its entry is invalid; it cannot start until fixed.
    Invalid,
    /// `disabled` in its entry.
    Disabled,
}

/// A tool of an MCP server as agents see it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ExposedTool {
    /// The name agents call: `<server>__<tool>`.
    pub name: String,
    /// The server.
    pub server: String,
    /// The tool's name as shown (after adapters).
    pub tool: String,
    /// Its description.
    pub description: String,
    /// Its input JSON Schema.
    pub input_schema: serde_json::Value,
    /// The server's `readOnlyHint`.
    pub read_only: bool,
}

/// Calls and latencies of one server.
#[derive(Default)]
struct Stats {
    ok: u64,
    failed: u64,
    latencies: VecDeque<f64>,
}

impl Stats {
    fn record(&mut self, ok: bool, ms: f64) {
        if ok {
            self.ok += 1;
        } else {
            self.failed += 1;
        }
        if self.latencies.len() == LATENCY_WINDOW {
            self.latencies.pop_front();
        }
        self.latencies.push_back(ms);
    }

    fn percentile(&self, p: f64) -> Option<f64> {
        if self.latencies.is_empty() {
            return None;
        }
        let mut v: Vec<f64> = self.latencies.iter().copied().collect();
        v.sort_by(f64::total_cmp);
        let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        Some((v[i] * 1000.0).round() / 1000.0)
    }
}

/// A server's health, for `GET /api/metrics/mcp-health` and the listings.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Its state.
    pub state: State,
    /// The last failure, if any (cleared by nothing: it stays as history).
    pub last_error: Option<String>,
    /// Restarts after failures.
    pub restarts: u32,
    /// Calls that returned a result (including results flagged `isError`).
    pub calls_ok: u64,
    /// Calls that failed (timeouts, transport errors, protocol errors).
    pub calls_failed: u64,
    /// Median call latency, ms (of the last 1024 calls).
    pub latency_p50_ms: Option<f64>,
    /// 99th-percentile call latency, ms.
    pub latency_p99_ms: Option<f64>,
    /// Tools it currently offers (after adapters).
    pub tools: usize,
    /// When it last finished starting.
    pub running_since: Option<chrono::DateTime<chrono::Utc>>,
}

struct Inner {
    state: State,
    peer: Option<rmcp::Peer<RoleClient>>,
    tools: Vec<ExposedTool>,
    /// Exposed tool name → the server's own tool name.
    originals: HashMap<String, String>,
    last_error: Option<String>,
    restarts: u32,
    supervised: bool,
    running_since: Option<chrono::DateTime<chrono::Utc>>,
    stats: Stats,
}

/// One configured server.
pub struct Server {
    name: String,
    source: Source,
    spec: ServerSpec,
    resolved: Result<Resolved, ConfigError>,
    inner: Mutex<Inner>,
    /// Bumped on every state change, so waiters wake.
    changed: watch::Sender<u64>,
    /// Ends its supervisor.
    shutdown: CancellationToken,
    /// Asks its supervisor to restart the connection (a hung server).
    restart: tokio::sync::Notify,
}

/// A server's listing.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ServerView {
    /// Its name.
    pub name: String,
    /// Where its entry comes from.
    pub source: Source,
    /// Its transport, when the entry says.
    pub transport: Option<TransportKind>,
    /// Its entry as written (`${VAR}` references unexpanded; literal `env`
    /// and `headers` values hidden).
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// Why its entry is invalid, if it is.
    pub config_error: Option<String>,
    /// Its health.
    pub health: Health,
    /// Its tools as agents see them (known once it has run).
    pub tools: Vec<ExposedTool>,
}

/// The outcome of `test`: a fresh connection, its tools and timings.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TestReport {
    /// The server.
    pub name: String,
    /// Whether it connected and listed its tools.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
    /// Time to start and initialise, ms.
    pub connect_ms: Option<f64>,
    /// Time to list its tools, ms.
    pub list_ms: Option<f64>,
    /// One `ping` round trip, ms.
    pub ping_ms: Option<f64>,
    /// Its tools (the server's own names).
    pub tools: Vec<String>,
}

/// What a tool call produced.
#[derive(Clone, Debug, PartialEq)]
pub struct CallOutcome {
    /// The server flagged the result as an error (`isError`).
    pub is_error: bool,
    /// The result as text for the model.
    pub text: String,
}

/// Where `mcpServers.json` is.
#[derive(Clone, Debug)]
pub struct FileSource {
    /// Its path.
    pub path: PathBuf,
    /// Named explicitly (a missing file is then an error).
    pub required: bool,
}

/// Every configured server.
pub struct McpManager {
    servers: RwLock<BTreeMap<String, Arc<Server>>>,
    store: Option<Store>,
    plugins: Option<Arc<PluginHost>>,
}

fn now_ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// One `ping` round trip (at most [`PING_TIMEOUT`]), ms; or why not.
async fn ping(peer: &rmcp::Peer<RoleClient>) -> Result<f64, String> {
    let started = Instant::now();
    let request = peer.send_request(rmcp::model::ClientRequest::PingRequest(
        rmcp::model::PingRequest::default(),
    ));
    match tokio::time::timeout(PING_TIMEOUT, request).await {
        Ok(Ok(_)) => Ok(now_ms(started)),
        Ok(Err(e)) => Err(format!("ping failed: {e}")),
        Err(_) => Err(format!("ping got no answer within {PING_TIMEOUT:?}")),
    }
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Server {
    fn new(name: String, source: Source, spec: Result<ServerSpec, ConfigError>) -> Arc<Server> {
        let (spec, resolved) = match spec {
            Ok(spec) => {
                let resolved = spec.resolve(&name, &env_lookup);
                (spec, resolved)
            }
            Err(e) => (ServerSpec::default(), Err(e)),
        };
        let state = match &resolved {
            Err(_) => State::Invalid,
            Ok(_) if spec.disabled => State::Disabled,
            Ok(_) => State::Idle,
        };
        let last_error = resolved.as_ref().err().map(ToString::to_string);
        Arc::new(Server {
            name,
            source,
            spec,
            resolved,
            inner: Mutex::new(Inner {
                state,
                peer: None,
                tools: Vec::new(),
                originals: HashMap::new(),
                last_error,
                restarts: 0,
                supervised: false,
                running_since: None,
                stats: Stats::default(),
            }),
            changed: watch::channel(0).0,
            shutdown: CancellationToken::new(),
            restart: tokio::sync::Notify::new(),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let out = f(&mut g);
        drop(g);
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
        out
    }

    fn read<T>(&self, f: impl FnOnce(&Inner) -> T) -> T {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&g)
    }

    fn health(&self) -> Health {
        self.read(|i| Health {
            state: i.state,
            last_error: i.last_error.clone(),
            restarts: i.restarts,
            calls_ok: i.stats.ok,
            calls_failed: i.stats.failed,
            latency_p50_ms: i.stats.percentile(0.5),
            latency_p99_ms: i.stats.percentile(0.99),
            tools: i.tools.len(),
            running_since: i.running_since,
        })
    }

    fn view(&self) -> ServerView {
        ServerView {
            name: self.name.clone(),
            source: self.source,
            transport: self.spec.kind(),
            config: masked(&self.spec),
            config_error: self.resolved.as_ref().err().map(ToString::to_string),
            health: self.health(),
            tools: self.read(|i| i.tools.clone()),
        }
    }

    fn unavailable(&self, reason: impl Into<String>) -> McpError {
        McpError::Unavailable {
            server: self.name.clone(),
            reason: reason.into(),
        }
    }
}

/// The entry for display: literal `env`/`headers` values (which may be
/// secrets) hidden; `${VAR}` references shown.
fn masked(spec: &ServerSpec) -> serde_json::Value {
    let mut spec = spec.clone();
    let hide = |v: &mut String| {
        let t = v.trim();
        let is_ref =
            t.starts_with("${") && t.ends_with('}') && t[2..].find('}') == Some(t.len() - 3);
        if !is_ref && !v.is_empty() {
            *v = "[hidden]".to_string();
        }
    };
    spec.env.values_mut().for_each(hide);
    spec.headers.values_mut().for_each(hide);
    serde_json::to_value(&spec).unwrap_or_default()
}

/// A tool name models accept: `[A-Za-z0-9_-]`, at most 64 characters.
fn exposed_name(server: &str, tool: &str) -> String {
    let mut name: String = format!("{server}__{tool}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    name.truncate(MAX_TOOL_NAME);
    name
}

impl McpManager {
    /// The servers of the file (if any) and of the store (if any). A broken
    /// file is an error; a broken entry is a server in state `invalid`.
    pub async fn open(
        file: Option<&FileSource>,
        store: Option<Store>,
        plugins: Option<Arc<PluginHost>>,
    ) -> Result<Arc<McpManager>, McpError> {
        let mut servers = BTreeMap::new();
        if let Some(f) = file {
            for (name, spec) in config::load(&f.path, f.required)? {
                servers.insert(name.clone(), Server::new(name, Source::File, spec));
            }
        }
        if let Some(store) = &store {
            for doc in store.list_docs(DocKind::McpServer).await? {
                if servers.contains_key(&doc.name) {
                    tracing::warn!(server = %doc.name, "an MCP server added through the API has the name of one in mcpServers.json; the file's is used");
                    continue;
                }
                let spec = ServerSpec::from_value(&doc.name, &doc.body);
                servers.insert(doc.name.clone(), Server::new(doc.name, Source::Api, spec));
            }
        }
        for (name, s) in &servers {
            if let Some(e) = s.read(|i| i.last_error.clone()) {
                tracing::warn!(server = %name, error = %e, "MCP server cannot start");
            }
        }
        Ok(Arc::new(McpManager {
            servers: RwLock::new(servers),
            store,
            plugins,
        }))
    }

    /// Starts the `eager` servers in the background (a host does; the CLI's
    /// `mcp list`/`test` do not).
    pub fn start_eager(self: &Arc<Self>) {
        for s in self.all() {
            if s.resolved.as_ref().is_ok_and(|r| r.eager) && !s.spec.disabled {
                self.ensure_started(&s);
            }
        }
    }

    fn all(&self) -> Vec<Arc<Server>> {
        self.servers
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    fn get(&self, name: &str) -> Result<Arc<Server>, McpError> {
        self.servers
            .read()
            .ok()
            .and_then(|m| m.get(name).cloned())
            .ok_or_else(|| McpError::UnknownServer(name.to_string()))
    }

    /// Whether a server of this name is configured.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_ok()
    }

    /// Every server, by name.
    pub fn list(&self) -> Vec<ServerView> {
        self.all().iter().map(|s| s.view()).collect()
    }

    /// One server.
    pub fn view(&self, name: &str) -> Result<ServerView, McpError> {
        Ok(self.get(name)?.view())
    }

    /// Health of every server, by name.
    pub fn health(&self) -> BTreeMap<String, Health> {
        self.all()
            .iter()
            .map(|s| (s.name.clone(), s.health()))
            .collect()
    }

    /// Values that the entries' `${VAR}` references expanded to: secrets
    /// for the redactor.
    pub fn secret_values(&self) -> Vec<String> {
        self.all()
            .iter()
            .filter_map(|s| s.resolved.as_ref().ok())
            .flat_map(|r| r.expanded_values.clone())
            .collect()
    }

    /// Adds a server through the API (stored; the name must be new).
    pub async fn add(
        self: &Arc<Self>,
        name: &str,
        spec: ServerSpec,
    ) -> Result<ServerView, McpError> {
        config::check_name(name).map_err(|reason| {
            McpError::Config(ConfigError::Server {
                server: name.to_string(),
                reason,
            })
        })?;
        spec.resolve(name, &env_lookup)?;
        if let Ok(existing) = self.get(name) {
            return Err(McpError::Exists {
                name: name.to_string(),
                from: existing.source,
            });
        }
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| McpError::Internal("no store to keep API servers in".into()))?;
        let body = serde_json::to_value(&spec).map_err(|e| McpError::Internal(e.to_string()))?;
        store.put_doc(DocKind::McpServer, name, &body).await?;
        let server = Server::new(name.to_string(), Source::Api, Ok(spec));
        let eager = server.resolved.as_ref().is_ok_and(|r| r.eager) && !server.spec.disabled;
        if let Ok(mut m) = self.servers.write() {
            m.insert(name.to_string(), server.clone());
        }
        if eager {
            self.ensure_started(&server);
        }
        Ok(server.view())
    }

    /// Removes a server added through the API (its connection is closed).
    pub async fn remove(&self, name: &str) -> Result<(), McpError> {
        let server = self.get(name)?;
        if server.source == Source::File {
            return Err(McpError::ReadOnly(name.to_string()));
        }
        if let Some(store) = &self.store {
            store.delete_doc(DocKind::McpServer, name).await?;
        }
        if let Ok(mut m) = self.servers.write() {
            m.remove(name);
        }
        server.shutdown.cancel();
        Ok(())
    }

    /// Closes every connection (children are stopped).
    pub async fn shutdown(&self) {
        let servers = self.all();
        for s in &servers {
            s.shutdown.cancel();
        }
        // Give the supervisors a moment to close their connections cleanly.
        let deadline = Instant::now() + Duration::from_secs(3);
        for s in servers {
            let mut rx = s.changed.subscribe();
            while s.read(|i| i.supervised) && Instant::now() < deadline {
                let _ = tokio::time::timeout(Duration::from_millis(100), rx.changed()).await;
            }
        }
    }

    /// Starts the server's supervisor unless it runs (or cannot run).
    fn ensure_started(self: &Arc<Self>, server: &Arc<Server>) {
        let Ok(resolved) = server.resolved.clone() else {
            return;
        };
        if server.spec.disabled {
            return;
        }
        let start = server.with(|i| {
            if i.supervised {
                false
            } else {
                i.supervised = true;
                i.state = State::Starting;
                true
            }
        });
        if start {
            let me = self.clone();
            let server = server.clone();
            let span = tracing::info_span!("mcp_server", server = %server.name);
            tokio::spawn(
                async move {
                    me.supervise(&server, &resolved).await;
                    server.with(|i| {
                        i.supervised = false;
                        i.peer = None;
                        i.state = State::Idle;
                    });
                }
                .instrument(span),
            );
        }
    }

    /// Keeps one server connected until shutdown: connect, list tools, wait
    /// for the connection to end (crash, hang, close), back off, again.
    async fn supervise(&self, server: &Arc<Server>, resolved: &Resolved) {
        let mut backoff = BACKOFF_MIN;
        loop {
            server.with(|i| i.state = State::Starting);
            let (ntx, mut nrx) = tokio::sync::mpsc::unbounded_channel();
            let handler = Handler::new(&server.name, ntx);
            let connected = tokio::select! {
                c = client::connect(&server.name, &resolved.transport, handler, resolved.startup_timeout) => c,
                () = server.shutdown.cancelled() => return,
            };
            let mut lived = Duration::ZERO;
            match connected {
                Err(e) => {
                    tracing::warn!(server = %server.name, error = %e, "MCP server failed to start");
                    server.with(|i| i.last_error = Some(format!("start-up failed: {e}")));
                }
                Ok(conn) => {
                    let since = Instant::now();
                    let peer = conn.service.peer().clone();
                    match self.list_tools(server, resolved, &peer).await {
                        Err(e) => {
                            tracing::warn!(server = %server.name, error = %e, "MCP server's tools could not be listed");
                            server.with(|i| i.last_error = Some(e.to_string()));
                            let mut service = conn.service;
                            let _ = service.close().await;
                        }
                        Ok((tools, originals)) => {
                            tracing::info!(server = %server.name, tools = tools.len(), "MCP server running");
                            server.with(|i| {
                                i.state = State::Running;
                                i.peer = Some(peer.clone());
                                i.tools = tools;
                                i.originals = originals;
                                i.running_since = Some(chrono::Utc::now());
                            });
                            let ct = conn.service.cancellation_token();
                            let waiting = conn.service.waiting();
                            tokio::pin!(waiting);
                            let why = loop {
                                tokio::select! {
                                    _ = &mut waiting => break format!("the connection closed{}", conn.stderr.explain()),
                                    Some(Notice::ToolsChanged) = nrx.recv() => {
                                        match self.list_tools(server, resolved, &peer).await {
                                            Ok((tools, originals)) => server.with(|i| {
                                                i.tools = tools;
                                                i.originals = originals;
                                            }),
                                            Err(e) => tracing::warn!(server = %server.name, error = %e, "cannot refresh the tool list"),
                                        }
                                    }
                                    () = server.restart.notified() => {
                                        ct.cancel();
                                        let _ = (&mut waiting).await;
                                        break "it stopped answering (a call timed out and a ping got no answer); restarted".to_string();
                                    }
                                    () = server.shutdown.cancelled() => {
                                        ct.cancel();
                                        let _ = (&mut waiting).await;
                                        return;
                                    }
                                }
                            };
                            tracing::warn!(server = %server.name, reason = %why, "MCP server stopped");
                            server.with(|i| {
                                i.peer = None;
                                i.last_error = Some(why);
                            });
                            lived = since.elapsed();
                        }
                    }
                }
            }
            if lived >= STABLE_AFTER {
                backoff = BACKOFF_MIN;
            }
            server.with(|i| {
                i.state = State::Backoff;
                i.restarts += 1;
            });
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = server.shutdown.cancelled() => return,
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// The server's tools through its adapters, with the map back to the
    /// server's names.
    async fn list_tools(
        &self,
        server: &Server,
        resolved: &Resolved,
        peer: &rmcp::Peer<RoleClient>,
    ) -> Result<(Vec<ExposedTool>, HashMap<String, String>), McpError> {
        let listed = tokio::time::timeout(resolved.startup_timeout, peer.list_all_tools())
            .await
            .map_err(|_| server.unavailable("listing its tools timed out"))?
            .map_err(|e| McpError::Client {
                server: server.name.clone(),
                error: client::service_error(e),
            })?;
        let mut read_only = HashMap::new();
        // (shown name, server's name, tool)
        let mut tools: Vec<(String, McpTool)> = listed
            .into_iter()
            .map(|t| {
                let ro = t
                    .annotations
                    .as_ref()
                    .and_then(|a| a.read_only_hint)
                    .unwrap_or(false);
                read_only.insert(t.name.to_string(), ro);
                (
                    t.name.to_string(),
                    McpTool {
                        name: t.name.to_string(),
                        description: t.description.as_deref().unwrap_or_default().to_string(),
                        input_schema: serde_json::Value::Object((*t.input_schema).clone()),
                    },
                )
            })
            .collect();
        for adapter in self.adapters_of(server, resolved)? {
            let plugins = self.plugin_host()?;
            let input: Vec<McpTool> = tools.iter().map(|(_, t)| t.clone()).collect();
            let by_name: HashMap<String, String> = tools
                .iter()
                .map(|(orig, t)| (t.name.clone(), orig.clone()))
                .collect();
            let shown = plugins
                .adapter_list_tools(&adapter, &server.name, input)
                .await
                .map_err(|e| McpError::Adapter {
                    adapter: adapter.clone(),
                    reason: e.to_string(),
                })?;
            tools = shown
                .into_iter()
                .filter_map(|s| by_name.get(&s.original).map(|orig| (orig.clone(), s.tool)))
                .collect();
        }
        let mut exposed = Vec::new();
        let mut originals = HashMap::new();
        for (orig, t) in tools {
            let name = exposed_name(&server.name, &t.name);
            if originals.contains_key(&name) {
                tracing::warn!(server = %server.name, tool = %t.name, "two tools get the same name; the second is hidden");
                continue;
            }
            originals.insert(name.clone(), orig.clone());
            exposed.push(ExposedTool {
                name,
                server: server.name.clone(),
                tool: t.name,
                description: t.description,
                input_schema: t.input_schema,
                read_only: read_only.get(&orig).copied().unwrap_or(false),
            });
        }
        exposed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok((exposed, originals))
    }

    fn plugin_host(&self) -> Result<&Arc<PluginHost>, McpError> {
        self.plugins
            .as_ref()
            .ok_or_else(|| McpError::Internal("adapters need the plugin host".into()))
    }

    /// The adapters a server's traffic goes through: the named ones (each
    /// must be installed and enabled), or the default ones that are.
    fn adapters_of(&self, server: &Server, resolved: &Resolved) -> Result<Vec<String>, McpError> {
        let available = match &self.plugins {
            Some(p) => p
                .enabled_of(paddock_plugins::World::McpAdapter)
                .map_err(|e| McpError::Internal(e.to_string()))?,
            None => Vec::new(),
        };
        if resolved.default_adapters {
            return Ok(resolved
                .adapters
                .iter()
                .filter(|a| available.contains(a))
                .cloned()
                .collect());
        }
        for a in &resolved.adapters {
            if !available.contains(a) {
                return Err(McpError::Adapter {
                    adapter: a.clone(),
                    reason: format!(
                        "named by MCP server `{}` but not installed as an enabled mcp-adapter plugin",
                        server.name
                    ),
                });
            }
        }
        Ok(resolved.adapters.clone())
    }

    /// Waits (at most its start-up timeout) until the server runs; its peer.
    async fn running(
        self: &Arc<Self>,
        server: &Arc<Server>,
    ) -> Result<rmcp::Peer<RoleClient>, McpError> {
        let resolved = server
            .resolved
            .as_ref()
            .map_err(|e| server.unavailable(e.to_string()))?;
        if server.spec.disabled {
            return Err(server.unavailable("it is disabled in its entry"));
        }
        self.ensure_started(server);
        let mut rx = server.changed.subscribe();
        let deadline = tokio::time::Instant::now() + resolved.startup_timeout;
        loop {
            let (state, peer, err) =
                server.read(|i| (i.state, i.peer.clone(), i.last_error.clone()));
            match (state, peer) {
                (State::Running, Some(p)) => return Ok(p),
                (State::Backoff | State::Idle, _) => {
                    return Err(server.unavailable(format!(
                        "it is not running ({}); it is restarted automatically",
                        err.unwrap_or_else(|| "not started".into())
                    )));
                }
                _ => {}
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return Err(server.unavailable(format!(
                    "it is still starting after {:?}",
                    resolved.startup_timeout
                )));
            }
        }
    }

    /// The tools of these servers, starting those not running and waiting
    /// for each at most its start-up timeout (concurrently). Servers that
    /// fail contribute no tools; calling one of theirs explains why.
    pub async fn tools_for(self: &Arc<Self>, servers: &[String]) -> Vec<ExposedTool> {
        let waits = servers.iter().filter_map(|name| self.get(name).ok()).map(|s| {
            let me = self.clone();
            async move {
                match me.running(&s).await {
                    Ok(_) => s.read(|i| i.tools.clone()),
                    Err(e) => {
                        tracing::warn!(server = %s.name, error = %e, "MCP server's tools unavailable");
                        Vec::new()
                    }
                }
            }
        });
        let mut tools: Vec<ExposedTool> = futures::future::join_all(waits).await.concat();
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        tools
    }

    /// The known tool of this exposed name (`<server>__<tool>`), if its
    /// server has listed it.
    pub fn find_tool(&self, exposed: &str) -> Option<ExposedTool> {
        let (server, _) = exposed.split_once("__")?;
        let s = self.get(server).ok()?;
        s.read(|i| i.tools.iter().find(|t| t.name == exposed).cloned())
    }

    /// Calls an exposed tool through the server's adapters; `cancel` (an
    /// agent's interrupt) cancels it at the server.
    pub async fn call(
        self: &Arc<Self>,
        exposed: &str,
        arguments: serde_json::Value,
        cancel: &CancellationToken,
    ) -> Result<CallOutcome, McpError> {
        let (server_name, _) = exposed
            .split_once("__")
            .ok_or_else(|| McpError::UnknownTool(exposed.to_string()))?;
        let server = self.get(server_name)?;
        let resolved = server
            .resolved
            .clone()
            .map_err(|e| server.unavailable(e.to_string()))?;
        let peer = self.running(&server).await?;
        let (shown, original) = server
            .read(|i| {
                let shown = i.tools.iter().find(|t| t.name == exposed)?.tool.clone();
                Some((shown, i.originals.get(exposed)?.clone()))
            })
            .ok_or_else(|| McpError::UnknownTool(exposed.to_string()))?;
        let adapters = self.adapters_of(&server, &resolved)?;
        // Outermost adapter first: each may refuse or rewrite.
        let mut call = McpCall {
            server: server.name.clone(),
            tool: shown.clone(),
            arguments,
        };
        let mut seen = Vec::with_capacity(adapters.len());
        for adapter in adapters.iter().rev() {
            let decision = self
                .plugin_host()?
                .adapter_on_call(adapter, &call)
                .await
                .map_err(|e| McpError::Adapter {
                    adapter: adapter.clone(),
                    reason: e.to_string(),
                })?;
            match decision {
                CallDecision::Refuse(reason) => {
                    return Err(McpError::Refused {
                        adapter: adapter.clone(),
                        reason,
                    });
                }
                CallDecision::Forward(next) => {
                    seen.push((adapter.clone(), call.clone()));
                    call = next;
                }
            }
        }
        // An adapter that renamed a tool in its listing may leave routing
        // the call back to the host.
        let tool = if call.tool == shown {
            original
        } else {
            call.tool.clone()
        };
        let arguments = match call.arguments {
            serde_json::Value::Object(m) => m,
            _ => {
                return Err(McpError::Internal(
                    "the call's arguments are not a JSON object".into(),
                ));
            }
        };
        let started = Instant::now();
        let result =
            client::call_tool(&peer, &tool, arguments, resolved.tool_timeout, cancel).await;
        let ms = now_ms(started);
        let mut result = match result {
            Ok(r) => {
                server.with(|i| i.stats.record(true, ms));
                r
            }
            Err(error) => {
                server.with(|i| i.stats.record(false, ms));
                if matches!(error, ClientError::CallTimeout(_)) {
                    self.check_hung(&server, &peer);
                }
                return Err(McpError::Client {
                    server: server.name.clone(),
                    error,
                });
            }
        };
        // Innermost adapter first on the way back.
        for (adapter, seen_call) in seen.iter().rev() {
            result = self
                .plugin_host()?
                .adapter_on_result(adapter, seen_call, result)
                .await
                .map_err(|e| McpError::Adapter {
                    adapter: adapter.clone(),
                    reason: format!("{e}; the result was withheld"),
                })?;
        }
        let (is_error, text) = client::result_text(&result);
        Ok(CallOutcome { is_error, text })
    }

    /// After a timed-out call: a server that does not answer a ping either
    /// is hung and gets restarted.
    fn check_hung(&self, server: &Arc<Server>, peer: &rmcp::Peer<RoleClient>) {
        let server = server.clone();
        let peer = peer.clone();
        tokio::spawn(async move {
            if ping(&peer).await.is_err() {
                tracing::warn!(server = %server.name, "MCP server does not answer a ping; restarting it");
                server.restart.notify_one();
            }
        });
    }

    /// Connects afresh (beside any supervised connection), lists the tools
    /// and pings once; reports timings and errors. Never fails: a failure
    /// is the report.
    pub async fn test(&self, name: &str) -> Result<TestReport, McpError> {
        let server = self.get(name)?;
        let mut report = TestReport {
            name: name.to_string(),
            ok: false,
            error: None,
            connect_ms: None,
            list_ms: None,
            ping_ms: None,
            tools: Vec::new(),
        };
        let resolved = match &server.resolved {
            Ok(r) => r.clone(),
            Err(e) => {
                report.error = Some(e.to_string());
                return Ok(report);
            }
        };
        let (ntx, _nrx) = tokio::sync::mpsc::unbounded_channel();
        let started = Instant::now();
        let conn = match client::connect(
            name,
            &resolved.transport,
            Handler::new(name, ntx),
            resolved.startup_timeout,
        )
        .await
        {
            Ok(c) => c,
            Err(e) => {
                report.error = Some(e.to_string());
                return Ok(report);
            }
        };
        report.connect_ms = Some(now_ms(started));
        let started = Instant::now();
        match tokio::time::timeout(resolved.startup_timeout, conn.service.list_all_tools()).await {
            Ok(Ok(tools)) => {
                report.list_ms = Some(now_ms(started));
                report.tools = tools.iter().map(|t| t.name.to_string()).collect();
                report.tools.sort();
                match ping(conn.service.peer()).await {
                    Ok(ms) => {
                        report.ping_ms = Some(ms);
                        report.ok = true;
                    }
                    Err(e) => report.error = Some(e),
                }
            }
            Ok(Err(e)) => {
                report.error = Some(format!(
                    "listing tools failed: {}",
                    client::service_error(e)
                ))
            }
            Err(_) => report.error = Some("listing tools timed out".into()),
        }
        let mut service = conn.service;
        let _ = tokio::time::timeout(Duration::from_secs(5), service.close()).await;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposed_names_fit_models() {
        assert_eq!(exposed_name("git", "git_status"), "git__git_status");
        assert_eq!(exposed_name("web", "fetch.page v2"), "web__fetch_page_v2");
        assert_eq!(exposed_name("s", &"x".repeat(100)).len(), MAX_TOOL_NAME);
    }

    #[test]
    fn percentiles() {
        let mut s = Stats::default();
        assert_eq!(s.percentile(0.5), None);
        for i in 1..=100 {
            s.record(i % 10 != 0, i as f64);
        }
        assert_eq!(s.percentile(0.5), Some(50.0));
        assert_eq!(s.percentile(0.99), Some(99.0));
        assert_eq!((s.ok, s.failed), (90, 10));
    }

    #[test]
    fn literal_secrets_are_hidden_in_views() {
        let spec: ServerSpec = serde_json::from_str(
            r#"{"command": "x", "env": {"A": "${TOKEN}", "B": "literal-secret", "C": "${X}-${Y}"},
                "args": ["keep"]}"#,
        )
        .unwrap();
        let v = masked(&spec);
        assert_eq!(v["env"]["A"], "${TOKEN}");
        assert_eq!(v["env"]["B"], "[hidden]");
        assert_eq!(v["env"]["C"], "[hidden]");
        assert_eq!(v["args"][0], "keep");
    }
}
