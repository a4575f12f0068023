import { describe, expect, it } from 'vitest';
import type { StepView, WorkflowDef, WorkflowEvent, WorkflowRunView } from '../api/types';
import {
  buildTimeline,
  chainOf,
  elapsed,
  inputDefaults,
  inputsToSend,
  isActive,
  newestFirst,
  pendingGate,
  progress,
  snapshotOf,
  splitGateDiff,
} from './workflow';

const DEF: WorkflowDef = {
  name: 'pit',
  description: 'plan, fix each, test, approve, merge',
  inputs: [
    { name: 'task', description: 'what to build', required: true },
    { name: 'repo', default: '.' },
    { name: 'note', required: false },
  ],
  steps: [
    { id: 'plan', template: 'planner', prompt: 'Plan {{inputs.task}}', workspace: 'run_read_only' },
    { id: 'fix', fanout: { over: '{{steps.plan.output}}', template: 'coder', prompt: 'Do {{item}}' } },
    { id: 'test', template: 'coder', prompt: 'Test', verify: { command: 'make test' }, retries: 2, on_failure: { goto: 'fix', max: 1 } },
    { id: 'approve', gate: { message: 'Merge?' } },
    { id: 'merge', merge: true },
  ],
} as unknown as WorkflowDef;

function step(over: Partial<StepView> & { id: string }): StepView {
  return { kind: 'agent', status: 'pending', attempts: 0, iteration: 1, agents: [], cost_usd: 0, ...over } as StepView;
}

function run(over: Partial<WorkflowRunView> = {}): WorkflowRunView {
  return {
    id: 'r1',
    workflow: 'pit',
    owner: 'local',
    status: 'running',
    inputs: { task: 't' },
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:01:00Z',
    last_seq: 0,
    cost_usd: 0,
    steps: [],
    ...over,
  } as unknown as WorkflowRunView;
}

let seq = 0;
function ev(type: string, data: Record<string, unknown>): WorkflowEvent {
  seq += 1;
  return { seq, run_id: 'r1', ts: new Date(seq * 1000).toISOString(), type, data } as unknown as WorkflowEvent;
}

describe('definitions', () => {
  it('draws the chain of steps with what each is', () => {
    expect(chainOf(DEF)).toEqual([
      { id: 'plan', kind: 'agent', note: 'planner, read-only' },
      { id: 'fix', kind: 'fanout', note: 'fan-out · coder' },
      { id: 'test', kind: 'agent', note: 'coder, verify' },
      { id: 'approve', kind: 'gate', note: 'human gate' },
      { id: 'merge', kind: 'merge', note: 'merge' },
    ]);
  });

  it('starts the run form with defaults and refuses empty required inputs', () => {
    expect(inputDefaults(DEF)).toEqual({ task: '', repo: '.', note: '' });
    expect(inputsToSend(DEF, { task: '', repo: '.', note: '' })).toEqual({ inputs: { repo: '.' }, missing: ['task'] });
    expect(inputsToSend(DEF, { task: 'x', repo: '', note: 'n' })).toEqual({ inputs: { task: 'x', note: 'n' }, missing: [] });
  });
});

describe('runs', () => {
  it('orders runs newest first, says which are active, measures time', () => {
    const a = run({ id: 'a', created_at: '2026-01-01T00:00:00Z' });
    const b = run({ id: 'b', created_at: '2026-01-02T00:00:00Z' });
    expect(newestFirst([a, b]).map((r) => r.id)).toEqual(['b', 'a']);
    expect(isActive('running')).toBe(true);
    expect(isActive('waiting_gate')).toBe(true);
    expect(isActive('cancelled')).toBe(false);
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    expect(elapsed('2026-01-01T00:00:00Z', '2026-01-01T00:00:05Z', 0)).toBe(5000);
    expect(elapsed('2026-01-01T00:00:00Z', null, t0 + 2000)).toBe(2000);
    expect(elapsed(null, null, t0)).toBeNull();
  });

  it('finds the definition snapshot in the log', () => {
    expect(snapshotOf([ev('workflow.started', { workflow: 'pit', definition: DEF, inputs: {} })])?.steps.length).toBe(5);
    expect(snapshotOf([ev('workflow.started', { workflow: 'pit', definition: 'nope' })])).toBeNull();
    expect(snapshotOf([])).toBeNull();
  });
});

describe('buildTimeline', () => {
  it('lists every step of the definition in order, pending ones too, and marks the current one', () => {
    const r = run({ current_step: 'plan', steps: [step({ id: 'plan', status: 'running', attempts: 1, agents: ['a-plan'] })] });
    const tl = buildTimeline(r, [], DEF);
    expect(tl.map((s) => [s.id, s.kind, s.status, s.current])).toEqual([
      ['plan', 'agent', 'running', true],
      ['fix', 'fanout', 'pending', false],
      ['test', 'agent', 'pending', false],
      ['approve', 'gate', 'pending', false],
      ['merge', 'merge', 'pending', false],
    ]);
    // The view's agents show even before the log is read.
    expect(tl[0].agents).toEqual([{ id: 'a-plan', item: null, itemText: null, iteration: 1 }]);
    expect(progress(tl)).toEqual({ done: 0, total: 5 });
  });

  it('puts a fan-out’s items side by side in item order, and a jump back’s new agents apart from the earlier ones', () => {
    const events = [
      ev('workflow.started', { workflow: 'pit', definition: DEF, inputs: {} }),
      ev('step.started', { step: 'plan', attempt: 1, iteration: 1 }),
      ev('step.agent', { step: 'plan', agent_id: 'p1' }),
      ev('step.finished', { step: 'plan', status: 'succeeded', cost_usd: 0.1 }),
      ev('step.started', { step: 'fix', attempt: 1, iteration: 1 }),
      ev('step.agent', { step: 'fix', agent_id: 'f1', item: 1, item_text: 'second' }),
      ev('step.agent', { step: 'fix', agent_id: 'f0', item: 0, item_text: 'first' }),
      ev('step.finished', { step: 'fix', status: 'succeeded', cost_usd: 0.2 }),
      ev('step.started', { step: 'test', attempt: 1, iteration: 1 }),
      ev('step.agent', { step: 'test', agent_id: 't1' }),
      ev('verify.finished', { step: 'test', attempt: 1, exit_code: 1, output: 'FAIL' }),
      ev('step.retry', { step: 'test', attempt: 2, reason: 'make test exited 1' }),
      ev('step.started', { step: 'test', attempt: 2, iteration: 1 }),
      ev('step.goto', { step: 'test', to: 'fix', count: 1 }),
      ev('step.started', { step: 'fix', attempt: 1, iteration: 2 }),
      ev('step.agent', { step: 'fix', agent_id: 'f2', item: 0, item_text: 'first' }),
      // A repeated event (a page read twice) changes nothing.
      ev('step.agent', { step: 'fix', agent_id: 'f2', item: 0, item_text: 'first' }),
    ];
    const r = run({
      current_step: 'fix',
      steps: [
        step({ id: 'plan', status: 'succeeded', agents: ['p1'] }),
        step({ id: 'fix', kind: 'fanout', status: 'running', iteration: 2, agents: ['f0', 'f1', 'f2'] }),
        step({ id: 'test', status: 'failed', attempts: 2, agents: ['t1'] }),
      ],
    });
    const tl = buildTimeline(r, events, snapshotOf(events));
    const fix = tl[1];
    expect(fix.agents.map((a) => [a.id, a.item, a.itemText])).toEqual([['f2', 0, 'first']]);
    expect(fix.earlier.map((a) => a.id)).toEqual(['f1', 'f0']);
    const test = tl[2];
    expect(test.agents.map((a) => a.id)).toEqual(['t1']);
    expect(test.notes.map((n) => n.text)).toEqual(['Retried (attempt 2): make test exited 1', 'Went back to fix (jump 1)']);
    expect(progress(tl)).toEqual({ done: 1, total: 5 });
  });

  it('orders a fan-out’s first pass by item', () => {
    const events = [
      ev('step.started', { step: 'fix', attempt: 1, iteration: 1 }),
      ev('step.agent', { step: 'fix', agent_id: 'b', item: 1, item_text: 'two' }),
      ev('step.agent', { step: 'fix', agent_id: 'a', item: 0, item_text: 'one' }),
    ];
    const tl = buildTimeline(run({ steps: [step({ id: 'fix', kind: 'fanout', status: 'running' })] }), events, null);
    expect(tl.map((s) => s.id)).toEqual(['fix']);
    expect(tl[0].agents.map((a) => a.itemText)).toEqual(['one', 'two']);
  });

  it('finds the gate waiting for a decision', () => {
    const gate = step({ id: 'approve', kind: 'gate', status: 'waiting_gate', gate: { message: 'Merge?', diff: '' } } as Partial<StepView> & { id: string });
    expect(pendingGate(run({ steps: [step({ id: 'plan', status: 'succeeded' }), gate] }))?.id).toBe('approve');
    expect(pendingGate(run({ steps: [step({ id: 'plan', status: 'succeeded' })] }))).toBeNull();
  });
});

describe('splitGateDiff', () => {
  it('keeps the summary before the patch apart from it', () => {
    const patch = 'diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n';
    expect(splitGateDiff(`1 file changed, +1 -1 (against main)\n${patch}`)).toEqual({ summary: '1 file changed, +1 -1 (against main)', patch });
    expect(splitGateDiff(patch)).toEqual({ summary: '', patch });
    expect(splitGateDiff('no changes\n')).toEqual({ summary: 'no changes', patch: '' });
  });
});

describe('best-of-N attempts', () => {
  it('lists each attempt’s agent once and notes an attempt’s retries', () => {
    const r = run({ steps: [step({ id: 'plan', status: 'running', agents: ['a1', 'a2'] })] });
    const events = [
      ev('step.started', { step: 'plan', attempt: 1, iteration: 1 }),
      ev('attempt.started', { step: 'plan', attempt: 1, agent_id: 'a1', workspace_id: 'w1' }),
      ev('attempt.started', { step: 'plan', attempt: 2, agent_id: 'a2', workspace_id: 'w2' }),
      ev('attempt.retry', { step: 'plan', attempt: 2, round: 2, reason: 'the check failed' }),
    ];
    const plan = buildTimeline(r, events, DEF).find((s) => s.id === 'plan');
    expect(plan?.agents.map((a) => a.id)).toEqual(['a1', 'a2']);
    expect(plan?.notes.map((n) => n.text)).toEqual(['Attempt 2 retried (round 2): the check failed']);
  });
});
