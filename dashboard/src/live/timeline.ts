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
//
// Reviewing helpers live here too: consecutive model retries collapse into
// one item, a fatal error's status line is not repeated, each tool call's
// state (ok, failed by its exit code, refused, waiting) and run/approval
// times are read in one place, and the commands an agent ran are listed
// for the terminal view.

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
  EnvironmentSetupData,
  HookData,
} from '../api/types';

// until openapi has it: fields newer hosts add to events (absent in old logs).
interface ToolResultExtra {
  /** A command's exit code (none for tools that are not commands). */
  exit_code?: number | null;
  /** How long the call waited for a human before it ran. */
  approval_wait_ms?: number | null;
}
// until openapi has it: the structured fields of a `model_retry` error.
interface RetryExtra {
  attempt?: number | null;
  max_attempts?: number | null;
  retry_in_ms?: number | null;
}

/** A command's exit code, when the host reported one. */
export function exitCode(r: ToolResultData): number | null {
  const c = (r as ToolResultData & ToolResultExtra).exit_code;
  return typeof c === 'number' ? c : null;
}

/** How long a call waited for approval (null: it did not, or an older host did not say). */
export function approvalWaitMs(r: ToolResultData): number | null {
  const w = (r as ToolResultData & ToolResultExtra).approval_wait_ms;
  return typeof w === 'number' && w > 0 ? w : null;
}

/** Whether a call failed: the host said so, or its command exited non-zero. */
export function resultFailed(r: ToolResultData): boolean {
  const code = exitCode(r);
  return !r.success || (code !== null && code !== 0);
}

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
  | RetriesItem
  | EnvironmentItem
  | { kind: 'usage'; seq: number; ts: string; usage: UsageData }
  | { kind: 'hook'; seq: number; ts: string; hook: HookData };

/** One setup command of an environment: what ran, what it printed, how it ended. */
export interface SetupCommand {
  phase: string | null;
  command: string;
  output: string;
  exitCode: number | null;
  durationMs: number | null;
}

/** Preparing the agent's environment (its `environment.setup` events, as one item). */
export interface EnvironmentItem {
  kind: 'environment';
  seq: number;
  ts: string;
  name: string;
  state: 'running' | 'ready' | 'failed';
  /** Whether the cached result was used (known once ready). */
  cached: boolean | null;
  durationMs: number | null;
  /** What the sandbox runs (ready), or why it failed. */
  detail: string | null;
  /** devcontainer.json fields Paddock ignores. */
  ignored: string[];
  commands: SetupCommand[];
}

/** Consecutive `model_retry` errors of one model call, as one item. */
export interface RetriesItem {
  kind: 'retries';
  /** The seq of the first retry. */
  seq: number;
  /** When the latest retry was recorded. */
  ts: string;
  count: number;
  /** Each retry's message, in order (the latest last). */
  messages: string[];
  attempt: number | null;
  maxAttempts: number | null;
  retryInMs: number | null;
}

/** The model call being retried now (cleared once it answers, streams or fails). */
export interface RetryState {
  attempt: number | null;
  maxAttempts: number | null;
  retryInMs: number | null;
  /** When the retry was recorded (ms since the epoch, the host's clock). */
  at: number;
}

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
  /** Time spent in model calls and running tools (approval waits not counted). */
  modelMs: number;
  toolMs: number;
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
  /** Connections through the sandbox's egress proxy (an allow-list network). */
  network: NetworkTotals;
  usage: UsageTotals;
  /** Events received beyond a gap, by seq, applied once it is filled. */
  ahead: Record<number, AgentEvent>;
  /** The model call being retried, if one is. */
  retry: RetryState | null;
  /** The error that stopped the last run (cleared when a new one starts). */
  failure: { code: ErrorCode; message: string; seq: number } | null;
  /** When the latest event (stored or live) happened, ms since the epoch (0: none). */
  lastEventAt: number;
  /** When the latest answer or reasoning delta arrived (0: none since the last stored event). */
  lastDeltaAt: number;
}

/** One host the sandbox connected to (or tried to). */
export interface NetworkHost {
  /** `host:port` (`[v6]:port`). */
  target: string;
  allowed: number;
  refused: number;
  bytesSent: number;
  bytesReceived: number;
  /** Why the latest connection was allowed or refused. */
  reason: string;
}

export interface NetworkTotals {
  allowed: number;
  refused: number;
  /** By target, in the order first seen. */
  hosts: Record<string, NetworkHost>;
}

/** One line saying what a lifecycle hook did (`hook` events). */
export function hookLine(h: HookData): string {
  const who = `Hook ${h.hook} (${h.event.replace(/_/g, ' ')})`;
  switch (h.outcome) {
    case 'context_added':
      return `${who} added context: ${h.text}`;
    case 'asked':
      return `${who} asks a human: ${h.reason}`;
    case 'denied':
      return `${who} denied the call: ${h.reason}`;
    case 'rewrote':
      return `${who} rewrote the arguments: ${JSON.stringify(h.original)} → ${JSON.stringify(h.arguments)}`;
    case 'redacted':
      return `${who} redacted the result`;
    case 'annotated':
      return `${who} annotated the result: ${h.note}`;
    case 'failed':
      return `${who} failed (${h.consequence}): ${h.error}`;
  }
}

/** `host:port`, an IPv6 literal in brackets (as the API's rules write it). */
export function networkTarget(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
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
    network: { allowed: 0, refused: 0, hosts: {} },
    usage: {
      modelCalls: 0,
      inputTokens: 0,
      outputTokens: 0,
      reasoningTokens: 0,
      cachedTokens: 0,
      costUsd: 0,
      toolCalls: 0,
      toolFailures: 0,
      modelMs: 0,
      toolMs: 0,
    },
    ahead: {},
    retry: null,
    failure: null,
    lastEventAt: 0,
    lastDeltaAt: 0,
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

/** Statuses in which no run is going on: a stop, a failure, a limit. */
function isStopped(status: AgentStatus | string): boolean {
  return status === 'error' || status === 'limited' || status === 'stopped' || status === 'idle';
}

const num = (v: number | null | undefined): number | null => (typeof v === 'number' ? v : null);

/** Folds a `model_retry` error into the retries item it continues, or starts one. */
function applyRetry(tl: Timeline, seq: number, ts: string, message: string, data: RetryExtra): void {
  const attempt = num(data.attempt);
  const maxAttempts = num(data.max_attempts);
  const retryInMs = num(data.retry_in_ms);
  tl.retry = { attempt, maxAttempts, retryInMs, at: Date.parse(ts) || 0 };
  const lastIndex = tl.items.length - 1;
  const last = tl.items[lastIndex];
  const fields = { ts, attempt, maxAttempts, retryInMs };
  if (last?.kind === 'retries') {
    // At most the latest 50 messages are kept: a flapping provider can retry for a long time.
    tl.items[lastIndex] = { ...last, ...fields, count: last.count + 1, messages: [...last.messages, message].slice(-50) };
  } else {
    tl.items.push({ kind: 'retries', seq, ...fields, count: 1, messages: [message] });
  }
}

/** Folds one `environment.setup` event into the latest environment item (a `started` one starts a new item). */
function applySetup(tl: Timeline, base: { seq: number; ts: string }, data: EnvironmentSetupData): void {
  let i = -1;
  for (let j = tl.items.length - 1; j >= 0; j--) {
    if (tl.items[j].kind === 'environment') {
      i = j;
      break;
    }
  }
  const current = i >= 0 ? (tl.items[i] as EnvironmentItem) : null;
  if (data.step === 'started' || !current || current.state !== 'running') {
    const fresh: EnvironmentItem = {
      kind: 'environment',
      ...base,
      name: data.environment,
      state: 'running',
      cached: null,
      durationMs: null,
      detail: null,
      ignored: data.ignored ?? [],
      commands: [],
    };
    tl.items.push(fresh);
    i = tl.items.length - 1;
    if (data.step === 'started') return;
  }
  const item = { ...(tl.items[i] as EnvironmentItem) };
  const commands = item.commands.slice();
  const label = data.command ?? '';
  const find = () => {
    for (let j = commands.length - 1; j >= 0; j--) if (commands[j].command === label) return j;
    return -1;
  };
  switch (data.step) {
    case 'command':
      commands.push({ phase: data.phase ?? null, command: label, output: '', exitCode: null, durationMs: null });
      break;
    case 'output': {
      const j = find();
      if (j >= 0) commands[j] = { ...commands[j], output: commands[j].output + (data.output ?? '') };
      break;
    }
    case 'command_done': {
      const j = find();
      if (j >= 0) commands[j] = { ...commands[j], exitCode: data.exit_code ?? null, durationMs: data.duration_ms ?? null };
      break;
    }
    case 'finished':
      item.state = 'ready';
      item.cached = data.cached ?? null;
      item.durationMs = data.duration_ms ?? null;
      item.detail = data.detail ?? null;
      break;
    case 'failed':
      item.state = 'failed';
      item.durationMs = data.duration_ms ?? null;
      item.detail = data.detail ?? null;
      break;
    default:
      break;
  }
  item.commands = commands;
  tl.items[i] = item;
}

/** Applies one stored event that is exactly the next in order (mutates `tl`). */
function applyNext(tl: Timeline, ev: AgentEvent): void {
  const base = { seq: ev.seq, ts: ev.ts };
  tl.lastSeq = ev.seq;
  tl.lastEventAt = Math.max(tl.lastEventAt, Date.parse(ev.ts) || 0);
  tl.lastDeltaAt = 0;
  switch (ev.type) {
    case 'agent.created':
      break;
    case 'agent.status': {
      const status = ev.data.status;
      tl.status = status;
      tl.statusReason = ev.data.reason ?? null;
      if (status !== 'thinking') {
        tl.streaming = '';
        tl.thinking = '';
        tl.retry = null;
      } else {
        // A new run (or a retry of the failed one) started.
        tl.failure = null;
      }
      // Statuses with a reason (an interrupt, a limit, a restart) are worth
      // a line, unless it only repeats the error just shown.
      const last = tl.items[tl.items.length - 1];
      const repeats = last?.kind === 'error' && !last.recoverable && isStopped(status);
      if (ev.data.reason && !repeats) tl.items.push({ kind: 'status', ...base, status, reason: ev.data.reason });
      break;
    }
    case 'message.user':
      tl.failure = null;
      tl.items.push({ kind: 'user', ...base, text: ev.data.text });
      break;
    case 'message.assistant': {
      tl.streaming = '';
      tl.thinking = '';
      tl.retry = null;
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
      // A network host's approval belongs to no tool call.
      if (data.tool === 'network') break;
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
        toolFailures: tl.usage.toolFailures + (resultFailed(data) ? 1 : 0),
        toolMs: tl.usage.toolMs + data.duration_ms,
      };
      upsertTool(tl, base, data, (t) => ({ ...t, result: data }));
      break;
    }
    case 'environment.setup':
      applySetup(tl, base, ev.data);
      break;
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
        modelMs: tl.usage.modelMs + u.duration_ms,
      };
      tl.retry = null;
      tl.items.push({ kind: 'usage', ...base, usage: u });
      break;
    }
    case 'error': {
      const data = ev.data;
      if (DISCARDS_STREAM.has(data.code)) {
        tl.streaming = '';
        tl.thinking = '';
      }
      if (data.code === 'model_retry') {
        applyRetry(tl, ev.seq, ev.ts, data.message, data as typeof data & RetryExtra);
        break;
      }
      if (!data.recoverable) {
        tl.retry = null;
        tl.failure = { code: data.code, message: data.message, seq: ev.seq };
      }
      tl.items.push({ kind: 'error', ...base, code: data.code, message: data.message, recoverable: data.recoverable });
      break;
    }
    case 'hook':
      tl.items.push({ kind: 'hook', ...base, hook: ev.data });
      break;
    case 'network.connection': {
      const c = ev.data;
      const target = networkTarget(c.host, c.port);
      const allowed = c.verdict === 'allowed';
      const before = tl.network.hosts[target] ?? { target, allowed: 0, refused: 0, bytesSent: 0, bytesReceived: 0, reason: '' };
      tl.network = {
        allowed: tl.network.allowed + (allowed ? 1 : 0),
        refused: tl.network.refused + (allowed ? 0 : 1),
        hosts: {
          ...tl.network.hosts,
          [target]: {
            ...before,
            allowed: before.allowed + (allowed ? 1 : 0),
            refused: before.refused + (allowed ? 0 : 1),
            bytesSent: before.bytesSent + (c.bytes_sent ?? 0),
            bytesReceived: before.bytesReceived + (c.bytes_received ?? 0),
            reason: c.reason,
          },
        },
      };
      break;
    }
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
        // Text is arriving: the retried call (if any) is answering.
        next.retry = null;
        const at = Date.parse(ev.ts) || 0;
        next.lastDeltaAt = Math.max(next.lastDeltaAt, at);
        next.lastEventAt = Math.max(next.lastEventAt, at);
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

/** Where a tool call stands. */
export type ToolPhase = 'waiting' | 'refused' | 'denied' | 'running' | 'ok' | 'failed';

export interface ToolState {
  phase: ToolPhase;
  /** Its exit code, for a command that reported one. */
  exitCode: number | null;
  /** Its run time (null until it has a result). */
  runMs: number | null;
  /** How long it waited for a human (null: it did not, or the host did not say). */
  waitMs: number | null;
}

/** A call's state: waiting for approval, refused, denied by policy, running, ok, or failed (a non-zero exit is a failure). */
export function toolState(item: ToolItem): ToolState {
  const { approval, decided, decision, result } = item;
  const exit = result ? exitCode(result) : null;
  const times = { exitCode: exit, runMs: result ? result.duration_ms : null, waitMs: result ? approvalWaitMs(result) : null };
  if (approval && !decided && !result) return { phase: 'waiting', ...times };
  if (decided && !decided.approved) return { phase: 'refused', ...times };
  if (decision?.action === 'deny') return { phase: 'denied', ...times };
  if (!result) return { phase: 'running', ...times };
  return { phase: resultFailed(result) ? 'failed' : 'ok', ...times };
}

/** Tools that run commands: their calls make up the terminal view. */
const COMMAND_TOOLS: ReadonlySet<string> = new Set(['execute_bash', 'git', 'git_operation']);

/** The command line a call runs, if it is a command. */
export function commandOf(tool: string, args: unknown): string | null {
  const a = args && typeof args === 'object' ? (args as Record<string, unknown>) : {};
  if (typeof a.command === 'string') return a.command;
  if (!COMMAND_TOOLS.has(tool)) return null;
  if (typeof a.operation === 'string') {
    const rest = Array.isArray(a.args) ? a.args.filter((x): x is string => typeof x === 'string') : [];
    return ['git', a.operation, ...rest].join(' ');
  }
  return tool;
}

/** One command the agent ran, for the terminal view. */
export interface TerminalEntry {
  callId: string;
  seq: number;
  ts: string;
  tool: string;
  command: string;
  /** What it printed (streamed output; the result the model saw when nothing streamed). */
  output: string;
  state: ToolState;
}

/** Every command the agent ran, in order, with its output and outcome. */
export function terminalEntries(items: readonly Item[]): TerminalEntry[] {
  const out: TerminalEntry[] = [];
  for (const item of items) {
    if (item.kind !== 'tool') continue;
    const command = commandOf(item.call.tool, item.call.arguments);
    if (command === null) continue;
    out.push({
      callId: item.call.call_id,
      seq: item.seq,
      ts: item.ts,
      tool: item.call.tool,
      command,
      output: item.output || (item.result?.content ?? ''),
      state: toolState(item),
    });
  }
  return out;
}

/**
 * Command output as plain text: terminal escapes (colours, cursor moves,
 * titles) removed, and a line rewritten with carriage returns (a progress
 * bar) kept as it ended.
 */
export function plainOutput(text: string): string {
  const noEscapes = text
    .replace(/\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g, '')
    .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '')
    .replace(/\x1b[@-Z\\-_]/g, '');
  return noEscapes
    .split('\n')
    .map((line) => {
      const trimmed = line.endsWith('\r') ? line.slice(0, -1) : line;
      const parts = trimmed.split('\r');
      return parts[parts.length - 1];
    })
    .join('\n');
}
