// A workflow run: its steps as a pipeline (a vertical line of step cards,
// a fan-out's items side by side under their step), each with its state in
// words and colour, attempts, time, cost, links to its agents, the verify
// command's exit code and output, and — for a gate waiting on a person —
// the message, the diff of the run's workspace so far and Approve / Reject
// right there; a best-of-N step's attempts side by side (columns on a wide
// screen, stacked on a narrow one), each with its status, cost, verify
// output and diff, the kept one highlighted with Merge (into the run's
// branch). Live over the WebSocket, polled while it is down; Cancel while
// the run is active.

import { useEffect, useMemo, useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError, get, post } from '../api/client';
import type { AgentView, Committed, Merged, StepView, WorkflowRunView } from '../api/types';
import { readOnlyReason, useWho } from '../api/me';
import { Diff } from '../components/Diff';
import { DiffView, refreshWorkspace, short, useWorkspace, useWorkspaceDiff } from '../components/Workspace';
import { splitPatch } from '../components/patch';
import { StatusBadge } from '../components/Status';
import { duration } from '../components/ToolCall';
import { Button, ErrorNote, Field, Stats, ago, inputClass, usd, useTitle } from '../components/ui';
import {
  KIND_LABELS,
  STEP_STATES,
  buildTimeline,
  elapsed,
  isActive,
  progress,
  snapshotOf,
  splitGateDiff,
  type StepAgent,
  type TimelineStep,
} from '../live/workflow';
import { useWorkflowRun } from '../live/workflowRun';
import { RunStatusBadge, useDefinitions } from './Workflows';

const enc = encodeURIComponent;

function StepStatusBadge({ s }: { s: TimelineStep }) {
  const look = STEP_STATES[s.status];
  return (
    <span
      data-testid="step-status"
      title={look.meaning}
      className={`inline-flex items-center gap-1 rounded px-2 py-0.5 text-xs font-semibold whitespace-nowrap ${look.tone}`}
    >
      <span aria-hidden="true">{look.icon}</span>
      {look.label}
    </span>
  );
}

/** The patch of a gate: file by file, with the diff viewer of approvals and workspaces. */
function GateDiff({ diff }: { diff: string }) {
  const { summary, patch } = useMemo(() => splitGateDiff(diff), [diff]);
  const files = useMemo(() => splitPatch(patch), [patch]);
  if (files.length === 0) return <p className="text-sm">{summary || 'No changes in the run’s workspace so far.'}</p>;
  return (
    <div className="flex flex-col gap-2" data-testid="gate-diff">
      <p className="text-sm">{summary || `${files.length} file${files.length === 1 ? '' : 's'} changed so far:`}</p>
      {files.map((f, i) => (
        <Diff key={`${i}:${f.path}`} diff={f.text} label={f.path} />
      ))}
    </div>
  );
}

/** A gate: waiting (Approve / Reject with a reason) or decided (by whom, why). */
function Gate({ run, step }: { run: WorkflowRunView; step: StepView }) {
  const gate = step.gate;
  const who = useWho();
  const readOnly = readOnlyReason(who);
  const [reason, setReason] = useState('');
  const qc = useQueryClient();
  const decide = useMutation({
    mutationFn: (approved: boolean) =>
      post<WorkflowRunView>(`/api/workflow-runs/${enc(run.id)}/gates/${enc(step.id)}`, {
        approved,
        ...(reason.trim() ? { reason: reason.trim() } : {}),
      }),
    onSuccess: (r) => {
      if (r && typeof r === 'object' && 'steps' in r) qc.setQueryData(['workflow-run', run.id], r);
    },
    onSettled: () => {
      void qc.invalidateQueries({ queryKey: ['workflow-run', run.id] });
      void qc.invalidateQueries({ queryKey: ['workflow-runs'] });
    },
  });
  if (!gate) return null;
  const waiting = step.status === 'waiting_gate';
  if (!waiting) {
    if (gate.approved === null || gate.approved === undefined) return <p className="text-sm">{gate.message}</p>;
    return (
      <p className="text-sm" data-testid="gate-decision">
        {gate.message} — <strong>{gate.approved ? 'approved' : 'rejected'}</strong>
        {gate.by ? ` by ${gate.by}` : ''}
        {gate.reason ? `: ${gate.reason}` : ''}
      </p>
    );
  }
  const titleId = `gate-${step.id}`;
  return (
    <section
      aria-labelledby={titleId}
      data-testid="gate"
      className="flex flex-col gap-3 rounded-lg border-2 border-amber-500 bg-amber-50 p-3 dark:border-amber-600 dark:bg-amber-950"
    >
      <h4 id={titleId} className="font-semibold">
        Your decision: {gate.message}
      </h4>
      <GateDiff diff={gate.diff} />
      <Field label="Reason (optional)">
        <input className={inputClass} value={reason} onChange={(e) => setReason(e.target.value)} />
      </Field>
      <ErrorNote error={decide.error} />
      <div className="flex flex-wrap items-center gap-2">
        <Button tone="primary" disabled={decide.isPending || decide.isSuccess || !!readOnly} onClick={() => decide.mutate(true)}>
          Approve
        </Button>
        <Button tone="danger" disabled={decide.isPending || decide.isSuccess || !!readOnly} onClick={() => decide.mutate(false)}>
          Reject
        </Button>
        {readOnly && <span className="text-xs">{readOnly}</span>}
      </div>
    </section>
  );
}

function AgentLink({ a, agents, label }: { a: StepAgent; agents: Map<string, AgentView>; label?: string }) {
  const view = agents.get(a.id);
  return (
    <span className="inline-flex min-w-0 flex-wrap items-center gap-2">
      <Link to={`/agents/${enc(a.id)}`} className="min-w-0 font-medium break-all text-blue-800 underline dark:text-blue-300" data-testid="step-agent">
        {label ?? view?.name ?? a.id}
      </Link>
      {view && <StatusBadge status={view.status} />}
    </span>
  );
}

function Items({ s, agents }: { s: TimelineStep; agents: Map<string, AgentView> }) {
  return (
    <ul className="grid grid-cols-1 gap-2 sm:grid-cols-2 xl:grid-cols-3" aria-label={`Items of ${s.id}`} data-testid="fanout-items">
      {s.agents.map((a) => (
        <li
          key={a.id}
          className="flex min-w-0 flex-col gap-1 rounded border border-slate-300 bg-slate-50 p-2 dark:border-slate-600 dark:bg-slate-800"
          data-testid="fanout-item"
        >
          <span className="text-xs text-slate-700 dark:text-slate-300">item {(a.item ?? 0) + 1}</span>
          {a.itemText && <span className="text-sm break-words">{a.itemText}</span>}
          <AgentLink a={a} agents={agents} />
        </li>
      ))}
    </ul>
  );
}

type Attempt = NonNullable<StepView['best_of']>[number];

const ATTEMPT_LOOK: Record<Attempt['status'], { label: string; icon: string; tone: string }> = {
  running: { label: 'Running', icon: '▶', tone: 'bg-blue-100 text-blue-950 dark:bg-blue-900 dark:text-blue-50' },
  verifying: { label: 'Verifying', icon: '⋯', tone: 'bg-blue-100 text-blue-950 dark:bg-blue-900 dark:text-blue-50' },
  passed: { label: 'Passed', icon: '✓', tone: 'bg-green-100 text-green-950 dark:bg-green-900 dark:text-green-50' },
  failed: { label: 'Did not pass', icon: '✗', tone: 'bg-red-100 text-red-950 dark:bg-red-900 dark:text-red-50' },
  skipped: { label: 'Stopped', icon: '–', tone: 'bg-slate-200 text-slate-900 dark:bg-slate-700 dark:text-slate-100' },
};

/** Commits an attempt's worktree (when it has changes) and merges it into the run's branch. */
async function takeAttempt(runName: string, step: string, t: Attempt): Promise<Merged> {
  try {
    await post<Committed>(`/api/workspaces/${enc(t.workspace_id)}/commit`, {
      message: `${step}: attempt ${t.attempt} of workflow run ${runName}`,
    });
  } catch (e) {
    // Already committed (or nothing to commit): merge what is there.
    if (!(e instanceof ApiError && e.code === 'nothing_to_commit')) throw e;
  }
  return post<Merged>(`/api/workspaces/${enc(t.workspace_id)}/merge`);
}

/** One attempt's column: status, agent, cost, verify (folded), its diff, and Merge for a passing one. */
function AttemptCard({ run, step, t, agents }: { run: WorkflowRunView; step: StepView; t: Attempt; agents: Map<string, AgentView> }) {
  const look = ATTEMPT_LOOK[t.status];
  const who = useWho();
  const readOnly = readOnlyReason(who);
  const qc = useQueryClient();
  const ws = useWorkspace(t.workspace_id);
  const diff = useWorkspaceDiff(t.workspace_id);
  const lastSeq = run.last_seq;
  useEffect(() => {
    void qc.invalidateQueries({ queryKey: ['workspace-diff', t.workspace_id] });
  }, [qc, lastSeq, t.workspace_id]);
  const merge = useMutation({
    mutationFn: () => takeAttempt(run.name, step.id, t),
    onSettled: () => {
      refreshWorkspace(qc, t.workspace_id);
      if (run.workspace_id) refreshWorkspace(qc, run.workspace_id);
      void qc.invalidateQueries({ queryKey: ['workspace-diff'] });
    },
  });
  const into = ws.data?.base_branch ?? 'the run’s branch';
  const verified = t.verify_output !== null && t.verify_output !== undefined;
  const titleId = `attempt-${step.id}-${t.attempt}`;
  return (
    <li
      aria-labelledby={titleId}
      data-testid="attempt"
      data-attempt={t.attempt}
      data-status={t.status}
      data-kept={t.kept ? 'true' : 'false'}
      className={`flex min-w-0 flex-col gap-2 rounded-lg border p-3 ${
        t.kept
          ? 'border-2 border-green-600 bg-green-50 dark:border-green-500 dark:bg-green-950'
          : 'border-slate-300 bg-slate-50 dark:border-slate-600 dark:bg-slate-800'
      }`}
    >
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h4 id={titleId} className="font-semibold">
          Attempt {t.attempt}
        </h4>
        <span className="flex flex-wrap items-center gap-1">
          {t.kept && <span className="rounded bg-green-700 px-2 py-0.5 text-xs font-semibold text-white">★ Kept</span>}
          <span
            className={`inline-flex items-center gap-1 rounded px-2 py-0.5 text-xs font-semibold whitespace-nowrap ${look.tone}`}
            data-testid="attempt-status"
          >
            <span aria-hidden="true">{look.icon}</span>
            {look.label}
          </span>
        </span>
      </div>
      <p className="text-xs text-slate-700 dark:text-slate-300" data-testid="attempt-facts">
        {usd(t.cost_usd)}
        {t.rounds > 1 ? ` · ${t.rounds} rounds` : ''}
        {t.exit_code !== null && t.exit_code !== undefined ? ` · verify exit ${t.exit_code}` : ''}
      </p>
      <AgentLink a={{ id: t.agent_id, item: null, itemText: null, iteration: 0 }} agents={agents} />
      {/* A failed verify speaks through its exit code and output (the reason would only repeat the command); any other reason is shown. */}
      {t.reason && !verified && <p className="text-sm break-words text-red-800 dark:text-red-300">{t.reason}</p>}
      {verified && (
        <details className="text-sm" data-testid="attempt-verify">
          <summary className="cursor-pointer">Verify output</summary>
          {t.verify_command && (
            <p className="mt-1 text-xs break-all text-slate-700 dark:text-slate-300">
              <span className="font-semibold">Command:</span> <code>{t.verify_command}</code>
            </p>
          )}
          <pre tabIndex={0} className="mt-1 max-h-60 overflow-auto rounded bg-slate-100 p-2 text-xs whitespace-pre-wrap dark:bg-slate-900">
            {t.verify_output || '(no output)'}
          </pre>
        </details>
      )}
      <DiffView diff={diff} title={`Changes of attempt ${t.attempt}`} />
      {t.status === 'passed' && (
        <div className="flex flex-col gap-2">
          <div className="flex flex-wrap items-center gap-2">
            <Button tone={t.kept ? 'primary' : 'plain'} disabled={merge.isPending || merge.isSuccess || !!readOnly} onClick={() => merge.mutate()}>
              {merge.isPending ? 'Merging…' : `Merge into ${into}`}
            </Button>
            {readOnly && <span className="text-xs">{readOnly}</span>}
          </div>
          {merge.data && (
            <p
              role="status"
              className="rounded border border-green-600 bg-white p-2 text-sm text-green-950 dark:bg-slate-900 dark:text-green-100"
              data-testid="attempt-merged"
            >
              Merged attempt {t.attempt} into {merge.data.base_branch} ({merge.data.result.replace('_', ' ')}): now at <code>{short(merge.data.commit)}</code>,{' '}
              {merge.data.files.length} file{merge.data.files.length === 1 ? '' : 's'} changed.
            </p>
          )}
          <ErrorNote error={merge.error} />
        </div>
      )}
    </li>
  );
}

/** A best-of-N step's attempts, side by side. */
function Attempts({ run, step, agents }: { run: WorkflowRunView; step: StepView; agents: Map<string, AgentView> }) {
  const tries = step.best_of ?? [];
  const passed = tries.filter((t) => t.status === 'passed').length;
  const kept = tries.find((t) => t.kept);
  return (
    <section className="flex flex-col gap-2" aria-label={`Attempts of ${step.id}`}>
      <p className="text-sm" data-testid="attempts-summary">
        {passed} of {tries.length} attempt{tries.length === 1 ? '' : 's'} passed
        {kept ? ` · kept attempt ${kept.attempt} (the first that passed)` : ''}
      </p>
      <ul className="grid grid-cols-1 gap-3 lg:grid-cols-3" data-testid="attempts">
        {tries.map((t) => (
          <AttemptCard key={t.attempt} run={run} step={step} t={t} agents={agents} />
        ))}
      </ul>
    </section>
  );
}

function StepCard({ run, s, agents, now }: { run: WorkflowRunView; s: TimelineStep; agents: Map<string, AgentView>; now: number }) {
  const v = s.view;
  const took = elapsed(v?.started_at, v?.finished_at, now);
  const facts: string[] = [];
  if (v && v.attempts > 1) facts.push(`attempt ${v.attempts}`);
  if (v && v.iteration > 1) facts.push(`pass ${v.iteration}`);
  if (took !== null) facts.push(v?.finished_at ? `took ${duration(took)}` : `${s.status === 'waiting_gate' ? 'waiting' : 'running'} for ${duration(took)}`);
  if (v && v.cost_usd > 0) facts.push(usd(v.cost_usd));
  const command = v?.verify?.command ?? s.def?.verify?.command;
  const headingId = `step-${s.id}`;
  return (
    <article
      aria-labelledby={headingId}
      data-testid="step"
      data-step={s.id}
      data-status={s.status}
      aria-current={s.current ? 'step' : undefined}
      className={`flex min-w-0 flex-col gap-2 rounded-lg border bg-white p-3 dark:bg-slate-900 ${
        s.current ? 'border-blue-600 ring-1 ring-blue-600 dark:border-blue-400 dark:ring-blue-400' : 'border-slate-300 dark:border-slate-700'
      }`}
    >
      <div className="flex flex-wrap items-center justify-between gap-2">
        <div className="flex min-w-0 flex-wrap items-baseline gap-2">
          <h3 id={headingId} className="font-mono font-semibold break-all">
            {s.id}
          </h3>
          <span className="text-xs text-slate-700 dark:text-slate-300">
            {KIND_LABELS[s.kind]}
            {s.def?.template ? ` · ${s.def.template}` : ''}
            {s.def?.fanout ? ` · ${s.def.fanout.template}` : ''}
          </span>
        </div>
        <StepStatusBadge s={s} />
      </div>
      {facts.length > 0 && (
        <p className="text-xs text-slate-700 dark:text-slate-300" data-testid="step-facts">
          {facts.join(' · ')}
        </p>
      )}
      {v && (v.best_of?.length ?? 0) > 0 ? (
        <Attempts run={run} step={v} agents={agents} />
      ) : s.kind === 'fanout' && s.agents.length > 0 ? (
        <Items s={s} agents={agents} />
      ) : (
        s.agents.length > 0 && (
          <p className="flex flex-wrap items-center gap-x-2 gap-y-1 text-sm">
            <span className="text-slate-700 dark:text-slate-300">Agent:</span>
            {s.agents.map((a) => (
              <AgentLink key={a.id} a={a} agents={agents} />
            ))}
          </p>
        )
      )}
      {v?.reason && (
        <p className={`text-sm ${s.status === 'failed' ? 'text-red-800 dark:text-red-300' : ''}`} data-testid="step-reason">
          {v.reason}
        </p>
      )}
      {s.earlier.length > 0 && (
        <details className="text-sm">
          <summary className="cursor-pointer">Agents of earlier passes ({s.earlier.length})</summary>
          <ul className="mt-1 flex flex-col gap-1 pl-4">
            {s.earlier.map((a) => (
              <li key={a.id}>
                <AgentLink a={a} agents={agents} label={`${agents.get(a.id)?.name ?? a.id} (pass ${a.iteration})`} />
              </li>
            ))}
          </ul>
        </details>
      )}
      {s.notes.length > 0 && (
        <ul className="flex flex-col gap-0.5 text-xs" aria-label={`What happened to ${s.id}`}>
          {s.notes.map((n) => (
            <li key={n.seq} className="break-words">
              <span aria-hidden="true">↺ </span>
              {n.text}
            </li>
          ))}
        </ul>
      )}
      {v?.verify && (
        <details className="text-sm" data-testid="step-verify">
          <summary className="cursor-pointer">
            Verify{command ? ': ' : ''}
            {command && <code>{command}</code>} —{' '}
            {v.verify.exit_code === null || v.verify.exit_code === undefined ? (
              s.status === 'verifying' ? (
                'running'
              ) : (
                <strong className="text-red-800 dark:text-red-300">no exit code (timed out or could not run)</strong>
              )
            ) : (
              <strong className={v.verify.exit_code === 0 ? 'text-green-800 dark:text-green-300' : 'text-red-800 dark:text-red-300'}>
                exit {v.verify.exit_code}
                {v.verify.exit_code === 0 ? ' (passed)' : ' (failed)'}
              </strong>
            )}
          </summary>
          <pre tabIndex={0} className="mt-1 max-h-72 overflow-auto rounded bg-slate-100 p-2 text-xs whitespace-pre-wrap dark:bg-slate-800">
            {v.verify.output ?? 'Running…'}
            {v.verify.output === '' && '(no output)'}
          </pre>
        </details>
      )}
      {v?.gate && <Gate run={run} step={v} />}
      {v?.output && s.kind !== 'gate' && (
        <details className="text-sm" data-testid="step-output">
          <summary className="cursor-pointer">Output</summary>
          <pre tabIndex={0} className="mt-1 max-h-72 overflow-auto rounded bg-slate-100 p-2 text-xs whitespace-pre-wrap dark:bg-slate-800">
            {v.output}
          </pre>
        </details>
      )}
    </article>
  );
}

/** The steps, one under the other, joined by a line; each marker carries the step's state sign. */
function Pipeline({ run, steps, agents, now }: { run: WorkflowRunView; steps: TimelineStep[]; agents: Map<string, AgentView>; now: number }) {
  return (
    <ol className="flex flex-col" aria-label="Steps" data-testid="pipeline">
      {steps.map((s, i) => {
        const look = STEP_STATES[s.status];
        return (
          <li key={s.id} className="relative pb-3 pl-9">
            {i < steps.length - 1 && <span aria-hidden="true" className="absolute top-8 bottom-0 left-3.5 w-0.5 bg-slate-300 dark:bg-slate-600" />}
            <span
              aria-hidden="true"
              className={`absolute top-3 left-0 flex h-7 w-7 items-center justify-center rounded-full border-2 border-white text-sm font-bold dark:border-slate-950 ${look.tone}`}
            >
              {look.icon}
            </span>
            <StepCard run={run} s={s} agents={agents} now={now} />
          </li>
        );
      })}
    </ol>
  );
}

function CancelButton({ run }: { run: WorkflowRunView }) {
  const qc = useQueryClient();
  const cancel = useMutation({
    mutationFn: () => post<WorkflowRunView>(`/api/workflow-runs/${enc(run.id)}/cancel`),
    onSettled: () => {
      void qc.invalidateQueries({ queryKey: ['workflow-run', run.id] });
      void qc.invalidateQueries({ queryKey: ['workflow-runs'] });
    },
  });
  return (
    <>
      <Button
        tone="danger"
        disabled={cancel.isPending}
        onClick={() => {
          if (window.confirm('Cancel this run? Its live agents are interrupted.')) cancel.mutate();
        }}
      >
        Cancel run
      </Button>
      <ErrorNote error={cancel.error} />
    </>
  );
}

function NotFound() {
  useTitle('Not found');
  return (
    <section className="max-w-xl">
      <h1 className="mb-2 text-2xl font-bold">No such workflow run</h1>
      <p className="mb-3 text-sm">It may belong to someone else, or the link is mistyped.</p>
      <Link to="/workflows" className="text-blue-800 underline dark:text-blue-300">
        Back to the workflows
      </Link>
    </section>
  );
}

export function WorkflowRunScreen() {
  const { id = '' } = useParams();
  const { run, events } = useWorkflowRun(id);
  const who = useWho();
  const readOnly = readOnlyReason(who);
  // The agents' names and statuses (the same query as the Agents screen's).
  const agentsList = useQuery({ queryKey: ['agents'], queryFn: () => get<AgentView[]>('/api/agents'), refetchInterval: 2000 });
  const defs = useDefinitions();
  const r = run.data;
  useTitle(r ? r.name : 'Workflow run');
  const agents = useMemo(() => new Map((agentsList.data ?? []).map((a) => [a.id, a])), [agentsList.data]);
  // Each new event of the run (a step made an agent, or one finished its
  // run): read the agents' names and statuses again, rather than show a
  // finished step's agent as still thinking until the next poll.
  const qc = useQueryClient();
  const lastSeq = r?.last_seq ?? 0;
  useEffect(() => {
    if (lastSeq > 0) void qc.invalidateQueries({ queryKey: ['agents'] });
  }, [qc, lastSeq]);
  // The definition the run started with (its log's snapshot), else today's.
  const def = useMemo(() => snapshotOf(events) ?? defs.data?.find((d) => d.name === r?.workflow)?.definition ?? null, [events, defs.data, r?.workflow]);
  const steps = useMemo(() => (r ? buildTimeline(r, events, def) : []), [r, events, def]);
  const [now, setNow] = useState(() => Date.now());
  // Ticks while the run is active (the running step's time).
  useTick(r ? isActive(r.status) : false, setNow);
  if (run.error instanceof ApiError && run.error.status === 404) return <NotFound />;
  const reason = r?.reason ?? null;
  const took = r ? elapsed(r.created_at, r.finished_at, now) : null;
  const p = progress(steps);
  return (
    <div className="flex max-w-5xl flex-col gap-4">
      <p className="text-sm">
        <Link to="/workflows" className="text-blue-800 underline dark:text-blue-300">
          ← Workflows
        </Link>
      </p>
      <header className="flex flex-wrap items-start justify-between gap-3">
        <div className="min-w-0">
          <h1 className="font-mono text-2xl font-bold break-all">{r?.name ?? 'Workflow run'}</h1>
          {r && (
            <p className="text-xs break-words text-slate-700 dark:text-slate-300">
              a run of <strong>{r.workflow}</strong> · id <span className="font-mono break-all">{r.id}</span>
            </p>
          )}
          {r && (
            <p className="mt-1 flex flex-wrap items-center gap-2 text-sm">
              <RunStatusBadge status={r.status} />
              <span className="text-xs text-slate-700 dark:text-slate-300" data-testid="run-started">
                started {ago(r.created_at)} by {who && r.owner === who.id ? 'you' : r.owner}
              </span>
            </p>
          )}
        </div>
        {r && isActive(r.status) && !readOnly && (
          <div className="flex flex-col items-end gap-2">
            <CancelButton run={r} />
          </div>
        )}
      </header>
      <ErrorNote error={run.error} />
      {run.isPending && <p className="text-sm">Loading the run…</p>}
      {r && (
        <>
          {reason && (
            <p
              role="status"
              className={`rounded border p-2 text-sm ${
                r.status === 'failed'
                  ? 'border-red-400 bg-red-50 text-red-900 dark:border-red-700 dark:bg-red-950 dark:text-red-100'
                  : 'border-slate-300 bg-slate-50 dark:border-slate-700 dark:bg-slate-900'
              }`}
              data-testid="run-reason"
            >
              {reason}
            </p>
          )}
          <Stats
            label="The run"
            testId="run-stats"
            cells={[
              ['Steps done', `${p.done} of ${p.total}`],
              ['Current step', r.current_step ?? '—'],
              [r.finished_at ? 'Took' : 'Running for', took === null ? '—' : duration(took)],
              ['Cost', usd(r.cost_usd)],
            ]}
          />
          {(Object.keys(r.inputs).length > 0 || r.workspace_id) && (
            <dl className="grid grid-cols-1 gap-x-4 gap-y-1 text-sm sm:grid-cols-[max-content_1fr]" aria-label="Inputs" data-testid="run-inputs">
              {Object.entries(r.inputs).map(([k, v]) => (
                <div key={k} className="contents">
                  <dt className="font-mono text-xs text-slate-700 dark:text-slate-300">{k}</dt>
                  <dd className="break-words whitespace-pre-wrap">{v}</dd>
                </div>
              ))}
              {r.workspace_id && (
                <div className="contents">
                  <dt className="text-xs text-slate-700 dark:text-slate-300">workspace</dt>
                  <dd>
                    <Link to={`/workspaces/${enc(r.workspace_id)}`} className="break-all text-blue-800 underline dark:text-blue-300">
                      {r.workspace_id}
                    </Link>
                  </dd>
                </div>
              )}
            </dl>
          )}
          <h2 className="text-lg font-semibold">Steps</h2>
          <Pipeline run={r} steps={steps} agents={agents} now={now} />
        </>
      )}
    </div>
  );
}

/** Calls `set(Date.now())` every second while `on`. */
function useTick(on: boolean, set: (n: number) => void) {
  useEffect(() => {
    if (!on) return;
    const t = setInterval(() => set(Date.now()), 1000);
    return () => clearInterval(t);
  }, [on, set]);
}
