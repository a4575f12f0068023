//! A whole evaluation run: the tasks' instances run in parallel (up to the
//! spec's `workers`), each as up to `attempts` attempts — a fresh worktree
//! of its repository at `base_commit`, an agent on it with the run's
//! limits, its patch (`git diff` against `base_commit`, new files
//! included), and its evaluation — until one is resolved (with an
//! evaluation) or made a patch (without one). Each finished instance's
//! result goes to the store and the output directory at once, so a run
//! killed at any point continues, rerun with the same output directory,
//! where it was: instances with a result are skipped, and an instance cut
//! in the middle is redone from scratch (its half-made agents purged, its
//! worktrees removed). The run heartbeats while it runs; no instance
//! starts once the whole-run budget is spent.
//!
//! Worktrees: the agent's worktree of an attempt is removed once the
//! attempt is evaluated unless `keep_worktrees` (its patch is in the
//! results); the agent is deleted then too (its history is kept).

use super::files::{self, RunFile, Summary};
use super::local::{self, Checkout, LocalOutcome};
use super::repos;
use super::{EvalError, totals};
use crate::agent::resolve::{AgentRequest, AgentTemplate, Resolver};
use crate::agent::{AgentError, Manager, ModelRef};
use crate::workspace::NewWorkspace;
use chrono::Utc;
use futures::StreamExt as _;
use paddock_protocol::eval::{
    AttemptResult, EvalErrorKind, EvalLimit, EvalRunStatus, EvalSpec, EvalTask, Evaluation,
    InstanceResult, InstanceStatus,
};
use paddock_protocol::events::{AgentStatus, ErrorCode};
use paddock_protocol::policy::ApprovalMode;
use paddock_store::{DocKind, NewEvalRun};
use sha2::Digest as _;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// How often a running run heartbeats.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// Seconds an approval an agent of a run asks for waits before it is
/// refused (nobody is there to answer), unless its template says.
const APPROVAL_TIMEOUT_SECS: u64 = 10;

/// The agent template a run starts from.
#[derive(Clone, Debug)]
pub enum TemplateSource {
    /// A stored template (`/api/config/agent-templates`), by name.
    Stored(String),
    /// A template read from a file (its path, for names and messages).
    File(PathBuf, Box<AgentTemplate>),
}

impl TemplateSource {
    /// The template's name: the stored name, or the file's stem.
    pub fn name(&self) -> String {
        match self {
            TemplateSource::Stored(n) => n.clone(),
            TemplateSource::File(p, _) => p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "template".into()),
        }
    }
}

/// Reads an agent template from a file (YAML, or JSON, which is YAML).
pub fn read_template_file(path: &Path) -> Result<AgentTemplate, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    let de = serde_yaml_ng::Deserializer::from_str(&text);
    let t: AgentTemplate = serde_path_to_error::deserialize(de).map_err(|e| {
        EvalError::Invalid(format!(
            "--template {}: {}: {}",
            path.display(),
            e.path(),
            e.inner()
        ))
    })?;
    t.check()
        .map_err(|e| EvalError::Invalid(format!("--template {}: {e}", path.display())))?;
    Ok(t)
}

/// What to run.
pub struct RunRequest {
    /// The tasks, in file order (filtered).
    pub tasks: Vec<EvalTask>,
    /// The run's spec (`instances` is the tasks' count).
    pub spec: EvalSpec,
    /// The template.
    pub template: TemplateSource,
    /// `--name`.
    pub name: Option<String>,
    /// Who runs it.
    pub owner: String,
    /// Keep each attempt's worktree (default: removed once evaluated).
    pub keep_worktrees: bool,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether it continued an earlier run in the same directory.
    pub resumed: bool,
    /// `finished` or `budget_spent`.
    pub status: EvalRunStatus,
    /// The summary written to `summary.json`.
    pub summary: Summary,
    /// Instances this invocation ran (the others had results).
    pub ran: u32,
}

/// One finished instance, as the progress display shows it.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Instances with a result now (this invocation's and earlier ones').
    pub finished: u32,
    /// Instances in the run.
    pub instances: u32,
    /// Its result.
    pub result: InstanceResult,
}

/// What a run shares among its instances.
struct Ctx {
    manager: Arc<Manager>,
    default_model: Option<ModelRef>,
    template: AgentTemplate,
    spec: EvalSpec,
    run_id: String,
    owner: String,
    keep_worktrees: bool,
    /// Dollars spent so far (finished instances' and attempts').
    spent: Mutex<f64>,
    /// Results so far, by instance.
    results: Mutex<HashMap<String, InstanceResult>>,
    tasks: Vec<EvalTask>,
    summary_base: Summary,
    /// Serialises the output files' writes.
    writing: tokio::sync::Mutex<()>,
}

impl Ctx {
    fn budget_spent(&self) -> bool {
        match self.spec.max_cost_usd {
            Some(max) => *lock(&self.spent) >= max,
            None => false,
        }
    }

    fn run8(&self) -> &str {
        self.run_id.get(..8).unwrap_or(&self.run_id)
    }

    /// The name prefix of an instance's agents.
    fn agent_prefix(&self, instance: &str) -> String {
        format!("eval-{}/{instance}/", self.run8())
    }

    /// A workspace name for an instance's attempt (`a`: the agent's, `c`:
    /// the evaluation's clean checkout), at most 64 plain characters.
    fn ws_name(&self, instance: &str, kind: char, attempt: u32) -> String {
        let plain: String = instance
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .take(30)
            .collect();
        let hash = hex::encode(sha2::Sha256::digest(instance.as_bytes()));
        format!("ev-{}-{plain}-{}-{kind}{attempt}", self.run8(), &hash[..8])
    }

    fn summary(&self) -> Summary {
        let results: Vec<InstanceResult> = lock(&self.results).values().cloned().collect();
        Summary {
            totals: totals(self.spec.instances, &results),
            ..self.summary_base.clone()
        }
    }

    async fn write_outputs(&self) -> Result<(), EvalError> {
        let _one = self.writing.lock().await;
        let results = lock(&self.results).clone();
        let summary = self.summary();
        let dir = PathBuf::from(&self.spec.out_dir);
        let tasks = self.tasks.clone();
        tokio::task::spawn_blocking(move || files::write_outputs(&dir, &tasks, &results, &summary))
            .await
            .map_err(|e| EvalError::Host(format!("writing the outputs: {e}")))?
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `model_name_or_path`: the model, else the router, else the template's
/// model, else the host's default model.
pub fn model_name(
    spec_model: Option<&str>,
    router: Option<&str>,
    template: &AgentTemplate,
    default_model: Option<&ModelRef>,
) -> String {
    if let Some(m) = spec_model {
        return m.to_string();
    }
    if let Some(r) = router.or(template.router.as_deref()) {
        return format!("router:{r}");
    }
    match template.model.as_ref().or(default_model) {
        Some(m) => format!("{}/{}", m.provider, m.model),
        None => "unknown".into(),
    }
}

/// `--model`: `provider/model`, or a model of the template's provider (the
/// default model's without one).
pub fn parse_model(
    text: &str,
    template: &AgentTemplate,
    default_model: Option<&ModelRef>,
) -> Result<ModelRef, EvalError> {
    if let Some((provider, model)) = text.split_once('/')
        && !provider.is_empty()
        && !model.is_empty()
    {
        return Ok(ModelRef {
            provider: provider.into(),
            model: model.into(),
        });
    }
    match template.model.as_ref().or(default_model) {
        Some(m) if !text.is_empty() && !text.contains('/') => Ok(ModelRef {
            provider: m.provider.clone(),
            model: text.into(),
        }),
        _ => Err(EvalError::Invalid(format!(
            "--model: `{text}` is not provider/model (and the template names no provider)"
        ))),
    }
}

/// The template as stored or read, with the run's settings: the model or
/// router, the limits, approval mode auto.
pub async fn run_template(
    manager: &Manager,
    source: &TemplateSource,
    spec: &EvalSpec,
    default_model: Option<&ModelRef>,
) -> Result<AgentTemplate, EvalError> {
    let mut t = match source {
        TemplateSource::Stored(name) => {
            let doc = manager
                .deps()
                .store
                .get_doc(DocKind::AgentTemplate, name)
                .await?
                .ok_or_else(|| {
                    EvalError::Invalid(format!("--template: no agent template named `{name}`"))
                })?;
            serde_json::from_value::<AgentTemplate>(doc.body).map_err(|e| {
                EvalError::Invalid(format!("--template: stored template `{name}`: {e}"))
            })?
        }
        TemplateSource::File(_, t) => (**t).clone(),
    };
    if let Some(m) = &spec.model {
        t.model = Some(parse_model(m, &t, default_model)?);
        t.router = None;
    }
    if let Some(r) = &spec.router {
        t.router = Some(r.clone());
        t.model = None;
    }
    let mut limits = t
        .limits
        .clone()
        .unwrap_or_else(|| manager.deps().defaults.limits.clone());
    limits.max_turns = spec.max_steps;
    limits.max_cost_usd = Some(spec.max_cost_per_instance_usd);
    limits.max_wall_time_secs = Some(spec.max_wall_time_secs);
    t.limits = Some(limits);
    t.approval_mode = Some(ApprovalMode::Auto);
    if t.approval_timeout_secs.is_none() {
        t.approval_timeout_secs = Some(APPROVAL_TIMEOUT_SECS);
    }
    t.workspace = None;
    t.worktree = None;
    t.workspace_id = None;
    t.check()
        .map_err(|e| EvalError::Invalid(format!("--template: {e}")))?;
    Ok(t)
}

/// The prompt of an attempt: the problem statement first (as the task
/// gives it), then what to do.
pub fn prompt(task: &EvalTask, attempt: u32, attempts: u32) -> String {
    let mut p = task.problem_statement.trim_end().to_string();
    p.push_str(
        "\n\n---\nYou are in a checkout of the repository at the commit this issue was filed \
         against. Resolve the issue by changing the repository's files. Do not modify or add \
         tests: the project's own tests check your change. When you are done, finish with a \
         short summary of what you changed.",
    );
    if attempts > 1 {
        p.push_str(&format!("\nThis is attempt {attempt} of {attempts}."));
    }
    p
}

/// Runs (or continues) an evaluation run; `on_progress` is called after
/// each finished instance.
pub async fn run(
    manager: Arc<Manager>,
    default_model: Option<ModelRef>,
    req: RunRequest,
    on_progress: &(dyn Fn(&Progress) + Sync),
) -> Result<RunReport, EvalError> {
    let store = manager.deps().store.clone();
    let out = PathBuf::from(&req.spec.out_dir);
    std::fs::create_dir_all(&out).map_err(|e| EvalError::io(&out, e))?;
    let template = run_template(&manager, &req.template, &req.spec, default_model.as_ref()).await?;

    let (run, resumed) = match files::read_run_file(&out)? {
        Some(RunFile { id }) => {
            let run = store.get_eval_run(&id).await?.ok_or_else(|| {
                EvalError::Invalid(format!(
                    "--out {}: its run.json names run {id}, which this data dir does not have",
                    out.display()
                ))
            })?;
            store
                .set_eval_run_status(&id, EvalRunStatus::Running)
                .await?;
            (run, true)
        }
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            let name = req
                .name
                .clone()
                .unwrap_or_else(|| format!("{}-{}", req.template.name(), &id[..8]));
            let run = store
                .create_eval_run(&NewEvalRun {
                    id: id.clone(),
                    name,
                    owner: req.owner.clone(),
                    spec: req.spec.clone(),
                })
                .await?;
            files::write_run_file(&out, &RunFile { id })?;
            (run, false)
        }
    };
    let span = tracing::info_span!("eval.run", run = %run.id, name = %run.name);
    async move {
        let earlier: HashMap<String, InstanceResult> = store
            .eval_results(&run.id)
            .await?
            .into_iter()
            .filter(|r| req.tasks.iter().any(|t| t.instance_id == r.instance_id))
            .map(|r| (r.instance_id.clone(), r))
            .collect();
        let spent: f64 = earlier.values().map(|r| r.cost_usd).sum();
        let summary_base = Summary {
            run_id: run.id.clone(),
            name: run.name.clone(),
            model_name: req.spec.model_name.clone(),
            evaluation: req.spec.evaluation,
            evaluated_by: files::evaluated_by(req.spec.evaluation).into(),
            // A rerun keeps the harness's report of an earlier grading.
            swebench_report: files::read_summary(&out)
                .filter(|s| s.run_id == run.id)
                .and_then(|s| s.swebench_report),
            totals: Default::default(),
        };
        let ctx = Arc::new(Ctx {
            manager: manager.clone(),
            default_model,
            template,
            spec: req.spec.clone(),
            run_id: run.id.clone(),
            owner: req.owner.clone(),
            keep_worktrees: req.keep_worktrees,
            spent: Mutex::new(spent),
            results: Mutex::new(earlier),
            tasks: req.tasks.clone(),
            summary_base,
            writing: tokio::sync::Mutex::new(()),
        });
        ctx.write_outputs().await?;

        let heartbeat = {
            let store = store.clone();
            let id = run.id.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(HEARTBEAT).await;
                    if let Err(e) = store.touch_eval_run(&id).await {
                        tracing::warn!(run = %id, error = %e, "the run's heartbeat failed");
                    }
                }
            })
        };
        struct AbortOnDrop(tokio::task::JoinHandle<()>);
        impl Drop for AbortOnDrop {
            fn drop(&mut self) {
                self.0.abort();
            }
        }
        let _heartbeat = AbortOnDrop(heartbeat);

        let todo: Vec<EvalTask> = {
            let done = lock(&ctx.results);
            req.tasks
                .iter()
                .filter(|t| !done.contains_key(&t.instance_id))
                .cloned()
                .collect()
        };
        let workers = usize::try_from(ctx.spec.workers.max(1)).unwrap_or(1);
        let skipped = Arc::new(Mutex::new(0u32));
        let ran = Arc::new(Mutex::new(0u32));
        let mut stream = futures::stream::iter(todo.into_iter().map(|task| {
            let ctx = ctx.clone();
            let skipped = skipped.clone();
            let ran = ran.clone();
            async move {
                if ctx.budget_spent() {
                    *lock(&skipped) += 1;
                    return Ok(None);
                }
                *lock(&ran) += 1;
                let span = tracing::info_span!("eval.instance", instance = %task.instance_id);
                let result = instance(&ctx, &task).instrument(span).await?;
                store_result(&ctx, &result).await?;
                Ok::<_, EvalError>(Some(result))
            }
        }))
        .buffer_unordered(workers);
        while let Some(done) = stream.next().await {
            if let Some(result) = done? {
                let finished = u32::try_from(lock(&ctx.results).len()).unwrap_or(u32::MAX);
                on_progress(&Progress {
                    finished,
                    instances: ctx.spec.instances,
                    result,
                });
            }
        }
        drop(stream);
        let all_done = {
            let results = lock(&ctx.results);
            req.tasks
                .iter()
                .all(|t| results.contains_key(&t.instance_id))
        };
        let status = if all_done {
            EvalRunStatus::Finished
        } else {
            EvalRunStatus::BudgetSpent
        };
        store.set_eval_run_status(&run.id, status).await?;
        ctx.write_outputs().await?;
        let ran = *lock(&ran);
        Ok(RunReport {
            id: run.id.clone(),
            name: run.name.clone(),
            resumed,
            status,
            summary: ctx.summary(),
            ran,
        })
    }
    .instrument(span)
    .await
}

/// What the official harness made of a run.
#[derive(Clone, Debug)]
pub struct SwebenchGrade {
    /// Its report.
    pub report: super::swebench::SwebenchReport,
    /// Instances whose result it set (those that were `not_evaluated`).
    pub graded: u32,
    /// The run's summary now (also in `summary.json`).
    pub summary: Summary,
}

/// Grades a run's patches with the official SWE-bench harness
/// (`--evaluate swebench`): its `predictions.jsonl` is handed to
/// [`super::swebench::evaluate`] (`opts.run_id` names the harness's logs
/// and report), and its report is put onto every result still
/// `not_evaluated` ([`super::swebench::apply_report`]), in the store and
/// the output directory. `None` when no result waits for grading (the
/// harness is not run).
pub async fn grade_with_swebench(
    store: &paddock_store::Store,
    run: &RunReport,
    tasks: &[EvalTask],
    out_dir: &Path,
    opts: &super::swebench::SwebenchOptions,
) -> Result<Option<SwebenchGrade>, EvalError> {
    let span = tracing::info_span!("eval.swebench", run = %run.id);
    async move {
        let mut results: HashMap<String, InstanceResult> = store
            .eval_results(&run.id)
            .await?
            .into_iter()
            .filter(|r| tasks.iter().any(|t| t.instance_id == r.instance_id))
            .map(|r| (r.instance_id.clone(), r))
            .collect();
        let waiting: Vec<String> = tasks
            .iter()
            .filter(|t| {
                results
                    .get(&t.instance_id)
                    .is_some_and(|r| r.status == InstanceStatus::NotEvaluated)
            })
            .map(|t| t.instance_id.clone())
            .collect();
        if waiting.is_empty() {
            return Ok(None);
        }
        let report =
            super::swebench::evaluate(opts, &out_dir.join("predictions.jsonl"), out_dir).await?;
        for id in &waiting {
            if let Some(r) = results.get_mut(id) {
                super::swebench::apply_report(r, &report, &opts.run_id);
                store.put_eval_result(&run.id, r).await?;
            }
        }
        let all: Vec<InstanceResult> = results.values().cloned().collect();
        let summary = Summary {
            totals: totals(run.summary.totals.instances, &all),
            swebench_report: Some(report.report_path.display().to_string()),
            ..run.summary.clone()
        };
        let dir = out_dir.to_path_buf();
        let tasks = tasks.to_vec();
        let written = summary.clone();
        tokio::task::spawn_blocking(move || files::write_outputs(&dir, &tasks, &results, &written))
            .await
            .map_err(|e| EvalError::Host(format!("writing the outputs: {e}")))??;
        Ok(Some(SwebenchGrade {
            report,
            graded: u32::try_from(waiting.len()).unwrap_or(u32::MAX),
            summary,
        }))
    }
    .instrument(span)
    .await
}

/// Records a finished instance: the store, the spent total, the files.
async fn store_result(ctx: &Ctx, result: &InstanceResult) -> Result<(), EvalError> {
    ctx.manager
        .deps()
        .store
        .put_eval_result(&ctx.run_id, result)
        .await?;
    lock(&ctx.results).insert(result.instance_id.clone(), result.clone());
    ctx.write_outputs().await
}

/// An instance's result without attempts (it could not be run).
fn error_result(
    task: &EvalTask,
    ctx: &Ctx,
    kind: EvalErrorKind,
    message: String,
) -> InstanceResult {
    InstanceResult {
        instance_id: task.instance_id.clone(),
        status: InstanceStatus::Error,
        error_kind: Some(kind),
        limit: None,
        message: Some(message),
        evaluation: ctx.spec.evaluation,
        kept_attempt: None,
        attempts: Vec::new(),
        input_tokens: 0,
        output_tokens: 0,
        cost_usd: 0.0,
        turns: 0,
        wall_ms: 0,
        patch_bytes: 0,
        finished_at: Utc::now(),
    }
}

/// Purges what a cut run left of an instance: its agents (by name).
async fn clean_up_cut(ctx: &Ctx, task: &EvalTask) -> Result<(), EvalError> {
    let prefix = ctx.agent_prefix(&task.instance_id);
    let agents = ctx.manager.deps().store.list_agents(true).await?;
    for a in agents.iter().filter(|a| a.name.starts_with(&prefix)) {
        tracing::info!(agent = %a.id, "purging an agent of an instance a stopped run cut");
        match ctx.manager.delete(&a.id, true).await {
            Ok(_) | Err(AgentError::NotFound(_)) => {}
            Err(e) => {
                return Err(EvalError::Host(format!(
                    "cannot purge agent {} of the cut instance {}: {e}",
                    a.id, task.instance_id
                )));
            }
        }
    }
    Ok(())
}

/// Runs one instance: its attempts, the kept one, the sums.
async fn instance(ctx: &Ctx, task: &EvalTask) -> Result<InstanceResult, EvalError> {
    let started = Instant::now();
    clean_up_cut(ctx, task).await?;
    let repos_dir = ctx.spec.repos_dir.as_deref().map(Path::new);
    let repo = match repos::locate(task, repos_dir).await? {
        Ok(r) => r,
        Err(p) => return Ok(error_result(task, ctx, p.kind, p.message)),
    };
    let base = repos::full_commit(&repo, &task.base_commit).await?;
    let branch = repos::base_branch(&repo, &task.instance_id, &base).await?;
    let attempts_max = ctx.spec.attempts.max(1);
    let mut attempts: Vec<AttemptResult> = Vec::new();
    let mut kept = None;
    for k in 1..=attempts_max {
        if k > 1 && ctx.budget_spent() {
            break;
        }
        let a = attempt(ctx, task, &repo, &branch, &base, k, attempts_max).await?;
        *lock(&ctx.spent) += a.cost_usd;
        let good = match ctx.spec.evaluation {
            Evaluation::Local => a.status == InstanceStatus::Resolved,
            Evaluation::None | Evaluation::Swebench => {
                a.status == InstanceStatus::NotEvaluated && !a.patch.is_empty()
            }
        };
        attempts.push(a);
        if good {
            kept = Some(k);
            break;
        }
    }
    let kept_attempt = kept.or(attempts.last().map(|a| a.attempt));
    let Some(keep) = kept_attempt.and_then(|k| attempts.iter().find(|a| a.attempt == k)) else {
        return Ok(error_result(
            task,
            ctx,
            EvalErrorKind::Host,
            "no attempt ran (the run's budget was spent)".into(),
        ));
    };
    Ok(InstanceResult {
        instance_id: task.instance_id.clone(),
        status: keep.status,
        error_kind: keep.error_kind,
        limit: keep.limit,
        message: keep.message.clone(),
        evaluation: ctx.spec.evaluation,
        kept_attempt,
        patch_bytes: keep.patch.len() as u64,
        input_tokens: attempts.iter().map(|a| a.input_tokens).sum(),
        output_tokens: attempts.iter().map(|a| a.output_tokens).sum(),
        cost_usd: attempts.iter().map(|a| a.cost_usd).sum(),
        turns: attempts.iter().map(|a| a.turns).sum(),
        wall_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        finished_at: Utc::now(),
        attempts,
    })
}

/// The limit an agent's run ended on, if it did.
fn limit_of(code: Option<ErrorCode>) -> Option<EvalLimit> {
    match code? {
        ErrorCode::LimitTurns => Some(EvalLimit::Steps),
        ErrorCode::BudgetExceeded => Some(EvalLimit::Cost),
        ErrorCode::LimitTime => Some(EvalLimit::Time),
        _ => None,
    }
}

/// One attempt: a worktree, an agent, its patch, its evaluation.
async fn attempt(
    ctx: &Ctx,
    task: &EvalTask,
    repo: &Path,
    branch: &str,
    base: &str,
    k: u32,
    of: u32,
) -> Result<AttemptResult, EvalError> {
    let started = Instant::now();
    let deps = ctx.manager.deps();
    let workspaces = &deps.workspaces;
    let agent_id = uuid::Uuid::new_v4().to_string();
    let mut result = AttemptResult {
        attempt: k,
        agent_id: agent_id.clone(),
        workspace_id: None,
        status: InstanceStatus::Error,
        error_kind: None,
        limit: None,
        message: None,
        patch: String::new(),
        input_tokens: 0,
        output_tokens: 0,
        cost_usd: 0.0,
        turns: 0,
        wall_ms: 0,
        tests: None,
    };
    let fail = |mut r: AttemptResult, kind: EvalErrorKind, message: String| {
        r.status = InstanceStatus::Error;
        r.error_kind = Some(kind);
        r.message = Some(message);
        r.wall_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        r
    };

    // Its environment must be one this host knows (checked here, so that
    // an error of the agent's making below is the host's, never a guess
    // from its text).
    if let Some(env) = task.environment.as_deref()
        && !deps.environments.contains(env)
    {
        return Ok(fail(
            result,
            EvalErrorKind::Environment,
            format!(
                "environment: no environment `{env}` on this host (known: {})",
                deps.environments.names().join(", ")
            ),
        ));
    }

    // The agent's worktree (one a cut run left goes first).
    let ws_name = ctx.ws_name(&task.instance_id, 'a', k);
    if let Ok(old) = workspaces.get(&ws_name).await {
        workspaces.delete(&old, true, true).await.map_err(|e| {
            EvalError::Host(format!("cannot remove the old worktree {ws_name}: {e}"))
        })?;
    }
    let ws = match workspaces
        .create(NewWorkspace {
            name: ws_name.clone(),
            repo: Some(repo.to_path_buf()),
            base: Some(branch.to_string()),
            owner: Some(ctx.owner.clone()),
            ..NewWorkspace::default()
        })
        .await
    {
        Ok(ws) => ws,
        Err(e) => {
            return Ok(fail(
                result,
                EvalErrorKind::Host,
                format!("its worktree: {e}"),
            ));
        }
    };
    result.workspace_id = Some(ws.id.clone());

    // The agent.
    let mut fields = ctx.template.clone();
    fields.workspace_id = Some(ws.id.clone());
    if task.environment.is_some() {
        fields.environment = task.environment.clone();
    }
    let resolved = Resolver::new(deps, ctx.default_model.as_ref())
        .resolve(AgentRequest {
            name: Some(format!("{}{k}", ctx.agent_prefix(&task.instance_id))),
            template: None,
            fields,
            task: None,
        })
        .await;
    let mut config = match resolved {
        Ok(r) => r.config,
        Err(e) => {
            let r = fail(
                result,
                EvalErrorKind::Host,
                format!("its agent's settings: {e}"),
            );
            remove_worktree(ctx, &ws).await;
            return Ok(r);
        }
    };
    config.owner = Some(ctx.owner.clone());
    if let Err(e) = ctx
        .manager
        .create_with_id(agent_id.clone(), config, None)
        .await
    {
        let r = fail(
            result,
            EvalErrorKind::Host,
            format!("its agent could not be made: {e}"),
        );
        remove_worktree(ctx, &ws).await;
        return Ok(r);
    }
    let seq = ctx
        .manager
        .post_message(&agent_id, prompt(task, k, of))
        .await
        .map_err(|e| EvalError::Host(format!("agent {agent_id} took no message: {e}")))?;
    let outcome = crate::agent::outcome::await_run(&deps.store, &deps.bus, &agent_id, seq).await?;
    if let Some(record) = deps.store.get_agent(&agent_id).await? {
        result.input_tokens = record.usage.input_tokens;
        result.output_tokens = record.usage.output_tokens;
        result.cost_usd = record.usage.cost_usd;
        result.turns = u32::try_from(record.usage.model_calls).unwrap_or(u32::MAX);
    }
    result.patch = repos::worktree_patch(&ws.path, base).await?;
    let outcome = outcome.ok_or_else(|| EvalError::Host(format!("agent {agent_id} was purged")))?;

    if let Some(limit) = limit_of(outcome.error_code).filter(|_| !outcome.succeeded()) {
        result.status = InstanceStatus::LimitHit;
        result.limit = Some(limit);
        result.message = outcome.reason.clone();
    } else if !outcome.succeeded() {
        let kind = if outcome.error_code == Some(ErrorCode::EnvironmentSetupFailed) {
            EvalErrorKind::Environment
        } else {
            EvalErrorKind::Agent
        };
        result.status = InstanceStatus::Error;
        result.error_kind = Some(kind);
        result.message = Some(format!(
            "its agent ended {}: {}",
            match outcome.status {
                AgentStatus::Stopped => "stopped",
                AgentStatus::Limited => "limited",
                _ => "in an error",
            },
            outcome.reason.as_deref().unwrap_or("no reason given")
        ));
    } else if result.patch.is_empty() {
        result.status = InstanceStatus::Unresolved;
        result.message = Some("it made no patch".into());
    } else {
        match ctx.spec.evaluation {
            Evaluation::None | Evaluation::Swebench => {
                result.status = InstanceStatus::NotEvaluated;
            }
            Evaluation::Local => {
                let checkout = Checkout {
                    repo,
                    base_branch: branch,
                    name: ctx.ws_name(&task.instance_id, 'c', k),
                    owner: &ctx.owner,
                };
                match local::evaluate(&ctx.manager, task, checkout, &agent_id, &result.patch)
                    .await?
                {
                    o @ LocalOutcome::Tested { .. } => {
                        let resolved = o.resolved();
                        if let LocalOutcome::Tested { tests, failure } = o {
                            result.tests = Some(tests);
                            result.message = failure;
                        }
                        result.status = if resolved {
                            InstanceStatus::Resolved
                        } else {
                            InstanceStatus::Unresolved
                        };
                    }
                    LocalOutcome::Failed(kind, message) => {
                        result.status = InstanceStatus::Error;
                        result.error_kind = Some(kind);
                        result.message = Some(message);
                    }
                }
            }
        }
    }
    // Done with the agent (its history is kept) and, unless kept, its
    // worktree.
    if let Err(e) = ctx.manager.delete(&agent_id, false).await {
        tracing::warn!(agent = %agent_id, error = %e, "could not delete the attempt's agent");
    }
    if !ctx.keep_worktrees {
        remove_worktree(ctx, &ws).await;
    }
    result.wall_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(result)
}

async fn remove_worktree(ctx: &Ctx, ws: &crate::workspace::Workspace) {
    if let Err(e) = ctx.manager.deps().workspaces.delete(ws, true, true).await {
        tracing::warn!(workspace = %ws.name, error = %e, "could not remove an attempt's worktree");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> EvalTask {
        serde_json::from_value(serde_json::json!({
            "instance_id": "a__b-1", "repo": "a/b", "base_commit": "c",
            "problem_statement": "[a__b-1] It breaks.\n", "FAIL_TO_PASS": ["t"]
        }))
        .unwrap()
    }

    #[test]
    fn the_prompt_starts_with_the_problem_and_names_the_attempt() {
        let one = prompt(&task(), 1, 1);
        assert!(one.starts_with("[a__b-1] It breaks.\n\n---\n"), "{one}");
        assert!(one.contains("Do not modify or add tests"));
        assert!(!one.contains("attempt"));
        assert!(prompt(&task(), 2, 3).ends_with("This is attempt 2 of 3."));
    }

    #[test]
    fn models_and_their_names() {
        let t = AgentTemplate {
            model: Some(ModelRef {
                provider: "p".into(),
                model: "m".into(),
            }),
            ..AgentTemplate::default()
        };
        assert_eq!(
            parse_model("q/x", &t, None).unwrap(),
            ModelRef {
                provider: "q".into(),
                model: "x".into()
            }
        );
        assert_eq!(parse_model("x", &t, None).unwrap().provider, "p");
        assert!(
            parse_model("x", &AgentTemplate::default(), None)
                .unwrap_err()
                .to_string()
                .starts_with("--model:")
        );
        assert!(parse_model("/x", &t, None).is_err());
        assert_eq!(model_name(Some("q/x"), None, &t, None), "q/x");
        assert_eq!(model_name(None, Some("cheap"), &t, None), "router:cheap");
        assert_eq!(model_name(None, None, &t, None), "p/m");
        assert_eq!(
            model_name(None, None, &AgentTemplate::default(), None),
            "unknown"
        );
        assert_eq!(
            limit_of(Some(ErrorCode::LimitTurns)),
            Some(EvalLimit::Steps)
        );
        assert_eq!(
            limit_of(Some(ErrorCode::BudgetExceeded)),
            Some(EvalLimit::Cost)
        );
        assert_eq!(limit_of(Some(ErrorCode::LimitTime)), Some(EvalLimit::Time));
        assert_eq!(limit_of(Some(ErrorCode::ModelFailed)), None);
    }
}
