import { describe, expect, it } from 'vitest';
import type { AgentEvent } from '../api/types';
import { applyEvents, emptyTimeline, hasGap, hookLine, replayTo } from './timeline';

const A = 'agent-1';
let ts = 0;
function ev(seq: number, type: string, data: Record<string, unknown>): AgentEvent {
  ts += 1;
  return { seq, agent_id: A, ts: new Date(ts * 1000).toISOString(), type, data } as unknown as AgentEvent;
}

/** A small run: a message, a streamed answer with one tool call that needs approval, its result, a final answer. */
function run(): AgentEvent[] {
  return [
    ev(1, 'agent.created', { config: {} }),
    ev(2, 'message.user', { text: 'fix it' }),
    ev(3, 'agent.status', { status: 'thinking' }),
    ev(4, 'message.assistant', {
      text: 'Editing.',
      tool_calls: [{ id: 'c1', name: 'edit_file', arguments: '{}' }],
      finish_reason: 'tool_calls',
    }),
    ev(5, 'usage', { provider: 'p', model: 'm', input_tokens: 100, output_tokens: 10, cached_tokens: 40, cost_usd: 0.5, duration_ms: 3, attempts: 1 }),
    ev(6, 'tool.call', { call_id: 'c1', tool: 'edit_file', arguments: { path: 'a.txt', old_string: 'red', new_string: 'blue' }, read_only: false }),
    ev(7, 'policy.decision', { call_id: 'c1', tool: 'edit_file', action: 'ask', level: 'medium', reasons: ['writes'], mode: 'ask-risky', verdicts: [] }),
    ev(8, 'approval.requested', {
      call_id: 'c1',
      tool: 'edit_file',
      arguments: { path: 'a.txt' },
      level: 'medium',
      reasons: ['writes'],
      diff: '--- a/a.txt\n+++ b/a.txt\n-red\n+blue\n',
      remember: { agent: 'allow edit_file(a.txt)', always: 'allow edit_file(a.txt)' },
    }),
    ev(9, 'agent.status', { status: 'waiting_approval' }),
    ev(10, 'approval.decided', { call_id: 'c1', tool: 'edit_file', approved: true, status: 'approved', by: 'user (REST)' }),
    ev(11, 'tool.result', { call_id: 'c1', tool: 'edit_file', success: true, content: 'edited', duration_ms: 7, truncated_bytes: 0 }),
    ev(12, 'message.assistant', { text: 'Done.', finish_reason: 'stop' }),
    ev(13, 'agent.status', { status: 'idle' }),
  ];
}

describe('applyEvents', () => {
  it('reduces a run into messages, one tool item with its decision, approval and result, and totals', () => {
    const tl = applyEvents(emptyTimeline(), run());
    expect(tl.lastSeq).toBe(13);
    expect(tl.status).toBe('idle');
    expect(tl.items.map((i) => i.kind)).toEqual(['user', 'assistant', 'usage', 'tool', 'assistant']);
    const tool = tl.items[3];
    if (tool.kind !== 'tool') throw new Error('not a tool item');
    expect(tool.decision?.action).toBe('ask');
    expect(tool.approval?.diff).toContain('+blue');
    expect(tool.decided?.approved).toBe(true);
    expect(tool.result?.content).toBe('edited');
    expect(tl.pending).toEqual({});
    expect(tl.usage).toMatchObject({ modelCalls: 1, inputTokens: 100, cachedTokens: 40, outputTokens: 10, costUsd: 0.5, toolCalls: 1, toolFailures: 0 });
  });

  it('makes one item of a call decided and approved before it runs', () => {
    const tl = applyEvents(emptyTimeline(), [
      ev(1, 'policy.decision', { call_id: 'c9', tool: 'edit_file', action: 'ask', level: 'medium', reasons: [], mode: 'ask-risky', verdicts: [] }),
      ev(2, 'approval.requested', {
        call_id: 'c9',
        tool: 'edit_file',
        arguments: { path: '.env' },
        level: 'medium',
        reasons: [],
        remember: { agent: 'a', always: 'b' },
      }),
      ev(3, 'approval.decided', { call_id: 'c9', tool: 'edit_file', approved: true, status: 'approved', by: 'me' }),
      ev(4, 'tool.call', { call_id: 'c9', tool: 'edit_file', arguments: { path: '.env', old_string: 'a', new_string: 'b' }, read_only: false }),
      ev(5, 'tool.result', { call_id: 'c9', tool: 'edit_file', success: true, content: 'ok', duration_ms: 1 }),
    ]);
    expect(tl.items.length).toBe(1);
    const item = tl.items[0];
    if (item.kind !== 'tool') throw new Error('not a tool item');
    expect(item.call.arguments).toEqual({ path: '.env', old_string: 'a', new_string: 'b' });
    expect(item.decision?.action).toBe('ask');
    expect(item.decided?.approved).toBe(true);
    expect(item.result?.content).toBe('ok');
  });

  it('keeps an approval pending until it is decided', () => {
    const tl = applyEvents(emptyTimeline(), run().slice(0, 9));
    expect(Object.keys(tl.pending)).toEqual(['c1']);
    expect(tl.status).toBe('waiting_approval');
  });

  it('drops duplicates: replaying overlapping pages gives the same timeline', () => {
    const events = run();
    const once = applyEvents(emptyTimeline(), events);
    let twice = applyEvents(emptyTimeline(), events.slice(0, 8));
    twice = applyEvents(twice, events.slice(3)); // overlaps 4..8
    twice = applyEvents(twice, events); // everything again
    expect(twice.items).toEqual(once.items);
    expect(twice.usage).toEqual(once.usage);
    expect(twice.lastSeq).toBe(13);
  });

  it('holds events beyond a gap until the gap is filled, then applies them in order', () => {
    const events = run();
    let tl = applyEvents(emptyTimeline(), events.slice(0, 4));
    tl = applyEvents(tl, events.slice(6)); // 7..13 arrive before 5..6
    expect(tl.lastSeq).toBe(4);
    expect(hasGap(tl)).toBe(true);
    tl = applyEvents(tl, events.slice(4, 6)); // the fill
    expect(hasGap(tl)).toBe(false);
    expect(tl.lastSeq).toBe(13);
    expect(tl.items).toEqual(applyEvents(emptyTimeline(), events).items);
  });

  it('streams deltas after the latest stored event and clears them on the stored answer', () => {
    const events = run();
    let tl = applyEvents(emptyTimeline(), events.slice(0, 3));
    tl = applyEvents(tl, [ev(3, 'message.delta', { text: 'Edit' }), ev(3, 'message.delta', { text: 'ing.' })]);
    expect(tl.streaming).toBe('Editing.');
    // A stale delta (seq behind) is ignored.
    tl = applyEvents(tl, [ev(2, 'message.delta', { text: 'zzz' })]);
    expect(tl.streaming).toBe('Editing.');
    tl = applyEvents(tl, [events[3]]);
    expect(tl.streaming).toBe('');
  });

  it('does not change the timeline it is given, and keeps untouched items identical', () => {
    const events = run();
    const a = applyEvents(emptyTimeline(), events.slice(0, 6));
    const snapshot = JSON.stringify(a);
    const b = applyEvents(a, events.slice(6));
    expect(JSON.stringify(a)).toBe(snapshot);
    expect(b.items[0]).toBe(a.items[0]);
  });

  it('accumulates live tool output in order', () => {
    const tl = applyEvents(emptyTimeline(), [
      ev(1, 'tool.call', { call_id: 'x', tool: 'execute_bash', arguments: { command: 'ls' }, read_only: false }),
      ev(2, 'tool.output', { call_id: 'x', stream: 'stdout', chunk: 'a\n' }),
      ev(3, 'tool.output', { call_id: 'x', stream: 'stderr', chunk: 'b\n' }),
    ]);
    const item = tl.items[0];
    expect(item.kind === 'tool' && item.output).toBe('a\nb\n');
  });
});

describe('reasoning', () => {
  /** A turn over the Responses API: the summary streams, then the text, then the stored answer. */
  function thinkingRun(): AgentEvent[] {
    return [ev(1, 'agent.created', { config: {} }), ev(2, 'message.user', { text: 'why is it red?' }), ev(3, 'agent.status', { status: 'thinking' })];
  }
  const answer = ev(4, 'message.assistant', {
    text: 'Because of the env file.',
    finish_reason: 'stop',
    reasoning: [
      { id: 'rs_1', summary: ['Look at .env first.', 'It sets COLOR=red.'], encrypted_content: 'gAAA' },
      { id: 'rs_2', summary: [] },
    ],
  });

  it('streams the summary into the live thinking, apart from the answer text, and drops stale pieces', () => {
    let tl = applyEvents(emptyTimeline(), thinkingRun());
    tl = applyEvents(tl, [ev(3, 'message.reasoning', { text: 'Look at ' }), ev(3, 'message.reasoning', { text: '.env first.' })]);
    expect(tl.thinking).toBe('Look at .env first.');
    expect(tl.streaming).toBe('');
    tl = applyEvents(tl, [ev(3, 'message.delta', { text: 'Because' })]);
    expect(tl.streaming).toBe('Because');
    expect(tl.thinking).toBe('Look at .env first.');
    // Behind the latest stored event: belongs to an older answer.
    tl = applyEvents(tl, [ev(2, 'message.reasoning', { text: 'zzz' })]);
    expect(tl.thinking).toBe('Look at .env first.');
    // Live pieces are not stored events: the seq does not move.
    expect(tl.lastSeq).toBe(3);
  });

  it('replaces the live thinking with the stored answer and its summary parts', () => {
    let tl = applyEvents(emptyTimeline(), thinkingRun());
    tl = applyEvents(tl, [ev(3, 'message.reasoning', { text: 'Look at .env first.' })]);
    tl = applyEvents(tl, [answer]);
    expect(tl.thinking).toBe('');
    expect(tl.streaming).toBe('');
    const item = tl.items[tl.items.length - 1];
    if (item.kind !== 'assistant') throw new Error('not an answer');
    expect(item.text).toBe('Because of the env file.');
    expect(item.reasoning).toEqual(['Look at .env first.', 'It sets COLOR=red.']);
  });

  it('shows an answer that only calls tools when it has a summary, and not otherwise', () => {
    const withSummary = applyEvents(emptyTimeline(), [
      ev(1, 'message.assistant', {
        finish_reason: 'tool_calls',
        tool_calls: [{ id: 'c1', name: 'read_file', arguments: '{}' }],
        reasoning: [{ id: 'rs_1', summary: ['Read it.'] }],
      }),
    ]);
    expect(withSummary.items.map((i) => i.kind)).toEqual(['assistant']);
    const item = withSummary.items[0];
    expect(item.kind === 'assistant' && item.toolCalls).toBe(1);
    const without = applyEvents(emptyTimeline(), [
      ev(1, 'message.assistant', { finish_reason: 'tool_calls', tool_calls: [{ id: 'c1', name: 'read_file', arguments: '{}' }], reasoning: [] }),
    ]);
    expect(without.items).toEqual([]);
    // An answer of the Chat Completions API has no reasoning at all.
    const chat = applyEvents(emptyTimeline(), [ev(1, 'message.assistant', { text: 'Hi.', finish_reason: 'stop' })]);
    expect(chat.items[0]).toMatchObject({ kind: 'assistant', reasoning: [] });
  });

  it('drops what streamed when the attempt is retried or failed over, and when the model call ends', () => {
    for (const code of ['model_retry', 'model_failover']) {
      let tl = applyEvents(emptyTimeline(), thinkingRun());
      tl = applyEvents(tl, [ev(3, 'message.reasoning', { text: 'half a thought' }), ev(3, 'message.delta', { text: 'half an answer' })]);
      tl = applyEvents(tl, [ev(4, 'error', { code, message: 'primary failed; the call goes to secondary', recoverable: true })]);
      expect([tl.thinking, tl.streaming]).toEqual(['', '']);
      // A retry shows in the retries line; a failover as a warning.
      expect(tl.items[tl.items.length - 1]).toMatchObject(code === 'model_retry' ? { kind: 'retries', count: 1 } : { kind: 'error', code, recoverable: true });
      // The next attempt streams afresh.
      tl = applyEvents(tl, [ev(4, 'message.reasoning', { text: 'a whole thought' })]);
      expect(tl.thinking).toBe('a whole thought');
    }
    let tl = applyEvents(emptyTimeline(), thinkingRun());
    tl = applyEvents(tl, [ev(3, 'message.reasoning', { text: 'thought' })]);
    tl = applyEvents(tl, [ev(4, 'agent.status', { status: 'idle', reason: 'interrupted' })]);
    expect(tl.thinking).toBe('');
  });

  it('counts reasoning tokens among the totals', () => {
    const usage = (seq: number, reasoning: number | undefined) =>
      ev(seq, 'usage', {
        provider: 'p',
        model: 'm',
        input_tokens: 10,
        output_tokens: 200,
        cached_tokens: 0,
        cost_usd: 0.1,
        duration_ms: 3,
        attempts: 1,
        ...(reasoning === undefined ? {} : { reasoning_tokens: reasoning }),
      });
    const tl = applyEvents(emptyTimeline(), [usage(1, 150), usage(2, undefined), usage(3, 0)]);
    expect(tl.usage).toMatchObject({ modelCalls: 3, outputTokens: 600, reasoningTokens: 150 });
  });

  it('replays stored events only: the live reasoning is not a step', () => {
    const events = [...thinkingRun(), ev(3, 'message.reasoning', { text: 'Look' }), ev(3, 'message.delta', { text: 'Because' }), answer];
    expect(replayTo(events, 4).items.map((i) => i.kind)).toEqual(['user', 'assistant']);
    expect(replayTo(events, 4).thinking).toBe('');
  });
});

describe('replayTo', () => {
  it('rebuilds the timeline after each step, ending where the live view is', () => {
    const events = run();
    expect(replayTo(events, 0).items).toEqual([]);
    expect(replayTo(events, 2).items.map((i) => i.kind)).toEqual(['user']);
    expect(replayTo(events, events.length)).toEqual(applyEvents(emptyTimeline(), events));
  });
});

describe('environment setup', () => {
  const setup = (seq: number, step: string, more: Record<string, unknown> = {}) => ev(seq, 'environment.setup', { environment: 'devcontainer', step, ...more });

  it('folds a preparation into one item: its commands, output, end and the ignored fields', () => {
    const tl = applyEvents(emptyTimeline(), [
      ev(1, 'agent.created', { config: {} }),
      setup(2, 'started', { ignored: ['customizations'] }),
      setup(3, 'command', { phase: 'post_create', command: 'make tool' }),
      setup(4, 'output', { phase: 'post_create', command: 'make tool', output: 'built\n' }),
      setup(5, 'output', { phase: 'post_create', command: 'make tool', output: 'done\n' }),
      setup(6, 'command_done', { phase: 'post_create', command: 'make tool', exit_code: 0, duration_ms: 1200 }),
      setup(7, 'finished', { cached: false, duration_ms: 1500, detail: 'image paddock-env:abc' }),
    ]);
    expect(tl.items).toHaveLength(1);
    const item = tl.items[0];
    if (item.kind !== 'environment') throw new Error(item.kind);
    expect(item.state).toBe('ready');
    expect(item.cached).toBe(false);
    expect(item.ignored).toEqual(['customizations']);
    expect(item.detail).toBe('image paddock-env:abc');
    expect(item.commands).toEqual([{ phase: 'post_create', command: 'make tool', output: 'built\ndone\n', exitCode: 0, durationMs: 1200 }]);
  });

  it('shows a failure with its exit code, and a retry starts a new item', () => {
    const tl = applyEvents(emptyTimeline(), [
      setup(1, 'started'),
      setup(2, 'command', { phase: 'post_create', command: 'exit 3' }),
      setup(3, 'command_done', { phase: 'post_create', command: 'exit 3', exit_code: 3, duration_ms: 5 }),
      setup(4, 'failed', { command: 'exit 3', exit_code: 3, detail: 'environment `devcontainer`: postCreateCommand command `exit 3` failed with exit code 3' }),
      setup(5, 'started'),
    ]);
    const kinds = tl.items.map((i) => (i.kind === 'environment' ? i.state : i.kind));
    expect(kinds).toEqual(['failed', 'running']);
    const first = tl.items[0];
    if (first.kind !== 'environment') throw new Error(first.kind);
    expect(first.commands[0].exitCode).toBe(3);
    expect(first.detail).toContain('exit code 3');
  });
});

describe('network connections', () => {
  it('counts allowed and refused connections per host, and keeps a host approval out of the tool items', () => {
    const tl = applyEvents(emptyTimeline(), [
      ev(1, 'agent.created', { config: {} }),
      ev(2, 'network.connection', {
        host: 'registry.npmjs.org',
        port: 443,
        address: '104.16.0.1',
        verdict: 'allowed',
        reason: 'on the allow-list',
        bytes_sent: 100,
        bytes_received: 2048,
        duration_ms: 5,
      }),
      ev(3, 'network.connection', {
        host: 'registry.npmjs.org',
        port: 443,
        verdict: 'allowed',
        reason: 'on the allow-list',
        bytes_sent: 1,
        bytes_received: 1,
        duration_ms: 5,
      }),
      ev(4, 'network.connection', {
        host: 'evil.test',
        port: 443,
        verdict: 'refused',
        reason: 'not on the list',
        bytes_sent: 0,
        bytes_received: 0,
        duration_ms: 1,
      }),
      ev(5, 'approval.requested', {
        call_id: 'net-1',
        tool: 'network',
        arguments: { host: '::1', port: 80 },
        level: 'medium',
        reasons: [],
        remember: { agent: 'allow network([::1]:80)', always: 'allow network([::1]:80)' },
      }),
    ]);
    expect(tl.network.allowed).toBe(2);
    expect(tl.network.refused).toBe(1);
    expect(tl.network.hosts['registry.npmjs.org:443']).toMatchObject({ allowed: 2, refused: 0, bytesSent: 101, bytesReceived: 2049 });
    expect(tl.network.hosts['evil.test:443']).toMatchObject({ allowed: 0, refused: 1, reason: 'not on the list' });
    expect(Object.keys(tl.pending)).toEqual(['net-1']);
    expect(tl.items.filter((i) => i.kind === 'tool')).toHaveLength(0);
  });
});

describe('hook events', () => {
  it('become one readable line each, in order', () => {
    const tl = applyEvents(emptyTimeline(), [
      ev(1, 'hook', {
        hook: 'audit',
        event: 'before_tool_call',
        call_id: 'c1',
        outcome: 'rewrote',
        original: { path: 'a' },
        arguments: { path: 'b' },
        duration_us: 5,
      }),
      ev(2, 'hook', {
        hook: 'audit',
        event: 'after_tool_result',
        call_id: 'c1',
        outcome: 'failed',
        error: 'plugin `audit` timed out after 1000 ms',
        consequence: 'result withheld',
        duration_us: 9,
      }),
    ]);
    const lines = tl.items.flatMap((i) => (i.kind === 'hook' ? [hookLine(i.hook)] : []));
    expect(lines).toEqual([
      'Hook audit (before tool call) rewrote the arguments: {"path":"a"} → {"path":"b"}',
      'Hook audit (after tool result) failed (result withheld): plugin `audit` timed out after 1000 ms',
    ]);
  });
});
