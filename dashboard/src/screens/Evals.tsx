// Evaluations: the runs of an agent configuration over a set of SWE-bench
// tasks (`paddock eval run`), newest first — name, model, template, status
// with a live progress bar, the resolved rate with its 95 % interval, cost,
// when it started and which evaluation was used ("not evaluated" when
// none) — polled every few seconds while any runs; two runs picked here
// open their comparison. Started from the command line only: the empty
// state says how.

import { useMemo, useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { useQuery } from '@tanstack/react-query';
import { get } from '../api/client';
import type { EvalRunStatus, EvalRunView, EvalTotals, Evaluation, InstanceResult } from '../api/types';
import { Button, EmptyState, ErrorNote, Field, Form, ScrollX, ago, inputClass, usd, useTitle } from '../components/ui';
import { EVALUATIONS, EVAL_RUN_STATES, INSTANCE_STATES, instanceStatusText, isLive, modelOf, newestFirst, progressOf, rateOf, rateText } from '../live/evals';

const enc = encodeURIComponent;
/** How often the list is read again while a run is running. */
export const EVAL_REFRESH_MS = 3000;

export function useEvalRuns() {
  return useQuery({
    queryKey: ['evals'],
    queryFn: () => get<EvalRunView[]>('/api/evals'),
    refetchInterval: (q) => ((q.state.data ?? []).some((r) => isLive(r.status)) ? EVAL_REFRESH_MS : false),
  });
}

/** A run's status: a sign and words on its colour (never colour alone). */
export function EvalStatusBadge({ status }: { status: EvalRunStatus }) {
  const s = EVAL_RUN_STATES[status];
  return (
    <span
      data-testid="eval-status"
      title={s.meaning}
      className={`inline-flex items-center gap-1 rounded px-2 py-0.5 text-xs font-semibold whitespace-nowrap ${s.tone}`}
    >
      <span aria-hidden="true">{s.icon}</span>
      {s.label}
    </span>
  );
}

/** An instance's status, with its error kind or limit. */
export function InstanceStatusBadge({ r }: { r: Pick<InstanceResult, 'status' | 'error_kind' | 'limit'> }) {
  const s = INSTANCE_STATES[r.status];
  return (
    <span
      data-testid="instance-status"
      data-status={r.status}
      title={s.meaning}
      className={`inline-flex items-center gap-1 rounded px-2 py-0.5 text-xs font-semibold whitespace-nowrap ${s.tone}`}
    >
      <span aria-hidden="true">{s.icon}</span>
      {instanceStatusText(r)}
    </span>
  );
}

/** Which evaluation was used, in words ("not evaluated" when none). */
export function EvaluationLabel({ evaluation }: { evaluation: Evaluation }) {
  const e = EVALUATIONS[evaluation];
  return (
    <span data-testid="eval-evaluation" title={e.meaning} className={evaluation === 'none' ? 'italic' : undefined}>
      {e.label}
    </span>
  );
}

/** Finished of all instances, as a bar and in figures. */
export function EvalProgress({ totals, name }: { totals: EvalTotals; name: string }) {
  const p = progressOf(totals);
  return (
    <div className="flex min-w-28 items-center gap-2" data-testid="eval-progress">
      <div
        role="progressbar"
        aria-label={`Progress of ${name}`}
        aria-valuemin={0}
        aria-valuemax={totals.instances}
        aria-valuenow={totals.finished}
        aria-valuetext={`${totals.finished} of ${totals.instances} instances finished`}
        className="h-2 w-20 shrink-0 overflow-hidden rounded bg-slate-200 dark:bg-slate-700"
      >
        <div className="h-full bg-blue-700 dark:bg-blue-400" style={{ width: `${Math.round(p * 100)}%` }} />
      </div>
      <span className="text-xs whitespace-nowrap">
        {totals.finished}/{totals.instances}
      </span>
    </div>
  );
}

/** The resolved rate with its interval and the counts it rests on. */
export function RateCell({ totals }: { totals: EvalTotals }) {
  const w = rateOf(totals);
  const n = Math.max(0, totals.finished - totals.errors);
  return (
    <span data-testid="eval-rate" className="whitespace-nowrap">
      {w ? (
        <>
          <strong>{rateText(w)}</strong>{' '}
          <span className="text-xs text-slate-700 dark:text-slate-300">
            {totals.resolved}/{n}
          </span>
        </>
      ) : (
        '—'
      )}
    </span>
  );
}

const th = 'px-2 py-1.5 text-left text-xs font-semibold whitespace-nowrap text-slate-700 dark:text-slate-300';
const td = 'px-2 py-1.5 align-top';

function RunsTable({ runs }: { runs: EvalRunView[] }) {
  return (
    <ScrollX label="Evaluation runs">
      <table className="w-full min-w-[56rem] border-collapse text-sm" data-testid="eval-runs">
        <thead className="border-b border-slate-300 dark:border-slate-700">
          <tr>
            <th className={th} scope="col">
              Name
            </th>
            <th className={th} scope="col">
              Model
            </th>
            <th className={th} scope="col">
              Template
            </th>
            <th className={th} scope="col">
              Status
            </th>
            <th className={th} scope="col">
              Progress
            </th>
            <th className={th} scope="col">
              Resolved (95 % interval)
            </th>
            <th className={th} scope="col">
              Cost
            </th>
            <th className={th} scope="col">
              Started
            </th>
            <th className={th} scope="col">
              Evaluation
            </th>
          </tr>
        </thead>
        <tbody>
          {runs.map((r) => (
            <tr key={r.id} className="border-b border-slate-200 dark:border-slate-800" data-testid="eval-row" data-id={r.id}>
              <td className={td}>
                <Link to={`/evals/${enc(r.id)}`} className="font-semibold break-all text-blue-800 underline dark:text-blue-300">
                  {r.name}
                </Link>
              </td>
              <td className={`${td} font-mono text-xs break-all`}>{modelOf(r)}</td>
              <td className={`${td} font-mono text-xs`}>{r.spec.template}</td>
              <td className={td}>
                <EvalStatusBadge status={r.status} />
              </td>
              <td className={td}>
                <EvalProgress totals={r.totals} name={r.name} />
              </td>
              <td className={td}>
                <RateCell totals={r.totals} />
              </td>
              <td className={td}>{usd(r.totals.cost_usd)}</td>
              <td className={`${td} whitespace-nowrap`} title={new Date(r.created_at).toLocaleString()}>
                {ago(r.created_at)}
              </td>
              <td className={td}>
                <EvaluationLabel evaluation={r.spec.evaluation} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </ScrollX>
  );
}

/** Two runs to compare (the newest two to begin with). */
export function ComparePicker({ runs, a: a0, b: b0 }: { runs: EvalRunView[]; a?: string; b?: string }) {
  const navigate = useNavigate();
  const [a, setA] = useState(a0 ?? runs[1]?.id ?? runs[0]?.id ?? '');
  const [b, setB] = useState(b0 ?? runs[0]?.id ?? '');
  const same = a !== '' && a === b;
  const options = runs.map((r) => (
    <option key={r.id} value={r.id}>
      {r.name} — {modelOf(r)}
    </option>
  ));
  return (
    <Form className="flex flex-wrap items-end gap-3" onSubmit={() => a && b && !same && navigate(`/evals/compare/${enc(a)}/${enc(b)}`)}>
      <Field label="Run A (baseline)">
        <select className={`${inputClass} max-w-full`} value={a} onChange={(e) => setA(e.target.value)} data-testid="compare-a">
          {options}
        </select>
      </Field>
      <Field label="Run B (candidate)">
        <select className={`${inputClass} max-w-full`} value={b} onChange={(e) => setB(e.target.value)} data-testid="compare-b">
          {options}
        </select>
      </Field>
      <Button tone="primary" type="submit" disabled={!a || !b || same}>
        Compare
      </Button>
      {same && <p className="text-xs text-slate-700 dark:text-slate-300">Pick two different runs.</p>}
    </Form>
  );
}

export const START_EXAMPLE =
  'paddock eval run --tasks tasks.jsonl --template coder --model anthropic/claude-sonnet-4-5 --workers 4 --evaluate local --out evals/first';

export function EvalsScreen() {
  useTitle('Evaluations');
  const runs = useEvalRuns();
  const sorted = useMemo(() => newestFirst(runs.data ?? []), [runs.data]);
  return (
    <div className="flex flex-col gap-6">
      <div>
        <h1 className="text-2xl font-bold">Evaluations</h1>
        <p className="max-w-prose text-sm text-slate-700 dark:text-slate-300">
          An agent configuration — template, model or router — run over a set of tasks in the SWE-bench format: how many it resolves, at what cost, and how it
          compares with another.
        </p>
      </div>
      <section aria-labelledby="eval-runs-heading" className="flex flex-col gap-2">
        <h2 id="eval-runs-heading" className="text-lg font-semibold">
          Runs
        </h2>
        <ErrorNote error={runs.error} />
        {runs.isPending && <p className="text-sm">Loading the evaluations…</p>}
        {runs.data?.length === 0 && (
          <EmptyState title="No evaluations yet">
            <p>Evaluations are started from the command line, on a host with the tasks file and the repositories:</p>
            <pre
              className="mx-auto mt-2 max-w-full overflow-x-auto rounded bg-slate-100 p-2 text-left text-xs whitespace-pre-wrap dark:bg-slate-800"
              data-testid="eval-start-command"
            >
              {START_EXAMPLE}
            </pre>
            <p className="mt-2">
              Each line of <code>tasks.jsonl</code> is a SWE-bench instance (<code>instance_id</code>, <code>repo</code>, <code>base_commit</code>,{' '}
              <code>problem_statement</code>, <code>FAIL_TO_PASS</code>, <code>PASS_TO_PASS</code>, and <code>test_cmd</code> for local evaluation). The run
              shows here as it goes. See README ‘Evaluations’.
            </p>
          </EmptyState>
        )}
        {sorted.length > 0 && <RunsTable runs={sorted} />}
      </section>
      {sorted.length >= 2 && (
        <section aria-labelledby="eval-compare-heading" className="flex flex-col gap-2">
          <h2 id="eval-compare-heading" className="text-lg font-semibold">
            Compare two runs
          </h2>
          <p className="max-w-prose text-sm text-slate-700 dark:text-slate-300">
            Over the instances both finished: each resolved rate with its interval, the difference, cost per resolved task, and which instances one resolved and
            the other did not.
          </p>
          <ComparePicker runs={sorted} />
        </section>
      )}
    </div>
  );
}
