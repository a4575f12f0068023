//! Workflows: named definitions of steps (agents, verify commands, human
//! gates, fan-outs, a merge) and their durable runs. [`Workflows`] owns the
//! definitions of every source (built-in, `<data_dir>/workflows/`,
//! `paddock.toml`, the API), starts runs, and keeps one task per
//! unfinished run ([`runner`]), which reads the run's log to know where it
//! stands — so a run continues after `kill -9` where it was.
//!
//! With several hosts (PostgreSQL), each unfinished run has a driver: the
//! host that runs its task. Its appends are fenced by the driver and a
//! generation ([`paddock_store::Store::append_workflow_event_under`]); a
//! loop of each server claims the runs no live host drives (its own
//! after a restart, a dead or drained host's, a killed headless run's)
//! and resumes them from their logs.
//!
//! - [`definition`]: reading (YAML, TOML) and checking a definition.
//! - [`template`]: the `{{…}}` syntax of its fields.
//! - [`fold`]: a run's log folded into where it stands and its view.
//! - [`runner`]: the durable state machine of one run.
//! - [`builtin`]: the example shipped in the binary.

pub mod builtin;
pub mod definition;
pub mod fold;
pub mod runner;
pub mod template;

pub use definition::DefFormat;
pub use fold::RunState;

use crate::agent::resolve::AgentTemplate;
use crate::agent::{Actor, AgentError, Manager, ModelRef};
use crate::cluster::Cluster;
use crate::workspace::{Workspace, WorkspaceError};
use paddock_protocol::identity::{LOCAL_USER, Role};
use paddock_protocol::workflow::{
    DefinitionSource, StepKind, StepStatus, WorkflowDef, WorkflowDefinitionView, WorkflowEvent,
    WorkflowEventBody, WorkflowRunStatus, WorkflowRunView,
};
use paddock_store::{DocKind, Fence, NewWorkflowRun, StoreError, WorkflowRunRecord};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

/// Events read from the store at once.
const PAGE: u32 = 500;
/// Longest input value, in bytes.
const MAX_INPUT: usize = 64 * 1024;
/// How often a server looks for runs no live host drives, and a runner
/// for what other hosts recorded (a gate's decision, a cancel, a claim).
const DRIVE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// Live events a slow follower may fall behind by before it re-reads the
/// store.
const CHANNEL: usize = 256;

/// Why a workflow operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// The request or definition is wrong: the text starts with the field
    /// at fault (`steps[2].template: no agent template named `x``).
    #[error("{0}")]
    Invalid(String),
    /// No such workflow, run or step.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (a finished run, a
    /// gate not waiting, a name taken by another source).
    #[error("{0}")]
    Conflict(String),
    /// An agent operation failed.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A workspace operation failed.
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
}

/// The model a step's agent gets when its settings name none (the host's
/// default model, which changes while the host runs).
pub type DefaultModel = Arc<dyn Fn() -> Option<ModelRef> + Send + Sync>;

/// What this host keeps of a run while it is followed or runs.
pub(crate) struct Live {
    /// Serialises the run's appends (and the checks before them).
    log: tokio::sync::Mutex<()>,
    /// Its stored events, as they are stored.
    tx: broadcast::Sender<WorkflowEvent>,
    /// Cancelled when the run is (its runner stops).
    cancel: CancellationToken,
    /// Woken when a gate of the run is decided.
    wake: Notify,
    /// Whether a runner task runs it here.
    running: std::sync::atomic::AtomicBool,
    /// The generation this host drives it under (several hosts), and the
    /// token that stops its runner here (a child of `cancel`).
    driving: std::sync::Mutex<(i64, CancellationToken)>,
}

/// The workflows of this host: definitions and runs.
pub struct Workflows {
    me: Weak<Workflows>,
    manager: Arc<Manager>,
    default_model: DefaultModel,
    config: Vec<WorkflowDef>,
    data_dir: Option<PathBuf>,
    live: std::sync::Mutex<HashMap<String, Arc<Live>>>,
}

impl Workflows {
    /// Checks the definitions of `paddock.toml` (`config`; an error names
    /// the table: `workflows[1].steps[0].id: …`) and, with `resume`,
    /// resumes every unfinished run (one task each). Without `resume` (a
    /// headless command beside a server) it runs only the runs it starts.
    pub async fn open(
        manager: Arc<Manager>,
        default_model: DefaultModel,
        config: Vec<WorkflowDef>,
        data_dir: Option<PathBuf>,
        resume: bool,
    ) -> Result<Arc<Workflows>, WorkflowError> {
        let mut seen = std::collections::BTreeSet::new();
        for (i, def) in config.iter().enumerate() {
            definition::validate(def)
                .map_err(|e| WorkflowError::Invalid(format!("paddock.toml: workflows[{i}].{e}")))?;
            if !seen.insert(def.name.as_str()) {
                return Err(WorkflowError::Invalid(format!(
                    "paddock.toml: workflows[{i}].name: workflow `{}` is defined twice",
                    def.name
                )));
            }
        }
        let workflows = Arc::new_cyclic(|me| Workflows {
            me: me.clone(),
            manager,
            default_model,
            config,
            data_dir,
            live: Default::default(),
        });
        if resume {
            match workflows.cluster() {
                None => {
                    let unfinished = workflows.store().list_workflow_runs(true).await?;
                    for run in unfinished {
                        tracing::info!(run = %run.id, workflow = %run.workflow, "resuming workflow run");
                        workflows.spawn(&run.id, 0);
                    }
                }
                // Its own runs first, then those no live host drives.
                Some(cluster) => {
                    workflows.claim_undriven(&cluster).await?;
                    tokio::spawn(drive(workflows.me.clone(), cluster));
                }
            }
        }
        Ok(workflows)
    }

    /// The hosts this one shares its store with, if any.
    fn cluster(&self) -> Option<Arc<Cluster>> {
        self.manager.cluster().cloned()
    }

    /// Claims the runs this host drives but does not run (after a
    /// restart) and those no live host drives, and starts each; a run
    /// another host claimed first is left to it.
    async fn claim_undriven(&self, cluster: &Cluster) -> Result<(), WorkflowError> {
        let runs = self
            .store()
            .workflow_runs_to_drive(cluster.host(), cluster.lease_ms())
            .await?;
        for (id, driver, generation) in runs {
            if self
                .live(&id)
                .running
                .load(std::sync::atomic::Ordering::SeqCst)
            {
                continue;
            }
            let Some(generation) = self
                .store()
                .claim_workflow_run(&id, cluster.host(), (driver.as_deref(), generation))
                .await?
            else {
                continue;
            };
            tracing::info!(run = %id, from = driver.as_deref().unwrap_or("no host"), generation, "driving workflow run");
            self.spawn(&id, generation);
        }
        Ok(())
    }

    /// Stops driving this host's runs at once (a drain): their runners
    /// stop (they only wait on agents, gates and checks; a check cut short
    /// runs again, `rerun: true`, under the next driver) and their driver
    /// is cleared, for another host to claim them at once. Nothing with
    /// one host.
    pub async fn drain(&self) -> usize {
        let Some(cluster) = self.cluster() else {
            return 0;
        };
        cluster.start_draining();
        let live: Vec<Arc<Live>> = self
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for l in live {
            l.driving
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .1
                .cancel();
            l.wake.notify_waiters();
        }
        match self.store().release_workflow_runs(cluster.host()).await {
            Ok(n) => {
                tracing::info!(runs = n, "draining: workflow runs handed over");
                usize::try_from(n).unwrap_or(usize::MAX)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot hand this host's workflow runs over; they are taken over when its heartbeat stops");
                0
            }
        }
    }

    /// Reads a definition (not yet checked: see [`Workflows::check`]); the
    /// error names the field.
    pub fn parse(text: &str, format: DefFormat) -> Result<WorkflowDef, WorkflowError> {
        definition::parse(text, format).map_err(WorkflowError::Invalid)
    }

    pub(crate) fn store(&self) -> &paddock_store::Store {
        &self.manager.deps().store
    }

    pub(crate) fn manager(&self) -> &Arc<Manager> {
        &self.manager
    }

    pub(crate) fn default_model(&self) -> Option<ModelRef> {
        (self.default_model)()
    }

    /// Checks a definition: everything [`definition::validate`] checks,
    /// and that the agent templates it names exist (and are valid), and
    /// that without a run workspace each agent names its own.
    pub async fn check(&self, def: &WorkflowDef) -> Result<(), WorkflowError> {
        definition::validate(def).map_err(WorkflowError::Invalid)?;
        for (i, step) in def.steps.iter().enumerate() {
            let (field, template, inline) = match (&step.fanout, step.kind()) {
                (Some(f), Some(StepKind::Fanout)) => {
                    ("fanout.", f.template.as_ref(), f.agent.as_ref())
                }
                (_, Some(StepKind::Agent)) => ("", step.template.as_ref(), step.agent.as_ref()),
                _ => continue,
            };
            let mut names_workspace = false;
            if let Some(t) = template {
                let doc = self
                    .store()
                    .get_doc(DocKind::AgentTemplate, t)
                    .await?
                    .ok_or_else(|| {
                        WorkflowError::Invalid(format!(
                            "steps[{i}].{field}template: no agent template named `{t}`"
                        ))
                    })?;
                let stored: AgentTemplate = serde_json::from_value(doc.body).map_err(|e| {
                    WorkflowError::Invalid(format!(
                        "steps[{i}].{field}template: stored template `{t}` is not valid: {e}"
                    ))
                })?;
                names_workspace |= gives_workspace(&stored);
            }
            if let Some(v) = inline {
                let t = definition::inline_agent(v, &format!("steps[{i}].{field}agent"))
                    .map_err(WorkflowError::Invalid)?;
                names_workspace |= gives_workspace(&t);
            }
            if def.workspace.is_none() && !names_workspace {
                return Err(WorkflowError::Invalid(format!(
                    "steps[{i}]: the workflow has no `workspace`, so the step's agent must name one (`workspace`, `workspace_id` or `worktree` in its `{field}agent` settings or template)"
                )));
            }
        }
        // Best-of-N attempts work in worktrees of the run's workspace: an
        // existing workspace named plainly must be a git worktree.
        let named = def
            .workspace
            .as_ref()
            .and_then(|w| w.workspace_id.as_deref())
            .filter(|id| !id.contains("{{"));
        if let Some(id) = named
            && let Some(i) = def.steps.iter().position(|s| s.attempts > 1)
        {
            match self.manager().deps().workspaces.get(id).await {
                Ok(ws) if ws.kind != crate::workspace::WorkspaceKind::Worktree => {
                    return Err(WorkflowError::Invalid(format!(
                        "steps[{i}].attempts: each attempt works in a git worktree of the run's workspace, and workspace `{}` is not a git worktree",
                        ws.name
                    )));
                }
                Ok(_) => {}
                Err(crate::workspace::WorkspaceError::NotFound(_)) => {
                    return Err(WorkflowError::Invalid(format!(
                        "workspace.workspace_id: no workspace `{id}`"
                    )));
                }
                Err(crate::workspace::WorkspaceError::Store(e)) => return Err(e.into()),
                Err(e) => {
                    return Err(WorkflowError::Invalid(format!(
                        "workspace.workspace_id: {e}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The definitions of the built-in example, the data dir's files and
    /// `paddock.toml` (a later source wins a name clash: the file over the
    /// built-in, `paddock.toml` over both), then the API's.
    fn fixed_definitions(&self) -> Vec<(DefinitionSource, WorkflowDef)> {
        let mut out: Vec<(DefinitionSource, WorkflowDef)> = Vec::new();
        let mut put = |source, def: WorkflowDef| {
            out.retain(|(_, d)| d.name != def.name);
            out.push((source, def));
        };
        for d in builtin::definitions() {
            put(DefinitionSource::Builtin, d);
        }
        if let Some(dir) = &self.data_dir {
            for d in read_dir_definitions(&dir.join("workflows")) {
                put(DefinitionSource::File, d);
            }
        }
        for d in &self.config {
            put(DefinitionSource::Config, d.clone());
        }
        out
    }

    /// Every definition, by name.
    pub async fn definitions(&self) -> Result<Vec<WorkflowDefinitionView>, WorkflowError> {
        let mut all = self.fixed_definitions();
        for doc in self.store().list_docs(DocKind::Workflow).await? {
            if all.iter().any(|(_, d)| d.name == doc.name) {
                tracing::warn!(workflow = %doc.name, "a workflow saved through the API is shadowed by one of the same name");
                continue;
            }
            match stored_definition(&doc.body) {
                Ok(d) => all.push((DefinitionSource::Api, d)),
                Err(e) => {
                    tracing::warn!(workflow = %doc.name, error = %e, "a stored workflow is not valid")
                }
            }
        }
        let mut views: Vec<WorkflowDefinitionView> = all
            .into_iter()
            .map(|(source, definition)| WorkflowDefinitionView {
                name: definition.name.clone(),
                description: definition.description.clone(),
                source,
                definition,
            })
            .collect();
        views.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(views)
    }

    /// The definition named `name`.
    pub async fn definition(&self, name: &str) -> Result<WorkflowDefinitionView, WorkflowError> {
        if let Some((source, definition)) = self
            .fixed_definitions()
            .into_iter()
            .find(|(_, d)| d.name == name)
        {
            return Ok(WorkflowDefinitionView {
                name: definition.name.clone(),
                description: definition.description.clone(),
                source,
                definition,
            });
        }
        let doc = self
            .store()
            .get_doc(DocKind::Workflow, name)
            .await?
            .ok_or_else(|| WorkflowError::NotFound(format!("no workflow named `{name}`")))?;
        let definition = stored_definition(&doc.body).map_err(|e| {
            WorkflowError::Invalid(format!("stored workflow `{name}` is not valid: {e}"))
        })?;
        Ok(WorkflowDefinitionView {
            name: definition.name.clone(),
            description: definition.description.clone(),
            source: DefinitionSource::Api,
            definition,
        })
    }

    /// Saves a definition through the API (creates or replaces it), after
    /// [`Workflows::check`]. A name of the built-in, a file or
    /// `paddock.toml` is refused (`name: …`).
    pub async fn save(
        &self,
        def: WorkflowDef,
        owner: &str,
    ) -> Result<WorkflowDefinitionView, WorkflowError> {
        self.check(&def).await?;
        if let Some((source, _)) = self
            .fixed_definitions()
            .into_iter()
            .find(|(_, d)| d.name == def.name)
        {
            return Err(WorkflowError::Conflict(format!(
                "name: `{}` is a {} workflow; the API cannot replace it (choose another name)",
                def.name,
                source_word(source)
            )));
        }
        let body = serde_json::json!({"definition": def, "owner": owner});
        self.store()
            .put_doc(DocKind::Workflow, &def.name, &body)
            .await?;
        tracing::info!(workflow = %def.name, owner, "workflow saved");
        Ok(WorkflowDefinitionView {
            name: def.name.clone(),
            description: def.description.clone(),
            source: DefinitionSource::Api,
            definition: def,
        })
    }

    /// Deletes a definition saved through the API; false if there was
    /// none. One of another source is refused. Runs of it go on (each
    /// follows its own copy).
    pub async fn delete(&self, name: &str) -> Result<bool, WorkflowError> {
        if let Some((source, _)) = self
            .fixed_definitions()
            .into_iter()
            .find(|(_, d)| d.name == name)
        {
            return Err(WorkflowError::Conflict(format!(
                "name: `{name}` is a {} workflow; the API cannot delete it",
                source_word(source)
            )));
        }
        Ok(self.store().delete_doc(DocKind::Workflow, name).await?)
    }

    /// Starts a run of the workflow `name` for `owner`: checks the inputs
    /// (`inputs.NAME: …`; defaults filled in), the definition (its
    /// templates may have gone since it was saved) and its workspace, then
    /// records `workflow.started` and starts the run's task.
    pub async fn start(
        &self,
        name: &str,
        inputs: BTreeMap<String, String>,
        owner: &str,
    ) -> Result<WorkflowRunView, WorkflowError> {
        let def = self.definition(name).await?.definition;
        self.check(&def).await?;
        let inputs = resolve_inputs(&def, inputs)?;
        let id = uuid::Uuid::new_v4().to_string();
        let run_name = format!("{}-{}", def.name, &id[..8]);
        let mut workspace_id = None;
        if let Some(ws) = &def.workspace {
            let render = |text: &str| {
                template::Template::checked(text).render(|r| match r {
                    template::Ref::Input(n) => inputs.get(n).cloned().unwrap_or_default(),
                    _ => String::new(),
                })
            };
            if let Some(repo) = &ws.repo {
                let repo = render(repo);
                self.manager
                    .deps()
                    .workspaces
                    .roots()
                    .check("workspace.repo", Path::new(repo.trim()))
                    .map_err(|e| match e {
                        WorkspaceError::Invalid(m) | WorkspaceError::Outside(m) => {
                            WorkflowError::Invalid(m)
                        }
                        other => other.into(),
                    })?;
                // A repository inside another user's workspace is theirs.
                let inside = self
                    .manager
                    .deps()
                    .workspaces
                    .containing(Path::new(repo.trim()))
                    .await?;
                if let Some(found) = inside
                    && !self.may_use(owner, &found).await?
                {
                    return Err(WorkflowError::Invalid(
                        "workspace.repo: not a directory you may use".into(),
                    ));
                }
            }
            if let Some(wid) = &ws.workspace_id {
                let wid = render(wid);
                let found = self
                    .manager
                    .deps()
                    .workspaces
                    .get(wid.trim())
                    .await
                    .map_err(|e| match e {
                        WorkspaceError::NotFound(m) => {
                            WorkflowError::Invalid(format!("workspace.workspace_id: {m}"))
                        }
                        other => other.into(),
                    })?;
                if !self.may_use(owner, &found).await? {
                    return Err(WorkflowError::Invalid(format!(
                        "workspace.workspace_id: no workspace `{}`",
                        wid.trim()
                    )));
                }
                workspace_id = Some(found.id);
            }
        }
        let first = WorkflowEventBody::WorkflowStarted {
            workflow: def.name.clone(),
            name: run_name.clone(),
            definition: def.clone(),
            inputs: inputs.clone(),
            workspace_id,
        };
        let live = self.live(&id);
        let event = {
            let _log = live.log.lock().await;
            let event = self
                .store()
                .create_workflow_run(
                    &NewWorkflowRun {
                        id: id.clone(),
                        name: run_name,
                        workflow: def.name.clone(),
                        owner: owner.to_string(),
                        inputs,
                        driver: self.cluster().map(|c| c.host().to_string()),
                    },
                    first,
                )
                .await?;
            let _ = live.tx.send(event.clone());
            event
        };
        tracing::info!(run = %id, workflow = %def.name, owner, "workflow run started");
        self.spawn(&id, 0);
        RunState::fold(owner, &[event])
            .map(|s| s.view())
            .ok_or_else(|| WorkflowError::NotFound(format!("no workflow run `{id}`")))
    }

    /// Whether `owner` may use this workspace: theirs, or they are an
    /// admin (or the local account).
    pub(crate) async fn may_use(&self, owner: &str, ws: &Workspace) -> Result<bool, WorkflowError> {
        if ws.owner_id() == owner || owner == LOCAL_USER {
            return Ok(true);
        }
        Ok(self
            .store()
            .get_user(owner)
            .await?
            .is_some_and(|u| u.role == Role::Admin))
    }

    /// Every run, newest first.
    pub async fn runs(&self) -> Result<Vec<WorkflowRunView>, WorkflowError> {
        let mut out = Vec::new();
        for record in self.store().list_workflow_runs(false).await? {
            match self.state_of(&record).await {
                Ok(s) => out.push(s.view()),
                Err(e) => {
                    tracing::warn!(run = %record.id, error = %e, "a workflow run's log cannot be read")
                }
            }
        }
        Ok(out)
    }

    /// The run with this id.
    pub async fn run(&self, id: &str) -> Result<WorkflowRunView, WorkflowError> {
        Ok(self.state(id).await?.view())
    }

    /// The run's record.
    async fn record(&self, id: &str) -> Result<WorkflowRunRecord, WorkflowError> {
        self.store()
            .get_workflow_run(id)
            .await?
            .ok_or_else(|| WorkflowError::NotFound(format!("no workflow run `{id}`")))
    }

    /// Where the run stands, folded from its whole log.
    pub async fn state(&self, id: &str) -> Result<RunState, WorkflowError> {
        let record = self.record(id).await?;
        self.state_of(&record).await
    }

    async fn state_of(&self, record: &WorkflowRunRecord) -> Result<RunState, WorkflowError> {
        let mut events = Vec::new();
        loop {
            let after = events.last().map_or(0, |e: &WorkflowEvent| e.seq);
            let page = self
                .store()
                .workflow_events_after(&record.id, after, PAGE)
                .await?;
            let done = page.len() < PAGE as usize;
            events.extend(page);
            if done {
                break;
            }
        }
        RunState::fold(&record.owner, &events).ok_or_else(|| {
            WorkflowError::Store(StoreError::CorruptRecord {
                what: format!("workflow run {}", record.id),
                reason: "its log does not start with workflow.started".into(),
            })
        })
    }

    /// Cancels a run: records `workflow.finished` (cancelled), stops its
    /// task and interrupts the agents of the step it was in. A finished
    /// run is a conflict.
    pub async fn cancel(&self, id: &str) -> Result<WorkflowRunView, WorkflowError> {
        let live = self.live(id);
        let state = {
            let _log = live.log.lock().await;
            let state = self.state(id).await?;
            if state.is_finished() {
                return Err(WorkflowError::Conflict(format!(
                    "workflow run `{id}` has finished ({})",
                    state.status.as_str()
                )));
            }
            let event = self
                .store()
                .append_workflow_event(
                    id,
                    WorkflowEventBody::WorkflowFinished {
                        status: WorkflowRunStatus::Cancelled,
                        reason: Some("cancelled".into()),
                    },
                )
                .await?;
            let _ = live.tx.send(event);
            state
        };
        live.cancel.cancel();
        live.wake.notify_waiters();
        if let Some(i) = state.active {
            for slot in &state.steps[i].agents {
                match self.manager.interrupt(&slot.agent_id).await {
                    Ok(_) | Err(AgentError::NotFound(_)) => {}
                    Err(e) => {
                        tracing::warn!(run = %id, agent = %slot.agent_id, error = %e, "could not interrupt a cancelled run's agent")
                    }
                }
            }
        }
        tracing::info!(run = %id, "workflow run cancelled");
        self.run(id).await
    }

    /// Decides the gate of step `step` of a run, waiting for it: approved
    /// goes on, rejected fails the step. A gate not waiting (or a finished
    /// run) is a conflict; an unknown step is not found.
    pub async fn decide_gate(
        &self,
        id: &str,
        step: &str,
        approved: bool,
        reason: Option<String>,
        by: &Actor,
    ) -> Result<WorkflowRunView, WorkflowError> {
        if let Some(r) = &reason
            && r.len() > MAX_INPUT
        {
            return Err(WorkflowError::Invalid(format!(
                "reason: longer than {MAX_INPUT} bytes"
            )));
        }
        let live = self.live(id);
        {
            let _log = live.log.lock().await;
            let state = self.state(id).await?;
            if state.is_finished() {
                return Err(WorkflowError::Conflict(format!(
                    "workflow run `{id}` has finished ({})",
                    state.status.as_str()
                )));
            }
            let Some(i) = state.index_of(step) else {
                return Err(WorkflowError::NotFound(format!(
                    "workflow run `{id}` has no step `{step}`"
                )));
            };
            let s = &state.steps[i];
            let waiting = s.status == StepStatus::WaitingGate
                && s.gate.as_ref().is_some_and(|g| g.decision.is_none());
            if !waiting {
                return Err(WorkflowError::Conflict(format!(
                    "step `{step}` of workflow run `{id}` is not waiting for a decision"
                )));
            }
            let event = self
                .store()
                .append_workflow_event(
                    id,
                    WorkflowEventBody::GateDecided {
                        step: step.to_string(),
                        approved,
                        reason,
                        by: by.name.clone(),
                    },
                )
                .await?;
            let _ = live.tx.send(event);
        }
        live.wake.notify_waiters();
        tracing::info!(run = %id, step, approved, by = %by.name, "workflow gate decided");
        self.run(id).await
    }

    /// Up to `limit` of the run's events after `after`.
    pub async fn events_after(
        &self,
        id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<WorkflowEvent>, WorkflowError> {
        self.record(id).await?;
        Ok(self
            .store()
            .workflow_events_after(id, after, limit.clamp(1, 1000))
            .await?)
    }

    /// Follows a run's events after `after`: the store's, then the live
    /// ones, each once and in order, ending after `workflow.finished`.
    pub fn follow(&self, id: &str, after: u64) -> RunFollow {
        let live = self.live(id);
        RunFollow {
            store: self.store().clone(),
            run_id: id.to_string(),
            rx: live.tx.subscribe(),
            last: after,
            buffer: VecDeque::new(),
            caught_up: false,
            checked: false,
            done: false,
        }
    }

    /// Waits until the run has finished; its view then.
    pub async fn await_run(&self, id: &str) -> Result<WorkflowRunView, WorkflowError> {
        let record = self.record(id).await?;
        if record.finished_at.is_none() {
            let mut follow = self.follow(id, record.last_seq);
            while follow.next().await?.is_some() {}
        }
        self.run(id).await
    }

    /// The live part of a run (made on first use).
    pub(crate) fn live(&self, id: &str) -> Arc<Live> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.entry(id.to_string())
            .or_insert_with(|| {
                Arc::new(Live {
                    log: tokio::sync::Mutex::new(()),
                    tx: broadcast::channel(CHANNEL).0,
                    cancel: CancellationToken::new(),
                    wake: Notify::new(),
                    running: std::sync::atomic::AtomicBool::new(false),
                    driving: std::sync::Mutex::new((0, CancellationToken::new())),
                })
            })
            .clone()
    }

    /// Appends an event to a run's log, as its driver (with several
    /// hosts, fenced: [`StoreError::Fenced`] once another host drives it),
    /// and sends it to its followers.
    pub(crate) async fn append(
        &self,
        id: &str,
        body: WorkflowEventBody,
    ) -> Result<WorkflowEvent, WorkflowError> {
        let live = self.live(id);
        let fence = self.cluster().map(|c| {
            let generation = live.driving.lock().unwrap_or_else(|e| e.into_inner()).0;
            c.fence(generation)
        });
        let _log = live.log.lock().await;
        let event = self
            .store()
            .append_workflow_event_under(id, body, fence.as_ref())
            .await?;
        let _ = live.tx.send(event.clone());
        Ok(event)
    }

    /// Starts the run's task (driving it under `generation`, with
    /// several hosts), unless one runs it already. With several hosts, a
    /// watch beside it stops it once the run finished elsewhere (a cancel
    /// through another host) or another host drives it.
    fn spawn(&self, id: &str, generation: i64) {
        let Some(me) = self.me.upgrade() else {
            return;
        };
        let live = self.live(id);
        if live.running.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let stop = live.cancel.child_token();
        *live.driving.lock().unwrap_or_else(|e| e.into_inner()) = (generation, stop.clone());
        if let Some(cluster) = self.cluster() {
            tokio::spawn(watch(
                me.clone(),
                id.to_string(),
                cluster.fence(generation),
                stop.clone(),
            ));
        }
        let id = id.to_string();
        tokio::spawn(async move {
            runner::run(me.clone(), id.clone(), stop.clone()).await;
            stop.cancel();
            live.running
                .store(false, std::sync::atomic::Ordering::SeqCst);
        });
    }
}

/// Every [`DRIVE_EVERY`], claims the runs no live host drives (not while
/// this host drains), until the workflows are gone.
async fn drive(wf: Weak<Workflows>, cluster: Arc<Cluster>) {
    loop {
        tokio::time::sleep(DRIVE_EVERY).await;
        let Some(wf) = wf.upgrade() else {
            return;
        };
        if cluster.is_draining() {
            continue;
        }
        if let Err(e) = wf.claim_undriven(&cluster).await {
            tracing::warn!(error = %e, "claiming workflow runs failed; trying again");
        }
    }
}

/// Stops a run's runner (`stop`) once its log says it finished (recorded
/// by another host) or its driver is not `fence` any more; polls the
/// store every [`DRIVE_EVERY`] and wakes the runner's gate wait, which
/// then sees a decision recorded elsewhere.
async fn watch(wf: Arc<Workflows>, id: String, fence: Fence, stop: CancellationToken) {
    let mut seen = 0;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(DRIVE_EVERY) => {}
        }
        let record = match wf.store().get_workflow_run(&id).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(run = %id, error = %e, "cannot read the run's row; looking again");
                continue;
            }
        };
        let live = wf.live(&id);
        if record.finished_at.is_some()
            || record.driver.as_deref() != Some(fence.host.as_str())
            || record.driver_gen != fence.generation
        {
            if record.finished_at.is_none() {
                tracing::info!(run = %id, driver = record.driver.as_deref().unwrap_or("no host"), "another host drives the workflow run now: stopping here");
            }
            stop.cancel();
            live.wake.notify_waiters();
            return;
        }
        if record.last_seq != seen {
            seen = record.last_seq;
            live.wake.notify_waiters();
        }
    }
}

/// Whether a template's fields name a place to work.
fn gives_workspace(t: &AgentTemplate) -> bool {
    t.workspace.is_some() || t.workspace_id.is_some() || t.worktree.is_some()
}

/// A source in words.
fn source_word(s: DefinitionSource) -> &'static str {
    match s {
        DefinitionSource::Builtin => "built-in",
        DefinitionSource::File => "data dir file's",
        DefinitionSource::Config => "paddock.toml",
        DefinitionSource::Api => "API",
    }
}

/// The definition a stored document holds.
fn stored_definition(body: &serde_json::Value) -> Result<WorkflowDef, String> {
    definition::from_value(
        body.get("definition")
            .cloned()
            .unwrap_or(serde_json::Value::Null),
    )
}

/// The valid definitions of the files of `dir` (`*.yaml`, `*.yml`,
/// `*.toml`); a file that does not read or check is left out, with a
/// warning naming it and the field.
fn read_dir_definitions(dir: &Path) -> Vec<WorkflowDef> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    let mut out: Vec<WorkflowDef> = Vec::new();
    for path in files {
        let Some(format) = path
            .extension()
            .and_then(|e| e.to_str())
            .and_then(DefFormat::of_extension)
        else {
            continue;
        };
        let read = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| definition::parse(&text, format))
            .and_then(|d| definition::validate(&d).map(|_| d));
        match read {
            Ok(d) if out.iter().any(|o| o.name == d.name) => {
                tracing::warn!(file = %path.display(), workflow = %d.name, "a workflow of this name is defined by another file: left out");
            }
            Ok(d) => out.push(d),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "a workflow file is not valid: left out");
            }
        }
    }
    out
}

/// A run's inputs: each given one known and not too long, each required
/// one given, defaults filled in.
fn resolve_inputs(
    def: &WorkflowDef,
    mut given: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, WorkflowError> {
    for (name, value) in &given {
        if !def.inputs.iter().any(|i| &i.name == name) {
            let known: Vec<&str> = def.inputs.iter().map(|i| i.name.as_str()).collect();
            return Err(WorkflowError::Invalid(format!(
                "inputs.{name}: workflow `{}` has no input `{name}` (its inputs: {})",
                def.name,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
        if value.len() > MAX_INPUT {
            return Err(WorkflowError::Invalid(format!(
                "inputs.{name}: longer than {MAX_INPUT} bytes"
            )));
        }
    }
    let mut out = BTreeMap::new();
    for input in &def.inputs {
        match given.remove(&input.name).or_else(|| input.default.clone()) {
            Some(v) => {
                if input.is_required() && v.trim().is_empty() {
                    return Err(WorkflowError::Invalid(format!(
                        "inputs.{}: required (must not be blank)",
                        input.name
                    )));
                }
                out.insert(input.name.clone(), v);
            }
            None if input.is_required() => {
                return Err(WorkflowError::Invalid(format!(
                    "inputs.{}: required{}",
                    input.name,
                    input
                        .description
                        .as_deref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                )));
            }
            None => {
                out.insert(input.name.clone(), String::new());
            }
        }
    }
    Ok(out)
}

/// A run's events after a seq: the store's, then the live ones (see
/// [`Workflows::follow`]).
pub struct RunFollow {
    store: paddock_store::Store,
    run_id: String,
    rx: broadcast::Receiver<WorkflowEvent>,
    last: u64,
    buffer: VecDeque<WorkflowEvent>,
    caught_up: bool,
    checked: bool,
    done: bool,
}

impl RunFollow {
    /// The run followed.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The seq of the last event yielded.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// The next event; None after `workflow.finished`. An unknown run is
    /// [`WorkflowError::NotFound`].
    pub async fn next(&mut self) -> Result<Option<WorkflowEvent>, WorkflowError> {
        if !self.checked {
            if self.store.get_workflow_run(&self.run_id).await?.is_none() {
                return Err(WorkflowError::NotFound(format!(
                    "no workflow run `{}`",
                    self.run_id
                )));
            }
            self.checked = true;
        }
        loop {
            if self.done {
                return Ok(None);
            }
            if let Some(e) = self.buffer.pop_front() {
                if e.seq <= self.last {
                    continue;
                }
                self.last = e.seq;
                if matches!(e.body, WorkflowEventBody::WorkflowFinished { .. }) {
                    self.done = true;
                }
                return Ok(Some(e));
            }
            if !self.caught_up {
                let page = self
                    .store
                    .workflow_events_after(&self.run_id, self.last, PAGE)
                    .await?;
                if page.is_empty() {
                    self.caught_up = true;
                } else {
                    self.buffer.extend(page);
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(e) if e.seq <= self.last => {}
                Ok(e) if e.seq == self.last + 1 => self.buffer.push_back(e),
                // A gap, or events dropped: the store has them.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => self.caught_up = false,
                Err(broadcast::error::RecvError::Closed) => {
                    let page = self
                        .store
                        .workflow_events_after(&self.run_id, self.last, PAGE)
                        .await?;
                    if page.is_empty() {
                        return Ok(None);
                    }
                    self.buffer.extend(page);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
