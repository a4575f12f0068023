// MCP servers: those from mcpServers.json and those added here, with health
// and tools; a test button; add one by hand or from the catalogue (with the
// variables it needs).

import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { del, get, post } from '../api/client';
import type { CatalogEntry, McpServerView, TestReport } from '../api/types';
import { Button, Card, ErrorNote, Field, Modal, inputClass, Form, DialogActions, EmptyState, useTitle } from '../components/ui';

export function McpScreen() {
  useTitle('MCP servers');
  const servers = useQuery({ queryKey: ['mcp'], queryFn: () => get<McpServerView[]>('/api/mcp/servers'), refetchInterval: 5000 });
  const [adding, setAdding] = useState<CatalogEntry | 'manual' | null>(null);
  const catalog = useQuery({ queryKey: ['mcp-catalog'], queryFn: () => get<CatalogEntry[]>('/api/mcp/catalog') });
  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <h1 className="text-2xl font-bold">MCP servers</h1>
        <Button tone="primary" onClick={() => setAdding('manual')}>
          Add server
        </Button>
      </div>
      <ErrorNote error={servers.error} />
      {servers.data?.length === 0 && (
        <EmptyState title="No MCP servers yet">
          MCP servers give agents more tools (a browser, a database, an issue tracker). Add one from the catalogue below, by hand with “Add server”, or in
          mcpServers.json; then choose it for an agent under “More options”.
        </EmptyState>
      )}
      <div className="grid gap-3 xl:grid-cols-2">
        {(servers.data ?? []).map((s) => (
          <ServerCard key={s.name} server={s} />
        ))}
      </div>
      <Card title="Catalogue">
        <ul className="grid gap-2 md:grid-cols-2">
          {(catalog.data ?? []).map((c) => (
            <li key={c.name} className="flex items-start justify-between gap-2 rounded border border-slate-300 p-2 dark:border-slate-700">
              <div>
                <div className="font-semibold">{c.name}</div>
                <div className="text-xs">{c.description}</div>
                <div className="text-xs text-slate-700 dark:text-slate-300">{c.package}</div>
              </div>
              <Button onClick={() => setAdding(c)} aria-label={`Add ${c.name} from the catalogue`}>
                Add
              </Button>
            </li>
          ))}
        </ul>
      </Card>
      <AddServer entry={adding} onClose={() => setAdding(null)} />
    </div>
  );
}

function ServerCard({ server: s }: { server: McpServerView }) {
  const qc = useQueryClient();
  const test = useMutation({ mutationFn: () => post<TestReport>(`/api/mcp/servers/${encodeURIComponent(s.name)}/test`) });
  const remove = useMutation({
    mutationFn: () => del(`/api/mcp/servers/${encodeURIComponent(s.name)}`),
    onSettled: () => qc.invalidateQueries({ queryKey: ['mcp'] }),
  });
  const h = s.health;
  return (
    <Card
      title={s.name}
      actions={
        <>
          <Button onClick={() => test.mutate()} disabled={test.isPending} aria-label={`Test ${s.name}`}>
            {test.isPending ? 'Testing…' : 'Test'}
          </Button>
          {s.source === 'api' && (
            <Button tone="danger" onClick={() => window.confirm(`Remove ${s.name}?`) && remove.mutate()} aria-label={`Remove ${s.name}`}>
              Remove
            </Button>
          )}
        </>
      }
    >
      <p className="text-sm">
        <span data-testid="mcp-state" className={stateTone(h)}>
          {stateLabel(h)}
        </span>{' '}
        · {s.transport ?? 'unknown transport'} · from {s.source === 'file' ? 'mcpServers.json' : 'the API'} · {h.calls_ok} calls ok, {h.calls_failed} failed ·{' '}
        {h.restarts} restarts
      </p>
      {s.config_error && <ErrorNote error={s.config_error} />}
      {h.last_error && <p className="text-xs text-red-800 dark:text-red-300">Last error: {h.last_error}</p>}
      {test.data && (
        <p role="status" className={`text-sm ${test.data.ok ? 'text-green-800 dark:text-green-300' : 'text-red-800 dark:text-red-300'}`} data-testid="mcp-test">
          {test.data.ok ? `OK: connected in ${test.data.connect_ms?.toFixed(0)} ms, ${test.data.tools.length} tools` : `Failed: ${test.data.error}`}
        </p>
      )}
      <ErrorNote error={test.error ?? remove.error} />
      {s.tools.length > 0 && (
        <details className="mt-2 text-sm">
          <summary className="cursor-pointer">{s.tools.length} tools</summary>
          <ul className="mt-1 list-disc pl-5">
            {s.tools.map((t) => (
              <li key={t.name}>
                <code>{t.name}</code> — {t.description}
              </li>
            ))}
          </ul>
        </details>
      )}
    </Card>
  );
}

type Health = McpServerView['health'];

/** A server's state in words: a lazy server that failed to start is not "idle". */
export function stateLabel(h: Pick<Health, 'state' | 'last_error' | 'running_since'>): string {
  switch (h.state) {
    case 'idle':
      return h.last_error && !h.running_since ? 'failed to start' : 'not started (starts when an agent uses it)';
    case 'starting':
      return 'starting';
    case 'running':
      return 'running';
    case 'backoff':
      return 'failed; restarting after a pause';
    case 'invalid':
      return 'invalid entry';
    case 'disabled':
      return 'disabled';
  }
}

function stateTone(h: Health): string {
  const bad = stateLabel(h).startsWith('failed') || h.state === 'invalid';
  return bad ? 'font-semibold text-red-800 dark:text-red-300' : h.state === 'running' ? 'font-semibold text-green-800 dark:text-green-300' : '';
}

/** Replaces `${NAME}` in the catalogue entry's texts with the values given. */
export function fill(text: string, values: Record<string, string>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, name: string) => (values[name] !== undefined && values[name] !== '' ? values[name] : m));
}

function AddServer({ entry, onClose }: { entry: CatalogEntry | 'manual' | null; onClose: () => void }) {
  const qc = useQueryClient();
  const fromCatalog = entry && entry !== 'manual' ? entry : null;
  const [name, setName] = useState('');
  const [json, setJson] = useState('{\n  "command": "npx",\n  "args": []\n}');
  const [values, setValues] = useState<Record<string, string>>({});
  const add = useMutation({
    mutationFn: async () => {
      let spec: Record<string, unknown>;
      if (fromCatalog) {
        // Plain variables are filled in here; secrets stay `${NAME}`
        // references, read from the host's environment.
        const plain = Object.fromEntries(fromCatalog.variables.filter((v) => !v.secret).map((v) => [v.name, values[v.name] ?? '']));
        spec = { command: fromCatalog.command, args: fromCatalog.args.map((a) => fill(a, plain)) };
        if (fromCatalog.env.length) spec.env = Object.fromEntries(fromCatalog.env.map(([k, v]) => [k, fill(v, plain)]));
      } else {
        try {
          spec = JSON.parse(json) as Record<string, unknown>;
        } catch (e) {
          throw new Error(`The server entry is not valid JSON: ${String(e)}`);
        }
      }
      return post('/api/mcp/servers', { name: name.trim() || fromCatalog?.name, ...spec });
    },
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['mcp'] });
      setName('');
      setValues({});
      onClose();
    },
  });
  return (
    <Modal open={entry !== null} onClose={onClose} title={fromCatalog ? `Add ${fromCatalog.name}` : 'Add an MCP server'}>
      <Form className="flex flex-col gap-3" onSubmit={() => add.mutate()}>
        <Field label="Name">
          <input
            className={inputClass}
            value={name}
            placeholder={fromCatalog?.name ?? 'my-server'}
            onChange={(e) => setName(e.target.value)}
            required={!fromCatalog}
          />
        </Field>
        {fromCatalog ? (
          <>
            <p className="text-sm">{fromCatalog.description}</p>
            <pre tabIndex={0} className="overflow-x-auto rounded bg-slate-100 p-2 text-xs dark:bg-slate-800">
              {fromCatalog.command} {fromCatalog.args.join(' ')}
            </pre>
            {fromCatalog.variables.map((v) =>
              v.secret ? (
                <p key={v.name} className="text-sm">
                  <code>{v.name}</code> ({v.description}) is a secret: set it in the host's environment before adding; it is never sent through the dashboard.
                </p>
              ) : (
                <Field key={v.name} label={v.name} hint={v.description}>
                  <input className={inputClass} value={values[v.name] ?? ''} onChange={(e) => setValues({ ...values, [v.name]: e.target.value })} required />
                </Field>
              ),
            )}
          </>
        ) : (
          <Field label="Server entry (mcpServers.json format)" hint='stdio: "command", "args", "env"; HTTP: "url", "headers", "transport"'>
            <textarea className={`${inputClass} font-mono`} rows={8} value={json} onChange={(e) => setJson(e.target.value)} />
          </Field>
        )}
        <ErrorNote error={add.error} />
        <DialogActions submit="Add" pending={add.isPending} onCancel={onClose} />
      </Form>
    </Modal>
  );
}
