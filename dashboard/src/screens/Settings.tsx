// Settings: model providers (keys shown only as set or unset), agent
// templates, system prompts and policy rules.

import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError, del, get, post, put } from '../api/client';
import type { BudgetsView, ModelView, ProviderView, RouterConfig, RuleList, SystemPromptView, TemplateView, WireApi } from '../api/types';
import { Button, Card, ErrorNote, Field, Form, ScrollX, inputClass, usd } from '../components/ui';

export function SettingsScreen({ onSignIn }: { onSignIn: () => void }) {
  return (
    <div className="flex flex-col gap-4">
      <h1 className="text-2xl font-bold">Settings</h1>
      <Providers />
      <Budgets onSignIn={onSignIn} />
      <Templates />
      <Prompts />
      <Rules onSignIn={onSignIn} />
    </div>
  );
}

/** How each wire API is named to people. */
export const API_NAMES: Record<WireApi, string> = {
  chat: 'Chat Completions',
  responses: 'Responses API',
};

/** A model's failover chain, e.g. "→ azure/gpt5-deploy → backup/gpt-5" (empty: none). */
export function failoverChain(m: Pick<ModelView, 'failover'>): string {
  return m.failover.map((t) => `→ ${t.provider}/${t.model}`).join(' ');
}

/** What a provider's open circuit breaker means, in whole seconds (null: closed). */
export function circuitNote(ms: number | null | undefined): string | null {
  if (ms === null || ms === undefined) return null;
  return `circuit open: passed over for ${Math.max(1, Math.ceil(ms / 1000))} s`;
}

function Providers() {
  const q = useQuery({
    queryKey: ['providers'],
    queryFn: () => get<ProviderView[]>('/api/config/providers'),
    // While a circuit is open, follow it until it closes.
    refetchInterval: (query) => ((query.state.data ?? []).some((p) => p.circuit_open_ms !== null && p.circuit_open_ms !== undefined) ? 2000 : false),
  });
  return (
    <Card title="Providers and models">
      <p className="mb-2 text-xs">Configured in paddock.toml ([[providers]]). API keys are read from the environment and never shown.</p>
      <ErrorNote error={q.error} />
      {(q.data ?? []).map((p) => (
        <section key={p.name} className="mb-3" aria-label={`Provider ${p.name}`}>
          <h3 className="font-semibold">
            {p.name}{' '}
            <span
              className="rounded bg-slate-200 px-1.5 py-0.5 text-xs font-medium text-slate-900 dark:bg-slate-700 dark:text-slate-100"
              data-testid="provider-api"
              title="The wire API it speaks (api in paddock.toml)"
            >
              {API_NAMES[p.api]}
            </span>{' '}
            <span className="text-xs font-normal wrap-anywhere">{p.base_url}</span>
          </h3>
          {circuitNote(p.circuit_open_ms) && (
            <p
              role="status"
              className="my-1 rounded border border-amber-400 bg-amber-50 p-1 text-xs text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100"
              data-testid="circuit-open"
            >
              <strong>{circuitNote(p.circuit_open_ms)}</strong> — it failed repeatedly, so its models' calls go to their failover targets until it is tried
              again.
            </p>
          )}
          <p className="text-xs">
            API key:{' '}
            {p.api_key_env ? (
              <>
                <code>${p.api_key_env}</code> <strong data-testid="key-state">{p.api_key_set ? 'set' : 'unset'}</strong>
              </>
            ) : (
              'none needed'
            )}
            {!p.available && <strong className="ml-2 text-red-800 dark:text-red-300">unavailable</strong>}
          </p>
          <ScrollX label={`Models of ${p.name}`}>
            <table className="mt-1 w-full text-left text-xs whitespace-nowrap [&_td]:pr-3 [&_th]:pr-3">
              <thead>
                <tr>
                  <th scope="col">Model</th>
                  <th scope="col">Context</th>
                  <th scope="col">Input / M</th>
                  <th scope="col">Cached / M</th>
                  <th scope="col">Output / M</th>
                  <th scope="col">Failover</th>
                </tr>
              </thead>
              <tbody>
                {p.models.map((m) => (
                  <tr key={m.name}>
                    <th scope="row" className="font-medium">
                      {m.name}
                      {m.reasoning && (
                        <span
                          className="ml-1 rounded bg-violet-100 px-1 text-xs font-medium text-violet-900 dark:bg-violet-900 dark:text-violet-100"
                          data-testid="model-reasoning"
                          title="A reasoning model: its reasoning summaries are shown with its answers"
                        >
                          reasoning
                        </span>
                      )}
                    </th>
                    <td>{m.context_window.toLocaleString()}</td>
                    {m.price ? (
                      <>
                        <td>{usd(m.price.input_per_mtok)}</td>
                        <td>{usd(m.price.cached_input_per_mtok)}</td>
                        <td>{usd(m.price.output_per_mtok)}</td>
                      </>
                    ) : (
                      <td colSpan={3}>
                        <strong>unknown price</strong>: its calls are counted as unpriced
                      </td>
                    )}
                    <td data-testid="model-failover">{failoverChain(m) || '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </ScrollX>
        </section>
      ))}
    </Card>
  );
}

function Budgets({ onSignIn }: { onSignIn: () => void }) {
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['budgets'], queryFn: () => get<BudgetsView>('/api/config/budgets') });
  const routers = useQuery({ queryKey: ['routers'], queryFn: () => get<RouterConfig[]>('/api/config/routers') });
  const [daily, setDaily] = useState('');
  const [monthly, setMonthly] = useState('');
  const save = useMutation({
    mutationFn: () =>
      put('/api/config/budgets', {
        daily_usd: daily.trim() ? Number(daily) : null,
        monthly_usd: monthly.trim() ? Number(monthly) : null,
      }),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['budgets'] }),
  });
  const needsAdmin = save.error instanceof ApiError && (save.error.status === 401 || save.error.status === 403);
  const b = q.data;
  return (
    <Card title="Budgets and routing">
      <ErrorNote error={q.error ?? save.error} />
      {b && (
        <p className="mb-2 text-sm" data-testid="budgets">
          Spent today {usd(b.spent_today_usd)} of {b.daily_usd === null || b.daily_usd === undefined ? 'no daily cap' : usd(b.daily_usd)}; this month{' '}
          {usd(b.spent_this_month_usd)} of {b.monthly_usd === null || b.monthly_usd === undefined ? 'no monthly cap' : usd(b.monthly_usd)} (set in{' '}
          {b.source === 'api' ? 'the dashboard/API' : 'paddock.toml'}). An agent stops before a call that would exceed a budget.
        </p>
      )}
      <Form className="flex flex-wrap items-end gap-2" onSubmit={() => save.mutate()}>
        <Field label="Daily budget, all agents (USD)">
          <input className={inputClass} type="number" min={0} step="0.01" value={daily} onChange={(e) => setDaily(e.target.value)} placeholder="no cap" />
        </Field>
        <Field label="Monthly budget, all agents (USD)">
          <input className={inputClass} type="number" min={0} step="0.01" value={monthly} onChange={(e) => setMonthly(e.target.value)} placeholder="no cap" />
        </Field>
        <Button tone="primary" type="submit" disabled={save.isPending}>
          Set budgets
        </Button>
      </Form>
      {needsAdmin && (
        <Button tone="primary" onClick={onSignIn}>
          Sign in as admin
        </Button>
      )}
      <h3 className="mt-3 font-semibold">Model routers</h3>
      {(routers.data ?? []).length === 0 && <p className="text-sm">None configured ([[routers]] in paddock.toml).</p>}
      <ul className="text-sm">
        {(routers.data ?? []).map((r) => (
          <li key={r.name}>
            <strong>{r.name}</strong>: cheap {r.cheap.provider}/{r.cheap.model}, strong {r.strong.provider}/{r.strong.model}; first call {r.first_call}, strong
            after {r.escalate_after_failures} cheap failures
          </li>
        ))}
      </ul>
    </Card>
  );
}

function Templates() {
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['templates'], queryFn: () => get<TemplateView[]>('/api/config/agent-templates') });
  const [name, setName] = useState('');
  const [body, setBody] = useState('{\n  "description": "",\n  "system_prompt": "You are a careful coding agent.",\n  "approval_mode": "ask-risky"\n}');
  const create = useMutation({
    mutationFn: () => {
      let fields: Record<string, unknown>;
      try {
        fields = JSON.parse(body) as Record<string, unknown>;
      } catch (e) {
        throw new Error(`The template is not valid JSON: ${String(e)}`);
      }
      return post('/api/config/agent-templates', { name: name.trim(), ...fields });
    },
    onSuccess: () => {
      setName('');
      void qc.invalidateQueries({ queryKey: ['templates'] });
    },
  });
  const remove = useMutation({
    mutationFn: (n: string) => del(`/api/config/agent-templates/${encodeURIComponent(n)}`),
    onSettled: () => qc.invalidateQueries({ queryKey: ['templates'] }),
  });
  return (
    <Card title="Agent templates">
      <ErrorNote error={q.error ?? remove.error} />
      <ul className="mb-3 flex flex-col gap-1">
        {(q.data ?? []).map((t) => (
          <li key={t.name} className="flex flex-wrap items-center justify-between gap-2 text-sm">
            <span>
              <strong>{t.name}</strong> {t.description && `— ${t.description}`}
              {t.model && ` · ${t.model.provider}/${t.model.model}`}
              {t.approval_mode && ` · ${t.approval_mode}`}
              {t.reasoning_effort && ` · reasoning effort ${t.reasoning_effort}`}
            </span>
            <Button tone="danger" onClick={() => remove.mutate(t.name)} aria-label={`Delete template ${t.name}`}>
              Delete
            </Button>
          </li>
        ))}
        {q.data?.length === 0 && <li className="text-sm">None yet.</li>}
      </ul>
      <Form className="flex flex-col gap-2" onSubmit={() => create.mutate()}>
        <Field label="New template name">
          <input className={inputClass} value={name} onChange={(e) => setName(e.target.value)} required />
        </Field>
        <Field label="Fields (JSON: system_prompt, model, tools, mcp_servers, approval_mode, reasoning_effort, verbosity, limits, workspace…)">
          <textarea className={`${inputClass} font-mono`} rows={5} value={body} onChange={(e) => setBody(e.target.value)} />
        </Field>
        <ErrorNote error={create.error} />
        <div>
          <Button tone="primary" type="submit" disabled={create.isPending}>
            Save template
          </Button>
        </div>
      </Form>
    </Card>
  );
}

function Prompts() {
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['prompts'], queryFn: () => get<SystemPromptView[]>('/api/config/system-prompts') });
  const [name, setName] = useState('');
  const [text, setText] = useState('');
  const create = useMutation({
    mutationFn: () => post('/api/config/system-prompts', { name: name.trim(), text }),
    onSuccess: () => {
      setName('');
      setText('');
      void qc.invalidateQueries({ queryKey: ['prompts'] });
    },
  });
  const remove = useMutation({
    mutationFn: (n: string) => del(`/api/config/system-prompts/${encodeURIComponent(n)}`),
    onSettled: () => qc.invalidateQueries({ queryKey: ['prompts'] }),
  });
  return (
    <Card title="System prompts">
      <ErrorNote error={q.error ?? remove.error} />
      <ul className="mb-3 flex flex-col gap-2">
        {(q.data ?? []).map((p) => (
          <li key={p.name} className="text-sm">
            <div className="flex flex-wrap items-center justify-between gap-2">
              <strong>{p.name}</strong>
              <Button tone="danger" onClick={() => remove.mutate(p.name)} aria-label={`Delete prompt ${p.name}`}>
                Delete
              </Button>
            </div>
            <pre className="max-h-24 overflow-auto rounded bg-slate-100 p-1 text-xs whitespace-pre-wrap dark:bg-slate-800">{p.text}</pre>
          </li>
        ))}
        {q.data?.length === 0 && <li className="text-sm">None yet.</li>}
      </ul>
      <Form className="flex flex-col gap-2" onSubmit={() => create.mutate()}>
        <Field label="New prompt name">
          <input className={inputClass} value={name} onChange={(e) => setName(e.target.value)} required />
        </Field>
        <Field label="Text">
          <textarea className={inputClass} rows={4} value={text} onChange={(e) => setText(e.target.value)} required />
        </Field>
        <ErrorNote error={create.error} />
        <div>
          <Button tone="primary" type="submit" disabled={create.isPending}>
            Save prompt
          </Button>
        </div>
      </Form>
    </Card>
  );
}

function Rules({ onSignIn }: { onSignIn: () => void }) {
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['rules'], queryFn: () => get<RuleList>('/api/policy/rules') });
  const [rule, setRule] = useState('');
  const [scope, setScope] = useState('global');
  const add = useMutation({
    mutationFn: () => post('/api/policy/rules', { rule: rule.trim(), scope }),
    onSuccess: () => {
      setRule('');
      void qc.invalidateQueries({ queryKey: ['rules'] });
    },
  });
  const remove = useMutation({
    mutationFn: (id: string) => del(`/api/policy/rules/${encodeURIComponent(id)}`),
    onSettled: () => qc.invalidateQueries({ queryKey: ['rules'] }),
  });
  const err = add.error ?? remove.error;
  const needsAdmin = err instanceof ApiError && (err.status === 401 || err.status === 403);
  return (
    <Card title="Policy rules">
      <p className="mb-2 text-xs">
        <code>allow|ask|deny TOOL(PATTERN)</code>, tried per scope: the agent's own, <code>agent:ID</code>, <code>template:NAME</code>, then global. Rules from
        paddock.toml are read-only here; adding and removing needs the admin token.
      </p>
      <ErrorNote error={q.error ?? err} />
      {needsAdmin && (
        <Button tone="primary" onClick={onSignIn}>
          Sign in as admin
        </Button>
      )}
      <ScrollX label="Policy rules">
        <table className="mb-3 w-full text-left text-sm">
          <thead>
            <tr>
              <th scope="col">Rule</th>
              <th scope="col">Scope</th>
              <th scope="col">Source</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {(q.data?.rules ?? []).map((r) => (
              <tr key={r.id} className="border-t border-slate-200 dark:border-slate-800">
                <td>
                  <code>{r.rule}</code>
                </td>
                <td>{String(r.scope)}</td>
                <td>{r.source}</td>
                <td>
                  {r.source !== 'config' && (
                    <Button tone="danger" onClick={() => remove.mutate(r.id)} aria-label={`Remove rule ${r.rule}`}>
                      Remove
                    </Button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </ScrollX>
      <Form className="flex flex-wrap items-end gap-2" onSubmit={() => add.mutate()}>
        <Field label="New rule">
          <input className={inputClass} value={rule} onChange={(e) => setRule(e.target.value)} placeholder="ask execute_bash(git push*)" required />
        </Field>
        <Field label="Scope">
          <input className={inputClass} value={scope} onChange={(e) => setScope(e.target.value)} />
        </Field>
        <Button tone="primary" type="submit" disabled={add.isPending}>
          Add rule
        </Button>
      </Form>
    </Card>
  );
}
