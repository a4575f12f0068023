// An agent's status in words a reviewer can trust (live/activity.ts):
// streaming, calling a tool, waiting for approval, retrying with its
// countdown, waiting for a quiet model, stopped by a limit, failed (with
// its reason), idle, stopped. Used in the agent screen's header; the list
// passes the stored status and reason only.

import { useEffect, useState } from 'react';
import { deriveActivity, isBusy, type ActivityKind } from '../live/activity';
import type { Timeline } from '../live/timeline';

const tone: Record<ActivityKind, string> = {
  streaming: 'bg-blue-100 text-blue-900 dark:bg-blue-900 dark:text-blue-100',
  thinking: 'bg-blue-100 text-blue-900 dark:bg-blue-900 dark:text-blue-100',
  waiting_model: 'bg-amber-100 text-amber-950 dark:bg-amber-900 dark:text-amber-100',
  retrying: 'bg-amber-100 text-amber-950 dark:bg-amber-900 dark:text-amber-100',
  tool: 'bg-indigo-100 text-indigo-900 dark:bg-indigo-900 dark:text-indigo-100',
  approval: 'bg-amber-200 text-amber-950 dark:bg-amber-800 dark:text-amber-50',
  limited: 'bg-orange-100 text-orange-950 dark:bg-orange-900 dark:text-orange-100',
  failed: 'bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100',
  idle: 'bg-slate-200 text-slate-900 dark:bg-slate-700 dark:text-slate-100',
  stopped: 'bg-slate-300 text-slate-900 dark:bg-slate-600 dark:text-slate-100',
  unknown: 'bg-slate-200 text-slate-900 dark:bg-slate-700 dark:text-slate-100',
};

const pulsing: ReadonlySet<ActivityKind> = new Set<ActivityKind>(['streaming', 'thinking', 'tool', 'retrying']);

/** The current time, ticking every second while `on`. */
function useNow(on: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!on) return;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [on]);
  return now;
}

/**
 * The status badge (`data-testid="status"`, its text the label alone) and,
 * unless `hideDetail`, its detail beside it (a reason, a countdown).
 */
export function AgentStatusView({
  status,
  reason,
  timeline,
  hideDetail = false,
}: {
  status: string | null | undefined;
  reason?: string | null;
  timeline?: Timeline | null;
  hideDetail?: boolean;
}) {
  const now = useNow(isBusy(status));
  const a = deriveActivity(status, reason, timeline, now);
  return (
    <span className="inline-flex min-w-0 flex-wrap items-center gap-x-2 gap-y-0.5" data-activity={a.kind}>
      <span data-testid="status" className={`inline-flex items-center gap-1 rounded px-2 py-0.5 text-xs font-semibold whitespace-nowrap ${tone[a.kind]}`}>
        {pulsing.has(a.kind) && <span aria-hidden="true" className="inline-block h-1.5 w-1.5 rounded-full bg-current motion-safe:animate-pulse" />}
        {a.label}
      </span>
      {!hideDetail && a.detail && (
        <span className="min-w-0 text-xs break-words text-slate-700 dark:text-slate-300" data-testid="status-detail">
          {a.detail}
        </span>
      )}
    </span>
  );
}

/** The badge alone for a stored status (the lists): the same words and colours as the agent screen's. */
export function StatusBadge({ status }: { status: string | null | undefined }) {
  const a = deriveActivity(status, null, null, 0);
  return (
    <span data-testid="status" className={`inline-block rounded px-2 py-0.5 text-xs font-semibold whitespace-nowrap ${tone[a.kind]}`}>
      {a.label}
    </span>
  );
}
