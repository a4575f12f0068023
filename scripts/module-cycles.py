#!/usr/bin/env python3
"""Fails when the modules of a crate depend on each other in a cycle.

For every workspace crate under host/ (and the SDK), it reads the module
tree (`mod x;` declarations, inline `mod x { … }` are part of their file),
and the paths each file uses: `crate::a::b::Item`, `super::…` and `self::…`.
A path is resolved to the deepest module it names, through the `pub use`
re-exports of the modules on the way (so `crate::agent::Agent`, re-exported by
`agent/mod.rs` from `agent/runner.rs`, counts as a use of `agent::runner`).

An edge from module A to module B counts between the two siblings under their
lowest common ancestor (a use of `agent::runner` from `policy::rules` is an
edge `policy -> agent`); uses of an ancestor or a descendant do not count
(a module and its parent are one unit). Unit tests (`tests` modules, and
an inline `#[cfg(test)] mod … { … }` to the end of its file) may use any
module of their crate and are left out. Any cycle among siblings is printed
and the script exits 1.

Usage: scripts/module-cycles.py [crate-dir …]   (default: every crate)
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MOD_DECL = re.compile(r'^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;', re.M)
PUB_USE = re.compile(r'^\s*pub\s+use\s+([^;]+);', re.M)
PATH = re.compile(r'\b(crate|super|self)((?:::\w+)+)')
COMMENT = re.compile(r'//[^\n]*')


def crates():
    out = []
    host = os.path.join(ROOT, 'host')
    for name in sorted(os.listdir(host)):
        if os.path.isfile(os.path.join(host, name, 'Cargo.toml')):
            out.append(os.path.join(host, name))
    out.append(host)
    out.append(os.path.join(ROOT, 'sdk'))
    return out


def module_files(src, root_file):
    """{module path tuple: file} for the crate rooted at root_file."""
    mods = {(): root_file}
    todo = [()]
    while todo:
        path = todo.pop()
        f = mods[path]
        text = COMMENT.sub('', open(f, encoding='utf-8').read())
        base = os.path.dirname(f)
        stem = os.path.splitext(os.path.basename(f))[0]
        if path and stem not in ('mod', 'lib', 'main'):
            base = os.path.join(base, stem)
        for m in MOD_DECL.finditer(text):
            name = m.group(1)
            for cand in (os.path.join(base, name + '.rs'), os.path.join(base, name, 'mod.rs')):
                if os.path.isfile(cand):
                    mods[path + (name,)] = cand
                    todo.append(path + (name,))
                    break
    return mods


def reexports(mods):
    """{(module, item): module path it comes from} for `pub use sub::…`."""
    out = {}
    for path, f in mods.items():
        text = COMMENT.sub('', open(f, encoding='utf-8').read())
        for m in PUB_USE.finditer(text):
            spec = ' '.join(m.group(1).split())
            head, _, rest = spec.partition('::{')
            if rest:
                items = [i.strip().split(' as ')[-1].split('::')[-1] for i in rest.rstrip('}').split(',')]
                prefix = head
            else:
                prefix, _, item = spec.rpartition('::')
                items = [item.split(' as ')[-1]]
            segs = [s for s in prefix.split('::') if s]
            if not segs:
                continue
            if segs[0] == 'crate':
                target = tuple(segs[1:])
            elif segs[0] == 'self':
                target = path + tuple(segs[1:])
            elif path + (segs[0],) in mods:
                target = path + tuple(segs)
            else:
                continue  # another crate
            for i in items:
                if i and i != '*':
                    out[(path, i)] = target
    return out


def resolve(mods, rex, segs):
    """The deepest module a path (list of segments from a module) names."""
    cur = ()
    for s in segs:
        if cur + (s,) in mods:
            cur = cur + (s,)
            continue
        seen = 0
        while (cur, s) in rex and seen < 8:
            cur = rex[(cur, s)]
            seen += 1
            while cur not in mods and cur:
                cur = cur[:-1]
        break
    return cur


TEST_MOD = re.compile(r'#\[cfg\(test\)\]\s*(?:pub\s+)?mod\s+\w+\s*\{.*', re.S)


def edges(mods, rex):
    out = set()
    for path, f in mods.items():
        if 'tests' in path:
            continue  # unit tests may use any module of their crate
        text = COMMENT.sub('', open(f, encoding='utf-8').read())
        text = TEST_MOD.sub('', text)
        # `use` groups: expand `crate::a::{b, c::d}` one level.
        text = re.sub(r'\b((?:crate|super|self)(?:::\w+)*)::\{([^{}]*)\}',
                      lambda m: ' '.join(m.group(1) + '::' + i.strip() for i in m.group(2).split(',') if i.strip()),
                      text)
        for m in PATH.finditer(text):
            kind, rest = m.group(1), [s for s in m.group(2).split('::') if s]
            if kind == 'crate':
                base = ()
            elif kind == 'self':
                base = path
            else:
                k = 0
                while rest and rest[0] == 'super':
                    rest = rest[1:]
                    k += 1
                base = path[:max(0, len(path) - 1 - k)]
            target = resolve(mods, rex, list(base) + rest) if kind != 'crate' else resolve(mods, rex, rest)
            a, b = path, target
            n = 0
            while n < len(a) and n < len(b) and a[n] == b[n]:
                n += 1
            if n == len(a) or n == len(b):
                continue  # ancestor or descendant
            out.add((a[:n], a[n], b[n]))
    return out


def cycles(es):
    graph = {}
    for parent, a, b in es:
        graph.setdefault(parent, {}).setdefault(a, set()).add(b)
    found = []
    for parent, g in graph.items():
        index, low, stack, on, comp = {}, {}, [], set(), []
        counter = [0]

        def strong(v):
            index[v] = low[v] = counter[0]
            counter[0] += 1
            stack.append(v)
            on.add(v)
            for w in g.get(v, ()):
                if w not in index:
                    strong(w)
                    low[v] = min(low[v], low[w])
                elif w in on:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                c = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    c.append(w)
                    if w == v:
                        break
                if len(c) > 1:
                    comp.append(sorted(c))

        for v in list(g):
            if v not in index:
                strong(v)
        for c in comp:
            found.append((parent, c, g))
    return found


def main():
    dirs = sys.argv[1:] or crates()
    bad = 0
    for d in dirs:
        src = os.path.join(d, 'src')
        roots = [os.path.join(src, f) for f in ('lib.rs', 'main.rs') if os.path.isfile(os.path.join(src, f))]
        for root in roots:
            mods = module_files(src, root)
            rex = reexports(mods)
            es = edges(mods, rex)
            for parent, comp, g in cycles(es):
                bad += 1
                where = '::'.join(parent) or 'crate root'
                print(f'{os.path.relpath(root, ROOT)}: modules under {where} form a cycle: {", ".join(comp)}')
                for a in comp:
                    for b in sorted(g.get(a, ())):
                        if b in comp:
                            print(f'    {a} -> {b}')
    if bad:
        sys.exit(1)
    print(f'no module cycles in {len(dirs)} crates')


if __name__ == '__main__':
    main()
