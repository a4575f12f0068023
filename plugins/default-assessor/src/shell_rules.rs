//! Rules for shell command lines (`execute_bash` and any tool with a
//! `command` string). The line is parsed with [`paddock_sdk::shell`]; every
//! command in it — nested ones included (substitutions, `bash -c` strings,
//! wrapped commands) — is judged, and the worst verdict wins.

use paddock_sdk::assessor::{Action, Assessment, Level};
use paddock_sdk::shell::{self, Command, Pipeline};

use crate::code::{self, Lang};
use crate::flow::{self, Flow};
use crate::paths::{self, Reach};
use crate::show;

/// How many times decoded text (base64, hex…) is itself decoded and judged.
const MAX_DECODE_DEPTH: u32 = 3;

/// The verdict on a whole command line.
pub fn assess_command_line(src: &str) -> Assessment {
    assess_text(src, 0, None)
}

/// The verdict on a command line found inside something else (code run by
/// an interpreter), `depth` levels down, run in `cwd` (`None`: the
/// workspace).
pub fn assess_nested(src: &str, depth: u32, cwd: Option<&str>) -> Assessment {
    if depth >= MAX_DECODE_DEPTH {
        return Assessment::allow("nested too deeply to be read");
    }
    assess_text(src, depth, cwd)
}

/// The worst verdict seen so far.
#[derive(Default)]
struct Worst(Option<Assessment>);

impl Worst {
    fn add(&mut self, a: Option<Assessment>) {
        if let Some(a) = a {
            self.0 = Some(match self.0.take() {
                Some(cur) => cur.max(a),
                None => a,
            });
        }
    }
}

fn assess_text(src: &str, decode_depth: u32, cwd: Option<&str>) -> Assessment {
    let script = match shell::parse(src) {
        Ok(s) => s,
        Err(e) => {
            return Assessment::ask(
                Level::Medium,
                format!("could not parse the command ({e}), so it was not checked"),
            );
        }
    };
    let mut worst = Worst::default();
    worst.add(fork_bomb(src));
    let mut scripts = Scripts::default();
    let mut state = State::new(cwd);
    for p in &script.pipelines {
        // Pipeline rules first: on a tie their reason (a download piped
        // into `sudo bash`) says more than a command's (`sudo`).
        pipeline_rules(p, src, decode_depth, state.cwd(), &mut worst);
        for c in &p.commands {
            match state.substituted(c, decode_depth) {
                // A command made of variables set earlier in the line is
                // judged with their values instead.
                Some(verdict) => worst.add(verdict),
                None => match state.in_dir(c) {
                    Some((seen, dir)) => {
                        let mut here = Worst::default();
                        command_rules(&seen, decode_depth, &mut here);
                        worst.add(here.0.map(|a| {
                            Assessment::new(
                                a.level,
                                a.action,
                                format!("{}, after cd {dir}", a.reason),
                            )
                        }));
                    }
                    None => command_rules(c, decode_depth, &mut worst),
                },
            }
            // What the command really runs, wrappers (`sudo`, `env`…) stripped.
            let u = c.unwrapped();
            worst.add(unknown_code_rule(c, &u, &state));
            worst.add(
                interpreter_rule(c, &u, src, decode_depth, state.cwd()).map(|a| match &state.cwd {
                    Some((_, dir)) => {
                        Assessment::new(a.level, a.action, format!("{}, after cd {dir}", a.reason))
                    }
                    None => a,
                }),
            );
            worst.add(scripts.see(c, &u, src, decode_depth, state.cwd()));
            state.after(c, p.commands.len());
        }
    }
    worst
        .0
        .unwrap_or_else(|| Assessment::allow("no risky command found"))
}

/// What earlier commands of the line leave behind for later ones: the
/// directory `cd` moved to and the variables assigned.
struct State {
    /// The directory (normalised, but a home directory written `~…`) and
    /// the `cd` argument that led there.
    cwd: Option<(String, String)>,
    vars: Vec<(String, String)>,
    /// Bytes of command text made by putting variables in, so far.
    expanded: std::cell::Cell<usize>,
}

/// The most variables remembered in a line (the oldest are forgotten), and
/// the most text made by putting them into commands (beyond it, commands
/// are judged as written).
const MAX_VARS: usize = 256;
const MAX_EXPANDED: usize = 1 << 20;

impl State {
    fn new(cwd: Option<&str>) -> State {
        State {
            cwd: cwd.map(|d| (paths::normalize(d), d.to_string())),
            vars: Vec::new(),
            expanded: std::cell::Cell::new(0),
        }
    }

    /// The current directory (normalised), `None` for the workspace.
    fn cwd(&self) -> Option<&str> {
        self.cwd.as_ref().map(|(d, _)| d.as_str())
    }

    /// Take in what `c` (a command of a pipeline of `stages`) changes:
    /// `cd DIR`, `NAME=value`, `export NAME=value`.
    fn after(&mut self, c: &Command, stages: usize) {
        if c.words.is_empty() {
            for a in &c.assignments {
                self.assign(a);
            }
            return;
        }
        let prog = c.program().unwrap_or("");
        let args = c.args();
        match prog {
            // A `cd` in a pipeline runs in a subshell of its own.
            "cd" | "pushd" if stages == 1 => {
                let target = args
                    .iter()
                    .find(|a| !(a.starts_with('-') && a.len() > 1))
                    .map_or("~", String::as_str);
                let unknown =
                    target == "-" || (target.starts_with('$') && !target.starts_with("$HOME"));
                self.cwd = if unknown {
                    None
                } else {
                    let abs = paths::normalize(&paths::resolve(self.cwd(), target));
                    // Home-based directories keep their `~` (for messages).
                    let dir = match abs.strip_prefix(paths::HOME) {
                        Some(rest) => format!("~{rest}"),
                        None => abs,
                    };
                    (dir != paths::WORKSPACE).then(|| (dir, target.to_string()))
                };
            }
            "export" | "declare" | "typeset" | "local" | "readonly" => {
                for a in args.iter().filter(|a| !a.starts_with('-')) {
                    self.assign(a);
                }
            }
            _ => {}
        }
    }

    fn assign(&mut self, word: &str) {
        let Some((name, value)) = word.split_once('=') else {
            return;
        };
        let name = name.trim_end_matches('+');
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return;
        }
        // A value that grows past 64 KiB (`A=$A$A` again and again) is kept
        // as written.
        let value = self
            .expand(value, false)
            .filter(|v| v.len() <= 64 * 1024)
            .unwrap_or_else(|| value.to_string());
        self.vars.retain(|(n, _)| n != name);
        if self.vars.len() >= MAX_VARS {
            self.vars.remove(0);
        }
        self.vars.push((name.to_string(), value));
    }

    /// `text` with the known variables put in (`$C`, `${C}`), escaped for
    /// double quotes when `escape`; `None` when it uses none.
    fn expand(&self, text: &str, escape: bool) -> Option<String> {
        if !text.contains('$') || self.vars.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut used = false;
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let (name, len) = match after.strip_prefix('{') {
                Some(inner) => match inner.find('}') {
                    Some(end) => (&inner[..end], end + 2),
                    None => ("", 0),
                },
                None => {
                    let end = after
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(after.len());
                    (&after[..end], end)
                }
            };
            match self.vars.iter().find(|(n, _)| n == name) {
                Some((_, value)) if !name.is_empty() => {
                    if escape {
                        for ch in value.chars() {
                            if matches!(ch, '"' | '\\' | '$' | '`') {
                                out.push('\\');
                            }
                            out.push(ch);
                        }
                    } else {
                        out.push_str(value);
                    }
                    used = true;
                    rest = &after[len..];
                }
                _ => {
                    out.push('$');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        used.then_some(out)
    }

    /// The verdict on `c` with the variables set earlier put in, when it
    /// uses any (`C="rm -rf /"; $C`, `X=/; rm -rf $X`, `eval "$C"`).
    fn substituted(&self, c: &Command, decode_depth: u32) -> Option<Option<Assessment>> {
        if c.words.is_empty() || decode_depth >= MAX_DECODE_DEPTH {
            return None;
        }
        let text = self.expand(&c.text, false)?;
        let spent = self.expanded.get() + 2 * text.len();
        if spent > MAX_EXPANDED {
            return None;
        }
        self.expanded.set(spent);
        // A value put in as it is may break the command's quoting (`"$C"`
        // with a `"` in C): then escaped, as inside double quotes.
        let text = if shell::parse(&text).is_ok() {
            text
        } else {
            match self.expand(&c.text, true) {
                Some(t) if shell::parse(&t).is_ok() => t,
                _ => {
                    return Some(medium(
                        "with the variables set earlier put in, the command does not parse, \
                         so it was not checked"
                            .into(),
                        c,
                    ));
                }
            }
        };
        let inner = assess_text(&text, decode_depth + 1, self.cwd());
        let used: Vec<String> = self
            .vars
            .iter()
            .filter(|(n, _)| {
                c.text.contains(&format!("${n}")) || c.text.contains(&format!("${{{n}}}"))
            })
            .map(|(n, v)| format!("${n} = {}", show(v)))
            .collect();
        Some(
            (inner.level > Level::Low || inner.action != Action::Allow).then(|| {
                Assessment::new(
                    inner.level,
                    inner.action,
                    format!("{}, with {}", inner.reason, used.join(", ")),
                )
            }),
        )
    }

    /// `c` with its relative paths put under the directory an earlier `cd`
    /// moved to, and that `cd`'s argument; `None` in the workspace.
    fn in_dir(&self, c: &Command) -> Option<(Command, String)> {
        let (dir, shown) = self.cwd.as_ref()?;
        let prog = c.program()?;
        let mut seen = c.clone();
        let fix = |w: &str| paths::resolve(Some(dir.as_str()), w);
        let relative = |w: &str| {
            !(w.is_empty()
                || w.starts_with(['/', '~', '$', '-'])
                || w.contains("://")
                || matches!(w, "{}" | ";" | "+" | "\\;"))
        };
        for r in &mut seen.redirects {
            let op = r.op.trim_start_matches(|ch: char| ch.is_ascii_digit());
            if (r.writes() || op == "<") && relative(&r.target) {
                r.target = fix(&r.target);
            }
        }
        let path_args = matches!(
            prog,
            "rm" | "rmdir"
                | "unlink"
                | "shred"
                | "find"
                | "cp"
                | "mv"
                | "install"
                | "ln"
                | "rsync"
                | "tee"
                | "touch"
                | "mkdir"
                | "truncate"
                | "chmod"
                | "chown"
                | "chgrp"
                | "sed"
        );
        if path_args {
            let mut first_operand = matches!(prog, "chmod" | "chown" | "chgrp");
            for w in seen.words.iter_mut().skip(1) {
                if w.starts_with('-') || w.starts_with('+') {
                    continue;
                }
                if first_operand {
                    first_operand = false;
                    continue;
                }
                if relative(w) {
                    *w = fix(w);
                }
            }
        } else if prog == "dd" {
            for w in seen.words.iter_mut().skip(1) {
                if let Some(v) = w.strip_prefix("of=")
                    && relative(v)
                {
                    *w = format!("of={}", fix(v));
                }
            }
        }
        (seen != *c).then(|| (seen, shown.clone()))
    }
}

/// Code run from a variable whose value the line does not show: `eval
/// "$X"`, `bash -c "$X"`, `python -c "$X"` (asks: it was not checked).
fn unknown_code_rule(c: &Command, u: &Command, state: &State) -> Option<Assessment> {
    let prog = u.program()?;
    let args = u.args();
    let code: Vec<&str> = if prog == "eval" {
        args.iter().map(String::as_str).collect()
    } else if shell::is_shell(prog) || Lang::of_program(prog).is_some() {
        interpreter_code_args(prog, args)
            .into_iter()
            .map(|(_, code)| code)
            .collect()
    } else {
        return None;
    };
    let word = code.into_iter().find(|w| is_variable(w))?;
    let name = word
        .trim_start_matches("${")
        .trim_start_matches('$')
        .trim_end_matches('}');
    if state.vars.iter().any(|(n, _)| n == name) {
        return None;
    }
    medium(
        format!("runs code from the variable {word}, whose value is not known here"),
        c,
    )
}

/// Whether `w` is one variable, `$NAME` or `${NAME}` (not `$1`, not `$(…)`).
fn is_variable(w: &str) -> bool {
    let name = match w.strip_prefix("${") {
        Some(inner) => match inner.strip_suffix('}') {
            Some(n) => n,
            None => return false,
        },
        None => match w.strip_prefix('$') {
            Some(n) => n,
            None => return false,
        },
    };
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The code strings given on an interpreter's or a shell's command line:
/// `-c CODE` (Python, shells), `-e`/`-E CODE` (Perl, Ruby, Node; Perl takes
/// several), `-p`/`--eval`/`--print CODE` (Node), `-r CODE` (PHP).
fn interpreter_code_args<'a>(prog: &str, args: &'a [String]) -> Vec<(&'a str, &'a str)> {
    let lang = Lang::of_program(prog);
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        i += 1;
        if a == "--" {
            break;
        }
        if let Some(v) = a
            .strip_prefix("--eval=")
            .or_else(|| a.strip_prefix("--print="))
        {
            out.push((a.split('=').next().unwrap_or("--eval"), v));
            continue;
        }
        if !a.starts_with('-') || a.len() < 2 {
            // The script, or the code's own arguments.
            break;
        }
        let takes = match lang {
            None => !a.starts_with("--") && a.contains('c'),
            Some(Lang::Python) => !a.starts_with("--") && a.ends_with('c'),
            Some(Lang::Perl) => {
                !a.starts_with("--") && !a.starts_with("-M") && a.ends_with(['e', 'E'])
            }
            Some(Lang::Ruby) => !a.starts_with("--") && !a.starts_with("-r") && a.ends_with('e'),
            Some(Lang::JavaScript) => {
                matches!(a.as_str(), "--eval" | "--print")
                    || (!a.starts_with("--") && a.ends_with(['e', 'p']) && a.len() <= 3)
            }
            Some(Lang::Php) => a == "-r",
        };
        if takes {
            if let Some(code) = args.get(i) {
                out.push((a.as_str(), code.as_str()));
                i += 1;
            }
            if lang != Some(Lang::Perl) {
                break;
            }
        } else if lang == Some(Lang::Python) && matches!(a.as_str(), "-m" | "-W" | "-X") {
            if a == "-m" {
                break;
            }
            i += 1;
        } else if lang.is_none() && matches!(a.as_str(), "-o" | "-O" | "+o" | "+O") {
            i += 1;
        }
    }
    out
}

/// Code given to an interpreter on its command line (`python -c`, `perl
/// -e`, `node -e`, `ruby -e`, `php -r`) or on its standard input from a
/// here-document or here-string (`python3 - <<EOF`), judged by the code
/// rules.
fn interpreter_rule(
    c: &Command,
    u: &Command,
    src: &str,
    decode_depth: u32,
    cwd: Option<&str>,
) -> Option<Assessment> {
    let prog = u.program()?;
    let lang = Lang::of_program(prog)?;
    let args = u.args();
    let inline = interpreter_code_args(prog, args);
    let (code, label) = if let Some((opt, _)) = inline.first() {
        let code: Vec<&str> = inline.iter().map(|(_, code)| *code).collect();
        (code.join("\n"), format!("{prog} {opt}"))
    } else if reads_code_from_stdin(u) {
        let here_string = c
            .redirects
            .iter()
            .rev()
            .find(|r| r.op.ends_with("<<<"))
            .map(|r| r.target.clone());
        match here_string {
            Some(s) => (s, format!("{prog} here-string")),
            None => (
                flow::heredoc_bodies(src, c).into_iter().next()?,
                format!("{prog} here-document"),
            ),
        }
    } else {
        return None;
    };
    code::assess(lang, &code, &label, cwd, decode_depth, assess_nested)
}

/// A verdict on `cmd`: `what` was found, quoted with the command.
fn verdict(level: Level, action: Action, what: String, cmd: &Command) -> Option<Assessment> {
    Some(Assessment::new(
        level,
        action,
        format!("{what} ({})", show(&cmd.text)),
    ))
}

fn critical(what: String, cmd: &Command) -> Option<Assessment> {
    verdict(Level::Critical, Action::Deny, what, cmd)
}

fn high_ask(what: String, cmd: &Command) -> Option<Assessment> {
    verdict(Level::High, Action::Ask, what, cmd)
}

fn high_deny(what: String, cmd: &Command) -> Option<Assessment> {
    verdict(Level::High, Action::Deny, what, cmd)
}

fn medium(what: String, cmd: &Command) -> Option<Assessment> {
    verdict(Level::Medium, Action::Ask, what, cmd)
}

// ---------------------------------------------------------------------------
// Argument helpers
// ---------------------------------------------------------------------------

/// The non-option arguments of `args`: short options in `short_arg` and long
/// options in `long_arg` consume the next word when their value is not
/// attached; everything after `--` is an operand.
fn operands<'a>(args: &'a [String], short_arg: &str, long_arg: &[&str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        i += 1;
        if a == "--" {
            out.extend(args[i..].iter().map(String::as_str));
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            if !long.contains('=') && long_arg.contains(&long) {
                i += 1;
            }
            continue;
        }
        if a.len() > 1 && a.starts_with('-') {
            let cluster = &a[1..];
            if let Some(pos) = cluster.find(|c| short_arg.contains(c))
                && pos + 1 == cluster.len()
            {
                i += 1;
            }
            continue;
        }
        out.push(a.as_str());
    }
    out
}

/// The value of an option: `-o VALUE`, `-oVALUE`, `--output VALUE`,
/// `--output=VALUE` (every occurrence).
fn option_values<'a>(args: &'a [String], short: Option<char>, long: &[&str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        i += 1;
        if a == "--" {
            break;
        }
        if let Some(l) = a.strip_prefix("--") {
            for name in long {
                if l == *name {
                    if let Some(v) = args.get(i) {
                        out.push(v.as_str());
                        i += 1;
                    }
                } else if let Some(v) = l.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
                    out.push(v);
                }
            }
            continue;
        }
        if let (Some(s), Some(cluster)) = (short, a.strip_prefix('-'))
            && cluster.starts_with(s)
        {
            let rest = &cluster[s.len_utf8()..];
            if rest.is_empty() {
                if let Some(v) = args.get(i) {
                    out.push(v.as_str());
                    i += 1;
                }
            } else {
                out.push(rest);
            }
        }
    }
    out
}

/// Whether a short flag appears alone or in a cluster (`-rf`), or one of
/// the long forms appears (`--recursive`).
fn has_flag(args: &[String], short: &str, long: &[&str]) -> bool {
    for a in args {
        if a == "--" {
            break;
        }
        if let Some(l) = a.strip_prefix("--") {
            if long.contains(&l) {
                return true;
            }
        } else if let Some(cluster) = a.strip_prefix('-')
            && cluster.chars().any(|c| short.contains(c))
        {
            return true;
        }
    }
    false
}

/// The subcommand words of a CLI (its operands, options skipped).
fn subcommands(args: &[String]) -> Vec<&str> {
    args.iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect()
}

fn list(items: &[&str]) -> String {
    let mut shown: Vec<&str> = items.iter().take(3).copied().collect();
    if items.len() > 3 {
        shown.push("…");
    }
    shown.join(", ")
}

fn is_python(prog: &str) -> bool {
    prog.strip_prefix("python")
        .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

fn is_interpreter(prog: &str) -> bool {
    is_python(prog)
        || matches!(
            prog,
            "perl"
                | "ruby"
                | "node"
                | "nodejs"
                | "php"
                | "lua"
                | "luajit"
                | "pwsh"
                | "tclsh"
                | "osascript"
                | "deno"
                | "bun"
        )
}

// ---------------------------------------------------------------------------
// Per-command rules
// ---------------------------------------------------------------------------

fn command_rules(c: &Command, decode_depth: u32, worst: &mut Worst) {
    worst.add(write_rules(c));
    worst.add(secret_read_rule(c));
    worst.add(code_sink_rule(c, decode_depth));
    let Some(prog) = c.program() else { return };
    let args = c.args();
    let verdict = match prog {
        "rm" => rm_rule(c),
        "find" => find_rule(c),
        "dd" => dd_rule(c),
        "wipefs" if has_flag(args, "a", &["all"]) => {
            critical("wipes filesystem signatures".into(), c)
        }
        p if p.starts_with("mkfs") || p == "mke2fs" => critical("formats a filesystem".into(), c),
        "sudo" | "doas" | "su" | "pkexec" | "sudoedit" | "run0" => {
            high_ask(format!("runs a command with root privileges via {prog}"), c)
        }
        "chmod" => chmod_rule(c),
        "chown" | "chgrp" => chown_rule(c),
        "git" => git_rule(args, &c.text),
        "npm" | "yarn" | "pnpm" | "bun" => node_rule(c),
        "cargo" | "twine" | "gem" | "poetry" | "uv" | "hatch" | "flit" | "mvn" | "dotnet" => {
            publish_rule(c)
        }
        "docker" | "podman" | "nerdctl" => container_rule(c),
        p if p
            .strip_prefix("pip")
            .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.')) =>
        {
            if subcommands(args).first() == Some(&"install") {
                medium("installs Python packages".into(), c)
            } else {
                None
            }
        }
        p if is_python(p) => python_pip_rule(c),
        "pipx" if subcommands(args).first() == Some(&"install") => {
            medium("installs a Python application".into(), c)
        }
        "apt" | "apt-get" | "aptitude" | "dnf" | "yum" | "microdnf" | "apk" | "zypper"
        | "pacman" | "brew" | "snap" | "port" | "dpkg" | "rpm" | "conda" | "mamba" => {
            package_rule(c)
        }
        "shutdown" | "reboot" | "halt" | "poweroff" => {
            high_ask("shuts down or reboots the machine".into(), c)
        }
        "systemctl"
            if subcommands(args)
                .first()
                .is_some_and(|s| matches!(*s, "poweroff" | "reboot" | "halt" | "kexec")) =>
        {
            high_ask("shuts down or reboots the machine".into(), c)
        }
        "init" | "telinit" if args.iter().any(|a| a == "0" || a == "6") => {
            high_ask("shuts down or reboots the machine".into(), c)
        }
        "crontab" if has_flag(args, "r", &[]) => high_ask("removes every cron job".into(), c),
        "kill" => kill_rule(c),
        "curl" => curl_rule(c),
        "wget" => wget_rule(c),
        "scp" | "rsync" | "sftp" => copy_out_rule(c),
        "ssh" => ssh_rule(c, decode_depth),
        _ => None,
    };
    worst.add(verdict);
}

/// `rm -r` of `/`, home or a system directory is critical; any other
/// recursive delete asks.
fn rm_rule(c: &Command) -> Option<Assessment> {
    let args = c.args();
    let mut recursive = false;
    let mut no_preserve_root = false;
    let mut targets = Vec::new();
    let mut options_done = false;
    for a in args {
        if !options_done && a == "--" {
            options_done = true;
        } else if !options_done && a.starts_with("--") {
            match a.as_str() {
                "--recursive" => recursive = true,
                "--no-preserve-root" => no_preserve_root = true,
                _ => {}
            }
        } else if !options_done && a.len() > 1 && a.starts_with('-') {
            if a.contains(['r', 'R']) {
                recursive = true;
            }
        } else {
            targets.push(a.as_str());
        }
    }
    if no_preserve_root {
        return critical("recursive delete with --no-preserve-root".into(), c);
    }
    let mut others = Vec::new();
    for t in &targets {
        match paths::reach(t) {
            Reach::Root | Reach::Home | Reach::SystemDir(_) if recursive => {
                return critical(format!("recursive delete of {t}"), c);
            }
            Reach::Root | Reach::Home | Reach::SystemDir(_) => {
                return high_ask(format!("deletes files directly in {t}"), c);
            }
            // Writes under /etc and /usr are denied by the write rules.
            Reach::Protected(_) => {}
            Reach::Other => others.push(*t),
        }
    }
    if recursive && !others.is_empty() {
        return medium(format!("recursive delete of {}", list(&others)), c);
    }
    if recursive && targets.is_empty() {
        // Targets supplied at run time (`xargs rm -rf`).
        return medium("recursive delete of files chosen at run time".into(), c);
    }
    None
}

/// `find … -delete` (or `-exec rm`) from `/`, home or a system directory.
fn find_rule(c: &Command) -> Option<Assessment> {
    let args = c.args();
    let deletes = args.iter().any(|a| a == "-delete")
        || args.windows(2).any(|w| {
            matches!(w[0].as_str(), "-exec" | "-execdir" | "-ok" | "-okdir")
                && w[1].rsplit('/').next() == Some("rm")
        });
    if !deletes {
        return None;
    }
    let mut starts: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .take_while(|a| !a.starts_with('-') && *a != "(" && *a != "!")
        .collect();
    if starts.is_empty() {
        starts.push(".");
    }
    for s in &starts {
        match paths::reach(s) {
            Reach::Root | Reach::Home | Reach::SystemDir(_) => {
                return critical(format!("deletes everything under {s} with find"), c);
            }
            Reach::Protected(tree) => return high_deny(format!("deletes files under {tree}"), c),
            Reach::Other => {}
        }
    }
    medium("deletes files with find".into(), c)
}

/// `dd of=/dev/…`.
fn dd_rule(c: &Command) -> Option<Assessment> {
    for a in c.args() {
        let Some(of) = a.strip_prefix("of=") else {
            continue;
        };
        if paths::is_harmless_device(of) {
            continue;
        }
        if paths::normalize(of).starts_with("/dev/") {
            return critical(format!("writes raw data onto the device {of} with dd"), c);
        }
        if let Some(tree) = paths::protected_tree(of) {
            return high_deny(format!("writes under {tree}"), c);
        }
    }
    None
}

/// Whether a chmod mode makes files writable by everyone: octal with the
/// others' write bit (777, 666, 0777…), or `o+w`, `a+rwx`, `ugo=rw`…
fn world_writable(mode: &str) -> bool {
    if !mode.is_empty() && mode.chars().all(|c| c.is_digit(8)) {
        return mode
            .chars()
            .last()
            .and_then(|d| d.to_digit(8))
            .is_some_and(|d| d & 2 != 0);
    }
    mode.split(',').any(|clause| {
        let who: String = clause.chars().take_while(|c| "ugoa".contains(*c)).collect();
        let rest = &clause[who.len()..];
        let everyone = who.contains('o') || who.contains('a');
        let mut op = ' ';
        let mut found = false;
        for ch in rest.chars() {
            match ch {
                '+' | '-' | '=' => op = ch,
                'w' if everyone && (op == '+' || op == '=') => found = true,
                _ => {}
            }
        }
        found
    })
}

/// chmod's mode, whether it recurses, and its targets.
fn chmod_parts(args: &[String]) -> (Option<&str>, bool, Vec<&str>) {
    let mut recursive = false;
    let mut mode = None;
    let mut targets = Vec::new();
    for a in args {
        if a == "--recursive" {
            recursive = true;
        } else if let Some(r) = a.strip_prefix("--reference=") {
            mode = mode.or(Some(r));
        } else if a.starts_with("--") {
        } else if a.len() > 1 && a.starts_with('-') && a[1..].chars().all(|c| "Rvcf".contains(c)) {
            recursive |= a.contains('R');
        } else if mode.is_none() {
            mode = Some(a.as_str());
        } else {
            targets.push(a.as_str());
        }
    }
    (mode, recursive, targets)
}

fn chmod_rule(c: &Command) -> Option<Assessment> {
    let (mode, recursive, targets) = chmod_parts(c.args());
    if mode.is_some_and(world_writable) {
        return high_ask(format!("makes {} writable by everyone", list(&targets)), c);
    }
    recursive_outside(recursive, &targets, "permissions", c)
}

/// Medium when a recursive change of `what` reaches outside the workspace.
fn recursive_outside(
    recursive: bool,
    targets: &[&str],
    what: &str,
    c: &Command,
) -> Option<Assessment> {
    let outside: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|t| !paths::is_in_workspace(t))
        .collect();
    if recursive && !outside.is_empty() {
        return medium(
            format!(
                "changes {what} recursively outside the workspace ({})",
                list(&outside)
            ),
            c,
        );
    }
    None
}

fn chown_rule(c: &Command) -> Option<Assessment> {
    let args = c.args();
    let recursive = has_flag(args, "R", &["recursive"]);
    let ops = operands(args, "", &[]);
    let targets = ops.get(1..).unwrap_or(&[]);
    recursive_outside(recursive, targets, "ownership", c)
}

/// `git push` (force: high), `git reset --hard`, `git clean -f`. `args`
/// follow the program; `text` is for the message.
pub fn git_rule(args: &[String], text: &str) -> Option<Assessment> {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if matches!(
            a.as_str(),
            "-C" | "-c"
                | "--git-dir"
                | "--work-tree"
                | "--namespace"
                | "--config-env"
                | "--exec-path"
        ) {
            i += 2;
        } else if a.starts_with('-') {
            i += 1;
        } else {
            break;
        }
    }
    let sub = args.get(i)?;
    let rest = &args[i + 1..];
    let shown = show(text);
    match sub.as_str() {
        "push" => {
            let force = rest.iter().any(|r| {
                r == "--force"
                    || r.starts_with("--force-with-lease")
                    || r == "--force-if-includes"
                    || r == "--mirror"
                    || (r.len() > 1 && r.starts_with('+'))
                    || r.contains(":+")
                    || (r.starts_with('-') && !r.starts_with("--") && r.contains('f'))
            });
            Some(if force {
                Assessment::ask(Level::High, format!("force-pushes with git ({shown})"))
            } else {
                Assessment::ask(Level::Medium, format!("pushes to a git remote ({shown})"))
            })
        }
        "reset" if rest.iter().any(|r| r == "--hard") => Some(Assessment::ask(
            Level::Medium,
            format!("discards uncommitted changes with git reset --hard ({shown})"),
        )),
        "clean" => {
            let force = has_flag(rest, "f", &["force"]);
            let dry = has_flag(rest, "n", &["dry-run"]);
            (force && !dry).then(|| {
                Assessment::ask(
                    Level::Medium,
                    format!("deletes untracked files with git clean ({shown})"),
                )
            })
        }
        _ => None,
    }
}

/// npm/yarn/pnpm/bun: publishing, global installs.
fn node_rule(c: &Command) -> Option<Assessment> {
    let args = c.args();
    let subs = subcommands(args);
    let first = subs.first().copied();
    if matches!(first, Some("publish" | "unpublish")) || subs.starts_with(&["npm", "publish"]) {
        return medium("publishes a package".into(), c);
    }
    let global = args
        .iter()
        .any(|a| a == "-g" || a == "--global" || a == "--location=global");
    let installs = matches!(first, Some("install" | "i" | "add" | "isntall" | "in"));
    if (installs && global) || subs.starts_with(&["global", "add"]) {
        return medium("installs packages globally".into(), c);
    }
    None
}

/// cargo/twine/gem/poetry/uv/hatch/flit/mvn/dotnet: publishing; `uv pip
/// install`.
fn publish_rule(c: &Command) -> Option<Assessment> {
    let prog = c.program().unwrap_or("");
    let args = c.args();
    let subs = subcommands(args);
    let dry = args
        .iter()
        .any(|a| a == "--dry-run" || a == "-n" && prog == "cargo");
    let publishes = match prog {
        "cargo" | "poetry" | "uv" | "hatch" | "flit" => subs.first() == Some(&"publish"),
        "twine" => subs.first() == Some(&"upload"),
        "gem" => subs.first() == Some(&"push"),
        "mvn" => subs.contains(&"deploy"),
        "dotnet" => subs.starts_with(&["nuget", "push"]),
        _ => false,
    };
    if publishes && !dry {
        return medium("publishes a package".into(), c);
    }
    if prog == "uv"
        && (subs.starts_with(&["pip", "install"]) || subs.starts_with(&["tool", "install"]))
    {
        return medium("installs Python packages".into(), c);
    }
    None
}

/// `python -m pip install`.
fn python_pip_rule(c: &Command) -> Option<Assessment> {
    let args = c.args();
    let m = args.iter().position(|a| a == "-m")?;
    let module = args.get(m + 1)?;
    if (module == "pip" || module == "pip3")
        && subcommands(&args[m + 2..]).first() == Some(&"install")
    {
        return medium("installs Python packages".into(), c);
    }
    None
}

/// docker/podman run and exec; privileged containers and host-root mounts.
fn container_rule(c: &Command) -> Option<Assessment> {
    let prog = c.program().unwrap_or("");
    let args = c.args();
    let ops = operands(args, "Hcl", &["host", "context", "config", "log-level"]);
    let mut sub = ops.first().copied();
    if sub == Some("container") {
        sub = ops.get(1).copied();
    }
    if prog != "docker" && prog != "podman" && prog != "nerdctl" {
        return None;
    }
    match sub {
        Some("run" | "create") => {
            let privileged = args
                .iter()
                .any(|a| a == "--privileged" || a == "--privileged=true");
            let caps = option_values(args, None, &["cap-add"]);
            let all_caps = caps
                .iter()
                .any(|v| v.eq_ignore_ascii_case("all") || v.eq_ignore_ascii_case("sys_admin"));
            if privileged || all_caps {
                return high_ask("runs a privileged container".into(), c);
            }
            let volumes = option_values(args, Some('v'), &["volume"]);
            let mounts = option_values(args, None, &["mount"]);
            let root_mount = volumes.iter().any(|v| v.starts_with("/:"))
                || mounts
                    .iter()
                    .any(|m| m.split(',').any(|kv| matches!(kv, "source=/" | "src=/")));
            if root_mount {
                return high_ask(
                    "mounts the host's root filesystem into a container".into(),
                    c,
                );
            }
            medium("runs a container".into(), c)
        }
        Some("exec") => medium("runs a command in a container".into(), c),
        Some("push") => medium("publishes a container image".into(), c),
        _ => None,
    }
}

/// System package managers installing or removing packages.
fn package_rule(c: &Command) -> Option<Assessment> {
    let prog = c.program().unwrap_or("");
    let args = c.args();
    let subs = subcommands(args);
    let first = subs.first().copied().unwrap_or("");
    let changes = match prog {
        "apt" | "apt-get" | "aptitude" => matches!(
            first,
            "install"
                | "reinstall"
                | "remove"
                | "purge"
                | "autoremove"
                | "upgrade"
                | "full-upgrade"
                | "dist-upgrade"
        ),
        "dnf" | "yum" | "microdnf" => matches!(
            first,
            "install" | "reinstall" | "remove" | "erase" | "upgrade" | "update" | "downgrade"
        ),
        "apk" => matches!(first, "add" | "del"),
        "zypper" => matches!(
            first,
            "install" | "in" | "remove" | "rm" | "update" | "up" | "dup"
        ),
        "brew" | "snap" | "port" | "conda" | "mamba" => {
            matches!(
                first,
                "install" | "reinstall" | "upgrade" | "uninstall" | "remove"
            )
        }
        "pacman" => args.iter().any(|a| {
            (a.starts_with("-S") && !matches!(a.as_str(), "-Ss" | "-Si" | "-Sl" | "-Sg"))
                || a.starts_with("-U")
                || a.starts_with("-R")
        }),
        "dpkg" => args.iter().any(|a| {
            matches!(
                a.as_str(),
                "-i" | "--install" | "-r" | "--remove" | "-P" | "--purge"
            )
        }),
        "rpm" => args.iter().any(|a| {
            a.starts_with("-i") || a.starts_with("-U") || a.starts_with("-e") || a.starts_with("-F")
        }),
        _ => false,
    };
    changes.then(|| {
        Assessment::ask(
            Level::Medium,
            format!(
                "installs or removes packages with {prog} ({})",
                show(&c.text)
            ),
        )
    })
}

/// `kill -9 -1`: every process the user can signal.
fn kill_rule(c: &Command) -> Option<Assessment> {
    let args = c.args();
    let mut signal_given = false;
    let mut pids: Vec<&str> = Vec::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        i += 1;
        if a == "--" {
            pids.extend(args[i..].iter().map(String::as_str));
            break;
        }
        if matches!(a.as_str(), "-s" | "-n" | "--signal") {
            i += 1;
            signal_given = true;
        } else if matches!(a.as_str(), "-l" | "-L" | "--list" | "--table") {
            return None;
        } else if !signal_given && pids.is_empty() && a.len() > 1 && a.starts_with('-') {
            signal_given = true;
        } else {
            pids.push(a);
        }
    }
    if pids.contains(&"-1") {
        return high_ask("kills every process it can".into(), c);
    }
    None
}

/// The files a curl command uploads, and whether it sends data at all.
fn curl_uploads(args: &[String]) -> (Vec<String>, bool) {
    let mut files = Vec::new();
    let mut sends = false;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        i += 1;
        let (name, value): (&str, Option<&str>) = if let Some(long) = a.strip_prefix("--") {
            match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            }
        } else if a.len() > 1 && a.starts_with('-') {
            // A short option taking a value ends a cluster: `-sd @x`, `-d@x`.
            let cluster = &a[1..];
            match cluster.find(['d', 'F', 'T', 'X']) {
                Some(pos) => {
                    let rest = &cluster[pos + 1..];
                    (&cluster[pos..pos + 1], (!rest.is_empty()).then_some(rest))
                }
                None => continue,
            }
        } else {
            continue;
        };
        let takes = matches!(
            name,
            "d" | "data"
                | "data-binary"
                | "data-raw"
                | "data-ascii"
                | "data-urlencode"
                | "json"
                | "F"
                | "form"
                | "form-string"
                | "T"
                | "upload-file"
                | "X"
                | "request"
        );
        if !takes {
            continue;
        }
        let value = match value {
            Some(v) => v,
            None => match args.get(i) {
                Some(v) => {
                    i += 1;
                    v.as_str()
                }
                None => continue,
            },
        };
        match name {
            "X" | "request" => {
                if matches!(
                    value.to_ascii_uppercase().as_str(),
                    "POST" | "PUT" | "PATCH" | "DELETE"
                ) {
                    sends = true;
                }
            }
            "T" | "upload-file" => {
                sends = true;
                files.push(value.to_string());
            }
            "F" | "form" => {
                sends = true;
                if let Some((_, v)) = value.split_once('=')
                    && let Some(f) = v.strip_prefix('@').or_else(|| v.strip_prefix('<'))
                {
                    files.push(f.split(';').next().unwrap_or(f).to_string());
                }
            }
            "data-urlencode" => {
                sends = true;
                if let Some((_, f)) = value.split_once('@') {
                    files.push(f.to_string());
                }
            }
            "form-string" | "data-raw" => sends = true,
            _ => {
                sends = true;
                if let Some(f) = value.strip_prefix('@') {
                    files.push(f.to_string());
                }
            }
        }
    }
    (files, sends)
}

fn curl_rule(c: &Command) -> Option<Assessment> {
    let (files, sends) = curl_uploads(c.args());
    if let Some(f) = files.iter().find(|f| paths::is_secret_file(f)) {
        return high_ask(format!("uploads the secret file {f}"), c);
    }
    if sends {
        return medium("sends data to a remote server with curl".into(), c);
    }
    None
}

fn wget_rule(c: &Command) -> Option<Assessment> {
    let args = c.args();
    let files = option_values(args, None, &["post-file", "body-file"]);
    if let Some(f) = files.iter().find(|f| paths::is_secret_file(f)) {
        return high_ask(format!("uploads the secret file {f}"), c);
    }
    let data = option_values(args, None, &["post-data", "body-data"]);
    let method = option_values(args, None, &["method"]);
    let posts = method.iter().any(|m| {
        matches!(
            m.to_ascii_uppercase().as_str(),
            "POST" | "PUT" | "PATCH" | "DELETE"
        )
    });
    if !files.is_empty() || !data.is_empty() || posts {
        return medium("sends data to a remote server with wget".into(), c);
    }
    None
}

/// `ssh HOST COMMAND…`: the remote command is judged like a local one.
fn ssh_rule(c: &Command, decode_depth: u32) -> Option<Assessment> {
    let args = c.args();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a == "--" {
            i += 1;
            break;
        }
        if a.len() > 1 && a.starts_with('-') {
            let cluster = &a[1..];
            i += 1;
            if let Some(pos) = cluster.find(|ch| "BbcDEeFIiJLlmOopQRSWw".contains(ch))
                && pos + 1 == cluster.len()
            {
                i += 1;
            }
            continue;
        }
        break;
    }
    let remote = args.get(i + 1..)?;
    if remote.is_empty() || decode_depth >= MAX_DECODE_DEPTH {
        return None;
    }
    let inner = assess_text(&remote.join(" "), decode_depth + 1, None);
    (inner.level > Level::Low || inner.action != Action::Allow).then(|| {
        Assessment::new(
            inner.level,
            inner.action,
            format!("{}, on a remote host via ssh", inner.reason),
        )
    })
}

/// scp/rsync/sftp copying a secret file to a remote host.
fn copy_out_rule(c: &Command) -> Option<Assessment> {
    let ops = operands(c.args(), "eiPFoJcl", &[]);
    let remote = |o: &&str| o.split('/').next().is_some_and(|first| first.contains(':'));
    if !ops.iter().any(remote) {
        return None;
    }
    let secret = ops
        .iter()
        .find(|o| !remote(o) && paths::is_secret_file(o))?;
    high_ask(
        format!("copies the secret file {secret} to a remote host"),
        c,
    )
}

// ---------------------------------------------------------------------------
// Writes, secrets, code
// ---------------------------------------------------------------------------

/// Where a command writes: write redirects, and the destinations of `tee`,
/// `cp`, `mv`, `install`, `ln`, `rsync`, `sed -i`, `perl -i`, `dd of=`,
/// `touch`, `mkdir`, `rm`, `chmod`, `chown`, `truncate`, `curl -o`,
/// `wget -O`, `tar -x -C`, `unzip -d`…
pub fn write_destinations(c: &Command) -> Vec<String> {
    let mut out: Vec<String> = c
        .redirects
        .iter()
        .filter(|r| r.writes())
        .map(|r| r.target.clone())
        .collect();
    let Some(prog) = c.program() else { return out };
    let args = c.args();
    let mut push = |items: Vec<&str>| out.extend(items.into_iter().map(str::to_string));
    match prog {
        "tee" => push(operands(args, "", &["output-error"])),
        "cp" | "install" | "ln" | "rsync" | "mv" => {
            let short = match prog {
                "install" => "mogSt",
                "rsync" => "eBfTM",
                _ => "St",
            };
            let ops = operands(
                args,
                short,
                &["suffix", "target-directory", "rsh", "exclude", "include"],
            );
            let target_dir = option_values(args, Some('t'), &["target-directory"]);
            let ops: Vec<&str> = ops
                .into_iter()
                .filter(|o| {
                    !(prog == "rsync" && o.split('/').next().is_some_and(|f| f.contains(':')))
                })
                .collect();
            if prog == "mv" || (prog == "install" && has_flag(args, "d", &["directory"])) {
                push(ops);
                push(target_dir);
            } else if !target_dir.is_empty() {
                push(target_dir);
            } else if ops.len() >= 2 {
                push(ops.last().copied().into_iter().collect());
            }
        }
        "sed" => {
            let in_place = args.iter().any(|a| {
                a.starts_with("--in-place")
                    || (a.starts_with('-') && !a.starts_with("--") && a.contains('i'))
            });
            if in_place {
                let scripts = option_values(args, Some('e'), &["expression"]).len()
                    + option_values(args, Some('f'), &["file"]).len();
                let ops = operands(args, "efl", &["expression", "file", "line-length"]);
                push(if scripts > 0 {
                    ops
                } else {
                    ops.get(1..).unwrap_or(&[]).to_vec()
                });
            }
        }
        "perl" => {
            let in_place = args
                .iter()
                .any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('i'));
            if in_place {
                let has_code = args
                    .iter()
                    .any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains(['e', 'E']));
                let ops = operands(args, "eE", &[]);
                push(if has_code {
                    ops
                } else {
                    ops.get(1..).unwrap_or(&[]).to_vec()
                });
            }
        }
        "dd" => push(args.iter().filter_map(|a| a.strip_prefix("of=")).collect()),
        "truncate" => push(operands(args, "sr", &["size", "reference"])),
        "touch" => push(operands(args, "dtr", &["date", "reference"])),
        "mkdir" => push(operands(args, "m", &["mode"])),
        "rmdir" | "rm" | "unlink" => push(operands(args, "", &[])),
        "shred" => push(operands(args, "ns", &["iterations", "size"])),
        "chmod" => push(chmod_parts(args).2),
        "chown" | "chgrp" => {
            let ops = operands(args, "", &[]);
            push(ops.get(1..).unwrap_or(&[]).to_vec());
        }
        "curl" => push(option_values(args, Some('o'), &["output"])),
        "wget" => {
            let mut v = option_values(args, Some('O'), &["output-document"]);
            v.extend(option_values(args, Some('P'), &["directory-prefix"]));
            push(v);
        }
        "tar" => {
            let extracting = args
                .first()
                .is_some_and(|a| !a.starts_with('-') && a.contains('x'))
                || has_flag(args, "x", &["extract", "get"]);
            if extracting {
                push(option_values(args, Some('C'), &["directory"]));
            }
        }
        "unzip" => push(option_values(args, Some('d'), &[])),
        _ => {}
    }
    out
}

/// Writes onto disk devices (critical) and under /etc or /usr (denied).
fn write_rules(c: &Command) -> Option<Assessment> {
    let mut verdict: Option<Assessment> = None;
    for d in write_destinations(c) {
        if paths::is_harmless_device(&d) {
            continue;
        }
        let a = if paths::is_disk_device(&d) {
            critical(format!("writes onto the disk device {d}"), c)
        } else if let Some(tree) = paths::protected_tree(&d) {
            high_deny(format!("writes under {tree}"), c)
        } else {
            None
        };
        if let Some(a) = a {
            verdict = Some(match verdict {
                Some(v) => v.max(a),
                None => a,
            });
        }
    }
    verdict
}

/// Programs that show or copy a file's content.
const READERS: &[&str] = &[
    "cat", "tac", "less", "more", "head", "tail", "bat", "batcat", "nl", "strings", "xxd", "od",
    "hexdump", "base64", "base32", "grep", "egrep", "fgrep", "rg", "ag", "awk", "gawk", "sed",
    "cut", "sort", "uniq", "diff", "cmp", "jq", "yq", "vi", "vim", "nvim", "nano", "emacs", "view",
    "code", "cp", "openssl", "gpg", "column", "fold", "paste", "iconv", "zcat",
];

/// Programs that send data over the network.
const SENDERS: &[&str] = &[
    "curl", "wget", "nc", "ncat", "netcat", "socat", "telnet", "ssh", "scp", "sftp", "rsync", "ftp",
];

/// The secret file a command reads, if any: a reader's file operand, or an
/// input redirect from one.
fn secret_read(c: &Command) -> Option<String> {
    for r in &c.redirects {
        let op = r.op.trim_start_matches(|ch: char| ch.is_ascii_digit());
        if (op == "<" || op == "<>") && paths::is_secret_file(&r.target) {
            return Some(r.target.clone());
        }
    }
    let prog = c.program()?;
    if !READERS.contains(&prog) {
        return None;
    }
    let args = c.args();
    let files: Vec<&str> = match prog {
        // The first operand is a pattern or a script unless given by option.
        "grep" | "egrep" | "fgrep" | "rg" | "ag" | "sed" | "awk" | "gawk" => {
            let by_option = has_flag(args, "ef", &["regexp", "file", "expression"]);
            let ops = operands(
                args,
                "efABCmd",
                &["regexp", "file", "expression", "max-count"],
            );
            if by_option {
                ops
            } else {
                ops.get(1..).unwrap_or(&[]).to_vec()
            }
        }
        "cp" => {
            let ops = operands(args, "St", &["suffix", "target-directory"]);
            let n = ops.len().saturating_sub(1);
            ops[..n].to_vec()
        }
        "openssl" | "gpg" => args.iter().map(String::as_str).collect(),
        "head" | "tail" => operands(args, "nc", &["lines", "bytes"]),
        "cut" => operands(args, "dfcb", &["delimiter", "fields"]),
        _ => operands(args, "", &[]),
    };
    files
        .into_iter()
        .find(|f| paths::is_secret_file(f))
        .map(str::to_string)
}

fn secret_read_rule(c: &Command) -> Option<Assessment> {
    let file = secret_read(c)?;
    let prog = c.program().unwrap_or("");
    if SENDERS.contains(&prog) {
        return high_ask(format!("sends the secret file {file} over the network"), c);
    }
    medium(format!("reads the secret file {file}"), c)
}

/// Whether `c` (unwrapped) runs code it reads from its standard input:
/// a shell without `-c` or a script, an interpreter without code or a
/// script, `source /dev/stdin`.
fn reads_code_from_stdin(c: &Command) -> bool {
    let Some(prog) = c.program() else {
        return false;
    };
    let args = c.args();
    if shell::is_shell(prog) {
        let mut i = 0;
        let mut stdin = false;
        while let Some(a) = args.get(i) {
            if a == "--" {
                i += 1;
                break;
            }
            if a.starts_with("--") {
                i += if matches!(a.as_str(), "--rcfile" | "--init-file") {
                    2
                } else {
                    1
                };
                continue;
            }
            if a.len() > 1 && (a.starts_with('-') || a.starts_with('+')) {
                if a.contains('c') {
                    return false;
                }
                stdin |= a.contains('s');
                i += 1 + a.matches(['o', 'O']).count();
                continue;
            }
            break;
        }
        return stdin || args.get(i).is_none_or(|a| a == "-");
    }
    if is_interpreter(prog) {
        let code_option = args.iter().any(|a| {
            matches!(a.as_str(), "--eval" | "--print" | "-r" | "run" | "-m")
                || (a.len() > 1
                    && a.starts_with('-')
                    && !a.starts_with("--")
                    && a.contains(['c', 'e', 'E', 'p']))
        });
        if code_option {
            return false;
        }
        let first = operands(args, "WX", &[]).first().copied();
        return first.is_none_or(|f| f == "-");
    }
    if prog == "source" || prog == "." {
        return args.first().is_some_and(|a| a == "/dev/stdin" || a == "-");
    }
    false
}

/// The verdict on text that a pipeline or substitution hands to `runner`
/// as code: downloads and decodings are high; known text is judged too
/// when `shell_code` (a shell runs it).
fn code_flow_verdict(
    f: &Flow,
    runner: &str,
    shell_code: bool,
    shown: &str,
    decode_depth: u32,
) -> Option<Assessment> {
    let mut verdict: Option<Assessment> = None;
    let mut add = |a: Assessment| {
        verdict = Some(match verdict.take() {
            Some(v) => v.max(a),
            None => a,
        });
    };
    if f.download.is_some() {
        add(Assessment::ask(
            Level::High,
            format!("runs code downloaded from the network with {runner} ({shown})"),
        ));
    }
    if !f.decoded.is_empty() {
        add(Assessment::ask(
            Level::High,
            format!(
                "runs {}-decoded text with {runner} ({shown})",
                f.decoded.join("+")
            ),
        ));
    }
    // Known text is judged as shell code only when a shell runs it.
    if let (Some(text), true) = (&f.text, shell_code)
        && decode_depth < MAX_DECODE_DEPTH
    {
        let inner = assess_text(text, decode_depth + 1, None);
        if inner.level > Level::Low || inner.action != Action::Allow {
            let how = if f.decoded.is_empty() {
                "text".to_string()
            } else {
                format!("{}-decoded text", f.decoded.join("+"))
            };
            add(Assessment::new(
                inner.level,
                inner.action,
                format!("{}, in {how} run by {runner}", inner.reason),
            ));
        }
    }
    verdict
}

fn pipeline_rules(
    p: &Pipeline,
    src: &str,
    decode_depth: u32,
    cwd: Option<&str>,
    worst: &mut Worst,
) {
    if p.commands.len() < 2 {
        return;
    }
    let stages: Vec<Command> = p.commands.iter().map(Command::unwrapped).collect();
    let here: Vec<Vec<String>> = p
        .commands
        .iter()
        .map(|c| flow::heredoc_bodies(src, c))
        .collect();
    let texts: Vec<&str> = p.commands.iter().map(|c| c.text.as_str()).collect();
    for j in 1..stages.len() {
        let sink = &stages[j];
        let shown = show(&texts[..=j].join(" | "));
        let sink_prog = sink.program().unwrap_or("");
        if reads_code_from_stdin(sink) {
            let f = flow::flow(&stages[..j], &here[..j]);
            if f.download.is_some() {
                worst.add(Some(Assessment::ask(
                    Level::High,
                    format!("pipes a download into {sink_prog} ({shown})"),
                )));
            }
            let f = Flow {
                download: None,
                ..f
            };
            let shell_code =
                shell::is_shell(sink_prog) || sink_prog == "source" || sink_prog == ".";
            // Known text piped into an interpreter is judged as its code.
            if let (Some(lang), Some(text)) = (Lang::of_program(sink_prog), &f.text) {
                worst.add(code::assess(
                    lang,
                    text,
                    &format!("{sink_prog} stdin ({shown})"),
                    cwd,
                    decode_depth,
                    assess_nested,
                ));
            }
            worst.add(code_flow_verdict(
                &f,
                sink_prog,
                shell_code,
                &shown,
                decode_depth,
            ));
        }
        if SENDERS.contains(&sink_prog)
            && let Some(file) = stages[..j].iter().find_map(secret_read)
        {
            worst.add(Some(Assessment::ask(
                Level::High,
                format!("sends the secret file {file} over the network ({shown})"),
            )));
        }
    }
}

/// Words of `c` that its program runs as code (or as a script path).
fn code_words(c: &Command) -> Vec<&str> {
    let mut out = Vec::new();
    let Some(first) = c.words.first() else {
        return out;
    };
    if first.contains("$(") || first.contains('`') {
        out.push(first.as_str());
    }
    let prog = c.program().unwrap_or("");
    let args = c.args();
    if shell::is_shell(prog) {
        let mut i = 0;
        while let Some(a) = args.get(i) {
            if a == "--" {
                i += 1;
                break;
            }
            if a.len() > 1 && (a.starts_with('-') || a.starts_with('+')) {
                i += 1 + if a.starts_with("--") {
                    0
                } else {
                    a.matches(['o', 'O']).count()
                };
                continue;
            }
            break;
        }
        out.extend(args.get(i).map(String::as_str));
    } else if is_interpreter(prog) {
        let mut it = args.iter();
        let mut found = false;
        while let Some(a) = it.next() {
            if matches!(a.as_str(), "-c" | "-e" | "-E" | "-r" | "--eval" | "-p") {
                out.extend(it.next().map(String::as_str));
                found = true;
                break;
            }
        }
        if !found {
            out.extend(operands(args, "WXm", &[]).first().copied());
        }
    } else if prog == "eval" {
        out.extend(args.iter().map(String::as_str));
    } else if prog == "source" || prog == "." {
        out.extend(args.first().map(String::as_str));
    }
    out
}

/// Substitutions whose output a command runs as code: `bash -c "$(curl …)"`,
/// `eval "$(echo … | base64 -d)"`, `sh <(wget -O- …)`, `$(…)` as the program.
fn code_sink_rule(c: &Command, decode_depth: u32) -> Option<Assessment> {
    let runner = match c.words.first() {
        Some(w) if !w.contains("$(") && !w.contains('`') => c.program().unwrap_or("the shell"),
        _ => "the shell",
    };
    let shell_code = !is_interpreter(runner);
    let mut verdict: Option<Assessment> = None;
    for word in code_words(c) {
        if !(word.contains("$(") || word.contains('`') || word.contains("<(")) {
            continue;
        }
        let Ok(script) = shell::parse(word) else {
            continue;
        };
        for p in script.pipelines.iter().filter(|p| p.depth >= 1) {
            let stages: Vec<Command> = p.commands.iter().map(Command::unwrapped).collect();
            let here: Vec<Vec<String>> = p
                .commands
                .iter()
                .map(|c| flow::heredoc_bodies(word, c))
                .collect();
            let mut f = flow::flow(&stages, &here);
            if f.download.is_none() {
                f.download = stages
                    .iter()
                    .find(|s| flow::is_downloader(s))
                    .map(|s| s.text.clone());
            }
            if let Some(a) = code_flow_verdict(&f, runner, shell_code, &show(&c.text), decode_depth)
            {
                verdict = Some(match verdict {
                    Some(v) => v.max(a),
                    None => a,
                });
            }
        }
    }
    verdict
}

/// Files this command line writes with known text (`echo … > x.sh`,
/// `cat > x.py <<EOF`, `tee x.js <<EOF`), so that running them later in
/// the same line (`bash x.sh`, `./x.sh`, `source x.sh`, `python3 x.py`,
/// `node x.js`) is judged by their text: shell rules for a shell, code
/// rules for an interpreter or a `#!` line naming one.
#[derive(Default)]
struct Scripts {
    files: Vec<(String, String)>,
}

impl Scripts {
    fn see(
        &mut self,
        c: &Command,
        u: &Command,
        src: &str,
        decode_depth: u32,
        cwd: Option<&str>,
    ) -> Option<Assessment> {
        self.record(c, src, cwd);
        let (path, runner) = script_run_by(u)?;
        let abs = paths::normalize(&paths::resolve(cwd, &path));
        let (_, text) = self.files.iter().rev().find(|(p, _)| *p == abs)?;
        if decode_depth >= MAX_DECODE_DEPTH {
            return None;
        }
        let first = text.lines().next().unwrap_or("");
        let lang = match runner {
            Runner::Shell => None,
            Runner::Lang(lang) => Some(lang),
            // Run directly: the `#!` line says by what (none: a shell).
            Runner::Direct if first.starts_with("#!") => match Lang::of_shebang(first) {
                Some(lang) => Some(lang),
                None if first.contains("sh") => None,
                None => return None,
            },
            Runner::Direct => None,
        };
        let where_ = format!("the script {path} written and run here");
        if let Some(lang) = lang {
            return code::assess(lang, text, &where_, cwd, decode_depth + 1, assess_nested);
        }
        let inner = assess_text(text, decode_depth + 1, cwd);
        (inner.level > Level::Low || inner.action != Action::Allow).then(|| {
            Assessment::new(
                inner.level,
                inner.action,
                format!("{}, in {where_}", inner.reason),
            )
        })
    }

    /// Remember what `c` writes to a file, when its text is known:
    /// `echo`/`printf … > f`, `cat > f <<EOF`, `tee f <<EOF`.
    fn record(&mut self, c: &Command, src: &str, cwd: Option<&str>) {
        let redirect = c.redirects.iter().rev().find(|r| {
            matches!(
                r.op.as_str(),
                ">" | ">>" | ">|" | "1>" | "1>>" | "&>" | "&>>"
            )
        });
        let (target, append) = match (redirect, c.program()) {
            (Some(r), _) => (r.target.clone(), r.op.ends_with(">>")),
            (None, Some("tee")) => {
                let ops = operands(c.args(), "", &[]);
                let append = has_flag(c.args(), "a", &["append"]);
                match ops.first() {
                    Some(f) => (f.to_string(), append),
                    None => return,
                }
            }
            _ => return,
        };
        let text = match c.program() {
            Some("echo" | "printf") => flow::flow(std::slice::from_ref(c), &[]).text,
            Some("cat" | "tee")
                if c.args().iter().all(|a| a.starts_with('-')) || c.program() == Some("tee") =>
            {
                flow::heredoc_bodies(src, c).into_iter().next()
            }
            _ => None,
        };
        let Some(text) = text else { return };
        let abs = paths::normalize(&paths::resolve(cwd, &target));
        if append && let Some((_, old)) = self.files.iter_mut().rev().find(|(p, _)| *p == abs) {
            old.push_str(&text);
            return;
        }
        self.files.push((abs, text));
    }
}

/// What runs a script file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Runner {
    /// A shell: `bash x.sh`, `source x.sh`.
    Shell,
    /// An interpreter: `python3 x.py`, `node x.js`.
    Lang(Lang),
    /// The file itself (`./x`): its `#!` line decides.
    Direct,
}

/// The script file a command runs, and with what: `bash x.sh`, `sh
/// ./x.sh`, `source x.sh`, `. x.sh`, `python3 x.py`, `node x.js`, `./x`.
fn script_run_by(c: &Command) -> Option<(String, Runner)> {
    let prog = c.program()?;
    let args = c.args();
    if shell::is_shell(prog) {
        let mut i = 0;
        while let Some(a) = args.get(i) {
            if a == "--" {
                i += 1;
                break;
            }
            if a.len() > 1 && (a.starts_with('-') || a.starts_with('+')) {
                if !a.starts_with("--") && a.contains('c') {
                    return None;
                }
                i += 1 + if a.starts_with("--") {
                    0
                } else {
                    a.matches(['o', 'O']).count()
                };
                continue;
            }
            break;
        }
        return args
            .get(i)
            .filter(|a| a.as_str() != "-")
            .map(|a| (a.clone(), Runner::Shell));
    }
    if prog == "source" || prog == "." {
        return args.first().map(|a| (a.clone(), Runner::Shell));
    }
    if let Some(lang) = Lang::of_program(prog) {
        if !interpreter_code_args(prog, args).is_empty()
            || (lang == Lang::Python && args.iter().any(|a| a == "-m"))
        {
            return None;
        }
        let short_arg = match lang {
            Lang::Python => "WXQ",
            Lang::Perl | Lang::Ruby => "IC",
            Lang::JavaScript => "r",
            Lang::Php => "cdz",
        };
        let script = operands(args, short_arg, &["require", "import", "loader"])
            .first()
            .copied()
            .filter(|a| *a != "-")?;
        return Some((script.to_string(), Runner::Lang(lang)));
    }
    let first = c.words.first()?;
    first.contains('/').then(|| (first.clone(), Runner::Direct))
}

/// The classic fork bomb, `:(){ :|:& };:`, under any name and spacing.
fn fork_bomb(src: &str) -> Option<Assessment> {
    let compact: String = src.chars().filter(|c| !c.is_whitespace()).collect();
    for (i, _) in compact.match_indices("(){") {
        let head = &compact[..i];
        let name_len: usize = head
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || "_:.-+@".contains(*c))
            .map(char::len_utf8)
            .sum();
        let name = &head[head.len() - name_len..];
        if name.is_empty() {
            continue;
        }
        let body = &compact[i + 3..];
        if body.starts_with(&format!("{name}|{name}")) {
            return Some(Assessment::deny(
                Level::Critical,
                format!("a fork bomb ({})", show(src)),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &[&str]) -> Vec<String> {
        s.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn world_writable_modes() {
        for m in [
            "777", "0777", "666", "1777", "o+w", "a+rwx", "ugo=rw", "u+x,o+w", "go+w",
        ] {
            assert!(world_writable(m), "{m}");
        }
        for m in [
            "644", "755", "0700", "+x", "u+w", "go-w", "o-w", "a+r", "o=r", "",
        ] {
            assert!(!world_writable(m), "{m}");
        }
    }

    #[test]
    fn operands_skip_option_values() {
        let args = words(&[
            "-n", "5", "-v", "a", "--suffix", "x", "--mode=7", "b", "--", "-c",
        ]);
        assert_eq!(operands(&args, "n", &["suffix"]), ["a", "b", "-c"]);
        let args = words(&["-tDIR", "-o", "out", "--output=o2", "--output", "o3"]);
        assert_eq!(
            option_values(&args, Some('o'), &["output"]),
            ["out", "o2", "o3"]
        );
        assert_eq!(option_values(&args, Some('t'), &[]), ["DIR"]);
        assert!(has_flag(&words(&["-rf"]), "r", &[]));
        assert!(has_flag(&words(&["--recursive"]), "r", &["recursive"]));
        assert!(!has_flag(&words(&["--", "-r"]), "r", &[]));
    }

    #[test]
    fn git_rules() {
        let level = |a: &[&str]| git_rule(&words(a), "git").map(|v| (v.level, v.action));
        assert_eq!(level(&["push"]), Some((Level::Medium, Action::Ask)));
        assert_eq!(level(&["push", "-f"]), Some((Level::High, Action::Ask)));
        assert_eq!(
            level(&["-c", "x=y", "push", "--force"]),
            Some((Level::High, Action::Ask))
        );
        assert_eq!(
            level(&["push", "origin", "a:+b"]),
            Some((Level::High, Action::Ask))
        );
        assert_eq!(
            level(&["reset", "--hard"]),
            Some((Level::Medium, Action::Ask))
        );
        assert_eq!(level(&["reset", "--soft", "HEAD~1"]), None);
        assert_eq!(level(&["clean", "-fd"]), Some((Level::Medium, Action::Ask)));
        assert_eq!(level(&["clean", "-nfd"]), None);
        assert_eq!(level(&["status"]), None);
        assert_eq!(level(&[]), None);
    }

    #[test]
    fn show_collapses_and_cuts() {
        assert_eq!(show("rm   -rf\n /"), "`rm -rf /`");
        let long = "x ".repeat(200);
        let shown = show(&long);
        assert_eq!(shown.chars().count(), 122);
        assert!(shown.ends_with("…`"));
    }

    #[test]
    fn reasons_name_the_command() {
        let a = assess_command_line("cd src && sudo  make install");
        assert_eq!(
            a.reason,
            "runs a command with root privileges via sudo (`sudo make install`)"
        );
        let a = assess_command_line("echo 'x");
        assert!(
            a.reason.starts_with("could not parse the command"),
            "{}",
            a.reason
        );
        assert_eq!(assess_command_line("ls").reason, "no risky command found");
    }

    #[test]
    fn interpreter_code_is_found_among_options() {
        let code = |prog: &str, a: &[&str]| -> Vec<(String, String)> {
            interpreter_code_args(prog, &words(a))
                .into_iter()
                .map(|(o, c)| (o.to_string(), c.to_string()))
                .collect()
        };
        let pair = |o: &str, c: &str| (o.to_string(), c.to_string());
        assert_eq!(code("python3", &["-u", "-c", "X"]), [pair("-c", "X")]);
        assert_eq!(
            code("python3", &["-W", "ignore", "-c", "X"]),
            [pair("-c", "X")]
        );
        assert!(code("python3", &["-m", "pytest", "-c", "x.ini"]).is_empty());
        assert!(code("python3", &["script.py", "-c", "X"]).is_empty());
        assert_eq!(
            code("perl", &["-MFile::Path", "-e", "A", "-E", "B"]),
            [pair("-e", "A"), pair("-E", "B")]
        );
        assert_eq!(code("perl", &["-lne", "X", "f"]), [pair("-lne", "X")]);
        assert_eq!(code("ruby", &["-rjson", "-e", "X"]), [pair("-e", "X")]);
        assert_eq!(code("node", &["--eval=X"]), [pair("--eval", "X")]);
        assert_eq!(code("node", &["-p", "X"]), [pair("-p", "X")]);
        assert_eq!(code("php", &["-r", "X"]), [pair("-r", "X")]);
        assert_eq!(
            code("bash", &["-o", "pipefail", "-c", "X"]),
            [pair("-c", "X")]
        );
        assert!(code("bash", &["script.sh"]).is_empty());
    }

    #[test]
    fn code_variables_and_nesting_are_bounded() {
        let started = std::time::Instant::now();
        let deep = format!("python3 -c \"{}\"", "f(".repeat(50_000));
        assert_eq!(assess_command_line(&deep).level, Level::Medium);
        let wide = format!("python3 -c \"{}\"", "f(x).g(1, [2]); ".repeat(10_000));
        assert_eq!(assess_command_line(&wide).level, Level::Low);
        let doubling = format!("A=x; {} rm -rf $A", "A=$A$A; ".repeat(40));
        assert_eq!(assess_command_line(&doubling).level, Level::Medium);
        let big_var = format!("C='{}'; {}", "y".repeat(100_000), "$C; ".repeat(2_000));
        let _ = assess_command_line(&big_var);
        let many = (0..3000)
            .map(|i| format!("V{i}=$V{i}x; echo $V{i}; "))
            .collect::<String>();
        let _ = assess_command_line(&many);
        for perl in [
            (0..3000)
                .map(|i| format!("my $v{i} = \"$v{i}a\"; "))
                .collect::<String>(),
            (1..3000)
                .map(|i| format!("my $v{i} = \"${{v{}}}a\"; ", i - 1))
                .collect(),
            format!("my $a = 'x'; {}", "$a = $a . $a; ".repeat(60)),
        ] {
            let _ = assess_command_line(&format!("perl -e '{perl}'"));
        }
        let python = format!("a = ['x']\n{}", "a = a + a\n".repeat(60));
        let _ = assess_command_line(&format!("python3 -c \"{python}\""));
        assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    }

    #[test]
    fn decoding_is_bounded() {
        // base64 of base64 of … of `rm -rf /`, deeper than the decode limit:
        // still high (decoded text into a shell), never a hang.
        let mut cmd = "rm -rf /".to_string();
        for _ in 0..6 {
            let b64 = encode(&format!("{cmd}\n"));
            cmd = format!("echo {b64} | base64 -d | sh");
        }
        let a = assess_command_line(&cmd);
        assert!(a.level >= Level::High, "{a:?}");
        // Within the limit the decoded command itself is found.
        let inner = format!("echo {} | base64 -d | sh", encode("rm -rf /"));
        let outer = format!("echo {} | base64 -d | bash", encode(&inner));
        assert_eq!(assess_command_line(&outer).level, Level::Critical);
    }

    fn encode(text: &str) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let bytes = text.as_bytes();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n =
                chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        while !out.len().is_multiple_of(4) {
            out.push('=');
        }
        out
    }

    #[test]
    fn odd_and_large_inputs_are_judged_quickly() {
        let started = std::time::Instant::now();
        let alphabet: Vec<char> = "rm -f/|&;$()`'\"\\<>\nsudocurlbash~*".chars().collect();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..3000 {
            let mut s = String::new();
            for _ in 0..(state % 48) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                s.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let a = assess_command_line(&s);
            assert!(!a.reason.is_empty());
        }
        let big = "echo hello world; ".repeat(5000);
        assert_eq!(assess_command_line(&big).level, Level::Low);
        let big = format!(
            "cat > f <<'EOF'\n{}EOF\nrm -rf /",
            "data line\n".repeat(50_000)
        );
        assert_eq!(assess_command_line(&big).level, Level::Critical);
        let too_big = "a".repeat(paddock_sdk::shell::MAX_INPUT_BYTES + 1);
        assert_eq!(assess_command_line(&too_big).level, Level::Medium);
        assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    }
}
