// Account (from the user menu): who I am, my password, my personal access
// tokens (create with a scope and an expiry — the secret shown once — and
// revoke), and my personal provider keys (write-only: set or remove; only
// the last four characters are ever shown), used for my agents only.

import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { del, get, post, put } from '../api/client';
import { useWho } from '../api/me';
import type { CreatedToken, NewTokenRequest, PersonalKeyView, ProviderView, TokenView } from '../api/types';
import { Button, Card, ErrorNote, Field, Form, ScrollX, ago, inputClass, useTitle } from '../components/ui';
import { NewTokenForm, SecretOnce } from '../components/Tokens';

/** A token's state, for people: active, expired or revoked. */
export function tokenState(t: TokenView, now = Date.now()): 'active' | 'expired' | 'revoked' {
  if (t.revoked_at) return 'revoked';
  if (t.expires_at && Date.parse(t.expires_at) <= now) return 'expired';
  return 'active';
}

function day(ts: string | null | undefined): string {
  return ts ? new Date(ts).toLocaleDateString() : '—';
}

function Tokens({ maxScope }: { maxScope: string | null }) {
  const qc = useQueryClient();
  const list = useQuery({ queryKey: ['my-tokens'], queryFn: () => get<TokenView[]>('/api/me/tokens') });
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const create = useMutation({
    mutationFn: (body: NewTokenRequest) => post<CreatedToken>('/api/me/tokens', body),
    onSuccess: (c) => {
      setCreated(c);
      void qc.invalidateQueries({ queryKey: ['my-tokens'] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => del(`/api/me/tokens/${encodeURIComponent(id)}`),
    onSettled: () => qc.invalidateQueries({ queryKey: ['my-tokens'] }),
  });
  const tokens = list.data ?? [];
  return (
    <Card title="Access tokens">
      <p className="mb-3 text-sm">
        For scripts and the REST or WebSocket API: send it as <code>Authorization: Bearer &lt;token&gt;</code>. A token can do no more than you, and no more
        than its scope.
      </p>
      {created ? (
        <SecretOnce created={created} onDone={() => setCreated(null)} />
      ) : (
        <NewTokenForm maxScope={maxScope} onCreate={(b) => create.mutate(b)} pending={create.isPending} error={create.error} />
      )}
      <ErrorNote error={list.error ?? revoke.error} />
      <ScrollX label="My tokens">
        <table className="mt-3 w-full text-left text-sm" aria-label="My tokens">
          <thead>
            <tr className="border-b border-slate-300 dark:border-slate-700">
              <th scope="col" className="p-1">
                Name
              </th>
              <th scope="col" className="p-1">
                Starts with
              </th>
              <th scope="col" className="p-1">
                Scope
              </th>
              <th scope="col" className="p-1">
                Created
              </th>
              <th scope="col" className="p-1">
                Expires
              </th>
              <th scope="col" className="p-1">
                Last used
              </th>
              <th scope="col" className="p-1">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {tokens.map((t) => {
              const state = tokenState(t);
              return (
                <tr key={t.id} className="border-b border-slate-200 dark:border-slate-800" data-testid="token-row">
                  <th scope="row" className="p-1 font-medium">
                    {t.name}
                  </th>
                  <td className="p-1 font-mono text-xs">{t.prefix}…</td>
                  <td className="p-1">{t.scope}</td>
                  <td className="p-1">{day(t.created_at)}</td>
                  <td className="p-1">{state === 'active' ? day(t.expires_at) : state}</td>
                  <td className="p-1">{t.last_used_at ? ago(t.last_used_at) : 'never'}</td>
                  <td className="p-1 text-right">
                    {state === 'active' && (
                      <Button
                        tone="danger"
                        aria-label={`Revoke ${t.name}`}
                        disabled={revoke.isPending}
                        onClick={() => {
                          if (window.confirm(`Revoke the token “${t.name}”? Whatever uses it stops working at once.`)) revoke.mutate(t.id);
                        }}
                      >
                        Revoke
                      </Button>
                    )}
                  </td>
                </tr>
              );
            })}
            {list.data && tokens.length === 0 && (
              <tr>
                <td className="p-1" colSpan={7}>
                  No tokens yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </ScrollX>
    </Card>
  );
}

function Keys() {
  const qc = useQueryClient();
  const keys = useQuery({ queryKey: ['my-keys'], queryFn: () => get<PersonalKeyView[]>('/api/me/keys') });
  const providers = useQuery({ queryKey: ['providers'], queryFn: () => get<ProviderView[]>('/api/config/providers') });
  const names = (providers.data ?? []).filter((p) => p.source !== 'demo').map((p) => p.name);
  const [provider, setProvider] = useState('');
  const [key, setKey] = useState('');
  const chosen = provider || names[0] || '';
  const save = useMutation({
    mutationFn: () => put<PersonalKeyView>(`/api/me/keys/${encodeURIComponent(chosen)}`, { api_key: key }),
    onSuccess: () => {
      setKey('');
      void qc.invalidateQueries({ queryKey: ['my-keys'] });
    },
  });
  const remove = useMutation({
    mutationFn: (p: string) => del(`/api/me/keys/${encodeURIComponent(p)}`),
    onSettled: () => qc.invalidateQueries({ queryKey: ['my-keys'] }),
  });
  const set = (keys.data ?? []).filter((k) => k.set);
  return (
    <Card title="My provider keys">
      <p className="mb-3 text-sm">
        A key of your own for a provider is used for your agents only, instead of the team&apos;s. Keys are write-only: nobody — you, another member or an admin
        — can read one back; only its last four characters are shown.
      </p>
      <ul className="mb-3 flex flex-col gap-2 text-sm" aria-label="My provider keys">
        {set.map((k) => (
          <li
            key={k.provider}
            className="flex flex-wrap items-center justify-between gap-2 rounded border border-slate-300 p-2 dark:border-slate-700"
            data-testid="my-key"
          >
            <span>
              <strong>{k.provider}</strong>: set{k.last4 ? `, ends in …${k.last4}` : ''}
              <span className="text-xs text-slate-700 dark:text-slate-300"> · updated {ago(k.updated_at)}</span>
            </span>
            <Button
              tone="danger"
              aria-label={`Remove my key for ${k.provider}`}
              onClick={() => {
                if (window.confirm(`Remove your key for ${k.provider}? Your agents use the team's key again.`)) remove.mutate(k.provider);
              }}
            >
              Remove
            </Button>
          </li>
        ))}
        {keys.data && set.length === 0 && <li>No personal keys: your agents use the team&apos;s.</li>}
      </ul>
      <ErrorNote error={names.length === 0 ? (keys.error ?? remove.error) : null} />
      {providers.data && names.length === 0 && <p className="text-sm">No model provider is set up yet: there is nothing to bring a key for.</p>}
      {names.length > 0 && (
        <Form className="flex flex-col gap-3" onSubmit={() => save.mutate()}>
          <div className="grid gap-3 sm:grid-cols-2">
            <Field label="Provider">
              <select className={inputClass} value={chosen} onChange={(e) => setProvider(e.target.value)}>
                {names.map((n) => (
                  <option key={n} value={n}>
                    {n}
                  </option>
                ))}
              </select>
            </Field>
            <Field label="API key" hint="Stored encrypted; replaces your key for this provider.">
              <input className={inputClass} type="password" autoComplete="off" value={key} onChange={(e) => setKey(e.target.value)} />
            </Field>
          </div>
          <ErrorNote error={keys.error ?? save.error ?? remove.error} />
          <div>
            <Button tone="primary" type="submit" disabled={!chosen || !key.trim() || save.isPending}>
              Save my key
            </Button>
          </div>
        </Form>
      )}
    </Card>
  );
}

function Password() {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const change = useMutation({
    mutationFn: () => put('/api/me/password', { current, new: next }),
    onSuccess: () => {
      setCurrent('');
      setNext('');
    },
  });
  return (
    <Card title="Password">
      <Form className="flex flex-col gap-3" onSubmit={() => change.mutate()}>
        <div className="grid gap-3 sm:grid-cols-2">
          <Field label="Current password">
            <input className={inputClass} type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} />
          </Field>
          <Field label="New password" hint="At least 12 characters.">
            <input className={inputClass} type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} minLength={12} />
          </Field>
        </div>
        <ErrorNote error={change.error} />
        {change.isSuccess && (
          <p role="status" className="text-sm text-green-800 dark:text-green-300">
            Password changed.
          </p>
        )}
        <div>
          <Button tone="primary" type="submit" disabled={!current || next.length < 12 || change.isPending}>
            Change password
          </Button>
        </div>
      </Form>
    </Card>
  );
}

export function AccountScreen() {
  useTitle('Account');
  const who = useWho();
  const local = who?.id === 'local';
  return (
    <div className="flex max-w-4xl flex-col gap-4">
      <h1 className="text-2xl font-bold">Account</h1>
      {who && (
        <Card>
          <dl className="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1 text-sm" aria-label="Who I am">
            <dt className="font-medium">Name</dt>
            <dd data-testid="me-name">
              {who.name}
              {who.displayName !== who.name && ` (${who.displayName})`}
            </dd>
            <dt className="font-medium">Role</dt>
            <dd>{who.role}</dd>
            {who.scope && (
              <>
                <dt className="font-medium">This sign-in&apos;s scope</dt>
                <dd>{who.scope}</dd>
              </>
            )}
            <dt className="font-medium">Groups</dt>
            <dd>{who.groups.length ? who.groups.map((g) => g.name).join(', ') : 'none'}</dd>
          </dl>
          {local && (
            <p className="mt-2 text-sm">
              This is the built-in local account of a one-person install (the sign-in link, the token files). Add people on the Users screen to work as a team.
            </p>
          )}
        </Card>
      )}
      {who && !local && <Password />}
      <Tokens maxScope={who?.scope ?? null} />
      <Keys />
    </div>
  );
}
