// What an agent is doing right now, in words a reviewer can trust: the
// stored status refined by the live timeline (text streaming, a tool
// running, a retry and its countdown, a model that has gone quiet).
// Pure: the caller passes the clock, so the tests can too.

import type { Timeline } from './timeline';

export type ActivityKind =
  'streaming' | 'thinking' | 'waiting_model' | 'retrying' | 'tool' | 'approval' | 'limited' | 'failed' | 'idle' | 'stopped' | 'unknown';

export interface Activity {
  kind: ActivityKind;
  /** A few words: the badge. */
  label: string;
  /** More (the reason, the countdown), or null. */
  detail: string | null;
}

/** After this long with no text, a thinking agent is "waiting for the model". */
export const QUIET_MS = 10_000;

/** Whether an agent in this status is doing something (Interrupt makes sense). */
export function isBusy(status: string | null | undefined): boolean {
  return status === 'thinking' || status === 'executing_tool' || status === 'waiting_approval';
}

function seconds(ms: number): number {
  return Math.max(0, Math.round(ms / 1000));
}

/**
 * The activity of an agent whose stored status is `status` (and its
 * reason), refined by its live timeline when there is one; `now` is ms
 * since the epoch.
 */
export function deriveActivity(status: string | null | undefined, reason: string | null | undefined, tl: Timeline | null | undefined, now: number): Activity {
  switch (status) {
    case 'stopped':
      return { kind: 'stopped', label: 'stopped', detail: reason ?? null };
    case 'limited':
      return { kind: 'limited', label: 'stopped by a limit', detail: reason ?? tl?.failure?.message ?? null };
    case 'error':
      return { kind: 'failed', label: 'failed', detail: tl?.failure?.message ?? reason ?? null };
    case 'idle':
      return { kind: 'idle', label: 'idle', detail: null };
    case 'waiting_approval': {
      const tools = Object.values(tl?.pending ?? {}).map((p) => p.tool);
      return { kind: 'approval', label: 'waiting for approval', detail: tools.length ? tools.join(', ') : null };
    }
    case 'executing_tool': {
      let tool: string | null = null;
      for (let i = (tl?.items.length ?? 0) - 1; tl && i >= 0 && tool === null; i--) {
        const item = tl.items[i];
        if (item.kind === 'tool' && !item.result) tool = item.call.tool;
      }
      return { kind: 'tool', label: tool ? `calling ${tool}` : 'calling a tool', detail: null };
    }
    case 'thinking': {
      let quietSince = tl && tl.lastEventAt > 0 ? Math.max(tl.lastEventAt, tl.lastDeltaAt) : now;
      if (tl?.retry) {
        const r = tl.retry;
        const of = r.attempt !== null ? ` (attempt ${r.attempt + 1}${r.maxAttempts !== null ? ` of ${r.maxAttempts}` : ''})` : '';
        const nextAt = r.at + (r.retryInMs ?? 0);
        if (r.retryInMs !== null && nextAt > now) return { kind: 'retrying', label: `retrying${of}`, detail: `next try in ${seconds(nextAt - now)} s` };
        // The next attempt is under way: retrying until it too goes quiet.
        if (now - nextAt <= QUIET_MS) return { kind: 'retrying', label: `retrying${of}`, detail: 'trying again now' };
        quietSince = nextAt;
      }
      const since = now - quietSince;
      if (since > QUIET_MS) return { kind: 'waiting_model', label: 'waiting for the model', detail: `no answer for ${seconds(since)} s` };
      if (tl && tl.lastDeltaAt > 0 && (tl.streaming || tl.thinking)) return { kind: 'streaming', label: 'streaming', detail: null };
      return { kind: 'thinking', label: 'thinking', detail: null };
    }
    default:
      return { kind: 'unknown', label: status ? status.replace('_', ' ') : 'unknown', detail: reason ?? null };
  }
}
