//! Rules for code handed to an interpreter — `python -c`, `perl -e`,
//! `ruby -e`, `node -e`/`-p`, `php -r`, a here-document or pipe into one, a
//! script written and run in the same command line. The code is tokenized
//! ([`lex`]), string values are followed through simple assignments,
//! concatenations and path joins, and each call is matched against what it
//! does in that language:
//!
//! - **shell commands** (`os.system`, `subprocess.*`, Perl/Ruby/PHP
//!   `system`/`exec`/backquotes/`qx`/`%x`, `child_process.*`, `shell_exec`…):
//!   the command — a string, or an argument list — is judged by the shell
//!   rules;
//! - **recursive deletes** (`shutil.rmtree`, `FileUtils.rm_rf`,
//!   `File::Path::rmtree`/`remove_tree`, `fs.rmSync(…, {recursive: true})`):
//!   critical on `/`, home or a system directory, as `rm -rf`;
//! - **writes** (`open(p, 'w')`, `Path.write_text`, `fs.writeFileSync`,
//!   `File.write`, Perl `open(F, '>', p)`, `file_put_contents`, deletes,
//!   copies, renames…): denied under `/etc` and `/usr`, critical onto disks;
//! - **download and execute**: a network read (`urllib`, `requests`,
//!   `fetch`, `LWP`, `Net::HTTP`, a URL literal…) and code run from a value
//!   not known here (`exec`, `eval`, `Function`, a shell command) — high;
//! - **secret exfiltration**: reading a secret file (`~/.ssh`, `~/.aws`,
//!   `.env`…) or secret environment variables (the whole environment, or
//!   names with TOKEN, SECRET, PASSWORD, KEY…) and a network call — high;
//!   a secret file read alone asks (medium), as `cat ~/.ssh/id_rsa` does.
//!
//! Code passed to `exec`/`eval` as a literal is judged as code of the same
//! language; decoded text (`base64.b64decode`, `bytes.fromhex`, `atob`,
//! `Base64.decode64`, `base64_decode`…) run as code or as a command is high,
//! and is judged too when the encoded text is a literal. Modules under other
//! names are followed (`import os as o`, `from shutil import rmtree`,
//! `__import__('os')`, `const cp = require('child_process')`). It is a
//! reading, not an interpreter: names bound at run time and code built by
//! loops stay unknown.

pub mod lex;

use paddock_sdk::assessor::{Action, Assessment, Level};

use crate::paths::{self, Reach};
use crate::show;
use lex::{Kind, Tok};

/// A language whose code the rules read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Python,
    Perl,
    Ruby,
    JavaScript,
    Php,
}

impl Lang {
    /// Every language.
    pub const ALL: [Lang; 5] = [
        Lang::Python,
        Lang::Perl,
        Lang::Ruby,
        Lang::JavaScript,
        Lang::Php,
    ];

    /// The language of an interpreter program (a basename): `python3.12`,
    /// `perl`, `ruby`, `node`, `nodejs`, `deno`, `bun`, `php`.
    pub fn of_program(prog: &str) -> Option<Lang> {
        let python = prog
            .strip_prefix("python")
            .or_else(|| prog.strip_prefix("pypy"))
            .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'));
        Some(match prog {
            _ if python => Lang::Python,
            "perl" | "perl5" => Lang::Perl,
            "ruby" | "jruby" => Lang::Ruby,
            "node" | "nodejs" | "deno" | "bun" => Lang::JavaScript,
            "php" | "php-cli" => Lang::Php,
            p if p.starts_with("php") && p[3..].chars().all(|c| c.is_ascii_digit() || c == '.') => {
                Lang::Php
            }
            _ => return None,
        })
    }

    /// The language a `#!` line names (`#!/usr/bin/env python3`).
    pub fn of_shebang(line: &str) -> Option<Lang> {
        let rest = line.strip_prefix("#!")?;
        let mut words = rest.split_whitespace();
        let first = words.next()?;
        let prog = first.rsplit('/').next().unwrap_or(first);
        let prog = if prog == "env" {
            words.find(|w| !w.starts_with('-'))?
        } else {
            prog
        };
        Lang::of_program(prog)
    }

    /// The language a file name's extension says.
    pub fn of_path(path: &str) -> Option<Lang> {
        let ext = path.rsplit_once('.')?.1;
        Some(match ext {
            "py" => Lang::Python,
            "pl" | "pm" => Lang::Perl,
            "rb" => Lang::Ruby,
            "js" | "mjs" | "cjs" | "ts" => Lang::JavaScript,
            "php" => Lang::Php,
            _ => return None,
        })
    }
}

/// The most tokens read in one piece of code, and the deepest bracket
/// nesting; beyond them the code asks (medium) unread.
const MAX_TOKENS: usize = 200_000;
const MAX_NESTING: usize = 100;

/// The most variables remembered (the oldest are forgotten), and the
/// longest string built from others.
const MAX_VARS: usize = 256;
const MAX_STRING: usize = 64 * 1024;

/// The most bytes of values (strings, lists) built for one piece of code;
/// past it, values stay unknown.
const MAX_BUILT: usize = 1 << 20;

/// For each token that opens a bracket, the index of the token that closes
/// it (unclosed: the end); `None` past [`MAX_TOKENS`] or [`MAX_NESTING`].
fn brackets(toks: &[Tok]) -> Option<Vec<usize>> {
    if toks.len() > MAX_TOKENS {
        return None;
    }
    let mut closers = vec![toks.len(); toks.len()];
    let mut open: Vec<usize> = Vec::new();
    for (k, t) in toks.iter().enumerate() {
        match t.kind {
            Kind::Punct('(' | '[' | '{') => {
                open.push(k);
                if open.len() > MAX_NESTING {
                    return None;
                }
            }
            Kind::Punct(')' | ']' | '}') => {
                if let Some(o) = open.pop() {
                    closers[o] = k;
                }
            }
            _ => {}
        }
    }
    Some(closers)
}

/// How many levels of code inside code (`exec('…')`, `os.system('python
/// -c …')`) are read.
const MAX_DEPTH: u32 = 4;

/// The shell rules, as code reads them: the verdict on a command line
/// `depth` levels down, run in a directory (`None`: the workspace). Passed
/// in by the shell rules, which call this module in turn.
pub type ShellRules = fn(&str, u32, Option<&str>) -> Assessment;

/// The verdict on `code` in `lang`, or `None` when it does nothing the
/// rules see as risky. `label` says where the code came from (`python -c`,
/// `the script x.py written and run here`); `cwd` is where relative paths
/// are resolved (`None`: the workspace); `depth` counts the levels of
/// nested code already read; shell commands in the code go to `shell`.
pub fn assess(
    lang: Lang,
    code: &str,
    label: &str,
    cwd: Option<&str>,
    depth: u32,
    shell: ShellRules,
) -> Option<Assessment> {
    if depth >= MAX_DEPTH {
        return None;
    }
    let toks = lex::tokens(code, lang);
    let Some(closers) = brackets(&toks) else {
        return Some(Assessment::ask(
            Level::Medium,
            format!("{label}: the code is too long or nested too deeply to be checked"),
        ));
    };
    let mut a = Analyzer {
        lang,
        src: code,
        toks,
        closers,
        built: std::cell::Cell::new(0),
        shell,
        vars: Vec::new(),
        aliases: Vec::new(),
        cwd,
        depth,
        child_process: code.contains("child_process"),
        subprocess: code.contains("subprocess") || code.contains("from os import"),
        worst: None,
        network: None,
        dynamic: None,
        secret_file: None,
        secret_env: None,
    };
    a.run();
    let mut worst = a.worst.take();
    let mut add = |x: Assessment| {
        worst = Some(match worst.take() {
            Some(w) => w.max(x),
            None => x,
        });
    };
    if let (Some(net), Some(run)) = (&a.network, &a.dynamic) {
        add(Assessment::ask(
            Level::High,
            format!("runs code downloaded from the network ({net} … {run})"),
        ));
    }
    let secret = a
        .secret_file
        .as_ref()
        .map(|(f, _)| format!("the secret file {f}"))
        .or_else(|| a.secret_env.clone());
    if let (Some(net), Some(secret)) = (&a.network, secret) {
        add(Assessment::ask(
            Level::High,
            format!("sends {secret} over the network ({net})"),
        ));
    } else if let Some((f, call)) = &a.secret_file {
        add(Assessment::ask(
            Level::Medium,
            format!("reads the secret file {f} ({call})"),
        ));
    }
    worst.map(|w| Assessment::new(w.level, w.action, format!("{label}: {}", w.reason)))
}

/// A value as far as it is known.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Val {
    /// A string; unknown parts of it are written `$_`.
    Str(String),
    /// A list (an argument vector).
    List(Vec<Val>),
    Unknown,
}

impl Val {
    fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The strings this value holds (a list's known items).
    fn strings(&self) -> Vec<&str> {
        match self {
            Val::Str(s) => vec![s.as_str()],
            Val::List(items) => items.iter().filter_map(Val::as_str).collect(),
            Val::Unknown => Vec::new(),
        }
    }

    /// The shell command line this value stands for when run: a string as
    /// it is, a list as an argument vector (quoted).
    fn command_line(&self) -> Option<String> {
        match self {
            Val::Str(s) => Some(s.clone()),
            Val::List(items) => {
                let words: Option<Vec<&str>> = items.iter().map(Val::as_str).collect();
                let words = words?;
                (!words.is_empty()).then(|| {
                    words
                        .into_iter()
                        .map(paddock_sdk::shell::quote)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
            }
            Val::Unknown => None,
        }
    }
}

/// What a call does, by its name (and language).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sink {
    /// Runs a shell command: a string or an argument vector at `arg`.
    Shell { arg: usize },
    /// Runs a program with an argument vector: the program at `arg`, its
    /// arguments in the list that follows (`spawn('rm', ['-rf', '/'])`), or
    /// the remaining arguments (`os.execl('/bin/rm', 'rm', '-rf', '/')`).
    Program { arg: usize },
    /// Runs code of the same language.
    Code,
    /// Deletes the paths at `at` recursively; `needs_flag`: only with a
    /// `recursive: true` option (Node's `fs.rm`), else a plain delete.
    RecursiveDelete { at: At, needs_flag: bool },
    /// Writes (creates, changes or deletes) the paths at `at`; `mode`: only
    /// when the open mode at that argument writes.
    Write { at: At, mode: Option<usize> },
    /// Perl's `open`: the mode is in the path (`'>x'`) or the argument
    /// after the handle.
    PerlOpen,
}

/// Which arguments of a call are the paths it acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    First,
    Second,
    Last,
    All,
    /// The value the method is called on (`Path('/etc/x').write_text(…)`).
    Receiver,
}

/// The segments of a dotted name, sigils and a leading dot dropped.
fn segments(name: &str) -> Vec<&str> {
    name.trim_start_matches(['.', '$', '@', '%'])
        .split(['.', ':', '-', '>', '?'])
        .filter(|s| !s.is_empty())
        .collect()
}

/// Environment variable names that hold secrets.
fn is_secret_env(name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    [
        "SECRET",
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "API_KEY",
        "APIKEY",
        "ACCESS_KEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
        "AUTH",
    ]
    .iter()
    .any(|m| up.contains(m))
}

/// Parts of call names that talk to the network.
const NETWORK: &[&str] = &[
    "urlopen",
    "urlretrieve",
    "requests.",
    "httpx.",
    "urllib",
    "http.client",
    "HTTPConnection",
    "HTTPSConnection",
    "socket",
    "Socket",
    "smtplib",
    "ftplib",
    "aiohttp",
    "fetch",
    "axios",
    "http.get",
    "https.get",
    "http.request",
    "https.request",
    "XMLHttpRequest",
    "net.connect",
    "createConnection",
    "WebSocket",
    "LWP",
    "HTTP::Tiny",
    "Net::HTTP",
    "Net::SMTP",
    "Net::FTP",
    "URI.open",
    "HTTParty",
    "RestClient",
    "Faraday",
    "curl_exec",
    "curl_init",
    "fsockopen",
    "stream_socket_client",
    "getstore",
    "getprint",
];

/// Calls that only show text (a URL in them is not a request).
const PRINTERS: &[&str] = &[
    "print", "puts", "echo", "say", "printf", "log", "info", "warn", "error", "debug", "format",
    "write", "p", "pp", "die",
];

struct Analyzer<'a> {
    lang: Lang,
    src: &'a str,
    toks: Vec<Tok>,
    /// For each opening bracket token, the index of its closing one.
    closers: Vec<usize>,
    /// Bytes of values built so far (see [`MAX_BUILT`]).
    built: std::cell::Cell<usize>,
    /// The shell rules, for commands the code runs.
    shell: ShellRules,
    vars: Vec<(String, Val)>,
    /// Names bound to modules: `import os as o` (o → os), `from shutil
    /// import rmtree` (rmtree → shutil.rmtree), `const cp =
    /// require('child_process')` (cp → child_process).
    aliases: Vec<(String, String)>,
    cwd: Option<&'a str>,
    depth: u32,
    /// The code loads `child_process` (Node's `exec` is a shell command).
    child_process: bool,
    /// The code uses `subprocess` or imports from `os` (bare `run`, `call`,
    /// `system` are shell commands).
    subprocess: bool,
    worst: Option<Assessment>,
    /// The first network call, shown.
    network: Option<String>,
    /// The first call that runs code or a command not known here, shown.
    dynamic: Option<String>,
    /// The first secret file read, and the call that reads it.
    secret_file: Option<(String, String)>,
    /// The first secret environment read, described.
    secret_env: Option<String>,
}

impl Analyzer<'_> {
    fn add(&mut self, level: Level, action: Action, reason: String) {
        let a = Assessment::new(level, action, reason);
        self.worst = Some(match self.worst.take() {
            Some(w) => w.max(a),
            None => a,
        });
    }

    fn text(&self, from: usize, to: usize) -> String {
        let start = self.toks[from].start;
        let end = self.toks[to.min(self.toks.len() - 1)].end;
        show(self.src.get(start..end).unwrap_or(""))
    }

    fn resolve(&self, path: &str) -> String {
        paths::resolve(self.cwd, path)
    }

    fn run(&mut self) {
        self.imports();
        let mut statement_start = true;
        let mut i = 0;
        while i < self.toks.len() {
            if statement_start {
                self.assignment(i);
            }
            statement_start = matches!(self.toks[i].kind, Kind::End);
            match self.toks[i].kind.clone() {
                Kind::Ident(name) => {
                    self.env_read(i, &name);
                    self.call(i, &name);
                }
                Kind::Shell(cmd) => {
                    let cmd = self.interpolate(&cmd);
                    let shown = self.text(i, i);
                    self.shell(&Val::Str(cmd), &shown);
                }
                _ => {}
            }
            i += 1;
        }
    }

    /// `name = value` (after `my`, `const`, `let`…) at `i`: remember the
    /// value.
    fn assignment(&mut self, mut i: usize) {
        if let Some(Kind::Ident(k)) = self.toks.get(i).map(|t| &t.kind)
            && matches!(
                k.as_str(),
                "my" | "our" | "local" | "const" | "let" | "var" | "global"
            )
        {
            i += 1;
        }
        let Some(Kind::Ident(name)) = self.toks.get(i).map(|t| t.kind.clone()) else {
            return;
        };
        if self.toks.get(i + 1).map(|t| &t.kind) != Some(&Kind::Punct('=')) {
            return;
        }
        if matches!(
            self.toks.get(i + 2).map(|t| &t.kind),
            Some(Kind::Punct('=' | '>' | '~'))
        ) {
            return;
        }
        let end = self.toks[i + 2..]
            .iter()
            .position(|t| t.kind == Kind::End)
            .map_or(self.toks.len(), |p| i + 2 + p);
        if let Some(module) = self.module_of(i + 2, end)
            && self.aliases.len() < MAX_VARS
        {
            self.aliases.push((name.clone(), module));
        }
        let value = self.eval(i + 2, end);
        self.vars.retain(|(n, _)| *n != name);
        if self.vars.len() >= MAX_VARS {
            self.vars.remove(0);
        }
        self.vars.push((name, value));
    }

    /// The module loaded when the tokens `from..to` are exactly one call
    /// `require('fs')`, `__import__('os')` or `importlib.import_module('os')`.
    fn module_of(&self, from: usize, to: usize) -> Option<String> {
        let Kind::Ident(f) = &self.toks.get(from)?.kind else {
            return None;
        };
        if !matches!(
            f.as_str(),
            "require" | "__import__" | "importlib.import_module" | "import_module"
        ) || self.toks.get(from + 1)?.kind != Kind::Punct('(')
        {
            return None;
        }
        let Kind::Str(m) = &self.toks.get(from + 2)?.kind else {
            return None;
        };
        (self.closing(from + 1) + 1 == to).then(|| m.trim_start_matches("node:").to_string())
    }

    /// Python's imports that bind names: `import a.b as c`, `from a import
    /// b as c, d`.
    fn imports(&mut self) {
        if self.lang != Lang::Python {
            return;
        }
        let ident = |k: usize| match self.toks.get(k).map(|t| &t.kind) {
            Some(Kind::Ident(n)) => Some(n.clone()),
            _ => None,
        };
        let mut found: Vec<(String, String)> = Vec::new();
        for k in 0..self.toks.len() {
            let Some(word) = ident(k) else { continue };
            let (module, mut j) = match word.as_str() {
                "from" => match (ident(k + 1), ident(k + 2).as_deref()) {
                    (Some(m), Some("import")) => (Some(m), k + 3),
                    _ => continue,
                },
                "import" if k == 0 || self.toks[k - 1].kind == Kind::End => (None, k + 1),
                _ => continue,
            };
            if self.toks.get(j).map(|t| &t.kind) == Some(&Kind::Punct('(')) {
                j += 1;
            }
            while let Some(name) = ident(j) {
                let alias = if ident(j + 1).as_deref() == Some("as") {
                    j += 2;
                    ident(j).unwrap_or_else(|| name.clone())
                } else {
                    name.clone()
                };
                let target = match &module {
                    Some(m) => format!("{m}.{name}"),
                    None => name,
                };
                if alias != target && found.len() < MAX_VARS {
                    found.push((alias, target));
                }
                j += 1;
                if self.toks.get(j).map(|t| &t.kind) != Some(&Kind::Punct(',')) {
                    break;
                }
                j += 1;
            }
        }
        self.aliases.extend(found);
    }

    /// `name` (called at token `i`) with a module alias or a loaded
    /// module put in front: `o.system` → `os.system`, `rmtree` →
    /// `shutil.rmtree`, `__import__('os').system` → `os.system`.
    fn qualified(&self, i: usize, name: &str) -> String {
        if name.starts_with('.') {
            // The call this method is on: `require('fs')`, `__import__('os')`.
            let start = self.call_start(i, name);
            if start < i
                && let Some(module) = self.module_of(start, i)
            {
                return format!("{module}{name}");
            }
            return name.to_string();
        }
        let (head, rest) = match name.find('.') {
            Some(d) => (&name[..d], &name[d..]),
            None => (name, ""),
        };
        match self.aliases.iter().rev().find(|(a, _)| a == head) {
            Some((_, target)) => format!("{target}{rest}"),
            None => name.to_string(),
        }
    }

    fn var(&self, name: &str) -> Option<&Val> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// Known variables and home expressions put into a string's
    /// interpolations (`"$dir/x"`, `"#{Dir.home}"`, `` `${os.homedir()}` ``).
    fn interpolate(&self, s: &str) -> String {
        let mut out = s.to_string();
        for home in [
            "$ENV{HOME}",
            "$ENV{'HOME'}",
            "$ENV{\"HOME\"}",
            "#{ENV['HOME']}",
            "#{ENV[\"HOME\"]}",
            "#{Dir.home}",
            "${os.homedir()}",
            "${process.env.HOME}",
            "{os.environ['HOME']}",
            "{os.environ[\"HOME\"]}",
            "{Path.home()}",
            "{pathlib.Path.home()}",
            "{os.path.expanduser('~')}",
            "$_SERVER['HOME']",
        ] {
            if out.contains(home) {
                out = out.replace(home, "~");
            }
        }
        if !out.contains(['$', '{']) {
            return out;
        }
        for (name, val) in self.vars.iter().rev() {
            let Some(v) = val.as_str() else { continue };
            let bare = name.trim_start_matches(['$', '@']);
            if bare.is_empty() || !out.contains(bare) {
                continue;
            }
            let forms: Vec<String> = match self.lang {
                Lang::Perl | Lang::Php => vec![format!("${{{bare}}}"), format!("${bare}")],
                Lang::Ruby => vec![format!("#{{{bare}}}")],
                Lang::JavaScript => vec![format!("${{{bare}}}")],
                Lang::Python => vec![format!("{{{bare}}}")],
            };
            for f in forms {
                if out.contains(&f) {
                    let grown = out.replace(&f, v);
                    if !self.spend(grown.len()) {
                        return out;
                    }
                    out = grown;
                }
            }
        }
        out
    }

    /// The index of the token closing the bracket opened at `open` (the
    /// end when it is never closed).
    fn closing(&self, open: usize) -> usize {
        self.closers.get(open).copied().unwrap_or(self.toks.len())
    }

    /// The argument ranges between `from` and `to` (exclusive), split at
    /// top-level commas (and Perl's `=>`).
    fn split_args(&self, from: usize, to: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut nest = 0;
        let mut start = from;
        let to = to.min(self.toks.len());
        for k in from..to {
            match self.toks[k].kind {
                Kind::Punct('(' | '[' | '{') => nest += 1,
                Kind::Punct(')' | ']' | '}') => nest -= 1,
                Kind::Punct(',') if nest == 0 => {
                    out.push((start, k));
                    start = k + 1;
                }
                _ => {}
            }
        }
        if start < to {
            out.push((start, to));
        }
        out
    }

    /// The value of the expression in tokens `from..to`.
    fn eval(&self, from: usize, to: usize) -> Val {
        let to = to.min(self.toks.len());
        if from >= to {
            return Val::Unknown;
        }
        // Operands joined by `+`, `.` (Perl, PHP), `/` (pathlib).
        let mut parts: Vec<(char, Val)> = Vec::new();
        let mut nest = 0;
        let mut start = from;
        let mut op = '+';
        for k in from..to {
            match self.toks[k].kind {
                Kind::Punct('(' | '[' | '{') => nest += 1,
                Kind::Punct(')' | ']' | '}') => nest -= 1,
                Kind::Punct(c @ ('+' | '.' | '/')) if nest == 0 && k > start => {
                    parts.push((op, self.operand(start, k)));
                    op = c;
                    start = k + 1;
                }
                _ => {}
            }
        }
        parts.push((op, self.operand(start, to)));
        if parts.len() == 1 {
            return parts.pop().map_or(Val::Unknown, |(_, v)| v);
        }
        if parts.iter().all(|(_, v)| *v == Val::Unknown) {
            return Val::Unknown;
        }
        if parts.iter().all(|(_, v)| matches!(v, Val::List(_))) {
            let items: Vec<Val> = parts
                .into_iter()
                .flat_map(|(_, v)| match v {
                    Val::List(items) => items,
                    _ => Vec::new(),
                })
                .collect();
            if !self.spend(items.len() * 16) {
                return Val::Unknown;
            }
            return Val::List(items);
        }
        let mut out = String::new();
        for (op, v) in parts {
            let s = v.as_str().unwrap_or("$_");
            if op == '/' {
                out = join(&out, s);
            } else {
                out.push_str(s);
            }
        }
        if !self.spend(out.len()) {
            return Val::Unknown;
        }
        Val::Str(out)
    }

    /// Count `bytes` of values built against the budget; false (and the
    /// value stays unknown) when it is spent or the value is too long.
    fn spend(&self, bytes: usize) -> bool {
        let total = self.built.get().saturating_add(bytes);
        self.built.set(total);
        bytes <= MAX_STRING && total <= MAX_BUILT
    }

    /// One operand: a literal, a list, a variable, a known call.
    fn operand(&self, from: usize, to: usize) -> Val {
        let mut from = from;
        while from < to
            && matches!(&self.toks[from].kind, Kind::Ident(k) if k == "new" || k == "await")
        {
            from += 1;
        }
        if from >= to {
            return Val::Unknown;
        }
        let first = &self.toks[from].kind;
        // A primary, then postfix method calls (`.split()`, `.read()`…).
        let (mut val, mut k) = match first {
            Kind::Str(s) => (Val::Str(self.interpolate(s)), from + 1),
            Kind::Punct('[') | Kind::Punct('(') => {
                let close = self.closing(from);
                let items: Vec<Val> = self
                    .split_args(from + 1, close)
                    .into_iter()
                    .map(|(a, b)| self.eval(a, b))
                    .collect();
                let v = if *first == Kind::Punct('(') && items.len() == 1 {
                    items.into_iter().next().unwrap_or(Val::Unknown)
                } else {
                    Val::List(items)
                };
                (v, close + 1)
            }
            Kind::Ident(name) => {
                let next = self.toks.get(from + 1).map(|t| &t.kind);
                if let Some(key) = self.env_key(from) {
                    let v = if key == "HOME" {
                        Val::Str("~".into())
                    } else {
                        Val::Unknown
                    };
                    (v, self.env_key_end(from))
                } else if next == Some(&Kind::Punct('(')) {
                    let close = self.closing(from + 1);
                    (self.call_value(name, from + 2, close), close + 1)
                } else if let Some(v) = self.var(name) {
                    (v.clone(), from + 1)
                } else if let Some(home) = home_name(name) {
                    (Val::Str(home.into()), from + 1)
                } else if let Some((recv, method)) = name.rsplit_once('.')
                    && let Some(v) = self.var(recv)
                {
                    (postfix(v.clone(), method), from + 1)
                } else {
                    (Val::Unknown, from + 1)
                }
            }
            _ => (Val::Unknown, from + 1),
        };
        // Postfix methods.
        while k < to {
            let Kind::Ident(m) = &self.toks[k].kind else {
                break;
            };
            if !m.starts_with('.') {
                break;
            }
            val = postfix(val, m.trim_start_matches('.'));
            k += 1;
            if self.toks.get(k).map(|t| &t.kind) == Some(&Kind::Punct('(')) {
                k = self.closing(k) + 1;
            }
        }
        if k < to {
            // Something this reading does not follow (an operator, an index).
            return match val {
                Val::Str(_) if matches!(self.toks[k].kind, Kind::Punct('%' | '*' | '-')) => {
                    Val::Unknown
                }
                v => v,
            };
        }
        val
    }

    /// The value of a call whose result is a known path or list:
    /// `os.path.join`, `Path(…)`, `expanduser`, `shlex.split`,
    /// `Path.home()`…
    fn call_value(&self, name: &str, from: usize, to: usize) -> Val {
        let segs = segments(name);
        let last = segs.last().copied().unwrap_or("");
        let args: Vec<Val> = self
            .split_args(from, to)
            .into_iter()
            .map(|(a, b)| self.eval(a, b))
            .collect();
        let first = || args.first().cloned().unwrap_or(Val::Unknown);
        if home_name(name).is_some() || (matches!(last, "home" | "homedir") && args.is_empty()) {
            return Val::Str("~".into());
        }
        match last {
            "join" | "resolve" | "joinpath" if segs.len() > 1 => {
                let parts: Vec<&str> = args.iter().map(|a| a.as_str().unwrap_or("$_")).collect();
                if args.iter().all(|a| *a == Val::Unknown) {
                    return Val::Unknown;
                }
                Val::Str(parts.iter().fold(String::new(), |acc, p| join(&acc, p)))
            }
            "Path" | "PurePath" | "PosixPath" | "Pathname" | "File" | "expanduser" | "abspath"
            | "realpath" | "normpath" | "expand_path" | "str" | "String" | "fspath" => first(),
            "split" if segs.first() == Some(&"shlex") => postfix(first(), "split"),
            "getenv" | "get" | "fetch"
                if segs
                    .iter()
                    .any(|s| matches!(*s, "environ" | "ENV" | "getenv")) =>
            {
                match first().as_str() {
                    Some("HOME") => Val::Str("~".into()),
                    _ => Val::Unknown,
                }
            }
            _ => Val::Unknown,
        }
    }

    /// The environment variable read at `i` (`os.environ['X']`,
    /// `process.env.X`, `$ENV{X}`, `ENV['X']`, `$_ENV['X']`), if any.
    fn env_key(&self, i: usize) -> Option<String> {
        let Kind::Ident(name) = &self.toks.get(i)?.kind else {
            return None;
        };
        if let Some(key) = name.strip_prefix("process.env.") {
            return Some(key.to_string());
        }
        let env_object = matches!(
            name.as_str(),
            "os.environ" | "environ" | "process.env" | "$ENV" | "ENV" | "$_ENV" | "$_SERVER"
        );
        if !env_object {
            return None;
        }
        let open = &self.toks.get(i + 1)?.kind;
        if !matches!(open, Kind::Punct('[' | '{')) {
            return None;
        }
        match &self.toks.get(i + 2)?.kind {
            Kind::Str(s) => Some(s.clone()),
            Kind::Ident(s) => Some(s.clone()),
            _ => None,
        }
    }

    fn env_key_end(&self, i: usize) -> usize {
        match self.toks.get(i + 1).map(|t| &t.kind) {
            Some(Kind::Punct('[' | '{')) => self.closing(i + 1) + 1,
            _ => i + 1,
        }
    }

    /// Reads of the environment: a secret variable, or the whole of it.
    fn env_read(&mut self, i: usize, name: &str) {
        if self.secret_env.is_some() {
            return;
        }
        if let Some(key) = self.env_key(i) {
            if is_secret_env(&key) {
                self.secret_env = Some(format!("the environment variable {key}"));
            }
            return;
        }
        let segs = segments(name);
        let last = segs.last().copied().unwrap_or("");
        let next = self.toks.get(i + 1).map(|t| &t.kind);
        // `os.getenv('X')`, `os.environ.get('X')`, `ENV.fetch('X')`, `getenv('X')`.
        let getter = matches!(last, "getenv" | "get" | "fetch")
            && (last == "getenv" || segs.iter().any(|s| matches!(*s, "environ" | "ENV")));
        if getter && next == Some(&Kind::Punct('(')) {
            match self.toks.get(i + 2).map(|t| &t.kind) {
                Some(Kind::Str(key)) if is_secret_env(key) => {
                    self.secret_env = Some(format!("the environment variable {key}"));
                }
                Some(Kind::Punct(')')) if last == "getenv" => {
                    self.secret_env = Some("the whole environment".into());
                }
                _ => {}
            }
            return;
        }
        let whole = match self.lang {
            Lang::Python => {
                matches!(name, "os.environ" | "environ")
                    || (name.starts_with("os.environ.")
                        && !matches!(last, "get" | "setdefault" | "pop"))
            }
            Lang::JavaScript => name == "process.env",
            Lang::Perl => name == "%ENV",
            Lang::Ruby => name == "ENV" || (name.starts_with("ENV.") && last != "fetch"),
            Lang::Php => matches!(name, "$_ENV" | "$_SERVER"),
        };
        if whole && !matches!(next, Some(Kind::Punct('[' | '{'))) {
            self.secret_env = Some("the whole environment".into());
        }
    }

    /// A call at `i` (`name(…)`, or Perl/Ruby's `name ARGS`): what it does.
    fn call(&mut self, i: usize, name: &str) {
        let next = self.toks.get(i + 1).map(|t| t.kind.clone());
        let (args, end): (Vec<(usize, usize)>, usize) = match next {
            Some(Kind::Punct('(')) => {
                let close = self.closing(i + 1);
                (self.split_args(i + 2, close), close)
            }
            Some(Kind::Str(_) | Kind::Ident(_) | Kind::Shell(_) | Kind::Num)
                if matches!(self.lang, Lang::Perl | Lang::Ruby | Lang::Php)
                    && !name.starts_with(['$', '@', '%', '.']) =>
            {
                let mut end = i + 1;
                let mut nest = 0;
                while let Some(t) = self.toks.get(end) {
                    match &t.kind {
                        Kind::End => break,
                        Kind::Punct('(' | '[' | '{') => nest += 1,
                        Kind::Punct(')' | ']' | '}') if nest == 0 => break,
                        Kind::Punct(')' | ']' | '}') => nest -= 1,
                        Kind::Ident(k)
                            if nest == 0
                                && matches!(k.as_str(), "or" | "and" | "if" | "unless") =>
                        {
                            break;
                        }
                        _ => {}
                    }
                    end += 1;
                }
                (self.split_args(i + 1, end), end.saturating_sub(1))
            }
            _ => {
                // A code runner named without a call (`.then(eval)`).
                if self.sink(name) == Some(Sink::Code) && self.dynamic.is_none() {
                    self.dynamic = Some(show(name));
                }
                return;
            }
        };
        let shown = self.text(self.call_start(i, name), end);
        let qualified = self.qualified(i, name);
        let name = qualified.as_str();
        let vals: Vec<Val> = args.iter().map(|&(a, b)| self.eval(a, b)).collect();
        self.network_use(name, &vals, &shown);
        let sink = self.sink(name);
        // Secret files named in the call (not as a write's destination).
        if self.secret_file.is_none() {
            let found = vals.iter().flat_map(Val::strings).find(|s| {
                is_secret_path(&self.resolve(s)) && !self.writes_path(sink, name, &vals, s)
            });
            if let Some(s) = found {
                self.secret_file = Some((s.to_string(), shown.clone()));
            }
        }
        let Some(sink) = sink else { return };
        // Decoded text run as code or as a command.
        let runs = match sink {
            Sink::Code => Some((0, false)),
            Sink::Shell { arg } | Sink::Program { arg } => Some((arg, true)),
            _ => None,
        };
        if let Some((arg, shell)) = runs
            && let Some((how, text)) = args.get(arg).and_then(|&r| self.decoded(r))
        {
            self.run_decoded(how, text.as_deref(), shell, &shown);
            return;
        }
        match sink {
            Sink::Shell { arg } => {
                // Perl's and Ruby's `system(LIST)` run an argument vector.
                let list = matches!(self.lang, Lang::Perl | Lang::Ruby)
                    && vals.len() > 1
                    && vals.iter().all(|v| matches!(v, Val::Str(_)));
                let v = if list {
                    Val::List(vals.clone())
                } else {
                    vals.get(arg).cloned().unwrap_or(Val::Unknown)
                };
                self.shell(&v, &shown);
            }
            Sink::Program { arg } => {
                let mut argv = vec![vals.get(arg).cloned().unwrap_or(Val::Unknown)];
                match vals.get(arg + 1) {
                    Some(Val::List(items)) => {
                        // `spawn('rm', ['-rf', '/'])`; `os.execvp('rm', ['rm', …])`.
                        let skip =
                            usize::from(items.first().and_then(Val::as_str).is_some_and(|f| {
                                vals.get(arg)
                                    .and_then(Val::as_str)
                                    .is_some_and(|p| paths::basename(p) == paths::basename(f))
                            }));
                        argv.extend(items.iter().skip(skip).cloned());
                    }
                    _ => {
                        // `os.execl('/bin/rm', 'rm', '-rf', '/')`: argv[0] repeats.
                        let rest: Vec<Val> = vals.iter().skip(arg + 1).cloned().collect();
                        let skip = usize::from(
                            segments(name)
                                .last()
                                .is_some_and(|l| l.starts_with("exec") || l.starts_with("spawn"))
                                && !rest.is_empty(),
                        );
                        argv.extend(rest.into_iter().skip(skip));
                    }
                }
                self.shell(&Val::List(argv), &shown);
            }
            Sink::Code => match vals.first() {
                Some(Val::Str(code)) if !code.contains("$_") => {
                    let label = format!("{} passed to {}", lang_name(self.lang), show(name));
                    if let Some(inner) = assess(
                        self.lang,
                        code,
                        &label,
                        self.cwd,
                        self.depth + 1,
                        self.shell,
                    ) {
                        self.add(
                            inner.level,
                            inner.action,
                            format!("{} ({shown})", inner.reason),
                        );
                    }
                }
                _ => {
                    if self.dynamic.is_none() {
                        self.dynamic = Some(shown.clone());
                    }
                }
            },
            Sink::RecursiveDelete { at, needs_flag } => {
                let flagged = !needs_flag || self.has_true_option(args.as_slice(), "recursive");
                let targets = self.paths_at(at, &vals, name, i);
                if !flagged {
                    self.judge_writes(&targets, &shown);
                    return;
                }
                if targets.is_empty() {
                    self.add(
                        Level::Medium,
                        Action::Ask,
                        format!("recursive delete of a path chosen at run time ({shown})"),
                    );
                }
                for t in targets {
                    self.judge_delete(&t, &shown);
                }
            }
            Sink::Write { at, mode } => {
                if let Some(m) = mode {
                    let mode_val = vals.get(m).and_then(Val::as_str).map(str::to_string);
                    let mode_val = mode_val.or_else(|| self.keyword(&args, "mode"));
                    let flags = self.text(
                        args.get(m).map_or(i, |a| a.0),
                        args.get(m).map_or(i, |a| a.1.saturating_sub(1)),
                    );
                    let writes = match mode_val {
                        Some(md) => md.contains(['w', 'a', 'x', '+', 'c']),
                        None => flags.contains("WRONLY") || flags.contains("RDWR"),
                    };
                    if !writes {
                        return;
                    }
                }
                let targets = self.paths_at(at, &vals, name, i);
                self.judge_writes(&targets, &shown);
            }
            Sink::PerlOpen => {
                // open(FH, '>', $path) or open(FH, '>path').
                let (mode, path) = match (vals.get(1), vals.get(2)) {
                    (Some(Val::Str(m)), Some(p)) => (m.clone(), p.as_str().map(str::to_string)),
                    (Some(Val::Str(mp)), None) => {
                        let t = mp.trim_start();
                        let m: String = t.chars().take_while(|c| "+<>|".contains(*c)).collect();
                        (m.clone(), Some(t[m.len()..].trim().to_string()))
                    }
                    _ => return,
                };
                if mode.contains('|') || mode.contains('-') {
                    // A pipe open runs a command.
                    let cmd = path.or_else(|| {
                        vals.get(1)
                            .and_then(Val::as_str)
                            .map(|s| s.trim_matches(['|', ' ']).to_string())
                    });
                    self.shell(&cmd.map_or(Val::Unknown, Val::Str), &shown);
                } else if mode.contains('>') || mode.contains('+') {
                    self.judge_writes(&path.into_iter().collect::<Vec<_>>(), &shown);
                }
            }
        }
    }

    /// Where the call at `i` starts when shown: a method on a call's
    /// result is shown with that call (`require('fs').rmSync(…)`).
    fn call_start(&self, i: usize, name: &str) -> usize {
        if !name.starts_with('.') || i == 0 || self.toks[i - 1].kind != Kind::Punct(')') {
            return i;
        }
        let mut nest = 0;
        let mut k = i - 1;
        loop {
            match self.toks[k].kind {
                Kind::Punct(')') => nest += 1,
                Kind::Punct('(') => {
                    nest -= 1;
                    if nest == 0 {
                        break;
                    }
                }
                _ => {}
            }
            if k == 0 {
                return i;
            }
            k -= 1;
        }
        match k.checked_sub(1).map(|p| &self.toks[p].kind) {
            Some(Kind::Ident(_)) => k - 1,
            _ => i,
        }
    }

    /// A decoding in the argument `range` (`base64.b64decode('…')`,
    /// `bytes.fromhex('…')`, `atob('…')`, `Base64.decode64`,
    /// `base64_decode`…): its kind, and the decoded text when the encoded
    /// one is a literal.
    fn decoded(&self, (from, to): (usize, usize)) -> Option<(&'static str, Option<String>)> {
        let to = to.min(self.toks.len());
        for k in from..to {
            let Kind::Ident(n) = &self.toks[k].kind else {
                continue;
            };
            let last = segments(n).last().copied().unwrap_or("");
            let how = match last {
                "b64decode" | "standard_b64decode" | "urlsafe_b64decode" | "decodebytes"
                | "decodestring" | "atob" | "decode64" | "decode_base64" | "base64_decode"
                | "strict_decode64" | "urlsafe_decode64" => "base64",
                "fromhex" | "unhexlify" | "hex2bin" | "a2b_hex" => "hex",
                "b32decode" | "b85decode" | "a85decode" | "str_rot13" | "gzinflate"
                | "gzuncompress" | "gzdecode" | "decompress" | "inflateSync" | "gunzipSync" => {
                    "encoded"
                }
                "from" if n.ends_with("Buffer.from") => {
                    let b64 = self.toks[k..to]
                        .iter()
                        .any(|t| matches!(&t.kind, Kind::Str(s) if s == "base64"));
                    if b64 { "base64" } else { continue }
                }
                _ => continue,
            };
            let literal = self.toks[k + 1..to].iter().find_map(|t| match &t.kind {
                Kind::Str(s) if s != "base64" => Some(s.clone()),
                _ => None,
            });
            let text = literal.and_then(|l| match how {
                "base64" => crate::flow::base64_decode(&l),
                "hex" => crate::flow::hex_decode(&l),
                _ => None,
            });
            return Some((how, text));
        }
        None
    }

    /// Decoded text run as code (`shell`: by a shell): high, and what the
    /// text itself does when it is known.
    fn run_decoded(&mut self, how: &str, text: Option<&str>, shell: bool, shown: &str) {
        let runner = if shell {
            "a shell"
        } else {
            lang_name(self.lang)
        };
        self.add(
            Level::High,
            Action::Ask,
            format!("runs {how}-decoded text as {runner} code ({shown})"),
        );
        let Some(text) = text else { return };
        let inner = if shell {
            Some((self.shell)(text, self.depth + 1, self.cwd))
        } else {
            let label = format!("{how}-decoded {}", lang_name(self.lang));
            assess(
                self.lang,
                text,
                &label,
                self.cwd,
                self.depth + 1,
                self.shell,
            )
        };
        if let Some(inner) = inner
            && (inner.level > Level::Low || inner.action != Action::Allow)
        {
            let reason = if shell {
                format!("{}, decoded from {how} and run by {shown}", inner.reason)
            } else {
                format!("{} ({shown})", inner.reason)
            };
            self.add(inner.level, inner.action, reason);
        }
    }

    /// Whether `s` is a destination this call writes.
    fn writes_path(&self, sink: Option<Sink>, name: &str, vals: &[Val], s: &str) -> bool {
        match sink {
            Some(Sink::Write { at, mode: None }) => {
                self.paths_at(at, vals, name, 0).iter().any(|p| p == s)
            }
            Some(Sink::Write { mode: Some(m), .. }) => vals
                .get(m)
                .and_then(Val::as_str)
                .is_some_and(|md| md.contains(['w', 'a', 'x'])),
            Some(Sink::PerlOpen) => vals
                .iter()
                .filter_map(Val::as_str)
                .any(|v| v.trim_start().starts_with('>') || v.starts_with("+>")),
            _ => false,
        }
    }

    /// A keyword argument's string value (`mode='w'`, `mode: 'w'`).
    fn keyword(&self, args: &[(usize, usize)], key: &str) -> Option<String> {
        args.iter().find_map(|&(a, b)| {
            let is_key = matches!(&self.toks.get(a)?.kind, Kind::Ident(k) if k == key);
            let sep = matches!(self.toks.get(a + 1)?.kind, Kind::Punct('=' | ':'));
            (is_key && sep).then(|| self.eval(a + 2, b).as_str().map(str::to_string))?
        })
    }

    /// Whether an option `key` is set to true in the arguments
    /// (`{recursive: true}`, `recursive=True`, `:recursive => 1`).
    fn has_true_option(&self, args: &[(usize, usize)], key: &str) -> bool {
        args.iter().any(|&(a, b)| {
            let b = b.min(self.toks.len());
            (a..b).any(|k| {
                let named = match &self.toks[k].kind {
                    Kind::Ident(n) => n == key,
                    Kind::Str(s) => s == key,
                    _ => false,
                };
                named
                    && self.toks[k + 1..b]
                        .iter()
                        .take(3)
                        .any(|t| matches!(&t.kind, Kind::Ident(v) if v == "true" || v == "True"))
            })
        })
    }

    /// The paths a call acts on.
    fn paths_at(&self, at: At, vals: &[Val], name: &str, i: usize) -> Vec<String> {
        let pick: Vec<&Val> = match at {
            At::First => vals.first().into_iter().collect(),
            At::Second => vals.get(1).into_iter().collect(),
            At::Last => vals.last().into_iter().collect(),
            At::All => vals.iter().collect(),
            At::Receiver => {
                return self.receiver(name, i).into_iter().collect();
            }
        };
        pick.into_iter()
            .flat_map(|v| match v {
                Val::Str(s) => vec![s.clone()],
                Val::List(items) => items
                    .iter()
                    .filter_map(Val::as_str)
                    .map(str::to_string)
                    .collect(),
                Val::Unknown => Vec::new(),
            })
            .collect()
    }

    /// The path a method is called on: a variable (`p.write_text`) or the
    /// call before it (`Path('/etc/x').write_text`).
    fn receiver(&self, name: &str, i: usize) -> Option<String> {
        if !name.starts_with('.') {
            let (recv, _) = name.rsplit_once('.')?;
            return self.var(recv).and_then(Val::as_str).map(str::to_string);
        }
        let prev = i.checked_sub(1)?;
        match &self.toks[prev].kind {
            Kind::Punct(')') => {
                // Find the call this `)` closes.
                let mut nest = 0;
                let mut k = prev;
                loop {
                    match self.toks[k].kind {
                        Kind::Punct(')') => nest += 1,
                        Kind::Punct('(') => {
                            nest -= 1;
                            if nest == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    k = k.checked_sub(1)?;
                }
                let start = k.checked_sub(1)?;
                self.eval(start, prev + 1).as_str().map(str::to_string)
            }
            Kind::Str(s) => Some(s.clone()),
            _ => None,
        }
    }

    fn judge_delete(&mut self, target: &str, shown: &str) {
        let abs = self.resolve(target);
        match paths::reach(&abs) {
            Reach::Root | Reach::Home | Reach::SystemDir(_) => self.add(
                Level::Critical,
                Action::Deny,
                format!("recursive delete of {target} ({shown})"),
            ),
            Reach::Protected(tree) => self.add(
                Level::High,
                Action::Deny,
                format!("deletes files under {tree} ({shown})"),
            ),
            Reach::Other => self.add(
                Level::Medium,
                Action::Ask,
                format!("recursive delete of {target} ({shown})"),
            ),
        }
    }

    fn judge_writes(&mut self, targets: &[String], shown: &str) {
        for t in targets {
            let abs = self.resolve(t);
            if paths::is_harmless_device(&abs) {
                continue;
            }
            if paths::is_disk_device(&abs) {
                self.add(
                    Level::Critical,
                    Action::Deny,
                    format!("writes onto the disk device {t} ({shown})"),
                );
            } else if let Some(tree) = paths::protected_tree(&abs) {
                self.add(
                    Level::High,
                    Action::Deny,
                    format!("writes under {tree} ({shown})"),
                );
            }
        }
    }

    /// A shell command run by the code: judged by the shell rules.
    fn shell(&mut self, v: &Val, shown: &str) {
        let Some(line) = v.command_line() else {
            if self.dynamic.is_none() {
                self.dynamic = Some(shown.to_string());
            }
            return;
        };
        let inner = (self.shell)(&line, self.depth + 1, self.cwd);
        if inner.level > Level::Low || inner.action != Action::Allow {
            self.add(
                inner.level,
                inner.action,
                format!("{}, run by {shown}", inner.reason),
            );
        }
        if line.contains("$_") && self.dynamic.is_none() {
            self.dynamic = Some(shown.to_string());
        }
    }

    /// Whether a call talks to the network: by its name, or a URL argument.
    fn network_use(&mut self, name: &str, vals: &[Val], shown: &str) {
        if self.network.is_some() {
            return;
        }
        let by_name = NETWORK.iter().any(|n| name.contains(n));
        let last = segments(name).last().copied().unwrap_or("");
        let url = !PRINTERS.contains(&last)
            && vals.iter().flat_map(Val::strings).any(|s| {
                let s = s.trim_start();
                s.starts_with("http://") || s.starts_with("https://") || s.starts_with("ftp://")
            });
        if by_name || url {
            self.network = Some(shown.to_string());
        }
    }

    /// What a call named `name` does in this language.
    fn sink(&self, name: &str) -> Option<Sink> {
        let segs = segments(name);
        let last = *segs.last()?;
        let module = if segs.len() > 1 {
            segs[segs.len() - 2]
        } else {
            ""
        };
        let bare = segs.len() == 1 && !name.starts_with('.');
        let first_w = Sink::Write {
            at: At::First,
            mode: None,
        };
        let second_w = Sink::Write {
            at: At::Second,
            mode: None,
        };
        Some(match self.lang {
            Lang::Python => match last {
                "system" | "popen" if module == "os" || (bare && self.subprocess) => {
                    Sink::Shell { arg: 0 }
                }
                "getoutput" | "getstatusoutput"
                    if matches!(module, "subprocess" | "commands") || bare =>
                {
                    Sink::Shell { arg: 0 }
                }
                "run" | "call" | "check_call" | "check_output" | "Popen"
                    if matches!(module, "subprocess" | "sp") || (bare && self.subprocess) =>
                {
                    Sink::Shell { arg: 0 }
                }
                l if module == "os" && (l.starts_with("exec") || l.starts_with("spawn")) => {
                    Sink::Program {
                        arg: usize::from(l.starts_with("spawn")),
                    }
                }
                "spawn" if module == "pty" => Sink::Shell { arg: 0 },
                "exec" | "eval" | "compile" if bare || module == "builtins" => Sink::Code,
                "rmtree" => Sink::RecursiveDelete {
                    at: if name.starts_with('.') {
                        At::Receiver
                    } else {
                        At::First
                    },
                    needs_flag: false,
                },
                "open" if bare || module == "io" => Sink::Write {
                    at: At::First,
                    mode: Some(1),
                },
                "open" if module == "os" => Sink::Write {
                    at: At::First,
                    mode: Some(1),
                },
                "write_text" | "write_bytes" | "touch" | "unlink" | "rmdir" | "chmod"
                | "symlink_to"
                    if !bare && module != "os" =>
                {
                    Sink::Write {
                        at: At::Receiver,
                        mode: None,
                    }
                }
                "remove" | "unlink" | "rmdir" | "removedirs" | "chmod" | "chown" | "truncate"
                | "mkdir" | "makedirs" | "lchown"
                    if module == "os" =>
                {
                    first_w
                }
                "copy" | "copy2" | "copyfile" | "copytree" | "move" if module == "shutil" => {
                    second_w
                }
                "rename" | "replace" | "symlink" | "link" if module == "os" => second_w,
                _ => return None,
            },
            Lang::JavaScript => match last {
                "exec" | "execSync" if self.child_process => Sink::Shell { arg: 0 },
                "spawn" | "spawnSync" | "execFile" | "execFileSync" | "fork"
                    if self.child_process =>
                {
                    if last == "fork" {
                        return None;
                    }
                    Sink::Program { arg: 0 }
                }
                "eval" | "Function" | "runInThisContext" | "runInNewContext" | "runInContext"
                | "Script" => Sink::Code,
                "rm" | "rmSync" | "rmdir" | "rmdirSync" if !bare => Sink::RecursiveDelete {
                    at: At::First,
                    needs_flag: true,
                },
                "writeFile" | "writeFileSync" | "appendFile" | "appendFileSync"
                | "createWriteStream" | "truncate" | "truncateSync" | "unlink" | "unlinkSync"
                | "chmod" | "chmodSync" | "chown" | "chownSync" | "mkdir" | "mkdirSync"
                | "outputFile" | "outputFileSync" | "remove" | "removeSync"
                    if !bare =>
                {
                    first_w
                }
                "copyFile" | "copyFileSync" | "rename" | "renameSync" | "symlink"
                | "symlinkSync" | "link" | "linkSync" | "cp" | "cpSync"
                    if !bare =>
                {
                    second_w
                }
                _ => return None,
            },
            Lang::Perl => match last {
                "system" | "exec" if bare || module == "CORE" => Sink::Shell { arg: 0 },
                "readpipe" => Sink::Shell { arg: 0 },
                "eval" if bare => Sink::Code,
                "rmtree" | "remove_tree" => Sink::RecursiveDelete {
                    at: At::All,
                    needs_flag: false,
                },
                "open" if bare => Sink::PerlOpen,
                "unlink" | "rmdir" | "mkdir" | "truncate" if bare => first_w,
                "chmod" | "chown" if bare => Sink::Write {
                    at: At::Last,
                    mode: None,
                },
                "rename" | "symlink" | "link" | "copy" | "move" | "cp" | "mv" => second_w,
                _ => return None,
            },
            Lang::Ruby => match last {
                "system" | "exec" | "spawn" if bare || matches!(module, "Kernel" | "Process") => {
                    Sink::Shell { arg: 0 }
                }
                "popen" | "popen2" | "popen2e" | "popen3" | "capture2" | "capture2e"
                | "capture3" | "pipeline"
                    if matches!(module, "IO" | "Open3") =>
                {
                    Sink::Shell { arg: 0 }
                }
                "eval" | "instance_eval" | "class_eval" | "module_eval" => Sink::Code,
                "rm_rf"
                | "rm_r"
                | "remove_dir"
                | "remove_entry"
                | "remove_entry_secure"
                | "rmtree" => Sink::RecursiveDelete {
                    at: if module.is_empty() && name.starts_with('.') {
                        At::Receiver
                    } else {
                        At::First
                    },
                    needs_flag: false,
                },
                "write" | "binwrite" if matches!(module, "File" | "IO") => first_w,
                "open" | "new" if matches!(module, "File" | "IO") => Sink::Write {
                    at: At::First,
                    mode: Some(1),
                },
                "delete" | "unlink" if module == "File" => Sink::Write {
                    at: At::All,
                    mode: None,
                },
                "rm" | "rm_f" | "touch" | "mkdir" | "mkdir_p" | "remove" | "remove_file"
                    if module == "FileUtils" =>
                {
                    first_w
                }
                "chmod" | "chown" | "chmod_R" | "chown_R" if module == "FileUtils" => Sink::Write {
                    at: At::Last,
                    mode: None,
                },
                "cp" | "mv" | "ln_s" | "ln" | "install" | "copy" | "move" | "cp_r"
                    if module == "FileUtils" =>
                {
                    Sink::Write {
                        at: At::Second,
                        mode: None,
                    }
                }
                _ => return None,
            },
            Lang::Php => match last {
                "system" | "exec" | "shell_exec" | "passthru" | "popen" | "proc_open" => {
                    Sink::Shell { arg: 0 }
                }
                "eval" | "assert" | "create_function" => Sink::Code,
                "file_put_contents" | "unlink" | "rmdir" | "mkdir" | "touch" | "chmod"
                | "chown" | "truncate" => first_w,
                "fopen" => Sink::Write {
                    at: At::First,
                    mode: Some(1),
                },
                "copy" | "rename" | "symlink" | "link" => second_w,
                _ => return None,
            },
        })
    }
}

/// `base` and `part` joined as a path (an absolute `part` replaces `base`).
fn join(base: &str, part: &str) -> String {
    if base.is_empty() || part.starts_with('/') || part.starts_with('~') {
        return part.to_string();
    }
    format!("{}/{}", base.trim_end_matches('/'), part)
}

/// Names that stand for the home directory without a call.
fn home_name(name: &str) -> Option<&'static str> {
    matches!(
        name,
        "Path.home" | "pathlib.Path.home" | "os.homedir" | "Dir.home" | "process.env.HOME"
    )
    .then_some("~")
}

/// A method applied to a known value: `.split()` makes a list of words,
/// path methods keep the path, anything else is unknown.
fn postfix(v: Val, method: &str) -> Val {
    match method {
        "split" => match v {
            Val::Str(s) => Val::List(
                s.split_whitespace()
                    .map(|w| Val::Str(w.to_string()))
                    .collect(),
            ),
            other => other,
        },
        "expanduser" | "resolve" | "absolute" | "expand_path" | "to_s" | "toString" | "strip"
        | "trim" => v,
        "homedir" | "home" => Val::Str("~".into()),
        _ => Val::Unknown,
    }
}

/// Whether `path` (resolved) names a secret file or a directory of them
/// (`~/.ssh`, `~/.aws`, `~/.gnupg`, `~/.kube`, `~/.docker/config.json`).
pub fn is_secret_path(path: &str) -> bool {
    if paths::is_secret_file(path) {
        return true;
    }
    let abs = paths::normalize(path);
    abs.split('/').any(|seg| {
        matches!(
            seg,
            ".ssh" | ".aws" | ".gnupg" | ".kube" | ".password-store"
        )
    }) || abs.ends_with("/.docker/config.json")
        || abs.contains("/.config/gcloud")
}

fn lang_name(lang: Lang) -> &'static str {
    match lang {
        Lang::Python => "Python",
        Lang::Perl => "Perl",
        Lang::Ruby => "Ruby",
        Lang::JavaScript => "JavaScript",
        Lang::Php => "PHP",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(lang: Lang, code: &str) -> Option<(Level, Action, String)> {
        assess(lang, code, "t", None, 0, crate::shell_rules::assess_nested)
            .map(|a| (a.level, a.action, a.reason))
    }

    fn level(lang: Lang, code: &str) -> Level {
        judge(lang, code).map_or(Level::Low, |j| j.0)
    }

    #[test]
    fn languages_by_name() {
        assert_eq!(Lang::of_program("python3.12"), Some(Lang::Python));
        assert_eq!(Lang::of_program("php8.2"), Some(Lang::Php));
        assert_eq!(Lang::of_program("pythonista"), None);
        assert_eq!(
            Lang::of_shebang("#!/usr/bin/env -S node --x"),
            Some(Lang::JavaScript)
        );
        assert_eq!(Lang::of_shebang("#!/usr/bin/perl -w"), Some(Lang::Perl));
        assert_eq!(Lang::of_shebang("#!/bin/sh"), None);
        assert_eq!(Lang::of_path("x/run.rb"), Some(Lang::Ruby));
        assert_eq!(Lang::of_path("Makefile"), None);
    }

    #[test]
    fn values_are_followed() {
        let c =
            "import os, shutil\nd = os.path.join(os.path.expanduser('~'), '.')\nshutil.rmtree(d)";
        let (l, a, r) = judge(Lang::Python, c).unwrap();
        assert_eq!((l, a), (Level::Critical, Action::Deny), "{r}");
        assert!(r.starts_with("t: recursive delete of ~/. ("), "{r}");
        assert_eq!(
            level(
                Lang::Python,
                "from pathlib import Path\nPath('/etc') / 'hosts'\nopen(Path('/etc') / 'hosts', 'a')"
            ),
            Level::High
        );
        assert_eq!(
            level(
                Lang::Python,
                "import subprocess\nsubprocess.run('rm -rf /'.split())"
            ),
            Level::Critical
        );
        assert_eq!(
            level(Lang::Perl, "my $d = $ENV{HOME}; system(\"rm -rf $d\")"),
            Level::Critical
        );
        assert_eq!(
            level(
                Lang::JavaScript,
                "const p = require('path').join(require('os').homedir(), 'x'); require('fs').rmSync(p, {recursive: true})"
            ),
            Level::Medium
        );
        assert_eq!(
            level(
                Lang::JavaScript,
                "require('fs').rmSync(require('os').homedir(), {recursive: true})"
            ),
            Level::Critical
        );
    }

    #[test]
    fn methods_are_shown_with_their_receiver() {
        let (_, _, r) = judge(
            Lang::JavaScript,
            "require('fs').rmSync('/', {recursive: true})",
        )
        .unwrap();
        assert_eq!(
            r,
            "t: recursive delete of / (`require('fs').rmSync('/', {recursive: true})`)"
        );
        let (_, _, r) = judge(Lang::Python, "Path('/etc/x').write_text('y')").unwrap();
        assert_eq!(r, "t: writes under /etc (`Path('/etc/x').write_text('y')`)");
    }

    #[test]
    fn harmless_code_is_low() {
        for (lang, code) in [
            (Lang::Python, "print(1)"),
            (
                Lang::Python,
                "import json,sys; print(json.load(sys.stdin)['version'])",
            ),
            (Lang::Python, "open('out.txt', 'w').write('x')"),
            (Lang::Python, "print(open('/etc/passwd').read())"),
            (Lang::Python, "import os; print(os.environ['HOME'])"),
            (Lang::JavaScript, "console.log(process.version)"),
            (Lang::JavaScript, "/a/.exec('abc')"),
            (Lang::JavaScript, "fs.writeFileSync('dist/x.json', '{}')"),
            (Lang::Perl, "print \"hello\\n\""),
            (Lang::Perl, "open(my $f, '<', '/etc/hosts') or die"),
            (Lang::Ruby, "puts RUBY_VERSION"),
            (Lang::Php, "echo PHP_VERSION;"),
        ] {
            assert_eq!(judge(lang, code), None, "{lang:?} {code}");
        }
    }

    #[test]
    fn odd_code_never_panics_and_is_quick() {
        let started = std::time::Instant::now();
        let alphabet: Vec<char> =
            "os.system('rm -rf /')`$%@{}[]()\"\\#;\n=+./:->qxé€ env HOME fs.rmSync r'f\"q{"
                .chars()
                .collect();
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for n in 0..4000 {
            let mut code = String::new();
            for _ in 0..(state % 64) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                code.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let _ = assess(
                Lang::ALL[n % 5],
                &code,
                "t",
                Some("/tmp"),
                0,
                crate::shell_rules::assess_nested,
            );
        }
        let big = "x = 'a' + 'b'\n".repeat(20_000);
        assert_eq!(judge(Lang::Python, &big), None);
        assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    }

    #[test]
    fn nesting_is_bounded() {
        let mut code = "import shutil; shutil.rmtree('/')".to_string();
        for _ in 0..10 {
            code = format!("exec({code:?})");
        }
        // Deeper than the limit: not followed, and no hang.
        let _ = judge(Lang::Python, &code);
        assert_eq!(
            level(
                Lang::Python,
                "exec(\"exec('import shutil; shutil.rmtree(\\\"/\\\")')\")"
            ),
            Level::Critical
        );
    }
}
