import { describe, expect, it } from 'vitest';
import type { AttemptResult, EvalTotals, InstanceResult } from '../api/types';
import { countByStatus, failingTests, instanceStatusText, keptAttempt, pct, points, progressOf, rateOf, rateText, testCounts, verdict, wilson } from './evals';

const TOTALS: EvalTotals = {
  instances: 6,
  finished: 5,
  resolved: 2,
  unresolved: 2,
  not_evaluated: 0,
  limit_hit: 0,
  errors: 1,
  resolved_rate: 0.5,
  cost_usd: 0.5,
  input_tokens: 100,
  output_tokens: 10,
};

function attempt(n: number, over: Partial<AttemptResult> = {}): AttemptResult {
  return { attempt: n, agent_id: `a${n}`, status: 'unresolved', patch: `p${n}`, input_tokens: 0, output_tokens: 0, cost_usd: 0, turns: 1, wall_ms: 1, ...over };
}

function result(over: Partial<InstanceResult>): InstanceResult {
  return {
    instance_id: 'x',
    status: 'unresolved',
    evaluation: 'local',
    attempts: [],
    input_tokens: 0,
    output_tokens: 0,
    cost_usd: 0,
    turns: 0,
    wall_ms: 0,
    patch_bytes: 0,
    finished_at: '2026-01-01T00:00:00Z',
    ...over,
  };
}

describe('wilson', () => {
  it('matches known 95 % score intervals', () => {
    const a = wilson(8, 10)!;
    expect(a.rate).toBe(0.8);
    expect(a.low).toBeCloseTo(0.4902, 4);
    expect(a.high).toBeCloseTo(0.9433, 4);
    const b = wilson(2, 4)!;
    expect(b.low).toBeCloseTo(0.15, 3);
    expect(b.high).toBeCloseTo(0.85, 3);
    // The ends stay in [0, 1].
    expect(wilson(0, 3)!.low).toBe(0);
    expect(wilson(3, 3)!.high).toBe(1);
    expect(wilson(0, 0)).toBeNull();
  });

  it('takes a run’s rate over finished instances minus errors', () => {
    const w = rateOf(TOTALS)!;
    expect(w.rate).toBe(0.5);
    expect(rateText(w)).toBe('50 % (15–85 %)');
    expect(rateOf({ ...TOTALS, finished: 1, errors: 1 })).toBeNull();
    expect(rateText(null)).toBe('—');
  });
});

describe('words and figures', () => {
  it('says percentages and points', () => {
    expect(pct(0.625)).toBe('62.5 %');
    expect(pct(1)).toBe('100 %');
    expect(pct(undefined)).toBe('—');
    expect(points(0.25)).toBe('+25.0 pts');
    expect(points(-0.1)).toBe('−10.0 pts');
    expect(points(0)).toBe('±0.0 pts');
  });

  it('names an error’s kind and a limit', () => {
    expect(instanceStatusText({ status: 'error', error_kind: 'repo_missing' })).toBe('error (repository missing)');
    expect(instanceStatusText({ status: 'limit_hit', limit: 'cost' })).toBe('limit hit (cost limit)');
    expect(instanceStatusText({ status: 'not_evaluated' })).toBe('not evaluated');
  });

  it('reads the progress', () => {
    expect(progressOf(TOTALS)).toBeCloseTo(5 / 6);
    expect(progressOf({ ...TOTALS, instances: 0, finished: 0 })).toBe(0);
  });

  it('says whether a difference is clear', () => {
    expect(verdict({ delta: 0.4, low: 0.05, high: 0.7 }, 'A', 'B')).toMatch(/^B resolves more than A/);
    expect(verdict({ delta: -0.4, low: -0.7, high: -0.05 }, 'A', 'B')).toMatch(/^B resolves fewer than A/);
    expect(verdict({ delta: 0.2, low: -0.2, high: 0.5 }, 'A', 'B')).toMatch(/^No clear difference/);
  });
});

describe('an instance', () => {
  it('keeps the attempt it names, else its last', () => {
    const r = result({ kept_attempt: 2, attempts: [attempt(1), attempt(2, { status: 'resolved' }), attempt(3)] });
    expect(keptAttempt(r)?.patch).toBe('p2');
    expect(keptAttempt(result({ attempts: [attempt(1), attempt(2)] }))?.patch).toBe('p2');
    expect(keptAttempt(result({ attempts: [] }))).toBeNull();
  });

  it('lists its failing tests, FAIL_TO_PASS first, and counts the passing ones', () => {
    const a = attempt(1, { tests: { FAIL_TO_PASS: { t_fix: false, t_ok: true }, PASS_TO_PASS: { t_old: false, t_keep: true } } });
    expect(failingTests(a)).toEqual([
      { name: 't_fix', group: 'FAIL_TO_PASS' },
      { name: 't_old', group: 'PASS_TO_PASS' },
    ]);
    expect(testCounts(a)).toEqual({ passed: 2, total: 4 });
    expect(failingTests(attempt(1))).toEqual([]);
    expect(testCounts(attempt(1))).toBeNull();
  });

  it('counts results by status', () => {
    const c = countByStatus([result({ status: 'resolved' }), result({ status: 'resolved' }), result({ status: 'error' })]);
    expect(c).toEqual({ resolved: 2, unresolved: 0, not_evaluated: 0, limit_hit: 0, error: 1 });
  });
});
