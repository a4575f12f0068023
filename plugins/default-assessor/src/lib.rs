//! `default-assessor`: Paddock's built-in risk assessor. It judges each tool
//! call from the call alone — tool name and input — before it runs:
//!
//! - **shell commands** (`execute_bash`, or any tool with a `command`
//!   string): the command line is parsed with [`paddock_sdk::shell`] and
//!   every command in it, nested ones included (`$(…)`, `bash -c`, `sudo`,
//!   `xargs`…), is judged; the worst verdict wins. Critical and denied:
//!   recursive deletes of `/`, home or system directories, `mkfs`, `dd` onto
//!   devices, writes onto disks, fork bombs. High, ask: `sudo`/`su`,
//!   world-writable `chmod`, downloads or decoded text run as code, force
//!   pushes, privileged containers, uploads of secret files, shutdowns,
//!   `crontab -r`, `kill -9 -1`. Denied (high): writes under `/etc` and
//!   `/usr`. Medium, ask: `git push`, `reset --hard`, `clean -f`,
//!   publishing, containers, package installs, other recursive deletes,
//!   reading secret files, POSTs. A line that does not parse asks (medium).
//!   Code handed to an interpreter (`python -c`, `perl -e`, `ruby -e`,
//!   `node -e`, `php -r`, a here-document or pipe into one, a script
//!   written and run in the same line) is read by [`code`] for the same
//!   dangers; variables set earlier in the line are put into the commands
//!   that use them, and relative paths are read from the directory an
//!   earlier `cd` moved to.
//! - **file tools** ([`files`]): writes under `/etc` or `/usr` are denied,
//!   writes of secret files and reads of them ask.
//! - **the git tool** (`git`/`git_operation` with `operation` and `args`):
//!   push asks (medium), a force push asks (high).
//! - anything else: low, allow.
//!
//! The rules are [`assess`], a pure function; `tests/corpus.toml` holds the
//! cases (dangerous commands and their harmless look-alikes) it is held to.

pub mod code;
pub mod files;
pub mod flow;
pub mod paths;
pub mod shell_rules;

use paddock_sdk::assessor::{Assessment, Level, ToolCall};
use serde_json::Value;

/// The verdict on one tool call.
pub fn assess(call: &ToolCall) -> Assessment {
    if let Some(command) = shell_command(call) {
        return shell_rules::assess_command_line(&command);
    }
    if let Some(verdict) = git_tool(call) {
        return verdict;
    }
    if let Some(verdict) = files::assess(call) {
        return verdict;
    }
    Assessment::allow("no rule applies")
}

paddock_sdk::export_assessor!(assess);

/// `text` for a message: whitespace collapsed, cut to 120 characters, in
/// backquotes.
pub fn show(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = if one_line.chars().count() > 120 {
        one_line
            .chars()
            .take(119)
            .chain(std::iter::once('…'))
            .collect()
    } else {
        one_line
    };
    format!("`{cut}`")
}

/// The command line of a shell-like call: a `command` string, or a
/// `command` array of argument strings (quoted and joined).
fn shell_command(call: &ToolCall) -> Option<String> {
    match call.input.get("command")? {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            let words: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            Some(
                words?
                    .into_iter()
                    .map(paddock_sdk::shell::quote)
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        }
        _ => None,
    }
}

/// The git tool: `{"operation": "push", "args": [...]}`.
fn git_tool(call: &ToolCall) -> Option<Assessment> {
    let name = call.tool.to_ascii_lowercase();
    let is_git = name == "git" || name == "git_operation" || name.ends_with("__git");
    if !is_git {
        return None;
    }
    let op = call.str_field("operation")?;
    let args: Vec<String> = match call.input.get("args") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        _ => Vec::new(),
    };
    let mut words = vec![op.to_string()];
    words.extend(args);
    let text = format!("git {}", words.join(" "));
    Some(shell_rules::git_rule(&words, &text).unwrap_or_else(|| {
        Assessment::new(
            Level::Low,
            paddock_sdk::assessor::Action::Allow,
            format!("no rule applies to `{text}`"),
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_sdk::assessor::Action;
    use serde_json::json;

    fn run(tool: &str, input: Value) -> Assessment {
        assess(&ToolCall::new(tool, input))
    }

    #[test]
    fn dispatches_by_input_shape() {
        assert_eq!(
            run("anything", json!({"command": "sudo ls"})).level,
            Level::High
        );
        assert_eq!(
            run(
                "execute_bash",
                json!({"command": ["sudo", "rm", "-rf", "/"]})
            )
            .level,
            Level::Critical
        );
        // An array with a non-string is not a command line.
        assert_eq!(
            run("execute_bash", json!({"command": ["ls", 1]})).level,
            Level::Low
        );
        assert_eq!(run("execute_bash", json!({})).reason, "no rule applies");
        assert_eq!(
            run("bash_job", json!({"job_id": "j1", "action": "kill"})).level,
            Level::Low
        );
    }

    #[test]
    fn git_tool_args_may_be_a_string() {
        let a = run(
            "git",
            json!({"operation": "push", "args": "origin main --force"}),
        );
        assert_eq!((a.level, a.action), (Level::High, Action::Ask));
        assert!(
            a.reason.contains("`git push origin main --force`"),
            "{}",
            a.reason
        );
        let a = run("git", json!({"operation": "diff"}));
        assert_eq!(a.action, Action::Allow);
        // Without an operation the git tool is judged by the other rules.
        assert_eq!(run("git", json!({"path": ".env"})).level, Level::Medium);
    }

    #[test]
    fn file_tools_by_name_and_fields() {
        assert!(files::is_write_tool("fs__WriteFile"));
        assert!(!files::is_write_tool("read_file"));
        let a = run(
            "rename_file",
            json!({"from": "a.txt", "to": "/usr/share/x"}),
        );
        assert_eq!((a.level, a.action), (Level::High, Action::Deny));
        let a = run("create_files", json!({"paths": ["ok.txt", "/etc/x"]}));
        assert_eq!(a.action, Action::Deny);
        let a = run("append_file", json!({"file_path": "id_ed25519"}));
        assert_eq!((a.level, a.action), (Level::Medium, Action::Ask));
        let a = run("write_file", json!({"content": "x"}));
        assert_eq!(a.reason, "no rule applies");
        let a = run("read_file", json!({"path": "~/.aws/credentials"}));
        assert_eq!((a.level, a.action), (Level::Medium, Action::Ask));
    }
}
