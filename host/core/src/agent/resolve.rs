//! Resolving an agent's configuration: the one place that turns what a
//! caller asks for (the API's creation request, `paddock run`'s flags), a
//! stored template and the host's defaults into an [`AgentConfig`]. It owns
//! what a template may say ([`AgentTemplate`]) and the checks a template
//! passes before it is stored. Its errors name the field as the caller's
//! input names it (`task`, `template`, `workspace_id`, …), so that the API
//! returns them as they are and the CLI as usage errors.

use super::config::RouterConfig;
use super::runner::AgentDeps;
use crate::policy::ApprovalMode;
use crate::workspace::{WorkspaceError, Workspaces};
use paddock_protocol::agent::{AgentConfig, AgentLimits, ModelRef};
use paddock_store::{DocKind, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use utoipa::ToSchema;

/// Longest user message (or task), in bytes.
pub const MAX_MESSAGE: usize = 256 * 1024;

/// Refuses an empty or oversized message that the caller gave as `field`
/// (a message's `text`, a new agent's `task`); the refusal names it.
pub fn check_text(field: &str, text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err(format!("{field}: must not be empty"));
    }
    if text.len() > MAX_MESSAGE {
        return Err(format!(
            "{field}: {} bytes is over the limit of {MAX_MESSAGE}",
            text.len()
        ));
    }
    Ok(())
}

/// Why a configuration cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The request or its template is wrong: the text starts with the
    /// field at fault, named as the caller's input names it.
    #[error("{0}")]
    Invalid(String),
    /// A workspace directory is not allowed, or a workspace cannot be
    /// looked up.
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ResolveError {
    fn invalid(message: impl Into<String>) -> ResolveError {
        ResolveError::Invalid(message.into())
    }
}

/// The fields an agent template may set (all optional; a creation request
/// overrides them).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentTemplate {
    /// What the template is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The system prompt text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// Or the name of a stored system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt_name: Option<String>,
    /// The model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelRef>,
    /// Or a model router of `paddock.toml` (`[[routers]]`), which picks a
    /// cheap or a strong model for each call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<String>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 2)]
    pub temperature: Option<f64>,
    /// Cap on each answer's tokens (`max_output_tokens` over the
    /// Responses API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// How hard a reasoning model thinks (Responses API providers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<paddock_protocol::llm::ReasoningEffort>,
    /// How long its answers are (Responses API, models that take it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbosity: Option<paddock_protocol::llm::Verbosity>,
    /// The workspace directory (under an allowed root). Give one of
    /// `workspace`, `workspace_id` and `worktree`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub workspace: Option<PathBuf>,
    /// Or a workspace of `/api/workspaces`, by id or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// Or a new git worktree of this repository, made for the agent and
    /// named after it (branch `paddock/<agent name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<WorktreeRequest>,
    /// Tools it may use (default: all enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// MCP servers whose tools it gets (default: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_servers: Option<Vec<String>>,
    /// What its sandbox may reach: `false` (default), `true` (the outside
    /// world), or a list of `host[:port]` patterns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<paddock_protocol::network::Network>,
    /// The environment its sandbox runs: a configured or API-added
    /// environment by name, or `devcontainer` (the workspace's
    /// `.devcontainer/devcontainer.json`, required). Default: the
    /// workspace's devcontainer.json when present, else the plain sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<AgentLimits>,
    /// Approval mode (default: `[policy] default_mode`, `ask-risky`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_mode: Option<crate::policy::ApprovalMode>,
    /// Seconds a pending approval waits before the call is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub approval_timeout_secs: Option<u64>,
    /// The agent's own policy rules, tried before all others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<String>>,
    /// Only read-only tools (default false): a tool that writes or runs
    /// commands is neither offered nor run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Whether it may start sub-agents with the `delegate` tool, and
    /// within what limits (default: it may not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation: Option<paddock_protocol::agent::Delegation>,
}

/// Fields of which a template or a creation request gives at most one: the
/// place to work, the model or router, the prompt as text or by name.
pub const EXCLUSIVE: [&[&str]; 3] = [
    &["workspace", "workspace_id", "worktree"],
    &["model", "router"],
    &["system_prompt", "system_prompt_name"],
];

impl AgentTemplate {
    /// Checks the fields' own ranges and [`EXCLUSIVE`], as the document
    /// states them, so that a stored template is one an agent can start
    /// from; whether the things it names exist is checked when an agent is
    /// made from it.
    pub fn check(&self) -> Result<(), ResolveError> {
        let given = [
            self.workspace.is_some(),
            self.workspace_id.is_some(),
            self.worktree.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(ResolveError::invalid(
                "workspace, workspace_id, worktree: give one of them",
            ));
        }
        if self.model.is_some() && self.router.is_some() {
            return Err(ResolveError::invalid(
                "model, router: give one or the other",
            ));
        }
        if self.system_prompt.is_some() && self.system_prompt_name.is_some() {
            return Err(ResolveError::invalid(
                "system_prompt, system_prompt_name: give one or the other",
            ));
        }
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(ResolveError::invalid(
                "temperature: must be between 0 and 2",
            ));
        }
        if self.approval_timeout_secs == Some(0) {
            return Err(ResolveError::invalid(
                "approval_timeout_secs: must be at least 1",
            ));
        }
        if let Some(limits) = &self.limits {
            limits.validate("limits.").map_err(ResolveError::Invalid)?;
            if limits.max_turns == 0 {
                return Err(ResolveError::invalid(
                    "limits.max_turns: must be at least 1",
                ));
            }
        }
        if let Some(d) = &self.delegation {
            if !(1..=5).contains(&d.max_depth) {
                return Err(ResolveError::invalid(
                    "delegation.max_depth: must be between 1 and 5",
                ));
            }
            if !(1..=32).contains(&d.max_children) {
                return Err(ResolveError::invalid(
                    "delegation.max_children: must be between 1 and 32",
                ));
            }
        }
        Ok(())
    }
}

/// A worktree made for an agent.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorktreeRequest {
    /// A local git repository under an allowed root.
    #[schema(value_type = String)]
    pub repo: PathBuf,
    /// The branch to start from and merge into (default: the one checked
    /// out in `repo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
}

/// What a caller asks for: the API's creation request, or `paddock run`'s
/// flags put the same way.
#[derive(Clone, Debug, Default)]
pub struct AgentRequest {
    /// A human name (default: the template's name, else "agent").
    pub name: Option<String>,
    /// Start from this stored template.
    pub template: Option<String>,
    /// Everything a template may set, overriding it.
    pub fields: AgentTemplate,
    /// A first user message.
    pub task: Option<String>,
}

/// A resolved request.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The agent's configuration. When a worktree is asked for, its
    /// workspace is left empty until the worktree is made.
    pub config: AgentConfig,
    /// The worktree to make for the agent, if asked for.
    pub worktree: Option<WorktreeRequest>,
    /// The first user message, checked.
    pub task: Option<String>,
}

/// Where a workspace directory given by path may lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkspacePaths {
    /// Under the allowed workspace roots (the API's callers do not get the
    /// host's files).
    UnderRoots,
    /// Anywhere (a headless run: its user names a directory of their own).
    Anywhere,
}

/// What a request is resolved against: the stored templates and system
/// prompts, the workspaces, the routers and the host's defaults.
pub struct Resolver<'a> {
    /// Stored templates and system prompts.
    pub store: &'a Store,
    /// Workspaces by id or name, and the allowed roots.
    pub workspaces: &'a Workspaces,
    /// Where a workspace directory given by path may lie.
    pub paths: WorkspacePaths,
    /// Model routers by name.
    pub routers: &'a HashMap<String, RouterConfig>,
    /// The model when neither the request nor its template names one or a
    /// router.
    pub default_model: Option<&'a ModelRef>,
    /// The limits when neither gives any.
    pub default_limits: &'a AgentLimits,
    /// The approval mode when neither gives one.
    pub default_mode: ApprovalMode,
}

impl<'a> Resolver<'a> {
    /// Resolves against an agent host's parts, with workspace directories
    /// under the allowed roots and `default_model` as the default model.
    pub fn new(deps: &'a AgentDeps, default_model: Option<&'a ModelRef>) -> Resolver<'a> {
        Resolver {
            store: &deps.store,
            workspaces: &deps.workspaces,
            paths: WorkspacePaths::UnderRoots,
            routers: &deps.routers,
            default_model,
            default_limits: &deps.defaults.limits,
            default_mode: deps.policy.config().default_mode,
        }
    }

    /// The same, with workspace directories allowed anywhere.
    pub fn anywhere(self) -> Resolver<'a> {
        Resolver {
            paths: WorkspacePaths::Anywhere,
            ..self
        }
    }

    /// Builds an agent's configuration from a request, its template and the
    /// defaults: the request's fields win over the template's (a request
    /// giving one of an [`EXCLUSIVE`] group replaces the template's whole
    /// group), and the defaults fill what neither gives. Whether the
    /// provider, tools, MCP servers and rules exist is the manager's check
    /// ([`super::Manager::validate`]).
    pub async fn resolve(&self, req: AgentRequest) -> Result<Resolved, ResolveError> {
        if let Some(t) = &req.task {
            check_text("task", t).map_err(ResolveError::Invalid)?;
        }
        let mut merged = AgentTemplate::default();
        let mut name = req.name;
        if let Some(t) = &req.template {
            let doc = self
                .store
                .get_doc(DocKind::AgentTemplate, t)
                .await?
                .ok_or_else(|| {
                    ResolveError::invalid(format!("template: no agent template named `{t}`"))
                })?;
            merged = serde_json::from_value(doc.body).map_err(|e| {
                ResolveError::invalid(format!("template: stored template `{t}` is not valid: {e}"))
            })?;
            name = name.or_else(|| Some(t.clone()));
        }
        let f = req.fields;
        if f.system_prompt.is_some() && f.system_prompt_name.is_some() {
            return Err(ResolveError::invalid(
                "system_prompt, system_prompt_name: give one or the other",
            ));
        }
        // The request's prompt (text or name) wins over the template's.
        let system_prompt = if let Some(text) = f.system_prompt {
            text
        } else if let Some(n) = &f.system_prompt_name {
            self.prompt_text(n).await?
        } else if let Some(text) = merged.system_prompt.take() {
            text
        } else if let Some(n) = &merged.system_prompt_name {
            self.prompt_text(n).await?
        } else {
            String::new()
        };
        macro_rules! take {
            ($field:ident) => {
                if f.$field.is_some() {
                    merged.$field = f.$field;
                }
            };
        }
        if f.model.is_some() && f.router.is_some() {
            return Err(ResolveError::invalid(
                "model, router: give one or the other",
            ));
        }
        // The request's model or router wins over the template's either.
        if f.model.is_some() {
            merged.router = None;
        }
        if f.router.is_some() {
            merged.model = None;
        }
        take!(model);
        take!(router);
        take!(temperature);
        take!(max_tokens);
        take!(reasoning_effort);
        take!(verbosity);
        // The request's place to work wins over the template's.
        if f.workspace.is_some() || f.workspace_id.is_some() || f.worktree.is_some() {
            merged.workspace = None;
            merged.workspace_id = None;
            merged.worktree = None;
        }
        take!(workspace);
        take!(workspace_id);
        take!(worktree);
        take!(tools);
        take!(mcp_servers);
        take!(network);
        take!(environment);
        take!(limits);
        take!(approval_mode);
        take!(approval_timeout_secs);
        take!(rules);
        take!(read_only);
        take!(delegation);
        merged.check()?;
        let router = match merged.router {
            Some(r) => Some(
                self.routers
                    .get(&r)
                    .ok_or_else(|| {
                        let mut known: Vec<&str> =
                            self.routers.keys().map(String::as_str).collect();
                        known.sort();
                        ResolveError::invalid(format!(
                            "router: no router named `{r}` (configured: {})",
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        ))
                    })?
                    .clone(),
            ),
            None => None,
        };
        let model = match (merged.model, &router) {
            (Some(m), None) => m,
            (_, Some(r)) => r.strong.clone(),
            (None, None) => self.default_model.cloned().ok_or_else(|| {
                ResolveError::invalid("model: required (no default model is configured)")
            })?,
        };
        let (workspace, workspace_id) =
            match (merged.workspace, merged.workspace_id, &merged.worktree) {
                (Some(path), None, None) => {
                    if self.paths == WorkspacePaths::UnderRoots {
                        self.workspaces.roots().check("workspace", &path)?;
                    }
                    (path, None)
                }
                (None, Some(id), None) => {
                    let ws = self.workspaces.get(&id).await.map_err(|e| match e {
                        WorkspaceError::NotFound(m) => {
                            ResolveError::invalid(format!("workspace_id: {m}"))
                        }
                        other => other.into(),
                    })?;
                    (ws.path, Some(ws.id))
                }
                // Made by the caller once everything else checked out.
                (None, None, Some(_)) => (PathBuf::new(), None),
                (None, None, None) => {
                    return Err(ResolveError::invalid(
                        "workspace: required (or workspace_id, or worktree)",
                    ));
                }
                _ => {
                    return Err(ResolveError::invalid(
                        "workspace, workspace_id, worktree: give one of them",
                    ));
                }
            };
        let config = AgentConfig {
            name: name.unwrap_or_else(|| "agent".into()),
            system_prompt,
            model,
            router: router.map(|r| r.name),
            // Checked above, so the narrowing cannot leave the range.
            temperature: merged.temperature.map(|t| t as f32),
            max_tokens: merged.max_tokens,
            reasoning_effort: merged.reasoning_effort,
            verbosity: merged.verbosity,
            workspace,
            workspace_id,
            tools: merged.tools,
            mcp_servers: merged.mcp_servers.unwrap_or_default(),
            network: merged.network.unwrap_or_default(),
            environment: merged.environment,
            limits: merged.limits.unwrap_or_else(|| self.default_limits.clone()),
            template: req.template,
            approval_mode: merged.approval_mode.unwrap_or(self.default_mode),
            approval_timeout_secs: merged.approval_timeout_secs,
            rules: merged.rules.unwrap_or_default(),
            read_only: merged.read_only.unwrap_or(false),
            delegation: merged.delegation,
            parent: None,
            owner: None,
        };
        Ok(Resolved {
            config,
            worktree: merged.worktree,
            task: req.task,
        })
    }

    /// The text of the stored system prompt `name`.
    async fn prompt_text(&self, name: &str) -> Result<String, ResolveError> {
        let doc = self
            .store
            .get_doc(DocKind::SystemPrompt, name)
            .await?
            .ok_or_else(|| {
                ResolveError::invalid(format!(
                    "system_prompt_name: no system prompt named `{name}`"
                ))
            })?;
        doc.body
            .get("text")
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .ok_or_else(|| ResolveError::invalid(format!("system prompt `{name}` has no text")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    /// A store, workspaces whose one allowed root is `root`, a router
    /// `fast` and a default model.
    struct Host {
        store: Store,
        workspaces: Workspaces,
        routers: HashMap<String, RouterConfig>,
        default_model: Option<ModelRef>,
        limits: AgentLimits,
        root: tempfile::TempDir,
        _data: tempfile::TempDir,
    }

    fn model(name: &str) -> ModelRef {
        ModelRef {
            provider: "p".into(),
            model: name.into(),
        }
    }

    impl Host {
        async fn new() -> Host {
            let data = tempfile::tempdir().unwrap();
            let root = tempfile::tempdir().unwrap();
            let store = Store::open_sqlite(&data.path().join("paddock.db"))
                .await
                .unwrap();
            let workspaces = Workspaces::open(
                store.clone(),
                data.path(),
                crate::workspace::WorkspacesConfig {
                    roots: vec![root.path().to_path_buf()],
                    ..Default::default()
                },
            )
            .unwrap();
            let router = RouterConfig {
                name: "fast".into(),
                cheap: model("cheap"),
                strong: model("strong"),
                escalate_after_failures: 2,
                first_call: Default::default(),
            };
            Host {
                store,
                workspaces,
                routers: HashMap::from([("fast".to_string(), router)]),
                default_model: Some(model("default")),
                limits: AgentLimits {
                    max_turns: 7,
                    ..Default::default()
                },
                root,
                _data: data,
            }
        }

        fn resolver(&self) -> Resolver<'_> {
            Resolver {
                store: &self.store,
                workspaces: &self.workspaces,
                paths: WorkspacePaths::UnderRoots,
                routers: &self.routers,
                default_model: self.default_model.as_ref(),
                default_limits: &self.limits,
                default_mode: ApprovalMode::Auto,
            }
        }

        fn dir(&self) -> PathBuf {
            self.root.path().to_path_buf()
        }

        async fn put(&self, kind: DocKind, name: &str, body: serde_json::Value) {
            self.store.put_doc(kind, name, &body).await.unwrap();
        }

        async fn resolve(&self, req: AgentRequest) -> Result<Resolved, ResolveError> {
            self.resolver().resolve(req).await
        }

        /// The refusal of `req`, as the caller sees it.
        async fn refusal(&self, req: AgentRequest) -> String {
            match self.resolve(req).await {
                Ok(r) => panic!("resolved: {:?}", r.config),
                Err(ResolveError::Invalid(m)) => m,
                Err(e) => panic!("not an invalid request: {e:?}"),
            }
        }
    }

    /// A request of these fields (JSON, as a client sends them).
    fn request(fields: serde_json::Value) -> AgentRequest {
        AgentRequest {
            fields: serde_json::from_value(fields).unwrap(),
            ..Default::default()
        }
    }

    fn from_template(template: &str, fields: serde_json::Value) -> AgentRequest {
        AgentRequest {
            template: Some(template.into()),
            ..request(fields)
        }
    }

    fn path(p: &Path) -> String {
        p.display().to_string()
    }

    #[tokio::test]
    async fn the_request_wins_over_its_template_field_by_field() {
        let h = Host::new().await;
        let other = h.dir().join("other");
        std::fs::create_dir(&other).unwrap();
        h.put(
            DocKind::AgentTemplate,
            "coder",
            json!({
                "system_prompt": "from the template",
                "router": "fast",
                "tools": ["read_file"],
                "network": true,
                "workspace": path(&h.dir()),
                "rules": ["allow read_file"],
                "approval_mode": "ask-all",
                "temperature": 0.5,
            }),
        )
        .await;
        let r = h
            .resolve(from_template(
                "coder",
                json!({
                    "model": {"provider": "p", "model": "mine"},
                    "workspace": path(&other),
                    "network": false,
                }),
            ))
            .await
            .unwrap();
        let c = r.config;
        // The request's model replaces the template's router.
        assert_eq!(c.model, model("mine"));
        assert_eq!(c.router, None);
        assert_eq!(c.workspace, other);
        assert_eq!(c.network, paddock_protocol::network::Network::Off);
        // What the request leaves out comes from the template.
        assert_eq!(c.name, "coder");
        assert_eq!(c.template.as_deref(), Some("coder"));
        assert_eq!(c.system_prompt, "from the template");
        assert_eq!(c.tools, Some(vec!["read_file".to_string()]));
        assert_eq!(c.rules, ["allow read_file"]);
        assert_eq!(c.approval_mode, ApprovalMode::AskAll);
        assert_eq!(c.temperature, Some(0.5));
        // And what neither gives from the defaults.
        assert_eq!(c.limits.max_turns, 7);
        assert!(r.worktree.is_none());

        // A request's router replaces the template's model, and a name is
        // the request's when it gives one.
        h.put(
            DocKind::AgentTemplate,
            "modelled",
            json!({"model": {"provider": "p", "model": "t"}, "workspace": path(&h.dir())}),
        )
        .await;
        let mut req = from_template("modelled", json!({"router": "fast"}));
        req.name = Some("named".into());
        let c = h.resolve(req).await.unwrap().config;
        assert_eq!(c.router.as_deref(), Some("fast"));
        assert_eq!(c.model, model("strong"), "a router's strong model");
        assert_eq!(c.name, "named");
    }

    #[tokio::test]
    async fn a_request_replaces_the_templates_whole_group_of_places_and_prompts() {
        let h = Host::new().await;
        h.put(DocKind::SystemPrompt, "terse", json!({"text": "be terse"}))
            .await;
        h.put(
            DocKind::AgentTemplate,
            "t",
            json!({"system_prompt": "long-winded", "workspace_id": "nope"}),
        )
        .await;
        // The template's workspace_id (which names nothing) is not looked
        // up: the request's worktree replaces it.
        let r = h
            .resolve(from_template(
                "t",
                json!({"system_prompt_name": "terse", "worktree": {"repo": path(&h.dir())}}),
            ))
            .await
            .unwrap();
        assert_eq!(r.config.system_prompt, "be terse");
        assert_eq!(r.config.workspace, PathBuf::new(), "made by the caller");
        assert_eq!(r.config.workspace_id, None);
        assert_eq!(r.worktree.unwrap().repo, h.dir());
        // The template's prompt by name, when the request gives none.
        h.put(
            DocKind::AgentTemplate,
            "named",
            json!({"system_prompt_name": "terse", "workspace": path(&h.dir())}),
        )
        .await;
        let c = h
            .resolve(from_template("named", json!({})))
            .await
            .unwrap()
            .config;
        assert_eq!(c.system_prompt, "be terse");
    }

    #[tokio::test]
    async fn conflicting_fields_are_refused_naming_both() {
        let h = Host::new().await;
        let ws = path(&h.dir());
        for (fields, refusal) in [
            (
                json!({"workspace": ws, "model": {"provider": "p", "model": "m"}, "router": "fast"}),
                "model, router: give one or the other",
            ),
            (
                json!({"workspace": ws, "system_prompt": "a", "system_prompt_name": "b"}),
                "system_prompt, system_prompt_name: give one or the other",
            ),
            (
                json!({"workspace": ws, "workspace_id": "w"}),
                "workspace, workspace_id, worktree: give one of them",
            ),
        ] {
            assert_eq!(h.refusal(request(fields)).await, refusal);
        }
        // A stored template is checked as it is merged.
        h.put(
            DocKind::AgentTemplate,
            "both",
            json!({"model": {"provider": "p", "model": "m"}, "router": "fast"}),
        )
        .await;
        assert_eq!(
            h.refusal(from_template("both", json!({"workspace": ws})))
                .await,
            "model, router: give one or the other"
        );
    }

    #[tokio::test]
    async fn what_is_missing_is_named() {
        let h = Host::new().await;
        let ws = path(&h.dir());
        assert_eq!(
            h.refusal(from_template("nope", json!({"workspace": ws})))
                .await,
            "template: no agent template named `nope`"
        );
        assert_eq!(
            h.refusal(request(
                json!({"workspace": ws, "system_prompt_name": "nope"})
            ))
            .await,
            "system_prompt_name: no system prompt named `nope`"
        );
        h.put(DocKind::SystemPrompt, "empty", json!({"description": "x"}))
            .await;
        assert_eq!(
            h.refusal(request(
                json!({"workspace": ws, "system_prompt_name": "empty"})
            ))
            .await,
            "system prompt `empty` has no text"
        );
        h.put(DocKind::AgentTemplate, "bad", json!({"colour": "red"}))
            .await;
        let refusal = h
            .refusal(from_template("bad", json!({"workspace": ws})))
            .await;
        assert!(
            refusal.starts_with(
                "template: stored template `bad` is not valid: unknown field `colour`"
            ),
            "{refusal}"
        );
        assert_eq!(
            h.refusal(request(json!({}))).await,
            "workspace: required (or workspace_id, or worktree)"
        );
        assert_eq!(
            h.refusal(request(json!({"workspace": ws, "router": "slow"})))
                .await,
            "router: no router named `slow` (configured: fast)"
        );
        assert_eq!(
            h.refusal(request(json!({"workspace_id": "w"}))).await,
            "workspace_id: no workspace `w`"
        );
    }

    #[tokio::test]
    async fn defaults_fill_what_neither_gives() {
        let mut h = Host::new().await;
        let r = h
            .resolve(request(json!({"workspace": path(&h.dir())})))
            .await
            .unwrap();
        let c = r.config;
        assert_eq!(c.name, "agent");
        assert_eq!(c.model, model("default"));
        assert_eq!(c.system_prompt, "");
        assert_eq!(c.limits, h.limits);
        assert_eq!(c.approval_mode, ApprovalMode::Auto);
        assert_eq!(
            (c.tools, c.mcp_servers, c.network),
            (None, vec![], paddock_protocol::network::Network::Off)
        );
        assert_eq!(c.template, None);
        h.default_model = None;
        assert_eq!(
            h.refusal(request(json!({"workspace": path(&h.dir())})))
                .await,
            "model: required (no default model is configured)"
        );
    }

    #[tokio::test]
    async fn the_task_is_checked_under_its_own_name() {
        let h = Host::new().await;
        let mut req = request(json!({"workspace": path(&h.dir())}));
        req.task = Some("   ".into());
        assert_eq!(h.refusal(req.clone()).await, "task: must not be empty");
        req.task = Some("x".repeat(crate::agent::manager::MAX_MESSAGE + 1));
        assert_eq!(
            h.refusal(req.clone()).await,
            "task: 262145 bytes is over the limit of 262144"
        );
        req.task = Some("do it".into());
        assert_eq!(h.resolve(req).await.unwrap().task.as_deref(), Some("do it"));
    }

    #[tokio::test]
    async fn a_directory_must_lie_under_the_roots_unless_anywhere() {
        let h = Host::new().await;
        let outside = tempfile::tempdir().unwrap();
        let req = request(json!({"workspace": path(outside.path())}));
        match h.resolve(req.clone()).await {
            Err(ResolveError::Workspace(WorkspaceError::Outside(m))) => {
                assert!(m.starts_with("workspace: `"), "{m}")
            }
            other => panic!("not refused as outside: {other:?}"),
        }
        let c = h.resolver().anywhere().resolve(req).await.unwrap().config;
        assert_eq!(c.workspace, outside.path());
        match h.resolve(request(json!({"workspace": "relative"}))).await {
            Err(ResolveError::Workspace(WorkspaceError::Invalid(m))) => {
                assert_eq!(m, "workspace: `relative` must be an absolute path")
            }
            other => panic!("not refused as relative: {other:?}"),
        }
    }

    #[test]
    fn a_template_is_checked_before_it_is_stored() {
        let check = |v: serde_json::Value| {
            serde_json::from_value::<AgentTemplate>(v)
                .unwrap()
                .check()
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            check(json!({"system_prompt": "x", "router": "fast"})),
            Ok(())
        );
        for (v, refusal) in [
            (
                json!({"workspace": "/a", "worktree": {"repo": "/b"}}),
                "workspace, workspace_id, worktree: give one of them",
            ),
            (
                json!({"temperature": 2.5}),
                "temperature: must be between 0 and 2",
            ),
            (
                json!({"approval_timeout_secs": 0}),
                "approval_timeout_secs: must be at least 1",
            ),
            (
                json!({"limits": {"max_turns": 0}}),
                "limits.max_turns: must be at least 1",
            ),
        ] {
            assert_eq!(check(v), Err(refusal.to_string()));
        }
    }
}
