// The admins' screens: Users (list, add, change a role, disable, remove,
// reset a password, make a token for a script user) and Groups (create,
// members, delete). Not in anyone else's menu; opened anyway, they say it
// is for admins (the API refuses the calls too).

import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { del, get, patch, post, put } from '../api/client';
import { useWho } from '../api/me';
import type { CreatedToken, GroupView, NewTokenRequest, NewUserRequest, UserRole, UserView } from '../api/types';
import { Button, Card, DialogActions, EmptyState, ErrorNote, Field, Form, Modal, ago, inputClass, useTitle } from '../components/ui';
import { NewTokenForm, SecretOnce } from '../components/Tokens';

const ROLES: Record<UserRole, string> = {
  viewer: 'viewer: reads what it is shown',
  member: 'member: own agents, workspaces, approvals',
  admin: 'admin: everything, every agent',
};

export function useUsers(enabled = true) {
  return useQuery({ queryKey: ['users'], queryFn: () => get<UserView[]>('/api/users'), enabled });
}

export function useGroups(enabled = true) {
  return useQuery({ queryKey: ['groups'], queryFn: () => get<GroupView[]>('/api/groups'), enabled });
}

function AdminsOnly({ title }: { title: string }) {
  useTitle(title);
  return (
    <section className="max-w-xl">
      <h1 className="mb-2 text-2xl font-bold">{title}</h1>
      <p className="text-sm" data-testid="admins-only">
        Only admins manage users and groups. Ask an admin of this Paddock if you need an account changed.
      </p>
    </section>
  );
}

function AddUser({ open, onClose }: { open: boolean; onClose: () => void }) {
  const qc = useQueryClient();
  const [form, setForm] = useState({ name: '', display_name: '', email: '', role: 'member' as UserRole, password: '' });
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  const add = useMutation({
    mutationFn: () => {
      const body: NewUserRequest = { name: form.name.trim(), role: form.role } as NewUserRequest;
      if (form.display_name.trim()) body.display_name = form.display_name.trim();
      if (form.email.trim()) body.email = form.email.trim();
      if (form.password) body.password = form.password;
      return post<UserView>('/api/users', body);
    },
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['users'] });
      setForm({ name: '', display_name: '', email: '', role: 'member', password: '' });
      onClose();
    },
  });
  return (
    <Modal open={open} onClose={onClose} title="Add a user">
      <Form className="flex flex-col gap-3" onSubmit={() => add.mutate()}>
        <Field label="Name" hint="What they sign in with: letters, digits, dot, dash, underscore.">
          <input className={inputClass} value={form.name} onChange={set('name')} required autoComplete="off" />
        </Field>
        <Field label="Display name">
          <input className={inputClass} value={form.display_name} onChange={set('display_name')} />
        </Field>
        <Field label="Email">
          <input className={inputClass} type="email" value={form.email} onChange={set('email')} />
        </Field>
        <Field label="Role">
          <select className={inputClass} value={form.role} onChange={set('role')}>
            {Object.entries(ROLES).map(([r, label]) => (
              <option key={r} value={r}>
                {label}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Password" hint="At least 12 characters. Leave empty for someone who signs in with single sign-on, or a script user that only has tokens.">
          <input className={inputClass} type="password" autoComplete="new-password" value={form.password} onChange={set('password')} />
        </Field>
        <ErrorNote error={add.error} />
        <DialogActions submit="Add user" pending={add.isPending} onCancel={onClose} />
      </Form>
    </Modal>
  );
}

function ResetPassword({ user, onClose }: { user: UserView | null; onClose: () => void }) {
  const [password, setPassword] = useState('');
  const reset = useMutation({
    mutationFn: () => patch(`/api/users/${encodeURIComponent(user?.id ?? '')}`, { password }),
    onSuccess: () => {
      setPassword('');
      onClose();
    },
  });
  return (
    <Modal open={user !== null} onClose={onClose} title={`New password for ${user?.name ?? ''}`}>
      <Form className="flex flex-col gap-3" onSubmit={() => reset.mutate()}>
        <p className="text-sm">Tell them the new password another way; they can change it under Account.</p>
        <Field label="New password" hint="At least 12 characters.">
          <input className={inputClass} type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
        </Field>
        <ErrorNote error={reset.error} />
        <DialogActions submit="Set password" pending={reset.isPending} onCancel={onClose} />
      </Form>
    </Modal>
  );
}

function ScriptToken({ user, onClose }: { user: UserView | null; onClose: () => void }) {
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const create = useMutation({
    mutationFn: (body: NewTokenRequest) => post<CreatedToken>(`/api/users/${encodeURIComponent(user?.id ?? '')}/tokens`, body),
    onSuccess: setCreated,
  });
  const close = () => {
    setCreated(null);
    create.reset();
    onClose();
  };
  return (
    <Modal open={user !== null} onClose={close} title={`A token for ${user?.name ?? ''}`}>
      <p className="text-sm">
        A personal access token acting as <strong>{user?.name}</strong> (role {user?.role}), for a script or CI.
      </p>
      {created ? (
        <SecretOnce created={created} onDone={close} />
      ) : (
        <NewTokenForm onCreate={(b) => create.mutate(b)} pending={create.isPending} error={create.error} />
      )}
    </Modal>
  );
}

export function UsersScreen() {
  const who = useWho();
  const admin = who?.admin ?? false;
  const users = useUsers(admin);
  const qc = useQueryClient();
  const [adding, setAdding] = useState(false);
  const [resetting, setResetting] = useState<UserView | null>(null);
  const [tokenFor, setTokenFor] = useState<UserView | null>(null);
  const change = useMutation({
    mutationFn: ({ id, body }: { id: string; body: Record<string, unknown> }) => patch<UserView>(`/api/users/${encodeURIComponent(id)}`, body),
    onSettled: () => qc.invalidateQueries({ queryKey: ['users'] }),
  });
  const remove = useMutation({
    mutationFn: (id: string) => del(`/api/users/${encodeURIComponent(id)}`),
    onSettled: () => qc.invalidateQueries({ queryKey: ['users'] }),
  });
  useTitle('Users');
  if (who && !admin) return <AdminsOnly title="Users" />;
  const list = users.data ?? [];
  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-end justify-between gap-3">
        <h1 className="text-2xl font-bold">Users</h1>
        <Button tone="primary" onClick={() => setAdding(true)}>
          Add user
        </Button>
      </div>
      <ErrorNote error={users.error ?? change.error ?? remove.error} />
      {users.data && list.length === 0 && (
        <EmptyState title="No users yet">Add the people who use this Paddock: each gets their own agents and keys.</EmptyState>
      )}
      <ul className="flex flex-col gap-2" aria-label="Users">
        {list.map((u) => {
          const builtIn = u.id === 'local';
          const me = u.id === who?.id;
          return (
            <li key={u.id} data-testid="user-row">
              <section
                className={`flex flex-wrap items-center gap-x-4 gap-y-2 rounded-lg border border-slate-300 bg-white p-3 dark:border-slate-700 dark:bg-slate-900 ${u.disabled ? 'opacity-75' : ''}`}
                aria-label={`User ${u.name}`}
              >
                <div className="min-w-40 flex-1">
                  <p className="font-semibold">
                    {u.display_name || u.name}
                    {u.display_name && u.display_name !== u.name && <span className="font-normal text-slate-700 dark:text-slate-300"> · {u.name}</span>}
                    {me && <span className="ml-2 rounded bg-blue-100 px-1.5 text-xs text-blue-900 dark:bg-blue-900 dark:text-blue-100">you</span>}
                    {u.disabled && (
                      <span className="ml-2 rounded bg-slate-200 px-1.5 text-xs text-slate-900 dark:bg-slate-700 dark:text-slate-100">disabled</span>
                    )}
                  </p>
                  <p className="text-xs text-slate-700 dark:text-slate-300">
                    {builtIn
                      ? 'built-in local account'
                      : [u.sso ? 'single sign-on' : null, u.has_password ? 'password' : null].filter(Boolean).join(' + ') || 'tokens only'}
                    {u.email && ` · ${u.email}`}
                    {u.groups.length > 0 && ` · groups: ${u.groups.map((g) => g.name).join(', ')}`}
                    {` · last sign-in: ${u.last_sign_in_at ? ago(u.last_sign_in_at) : 'never'}`}
                  </p>
                </div>
                <label className="flex items-center gap-2 text-sm">
                  <span className="font-medium">Role</span>
                  <select
                    className={inputClass}
                    value={u.role}
                    disabled={builtIn || change.isPending}
                    onChange={(e) => change.mutate({ id: u.id, body: { role: e.target.value } })}
                  >
                    {Object.keys(ROLES).map((r) => (
                      <option key={r} value={r}>
                        {r}
                      </option>
                    ))}
                  </select>
                </label>
                {!builtIn && (
                  <div className="flex flex-wrap gap-2">
                    <Button
                      onClick={() => change.mutate({ id: u.id, body: { disabled: !u.disabled } })}
                      disabled={me}
                      title={me ? 'You cannot disable yourself.' : undefined}
                    >
                      {u.disabled ? 'Enable' : 'Disable'}
                    </Button>
                    <Button onClick={() => setResetting(u)}>Reset password</Button>
                    <Button onClick={() => setTokenFor(u)}>New token</Button>
                    <Button
                      tone="danger"
                      aria-label={`Remove ${u.name}`}
                      disabled={me}
                      title={me ? 'You cannot remove yourself.' : undefined}
                      onClick={() => {
                        if (window.confirm(`Remove ${u.name}? Their tokens stop working; their agents stay, owned by them.`)) remove.mutate(u.id);
                      }}
                    >
                      Remove
                    </Button>
                  </div>
                )}
              </section>
            </li>
          );
        })}
      </ul>
      <AddUser open={adding} onClose={() => setAdding(false)} />
      <ResetPassword user={resetting} onClose={() => setResetting(null)} />
      <ScriptToken user={tokenFor} onClose={() => setTokenFor(null)} />
    </div>
  );
}

/** Checkboxes of every user; `value` holds user ids. */
function MemberPicker({ users, value, onChange }: { users: UserView[]; value: string[]; onChange: (ids: string[]) => void }) {
  return (
    <fieldset className="flex flex-col gap-1 text-sm">
      <legend className="mb-1 font-medium">Members</legend>
      <div className="grid max-h-64 grid-cols-1 gap-1 overflow-auto sm:grid-cols-2">
        {users
          .filter((u) => u.id !== 'local')
          .map((u) => (
            <label key={u.id} className="flex items-center gap-2">
              <input
                type="checkbox"
                checked={value.includes(u.id)}
                onChange={(e) => onChange(e.target.checked ? [...value, u.id] : value.filter((v) => v !== u.id))}
              />
              {u.display_name || u.name}
              {u.display_name && u.display_name !== u.name && <span className="text-xs text-slate-700 dark:text-slate-300">({u.name})</span>}
            </label>
          ))}
      </div>
    </fieldset>
  );
}

function GroupDialog({ open, group, onClose }: { open: boolean; group: GroupView | null; onClose: () => void }) {
  const users = useUsers(open);
  const qc = useQueryClient();
  const [name, setName] = useState(group?.name ?? '');
  const [members, setMembers] = useState<string[]>(group?.members.map((m) => m.id) ?? []);
  const save = useMutation({
    mutationFn: () =>
      group
        ? put<GroupView>(`/api/groups/${encodeURIComponent(group.id)}`, { name: name.trim(), members })
        : post<GroupView>('/api/groups', { name: name.trim(), members }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['groups'] });
      void qc.invalidateQueries({ queryKey: ['users'] });
      onClose();
    },
  });
  return (
    <Modal open={open} onClose={onClose} title={group ? `Group ${group.name}` : 'New group'}>
      <Form className="flex flex-col gap-3" onSubmit={() => save.mutate()}>
        <Field label="Group name">
          <input className={inputClass} value={name} onChange={(e) => setName(e.target.value)} required />
        </Field>
        <ErrorNote error={users.error} />
        <MemberPicker users={users.data ?? []} value={members} onChange={setMembers} />
        <ErrorNote error={save.error} />
        <DialogActions submit={group ? 'Save' : 'Create group'} pending={save.isPending} onCancel={onClose} />
      </Form>
    </Modal>
  );
}

export function GroupsScreen() {
  const who = useWho();
  const admin = who?.admin ?? false;
  const groups = useGroups(admin);
  const qc = useQueryClient();
  // `undefined`: closed; `null`: a new group; else the group edited.
  const [editing, setEditing] = useState<GroupView | null | undefined>(undefined);
  const remove = useMutation({
    mutationFn: (id: string) => del(`/api/groups/${encodeURIComponent(id)}`),
    onSettled: () => qc.invalidateQueries({ queryKey: ['groups'] }),
  });
  useTitle('Groups');
  if (who && !admin) return <AdminsOnly title="Groups" />;
  const list = groups.data ?? [];
  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-end justify-between gap-3">
        <h1 className="text-2xl font-bold">Groups</h1>
        <Button tone="primary" onClick={() => setEditing(null)}>
          New group
        </Button>
      </div>
      <p className="max-w-prose text-sm">An agent shared with a group is seen and driven by each of its members. Budgets can be set per group in Settings.</p>
      <ErrorNote error={groups.error ?? remove.error} />
      {groups.data && list.length === 0 && <EmptyState title="No groups yet">Make a group for a team, then share agents with all of it at once.</EmptyState>}
      <div className="grid gap-3 md:grid-cols-2">
        {list.map((g) => (
          <Card
            key={g.id}
            title={g.name}
            actions={
              <>
                <Button onClick={() => setEditing(g)} aria-label={`Members of ${g.name}`}>
                  Members
                </Button>
                <Button
                  tone="danger"
                  aria-label={`Delete ${g.name}`}
                  onClick={() => {
                    if (window.confirm(`Delete the group ${g.name}? Agents shared with it are no longer shared with its members.`)) remove.mutate(g.id);
                  }}
                >
                  Delete
                </Button>
              </>
            }
          >
            <p className="text-sm" data-testid="group-members">
              {g.members.length ? g.members.map((m) => m.name).join(', ') : 'No members yet.'}
            </p>
          </Card>
        ))}
      </div>
      {editing !== undefined && <GroupDialog open group={editing} onClose={() => setEditing(undefined)} />}
    </div>
  );
}

/** Shown on an agent's page: the people it is shared with. */
export function shareNames(shares: { kind: string; name: string }[]): string {
  return shares.map((s) => (s.kind === 'group' ? `${s.name} (group)` : s.name)).join(', ');
}
