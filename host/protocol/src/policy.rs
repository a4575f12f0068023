//! The policy vocabulary shared by the host, its API and its events: risk
//! levels, actions, approval modes, assessors' verdicts, the pipeline's
//! decision, rule specs and scopes, and where an approval stands.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How risky a tool call is.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    /// Reads or harmless local changes.
    #[default]
    Low,
    /// Changes that are easy to undo or only reach the workspace.
    Medium,
    /// Changes that are hard to undo or reach beyond the workspace.
    High,
    /// Destructive or system-wide changes; exfiltration.
    Critical,
}

impl RiskLevel {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
            RiskLevel::Critical => "critical",
        }
    }
}

/// What happens to a tool call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Run it.
    Allow,
    /// Ask a human first.
    Ask,
    /// Refuse it.
    Deny,
}

impl Action {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Ask => "ask",
            Action::Deny => "deny",
        }
    }
}

/// How much an agent may do without asking.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalMode {
    /// Only `deny`/`ask` rules and high or critical risk stop a call.
    Auto,
    /// Medium risk and above, and any assessor's `ask`, ask a human.
    #[default]
    AskRisky,
    /// Every call asks unless a rule allows it.
    AskAll,
    /// Only tools marked read-only run (they are judged as in `auto`);
    /// others are refused and not offered to the model.
    ReadOnly,
}

impl ApprovalMode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalMode::Auto => "auto",
            ApprovalMode::AskRisky => "ask-risky",
            ApprovalMode::AskAll => "ask-all",
            ApprovalMode::ReadOnly => "read-only",
        }
    }
}

/// One assessor's verdict on a call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verdict {
    /// The assessor plugin.
    pub assessor: String,
    /// How risky it found the call.
    pub level: RiskLevel,
    /// What it suggested.
    pub action: Action,
    /// Why.
    pub reason: String,
    /// Whether the assessor failed (trap, timeout…): then the verdict is
    /// `ask` at level high.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
    /// How long it took, in microseconds.
    pub duration_us: u64,
}

/// The pipeline's decision on one call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Decision {
    /// What happens.
    pub action: Action,
    /// The highest level any assessor gave (`low` when none spoke).
    pub level: RiskLevel,
    /// Why, for humans: the rule, the assessors' reasons, the mode.
    pub reasons: Vec<String>,
    /// The rule that decided, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Where that rule comes from (`config`, `agent`, `agent:ID`,
    /// `template:NAME`, `global`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_scope: Option<String>,
    /// The agent's approval mode.
    pub mode: ApprovalMode,
    /// Every assessor's verdict.
    pub verdicts: Vec<Verdict>,
}

/// What a rule applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every agent.
    Global,
    /// One agent.
    Agent(String),
    /// Agents created from one template.
    Template(String),
}

impl Scope {
    /// Parses `global`, `agent:ID` or `template:NAME`.
    pub fn parse(s: &str) -> Result<Scope, String> {
        match s.split_once(':') {
            None if s == "global" => Ok(Scope::Global),
            Some(("agent", id)) if !id.trim().is_empty() => Ok(Scope::Agent(id.to_string())),
            Some(("template", n)) if !n.trim().is_empty() => Ok(Scope::Template(n.to_string())),
            _ => Err(format!(
                "scope `{s}` is not one of `global`, `agent:ID`, `template:NAME`"
            )),
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Global => f.write_str("global"),
            Scope::Agent(id) => write!(f, "agent:{id}"),
            Scope::Template(n) => write!(f, "template:{n}"),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Scope, D::Error> {
        let s = String::deserialize(d)?;
        Scope::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A rule as configured: its text, scope, and the examples it must match
/// and not match (checked when it loads).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// `allow|ask|deny TOOL[(PATTERN)]`.
    pub rule: String,
    /// `global` (default), `agent:ID` or `template:NAME`.
    #[serde(default = "global_scope")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub scope: Scope,
    /// Inputs the rule must match: strings (the main or named argument) or
    /// objects (whole arguments).
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<Value>,
    /// Inputs it must not match.
    #[serde(default, rename = "not_match", skip_serializing_if = "Vec::is_empty")]
    pub not_matches: Vec<Value>,
}

fn global_scope() -> Scope {
    Scope::Global
}
/// A stored or configured rule, as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleView {
    /// Its id (`config-N` for rules of `paddock.toml`).
    pub id: String,
    /// Its spec.
    #[serde(flatten)]
    pub spec: RuleSpec,
    /// `config`, `api` or `approval` (added by remembering an approval).
    pub source: String,
    /// Who added it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// When it was added (none for config rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Where an approval stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for a human.
    Pending,
    /// Approved: the call runs.
    Approved,
    /// Denied: the call is refused.
    Denied,
    /// Nobody decided in time: refused.
    Expired,
    /// The agent was interrupted or deleted first.
    Cancelled,
}

impl ApprovalStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
            ApprovalStatus::Cancelled => "cancelled",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<ApprovalStatus> {
        Some(match s {
            "pending" => ApprovalStatus::Pending,
            "approved" => ApprovalStatus::Approved,
            "denied" => ApprovalStatus::Denied,
            "expired" => ApprovalStatus::Expired,
            "cancelled" => ApprovalStatus::Cancelled,
            _ => return None,
        })
    }
}

/// What "remember" stores with an approval decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Remember {
    /// Nothing: this call only.
    #[default]
    Once,
    /// A rule for this agent: the exact call (`allow` when approved, `deny`
    /// when denied).
    Agent,
    /// The same rule for every agent.
    Always,
}

impl Remember {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Remember::Once => "once",
            Remember::Agent => "agent",
            Remember::Always => "always",
        }
    }
}
