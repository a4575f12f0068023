// @vitest-environment jsdom
// The Workflows screen and a run's view, rendered over a stubbed API: the
// empty state naming the built-in example, a definition's chain, the
// editor showing the server's error at its field's line, the run view's
// pipeline (a fan-out's items side by side, a failed verify) and a gate
// approved in place with its reason.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes } from 'react-router-dom';
import type { StepView, WorkflowDefinitionView, WorkflowRunView } from '../api/types';
import { WorkflowsScreen } from './Workflows';
import { WorkflowRunScreen } from './WorkflowRun';

/** A WebSocket that never connects: the screens fall back to polling. */
class QuietWs {
  static OPEN = 1;
  readyState = 0;
  onopen = null;
  onmessage = null;
  onclose = null;
  send() {}
  close() {}
}

const EXAMPLE: WorkflowDefinitionView = {
  name: 'plan-implement-test',
  description: 'plan → implement → test → review → approve → merge',
  source: 'builtin',
  definition: {
    name: 'plan-implement-test',
    inputs: [{ name: 'task', description: 'what to build' }],
    steps: [
      { id: 'plan', template: 'planner', prompt: 'Plan {{inputs.task}}', workspace: 'run_read_only' },
      { id: 'test', template: 'coder', prompt: 'Test', verify: { command: 'make test', timeout_secs: 600 } },
      { id: 'approve', gate: { message: 'Merge?' } },
      { id: 'merge', merge: true },
    ],
  },
} as unknown as WorkflowDefinitionView;

function step(over: Partial<StepView> & { id: string }): StepView {
  return { kind: 'agent', status: 'pending', attempts: 0, iteration: 0, agents: [], cost_usd: 0, ...over } as StepView;
}

const RUN = {
  id: 'run-1',
  name: 'fan-abc',
  workflow: 'fan',
  owner: 'local',
  status: 'waiting_gate',
  inputs: { task: 'tidy up' },
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:01:00Z',
  last_seq: 0,
  cost_usd: 0.25,
  current_step: 'approve',
  steps: [
    step({ id: 'each', kind: 'fanout', status: 'succeeded', attempts: 1, iteration: 1, agents: ['a0', 'a1'], cost_usd: 0.2 }),
    step({
      id: 'test',
      status: 'succeeded',
      attempts: 2,
      iteration: 1,
      agents: ['t'],
      verify: { command: 'make test', attempt: 2, exit_code: 0, output: 'ok' },
    }),
    step({
      id: 'approve',
      kind: 'gate',
      status: 'waiting_gate',
      iteration: 1,
      attempts: 1,
      gate: { message: 'Merge tidy up?', diff: 'diff --git a/x.txt b/x.txt\n--- a/x.txt\n+++ b/x.txt\n@@ -1 +1 @@\n-old\n+new\n' },
    }),
  ],
} as unknown as WorkflowRunView;

const EVENTS = [
  { seq: 1, run_id: 'run-1', ts: '2026-01-01T00:00:00Z', type: 'step.started', data: { step: 'each', attempt: 1, iteration: 1 } },
  { seq: 2, run_id: 'run-1', ts: '2026-01-01T00:00:01Z', type: 'step.agent', data: { step: 'each', agent_id: 'a0', item: 0, item_text: 'rename a' } },
  { seq: 3, run_id: 'run-1', ts: '2026-01-01T00:00:02Z', type: 'step.agent', data: { step: 'each', agent_id: 'a1', item: 1, item_text: 'rename b' } },
];

type Answer = (init: RequestInit | undefined) => Response;
let calls: { url: string; method: string; body: string | null; type: string | null }[];

function renderAt(path: string, answers: Record<string, Answer>) {
  calls = [];
  vi.stubGlobal('fetch', (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const method = init?.method ?? 'GET';
    const headers = (init?.headers ?? {}) as Record<string, string>;
    calls.push({ url, method, body: typeof init?.body === 'string' ? init.body : null, type: headers['Content-Type'] ?? null });
    const key = `${method} ${url.split('?')[0]}`;
    const answer = answers[key];
    if (answer) return Promise.resolve(answer(init));
    if (url.startsWith('/api/agents')) return Promise.resolve(Response.json([]));
    return Promise.resolve(Response.json({ error: { code: 'not_found', message: key } }, { status: 404 }));
  });
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={qc}>
      <MemoryRouter initialEntries={[path]}>
        <Routes>
          <Route path="/workflows" element={<WorkflowsScreen />} />
          <Route path="/workflows/runs/:id" element={<WorkflowRunScreen />} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

beforeEach(() => {
  vi.stubGlobal('WebSocket', QuietWs);
  // jsdom has no modal dialogs.
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

describe('WorkflowsScreen', () => {
  it('says there are no runs and offers the built-in example; shows each definition’s chain and source', async () => {
    renderAt('/workflows', {
      'GET /api/workflows': () => Response.json([EXAMPLE]),
      'GET /api/workflow-runs': () => Response.json([]),
    });
    const empty = await screen.findByTestId('empty-state');
    expect(empty.textContent).toContain('No runs yet');
    expect(empty.textContent).toContain('plan-implement-test');
    const card = await screen.findByTestId('workflow');
    expect(within(card).getByTestId('workflow-source').textContent).toBe('built-in');
    expect(within(card).getByTestId('workflow-chain').textContent).toContain('test · coder, verify');
    // Built-in: no Edit, no Delete.
    expect(within(card).queryByRole('button', { name: /Edit/ })).toBeNull();
  });

  it('lists runs newest first with their state in words', async () => {
    const older = { ...RUN, id: 'old', workflow: 'older', status: 'failed', created_at: '2026-01-01T00:00:00Z' };
    const newer = { ...RUN, id: 'new', workflow: 'newer', status: 'succeeded', created_at: '2026-01-02T00:00:00Z', finished_at: '2026-01-02T00:01:05Z' };
    renderAt('/workflows', {
      'GET /api/workflows': () => Response.json([EXAMPLE]),
      'GET /api/workflow-runs': () => Response.json([older, newer]),
    });
    await waitFor(() => expect(screen.getAllByTestId('run-row').length).toBe(2));
    const rows = screen.getAllByTestId('run-row');
    expect(rows.map((r) => within(r).getByRole('link').textContent)).toEqual(['newer', 'older']);
    expect(within(rows[0]).getByTestId('run-status').textContent).toContain('succeeded');
    expect(rows[0].textContent).toContain('1 min 5 s');
    expect(within(rows[1]).getByTestId('run-status').textContent).toContain('failed');
  });

  it('shows the server’s refusal at the line of the field it names', async () => {
    renderAt('/workflows', {
      'GET /api/workflows': () => Response.json([EXAMPLE]),
      'GET /api/workflow-runs': () => Response.json([]),
      'POST /api/workflows/check': () =>
        Response.json({ error: { code: 'invalid_request', message: 'steps[0].template: no agent template named `nope`' } }, { status: 400 }),
    });
    fireEvent.click(await screen.findByRole('button', { name: 'New workflow' }));
    const area = screen.getByLabelText('Definition (YAML)') as HTMLTextAreaElement;
    fireEvent.change(area, { target: { value: 'name: x\nsteps:\n  - id: a\n    template: nope\n    prompt: hi\n' } });
    fireEvent.click(screen.getByRole('button', { name: 'Check' }));
    const error = await screen.findByTestId('workflow-error');
    expect(within(error).getByTestId('workflow-error-line').textContent).toBe('Line 4: ');
    expect(error.textContent).toContain('steps[0].template: no agent template named `nope`');
    expect(error.textContent).toContain('template: nope');
    const sent = calls.find((c) => c.url === '/api/workflows/check');
    expect(sent?.type).toBe('application/yaml');
    expect(sent?.body).toContain('template: nope');
  });
});

describe('editing a workflow saved through the API', () => {
  it('opens it as YAML and replaces it with PUT', async () => {
    const mine = { ...EXAMPLE, name: 'mine', source: 'api', definition: { ...EXAMPLE.definition, name: 'mine' } } as WorkflowDefinitionView;
    renderAt('/workflows', {
      'GET /api/workflows': () => Response.json([mine]),
      'GET /api/workflow-runs': () => Response.json([]),
      'PUT /api/workflows/mine': () => Response.json(mine),
    });
    fireEvent.click(await screen.findByRole('button', { name: 'Edit mine' }));
    const area = screen.getByLabelText('Definition (YAML)') as HTMLTextAreaElement;
    expect(area.value).toContain('name: mine\n');
    expect(area.value).toContain('  - id: test\n    template: coder\n');
    fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'PUT' && c.url === '/api/workflows/mine')).toBe(true));
    const sent = calls.find((c) => c.method === 'PUT');
    expect(sent?.type).toBe('application/yaml');
    expect(sent?.body).toBe(area.value);
  });
});

describe('WorkflowRunScreen', () => {
  it('draws the steps as a pipeline, fan-out items side by side, the verify and the waiting gate with its diff', async () => {
    renderAt('/workflows/runs/run-1', {
      'GET /api/workflow-runs/run-1': () => Response.json(RUN),
      'GET /api/workflow-runs/run-1/events': () => Response.json({ events: EVENTS, last_seq: 3 }),
      'GET /api/workflows': () => Response.json([]),
    });
    await waitFor(() => expect(screen.getAllByTestId('fanout-item').length).toBe(2));
    const steps = screen.getAllByTestId('step');
    expect(steps.map((s) => s.getAttribute('data-step'))).toEqual(['each', 'test', 'approve']);
    expect(screen.getAllByTestId('fanout-item').map((i) => i.textContent)).toEqual([expect.stringContaining('rename a'), expect.stringContaining('rename b')]);
    expect(within(steps[1]).getByTestId('step-facts').textContent).toContain('attempt 2');
    expect(within(steps[1]).getByTestId('step-verify').textContent).toContain('exit 0 (passed)');
    expect(within(steps[2]).getByTestId('step-status').textContent).toContain('waiting for approval');
    expect(steps[2].getAttribute('aria-current')).toBe('step');
    const gate = screen.getByTestId('gate');
    expect(gate.textContent).toContain('Merge tidy up?');
    expect(within(gate).getByTestId('diff').textContent).toContain('+new');
    expect(screen.getByTestId('run-stats').textContent).toContain('2 of 3');
  });

  it('approves a gate in place, with the reason', async () => {
    renderAt('/workflows/runs/run-1', {
      'GET /api/workflow-runs/run-1': () => Response.json(RUN),
      'GET /api/workflow-runs/run-1/events': () => Response.json({ events: [], last_seq: 0 }),
      'GET /api/workflows': () => Response.json([]),
      'POST /api/workflow-runs/run-1/gates/approve': () => Response.json({ ...RUN, status: 'running' }),
    });
    const gate = await screen.findByTestId('gate');
    fireEvent.change(within(gate).getByLabelText('Reason (optional)'), { target: { value: 'fine' } });
    fireEvent.click(within(gate).getByRole('button', { name: 'Approve' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'POST' && c.url === '/api/workflow-runs/run-1/gates/approve')).toBe(true));
    const sent = calls.find((c) => c.method === 'POST' && c.url === '/api/workflow-runs/run-1/gates/approve');
    expect(JSON.parse(sent?.body ?? '{}')).toEqual({ approved: true, reason: 'fine' });
  });

  it('says so when the run does not exist', async () => {
    renderAt('/workflows/runs/nope', {});
    expect((await screen.findByText('No such workflow run')).tagName).toBe('H1');
  });
});
