//! The built-in offline demo: `POST /api/demo` makes a sample Python
//! project with a bug in a new workspace and starts an agent on it, driven
//! by the scripted model served in-process ([`DemoModel`], the provider
//! [`PROVIDER`]). The script (`demo/script.yaml`) streams text, reads a
//! file, runs the failing tests, fixes the bug with an edit, runs the tests
//! again, asks before deleting a directory, and ends with a Markdown
//! summary of the diff to review — without a model provider or a network.
//!
//! The model listens on 127.0.0.1 on a port of its own, started with the
//! host (so a demo agent resumes after a restart, the provider being there
//! again) and answers only requests carrying the random key it was given
//! at start. The demo provider never counts as a usable provider
//! ([`providers_ready`]).

use super::AppState;
use super::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use paddock_core::agent::resolve::{AgentRequest, AgentTemplate, Resolved, Resolver};
use paddock_core::agent::{ModelRef, Provider};
use paddock_core::config::{ModelConfig, ProviderConfig};
use paddock_core::workspace::git::{Git, in_checkout};
use paddock_core::workspace::{NewWorkspace, Workspace, WorkspaceError, Workspaces};
use paddock_llm::scripted::{RunningModel, Script, ScriptedModel};
use serde::Serialize;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use utoipa::ToSchema;

/// The demo provider's name (reserved: a configured provider may not use it).
pub const PROVIDER: &str = "demo";
/// The demo model's name.
pub const MODEL: &str = "paddock-demo";

/// The script the demo model answers from.
const SCRIPT: &str = include_str!("demo/script.yaml");

/// The sample project: (path, content).
const SAMPLE: &[(&str, &str)] = &[
    ("README.md", include_str!("demo/sample/README.md")),
    (".gitignore", include_str!("demo/sample/gitignore")),
    ("stats.py", include_str!("demo/sample/stats.py")),
    ("test_stats.py", include_str!("demo/sample/test_stats.py")),
    // A stale copy of the buggy module, ignored by git: what the demo's
    // risky call deletes.
    ("build/lib/stats.py", include_str!("demo/sample/stats.py")),
];

/// The demo's task, the agent's first message.
const TASK: &str = "This is Paddock's offline demo. The tests of this small Python project \
fail: find the bug and fix it, check that the tests pass, and clean up what is stale.";

/// The demo agent's system prompt.
const SYSTEM_PROMPT: &str = "You are a careful coding agent. The project is in /workspace. \
Read before you change, run the tests, and explain what you changed.";

/// Why the demo model could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The built-in script does not parse (a bug of this build).
    #[error("the built-in demo script is invalid: {0}")]
    Script(String),
    /// No loopback port could be had.
    #[error("cannot serve the demo model on 127.0.0.1: {0}")]
    Listen(std::io::Error),
    /// The provider's client could not be set up.
    #[error("the demo provider: {0}")]
    Client(#[from] paddock_llm::LlmError),
    /// The configuration names a provider `demo`.
    #[error(
        "provider `{PROVIDER}`: the name is reserved for the built-in offline demo; rename that provider in paddock.toml"
    )]
    Reserved,
}

/// The demo model, serving on loopback until dropped.
pub struct DemoModel {
    /// Held, never read: the server stops when this is dropped.
    _running: RunningModel,
    key: String,
    config: ProviderConfig,
    /// Where sample projects are written before they become workspaces
    /// (Paddock's own workspaces directory, an allowed root).
    staging: PathBuf,
}

impl DemoModel {
    /// Serves the demo script on 127.0.0.1 (a free port), answering only
    /// requests that carry a fresh random key. `data_dir` is Paddock's.
    pub async fn start(data_dir: &Path) -> Result<DemoModel, DemoError> {
        let script = Script::from_yaml_str(SCRIPT).map_err(|e| DemoError::Script(e.to_string()))?;
        let key = random_hex(32);
        let running = ScriptedModel::with_api_key(script, key.clone())
            .serve(([127, 0, 0, 1], 0).into())
            .await
            .map_err(DemoError::Listen)?;
        let mut config = ProviderConfig::new(PROVIDER, &running.base_url(), None);
        // The model is in this process: a failure is not worth long waits.
        config.max_retries = 2;
        config.initial_backoff_ms = 100;
        config.max_backoff_ms = 1000;
        config.idle_timeout_ms = 30_000;
        let mut model = ModelConfig::named(MODEL);
        model.context_window = 32_000;
        model.input_per_mtok = Some(0.0);
        model.output_per_mtok = Some(0.0);
        model.cached_input_per_mtok = Some(0.0);
        model.reasoning = Some(false);
        config.models.push(model);
        Ok(DemoModel {
            _running: running,
            key,
            config,
            staging: data_dir.join("workspaces"),
        })
    }

    /// The demo provider's configuration (its base URL is this process's
    /// loopback port; no key variable: the key is given directly).
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// The model agents of the demo use.
    pub fn model_ref() -> ModelRef {
        ModelRef {
            provider: PROVIDER.into(),
            model: MODEL.into(),
        }
    }
}

/// The demo provider, to register among the providers: a client of `model`
/// carrying its key. Fails when `configured` (the configuration's
/// providers) already names one `demo`.
pub fn provider(model: &DemoModel, configured: &[ProviderConfig]) -> Result<Provider, DemoError> {
    if configured.iter().any(|p| p.name == PROVIDER) {
        return Err(DemoError::Reserved);
    }
    Ok(Provider::with_key(&model.config, Some(&model.key))?)
}

fn random_hex(bytes: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let raw: Vec<u8> = (0..bytes).map(|_| rng.random()).collect();
    hex::encode(raw)
}

/// What `POST /api/demo` started.
#[derive(Debug, Serialize, ToSchema)]
pub struct DemoStarted {
    /// The demo agent's id (`/api/agents/{id}`).
    pub agent_id: String,
    /// The id of the workspace holding the sample project
    /// (`/api/workspaces/{id}`, its diff shows the agent's fix).
    pub workspace_id: String,
    /// That workspace's name (`demo`, `demo-2`, …).
    pub workspace_name: String,
}

/// Start the offline demo: a sample Python project with a failing test in
/// a new workspace (`demo`, `demo-2`, …), and an agent on the built-in
/// scripted model (provider `demo`, model `paddock-demo`, free) that fixes
/// it: streamed text, a file read, a shell command, an edit, a risky call
/// that asks for approval (approval mode `ask-risky`) and a Markdown
/// summary. Needs no model provider and no network.
#[utoipa::path(post, path = "/api/demo", tag = "agents", operation_id = "start_demo",
    responses(
        (status = 201, body = DemoStarted),
        (status = 503, description = "The store is unavailable", body = super::error::ErrorBody),
    ))]
pub async fn start(
    State(state): State<AppState>,
    caller: super::auth::Caller,
) -> Result<(StatusCode, Json<DemoStarted>), ApiError> {
    let ws = make_sample(&state.demo.staging, &state.workspaces, &caller.user_id).await?;
    let request = AgentRequest {
        name: Some(format!("Demo: fix the median ({})", ws.name)),
        template: None,
        fields: AgentTemplate {
            system_prompt: Some(SYSTEM_PROMPT.into()),
            model: Some(DemoModel::model_ref()),
            workspace_id: Some(ws.id.clone()),
            approval_mode: Some(paddock_core::policy::ApprovalMode::AskRisky),
            ..AgentTemplate::default()
        },
        task: Some(TASK.into()),
    };
    let created = async {
        let Resolved {
            mut config, task, ..
        } = Resolver::new(state.manager.deps(), None)
            .resolve(request)
            .await?;
        config.owner = Some(caller.user_id.clone());
        let record = state.manager.create(config, task).await?;
        Ok::<_, ApiError>(record)
    }
    .await;
    match created {
        Ok(record) => Ok((
            StatusCode::CREATED,
            Json(DemoStarted {
                agent_id: record.id,
                workspace_id: ws.id,
                workspace_name: ws.name,
            }),
        )),
        Err(e) => {
            if let Err(undo) = state.workspaces.delete(&ws, true, false).await {
                tracing::warn!(workspace = %ws.id, error = %undo, "could not remove the workspace of a demo that did not start");
            }
            Err(e)
        }
    }
}

/// Writes the sample project (a git repository with one commit) into a
/// staging directory under `staging`, and makes a workspace copying it
/// (so the workspace's diff is against the project as it was made),
/// belonging to `owner`.
async fn make_sample(
    staging: &Path,
    workspaces: &Workspaces,
    owner: &str,
) -> Result<Workspace, ApiError> {
    let dir = staging.join(format!(".demo-sample-{}", random_hex(8)));
    let made = async {
        write_sample(&dir).await?;
        init_repo(&dir).await?;
        // Two demos started at once may pick the same free name: the
        // second retries with the next one.
        let mut tries = 0;
        loop {
            let name = workspaces.free_name("demo").await?;
            match workspaces
                .create(NewWorkspace {
                    name,
                    path: Some(dir.clone()),
                    copy: true,
                    owner: Some(owner.to_string()),
                    ..NewWorkspace::default()
                })
                .await
            {
                Err(WorkspaceError::Conflict {
                    code: "name_taken", ..
                }) if tries < 5 => tries += 1,
                other => return other,
            }
        }
    }
    .await;
    if let Err(e) = tokio::fs::remove_dir_all(&dir).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %dir.display(), error = %e, "could not remove a demo's staging directory");
    }
    Ok(made?)
}

async fn write_sample(dir: &Path) -> Result<(), WorkspaceError> {
    for (rel, content) in SAMPLE {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| WorkspaceError::io("cannot write the demo project", e))?;
        }
        tokio::fs::write(&path, content)
            .await
            .map_err(|e| WorkspaceError::io("cannot write the demo project", e))?;
    }
    Ok(())
}

/// `git init` and one commit of the sample, with a fixed author and no
/// template (no hooks).
async fn init_repo(dir: &Path) -> Result<(), WorkspaceError> {
    let out = in_checkout(
        dir,
        &["init", "--quiet", "--template=", "--initial-branch=main"],
    )
    .await?;
    if out.code != 0 {
        return Err(WorkspaceError::Git(format!(
            "git init failed: {}",
            out.stderr
        )));
    }
    let git = Git::new(dir.join(".git"), Some(dir));
    git.ok(&["add", "--all"]).await?;
    let who: [(&str, &OsStr); 4] = [
        ("GIT_AUTHOR_NAME", OsStr::new("Paddock demo")),
        ("GIT_AUTHOR_EMAIL", OsStr::new("demo@paddock.localhost")),
        ("GIT_COMMITTER_NAME", OsStr::new("Paddock demo")),
        ("GIT_COMMITTER_EMAIL", OsStr::new("demo@paddock.localhost")),
    ];
    git.ok_env(
        &[
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            "stats: mean and median",
        ],
        &who,
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_llm::scripted::Conversation;
    use serde_json::json;

    fn script() -> Script {
        Script::from_yaml_str(SCRIPT).unwrap()
    }

    /// The text of the turn answering a conversation with `answers`
    /// assistant turns whose last tool result is `tool`.
    fn answer(answers: usize, tool: Option<&str>) -> (Option<String>, Vec<String>) {
        let mut messages = vec![json!({"role": "user", "content": TASK})];
        for i in 0..answers {
            messages.push(json!({"role": "assistant", "content": null,
                "tool_calls": [{"id": format!("c{i}"), "type": "function",
                    "function": {"name": "x", "arguments": "{}"}}]}));
            let content = if i + 1 == answers {
                tool.unwrap_or("ok")
            } else {
                "ok"
            };
            messages.push(json!({"role": "tool", "tool_call_id": format!("c{i}"),
                "content": content}));
        }
        let s = script();
        let convo = Conversation::from_messages(&messages);
        let sel = s.select(&convo).expect("a turn answers");
        (
            sel.turn.text.clone(),
            sel.turn.tool_calls.iter().map(|c| c.name.clone()).collect(),
        )
    }

    #[test]
    fn the_script_walks_through_every_kind_of_step() {
        assert_eq!(answer(0, None).1, ["read_file"]);
        assert_eq!(answer(1, Some("def median")).1, ["execute_bash"]);
        let failing = "exit_code: 1\n<stderr>\nFAILED (failures=1)\n</stderr>";
        assert_eq!(answer(2, Some(failing)).1, ["edit_file"]);
        assert_eq!(answer(3, Some("edited")).1, ["execute_bash"]);
        assert_eq!(answer(4, Some("exit_code: 0\nOK")).1, ["execute_bash"]);
        let (done, calls) = answer(5, Some("exit_code: 0"));
        assert!(calls.is_empty());
        let done = done.unwrap();
        assert!(done.starts_with("## "), "{done}");
        assert!(done.contains("removed the stale `build/`"), "{done}");
        assert!(done.contains("```diff"), "{done}");
        let (denied, _) = answer(5, Some("not run: denied by admin"));
        assert!(denied.unwrap().contains("you declined"));
        // Tests that did not run as expected end the demo, saying why.
        let (stopped, calls) = answer(2, Some("exit_code: 127"));
        assert!(calls.is_empty());
        assert!(stopped.unwrap().contains("sandbox"));
        // A message after the end gets an answer, not an error.
        let (late, calls) = answer(6, Some("x"));
        assert!(calls.is_empty());
        assert!(late.unwrap().contains("offline demo"));
    }

    #[test]
    fn the_edit_fixes_the_sample_exactly_once() {
        let s = script();
        let edit = (0..)
            .map_while(|i| s.turn(0, i))
            .flat_map(|t| t.tool_calls.iter())
            .find(|c| c.name == "edit_file")
            .unwrap();
        let args: serde_json::Value = serde_json::from_str(&edit.arguments).unwrap();
        let old = args["old_string"].as_str().unwrap();
        let new = args["new_string"].as_str().unwrap();
        let sample = SAMPLE.iter().find(|(p, _)| *p == "stats.py").unwrap().1;
        assert_eq!(sample.matches(old).count(), 1);
        assert!(
            sample
                .replace(old, new)
                .contains("ordered[mid - 1] + ordered[mid]")
        );
    }

    #[tokio::test]
    async fn the_sample_is_a_repository_with_one_commit_and_failing_tests() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("s");
        write_sample(&root).await.unwrap();
        init_repo(&root).await.unwrap();
        let log = in_checkout(&root, &["log", "--format=%s"]).await.unwrap();
        assert_eq!(log.text(), "stats: mean and median");
        let status = in_checkout(&root, &["status", "--porcelain", "--ignored"])
            .await
            .unwrap();
        assert_eq!(status.text(), "!! build/", "only build/ is left out");
        let tests = std::process::Command::new("python3")
            .args(["-B", "-m", "unittest"])
            .current_dir(&root)
            .output()
            .unwrap();
        assert!(!tests.status.success());
        assert!(
            String::from_utf8_lossy(&tests.stderr).contains("FAILED (failures=1)"),
            "{tests:?}"
        );
    }

    #[tokio::test]
    async fn the_provider_name_is_reserved() {
        let dir = tempfile::tempdir().unwrap();
        let m = DemoModel::start(dir.path()).await.unwrap();
        let taken = ProviderConfig::new("demo", "http://127.0.0.1:1/v1", None);
        assert!(matches!(provider(&m, &[taken]), Err(DemoError::Reserved)));
        let p = provider(&m, &[]).unwrap();
        assert_eq!(p.config.name, PROVIDER);
        assert_eq!(p.config.models[0].name, MODEL);
        assert!(p.config.base_url.starts_with("http://127.0.0.1:"));
    }
}
