//! The Docker backend (bollard): one long-lived container per agent, `exec`
//! per command; works against Docker and Podman's Docker-compatible API
//! (version negotiated down to what the engine speaks, e.g. Podman's 1.41).
//!
//! Each agent's container runs the configured image (built locally by
//! `scripts/sandbox-image.sh`, never pulled) as a non-root user, with a
//! read-only root file system, the workspace bind-mounted read-write at
//! `/workspace`, a private tmpfs `/tmp`, every capability dropped,
//! `no-new-privileges`, memory (without swap), CPU and pids limits, file
//! size and core rlimits, an init that reaps orphans, and no network unless
//! the agent is granted it.
//!
//! With the network, the container is on the engine's default bridge with
//! IPv6 turned off (a `sysctl` the engine sets), and before any command a
//! privileged exec (as root, `scripts::CLOSE_HOST`, needing `ip` in the
//! image) adds routes in the container's network namespace that refuse its
//! gateway (the host's side of the bridge), the rest of the bridge's
//! network (other containers) and every IPv4 address of the
//! host ([`super::net::host_ipv4_addresses`], on the engine's host when it
//! is Paddock's): the outside world is reached, the host's services are
//! not (its loopback is not routable from a bridge anyway). The routes
//! follow the host's addresses (checked before each command and every
//! [`super::net::REFRESH_EVERY`]); the commands, without capabilities,
//! cannot change them. A container that cannot be set up so is removed and
//! the sandbox refused.
//!
//! **Persistent** (`[sandbox] mode = "persistent"`, the default): the
//! container's main process (under the engine's init) is the command server
//! `paddock-sandboxd`, bind-mounted read-only at `/run/paddock-bin/sandboxd`,
//! listening on `/run/paddock/cmd.sock` in a host run directory mounted at
//! `/run/paddock`; each command is one connection to it
//! ([`super::persistent`]), no engine exec: a session of its own, killed at
//! the timeout or when the future is dropped, its leftovers killed when a
//! foreground command ends (background jobs spared). That directory is
//! writable from inside, so the host checks that the socket's peer is the
//! container init's child before it sends a command. With an egress
//! allow-list ([`SandboxSpec::egress`]) the container has no network, the
//! proxy's socket is mounted at `/run/paddock/egress.sock` and the server
//! bridges `127.0.0.1:3128` to it.
//!
//! **Per command** (`mode = "per-command"`): commands run through a small
//! `sh` wrapper (module `scripts`) that gives each one a session of its own:
//! at its timeout, or when the caller drops the future, a second exec kills
//! that session; when a foreground command ends, whatever it left running
//! is killed, so `cmd &` never outlives the command (background jobs,
//! [`ExecSpec::background`], are spared).
//!
//! A container that died (e.g. its init killed when out of memory, or its
//! command server killed) is replaced on the next command.
//!
//! **Engines** ([`crate::engines`]): the backend holds a pool of engines
//! (`[[sandbox.engines]]`, or the one `docker_host`). Each sandbox is placed
//! on one ([`EnginePool::place`]) and all its containers live there. A
//! remote engine (`tcp://`, `ssh://`) sees the workspace through a shared
//! file system (bind mounts of the host's paths, through the engine's
//! `path_map`), runs each command as an engine exec (per command: the
//! command server's socket is on this host), and keeps a network-enabled
//! sandbox off its machine's `host_addresses`. When a command fails and
//! the sandbox's engine does not answer a ping, the error names the
//! engine.

mod scripts;

use super::net::{REFRESH_EVERY, host_ipv4_addresses};
use super::{
    Backend, BackendKind, Capture, ExecOutcome, ExecSpec, Network, OutputSink, ResourceUsage,
    Sandbox, SandboxConfig, SandboxError, SandboxSpec, StreamKind,
};
use crate::SandboxMode;
use crate::engines::{
    EnginePool, EngineSpec, EngineStatus, Needs, PING_TIMEOUT, Placement, is_not_found,
};
use crate::exec::BoxFuture;
use crate::persistent::{self, RunDir};
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, ResourcesUlimits};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures::StreamExt;
use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Label on every sandbox container (value `1`).
pub const LABEL_SANDBOX: &str = "paddock.sandbox";
/// Label naming the host (data dir) that made a container.
pub const LABEL_HOST: &str = "paddock.host";
/// Label naming the agent a container belongs to.
pub const LABEL_AGENT: &str = "paddock.agent";

pub use crate::engines::{DEFAULT_DOCKER_HOST, docker_endpoint};

/// How long [`DockerBackend::connect`] waits for an engine to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a probe waits for the engine.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long killing a command may take.
const KILL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long output is still read after a command was killed.
const DRAIN_GRACE: Duration = Duration::from_secs(10);
/// How long the exit status may take to show after the output ended (an
/// engine marks the exec finished a moment after its output closes).
const EXIT_STATUS_WAIT: Duration = Duration::from_secs(30);
/// How long the privileged exec that closes the host off may take.
const CLOSE_HOST_TIMEOUT: Duration = Duration::from_secs(60);

/// Makes per-agent containers, on the engines of its pool.
pub struct DockerBackend {
    pool: Arc<EnginePool>,
    config: SandboxConfig,
    host_id: String,
    rlimits: Arc<std::sync::Mutex<Rlimits>>,
}

impl DockerBackend {
    /// Connects to the engines named by the configuration
    /// (`[[sandbox.engines]]`, else [`docker_endpoint`]) and negotiates
    /// each one's API version. `host_id` names this data dir's host: its
    /// containers are labelled with it so a restarted host can reap them.
    /// Invalid when an engine entry is malformed; Unavailable when no
    /// engine answers within about two seconds (engines that do not answer
    /// stay in the pool, down, until a health check finds them).
    pub async fn connect(
        config: &SandboxConfig,
        host_id: &str,
    ) -> Result<DockerBackend, SandboxError> {
        let specs = EngineSpec::from_config(config)?;
        let pool = EnginePool::connect(specs, CONNECT_TIMEOUT).await;
        if !pool.engines().iter().any(|e| e.is_healthy()) {
            return Err(SandboxError::Unavailable(no_engine(&pool)));
        }
        Ok(DockerBackend {
            pool,
            config: config.clone(),
            host_id: host_id.to_string(),
            rlimits: Arc::new(std::sync::Mutex::new(Rlimits::own())),
        })
    }

    /// The API address of the first engine.
    pub fn endpoint(&self) -> &str {
        self.pool.engines().first().map_or("", |e| e.url())
    }

    /// The negotiated API version of the first engine that answered (e.g.
    /// `1.41` with Podman 4).
    pub fn api_version(&self) -> String {
        self.pool
            .engines()
            .iter()
            .find_map(|e| e.api_version())
            .unwrap_or_default()
    }

    /// The pool of engines.
    pub fn pool(&self) -> &Arc<EnginePool> {
        &self.pool
    }

    async fn probe_engine(&self) -> Result<(), SandboxError> {
        let image = &self.config.image;
        let mut failures = Vec::new();
        for engine in self.pool.engines() {
            if let Err(why) = engine.check(PROBE_TIMEOUT).await {
                failures.push(format!(
                    "the Docker engine at {} does not answer: {why}",
                    engine.url()
                ));
                continue;
            }
            let Some(docker) = engine.docker() else {
                continue;
            };
            match docker.inspect_image(image).await {
                Ok(_) => return Ok(()),
                Err(e) if is_not_found(&e) => failures.push(missing_image(image, engine.url())),
                Err(e) => failures.push(format!(
                    "cannot inspect the sandbox image `{image}` at {}: {e}",
                    engine.url()
                )),
            }
        }
        Err(SandboxError::Unavailable(failures.join("; ")))
    }

    async fn create_sandbox(&self, spec: SandboxSpec) -> Result<Arc<dyn Sandbox>, SandboxError> {
        let workspace = std::fs::canonicalize(&spec.workspace).map_err(|e| {
            SandboxError::Invalid(format!(
                "the workspace {} cannot be used: {e}",
                spec.workspace.display()
            ))
        })?;
        if !workspace.is_dir() {
            return Err(SandboxError::Invalid(format!(
                "the workspace {} is not a directory",
                workspace.display()
            )));
        }
        // An environment may name its image and a numeric user.
        let env = spec.environment.as_ref();
        let image = env
            .and_then(|e| e.image.clone())
            .unwrap_or_else(|| self.config.image.clone());
        let user = match env.and_then(|e| e.user.as_deref()) {
            Some(user) => resolve_user(user, &workspace)?,
            None => resolve_user(&self.config.user, &workspace)?,
        };
        if self.config.mode == SandboxMode::PerCommand && spec.egress.is_some() {
            return Err(SandboxError::Invalid(
                "a network allow-list reaches the egress proxy through the sandbox's \
                 command server: it needs [sandbox] mode = \"persistent\""
                    .into(),
            ));
        }
        let placement = self
            .pool
            .place(
                &spec.agent_id,
                &Needs {
                    image: image.clone(),
                    egress: spec.egress.is_some(),
                    network: spec.network == Network::Open,
                },
            )
            .await?;
        let engine = placement.engine().clone();
        let Some(docker) = engine.docker() else {
            return Err(engine.down(&spec.agent_id, "no client"));
        };
        // The command server listens on a unix socket of this host: only a
        // container of an engine on this machine can reach it.
        let mode = if engine.is_local() {
            self.config.mode
        } else {
            SandboxMode::PerCommand
        };
        let server = match mode {
            SandboxMode::Persistent => {
                let sandboxd = persistent::find_sandboxd(&self.config)?;
                let run = RunDir::create(&self.host_id, &spec.agent_id)?;
                Some((sandboxd, run))
            }
            SandboxMode::PerCommand => None,
        };
        let body = container_body(
            &image,
            &user,
            &workspace,
            &spec,
            &self.host_id,
            server
                .as_ref()
                .map(|(bin, run)| (bin.as_path(), run.path())),
            engine.spec(),
        )?;
        let prefix = format!(
            "paddock-{}-{}",
            short_name(&self.host_id),
            short_name(&spec.agent_id)
        );
        let inner = Arc::new(Inner {
            docker,
            endpoint: engine.url().to_string(),
            placement,
            image,
            spec,
            body,
            prefix,
            rlimits: self.rlimits.clone(),
            state: Mutex::new(State::default()),
            refused: Mutex::new(None),
            run: server.map(|(_, run)| run),
            cancel: tokio_util::sync::CancellationToken::new(),
        });
        if let Err(e) = inner.current().await {
            return Err(inner.engine_error(e).await);
        }
        info!(agent = %inner.agent(), engine = %inner.endpoint, "sandbox placed");
        if inner.spec.network == Network::Open {
            tokio::spawn(keep_closed(Arc::downgrade(&inner)));
        }
        Ok(Arc::new(DockerSandbox { inner }))
    }

    async fn reap(&self) -> Result<usize, SandboxError> {
        RunDir::reap_orphans(&self.host_id);
        self.reap_labelled(LABEL_HOST, &self.host_id).await
    }

    /// Removes, on every engine of the pool, the sandbox containers whose
    /// label `key` is `value`.
    async fn reap_labelled(&self, key: &str, value: &str) -> Result<usize, SandboxError> {
        let mut removed = 0;
        let mut failures = Vec::new();
        for engine in self.pool.engines() {
            let Some(docker) = engine.docker().filter(|_| engine.is_healthy()) else {
                failures.push(format!("{} does not answer", engine.url()));
                continue;
            };
            match reap_on(&docker, engine.url(), key, value).await {
                Ok(n) => removed += n,
                Err(e) => failures.push(e.to_string()),
            }
        }
        // Not all engines reaped: an error, so that the dead owner is
        // tried again at the next start (what was removed stays removed).
        if !failures.is_empty() {
            return Err(SandboxError::Failed(format!(
                "removed {removed} sandbox container(s); not reaped: {}",
                failures.join("; ")
            )));
        }
        Ok(removed)
    }
}

/// Removes the sandbox containers whose label `key` is `value` (a host's,
/// an agent's) from one engine.
async fn reap_on(
    docker: &Docker,
    endpoint: &str,
    key: &str,
    value: &str,
) -> Result<usize, SandboxError> {
    let filters = HashMap::from([(
        "label",
        vec![format!("{LABEL_SANDBOX}=1"), format!("{key}={value}")],
    )]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let containers = docker.list_containers(Some(options)).await.map_err(|e| {
        SandboxError::Failed(format!("cannot list sandbox containers at {endpoint}: {e}"))
    })?;
    let mut removed = 0;
    for container in containers {
        // Filters are also checked here: engines differ in how they
        // combine several label filters.
        let labels = container.labels.unwrap_or_default();
        if labels.get(LABEL_SANDBOX).map(String::as_str) != Some("1")
            || labels.get(key).map(String::as_str) != Some(value)
        {
            continue;
        }
        let Some(id) = container.id else { continue };
        let agent = labels.get(LABEL_AGENT).cloned().unwrap_or_default();
        match remove_container(docker, &id).await {
            Ok(()) => {
                info!(%agent, container = %id, %endpoint, "removed an orphaned sandbox container");
                removed += 1;
            }
            Err(e) => {
                warn!(%agent, container = %id, %endpoint, error = %e, "cannot remove an orphaned sandbox container")
            }
        }
    }
    Ok(removed)
}

/// Why no engine of the pool answers, and what to do.
fn no_engine(pool: &EnginePool) -> String {
    let hint = "start Docker, or Podman's Docker-compatible API (`scripts/podman-service.sh DIR` \
                prints the address), and point `sandbox.docker_host` or DOCKER_HOST (or \
                `[[sandbox.engines]]`) at it";
    let reasons: Vec<String> = pool
        .status()
        .into_iter()
        .map(|s| {
            format!(
                "no Docker engine answers at {}: {}",
                s.url,
                s.error.unwrap_or_default()
            )
        })
        .collect();
    format!("{}; {hint}", reasons.join("; "))
}

impl Backend for DockerBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Docker
    }
    fn probe(&self) -> BoxFuture<'_, Result<(), SandboxError>> {
        Box::pin(self.probe_engine())
    }
    fn create(&self, spec: SandboxSpec) -> BoxFuture<'_, Result<Arc<dyn Sandbox>, SandboxError>> {
        Box::pin(self.create_sandbox(spec))
    }
    fn reap_orphans(&self) -> BoxFuture<'_, Result<usize, SandboxError>> {
        Box::pin(self.reap())
    }
    fn reap_agent<'a>(&'a self, agent: &'a str) -> BoxFuture<'a, Result<usize, SandboxError>> {
        Box::pin(self.reap_labelled(LABEL_AGENT, agent))
    }
    fn engines(&self) -> Vec<EngineStatus> {
        self.pool.status()
    }
}

/// One agent's container.
pub struct DockerSandbox {
    inner: Arc<Inner>,
}

impl DockerSandbox {
    /// The id of the container currently serving this sandbox, if one runs
    /// (a dead one is replaced on the next command).
    pub async fn container_id(&self) -> Option<String> {
        self.inner
            .state
            .lock()
            .await
            .container
            .as_ref()
            .map(|c| c.id.clone())
    }
}

impl Sandbox for DockerSandbox {
    fn spec(&self) -> &SandboxSpec {
        &self.inner.spec
    }
    fn exec(
        &self,
        cmd: ExecSpec,
        sink: Option<OutputSink>,
    ) -> BoxFuture<'_, Result<ExecOutcome, SandboxError>> {
        Box::pin(self.inner.exec(cmd, sink))
    }
    fn destroy(&self) -> BoxFuture<'_, Result<(), SandboxError>> {
        Box::pin(self.inner.destroy())
    }
    fn resource_usage(&self) -> BoxFuture<'_, Option<ResourceUsage>> {
        Box::pin(async move {
            let id = self.container_id().await?;
            let options = bollard::query_parameters::StatsOptionsBuilder::new()
                .stream(false)
                .one_shot(true)
                .build();
            let stats = self
                .inner
                .docker
                .stats(&id, Some(options))
                .next()
                .await?
                .ok()?;
            let usage = ResourceUsage {
                memory_bytes: stats.memory_stats.and_then(|m| m.usage),
                pids: stats.pids_stats.and_then(|p| p.current),
                cpu_usec: stats
                    .cpu_stats
                    .and_then(|c| c.cpu_usage)
                    .and_then(|u| u.total_usage)
                    .map(|ns| ns / 1000),
            };
            (usage != ResourceUsage::default()).then_some(usage)
        })
    }
}

#[derive(Clone, Debug)]
struct Container {
    id: String,
    name: String,
    /// Persistent mode: the host pid of the container's init, whose child
    /// the command server is (the socket's peer is checked against it).
    init_pid: Option<u32>,
}

#[derive(Default)]
struct State {
    container: Option<Container>,
    destroyed: bool,
}

struct Inner {
    docker: Docker,
    /// The engine's address.
    endpoint: String,
    /// Its place on the engine (counted in the engine's load while the
    /// sandbox lives).
    placement: Placement,
    image: String,
    spec: SandboxSpec,
    body: ContainerCreateBody,
    prefix: String,
    rlimits: Arc<std::sync::Mutex<Rlimits>>,
    state: Mutex<State>,
    /// With the network: the container whose routes refuse the host, and
    /// the host addresses they refuse; held while they change.
    refused: Mutex<Option<(String, BTreeSet<Ipv4Addr>)>>,
    /// Persistent mode: the directory of the container's command server's
    /// socket (mounted at `/run/paddock`).
    run: Option<RunDir>,
    /// Cancelled by `destroy`: commands through the server are killed.
    cancel: tokio_util::sync::CancellationToken,
}

/// Keeps a network-enabled sandbox's current container off the host's
/// addresses as they change, until the sandbox is gone.
async fn keep_closed(inner: Weak<Inner>) {
    loop {
        tokio::time::sleep(REFRESH_EVERY).await;
        let Some(inner) = inner.upgrade() else { return };
        let container = {
            let state = inner.state.lock().await;
            if state.destroyed {
                return;
            }
            state.container.clone()
        };
        if let Some(container) = container
            && let Err(e) = inner.close_host_off(&container).await
        {
            warn!(agent = %inner.agent(), error = %e, "cannot update the sandbox's routes; its next command will try again");
        }
    }
}

/// Why one attempt at a command failed.
enum RunError {
    /// The container is gone or stopped: make a new one and try again.
    Gone(String),
    /// Anything else.
    Sandbox(SandboxError),
}

impl Inner {
    fn agent(&self) -> &str {
        &self.spec.agent_id
    }

    /// The running container, started when there is none.
    async fn current(&self) -> Result<Container, SandboxError> {
        let mut state = self.state.lock().await;
        if state.destroyed {
            return Err(SandboxError::Failed(format!(
                "the sandbox of agent {} was destroyed",
                self.agent()
            )));
        }
        if let Some(container) = &state.container {
            return Ok(container.clone());
        }
        let container = self.start_container().await?;
        state.container = Some(container.clone());
        Ok(container)
    }

    async fn start_container(&self) -> Result<Container, SandboxError> {
        loop {
            let rlimits = match self.rlimits.lock() {
                Ok(guard) => *guard,
                Err(poisoned) => *poisoned.into_inner(),
            };
            match self.try_start_container(rlimits).await? {
                Ok(container) => return Ok(container),
                Err(refused) => {
                    let Some(lower) = rlimits.lowered(&refused) else {
                        return Err(SandboxError::Failed(refused));
                    };
                    info!(agent = %self.agent(), nofile = lower.nofile, nproc = lower.nproc, "the engine cannot set the open-files/processes rlimits; trying lower ones");
                    match self.rlimits.lock() {
                        Ok(mut guard) => *guard = lower,
                        Err(poisoned) => *poisoned.into_inner() = lower,
                    }
                }
            }
        }
    }

    /// Creates and starts a container; the inner error is the engine
    /// refusing the rlimits (try lower ones).
    async fn try_start_container(
        &self,
        rlimits: Rlimits,
    ) -> Result<Result<Container, String>, SandboxError> {
        let name = format!("{}-{:06x}", self.prefix, rand::random::<u32>() & 0xff_ffff);
        if let Some(run) = &self.run {
            // A dead container's socket must not look like a live server.
            let _ = std::fs::remove_file(run.socket());
        }
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        let created = self
            .docker
            .create_container(Some(options), rlimits.apply(self.body.clone()))
            .await
            .map_err(|e| {
                if is_not_found(&e) || e.to_string().to_lowercase().contains("no such image") {
                    SandboxError::Unavailable(missing_image(&self.image, &self.endpoint))
                } else {
                    SandboxError::Failed(format!("cannot create the sandbox container: {e}"))
                }
            })?;
        for warning in &created.warnings {
            warn!(agent = %self.agent(), container = %name, %warning, "engine warning");
        }
        if let Err(e) = self.docker.start_container(&created.id, None).await {
            if let Err(e) = remove_container(&self.docker, &created.id).await {
                warn!(agent = %self.agent(), container = %name, error = %e, "cannot remove a container that did not start");
            }
            let message = format!("cannot start the sandbox container {name}: {e}");
            if message.to_lowercase().contains("rlimit") {
                return Ok(Err(message));
            }
            return Err(SandboxError::Failed(message));
        }
        let mut container = Container {
            id: created.id,
            name,
            init_pid: None,
        };
        if self.run.is_some() {
            container.init_pid = self
                .docker
                .inspect_container(&container.id, None)
                .await
                .ok()
                .and_then(|i| i.state)
                .and_then(|s| s.pid)
                .and_then(|p| u32::try_from(p).ok())
                .filter(|p| *p > 0);
        }
        if let Some(run) = &self.run
            && let Err(e) = self.wait_for_server(&container, run).await
        {
            if let Err(e) = remove_container(&self.docker, &container.id).await {
                warn!(agent = %self.agent(), container = %container.name, error = %e, "cannot remove a container whose command server did not start");
            }
            return Err(e);
        }
        if self.spec.network == Network::Open
            && let Err(e) = self.close_host_off(&container).await
        {
            if let Err(e) = remove_container(&self.docker, &container.id).await {
                warn!(agent = %self.agent(), container = %container.name, error = %e, "cannot remove a container whose network could not be set up");
            }
            return Err(e);
        }
        info!(agent = %self.agent(), container = %container.name, network = %self.spec.network.describe(), "sandbox container started");
        Ok(Ok(container))
    }

    /// Waits until the container's command server accepts connections.
    async fn wait_for_server(
        &self,
        container: &Container,
        run: &RunDir,
    ) -> Result<(), SandboxError> {
        let socket = run.socket();
        let until = Instant::now() + persistent::START_TIMEOUT;
        let mut pause = Duration::from_millis(1);
        let mut checked = Instant::now();
        loop {
            if tokio::net::UnixStream::connect(&socket).await.is_ok() {
                return Ok(());
            }
            if Instant::now() >= until {
                return Err(SandboxError::Failed(format!(
                    "the command server of the sandbox container {} did not start within {} s",
                    container.name,
                    persistent::START_TIMEOUT.as_secs()
                )));
            }
            if checked.elapsed() > Duration::from_millis(500) {
                checked = Instant::now();
                if !self.is_running(container).await {
                    let logs = self.logs(container).await;
                    return Err(SandboxError::Unavailable(format!(
                        "the command server of the sandbox container {} exited at once: {}",
                        container.name,
                        if logs.is_empty() {
                            "no message"
                        } else {
                            logs.trim()
                        }
                    )));
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// What a container printed (for an error).
    async fn logs(&self, container: &Container) -> String {
        let options = bollard::query_parameters::LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .build();
        let mut logs = self.docker.logs(&container.id, Some(options));
        let mut text = String::new();
        while let Some(Ok(chunk)) = logs.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            if text.len() > 4096 {
                break;
            }
        }
        text
    }

    /// Drops `dead` (if it is still the current container) so the next
    /// command starts a new one.
    async fn forget(&self, dead: &Container) {
        let mut state = self.state.lock().await;
        if state.container.as_ref().map(|c| &c.id) != Some(&dead.id) {
            return;
        }
        state.container = None;
        warn!(agent = %self.agent(), container = %dead.name, "sandbox container stopped; a new one is made for the next command");
        // An engine may refuse to remove a container that is still
        // stopping (its main process just died): try again for a moment.
        let mut last = None;
        for _ in 0..20 {
            match remove_container(&self.docker, &dead.id).await {
                Ok(()) => return,
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if let Some(e) = last {
            warn!(agent = %self.agent(), container = %dead.name, error = %e, "cannot remove a stopped sandbox container");
        }
    }

    /// Makes the container's routes refuse its gateway and the host's
    /// addresses as they are now (a privileged exec, only when they changed
    /// since the last time for this container). An error means the routes
    /// may be stale: no command may run.
    async fn close_host_off(&self, container: &Container) -> Result<(), SandboxError> {
        // The machine of the engine: this one's addresses, or those a
        // remote engine's configuration lists (placement makes sure it
        // lists some).
        let engine = self.placement.engine();
        let now = if engine.is_local() {
            host_ipv4_addresses().map_err(|e| {
                SandboxError::Failed(format!("cannot read the host's addresses: {e}"))
            })?
        } else {
            engine.spec().host_addresses.clone()
        };
        let mut refused = self.refused.lock().await;
        let args: Vec<String> = match refused.as_ref() {
            Some((id, before)) if *id == container.id => {
                if *before == now {
                    return Ok(());
                }
                let added = now.difference(before).map(|a| format!("+{a}"));
                let removed = before.difference(&now).map(|a| format!("-{a}"));
                added.chain(removed).collect()
            }
            _ => now.iter().map(|a| format!("+{a}")).collect(),
        };
        let mut cmd = vec![
            "/bin/sh".to_string(),
            "-c".into(),
            scripts::CLOSE_HOST.into(),
            "paddock-net".into(),
        ];
        cmd.extend(args);
        let options = CreateExecOptions::<String> {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            privileged: Some(true),
            user: Some("0:0".into()),
            cmd: Some(cmd),
            working_dir: Some("/".into()),
            ..Default::default()
        };
        let failed = |why: String| {
            SandboxError::Failed(format!(
                "cannot keep the network-enabled sandbox container {} off the host: {why}",
                container.name
            ))
        };
        let (code, stdout, stderr) = tokio::time::timeout(
            CLOSE_HOST_TIMEOUT,
            exec_output(&self.docker, &container.id, options),
        )
        .await
        .map_err(|_| {
            failed(format!(
                "no answer within {} s",
                CLOSE_HOST_TIMEOUT.as_secs()
            ))
        })?
        .map_err(failed)?;
        match code {
            Some(0) => {}
            Some(scripts::CLOSE_HOST_NO_IP) => {
                return Err(SandboxError::Unavailable(format!(
                    "the sandbox image `{}` has no `ip` (iproute2), which a network-enabled \
                     Docker sandbox needs to keep its container off the host's addresses; \
                     rebuild it with `scripts/sandbox-image.sh` (it installs iproute2) or add \
                     iproute2 to your image, or do not grant the network",
                    self.image
                )));
            }
            code => {
                return Err(failed(format!(
                    "the setup exited with {}: {}",
                    code.map_or("no status".to_string(), |c| c.to_string()),
                    stderr.trim()
                )));
            }
        }
        debug!(agent = %self.agent(), container = %container.name, routes = %stdout.trim(), "the container's routes refuse the host");
        *refused = Some((container.id.clone(), now));
        Ok(())
    }

    async fn is_running(&self, container: &Container) -> bool {
        match self.docker.inspect_container(&container.id, None).await {
            Ok(info) => info.state.and_then(|s| s.running).unwrap_or(false),
            Err(e) => !is_not_found(&e),
        }
    }

    async fn destroy(&self) -> Result<(), SandboxError> {
        self.cancel.cancel();
        let mut state = self.state.lock().await;
        state.destroyed = true;
        let Some(container) = state.container.take() else {
            return Ok(());
        };
        match remove_container(&self.docker, &container.id).await {
            Ok(()) => {
                info!(agent = %self.agent(), container = %container.name, "sandbox container removed");
                Ok(())
            }
            Err(e) => {
                let message = format!(
                    "cannot remove the sandbox container {} at {}: {e}",
                    container.name, self.endpoint
                );
                state.container = Some(container);
                Err(self.engine_error(SandboxError::Failed(message)).await)
            }
        }
    }

    /// `error` of a command (or of making the container), or, when the
    /// engine does not answer a ping, an error naming the engine.
    async fn engine_error(&self, error: SandboxError) -> SandboxError {
        if matches!(error, SandboxError::Invalid(_)) {
            return error;
        }
        match self.placement.engine().check(PING_TIMEOUT).await {
            Ok(()) => error,
            Err(why) => self.placement.engine().down(self.agent(), &why),
        }
    }

    async fn exec(
        &self,
        cmd: ExecSpec,
        sink: Option<OutputSink>,
    ) -> Result<ExecOutcome, SandboxError> {
        validate(&cmd)?;
        let engine = self.placement.engine();
        // Known down: fail at once, unless it answers again.
        if !engine.is_healthy()
            && let Err(why) = engine.check(PING_TIMEOUT).await
        {
            return Err(engine.down(self.agent(), &why));
        }
        match self.exec_here(cmd, sink).await {
            Ok(outcome) if outcome.exit_code.is_some() || outcome.timed_out => Ok(outcome),
            // No exit status: the container stopped, or the engine went
            // away while the command ran.
            Ok(outcome) => match engine.check(PING_TIMEOUT).await {
                Ok(()) => Ok(outcome),
                Err(why) => Err(engine.down(self.agent(), &why)),
            },
            Err(e) => Err(self.engine_error(e).await),
        }
    }

    async fn exec_here(
        &self,
        cmd: ExecSpec,
        sink: Option<OutputSink>,
    ) -> Result<ExecOutcome, SandboxError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let container = self.current().await?;
            if self.spec.network == Network::Open
                && let Err(e) = self.close_host_off(&container).await
            {
                if self.is_running(&container).await {
                    return Err(e);
                }
                self.forget(&container).await;
                if attempt >= 2 {
                    return Err(e);
                }
                continue;
            }
            if let Some(run) = &self.run {
                // The socket's directory is writable from inside: a command
                // could put a socket of its own there. The peer must be the
                // container init's child (the server), when the engine runs
                // on this host and says which pid that is.
                let peer = container.init_pid.map(persistent::Peer::ChildOf);
                match persistent::run(&run.socket(), peer, &cmd, sink.clone(), &self.cancel).await {
                    Ok(outcome) => return Ok(outcome),
                    Err(persistent::RunError::Sandbox(e)) => return Err(e),
                    Err(persistent::RunError::NotRunning(why)) => {
                        self.forget(&container).await;
                        if attempt >= 2 {
                            return Err(SandboxError::Failed(why));
                        }
                        continue;
                    }
                    Err(persistent::RunError::Lost(why)) => {
                        self.forget(&container).await;
                        return Err(SandboxError::Failed(format!(
                            "{why}; a new sandbox container is made for the next command"
                        )));
                    }
                }
            }
            match self.run(&container, &cmd, sink.clone()).await {
                Ok(outcome) => return Ok(outcome),
                Err(RunError::Sandbox(e)) => return Err(e),
                Err(RunError::Gone(message)) => {
                    self.forget(&container).await;
                    if attempt >= 2 {
                        return Err(SandboxError::Failed(message));
                    }
                }
            }
        }
    }

    /// Classifies an error starting a command.
    async fn start_error(&self, container: &Container, e: DockerError) -> RunError {
        let message = format!("cannot run the command in the sandbox container: {e}");
        if is_not_found(&e) || !self.is_running(container).await {
            RunError::Gone(message)
        } else {
            RunError::Sandbox(SandboxError::Failed(message))
        }
    }

    async fn run(
        &self,
        container: &Container,
        cmd: &ExecSpec,
        sink: Option<OutputSink>,
    ) -> Result<ExecOutcome, RunError> {
        let started = std::time::Instant::now();
        let exec_id = format!("{:016x}", rand::random::<u64>());
        let mode = if cmd.background { "bg" } else { "fg" };
        let mut argv: Vec<String> = vec![
            "/bin/sh".into(),
            "-c".into(),
            scripts::RUN.into(),
            "paddock-run".into(),
            exec_id.clone(),
            mode.into(),
            cmd.cwd.clone(),
        ];
        argv.extend(cmd.argv.iter().cloned());
        let env: Vec<String> = cmd.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let options = CreateExecOptions::<String> {
            attach_stdin: Some(cmd.stdin.is_some()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            env: Some(env),
            cmd: Some(argv),
            working_dir: Some("/".into()),
            ..Default::default()
        };
        let created = match self.docker.create_exec(&container.id, options).await {
            Ok(created) => created,
            Err(e) => return Err(self.start_error(container, e).await),
        };
        let mut guard = KillOnDrop {
            docker: self.docker.clone(),
            container: container.id.clone(),
            exec_id: exec_id.clone(),
            agent: self.agent().to_string(),
            armed: true,
        };
        let start = StartExecOptions {
            detach: false,
            tty: false,
            output_capacity: Some(64 * 1024),
        };
        let (mut output, input) = match self.docker.start_exec(&created.id, Some(start)).await {
            Ok(StartExecResults::Attached { output, input }) => (output, input),
            Ok(StartExecResults::Detached) => {
                return Err(RunError::Sandbox(SandboxError::Failed(
                    "the engine started the command detached".into(),
                )));
            }
            Err(e) => {
                guard.armed = false;
                return Err(self.start_error(container, e).await);
            }
        };
        debug!(agent = %self.agent(), container = %container.name, exec = %exec_id, argv = ?cmd.argv, "command started");

        // Stdin is written concurrently with reading the output, so a
        // command that answers before reading everything cannot deadlock.
        let mut input = Some(input);
        let writer = cmd.stdin.clone().and_then(|text| {
            input.take().map(|mut input| {
                tokio::spawn(async move {
                    let _ = input.write_all(text.as_bytes()).await;
                    let _ = input.shutdown().await;
                    input
                })
            })
        });

        let mut collected = Collected::new(cmd.max_output_bytes, sink);
        let deadline = Instant::now() + cmd.timeout;
        let mut timed_out = false;
        let mut stream_error = None;
        loop {
            match tokio::time::timeout_at(deadline, output.next()).await {
                Ok(Some(Ok(chunk))) => collected.push(chunk),
                Ok(Some(Err(e))) => {
                    stream_error = Some(e.to_string());
                    break;
                }
                Ok(None) => break,
                Err(_) => {
                    timed_out = true;
                    break;
                }
            }
        }
        if timed_out || stream_error.is_some() {
            if timed_out {
                info!(agent = %self.agent(), exec = %exec_id, timeout_ms = cmd.timeout.as_millis() as u64, "command timed out; killing it");
            }
            if let Err(e) = kill_exec(&self.docker, &container.id, &exec_id).await {
                warn!(agent = %self.agent(), exec = %exec_id, error = %e, "cannot kill the command");
            }
            // The wrapper now cleans up and exits; keep what it still says.
            let grace = Instant::now() + DRAIN_GRACE;
            if stream_error.is_none() {
                while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(grace, output.next()).await
                {
                    collected.push(chunk);
                }
            }
        }
        guard.armed = false;
        if let Some(writer) = writer {
            writer.abort();
        }
        drop(input);

        let mut exit_code = None;
        if !timed_out {
            let until = Instant::now() + EXIT_STATUS_WAIT;
            let mut pause = Duration::from_millis(5);
            loop {
                match self.docker.inspect_exec(&created.id).await {
                    Ok(info) if info.running == Some(true) && Instant::now() < until => {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_millis(100));
                    }
                    Ok(info) => {
                        if info.running != Some(true) {
                            exit_code = info.exit_code;
                        }
                        break;
                    }
                    Err(e) => {
                        debug!(agent = %self.agent(), exec = %exec_id, error = %e, "cannot read the exit status");
                        break;
                    }
                }
            }
        }

        if exit_code == Some(scripts::NO_CWD_STATUS) && collected.no_cwd() {
            return Err(RunError::Sandbox(SandboxError::Invalid(format!(
                "the working directory `{}` does not exist in the sandbox (or is not a directory)",
                cmd.cwd
            ))));
        }
        collected.release();

        let suspicious = exit_code.is_none_or(|c| c >= 128) || stream_error.is_some();
        if !timed_out && suspicious && !self.is_running(container).await {
            let oom = self
                .docker
                .inspect_container(&container.id, None)
                .await
                .ok()
                .and_then(|i| i.state)
                .and_then(|s| s.oom_killed)
                .unwrap_or(false);
            let why = if oom {
                "it ran out of memory"
            } else {
                "it was stopped or removed"
            };
            collected.note(&format!(
                "\n[paddock: the sandbox container stopped while this command ran ({why}); \
                 a new one is made for the next command]\n"
            ));
            self.forget(container).await;
            exit_code = None;
        } else if let Some(e) = stream_error {
            return Err(RunError::Sandbox(SandboxError::Failed(format!(
                "lost the command's output: {e}"
            ))));
        }

        let outcome = collected.finish(
            if timed_out {
                None
            } else {
                exit_code.map(|c| i32::try_from(c).unwrap_or(i32::MAX))
            },
            timed_out,
            started.elapsed(),
        );
        debug!(agent = %self.agent(), exec = %exec_id, exit_code = ?outcome.exit_code, timed_out, duration_ms = outcome.duration_ms, "command finished");
        Ok(outcome)
    }
}

/// The two captures of a command, holding back the wrapper's "no such
/// working directory" mark until the exit status says whether it was that.
struct Collected {
    stdout: Capture,
    stderr: Capture,
    held: Option<bytes::Bytes>,
    seen: bool,
}

impl Collected {
    fn new(cap: usize, sink: Option<OutputSink>) -> Collected {
        Collected {
            stdout: Capture::new(StreamKind::Stdout, cap, sink.clone()),
            stderr: Capture::new(StreamKind::Stderr, cap, sink),
            held: None,
            seen: false,
        }
    }

    fn push(&mut self, chunk: LogOutput) {
        match chunk {
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                self.release();
                self.stdout.push(&message);
            }
            LogOutput::StdErr { message } => {
                if !self.seen && message.as_ref() == scripts::NO_CWD_MARK.as_bytes() {
                    self.held = Some(message);
                } else {
                    self.release();
                    self.stderr.push(&message);
                }
            }
            LogOutput::StdIn { .. } => return,
        }
        self.seen = true;
    }

    /// Whether the only output was the wrapper's mark.
    fn no_cwd(&self) -> bool {
        self.held.is_some() && self.stdout.total() == 0 && self.stderr.total() == 0
    }

    /// Passes on a held-back mark (it was the command's own output).
    fn release(&mut self) {
        if let Some(held) = self.held.take() {
            self.stderr.push(&held);
        }
    }

    fn note(&mut self, text: &str) {
        self.stderr.push(text.as_bytes());
    }

    fn finish(self, exit_code: Option<i32>, timed_out: bool, elapsed: Duration) -> ExecOutcome {
        ExecOutcome {
            exit_code,
            truncated: self.stdout.truncated() || self.stderr.truncated(),
            stdout: self.stdout.text(),
            stderr: self.stderr.text(),
            timed_out,
            duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// Kills a command's process tree when its future is dropped before the
/// command ended (the agent was interrupted, a job was killed).
struct KillOnDrop {
    docker: Docker,
    container: String,
    exec_id: String,
    agent: String,
    armed: bool,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let docker = self.docker.clone();
        let container = std::mem::take(&mut self.container);
        let exec_id = std::mem::take(&mut self.exec_id);
        let agent = std::mem::take(&mut self.agent);
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    debug!(%agent, exec = %exec_id, "command abandoned; killing it");
                    if let Err(e) = kill_exec(&docker, &container, &exec_id).await {
                        warn!(%agent, exec = %exec_id, error = %e, "cannot kill an abandoned command");
                    }
                });
            }
            Err(_) => {
                warn!(%agent, exec = %exec_id, "no runtime to kill an abandoned command on");
            }
        }
    }
}

/// Runs an exec to its end: its exit status (when the engine tells it),
/// stdout and stderr (each capped at 64 KiB).
async fn exec_output(
    docker: &Docker,
    container: &str,
    options: CreateExecOptions<String>,
) -> Result<(Option<i64>, String, String), String> {
    let created = docker
        .create_exec(container, options)
        .await
        .map_err(|e| e.to_string())?;
    let mut stdout = Capture::new(StreamKind::Stdout, 64 * 1024, None);
    let mut stderr = Capture::new(StreamKind::Stderr, 64 * 1024, None);
    if let StartExecResults::Attached { mut output, .. } = docker
        .start_exec(&created.id, None)
        .await
        .map_err(|e| e.to_string())?
    {
        while let Some(chunk) = output.next().await {
            match chunk.map_err(|e| e.to_string())? {
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    stdout.push(&message)
                }
                LogOutput::StdErr { message } => stderr.push(&message),
                LogOutput::StdIn { .. } => {}
            }
        }
    }
    let until = Instant::now() + EXIT_STATUS_WAIT;
    let mut pause = Duration::from_millis(5);
    let code = loop {
        let info = docker
            .inspect_exec(&created.id)
            .await
            .map_err(|e| e.to_string())?;
        if info.running != Some(true) {
            break info.exit_code;
        }
        if Instant::now() >= until {
            break None;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    };
    Ok((code, stdout.text(), stderr.text()))
}

/// Kills the session of command `exec_id` with a second exec.
async fn kill_exec(docker: &Docker, container: &str, exec_id: &str) -> Result<(), String> {
    let run = async {
        let options = CreateExecOptions::<String> {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(vec![
                "/bin/sh".into(),
                "-c".into(),
                scripts::KILL.into(),
                "paddock-kill".into(),
                exec_id.into(),
            ]),
            working_dir: Some("/".into()),
            ..Default::default()
        };
        let created = docker
            .create_exec(container, options)
            .await
            .map_err(|e| e.to_string())?;
        if let StartExecResults::Attached { mut output, .. } = docker
            .start_exec(&created.id, None)
            .await
            .map_err(|e| e.to_string())?
        {
            while let Some(chunk) = output.next().await {
                if let Ok(LogOutput::StdErr { message }) = chunk {
                    debug!(exec = %exec_id, stderr = %String::from_utf8_lossy(&message), "kill script");
                }
            }
        }
        Ok(())
    };
    tokio::time::timeout(KILL_TIMEOUT, run)
        .await
        .map_err(|_| format!("no answer within {} s", KILL_TIMEOUT.as_secs()))?
}

/// Force-removes a container and its anonymous volumes; a container that
/// is already gone is fine.
async fn remove_container(docker: &Docker, id: &str) -> Result<(), DockerError> {
    let options = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    match docker.remove_container(id, Some(options)).await {
        Err(e) if !is_not_found(&e) => Err(e),
        _ => Ok(()),
    }
}

fn missing_image(image: &str, endpoint: &str) -> String {
    format!(
        "the sandbox image `{image}` is not in the Docker engine at {endpoint} (it is never \
         pulled); build it locally with `scripts/sandbox-image.sh --tag {image}` (add \
         `--engine podman` for Podman), or set `sandbox.image`"
    )
}

fn validate(cmd: &ExecSpec) -> Result<(), SandboxError> {
    if cmd.argv.is_empty() || cmd.argv[0].is_empty() {
        return Err(SandboxError::Invalid("the command is empty".into()));
    }
    if cmd.argv.iter().any(|a| a.contains('\0')) {
        return Err(SandboxError::Invalid(
            "a command argument contains a NUL byte".into(),
        ));
    }
    if !cmd.cwd.starts_with('/') || cmd.cwd.contains('\0') {
        return Err(SandboxError::Invalid(format!(
            "the working directory `{}` must be an absolute path",
            cmd.cwd
        )));
    }
    for (key, value) in &cmd.env {
        if key.is_empty() || key.contains('=') || key.contains('\0') || value.contains('\0') {
            return Err(SandboxError::Invalid(format!(
                "invalid environment variable `{key}`"
            )));
        }
    }
    Ok(())
}

/// The `uid:gid` commands run as: `auto` is the workspace's owner; root is
/// always refused.
fn resolve_user(setting: &str, workspace: &Path) -> Result<String, SandboxError> {
    use std::os::unix::fs::MetadataExt;
    let setting = setting.trim();
    if setting.is_empty() || setting == "auto" {
        let meta = std::fs::metadata(workspace).map_err(|e| {
            SandboxError::Invalid(format!(
                "cannot read the owner of the workspace {}: {e}",
                workspace.display()
            ))
        })?;
        if meta.uid() == 0 {
            return Err(SandboxError::Invalid(format!(
                "the workspace {} is owned by root; the docker sandbox runs commands as a \
                 non-root user: chown it to a regular user or set `sandbox.user`",
                workspace.display()
            )));
        }
        return Ok(format!("{}:{}", meta.uid(), meta.gid()));
    }
    let (uid, gid) = match setting.split_once(':') {
        Some((uid, gid)) => (uid, Some(gid)),
        None => (setting, None),
    };
    let refuse = |why: &str| {
        SandboxError::Invalid(format!(
            "`sandbox.user = \"{setting}\"` is refused: {why} (the docker sandbox never runs \
             commands as root; use \"auto\", the workspace owner, or a numeric \"uid:gid\")"
        ))
    };
    if uid == "root" {
        return Err(refuse("that is root"));
    }
    let uid: u32 = uid
        .parse()
        .map_err(|_| refuse("the user must be a numeric uid"))?;
    if uid == 0 {
        return Err(refuse("uid 0 is root"));
    }
    match gid {
        None => Ok(uid.to_string()),
        Some(gid) => {
            let gid: u32 = gid
                .parse()
                .map_err(|_| refuse("the group must be a numeric gid"))?;
            Ok(format!("{uid}:{gid}"))
        }
    }
}

/// Up to eight alphanumeric characters of `id`, for container names.
fn short_name(id: &str) -> String {
    let short: String = id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    if short.is_empty() { "x".into() } else { short }
}

/// The open-files and processes rlimits given to containers.
///
/// Left out, an engine picks its own defaults (Podman: 1048576), which an
/// engine whose root cannot raise limits (no `CAP_SYS_RESOURCE`, e.g. inside
/// another container) fails to set. They start at this process's own hard
/// limits and are halved, down to [`MIN_RLIMIT`], while the engine refuses
/// them. Processes are bounded by the pids limit anyway (`RLIMIT_NPROC`
/// counts the uid's processes host-wide, so it must stay generous).
#[derive(Clone, Copy, Debug)]
struct Rlimits {
    nofile: i64,
    nproc: i64,
}

/// The lowest open-files / processes rlimit tried.
const MIN_RLIMIT: i64 = 4096;

impl Rlimits {
    fn own() -> Rlimits {
        Rlimits {
            nofile: own_hard_limit(libc::RLIMIT_NOFILE),
            nproc: own_hard_limit(libc::RLIMIT_NPROC),
        }
    }

    /// Smaller limits to try after the engine refused these with
    /// `message` (runc names the refused one by number: 6 is `RLIMIT_NPROC`,
    /// 7 `RLIMIT_NOFILE`); `None` when already at the floor.
    fn lowered(self, message: &str) -> Option<Rlimits> {
        let message = message.to_lowercase();
        let nproc = message.contains("type 6") || message.contains("nproc");
        let nofile = message.contains("type 7") || message.contains("nofile");
        let (nproc, nofile) = if nproc || nofile {
            (nproc, nofile)
        } else {
            (true, true)
        };
        let lower = |v: i64, refused: bool| {
            if refused {
                (v / 2).max(MIN_RLIMIT.min(v))
            } else {
                v
            }
        };
        let next = Rlimits {
            nofile: lower(self.nofile, nofile),
            nproc: lower(self.nproc, nproc),
        };
        (next.nofile != self.nofile || next.nproc != self.nproc).then_some(next)
    }

    /// `body` with these limits added.
    fn apply(self, mut body: ContainerCreateBody) -> ContainerCreateBody {
        if let Some(host) = body.host_config.as_mut() {
            let ulimits = host.ulimits.get_or_insert_with(Vec::new);
            for (name, value) in [("nofile", self.nofile), ("nproc", self.nproc)] {
                ulimits.push(ResourcesUlimits {
                    name: Some(name.into()),
                    soft: Some(value),
                    hard: Some(value),
                });
            }
        }
        body
    }
}

/// This process's hard limit of `resource`, at most 2^20.
fn own_hard_limit(resource: libc::__rlimit_resource_t) -> i64 {
    const CAP: u64 = 1 << 20;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    let ok = unsafe { libc::getrlimit(resource, &mut limit) } == 0;
    let hard = if ok { limit.rlim_max.min(CAP) } else { 1024 };
    i64::try_from(hard).unwrap_or(1024)
}

/// `mb` MiB in bytes, `None` (no limit) for 0.
fn mib(mb: u64) -> Option<i64> {
    (mb > 0).then(|| i64::try_from(mb.saturating_mul(1024 * 1024)).unwrap_or(i64::MAX))
}

fn container_body(
    image: &str,
    user: &str,
    workspace: &Path,
    spec: &SandboxSpec,
    host_id: &str,
    server: Option<(&Path, &Path)>,
    engine: &EngineSpec,
) -> Result<ContainerCreateBody, SandboxError> {
    let limits = &spec.limits;
    // Bind mounts name paths on the engine's machine.
    let source = engine
        .engine_path(workspace)
        .to_str()
        .ok_or_else(|| {
            SandboxError::Invalid(format!(
                "the workspace path {} is not valid UTF-8",
                workspace.display()
            ))
        })?
        .to_string();
    let mut mounts = vec![Mount {
        target: Some("/workspace".into()),
        source: Some(source),
        typ: Some(MountType::BIND),
        read_only: Some(false),
        ..Default::default()
    }];
    for dir in &spec.read_only {
        let utf8 = |p: &Path| {
            p.to_str().map(str::to_string).ok_or_else(|| {
                SandboxError::Invalid(format!("the path {} is not valid UTF-8", dir.display()))
            })
        };
        let path = utf8(dir)?;
        mounts.push(Mount {
            target: Some(path),
            source: Some(utf8(&engine.engine_path(dir))?),
            typ: Some(MountType::BIND),
            read_only: Some(true),
            ..Default::default()
        });
    }
    let utf8 = |p: &Path| {
        p.to_str().map(str::to_string).ok_or_else(|| {
            SandboxError::Invalid(format!("the path {} is not valid UTF-8", p.display()))
        })
    };
    if let Some((sandboxd, run_dir)) = server {
        mounts.push(Mount {
            target: Some(persistent::RUN_DIR_IN_SANDBOX.into()),
            source: Some(utf8(run_dir)?),
            typ: Some(MountType::BIND),
            read_only: Some(false),
            ..Default::default()
        });
        mounts.push(Mount {
            target: Some(persistent::SANDBOXD_IN_SANDBOX.into()),
            source: Some(utf8(sandboxd)?),
            typ: Some(MountType::BIND),
            read_only: Some(true),
            ..Default::default()
        });
        if let Some(egress) = &spec.egress {
            mounts.push(Mount {
                target: Some(persistent::EGRESS_IN_SANDBOX.into()),
                source: Some(utf8(egress)?),
                typ: Some(MountType::BIND),
                read_only: Some(false),
                ..Default::default()
            });
        }
    }
    if let Some(prepared) = &spec.environment {
        for m in &prepared.mounts {
            mounts.push(Mount {
                target: Some(m.target.clone()),
                source: Some(engine.engine_path(&m.source).to_string_lossy().into_owned()),
                typ: Some(MountType::BIND),
                read_only: Some(!m.writable),
                ..Default::default()
            });
        }
    }
    let mut ulimits = vec![ResourcesUlimits {
        name: Some("core".into()),
        soft: Some(0),
        hard: Some(0),
    }];
    if let Some(bytes) = mib(limits.file_size_mb) {
        ulimits.push(ResourcesUlimits {
            name: Some("fsize".into()),
            soft: Some(bytes),
            hard: Some(bytes),
        });
    }
    if limits.cpu_time_secs > 0 {
        let secs = i64::try_from(limits.cpu_time_secs).unwrap_or(i64::MAX);
        ulimits.push(ResourcesUlimits {
            name: Some("cpu".into()),
            soft: Some(secs),
            hard: Some(secs),
        });
    }
    let mut tmpfs = String::from("rw,exec,nosuid,nodev,mode=1777");
    if limits.tmp_size_mb > 0 {
        tmpfs.push_str(&format!(",size={}m", limits.tmp_size_mb));
    }
    let host_config = HostConfig {
        memory: mib(limits.memory_mb),
        // Equal to the memory limit: no swap.
        memory_swap: mib(limits.memory_mb),
        nano_cpus: (limits.cpus > 0.0).then(|| (limits.cpus * 1e9).round() as i64),
        pids_limit: (limits.pids > 0).then(|| i64::try_from(limits.pids).unwrap_or(i64::MAX)),
        security_opt: Some(vec!["no-new-privileges".into()]),
        cap_drop: Some(vec!["ALL".into()]),
        readonly_rootfs: Some(true),
        // Podman mounts writable tmpfs on /run and /var/tmp of read-only
        // containers; read-only ones here keep both engines alike (and
        // nothing writable outside /workspace and /tmp).
        tmpfs: Some(HashMap::from([
            ("/tmp".to_string(), tmpfs),
            (
                "/run".to_string(),
                "ro,nosuid,nodev,noexec,size=64k".to_string(),
            ),
            (
                "/var/tmp".to_string(),
                "ro,nosuid,nodev,noexec,size=64k".to_string(),
            ),
        ])),
        ulimits: Some(ulimits),
        init: Some(true),
        mounts: Some(mounts),
        network_mode: Some(
            if spec.network == Network::Open && spec.egress.is_none() {
                "bridge"
            } else {
                "none"
            }
            .into(),
        ),
        // IPv4 only: the routes that keep the host out are IPv4 routes.
        sysctls: (spec.network == Network::Open && spec.egress.is_none()).then(|| {
            HashMap::from([
                (
                    "net.ipv6.conf.all.disable_ipv6".to_string(),
                    "1".to_string(),
                ),
                (
                    "net.ipv6.conf.default.disable_ipv6".to_string(),
                    "1".to_string(),
                ),
            ])
        }),
        ..Default::default()
    };
    let mut env = vec!["HOME=/tmp".to_string()];
    if let Some(prepared) = &spec.environment {
        env.extend(prepared.env.iter().map(|(k, v)| format!("{k}={v}")));
    }
    if spec.egress.is_some() {
        env.extend(
            crate::egress::proxy_env()
                .into_iter()
                .map(|(k, v)| format!("{k}={v}")),
        );
    }
    // Persistent: the command server is the main process (under the
    // engine's init), started once; per command: a shell that sleeps.
    let (entrypoint, cmd) = match server {
        Some(_) => {
            // The engine sets the container's limits (cgroup, ulimits).
            let no_limits = crate::SandboxLimits {
                memory_mb: 0,
                pids: 0,
                file_size_mb: 0,
                cpu_time_secs: 0,
                ..crate::SandboxLimits::default()
            };
            let args = persistent::server_args(
                persistent::Listen::Socket,
                &no_limits,
                spec.egress.is_some(),
            );
            (vec![persistent::SANDBOXD_IN_SANDBOX.to_string()], args)
        }
        None => (
            vec!["/bin/sh".into(), "-c".into(), scripts::MAIN.into()],
            vec!["paddock-main".into()],
        ),
    };
    Ok(ContainerCreateBody {
        image: Some(image.into()),
        user: Some(user.into()),
        working_dir: Some("/workspace".into()),
        env: Some(env),
        entrypoint: Some(entrypoint),
        cmd: Some(cmd),
        labels: Some(HashMap::from([
            (LABEL_SANDBOX.to_string(), "1".to_string()),
            (LABEL_HOST.to_string(), host_id.to_string()),
            (LABEL_AGENT.to_string(), spec.agent_id.clone()),
        ])),
        host_config: Some(host_config),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_setting() {
        let dir = tempfile::tempdir().unwrap();
        assert!(resolve_user("root", dir.path()).is_err());
        assert!(resolve_user("0:0", dir.path()).is_err());
        assert!(resolve_user("0", dir.path()).is_err());
        assert!(resolve_user("alice", dir.path()).is_err());
        assert_eq!(resolve_user("1000:1000", dir.path()).unwrap(), "1000:1000");
        assert_eq!(resolve_user("1234", dir.path()).unwrap(), "1234");
        // The tempdir is owned by whoever runs the tests.
        let uid = unsafe { libc::getuid() };
        match resolve_user("auto", dir.path()) {
            Ok(user) => assert!(user.starts_with(&format!("{uid}:"))),
            Err(e) => {
                assert_eq!(uid, 0);
                assert!(e.to_string().contains("owned by root"), "{e}");
            }
        }
    }

    #[test]
    fn names_and_endpoints() {
        assert_eq!(short_name("Agent_01-abcdefgh"), "agent01a");
        assert_eq!(short_name("--"), "x");
        let config = SandboxConfig {
            docker_host: Some("/run/podman.sock".into()),
            ..SandboxConfig::default()
        };
        assert_eq!(docker_endpoint(&config), "unix:///run/podman.sock");
    }

    #[test]
    fn validation() {
        let ok = ExecSpec {
            argv: vec!["true".into()],
            cwd: "/workspace".into(),
            env: vec![],
            timeout: Duration::from_secs(1),
            max_output_bytes: 10,
            stdin: None,
            background: false,
        };
        assert!(validate(&ok).is_ok());
        let relative = ExecSpec {
            cwd: "workspace".into(),
            ..ok.clone()
        };
        assert!(validate(&relative).is_err());
        let empty = ExecSpec {
            argv: vec![],
            ..ok.clone()
        };
        assert!(validate(&empty).is_err());
        let bad_env = ExecSpec {
            env: vec![("A=B".into(), "c".into())],
            ..ok
        };
        assert!(validate(&bad_env).is_err());
    }
}
