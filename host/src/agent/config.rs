//! What an agent is: its name, prompt, model, workspace, tools and limits.

use crate::config::AgentLimits;
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
    /// The model.
    pub model: ModelRef,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f32>,
    /// Cap on each answer's tokens.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// The directory the tools see at `/workspace`.
    #[schema(value_type = String)]
    pub workspace: PathBuf,
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
}
