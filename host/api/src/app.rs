//! Assembly of a running Paddock: the store, the plugin host, the model
//! providers and the agent manager, as `paddock serve`, `paddock run` and
//! the benchmarks use them.

use crate::AppState;
use crate::auth::Auth;
use paddock_core::agent::cost::GlobalBudgets;
use paddock_core::agent::redact::Redactor;
use paddock_core::agent::{AgentDeps, AgentError, Manager, ModelRef, Providers};
use paddock_core::bus::Bus;
use paddock_core::config::Config;
use paddock_core::policy::Policy;
use paddock_core::provider_admin::{AdminError, ProviderAdmin};
use paddock_core::secrets::{KeySource, MasterKey, SecretError, Vault};
use paddock_mcp::{FileSource, McpError, McpManager};
use paddock_plugins::{HostOptions, PluginError, PluginHost};
use paddock_sandbox::{BackendChoice, SandboxError, SandboxManager};
use paddock_store::{Store, StoreError};
use std::path::PathBuf;
use std::sync::Arc;

/// Why Paddock could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    /// The plugin host could not be opened.
    #[error("cannot open the plugin host: {0}")]
    Plugins(#[from] PluginError),
    /// The agents could not be loaded.
    #[error("cannot load the agents: {0}")]
    Agents(#[from] AgentError),
    /// `mcpServers.json` is unreadable or malformed.
    #[error("MCP servers: {0}")]
    Mcp(#[from] McpError),
    /// A policy rule of the configuration is not valid.
    #[error("policy: {0}")]
    Policy(#[from] paddock_core::policy::PolicyError),
    /// The chosen sandbox backend cannot run here.
    #[error("sandbox: {0}")]
    Sandbox(#[from] SandboxError),
    /// The metrics registry could not be set up.
    #[error("metrics: {0}")]
    Metrics(#[from] paddock_core::metrics::MetricsError),
    /// The workspaces directory is not usable.
    #[error("workspaces: {0}")]
    Workspaces(#[from] paddock_core::workspace::WorkspaceError),
    /// The master key is missing, malformed or not the one that sealed
    /// the stored secrets.
    #[error("secrets: {0}")]
    Secrets(#[from] SecretError),
    /// The stored providers could not be loaded.
    #[error("providers: {0}")]
    Providers(#[from] AdminError),
    /// The configured environments are wrong, or the stored ones could
    /// not be loaded.
    #[error("environments: {0}")]
    Environments(#[from] paddock_core::environments::EnvironmentAdminError),
    /// The configured workflows are wrong, or the runs could not be
    /// resumed.
    #[error("workflows: {0}")]
    Workflows(#[from] paddock_core::workflow::WorkflowError),
    /// The built-in demo model could not start.
    #[error("demo: {0}")]
    Demo(#[from] crate::demo::DemoError),
    /// The data directory is not usable.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// What to start.
#[derive(Clone, Debug)]
pub struct AppOptions {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The configuration.
    pub config: Config,
    /// Built-in plugins to install.
    pub builtin_plugins: Option<PathBuf>,
    /// Compiled-component cache.
    pub cache_dir: Option<PathBuf>,
    /// Load and resume the stored agents (a server); a headless run manages
    /// only its own agent.
    pub load_agents: bool,
    /// The sandbox backend from the command line (overrides the config).
    pub sandbox: Option<BackendChoice>,
    /// `--unsafe-no-sandbox`: run commands directly on this host.
    pub unsafe_no_sandbox: bool,
    /// `mcpServers.json`, if any.
    pub mcp_config: Option<FileSource>,
    /// The master key's file (`--master-key-file`); see
    /// [`MasterKey::load`] for the order of the sources.
    pub master_key_file: Option<PathBuf>,
}

/// A running Paddock without its HTTP server.
#[derive(Clone)]
pub struct App {
    /// The agents.
    pub manager: Arc<Manager>,
    /// The store.
    pub store: Store,
    /// The live bus.
    pub bus: Arc<Bus>,
    /// The plugin host.
    pub plugins: Arc<PluginHost>,
    /// The agents' sandboxes.
    pub sandbox: Arc<SandboxManager>,
    /// MCP servers.
    pub mcp: Arc<McpManager>,
    /// Workspaces.
    pub workspaces: Arc<paddock_core::workspace::Workspaces>,
    /// The model providers (the file's and the API's) and the default
    /// model.
    pub providers: Arc<ProviderAdmin>,
    /// Where the master key came from.
    pub key_source: KeySource,
    /// The configuration.
    pub config: Config,
    /// The built-in demo's model, serving while the app runs.
    pub demo: Arc<crate::demo::DemoModel>,
    /// Workflows: definitions and durable runs.
    pub workflows: Arc<paddock_core::workflow::Workflows>,
    /// When it started.
    pub started_at: chrono::DateTime<chrono::Utc>,
}

impl App {
    /// Opens the store (SQLite in the data dir unless `database_url` says
    /// otherwise), the plugin host and the providers, then loads every agent
    /// (resuming those that were busy).
    pub async fn open(options: AppOptions) -> Result<App, StartError> {
        let data_dir = &options.data_dir;
        std::fs::create_dir_all(data_dir).map_err(|source| StartError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let store =
            Store::open_configured(options.config.database_url.as_deref(), data_dir).await?;
        // Before anything else: a wrong master key stops the start here.
        let (key, key_source) = MasterKey::load(options.master_key_file.as_deref(), data_dir)?;
        let vault = Vault::open(store.clone(), key, key_source.clone()).await?;
        let workspaces = Arc::new(paddock_core::workspace::Workspaces::open(
            store.clone(),
            data_dir,
            options.config.workspaces.clone(),
        )?);
        let sandbox = Arc::new(
            SandboxManager::open(
                &options.config.sandbox,
                options.sandbox,
                options.unsafe_no_sandbox,
                data_dir,
            )
            .await?,
        );
        let mut plugins = PluginHost::open(HostOptions {
            data_dir: data_dir.clone(),
            builtin_dir: options.builtin_plugins.clone(),
            cache_dir: options.cache_dir.clone(),
        })
        .await?;
        plugins.set_exec_backend(sandbox.clone());
        let plugins = Arc::new(plugins);
        let mcp = McpManager::open(
            options.mcp_config.as_ref(),
            Some(store.clone()),
            Some(plugins.clone()),
        )
        .await?;
        let policy = Arc::new(
            Policy::open(
                options.config.policy.clone(),
                store.clone(),
                plugins.clone(),
            )
            .await?,
        );
        let bus = Arc::new(Bus::new());
        // Several hosts share a PostgreSQL store; SQLite keeps one host.
        let cluster = match store.backend() {
            paddock_store::Backend::Postgres => {
                let config = &options.config.cluster;
                let host = if options.load_agents {
                    config
                        .server_host_id(data_dir)
                        .map_err(|source| StartError::DataDir {
                            path: data_dir.join("host-id").display().to_string(),
                            source,
                        })?
                } else {
                    paddock_core::cluster::ClusterConfig::run_host_id()
                };
                Some(
                    paddock_core::cluster::Cluster::join(
                        store.clone(),
                        bus.clone(),
                        config.clone(),
                        host,
                        !options.load_agents,
                    )
                    .await?,
                )
            }
            paddock_store::Backend::Sqlite => None,
        };
        let metrics = Arc::new(paddock_core::metrics::Metrics::new()?);
        // The configured secret variables, and what the MCP entries'
        // `${VAR}` references expanded to; stored provider keys join as
        // they are loaded or entered.
        let redactor = Redactor::with_values(
            options
                .config
                .agents
                .secret_env
                .iter()
                .filter_map(|n| std::env::var(n).ok())
                .chain(mcp.secret_values()),
        );
        let registry = Arc::new(Providers::default());
        let providers = Arc::new(
            ProviderAdmin::open(
                &options.config.providers,
                store.clone(),
                vault,
                registry.clone(),
                redactor.clone(),
                Some(metrics.clone()),
            )
            .await?,
        );
        // The offline demo's provider, always there (so a demo agent
        // resumes after a restart), never a default nor a usable provider.
        let demo = Arc::new(crate::demo::DemoModel::start(data_dir).await?);
        providers.add_demo(
            demo.config().clone(),
            crate::demo::provider(&demo, &options.config.providers)?,
        );
        let budgets = Arc::new(GlobalBudgets::load(&store, options.config.budgets.clone()).await?);
        let environments = Arc::new(
            paddock_core::environments::Environments::open(
                &options.config.environments,
                store.clone(),
                data_dir,
            )
            .await?,
        );
        let deps = Arc::new(AgentDeps {
            store: store.clone(),
            bus: bus.clone(),
            plugins: plugins.clone(),
            providers: registry,
            redactor,
            defaults: options.config.agents.clone(),
            sandbox: sandbox.clone(),
            mcp: mcp.clone(),
            policy: policy.clone(),
            metrics: metrics.clone(),
            routers: options
                .config
                .routers
                .iter()
                .map(|r| (r.name.clone(), r.clone()))
                .collect(),
            budgets,
            workspaces: workspaces.clone(),
            environments,
            max_running_agents_per_user: options.config.auth.max_running_agents_per_user,
            cluster,
            delegator: Default::default(),
        });
        // Set before the agents start (a resumed agent may run a command at
        // once); it hands questions to them once the manager exists.
        let gate = paddock_core::agent::network::NetworkGate::new();
        sandbox.set_egress_gate(gate.clone());
        let manager = Manager::start(deps, options.load_agents).await?;
        // With several hosts: leases, takeover, requests, the relay.
        paddock_core::agent::hosting::start(&manager, options.load_agents);
        gate.attach(&manager);
        mcp.start_eager();
        let default_model: paddock_core::workflow::DefaultModel = {
            let providers = providers.clone();
            Arc::new(move || providers.default_model().0)
        };
        let workflows = paddock_core::workflow::Workflows::open(
            manager.clone(),
            default_model,
            options.config.workflows.clone(),
            Some(data_dir.clone()),
            // A server resumes its runs (with several hosts: those it
            // drives, then those no live host drives).
            options.load_agents,
        )
        .await?;
        Ok(App {
            manager,
            store,
            bus,
            plugins,
            sandbox,
            mcp,
            workspaces,
            providers,
            key_source,
            config: options.config,
            demo,
            workflows,
            started_at: chrono::Utc::now(),
        })
    }

    /// The model an agent gets when it names none (see
    /// [`ProviderAdmin::default_model`]).
    pub fn default_model(&self) -> Option<ModelRef> {
        self.providers.default_model().0
    }

    /// The API's state with these auth rules.
    pub fn state(&self, auth: Auth) -> AppState {
        AppState {
            manager: self.manager.clone(),
            store: self.store.clone(),
            bus: self.bus.clone(),
            plugins: self.plugins.clone(),
            mcp: self.mcp.clone(),
            workspaces: self.workspaces.clone(),
            auth: Arc::new(auth),
            providers: self.providers.clone(),
            demo: self.demo.clone(),
            metrics: self.manager.deps().metrics.clone(),
            sso: Arc::new(crate::oidc::Sso::new(
                &self.config.auth.oidc,
                self.config.server.public_url.clone(),
            )),
            started_at: self.started_at,
            workflows: self.workflows.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    //! A workflow run end to end on a real App: the scripted model, a git
    //! repository, commands run without a sandbox.

    use super::*;
    use paddock_core::workflow::{DefFormat, Workflows};
    use paddock_llm::scripted::{Script, ScriptedModel};
    use paddock_protocol::workflow::{StepStatus, WorkflowEventBody, WorkflowRunStatus};
    use std::collections::BTreeMap;
    use std::process::Command;

    fn git(dir: &std::path::Path, args: &[&str]) {
        let ok = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_retries_its_verify_waits_at_its_gate_and_merges() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let repo = root.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("README"), "hi\n").unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "first"]);
        let script = Script::from_yaml_str(
            "model: scripted\nscenarios:\n  - name: plan\n    match: '^Plan'\n    turns:\n      - text: \"1. add the marker\"\nturns:\n  - text: done\n  - text: fixed\n  - text: again\n",
        )
        .unwrap();
        let model = ScriptedModel::start(script, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let config_text = format!(
            "[[providers]]\nname = \"scripted\"\nbase_url = \"{}\"\n[[providers.models]]\nname = \"scripted\"\ncontext_window = 32000\n\n[workspaces]\nroots = [\"{}\"]\n",
            model.base_url(),
            root.display()
        );
        let config = Config::parse(&config_text, std::path::Path::new("paddock.toml")).unwrap();
        let app = App::open(AppOptions {
            data_dir: tmp.path().join("data"),
            config,
            builtin_plugins: None,
            cache_dir: None,
            load_agents: true,
            sandbox: None,
            unsafe_no_sandbox: true,
            mcp_config: None,
            master_key_file: None,
        })
        .await
        .unwrap();
        let wf: Arc<Workflows> = app.workflows.clone();
        let def = Workflows::parse(
            r#"
name: marker
inputs:
  - name: repo
workspace:
  repo: "{{inputs.repo}}"
steps:
  - id: plan
    agent: {model: {provider: scripted, model: scripted}}
    workspace: run_read_only
    prompt: "Plan: add a marker"
  - id: implement
    agent: {model: {provider: scripted, model: scripted}}
    prompt: "Implement:\n{{steps.plan.output}}"
    verify:
      command: "test -e marker || { touch marker; echo missing; exit 3; }"
    retries: 1
  - id: approve
    gate: {message: "Merge {{run.id}}?"}
  - id: merge
    merge: true
"#,
            DefFormat::Yaml,
        )
        .unwrap();
        wf.save(def, "local").await.unwrap();
        let run = wf
            .start(
                "marker",
                BTreeMap::from([("repo".to_string(), repo.display().to_string())]),
                "local",
            )
            .await
            .unwrap();
        assert_eq!(run.status, WorkflowRunStatus::Running);
        let mut follow = wf.follow(&run.id, 0);
        let guard = std::time::Duration::from_secs(120);
        loop {
            let e = tokio::time::timeout(guard, follow.next())
                .await
                .expect("the run stalled")
                .unwrap()
                .expect("the run ended before its gate");
            if let WorkflowEventBody::GateRequested { diff, message, .. } = &e.body {
                assert!(diff.contains("marker"), "{diff}");
                assert_eq!(message, &format!("Merge {}?", run.id));
                break;
            }
        }
        // Not the gate's step: refused; then approved.
        assert!(
            wf.decide_gate(
                &run.id,
                "plan",
                true,
                None,
                &paddock_core::agent::Actor::named("t")
            )
            .await
            .is_err()
        );
        wf.decide_gate(
            &run.id,
            "approve",
            true,
            Some("fine".into()),
            &paddock_core::agent::Actor::named("t"),
        )
        .await
        .unwrap();
        let done = tokio::time::timeout(guard, wf.await_run(&run.id))
            .await
            .expect("the run stalled")
            .unwrap();
        assert_eq!(done.status, WorkflowRunStatus::Succeeded, "{done:?}");
        let plan = &done.steps[0];
        assert_eq!(plan.output.as_deref(), Some("1. add the marker"));
        let implement = &done.steps[1];
        assert_eq!(implement.status, StepStatus::Succeeded);
        assert_eq!(implement.attempts, 2);
        assert_eq!(implement.verify.as_ref().unwrap().exit_code, Some(0));
        assert_eq!(implement.output.as_deref(), Some("fixed"));
        assert_eq!(done.steps[2].output.as_deref(), Some("fine"));
        // The retry's message carried the failing output.
        let agent = &implement.agents[0];
        let events = app.store.events_after(agent, 0, 100).await.unwrap();
        let users: Vec<String> = events
            .iter()
            .filter_map(|e| match &e.body {
                paddock_protocol::events::EventBody::MessageUser { text } => Some(text.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(users.len(), 2, "{users:?}");
        assert!(users[0].contains("1. add the marker"), "{users:?}");
        assert!(
            users[1].contains("failed (exit 3)") && users[1].contains("missing"),
            "{users:?}"
        );
        // The plan's agent was read-only; the merge landed on main.
        let plan_agent = app.store.get_agent(&plan.agents[0]).await.unwrap().unwrap();
        assert!(plan_agent.config.read_only);
        git(&repo, &["cat-file", "-e", "main:marker"]);
        // Its log is gapless and a finished run takes no more decisions.
        let log = wf.events_after(&run.id, 0, 1000).await.unwrap();
        assert!(log.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1));
        assert!(wf.cancel(&run.id).await.is_err());
        model.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_step_jumps_back_within_its_bound_and_a_waiting_run_cancels() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("ws")).unwrap();
        let script =
            Script::from_yaml_str("model: scripted\nturns:\n  - text: one\n  - text: two\n")
                .unwrap();
        let model = ScriptedModel::start(script, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let config_text = format!(
            "[[providers]]\nname = \"scripted\"\nbase_url = \"{}\"\n[[providers.models]]\nname = \"scripted\"\ncontext_window = 32000\n\n[workspaces]\nroots = [\"{}\"]\n",
            model.base_url(),
            root.display()
        );
        let config = Config::parse(&config_text, std::path::Path::new("paddock.toml")).unwrap();
        let app = App::open(AppOptions {
            data_dir: tmp.path().join("data"),
            config,
            builtin_plugins: None,
            cache_dir: None,
            load_agents: true,
            sandbox: None,
            unsafe_no_sandbox: true,
            mcp_config: None,
            master_key_file: None,
        })
        .await
        .unwrap();
        let wf = app.workflows.clone();
        let ws = root.join("ws").display().to_string();
        let def = Workflows::parse(
            &format!(
                r#"
name = "loop"
[[steps]]
id = "first"
agent = {{ model = {{ provider = "scripted", model = "scripted" }}, workspace = "{ws}" }}
prompt = "go"
[[steps]]
id = "check"
agent = {{ model = {{ provider = "scripted", model = "scripted" }}, workspace = "{ws}" }}
prompt = "check"
verify = {{ command = "echo nope; exit 1" }}
on_failure = {{ goto = "first", max = 1 }}
"#
            ),
            DefFormat::Toml,
        )
        .unwrap();
        wf.save(def, "local").await.unwrap();
        let run = wf.start("loop", BTreeMap::new(), "local").await.unwrap();
        let guard = std::time::Duration::from_secs(120);
        let done = tokio::time::timeout(guard, wf.await_run(&run.id))
            .await
            .expect("the run stalled")
            .unwrap();
        assert_eq!(done.status, WorkflowRunStatus::Failed, "{done:?}");
        assert!(
            done.reason
                .as_deref()
                .unwrap_or("")
                .contains("step `check` failed"),
            "{done:?}"
        );
        assert_eq!(done.steps[0].iteration, 2);
        assert_eq!(done.steps[1].iteration, 2);
        assert_eq!(done.steps[1].agents.len(), 2);
        assert_eq!(
            done.steps[1].verify.as_ref().unwrap().output.as_deref(),
            Some("nope\n")
        );
        let log = wf.events_after(&run.id, 0, 1000).await.unwrap();
        let gotos = log
            .iter()
            .filter(|e| matches!(e.body, WorkflowEventBody::StepGoto { .. }))
            .count();
        assert_eq!(gotos, 1);

        // A run waiting at its gate is cancelled; its gate then takes no
        // decision.
        let gate = Workflows::parse(
            "name: wait\nsteps:\n  - id: ask\n    gate: {message: ok?}\n",
            DefFormat::Yaml,
        )
        .unwrap();
        wf.save(gate, "local").await.unwrap();
        let run = wf.start("wait", BTreeMap::new(), "local").await.unwrap();
        let mut follow = wf.follow(&run.id, 0);
        loop {
            let e = tokio::time::timeout(guard, follow.next())
                .await
                .expect("the run stalled")
                .unwrap()
                .expect("the run ended before its gate");
            if let WorkflowEventBody::GateRequested { diff, .. } = &e.body {
                assert!(diff.contains("no workspace"), "{diff}");
                break;
            }
        }
        let cancelled = wf.cancel(&run.id).await.unwrap();
        assert_eq!(cancelled.status, WorkflowRunStatus::Cancelled);
        assert_eq!(cancelled.steps[0].status, StepStatus::Skipped);
        let actor = paddock_core::agent::Actor::named("t");
        assert!(matches!(
            wf.decide_gate(&run.id, "ask", true, None, &actor).await,
            Err(paddock_core::workflow::WorkflowError::Conflict(_))
        ));
        let done = wf.await_run(&run.id).await.unwrap();
        assert_eq!(done.status, WorkflowRunStatus::Cancelled);
        // Bad inputs and unknown workflows name what is wrong.
        let e = wf
            .start(
                "wait",
                BTreeMap::from([("x".to_string(), "1".to_string())]),
                "local",
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("inputs.x: "), "{e}");
        assert!(matches!(
            wf.start("nope", BTreeMap::new(), "local").await,
            Err(paddock_core::workflow::WorkflowError::NotFound(_))
        ));
        // The built-in one cannot be replaced through the API.
        let builtin = wf.definition("plan-implement-test").await.unwrap();
        assert!(matches!(
            wf.save(builtin.definition, "local").await,
            Err(paddock_core::workflow::WorkflowError::Conflict(_))
        ));
        model.shutdown().await;
    }
}
