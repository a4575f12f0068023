//! The durable state machine of one run. Each turn of [`run`] folds the
//! run's log ([`RunState`]) and takes the next action it calls for,
//! recording an event *before* its effect:
//!
//! - the run's worktree (`workflow.workspace` once made; a restart looks
//!   the worktree up by its name before making one);
//! - an agent step: `step.agent` (its id chosen first) → the agent made
//!   with that id → its message posted, `step.prompted` (on resume, a
//!   `message.user` found in the agent's log is recorded instead of posting
//!   again) → its run awaited through its log → `verify.started` → the
//!   command in the agent's sandbox → `verify.finished` (a verify started
//!   and not finished runs again with `rerun: true`) → `step.retry` with the
//!   output fed back, or `step.finished`;
//! - a fan-out: the same per item, at most `max_parallel` at once;
//! - a gate: `gate.requested` with the diff, then a wait for
//!   `gate.decided`;
//! - a merge: commit and merge the run's worktree;
//! - after a failed step: `step.goto` (bounded) or `workflow.finished`.

use super::definition::{self, MAX_ITEMS};
use super::fold::{AgentSlot, AttemptEnd, RunState, VerifyState};
use super::template::{Ref, Template};
use super::{WorkflowError, Workflows};
use crate::agent::AgentError;
use crate::agent::outcome::{RunOutcome, await_run, stored_run};
use crate::agent::resolve::{AgentRequest, AgentTemplate, Resolver};
use crate::workspace::{MergeOutcome, NewWorkspace, Workspace, WorkspaceError, WorkspaceKind};
use paddock_protocol::events::EventBody;
use paddock_protocol::workflow::{
    OnFailure, StepKind, StepOutcome, StepWorkspace, WorkflowEventBody, WorkflowRunStatus,
};
use paddock_sandbox::exec::{ExecBackend, ExecRequest};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// Bytes of a verify's output kept (head and tail).
const VERIFY_KEEP: usize = 16 * 1024;
/// Bytes of a gate's diff kept.
const DIFF_KEEP: usize = 256 * 1024;

/// Why a turn stopped short.
enum Halt {
    /// The run was cancelled (or finished elsewhere): stop quietly.
    Stopped,
    /// The store is away: wait and try again.
    Unavailable(String),
    /// Something went wrong that fails the run.
    Fatal(String),
}

impl From<WorkflowError> for Halt {
    fn from(e: WorkflowError) -> Halt {
        match e {
            // Another host drives the run now: stop here, writing nothing.
            WorkflowError::Store(paddock_store::StoreError::Fenced { holder, .. }) => {
                tracing::info!(%holder, "another host drives the workflow run now: stopping here");
                Halt::Stopped
            }
            WorkflowError::Store(s) if s.is_unavailable() => Halt::Unavailable(s.to_string()),
            WorkflowError::Agent(AgentError::Store(s)) if s.is_unavailable() => {
                Halt::Unavailable(s.to_string())
            }
            other => Halt::Fatal(other.to_string()),
        }
    }
}

impl From<paddock_store::StoreError> for Halt {
    fn from(e: paddock_store::StoreError) -> Halt {
        WorkflowError::from(e).into()
    }
}

/// How a step (or a fan-out item) ended, when it did not succeed, and
/// what its agents cost on the way (a best-of-N step's attempts).
struct StepFail(String, f64);

/// A failure whose agents' cost is not counted in the step's.
fn fail(why: String) -> StepFail {
    StepFail(why, 0.0)
}

/// A turn's result.
type Turn = Result<(), Halt>;

/// Where one agent's verified run stands.
struct Chain {
    /// Its agent.
    slot: AgentSlot,
    /// Its round (1 + the retries so far).
    round: u32,
    /// Its last verify (`attempt` is the round it checked).
    verify: Option<VerifyState>,
    /// The best-of-N attempt it makes (None: the step's only agent).
    attempt: Option<u32>,
}

/// How an agent's verified run ended.
struct Verified {
    /// Its last answer.
    answer: Option<String>,
    /// What its runs cost.
    cost: f64,
    /// Whether it passed (its run succeeded and its verify, if any, too).
    passed: bool,
    /// Its last verify's exit code.
    exit_code: Option<i32>,
    /// Why it did not pass.
    reason: Option<String>,
}

/// Runs the run `id` until it finishes, is cancelled, or this host stops.
/// `cancel` stops it here (the run was cancelled, or this host drains or
/// lost it).
pub(super) async fn run(
    wf: Arc<Workflows>,
    id: String,
    cancel: tokio_util::sync::CancellationToken,
) {
    let span = tracing::info_span!("workflow_run", run = %id);
    async {
        let mut backoff = Duration::from_millis(500);
        loop {
            if cancel.is_cancelled() {
                return;
            }
            let state = match wf.state(&id).await {
                Ok(s) => s,
                Err(e) => match Halt::from(e) {
                    Halt::Unavailable(why) => {
                        tracing::warn!(%why, "the store is away; the run waits");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                        continue;
                    }
                    Halt::Fatal(why) => {
                        tracing::error!(%why, "the run's log cannot be read; the run stops here");
                        return;
                    }
                    Halt::Stopped => return,
                },
            };
            if state.is_finished() {
                return;
            }
            let turn = Runner {
                wf: &wf,
                state: &state,
                cancel: &cancel,
            }
            .turn()
            .await;
            match turn {
                Ok(()) => backoff = Duration::from_millis(500),
                Err(Halt::Stopped) => return,
                Err(Halt::Unavailable(why)) => {
                    tracing::warn!(%why, "the store is away; the run waits");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = cancel.cancelled() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
                Err(Halt::Fatal(why)) => {
                    tracing::error!(%why, "the run fails");
                    let ended = wf
                        .append(
                            &id,
                            WorkflowEventBody::WorkflowFinished {
                                status: WorkflowRunStatus::Failed,
                                reason: Some(why),
                            },
                        )
                        .await;
                    if let Err(e) = ended {
                        tracing::error!(error = %e, "could not record the run's failure");
                    }
                    return;
                }
            }
        }
    }
    .instrument(span)
    .await
}

/// One turn of a run, against the state its log folds to.
struct Runner<'a> {
    wf: &'a Arc<Workflows>,
    state: &'a RunState,
    cancel: &'a tokio_util::sync::CancellationToken,
}

impl Runner<'_> {
    fn id(&self) -> &str {
        &self.state.id
    }

    /// Records an event; a run that finished meanwhile (cancelled) stops
    /// the turn.
    async fn record(&self, body: WorkflowEventBody) -> Result<u64, Halt> {
        if self.cancel.is_cancelled() {
            return Err(Halt::Stopped);
        }
        match self.wf.append(self.id(), body).await {
            Ok(e) => Ok(e.seq),
            Err(WorkflowError::Store(paddock_store::StoreError::Invalid(m)))
                if m.contains("has finished") =>
            {
                Err(Halt::Stopped)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Takes the next action the state calls for.
    async fn turn(&self) -> Turn {
        let state = self.state;
        if let Some(ws) = &state.def.workspace
            && state.workspace_path.is_none()
        {
            return self.make_workspace(ws).await;
        }
        if let Some(i) = state.failed {
            let step = &state.def.steps[i];
            let reason = state.steps[i].reason.clone().unwrap_or_default();
            match &step.on_failure {
                OnFailure::Goto { goto, max } if state.steps[i].jumps < max.unwrap_or(0) => {
                    self.record(WorkflowEventBody::StepGoto {
                        step: step.id.clone(),
                        to: goto.clone(),
                        count: state.steps[i].jumps + 1,
                    })
                    .await?;
                }
                _ => {
                    self.record(WorkflowEventBody::WorkflowFinished {
                        status: WorkflowRunStatus::Failed,
                        reason: Some(format!("step `{}` failed: {reason}", step.id)),
                    })
                    .await?;
                }
            }
            return Ok(());
        }
        let Some(i) = state.active else {
            if state.next >= state.steps.len() {
                self.record(WorkflowEventBody::WorkflowFinished {
                    status: WorkflowRunStatus::Succeeded,
                    reason: None,
                })
                .await?;
            } else {
                let s = &state.steps[state.next];
                self.record(WorkflowEventBody::StepStarted {
                    step: s.id.clone(),
                    attempt: 1,
                    iteration: s.iteration + 1,
                })
                .await?;
            }
            return Ok(());
        };
        let step = &state.def.steps[i];
        let span = tracing::info_span!("workflow_step", step = %step.id, iteration = state.steps[i].iteration);
        let ended = async {
            match step.kind() {
                Some(StepKind::Agent) => self.agent_step(i).await,
                Some(StepKind::Fanout) => self.fanout_step(i).await,
                Some(StepKind::Gate) => self.gate_step(i).await,
                Some(StepKind::Merge) => self.merge_step().await,
                None => Ok(Err(fail("the step gives no valid kind".into()))),
            }
        }
        .instrument(span)
        .await?;
        let (status, output, cost, reason) = match ended {
            Ok((output, cost)) => (StepOutcome::Succeeded, Some(output), cost, None),
            Err(StepFail(why, cost)) => {
                tracing::info!(step = %step.id, %why, "workflow step failed");
                (StepOutcome::Failed, None, cost, Some(why))
            }
        };
        self.record(WorkflowEventBody::StepFinished {
            step: step.id.clone(),
            status,
            output,
            cost_usd: cost,
            reason,
        })
        .await?;
        Ok(())
    }

    /// Renders a field with the run's values.
    fn render(&self, text: &str, item: Option<&str>) -> String {
        let state = self.state;
        Template::checked(text).render(|r| match r {
            Ref::Input(n) => state.inputs.get(n).cloned().unwrap_or_default(),
            Ref::StepOutput(s) => state
                .index_of(s)
                .and_then(|i| state.steps[i].output.clone())
                .unwrap_or_default(),
            Ref::StepVerifyOutput(s) => state
                .index_of(s)
                .and_then(|i| state.steps[i].verify.as_ref())
                .and_then(|v| v.finished.as_ref().map(|(_, o)| o.clone()))
                .unwrap_or_default(),
            Ref::Item => item.unwrap_or_default().to_string(),
            Ref::RunId => state.id.clone(),
            Ref::RunWorkspace => state.workspace_path.clone().unwrap_or_default(),
        })
    }

    /// Makes (or finds, after a restart) the run's workspace, and records
    /// it.
    async fn make_workspace(&self, ws: &paddock_protocol::workflow::RunWorkspace) -> Turn {
        let state = self.state;
        let workspaces = &self.wf.manager().deps().workspaces;
        let made = if let Some(id) = &state.workspace_id {
            workspaces.get(id).await
        } else if let Some(repo) = &ws.repo {
            let name = workspace_name(&format!("wf-{}-{}", &state.id[..8], state.workflow));
            match workspaces.get(&name).await {
                Ok(found) => Ok(found),
                Err(WorkspaceError::NotFound(_)) => {
                    let base = ws
                        .base
                        .as_deref()
                        .map(|b| self.render(b, None).trim().to_string())
                        .filter(|b| !b.is_empty());
                    workspaces
                        .create(NewWorkspace {
                            name,
                            repo: Some(self.render(repo, None).trim().into()),
                            base,
                            branch: Some(format!("paddock/{}", state.name)),
                            path: None,
                            copy: false,
                            owner: Some(state.owner.clone()),
                        })
                        .await
                }
                Err(e) => Err(e),
            }
        } else {
            return Err(Halt::Fatal(
                "workspace: give `repo` or `workspace_id`".into(),
            ));
        };
        match made {
            Ok(w) => {
                self.record(WorkflowEventBody::WorkflowWorkspace {
                    workspace_id: w.id.clone(),
                    path: w.path.display().to_string(),
                })
                .await?;
                Ok(())
            }
            Err(WorkspaceError::Store(s)) if s.is_unavailable() => {
                Err(Halt::Unavailable(s.to_string()))
            }
            Err(e) => Err(Halt::Fatal(format!("the run's workspace: {e}"))),
        }
    }

    /// An agent step, from where its log left it.
    async fn agent_step(&self, i: usize) -> Result<Result<(String, f64), StepFail>, Halt> {
        let state = self.state;
        if state.def.steps[i].attempts > 1 {
            return self.attempts_step(i).await;
        }
        let s = &state.steps[i];
        let slot = match s.agents.first() {
            Some(slot) => slot.clone(),
            None => self.new_slot(i, None).await?,
        };
        if let Err(f) = self.ensure_agent(i, &slot, None).await? {
            return Ok(Err(f));
        }
        let ran = self
            .verified_run(
                i,
                Chain {
                    slot,
                    round: s.attempt.max(1),
                    verify: s.verify.clone(),
                    attempt: None,
                },
            )
            .await?;
        Ok(match ran {
            Ok(v) if v.passed => Ok((v.answer.unwrap_or_default(), v.cost)),
            Ok(v) => Err(fail(v.reason.unwrap_or_default())),
            Err(f) => Err(f),
        })
    }

    /// One agent's run and its verify, asked again (with the verify's
    /// output) up to the step's `retries`, from where the log left it.
    /// A run or verify that did not pass is `passed: false` with its
    /// reason; what could not be done at all is a [`StepFail`].
    async fn verified_run(
        &self,
        i: usize,
        chain: Chain,
    ) -> Result<Result<Verified, StepFail>, Halt> {
        let def = &self.state.def.steps[i];
        let Chain {
            slot,
            mut round,
            verify: last,
            attempt: of,
        } = chain;
        let rerun_of = last
            .as_ref()
            .filter(|v| v.finished.is_none())
            .map(|v| v.attempt);
        // What the last verify said (for the retry's message), when it
        // checked the round before.
        let mut last_verify = last.and_then(|v| v.finished.map(|f| (v.attempt, v.command, f)));
        let mut prompts = slot.prompts.clone();
        loop {
            let seq = match prompts.get(round as usize - 1) {
                Some(seq) => *seq,
                None => {
                    let text = if round == 1 {
                        self.render(def.prompt.as_deref().unwrap_or_default(), None)
                    } else {
                        match &last_verify {
                            Some((_, command, (code, output))) => {
                                retry_message(command, *code, output)
                            }
                            None => "The check failed; try again.".to_string(),
                        }
                    };
                    let after = prompts.last().copied().unwrap_or(0);
                    let seq = match self.prompt(&def.id, &slot.agent_id, after, text).await? {
                        Ok(seq) => seq,
                        Err(f) => return Ok(Err(f)),
                    };
                    prompts.push(seq);
                    seq
                }
            };
            let outcome = match self.wait(&slot.agent_id, seq).await? {
                Ok(o) => o,
                Err(f) => return Ok(Err(f)),
            };
            if !outcome.succeeded() {
                return Ok(Ok(Verified {
                    cost: self.cost(&slot.agent_id, &prompts).await?,
                    answer: outcome.answer,
                    passed: false,
                    exit_code: last_verify.and_then(|(_, _, (c, _))| c),
                    reason: Some(format!(
                        "its agent's run ended {}: {}",
                        outcome.status.as_str(),
                        outcome.reason.as_deref().unwrap_or("no reason given")
                    )),
                }));
            }
            let Some(verify) = &def.verify else {
                return Ok(Ok(Verified {
                    cost: self.cost(&slot.agent_id, &prompts).await?,
                    answer: outcome.answer,
                    passed: true,
                    exit_code: None,
                    reason: None,
                }));
            };
            let command = self.render(&verify.command, None);
            let (code, _output) = match &last_verify {
                Some((r, _, f)) if *r == round => f.clone(),
                _ => {
                    let rerun = rerun_of == Some(round);
                    self.record(match of {
                        None => WorkflowEventBody::VerifyStarted {
                            step: def.id.clone(),
                            attempt: round,
                            command: command.clone(),
                            rerun,
                        },
                        Some(attempt) => WorkflowEventBody::AttemptVerifyStarted {
                            step: def.id.clone(),
                            attempt,
                            round,
                            command: command.clone(),
                            rerun,
                        },
                    })
                    .await?;
                    let result = self
                        .verify(&slot.agent_id, &command, verify.timeout_secs)
                        .await?;
                    self.record(match of {
                        None => WorkflowEventBody::VerifyFinished {
                            step: def.id.clone(),
                            attempt: round,
                            exit_code: result.0,
                            output: result.1.clone(),
                        },
                        Some(attempt) => WorkflowEventBody::AttemptVerifyFinished {
                            step: def.id.clone(),
                            attempt,
                            round,
                            exit_code: result.0,
                            output: result.1.clone(),
                        },
                    })
                    .await?;
                    last_verify = Some((round, command.clone(), result.clone()));
                    result
                }
            };
            if code == Some(0) {
                return Ok(Ok(Verified {
                    cost: self.cost(&slot.agent_id, &prompts).await?,
                    answer: outcome.answer,
                    passed: true,
                    exit_code: code,
                    reason: None,
                }));
            }
            let failed = describe_exit(&command, code);
            if round <= def.retries {
                round += 1;
                self.record(match of {
                    None => WorkflowEventBody::StepRetry {
                        step: def.id.clone(),
                        attempt: round,
                        reason: failed,
                    },
                    Some(attempt) => WorkflowEventBody::AttemptRetry {
                        step: def.id.clone(),
                        attempt,
                        round,
                        reason: failed,
                    },
                })
                .await?;
                continue;
            }
            return Ok(Ok(Verified {
                cost: self.cost(&slot.agent_id, &prompts).await?,
                answer: outcome.answer,
                passed: false,
                exit_code: code,
                reason: Some(format!(
                    "{failed} after {round} attempt{}",
                    if round == 1 { "" } else { "s" }
                )),
            }));
        }
    }

    /// A best-of-N step: `attempts` agents, each on its own worktree from
    /// the run's branch, given the same prompt and verified (with the
    /// step's retries each), at most `max_parallel` at once. It passes
    /// when one of them does; it keeps the first passing one by attempt
    /// number (`attempt.kept`), whose answer is its output. Every
    /// attempt's cost counts in the step's. An attempt that finished
    /// (`attempt.finished`) is never run again.
    async fn attempts_step(&self, i: usize) -> Result<Result<(String, f64), StepFail>, Halt> {
        let state = self.state;
        let def = &state.def.steps[i];
        let s = &state.steps[i];
        let n = def.attempts;
        let Some(run_ws) = self.run_workspace().await? else {
            return Ok(Err(fail(
                "attempts: the run has no workspace to make the attempts' worktrees from".into(),
            )));
        };
        if run_ws.kind != WorkspaceKind::Worktree || run_ws.source.is_none() {
            return Ok(Err(fail(format!(
                "attempts: each attempt works in a git worktree of the run's workspace, and `{}` is not a git worktree",
                run_ws.name
            ))));
        }
        let permits = Arc::new(tokio::sync::Semaphore::new(
            def.max_parallel.unwrap_or(n).clamp(1, n) as usize,
        ));
        // Attempts already started first: they may be running.
        let mut order: Vec<u32> = (1..=n).collect();
        order.sort_by_key(|k| !s.tries.iter().any(|t| t.attempt == *k));
        let tasks = order.into_iter().map(|k| {
            let permits = permits.clone();
            let run_ws = &run_ws;
            async move {
                if let Some(end) = s
                    .tries
                    .iter()
                    .find(|t| t.attempt == k)
                    .and_then(|t| t.end.clone())
                {
                    return (k, Ok(Ok(end)));
                }
                let _permit = permits.acquire_owned().await;
                (k, self.one_attempt(i, k, run_ws).await)
            }
        });
        let mut done = futures::future::join_all(tasks).await;
        done.sort_by_key(|(k, _)| *k);
        let mut cost = 0.0;
        let mut kept: Option<(u32, AttemptEnd)> = None;
        let mut problems = Vec::new();
        for (k, ended) in done {
            match ended? {
                Ok(end) => {
                    cost += end.cost_usd;
                    if end.passed && kept.is_none() {
                        kept = Some((k, end));
                    }
                }
                Err(StepFail(why, c)) => {
                    cost += c;
                    problems.push(format!("attempt {k}: {why}"));
                }
            }
        }
        let command = def
            .verify
            .as_ref()
            .map(|v| self.render(&v.command, None))
            .unwrap_or_default();
        let Some((k, end)) = kept else {
            let mut why = format!("none of {n} attempts passed `{command}`");
            if !problems.is_empty() {
                why.push_str(&format!(" ({})", problems.join("; ")));
            }
            return Ok(Err(StepFail(why, cost)));
        };
        if s.kept.is_none() {
            // The fold knows every attempt started now (each recorded its
            // `attempt.started` before it ran).
            let fresh = self.wf.state(self.id()).await?;
            let Some(t) = fresh.steps[i].tries.iter().find(|t| t.attempt == k) else {
                return Err(Halt::Fatal(format!(
                    "attempt {k} of step `{}` is missing from the run's log",
                    def.id
                )));
            };
            self.record(WorkflowEventBody::AttemptKept {
                step: def.id.clone(),
                attempt: k,
                agent_id: t.agent_id.clone(),
                workspace_id: t.workspace_id.clone(),
            })
            .await?;
        }
        Ok(Ok((end.answer.unwrap_or_default(), cost)))
    }

    /// One attempt of a best-of-N step, from where its log left it: its
    /// worktree (found by its name after a restart), `attempt.started`,
    /// its agent, its verified run, `attempt.finished`.
    async fn one_attempt(
        &self,
        i: usize,
        k: u32,
        run_ws: &Workspace,
    ) -> Result<Result<AttemptEnd, StepFail>, Halt> {
        let state = self.state;
        let def = &state.def.steps[i];
        let s = &state.steps[i];
        let started = s.tries.iter().find(|t| t.attempt == k);
        let (slot, round, verify) = match started.and_then(|t| {
            s.agents
                .iter()
                .find(|a| a.agent_id == t.agent_id)
                .map(|a| (t, a))
        }) {
            Some((t, a)) => (a.clone(), t.round, t.verify.clone()),
            None => {
                let workspaces = &self.wf.manager().deps().workspaces;
                let name = workspace_name(&format!("wf-{}-{}-a{k}", &state.id[..8], def.id));
                let ws = match workspaces.get(&name).await {
                    Ok(ws) => Ok(ws),
                    Err(WorkspaceError::NotFound(_)) => {
                        workspaces
                            .create(NewWorkspace {
                                name,
                                repo: run_ws.source.clone(),
                                base: run_ws.branch.clone(),
                                owner: Some(state.owner.clone()),
                                ..NewWorkspace::default()
                            })
                            .await
                    }
                    Err(e) => Err(e),
                };
                let ws = match ws {
                    Ok(ws) => ws,
                    Err(WorkspaceError::Store(e)) if e.is_unavailable() => {
                        return Err(Halt::Unavailable(e.to_string()));
                    }
                    Err(e) => return Ok(Err(fail(format!("its worktree: {e}")))),
                };
                let agent_id = uuid::Uuid::new_v4().to_string();
                self.record(WorkflowEventBody::AttemptStarted {
                    step: def.id.clone(),
                    attempt: k,
                    agent_id: agent_id.clone(),
                    workspace_id: ws.id.clone(),
                })
                .await?;
                tracing::info!(step = %def.id, attempt = k, agent = %agent_id, workspace = %ws.id, "best-of-N attempt started");
                let slot = AgentSlot {
                    agent_id,
                    item: None,
                    item_text: None,
                    prompts: Vec::new(),
                    attempt: Some(k),
                    workspace_id: Some(ws.id),
                };
                (slot, 1, None)
            }
        };
        let span = tracing::info_span!("workflow_attempt", step = %def.id, attempt = k, agent = %slot.agent_id);
        async {
            let ran = match self.ensure_agent(i, &slot, None).await? {
                Ok(()) => {
                    self.verified_run(
                        i,
                        Chain {
                            slot,
                            round,
                            verify,
                            attempt: Some(k),
                        },
                    )
                    .await?
                }
                Err(f) => Err(f),
            };
            let end = match ran {
                Ok(v) => AttemptEnd {
                    passed: v.passed,
                    exit_code: v.exit_code,
                    cost_usd: v.cost,
                    answer: v.answer,
                    reason: v.reason,
                },
                Err(StepFail(why, _)) => AttemptEnd {
                    passed: false,
                    exit_code: None,
                    // Its agent was not made, or went away mid-run: what
                    // it may have spent is not read back.
                    cost_usd: 0.0,
                    answer: None,
                    reason: Some(why),
                },
            };
            self.record(WorkflowEventBody::AttemptFinished {
                step: def.id.clone(),
                attempt: k,
                passed: end.passed,
                exit_code: end.exit_code,
                cost_usd: end.cost_usd,
                answer: end.answer.clone(),
                reason: end.reason.clone(),
            })
            .await?;
            tracing::info!(
                passed = end.passed,
                cost_usd = end.cost_usd,
                "best-of-N attempt finished"
            );
            Ok(Ok(end))
        }
        .instrument(span)
        .await
    }

    /// A fan-out step: one agent per item, at most `max_parallel` at once,
    /// then the join.
    async fn fanout_step(&self, i: usize) -> Result<Result<(String, f64), StepFail>, Halt> {
        let state = self.state;
        let def = &state.def.steps[i];
        let Some(f) = &def.fanout else {
            return Ok(Err(fail("fanout: missing".into())));
        };
        let items = definition::items(&self.render(&f.over, None));
        if items.len() > MAX_ITEMS {
            return Ok(Err(fail(format!(
                "fanout.over: {} items, more than {MAX_ITEMS}",
                items.len()
            ))));
        }
        if items.is_empty() {
            return Ok(Ok(("(no items)".to_string(), 0.0)));
        }
        let permits = Arc::new(tokio::sync::Semaphore::new(f.max_parallel.max(1) as usize));
        let slots = &state.steps[i].agents;
        // Items whose agents exist first: they may be running already.
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by_key(|k| !slots.iter().any(|s| s.item == Some(*k as u32)));
        let tasks = order.into_iter().map(|k| {
            let permits = permits.clone();
            let text = items[k].clone();
            let existing = slots.iter().find(|s| s.item == Some(k as u32)).cloned();
            async move {
                let _permit = permits.acquire_owned().await;
                let item = self.fanout_item(i, k as u32, &text, existing).await;
                (k, text, item)
            }
        });
        let mut done = futures::future::join_all(tasks).await;
        done.sort_by_key(|(k, _, _)| *k);
        let mut output = String::new();
        let mut failed = Vec::new();
        let mut cost = 0.0;
        for (k, text, item) in done {
            match item? {
                Ok((answer, c)) => {
                    cost += c;
                    output.push_str(&format!("## {text}\n\n{answer}\n\n"));
                }
                Err(StepFail(why, _)) => failed.push(format!("item {k} (`{text}`): {why}")),
            }
        }
        if !failed.is_empty() {
            return Ok(Err(fail(format!(
                "{} of {} items failed: {}",
                failed.len(),
                items.len(),
                failed.join("; ")
            ))));
        }
        Ok(Ok((output.trim_end().to_string(), cost)))
    }

    /// One fan-out item's agent, from where its log left it.
    async fn fanout_item(
        &self,
        i: usize,
        k: u32,
        text: &str,
        existing: Option<AgentSlot>,
    ) -> Result<Result<(String, f64), StepFail>, Halt> {
        let def = &self.state.def.steps[i];
        let slot = match existing {
            Some(s) => s,
            None => self.new_slot(i, Some((k, text))).await?,
        };
        if let Err(f) = self.ensure_agent(i, &slot, Some((k, text))).await? {
            return Ok(Err(f));
        }
        let seq = match slot.prompts.first() {
            Some(seq) => *seq,
            None => {
                let prompt = def.fanout.as_ref().map(|f| f.prompt.as_str()).unwrap_or("");
                let message = self.render(prompt, Some(text));
                match self.prompt(&def.id, &slot.agent_id, 0, message).await? {
                    Ok(seq) => seq,
                    Err(f) => return Ok(Err(f)),
                }
            }
        };
        let outcome = match self.wait(&slot.agent_id, seq).await? {
            Ok(o) => o,
            Err(f) => return Ok(Err(f)),
        };
        if !outcome.succeeded() {
            return Ok(Err(fail(format!(
                "its agent's run ended {}: {}",
                outcome.status.as_str(),
                outcome.reason.as_deref().unwrap_or("no reason given")
            ))));
        }
        Ok(Ok((outcome.answer.unwrap_or_default(), outcome.cost_usd)))
    }

    /// A human gate: asks (once), then waits for the decision.
    async fn gate_step(&self, i: usize) -> Result<Result<(String, f64), StepFail>, Halt> {
        let def = &self.state.def.steps[i];
        if self.state.steps[i].gate.is_none() {
            let message = self.render(
                def.gate.as_ref().map(|g| g.message.as_str()).unwrap_or(""),
                None,
            );
            let diff = self.diff().await;
            self.record(WorkflowEventBody::GateRequested {
                step: def.id.clone(),
                message,
                diff,
            })
            .await?;
        }
        let live = self.wf.live(self.id());
        loop {
            let wake = live.wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            let state = self.wf.state(self.id()).await?;
            if state.is_finished() {
                return Err(Halt::Stopped);
            }
            if let Some((approved, reason, by)) = state.steps[i]
                .gate
                .as_ref()
                .and_then(|g| g.decision.clone())
            {
                return Ok(if approved {
                    Ok((reason.unwrap_or_else(|| format!("approved by {by}")), 0.0))
                } else {
                    Err(fail(format!(
                        "rejected by {by}{}",
                        reason.map(|r| format!(": {r}")).unwrap_or_default()
                    )))
                });
            }
            tokio::select! {
                _ = wake => {}
                _ = self.cancel.cancelled() => return Err(Halt::Stopped),
                // A decision recorded by another host reaches the store
                // only: with several hosts, the run's watch wakes this
                // wait within 2 s of its log moving.
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
        }
    }

    /// A merge of the run's worktree into its base branch (its changes
    /// committed first).
    async fn merge_step(&self) -> Result<Result<(String, f64), StepFail>, Halt> {
        let Some(ws) = self.run_workspace().await? else {
            return Ok(Err(fail("the run has no workspace to merge".into())));
        };
        if ws.kind != WorkspaceKind::Worktree {
            return Ok(Err(fail(format!(
                "the run's workspace `{}` is not a git worktree: nothing to merge",
                ws.name
            ))));
        }
        let workspaces = &self.wf.manager().deps().workspaces;
        let message = format!(
            "{}: the changes of workflow run {}",
            self.state.workflow, self.state.name
        );
        match workspaces.commit(&ws, &message).await {
            Ok(_) => {}
            Err(WorkspaceError::Conflict {
                code: "nothing_to_commit",
                ..
            }) => {}
            Err(e) => return Ok(Err(fail(format!("committing the run's changes: {e}")))),
        }
        match workspaces.merge(&ws, Some(&message)).await {
            Ok(MergeOutcome::Merged(m)) => Ok(Ok((
                format!(
                    "merged `{}` into `{}` ({}), now at {} ({} file{} changed)",
                    ws.branch.as_deref().unwrap_or(""),
                    m.base_branch,
                    match m.result {
                        crate::workspace::MergeKind::UpToDate => "up to date",
                        crate::workspace::MergeKind::FastForward => "fast-forward",
                        crate::workspace::MergeKind::MergeCommit => "merge commit",
                    },
                    m.commit,
                    m.files.len(),
                    if m.files.len() == 1 { "" } else { "s" }
                ),
                0.0,
            ))),
            Ok(MergeOutcome::Conflicts(c)) => Ok(Err(fail(format!(
                "merging `{}` into `{}` conflicts in {}; nothing was changed",
                ws.branch.as_deref().unwrap_or(""),
                ws.base_branch.as_deref().unwrap_or(""),
                c.iter()
                    .map(|c| c.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))),
            Err(WorkspaceError::Store(s)) if s.is_unavailable() => {
                Err(Halt::Unavailable(s.to_string()))
            }
            Err(e) => Ok(Err(fail(format!("merging: {e}")))),
        }
    }

    /// The run's workspace record, if it has one.
    async fn run_workspace(&self) -> Result<Option<Workspace>, Halt> {
        let Some(id) = &self.state.workspace_id else {
            return Ok(None);
        };
        match self.wf.manager().deps().workspaces.get(id).await {
            Ok(w) => Ok(Some(w)),
            Err(WorkspaceError::Store(s)) if s.is_unavailable() => {
                Err(Halt::Unavailable(s.to_string()))
            }
            Err(WorkspaceError::NotFound(_)) => Ok(None),
            Err(e) => Err(Halt::Fatal(format!("the run's workspace: {e}"))),
        }
    }

    /// The diff of the run's workspace so far, for a gate.
    async fn diff(&self) -> String {
        let ws = match self.run_workspace().await {
            Ok(Some(ws)) => ws,
            Ok(None) => return "(the run has no workspace: no diff)".into(),
            Err(_) => return "(the run's workspace could not be read)".into(),
        };
        match self.wf.manager().deps().workspaces.diff(&ws).await {
            Ok(d) => {
                let mut text = format!(
                    "{} file{} changed, +{} -{} (against {})\n\n",
                    d.files.len(),
                    if d.files.len() == 1 { "" } else { "s" },
                    d.additions,
                    d.deletions,
                    d.against
                );
                text.push_str(&d.patch);
                if d.truncated {
                    text.push_str("\n… (the diff was cut)\n");
                }
                let text = self.wf.manager().deps().redactor.redact(&text);
                cut(&text, DIFF_KEEP)
            }
            Err(e) => format!("(the diff could not be read: {e})"),
        }
    }

    /// Chooses and records the id of a new agent of step `i`.
    async fn new_slot(&self, i: usize, item: Option<(u32, &str)>) -> Result<AgentSlot, Halt> {
        let agent_id = uuid::Uuid::new_v4().to_string();
        self.record(WorkflowEventBody::StepAgent {
            step: self.state.def.steps[i].id.clone(),
            agent_id: agent_id.clone(),
            item: item.map(|(k, _)| k),
            item_text: item.map(|(_, t)| t.to_string()),
        })
        .await?;
        Ok(AgentSlot {
            agent_id,
            item: item.map(|(k, _)| k),
            item_text: item.map(|(_, t)| t.to_string()),
            prompts: Vec::new(),
            attempt: None,
            workspace_id: None,
        })
    }

    /// Makes the slot's agent unless it exists (a restart after
    /// `step.agent` finds it, or makes it with the recorded id).
    async fn ensure_agent(
        &self,
        i: usize,
        slot: &AgentSlot,
        item: Option<(u32, &str)>,
    ) -> Result<Result<(), StepFail>, Halt> {
        let manager = self.wf.manager();
        if manager.get(&slot.agent_id).is_ok() {
            return Ok(Ok(()));
        }
        if let Some(record) = manager.deps().store.get_agent(&slot.agent_id).await? {
            return Ok(if record.deleted_at.is_some() {
                Err(fail(format!("its agent {} was deleted", slot.agent_id)))
            } else {
                Ok(())
            });
        }
        let config = match self.agent_config(i, slot, item).await? {
            Ok(c) => c,
            Err(f) => return Ok(Err(f)),
        };
        match manager
            .create_with_id(slot.agent_id.clone(), config, None)
            .await
        {
            Ok(_) => {
                tracing::info!(agent = %slot.agent_id, "workflow step agent created");
                Ok(Ok(()))
            }
            Err(AgentError::Store(s)) if s.is_unavailable() => {
                Err(Halt::Unavailable(s.to_string()))
            }
            Err(e) => Ok(Err(fail(format!("its agent could not be made: {e}")))),
        }
    }

    /// The configuration of a step's (or item's) agent: its template and
    /// inline settings, in the step's workspace, owned by the run's owner.
    async fn agent_config(
        &self,
        i: usize,
        slot: &AgentSlot,
        item: Option<(u32, &str)>,
    ) -> Result<Result<paddock_protocol::agent::AgentConfig, StepFail>, Halt> {
        let state = self.state;
        let def = &state.def.steps[i];
        let (template, inline, field) = match &def.fanout {
            Some(f) => (f.template.clone(), f.agent.clone(), "fanout.agent"),
            None => (def.template.clone(), def.agent.clone(), "agent"),
        };
        let mut fields = match inline {
            Some(v) => match definition::inline_agent(&v, field) {
                Ok(t) => t,
                Err(e) => return Ok(Err(fail(e))),
            },
            None => AgentTemplate::default(),
        };
        let name = match (item, slot.attempt) {
            (Some((k, _)), _) => format!("{}/{}[{k}]", state.name, def.id),
            (None, Some(k)) => format!("{}/{} #{k}", state.name, def.id),
            (None, None) => format!("{}/{}", state.name, def.id),
        };
        if let Some(own) = &slot.workspace_id {
            // A best-of-N attempt's own worktree.
            fields.workspace = None;
            fields.worktree = None;
            fields.workspace_id = Some(own.clone());
        } else if let Some(run_ws) = &state.workspace_id {
            fields.workspace = None;
            fields.worktree = None;
            fields.workspace_id = Some(match def.workspace {
                StepWorkspace::Run => run_ws.clone(),
                StepWorkspace::RunReadOnly => {
                    fields.read_only = Some(true);
                    run_ws.clone()
                }
                StepWorkspace::Copy | StepWorkspace::Worktree => {
                    match self
                        .step_workspace(def.workspace, &slot.agent_id, &def.id)
                        .await?
                    {
                        Ok(id) => id,
                        Err(f) => return Ok(Err(f)),
                    }
                }
            });
        }
        let deps = self.wf.manager().deps();
        let default_model = self.wf.default_model();
        let resolved = Resolver::new(deps, default_model.as_ref())
            .resolve(AgentRequest {
                name: Some(name.clone()),
                template,
                fields,
                task: None,
            })
            .await;
        let resolved = match resolved {
            Ok(r) => r,
            Err(crate::agent::resolve::ResolveError::Store(s)) if s.is_unavailable() => {
                return Err(Halt::Unavailable(s.to_string()));
            }
            Err(e) => return Ok(Err(fail(format!("its agent's settings: {e}")))),
        };
        let mut config = resolved.config;
        config.owner = Some(state.owner.clone());
        if let Some(w) = resolved.worktree {
            // A repository inside another user's workspace is theirs.
            if let Ok(Some(inside)) = deps.workspaces.containing(&w.repo).await
                && !self.wf.may_use(&state.owner, &inside).await?
            {
                return Ok(Err(fail(
                    "its agent's worktree: the repository is not one the run's owner may use"
                        .into(),
                )));
            }
            let ws_name = workspace_name(&format!("wf-{}-{}", &slot.agent_id[..8], def.id));
            let ws = match deps.workspaces.get(&ws_name).await {
                Ok(ws) => Ok(ws),
                Err(WorkspaceError::NotFound(_)) => {
                    deps.workspaces
                        .create(NewWorkspace {
                            name: ws_name,
                            repo: Some(w.repo),
                            base: w.base,
                            branch: None,
                            path: None,
                            copy: false,
                            owner: Some(state.owner.clone()),
                        })
                        .await
                }
                Err(e) => Err(e),
            };
            match ws {
                Ok(ws) => {
                    config.workspace = ws.path.clone();
                    config.workspace_id = Some(ws.id.clone());
                }
                Err(e) => return Ok(Err(fail(format!("its agent's worktree: {e}")))),
            }
        } else if state.workspace_id.is_none() {
            // The agent's own place to work must be its owner's.
            let ws = match &config.workspace_id {
                Some(id) => deps.workspaces.get(id).await.ok(),
                None => deps
                    .workspaces
                    .containing(&config.workspace)
                    .await
                    .ok()
                    .flatten(),
            };
            if let Some(ws) = ws
                && !self.wf.may_use(&state.owner, &ws).await?
            {
                return Ok(Err(fail(
                    "its agent's workspace is not one the run's owner may use".into(),
                )));
            }
        }
        Ok(Ok(config))
    }

    /// A new copy or worktree of the run's workspace for one agent
    /// (found by its name after a restart); its id.
    async fn step_workspace(
        &self,
        mode: StepWorkspace,
        agent_id: &str,
        step: &str,
    ) -> Result<Result<String, StepFail>, Halt> {
        let Some(run_ws) = self.run_workspace().await? else {
            return Ok(Err(fail("the run has no workspace to copy".into())));
        };
        let workspaces = &self.wf.manager().deps().workspaces;
        let name = workspace_name(&format!("wf-{}-{step}", &agent_id[..8]));
        if let Ok(found) = workspaces.get(&name).await {
            return Ok(Ok(found.id));
        }
        let req = match mode {
            StepWorkspace::Worktree => {
                let Some(repo) = run_ws
                    .source
                    .clone()
                    .filter(|_| run_ws.kind == WorkspaceKind::Worktree)
                else {
                    return Ok(Err(fail(format!(
                        "workspace: `worktree` needs the run's workspace to be a git worktree (`{}` is not)",
                        run_ws.name
                    ))));
                };
                NewWorkspace {
                    name,
                    repo: Some(repo),
                    base: run_ws.branch.clone(),
                    owner: Some(self.state.owner.clone()),
                    ..NewWorkspace::default()
                }
            }
            _ => NewWorkspace {
                name,
                path: Some(run_ws.path.clone()),
                copy: true,
                owner: Some(self.state.owner.clone()),
                ..NewWorkspace::default()
            },
        };
        match workspaces.create(req).await {
            Ok(ws) => Ok(Ok(ws.id)),
            Err(WorkspaceError::Store(s)) if s.is_unavailable() => {
                Err(Halt::Unavailable(s.to_string()))
            }
            Err(e) => Ok(Err(fail(format!("its workspace: {e}")))),
        }
    }

    /// Gives the agent its message once: after a restart, a `message.user`
    /// in its log after `after` is taken as the one posted before the
    /// host stopped. Records `step.prompted`; the message's seq.
    async fn prompt(
        &self,
        step: &str,
        agent: &str,
        after: u64,
        text: String,
    ) -> Result<Result<u64, StepFail>, Halt> {
        let store = &self.wf.manager().deps().store;
        let mut found = None;
        let mut last = after;
        'scan: loop {
            let page = store.events_after(agent, last, 500).await?;
            let Some(end) = page.last().map(|e| e.seq) else {
                break;
            };
            for e in &page {
                if matches!(e.body, EventBody::MessageUser { .. }) {
                    found = Some(e.seq);
                    break 'scan;
                }
            }
            last = end;
        }
        let seq = match found {
            Some(seq) => seq,
            None => match self.wf.manager().post_message(agent, text).await {
                Ok(seq) => seq,
                Err(AgentError::Store(s)) if s.is_unavailable() => {
                    return Err(Halt::Unavailable(s.to_string()));
                }
                Err(e) => return Ok(Err(fail(format!("its agent took no message: {e}")))),
            },
        };
        self.record(WorkflowEventBody::StepPrompted {
            step: step.to_string(),
            agent_id: agent.to_string(),
            message_seq: seq,
        })
        .await?;
        Ok(Ok(seq))
    }

    /// Waits for the agent's run started by the message at `seq`.
    async fn wait(&self, agent: &str, seq: u64) -> Result<Result<RunOutcome, StepFail>, Halt> {
        let deps = self.wf.manager().deps();
        let waited = tokio::select! {
            r = await_run(&deps.store, &deps.bus, agent, seq) => r,
            _ = self.cancel.cancelled() => return Err(Halt::Stopped),
        };
        match waited? {
            Some(o) => Ok(Ok(o)),
            None => Ok(Err(fail(format!("its agent {agent} was purged")))),
        }
    }

    /// What the agent's runs after these messages cost.
    async fn cost(&self, agent: &str, prompts: &[u64]) -> Result<f64, Halt> {
        let store = &self.wf.manager().deps().store;
        let mut total = 0.0;
        for seq in prompts {
            if let Some(o) = stored_run(store, agent, *seq).await? {
                total += o.cost_usd;
            }
        }
        Ok(total)
    }

    /// Runs a verify command in the agent's sandbox, on its workspace;
    /// its exit code (None: timed out or not run) and output (cut,
    /// redacted).
    async fn verify(
        &self,
        agent: &str,
        command: &str,
        timeout_secs: u64,
    ) -> Result<(Option<i32>, String), Halt> {
        let deps = self.wf.manager().deps();
        let config = match self.wf.manager().get(agent) {
            Ok(a) => a.config().clone(),
            Err(_) => match deps.store.get_agent(agent).await? {
                Some(r) => r.config,
                None => return Ok((None, format!("the check could not run: no agent {agent}"))),
            },
        };
        let read_only = deps
            .workspaces
            .sandbox_mounts(config.workspace_id.as_deref())
            .await;
        let req = ExecRequest {
            agent_id: agent.to_string(),
            call_id: format!("workflow-verify-{}", uuid::Uuid::new_v4()),
            workspace: Some(config.workspace.clone()),
            network: config.network.clone(),
            read_only,
            output: None,
            argv: vec!["sh".into(), "-c".into(), command.to_string()],
            cwd: None,
            env: Vec::new(),
            timeout_ms: Some(timeout_secs.saturating_mul(1000)),
            max_output_bytes: Some(1024 * 1024),
            stdin: None,
        };
        tracing::info!(agent, command, "running the step's verify");
        let ran = tokio::select! {
            r = ExecBackend::run(&*deps.sandbox, req) => r,
            _ = self.cancel.cancelled() => return Err(Halt::Stopped),
        };
        let (code, text) = match ran {
            Ok(o) => o.into_check(timeout_secs),
            Err(e) => (None, format!("the check could not run: {e}")),
        };
        Ok((code, cut(&deps.redactor.redact(&text), VERIFY_KEEP)))
    }
}

/// A workspace name from `text`: its plain characters, at most 64.
fn workspace_name(text: &str) -> String {
    let mut name: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    while name.ends_with(['.', '-']) {
        name.pop();
    }
    name
}

/// How a check ended, in words.
fn describe_exit(command: &str, code: Option<i32>) -> String {
    match code {
        Some(c) => format!("the check `{command}` failed (exit {c})"),
        None => format!("the check `{command}` did not finish"),
    }
}

/// The message a retried step's agent gets.
fn retry_message(command: &str, code: Option<i32>, output: &str) -> String {
    let mut m = describe_exit(command, code);
    m[..1].make_ascii_uppercase();
    format!("{m}:\n{output}\n\nFix the cause and make the check pass.")
}

/// `text` cut to its head and tail, `keep` bytes in all.
pub(crate) fn cut(text: &str, keep: usize) -> String {
    if text.len() <= keep {
        return text.to_string();
    }
    let mut head = keep / 2;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - keep / 2;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{}\n… ({} bytes cut) …\n{}",
        &text[..head],
        tail - head,
        &text[tail..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_head_and_tail_on_char_boundaries() {
        assert_eq!(cut("short", 10), "short");
        let long = "é".repeat(100);
        let c = cut(&long, 20);
        assert!(c.starts_with("éééé"));
        assert!(c.ends_with("éééé"));
        assert!(c.contains("bytes cut"));
    }

    #[test]
    fn names_and_messages() {
        assert_eq!(workspace_name("wf-1234/a b"), "wf-1234-a-b");
        assert_eq!(workspace_name(&"x".repeat(80)).len(), 64);
        assert_eq!(
            retry_message("make test", Some(2), "boom"),
            "The check `make test` failed (exit 2):\nboom\n\nFix the cause and make the check pass."
        );
    }
}
