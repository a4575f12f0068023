// Workflows, as the dashboard shows them: the words and colours of run and
// step states, a definition's steps as a compact chain, and a run's
// timeline — the server's view of each step (folded from the run's event
// log) with what only the log says: a fan-out's items, the retries and the
// jumps back. Pure code, unit-tested.

import type { StepKind, StepStatus, StepView, WorkflowDef, WorkflowEvent, WorkflowRunStatus, WorkflowRunView, DefinitionSource, StepDef } from '../api/types';

import { type Look, amber, blue, green, grey, red } from './look';

const indigo = 'bg-indigo-100 text-indigo-900 dark:bg-indigo-900 dark:text-indigo-100';

/** Each run state's words and colours (a record: a new state in the API must be named here). */
export const RUN_STATES: Record<WorkflowRunStatus, Look> = {
  running: { label: 'running', tone: blue, icon: '▶', meaning: 'a step is at work' },
  waiting_gate: { label: 'waiting for approval', tone: amber, icon: '‖', meaning: 'a human gate waits for a decision' },
  succeeded: { label: 'succeeded', tone: green, icon: '✓', meaning: 'every step passed' },
  failed: { label: 'failed', tone: red, icon: '✗', meaning: 'a step failed after its retries' },
  cancelled: { label: 'cancelled', tone: grey, icon: '■', meaning: 'cancelled by a person' },
};

/** Each step state's words and colours. */
export const STEP_STATES: Record<StepStatus, Look> = {
  pending: { label: 'pending', tone: grey, icon: '○', meaning: 'not started yet' },
  running: { label: 'running', tone: blue, icon: '▶', meaning: 'its agent is at work' },
  verifying: { label: 'verifying', tone: indigo, icon: '⋯', meaning: 'its verify command runs' },
  waiting_gate: { label: 'waiting for approval', tone: amber, icon: '‖', meaning: 'waits for a person to approve or reject' },
  succeeded: { label: 'succeeded', tone: green, icon: '✓', meaning: 'passed' },
  failed: { label: 'failed', tone: red, icon: '✗', meaning: 'failed' },
  skipped: { label: 'skipped', tone: grey, icon: '–', meaning: 'not run' },
};

/** Where a definition comes from, in words. */
export const SOURCES: Record<DefinitionSource, { label: string; meaning: string }> = {
  builtin: { label: 'built-in', meaning: 'shipped with Paddock' },
  file: { label: 'file', meaning: 'a file in the data directory’s workflows/' },
  config: { label: 'paddock.toml', meaning: 'a [[workflows]] table of paddock.toml' },
  api: { label: 'API', meaning: 'saved through the dashboard or the API: editable here' },
};

export const KIND_LABELS: Record<StepKind, string> = {
  agent: 'agent',
  gate: 'human gate',
  fanout: 'fan-out',
  merge: 'merge',
};

/** Whether a run may still change (and be cancelled). */
export function isActive(status: WorkflowRunStatus): boolean {
  return status === 'running' || status === 'waiting_gate';
}

/** The kind of a step of a definition (one of template, gate, fanout, merge). */
export function kindOf(s: StepDef): StepKind {
  if (s.gate) return 'gate';
  if (s.fanout) return 'fanout';
  if (s.merge) return 'merge';
  return 'agent';
}

/** One link of a definition's chain: the step's id and a short note of what it is. */
export interface ChainLink {
  id: string;
  kind: StepKind;
  note: string;
}

/** A definition's steps as a chain: `plan (planner) → test (coder, verify) → approve (gate) → …`. */
export function chainOf(def: Pick<WorkflowDef, 'steps'>): ChainLink[] {
  return def.steps.map((s) => {
    const kind = kindOf(s);
    let note: string;
    switch (kind) {
      case 'gate':
        note = 'human gate';
        break;
      case 'fanout':
        note = s.fanout?.template ? `fan-out · ${s.fanout.template}` : 'fan-out';
        break;
      case 'merge':
        note = 'merge';
        break;
      default:
        note = [s.template ?? (s.agent ? 'inline agent' : null), s.verify ? 'verify' : null, s.workspace === 'run_read_only' ? 'read-only' : null]
          .filter(Boolean)
          .join(', ');
    }
    return { id: s.id, kind, note };
  });
}

/** Runs newest first. */
export function newestFirst<T extends { created_at: string }>(runs: T[]): T[] {
  return [...runs].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
}

/** How long something took, or has taken until `now` (null: not started). */
export function elapsed(start: string | null | undefined, end: string | null | undefined, now: number): number | null {
  if (!start) return null;
  const t0 = Date.parse(start);
  const t1 = end ? Date.parse(end) : now;
  if (Number.isNaN(t0) || Number.isNaN(t1)) return null;
  return Math.max(0, t1 - t0);
}

/** What a run is started with: the definition's inputs, each with its default (a required one starts empty). */
export function inputDefaults(def: Pick<WorkflowDef, 'inputs'>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const i of def.inputs ?? []) out[i.name] = i.default ?? '';
  return out;
}

/** Whether an input must be given (the contract: required unless it has a default, or says `required: false`). */
export function isRequired(i: { required?: boolean | null; default?: string | null }): boolean {
  return i.required ?? (i.default === undefined || i.default === null);
}

/** The inputs to send: every filled one, and the names of required ones left empty. */
export function inputsToSend(def: Pick<WorkflowDef, 'inputs'>, values: Record<string, string>): { inputs: Record<string, string>; missing: string[] } {
  const inputs: Record<string, string> = {};
  const missing: string[] = [];
  for (const i of def.inputs ?? []) {
    const v = values[i.name] ?? '';
    if (v !== '') inputs[i.name] = v;
    else if (isRequired(i)) missing.push(i.name);
  }
  return { inputs, missing };
}

/** One agent a step made: a fan-out's carry their item. */
export interface StepAgent {
  id: string;
  /** The fan-out item's index (0-based), if any. */
  item: number | null;
  itemText: string | null;
  /** Which pass through the step made it (1-based; a jump back starts a new one). */
  iteration: number;
}

/** Something that happened to a step besides its start and end: a retry or a jump back. */
export interface StepNote {
  seq: number;
  ts: string;
  text: string;
}

/** A step as the run view draws it. */
export interface TimelineStep {
  id: string;
  kind: StepKind;
  status: StepStatus;
  /** The step the run is in (`current_step`). */
  current: boolean;
  view: StepView | null;
  /** The agents of the step's latest pass, fan-out items in item order. */
  agents: StepAgent[];
  /** The agents of earlier passes and attempts (kept for their logs). */
  earlier: StepAgent[];
  notes: StepNote[];
  /** The step's definition, when known (the run's snapshot). */
  def: StepDef | null;
}

/** The definition a run was started with (its `workflow.started` event's snapshot), if the log holds it. */
export function snapshotOf(events: WorkflowEvent[]): WorkflowDef | null {
  for (const e of events) if (e.type === 'workflow.started' && Array.isArray(e.data.definition?.steps)) return e.data.definition;
  return null;
}

/**
 * A run's steps, in the definition's order: the server's view of each
 * (status, attempts, time, cost, verify, gate), the agents each made (from
 * `step.agent` events: a fan-out's items side by side, earlier passes
 * apart) and its retries and jumps back. Steps the view does not list yet
 * come from the definition, pending.
 */
export function buildTimeline(run: WorkflowRunView, events: WorkflowEvent[], def: WorkflowDef | null): TimelineStep[] {
  const order: string[] = [];
  const seen = new Set<string>();
  const add = (id: string) => {
    if (!seen.has(id)) {
      seen.add(id);
      order.push(id);
    }
  };
  for (const s of def?.steps ?? []) add(s.id);
  for (const s of run.steps) add(s.id);

  const pass = new Map<string, number>();
  const agents = new Map<string, StepAgent[]>();
  const notes = new Map<string, StepNote[]>();
  const note = (step: string, e: WorkflowEvent, text: string) => {
    const list = notes.get(step) ?? [];
    list.push({ seq: e.seq, ts: e.ts, text });
    notes.set(step, list);
  };
  for (const e of [...events].sort((a, b) => a.seq - b.seq)) {
    switch (e.type) {
      case 'step.started':
        pass.set(e.data.step, e.data.iteration || 1);
        break;
      case 'step.agent': {
        const { step, agent_id: id } = e.data;
        const list = agents.get(step) ?? [];
        if (!list.some((a) => a.id === id)) list.push({ id, item: e.data.item ?? null, itemText: e.data.item_text ?? null, iteration: pass.get(step) ?? 1 });
        agents.set(step, list);
        break;
      }
      case 'step.retry':
        note(e.data.step, e, `Retried (attempt ${e.data.attempt}): ${e.data.reason}`);
        break;
      case 'step.goto':
        note(e.data.step, e, `Went back to ${e.data.to} (jump ${e.data.count})`);
        break;
      case 'attempt.started': {
        const { step, agent_id: id } = e.data;
        const list = agents.get(step) ?? [];
        if (!list.some((a) => a.id === id)) list.push({ id, item: null, itemText: null, iteration: pass.get(step) ?? 1 });
        agents.set(step, list);
        break;
      }
      case 'attempt.retry':
        note(e.data.step, e, `Attempt ${e.data.attempt} retried (round ${e.data.round}): ${e.data.reason}`);
        break;
      default:
        break;
    }
  }

  const views = new Map(run.steps.map((s) => [s.id, s]));
  const defs = new Map((def?.steps ?? []).map((s) => [s.id, s]));
  return order.map((id) => {
    const view = views.get(id) ?? null;
    const d = defs.get(id) ?? null;
    const made = agents.get(id) ?? [];
    // Agents the view names that no event of the page read so far does.
    for (const a of view?.agents ?? []) if (!made.some((m) => m.id === a)) made.push({ id: a, item: null, itemText: null, iteration: view?.iteration ?? 1 });
    const latest = made.reduce((n, a) => Math.max(n, a.iteration), 0);
    const now = made.filter((a) => a.iteration === latest);
    // A retried step asks the same agent again; a jump back makes new ones.
    const current = now.sort((a, b) => (a.item ?? -1) - (b.item ?? -1));
    return {
      id,
      kind: view?.kind ?? (d ? kindOf(d) : 'agent'),
      status: view?.status ?? 'pending',
      current: run.current_step === id,
      view,
      agents: current,
      earlier: made.filter((a) => a.iteration !== latest),
      notes: notes.get(id) ?? [],
      def: d,
    };
  });
}

/** The gate waiting for a decision, if any. */
export function pendingGate(run: WorkflowRunView): StepView | null {
  return run.steps.find((s) => s.status === 'waiting_gate' && s.gate) ?? null;
}

/** A run's headline figures: done steps of all, and what it spent. */
export function progress(steps: TimelineStep[]): { done: number; total: number } {
  return { done: steps.filter((s) => s.status === 'succeeded' || s.status === 'skipped').length, total: steps.length };
}

/** A gate's diff: the summary the server puts before the patch (if any), and the patch. */
export function splitGateDiff(diff: string): { summary: string; patch: string } {
  const lines = diff.split('\n');
  const at = lines.findIndex((l) => l.startsWith('diff --git ') || l.startsWith('--- '));
  if (at < 0) return { summary: diff.trim(), patch: '' };
  return { summary: lines.slice(0, at).join('\n').trim(), patch: lines.slice(at).join('\n') };
}
