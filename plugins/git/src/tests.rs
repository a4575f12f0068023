//! Native tests: the refusal and allowed tables of the validator, the
//! schema, and the tool against a fake sandbox.

use std::cell::RefCell;

use paddock_sdk::exec::{Command, ExecError, Output};
use paddock_sdk::{CallContext, ToolError, ToolOutput};
use serde_json::{Value, json};

use crate::run::{self, GitInput};
use crate::validate::{Operation, validate};
use crate::{Sandbox, toolbox};

fn op(name: &str) -> Operation {
    serde_json::from_value(json!(name)).unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------
// The refusal table
// ---------------------------------------------------------------------------

/// (operation, args, a fragment of the reason)
const REFUSED: &[(&str, &[&str], &str)] = &[
    // Options that make git run a program.
    (
        "push",
        &["--receive-pack=touch /tmp/x", "origin"],
        "run another program",
    ),
    (
        "push",
        &["--receive-pack", "evil", "origin"],
        "run another program",
    ),
    ("push", &["--exec=evil", "origin"], "run another program"),
    (
        "pull",
        &["--upload-pack=evil", "origin"],
        "run another program",
    ),
    ("pull", &["--upload-pack", "evil"], "run another program"),
    ("status", &["--upload-pack=evil"], "run another program"),
    ("log", &["--exec-path=/tmp"], "run another program"),
    ("diff", &["--ext-diff"], "run another program"),
    ("show", &["--textconv", "HEAD:a.bin"], "run another program"),
    ("log", &["-p", "--textconv"], "run another program"),
    // ... and their abbreviations, which git's option parser accepts.
    (
        "pull",
        &["--upload-pa=evil"],
        "abbreviation of `--upload-pack`",
    ),
    (
        "pull",
        &["--upload-p", "evil"],
        "abbreviation of `--upload-pack`",
    ),
    ("pull", &["--up=evil"], "abbreviation of `--upload-pack`"),
    (
        "push",
        &["--receive-p=evil"],
        "abbreviation of `--receive-pack`",
    ),
    ("push", &["--rece=evil"], "abbreviation of `--receive-pack`"),
    ("push", &["--exe=evil"], "abbreviation"),
    ("diff", &["--ext-d"], "abbreviation of `--ext-diff`"),
    ("diff", &["--ext"], "abbreviation of `--ext-diff`"),
    ("show", &["--textc"], "abbreviation of `--textconv`"),
    ("diff", &["--outp=/tmp/x"], "abbreviation of `--output`"),
    (
        "commit",
        &["-m", "x", "--no-ver"],
        "abbreviation of `--no-verify`",
    ),
    ("log", &["--work-t=/"], "abbreviation of `--work-tree`"),
    (
        "status",
        &["--git-d=/other/.git"],
        "abbreviation of `--git-dir`",
    ),
    (
        "status",
        &["--config-e=core.pager=PAGER"],
        "abbreviation of `--config-env`",
    ),
    ("status", &["--e"], "abbreviation"),
    ("status", &["--=x"], "abbreviation"),
    // Options that change configuration.
    ("status", &["-c", "core.fsmonitor=evil"], "-c"),
    ("commit", &["-c", "core.hooksPath=/tmp"], "--reedit-message"),
    (
        "status",
        &["--config-env=core.sshCommand=CMD"],
        "configuration",
    ),
    ("status", &["--config=core.pager=less"], "configuration"),
    ("diff", &["-c"], "--diff-merges=combined"),
    ("log", &["-pc"], "--diff-merges=combined"),
    ("branch", &["-c", "old", "new"], "--copy"),
    // Configuration keys that run programs, as KEY=VALUE anywhere.
    ("push", &["-o", "core.sshCommand=evil"], "core.sshcommand"),
    (
        "push",
        &["--push-option=core.sshCommand=evil"],
        "configuration setting",
    ),
    (
        "log",
        &["core.hooksPath=/tmp/hooks"],
        "configuration setting",
    ),
    ("diff", &["diff.external=evil"], "configuration setting"),
    (
        "pull",
        &["credential.helper=!evil"],
        "configuration setting",
    ),
    ("status", &["core.fsmonitor=evil"], "configuration setting"),
    ("show", &["filter.lfs.smudge=evil"], "configuration setting"),
    (
        "pull",
        &["url.ext::sh.insteadOf=https://"],
        "configuration setting",
    ),
    // Leaving /workspace.
    ("status", &["-C", "/"], "changes directory"),
    ("commit", &["-C", "HEAD"], "--reuse-message"),
    ("log", &["-C"], "--find-copies"),
    ("diff", &["-pC"], "--find-copies"),
    (
        "status",
        &["--git-dir=/other/.git"],
        "outside the repository",
    ),
    ("status", &["--work-tree=/"], "outside the repository"),
    (
        "diff",
        &["--no-index", "/etc/passwd", "a.txt"],
        "outside the repository",
    ),
    ("commit", &["--template=/tmp/t"], "templates"),
    ("commit", &["-t", "/tmp/t"], "--template"),
    // Writing output to files.
    (
        "diff",
        &["--output=/tmp/x"],
        "writes git's output to a file",
    ),
    ("log", &["--output", "/etc/motd"], "writes git's output"),
    ("show", &["-o", "/tmp/x"], "writes git's output"),
    // Skipping hooks.
    ("commit", &["--no-verify", "-m", "x"], "hooks"),
    ("commit", &["-n", "-m", "x"], "--no-verify"),
    ("commit", &["-anm", "x"], "--no-verify"),
    ("push", &["--no-verify"], "hooks"),
    ("pull", &["--no-verify"], "hooks"),
    // Interactive modes.
    ("add", &["-p"], "interactive"),
    ("add", &["--patch", "src"], "interactive"),
    ("add", &["-i"], "interactive"),
    ("add", &["--interactive"], "interactive"),
    ("add", &["-e", "a.rs"], "interactive"),
    ("add", &["--edit"], "interactive"),
    ("add", &["-Ap"], "interactive"),
    ("add", &["--pat"], "abbreviation"),
    ("commit", &["-p"], "--patch"),
    ("commit", &["--patch"], "interactive"),
    ("commit", &["--interactive"], "interactive"),
    // pull's -u (upload-pack in fetch and clone) and merge strategies
    // that would run git-merge-NAME.
    ("pull", &["-u", "evil"], "upload-pack"),
    ("pull", &["-vu"], "upload-pack"),
    ("pull", &["-s", "evil"], "merge strategy"),
    ("pull", &["-sevil"], "merge strategy"),
    ("pull", &["-vs", "evil"], "merge strategy"),
    ("pull", &["--strategy=evil"], "merge strategy"),
    ("pull", &["--strategy", "../../tmp/x"], "merge strategy"),
    ("pull", &["--strat=evil"], "merge strategy"),
    ("pull", &["-s"], "merge strategy"),
    // Transports that run commands.
    ("pull", &["ext::sh -c touch% /tmp/pwned"], "ext::"),
    ("push", &["EXT::sh -c evil", "main"], "ext::"),
    ("push", &["fd::3"], "fd::"),
    ("push", &["--repo=ext::sh -c evil"], "ext::"),
    ("pull", &["--", "ext::sh"], "ext::"),
    (
        "pull",
        &["origin", "--", "--upload-pack=evil"],
        "cannot start with `-`",
    ),
    ("push", &["--", "-evil"], "cannot start with `-`"),
    // Nor does `--`, except for diff, log and show: the other subcommands
    // let an option take `--` as its value.
    (
        "commit",
        &["--pathspec-from-file", "--", "--no-verify", "-m", "x"],
        "hooks",
    ),
    ("commit", &["--pathspec-from-file", "--", "-n"], "./-name"),
    (
        "add",
        &["-A", "--", "-p"],
        "write a path that starts with `-` as `./-name`",
    ),
    ("status", &["-s", "--", "--git-dir=/x"], "./-name"),
    (
        "push",
        &["--repo", "--", "--receive-pack=evil"],
        "cannot start with `-`",
    ),
    // `--end-of-options` does not hide what follows it.
    ("log", &["--end-of-options", "--output=/tmp/x"], "writes"),
    (
        "pull",
        &["--end-of-options", "--upload-pack=evil"],
        "run another program",
    ),
    // checkout: only the three safe forms.
    ("checkout", &[], "needs a branch"),
    ("checkout", &["-f", "main"], "checkout accepts only"),
    ("checkout", &["--force", "main"], "not accepted"),
    ("checkout", &["-B", "main"], "not accepted"),
    ("checkout", &["--orphan", "x"], "not accepted"),
    ("checkout", &["-p"], "not accepted"),
    (
        "checkout",
        &["--patch", "--", "a"],
        "only a revision may come before",
    ),
    ("checkout", &["-b"], "not accepted"),
    ("checkout", &["-b", "-f"], "needs the new branch's name"),
    ("checkout", &["-b", "x", "--upload-pack=y"], "start point"),
    (
        "checkout",
        &["-b", "x", "main", "extra"],
        "optional start point",
    ),
    (
        "checkout",
        &["main", "src/a.rs"],
        "put `--` before the paths",
    ),
    ("checkout", &["main", "--"], "no path follows"),
    ("checkout", &["-f", "--", "a.rs"], "only a revision"),
    (
        "checkout",
        &["main", "HEAD", "--", "a.rs"],
        "only a revision",
    ),
    (
        "checkout",
        &["--ours", "--theirs", "--", "a.rs"],
        "only a revision",
    ),
    ("checkout", &["-bnew"], "not accepted"),
    ("checkout", &["--detach"], "not accepted"),
];

#[test]
fn refusal_table() {
    for (name, list, fragment) in REFUSED {
        let op = op(name);
        match validate(op, &args(list)) {
            Ok(()) => panic!("git {name} {list:?} was allowed"),
            Err(r) => {
                let msg = r.message(op);
                assert!(
                    msg.contains(fragment),
                    "git {name} {list:?}: {msg:?} lacks {fragment:?}"
                );
                assert!(msg.starts_with("git_operation refused `"), "{msg}");
            }
        }
    }
}

/// Every operation refuses the options that are refused everywhere.
#[test]
fn refused_everywhere() {
    for op in Operation::ALL {
        for arg in [
            "--upload-pack=x",
            "--upload-pa=x",
            "--receive-pack=x",
            "--exec=x",
            "--exec-path=x",
            "--config-env=a.b=C",
            "--git-dir=/x",
            "--work-tree=/x",
            "--template=/x",
            "--ext-diff",
            "--textconv",
            "--output=/x",
            "--no-verify",
            "-c",
            "-C",
        ] {
            let result = validate(op, &args(&[arg]));
            assert!(result.is_err(), "git {} {arg} was allowed", op.as_str());
        }
    }
}

// ---------------------------------------------------------------------------
// The allowed table
// ---------------------------------------------------------------------------

const ALLOWED: &[(&str, &[&str])] = &[
    ("status", &[]),
    ("status", &["--short"]),
    ("status", &["-sb"]),
    ("status", &["--porcelain=v2", "--branch"]),
    ("status", &["-uno"]),
    ("status", &["--ignored", "--", "src"]),
    ("add", &["src/main.rs", "Cargo.toml"]),
    ("add", &["-A"]),
    ("add", &["-u"]),
    ("add", &["--all", "--", "./-weird-file"]),
    ("add", &["--", "-weird-file"]),
    ("add", &["-N", "new.rs"]),
    ("add", &["-f", "ignored.log"]),
    ("add", &["--chmod=+x", "run.sh"]),
    ("add", &["*.rs"]),
    ("add", &["--dry-run", "."]),
    ("commit", &["-m", "Fix the parser"]),
    ("commit", &["-am", "Fix the parser"]),
    ("commit", &["-a", "-m", "Fix the parser"]),
    ("commit", &["--message=Fix the parser"]),
    ("commit", &["--message", "-c is now accepted"]),
    (
        "commit",
        &[
            "-m",
            "- fix core.hooksPath=x handling\n- add --no-verify docs",
        ],
    ),
    ("commit", &["-m", "--upload-pack=it is only a message"]),
    ("commit", &["-mquick fix"]),
    ("commit", &["-F", "msg.txt"]),
    ("commit", &["--amend", "--no-edit"]),
    ("commit", &["--author", "Ada <ada@example.com>", "-m", "x"]),
    (
        "commit",
        &["--trailer", "Co-authored-by: X <x@y>", "-m", "x"],
    ),
    ("commit", &["--allow-empty", "-m", "empty"]),
    ("commit", &["-S", "-m", "signed"]),
    ("commit", &["--verify", "-m", "x"]),
    ("commit", &["--fixup=HEAD~2"]),
    ("commit", &["-m", "x", "--", "src/a.rs"]),
    ("commit", &["--reuse-message=HEAD"]),
    ("commit", &["-o", "a.rs", "-m", "only a"]),
    ("diff", &[]),
    ("diff", &["--cached"]),
    ("diff", &["--stat", "HEAD~1"]),
    ("diff", &["HEAD~3..HEAD", "--", "src/"]),
    ("diff", &["--text"]),
    ("diff", &["-a"]),
    ("diff", &["--no-ext-diff"]),
    ("diff", &["--no-textconv"]),
    ("diff", &["-U10"]),
    ("diff", &["-M50%"]),
    ("diff", &["--find-copies"]),
    ("diff", &["--word-diff=color"]),
    ("diff", &["--output-indicator-new=>"]),
    ("diff", &["--name-only", "main...feature"]),
    ("diff", &["--", "--output=not-an-option"]),
    ("log", &["--oneline", "-n", "20"]),
    ("log", &["-20"]),
    ("log", &["-n5"]),
    ("log", &["--format=%h %an %s", "--since=2.weeks"]),
    ("log", &["-p", "-1", "--", "src/lib.rs"]),
    ("log", &["-Sconfig", "--oneline"]),
    ("log", &["-G", "fn main"]),
    ("log", &["--grep=fix", "--author=Ada"]),
    ("log", &["--graph", "--all", "--decorate"]),
    ("log", &["-L", "10,20:src/lib.rs"]),
    ("log", &["--diff-merges=combined"]),
    ("log", &["--follow", "--", "a.rs"]),
    ("log", &["--end-of-options", "main"]),
    ("show", &["HEAD"]),
    ("show", &["HEAD~2:src/lib.rs"]),
    ("show", &["--stat", "abc123"]),
    ("show", &["--name-status", "HEAD"]),
    ("show", &["--format=%B", "-s"]),
    ("push", &[]),
    ("push", &["origin", "main"]),
    ("push", &["-u", "origin", "feature/x"]),
    ("push", &["--set-upstream", "origin", "HEAD"]),
    ("push", &["--force-with-lease", "origin", "main"]),
    ("push", &["origin", "+main:main"]),
    ("push", &["origin", ":old-branch"]),
    ("push", &["--tags"]),
    ("push", &["-o", "ci.skip"]),
    ("push", &["--dry-run", "https://github.com/a/b.git"]),
    ("push", &["git@github.com:a/b.git", "HEAD:refs/heads/x"]),
    ("pull", &[]),
    ("pull", &["--rebase"]),
    ("pull", &["-r"]),
    ("pull", &["--ff-only", "origin", "main"]),
    ("pull", &["--no-edit"]),
    ("pull", &["-s", "ort"]),
    ("pull", &["-sours"]),
    ("pull", &["--strategy=recursive", "-X", "theirs"]),
    ("pull", &["--strategy-option=theirs"]),
    ("pull", &["--stat"]),
    ("pull", &["--depth=1"]),
    ("pull", &["origin", "--", "main"]),
    ("checkout", &["main"]),
    ("checkout", &["-"]),
    ("checkout", &["feature/x"]),
    ("checkout", &["abc1234"]),
    ("checkout", &["-b", "feature/new"]),
    ("checkout", &["-b", "fix", "origin/main"]),
    ("checkout", &["--", "src/a.rs", "src/b.rs"]),
    ("checkout", &["HEAD~1", "--", "src/a.rs"]),
    ("checkout", &["--ours", "--", "conflicted.rs"]),
    ("checkout", &["--theirs", "--", "conflicted.rs"]),
    ("checkout", &["--", "-weird-file"]),
    ("branch", &[]),
    ("branch", &["-a"]),
    ("branch", &["-vv"]),
    ("branch", &["feature/x"]),
    ("branch", &["-d", "old"]),
    ("branch", &["-D", "old"]),
    ("branch", &["-m", "old", "new"]),
    ("branch", &["--copy", "a", "b"]),
    ("branch", &["-u", "origin/main"]),
    ("branch", &["--set-upstream-to=origin/main"]),
    ("branch", &["--contains", "HEAD~3"]),
    ("branch", &["--show-current"]),
];

#[test]
fn allowed_table() {
    for (name, list) in ALLOWED {
        let op = op(name);
        if let Err(r) = validate(op, &args(list)) {
            panic!("git {name} {list:?} was refused: {}", r.message(op));
        }
    }
}

#[test]
fn nul_and_too_many_arguments() {
    let err = validate(Operation::Add, &args(&["a\0b"])).unwrap_err();
    assert!(err.reason.contains("NUL"), "{err:?}");
    let many = vec!["a.rs".to_string(); 257];
    let err = validate(Operation::Add, &many).unwrap_err();
    assert!(err.reason.contains("at most 256"), "{err:?}");
    assert!(validate(Operation::Add, &many[..256]).is_ok());
}

// ---------------------------------------------------------------------------
// Schema and description
// ---------------------------------------------------------------------------

fn schema() -> Value {
    let spec = toolbox().specs().remove(0);
    serde_json::from_str(&spec.input_schema).unwrap()
}

#[test]
fn tool_spec() {
    let specs = toolbox().specs();
    assert_eq!(specs.len(), 1);
    assert_eq!(specs[0].name, "git_operation");
    assert!(
        !specs[0].read_only,
        "commit, push and checkout change things"
    );
    for needle in [
        "/workspace",
        "sandbox",
        "-m",
        "network",
        "checkout accepts only",
        "--upload-pa",
        "exit_code:",
        "Paddock Agent <agent@paddock.local>",
    ] {
        assert!(
            specs[0].description.contains(needle),
            "description lacks {needle:?}"
        );
    }
}

#[test]
fn input_schema() {
    let s = schema();
    assert_eq!(s["type"], "object");
    assert_eq!(s["required"], json!(["operation"]));
    assert_eq!(s["additionalProperties"], false);
    assert!(s.get("$defs").is_none(), "operation is inlined: {s}");
    let p = &s["properties"];
    assert_eq!(p["operation"]["type"], "string");
    assert_eq!(
        p["operation"]["enum"],
        json!([
            "status", "add", "commit", "diff", "log", "push", "pull", "checkout", "branch", "show"
        ])
    );
    assert_eq!(p["args"]["type"], "array");
    assert_eq!(p["args"]["items"]["type"], "string");
    assert_eq!(p["args"]["maxItems"], 256);
    assert_eq!(p["args"]["default"], json!([]));
    for field in ["operation", "args"] {
        assert!(
            p[field]["description"].as_str().unwrap_or_default().len() > 30,
            "{field} needs a description: {s}"
        );
    }
    let ops: Vec<&str> = Operation::ALL.iter().map(|o| o.as_str()).collect();
    assert_eq!(json!(ops), p["operation"]["enum"]);
}

fn invoke_err(v: Value) -> ToolError {
    match toolbox().invoke("git_operation", &v.to_string(), &CallContext::for_tests()) {
        Ok(out) => panic!("{v} succeeded: {}", out.content),
        Err(e) => e,
    }
}

#[test]
fn bad_input() {
    for (v, needle) in [
        (json!({}), "missing field `operation`"),
        (json!({"operation": "rebase"}), "unknown variant `rebase`"),
        (json!({"operation": "Status"}), "unknown variant `Status`"),
        (
            json!({"operation": "status", "args": "--short"}),
            "invalid type",
        ),
        (json!({"operation": "status", "args": [1]}), "invalid type"),
        (
            json!({"operation": "status", "flags": []}),
            "unknown field `flags`",
        ),
    ] {
        let err = invoke_err(v.clone());
        assert_eq!(err.kind(), "invalid-input", "{v}: {err:?}");
        assert!(err.message().contains(needle), "{v}: {err:?}");
    }
}

#[test]
fn refused_arguments_are_denied_before_anything_runs() {
    // Through the toolbox, natively: the host's exec is not there, so this
    // also proves nothing ran.
    let err = invoke_err(json!({"operation": "pull", "args": ["--upload-pa=evil"]}));
    assert_eq!(err.kind(), "denied");
    assert_eq!(
        err.message(),
        "git_operation refused `--upload-pa=evil` for `git pull`: git reads it as an \
         abbreviation of `--upload-pack`: it makes git run another program, which \
         git_operation never allows"
    );
}

// ---------------------------------------------------------------------------
// Running, against a fake sandbox
// ---------------------------------------------------------------------------

/// Answers each command with the next scripted result, recording commands.
struct Fake {
    commands: RefCell<Vec<Command>>,
    answers: RefCell<Vec<Result<Output, ExecError>>>,
}

fn out(code: Option<i32>, stdout: &str, stderr: &str) -> Output {
    Output {
        exit_code: code,
        stdout: stdout.into(),
        stderr: stderr.into(),
        truncated: false,
        timed_out: false,
        duration_ms: 40,
    }
}

impl Fake {
    fn new(answers: Vec<Result<Output, ExecError>>) -> Self {
        Fake {
            commands: RefCell::new(Vec::new()),
            answers: RefCell::new(answers),
        }
    }
}

impl Sandbox for Fake {
    fn run(&self, cmd: &Command) -> Result<Output, ExecError> {
        self.commands.borrow_mut().push(cmd.clone());
        let mut answers = self.answers.borrow_mut();
        assert!(!answers.is_empty(), "unexpected command {:?}", cmd.argv);
        answers.remove(0)
    }
}

fn call(fake: &Fake, v: Value) -> Result<ToolOutput, ToolError> {
    let input: GitInput = paddock_sdk::parse_input("git_operation", &v.to_string()).unwrap();
    run::git_operation(fake, input)
}

fn env_of(cmd: &Command, key: &str) -> Option<String> {
    cmd.env
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

#[test]
fn status_runs_git_as_argv_in_the_workspace() {
    let fake = Fake::new(vec![Ok(out(Some(0), " M src/main.rs\n", ""))]);
    let r = call(&fake, json!({"operation": "status", "args": ["--short"]})).unwrap();
    let cmds = fake.commands.borrow();
    assert_eq!(cmds.len(), 1);
    let cmd = &cmds[0];
    assert_eq!(cmd.argv, ["git", "status", "--short"]);
    assert_eq!(cmd.cwd.as_deref(), Some("/workspace"));
    assert_eq!(cmd.timeout_ms, Some(60_000));
    assert_eq!(cmd.max_output_bytes, Some(64 * 1024));
    assert_eq!(cmd.stdin.as_deref(), Some(""));
    for (k, v) in [
        ("GIT_TERMINAL_PROMPT", "0"),
        ("GIT_PAGER", "cat"),
        ("PAGER", "cat"),
        ("GIT_EDITOR", "true"),
    ] {
        assert_eq!(env_of(cmd, k).as_deref(), Some(v), "{k}");
    }
    assert_eq!(env_of(cmd, "GIT_CONFIG_COUNT").as_deref(), Some("1"));
    assert_eq!(
        env_of(cmd, "GIT_CONFIG_KEY_0").as_deref(),
        Some("safe.directory")
    );
    assert_eq!(
        env_of(cmd, "GIT_CONFIG_VALUE_0").as_deref(),
        Some("/workspace")
    );
    assert!(
        env_of(cmd, "GIT_AUTHOR_NAME").is_none(),
        "identity only for commits"
    );
    assert!(
        env_of(cmd, "GIT_SSH_COMMAND").is_none(),
        "only for push and pull"
    );
    assert_eq!(
        r.content,
        "$ git status --short\nexit_code: 0\nduration: 40 ms\n<stdout>\n M src/main.rs\n</stdout>\n<stderr></stderr>\n"
    );
    let s: Value = serde_json::from_str(r.structured.as_deref().unwrap()).unwrap();
    assert_eq!(s["operation"], "status");
    assert_eq!(s["exit_code"], 0);
    assert_eq!(s["argv"], json!(["git", "status", "--short"]));
}

#[test]
fn no_args_means_just_the_subcommand() {
    let fake = Fake::new(vec![Ok(out(Some(0), "", ""))]);
    call(&fake, json!({"operation": "log"})).unwrap();
    assert_eq!(fake.commands.borrow()[0].argv, ["git", "log"]);
}

#[test]
fn commit_without_identity_gets_the_default() {
    let fake = Fake::new(vec![
        Ok(out(Some(1), "", "")), // git config --get-regexp: nothing set
        Ok(out(Some(0), "[main 1a2b3c4] Fix\n", "")),
    ]);
    let r = call(
        &fake,
        json!({"operation": "commit", "args": ["-m", "Fix it"]}),
    )
    .unwrap();
    let cmds = fake.commands.borrow();
    assert_eq!(
        cmds[0].argv,
        ["git", "config", "--get-regexp", r"^user\.(name|email)$"]
    );
    let commit = &cmds[1];
    assert_eq!(commit.argv, ["git", "commit", "-m", "Fix it"]);
    for (k, v) in [
        ("GIT_AUTHOR_NAME", "Paddock Agent"),
        ("GIT_COMMITTER_NAME", "Paddock Agent"),
        ("GIT_AUTHOR_EMAIL", "agent@paddock.local"),
        ("GIT_COMMITTER_EMAIL", "agent@paddock.local"),
    ] {
        assert_eq!(env_of(commit, k).as_deref(), Some(v), "{k}");
    }
    assert!(
        r.content
            .starts_with("$ git commit -m 'Fix it'\nexit_code: 0\n"),
        "{}",
        r.content
    );
}

#[test]
fn commit_keeps_a_configured_identity() {
    let fake = Fake::new(vec![
        Ok(out(
            Some(0),
            "user.name Ada Lovelace\nuser.email ada@example.com\n",
            "",
        )),
        Ok(out(Some(0), "", "")),
    ]);
    call(&fake, json!({"operation": "commit", "args": ["-m", "x"]})).unwrap();
    let commit = &fake.commands.borrow()[1];
    assert!(
        commit.env.iter().all(|(k, _)| !k.starts_with("GIT_AUTHOR")),
        "{:?}",
        commit.env
    );
    assert!(
        commit
            .env
            .iter()
            .all(|(k, _)| !k.starts_with("GIT_COMMITTER"))
    );
}

#[test]
fn commit_fills_in_only_the_missing_half() {
    let fake = Fake::new(vec![
        Ok(out(Some(0), "user.name Ada\n", "")),
        Ok(out(Some(0), "", "")),
    ]);
    call(&fake, json!({"operation": "commit", "args": ["-m", "x"]})).unwrap();
    let commit = &fake.commands.borrow()[1];
    assert!(env_of(commit, "GIT_AUTHOR_NAME").is_none());
    assert_eq!(
        env_of(commit, "GIT_AUTHOR_EMAIL").as_deref(),
        Some("agent@paddock.local")
    );
}

#[test]
fn pull_gets_identity_network_settings_and_a_longer_timeout() {
    let fake = Fake::new(vec![
        Ok(out(Some(1), "", "")),
        Ok(out(Some(0), "Already up to date.\n", "")),
    ]);
    call(&fake, json!({"operation": "pull", "args": ["--ff-only"]})).unwrap();
    let pull = &fake.commands.borrow()[1];
    assert_eq!(pull.timeout_ms, Some(120_000));
    assert!(
        env_of(pull, "GIT_COMMITTER_NAME").is_some(),
        "merges need a committer"
    );
    assert!(
        env_of(pull, "GIT_SSH_COMMAND")
            .unwrap()
            .contains("BatchMode=yes")
    );
    assert_eq!(
        env_of(pull, "GIT_ALLOW_PROTOCOL").as_deref(),
        Some("file:git:http:https:ssh")
    );
}

#[test]
fn non_zero_exit_is_a_result_not_an_error() {
    let fake = Fake::new(vec![Ok(out(
        Some(1),
        "",
        "error: pathspec 'nope' did not match any file(s) known to git\n",
    ))]);
    let r = call(&fake, json!({"operation": "add", "args": ["nope"]})).unwrap();
    assert!(r.content.contains("exit_code: 1\n"), "{}", r.content);
    assert!(
        r.content.contains("did not match any file"),
        "{}",
        r.content
    );
    assert!(!r.content.contains("note:"), "{}", r.content);
}

#[test]
fn push_network_failure_gets_a_note() {
    let fake = Fake::new(vec![Ok(out(
        Some(128),
        "",
        "fatal: unable to access 'https://github.com/a/b.git/': Could not resolve host: github.com\n",
    ))]);
    let r = call(
        &fake,
        json!({"operation": "push", "args": ["origin", "main"]}),
    )
    .unwrap();
    assert!(r.content.contains("exit_code: 128"), "{}", r.content);
    assert!(
        r.content
            .contains("note: this looks like a network failure: the agent's sandbox has no network access unless an admin granted it"),
        "{}",
        r.content
    );
}

#[test]
fn push_credential_failure_gets_its_own_note() {
    let fake = Fake::new(vec![Ok(out(
        Some(128),
        "",
        "fatal: could not read Username for 'https://github.com': terminal prompts disabled\n",
    ))]);
    let r = call(&fake, json!({"operation": "push"})).unwrap();
    assert!(
        r.content.contains("note: the remote needs credentials"),
        "{}",
        r.content
    );
    assert!(!r.content.contains("network failure"), "{}", r.content);
}

#[test]
fn network_words_outside_push_and_pull_get_no_note() {
    let fake = Fake::new(vec![Ok(out(Some(1), "", "connection refused\n"))]);
    let r = call(&fake, json!({"operation": "status"})).unwrap();
    assert!(!r.content.contains("note:"), "{}", r.content);
}

#[test]
fn not_a_repository_note() {
    let fake = Fake::new(vec![Ok(out(
        Some(128),
        "",
        "fatal: not a git repository (or any of the parent directories): .git\n",
    ))]);
    let r = call(&fake, json!({"operation": "status"})).unwrap();
    assert!(
        r.content
            .contains("note: /workspace is not a git repository"),
        "{}",
        r.content
    );
}

#[test]
fn timeout_and_truncation_notes() {
    let mut o = out(None, "commit 1\n", "");
    o.timed_out = true;
    o.truncated = true;
    let fake = Fake::new(vec![Ok(o)]);
    let r = call(&fake, json!({"operation": "log"})).unwrap();
    assert!(
        r.content.contains("exit_code: none (timed out)"),
        "{}",
        r.content
    );
    assert!(
        r.content
            .contains("note: timed out: git was killed after 60 s"),
        "{}",
        r.content
    );
    assert!(
        r.content.contains("note: output truncated"),
        "{}",
        r.content
    );
    assert!(r.content.contains("-n 20"), "{}", r.content);
}

#[test]
fn exec_errors_are_tool_errors() {
    for (e, kind, needle) in [
        (
            ExecError::Denied("not granted".into()),
            "denied",
            "paddock plugin grant git exec",
        ),
        (
            ExecError::Unavailable("no sandbox backend".into()),
            "failed",
            "cannot run git: no sandbox backend",
        ),
        (ExecError::Failed("boom".into()), "failed", "boom"),
        (ExecError::Invalid("bad".into()), "failed", "bad"),
    ] {
        // status runs git directly; commit fails at the identity probe.
        for operation in ["status", "commit"] {
            let fake = Fake::new(vec![Err(e.clone())]);
            let err = call(&fake, json!({"operation": operation})).unwrap_err();
            assert_eq!(err.kind(), kind, "{e:?}");
            assert!(err.message().contains(needle), "{err:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// Against the real git, when there is one: /workspace is a temporary
// directory and commands run directly (no sandbox), with an empty HOME so
// no global identity or configuration leaks in.
// ---------------------------------------------------------------------------

struct LocalGit {
    root: tempfile::TempDir,
    home: tempfile::TempDir,
}

impl LocalGit {
    /// A fresh repository, or None when git is not installed.
    fn new() -> Option<Self> {
        let ws = LocalGit {
            root: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
        };
        let init = ws.raw(&["init", "-q"])?;
        assert_eq!(init.exit_code, Some(0), "{init:?}");
        ws.raw(&["symbolic-ref", "HEAD", "refs/heads/main"])?;
        Some(ws)
    }

    /// `git ARGS` directly, for setting up.
    fn raw(&self, args: &[&str]) -> Option<Output> {
        let mut argv = vec!["git".to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        self.run(&Command::new(argv).cwd(crate::WORKSPACE)).ok()
    }

    fn call(&self, v: Value) -> Result<ToolOutput, ToolError> {
        let input: GitInput = paddock_sdk::parse_input("git_operation", &v.to_string()).unwrap();
        run::git_operation(self, input)
    }

    fn ok(&self, v: Value) -> String {
        let out = self
            .call(v.clone())
            .unwrap_or_else(|e| panic!("{v}: {e:?}"));
        assert!(
            out.content.contains("\nexit_code: 0\n"),
            "{v}: {}",
            out.content
        );
        out.content
    }
}

impl Sandbox for LocalGit {
    fn run(&self, cmd: &Command) -> Result<Output, ExecError> {
        let cwd = cmd.cwd.as_deref().unwrap_or(crate::WORKSPACE);
        let rel = cwd.strip_prefix(crate::WORKSPACE).unwrap_or(cwd);
        let dir = self.root.path().join(rel.trim_start_matches('/'));
        let mut c = std::process::Command::new(&cmd.argv[0]);
        c.args(&cmd.argv[1..])
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdin(std::process::Stdio::null());
        for (k, v) in &cmd.env {
            // The sandbox mounts the workspace at /workspace; here it is
            // the temporary directory.
            if v == crate::WORKSPACE {
                c.env(k, self.root.path());
            } else {
                c.env(k, v);
            }
        }
        let started = std::time::Instant::now();
        let out = c
            .output()
            .map_err(|e| ExecError::Failed(format!("{}: {e}", cmd.argv[0])))?;
        Ok(Output {
            exit_code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            truncated: false,
            timed_out: false,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }
}

#[test]
fn real_git_round_trip() {
    let Some(ws) = LocalGit::new() else {
        eprintln!("git is not installed: skipped");
        return;
    };
    std::fs::write(ws.root.path().join("a.txt"), "one\n").unwrap();
    let status = ws.ok(json!({"operation": "status", "args": ["--short"]}));
    assert!(status.contains("?? a.txt"), "{status}");
    ws.ok(json!({"operation": "add", "args": ["a.txt"]}));
    // No identity anywhere: the default one is used.
    let commit = ws
        .ok(json!({"operation": "commit", "args": ["-m", "- first: mentions -c and --no-verify"]}));
    assert!(commit.contains("first"), "{commit}");
    let log = ws.ok(json!({"operation": "log", "args": ["--format=%an <%ae>|%cn <%ce>|%s"]}));
    assert!(
        log.contains(
            "Paddock Agent <agent@paddock.local>|Paddock Agent <agent@paddock.local>|- first: mentions -c and --no-verify"
        ),
        "{log}"
    );
    // A configured identity wins.
    ws.raw(&["config", "user.name", "Ada"]).unwrap();
    ws.raw(&["config", "user.email", "ada@example.com"])
        .unwrap();
    ws.ok(json!({"operation": "checkout", "args": ["-b", "feature"]}));
    std::fs::write(ws.root.path().join("a.txt"), "two\n").unwrap();
    let diff = ws.ok(json!({"operation": "diff"}));
    assert!(diff.contains("-one\n+two"), "{diff}");
    ws.ok(json!({"operation": "commit", "args": ["-am", "second"]}));
    let show = ws.ok(json!({"operation": "show", "args": ["-s", "--format=%an <%ae>"]}));
    assert!(show.contains("Ada <ada@example.com>"), "{show}");
    let branch = ws.ok(json!({"operation": "branch", "args": ["--show-current"]}));
    assert!(branch.contains("<stdout>\nfeature\n</stdout>"), "{branch}");
    // Restoring a file, and switching back.
    std::fs::write(ws.root.path().join("a.txt"), "scratch\n").unwrap();
    ws.ok(json!({"operation": "checkout", "args": ["--", "a.txt"]}));
    assert_eq!(
        std::fs::read_to_string(ws.root.path().join("a.txt")).unwrap(),
        "two\n"
    );
    ws.ok(json!({"operation": "checkout", "args": ["main"]}));
    assert_eq!(
        std::fs::read_to_string(ws.root.path().join("a.txt")).unwrap(),
        "one\n"
    );
    // A commit without a message does not hang on an editor: it fails.
    std::fs::write(ws.root.path().join("b.txt"), "b\n").unwrap();
    ws.ok(json!({"operation": "add", "args": ["b.txt"]}));
    let out = ws.call(json!({"operation": "commit"})).unwrap();
    assert!(!out.content.contains("\nexit_code: 0\n"), "{}", out.content);
    assert!(
        out.content.contains("empty commit message"),
        "{}",
        out.content
    );
    // A failing command is a result, not an error.
    let out = ws
        .call(json!({"operation": "checkout", "args": ["no-such-branch"]}))
        .unwrap();
    assert!(out.content.contains("\nexit_code: 1\n"), "{}", out.content);
    assert!(out.content.contains("did not match"), "{}", out.content);
}

#[test]
fn real_git_outside_a_repository() {
    let Some(ws) = LocalGit::new() else {
        return;
    };
    std::fs::remove_dir_all(ws.root.path().join(".git")).unwrap();
    let out = ws.call(json!({"operation": "status"})).unwrap();
    // The temporary directory may sit inside some repository; only check
    // the note when git says so.
    if out.content.contains("not a git repository") {
        assert!(
            out.content
                .contains("note: /workspace is not a git repository"),
            "{}",
            out.content
        );
    }
}

/// The reason abbreviations are refused: git really does read
/// `--upload-pa=…` as `--upload-pack=…` and runs it. Checked with a
/// harmless command against a local path, with the real git.
#[test]
fn real_git_takes_abbreviated_upload_pack() {
    let Some(ws) = LocalGit::new() else {
        return;
    };
    let marker = ws.home.path().join("ran");
    let program = format!("touch {}; false", marker.display());
    let upload_pack = format!("--upload-pa={program}");
    // Directly, bypassing the tool: git runs the program.
    ws.raw(&["fetch", &upload_pack, "/nonexistent"]).unwrap();
    assert!(
        marker.exists(),
        "git no longer runs abbreviated --upload-pack"
    );
    std::fs::remove_file(&marker).unwrap();
    // Through the tool: refused, nothing runs.
    let err = ws
        .call(json!({"operation": "pull", "args": [upload_pack, "/nonexistent"]}))
        .unwrap_err();
    assert_eq!(err.kind(), "denied");
    let err = ws
        .call(json!({"operation": "pull", "args": ["/nonexistent", "--", format!("--upload-pack={program}")]}))
        .unwrap_err();
    assert_eq!(err.kind(), "denied");
    assert!(!marker.exists());
}

/// A sandbox may run as another user than the workspace's owner: git must
/// still work on /workspace. Checked when these tests run as root (which
/// can hand the repository to another user).
#[test]
fn real_git_works_on_a_workspace_owned_by_someone_else() {
    let Some(ws) = LocalGit::new() else {
        return;
    };
    std::fs::write(ws.root.path().join("a.txt"), "x\n").unwrap();
    let mut paths = vec![ws.root.path().to_path_buf()];
    while let Some(p) = paths.pop() {
        if std::os::unix::fs::lchown(&p, Some(54_321), Some(54_321)).is_err() {
            eprintln!("not root: skipped");
            return;
        }
        if p.is_dir() && !p.is_symlink() {
            paths.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    // Without the setting, git refuses the repository.
    let plain = ws.raw(&["status", "--short"]).unwrap();
    assert_ne!(plain.exit_code, Some(0), "{plain:?}");
    assert!(plain.stderr.contains("dubious ownership"), "{plain:?}");
    // Through the tool it works.
    let status = ws.ok(json!({"operation": "status", "args": ["--short"]}));
    assert!(status.contains("?? a.txt"), "{status}");
}
