import { describe, expect, it } from 'vitest';
import type { AgentEvent } from '../api/types';
import { applyEvents, emptyTimeline, plainOutput, terminalEntries, toolState, type Item } from './timeline';
import { deriveActivity, QUIET_MS } from './activity';

const T0 = Date.parse('2025-01-01T00:00:00Z');
function ev(seq: number, type: string, data: Record<string, unknown>, atMs = seq * 1000): AgentEvent {
  return { seq, agent_id: 'a', ts: new Date(T0 + atMs).toISOString(), type, data } as unknown as AgentEvent;
}
const retry = (seq: number, attempt: number, extra: Record<string, unknown> = { max_attempts: 4, retry_in_ms: 2000 }) =>
  ev(seq, 'error', { code: 'model_retry', message: `model attempt ${attempt} failed (HTTP 503); retrying`, recoverable: true, attempt, ...extra });

function tool(items: Item[], i: number) {
  const t = items[i];
  if (t.kind !== 'tool') throw new Error(`item ${i} is ${t.kind}`);
  return t;
}

describe('retries and errors', () => {
  it('collapses consecutive model retries into one item with a count', () => {
    const tl = applyEvents(emptyTimeline(), [
      ev(1, 'message.user', { text: 'hi' }),
      ev(2, 'agent.status', { status: 'thinking' }),
      retry(3, 1),
      retry(4, 2),
      retry(5, 3),
    ]);
    expect(tl.items.map((i) => i.kind)).toEqual(['user', 'retries']);
    const r = tl.items[1];
    if (r.kind !== 'retries') throw new Error('no retries item');
    expect(r.count).toBe(3);
    expect(r.seq).toBe(3);
    expect(r.messages).toHaveLength(3);
    expect(r.messages[2]).toContain('attempt 3');
    expect(tl.retry).toMatchObject({ attempt: 3, maxAttempts: 4, retryInMs: 2000 });
  });

  it('starts a new retries item after something else happened', () => {
    const tl = applyEvents(emptyTimeline(), [
      ev(1, 'agent.status', { status: 'thinking' }),
      retry(2, 1),
      ev(3, 'message.assistant', { text: 'ok', finish_reason: 'stop' }),
      retry(4, 1),
    ]);
    expect(tl.items.map((i) => i.kind)).toEqual(['retries', 'assistant', 'retries']);
  });

  it('reads old retry events without the structured fields', () => {
    const tl = applyEvents(emptyTimeline(), [ev(1, 'agent.status', { status: 'thinking' }), retry(2, 1, {})]);
    expect(tl.retry).toMatchObject({ maxAttempts: null, retryInMs: null });
  });

  it('clears the retry once text streams, and shows a fatal error once, without the status line repeating it', () => {
    let tl = applyEvents(emptyTimeline(), [ev(1, 'agent.status', { status: 'thinking' }), retry(2, 1)]);
    tl = applyEvents(tl, [ev(2, 'message.delta', { text: 'Hel' })]);
    expect(tl.retry).toBeNull();
    tl = applyEvents(tl, [
      retry(3, 2),
      ev(4, 'error', { code: 'model_failed', message: 'the model call failed: HTTP 503', recoverable: false }),
      ev(5, 'agent.status', { status: 'error', reason: 'the model call failed: HTTP 503' }),
    ]);
    expect(tl.items.map((i) => i.kind)).toEqual(['retries', 'error']);
    expect(tl.failure).toEqual({ code: 'model_failed', message: 'the model call failed: HTTP 503', seq: 4 });
    expect(tl.retry).toBeNull();
    // A retry of the run clears the failure.
    tl = applyEvents(tl, [ev(6, 'agent.status', { status: 'thinking', reason: 'retry requested' })]);
    expect(tl.failure).toBeNull();
  });

  it('keeps status lines with a reason that repeat nothing (an interrupt)', () => {
    const tl = applyEvents(emptyTimeline(), [
      ev(1, 'agent.status', { status: 'thinking' }),
      ev(2, 'agent.status', { status: 'idle', reason: 'interrupted by the user' }),
    ]);
    expect(tl.items.map((i) => i.kind)).toEqual(['status']);
  });
});

describe('tool calls', () => {
  const call = (seq: number, id: string, args: Record<string, unknown>, name = 'execute_bash') =>
    ev(seq, 'tool.call', { call_id: id, tool: name, arguments: args, read_only: false });
  const result = (seq: number, id: string, extra: Record<string, unknown>, name = 'execute_bash') =>
    ev(seq, 'tool.result', { call_id: id, tool: name, success: true, content: 'out', duration_ms: 1200, ...extra });

  it('counts a non-zero exit as a failure, and keeps run time and approval wait apart', () => {
    const tl = applyEvents(emptyTimeline(), [
      call(1, 'c1', { command: 'cargo test' }),
      result(2, 'c1', { exit_code: 1, approval_wait_ms: 34000 }),
      call(3, 'c2', { command: 'ls' }),
      result(4, 'c2', { exit_code: 0 }),
    ]);
    expect(toolState(tool(tl.items, 0))).toEqual({ phase: 'failed', exitCode: 1, runMs: 1200, waitMs: 34000 });
    expect(toolState(tool(tl.items, 1))).toEqual({ phase: 'ok', exitCode: 0, runMs: 1200, waitMs: null });
    expect(tl.usage.toolFailures).toBe(1);
    expect(tl.usage.toolMs).toBe(2400);
  });

  it('says waiting, refused and running', () => {
    const tl = applyEvents(emptyTimeline(), [
      ev(1, 'approval.requested', { call_id: 'w', tool: 'execute_bash', arguments: { command: 'rm -rf x' }, level: 'high', reasons: [], remember: {} }),
      ev(2, 'approval.requested', { call_id: 'r', tool: 'execute_bash', arguments: { command: 'curl x' }, level: 'high', reasons: [], remember: {} }),
      ev(3, 'approval.decided', { call_id: 'r', tool: 'execute_bash', approved: false, status: 'denied', by: 'me' }),
      call(4, 'run', { command: 'sleep 100' }),
    ]);
    expect(tl.items.map((i) => (i.kind === 'tool' ? toolState(i).phase : i.kind))).toEqual(['waiting', 'refused', 'running']);
  });

  it('lists every command in order with its output, not other tools', () => {
    const tl = applyEvents(emptyTimeline(), [
      call(1, 'c1', { command: 'echo hi' }),
      ev(2, 'tool.output', { call_id: 'c1', chunk: 'hi\n', stream: 'stdout' }),
      result(3, 'c1', { content: 'exit 0\nhi', exit_code: 0 }),
      call(4, 'e1', { path: 'a.txt', old_string: 'a', new_string: 'b' }, 'edit_file'),
      result(5, 'e1', {}, 'edit_file'),
      call(6, 'g1', { operation: 'status', args: ['--short'] }, 'git'),
      result(7, 'g1', { content: ' M a.txt', success: false }, 'git'),
      call(8, 'c2', { command: 'make' }),
    ]);
    const list = terminalEntries(tl.items);
    expect(list.map((e) => [e.command, e.output, e.state.phase])).toEqual([
      ['echo hi', 'hi\n', 'ok'],
      ['git status --short', ' M a.txt', 'failed'],
      ['make', '', 'running'],
    ]);
  });

  it('strips terminal escapes and keeps what a carriage return left', () => {
    expect(plainOutput('\x1b[31mred\x1b[0m ok\n10%\r50%\r100%\ndone\r\n\x1b]0;title\x07x')).toBe('red ok\n100%\ndone\nx');
  });
});

describe('deriveActivity', () => {
  const thinking = (more: AgentEvent[] = []) =>
    applyEvents(emptyTimeline(), [ev(1, 'message.user', { text: 'go' }), ev(2, 'agent.status', { status: 'thinking' }), ...more]);

  it('says streaming while deltas arrive, and waiting for the model when they stop', () => {
    const tl = applyEvents(thinking(), [ev(2, 'message.delta', { text: 'Hi' }, 5000)]);
    expect(deriveActivity('thinking', null, tl, T0 + 6000)).toMatchObject({ kind: 'streaming', label: 'streaming' });
    expect(deriveActivity('thinking', null, tl, T0 + 5000 + QUIET_MS + 15000)).toEqual({
      kind: 'waiting_model',
      label: 'waiting for the model',
      detail: 'no answer for 25 s',
    });
  });

  it('says thinking before any text, and waiting when nothing came for long', () => {
    const tl = thinking();
    expect(deriveActivity('thinking', null, tl, T0 + 3000).kind).toBe('thinking');
    expect(deriveActivity('thinking', null, tl, T0 + 2000 + 12000).detail).toBe('no answer for 12 s');
  });

  it('says retrying with the next attempt and a countdown', () => {
    const tl = thinking([retry(3, 2, { max_attempts: 4, retry_in_ms: 8000 })]);
    expect(deriveActivity('thinking', null, tl, T0 + 3000 + 3000)).toEqual({ kind: 'retrying', label: 'retrying (attempt 3 of 4)', detail: 'next try in 5 s' });
    expect(deriveActivity('thinking', null, tl, T0 + 3000 + 9000).detail).toBe('trying again now');
    // The attempt after the countdown has said nothing for long: the model is quiet.
    expect(deriveActivity('thinking', null, tl, T0 + 3000 + 8000 + 20000)).toMatchObject({ kind: 'waiting_model', detail: 'no answer for 20 s' });
  });

  it('names the tool running, the approval waited for, a limit and a failure', () => {
    const tl = thinking([
      ev(3, 'tool.call', { call_id: 'c', tool: 'execute_bash', arguments: { command: 'ls' }, read_only: true }),
      ev(4, 'agent.status', { status: 'executing_tool' }),
    ]);
    expect(deriveActivity('executing_tool', null, tl, T0).label).toBe('calling execute_bash');
    expect(deriveActivity('waiting_approval', null, null, T0).label).toBe('waiting for approval');
    expect(deriveActivity('limited', 'reached 50 turns', null, T0)).toEqual({ kind: 'limited', label: 'stopped by a limit', detail: 'reached 50 turns' });
    expect(deriveActivity('error', 'HTTP 503', null, T0)).toEqual({ kind: 'failed', label: 'failed', detail: 'HTTP 503' });
    expect(deriveActivity('idle', null, null, T0)).toEqual({ kind: 'idle', label: 'idle', detail: null });
    expect(deriveActivity('stopped', null, null, T0).label).toBe('stopped');
  });
});
