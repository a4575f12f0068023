// The screens' pure helpers: what a call summary says, the diff an edit
// makes, which grants are dangerous, catalogue variables, usage grouping,
// a workspace's folder path and sizes.

import { describe, expect, it } from 'vitest';
import { argumentSummary, fileChange } from '../components/ToolCall';
import { diffStats } from '../components/Diff';
import { dangerOf } from './Plugins';
import { fill } from './Mcp';
import { dailySeries, toolRows } from './Usage';
import { crumbs, parentOf } from './Workspaces';
import { bytes } from '../components/ui';
import type { AgentMetrics } from '../api/types';

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

describe('dailySeries', () => {
  it('has one point per day of the range, zeros where nothing was used', () => {
    const today = new Date('2026-11-25T12:00:00Z');
    const rows = [{ day: '2026-11-24', input_tokens: 10, output_tokens: 2, cached_tokens: 0, cost_usd: 0.5, model_calls: 1, unpriced_calls: 0 }];
    const s = dailySeries(rows, 3, today);
    expect(s.map((p) => p.day)).toEqual(['2026-11-23', '2026-11-24', '2026-11-25']);
    expect(s.map((p) => p.cost)).toEqual([0, 0.5, 0]);
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
