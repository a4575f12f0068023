import { describe, expect, it } from 'vitest';
import { errorLine, fieldLine, parsePath, splitFieldError, toYaml } from './yaml';

const EXAMPLE = `name: plan-implement-test
description: "Plan, implement, test"
inputs:
  - name: task
    required: true
  - name: repo
    default: "."
steps:
  - id: plan
    template: planner
    prompt: "Plan this: {{inputs.task}}"
  - id: implement
    template: coder
    prompt: |
      Implement the plan:
      {{steps.plan.output}}
  - id: test
    template: coder
    verify:
      command: make test
    on_failure:
      goto: implement
      max: 2
# a comment at the end
`;

describe('fieldLine', () => {
  it('finds top-level keys, list items and nested keys', () => {
    expect(fieldLine(EXAMPLE, 'name')).toBe(1);
    expect(fieldLine(EXAMPLE, 'inputs')).toBe(3);
    expect(fieldLine(EXAMPLE, 'inputs[1].name')).toBe(6);
    expect(fieldLine(EXAMPLE, 'inputs[1].default')).toBe(7);
    expect(fieldLine(EXAMPLE, 'steps[0].id')).toBe(9);
    expect(fieldLine(EXAMPLE, 'steps[1].prompt')).toBe(14);
    expect(fieldLine(EXAMPLE, 'steps[2]')).toBe(17);
    expect(fieldLine(EXAMPLE, 'steps[2].verify.command')).toBe(20);
    expect(fieldLine(EXAMPLE, 'steps[2].on_failure.goto')).toBe(22);
    expect(fieldLine(EXAMPLE, 'steps[2].on_failure.max')).toBe(23);
  });

  it('stops at the nearest enclosing field it finds', () => {
    expect(fieldLine(EXAMPLE, 'steps[1].verify')).toBe(12);
    expect(fieldLine(EXAMPLE, 'steps[9].template')).toBe(8);
    expect(fieldLine(EXAMPLE, 'nothing')).toBeNull();
    expect(fieldLine(EXAMPLE, 'not a path')).toBeNull();
  });

  it('reads lists written at their key’s column, and a key inside an item not on the dash line', () => {
    const y = 'steps:\n- id: a\n  template: x\n- id: b\n  gate:\n    message: ok\n';
    expect(fieldLine(y, 'steps[1].gate.message')).toBe(6);
    expect(fieldLine(y, 'steps[0].template')).toBe(3);
    expect(fieldLine(y, 'steps[1].template')).toBe(4);
  });
});

describe('parsePath and errors', () => {
  it('parses field paths', () => {
    expect(parsePath('steps[2].on_failure.goto')).toEqual(['steps', 2, 'on_failure', 'goto']);
    expect(parsePath('name')).toEqual(['name']);
    expect(parsePath('a b')).toBeNull();
  });

  it('splits the field a server error names from the rest, and finds its line', () => {
    const m = 'steps[2].template: no agent template named `x`';
    expect(splitFieldError(m)).toEqual({ field: 'steps[2].template', text: 'no agent template named `x`' });
    expect(splitFieldError('invalid workflow: steps[0].id: duplicate step id')).toEqual({ field: 'steps[0].id', text: 'duplicate step id' });
    expect(splitFieldError('the body is not YAML')).toEqual({ field: null, text: 'the body is not YAML' });
    expect(errorLine(EXAMPLE, 'steps[2].on_failure: a jump back to `implement` needs a bound (`max`)')).toBe(21);
    expect(errorLine(EXAMPLE, 'steps: invalid type: found a string at line 7 column 3')).toBe(8);
    expect(errorLine(EXAMPLE, 'did not find expected key at line 7 column 3')).toBe(7);
  });
});

describe('toYaml', () => {
  it('writes a definition as readable YAML, nulls left out', () => {
    const def = {
      name: 'review-only',
      description: 'Look: then say',
      inputs: [{ name: 'task', description: null, required: true, default: null }],
      steps: [
        { id: 'plan', template: 'planner', prompt: 'Plan this: {{inputs.task}}', verify: null },
        { id: 'impl', template: 'coder', prompt: 'Do:\n{{steps.plan.output}}\n' },
        { id: 'approve', gate: { message: '{{inputs.task}}?' } },
        { id: 'merge', merge: true },
        { id: 'odd', template: 'yes', prompt: '', retries: 2 },
      ],
    };
    expect(toYaml(def)).toBe(
      [
        'name: review-only',
        'description: "Look: then say"',
        'inputs:',
        '  - name: task',
        '    required: true',
        'steps:',
        '  - id: plan',
        '    template: planner',
        '    prompt: "Plan this: {{inputs.task}}"',
        '  - id: impl',
        '    template: coder',
        '    prompt: |',
        '      Do:',
        '      {{steps.plan.output}}',
        '  - id: approve',
        '    gate:',
        '      message: "{{inputs.task}}?"',
        '  - id: merge',
        '    merge: true',
        '  - id: odd',
        '    template: "yes"',
        '    prompt: ""',
        '    retries: 2',
        '',
      ].join('\n'),
    );
  });

  it('quotes what would read back as something else', () => {
    expect(toYaml({ a: '1.5', b: 'null', c: '- x', d: 'a #b', e: ' lead', f: 'x\n\n' })).toBe(
      'a: "1.5"\nb: "null"\nc: "- x"\nd: "a #b"\ne: " lead"\nf: "x\\n\\n"\n',
    );
    expect(toYaml({ list: [], map: {}, nested: [[1, 2]] })).toBe('list: []\nmap: {}\nnested:\n  -\n    - 1\n    - 2\n');
  });
});
