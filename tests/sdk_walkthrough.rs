//! Replays the walkthrough of `sdk/README.md` — from `cargo new` to
//! `paddock tool call` — so that what the README tells plugin authors keeps
//! working.
//!
//! The README marks each block it wants replayed with an HTML comment on the
//! line before the fence:
//!
//! - `<!-- walkthrough: run -->`: shell commands, one per line, run in order
//!   (`cd DIR` changes the directory of the following commands);
//! - `<!-- walkthrough: output -->`: what the previous command prints;
//! - `<!-- walkthrough: FILE -->`: the full content of FILE in the crate.
//!
//! The test runs them in a temporary directory outside this workspace, with
//! these changes only: the `paddock-sdk` dependency points at this checkout's
//! `sdk/`, the crate's `Cargo.toml` gets an empty `[workspace]` table (so it
//! never joins an enclosing workspace) and this workspace's `Cargo.lock` (so
//! the dependency versions are those already fetched), `paddock` is the
//! binary under test with a fresh `--data-dir`, and `CARGO_TARGET_DIR` is
//! `target/walkthrough` of this workspace, so that repeated runs build
//! incrementally (the README's `target/…` paths are rewritten to it).

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Paddock;

/// One marked block of the README.
#[derive(Debug)]
pub(crate) struct Block {
    /// `run`, `output` or a file path.
    pub(crate) kind: String,
    pub(crate) body: String,
}

/// The marked blocks of `readme`, in order (also used by the Python and
/// JavaScript walkthroughs, `tests/sdk_polyglot.rs`).
pub(crate) fn marked_blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let Some(kind) = line
            .trim()
            .strip_prefix("<!-- walkthrough:")
            .and_then(|rest| rest.strip_suffix("-->"))
            .map(|k| k.trim().to_string())
        else {
            continue;
        };
        let fence = lines
            .by_ref()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_else(|| panic!("walkthrough block `{kind}` has no code block"));
        let fence = fence.trim();
        assert!(
            fence.starts_with("```"),
            "walkthrough marker `{kind}` must be followed by a fenced code block, found {fence:?}"
        );
        let mut body = String::new();
        let mut closed = false;
        for l in lines.by_ref() {
            if l.trim() == "```" {
                closed = true;
                break;
            }
            body.push_str(l);
            body.push('\n');
        }
        assert!(closed, "walkthrough block `{kind}` is not closed");
        blocks.push(Block { kind, body });
    }
    blocks
}

/// `target/` of this workspace: the paddock binary is in `target/debug/`.
fn workspace_target_dir() -> PathBuf {
    let bin = common::paddock_bin();
    bin.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| common::repo_root().join("target"))
}

pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The README's Cargo.toml, made to build here.
fn adapt_cargo_toml(content: &str, sdk_dir: &Path) -> String {
    let mut out = String::new();
    let mut found_sdk = false;
    for line in content.lines() {
        if line.trim_start().starts_with("paddock-sdk") {
            found_sdk = true;
            out.push_str(&format!(
                "paddock-sdk = {{ path = {} }}\n",
                toml_string(&sdk_dir.to_string_lossy())
            ));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(
        found_sdk,
        "the walkthrough's Cargo.toml has no paddock-sdk dependency"
    );
    if !content.lines().any(|l| l.trim() == "[workspace]") {
        out.push_str("\n[workspace]\n");
    }
    out
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[test]
fn sdk_readme_walkthrough_builds_installs_and_calls_a_tool() {
    let root = common::repo_root();
    let readme_path = root.join("sdk").join("README.md");
    let readme = fs::read_to_string(&readme_path).expect("read sdk/README.md");
    let blocks = marked_blocks(&readme);

    // The walkthrough is short: fewer than ten numbered steps.
    let steps = readme
        .lines()
        .filter(|l| {
            l.strip_prefix("**")
                .and_then(|r| r.split_once('.'))
                .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        })
        .count();
    assert!(
        (1..10).contains(&steps),
        "the walkthrough should have fewer than ten numbered steps, has {steps}"
    );
    for kind in [
        "Cargo.toml",
        "src/lib.rs",
        "paddock-plugin.toml",
        "run",
        "output",
    ] {
        assert!(
            blocks.iter().any(|b| b.kind == kind),
            "sdk/README.md has no `<!-- walkthrough: {kind} -->` block"
        );
    }

    let sdk_dir = fs::canonicalize(root.join("sdk")).expect("find sdk/");
    let target_dir = workspace_target_dir().join("walkthrough");
    let target_prefix = format!("{}/", target_dir.to_string_lossy());
    let paddock = Paddock::new();
    let paddock_prefix = format!(
        "{} --data-dir {} ",
        shell_quote(&common::paddock_bin().to_string_lossy()),
        shell_quote(&paddock.data_dir().to_string_lossy())
    );
    let scratch = tempfile::Builder::new()
        .prefix("paddock-walkthrough-")
        .tempdir()
        .expect("scratch dir");
    let mut cwd = scratch.path().to_path_buf();
    let mut last_stdout: Option<String> = None;
    let mut commands_run = 0;

    for block in &blocks {
        match block.kind.as_str() {
            "run" => {
                for line in block.body.lines().map(str::trim) {
                    if line.is_empty() || line.starts_with('#') {
                        continue;
                    }
                    if let Some(dir) = line.strip_prefix("cd ") {
                        cwd = cwd.join(dir.trim());
                        assert!(
                            cwd.is_dir(),
                            "`{line}`: {} is not a directory",
                            cwd.display()
                        );
                        continue;
                    }
                    let mut command = line.replace("target/", &target_prefix);
                    if let Some(rest) = command.strip_prefix("paddock ") {
                        command = format!("{paddock_prefix}{rest}");
                    }
                    eprintln!("walkthrough $ {line}");
                    let out = Command::new("sh")
                        .arg("-c")
                        .arg(&command)
                        .current_dir(&cwd)
                        .env("CARGO_TARGET_DIR", &target_dir)
                        .env_remove("CARGO_MANIFEST_DIR")
                        .env_remove("CARGO_PKG_NAME")
                        .env_remove("RUSTC_WORKSPACE_WRAPPER")
                        .output()
                        .expect("run sh");
                    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
                    assert!(
                        out.status.success(),
                        "walkthrough command `{line}` failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
                        out.status
                    );
                    commands_run += 1;
                    last_stdout = Some(stdout);
                }
            }
            "output" => {
                let stdout = last_stdout
                    .as_deref()
                    .expect("a walkthrough `output` block must follow a `run` block");
                assert_eq!(
                    stdout.trim_end(),
                    block.body.trim_end(),
                    "the last walkthrough command printed something else than the README says"
                );
            }
            file => {
                assert!(
                    !file.contains("..") && !file.starts_with('/'),
                    "walkthrough file {file:?} must be relative to the crate"
                );
                let path = cwd.join(file);
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent).expect("create parent dir");
                }
                let content = if file == "Cargo.toml" {
                    let lock = root.join("Cargo.lock");
                    if lock.is_file() {
                        fs::copy(&lock, cwd.join("Cargo.lock")).expect("copy Cargo.lock");
                    }
                    adapt_cargo_toml(&block.body, &sdk_dir)
                } else {
                    block.body.clone()
                };
                fs::write(&path, content).expect("write walkthrough file");
            }
        }
    }
    assert!(
        commands_run >= 4,
        "only {commands_run} walkthrough commands ran"
    );
    assert!(
        blocks.last().is_some_and(|b| b.kind == "output"),
        "the walkthrough should end with the tool call's expected output"
    );
}

#[test]
fn marked_blocks_are_parsed() {
    let text = "intro\n<!-- walkthrough: run -->\n```sh\necho hi\ncd x\n```\n\n<!-- walkthrough: src/lib.rs -->\n\n```rust\nfn f() {}\n```\n";
    let blocks = marked_blocks(text);
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].kind, "run");
    assert_eq!(blocks[0].body, "echo hi\ncd x\n");
    assert_eq!(blocks[1].kind, "src/lib.rs");
    assert_eq!(blocks[1].body, "fn f() {}\n");
    let toml = adapt_cargo_toml(
        "[dependencies]\npaddock-sdk = { path = \"../paddock/sdk\" }\nserde = \"1\"\n",
        Path::new("/abs/sdk"),
    );
    assert_eq!(
        toml,
        "[dependencies]\npaddock-sdk = { path = \"/abs/sdk\" }\nserde = \"1\"\n\n[workspace]\n"
    );
}
