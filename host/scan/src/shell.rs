//! A parser for POSIX-shell (bash-flavoured) command lines, for policy
//! checks: what programs would this command line run, with which arguments,
//! and where would it write?
//!
//! It is not an interpreter: nothing is expanded or run. It splits a command
//! line into [`Pipeline`]s of simple [`Command`]s with their argument words
//! (quotes removed), leading assignments and redirects, and it looks inside
//! everything that runs more commands:
//!
//! - command substitutions `$(…)` and `` `…` ``, process substitutions
//!   `<(…)` and `>(…)`, and substitutions in unquoted here-documents;
//! - the code strings of `sh -c`, `bash -c`, `zsh -c`, `dash -c`, `eval`,
//!   `su -c`, `watch`, `env -S`, and here-documents or here-strings fed to a
//!   shell (`bash <<EOF`, also through `cat` or `tee`: `cat <<EOF | sh`);
//! - wrapper commands (`sudo`, `doas`, `env`, `nice`, `nohup`, `timeout`,
//!   `xargs`, `command`, `exec`, `time`, `stdbuf`, `ionice`, `setsid`,
//!   `chroot`, `busybox`…) and `find -exec`: the wrapped command appears as a
//!   command of its own.
//!
//! Each of these appears as its own pipeline in [`Script::pipelines`], one
//! level deeper ([`Pipeline::depth`]), right after the pipeline it was found
//! in; the outer command keeps its words as written (`echo $(date)` has the
//! word `$(date)`).
//!
//! ```
//! use paddock_scan::shell;
//!
//! let script = shell::parse(r#"cd /tmp && sudo "/bin/rm" -rf '/'  # oops"#).unwrap();
//! let found: Vec<(u32, String)> = script
//!     .commands()
//!     .map(|c| (c.depth, c.normalized()))
//!     .collect();
//! assert_eq!(
//!     found,
//!     [
//!         (0, "cd /tmp".to_string()),
//!         (0, "sudo /bin/rm -rf /".to_string()),
//!         (1, "rm -rf /".to_string()),
//!     ]
//! );
//! ```
//!
//! The grammar covered: separators `;`, `&`, `&&`, `||` and newlines; pipes
//! `|` and `|&`; `!`; subshells `( … )` and groups `{ …; }`; `if`, `while`,
//! `until`, `for`, `select`, `case`, `[[ … ]]`, `(( … ))`, function
//! definitions; comments; single quotes, double quotes, backslashes, `$'…'`
//! and `$"…"`; `${…}` and `$((…))`; every redirect operator; here-documents
//! (their bodies are data: skipped, except for the substitutions of unquoted
//! ones). Unbalanced quotes, parentheses, braces or keywords are a
//! [`ParseError`]. Parsing never panics and is bounded: at most
//! [`MAX_INPUT_BYTES`] of input, [`MAX_DEPTH`] levels of nesting and
//! [`MAX_COMMANDS`] commands in all; beyond them it answers an error.
//!
//! A compound command that is one stage of a longer pipeline (`(a; b) | c`)
//! contributes its commands to that pipeline (`a`, `b`, `c`); standing alone
//! (`(a; b)`), its pipelines are listed as they are. Redirects of a compound
//! command (`{ a; b; } > out`) are added to each of its commands.

use std::cell::Cell;
use std::fmt;

/// The longest command line [`parse`] accepts, in bytes.
pub const MAX_INPUT_BYTES: usize = 1 << 20;

/// The deepest nesting [`parse`] accepts: substitutions, code strings and
/// wrappers inside one another. [`Pipeline::depth`] never exceeds it.
pub const MAX_DEPTH: u32 = 16;

/// The most commands (nested ones included) [`parse`] returns.
pub const MAX_COMMANDS: usize = 10_000;

/// How deeply compound commands, `${…}` and `$((…))` may nest syntactically
/// (keeps the parser's recursion, and so its stack, bounded).
const MAX_NESTING: u32 = 48;

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/// Why a command line could not be parsed: what was wrong, and where (a byte
/// offset into the parsed text; approximate inside nested code strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What was wrong, e.g. ``unterminated double quote``.
    pub message: String,
    /// Byte offset of the problem in the parsed text.
    pub offset: usize,
}

impl ParseError {
    /// An error with this message at this byte offset.
    pub fn new(message: impl Into<String>, offset: usize) -> Self {
        ParseError {
            message: message.into(),
            offset,
        }
    }

    /// What was wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Byte offset of the problem in the parsed text.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.offset)
    }
}

impl std::error::Error for ParseError {}

/// A parsed command line: every pipeline, top level and nested.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Script {
    /// The pipelines in source order, each followed by the pipelines nested
    /// in it (substitutions, code strings, wrapped commands), flattened into
    /// one list; [`Pipeline::depth`] tells them apart.
    pub pipelines: Vec<Pipeline>,
}

impl Script {
    /// Every simple command, top level and nested, in source order (each
    /// pipeline's commands before those nested in them).
    pub fn commands(&self) -> impl Iterator<Item = &Command> {
        self.pipelines.iter().flat_map(|p| p.commands.iter())
    }
}

/// Commands joined by pipes: `a | b | c` (a single command is a pipeline of
/// one).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pipeline {
    /// The commands, in order.
    pub commands: Vec<Command>,
    /// Nesting depth: 0 at the top level, one more inside each `$(…)`,
    /// `` `…` ``, `<(…)`, `>(…)`, code string (`sh -c`, `eval`…) or wrapper
    /// (`sudo`, `env`…).
    pub depth: u32,
}

/// One simple command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Command {
    /// The argument words (program first) after quote removal (single and
    /// double quotes, backslashes, `$'…'`), without the leading assignments
    /// and without redirects. Expansions are kept as written: `$HOME`,
    /// `$(date)`, `*.txt`.
    pub words: Vec<String>,
    /// Leading `NAME=value` words (quotes removed).
    pub assignments: Vec<String>,
    /// The command's redirects, in order (plus those of the compound
    /// commands around it).
    pub redirects: Vec<Redirect>,
    /// This command's source text, trimmed (for a wrapped command: from its
    /// program to the end of the wrapper's text).
    pub text: String,
    /// Nesting depth, as [`Pipeline::depth`].
    pub depth: u32,
}

/// A redirect, e.g. `2>>log`: `op` is `2>>`, `target` is `log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The operator with its descriptor number, if any: `>`, `>>`, `<`,
    /// `2>`, `2>&`, `&>`, `&>>`, `>|`, `<>`, `<&`, `<<`, `<<-`, `<<<`.
    pub op: String,
    /// The target word, quotes removed: a file, a descriptor number (`2>&1`
    /// has target `1`), a here-document's delimiter or a here-string.
    pub target: String,
}

impl Redirect {
    /// Whether this redirect writes to a file named by its target: `>`,
    /// `>>`, `>|`, `&>`, `&>>`, `<>` (with or without a descriptor number),
    /// and `>&` onto something other than a descriptor number or `-`.
    pub fn writes(&self) -> bool {
        let op = self.op.trim_start_matches(|c: char| c.is_ascii_digit());
        match op {
            ">" | ">>" | ">|" | "&>" | "&>>" | "<>" => true,
            ">&" => self.target != "-" && !self.target.chars().all(|c| c.is_ascii_digit()),
            _ => false,
        }
    }

    /// Whether this redirect feeds text to the command's standard input: a
    /// here-document (`<<`, `<<-`) or a here-string (`<<<`).
    pub fn is_here(&self) -> bool {
        self.op.ends_with("<<") || self.op.ends_with("<<-") || self.op.ends_with("<<<")
    }
}

impl Command {
    /// Basename of `words[0]` (`/bin/rm` gives `rm`; `\rm` and `'rm'` are
    /// `rm` after quote removal); `None` when there are no words.
    pub fn program(&self) -> Option<&str> {
        self.words.first().map(|w| basename(w))
    }

    /// The arguments: `words[1..]` (empty when there are no words).
    pub fn args(&self) -> &[String] {
        self.words.get(1..).unwrap_or(&[])
    }

    /// [`program`](Command::program) followed by the arguments, joined by
    /// single spaces, quotes removed: `"/bin/rm"  -rf   '/'` gives
    /// `rm -rf /`. Empty when there are no words.
    pub fn normalized(&self) -> String {
        let Some(program) = self.program() else {
            return String::new();
        };
        let mut out = program.to_string();
        for w in self.args() {
            out.push(' ');
            out.push_str(w);
        }
        out
    }

    /// When this command is a wrapper (`sudo`, `env`, `nice`, `timeout`,
    /// `xargs`…), the command it runs, one level deeper, with this command's
    /// redirects (its text is its words, quoted where needed). [`parse`]
    /// already lists wrapped commands; this is for code that holds a single
    /// command, e.g. to see what a pipeline stage really runs.
    pub fn wrapped(&self) -> Option<Command> {
        match what_it_runs(&self.words) {
            Runs::Wrapped { at, assignments } => {
                let words = self.words.get(at..)?.to_vec();
                if words.is_empty() {
                    return None;
                }
                let text = words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ");
                Some(Command {
                    words,
                    assignments,
                    redirects: self.redirects.clone(),
                    text,
                    depth: self.depth + 1,
                })
            }
            _ => None,
        }
    }

    /// This command with every wrapper stripped: `sudo env X=1 nice rm -rf
    /// x` gives `rm -rf x`; a command that wraps nothing gives itself.
    pub fn unwrapped(&self) -> Command {
        let mut cmd = self.clone();
        for _ in 0..MAX_DEPTH {
            match cmd.wrapped() {
                Some(inner) => cmd = inner,
                None => break,
            }
        }
        cmd
    }
}

/// Whether `program` (a basename) is a shell that runs code strings with
/// `-c` and reads code from its standard input: `sh`, `bash`, `zsh`, `dash`,
/// `ksh`, `ash`, `mksh`, `yash`, `posh`, `rbash`, `fish`, `csh`, `tcsh`.
pub fn is_shell(program: &str) -> bool {
    matches!(
        program,
        "sh" | "bash"
            | "zsh"
            | "dash"
            | "ksh"
            | "ash"
            | "mksh"
            | "yash"
            | "posh"
            | "rbash"
            | "fish"
            | "csh"
            | "tcsh"
    )
}

/// `word` quoted for a POSIX shell where needed (for messages): words of
/// plain characters are returned as they are, others in single quotes.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%^~".contains(&b) || !b.is_ascii());
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Parse a command line. See the [module documentation](self).
pub fn parse(src: &str) -> Result<Script, ParseError> {
    if src.len() > MAX_INPUT_BYTES {
        return Err(ParseError::new(
            format!(
                "the command line is too long to check ({} bytes; the limit is {MAX_INPUT_BYTES})",
                src.len()
            ),
            MAX_INPUT_BYTES,
        ));
    }
    let ctx = Ctx::default();
    parse_source(src, 0, 0, 0, &ctx)
        .map(|pipelines| Script { pipelines })
        .map_err(Fail::into_error)
}

fn basename(word: &str) -> &str {
    let trimmed = word.trim_end_matches('/');
    if trimmed.is_empty() {
        return word;
    }
    match trimmed.rfind('/') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    }
}

/// Whether `word` is an assignment `NAME=…`, `NAME+=…` or `NAME[…]=…`.
fn is_assignment(word: &str) -> bool {
    let b = word.as_bytes();
    let mut i = 0;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
        i += 1;
    }
    if i == 0 || b[0].is_ascii_digit() {
        return false;
    }
    if b.get(i) == Some(&b'[') {
        match word[i..].find(']') {
            Some(j) => i += j + 1,
            None => return false,
        }
    }
    if b.get(i) == Some(&b'+') {
        i += 1;
    }
    b.get(i) == Some(&b'=')
}

// ---------------------------------------------------------------------------
// What a command runs (code strings, wrappers, find -exec)
// ---------------------------------------------------------------------------

/// What running a command with these words would run besides itself.
enum Runs {
    /// Nothing more (as far as we can tell).
    Nothing,
    /// This code, as a shell would parse it.
    Code(String),
    /// A shell reading its code from standard input.
    Stdin,
    /// The command starting at word `at`, with these extra assignments.
    Wrapped { at: usize, assignments: Vec<String> },
    /// The commands in these word ranges (`find -exec … ;`).
    Ranges(Vec<(usize, usize)>),
}

/// A wrapper's options: which short options take an argument, which long
/// ones do (when not written `--name=value`), which make it run nothing, how
/// many operands precede the wrapped command, and whether `NAME=value`
/// words may precede it.
struct Wrapper {
    short_arg: &'static str,
    long_arg: &'static [&'static str],
    no_run: &'static str,
    positional: usize,
    assignments: bool,
}

const fn wrapper(
    short_arg: &'static str,
    long_arg: &'static [&'static str],
    no_run: &'static str,
    positional: usize,
    assignments: bool,
) -> Wrapper {
    Wrapper {
        short_arg,
        long_arg,
        no_run,
        positional,
        assignments,
    }
}

fn wrapper_spec(program: &str) -> Option<Wrapper> {
    Some(match program {
        "sudo" => wrapper(
            "ugphCDrtTUR",
            &[
                "user",
                "group",
                "host",
                "prompt",
                "close-from",
                "chdir",
                "role",
                "type",
                "command-timeout",
                "other-user",
                "chroot",
            ],
            "elv",
            0,
            true,
        ),
        "doas" => wrapper("uC", &[], "L", 0, false),
        "nice" => wrapper("n", &["adjustment"], "", 0, false),
        "nohup" | "setsid" | "busybox" | "toybox" | "builtin" | "unbuffer" => {
            wrapper("", &[], "", 0, false)
        }
        "timeout" => wrapper("sk", &["signal", "kill-after"], "", 1, false),
        "xargs" => wrapper(
            "adEILnPs",
            &[
                "arg-file",
                "delimiter",
                "max-lines",
                "max-args",
                "max-procs",
                "max-chars",
                "process-slot-var",
            ],
            "",
            0,
            false,
        ),
        "command" => wrapper("", &[], "vV", 0, false),
        "exec" => wrapper("a", &[], "", 0, false),
        "time" => wrapper("fo", &["format", "output"], "", 0, false),
        "stdbuf" => wrapper("ioe", &["input", "output", "error"], "", 0, false),
        "ionice" => wrapper(
            "cnpPu",
            &["class", "classdata", "pid", "pgid", "uid"],
            "pPu",
            0,
            false,
        ),
        "chroot" => wrapper("", &["userspec", "groups"], "", 1, false),
        "runuser" => wrapper(
            "ugGs",
            &["user", "group", "supp-group", "shell"],
            "",
            0,
            false,
        ),
        _ => return None,
    })
}

/// What running `words` runs besides itself.
fn what_it_runs(words: &[String]) -> Runs {
    let Some(first) = words.first() else {
        return Runs::Nothing;
    };
    let program = basename(first);
    if is_shell(program) {
        return shell_runs(words);
    }
    match program {
        "eval" => {
            if words.len() > 1 {
                Runs::Code(words[1..].join(" "))
            } else {
                Runs::Nothing
            }
        }
        "su" => su_runs(words),
        "runuser" => match su_runs(words) {
            Runs::Nothing if words.iter().any(|w| w == "-u" || w.starts_with("--user")) => {
                wrapper_runs(words, program)
            }
            other => other,
        },
        "script" => option_code(words, "-c", "--command"),
        "watch" => watch_runs(words),
        "env" => env_runs(words),
        "find" => find_runs(words),
        _ => wrapper_runs(words, program),
    }
}

/// `sh [options] [-c code | script | -s]`.
fn shell_runs(words: &[String]) -> Runs {
    let mut i = 1;
    let mut code = false;
    let mut stdin = false;
    while let Some(w) = words.get(i) {
        if w == "--" || w == "-" {
            i += 1;
            break;
        }
        if let Some(long) = w.strip_prefix("--") {
            if let Some(c) = long.strip_prefix("command=") {
                return Runs::Code(c.to_string());
            }
            match long {
                "command" => code = true,
                "rcfile" | "init-file" => i += 1,
                _ => {}
            }
            i += 1;
            continue;
        }
        if (w.starts_with('-') || w.starts_with('+')) && w.len() > 1 {
            let mut takes = 0;
            for ch in w[1..].chars() {
                match ch {
                    'c' => code = true,
                    's' => stdin = true,
                    'o' | 'O' => takes += 1,
                    _ => {}
                }
            }
            i += 1 + takes;
            continue;
        }
        break;
    }
    if code {
        return match words.get(i) {
            Some(c) => Runs::Code(c.clone()),
            None => Runs::Nothing,
        };
    }
    if stdin || i >= words.len() {
        Runs::Stdin
    } else {
        Runs::Nothing
    }
}

/// `su [options] [user] -c code` (also `-lc code`, `--command=code`).
fn su_runs(words: &[String]) -> Runs {
    let mut i = 1;
    while let Some(w) = words.get(i) {
        if let Some(c) = w.strip_prefix("--command=") {
            return Runs::Code(c.to_string());
        }
        let short_c = w.starts_with('-') && !w.starts_with("--") && w.ends_with('c');
        if w == "--command" || short_c {
            return match words.get(i + 1) {
                Some(c) => Runs::Code(c.clone()),
                None => Runs::Nothing,
            };
        }
        i += 1;
    }
    Runs::Nothing
}

/// `script -c code`, `script --command code`, `script --command=code`.
fn option_code(words: &[String], short: &str, long: &str) -> Runs {
    let mut iter = words.iter().skip(1);
    while let Some(w) = iter.next() {
        if let Some(c) = w.strip_prefix(long).and_then(|r| r.strip_prefix('=')) {
            return Runs::Code(c.to_string());
        }
        if w == short || w == long {
            return match iter.next() {
                Some(c) => Runs::Code(c.clone()),
                None => Runs::Nothing,
            };
        }
    }
    Runs::Nothing
}

/// `watch [options] command…`: the words are joined and run with `sh -c`,
/// unless `-x` runs them directly.
fn watch_runs(words: &[String]) -> Runs {
    let mut i = 1;
    let mut exec = false;
    while let Some(w) = words.get(i) {
        if w == "--" {
            i += 1;
            break;
        }
        if let Some(long) = w.strip_prefix("--") {
            match long {
                "exec" => exec = true,
                "interval" => i += 1,
                _ => {}
            }
            i += 1;
            continue;
        }
        if w.starts_with('-') && w.len() > 1 {
            let cluster = &w[1..];
            if cluster.contains('x') {
                exec = true;
            }
            // `-n SECONDS` (or `-nSECONDS`).
            if cluster.find('n').is_some_and(|j| j + 1 == cluster.len()) {
                i += 1;
            }
            i += 1;
            continue;
        }
        break;
    }
    if i >= words.len() {
        Runs::Nothing
    } else if exec {
        Runs::Wrapped {
            at: i,
            assignments: Vec::new(),
        }
    } else {
        Runs::Code(words[i..].join(" "))
    }
}

/// `env [options] [NAME=value…] [command…]`; `-S string` splits a string
/// into the command.
fn env_runs(words: &[String]) -> Runs {
    let mut i = 1;
    while let Some(w) = words.get(i) {
        if w == "--" {
            i += 1;
            break;
        }
        if w == "-" {
            i += 1;
            continue;
        }
        if let Some(long) = w.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            match (name, value) {
                ("split-string", Some(v)) => return split_string(v, &words[i + 1..]),
                ("split-string", None) => {
                    return match words.get(i + 1) {
                        Some(v) => split_string(v, &words[i + 2..]),
                        None => Runs::Nothing,
                    };
                }
                ("unset" | "chdir", None) => i += 2,
                _ => i += 1,
            }
            continue;
        }
        if w.starts_with('-') && w.len() > 1 {
            let cluster = &w[1..];
            i += 1;
            for (j, ch) in cluster.char_indices() {
                let rest = &cluster[j + ch.len_utf8()..];
                match ch {
                    'S' => {
                        return if rest.is_empty() {
                            match words.get(i) {
                                Some(v) => split_string(v, &words[i + 1..]),
                                None => Runs::Nothing,
                            }
                        } else {
                            split_string(rest, &words[i..])
                        };
                    }
                    'u' | 'C' => {
                        if rest.is_empty() {
                            i += 1;
                        }
                        break;
                    }
                    _ => {}
                }
            }
            continue;
        }
        break;
    }
    let mut assignments = Vec::new();
    while let Some(w) = words.get(i) {
        if !is_assignment(w) {
            break;
        }
        assignments.push(w.clone());
        i += 1;
    }
    if i < words.len() {
        Runs::Wrapped { at: i, assignments }
    } else {
        Runs::Nothing
    }
}

fn split_string(first: &str, rest: &[String]) -> Runs {
    let mut code = first.to_string();
    for w in rest {
        code.push(' ');
        code.push_str(&quote(w));
    }
    Runs::Code(code)
}

/// `find … -exec cmd … ;` (and `-execdir`, `-ok`, `-okdir`, ending in `;`
/// or `+`).
fn find_runs(words: &[String]) -> Runs {
    let mut ranges = Vec::new();
    let mut i = 1;
    while i < words.len() {
        if matches!(words[i].as_str(), "-exec" | "-execdir" | "-ok" | "-okdir") {
            let start = i + 1;
            let mut end = start;
            while end < words.len() && words[end] != ";" && words[end] != "+" {
                end += 1;
            }
            if start < end {
                ranges.push((start, end));
            }
            i = end + 1;
        } else {
            i += 1;
        }
    }
    if ranges.is_empty() {
        Runs::Nothing
    } else {
        Runs::Ranges(ranges)
    }
}

/// A generic wrapper: options, then assignments (sudo), then operands
/// (timeout's duration, chroot's directory), then the wrapped command.
fn wrapper_runs(words: &[String], program: &str) -> Runs {
    let Some(spec) = wrapper_spec(program) else {
        return Runs::Nothing;
    };
    let mut i = 1;
    while let Some(w) = words.get(i) {
        if w == "--" {
            i += 1;
            break;
        }
        if let Some(long) = w.strip_prefix("--") {
            let takes = !long.contains('=') && spec.long_arg.contains(&long);
            i += if takes { 2 } else { 1 };
            continue;
        }
        if w.starts_with('-') && w.len() > 1 {
            let cluster = &w[1..];
            i += 1;
            for (j, ch) in cluster.char_indices() {
                if spec.no_run.contains(ch) {
                    return Runs::Nothing;
                }
                if spec.short_arg.contains(ch) {
                    if j + ch.len_utf8() == cluster.len() {
                        i += 1;
                    }
                    break;
                }
            }
            continue;
        }
        break;
    }
    let mut assignments = Vec::new();
    if spec.assignments {
        while let Some(w) = words.get(i) {
            if !is_assignment(w) {
                break;
            }
            assignments.push(w.clone());
            i += 1;
        }
    }
    i += spec.positional;
    if i < words.len() {
        Runs::Wrapped { at: i, assignments }
    } else {
        Runs::Nothing
    }
}

// ---------------------------------------------------------------------------
// Parser internals
// ---------------------------------------------------------------------------

/// A parse failure: bad syntax (a code string that fails is ignored) or a
/// limit (always reported: what lies beyond it was not checked).
enum Fail {
    Syntax(ParseError),
    Limit(ParseError),
}

impl Fail {
    fn into_error(self) -> ParseError {
        match self {
            Fail::Syntax(e) | Fail::Limit(e) => e,
        }
    }
}

type PResult<T> = Result<T, Fail>;

/// Shared by a parse and all its nested parses.
#[derive(Default)]
struct Ctx {
    commands: Cell<usize>,
}

impl Ctx {
    fn count(&self, offset: usize) -> PResult<()> {
        let n = self.commands.get() + 1;
        if n > MAX_COMMANDS {
            return Err(Fail::Limit(ParseError::new(
                format!("too many commands to check (the limit is {MAX_COMMANDS})"),
                offset,
            )));
        }
        self.commands.set(n);
        Ok(())
    }
}

struct RawWord {
    value: String,
    start: usize,
    end: usize,
    /// Whether any quoting (quotes, backslash, `$'…'`) was used.
    quoted: bool,
}

struct RawRedir {
    op: String,
    target: String,
    /// A here-document's body, once read.
    body: Option<String>,
}

impl RawRedir {
    fn public(&self) -> Redirect {
        Redirect {
            op: self.op.clone(),
            target: self.target.clone(),
        }
    }
}

/// A simple command, or the header of a compound command (its redirects and
/// the substitutions in its words).
#[derive(Default)]
struct RawCmd {
    words: Vec<RawWord>,
    assignments: Vec<String>,
    redirects: Vec<RawRedir>,
    start: usize,
    end: usize,
    subs: Vec<Sub>,
}

/// Commands nested in a word.
enum Sub {
    /// Parsed from the same source (`$(…)`, `<(…)`).
    Here(Vec<RawPipe>),
    /// Parsed from another text (backquotes, here-document bodies).
    Done(Vec<Pipeline>),
}

struct RawPipe {
    elems: Vec<Elem>,
    depth: u32,
}

enum Elem {
    Simple(usize),
    Compound(usize, Vec<RawPipe>),
}

struct Pending {
    cmd: usize,
    redir: usize,
    delim: String,
    strip_tabs: bool,
    expand: bool,
    depth: u32,
}

/// Reserved words that close a compound command.
const CLOSERS: &[&str] = &["then", "elif", "else", "fi", "do", "done", "esac", "}"];

struct Parser<'a> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    depth: u32,
    nesting: u32,
    /// Offset of this text in the user's input (for error offsets).
    base: usize,
    arena: Vec<RawCmd>,
    pending: Vec<Pending>,
    /// Substitutions found in the words of the commands being parsed.
    collectors: Vec<Vec<Sub>>,
    /// Substitutions found outside any command (should not happen).
    loose: Vec<Sub>,
    ctx: &'a Ctx,
}

/// Parse a whole text at `depth`, flattened into pipelines.
fn parse_source(
    src: &str,
    depth: u32,
    nesting: u32,
    base: usize,
    ctx: &Ctx,
) -> PResult<Vec<Pipeline>> {
    let mut p = Parser {
        src,
        b: src.as_bytes(),
        pos: 0,
        depth,
        nesting,
        base,
        arena: Vec::new(),
        pending: Vec::new(),
        collectors: Vec::new(),
        loose: Vec::new(),
        ctx,
    };
    let pipes = p.parse_list(&[], false)?;
    if p.pos < p.b.len() {
        return Err(p.unexpected());
    }
    p.finish(&pipes)
}

impl<'a> Parser<'a> {
    // -- low level ---------------------------------------------------------

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<u8> {
        self.b.get(self.pos + n).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        self.b
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(s.as_bytes()))
    }

    fn slice(&self, start: usize, end: usize) -> &'a str {
        self.src.get(start..end).unwrap_or("")
    }

    fn syntax<T>(&self, message: impl Into<String>, at: usize) -> PResult<T> {
        Err(Fail::Syntax(ParseError::new(message, self.base + at)))
    }

    fn limit<T>(&self, message: impl Into<String>, at: usize) -> PResult<T> {
        Err(Fail::Limit(ParseError::new(message, self.base + at)))
    }

    fn enter(&mut self) -> PResult<()> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return self.limit(
                format!(
                    "the command line nests too deeply to check (the limit is {MAX_NESTING} levels)"
                ),
                self.pos,
            );
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting = self.nesting.saturating_sub(1);
    }

    fn unexpected(&self) -> Fail {
        let what = if self.starts_with(";;") {
            ";;".to_string()
        } else if let Some(w) = self.peek_plain_word() {
            w.to_string()
        } else {
            match self.src.get(self.pos..).and_then(|r| r.chars().next()) {
                Some(c) => c.to_string(),
                None => "end of input".to_string(),
            }
        };
        Fail::Syntax(ParseError::new(
            format!("syntax error near unexpected `{what}`"),
            self.base + self.pos,
        ))
    }

    /// Spaces, tabs, carriage returns and line continuations.
    fn skip_blanks(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r') => self.pos += 1,
                Some(b'\\') if self.peek_at(1) == Some(b'\n') => self.pos += 2,
                _ => break,
            }
        }
    }

    fn skip_comment(&mut self) {
        if self.peek() == Some(b'#') {
            while let Some(c) = self.peek() {
                if c == b'\n' {
                    break;
                }
                self.pos += 1;
            }
        }
    }

    fn skip_blanks_and_comment(&mut self) {
        self.skip_blanks();
        self.skip_comment();
    }

    /// Blanks, comments and newlines (reading pending here-documents).
    fn skip_space_and_newlines(&mut self) -> PResult<()> {
        loop {
            self.skip_blanks_and_comment();
            if self.peek() == Some(b'\n') {
                self.newline()?;
            } else {
                return Ok(());
            }
        }
    }

    /// The unquoted word at the cursor, if it is made of plain characters
    /// only (for reserved words).
    fn peek_plain_word(&self) -> Option<&'a str> {
        let mut i = self.pos;
        while let Some(&c) = self.b.get(i) {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'&' | b'|' | b'(' | b')' | b'<' | b'>' => {
                    break;
                }
                b'\'' | b'"' | b'\\' | b'$' | b'`' => return None,
                _ => i += 1,
            }
        }
        if i == self.pos {
            None
        } else {
            self.src.get(self.pos..i)
        }
    }

    fn expect_word(&mut self, word: &str, opened_at: usize, opener: &str) -> PResult<()> {
        if self.peek_plain_word() == Some(word) {
            self.pos += word.len();
            Ok(())
        } else if self.pos >= self.b.len() {
            self.syntax(format!("`{opener}` without `{word}`"), opened_at)
        } else {
            let e = self.unexpected().into_error();
            self.syntax(
                format!("{} (expected `{word}` to close `{opener}`)", e.message),
                self.pos,
            )
        }
    }

    fn expect_command_after(&mut self, op: &str) -> PResult<()> {
        let at = self.pos;
        self.skip_space_and_newlines()?;
        let missing = match self.peek() {
            None | Some(b')' | b';' | b'&' | b'|') => true,
            Some(_) => self.peek_plain_word().is_some_and(|w| CLOSERS.contains(&w)),
        };
        if missing {
            return self.syntax(format!("expected a command after `{op}`"), at);
        }
        Ok(())
    }

    fn newline(&mut self) -> PResult<()> {
        self.pos += 1;
        if self.pending.is_empty() {
            return Ok(());
        }
        for h in std::mem::take(&mut self.pending) {
            self.read_heredoc(h)?;
        }
        Ok(())
    }

    fn push_sub(&mut self, sub: Sub) {
        match self.collectors.last_mut() {
            Some(c) => c.push(sub),
            None => self.loose.push(sub),
        }
    }

    // -- lists, pipelines, commands ------------------------------------------

    /// Pipelines separated by `;`, `&`, `&&`, `||` and newlines, up to the
    /// end, a `)`, a reserved word of `terms`, or (in a case clause) `;;`.
    fn parse_list(&mut self, terms: &[&str], case_clause: bool) -> PResult<Vec<RawPipe>> {
        self.enter()?;
        let mut pipes = Vec::new();
        loop {
            self.skip_space_and_newlines()?;
            let Some(c) = self.peek() else { break };
            if c == b')' {
                break;
            }
            if c == b';' && matches!(self.peek_at(1), Some(b';' | b'&')) {
                if case_clause {
                    break;
                }
                return Err(self.unexpected());
            }
            if let Some(w) = self.peek_plain_word() {
                if terms.contains(&w) {
                    break;
                }
                if CLOSERS.contains(&w) {
                    return Err(self.unexpected());
                }
            }
            if matches!(c, b';' | b'&' | b'|') {
                return Err(self.unexpected());
            }
            pipes.push(self.parse_pipeline()?);
            self.skip_blanks_and_comment();
            match self.peek() {
                None | Some(b')') => break,
                Some(b'\n') => self.newline()?,
                Some(b';') => {
                    if matches!(self.peek_at(1), Some(b';' | b'&')) {
                        if case_clause {
                            break;
                        }
                        return Err(self.unexpected());
                    }
                    self.pos += 1;
                }
                Some(b'&') if self.peek_at(1) == Some(b'&') => {
                    self.pos += 2;
                    self.expect_command_after("&&")?;
                }
                Some(b'&') => self.pos += 1,
                Some(b'|') if self.peek_at(1) == Some(b'|') => {
                    self.pos += 2;
                    self.expect_command_after("||")?;
                }
                Some(_) => {
                    if self.peek_plain_word().is_some_and(|w| terms.contains(&w)) {
                        break;
                    }
                    return Err(self.unexpected());
                }
            }
        }
        self.leave();
        Ok(pipes)
    }

    fn parse_pipeline(&mut self) -> PResult<RawPipe> {
        let depth = self.depth;
        loop {
            self.skip_blanks();
            match self.peek_plain_word() {
                Some("!") => self.pos += 1,
                Some("time") if self.time_is_keyword() => {}
                _ => break,
            }
        }
        let mut elems = vec![self.parse_command()?];
        loop {
            self.skip_blanks_and_comment();
            if self.peek() == Some(b'|') && self.peek_at(1) != Some(b'|') {
                let op = if self.peek_at(1) == Some(b'&') {
                    self.pos += 2;
                    "|&"
                } else {
                    self.pos += 1;
                    "|"
                };
                self.expect_command_after(op)?;
                elems.push(self.parse_command()?);
            } else {
                break;
            }
        }
        Ok(RawPipe { elems, depth })
    }

    /// `time` before a compound command is bash's keyword (consumed here);
    /// before a simple command it is left to be a wrapper command.
    fn time_is_keyword(&mut self) -> bool {
        let save = self.pos;
        self.pos += 4;
        self.skip_blanks();
        if self.peek_plain_word() == Some("-p") {
            self.pos += 2;
            self.skip_blanks();
        }
        let keyword = self.peek() == Some(b'(')
            || matches!(
                self.peek_plain_word(),
                Some(
                    "{" | "if"
                        | "while"
                        | "until"
                        | "for"
                        | "select"
                        | "case"
                        | "[["
                        | "!"
                        | "function"
                )
            );
        if !keyword {
            self.pos = save;
        }
        keyword
    }

    fn parse_command(&mut self) -> PResult<Elem> {
        self.skip_blanks();
        let elem = if self.peek() == Some(b'(') {
            match self.try_arith_command()? {
                Some(elem) => elem,
                None => self.parse_subshell()?,
            }
        } else {
            match self.peek_plain_word() {
                Some("{") => self.parse_group()?,
                Some("if") => self.parse_if()?,
                Some(w @ ("while" | "until")) => self.parse_while(w.len())?,
                Some(w @ ("for" | "select")) => self.parse_for(w.len())?,
                Some("case") => self.parse_case()?,
                Some("function") => self.parse_function_keyword()?,
                Some("[[") => self.parse_cond()?,
                _ => self.parse_simple()?,
            }
        };
        Ok(elem)
    }

    /// Start a compound command: its header entry and substitution collector.
    fn compound_entry(&mut self) -> usize {
        let idx = self.arena.len();
        self.arena.push(RawCmd {
            start: self.pos,
            end: self.pos,
            ..RawCmd::default()
        });
        self.collectors.push(Vec::new());
        idx
    }

    /// Redirects after a command (`… > out 2>&1`), onto command `idx`.
    fn trailing_redirects(&mut self, idx: usize) -> PResult<()> {
        loop {
            self.skip_blanks();
            if !self.at_redirect() {
                return Ok(());
            }
            self.parse_redirect(idx)?;
        }
    }

    /// Finish a compound command: trailing redirects, collected substitutions.
    fn compound_exit(&mut self, idx: usize, body: Vec<RawPipe>) -> PResult<Elem> {
        self.trailing_redirects(idx)?;
        let subs = self.collectors.pop().unwrap_or_default();
        let end = self.pos;
        if let Some(cmd) = self.arena.get_mut(idx) {
            cmd.subs.extend(subs);
            cmd.end = end;
        }
        Ok(Elem::Compound(idx, body))
    }

    /// `(( arithmetic ))` as a command; `None` (nothing consumed) when the
    /// `((` opens nested subshells instead.
    fn try_arith_command(&mut self) -> PResult<Option<Elem>> {
        if self.peek_at(1) != Some(b'(') || !self.closes_as_arith(self.pos + 2) {
            return Ok(None);
        }
        let start = self.pos;
        let idx = self.compound_entry();
        self.pos += 2;
        if !self.scan_arith()? {
            return self.syntax("unbalanced `((`: missing `))`", start);
        }
        Ok(Some(self.compound_exit(idx, Vec::new())?))
    }

    /// Whether the text from `from` (just after a `((`) closes with `))`
    /// at its own level, making the `((` arithmetic rather than two
    /// parentheses. A textual look-ahead (quotes skipped), so that choosing
    /// never parses anything twice.
    fn closes_as_arith(&self, from: usize) -> bool {
        let mut depth = 0u32;
        let mut i = from;
        while let Some(&c) = self.b.get(i) {
            match c {
                b'(' => depth += 1,
                b')' => {
                    if depth == 0 {
                        return self.b.get(i + 1) == Some(&b')');
                    }
                    depth -= 1;
                }
                b'\\' => i += 1,
                b'\'' | b'"' => match self.b[i + 1..].iter().position(|&b| b == c) {
                    Some(j) => i += j + 1,
                    None => return false,
                },
                _ => {}
            }
            i += 1;
        }
        false
    }

    fn parse_subshell(&mut self) -> PResult<Elem> {
        let start = self.pos;
        let idx = self.compound_entry();
        self.pos += 1;
        let body = self.parse_list(&[], false)?;
        if self.peek() != Some(b')') {
            if self.pos >= self.b.len() {
                return self.syntax("unbalanced `(`: missing `)`", start);
            }
            return Err(self.unexpected());
        }
        self.pos += 1;
        self.compound_exit(idx, body)
    }

    fn parse_group(&mut self) -> PResult<Elem> {
        let start = self.pos;
        let idx = self.compound_entry();
        self.pos += 1;
        let body = self.parse_list(&["}"], false)?;
        self.expect_word("}", start, "{")?;
        self.compound_exit(idx, body)
    }

    fn parse_if(&mut self) -> PResult<Elem> {
        let start = self.pos;
        let idx = self.compound_entry();
        self.pos += 2;
        let mut body = Vec::new();
        loop {
            body.extend(self.parse_list(&["then"], false)?);
            self.expect_word("then", start, "if")?;
            body.extend(self.parse_list(&["elif", "else", "fi"], false)?);
            match self.peek_plain_word() {
                Some("elif") => self.pos += 4,
                Some("else") => {
                    self.pos += 4;
                    body.extend(self.parse_list(&["fi"], false)?);
                    self.expect_word("fi", start, "if")?;
                    break;
                }
                _ => {
                    self.expect_word("fi", start, "if")?;
                    break;
                }
            }
        }
        self.compound_exit(idx, body)
    }

    fn parse_while(&mut self, keyword_len: usize) -> PResult<Elem> {
        let start = self.pos;
        let opener = self.slice(start, start + keyword_len);
        let idx = self.compound_entry();
        self.pos += keyword_len;
        let mut body = self.parse_list(&["do"], false)?;
        self.expect_word("do", start, opener)?;
        body.extend(self.parse_list(&["done"], false)?);
        self.expect_word("done", start, opener)?;
        self.compound_exit(idx, body)
    }

    fn parse_for(&mut self, keyword_len: usize) -> PResult<Elem> {
        let start = self.pos;
        let opener = self.slice(start, start + keyword_len);
        let idx = self.compound_entry();
        self.pos += keyword_len;
        self.skip_blanks();
        if self.starts_with("((") {
            self.pos += 2;
            if !self.scan_arith()? {
                return self.syntax(format!("unbalanced `((` after `{opener}`"), start);
            }
        } else if self.read_word()?.is_none() {
            return self.syntax(format!("expected a name after `{opener}`"), self.pos);
        }
        self.skip_space_and_newlines()?;
        if self.peek_plain_word() == Some("in") {
            self.pos += 2;
            loop {
                self.skip_blanks_and_comment();
                match self.peek() {
                    None => break,
                    Some(b';') => {
                        self.pos += 1;
                        break;
                    }
                    Some(b'\n') => {
                        self.newline()?;
                        break;
                    }
                    Some(_) => {
                        if self.read_word()?.is_none() {
                            return Err(self.unexpected());
                        }
                    }
                }
            }
        } else if self.peek() == Some(b';') {
            self.pos += 1;
        }
        self.skip_space_and_newlines()?;
        let body = match self.peek_plain_word() {
            Some("do") => {
                self.pos += 2;
                let body = self.parse_list(&["done"], false)?;
                self.expect_word("done", start, opener)?;
                body
            }
            Some("{") => {
                let brace = self.pos;
                self.pos += 1;
                let body = self.parse_list(&["}"], false)?;
                self.expect_word("}", brace, "{")?;
                body
            }
            _ => {
                if self.pos >= self.b.len() {
                    return self.syntax(format!("`{opener}` without `do`"), start);
                }
                return Err(self.unexpected());
            }
        };
        self.compound_exit(idx, body)
    }

    fn parse_case(&mut self) -> PResult<Elem> {
        let start = self.pos;
        let idx = self.compound_entry();
        self.pos += 4;
        self.skip_blanks();
        if self.read_word()?.is_none() {
            return self.syntax("expected a word after `case`", self.pos);
        }
        self.skip_space_and_newlines()?;
        self.expect_word("in", start, "case")?;
        let mut body = Vec::new();
        loop {
            self.skip_space_and_newlines()?;
            if self.peek_plain_word() == Some("esac") {
                self.pos += 4;
                break;
            }
            if self.pos >= self.b.len() {
                return self.syntax("`case` without `esac`", start);
            }
            if self.peek() == Some(b'(') {
                self.pos += 1;
            }
            loop {
                self.skip_blanks();
                if self.read_word()?.is_none() {
                    return self.syntax("expected a pattern in `case`", self.pos);
                }
                self.skip_blanks();
                match self.peek() {
                    Some(b'|') => self.pos += 1,
                    Some(b')') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return self.syntax("expected `)` after a `case` pattern", self.pos),
                }
            }
            body.extend(self.parse_list(&["esac"], true)?);
            if self.starts_with(";;&") {
                self.pos += 3;
            } else if self.starts_with(";;") || self.starts_with(";&") {
                self.pos += 2;
            } else if self.peek_plain_word() != Some("esac") {
                if self.pos >= self.b.len() {
                    return self.syntax("`case` without `esac`", start);
                }
                return Err(self.unexpected());
            }
        }
        self.compound_exit(idx, body)
    }

    /// `function name [()] body`.
    fn parse_function_keyword(&mut self) -> PResult<Elem> {
        let idx = self.compound_entry();
        self.pos += "function".len();
        self.skip_blanks();
        if self.read_word()?.is_none() {
            return self.syntax("expected a name after `function`", self.pos);
        }
        self.skip_blanks();
        if self.peek() == Some(b'(') {
            self.pos += 1;
            self.skip_blanks();
            if self.peek() != Some(b')') {
                return self.syntax("expected `)` in a function definition", self.pos);
            }
            self.pos += 1;
        }
        self.function_body(idx)
    }

    /// The body of a function definition (the cursor is after `name()`).
    fn function_body(&mut self, idx: usize) -> PResult<Elem> {
        self.skip_space_and_newlines()?;
        let compound = matches!(self.peek(), Some(b'('))
            || matches!(
                self.peek_plain_word(),
                Some("{" | "if" | "while" | "until" | "for" | "select" | "case" | "[[")
            );
        if !compound {
            return self.syntax(
                "a function body must be a compound command such as `{ …; }`",
                self.pos,
            );
        }
        let depth = self.depth;
        let body = self.parse_command()?;
        self.compound_exit(
            idx,
            vec![RawPipe {
                elems: vec![body],
                depth,
            }],
        )
    }

    /// `[[ … ]]`: a simple command whose words are the test's tokens.
    fn parse_cond(&mut self) -> PResult<Elem> {
        let start = self.pos;
        let idx = self.arena.len();
        self.arena.push(RawCmd::default());
        self.collectors.push(Vec::new());
        let mut words = vec![RawWord {
            value: "[[".into(),
            start,
            end: start + 2,
            quoted: false,
        }];
        self.pos += 2;
        loop {
            self.skip_blanks();
            let at = self.pos;
            let Some(c) = self.peek() else {
                return self.syntax("`[[` without `]]`", start);
            };
            if c == b'\n' {
                self.newline()?;
                continue;
            }
            let literal = |len: usize, p: &Self| RawWord {
                value: p.slice(at, at + len).to_string(),
                start: at,
                end: at + len,
                quoted: false,
            };
            if self.peek_plain_word() == Some("]]") {
                words.push(literal(2, self));
                self.pos += 2;
                break;
            }
            if self.starts_with("&&") || self.starts_with("||") {
                words.push(literal(2, self));
                self.pos += 2;
                continue;
            }
            if matches!(c, b'(' | b')' | b'<' | b'>' | b';' | b'&' | b'|') {
                words.push(literal(1, self));
                self.pos += 1;
                continue;
            }
            match self.read_word()? {
                Some(w) => words.push(w),
                None => return Err(self.unexpected()),
            }
        }
        let end = self.pos;
        self.trailing_redirects(idx)?;
        let subs = self.collectors.pop().unwrap_or_default();
        if let Some(cmd) = self.arena.get_mut(idx) {
            cmd.words = words;
            cmd.subs.extend(subs);
            cmd.start = start;
            cmd.end = end.max(cmd.end);
        }
        Ok(Elem::Simple(idx))
    }

    fn parse_simple(&mut self) -> PResult<Elem> {
        let idx = self.arena.len();
        self.arena.push(RawCmd::default());
        self.collectors.push(Vec::new());
        let start = self.pos;
        let mut end = start;
        loop {
            self.skip_blanks();
            let Some(c) = self.peek() else { break };
            if c == b'#' {
                self.skip_comment();
                break;
            }
            if self.at_redirect() {
                self.parse_redirect(idx)?;
                end = self.pos;
                continue;
            }
            match c {
                b'\n' | b';' | b'&' | b'|' | b')' => break,
                b'(' => {
                    let is_name = self.arena.get(idx).is_some_and(|cmd| {
                        cmd.words.len() == 1
                            && cmd.assignments.is_empty()
                            && cmd.redirects.is_empty()
                    });
                    if is_name {
                        self.pos += 1;
                        self.skip_blanks();
                        if self.peek() != Some(b')') {
                            return self.syntax("expected `)` in a function definition", self.pos);
                        }
                        self.pos += 1;
                        if let Some(cmd) = self.arena.get_mut(idx) {
                            cmd.words.clear();
                        }
                        return self.function_body(idx);
                    }
                    return Err(self.unexpected());
                }
                _ => {}
            }
            let Some(mut word) = self.read_word()? else {
                return Err(self.unexpected());
            };
            end = self.pos;
            let no_words = self.arena.get(idx).is_some_and(|cmd| cmd.words.is_empty());
            let raw = self.slice(word.start, word.end);
            if no_words && !raw.starts_with('=') && is_assignment(raw) {
                if raw.ends_with('=') && self.peek() == Some(b'(') {
                    word.value.push_str(&self.read_array()?);
                    end = self.pos;
                }
                if let Some(cmd) = self.arena.get_mut(idx) {
                    cmd.assignments.push(word.value);
                }
            } else if let Some(cmd) = self.arena.get_mut(idx) {
                cmd.words.push(word);
            }
        }
        let subs = self.collectors.pop().unwrap_or_default();
        let empty = match self.arena.get_mut(idx) {
            Some(cmd) => {
                cmd.subs.extend(subs);
                cmd.start = start;
                cmd.end = end;
                cmd.words.is_empty() && cmd.assignments.is_empty() && cmd.redirects.is_empty()
            }
            None => true,
        };
        if empty {
            return Err(self.unexpected());
        }
        Ok(Elem::Simple(idx))
    }

    /// The `(a b c)` of an array assignment, as `(a b c)` with quotes
    /// removed.
    fn read_array(&mut self) -> PResult<String> {
        let start = self.pos;
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_space_and_newlines()?;
            match self.peek() {
                None => return self.syntax("unbalanced `(` in an array assignment", start),
                Some(b')') => {
                    self.pos += 1;
                    break;
                }
                Some(_) => match self.read_word()? {
                    Some(w) => items.push(w.value),
                    None => return Err(self.unexpected()),
                },
            }
        }
        Ok(format!("({})", items.join(" ")))
    }

    // -- redirects and here-documents ---------------------------------------

    fn at_redirect(&self) -> bool {
        let mut i = self.pos;
        while self.b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        match self.b.get(i) {
            Some(b'<' | b'>') => self.b.get(i + 1) != Some(&b'('),
            Some(b'&') if i == self.pos => self.b.get(i + 1) == Some(&b'>'),
            _ => false,
        }
    }

    fn parse_redirect(&mut self, idx: usize) -> PResult<()> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let op = match (self.peek(), self.peek_at(1), self.peek_at(2)) {
            (Some(b'<'), Some(b'<'), Some(b'<')) => "<<<",
            (Some(b'<'), Some(b'<'), Some(b'-')) => "<<-",
            (Some(b'<'), Some(b'<'), _) => "<<",
            (Some(b'<'), Some(b'&'), _) => "<&",
            (Some(b'<'), Some(b'>'), _) => "<>",
            (Some(b'<'), _, _) => "<",
            (Some(b'>'), Some(b'>'), _) => ">>",
            (Some(b'>'), Some(b'|'), _) => ">|",
            (Some(b'>'), Some(b'&'), _) => ">&",
            (Some(b'>'), _, _) => ">",
            (Some(b'&'), Some(b'>'), Some(b'>')) => "&>>",
            (Some(b'&'), Some(b'>'), _) => "&>",
            _ => return Err(self.unexpected()),
        };
        self.pos += op.len();
        let op_text = self.slice(start, self.pos).to_string();
        self.skip_blanks();
        let Some(target) = self.read_word()? else {
            return self.syntax(format!("`{op_text}` without a target"), start);
        };
        let Some(cmd) = self.arena.get_mut(idx) else {
            return Ok(());
        };
        if op == "<<" || op == "<<-" {
            self.pending.push(Pending {
                cmd: idx,
                redir: cmd.redirects.len(),
                delim: target.value.clone(),
                strip_tabs: op == "<<-",
                expand: !target.quoted,
                depth: self.depth,
            });
        }
        cmd.redirects.push(RawRedir {
            op: op_text,
            target: target.value,
            body: None,
        });
        Ok(())
    }

    /// Read a here-document's body (the cursor is at the start of the line
    /// after its operator).
    fn read_heredoc(&mut self, h: Pending) -> PResult<()> {
        let mut body = String::new();
        while self.pos < self.b.len() {
            let line_end = self.b[self.pos..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(self.b.len(), |i| self.pos + i);
            let line = self.slice(self.pos, line_end);
            let line = if h.strip_tabs {
                line.trim_start_matches('\t')
            } else {
                line
            };
            self.pos = (line_end + 1).min(self.b.len());
            if line == h.delim || line.strip_suffix('\r') == Some(h.delim.as_str()) {
                break;
            }
            body.push_str(line);
            body.push('\n');
        }
        let mut subs = None;
        if h.expand && (body.contains('$') || body.contains('`')) {
            match heredoc_subs(&body, h.depth, self.nesting, self.base, self.ctx) {
                Ok(pipes) => subs = Some(pipes),
                Err(Fail::Syntax(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(cmd) = self.arena.get_mut(h.cmd) {
            if let Some(r) = cmd.redirects.get_mut(h.redir) {
                r.body = Some(body);
            }
            if let Some(pipes) = subs {
                cmd.subs.push(Sub::Done(pipes));
            }
        }
        Ok(())
    }

    // -- words ----------------------------------------------------------------

    /// One word at the cursor (quotes removed; substitutions parsed and
    /// kept as written); `None` when the cursor is at an operator or the end.
    fn read_word(&mut self) -> PResult<Option<RawWord>> {
        let start = self.pos;
        let mut val: Vec<u8> = Vec::new();
        let mut quoted = false;
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'&' | b'|' | b')' => break,
                b'<' | b'>' => {
                    if self.peek_at(1) == Some(b'(') {
                        let text = self.parse_substitution(2)?;
                        val.extend_from_slice(text.as_bytes());
                    } else {
                        break;
                    }
                }
                b'(' => {
                    let extglob = self.pos > start
                        && matches!(self.b[self.pos - 1], b'@' | b'!' | b'+' | b'*' | b'?');
                    if !extglob {
                        break;
                    }
                    let text = self.read_extglob()?;
                    val.extend_from_slice(text.as_bytes());
                }
                b'\\' => match self.peek_at(1) {
                    Some(b'\n') => self.pos += 2,
                    Some(n) => {
                        val.push(n);
                        self.pos += 2;
                        quoted = true;
                    }
                    None => {
                        val.push(b'\\');
                        self.pos += 1;
                    }
                },
                b'\'' => {
                    let open = self.pos;
                    self.pos += 1;
                    match self.b[self.pos..].iter().position(|&b| b == b'\'') {
                        Some(i) => {
                            val.extend_from_slice(&self.b[self.pos..self.pos + i]);
                            self.pos += i + 1;
                        }
                        None => return self.syntax("unterminated single quote", open),
                    }
                    quoted = true;
                }
                b'"' => {
                    self.read_dquote(&mut val)?;
                    quoted = true;
                }
                b'$' => {
                    if self.read_dollar(&mut val, false)? {
                        quoted = true;
                    }
                }
                b'`' => {
                    let text = self.parse_backtick()?;
                    val.extend_from_slice(text.as_bytes());
                }
                _ => {
                    val.push(c);
                    self.pos += 1;
                }
            }
        }
        if self.pos == start {
            return Ok(None);
        }
        Ok(Some(RawWord {
            value: String::from_utf8_lossy(&val).into_owned(),
            start,
            end: self.pos,
            quoted,
        }))
    }

    /// An extglob group `(…)` after `@ ! + * ?`, kept as written.
    fn read_extglob(&mut self) -> PResult<&'a str> {
        let start = self.pos;
        let mut depth = 0u32;
        while let Some(c) = self.peek() {
            match c {
                b'(' => depth += 1,
                b')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        self.pos += 1;
                        return Ok(self.slice(start, self.pos));
                    }
                }
                b'\\' => self.pos += 1,
                b'\n' => break,
                _ => {}
            }
            self.pos += 1;
        }
        self.syntax("unbalanced `(` in a pattern", start)
    }

    /// A double-quoted string (the cursor is at its `"`); its value is
    /// appended to `val`.
    fn read_dquote(&mut self, val: &mut Vec<u8>) -> PResult<()> {
        let open = self.pos;
        self.pos += 1;
        loop {
            let Some(c) = self.peek() else {
                return self.syntax("unterminated double quote", open);
            };
            match c {
                b'"' => {
                    self.pos += 1;
                    return Ok(());
                }
                b'\\' => match self.peek_at(1) {
                    Some(b'\n') => self.pos += 2,
                    Some(n @ (b'$' | b'`' | b'"' | b'\\')) => {
                        val.push(n);
                        self.pos += 2;
                    }
                    _ => {
                        val.push(b'\\');
                        self.pos += 1;
                    }
                },
                b'$' => {
                    self.read_dollar(val, true)?;
                }
                b'`' => {
                    let text = self.parse_backtick()?;
                    val.extend_from_slice(text.as_bytes());
                }
                _ => {
                    val.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// A `$` construct (the cursor is at the `$`): `$'…'`, `$"…"`, `$(…)`,
    /// `$((…))`, `${…}` or a plain `$`. Returns whether it quoted.
    fn read_dollar(&mut self, val: &mut Vec<u8>, in_dquote: bool) -> PResult<bool> {
        match self.peek_at(1) {
            Some(b'\'') if !in_dquote => {
                self.pos += 1;
                self.read_ansi_c(val)?;
                Ok(true)
            }
            Some(b'"') if !in_dquote => {
                self.pos += 1;
                self.read_dquote(val)?;
                Ok(true)
            }
            Some(b'(') => {
                let text = if self.peek_at(2) == Some(b'(') {
                    self.parse_arith_or_subst()?
                } else {
                    self.parse_substitution(2)?
                };
                val.extend_from_slice(text.as_bytes());
                Ok(false)
            }
            Some(b'{') => {
                let text = self.parse_param(in_dquote)?;
                val.extend_from_slice(text.as_bytes());
                Ok(false)
            }
            _ => {
                val.push(b'$');
                self.pos += 1;
                Ok(false)
            }
        }
    }

    /// `'…'` after `$`, with C escapes decoded (the cursor is at the `'`).
    fn read_ansi_c(&mut self, val: &mut Vec<u8>) -> PResult<()> {
        let open = self.pos;
        self.pos += 1;
        loop {
            let Some(c) = self.peek() else {
                return self.syntax("unterminated `$'` string", open);
            };
            self.pos += 1;
            match c {
                b'\'' => return Ok(()),
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return self.syntax("unterminated `$'` string", open);
                    };
                    self.pos += 1;
                    match e {
                        b'a' => val.push(7),
                        b'b' => val.push(8),
                        b'e' | b'E' => val.push(27),
                        b'f' => val.push(12),
                        b'n' => val.push(b'\n'),
                        b'r' => val.push(b'\r'),
                        b't' => val.push(b'\t'),
                        b'v' => val.push(11),
                        b'\\' | b'\'' | b'"' | b'?' => val.push(e),
                        b'0'..=b'7' => {
                            let mut n = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        n = n * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            val.push((n & 0xff) as u8);
                        }
                        b'x' => match self.hex_digits(2) {
                            Some(n) => val.push((n & 0xff) as u8),
                            None => val.extend_from_slice(b"\\x"),
                        },
                        b'u' | b'U' => {
                            let max = if e == b'u' { 4 } else { 8 };
                            match self.hex_digits(max).and_then(char::from_u32) {
                                Some(ch) => {
                                    let mut buf = [0u8; 4];
                                    val.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                                }
                                None => {
                                    val.push(b'\\');
                                    val.push(e);
                                }
                            }
                        }
                        b'c' => match self.peek() {
                            Some(x) => {
                                self.pos += 1;
                                val.push(x & 0x1f);
                            }
                            None => return self.syntax("unterminated `$'` string", open),
                        },
                        other => {
                            val.push(b'\\');
                            val.push(other);
                        }
                    }
                }
                _ => val.push(c),
            }
        }
    }

    fn hex_digits(&mut self, max: usize) -> Option<u32> {
        let mut n: u32 = 0;
        let mut count = 0;
        while count < max {
            let Some(d) = self.peek().and_then(|c| (c as char).to_digit(16)) else {
                break;
            };
            n = n * 16 + d;
            self.pos += 1;
            count += 1;
        }
        (count > 0).then_some(n)
    }

    /// `$(…)`, `<(…)` or `>(…)` (the cursor is at its first character;
    /// `prefix` is 2): the commands inside are parsed one level deeper.
    /// Returns the construct's source text.
    fn parse_substitution(&mut self, prefix: usize) -> PResult<&'a str> {
        let start = self.pos;
        let opener = self.slice(start, start + prefix);
        if self.depth + 1 > MAX_DEPTH {
            return self.limit(
                format!("commands nest too deeply to check (the limit is {MAX_DEPTH} levels)"),
                start,
            );
        }
        self.pos += prefix;
        self.depth += 1;
        let pipes = self.parse_list(&[], false)?;
        if self.peek() != Some(b')') {
            if self.pos >= self.b.len() {
                return self.syntax(format!("unbalanced `{opener}`: missing `)`"), start);
            }
            return Err(self.unexpected());
        }
        self.pos += 1;
        self.depth -= 1;
        self.push_sub(Sub::Here(pipes));
        Ok(self.slice(start, self.pos))
    }

    /// `$((…))` (the cursor is at the `$`): arithmetic, or a command
    /// substitution starting with a subshell.
    fn parse_arith_or_subst(&mut self) -> PResult<&'a str> {
        if !self.closes_as_arith(self.pos + 3) {
            return self.parse_substitution(2);
        }
        let start = self.pos;
        self.pos += 3;
        if !self.scan_arith()? {
            return self.syntax("unbalanced `$((`: missing `))`", start);
        }
        Ok(self.slice(start, self.pos))
    }

    /// Arithmetic text up to its closing `))` (the cursor is after the
    /// opening `((`). Substitutions inside are parsed. `false` when there
    /// is no matching `))`.
    fn scan_arith(&mut self) -> PResult<bool> {
        self.enter()?;
        let mut depth = 0u32;
        let found = loop {
            let Some(c) = self.peek() else { break false };
            match c {
                b'(' => {
                    depth += 1;
                    self.pos += 1;
                }
                b')' => {
                    if depth == 0 {
                        if self.peek_at(1) == Some(b')') {
                            self.pos += 2;
                            break true;
                        }
                        break false;
                    }
                    depth -= 1;
                    self.pos += 1;
                }
                b'$' => {
                    let mut sink = Vec::new();
                    self.read_dollar(&mut sink, true)?;
                }
                b'`' => {
                    self.parse_backtick()?;
                }
                b'\\' => self.pos += 2,
                b'\'' => match self.b[self.pos + 1..].iter().position(|&b| b == b'\'') {
                    Some(i) => self.pos += i + 2,
                    None => break false,
                },
                b'"' => {
                    let mut sink = Vec::new();
                    self.read_dquote(&mut sink)?;
                }
                _ => self.pos += 1,
            }
        };
        self.pos = self.pos.min(self.b.len());
        self.leave();
        Ok(found)
    }

    /// `${…}` (the cursor is at the `$`), kept as written; substitutions
    /// inside are parsed.
    fn parse_param(&mut self, in_dquote: bool) -> PResult<&'a str> {
        let start = self.pos;
        self.enter()?;
        self.pos += 2;
        loop {
            let Some(c) = self.peek() else {
                return self.syntax("unbalanced `${`: missing `}`", start);
            };
            match c {
                b'}' => {
                    self.pos += 1;
                    break;
                }
                b'\\' => self.pos = (self.pos + 2).min(self.b.len()),
                b'\'' if !in_dquote => {
                    match self.b[self.pos + 1..].iter().position(|&b| b == b'\'') {
                        Some(i) => self.pos += i + 2,
                        None => return self.syntax("unterminated single quote", self.pos),
                    }
                }
                b'"' => {
                    let mut sink = Vec::new();
                    self.read_dquote(&mut sink)?;
                }
                b'$' => {
                    let mut sink = Vec::new();
                    self.read_dollar(&mut sink, in_dquote)?;
                }
                b'`' => {
                    self.parse_backtick()?;
                }
                _ => self.pos += 1,
            }
        }
        self.leave();
        Ok(self.slice(start, self.pos))
    }

    /// `` `…` `` (the cursor is at the opening backquote): its text, with
    /// backslash escapes undone, is parsed one level deeper. Returns the
    /// source text.
    fn parse_backtick(&mut self) -> PResult<&'a str> {
        let start = self.pos;
        self.pos += 1;
        let mut inner = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return self.syntax("unterminated backquote", start);
            };
            match c {
                b'`' => {
                    self.pos += 1;
                    break;
                }
                b'\\' => match self.peek_at(1) {
                    Some(n @ (b'`' | b'\\' | b'$')) => {
                        inner.push(n);
                        self.pos += 2;
                    }
                    Some(b'\n') => self.pos += 2,
                    _ => {
                        inner.push(b'\\');
                        self.pos += 1;
                    }
                },
                _ => {
                    inner.push(c);
                    self.pos += 1;
                }
            }
        }
        if self.depth + 1 > MAX_DEPTH {
            return self.limit(
                format!("commands nest too deeply to check (the limit is {MAX_DEPTH} levels)"),
                start,
            );
        }
        let inner = String::from_utf8_lossy(&inner);
        let pipes = parse_source(
            &inner,
            self.depth + 1,
            self.nesting + 1,
            self.base + start + 1,
            self.ctx,
        )?;
        self.push_sub(Sub::Done(pipes));
        Ok(self.slice(start, self.pos))
    }

    // -- flattening -------------------------------------------------------------

    fn finish(&mut self, pipes: &[RawPipe]) -> PResult<Vec<Pipeline>> {
        let mut out = Vec::new();
        self.flatten_list(pipes, &[], &mut out)?;
        for sub in &self.loose {
            self.flatten_sub(sub, &mut out)?;
        }
        Ok(out)
    }

    fn flatten_list(
        &self,
        pipes: &[RawPipe],
        inherited: &[Redirect],
        out: &mut Vec<Pipeline>,
    ) -> PResult<()> {
        for pipe in pipes {
            self.flatten_pipe(pipe, inherited, out)?;
        }
        Ok(())
    }

    fn flatten_sub(&self, sub: &Sub, out: &mut Vec<Pipeline>) -> PResult<()> {
        match sub {
            Sub::Here(pipes) => self.flatten_list(pipes, &[], out),
            Sub::Done(pipes) => {
                out.extend(pipes.iter().cloned());
                Ok(())
            }
        }
    }

    fn flatten_pipe(
        &self,
        pipe: &RawPipe,
        inherited: &[Redirect],
        out: &mut Vec<Pipeline>,
    ) -> PResult<()> {
        if let [Elem::Compound(idx, body)] = pipe.elems.as_slice() {
            let Some(header) = self.arena.get(*idx) else {
                return Ok(());
            };
            let mut redirects = inherited.to_vec();
            redirects.extend(header.redirects.iter().map(RawRedir::public));
            for sub in &header.subs {
                self.flatten_sub(sub, out)?;
            }
            return self.flatten_list(body, &redirects, out);
        }
        let mut members = Vec::new();
        let mut headers = Vec::new();
        for elem in &pipe.elems {
            self.collect(elem, inherited, &mut members, &mut headers);
        }
        let mut commands = Vec::with_capacity(members.len());
        for (idx, redirects) in &members {
            if let Some(raw) = self.arena.get(*idx) {
                self.ctx.count(self.base + raw.start)?;
                commands.push((raw, self.build(raw, redirects, pipe.depth)));
            }
        }
        if !commands.is_empty() {
            out.push(Pipeline {
                commands: commands.iter().map(|(_, c)| c.clone()).collect(),
                depth: pipe.depth,
            });
        }
        // Text known to flow down the pipeline: here-documents and
        // here-strings, passed on by `cat` and `tee` (`cat <<EOF | sh`).
        let mut piped: Vec<String> = Vec::new();
        for (raw, cmd) in commands {
            for sub in &raw.subs {
                self.flatten_sub(sub, out)?;
            }
            let own: Vec<String> = raw
                .redirects
                .iter()
                .filter_map(|r| {
                    if r.op.ends_with("<<<") {
                        Some(format!("{}\n", r.target))
                    } else {
                        r.body.clone()
                    }
                })
                .collect();
            let stdin = if own.is_empty() { piped } else { own };
            let passes_on = match cmd.program() {
                Some("cat") => cmd.args().iter().all(|a| a.starts_with('-')),
                Some("tee") => true,
                _ => false,
            };
            piped = if passes_on { stdin.clone() } else { Vec::new() };
            let e = Expandable {
                spans: raw.words.iter().map(|w| (w.start, w.end)).collect(),
                end: raw.end,
                src: self.src,
                stdin,
                base: self.base,
                cmd,
            };
            expand(&e, out, self.ctx)?;
        }
        for idx in headers {
            if let Some(header) = self.arena.get(idx) {
                for sub in &header.subs {
                    self.flatten_sub(sub, out)?;
                }
            }
        }
        Ok(())
    }

    /// The simple commands of one pipeline stage (all of a compound's), with
    /// the redirects they inherit; compound headers go to `headers`.
    fn collect(
        &self,
        elem: &Elem,
        inherited: &[Redirect],
        members: &mut Vec<(usize, Vec<Redirect>)>,
        headers: &mut Vec<usize>,
    ) {
        match elem {
            Elem::Simple(idx) => members.push((*idx, inherited.to_vec())),
            Elem::Compound(idx, body) => {
                headers.push(*idx);
                let mut redirects = inherited.to_vec();
                if let Some(header) = self.arena.get(*idx) {
                    redirects.extend(header.redirects.iter().map(RawRedir::public));
                }
                for pipe in body {
                    for e in &pipe.elems {
                        self.collect(e, &redirects, members, headers);
                    }
                }
            }
        }
    }

    fn build(&self, raw: &RawCmd, inherited: &[Redirect], depth: u32) -> Command {
        let mut redirects: Vec<Redirect> = raw.redirects.iter().map(RawRedir::public).collect();
        redirects.extend(inherited.iter().cloned());
        Command {
            words: raw.words.iter().map(|w| w.value.clone()).collect(),
            assignments: raw.assignments.clone(),
            redirects,
            text: self.slice(raw.start, raw.end).trim().to_string(),
            depth,
        }
    }
}

/// Substitutions in an unquoted here-document's body (as in double quotes,
/// without a closing quote).
fn heredoc_subs(
    body: &str,
    depth: u32,
    nesting: u32,
    base: usize,
    ctx: &Ctx,
) -> PResult<Vec<Pipeline>> {
    let mut p = Parser {
        src: body,
        b: body.as_bytes(),
        pos: 0,
        depth,
        nesting,
        base,
        arena: Vec::new(),
        pending: Vec::new(),
        collectors: vec![Vec::new()],
        loose: Vec::new(),
        ctx,
    };
    while let Some(c) = p.peek() {
        match c {
            b'\\' => p.pos = (p.pos + 2).min(p.b.len()),
            b'$' => {
                let mut sink = Vec::new();
                p.read_dollar(&mut sink, true)?;
            }
            b'`' => {
                p.parse_backtick()?;
            }
            _ => p.pos += 1,
        }
    }
    let subs = p.collectors.pop().unwrap_or_default();
    let mut out = Vec::new();
    for sub in &subs {
        p.flatten_sub(sub, &mut out)?;
    }
    Ok(out)
}

/// Append the pipelines of a code string run one level deeper; a string
/// that does not parse adds nothing (the outer command stays listed).
fn nested_code(
    code: &str,
    depth: u32,
    at: usize,
    out: &mut Vec<Pipeline>,
    ctx: &Ctx,
) -> PResult<()> {
    match parse_source(code, depth, 0, at, ctx) {
        Ok(pipes) => {
            out.extend(pipes);
            Ok(())
        }
        Err(Fail::Syntax(_)) => Ok(()),
        Err(limit) => Err(limit),
    }
}

/// A command with what [`expand`] needs to derive the commands it runs.
struct Expandable<'s> {
    cmd: Command,
    /// Source spans of `cmd.words`.
    spans: Vec<(usize, usize)>,
    /// End of the command's source text.
    end: usize,
    src: &'s str,
    /// Text fed to its standard input (here-documents, here-strings).
    stdin: Vec<String>,
    base: usize,
}

/// Append the pipelines of what `e` runs: code strings, wrapped commands,
/// `find -exec` commands, here-documents fed to a shell.
fn expand(e: &Expandable<'_>, out: &mut Vec<Pipeline>, ctx: &Ctx) -> PResult<()> {
    let depth = e.cmd.depth + 1;
    let at = e.base + e.spans.first().map_or(0, |s| s.0);
    let too_deep = || {
        Err(Fail::Limit(ParseError::new(
            format!("commands nest too deeply to check (the limit is {MAX_DEPTH} levels)"),
            at,
        )))
    };
    let runs = what_it_runs(&e.cmd.words);
    if matches!(runs, Runs::Nothing) || (matches!(runs, Runs::Stdin) && e.stdin.is_empty()) {
        return Ok(());
    }
    if depth > MAX_DEPTH {
        return too_deep();
    }
    match runs {
        Runs::Nothing => Ok(()),
        Runs::Code(code) => nested_code(&code, depth, at, out, ctx),
        Runs::Stdin => {
            for text in &e.stdin {
                nested_code(text, depth, at, out, ctx)?;
            }
            Ok(())
        }
        Runs::Wrapped {
            at: first,
            assignments,
        } => {
            let (Some(words), Some(spans)) = (e.cmd.words.get(first..), e.spans.get(first..))
            else {
                return Ok(());
            };
            let Some(&(start, _)) = spans.first() else {
                return Ok(());
            };
            let cmd = Command {
                words: words.to_vec(),
                assignments,
                redirects: e.cmd.redirects.clone(),
                text: e.src.get(start..e.end).unwrap_or("").trim().to_string(),
                depth,
            };
            ctx.count(e.base + start)?;
            out.push(Pipeline {
                commands: vec![cmd.clone()],
                depth,
            });
            let inner = Expandable {
                cmd,
                spans: spans.to_vec(),
                end: e.end,
                src: e.src,
                stdin: e.stdin.clone(),
                base: e.base,
            };
            expand(&inner, out, ctx)
        }
        Runs::Ranges(ranges) => {
            for (a, b) in ranges {
                let (Some(words), Some(spans)) = (e.cmd.words.get(a..b), e.spans.get(a..b)) else {
                    continue;
                };
                let (Some(first), Some(last)) = (spans.first(), spans.last()) else {
                    continue;
                };
                let cmd = Command {
                    words: words.to_vec(),
                    assignments: Vec::new(),
                    redirects: Vec::new(),
                    text: e.src.get(first.0..last.1).unwrap_or("").trim().to_string(),
                    depth,
                };
                ctx.count(e.base + first.0)?;
                out.push(Pipeline {
                    commands: vec![cmd.clone()],
                    depth,
                });
                let inner = Expandable {
                    cmd,
                    spans: spans.to_vec(),
                    end: last.1,
                    src: e.src,
                    stdin: Vec::new(),
                    base: e.base,
                };
                expand(&inner, out, ctx)?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
