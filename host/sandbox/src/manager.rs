//! The sandbox manager: picks the backend, owns each agent's sandbox and
//! background jobs, and runs commands for plugins granted `exec` (it is the
//! plugin host's [`ExecBackend`]). A sandbox whose network is an
//! allow-list gets its egress proxy ([`crate::egress`]) from here, started
//! before the backend makes the sandbox and stopped with it.

use super::{
    Backend, BackendChoice, BackendKind, Capture, ExecSpec, OutputSink, Sandbox, SandboxConfig,
    SandboxError, SandboxSpec, StreamKind, bwrap::BwrapBackend, docker::DockerBackend,
    unsandboxed::UnsandboxedBackend,
};
use crate::egress::{EgressGate, EgressProxy};
use crate::environment::{EnvironmentError, PreparedEnvironment, ResolvedEnvironment};
use crate::exec::{BoxFuture, ExecBackend, ExecFailure, ExecOutcome, ExecRequest, JobState};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Jobs kept per agent (finished ones stay readable until there are this
/// many).
const KEPT_JOBS: usize = 64;

/// Where commands run inside every sandbox unless they say otherwise.
pub const WORKSPACE: &str = "/workspace";

/// How the backend was chosen, for the start-up log and the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// The backend in use, if any works.
    pub kind: Option<BackendKind>,
    /// Why each backend that was tried and not used was passed over.
    pub notes: Vec<String>,
}

/// Picks the backend, owns every agent's sandbox and background jobs.
pub struct SandboxManager {
    config: SandboxConfig,
    backend: Result<Arc<dyn Backend>, String>,
    selection: Selection,
    sandboxes: Mutex<HashMap<String, Slot>>,
    jobs: Mutex<HashMap<String, HashMap<String, Job>>>,
    /// Each agent's last CPU reading (CPU time in µs, when), for CPU %.
    cpu_samples: Mutex<HashMap<String, (u64, std::time::Instant)>>,
    /// Each agent's prepared environment, applied to its sandbox.
    environments: Mutex<HashMap<String, PreparedEnvironment>>,
    /// Held (locked) while this process lives: tells later processes of
    /// the data dir that its sandboxes are not orphans.
    _owner_lock: Option<std::fs::File>,
    /// Where the egress proxies' sockets are made.
    egress_dir: PathBuf,
    /// What the egress proxies ask about hosts not on an allow-list, and
    /// tell about every connection (set by the application).
    egress_gate: std::sync::RwLock<Option<Arc<dyn EgressGate>>>,
}

/// An agent's sandbox resource use (`/api/metrics/agents`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SandboxUse {
    /// The backend (`docker`, `bwrap`, `none`).
    pub backend: String,
    /// Memory, processes and CPU time now.
    #[serde(flatten)]
    pub usage: super::ResourceUsage,
    /// CPU use since the previous reading, in % of one core (null on the
    /// first reading).
    pub cpu_percent: Option<f64>,
}

/// One agent's sandbox, made on first use.
type Slot = Arc<tokio::sync::Mutex<Option<Arc<dyn Sandbox>>>>;

/// A background job: its task and what it has printed so far.
struct Job {
    task: JoinHandle<()>,
    live: Arc<Mutex<LiveOutput>>,
}

struct LiveOutput {
    stdout: Capture,
    stderr: Capture,
    started: std::time::Instant,
    done: Option<Result<ExecOutcome, SandboxError>>,
}

impl LiveOutput {
    fn state(&self) -> Result<JobState, ExecFailure> {
        match &self.done {
            Some(Ok(out)) => Ok(JobState {
                running: false,
                output: out.clone(),
            }),
            Some(Err(e)) => Err(to_failure(e.clone())),
            None => Ok(JobState {
                running: true,
                output: ExecOutcome {
                    exit_code: None,
                    stdout: self.stdout.text(),
                    stderr: self.stderr.text(),
                    truncated: self.stdout.truncated() || self.stderr.truncated(),
                    timed_out: false,
                    duration_ms: self.started.elapsed().as_millis() as u64,
                },
            }),
        }
    }
}

impl SandboxManager {
    /// Chooses the backend (`choice` overrides the config's; `allow_unsafe`
    /// is `--unsafe-no-sandbox`), then removes sandboxes a killed host of
    /// this data dir (`host_id`) left behind.
    ///
    /// An explicitly chosen backend that does not work is an error saying
    /// why and what to do. With `auto`, when neither Docker nor bubblewrap
    /// works, the manager still starts, and every command fails with the
    /// reasons: commands never run unsandboxed unless asked.
    pub async fn start(
        config: &SandboxConfig,
        choice: Option<BackendChoice>,
        allow_unsafe: bool,
        host_id: &str,
    ) -> Result<SandboxManager, SandboxError> {
        let choice = if allow_unsafe {
            BackendChoice::None
        } else {
            choice.unwrap_or(config.backend)
        };
        // A malformed `[[sandbox.engines]]` entry is an error whichever
        // backend is chosen (never a silent fall back to bubblewrap).
        if !config.engines.is_empty() {
            crate::engines::EngineSpec::from_config(config)?;
        }
        let mut notes = Vec::new();
        let backend: Result<Arc<dyn Backend>, String> = match choice {
            BackendChoice::None if !allow_unsafe => {
                return Err(SandboxError::Invalid(
                    "the `none` sandbox runs commands directly on this host, unconfined; it is \
                     only available with the explicit flag --unsafe-no-sandbox"
                        .into(),
                ));
            }
            BackendChoice::None => {
                tracing::warn!(
                    "--unsafe-no-sandbox: commands run directly on this host with no sandbox"
                );
                Ok(Arc::new(UnsandboxedBackend::new(config, host_id)))
            }
            BackendChoice::Docker => Ok(docker(config, host_id).await?),
            BackendChoice::Bwrap => Ok(bwrap(config, host_id).await?),
            BackendChoice::Auto => match docker(config, host_id).await {
                Ok(b) => Ok(b),
                Err(docker_err) => {
                    notes.push(format!("docker: {docker_err}"));
                    match bwrap(config, host_id).await {
                        Ok(b) => Ok(b),
                        Err(bwrap_err) => {
                            notes.push(format!("bwrap: {bwrap_err}"));
                            Err(format!(
                                "no sandbox backend works on this host, so commands cannot run \
                                 (they never run unsandboxed). {}",
                                notes.join("; ")
                            ))
                        }
                    }
                }
            },
        };
        let selection = Selection {
            kind: backend.as_ref().ok().map(|b| b.kind()),
            notes,
        };
        match &backend {
            Ok(b) => {
                tracing::info!(sandbox = %b.kind(), passed_over = ?selection.notes, "sandbox backend chosen");
                match b.reap_orphans().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        sandbox = %b.kind(),
                        removed = n,
                        "removed sandboxes left by a previous host process"
                    ),
                    Err(e) => {
                        tracing::warn!(sandbox = %b.kind(), error = %e, "could not remove sandboxes left by a previous host process")
                    }
                }
            }
            Err(reason) => tracing::warn!("{reason}"),
        }
        Ok(SandboxManager {
            config: config.clone(),
            backend,
            selection,
            sandboxes: Mutex::new(HashMap::new()),
            jobs: Mutex::new(HashMap::new()),
            cpu_samples: Mutex::new(HashMap::new()),
            environments: Mutex::new(HashMap::new()),
            _owner_lock: None,
            egress_dir: std::env::temp_dir().join(format!("paddock-egress-{host_id}")),
            egress_gate: std::sync::RwLock::new(None),
        })
    }

    /// [`start`](Self::start) for a process working in `data_dir`: it gets
    /// its own owner id (several processes may use one data dir: a server
    /// and headless runs), holds a lock file for it under
    /// `data_dir/sandboxes/`, and first removes the sandboxes of owners whose
    /// lock is free (their process was killed before it could clean up).
    pub async fn open(
        config: &SandboxConfig,
        choice: Option<BackendChoice>,
        allow_unsafe: bool,
        data_dir: &Path,
    ) -> Result<SandboxManager, SandboxError> {
        let dir = data_dir.join("sandboxes");
        std::fs::create_dir_all(&dir)
            .map_err(|e| SandboxError::Failed(format!("cannot create {}: {e}", dir.display())))?;
        let owner = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        // Made under a temporary name and renamed once locked, so no other
        // process ever sees it unlocked.
        let lock_path = dir.join(format!("{owner}.lock.new"));
        let lock = std::fs::File::create(&lock_path).map_err(|e| {
            SandboxError::Failed(format!("cannot create {}: {e}", lock_path.display()))
        })?;
        lock.try_lock().map_err(|e| {
            SandboxError::Failed(format!("cannot lock {}: {e}", lock_path.display()))
        })?;
        let mut manager = SandboxManager::start(config, choice, allow_unsafe, &owner).await?;
        // The lock file names the backend, so a later process reaps with
        // the right one.
        let kind = manager.kind().map_or("", |k| k.as_str());
        let final_path = dir.join(format!("{owner}.lock"));
        std::fs::write(&lock_path, kind)
            .and_then(|()| std::fs::rename(&lock_path, &final_path))
            .map_err(|e| {
                SandboxError::Failed(format!("cannot write {}: {e}", final_path.display()))
            })?;
        manager._owner_lock = Some(lock);
        manager.egress_dir = egress_dir(data_dir, &owner);
        manager.reap_dead_owners(&dir, &owner).await;
        Ok(manager)
    }

    /// Removes the sandboxes of every owner in `dir` whose lock is free.
    async fn reap_dead_owners(&self, dir: &Path, me: &str) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(owner) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".lock"))
                .map(str::to_string)
            else {
                continue;
            };
            if owner == me {
                continue;
            }
            let Ok(file) = std::fs::File::open(&path) else {
                continue;
            };
            if file.try_lock().is_err() {
                continue; // its process is alive
            }
            let kind = std::fs::read_to_string(&path).unwrap_or_default();
            let reaped = match BackendKind::parse(kind.trim()) {
                Some(BackendKind::Docker) => {
                    match DockerBackend::connect(&self.config, &owner).await {
                        Ok(b) => b.reap_orphans().await,
                        Err(e) => Err(e),
                    }
                }
                Some(BackendKind::Bwrap) => {
                    BwrapBackend::new(&self.config, &owner).reap_orphans().await
                }
                // `none` or no backend: nothing was made.
                Some(BackendKind::None) | None => Ok(0),
            };
            if let Some(data_dir) = dir.parent() {
                let _ = std::fs::remove_dir_all(egress_dir(data_dir, &owner));
            }
            match reaped {
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(owner = %owner, removed = n, "removed sandboxes left by a killed Paddock process");
                    }
                    drop(file);
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => {
                    tracing::warn!(owner = %owner, error = %e, "could not remove sandboxes left by a killed Paddock process")
                }
            }
        }
    }

    /// Sets what the egress proxies of sandboxes made from now on ask
    /// about hosts not on their allow-list and tell about each connection
    /// (the policy). Without one, such hosts are refused and nothing is
    /// recorded.
    pub fn set_egress_gate(&self, gate: Arc<dyn EgressGate>) {
        if let Ok(mut g) = self.egress_gate.write() {
            *g = Some(gate);
        }
    }

    /// Starts the egress proxy of a sandbox whose network is an
    /// allow-list, and points the spec at its socket.
    fn start_egress(&self, spec: &mut SandboxSpec) -> Result<Option<EgressProxy>, SandboxError> {
        let Some(allow) = spec.network.allow_list() else {
            spec.egress = None;
            return Ok(None);
        };
        let gate = self.egress_gate.read().ok().and_then(|g| g.clone());
        // Short: a unix socket's path has at most 107 bytes.
        let name = format!("{}.sock", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let proxy = EgressProxy::start(
            self.egress_dir.join(name),
            &spec.agent_id,
            allow.to_vec(),
            gate,
        )?;
        spec.egress = Some(proxy.socket().to_path_buf());
        Ok(Some(proxy))
    }

    /// The backend in use (`None` when no backend works).
    pub fn kind(&self) -> Option<BackendKind> {
        self.selection.kind
    }

    /// How the backend was chosen.
    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// The container engines of the Docker backend, with their health and
    /// load (empty with another backend or none).
    pub fn engines(&self) -> Vec<super::EngineStatus> {
        self.backend
            .as_ref()
            .map(|b| b.engines())
            .unwrap_or_default()
    }

    /// Removes the sandboxes of `agent` another host left on the engines
    /// this host reaches (see [`super::Backend::reap_agent`]); called when
    /// this host takes the agent over, before it runs anything.
    pub async fn reap_agent(&self, agent: &str) -> Result<usize, SandboxError> {
        match &self.backend {
            Ok(b) => b.reap_agent(agent).await,
            Err(_) => Ok(0),
        }
    }

    /// The agent's sandbox, made on first use (and remade when the agent's
    /// workspace or network grant changed).
    async fn sandbox_for(&self, spec: SandboxSpec) -> Result<Arc<dyn Sandbox>, SandboxError> {
        let backend = self
            .backend
            .as_ref()
            .map_err(|reason| SandboxError::Unavailable(reason.clone()))?;
        let slot = {
            let mut all = lock(&self.sandboxes);
            all.entry(spec.agent_id.clone()).or_default().clone()
        };
        let mut slot = slot.lock().await;
        if let Some(existing) = slot.as_ref() {
            if same_sandbox(existing.spec(), &spec) {
                return Ok(existing.clone());
            }
            tracing::info!(agent = %spec.agent_id, "the agent's workspace or network grant changed; remaking its sandbox");
            if let Err(e) = existing.destroy().await {
                tracing::warn!(agent = %spec.agent_id, error = %e, "could not destroy the old sandbox");
            }
            *slot = None;
        }
        let started = std::time::Instant::now();
        let mut spec = spec;
        let proxy = self.start_egress(&mut spec)?;
        let sandbox = backend.create(spec.clone()).await?;
        let sandbox: Arc<dyn Sandbox> = match proxy {
            Some(proxy) => Arc::new(Egressed {
                inner: sandbox,
                proxy,
            }),
            None => sandbox,
        };
        tracing::info!(agent = %spec.agent_id, sandbox = %backend.kind(), network = %spec.network.describe(), elapsed_ms = started.elapsed().as_millis() as u64, "sandbox created");
        *slot = Some(sandbox.clone());
        Ok(sandbox)
    }

    /// What the agent's sandbox uses now, with its CPU use since the
    /// previous reading; None without a sandbox (none made yet, or the
    /// backend cannot tell).
    pub async fn usage(&self, agent_id: &str) -> Option<SandboxUse> {
        let slot = lock(&self.sandboxes).get(agent_id).cloned()?;
        let sandbox = slot.lock().await.clone()?;
        let usage = sandbox.resource_usage().await?;
        let now = std::time::Instant::now();
        let cpu_percent = usage.cpu_usec.and_then(|cpu| {
            let previous = lock(&self.cpu_samples).insert(agent_id.to_string(), (cpu, now));
            let (before, then) = previous?;
            let wall = now.duration_since(then).as_micros() as f64;
            (wall > 0.0 && cpu >= before).then(|| (cpu - before) as f64 * 100.0 / wall)
        });
        Some(SandboxUse {
            backend: self
                .kind()
                .map_or("unknown", BackendKind::as_str)
                .to_string(),
            usage,
            cpu_percent,
        })
    }

    /// Kills the agent's background jobs and destroys its sandbox (when the
    /// agent is deleted). Does nothing for an agent without one.
    pub async fn destroy(&self, agent_id: &str) -> Result<(), SandboxError> {
        let jobs = lock(&self.jobs).remove(agent_id).unwrap_or_default();
        for (_, job) in jobs {
            job.task.abort();
            let _ = job.task.await;
        }
        lock(&self.cpu_samples).remove(agent_id);
        lock(&self.environments).remove(agent_id);
        let slot = lock(&self.sandboxes).remove(agent_id);
        if let Some(slot) = slot
            && let Some(sandbox) = slot.lock().await.take()
        {
            sandbox.destroy().await?;
            tracing::info!(agent = %agent_id, "sandbox destroyed");
        }
        Ok(())
    }

    /// Destroys every sandbox (host shutdown).
    pub async fn shutdown(&self) {
        let agents: Vec<String> = lock(&self.sandboxes).keys().cloned().collect();
        for agent in agents {
            if let Err(e) = self.destroy(&agent).await {
                tracing::warn!(agent = %agent, error = %e, "could not destroy sandbox at shutdown");
            }
        }
    }

    /// The environment prepared for an agent in this process, if any.
    pub fn environment_of(&self, agent_id: &str) -> Option<PreparedEnvironment> {
        lock(&self.environments).get(agent_id).cloned()
    }

    /// Prepares an environment for an agent whose sandbox `spec`
    /// describes (see [`crate::environment::prepare`]), registers it so
    /// the agent's sandbox runs it from now on, and runs its
    /// `updateContentCommand` in that sandbox. Returns it and whether the
    /// cache served it.
    pub async fn prepare_environment(
        &self,
        env: &ResolvedEnvironment,
        spec: SandboxSpec,
        cache_dir: &Path,
        progress: crate::environment::Progress,
    ) -> Result<(PreparedEnvironment, bool), EnvironmentError> {
        let backend = self
            .backend
            .as_ref()
            .map_err(|reason| SandboxError::Unavailable(reason.clone()))?;
        let spec = SandboxSpec {
            limits: self.config.limits.clone(),
            environment: None,
            ..spec
        };
        let (prepared, cached) = crate::environment::prepare(
            env,
            crate::environment::PrepareRequest {
                backend: backend.as_ref(),
                config: &self.config,
                spec: spec.clone(),
                cache_dir,
                progress: progress.clone(),
            },
        )
        .await?;
        lock(&self.environments).insert(spec.agent_id.clone(), prepared.clone());
        if let Some(update) = &prepared.update_content {
            let agent_id = spec.agent_id.clone();
            let spec = SandboxSpec {
                environment: Some(prepared.clone()),
                ..spec
            };
            let sandbox = self.sandbox_for(spec).await?;
            let ran = crate::environment::run_form(
                &*sandbox,
                &prepared.name,
                paddock_protocol::events::SetupPhase::UpdateContent,
                update,
                &progress,
            )
            .await;
            if let Err(e) = ran {
                lock(&self.environments).remove(&agent_id);
                return Err(e);
            }
        }
        Ok((prepared, cached))
    }

    /// The sandbox spec and command for a request, with defaults and caps
    /// applied.
    fn prepare(
        &self,
        req: &ExecRequest,
        background: bool,
    ) -> Result<(SandboxSpec, ExecSpec), ExecFailure> {
        let workspace = req.workspace.as_ref().ok_or_else(|| {
            ExecFailure::Invalid("this call has no workspace, so it has no sandbox".into())
        })?;
        let cwd = sandbox_cwd(req.cwd.as_deref())?;
        for dir in &req.read_only {
            let plain = dir.is_absolute()
                && dir.parent().is_some()
                && dir.components().all(|c| {
                    matches!(
                        c,
                        std::path::Component::RootDir | std::path::Component::Normal(_)
                    )
                });
            if !plain || !dir.is_dir() {
                return Err(ExecFailure::Invalid(format!(
                    "{} cannot be mounted in the sandbox: not an absolute, existing directory",
                    dir.display()
                )));
            }
        }
        let c = &self.config;
        let max = if background {
            c.max_job_secs
        } else {
            c.max_timeout_secs
        };
        let timeout_ms = req
            .timeout_ms
            .unwrap_or(c.default_timeout_secs.saturating_mul(1000))
            .clamp(1, max.saturating_mul(1000));
        let cap = req
            .max_output_bytes
            .unwrap_or(c.max_output_bytes)
            .clamp(1, c.max_output_bytes);
        let spec = SandboxSpec {
            agent_id: req.agent_id.clone(),
            workspace: workspace.clone(),
            network: req.network.clone(),
            read_only: req.read_only.clone(),
            limits: c.limits.clone(),
            environment: lock(&self.environments).get(&req.agent_id).cloned(),
            egress: None,
        };
        let cmd = ExecSpec {
            argv: req.argv.clone(),
            cwd,
            env: req.env.clone(),
            timeout: Duration::from_millis(timeout_ms),
            max_output_bytes: usize::try_from(cap).unwrap_or(usize::MAX),
            stdin: req.stdin.clone(),
            background,
        };
        super::process::validate(&cmd).map_err(to_failure)?;
        Ok((spec, cmd))
    }

    async fn run_request(&self, req: ExecRequest) -> Result<ExecOutcome, ExecFailure> {
        let (spec, cmd) = self.prepare(&req, false)?;
        let sandbox = self.sandbox_for(spec).await.map_err(to_failure)?;
        let span = tracing::debug_span!("exec", agent = %req.agent_id, call = %req.call_id, program = %cmd.argv[0]);
        // Run on the runtime's long-lived worker threads, not the caller's
        // (a plugin call's thread may end while a sandbox tied to it by
        // `--die-with-parent` still runs); dropping this future aborts the
        // task, which drops the exec future and kills the command's tree.
        let sink = req.output.clone();
        let mut task = AbortOnDrop(tokio::spawn(tracing::Instrument::instrument(
            async move { sandbox.exec(cmd, sink).await },
            span,
        )));
        let out = match (&mut task.0).await {
            Ok(r) => r.map_err(to_failure)?,
            Err(e) => {
                return Err(ExecFailure::Failed(format!(
                    "the command's task failed: {e}"
                )));
            }
        };
        tracing::debug!(agent = %req.agent_id, call = %req.call_id, exit = ?out.exit_code, timed_out = out.timed_out, duration_ms = out.duration_ms, "command finished");
        Ok(out)
    }

    async fn spawn_request(&self, req: ExecRequest) -> Result<String, ExecFailure> {
        let (spec, cmd) = self.prepare(&req, true)?;
        {
            let mut jobs = lock(&self.jobs);
            let mine = jobs.entry(req.agent_id.clone()).or_default();
            if mine.len() >= KEPT_JOBS {
                mine.retain(|_, j| !j.task.is_finished());
            }
            let running = mine.values().filter(|j| !j.task.is_finished()).count();
            if running >= self.config.max_jobs_per_agent {
                return Err(ExecFailure::Invalid(format!(
                    "this agent already has {running} background jobs running (the limit); kill one first"
                )));
            }
        }
        let sandbox = self.sandbox_for(spec).await.map_err(to_failure)?;
        let cap = cmd.max_output_bytes;
        let live = Arc::new(Mutex::new(LiveOutput {
            stdout: Capture::new(StreamKind::Stdout, cap, None),
            stderr: Capture::new(StreamKind::Stderr, cap, None),
            started: std::time::Instant::now(),
            done: None,
        }));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let sink: OutputSink = tx;
        // A job's output is read with `poll`, not streamed to the call that
        // started it: that call ends at once, and its output stream with it.
        let live2 = live.clone();
        let task = tokio::spawn(async move {
            let collect = async {
                while let Some(chunk) = rx.recv().await {
                    let mut l = lock(&live2);
                    match chunk.stream {
                        StreamKind::Stdout => l.stdout.push(chunk.text.as_bytes()),
                        StreamKind::Stderr => l.stderr.push(chunk.text.as_bytes()),
                    }
                }
            };
            let (result, ()) = tokio::join!(sandbox.exec(cmd, Some(sink)), collect);
            lock(&live2).done = Some(result);
        });
        let id = format!("job-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        tracing::info!(agent = %req.agent_id, call = %req.call_id, job = %id, "background job started");
        lock(&self.jobs)
            .entry(req.agent_id.clone())
            .or_default()
            .insert(id.clone(), Job { task, live });
        Ok(id)
    }

    fn job_state(&self, agent_id: &str, job: &str) -> Result<JobState, ExecFailure> {
        let jobs = lock(&self.jobs);
        let j = jobs
            .get(agent_id)
            .and_then(|m| m.get(job))
            .ok_or_else(|| ExecFailure::Invalid(format!("no background job `{job}`")))?;
        lock(&j.live).state()
    }

    async fn kill_job(&self, agent_id: &str, job: &str) -> Result<JobState, ExecFailure> {
        let (task, live) = {
            let mut jobs = lock(&self.jobs);
            let j = jobs
                .get_mut(agent_id)
                .and_then(|m| m.remove(job))
                .ok_or_else(|| ExecFailure::Invalid(format!("no background job `{job}`")))?;
            (j.task, j.live)
        };
        // Aborting drops the exec future, which kills the command's tree.
        task.abort();
        let _ = task.await;
        let mut l = lock(&live);
        if l.done.is_none() {
            let mut out = l.state()?.output;
            out.stderr.push_str("\n[killed on request]");
            l.done = Some(Ok(out));
        }
        let state = l.state();
        tracing::info!(agent = %agent_id, job = %job, "background job killed");
        state
    }
}

async fn docker(config: &SandboxConfig, host_id: &str) -> Result<Arc<dyn Backend>, SandboxError> {
    let b = DockerBackend::connect(config, host_id).await?;
    b.probe().await?;
    Ok(Arc::new(b))
}

async fn bwrap(config: &SandboxConfig, host_id: &str) -> Result<Arc<dyn Backend>, SandboxError> {
    let b = BwrapBackend::new(config, host_id);
    b.probe().await?;
    Ok(Arc::new(b))
}

/// The working directory inside the sandbox: absolute, normalised, under
/// `/workspace` or `/tmp`.
fn sandbox_cwd(cwd: Option<&str>) -> Result<String, ExecFailure> {
    let Some(cwd) = cwd.filter(|c| !c.is_empty()) else {
        return Ok(WORKSPACE.to_string());
    };
    let joined = if cwd.starts_with('/') {
        cwd.to_string()
    } else {
        format!("{WORKSPACE}/{cwd}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in Path::new(&joined).components() {
        match part {
            std::path::Component::RootDir | std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(p) => match p.to_str() {
                Some(p) => parts.push(p),
                None => return Err(ExecFailure::Invalid("cwd is not valid UTF-8".into())),
            },
            std::path::Component::Prefix(_) => {}
        }
    }
    let path = format!("/{}", parts.join("/"));
    if path == WORKSPACE
        || path.starts_with("/workspace/")
        || path == "/tmp"
        || path.starts_with("/tmp/")
    {
        Ok(path)
    } else {
        Err(ExecFailure::Invalid(format!(
            "cwd `{cwd}` is outside /workspace and /tmp"
        )))
    }
}

/// Where the egress proxies of owner `owner` of `data_dir` put their
/// sockets: `data_dir/run/egress/OWNER`, or, when that path is too long for
/// a unix socket in it (a deep data dir), `TMPDIR/paddock-egress-OWNER`.
fn egress_dir(data_dir: &Path, owner: &str) -> PathBuf {
    let dir = data_dir.join("run").join("egress").join(owner);
    // Room for `/xxxxxxxx.sock` within the 107 bytes of a socket path.
    if dir.as_os_str().len() + 14 <= 107 {
        dir
    } else {
        std::env::temp_dir().join(format!("paddock-egress-{owner}"))
    }
}

/// Whether a sandbox made for `made` serves a request for `wanted` (the
/// proxy's socket, set by the manager, aside).
fn same_sandbox(made: &SandboxSpec, wanted: &SandboxSpec) -> bool {
    made.agent_id == wanted.agent_id
        && made.workspace == wanted.workspace
        && made.network == wanted.network
        && made.read_only == wanted.read_only
        && made.limits == wanted.limits
}

/// A sandbox with its egress proxy: commands get the proxy's environment
/// ([`crate::egress::proxy_env_for`]; a variable the command sets itself
/// wins), and the proxy stops when the sandbox is destroyed or dropped.
struct Egressed {
    inner: Arc<dyn Sandbox>,
    proxy: EgressProxy,
}

impl Sandbox for Egressed {
    fn spec(&self) -> &SandboxSpec {
        self.inner.spec()
    }

    fn exec(
        &self,
        mut cmd: ExecSpec,
        sink: Option<OutputSink>,
    ) -> BoxFuture<'_, Result<ExecOutcome, SandboxError>> {
        let allow = self.inner.spec().network.allow_list().unwrap_or_default();
        let mut env: Vec<(String, String)> = crate::egress::proxy_env_for(allow)
            .into_iter()
            .filter(|(k, _)| !cmd.env.iter().any(|(mine, _)| mine == k))
            .collect();
        env.append(&mut cmd.env);
        cmd.env = env;
        self.inner.exec(cmd, sink)
    }

    fn destroy(&self) -> BoxFuture<'_, Result<(), SandboxError>> {
        Box::pin(async move {
            let done = self.inner.destroy().await;
            self.proxy.stop();
            done
        })
    }

    fn resource_usage(&self) -> BoxFuture<'_, Option<super::ResourceUsage>> {
        self.inner.resource_usage()
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn to_failure(e: SandboxError) -> ExecFailure {
    match e {
        SandboxError::Unavailable(m) => ExecFailure::Unavailable(m),
        SandboxError::Invalid(m) => ExecFailure::Invalid(m),
        SandboxError::Failed(m) => ExecFailure::Failed(m),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ExecBackend for SandboxManager {
    fn run(&self, req: ExecRequest) -> BoxFuture<'_, Result<ExecOutcome, ExecFailure>> {
        Box::pin(self.run_request(req))
    }
    fn spawn(&self, req: ExecRequest) -> BoxFuture<'_, Result<String, ExecFailure>> {
        Box::pin(self.spawn_request(req))
    }
    fn poll(&self, agent_id: &str, job: &str) -> BoxFuture<'_, Result<JobState, ExecFailure>> {
        let r = self.job_state(agent_id, job);
        Box::pin(async move { r })
    }
    fn kill(&self, agent_id: &str, job: &str) -> BoxFuture<'_, Result<JobState, ExecFailure>> {
        let (agent_id, job) = (agent_id.to_string(), job.to_string());
        Box::pin(async move { self.kill_job(&agent_id, &job).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn egress_sockets_live_in_the_data_dir_unless_the_path_is_too_long() {
        let short = egress_dir(Path::new("/home/u/.local/share/paddock"), "abc");
        assert_eq!(
            short,
            Path::new("/home/u/.local/share/paddock/run/egress/abc")
        );
        let deep = format!("/{}", "d".repeat(100));
        let long = egress_dir(Path::new(&deep), "abc");
        assert_eq!(long, std::env::temp_dir().join("paddock-egress-abc"));
    }

    #[test]
    fn cwd_defaults_and_confinement() {
        assert_eq!(sandbox_cwd(None).unwrap(), "/workspace");
        assert_eq!(sandbox_cwd(Some("")).unwrap(), "/workspace");
        assert_eq!(sandbox_cwd(Some("src")).unwrap(), "/workspace/src");
        assert_eq!(
            sandbox_cwd(Some("/workspace/a/../b")).unwrap(),
            "/workspace/b"
        );
        assert_eq!(sandbox_cwd(Some("/tmp/x")).unwrap(), "/tmp/x");
        for bad in [
            "/",
            "/etc",
            "../..",
            "/workspace/../etc",
            "/workspacex",
            "src/../../root",
        ] {
            assert!(
                matches!(sandbox_cwd(Some(bad)), Err(ExecFailure::Invalid(_))),
                "{bad}"
            );
        }
    }
}
