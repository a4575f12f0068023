//! `list_dir`.

use std::collections::{HashMap, VecDeque};
use std::fs;

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use paddock_sdk::prelude::*;

use crate::paths::Workspace;
use crate::util::OUTPUT_BUDGET;

/// Entries listed at most.
pub const MAX_ENTRIES: usize = 1000;
/// Default and maximum `depth`.
pub const DEFAULT_DEPTH: u32 = 2;
pub const MAX_DEPTH: u32 = 10;

/// Directory names never listed or searched.
pub const SKIPPED_DIRS: [&str; 2] = [".git", ".paddock"];

pub const DESCRIPTION: &str = "\
List the files and directories under a directory of the workspace, \
recursively down to `depth` levels (default 2: the directory's entries and \
the entries of its subdirectories; 1 lists only its own entries; at most 10). Each line is a \
path relative to the workspace root, sorted; directories end with `/`, \
symbolic links are shown as `link -> target` and are not followed. `.git` and \
`.paddock` are left out, and directories matched by .gitignore are shown as \
`dir/ (gitignored, not expanded)` without their contents. At most 1000 \
entries are listed; past that the answer says so — list a subdirectory or \
lower `depth`. `path` defaults to `.`, the workspace root.";

// Input of `list_dir`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDirInput {
    /// Directory to list, relative to the workspace root. Defaults to `.`
    /// (the workspace root).
    #[serde(default)]
    pub path: Option<String>,
    /// How many levels to descend: 1 lists only the directory's own
    /// entries. Defaults to 2; at most 10.
    #[serde(default)]
    #[schemars(range(min = 1, max = 10))]
    pub depth: Option<u32>,
}

/// Gitignore rules of a workspace, read lazily per directory.
pub struct Ignores<'a> {
    ws: &'a Workspace,
    cache: HashMap<Vec<String>, Gitignore>,
}

impl<'a> Ignores<'a> {
    pub fn new(ws: &'a Workspace) -> Self {
        Ignores {
            ws,
            cache: HashMap::new(),
        }
    }

    fn matcher(&mut self, dir: &[String]) -> &Gitignore {
        let ws = self.ws;
        self.cache.entry(dir.to_vec()).or_insert_with(|| {
            let dir_path = ws.path_of(dir.to_vec());
            let mut builder = GitignoreBuilder::new(&dir_path.abs);
            if dir.is_empty() {
                // Lowest precedence first: later rules win.
                let _ = builder.add(dir_path.abs.join(".git/info/exclude"));
            }
            let _ = builder.add(dir_path.abs.join(".gitignore"));
            builder.build().unwrap_or_else(|_| Gitignore::empty())
        })
    }

    /// Whether `parent/name` is ignored by the .gitignore files of the
    /// workspace root down to `parent` (the deepest decides, as in git).
    pub fn is_ignored(&mut self, parent: &[String], name: &str, is_dir: bool) -> bool {
        let mut full = parent.to_vec();
        full.push(name.to_string());
        let abs = self.ws.path_of(full).abs;
        for depth in (0..=parent.len()).rev() {
            match self.matcher(&parent[..depth]).matched(&abs, is_dir) {
                Match::Ignore(_) => return true,
                Match::Whitelist(_) => return false,
                Match::None => {}
            }
        }
        false
    }
}

pub fn list_dir(ws: &Workspace, input: ListDirInput) -> Result<ToolOutput, ToolError> {
    let raw = input.path.as_deref().unwrap_or(".");
    let raw = if raw.trim().is_empty() { "." } else { raw };
    let path = ws.resolve("path", raw)?;
    let mut notes = Vec::new();
    let depth = match input.depth {
        None => DEFAULT_DEPTH,
        Some(0) => {
            return Err(ToolError::invalid_input(
                "`depth` must be at least 1 (1 lists only the directory's own entries)",
            ));
        }
        Some(d) if d > MAX_DEPTH => {
            notes.push(format!(
                "[depth {d} was lowered to the maximum, {MAX_DEPTH}]"
            ));
            MAX_DEPTH
        }
        Some(d) => d,
    };
    ws.check_links(&path)?;
    let shown = path.display();
    let meta = fs::metadata(&path.abs).map_err(|e| ws.io_error("list", &path, &e))?;
    if !meta.is_dir() {
        return Err(ToolError::failed(format!(
            "`{shown}` is a file, not a directory; use read_file to read it"
        )));
    }

    let mut ignores = Ignores::new(ws);
    let mut queue: VecDeque<(Vec<String>, u32)> = VecDeque::from([(path.rel.clone(), 1)]);
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut truncated = false;
    let mut output_bytes = 0usize;
    let mut unreadable = Vec::new();
    'dirs: while let Some((dir_rel, level)) = queue.pop_front() {
        let dir = ws.path_of(dir_rel.clone());
        let read = match fs::read_dir(&dir.abs) {
            Ok(read) => read,
            Err(e) if dir_rel == path.rel => return Err(ws.io_error("list", &dir, &e)),
            Err(e) => {
                unreadable.push(format!("{}/ ({e})", dir.display()));
                continue;
            }
        };
        let mut entries: Vec<(String, fs::FileType)> = read
            .filter_map(Result::ok)
            .filter_map(|e| {
                let ft = e.file_type().ok()?;
                Some((e.file_name().to_string_lossy().into_owned(), ft))
            })
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, ft) in entries {
            if SKIPPED_DIRS.contains(&name.as_str()) {
                continue;
            }
            if lines.len() >= MAX_ENTRIES || output_bytes > OUTPUT_BUDGET - 8 * 1024 {
                truncated = true;
                break 'dirs;
            }
            let mut rel = dir_rel.clone();
            rel.push(name.clone());
            let key = rel.join("/");
            let line = if ft.is_symlink() {
                let link = ws.path_of(rel.clone());
                let target = fs::read_link(&link.abs)
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| "<absolute path>".to_string());
                if ws.check_links(&link).is_err() {
                    format!("{key} -> {target} (leads outside the workspace; not followed)")
                } else {
                    format!("{key} -> {target}")
                }
            } else if ft.is_dir() {
                if ignores.is_ignored(&dir_rel, &name, true) {
                    format!("{key}/ (gitignored, not expanded)")
                } else {
                    if level < depth {
                        queue.push_back((rel, level + 1));
                    }
                    format!("{key}/")
                }
            } else {
                key.clone()
            };
            output_bytes += line.len() + 1;
            lines.push((key, line));
        }
    }
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    let count = lines.len();
    let mut text = if lines.is_empty() {
        format!("`{shown}` is empty.")
    } else {
        lines
            .into_iter()
            .map(|(_, line)| line)
            .collect::<Vec<_>>()
            .join("\n")
    };
    if truncated {
        notes.push(format!(
            "[listing stopped at {count} entries; list a subdirectory or use a smaller depth to see the rest]"
        ));
    }
    if !unreadable.is_empty() {
        notes.push(format!("[could not read: {}]", unreadable.join(", ")));
    }
    for note in notes {
        text.push('\n');
        text.push_str(&note);
    }
    Ok(ToolOutput::text(text).with_structured(&serde_json::json!({
        "path": shown,
        "depth": depth,
        "entries": count,
        "truncated": truncated,
    })))
}
