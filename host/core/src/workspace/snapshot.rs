//! Per-agent snapshots: the files of an agent's directory as they were when
//! the agent started, kept in a private shadow git directory of the data
//! dir (`<data>/workspace-git/agents/<agent>.git`, the directory as its work
//! tree), and the diff of the directory now against them — "what did this
//! agent change", for every kind of directory, a plain one included.
//!
//! A snapshot honours the directory's `.gitignore` files, never holds a
//! `.git` (git leaves those out) nor Paddock's own `.paddock`, and is not
//! taken for a directory over [`MAX_SNAPSHOT_FILES`] files or
//! [`MAX_SNAPSHOT_BYTES`] bytes: its diff then says so plainly. As with
//! workspaces, no `.git` an agent wrote is ever read.

use super::git::{Git, PADDOCK_EXCLUDE};
use super::{Diff, WorkspaceError, Workspaces};
use std::path::{Path, PathBuf};

/// Most files a snapshot takes.
pub const MAX_SNAPSHOT_FILES: usize = 20_000;
/// Most bytes a snapshot takes.
pub const MAX_SNAPSHOT_BYTES: u64 = 200 * 1024 * 1024;

/// The branch of the shadow repository holding the snapshot.
const START: &str = "refs/heads/start";
/// The file (in the shadow git directory) saying why no snapshot was taken.
const TOO_LARGE: &str = "paddock-too-large";

/// How taking a snapshot went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Snapshot {
    /// Taken: its commit.
    Taken(String),
    /// Not taken: the directory is over a cap (why, in words).
    TooLarge(String),
}

/// Whether `files` files of `bytes` bytes are over the caps: why, if so.
fn over_caps(files: usize, bytes: u64) -> Option<String> {
    if files > MAX_SNAPSHOT_FILES {
        Some(format!(
            "more than {MAX_SNAPSHOT_FILES} files (not counting ignored ones)"
        ))
    } else if bytes > MAX_SNAPSHOT_BYTES {
        Some(format!(
            "more than {} MB (not counting ignored files)",
            MAX_SNAPSHOT_BYTES / (1024 * 1024)
        ))
    } else {
        None
    }
}

impl Workspaces {
    fn agent_git_dir(&self, agent: &str) -> PathBuf {
        self.shadow.join("agents").join(format!("{agent}.git"))
    }

    /// Takes the snapshot of `dir` as agent `agent` starts (replacing any
    /// earlier one of that agent).
    pub async fn snapshot_agent(
        &self,
        agent: &str,
        dir: &Path,
    ) -> Result<Snapshot, WorkspaceError> {
        let git_dir = self.agent_git_dir(agent);
        let _guard = self.lock(&format!("agent:{agent}")).await;
        if git_dir.exists() {
            std::fs::remove_dir_all(&git_dir)
                .map_err(|e| WorkspaceError::io("cannot replace an agent's snapshot", e))?;
        }
        if let Some(parent) = git_dir.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| WorkspaceError::io("cannot make the snapshots directory", e))?;
        }
        let git_dir_s = git_dir.to_string_lossy().into_owned();
        Git::new(&git_dir, None)
            .ok(&["init", "--quiet", "--bare", &git_dir_s])
            .await?;
        let git = Git::new(&git_dir, Some(dir));
        git.ok(&["config", "core.bare", "false"]).await?;
        // Counted before anything is hashed: a huge directory costs a
        // listing, not a copy into the object store.
        let listed = git
            .ok(&[
                "ls-files",
                "-z",
                "--others",
                "--exclude-standard",
                "--",
                ".",
                PADDOCK_EXCLUDE,
            ])
            .await?;
        let (mut files, mut bytes) = (0usize, 0u64);
        for name in listed.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
            files += 1;
            let path = dir.join(String::from_utf8_lossy(name).as_ref());
            bytes += std::fs::symlink_metadata(&path).map_or(0, |m| m.len());
            if let Some(why) = over_caps(files, bytes) {
                std::fs::write(git_dir.join(TOO_LARGE), &why)
                    .map_err(|e| WorkspaceError::io("cannot record a snapshot's size", e))?;
                return Ok(Snapshot::TooLarge(why));
            }
        }
        let tree = git.snapshot(&self.scratch(), None, true).await?;
        let commit = git
            .commit_tree(
                &tree,
                &[],
                &format!("Paddock: the files as agent {agent} started"),
            )
            .await?;
        git.ok(&["update-ref", START, &commit]).await?;
        Ok(Snapshot::Taken(commit))
    }

    /// The changes of `dir` since agent `agent` started (its snapshot).
    pub async fn agent_diff(&self, agent: &str, dir: &Path) -> Result<Diff, WorkspaceError> {
        let git_dir = self.agent_git_dir(agent);
        let _guard = self.lock(&format!("agent:{agent}")).await;
        if !dir.is_dir() {
            return Err(WorkspaceError::conflict(
                "missing",
                format!("the agent's directory {} is gone", dir.display()),
            ));
        }
        if let Ok(why) = std::fs::read_to_string(git_dir.join(TOO_LARGE)) {
            return Err(WorkspaceError::conflict(
                "snapshot_too_large",
                format!(
                    "no changes to show: {} was too large to snapshot when the agent started ({why})",
                    dir.display()
                ),
            ));
        }
        let git = Git::new(&git_dir, Some(dir));
        let base = match git_dir.is_dir() {
            true => git.commit_of(START).await?,
            false => None,
        };
        let Some(base) = base else {
            return Err(WorkspaceError::conflict(
                "no_snapshot",
                "no changes to show: no snapshot was taken when this agent started \
                 (agents created before Paddock took snapshots have none)",
            ));
        };
        let tree = git.snapshot(&self.scratch(), Some(START), true).await?;
        super::diff_of(&git, base, "the agent started".into(), &tree).await
    }

    /// Forgets agent `agent`'s snapshot (its history was purged).
    pub async fn remove_agent_snapshot(&self, agent: &str) -> Result<(), WorkspaceError> {
        let git_dir = self.agent_git_dir(agent);
        let _guard = self.lock(&format!("agent:{agent}")).await;
        match std::fs::remove_dir_all(&git_dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(WorkspaceError::io("cannot remove an agent's snapshot", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caps_name_what_is_over() {
        assert_eq!(over_caps(10, 10), None);
        assert_eq!(over_caps(MAX_SNAPSHOT_FILES, MAX_SNAPSHOT_BYTES), None);
        assert!(
            over_caps(MAX_SNAPSHOT_FILES + 1, 0)
                .unwrap()
                .contains("20000 files")
        );
        assert!(
            over_caps(1, MAX_SNAPSHOT_BYTES + 1)
                .unwrap()
                .contains("200 MB")
        );
    }
}
