//! End-to-end tests of the built-in file tools (`plugins/fs-tools`) through
//! the real `paddock` binary: each test gets a fresh data dir (the built-in
//! plugins, staged by `make plugins` in `target/plugins/`, are installed into
//! it on first use) and a fresh temporary workspace.
//!
//! Besides each tool's behaviour, they check that nothing reaches outside the
//! workspace: `..`, absolute paths, symbolic links to files and directories
//! outside, and a file or directory swapped for such a link while the tools
//! are being called.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::Paddock;
use serde_json::{Value, json};

/// What must never be printed.
const SECRET: &str = "TOP-SECRET-4f1c9a";

/// Compiled components are cached across the tests' data dirs (the cache is
/// keyed by the component's hash and safe to share).
fn cache_dir() -> PathBuf {
    let bin = common::paddock_bin();
    let target = bin
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    target.join("tmp").join("file-tools-component-cache")
}

struct Env {
    paddock: Paddock,
    ws: tempfile::TempDir,
    /// A directory next to the workspace, holding the secret.
    outside: tempfile::TempDir,
}

/// A tool call's outcome.
#[derive(Debug)]
struct Call {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Call {
    fn from(out: Output) -> Call {
        Call {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts a tool error of `kind` and returns its message.
    fn error(&self, kind: &str) -> &str {
        assert_eq!(self.code, 1, "expected a tool error, got {self:?}");
        assert!(self.stdout.is_empty(), "{self:?}");
        let prefix = format!("error: {kind}: ");
        let line = self
            .stderr
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("no error line: {self:?}"));
        assert!(line.starts_with(&prefix), "expected {prefix:?}: {self:?}");
        &line[prefix.len()..]
    }

    fn leaks_secret(&self) -> bool {
        self.stdout.contains(SECRET) || self.stderr.contains(SECRET)
    }
}

impl Env {
    fn new() -> Env {
        let env = Env {
            paddock: Paddock::new(),
            ws: tempfile::Builder::new()
                .prefix("paddock-ws-")
                .tempdir()
                .expect("workspace"),
            outside: tempfile::Builder::new()
                .prefix("paddock-outside-")
                .tempdir()
                .expect("outside dir"),
        };
        fs::write(env.outside.path().join("secret.txt"), format!("{SECRET}\n")).unwrap();
        env
    }

    fn root(&self) -> &Path {
        self.ws.path()
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

    fn secret_path(&self) -> PathBuf {
        self.outside.path().join("secret.txt")
    }

    fn paddock(&self, args: &[&str]) -> Output {
        self.paddock
            .command()
            .env("PADDOCK_CACHE_DIR", cache_dir())
            .args(args)
            .output()
            .expect("run paddock")
    }

    fn call(&self, tool: &str, input: Value) -> Call {
        let ws = self.root().to_string_lossy().into_owned();
        Call::from(self.paddock(&[
            "tool",
            "call",
            tool,
            "--workspace",
            &ws,
            "--input",
            &input.to_string(),
        ]))
    }

    /// Calls a tool that must succeed; returns its stdout.
    fn ok(&self, tool: &str, input: Value) -> String {
        let call = self.call(tool, input.clone());
        assert_eq!(call.code, 0, "{tool} {input}: {call:?}");
        call.stdout
    }

    fn backups(&self) -> Vec<String> {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
            let Ok(rd) = fs::read_dir(dir) else { return };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, base, out);
                } else if let Ok(rel) = p.strip_prefix(base) {
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
        let base = self.root().join(".paddock/backups");
        let mut out = Vec::new();
        walk(&base, &base, &mut out);
        out.sort();
        out
    }
}

/// What `paddock tool call` prints for a tool's `content`: the content,
/// with a newline added when it does not end with one.
fn printed(content: &str) -> String {
    if content.ends_with('\n') {
        content.to_string()
    } else {
        format!("{content}\n")
    }
}

#[cfg(unix)]
fn symlink(target: impl AsRef<Path>, link: impl AsRef<Path>) {
    std::os::unix::fs::symlink(target, link).expect("create symlink");
}

#[test]
fn tool_list_describes_the_file_tools() {
    let env = Env::new();
    let out = env.paddock(&["tool", "list", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let tools: Vec<Value> = serde_json::from_slice(&out.stdout).expect("tool list JSON");
    let expect = [
        ("read_file", true, vec!["path"]),
        ("write_file", false, vec!["path", "content"]),
        ("edit_file", false, vec!["path", "old_string", "new_string"]),
        ("list_dir", true, vec![]),
        ("search", true, vec!["pattern"]),
    ];
    for (name, read_only, required) in expect {
        let tool = tools
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| {
                panic!("tool {name} is not listed — are the built-in plugins staged (`make plugins`)? {tools:?}")
            });
        assert_eq!(tool["plugin"], "fs-tools", "{tool}");
        assert_eq!(tool["read_only"], read_only, "{tool}");
        let schema = &tool["input_schema"];
        assert_eq!(schema["type"], "object", "{tool}");
        let req: Vec<&str> = schema["required"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(req, required, "{tool}");
        assert!(
            tool["description"].as_str().is_some_and(|d| d.len() > 100),
            "{tool}"
        );
    }
    let read = tools.iter().find(|t| t["name"] == "read_file").unwrap();
    assert_eq!(
        read["input_schema"]["properties"]["start_line"]["type"],
        "integer"
    );
}

#[test]
fn read_file_whole_and_ranges() {
    let env = Env::new();
    env.write("src/main.rs", "fn main() {\n    println!(\"hi\");\n}\n");
    assert_eq!(
        env.ok("read_file", json!({"path": "src/main.rs"})),
        "fn main() {\n    println!(\"hi\");\n}\n"
    );
    assert_eq!(
        env.ok("read_file", json!({"path": "/workspace/src/main.rs"})),
        "fn main() {\n    println!(\"hi\");\n}\n"
    );
    assert_eq!(
        env.ok(
            "read_file",
            json!({"path": "src/main.rs", "start_line": 2, "end_line": 2})
        ),
        printed("    println!(\"hi\");\n[lines 2-2 of 3]")
    );
    let msg = env
        .call("read_file", json!({"path": "src/main.rs", "start_line": 9}))
        .error("failed")
        .to_string();
    assert!(msg.contains("3 lines"), "{msg}");
    let msg = env
        .call("read_file", json!({"path": "nope.txt"}))
        .error("failed")
        .to_string();
    assert!(msg.contains("no such file"), "{msg}");
    let msg = env
        .call("read_file", json!({"path": "src"}))
        .error("failed")
        .to_string();
    assert!(msg.contains("directory"), "{msg}");
    // Over 1 MiB needs a line range.
    env.write("big.txt", &"0123456789abcdef\n".repeat(70_000));
    let msg = env
        .call("read_file", json!({"path": "big.txt"}))
        .error("failed")
        .to_string();
    assert!(msg.contains("1 MiB") && msg.contains("start_line"), "{msg}");
    assert_eq!(
        env.ok(
            "read_file",
            json!({"path": "big.txt", "start_line": 70_000})
        ),
        printed("0123456789abcdef\n[lines 70000-70000 of 70000]")
    );
}

#[test]
fn bad_input_is_invalid_input() {
    let env = Env::new();
    let msg = env
        .call("read_file", json!({}))
        .error("invalid-input")
        .to_string();
    assert!(msg.contains("path"), "{msg}");
    let msg = env
        .call("read_file", json!({"path": "a", "lines": 3}))
        .error("invalid-input")
        .to_string();
    assert!(msg.contains("lines"), "{msg}");
    env.call("read_file", json!({"path": ""}))
        .error("invalid-input");
    env.call("search", json!({"pattern": "(unclosed"}))
        .error("invalid-input");
    env.call("list_dir", json!({"depth": 0}))
        .error("invalid-input");
    env.call(
        "edit_file",
        json!({"path": "a", "old_string": "", "new_string": "x"}),
    )
    .error("invalid-input");
}

#[test]
fn write_file_creates_and_keeps_backups() {
    let env = Env::new();
    let out = env.ok(
        "write_file",
        json!({"path": "docs/notes/todo.md", "content": "- one\n"}),
    );
    assert_eq!(
        out,
        printed("Wrote 6 bytes to `docs/notes/todo.md` (new file).")
    );
    assert_eq!(env.read("docs/notes/todo.md"), "- one\n");
    assert!(env.backups().is_empty());

    let out = env.ok(
        "write_file",
        json!({"path": "docs/notes/todo.md", "content": "- one\n- two\n"}),
    );
    assert!(
        out.starts_with("Wrote 12 bytes to `docs/notes/todo.md`"),
        "{out}"
    );
    assert_eq!(env.read("docs/notes/todo.md"), "- one\n- two\n");
    let backups = env.backups();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert!(backups[0].starts_with("docs/notes/todo.md."), "{backups:?}");
    assert!(
        out.contains(&format!("`.paddock/backups/{}`", backups[0])),
        "{out}"
    );
    assert_eq!(
        env.read(&format!(".paddock/backups/{}", backups[0])),
        "- one\n"
    );
}

#[test]
fn edit_file_exact_replacement() {
    let env = Env::new();
    env.write(
        "lib.py",
        "def f():\n    return 1\n\ndef g():\n    return 1\n",
    );
    // Ambiguous: two occurrences, nothing changes.
    let msg = env
        .call(
            "edit_file",
            json!({"path": "lib.py", "old_string": "return 1", "new_string": "return 2"}),
        )
        .error("failed")
        .to_string();
    assert!(msg.contains("occurs 2 times"), "{msg}");
    assert!(msg.contains("lines 2, 5"), "{msg}");
    // Absent: nothing changes.
    let msg = env
        .call(
            "edit_file",
            json!({"path": "lib.py", "old_string": "return 3", "new_string": "return 4"}),
        )
        .error("failed")
        .to_string();
    assert!(msg.contains("not found"), "{msg}");
    assert_eq!(
        env.read("lib.py"),
        "def f():\n    return 1\n\ndef g():\n    return 1\n"
    );
    assert!(env.backups().is_empty());
    // Unique with context.
    let out = env.ok(
        "edit_file",
        json!({"path": "lib.py", "old_string": "def g():\n    return 1", "new_string": "def g():\n    return 7"}),
    );
    assert!(out.contains("replaced 1 occurrence at line 4"), "{out}");
    assert_eq!(
        env.read("lib.py"),
        "def f():\n    return 1\n\ndef g():\n    return 7\n"
    );
    // replace_all.
    let out = env.ok(
        "edit_file",
        json!({"path": "lib.py", "old_string": "return", "new_string": "yield", "replace_all": true}),
    );
    assert!(out.contains("replaced 2 occurrences"), "{out}");
    assert_eq!(
        env.read("lib.py"),
        "def f():\n    yield 1\n\ndef g():\n    yield 7\n"
    );
    let backups = env.backups();
    assert_eq!(backups.len(), 2, "{backups:?}");
    let old: Vec<String> = backups
        .iter()
        .map(|b| env.read(&format!(".paddock/backups/{b}")))
        .collect();
    assert!(old.contains(&"def f():\n    return 1\n\ndef g():\n    return 1\n".to_string()));
    assert!(old.contains(&"def f():\n    return 1\n\ndef g():\n    return 7\n".to_string()));
    // Missing file.
    let msg = env
        .call(
            "edit_file",
            json!({"path": "nope.py", "old_string": "a", "new_string": "b"}),
        )
        .error("failed")
        .to_string();
    assert!(msg.contains("write_file"), "{msg}");
}

#[test]
fn list_dir_lists_the_tree() {
    let env = Env::new();
    env.write("Cargo.toml", "");
    env.write("src/main.rs", "");
    env.write("src/util/mod.rs", "");
    env.write(".git/HEAD", "ref: refs/heads/main\n");
    env.write(".gitignore", "target/\n");
    env.write("target/debug/app", "");
    env.ok(
        "write_file",
        json!({"path": "Cargo.toml", "content": "[package]\n"}),
    );
    assert_eq!(
        env.ok("list_dir", json!({})),
        printed(
            ".gitignore\nCargo.toml\nsrc/\nsrc/main.rs\nsrc/util/\ntarget/ (gitignored, not expanded)"
        )
    );
    assert_eq!(
        env.ok("list_dir", json!({"path": "src", "depth": 1})),
        printed("src/main.rs\nsrc/util/")
    );
    let msg = env
        .call("list_dir", json!({"path": "Cargo.toml"}))
        .error("failed")
        .to_string();
    assert!(msg.contains("not a directory"), "{msg}");
}

#[test]
fn search_respects_gitignore() {
    let env = Env::new();
    env.write(".gitignore", "build/\n*.min.js\n");
    env.write("src/app.js", "// TODO: fix\nconst x = 1;\n");
    env.write("src/app.min.js", "// TODO: minified\n");
    env.write("build/out.js", "// TODO: built\n");
    env.write("src/nested/.gitignore", "secret.js\n");
    env.write("src/nested/secret.js", "// TODO: ignored by nested\n");
    env.write("src/nested/ok.rs", "// TODO: rust\n");
    env.write(".git/info", "TODO\n");
    let out = env.ok("search", json!({"pattern": "TODO"}));
    assert_eq!(
        out,
        printed(
            "src/app.js:1: // TODO: fix\nsrc/nested/ok.rs:1: // TODO: rust\n[2 matches in 2 files; 4 files searched]"
        )
    );
    let out = env.ok("search", json!({"pattern": "todo", "glob": "*.rs"}));
    assert!(out.starts_with("No matches"), "{out}");
    let out = env.ok("search", json!({"pattern": "(?i)todo", "glob": "*.rs"}));
    assert!(
        out.starts_with("src/nested/ok.rs:1: // TODO: rust\n"),
        "{out}"
    );
    let out = env.ok(
        "search",
        json!({"pattern": "const \\w+ = \\d", "path": "src"}),
    );
    assert!(out.starts_with("src/app.js:2: const x = 1;\n"), "{out}");
}

/// Each file tool with an input that would read or change the secret, less
/// its `path`.
fn every_tool_with_input() -> [(&'static str, serde_json::Value); 5] {
    [
        ("read_file", json!({})),
        ("write_file", json!({"content": "pwned"})),
        (
            "edit_file",
            json!({"old_string": SECRET, "new_string": "pwned"}),
        ),
        ("list_dir", json!({})),
        ("search", json!({"pattern": "SECRET"})),
    ]
}

#[test]
fn dotdot_and_absolute_paths_are_denied() {
    let env = Env::new();
    let escape_name = format!(
        "escape-{}.txt",
        env.root().file_name().unwrap().to_string_lossy()
    );
    let secret = env.secret_path().to_string_lossy().into_owned();
    let outside_dir = env.outside.path().to_string_lossy().into_owned();
    let dotdot = format!("../{escape_name}");
    let deep = format!("a/../../{escape_name}");
    for path in [
        dotdot.as_str(),
        deep.as_str(),
        "..",
        "/etc/passwd",
        secret.as_str(),
        outside_dir.as_str(),
        "/workspace/../etc/passwd",
    ] {
        for (tool, mut input) in every_tool_with_input() {
            input["path"] = json!(path);
            let call = env.call(tool, input);
            assert!(!call.leaks_secret(), "{tool} {path}: {call:?}");
            let msg = call.error("denied");
            assert!(
                msg.contains("..") || msg.contains("absolute path"),
                "{tool} {path}: {msg}"
            );
        }
    }
    let parent = env.root().parent().unwrap();
    assert!(!parent.join(&escape_name).exists());
    assert_eq!(
        fs::read_to_string(env.secret_path()).unwrap(),
        format!("{SECRET}\n")
    );
}

#[cfg(unix)]
#[test]
fn symlinks_leading_outside_are_refused() {
    let env = Env::new();
    env.write("real/inside.txt", "inside\n");
    symlink(env.secret_path(), env.root().join("secret_link"));
    symlink(env.outside.path(), env.root().join("outside_dir"));
    // A relative link that climbs out of the workspace.
    let depth = env.root().components().count();
    let climb = "../".repeat(depth + 2);
    let rel_target = format!("{climb}{}", env.secret_path().to_string_lossy());
    symlink(&rel_target, env.root().join("climbing_link"));
    symlink("real", env.root().join("inside_dir_link"));
    symlink("real/inside.txt", env.root().join("inside_link"));

    for path in [
        "secret_link",
        "outside_dir/secret.txt",
        "climbing_link",
        "outside_dir",
    ] {
        for (tool, mut input) in every_tool_with_input() {
            input["path"] = json!(path);
            let call = env.call(tool, input);
            assert!(!call.leaks_secret(), "{tool} {path}: {call:?}");
            let msg = call.error("denied");
            assert!(msg.contains("symbolic link"), "{tool} {path}: {msg}");
        }
    }
    assert_eq!(
        fs::read_to_string(env.secret_path()).unwrap(),
        format!("{SECRET}\n")
    );
    assert_eq!(
        fs::read_dir(env.outside.path()).unwrap().count(),
        1,
        "nothing may be created outside"
    );

    // Workspace-wide listing and search do not follow the links.
    let list = env.ok("list_dir", json!({"depth": 3}));
    assert!(!list.contains("outside_dir/"), "{list}");
    assert!(list.contains("secret_link -> "), "{list}");
    assert!(list.contains("leads outside the workspace"), "{list}");
    let found = env.ok("search", json!({"pattern": "SECRET|inside"}));
    assert!(!found.contains(SECRET), "{found}");
    assert!(found.starts_with("real/inside.txt:1: inside\n"), "{found}");

    // Links that stay inside work.
    assert_eq!(
        env.ok("read_file", json!({"path": "inside_link"})),
        "inside\n"
    );
    assert_eq!(
        env.ok("read_file", json!({"path": "inside_dir_link/inside.txt"})),
        "inside\n"
    );
}

/// Flips `victim` (a path in the workspace) between a harmless regular entry
/// and a symlink to something outside, as fast as it can, until stopped.
#[cfg(unix)]
fn flipper(
    root: PathBuf,
    victim: &'static str,
    make_real: fn(&Path),
    link_target: PathBuf,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let path = root.join(victim);
        let real_tmp = root.join(format!(".{victim}.real"));
        let link_tmp = root.join(format!(".{victim}.link"));
        let mut flips = 0u64;
        while !stop.load(Ordering::Relaxed) {
            // Real entry -> link. A file is replaced atomically; a directory
            // has to go first (rename cannot replace a non-empty one).
            let _ = fs::remove_file(&link_tmp);
            if std::os::unix::fs::symlink(&link_target, &link_tmp).is_ok() {
                if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                    let _ = fs::remove_dir_all(&path);
                }
                if fs::rename(&link_tmp, &path).is_ok() {
                    flips += 1;
                }
            }
            // Link -> real entry.
            let _ = fs::remove_dir_all(&real_tmp);
            let _ = fs::remove_file(&real_tmp);
            make_real(&real_tmp);
            if fs::symlink_metadata(&real_tmp).is_ok_and(|m| m.is_dir()) {
                let _ = fs::remove_file(&path);
            }
            if fs::rename(&real_tmp, &path).is_ok() {
                flips += 1;
            }
        }
        flips
    })
}

#[cfg(unix)]
#[test]
fn file_swapped_for_an_outside_symlink_never_leaks() {
    let env = Env::new();
    env.write("victim.txt", "harmless\n");
    let stop = Arc::new(AtomicBool::new(false));
    let flips = flipper(
        env.root().to_path_buf(),
        "victim.txt",
        |p| fs::write(p, "harmless\n").unwrap_or(()),
        env.secret_path(),
        stop.clone(),
    );
    let started = Instant::now();
    let mut calls = 0;
    let mut read_ok = 0;
    while calls < 40 || started.elapsed() < Duration::from_secs(3) {
        let call = env.call("read_file", json!({"path": "victim.txt"}));
        calls += 1;
        assert!(
            !call.leaks_secret(),
            "read #{calls} leaked the secret: {call:?}"
        );
        if call.code == 0 {
            assert_eq!(call.stdout, "harmless\n", "{call:?}");
            read_ok += 1;
        } else {
            assert_eq!(call.code, 1, "{call:?}");
            assert!(call.stderr.starts_with("error: "), "{call:?}");
        }
        // Writes through the flipping path never reach the secret either.
        if calls % 4 == 0 {
            let call = env.call(
                "write_file",
                json!({"path": "victim.txt", "content": "overwritten\n"}),
            );
            assert!(!call.leaks_secret(), "{call:?}");
        }
        if calls >= 400 {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let flips = flips.join().expect("flipper thread");
    assert!(flips > 10, "the file was hardly swapped ({flips} flips)");
    assert_eq!(
        fs::read_to_string(env.secret_path()).unwrap(),
        format!("{SECRET}\n"),
        "the secret was modified"
    );
    eprintln!("{calls} reads, {read_ok} succeeded, {flips} flips");
}

#[cfg(unix)]
#[test]
fn directory_swapped_for_an_outside_symlink_never_leaks() {
    let env = Env::new();
    let make_dir = |p: &Path| {
        if fs::create_dir(p).is_ok() {
            let _ = fs::write(p.join("secret.txt"), "harmless\n");
        }
    };
    make_dir(&env.root().join("sub"));
    let stop = Arc::new(AtomicBool::new(false));
    let flips = flipper(
        env.root().to_path_buf(),
        "sub",
        make_dir,
        env.outside.path().to_path_buf(),
        stop.clone(),
    );
    let started = Instant::now();
    let mut calls = 0;
    while calls < 30 || started.elapsed() < Duration::from_secs(3) {
        let call = env.call("read_file", json!({"path": "sub/secret.txt"}));
        calls += 1;
        assert!(
            !call.leaks_secret(),
            "read #{calls} leaked the secret: {call:?}"
        );
        if call.code == 0 {
            assert_eq!(call.stdout, "harmless\n", "{call:?}");
        }
        let call = env.call("search", json!({"pattern": "SECRET", "path": "sub"}));
        assert!(!call.leaks_secret(), "search leaked the secret: {call:?}");
        let call = env.call("list_dir", json!({"path": "sub"}));
        assert!(!call.leaks_secret(), "{call:?}");
        if calls >= 300 {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let flips = flips.join().expect("flipper thread");
    assert!(
        flips > 10,
        "the directory was hardly swapped ({flips} flips)"
    );
    assert_eq!(
        fs::read_dir(env.outside.path()).unwrap().count(),
        1,
        "nothing may be created outside"
    );
}

#[test]
fn read_only_grant_refuses_writes_clearly() {
    let env = Env::new();
    env.write("a.txt", "hello\n");
    let out = env.paddock(&["plugin", "revoke", "fs-tools", "fs:/workspace:rw"]);
    assert!(out.status.success(), "{out:?}");
    let out = env.paddock(&["plugin", "grant", "fs-tools", "fs:/workspace:ro"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(env.ok("read_file", json!({"path": "a.txt"})), "hello\n");
    env.call("write_file", json!({"path": "b.txt", "content": "x"}))
        .error("denied");
    env.call(
        "edit_file",
        json!({"path": "a.txt", "old_string": "hello", "new_string": "bye"}),
    )
    .error("denied");
    assert_eq!(env.read("a.txt"), "hello\n");
    assert!(!env.root().join("b.txt").exists());

    let out = env.paddock(&["plugin", "revoke", "fs-tools", "fs:/workspace:ro"]);
    assert!(out.status.success(), "{out:?}");
    let msg = env
        .call("read_file", json!({"path": "a.txt"}))
        .error("denied")
        .to_string();
    assert!(msg.contains("not granted"), "{msg}");
}
