//! The fold of a run's event log: where the run stands (its steps, their
//! attempts, agents, verifies, gates, outputs, the step it is in or goes
//! to next) as [`RunState`], the one reading of the log that both the
//! runner (on start and after a restart) and the API's view
//! ([`RunState::view`]) use.

use chrono::{DateTime, Utc};
use paddock_protocol::workflow::{
    AttemptStatus, AttemptView, GateView, StepKind, StepOutcome, StepStatus, StepView, VerifyView,
    WorkflowDef, WorkflowEvent, WorkflowEventBody, WorkflowRunStatus, WorkflowRunView,
};
use std::collections::BTreeMap;

/// An agent of a step's current iteration.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentSlot {
    /// Its id.
    pub agent_id: String,
    /// The fan-out item's index.
    pub item: Option<u32>,
    /// The fan-out item's text.
    pub item_text: Option<String>,
    /// The seqs of the messages it was given (one per attempt).
    pub prompts: Vec<u64>,
    /// The best-of-N attempt it makes.
    pub attempt: Option<u32>,
    /// Its own workspace, when the run chose it (a best-of-N attempt's
    /// worktree).
    pub workspace_id: Option<String>,
}

/// How a best-of-N attempt ended.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptEnd {
    /// Whether its verify passed.
    pub passed: bool,
    /// Its last verify's exit code.
    pub exit_code: Option<i32>,
    /// What its agent's runs cost.
    pub cost_usd: f64,
    /// Its agent's last answer.
    pub answer: Option<String>,
    /// Why it did not pass.
    pub reason: Option<String>,
}

/// One attempt of a best-of-N step.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptState {
    /// Which attempt (1-based).
    pub attempt: u32,
    /// Its agent.
    pub agent_id: String,
    /// Its worktree.
    pub workspace_id: String,
    /// Its round (1 + its retries).
    pub round: u32,
    /// Its last verify (`attempt` is the round it checked).
    pub verify: Option<VerifyState>,
    /// How it ended.
    pub end: Option<AttemptEnd>,
}

/// A step's last verify.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyState {
    /// The attempt it checked.
    pub attempt: u32,
    /// The command.
    pub command: String,
    /// Its exit code and output, once finished.
    pub finished: Option<(Option<i32>, String)>,
}

/// A step's gate.
#[derive(Clone, Debug, PartialEq)]
pub struct GateState {
    /// What is asked.
    pub message: String,
    /// The diff shown.
    pub diff: String,
    /// The decision: approved, reason, by whom.
    pub decision: Option<(bool, Option<String>, String)>,
}

/// One step, as the log tells it.
#[derive(Clone, Debug, PartialEq)]
pub struct StepState {
    /// Its id.
    pub id: String,
    /// Its kind (None: the definition gives no valid kind).
    pub kind: Option<StepKind>,
    /// Its status.
    pub status: StepStatus,
    /// The attempt of its current iteration (0: never started).
    pub attempt: u32,
    /// Times it was entered.
    pub iteration: u32,
    /// Every agent it made, in order.
    pub all_agents: Vec<String>,
    /// The agents of its current iteration.
    pub agents: Vec<AgentSlot>,
    /// Its last verify.
    pub verify: Option<VerifyState>,
    /// Its gate in the current iteration.
    pub gate: Option<GateState>,
    /// Its best-of-N attempts in the current iteration, by number.
    pub tries: Vec<AttemptState>,
    /// The attempt it kept.
    pub kept: Option<u32>,
    /// Its output, once it ended.
    pub output: Option<String>,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
    /// What its agents cost over every iteration.
    pub cost_usd: f64,
    /// Jumps back made from it.
    pub jumps: u32,
    /// When it last started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it last ended.
    pub finished_at: Option<DateTime<Utc>>,
}

/// Where a run stands.
#[derive(Clone, Debug, PartialEq)]
pub struct RunState {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The workflow's name.
    pub workflow: String,
    /// Its owner.
    pub owner: String,
    /// The definition it follows.
    pub def: WorkflowDef,
    /// Its inputs.
    pub inputs: BTreeMap<String, String>,
    /// Its workspace's id, once known.
    pub workspace_id: Option<String>,
    /// Its workspace's directory, once made (a `repo` run).
    pub workspace_path: Option<String>,
    /// Its steps, in the definition's order.
    pub steps: Vec<StepState>,
    /// The step started and not finished, if any.
    pub active: Option<usize>,
    /// The step that finished failed and whose jump or end is not yet
    /// recorded.
    pub failed: Option<usize>,
    /// The step to start next when none is active.
    pub next: usize,
    /// Its status.
    pub status: WorkflowRunStatus,
    /// Why it failed or was cancelled.
    pub reason: Option<String>,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When its last event was recorded.
    pub updated_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// The seq of its last event.
    pub last_seq: u64,
}

impl RunState {
    /// Folds a run's log (from its first event, in seq order); None when
    /// the log does not start with `workflow.started`.
    pub fn fold(owner: &str, events: &[WorkflowEvent]) -> Option<RunState> {
        let first = events.first()?;
        let WorkflowEventBody::WorkflowStarted {
            workflow,
            name,
            definition,
            inputs,
            workspace_id,
        } = &first.body
        else {
            return None;
        };
        let steps = definition
            .steps
            .iter()
            .map(|s| StepState {
                id: s.id.clone(),
                kind: s.kind(),
                status: StepStatus::Pending,
                attempt: 0,
                iteration: 0,
                all_agents: Vec::new(),
                agents: Vec::new(),
                verify: None,
                gate: None,
                tries: Vec::new(),
                kept: None,
                output: None,
                reason: None,
                cost_usd: 0.0,
                jumps: 0,
                started_at: None,
                finished_at: None,
            })
            .collect();
        let mut state = RunState {
            id: first.run_id.clone(),
            name: name.clone(),
            workflow: workflow.clone(),
            owner: owner.to_string(),
            def: definition.clone(),
            inputs: inputs.clone(),
            workspace_id: workspace_id.clone(),
            workspace_path: None,
            steps,
            active: None,
            failed: None,
            next: 0,
            status: WorkflowRunStatus::Running,
            reason: None,
            created_at: first.ts,
            updated_at: first.ts,
            finished_at: None,
            last_seq: first.seq,
        };
        for e in &events[1..] {
            state.apply(e);
        }
        Some(state)
    }

    fn step_mut(&mut self, id: &str) -> Option<(usize, &mut StepState)> {
        self.steps.iter_mut().enumerate().find(|(_, s)| s.id == id)
    }

    fn try_mut(&mut self, step: &str, attempt: u32) -> Option<&mut AttemptState> {
        self.step_mut(step)
            .and_then(|(_, s)| s.tries.iter_mut().find(|t| t.attempt == attempt))
    }

    /// The index of the step with this id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    /// Applies one more event.
    pub fn apply(&mut self, e: &WorkflowEvent) {
        self.last_seq = e.seq;
        self.updated_at = e.ts;
        match &e.body {
            WorkflowEventBody::WorkflowStarted { .. } => {}
            WorkflowEventBody::WorkflowWorkspace { workspace_id, path } => {
                self.workspace_id = Some(workspace_id.clone());
                self.workspace_path = Some(path.clone());
            }
            WorkflowEventBody::StepStarted {
                step,
                attempt,
                iteration,
            } => {
                if let Some((i, s)) = self.step_mut(step) {
                    s.status = StepStatus::Running;
                    s.attempt = *attempt;
                    s.iteration = *iteration;
                    s.agents.clear();
                    s.verify = None;
                    s.gate = None;
                    s.tries.clear();
                    s.kept = None;
                    s.output = None;
                    s.reason = None;
                    s.started_at = Some(e.ts);
                    s.finished_at = None;
                    self.active = Some(i);
                    self.failed = None;
                }
                self.status = WorkflowRunStatus::Running;
            }
            WorkflowEventBody::StepAgent {
                step,
                agent_id,
                item,
                item_text,
            } => {
                if let Some((_, s)) = self.step_mut(step) {
                    s.all_agents.push(agent_id.clone());
                    s.agents.push(AgentSlot {
                        agent_id: agent_id.clone(),
                        item: *item,
                        item_text: item_text.clone(),
                        prompts: Vec::new(),
                        attempt: None,
                        workspace_id: None,
                    });
                }
            }
            WorkflowEventBody::AttemptStarted {
                step,
                attempt,
                agent_id,
                workspace_id,
            } => {
                if let Some((_, s)) = self.step_mut(step) {
                    s.all_agents.push(agent_id.clone());
                    s.agents.push(AgentSlot {
                        agent_id: agent_id.clone(),
                        item: None,
                        item_text: None,
                        prompts: Vec::new(),
                        attempt: Some(*attempt),
                        workspace_id: Some(workspace_id.clone()),
                    });
                    s.tries.push(AttemptState {
                        attempt: *attempt,
                        agent_id: agent_id.clone(),
                        workspace_id: workspace_id.clone(),
                        round: 1,
                        verify: None,
                        end: None,
                    });
                    s.tries.sort_by_key(|t| t.attempt);
                }
            }
            WorkflowEventBody::AttemptVerifyStarted {
                step,
                attempt,
                round,
                command,
                ..
            } => {
                if let Some(t) = self.try_mut(step, *attempt) {
                    t.verify = Some(VerifyState {
                        attempt: *round,
                        command: command.clone(),
                        finished: None,
                    });
                }
            }
            WorkflowEventBody::AttemptVerifyFinished {
                step,
                attempt,
                round,
                exit_code,
                output,
            } => {
                if let Some(t) = self.try_mut(step, *attempt) {
                    let command = t
                        .verify
                        .as_ref()
                        .filter(|v| v.attempt == *round)
                        .map(|v| v.command.clone())
                        .unwrap_or_default();
                    t.verify = Some(VerifyState {
                        attempt: *round,
                        command,
                        finished: Some((*exit_code, output.clone())),
                    });
                }
            }
            WorkflowEventBody::AttemptRetry {
                step,
                attempt,
                round,
                ..
            } => {
                if let Some(t) = self.try_mut(step, *attempt) {
                    t.round = *round;
                }
            }
            WorkflowEventBody::AttemptFinished {
                step,
                attempt,
                passed,
                exit_code,
                cost_usd,
                answer,
                reason,
            } => {
                if let Some(t) = self.try_mut(step, *attempt) {
                    t.end = Some(AttemptEnd {
                        passed: *passed,
                        exit_code: *exit_code,
                        cost_usd: *cost_usd,
                        answer: answer.clone(),
                        reason: reason.clone(),
                    });
                }
            }
            WorkflowEventBody::AttemptKept { step, attempt, .. } => {
                if let Some((_, s)) = self.step_mut(step) {
                    s.kept = Some(*attempt);
                }
            }
            WorkflowEventBody::StepPrompted {
                step,
                agent_id,
                message_seq,
            } => {
                if let Some((_, s)) = self.step_mut(step)
                    && let Some(slot) = s.agents.iter_mut().find(|a| &a.agent_id == agent_id)
                {
                    slot.prompts.push(*message_seq);
                }
            }
            WorkflowEventBody::VerifyStarted {
                step,
                attempt,
                command,
                ..
            } => {
                if let Some((_, s)) = self.step_mut(step) {
                    s.status = StepStatus::Verifying;
                    s.verify = Some(VerifyState {
                        attempt: *attempt,
                        command: command.clone(),
                        finished: None,
                    });
                }
            }
            WorkflowEventBody::VerifyFinished {
                step,
                attempt,
                exit_code,
                output,
            } => {
                if let Some((_, s)) = self.step_mut(step) {
                    s.status = StepStatus::Running;
                    match &mut s.verify {
                        Some(v) if v.attempt == *attempt => {
                            v.finished = Some((*exit_code, output.clone()));
                        }
                        _ => {
                            s.verify = Some(VerifyState {
                                attempt: *attempt,
                                command: String::new(),
                                finished: Some((*exit_code, output.clone())),
                            })
                        }
                    }
                }
            }
            WorkflowEventBody::StepRetry { step, attempt, .. } => {
                if let Some((_, s)) = self.step_mut(step) {
                    s.status = StepStatus::Running;
                    s.attempt = *attempt;
                }
            }
            WorkflowEventBody::StepGoto { step, to, count } => {
                if let Some((_, s)) = self.step_mut(step) {
                    s.jumps = *count;
                }
                if let Some(to) = self.index_of(to) {
                    self.next = to;
                }
                self.failed = None;
            }
            WorkflowEventBody::GateRequested {
                step,
                message,
                diff,
            } => {
                if let Some((_, s)) = self.step_mut(step) {
                    s.status = StepStatus::WaitingGate;
                    s.gate = Some(GateState {
                        message: message.clone(),
                        diff: diff.clone(),
                        decision: None,
                    });
                }
                self.status = WorkflowRunStatus::WaitingGate;
            }
            WorkflowEventBody::GateDecided {
                step,
                approved,
                reason,
                by,
            } => {
                if let Some((_, s)) = self.step_mut(step) {
                    s.status = StepStatus::Running;
                    if let Some(g) = &mut s.gate {
                        g.decision = Some((*approved, reason.clone(), by.clone()));
                    }
                }
                self.status = WorkflowRunStatus::Running;
            }
            WorkflowEventBody::StepFinished {
                step,
                status,
                output,
                cost_usd,
                reason,
            } => {
                if let Some((i, s)) = self.step_mut(step) {
                    s.status = status.status();
                    s.output = output.clone();
                    s.reason = reason.clone();
                    s.cost_usd += cost_usd;
                    s.finished_at = Some(e.ts);
                    if self.active == Some(i) {
                        self.active = None;
                    }
                    match status {
                        StepOutcome::Succeeded => {
                            self.next = i + 1;
                            self.failed = None;
                        }
                        StepOutcome::Failed => self.failed = Some(i),
                        StepOutcome::Skipped => {}
                    }
                }
            }
            WorkflowEventBody::WorkflowFinished { status, reason } => {
                self.status = *status;
                self.reason = reason.clone();
                self.finished_at = Some(e.ts);
                let ended = self.active.take();
                for (i, s) in self.steps.iter_mut().enumerate() {
                    if Some(i) == ended
                        || matches!(
                            s.status,
                            StepStatus::Running | StepStatus::Verifying | StepStatus::WaitingGate
                        )
                    {
                        s.status = StepStatus::Skipped;
                        s.finished_at = Some(e.ts);
                        if s.reason.is_none() {
                            s.reason = reason.clone();
                        }
                    } else if s.status == StepStatus::Pending {
                        s.status = StepStatus::Skipped;
                    }
                }
            }
        }
    }

    /// Whether the run is over.
    pub fn is_finished(&self) -> bool {
        self.finished_at.is_some()
    }

    /// The run as the API shows it.
    pub fn view(&self) -> WorkflowRunView {
        let steps: Vec<StepView> = self
            .steps
            .iter()
            .map(|s| StepView {
                id: s.id.clone(),
                kind: s.kind.unwrap_or(StepKind::Agent),
                status: s.status,
                attempts: s.attempt,
                iteration: s.iteration,
                agents: s.all_agents.clone(),
                started_at: s.started_at,
                finished_at: s.finished_at,
                cost_usd: s.cost_usd,
                output: s.output.clone(),
                reason: s.reason.clone(),
                verify: s.verify.as_ref().map(|v| VerifyView {
                    command: v.command.clone(),
                    attempt: v.attempt,
                    exit_code: v.finished.as_ref().and_then(|(c, _)| *c),
                    output: v.finished.as_ref().map(|(_, o)| o.clone()),
                }),
                gate: s.gate.as_ref().map(|g| GateView {
                    message: g.message.clone(),
                    diff: g.diff.clone(),
                    approved: g.decision.as_ref().map(|d| d.0),
                    reason: g.decision.as_ref().and_then(|d| d.1.clone()),
                    by: g.decision.as_ref().map(|d| d.2.clone()),
                }),
                best_of: s.tries.iter().map(|t| attempt_view(s, t)).collect(),
            })
            .collect();
        WorkflowRunView {
            id: self.id.clone(),
            name: self.name.clone(),
            workflow: self.workflow.clone(),
            owner: self.owner.clone(),
            status: self.status,
            reason: self.reason.clone(),
            inputs: self.inputs.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            finished_at: self.finished_at,
            last_seq: self.last_seq,
            workspace_id: self.workspace_id.clone(),
            cost_usd: steps.iter().map(|s| s.cost_usd).sum(),
            current_step: self.active.map(|i| self.steps[i].id.clone()),
            steps,
        }
    }
}

/// An attempt as the API shows it.
fn attempt_view(s: &StepState, t: &AttemptState) -> AttemptView {
    let verifying = t.verify.as_ref().is_some_and(|v| v.finished.is_none());
    let status = match &t.end {
        Some(e) if e.passed => AttemptStatus::Passed,
        Some(_) => AttemptStatus::Failed,
        None if matches!(s.status, StepStatus::Skipped | StepStatus::Failed) => {
            AttemptStatus::Skipped
        }
        None if verifying => AttemptStatus::Verifying,
        None => AttemptStatus::Running,
    };
    let finished = t.verify.as_ref().and_then(|v| v.finished.as_ref());
    AttemptView {
        attempt: t.attempt,
        agent_id: t.agent_id.clone(),
        workspace_id: t.workspace_id.clone(),
        status,
        rounds: t.round,
        exit_code: finished.and_then(|(c, _)| *c),
        verify_command: t
            .verify
            .as_ref()
            .map(|v| v.command.clone())
            .filter(|c| !c.is_empty()),
        verify_output: finished.map(|(_, o)| o.clone()),
        cost_usd: t.end.as_ref().map(|e| e.cost_usd).unwrap_or(0.0),
        reason: t.end.as_ref().and_then(|e| e.reason.clone()),
        kept: s.kept == Some(t.attempt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def() -> WorkflowDef {
        super::super::definition::parse(
            r#"
name: w
steps:
  - id: a
    agent: {}
    prompt: go
    verify: {command: "true"}
    retries: 1
  - id: g
    gate: {message: ok?}
  - id: b
    agent: {}
    prompt: again
    on_failure: {goto: a, max: 1}
"#,
            super::super::definition::DefFormat::Yaml,
        )
        .unwrap()
    }

    fn log(bodies: Vec<WorkflowEventBody>) -> Vec<WorkflowEvent> {
        let mut all = vec![WorkflowEventBody::WorkflowStarted {
            workflow: "w".into(),
            name: "w-1".into(),
            definition: def(),
            inputs: BTreeMap::new(),
            workspace_id: None,
        }];
        all.extend(bodies);
        all.into_iter()
            .enumerate()
            .map(|(i, body)| WorkflowEvent {
                seq: i as u64 + 1,
                run_id: "r".into(),
                ts: DateTime::from_timestamp(i as i64, 0).unwrap(),
                body,
            })
            .collect()
    }

    fn started(step: &str, iteration: u32) -> WorkflowEventBody {
        WorkflowEventBody::StepStarted {
            step: step.into(),
            attempt: 1,
            iteration,
        }
    }

    fn finished(step: &str, status: StepOutcome, cost: f64) -> WorkflowEventBody {
        WorkflowEventBody::StepFinished {
            step: step.into(),
            status,
            output: Some(format!("{step} out")),
            cost_usd: cost,
            reason: None,
        }
    }

    #[test]
    fn folds_attempts_verifies_gates_and_jumps() {
        let events = log(vec![
            started("a", 1),
            WorkflowEventBody::StepAgent {
                step: "a".into(),
                agent_id: "ag1".into(),
                item: None,
                item_text: None,
            },
            WorkflowEventBody::StepPrompted {
                step: "a".into(),
                agent_id: "ag1".into(),
                message_seq: 2,
            },
            WorkflowEventBody::VerifyStarted {
                step: "a".into(),
                attempt: 1,
                command: "true".into(),
                rerun: false,
            },
        ]);
        let s = RunState::fold("alice", &events).unwrap();
        assert_eq!(s.active, Some(0));
        assert_eq!(s.steps[0].status, StepStatus::Verifying);
        assert_eq!(s.steps[0].agents[0].prompts, vec![2]);
        let v = s.view();
        assert_eq!(v.current_step.as_deref(), Some("a"));
        assert_eq!(v.steps[0].verify.as_ref().unwrap().output, None);
        assert_eq!(v.steps[1].status, StepStatus::Pending);

        let mut events = events;
        events.extend(
            log(vec![
                WorkflowEventBody::VerifyFinished {
                    step: "a".into(),
                    attempt: 1,
                    exit_code: Some(1),
                    output: "bad".into(),
                },
                WorkflowEventBody::StepRetry {
                    step: "a".into(),
                    attempt: 2,
                    reason: "verify failed".into(),
                },
                finished("a", StepOutcome::Succeeded, 0.5),
                started("g", 1),
                WorkflowEventBody::GateRequested {
                    step: "g".into(),
                    message: "ok?".into(),
                    diff: "d".into(),
                },
            ])
            .into_iter()
            .skip(1),
        );
        for (i, e) in events.iter_mut().enumerate() {
            e.seq = i as u64 + 1;
        }
        let s = RunState::fold("alice", &events).unwrap();
        assert_eq!(s.status, WorkflowRunStatus::WaitingGate);
        assert_eq!(s.steps[0].attempt, 2);
        assert_eq!(s.steps[0].status, StepStatus::Succeeded);
        assert_eq!(s.steps[1].status, StepStatus::WaitingGate);
        assert_eq!(s.next, 1);
        assert_eq!(s.view().cost_usd, 0.5);
        assert_eq!(s.last_seq, events.len() as u64);

        let mut more = events.clone();
        let tail = log(vec![
            WorkflowEventBody::GateDecided {
                step: "g".into(),
                approved: true,
                reason: None,
                by: "bob".into(),
            },
            finished("g", StepOutcome::Succeeded, 0.0),
            started("b", 1),
            finished("b", StepOutcome::Failed, 0.25),
        ]);
        more.extend(tail.into_iter().skip(1));
        for (i, e) in more.iter_mut().enumerate() {
            e.seq = i as u64 + 1;
        }
        let s = RunState::fold("alice", &more).unwrap();
        assert_eq!(s.failed, Some(2));
        assert_eq!(s.active, None);
        let g = s.view().steps[1].gate.clone().unwrap();
        assert_eq!(g.approved, Some(true));
        assert_eq!(g.by.as_deref(), Some("bob"));

        let tail = log(vec![
            WorkflowEventBody::StepGoto {
                step: "b".into(),
                to: "a".into(),
                count: 1,
            },
            started("a", 2),
            WorkflowEventBody::WorkflowFinished {
                status: WorkflowRunStatus::Cancelled,
                reason: Some("cancelled by bob".into()),
            },
        ]);
        more.extend(tail.into_iter().skip(1));
        for (i, e) in more.iter_mut().enumerate() {
            e.seq = i as u64 + 1;
        }
        let s = RunState::fold("alice", &more).unwrap();
        assert_eq!(s.steps[2].jumps, 1);
        assert_eq!(s.steps[0].iteration, 2);
        assert_eq!(s.steps[0].all_agents, vec!["ag1"]);
        assert!(s.steps[0].agents.is_empty());
        assert_eq!(s.steps[0].status, StepStatus::Skipped);
        assert_eq!(s.status, WorkflowRunStatus::Cancelled);
        assert!(s.is_finished());
        let v = s.view();
        assert_eq!(v.cost_usd, 0.75);
        assert_eq!(v.current_step, None);
    }

    #[test]
    fn a_log_without_its_start_folds_to_nothing() {
        assert!(RunState::fold("a", &[]).is_none());
        let mut events = log(vec![started("a", 1)]);
        events.remove(0);
        assert!(RunState::fold("a", &events).is_none());
    }

    #[test]
    fn folds_best_of_n_attempts_and_the_kept_one() {
        let attempt_started = |k: u32| WorkflowEventBody::AttemptStarted {
            step: "a".into(),
            attempt: k,
            agent_id: format!("ag{k}"),
            workspace_id: format!("ws{k}"),
        };
        let events = log(vec![
            started("a", 1),
            attempt_started(2),
            attempt_started(1),
            WorkflowEventBody::StepPrompted {
                step: "a".into(),
                agent_id: "ag1".into(),
                message_seq: 3,
            },
            WorkflowEventBody::AttemptVerifyStarted {
                step: "a".into(),
                attempt: 1,
                round: 1,
                command: "make test".into(),
                rerun: false,
            },
            WorkflowEventBody::AttemptVerifyFinished {
                step: "a".into(),
                attempt: 1,
                round: 1,
                exit_code: Some(1),
                output: "FAIL".into(),
            },
            WorkflowEventBody::AttemptRetry {
                step: "a".into(),
                attempt: 1,
                round: 2,
                reason: "failed".into(),
            },
            WorkflowEventBody::AttemptVerifyStarted {
                step: "a".into(),
                attempt: 2,
                round: 1,
                command: "make test".into(),
                rerun: false,
            },
        ]);
        let s = RunState::fold("alice", &events).unwrap();
        let st = &s.steps[0];
        assert_eq!(
            st.tries.iter().map(|t| t.attempt).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(st.tries[0].round, 2);
        assert_eq!(st.all_agents, ["ag2", "ag1"]);
        let slot = st.agents.iter().find(|a| a.agent_id == "ag1").unwrap();
        assert_eq!((slot.attempt, slot.prompts.clone()), (Some(1), vec![3]));
        assert_eq!(slot.workspace_id.as_deref(), Some("ws1"));
        let v = s.view();
        let tries = &v.steps[0].best_of;
        assert_eq!(tries[0].status, AttemptStatus::Running);
        assert_eq!(tries[0].exit_code, Some(1));
        assert_eq!(tries[0].verify_output.as_deref(), Some("FAIL"));
        assert_eq!(tries[1].status, AttemptStatus::Verifying);

        let mut more = events.clone();
        let tail = log(vec![
            WorkflowEventBody::AttemptFinished {
                step: "a".into(),
                attempt: 2,
                passed: true,
                exit_code: Some(0),
                cost_usd: 0.25,
                answer: Some("two".into()),
                reason: None,
            },
            WorkflowEventBody::AttemptFinished {
                step: "a".into(),
                attempt: 1,
                passed: false,
                exit_code: Some(1),
                cost_usd: 0.5,
                answer: None,
                reason: Some("the check failed".into()),
            },
            WorkflowEventBody::AttemptKept {
                step: "a".into(),
                attempt: 2,
                agent_id: "ag2".into(),
                workspace_id: "ws2".into(),
            },
            finished("a", StepOutcome::Succeeded, 0.75),
        ]);
        more.extend(tail.into_iter().skip(1));
        for (i, e) in more.iter_mut().enumerate() {
            e.seq = i as u64 + 1;
        }
        let s = RunState::fold("alice", &more).unwrap();
        assert_eq!(s.steps[0].kept, Some(2));
        let v = s.view();
        let tries = &v.steps[0].best_of;
        assert_eq!(
            tries
                .iter()
                .map(|t| (t.status, t.kept, t.cost_usd))
                .collect::<Vec<_>>(),
            [
                (AttemptStatus::Failed, false, 0.5),
                (AttemptStatus::Passed, true, 0.25)
            ]
        );
        assert_eq!(tries[0].reason.as_deref(), Some("the check failed"));
        assert_eq!(v.cost_usd, 0.75);
        // A new pass through the step starts with no attempts.
        let mut again = more.clone();
        again.extend(log(vec![started("a", 2)]).into_iter().skip(1));
        for (i, e) in again.iter_mut().enumerate() {
            e.seq = i as u64 + 1;
        }
        let s = RunState::fold("alice", &again).unwrap();
        assert!(s.steps[0].tries.is_empty() && s.steps[0].kept.is_none());
    }
}
