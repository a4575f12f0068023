//! Reading a workspace: one directory's entries (what `.gitignore` files
//! leave out is hidden unless asked for), a file's content with a size cap
//! and binary detection, and a directory's size.

use super::WorkspaceError;
use serde::Serialize;
use std::io::Read;
use std::path::Path;
use utoipa::ToSchema;

/// What a directory entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file (or anything else that is not a directory or link).
    File,
    /// A symbolic link.
    Symlink,
}

impl EntryKind {
    /// Its name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Dir => "dir",
            EntryKind::File => "file",
            EntryKind::Symlink => "symlink",
        }
    }
}

/// One entry of a directory.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Entry {
    /// Its name.
    pub name: String,
    /// Its path from the workspace root.
    pub path: String,
    /// What it is (a symlink is never followed).
    pub kind: EntryKind,
    /// Bytes (files only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Whether a `.gitignore` leaves it out (listed only when asked for).
    pub ignored: bool,
}

/// A file's content.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct FileContent {
    /// Its path from the workspace root.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether it looks binary (a NUL byte, or not UTF-8); binary content
    /// is not returned.
    pub binary: bool,
    /// Whether `text` stops at the size cap.
    pub truncated: bool,
    /// The text (null when binary).
    pub text: Option<String>,
}

/// The entries of `dir` (a canonical directory inside `root`), directories
/// first, then by name. `.git` is never listed.
pub fn list(root: &Path, dir: &Path, include_ignored: bool) -> Result<Vec<Entry>, WorkspaceError> {
    let ignore = gitignore(root, dir)?;
    let read =
        std::fs::read_dir(dir).map_err(|e| WorkspaceError::io("cannot list the directory", e))?;
    let mut entries = Vec::new();
    for item in read {
        let item = item.map_err(|e| WorkspaceError::io("cannot list the directory", e))?;
        let name = item.file_name().to_string_lossy().into_owned();
        if name == ".git" {
            continue;
        }
        let meta = std::fs::symlink_metadata(item.path())
            .map_err(|e| WorkspaceError::io(&format!("cannot read `{name}`"), e))?;
        let ft = meta.file_type();
        let kind = if ft.is_symlink() {
            EntryKind::Symlink
        } else if ft.is_dir() {
            EntryKind::Dir
        } else {
            EntryKind::File
        };
        let path = item.path();
        let ignored = ignore
            .matched_path_or_any_parents(&path, ft.is_dir())
            .is_ignore();
        if ignored && !include_ignored {
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        entries.push(Entry {
            name,
            path: rel,
            kind,
            size: ft.is_file().then_some(meta.len()),
            ignored,
        });
    }
    entries.sort_by(|a, b| {
        (a.kind != EntryKind::Dir, &a.name).cmp(&(b.kind != EntryKind::Dir, &b.name))
    });
    Ok(entries)
}

/// The `.gitignore` rules that apply in `dir`: those of every directory
/// from `root` down to it.
fn gitignore(root: &Path, dir: &Path) -> Result<ignore::gitignore::Gitignore, WorkspaceError> {
    let mut builder = ignore::gitignore::GitignoreBuilder::new(root);
    let rel = dir.strip_prefix(root).unwrap_or(Path::new(""));
    let mut at = root.to_path_buf();
    let mut add = |d: &Path| {
        let file = d.join(".gitignore");
        if file.is_file() {
            // A malformed line is skipped by git too; keep the others.
            let _ = builder.add(file);
        }
    };
    add(&at);
    for c in rel.components() {
        at.push(c);
        add(&at);
    }
    builder
        .build()
        .map_err(|e| WorkspaceError::Invalid(format!("a .gitignore cannot be read: {e}")))
}

/// Up to `cap` bytes of `file`, told apart as text or binary.
pub fn read(root: &Path, file: &Path, cap: u64) -> Result<FileContent, WorkspaceError> {
    let meta =
        std::fs::metadata(file).map_err(|e| WorkspaceError::io("cannot read the file", e))?;
    let rel = file
        .strip_prefix(root)
        .unwrap_or(file)
        .to_string_lossy()
        .into_owned();
    if !meta.is_file() {
        return Err(WorkspaceError::Invalid(format!(
            "path: `{rel}` is not a regular file"
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(cap).read_to_end(&mut bytes))
        .map_err(|e| WorkspaceError::io("cannot read the file", e))?;
    let truncated = meta.len() > bytes.len() as u64;
    let sniff = &bytes[..bytes.len().min(8000)];
    let text = if sniff.contains(&0) {
        None
    } else {
        match std::str::from_utf8(&bytes) {
            Ok(t) => Some(t.to_string()),
            // Cut by the cap in the middle of a character: keep the whole ones.
            Err(e) if truncated && e.error_len().is_none() => {
                Some(String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned())
            }
            Err(_) => None,
        }
    };
    Ok(FileContent {
        path: rel,
        size: meta.len(),
        binary: text.is_none(),
        truncated: truncated && text.is_some(),
        text,
    })
}

/// Bytes and files under `dir`, symlinks not followed; without a
/// top-level `.git` when `skip_git`.
pub fn size(dir: &Path, skip_git: bool) -> (u64, u64) {
    let mut bytes = 0;
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&d) else {
            continue;
        };
        for item in read.flatten() {
            if skip_git && d == dir && item.file_name() == ".git" {
                continue;
            }
            let Ok(meta) = item.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(item.path());
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    (bytes, files)
}

/// Bytes of the files a workspace made from `dir` brings into the data
/// dir: every file for a copy; for a directory used in place, those its
/// snapshot keeps (not `.gitignore`d, no `.git`). Stops counting past
/// `stop_after` (the answer is then just over it).
pub fn import_size(dir: &Path, copy: bool, stop_after: u64) -> u64 {
    let walk = ignore::WalkBuilder::new(dir)
        .hidden(false)
        .parents(false)
        .ignore(false)
        .git_global(false)
        .git_exclude(false)
        .git_ignore(!copy)
        .require_git(false)
        .follow_links(false)
        .filter_entry(move |e| copy || e.depth() == 0 || e.file_name() != ".git")
        .build();
    let mut bytes = 0u64;
    for entry in walk.flatten() {
        if entry.file_type().is_some_and(|t| t.is_file())
            && let Ok(meta) = entry.metadata()
        {
            bytes = bytes.saturating_add(meta.len());
            if bytes > stop_after {
                break;
            }
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_hides_ignored_entries_and_git() {
        let ws = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(ws.path()).unwrap();
        std::fs::write(root.join(".gitignore"), "target/\n*.log\n").unwrap();
        std::fs::create_dir_all(root.join("target/debug")).unwrap();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join("src/a.log"), "x").unwrap();
        std::fs::write(root.join("src/main.rs"), "fn main() {}").unwrap();
        std::fs::write(root.join("src/.gitignore"), "gen.rs\n").unwrap();
        std::fs::write(root.join("src/gen.rs"), "").unwrap();
        let names = |v: Vec<Entry>| v.into_iter().map(|e| e.path).collect::<Vec<_>>();
        assert_eq!(
            names(list(&root, &root, false).unwrap()),
            vec!["src", ".gitignore"]
        );
        assert_eq!(
            names(list(&root, &root.join("src"), false).unwrap()),
            vec!["src/.gitignore", "src/main.rs"]
        );
        let all = list(&root, &root.join("src"), true).unwrap();
        assert_eq!(all.len(), 4);
        assert!(all.iter().find(|e| e.name == "gen.rs").unwrap().ignored);
        assert_eq!(
            all.iter().find(|e| e.name == "main.rs").unwrap().size,
            Some(12)
        );
    }

    #[test]
    fn reading_caps_and_tells_binary_apart() {
        let ws = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(ws.path()).unwrap();
        std::fs::write(root.join("t.txt"), "héllo").unwrap();
        std::fs::write(root.join("b.bin"), [0u8, 1, 2]).unwrap();
        let t = read(&root, &root.join("t.txt"), 100).unwrap();
        assert_eq!(t.text.as_deref(), Some("héllo"));
        assert!(!t.binary && !t.truncated);
        // The cap falls inside `é` (2 bytes): the text stops before it.
        let cut = read(&root, &root.join("t.txt"), 2).unwrap();
        assert_eq!(cut.text.as_deref(), Some("h"));
        assert!(cut.truncated);
        assert_eq!(cut.size, 6);
        let b = read(&root, &root.join("b.bin"), 100).unwrap();
        assert!(b.binary && b.text.is_none());
        assert!(read(&root, &root, 100).is_err());
    }
}
