// Workspaces: every workspace with its kind, branch, size and the agents in
// it; make one (a worktree of a repository, a directory in place or copied,
// an empty one); for each, its files, its changes (commit and merge for a
// worktree), its backups (restore, delete) and deleting it.

import { useEffect, useRef, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { del, get, post } from '../api/client';
import type { Backup, FilesView, NewWorkspace, WorkspaceView } from '../api/types';
import { WorkspaceActions, WorkspaceDiffView, WorkspaceFacts, refreshWorkspace, useWorkspace } from '../components/Workspace';
import { readOnlyReason, useWho } from '../api/me';
import { Button, Card, DialogActions, ErrorNote, Field, Form, Modal, ago, bytes, inputClass, EmptyState, useTitle } from '../components/ui';
import { StatusBadge } from '../components/Status';

const enc = encodeURIComponent;

export function useWorkspaces() {
  return useQuery({ queryKey: ['workspaces'], queryFn: () => get<WorkspaceView[]>('/api/workspaces'), refetchInterval: 5000 });
}

/** The directories leading to `path` (`a/b/c` → `a`, `a/b`, `a/b/c`), each with its name. */
export function crumbs(path: string): { name: string; path: string }[] {
  const parts = path.split('/').filter(Boolean);
  return parts.map((name, i) => ({ name, path: parts.slice(0, i + 1).join('/') }));
}

/** The directory holding `path` (`""` for the root). */
export function parentOf(path: string): string {
  const parts = path.split('/').filter(Boolean);
  return parts.slice(0, -1).join('/');
}

export function WorkspacesScreen() {
  useTitle('Workspaces');
  const { id = '' } = useParams();
  const list = useWorkspaces();
  const [creating, setCreating] = useState(false);
  const who = useWho();
  const readOnly = readOnlyReason(who);
  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <h1 className="text-2xl font-bold">Workspaces</h1>
        <div className="flex flex-wrap items-center gap-2">
          {readOnly && (
            <span className="text-xs text-slate-700 dark:text-slate-300" id="workspaces-read-only">
              {readOnly}
            </span>
          )}
          <Button tone="primary" onClick={() => setCreating(true)} disabled={!!readOnly} aria-describedby={readOnly ? 'workspaces-read-only' : undefined}>
            New workspace
          </Button>
        </div>
      </div>
      <ErrorNote error={list.error} />
      <div className="grid gap-4 xl:grid-cols-[minmax(0,24rem)_minmax(0,1fr)]">
        <section aria-label="All workspaces" className="flex min-w-0 flex-col gap-2">
          <p className="text-sm text-slate-700 dark:text-slate-300" aria-live="polite">
            {list.isLoading ? 'Loading…' : `${list.data?.length ?? 0} workspaces`}
          </p>
          {list.data?.length === 0 && (
            <EmptyState title="No workspaces yet">
              A workspace is where an agent's files are: an empty folder, a directory used in place, a copy, or a git worktree on a new branch. Make one here,
              or let the new-agent dialog make one.
            </EmptyState>
          )}
          <ul aria-label="Workspaces" className="flex flex-col gap-2">
            {(list.data ?? []).map((w) => (
              <WorkspaceRow key={w.id} ws={w} selected={w.id === id || w.name === id} me={who?.id} />
            ))}
          </ul>
        </section>
        <div className="min-w-0">{id ? <WorkspaceDetail id={id} /> : <p className="text-sm">Choose a workspace to see its files, changes and backups.</p>}</div>
      </div>
      <AllBackups />
      <CreateWorkspace open={creating} onClose={() => setCreating(false)} />
    </div>
  );
}

function WorkspaceRow({ ws, selected, me }: { ws: WorkspaceView; selected: boolean; me: string | undefined }) {
  // Whose it is, when it is someone else's (a host with users names the owner).
  const owner = ws.owner;
  const others = owner && owner.id !== me ? owner.name : null;
  return (
    <li
      className={`rounded-lg border bg-white p-3 dark:bg-slate-900 ${selected ? 'border-blue-700 ring-2 ring-blue-700 dark:border-blue-400 dark:ring-blue-400' : 'border-slate-300 dark:border-slate-700'}`}
      data-testid="workspace-row"
    >
      <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
        <Link
          to={`/workspaces/${enc(ws.id)}`}
          className="font-semibold break-all text-blue-800 underline dark:text-blue-300"
          aria-current={selected ? 'page' : undefined}
        >
          {ws.name}
        </Link>
        <span className="rounded bg-slate-200 px-2 py-0.5 text-xs font-semibold text-slate-900 dark:bg-slate-700 dark:text-slate-100">{ws.kind}</span>
        {!ws.exists && <span className="text-xs font-semibold text-red-800 dark:text-red-300">directory missing</span>}
        {others && (
          <span className="text-xs text-slate-700 dark:text-slate-300" data-testid="workspace-owner">
            owner: {others}
          </span>
        )}
      </div>
      <p className="text-xs break-words text-slate-700 dark:text-slate-300">
        {ws.branch ? `${ws.branch} → ${ws.base_branch ?? '?'} · ` : ''}
        {bytes(ws.size_bytes)}, {ws.file_count} files · made {ago(ws.created_at)}
      </p>
      <p className="text-xs">
        {ws.agents.length === 0 ? 'No agent uses it.' : 'Used by '}
        {ws.agents.map((a, i) => (
          <span key={a.id}>
            {i > 0 && ', '}
            <Link to={`/agents/${a.id}`} className="text-blue-800 underline dark:text-blue-300">
              {a.name}
            </Link>{' '}
            <StatusBadge status={a.status} />
          </span>
        ))}
      </p>
    </li>
  );
}

function WorkspaceDetail({ id }: { id: string }) {
  const ws = useWorkspace(id);
  const heading = useRef<HTMLHeadingElement>(null);
  // Choosing a workspace moves the focus to it (it may be far below the list).
  useEffect(() => {
    if (ws.data && document.activeElement?.closest('[data-testid=workspace-row]')) heading.current?.focus();
  }, [ws.data?.id]);
  if (ws.error) return <ErrorNote error={ws.error} />;
  if (!ws.data) return <p className="text-sm">Loading…</p>;
  const w = ws.data;
  return (
    <section className="flex flex-col gap-4 rounded-lg border border-slate-300 bg-white p-4 dark:border-slate-700 dark:bg-slate-900" aria-labelledby="ws-title">
      <h2 id="ws-title" ref={heading} tabIndex={-1} className="text-lg font-semibold break-all">
        {w.name}
      </h2>
      <WorkspaceFacts ws={w} />
      <FileBrowser key={w.id} id={w.id} />
      <WorkspaceActions ws={w} />
      <WorkspaceDiffView id={w.id} />
      <Backups ws={w} />
      <DeleteWorkspace ws={w} />
    </section>
  );
}

/** A workspace's files: folders to walk, a file's text (also the agent screen's Files tab). */
export function FileBrowser({ id }: { id: string }) {
  const [path, setPath] = useState('');
  const [ignored, setIgnored] = useState(false);
  const q = useQuery({
    queryKey: ['workspace-files', id, path, ignored],
    queryFn: () => get<FilesView>(`/api/workspaces/${enc(id)}/files?path=${enc(path)}&include_ignored=${ignored}`),
  });
  const v = q.data;
  const entryButton = 'text-left break-all text-blue-800 underline dark:text-blue-300';
  return (
    <section className="flex flex-col gap-2" aria-label="Files" data-testid="file-browser">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h3 className="font-semibold">Files</h3>
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" checked={ignored} onChange={(e) => setIgnored(e.target.checked)} />
          Show ignored files
        </label>
      </div>
      <nav aria-label="Folder path">
        <ol className="flex flex-wrap items-center gap-1 text-sm">
          <li>
            <button type="button" className={entryButton} onClick={() => setPath('')} aria-current={path === '' ? 'location' : undefined}>
              (root)
            </button>
          </li>
          {crumbs(path).map((c) => (
            <li key={c.path} className="flex items-center gap-1">
              <span aria-hidden="true">/</span>
              <button type="button" className={entryButton} onClick={() => setPath(c.path)} aria-current={c.path === path ? 'location' : undefined}>
                {c.name}
              </button>
            </li>
          ))}
        </ol>
      </nav>
      <ErrorNote error={q.error} />
      {path !== '' && (
        <div>
          <Button onClick={() => setPath(parentOf(path))}>Up</Button>
        </div>
      )}
      {v?.type === 'dir' && (
        <>
          {v.entries.length === 0 && <p className="text-sm">Empty folder.</p>}
          <ul aria-label={`Entries of ${v.path || 'the root'}`} className="flex flex-col text-sm">
            {v.entries.map((e) => (
              <li key={e.path} className="flex flex-wrap items-baseline gap-x-2 py-0.5" data-testid="file-entry">
                {e.kind === 'symlink' ? (
                  <span className="break-all">{e.name} (symlink, not followed)</span>
                ) : (
                  <button type="button" className={entryButton} onClick={() => setPath(e.path)}>
                    {e.kind === 'dir' ? `${e.name}/` : e.name}
                  </button>
                )}
                {e.kind === 'file' && <span className="text-xs text-slate-700 dark:text-slate-300">{bytes(e.size)}</span>}
                {e.ignored && <span className="text-xs text-slate-700 dark:text-slate-300">(ignored)</span>}
              </li>
            ))}
          </ul>
        </>
      )}
      {v?.type === 'file' && (
        <div className="flex flex-col gap-1">
          <p className="text-sm">
            <code className="break-all">{v.path}</code> · {bytes(v.size)}
            {v.truncated && ' · only its start is shown (it is larger than the host sends)'}
          </p>
          {v.binary ? (
            <p className="text-sm font-medium">Binary file: its content is not shown.</p>
          ) : (
            <pre
              tabIndex={0}
              aria-label={`Content of ${v.path}`}
              className="max-h-96 overflow-auto rounded border border-slate-300 bg-slate-50 p-2 text-xs dark:border-slate-700 dark:bg-slate-950"
              data-testid="file-content"
            >
              {v.text}
            </pre>
          )}
        </div>
      )}
    </section>
  );
}

function Backups({ ws }: { ws: WorkspaceView }) {
  const q = useQuery({ queryKey: ['workspace-backups', ws.id], queryFn: () => get<Backup[]>(`/api/workspaces/${enc(ws.id)}/backups`) });
  return (
    <section className="flex flex-col gap-2" aria-label="Backups">
      <h3 className="font-semibold">Backups</h3>
      <ErrorNote error={q.error} />
      {q.data?.length === 0 && <p className="text-sm">No backups yet: “Back up” makes one.</p>}
      <BackupList backups={q.data ?? []} />
    </section>
  );
}

function AllBackups() {
  const q = useQuery({ queryKey: ['backups'], queryFn: () => get<Backup[]>('/api/backups') });
  if (!q.error && !q.data?.length) return null;
  return (
    <Card title="All backups">
      <p className="mb-2 text-xs">Newest first, those of deleted workspaces included.</p>
      <ErrorNote error={q.error} />
      <BackupList backups={q.data ?? []} showWorkspace />
    </Card>
  );
}

function BackupList({ backups, showWorkspace = false }: { backups: Backup[]; showWorkspace?: boolean }) {
  const qc = useQueryClient();
  const [restoring, setRestoring] = useState<Backup | null>(null);
  const remove = useMutation({
    mutationFn: (b: Backup) => del(`/api/backups/${enc(b.id)}`),
    onSettled: (_d, _e, b) => refreshWorkspace(qc, b.workspace_id),
  });
  if (backups.length === 0) return null;
  return (
    <>
      <ErrorNote error={remove.error} />
      <ul className="flex flex-col gap-1 text-sm" aria-label={showWorkspace ? 'Every backup' : 'Backups of this workspace'}>
        {backups.map((b) => (
          <li
            key={b.id}
            className="flex flex-wrap items-center justify-between gap-2 rounded border border-slate-300 p-2 dark:border-slate-700"
            data-testid="backup-row"
          >
            <span className="min-w-0 break-all">
              {showWorkspace && <strong>{b.workspace_name} · </strong>}
              <code>{b.id}</code> · {new Date(b.created_at).toLocaleString()} · {bytes(b.bytes)}, {b.entries} {b.entries === 1 ? 'entry' : 'entries'}
            </span>
            <span className="flex gap-2">
              <Button onClick={() => setRestoring(b)} aria-label={`Restore backup ${b.id}`}>
                Restore
              </Button>
              <Button
                tone="danger"
                onClick={() => window.confirm(`Delete backup ${b.id} of ${b.workspace_name}?`) && remove.mutate(b)}
                aria-label={`Delete backup ${b.id}`}
              >
                Delete
              </Button>
            </span>
          </li>
        ))}
      </ul>
      <Restore backup={restoring} onClose={() => setRestoring(null)} />
    </>
  );
}

function Restore({ backup, onClose }: { backup: Backup | null; onClose: () => void }) {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [name, setName] = useState('');
  const restore = useMutation({
    mutationFn: () => post<WorkspaceView>(`/api/backups/${enc(backup?.id ?? '')}/restore`, { name: name.trim() || `${backup?.workspace_name}-restored` }),
    onSuccess: (w) => {
      void qc.invalidateQueries({ queryKey: ['workspaces'] });
      setName('');
      onClose();
      navigate(`/workspaces/${enc(w.id)}`);
    },
  });
  return (
    <Modal open={backup !== null} onClose={onClose} title="Restore a backup">
      <Form className="flex flex-col gap-3" onSubmit={() => restore.mutate()}>
        <p className="text-sm">
          The backup of <strong>{backup?.workspace_name}</strong> made {backup ? new Date(backup.created_at).toLocaleString() : ''} becomes a new workspace
          (after its SHA-256 is checked).
        </p>
        <Field label="New name" hint="Letters, digits, “.”, “_” and “-”.">
          <input className={inputClass} value={name} placeholder={`${backup?.workspace_name ?? ''}-restored`} onChange={(e) => setName(e.target.value)} />
        </Field>
        <ErrorNote error={restore.error} />
        <DialogActions submit="Restore" pending={restore.isPending} onCancel={onClose} />
      </Form>
    </Modal>
  );
}

function DeleteWorkspace({ ws }: { ws: WorkspaceView }) {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [removeFiles, setRemoveFiles] = useState(false);
  const [deleteBranch, setDeleteBranch] = useState(false);
  const worktree = ws.kind === 'worktree';
  const remove = useMutation({
    mutationFn: () => del(`/api/workspaces/${enc(ws.id)}?remove_files=${removeFiles}&delete_branch=${removeFiles && deleteBranch}`),
    onSuccess: () => {
      qc.setQueryData<WorkspaceView[]>(['workspaces'], (list) => list?.filter((w) => w.id !== ws.id));
      void qc.invalidateQueries({ queryKey: ['workspaces'] });
      navigate('/workspaces');
    },
  });
  return (
    <section className="flex flex-col gap-2" aria-label="Delete the workspace">
      <h3 className="font-semibold">Delete</h3>
      <p className="text-sm">Paddock forgets the workspace; its backups are kept.</p>
      <label className="flex items-center gap-2 text-sm">
        <input type="checkbox" checked={removeFiles} onChange={(e) => setRemoveFiles(e.target.checked)} />
        Remove its files too{ws.kind === 'directory' ? ' (a directory used in place is never deleted)' : ''}
      </label>
      {worktree && (
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" checked={deleteBranch} disabled={!removeFiles} onChange={(e) => setDeleteBranch(e.target.checked)} />
          Delete its branch {ws.branch} too (with its files)
        </label>
      )}
      <ErrorNote error={remove.error} />
      <div>
        <Button tone="danger" disabled={remove.isPending} onClick={() => window.confirm(`Delete workspace ${ws.name}?`) && remove.mutate()}>
          Delete workspace
        </Button>
      </div>
    </section>
  );
}

type Source = 'empty' | 'directory' | 'repo';

function CreateWorkspace({ open, onClose }: { open: boolean; onClose: () => void }) {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [source, setSource] = useState<Source>('repo');
  const [form, setForm] = useState({ name: '', repo: '', base: '', branch: '', path: '', copy: false });
  const set = (k: 'name' | 'repo' | 'base' | 'branch' | 'path') => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  const create = useMutation({
    mutationFn: () => {
      const body: NewWorkspace = { name: form.name.trim() };
      if (source === 'repo') {
        body.repo = form.repo.trim();
        if (form.base.trim()) body.base = form.base.trim();
        if (form.branch.trim()) body.branch = form.branch.trim();
      } else if (source === 'directory') {
        body.path = form.path.trim();
        if (form.copy) body.copy = true;
      }
      return post<WorkspaceView>('/api/workspaces', body);
    },
    onSuccess: (w) => {
      void qc.invalidateQueries({ queryKey: ['workspaces'] });
      setForm({ name: '', repo: '', base: '', branch: '', path: '', copy: false });
      onClose();
      navigate(`/workspaces/${enc(w.id)}`);
    },
  });
  const choices: [Source, string][] = [
    ['repo', 'A new worktree of a git repository'],
    ['directory', 'A directory on the host'],
    ['empty', 'An empty directory'],
  ];
  return (
    <Modal open={open} onClose={onClose} title="New workspace">
      <Form className="flex flex-col gap-3" onSubmit={() => create.mutate()}>
        <Field label="Name" hint="Unique: letters, digits, “.”, “_” and “-” (up to 64).">
          <input className={inputClass} value={form.name} onChange={set('name')} required />
        </Field>
        <fieldset className="flex flex-col gap-1">
          <legend className="text-sm font-medium">Start from</legend>
          {choices.map(([value, label]) => (
            <label key={value} className="flex items-center gap-2 text-sm">
              <input type="radio" name="ws-source" value={value} checked={source === value} onChange={() => setSource(value)} />
              {label}
            </label>
          ))}
        </fieldset>
        {source === 'repo' && (
          <>
            <Field label="Repository" hint="A local git repository under an allowed root; the worktree gets a new branch.">
              <input className={inputClass} value={form.repo} onChange={set('repo')} placeholder="/path/to/repo" required />
            </Field>
            <div className="grid gap-3 sm:grid-cols-2">
              <Field label="Base branch" hint="Starts from and merges into it (default: the one checked out).">
                <input className={inputClass} value={form.base} onChange={set('base')} />
              </Field>
              <Field label="New branch" hint="Made at the base branch's last commit.">
                <input className={inputClass} value={form.branch} onChange={set('branch')} placeholder={`paddock/${form.name.trim() || '…'}`} />
              </Field>
            </div>
          </>
        )}
        {source === 'directory' && (
          <>
            <Field label="Directory" hint="Under an allowed root.">
              <input className={inputClass} value={form.path} onChange={set('path')} placeholder="/path/to/dir" required />
            </Field>
            <label className="flex items-center gap-2 text-sm">
              <input type="checkbox" checked={form.copy} onChange={(e) => setForm({ ...form, copy: e.target.checked })} />
              Work on a copy (the directory itself is left alone)
            </label>
          </>
        )}
        <ErrorNote error={create.error} />
        <DialogActions submit="Create" pending={create.isPending} onCancel={onClose} />
      </Form>
    </Modal>
  );
}
