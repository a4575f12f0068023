//! `read_file`.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};

use paddock_sdk::prelude::*;

use crate::paths::Workspace;
use crate::util::{OUTPUT_BUDGET, human_bytes, looks_binary};

/// Whole-file reads are refused above this size; a line range is needed.
pub const MAX_READ_BYTES: u64 = 1024 * 1024;

/// Past this size a ranged read stops at `end_line` instead of counting the
/// file's lines to the end.
const COUNT_ALL_LINES_UP_TO: u64 = 16 * 1024 * 1024;

pub const DESCRIPTION: &str = "\
Read a text file from the workspace and return its content exactly as stored \
(no line numbers added). `path` is relative to the workspace root, e.g. \
`src/main.rs`. To read part of a file, give `start_line` and/or `end_line` \
(1-based, inclusive); the answer then ends with a line like `[lines 10-40 of \
250]`. Files larger than 1 MiB can only be read in parts: give a line range \
(e.g. start_line 1, end_line 400) or use `search` to find the lines you need; \
a single answer is also cut at about 1 MiB. Binary files are refused. Paths with \
`..`, absolute paths outside /workspace and symbolic links leading out of the \
workspace are refused. An empty file reads as `[empty file]`.";

// Input of `read_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadFileInput {
    /// File to read, relative to the workspace root (e.g. `src/main.rs`).
    pub path: String,
    /// First line to return (1-based, inclusive). Defaults to 1.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub start_line: Option<u64>,
    /// Last line to return (1-based, inclusive). Defaults to the end of the
    /// file.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub end_line: Option<u64>,
}

pub fn read_file(ws: &Workspace, input: ReadFileInput) -> Result<ToolOutput, ToolError> {
    let path = ws.resolve("path", &input.path)?;
    if input.start_line == Some(0) || input.end_line == Some(0) {
        return Err(ToolError::invalid_input(
            "lines are numbered from 1: `start_line` and `end_line` must be at least 1",
        ));
    }
    if let (Some(s), Some(e)) = (input.start_line, input.end_line)
        && e < s
    {
        return Err(ToolError::invalid_input(format!(
            "`end_line` ({e}) is before `start_line` ({s})"
        )));
    }
    ws.check_links(&path)?;
    let shown = path.display();
    let meta = fs::metadata(&path.abs).map_err(|e| ws.io_error("read", &path, &e))?;
    if meta.is_dir() {
        return Err(ToolError::failed(format!(
            "`{shown}` is a directory, not a file; use list_dir to see what it contains"
        )));
    }
    if !meta.is_file() {
        return Err(ToolError::failed(format!(
            "`{shown}` is not a regular file (a device, socket or pipe); read_file only reads files"
        )));
    }
    let ranged = input.start_line.is_some() || input.end_line.is_some();
    if !ranged {
        if meta.len() > MAX_READ_BYTES {
            return Err(too_big(&shown, meta.len()));
        }
        let bytes = fs::read(&path.abs).map_err(|e| ws.io_error("read", &path, &e))?;
        if looks_binary(&bytes) {
            return Err(binary_error(&shown, bytes.len() as u64));
        }
        if bytes.is_empty() {
            return Ok(ToolOutput::text("[empty file]"));
        }
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                let mut text = String::from_utf8_lossy(e.as_bytes()).into_owned();
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str("[the file is not valid UTF-8; invalid bytes are shown as U+FFFD]");
                text
            }
        };
        if text.len() > OUTPUT_BUDGET {
            return Err(too_big(&shown, meta.len()));
        }
        return Ok(ToolOutput::text(text));
    }

    let start = input.start_line.unwrap_or(1);
    let end = input.end_line.unwrap_or(u64::MAX);
    let file = File::open(&path.abs).map_err(|e| ws.io_error("read", &path, &e))?;
    let mut reader = BufReader::new(file);
    {
        let head = reader
            .fill_buf()
            .map_err(|e| ws.io_error("read", &path, &e))?;
        if looks_binary(head) {
            return Err(binary_error(&shown, meta.len()));
        }
    }
    let mut out: Vec<u8> = Vec::new();
    let mut line = Vec::new();
    let mut number = 0u64;
    let mut last_shown = 0u64;
    let mut cut = false;
    let mut counted_all = true;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| ws.io_error("read", &path, &e))?;
        if n == 0 {
            break;
        }
        number += 1;
        if number >= start && number <= end && !cut {
            if out.len() + line.len() > OUTPUT_BUDGET {
                cut = true;
            } else {
                out.extend_from_slice(&line);
                last_shown = number;
            }
        }
        if (number >= end || cut) && meta.len() > COUNT_ALL_LINES_UP_TO {
            // A big file: stop after the range rather than count to its end.
            counted_all = reader.fill_buf().map(|b| b.is_empty()).unwrap_or(false);
            break;
        }
    }
    let total = number;
    if total == 0 {
        return Ok(ToolOutput::text("[empty file]"));
    }
    if start > total && counted_all {
        return Err(ToolError::failed(format!(
            "`start_line` {start} is past the end of `{shown}`, which has {total} line{}",
            if total == 1 { "" } else { "s" }
        )));
    }
    if out.is_empty() && cut {
        return Err(ToolError::failed(format!(
            "line {start} of `{shown}` alone is longer than the 1 MiB read limit"
        )));
    }
    let mut text = String::from_utf8_lossy(&out).into_owned();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let of = if counted_all {
        format!("of {total}")
    } else {
        format!("of more than {total}")
    };
    if cut {
        text.push_str(&format!(
            "[lines {start}-{last_shown} {of}; the answer was cut at about 1 MiB — continue with start_line {}]",
            last_shown + 1
        ));
    } else {
        text.push_str(&format!("[lines {start}-{last_shown} {of}]"));
    }
    Ok(ToolOutput::text(text))
}

fn too_big(shown: &str, size: u64) -> ToolError {
    ToolError::failed(format!(
        "`{shown}` is {} — too large to read whole (the limit is 1 MiB). Read it in parts with `start_line`/`end_line` (e.g. start_line 1, end_line 400), or use `search` to find the lines you need",
        human_bytes(size)
    ))
}

fn binary_error(shown: &str, size: u64) -> ToolError {
    ToolError::failed(format!(
        "`{shown}` looks like a binary file ({}); read_file only shows text",
        human_bytes(size)
    ))
}
