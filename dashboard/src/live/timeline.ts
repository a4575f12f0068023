// An agent's timeline, reduced from its event log: pure functions, so the
// live view, the resume after a reconnect and the step-by-step replay all
// come from the same code (and the unit tests check it).
//
// Stored events carry a gapless per-agent `seq`. The reducer applies them in
// order exactly once: an event at or below `lastSeq` is a duplicate and is
// dropped; one beyond `lastSeq + 1` waits in `ahead` until the gap is filled
// (the socket client fetches the missing range). `message.delta` and
// `message.reasoning` are live only and carry the seq of the last stored
// event: they extend the streaming text (the answer's, the reasoning
// summary's) while that is still the latest event. The stored answer
// (`message.assistant`, with its reasoning summary) replaces both.

import type {
  AgentEvent,
  AgentStatus,
  ApprovalDecidedData,
  AssistantData,
  ErrorCode,
  ApprovalRequestedData,
  PolicyDecisionData,
  ToolCallData,
  ToolResultData,
  UsageData,
} from '../api/types';

export interface ToolItem {
  kind: 'tool';
  seq: number;
  ts: string;
  call: ToolCallData;
  decision?: PolicyDecisionData;
  approval?: ApprovalRequestedData;
  decided?: ApprovalDecidedData;
  /** Live output chunks (stdout and stderr, in order). */
  output: string;
  result?: ToolResultData;
}

export type Item =
  | { kind: 'user'; seq: number; ts: string; text: string }
  | {
      kind: 'assistant';
      seq: number;
      ts: string;
      text: string;
      finishReason: string;
      toolCalls: number;
      /** The reasoning summary's parts, in order (empty: none given). */
      reasoning: string[];
    }
  | ToolItem
  | { kind: 'status'; seq: number; ts: string; status: AgentStatus; reason?: string | null }
  | { kind: 'error'; seq: number; ts: string; code: ErrorCode; message: string; recoverable: boolean }
  | { kind: 'usage'; seq: number; ts: string; usage: UsageData };

export interface UsageTotals {
  modelCalls: number;
  inputTokens: number;
  outputTokens: number;
  /** Of the output tokens, those spent reasoning. */
  reasoningTokens: number;
  cachedTokens: number;
  costUsd: number;
  toolCalls: number;
  toolFailures: number;
}

export interface Timeline {
  /** The highest stored seq applied. */
  lastSeq: number;
  items: Item[];
  /** call_id -> index in `items`. */
  tools: Record<string, number>;
  /** Text streamed since the last stored event (live only). */
  streaming: string;
  /** Reasoning summary streamed since the last stored event (live only). */
  thinking: string;
  status: AgentStatus | null;
  statusReason: string | null;
  /** Approvals asked and not yet decided, by call_id. */
  pending: Record<string, ApprovalRequestedData>;
  usage: UsageTotals;
  /** Events received beyond a gap, by seq, applied once it is filled. */
  ahead: Record<number, AgentEvent>;
}

export function emptyTimeline(): Timeline {
  return {
    lastSeq: 0,
    items: [],
    tools: {},
    streaming: '',
    thinking: '',
    status: null,
    statusReason: null,
    pending: {},
    usage: {
      modelCalls: 0,
      inputTokens: 0,
      outputTokens: 0,
      reasoningTokens: 0,
      cachedTokens: 0,
      costUsd: 0,
      toolCalls: 0,
      toolFailures: 0,
    },
    ahead: {},
  };
}

/** Whether an event is live only (never stored, so never replayed). */
export function isLiveOnly(ev: AgentEvent): boolean {
  return ev.type === 'message.delta' || ev.type === 'message.reasoning';
}

/**
 * Errors after which the host drops what the model streamed so far: a
 * retried attempt, or one failed over to the next provider.
 */
const DISCARDS_STREAM: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['model_retry', 'model_failover']);

/** The summary parts of an answer's reasoning items, in order. */
export function reasoningSummary(data: AssistantData): string[] {
  return (data.reasoning ?? []).flatMap((r) => r.summary ?? []).filter((part) => part.trim() !== '');
}

/** Whether events are missing between `lastSeq` and what is waiting. */
export function hasGap(tl: Timeline): boolean {
  return Object.keys(tl.ahead).length > 0;
}

function updateTool(tl: Timeline, callId: string, f: (t: ToolItem) => ToolItem): void {
  const i = tl.tools[callId];
  if (i === undefined) return;
  const item = tl.items[i];
  if (item.kind === 'tool') tl.items[i] = f(item);
}

/**
 * Updates the item of call `callId`, first making one when the call shows up
 * before its `tool.call` event (the policy decides, and a human may approve,
 * before a call runs; a denied call never runs; an unknown tool only gets a
 * result).
 */
function upsertTool(
  tl: Timeline,
  at: { seq: number; ts: string },
  call: { call_id: string; tool: string; arguments?: unknown },
  f: (t: ToolItem) => ToolItem,
): void {
  if (tl.tools[call.call_id] === undefined) {
    tl.tools[call.call_id] = tl.items.length;
    tl.items.push({
      kind: 'tool',
      ...at,
      call: { call_id: call.call_id, tool: call.tool, arguments: call.arguments ?? null, read_only: false },
      output: '',
    });
  }
  updateTool(tl, call.call_id, f);
}

/** Applies one stored event that is exactly the next in order (mutates `tl`). */
function applyNext(tl: Timeline, ev: AgentEvent): void {
  const base = { seq: ev.seq, ts: ev.ts };
  tl.lastSeq = ev.seq;
  switch (ev.type) {
    case 'agent.created':
      break;
    case 'agent.status': {
      tl.status = ev.data.status;
      tl.statusReason = ev.data.reason ?? null;
      if (ev.data.status !== 'thinking') {
        tl.streaming = '';
        tl.thinking = '';
      }
      // Statuses with a reason (an interrupt, a limit, a restart) are worth a line.
      if (ev.data.reason) tl.items.push({ kind: 'status', ...base, status: ev.data.status, reason: ev.data.reason });
      break;
    }
    case 'message.user':
      tl.items.push({ kind: 'user', ...base, text: ev.data.text });
      break;
    case 'message.assistant': {
      tl.streaming = '';
      tl.thinking = '';
      const reasoning = reasoningSummary(ev.data);
      // An answer that only asks for tools shows through its tool items,
      // unless it has a reasoning summary to show.
      if (ev.data.text || !ev.data.tool_calls?.length || reasoning.length > 0) {
        tl.items.push({
          kind: 'assistant',
          ...base,
          text: ev.data.text ?? '',
          finishReason: ev.data.finish_reason,
          toolCalls: ev.data.tool_calls?.length ?? 0,
          reasoning,
        });
      }
      break;
    }
    case 'tool.call': {
      const call = ev.data;
      upsertTool(tl, base, call, (t) => ({ ...t, call }));
      break;
    }
    case 'policy.decision': {
      const data = ev.data;
      upsertTool(tl, base, data, (t) => ({ ...t, decision: data }));
      break;
    }
    case 'approval.requested': {
      const data = ev.data;
      tl.pending = { ...tl.pending, [data.call_id]: data };
      upsertTool(tl, base, data, (t) => ({
        ...t,
        approval: data,
        call: t.call.arguments === null ? { ...t.call, arguments: data.arguments } : t.call,
      }));
      break;
    }
    case 'approval.decided': {
      const data = ev.data;
      const { [data.call_id]: _gone, ...rest } = tl.pending;
      void _gone;
      tl.pending = rest;
      updateTool(tl, data.call_id, (t) => ({ ...t, decided: data }));
      break;
    }
    case 'tool.output': {
      const data = ev.data;
      updateTool(tl, data.call_id, (t) => ({ ...t, output: t.output + data.chunk }));
      break;
    }
    case 'tool.result': {
      const data = ev.data;
      tl.usage = {
        ...tl.usage,
        toolCalls: tl.usage.toolCalls + 1,
        toolFailures: tl.usage.toolFailures + (data.success ? 0 : 1),
      };
      upsertTool(tl, base, data, (t) => ({ ...t, result: data }));
      break;
    }
    case 'usage': {
      const u = ev.data;
      tl.usage = {
        ...tl.usage,
        modelCalls: tl.usage.modelCalls + 1,
        inputTokens: tl.usage.inputTokens + u.input_tokens,
        outputTokens: tl.usage.outputTokens + u.output_tokens,
        reasoningTokens: tl.usage.reasoningTokens + (u.reasoning_tokens ?? 0),
        cachedTokens: tl.usage.cachedTokens + u.cached_tokens,
        costUsd: tl.usage.costUsd + u.cost_usd,
      };
      tl.items.push({ kind: 'usage', ...base, usage: u });
      break;
    }
    case 'error':
      if (DISCARDS_STREAM.has(ev.data.code)) {
        tl.streaming = '';
        tl.thinking = '';
      }
      tl.items.push({
        kind: 'error',
        ...base,
        code: ev.data.code,
        message: ev.data.message,
        recoverable: ev.data.recoverable,
      });
      break;
    default:
      break;
  }
}

/**
 * Applies events (stored or live, in any order, duplicates allowed) and
 * returns a new timeline; `tl` is not changed. Items that did not change
 * keep their identity, so memoised rows do not re-render.
 */
export function applyEvents(tl: Timeline, events: readonly AgentEvent[]): Timeline {
  if (events.length === 0) return tl;
  const next: Timeline = { ...tl, items: tl.items.slice(), tools: { ...tl.tools }, ahead: { ...tl.ahead } };
  for (const ev of events) {
    if (ev.type === 'message.delta' || ev.type === 'message.reasoning') {
      // Live only: belongs to the answer after the latest stored event.
      if (ev.seq === next.lastSeq && !hasGap(next)) {
        if (ev.type === 'message.delta') next.streaming += ev.data.text;
        else next.thinking += ev.data.text;
      }
      continue;
    }
    if (ev.seq <= next.lastSeq) continue; // a duplicate
    if (ev.seq > next.lastSeq + 1) {
      next.ahead[ev.seq] = ev;
      continue;
    }
    applyNext(next, ev);
    // Drain what was waiting behind the gap.
    for (let n = next.lastSeq + 1; next.ahead[n] !== undefined; n = next.lastSeq + 1) {
      const waiting = next.ahead[n];
      delete next.ahead[n];
      applyNext(next, waiting);
    }
  }
  // Anything at or below lastSeq that waited is a duplicate now.
  for (const k of Object.keys(next.ahead)) {
    if (Number(k) <= next.lastSeq) delete next.ahead[Number(k)];
  }
  return next;
}

/** The timeline after the first `step` stored events (replay). */
export function replayTo(events: readonly AgentEvent[], step: number): Timeline {
  const stored = events.filter((e) => !isLiveOnly(e));
  return applyEvents(emptyTimeline(), stored.slice(0, Math.max(0, step)));
}
