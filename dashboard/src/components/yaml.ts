// YAML for the workflow editor: a definition (JSON, as the API returns it)
// written as readable YAML to edit, and the line of the YAML text a
// server's error names (`steps[2].template: no agent template named `x``,
// or a parse error's `line 7`), so the error is shown at its field. Pure
// code, unit-tested; the server parses and validates.

const RESERVED = /^(?:true|false|yes|no|on|off|null|~|y|n)$/i;
const NUMERIC = /^[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?$|^0x[0-9a-f]+$|^0o[0-7]+$|^[-+]?\.(?:inf|nan)$/i;

/** Whether `s` can be written bare (no quotes) and read back as the same string. */
function plain(s: string): boolean {
  if (s === '' || RESERVED.test(s) || NUMERIC.test(s)) return false;
  if (/^[\s\-?:,[\]{}#&*!|>'"%@`]/.test(s) || /\s$/.test(s)) return false;
  if (/: |\s#|[\n\t]|:$/.test(s)) return false;
  // Leading `{{` would start a flow mapping.
  return !s.startsWith('{');
}

function key(k: string): string {
  return /^[A-Za-z_][A-Za-z0-9_-]*$/.test(k) ? k : JSON.stringify(k);
}

function scalar(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return plain(v) ? v : JSON.stringify(v);
  return String(v);
}

/** A multi-line string as a literal block (`|` or `|-`), or null when one cannot hold it exactly. */
function block(s: string, indent: string): string | null {
  if (!s.includes('\n') || /^[ \t]/.test(s) || /\n\n$/.test(s) || s.includes('\r') || s.includes('\t')) return null;
  const chomp = s.endsWith('\n') ? '|' : '|-';
  const body = (s.endsWith('\n') ? s.slice(0, -1) : s)
    .split('\n')
    .map((l) => (l ? indent + l : ''))
    .join('\n');
  return `${chomp}\n${body}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The entries worth writing: a null or absent optional field is left out. */
function entries(o: Record<string, unknown>): [string, unknown][] {
  return Object.entries(o).filter(([, v]) => v !== null && v !== undefined);
}

function emit(v: unknown, indent: string): string {
  // Called for a value after `key:` or `- `: a scalar on the same line, a collection on the next.
  if (Array.isArray(v)) {
    if (v.length === 0) return ' []';
    return '\n' + v.map((item) => `${indent}-${inItem(item, indent + '  ')}`).join('\n');
  }
  if (isObject(v)) {
    const es = entries(v);
    if (es.length === 0) return ' {}';
    return '\n' + es.map(([k, x]) => `${indent}${key(k)}:${emit(x, indent + '  ')}`).join('\n');
  }
  if (typeof v === 'string') {
    const b = block(v, indent);
    if (b) return ' ' + b;
  }
  return ' ' + scalar(v);
}

/** A list item's value after its `-`: a mapping starts on the dash's line. */
function inItem(v: unknown, indent: string): string {
  if (isObject(v)) {
    const es = entries(v);
    if (es.length === 0) return ' {}';
    return ' ' + es.map(([k, x], i) => `${i === 0 ? '' : indent}${key(k)}:${emit(x, indent + '  ')}`).join('\n');
  }
  return emit(v, indent);
}

/** A JSON value (a definition) as YAML that reads back as the same value, null fields left out. */
export function toYaml(v: unknown): string {
  if (isObject(v)) {
    return (
      entries(v)
        .map(([k, x]) => `${key(k)}:${emit(x, '  ')}`)
        .join('\n') + '\n'
    );
  }
  return emit(v, '').trimStart() + '\n';
}

type Segment = string | number;

/** `steps[2].on_failure.goto` → `['steps', 2, 'on_failure', 'goto']` (null: not a field path). */
export function parsePath(path: string): Segment[] | null {
  const out: Segment[] = [];
  for (const part of path.split('.')) {
    const m = /^([A-Za-z_][A-Za-z0-9_-]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) return null;
    out.push(m[1]);
    for (const i of m[2].matchAll(/\[(\d+)\]/g)) out.push(Number(i[1]));
  }
  return out;
}

interface Line {
  /** Column of the first character after the indentation and any `- ` markers (where a key would start). */
  keyCol: number;
  /** Column of the line's `-` when it starts a list item, else -1. */
  dashCol: number;
  text: string;
}

function lineInfo(raw: string): Line | null {
  const t = raw.replace(/\s+$/, '');
  const lead = /^ */.exec(t)?.[0].length ?? 0;
  if (lead === t.length || t[lead] === '#') return null;
  let col = lead;
  let dashCol = -1;
  while (t[col] === '-' && (t[col + 1] === ' ' || col + 1 === t.length)) {
    if (dashCol < 0) dashCol = col;
    col += 2;
    while (t[col] === ' ') col++;
  }
  return { keyCol: col, dashCol, text: t };
}

/**
 * The line (1-based) of `yaml` that holds the field `path` names, or the
 * nearest enclosing one found (`steps[2].template` where step 2 has no
 * template: step 2's first line); null when not even its first part is found.
 */
export function fieldLine(yaml: string, path: string): number | null {
  const segs = parsePath(path);
  if (!segs) return null;
  const lines = yaml.split('\n').map(lineInfo);
  const at = (i: number) => lines[i] as Line;
  // The lines the next part is looked for in: the whole text, then a found field's value or list item.
  let scope: number[] = [];
  for (let i = 0; i < lines.length; i++) if (lines[i]) scope.push(i);
  let found: number | null = null;
  for (const seg of segs) {
    if (scope.length === 0) break;
    if (typeof seg === 'number') {
      const dashes = scope.filter((i) => at(i).dashCol >= 0);
      if (dashes.length === 0) break;
      const col = Math.min(...dashes.map((i) => at(i).dashCol));
      const items = dashes.filter((i) => at(i).dashCol === col);
      if (seg >= items.length) break;
      const next = seg + 1 < items.length ? items[seg + 1] : Infinity;
      found = items[seg];
      const first = found;
      scope = scope.filter((i) => i >= first && i < next);
      continue;
    }
    const col = Math.min(...scope.map((i) => at(i).keyCol));
    const re = new RegExp(`^(?:"${seg}"|'${seg}'|${seg})\\s*:(?:\\s|$)`);
    const head = scope.find((i) => at(i).keyCol === col && re.test(at(i).text.slice(col)));
    if (head === undefined) break;
    // Its value: the lines after it, up to the next key of its level.
    const after = scope.filter((i) => i > head);
    const stop = after.find((i) => at(i).keyCol <= col) ?? Infinity;
    found = head;
    scope = after.filter((i) => i < stop);
  }
  return found === null ? null : found + 1;
}

/** A server's error about a definition, split into the field it names (if any) and the rest. */
export function splitFieldError(message: string): { field: string | null; text: string } {
  const m = /^(?:[^:]*?: )??([A-Za-z_][A-Za-z0-9_-]*(?:\[\d+\])*(?:\.[A-Za-z_][A-Za-z0-9_-]*(?:\[\d+\])*)*): (.+)$/s.exec(message);
  if (m && parsePath(m[1])) return { field: m[1], text: m[2] };
  return { field: null, text: message };
}

/** The line of `yaml` an error is about: the field it names, or the `line N` of a parse error. */
export function errorLine(yaml: string, message: string): number | null {
  const { field } = splitFieldError(message);
  if (field) {
    const l = fieldLine(yaml, field);
    if (l !== null) return l;
  }
  const m = /\bline (\d+)/.exec(message);
  return m ? Number(m[1]) : null;
}
