//! The agents' sections of `paddock.toml`: defaults for every agent
//! (`[agents]`), model routers (`[[routers]]`) and global budgets
//! (`[budgets]`). [`crate::config::Config`] gathers them with the other
//! sections.

use paddock_protocol::agent::{AgentLimits, ModelRef, Tier, check_usd};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Defaults and rules for every agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentDefaults {
    /// Environment variables whose values are secrets: redacted from tool
    /// output and every stored event.
    #[serde(default)]
    pub secret_env: Vec<String>,
    /// Tool outputs longer than this many bytes are cut to head and tail.
    #[serde(default = "default_tool_output_max_bytes")]
    pub tool_output_max_bytes: usize,
    /// Fraction of the context window at which old tool outputs are masked.
    #[serde(default = "default_mask_threshold")]
    pub mask_threshold: f64,
    /// Identical failing tool calls in a row that stop the agent.
    #[serde(default = "default_max_repeated_failures")]
    pub max_repeated_failures: u32,
    /// Default limits of a new agent.
    #[serde(default)]
    pub limits: AgentLimits,
}

fn default_tool_output_max_bytes() -> usize {
    16 * 1024
}
fn default_mask_threshold() -> f64 {
    0.7
}
fn default_max_repeated_failures() -> u32 {
    3
}

impl Default for AgentDefaults {
    fn default() -> Self {
        AgentDefaults {
            secret_env: Vec::new(),
            tool_output_max_bytes: default_tool_output_max_bytes(),
            mask_threshold: default_mask_threshold(),
            max_repeated_failures: default_max_repeated_failures(),
            limits: AgentLimits::default(),
        }
    }
}

/// Global spending caps in USD, over all agents' model calls (UTC day and
/// calendar month), and caps per user and per group. None: no cap.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    /// Dollars per UTC day.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub daily_usd: Option<f64>,
    /// Dollars per calendar month (UTC).
    #[serde(default)]
    #[schema(minimum = 0)]
    pub monthly_usd: Option<f64>,
    /// Caps per user (by user id) over all of that user's agents.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub users: BTreeMap<String, SpendCap>,
    /// Caps per group (by group id) over all agents of the group's
    /// members together.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, SpendCap>,
}

/// A daily and a monthly cap in USD (None: no cap).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpendCap {
    /// Dollars per UTC day.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub daily_usd: Option<f64>,
    /// Dollars per calendar month (UTC).
    #[serde(default)]
    #[schema(minimum = 0)]
    pub monthly_usd: Option<f64>,
}

impl SpendCap {
    /// Whether it caps anything.
    pub fn is_set(&self) -> bool {
        self.daily_usd.is_some() || self.monthly_usd.is_some()
    }
}

impl Budgets {
    /// Checks that every cap is a finite, non-negative number; the error
    /// names the field (`users.<id>.daily_usd` for a user's).
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        check_usd(prefix, "daily_usd", self.daily_usd)?;
        check_usd(prefix, "monthly_usd", self.monthly_usd)?;
        for (kind, caps) in [("users", &self.users), ("groups", &self.groups)] {
            for (id, cap) in caps {
                let at = format!("{prefix}{kind}.{id}.");
                check_usd(&at, "daily_usd", cap.daily_usd)?;
                check_usd(&at, "monthly_usd", cap.monthly_usd)?;
            }
        }
        Ok(())
    }

    /// Whether a cap per user or per group applies to anyone.
    pub fn has_owner_caps(&self) -> bool {
        self.users.values().any(SpendCap::is_set) || self.groups.values().any(SpendCap::is_set)
    }
}

/// A model router: each model call of an agent that names it goes to the
/// cheap model when the previous turn only read (read-only tools), to the
/// strong one when it called a tool that is not read-only or when the
/// cheap model failed `escalate_after_failures` times in a row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    /// The name agents refer to it by (`router = "NAME"`).
    pub name: String,
    /// The model for turns that only read and search.
    pub cheap: ModelRef,
    /// The model for turns that edit, and after the cheap one fails.
    pub strong: ModelRef,
    /// Consecutive failures of the cheap model (a failed model call, or a
    /// turn whose tool calls all failed) after which the strong model
    /// takes the next call (default 2).
    #[serde(default = "default_escalate_after_failures")]
    pub escalate_after_failures: u32,
    /// The model of a run's first call (default `cheap`).
    #[serde(default)]
    pub first_call: Tier,
}

fn default_escalate_after_failures() -> u32 {
    2
}
