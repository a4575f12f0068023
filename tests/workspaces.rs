//! Workspaces end to end, against the real `paddock serve`: two agents on
//! two worktrees of one repository edit the same file through the real
//! file tools, each is reviewed and merged, and the second reports its
//! conflict; backups restore byte for byte (and survive a restart); path
//! escapes are refused on every route; a workspace in use is not deleted.

use crate::common;

use common::events::{EventBody, matching};
use common::scripted::{DEADLINE, Setup, setup, summary, wait_status};
use common::{Paddock, Server, git, scripted_config};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest;
use std::path::{Path, PathBuf};

/// A repository on `main` whose `f.txt` has the line `two`.
fn repo(at: &Path) -> PathBuf {
    let r = at.join("repo");
    std::fs::create_dir_all(&r).unwrap();
    git(&r, &["init", "-q", "-b", "main"]);
    git(&r, &["config", "user.email", "dev@example.com"]);
    git(&r, &["config", "user.name", "Dev"]);
    std::fs::write(r.join("f.txt"), "one\ntwo\nthree\n").unwrap();
    git(&r, &["add", "."]);
    git(&r, &["commit", "-qm", "start"]);
    r
}

async fn call(s: &Server, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let c = common::client();
    let mut req = c.request(method, s.url(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = tokio::time::timeout(DEADLINE, req.send())
        .await
        .expect("an answer within the deadline")
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn create_agent(s: &Setup, name: &str, repo: &Path, task: &str) -> Value {
    let (st, agent) = call(
        &s.server,
        Method::POST,
        "/api/agents",
        Some(json!({
            "name": name,
            "worktree": {"repo": repo},
            "approval_mode": "auto",
            "task": task,
        })),
    )
    .await;
    assert_eq!(st, 201, "{agent}");
    agent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_on_two_worktrees_are_merged_and_the_second_conflicts() {
    let s = setup(
        r#"
scenarios:
  - match: "alpha"
    turns:
      - tool_calls: [{name: edit_file, arguments: {path: f.txt, old_string: "two", new_string: "TWO by alpha"}}]
      - tool_calls: [{name: execute_bash, arguments: {command: "git log --format=%s -1; git status --porcelain; git diff --stat; git commit -qam sneaky 2>&1 || echo commit-refused"}}]
      - text: "alpha done"
  - match: "beta"
    turns:
      - tool_calls: [{name: edit_file, arguments: {path: f.txt, old_string: "two", new_string: "TWO by beta"}}]
      - text: "beta done"
"#,
        "",
        &[],
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let repo = repo(tmp.path());
    let start = git(&repo, &["rev-parse", "main"]);

    let alpha = create_agent(&s, "Alpha Agent", &repo, "alpha: change line two").await;
    let alpha_id = alpha["id"].as_str().unwrap();
    let evs = wait_status(&s.http, &s.server, alpha_id, 2, &["idle", "error"]).await;
    assert!(summary(&evs).contains("alpha done"), "{}", summary(&evs));
    // In its sandbox, git sees the worktree's history (its repository's git
    // directory is mounted read-only) but cannot commit behind Paddock.
    let shell = matching!(evs, EventBody::ToolResult { content, .. } => content.clone())
        .into_iter()
        .find(|c| c.contains("commit-refused") || c.contains("sneaky"))
        .unwrap_or_else(|| panic!("no shell result: {}", summary(&evs)));
    assert!(shell.contains("start\n"), "{shell}");
    assert!(shell.contains(" M f.txt"), "{shell}");
    assert!(shell.contains("commit-refused"), "{shell}");
    let beta = create_agent(&s, "Beta Agent", &repo, "beta: change line two").await;
    let beta_id = beta["id"].as_str().unwrap();
    let evs = wait_status(&s.http, &s.server, beta_id, 2, &["idle", "error"]).await;
    assert!(summary(&evs).contains("beta done"), "{}", summary(&evs));

    // Each agent got its own worktree, named after it.
    let ws_a = alpha["config"]["workspace_id"]
        .as_str()
        .unwrap()
        .to_string();
    let ws_b = beta["config"]["workspace_id"].as_str().unwrap().to_string();
    let (_, a) = call(
        &s.server,
        Method::GET,
        &format!("/api/workspaces/{ws_a}"),
        None,
    )
    .await;
    let (_, b) = call(
        &s.server,
        Method::GET,
        &format!("/api/workspaces/{ws_b}"),
        None,
    )
    .await;
    assert_eq!(a["name"], "alpha-agent");
    assert_eq!(a["kind"], "worktree");
    assert_eq!(a["branch"], "paddock/alpha-agent");
    assert_eq!(a["base_branch"], "main");
    assert_eq!(a["agents"][0]["id"], alpha_id);
    assert_eq!(b["agents"][0]["id"], beta_id);
    assert_eq!(a["path"], alpha["config"]["workspace"]);
    let path_a = PathBuf::from(a["path"].as_str().unwrap());
    let path_b = PathBuf::from(b["path"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(path_a.join("f.txt")).unwrap(),
        "one\nTWO by alpha\nthree\n"
    );
    assert_eq!(
        std::fs::read_to_string(path_b.join("f.txt")).unwrap(),
        "one\nTWO by beta\nthree\n"
    );
    // The repository itself is untouched until a merge.
    assert_eq!(
        std::fs::read_to_string(repo.join("f.txt")).unwrap(),
        "one\ntwo\nthree\n"
    );
    let (_, listed) = call(&s.server, Method::GET, "/api/workspaces", None).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // Review: the diff of each.
    for (ws, who) in [(&ws_a, "alpha"), (&ws_b, "beta")] {
        let (st, d) = call(
            &s.server,
            Method::GET,
            &format!("/api/workspaces/{ws}/diff"),
            None,
        )
        .await;
        assert_eq!(st, 200, "{d}");
        assert_eq!(d["base"], start.as_str());
        assert_eq!(d["files"][0]["path"], "f.txt");
        assert_eq!(d["files"][0]["status"], "modified");
        assert_eq!(
            (d["additions"].as_u64(), d["deletions"].as_u64()),
            (Some(1), Some(1))
        );
        let patch = d["patch"].as_str().unwrap();
        assert!(patch.contains(&format!("+TWO by {who}")), "{patch}");
        let (st, c) = call(
            &s.server,
            Method::POST,
            &format!("/api/workspaces/{ws}/commit"),
            Some(json!({"message": format!("{who}: line two")})),
        )
        .await;
        assert_eq!(st, 201, "{c}");
    }

    // alpha merges (fast-forward); main's checkout follows.
    let (st, m) = call(
        &s.server,
        Method::POST,
        &format!("/api/workspaces/{ws_a}/merge"),
        None,
    )
    .await;
    assert_eq!(st, 200, "{m}");
    assert_eq!(m["result"], "fast_forward");
    assert_eq!(m["files"][0]["path"], "f.txt");
    let merged = git(&repo, &["rev-parse", "main"]);
    assert_eq!(m["commit"], merged.as_str());
    assert_eq!(git(&repo, &["log", "-1", "--format=%s"]), "alpha: line two");
    assert_eq!(
        std::fs::read_to_string(repo.join("f.txt")).unwrap(),
        "one\nTWO by alpha\nthree\n"
    );

    // beta conflicts: reported file by file, nothing changed.
    let (st, m) = call(
        &s.server,
        Method::POST,
        &format!("/api/workspaces/{ws_b}/merge"),
        Some(json!({})),
    )
    .await;
    assert_eq!(st, 409, "{m}");
    assert_eq!(m["error"]["code"], "merge_conflict");
    let conflicts = m["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{m}");
    assert_eq!(conflicts[0]["path"], "f.txt");
    assert_eq!(conflicts[0]["kind"], "contents");
    assert_eq!(git(&repo, &["rev-parse", "main"]), merged);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    assert_eq!(
        std::fs::read_to_string(repo.join("f.txt")).unwrap(),
        "one\nTWO by alpha\nthree\n"
    );

    // beta's workspace is in use: not deleted.
    let (st, e) = call(
        &s.server,
        Method::DELETE,
        &format!("/api/workspaces/{ws_b}?remove_files=true&delete_branch=true"),
        None,
    )
    .await;
    assert_eq!(st, 409, "{e}");
    assert_eq!(e["error"]["code"], "in_use");
    assert!(e["error"]["message"].as_str().unwrap().contains(beta_id));
    assert!(path_b.join("f.txt").is_file());
    // Once the agent is gone, it goes, worktree and branch.
    let (st, _) = call(
        &s.server,
        Method::DELETE,
        &format!("/api/agents/{beta_id}"),
        None,
    )
    .await;
    assert_eq!(st, 204);
    let (st, e) = call(
        &s.server,
        Method::DELETE,
        &format!("/api/workspaces/{ws_b}?remove_files=true&delete_branch=true"),
        None,
    )
    .await;
    assert_eq!(st, 204, "{e}");
    assert!(!path_b.exists());
    assert_eq!(git(&repo, &["branch", "--list", "paddock/beta-agent"]), "");
    assert_eq!(git(&repo, &["worktree", "list"]).lines().count(), 2);
    let (st, _) = call(
        &s.server,
        Method::GET,
        &format!("/api/workspaces/{ws_b}"),
        None,
    )
    .await;
    assert_eq!(st, 404);

    // An agent that cannot be created leaves no worktree behind.
    let (st, e) = call(
        &s.server,
        Method::POST,
        "/api/agents",
        Some(json!({"name": "ghost", "worktree": {"repo": repo}, "tools": ["no_such_tool"]})),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    assert_eq!(git(&repo, &["worktree", "list"]).lines().count(), 2);
    assert_eq!(git(&repo, &["branch", "--list", "paddock/ghost"]), "");
}

/// Every file, directory and link under `dir`: path, kind, mode, bytes or
/// link target.
fn tree(dir: &Path) -> Vec<(String, String, u32, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(dir.join(&rel)).unwrap() {
            let e = e.unwrap();
            let r = rel.join(e.file_name());
            let full = dir.join(&r);
            let meta = full.symlink_metadata().unwrap();
            let mode = meta.permissions().mode();
            let (kind, data) = if meta.file_type().is_symlink() {
                (
                    "link",
                    std::fs::read_link(&full)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned()
                        .into_bytes(),
                )
            } else if meta.is_dir() {
                stack.push(r.clone());
                ("dir", Vec::new())
            } else {
                ("file", std::fs::read(&full).unwrap())
            };
            out.push((
                r.to_string_lossy().into_owned(),
                kind.to_string(),
                mode,
                data,
            ));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_restore_byte_for_byte_keep_the_newest_and_survive_a_restart() {
    let p = Paddock::new();
    let config = scripted_config(
        p.data_dir(),
        "http://127.0.0.1:9/v1",
        "[workspaces]\nbackup_retention = 2\n",
    );
    let s = Server::start(&p, &config, None, &[]);
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("project");
    std::fs::create_dir_all(src.join("deep/er")).unwrap();
    std::fs::create_dir_all(src.join("empty")).unwrap();
    let blob: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(src.join("deep/er/blob.bin"), &blob).unwrap();
    std::fs::write(src.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(src.join("run.sh"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("deep/er/blob.bin", src.join("link")).unwrap();
    std::fs::write(src.join("ünïcode name.txt"), "ü\n").unwrap();

    let (st, ws) = call(
        &s,
        Method::POST,
        "/api/workspaces",
        Some(json!({"name": "proj", "path": src, "copy": true})),
    )
    .await;
    assert_eq!(st, 201, "{ws}");
    assert_eq!(ws["kind"], "copy");
    assert_eq!(ws["file_count"], 4);
    let ws_path = PathBuf::from(ws["path"].as_str().unwrap());
    assert_eq!(tree(&ws_path), tree(&src));

    let mut made = Vec::new();
    for _ in 0..3 {
        let (st, b) = call(&s, Method::POST, "/api/workspaces/proj/backup", None).await;
        assert_eq!(st, 201, "{b}");
        made.push(b);
    }
    let first = &made[0];
    let last = &made[2];
    let file = PathBuf::from(last["file"].as_str().unwrap());
    assert!(file.starts_with(p.data_dir()));
    let sha = hex::encode(sha2::Sha256::digest(std::fs::read(&file).unwrap()));
    assert_eq!(last["sha256"], sha.as_str());
    assert_eq!(last["bytes"], std::fs::metadata(&file).unwrap().len());
    // Retention 2: the first is gone, file and record.
    let (_, listed) = call(&s, Method::GET, "/api/workspaces/proj/backups", None).await;
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![
            last["id"].as_str().unwrap(),
            made[1]["id"].as_str().unwrap()
        ]
    );
    assert!(!Path::new(first["file"].as_str().unwrap()).exists());

    // The workspace changes, then is deleted; its backups stay, across a
    // restart.
    std::fs::write(ws_path.join("run.sh"), "changed").unwrap();
    let (st, _) = call(
        &s,
        Method::DELETE,
        "/api/workspaces/proj?remove_files=true",
        None,
    )
    .await;
    assert_eq!(st, 204);
    assert!(!ws_path.exists());
    drop(s);
    let s = Server::start(&p, &config, None, &[]);
    let (_, all) = call(&s, Method::GET, "/api/backups", None).await;
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");

    let bid = last["id"].as_str().unwrap();
    let (st, restored) = call(
        &s,
        Method::POST,
        &format!("/api/backups/{bid}/restore"),
        Some(json!({"name": "proj-again"})),
    )
    .await;
    assert_eq!(st, 201, "{restored}");
    assert_eq!(restored["kind"], "restored");
    assert_eq!(restored["restored_from"], bid);
    let back = PathBuf::from(restored["path"].as_str().unwrap());
    assert_eq!(
        tree(&back),
        tree(&src),
        "the restore differs from the original"
    );
    let (_, d) = call(&s, Method::GET, "/api/workspaces/proj-again/diff", None).await;
    assert_eq!(d["files"], json!([]));

    // A damaged archive is refused before anything is extracted.
    let other = PathBuf::from(made[1]["file"].as_str().unwrap());
    let mut bytes = std::fs::read(&other).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&other, bytes).unwrap();
    let (st, e) = call(
        &s,
        Method::POST,
        &format!("/api/backups/{}/restore", made[1]["id"].as_str().unwrap()),
        Some(json!({"name": "proj-bad"})),
    )
    .await;
    assert_eq!(st, 422, "{e}");
    assert_eq!(e["error"]["code"], "backup_corrupt");
    let (_, names) = call(&s, Method::GET, "/api/workspaces", None).await;
    let names: Vec<&str> = names
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["proj-again"]);
    let (st, _) = call(&s, Method::DELETE, &format!("/api/backups/{bid}"), None).await;
    assert_eq!(st, 204);
    assert!(!file.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_escapes_are_refused_on_every_route() {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let allowed = root.join("allowed");
    let outside = root.join("outside");
    std::fs::create_dir_all(allowed.join("proj/sub")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "TOP-SECRET").unwrap();
    std::fs::write(allowed.join("proj/sub/ok.txt"), "fine").unwrap();
    std::os::unix::fs::symlink(&outside, allowed.join("proj/out")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), allowed.join("proj/secret-link"))
        .unwrap();
    std::os::unix::fs::symlink(&outside, allowed.join("door")).unwrap();
    let outside_repo = repo(&outside);

    let p = Paddock::new();
    let config = scripted_config(p.data_dir(), "http://127.0.0.1:9/v1", "");
    let allowed_s = allowed.to_string_lossy().into_owned();
    let s = Server::start_with_args(&p, &config, None, &[], &["--workspace-root", &allowed_s]);

    // Workspaces outside the roots: directly, through `..`, through a
    // symlink inside a root, as a worktree's repository, as a copy source.
    let outside_s = outside.to_string_lossy().into_owned();
    for body in [
        json!({"name": "w", "path": outside_s}),
        json!({"name": "w", "path": format!("{allowed_s}/../outside")}),
        json!({"name": "w", "path": format!("{allowed_s}/door")}),
        json!({"name": "w", "path": format!("{allowed_s}/door"), "copy": true}),
        json!({"name": "w", "repo": outside_repo}),
        json!({"name": "w", "path": "/etc"}),
    ] {
        let (st, e) = call(&s, Method::POST, "/api/workspaces", Some(body.clone())).await;
        assert_eq!(st, 403, "{body}: {e}");
        assert_eq!(e["error"]["code"], "outside_workspace");
    }
    // Agents given a directory outside the roots.
    for body in [
        json!({"workspace": outside_s}),
        json!({"workspace": format!("{allowed_s}/door")}),
        json!({"worktree": {"repo": outside_repo}}),
    ] {
        let (st, e) = call(&s, Method::POST, "/api/agents", Some(body.clone())).await;
        assert_eq!(st, 403, "{body}: {e}");
    }
    let (_, agents) = call(&s, Method::GET, "/api/agents", None).await;
    assert_eq!(agents, json!([]));

    let (st, ws) = call(
        &s,
        Method::POST,
        "/api/workspaces",
        Some(json!({"name": "proj", "path": allowed.join("proj")})),
    )
    .await;
    assert_eq!(st, 201, "{ws}");
    let id = ws["id"].as_str().unwrap().to_string();

    // Files: every way out is refused and the secret never appears.
    for bad in [
        "..",
        "../outside/secret.txt",
        "/etc/passwd",
        "out",
        "out/secret.txt",
        "secret-link",
        "sub/../../outside/secret.txt",
        "./sub/../..",
    ] {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("path", bad)
            .finish();
        let (st, e) = call(
            &s,
            Method::GET,
            &format!("/api/workspaces/{id}/files?{q}"),
            None,
        )
        .await;
        assert_eq!(st, 403, "{bad}: {e}");
        assert!(!e.to_string().contains("TOP-SECRET"), "{bad}: {e}");
    }
    let (st, _) = call(
        &s,
        Method::GET,
        &format!("/api/workspaces/{id}/files?path=sub%00x"),
        None,
    )
    .await;
    assert_eq!(st, 400);
    let (st, f) = call(
        &s,
        Method::GET,
        &format!("/api/workspaces/{id}/files?path=sub/ok.txt"),
        None,
    )
    .await;
    assert_eq!(st, 200, "{f}");
    assert_eq!(f["text"], "fine");
    // The listing shows links as links, never their targets' content.
    let (_, root_list) = call(
        &s,
        Method::GET,
        &format!("/api/workspaces/{id}/files"),
        None,
    )
    .await;
    assert!(
        root_list["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "out" && e["kind"] == "symlink")
    );
    // The diff does not follow links out either.
    let (st, d) = call(&s, Method::GET, &format!("/api/workspaces/{id}/diff"), None).await;
    assert_eq!(st, 200, "{d}");
    assert!(!d.to_string().contains("TOP-SECRET"), "{d}");

    // Ids that try to climb are just unknown.
    // (A bare or encoded `..` is folded by the client before it is sent.)
    for bad in ["..%2F..%2Fetc", "%2Fetc%2Fpasswd", "%2E%2E%2Fx"] {
        for (m, route) in [
            (Method::GET, ""),
            (Method::GET, "/files"),
            (Method::GET, "/diff"),
            (Method::POST, "/backup"),
            (Method::GET, "/backups"),
            (Method::DELETE, ""),
        ] {
            let (st, _) = call(
                &s,
                m.clone(),
                &format!("/api/workspaces/{bad}{route}"),
                None,
            )
            .await;
            assert!(st == 404 || st == 400, "{m} {bad}{route}: {st}");
        }
        let (st, _) = call(
            &s,
            Method::POST,
            &format!("/api/backups/{bad}/restore"),
            Some(json!({"name": "x"})),
        )
        .await;
        assert!(st == 404 || st == 400, "restore {bad}: {st}");
    }
    // A restore's name cannot climb either.
    let (st, b) = call(
        &s,
        Method::POST,
        &format!("/api/workspaces/{id}/backup"),
        None,
    )
    .await;
    assert_eq!(st, 201, "{b}");
    // The backup holds the links as links: the secret is not in it.
    let archive = std::fs::read(b["file"].as_str().unwrap()).unwrap();
    let mut plain = Vec::new();
    let mut dec = zstd::Decoder::new(&archive[..]).unwrap();
    std::io::Read::read_to_end(&mut dec, &mut plain).unwrap();
    assert!(!plain.windows(10).any(|w| w == b"TOP-SECRET"));
    for name in ["../evil", "a/b", "..", ""] {
        let (st, e) = call(
            &s,
            Method::POST,
            &format!("/api/backups/{}/restore", b["id"].as_str().unwrap()),
            Some(json!({"name": name})),
        )
        .await;
        assert_eq!(st, 400, "{name}: {e}");
    }
    // Commit and merge are for worktrees; a directory used in place is
    // never deleted by Paddock.
    let (st, e) = call(
        &s,
        Method::POST,
        &format!("/api/workspaces/{id}/commit"),
        Some(json!({"message": "x"})),
    )
    .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (409, Some("not_a_worktree"))
    );
    let (st, _) = call(
        &s,
        Method::DELETE,
        &format!("/api/workspaces/{id}?remove_files=true"),
        None,
    )
    .await;
    assert_eq!(st, 400);
    assert!(allowed.join("proj/sub/ok.txt").is_file());
    let (st, _) = call(&s, Method::DELETE, &format!("/api/workspaces/{id}"), None).await;
    assert_eq!(st, 204);
    assert!(allowed.join("proj/sub/ok.txt").is_file());
    assert_eq!(
        std::fs::read_to_string(outside.join("secret.txt")).unwrap(),
        "TOP-SECRET"
    );
}
