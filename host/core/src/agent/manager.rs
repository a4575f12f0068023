//! The agent manager: creates agents, runs one tokio task per agent, reloads
//! every agent from the store on start (resuming those that were busy when
//! the host stopped), and routes messages, interrupts and deletions.
//!
//! With several hosts on one database (`deps.cluster`), it runs only the
//! agents whose lease this host holds: it loads none at start (the
//! takeover loop of `hosting` claims them), creates new agents on
//! the least-loaded host, and sends what is asked of an agent another host
//! runs to that host through the database.

use super::actor::Actor;
use super::delegate::{self, DelegateArgs, Delegator, Spawned, WorkspaceMode};
use super::remote;
use super::resolve::{AgentRequest, AgentTemplate, ResolveError, Resolver};
use super::runner::{Agent, AgentDeps, AgentError};
use crate::cluster::{Cluster, RequestKind};
use paddock_protocol::agent::AgentConfig;
use paddock_protocol::events::ErrorCode;
use paddock_protocol::events::{AgentStatus, Event, EventBody};
use paddock_protocol::identity::LOCAL_USER;
pub use paddock_protocol::policy::Remember;
use paddock_store::{
    AgentRecord, ApprovalRecord, ApprovalStatus, Fence, NewAgent, NewAudit, NewLease,
};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Longest agent name.
const MAX_NAME: usize = 200;
pub use super::resolve::{MAX_MESSAGE, check_text};

/// All agents of this host.
pub struct Manager {
    deps: Arc<AgentDeps>,
    agents: RwLock<HashMap<String, Arc<Agent>>>,
    /// Agents whose stored rows no longer parse, with why: not loaded,
    /// left as they are in the store for someone to look at.
    quarantined: Vec<(String, String)>,
    /// One lock per user, held while a run of theirs is checked against
    /// their cap on running agents and started, so that two requests at
    /// once cannot both take the last place.
    starts: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// This host among several (PostgreSQL), if so.
    cluster: Option<Arc<Cluster>>,
}

impl Manager {
    /// With `load`, loads every live agent from the store and starts its
    /// task; agents that were thinking or running a tool when the host
    /// stopped resume. Without, manages only the agents it creates (a
    /// headless run beside a server must not take the server's agents).
    ///
    /// With several hosts, loads nothing: the caller starts the hosting
    /// loops (`hosting::start`), which claim this host's share of the
    /// agents no host runs.
    pub async fn start(deps: Arc<AgentDeps>, load: bool) -> Result<Arc<Manager>, AgentError> {
        let cluster = deps.cluster.clone();
        let (records, quarantined) = if load && cluster.is_none() {
            deps.store.scan_agents(false).await?
        } else {
            Default::default()
        };
        let quarantined: Vec<(String, String)> = quarantined
            .into_iter()
            .map(|(id, e)| {
                tracing::error!(agent = %id, error = %e,
                    "this agent's stored record is damaged: it is quarantined (not loaded); the other agents start");
                (id, e.to_string())
            })
            .collect();
        let manager = Arc::new(Manager {
            deps,
            agents: RwLock::new(HashMap::new()),
            quarantined,
            starts: std::sync::Mutex::default(),
            cluster: cluster.clone(),
        });
        // Before any agent resumes: a parent may be waiting on a child.
        let weak = Arc::downgrade(&manager);
        let delegator: std::sync::Weak<dyn Delegator> = weak;
        let _ = manager.deps.delegator.set(delegator);
        for record in records {
            let note = format!(
                "the host restarted while the agent was {}; resuming where the log stands",
                record.status.as_str()
            );
            manager.adopt(record, None, Some(note)).await?;
        }
        Ok(manager)
    }

    /// Takes an agent up from its stored record and starts its task: one
    /// that was at work resumes where its log stands, after `crash` is
    /// recorded (a `host_restarted` error; none for an agent handed over
    /// cleanly). A pending approval stays pending.
    pub(crate) async fn adopt(
        &self,
        record: AgentRecord,
        fence: Option<Fence>,
        crash: Option<String>,
    ) -> Result<(), AgentError> {
        let busy = matches!(
            record.status,
            AgentStatus::Thinking | AgentStatus::ExecutingTool | AgentStatus::WaitingApproval
        );
        // A message posted just before the host stopped (or handed the
        // agent over) that no run has taken up yet starts its run now.
        let pending = !busy
            && record.status != AgentStatus::Stopped
            && matches!(
                self.deps
                    .store
                    .event_at(&record.id, record.last_seq)
                    .await?,
                Some(Event {
                    body: EventBody::MessageUser { .. },
                    ..
                })
            );
        let agent = Agent::new(
            record.id.clone(),
            record.config.clone(),
            self.deps.clone(),
            record.last_seq,
            record.status,
            fence,
        );
        // A pending approval is not interrupted work: it stays pending.
        if busy && record.status != AgentStatus::WaitingApproval {
            if let Some(note) = crash {
                agent
                    .append(EventBody::error(ErrorCode::HostRestarted, note, true))
                    .await?;
            }
            tracing::info!(agent = %record.id, status = record.status.as_str(), "resuming agent");
        }
        if let Err(e) = agent.cancel_stale_network_approvals().await {
            tracing::warn!(agent = %record.id, error = %e, "cannot cancel the network approvals a previous host left pending");
        }
        self.insert(agent.clone());
        if record.status != AgentStatus::Stopped {
            tokio::spawn(agent.task(busy || pending));
        }
        Ok(())
    }

    fn insert(&self, agent: Arc<Agent>) {
        if let Some(c) = &self.cluster {
            c.set_running(agent.id(), true);
        }
        if let Ok(mut agents) = self.agents.write() {
            agents.insert(agent.id().to_string(), agent);
        }
    }

    /// Forgets a local agent (it stopped running here).
    pub(crate) fn remove(&self, id: &str) -> Option<Arc<Agent>> {
        if let Some(c) = &self.cluster {
            c.set_running(id, false);
        }
        self.agents.write().ok().and_then(|mut a| a.remove(id))
    }

    /// The agents this host runs.
    pub fn local_agents(&self) -> Vec<Arc<Agent>> {
        self.agents
            .read()
            .map(|a| a.values().cloned().collect())
            .unwrap_or_default()
    }

    /// This host among several, if so.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
    }

    /// The agents whose stored records are damaged (not loaded), with why.
    pub fn quarantined(&self) -> &[(String, String)] {
        &self.quarantined
    }

    /// The shared dependencies.
    pub fn deps(&self) -> &Arc<AgentDeps> {
        &self.deps
    }

    /// A running (not deleted) agent of this host's.
    pub fn get(&self, id: &str) -> Result<Arc<Agent>, AgentError> {
        self.agents
            .read()
            .ok()
            .and_then(|a| a.get(id).cloned())
            .ok_or_else(|| AgentError::NotFound(id.to_string()))
    }

    /// Checks a configuration against this host: known provider, existing
    /// workspace directory, known tools, sane limits.
    pub fn validate(&self, config: &AgentConfig) -> Result<(), AgentError> {
        let invalid = |m: String| Err(AgentError::Invalid(m));
        if config.name.trim().is_empty() || config.name.len() > MAX_NAME {
            return invalid(format!("name: must be 1 to {MAX_NAME} characters"));
        }
        if let Some(c) = config.name.chars().find(|c| c.is_control()) {
            return invalid(format!(
                "name: must not contain control characters (found U+{:04X})",
                u32::from(c)
            ));
        }
        if !self.deps.providers.contains(&config.model.provider) {
            let known = self.deps.providers.names();
            return invalid(format!(
                "model.provider: unknown provider `{}` (configured: {})",
                config.model.provider,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        }
        if config.model.model.trim().is_empty() {
            return invalid("model.model: must not be empty".into());
        }
        if !config.workspace.is_absolute() {
            return invalid(format!(
                "workspace: `{}` must be an absolute path",
                config.workspace.display()
            ));
        }
        if !config.workspace.is_dir() {
            return invalid(format!(
                "workspace: `{}` is not an existing directory",
                config.workspace.display()
            ));
        }
        if let Some(t) = config.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return invalid("temperature: must be between 0 and 2".into());
        }
        if let Some(r) = &config.router
            && !self.deps.routers.contains_key(r)
        {
            let mut known: Vec<&str> = self.deps.routers.keys().map(String::as_str).collect();
            known.sort();
            return invalid(format!(
                "router: unknown router `{r}` (configured: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        }
        config
            .limits
            .validate("limits.")
            .map_err(AgentError::Invalid)?;
        if config.limits.max_turns == 0 {
            return invalid("limits.max_turns: must be at least 1".into());
        }
        for (i, rule) in config.rules.iter().enumerate() {
            if let Err(e) = crate::policy::rules::Rule::parse(rule) {
                return invalid(format!("rules[{i}]: {}", e.message));
            }
        }
        if config.approval_timeout_secs == Some(0) {
            return invalid("approval_timeout_secs: must be at least 1".into());
        }
        if let Some(env) = &config.environment
            && !self.deps.environments.contains(env)
        {
            return invalid(format!(
                "environment: no environment named `{env}` (known: {})",
                self.deps.environments.names().join(", ")
            ));
        }
        for (i, server) in config.mcp_servers.iter().enumerate() {
            if !self.deps.mcp.contains(server) {
                return invalid(format!(
                    "mcp_servers[{i}]: no MCP server named `{server}` (see GET /api/mcp/servers)"
                ));
            }
            if config.mcp_servers[..i].contains(server) {
                return invalid(format!("mcp_servers[{i}]: `{server}` is listed twice"));
            }
        }
        if let Some(tools) = &config.tools {
            let known = self
                .deps
                .plugins
                .tools()
                .map_err(|e| AgentError::Invalid(format!("tools: cannot list tools: {e}")))?;
            for t in tools {
                // MCP tools are known once their server runs: the server
                // prefix must be one of the agent's servers.
                let of_mcp = t
                    .split_once("__")
                    .is_some_and(|(s, _)| config.mcp_servers.iter().any(|m| m == s));
                if !of_mcp && !known.iter().any(|k| k.spec.name == *t) {
                    return invalid(format!(
                        "tools: no enabled plugin offers a tool named `{t}`"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The lock held while a run of `owner`'s is checked and started.
    fn start_lock(&self, owner: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut starts = self.starts.lock().unwrap_or_else(|e| e.into_inner());
        starts.entry(owner.to_string()).or_default().clone()
    }

    /// How many of `owner`'s agents are running (or asked to run).
    pub fn running_of(&self, owner: &str) -> usize {
        self.agents
            .read()
            .map(|agents| {
                agents
                    .values()
                    .filter(|a| a.config().owner.as_deref().unwrap_or(LOCAL_USER) == owner)
                    .filter(|a| a.is_running())
                    .count()
            })
            .unwrap_or(0)
    }

    /// `owner`'s cap on agents running at once: their own, else the
    /// host's default (none: no cap).
    async fn running_cap(&self, owner: &str) -> Result<Option<u32>, AgentError> {
        let own = self
            .deps
            .store
            .get_user(owner)
            .await?
            .and_then(|u| u.max_running_agents);
        Ok(own.or(self.deps.max_running_agents_per_user))
    }

    /// Refuses one more run of `owner`'s when their running agents are at
    /// their cap ([`AgentError::QuotaExceeded`], naming the cap).
    async fn check_running_cap(&self, owner: &str) -> Result<(), AgentError> {
        let Some(cap) = self.running_cap(owner).await? else {
            return Ok(());
        };
        let mut running = self.running_of(owner);
        if let Some(c) = &self.cluster {
            let elsewhere = self.deps.store.running_elsewhere(owner, c.host()).await?;
            running += usize::try_from(elsewhere).unwrap_or(usize::MAX);
        }
        if running < cap as usize {
            return Ok(());
        }
        let name = self
            .deps
            .store
            .get_user(owner)
            .await?
            .map_or_else(|| owner.to_string(), |u| u.name);
        Err(AgentError::QuotaExceeded(format!(
            "user {name} may run at most {cap} agent{} at once (max_running_agents) and {running} {} running: wait for one to finish, or interrupt one",
            if cap == 1 { "" } else { "s" },
            if running == 1 { "is" } else { "are" },
        )))
    }

    /// Creates an agent (recorded with its `agent.created` event), starts its
    /// task and, if given, posts its first message — refused first
    /// ([`AgentError::QuotaExceeded`]) when that run would pass its
    /// owner's cap on running agents. With several hosts, on the
    /// least-loaded live one (this one when it ties, or when the chosen
    /// one does not take the request in time).
    pub async fn create(
        &self,
        config: AgentConfig,
        task: Option<String>,
    ) -> Result<AgentRecord, AgentError> {
        if let Some(c) = &self.cluster
            && !c.headless()
        {
            self.validate(&config)?;
            if let Some(t) = &task {
                check_message(t)?;
            }
            if let Some(host) = c.place().await? {
                let body = serde_json::json!({"config": config, "task": task});
                match remote::call(c, None, Some(&host), RequestKind::Create, body).await {
                    Ok(v) => {
                        let id = v
                            .get("agent_id")
                            .and_then(|v| v.as_str())
                            .unwrap_or_default();
                        return self
                            .deps
                            .store
                            .get_agent(id)
                            .await?
                            .ok_or_else(|| AgentError::NotFound(id.to_string()));
                    }
                    Err(remote::Called::NotTaken(why)) => {
                        tracing::warn!(host = %host, %why, "the chosen host did not take the new agent: it runs here");
                    }
                    Err(remote::Called::Failed(e)) => return Err(e),
                }
            }
        }
        Ok(self.create_here(config, task).await?.1)
    }

    /// [`Manager::create`] on this host.
    pub async fn create_here(
        &self,
        config: AgentConfig,
        task: Option<String>,
    ) -> Result<(Arc<Agent>, AgentRecord), AgentError> {
        self.create_here_as(uuid::Uuid::new_v4().to_string(), config, task)
            .await
    }

    /// [`Manager::create_here`] with the id chosen by the caller (a
    /// sub-agent's, recorded in its parent's log first), or a new one.
    async fn create_as(
        &self,
        id: Option<String>,
        config: AgentConfig,
        task: Option<String>,
    ) -> Result<(Arc<Agent>, AgentRecord), AgentError> {
        let id = id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        self.create_here_as(id, config, task).await
    }

    /// [`Manager::create_here`] with an id chosen beforehand (a workflow
    /// records its step's agent before making it, so that a restart never
    /// makes a second one). An id already taken is refused
    /// ([`AgentError::Conflict`]), leaving that agent as it is.
    pub async fn create_with_id(
        &self,
        id: String,
        config: AgentConfig,
        task: Option<String>,
    ) -> Result<(Arc<Agent>, AgentRecord), AgentError> {
        if uuid::Uuid::parse_str(&id).is_err() {
            return Err(AgentError::Invalid(format!("id: `{id}` is not a UUID")));
        }
        if self.deps.store.get_agent(&id).await?.is_some() {
            return Err(AgentError::Conflict(format!("agent {id} exists already")));
        }
        self.create_here_as(id, config, task).await
    }

    async fn create_here_as(
        &self,
        id: String,
        config: AgentConfig,
        task: Option<String>,
    ) -> Result<(Arc<Agent>, AgentRecord), AgentError> {
        self.validate(&config)?;
        if let Some(t) = &task {
            check_message(t)?;
        }
        let owner = config
            .owner
            .clone()
            .unwrap_or_else(|| LOCAL_USER.to_string());
        let lock = self.start_lock(&owner);
        let _starting = match &task {
            Some(_) => {
                let guard = lock.lock().await;
                self.check_running_cap(&owner).await?;
                Some(guard)
            }
            None => None,
        };
        self.snapshot(&id, &config).await;
        let now = chrono::Utc::now();
        let created = self.deps.redactor.redact_event(EventBody::AgentCreated {
            config: Box::new(config.clone()),
        });
        let first = Event {
            seq: 1,
            agent_id: id.clone(),
            ts: now,
            body: created,
        };
        let new = NewAgent {
            id: id.clone(),
            name: config.name.clone(),
            config: config.clone(),
            created_at: now,
            lease: self.cluster.as_ref().map(|c| NewLease {
                host: c.host().to_string(),
                ttl_ms: c.lease_ms(),
            }),
        };
        self.deps.store.create_agent(&new, &first).await?;
        self.deps.metrics.observe(&first);
        self.deps.bus.publish(Arc::new(first));
        let fence = self.cluster.as_ref().map(|c| c.fence(1));
        let agent = Agent::new(
            id.clone(),
            config,
            self.deps.clone(),
            1,
            AgentStatus::Idle,
            fence,
        );
        self.insert(agent.clone());
        tokio::spawn(agent.clone().task(false));
        if let Some(task) = task {
            agent.post_message(task).await?;
        }
        let record = self
            .deps
            .store
            .get_agent(&id)
            .await?
            .ok_or_else(|| AgentError::NotFound(id.clone()))?;
        tracing::info!(agent = %id, name = %record.name, "agent created");
        Ok((agent, record))
    }

    /// Takes the snapshot of the agent's directory as it starts, which its
    /// diff is against — except in a git worktree, whose diff is its
    /// branch's. A snapshot that cannot be taken is logged; the agent
    /// starts anyway (its diff then says there is none).
    async fn snapshot(&self, id: &str, config: &AgentConfig) {
        let workspaces = &self.deps.workspaces;
        if let Some(ws) = &config.workspace_id
            && let Ok(ws) = workspaces.get(ws).await
            && ws.kind == crate::workspace::WorkspaceKind::Worktree
        {
            return;
        }
        match workspaces.snapshot_agent(id, &config.workspace).await {
            Ok(crate::workspace::snapshot::Snapshot::Taken(_)) => {}
            Ok(crate::workspace::snapshot::Snapshot::TooLarge(why)) => {
                tracing::info!(agent = %id, %why, "the agent's directory is too large to snapshot");
            }
            Err(e) => {
                tracing::warn!(agent = %id, error = %e, "could not snapshot the agent's directory");
            }
        }
    }

    /// Posts a user message to a running agent. A message that would start
    /// a run (the agent is not running) is refused
    /// ([`AgentError::QuotaExceeded`]) when its owner's running agents are
    /// at their cap.
    /// Returns the seq of the stored message. With several hosts, the
    /// host that runs the agent stores it.
    pub async fn post_message(&self, id: &str, text: String) -> Result<u64, AgentError> {
        check_message(&text)?;
        if let Some(c) = self.elsewhere(id).await? {
            let v = self
                .forward(
                    c,
                    id,
                    RequestKind::Message,
                    serde_json::json!({"text": text}),
                )
                .await?;
            return Ok(v.get("seq").and_then(|s| s.as_u64()).unwrap_or(0));
        }
        Ok(self.post_message_here(id, text).await?.seq)
    }

    /// [`Manager::post_message`] to an agent of this host's.
    pub(crate) async fn post_message_here(
        &self,
        id: &str,
        text: String,
    ) -> Result<Arc<Event>, AgentError> {
        check_message(&text)?;
        let agent = self.get(id)?;
        if agent.is_running() {
            return agent.post_message(text).await;
        }
        let owner = agent
            .config()
            .owner
            .clone()
            .unwrap_or_else(|| LOCAL_USER.to_string());
        let lock = self.start_lock(&owner);
        let _starting = lock.lock().await;
        if !agent.is_running() {
            self.check_running_cap(&owner).await?;
        }
        agent.post_message(text).await
    }

    /// Re-runs the last turn of an agent whose last run failed or hit a
    /// limit (see [`Agent::retry`]); returns the recorded status event.
    /// The retry is recorded in the audit log, naming `by`.
    pub async fn retry(&self, id: &str, by: &Actor) -> Result<u64, AgentError> {
        if let Some(c) = self.elsewhere(id).await? {
            let v = self
                .forward(c, id, RequestKind::Retry, serde_json::json!({"by": by}))
                .await?;
            return Ok(v.get("seq").and_then(|s| s.as_u64()).unwrap_or(0));
        }
        Ok(self.retry_here(id, by).await?.seq)
    }

    /// [`Manager::retry`] of an agent of this host's.
    pub(crate) async fn retry_here(&self, id: &str, by: &Actor) -> Result<Arc<Event>, AgentError> {
        let event = self.get(id)?.retry(&by.name).await?;
        self.deps
            .store
            .audit(&NewAudit {
                agent_id: id.to_string(),
                kind: "agent".into(),
                action: "retry".into(),
                actor: by.name.clone(),
                reason: format!("retry requested by {}", by.name),
                detail: serde_json::json!({"seq": event.seq}),
                user_id: by.user_id.clone(),
                token_id: by.token_id.clone(),
                ..NewAudit::default()
            })
            .await?;
        Ok(event)
    }

    /// Interrupts an agent and its live sub-agents (theirs too); returns
    /// whether it was busy. With several hosts, each through the host that
    /// runs it.
    pub async fn interrupt(&self, id: &str) -> Result<bool, AgentError> {
        let busy = self.interrupt_one(id).await?;
        // Only an agent that may delegate has sub-agents (an agent run
        // elsewhere is looked up).
        if self.get(id).is_ok_and(|a| a.config().delegation.is_none()) {
            return Ok(busy);
        }
        let children: Vec<String> = match self.deps.store.list_agents(false).await {
            Ok(records) => delegate::descendants(&records, id)
                .into_iter()
                .map(|r| r.id.clone())
                .collect(),
            // The store is away (an interrupt must still reach what runs):
            // the sub-agents this host runs, from their configurations.
            Err(e) if e.is_unavailable() => {
                tracing::warn!(agent = %id, error = %e, "the store is away: interrupting the sub-agents this host runs");
                let local = self.local_agents();
                let links: Vec<(&str, Option<&str>)> = local
                    .iter()
                    .map(|a| (a.id(), a.config().parent.as_deref()))
                    .collect();
                delegate::descendant_indexes(&links, id)
                    .into_iter()
                    .map(|i| links[i].0.to_string())
                    .collect()
            }
            Err(e) => return Err(e.into()),
        };
        for child in children {
            match self.interrupt_one(&child).await {
                Ok(_) | Err(AgentError::NotFound(_) | AgentError::Stopped(_)) => {}
                Err(e) => {
                    tracing::warn!(agent = %id, child = %child, error = %e, "could not interrupt a sub-agent")
                }
            }
        }
        Ok(busy)
    }

    /// Interrupts one agent (not its sub-agents).
    async fn interrupt_one(&self, id: &str) -> Result<bool, AgentError> {
        if let Ok(agent) = self.get(id) {
            return Ok(agent.interrupt());
        }
        if let Some(c) = self.elsewhere(id).await? {
            let v = self
                .forward(c, id, RequestKind::Interrupt, serde_json::json!({}))
                .await?;
            return Ok(v
                .get("interrupted")
                .and_then(|s| s.as_bool())
                .unwrap_or(false));
        }
        Err(AgentError::NotFound(id.to_string()))
    }

    /// Deletes an agent and its sub-agents (theirs too): stops them and
    /// keeps their history, or with `purge` also removes it. The agent
    /// goes first, so that it starts no more children meanwhile. Returns
    /// whether the agent existed. With several hosts, the host that runs
    /// each does (here when none does).
    pub async fn delete(&self, id: &str, purge: bool) -> Result<bool, AgentError> {
        let records = self.deps.store.list_agents(purge).await?;
        let existed = self.delete_one(id, purge).await?;
        for child in delegate::descendants(&records, id) {
            if let Err(e) = self.delete_one(&child.id, purge).await {
                tracing::warn!(agent = %id, child = %child.id, error = %e, "could not delete a sub-agent");
            }
        }
        Ok(existed)
    }

    /// Deletes one agent (not its sub-agents).
    async fn delete_one(&self, id: &str, purge: bool) -> Result<bool, AgentError> {
        if let Some(c) = &self.cluster
            && self.get(id).is_err()
            && let Some(record) = self.deps.store.get_agent(id).await?
            && record.deleted_at.is_none()
            && record.host.is_some()
        {
            let v = self
                .forward(
                    c,
                    id,
                    RequestKind::Delete,
                    serde_json::json!({"purge": purge}),
                )
                .await?;
            return Ok(v.get("existed").and_then(|s| s.as_bool()).unwrap_or(true));
        }
        self.delete_here(id, purge).await
    }

    /// [`Manager::delete`] here.
    pub(crate) async fn delete_here(&self, id: &str, purge: bool) -> Result<bool, AgentError> {
        let agent = self.remove(id);
        if let Some(agent) = &agent {
            agent.stop("deleted").await?;
        }
        if let Err(e) = self.deps.sandbox.destroy(id).await {
            tracing::warn!(agent = %id, error = %e, "could not destroy the agent's sandbox");
        }
        let existed = match self.deps.store.get_agent(id).await? {
            Some(r) => {
                if r.deleted_at.is_none() {
                    self.deps.store.mark_deleted(id, chrono::Utc::now()).await?;
                }
                true
            }
            None => false,
        };
        if purge && existed {
            self.deps.store.purge_agent(id).await?;
            self.deps.bus.remove(id);
            if let Err(e) = self.deps.workspaces.remove_agent_snapshot(id).await {
                tracing::warn!(agent = %id, error = %e, "could not remove the agent's snapshot");
            }
        }
        Ok(existed || agent.is_some())
    }
}

impl Manager {
    /// The cluster, when the agent is run by another host (or by none)
    /// and exists: what is asked of it goes there. An unknown agent is
    /// [`AgentError::NotFound`], a deleted one [`AgentError::Stopped`].
    async fn elsewhere(&self, id: &str) -> Result<Option<&Arc<Cluster>>, AgentError> {
        let Some(c) = &self.cluster else {
            return Ok(None);
        };
        if self.get(id).is_ok() {
            return Ok(None);
        }
        match self.deps.store.get_agent(id).await? {
            None => Err(AgentError::NotFound(id.to_string())),
            Some(r) if r.deleted_at.is_some() => Err(AgentError::Stopped(id.to_string())),
            Some(_) => Ok(Some(c)),
        }
    }

    /// Sends a request to the host that runs agent `id` and waits for its
    /// answer.
    async fn forward(
        &self,
        cluster: &Cluster,
        id: &str,
        kind: RequestKind,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, AgentError> {
        remote::call(cluster, Some(id), None, kind, body)
            .await
            .map_err(remote::Called::into_error)
    }
}

/// How long a decider's reason may be.
const MAX_REASON: usize = 4096;

impl Manager {
    /// Decides an agent's pending approval of `call_id`, once: when two
    /// deciders race, the first wins and the second gets
    /// [`AgentError::Conflict`] naming the decision that stands.
    pub async fn decide(
        &self,
        agent_id: &str,
        call_id: &str,
        approved: bool,
        reason: Option<String>,
        remember: Remember,
        by: &Actor,
    ) -> Result<ApprovalRecord, AgentError> {
        // With several hosts the decision is made in the store from any
        // host (even while the agent's host is down); its host is told.
        let agent = match self.get(agent_id) {
            Ok(agent) => Some(agent),
            Err(e) => match &self.cluster {
                Some(_) => match self.deps.store.get_agent(agent_id).await? {
                    Some(r) if r.deleted_at.is_none() => None,
                    _ => return Err(e),
                },
                None => return Err(e),
            },
        };
        if let Some(r) = &reason {
            if r.len() > MAX_REASON {
                return Err(AgentError::Invalid(format!(
                    "reason: {} bytes is over the limit of {MAX_REASON}",
                    r.len()
                )));
            }
            if r.contains('\0') {
                return Err(AgentError::Invalid(
                    "reason: must not contain NUL characters".into(),
                ));
            }
        }
        let status = if approved {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Denied
        };
        let remember = (remember != Remember::Once).then_some(remember.as_str());
        let store = &self.deps.store;
        let reason = reason.map(|r| self.deps.redactor.redact(&r));
        if let Some(decided) = store
            .decide_approval(
                agent_id,
                call_id,
                status,
                &by.name,
                reason.as_deref(),
                remember,
                chrono::Utc::now(),
            )
            .await?
        {
            tracing::info!(
                agent = agent_id,
                call = call_id,
                status = status.as_str(),
                by = %by.name,
                "approval decided"
            );
            match (&agent, &self.cluster) {
                (Some(agent), _) => agent.approval_decided_by(call_id, by.clone()),
                (None, Some(c)) => {
                    let body = serde_json::json!({"call_id": call_id, "by": by});
                    if let Err(e) = c.tell(agent_id, RequestKind::ApprovalDecided, body).await {
                        tracing::warn!(agent = agent_id, error = %e,
                            "cannot tell the agent's host of the decision; it reads it within seconds");
                    }
                }
                (None, None) => {}
            }
            return Ok(decided);
        }
        match store.latest_approval(agent_id, call_id).await? {
            None => Err(AgentError::NoApproval {
                agent: agent_id.to_string(),
                call: call_id.to_string(),
            }),
            Some(r) => Err(AgentError::Conflict(format!(
                "the approval of tool call `{call_id}` was already decided: {}{}{}",
                r.status.as_str(),
                r.decided_by
                    .as_deref()
                    .map(|b| format!(" by {b}"))
                    .unwrap_or_default(),
                r.decided_at
                    .map(|t| format!(" at {}", t.to_rfc3339()))
                    .unwrap_or_default()
            ))),
        }
    }
}

/// Refuses an empty or oversized message.
pub fn check_message(text: &str) -> Result<(), AgentError> {
    check_text("text", text).map_err(AgentError::Invalid)
}

impl Delegator for Manager {
    fn spawn<'a>(
        &'a self,
        parent_id: &'a str,
        parent: &'a AgentConfig,
        child_id: &'a str,
        args: &'a DelegateArgs,
    ) -> futures::future::BoxFuture<'a, Result<Spawned, String>> {
        Box::pin(self.spawn_child(parent_id, parent, child_id, args))
    }
}

/// How strict an approval mode is (a child is never less strict than its
/// parent).
fn strictness(mode: crate::policy::ApprovalMode) -> u8 {
    use crate::policy::ApprovalMode::*;
    match mode {
        Auto => 0,
        AskRisky => 1,
        AskAll => 2,
        ReadOnly => 3,
    }
}

/// The name of a child: `<parent>/<leaf>`, or the leaf alone when that
/// would be too long.
fn child_name(parent: &str, leaf: &str) -> String {
    let full = format!("{parent}/{leaf}");
    if full.len() <= MAX_NAME {
        full
    } else {
        leaf.to_string()
    }
}

/// Makes `config` a child of `parent_id` (configured `parent`): owned by
/// the parent's owner, one level less of delegation, read-only when the
/// parent is (or `read_only`), never less strict an approval mode, bound
/// by the parent's own rules after its own, and never reaching more than
/// the parent: its network is none or the parent's, its tools and MCP
/// servers among the parent's.
fn bind_child(config: &mut AgentConfig, parent_id: &str, parent: &AgentConfig, read_only: bool) {
    config.owner = parent.owner.clone();
    config.parent = Some(parent_id.to_string());
    config.delegation = parent
        .delegation
        .as_ref()
        .and_then(delegate::child_delegation);
    config.read_only = config.read_only || parent.read_only || read_only;
    if strictness(parent.approval_mode) > strictness(config.approval_mode) {
        config.approval_mode = parent.approval_mode;
    }
    for rule in &parent.rules {
        if !config.rules.contains(rule) {
            config.rules.push(rule.clone());
        }
    }
    if config.network.any() {
        config.network = parent.network.clone();
    }
    if let Some(allowed) = &parent.tools {
        config.tools = Some(match config.tools.take() {
            Some(own) => own.into_iter().filter(|t| allowed.contains(t)).collect(),
            None => allowed.clone(),
        });
    }
    config
        .mcp_servers
        .retain(|m| parent.mcp_servers.contains(m));
}

impl Manager {
    /// [`Delegator::spawn`]: finds the child `child_id` when it exists (a
    /// resumed parent), else resolves its configuration (template, inline
    /// fields, the parent's model as the default), makes its workspace
    /// when it works in a worktree or a copy, and creates it here with its
    /// task.
    async fn spawn_child(
        &self,
        parent_id: &str,
        parent: &AgentConfig,
        child_id: &str,
        args: &DelegateArgs,
    ) -> Result<Spawned, String> {
        let store = &self.deps.store;
        let failed = |e: &dyn std::fmt::Display| e.to_string();
        if let Some(r) = store.get_agent(child_id).await.map_err(|e| failed(&e))? {
            if r.config.parent.as_deref() != Some(parent_id) {
                return Err(format!(
                    "the recorded sub-agent `{child_id}` is not this agent's"
                ));
            }
            let seq = match delegate::task_seq(store, child_id)
                .await
                .map_err(|e| failed(&e))?
            {
                Some(seq) => seq,
                // Made, but the host stopped before its task was posted.
                None => self
                    .post_message(child_id, args.task.clone())
                    .await
                    .map_err(|e| failed(&e))?,
            };
            return Ok(Spawned {
                name: r.name,
                task_seq: seq,
            });
        }
        let leaf = args
            .name
            .clone()
            .or_else(|| args.template.clone())
            .unwrap_or_else(|| "sub".into());
        let name = child_name(&parent.name, &leaf);
        let mut fields: AgentTemplate = match &args.config {
            Some(map) => serde_json::from_value(serde_json::Value::Object(map.clone()))
                .map_err(|e| format!("config: {e}"))?,
            None => AgentTemplate::default(),
        };
        let workspaces = &self.deps.workspaces;
        let made = match args.workspace {
            WorkspaceMode::Same | WorkspaceMode::SameReadOnly => None,
            mode => {
                let source = self.copy_source(parent, mode).await?;
                let what = if mode == WorkspaceMode::Copy {
                    "a copy"
                } else {
                    "a worktree"
                };
                let ws = workspaces
                    .make_for_agent(&name, source, parent.owner.clone())
                    .await
                    .map_err(|e| {
                        format!(
                            "workspace: cannot make {what} of this agent's workspace `{}`: {e}",
                            parent.workspace.display()
                        )
                    })?;
                Some(ws)
            }
        };
        let made_id = made.as_ref().map(|ws| ws.id.clone());
        let created = async {
            match (&made_id, &parent.workspace_id) {
                (Some(id), _) | (None, Some(id)) => fields.workspace_id = Some(id.clone()),
                (None, None) => fields.workspace = Some(parent.workspace.clone()),
            }
            let resolved = Resolver::new(&self.deps, Some(&parent.model))
                // The parent's directory was checked when it was made.
                .anywhere()
                .resolve(AgentRequest {
                    name: Some(name.clone()),
                    template: args.template.clone(),
                    fields,
                    task: None,
                })
                .await
                .map_err(|e| match e {
                    ResolveError::Invalid(m)
                        if args.config.is_some() && !m.starts_with("template") =>
                    {
                        format!("config.{m}")
                    }
                    other => other.to_string(),
                })?;
            let mut config = resolved.config;
            bind_child(
                &mut config,
                parent_id,
                parent,
                args.workspace == WorkspaceMode::SameReadOnly,
            );
            self.create_as(Some(child_id.to_string()), config, Some(args.task.clone()))
                .await
                .map_err(|e| failed(&e))
        }
        .await;
        let (_, record) = match created {
            Ok(c) => c,
            Err(e) => {
                if let Some(ws) = &made {
                    workspaces.unmake_for_agent(ws).await;
                }
                return Err(e);
            }
        };
        let seq = delegate::task_seq(store, child_id)
            .await
            .map_err(|e| failed(&e))?
            .ok_or_else(|| format!("sub-agent `{child_id}` has no task"))?;
        tracing::info!(parent = %parent_id, child = %child_id, name = %record.name, "sub-agent started");
        Ok(Spawned {
            name: record.name,
            task_seq: seq,
        })
    }

    /// Where a child's worktree or copy of `parent`'s workspace comes
    /// from: a worktree of a worktree is a new worktree of its repository
    /// from the parent's branch.
    async fn copy_source(
        &self,
        parent: &AgentConfig,
        mode: WorkspaceMode,
    ) -> Result<crate::workspace::AgentSource, String> {
        use crate::workspace::{AgentSource, WorkspaceKind};
        let ws = match &parent.workspace_id {
            Some(id) => self.deps.workspaces.get(id).await.ok(),
            None => None,
        };
        Ok(match (mode, ws) {
            (WorkspaceMode::Copy, _) => AgentSource::Copy {
                path: parent.workspace.clone(),
            },
            (_, Some(ws)) if ws.kind == WorkspaceKind::Worktree => AgentSource::Worktree {
                repo: ws.source.clone().unwrap_or(ws.path.clone()),
                base: ws.branch.clone(),
            },
            _ => AgentSource::Worktree {
                repo: parent.workspace.clone(),
                base: None,
            },
        })
    }
}

#[cfg(test)]
mod delegation_tests {
    use super::*;
    use crate::policy::ApprovalMode;
    use std::path::PathBuf;

    #[test]
    fn a_child_is_bound_by_its_parent() {
        let mut parent = crate::agent::fixtures::config("a", PathBuf::from("/w"));
        parent.owner = Some("alice".into());
        parent.approval_mode = ApprovalMode::AskAll;
        parent.rules = vec!["deny bash(rm*)".into()];
        parent.delegation = Some(paddock_protocol::agent::Delegation {
            max_depth: 2,
            ..Default::default()
        });
        let mut child = crate::agent::fixtures::config("a", PathBuf::from("/w"));
        child.approval_mode = ApprovalMode::Auto;
        child.rules = vec!["allow read_file".into()];
        bind_child(&mut child, "p1", &parent, true);
        assert_eq!(child.owner.as_deref(), Some("alice"));
        assert_eq!(child.parent.as_deref(), Some("p1"));
        assert_eq!(child.delegation.as_ref().map(|d| d.max_depth), Some(1));
        assert!(child.read_only);
        assert_eq!(child.approval_mode, ApprovalMode::AskAll, "never looser");
        assert_eq!(child.rules, ["allow read_file", "deny bash(rm*)"]);
        // Never wider than the parent's reach.
        let mut wide = crate::agent::fixtures::config("w", PathBuf::from("/w"));
        wide.network = paddock_protocol::network::Network::Open;
        wide.tools = Some(vec!["read_file".into(), "execute_bash".into()]);
        wide.mcp_servers = vec!["github".into()];
        parent.tools = Some(vec!["read_file".into(), "write_file".into()]);
        bind_child(&mut wide, "p1", &parent, false);
        assert_eq!(wide.network, paddock_protocol::network::Network::Off);
        assert_eq!(wide.tools, Some(vec!["read_file".to_string()]));
        assert!(wide.mcp_servers.is_empty());
        let mut unlisted = crate::agent::fixtures::config("u", PathBuf::from("/w"));
        bind_child(&mut unlisted, "p1", &parent, false);
        assert_eq!(
            unlisted.tools, parent.tools,
            "the parent's list when it has one"
        );
        let mut grandchild = crate::agent::fixtures::config("a", PathBuf::from("/w"));
        bind_child(&mut grandchild, "c1", &child, false);
        assert_eq!(grandchild.delegation, None, "the last level");
        assert!(
            grandchild.read_only,
            "a read-only parent's child only reads"
        );
    }

    #[test]
    fn a_childs_name_says_whose_it_is() {
        assert_eq!(child_name("lead", "reviewer"), "lead/reviewer");
        assert_eq!(child_name(&"x".repeat(199), "rev"), "rev");
    }
}
