//! The policy pipeline: every tool call — plugin tool,
//! MCP tool, shell — is judged here before it runs.
//!
//! 1. **Rules** ([`rules`]): ordered `allow` / `ask` / `deny` entries from
//!    the agent's own configuration, the API (scoped to an agent, a
//!    template, or global) and `[policy]` in `paddock.toml`. A matching
//!    `deny` wins over everything; otherwise the first matching rule
//!    decides (the agent's rules first, then its template's, then global).
//! 2. **Risk assessors**: every enabled `risk-assessor` plugin judges the
//!    call (level, suggested action, reason). One that fails or times out
//!    counts as `ask` at level high — never `allow`. An assessor's `deny`
//!    refuses the call.
//! 3. The agent's **approval mode** ([`ApprovalMode`]) turns the risk into
//!    allow or ask when no rule decided.
//!
//! The decision ([`Decision`]) carries every assessor's verdict and the rule
//! that matched; the agent records it as a `policy.decision` event and in
//! the audit log. Approvals themselves (parking a call until a human
//! decides) are the agent's ([`crate::agent`]) and the store's; this module
//! also owns what an approval shows: a diff of file writes ([`preview`]),
//! and the cleaning of untrusted tool output ([`sanitize`]).
//!
//! Connections a sandbox makes to hosts not on its network allow-list are
//! judged by the same rules, written `network(PATTERN)` ([`network`]).

pub mod network;
pub mod preview;
pub mod rules;
pub mod sanitize;

use paddock_plugins::{PluginHost, World};
pub use paddock_protocol::policy::{
    Action, ApprovalMode, ApprovalStatus, Decision, RiskLevel, RuleSpec, RuleView, Scope, Verdict,
};
use paddock_store::{Store, StoreError};
use rules::{CallText, Rule, RuleError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// A rule in `paddock.toml`: a string, or a table with examples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConfigRule {
    /// Just the rule text (global).
    Text(String),
    /// With a scope and examples.
    Spec(RuleSpec),
}

impl ConfigRule {
    fn spec(&self) -> RuleSpec {
        match self {
            ConfigRule::Text(rule) => RuleSpec {
                rule: rule.clone(),
                scope: Scope::Global,
                matches: Vec::new(),
                not_matches: Vec::new(),
            },
            ConfigRule::Spec(s) => s.clone(),
        }
    }
}

/// `[policy]` in `paddock.toml`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The approval mode of agents that do not name one.
    #[serde(default)]
    pub default_mode: ApprovalMode,
    /// Default time a pending approval waits before it is refused (none:
    /// it waits until decided).
    #[serde(default)]
    pub approval_timeout_secs: Option<u64>,
    /// Rules, in order.
    #[serde(default)]
    pub rules: Vec<ConfigRule>,
}

/// Why a policy operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A rule is not valid (or fails its own examples).
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// Something else about a request is not valid.
    #[error("{0}")]
    Invalid(String),
    /// No such rule.
    #[error("no policy rule with id `{0}`")]
    NotFound(String),
    /// Rules from `paddock.toml` are changed there, not through the API.
    #[error("rule `{0}` comes from paddock.toml; change it there")]
    ReadOnly(String),
    /// The store failed.
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
}

/// Compiles a spec, checking its examples.
pub fn compile(spec: &RuleSpec) -> Result<Rule, RuleError> {
    let rule = Rule::parse(&spec.rule)?;
    rule.check_examples(&spec.matches, &spec.not_matches)?;
    Ok(rule)
}

/// Compiles an agent's own rules (as in its configuration).
pub fn compile_all(texts: &[String]) -> Result<Vec<Rule>, RuleError> {
    texts.iter().map(|t| Rule::parse(t)).collect()
}

/// A rule ready to match.
#[derive(Clone, Debug)]
struct Loaded {
    view: RuleView,
    rule: Rule,
}

/// Where an applicable rule comes from.
#[derive(Clone, Copy, Debug)]
enum Origin<'a> {
    /// The agent's own configuration.
    Agent,
    /// `paddock.toml` or the store.
    Stored(&'a RuleView),
}

impl Origin<'_> {
    /// The scope as a decision shows it (`agent`, `config global`,
    /// `template:NAME`…).
    fn label(self) -> String {
        match self {
            Origin::Agent => "agent".into(),
            Origin::Stored(v) if v.source == "config" => format!("config {}", v.spec.scope),
            Origin::Stored(v) => v.spec.scope.to_string(),
        }
    }
}

/// Whom a call is judged for.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// The agent.
    pub agent_id: &'a str,
    /// The template it was created from.
    pub template: Option<&'a str>,
    /// Its own rules (from its configuration), compiled.
    pub rules: &'a [Rule],
    /// Its approval mode.
    pub mode: ApprovalMode,
}

impl<'a> Subject<'a> {
    /// The agent `agent_id` with configuration `config`, whose own rules,
    /// compiled, are `rules`.
    pub fn of_agent(
        agent_id: &'a str,
        config: &'a paddock_protocol::agent::AgentConfig,
        rules: &'a [Rule],
    ) -> Subject<'a> {
        Subject {
            agent_id,
            template: config.template.as_deref(),
            rules,
            mode: config.approval_mode,
        }
    }

    /// No agent: global rules only, in `mode`.
    pub fn no_agent(mode: ApprovalMode) -> Subject<'static> {
        Subject {
            agent_id: "",
            template: None,
            rules: &[],
            mode,
        }
    }
}

/// The call being judged.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    /// The tool's name as offered to the model.
    pub tool: &'a str,
    /// The arguments (a JSON object).
    pub arguments: &'a Value,
    /// Whether the tool only reads.
    pub read_only: bool,
    /// The model's call id.
    pub call_id: &'a str,
}

/// The policy of this host: its rules and the assessors it asks.
pub struct Policy {
    plugins: Arc<PluginHost>,
    store: Store,
    config: PolicyConfig,
    rules: RwLock<Arc<Vec<Loaded>>>,
}

impl Policy {
    /// Loads the rules of `config` and those stored through the API; a
    /// rule that does not parse or fails its examples is an error naming it.
    pub async fn open(
        config: PolicyConfig,
        store: Store,
        plugins: Arc<PluginHost>,
    ) -> Result<Policy, PolicyError> {
        let policy = Policy {
            plugins,
            store,
            config,
            rules: RwLock::new(Arc::new(Vec::new())),
        };
        policy.reload().await?;
        Ok(policy)
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// Reads the stored rules again.
    pub async fn reload(&self) -> Result<(), PolicyError> {
        let mut loaded = Vec::new();
        for (i, c) in self.config.rules.iter().enumerate() {
            let spec = c.spec();
            let rule = compile(&spec).map_err(|e| RuleError {
                message: format!("{} (paddock.toml [policy] rules[{i}])", e.message),
                ..e
            })?;
            loaded.push(Loaded {
                view: RuleView {
                    id: format!("config-{}", i + 1),
                    spec,
                    source: "config".into(),
                    created_by: None,
                    created_at: None,
                },
                rule,
            });
        }
        for stored in self.store.list_rules().await? {
            match compile(&stored.spec) {
                Ok(rule) => loaded.push(Loaded { view: stored, rule }),
                // Stored rules were checked when added: one that no longer
                // compiles (a newer, stricter parser) is skipped loudly
                // rather than stopping the host.
                Err(e) => {
                    tracing::error!(rule = %stored.id, error = %e, "skipping a stored policy rule")
                }
            }
        }
        if let Ok(mut rules) = self.rules.write() {
            *rules = Arc::new(loaded);
        }
        Ok(())
    }

    fn snapshot(&self) -> Arc<Vec<Loaded>> {
        self.rules
            .read()
            .map(|r| r.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Every rule (config first, then stored, oldest first).
    pub fn rules(&self) -> Vec<RuleView> {
        self.snapshot().iter().map(|l| l.view.clone()).collect()
    }

    /// Adds a rule through the API (or by remembering an approval).
    pub async fn add_rule(
        &self,
        spec: RuleSpec,
        source: &str,
        created_by: &str,
    ) -> Result<RuleView, PolicyError> {
        compile(&spec)?;
        let view = self.store.add_rule(&spec, source, created_by).await?;
        self.reload().await?;
        Ok(view)
    }

    /// Removes a rule added through the API.
    pub async fn remove_rule(&self, id: &str) -> Result<RuleView, PolicyError> {
        let rules = self.snapshot();
        let Some(found) = rules.iter().find(|l| l.view.id == id) else {
            return Err(PolicyError::NotFound(id.to_string()));
        };
        if found.view.source == "config" {
            return Err(PolicyError::ReadOnly(id.to_string()));
        }
        if !self.store.remove_rule(id).await? {
            return Err(PolicyError::NotFound(id.to_string()));
        }
        self.reload().await?;
        Ok(found.view.clone())
    }

    /// Rules that apply to `subject`, in the order they are tried, with
    /// where each comes from.
    fn applicable<'a>(
        &self,
        subject: &Subject<'a>,
        stored: &'a [Loaded],
    ) -> Vec<(&'a Rule, Origin<'a>)> {
        let mut out: Vec<(&Rule, Origin)> =
            subject.rules.iter().map(|r| (r, Origin::Agent)).collect();
        let in_tier = |tier: u8, scope: &Scope| match scope {
            Scope::Agent(id) => tier == 0 && id == subject.agent_id,
            Scope::Template(t) => tier == 1 && subject.template == Some(t.as_str()),
            Scope::Global => tier == 2,
        };
        for tier in 0..3 {
            out.extend(
                stored
                    .iter()
                    .filter(|l| in_tier(tier, &l.view.spec.scope))
                    .map(|l| (&l.rule, Origin::Stored(&l.view))),
            );
        }
        out
    }

    /// Whether rules deny every call of `tool` to `subject` (such tools are
    /// not offered to its model at all).
    pub fn denies_tool(&self, subject: &Subject<'_>, tool: &str, read_only: bool) -> bool {
        if subject.mode == ApprovalMode::ReadOnly && !read_only {
            return true;
        }
        let stored = self.snapshot();
        self.applicable(subject, &stored)
            .iter()
            .any(|(r, _)| r.action == Action::Deny && r.is_unconditional() && r.matches_tool(tool))
    }

    /// Judges one call: rules, then every enabled assessor, then the mode.
    pub async fn decide(&self, subject: &Subject<'_>, call: &Call<'_>) -> Decision {
        let stored = self.snapshot();
        let text = CallText::new(call.tool, call.arguments);
        let applicable = self.applicable(subject, &stored);
        if let Some((rule, scope)) = applicable
            .iter()
            .find(|(r, _)| r.action == Action::Deny && r.matches_call(&text))
        {
            // Denied outright: no assessor is asked.
            return Decision {
                action: Action::Deny,
                level: RiskLevel::Low,
                reasons: vec![format!("denied by rule `{}`", rule.text())],
                rule: Some(rule.text().to_string()),
                rule_scope: Some(scope.label()),
                mode: subject.mode,
                verdicts: Vec::new(),
            };
        }
        let verdicts = self.assess(subject.agent_id, call).await;
        let matched = applicable
            .iter()
            .find(|(r, _)| r.matches_call(&text))
            .map(|(r, origin)| (*r, origin.label()));
        combine(
            subject.mode,
            call,
            matched.as_ref().map(|(r, l)| (*r, l.as_str())),
            verdicts,
        )
    }

    /// Every enabled assessor's verdict, assessed concurrently, in the
    /// assessors' name order.
    async fn assess(&self, agent_id: &str, call: &Call<'_>) -> Vec<Verdict> {
        let assessors = match self.plugins.enabled_of(World::RiskAssessor) {
            Ok(names) => names,
            Err(e) => {
                return vec![Verdict {
                    assessor: "plugins".into(),
                    level: RiskLevel::High,
                    action: Action::Ask,
                    reason: format!("cannot list the risk assessors: {e}"),
                    failed: true,
                    duration_us: 0,
                }];
            }
        };
        let input = call.arguments.to_string();
        let runs = assessors.iter().map(|name| {
            let input = &input;
            async move {
                let started = Instant::now();
                let result = self
                    .plugins
                    .assess(name, call.tool, input, agent_id, call.call_id)
                    .await;
                let duration_us = started.elapsed().as_micros() as u64;
                match result {
                    Ok(a) => Verdict {
                        assessor: name.clone(),
                        level: a.level,
                        action: a.action,
                        reason: a.reason,
                        failed: false,
                        duration_us,
                    },
                    Err(e) => {
                        tracing::warn!(assessor = %name, error = %e, "risk assessor failed; counting it as ask");
                        Verdict {
                            assessor: name.clone(),
                            level: RiskLevel::High,
                            action: Action::Ask,
                            reason: format!("the assessor failed: {e}"),
                            failed: true,
                            duration_us,
                        }
                    }
                }
            }
        });
        futures::future::join_all(runs).await
    }
}

/// Turns the assessors' verdicts, the first matching (non-deny) rule and
/// the approval mode into a decision (see the module doc for the order).
pub fn combine(
    mode: ApprovalMode,
    call: &Call<'_>,
    matched: Option<(&Rule, &str)>,
    verdicts: Vec<Verdict>,
) -> Decision {
    let mut decision = Decision {
        action: Action::Allow,
        level: verdicts.iter().map(|v| v.level).max().unwrap_or_default(),
        reasons: Vec::new(),
        rule: None,
        rule_scope: None,
        mode,
        verdicts,
    };
    for v in &decision.verdicts {
        if v.failed || v.action != Action::Allow || v.level > RiskLevel::Low {
            decision.reasons.push(format!(
                "{} ({}): {}",
                v.assessor,
                v.level.as_str(),
                v.reason
            ));
        }
    }
    let failed = decision.verdicts.iter().any(|v| v.failed);
    let assessor_asks = decision.verdicts.iter().any(|v| v.action == Action::Ask);
    if decision.verdicts.iter().any(|v| v.action == Action::Deny) {
        decision.action = Action::Deny;
        return decision;
    }
    if mode == ApprovalMode::ReadOnly && !call.read_only {
        decision.action = Action::Deny;
        decision.reasons.push(format!(
            "approval mode read-only: `{}` is not a read-only tool",
            call.tool
        ));
        return decision;
    }
    if let Some((rule, scope)) = matched {
        decision.rule = Some(rule.text().to_string());
        decision.rule_scope = Some(scope.to_string());
        if rule.action == Action::Allow && failed {
            decision.action = Action::Ask;
            decision.reasons.push(format!(
                "rule `{}` allows it, but an assessor failed: a human decides",
                rule.text()
            ));
        } else {
            decision.action = rule.action;
            decision.reasons.push(format!(
                "{} by rule `{}`",
                if rule.action == Action::Allow {
                    "allowed"
                } else {
                    "asks"
                },
                rule.text()
            ));
        }
        return decision;
    }
    let ask = match mode {
        ApprovalMode::Auto | ApprovalMode::ReadOnly => failed || decision.level >= RiskLevel::High,
        ApprovalMode::AskRisky => failed || assessor_asks || decision.level >= RiskLevel::Medium,
        ApprovalMode::AskAll => true,
    };
    if ask {
        decision.action = Action::Ask;
        let why = match mode {
            ApprovalMode::AskAll => "every call asks".to_string(),
            _ if failed => "an assessor failed".to_string(),
            _ if decision.level == RiskLevel::Low => "an assessor asks".to_string(),
            _ => format!("{} risk asks", decision.level.as_str()),
        };
        decision
            .reasons
            .push(format!("approval mode {}: {why}", mode.as_str()));
    }
    decision
}

#[cfg(test)]
mod tests;
