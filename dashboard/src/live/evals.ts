// Evaluations, as the dashboard shows them: the words and colours of a
// run's and an instance's status, which evaluation was used in plain words,
// a resolved rate with its 95 % Wilson interval, an instance's kept patch
// and its failing tests, and what the difference of two runs says. Pure
// code, unit-tested.

import type {
  AttemptResult,
  EvalErrorKind,
  EvalLimit,
  EvalRunStatus,
  EvalRunView,
  EvalTotals,
  Evaluation,
  InstanceResult,
  InstanceStatus,
  RateDifference,
} from '../api/types';

import { type Look, amber, blue, green, grey, red } from './look';

const orange = 'bg-orange-100 text-orange-950 dark:bg-orange-900 dark:text-orange-100';

/** Each run status's words and colours (a record: a new status in the API must be named here). */
export const EVAL_RUN_STATES: Record<EvalRunStatus, Look> = {
  running: { label: 'running', tone: blue, icon: '▶', meaning: 'its process is running instances' },
  interrupted: {
    label: 'interrupted',
    tone: amber,
    icon: '‖',
    meaning: 'its process stopped before every instance finished; rerun it with the same --out to continue',
  },
  budget_spent: { label: 'budget spent', tone: amber, icon: '$', meaning: 'stopped: the whole-run budget (--max-cost-usd) was spent' },
  finished: { label: 'finished', tone: green, icon: '✓', meaning: 'every instance has a result' },
};

/** Each instance status's words and colours. */
export const INSTANCE_STATES: Record<InstanceStatus, Look> = {
  resolved: { label: 'resolved', tone: green, icon: '✓', meaning: 'its patch made every FAIL_TO_PASS and PASS_TO_PASS test pass' },
  unresolved: { label: 'unresolved', tone: red, icon: '✗', meaning: 'evaluated, and a test failed (or it made no patch)' },
  not_evaluated: { label: 'not evaluated', tone: grey, icon: '○', meaning: 'it made a patch; no evaluation was asked' },
  limit_hit: { label: 'limit hit', tone: orange, icon: '⏱', meaning: 'a limit (steps, cost, time) ended its agent' },
  error: { label: 'error', tone: red, icon: '!', meaning: 'it could not be run or evaluated; not counted in the resolved rate' },
};

/** The order statuses are offered in the results' filter. */
export const INSTANCE_STATUS_ORDER: InstanceStatus[] = ['resolved', 'unresolved', 'not_evaluated', 'limit_hit', 'error'];

export const ERROR_KINDS: Record<EvalErrorKind, string> = {
  repo_missing: 'repository missing',
  commit_missing: 'commit missing',
  environment: 'environment',
  agent: 'agent failed',
  evaluation: 'evaluation failed',
  host: 'host',
};

export const LIMITS: Record<EvalLimit, string> = {
  steps: 'step limit',
  cost: 'cost limit',
  time: 'time limit',
};

/** Which evaluation was used, said plainly. */
export const EVALUATIONS: Record<Evaluation, { label: string; meaning: string }> = {
  none: { label: 'not evaluated', meaning: 'the patches were written to predictions.jsonl; none was checked' },
  local: { label: 'local tests', meaning: 'FAIL_TO_PASS and PASS_TO_PASS run with each task’s test_cmd in its sandbox' },
  swebench: { label: 'swebench harness', meaning: 'predictions.jsonl checked by the official swebench harness' },
};

/** What an instance's status says in full: `error (repository missing)`, `limit hit (cost limit)`. */
export function instanceStatusText(r: Pick<InstanceResult, 'status' | 'error_kind' | 'limit'>): string {
  const base = INSTANCE_STATES[r.status].label;
  if (r.status === 'error' && r.error_kind) return `${base} (${ERROR_KINDS[r.error_kind]})`;
  if (r.status === 'limit_hit' && r.limit) return `${base} (${LIMITS[r.limit]})`;
  return base;
}

/** Whether the run may still change (polled while so). */
export function isLive(status: EvalRunStatus): boolean {
  return status === 'running';
}

/** A rate in percent, to a tenth: `62.5 %`, `50 %`. */
export function pct(rate: number | null | undefined): string {
  if (rate === null || rate === undefined || Number.isNaN(rate)) return '—';
  return `${(rate * 100).toFixed(1).replace(/\.0$/, '')} %`;
}

/** Percentage points, signed: `+25.0 pts`. */
export function points(delta: number): string {
  const v = delta * 100;
  const s = v > 0 ? '+' : v < 0 ? '−' : '±';
  return `${s}${Math.abs(v).toFixed(1)} pts`;
}

export interface Wilson {
  rate: number;
  low: number;
  high: number;
}

/** The 95 % Wilson score interval of `resolved` out of `counted` (null when nothing is counted). */
export function wilson(resolved: number, counted: number, z = 1.959964): Wilson | null {
  if (counted <= 0) return null;
  const p = resolved / counted;
  const z2 = z * z;
  const denom = 1 + z2 / counted;
  const centre = (p + z2 / (2 * counted)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / counted + z2 / (4 * counted * counted))) / denom;
  return { rate: p, low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

/** Instances in a run's rate's denominator: finished, not errors. */
export function counted(t: EvalTotals): number {
  return Math.max(0, t.finished - t.errors);
}

/** A run's resolved rate with its interval, from its totals (null: nothing counted yet). */
export function rateOf(t: EvalTotals): Wilson | null {
  return wilson(t.resolved, counted(t));
}

/** `50 % (15–85 %)`. */
export function rateText(w: { rate: number; low: number; high: number } | null): string {
  if (!w) return '—';
  return `${pct(w.rate)} (${pct(w.low).replace(' %', '')}–${pct(w.high)})`;
}

/** `finished / instances`, as a fraction for a progress bar (0 when there are no instances). */
export function progressOf(t: EvalTotals): number {
  return t.instances > 0 ? Math.min(1, t.finished / t.instances) : 0;
}

/** The attempt kept for an instance: `kept_attempt`, else its last. */
export function keptAttempt(r: InstanceResult): AttemptResult | null {
  const attempts = r.attempts ?? [];
  if (r.kept_attempt) {
    const kept = attempts.find((a) => a.attempt === r.kept_attempt);
    if (kept) return kept;
  }
  return attempts.length > 0 ? attempts[attempts.length - 1] : null;
}

/** The tests that did not pass in an attempt's evaluation, FAIL_TO_PASS first. */
export function failingTests(a: AttemptResult | null): { name: string; group: 'FAIL_TO_PASS' | 'PASS_TO_PASS' }[] {
  if (!a?.tests) return [];
  const out: { name: string; group: 'FAIL_TO_PASS' | 'PASS_TO_PASS' }[] = [];
  for (const [name, passed] of Object.entries(a.tests.FAIL_TO_PASS ?? {})) if (!passed) out.push({ name, group: 'FAIL_TO_PASS' });
  for (const [name, passed] of Object.entries(a.tests.PASS_TO_PASS ?? {})) if (!passed) out.push({ name, group: 'PASS_TO_PASS' });
  return out;
}

/** How many of an attempt's tests passed, of how many. */
export function testCounts(a: AttemptResult | null): { passed: number; total: number } | null {
  if (!a?.tests) return null;
  const all = [...Object.values(a.tests.FAIL_TO_PASS ?? {}), ...Object.values(a.tests.PASS_TO_PASS ?? {})];
  return { passed: all.filter(Boolean).length, total: all.length };
}

/** How many results have each status. */
export function countByStatus(results: InstanceResult[]): Record<InstanceStatus, number> {
  const out: Record<InstanceStatus, number> = { resolved: 0, unresolved: 0, not_evaluated: 0, limit_hit: 0, error: 0 };
  for (const r of results) out[r.status]++;
  return out;
}

/** What the difference of two rates says, in words (95 %: an interval that excludes zero). */
export function verdict(d: RateDifference, a: string, b: string): string {
  if (d.low > 0) return `${b} resolves more than ${a}: the 95 % interval of the difference is above zero.`;
  if (d.high < 0) return `${b} resolves fewer than ${a}: the 95 % interval of the difference is below zero.`;
  return 'No clear difference: the 95 % interval of the difference includes zero (more instances would narrow it).';
}

/** Runs newest first. */
export function newestFirst(runs: EvalRunView[]): EvalRunView[] {
  return [...runs].sort((x, y) => Date.parse(y.created_at) - Date.parse(x.created_at));
}

/** The model a run used, in words: `--model`, else the router, else the template's (`model_name`). */
export function modelOf(r: EvalRunView): string {
  if (r.spec.model) return r.spec.model;
  if (r.spec.router) return `router ${r.spec.router}`;
  return r.spec.model_name;
}
