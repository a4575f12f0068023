//! What an agent is: its name, prompt, model, workspace, tools and limits.

use crate::policy::ApprovalMode;
use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The provider and model an agent talks to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ModelRef {
    /// A provider of `paddock.toml`.
    pub provider: String,
    /// The model's name at the provider.
    pub model: String,
}

/// An agent's configuration, fixed at creation and recorded in its
/// `agent.created` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Cap on each answer's tokens (`max_output_tokens` over the
    /// Responses API).
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// How hard a reasoning model thinks (Responses API; the model's own
    /// default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<crate::llm::ReasoningEffort>,
    /// How long its answers are (Responses API, models that take it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbosity: Option<crate::llm::Verbosity>,
    /// The directory the tools see at `/workspace`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
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
    /// What commands in its sandbox may reach: nothing (default), the
    /// outside world, or only an allow-list of hosts.
    #[serde(default)]
    pub network: crate::network::Network,
    /// The environment its sandbox runs (an `[[environments]]` entry or
    /// one added through the API, by name; `devcontainer` for the
    /// workspace's `.devcontainer/devcontainer.json`). None: the
    /// workspace's devcontainer.json when it has one, else the plain
    /// sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
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
    /// Only read-only tools (a reviewer on a shared workspace): a tool that
    /// writes or runs commands is neither offered to it nor run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// Whether it may start sub-agents (the `delegate` tool), and within
    /// what limits. None: it may not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation: Option<Delegation>,
    /// The agent that started it (with `delegate`), whose interrupt and
    /// deletion reach it and whose budgets cover its spend. Set by the
    /// host, never by a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The id of the user it belongs to (who created it; set by the host,
    /// never by a request). None only in logs written before there were
    /// users: they belong to the local account
    /// ([`crate::identity::LOCAL_USER`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// What an agent may delegate: how deep sub-agents may nest below it and
/// how many of its children may be live at once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Delegation {
    /// Levels of sub-agents below it (1: children that may not delegate
    /// themselves). A child gets one level less.
    #[serde(default = "default_max_depth")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 5))]
    pub max_depth: u32,
    /// Children live (not finished, not deleted) at once.
    #[serde(default = "default_max_children")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 32))]
    pub max_children: u32,
    /// The templates a child may be made from (none: any stored template,
    /// or an inline configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub templates: Option<Vec<String>>,
}

fn default_max_depth() -> u32 {
    1
}
fn default_max_children() -> u32 {
    4
}

impl Default for Delegation {
    fn default() -> Self {
        Delegation {
            max_depth: default_max_depth(),
            max_children: default_max_children(),
            templates: None,
        }
    }
}

/// Hard limits of one agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentLimits {
    /// Model calls per user message.
    #[serde(default = "default_max_turns")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub max_turns: u32,
    /// Dollars over the agent's life.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub max_cost_usd: Option<f64>,
    /// Dollars per UTC day.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub daily_usd: Option<f64>,
    /// Dollars per calendar month (UTC).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub monthly_usd: Option<f64>,
    /// Seconds of one run (from a user message to the answer).
    #[serde(default)]
    pub max_wall_time_secs: Option<u64>,
    /// Model-request retries over the agent's life.
    #[serde(default = "default_retry_budget")]
    pub retry_budget: u32,
}

fn default_max_turns() -> u32 {
    50
}
fn default_retry_budget() -> u32 {
    30
}

impl Default for AgentLimits {
    fn default() -> Self {
        AgentLimits {
            max_turns: default_max_turns(),
            max_cost_usd: None,
            daily_usd: None,
            monthly_usd: None,
            max_wall_time_secs: None,
            retry_budget: default_retry_budget(),
        }
    }
}

impl AgentLimits {
    /// Checks the dollar limits (finite, not negative); the error names the
    /// field after `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        check_usd(prefix, "max_cost_usd", self.max_cost_usd)?;
        check_usd(prefix, "daily_usd", self.daily_usd)?;
        check_usd(prefix, "monthly_usd", self.monthly_usd)
    }
}

/// A dollar amount must be finite and not negative.
pub fn check_usd(prefix: &str, field: &str, v: Option<f64>) -> Result<(), String> {
    match v {
        Some(x) if !x.is_finite() || x < 0.0 => Err(format!(
            "{prefix}{field}: must be a number of dollars, zero or more (got {x})"
        )),
        _ => Ok(()),
    }
}

/// Which model a router uses for the first call of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The cheap model (reading and searching).
    #[default]
    Cheap,
    /// The strong model (editing, or after the cheap one failed).
    Strong,
}

impl Tier {
    /// `cheap` or `strong`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Cheap => "cheap",
            Tier::Strong => "strong",
        }
    }
}

/// The start of the UTC day of `now` (the period of `daily_usd`).
pub fn day_start(now: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(now.year(), now.month(), now.day(), 0, 0, 0)
        .single()
        .unwrap_or(now)
}

/// The start of the UTC calendar month of `now` (the period of `monthly_usd`).
pub fn month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now)
}
