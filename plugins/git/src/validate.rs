//! Which arguments `git_operation` passes to git, and which it refuses.
//!
//! Git runs as `git OPERATION ARGS…` (an argv, never a shell string) in
//! /workspace. The arguments are checked before anything runs, by
//! [`validate`], a pure function. It refuses whatever would make a
//! harmless-looking git call do something else:
//!
//! - run another program: `--upload-pack`, `--receive-pack`, `--exec`,
//!   `--exec-path`, `--ext-diff`, `--textconv`, `-u` for `pull` (the
//!   upload-pack of fetch/clone), merge strategies other than git's own
//!   (`-s NAME` runs `git-merge-NAME`), and `ext::`/`fd::` remotes;
//! - change git's configuration for the call: `-c`, `--config`,
//!   `--config-env`, and any `KEY=VALUE` naming a key that runs programs
//!   (`core.sshCommand`, `core.hooksPath`, `core.fsmonitor`,
//!   `diff.external`, `credential.helper`, …);
//! - work outside /workspace: `-C`, `--git-dir`, `--work-tree`,
//!   `--no-index`, `--template`;
//! - write git's output to a file: `--output`, `-o` (diff/log/show);
//! - skip the repository's hooks: `--no-verify`, and `-n` for `commit`;
//! - need a terminal: `add -i/-p/-e`, `commit -p/--interactive`.
//!
//! Long options are matched the way git's option parser does: it accepts
//! any unambiguous prefix (`--upload-pa=…` is `--upload-pack=…`), so an
//! argument that is a prefix of a refused name is refused too. Short
//! options are read through clusters (`-pc` is `-p -c`), stopping where an
//! option takes the rest of the cluster as its value (`-mfix` is `-m fix`).
//! `--` ends the checks only where git surely reads it as the end of
//! options: always for diff, log and show (they split their arguments at
//! `--` first), and for the other subcommands when no option stands right
//! before it — an option that takes a value takes the next argument even
//! when it is `--` (`commit --pathspec-from-file -- --no-verify`). For push
//! and pull, nothing after `--` may start with `-` either: pull hands its
//! remote and refspecs to git fetch, which would read such an argument as
//! an option (`pull origin -- --upload-pack=…` runs the program).
//!
//! `checkout` is narrower: only `checkout NAME`, `checkout -b NAME [START]`
//! and `checkout [--ours|--theirs] [REV] -- PATH…`.

use paddock_sdk::prelude::*;

// The git subcommands the tool runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum Operation {
    Status,
    Add,
    Commit,
    Diff,
    Log,
    Push,
    Pull,
    Checkout,
    Branch,
    Show,
}

impl Operation {
    /// Every operation, in schema order.
    pub const ALL: [Operation; 10] = [
        Operation::Status,
        Operation::Add,
        Operation::Commit,
        Operation::Diff,
        Operation::Log,
        Operation::Push,
        Operation::Pull,
        Operation::Checkout,
        Operation::Branch,
        Operation::Show,
    ];

    /// The subcommand as git spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Status => "status",
            Operation::Add => "add",
            Operation::Commit => "commit",
            Operation::Diff => "diff",
            Operation::Log => "log",
            Operation::Push => "push",
            Operation::Pull => "pull",
            Operation::Checkout => "checkout",
            Operation::Branch => "branch",
            Operation::Show => "show",
        }
    }

    /// Whether the operation reaches a remote.
    pub fn is_remote(self) -> bool {
        matches!(self, Operation::Push | Operation::Pull)
    }

    /// Whether the operation prints diffs (and so has diff options).
    fn prints_diffs(self) -> bool {
        matches!(self, Operation::Diff | Operation::Log | Operation::Show)
    }
}

/// Most arguments one call may pass.
pub const MAX_ARGS: usize = 256;

/// Why an argument was refused: the argument, and the reason in words for
/// the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The argument as given.
    pub arg: String,
    /// Why, and what to do instead.
    pub reason: String,
}

impl Refusal {
    fn new(arg: &str, reason: impl Into<String>) -> Self {
        Refusal {
            arg: arg.to_string(),
            reason: reason.into(),
        }
    }

    /// The message shown to the model.
    pub fn message(&self, op: Operation) -> String {
        format!(
            "git_operation refused `{}` for `git {}`: {}",
            self.arg,
            op.as_str(),
            self.reason
        )
    }
}

const RUNS_PROGRAM: &str = "it makes git run another program, which git_operation never allows";
const CHANGES_CONFIG: &str =
    "it changes git's configuration for the command, which git_operation never does";
const LEAVES_WORKSPACE: &str =
    "it points git outside the repository at /workspace, where git_operation always works";
const WRITES_FILE: &str =
    "it writes git's output to a file; git_operation returns the output instead";
const SKIPS_HOOKS: &str = "it skips the repository's hooks (its pre-commit/pre-push checks): fix \
                           what the hooks report instead, or ask the user";
const INTERACTIVE: &str = "it needs an interactive terminal, which the sandbox does not have: \
                           name the paths or give the message with -m instead";

/// Long options refused for every operation, with the reason. An argument
/// that is a prefix of one of these names is refused too, since git
/// accepts unambiguous abbreviations.
const REFUSED_LONG: &[(&str, &str)] = &[
    ("upload-pack", RUNS_PROGRAM),
    ("receive-pack", RUNS_PROGRAM),
    ("exec", RUNS_PROGRAM),
    ("exec-path", RUNS_PROGRAM),
    ("ext-diff", RUNS_PROGRAM),
    ("textconv", RUNS_PROGRAM),
    ("config", CHANGES_CONFIG),
    ("config-env", CHANGES_CONFIG),
    ("git-dir", LEAVES_WORKSPACE),
    ("work-tree", LEAVES_WORKSPACE),
    ("no-index", LEAVES_WORKSPACE),
    (
        "template",
        "templates copy hooks and files from outside the repository (for commit: give the \
         message with -m)",
    ),
    ("output", WRITES_FILE),
    ("no-verify", SKIPS_HOOKS),
];

/// Long options refused for one operation only.
fn refused_long_for(op: Operation) -> &'static [(&'static str, &'static str)] {
    match op {
        Operation::Add => &[
            ("interactive", INTERACTIVE),
            ("patch", INTERACTIVE),
            ("edit", INTERACTIVE),
        ],
        Operation::Commit => &[("interactive", INTERACTIVE), ("patch", INTERACTIVE)],
        _ => &[],
    }
}

/// Real options that are also prefixes of a refused name: git takes an
/// exact match over an abbreviation, so these stay allowed.
const EXACT_OPTIONS: &[&str] = &["text"];

/// Short options refused for `op`, with the reason.
fn refused_short(op: Operation, c: char) -> Option<String> {
    let reason = match (op, c) {
        (Operation::Commit, 'c') => "`-c` is refused (as a git option it sets configuration): \
                                     use --reedit-message=COMMIT"
            .to_string(),
        (Operation::Commit, 'C') => "`-C` is refused (as a git option it changes directory): \
                                     use --reuse-message=COMMIT"
            .to_string(),
        (Operation::Branch, 'c') => "`-c` is refused (as a git option it sets configuration): \
                                     use --copy"
            .to_string(),
        (Operation::Branch, 'C') => "`-C` is refused (as a git option it changes directory): \
                                     use --copy --force"
            .to_string(),
        (op, 'c') if op.prints_diffs() => "`-c` is refused (as a git option it sets \
                                           configuration): use --diff-merges=combined or --cc"
            .to_string(),
        (op, 'C') if op.prints_diffs() => "`-C` is refused (as a git option it changes \
                                           directory): use --find-copies"
            .to_string(),
        (_, 'c') => format!("`-c` sets git configuration: {CHANGES_CONFIG}"),
        (_, 'C') => format!("`-C` changes directory: {LEAVES_WORKSPACE}"),
        (op, 'o') if op.prints_diffs() => WRITES_FILE.to_string(),
        (Operation::Pull, 'u') => {
            "`-u` names the upload-pack program in fetch and clone, which git_operation never \
             allows; to set an upstream, use `push -u` or `branch -u`"
                .to_string()
        }
        (Operation::Commit, 'n') => format!("`-n` is --no-verify: {SKIPS_HOOKS}"),
        (Operation::Commit, 't') => "`-t` is --template: give the message with -m".to_string(),
        (Operation::Commit, 'p') => format!("`-p` is --patch: {INTERACTIVE}"),
        (Operation::Add, 'i' | 'p' | 'e') => {
            format!("`-{c}` is an interactive mode: {INTERACTIVE}")
        }
        _ => return None,
    };
    Some(reason)
}

/// How a short option uses what follows it in its cluster.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ShortValue {
    /// A flag: the cluster goes on with more options.
    Flag,
    /// Takes the rest of the cluster as its value, or the next argument
    /// when it ends the cluster.
    Required,
    /// Takes the rest of the cluster as its value, if any (never the next
    /// argument).
    Optional,
}

fn short_value(op: Operation, c: char) -> ShortValue {
    use ShortValue::*;
    match (op, c) {
        (Operation::Commit, 'm' | 'F') => Required,
        (Operation::Commit, 'u' | 'S') => Optional,
        (op, 'S' | 'G' | 'O' | 'L' | 'l' | 'I' | 'n') if op.prints_diffs() => Required,
        (op, 'U' | 'M' | 'B' | 'X') if op.prints_diffs() => Optional,
        (Operation::Push, 'o') => Required,
        (Operation::Pull, 's' | 'X') => Required,
        (Operation::Pull, 'r' | 'j') => Optional,
        (Operation::Status, 'u') => Optional,
        (Operation::Branch, 'u') => Required,
        (Operation::Branch, 't') => Optional,
        _ => Flag,
    }
}

/// Options whose value (the next argument) is free text the model writes,
/// such as a commit message that may start with `-`: not read as options.
fn is_text_value_option(op: Operation, name: &str) -> bool {
    op == Operation::Commit && matches!(name, "message" | "file" | "author" | "date" | "trailer")
}

/// The merge strategies built into git. Any other name makes git run a
/// program called `git-merge-NAME`.
pub const MERGE_STRATEGIES: &[&str] =
    &["ort", "recursive", "resolve", "octopus", "ours", "subtree"];

fn check_strategy(arg: &str, value: &str) -> Result<(), Refusal> {
    if MERGE_STRATEGIES.contains(&value) {
        Ok(())
    } else {
        Err(Refusal::new(
            arg,
            format!(
                "the merge strategy must be one of {} (another name makes git run a program \
                 called git-merge-NAME)",
                MERGE_STRATEGIES.join(", ")
            ),
        ))
    }
}

/// Fragments of configuration keys (lower case) whose values make git run
/// programs, read files or fetch from elsewhere. An argument `KEY=VALUE`
/// whose key holds one is refused.
const DANGEROUS_CONFIG: &[&str] = &[
    "sshcommand",
    "hook",
    "fsmonitor",
    "pager",
    "editor",
    "askpass",
    "gitproxy",
    "proxy",
    "worktree",
    "external",
    "credential",
    "gpg.",
    "include",
    "alias.",
    "textconv",
    ".cmd",
    "uploadpack",
    "receivepack",
    "filter.",
    ".driver",
    "insteadof",
    "protocol.",
    "program",
];

/// Refuses `KEY=VALUE` text whose key looks like a configuration key that
/// makes git run programs.
fn check_config_text(arg: &str, text: &str) -> Result<(), Refusal> {
    let Some((key, _)) = text.split_once('=') else {
        return Ok(());
    };
    let key = key.trim_start_matches('-').to_ascii_lowercase();
    if key.contains('.') && DANGEROUS_CONFIG.iter().any(|k| key.contains(k)) {
        return Err(Refusal::new(
            arg,
            format!(
                "`{key}=…` looks like a configuration setting that makes git run programs: \
                 {CHANGES_CONFIG}"
            ),
        ));
    }
    Ok(())
}

/// Refuses remotes that run a command instead of connecting (`ext::`,
/// `fd::`).
fn check_remote_text(op: Operation, arg: &str, text: &str) -> Result<(), Refusal> {
    if !op.is_remote() {
        return Ok(());
    }
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("ext::") || lower.starts_with("fd::") {
        return Err(Refusal::new(
            arg,
            "the ext:: and fd:: transports run a command instead of connecting to a remote; \
             use a remote name or an https://, ssh:// or git@host: URL",
        ));
    }
    Ok(())
}

/// Checks the arguments of `git OP ARGS…`.
pub fn validate(op: Operation, args: &[String]) -> Result<(), Refusal> {
    check_args(op, args).map_err(|mut r| {
        let after_dashdash = args
            .iter()
            .position(|a| a == "--")
            .is_some_and(|d| args[d + 1..].contains(&r.arg));
        if after_dashdash && r.arg.starts_with('-') && !op.is_remote() {
            r.reason.push_str(
                " (after `--` too: an option before it may take `--` as its value; write a path \
                 that starts with `-` as `./-name`)",
            );
        }
        r
    })
}

fn check_args(op: Operation, args: &[String]) -> Result<(), Refusal> {
    if args.len() > MAX_ARGS {
        return Err(Refusal::new(
            &format!("{} arguments", args.len()),
            format!("at most {MAX_ARGS} arguments are accepted; use a pathspec or a directory"),
        ));
    }
    if let Some(arg) = args.iter().find(|a| a.contains('\0')) {
        return Err(Refusal::new(
            &arg.replace('\0', "\\0"),
            "it contains a NUL character, which no argument can carry",
        ));
    }
    if op == Operation::Checkout {
        return validate_checkout(args);
    }
    let mut i = 0;
    let mut after_dashdash = false;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        if arg == "--" && !after_dashdash {
            // The argument before `--`, if it is an option that may take a
            // value (`--pathspec-from-file`, `-X`...).
            let prev = args[..i - 1]
                .last()
                .filter(|p| p.starts_with('-') && !(p.starts_with("--") && p.contains('=')));
            if op.prints_diffs() || prev.is_none() {
                // diff, log and show split their arguments at `--` before
                // reading any option; and with no option right before it,
                // `--` cannot be an option's value: what follows is paths
                // (for push and pull, the remote and refspecs).
                return check_after_separator(op, &args[i..]);
            }
            // The other subcommands read options one by one, and an option
            // that takes a value takes the next argument even when it is
            // `--` (`--pathspec-from-file -- --no-verify`): what follows is
            // checked like any argument. (`--end-of-options` is not trusted
            // either: older gits do not know it.)
            after_dashdash = true;
            continue;
        }
        if after_dashdash && op.is_remote() && arg.starts_with('-') {
            return Err(dash_refspec(arg));
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            check_long(op, arg, name)?;
            if op == Operation::Pull && "strategy".starts_with(name) && name.len() >= 3 {
                match value {
                    Some(v) => check_strategy(arg, v)?,
                    None => {
                        let v = args.get(i).map(String::as_str).unwrap_or_default();
                        check_strategy(arg, v)?;
                        i += 1;
                    }
                }
                continue;
            }
            if is_text_value_option(op, name) {
                if value.is_none() {
                    i += 1; // the next argument is the value: free text
                }
                continue;
            }
            if let Some(v) = value {
                check_config_text(arg, v)?;
                check_remote_text(op, arg, v)?;
            }
        } else if arg.len() > 1 && arg.starts_with('-') {
            let takes_next = check_short_cluster(op, arg)?;
            if let Some(c) = takes_next {
                if op == Operation::Pull && c == 's' {
                    let v = args.get(i).map(String::as_str).unwrap_or_default();
                    check_strategy(arg, v)?;
                    i += 1;
                } else if op == Operation::Commit {
                    i += 1; // -m MESSAGE, -F FILE: free text
                }
                // Other values are read as arguments of their own: a value
                // that looks like an option is checked like one.
            }
        } else {
            check_config_text(arg, arg)?;
            check_remote_text(op, arg, arg)?;
        }
    }
    Ok(())
}

/// Checks what follows a `--` that git takes as the end of options: paths,
/// or for push and pull, a remote and refspecs.
fn check_after_separator(op: Operation, rest: &[String]) -> Result<(), Refusal> {
    for arg in rest {
        check_remote_text(op, arg, arg)?;
        if op.is_remote() && arg.starts_with('-') {
            return Err(dash_refspec(arg));
        }
    }
    Ok(())
}

fn dash_refspec(arg: &str) -> Refusal {
    Refusal::new(
        arg,
        "a remote or refspec cannot start with `-` (pull hands them to git fetch, which could \
         read them as options)",
    )
}

/// Refuses a long option (given as `--NAME`) that is, or abbreviates, a
/// refused one.
fn check_long(op: Operation, arg: &str, name: &str) -> Result<(), Refusal> {
    if EXACT_OPTIONS.contains(&name) {
        return Ok(());
    }
    let refused = REFUSED_LONG
        .iter()
        .chain(refused_long_for(op))
        .find(|(refused, _)| refused.starts_with(name));
    match refused {
        Some((full, reason)) if *full == name => Err(Refusal::new(arg, *reason)),
        Some((full, reason)) => Err(Refusal::new(
            arg,
            format!("git reads it as an abbreviation of `--{full}`: {reason}"),
        )),
        None => Ok(()),
    }
}

/// Reads a cluster of short options (`-abc`). Returns the option whose
/// value is the next argument, when the cluster ends with one.
fn check_short_cluster(op: Operation, arg: &str) -> Result<Option<char>, Refusal> {
    let letters: Vec<char> = arg[1..].chars().collect();
    for (idx, &c) in letters.iter().enumerate() {
        if let Some(reason) = refused_short(op, c) {
            return Err(Refusal::new(arg, reason));
        }
        let rest: String = letters[idx + 1..].iter().collect();
        match short_value(op, c) {
            ShortValue::Flag => {}
            ShortValue::Optional => return Ok(None),
            ShortValue::Required if rest.is_empty() => return Ok(Some(c)),
            ShortValue::Required => {
                if op == Operation::Pull && c == 's' {
                    check_strategy(arg, &rest)?;
                }
                return Ok(None);
            }
        }
    }
    Ok(None)
}

/// What `checkout` accepts, for the refusal message.
pub const CHECKOUT_FORMS: &str = "checkout accepts only `NAME` (switch to a branch or commit; \
     `-` is the previous branch), `-b NAME [START]` (create a branch and switch to it), or \
     `[--ours|--theirs] [REV] -- PATH…` (restore those files from the index or REV, \
     discarding their uncommitted changes)";

fn validate_checkout(args: &[String]) -> Result<(), Refusal> {
    let refuse = |arg: &str, why: &str| Err(Refusal::new(arg, format!("{why}; {CHECKOUT_FORMS}")));
    let is_name = |a: &str| !a.is_empty() && !a.starts_with('-');
    if let Some(sep) = args.iter().position(|a| a == "--") {
        let (before, paths) = (&args[..sep], &args[sep + 1..]);
        if paths.is_empty() {
            return refuse("--", "no path follows `--`");
        }
        let mut rest = before;
        if let Some(first) = rest.first()
            && (first == "--ours" || first == "--theirs")
        {
            rest = &rest[1..];
        }
        return match rest {
            [] => Ok(()),
            [rev] if is_name(rev) => Ok(()),
            [bad] => refuse(bad, "only a revision may come before `--`"),
            [_, extra, ..] => refuse(extra, "only a revision may come before `--`"),
        };
    }
    match args {
        [] => refuse("(no arguments)", "it needs a branch, a commit or paths"),
        [name] if name == "-" || is_name(name) => Ok(()),
        [flag, name] | [flag, name, _] if flag == "-b" && !is_name(name) => {
            refuse(name, "`-b` needs the new branch's name")
        }
        [flag, _, start] if flag == "-b" && !is_name(start) => {
            refuse(start, "the start point must be a branch or commit")
        }
        [flag, _] | [flag, _, _] if flag == "-b" => Ok(()),
        [flag, _, _, extra, ..] if flag == "-b" => refuse(
            extra,
            "`-b` takes the new branch's name and an optional start point",
        ),
        [first, ..] if first.starts_with('-') => refuse(first, "that option is not accepted"),
        [empty] => refuse(empty, "the branch or commit name is empty"),
        [_, second, ..] => refuse(
            second,
            "to restore files, put `--` before the paths (e.g. `checkout -- src/a.rs`)",
        ),
    }
}
