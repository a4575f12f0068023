// Settings: model providers (keys shown only as set or unset), agent
// environments, templates, system prompts and policy rules.

import { useState } from 'react';
import { ProviderForm } from '../components/ProviderForm';
import { useInfo } from '../App';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError, del, get, post, put } from '../api/client';
import type {
  BudgetsView,
  DefaultModel,
  EnvironmentView,
  ModelView,
  ProviderTest,
  ProviderView,
  RouterConfig,
  RuleList,
  SystemPromptView,
  TemplateView,
  WireApi,
} from '../api/types';
import { Button, Card, ErrorNote, Field, Form, Modal, ScrollX, inputClass, usd, useTitle } from '../components/ui';

export function SettingsScreen({ onSignIn }: { onSignIn: () => void }) {
  useTitle('Settings');
  return (
    <div className="flex flex-col gap-4">
      <h1 className="text-2xl font-bold">Settings</h1>
      <Providers />
      <Budgets onSignIn={onSignIn} />
      <Environments onSignIn={onSignIn} />
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
  const [adding, setAdding] = useState(false);
  const [editing, setEditing] = useState<ProviderView | null>(null);
  return (
    <Card
      title="Providers and models"
      actions={
        <Button tone="primary" onClick={() => setAdding(true)}>
          Add provider
        </Button>
      }
    >
      <p className="mb-2 text-xs">
        Providers added here take effect at once; their keys are stored encrypted and never shown again. Those from paddock.toml ([[providers]], keys from the
        environment) are read-only here.
      </p>
      <ErrorNote error={q.error} />
      <DefaultModelForm providers={q.data ?? []} />
      {q.data?.length === 0 && <p className="text-sm">No provider yet: add one, or set one in paddock.toml.</p>}
      {(q.data ?? []).map((p) => (
        <section key={p.name} className="mb-3 border-t border-slate-200 pt-2 dark:border-slate-800" aria-label={`Provider ${p.name}`}>
          <div className="flex flex-wrap items-center justify-between gap-2">
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
            <ProviderActions p={p} onEdit={() => setEditing(p)} />
          </div>
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
            {p.source === 'demo'
              ? 'The built-in offline demo (Agents → Try it offline)'
              : p.read_only
                ? 'From paddock.toml (read-only here)'
                : 'Added in the dashboard'}{' '}
            · API key: <strong data-testid="key-state">{keyNote(p)}</strong>
            {!p.available && <strong className="ml-2 text-red-800 dark:text-red-300">unavailable: {p.error ?? 'no usable key'}</strong>}
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
      <Modal open={adding} onClose={() => setAdding(false)} title="Add a provider">
        {adding && <ProviderForm onSaved={() => setAdding(false)} />}
      </Modal>
      <Modal open={editing !== null} onClose={() => setEditing(null)} title={`Edit provider ${editing?.name ?? ''}`}>
        {editing && <ProviderForm existing={editing} onSaved={() => setEditing(null)} />}
      </Modal>
    </Card>
  );
}

/** How a provider's key is held, never the key: "$OPENAI_API_KEY set", "stored, ends in …4f2a", "none". */
export function keyNote(p: Pick<ProviderView, 'key'>): string {
  const k = p.key;
  switch (k.state) {
    case 'env':
      return `$${k.env ?? '?'} ${k.set ? 'set' : 'not set'}`;
    case 'stored':
      return k.last4 ? `stored, ends in …${k.last4}` : 'stored';
    default:
      return 'none';
  }
}

/** Test, edit and delete, for providers added here; test for every one. */
function ProviderActions({ p, onEdit }: { p: ProviderView; onEdit: () => void }) {
  const qc = useQueryClient();
  const test = useMutation({ mutationFn: () => post<ProviderTest>(`/api/config/providers/${encodeURIComponent(p.name)}/test`) });
  const remove = useMutation({
    mutationFn: () => del(`/api/config/providers/${encodeURIComponent(p.name)}`),
    onSettled: () => qc.invalidateQueries({ queryKey: ['providers'] }),
  });
  return (
    <div className="flex flex-wrap items-center gap-2">
      {test.data && (
        <span role="status" className={`text-xs ${test.data.ok ? 'text-green-800 dark:text-green-300' : 'text-red-800 dark:text-red-300'}`}>
          {test.data.ok ? `OK, ${test.data.models.length} models` : `Failed: ${test.data.message}`}
        </span>
      )}
      <ErrorNote error={test.error ?? remove.error} />
      <Button onClick={() => test.mutate()} disabled={test.isPending} aria-label={`Test ${p.name}`}>
        {test.isPending ? 'Testing…' : 'Test'}
      </Button>
      {!p.read_only && (
        <>
          <Button onClick={onEdit} aria-label={`Edit ${p.name}`}>
            Edit
          </Button>
          <Button
            onClick={() => window.confirm(`Delete provider ${p.name} and its stored key? Agents using it fail their next model call.`) && remove.mutate()}
            aria-label={`Delete ${p.name}`}
          >
            Delete
          </Button>
        </>
      )}
    </div>
  );
}

/** The model used when an agent names none. */
function DefaultModelForm({ providers }: { providers: ProviderView[] }) {
  const info = useInfo();
  const qc = useQueryClient();
  const current = info.data?.default_model;
  const [value, setValue] = useState('');
  const save = useMutation({
    mutationFn: () => {
      const [provider, ...rest] = value.split('/');
      return put<DefaultModel>('/api/config/default-model', { provider, model: rest.join('/') });
    },
    onSuccess: () => qc.invalidateQueries({ queryKey: ['info'] }),
  });
  const choices = providers.filter((p) => p.available && p.source !== 'demo').flatMap((p) => p.models.map((m) => `${p.name}/${m.name}`));
  return (
    <Form className="mb-3 flex flex-wrap items-end gap-2" onSubmit={() => save.mutate()}>
      <Field
        label="Default model"
        hint={current ? `Now ${current.provider}/${current.model}: used when an agent names no model.` : 'None yet: agents must name a model.'}
      >
        <select className={inputClass} value={value || (current ? `${current.provider}/${current.model}` : '')} onChange={(e) => setValue(e.target.value)}>
          {!current && <option value="">(choose)</option>}
          {choices.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
      </Field>
      <Button type="submit" disabled={!value || save.isPending}>
        Set default
      </Button>
      <ErrorNote error={save.error} />
    </Form>
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

/** Where an environment comes from, in words. */
export function environmentSource(e: Pick<EnvironmentView, 'source' | 'workspace'>): string {
  if (e.source === 'config') return 'paddock.toml';
  if (e.source === 'api') return 'added here';
  return `devcontainer.json of workspace ${e.workspace?.name ?? ''}`.trim();
}

/** An environment's definition as the form edits it (JSON, without its name). */
function definitionText(e: EnvironmentView | null): string {
  if (!e) return '{\n  "image": "paddock-sandbox:latest",\n  "env": {},\n  "setup": "echo ready"\n}';
  return JSON.stringify(e.definition, null, 2);
}

function Environments({ onSignIn }: { onSignIn: () => void }) {
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['environments'], queryFn: () => get<EnvironmentView[]>('/api/config/environments') });
  const [editing, setEditing] = useState<EnvironmentView | null>(null);
  const [name, setName] = useState('');
  const [body, setBody] = useState(definitionText(null));
  const parse = (): Record<string, unknown> => {
    try {
      return JSON.parse(body) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`The definition is not valid JSON: ${String(e)}`);
    }
  };
  const save = useMutation({
    mutationFn: () =>
      editing
        ? put(`/api/config/environments/${encodeURIComponent(editing.name)}`, { ...parse(), name: editing.name })
        : post('/api/config/environments', { ...parse(), name: name.trim() }),
    onSuccess: () => {
      setEditing(null);
      setName('');
      setBody(definitionText(null));
      void qc.invalidateQueries({ queryKey: ['environments'] });
    },
  });
  const remove = useMutation({
    mutationFn: (n: string) => del(`/api/config/environments/${encodeURIComponent(n)}`),
    onSettled: () => qc.invalidateQueries({ queryKey: ['environments'] }),
  });
  const failed = save.error ?? remove.error;
  const needsAdmin = failed instanceof ApiError && (failed.status === 401 || failed.status === 403);
  return (
    <Card title="Environments">
      <p className="mb-2 text-sm">
        What an agent&apos;s sandbox runs: an image or a Dockerfile (Docker), variables, and setup commands run once and cached. An agent that names none runs
        its workspace&apos;s .devcontainer/devcontainer.json when there is one.
      </p>
      <ErrorNote error={q.error ?? failed} />
      <ul className="mb-3 flex flex-col gap-2" data-testid="environments">
        {(q.data ?? []).map((e) => (
          <li key={`${e.source}:${e.workspace?.id ?? ''}:${e.name}`} className="text-sm" data-testid="environment">
            <div className="flex flex-wrap items-center justify-between gap-2">
              <span className="min-w-0 break-words">
                <strong>{e.name}</strong> — {environmentSource(e)}
                {e.definition.image && ` · image ${e.definition.image}`}
                {e.definition.build && ` · builds ${e.definition.build.dockerfile}`}
                {e.error && <span className="text-red-800 dark:text-red-300"> · {e.error}</span>}
              </span>
              {!e.read_only && (
                <span className="flex gap-2">
                  <Button
                    onClick={() => {
                      setEditing(e);
                      setBody(definitionText(e));
                    }}
                    aria-label={`Edit environment ${e.name}`}
                  >
                    Edit
                  </Button>
                  <Button tone="danger" onClick={() => remove.mutate(e.name)} aria-label={`Delete environment ${e.name}`}>
                    Delete
                  </Button>
                </span>
              )}
            </div>
          </li>
        ))}
        {q.data?.length === 0 && <li className="text-sm">None yet.</li>}
      </ul>
      <Form className="flex flex-col gap-2" onSubmit={() => save.mutate()}>
        {editing ? (
          <p className="text-sm font-semibold">Editing {editing.name}</p>
        ) : (
          <Field label="New environment name">
            <input className={inputClass} value={name} onChange={(e) => setName(e.target.value)} required />
          </Field>
        )}
        <Field label="Definition (JSON: image or build {dockerfile, context}, env, user, on_create, update_content, setup)">
          <textarea className={`${inputClass} font-mono`} rows={6} value={body} onChange={(e) => setBody(e.target.value)} />
        </Field>
        <div className="flex gap-2">
          <Button tone="primary" type="submit" disabled={save.isPending}>
            {editing ? 'Save environment' : 'Add environment'}
          </Button>
          {editing && (
            <Button
              onClick={() => {
                setEditing(null);
                setBody(definitionText(null));
              }}
            >
              Cancel
            </Button>
          )}
        </div>
      </Form>
      {needsAdmin && (
        <Button tone="primary" onClick={onSignIn}>
          Sign in as admin
        </Button>
      )}
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
        <Field label='Fields (JSON: system_prompt, model, tools, mcp_servers, environment, approval_mode, reasoning_effort, verbosity, limits, workspace, network: false, true or ["pypi.org", "*.github.com:443"]…)'>
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
        paddock.toml are read-only here; adding and removing needs the admin token. <code>network(HOST)</code> rules judge hosts a sandbox with an allow-list
        tries beyond it: <code>ask network(*)</code> asks about each new host, <code>allow network(*.npmjs.org)</code> lets them through.
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
