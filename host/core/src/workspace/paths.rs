//! Confinement: a path a request names stays inside its workspace (no
//! absolute paths, no `..`, no symlink leading out), and a workspace lies
//! under one of the allowed roots.

use super::WorkspaceError;
use std::path::{Component, Path, PathBuf};

/// `rel` as a relative path of plain components (`""` and `.` are the
/// workspace itself). Absolute paths, `..` and NUL bytes are refused.
pub fn relative(rel: &str) -> Result<PathBuf, WorkspaceError> {
    let outside = || WorkspaceError::Outside(format!("`{rel}` is outside the workspace"));
    if rel.contains('\0') {
        return Err(WorkspaceError::Invalid("path: contains a NUL byte".into()));
    }
    let mut out = PathBuf::new();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(outside());
            }
        }
    }
    Ok(out)
}

/// The existing file or directory `rel` names inside `root` (canonical),
/// refusing anything that leaves it, through `..` or a symlink.
pub fn resolve(root: &Path, rel: &str) -> Result<PathBuf, WorkspaceError> {
    let relative = relative(rel)?;
    let root = canonical(root)?;
    let joined = root.join(&relative);
    let real = match std::fs::canonicalize(&joined) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A dangling symlink is still a way out when it points out.
            if let Ok(target) = std::fs::read_link(&joined) {
                let parent = joined.parent().unwrap_or(&root);
                if !lexically_inside(&parent.join(target), &root) {
                    return Err(WorkspaceError::Outside(format!(
                        "`{rel}` leads outside the workspace"
                    )));
                }
            }
            return Err(WorkspaceError::NotFound(format!(
                "no file or directory `{rel}` in the workspace"
            )));
        }
        Err(e) => return Err(WorkspaceError::io(&format!("cannot read `{rel}`"), e)),
    };
    if !real.starts_with(&root) {
        return Err(WorkspaceError::Outside(format!(
            "`{rel}` leads outside the workspace"
        )));
    }
    Ok(real)
}

/// Whether `path`, with `.` and `..` folded lexically, stays under `root`.
fn lexically_inside(path: &Path, root: &Path) -> bool {
    let mut parts: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return false;
                }
            }
            Component::CurDir => {}
            other => parts.push(other),
        }
    }
    parts.iter().collect::<PathBuf>().starts_with(root)
}

/// The canonical form of a directory that must exist.
pub fn canonical(dir: &Path) -> Result<PathBuf, WorkspaceError> {
    std::fs::canonicalize(dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            WorkspaceError::Invalid(format!("`{}` does not exist", dir.display()))
        } else {
            WorkspaceError::io(&format!("cannot read `{}`", dir.display()), e)
        }
    })
}

/// The directories workspaces may be in.
#[derive(Clone, Debug)]
pub struct Roots {
    /// Canonical where they exist.
    roots: Vec<PathBuf>,
}

impl Roots {
    /// The configured roots plus Paddock's own directory of workspaces
    /// (`managed`), which is always allowed; with none configured, only
    /// that one. A root may not overlap the data dir (`data_dir`, which
    /// holds the API tokens and the database): neither the data dir, nor a
    /// directory above it, nor one inside it.
    pub fn new(
        configured: &[PathBuf],
        managed: &Path,
        data_dir: &Path,
    ) -> Result<Roots, WorkspaceError> {
        let data = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        let mut roots = Vec::with_capacity(configured.len() + 1);
        for r in configured {
            let real = std::fs::canonicalize(r).unwrap_or_else(|_| r.clone());
            if data.starts_with(&real) || real.starts_with(&data) {
                return Err(WorkspaceError::Invalid(format!(
                    "workspace root `{}` overlaps the data dir `{}`, which holds Paddock's tokens \
                     and database and must stay out of every agent's reach: choose a directory \
                     beside it",
                    r.display(),
                    data.display()
                )));
            }
            roots.push(real);
        }
        roots.push(std::fs::canonicalize(managed).unwrap_or_else(|_| managed.to_path_buf()));
        Ok(Roots { roots })
    }

    /// The allowed roots.
    pub fn list(&self) -> &[PathBuf] {
        &self.roots
    }

    /// `path` (absolute, existing) made canonical, if it lies under an
    /// allowed root.
    pub fn check(&self, field: &str, path: &Path) -> Result<PathBuf, WorkspaceError> {
        if !path.is_absolute() {
            return Err(WorkspaceError::Invalid(format!(
                "{field}: `{}` must be an absolute path",
                path.display()
            )));
        }
        let real = canonical(path).map_err(|e| match e {
            WorkspaceError::Invalid(m) => WorkspaceError::Invalid(format!("{field}: {m}")),
            other => other,
        })?;
        if self.roots.iter().any(|r| real.starts_with(r)) {
            Ok(real)
        } else {
            Err(WorkspaceError::Outside(format!(
                "{field}: `{}` is outside the allowed workspace roots ({}); add a root with \
                 `[workspaces] roots` in paddock.toml or `paddock serve --workspace-root DIR`",
                path.display(),
                self.roots
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_refuse_every_way_out() {
        assert_eq!(relative("").unwrap(), PathBuf::new());
        assert_eq!(relative("./a/./b").unwrap(), PathBuf::from("a/b"));
        for bad in ["..", "a/../..", "a/..", "/etc/passwd", "../x", "a\0b"] {
            assert!(relative(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn resolve_refuses_symlinks_out_and_finds_those_in() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        let ws = tempfile::tempdir().unwrap();
        std::fs::create_dir(ws.path().join("d")).unwrap();
        std::fs::write(ws.path().join("d/f"), "f").unwrap();
        std::os::unix::fs::symlink(outside.path(), ws.path().join("out")).unwrap();
        std::os::unix::fs::symlink("d/f", ws.path().join("in")).unwrap();
        std::os::unix::fs::symlink("/nonexistent/x", ws.path().join("dangling")).unwrap();
        assert!(matches!(
            resolve(ws.path(), "out/secret"),
            Err(WorkspaceError::Outside(_))
        ));
        assert!(matches!(
            resolve(ws.path(), "out"),
            Err(WorkspaceError::Outside(_))
        ));
        assert!(matches!(
            resolve(ws.path(), "dangling"),
            Err(WorkspaceError::Outside(_))
        ));
        assert!(matches!(
            resolve(ws.path(), "nope"),
            Err(WorkspaceError::NotFound(_))
        ));
        let real = std::fs::canonicalize(ws.path()).unwrap();
        assert_eq!(resolve(ws.path(), "in").unwrap(), real.join("d/f"));
        assert_eq!(resolve(ws.path(), "").unwrap(), real);
    }

    #[test]
    fn roots_allow_what_is_under_them_and_the_managed_dir() {
        let root = tempfile::tempdir().unwrap();
        let managed = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("repo")).unwrap();
        let data = tempfile::tempdir().unwrap();
        let roots = Roots::new(&[root.path().to_path_buf()], managed.path(), data.path()).unwrap();
        assert!(roots.check("repo", &root.path().join("repo")).is_ok());
        assert!(roots.check("repo", managed.path()).is_ok());
        assert!(matches!(
            roots.check("repo", other.path()),
            Err(WorkspaceError::Outside(_))
        ));
        // `..` through an allowed root is judged by where it really goes.
        let sneaky = root.path().join("repo/../..");
        assert!(roots.check("repo", &sneaky).is_err());
        assert!(matches!(
            roots.check("repo", Path::new("relative")),
            Err(WorkspaceError::Invalid(_))
        ));
    }

    #[test]
    fn no_root_by_default_and_none_over_the_data_dir() {
        let top = tempfile::tempdir().unwrap();
        let data = top.path().join("data");
        let managed = data.join("workspaces");
        std::fs::create_dir_all(&managed).unwrap();
        let home = tempfile::tempdir().unwrap();
        // No roots configured: only the managed directory, not the home.
        let roots = Roots::new(&[], &managed, &data).unwrap();
        assert_eq!(roots.list().len(), 1);
        assert!(roots.check("path", home.path()).is_err());
        assert!(roots.check("path", &managed).is_ok());
        // The data dir, a directory above it, or one inside it: refused.
        for bad in [data.clone(), top.path().to_path_buf(), data.join("backups")] {
            std::fs::create_dir_all(&bad).unwrap();
            let e = Roots::new(std::slice::from_ref(&bad), &managed, &data).unwrap_err();
            assert!(e.to_string().contains("overlaps the data dir"), "{e}");
        }
        assert!(Roots::new(&[home.path().to_path_buf()], &managed, &data).is_ok());
    }
}
