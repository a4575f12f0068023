//! Workspaces against real git repositories and a real SQLite store.

use super::*;
use std::process::Command;

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    data: PathBuf,
    ws: Workspaces,
}

async fn fixture(retention: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let data = root.join("data");
    std::fs::create_dir(&data).unwrap();
    let store = Store::open_sqlite(&data.join("paddock.db")).await.unwrap();
    let ws = Workspaces::open(
        store,
        &data,
        WorkspacesConfig {
            roots: vec![root.join("allowed")],
            backup_retention: retention,
            ..Default::default()
        },
    )
    .unwrap();
    std::fs::create_dir(root.join("allowed")).unwrap();
    Fixture {
        _dir: dir,
        root,
        data,
        ws,
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository on `main` with `f.txt` (three lines) and `keep.txt`.
fn repo(at: &Path) -> PathBuf {
    let r = at.join("repo");
    std::fs::create_dir_all(&r).unwrap();
    git(&r, &["init", "-q", "-b", "main"]);
    git(&r, &["config", "user.email", "dev@example.com"]);
    git(&r, &["config", "user.name", "Dev"]);
    std::fs::write(r.join("f.txt"), "one\ntwo\nthree\n").unwrap();
    std::fs::write(r.join("keep.txt"), "keep\n").unwrap();
    std::fs::write(r.join(".gitignore"), "*.log\n").unwrap();
    git(&r, &["add", "."]);
    git(&r, &["commit", "-qm", "start"]);
    r
}

fn worktree(name: &str, repo: &Path) -> NewWorkspace {
    NewWorkspace {
        name: name.into(),
        repo: Some(repo.to_path_buf()),
        ..Default::default()
    }
}

fn code(e: WorkspaceError) -> &'static str {
    match e {
        WorkspaceError::Conflict { code, .. } => code,
        WorkspaceError::NotFound(_) => "not_found",
        WorkspaceError::Invalid(_) => "invalid",
        WorkspaceError::Outside(_) => "outside",
        WorkspaceError::Corrupt(_) => "corrupt",
        other => panic!("unexpected error {other}"),
    }
}

#[tokio::test]
async fn worktrees_commit_and_merge_and_a_conflict_changes_nothing() {
    let f = fixture(10).await;
    let repo = repo(&f.root.join("allowed"));
    let a = f.ws.create(worktree("a", &repo)).await.unwrap();
    let b = f.ws.create(worktree("b", &repo)).await.unwrap();
    assert_eq!(a.kind, WorkspaceKind::Worktree);
    assert_eq!(a.branch.as_deref(), Some("paddock/a"));
    assert_eq!(a.base_branch.as_deref(), Some("main"));
    assert!(a.path.starts_with(&f.data));
    assert_eq!(
        std::fs::read_to_string(a.path.join("f.txt")).unwrap(),
        "one\ntwo\nthree\n"
    );

    // Edits, a new file and an ignored one: the diff has the first two.
    std::fs::write(a.path.join("f.txt"), "one\nTWO (a)\nthree\n").unwrap();
    std::fs::write(a.path.join("new.txt"), "new\n").unwrap();
    std::fs::write(a.path.join("debug.log"), "noise\n").unwrap();
    // The file tools' originals of edited files are Paddock's, not the work.
    std::fs::create_dir_all(a.path.join(".paddock/backups")).unwrap();
    std::fs::write(a.path.join(".paddock/backups/f.txt.1"), "one\ntwo\n").unwrap();
    let d = f.ws.diff(&a).await.unwrap();
    let paths: Vec<(&str, &str)> = d
        .files
        .iter()
        .map(|c| (c.path.as_str(), c.status.as_str()))
        .collect();
    assert_eq!(paths, vec![("f.txt", "modified"), ("new.txt", "added")]);
    assert_eq!((d.additions, d.deletions), (2, 1));
    assert!(d.patch.contains("-two\n+TWO (a)"), "{}", d.patch);
    // The diff did not stage anything in the worktree's real index.
    assert_eq!(git(&a.path, &["diff", "--cached", "--name-only"]), "");

    // Merging uncommitted work is refused.
    assert_eq!(
        code(f.ws.merge(&a, None).await.unwrap_err()),
        "uncommitted_changes"
    );
    for bad in ["", "  \n", "a\0b"] {
        assert_eq!(
            code(f.ws.commit(&a, bad).await.unwrap_err()),
            "invalid",
            "{bad:?}"
        );
    }
    let c = f.ws.commit(&a, "a: change two").await.unwrap();
    assert_eq!(c.files.len(), 2);
    assert_eq!(
        git(&a.path, &["status", "--porcelain"]),
        "?? .paddock/",
        "everything but Paddock's own directory is committed"
    );
    assert_eq!(
        code(f.ws.commit(&a, "again").await.unwrap_err()),
        "nothing_to_commit"
    );
    // The diff still shows the branch's changes against main.
    assert_eq!(f.ws.diff(&a).await.unwrap().files.len(), 2);

    std::fs::write(b.path.join("f.txt"), "one\nTWO (b)\nthree\n").unwrap();
    f.ws.commit(&b, "b: change two").await.unwrap();

    // a fast-forwards main, and main's checkout follows.
    let MergeOutcome::Merged(m) = f.ws.merge(&a, None).await.unwrap() else {
        panic!("a conflicted")
    };
    assert_eq!(m.result, MergeKind::FastForward);
    assert_eq!(m.commit, c.commit);
    assert_eq!(git(&repo, &["rev-parse", "main"]), c.commit);
    assert_eq!(
        std::fs::read_to_string(repo.join("f.txt")).unwrap(),
        "one\nTWO (a)\nthree\n"
    );
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    assert!(f.ws.diff(&a).await.unwrap().files.is_empty());

    // b conflicts in f.txt: reported, and main is untouched.
    let MergeOutcome::Conflicts(conflicts) = f.ws.merge(&b, None).await.unwrap() else {
        panic!("b merged")
    };
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].path, "f.txt");
    assert_eq!(conflicts[0].kind, "contents");
    assert!(conflicts[0].message.contains("f.txt"));
    assert_eq!(git(&repo, &["rev-parse", "main"]), c.commit);
    assert_eq!(
        std::fs::read_to_string(repo.join("f.txt")).unwrap(),
        "one\nTWO (a)\nthree\n"
    );
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");

    // A third worktree touching another file merges with a merge commit.
    let w3 = f.ws.create(worktree("c", &repo)).await.unwrap();
    std::fs::write(w3.path.join("keep.txt"), "kept by c\n").unwrap();
    f.ws.commit(&w3, "c: keep").await.unwrap();
    let w4 = f.ws.create(worktree("d", &repo)).await.unwrap();
    std::fs::write(w4.path.join("other.txt"), "d\n").unwrap();
    f.ws.commit(&w4, "d: other").await.unwrap();
    assert!(matches!(
        f.ws.merge(&w3, None).await.unwrap(),
        MergeOutcome::Merged(Merged {
            result: MergeKind::FastForward,
            ..
        })
    ));
    let MergeOutcome::Merged(m) = f.ws.merge(&w4, Some("join d")).await.unwrap() else {
        panic!("d conflicted")
    };
    assert_eq!(m.result, MergeKind::MergeCommit);
    assert_eq!(
        git(&repo, &["log", "-1", "--format=%s%n%P"])
            .lines()
            .count(),
        2
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("other.txt")).unwrap(),
        "d\n"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("keep.txt")).unwrap(),
        "kept by c\n"
    );
    assert!(matches!(
        f.ws.merge(&w4, None).await.unwrap(),
        MergeOutcome::Merged(Merged {
            result: MergeKind::UpToDate,
            ..
        })
    ));

    // Local changes in main's checkout that a merge would overwrite: refused.
    let w5 = f.ws.create(worktree("e", &repo)).await.unwrap();
    std::fs::write(w5.path.join("keep.txt"), "e\n").unwrap();
    f.ws.commit(&w5, "e").await.unwrap();
    std::fs::write(repo.join("keep.txt"), "local edit\n").unwrap();
    let before = git(&repo, &["rev-parse", "main"]);
    assert_eq!(
        code(f.ws.merge(&w5, None).await.unwrap_err()),
        "source_dirty"
    );
    assert_eq!(git(&repo, &["rev-parse", "main"]), before);
    assert_eq!(
        std::fs::read_to_string(repo.join("keep.txt")).unwrap(),
        "local edit\n"
    );

    // Deleting removes the worktree and, when asked, the branch.
    f.ws.delete(&a, true, true).await.unwrap();
    assert!(!a.path.exists());
    assert_eq!(git(&repo, &["branch", "--list", "paddock/a"]), "");
    f.ws.delete(&b, true, false).await.unwrap();
    assert_eq!(git(&repo, &["branch", "--list", "paddock/b"]), "paddock/b");
    assert_eq!(code(f.ws.get(&a.id).await.unwrap_err()), "not_found");
}

#[tokio::test]
async fn git_in_a_workspace_runs_nothing_an_agent_wrote() {
    let f = fixture(10).await;
    let repo = repo(&f.root.join("allowed"));
    let a = f.ws.create(worktree("a", &repo)).await.unwrap();
    let marker = f.root.join("pwned");
    // An agent rewrites the `.git` pointer to a git directory it made,
    // whose config runs a program on the host.
    let evil = a.path.join("evil");
    std::fs::create_dir_all(&evil).unwrap();
    git(&evil, &["init", "-q"]);
    git(
        &evil,
        &[
            "config",
            "core.fsmonitor",
            &format!("touch {}; false", marker.display()),
        ],
    );
    std::fs::write(
        a.path.join(".git"),
        format!("gitdir: {}/.git\n", evil.display()),
    )
    .unwrap();
    std::fs::write(a.path.join("f.txt"), "changed\n").unwrap();
    f.ws.diff(&a).await.unwrap();
    f.ws.commit(&a, "commit").await.unwrap();
    assert!(!marker.exists(), "git ran a program the agent planted");

    // A directory used in place with a hostile .git of its own.
    let dir = f.root.join("allowed/plain");
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q"]);
    git(
        &dir,
        &[
            "config",
            "core.fsmonitor",
            &format!("touch {}; false", marker.display()),
        ],
    );
    let d =
        f.ws.create(NewWorkspace {
            name: "plain".into(),
            path: Some(dir.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    std::fs::write(dir.join("x"), "x").unwrap();
    assert_eq!(f.ws.diff(&d).await.unwrap().files.len(), 1);
    assert!(!marker.exists(), "git ran a program the agent planted");
}

#[tokio::test]
async fn directories_diff_against_their_start_and_are_never_deleted() {
    let f = fixture(10).await;
    let dir = f.root.join("allowed/project");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/lib.rs"), "fn a() {}\n").unwrap();
    std::fs::write(dir.join("gone.txt"), "bye\n").unwrap();
    let ws =
        f.ws.create(NewWorkspace {
            name: "project".into(),
            path: Some(dir.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ws.kind, WorkspaceKind::Directory);
    assert_eq!(ws.path, dir);
    assert!(f.ws.diff(&ws).await.unwrap().files.is_empty());
    std::fs::write(dir.join("src/lib.rs"), "fn a() {}\nfn b() {}\n").unwrap();
    std::fs::remove_file(dir.join("gone.txt")).unwrap();
    let d = f.ws.diff(&ws).await.unwrap();
    let got: Vec<(&str, &str)> = d
        .files
        .iter()
        .map(|c| (c.path.as_str(), c.status.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![("gone.txt", "deleted"), ("src/lib.rs", "modified")]
    );
    assert_eq!(
        code(f.ws.commit(&ws, "x").await.unwrap_err()),
        "not_a_worktree"
    );
    assert_eq!(
        code(f.ws.merge(&ws, None).await.unwrap_err()),
        "not_a_worktree"
    );
    assert_eq!(
        code(f.ws.delete(&ws, true, false).await.unwrap_err()),
        "invalid"
    );
    f.ws.delete(&ws, false, false).await.unwrap();
    assert!(dir.join("src/lib.rs").exists());

    // A copy is Paddock's and goes when asked.
    let copy =
        f.ws.create(NewWorkspace {
            name: "copy".into(),
            path: Some(dir.clone()),
            copy: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(copy.kind, WorkspaceKind::Copy);
    assert_eq!(
        std::fs::read_to_string(copy.path.join("src/lib.rs")).unwrap(),
        "fn a() {}\nfn b() {}\n"
    );
    let view = f.ws.view(copy.clone()).await.unwrap();
    assert_eq!((view.file_count, view.size_bytes), (1, 20));
    f.ws.delete(&copy, true, false).await.unwrap();
    assert!(!copy.path.exists());
    assert!(dir.exists());
}

#[tokio::test]
async fn creation_refuses_what_it_cannot_do_and_leaves_nothing() {
    let f = fixture(10).await;
    let repo = repo(&f.root.join("allowed"));
    let outside = repo_at_outside(&f.root);
    let refused = |e| code(e);
    let cases: Vec<(NewWorkspace, &str)> = vec![
        (worktree("bad name", &repo), "invalid"),
        (worktree("", &repo), "invalid"),
        (worktree(".hidden", &repo), "invalid"),
        (worktree("x", &outside), "outside"),
        (
            worktree("x", &f.root.join("allowed/../elsewhere/repo")),
            "outside",
        ),
        (worktree("x", &f.root.join("allowed/missing")), "invalid"),
        (worktree("x", Path::new("relative/repo")), "invalid"),
        (
            NewWorkspace {
                name: "x".into(),
                path: Some(f.root.join("allowed")),
                repo: Some(repo.clone()),
                ..Default::default()
            },
            "invalid",
        ),
        (
            NewWorkspace {
                base: Some("nope".into()),
                ..worktree("x", &repo)
            },
            "invalid",
        ),
        (
            NewWorkspace {
                branch: Some("bad..name".into()),
                ..worktree("x", &repo)
            },
            "invalid",
        ),
        (
            NewWorkspace {
                branch: Some("main".into()),
                ..worktree("x", &repo)
            },
            "branch_exists",
        ),
        (
            NewWorkspace {
                name: "x".into(),
                copy: true,
                ..Default::default()
            },
            "invalid",
        ),
        (
            NewWorkspace {
                name: "x".into(),
                path: Some(f.root.join("allowed")),
                base: Some("main".into()),
                ..Default::default()
            },
            "invalid",
        ),
    ];
    for (req, want) in cases {
        let label = format!("{req:?}");
        assert_eq!(
            refused(f.ws.create(req).await.unwrap_err()),
            want,
            "{label}"
        );
    }
    // A directory under a root inside a repository that is not.
    let nested_root = f.root.join("elsewhere/repo/sub");
    std::fs::create_dir_all(&nested_root).unwrap();
    let narrow = Workspaces::open(
        f.ws.store.clone(),
        &f.data,
        WorkspacesConfig {
            roots: vec![nested_root.clone()],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        refused(
            narrow
                .create(worktree("x", &nested_root))
                .await
                .unwrap_err()
        ),
        "outside"
    );
    // Not a repository.
    let plain = f.root.join("allowed/plain");
    std::fs::create_dir(&plain).unwrap();
    assert_eq!(
        refused(f.ws.create(worktree("x", &plain)).await.unwrap_err()),
        "invalid"
    );
    assert!(f.ws.list().await.unwrap().is_empty());
    assert_eq!(
        std::fs::read_dir(f.data.join("workspaces"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(git(&repo, &["worktree", "list"]).lines().count(), 1);

    f.ws.create(worktree("x", &repo)).await.unwrap();
    assert_eq!(
        refused(f.ws.create(worktree("x", &repo)).await.unwrap_err()),
        "name_taken"
    );
    assert_eq!(f.ws.free_name("x").await.unwrap(), "x-2");
    assert_eq!(slug("My  Agent #1!"), "my-agent-1");
    assert_eq!(slug("!!!"), "agent");
}

fn repo_at_outside(root: &Path) -> PathBuf {
    repo(&root.join("elsewhere"))
}

#[tokio::test]
async fn file_routes_stay_inside_the_workspace() {
    let f = fixture(10).await;
    let ws =
        f.ws.create(NewWorkspace {
            name: "e".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ws.kind, WorkspaceKind::Empty);
    std::fs::write(f.root.join("secret"), "s").unwrap();
    std::fs::create_dir(ws.path.join("sub")).unwrap();
    std::fs::write(ws.path.join("sub/a.txt"), "a").unwrap();
    std::os::unix::fs::symlink(&f.root, ws.path.join("up")).unwrap();
    std::os::unix::fs::symlink(f.root.join("secret"), ws.path.join("secret-link")).unwrap();
    for bad in [
        "..",
        "../secret",
        "/etc/passwd",
        "up/secret",
        "secret-link",
        "sub/../../secret",
    ] {
        let e = f.ws.files(&ws, bad, false).await.unwrap_err();
        assert_eq!(code(e), "outside", "{bad}");
    }
    let FilesView::Dir { entries, .. } = f.ws.files(&ws, "", false).await.unwrap() else {
        panic!("the root is a directory")
    };
    let kinds: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.name.as_str(), e.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("sub", "dir"),
            ("secret-link", "symlink"),
            ("up", "symlink")
        ]
    );
    let FilesView::File(c) = f.ws.files(&ws, "sub/a.txt", false).await.unwrap() else {
        panic!("a file")
    };
    assert_eq!(c.text.as_deref(), Some("a"));
    assert_eq!(
        code(f.ws.files(&ws, "nope", false).await.unwrap_err()),
        "not_found"
    );
}

#[tokio::test]
async fn backups_round_trip_byte_for_byte_and_keep_the_newest() {
    let f = fixture(2).await;
    let repo = repo(&f.root.join("allowed"));
    let ws = f.ws.create(worktree("w", &repo)).await.unwrap();
    let blob: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 256) as u8).collect();
    std::fs::write(ws.path.join("blob.bin"), &blob).unwrap();
    let first = f.ws.backup(&ws).await.unwrap();
    assert!(first.file.is_file());
    assert_eq!(first.sha256, backup::sha256_of(&first.file).unwrap());
    let second = f.ws.backup(&ws).await.unwrap();
    let third = f.ws.backup(&ws).await.unwrap();
    let kept: Vec<String> =
        f.ws.backups(Some(&ws.id))
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.id)
            .collect();
    assert_eq!(kept, vec![third.id.clone(), second.id.clone()]);
    assert!(!first.file.exists());

    let restored = f.ws.restore(&third, "w-restored").await.unwrap();
    assert_eq!(restored.kind, WorkspaceKind::Restored);
    assert_eq!(restored.restored_from.as_deref(), Some(third.id.as_str()));
    assert_eq!(std::fs::read(restored.path.join("blob.bin")).unwrap(), blob);
    assert_eq!(
        std::fs::read(restored.path.join("f.txt")).unwrap(),
        std::fs::read(ws.path.join("f.txt")).unwrap()
    );
    // The worktree's `.git` pointer is not part of the backup.
    assert!(!restored.path.join(".git").exists());
    assert!(f.ws.diff(&restored).await.unwrap().files.is_empty());
    assert_eq!(
        code(f.ws.restore(&third, "w-restored").await.unwrap_err()),
        "name_taken"
    );

    // A changed archive is refused and leaves no workspace behind.
    let mut bytes = std::fs::read(&second.file).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&second.file, bytes).unwrap();
    assert_eq!(
        code(f.ws.restore(&second, "w-bad").await.unwrap_err()),
        "corrupt"
    );
    assert!(f.ws.list().await.unwrap().iter().all(|w| w.name != "w-bad"));

    f.ws.remove_backup(&second).await.unwrap();
    assert!(!second.file.exists());
    assert_eq!(f.ws.backups(None).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_agents_snapshot_shows_what_it_changed_in_a_plain_directory() {
    let f = fixture(3).await;
    let dir = f.root.join("allowed").join("plain");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keep.txt"), "same\n").unwrap();
    std::fs::write(dir.join("edit.txt"), "before\n").unwrap();
    std::fs::write(dir.join("gone.txt"), "bye\n").unwrap();
    std::fs::write(dir.join(".gitignore"), "build/\n").unwrap();
    std::fs::create_dir(dir.join("build")).unwrap();
    std::fs::write(dir.join("build").join("out.o"), "ignored\n").unwrap();
    let taken = f.ws.snapshot_agent("a1", &dir).await.unwrap();
    assert!(matches!(taken, snapshot::Snapshot::Taken(_)), "{taken:?}");
    // The agent's work: a new, an edited, a deleted, a binary and an
    // ignored file.
    std::fs::write(dir.join("new.txt"), "fresh\n").unwrap();
    std::fs::write(dir.join("edit.txt"), "after\n").unwrap();
    std::fs::remove_file(dir.join("gone.txt")).unwrap();
    std::fs::write(dir.join("blob.bin"), [0u8, 1, 2, 0, 255]).unwrap();
    std::fs::write(dir.join("build").join("more.o"), "ignored\n").unwrap();
    let diff = f.ws.agent_diff("a1", &dir).await.unwrap();
    let mut files: Vec<(&str, &str)> = diff
        .files
        .iter()
        .map(|c| (c.path.as_str(), c.status.as_str()))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            ("blob.bin", "added"),
            ("edit.txt", "modified"),
            ("gone.txt", "deleted"),
            ("new.txt", "added"),
        ],
        "{}",
        diff.patch
    );
    assert!(diff.patch.contains("-before\n+after"), "{}", diff.patch);
    assert!(diff.patch.contains("Binary files"), "{}", diff.patch);
    assert_eq!(diff.against, "the agent started");
    // A second agent starting now sees none of the first one's changes.
    f.ws.snapshot_agent("a2", &dir).await.unwrap();
    assert!(f.ws.agent_diff("a2", &dir).await.unwrap().files.is_empty());
    // No snapshot: said plainly; removed: gone.
    let none = f.ws.agent_diff("a3", &dir).await.unwrap_err();
    assert!(none.to_string().contains("no snapshot"), "{none}");
    f.ws.remove_agent_snapshot("a1").await.unwrap();
    assert!(f.ws.agent_diff("a1", &dir).await.is_err());
}

#[tokio::test]
async fn a_directory_over_the_file_cap_is_not_snapshotted_and_its_diff_says_why() {
    let f = fixture(3).await;
    let dir = f.root.join("allowed").join("huge");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..=snapshot::MAX_SNAPSHOT_FILES {
        std::fs::write(dir.join(format!("f{i}")), "").unwrap();
    }
    let taken = f.ws.snapshot_agent("big", &dir).await.unwrap();
    assert!(
        matches!(&taken, snapshot::Snapshot::TooLarge(why) if why.contains("20000 files")),
        "{taken:?}"
    );
    let err = f.ws.agent_diff("big", &dir).await.unwrap_err();
    assert!(err.to_string().contains("too large to snapshot"), "{err}");
}

#[tokio::test]
async fn owners_are_kept_in_the_records_and_old_records_are_the_local_accounts() {
    let f = fixture(5).await;
    let mine =
        f.ws.create(NewWorkspace {
            name: "mine".into(),
            owner: Some("u-alice".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.owner_id(), "u-alice");
    let theirs =
        f.ws.create(NewWorkspace {
            name: "old".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(theirs.owner_id(), paddock_protocol::identity::LOCAL_USER);
    // Read back, by id, by name and in the list.
    assert_eq!(f.ws.get(&mine.id).await.unwrap().owner_id(), "u-alice");
    assert_eq!(f.ws.get("mine").await.unwrap().owner_id(), "u-alice");
    let listed = f.ws.list().await.unwrap();
    assert_eq!(
        listed.iter().find(|w| w.name == "mine").unwrap().owner_id(),
        "u-alice"
    );
    assert_eq!(listed.iter().find(|w| w.name == "old").unwrap().owner, None);
    // The record stores it; the serialized workspace (what the API
    // flattens into its view) does not carry it.
    assert!(serde_json::to_value(&mine).unwrap().get("owner").is_none());

    // A backup belongs to its workspace's owner; a restore, to whom it is
    // restored for.
    let b = f.ws.backup(&mine).await.unwrap();
    assert_eq!(b.owner_id(), "u-alice");
    assert_eq!(f.ws.backup_of(&b.id).await.unwrap().owner_id(), "u-alice");
    assert_eq!(f.ws.backups(None).await.unwrap()[0].owner_id(), "u-alice");
    let back = f.ws.restore(&b, "mine-again").await.unwrap();
    assert_eq!(f.ws.get(&back.id).await.unwrap().owner_id(), "u-alice");
    let other =
        f.ws.restore_for(&b, "for-bob", Some("u-bob"))
            .await
            .unwrap();
    assert_eq!(f.ws.get(&other.id).await.unwrap().owner_id(), "u-bob");
}
