//! Native tests of the tools, through the toolbox, against temporary
//! workspaces.

use std::fs;
use std::path::Path;

use paddock_sdk::{CallContext, ToolError, ToolOutput};
use serde_json::json;

use crate::toolbox;

struct Ws {
    dir: tempfile::TempDir,
}

impl Ws {
    fn new() -> Self {
        Ws {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, rel: &str, content: &str) {
        let p = self.root().join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(p, content).unwrap();
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.root().join(rel)).unwrap()
    }

    fn call(&self, tool: &str, input: serde_json::Value) -> Result<ToolOutput, ToolError> {
        let ctx = CallContext {
            agent_id: "a".into(),
            call_id: "c".into(),
            workspace: self.root().to_string_lossy().into_owned(),
        };
        toolbox().invoke(tool, &input.to_string(), &ctx)
    }

    fn ok(&self, tool: &str, input: serde_json::Value) -> String {
        match self.call(tool, input.clone()) {
            Ok(out) => out.content,
            Err(e) => panic!("{tool} {input} failed: {e:?}"),
        }
    }

    fn err(&self, tool: &str, input: serde_json::Value) -> ToolError {
        match self.call(tool, input.clone()) {
            Ok(out) => panic!("{tool} {input} succeeded: {}", out.content),
            Err(e) => e,
        }
    }

    fn backups(&self) -> Vec<String> {
        let mut out = Vec::new();
        let base = self.root().join(".paddock/backups");
        fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
            let Ok(rd) = fs::read_dir(dir) else { return };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, base, out);
                } else {
                    out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        walk(&base, &base, &mut out);
        out.sort();
        out
    }
}

// --- describe -------------------------------------------------------------

#[test]
fn describes_five_tools_with_object_schemas() {
    let specs = toolbox().specs();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["read_file", "write_file", "edit_file", "list_dir", "search"]
    );
    let read_only: Vec<bool> = specs.iter().map(|s| s.read_only).collect();
    assert_eq!(read_only, [true, false, false, true, true]);
    for spec in &specs {
        let schema: serde_json::Value = serde_json::from_str(&spec.input_schema).unwrap();
        assert_eq!(schema["type"], "object", "{}", spec.name);
        assert!(spec.description.len() > 100, "{}", spec.name);
    }
    let edit: serde_json::Value = serde_json::from_str(&specs[2].input_schema).unwrap();
    assert_eq!(
        edit["required"],
        json!(["path", "old_string", "new_string"])
    );
    assert_eq!(edit["additionalProperties"], json!(false));
}

#[test]
fn unknown_fields_and_bad_json_are_invalid_input() {
    let ws = Ws::new();
    let e = ws.err("read_file", json!({"path": "a", "bogus": 1}));
    assert_eq!(e.kind(), "invalid-input");
    assert!(e.message().contains("bogus"), "{e:?}");
    let e = ws.err("read_file", json!({}));
    assert!(e.message().contains("missing field `path`"), "{e:?}");
    let e = ws.err("write_file", json!({"path": "a"}));
    assert!(e.message().contains("content"), "{e:?}");
    let e = ws.err("list_dir", json!({"depth": "deep"}));
    assert_eq!(e.kind(), "invalid-input");
    let e = ws.err("nope", json!({}));
    assert_eq!(e.kind(), "unknown-tool");
}

// --- read_file --------------------------------------------------------------

#[test]
fn read_whole_file_exactly() {
    let ws = Ws::new();
    ws.write("src/main.rs", "fn main() {}\n");
    assert_eq!(
        ws.ok("read_file", json!({"path": "src/main.rs"})),
        "fn main() {}\n"
    );
    assert_eq!(
        ws.ok("read_file", json!({"path": "/workspace/src/main.rs"})),
        "fn main() {}\n"
    );
    assert_eq!(
        ws.ok("read_file", json!({"path": "./src//main.rs"})),
        "fn main() {}\n"
    );
    ws.write("empty", "");
    assert_eq!(ws.ok("read_file", json!({"path": "empty"})), "[empty file]");
}

#[test]
fn read_line_ranges() {
    let ws = Ws::new();
    let text: String = (1..=10).map(|i| format!("line {i}\n")).collect();
    ws.write("f.txt", &text);
    assert_eq!(
        ws.ok(
            "read_file",
            json!({"path": "f.txt", "start_line": 3, "end_line": 4})
        ),
        "line 3\nline 4\n[lines 3-4 of 10]"
    );
    assert_eq!(
        ws.ok("read_file", json!({"path": "f.txt", "start_line": 9})),
        "line 9\nline 10\n[lines 9-10 of 10]"
    );
    assert_eq!(
        ws.ok("read_file", json!({"path": "f.txt", "end_line": 1})),
        "line 1\n[lines 1-1 of 10]"
    );
    assert_eq!(
        ws.ok(
            "read_file",
            json!({"path": "f.txt", "start_line": 10, "end_line": 99})
        ),
        "line 10\n[lines 10-10 of 10]"
    );
    let e = ws.err("read_file", json!({"path": "f.txt", "start_line": 11}));
    assert_eq!(e.kind(), "failed");
    assert!(e.message().contains("has 10 lines"), "{e:?}");
    let e = ws.err("read_file", json!({"path": "f.txt", "start_line": 0}));
    assert_eq!(e.kind(), "invalid-input");
    let e = ws.err(
        "read_file",
        json!({"path": "f.txt", "start_line": 5, "end_line": 2}),
    );
    assert_eq!(e.kind(), "invalid-input");
    let e = ws.err("read_file", json!({"path": "f.txt", "start_line": -1}));
    assert_eq!(e.kind(), "invalid-input");
    // No trailing newline on the last line.
    ws.write("g.txt", "a\nb");
    assert_eq!(
        ws.ok("read_file", json!({"path": "g.txt", "start_line": 2})),
        "b\n[lines 2-2 of 2]"
    );
}

#[test]
fn read_refuses_big_files_without_a_range() {
    let ws = Ws::new();
    let line = "x".repeat(99) + "\n";
    let text = line.repeat(11_000); // 1.1 MB
    ws.write("big.txt", &text);
    let e = ws.err("read_file", json!({"path": "big.txt"}));
    assert_eq!(e.kind(), "failed");
    assert!(e.message().contains("1 MiB"), "{e:?}");
    assert!(e.message().contains("start_line"), "{e:?}");
    let out = ws.ok(
        "read_file",
        json!({"path": "big.txt", "start_line": 10_999, "end_line": 20_000}),
    );
    assert_eq!(out, format!("{line}{line}[lines 10999-11000 of 11000]"));
    // A range covering more than 1 MiB is cut, with a note.
    let out = ws.ok("read_file", json!({"path": "big.txt", "start_line": 1}));
    assert!(out.len() <= crate::util::OUTPUT_BUDGET + 200);
    assert!(
        out.contains("cut at about 1 MiB"),
        "{}",
        &out[out.len() - 200..]
    );
}

#[test]
fn read_refuses_binary_dirs_and_missing() {
    let ws = Ws::new();
    fs::write(ws.root().join("bin"), b"\x7fELF\0\0\x01").unwrap();
    let e = ws.err("read_file", json!({"path": "bin"}));
    assert!(e.message().contains("binary"), "{e:?}");
    let e = ws.err("read_file", json!({"path": "bin", "start_line": 1}));
    assert!(e.message().contains("binary"), "{e:?}");
    fs::create_dir(ws.root().join("d")).unwrap();
    let e = ws.err("read_file", json!({"path": "d"}));
    assert!(e.message().contains("directory"), "{e:?}");
    let e = ws.err("read_file", json!({"path": "missing.txt"}));
    assert_eq!(e.kind(), "failed");
    assert!(e.message().contains("no such file"), "{e:?}");
    fs::write(ws.root().join("latin1"), b"caf\xe9\n").unwrap();
    let out = ws.ok("read_file", json!({"path": "latin1"}));
    assert!(out.starts_with("caf\u{fffd}\n"), "{out}");
    assert!(out.contains("not valid UTF-8"), "{out}");
}

#[cfg(unix)]
#[test]
fn special_files_are_refused_not_waited_on() {
    let ws = Ws::new();
    let fifo = ws.root().join("fifo");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !status.is_ok_and(|s| s.success()) {
        return; // no mkfifo here
    }
    let e = ws.err("read_file", json!({"path": "fifo"}));
    assert!(e.message().contains("not a regular file"), "{e:?}");
    let e = ws.err("write_file", json!({"path": "fifo", "content": "x"}));
    assert!(e.message().contains("not a regular file"), "{e:?}");
    let e = ws.err(
        "edit_file",
        json!({"path": "fifo", "old_string": "a", "new_string": "b"}),
    );
    assert!(e.message().contains("not a regular file"), "{e:?}");
    let out = ws.ok("search", json!({"pattern": "x"}));
    assert!(out.starts_with("No matches"), "{out}");
}

#[test]
fn escapes_are_refused_by_every_tool() {
    let ws = Ws::new();
    for (tool, extra) in [
        ("read_file", json!({})),
        ("write_file", json!({"content": "x"})),
        ("edit_file", json!({"old_string": "a", "new_string": "b"})),
        ("list_dir", json!({})),
        ("search", json!({"pattern": "x"})),
    ] {
        for bad in ["../x", "a/../../x", "/etc/passwd", "/etc", "..", "~/x"] {
            let mut input = extra.clone();
            input["path"] = json!(bad);
            let e = ws.err(tool, input);
            assert_eq!(e.kind(), "denied", "{tool} {bad}: {e:?}");
        }
    }
    assert!(!ws.root().parent().unwrap().join("x").exists());
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_workspace_are_refused() {
    use std::os::unix::fs::symlink;
    let ws = Ws::new();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), "TOP SECRET").unwrap();
    symlink(outside.path().join("secret"), ws.root().join("link")).unwrap();
    symlink(outside.path(), ws.root().join("dirlink")).unwrap();
    symlink("../../../../../../../../../../../..", ws.root().join("up")).unwrap();
    ws.write("real.txt", "real\n");
    symlink("real.txt", ws.root().join("ok_link")).unwrap();

    for path in ["link", "dirlink/secret", "up/etc/passwd"] {
        let e = ws.err("read_file", json!({"path": path}));
        assert_eq!(e.kind(), "denied", "{path}: {e:?}");
        assert!(e.message().contains("symbolic link"), "{path}: {e:?}");
        let e = ws.err("write_file", json!({"path": path, "content": "pwned"}));
        assert_eq!(e.kind(), "denied", "{path}: {e:?}");
        let e = ws.err(
            "edit_file",
            json!({"path": path, "old_string": "TOP", "new_string": "pwned"}),
        );
        assert_eq!(e.kind(), "denied", "{path}: {e:?}");
    }
    assert_eq!(
        fs::read_to_string(outside.path().join("secret")).unwrap(),
        "TOP SECRET"
    );
    let e = ws.err("list_dir", json!({"path": "dirlink"}));
    assert_eq!(e.kind(), "denied");
    let e = ws.err("search", json!({"pattern": "SECRET", "path": "dirlink"}));
    assert_eq!(e.kind(), "denied");
    // A workspace-wide search and listing do not follow links.
    let out = ws.ok("search", json!({"pattern": "SECRET"}));
    assert!(out.starts_with("No matches"), "{out}");
    let out = ws.ok("list_dir", json!({}));
    assert!(out.contains("dirlink -> "), "{out}");
    assert!(!out.contains("dirlink/secret"), "{out}");
    // Links inside the workspace work.
    assert_eq!(ws.ok("read_file", json!({"path": "ok_link"})), "real\n");
    // Backups cannot be diverted outside through a `.paddock` link.
    symlink(outside.path(), ws.root().join(".paddock")).unwrap();
    let e = ws.err("write_file", json!({"path": "real.txt", "content": "new"}));
    assert_eq!(e.kind(), "denied", "{e:?}");
    assert!(e.message().contains("back up"), "{e:?}");
    assert_eq!(ws.read("real.txt"), "real\n");
}

// --- write_file -------------------------------------------------------------

#[test]
fn write_creates_parents_and_backs_up() {
    let ws = Ws::new();
    let out = ws.ok(
        "write_file",
        json!({"path": "a/b/c.txt", "content": "hello"}),
    );
    assert_eq!(out, "Wrote 5 bytes to `a/b/c.txt` (new file).");
    assert_eq!(ws.read("a/b/c.txt"), "hello");
    assert!(ws.backups().is_empty());

    let out = ws
        .call("write_file", json!({"path": "a/b/c.txt", "content": "bye"}))
        .unwrap();
    assert!(
        out.content
            .starts_with("Wrote 3 bytes to `a/b/c.txt` (replacing 5 bytes"),
        "{}",
        out.content
    );
    assert_eq!(ws.read("a/b/c.txt"), "bye");
    let backups = ws.backups();
    assert_eq!(backups.len(), 1);
    assert!(backups[0].starts_with("a/b/c.txt."), "{backups:?}");
    assert!(
        out.content
            .contains(&format!(".paddock/backups/{}", backups[0]))
    );
    assert_eq!(
        ws.read(&format!(".paddock/backups/{}", backups[0])),
        "hello"
    );
    let structured: serde_json::Value =
        serde_json::from_str(out.structured.as_deref().unwrap()).unwrap();
    assert_eq!(structured["bytes"], 3);
    assert_eq!(structured["created"], false);

    // Two writes in the same second keep both backups.
    ws.ok("write_file", json!({"path": "a/b/c.txt", "content": "3"}));
    ws.ok("write_file", json!({"path": "a/b/c.txt", "content": "4"}));
    let backups = ws.backups();
    assert_eq!(backups.len(), 3, "{backups:?}");
    let contents: Vec<String> = backups
        .iter()
        .map(|b| ws.read(&format!(".paddock/backups/{b}")))
        .collect();
    for c in ["hello", "bye", "3"] {
        assert!(contents.contains(&c.to_string()), "{contents:?}");
    }
}

#[test]
fn write_refusals() {
    let ws = Ws::new();
    fs::create_dir(ws.root().join("d")).unwrap();
    let e = ws.err("write_file", json!({"path": "d", "content": "x"}));
    assert!(e.message().contains("directory"), "{e:?}");
    let e = ws.err("write_file", json!({"path": ".", "content": "x"}));
    assert_eq!(e.kind(), "invalid-input");
    ws.write("file", "x");
    let e = ws.err(
        "write_file",
        json!({"path": "file/sub.txt", "content": "x"}),
    );
    assert_eq!(e.kind(), "failed");
    assert!(e.message().contains("file/sub.txt"), "{e:?}");
}

// --- edit_file --------------------------------------------------------------

#[test]
fn edit_replaces_exactly_once() {
    let ws = Ws::new();
    ws.write("m.rs", "fn a() {}\nfn b() {}\n");
    let out = ws.ok(
        "edit_file",
        json!({"path": "m.rs", "old_string": "fn b() {}", "new_string": "fn b() { a() }"}),
    );
    assert!(
        out.starts_with("Edited `m.rs`: replaced 1 occurrence at line 2."),
        "{out}"
    );
    assert_eq!(ws.read("m.rs"), "fn a() {}\nfn b() { a() }\n");
    let backups = ws.backups();
    assert_eq!(backups.len(), 1);
    assert_eq!(
        ws.read(&format!(".paddock/backups/{}", backups[0])),
        "fn a() {}\nfn b() {}\n"
    );
    // Deleting text with an empty new_string.
    ws.ok(
        "edit_file",
        json!({"path": "m.rs", "old_string": "fn a() {}\n", "new_string": ""}),
    );
    assert_eq!(ws.read("m.rs"), "fn b() { a() }\n");
}

#[test]
fn edit_ambiguous_and_replace_all() {
    let ws = Ws::new();
    ws.write("t.txt", "x = 1\ny = 2\nx = 1\nx = 1\n");
    let e = ws.err(
        "edit_file",
        json!({"path": "t.txt", "old_string": "x = 1", "new_string": "x = 9"}),
    );
    assert_eq!(e.kind(), "failed");
    assert!(e.message().contains("occurs 3 times"), "{e:?}");
    assert!(e.message().contains("lines 1, 3, 4"), "{e:?}");
    assert!(e.message().contains("replace_all"), "{e:?}");
    assert_eq!(ws.read("t.txt"), "x = 1\ny = 2\nx = 1\nx = 1\n");
    assert!(ws.backups().is_empty());
    let out = ws.ok(
        "edit_file",
        json!({"path": "t.txt", "old_string": "x = 1", "new_string": "x = 9", "replace_all": true}),
    );
    assert!(out.contains("replaced 3 occurrences"), "{out}");
    assert_eq!(ws.read("t.txt"), "x = 9\ny = 2\nx = 9\nx = 9\n");
    // replace_all with a single occurrence is fine too.
    ws.ok(
        "edit_file",
        json!({"path": "t.txt", "old_string": "y = 2", "new_string": "y = 3", "replace_all": true}),
    );
    assert_eq!(ws.read("t.txt"), "x = 9\ny = 3\nx = 9\nx = 9\n");
}

#[test]
fn edit_not_found_says_so_with_hints() {
    let ws = Ws::new();
    ws.write("p.py", "def f():\n    return 1\n");
    let e = ws.err(
        "edit_file",
        json!({"path": "p.py", "old_string": "\treturn 1", "new_string": "\treturn 2"}),
    );
    assert_eq!(e.kind(), "failed");
    assert!(e.message().contains("not found"), "{e:?}");
    assert!(e.message().contains("at line 2"), "{e:?}");
    let e = ws.err(
        "edit_file",
        json!({"path": "p.py", "old_string": "def f():\n  return 1", "new_string": "x"}),
    );
    assert!(e.message().contains("line 1"), "{e:?}");
    ws.write("w.txt", "a\r\nb\r\n");
    let e = ws.err(
        "edit_file",
        json!({"path": "w.txt", "old_string": "a\nb", "new_string": "c"}),
    );
    assert!(e.message().contains("CRLF"), "{e:?}");
    assert_eq!(ws.read("p.py"), "def f():\n    return 1\n");
    assert!(ws.backups().is_empty());
}

#[test]
fn edit_refusals() {
    let ws = Ws::new();
    ws.write("f", "abc");
    let e = ws.err(
        "edit_file",
        json!({"path": "f", "old_string": "", "new_string": "x"}),
    );
    assert_eq!(e.kind(), "invalid-input");
    let e = ws.err(
        "edit_file",
        json!({"path": "f", "old_string": "a", "new_string": "a"}),
    );
    assert_eq!(e.kind(), "invalid-input");
    let e = ws.err(
        "edit_file",
        json!({"path": "nope", "old_string": "a", "new_string": "b"}),
    );
    assert!(e.message().contains("write_file"), "{e:?}");
    fs::write(ws.root().join("bin"), b"\xff\xfe").unwrap();
    let e = ws.err(
        "edit_file",
        json!({"path": "bin", "old_string": "a", "new_string": "b"}),
    );
    assert!(e.message().contains("UTF-8"), "{e:?}");
}

// --- list_dir ---------------------------------------------------------------

#[test]
fn list_dir_depths_and_marks() {
    let ws = Ws::new();
    ws.write("Cargo.toml", "");
    ws.write("src/main.rs", "");
    ws.write("src/deep/er/x.rs", "");
    ws.write(".git/HEAD", "");
    ws.write(".paddock/backups/x", "");
    ws.write(".github/workflows/ci.yml", "");
    assert_eq!(
        ws.ok("list_dir", json!({"depth": 1})),
        ".github/\nCargo.toml\nsrc/"
    );
    assert_eq!(
        ws.ok("list_dir", json!({})),
        ".github/\n.github/workflows/\nCargo.toml\nsrc/\nsrc/deep/\nsrc/main.rs"
    );
    assert_eq!(
        ws.ok("list_dir", json!({"path": "src", "depth": 10})),
        "src/deep/\nsrc/deep/er/\nsrc/deep/er/x.rs\nsrc/main.rs"
    );
    assert_eq!(
        ws.ok("list_dir", json!({"path": "/workspace/src/deep/er"})),
        "src/deep/er/x.rs"
    );
    let out = ws.ok("list_dir", json!({"depth": 50}));
    assert!(out.contains("lowered to the maximum"), "{out}");
    let e = ws.err("list_dir", json!({"depth": 0}));
    assert_eq!(e.kind(), "invalid-input");
    let e = ws.err("list_dir", json!({"path": "Cargo.toml"}));
    assert!(e.message().contains("read_file"), "{e:?}");
    let e = ws.err("list_dir", json!({"path": "nope"}));
    assert_eq!(e.kind(), "failed");
    fs::create_dir(ws.root().join("empty")).unwrap();
    assert_eq!(
        ws.ok("list_dir", json!({"path": "empty"})),
        "`empty` is empty."
    );
}

#[test]
fn list_dir_marks_gitignored_dirs() {
    let ws = Ws::new();
    ws.write(".gitignore", "target/\n*.log\n");
    ws.write("target/debug/app", "");
    ws.write("src/app.log", "");
    ws.write("src/nested/.gitignore", "gen/\n");
    ws.write("src/nested/gen/out.rs", "");
    ws.write("src/nested/keep/k.rs", "");
    let out = ws.ok("list_dir", json!({"depth": 4}));
    assert_eq!(
        out,
        ".gitignore\nsrc/\nsrc/app.log\nsrc/nested/\nsrc/nested/.gitignore\nsrc/nested/gen/ (gitignored, not expanded)\nsrc/nested/keep/\nsrc/nested/keep/k.rs\ntarget/ (gitignored, not expanded)"
    );
    // Listing an ignored directory explicitly shows it.
    assert_eq!(
        ws.ok("list_dir", json!({"path": "target"})),
        "target/debug/\ntarget/debug/app"
    );
}

#[test]
fn list_dir_caps_entries() {
    let ws = Ws::new();
    for i in 0..1100 {
        ws.write(&format!("d/f{i:04}"), "");
    }
    let out = ws.ok("list_dir", json!({"path": "d"}));
    assert_eq!(out.lines().count(), 1001);
    assert!(out.ends_with("list a subdirectory or use a smaller depth to see the rest]"));
}

// --- search -----------------------------------------------------------------

#[test]
fn search_finds_lines() {
    let ws = Ws::new();
    ws.write("src/a.rs", "fn main() {\n    // TODO: x\n}\n");
    ws.write("src/b.py", "# TODO y\n");
    ws.write("README", "nothing\n");
    let out = ws.ok("search", json!({"pattern": "TODO"}));
    assert_eq!(
        out,
        "src/a.rs:2:     // TODO: x\nsrc/b.py:1: # TODO y\n[2 matches in 2 files; 3 files searched]"
    );
    let out = ws.ok("search", json!({"pattern": "TODO", "glob": "*.rs"}));
    assert_eq!(
        out,
        "src/a.rs:2:     // TODO: x\n[1 match in 1 file; 1 file matching `*.rs` searched]"
    );
    let out = ws.ok("search", json!({"pattern": "TODO", "path": "src/b.py"}));
    assert!(out.starts_with("src/b.py:1: # TODO y\n"), "{out}");
    let out = ws.ok(
        "search",
        json!({"pattern": "(?i)todo", "glob": "src/**/*.py"}),
    );
    assert!(out.starts_with("src/b.py:1:"), "{out}");
    let out = ws.ok("search", json!({"pattern": "fn\\s+main\\(\\)"}));
    assert!(out.starts_with("src/a.rs:1: fn main() {"), "{out}");
    let out = ws.ok("search", json!({"pattern": "absent"}));
    assert_eq!(
        out,
        "No matches for `absent` in the workspace (3 files searched)."
    );
}

#[test]
fn search_respects_gitignore_and_skips() {
    let ws = Ws::new();
    ws.write(".gitignore", "target/\n*.log\n!keep.log\n");
    ws.write("target/x.rs", "needle\n");
    ws.write("a.log", "needle\n");
    ws.write("keep.log", "needle\n");
    ws.write("sub/.gitignore", "local.txt\n");
    ws.write("sub/local.txt", "needle\n");
    ws.write("sub/other.txt", "needle\n");
    ws.write(".git/config", "needle\n");
    ws.write(".paddock/backups/f.1", "needle\n");
    ws.write(".hidden/h.txt", "needle\n");
    fs::write(ws.root().join("bin.dat"), b"needle\0\0").unwrap();
    let out = ws.ok("search", json!({"pattern": "needle"}));
    let files: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_once(':').map(|(f, _)| f))
        .collect();
    assert_eq!(
        files,
        [".hidden/h.txt", "keep.log", "sub/other.txt"],
        "{out}"
    );
    // Searching inside a subdirectory still applies the root's .gitignore.
    let out = ws.ok("search", json!({"pattern": "needle", "path": "sub"}));
    assert!(out.starts_with("sub/other.txt:1: needle\n["), "{out}");
}

#[test]
fn search_output_stays_under_the_budget() {
    let ws = Ws::new();
    let line = format!("hit {}\n", "😀".repeat(400));
    ws.write("wide.txt", &line.repeat(1000));
    let out = ws.ok("search", json!({"pattern": "hit", "max_results": 1000}));
    assert!(
        out.len() <= crate::util::OUTPUT_BUDGET + 300,
        "{}",
        out.len()
    );
    assert!(out.lines().count() < 1000, "{}", out.lines().count());
    let last = out.lines().last().unwrap();
    assert!(last.contains("there are more"), "{last}");
}

#[test]
fn search_caps_and_errors() {
    let ws = Ws::new();
    let text: String = (0..50).map(|i| format!("hit {i}\n")).collect();
    ws.write("many.txt", &text);
    ws.write("long.txt", &format!("hit {}\n", "é".repeat(1000)));
    let out = ws.ok("search", json!({"pattern": "hit", "max_results": 10}));
    assert_eq!(out.lines().count(), 11);
    assert!(out.contains("showing the first 10 matches"), "{out}");
    let out = ws.ok("search", json!({"pattern": "hit", "path": "long.txt"}));
    let first = out.lines().next().unwrap();
    assert!(first.ends_with('…'), "{first}");
    assert!(first.chars().count() < 330, "{first}");
    let e = ws.err("search", json!({"pattern": "("}));
    assert_eq!(e.kind(), "invalid-input");
    assert!(e.message().contains("regular expression"), "{e:?}");
    let e = ws.err("search", json!({"pattern": ""}));
    assert_eq!(e.kind(), "invalid-input");
    let e = ws.err("search", json!({"pattern": "x", "glob": "a[b"}));
    assert_eq!(e.kind(), "invalid-input");
    let e = ws.err("search", json!({"pattern": "x", "max_results": 0}));
    assert_eq!(e.kind(), "invalid-input");
    let e = ws.err("search", json!({"pattern": "x", "path": "missing"}));
    assert_eq!(e.kind(), "failed");
}
