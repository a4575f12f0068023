// DRAFT: the workflow shapes of host/protocol/src/workflow.rs, until the
// generated schema has them (then `types.ts` names them from `schema.d.ts`
// and this file goes).

export type WorkflowRunStatus = 'running' | 'waiting_gate' | 'succeeded' | 'failed' | 'cancelled';
export type StepStatus = 'pending' | 'running' | 'verifying' | 'waiting_gate' | 'succeeded' | 'failed' | 'skipped';
export type StepKind = 'agent' | 'gate' | 'fanout' | 'merge';
export type DefinitionSource = 'builtin' | 'file' | 'config' | 'api';

export interface InputDef {
  name: string;
  description?: string | null;
  required?: boolean | null;
  default?: string | null;
}

export interface StepDef {
  id: string;
  template?: string | null;
  agent?: Record<string, unknown> | null;
  prompt?: string | null;
  workspace?: 'run' | 'run_read_only' | 'copy' | 'worktree';
  verify?: { command: string; timeout_secs?: number } | null;
  retries?: number;
  on_failure?: 'stop' | { goto: string; max?: number };
  gate?: { message: string } | null;
  fanout?: { over: string; template?: string | null; agent?: Record<string, unknown> | null; prompt: string; max_parallel?: number } | null;
  merge?: boolean;
}

export interface WorkflowDef {
  name: string;
  description?: string;
  inputs?: InputDef[];
  workspace?: { repo?: string | null; base?: string | null; workspace_id?: string | null } | null;
  steps: StepDef[];
}

export interface WorkflowDefinitionView {
  name: string;
  description: string;
  source: DefinitionSource;
  definition: WorkflowDef;
}

export interface VerifyView {
  command: string;
  attempt: number;
  exit_code?: number | null;
  output?: string | null;
}

export interface GateView {
  message: string;
  diff: string;
  approved?: boolean | null;
  by?: string | null;
  reason?: string | null;
}

export interface StepView {
  id: string;
  kind: StepKind;
  status: StepStatus;
  attempts: number;
  iteration: number;
  agents: string[];
  started_at?: string | null;
  finished_at?: string | null;
  cost_usd: number;
  output?: string | null;
  reason?: string | null;
  verify?: VerifyView | null;
  gate?: GateView | null;
}

export interface WorkflowRunView {
  id: string;
  name: string;
  workflow: string;
  owner: string;
  status: WorkflowRunStatus;
  reason?: string | null;
  inputs: Record<string, string>;
  created_at: string;
  updated_at: string;
  finished_at?: string | null;
  last_seq: number;
  workspace_id?: string | null;
  cost_usd: number;
  current_step?: string | null;
  steps: StepView[];
}

export interface WorkflowEvent {
  seq: number;
  run_id: string;
  ts: string;
  type: string;
  data: Record<string, unknown>;
}

export interface RunEventPage {
  events: WorkflowEvent[];
  last_seq: number;
}
