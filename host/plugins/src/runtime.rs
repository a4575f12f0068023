//! One plugin call: a fresh instance in a fresh store, confined to the
//! plugin's effective capabilities (WASI preopens, environment, network
//! policy, `exec` linked only when granted) and to its limits (memory,
//! wall-clock deadline via epoch interruption, output size). Every failure of
//! the guest becomes a [`CallError`]; nothing a guest does can fail the host.

use super::bindings::{v0_1_0, v0_2_0};
use super::capability::{Capability, FsAccess, WORKSPACE};
use super::manifest::{Limits, World};
use super::net::{HttpHooks, NetPolicy};
use paddock_sandbox::exec::SharedExec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasData, HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use v0_1_0::tool::paddock::plugin::{exec as wit_exec, log as wit_log, types as wit_types};
use v0_2_0::tool::paddock::plugin::{exec as wit_exec_v2, log as wit_log_v2};

/// How much of a guest's stderr is kept and attached to errors.
const STDERR_CAP: usize = 16 * 1024;
/// Longest log line kept from a plugin.
const LOG_LINE_CAP: usize = 4 * 1024;
/// Most log lines one call may write; the rest are dropped.
const LOG_LINES_PER_CALL: u32 = 1000;
/// Largest table a guest may grow.
const MAX_TABLE_ELEMENTS: usize = 100_000;
/// How long past its deadline a call stuck in a blocking host operation is
/// waited for before the caller gets a timeout.
const BLOCKED_GRACE: Duration = Duration::from_millis(250);

/// A tool as a plugin describes it (version-independent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ToolSpec {
    /// Name the model calls it by.
    pub name: String,
    /// Description for the model.
    pub description: String,
    /// JSON Schema of the input.
    #[schema(value_type = Object)]
    pub input_schema: serde_json::Value,
    /// Whether it never changes anything.
    pub read_only: bool,
}

/// A successful tool result (version-independent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolOutput {
    /// Text for the model.
    pub content: String,
    /// Optional JSON for programs.
    pub structured: Option<serde_json::Value>,
}

/// The kinds of error a tool itself returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToolErrorKind {
    /// Bad input.
    InvalidInput,
    /// No such tool in the plugin.
    UnknownTool,
    /// A capability was missing.
    Denied,
    /// The call failed.
    Failed,
}

impl ToolErrorKind {
    /// The kebab-case name (`invalid-input`...).
    pub fn as_str(self) -> &'static str {
        match self {
            ToolErrorKind::InvalidInput => "invalid-input",
            ToolErrorKind::UnknownTool => "unknown-tool",
            ToolErrorKind::Denied => "denied",
            ToolErrorKind::Failed => "failed",
        }
    }
}

/// Why a call into a plugin did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The tool ran and returned an error.
    #[error("{}: {message}", kind.as_str())]
    Tool {
        /// Which kind.
        kind: ToolErrorKind,
        /// The tool's message.
        message: String,
    },
    /// The call ran past its deadline and was stopped.
    #[error("plugin `{plugin}` timed out after {timeout_ms} ms")]
    Timeout {
        /// The plugin.
        plugin: String,
        /// Its deadline.
        timeout_ms: u64,
    },
    /// The guest tried to grow its memory past its limit.
    #[error(
        "plugin `{plugin}` ran out of memory: it asked for {requested_mb} MiB, its limit is {limit_mb} MiB{stderr}"
    )]
    OutOfMemory {
        /// The plugin.
        plugin: String,
        /// What it asked for, in MiB.
        requested_mb: u64,
        /// Its limit, in MiB.
        limit_mb: u64,
        /// The guest's stderr, prefixed for display.
        stderr: String,
    },
    /// The guest trapped (panic, `unreachable`, bad memory access, malformed
    /// return value...).
    #[error("plugin `{plugin}` crashed: {message}{stderr}")]
    Trap {
        /// The plugin.
        plugin: String,
        /// What wasmtime reported.
        message: String,
        /// The guest's stderr, prefixed for display.
        stderr: String,
    },
    /// The result was larger than the plugin's output cap.
    #[error(
        "plugin `{plugin}` returned {size} bytes, over its output cap of {cap} bytes: output too large"
    )]
    OutputTooLarge {
        /// The plugin.
        plugin: String,
        /// The result's size.
        size: usize,
        /// The cap.
        cap: usize,
    },
    /// The instance could not be set up (bad workspace, no free instance
    /// slot, instantiation trap...).
    #[error("plugin `{plugin}` could not be started: {message}")]
    Setup {
        /// The plugin.
        plugin: String,
        /// Why.
        message: String,
    },
    /// The plugin answered something the contract does not allow.
    #[error("plugin `{plugin}` broke the plugin contract: {message}")]
    Contract {
        /// The plugin.
        plugin: String,
        /// What was wrong.
        message: String,
    },
}

impl CallError {
    /// `invalid-input`, `unknown-tool`, `denied`, `failed` for errors the tool
    /// returned; `plugin` for failures of the plugin itself.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Tool { kind, .. } => kind.as_str(),
            _ => "plugin",
        }
    }

    /// The message without the kind prefix.
    pub fn message(&self) -> String {
        match self {
            CallError::Tool { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}

/// Whom a call serves and where its workspace is.
#[derive(Clone, Debug, Default)]
pub struct CallTarget {
    /// The agent.
    pub agent_id: String,
    /// The model's call id.
    pub call_id: String,
    /// The agent's workspace on the host, seen by the guest at `/workspace`.
    pub workspace: Option<PathBuf>,
    /// Whether the agent's sandbox may reach the network (for `exec`).
    pub network: paddock_sandbox::Network,
    /// Host directories the agent's sandbox mounts read-only at the same
    /// path (for `exec`; a worktree's git directory).
    pub read_only: Vec<PathBuf>,
    /// Where the output of commands run through `exec` streams to.
    pub output: Option<paddock_sandbox::OutputSink>,
}

/// Limits memory and table growth and remembers a refused growth.
struct Limiter {
    max_memory: usize,
    refused: Option<usize>,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.refused = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// A call's own time budget: wall time minus the time spent waiting for
/// `exec` commands (which have their own timeouts, up to minutes).
#[derive(Clone)]
struct Budget(Arc<std::sync::Mutex<BudgetState>>);

struct BudgetState {
    deadline: Instant,
    paused_since: Option<Instant>,
}

impl Budget {
    fn new(limit: Duration) -> Budget {
        Budget(Arc::new(std::sync::Mutex::new(BudgetState {
            deadline: Instant::now() + limit,
            paused_since: None,
        })))
    }

    /// The deadline, or `None` while an `exec` command runs.
    fn deadline(&self) -> Option<Instant> {
        let s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.paused_since.is_none().then_some(s.deadline)
    }

    /// Stops the clock until the guard is dropped.
    fn pause(&self) -> BudgetPause {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.paused_since.get_or_insert_with(Instant::now);
        BudgetPause(self.clone())
    }
}

struct BudgetPause(Budget);

tokio::task_local! {
    /// The budget of the call running on this task.
    static CALL_BUDGET: Budget;
}

impl Drop for BudgetPause {
    fn drop(&mut self) {
        let mut s = self.0.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(since) = s.paused_since.take() {
            s.deadline += since.elapsed();
        }
    }
}

/// Everything one instance's store holds.
pub struct StoreState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: HttpHooks,
    limiter: Limiter,
    plugin: Arc<str>,
    target: CallTarget,
    exec: Option<SharedExec>,
    log_lines: u32,
    timed_out: bool,
    budget: Budget,
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for StoreState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl wit_log::Host for StoreState {
    async fn log(&mut self, level: wit_log::Level, message: String) -> wasmtime::Result<()> {
        self.log_lines += 1;
        if self.log_lines > LOG_LINES_PER_CALL {
            if self.log_lines == LOG_LINES_PER_CALL + 1 {
                tracing::warn!(plugin = %self.plugin, "plugin logged more than {LOG_LINES_PER_CALL} lines in one call; dropping the rest");
            }
            return Ok(());
        }
        let msg = truncate_utf8(&message, LOG_LINE_CAP);
        let (plugin, agent, call) = (&*self.plugin, &self.target.agent_id, &self.target.call_id);
        match level {
            wit_log::Level::Trace => tracing::trace!(plugin, agent, call, "{msg}"),
            wit_log::Level::Debug => tracing::debug!(plugin, agent, call, "{msg}"),
            wit_log::Level::Info => tracing::info!(plugin, agent, call, "{msg}"),
            wit_log::Level::Warn => tracing::warn!(plugin, agent, call, "{msg}"),
            wit_log::Level::Error => tracing::error!(plugin, agent, call, "{msg}"),
        }
        Ok(())
    }
}

impl wit_log_v2::Host for StoreState {
    async fn log(&mut self, level: wit_log_v2::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            wit_log_v2::Level::Trace => wit_log::Level::Trace,
            wit_log_v2::Level::Debug => wit_log::Level::Debug,
            wit_log_v2::Level::Info => wit_log::Level::Info,
            wit_log_v2::Level::Warn => wit_log::Level::Warn,
            wit_log_v2::Level::Error => wit_log::Level::Error,
        };
        <StoreState as wit_log::Host>::log(self, level, message).await
    }
}

impl wit_types::Host for StoreState {}

/// The `exec` import of plugins not granted `exec`: refuses everything.
struct DeniedExec;
impl HasData for DeniedExec {
    type Data<'a> = DeniedExecView<'a>;
}
struct DeniedExecView<'a>(&'a mut StoreState);

/// The `exec` import of plugins granted `exec`: forwards to the backend.
struct GrantedExec;
impl HasData for GrantedExec {
    type Data<'a> = GrantedExecView<'a>;
}
struct GrantedExecView<'a>(&'a mut StoreState);

/// The `exec` host functions of one WIT version (the same behaviour for
/// every version; only the generated types differ).
macro_rules! exec_host {
    ($module:ident, $version:ident) => {
        /// `exec` as imported by components of this WIT version.
        mod $module {
            use super::{DeniedExecView, GrantedExecView};
            use crate::bindings::$version::tool::paddock::plugin::exec as wit_exec;
            use paddock_sandbox::exec::{
                ExecFailure, ExecOutcome, ExecRequest, JobState, NO_SANDBOX, SharedExec,
            };


fn deny<T>(view: &DeniedExecView<'_>) -> wasmtime::Result<Result<T, wit_exec::ExecError>> {
    tracing::warn!(plugin = %view.0.plugin, missing_capability = "exec", "plugin tried to use a capability it was not granted");
    Ok(Err(wit_exec::ExecError::Denied(format!(
        "plugin `{}` was not granted the `exec` capability",
        view.0.plugin
    ))))
}

impl wit_exec::Host for DeniedExecView<'_> {
    async fn run(
        &mut self,
        _c: wit_exec::Command,
    ) -> wasmtime::Result<Result<wit_exec::Output, wit_exec::ExecError>> {
        deny(self)
    }
    async fn spawn(
        &mut self,
        _c: wit_exec::Command,
    ) -> wasmtime::Result<Result<String, wit_exec::ExecError>> {
        deny(self)
    }
    async fn poll(
        &mut self,
        _j: String,
    ) -> wasmtime::Result<Result<wit_exec::JobStatus, wit_exec::ExecError>> {
        deny(self)
    }
    async fn kill(
        &mut self,
        _j: String,
    ) -> wasmtime::Result<Result<wit_exec::JobStatus, wit_exec::ExecError>> {
        deny(self)
    }
}


fn to_wit_output(o: ExecOutcome) -> wit_exec::Output {
    wit_exec::Output {
        exit_code: o.exit_code,
        stdout: o.stdout,
        stderr: o.stderr,
        truncated: o.truncated,
        timed_out: o.timed_out,
        duration_ms: o.duration_ms,
    }
}

fn to_wit_job(j: JobState) -> wit_exec::JobStatus {
    wit_exec::JobStatus {
        running: j.running,
        output: to_wit_output(j.output),
    }
}

fn to_wit_exec_error(e: ExecFailure) -> wit_exec::ExecError {
    match e {
        ExecFailure::Denied(m) => wit_exec::ExecError::Denied(m),
        ExecFailure::Unavailable(m) => wit_exec::ExecError::Unavailable(m),
        ExecFailure::Invalid(m) => wit_exec::ExecError::Invalid(m),
        ExecFailure::Failed(m) => wit_exec::ExecError::Failed(m),
    }
}

fn backend(view: &GrantedExecView<'_>) -> Result<SharedExec, wit_exec::ExecError> {
        view.0
            .exec
            .clone()
            .ok_or_else(|| wit_exec::ExecError::Unavailable(NO_SANDBOX.into()))
    }

    /// The backend and the host-side request for a command.
    fn prepare(
        view: &GrantedExecView<'_>,
        c: wit_exec::Command,
    ) -> Result<(SharedExec, ExecRequest), wit_exec::ExecError> {
        let backend = backend(view)?;
        if c.argv.is_empty() || c.argv[0].is_empty() {
            return Err(wit_exec::ExecError::Invalid(
                "argv must name a program".into(),
            ));
        }
        let t = &view.0.target;
        let request = ExecRequest {
            agent_id: t.agent_id.clone(),
            call_id: t.call_id.clone(),
            workspace: t.workspace.clone(),
            network: t.network.clone(),
            read_only: t.read_only.clone(),
            output: t.output.clone(),
            argv: c.argv,
            cwd: c.cwd,
            env: c.env,
            timeout_ms: c.timeout_ms,
            max_output_bytes: c.max_output_bytes,
            stdin: c.stdin,
        };
        Ok((backend, request))
    }

impl wit_exec::Host for GrantedExecView<'_> {
    async fn run(
        &mut self,
        c: wit_exec::Command,
    ) -> wasmtime::Result<Result<wit_exec::Output, wit_exec::ExecError>> {
        let (backend, req) = match prepare(self, c) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let _pause = self.0.budget.pause();
        Ok(backend
            .run(req)
            .await
            .map(to_wit_output)
            .map_err(to_wit_exec_error))
    }
    async fn spawn(
        &mut self,
        c: wit_exec::Command,
    ) -> wasmtime::Result<Result<String, wit_exec::ExecError>> {
        let (backend, req) = match prepare(self, c) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let _pause = self.0.budget.pause();
        Ok(backend.spawn(req).await.map_err(to_wit_exec_error))
    }
    async fn poll(
        &mut self,
        job: String,
    ) -> wasmtime::Result<Result<wit_exec::JobStatus, wit_exec::ExecError>> {
        let backend = match backend(self) {
            Ok(b) => b,
            Err(e) => return Ok(Err(e)),
        };
        let agent = self.0.target.agent_id.clone();
        let _pause = self.0.budget.pause();
        Ok(backend
            .poll(&agent, &job)
            .await
            .map(to_wit_job)
            .map_err(to_wit_exec_error))
    }
    async fn kill(
        &mut self,
        job: String,
    ) -> wasmtime::Result<Result<wit_exec::JobStatus, wit_exec::ExecError>> {
        let backend = match backend(self) {
            Ok(b) => b,
            Err(e) => return Ok(Err(e)),
        };
        let agent = self.0.target.agent_id.clone();
        let _pause = self.0.budget.pause();
        Ok(backend
            .kill(&agent, &job)
            .await
            .map(to_wit_job)
            .map_err(to_wit_exec_error))
    }
}

        }
    };
}

exec_host!(exec_v0_1_0, v0_1_0);
exec_host!(exec_v0_2_0, v0_2_0);

/// Builds a linker with WASI, `wasi:http`, `log`, and either the real or the
/// refusing `exec`.
pub fn build_linker(engine: &Engine, exec_granted: bool) -> wasmtime::Result<Linker<StoreState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    wit_log::add_to_linker::<StoreState, HasSelf<StoreState>>(&mut linker, |s| s)?;
    wit_types::add_to_linker::<StoreState, HasSelf<StoreState>>(&mut linker, |s| s)?;
    if exec_granted {
        wit_exec::add_to_linker::<StoreState, GrantedExec>(&mut linker, |s| GrantedExecView(s))?;
    } else {
        wit_exec::add_to_linker::<StoreState, DeniedExec>(&mut linker, |s| DeniedExecView(s))?;
    }
    // 0.2.0: `types` has the same types as 0.1.0 (and no functions); `log`
    // and `exec` behave the same under their new names.
    linker.instance("paddock:plugin/types@0.2.0")?;
    wit_log_v2::add_to_linker::<StoreState, HasSelf<StoreState>>(&mut linker, |s| s)?;
    if exec_granted {
        wit_exec_v2::add_to_linker::<StoreState, GrantedExec>(&mut linker, |s| GrantedExecView(s))?;
    } else {
        wit_exec_v2::add_to_linker::<StoreState, DeniedExec>(&mut linker, |s| DeniedExecView(s))?;
    }
    Ok(linker)
}

/// The typed, pre-linked entry points of one component, per world and WIT
/// version.
enum Bindings {
    ToolV0_1_0(v0_1_0::tool::ToolPre<StoreState>),
    RiskAssessorV0_1_0(v0_1_0::risk_assessor::RiskAssessorPre<StoreState>),
    McpAdapterV0_1_0(v0_1_0::mcp_adapter::McpAdapterPre<StoreState>),
    ToolV0_2_0(v0_2_0::tool::ToolPre<StoreState>),
    RiskAssessorV0_2_0(v0_2_0::risk_assessor::RiskAssessorPre<StoreState>),
    McpAdapterV0_2_0(v0_2_0::mcp_adapter::McpAdapterPre<StoreState>),
    HooksV0_2_0(v0_2_0::hooks::HooksPre<StoreState>),
}

/// The pre-instantiated `risk-assessor` entry point of either version.
pub(super) enum AssessorPre<'a> {
    /// Built against 0.1.0.
    V0_1_0(&'a v0_1_0::risk_assessor::RiskAssessorPre<StoreState>),
    /// Built against 0.2.0.
    V0_2_0(&'a v0_2_0::risk_assessor::RiskAssessorPre<StoreState>),
}

/// The pre-instantiated `mcp-adapter` entry points of either version.
pub(super) enum AdapterPre<'a> {
    /// Built against 0.1.0.
    V0_1_0(&'a v0_1_0::mcp_adapter::McpAdapterPre<StoreState>),
    /// Built against 0.2.0.
    V0_2_0(&'a v0_2_0::mcp_adapter::McpAdapterPre<StoreState>),
}

/// The WIT versions this host can load.
pub const SUPPORTED_VERSIONS: &[&str] = &[v0_1_0::VERSION, v0_2_0::VERSION];

/// The first WIT version that has `world`.
fn first_version(world: World) -> &'static str {
    match world {
        World::Tool | World::RiskAssessor | World::McpAdapter => v0_1_0::VERSION,
        World::Hooks => v0_2_0::VERSION,
    }
}

/// Finds which version of `world`'s interface a component exports.
pub fn detect_version(
    engine: &Engine,
    component: &Component,
    world: World,
) -> Result<String, String> {
    let ty = component.component_type();
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    let wanted = format!("paddock:plugin/{}@", world.export_interface());
    // The versions that have this world.
    let first = SUPPORTED_VERSIONS
        .iter()
        .position(|v| *v == first_version(world))
        .unwrap_or(0);
    let supported = &SUPPORTED_VERSIONS[first..];
    if let Some(name) = exports.iter().find(|n| n.starts_with(&wanted)) {
        let version = &name[wanted.len()..];
        if supported.contains(&version) {
            return Ok(version.to_string());
        }
        return Err(format!(
            "the component was built against paddock:plugin@{version}, but this Paddock supports {} for world `{world}`",
            supported.join(", ")
        ));
    }
    let implemented: Vec<String> = World::ALL
        .iter()
        .filter(|w| {
            exports
                .iter()
                .any(|n| n.starts_with(&format!("paddock:plugin/{}@", w.export_interface())))
        })
        .map(|w| format!("`{w}`"))
        .collect();
    let shown = if exports.is_empty() {
        "nothing".to_string()
    } else {
        exports.join(", ")
    };
    let hint = if implemented.is_empty() {
        String::new()
    } else {
        format!(
            " (it implements the {} world; is `world` in the manifest right?)",
            implemented.join(", ")
        )
    };
    Err(format!(
        "the manifest says world `{world}`, which must export paddock:plugin/{}@{}, but the component exports {shown}{hint}",
        world.export_interface(),
        supported.join(" or @"),
    ))
}

/// A compiled, linked plugin ready to be instantiated any number of times.
pub struct LoadedPlugin {
    name: Arc<str>,
    world: World,
    api_version: String,
    effective: BTreeSet<Capability>,
    limits: Limits,
    net: NetPolicy,
    exec: Option<SharedExec>,
    bindings: Bindings,
    slots: Arc<Semaphore>,
}

/// Everything needed to load a plugin.
pub struct LoadSpec<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its world.
    pub world: World,
    /// Its effective capabilities.
    pub effective: BTreeSet<Capability>,
    /// Its limits.
    pub limits: Limits,
}

impl LoadedPlugin {
    /// Links a compiled component for `spec`; fails with a readable message
    /// when it is of another world or version or imports what the host does
    /// not provide.
    pub fn link(
        engine: &Engine,
        linkers: &Linkers,
        component: &Component,
        spec: LoadSpec<'_>,
        exec: Option<SharedExec>,
        slots: Arc<Semaphore>,
    ) -> Result<LoadedPlugin, String> {
        let api_version = detect_version(engine, component, spec.world)?;
        let exec_granted = spec.effective.contains(&Capability::Exec);
        let linker = if exec_granted {
            &linkers.exec
        } else {
            &linkers.base
        };
        let pre: InstancePre<StoreState> = linker.instantiate_pre(component).map_err(|e| {
            format!(
                "the component needs imports Paddock does not provide: {}",
                root_message(&e)
            )
        })?;
        let typed = |e: wasmtime::Error| {
            format!(
                "the component's exports do not match world `{}`: {}",
                spec.world,
                root_message(&e)
            )
        };
        let v2 = api_version == v0_2_0::VERSION;
        let bindings = match (spec.world, v2) {
            (World::Tool, false) => {
                Bindings::ToolV0_1_0(v0_1_0::tool::ToolPre::new(pre).map_err(typed)?)
            }
            (World::RiskAssessor, false) => Bindings::RiskAssessorV0_1_0(
                v0_1_0::risk_assessor::RiskAssessorPre::new(pre).map_err(typed)?,
            ),
            (World::McpAdapter, false) => Bindings::McpAdapterV0_1_0(
                v0_1_0::mcp_adapter::McpAdapterPre::new(pre).map_err(typed)?,
            ),
            (World::Tool, true) => {
                Bindings::ToolV0_2_0(v0_2_0::tool::ToolPre::new(pre).map_err(typed)?)
            }
            (World::RiskAssessor, true) => Bindings::RiskAssessorV0_2_0(
                v0_2_0::risk_assessor::RiskAssessorPre::new(pre).map_err(typed)?,
            ),
            (World::McpAdapter, true) => Bindings::McpAdapterV0_2_0(
                v0_2_0::mcp_adapter::McpAdapterPre::new(pre).map_err(typed)?,
            ),
            (World::Hooks, true) => {
                Bindings::HooksV0_2_0(v0_2_0::hooks::HooksPre::new(pre).map_err(typed)?)
            }
            (World::Hooks, false) => {
                return Err(format!(
                    "world `hooks` exists from paddock:plugin@{} on; the component was built against {api_version}",
                    v0_2_0::VERSION
                ));
            }
        };
        let net = NetPolicy::new(spec.name, &spec.effective);
        Ok(LoadedPlugin {
            name: Arc::from(spec.name),
            world: spec.world,
            api_version,
            effective: spec.effective,
            limits: spec.limits,
            net,
            exec: if exec_granted { exec } else { None },
            bindings,
            slots,
        })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The WIT version it was built against.
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// The world it implements.
    pub fn world(&self) -> World {
        self.world
    }

    /// Its limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The pre-instantiated `mcp-adapter` entry points; `None` for plugins
    /// of other worlds.
    pub(super) fn adapter_pre(&self) -> Option<AdapterPre<'_>> {
        match &self.bindings {
            Bindings::McpAdapterV0_1_0(pre) => Some(AdapterPre::V0_1_0(pre)),
            Bindings::McpAdapterV0_2_0(pre) => Some(AdapterPre::V0_2_0(pre)),
            _ => None,
        }
    }

    /// The pre-instantiated `risk-assessor` entry point; `None` for
    /// plugins of other worlds.
    pub(super) fn assessor_pre(&self) -> Option<AssessorPre<'_>> {
        match &self.bindings {
            Bindings::RiskAssessorV0_1_0(pre) => Some(AssessorPre::V0_1_0(pre)),
            Bindings::RiskAssessorV0_2_0(pre) => Some(AssessorPre::V0_2_0(pre)),
            _ => None,
        }
    }

    /// The pre-instantiated `hooks` entry points; `None` for plugins of
    /// other worlds.
    pub(super) fn hooks_pre(&self) -> Option<&v0_2_0::hooks::HooksPre<StoreState>> {
        match &self.bindings {
            Bindings::HooksV0_2_0(pre) => Some(pre),
            _ => None,
        }
    }

    fn engine(&self) -> &Engine {
        match &self.bindings {
            Bindings::ToolV0_1_0(p) => p.engine(),
            Bindings::RiskAssessorV0_1_0(p) => p.engine(),
            Bindings::McpAdapterV0_1_0(p) => p.engine(),
            Bindings::ToolV0_2_0(p) => p.engine(),
            Bindings::RiskAssessorV0_2_0(p) => p.engine(),
            Bindings::McpAdapterV0_2_0(p) => p.engine(),
            Bindings::HooksV0_2_0(p) => p.engine(),
        }
    }

    fn setup_error(&self, message: impl Into<String>) -> CallError {
        CallError::Setup {
            plugin: self.name.to_string(),
            message: message.into(),
        }
    }

    /// A fresh store for one call, with the plugin's confinement applied.
    fn new_store(
        &self,
        target: &CallTarget,
        stderr: &MemoryOutputPipe,
    ) -> Result<Store<StoreState>, CallError> {
        let mut wasi = WasiCtxBuilder::new();
        // Filesystem calls run on the calling thread instead of hopping to
        // tokio's blocking pool: plugins touch small workspace files, and the
        // hop cost more than the I/O (see `paddock bench plugins`).
        wasi.allow_blocking_current_thread(true);
        wasi.stderr(stderr.clone())
            .stdout(MemoryOutputPipe::new(STDERR_CAP))
            .args(&[&*self.name])
            .allow_tcp(true)
            .allow_udp(false)
            .allow_ip_name_lookup(self.net.needs_name_lookup());
        let policy = self.net.clone();
        wasi.socket_addr_check(move |addr, usage| {
            let policy = policy.clone();
            Box::pin(async move { policy.check_socket(addr, usage).await })
        });
        for cap in &self.effective {
            match cap {
                Capability::Fs { path, access } => {
                    let host = match host_path(path, target.workspace.as_deref()) {
                        Some(h) => h,
                        None => continue, // no workspace for this call (e.g. describe)
                    };
                    let perms = match access {
                        FsAccess::Ro => FsPerms::ReadOnly,
                        FsAccess::Rw => FsPerms::ReadWrite,
                    };
                    if let Err(e) = wasi.preopened_dir(&host, path, perms) {
                        if path == WORKSPACE {
                            return Err(self.setup_error(format!(
                                "cannot open the workspace {}: {}",
                                host.display(),
                                root_message(&e)
                            )));
                        }
                        tracing::warn!(plugin = %self.name, dir = %host.display(), error = %root_message(&e), "granted directory is not available; skipping it");
                    }
                }
                Capability::Env(name) => {
                    if let Ok(value) = std::env::var(name) {
                        wasi.env(name, value);
                    }
                }
                Capability::Net { .. } | Capability::Exec => {}
            }
        }
        let state = StoreState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            hooks: HttpHooks {
                policy: self.net.clone(),
            },
            limiter: Limiter {
                max_memory: usize::try_from(self.limits.memory_mb.saturating_mul(1 << 20))
                    .unwrap_or(usize::MAX),
                refused: None,
            },
            plugin: self.name.clone(),
            target: target.clone(),
            exec: self.exec.clone(),
            log_lines: 0,
            timed_out: false,
            // The call's budget, started when the call was made (waiting
            // for a slot counts).
            budget: CALL_BUDGET
                .try_with(Budget::clone)
                .unwrap_or_else(|_| Budget::new(Duration::from_millis(self.limits.timeout_ms))),
        };
        let mut store = Store::new(self.engine(), state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut ctx| {
            // Guest code runs only while the clock runs, so a deadline is
            // always there; `None` (in `exec`) never traps.
            if ctx
                .data()
                .budget
                .deadline()
                .is_some_and(|d| Instant::now() >= d)
            {
                ctx.data_mut().timed_out = true;
                Err(wasmtime::Trap::Interrupt.into())
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        Ok(store)
    }

    /// Runs `f` against a fresh instance under the plugin's deadline and maps
    /// every failure to a [`CallError`].
    pub(super) async fn with_instance<R>(
        &self,
        target: &CallTarget,
        f: impl AsyncFnOnce(&mut Store<StoreState>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let stderr = MemoryOutputPipe::new(STDERR_CAP);
        let mut store = self.new_store(target, &stderr)?;
        let budget = store.data().budget.clone();
        let outcome = {
            let call = f(&mut store);
            tokio::pin!(call);
            loop {
                // While an `exec` command runs the clock stops: look again
                // a little later.
                let wake = budget
                    .deadline()
                    .unwrap_or_else(|| Instant::now() + Duration::from_millis(200));
                tokio::select! {
                    r = &mut call => break Ok(r),
                    _ = tokio::time::sleep_until(wake.into()) => {
                        if budget.deadline().is_some_and(|d| Instant::now() >= d) {
                            break Err(());
                        }
                    }
                }
            }
        };
        let plugin = self.name.to_string();
        let timed_out = || CallError::Timeout {
            plugin: plugin.clone(),
            timeout_ms: self.limits.timeout_ms,
        };
        match outcome {
            Err(_elapsed) => Err(timed_out()),
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                let state = store.data();
                let err_text = stderr_suffix(&stderr);
                if state.timed_out {
                    Err(timed_out())
                } else if let Some(requested) = state.limiter.refused {
                    Err(CallError::OutOfMemory {
                        plugin,
                        requested_mb: (requested as u64).div_ceil(1 << 20),
                        limit_mb: self.limits.memory_mb,
                        stderr: err_text,
                    })
                } else {
                    Err(CallError::Trap {
                        plugin,
                        message: root_message(&e),
                        stderr: err_text,
                    })
                }
            }
        }
    }

    /// Runs one call on a thread of the blocking pool, where the guest's
    /// WASI file operations may block (they run inline, without a thread hop
    /// per operation), and waits for it under the deadline plus a grace
    /// period. A call stuck in a blocking host operation that the epoch
    /// deadline cannot interrupt (say, opening a FIFO in the workspace) thus
    /// becomes a timeout for the caller, and never stalls the executor that
    /// serves everything else; its thread finishes, or not, on its own.
    pub(super) async fn off_thread<R, F, Fut>(self: &Arc<Self>, work: F) -> Result<R, CallError>
    where
        R: Send + 'static,
        F: FnOnce(Arc<LoadedPlugin>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<R, CallError>>,
    {
        let deadline = Duration::from_millis(self.limits.timeout_ms);
        let timed_out = || CallError::Timeout {
            plugin: self.name.to_string(),
            timeout_ms: self.limits.timeout_ms,
        };
        // Wait for a free instance slot rather than fail when many calls are
        // in flight; waiting counts against the deadline.
        let permit = match tokio::time::timeout(deadline, self.slots.clone().acquire_owned()).await
        {
            Ok(Ok(p)) => p,
            Ok(Err(_closed)) => return Err(self.setup_error("the plugin host is shutting down")),
            Err(_) => {
                return Err(self.setup_error(format!(
                    "all {} plugin instance slots stayed busy for {} ms",
                    super::engine::MAX_CONCURRENT_INSTANCES,
                    self.limits.timeout_ms
                )));
            }
        };
        let handle = tokio::runtime::Handle::current();
        let this = self.clone();
        let budget = Budget::new(deadline);
        let task = tokio::task::spawn_blocking({
            let budget = budget.clone();
            move || {
                let _permit = permit;
                handle.block_on(CALL_BUDGET.scope(budget, work(this)))
            }
        });
        tokio::pin!(task);
        loop {
            let wake = budget
                .deadline()
                .map(|d| d + BLOCKED_GRACE)
                .unwrap_or_else(|| Instant::now() + Duration::from_millis(200));
            tokio::select! {
                r = &mut task => return match r {
                    Ok(result) => result,
                    Err(join) => Err(self.setup_error(format!("the call's thread failed: {join}"))),
                },
                _ = tokio::time::sleep_until(wake.into()) => {
                    if budget.deadline().is_some_and(|d| Instant::now() >= d + BLOCKED_GRACE) {
                        tracing::warn!(plugin = %self.name, "plugin call is stuck in a blocking host operation past its deadline; abandoning it");
                        return Err(timed_out());
                    }
                }
            }
        }
    }

    /// Calls `describe` of a tool plugin and validates the answer.
    pub async fn describe(self: &Arc<Self>) -> Result<Vec<ToolSpec>, CallError> {
        self.off_thread(async |this| this.describe_here().await)
            .await
    }

    async fn describe_here(&self) -> Result<Vec<ToolSpec>, CallError> {
        let target = CallTarget {
            agent_id: String::new(),
            call_id: "describe".into(),
            workspace: None,
            ..Default::default()
        };
        // Both versions share the `types` Rust types (see `bindings`).
        let specs = match &self.bindings {
            Bindings::ToolV0_1_0(pre) => {
                self.with_instance(&target, async |store| {
                    let inst = pre.instantiate_async(&mut *store).await?;
                    inst.paddock_plugin_tools().call_describe(&mut *store).await
                })
                .await?
            }
            Bindings::ToolV0_2_0(pre) => {
                self.with_instance(&target, async |store| {
                    let inst = pre.instantiate_async(&mut *store).await?;
                    inst.paddock_plugin_tools().call_describe(&mut *store).await
                })
                .await?
            }
            _ => return Err(self.contract(format!("a `{}` plugin has no tools", self.world))),
        };
        let mut out = Vec::with_capacity(specs.len());
        let mut seen = BTreeSet::new();
        for s in specs {
            if !valid_tool_name(&s.name) {
                return Err(self.contract(format!(
                    "tool name `{}` must match ^[a-z][a-z0-9_]{{0,63}}$",
                    s.name
                )));
            }
            if !seen.insert(s.name.clone()) {
                return Err(self.contract(format!("tool `{}` is described twice", s.name)));
            }
            let schema: serde_json::Value = serde_json::from_str(&s.input_schema).map_err(|e| {
                self.contract(format!("tool `{}`: input-schema is not JSON: {e}", s.name))
            })?;
            if schema.get("type").and_then(|t| t.as_str()) != Some("object") {
                return Err(self.contract(format!(
                    "tool `{}`: input-schema must be a JSON Schema with \"type\": \"object\"",
                    s.name
                )));
            }
            out.push(ToolSpec {
                name: s.name,
                description: s.description,
                input_schema: schema,
                read_only: s.read_only,
            });
        }
        Ok(out)
    }

    pub(super) fn contract(&self, message: String) -> CallError {
        CallError::Contract {
            plugin: self.name.to_string(),
            message,
        }
    }

    /// Calls tool `name` with `input` in a fresh instance.
    pub async fn invoke(
        self: &Arc<Self>,
        name: &str,
        input: &str,
        target: &CallTarget,
    ) -> Result<ToolOutput, CallError> {
        let (name, input, target) = (name.to_owned(), input.to_owned(), target.clone());
        self.off_thread(async move |this| this.invoke_here(&name, &input, &target).await)
            .await
    }

    async fn invoke_here(
        &self,
        name: &str,
        input: &str,
        target: &CallTarget,
    ) -> Result<ToolOutput, CallError> {
        let ctx = wit_types::CallContext {
            agent_id: target.agent_id.clone(),
            call_id: target.call_id.clone(),
            workspace: WORKSPACE.to_string(),
        };
        let result = match &self.bindings {
            Bindings::ToolV0_1_0(pre) => {
                self.with_instance(target, async |store| {
                    let inst = pre.instantiate_async(&mut *store).await?;
                    inst.paddock_plugin_tools()
                        .call_invoke(&mut *store, name, input, &ctx)
                        .await
                })
                .await?
            }
            Bindings::ToolV0_2_0(pre) => {
                self.with_instance(target, async |store| {
                    let inst = pre.instantiate_async(&mut *store).await?;
                    inst.paddock_plugin_tools()
                        .call_invoke(&mut *store, name, input, &ctx)
                        .await
                })
                .await?
            }
            _ => return Err(self.contract(format!("a `{}` plugin has no tools", self.world))),
        };
        let cap =
            usize::try_from(self.limits.max_output_kb.saturating_mul(1024)).unwrap_or(usize::MAX);
        match result {
            Ok(out) => {
                let size = out.content.len() + out.structured.as_ref().map_or(0, String::len);
                if size > cap {
                    return Err(CallError::OutputTooLarge {
                        plugin: self.name.to_string(),
                        size,
                        cap,
                    });
                }
                let structured = match out.structured {
                    None => None,
                    Some(s) => Some(serde_json::from_str(&s).map_err(|e| {
                        self.contract(format!(
                            "tool `{name}` returned structured output that is not JSON: {e}"
                        ))
                    })?),
                };
                Ok(ToolOutput {
                    content: out.content,
                    structured,
                })
            }
            Err(e) => {
                let (kind, message) = match e {
                    wit_types::ToolError::InvalidInput(m) => (ToolErrorKind::InvalidInput, m),
                    wit_types::ToolError::UnknownTool(m) => (ToolErrorKind::UnknownTool, m),
                    wit_types::ToolError::Denied(m) => (ToolErrorKind::Denied, m),
                    wit_types::ToolError::Failed(m) => (ToolErrorKind::Failed, m),
                };
                if message.len() > cap {
                    return Err(CallError::OutputTooLarge {
                        plugin: self.name.to_string(),
                        size: message.len(),
                        cap,
                    });
                }
                Err(CallError::Tool { kind, message })
            }
        }
    }
}

/// The two linkers every plugin is linked with: one whose `exec` refuses
/// and one whose `exec` runs commands.
pub struct Linkers {
    /// `exec` refuses.
    pub base: Linker<StoreState>,
    /// `exec` forwards to the sandbox.
    pub exec: Linker<StoreState>,
}

impl Linkers {
    /// Builds both linkers.
    pub fn new(engine: &Engine) -> wasmtime::Result<Linkers> {
        Ok(Linkers {
            base: build_linker(engine, false)?,
            exec: build_linker(engine, true)?,
        })
    }
}

/// True for valid tool names.
pub fn valid_tool_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Maps a granted guest path to the host: `/workspace[/...]` to the agent's
/// workspace, anything else to itself. `None` when the call has no workspace.
fn host_path(guest: &str, workspace: Option<&Path>) -> Option<PathBuf> {
    if guest == WORKSPACE {
        return workspace.map(Path::to_path_buf);
    }
    if let Some(rest) = guest.strip_prefix("/workspace/") {
        return workspace.map(|w| w.join(rest));
    }
    Some(PathBuf::from(guest))
}

/// The innermost message of a wasmtime error, plus the trap's name when there
/// is one, without the (long) backtrace.
pub fn root_message(e: &wasmtime::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let first = text.lines().next().unwrap_or_default().trim().to_string();
        if !first.is_empty()
            && !parts.contains(&first)
            && !first.starts_with("error while executing at wasm backtrace")
        {
            parts.push(first);
        }
    }
    if parts.is_empty() {
        return "unknown error".to_string();
    }
    parts.join(": ")
}

fn stderr_suffix(pipe: &MemoryOutputPipe) -> String {
    let bytes = pipe.contents();
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!("\nplugin stderr:\n{}", truncate_utf8(text, STDERR_CAP))
    }
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_paths_map_to_the_workspace() {
        let ws = Path::new("/tmp/ws");
        assert_eq!(
            host_path("/workspace", Some(ws)),
            Some(PathBuf::from("/tmp/ws"))
        );
        assert_eq!(
            host_path("/workspace/src", Some(ws)),
            Some(PathBuf::from("/tmp/ws/src"))
        );
        assert_eq!(host_path("/workspace", None), None);
        assert_eq!(
            host_path("/workspacex", Some(ws)),
            Some(PathBuf::from("/workspacex"))
        );
        assert_eq!(
            host_path("/srv/docs", Some(ws)),
            Some(PathBuf::from("/srv/docs"))
        );
    }

    #[test]
    fn tool_names() {
        assert!(valid_tool_name("read_file"));
        assert!(valid_tool_name("a1"));
        assert!(!valid_tool_name("Read"));
        assert!(!valid_tool_name("1a"));
        assert!(!valid_tool_name("a-b"));
        assert!(!valid_tool_name(""));
        assert!(!valid_tool_name(&"a".repeat(65)));
    }

    #[test]
    fn truncation_keeps_char_boundaries() {
        assert_eq!(truncate_utf8("héllo", 2), "h");
        assert_eq!(truncate_utf8("abc", 10), "abc");
    }
}
