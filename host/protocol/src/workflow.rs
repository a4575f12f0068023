//! Workflows: a named definition of steps (agents, verify commands, human
//! gates, fan-outs, a merge), the durable event log of one run of it, the
//! statuses of a run and of its steps, and the views the API shows (the
//! core folds a run's log into [`WorkflowRunView`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A workflow run's id (a UUID in text form).
pub type RunId = String;

/// A workflow: its inputs, the workspace of its runs and its steps, run in
/// order (a step's `on_failure` may jump back to an earlier one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WorkflowDef {
    /// Its name: 1 to 64 of `A-Z a-z 0-9 . _ -`, starting with a letter or
    /// digit.
    pub name: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// What a run is started with (`{{inputs.NAME}}` in the steps).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputDef>,
    /// The run's workspace: a new git worktree of a repository, or an
    /// existing workspace. None: every agent step names its own
    /// (`workspace`, `workspace_id` or `worktree` in its `agent` settings
    /// or template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<RunWorkspace>,
    /// The steps, in order (at least one).
    pub steps: Vec<StepDef>,
}

/// One input of a workflow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InputDef {
    /// Its name (`[A-Za-z0-9_]{1,64}`, starting with a letter).
    pub name: String,
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether a run must give it (default: true unless a `default` is
    /// given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Its value when a run does not give it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

impl InputDef {
    /// Whether a run must give it: `required`, else true unless it has a
    /// default.
    pub fn is_required(&self) -> bool {
        self.required.unwrap_or(self.default.is_none())
    }
}

/// Where a run works: give `repo` (a new git worktree of it, branch
/// `paddock/<run name>`, made when the run starts) or `workspace_id` (an
/// existing workspace, by id or name). Both may use `{{inputs.NAME}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RunWorkspace {
    /// A local git repository under an allowed workspace root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// The branch the worktree starts from and a `merge` step merges into
    /// (default: the one checked out in `repo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// Or an existing workspace of `/api/workspaces`, by id or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
}

/// One step. An agent step gives `template` and/or `agent` (and a
/// `prompt`); the other kinds give exactly one of `gate`, `fanout` and
/// `merge: true`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StepDef {
    /// Its id: 1 to 32 of `a-z 0-9 _ -`, unique in the workflow
    /// (`{{steps.ID.output}}`).
    pub id: String,
    /// A stored agent template (`/api/config/agent-templates`) the step's
    /// agent is made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Agent settings given inline (the fields of an agent template:
    /// `model`, `system_prompt`, `tools`, `limits`, …), over the
    /// template's when both are given. The model defaults to the host's
    /// default model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub agent: Option<serde_json::Value>,
    /// The agent's task (template syntax: `{{inputs.NAME}}`,
    /// `{{steps.ID.output}}`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Where the step's agent works (default: the run's workspace).
    #[serde(default, skip_serializing_if = "StepWorkspace::is_default")]
    pub workspace: StepWorkspace,
    /// A command run in the agent's sandbox after its run; exit code 0
    /// means the step passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<Verify>,
    /// On a failed verify, how many more times the same agent is asked
    /// again (with the verify's output) before `on_failure`.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[cfg_attr(feature = "openapi", schema(maximum = 10))]
    pub retries: u32,
    /// What a failed step does after its retries: `stop` (default), or
    /// `{goto: STEP, max: N}` (jump back to an earlier step, at most N
    /// times).
    #[serde(default, skip_serializing_if = "OnFailure::is_stop")]
    #[cfg_attr(feature = "openapi", schema(schema_with = on_failure_schema))]
    pub on_failure: OnFailure,
    /// A human gate: an approval showing the diff of the run's workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<Gate>,
    /// One agent per item of a list, in parallel, then joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fanout: Option<Fanout>,
    /// Merge the run's worktree into its base branch.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merge: bool,
    /// Best-of-N: how many agents try the step at once (1 to 10, default
    /// 1). More than one needs an agent step with a `verify` and a run
    /// workspace that is a git worktree: each attempt gets its own agent
    /// on its own worktree from the run's branch, the same prompt and
    /// the verify (with `retries` per attempt); the step succeeds when at
    /// least one passes, keeping the first passing one by attempt number.
    #[serde(
        default = "default_attempts",
        skip_serializing_if = "is_default_attempts"
    )]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10))]
    pub attempts: u32,
    /// Attempts running at once (default: all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10))]
    pub max_parallel: Option<u32>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn default_attempts() -> u32 {
    1
}

fn is_default_attempts(n: &u32) -> bool {
    *n == 1
}

impl StepDef {
    /// Its kind, when it gives exactly one (None: it gives none or several
    /// of an agent, `gate`, `fanout` and `merge`).
    pub fn kind(&self) -> Option<StepKind> {
        let agent = self.template.is_some() || self.agent.is_some();
        let kinds = [
            (agent, StepKind::Agent),
            (self.gate.is_some(), StepKind::Gate),
            (self.fanout.is_some(), StepKind::Fanout),
            (self.merge, StepKind::Merge),
        ];
        let mut given = kinds.iter().filter(|(g, _)| *g).map(|(_, k)| *k);
        match (given.next(), given.next()) {
            (Some(k), None) => Some(k),
            _ => None,
        }
    }
}

/// What a step is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// An agent run on a prompt (optionally verified).
    Agent,
    /// A human gate.
    Gate,
    /// One agent per item, then a join.
    Fanout,
    /// A merge of the run's worktree.
    Merge,
}

/// Where a step's agent works.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StepWorkspace {
    /// The run's workspace.
    #[default]
    Run,
    /// The run's workspace, with only read-only tools (`read_only: true`).
    RunReadOnly,
    /// A new copy of the run's workspace.
    Copy,
    /// A new git worktree of the run's workspace's repository.
    Worktree,
}

impl StepWorkspace {
    /// Whether it is the default (`run`).
    pub fn is_default(&self) -> bool {
        *self == StepWorkspace::Run
    }
}

/// A check run after a step's agent: its exit code gates the step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// The shell command (run with `sh -c` in `/workspace`, template
    /// syntax allowed).
    pub command: String,
    /// Seconds before it is killed and counts as failed (default 600).
    #[serde(default = "default_verify_timeout")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 86400))]
    pub timeout_secs: u64,
}

fn default_verify_timeout() -> u64 {
    600
}

/// What a step that failed does (after its retries).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum OnFailure {
    /// `stop`: the run fails.
    #[default]
    Stop,
    /// Jump back to an earlier step, at most `max` times.
    Goto {
        /// The id of an earlier step (or this one).
        goto: String,
        /// How many jumps at most (required: a cycle needs a bound).
        max: Option<u32>,
    },
}

impl OnFailure {
    /// Whether it is `stop`.
    pub fn is_stop(&self) -> bool {
        *self == OnFailure::Stop
    }
}

/// The schema of [`OnFailure`]: `"stop"` or `{goto, max}`.
#[cfg(feature = "openapi")]
fn on_failure_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, SchemaType, Type};
    utoipa::openapi::schema::Schema::OneOf(
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(SchemaType::new(Type::String))
                .enum_values(Some(["stop"])),
        )
        .item(
            ObjectBuilder::new()
                .property(
                    "goto",
                    ObjectBuilder::new().schema_type(SchemaType::new(Type::String)),
                )
                .required("goto")
                .property(
                    "max",
                    ObjectBuilder::new()
                        .schema_type(SchemaType::new(Type::Integer))
                        .minimum(Some(1)),
                ),
        )
        .description(Some(
            "What a failed step does after its retries: `stop` (default), or `{goto: STEP, max: N}`.",
        ))
        .build(),
    )
}

impl Serialize for OnFailure {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            OnFailure::Stop => s.serialize_str("stop"),
            OnFailure::Goto { goto, max } => {
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("goto", goto)?;
                if let Some(max) = max {
                    m.serialize_entry("max", max)?;
                }
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for OnFailure {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Goto {
            goto: String,
            #[serde(default)]
            max: Option<u32>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Word(String),
            Goto(Goto),
        }
        const EXPECTED: &str = "expected `stop` or `{goto: STEP, max: N}`";
        match Either::deserialize(d).map_err(|_| serde::de::Error::custom(EXPECTED))? {
            Either::Word(w) if w == "stop" => Ok(OnFailure::Stop),
            Either::Word(w) => Err(serde::de::Error::custom(format!("{EXPECTED}, got `{w}`"))),
            Either::Goto(g) => Ok(OnFailure::Goto {
                goto: g.goto,
                max: g.max,
            }),
        }
    }
}

/// A human gate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// What the human is asked (template syntax allowed).
    pub message: String,
}

/// One agent per item of a list, at most `max_parallel` at once; the step's
/// output is the items' outputs joined, each under `## <item>`; it fails if
/// any item fails.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Fanout {
    /// The list (template syntax): a YAML list, or else the lines of the
    /// text (blank lines dropped, and a leading `- `, `* ` or `1. `).
    pub over: String,
    /// A stored agent template for each item's agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Agent settings given inline (as a step's `agent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub agent: Option<serde_json::Value>,
    /// Each item's task (`{{item}}` is the item).
    pub prompt: String,
    /// Items' agents running at once (default 4, 1 to 16).
    #[serde(default = "default_max_parallel")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 16))]
    pub max_parallel: u32,
}

fn default_max_parallel() -> u32 {
    4
}

/// A run's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WorkflowRunStatus {
    /// A step is running.
    Running,
    /// A human gate waits for a decision.
    WaitingGate,
    /// Every step succeeded.
    Succeeded,
    /// A step failed (after its retries and jumps).
    Failed,
    /// Cancelled by a user.
    Cancelled,
}

impl WorkflowRunStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowRunStatus::Running => "running",
            WorkflowRunStatus::WaitingGate => "waiting_gate",
            WorkflowRunStatus::Succeeded => "succeeded",
            WorkflowRunStatus::Failed => "failed",
            WorkflowRunStatus::Cancelled => "cancelled",
        }
    }

    /// From the wire name.
    pub fn parse(s: &str) -> Option<WorkflowRunStatus> {
        [
            WorkflowRunStatus::Running,
            WorkflowRunStatus::WaitingGate,
            WorkflowRunStatus::Succeeded,
            WorkflowRunStatus::Failed,
            WorkflowRunStatus::Cancelled,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// Whether the run is over.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            WorkflowRunStatus::Succeeded | WorkflowRunStatus::Failed | WorkflowRunStatus::Cancelled
        )
    }
}

/// A step's status in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not reached yet.
    Pending,
    /// Its agent (or agents) run.
    Running,
    /// Its verify command runs.
    Verifying,
    /// Its gate waits for a human.
    WaitingGate,
    /// It passed.
    Succeeded,
    /// It failed.
    Failed,
    /// Not run (the run ended before it, or was cancelled during it).
    Skipped,
}

/// How a step ended (in `step.finished`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// It passed.
    Succeeded,
    /// It failed.
    Failed,
    /// It was not run to the end (the run was cancelled).
    Skipped,
}

impl StepOutcome {
    /// The step status it leaves.
    pub fn status(self) -> StepStatus {
        match self {
            StepOutcome::Succeeded => StepStatus::Succeeded,
            StepOutcome::Failed => StepStatus::Failed,
            StepOutcome::Skipped => StepStatus::Skipped,
        }
    }
}

/// One event of a run's log. `seq` is per run, starts at 1 and has no
/// gaps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkflowEvent {
    /// Position in the run's log.
    pub seq: u64,
    /// The run.
    pub run_id: RunId,
    /// When it happened.
    pub ts: DateTime<Utc>,
    /// What happened (`type` and `data`).
    #[serde(flatten)]
    pub body: WorkflowEventBody,
}

/// What happened in a run, as `{"type": …, "data": {…}}`. Each is stored
/// before what it says is done.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", content = "data")]
pub enum WorkflowEventBody {
    /// The run started (always its first event).
    #[serde(rename = "workflow.started")]
    WorkflowStarted {
        /// The workflow's name.
        workflow: String,
        /// The run's name (`<workflow>-<first 8 of its id>`): its agents
        /// are `<name>/<step>`, its worktree's branch `paddock/<name>`.
        name: String,
        /// The definition as it was when the run started (the run follows
        /// this copy).
        definition: WorkflowDef,
        /// The inputs, defaults filled in.
        inputs: BTreeMap<String, String>,
        /// The existing workspace the run works in, when the definition
        /// names one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workspace_id: Option<String>,
    },
    /// The run's worktree was made (a definition's `workspace.repo`).
    #[serde(rename = "workflow.workspace")]
    WorkflowWorkspace {
        /// The workspace's id.
        workspace_id: String,
        /// Its directory.
        path: String,
    },
    /// A step started (again, after a jump back).
    #[serde(rename = "step.started")]
    StepStarted {
        /// The step's id.
        step: String,
        /// Its attempt (1-based; +1 per retry).
        attempt: u32,
        /// Its iteration (1-based; +1 per jump back into it).
        iteration: u32,
    },
    /// An agent of a step is about to be made, with this id.
    #[serde(rename = "step.agent")]
    StepAgent {
        /// The step's id.
        step: String,
        /// The agent's id (chosen before it is made).
        agent_id: String,
        /// The index of the fan-out item it works on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item: Option<u32>,
        /// The item's text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item_text: Option<String>,
    },
    /// A step's agent was given its task (or a retry's message).
    #[serde(rename = "step.prompted")]
    StepPrompted {
        /// The step's id.
        step: String,
        /// The agent's id.
        agent_id: String,
        /// The seq of the `message.user` event in the agent's log.
        message_seq: u64,
    },
    /// A step's verify command is about to run.
    #[serde(rename = "verify.started")]
    VerifyStarted {
        /// The step's id.
        step: String,
        /// The step's attempt.
        attempt: u32,
        /// The command (rendered).
        command: String,
        /// Whether it runs again because a restart of the host cut the
        /// previous run of it.
        #[serde(default)]
        rerun: bool,
    },
    /// A step's verify command finished.
    #[serde(rename = "verify.finished")]
    VerifyFinished {
        /// The step's id.
        step: String,
        /// The step's attempt.
        attempt: u32,
        /// Its exit code (None: it timed out, or could not be run).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        /// Its output (stdout then stderr), cut to head and tail, secrets
        /// redacted.
        output: String,
    },
    /// A step's agent is asked again after a failed verify.
    #[serde(rename = "step.retry")]
    StepRetry {
        /// The step's id.
        step: String,
        /// The attempt that starts.
        attempt: u32,
        /// Why.
        reason: String,
    },
    /// A failed step jumps back to an earlier one.
    #[serde(rename = "step.goto")]
    StepGoto {
        /// The failed step.
        step: String,
        /// The step it jumps to.
        to: String,
        /// The jumps of this step so far, this one included.
        count: u32,
    },
    /// A gate asks a human.
    #[serde(rename = "gate.requested")]
    GateRequested {
        /// The step's id.
        step: String,
        /// What is asked (rendered).
        message: String,
        /// The diff of the run's workspace so far.
        diff: String,
    },
    /// A human decided a gate.
    #[serde(rename = "gate.decided")]
    GateDecided {
        /// The step's id.
        step: String,
        /// Approved or rejected.
        approved: bool,
        /// Why, if they said.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Who (a user's name).
        by: String,
    },
    /// One of a best-of-N step's attempts starts: its agent's id (chosen
    /// before the agent is made) and its own worktree (made first, named
    /// after the run, the step and the attempt, so a restart finds it).
    #[serde(rename = "attempt.started")]
    AttemptStarted {
        /// The step's id.
        step: String,
        /// Which attempt (1-based).
        attempt: u32,
        /// Its agent's id.
        agent_id: String,
        /// Its worktree's workspace id.
        workspace_id: String,
    },
    /// An attempt's verify command is about to run.
    #[serde(rename = "attempt.verify_started")]
    AttemptVerifyStarted {
        /// The step's id.
        step: String,
        /// Which attempt.
        attempt: u32,
        /// The attempt's round (1-based; +1 per retry of it).
        round: u32,
        /// The command (rendered).
        command: String,
        /// Whether it runs again because a restart cut the previous run.
        #[serde(default)]
        rerun: bool,
    },
    /// An attempt's verify command finished.
    #[serde(rename = "attempt.verify_finished")]
    AttemptVerifyFinished {
        /// The step's id.
        step: String,
        /// Which attempt.
        attempt: u32,
        /// The attempt's round.
        round: u32,
        /// Its exit code (None: timed out or not run).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        /// Its output, cut to head and tail, secrets redacted.
        output: String,
    },
    /// An attempt's agent is asked again after its verify failed.
    #[serde(rename = "attempt.retry")]
    AttemptRetry {
        /// The step's id.
        step: String,
        /// Which attempt.
        attempt: u32,
        /// The round that starts.
        round: u32,
        /// Why.
        reason: String,
    },
    /// An attempt ended.
    #[serde(rename = "attempt.finished")]
    AttemptFinished {
        /// The step's id.
        step: String,
        /// Which attempt.
        attempt: u32,
        /// Whether its verify passed.
        passed: bool,
        /// Its last verify's exit code.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        /// What its agent's runs cost, in dollars.
        #[serde(default)]
        cost_usd: f64,
        /// Its agent's last answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<String>,
        /// Why it did not pass.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The attempt a best-of-N step keeps: the first passing one by
    /// attempt number (recorded before `step.finished`).
    #[serde(rename = "attempt.kept")]
    AttemptKept {
        /// The step's id.
        step: String,
        /// Which attempt.
        attempt: u32,
        /// Its agent.
        agent_id: String,
        /// Its worktree (merge it into the run's branch to take it).
        workspace_id: String,
    },
    /// A step ended.
    #[serde(rename = "step.finished")]
    StepFinished {
        /// The step's id.
        step: String,
        /// How.
        status: StepOutcome,
        /// Its output (`{{steps.ID.output}}`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<String>,
        /// What its agents' runs cost in this attempt chain, in dollars.
        #[serde(default)]
        cost_usd: f64,
        /// Why it failed or was skipped.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The run ended (always its last event).
    #[serde(rename = "workflow.finished")]
    WorkflowFinished {
        /// How: `succeeded`, `failed` or `cancelled`.
        status: WorkflowRunStatus,
        /// Why, when it did not succeed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl WorkflowEventBody {
    /// The wire name of its type (`step.started`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            WorkflowEventBody::WorkflowStarted { .. } => "workflow.started",
            WorkflowEventBody::WorkflowWorkspace { .. } => "workflow.workspace",
            WorkflowEventBody::StepStarted { .. } => "step.started",
            WorkflowEventBody::StepAgent { .. } => "step.agent",
            WorkflowEventBody::StepPrompted { .. } => "step.prompted",
            WorkflowEventBody::VerifyStarted { .. } => "verify.started",
            WorkflowEventBody::VerifyFinished { .. } => "verify.finished",
            WorkflowEventBody::StepRetry { .. } => "step.retry",
            WorkflowEventBody::StepGoto { .. } => "step.goto",
            WorkflowEventBody::GateRequested { .. } => "gate.requested",
            WorkflowEventBody::GateDecided { .. } => "gate.decided",
            WorkflowEventBody::AttemptStarted { .. } => "attempt.started",
            WorkflowEventBody::AttemptVerifyStarted { .. } => "attempt.verify_started",
            WorkflowEventBody::AttemptVerifyFinished { .. } => "attempt.verify_finished",
            WorkflowEventBody::AttemptRetry { .. } => "attempt.retry",
            WorkflowEventBody::AttemptFinished { .. } => "attempt.finished",
            WorkflowEventBody::AttemptKept { .. } => "attempt.kept",
            WorkflowEventBody::StepFinished { .. } => "step.finished",
            WorkflowEventBody::WorkflowFinished { .. } => "workflow.finished",
        }
    }
}

/// Where a definition comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DefinitionSource {
    /// Shipped in the binary.
    Builtin,
    /// A file of `<data_dir>/workflows/`.
    File,
    /// A `[[workflows]]` table of `paddock.toml`.
    Config,
    /// Saved through the API.
    Api,
}

/// A definition and where it comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkflowDefinitionView {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Where it comes from (only `api` ones may be changed or deleted
    /// through the API).
    pub source: DefinitionSource,
    /// The definition.
    pub definition: WorkflowDef,
}

/// A run as its log tells it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkflowRunView {
    /// Its id.
    pub id: RunId,
    /// Its name (`<workflow>-<first 8 of its id>`).
    pub name: String,
    /// The workflow's name.
    pub workflow: String,
    /// The user it belongs to (who started it).
    pub owner: String,
    /// Its status.
    pub status: WorkflowRunStatus,
    /// Why it failed or was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its inputs.
    pub inputs: BTreeMap<String, String>,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When its last event was recorded.
    pub updated_at: DateTime<Utc>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// The seq of its last event.
    pub last_seq: u64,
    /// Its workspace, once it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// What its steps' agents cost, in dollars (finished runs of them).
    pub cost_usd: f64,
    /// The step it is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step: Option<String>,
    /// Its steps, in the definition's order.
    pub steps: Vec<StepView>,
}

/// A step of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepView {
    /// Its id.
    pub id: String,
    /// What it is.
    pub kind: StepKind,
    /// Its status.
    pub status: StepStatus,
    /// Attempts of its latest iteration (0: not started).
    pub attempts: u32,
    /// Times it was entered (0: not started).
    pub iteration: u32,
    /// Its agents' ids (every iteration's), in the order made.
    pub agents: Vec<String>,
    /// When it last started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it last ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// What its agents cost, in dollars (every iteration).
    pub cost_usd: f64,
    /// Its output, once it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Why it failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its last verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifyView>,
    /// Its gate, once asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateView>,
    /// A best-of-N step's attempts of its latest iteration, by attempt
    /// number (empty for a step of one attempt).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub best_of: Vec<AttemptView>,
}

/// An attempt's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    /// Its agent runs.
    Running,
    /// Its verify runs.
    Verifying,
    /// Its verify passed.
    Passed,
    /// It did not pass.
    Failed,
    /// The run ended before it did.
    Skipped,
}

/// One attempt of a best-of-N step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttemptView {
    /// Which attempt (1-based).
    pub attempt: u32,
    /// Its agent.
    pub agent_id: String,
    /// Its worktree.
    pub workspace_id: String,
    /// Its status.
    pub status: AttemptStatus,
    /// Rounds it took (1 + its retries so far).
    pub rounds: u32,
    /// Its last verify's exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Its last verify's command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_command: Option<String>,
    /// Its last verify's output (None while none finished).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_output: Option<String>,
    /// What its agent's runs cost, in dollars (once it ended).
    pub cost_usd: f64,
    /// Why it did not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether the step kept it (its output is this one's answer).
    pub kept: bool,
}

/// A step's last verify.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyView {
    /// The command.
    pub command: String,
    /// The attempt it checked.
    pub attempt: u32,
    /// Its exit code (None: running, timed out or could not be run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Its output (None while it runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// A step's gate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GateView {
    /// What is asked.
    pub message: String,
    /// The diff of the run's workspace when it was asked.
    pub diff: String,
    /// The decision (None: pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<bool>,
    /// Who decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Why, if they said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_failure_reads_stop_and_goto_and_names_what_it_expects() {
        let s: StepDef = serde_json::from_value(serde_json::json!({
            "id": "a", "template": "t", "on_failure": "stop"
        }))
        .unwrap();
        assert_eq!(s.on_failure, OnFailure::Stop);
        let s: StepDef = serde_json::from_value(serde_json::json!({
            "id": "a", "template": "t", "on_failure": {"goto": "b", "max": 2}
        }))
        .unwrap();
        assert_eq!(
            s.on_failure,
            OnFailure::Goto {
                goto: "b".into(),
                max: Some(2)
            }
        );
        let e = serde_json::from_value::<StepDef>(serde_json::json!({
            "id": "a", "template": "t", "on_failure": "retry"
        }))
        .unwrap_err();
        assert!(e.to_string().contains("expected `stop`"), "{e}");
        assert_eq!(
            serde_json::to_value(OnFailure::Stop).unwrap(),
            serde_json::json!("stop")
        );
    }

    #[test]
    fn an_event_is_type_and_data() {
        let e = WorkflowEvent {
            seq: 3,
            run_id: "r".into(),
            ts: DateTime::from_timestamp(0, 0).unwrap(),
            body: WorkflowEventBody::StepStarted {
                step: "plan".into(),
                attempt: 1,
                iteration: 1,
            },
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "step.started");
        assert_eq!(v["data"]["step"], "plan");
        assert_eq!(e.body.type_name(), "step.started");
        let back: WorkflowEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn kind_needs_exactly_one() {
        let mut s: StepDef =
            serde_json::from_value(serde_json::json!({"id": "a", "merge": true})).unwrap();
        assert_eq!(s.kind(), Some(StepKind::Merge));
        s.template = Some("t".into());
        assert_eq!(s.kind(), None);
    }
}
