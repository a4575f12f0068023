import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AgentEvent } from '../api/types';
import { LiveSocket } from './socket';

/** A WebSocket stand-in the test drives by hand. */
class FakeWs {
  static OPEN = 1;
  readyState = 0;
  sent: unknown[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((m: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  send(text: string) {
    this.sent.push(JSON.parse(text));
  }
  close() {
    this.readyState = 3;
    this.onclose?.();
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  deliver(msg: object) {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
}

const event = (seq: number): AgentEvent =>
  ({ seq, agent_id: 'a', ts: '2026-01-01T00:00:00Z', type: 'message.user', data: { text: `m${seq}` } }) as unknown as AgentEvent;

describe('LiveSocket', () => {
  let sockets: FakeWs[];
  /** A started socket whose connections are recorded in `sockets`. */
  const started = (): LiveSocket => {
    const s = new LiveSocket(() => {
      const w = new FakeWs();
      sockets.push(w);
      return w as unknown as WebSocket;
    });
    s.start();
    return s;
  };

  beforeEach(() => {
    vi.useFakeTimers();
    sockets = [];
    vi.stubGlobal('WebSocket', FakeWs);
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('resubscribes after the last applied seq when the connection comes back', () => {
    const s = started();
    let last = 0;
    const got: number[] = [];
    s.subscribe('a', {
      after: () => last,
      onEvents: (evs) => {
        for (const e of evs) got.push(e.seq);
        last = evs[evs.length - 1].seq;
      },
    });
    sockets[0].open();
    expect(sockets[0].sent).toEqual([{ op: 'subscribe', agent_id: 'a', after: 0 }]);
    sockets[0].deliver({ op: 'event', event: event(1) });
    sockets[0].deliver({ op: 'event', event: event(2) });
    vi.advanceTimersByTime(20);
    expect(got).toEqual([1, 2]);

    // The host goes away (a restart) and comes back.
    sockets[0].close();
    expect(s.state).toBe('reconnecting');
    vi.advanceTimersByTime(300);
    expect(sockets.length).toBe(2);
    sockets[1].open();
    expect(s.state).toBe('open');
    expect(sockets[1].sent).toEqual([{ op: 'subscribe', agent_id: 'a', after: 2 }]);
  });

  it('delivers a burst as one batch, and asks again after a lag', () => {
    const s = started();
    let last = 0;
    const batches: number[] = [];
    s.subscribe('a', {
      after: () => last,
      onEvents: (evs) => {
        batches.push(evs.length);
        last = evs[evs.length - 1].seq;
      },
    });
    sockets[0].open();
    for (let i = 1; i <= 1000; i++) sockets[0].deliver({ op: 'event', event: event(i) });
    vi.advanceTimersByTime(20);
    expect(batches).toEqual([1000]);
    sockets[0].deliver({ op: 'event', event: event(1001) });
    sockets[0].deliver({ op: 'lagged', agent_id: 'a', resume_after: 1001 });
    expect(batches).toEqual([1000, 1]);
    expect(sockets[0].sent.at(-1)).toEqual({ op: 'subscribe', agent_id: 'a', after: 1001 });
  });

  it('ignores events of agents it does not follow and malformed messages', () => {
    const s = started();
    const got: AgentEvent[] = [];
    const stop = s.subscribe('a', { after: () => 0, onEvents: (e) => got.push(...e) });
    sockets[0].open();
    s.receive('not json');
    s.receive(JSON.stringify({ op: 'event', event: { ...event(1), agent_id: 'b' } }));
    stop();
    s.receive(JSON.stringify({ op: 'event', event: event(1) }));
    vi.advanceTimersByTime(20);
    expect(got).toEqual([]);
    expect(sockets[0].sent.at(-1)).toEqual({ op: 'unsubscribe', agent_id: 'a' });
  });

  it('follows a workflow run: subscribes after its last event, again after a reconnect, and stops', () => {
    const s = started();
    let last = 0;
    const got: number[] = [];
    const errors: string[] = [];
    const stop = s.subscribeRun('r', {
      after: () => last,
      onEvents: (evs) => {
        for (const e of evs) got.push(e.seq);
        last = evs[evs.length - 1].seq;
      },
      onError: (code) => errors.push(code),
    });
    sockets[0].open();
    expect(sockets[0].sent).toEqual([{ op: 'subscribe_workflow_run', run_id: 'r', after: 0 }]);
    const wf = (seq: number, run = 'r') => ({
      op: 'workflow_event',
      run_id: run,
      event: { seq, run_id: run, ts: '2026-01-01T00:00:00Z', type: 'step.started', data: {} },
    });
    sockets[0].deliver(wf(1));
    sockets[0].deliver(wf(2));
    sockets[0].deliver(wf(1, 'other'));
    expect(got).toEqual([1, 2]);
    sockets[0].deliver({ op: 'error', code: 'not_found', message: 'no run', run_id: 'r' });
    expect(errors).toEqual(['not_found']);
    sockets[0].close();
    vi.advanceTimersByTime(300);
    sockets[1].open();
    expect(sockets[1].sent).toEqual([{ op: 'subscribe_workflow_run', run_id: 'r', after: 2 }]);
    stop();
    expect(sockets[1].sent.at(-1)).toEqual({ op: 'unsubscribe_workflow_run', run_id: 'r' });
    sockets[1].deliver(wf(3));
    expect(got).toEqual([1, 2]);
  });
});
