// Live state: each watched agent's timeline, fed by the shared socket and,
// when a gap shows up, by the REST event log.

import { create } from 'zustand';
import { useEffect } from 'react';
import { get, wsUrl } from '../api/client';
import type { AgentEvent, EventPage } from '../api/types';
import { LiveSocket, type ConnectionState } from './socket';
import { applyEvents, emptyTimeline, hasGap, type Timeline } from './timeline';

interface LiveState {
  timelines: Record<string, Timeline>;
  connection: ConnectionState;
  apply: (agentId: string, events: AgentEvent[]) => void;
  reset: (agentId: string) => void;
}

/** What applying live events cost in this page (read by the e2e tests). */
export interface ApplyStats {
  events: number;
  batches: number;
  applyMs: number;
  maxBatchMs: number;
}

declare global {
  interface Window {
    __paddockStats?: ApplyStats;
  }
}

function record(events: number, ms: number): void {
  const s = (window.__paddockStats ??= { events: 0, batches: 0, applyMs: 0, maxBatchMs: 0 });
  s.events += events;
  s.batches += 1;
  s.applyMs += ms;
  s.maxBatchMs = Math.max(s.maxBatchMs, ms);
}

export const useLive = create<LiveState>((set) => ({
  timelines: {},
  connection: 'connecting',
  apply: (agentId, events) =>
    set((s) => {
      const t0 = performance.now();
      const next = applyEvents(s.timelines[agentId] ?? emptyTimeline(), events);
      record(events.length, performance.now() - t0);
      return { timelines: { ...s.timelines, [agentId]: next } };
    }),
  reset: (agentId) =>
    set((s) => {
      const { [agentId]: _gone, ...rest } = s.timelines;
      void _gone;
      return { timelines: rest };
    }),
}));

let socket: LiveSocket | null = null;

/** The page's one socket (started on first use). */
export function liveSocket(): LiveSocket {
  if (!socket) {
    socket = new LiveSocket(() => new WebSocket(wsUrl()));
    socket.onState((c) => useLive.setState({ connection: c }));
    socket.start();
  }
  return socket;
}

/** Reconnects (after signing in or out), forgetting every timeline the previous caller was shown. */
export function restartSocket(): void {
  useLive.setState({ timelines: {} });
  socket?.stop();
  socket = null;
  liveSocket();
}

const filling = new Set<string>();

/** Fetches the stored events after the timeline's last seq, page by page. */
async function fillGap(agentId: string): Promise<void> {
  if (filling.has(agentId)) return;
  filling.add(agentId);
  try {
    for (;;) {
      const tl = useLive.getState().timelines[agentId];
      if (!tl || !hasGap(tl)) return;
      const page = await get<EventPage>(`/api/agents/${encodeURIComponent(agentId)}/events?after=${tl.lastSeq}&limit=5000`);
      if (page.events.length === 0) return;
      useLive.getState().apply(agentId, page.events as AgentEvent[]);
    }
  } catch {
    // The socket's next resubscribe fills it instead.
    liveSocket().resync(agentId);
  } finally {
    filling.delete(agentId);
  }
}

/** Subscribes to an agent's events while the calling component is mounted. */
export function useAgentEvents(agentId: string | undefined): Timeline | undefined {
  const tl = useLive((s) => (agentId ? s.timelines[agentId] : undefined));
  useEffect(() => {
    if (!agentId) return;
    const s = liveSocket();
    return s.subscribe(agentId, {
      after: () => useLive.getState().timelines[agentId]?.lastSeq ?? 0,
      onEvents: (events) => {
        useLive.getState().apply(agentId, events);
        const now = useLive.getState().timelines[agentId];
        if (now && hasGap(now)) void fillGap(agentId);
      },
    });
  }, [agentId]);
  return tl;
}

/** The socket's state, for the connection banner. */
export function useConnection(): ConnectionState {
  useEffect(() => {
    liveSocket();
  }, []);
  return useLive((s) => s.connection);
}
