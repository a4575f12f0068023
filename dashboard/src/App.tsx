// The shell: navigation, the connection banner, sign-in, and the screens.

import { Suspense, lazy } from 'react';
import { NavLink, Navigate, Route, Routes, useLocation, useNavigate } from 'react-router-dom';
import { useQuery } from '@tanstack/react-query';
import { ApiError, get } from './api/client';
import type { AgentView, Info, PendingApprovals, ProviderView } from './api/types';
import { useWho } from './api/me';
import { useConnection } from './live/store';
import { useTitle } from './components/ui';
import { UserMenu } from './components/UserMenu';
import { AccountScreen } from './screens/Account';
import { GroupsScreen, UsersScreen } from './screens/Team';
import { HostsScreen } from './screens/Hosts';
import { SignInPage } from './screens/SignIn';
import { AgentsScreen } from './screens/Agents';
import { AgentScreen } from './screens/Agent';
import { ApprovalsScreen } from './screens/Approvals';
import { McpScreen } from './screens/Mcp';
import { PluginsScreen } from './screens/Plugins';
import { SettingsScreen } from './screens/Settings';
import { SetupScreen } from './screens/Setup';
import { WorkspacesScreen } from './screens/Workspaces';
import { WorkflowsScreen } from './screens/Workflows';
import { WorkflowRunScreen } from './screens/WorkflowRun';
import { EvalsScreen } from './screens/Evals';
import { EvalRunScreen } from './screens/EvalRun';
import { EvalCompareScreen } from './screens/EvalCompare';

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

const links: [string, string][] = [
  ['/', 'Agents'],
  ['/workspaces', 'Workspaces'],
  ['/workflows', 'Workflows'],
  ['/evals', 'Evaluations'],
  ['/approvals', 'Approvals'],
  ['/mcp', 'MCP servers'],
  ['/plugins', 'Plugins'],
  ['/usage', 'Usage'],
  ['/hosts', 'Hosts'],
  ['/settings', 'Settings'],
];
/** The admins' screens: not in the menu of anyone else (the API refuses them anyway). */
const adminLinks: [string, string][] = [
  ['/users', 'Users'],
  ['/groups', 'Groups'],
];

export function App() {
  const info = useInfo();
  const pending = usePending();
  const connection = useConnection();
  const who = useWho();
  const count = pending.data?.approvals.length ?? 0;
  const { pathname } = useLocation();
  const navigate = useNavigate();
  // "Sign in as admin" (Plugins, Settings): the sign-in page, then back here.
  const toSignIn = () => navigate(`/signin?return_to=${encodeURIComponent(pathname)}`);

  // Signed out (a 401): the sign-in page, whatever the address.
  const needsToken = info.error instanceof ApiError && info.error.status === 401;
  const shown = who?.admin ? [...links.slice(0, -1), ...adminLinks, links[links.length - 1]] : links;

  // Signed out: the sign-in page alone (nothing else would load).
  if (needsToken) {
    return (
      <main id="main" className="min-h-screen p-3 lg:p-6">
        <p className="mx-auto max-w-md text-xl font-bold" aria-hidden="true">
          Paddock
        </p>
        <SignInPage />
      </main>
    );
  }

  return (
    <div className="flex min-h-screen flex-col lg:flex-row">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:p-2">
        Skip to content
      </a>
      <header className="border-b border-slate-300 bg-white lg:w-56 lg:shrink-0 lg:border-r lg:border-b-0 dark:border-slate-700 dark:bg-slate-900">
        <div className="flex flex-wrap items-center justify-between gap-2 p-3">
          <span className="text-xl font-bold">Paddock</span>
          {who && <UserMenu who={who} />}
        </div>
        {!needsToken && (
          <nav aria-label="Main">
            <ul className="flex flex-wrap gap-1 px-2 pb-2 lg:flex-col">
              {shown.map(([to, label]) => (
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
        )}
        {info.data?.sandbox === 'none' && (
          <p className="m-2 rounded bg-red-100 p-2 text-xs font-semibold text-red-900 dark:bg-red-950 dark:text-red-100">
            Unsandboxed: agents' commands run directly on the host (--unsafe-no-sandbox).
          </p>
        )}
      </header>
      <main id="main" className="min-w-0 flex-1 p-3 lg:p-6">
        {connection === 'reconnecting' && (
          <p
            role="status"
            className="mb-3 rounded border border-amber-400 bg-amber-50 p-2 text-sm text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100"
          >
            Connection to Paddock lost — reconnecting; the live view resumes where it stopped.
          </p>
        )}
        {pathname === '/signin' ? (
          <SignInPage />
        ) : (
          <Routes>
            <Route path="/" element={<Home />} />
            <Route path="/setup" element={<SetupScreen />} />
            <Route path="/agents/:id" element={<AgentScreen />} />
            <Route path="/workspaces" element={<WorkspacesScreen />} />
            <Route path="/workspaces/:id" element={<WorkspacesScreen />} />
            <Route path="/workflows" element={<WorkflowsScreen />} />
            <Route path="/workflows/runs/:id" element={<WorkflowRunScreen />} />
            <Route path="/evals" element={<EvalsScreen />} />
            <Route path="/evals/compare/:a/:b" element={<EvalCompareScreen />} />
            <Route path="/evals/:id" element={<EvalRunScreen />} />
            <Route path="/approvals" element={<ApprovalsScreen />} />
            <Route path="/mcp" element={<McpScreen />} />
            <Route path="/plugins" element={<PluginsScreen onSignIn={toSignIn} />} />
            <Route
              path="/usage"
              element={
                <Suspense fallback={<p>Loading…</p>}>
                  <UsageScreen />
                </Suspense>
              }
            />
            <Route path="/hosts" element={<HostsScreen />} />
            <Route path="/settings" element={<SettingsScreen onSignIn={toSignIn} />} />
            <Route path="/account" element={<AccountScreen />} />
            <Route path="/users" element={<UsersScreen />} />
            <Route path="/groups" element={<GroupsScreen />} />
            <Route path="*" element={<NotFound what="page" />} />
          </Routes>
        )}
      </main>
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
