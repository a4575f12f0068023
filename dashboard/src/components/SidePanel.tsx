// The agent screen's side panel, beside the chat (a right column from
// 1024 px, a drawer on narrower screens): tabs Changes (the workspace's
// diff with commit, merge and backup), Terminal (every command the agent
// ran, in order, with its output and exit code) and Files (the workspace's
// files). The tabs follow the ARIA tabs pattern (arrow keys, Home, End).

import { type KeyboardEvent, type ReactNode, useId, useRef, useState, useSyncExternalStore } from 'react';
import { Link } from 'react-router-dom';
import { plainOutput, terminalEntries, type TerminalEntry, type Timeline } from '../live/timeline';
import { FileBrowser } from '../screens/Workspaces';
import { Diff } from './Diff';
import { callChange, stateText, timesText } from './ToolCall';
import { ApiError } from '../api/client';
import { DialogBar, ErrorNote, useDialog } from './ui';
import { DiffView, WorkspaceActions, WorkspaceDiffView, WorkspaceFacts, useAgentDiff, useRefreshOn, useWorkspace } from './Workspace';

export type PanelTab = 'changes' | 'terminal' | 'files';

const TABS: [PanelTab, string][] = [
  ['changes', 'Changes'],
  ['terminal', 'Terminal'],
  ['files', 'Files'],
];

const WIDE = '(min-width: 1024px)';

/** Whether the screen is wide enough for the panel as a column. */
export function useWide(): boolean {
  return useSyncExternalStore(
    (notify) => {
      const m = window.matchMedia?.(WIDE);
      m?.addEventListener('change', notify);
      return () => m?.removeEventListener('change', notify);
    },
    () => window.matchMedia?.(WIDE).matches ?? true,
  );
}

/** The workspace's facts, actions and diff; read again when the agent did something. */
function ChangesTab({ id, activity }: { id: string; activity: string }) {
  const ws = useWorkspace(id);
  useRefreshOn(activity, [
    ['workspace-diff', id],
    ['workspace', id],
    ['workspace-files', id],
  ]);
  return (
    <div className="flex flex-col gap-3" data-testid="workspace-panel">
      <ErrorNote error={ws.error} />
      {ws.data && (
        <>
          <WorkspaceDiffView id={id} />
          <WorkspaceActions ws={ws.data} />
          <section aria-label="The workspace" className="flex flex-col gap-1 border-t border-slate-200 pt-2 dark:border-slate-800">
            <WorkspaceFacts ws={ws.data} />
            <Link to={`/workspaces/${encodeURIComponent(id)}`} className="text-sm text-blue-800 underline dark:text-blue-300">
              Open {ws.data.name} in Workspaces (backups, restore)
            </Link>
          </section>
        </>
      )}
    </div>
  );
}

function TerminalItem({ e, n }: { e: TerminalEntry; n: number }) {
  const { text, cls } = stateText(e.state);
  const times = timesText(e.state);
  const output = plainOutput(e.output).replace(/\n$/, '');
  return (
    <li
      className="flex flex-col gap-1 border-b border-slate-200 py-2 last:border-b-0 dark:border-slate-800"
      data-testid="terminal-entry"
      data-state={e.state.phase}
    >
      <div className="flex flex-wrap items-baseline gap-x-2 text-xs">
        <code className="min-w-0 flex-1 font-semibold break-all" data-testid="terminal-command">
          <span aria-hidden="true" className="text-slate-600 select-none dark:text-slate-400">
            ${' '}
          </span>
          {e.command}
        </code>
        <span className={`font-semibold ${cls}`} data-testid="terminal-state">
          {text}
        </span>
        {times && <span className="text-slate-700 dark:text-slate-300">{times}</span>}
      </div>
      {output ? (
        <pre
          tabIndex={0}
          aria-label={`output of command ${n}`}
          className="max-h-72 overflow-auto rounded bg-slate-100 p-2 font-mono text-xs whitespace-pre-wrap text-slate-900 dark:bg-slate-950 dark:text-slate-100"
        >
          {output}
        </pre>
      ) : (
        <p className="text-xs text-slate-700 dark:text-slate-300">{e.state.phase === 'running' ? 'Running…' : '(no output)'}</p>
      )}
    </li>
  );
}

function TerminalTab({ tl }: { tl: Timeline | null | undefined }) {
  const entries = terminalEntries(tl?.items ?? []);
  if (entries.length === 0) return <p className="text-sm">No commands yet: each command the agent runs shows here, in order, with its output and exit code.</p>;
  const failed = entries.filter((e) => e.state.phase === 'failed').length;
  return (
    <div className="flex flex-col gap-1">
      <p className="text-xs text-slate-700 dark:text-slate-300">
        {entries.length} command{entries.length === 1 ? '' : 's'}
        {failed > 0 ? `, ${failed} failed` : ''}
      </p>
      <ol aria-label="Commands the agent ran" data-testid="terminal-list">
        {entries.map((e, i) => (
          <TerminalItem key={e.callId} e={e} n={i + 1} />
        ))}
      </ol>
    </div>
  );
}

/** The files an agent's own calls named (a path argument), with the diffs of those that changed them. */
function touched(tl: Timeline | null | undefined): { path: string; tools: string[]; diffs: { key: string; diff: string }[] }[] {
  const byPath = new Map<string, { path: string; tools: string[]; diffs: { key: string; diff: string }[] }>();
  for (const item of tl?.items ?? []) {
    if (item.kind !== 'tool') continue;
    const a = (item.call.arguments ?? {}) as Record<string, unknown>;
    const path = typeof a.path === 'string' ? a.path : typeof a.file_path === 'string' ? a.file_path : null;
    if (!path) continue;
    const entry = byPath.get(path) ?? { path, tools: [], diffs: [] };
    if (!entry.tools.includes(item.call.tool)) entry.tools.push(item.call.tool);
    const change = callChange(item);
    const refused = item.decided && !item.decided.approved;
    if (change && !refused) entry.diffs.push({ key: item.call.call_id, diff: change.diff });
    byPath.set(path, entry);
  }
  return [...byPath.values()];
}

const unmanaged = 'This agent works in a directory that is not a managed workspace, so its file tree is not available here.';

/** An agent on a plain directory: the directory against the snapshot taken when the agent started. */
function AgentChangesTab({ agentId, tl, activity }: { agentId: string; tl: Timeline | null | undefined; activity: string }) {
  const diff = useAgentDiff(agentId);
  useRefreshOn(activity, [['agent-diff', agentId]]);
  // No snapshot (an agent from before snapshots, or a directory too large
  // to snapshot): what its own calls changed, with why.
  if (diff.error instanceof ApiError && diff.error.status === 409) return <CallChanges tl={tl} why={diff.error.message} />;
  return (
    <div className="flex flex-col gap-3" data-testid="workspace-panel">
      <DiffView diff={diff} title="Changes since the agent started" />
    </div>
  );
}

/** Without a snapshot: the changes the agent's own calls made. */
function CallChanges({ tl, why }: { tl: Timeline | null | undefined; why: string }) {
  const files = touched(tl).filter((f) => f.diffs.length > 0);
  return (
    <div className="flex flex-col gap-2" data-testid="call-changes">
      <p className="text-sm">{why} The changes its own calls made:</p>
      {files.length === 0 && <p className="text-sm">None yet.</p>}
      {files.flatMap((f) => f.diffs.map((d) => <Diff key={d.key} diff={d.diff} label={f.path} />))}
    </div>
  );
}

/** Without a managed workspace: the files the agent's calls named. */
function CallFiles({ tl }: { tl: Timeline | null | undefined }) {
  const files = touched(tl);
  return (
    <div className="flex flex-col gap-2" data-testid="call-files">
      <p className="text-sm">{unmanaged} The files its calls named:</p>
      {files.length === 0 ? (
        <p className="text-sm">None yet.</p>
      ) : (
        <ul aria-label="Files the agent's calls named" className="flex flex-col text-sm">
          {files.map((f) => (
            <li key={f.path} className="flex flex-wrap gap-x-2">
              <code className="break-all">{f.path}</code>
              <span className="text-xs text-slate-700 dark:text-slate-300">{f.tools.join(', ')}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** The tabs and their panels. */
export function SidePanel({
  agentId,
  workspaceId,
  tl,
  activity,
}: {
  agentId: string;
  workspaceId: string | null | undefined;
  tl: Timeline | null | undefined;
  activity: string;
}) {
  const [tab, setTab] = useState<PanelTab>('changes');
  // A panel is mounted once first shown, then kept (its state, its queries).
  const [seen, setSeen] = useState<Record<PanelTab, boolean>>({ changes: true, terminal: false, files: false });
  const base = useId();
  const refs = useRef<Record<string, HTMLButtonElement | null>>({});
  const choose = (t: PanelTab, focus = false) => {
    setTab(t);
    setSeen((s) => (s[t] ? s : { ...s, [t]: true }));
    if (focus) refs.current[t]?.focus();
  };
  const onKey = (e: KeyboardEvent) => {
    const i = TABS.findIndex(([t]) => t === tab);
    let next = -1;
    if (e.key === 'ArrowRight') next = (i + 1) % TABS.length;
    else if (e.key === 'ArrowLeft') next = (i + TABS.length - 1) % TABS.length;
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = TABS.length - 1;
    if (next < 0) return;
    e.preventDefault();
    choose(TABS[next][0], true);
  };
  const commands = terminalEntries(tl?.items ?? []).length;
  const panels: Record<PanelTab, ReactNode> = {
    changes: workspaceId ? <ChangesTab id={workspaceId} activity={activity} /> : <AgentChangesTab agentId={agentId} tl={tl} activity={activity} />,
    terminal: <TerminalTab tl={tl} />,
    files: workspaceId ? <FileBrowser id={workspaceId} /> : <CallFiles tl={tl} />,
  };
  return (
    <div className="flex flex-col gap-3" data-testid="side-panel">
      <div role="tablist" aria-label="Review the agent's work" className="flex gap-1 border-b border-slate-300 dark:border-slate-700" onKeyDown={onKey}>
        {TABS.map(([t, label]) => (
          <button
            key={t}
            ref={(el) => {
              refs.current[t] = el;
            }}
            type="button"
            role="tab"
            id={`${base}-tab-${t}`}
            aria-controls={`${base}-panel-${t}`}
            aria-selected={tab === t}
            tabIndex={tab === t ? 0 : -1}
            onClick={() => choose(t)}
            className={`-mb-px border-b-2 px-3 py-2 text-sm font-medium ${
              tab === t
                ? 'border-blue-700 text-blue-900 dark:border-blue-400 dark:text-blue-100'
                : 'border-transparent text-slate-700 hover:text-slate-950 dark:text-slate-300 dark:hover:text-white'
            }`}
          >
            {label}
            {t === 'terminal' && commands > 0 && <span className="ml-1 text-xs">({commands})</span>}
          </button>
        ))}
      </div>
      {TABS.map(([t]) => (
        <div key={t} role="tabpanel" id={`${base}-panel-${t}`} aria-labelledby={`${base}-tab-${t}`} hidden={tab !== t} className="min-w-0">
          {seen[t] && panels[t]}
        </div>
      ))}
    </div>
  );
}

/** The panel as a drawer (narrow screens), a modal dialog from the right. */
export function SidePanelDrawer({ open, onClose, children }: { open: boolean; onClose: () => void; children: ReactNode }) {
  const ref = useDialog(open);
  return (
    <dialog
      ref={ref}
      onClose={onClose}
      aria-label="Changes, terminal and files"
      className="m-0 ml-auto h-dvh max-h-none w-[min(100vw,36rem)] max-w-none border-l border-slate-300 bg-white p-0 text-slate-900 backdrop:bg-black/50 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-100"
    >
      {open && (
        <div className="flex h-full flex-col gap-2 overflow-auto p-3">
          <DialogBar title="Review" onClose={onClose} />
          {children}
        </div>
      )}
    </dialog>
  );
}
