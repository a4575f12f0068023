//! `search`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use ignore::WalkBuilder;
use ignore::overrides::OverrideBuilder;
use paddock_sdk::prelude::*;
use regex::bytes::RegexBuilder;

use crate::list::SKIPPED_DIRS;
use crate::paths::Workspace;
use crate::util::{OUTPUT_BUDGET, looks_binary, truncate_chars};

pub const DEFAULT_MAX_RESULTS: u32 = 100;
pub const MAX_MAX_RESULTS: u32 = 1000;
/// Characters of a matching line shown at most.
const MAX_LINE_CHARS: usize = 300;
/// Files larger than this are skipped.
const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// The search stops (with partial results) after this long, well before
/// the plugin's own deadline.
const TIME_BUDGET: Duration = Duration::from_secs(7);

pub const DESCRIPTION: &str = "\
Search the workspace's text files for lines matching a regular expression \
(Rust `regex` syntax, e.g. `fn\\s+main`, `TODO|FIXME`; prefix with `(?i)` to \
ignore case; escape special characters like `(` or `.` to match them \
literally). Returns one line per match as `path:line: text`, paths relative to \
the workspace root, then a summary line. `path` limits the search to a \
directory or a single file (default: the whole workspace); `glob` limits it to \
matching files, e.g. `*.rs` or `src/**/*.ts` (relative to the workspace root). \
Files and directories matched by .gitignore (and `.git`, `.paddock`), binary \
files, files over 10 MiB and symbolic links are skipped. At most \
`max_results` matches (default 100, up to 1000) are returned; long lines are \
cut to 300 characters.";

// Input of `search`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchInput {
    /// Regular expression to look for, matched against each line.
    pub pattern: String,
    /// Directory or file to search, relative to the workspace root.
    /// Defaults to the whole workspace.
    #[serde(default)]
    pub path: Option<String>,
    /// Only search files matching this glob, e.g. `*.rs` or `src/**/*.ts`.
    #[serde(default)]
    pub glob: Option<String>,
    /// Maximum number of matching lines to return. Defaults to 100; at most
    /// 1000.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub max_results: Option<u32>,
}

pub fn search(ws: &Workspace, input: SearchInput) -> Result<ToolOutput, ToolError> {
    let started = Instant::now();
    if input.pattern.is_empty() {
        return Err(ToolError::invalid_input(
            "`pattern` is empty; give a regular expression to search for",
        ));
    }
    let regex = RegexBuilder::new(&input.pattern)
        .size_limit(8 * 1024 * 1024)
        .build()
        .map_err(|e| {
            ToolError::invalid_input(format!("`pattern` is not a valid regular expression: {e}"))
        })?;
    let max_results = match input.max_results {
        None => DEFAULT_MAX_RESULTS,
        Some(0) => {
            return Err(ToolError::invalid_input("`max_results` must be at least 1"));
        }
        Some(n) => n.min(MAX_MAX_RESULTS),
    } as usize;
    let raw = input.path.as_deref().unwrap_or(".");
    let raw = if raw.trim().is_empty() { "." } else { raw };
    let path = ws.resolve("path", raw)?;
    ws.check_links(&path)?;
    std::fs::metadata(&path.abs).map_err(|e| ws.io_error("search", &path, &e))?;

    let mut walk = WalkBuilder::new(&path.abs);
    walk.hidden(false)
        .git_global(false)
        .git_ignore(true)
        .git_exclude(true)
        .require_git(false)
        .ignore(true)
        .parents(true)
        .follow_links(false)
        .current_dir(ws.root())
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|entry| {
            entry.depth() == 0
                || !SKIPPED_DIRS
                    .iter()
                    .any(|skip| entry.file_name() == std::ffi::OsStr::new(skip))
        });
    if let Some(glob) = input
        .glob
        .as_deref()
        .map(str::trim)
        .filter(|g| !g.is_empty())
    {
        let mut overrides = OverrideBuilder::new(ws.root());
        overrides.add(glob).map_err(|e| {
            ToolError::invalid_input(format!("`glob` is not a valid glob pattern: {e}"))
        })?;
        let overrides = overrides.build().map_err(|e| {
            ToolError::invalid_input(format!("`glob` is not a valid glob pattern: {e}"))
        })?;
        walk.overrides(overrides);
    }

    let mut results: Vec<String> = Vec::new();
    let mut files_searched = 0usize;
    let mut files_matched = 0usize;
    let mut skipped_large = 0usize;
    let mut more = false;
    let mut output_bytes = 0usize;
    let mut out_of_time = false;
    let mut line = Vec::new();
    'files: for entry in walk.build() {
        let Ok(entry) = entry else { continue };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        if started.elapsed() > TIME_BUDGET {
            out_of_time = true;
            break;
        }
        let shown = match entry.path().strip_prefix(ws.root()) {
            Ok(rel) if !rel.as_os_str().is_empty() => rel.to_string_lossy().into_owned(),
            _ => path.display(),
        };
        if entry.metadata().map(|m| m.len()).unwrap_or(0) > MAX_FILE_BYTES {
            skipped_large += 1;
            continue;
        }
        let Ok(file) = File::open(entry.path()) else {
            continue;
        };
        let mut reader = BufReader::new(file);
        match reader.fill_buf() {
            Ok(head) if looks_binary(head) => continue,
            Ok(_) => {}
            Err(_) => continue,
        }
        files_searched += 1;
        let mut number = 0usize;
        let mut matched_here = false;
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            number += 1;
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            if !regex.is_match(&line) {
                continue;
            }
            if results.len() >= max_results {
                more = true;
                break 'files;
            }
            let text = String::from_utf8_lossy(&line);
            let result = format!(
                "{shown}:{number}: {}",
                truncate_chars(&text, MAX_LINE_CHARS)
            );
            if output_bytes + result.len() + 1 > OUTPUT_BUDGET {
                more = true;
                break 'files;
            }
            output_bytes += result.len() + 1;
            results.push(result);
            if !matched_here {
                matched_here = true;
                files_matched += 1;
            }
        }
    }

    let scope = if path.is_root() {
        "the workspace".to_string()
    } else {
        format!("`{}`", path.display())
    };
    let glob_note = match input.glob.as_deref().map(str::trim) {
        Some(g) if !g.is_empty() => format!(" matching `{g}`"),
        _ => String::new(),
    };
    let mut summary = if results.is_empty() {
        format!(
            "No matches for `{}` in {scope} ({files_searched} file{}{glob_note} searched).",
            input.pattern,
            plural(files_searched)
        )
    } else if more {
        format!(
            "[showing the first {} matches in {files_matched} file{}; there are more — narrow `pattern`, `path` or `glob`, or raise `max_results` (at most {MAX_MAX_RESULTS})]",
            results.len(),
            plural(files_matched)
        )
    } else {
        format!(
            "[{} match{} in {files_matched} file{}; {files_searched} file{}{glob_note} searched]",
            results.len(),
            if results.len() == 1 { "" } else { "es" },
            plural(files_matched),
            plural(files_searched)
        )
    };
    if skipped_large > 0 {
        summary.push_str(&format!(
            " [{skipped_large} file{} over 10 MiB skipped]",
            plural(skipped_large)
        ));
    }
    if out_of_time {
        summary
            .push_str(" [the search ran out of time and is incomplete; narrow `path` or `glob`]");
    }
    let count = results.len();
    results.push(summary);
    Ok(
        ToolOutput::text(results.join("\n")).with_structured(&serde_json::json!({
            "matches": count,
            "files_matched": files_matched,
            "files_searched": files_searched,
            "truncated": more || out_of_time,
        })),
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
