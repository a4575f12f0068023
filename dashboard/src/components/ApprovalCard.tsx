// The approval card: what a tool call would do (arguments, risk, reasons,
// the diff of a file change) and the human's choice: approve or deny, once
// or remembered as a rule for this agent or for every agent. With
// `autoFocus` (the agent screen) its heading takes the focus when it
// appears, so keyboard and screen-reader users meet it at once.

import { useEffect, useRef, useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { post } from '../api/client';
import type { ApprovalRequestedData } from '../api/types';
import { Button, ErrorNote, Field, RiskBadge, inputClass } from './ui';
import { Diff } from './Diff';
import { argumentSummary } from './ToolCall';
import { networkTarget } from '../live/timeline';
import { readOnlyReason, useWho } from '../api/me';

type Remember = 'once' | 'agent' | 'always';

/** The file a call changes (its `path` argument), labelling its diff as the timeline does. */
function changedPath(args: unknown): string | null {
  const a = args && typeof args === 'object' ? (args as Record<string, unknown>) : {};
  const p = a.path ?? a.file_path;
  return typeof p === 'string' && p ? p : null;
}

/** The `host:port` a network approval asks about (none for a tool call's). */
export function networkHost(req: ApprovalRequestedData): string | null {
  if (req.tool !== 'network') return null;
  const a = req.arguments && typeof req.arguments === 'object' ? (req.arguments as Record<string, unknown>) : {};
  return typeof a.host === 'string' && typeof a.port === 'number' ? networkTarget(a.host, a.port) : null;
}

export function ApprovalCard({
  agentId,
  agentName,
  req,
  autoFocus = false,
  owner,
}: {
  agentId: string;
  agentName?: string;
  req: ApprovalRequestedData;
  autoFocus?: boolean;
  /** Whose agent asks (the Approvals screen, where agents of several people may wait). */
  owner?: string;
}) {
  const who = useWho();
  const readOnly = readOnlyReason(who);
  // A rule for every agent is a global rule: admins only.
  const global = who?.admin ?? true;
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    // preventScroll: the card is pinned in view already; the page stays where the reader was.
    if (autoFocus) heading.current?.focus({ preventScroll: true });
  }, [autoFocus, req.call_id]);
  const [remember, setRemember] = useState<Remember>('once');
  const [reason, setReason] = useState('');
  const qc = useQueryClient();
  const decide = useMutation({
    mutationFn: (approved: boolean) =>
      post(`/api/agents/${encodeURIComponent(agentId)}/approvals/${encodeURIComponent(req.call_id)}`, {
        approved,
        ...(reason.trim() ? { reason: reason.trim() } : {}),
        ...(remember !== 'once' ? { remember } : {}),
      }),
    onSettled: () => {
      void qc.invalidateQueries({ queryKey: ['approvals'] });
      void qc.invalidateQueries({ queryKey: ['agents'] });
    },
  });
  const host = networkHost(req);
  const summary = host ? null : argumentSummary(req.tool, req.arguments);
  const rule = remember === 'agent' ? req.remember.agent : remember === 'always' ? req.remember.always : null;
  const titleId = `approval-${req.call_id}`;
  return (
    <article
      aria-labelledby={titleId}
      data-testid="approval-card"
      className="flex flex-col gap-3 rounded-lg border-2 border-amber-500 bg-amber-50 p-4 dark:border-amber-600 dark:bg-amber-950"
    >
      <div className="flex flex-wrap items-center gap-2">
        {/* h2: it sits right under the page's h1 (no heading level skipped). */}
        <h2 id={titleId} ref={heading} tabIndex={-1} className="font-semibold">
          {agentName ? `${agentName}: ` : ''}
          {host ? (
            <>
              Allow <code>{host}</code> for this agent?
            </>
          ) : (
            <>
              approve <code>{req.tool}</code>?
            </>
          )}
        </h2>
        <RiskBadge level={req.level} />
        {owner && (
          <span className="text-xs" data-testid="approval-owner">
            owner: {owner}
          </span>
        )}
        {req.expires_at && <span className="text-xs">refused automatically at {new Date(req.expires_at).toLocaleTimeString()}</span>}
      </div>
      {summary && (
        <pre tabIndex={0} className="overflow-x-auto rounded bg-white p-2 text-sm dark:bg-slate-900">
          {summary}
        </pre>
      )}
      {req.reasons.length > 0 && (
        <ul className="list-disc pl-5 text-sm">
          {req.reasons.map((r, i) => (
            <li key={i}>{r}</li>
          ))}
        </ul>
      )}
      {req.diff && <Diff diff={req.diff} label={changedPath(req.arguments) ?? 'What would change'} />}
      <details className="text-sm">
        <summary className="cursor-pointer">All arguments</summary>
        <pre tabIndex={0} className="overflow-x-auto rounded bg-white p-2 text-xs dark:bg-slate-900">
          {JSON.stringify(req.arguments, null, 2)}
        </pre>
      </details>
      <div className="flex flex-wrap items-end gap-3">
        <Field label="Remember">
          <select className={inputClass} value={remember} onChange={(e) => setRemember(e.target.value as Remember)}>
            <option value="once">just this once</option>
            <option value="agent">for this agent</option>
            {global && <option value="always">for every agent</option>}
          </select>
        </Field>
        <Field label="Reason (optional)">
          <input className={inputClass} value={reason} onChange={(e) => setReason(e.target.value)} />
        </Field>
      </div>
      {rule && (
        <p className="text-xs">
          Adds the rule <code>{rule}</code> (or its <code>deny</code> twin if you deny).
        </p>
      )}
      <ErrorNote error={decide.error} />
      <div className="flex flex-wrap items-center gap-2">
        <Button tone="primary" disabled={decide.isPending || decide.isSuccess || !!readOnly} onClick={() => decide.mutate(true)}>
          Approve
        </Button>
        <Button tone="danger" disabled={decide.isPending || decide.isSuccess || !!readOnly} onClick={() => decide.mutate(false)}>
          Deny
        </Button>
        {readOnly && <span className="text-xs">{readOnly}</span>}
      </div>
    </article>
  );
}
