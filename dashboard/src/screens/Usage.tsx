// Usage: tokens and cost per agent and per model, tool-call counts and
// error rates — charts with the same figures in a table beside them.

import { useMemo } from 'react';
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useAgents } from './Agents';
import { Card, ErrorNote, ScrollX, tokens, usd } from '../components/ui';
import type { AgentView } from '../api/types';

interface Row {
  key: string;
  input: number;
  output: number;
  cached: number;
  cost: number;
  calls: number;
  tools: number;
  failures: number;
}

function add(r: Row, a: AgentView): Row {
  return {
    ...r,
    input: r.input + a.usage.input_tokens,
    output: r.output + a.usage.output_tokens,
    cached: r.cached + a.usage.cached_tokens,
    cost: r.cost + a.usage.cost_usd,
    calls: r.calls + a.usage.model_calls,
    tools: r.tools + a.usage.tool_calls,
    failures: r.failures + a.usage.tool_failures,
  };
}

const zero = (key: string): Row => ({ key, input: 0, output: 0, cached: 0, cost: 0, calls: 0, tools: 0, failures: 0 });

export function usageRows(agents: AgentView[], by: (a: AgentView) => string): Row[] {
  const m = new Map<string, Row>();
  for (const a of agents) {
    const k = by(a);
    m.set(k, add(m.get(k) ?? zero(k), a));
  }
  return [...m.values()].sort((x, y) => y.cost - x.cost || y.input + y.output - (x.input + x.output));
}

function UsageTable({ rows, label }: { rows: Row[]; label: string }) {
  return (
    <ScrollX label={`Usage per ${label.toLowerCase()}`}>
      <table className="w-full text-left text-sm">
        <caption className="sr-only">{label}</caption>
        <thead>
          <tr className="border-b border-slate-300 dark:border-slate-700">
            <th scope="col" className="p-1">
              {label}
            </th>
            <th scope="col" className="p-1">
              Model calls
            </th>
            <th scope="col" className="p-1">
              Input (cached)
            </th>
            <th scope="col" className="p-1">
              Output
            </th>
            <th scope="col" className="p-1">
              Cost
            </th>
            <th scope="col" className="p-1">
              Tool calls
            </th>
            <th scope="col" className="p-1">
              Error rate
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.key} className="border-b border-slate-200 dark:border-slate-800">
              <th scope="row" className="p-1 font-medium">
                {r.key}
              </th>
              <td className="p-1">{r.calls}</td>
              <td className="p-1">
                {tokens(r.input)} ({tokens(r.cached)})
              </td>
              <td className="p-1">{tokens(r.output)}</td>
              <td className="p-1">{usd(r.cost)}</td>
              <td className="p-1">{r.tools}</td>
              <td className="p-1">{r.tools ? `${((100 * r.failures) / r.tools).toFixed(1)}%` : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </ScrollX>
  );
}

export function UsageScreen() {
  const agents = useAgents();
  const list = useMemo(() => agents.data ?? [], [agents.data]);
  const byAgent = useMemo(() => usageRows(list, (a) => a.name), [list]);
  const byModel = useMemo(() => usageRows(list, (a) => `${a.config.model.provider}/${a.config.model.model}`), [list]);
  const total = byModel.reduce(
    (t, r) => ({
      ...t,
      cost: t.cost + r.cost,
      input: t.input + r.input,
      output: t.output + r.output,
      cached: t.cached + r.cached,
      tools: t.tools + r.tools,
      failures: t.failures + r.failures,
      calls: t.calls + r.calls,
    }),
    zero('all'),
  );
  const top = byAgent.slice(0, 15).map((r) => ({ name: r.key, input: r.input, output: r.output }));
  return (
    <div className="flex flex-col gap-4">
      <h1 className="text-2xl font-bold">Usage</h1>
      <ErrorNote error={agents.error} />
      <dl className="grid grid-cols-2 gap-2 sm:grid-cols-4">
        {[
          ['Total cost', usd(total.cost)],
          ['Tokens', tokens(total.input + total.output)],
          ['Cached share', total.input ? `${((100 * total.cached) / total.input).toFixed(1)}%` : '—'],
          ['Tool errors', total.tools ? `${total.failures} of ${total.tools}` : '—'],
        ].map(([k, v]) => (
          <div key={k} className="rounded border border-slate-300 bg-white p-2 dark:border-slate-700 dark:bg-slate-900">
            <dt className="text-xs text-slate-700 dark:text-slate-300">{k}</dt>
            <dd className="text-lg font-semibold">{v}</dd>
          </div>
        ))}
      </dl>
      <Card title="Tokens per agent (top 15 by cost)">
        <div className="h-72" role="img" aria-label="Bar chart of input and output tokens per agent; the table below has the same figures.">
          <ResponsiveContainer width="100%" height="100%">
            <BarChart data={top}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="name" />
              <YAxis />
              <Tooltip />
              <Legend />
              <Bar dataKey="input" stackId="t" fill="#2563eb" name="input tokens" />
              <Bar dataKey="output" stackId="t" fill="#d97706" name="output tokens" />
            </BarChart>
          </ResponsiveContainer>
        </div>
      </Card>
      <Card title="Per model">
        <UsageTable rows={byModel} label="Model" />
      </Card>
      <Card title="Per agent">
        <UsageTable rows={byAgent} label="Agent" />
      </Card>
    </div>
  );
}
