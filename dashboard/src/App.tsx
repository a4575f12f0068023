// The shell: navigation, the connection banner, sign-in, and the screens.

import { Suspense, lazy, useEffect, useState } from 'react';
import { NavLink, Navigate, Route, Routes, useLocation } from 'react-router-dom';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError, get, signIn, signOut } from './api/client';
import type { AgentView, Info, PendingApprovals, ProviderView } from './api/types';
import { restartSocket, useConnection } from './live/store';
import { Button, Field, Modal, inputClass, Form, useTitle } from './components/ui';
import { AgentsScreen } from './screens/Agents';
import { AgentScreen } from './screens/Agent';
import { ApprovalsScreen } from './screens/Approvals';
import { McpScreen } from './screens/Mcp';
import { PluginsScreen } from './screens/Plugins';
import { SettingsScreen } from './screens/Settings';
import { SetupScreen } from './screens/Setup';
import { WorkspacesScreen } from './screens/Workspaces';

// The charting library is large: loaded with the Usage screen only.
const UsageScreen = lazy(() => import('./screens/Usage').then((m) => ({ default: m.UsageScreen })));

export function useInfo() {
  return useQuery({ queryKey: ['info'], queryFn: () => get<Info>('/api/info') });
}

export function useProviders() {
  return useQuery({ queryKey: ['providers'], queryFn: () => get<ProviderView[]>('/api/config/providers') });
}

/** Whether a provider can serve agents (the offline demo's does not count: it only plays its script). */
export function usable(p: ProviderView): boolean {
  return p.available && p.source !== 'demo';
}

/** `/`: the agents — or, on a first run (no usable provider, no agent yet), the setup. */
function Home() {
  const info = useInfo();
  const agents = useQuery({ queryKey: ['agents'], queryFn: () => get<AgentView[]>('/api/agents') });
  if (info.data && agents.data && !info.data.providers_ready && agents.data.length === 0) return <Navigate to="/setup" replace />;
  return <AgentsScreen />;
}

export function usePending() {
  return useQuery({ queryKey: ['approvals'], queryFn: () => get<PendingApprovals>('/api/approvals'), refetchInterval: 2000 });
}

/** Whether the page was opened from a sign-in link that did not work. */
function loginFailed(): boolean {
  return new URLSearchParams(location.search).get('login') === 'failed';
}

function SignIn({ open, onClose, role }: { open: boolean; onClose: () => void; role?: string }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const qc = useQueryClient();
  const done = () => {
    setValue('');
    setError(null);
    restartSocket();
    void qc.invalidateQueries();
    onClose();
  };
  return (
    <Modal open={open} onClose={onClose} title="Sign in">
      <Form
        className="flex flex-col gap-3"
        onSubmit={async () => {
          try {
            await signIn(value.trim());
            if (loginFailed()) history.replaceState(null, '', location.pathname);
            done();
          } catch (e) {
            setError(e instanceof ApiError && e.status === 401 ? 'That token is not valid.' : String((e as Error).message ?? e));
          }
        }}
      >
        {loginFailed() && !role && (
          <p role="alert" className="rounded bg-amber-50 p-2 text-sm text-amber-950 dark:bg-amber-950 dark:text-amber-100">
            That sign-in link was used already or is not valid: each link works once.
          </p>
        )}
        {role && (
          <p className="text-sm">
            Signed in as <strong>{role}</strong>.
          </p>
        )}
        <p className="text-sm">
          Open the sign-in link <code>paddock serve</code> printed at start, or paste a token: the API token (the data dir&apos;s <code>api-token</code> file,
          or <code>$PADDOCK_TOKEN</code>) or the admin token, which also unlocks Plugins, budgets and policy rules. The browser keeps only a session cookie.
        </p>
        <Field label="Token">
          <input className={inputClass} type="password" autoComplete="off" value={value} onChange={(e) => setValue(e.target.value)} />
        </Field>
        {error && (
          <p role="alert" className="text-sm text-red-800 dark:text-red-300">
            {error}
          </p>
        )}
        <div className="flex gap-2">
          <Button tone="primary" type="submit" disabled={!value.trim()}>
            Sign in
          </Button>
          {role && (
            <Button
              onClick={async () => {
                try {
                  await signOut();
                } finally {
                  done();
                }
              }}
            >
              Sign out
            </Button>
          )}
        </div>
      </Form>
    </Modal>
  );
}

const links: [string, string][] = [
  ['/', 'Agents'],
  ['/workspaces', 'Workspaces'],
  ['/approvals', 'Approvals'],
  ['/mcp', 'MCP servers'],
  ['/plugins', 'Plugins'],
  ['/usage', 'Usage'],
  ['/settings', 'Settings'],
];

export function App() {
  const info = useInfo();
  const pending = usePending();
  const connection = useConnection();
  const [signIn, setSignIn] = useState(false);
  const count = pending.data?.approvals.length ?? 0;
  const { pathname } = useLocation();

  // A 401 anywhere opens the sign-in dialog.
  const needsToken = info.error instanceof ApiError && info.error.status === 401;
  useEffect(() => {
    if (needsToken) setSignIn(true);
  }, [needsToken]);
  const role = info.data?.role;

  return (
    <div className="flex min-h-screen flex-col lg:flex-row">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:p-2">
        Skip to content
      </a>
      <header className="border-b border-slate-300 bg-white lg:w-56 lg:shrink-0 lg:border-r lg:border-b-0 dark:border-slate-700 dark:bg-slate-900">
        <div className="flex flex-wrap items-center justify-between gap-2 p-3">
          <span className="text-xl font-bold">Paddock</span>
          <div className="flex items-center gap-2">
            {role && <span className="text-xs text-slate-700 dark:text-slate-300">{role}</span>}
            <Button className="whitespace-nowrap" onClick={() => setSignIn(true)}>
              {role ? 'Account' : 'Sign in'}
            </Button>
          </div>
        </div>
        <nav aria-label="Main">
          <ul className="flex flex-wrap gap-1 px-2 pb-2 lg:flex-col">
            {links.map(([to, label]) => (
              <li key={to}>
                <NavLink
                  to={to}
                  end={to === '/'}
                  className={({ isActive }) =>
                    `flex items-center gap-2 rounded px-3 py-2 text-sm font-medium ${
                      // An agent's page belongs to Agents.
                      isActive || (to === '/' && pathname.startsWith('/agents/'))
                        ? 'bg-blue-700 text-white'
                        : 'text-slate-800 hover:bg-slate-100 dark:text-slate-100 dark:hover:bg-slate-800'
                    }`
                  }
                  aria-current={to === '/' && pathname.startsWith('/agents/') ? 'page' : undefined}
                >
                  {label}
                  {label === 'Approvals' && count > 0 && (
                    <span className="rounded-full bg-amber-300 px-2 text-xs font-bold text-amber-950" aria-label={`${count} pending`}>
                      {count}
                    </span>
                  )}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        {info.data?.sandbox === 'none' && (
          <p className="m-2 rounded bg-red-100 p-2 text-xs font-semibold text-red-900 dark:bg-red-950 dark:text-red-100">
            Unsandboxed: agents' commands run directly on the host (--unsafe-no-sandbox).
          </p>
        )}
      </header>
      <main id="main" className="min-w-0 flex-1 p-3 lg:p-6">
        {connection === 'reconnecting' && !needsToken && (
          <p
            role="status"
            className="mb-3 rounded border border-amber-400 bg-amber-50 p-2 text-sm text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100"
          >
            Connection to Paddock lost — reconnecting; the live view resumes where it stopped.
          </p>
        )}
        {needsToken ? (
          <section className="max-w-xl" aria-labelledby="signed-out">
            <h1 id="signed-out" className="mb-2 text-2xl font-bold">
              Sign in to Paddock
            </h1>
            <p className="mb-3 text-sm">
              Every request to Paddock needs credentials, on this machine too. Open the sign-in link <code>paddock serve</code> printed when it started, or sign
              in with a token.
            </p>
            <Button tone="primary" onClick={() => setSignIn(true)}>
              Sign in with a token
            </Button>
          </section>
        ) : (
          <Routes>
            <Route path="/" element={<Home />} />
            <Route path="/setup" element={<SetupScreen />} />
            <Route path="/agents/:id" element={<AgentScreen />} />
            <Route path="/workspaces" element={<WorkspacesScreen />} />
            <Route path="/workspaces/:id" element={<WorkspacesScreen />} />
            <Route path="/approvals" element={<ApprovalsScreen />} />
            <Route path="/mcp" element={<McpScreen />} />
            <Route path="/plugins" element={<PluginsScreen onSignIn={() => setSignIn(true)} />} />
            <Route
              path="/usage"
              element={
                <Suspense fallback={<p>Loading…</p>}>
                  <UsageScreen />
                </Suspense>
              }
            />
            <Route path="/settings" element={<SettingsScreen onSignIn={() => setSignIn(true)} />} />
            <Route path="*" element={<NotFound what="page" />} />
          </Routes>
        )}
      </main>
      <SignIn open={signIn} onClose={() => setSignIn(false)} role={role} />
    </div>
  );
}

/** What a link to nothing shows. */
export function NotFound({ what }: { what: string }) {
  useTitle('Not found');
  return (
    <section className="max-w-xl">
      <h1 className="mb-2 text-2xl font-bold">No such {what}</h1>
      <p className="mb-3 text-sm">It may have been deleted, or the link is mistyped.</p>
      <NavLink to="/" className="text-blue-800 underline dark:text-blue-300">
        Back to the agents
      </NavLink>
    </section>
  );
}
