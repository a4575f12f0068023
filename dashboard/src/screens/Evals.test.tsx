// @vitest-environment jsdom
// The Evaluations screens over a stubbed API: the empty state naming the
// command that starts one, the runs' table (progress, rate with its
// interval, "not evaluated"), a run's results filtered by status with an
// instance opened (its failing tests and its patch), the predictions'
// download link, and the comparison of two runs.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router-dom';
import type { EvalComparison, EvalRunView, InstanceResult } from '../api/types';
import { EvalsScreen } from './Evals';
import { EvalRunScreen } from './EvalRun';
import { EvalCompareScreen } from './EvalCompare';

const SPEC = {
  tasks_file: 'tasks.jsonl',
  instances: 4,
  template: 'coder',
  model: 'scripted/scripted',
  model_name: 'scripted/scripted',
  workers: 2,
  attempts: 1,
  max_steps: 250,
  max_cost_per_instance_usd: 3,
  max_wall_time_secs: 1800,
  evaluation: 'local',
  out_dir: '/tmp/out',
} as EvalRunView['spec'];

const TOTALS = {
  instances: 4,
  finished: 4,
  resolved: 2,
  unresolved: 1,
  not_evaluated: 0,
  limit_hit: 0,
  errors: 1,
  resolved_rate: 2 / 3,
  cost_usd: 0.04,
  input_tokens: 4000,
  output_tokens: 400,
};

const PATCH = 'diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1 +1 @@\n-return a - b\n+return a + b\n';

function result(id: string, over: Partial<InstanceResult>): InstanceResult {
  return {
    instance_id: id,
    status: 'resolved',
    evaluation: 'local',
    kept_attempt: 1,
    attempts: [
      {
        attempt: 1,
        agent_id: `agent-${id}`,
        status: over.status ?? 'resolved',
        patch: PATCH,
        input_tokens: 1000,
        output_tokens: 100,
        cost_usd: 0.01,
        turns: 2,
        wall_ms: 1500,
        tests: { FAIL_TO_PASS: { test_add: over.status !== 'unresolved' }, PASS_TO_PASS: { test_sub: true } },
      },
    ],
    input_tokens: 1000,
    output_tokens: 100,
    cost_usd: 0.01,
    turns: 2,
    wall_ms: 1500,
    patch_bytes: PATCH.length,
    finished_at: '2026-01-01T00:01:00Z',
    ...over,
  };
}

const RUN: EvalRunView = {
  id: 'run-b',
  name: 'coder-better',
  owner: 'local',
  status: 'finished',
  spec: SPEC,
  totals: TOTALS,
  created_at: '2026-01-02T00:00:00Z',
  updated_at: '2026-01-02T00:05:00Z',
  finished_at: '2026-01-02T00:05:00Z',
  results: [
    result('py__calc-1', {}),
    result('py__calc-2', { status: 'unresolved', message: 'FAIL_TO_PASS test_add failed' }),
    result('sh__greet-1', {}),
    result('sh__missing-1', { status: 'error', error_kind: 'repo_missing', attempts: [], kept_attempt: null, patch_bytes: 0, cost_usd: 0 }),
  ],
};

const OLDER: EvalRunView = {
  ...RUN,
  id: 'run-a',
  name: 'coder-worse',
  status: 'running',
  spec: { ...SPEC, evaluation: 'none' },
  totals: { ...TOTALS, finished: 1, resolved: 0, unresolved: 0, not_evaluated: 1, errors: 0, resolved_rate: null },
  created_at: '2026-01-01T00:00:00Z',
  results: null,
};

const COMPARISON: EvalComparison = {
  a: {
    id: 'run-a',
    name: 'coder-worse',
    model_name: 'm-a',
    evaluation: 'local',
    rate: { resolved: 1, counted: 3, rate: 1 / 3, low: 0.0615, high: 0.7923 },
    cost_usd: 0.03,
    cost_per_resolved_usd: 0.03,
    input_tokens: 3000,
    output_tokens: 300,
    errors: 1,
  },
  b: {
    id: 'run-b',
    name: 'coder-better',
    model_name: 'm-b',
    evaluation: 'local',
    rate: { resolved: 2, counted: 3, rate: 2 / 3, low: 0.20765, high: 0.93851 },
    cost_usd: 0.03,
    cost_per_resolved_usd: 0.015,
    input_tokens: 3000,
    output_tokens: 300,
    errors: 1,
  },
  common: 4,
  only_in_a: [],
  only_in_b: [],
  wins: [],
  losses: ['sh__greet-1'],
  difference: { delta: 1 / 3, low: -0.27, high: 0.73 },
  instances: [
    { instance_id: 'py__calc-1', a: 'resolved', b: 'resolved', a_cost_usd: 0.01, b_cost_usd: 0.01 },
    { instance_id: 'sh__greet-1', a: 'unresolved', b: 'resolved', a_cost_usd: 0.01, b_cost_usd: 0.01 },
  ],
};

type Answer = () => Response;

function Where() {
  return <p data-testid="where">{useLocation().pathname}</p>;
}

function renderAt(path: string, answers: Record<string, Answer>) {
  vi.stubGlobal('fetch', (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const key = `${init?.method ?? 'GET'} ${url.split('?')[0]}`;
    const answer = answers[key];
    if (answer) return Promise.resolve(answer());
    return Promise.resolve(Response.json({ error: { code: 'not_found', message: `no evaluation run with id \`${key}\`` } }, { status: 404 }));
  });
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={qc}>
      <MemoryRouter initialEntries={[path]}>
        <Where />
        <Routes>
          <Route path="/evals" element={<EvalsScreen />} />
          <Route path="/evals/compare/:a/:b" element={<EvalCompareScreen />} />
          <Route path="/evals/:id" element={<EvalRunScreen />} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

beforeEach(() => {
  HTMLDialogElement.prototype.showModal ??= function (this: HTMLDialogElement) {
    this.setAttribute('open', '');
  };
  HTMLDialogElement.prototype.close ??= function (this: HTMLDialogElement) {
    this.removeAttribute('open');
  };
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe('EvalsScreen', () => {
  it('says how to start an evaluation when there is none', async () => {
    renderAt('/evals', { 'GET /api/evals': () => Response.json([]) });
    const empty = await screen.findByTestId('empty-state');
    expect(empty.textContent).toContain('No evaluations yet');
    expect(within(empty).getByTestId('eval-start-command').textContent).toMatch(/^paddock eval run --tasks .* --out /);
  });

  it('lists runs newest first: progress, rate with its interval, and "not evaluated" said plainly', async () => {
    renderAt('/evals', { 'GET /api/evals': () => Response.json([OLDER, { ...RUN, results: null }]) });
    await waitFor(() => expect(screen.getAllByTestId('eval-row').length).toBe(2));
    const [newer, older] = screen.getAllByTestId('eval-row');
    expect(within(newer).getByRole('link').textContent).toBe('coder-better');
    expect(within(newer).getByTestId('eval-status').textContent).toContain('finished');
    // 2 of 3 counted (the error is not): 66.7 % with its Wilson interval.
    expect(within(newer).getByTestId('eval-rate').textContent).toBe('66.7 % (20.8–93.9 %) 2/3');
    expect(within(newer).getByTestId('eval-evaluation').textContent).toBe('local tests');
    expect(within(newer).getByRole('progressbar').getAttribute('aria-valuetext')).toBe('4 of 4 instances finished');
    expect(within(older).getByTestId('eval-status').textContent).toContain('running');
    expect(within(older).getByTestId('eval-evaluation').textContent).toBe('not evaluated');
    expect(within(older).getByTestId('eval-progress').textContent).toBe('1/4');
  });

  it('opens the comparison of the two runs picked', async () => {
    renderAt('/evals', { 'GET /api/evals': () => Response.json([OLDER, { ...RUN, results: null }]) });
    const b = await screen.findByTestId('compare-b');
    expect((screen.getByTestId('compare-a') as HTMLSelectElement).value).toBe('run-a');
    expect((b as HTMLSelectElement).value).toBe('run-b');
    fireEvent.click(screen.getByRole('button', { name: 'Compare' }));
    await waitFor(() => expect(screen.getByTestId('where').textContent).toBe('/evals/compare/run-a/run-b'));
  });
});

describe('EvalRunScreen', () => {
  it('shows the totals, the results filtered by status and an instance’s failing tests and patch', async () => {
    renderAt('/evals/run-b', { 'GET /api/evals/run-b': () => Response.json(RUN) });
    await waitFor(() => expect(screen.getAllByTestId('result-row').length).toBe(4));
    expect(screen.getByTestId('eval-totals').textContent).toContain('2 of 3');
    expect(screen.getByTestId('eval-totals').textContent).toContain('66.7 % (20.8–93.9 %)');
    const link = screen.getByTestId('download-predictions');
    expect(link.getAttribute('href')).toBe('/api/evals/run-b/predictions');
    const error = screen.getAllByTestId('result-row').find((r) => r.getAttribute('data-instance') === 'sh__missing-1')!;
    expect(within(error).getByTestId('instance-status').textContent).toContain('error (repository missing)');

    const filter = screen.getByTestId('status-filter');
    fireEvent.click(within(filter).getByRole('button', { name: 'unresolved (1)' }));
    const rows = screen.getAllByTestId('result-row');
    expect(rows.map((r) => r.getAttribute('data-instance'))).toEqual(['py__calc-2']);
    expect(within(filter).getByRole('button', { name: 'unresolved (1)' }).getAttribute('aria-pressed')).toBe('true');

    fireEvent.click(within(rows[0]).getByRole('button', { name: /Open py__calc-2/ }));
    const detail = await screen.findByTestId('instance-detail');
    expect(within(detail).getByTestId('instance-message').textContent).toBe('FAIL_TO_PASS test_add failed');
    expect(
      within(detail)
        .getAllByTestId('failing-test')
        .map((t) => t.textContent),
    ).toEqual(['test_add (FAIL_TO_PASS) failed']);
    expect(within(detail).getByTestId('diff').textContent).toContain('+return a + b');
  });

  it('says plainly when a run was not evaluated', async () => {
    renderAt('/evals/run-a', { 'GET /api/evals/run-a': () => Response.json({ ...OLDER, results: [] }) });
    expect((await screen.findByTestId('not-evaluated')).textContent).toContain('Not evaluated');
    expect(screen.getByText('No instance has finished yet.')).toBeTruthy();
  });

  it('says so when the run does not exist', async () => {
    renderAt('/evals/nope', {});
    expect((await screen.findByText('No such evaluation run')).tagName).toBe('H1');
  });
});

describe('EvalCompareScreen', () => {
  it('shows both rates with their intervals, the difference and what it says, wins and losses', async () => {
    renderAt('/evals/compare/run-a/run-b', {
      'GET /api/evals/run-a/compare/run-b': () => Response.json(COMPARISON),
      'GET /api/evals': () => Response.json([OLDER, { ...RUN, results: null }]),
    });
    const a = await screen.findByTestId('compare-side-a');
    expect(a.textContent).toContain('33.3 % (6.2–79.2 %)');
    expect(a.textContent).toContain('$0.03');
    const b = screen.getByTestId('compare-side-b');
    expect(b.textContent).toContain('66.7 % (20.8–93.9 %)');
    // Cost per resolved: $0.015.
    expect(b.textContent).toContain('$0.01');
    expect(screen.getByTestId('compare-delta').textContent).toBe('+33.3 pts');
    expect(screen.getByTestId('compare-verdict').textContent).toMatch(/^No clear difference/);
    expect(screen.getByTestId('compare-losses').textContent).toBe('sh__greet-1');
    const rows = screen.getAllByTestId('compare-row');
    expect(rows.map((r) => r.lastElementChild?.textContent)).toEqual(['same', 'B only']);
  });

  it('shows the API’s refusal', async () => {
    renderAt('/evals/compare/run-a/nope', { 'GET /api/evals': () => Response.json([]) });
    expect((await screen.findByRole('alert')).textContent).toContain('no evaluation run');
  });
});
