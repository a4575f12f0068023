// Agents: every agent with status, model, workspace, activity, tokens and
// cost, and pending approvals; create, interrupt, delete; filter and search.
// The list is virtualised, so hundreds of agents scroll smoothly.

import { useEffect, useMemo, useRef, useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useWindowVirtualizer } from '@tanstack/react-virtual';
import { del, get, post } from '../api/client';
import type {
  AgentView,
  ApprovalMode,
  CreateAgentBody,
  McpServerView,
  ProviderView,
  ReasoningEffort,
  RouterConfig,
  TemplateView,
  ToolInfo,
  WorkspaceView,
  EnvironmentView,
} from '../api/types';
import { readOnlyReason, useWho, type Who } from '../api/me';
import { Button, ErrorNote, Field, Modal, ago, inputClass, tokens, usd, Form, DialogActions, EmptyState, useTitle } from '../components/ui';
import { StatusBadge } from '../components/Status';
import { useInfo, usePending, useProviders, usable } from '../App';

export function useAgents() {
  return useQuery({ queryKey: ['agents'], queryFn: () => get<AgentView[]>('/api/agents'), refetchInterval: 2000 });
}

const STATUSES = ['all', 'idle', 'thinking', 'executing_tool', 'waiting_approval', 'limited', 'error', 'stopped'];
const BUSY = new Set(['thinking', 'executing_tool', 'waiting_approval']);
const MODES: ApprovalMode[] = ['ask-risky', 'auto', 'ask-all', 'read-only'];
/** Every reasoning effort, least first (a record, so a new one in the API must be named here). */
const EFFORTS: Record<ReasoningEffort, string> = {
  none: 'none',
  minimal: 'minimal',
  low: 'low',
  medium: 'medium',
  high: 'high',
  xhigh: 'extra high',
};

/** The allow-list typed in the new-agent dialog: one host pattern a line (or comma-separated), blanks dropped; the API checks each and names a bad one. */
export function hostList(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((h) => h.trim())
    .filter(Boolean);
}

/** Who owns an agent and who else sees it, for its row and header; empty on a one-person install (everything is the local account's). */
export function ownerLine(a: AgentView, who: Who | undefined): string {
  const t = a;
  if (!t.owner || (t.owner.id === 'local' && (who?.id ?? 'local') === 'local' && !t.shared_with?.length)) return '';
  const mine = who !== undefined && t.owner.id === who.id;
  const shared = t.shared_with?.length ? ` · shared with ${t.shared_with.map((s) => (s.kind === 'group' ? `${s.name} (group)` : s.name)).join(', ')}` : '';
  return `owner: ${mine ? 'you' : t.owner.name}${shared}`;
}

function activity(a: AgentView): string {
  switch (a.status) {
    case 'thinking':
      return 'asking the model';
    case 'executing_tool':
      return 'running a tool';
    case 'waiting_approval':
      return 'waiting for your approval';
    case 'error':
    case 'limited':
      return a.status_reason ?? `updated ${ago(a.updated_at)}`;
    default:
      return `updated ${ago(a.updated_at)}`;
  }
}

export function AgentsScreen() {
  const agents = useAgents();
  const pending = usePending();
  const [query, setQuery] = useState('');
  const [status, setStatus] = useState('all');
  const [params, setParams] = useSearchParams();
  // `/?new=1` (where the setup leads) opens the new-agent dialog, once.
  const [creating, setCreating] = useState(params.get('new') === '1');
  useEffect(() => {
    if (params.has('new')) setParams({}, { replace: true });
  }, [params, setParams]);
  const providers = useProviders();
  const noProvider = providers.data !== undefined && !providers.data.some(usable);
  useTitle('Agents');
  const who = useWho();
  const readOnly = readOnlyReason(who);
  const qc = useQueryClient();
  const listRef = useRef<HTMLUListElement>(null);

  const perAgent = useMemo(() => {
    const m: Record<string, number> = {};
    for (const p of pending.data?.approvals ?? []) m[p.agent_id] = (m[p.agent_id] ?? 0) + 1;
    return m;
  }, [pending.data]);

  const shown = useMemo(() => {
    const q = query.trim().toLowerCase();
    return (agents.data ?? [])
      .filter((a) => status === 'all' || a.status === status)
      .filter(
        (a) =>
          !q ||
          a.name.toLowerCase().includes(q) ||
          a.id.startsWith(q) ||
          a.config.model.model.toLowerCase().includes(q) ||
          String(a.config.workspace).toLowerCase().includes(q),
      );
  }, [agents.data, query, status]);

  const virtual = useWindowVirtualizer({
    count: shown.length,
    estimateSize: () => 84,
    overscan: 8,
    scrollMargin: listRef.current?.offsetTop ?? 0,
  });

  const interrupt = useMutation({
    mutationFn: (id: string) => post(`/api/agents/${id}/interrupt`),
    onSettled: () => qc.invalidateQueries({ queryKey: ['agents'] }),
  });
  const remove = useMutation({
    mutationFn: (id: string) => del(`/api/agents/${id}`),
    onSettled: () => qc.invalidateQueries({ queryKey: ['agents'] }),
  });

  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-end justify-between gap-3">
        <h1 className="text-2xl font-bold">Agents</h1>
        <div className="flex flex-wrap items-center gap-2">
          {readOnly && (
            <span className="text-xs text-slate-700 dark:text-slate-300" id="read-only-reason">
              {readOnly}
            </span>
          )}
          <Button tone="primary" onClick={() => setCreating(true)} disabled={!!readOnly} aria-describedby={readOnly ? 'read-only-reason' : undefined}>
            New agent
          </Button>
        </div>
      </div>
      <div className="flex flex-wrap gap-3" role="search">
        <Field label="Search">
          <input className={inputClass} type="search" value={query} onChange={(e) => setQuery(e.target.value)} placeholder="name, id, model, workspace" />
        </Field>
        <Field label="Status">
          <select className={inputClass} value={status} onChange={(e) => setStatus(e.target.value)}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s.replace('_', ' ')}
              </option>
            ))}
          </select>
        </Field>
      </div>
      {noProvider && !readOnly && (
        <p
          role="status"
          className="rounded border border-amber-400 bg-amber-50 p-2 text-sm text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100"
        >
          No model provider is set up, so new agents cannot run yet.{' '}
          <Link to="/setup" className="font-semibold underline">
            Connect a model or try the offline demo
          </Link>
          .
        </p>
      )}
      <ErrorNote error={agents.error ?? interrupt.error ?? remove.error} />
      {agents.data?.length === 0 && readOnly && (
        <EmptyState title="No agents to show">
          Nothing is shared with you yet: an agent&apos;s owner or an admin can share one with you or your group.
        </EmptyState>
      )}
      {agents.data?.length === 0 && !readOnly && (
        <EmptyState
          title="No agents yet"
          actions={
            <>
              <Button tone="primary" onClick={() => setCreating(true)}>
                Create your first agent
              </Button>
              <Link to="/setup" className="inline-flex min-h-9 items-center rounded border border-slate-400 px-3 text-sm font-medium dark:border-slate-500">
                Try it offline
              </Link>
            </>
          }
        >
          An agent works on a directory or a git worktree with the model you choose; you watch it, approve its risky steps and review its changes.
        </EmptyState>
      )}
      <p className="text-sm text-slate-700 dark:text-slate-300" aria-live="polite">
        {agents.isLoading ? 'Loading…' : `${shown.length} of ${agents.data?.length ?? 0} agents`}
      </p>
      <ul ref={listRef} aria-label="Agents" className="relative" style={{ height: virtual.getTotalSize() }}>
        {virtual.getVirtualItems().map((row) => {
          const a = shown[row.index];
          const waiting = perAgent[a.id] ?? 0;
          const owner = ownerLine(a, who);
          return (
            <li
              key={a.id}
              data-index={row.index}
              ref={virtual.measureElement}
              className="absolute left-0 w-full pb-2"
              style={{ transform: `translateY(${row.start - virtual.options.scrollMargin}px)` }}
              data-testid="agent-row"
            >
              <div className="flex flex-wrap items-center gap-x-4 gap-y-1 rounded-lg border border-slate-300 bg-white p-3 dark:border-slate-700 dark:bg-slate-900">
                <div className="min-w-40 flex-1">
                  <Link to={`/agents/${a.id}`} className="font-semibold text-blue-800 underline dark:text-blue-300">
                    {a.name}
                  </Link>
                  <div className="truncate text-xs text-slate-700 dark:text-slate-300" title={String(a.config.workspace)}>
                    {a.config.model.provider}/{a.config.model.model} · {String(a.config.workspace)}
                  </div>
                  {owner && (
                    <div className="truncate text-xs text-slate-700 dark:text-slate-300" data-testid="agent-owner" title={owner}>
                      {owner}
                    </div>
                  )}
                </div>
                <div className="flex items-center gap-2">
                  <StatusBadge status={a.status} />
                  {waiting > 0 && (
                    <Link to="/approvals" className="rounded-full bg-amber-300 px-2 text-xs font-bold text-amber-950">
                      {waiting} approval{waiting > 1 ? 's' : ''}
                    </Link>
                  )}
                </div>
                <div
                  className={`w-56 truncate text-xs ${a.status === 'error' ? 'text-red-800 dark:text-red-300' : 'text-slate-700 dark:text-slate-300'}`}
                  title={activity(a)}
                  data-testid="agent-activity"
                >
                  {activity(a)}
                </div>
                <div className="text-xs">
                  {tokens(a.usage.input_tokens + a.usage.output_tokens)} tokens · {usd(a.usage.cost_usd)}
                </div>
                <div className="flex items-center gap-2">
                  {BUSY.has(a.status) && !readOnly && (
                    <Button onClick={() => interrupt.mutate(a.id)} aria-label={`Interrupt ${a.name}`}>
                      Interrupt
                    </Button>
                  )}
                  {a.status !== 'stopped' && !readOnly && (
                    <details className="relative">
                      <summary
                        className="cursor-pointer list-none rounded px-2 py-1 text-lg leading-none hover:bg-slate-100 dark:hover:bg-slate-800"
                        aria-label={`More actions for ${a.name}`}
                      >
                        ⋯
                      </summary>
                      <div className="absolute right-0 z-10 mt-1 rounded border border-slate-300 bg-white p-1 shadow dark:border-slate-700 dark:bg-slate-900">
                        <button
                          type="button"
                          className="rounded px-3 py-1.5 text-sm whitespace-nowrap text-red-800 hover:bg-red-50 dark:text-red-300 dark:hover:bg-red-950"
                          onClick={() => {
                            if (window.confirm(`Delete agent ${a.name}? Its history is kept.`)) remove.mutate(a.id);
                          }}
                          aria-label={`Delete ${a.name}`}
                        >
                          Delete agent…
                        </button>
                      </div>
                    </details>
                  )}
                </div>
              </div>
            </li>
          );
        })}
      </ul>
      <CreateAgent open={creating} onClose={() => setCreating(false)} />
    </div>
  );
}

function CreateAgent({ open, onClose }: { open: boolean; onClose: () => void }) {
  const templates = useQuery({ queryKey: ['templates'], queryFn: () => get<TemplateView[]>('/api/config/agent-templates'), enabled: open });
  const providers = useQuery({ queryKey: ['providers'], queryFn: () => get<ProviderView[]>('/api/config/providers'), enabled: open });
  const tools = useQuery({ queryKey: ['tools'], queryFn: () => get<ToolInfo[]>('/api/tools'), enabled: open });
  const mcp = useQuery({ queryKey: ['mcp'], queryFn: () => get<McpServerView[]>('/api/mcp/servers'), enabled: open });
  const routers = useQuery({ queryKey: ['routers'], queryFn: () => get<RouterConfig[]>('/api/config/routers'), enabled: open });
  const workspaces = useQuery({ queryKey: ['workspaces'], queryFn: () => get<WorkspaceView[]>('/api/workspaces'), enabled: open });
  const environments = useQuery({ queryKey: ['environments'], queryFn: () => get<EnvironmentView[]>('/api/config/environments'), enabled: open });
  const qc = useQueryClient();
  const navigate = useNavigate();
  const info = useInfo();
  const [form, setForm] = useState({
    name: '',
    template: '',
    system_prompt: '',
    model: '',
    workspace: '',
    // Where its files are: a directory path, a workspace of the Workspaces
    // screen, or a new worktree of a repository made for it.
    files: 'path' as 'path' | 'existing' | 'worktree',
    workspace_id: '',
    repo: '',
    base: '',
    task: '',
    approval_mode: '' as ApprovalMode | '',
    reasoning_effort: '' as ReasoningEffort | '',
    max_turns: '',
    max_cost_usd: '',
    daily_usd: '',
    // Off, the internet, or only the hosts listed (one host[:port] pattern a line).
    network: 'off' as 'off' | 'open' | 'hosts',
    hosts: '',
    environment: '',
  });
  const [chosenTools, setChosenTools] = useState<string[] | null>(null);
  const [chosenMcp, setChosenMcp] = useState<string[]>([]);
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });

  const create = useMutation({
    mutationFn: () => {
      const body: CreateAgentBody = {};
      if (form.name.trim()) body.name = form.name.trim();
      if (form.template) body.template = form.template;
      if (form.system_prompt.trim()) body.system_prompt = form.system_prompt;
      if (form.model.startsWith('router:')) {
        body.router = form.model.slice('router:'.length);
      } else if (form.model) {
        const [provider, ...rest] = form.model.split('/');
        body.model = { provider, model: rest.join('/') };
      }
      if (form.files === 'path' && form.workspace.trim()) body.workspace = form.workspace.trim();
      if (form.files === 'existing' && form.workspace_id) body.workspace_id = form.workspace_id;
      if (form.files === 'worktree' && form.repo.trim()) body.worktree = { repo: form.repo.trim(), ...(form.base.trim() ? { base: form.base.trim() } : {}) };
      if (form.task.trim()) body.task = form.task;
      if (form.approval_mode) body.approval_mode = form.approval_mode;
      if (form.reasoning_effort) body.reasoning_effort = form.reasoning_effort;
      if (chosenTools) body.tools = chosenTools;
      if (chosenMcp.length) body.mcp_servers = chosenMcp;
      if (form.network === 'open') body.network = true;
      if (form.network === 'hosts') body.network = hostList(form.hosts);
      if (form.environment) body.environment = form.environment;
      if (form.max_turns || form.max_cost_usd || form.daily_usd) {
        body.limits = {
          ...(form.max_turns ? { max_turns: Number(form.max_turns) } : {}),
          ...(form.max_cost_usd ? { max_cost_usd: Number(form.max_cost_usd) } : {}),
          ...(form.daily_usd ? { daily_usd: Number(form.daily_usd) } : {}),
        } as CreateAgentBody['limits'];
      }
      return post<AgentView>('/api/agents', body);
    },
    onSuccess: (a) => {
      void qc.invalidateQueries({ queryKey: ['agents'] });
      onClose();
      navigate(`/agents/${a.id}`);
    },
  });

  const toolNames = (tools.data ?? []).map((t) => t.name);
  const defaultModel = info.data?.default_model;
  return (
    <Modal open={open} onClose={onClose} title="New agent">
      <Form className="grid gap-3 sm:grid-cols-2" onSubmit={() => create.mutate()}>
        <div className="sm:col-span-2">
          <Field label="Task" hint="The first message; the agent starts right away. Leave empty to start it idle.">
            <textarea className={inputClass} rows={3} value={form.task} onChange={set('task')} placeholder="Fix the failing test in tests/test_calc.py" />
          </Field>
        </div>
        <Field label="Name" hint="Optional; made up when empty.">
          <input className={inputClass} value={form.name} onChange={set('name')} />
        </Field>
        <Field label="Model">
          <select className={inputClass} value={form.model} onChange={set('model')}>
            <option value="">{defaultModel ? `Default: ${defaultModel.provider}/${defaultModel.model}` : '(no default model: choose one)'}</option>
            {(routers.data ?? []).map((r) => (
              <option key={`router:${r.name}`} value={`router:${r.name}`}>
                router {r.name} ({r.cheap.model} / {r.strong.model})
              </option>
            ))}
            {(providers.data ?? [])
              .filter((p) => p.source !== 'demo')
              .flatMap((p) =>
                p.models.map((m) => (
                  <option key={`${p.name}/${m.name}`} value={`${p.name}/${m.name}`} disabled={!p.available}>
                    {p.name}/{m.name}
                    {m.reasoning ? ' (reasoning)' : ''}
                    {!p.available ? ' — no API key' : ''}
                  </option>
                )),
              )}
          </select>
        </Field>
        {/* Only the path's label says "Workspace": the e2e finds that field by the word. */}
        <fieldset className="flex flex-wrap gap-x-4 gap-y-1 sm:col-span-2">
          <legend className="text-sm font-medium">Where it works</legend>
          {(
            [
              ['path', 'A directory'],
              ['existing', 'An existing one'],
              ['worktree', 'A new git worktree'],
            ] as const
          ).map(([value, label]) => (
            <label key={value} className="flex items-center gap-1 text-sm">
              <input type="radio" name="agent-files" value={value} checked={form.files === value} onChange={() => setForm({ ...form, files: value })} />
              {label}
            </label>
          ))}
        </fieldset>
        {form.files === 'path' && (
          <div className="sm:col-span-2">
            <Field label="Workspace" hint="A directory on the host; the agent works in it in place (its changes are shown against a snapshot taken at start).">
              <input className={inputClass} value={form.workspace} onChange={set('workspace')} placeholder="/path/to/repo" />
            </Field>
          </div>
        )}
        {form.files === 'existing' && (
          <div className="sm:col-span-2">
            <Field label="Existing one" hint="Agents may share one.">
              <select className={inputClass} value={form.workspace_id} onChange={set('workspace_id')} required>
                <option value="">(choose)</option>
                {(workspaces.data ?? []).map((w) => (
                  <option key={w.id} value={w.id}>
                    {w.name} ({w.kind}
                    {w.branch ? `, ${w.branch}` : ''})
                  </option>
                ))}
              </select>
            </Field>
          </div>
        )}
        {form.files === 'worktree' && (
          <>
            <Field label="Git repository" hint="A new branch paddock/<agent> is made from it for this agent.">
              <input className={inputClass} value={form.repo} onChange={set('repo')} placeholder="/path/to/repo" required />
            </Field>
            <Field label="Base branch" hint="Starts from and merges into it (default: the one checked out).">
              <input className={inputClass} value={form.base} onChange={set('base')} />
            </Field>
          </>
        )}
        <Field label="Approval mode" hint="ask-risky: you approve risky calls; auto: none; ask-all: every call.">
          <select className={inputClass} value={form.approval_mode} onChange={set('approval_mode')}>
            <option value="">Default (ask-risky)</option>
            {MODES.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </Field>
        <div className="sm:col-span-2">
          <ErrorNote error={create.error} />
        </div>
        <div className="sm:col-span-2">
          <DialogActions submit="Create" pending={create.isPending} onCancel={onClose} />
        </div>
        <details className="sm:col-span-2">
          <summary className="cursor-pointer text-sm font-medium">
            More options: template, environment, system prompt, limits, tools, MCP servers, network
          </summary>
          <div className="mt-3 grid gap-3 sm:grid-cols-2">
            <Field label="Template">
              <select className={inputClass} value={form.template} onChange={set('template')}>
                <option value="">(from scratch)</option>
                {(templates.data ?? []).map((t) => (
                  <option key={t.name} value={t.name}>
                    {t.name}
                  </option>
                ))}
              </select>
            </Field>
            <Field label="Environment" hint="What its sandbox runs (Settings › Environments).">
              <select className={inputClass} value={form.environment} onChange={set('environment')}>
                <option value="">(automatic: devcontainer.json if present)</option>
                <option value="devcontainer">devcontainer (required)</option>
                {(environments.data ?? [])
                  .filter((e) => e.source !== 'workspace')
                  .map((e) => (
                    <option key={e.name} value={e.name}>
                      {e.name}
                    </option>
                  ))}
              </select>
            </Field>
            <div className="sm:col-span-2">
              <Field label="System prompt">
                <textarea className={inputClass} rows={3} value={form.system_prompt} onChange={set('system_prompt')} />
              </Field>
            </div>
            <Field label="Max turns per message">
              <input className={inputClass} type="number" min={1} value={form.max_turns} onChange={set('max_turns')} />
            </Field>
            <Field label="Daily budget (USD)">
              <input className={inputClass} type="number" min={0} step="0.01" value={form.daily_usd} onChange={set('daily_usd')} />
            </Field>
            <Field label="Max cost (USD)">
              <input className={inputClass} type="number" min={0} step="0.01" value={form.max_cost_usd} onChange={set('max_cost_usd')} />
            </Field>
            <Field label="Reasoning effort" hint="How hard a reasoning model thinks (Responses API).">
              <select className={inputClass} value={form.reasoning_effort} onChange={set('reasoning_effort')}>
                <option value="">(the model's default)</option>
                {(Object.keys(EFFORTS) as ReasoningEffort[]).map((e) => (
                  <option key={e} value={e}>
                    {EFFORTS[e]}
                  </option>
                ))}
              </select>
            </Field>
            <fieldset className="sm:col-span-2">
              <legend className="text-sm font-medium">Tools {chosenTools === null && '(all enabled)'}</legend>
              <div className="flex flex-wrap gap-3">
                {toolNames.map((t) => (
                  <label key={t} className="flex items-center gap-1 text-sm">
                    <input
                      type="checkbox"
                      checked={chosenTools === null || chosenTools.includes(t)}
                      onChange={(e) => {
                        const cur = chosenTools ?? toolNames;
                        setChosenTools(e.target.checked ? [...cur, t] : cur.filter((x) => x !== t));
                      }}
                    />
                    {t}
                  </label>
                ))}
              </div>
            </fieldset>
            <fieldset className="sm:col-span-2">
              <legend className="text-sm font-medium">MCP servers</legend>
              <div className="flex flex-wrap gap-3">
                {(mcp.data ?? []).map((s) => (
                  <label key={s.name} className="flex items-center gap-1 text-sm">
                    <input
                      type="checkbox"
                      checked={chosenMcp.includes(s.name)}
                      onChange={(e) => setChosenMcp(e.target.checked ? [...chosenMcp, s.name] : chosenMcp.filter((x) => x !== s.name))}
                    />
                    {s.name}
                  </label>
                ))}
                {mcp.data?.length === 0 && <span className="text-sm">none configured</span>}
              </div>
            </fieldset>
            <fieldset className="flex flex-col gap-2 sm:col-span-2">
              <legend className="text-sm font-medium">Network for the sandbox</legend>
              <div className="flex flex-wrap gap-4">
                {(
                  [
                    ['off', 'Off'],
                    ['open', 'The internet'],
                    ['hosts', 'Only these hosts'],
                  ] as const
                ).map(([value, label]) => (
                  <label key={value} className="flex items-center gap-1 text-sm">
                    <input type="radio" name="network" value={value} checked={form.network === value} onChange={() => setForm({ ...form, network: value })} />
                    {label}
                  </label>
                ))}
              </div>
              {form.network === 'hosts' && (
                <Field label="Hosts, one per line (host[:port], *.domain, an IP address or localhost)">
                  <textarea
                    className={inputClass}
                    rows={3}
                    value={form.hosts}
                    onChange={set('hosts')}
                    placeholder={'registry.npmjs.org:443\n*.github.com\npypi.org'}
                    aria-label="Allowed hosts"
                  />
                </Field>
              )}
            </fieldset>
          </div>
        </details>
      </Form>
    </Modal>
  );
}
