// Two evaluation runs compared over the instances both finished: each
// resolved rate with its 95 % interval, the difference (B − A) with its
// interval and what it says, cost per resolved task, tokens, the instances
// one resolved and the other did not (wins and losses), and every common
// instance side by side. Other runs can be picked from here.

import { Link, useParams } from 'react-router-dom';
import { useQuery } from '@tanstack/react-query';
import { ApiError, get } from '../api/client';
import type { ComparedRun, EvalComparison } from '../api/types';
import { ErrorNote, ScrollX, tokens, usd, useTitle } from '../components/ui';
import { EVALUATIONS, pct, points, rateText, verdict } from '../live/evals';
import { ComparePicker, InstanceStatusBadge, useEvalRuns } from './Evals';

const enc = encodeURIComponent;

function Side({ label, run }: { label: 'A' | 'B'; run: ComparedRun }) {
  const cells: [string, string][] = [
    ['Resolved (95 % interval)', rateText(run.rate)],
    ['Resolved', `${run.rate.resolved} of ${run.rate.counted}`],
    ['Cost', usd(run.cost_usd)],
    ['Cost per resolved', usd(run.cost_per_resolved_usd)],
    ['Tokens in / out', `${tokens(run.input_tokens)} / ${tokens(run.output_tokens)}`],
    ['Errors (not counted)', String(run.errors)],
  ];
  return (
    <section
      aria-label={`Run ${label}: ${run.name}`}
      data-testid={`compare-side-${label.toLowerCase()}`}
      className="flex min-w-0 flex-col gap-2 rounded-lg border border-slate-300 bg-white p-4 dark:border-slate-700 dark:bg-slate-900"
    >
      <h2 className="text-lg font-semibold break-all">
        <span className="mr-1 rounded bg-slate-200 px-1.5 font-mono text-sm dark:bg-slate-700">{label}</span>
        <Link to={`/evals/${enc(run.id)}`} className="text-blue-800 underline dark:text-blue-300">
          {run.name}
        </Link>
      </h2>
      <p className="text-xs break-all text-slate-700 dark:text-slate-300">
        model <span className="font-mono">{run.model_name}</span> · evaluation: {EVALUATIONS[run.evaluation].label}
      </p>
      <dl className="grid grid-cols-2 gap-2">
        {cells.map(([k, v]) => (
          <div key={k} className="rounded border border-slate-300 p-2 dark:border-slate-700">
            <dt className="text-xs text-slate-700 dark:text-slate-300">{k}</dt>
            <dd className="font-semibold">{v}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

function InstanceList({ title, ids, testId, empty }: { title: string; ids: string[]; testId: string; empty: string }) {
  return (
    <section aria-label={title} className="min-w-0">
      <h3 className="font-semibold">
        {title} ({ids.length})
      </h3>
      {ids.length === 0 ? (
        <p className="text-sm text-slate-700 dark:text-slate-300">{empty}</p>
      ) : (
        <ul className="mt-1 flex flex-col gap-0.5 text-sm" data-testid={testId}>
          {ids.map((i) => (
            <li key={i} className="font-mono text-xs break-all">
              {i}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

const th = 'px-2 py-1.5 text-left text-xs font-semibold whitespace-nowrap text-slate-700 dark:text-slate-300';
const thNum = `${th} text-right`;
const td = 'px-2 py-1.5 align-top';
const tdNum = `${td} text-right whitespace-nowrap tabular-nums`;

function Comparison({ c }: { c: EvalComparison }) {
  const wins = new Set(c.wins);
  const losses = new Set(c.losses);
  const evaluated = c.a.evaluation !== 'none' && c.b.evaluation !== 'none';
  return (
    <>
      {!evaluated && (
        <p
          role="note"
          className="rounded border border-amber-400 bg-amber-50 p-2 text-sm text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100"
        >
          {c.a.evaluation === 'none' && c.b.evaluation === 'none'
            ? 'Neither run was evaluated'
            : `Run ${c.a.evaluation === 'none' ? 'A' : 'B'} was not evaluated`}
          : its rate counts nothing as resolved, so the comparison says little.
        </p>
      )}
      <div className="grid gap-3 md:grid-cols-2">
        <Side label="A" run={c.a} />
        <Side label="B" run={c.b} />
      </div>
      <section
        aria-labelledby="difference-heading"
        className="rounded-lg border border-slate-300 bg-white p-4 dark:border-slate-700 dark:bg-slate-900"
        data-testid="compare-difference"
      >
        <h2 id="difference-heading" className="text-lg font-semibold">
          Difference (B − A)
        </h2>
        <p className="text-2xl font-bold" data-testid="compare-delta">
          {points(c.difference.delta)}
        </p>
        <p className="text-sm">
          95 % interval: {points(c.difference.low)} to {points(c.difference.high)} · over {c.common} instance{c.common === 1 ? '' : 's'} both finished (
          {pct(c.a.rate.rate)} → {pct(c.b.rate.rate)})
        </p>
        <p className="mt-1 text-sm font-medium" data-testid="compare-verdict">
          {verdict(c.difference, 'A', 'B')}
        </p>
        {(c.only_in_a.length > 0 || c.only_in_b.length > 0) && (
          <p className="mt-1 text-xs text-slate-700 dark:text-slate-300" data-testid="compare-only">
            Left out (one run has no result for them): {c.only_in_a.length} only in A, {c.only_in_b.length} only in B.
          </p>
        )}
      </section>
      <div className="grid gap-3 sm:grid-cols-2">
        <InstanceList title="Wins — resolved by A only" ids={c.wins} testId="compare-wins" empty="None: B resolved everything A did." />
        <InstanceList title="Losses — resolved by B only" ids={c.losses} testId="compare-losses" empty="None: A resolved everything B did." />
      </div>
      <section aria-labelledby="per-instance-heading" className="flex flex-col gap-2">
        <h2 id="per-instance-heading" className="text-lg font-semibold">
          Every instance
        </h2>
        <ScrollX label="Every instance, A and B">
          <table className="w-full min-w-[40rem] border-collapse text-sm" data-testid="compare-instances">
            <thead className="border-b border-slate-300 dark:border-slate-700">
              <tr>
                <th className={th} scope="col">
                  Instance
                </th>
                <th className={th} scope="col">
                  A
                </th>
                <th className={th} scope="col">
                  B
                </th>
                <th className={thNum} scope="col">
                  Cost A
                </th>
                <th className={thNum} scope="col">
                  Cost B
                </th>
                <th className={th} scope="col">
                  Outcome
                </th>
              </tr>
            </thead>
            <tbody>
              {c.instances.map((i) => (
                <tr key={i.instance_id} className="border-b border-slate-200 dark:border-slate-800" data-testid="compare-row" data-instance={i.instance_id}>
                  <td className={`${td} font-mono text-xs break-all`}>{i.instance_id}</td>
                  <td className={td}>
                    <InstanceStatusBadge r={{ status: i.a }} />
                  </td>
                  <td className={td}>
                    <InstanceStatusBadge r={{ status: i.b }} />
                  </td>
                  <td className={tdNum}>{usd(i.a_cost_usd)}</td>
                  <td className={tdNum}>{usd(i.b_cost_usd)}</td>
                  <td className={`${td} text-xs font-semibold`}>{wins.has(i.instance_id) ? 'A only' : losses.has(i.instance_id) ? 'B only' : 'same'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </ScrollX>
      </section>
    </>
  );
}

export function EvalCompareScreen() {
  const { a = '', b = '' } = useParams();
  const runs = useEvalRuns();
  const cmp = useQuery({
    queryKey: ['eval-compare', a, b],
    queryFn: () => get<EvalComparison>(`/api/evals/${enc(a)}/compare/${enc(b)}`),
    retry: (n, e) => !(e instanceof ApiError && e.status === 404) && n < 2,
  });
  const c = cmp.data;
  useTitle(c ? `${c.a.name} vs ${c.b.name}` : 'Compare evaluations');
  return (
    <div className="flex max-w-6xl flex-col gap-4">
      <p className="text-sm">
        <Link to="/evals" className="text-blue-800 underline dark:text-blue-300">
          ← Evaluations
        </Link>
      </p>
      <h1 className="text-2xl font-bold break-words">{c ? `${c.a.name} vs ${c.b.name}` : 'Compare evaluations'}</h1>
      {runs.data && runs.data.length >= 2 && <ComparePicker key={`${a}/${b}`} runs={runs.data} a={a} b={b} />}
      <ErrorNote error={cmp.error} />
      {cmp.isPending && <p className="text-sm">Comparing…</p>}
      {c && <Comparison c={c} />}
    </div>
  );
}
