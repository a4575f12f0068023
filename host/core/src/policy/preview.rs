//! What an approval shows besides the arguments: for file writes and edits
//! (`write_file`, `edit_file`), a unified diff of what the call would change
//! in the agent's workspace, computed before it runs.
//!
//! The path is resolved the way the file tools resolve it (relative to the
//! workspace, or under `/workspace`) and must stay inside the workspace,
//! symlinks included; anything else yields a note instead of a diff.

use serde_json::Value;
use std::path::{Component, Path, PathBuf};

/// Largest file read for a preview.
const MAX_FILE: u64 = 1024 * 1024;
/// Largest diff kept (longer ones are cut, with a note).
const MAX_DIFF: usize = 64 * 1024;

/// The preview of a file change: a unified diff, or why there is none.
pub fn file_change(workspace: &Path, tool: &str, arguments: &Value) -> Option<String> {
    let path = arguments.get("path")?.as_str()?;
    let new_text = |old: &str| -> Result<String, String> {
        match tool {
            "write_file" => arguments
                .get("content")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| "no `content` to write".to_string()),
            "edit_file" => {
                let from = arguments.get("old_string").and_then(Value::as_str);
                let to = arguments.get("new_string").and_then(Value::as_str);
                let (Some(from), Some(to)) = (from, to) else {
                    return Err("no `old_string`/`new_string`".into());
                };
                if from.is_empty() || !old.contains(from) {
                    return Err("`old_string` is not in the file: the edit would fail".into());
                }
                let all = arguments.get("replace_all").and_then(Value::as_bool) == Some(true);
                Ok(if all {
                    old.replace(from, to)
                } else {
                    old.replacen(from, to, 1)
                })
            }
            _ => Err("not a file change".into()),
        }
    };
    if !matches!(tool, "write_file" | "edit_file") {
        return None;
    }
    let file = match resolve(workspace, path) {
        Ok(f) => f,
        Err(e) => return Some(format!("(no preview: {e})")),
    };
    let old = match std::fs::metadata(&file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Some(format!("(no preview: cannot read `{path}`: {e})")),
        Ok(m) if !m.is_file() => return Some(format!("(no preview: `{path}` is not a file)")),
        Ok(m) if m.len() > MAX_FILE => {
            return Some(format!(
                "(no preview: `{path}` is {} bytes, over {MAX_FILE})",
                m.len()
            ));
        }
        Ok(_) => match std::fs::read(&file) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(s) => s,
                Err(_) => return Some(format!("(no preview: `{path}` is a binary file)")),
            },
            Err(e) => return Some(format!("(no preview: cannot read `{path}`: {e})")),
        },
    };
    let new = match new_text(&old) {
        Ok(n) => n,
        Err(e) => return Some(format!("(no preview: {e})")),
    };
    let shown = path
        .trim_start_matches("/workspace/")
        .trim_start_matches('/');
    let diff = similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{shown}"), &format!("b/{shown}"))
        .to_string();
    if diff.is_empty() {
        return Some("(no change: the file already has this content)".into());
    }
    if diff.len() > MAX_DIFF {
        let mut cut = MAX_DIFF;
        while !diff.is_char_boundary(cut) {
            cut -= 1;
        }
        return Some(format!(
            "{}\n… (diff cut: {} more bytes)",
            &diff[..cut],
            diff.len() - cut
        ));
    }
    Some(diff)
}

/// The file `path` names inside `workspace`, refusing escapes (`..`, and
/// symlinked parents that lead outside).
fn resolve(workspace: &Path, path: &str) -> Result<PathBuf, String> {
    let rel = match path.strip_prefix("/workspace") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.trim_start_matches('/'),
        _ if path.starts_with('/') => {
            return Err(format!("`{path}` is outside the workspace"));
        }
        _ => path,
    };
    let mut clean = PathBuf::new();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            _ => return Err(format!("`{path}` leaves the workspace")),
        }
    }
    let root = workspace
        .canonicalize()
        .map_err(|e| format!("the workspace cannot be read: {e}"))?;
    let file = root.join(&clean);
    // The deepest existing ancestor, with symlinks resolved, must still be
    // inside the workspace.
    let mut existing = file.as_path();
    while !existing.exists() {
        match existing.parent() {
            Some(p) => existing = p,
            None => break,
        }
    }
    let real = existing
        .canonicalize()
        .map_err(|e| format!("cannot resolve `{path}`: {e}"))?;
    if !real.starts_with(&root) {
        return Err(format!("`{path}` leads outside the workspace"));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn write_and_edit_show_unified_diffs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "one\ntwo\nthree\n").unwrap();
        let d = file_change(
            dir.path(),
            "edit_file",
            &json!({"path": "a.txt", "old_string": "two", "new_string": "2"}),
        )
        .unwrap();
        assert!(d.starts_with("--- a/a.txt\n+++ b/a.txt\n"), "{d}");
        assert!(d.contains("-two\n+2\n"), "{d}");
        let d = file_change(
            dir.path(),
            "write_file",
            &json!({"path": "/workspace/new/b.txt", "content": "hi\n"}),
        )
        .unwrap();
        assert!(d.contains("+++ b/new/b.txt") && d.contains("+hi"), "{d}");
        let d = file_change(
            dir.path(),
            "edit_file",
            &json!({"path": "a.txt", "old_string": "nope", "new_string": "x"}),
        )
        .unwrap();
        assert!(d.contains("not in the file"), "{d}");
        assert!(file_change(dir.path(), "read_file", &json!({"path": "a.txt"})).is_none());
    }

    #[test]
    fn escapes_get_a_note_not_a_diff() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s\n").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        for path in [
            "../x",
            "/etc/passwd",
            "a/../../x",
            "link/secret",
            "link/new",
        ] {
            let d = file_change(
                dir.path(),
                "write_file",
                &json!({"path": path, "content": "x"}),
            )
            .unwrap();
            assert!(d.starts_with("(no preview: "), "{path}: {d}");
            assert!(!d.contains("+x"), "{path}: {d}");
        }
    }

    #[test]
    fn binary_and_unchanged_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bin"), [0xff, 0xfe, 0]).unwrap();
        std::fs::write(dir.path().join("same"), "x\n").unwrap();
        let d = file_change(
            dir.path(),
            "write_file",
            &json!({"path": "bin", "content": "x"}),
        )
        .unwrap();
        assert!(d.contains("binary"), "{d}");
        let d = file_change(
            dir.path(),
            "write_file",
            &json!({"path": "same", "content": "x\n"}),
        )
        .unwrap();
        assert!(d.contains("no change"), "{d}");
    }
}
