// The Share dialog of an agent's page: the users and groups that may see and
// drive the agent besides its owner (`GET`/`PUT /api/agents/{id}/shares`).
// Anyone may name a user or group (members cannot list users); admins also
// get the lists to pick from.

import { useEffect, useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { get, put } from '../api/client';
import type { ShareView } from '../api/types';
import { useGroups, useUsers } from '../screens/Team';
import { Button, DialogActions, ErrorNote, Field, Form, Modal, inputClass } from './ui';

type Kind = 'user' | 'group';
interface Entry {
  kind: Kind;
  /** An id (picked from a list or already shared) or a name (typed). */
  ref: string;
  label: string;
}

/** The body of `PUT /api/agents/{id}/shares`. */
export function shareBody(entries: Entry[]): { users: string[]; groups: string[] } {
  return {
    users: entries.filter((e) => e.kind === 'user').map((e) => e.ref),
    groups: entries.filter((e) => e.kind === 'group').map((e) => e.ref),
  };
}

export function ShareDialog({
  agentId,
  agentName,
  open,
  onClose,
  admin,
}: {
  agentId: string;
  agentName: string;
  open: boolean;
  onClose: () => void;
  admin: boolean;
}) {
  const qc = useQueryClient();
  const shares = useQuery({
    queryKey: ['shares', agentId],
    queryFn: () => get<ShareView[]>(`/api/agents/${encodeURIComponent(agentId)}/shares`),
    enabled: open,
  });
  const users = useUsers(open && admin);
  const groups = useGroups(open && admin);
  const [entries, setEntries] = useState<Entry[]>([]);
  const [kind, setKind] = useState<Kind>('user');
  const [name, setName] = useState('');
  useEffect(() => {
    if (open && shares.data) setEntries(shares.data.map((s) => ({ kind: s.kind as Kind, ref: s.id, label: s.name })));
  }, [open, shares.data]);
  const save = useMutation({
    mutationFn: () => put<ShareView[]>(`/api/agents/${encodeURIComponent(agentId)}/shares`, shareBody(entries)),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['shares', agentId] });
      void qc.invalidateQueries({ queryKey: ['agent', agentId] });
      void qc.invalidateQueries({ queryKey: ['agents'] });
      onClose();
    },
  });
  const add = (e: Entry) => {
    if (!entries.some((x) => x.kind === e.kind && (x.ref === e.ref || x.label === e.label))) setEntries([...entries, e]);
  };
  const options = kind === 'user' ? (users.data ?? []).filter((u) => u.id !== 'local').map((u) => ({ id: u.id, name: u.name })) : (groups.data ?? []);

  return (
    <Modal open={open} onClose={onClose} title={`Share ${agentName}`}>
      <p className="text-sm">
        The people and groups listed here see this agent and can drive it: message it, interrupt it, decide its approvals. Its owner and admins always can.
      </p>
      <ErrorNote error={shares.error} />
      <ul className="flex flex-col gap-1 text-sm" aria-label="Shared with">
        {entries.map((e) => (
          <li
            key={`${e.kind}:${e.ref}`}
            className="flex items-center justify-between gap-2 rounded border border-slate-300 px-2 py-1 dark:border-slate-700"
            data-testid="share-entry"
          >
            <span>
              {e.label} <span className="text-xs text-slate-700 dark:text-slate-300">({e.kind})</span>
            </span>
            <Button aria-label={`Remove ${e.label}`} onClick={() => setEntries(entries.filter((x) => x !== e))}>
              Remove
            </Button>
          </li>
        ))}
        {shares.data && entries.length === 0 && <li>Not shared: only its owner and admins see it.</li>}
      </ul>
      <Form
        className="flex flex-wrap items-end gap-2"
        onSubmit={() => {
          const typed = name.trim();
          if (!typed) return;
          const known = options.find((o) => o.name === typed || o.id === typed);
          add({ kind, ref: known?.id ?? typed, label: known?.name ?? typed });
          setName('');
        }}
      >
        <Field label="Share with">
          <select className={inputClass} value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
            <option value="user">a user</option>
            <option value="group">a group</option>
          </select>
        </Field>
        <Field label={kind === 'user' ? 'User name' : 'Group name'}>
          <input className={inputClass} value={name} onChange={(e) => setName(e.target.value)} list={admin ? `share-${kind}s` : undefined} autoComplete="off" />
        </Field>
        {admin && (
          <datalist id={`share-${kind}s`}>
            {options.map((o) => (
              <option key={o.id} value={o.name} />
            ))}
          </datalist>
        )}
        <Button type="submit" disabled={!name.trim()}>
          Add
        </Button>
      </Form>
      <Form className="flex flex-col gap-2" onSubmit={() => save.mutate()}>
        <ErrorNote error={save.error} />
        <DialogActions submit="Save sharing" pending={save.isPending} onCancel={onClose} />
      </Form>
    </Modal>
  );
}
