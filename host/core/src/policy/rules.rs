//! Policy rules: `allow` / `ask` / `deny` entries in the style of Claude
//! Code's permission rules and Codex's exec policy.
//!
//! ```text
//! deny execute_bash(rm -rf /*)     the call's main argument matches a glob
//! ask execute_bash(git push*)
//! allow read_file                  every call of the tool
//! ask write_file(path=*.env)       one named argument matches a glob
//! ask everything__*                tool names are globs too
//! ```
//!
//! Globs: `*` is any run of characters (`/` and spaces included), `?` one
//! character, `\` makes the next character literal. A pattern must match the
//! whole value.
//!
//! The *main argument* of a call is its first string field among `command`,
//! `path`, `file_path` and `url`; for the git tool's `{operation, args}`
//! (`git_operation`) it is the operation followed by its arguments
//! (`push origin main`); for
//! any other call, the arguments as canonical JSON (sorted keys).
//!
//! Commands (the `command` field) are matched the way a shell reads them,
//! so `&&` chains and `$(…)` cannot smuggle a command past a rule:
//! - `deny` and `ask` match when the pattern matches the whole command or
//!   any simple command in it (nested ones included), as written or
//!   normalised (`/bin/rm  -rf '/'` → `rm -rf /`);
//! - `allow` with a glob matches only when *every* simple command (nested
//!   ones included) matches, so `allow execute_bash(git status*)` does not
//!   allow `git status; rm -rf /`; `allow` with an exact pattern (no `*` or
//!   `?`) matches exactly that command, whitespace aside. A command that does
//!   not parse is never allowed by a rule.

use super::Action;
use paddock_scan::shell;
use serde_json::Value;
use std::fmt;

/// Argument fields that hold a call's main argument, in order of preference.
const MAIN_KEYS: [&str; 4] = ["command", "path", "file_path", "url"];
/// Longest rule text.
pub const MAX_RULE_LEN: usize = 4096;

/// Why a rule was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("rule `{rule}`: {message}")]
pub struct RuleError {
    /// The rule as written.
    pub rule: String,
    /// What is wrong with it.
    pub message: String,
}

/// A glob pattern (see the module doc).
#[derive(Clone, Debug, PartialEq)]
pub struct Glob {
    source: String,
    tokens: Vec<Tok>,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Lit(char),
    Any,
    Star,
}

impl Glob {
    /// Compiles `source`; a trailing lone `\` is an error.
    pub fn new(source: &str) -> Result<Glob, String> {
        let mut tokens = Vec::new();
        let mut chars = source.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(n) => tokens.push(Tok::Lit(n)),
                    None => return Err("the pattern ends with a lone `\\`".into()),
                },
                '*' => {
                    if tokens.last() != Some(&Tok::Star) {
                        tokens.push(Tok::Star);
                    }
                }
                '?' => tokens.push(Tok::Any),
                c => tokens.push(Tok::Lit(c)),
            }
        }
        Ok(Glob {
            source: source.to_string(),
            tokens,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern has no wildcard (it matches one string only).
    pub fn is_exact(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Tok::Lit(_)))
    }

    /// Whether the pattern matches all of `text`. Linear in practice: the
    /// classic single-backtrack-point algorithm for `*`, over the text's
    /// characters in place (no allocation: rules are tried per call).
    pub fn matches(&self, text: &str) -> bool {
        let next = |at: usize| text[at..].chars().next();
        let (mut p, mut t) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while let Some(c) = next(t) {
            match self.tokens.get(p) {
                Some(Tok::Lit(l)) if *l == c => {
                    p += 1;
                    t += c.len_utf8();
                }
                Some(Tok::Any) => {
                    p += 1;
                    t += c.len_utf8();
                }
                Some(Tok::Star) => {
                    star = Some((p, t));
                    p += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        let skipped = next(st).map_or(1, char::len_utf8);
                        p = sp + 1;
                        t = st + skipped;
                        star = Some((sp, t));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p..].iter().all(|t| *t == Tok::Star)
    }
}

/// The tool name of network rules (see [`super::network`]).
pub const NETWORK_TOOL: &str = "network";

/// `host:port`, with an IPv6 literal in brackets (how network rules and
/// approvals write a connection's target).
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Escapes `*`, `?` and `\` so that the glob matches `text` literally.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// What a rule's parenthesised part matches.
#[derive(Clone, Debug, PartialEq)]
enum ArgPattern {
    /// The call's main argument.
    Main(Glob),
    /// One named argument (its string value, or its JSON text otherwise).
    Key(String, Glob),
}

/// One compiled rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// What it decides.
    pub action: Action,
    tool: Glob,
    arg: Option<ArgPattern>,
    text: String,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn is_key(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Rule {
    /// Parses `action tool[(pattern)]`.
    pub fn parse(text: &str) -> Result<Rule, RuleError> {
        let err = |message: String| RuleError {
            rule: text.to_string(),
            message,
        };
        if text.len() > MAX_RULE_LEN {
            return Err(err(format!("longer than {MAX_RULE_LEN} bytes")));
        }
        let trimmed = text.trim();
        let (action, rest) = trimmed
            .split_once(char::is_whitespace)
            .ok_or_else(|| err("expected `allow|ask|deny TOOL[(PATTERN)]`".into()))?;
        let action = match action {
            "allow" => Action::Allow,
            "ask" => Action::Ask,
            "deny" => Action::Deny,
            other => {
                return Err(err(format!(
                    "`{other}` is not one of `allow`, `ask`, `deny`"
                )));
            }
        };
        let rest = rest.trim_start();
        let (tool, arg) = match rest.find('(') {
            None => (rest.trim_end(), None),
            Some(open) => {
                let Some(inner) = rest[open + 1..].strip_suffix(')') else {
                    return Err(err(
                        "the pattern must be closed by a `)` at the end of the rule".into(),
                    ));
                };
                (rest[..open].trim_end(), Some(inner))
            }
        };
        if tool.is_empty() {
            return Err(err("no tool name".into()));
        }
        if let Some(bad) = tool
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '*' | '?')))
        {
            return Err(err(format!(
                "`{bad}` cannot appear in a tool name (letters, digits, `_`, `-`, `.`, and the wildcards `*`, `?`)"
            )));
        }
        let tool = Glob::new(tool).map_err(err)?;
        let arg = match arg {
            None => None,
            Some(inner) => {
                if inner.is_empty() {
                    return Err(err(
                        "empty pattern `()`: leave the parentheses out to match every call".into(),
                    ));
                }
                match inner.split_once('=') {
                    Some((key, glob)) if is_key(key) => Some(ArgPattern::Key(
                        key.to_string(),
                        Glob::new(glob).map_err(err)?,
                    )),
                    _ => Some(ArgPattern::Main(Glob::new(inner).map_err(err)?)),
                }
            }
        };
        Ok(Rule {
            action,
            tool,
            arg,
            text: trimmed.to_string(),
        })
    }

    /// The rule as written (trimmed).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether it applies to every call of its tools (no argument pattern).
    pub fn is_unconditional(&self) -> bool {
        self.arg.is_none()
    }

    /// Whether its tool pattern matches `tool`.
    pub fn matches_tool(&self, tool: &str) -> bool {
        self.tool.matches(tool)
    }

    /// Whether it is a network rule (`network` or `network(PATTERN)`, see
    /// [`super::network`]) that matches a connection to `host:port`: a bare
    /// pattern matches `host:port` or `host` alone; `host=GLOB` and
    /// `port=GLOB` match one of them.
    pub fn matches_connection(&self, host: &str, port: u16) -> bool {
        if self.tool.as_str() != NETWORK_TOOL {
            return false;
        }
        match &self.arg {
            None => true,
            Some(ArgPattern::Main(glob)) => {
                glob.matches(host) || glob.matches(&authority(host, port))
            }
            Some(ArgPattern::Key(key, glob)) => match key.as_str() {
                "host" => glob.matches(host),
                "port" => glob.matches(&port.to_string()),
                _ => false,
            },
        }
    }

    /// Whether it matches a call of `tool` with `arguments`.
    pub fn matches(&self, tool: &str, arguments: &Value) -> bool {
        self.matches_call(&CallText::new(tool, arguments))
    }

    /// Whether it matches a call read once by [`CallText::new`] (cheaper
    /// when many rules look at the same call).
    pub fn matches_call(&self, call: &CallText<'_>) -> bool {
        if !self.tool.matches(call.tool) {
            return false;
        }
        match &self.arg {
            None => true,
            Some(ArgPattern::Key(key, glob)) => match call.arguments.get(key) {
                None => false,
                Some(Value::String(_)) if key == "command" => match &call.main {
                    Main::Command(c) => self.matches_command(glob, c),
                    Main::Text(_) => false,
                },
                Some(Value::String(s)) => glob.matches(s),
                Some(other) => glob.matches(&other.to_string()),
            },
            Some(ArgPattern::Main(glob)) => match &call.main {
                Main::Command(c) => self.matches_command(glob, c),
                Main::Text(t) => glob.matches(t),
            },
        }
    }

    fn matches_command(&self, glob: &Glob, command: &Command) -> bool {
        if self.action == Action::Allow {
            if glob.is_exact() {
                return squash_blanks(glob.as_str()) == command.blanks;
            }
            return match &command.parts {
                Some(parts) if !parts.is_empty() => parts
                    .iter()
                    .all(|(text, norm)| glob.matches(text) || glob.matches(norm)),
                _ => false,
            };
        }
        if glob.matches(command.raw) || glob.matches(&command.flat) {
            return true;
        }
        command.parts.as_ref().is_some_and(|parts| {
            parts
                .iter()
                .any(|(text, norm)| glob.matches(text) || glob.matches(norm))
        })
    }

    /// Checks the rule against its own examples: each of `matches` must
    /// match and none of `not_matches` may. An example is a JSON object of
    /// arguments, or a string: the value of the rule's named argument, or
    /// of `command` for a bare pattern.
    pub fn check_examples(
        &self,
        matches: &[Value],
        not_matches: &[Value],
    ) -> Result<(), RuleError> {
        let err = |message: String| RuleError {
            rule: self.text.clone(),
            message,
        };
        let tool = self.example_tool();
        for (want, examples) in [(true, matches), (false, not_matches)] {
            for example in examples {
                let args = match example {
                    Value::String(s) => {
                        let key = match &self.arg {
                            Some(ArgPattern::Key(k, _)) => k.as_str(),
                            _ => "command",
                        };
                        serde_json::json!({ key: s })
                    }
                    v @ Value::Object(_) => v.clone(),
                    other => {
                        return Err(err(format!(
                            "example {other} must be a string or a JSON object of arguments"
                        )));
                    }
                };
                if self.matches(&tool, &args) != want {
                    return Err(err(format!(
                        "{} its own example {}",
                        if want { "does not match" } else { "matches" },
                        example
                    )));
                }
            }
        }
        Ok(())
    }

    /// A tool name the tool pattern matches (its wildcards filled in).
    fn example_tool(&self) -> String {
        self.tool
            .tokens
            .iter()
            .map(|t| match t {
                Tok::Lit(c) => *c,
                Tok::Any | Tok::Star => 'x',
            })
            .collect()
    }
}

/// A call as rules read it: its tool and its main argument, with a
/// command parsed once.
pub struct CallText<'a> {
    tool: &'a str,
    arguments: &'a Value,
    main: Main<'a>,
}

/// A call's main argument.
enum Main<'a> {
    /// A shell command.
    Command(Command<'a>),
    /// Anything else, as text.
    Text(String),
}

/// A shell command, read for matching.
struct Command<'a> {
    /// As written.
    raw: &'a str,
    /// Whitespace squashed.
    flat: String,
    /// Runs of spaces and tabs squashed (line breaks kept: they separate
    /// commands).
    blanks: String,
    /// Each simple command (nested ones too) as written and normalised;
    /// `None` when the command does not parse.
    parts: Option<Vec<(String, String)>>,
}

impl<'a> CallText<'a> {
    /// Reads a call of `tool` with `arguments`.
    pub fn new(tool: &'a str, arguments: &'a Value) -> CallText<'a> {
        CallText {
            tool,
            arguments,
            main: main_argument(arguments),
        }
    }
}

fn main_argument<'a>(arguments: &'a Value) -> Main<'a> {
    if let Some(Value::String(c)) = arguments.get("command") {
        let parts = shell::parse(c).ok().map(|script| {
            script
                .commands()
                .map(|cmd| (cmd.text.clone(), cmd.normalized()))
                .collect()
        });
        return Main::Command(Command {
            raw: c,
            flat: squash(c),
            blanks: squash_blanks(c),
            parts,
        });
    }
    for key in &MAIN_KEYS[1..] {
        if let Some(Value::String(v)) = arguments.get(*key) {
            return Main::Text(v.clone());
        }
    }
    if let Some(Value::String(op)) = arguments.get("operation")
        && arguments.get("args").is_none_or(Value::is_array)
    {
        let mut text = op.clone();
        if let Some(Value::Array(args)) = arguments.get("args") {
            for a in args {
                text.push(' ');
                match a {
                    Value::String(s) => text.push_str(s),
                    other => text.push_str(&other.to_string()),
                }
            }
        }
        return Main::Text(text);
    }
    Main::Text(arguments.to_string())
}

/// Runs of spaces and tabs squashed to one space, each line trimmed.
fn squash_blanks(s: &str) -> String {
    s.trim()
        .lines()
        .map(|l| {
            l.split([' ', '\t'])
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whitespace runs squashed to one space, ends trimmed.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The rule that applies `action` to exactly this call again: its main
/// argument (or named argument) spelled out literally.
pub fn exact_rule(action: Action, tool: &str, arguments: &Value) -> String {
    let action = action.as_str();
    if let Some(Value::String(c)) = arguments.get("command") {
        return format!("{action} {tool}({})", escape(&squash_blanks(c)));
    }
    for key in &MAIN_KEYS[1..] {
        if let Some(Value::String(v)) = arguments.get(*key) {
            return format!("{action} {tool}({key}={})", escape(v));
        }
    }
    match main_argument(arguments) {
        Main::Text(t) => format!("{action} {tool}({})", escape(&t)),
        Main::Command(c) => format!("{action} {tool}({})", escape(&c.blanks)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(t: &str) -> Rule {
        Rule::parse(t).unwrap()
    }

    fn bash(cmd: &str) -> Value {
        json!({ "command": cmd })
    }

    #[test]
    fn globs() {
        let g = Glob::new("git push*").unwrap();
        assert!(g.matches("git push"));
        assert!(g.matches("git push origin main"));
        assert!(!g.matches("git pull"));
        assert!(Glob::new("*.env").unwrap().matches("config/.env"));
        assert!(!Glob::new("*.env").unwrap().matches(".env.local"));
        assert!(Glob::new("a?c").unwrap().matches("abc"));
        assert!(!Glob::new("a?c").unwrap().matches("ac"));
        assert!(Glob::new(r"a\*").unwrap().matches("a*"));
        assert!(!Glob::new(r"a\*").unwrap().matches("ab"));
        assert!(Glob::new("*a*b*c*").unwrap().matches("xxaxxbxxcxx"));
        assert!(!Glob::new("*a*b*c*").unwrap().matches("xxaxxcxxbxx"));
        assert!(Glob::new("").unwrap().matches(""));
        assert!(Glob::new("é*").unwrap().matches("été"));
        assert!(Glob::new("a\\").is_err());
        assert!(Glob::new("x*").unwrap().matches(&"x".repeat(100_000)));
    }

    #[test]
    fn escape_round_trips() {
        for s in ["a*b?c\\d", "plain", "**", ""] {
            let g = Glob::new(&escape(s)).unwrap();
            assert!(g.is_exact());
            assert!(g.matches(s), "{s}");
        }
    }

    #[test]
    fn parse_errors_name_the_problem() {
        let e = |t: &str| Rule::parse(t).unwrap_err().message;
        assert!(e("permit read_file").contains("`permit`"));
        assert!(e("allow").contains("expected"));
        assert!(e("deny execute_bash(rm -rf /").contains("closed"));
        assert!(e("deny execute_bash()").contains("empty pattern"));
        assert!(e("deny exe/cute").contains("`/`"));
        assert!(e("deny (x)").contains("no tool"));
        assert!(e(&format!("deny x({})", "a".repeat(5000))).contains("longer"));
        assert!(Rule::parse("  allow   read_file  ").is_ok());
        assert_eq!(rule("  allow   read_file  ").text(), "allow   read_file");
    }

    #[test]
    fn tool_only_and_tool_globs() {
        let r = rule("allow read_file");
        assert!(r.is_unconditional());
        assert!(r.matches("read_file", &json!({"path": "x"})));
        assert!(!r.matches("read_files", &json!({})));
        let r = rule("ask everything__*");
        assert!(r.matches("everything__echo", &json!({})));
        assert!(!r.matches("time__now", &json!({})));
    }

    #[test]
    fn named_arguments() {
        let r = rule("ask write_file(path=*.env)");
        assert!(r.matches("write_file", &json!({"path": ".env", "content": "x"})));
        assert!(r.matches("write_file", &json!({"path": "app/prod.env"})));
        assert!(!r.matches("write_file", &json!({"path": "main.rs"})));
        assert!(!r.matches("write_file", &json!({})));
        let r = rule("deny t(n=4*)");
        assert!(r.matches("t", &json!({"n": 42})));
    }

    #[test]
    fn main_argument_of_files_git_and_others() {
        assert!(rule("ask read_file(*.pem)").matches("read_file", &json!({"path": "k.pem"})));
        assert!(rule("ask git_operation(push*)").matches(
            "git_operation",
            &json!({"operation": "push", "args": ["origin", "main"]})
        ));
        assert!(
            !rule("ask git_operation(push*)")
                .matches("git_operation", &json!({"operation": "pull"}))
        );
        let r = rule(r#"allow everything__echo({"message":"hi"})"#);
        assert!(r.matches("everything__echo", &json!({"message": "hi"})));
        assert!(!r.matches("everything__echo", &json!({"message": "hi!"})));
    }

    #[test]
    fn deny_and_ask_see_through_chains_and_substitutions() {
        let r = rule("deny execute_bash(rm -rf /*)");
        for cmd in [
            "rm -rf /",
            "rm  -rf   /",
            "/bin/rm -rf /",
            "'rm' -rf '/'",
            "cd /tmp && rm -rf /",
            "true; rm -rf /home",
            "echo $(rm -rf /)",
            "bash -c 'rm -rf /'",
        ] {
            assert!(r.matches("execute_bash", &bash(cmd)), "{cmd}");
        }
        for cmd in ["rm -rf build", "ls /", "echo rm"] {
            assert!(!r.matches("execute_bash", &bash(cmd)), "{cmd}");
        }
        let r = rule("ask execute_bash(git push*)");
        assert!(r.matches("execute_bash", &bash("cargo test && git push origin")));
        // A glob is a glob: `git push *` (with the space) would leave
        // `git pushd` out.
        assert!(!rule("ask execute_bash(git push *)").matches("execute_bash", &bash("git pushd")));
        assert!(!r.matches("execute_bash", &bash("git pull")));
    }

    #[test]
    fn allow_needs_every_command_to_match() {
        let r = rule("allow execute_bash(git status*)");
        assert!(r.matches("execute_bash", &bash("git status")));
        assert!(r.matches("execute_bash", &bash("git status --short")));
        assert!(r.matches("execute_bash", &bash("git status && git status -s")));
        for cmd in [
            "git status; rm -rf /",
            "git status && curl x | sh",
            "git status $(rm -rf /)",
            "git status `reboot`",
            "git status 'unclosed",
            "",
        ] {
            assert!(!r.matches("execute_bash", &bash(cmd)), "{cmd}");
        }
    }

    #[test]
    fn exact_rules_match_only_their_call() {
        let args = bash("git   push origin main");
        let text = exact_rule(Action::Allow, "execute_bash", &args);
        assert_eq!(text, "allow execute_bash(git push origin main)");
        let r = rule(&text);
        assert!(r.matches("execute_bash", &args));
        assert!(!r.matches("execute_bash", &bash("git push origin main; rm -rf /")));
        assert!(!r.matches("execute_bash", &bash("git push origin main --force")));
        let r = rule(&exact_rule(
            Action::Allow,
            "execute_bash",
            &bash("git status rm -rf /"),
        ));
        assert!(!r.matches("execute_bash", &bash("git status\nrm -rf /")));
        let args = json!({"path": "src/*.rs", "content": "x"});
        let text = exact_rule(Action::Allow, "write_file", &args);
        assert_eq!(text, r"allow write_file(path=src/\*.rs)");
        let r = rule(&text);
        assert!(r.matches("write_file", &args));
        assert!(!r.matches("write_file", &json!({"path": "src/a.rs"})));
        let args = json!({"b": 1, "a": "x(y)"});
        let r = rule(&exact_rule(Action::Allow, "srv__t", &args));
        assert!(r.matches("srv__t", &args));
        assert!(!r.matches("srv__t", &json!({"a": "x(y)"})));
        // The same call, denied: the rule's action is the decision's.
        let text = exact_rule(Action::Deny, "execute_bash", &bash("allow  me"));
        assert_eq!(text, "deny execute_bash(allow me)");
        assert_eq!(rule(&text).action, Action::Deny);
        assert!(rule(&text).matches("execute_bash", &bash("allow me")));
    }

    #[test]
    fn examples_are_checked() {
        let r = rule("ask execute_bash(git push*)");
        assert!(
            r.check_examples(&[json!("git push origin main")], &[json!("git pull")])
                .is_ok()
        );
        let e = r.check_examples(&[json!("git pull")], &[]).unwrap_err();
        assert!(
            e.to_string()
                .contains("does not match its own example \"git pull\""),
            "{e}"
        );
        let e = r.check_examples(&[], &[json!("git push")]).unwrap_err();
        assert!(e.to_string().contains("matches its own example"), "{e}");
        let r = rule("ask write_file(path=*.env)");
        assert!(
            r.check_examples(&[json!(".env"), json!({"path": "a.env"})], &[json!("a.rs")])
                .is_ok()
        );
        assert!(r.check_examples(&[json!(3)], &[]).is_err());
        let r = rule("deny srv__*");
        assert!(r.check_examples(&[json!({})], &[]).is_ok());
    }
}
