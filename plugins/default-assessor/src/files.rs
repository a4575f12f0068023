//! Rules for file tools: `write_file`, `edit_file` and any tool whose name
//! says it writes (write, edit, create, delete, remove, move, rename,
//! append…) may not touch `/etc` or `/usr` and asks before writing secret
//! files; any other tool with a `path` asks before reading a secret file.

use paddock_sdk::assessor::{Assessment, Level, ToolCall};
use serde_json::Value;

use crate::paths;
use crate::show;

/// Words in a tool's name that mean it changes files.
const WRITE_WORDS: &[&str] = &[
    "write", "edit", "create", "delete", "remove", "move", "rename", "append", "patch", "mkdir",
    "copy", "replace", "upload", "save",
];

/// Input fields that may name a file a writing tool touches.
const PATH_FIELDS: &[&str] = &[
    "path",
    "file_path",
    "filepath",
    "file",
    "filename",
    "source",
    "src",
    "destination",
    "dest",
    "target",
    "from",
    "to",
    "old_path",
    "new_path",
    "directory",
    "dir",
];

/// Whether the tool's name says it changes files.
pub fn is_write_tool(tool: &str) -> bool {
    let name = tool.to_ascii_lowercase();
    WRITE_WORDS.iter().any(|w| name.contains(w))
}

/// The verdict on a file tool call, or `None` when the call names no path.
pub fn assess(call: &ToolCall) -> Option<Assessment> {
    if is_write_tool(&call.tool) {
        let mut names: Vec<&str> = Vec::new();
        for field in PATH_FIELDS {
            match call.input.get(*field) {
                Some(Value::String(s)) => names.push(s),
                Some(Value::Array(items)) => names.extend(items.iter().filter_map(Value::as_str)),
                _ => {}
            }
        }
        if let Some(Value::Array(items)) = call.input.get("paths") {
            names.extend(items.iter().filter_map(Value::as_str));
        }
        if names.is_empty() {
            return None;
        }
        let tool = &call.tool;
        if let Some((name, tree)) = names
            .iter()
            .find_map(|n| paths::protected_tree(n).map(|t| (n, t)))
        {
            return Some(Assessment::deny(
                Level::High,
                format!("{tool} writes under {tree} ({})", show(name)),
            ));
        }
        if let Some(name) = names.iter().find(|n| paths::is_secret_file(n)) {
            return Some(Assessment::ask(
                Level::Medium,
                format!("{tool} writes the secret file {}", show(name)),
            ));
        }
        return Some(Assessment::allow(format!(
            "{tool} writes {}",
            show(names.first().copied().unwrap_or(""))
        )));
    }
    let path = call.str_field("path")?;
    if paths::is_secret_file(path) {
        return Some(Assessment::ask(
            Level::Medium,
            format!("{} reads the secret file {}", call.tool, show(path)),
        ));
    }
    Some(Assessment::allow(format!(
        "{} reads {}",
        call.tool,
        show(path)
    )))
}
