// The screens' pure helpers: what a call summary says, the diff an edit
// makes, which grants are dangerous, catalogue variables, usage grouping,
// a workspace's folder path and sizes.

import { describe, expect, it } from 'vitest';
import { argumentSummary, fileChange } from '../components/ToolCall';
import { diffStats } from '../components/Diff';
import { dangerOf } from './Plugins';
import { fill } from './Mcp';
import { dailySeries, toolRows } from './Usage';
import { stateLabel } from './Mcp';
import { keyNote } from './Settings';
import { providerBody } from '../components/ProviderForm';
import { crumbs, parentOf } from './Workspaces';
import { bytes } from '../components/ui';
import { failoverText, usageText } from '../components/ModelCall';
import { API_NAMES, circuitNote, failoverChain } from './Settings';
import type { AgentMetrics, UsageData } from '../api/types';

describe('argumentSummary', () => {
  it('names the command, path, URL or git operation', () => {
    expect(argumentSummary('execute_bash', { command: 'ls -la' })).toBe('$ ls -la');
    expect(argumentSummary('read_file', { path: 'src/main.rs' })).toBe('read_file src/main.rs');
    expect(argumentSummary('fetch', { url: 'https://example.com' })).toBe('fetch https://example.com');
    expect(argumentSummary('git', { operation: 'log', args: ['-n', '3'] })).toBe('git log -n 3');
    expect(argumentSummary('x', null)).toBe('');
    expect(argumentSummary('x', { a: 'b'.repeat(300) }).length).toBeLessThanOrEqual(201);
  });
});

describe('fileChange', () => {
  it('diffs an edit and a write, and nothing else', () => {
    const edit = fileChange('edit_file', { path: 'a.txt', old_string: 'red\n', new_string: 'blue\n' });
    expect(edit?.diff).toContain('-red');
    expect(edit?.diff).toContain('+blue');
    expect(diffStats(edit?.diff ?? '')).toEqual({ added: 1, removed: 1 });
    const write = fileChange('write_file', { path: 'n.txt', content: 'one\ntwo\n' });
    expect(diffStats(write?.diff ?? '')).toEqual({ added: 2, removed: 0 });
    expect(fileChange('read_file', { path: 'a.txt' })).toBeNull();
    expect(fileChange('edit_file', { path: 'a.txt' })).toBeNull();
  });
});

describe('dangerOf', () => {
  it('warns about network, exec and write grants only', () => {
    expect(dangerOf('exec')).toMatch(/run commands/);
    expect(dangerOf('net:api.github.com:443')).toMatch(/api.github.com:443/);
    expect(dangerOf('fs:/workspace:rw')).toMatch(/write to \/workspace/);
    expect(dangerOf('fs:/workspace:ro')).toBeNull();
    expect(dangerOf('env:HOME')).toBeNull();
  });
});

describe('fill', () => {
  it('replaces the variables given and leaves the others (secrets) as references', () => {
    expect(fill('--root=${ROOT}', { ROOT: '/srv' })).toBe('--root=/srv');
    expect(fill('${TOKEN}', { ROOT: '/srv' })).toBe('${TOKEN}');
    expect(fill('${ROOT}', { ROOT: '' })).toBe('${ROOT}');
  });
});

describe('usageText and failoverText', () => {
  const base: UsageData = {
    provider: 'azure',
    model: 'gpt5-deploy',
    input_tokens: 1000,
    output_tokens: 200,
    cached_tokens: 400,
    cost_usd: 0.5,
    duration_ms: 900,
    attempts: 1,
    price_known: true,
  };

  it('puts the reasoning tokens after the output tokens, only when there are some', () => {
    expect(usageText({ ...base, reasoning_tokens: 150 })).toBe('gpt5-deploy: 1000 in (400 cached) / 200 out (150 reasoning) · $0.50 · 900 ms');
    expect(usageText({ ...base, reasoning_tokens: 0 })).toBe('gpt5-deploy: 1000 in (400 cached) / 200 out · $0.50 · 900 ms');
    expect(usageText(base)).not.toContain('reasoning');
    expect(usageText({ ...base, attempts: 3, price_known: false })).toBe(
      'gpt5-deploy: 1000 in (400 cached) / 200 out · $0.50 · 900 ms · 3 attempts · unknown price',
    );
  });

  it('says which target served the call and what happened to the ones before it, in order', () => {
    expect(failoverText(base)).toBeNull();
    expect(failoverText({ ...base, failover: [] })).toBeNull();
    expect(
      failoverText({
        ...base,
        failover: [{ provider: 'openai', model: 'gpt-5', why: 'failed', message: 'giving up after 1 attempts; last failure: HTTP 503' }],
      }),
    ).toBe('served by azure/gpt5-deploy after openai/gpt-5 failed: giving up after 1 attempts; last failure: HTTP 503');
    expect(
      failoverText({
        ...base,
        failover: [
          { provider: 'openai', model: 'gpt-5', why: 'circuit_open', message: 'its circuit is open; it is tried again in 9000 ms' },
          { provider: 'eu', model: 'gpt-5', why: 'failed', message: 'HTTP 401' },
        ],
      }),
    ).toBe('served by azure/gpt5-deploy after openai/gpt-5 was passed over: circuit open; eu/gpt-5 failed: HTTP 401');
  });
});

describe('provider settings', () => {
  it('names the wire API, the failover chain and an open circuit', () => {
    expect(API_NAMES.chat).toBe('Chat Completions');
    expect(API_NAMES.responses).toBe('Responses API');
    expect(failoverChain({ failover: [] })).toBe('');
    expect(
      failoverChain({
        failover: [
          { provider: 'azure', model: 'gpt5-deploy' },
          { provider: 'backup', model: 'gpt-5' },
        ],
      }),
    ).toBe('→ azure/gpt5-deploy → backup/gpt-5');
    expect(circuitNote(null)).toBeNull();
    expect(circuitNote(undefined)).toBeNull();
    expect(circuitNote(12_001)).toBe('circuit open: passed over for 13 s');
    expect(circuitNote(0)).toBe('circuit open: passed over for 1 s');
  });
});

describe('dailySeries', () => {
  it('has one point per day of the range, zeros where nothing was used, no cost before the first spend', () => {
    const today = new Date('2026-11-25T12:00:00Z');
    const rows = [{ day: '2026-11-24', input_tokens: 10, output_tokens: 2, cached_tokens: 0, cost_usd: 0.5, model_calls: 1, unpriced_calls: 0 }];
    const s = dailySeries(rows, 3, today);
    expect(s.map((p) => p.day)).toEqual(['2026-11-23', '2026-11-24', '2026-11-25']);
    // No line before the first day anything was spent (no false ramp), zero after it.
    expect(s.map((p) => p.cost)).toEqual([null, 0.5, 0]);
    expect(s[1].input).toBe(10);
  });
});

describe('toolRows', () => {
  it('sums calls and failures per tool over agents, busiest first', () => {
    const a = (tools: [string, number, number][]) =>
      ({ tools: tools.map(([tool, calls, failures]) => ({ tool, calls, failures })) }) as unknown as AgentMetrics;
    const rows = toolRows([
      a([['read_file', 3, 1]]),
      a([
        ['read_file', 2, 0],
        ['git', 9, 9],
      ]),
    ]);
    expect(rows).toEqual([
      { tool: 'git', calls: 9, failures: 9 },
      { tool: 'read_file', calls: 5, failures: 1 },
    ]);
  });
});

describe('crumbs and parentOf', () => {
  it('walks a workspace path', () => {
    expect(crumbs('')).toEqual([]);
    expect(crumbs('src/api/x.ts')).toEqual([
      { name: 'src', path: 'src' },
      { name: 'api', path: 'src/api' },
      { name: 'x.ts', path: 'src/api/x.ts' },
    ]);
    expect(parentOf('src/api/x.ts')).toBe('src/api');
    expect(parentOf('README.md')).toBe('');
    expect(parentOf('')).toBe('');
  });
});

describe('bytes', () => {
  it('uses binary units', () => {
    expect(bytes(0)).toBe('0 B');
    expect(bytes(1023)).toBe('1023 B');
    expect(bytes(1536)).toBe('1.5 KiB');
    expect(bytes(200 * 1024 * 1024)).toBe('200 MiB');
    expect(bytes(undefined)).toBe('—');
  });
});

describe('stateLabel', () => {
  it('tells a lazy server that failed to start from one not started yet', () => {
    expect(stateLabel({ state: 'idle', last_error: 'spawn npx: not found', running_since: null })).toBe('failed to start');
    expect(stateLabel({ state: 'idle', last_error: null, running_since: null })).toBe('not started (starts when an agent uses it)');
    // It ran before, and a later call failed: idle again, not "failed to start".
    expect(stateLabel({ state: 'idle', last_error: 'timeout', running_since: '2026-12-01T00:00:00Z' })).toBe('not started (starts when an agent uses it)');
    expect(stateLabel({ state: 'backoff', last_error: 'exit 1', running_since: null })).toBe('failed; restarting after a pause');
  });
});

describe('providerBody', () => {
  it('sends the key only when one was typed, and the chosen model', () => {
    const f = { name: ' local ', base_url: ' http://localhost:11434/v1 ', api: 'chat' as const, api_key: '' };
    expect(providerBody(f, '')).toEqual({ name: 'local', base_url: 'http://localhost:11434/v1', api: 'chat' });
    expect(providerBody({ ...f, api_key: 'sk-1' }, 'llama3')).toEqual({
      name: 'local',
      base_url: 'http://localhost:11434/v1',
      api: 'chat',
      api_key: 'sk-1',
      models: [{ name: 'llama3' }],
    });
  });
});

describe('keyNote', () => {
  it('says where a key comes from, never the key', () => {
    expect(keyNote({ key: { state: 'env', env: 'OPENAI_API_KEY', set: true } })).toBe('$OPENAI_API_KEY set');
    expect(keyNote({ key: { state: 'env', env: 'OPENAI_API_KEY', set: false } })).toBe('$OPENAI_API_KEY not set');
    expect(keyNote({ key: { state: 'stored', set: true, last4: '4f2a' } })).toBe('stored, ends in …4f2a');
    expect(keyNote({ key: { state: 'stored', set: true } })).toBe('stored');
    expect(keyNote({ key: { state: 'none', set: false } })).toBe('none');
  });
});
