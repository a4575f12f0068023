// Approvals: every pending approval across agents, oldest first, decidable
// here; optionally a browser notification when a new one arrives.

import { useEffect, useMemo, useRef, useState } from 'react';
import { Link } from 'react-router-dom';
import { usePending } from '../App';
import { useAgents } from './Agents';
import type { ApprovalRequestedData, UserRef } from '../api/types';
import { ApprovalCard } from '../components/ApprovalCard';
import { useWho } from '../api/me';

/** The name of the person whose agent asks, unless it is the caller's own. */
function ownerOf(a: { owner?: UserRef }, me: string | undefined): string | undefined {
  return a.owner && a.owner.id !== me ? a.owner.name : undefined;
}
import { Button, ErrorNote, useTitle } from '../components/ui';

function notificationsSupported(): boolean {
  return typeof window !== 'undefined' && 'Notification' in window;
}

export function ApprovalsScreen() {
  useTitle('Approvals');
  const pending = usePending();
  const agents = useAgents();
  const who = useWho();
  const names = useMemo(() => Object.fromEntries((agents.data ?? []).map((a) => [a.id, a.name])), [agents.data]);
  const [notify, setNotify] = useState(
    () => notificationsSupported() && Notification.permission === 'granted' && localStorage.getItem('paddock.notify') === '1',
  );
  const seen = useRef<Set<string> | null>(null);
  const list = pending.data?.approvals ?? [];

  useEffect(() => {
    const keys = new Set(list.map((a) => `${a.agent_id}/${a.call_id}`));
    if (seen.current && notify && notificationsSupported()) {
      for (const a of list) {
        if (!seen.current.has(`${a.agent_id}/${a.call_id}`)) {
          new Notification('Paddock: approval needed', { body: `${names[a.agent_id] ?? a.agent_id}: ${a.tool}`, tag: a.call_id });
        }
      }
    }
    seen.current = keys;
  }, [list, notify, names]);

  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <h1 className="text-2xl font-bold">Approvals</h1>
        {notificationsSupported() && (
          <Button
            onClick={async () => {
              if (notify) {
                setNotify(false);
                localStorage.removeItem('paddock.notify');
                return;
              }
              const p = await Notification.requestPermission();
              if (p === 'granted') {
                setNotify(true);
                localStorage.setItem('paddock.notify', '1');
              }
            }}
            aria-pressed={notify}
          >
            {notify ? 'Notifications on' : 'Notify me of new approvals'}
          </Button>
        )}
      </div>
      <ErrorNote error={pending.error} />
      <p aria-live="polite" className="text-sm">
        {pending.isLoading
          ? 'Loading…'
          : list.length === 0
            ? 'Nothing waits for a decision. When an agent asks before a risky step, it shows here and on its page.'
            : `${list.length} waiting, oldest first.`}
      </p>
      {list.map((a) => (
        <div key={`${a.agent_id}/${a.call_id}`} className="flex flex-col gap-1">
          <p className="text-xs">
            <Link className="text-blue-800 underline dark:text-blue-300" to={`/agents/${a.agent_id}`}>
              {names[a.agent_id] ?? a.agent_id}
            </Link>{' '}
            asked {new Date(a.requested_at).toLocaleString()}
          </p>
          <ApprovalCard
            agentId={a.agent_id}
            agentName={names[a.agent_id]}
            req={a.request as unknown as ApprovalRequestedData}
            owner={ownerOf(a as typeof a & { owner?: UserRef }, who?.id)}
          />
        </div>
      ))}
    </div>
  );
}
