// An agent's family: the agent that started it with `delegate` (its
// parent, a link) and the sub-agents it started (its children, links with
// their status), shown in the agent screen's header when it has them.

import { Link } from 'react-router-dom';
import { useQuery } from '@tanstack/react-query';
import { get } from '../api/client';
import type { AgentView } from '../api/types';
import { StatusBadge } from './Status';

const enc = encodeURIComponent;

export function AgentFamily({ agent }: { agent: AgentView }) {
  const parentId = agent.parent ?? null;
  const hasChildren = agent.children.length > 0;
  const parent = useQuery({
    queryKey: ['agent', parentId],
    queryFn: () => get<AgentView>(`/api/agents/${enc(parentId ?? '')}`),
    enabled: parentId !== null,
    retry: false,
  });
  const children = useQuery({
    queryKey: ['agents', 'children', agent.id],
    queryFn: () => get<AgentView[]>(`/api/agents?parent=${enc(agent.id)}`),
    enabled: hasChildren,
    refetchInterval: 3000,
  });
  if (!parentId && !hasChildren) return null;
  // The children as listed (names, statuses), else their ids until the list answers.
  const listed = new Map((children.data ?? []).map((c) => [c.id, c]));
  return (
    <div className="mt-1 flex flex-col gap-1 text-xs" data-testid="agent-family">
      {parentId && (
        <p className="break-words" data-testid="agent-parent">
          <span className="text-slate-700 dark:text-slate-300">Sub-agent of </span>
          <Link to={`/agents/${enc(parentId)}`} className="font-medium text-blue-800 underline dark:text-blue-300">
            {parent.data?.name ?? parentId}
          </Link>
          {parent.data && (
            <>
              {' '}
              <StatusBadge status={parent.data.status} />
            </>
          )}
        </p>
      )}
      {hasChildren && (
        <div className="flex flex-wrap items-center gap-x-2 gap-y-1">
          <span className="text-slate-700 dark:text-slate-300">Sub-agents ({agent.children.length}):</span>
          <ul className="flex flex-wrap gap-x-3 gap-y-1" aria-label="Sub-agents" data-testid="agent-children">
            {agent.children.map((id) => {
              const c = listed.get(id);
              return (
                <li key={id} className="inline-flex min-w-0 items-center gap-1" data-testid="agent-child">
                  <Link to={`/agents/${enc(id)}`} className="min-w-0 font-medium break-all text-blue-800 underline dark:text-blue-300">
                    {c?.name ?? id}
                  </Link>
                  {c && <StatusBadge status={c.status} />}
                </li>
              );
            })}
          </ul>
        </div>
      )}
    </div>
  );
}
