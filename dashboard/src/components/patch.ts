// A workspace's diff is one unified patch (`git diff` output) for every
// changed file; the dashboard shows it file by file. Pure code, unit-tested.

export interface FilePatch {
  /** The file's path (the new one for a rename, the old one for a deletion). */
  path: string;
  /** Its part of the patch, headers included, ending with a newline. */
  text: string;
}

/** Splits a multi-file unified diff into one patch per file, in order. */
export function splitPatch(patch: string): FilePatch[] {
  const body = patch.replace(/\n$/, '');
  if (!body) return [];
  const lines = body.split('\n');
  const git = lines.some((l) => l.startsWith('diff --git '));
  const chunks: string[][] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    // A file starts at git's header or, in a plain unified diff, at a
    // `---` line followed by a `+++` one.
    const starts = git ? l.startsWith('diff --git ') : l.startsWith('--- ') && (lines[i + 1] ?? '').startsWith('+++ ');
    if (starts || chunks.length === 0) chunks.push([l]);
    else chunks[chunks.length - 1].push(l);
  }
  return chunks.map((c) => ({ path: pathOf(c), text: c.join('\n') + '\n' }));
}

/** Undoes git's C-style quoting of a path (`"a\tb"`, `"\303\251"`). */
export function unquote(s: string): string {
  if (!(s.length >= 2 && s.startsWith('"') && s.endsWith('"'))) return s;
  const bytes: number[] = [];
  const enc = new TextEncoder();
  const esc: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v', a: '\x07', '"': '"', '\\': '\\' };
  const inner = s.slice(1, -1);
  for (let i = 0; i < inner.length; i++) {
    const ch = inner[i];
    if (ch !== '\\' || i + 1 >= inner.length) {
      bytes.push(...enc.encode(ch));
      continue;
    }
    const next = inner[i + 1];
    const oct = /^[0-7]{3}/.exec(inner.slice(i + 1));
    if (oct) {
      bytes.push(parseInt(oct[0], 8));
      i += 3;
    } else {
      bytes.push(...enc.encode(esc[next] ?? next));
      i += 1;
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** `a/x` or `b/x` → `x`; `/dev/null` → null. */
function side(raw: string): string | null {
  const p = unquote(raw.replace(/\t.*$/, ''));
  if (p === '/dev/null') return null;
  return /^[ab]\//.test(p) ? p.slice(2) : p;
}

function pathOf(lines: string[]): string {
  const find = (prefix: string) => lines.find((l) => l.startsWith(prefix))?.slice(prefix.length);
  const plus = find('+++ ');
  const minus = find('--- ');
  const fromPlus = plus !== undefined ? side(plus) : null;
  if (fromPlus) return fromPlus;
  const fromMinus = minus !== undefined ? side(minus) : null;
  if (fromMinus) return fromMinus;
  // No content lines (binary, mode-only, pure rename): git's other headers.
  const renamed = find('rename to ') ?? find('copy to ');
  if (renamed !== undefined) return unquote(renamed);
  const header = find('diff --git ');
  if (header !== undefined) {
    // `a/P b/P`: the same path twice, so its length says where it splits.
    if (header.startsWith('a/') && (header.length - 1) % 2 === 0) {
      const half = (header.length - 1) / 2;
      const a = header.slice(0, half);
      const b = header.slice(half + 1);
      if (b.startsWith('b/') && a.slice(2) === b.slice(2)) return a.slice(2);
    }
    const quoted = /^"(?:[^"\\]|\\.)*" ("(?:[^"\\]|\\.)*")$/.exec(header);
    if (quoted) return side(quoted[1]) ?? header;
    const at = header.lastIndexOf(' b/');
    if (at >= 0) return header.slice(at + 3);
    return header;
  }
  return '(patch)';
}
