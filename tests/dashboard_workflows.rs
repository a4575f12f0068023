//! Workflows in the dashboard, in real Chromium
//! (`tests/dashboard/workflows.mjs`): this test makes the scripted model, a
//! git repository under the workspace root and a data dir, then the script
//! starts the real `paddock serve` and drives the Workflows screen and a
//! run's view — the YAML editor refusing a definition at the field's line,
//! a run started from its form, its step going live to the human gate, the
//! gate's diff approved in place, the merge landing in the repository;
//! then an agent that delegates, its screen listing its sub-agent and the
//! sub-agent's naming its parent; and the built-in best-of-3, its three
//! attempts side by side, the passing one kept and merged from its card.
//! Screenshots at 1440 and 375 px land in `target/workflows-e2e/`.

use crate::common;
use crate::dashboard::CHROMIUM;

use common::{ADMIN_TOKEN, paddock_bin, shared_cache_dir};
use serde_json::json;
use std::path::Path;

/// The step's agent: asked to `write-greeting for WHO`, it writes
/// `greeting.txt`, then says so; a best-of-3 attempt (`best-greeting`)
/// writes `best.txt`; an agent asked to `delegate-greeting`
/// starts a sub-agent (`helper`) that says hello.
fn script() -> String {
    json!({
        "model": "scripted",
        "scenarios": [
            {"name": "greet", "match": "write-greeting for", "turns": [
                {"text": "I will write the greeting.",
                 "tool_calls": [{"name": "write_file", "arguments":
                    {"path": "greeting.txt", "content": "Hello, the team!\n"}}]},
                {"text": "Wrote greeting.txt."}
            ]},
            {"name": "boss", "match": "delegate-greeting", "turns": [
                {"text": "A helper will say hello.",
                 "tool_calls": [{"name": "delegate", "arguments":
                    {"task": "child-hello: say hello", "name": "helper"}}]},
                {"text": "The helper said hello."}
            ]},
            {"name": "best", "match": "^best-greeting", "turns": [
                {"tool_calls": [{"name": "write_file", "arguments":
                    {"path": "best.txt", "content": "the best greeting\n"}}]},
                {"text": "Wrote best.txt."}
            ]},
            {"name": "helper", "match": "child-hello", "turns": [{"text": "Hello from the helper."}]},
            {"name": "hello", "turns": [{"text": "Hello from the scripted model."}]}
        ]
    })
    .to_string()
}

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The story of `tests/dashboard/workflows.mjs`; its steps print `ok` or
/// `FAIL` (with a screenshot of the failure in the artefacts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_in_chromium() {
    let root = common::repo_root();
    assert!(
        root.join("dashboard/dist/index.html").is_file(),
        "build the dashboard first (`make test` does)"
    );
    let model = common::scripted::model(&script()).await;
    let data = common::data_tempdir("paddock-workflows-");
    let ws_root = tempfile::tempdir().expect("a workspace root");
    let repo = ws_root.path().join("greetings");
    std::fs::create_dir_all(&repo).expect("make the repository's directory");
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["config", "user.email", "test@example.com"]);
    git(&repo, &["config", "user.name", "Test"]);
    std::fs::write(repo.join("README.md"), "# greetings\n").expect("write README");
    git(&repo, &["add", "README.md"]);
    git(&repo, &["commit", "-q", "-m", "start"]);
    let config = data.path().join("paddock.toml");
    std::fs::write(
        &config,
        format!(
            "[[providers]]\nname = \"scripted\"\nbase_url = \"{}\"\n\
             [[providers.models]]\nname = \"scripted\"\n",
            model.base_url()
        ),
    )
    .expect("write paddock.toml");
    let target = paddock_bin()
        .parent()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .expect("the target dir");
    let artifacts = target.join("workflows-e2e");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).expect("create the artefacts dir");
    let _one_browser = CHROMIUM.lock().await;
    let out = tokio::process::Command::new("node")
        .arg(root.join("tests/dashboard/workflows.mjs"))
        .env("PADDOCK_BIN", paddock_bin())
        .env("PADDOCK_CACHE_DIR", shared_cache_dir())
        .env("PADDOCK_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("E2E_DATA_DIR", data.path())
        .env("E2E_CONFIG", &config)
        .env("E2E_WORKSPACE_ROOT", ws_root.path())
        .env("E2E_REPO", &repo)
        .env("E2E_ARTIFACTS", &artifacts)
        .kill_on_drop(true)
        .status()
        .await
        .expect("run node tests/dashboard/workflows.mjs (Node.js is needed)");
    assert!(
        out.success(),
        "the workflow steps failed (their output is above; screenshots in {})",
        artifacts.display()
    );
    drop(model);
}
