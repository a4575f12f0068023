// Names for the API's types. Every shape here comes from `schema.d.ts`,
// which `npm run gen` generates from `openapi.json` (the host's OpenAPI
// document, `paddock openapi`); nothing is copied by hand.

import type { components } from './schema';

type S = components['schemas'];

export type AgentView = S['AgentView'];
export type AgentStatus = S['AgentStatus'];
export type ApprovalMode = S['ApprovalMode'];
export type RiskLevel = S['RiskLevel'];
export type EventPage = S['EventPage'];
export type PendingApprovals = S['PendingApprovals'];
export type McpServerView = S['ServerView'];
export type CatalogEntry = S['CatalogEntry'];
export type TestReport = S['TestReport'];
export type PluginInfo = S['PluginInfo'];
/** An update from a registry waiting for an admin, with its capability diff. */
export type PendingUpdate = S['PendingUpdate'];
/** What checking a plugin for an update did. */
export type UpdateOutcome = S['UpdateOutcome'];
export type ToolInfo = S['ToolInfo'];
export type TemplateView = S['TemplateView'];
export type SystemPromptView = S['SystemPromptView'];
export type ProviderView = S['ProviderView'];
export type ModelView = S['ModelView'];
/** Which wire API a provider speaks (Chat Completions or Responses). */
export type WireApi = S['WireApi'];
export type ReasoningEffort = S['ReasoningEffort'];
export type ReasoningItem = S['ReasoningItem'];
/** A failover target that did not serve a model call, and why. */
export type SkippedTarget = S['SkippedTarget'];
export type ErrorCode = S['ErrorCode'];
export type RuleList = S['RuleList'];
export type Info = S['Info'];
export type UsageReport = S['UsageReport'];
export type UsageRow = S['UsageRow'];
export type CostAnalysis = S['CostAnalysis'];
export type AgentMetrics = S['AgentMetrics'];
/** One Paddock host on this database (`GET /api/hosts`): its state, load and agents. */
export type HostView = S['HostView'];
/** Live, draining, unreachable or stopped. */
export type HostState = S['HostState'];
export type RouterConfig = S['RouterConfig'];
export type BudgetsView = S['BudgetsView'];
export type CreateAgentBody = Partial<S['CreateAgent']>;
/** What the WebSocket at /api/ws sends and takes. */
export type WsServerMessage = S['WsServerMessage'];
export type WsClientMessage = S['WsClientMessage'];

/** One event of an agent's log (`{seq, agent_id, ts, type, data}`). */
export type AgentEvent = S['Event'];
type Body = S['EventBody'];
/** The `data` of the event of type `T`. */
export type EventData<T extends Body['type']> = Extract<Body, { type: T }>['data'];

export type ToolCallData = EventData<'tool.call'>;
export type ToolResultData = EventData<'tool.result'>;
export type PolicyDecisionData = EventData<'policy.decision'>;
export type ApprovalRequestedData = EventData<'approval.requested'>;
export type ApprovalDecidedData = EventData<'approval.decided'>;
export type UsageData = EventData<'usage'>;
/** What a lifecycle hook changed (or that it failed, and the stricter outcome applied). */
export type HookData = EventData<'hook'>;
/** A step of preparing the agent's environment. */
export type EnvironmentSetupData = EventData<'environment.setup'>;
/** A named environment, where it comes from (`config`, `api`, a workspace's devcontainer.json). */
export type EnvironmentView = S['EnvironmentView'];
/** `POST /api/config/environments`: a name and the definition. */
export type EnvironmentConfig = S['EnvironmentConfig'];
export type AssistantData = EventData<'message.assistant'>;
export type WorkspaceView = S['WorkspaceView'];
export type WorkspaceKind = S['WorkspaceKind'];
export type NewWorkspace = S['NewWorkspace'];
export type FilesView = S['FilesView'];
export type FileEntry = S['Entry'];
export type WorkspaceDiff = S['Diff'];
export type FileChange = S['FileChange'];
export type Committed = S['Committed'];
export type Merged = S['Merged'];
export type MergeConflicts = S['MergeConflicts'];
export type Conflict = S['Conflict'];
export type Backup = S['Backup'];
export type ModelRef = S['ModelRef'];
/** `POST /api/config/providers` (and its test): a `[[providers]]` entry plus the write-only key. */
export type ProviderBody = S['ProviderBody'];
/** What testing a provider found. */
export type ProviderTest = S['ProbeReport'];
export type DefaultModel = S['DefaultModelView'];
export type KeyView = S['KeyView'];
export type DemoStarted = S['DemoStarted'];

// ---- Team: users, groups, tokens, sign-in methods, owners and shares ----

/** A user's role: `viewer` < `member` < `admin`. */
export type UserRole = S['Role'];
/** What an access token may do within its user's role: `read` < `write` < `admin`. */
export type Scope = S['Scope'];
export type UserRef = S['UserRef'];
export type GroupRef = S['GroupRef'];
export type UserView = S['UserView'];
export type NewUserRequest = S['NewUserRequest'];
export type GroupView = S['GroupView'];
export type TokenView = S['TokenView'];
export type NewTokenRequest = S['NewTokenRequest'];
export type CreatedToken = S['CreatedToken'];
/** `GET /api/me`: who is signed in, and what they may do. */
export type Me = S['Me'];
export type SsoProvider = S['SsoProvider'];
/** `GET /api/auth/methods`: how this Paddock signs people in. */
export type AuthMethods = S['AuthMethods'];
export type ShareView = S['ShareView'];
export type PersonalKeyView = S['PersonalKeyView'];

// ---- Workflows: definitions, runs, their event log ----

/** A workflow: its inputs, the workspace of its runs and its steps. */
export type WorkflowDef = S['WorkflowDef'];
export type InputDef = S['InputDef'];
export type StepDef = S['StepDef'];
/** `agent`, `gate`, `fanout` or `merge`. */
export type StepKind = S['StepKind'];
export type StepStatus = S['StepStatus'];
/** Where a definition comes from: `builtin`, `file`, `config` (paddock.toml) or `api`. */
export type DefinitionSource = S['DefinitionSource'];
/** `GET /api/workflows`: a definition and where it comes from. */
export type WorkflowDefinitionView = S['WorkflowDefinitionView'];
export type WorkflowRunStatus = S['WorkflowRunStatus'];
/** A run as the server folds its log. */
export type WorkflowRunView = S['WorkflowRunView'];
export type StepView = S['StepView'];
export type VerifyView = S['VerifyView'];
export type GateView = S['GateView'];
/** One event of a run's log (`{seq, run_id, ts, type, data}`). */
export type WorkflowEvent = S['WorkflowEvent'];
/** `GET /api/workflow-runs/{id}/events`. */
export type RunEventPage = S['RunEventPage'];

// ---- Evaluations: runs of an agent configuration over SWE-bench tasks ----

/** How patches were checked: `none` (not evaluated), `local` (each task's test_cmd) or `swebench` (the official harness). */
export type Evaluation = S['Evaluation'];
export type EvalRunStatus = S['EvalRunStatus'];
export type EvalSpec = S['EvalSpec'];
export type EvalTotals = S['EvalTotals'];
/** `GET /api/evals` (without results) and `GET /api/evals/{id}` (with them). */
export type EvalRunView = S['EvalRunView'];
export type InstanceStatus = S['InstanceStatus'];
export type EvalErrorKind = S['EvalErrorKind'];
export type EvalLimit = S['EvalLimit'];
/** One line of a run's `results.jsonl`. */
export type InstanceResult = S['InstanceResult'];
export type AttemptResult = S['AttemptResult'];
export type TestOutcomes = S['TestOutcomes'];
/** `GET /api/evals/{id}/compare/{other}`. */
export type EvalComparison = S['EvalComparison'];
export type ComparedRun = S['ComparedRun'];
export type RateInterval = S['RateInterval'];
export type RateDifference = S['RateDifference'];
export type InstanceComparison = S['InstanceComparison'];
