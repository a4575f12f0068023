//! `write_file`, `edit_file` and the backups they keep.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};

use paddock_sdk::prelude::*;

use crate::paths::{Workspace, WsPath};
use crate::util::{human_bytes, line_of, truncate_chars, utc_stamp};

/// Where backups go, relative to the workspace root.
pub const BACKUP_DIR: &str = ".paddock/backups";

/// Occurrence line numbers listed at most in an ambiguity error.
const MAX_LINES_LISTED: usize = 10;

pub const WRITE_DESCRIPTION: &str = "\
Create a file, or replace a file's entire content, in the workspace. `path` is \
relative to the workspace root; missing parent directories are created. If the \
file already existed, its previous content is first copied to \
`.paddock/backups/<path>.<UTC timestamp>` in the workspace, and the answer says \
where. The answer reports the number of bytes written. Prefer `edit_file` for \
changing part of an existing file. Paths with `..`, absolute paths outside \
/workspace and symbolic links leading out of the workspace are refused.";

pub const EDIT_DESCRIPTION: &str = "\
Edit a text file in the workspace by exact string replacement: `old_string` is \
replaced by `new_string`. `old_string` must match the file exactly, including \
whitespace, indentation and line breaks (copy it from read_file's output), and \
must occur exactly once unless `replace_all` is true — if it occurs several \
times, include more surrounding lines to make it unique. The edit fails, \
changing nothing, when `old_string` is not found or is ambiguous. Before \
writing, the previous content is copied to `.paddock/backups/<path>.<UTC \
timestamp>`. To create a file or rewrite it completely use `write_file`.";

// Input of `write_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteFileInput {
    /// File to write, relative to the workspace root (e.g. `src/main.rs`).
    pub path: String,
    /// The file's complete new content.
    pub content: String,
}

// Input of `edit_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditFileInput {
    /// File to edit, relative to the workspace root.
    pub path: String,
    /// The exact text to replace (whitespace and indentation included).
    pub old_string: String,
    /// The text to put in its place (may be empty to delete `old_string`).
    pub new_string: String,
    /// Replace every occurrence instead of requiring exactly one. Defaults to false.
    #[serde(default)]
    pub replace_all: Option<bool>,
}

pub fn write_file(ws: &Workspace, input: WriteFileInput) -> Result<ToolOutput, ToolError> {
    let path = ws.resolve("path", &input.path)?;
    if path.is_root() {
        return Err(ToolError::invalid_input(
            "`path` names the workspace root; give the path of a file, e.g. `notes.txt`",
        ));
    }
    ws.check_links(&path)?;
    let shown = path.display();
    let previous = match fs::metadata(&path.abs) {
        Ok(meta) if meta.is_dir() => {
            return Err(ToolError::failed(format!(
                "`{shown}` is a directory; give the path of a file"
            )));
        }
        Ok(meta) if !meta.is_file() => {
            return Err(ToolError::failed(format!(
                "`{shown}` is not a regular file (a device, socket or pipe); write_file only writes files"
            )));
        }
        Ok(_) => Some(fs::read(&path.abs).map_err(|e| ws.io_error("read", &path, &e))?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(ws.io_error("write", &path, &e)),
    };
    if previous.is_none() && path.rel.len() > 1 {
        let parent = ws.path_of(path.rel[..path.rel.len() - 1].to_vec());
        fs::create_dir_all(&parent.abs).map_err(|e| {
            let err = ws.io_error("create the directory", &parent, &e);
            if matches!(
                e.kind(),
                io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory
            ) {
                ToolError::failed(format!(
                    "cannot create the parent directories of `{shown}`: a component of the path is a file"
                ))
            } else {
                err
            }
        })?;
    }
    let backup = match &previous {
        Some(old) => Some(backup(ws, &path, old)?),
        None => None,
    };
    fs::write(&path.abs, input.content.as_bytes()).map_err(|e| ws.io_error("write", &path, &e))?;
    let bytes = input.content.len();
    let text = match (&previous, &backup) {
        (Some(old), Some(b)) => format!(
            "Wrote {bytes} bytes to `{shown}` (replacing {}; the previous content is backed up at `{b}`).",
            human_bytes(old.len() as u64)
        ),
        _ => format!("Wrote {bytes} bytes to `{shown}` (new file)."),
    };
    Ok(ToolOutput::text(text).with_structured(&serde_json::json!({
        "path": shown,
        "bytes": bytes,
        "created": previous.is_none(),
        "backup": backup,
    })))
}

pub fn edit_file(ws: &Workspace, input: EditFileInput) -> Result<ToolOutput, ToolError> {
    let path = ws.resolve("path", &input.path)?;
    if input.old_string.is_empty() {
        return Err(ToolError::invalid_input(
            "`old_string` is empty; give the exact text to replace (to create a file or rewrite it whole, use write_file)",
        ));
    }
    if input.old_string == input.new_string {
        return Err(ToolError::invalid_input(
            "`old_string` and `new_string` are identical; there is nothing to change",
        ));
    }
    ws.check_links(&path)?;
    let shown = path.display();
    let meta = fs::metadata(&path.abs).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            ToolError::failed(format!(
                "`{shown}` does not exist; to create a file use write_file (list_dir and search help find existing files)"
            ))
        } else {
            ws.io_error("edit", &path, &e)
        }
    })?;
    if meta.is_dir() {
        return Err(ToolError::failed(format!(
            "`{shown}` is a directory; give the path of a file"
        )));
    }
    if !meta.is_file() {
        return Err(ToolError::failed(format!(
            "`{shown}` is not a regular file (a device, socket or pipe); edit_file only edits files"
        )));
    }
    let original = fs::read(&path.abs).map_err(|e| ws.io_error("read", &path, &e))?;
    let text = std::str::from_utf8(&original).map_err(|_| {
        ToolError::failed(format!(
            "`{shown}` is not valid UTF-8 text; edit_file only edits text files"
        ))
    })?;
    let old = input.old_string.as_str();
    let positions: Vec<usize> = text.match_indices(old).map(|(i, _)| i).collect();
    let replace_all = input.replace_all.unwrap_or(false);
    if positions.is_empty() {
        return Err(ToolError::failed(not_found_message(&shown, text, old)));
    }
    if positions.len() > 1 && !replace_all {
        let lines: Vec<String> = positions
            .iter()
            .take(MAX_LINES_LISTED)
            .map(|&i| line_of(text, i).to_string())
            .collect();
        let more = if positions.len() > MAX_LINES_LISTED {
            ", …"
        } else {
            ""
        };
        return Err(ToolError::failed(format!(
            "`old_string` occurs {} times in `{shown}` (at lines {}{more}); nothing was changed. Include more surrounding lines in `old_string` to make it unique, or set `replace_all` to true to replace every occurrence",
            positions.len(),
            lines.join(", ")
        )));
    }
    let new_text = if replace_all {
        text.replace(old, &input.new_string)
    } else {
        text.replacen(old, &input.new_string, 1)
    };
    let backup = backup(ws, &path, &original)?;
    fs::write(&path.abs, new_text.as_bytes()).map_err(|e| ws.io_error("write", &path, &e))?;
    let count = positions.len();
    let first_line = line_of(text, positions[0]);
    let what = if count == 1 {
        format!("replaced 1 occurrence at line {first_line}")
    } else {
        format!("replaced {count} occurrences (the first at line {first_line})")
    };
    Ok(ToolOutput::text(format!(
        "Edited `{shown}`: {what}. The previous content is backed up at `{backup}`."
    ))
    .with_structured(&serde_json::json!({
        "path": shown,
        "replacements": count,
        "first_line": first_line,
        "backup": backup,
    })))
}

/// Why `old` was not found in `text`, with a hint when a near match exists.
fn not_found_message(shown: &str, text: &str, old: &str) -> String {
    let mut msg = format!(
        "`old_string` was not found in `{shown}`; nothing was changed. It must match the file exactly, including whitespace and indentation — read the file again and copy the text"
    );
    if text.contains("\r\n") && !old.contains('\r') && old.contains('\n') {
        let crlf = old.replace('\n', "\r\n");
        if text.contains(&crlf) {
            msg.push_str(
                ". Note: the file uses Windows (CRLF) line endings; `old_string` matches once its line breaks are written as \\r\\n",
            );
            return msg;
        }
    }
    let first = old.lines().map(str::trim).find(|l| !l.is_empty());
    if let Some(first) = first {
        let near: Vec<String> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim() == first || (first.len() >= 8 && l.contains(first)))
            .take(5)
            .map(|(i, _)| (i + 1).to_string())
            .collect();
        if !near.is_empty() {
            msg.push_str(&format!(
                ". A line like `{}` is at line {} — check the whitespace, indentation and the lines around it",
                truncate_chars(first, 80),
                near.join(", ")
            ));
        }
    }
    msg
}

/// Copy `content` (the previous content of `path`) to
/// `.paddock/backups/<path>.<timestamp>` and return that path as shown to
/// the model.
pub fn backup(ws: &Workspace, path: &WsPath, content: &[u8]) -> Result<String, ToolError> {
    let stamp = utc_stamp();
    let mut dir_rel: Vec<String> = BACKUP_DIR.split('/').map(str::to_string).collect();
    dir_rel.extend(path.rel[..path.rel.len().saturating_sub(1)].iter().cloned());
    let dir = ws.path_of(dir_rel);
    ws.check_links(&dir).map_err(|e| {
        ToolError::denied(format!(
            "cannot back up `{}` before changing it: {}",
            path.display(),
            e.message()
        ))
    })?;
    let fail = |e: &io::Error| {
        let err = ws.io_error("write", &dir, e);
        let message = format!(
            "cannot back up `{}` before changing it (nothing was changed): {}",
            path.display(),
            err.message()
        );
        match err {
            ToolError::Denied(_) => ToolError::denied(message),
            _ => ToolError::failed(message),
        }
    };
    fs::create_dir_all(&dir.abs).map_err(|e| fail(&e))?;
    let name = path.rel.last().map(String::as_str).unwrap_or("root");
    for n in 0..1000u32 {
        let file_name = if n == 0 {
            format!("{name}.{stamp}")
        } else {
            format!("{name}.{stamp}-{n}")
        };
        let mut rel = dir.rel.clone();
        rel.push(file_name);
        let target = ws.path_of(rel);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target.abs)
        {
            Ok(mut f) => {
                f.write_all(content).map_err(|e| fail(&e))?;
                return Ok(target.display());
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(fail(&e)),
        }
    }
    Err(ToolError::failed(format!(
        "cannot back up `{}`: too many backups with the same timestamp",
        path.display()
    )))
}
