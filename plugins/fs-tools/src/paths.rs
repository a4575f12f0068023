//! Workspace paths: turning the model's path strings into paths under the
//! workspace root, refusing anything that would leave it, and explaining
//! I/O errors.
//!
//! The real barrier is the host: the plugin only sees the workspace through a
//! WASI preopen, which refuses `..` escapes and symlinks leading out of it.
//! The checks here come first so that the model gets a clear message instead
//! of a bare "operation not permitted", and so that the same rules hold when
//! the code runs natively in tests.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use paddock_sdk::{CallContext, ToolError};

/// Where the workspace appears inside the plugin.
pub const WORKSPACE: &str = "/workspace";

/// Symbolic links followed at most while resolving one path.
const MAX_LINK_HOPS: usize = 40;

/// The agent's workspace: the directory every path is relative to.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
}

/// A path inside the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsPath {
    /// Normal components from the workspace root (empty for the root).
    pub rel: Vec<String>,
    /// The path to hand to `std::fs` (the root joined with `rel`).
    pub abs: PathBuf,
}

impl WsPath {
    /// The path as shown to the model: relative to the workspace root, `/`
    /// separated, `.` for the root itself.
    pub fn display(&self) -> String {
        if self.rel.is_empty() {
            ".".to_string()
        } else {
            self.rel.join("/")
        }
    }

    /// True for the workspace root itself.
    pub fn is_root(&self) -> bool {
        self.rel.is_empty()
    }
}

impl Workspace {
    /// A workspace rooted at `root` (`/workspace` in the plugin, a temporary
    /// directory in tests).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Workspace { root: root.into() }
    }

    /// The workspace the host named in the call context.
    pub fn from_context(ctx: &CallContext) -> Self {
        if ctx.workspace.is_empty() {
            Workspace::new(WORKSPACE)
        } else {
            Workspace::new(&ctx.workspace)
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The workspace path with these components.
    pub fn path_of(&self, rel: Vec<String>) -> WsPath {
        let mut abs = self.root.clone();
        for c in &rel {
            abs.push(c);
        }
        WsPath { rel, abs }
    }

    /// Parse the model's `raw` path (given in input field `field`).
    ///
    /// Relative paths are taken from the workspace root; a leading
    /// `/workspace` (or the root's own path) is accepted and stripped. Empty
    /// and `.` components are dropped. `..` components and any other
    /// absolute path are refused with `denied`.
    pub fn resolve(&self, field: &str, raw: &str) -> Result<WsPath, ToolError> {
        if raw.contains('\0') {
            return Err(ToolError::invalid_input(format!(
                "`{field}` contains a NUL character; give a plain path relative to the workspace, e.g. `src/main.rs`"
            )));
        }
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ToolError::invalid_input(format!(
                "`{field}` is empty; give a path relative to the workspace, e.g. `src/main.rs` (or `.` for the workspace root)"
            )));
        }
        let rest = if trimmed.starts_with('/') {
            self.strip_root(trimmed).ok_or_else(|| {
                ToolError::denied(format!(
                    "`{field}`: `{trimmed}` is an absolute path outside the workspace. Only files in the workspace can be used; give a path relative to the workspace root ({WORKSPACE}), e.g. `src/main.rs`"
                ))
            })?
        } else if trimmed == "~" || trimmed.starts_with("~/") {
            return Err(ToolError::denied(format!(
                "`{field}`: `{trimmed}` refers to a home directory, which is outside the workspace; give a path relative to the workspace root"
            )));
        } else {
            trimmed
        };
        let mut rel = Vec::new();
        for component in rest.split('/') {
            match component {
                "" | "." => {}
                ".." => {
                    return Err(ToolError::denied(format!(
                        "`{field}`: `{trimmed}` contains `..`. Paths must stay inside the workspace, so `..` is not allowed; write the path from the workspace root instead (e.g. `src/lib.rs`)"
                    )));
                }
                c => rel.push(c.to_string()),
            }
        }
        Ok(self.path_of(rel))
    }

    /// `path` without its leading workspace root, or None when it is an
    /// absolute path elsewhere.
    fn strip_root<'a>(&self, path: &'a str) -> Option<&'a str> {
        let root = self.root.to_string_lossy();
        let roots = [root.trim_end_matches('/'), WORKSPACE];
        for prefix in roots {
            if prefix.is_empty() {
                continue;
            }
            if let Some(rest) = path.strip_prefix(prefix)
                && (rest.is_empty() || rest.starts_with('/'))
            {
                return Some(rest);
            }
        }
        None
    }

    /// Follow the symbolic links on `path` (without touching their targets'
    /// contents) and refuse, with `denied`, a path that would lead outside
    /// the workspace: a link with an absolute target, or whose `..` climbs
    /// above the root. Components that do not exist yet are fine.
    pub fn check_links(&self, path: &WsPath) -> Result<(), ToolError> {
        let mut queue: VecDeque<String> = path.rel.iter().cloned().collect();
        let mut resolved: Vec<String> = Vec::new();
        let mut hops = 0usize;
        while let Some(component) = queue.pop_front() {
            match component.as_str() {
                "" | "." => continue,
                ".." => {
                    if resolved.pop().is_none() {
                        return Err(self.escape_error(path));
                    }
                    continue;
                }
                _ => {}
            }
            let mut candidate = self.root.clone();
            for c in &resolved {
                candidate.push(c);
            }
            candidate.push(&component);
            let is_link = fs::symlink_metadata(&candidate)
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false);
            if !is_link {
                resolved.push(component);
                continue;
            }
            hops += 1;
            if hops > MAX_LINK_HOPS {
                return Err(ToolError::failed(format!(
                    "`{}`: too many levels of symbolic links (a link loop?)",
                    path.display()
                )));
            }
            // Inside the plugin, the sandbox refuses to even read a link
            // whose target is absolute: such a link leads out of it.
            let Ok(target) = fs::read_link(&candidate) else {
                return Err(self.escape_error(path));
            };
            if target.has_root() {
                return Err(self.escape_error(path));
            }
            let target = target.to_string_lossy().into_owned();
            for (i, part) in target.split('/').enumerate() {
                queue.insert(i, part.to_string());
            }
        }
        Ok(())
    }

    fn escape_error(&self, path: &WsPath) -> ToolError {
        ToolError::denied(format!(
            "`{}` is (or goes through) a symbolic link that points outside the workspace. Links leading out of the workspace cannot be followed; only files inside it can be used",
            path.display()
        ))
    }

    /// Explain an I/O error on `path` while trying to `action` it ("read",
    /// "write"...), as a tool error.
    pub fn io_error(&self, action: &str, path: &WsPath, err: &io::Error) -> ToolError {
        let shown = path.display();
        match err.kind() {
            io::ErrorKind::NotFound if fs::metadata(&self.root).is_err() => {
                ToolError::denied(format!(
                    "cannot {action} `{shown}`: this plugin has no access to the workspace (the `fs:{WORKSPACE}` capability is not granted; an admin can grant it with `paddock plugin grant fs-tools fs:{WORKSPACE}:rw`)"
                ))
            }
            io::ErrorKind::NotFound => ToolError::failed(format!(
                "cannot {action} `{shown}`: no such file or directory (use list_dir or search to find the right path)"
            )),
            io::ErrorKind::PermissionDenied => {
                if let Err(e) = self.check_links(path) {
                    return e;
                }
                ToolError::denied(format!(
                    "cannot {action} `{shown}`: permission denied ({err}). This plugin may only have read access to the workspace, or the path leads outside it"
                ))
            }
            io::ErrorKind::IsADirectory => ToolError::failed(format!(
                "cannot {action} `{shown}`: it is a directory (use list_dir to see what it contains)"
            )),
            io::ErrorKind::NotADirectory => ToolError::failed(format!(
                "cannot {action} `{shown}`: a component of the path is a file, not a directory"
            )),
            io::ErrorKind::ReadOnlyFilesystem => ToolError::denied(format!(
                "cannot {action} `{shown}`: the workspace is read-only for this plugin"
            )),
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
                ToolError::failed(format!("cannot {action} `{shown}`: no space left ({err})"))
            }
            _ => {
                // WASI reports a symlink escape as "not permitted"; make sure
                // the model hears about the link rather than a bare errno.
                if let Err(e) = self.check_links(path) {
                    return e;
                }
                ToolError::failed(format!("cannot {action} `{shown}`: {err}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> Workspace {
        Workspace::new("/tmp/ws-root")
    }

    fn rel(path: &str) -> Result<Vec<String>, ToolError> {
        ws().resolve("path", path).map(|p| p.rel)
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn relative_paths() {
        assert_eq!(rel("a/b.txt").unwrap(), strs(&["a", "b.txt"]));
        assert_eq!(rel("./a//b/./c").unwrap(), strs(&["a", "b", "c"]));
        assert_eq!(rel(".").unwrap(), Vec::<String>::new());
        assert_eq!(rel("a/").unwrap(), strs(&["a"]));
        assert_eq!(rel("  a.txt\n").unwrap(), strs(&["a.txt"]));
        assert_eq!(rel("with space/x y").unwrap(), strs(&["with space", "x y"]));
        assert_eq!(rel("...").unwrap(), strs(&["..."]));
        assert_eq!(rel("..a/b..").unwrap(), strs(&["..a", "b.."]));
    }

    #[test]
    fn workspace_prefix_is_stripped() {
        assert_eq!(rel("/workspace/a/b").unwrap(), strs(&["a", "b"]));
        assert_eq!(rel("/workspace").unwrap(), Vec::<String>::new());
        assert_eq!(rel("/workspace/").unwrap(), Vec::<String>::new());
        assert_eq!(rel("/tmp/ws-root/x").unwrap(), strs(&["x"]));
        assert_eq!(rel("/tmp/ws-root").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn abs_is_joined_to_root() {
        let p = ws().resolve("path", "a/b").unwrap();
        assert_eq!(p.abs, PathBuf::from("/tmp/ws-root/a/b"));
        assert_eq!(p.display(), "a/b");
        let p = ws().resolve("path", ".").unwrap();
        assert_eq!(p.abs, PathBuf::from("/tmp/ws-root"));
        assert_eq!(p.display(), ".");
        assert!(p.is_root());
    }

    #[test]
    fn escapes_are_denied() {
        for bad in [
            "..",
            "../x",
            "a/../../x",
            "a/../b",
            "/workspace/../etc/passwd",
            "./..",
        ] {
            let err = rel(bad).unwrap_err();
            assert_eq!(err.kind(), "denied", "{bad}: {err}");
            assert!(err.message().contains("`..`"), "{bad}: {err}");
        }
        for bad in ["/etc/passwd", "/", "/workspacex/a", "/tmp/ws-rootx", "/tmp"] {
            let err = rel(bad).unwrap_err();
            assert_eq!(err.kind(), "denied", "{bad}: {err}");
            assert!(err.message().contains("absolute path"), "{bad}: {err}");
        }
        assert_eq!(rel("~/x").unwrap_err().kind(), "denied");
        assert_eq!(rel("~").unwrap_err().kind(), "denied");
    }

    #[test]
    fn empty_and_nul_are_invalid() {
        assert_eq!(rel("").unwrap_err().kind(), "invalid-input");
        assert_eq!(rel("   ").unwrap_err().kind(), "invalid-input");
        assert_eq!(rel("a\0b").unwrap_err().kind(), "invalid-input");
        assert!(rel("").unwrap_err().message().contains("`path`"));
    }

    #[cfg(unix)]
    #[test]
    fn links_inside_are_followed_links_outside_are_denied() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("a/b/f.txt"), "x").unwrap();
        fs::write(outside.path().join("secret"), "s").unwrap();
        symlink("a/b", root.join("inside_dir")).unwrap();
        symlink("b/f.txt", root.join("a/inside_file")).unwrap();
        symlink("../a/b/f.txt", root.join("a/up_and_back")).unwrap();
        symlink("../../x", root.join("a/too_high")).unwrap();
        symlink(outside.path().join("secret"), root.join("abs_file")).unwrap();
        symlink(outside.path(), root.join("abs_dir")).unwrap();
        symlink("loop2", root.join("loop1")).unwrap();
        symlink("loop1", root.join("loop2")).unwrap();
        symlink("inside_dir/../../..", root.join("sneaky")).unwrap();

        let ws = Workspace::new(root);
        let check = |p: &str| ws.check_links(&ws.resolve("path", p).unwrap());
        assert!(check("a/b/f.txt").is_ok());
        assert!(check("inside_dir/f.txt").is_ok());
        assert!(check("a/inside_file").is_ok());
        assert!(check("a/up_and_back").is_ok());
        assert!(check("does/not/exist").is_ok());
        assert!(check("inside_dir/new_file").is_ok());
        for bad in [
            "a/too_high",
            "abs_file",
            "abs_dir",
            "abs_dir/secret",
            "sneaky",
            "sneaky/x",
        ] {
            let err = check(bad).unwrap_err();
            assert_eq!(err.kind(), "denied", "{bad}: {err}");
            assert!(err.message().contains("symbolic link"), "{bad}: {err}");
        }
        let err = check("loop1").unwrap_err();
        assert!(err.message().contains("too many levels"), "{err}");
    }

    #[test]
    fn io_errors_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path());
        let p = ws.resolve("path", "a/b").unwrap();
        let e = ws.io_error("read", &p, &io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(e.kind(), "failed");
        assert!(e.message().contains("cannot read `a/b`"), "{e}");
        // No workspace at all: the fs capability was not granted.
        let missing = Workspace::new(dir.path().join("not-there"));
        let p = missing.resolve("path", "a").unwrap();
        let e = missing.io_error("read", &p, &io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(e.kind(), "denied");
        assert!(e.message().contains("not granted"), "{e}");
        let e = ws.io_error(
            "write",
            &p,
            &io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert_eq!(e.kind(), "denied");
    }
}
