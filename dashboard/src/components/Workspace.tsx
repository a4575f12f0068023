// A workspace's changes and what can be done with them: the diff (file
// list and patch, file by file), commit and merge for a worktree, backup.
// Used by the Agent screen (the agent's own workspace) and the Workspaces
// screen.

import { type ReactNode, useEffect, useMemo, useRef, useState } from 'react';
import { type UseQueryResult, useMutation, useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import { ApiError, get, post } from '../api/client';
import type { Backup, Committed, Conflict, FileChange, MergeConflicts, Merged, WorkspaceDiff, WorkspaceView } from '../api/types';
import { Diff } from './Diff';
import { splitPatch } from './patch';
import { Button, ErrorNote, Field, Form, bytes, inputClass } from './ui';

const enc = encodeURIComponent;

export function useWorkspace(id: string) {
  return useQuery({ queryKey: ['workspace', id], queryFn: () => get<WorkspaceView>(`/api/workspaces/${enc(id)}`), enabled: !!id });
}

export function useWorkspaceDiff(id: string) {
  return useQuery({ queryKey: ['workspace-diff', id], queryFn: () => get<WorkspaceDiff>(`/api/workspaces/${enc(id)}/diff`), enabled: !!id });
}

/** What an agent changed (a worktree's diff, or a directory against the snapshot taken when the agent started). */
export function useAgentDiff(agentId: string) {
  return useQuery({ queryKey: ['agent-diff', agentId], queryFn: () => get<WorkspaceDiff>(`/api/agents/${enc(agentId)}/diff`), enabled: !!agentId });
}

/** Reads `keys` (query keys) again whenever `activity` changes: the agent did something (a tool ran, a run ended), so what it changed may have too. */
export function useRefreshOn(activity: string, keys: readonly unknown[][]) {
  const qc = useQueryClient();
  const seen = useRef(activity);
  const wanted = JSON.stringify(keys);
  useEffect(() => {
    if (seen.current === activity) return;
    seen.current = activity;
    for (const key of JSON.parse(wanted) as unknown[][]) void qc.invalidateQueries({ queryKey: key });
  }, [qc, activity, wanted]);
}

/** After anything that changes a workspace: its view, diff, files and backups are read again. */
export function refreshWorkspace(qc: QueryClient, id: string) {
  for (const key of ['workspace', 'workspace-diff', 'workspace-files', 'workspace-backups']) void qc.invalidateQueries({ queryKey: [key, id] });
  void qc.invalidateQueries({ queryKey: ['workspaces'] });
  void qc.invalidateQueries({ queryKey: ['backups'] });
}

export const short = (hash: string | null | undefined) => (hash ? hash.slice(0, 7) : '');

const statusTone: Record<string, string> = {
  added: 'bg-green-100 text-green-900 dark:bg-green-900 dark:text-green-100',
  deleted: 'bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100',
  modified: 'bg-blue-100 text-blue-900 dark:bg-blue-900 dark:text-blue-100',
  renamed: 'bg-purple-100 text-purple-900 dark:bg-purple-900 dark:text-purple-100',
};

function FileStatus({ status }: { status: string }) {
  return (
    <span
      className={`inline-block rounded px-1.5 py-0.5 text-xs font-semibold ${statusTone[status] ?? 'bg-slate-200 text-slate-900 dark:bg-slate-700 dark:text-slate-100'}`}
    >
      {status.replace('_', ' ')}
    </span>
  );
}

function FileRow({ f }: { f: FileChange }) {
  return (
    <li className="flex flex-wrap items-center gap-x-2 gap-y-1 py-1" data-testid="diff-file">
      <FileStatus status={f.status} />
      <code className="min-w-0 text-sm break-all">
        {f.old_path ? `${f.old_path} → ` : ''}
        {f.path}
      </code>
      <span className="text-xs">
        {f.binary ? (
          'binary'
        ) : (
          <>
            <span className="text-green-800 dark:text-green-300">+{f.additions ?? 0}</span>{' '}
            <span className="text-red-800 dark:text-red-300">−{f.deletions ?? 0}</span>
          </>
        )}
      </span>
    </li>
  );
}

/** The changes of a workspace since it started: changed files, then the patch file by file. */
export function WorkspaceDiffView({ id, title = 'Changes' }: { id: string; title?: string }) {
  return <DiffView diff={useWorkspaceDiff(id)} title={title} />;
}

/** A diff as read: changed files, then the patch file by file. */
export function DiffView({ diff, title = 'Changes' }: { diff: UseQueryResult<WorkspaceDiff>; title?: string }) {
  const d = diff.data;
  const patches = useMemo(() => splitPatch(d?.patch ?? ''), [d?.patch]);
  return (
    <section className="flex flex-col gap-2" aria-label={title} data-testid="workspace-diff">
      <h3 className="font-semibold">{title}</h3>
      <ErrorNote error={diff.error} />
      {diff.isLoading && <p className="text-sm">Loading…</p>}
      {d && (
        <>
          <p className="text-sm" data-testid="diff-summary">
            {d.files.length === 0 ? 'No changes' : `${d.files.length} file${d.files.length === 1 ? '' : 's'} changed`} since {d.against} (
            <code>{short(d.base)}</code>)
            {d.files.length > 0 && (
              <>
                : <span className="text-green-800 dark:text-green-300">+{d.additions}</span>{' '}
                <span className="text-red-800 dark:text-red-300">−{d.deletions}</span>
              </>
            )}
          </p>
          {d.files.length > 0 && (
            <ul aria-label="Changed files" className="divide-y divide-slate-200 dark:divide-slate-700">
              {d.files.map((f) => (
                <FileRow key={`${f.old_path ?? ''}:${f.path}`} f={f} />
              ))}
            </ul>
          )}
          {patches.map((p, i) => (
            <Diff key={`${i}:${p.path}`} diff={p.text} label={p.path} />
          ))}
          {d.truncated && <p className="text-sm font-medium">The patch is cut here: it is larger than the host sends at once.</p>}
        </>
      )}
    </section>
  );
}

function conflictsOf(e: unknown): Conflict[] | null {
  if (e instanceof ApiError && e.code === 'merge_conflict') {
    const body = e.body as Partial<MergeConflicts> | undefined;
    return body?.conflicts ?? [];
  }
  return null;
}

function mergeText(m: Merged, branch: string): string {
  switch (m.result) {
    case 'up_to_date':
      return `Nothing to merge: ${m.base_branch} already has every commit of ${branch}.`;
    case 'fast_forward':
      return `Merged into ${m.base_branch} (fast-forward): it is now at ${short(m.commit)}, ${m.files.length} file${m.files.length === 1 ? '' : 's'} changed.`;
    case 'merge_commit':
      return `Merged into ${m.base_branch} with merge commit ${short(m.commit)}: ${m.files.length} file${m.files.length === 1 ? '' : 's'} changed.`;
  }
}

const okNote = 'rounded border border-green-600 bg-green-50 p-2 text-sm text-green-950 dark:border-green-700 dark:bg-green-950 dark:text-green-100';

/** Commit and merge (worktrees only) and backup, each with its outcome shown. */
export function WorkspaceActions({ ws }: { ws: WorkspaceView }) {
  const qc = useQueryClient();
  const [message, setMessage] = useState('');
  const worktree = ws.kind === 'worktree';
  const commit = useMutation({
    mutationFn: (m: string) => post<Committed>(`/api/workspaces/${enc(ws.id)}/commit`, { message: m }),
    onSuccess: () => setMessage(''),
    onSettled: () => refreshWorkspace(qc, ws.id),
  });
  const merge = useMutation({
    mutationFn: () => post<Merged>(`/api/workspaces/${enc(ws.id)}/merge`),
    onSettled: () => {
      refreshWorkspace(qc, ws.id);
      // Other worktrees of the same repository now meet its branch elsewhere.
      void qc.invalidateQueries({ queryKey: ['workspace-diff'] });
    },
  });
  const backup = useMutation({
    mutationFn: () => post<Backup>(`/api/workspaces/${enc(ws.id)}/backup`),
    onSettled: () => refreshWorkspace(qc, ws.id),
  });
  const conflicts = conflictsOf(merge.error);
  const branch = ws.branch ?? '';
  return (
    <div className="flex flex-col gap-3">
      {worktree && (
        <Form
          className="flex flex-col gap-2"
          onSubmit={() => {
            if (!message.trim()) return;
            merge.reset();
            commit.mutate(message);
          }}
        >
          <Field label="Commit message" hint={`Commits every change on ${branch || 'its branch'}.`}>
            <textarea className={inputClass} rows={2} value={message} onChange={(e) => setMessage(e.target.value)} />
          </Field>
          <div className="flex flex-wrap gap-2">
            <Button tone="primary" type="submit" disabled={commit.isPending || !message.trim()}>
              {commit.isPending ? 'Committing…' : 'Commit'}
            </Button>
            <Button
              onClick={() => {
                commit.reset();
                merge.mutate();
              }}
              disabled={merge.isPending}
            >
              {merge.isPending ? 'Merging…' : `Merge into ${ws.base_branch ?? 'its base branch'}`}
            </Button>
          </div>
        </Form>
      )}
      {commit.data && (
        <p role="status" className={okNote} data-testid="commit-result">
          Committed <code>{short(commit.data.commit)}</code> on {commit.data.branch}: {commit.data.files.length} file
          {commit.data.files.length === 1 ? '' : 's'}.
        </p>
      )}
      <ErrorNote error={commit.error} />
      {merge.data && (
        <p role="status" className={okNote} data-testid="merge-result">
          {mergeText(merge.data, branch)}
        </p>
      )}
      {conflicts ? (
        <div
          role="alert"
          className="rounded border border-red-400 bg-red-50 p-2 text-sm text-red-900 dark:border-red-700 dark:bg-red-950 dark:text-red-100"
          data-testid="merge-conflicts"
        >
          <p className="font-semibold">
            Merge refused: {conflicts.length} file{conflicts.length === 1 ? '' : 's'} conflict. Nothing was changed: {ws.base_branch} and {branch} are as they
            were.
          </p>
          <ul className="mt-1 list-disc pl-5">
            {conflicts.map((c) => (
              <li key={`${c.path}:${c.kind}`}>
                <code className="break-all">{c.path}</code> — {c.kind}: {c.message}
              </li>
            ))}
          </ul>
        </div>
      ) : (
        <ErrorNote error={merge.error} />
      )}
      <div className="flex flex-wrap items-center gap-2">
        <Button onClick={() => backup.mutate()} disabled={backup.isPending}>
          {backup.isPending ? 'Backing up…' : 'Back up'}
        </Button>
        <Button onClick={() => refreshWorkspace(qc, ws.id)}>Refresh</Button>
      </div>
      {backup.data && (
        <p role="status" className={okNote} data-testid="backup-result">
          Backup <code>{backup.data.id}</code> made: {bytes(backup.data.bytes)}, {backup.data.entries} {backup.data.entries === 1 ? 'entry' : 'entries'}.
        </p>
      )}
      <ErrorNote error={backup.error} />
    </div>
  );
}

/** What a workspace is: kind, branch, path, size. */
export function WorkspaceFacts({ ws }: { ws: WorkspaceView }) {
  const rows: [string, ReactNode][] = [
    ['Kind', ws.kind],
    ...(ws.branch ? ([['Branch', `${ws.branch} → ${ws.base_branch ?? '?'}`]] as [string, ReactNode][]) : []),
    ['Path', <code className="break-all">{ws.path}</code>],
    ...(ws.source ? ([['Source', <code className="break-all">{ws.source}</code>]] as [string, ReactNode][]) : []),
    ['Size', `${bytes(ws.size_bytes)} in ${ws.file_count} file${ws.file_count === 1 ? '' : 's'}${ws.exists ? '' : ' (its directory is gone)'}`],
  ];
  return (
    <dl className="grid grid-cols-[auto_minmax(0,1fr)] gap-x-3 gap-y-1 text-sm" data-testid="workspace-facts">
      {rows.map(([k, v]) => (
        <div key={k} className="contents">
          <dt className="font-medium">{k}</dt>
          <dd className="min-w-0">{v}</dd>
        </div>
      ))}
    </dl>
  );
}
