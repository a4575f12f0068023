// One tool call in the timeline: its arguments, the policy decision, the
// approval, how long it took and its result — shell output in a terminal
// view, file writes and edits as diffs.

import type { ToolItem } from '../live/timeline';
import { Diff, unifiedDiff } from './Diff';
import { Terminal } from './Terminal';
import { RiskBadge } from './ui';

type Args = Record<string, unknown> | null | undefined;

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** One line saying what a call does: its command, path, URL or operation. */
export function argumentSummary(tool: string, args: unknown): string {
  const a = (args && typeof args === 'object' ? args : {}) as Record<string, unknown>;
  const cmd = str(a.command);
  if (cmd) return `$ ${cmd}`;
  const path = str(a.path) ?? str(a.file_path);
  if (path) return `${tool} ${path}`;
  const url = str(a.url);
  if (url) return `${tool} ${url}`;
  const op = str(a.operation);
  if (op) return `git ${op}${Array.isArray(a.args) ? ' ' + a.args.join(' ') : ''}`;
  if (args === null || args === undefined) return '';
  const text = JSON.stringify(args);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** The diff a write or edit makes, when its arguments show it. */
export function fileChange(tool: string, args: Args): { path: string; diff: string } | null {
  if (!args) return null;
  const path = str(args.path) ?? str(args.file_path);
  if (!path) return null;
  if (tool === 'edit_file') {
    const before = str(args.old_string);
    const after = str(args.new_string);
    if (before !== undefined && after !== undefined) return { path, diff: unifiedDiff(path, before, after) };
  }
  if (tool === 'write_file') {
    const content = str(args.content);
    if (content !== undefined) return { path, diff: unifiedDiff(path, '', content) };
  }
  return null;
}

const SHELL_TOOLS = new Set(['execute_bash', 'git', 'git_operation']);

export function ToolCallView({ item, open, onToggle }: { item: ToolItem; open: boolean; onToggle: (open: boolean) => void }) {
  const { call, decision, approval, decided, result } = item;
  const args = call.arguments as Args;
  const change = approval?.diff ? { path: str(args?.path) ?? '', diff: approval.diff } : fileChange(call.tool, args);
  const shellText = item.output || (result && SHELL_TOOLS.has(call.tool) ? result.content : '');
  let state = 'running';
  let stateClass = 'text-blue-900 dark:text-blue-200';
  if (approval && !decided) {
    state = 'waiting for approval';
    stateClass = 'text-amber-900 dark:text-amber-200';
  } else if (decided && !decided.approved) {
    state = `refused (${decided.status})`;
    stateClass = 'text-red-800 dark:text-red-300';
  } else if (decision?.action === 'deny') {
    state = 'denied by policy';
    stateClass = 'text-red-800 dark:text-red-300';
  } else if (result) {
    state = result.success ? `ok · ${result.duration_ms} ms` : `failed · ${result.duration_ms} ms`;
    stateClass = result.success ? 'text-green-800 dark:text-green-300' : 'text-red-800 dark:text-red-300';
  }
  return (
    <details
      open={open}
      onToggle={(e) => onToggle((e.currentTarget as HTMLDetailsElement).open)}
      className="rounded-lg border border-slate-300 bg-white dark:border-slate-700 dark:bg-slate-900"
      data-testid="tool-call"
    >
      <summary className="flex cursor-pointer flex-wrap items-center gap-2 p-2 text-sm">
        <code className="font-semibold">{call.tool}</code>
        <span className="min-w-0 flex-1 truncate font-mono text-xs">{argumentSummary(call.tool, call.arguments)}</span>
        {decision && (
          <span className="text-xs">
            policy: <strong>{decision.action}</strong>
          </span>
        )}
        {decision && <RiskBadge level={decision.level} />}
        <span className={`text-xs font-semibold ${stateClass}`}>{state}</span>
      </summary>
      {open && (
        <div className="flex flex-col gap-2 border-t border-slate-200 p-2 dark:border-slate-700">
          {decision && decision.reasons.length > 0 && (
            <p className="text-xs">
              Why: {decision.reasons.join('; ')}
              {decision.rule ? ` (rule: ${decision.rule})` : ''}
            </p>
          )}
          {decided && (
            <p className="text-xs">
              {decided.approved ? 'Approved' : 'Refused'} by {decided.by}
              {decided.reason ? `: ${decided.reason}` : ''}
              {decided.rule ? ` — remembered as ${decided.rule} (${decided.rule_scope})` : ''}
            </p>
          )}
          {change && <Diff diff={change.diff} label={change.path || call.tool} />}
          {SHELL_TOOLS.has(call.tool) && shellText ? (
            <Terminal text={shellText} label={`output of ${call.tool}`} />
          ) : (
            result && (
              <pre className="max-h-80 overflow-auto rounded bg-slate-100 p-2 text-xs whitespace-pre-wrap dark:bg-slate-800" tabIndex={0} aria-label="result">
                {result.content}
              </pre>
            )
          )}
          {result && (result.truncated_bytes ?? 0) > 0 && <p className="text-xs">{result.truncated_bytes} bytes cut from the middle.</p>}
          <details className="text-xs">
            <summary className="cursor-pointer">Arguments</summary>
            <pre tabIndex={0} className="overflow-x-auto">
              {JSON.stringify(call.arguments, null, 2)}
            </pre>
          </details>
        </div>
      )}
    </details>
  );
}
