// Splitting a workspace's patch file by file, and the path each part names.

import { describe, expect, it } from 'vitest';
import { splitPatch, unquote } from './patch';
import { diffStats } from './Diff';

const PATCH = `diff --git a/notes.txt b/notes.txt
index 3b18e51..a042389 100644
--- a/notes.txt
+++ b/notes.txt
@@ -1 +1 @@
-hello
+hello world
diff --git a/new file.md b/new file.md
new file mode 100644
index 0000000..e69de29
--- /dev/null
+++ b/new file.md
@@ -0,0 +1,2 @@
+one
+two
diff --git a/gone.txt b/gone.txt
deleted file mode 100644
index 3b18e51..0000000
--- a/gone.txt
+++ /dev/null
@@ -1 +0,0 @@
-bye
diff --git a/logo.png b/logo.png
new file mode 100644
index 0000000..5f1e0b2
Binary files /dev/null and b/logo.png differ
diff --git a/old.rs b/src/new.rs
similarity index 100%
rename from old.rs
rename to src/new.rs
diff --git "a/tab\\there" "b/tab\\there"
index 3b18e51..a042389 100644
--- "a/tab\\there"
+++ "b/tab\\there"
@@ -1 +1 @@
-x
+y
`;

describe('splitPatch', () => {
  it('gives one part per file, in order, with its path', () => {
    const parts = splitPatch(PATCH);
    expect(parts.map((p) => p.path)).toEqual(['notes.txt', 'new file.md', 'gone.txt', 'logo.png', 'src/new.rs', 'tab\there']);
    expect(parts[0].text).toBe(
      'diff --git a/notes.txt b/notes.txt\nindex 3b18e51..a042389 100644\n--- a/notes.txt\n+++ b/notes.txt\n@@ -1 +1 @@\n-hello\n+hello world\n',
    );
    expect(diffStats(parts[1].text)).toEqual({ added: 2, removed: 0 });
    expect(diffStats(parts[2].text)).toEqual({ added: 0, removed: 1 });
    // Every line is in exactly one part.
    expect(parts.map((p) => p.text).join('')).toBe(PATCH);
  });

  it('handles an empty patch, a cut one and a plain unified diff', () => {
    expect(splitPatch('')).toEqual([]);
    const cut = splitPatch('diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -1,3 +1,3 @@\n-o');
    expect(cut).toHaveLength(1);
    expect(cut[0].path).toBe('a.txt');
    const plain = splitPatch('--- a/x\n+++ b/x\n@@ -1 +1 @@\n-1\n+2\n--- a/y\n+++ b/y\n@@ -1 +1 @@\n--- 3\n+4\n');
    expect(plain.map((p) => p.path)).toEqual(['x', 'y']);
    expect(diffStats(plain[1].text)).toEqual({ added: 1, removed: 0 });
  });
});

describe('unquote', () => {
  it("undoes git's quoting, octal UTF-8 bytes included", () => {
    expect(unquote('plain')).toBe('plain');
    expect(unquote('"a\\"b\\\\c"')).toBe('a"b\\c');
    expect(unquote('"caf\\303\\251"')).toBe('café');
  });
});
