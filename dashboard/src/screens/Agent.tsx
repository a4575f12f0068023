// Agent: the conversation with live streaming, the timeline of tool calls,
// approval cards, the message box, interrupt, usage, the agent's workspace
// (diff, commit, merge, backup) — and, for an agent at rest, a step-by-step
// replay of its event log.

import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { useParams } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useVirtualizer } from '@tanstack/react-virtual';
import { get, post } from '../api/client';
import type { AgentEvent, AgentMetrics, AgentView, EventPage } from '../api/types';
import { useAgentEvents } from '../live/store';
import { isLiveOnly, replayTo, type Item, type Timeline } from '../live/timeline';
import { ApprovalCard } from '../components/ApprovalCard';
import { ToolCallView } from '../components/ToolCall';
import { Thinking, UsageLine } from '../components/ModelCall';
import { WorkspacePanel } from '../components/Workspace';
import { Button, Card, ErrorNote, Form, ScrollX, StatusBadge, inputClass, tokens, usd } from '../components/ui';

const BUSY = new Set(['thinking', 'executing_tool', 'waiting_approval']);

export function AgentScreen() {
  const { id = '' } = useParams();
  const agent = useQuery({ queryKey: ['agent', id], queryFn: () => get<AgentView>(`/api/agents/${encodeURIComponent(id)}`), refetchInterval: 3000 });
  const live = useAgentEvents(id);
  const [replay, setReplay] = useState<AgentEvent[] | null>(null);
  const [step, setStep] = useState(0);
  const status = live?.status ?? agent.data?.status;
  const busy = status ? BUSY.has(status) : false;

  const replayed = useMemo(() => (replay ? replayTo(replay, step) : null), [replay, step]);
  const tl = replayed ?? live;
  const workspaceId = agent.data?.config.workspace_id;

  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <div>
          <h1 className="text-2xl font-bold">{agent.data?.name ?? 'Agent'}</h1>
          <p className="text-xs text-slate-700 dark:text-slate-300">
            {agent.data && (
              <>
                {agent.data.config.model.provider}/{agent.data.config.model.model} ·{' '}
                {workspaceId ? (
                  <a href="#workspace" className="underline" title="Its workspace: changes, commit, merge">
                    {String(agent.data.config.workspace)}
                  </a>
                ) : (
                  String(agent.data.config.workspace)
                )}{' '}
                {agent.data.config.reasoning_effort && ` · reasoning effort: ${agent.data.config.reasoning_effort}`} · approvals:{' '}
                {agent.data.config.approval_mode} · sandbox: {agent.data.sandbox ?? 'unavailable'}
              </>
            )}
          </p>
        </div>
        <div className="flex flex-wrap items-center gap-2">
          <StatusBadge status={status} />
          {!replay && <InterruptButton id={id} disabled={!busy} />}
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
        </div>
      </div>
      <ErrorNote error={agent.error} />
      <UsageSummary tl={tl} agent={agent.data} />
      <Performance id={id} />
      {replay && <ReplayControls total={replay.filter((e) => !isLiveOnly(e)).length} step={step} setStep={setStep} onExit={() => setReplay(null)} />}
      {!replay && Object.values(live?.pending ?? {}).map((req) => <ApprovalCard key={req.call_id} agentId={id} req={req} />)}
      <TimelineView tl={tl} streaming={replay ? '' : (live?.streaming ?? '')} thinking={replay ? '' : (live?.thinking ?? '')} />
      {!replay && <MessageBox id={id} disabled={status === 'stopped'} />}
      {workspaceId && <WorkspacePanel id={workspaceId} activity={`${status ?? ''}:${live?.usage.toolCalls ?? 0}`} />}
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
    <Card title="Replay">
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
    </Card>
  );
}

function UsageSummary({ tl, agent }: { tl: Timeline | null | undefined; agent: AgentView | undefined }) {
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

function ItemView({ item, open, onToggle }: { item: Item; open: boolean; onToggle: (o: boolean) => void }) {
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
        <div className="max-w-[85%] rounded-lg border border-slate-300 bg-white p-3 dark:border-slate-700 dark:bg-slate-900" data-testid="msg-assistant">
          <div className="text-xs font-semibold text-slate-700 dark:text-slate-300">Assistant</div>
          {item.reasoning.length > 0 && <Thinking text={item.reasoning.join('\n\n')} open={open} onToggle={onToggle} />}
          <div className="whitespace-pre-wrap">
            {item.text ||
              (item.toolCalls > 0 ? (
                <em>
                  (asks for {item.toolCalls} tool call{item.toolCalls > 1 ? 's' : ''})
                </em>
              ) : (
                <em>(no text: {item.finishReason})</em>
              ))}
          </div>
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
    case 'error':
      return (
        <p
          role="note"
          className="rounded border border-red-400 bg-red-50 p-2 text-sm text-red-900 dark:border-red-700 dark:bg-red-950 dark:text-red-100"
          data-testid="error-line"
        >
          <strong>{item.recoverable ? 'Warning' : 'Error'}</strong> ({item.code}): {item.message}
        </p>
      );
    case 'usage':
      return <UsageLine usage={item.usage} />;
  }
}

function TimelineView({ tl, streaming, thinking }: { tl: Timeline | null | undefined; streaming: string; thinking: string }) {
  const scroller = useRef<HTMLDivElement>(null);
  const [open, setOpen] = useState<Record<string, boolean>>({});
  const items = tl?.items ?? [];
  const live = streaming !== '' || thinking !== '';
  const count = items.length + (live ? 1 : 0);
  const virtual = useVirtualizer({
    count,
    getScrollElement: () => scroller.current,
    estimateSize: () => 64,
    overscan: 10,
    getItemKey: (i) => (i < items.length ? `${items[i].kind}-${items[i].seq}-${i}` : 'streaming'),
  });
  // Follow the end while the reader is there.
  const atEnd = useRef(true);
  useLayoutEffect(() => {
    if (atEnd.current && count > 0) virtual.scrollToIndex(count - 1, { align: 'end' });
  }, [count, streaming, thinking, virtual]);
  return (
    <section aria-label="Timeline">
      <div
        ref={scroller}
        tabIndex={0}
        role="log"
        aria-label="Conversation and tool calls"
        data-testid="timeline"
        data-last-seq={tl?.lastSeq ?? 0}
        onScroll={(e) => {
          const el = e.currentTarget;
          atEnd.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
        }}
        className="h-[60vh] overflow-auto rounded-lg border border-slate-300 bg-slate-100 p-2 dark:border-slate-700 dark:bg-slate-950"
      >
        {count === 0 && <p className="p-2 text-sm">No events yet.</p>}
        <div className="relative w-full" style={{ height: virtual.getTotalSize() }}>
          {virtual.getVirtualItems().map((row) => {
            const item = row.index < items.length ? items[row.index] : null;
            // The live answer's key changes with each stored event, so its thinking starts collapsed.
            const key = item ? `${item.kind}-${item.seq}` : `live-${tl?.lastSeq ?? 0}`;
            return (
              <div
                key={row.key}
                data-index={row.index}
                ref={virtual.measureElement}
                className="absolute left-0 flex w-full flex-col py-1"
                style={{ transform: `translateY(${row.start}px)` }}
              >
                {item ? (
                  <ItemView item={item} open={!!open[key]} onToggle={(o) => setOpen((s) => (s[key] === o ? s : { ...s, [key]: o }))} />
                ) : (
                  <div
                    className="max-w-[85%] rounded-lg border border-blue-400 bg-white p-3 dark:border-blue-700 dark:bg-slate-900"
                    data-testid="msg-streaming"
                  >
                    <div className="text-xs font-semibold text-slate-700 dark:text-slate-300">Assistant{streaming ? ' (typing…)' : ''}</div>
                    {thinking && (
                      <Thinking
                        text={thinking}
                        live
                        active={!streaming}
                        open={!!open[key]}
                        onToggle={(o) => setOpen((s) => (s[key] === o ? s : { ...s, [key]: o }))}
                      />
                    )}
                    {streaming && <div className="whitespace-pre-wrap">{streaming}</div>}
                  </div>
                )}
              </div>
            );
          })}
        </div>
      </div>
    </section>
  );
}

function MessageBox({ id, disabled }: { id: string; disabled: boolean }) {
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
      className="flex flex-col gap-2"
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
        rows={3}
        value={text}
        disabled={disabled}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && text.trim()) send.mutate(text);
        }}
        placeholder={disabled ? 'This agent is stopped.' : 'Ask or instruct the agent (Ctrl+Enter sends)'}
      />
      <ErrorNote error={send.error} />
      <div>
        <Button tone="primary" type="submit" disabled={disabled || send.isPending || !text.trim()}>
          Send
        </Button>
      </div>
    </Form>
  );
}
