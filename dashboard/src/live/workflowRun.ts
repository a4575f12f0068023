// A workflow run, live: its view (`GET /api/workflow-runs/{id}`, folded by
// the server from the run's event log) and the log itself, read from REST
// and followed over the page's WebSocket (`subscribe_workflow_run`). Each
// new event reads the view again; while the socket is down the view is
// polled, and a gap in the log (a missed event) is filled from REST.

import { useCallback, useEffect, useRef, useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { get } from '../api/client';
import type { RunEventPage, WorkflowEvent, WorkflowRunView } from '../api/types';
import { isActive } from './workflow';
import { liveSocket, useConnection } from './store';

const enc = encodeURIComponent;
/** Polling while the socket is down (or for a host without the subscription). */
const POLL_MS = 2000;
/** Polling while the socket is up: a safety net only. */
const SAFETY_MS = 10_000;
const PAGE = 1000;

/** Events merged in seq order, each once. */
export function mergeEvents(have: WorkflowEvent[], more: WorkflowEvent[]): WorkflowEvent[] {
  if (more.length === 0) return have;
  const bySeq = new Map(have.map((e) => [e.seq, e]));
  let changed = false;
  for (const e of more) {
    if (!bySeq.has(e.seq)) {
      bySeq.set(e.seq, e);
      changed = true;
    }
  }
  if (!changed) return have;
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/** Reads a page of a run's log. */
async function page(id: string, after: number): Promise<WorkflowEvent[]> {
  return (await get<RunEventPage>(`/api/workflow-runs/${enc(id)}/events?after=${after}&limit=${PAGE}`)).events;
}

export function useWorkflowRun(id: string) {
  const connection = useConnection();
  const run = useQuery({
    queryKey: ['workflow-run', id],
    queryFn: () => get<WorkflowRunView>(`/api/workflow-runs/${enc(id)}`),
    refetchInterval: (q) => {
      const status = q.state.data?.status;
      if (q.state.error || (status && !isActive(status))) return false;
      return connection === 'open' ? SAFETY_MS : POLL_MS;
    },
  });
  const [events, setEvents] = useState<WorkflowEvent[]>([]);
  const last = useRef(0);
  const qc = useQueryClient();
  const filling = useRef(false);

  const held = useRef<WorkflowEvent[]>([]);
  const apply = useCallback((more: WorkflowEvent[]) => {
    const next = mergeEvents(held.current, more);
    if (next === held.current) return;
    held.current = next;
    last.current = next[next.length - 1].seq;
    setEvents(next);
  }, []);

  /** Reads the log from REST, page by page: after the last event held, or (after a gap) from the start. */
  const fill = useCallback(
    async (fromStart: boolean) => {
      if (filling.current) return;
      filling.current = true;
      try {
        let after = fromStart ? 0 : last.current;
        for (;;) {
          const got = await page(id, after);
          apply(got);
          if (got.length < PAGE) break;
          after = got[got.length - 1].seq;
        }
      } finally {
        filling.current = false;
      }
    },
    [id, apply],
  );

  useEffect(() => {
    held.current = [];
    setEvents([]);
    last.current = 0;
    void fill(true).catch(() => undefined);
    return liveSocket().subscribeRun(id, {
      after: () => last.current,
      onEvents: (more) => {
        const before = last.current;
        apply(more);
        if (more.some((e) => e.seq > before + 1)) void fill(true).catch(() => undefined);
        void qc.invalidateQueries({ queryKey: ['workflow-run', id] });
        void qc.invalidateQueries({ queryKey: ['workflow-runs'] });
      },
    });
  }, [id, apply, fill, qc]);

  // The view is newer than the log held (events the socket did not bring): read them.
  const lastSeq = run.data?.last_seq ?? 0;
  useEffect(() => {
    if (lastSeq > last.current) void fill(false).catch(() => undefined);
  }, [lastSeq, fill]);

  return { run, events };
}
