//! `git_operation`: the input, the command it runs, and the result.

use paddock_sdk::exec::{Command, ExecError, Output};
use paddock_sdk::prelude::*;
use serde_json::json;

use crate::format::{self, STREAM_CAP};
use crate::validate::{Operation, validate};
use crate::{Sandbox, WORKSPACE};

/// Seconds git may run, and for push and pull (which cross the network).
pub const TIMEOUT_SECS: u64 = 60;
pub const REMOTE_TIMEOUT_SECS: u64 = 120;

/// The identity commits get when the repository configures none.
pub const DEFAULT_NAME: &str = "Paddock Agent";
pub const DEFAULT_EMAIL: &str = "agent@paddock.local";

pub const DESCRIPTION: &str = "\
Run one git subcommand on the repository at /workspace, in the agent's isolated sandbox, and \
return git's exit code, stdout and stderr. `operation` is the subcommand; `args` are the \
arguments after it, one per array element, exactly as git receives them: there is no shell, so \
no quoting, pipes or `&&` (globs are passed to git as pathspecs). Examples: \
{\"operation\": \"status\", \"args\": [\"--short\"]}; {\"operation\": \"add\", \"args\": [\"src/main.rs\"]}; \
{\"operation\": \"commit\", \"args\": [\"-m\", \"Fix the parser\"]}; \
{\"operation\": \"log\", \"args\": [\"--oneline\", \"-n\", \"20\"]}; \
{\"operation\": \"diff\", \"args\": [\"--stat\", \"HEAD~1\"]}.

Nothing can prompt: there is no editor and no pager (give commit messages with -m) and \
credentials cannot be typed. Commits use the repository's configured identity, or \
\"Paddock Agent <agent@paddock.local>\" when none is configured. push and pull need network \
access, which the sandbox has only when an admin granted it. git is killed after 60 s (120 s for \
push and pull); each output stream keeps at most its first and last 32 KiB, so narrow log and \
diff output (`-n 20`, `--stat`, a path after `--`).

checkout accepts only `NAME` (switch to a branch or commit), `-b NAME [START]` (create a branch \
and switch to it) and `[--ours|--theirs] [REV] -- PATH…` (restore those files, discarding their \
uncommitted changes).

Refused with an error, before git runs: options that make git run other programs, change its \
configuration, leave /workspace, write output to files or skip hooks (-c, -C, --config-env, \
--exec-path, --upload-pack, --receive-pack, --exec, --ext-diff, --textconv, --output, --git-dir, \
--work-tree, --template, --no-index, --no-verify and commit's -n), including abbreviations such \
as --upload-pa; interactive modes (add -i/-p/-e, commit -p); pull's -u; ext:: and fd:: remotes. \
A non-zero exit code is not an error of this tool: the result shows it with git's message, \
starting with the command line that ran:
$ git status --short
exit_code: 0
duration: 40 ms
<stdout>
 M src/main.rs
</stdout>
<stderr></stderr>";

// Input of `git_operation`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitInput {
    /// The git subcommand to run: status, add, commit, diff, log, push,
    /// pull, checkout, branch or show.
    pub operation: Operation,
    /// Arguments after the subcommand, one per element, exactly as git
    /// receives them (no shell quoting), e.g. `["-m", "Fix the parser"]`
    /// for commit or `["--oneline", "-n", "20"]` for log. Defaults to none.
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub args: Vec<String>,
}

/// The sandbox's timeout for `op`, in seconds.
pub fn timeout_secs(op: Operation) -> u64 {
    if op.is_remote() {
        REMOTE_TIMEOUT_SECS
    } else {
        TIMEOUT_SECS
    }
}

/// Trusts /workspace whoever owns it: a sandbox may run as another user
/// than the one owning the workspace's files (Docker's `1000:1000`), and
/// git then refuses the repository as of "dubious ownership". This is
/// git's `-c safe.directory=/workspace`, given through the environment (a
/// fixed value, not one the model chooses).
pub const SAFE_DIRECTORY: [(&str, &str); 3] = [
    ("GIT_CONFIG_COUNT", "1"),
    ("GIT_CONFIG_KEY_0", "safe.directory"),
    ("GIT_CONFIG_VALUE_0", WORKSPACE),
];

/// `git OP ARGS…` in /workspace, with an environment that never prompts
/// and never pages. `identity` is the environment that supplies a
/// committer and author when the repository has none.
pub fn command(op: Operation, args: &[String], identity: &[(String, String)]) -> Command {
    let mut argv = vec!["git".to_string(), op.as_str().to_string()];
    argv.extend(args.iter().cloned());
    let mut cmd = Command::new(argv)
        .cwd(WORKSPACE)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_PAGER", "cat")
        .env("PAGER", "cat")
        .env("GIT_EDITOR", "true")
        .env("GIT_SEQUENCE_EDITOR", "true")
        .env("GIT_MERGE_AUTOEDIT", "no");
    for (k, v) in SAFE_DIRECTORY {
        cmd = cmd.env(k, v);
    }
    cmd = cmd
        .timeout_ms(timeout_secs(op) * 1000)
        .max_output_bytes(STREAM_CAP)
        .stdin("");
    if op.is_remote() {
        cmd = cmd
            // Never ask about host keys or passwords; and a repository's
            // core.sshCommand cannot pick the program.
            .env(
                "GIT_SSH_COMMAND",
                "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new",
            )
            // Only transports that connect somewhere: no ext:: (runs a
            // command) or fd::, whatever the configuration says.
            .env("GIT_ALLOW_PROTOCOL", "file:git:http:https:ssh");
    }
    for (k, v) in identity {
        cmd = cmd.env(k.clone(), v.clone());
    }
    cmd
}

/// Asks the repository which parts of a user identity it configures.
pub fn identity_probe() -> Command {
    let mut cmd = Command::new(["git", "config", "--get-regexp", r"^user\.(name|email)$"])
        .cwd(WORKSPACE)
        .env("GIT_TERMINAL_PROMPT", "0");
    for (k, v) in SAFE_DIRECTORY {
        cmd = cmd.env(k, v);
    }
    cmd.timeout_ms(10_000).max_output_bytes(4096).stdin("")
}

/// The environment that fills in what the probe's output lacks: the
/// default name and/or email, for author and committer.
pub fn identity_env(probe: &Output) -> Vec<(String, String)> {
    let configured = |key: &str| {
        probe.exit_code == Some(0)
            && probe
                .stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(key))
    };
    let mut env = Vec::new();
    if !configured("user.name") {
        env.push(("GIT_AUTHOR_NAME".to_string(), DEFAULT_NAME.to_string()));
        env.push(("GIT_COMMITTER_NAME".to_string(), DEFAULT_NAME.to_string()));
    }
    if !configured("user.email") {
        env.push(("GIT_AUTHOR_EMAIL".to_string(), DEFAULT_EMAIL.to_string()));
        env.push(("GIT_COMMITTER_EMAIL".to_string(), DEFAULT_EMAIL.to_string()));
    }
    env
}

/// A failed `exec` call as a tool error, keeping the host's message.
pub fn exec_error(err: ExecError) -> ToolError {
    match err {
        ExecError::Denied(m) => ToolError::denied(format!(
            "{m}; an admin can grant it with `paddock plugin grant git exec`"
        )),
        ExecError::Unavailable(m) => ToolError::failed(format!("cannot run git: {m}")),
        ExecError::Invalid(m) => ToolError::failed(format!("the sandbox refused the command: {m}")),
        ExecError::Failed(m) => ToolError::failed(format!("the sandbox failed to run git: {m}")),
    }
}

/// What stderr says when the network could not be reached.
const NETWORK_FAILURES: &[&str] = &[
    "could not resolve host",
    "could not resolve hostname",
    "temporary failure in name resolution",
    "name or service not known",
    "network is unreachable",
    "no route to host",
    "connection refused",
    "connection timed out",
    "operation timed out",
    "failed to connect",
    "couldn't connect to server",
    "could not connect",
    "unable to access",
    "could not read from remote repository",
    "ssh: connect to host",
];

/// What stderr says when credentials were needed.
const CREDENTIAL_FAILURES: &[&str] = &[
    "could not read username",
    "could not read password",
    "authentication failed",
    "terminal prompts disabled",
    "permission denied (publickey",
    "host key verification failed",
];

/// Notes explaining the outcome.
pub fn notes(op: Operation, out: &Output) -> Vec<String> {
    let mut notes = Vec::new();
    let stderr = out.stderr.to_ascii_lowercase();
    if out.timed_out {
        notes.push(format!(
            "timed out: git was killed after {} s; output so far above.",
            timeout_secs(op)
        ));
    } else if out.exit_code.is_none() {
        notes.push("git was killed by a signal before it exited (no exit code).".to_string());
    }
    if out.exit_code != Some(0) {
        if stderr.contains("not a git repository") {
            notes.push(
                "/workspace is not a git repository (nor is any parent). Create one with \
                 execute_bash `git init`, or ask the user which directory holds the repository."
                    .to_string(),
            );
        }
        if op.is_remote() {
            if CREDENTIAL_FAILURES.iter().any(|p| stderr.contains(p)) {
                notes.push(
                    "the remote needs credentials, and none are available in the sandbox (git \
                     cannot prompt for them); ask the user to push or pull, or to set up access."
                        .to_string(),
                );
            } else if out.timed_out || NETWORK_FAILURES.iter().any(|p| stderr.contains(p)) {
                notes.push(
                    "this looks like a network failure: the agent's sandbox has no network \
                     access unless an admin granted it, and push and pull need it."
                        .to_string(),
                );
            }
        }
    }
    if format::was_truncated(out) {
        notes.push(format!(
            "output truncated: each stream keeps its first and last {} KiB (the cut is marked \
             above). Narrow it: `-n 20` or `--oneline` for log, `--stat` or a path after `--` \
             for diff and show.",
            STREAM_CAP / 2 / 1024
        ));
    }
    notes
}

pub fn git_operation(sandbox: &dyn Sandbox, input: GitInput) -> Result<ToolOutput, ToolError> {
    let op = input.operation;
    validate(op, &input.args).map_err(|r| ToolError::denied(r.message(op)))?;
    let identity = if matches!(op, Operation::Commit | Operation::Pull) {
        let probe = sandbox.run(&identity_probe()).map_err(exec_error)?;
        identity_env(&probe)
    } else {
        Vec::new()
    };
    let cmd = command(op, &input.args, &identity);
    let out = sandbox.run(&cmd).map_err(exec_error)?;
    let notes = notes(op, &out);
    let text = format::render(&cmd.argv, &out, &notes);
    Ok(ToolOutput::text(text).with_structured(&json!({
        "operation": op.as_str(),
        "argv": cmd.argv,
        "exit_code": out.exit_code,
        "timed_out": out.timed_out,
        "truncated": format::was_truncated(&out),
        "duration_ms": out.duration_ms,
    })))
}
