// What one model call shows in an agent's timeline: its usage line (tokens,
// reasoning tokens, cost, retries, routing, and the failover that served
// it) and the reasoning summary ("Thinking") of its answer, collapsed.

import type { SkippedTarget, UsageData } from '../api/types';
import { usd } from './ui';

function target(t: { provider: string; model: string }): string {
  return `${t.provider}/${t.model}`;
}

/** One target the call passed on from, and why. */
function skippedText(t: SkippedTarget): string {
  switch (t.why) {
    case 'failed':
      return `${target(t)} failed: ${t.message}`;
    case 'circuit_open':
      return `${target(t)} was passed over: circuit open`;
  }
}

/** The usage line of a model call: tokens (reasoning among the output), cost, time, retries, price and route. */
export function usageText(u: UsageData): string {
  const reasoning = u.reasoning_tokens ?? 0;
  let text = `${u.model}: ${u.input_tokens} in (${u.cached_tokens} cached) / ${u.output_tokens} out`;
  if (reasoning > 0) text += ` (${reasoning} reasoning)`;
  text += ` · ${usd(u.cost_usd)} · ${u.duration_ms} ms`;
  if (u.attempts > 1) text += ` · ${u.attempts} attempts`;
  if (u.price_known === false) text += ' · unknown price';
  if (u.route) text += ` · routed ${u.route.tier} (${u.route.reason})`;
  return text;
}

/** How failover served the call (null: its first target did). */
export function failoverText(u: UsageData): string | null {
  const skipped = u.failover ?? [];
  if (skipped.length === 0) return null;
  return `served by ${target(u)} after ${skipped.map(skippedText).join('; ')}`;
}

/** A model call's usage, with its failover on a line of its own. */
export function UsageLine({ usage }: { usage: UsageData }) {
  const failover = failoverText(usage);
  // The breaker's own words (when it is tried again) for a target passed over.
  const open = (usage.failover ?? []).filter((t) => t.why === 'circuit_open').map((t) => `${target(t)}: ${t.message}`);
  return (
    <div className="text-xs text-slate-700 dark:text-slate-300" data-testid="usage-line">
      <p>{usageText(usage)}</p>
      {failover && (
        <p className="text-amber-900 dark:text-amber-200" data-testid="usage-failover" title={open.length ? open.join('\n') : undefined}>
          <span aria-hidden="true">↪ </span>
          {failover}
        </p>
      )}
    </div>
  );
}

/**
 * The model's reasoning summary, collapsed: the stored one of an answer,
 * or (`live`) the one streaming before the answer's text, with a pulse
 * while it is still the latest thing streamed (`active`).
 */
export function Thinking({
  text,
  live = false,
  active = false,
  open,
  onToggle,
}: {
  text: string;
  live?: boolean;
  active?: boolean;
  open: boolean;
  onToggle: (open: boolean) => void;
}) {
  return (
    <details
      className="mb-2 rounded border border-slate-200 bg-slate-50 text-sm dark:border-slate-700 dark:bg-slate-800"
      data-testid={live ? 'thinking-live' : 'thinking'}
      open={open}
      onToggle={(e) => onToggle(e.currentTarget.open)}
    >
      <summary className="cursor-pointer px-2 py-1 text-xs font-semibold text-slate-700 dark:text-slate-300">
        {active && <span aria-hidden="true" className="mr-1 inline-block h-2 w-2 rounded-full bg-blue-600 motion-safe:animate-pulse dark:bg-blue-400" />}
        {live ? 'Thinking…' : 'Thinking'}
      </summary>
      <div className="px-2 pb-2 whitespace-pre-wrap text-slate-800 dark:text-slate-200">{text}</div>
    </details>
  );
}
