// Usage: tokens and cost over time, per agent and per model, the cost
// analysis (spend, burn rate, projection, caching, routing), and tool-call
// counts and error rates — charts with the same figures in tables.

import { useMemo, useState } from 'react';
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useQuery } from '@tanstack/react-query';
import { get } from '../api/client';
import type { AgentMetrics, CostAnalysis, UsageReport, UsageRow } from '../api/types';
import { useAgents } from './Agents';
import { useUsers } from './Team';
import { useWho } from '../api/me';
import { Card, ErrorNote, Field, ScrollX, Stats, inputClass, tokens, usd, useTitle } from '../components/ui';

const RANGES: [string, number][] = [
  ['last 7 days', 7],
  ['last 30 days', 30],
  ['last 90 days', 90],
];

/** The owner's id of a row grouped by user. */
export function rowUser(r: UsageRow): string {
  return r.user?.id ?? '';
}

function useUsage(days: number, groupBy: string, enabled = true) {
  return useQuery({
    enabled,
    retry: false,
    queryKey: ['usage', days, groupBy],
    queryFn: () => {
      const to = new Date();
      const from = new Date(to.getTime() - days * 86400_000);
      const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), group_by: groupBy });
      return get<UsageReport>(`/api/metrics/usage?${q}`);
    },
    refetchInterval: 10_000,
  });
}

/** One row per day of the range, zeros where nothing was used; before the
 *  first day with any use, the cost is null, so the line starts where the
 *  spending does instead of ramping up from a zero nobody spent. */
export function dailySeries(rows: UsageRow[], days: number, today = new Date()) {
  const byDay = new Map(rows.map((r) => [r.day ?? '', r]));
  const out: { day: string; input: number; output: number; cost: number | null }[] = [];
  let started = false;
  for (let i = days - 1; i >= 0; i--) {
    const day = new Date(today.getTime() - i * 86400_000).toISOString().slice(0, 10);
    const r = byDay.get(day);
    started ||= r !== undefined;
    out.push({
      day,
      input: r?.input_tokens ?? 0,
      output: r?.output_tokens ?? 0,
      cost: started ? Number((r?.cost_usd ?? 0).toFixed(6)) : null,
    });
  }
  return out;
}

export interface ToolRow {
  tool: string;
  calls: number;
  failures: number;
}

/** Tool calls and failures summed over agents. */
export function toolRows(agents: AgentMetrics[]): ToolRow[] {
  const m = new Map<string, ToolRow>();
  for (const a of agents) {
    for (const t of a.tools) {
      const r = m.get(t.tool) ?? { tool: t.tool, calls: 0, failures: 0 };
      r.calls += t.calls;
      r.failures += t.failures;
      m.set(t.tool, r);
    }
  }
  return [...m.values()].sort((a, b) => b.calls - a.calls || a.tool.localeCompare(b.tool));
}

function UsageTable({ rows, label, name }: { rows: UsageRow[]; label: string; name: (r: UsageRow) => string }) {
  return (
    <ScrollX label={`Usage per ${label.toLowerCase()}`}>
      <table className="w-full text-left text-sm">
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
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={name(r)} className="border-b border-slate-200 dark:border-slate-800">
              <th scope="row" className="p-1 font-medium">
                {name(r)}
              </th>
              <td className="p-1">{r.model_calls}</td>
              <td className="p-1">
                {tokens(r.input_tokens)} ({tokens(r.cached_tokens)})
              </td>
              <td className="p-1">{tokens(r.output_tokens)}</td>
              <td className="p-1">
                {usd(r.cost_usd)}
                {r.unpriced_calls > 0 && ` + ${r.unpriced_calls} unpriced`}
              </td>
            </tr>
          ))}
          {rows.length === 0 && (
            <tr>
              <td className="p-1" colSpan={5}>
                No model calls in this range.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </ScrollX>
  );
}

function CostCards({ ca }: { ca: CostAnalysis }) {
  const cells: [string, string][] = [
    ['Spent this month', usd(ca.spend_to_date_usd)],
    ['Spent today', usd(ca.spend_today_usd)],
    ['Burn rate', `${usd(ca.burn_rate_usd_per_day)}/day`],
    ['Month-end projection', usd(ca.projected_month_usd)],
    ['Cache hits', ca.cache.hit_ratio === null || ca.cache.hit_ratio === undefined ? '—' : `${(100 * ca.cache.hit_ratio).toFixed(1)}%`],
    ['Caching saved', usd(ca.cache.saved_usd)],
    ['Routing saved', ca.routing.routed_calls ? usd(ca.routing.saved_usd) : '—'],
    ['Unpriced calls', String(ca.unpriced_calls)],
  ];
  return <Stats label="Cost analysis" cells={cells} />;
}

export function UsageScreen() {
  useTitle('Usage');
  const [days, setDays] = useState(30);
  const daily = useUsage(days, 'day');
  const byModel = useUsage(days, 'model');
  const byAgent = useUsage(days, 'agent');
  const who = useWho();
  // Usage by user: admins see everyone's; a member, their own agents' and those shared with them.
  const byUser = useUsage(days, 'user', who !== undefined);
  const users = useUsers(who?.admin ?? false);
  const userNames = useMemo(() => Object.fromEntries((users.data ?? []).map((u) => [u.id, u.display_name || u.name])), [users.data]);
  const userRows = useMemo(() => [...(byUser.data?.rows ?? [])].sort((a, b) => b.cost_usd - a.cost_usd), [byUser.data]);
  const agents = useAgents();
  const cost = useQuery({ queryKey: ['cost-analysis'], queryFn: () => get<CostAnalysis>('/api/metrics/cost-analysis'), refetchInterval: 10_000 });
  const perAgent = useQuery({ queryKey: ['agent-metrics'], queryFn: () => get<AgentMetrics[]>('/api/metrics/agents'), refetchInterval: 10_000 });
  const names = useMemo(() => Object.fromEntries((agents.data ?? []).map((a) => [a.id, a.name])), [agents.data]);
  const series = useMemo(() => dailySeries(daily.data?.rows ?? [], days), [daily.data, days]);
  const tools = useMemo(() => toolRows(perAgent.data ?? []), [perAgent.data]);
  const agentRows = useMemo(() => [...(byAgent.data?.rows ?? [])].sort((a, b) => b.cost_usd - a.cost_usd), [byAgent.data]);

  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-end justify-between gap-3">
        <h1 className="text-2xl font-bold">Usage</h1>
        <Field label="Range">
          <select className={inputClass} value={days} onChange={(e) => setDays(Number(e.target.value))}>
            {RANGES.map(([label, d]) => (
              <option key={d} value={d}>
                {label}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <ErrorNote error={daily.error ?? cost.error ?? byModel.error ?? byAgent.error ?? perAgent.error} />
      {cost.data && <CostCards ca={cost.data} />}
      <Card title="Tokens per day">
        <div className="h-64" role="img" aria-label="Bar chart of input and output tokens per day; the tables below have the figures.">
          <ResponsiveContainer width="100%" height="100%">
            <BarChart data={series}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="day" />
              <YAxis />
              <Tooltip />
              <Legend />
              <Bar dataKey="input" stackId="t" fill="#2563eb" name="input tokens" />
              <Bar dataKey="output" stackId="t" fill="#d97706" name="output tokens" />
            </BarChart>
          </ResponsiveContainer>
        </div>
      </Card>
      <Card title="Cost per day (USD)">
        <div className="h-56" role="img" aria-label={`Line chart of cost per day; ${usd(daily.data?.total.cost_usd)} in the range.`}>
          <ResponsiveContainer width="100%" height="100%">
            <LineChart data={series}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="day" />
              <YAxis />
              <Tooltip />
              <Line type="linear" dataKey="cost" stroke="#059669" name="cost (USD)" dot={{ r: 2 }} connectNulls={false} isAnimationActive={false} />
            </LineChart>
          </ResponsiveContainer>
        </div>
      </Card>
      <Card title="Per model">
        <UsageTable rows={byModel.data?.rows ?? []} label="Model" name={(r) => `${r.provider}/${r.model}`} />
      </Card>
      <Card title="Per agent">
        <UsageTable rows={agentRows} label="Agent" name={(r) => names[r.agent_id ?? ''] ?? r.agent_id ?? ''} />
      </Card>
      {byUser.data && (
        <Card title="Per user">
          <UsageTable rows={userRows} label="User" name={(r) => userNames[rowUser(r)] ?? (r.user?.name || 'unknown')} />
        </Card>
      )}
      <Card title="Tool calls">
        <ScrollX label="Tool calls per tool">
          <table className="w-full text-left text-sm">
            <thead>
              <tr className="border-b border-slate-300 dark:border-slate-700">
                <th scope="col" className="p-1">
                  Tool
                </th>
                <th scope="col" className="p-1">
                  Calls
                </th>
                <th scope="col" className="p-1">
                  Error rate
                </th>
              </tr>
            </thead>
            <tbody>
              {tools.map((t) => (
                <tr key={t.tool} className="border-b border-slate-200 dark:border-slate-800">
                  <th scope="row" className="p-1 font-medium">
                    {t.tool}
                  </th>
                  <td className="p-1">{t.calls}</td>
                  <td className="p-1">{t.calls ? `${((100 * t.failures) / t.calls).toFixed(1)}%` : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </ScrollX>
      </Card>
      {cost.data && cost.data.top_tools.length > 0 && (
        <Card title="Tools whose output cost the most this month">
          <ul className="text-sm">
            {cost.data.top_tools.map((t) => (
              <li key={t.tool}>
                <code>{t.tool}</code>: {t.calls} calls, {tokens(t.result_tokens)} tokens of results, ≈{usd(t.estimated_cost_usd)}
              </li>
            ))}
          </ul>
        </Card>
      )}
    </div>
  );
}
