// Plugins (admin): installed plugins with world, version, hash, requested
// and granted capabilities; install by upload, grant and revoke, enable,
// disable, remove. Granting network, exec or write access asks first and
// says what it allows.

import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError, del, get, post, put } from '../api/client';
import type { PluginInfo } from '../api/types';
import { Button, Card, ErrorNote, Field, Modal, inputClass, Form, DialogActions, useTitle } from '../components/ui';

/** What a capability lets a plugin do, when that is dangerous. */
export function dangerOf(cap: string): string | null {
  if (cap === 'exec') return 'run commands in the agent sandbox';
  if (cap.startsWith('net:')) return `reach ${cap.slice(4)} over the network`;
  if (cap.startsWith('fs:') && cap.endsWith(':rw')) return `write to ${cap.slice(3, -3)}`;
  return null;
}

export function PluginsScreen({ onSignIn }: { onSignIn: () => void }) {
  useTitle('Plugins');
  const plugins = useQuery({ queryKey: ['plugins'], queryFn: () => get<PluginInfo[]>('/api/plugins') });
  const [installing, setInstalling] = useState(false);
  const denied = plugins.error instanceof ApiError && (plugins.error.status === 401 || plugins.error.status === 403);
  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <h1 className="text-2xl font-bold">Plugins</h1>
        <Button tone="primary" onClick={() => setInstalling(true)} disabled={denied}>
          Install plugin
        </Button>
      </div>
      {denied ? (
        <Card>
          <p className="mb-2 text-sm">Plugins are managed with the admin token (PADDOCK_ADMIN_TOKEN, or the one paddock serve printed at first start).</p>
          <Button tone="primary" onClick={onSignIn}>
            Sign in as admin
          </Button>
        </Card>
      ) : (
        <ErrorNote error={plugins.error} />
      )}
      <div className="grid gap-3 xl:grid-cols-2">
        {(plugins.data ?? []).map((p) => (
          <PluginCard key={p.name} p={p} />
        ))}
      </div>
      <Install open={installing} onClose={() => setInstalling(false)} />
    </div>
  );
}

function PluginCard({ p }: { p: PluginInfo }) {
  const qc = useQueryClient();
  const done = () => qc.invalidateQueries({ queryKey: ['plugins'] });
  const base = `/api/plugins/${encodeURIComponent(p.name)}`;
  const toggle = useMutation({ mutationFn: () => post(`${base}/${p.enabled ? 'disable' : 'enable'}`), onSettled: done });
  const remove = useMutation({ mutationFn: () => del(base), onSettled: done });
  const grants = useMutation({ mutationFn: (g: string[]) => put(`${base}/grants`, { grants: g }), onSettled: done });
  const [extra, setExtra] = useState('');

  const setGrant = (cap: string, on: boolean) => {
    const danger = dangerOf(cap);
    if (on && danger && !window.confirm(`Grant ${cap}? ${p.name} will be able to ${danger}.`)) return;
    const next = on ? [...p.granted, cap] : p.granted.filter((g) => g !== cap);
    grants.mutate(Array.from(new Set(next)));
  };
  const caps = Array.from(new Set([...p.requested, ...p.granted]));
  return (
    <Card
      title={
        <span>
          {p.name} <span className="text-sm font-normal">v{p.version}</span>
        </span>
      }
      actions={
        <>
          <Button onClick={() => toggle.mutate()} disabled={toggle.isPending} aria-label={`${p.enabled ? 'Disable' : 'Enable'} ${p.name}`}>
            {p.enabled ? 'Disable' : 'Enable'}
          </Button>
          <Button tone="danger" onClick={() => window.confirm(`Remove ${p.name}?`) && remove.mutate()} aria-label={`Remove ${p.name}`}>
            Remove
          </Button>
        </>
      }
    >
      <p className="text-sm">{p.description}</p>
      <dl className="mt-2 grid grid-cols-[auto_1fr] gap-x-3 gap-y-1 text-xs">
        <dt className="font-semibold">World</dt>
        <dd>{p.world}</dd>
        <dt className="font-semibold">State</dt>
        <dd data-testid="plugin-state">
          {p.enabled ? 'enabled' : 'disabled'}
          {p.builtin ? ' · built-in' : ''}
        </dd>
        <dt className="font-semibold">SHA-256</dt>
        <dd className="break-all font-mono">{p.sha256}</dd>
        <dt className="font-semibold">Limits</dt>
        <dd>
          {p.limits.memory_mb} MB, {p.limits.timeout_ms} ms
        </dd>
        {(p.tools ?? []).length > 0 && (
          <>
            <dt className="font-semibold">Tools</dt>
            <dd>{(p.tools ?? []).map((t) => t.name).join(', ')}</dd>
          </>
        )}
      </dl>
      <fieldset className="mt-3">
        <legend className="text-sm font-semibold">Capabilities (requested ∩ granted are in effect)</legend>
        {caps.length === 0 && <p className="text-xs">It asks for none.</p>}
        <ul className="flex flex-col gap-1">
          {caps.map((c) => {
            const danger = dangerOf(c);
            return (
              <li key={c} className="flex flex-wrap items-center gap-2 text-sm">
                <label className="flex items-center gap-2">
                  <input type="checkbox" checked={p.granted.includes(c)} disabled={grants.isPending} onChange={(e) => setGrant(c, e.target.checked)} />
                  <code>{c}</code>
                </label>
                {!p.requested.includes(c) && <span className="text-xs">(granted, not requested: no effect)</span>}
                {p.missing.includes(c) && <span className="text-xs font-semibold text-amber-900 dark:text-amber-200">requested, not granted</span>}
                {danger && <span className="rounded bg-red-100 px-1 text-xs text-red-900 dark:bg-red-950 dark:text-red-100">can {danger}</span>}
              </li>
            );
          })}
        </ul>
        <Form
          className="mt-2 flex flex-wrap items-end gap-2"
          onSubmit={() => {
            if (extra.trim()) setGrant(extra.trim(), true);
            setExtra('');
          }}
        >
          <Field label="Grant another">
            <input
              className={inputClass}
              value={extra}
              onChange={(e) => setExtra(e.target.value)}
              placeholder="fs:/workspace:ro, net:host:443, env:NAME, exec"
            />
          </Field>
          <Button type="submit">Grant</Button>
        </Form>
      </fieldset>
      <ErrorNote error={toggle.error ?? remove.error ?? grants.error} />
    </Card>
  );
}

function Install({ open, onClose }: { open: boolean; onClose: () => void }) {
  const qc = useQueryClient();
  const [manifest, setManifest] = useState<File | null>(null);
  const [component, setComponent] = useState<File | null>(null);
  const install = useMutation({
    mutationFn: () => {
      if (!manifest || !component) throw new Error('Choose the manifest (paddock-plugin.toml) and the component (.wasm).');
      const form = new FormData();
      form.append('manifest', manifest);
      form.append('component', component);
      return post<PluginInfo>('/api/plugins', form);
    },
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['plugins'] });
      onClose();
    },
  });
  return (
    <Modal open={open} onClose={onClose} title="Install a plugin">
      <Form className="flex flex-col gap-3" onSubmit={() => install.mutate()}>
        <p className="text-sm">
          A new plugin starts with nothing granted (an upgrade keeps its grants): review what it requests below, grant what it needs, or disable it.
        </p>
        <Field label="Manifest (paddock-plugin.toml)">
          <input className={inputClass} type="file" accept=".toml" onChange={(e) => setManifest(e.target.files?.[0] ?? null)} />
        </Field>
        <Field label="Component (.wasm)">
          <input className={inputClass} type="file" accept=".wasm" onChange={(e) => setComponent(e.target.files?.[0] ?? null)} />
        </Field>
        <ErrorNote error={install.error} />
        <DialogActions submit="Install" pending={install.isPending} onCancel={onClose} />
      </Form>
    </Modal>
  );
}
