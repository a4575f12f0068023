//! Limits, budgets and routing for one run: which model takes the next
//! call (the agent's own, or its router's choice of tier), which provider
//! serves it, and whether the run may go on — its turn and wall-time
//! limits, and the cost budgets checked before anything is sent (the
//! agent's lifetime, daily and monthly limits, the global daily and monthly
//! budgets). An agent that may delegate counts its sub-agents' spend in
//! its own limits, and a sub-agent's call is refused when it would pass
//! the limits of an ancestor (which cover their sub-agents' spend). The
//! arithmetic of estimates and the router's rules are in
//! `agent::cost`; this room decides, for one agent, which of them apply.

use super::{Agent, AgentError, Failure, Provider, Providers};
use crate::agent::ModelRef;
use crate::agent::config::SpendCap;
use crate::agent::config::{Budgets, RouterConfig};
use crate::agent::context::{Item, Transcript};
use crate::agent::cost::{self, BudgetUse, OwnersSpend, RouteInput, Spend};
use paddock_llm::config::{ModelConfig, Price};
use paddock_protocol::agent::{AgentLimits, Tier, day_start, month_start};
use paddock_protocol::events::ErrorCode;
use paddock_protocol::events::RouteInfo;
use paddock_protocol::identity::LOCAL_USER;
use paddock_store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

impl Agent {
    /// The provider and model entry of `m` (see [`find_model`]).
    pub(super) fn resolve_model(
        &self,
        m: &ModelRef,
    ) -> Result<(Arc<Provider>, ModelConfig), Failure> {
        find_model(&self.deps.providers, m, Some(self.owner()))
    }

    /// The id of the user it belongs to.
    pub(super) fn owner(&self) -> &str {
        self.config.owner.as_deref().unwrap_or(LOCAL_USER)
    }

    /// The router's choice for the next call, with what the `usage` event
    /// records about it.
    pub(super) fn route(
        &self,
        router: &RouterConfig,
        transcript: &Transcript,
        cheap_failures: u32,
    ) -> (Tier, RouteInfo) {
        let (tier, info) = route_call(router, transcript.items(), cheap_failures, |name| {
            self.tool_read_only(name)
        });
        tracing::debug!(router = %router.name, tier = tier.as_str(), reason = %info.reason, "routed a model call");
        (tier, info)
    }

    /// The refusal when the next call, estimated at `prompt_tokens` of
    /// prompt on `model`, would exceed a budget that applies to this agent:
    /// its lifetime, daily and monthly limits, its owner's and its owner's
    /// groups' budgets, and the global daily and monthly budgets. A model
    /// without a known price cannot be budgeted: when a budget applies,
    /// its calls are refused.
    pub(super) async fn check_budgets(
        &self,
        m: &ModelRef,
        model: &ModelConfig,
        prompt_tokens: u64,
    ) -> Result<Option<Failure>, AgentError> {
        let limits = &self.config.limits;
        let (global, _) = self.deps.budgets.get();
        let store = &self.deps.store;
        let owners = if global.has_owner_caps() {
            owner_budgets(store, &global, self.owner()).await?
        } else {
            Vec::new()
        };
        // Ancestors with limits of their own: their budgets cover this
        // agent's spend.
        let ancestors = if self.config.parent.is_some() {
            ancestors_with_limits(store, &self.config).await?
        } else {
            Vec::new()
        };
        let Some(reads) = Reads::of(limits, &global, !owners.is_empty() || !ancestors.is_empty())
        else {
            return Ok(None);
        };
        let Some(price) = model.price() else {
            return Ok(Some(price_unknown(m)));
        };
        // An agent that may delegate: its own limits cover its
        // sub-agents' spend (all agents are read once for the tree).
        let records = if self.config.delegation.is_some() || !ancestors.is_empty() {
            store.list_agents(true).await?
        } else {
            Vec::new()
        };
        let tree = self.config.delegation.is_some();
        let lifetime = if reads.lifetime {
            if tree {
                TreeSpend::read(store, &records, &self.id, false)
                    .await?
                    .lifetime
            } else {
                store
                    .get_agent(&self.id)
                    .await?
                    .map_or(0.0, |r| r.usage.cost_usd)
            }
        } else {
            0.0
        };
        let mut spend = if reads.periodic {
            // One read of this month's usage serves every periodic budget;
            // everyone's only when a global budget applies.
            Spend::read(store, Some(&self.id), reads.everyone, chrono::Utc::now()).await?
        } else {
            Spend::default()
        };
        if tree && (limits.daily_usd.is_some() || limits.monthly_usd.is_some()) {
            let t = TreeSpend::read(store, &records, &self.id, true).await?;
            (spend.agent_today, spend.agent_month) = (t.today, t.month);
        }
        let mut ancestor_uses = Vec::new();
        for a in &ancestors {
            let periodic = a.limits.daily_usd.is_some() || a.limits.monthly_usd.is_some();
            let t = TreeSpend::read(store, &records, &a.id, periodic).await?;
            ancestor_uses.extend(ancestor_budget_uses(a, &t));
        }
        let owner_uses = if owners.is_empty() {
            Vec::new()
        } else {
            let now = chrono::Utc::now();
            let mut members: Vec<String> = owners
                .iter()
                .flat_map(|o| o.members.iter().cloned())
                .collect();
            members.sort();
            members.dedup();
            // A second ahead: what was stored in this very instant counts.
            let records = store
                .usage_of_owners(
                    month_start(now),
                    now + chrono::Duration::seconds(1),
                    &members,
                )
                .await?;
            owner_budget_uses(&owners, &records, day_start(now))
        };
        let mut uses = budget_uses(limits, &global, lifetime, &spend, owner_uses);
        // The ancestors' right after the agent's own.
        let own = uses
            .iter()
            .take_while(|u| u.name.starts_with("agent "))
            .count();
        for (i, u) in ancestor_uses.into_iter().enumerate() {
            uses.insert(own + i, u);
        }
        Ok(over_budget(
            &uses,
            m,
            &price,
            prompt_tokens,
            self.config.max_tokens,
        ))
    }
}

/// An ancestor of an agent (its parent, theirs, …) with limits of its own.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Ancestor {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its limits (at least one of its cost limits is set).
    pub limits: AgentLimits,
}

/// The ancestors of an agent configured `config` whose cost limits are
/// set, nearest first (at most 16 levels up; a loop ends the walk).
pub(super) async fn ancestors_with_limits(
    store: &Store,
    config: &paddock_protocol::agent::AgentConfig,
) -> Result<Vec<Ancestor>, StoreError> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut next = config.parent.clone();
    while let Some(id) = next.take() {
        if !seen.insert(id.clone()) || seen.len() > 16 {
            break;
        }
        let Some(r) = store.get_agent(&id).await? else {
            break;
        };
        let l = &r.config.limits;
        if l.max_cost_usd.is_some() || l.daily_usd.is_some() || l.monthly_usd.is_some() {
            out.push(Ancestor {
                id: r.id.clone(),
                name: r.name.clone(),
                limits: l.clone(),
            });
        }
        next = r.config.parent.clone();
    }
    Ok(out)
}

/// What an agent and its sub-agents (deleted ones too) spent.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct TreeSpend {
    /// Over their lives.
    pub lifetime: f64,
    /// Today (UTC; read only when asked).
    pub today: f64,
    /// This month (UTC; read only when asked).
    pub month: f64,
}

impl TreeSpend {
    /// The spend of `root` and its descendants among `records` (every
    /// agent, deleted ones too); today's and this month's only when
    /// `periodic`.
    pub async fn read(
        store: &Store,
        records: &[paddock_store::AgentRecord],
        root: &str,
        periodic: bool,
    ) -> Result<TreeSpend, StoreError> {
        let below = crate::agent::delegate::descendants(records, root);
        let own = records
            .iter()
            .find(|r| r.id == root)
            .map_or(0.0, |r| r.usage.cost_usd);
        let mut t = TreeSpend {
            lifetime: own + below.iter().map(|r| r.usage.cost_usd).sum::<f64>(),
            ..TreeSpend::default()
        };
        if periodic {
            let now = chrono::Utc::now();
            let mut ids: Vec<String> = below.iter().map(|r| r.id.clone()).collect();
            ids.push(root.to_string());
            let usage = store
                .usage_of_agents(month_start(now), now + chrono::Duration::seconds(1), &ids)
                .await?;
            let day = day_start(now);
            for u in usage {
                t.month += u.cost_usd;
                if u.ts >= day {
                    t.today += u.cost_usd;
                }
            }
        }
        Ok(t)
    }
}

/// The uses of an ancestor's cost limits, with what it and its
/// sub-agents spent.
pub(super) fn ancestor_budget_uses(a: &Ancestor, spent: &TreeSpend) -> Vec<BudgetUse> {
    [
        (
            "lifetime",
            "max_cost_usd",
            "over its life",
            a.limits.max_cost_usd,
            spent.lifetime,
        ),
        (
            "daily",
            "daily_usd",
            "today (UTC)",
            a.limits.daily_usd,
            spent.today,
        ),
        (
            "monthly",
            "monthly_usd",
            "this month (UTC)",
            a.limits.monthly_usd,
            spent.month,
        ),
    ]
    .into_iter()
    .filter_map(|(which, field, period, limit, spent)| {
        limit.map(|limit| BudgetUse {
            name: format!(
                "parent agent {}'s {which} budget (limits.{field}), which covers its sub-agents",
                a.name
            )
            .into(),
            period: format!("by agent {} and its sub-agents {period}", a.name).into(),
            limit,
            spent,
        })
    })
    .collect()
}

/// The router named `name` (none when the agent names none: its model is
/// fixed), or the failure when no such router is configured.
pub(super) fn router_of(
    routers: &HashMap<String, RouterConfig>,
    name: Option<&str>,
) -> Result<Option<RouterConfig>, Failure> {
    let Some(name) = name else {
        return Ok(None);
    };
    match routers.get(name) {
        Some(r) => Ok(Some(r.clone())),
        None => Err(Failure::new(
            ErrorCode::ModelFailed,
            format!("router `{name}` is not configured (see [[routers]] in paddock.toml)"),
        )),
    }
}

/// The model of `router` for calls of `tier`.
pub(super) fn tier_model(router: &RouterConfig, tier: Tier) -> &ModelRef {
    match tier {
        Tier::Cheap => &router.cheap,
        Tier::Strong => &router.strong,
    }
}

/// The provider and model entry of `m` among `providers` (an unlisted
/// model of a configured provider gets default settings and no price).
pub(super) fn find_model(
    providers: &Providers,
    m: &ModelRef,
    owner: Option<&str>,
) -> Result<(Arc<Provider>, ModelConfig), Failure> {
    let provider = providers.get_for(&m.provider, owner).ok_or_else(|| {
        Failure::new(
            ErrorCode::ModelFailed,
            format!(
                "provider `{}` is not configured (add it in the dashboard or with POST /api/config/providers, or under [[providers]] in paddock.toml)",
                m.provider
            ),
        )
    })?;
    let model = provider
        .config
        .model(&m.model)
        .cloned()
        .unwrap_or_else(|| ModelConfig::named(&m.model));
    Ok((provider, model))
}

/// How many prompt tokens a model with `context_window` takes before old
/// tool outputs are masked (`mask_threshold` of its window).
pub(super) fn mask_budget(context_window: u64, mask_threshold: f64) -> u64 {
    (context_window as f64 * mask_threshold) as u64
}

/// The router's choice for a call after the conversation `items`, with
/// `cheap_failures` in a row so far; `read_only` says which tools only
/// read. Returns the tier and what the `usage` event records.
pub(super) fn route_call(
    router: &RouterConfig,
    items: &[Item],
    cheap_failures: u32,
    read_only: impl Fn(&str) -> bool,
) -> (Tier, RouteInfo) {
    let previous_calls = cost::previous_tools(items).map(|names| {
        names
            .into_iter()
            .map(|n| {
                let read_only = read_only(&n);
                (n, read_only)
            })
            .collect()
    });
    let (tier, reason) = cost::route(
        router,
        &RouteInput {
            previous_calls,
            cheap_failures,
        },
    );
    (
        tier,
        RouteInfo {
            router: router.name.clone(),
            tier,
            reason,
            strong: router.strong.clone(),
        },
    )
}

/// The failure when a run has used its wall time (`elapsed` reached
/// `limits.max_wall_time_secs`).
pub(super) fn wall_time_exceeded(limits: &AgentLimits, elapsed: Duration) -> Option<Failure> {
    let max = limits.max_wall_time_secs?;
    (elapsed >= Duration::from_secs(max)).then(|| {
        Failure::new(
            ErrorCode::LimitTime,
            format!("the run reached its wall-time limit of {max} s"),
        )
    })
}

/// The failure when a run that made `turns` model calls may make no more.
pub(super) fn turns_exhausted(limits: &AgentLimits, turns: u32) -> Option<Failure> {
    (turns >= limits.max_turns).then(|| {
        Failure::new(
            ErrorCode::LimitTurns,
            format!(
                "the run reached its limit of {} model calls",
                limits.max_turns
            ),
        )
    })
}

/// What must be read to check the budgets that apply to an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Reads {
    /// The agent's lifetime spend (`limits.max_cost_usd` is set).
    pub lifetime: bool,
    /// This month's usage (a daily or monthly budget applies).
    pub periodic: bool,
    /// Everyone's usage, not only the agent's (a global budget applies).
    pub everyone: bool,
}

impl Reads {
    /// The reads for an agent with `limits` under the `global` budgets,
    /// `owners` when a budget of its owner or of one of the owner's groups
    /// applies; none when no budget applies (then nothing is checked, not
    /// even the price).
    pub fn of(limits: &AgentLimits, global: &Budgets, owners: bool) -> Option<Reads> {
        let everyone = global.daily_usd.is_some() || global.monthly_usd.is_some();
        let reads = Reads {
            lifetime: limits.max_cost_usd.is_some(),
            periodic: limits.daily_usd.is_some() || limits.monthly_usd.is_some() || everyone,
            everyone,
        };
        (reads.lifetime || reads.periodic || owners).then_some(reads)
    }
}

/// A budget of a user or a group that applies to an agent of the user (or
/// of a member): its cap and whose agents count against it.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct OwnerBudget {
    /// `user alice` or `group devs`.
    pub label: String,
    /// Where it is set: `users` or `groups` (of `budgets`).
    pub section: &'static str,
    /// Whose agents, in words: `alice's agents`, `the agents of group
    /// devs' members`.
    pub whose: String,
    /// The cap.
    pub cap: SpendCap,
    /// The user ids whose agents count.
    pub members: Vec<String>,
}

/// The budgets of `owner` and of each group `owner` is in (only those with
/// a cap), named by the user's and the groups' names.
pub(super) async fn owner_budgets(
    store: &Store,
    global: &Budgets,
    owner: &str,
) -> Result<Vec<OwnerBudget>, StoreError> {
    let mut out = Vec::new();
    if let Some(cap) = global.users.get(owner).filter(|c| c.is_set()) {
        let name = store
            .get_user(owner)
            .await?
            .map_or_else(|| owner.to_string(), |u| u.name);
        out.push(OwnerBudget {
            label: format!("user {name}"),
            section: "users",
            whose: format!("{name}'s agents"),
            cap: *cap,
            members: vec![owner.to_string()],
        });
    }
    if global.groups.values().any(SpendCap::is_set) {
        for id in store.groups_of(owner).await? {
            let Some(cap) = global.groups.get(&id).filter(|c| c.is_set()) else {
                continue;
            };
            let Some(group) = store.get_group(&id).await? else {
                continue;
            };
            out.push(OwnerBudget {
                label: format!("group {}", group.name),
                section: "groups",
                whose: format!("the agents of group {}'s members", group.name),
                cap: *cap,
                members: group.members,
            });
        }
    }
    Ok(out)
}

/// The uses of the owners' budgets, with what their members' agents spent
/// (`records`: this month's usage with each agent's owner; `day`: the
/// start of today).
pub(super) fn owner_budget_uses(
    owners: &[OwnerBudget],
    records: &[(String, paddock_store::UsageRecord)],
    day: chrono::DateTime<chrono::Utc>,
) -> Vec<BudgetUse> {
    let mut uses = Vec::new();
    for o in owners {
        let spent = OwnersSpend::of(records, &o.members, day);
        for (limit, which, field, period, spent) in [
            (
                o.cap.daily_usd,
                "daily",
                "daily_usd",
                "today (UTC)",
                spent.today,
            ),
            (
                o.cap.monthly_usd,
                "monthly",
                "monthly_usd",
                "this month (UTC)",
                spent.month,
            ),
        ] {
            let Some(limit) = limit else { continue };
            uses.push(BudgetUse {
                name: format!(
                    "{}'s {which} budget (budgets.{}.*.{field})",
                    o.label, o.section
                )
                .into(),
                period: format!("by {} {period}", o.whose).into(),
                limit,
                spent,
            });
        }
    }
    uses
}

/// The budgets that apply, in the order they are checked, with what was
/// spent in each one's period: `lifetime` by the agent over its life,
/// `spend` today and this month; `owners` (the owner's and its groups'
/// budgets) come after the agent's own and before the global ones.
pub(super) fn budget_uses(
    limits: &AgentLimits,
    global: &Budgets,
    lifetime: f64,
    spend: &Spend,
    owners: Vec<BudgetUse>,
) -> Vec<BudgetUse> {
    let own: Vec<BudgetUse> = [
        (
            "agent lifetime budget (limits.max_cost_usd)",
            "over the agent's life (with its sub-agents')",
            limits.max_cost_usd,
            lifetime,
        ),
        (
            "agent daily budget (limits.daily_usd)",
            "by this agent (and its sub-agents) today (UTC)",
            limits.daily_usd,
            spend.agent_today,
        ),
        (
            "agent monthly budget (limits.monthly_usd)",
            "by this agent (and its sub-agents) this month (UTC)",
            limits.monthly_usd,
            spend.agent_month,
        ),
    ]
    .into_iter()
    .filter_map(|(name, period, limit, spent)| {
        limit.map(|limit| BudgetUse {
            name: name.into(),
            period: period.into(),
            limit,
            spent,
        })
    })
    .collect();
    let all = [
        (
            "global daily budget (budgets.daily_usd)",
            "by all agents today (UTC)",
            global.daily_usd,
            spend.all_today,
        ),
        (
            "global monthly budget (budgets.monthly_usd)",
            "by all agents this month (UTC)",
            global.monthly_usd,
            spend.all_month,
        ),
    ]
    .into_iter()
    .filter_map(|(name, period, limit, spent)| {
        limit.map(|limit| BudgetUse {
            name: name.into(),
            period: period.into(),
            limit,
            spent,
        })
    });
    own.into_iter().chain(owners).chain(all).collect()
}

/// The refusal of a call to `m`, which has no known price, while a budget
/// applies.
pub(super) fn price_unknown(m: &ModelRef) -> Failure {
    Failure::new(
        ErrorCode::BudgetPriceUnknown,
        format!(
            "model `{}` of provider `{}` has no known price, so the budgets that apply to this agent cannot be enforced; set its input_per_mtok and output_per_mtok in paddock.toml. Nothing was sent to the model.",
            m.model, m.provider
        ),
    )
}

/// The refusal when a call to `m` at `price` with `prompt_tokens` of prompt
/// (and, when answers are capped, `max_tokens` of answer) would exceed one
/// of `uses`; reaching a budget exactly is allowed.
pub(super) fn over_budget(
    uses: &[BudgetUse],
    m: &ModelRef,
    price: &Price,
    prompt_tokens: u64,
    max_tokens: Option<u32>,
) -> Option<Failure> {
    let estimate = cost::estimate_cost(price, prompt_tokens, max_tokens);
    cost::exceeded(uses, estimate).map(|message| {
        Failure::new(
            ErrorCode::BudgetExceeded,
            format!(
                "{message} (estimate: {prompt_tokens} prompt tokens on `{}` at ${} per million input tokens{})",
                m.model,
                price.input_per_mtok,
                match max_tokens {
                    Some(n) => format!(
                        ", plus {n} output tokens (max_tokens) at ${} per million",
                        price.output_per_mtok
                    ),
                    None => String::new(),
                }
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_llm::config::ProviderConfig;

    fn model(provider: &str, model: &str) -> ModelRef {
        ModelRef {
            provider: provider.into(),
            model: model.into(),
        }
    }

    fn router() -> RouterConfig {
        RouterConfig {
            name: "r".into(),
            cheap: model("p", "mini"),
            strong: model("p", "big"),
            escalate_after_failures: 2,
            first_call: Tier::Cheap,
        }
    }

    #[test]
    fn the_router_is_the_named_one_or_none() {
        let routers = HashMap::from([("r".to_string(), router())]);
        assert_eq!(router_of(&routers, None), Ok(None));
        assert_eq!(router_of(&routers, Some("r")), Ok(Some(router())));
        assert_eq!(
            router_of(&routers, Some("fast")),
            Err(Failure::new(
                ErrorCode::ModelFailed,
                "router `fast` is not configured (see [[routers]] in paddock.toml)".into()
            ))
        );
        assert_eq!(tier_model(&router(), Tier::Cheap), &model("p", "mini"));
        assert_eq!(tier_model(&router(), Tier::Strong), &model("p", "big"));
    }

    #[test]
    fn a_model_is_found_at_its_provider_listed_or_not() {
        let config: ProviderConfig = serde_json::from_value(serde_json::json!({
            "name": "p",
            "base_url": "http://127.0.0.1:9/v1",
            "models": [{"name": "big", "context_window": 1000, "input_per_mtok": 3.0}],
        }))
        .unwrap();
        let providers = Providers::new([Provider::new(&config).unwrap()]);
        let (p, listed) = find_model(&providers, &model("p", "big"), None).unwrap();
        assert_eq!(p.config.name, "p");
        assert_eq!(
            (listed.context_window, listed.input_per_mtok),
            (1000, Some(3.0))
        );
        let (_, unlisted) = find_model(&providers, &model("p", "house-model"), None).unwrap();
        assert_eq!(unlisted, ModelConfig::named("house-model"));
        assert_eq!(unlisted.price(), None, "an unlisted model has no price");
        let Err(missing) = find_model(&providers, &model("q", "big"), Some("alice")) else {
            panic!("provider q is not configured");
        };
        assert_eq!(
            missing,
            Failure::new(
                ErrorCode::ModelFailed,
                "provider `q` is not configured (add it in the dashboard or with POST /api/config/providers, or under [[providers]] in paddock.toml)".into()
            )
        );
    }

    #[test]
    fn masking_starts_at_the_threshold_of_the_window() {
        assert_eq!(mask_budget(128_000, 0.5), 64_000);
        assert_eq!(mask_budget(128_000, 1.0), 128_000);
        assert_eq!(mask_budget(1001, 0.5), 500, "rounded down");
    }

    #[test]
    fn routing_reads_the_latest_answer_and_which_tools_only_read() {
        use crate::agent::fixtures::answer;
        let read_only = |name: &str| name.starts_with("read");
        let (tier, info) = route_call(&router(), &[], 0, read_only);
        assert_eq!(tier, Tier::Cheap);
        assert_eq!(
            info,
            RouteInfo {
                router: "r".into(),
                tier: Tier::Cheap,
                reason: "first call of the run (first_call = cheap)".into(),
                strong: model("p", "big"),
            }
        );
        let read = [answer(&["read_file", "read_dir"])];
        assert_eq!(route_call(&router(), &read, 0, read_only).0, Tier::Cheap);
        let wrote = [answer(&["read_file", "write_file"])];
        let (tier, info) = route_call(&router(), &wrote, 0, read_only);
        assert_eq!((tier, info.tier.as_str()), (Tier::Strong, "strong"));
        assert!(info.reason.ends_with("write_file"), "{}", info.reason);
        assert_eq!(
            route_call(&router(), &read, 1, read_only).0,
            Tier::Cheap,
            "one failure is below escalate_after_failures"
        );
        assert_eq!(
            route_call(&router(), &read, 2, read_only).0,
            Tier::Strong,
            "exactly escalate_after_failures escalates"
        );
    }

    #[test]
    fn turns_run_out_exactly_at_the_limit() {
        let limits = AgentLimits {
            max_turns: 3,
            ..AgentLimits::default()
        };
        assert_eq!(turns_exhausted(&limits, 0), None);
        assert_eq!(turns_exhausted(&limits, 2), None, "the third call may go");
        assert_eq!(
            turns_exhausted(&limits, 3),
            Some(Failure::new(
                ErrorCode::LimitTurns,
                "the run reached its limit of 3 model calls".into()
            ))
        );
    }

    #[test]
    fn wall_time_runs_out_exactly_at_the_limit() {
        let limits = AgentLimits {
            max_wall_time_secs: Some(10),
            ..AgentLimits::default()
        };
        assert_eq!(
            wall_time_exceeded(&limits, Duration::from_millis(9_999)),
            None
        );
        assert_eq!(
            wall_time_exceeded(&limits, Duration::from_secs(10)),
            Some(Failure::new(
                ErrorCode::LimitTime,
                "the run reached its wall-time limit of 10 s".into()
            ))
        );
        assert_eq!(
            wall_time_exceeded(&AgentLimits::default(), Duration::from_secs(u64::MAX / 2)),
            None,
            "no limit"
        );
    }

    fn limits(lifetime: Option<f64>, daily: Option<f64>, monthly: Option<f64>) -> AgentLimits {
        AgentLimits {
            max_cost_usd: lifetime,
            daily_usd: daily,
            monthly_usd: monthly,
            ..AgentLimits::default()
        }
    }

    fn global(daily: Option<f64>, monthly: Option<f64>) -> Budgets {
        Budgets {
            daily_usd: daily,
            monthly_usd: monthly,
            ..Budgets::default()
        }
    }

    #[test]
    fn only_the_spend_that_budgets_need_is_read() {
        let none = global(None, None);
        assert_eq!(Reads::of(&limits(None, None, None), &none, false), None);
        let read = |lifetime, periodic, everyone| {
            Some(Reads {
                lifetime,
                periodic,
                everyone,
            })
        };
        assert_eq!(
            Reads::of(&limits(Some(1.0), None, None), &none, false),
            read(true, false, false)
        );
        assert_eq!(
            Reads::of(&limits(None, None, Some(1.0)), &none, false),
            read(false, true, false),
            "the agent's own usage only"
        );
        assert_eq!(
            Reads::of(&limits(None, None, None), &global(None, Some(5.0)), false),
            read(false, true, true)
        );
        assert_eq!(
            Reads::of(&limits(None, None, None), &none, true),
            read(false, false, false),
            "an owner's budget is read apart, but it applies"
        );
        assert_eq!(
            Reads::of(
                &limits(Some(0.0), Some(0.0), None),
                &global(Some(0.0), None),
                false
            ),
            read(true, true, true),
            "a zero budget applies"
        );
    }

    #[test]
    fn budgets_apply_in_order_with_their_periods_spend() {
        let spend = Spend {
            agent_today: 1.0,
            agent_month: 2.0,
            all_today: 3.0,
            all_month: 4.0,
        };
        let owner = BudgetUse {
            name: "user alice's daily budget (budgets.users.*.daily_usd)".into(),
            period: "by alice's agents today (UTC)".into(),
            limit: 5.0,
            spent: 4.0,
        };
        let uses = budget_uses(
            &limits(Some(10.0), None, Some(20.0)),
            &global(Some(30.0), None),
            0.5,
            &spend,
            vec![owner],
        );
        let got: Vec<(&str, f64, f64)> = uses
            .iter()
            .map(|u| (u.name.as_ref(), u.limit, u.spent))
            .collect();
        assert_eq!(
            got,
            [
                ("agent lifetime budget (limits.max_cost_usd)", 10.0, 0.5),
                ("agent monthly budget (limits.monthly_usd)", 20.0, 2.0),
                (
                    "user alice's daily budget (budgets.users.*.daily_usd)",
                    5.0,
                    4.0
                ),
                ("global daily budget (budgets.daily_usd)", 30.0, 3.0),
            ]
        );
        assert!(
            budget_uses(
                &limits(None, None, None),
                &global(None, None),
                9.0,
                &spend,
                vec![]
            )
            .is_empty()
        );
    }

    #[test]
    fn owner_budgets_count_every_members_agents() {
        use chrono::TimeZone;
        let at = |owner: &str, day: u32, cost: f64| {
            (
                owner.to_string(),
                paddock_store::UsageRecord {
                    agent_id: format!("{owner}-agent"),
                    ts: chrono::Utc
                        .with_ymd_and_hms(2026, 11, day, 12, 0, 0)
                        .unwrap(),
                    provider: "p".into(),
                    model: "m".into(),
                    input_tokens: 1,
                    output_tokens: 1,
                    cached_tokens: 0,
                    cost_usd: cost,
                    price_known: true,
                    duration_ms: 1,
                    ttft_ms: None,
                    route: None,
                    reasoning_tokens: 0,
                    failover: Vec::new(),
                },
            )
        };
        let records = [
            at("u1", 2, 1.0),
            at("u1", 17, 0.5),
            at("u2", 17, 2.0),
            at("u3", 17, 8.0),
        ];
        let day = chrono::Utc.with_ymd_and_hms(2026, 11, 17, 0, 0, 0).unwrap();
        let owners = [
            OwnerBudget {
                label: "user alice".into(),
                section: "users",
                whose: "alice's agents".into(),
                cap: SpendCap {
                    daily_usd: Some(5.0),
                    monthly_usd: None,
                },
                members: vec!["u1".into()],
            },
            OwnerBudget {
                label: "group devs".into(),
                section: "groups",
                whose: "the agents of group devs' members".into(),
                cap: SpendCap {
                    daily_usd: Some(3.0),
                    monthly_usd: Some(4.0),
                },
                members: vec!["u1".into(), "u2".into()],
            },
        ];
        let uses = owner_budget_uses(&owners, &records, day);
        let got: Vec<(&str, &str, f64, f64)> = uses
            .iter()
            .map(|u| (u.name.as_ref(), u.period.as_ref(), u.limit, u.spent))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "user alice's daily budget (budgets.users.*.daily_usd)",
                    "by alice's agents today (UTC)",
                    5.0,
                    0.5
                ),
                (
                    "group devs's daily budget (budgets.groups.*.daily_usd)",
                    "by the agents of group devs' members today (UTC)",
                    3.0,
                    2.5
                ),
                (
                    "group devs's monthly budget (budgets.groups.*.monthly_usd)",
                    "by the agents of group devs' members this month (UTC)",
                    4.0,
                    3.5
                ),
            ],
            "u3 is in no budget here"
        );
        let m = cost::exceeded(&uses, 0.75).unwrap_or_default();
        assert!(
            m.starts_with("the group devs's daily budget (budgets.groups.*.daily_usd) of $3.000000 would be exceeded: $2.500000 spent by the agents of group devs' members today (UTC)"),
            "{m}"
        );
    }

    #[test]
    fn a_call_may_reach_a_budget_exactly_but_not_pass_it() {
        let price = Price {
            input_per_mtok: 1.0,
            cached_input_per_mtok: 0.5,
            output_per_mtok: 4.0,
        };
        let m = model("p", "big");
        let daily = |spent| {
            budget_uses(
                &limits(None, Some(3.0), None),
                &global(None, None),
                0.0,
                &Spend {
                    agent_today: spent,
                    ..Spend::default()
                },
                Vec::new(),
            )
        };
        // 1,000,000 prompt tokens at $1 per million: $1.
        assert_eq!(over_budget(&daily(2.0), &m, &price, 1_000_000, None), None);
        let over = over_budget(&daily(2.5), &m, &price, 1_000_000, None);
        let Some(Failure { code, message }) = over else {
            panic!("$2.5 + $1 passes $3");
        };
        assert_eq!(code, ErrorCode::BudgetExceeded);
        assert!(
            message.starts_with(
                "the agent daily budget (limits.daily_usd) of $3.000000 would be exceeded"
            ),
            "{message}"
        );
        assert!(
            message.ends_with(
                "(estimate: 1000000 prompt tokens on `big` at $1 per million input tokens)"
            ),
            "{message}"
        );
        // Capped answers count at the output price: $1 + 250,000 × $4/M = $2.
        let capped = over_budget(&daily(1.5), &m, &price, 1_000_000, Some(250_000));
        assert!(
            capped.is_some_and(|f| f.message.ends_with(
                "at $1 per million input tokens, plus 250000 output tokens (max_tokens) at $4 per million)"
            )),
            "$1.5 + $2 passes $3"
        );
        assert_eq!(
            over_budget(&daily(1.0), &m, &price, 1_000_000, Some(250_000)),
            None,
            "$1 + $2 reaches $3 exactly"
        );
    }

    #[test]
    fn a_model_without_a_price_is_refused_with_what_to_set() {
        let f = price_unknown(&model("p", "house-model"));
        assert_eq!(f.code, ErrorCode::BudgetPriceUnknown);
        assert!(
            f.message
                .starts_with("model `house-model` of provider `p` has no known price"),
            "{}",
            f.message
        );
        assert!(f.message.contains("input_per_mtok and output_per_mtok"));
    }
}
