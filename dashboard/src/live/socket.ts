// One WebSocket for the whole page, subscribed to the agents on screen.
// It reconnects on its own (with backoff, e.g. across a host restart) and
// resubscribes each agent after the last seq its timeline holds, so the
// view resumes with no gap and no duplicate. Events are delivered in
// batches (one per agent every few milliseconds) so a burst of thousands
// renders once, not thousands of times. Workflow runs are subscribed the
// same way (their own event logs, by run id).

import type { AgentEvent, WorkflowEvent, WsClientMessage, WsServerMessage } from '../api/types';

export type ConnectionState = 'connecting' | 'open' | 'reconnecting';

export interface Subscription {
  /** The seq to resume after (the timeline's last stored seq). */
  after: () => number;
  onEvents: (events: AgentEvent[]) => void;
  onError?: (code: string, message: string) => void;
}

/** A workflow run's subscription: its events are few, so they are delivered as they come. */
export interface RunSubscription {
  /** The seq to resume after (the last event applied). */
  after: () => number;
  onEvents: (events: WorkflowEvent[]) => void;
  onError?: (code: string, message: string) => void;
}

const FLUSH_MS = 16;

export class LiveSocket {
  private ws: WebSocket | null = null;
  private subs = new Map<string, Subscription>();
  private runSubs = new Map<string, RunSubscription>();
  private queued = new Map<string, AgentEvent[]>();
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private retryMs = 250;
  private stateListeners = new Set<(s: ConnectionState) => void>();
  private closed = false;
  state: ConnectionState = 'connecting';
  private readonly makeSocket: () => WebSocket;

  constructor(makeSocket: () => WebSocket) {
    this.makeSocket = makeSocket;
  }

  start(): void {
    this.closed = false;
    this.connect();
  }

  stop(): void {
    this.closed = true;
    this.ws?.close();
  }

  onState(f: (s: ConnectionState) => void): () => void {
    this.stateListeners.add(f);
    return () => this.stateListeners.delete(f);
  }

  private setState(s: ConnectionState): void {
    this.state = s;
    for (const f of this.stateListeners) f(s);
  }

  subscribe(agentId: string, sub: Subscription): () => void {
    this.subs.set(agentId, sub);
    this.sendSubscribe(agentId);
    return () => {
      if (this.subs.get(agentId) === sub) {
        this.subs.delete(agentId);
        this.send({ op: 'unsubscribe', agent_id: agentId });
      }
    };
  }

  /** Follows a workflow run's event log while the returned function is not called. */
  subscribeRun(runId: string, sub: RunSubscription): () => void {
    this.runSubs.set(runId, sub);
    this.sendRunSubscribe(runId);
    return () => {
      if (this.runSubs.get(runId) === sub) {
        this.runSubs.delete(runId);
        this.send({ op: 'unsubscribe_workflow_run', run_id: runId });
      }
    };
  }

  private sendRunSubscribe(runId: string): void {
    const sub = this.runSubs.get(runId);
    if (sub) this.send({ op: 'subscribe_workflow_run', run_id: runId, after: sub.after() });
  }

  /** Asks again for everything after the timeline's last seq (after a gap). */
  resync(agentId: string): void {
    this.sendSubscribe(agentId);
  }

  private sendSubscribe(agentId: string): void {
    const sub = this.subs.get(agentId);
    if (sub) this.send({ op: 'subscribe', agent_id: agentId, after: sub.after() });
  }

  private send(msg: WsClientMessage): void {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  private connect(): void {
    let ws: WebSocket;
    try {
      ws = this.makeSocket();
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.retryMs = 250;
      this.setState('open');
      for (const id of this.subs.keys()) this.sendSubscribe(id);
      for (const id of this.runSubs.keys()) this.sendRunSubscribe(id);
    };
    ws.onmessage = (m) => this.receive(String(m.data));
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (!this.closed) this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    this.setState('reconnecting');
    const wait = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, 4000);
    setTimeout(() => {
      if (!this.closed) this.connect();
    }, wait);
  }

  /** Handles one server message (public for the unit tests). */
  receive(text: string): void {
    let msg: WsServerMessage;
    try {
      msg = JSON.parse(text) as WsServerMessage;
    } catch {
      return;
    }
    switch (msg.op) {
      case 'event': {
        const id = msg.event.agent_id;
        if (!this.subs.has(id)) return;
        const q = this.queued.get(id);
        if (q) q.push(msg.event);
        else this.queued.set(id, [msg.event]);
        this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS);
        break;
      }
      case 'workflow_event':
        this.runSubs.get(msg.run_id)?.onEvents([msg.event]);
        break;
      case 'lagged':
        // The server ended this subscription; what was delivered is applied
        // first, then we ask again after the timeline's last seq.
        this.flush();
        this.sendSubscribe(msg.agent_id);
        break;
      case 'error':
        if (msg.agent_id) this.subs.get(msg.agent_id)?.onError?.(msg.code, msg.message);
        if (msg.run_id) this.runSubs.get(msg.run_id)?.onError?.(msg.code, msg.message);
        break;
      default:
        break;
    }
  }

  /** Delivers the queued events (public for the unit tests). */
  flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const batches = this.queued;
    this.queued = new Map();
    for (const [id, events] of batches) this.subs.get(id)?.onEvents(events);
  }
}
