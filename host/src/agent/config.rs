//! What an agent is: its name, prompt, model, workspace, tools and limits.

use crate::config::AgentLimits;
use crate::policy::ApprovalMode;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The provider and model an agent talks to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelRef {
    /// A provider of `paddock.toml`.
    pub provider: String,
    /// The model's name at the provider.
    pub model: String,
}

/// An agent's configuration, fixed at creation and recorded in its
/// `agent.created` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// A human name.
    pub name: String,
    /// The system prompt.
    #[serde(default)]
    pub system_prompt: String,
    /// The model. With a `router`, the router's strong model at creation
    /// (each call then uses the router's cheap or strong model).
    pub model: ModelRef,
    /// A model router of `paddock.toml` (`[[routers]]`) choosing the model
    /// of each call instead of `model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<String>,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f32>,
    /// Cap on each answer's tokens.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// The directory the tools see at `/workspace`.
    #[schema(value_type = String)]
    pub workspace: PathBuf,
    /// The Paddock workspace (`/api/workspaces`) that directory is, when
    /// the agent was given one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// Tools it may use, by name; `None` means every enabled plugin tool
    /// and every tool of its MCP servers.
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    /// MCP servers whose tools it gets (as `<server>__<tool>`); each is
    /// started when the first agent that names it runs.
    #[serde(default)]
    pub mcp_servers: Vec<String>,
    /// Whether commands in its sandbox may reach the network (off unless
    /// granted).
    #[serde(default)]
    pub network: bool,
    /// Its hard limits.
    #[serde(default)]
    pub limits: AgentLimits,
    /// The template it was created from (rules scoped to that template
    /// apply to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// How much it may do without asking a human.
    #[serde(default)]
    pub approval_mode: ApprovalMode,
    /// Seconds a pending approval waits before the call is refused (none:
    /// until someone decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_timeout_secs: Option<u64>,
    /// Its own policy rules (`allow|ask|deny TOOL[(PATTERN)]`), tried before
    /// every other rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
}
