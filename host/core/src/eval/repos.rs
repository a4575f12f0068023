//! Finding a task's repository without network: `repo` is a local path
//! (absolute, or relative to the current directory), or `owner/name`
//! looked up under the run's repositories directory as
//! `DIR/owner__name`, `DIR/owner/name` or `DIR/name` — a checkout or a
//! bare mirror. And whether the task's `base_commit` is in it.
//!
//! A worktree starts from a branch ([`crate::workspace::NewWorkspace`]'s
//! `base`), so each instance gets one at its base commit in the
//! repository: `paddock-eval/<instance_id>` ([`base_branch`]).

use super::EvalError;
use paddock_protocol::eval::{EvalErrorKind, EvalTask};
use std::path::{Path, PathBuf};
use tokio::process::Command;

/// Why an instance's repository or commit cannot be used.
#[derive(Clone, Debug, PartialEq)]
pub struct RepoProblem {
    /// `repo_missing` or `commit_missing`.
    pub kind: EvalErrorKind,
    /// What was looked for, and where.
    pub message: String,
}

/// The candidates for `repo`, in the order they are tried.
pub fn candidates(repo: &str, repos_dir: Option<&Path>) -> Vec<PathBuf> {
    let as_path = Path::new(repo);
    let mut out = Vec::new();
    if as_path.is_absolute() || repo.starts_with("./") || repo.starts_with("../") {
        out.push(as_path.to_path_buf());
        return out;
    }
    if let Some(dir) = repos_dir {
        if let Some((owner, name)) = repo.split_once('/') {
            out.push(dir.join(format!("{owner}__{name}")));
            out.push(dir.join(owner).join(name));
            out.push(dir.join(name));
        } else {
            out.push(dir.join(repo));
        }
    } else if !repo.contains("..") {
        // No repositories directory: a relative path from here.
        out.push(as_path.to_path_buf());
    }
    out
}

/// Runs git with `args` in `dir`: (exit code, stdout trimmed, stderr).
async fn git(dir: &Path, args: &[&str]) -> Result<(i32, String, String), EvalError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .await
        .map_err(|e| EvalError::Host(format!("cannot run git: {e}")))?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    ))
}

/// Whether `dir` is a git repository (a checkout or a bare one) itself, not
/// a directory inside another.
async fn is_repo(dir: &Path) -> Result<bool, EvalError> {
    if !dir.is_dir() {
        return Ok(false);
    }
    let (code, bare, _) = git(dir, &["rev-parse", "--is-bare-repository"]).await?;
    if code != 0 {
        return Ok(false);
    }
    if bare == "true" {
        return Ok(true);
    }
    let (code, top, _) = git(dir, &["rev-parse", "--show-toplevel"]).await?;
    if code != 0 {
        return Ok(false);
    }
    let same = match (std::fs::canonicalize(dir), std::fs::canonicalize(&top)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    Ok(same)
}

/// The task's repository (canonical), or why it cannot be used: not
/// found (`repo_missing`), or its `base_commit` is not a commit in it
/// (`commit_missing`).
pub async fn locate(
    task: &EvalTask,
    repos_dir: Option<&Path>,
) -> Result<Result<PathBuf, RepoProblem>, EvalError> {
    let tried = candidates(&task.repo, repos_dir);
    let mut found = None;
    for c in &tried {
        if is_repo(c).await? {
            found = Some(std::fs::canonicalize(c).map_err(|e| EvalError::io(c, e))?);
            break;
        }
    }
    let Some(repo) = found else {
        let looked: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
        let message = if looked.is_empty() {
            format!(
                "repository `{}` not found: give --repos DIR to look it up in",
                task.repo
            )
        } else {
            format!(
                "repository `{}` not found (looked in {})",
                task.repo,
                looked.join(", ")
            )
        };
        return Ok(Err(RepoProblem {
            kind: EvalErrorKind::RepoMissing,
            message,
        }));
    };
    let spec = format!("{}^{{commit}}", task.base_commit);
    let (code, full, _) = git(&repo, &["rev-parse", "--verify", "--quiet", &spec]).await?;
    if code != 0 || full.is_empty() {
        return Ok(Err(RepoProblem {
            kind: EvalErrorKind::CommitMissing,
            message: format!(
                "base_commit `{}` is not a commit of {}",
                task.base_commit,
                repo.display()
            ),
        }));
    }
    Ok(Ok(repo))
}

/// The full id of the task's base commit in `repo`.
pub async fn full_commit(repo: &Path, commit: &str) -> Result<String, EvalError> {
    let spec = format!("{commit}^{{commit}}");
    let (code, full, err) = git(repo, &["rev-parse", "--verify", "--quiet", &spec]).await?;
    if code != 0 || full.is_empty() {
        return Err(EvalError::Host(format!(
            "base_commit `{commit}` is not a commit of {}: {err}",
            repo.display()
        )));
    }
    Ok(full)
}

/// The branch a worktree of the instance starts from: made (or moved) in
/// `repo` to point at `commit`; its name.
pub async fn base_branch(
    repo: &Path,
    instance_id: &str,
    commit: &str,
) -> Result<String, EvalError> {
    let clean: String = instance_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let branch = format!("paddock-eval/{}", clean.trim_matches('.'));
    let (code, _, err) = git(
        repo,
        &["update-ref", &format!("refs/heads/{branch}"), commit],
    )
    .await?;
    if code != 0 {
        return Err(EvalError::Host(format!(
            "cannot make the branch {branch} at {commit} in {}: {err}",
            repo.display()
        )));
    }
    Ok(branch)
}

/// The patch of a worktree: `git diff` against `base_commit`, new
/// (untracked) files included, binary changes in full. The index of the
/// worktree is left as it was (a temporary index is used).
pub async fn worktree_patch(worktree: &Path, base_commit: &str) -> Result<String, EvalError> {
    let scratch = tempfile::tempdir()
        .map_err(|e| EvalError::Host(format!("cannot make a temporary index: {e}")))?;
    let index_path = scratch.path().join("index");
    let run = |args: Vec<String>| {
        let index_path = index_path.clone();
        async move {
            let out = Command::new("git")
                .arg("-C")
                .arg(worktree)
                .args(&args)
                .env("GIT_INDEX_FILE", &index_path)
                .output()
                .await
                .map_err(|e| EvalError::Host(format!("cannot run git: {e}")))?;
            if !out.status.success() {
                return Err(EvalError::Host(format!(
                    "git {} in {}: {}",
                    args.join(" "),
                    worktree.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            Ok(out.stdout)
        }
    };
    run(vec!["read-tree".into(), base_commit.into()]).await?;
    run(vec!["add".into(), "-A".into(), "--".into(), ".".into()]).await?;
    let out = run(vec![
        "diff".into(),
        "--cached".into(),
        "--binary".into(),
        "--no-color".into(),
        "--no-ext-diff".into(),
        base_commit.into(),
    ])
    .await?;
    String::from_utf8(out)
        .map_err(|_| EvalError::Host(format!("the patch of {} is not UTF-8", worktree.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_name_is_looked_up_three_ways() {
        let dir = Path::new("/r");
        assert_eq!(
            candidates("a/b", Some(dir)),
            [
                PathBuf::from("/r/a__b"),
                PathBuf::from("/r/a/b"),
                PathBuf::from("/r/b")
            ]
        );
        assert_eq!(candidates("/x/y", Some(dir)), [PathBuf::from("/x/y")]);
        assert_eq!(candidates("./y", None), [PathBuf::from("./y")]);
        assert_eq!(candidates("a/b", None), [PathBuf::from("a/b")]);
    }

    fn sh(dir: &Path, args: &[&str]) {
        let ok = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(ok.status.success(), "git {args:?}: {ok:?}");
    }

    fn task(repo: &str, commit: &str) -> EvalTask {
        serde_json::from_value(serde_json::json!({
            "instance_id": "a__b-1", "repo": repo, "base_commit": commit,
            "problem_statement": "p", "FAIL_TO_PASS": ["t"]
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn repositories_commits_and_patches() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("a__b");
        std::fs::create_dir_all(&repo).unwrap();
        sh(&repo, &["init", "-q", "-b", "main"]);
        sh(&repo, &["config", "user.email", "t@example.com"]);
        sh(&repo, &["config", "user.name", "T"]);
        std::fs::write(repo.join("f.txt"), "one\n").unwrap();
        sh(&repo, &["add", "."]);
        sh(&repo, &["commit", "-q", "-m", "one"]);
        let base = full_commit(&repo, "HEAD").await.unwrap();

        let found = locate(&task("a/b", &base[..10]), Some(dir.path()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found, std::fs::canonicalize(&repo).unwrap());
        let missing = locate(&task("a/zz", &base), Some(dir.path()))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(missing.kind, EvalErrorKind::RepoMissing);
        // A directory inside a repository is not one.
        std::fs::create_dir_all(dir.path().join("c__d")).unwrap();
        let inside = repo.join("sub");
        std::fs::create_dir_all(&inside).unwrap();
        let not = locate(&task(inside.to_str().unwrap(), &base), None)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(not.kind, EvalErrorKind::RepoMissing);
        let no_commit = locate(&task("a/b", &"0".repeat(40)), Some(dir.path()))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(no_commit.kind, EvalErrorKind::CommitMissing);

        let branch = base_branch(&repo, "a__b-1", &base).await.unwrap();
        assert_eq!(branch, "paddock-eval/a__b-1");

        // The patch: a change and a new file, the index untouched.
        std::fs::write(repo.join("f.txt"), "two\n").unwrap();
        std::fs::write(repo.join("new.txt"), "new\n").unwrap();
        let patch = worktree_patch(&repo, &base).await.unwrap();
        assert!(patch.contains("-one\n+two\n"), "{patch}");
        assert!(
            patch.contains("new file mode") && patch.contains("+new\n"),
            "{patch}"
        );
        let status = std::process::Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(["status", "--porcelain"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&status.stdout),
            " M f.txt\n?? new.txt\n"
        );
        // No change: an empty patch.
        sh(&repo, &["checkout", "-q", "--", "f.txt"]);
        std::fs::remove_file(repo.join("new.txt")).unwrap();
        assert_eq!(worktree_patch(&repo, &base).await.unwrap(), "");
    }
}
