// Plugins (admin): installed plugins with world, version, hash, requested
// and granted capabilities; install by upload or from an OCI registry, grant
// and revoke, enable, disable, remove. A registry plugin shows where it came
// from, its pinned digest and signer; an update that requests new
// capabilities shows the diff and waits for Accept or Reject. Granting
// network, exec or write access asks first and says what it allows.

import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError, del, get, post, put } from '../api/client';
import type { PendingUpdate, PluginInfo, UpdateOutcome } from '../api/types';
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
  const updates = useQuery({
    queryKey: ['plugin-updates'],
    queryFn: () => get<PendingUpdate[]>('/api/oci/updates'),
    enabled: !denied && plugins.isSuccess,
  });
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
          <PluginCard key={p.name} p={p} pending={(updates.data ?? []).find((u) => u.name === p.name)} />
        ))}
      </div>
      <Install open={installing} onClose={() => setInstalling(false)} />
    </div>
  );
}

function PluginCard({ p, pending }: { p: PluginInfo; pending?: PendingUpdate }) {
  const qc = useQueryClient();
  const done = () => {
    void qc.invalidateQueries({ queryKey: ['plugins'] });
    return qc.invalidateQueries({ queryKey: ['plugin-updates'] });
  };
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
        {p.origin && (
          <>
            <dt className="font-semibold">From</dt>
            <dd className="break-all font-mono" data-testid="plugin-origin">
              {p.origin.reference}
            </dd>
            <dt className="font-semibold">Pinned</dt>
            <dd className="break-all font-mono" data-testid="plugin-digest">
              {p.origin.digest}
            </dd>
            <dt className="font-semibold">Signed by</dt>
            <dd data-testid="plugin-signer">
              {p.origin.signer ? <span className="font-mono">key {p.origin.signer}</span> : 'nobody (unsigned, allowed by an admin)'}
            </dd>
          </>
        )}
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
      {p.origin && <RegistryUpdate p={p} pending={pending} onDone={done} />}
      <ErrorNote error={toggle.error ?? remove.error ?? grants.error} />
    </Card>
  );
}

/** Checking a registry plugin for an update, and the update waiting for the admin. */
function RegistryUpdate({ p, pending, onDone }: { p: PluginInfo; pending?: PendingUpdate; onDone: () => Promise<unknown> }) {
  const base = `/api/plugins/${encodeURIComponent(p.name)}/update`;
  const [note, setNote] = useState('');
  const check = useMutation({
    mutationFn: () => post<UpdateOutcome>(base, {}),
    onSuccess: (o) =>
      setNote(o.status === 'up_to_date' ? 'Up to date.' : o.status === 'applied' ? `Updated to v${o.plugin.version}; it requests nothing new.` : ''),
    onSettled: onDone,
  });
  const accept = useMutation({ mutationFn: () => post<PluginInfo>(`${base}/accept`), onSuccess: () => setNote(''), onSettled: onDone });
  const reject = useMutation({ mutationFn: () => del(base), onSuccess: () => setNote(''), onSettled: onDone });
  return (
    <div className="mt-3 flex flex-col gap-2">
      {pending ? (
        <section aria-label={`Update of ${p.name}`} className="rounded border border-amber-400 bg-amber-50 p-2 text-sm dark:bg-amber-950">
          <p className="font-semibold">Update to v{pending.to_version} waits for you: it requests new capabilities.</p>
          <ul className="my-1 font-mono text-xs">
            {pending.added.map((c) => (
              <li key={`+${c}`} className="text-red-900 dark:text-red-200">
                + {c}
                {dangerOf(c) ? ` (can ${dangerOf(c)})` : ''}
              </li>
            ))}
            {pending.removed.map((c) => (
              <li key={`-${c}`}>- {c}</li>
            ))}
          </ul>
          <p className="break-all text-xs">
            {pending.digest} · {pending.signer ? `signed by key ${pending.signer}` : 'unsigned'}
          </p>
          <p className="text-xs">Accepting installs it and keeps the current grants; the new capabilities stay ungranted until you grant them.</p>
          <div className="mt-2 flex gap-2">
            <Button tone="primary" onClick={() => accept.mutate()} disabled={accept.isPending || reject.isPending}>
              Accept update
            </Button>
            <Button onClick={() => reject.mutate()} disabled={accept.isPending || reject.isPending}>
              Reject
            </Button>
          </div>
        </section>
      ) : (
        <div className="flex flex-wrap items-center gap-2">
          <Button onClick={() => check.mutate()} disabled={check.isPending} aria-label={`Check for update (${p.name})`}>
            Check for update
          </Button>
          {note && <span className="text-sm">{note}</span>}
        </div>
      )}
      <ErrorNote error={check.error ?? accept.error ?? reject.error} />
    </div>
  );
}

function Install({ open, onClose }: { open: boolean; onClose: () => void }) {
  const qc = useQueryClient();
  const [from, setFrom] = useState<'registry' | 'upload'>('upload');
  const [reference, setReference] = useState('');
  const [allowUnsigned, setAllowUnsigned] = useState(false);
  const [manifest, setManifest] = useState<File | null>(null);
  const [component, setComponent] = useState<File | null>(null);
  const install = useMutation({
    mutationFn: () => {
      if (from === 'registry') {
        if (!reference.trim()) throw new Error('Give the reference: oci://REGISTRY/REPO:TAG or …@sha256:….');
        return post<PluginInfo>('/api/oci/install', { reference: reference.trim(), allow_unsigned: allowUnsigned });
      }
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
        <fieldset className="flex gap-4 text-sm">
          <legend className="sr-only">Install from</legend>
          <label className="flex items-center gap-1">
            <input type="radio" name="install-from" checked={from === 'registry'} onChange={() => setFrom('registry')} />
            From a registry
          </label>
          <label className="flex items-center gap-1">
            <input type="radio" name="install-from" checked={from === 'upload'} onChange={() => setFrom('upload')} />
            Upload files
          </label>
        </fieldset>
        {from === 'registry' ? (
          <>
            <Field label="OCI reference">
              <input
                className={inputClass}
                value={reference}
                onChange={(e) => setReference(e.target.value)}
                placeholder="oci://ghcr.io/acme/tool:1.0.0"
                autoComplete="off"
                spellCheck={false}
              />
            </Field>
            <p className="text-xs">Its digest is pinned and every layer checked against it; it must be signed by a trusted key (paddock plugin trust add).</p>
            <label className="flex items-center gap-2 text-sm">
              <input type="checkbox" checked={allowUnsigned} onChange={(e) => setAllowUnsigned(e.target.checked)} />
              Allow it unsigned (a signature that is there must still verify)
            </label>
          </>
        ) : (
          <>
            <Field label="Manifest (paddock-plugin.toml)">
              <input className={inputClass} type="file" accept=".toml" onChange={(e) => setManifest(e.target.files?.[0] ?? null)} />
            </Field>
            <Field label="Component (.wasm)">
              <input className={inputClass} type="file" accept=".wasm" onChange={(e) => setComponent(e.target.files?.[0] ?? null)} />
            </Field>
          </>
        )}
        <ErrorNote error={install.error} />
        <DialogActions submit="Install" pending={install.isPending} onCancel={onClose} />
      </Form>
    </Modal>
  );
}
