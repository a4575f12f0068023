// Native tests of @paddock/sdk (no component): `node --test test/` in
// sdk/js (tests/sdk_polyglot.rs runs them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Adapter, Assessment, ExecUnavailable, NetError, ToolError, Toolbox, adapterRaw, assessRaw, exec, fs, net, testContext,
} from '../src/index.js';

const SCHEMA = {
  type: 'object',
  properties: { n: { type: 'integer', minimum: 1 }, mode: { enum: ['a', 'b'] }, tags: { type: 'array', items: { type: 'string' } } },
  required: ['n'],
  additionalProperties: false,
};

function toolbox() {
  return new Toolbox()
    .tool({ name: 'double', description: 'Double `n`.', inputSchema: SCHEMA, readOnly: true, run: ({ n }) => String(n * 2) })
    .tool({ name: 'rich', description: 'Structured.', inputSchema: { type: 'object' }, run: () => ({ content: 'text', structured: { k: [1, 2] } }) })
    .tool({ name: 'boom', description: 'Throws.', inputSchema: { type: 'object' }, run: () => { throw new RangeError('nope'); } })
    .tool({ name: 'needs_exec', description: 'Runs.', inputSchema: { type: 'object' }, run: () => exec.run(['true']).stdout });
}

function error(tb, name, text) {
  try {
    tb.invoke(name, text, testContext());
  } catch (e) {
    assert.ok(e instanceof ToolError, String(e));
    assert.deepEqual(e.payload, { tag: e.kind, val: e.message });
    return [e.kind, e.message];
  }
  throw new Error(`${name} ${text} did not fail`);
}

test('dispatch and describe', () => {
  const tb = toolbox();
  assert.equal(tb.invoke('double', '{"n":4}', testContext()).content, '8');
  assert.deepEqual(tb.describe().map((s) => s.name), ['double', 'rich', 'boom', 'needs_exec']);
  assert.equal(tb.describe()[0].readOnly, true);
  assert.equal(tb.describe()[1].inputSchema, '{"type":"object"}');
  assert.equal(tb.invoke('rich', '{}', testContext()).structured, '{"k":[1,2]}');
});

test('input is checked naming the field', () => {
  const tb = toolbox();
  const cases = {
    '{}': 'double: missing field `n`',
    '{"n":"x"}': 'double.n: expected integer, got string',
    '{"n":0}': 'double.n: must be at least 1',
    '{"n":1,"x":2}': 'double: unknown field `x` (known fields: `n`, `mode`, `tags`)',
    '{"n":1,"mode":"c"}': 'double.mode: must be one of "a", "b"',
    '{"n":1,"tags":["a",3]}': 'double.tags[1]: expected string, got number',
    '[1]': 'double: input must be a JSON object, got array',
  };
  for (const [text, message] of Object.entries(cases)) {
    assert.deepEqual(error(tb, 'double', text), ['invalid-input', message], text);
  }
  assert.equal(error(tb, 'double', 'not json')[0], 'invalid-input');
});

test('errors become tool errors', () => {
  const tb = toolbox();
  assert.equal(error(tb, 'nope', '{}')[0], 'unknown-tool');
  assert.deepEqual(error(tb, 'boom', '{}'), ['failed', 'boom: RangeError: nope']);
  const [kind, message] = error(tb, 'needs_exec', '{}');
  assert.equal(kind, 'failed');
  assert.match(message, /exec unavailable/);
  assert.throws(() => exec.run(['true']), ExecUnavailable);
  assert.throws(() => fs.readText('/workspace/x'), /only available inside Paddock/);
});

test('bad declarations are refused', () => {
  const run = () => '';
  assert.throws(() => new Toolbox().tool({ name: 'Bad', description: 'd', inputSchema: { type: 'object' }, run }));
  assert.throws(() => new Toolbox().tool({ name: 'ok', description: 'd', inputSchema: { type: 'string' }, run }));
  const tb = new Toolbox().tool({ name: 'ok', description: 'd', inputSchema: { type: 'object' }, run });
  assert.throws(() => tb.tool({ name: 'ok', description: 'd', inputSchema: { type: 'object' }, run }));
});

test('assessors fail closed', () => {
  const fn = (call) => {
    if (call.tool === 'raise') throw new Error('bug');
    if (call.tool === 'junk') return 'allow';
    if (call.input.command === 'sudo x') return Assessment.deny('critical', 'root');
    return Assessment.allow('fine');
  };
  const run = (tool, input) => assessRaw(fn, { tool, input, agentId: 'a', callId: 'c' });
  assert.equal(run('t', '{"command":"ls"}').action, 'allow');
  assert.equal(run('t', '{"command":"sudo x"}').level, 'critical');
  for (const [tool, input] of [['t', '[]'], ['t', 'nope'], ['raise', '{}'], ['junk', '{}']]) {
    const v = run(tool, input);
    assert.deepEqual([v.level, v.action], ['high', 'ask'], `${tool} ${input}`);
  }
  assert.equal(Assessment.max(Assessment.allow('a'), Assessment.ask('medium', 'b')).reason, 'b');
});

test('adapters: glue and fail closed', () => {
  class Tidy extends Adapter {
    listTools(_server, tools) {
      return tools.filter((t) => t.name === 'search_repos').map((tool) => ({ original: tool.name, tool: { ...tool, name: 'search' } }));
    }
    onCall(call) {
      if (call.tool === 'boom') throw new Error('x');
      if (call.tool === 'delete') return { refuse: 'no deleting' };
      return { forward: { ...call, tool: 'search_repos' } };
    }
  }
  const raw = adapterRaw(new Tidy());
  const shown = raw.listTools('gh', [
    { name: 'search_repos', description: 'd', inputSchema: '{"type":"object"}' },
    { name: 'broken', description: 'd', inputSchema: 'nope' },
  ]);
  assert.deepEqual(shown, [{ original: 'search_repos', tool: { name: 'search', description: 'd', inputSchema: '{"type":"object"}' } }]);
  assert.deepEqual(raw.onCall({ server: 'gh', tool: 'search', arguments: '{"q":1}' }), { tag: 'forward', val: { server: 'gh', tool: 'search_repos', arguments: '{"q":1}' } });
  assert.deepEqual(raw.onCall({ server: 'gh', tool: 'delete', arguments: '{}' }), { tag: 'refuse', val: 'no deleting' });
  assert.equal(raw.onCall({ server: 'gh', tool: 'boom', arguments: '{}' }).tag, 'refuse');
  assert.equal(raw.onCall({ server: 'gh', tool: 'x', arguments: '[]' }).tag, 'refuse');
  assert.equal(JSON.parse(raw.onResult({ server: 'gh', tool: 'x', arguments: '{}' }, 'nope')).isError, true);
});

test('net is only available inside Paddock', () => {
  assert.throws(() => net.get('http://127.0.0.1:9/'), (e) => e instanceof NetError && e.kind === 'unsupported');
});
