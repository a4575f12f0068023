//! Git as workspaces use it, through the `git` program: worktrees on new
//! branches, snapshots of a working tree (untracked files included,
//! `.gitignore` respected) without touching its index, diffs, commits and
//! merges computed in memory (`git merge-tree`) so that a conflict changes
//! nothing.
//!
//! Every command names its git directory and work tree explicitly (never
//! discovered from a `.git` file an agent could rewrite) and runs with
//! hooks, fsmonitor, pagers, external diff and signing programs switched
//! off: nothing an agent wrote in a workspace runs on the host.

use super::WorkspaceError;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Settings that keep git from running programs named in files an agent
/// may have written.
const SAFE: &[&str] = &[
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.pager=cat",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "diff.external=",
    "core.quotePath=false",
    "advice.detachedHead=false",
];

/// Paddock's own directory in a workspace (the file tools keep the
/// originals of edited files there): never part of a snapshot, so never
/// diffed, committed or merged.
pub(crate) const PADDOCK_EXCLUDE: &str = ":(exclude,top).paddock";

/// Author and committer when git has none configured.
const FALLBACK_NAME: &str = "Paddock";
const FALLBACK_EMAIL: &str = "paddock@localhost";

/// `git` with the [`SAFE`] settings, a clean environment (no `GIT_DIR` or
/// the like inherited), no prompts and no stdin.
fn command() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("git");
    for s in SAFE {
        cmd.arg("-c").arg(s);
    }
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Runs a git command to its end; any exit code is returned.
async fn output(mut cmd: tokio::process::Command) -> Result<Out, WorkspaceError> {
    let out = cmd
        .output()
        .await
        .map_err(|e| WorkspaceError::Git(format!("cannot run git (is it installed?): {e}")))?;
    Ok(Out {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// Runs git in `dir`, finding the repository from there: for checkouts the
/// user made (a repository named at creation, the base branch's checkout),
/// never a workspace an agent writes.
pub async fn in_checkout(dir: &Path, args: &[&str]) -> Result<Out, WorkspaceError> {
    let mut cmd = command();
    cmd.arg("-C").arg(dir).args(args);
    output(cmd).await
}

/// One repository view: a git directory and, for commands that need one, a
/// work tree.
#[derive(Clone, Debug)]
pub struct Git {
    /// `--git-dir`.
    pub git_dir: PathBuf,
    /// `--work-tree`.
    pub work_tree: Option<PathBuf>,
}

/// A finished git command.
pub struct Out {
    /// Exit code (-1 when killed).
    pub code: i32,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error, as text.
    pub stderr: String,
}

impl Out {
    /// Standard output as trimmed text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim().to_string()
    }
}

impl Git {
    /// A view of `git_dir` with `work_tree`.
    pub fn new(git_dir: impl Into<PathBuf>, work_tree: Option<&Path>) -> Git {
        Git {
            git_dir: git_dir.into(),
            work_tree: work_tree.map(Path::to_path_buf),
        }
    }

    /// Runs git with these arguments and extra environment; any exit code
    /// is returned (the caller decides what failure means).
    pub async fn run_env(
        &self,
        args: &[&str],
        env: &[(&str, &OsStr)],
    ) -> Result<Out, WorkspaceError> {
        let mut cmd = command();
        cmd.arg("--git-dir").arg(&self.git_dir);
        if let Some(w) = &self.work_tree {
            cmd.arg("--work-tree").arg(w).current_dir(w);
        }
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        output(cmd).await
    }

    /// Runs git; a non-zero exit is an error naming the command.
    pub async fn ok(&self, args: &[&str]) -> Result<Out, WorkspaceError> {
        self.ok_env(args, &[]).await
    }

    /// [`Git::ok`] with extra environment.
    pub async fn ok_env(
        &self,
        args: &[&str],
        env: &[(&str, &OsStr)],
    ) -> Result<Out, WorkspaceError> {
        let out = self.run_env(args, env).await?;
        if out.code != 0 {
            return Err(WorkspaceError::Git(format!(
                "git {} failed: {}",
                args.first().copied().unwrap_or(""),
                out.stderr
            )));
        }
        Ok(out)
    }

    /// The commit a revision names, if it names one.
    pub async fn commit_of(&self, rev: &str) -> Result<Option<String>, WorkspaceError> {
        let spec = format!("{rev}^{{commit}}");
        let out = self
            .run_env(&["rev-parse", "--verify", "--quiet", &spec], &[])
            .await?;
        Ok((out.code == 0).then(|| out.text()))
    }

    /// Whether `a` is an ancestor of (or equal to) `b`.
    pub async fn is_ancestor(&self, a: &str, b: &str) -> Result<bool, WorkspaceError> {
        let out = self
            .run_env(&["merge-base", "--is-ancestor", a, b], &[])
            .await?;
        match out.code {
            0 => Ok(true),
            1 => Ok(false),
            _ => Err(WorkspaceError::Git(format!(
                "git merge-base failed: {}",
                out.stderr
            ))),
        }
    }

    /// The tree of the work tree as it is now (tracked and untracked
    /// files, ignored ones left out), written with a private index so the
    /// real one is untouched. `scratch` is a directory for that index.
    /// With `keep_index` (a repository only Paddock uses), the index is kept
    /// as the real one, so the next snapshot hashes only what changed.
    pub async fn snapshot(
        &self,
        scratch: &Path,
        from: Option<&str>,
        keep_index: bool,
    ) -> Result<String, WorkspaceError> {
        std::fs::create_dir_all(scratch)
            .map_err(|e| WorkspaceError::io("cannot make a scratch directory", e))?;
        let index = scratch.join(format!("index-{}", uuid::Uuid::new_v4().simple()));
        // Start from the real index when there is one: its stat data spares
        // hashing files that did not change.
        let real = self.git_dir.join("index");
        if real.is_file() {
            std::fs::copy(&real, &index)
                .map_err(|e| WorkspaceError::io("cannot copy the index", e))?;
        }
        let env = [("GIT_INDEX_FILE", index.as_os_str())];
        let result = async {
            if !real.is_file() {
                match from {
                    Some(rev) => self.ok_env(&["read-tree", rev], &env).await?,
                    None => self.ok_env(&["read-tree", "--empty"], &env).await?,
                };
            }
            // A directory an agent `git init`ed without a commit cannot be
            // added; it is left out instead of failing the snapshot.
            let add = self
                .run_env(
                    &[
                        "add",
                        "--all",
                        "--ignore-errors",
                        "--",
                        ".",
                        PADDOCK_EXCLUDE,
                    ],
                    &env,
                )
                .await?;
            let only_empty_repos = add
                .stderr
                .lines()
                .filter(|l| l.starts_with("error:") || l.starts_with("fatal:"))
                .all(|l| l.ends_with("does not have a commit checked out"));
            if add.code != 0 && !only_empty_repos {
                return Err(WorkspaceError::Git(format!(
                    "git add failed: {}",
                    add.stderr
                )));
            }
            Ok(self.ok_env(&["write-tree"], &env).await?.text())
        }
        .await;
        if keep_index && result.is_ok() && std::fs::rename(&index, &real).is_ok() {
            return result;
        }
        let _ = std::fs::remove_file(&index);
        result
    }

    /// Author and committer variables when git has no identity configured.
    pub async fn identity_env(&self) -> Result<Vec<(&'static str, &'static str)>, WorkspaceError> {
        let out = self.run_env(&["config", "user.email"], &[]).await?;
        if out.code == 0 && !out.text().is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![
            ("GIT_AUTHOR_NAME", FALLBACK_NAME),
            ("GIT_AUTHOR_EMAIL", FALLBACK_EMAIL),
            ("GIT_COMMITTER_NAME", FALLBACK_NAME),
            ("GIT_COMMITTER_EMAIL", FALLBACK_EMAIL),
        ])
    }

    /// Makes a commit of `tree` with these parents and message (the author
    /// from git's configuration, or Paddock's fallback).
    pub async fn commit_tree(
        &self,
        tree: &str,
        parents: &[&str],
        message: &str,
    ) -> Result<String, WorkspaceError> {
        let ident = self.identity_env().await?;
        let env: Vec<(&str, &OsStr)> = ident.iter().map(|(k, v)| (*k, OsStr::new(*v))).collect();
        let mut args = vec!["commit-tree"];
        for p in parents {
            args.extend(["-p", p]);
        }
        args.extend(["-m", message, tree]);
        Ok(self.ok_env(&args, &env).await?.text())
    }

    /// The worktrees of this repository and the branch each has checked
    /// out (`refs/heads/…`), from `git worktree list --porcelain`.
    pub async fn worktrees(&self) -> Result<Vec<(PathBuf, Option<String>)>, WorkspaceError> {
        let out = self.ok(&["worktree", "list", "--porcelain", "-z"]).await?;
        let mut list = Vec::new();
        let mut path: Option<PathBuf> = None;
        let mut branch = None;
        for field in out.stdout.split(|b| *b == 0) {
            let field = String::from_utf8_lossy(field);
            if field.is_empty() {
                if let Some(p) = path.take() {
                    list.push((p, branch.take()));
                }
                continue;
            }
            if let Some(p) = field.strip_prefix("worktree ") {
                path = Some(PathBuf::from(p));
            } else if let Some(b) = field.strip_prefix("branch ") {
                branch = Some(b.to_string());
            }
        }
        if let Some(p) = path.take() {
            list.push((p, branch.take()));
        }
        Ok(list)
    }
}

/// How a file changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    /// New.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
    /// Moved (perhaps changed too).
    Renamed,
    /// Copied from another file.
    Copied,
    /// Became a link, or stopped being one.
    TypeChanged,
}

impl ChangeStatus {
    /// Its name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeStatus::Added => "added",
            ChangeStatus::Modified => "modified",
            ChangeStatus::Deleted => "deleted",
            ChangeStatus::Renamed => "renamed",
            ChangeStatus::Copied => "copied",
            ChangeStatus::TypeChanged => "type_changed",
        }
    }
}

/// One changed file of a diff.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct FileChange {
    /// Its path (the new one when renamed).
    pub path: String,
    /// The old path of a rename or copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    /// How it changed.
    pub status: ChangeStatus,
    /// Lines added (null for binary files).
    pub additions: Option<u64>,
    /// Lines removed (null for binary files).
    pub deletions: Option<u64>,
    /// Whether git sees it as binary.
    pub binary: bool,
}

/// The changes from tree-ish `from` to tree-ish `to`, file by file.
pub async fn changes(git: &Git, from: &str, to: &str) -> Result<Vec<FileChange>, WorkspaceError> {
    let status = git
        .ok(&[
            "diff",
            "--no-ext-diff",
            "--no-textconv",
            "-M",
            "--name-status",
            "-z",
            from,
            to,
        ])
        .await?;
    let numstat = git
        .ok(&[
            "diff",
            "--no-ext-diff",
            "--no-textconv",
            "-M",
            "--numstat",
            "-z",
            from,
            to,
        ])
        .await?;
    let mut files = parse_name_status(&status.stdout);
    for (path, add, del) in parse_numstat(&numstat.stdout) {
        if let Some(f) = files.iter_mut().find(|f| f.path == path) {
            f.binary = add.is_none();
            f.additions = add;
            f.deletions = del;
        }
    }
    Ok(files)
}

fn parse_name_status(out: &[u8]) -> Vec<FileChange> {
    let fields: Vec<String> = out
        .split(|b| *b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    let mut files = Vec::new();
    let mut i = 0;
    while i < fields.len() {
        let code = &fields[i];
        if code.is_empty() {
            i += 1;
            continue;
        }
        let letter = code.chars().next().unwrap_or('M');
        let two = matches!(letter, 'R' | 'C');
        let (old_path, path) = if two {
            (fields.get(i + 1).cloned(), fields.get(i + 2).cloned())
        } else {
            (None, fields.get(i + 1).cloned())
        };
        i += if two { 3 } else { 2 };
        let Some(path) = path else { break };
        files.push(FileChange {
            path,
            old_path,
            status: match letter {
                'A' => ChangeStatus::Added,
                'D' => ChangeStatus::Deleted,
                'R' => ChangeStatus::Renamed,
                'C' => ChangeStatus::Copied,
                'T' => ChangeStatus::TypeChanged,
                _ => ChangeStatus::Modified,
            },
            additions: None,
            deletions: None,
            binary: false,
        });
    }
    files
}

/// `(path, added, removed)` per file; renames name their new path.
fn parse_numstat(out: &[u8]) -> Vec<(String, Option<u64>, Option<u64>)> {
    let fields: Vec<String> = out
        .split(|b| *b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    let mut rows = Vec::new();
    let mut i = 0;
    while i < fields.len() {
        let f = &fields[i];
        i += 1;
        if f.is_empty() {
            continue;
        }
        let mut parts = f.splitn(3, '\t');
        let add = parts.next().and_then(|n| n.parse().ok());
        let del = parts.next().and_then(|n| n.parse().ok());
        let path = parts.next().unwrap_or("");
        if path.is_empty() {
            // A rename: the old and new paths follow as fields of their own.
            let new = fields.get(i + 1).cloned().unwrap_or_default();
            i += 2;
            rows.push((new, add, del));
        } else {
            rows.push((path.to_string(), add, del));
        }
    }
    rows
}

/// One file a merge could not combine.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Conflict {
    /// The file.
    pub path: String,
    /// git's kind of conflict: `contents`, `modify/delete`, `add/add`, …
    pub kind: String,
    /// git's words about it.
    pub message: String,
}

/// The result of merging two commits in memory.
pub enum MergeTree {
    /// They combine into this tree.
    Clean(String),
    /// These files conflict.
    Conflicts(Vec<Conflict>),
}

/// Merges `theirs` into `ours` without a work tree (`git merge-tree
/// --write-tree`).
pub async fn merge_tree(git: &Git, ours: &str, theirs: &str) -> Result<MergeTree, WorkspaceError> {
    let out = git
        .run_env(
            &[
                "merge-tree",
                "--write-tree",
                "-z",
                "--messages",
                ours,
                theirs,
            ],
            &[],
        )
        .await?;
    match out.code {
        0 => {
            let tree = String::from_utf8_lossy(out.stdout.split(|b| *b == 0).next().unwrap_or(&[]))
                .trim()
                .to_string();
            Ok(MergeTree::Clean(tree))
        }
        1 => Ok(MergeTree::Conflicts(parse_conflicts(&out.stdout))),
        _ => Err(WorkspaceError::Git(format!(
            "git merge-tree failed: {}",
            out.stderr
        ))),
    }
}

/// Parses `merge-tree --write-tree -z` output: the tree, the conflicted
/// entries (`MODE OID STAGE\tPATH`), an empty field, then messages as
/// `COUNT, PATH×COUNT, TYPE, MESSAGE`.
fn parse_conflicts(out: &[u8]) -> Vec<Conflict> {
    let fields: Vec<String> = out
        .split(|b| *b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    let mut paths: Vec<String> = Vec::new();
    let mut i = 1;
    while i < fields.len() && !fields[i].is_empty() {
        if let Some((_, path)) = fields[i].split_once('\t')
            && !paths.iter().any(|p| p == path)
        {
            paths.push(path.to_string());
        }
        i += 1;
    }
    i += 1;
    let mut conflicts: Vec<Conflict> = paths
        .iter()
        .map(|p| Conflict {
            path: p.clone(),
            kind: "conflict".into(),
            message: String::new(),
        })
        .collect();
    while i < fields.len() {
        let Ok(count) = fields[i].parse::<usize>() else {
            break;
        };
        let named: Vec<String> = fields.iter().skip(i + 1).take(count).cloned().collect();
        let kind = fields.get(i + 1 + count).cloned().unwrap_or_default();
        let message = fields
            .get(i + 2 + count)
            .cloned()
            .unwrap_or_default()
            .trim()
            .to_string();
        i += count + 3;
        if !kind.starts_with("CONFLICT") {
            continue;
        }
        let kind = kind
            .trim_start_matches("CONFLICT")
            .trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .to_string();
        for p in named {
            match conflicts.iter_mut().find(|c| c.path == p) {
                Some(c) => {
                    c.kind = kind.clone();
                    if c.message.is_empty() {
                        c.message = message.clone();
                    }
                }
                None => conflicts.push(Conflict {
                    path: p,
                    kind: kind.clone(),
                    message: message.clone(),
                }),
            }
        }
    }
    conflicts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_status_and_numstat_parse_renames() {
        let ns = b"M\0a.txt\0R100\0old.txt\0new.txt\0A\0b.bin\0";
        let files = parse_name_status(ns);
        assert_eq!(files.len(), 3);
        assert_eq!(files[1].path, "new.txt");
        assert_eq!(files[1].old_path.as_deref(), Some("old.txt"));
        assert_eq!(files[1].status, ChangeStatus::Renamed);
        let num = b"1\t2\ta.txt\x000\t0\t\0old.txt\0new.txt\0-\t-\tb.bin\0";
        let rows = parse_numstat(num);
        assert_eq!(
            rows,
            vec![
                ("a.txt".into(), Some(1), Some(2)),
                ("new.txt".into(), Some(0), Some(0)),
                ("b.bin".into(), None, None)
            ]
        );
    }

    #[test]
    fn merge_tree_conflicts_parse_by_file() {
        let out = b"4ec4\x00100644 de98 1\tf.txt\x00100644 f4ea 2\tf.txt\x00100644 3b6f 3\tf.txt\x00\x001\x00f.txt\x00Auto-merging\x00Auto-merging f.txt\n\x001\x00f.txt\x00CONFLICT (contents)\x00CONFLICT (content): Merge conflict in f.txt\n\x00";
        let c = parse_conflicts(out);
        assert_eq!(
            c,
            vec![Conflict {
                path: "f.txt".into(),
                kind: "contents".into(),
                message: "CONFLICT (content): Merge conflict in f.txt".into()
            }]
        );
    }
}
