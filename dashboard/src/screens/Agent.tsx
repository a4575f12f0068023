// Agent: built for reviewing an agent's work. The conversation fills the
// page and scrolls with it (virtualised for very long logs, following the
// end while the reader is there, "Jump to latest" when not), assistant text
// as Markdown; a compact header (name, model, truthful status, Interrupt,
// Replay) and one usage line that expands; a side panel (Changes,
// Terminal, Files: a column on wide screens, a drawer on phones); pending
// approvals pinned above the message box and focused when they appear;
// retries collapsed into one line and a fatal error shown once, with
// Retry — and, for an agent at rest, a step-by-step replay of its log.

import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useWindowVirtualizer } from '@tanstack/react-virtual';
import { ApiError, get, post } from '../api/client';
import type { AgentEvent, AgentMetrics, AgentView, EventPage } from '../api/types';
import { useAgentEvents } from '../live/store';
import { isBusy } from '../live/activity';
import { hookLine, isLiveOnly, replayTo, type Item, type RetriesItem, type EnvironmentItem, type Timeline } from '../live/timeline';
import { ApprovalCard } from '../components/ApprovalCard';
import { ToolCallView, duration } from '../components/ToolCall';
import { Thinking, UsageLine } from '../components/ModelCall';
import { Markdown } from '../components/Markdown';
import { AgentStatusView } from '../components/Status';
import { SidePanel, SidePanelDrawer, useWide } from '../components/SidePanel';
import { Button, ErrorNote, Form, ScrollX, inputClass, tokens, usd } from '../components/ui';
import { ShareDialog } from '../components/Share';
import { AgentFamily } from '../components/Family';
import { readOnlyReason, useWho } from '../api/me';
import { ownerLine } from './Agents';

// until openapi has it: the fields newer hosts add to an agent's view.
interface AgentViewExtra {
  status_reason?: string | null;
  error_code?: string | null;
}

/** Sets the page title while mounted (the previous one comes back after). */
function useTitle(title: string | null) {
  useEffect(() => {
    if (title === null) return;
    const before = document.title;
    document.title = title;
    return () => {
      document.title = before;
    };
  }, [title]);
}

function NotFound() {
  useTitle('Agent not found · Paddock');
  return (
    <section aria-labelledby="not-found" className="flex max-w-xl flex-col gap-2">
      <h1 id="not-found" className="text-2xl font-bold">
        Agent not found
      </h1>
      <p className="text-sm">There is no agent with this id: it may have been deleted, or the link is wrong.</p>
      <p>
        <Link to="/" className="text-blue-800 underline dark:text-blue-300">
          Back to the agents
        </Link>
      </p>
    </section>
  );
}

export function AgentScreen() {
  const { id = '' } = useParams();
  const agent = useQuery({
    queryKey: ['agent', id],
    queryFn: () => get<AgentView>(`/api/agents/${encodeURIComponent(id)}`),
    refetchInterval: (q) => (q.state.error instanceof ApiError && q.state.error.status === 404 ? false : 3000),
  });
  const missing = agent.error instanceof ApiError && agent.error.status === 404;
  if (missing) return <NotFound />;
  return <AgentPage id={id} agent={agent.data} error={agent.error} />;
}

function AgentPage({ id, agent, error }: { id: string; agent: AgentView | undefined; error: unknown }) {
  const live = useAgentEvents(id);
  const [replay, setReplay] = useState<AgentEvent[] | null>(null);
  const [step, setStep] = useState(0);
  const [drawer, setDrawer] = useState(false);
  const [sharing, setSharing] = useState(false);
  const wide = useWide();
  const who = useWho();
  const readOnly = readOnlyReason(who);
  const owner = agent ? ownerLine(agent, who) : '';
  const ownerId = agent?.owner.id;
  // The owner or an admin shares it (the API refuses anyone else).
  const mayShare = !!agent && !!who && !readOnly && ownerId !== undefined && (who.admin || ownerId === who.id);
  const status: string | undefined = live?.status ?? agent?.status;
  const reason = live ? live.statusReason : ((agent as (AgentView & AgentViewExtra) | undefined)?.status_reason ?? null);
  const busy = isBusy(status);
  useTitle(agent ? `${agent.name} · Paddock` : null);

  const replayed = useMemo(() => (replay ? replayTo(replay, step) : null), [replay, step]);
  const tl = replayed ?? live;
  const workspaceId = agent?.config.workspace_id;
  const pending = replay ? [] : Object.values(live?.pending ?? {});
  const panel = <SidePanel agentId={id} workspaceId={workspaceId} tl={tl} activity={`${status ?? ''}:${live?.usage.toolCalls ?? 0}`} />;

  return (
    <div className="flex flex-col gap-4 lg:grid lg:grid-cols-[minmax(0,1fr)_minmax(22rem,40%)] lg:items-start lg:gap-6">
      <div className="flex min-w-0 flex-col gap-3">
        <header className="flex flex-wrap items-start justify-between gap-x-3 gap-y-2">
          <div className="min-w-0">
            <h1 className="text-xl font-bold break-words">{agent?.name ?? 'Agent'}</h1>
            {agent && (
              <p className="text-xs break-words text-slate-700 dark:text-slate-300">
                {agent.config.model.provider}/{agent.config.model.model}
                {agent.config.reasoning_effort && ` · reasoning effort: ${agent.config.reasoning_effort}`} · approvals: {agent.config.approval_mode} · sandbox:{' '}
                {agent.sandbox ?? 'unavailable'}
                {agent.host && (
                  <>
                    {' · '}
                    <span data-testid="agent-host">
                      host:{' '}
                      <Link to="/hosts" className="underline decoration-dotted">
                        {agent.host}
                      </Link>
                    </span>
                  </>
                )}
              </p>
            )}
            {owner && (
              <p className="text-xs break-words text-slate-700 dark:text-slate-300" data-testid="agent-owner">
                {owner}
              </p>
            )}
            {agent && <AgentFamily agent={agent} />}
            <div className="mt-1">
              <AgentStatusView status={status} reason={reason} timeline={live} hideDetail={!!live?.failure} />
            </div>
          </div>
          <div className="flex flex-wrap items-center gap-2">
            {!replay && !readOnly && <InterruptButton id={id} disabled={!busy} />}
            {mayShare && <Button onClick={() => setSharing(true)}>Share</Button>}
            {!replay && (
              <ReplayButton
                id={id}
                disabled={busy}
                onLoaded={(events) => {
                  setReplay(events);
                  setStep(0);
                }}
              />
            )}
            {!wide && (
              <Button onClick={() => setDrawer(true)} aria-haspopup="dialog">
                Changes · Terminal · Files
              </Button>
            )}
          </div>
        </header>
        <ErrorNote error={error} />
        <UsageSummary id={id} tl={tl} agent={agent} />
        <NetworkSummary tl={tl} />
        {replay && <ReplayControls total={replay.filter((e) => !isLiveOnly(e)).length} step={step} setStep={setStep} onExit={() => setReplay(null)} />}
        <TimelineView
          id={id}
          tl={tl}
          status={status}
          replaying={!!replay}
          streaming={replay ? '' : (live?.streaming ?? '')}
          thinking={replay ? '' : (live?.thinking ?? '')}
        />
        {!replay && (
          <div
            className="sticky bottom-0 z-10 -mx-1 flex flex-col gap-2 border-t border-slate-300 bg-slate-50/95 px-1 pt-2 pb-3 backdrop-blur dark:border-slate-700 dark:bg-slate-950/95"
            data-testid="composer"
          >
            {pending.length > 0 && (
              <div className="flex max-h-[55vh] flex-col gap-2 overflow-auto" role="region" aria-label="Approvals needed" tabIndex={-1}>
                {pending.map((req) => (
                  <ApprovalCard key={req.call_id} agentId={id} req={req} autoFocus />
                ))}
              </div>
            )}
            <MessageBox id={id} disabled={status === 'stopped' || !!readOnly} reason={readOnly ?? (status === 'stopped' ? 'This agent is stopped.' : null)} />
          </div>
        )}
      </div>
      {wide ? (
        <aside aria-labelledby="review-heading" className="min-w-0 lg:sticky lg:top-4 lg:max-h-[calc(100vh-2rem)] lg:overflow-auto">
          <h2 id="review-heading" className="sr-only">
            Review: changes, terminal, files
          </h2>
          {panel}
        </aside>
      ) : (
        <SidePanelDrawer open={drawer} onClose={() => setDrawer(false)}>
          {panel}
        </SidePanelDrawer>
      )}
      {mayShare && agent && <ShareDialog agentId={id} agentName={agent.name} open={sharing} onClose={() => setSharing(false)} admin={who?.admin ?? false} />}
    </div>
  );
}

function InterruptButton({ id, disabled }: { id: string; disabled: boolean }) {
  const m = useMutation({ mutationFn: () => post(`/api/agents/${encodeURIComponent(id)}/interrupt`) });
  return (
    <Button onClick={() => m.mutate()} disabled={disabled || m.isPending}>
      Interrupt
    </Button>
  );
}

/** Loads the whole stored log, page by page. */
async function loadAll(id: string): Promise<AgentEvent[]> {
  const all: AgentEvent[] = [];
  let after = 0;
  for (;;) {
    const page = await get<EventPage>(`/api/agents/${encodeURIComponent(id)}/events?after=${after}&limit=5000`);
    all.push(...(page.events as AgentEvent[]));
    if (page.events.length === 0 || after >= page.last_seq) break;
    after = page.events[page.events.length - 1].seq;
    if (after >= page.last_seq) break;
  }
  return all;
}

function ReplayButton({ id, disabled, onLoaded }: { id: string; disabled: boolean; onLoaded: (e: AgentEvent[]) => void }) {
  const m = useMutation({ mutationFn: () => loadAll(id), onSuccess: onLoaded });
  return (
    <>
      <Button onClick={() => m.mutate()} disabled={disabled || m.isPending} title={disabled ? 'Replay is for an agent at rest' : undefined}>
        Replay
      </Button>
      <ErrorNote error={m.error} />
    </>
  );
}

function ReplayControls({ total, step, setStep, onExit }: { total: number; step: number; setStep: (n: number) => void; onExit: () => void }) {
  const [playing, setPlaying] = useState(false);
  useEffect(() => {
    if (!playing) return;
    if (step >= total) {
      setPlaying(false);
      return;
    }
    const t = setTimeout(() => setStep(step + 1), 300);
    return () => clearTimeout(t);
  }, [playing, step, total, setStep]);
  return (
    <section aria-label="Replay" className="rounded-lg border border-slate-300 bg-white p-2 dark:border-slate-700 dark:bg-slate-900">
      <div className="flex flex-wrap items-center gap-2">
        <Button onClick={() => setStep(Math.max(0, step - 1))} disabled={step === 0}>
          Step back
        </Button>
        <Button onClick={() => setStep(Math.min(total, step + 1))} disabled={step >= total}>
          Step forward
        </Button>
        <Button onClick={() => setPlaying(!playing)}>{playing ? 'Pause' : 'Play'}</Button>
        <label className="flex min-w-48 flex-1 items-center gap-2 text-sm">
          Event
          <input type="range" min={0} max={total} value={step} onChange={(e) => setStep(Number(e.target.value))} className="flex-1" />
        </label>
        <span className="text-sm" aria-live="polite" data-testid="replay-step">
          {step} / {total}
        </span>
        <Button onClick={onExit}>Back to live</Button>
      </div>
    </section>
  );
}

/** The sandbox's connections through its egress proxy: one line of counts that opens to the hosts. */
function NetworkSummary({ tl }: { tl: Timeline | null | undefined }) {
  const n = tl?.network;
  if (!n || n.allowed + n.refused === 0) return null;
  const hosts = Object.values(n.hosts);
  return (
    <details className="text-xs" data-testid="network-summary">
      <summary className="cursor-pointer rounded px-1 py-1 text-slate-800 hover:bg-slate-100 dark:text-slate-200 dark:hover:bg-slate-800">
        Network: {n.allowed} allowed · {n.refused} refused ({hosts.length} host{hosts.length === 1 ? '' : 's'})
      </summary>
      <table className="mt-1 w-full text-left">
        <thead>
          <tr>
            <th className="px-1 font-medium">Host</th>
            <th className="px-1 font-medium">Allowed</th>
            <th className="px-1 font-medium">Refused</th>
            <th className="px-1 font-medium">Sent / received</th>
            <th className="px-1 font-medium">Why</th>
          </tr>
        </thead>
        <tbody>
          {hosts.map((h) => (
            <tr key={h.target} className="border-t border-slate-200 align-top dark:border-slate-800">
              <td className="px-1 break-all">
                <code>{h.target}</code>
              </td>
              <td className="px-1">{h.allowed}</td>
              <td className={`px-1 ${h.refused ? 'font-semibold text-red-800 dark:text-red-300' : ''}`}>{h.refused}</td>
              <td className="px-1 whitespace-nowrap">
                {bytes(h.bytesSent)} / {bytes(h.bytesReceived)}
              </td>
              <td className="px-1 break-words">{h.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}

/** A byte count for people. */
function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** One line of totals (tokens, cost, calls, time) that opens to the detail. */
function UsageSummary({ id, tl, agent }: { id: string; tl: Timeline | null | undefined; agent: AgentView | undefined }) {
  const [open, setOpen] = useState(false);
  const u = tl && tl.lastSeq > 0 ? tl.usage : null;
  const s = agent?.usage;
  const tokensIn = u?.inputTokens ?? s?.input_tokens ?? 0;
  const tokensOut = u?.outputTokens ?? s?.output_tokens ?? 0;
  const calls = u?.modelCalls ?? s?.model_calls ?? 0;
  const toolCalls = u?.toolCalls ?? s?.tool_calls ?? 0;
  const failed = u?.toolFailures ?? s?.tool_failures ?? 0;
  const worked = u ? u.modelMs + u.toolMs : 0;
  const line = [
    `${tokens(tokensIn)} in / ${tokens(tokensOut)} out tokens`,
    usd(u?.costUsd ?? s?.cost_usd),
    `${calls} model call${calls === 1 ? '' : 's'}`,
    `${toolCalls} tool call${toolCalls === 1 ? '' : 's'}${failed ? ` (${failed} failed)` : ''}`,
    ...(worked > 0 ? [`worked ${duration(worked)}`] : []),
  ].join(' · ');
  return (
    <section aria-label="Usage" className="text-sm">
      <button
        type="button"
        aria-expanded={open}
        onClick={() => setOpen(!open)}
        className="flex w-full items-center gap-2 rounded px-1 py-1 text-left text-xs text-slate-800 hover:bg-slate-100 dark:text-slate-200 dark:hover:bg-slate-800"
        data-testid="usage-summary"
      >
        <span aria-hidden="true">{open ? '▾' : '▸'}</span>
        <span className="min-w-0 flex-1">{line}</span>
        <span className="sr-only">{open ? '(hide the detail)' : '(show the detail)'}</span>
      </button>
      {open && (
        <div className="mt-2 flex flex-col gap-2">
          <UsageCards tl={tl} agent={agent} />
          <Performance id={id} />
        </div>
      )}
    </section>
  );
}

/** Today's detail: six cards. */
function UsageCards({ tl, agent }: { tl: Timeline | null | undefined; agent: AgentView | undefined }) {
  // The live totals once the log is loaded; the stored ones until then.
  const u = tl && tl.lastSeq > 0 ? tl.usage : null;
  const s = agent?.usage;
  // Reasoning tokens come from the log (the stored totals do not split them out).
  const reasoning = u?.reasoningTokens ?? 0;
  // [label, value, a note under the value]
  const cells: [string, string, string?][] = [
    ['Model calls', String(u?.modelCalls ?? s?.model_calls ?? 0)],
    ['Input tokens', tokens(u?.inputTokens ?? s?.input_tokens)],
    ['Cached', tokens(u?.cachedTokens ?? s?.cached_tokens)],
    ['Output tokens', tokens(u?.outputTokens ?? s?.output_tokens), reasoning > 0 ? `${tokens(reasoning)} of them reasoning` : undefined],
    ['Cost', usd(u?.costUsd ?? s?.cost_usd)],
    ['Tool calls', `${u?.toolCalls ?? s?.tool_calls ?? 0} (${u?.toolFailures ?? s?.tool_failures ?? 0} failed)`],
  ];
  return (
    <dl className="grid grid-cols-2 gap-2 sm:grid-cols-3 lg:grid-cols-6" aria-label="Usage for this agent">
      {cells.map(([k, v, note]) => (
        <div key={k} className="rounded border border-slate-300 bg-white p-2 dark:border-slate-700 dark:bg-slate-900">
          <dt className="text-xs text-slate-700 dark:text-slate-300">{k}</dt>
          <dd className="font-semibold" data-testid={`usage-${k.toLowerCase().replace(' ', '-')}`}>
            {v}
            {note && <span className="block text-xs font-normal text-slate-700 dark:text-slate-300">{note}</span>}
          </dd>
        </div>
      ))}
    </dl>
  );
}

function ms(p: { p50: number; p95: number } | null | undefined, unit = 'ms'): string {
  return p ? `${Math.round(p.p50)} / ${Math.round(p.p95)} ${unit}` : '—';
}

/** Model latency, tool error rates and approval waits (from /api/metrics). */
function Performance({ id }: { id: string }) {
  const m = useQuery({
    queryKey: ['agent-metrics', id],
    queryFn: () => get<AgentMetrics>(`/api/metrics/agents/${encodeURIComponent(id)}`),
    refetchInterval: 5000,
  });
  if (!m.data) return null;
  const d = m.data;
  const failures = d.tools.reduce((n, t) => n + t.failures, 0);
  const calls = d.tools.reduce((n, t) => n + t.calls, 0);
  return (
    <details className="rounded border border-slate-300 bg-white p-2 text-sm dark:border-slate-700 dark:bg-slate-900">
      <summary className="cursor-pointer font-medium">Performance (p50 / p95)</summary>
      <dl className="mt-2 grid grid-cols-1 gap-x-4 gap-y-1 sm:grid-cols-2 lg:grid-cols-3">
        <div>
          <dt className="inline font-medium">Time to first token: </dt>
          <dd className="inline">{ms(d.model.ttft_ms)}</dd>
        </div>
        <div>
          <dt className="inline font-medium">Tokens per second: </dt>
          <dd className="inline">{ms(d.model.tokens_per_second, 'tok/s')}</dd>
        </div>
        <div>
          <dt className="inline font-medium">Model call: </dt>
          <dd className="inline">{ms(d.model.duration_ms)}</dd>
        </div>
        <div>
          <dt className="inline font-medium">Tool errors: </dt>
          <dd className="inline">{calls ? `${failures} of ${calls}` : '—'}</dd>
        </div>
        <div>
          <dt className="inline font-medium">Approvals: </dt>
          <dd className="inline">
            {d.approvals.asked} asked, {d.approvals.approved} approved, {d.approvals.denied} denied; waited {ms(d.approvals.wait_ms)}
          </dd>
        </div>
        <div>
          <dt className="inline font-medium">Sandbox: </dt>
          <dd className="inline">
            {d.sandbox
              ? `${d.sandbox.backend}: ${d.sandbox.memory_bytes === null || d.sandbox.memory_bytes === undefined ? '?' : `${(d.sandbox.memory_bytes / 1048576).toFixed(1)} MiB`}, ${d.sandbox.pids ?? '?'} processes${
                  d.sandbox.cpu_percent === null || d.sandbox.cpu_percent === undefined ? '' : `, ${d.sandbox.cpu_percent.toFixed(0)}% CPU`
                }`
              : 'not started'}
          </dd>
        </div>
        <div>
          <dt className="inline font-medium">Conversation: </dt>
          <dd className="inline">
            {d.messages} messages, {tokens(d.conversation_tokens)} tokens
          </dd>
        </div>
      </dl>
      {d.tools.length > 0 && (
        <ScrollX label="Tool calls of this agent">
          <table className="mt-2 w-full text-left text-xs">
            <thead>
              <tr>
                <th scope="col">Tool</th>
                <th scope="col">Calls</th>
                <th scope="col">Failed</th>
                <th scope="col">Duration p50 / p95</th>
              </tr>
            </thead>
            <tbody>
              {d.tools.map((t) => (
                <tr key={t.tool}>
                  <th scope="row" className="font-medium">
                    {t.tool}
                  </th>
                  <td>{t.calls}</td>
                  <td>{t.failures}</td>
                  <td>{ms(t.duration_ms)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </ScrollX>
      )}
    </details>
  );
}

/** Consecutive model retries: one line with a count, the messages on demand. */
function RetriesView({ item }: { item: RetriesItem }) {
  const last = item.messages[item.messages.length - 1] ?? '';
  return (
    <details
      className="rounded border border-amber-400 bg-amber-50 text-sm text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100"
      data-testid="retries-line"
    >
      <summary className="cursor-pointer px-2 py-1">
        <strong>
          Retried {item.count} time{item.count === 1 ? '' : 's'}
        </strong>
        : <span className="break-words">{last}</span>
      </summary>
      <ol className="list-decimal px-2 pb-2 pl-8 text-xs">
        {item.messages.map((m, i) => (
          <li key={i} className="break-words">
            {m}
          </li>
        ))}
      </ol>
    </details>
  );
}

function EnvironmentView({ item, open, onToggle }: { item: EnvironmentItem; open: boolean; onToggle: (o: boolean) => void }) {
  const tone =
    item.state === 'failed'
      ? 'border-red-400 bg-red-50 text-red-950 dark:border-red-700 dark:bg-red-950 dark:text-red-100'
      : 'border-slate-300 bg-slate-50 text-slate-900 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-100';
  const secs = item.durationMs !== null ? ` in ${(item.durationMs / 1000).toFixed(1)} s` : '';
  const headline =
    item.state === 'running'
      ? `Preparing environment ${item.name}…`
      : item.state === 'ready'
        ? `Environment ${item.name} ready${item.cached ? ' (cached)' : ''}${secs}`
        : `Environment ${item.name} failed${secs}`;
  // Open while it runs or after a failure; collapsed once ready (unless opened).
  const isOpen = item.state === 'ready' ? open : true;
  return (
    <details
      className={`rounded border text-sm ${tone}`}
      data-testid="environment-setup"
      data-state={item.state}
      open={isOpen}
      onToggle={(e) => {
        // Only a reader's toggle of a finished setup is remembered (the
        // open state of a running or failed one is the item's own).
        const now = (e.currentTarget as HTMLDetailsElement).open;
        if (item.state === 'ready' && now !== open) onToggle(now);
      }}
    >
      <summary className="cursor-pointer px-2 py-1">
        <strong>{headline}</strong>
        {item.detail && <span className="break-words"> — {item.detail}</span>}
      </summary>
      <div className="flex flex-col gap-2 px-2 pb-2">
        {item.ignored.length > 0 && <p className="text-xs">Ignored from devcontainer.json: {item.ignored.join(', ')}</p>}
        {item.commands.length === 0 && <p className="text-xs">No setup command ran.</p>}
        {item.commands.map((c, i) => (
          <div key={i} className="flex min-w-0 flex-col gap-1">
            <p className="text-xs">
              <span className="font-semibold">{c.phase ?? 'setup'}</span>: <code className="break-all">{c.command}</code>
              {c.exitCode !== null && ` — exit ${c.exitCode}`}
              {c.durationMs !== null && `, ${(c.durationMs / 1000).toFixed(1)} s`}
            </p>
            {c.output && <pre className="max-h-64 overflow-auto rounded bg-slate-950 p-2 text-xs whitespace-pre-wrap text-slate-100">{c.output}</pre>}
          </div>
        ))}
      </div>
    </details>
  );
}

function RetryButton({ id }: { id: string }) {
  const qc = useQueryClient();
  const m = useMutation({
    mutationFn: () => post(`/api/agents/${encodeURIComponent(id)}/retry`),
    onSettled: () => void qc.invalidateQueries({ queryKey: ['agent', id] }),
  });
  return (
    <div className="flex flex-col gap-1">
      <div>
        <Button tone="primary" onClick={() => m.mutate()} disabled={m.isPending || m.isSuccess}>
          {m.isPending ? 'Retrying…' : 'Retry'}
        </Button>
      </div>
      <ErrorNote error={m.error} />
    </div>
  );
}

interface ItemContext {
  id: string;
  /** The seq of the error that stopped the agent, when it is stopped by one now (it gets Retry). */
  retryable: number | null;
}

function ItemView({ item, open, onToggle, ctx }: { item: Item; open: boolean; onToggle: (o: boolean) => void; ctx: ItemContext }) {
  switch (item.kind) {
    case 'user':
      return (
        <div className="ml-auto max-w-[85%] rounded-lg bg-blue-700 p-3 text-white" data-testid="msg-user">
          <div className="text-xs font-semibold opacity-90">You</div>
          <div className="whitespace-pre-wrap">{item.text}</div>
        </div>
      );
    case 'assistant':
      return (
        <div className="max-w-full min-w-0 rounded-lg border border-slate-300 bg-white p-3 dark:border-slate-700 dark:bg-slate-900" data-testid="msg-assistant">
          <div className="text-xs font-semibold text-slate-700 dark:text-slate-300">Assistant</div>
          {item.reasoning.length > 0 && <Thinking text={item.reasoning.join('\n\n')} open={open} onToggle={onToggle} />}
          {item.text ? (
            <Markdown text={item.text} />
          ) : item.toolCalls > 0 ? (
            <em>
              (asks for {item.toolCalls} tool call{item.toolCalls > 1 ? 's' : ''})
            </em>
          ) : (
            <em>(no text: {item.finishReason})</em>
          )}
        </div>
      );
    case 'tool':
      return <ToolCallView item={item} open={open} onToggle={onToggle} />;
    case 'status':
      return (
        <p className="text-xs text-slate-700 dark:text-slate-300" data-testid="status-line">
          Status: {item.status.replace('_', ' ')} — {item.reason}
        </p>
      );
    case 'retries':
      return <RetriesView item={item} />;
    case 'hook':
      return (
        <p
          className={
            item.hook.outcome === 'failed' ? 'text-xs break-words text-amber-800 dark:text-amber-300' : 'text-xs break-words text-slate-700 dark:text-slate-300'
          }
          data-testid="hook-line"
        >
          {hookLine(item.hook)}
        </p>
      );
    case 'error':
      if (!item.recoverable) {
        return (
          <div
            role="note"
            className="flex flex-col gap-2 rounded border border-red-400 bg-red-50 p-3 text-sm text-red-950 dark:border-red-700 dark:bg-red-950 dark:text-red-100"
            data-testid="error-line"
          >
            <p>
              <strong>The agent stopped</strong> ({item.code}): <span className="break-words">{item.message}</span>
            </p>
            {ctx.retryable === item.seq && <RetryButton id={ctx.id} />}
          </div>
        );
      }
      return (
        <p
          role="note"
          className="rounded border border-amber-400 bg-amber-50 p-2 text-sm text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100"
          data-testid="error-line"
        >
          <strong>Warning</strong> ({item.code}): <span className="break-words">{item.message}</span>
        </p>
      );
    case 'usage':
      return <UsageLine usage={item.usage} />;
    case 'environment':
      return <EnvironmentView item={item} open={open} onToggle={onToggle} />;
  }
}

function TimelineView({
  id,
  tl,
  status,
  replaying,
  streaming,
  thinking,
}: {
  id: string;
  tl: Timeline | null | undefined;
  status: string | undefined;
  replaying: boolean;
  streaming: string;
  thinking: string;
}) {
  const list = useRef<HTMLDivElement>(null);
  const [open, setOpen] = useState<Record<string, boolean>>({});
  const items = tl?.items ?? [];
  const live = streaming !== '' || thinking !== '';
  const count = items.length + (live ? 1 : 0);
  // The list's distance from the top of the page (the virtualiser counts from there).
  const [margin, setMargin] = useState(0);
  useLayoutEffect(() => {
    const el = list.current;
    if (!el) return;
    const measure = () => setMargin(el.getBoundingClientRect().top + window.scrollY);
    measure();
    const ro = new ResizeObserver(measure);
    // What sits above the list (the header, the usage detail, replay controls) moves it: watch the column.
    const column = el.parentElement?.parentElement;
    if (column) ro.observe(column);
    return () => ro.disconnect();
  }, []);
  const virtual = useWindowVirtualizer({
    count,
    estimateSize: () => 72,
    overscan: 8,
    scrollMargin: margin,
    getItemKey: (i) => (i < items.length ? `${items[i].kind}-${items[i].seq}-${i}` : 'streaming'),
  });

  // Follow the end while the reader is there; scrolling up stops it.
  const following = useRef(true);
  const [away, setAway] = useState(false);
  useEffect(() => {
    let lastY = window.scrollY;
    const onScroll = () => {
      const d = document.documentElement;
      const nearEnd = d.scrollHeight - window.scrollY - window.innerHeight < 120;
      if (nearEnd) following.current = true;
      else if (window.scrollY < lastY - 2) following.current = false;
      lastY = window.scrollY;
      setAway(!nearEnd);
    };
    window.addEventListener('scroll', onScroll, { passive: true });
    return () => window.removeEventListener('scroll', onScroll);
  }, []);
  const toEnd = () => {
    if (count > 0) virtual.scrollToIndex(count - 1, { align: 'end' });
    requestAnimationFrame(() => window.scrollTo({ top: document.documentElement.scrollHeight }));
  };
  const total = virtual.getTotalSize();
  useLayoutEffect(() => {
    if (following.current && count > 0 && !replaying) toEnd();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [count, streaming, thinking, total, replaying]);

  const failure = tl?.failure ?? null;
  const retryable = failure && (status === 'error' || status === 'limited') && !replaying ? failure.seq : null;
  const ctx: ItemContext = { id, retryable };
  const toggle = (key: string) => (o: boolean) => setOpen((s) => (s[key] === o ? s : { ...s, [key]: o }));
  const rows = virtual.getVirtualItems();
  return (
    <section aria-labelledby="conversation-heading" className="relative">
      <h2 id="conversation-heading" className="sr-only">
        Conversation
      </h2>
      <div
        ref={list}
        role="log"
        aria-label="Conversation and tool calls"
        data-testid="timeline"
        data-last-seq={tl?.lastSeq ?? 0}
        className="relative w-full"
        style={{ height: count === 0 ? undefined : total }}
      >
        {count === 0 && <p className="p-2 text-sm">No events yet.</p>}
        {rows.map((row) => {
          const item = row.index < items.length ? items[row.index] : null;
          // The live answer's key changes with each stored event, so its thinking starts collapsed.
          const key = item ? `${item.kind}-${item.seq}` : `live-${tl?.lastSeq ?? 0}`;
          return (
            <div
              key={row.key}
              data-index={row.index}
              ref={virtual.measureElement}
              className="absolute left-0 flex w-full flex-col py-1"
              style={{ transform: `translateY(${row.start - virtual.options.scrollMargin}px)` }}
            >
              {item ? (
                <ItemView item={item} open={!!open[key]} onToggle={toggle(key)} ctx={ctx} />
              ) : (
                <div
                  className="max-w-full min-w-0 rounded-lg border border-blue-400 bg-white p-3 dark:border-blue-700 dark:bg-slate-900"
                  data-testid="msg-streaming"
                >
                  <div className="text-xs font-semibold text-slate-700 dark:text-slate-300">Assistant{streaming ? ' (typing…)' : ''}</div>
                  {thinking && <Thinking text={thinking} live active={!streaming} open={!!open[key]} onToggle={toggle(key)} />}
                  {streaming && <Markdown text={streaming} />}
                </div>
              )}
            </div>
          );
        })}
      </div>
      {away && count > 0 && (
        <div className="pointer-events-none sticky bottom-40 z-20 flex justify-center">
          <Button
            className="pointer-events-auto shadow-md"
            onClick={() => {
              following.current = true;
              toEnd();
            }}
          >
            ↓ Jump to latest
          </Button>
        </div>
      )}
    </section>
  );
}

function MessageBox({ id, disabled, reason }: { id: string; disabled: boolean; reason: string | null }) {
  const [text, setText] = useState('');
  const qc = useQueryClient();
  const send = useMutation({
    mutationFn: (t: string) => post(`/api/agents/${encodeURIComponent(id)}/messages`, { text: t }),
    onSuccess: () => {
      setText('');
      void qc.invalidateQueries({ queryKey: ['agent', id] });
    },
  });
  return (
    <Form
      className="flex flex-col gap-1"
      onSubmit={() => {
        if (text.trim()) send.mutate(text);
      }}
    >
      <label htmlFor="message" className="text-sm font-medium">
        Message
      </label>
      <textarea
        id="message"
        className={inputClass}
        rows={2}
        value={text}
        disabled={disabled}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && text.trim()) send.mutate(text);
        }}
        placeholder={disabled ? (reason ?? '') : 'Ask or instruct the agent (Ctrl+Enter sends)'}
      />
      <ErrorNote error={send.error} />
      <div className="flex items-center justify-end gap-2">
        {disabled && reason && <span className="text-xs text-slate-700 dark:text-slate-300">{reason}</span>}
        <Button tone="primary" type="submit" disabled={disabled || send.isPending || !text.trim()}>
          Send
        </Button>
      </div>
    </Form>
  );
}
