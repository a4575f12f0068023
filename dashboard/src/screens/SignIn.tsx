// The sign-in page, shown in place of every screen while the browser is
// signed out: a name and password (local accounts), "Sign in with
// <provider>" for each single sign-on provider (`GET /api/auth/methods`),
// and a token as the fallback (the one-person install's API or admin token,
// or a personal access token). A failed single sign-on or sign-in link comes
// back as `?login=failed&reason=…`, said here plainly.

import { useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { useQueryClient } from '@tanstack/react-query';
import { ApiError, signIn, signInWithPassword } from '../api/client';
import { useAuthMethods } from '../api/me';
import type { SsoProvider } from '../api/types';
import { restartSocket } from '../live/store';
import { Button, Card, ErrorNote, Field, Form, inputClass, useTitle } from '../components/ui';

/** What `?login=failed&reason=…` says, or null when the page was not opened after a failed sign-in. */
export function loginFailure(search: string): string | null {
  const q = new URLSearchParams(search);
  if (q.get('login') !== 'failed') return null;
  const reason = q.get('reason')?.trim();
  if (!reason) return 'That sign-in link was used already or is not valid: each link works once.';
  return `Sign-in failed: ${reason.replace(/_/g, ' ')}.`.replace(/\.\.$/, '.');
}

/** Where `/signin?return_to=…` goes after signing in: a path of this site only. */
export function returnPath(search: string): string {
  const to = new URLSearchParams(search).get('return_to') ?? '/';
  return to.startsWith('/') && !to.startsWith('//') && !to.startsWith('/\\') && to !== '/signin' ? to : '/';
}

/** The provider's login URL, returning to `path` afterwards. */
export function ssoHref(p: SsoProvider, path: string): string {
  const url = new URL(p.login_url, location.origin);
  if (!url.searchParams.has('return_to')) url.searchParams.set('return_to', path);
  return url.origin === location.origin ? `${url.pathname}${url.search}` : url.toString();
}

/** Why a sign-in failed, for people. */
function failure(e: unknown, what: 'password' | 'token'): string {
  if (e instanceof ApiError) {
    if (e.status === 401) return what === 'password' ? 'That name and password do not match (or the account is disabled).' : 'That token is not valid.';
    if (e.status === 429) return `Too many attempts: ${e.message}`;
    return `${e.message} (${e.code})`;
  }
  return String((e as Error)?.message ?? e);
}

export function SignInPage() {
  useTitle('Sign in');
  const methods = useAuthMethods();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [token, setToken] = useState('');
  const [error, setError] = useState<{ what: 'password' | 'token'; message: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const failed = loginFailure(location.search);
  const m = methods.data;
  const password_ = m?.password ?? true;
  const sso = m?.sso ?? [];
  const here = location.pathname === '/signin' ? returnPath(location.search) : location.pathname;

  const done = () => {
    if (failed) history.replaceState(null, '', location.pathname);
    setError(null);
    restartSocket();
    // `/signin` (switching accounts) goes back where it was sent from; any other page stays.
    if (location.pathname === '/signin') navigate(returnPath(location.search));
    // Everything fetched as the previous caller goes; what is on screen is fetched again.
    void qc.resetQueries();
  };
  const attempt = async (what: 'password' | 'token', run: () => Promise<unknown>) => {
    setBusy(true);
    try {
      await run();
      done();
    } catch (e) {
      setError({ what, message: failure(e, what) });
    } finally {
      setBusy(false);
    }
  };

  const tokenForm = (
    <Form className="flex flex-col gap-3" onSubmit={() => attempt('token', () => signIn(token.trim()))}>
      <p className="text-sm">
        Open the sign-in link <code>paddock serve</code> printed at start, or paste a token: a personal access token, the API token (the data dir&apos;s{' '}
        <code>api-token</code> file, or <code>$PADDOCK_TOKEN</code>) or the admin token. The browser keeps only a session cookie.
      </p>
      <Field label="Token">
        <input className={inputClass} type="password" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} />
      </Field>
      {error?.what === 'token' && (
        <p role="alert" className="text-sm text-red-800 dark:text-red-300">
          {error.message}
        </p>
      )}
      <div>
        <Button tone={password_ ? 'plain' : 'primary'} type="submit" disabled={!token.trim() || busy}>
          Sign in with token
        </Button>
      </div>
    </Form>
  );

  return (
    <section className="mx-auto flex w-full max-w-md flex-col gap-4 py-4" aria-labelledby="sign-in-heading">
      <h1 id="sign-in-heading" className="text-2xl font-bold">
        Sign in to Paddock
      </h1>
      {failed && (
        <p role="alert" className="rounded bg-amber-50 p-2 text-sm text-amber-950 dark:bg-amber-950 dark:text-amber-100" data-testid="login-failed">
          {failed}
        </p>
      )}
      <ErrorNote error={methods.error} />
      {sso.length > 0 && (
        <div className="flex flex-col gap-2" aria-label="Single sign-on">
          {sso.map((p) => (
            <a
              key={p.name}
              href={ssoHref(p, here)}
              className="inline-flex min-h-10 items-center justify-center rounded bg-blue-700 px-3 py-2 text-sm font-medium text-white hover:bg-blue-800"
            >
              Sign in with {p.display_name || p.name}
            </a>
          ))}
        </div>
      )}
      {password_ && (
        <Card title={sso.length > 0 ? 'Or with your name and password' : undefined}>
          <Form className="flex flex-col gap-3" onSubmit={() => attempt('password', () => signInWithPassword(name.trim(), password))}>
            <Field label="Name">
              <input className={inputClass} autoComplete="username" value={name} onChange={(e) => setName(e.target.value)} />
            </Field>
            <Field label="Password">
              <input className={inputClass} type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
            </Field>
            {error?.what === 'password' && (
              <p role="alert" className="text-sm text-red-800 dark:text-red-300">
                {error.message}
              </p>
            )}
            <div>
              <Button tone="primary" type="submit" disabled={!name.trim() || !password || busy}>
                Sign in
              </Button>
            </div>
          </Form>
        </Card>
      )}
      {(m?.token ?? true) &&
        (password_ || sso.length > 0 ? (
          <details className="rounded-lg border border-slate-300 bg-white p-4 dark:border-slate-700 dark:bg-slate-900">
            <summary className="cursor-pointer text-sm font-medium">Sign in with a token instead</summary>
            <div className="mt-3">{tokenForm}</div>
          </details>
        ) : (
          <Card>{tokenForm}</Card>
        ))}
    </section>
  );
}
