// Hosts: every Paddock host on this database (several hosts sharing one
// PostgreSQL), each with its state, load, heartbeat, version, address and
// the agents it runs (linked to their screens), refreshed every two
// seconds; the agents waiting for a host while a dead host's leases
// expire; and, with SQLite, the one host and how to get several.

import { type ReactNode, useEffect, useMemo, useState } from 'react';
import { Link } from 'react-router-dom';
import { useQuery } from '@tanstack/react-query';
import { get } from '../api/client';
import type { AgentView, HostState, HostView } from '../api/types';
import { StatusBadge } from '../components/Status';
import { Button, EmptyState, ErrorNote, Stats, useTitle } from '../components/ui';

/** How often the screen asks again (a lease is 10 s by default: a dead host shows within a few seconds of it). */
const REFRESH_MS = 2000;
/** A host's agents are listed open when it has at most this many (the others open on a click). */
const OPEN_UP_TO = 12;

/** Each state's words, colours and what it means (a record: a new state in the API must be named here). */
export const HOST_STATES: Record<HostState, { label: string; tone: string; dot: string; meaning: string }> = {
  live: {
    label: 'live',
    tone: 'bg-green-100 text-green-900 dark:bg-green-900 dark:text-green-100',
    dot: 'bg-green-600 dark:bg-green-300',
    meaning: 'running agents and taking new ones',
  },
  draining: {
    label: 'draining',
    tone: 'bg-amber-100 text-amber-950 dark:bg-amber-900 dark:text-amber-100',
    dot: 'bg-amber-600 dark:bg-amber-300',
    meaning: 'handing its agents over at their next safe point, then it exits',
  },
  unreachable: {
    label: 'unreachable',
    tone: 'bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100',
    dot: 'bg-red-600 dark:bg-red-300',
    meaning: 'no heartbeat for longer than a lease: the other hosts take its agents over',
  },
  stopped: {
    label: 'stopped',
    tone: 'bg-slate-200 text-slate-900 dark:bg-slate-700 dark:text-slate-100',
    dot: 'bg-slate-500 dark:bg-slate-300',
    meaning: 'stopped cleanly',
  },
};

/** SQLite: the API lists this host alone, named "this host", with no cap on its agents. */
export function isSingleHost(hosts: HostView[]): boolean {
  return hosts.length === 1 && hosts[0].this && hosts[0].capacity === 0 && hosts[0].id === 'this host';
}

/** "just now", "3 s ago", "4 min ago", "2 h ago", "3 d ago". */
export function ageText(ms: number): string {
  const s = Math.floor(Math.max(0, ms) / 1000);
  if (s < 1) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** A host's agents over its capacity, in percent (null: no cap). */
export function loadPercent(h: Pick<HostView, 'agents' | 'capacity'>): number | null {
  if (h.capacity === 0) return null;
  return Math.round((100 * h.agents) / h.capacity);
}

/** The bar's colour: blue, amber from 70 %, red from 90 %. */
export function loadTone(percent: number): string {
  if (percent >= 90) return 'bg-red-600 dark:bg-red-400';
  if (percent >= 70) return 'bg-amber-500 dark:bg-amber-400';
  return 'bg-blue-600 dark:bg-blue-400';
}

/** The totals above the hosts: live hosts, agents, agents at work, capacity of the live hosts. */
export function totals(hosts: HostView[]) {
  const live = hosts.filter((h) => h.state === 'live');
  const agents = hosts.reduce((n, h) => n + h.agents, 0);
  const busy = hosts.reduce((n, h) => n + h.busy, 0);
  const capacity = live.reduce((n, h) => n + h.capacity, 0);
  const onLive = live.reduce((n, h) => n + h.agents, 0);
  return { live: live.length, hosts: hosts.length, agents, busy, capacity, onLive };
}

/**
 * The agents no host runs right now (several hosts only): not stopped, and
 * their host is none, or one that is not live or draining (or no longer
 * listed) — they move when their leases expire.
 */
export function waitingAgents(agents: AgentView[], hosts: HostView[]): AgentView[] {
  const running = new Set(hosts.filter((h) => h.state === 'live' || h.state === 'draining').map((h) => h.id));
  return agents.filter((a) => a.status !== 'stopped' && !a.deleted_at && (!a.host || !running.has(a.host)));
}

/** The current time, ticking every second. */
function useNow(): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  return now;
}

export function StateBadge({ state }: { state: HostState }) {
  const s = HOST_STATES[state];
  return (
    <span
      data-testid="host-state"
      title={s.meaning}
      className={`inline-flex items-center gap-1.5 rounded px-2 py-0.5 text-xs font-semibold whitespace-nowrap ${s.tone}`}
    >
      <span aria-hidden="true" className={`inline-block h-2 w-2 rounded-full ${s.dot}`} />
      {s.label}
    </span>
  );
}

function LoadBar({ h }: { h: HostView }) {
  // A host that is gone has no load to speak of.
  const pct = h.state === 'unreachable' || h.state === 'stopped' ? null : loadPercent(h);
  return (
    <div className="flex flex-col gap-1">
      <div className="flex flex-wrap items-baseline justify-between gap-x-3 text-sm">
        <span>
          <strong className="text-lg" data-testid="host-agents">
            {h.agents}
          </strong>{' '}
          {pct !== null ? `of ${h.capacity} agents` : h.capacity === 0 ? `agent${h.agents === 1 ? '' : 's'} (no cap)` : `agent${h.agents === 1 ? '' : 's'}`}
        </span>
        <span className="text-slate-700 dark:text-slate-300" data-testid="host-busy">
          {h.busy} at work{pct !== null && ` · ${pct}% full`}
        </span>
      </div>
      {pct !== null && (
        <div
          role="meter"
          aria-label={`Load of ${h.id}`}
          aria-valuemin={0}
          aria-valuemax={h.capacity}
          aria-valuenow={h.agents}
          aria-valuetext={`${h.agents} of ${h.capacity} agents`}
          className="h-2 w-full overflow-hidden rounded bg-slate-200 dark:bg-slate-700"
        >
          <div className={`h-full rounded ${loadTone(pct)}`} style={{ width: `${Math.min(100, Math.max(pct, h.agents > 0 ? 2 : 0))}%` }} />
        </div>
      )}
    </div>
  );
}

function AgentList({ h, names }: { h: HostView; names: Map<string, AgentView> }) {
  const [open, setOpen] = useState(h.agent_ids.length <= OPEN_UP_TO);
  const hidden = Math.max(0, h.agents - h.agent_ids.length);
  const listId = `host-agents-${h.id.replace(/[^a-zA-Z0-9_-]/g, '_')}`;
  if (h.agent_ids.length === 0) {
    return (
      <p className="text-sm text-slate-700 dark:text-slate-300">
        {hidden > 0 ? `${hidden} agent${hidden === 1 ? '' : 's'} you cannot see.` : h.state === 'live' ? 'No agents right now.' : 'No agents.'}
      </p>
    );
  }
  return (
    <div className="flex flex-col gap-2">
      <div>
        <Button aria-expanded={open} aria-controls={listId} onClick={() => setOpen(!open)}>
          <span aria-hidden="true">{open ? '▾' : '▸'}</span> Agents ({h.agent_ids.length})
        </Button>
      </div>
      {open && (
        <ul id={listId} className="flex flex-col divide-y divide-slate-200 text-sm dark:divide-slate-800" data-testid="host-agent-list">
          {h.agent_ids.map((id) => {
            const a = names.get(id);
            return (
              <li key={id} className="flex min-w-0 items-center justify-between gap-2 py-1.5" data-testid="host-agent">
                <Link to={`/agents/${encodeURIComponent(id)}`} className="min-w-0 truncate font-medium text-blue-800 underline dark:text-blue-300">
                  {a?.name ?? id}
                </Link>
                {a && <StatusBadge status={a.status} />}
              </li>
            );
          })}
        </ul>
      )}
      {hidden > 0 && (
        <p className="text-xs text-slate-700 dark:text-slate-300">
          And {hidden} agent{hidden === 1 ? '' : 's'} you cannot see.
        </p>
      )}
    </div>
  );
}

function HostCard({ h, names, age, now, single = false }: { h: HostView; names: Map<string, AgentView>; age: number; now: number; single?: boolean }) {
  const title = single ? 'This host' : h.id;
  const headingId = `host-${h.id.replace(/[^a-zA-Z0-9_-]/g, '_')}`;
  // One host has no heartbeat to show: it is the process answering.
  const facts: [string, ReactNode][] = [
    ...(single ? [] : [['Heartbeat', ageText(age)] as [string, ReactNode]]),
    ['Started', <span title={new Date(h.started_at).toLocaleString()}>{ageText(now - Date.parse(h.started_at))}</span>],
    ['Version', h.version],
    ['Address', h.advertise_url ? <span className="font-mono break-all">{h.advertise_url}</span> : 'not advertised'],
  ];
  const down = h.state === 'unreachable' || h.state === 'stopped';
  return (
    <section
      aria-labelledby={headingId}
      data-testid="host"
      data-host-id={h.id}
      data-state={h.state}
      className={`flex min-w-0 flex-col gap-3 rounded-lg border bg-white p-4 dark:bg-slate-900 ${
        h.state === 'unreachable' ? 'border-red-400 dark:border-red-700' : 'border-slate-300 dark:border-slate-700'
      }`}
    >
      <div className="flex flex-wrap items-start justify-between gap-2">
        <div className="flex min-w-0 flex-wrap items-center gap-2">
          <h2 id={headingId} className={`text-lg font-semibold break-all ${single ? '' : 'font-mono'}`}>
            {title}
          </h2>
          {h.this && !single && (
            <span
              className="rounded-full border border-blue-700 px-2 text-xs font-semibold text-blue-800 dark:border-blue-300 dark:text-blue-200"
              data-testid="this-host"
              title="The host this dashboard is connected to"
            >
              this host
            </span>
          )}
        </div>
        <StateBadge state={h.state} />
      </div>
      {h.state !== 'live' && (
        <p className={`text-sm ${down ? 'text-red-900 dark:text-red-200' : 'text-amber-950 dark:text-amber-100'}`}>
          {h.state === 'unreachable'
            ? `No heartbeat for ${Math.round(age / 1000)} s: the other hosts take its agents over as their leases expire.`
            : HOST_STATES[h.state].meaning[0].toUpperCase() + HOST_STATES[h.state].meaning.slice(1) + '.'}
        </p>
      )}
      <LoadBar h={h} />
      <dl className={`grid gap-x-4 gap-y-2 text-sm ${single ? 'grid-cols-2 sm:grid-cols-4' : 'grid-cols-3 sm:grid-cols-5'}`}>
        {facts.map(([k, v]) => (
          // The address gets two columns: a URL broken in the middle reads badly.
          <div key={k} className={`min-w-0 ${k === 'Address' ? (single ? 'col-span-2' : 'col-span-3 sm:col-span-2') : ''}`}>
            <dt className="text-xs text-slate-700 dark:text-slate-300">{k}</dt>
            <dd
              className={k === 'Heartbeat' && h.state === 'unreachable' ? 'font-semibold text-red-800 dark:text-red-200' : ''}
              data-testid={`host-${k.toLowerCase()}`}
            >
              {v}
            </dd>
          </div>
        ))}
      </dl>
      <AgentList h={h} names={names} />
    </section>
  );
}

function Totals({ hosts }: { hosts: HostView[] }) {
  const t = totals(hosts);
  const pct = t.capacity ? Math.round((100 * t.onLive) / t.capacity) : null;
  const cells: [string, string][] = [
    ['Live hosts', `${t.live} of ${t.hosts}`],
    ['Agents', String(t.agents)],
    ['At work', String(t.busy)],
    ['Capacity used', pct === null ? '—' : `${t.onLive} / ${t.capacity} (${pct}%)`],
  ];
  return <Stats label="Totals" testId="host-totals" cells={cells} />;
}

function Waiting({ agents, hosts }: { agents: AgentView[]; hosts: HostView[] }) {
  if (agents.length === 0) return null;
  const listed = new Set(hosts.map((h) => h.id));
  return (
    <section aria-labelledby="waiting-agents" className="rounded-lg border border-amber-400 bg-amber-50 p-4 dark:border-amber-700 dark:bg-amber-950">
      <h2 id="waiting-agents" className="mb-1 text-lg font-semibold">
        Waiting for a host ({agents.length})
      </h2>
      <p className="mb-2 text-sm">Their host stopped answering; another host resumes each one when its lease expires.</p>
      <ul className="flex flex-col divide-y divide-slate-200 text-sm dark:divide-slate-800" data-testid="waiting-agents">
        {agents.map((a) => (
          <li key={a.id} className="flex min-w-0 flex-wrap items-center justify-between gap-2 py-1.5">
            <Link to={`/agents/${encodeURIComponent(a.id)}`} className="min-w-0 truncate font-medium text-blue-800 underline dark:text-blue-300">
              {a.name}
            </Link>
            <span className="text-xs text-slate-700 dark:text-slate-300">
              {a.host ? `was on ${a.host}${listed.has(a.host) ? '' : ' (gone)'}` : 'released'} <StatusBadge status={a.status} />
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function HostsScreen() {
  useTitle('Hosts');
  const hosts = useQuery({ queryKey: ['hosts'], queryFn: () => get<HostView[]>('/api/hosts'), refetchInterval: REFRESH_MS });
  // The agents' names and statuses (the same query as the Agents screen's).
  const agents = useQuery({ queryKey: ['agents'], queryFn: () => get<AgentView[]>('/api/agents'), refetchInterval: REFRESH_MS });
  const now = useNow();
  const names = useMemo(() => new Map((agents.data ?? []).map((a) => [a.id, a])), [agents.data]);
  const list = hosts.data;
  const single = list !== undefined && isSingleHost(list);
  const waiting = useMemo(() => (list && !single && agents.data ? waitingAgents(agents.data, list) : []), [list, single, agents.data]);
  // The heartbeat ages were measured by the database when the list was read: they grow until the next read.
  const since = hosts.dataUpdatedAt ? Math.max(0, now - hosts.dataUpdatedAt) : 0;

  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-end justify-between gap-2">
        <h1 className="text-2xl font-bold">Hosts</h1>
        {list && (
          <p className="text-xs text-slate-700 dark:text-slate-300" data-testid="hosts-updated">
            {hosts.isError ? `Last read ${ageText(since)}` : `Refreshed every ${REFRESH_MS / 1000} s`}
          </p>
        )}
      </div>
      <ErrorNote error={hosts.error} />
      {!list && hosts.isPending && (
        <p role="status" className="text-sm">
          Loading the hosts…
        </p>
      )}
      {list && list.length === 0 && (
        <EmptyState title="No hosts heard from">
          No Paddock host has sent a heartbeat within two leases. The one answering this page should be listed within seconds; if not, its lease loop is not
          running (see <code>/readyz</code>).
        </EmptyState>
      )}
      {list && single && (
        <>
          <section
            aria-labelledby="single-host"
            data-testid="single-host"
            className="rounded-lg border border-blue-300 bg-blue-50 p-4 text-sm dark:border-blue-800 dark:bg-blue-950"
          >
            <h2 id="single-host" className="text-lg font-semibold">
              One host (SQLite)
            </h2>
            <p className="mt-1 max-w-prose">
              This Paddock keeps its data in SQLite, so this one process runs every agent. Several hosts need PostgreSQL — see README ‘Several hosts’ (
              <code>database_url = "postgres://…"</code> on each host, the same master key and tokens).
            </p>
          </section>
          <HostCard h={list[0]} names={names} age={0} now={now} single />
        </>
      )}
      {list && list.length > 0 && !single && (
        <>
          <Totals hosts={list} />
          <Waiting agents={waiting} hosts={list} />
          <div className="grid gap-4 xl:grid-cols-2" data-testid="host-list">
            {list.map((h) => (
              <HostCard key={h.id} h={h} names={names} age={h.heartbeat_age_ms + since} now={now} />
            ))}
          </div>
        </>
      )}
    </div>
  );
}
