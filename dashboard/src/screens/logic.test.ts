// The screens' pure helpers: what a call summary says, the diff an edit
// makes, which grants are dangerous, catalogue variables, usage grouping.

import { describe, expect, it } from 'vitest';
import { argumentSummary, fileChange } from '../components/ToolCall';
import { diffStats } from '../components/Diff';
import { dangerOf } from './Plugins';
import { fill } from './Mcp';
import { usageRows } from './Usage';
import type { AgentView } from '../api/types';

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

describe('usageRows', () => {
  const agent = (name: string, model: string, cost: number, tools: number, failures: number) =>
    ({
      name,
      config: { model: { provider: 'p', model } },
      usage: { input_tokens: 100, output_tokens: 10, cached_tokens: 50, cost_usd: cost, model_calls: 1, tool_calls: tools, tool_failures: failures },
    }) as unknown as AgentView;
  it('sums per key, most expensive first', () => {
    const rows = usageRows([agent('a', 'm1', 1, 2, 1), agent('b', 'm2', 3, 0, 0), agent('c', 'm1', 0.5, 4, 0)], (a) => a.config.model.model);
    expect(rows.map((r) => r.key)).toEqual(['m2', 'm1']);
    expect(rows[1]).toMatchObject({ cost: 1.5, input: 200, cached: 100, tools: 6, failures: 1, calls: 2 });
  });
});
