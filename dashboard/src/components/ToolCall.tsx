// One tool call in the timeline: its arguments, the policy decision, the
// approval, how long it ran and how long it waited for approval, its
// result (a non-zero exit is a failure) — shell output in a terminal view,
// file writes and edits as diffs (the approval's diff when there was one,
// the very diff the approval card showed).

import { toolState, type ToolItem, type ToolState } from '../live/timeline';
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

/**
 * The diff a call makes, as shown everywhere: the approval's diff when it
 * was asked for (the one the approval card showed), else the one its
 * arguments show.
 */
export function callChange(item: ToolItem): { path: string; diff: string } | null {
  const args = item.call.arguments as Args;
  const asked = item.approval;
  if (asked?.diff) {
    const a = (asked.arguments ?? args) as Args;
    return { path: str(a?.path) ?? str(a?.file_path) ?? str(args?.path) ?? '', diff: asked.diff };
  }
  return fileChange(item.call.tool, args);
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

/** A duration for people: `340 ms`, `1.2 s`, `34 s`, `2 min 5 s`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return s ? `${m} min ${s} s` : `${m} min`;
}

/** Run time and approval wait, kept apart: "ran 1.2 s · waited 34 s for approval". */
export function timesText(st: ToolState): string {
  const parts: string[] = [];
  if (st.runMs !== null) parts.push(`ran ${duration(st.runMs)}`);
  if (st.waitMs !== null) parts.push(`waited ${duration(st.waitMs)} for approval`);
  return parts.join(' · ');
}

/** The state's words and colour (the colour is never the only sign). */
export function stateText(st: ToolState, refusedAs?: string): { text: string; cls: string } {
  const red = 'text-red-800 dark:text-red-300';
  switch (st.phase) {
    case 'waiting':
      return { text: 'waiting for approval', cls: 'text-amber-900 dark:text-amber-200' };
    case 'refused':
      return { text: refusedAs ? `refused (${refusedAs})` : 'refused', cls: red };
    case 'denied':
      return { text: 'denied by policy', cls: red };
    case 'running':
      return { text: 'running', cls: 'text-blue-900 dark:text-blue-200' };
    case 'failed':
      return { text: st.exitCode !== null && st.exitCode !== 0 ? `failed · exit ${st.exitCode}` : 'failed', cls: red };
    case 'ok':
      return { text: st.exitCode !== null ? 'ok · exit 0' : 'ok', cls: 'text-green-800 dark:text-green-300' };
  }
}

export function ToolCallView({ item, open, onToggle }: { item: ToolItem; open: boolean; onToggle: (open: boolean) => void }) {
  const { call, decision, decided, result } = item;
  const change = callChange(item);
  const shellText = item.output || (result && SHELL_TOOLS.has(call.tool) ? result.content : '');
  const st = toolState(item);
  const { text: state, cls: stateClass } = stateText(st, decided?.status);
  const times = timesText(st);
  const failed = st.phase === 'failed';
  return (
    <details
      open={open}
      onToggle={(e) => onToggle((e.currentTarget as HTMLDetailsElement).open)}
      className={`rounded-lg border bg-white dark:bg-slate-900 ${failed ? 'border-red-400 dark:border-red-800' : 'border-slate-300 dark:border-slate-700'}`}
      data-testid="tool-call"
      data-state={st.phase}
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
        <span className={`text-xs font-semibold ${stateClass}`} data-testid="tool-state">
          {failed && <span aria-hidden="true">✗ </span>}
          {state}
        </span>
        {times && (
          <span className="text-xs text-slate-700 dark:text-slate-300" data-testid="tool-times">
            {times}
          </span>
        )}
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
            <Terminal text={shellText} label={`output of ${argumentSummary(call.tool, call.arguments) || call.tool} (call ${call.call_id})`} />
          ) : (
            result && (
              <pre
                className="max-h-80 overflow-auto rounded bg-slate-100 p-2 text-xs whitespace-pre-wrap dark:bg-slate-800"
                tabIndex={0}
                aria-label={`result of ${call.tool} (call ${call.call_id})`}
              >
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
