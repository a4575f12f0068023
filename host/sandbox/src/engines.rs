//! The Docker backend's pool of container engines: which engines there are
//! (`[[sandbox.engines]]`, or `[sandbox] docker_host` as a pool of one),
//! the client of each (`unix://`, `tcp://` with TLS client certificates,
//! `ssh://`), their health (checked when a command on one fails, when a
//! sandbox is placed, and every [`HEALTH_EVERY`]), where an agent's sandbox
//! goes (the least-loaded healthy engine with room that has the image,
//! remembered per agent), where an engine's machine sees the host's paths
//! (`path_map`) and the read-only summary the API shows ([`EngineStatus`]).
//!
//! The workspace reaches a remote engine through a shared file system (the
//! engine's machine mounts the same directories, at the same or a mapped
//! path); nothing is copied. A remote engine's sandboxes run each command
//! as an engine `exec` (the command server's unix socket lives on the
//! host, which a remote container cannot reach).

use crate::SandboxError;
use crate::config::{EngineConfig, EngineTls, PathMapping, SandboxConfig};
use bollard::errors::Error as DockerError;
use bollard::{API_DEFAULT_VERSION, Docker};
use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use tracing::{info, warn};

/// How often every engine is pinged.
pub const HEALTH_EVERY: Duration = Duration::from_secs(10);
/// How long a health check waits for an engine.
pub const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// The least a remote engine is given to answer at start (a TLS or SSH
/// handshake and the version negotiation, over a network).
const REMOTE_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long placing a sandbox waits for an engine to say whether it has
/// the image.
const PLACE_TIMEOUT: Duration = Duration::from_secs(10);
/// The request timeout of every client, in seconds (bollard's default).
const CLIENT_TIMEOUT_SECS: u64 = 120;
/// The oldest Docker API version the backend needs (`init`, tmpfs options).
pub const MIN_API: (usize, usize) = (1, 25);

/// The Docker API address used when neither the config nor `DOCKER_HOST`
/// names one.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// The Docker API address for this configuration: `sandbox.docker_host`,
/// else `DOCKER_HOST`, else [`DEFAULT_DOCKER_HOST`]. A bare absolute path
/// means a unix socket.
pub fn docker_endpoint(config: &SandboxConfig) -> String {
    let configured = config
        .docker_host
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .or_else(|| {
            std::env::var("DOCKER_HOST")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_string());
    if configured.starts_with('/') {
        format!("unix://{configured}")
    } else {
        configured
    }
}

/// How an engine is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineAddress {
    /// `[sandbox] docker_host` (or `DOCKER_HOST`, or the default socket), as
    /// the Docker CLI reads it (`DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`
    /// apply to a `tcp://` one).
    Host(String),
    /// A unix socket on this machine.
    Unix(PathBuf),
    /// TCP with TLS client certificates (`host:port`).
    Tcp {
        /// `host:port`.
        authority: String,
        /// The certificates.
        tls: EngineTls,
    },
    /// SSH to `[user@]host` (a port goes in the ssh configuration), where
    /// `docker system dial-stdio` runs.
    Ssh {
        /// `[user@]host`.
        authority: String,
        /// The private key, if not ssh's default.
        key: Option<PathBuf>,
    },
}

/// One engine as configured, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineSpec {
    /// The config field it came from, for messages
    /// (`sandbox.engines[1]`, `sandbox.docker_host`).
    pub field: String,
    /// Its address as shown (no credentials).
    pub url: String,
    /// How it is reached.
    pub address: EngineAddress,
    /// Most sandboxes at once (None: no limit).
    pub capacity: Option<u32>,
    /// Host prefix → engine prefix.
    pub path_map: Vec<PathMapping>,
    /// The engine machine's addresses a network-enabled sandbox must not
    /// reach (remote engines).
    pub host_addresses: BTreeSet<Ipv4Addr>,
}

impl EngineSpec {
    /// The engines of a configuration: `[[sandbox.engines]]`, else the one
    /// engine of `docker_host` (see [`docker_endpoint`]).
    /// A malformed entry is an error naming its field.
    pub fn from_config(config: &SandboxConfig) -> Result<Vec<EngineSpec>, SandboxError> {
        if config.engines.is_empty() {
            let url = docker_endpoint(config);
            return Ok(vec![EngineSpec {
                field: "sandbox.docker_host".into(),
                url: strip_password(&url),
                address: EngineAddress::Host(url),
                capacity: None,
                path_map: Vec::new(),
                host_addresses: BTreeSet::new(),
            }]);
        }
        if config.docker_host.is_some() {
            return Err(SandboxError::Invalid(
                "`sandbox.docker_host` and `[[sandbox.engines]]` are both set: name the engines \
                 in one place (a `docker_host` is a pool of one engine)"
                    .into(),
            ));
        }
        let mut specs: Vec<EngineSpec> = Vec::new();
        for (i, engine) in config.engines.iter().enumerate() {
            let spec = parse_engine(&format!("sandbox.engines[{i}]"), engine)?;
            if let Some(other) = specs.iter().find(|s| s.address == spec.address) {
                return Err(SandboxError::Invalid(format!(
                    "`{}.url`: {} is already `{}`",
                    spec.field, spec.url, other.field
                )));
            }
            specs.push(spec);
        }
        Ok(specs)
    }

    /// Whether the engine runs on this machine: its sandboxes may use the
    /// persistent command server, and the host's own addresses are what a
    /// network-enabled sandbox must not reach. A `unix://` engine is; a
    /// `[sandbox] docker_host` is taken to be (as before pools: a
    /// `tcp://localhost` engine), unless it is `ssh://`; the `tcp://` and
    /// `ssh://` engines of `[[sandbox.engines]]` are remote.
    pub fn is_local(&self) -> bool {
        match &self.address {
            EngineAddress::Unix(_) => true,
            EngineAddress::Host(url) => !url.starts_with("ssh://"),
            EngineAddress::Tcp { .. } | EngineAddress::Ssh { .. } => false,
        }
    }

    /// Where the engine's machine sees `host` (the longest matching
    /// `path_map` prefix replaced; unchanged under none).
    pub fn engine_path(&self, host: &Path) -> PathBuf {
        let best = self
            .path_map
            .iter()
            .filter(|m| host.starts_with(&m.host))
            .max_by_key(|m| m.host.components().count());
        match best.and_then(|m| host.strip_prefix(&m.host).ok().map(|rest| (m, rest))) {
            Some((m, rest)) if rest.as_os_str().is_empty() => m.engine.clone(),
            Some((m, rest)) => m.engine.join(rest),
            None => host.to_path_buf(),
        }
    }

    /// A client for it (nothing is sent yet). The error says why not.
    fn client(&self) -> Result<Docker, String> {
        let made = match &self.address {
            EngineAddress::Host(url) => Docker::connect_with_host(url),
            EngineAddress::Unix(path) => Docker::connect_with_unix(
                &format!("unix://{}", path.display()),
                CLIENT_TIMEOUT_SECS,
                API_DEFAULT_VERSION,
            ),
            EngineAddress::Tcp { authority, tls } => {
                tls_provider();
                Docker::connect_with_ssl(
                    authority,
                    &tls.key,
                    &tls.cert,
                    &tls.ca,
                    CLIENT_TIMEOUT_SECS,
                    API_DEFAULT_VERSION,
                )
            }
            EngineAddress::Ssh { authority, key } => Docker::connect_with_ssh(
                &format!("ssh://{authority}"),
                CLIENT_TIMEOUT_SECS,
                API_DEFAULT_VERSION,
                key.as_ref().map(|k| k.display().to_string()),
            ),
        };
        made.map_err(|e| match e {
            DockerError::SocketNotFoundError(path) => {
                format!("the socket {path} does not exist")
            }
            DockerError::UnsupportedURISchemeError { uri } => format!(
                "`{uri}` is not a Docker API address (expected unix:///path/to/socket, \
                 tcp://host:port or ssh://[user@]host)"
            ),
            e => format!("cannot make a client: {e}"),
        })
    }
}

/// Makes aws-lc-rs the process's TLS crypto provider unless one is set:
/// rustls cannot pick one itself when both of its providers are linked
/// (wasmtime's HTTP brings ring, reqwest aws-lc-rs).
pub fn tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may have set one in between: that one is kept.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

/// Validates one `[[sandbox.engines]]` entry.
fn parse_engine(field: &str, engine: &EngineConfig) -> Result<EngineSpec, SandboxError> {
    let invalid = |sub: &str, why: String| SandboxError::Invalid(format!("`{field}.{sub}`: {why}"));
    let url = engine.url.trim();
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        invalid(
            "url",
            format!(
                "`{url}` is not an engine address (expected unix:///path/to/socket, \
                 tcp://host:port or ssh://[user@]host)"
            ),
        )
    })?;
    if engine.tls.is_some() && scheme != "tcp" {
        return Err(invalid(
            "tls",
            format!("client certificates are for tcp:// engines, not {scheme}://"),
        ));
    }
    if engine.ssh_key.is_some() && scheme != "ssh" {
        return Err(invalid(
            "ssh_key",
            format!("a key is for ssh:// engines, not {scheme}://"),
        ));
    }
    let address = match scheme {
        "unix" => {
            let path = PathBuf::from(rest);
            if !path.is_absolute() {
                return Err(invalid(
                    "url",
                    format!("`{url}`: a unix socket's path must be absolute (unix:///path)"),
                ));
            }
            EngineAddress::Unix(path)
        }
        "tcp" => {
            let authority =
                plain_authority(rest).map_err(|why| invalid("url", format!("`{url}`: {why}")))?;
            if authority.contains('@') {
                return Err(invalid(
                    "url",
                    format!("`{url}`: a tcp:// engine authenticates with `tls`, not a user"),
                ));
            }
            let Some(tls) = engine.tls.clone() else {
                return Err(invalid(
                    "tls",
                    format!(
                        "the tcp:// engine {url} needs TLS client certificates \
                         (tls = {{ ca = \"…/ca.pem\", cert = \"…/cert.pem\", key = \"…/key.pem\" }}): \
                         a plain TCP Docker API is root on its machine for anyone who reaches it"
                    ),
                ));
            };
            for (sub, path) in [("ca", &tls.ca), ("cert", &tls.cert), ("key", &tls.key)] {
                if !path.is_file() {
                    return Err(invalid(
                        &format!("tls.{sub}"),
                        format!("{} is not a readable file", path.display()),
                    ));
                }
            }
            EngineAddress::Tcp { authority, tls }
        }
        "ssh" => {
            let authority = rest.trim_end_matches('/');
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if host.is_empty() || authority.contains('/') {
                return Err(invalid("url", format!("`{url}` is not ssh://[user@]host")));
            }
            // bollard hands `user@host:port` to ssh as the host name.
            if host.contains(':') {
                return Err(invalid(
                    "url",
                    format!(
                        "`{url}`: a port cannot be given here (the client passes none to \
                         ssh); name a `Host` of the ssh configuration with its `Port`"
                    ),
                ));
            }
            if let Some(key) = &engine.ssh_key
                && !key.is_file()
            {
                return Err(invalid(
                    "ssh_key",
                    format!("{} is not a readable file", key.display()),
                ));
            }
            EngineAddress::Ssh {
                authority: authority.to_string(),
                key: engine.ssh_key.clone(),
            }
        }
        other => {
            return Err(invalid(
                "url",
                format!(
                    "`{other}://` engines are not supported (expected unix://, tcp:// with \
                     `tls`, or ssh://)"
                ),
            ));
        }
    };
    if engine.capacity == 0 {
        return Err(invalid(
            "capacity",
            "must be at least 1 (the most sandboxes on this engine at once)".into(),
        ));
    }
    for (i, m) in engine.path_map.iter().enumerate() {
        for (sub, path) in [("host", &m.host), ("engine", &m.engine)] {
            let plain = path.is_absolute()
                && path
                    .components()
                    .all(|c| !matches!(c, std::path::Component::ParentDir));
            if !plain {
                return Err(invalid(
                    &format!("path_map[{i}].{sub}"),
                    format!("{} must be an absolute path without `..`", path.display()),
                ));
            }
        }
    }
    Ok(EngineSpec {
        field: field.to_string(),
        url: strip_password(url),
        address,
        capacity: Some(engine.capacity),
        path_map: engine.path_map.clone(),
        host_addresses: engine.host_addresses.iter().copied().collect(),
    })
}

/// `host:port` of a tcp:// address (a trailing `/` allowed).
fn plain_authority(rest: &str) -> Result<String, String> {
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        return Err("expected tcp://host:port".into());
    }
    let port = authority
        .rsplit_once(':')
        .map(|(_, p)| p)
        .ok_or("the port is missing (tcp://host:port; Docker's TLS port is 2376)")?;
    port.parse::<u16>()
        .map_err(|_| format!("`{port}` is not a port"))?;
    Ok(authority.to_string())
}

/// An address without a password in its user part (`user:secret@host` →
/// `user@host`).
fn strip_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}{path}")
        }
        None => url.to_string(),
    }
}

/// One engine of the pool, with its health and load.
pub struct Engine {
    spec: EngineSpec,
    /// Made on the first successful check (a unix socket may not exist
    /// yet); clones share the negotiated API version.
    docker: OnceLock<Docker>,
    negotiated: AtomicBool,
    healthy: AtomicBool,
    last_error: Mutex<Option<String>>,
    /// Sandboxes placed on it that still exist.
    placed: AtomicUsize,
    /// The running sandbox containers of every host sharing it, counted
    /// when this host last placed a sandbox.
    seen: AtomicUsize,
    /// The pool has other engines (for messages).
    has_others: AtomicBool,
}

impl Engine {
    fn new(spec: EngineSpec) -> Engine {
        Engine {
            spec,
            docker: OnceLock::new(),
            negotiated: AtomicBool::new(false),
            healthy: AtomicBool::new(false),
            last_error: Mutex::new(Some("not checked yet".into())),
            placed: AtomicUsize::new(0),
            seen: AtomicUsize::new(0),
            has_others: AtomicBool::new(false),
        }
    }

    /// What it was configured as.
    pub fn spec(&self) -> &EngineSpec {
        &self.spec
    }

    /// Its address as shown (no credentials).
    pub fn url(&self) -> &str {
        &self.spec.url
    }

    /// Whether it runs on this machine ([`EngineSpec::is_local`]).
    pub fn is_local(&self) -> bool {
        self.spec.is_local()
    }

    /// Whether the last check found it answering.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    /// Its client, once one was made.
    pub fn docker(&self) -> Option<Docker> {
        self.docker.get().cloned()
    }

    /// The negotiated API version, once it answered.
    pub fn api_version(&self) -> Option<String> {
        self.negotiated
            .load(Ordering::SeqCst)
            .then(|| self.docker())
            .flatten()
            .map(|d| d.client_version().to_string())
    }

    /// Checks that it answers within `timeout` (the first time: makes the
    /// client and negotiates the API version), and records the result.
    /// The error says why not (without the address).
    pub async fn check(&self, timeout: Duration) -> Result<(), String> {
        let result = self.try_check(timeout).await;
        let was = self.healthy.swap(result.is_ok(), Ordering::SeqCst);
        match &result {
            Ok(()) if !was => info!(engine = %self.url(), "container engine answers"),
            Err(why) if was => {
                warn!(engine = %self.url(), error = %why, "container engine does not answer; its sandboxes' commands fail and new sandboxes go to other engines")
            }
            _ => {}
        }
        *lock(&self.last_error) = result.as_ref().err().cloned();
        result
    }

    async fn try_check(&self, timeout: Duration) -> Result<(), String> {
        let docker = match self.docker.get() {
            Some(d) => d.clone(),
            None => {
                let made = self.spec.client()?;
                self.docker.get_or_init(|| made).clone()
            }
        };
        let waited = format!("no answer within {} s", timeout.as_secs());
        if !self.negotiated.load(Ordering::SeqCst) {
            let docker = tokio::time::timeout(timeout, docker.negotiate_version())
                .await
                .map_err(|_| waited)?
                .map_err(|e| chain(&e))?;
            let version = docker.client_version();
            if (version.major_version, version.minor_version) < MIN_API {
                return Err(format!(
                    "it speaks API {version}, older than the {}.{} the sandbox needs; upgrade it",
                    MIN_API.0, MIN_API.1
                ));
            }
            self.negotiated.store(true, Ordering::SeqCst);
            info!(engine = %self.url(), api = %version, "connected to the container engine");
            return Ok(());
        }
        tokio::time::timeout(timeout, docker.ping())
            .await
            .map_err(|_| waited)?
            .map(|_| ())
            .map_err(|e| chain(&e))
    }

    /// The error of a command of `agent` while this engine is down.
    pub fn down(&self, agent: &str, why: &str) -> SandboxError {
        let others = if self.has_others.load(Ordering::SeqCst) {
            " (new sandboxes go to the other engines)"
        } else {
            ""
        };
        SandboxError::Unavailable(format!(
            "the container engine {} (`{}`) that runs the sandbox of agent {agent} does not \
             answer ({why}); this agent's commands fail until it is back{others}",
            self.url(),
            self.spec.field
        ))
    }

    /// Sandboxes per capacity (0 for an engine without a limit).
    fn load(&self) -> f64 {
        match self.spec.capacity {
            Some(c) => self.busy() as f64 / f64::from(c.max(1)),
            None => 0.0,
        }
    }

    /// Its sandboxes: this host's, or every host's when more were counted.
    fn busy(&self) -> usize {
        self.placed
            .load(Ordering::SeqCst)
            .max(self.seen.load(Ordering::SeqCst))
    }

    /// Counts the running sandbox containers of every host on it (other
    /// Paddock hosts may share the engine); left as it was when the engine
    /// does not say.
    async fn count_sandboxes(&self) {
        let Some(docker) = self.docker() else {
            return;
        };
        let filters = HashMap::from([("label", vec!["paddock.sandbox=1".to_string()])]);
        let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
            .filters(&filters)
            .build();
        if let Ok(Ok(running)) =
            tokio::time::timeout(PLACE_TIMEOUT, docker.list_containers(Some(options))).await
        {
            let n = running
                .iter()
                .filter(|c| {
                    c.labels
                        .as_ref()
                        .and_then(|l| l.get("paddock.sandbox"))
                        .is_some_and(|v| v == "1")
                })
                .count();
            self.seen.store(n, Ordering::SeqCst);
        }
    }

    /// Takes one place, unless full (counting every host's sandboxes seen
    /// on it).
    fn reserve(self: &Arc<Self>) -> Option<Placement> {
        let capacity = self.spec.capacity.map(|c| c as usize);
        let seen = self.seen.load(Ordering::SeqCst);
        self.placed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match capacity {
                Some(c) if n.max(seen) >= c => None,
                _ => Some(n + 1),
            })
            .ok()
            .map(|_| {
                // One more than were seen, until the next count.
                self.seen.fetch_add(1, Ordering::SeqCst);
                Placement {
                    engine: self.clone(),
                }
            })
    }

    /// Its summary.
    pub fn status(&self) -> EngineStatus {
        EngineStatus {
            url: self.url().to_string(),
            local: self.is_local(),
            healthy: self.is_healthy(),
            sandboxes: self.placed.load(Ordering::SeqCst),
            all_sandboxes: self.seen.load(Ordering::SeqCst),
            capacity: self.spec.capacity,
            error: lock(&self.last_error).clone(),
        }
    }
}

/// One engine's state, as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct EngineStatus {
    /// Its address (no credentials).
    pub url: String,
    /// On this machine (a unix socket).
    pub local: bool,
    /// It answered the last check.
    pub healthy: bool,
    /// This host's sandboxes on it now.
    pub sandboxes: usize,
    /// The running sandboxes of every host sharing it, as counted when this
    /// host last placed one (0 before).
    pub all_sandboxes: usize,
    /// Most sandboxes at once (null: no limit).
    pub capacity: Option<u32>,
    /// Why the last check failed.
    pub error: Option<String>,
}

/// A sandbox's place on an engine: counted in the engine's load until
/// dropped.
pub struct Placement {
    engine: Arc<Engine>,
}

impl Placement {
    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }
}

impl Drop for Placement {
    fn drop(&mut self) {
        for count in [&self.engine.placed, &self.engine.seen] {
            let _ = count.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        }
    }
}

/// What a sandbox needs of its engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Needs {
    /// The image it runs.
    pub image: String,
    /// Its network is an allow-list: the egress proxy's unix socket is
    /// mounted, so only a local engine will do.
    pub egress: bool,
    /// It has the network: a remote engine must know its machine's
    /// addresses (`host_addresses`) to keep it off them.
    pub network: bool,
}

/// Every engine of the Docker backend, and the engine of each agent.
pub struct EnginePool {
    engines: Vec<Arc<Engine>>,
    /// The engine (index) each agent's sandbox was placed on.
    assigned: Mutex<HashMap<String, usize>>,
}

impl EnginePool {
    /// The pool of `specs`, each checked once (within `timeout`, at least
    /// 5 s for a remote one), and a task pinging them every
    /// [`HEALTH_EVERY`] while the pool lives.
    /// Engines that do not answer stay in the pool, down, until they do.
    pub async fn connect(specs: Vec<EngineSpec>, timeout: Duration) -> Arc<EnginePool> {
        let engines: Vec<Arc<Engine>> = specs.into_iter().map(Engine::new).map(Arc::new).collect();
        for e in &engines {
            e.has_others.store(engines.len() > 1, Ordering::SeqCst);
        }
        futures::future::join_all(engines.iter().map(|e| {
            e.check(if e.is_local() {
                timeout
            } else {
                timeout.max(REMOTE_CONNECT_TIMEOUT)
            })
        }))
        .await;
        let pool = Arc::new(EnginePool {
            engines,
            assigned: Mutex::new(HashMap::new()),
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(keep_checking(Arc::downgrade(&pool)));
        }
        pool
    }

    /// The engines, in configuration order.
    pub fn engines(&self) -> &[Arc<Engine>] {
        &self.engines
    }

    /// Every engine's summary.
    pub fn status(&self) -> Vec<EngineStatus> {
        self.engines.iter().map(|e| e.status()).collect()
    }

    /// Checks every engine now.
    pub async fn check_all(&self) {
        futures::future::join_all(self.engines.iter().map(|e| e.check(PING_TIMEOUT))).await;
    }

    /// Places a sandbox of `agent`: on the engine it was placed on before
    /// when that one is healthy with room, else on the least-loaded healthy
    /// engine with room (sandboxes / capacity) that has the image. The
    /// sandboxes are every host's (the engine's running sandbox containers
    /// are counted first; hosts placing at the same moment may both take an
    /// engine's last place). An engine that does not answer is marked down
    /// and the next one tried.
    pub async fn place(&self, agent: &str, needs: &Needs) -> Result<Placement, SandboxError> {
        let eligible: Vec<usize> = (0..self.engines.len())
            .filter(|&i| self.fits(&self.engines[i], needs))
            .collect();
        if eligible.is_empty() {
            return Err(SandboxError::Invalid(self.unfit(needs)));
        }
        // Other hosts may share the engines: count every host's sandboxes.
        futures::future::join_all(
            eligible
                .iter()
                .map(|&i| &self.engines[i])
                .filter(|e| e.is_healthy())
                .map(|e| e.count_sandboxes()),
        )
        .await;
        let remembered = lock(&self.assigned).get(agent).copied();
        let mut order = eligible.clone();
        order.sort_by(|&a, &b| {
            let (ea, eb) = (&self.engines[a], &self.engines[b]);
            (Some(b) == remembered)
                .cmp(&(Some(a) == remembered))
                .then(ea.load().total_cmp(&eb.load()))
                .then(ea.busy().cmp(&eb.busy()))
                .then(a.cmp(&b))
        });
        let mut notes = Vec::new();
        let (mut down, mut full, mut missing) = (0, 0, 0);
        for i in order {
            let engine = &self.engines[i];
            if !engine.is_healthy() {
                down += 1;
                notes.push(format!(
                    "{} does not answer ({})",
                    engine.url(),
                    lock(&engine.last_error).clone().unwrap_or_default()
                ));
                continue;
            }
            let Some(placement) = engine.reserve() else {
                full += 1;
                notes.push(format!(
                    "{} is full ({} sandboxes)",
                    engine.url(),
                    engine.spec.capacity.unwrap_or_default()
                ));
                continue;
            };
            let Some(docker) = engine.docker() else {
                down += 1;
                continue;
            };
            match tokio::time::timeout(PLACE_TIMEOUT, docker.inspect_image(&needs.image)).await {
                Ok(Ok(_)) => {
                    lock(&self.assigned).insert(agent.to_string(), i);
                    return Ok(placement);
                }
                Ok(Err(e)) if is_not_found(&e) => {
                    missing += 1;
                    notes.push(format!("{} does not have the image", engine.url()));
                }
                answer => {
                    let why = match answer {
                        Ok(Err(e)) => chain(&e),
                        _ => format!("no answer within {} s", PLACE_TIMEOUT.as_secs()),
                    };
                    // Down, or only that call failed: a ping tells.
                    if let Err(why) = engine.check(PING_TIMEOUT).await {
                        down += 1;
                        notes.push(format!("{} does not answer ({why})", engine.url()));
                    } else {
                        notes.push(format!(
                            "{} could not say whether it has the image ({why})",
                            engine.url()
                        ));
                    }
                }
            }
        }
        let notes = notes.join("; ");
        let n = eligible.len();
        Err(SandboxError::Unavailable(if missing == n {
            format!(
                "the sandbox image `{}` is in no container engine (it is never pulled); build it \
                 on each with `scripts/sandbox-image.sh --tag {}` (add `--engine podman` for \
                 Podman), or set `sandbox.image` ({notes})",
                needs.image, needs.image
            )
        } else if down == n {
            format!("no container engine answers, so no sandbox can be made: {notes}")
        } else if full + down == n && full > 0 {
            format!("every container engine that answers is full: {notes}")
        } else {
            format!("no container engine can take this sandbox now: {notes}")
        }))
    }

    /// Whether an engine can run a sandbox with these needs at all.
    fn fits(&self, engine: &Engine, needs: &Needs) -> bool {
        if needs.egress && !engine.is_local() {
            return false;
        }
        !(needs.network && !engine.is_local() && engine.spec.host_addresses.is_empty())
    }

    /// Why no engine fits.
    fn unfit(&self, needs: &Needs) -> String {
        if needs.egress {
            "a network allow-list needs a container engine on this machine (a unix:// engine): \
             the sandbox reaches the egress proxy through a unix socket of this host, which a \
             remote engine's container cannot see"
                .into()
        } else {
            let fields: Vec<&str> = self.engines.iter().map(|e| e.spec.field.as_str()).collect();
            format!(
                "a network-enabled sandbox on a remote container engine must be kept off that \
                 engine's machine, whose addresses Paddock cannot read: list them in \
                 `host_addresses` of {} (or add a unix:// engine on this machine)",
                fields.join(", ")
            )
        }
    }
}

/// Pings every engine of the pool every [`HEALTH_EVERY`] until it is gone.
async fn keep_checking(pool: Weak<EnginePool>) {
    loop {
        tokio::time::sleep(HEALTH_EVERY).await;
        let Some(pool) = pool.upgrade() else { return };
        pool.check_all().await;
    }
}

/// An error with its causes (`client error (Connect): tcp connect error:
/// Connection refused`): the client's own message alone rarely says why.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// Whether the engine answered 404.
pub fn is_not_found(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// A client of the first engine of the configuration that answers, and its
/// address (what builds environments' images).
pub async fn first_client(config: &SandboxConfig) -> Result<(Docker, String), SandboxError> {
    let specs = EngineSpec::from_config(config)?;
    let mut notes = Vec::new();
    for spec in specs {
        let engine = Engine::new(spec);
        match engine.check(PING_TIMEOUT).await {
            Ok(()) => {
                if let Some(docker) = engine.docker() {
                    return Ok((docker, engine.url().to_string()));
                }
            }
            Err(why) => notes.push(format!("{}: {why}", engine.url())),
        }
    }
    Err(SandboxError::Unavailable(format!(
        "no Docker engine answers: {}",
        notes.join("; ")
    )))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(url: &str) -> EngineConfig {
        EngineConfig {
            url: url.into(),
            tls: None,
            ssh_key: None,
            capacity: 4,
            path_map: Vec::new(),
            host_addresses: Vec::new(),
        }
    }

    fn config(engines: Vec<EngineConfig>) -> SandboxConfig {
        SandboxConfig {
            engines,
            ..SandboxConfig::default()
        }
    }

    fn error(engines: Vec<EngineConfig>) -> String {
        match EngineSpec::from_config(&config(engines)) {
            Err(SandboxError::Invalid(m)) => m,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn docker_host_is_a_pool_of_one() {
        let specs = EngineSpec::from_config(&SandboxConfig {
            docker_host: Some("/run/podman.sock".into()),
            ..SandboxConfig::default()
        })
        .unwrap();
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].url, "unix:///run/podman.sock");
        assert_eq!(specs[0].capacity, None);
        assert!(specs[0].is_local());
        let both = SandboxConfig {
            docker_host: Some("/run/podman.sock".into()),
            ..config(vec![engine("unix:///run/a.sock")])
        };
        assert!(matches!(
            EngineSpec::from_config(&both),
            Err(SandboxError::Invalid(m)) if m.contains("both set")
        ));
    }

    #[test]
    fn engine_entries_are_checked_field_by_field() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.pem");
        std::fs::write(&file, "x").unwrap();
        let tls = EngineTls {
            ca: file.clone(),
            cert: file.clone(),
            key: file.clone(),
        };
        let tcp = EngineConfig {
            tls: Some(tls.clone()),
            ..engine("tcp://10.0.0.5:2376")
        };
        let specs = EngineSpec::from_config(&config(vec![
            engine("unix:///run/a.sock"),
            tcp.clone(),
            engine("ssh://paddock@build-2"),
        ]))
        .unwrap();
        assert!(specs[0].is_local());
        assert!(!specs[1].is_local());
        assert!(!specs[2].is_local());
        assert_eq!(specs[1].field, "sandbox.engines[1]");
        assert_eq!(
            specs[2].address,
            EngineAddress::Ssh {
                authority: "paddock@build-2".into(),
                key: None
            }
        );

        let m = error(vec![engine("tcp://10.0.0.5:2376")]);
        assert!(m.contains("`sandbox.engines[0].tls`"), "{m}");
        let m = error(vec![EngineConfig {
            tls: Some(tls.clone()),
            ..engine("tcp://10.0.0.5")
        }]);
        assert!(
            m.contains("`sandbox.engines[0].url`") && m.contains("port"),
            "{m}"
        );
        let m = error(vec![EngineConfig {
            tls: Some(EngineTls {
                ca: dir.path().join("missing.pem"),
                ..tls.clone()
            }),
            ..engine("tcp://10.0.0.5:2376")
        }]);
        assert!(m.contains("`sandbox.engines[0].tls.ca`"), "{m}");
        let m = error(vec![EngineConfig {
            tls: Some(tls.clone()),
            ..engine("unix:///run/a.sock")
        }]);
        assert!(m.contains("`sandbox.engines[0].tls`"), "{m}");
        let m = error(vec![engine("unix:///a"), engine("http://h:1")]);
        assert!(m.contains("`sandbox.engines[1].url`"), "{m}");
        let m = error(vec![engine("unix://relative.sock")]);
        assert!(m.contains("absolute"), "{m}");
        let m = error(vec![engine("docker.example:2376")]);
        assert!(m.contains("`sandbox.engines[0].url`"), "{m}");
        let m = error(vec![engine("ssh://me@host:2222")]);
        assert!(
            m.contains("`sandbox.engines[0].url`") && m.contains("Port"),
            "{m}"
        );
        let m = error(vec![EngineConfig {
            capacity: 0,
            ..engine("unix:///a")
        }]);
        assert!(m.contains("`sandbox.engines[0].capacity`"), "{m}");
        let m = error(vec![EngineConfig {
            path_map: vec![PathMapping {
                host: "/srv".into(),
                engine: "mnt".into(),
            }],
            ..engine("unix:///a")
        }]);
        assert!(m.contains("`sandbox.engines[0].path_map[0].engine`"), "{m}");
        let m = error(vec![engine("unix:///a"), engine("unix:///a")]);
        assert!(m.contains("already"), "{m}");
    }

    #[test]
    fn paths_are_mapped_by_the_longest_prefix() {
        let spec = EngineSpec {
            field: "f".into(),
            url: "u".into(),
            address: EngineAddress::Unix("/x".into()),
            capacity: None,
            path_map: vec![
                PathMapping {
                    host: "/srv".into(),
                    engine: "/mnt/srv".into(),
                },
                PathMapping {
                    host: "/srv/paddock/ws".into(),
                    engine: "/nfs/ws".into(),
                },
            ],
            host_addresses: BTreeSet::new(),
        };
        assert_eq!(
            spec.engine_path(Path::new("/srv/paddock/ws/a/b")),
            Path::new("/nfs/ws/a/b")
        );
        assert_eq!(
            spec.engine_path(Path::new("/srv/paddock/ws")),
            Path::new("/nfs/ws")
        );
        assert_eq!(
            spec.engine_path(Path::new("/srv/other")),
            Path::new("/mnt/srv/other")
        );
        // A prefix is whole components: /srvx is not under /srv.
        assert_eq!(spec.engine_path(Path::new("/srvx/a")), Path::new("/srvx/a"));
        assert_eq!(spec.engine_path(Path::new("/home/a")), Path::new("/home/a"));
    }

    #[test]
    fn addresses_are_shown_without_passwords() {
        assert_eq!(
            strip_password("ssh://me:secret@host:22"),
            "ssh://me@host:22"
        );
        assert_eq!(strip_password("tcp://h:2376"), "tcp://h:2376");
        assert_eq!(strip_password("unix:///run/a.sock"), "unix:///run/a.sock");
    }

    fn pool(capacities: &[Option<u32>]) -> EnginePool {
        let engines = capacities
            .iter()
            .enumerate()
            .map(|(i, c)| {
                Arc::new(Engine::new(EngineSpec {
                    field: format!("sandbox.engines[{i}]"),
                    url: format!("tcp://e{i}:2376"),
                    address: EngineAddress::Unix(format!("/e{i}").into()),
                    capacity: *c,
                    path_map: Vec::new(),
                    host_addresses: BTreeSet::new(),
                }))
            })
            .collect();
        EnginePool {
            engines,
            assigned: Mutex::new(HashMap::new()),
        }
    }

    #[test]
    fn places_are_counted_and_capped() {
        let p = pool(&[Some(2), None]);
        let a = p.engines[0].reserve().unwrap();
        let b = p.engines[0].reserve().unwrap();
        assert!(p.engines[0].reserve().is_none(), "full at 2");
        assert_eq!(p.engines[0].load(), 1.0);
        drop(a);
        assert_eq!(p.engines[0].status().sandboxes, 1);
        assert!(p.engines[0].reserve().is_some());
        drop(b);
        let many: Vec<_> = (0..100).map(|_| p.engines[1].reserve().unwrap()).collect();
        assert_eq!(p.engines[1].status().sandboxes, 100);
        drop(many);
        assert_eq!(p.engines[1].status().sandboxes, 0);
    }

    #[test]
    fn remote_engines_take_only_what_they_can_keep_confined() {
        let p = pool(&[Some(2)]);
        let plain = Needs {
            image: "i".into(),
            egress: false,
            network: false,
        };
        assert!(
            p.fits(&p.engines[0], &plain),
            "a unix engine takes anything"
        );
        let remote = Engine::new(EngineSpec {
            address: EngineAddress::Ssh {
                authority: "h".into(),
                key: None,
            },
            ..p.engines[0].spec.clone()
        });
        assert!(p.fits(&remote, &plain));
        let network = Needs {
            network: true,
            ..plain.clone()
        };
        assert!(!p.fits(&remote, &network));
        assert!(p.unfit(&network).contains("host_addresses"));
        let known = Engine::new(EngineSpec {
            host_addresses: [Ipv4Addr::new(10, 0, 0, 5)].into(),
            ..remote.spec.clone()
        });
        assert!(p.fits(&known, &network));
        let egress = Needs {
            egress: true,
            network: false,
            ..plain
        };
        assert!(!p.fits(&known, &egress));
        assert!(p.unfit(&egress).contains("unix://"));
    }

    #[tokio::test]
    async fn an_engine_that_does_not_answer_is_down_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.sock");
        let engine = Engine::new(EngineSpec {
            field: "sandbox.engines[0]".into(),
            url: format!("unix://{}", missing.display()),
            address: EngineAddress::Unix(missing.clone()),
            capacity: Some(1),
            path_map: Vec::new(),
            host_addresses: BTreeSet::new(),
        });
        let why = engine.check(Duration::from_secs(1)).await.unwrap_err();
        assert!(why.contains("does not exist"), "{why}");
        assert!(!engine.is_healthy());
        let status = engine.status();
        assert!(!status.healthy);
        assert_eq!(status.error.as_deref(), Some(why.as_str()));
        let message = engine.down("agent-1", &why).to_string();
        assert!(
            message.contains(&status.url)
                && message.contains("sandbox.engines[0]")
                && message.contains("agent-1"),
            "{message}"
        );
    }
}
