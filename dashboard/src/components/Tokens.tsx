// Personal access tokens: the form that makes one (name, scope, expiry) and
// the new secret, shown once with a copy button — the API keeps only its
// hash, so it cannot be shown again. Used by the Account screen (my tokens)
// and the Users screen (a script user's token).

import { useState } from 'react';
import type { CreatedToken, NewTokenRequest, Scope } from '../api/types';
import { Button, ErrorNote, Field, Form, inputClass } from './ui';

const SCOPES: Record<Scope, string> = {
  read: 'read (look only)',
  write: 'write (change things)',
  admin: 'admin (all the role allows)',
};
const ORDER: Scope[] = ['read', 'write', 'admin'];

/** The scopes a token may have: up to the caller's own (all of them when it is unknown). */
export function scopesUpTo(max: string | null | undefined): Scope[] {
  const i = ORDER.indexOf(max as Scope);
  return i < 0 ? ORDER : ORDER.slice(0, i + 1);
}

/** The form of a new token; `onCreate` posts it. */
export function NewTokenForm({
  maxScope,
  onCreate,
  pending,
  error,
}: {
  maxScope?: string | null;
  onCreate: (body: NewTokenRequest) => void;
  pending: boolean;
  error: unknown;
}) {
  const scopes = scopesUpTo(maxScope);
  const [name, setName] = useState('');
  const [scope, setScope] = useState<Scope>(scopes.includes('write') ? 'write' : scopes[0]);
  const [days, setDays] = useState('90');
  return (
    <Form className="flex flex-col gap-3" onSubmit={() => onCreate({ name: name.trim(), scope, expires_in_days: Number(days) } as NewTokenRequest)}>
      <div className="grid gap-3 sm:grid-cols-3">
        <Field label="Token name" hint="What uses it: a script, CI, a laptop.">
          <input className={inputClass} value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} />
        </Field>
        <Field label="Scope" hint="Never more than the role of whoever it acts as.">
          <select className={inputClass} value={scope} onChange={(e) => setScope(e.target.value as Scope)}>
            {scopes.map((s) => (
              <option key={s} value={s}>
                {SCOPES[s]}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Expires in (days)" hint="1 to 365.">
          <input className={inputClass} type="number" min={1} max={365} value={days} onChange={(e) => setDays(e.target.value)} required />
        </Field>
      </div>
      <ErrorNote error={error} />
      <div>
        <Button tone="primary" type="submit" disabled={pending || !name.trim()}>
          Create token
        </Button>
      </div>
    </Form>
  );
}

/** A new token's secret: shown once, with a copy button, until dismissed. */
export function SecretOnce({ created, onDone }: { created: CreatedToken; onDone: () => void }) {
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null);
  return (
    <div
      className="flex flex-col gap-2 rounded border border-green-600 bg-green-50 p-3 text-sm text-green-950 dark:border-green-700 dark:bg-green-950 dark:text-green-50"
      role="status"
      data-testid="token-secret"
    >
      <p>
        <strong>Token “{created.token.name}” created.</strong> Copy it now: it is shown only this once (Paddock keeps only its hash).
      </p>
      <div className="flex flex-wrap items-center gap-2">
        <input
          className={`${inputClass} min-w-0 flex-1 font-mono`}
          readOnly
          value={created.secret}
          aria-label="The new token"
          onFocus={(e) => e.currentTarget.select()}
          data-testid="token-secret-value"
        />
        <Button
          onClick={async () => {
            try {
              await navigator.clipboard.writeText(created.secret);
              setCopied('yes');
            } catch {
              setCopied('no');
            }
          }}
        >
          Copy
        </Button>
        <Button onClick={onDone}>Done</Button>
      </div>
      {copied === 'yes' && <p>Copied to the clipboard.</p>}
      {copied === 'no' && <p>The browser did not allow copying: select the token and copy it by hand.</p>}
    </div>
  );
}
