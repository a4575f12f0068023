// An evaluation run: what it was asked to do, its totals (the resolved rate
// with its 95 % interval, cost, tokens), its progress (polled while it
// runs), a "Download predictions" link (`predictions.jsonl` as the official
// harness reads it) and its results, one row per instance — status with
// its error kind or limit, attempts, turns, tokens, cost, time, patch size —
// filtered by status; a row opens the instance: why it is not resolved,
// its failing tests, its attempts and its kept patch, file by file.

import { useMemo, useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { useQuery } from '@tanstack/react-query';
import { ApiError, get } from '../api/client';
import type { EvalRunView, InstanceResult, InstanceStatus } from '../api/types';
import { Diff } from '../components/Diff';
import { splitPatch } from '../components/patch';
import { duration } from '../components/ToolCall';
import { ErrorNote, Modal, ScrollX, Stats, ago, bytes, tokens, usd, useTitle } from '../components/ui';
import {
  EVALUATIONS,
  INSTANCE_STATES,
  INSTANCE_STATUS_ORDER,
  countByStatus,
  failingTests,
  instanceStatusText,
  isLive,
  keptAttempt,
  modelOf,
  rateOf,
  rateText,
  testCounts,
} from '../live/evals';
import { EVAL_REFRESH_MS, EvalProgress, EvalStatusBadge, EvaluationLabel, InstanceStatusBadge } from './Evals';

const enc = encodeURIComponent;

export function useEvalRun(id: string) {
  return useQuery({
    queryKey: ['eval', id],
    queryFn: () => get<EvalRunView>(`/api/evals/${enc(id)}`),
    refetchInterval: (q) => (q.state.data && isLive(q.state.data.status) ? EVAL_REFRESH_MS : false),
    retry: (n, e) => !(e instanceof ApiError && e.status === 404) && n < 2,
  });
}

function NotFound() {
  useTitle('Not found');
  return (
    <section className="max-w-xl">
      <h1 className="mb-2 text-2xl font-bold">No such evaluation run</h1>
      <p className="mb-3 text-sm">It may belong to someone else, or the link is mistyped.</p>
      <Link to="/evals" className="text-blue-800 underline dark:text-blue-300">
        Back to the evaluations
      </Link>
    </section>
  );
}

/** The instance a row opened: why, its tests, its attempts, its patch. */
function InstanceDetail({ r, onClose }: { r: InstanceResult | null; onClose: () => void }) {
  const kept = r ? keptAttempt(r) : null;
  const files = useMemo(() => splitPatch(kept?.patch ?? ''), [kept?.patch]);
  const failing = failingTests(kept);
  const counts = testCounts(kept);
  return (
    <Modal open={r !== null} onClose={onClose} title={r ? r.instance_id : 'Instance'}>
      {r && (
        <div className="flex flex-col gap-3 text-sm" data-testid="instance-detail">
          <p className="flex flex-wrap items-center gap-2">
            <InstanceStatusBadge r={r} />
            <span className="text-xs text-slate-700 dark:text-slate-300">
              {EVALUATIONS[r.evaluation].label} · {usd(r.cost_usd)} · {r.turns} turns · {duration(r.wall_ms)}
            </span>
          </p>
          {r.message && (
            <p className="rounded border border-slate-300 bg-slate-50 p-2 break-words dark:border-slate-700 dark:bg-slate-800" data-testid="instance-message">
              {r.message}
            </p>
          )}
          {counts && (
            <section aria-label="Tests" data-testid="instance-tests">
              <h3 className="font-semibold">
                Tests: {counts.passed} of {counts.total} passed
              </h3>
              {failing.length > 0 ? (
                <ul className="mt-1 list-disc pl-5">
                  {failing.map((t) => (
                    <li key={`${t.group}:${t.name}`} data-testid="failing-test">
                      <code className="break-all">{t.name}</code> <span className="text-xs text-slate-700 dark:text-slate-300">({t.group}) failed</span>
                    </li>
                  ))}
                </ul>
              ) : (
                <p>Every FAIL_TO_PASS and PASS_TO_PASS test passed.</p>
              )}
            </section>
          )}
          {(r.attempts ?? []).length > 1 && (
            <section aria-label="Attempts">
              <h3 className="font-semibold">Attempts</h3>
              <ol className="mt-1 flex flex-col gap-1" data-testid="instance-attempts">
                {(r.attempts ?? []).map((a) => (
                  <li key={a.attempt} className="flex flex-wrap items-center gap-2">
                    <span className="font-mono text-xs">#{a.attempt}</span>
                    <InstanceStatusBadge r={a} />
                    <span className="text-xs">
                      {usd(a.cost_usd)} · {a.turns} turns
                    </span>
                    {a.attempt === kept?.attempt && <strong className="text-xs">kept</strong>}
                    <Link to={`/agents/${enc(a.agent_id)}`} className="text-xs text-blue-800 underline dark:text-blue-300">
                      its agent
                    </Link>
                  </li>
                ))}
              </ol>
            </section>
          )}
          {(r.attempts ?? []).length === 1 && kept && (
            <p>
              <Link to={`/agents/${enc(kept.agent_id)}`} className="text-blue-800 underline dark:text-blue-300">
                Open its agent
              </Link>
            </p>
          )}
          <section aria-label="Patch" className="flex flex-col gap-2">
            <h3 className="font-semibold">{kept && (r.attempts ?? []).length > 1 ? `Patch of attempt ${kept.attempt}` : 'Patch'}</h3>
            {files.length === 0 ? (
              <p data-testid="no-patch">It made no patch.</p>
            ) : (
              files.map((f, i) => <Diff key={`${i}:${f.path}`} diff={f.text} label={f.path} />)
            )}
          </section>
        </div>
      )}
    </Modal>
  );
}

const th = 'px-2 py-1.5 text-left text-xs font-semibold whitespace-nowrap text-slate-700 dark:text-slate-300';
const thNum = `${th} text-right`;
const td = 'px-2 py-1.5 align-top';
const tdNum = `${td} text-right whitespace-nowrap tabular-nums`;

function ResultsTable({ results, onOpen }: { results: InstanceResult[]; onOpen: (r: InstanceResult) => void }) {
  return (
    <ScrollX label="Results table">
      <table className="w-full min-w-[52rem] border-collapse text-sm" data-testid="eval-results">
        <thead className="border-b border-slate-300 dark:border-slate-700">
          <tr>
            <th className={th} scope="col">
              Instance
            </th>
            <th className={th} scope="col">
              Status
            </th>
            <th className={thNum} scope="col">
              Attempts
            </th>
            <th className={thNum} scope="col">
              Turns
            </th>
            <th className={thNum} scope="col">
              Tokens in / out
            </th>
            <th className={thNum} scope="col">
              Cost
            </th>
            <th className={thNum} scope="col">
              Time
            </th>
            <th className={thNum} scope="col">
              Patch
            </th>
          </tr>
        </thead>
        <tbody>
          {results.map((r) => {
            const n = (r.attempts ?? []).length;
            return (
              <tr key={r.instance_id} className="border-b border-slate-200 dark:border-slate-800" data-testid="result-row" data-instance={r.instance_id}>
                <td className={td}>
                  <button
                    type="button"
                    onClick={() => onOpen(r)}
                    className="text-left font-mono text-xs break-all text-blue-800 underline dark:text-blue-300"
                    aria-label={`Open ${r.instance_id}: ${instanceStatusText(r)}`}
                  >
                    {r.instance_id}
                  </button>
                </td>
                <td className={td}>
                  <InstanceStatusBadge r={r} />
                </td>
                <td className={tdNum}>{r.kept_attempt && n > 1 ? `${r.kept_attempt} of ${n}` : n}</td>
                <td className={tdNum}>{r.turns}</td>
                <td className={tdNum}>
                  {tokens(r.input_tokens)} / {tokens(r.output_tokens)}
                </td>
                <td className={tdNum}>{usd(r.cost_usd)}</td>
                <td className={tdNum}>{duration(r.wall_ms)}</td>
                <td className={tdNum}>{r.patch_bytes > 0 ? bytes(r.patch_bytes) : '—'}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </ScrollX>
  );
}

/** The status filter: every status the run has, with its count. */
function StatusFilter({
  counts,
  value,
  onChange,
  total,
}: {
  counts: Record<InstanceStatus, number>;
  value: InstanceStatus | 'all';
  onChange: (v: InstanceStatus | 'all') => void;
  total: number;
}) {
  const options: [InstanceStatus | 'all', string, number][] = [
    ['all', 'all', total],
    ...INSTANCE_STATUS_ORDER.filter((s) => counts[s] > 0).map((s): [InstanceStatus, string, number] => [s, INSTANCE_STATES[s].label, counts[s]]),
  ];
  return (
    <fieldset className="flex flex-wrap items-center gap-1" data-testid="status-filter">
      <legend className="sr-only">Show instances that are</legend>
      {options.map(([v, label, n]) => (
        <button
          key={v}
          type="button"
          aria-pressed={value === v}
          onClick={() => onChange(v)}
          className={`rounded-full border px-3 py-1 text-xs font-medium ${
            value === v
              ? 'border-blue-700 bg-blue-700 text-white'
              : 'border-slate-400 bg-white text-slate-900 hover:bg-slate-100 dark:border-slate-500 dark:bg-slate-800 dark:text-slate-100 dark:hover:bg-slate-700'
          }`}
        >
          {label} ({n})
        </button>
      ))}
    </fieldset>
  );
}

export function EvalRunScreen() {
  const { id = '' } = useParams();
  const run = useEvalRun(id);
  const r = run.data;
  useTitle(r ? r.name : 'Evaluation run');
  const [filter, setFilter] = useState<InstanceStatus | 'all'>('all');
  const [open, setOpen] = useState<InstanceResult | null>(null);
  const results = useMemo(() => r?.results ?? [], [r?.results]);
  const counts = useMemo(() => countByStatus(results), [results]);
  const shown = filter === 'all' ? results : results.filter((x) => x.status === filter);
  if (run.error instanceof ApiError && run.error.status === 404) return <NotFound />;
  const t = r?.totals;
  return (
    <div className="flex max-w-6xl flex-col gap-4">
      <p className="text-sm">
        <Link to="/evals" className="text-blue-800 underline dark:text-blue-300">
          ← Evaluations
        </Link>
      </p>
      <header className="flex flex-wrap items-start justify-between gap-3">
        <div className="min-w-0">
          <h1 className="font-mono text-2xl font-bold break-all">{r?.name ?? 'Evaluation run'}</h1>
          {r && (
            <p className="text-xs break-words text-slate-700 dark:text-slate-300">
              template <strong>{r.spec.template}</strong> · model <strong className="break-all">{modelOf(r)}</strong> · {r.spec.instances} tasks from{' '}
              <span className="font-mono break-all">{r.spec.tasks_file}</span> · id <span className="font-mono break-all">{r.id}</span>
            </p>
          )}
          {r && (
            <p className="mt-1 flex flex-wrap items-center gap-2 text-sm">
              <EvalStatusBadge status={r.status} />
              <span className="text-xs text-slate-700 dark:text-slate-300" data-testid="eval-started">
                started {ago(r.created_at)} by {r.owner} · evaluation: <EvaluationLabel evaluation={r.spec.evaluation} />
              </span>
            </p>
          )}
        </div>
        {r && (
          <a
            href={`/api/evals/${enc(r.id)}/predictions`}
            download={`${r.name}-predictions.jsonl`}
            className="inline-flex min-h-9 items-center rounded border border-slate-400 bg-white px-3 py-1.5 text-sm font-medium text-slate-900 hover:bg-slate-100 dark:border-slate-500 dark:bg-slate-800 dark:text-slate-100 dark:hover:bg-slate-700"
            data-testid="download-predictions"
          >
            Download predictions
          </a>
        )}
      </header>
      <ErrorNote error={run.error} />
      {run.isPending && <p className="text-sm">Loading the run…</p>}
      {r && t && (
        <>
          {r.spec.evaluation === 'none' && (
            <p
              role="note"
              className="rounded border border-slate-300 bg-slate-50 p-2 text-sm dark:border-slate-700 dark:bg-slate-900"
              data-testid="not-evaluated"
            >
              Not evaluated: the patches are in the predictions, but none was checked, so nothing counts as resolved. Run with <code>--evaluate local</code> or{' '}
              <code>--evaluate swebench</code> to measure them.
            </p>
          )}
          {r.status === 'interrupted' && (
            <p
              role="status"
              className="rounded border border-amber-400 bg-amber-50 p-2 text-sm text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100"
            >
              Its process stopped before every instance finished. Run the same <code>paddock eval run</code> with <code>--out {r.spec.out_dir}</code> to
              continue: finished instances are not run again.
            </p>
          )}
          <EvalProgress totals={t} name={r.name} />
          <Stats
            label="Totals"
            testId="eval-totals"
            cells={[
              ['Resolved (95 % interval)', rateText(rateOf(t))],
              ['Resolved', `${t.resolved} of ${Math.max(0, t.finished - t.errors)}`],
              ['Cost', usd(t.cost_usd)],
              ['Cost per resolved', t.resolved > 0 ? usd(t.cost_usd / t.resolved) : '—'],
              ['Finished', `${t.finished} of ${t.instances}`],
              ['Errors (not counted)', String(t.errors)],
              ['Limit hit', String(t.limit_hit)],
              ['Tokens in / out', `${tokens(t.input_tokens)} / ${tokens(t.output_tokens)}`],
            ]}
          />
          <p className="text-xs text-slate-700 dark:text-slate-300">
            Limits per attempt: {r.spec.max_steps} steps, {usd(r.spec.max_cost_per_instance_usd)}, {duration(r.spec.max_wall_time_secs * 1000)} ·{' '}
            {r.spec.attempts} attempt{r.spec.attempts === 1 ? '' : 's'} per instance · {r.spec.workers} at once
            {r.spec.max_cost_usd != null ? ` · budget ${usd(r.spec.max_cost_usd)}` : ''}
          </p>
          <section aria-labelledby="results-heading" className="flex flex-col gap-2">
            <div className="flex flex-wrap items-center justify-between gap-2">
              <h2 id="results-heading" className="text-lg font-semibold">
                Results
              </h2>
              {results.length > 0 && <StatusFilter counts={counts} value={filter} onChange={setFilter} total={results.length} />}
            </div>
            {results.length === 0 ? <p className="text-sm">No instance has finished yet.</p> : <ResultsTable results={shown} onOpen={setOpen} />}
          </section>
        </>
      )}
      <InstanceDetail r={open} onClose={() => setOpen(null)} />
    </div>
  );
}
