//! Usage and cost reports over the store's `usage` events:
//! `/api/metrics/usage` (tokens and cost grouped by provider, model, agent,
//! user and day, in a time range) and `/api/metrics/cost-analysis` (spend
//! to date, burn rate, projection to the month's end, spend by user, the
//! most expensive agents and tools, cache hits and what they saved). Both
//! read only the agents a [`Scope`] lets through (the caller's visible
//! agents), and name each agent's owner from it.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use paddock_llm::config::{Price, ProviderConfig};
use paddock_protocol::agent::{Tier, day_start, month_start};
use paddock_protocol::events::EventBody;
use paddock_store::{Store, StoreError, UsageRecord};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;

/// What usage rows are grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// The provider.
    Provider,
    /// The model (with its provider).
    Model,
    /// The agent.
    Agent,
    /// The agent's owner.
    User,
    /// The UTC day.
    Day,
}

impl GroupBy {
    /// Parses `provider,model,agent,user,day` (any subset, any order).
    pub fn parse_list(text: &str) -> Result<Vec<GroupBy>, String> {
        let mut out = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let g = match part {
                "provider" => GroupBy::Provider,
                "model" => GroupBy::Model,
                "agent" => GroupBy::Agent,
                "user" => GroupBy::User,
                "day" => GroupBy::Day,
                other => {
                    return Err(format!(
                        "group_by: `{other}` is not one of provider, model, agent, user, day"
                    ));
                }
            };
            if !out.contains(&g) {
                out.push(g);
            }
        }
        out.sort();
        Ok(out)
    }
}

/// A user, as usage names an agent's owner.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
pub struct UsageUser {
    /// The user's id.
    pub id: String,
    /// The user's name.
    pub name: String,
}

/// Which agents' usage a report reads, and who owns each.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// The agents it reads, by id, with their owners. An agent not here
    /// is left out (its calls count nowhere).
    pub agents: HashMap<String, UsageUser>,
}

impl Scope {
    /// Whether the agent's calls are read.
    pub fn has(&self, agent_id: &str) -> bool {
        self.agents.contains_key(agent_id)
    }

    /// The agent's owner (None for an agent not in scope).
    pub fn owner(&self, agent_id: &str) -> Option<&UsageUser> {
        self.agents.get(agent_id)
    }
}

/// Usage of a group of model calls.
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct UsageRow {
    /// The UTC day (`YYYY-MM-DD`), when grouped by day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    /// The provider, when grouped by provider or model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The model, when grouped by model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The agent, when grouped by agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The agents' owner, when grouped by user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UsageUser>,
    /// Model calls.
    pub model_calls: u64,
    /// Prompt tokens (cached included).
    pub input_tokens: u64,
    /// Prompt tokens served from the cache.
    pub cached_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cost in USD of the priced calls.
    pub cost_usd: f64,
    /// Calls of models whose price is unknown (not in `cost_usd`).
    pub unpriced_calls: u64,
}

impl UsageRow {
    fn add(&mut self, u: &UsageRecord) {
        self.model_calls += 1;
        self.input_tokens += u.input_tokens;
        self.cached_tokens += u.cached_tokens;
        self.output_tokens += u.output_tokens;
        self.cost_usd += u.cost_usd;
        if !u.price_known {
            self.unpriced_calls += 1;
        }
    }
}

/// `GET /api/metrics/usage`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct UsageReport {
    /// The range's start (included).
    pub from: DateTime<Utc>,
    /// The range's end (excluded).
    pub to: DateTime<Utc>,
    /// What the rows are grouped by.
    pub group_by: Vec<GroupBy>,
    /// The groups, in key order.
    pub rows: Vec<UsageRow>,
    /// Everything in the range.
    pub total: UsageRow,
}

/// Groups the `records` of agents in `scope` into rows.
pub fn usage_report(
    records: &[UsageRecord],
    scope: &Scope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    group_by: &[GroupBy],
) -> UsageReport {
    let mut groups: BTreeMap<Vec<String>, UsageRow> = BTreeMap::new();
    let mut total = UsageRow::default();
    for u in records {
        let Some(owner) = scope.owner(&u.agent_id) else {
            continue;
        };
        total.add(u);
        let mut key = Vec::new();
        let mut row = UsageRow::default();
        for g in group_by {
            match g {
                GroupBy::Day => {
                    let day = u.ts.date_naive().to_string();
                    key.push(day.clone());
                    row.day = Some(day);
                }
                GroupBy::Provider => {
                    key.push(u.provider.clone());
                    row.provider = Some(u.provider.clone());
                }
                GroupBy::Model => {
                    if !group_by.contains(&GroupBy::Provider) {
                        key.push(u.provider.clone());
                        row.provider = Some(u.provider.clone());
                    }
                    key.push(u.model.clone());
                    row.model = Some(u.model.clone());
                }
                GroupBy::Agent => {
                    key.push(u.agent_id.clone());
                    row.agent_id = Some(u.agent_id.clone());
                }
                GroupBy::User => {
                    key.push(owner.id.clone());
                    row.user = Some(owner.clone());
                }
            }
        }
        groups.entry(key).or_insert(row).add(u);
    }
    UsageReport {
        from,
        to,
        group_by: group_by.to_vec(),
        rows: groups.into_values().collect(),
        total,
    }
}

/// An agent's spend.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct AgentSpend {
    /// The agent.
    pub agent_id: String,
    /// Its name.
    pub name: String,
    /// Cost in USD this month.
    pub cost_usd: f64,
    /// Model calls this month.
    pub model_calls: u64,
}

/// A user's spend: all their agents'.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct UserSpend {
    /// The user.
    pub user: UsageUser,
    /// Cost in USD this month.
    pub cost_usd: f64,
    /// Cost in USD today (UTC).
    pub cost_today_usd: f64,
    /// Model calls this month.
    pub model_calls: u64,
}

/// What one tool's results cost as model input.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ToolSpend {
    /// The tool.
    pub tool: String,
    /// Calls this month.
    pub calls: u64,
    /// Tokens its results added to prompts (estimated: 4 bytes a token).
    pub result_tokens: u64,
    /// Those tokens at the calling agent's input price, once each: an
    /// estimate of what the tool's output cost (later turns re-send it,
    /// mostly from the cache).
    pub estimated_cost_usd: f64,
}

/// Prompt caching.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct CacheFigures {
    /// Prompt tokens this month.
    pub input_tokens: u64,
    /// Of those, served from the provider's cache.
    pub cached_tokens: u64,
    /// cached / input (null without calls).
    pub hit_ratio: Option<f64>,
    /// What the cache hits saved against the full input price, in USD.
    pub saved_usd: f64,
}

/// What model routing saved.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct RoutingFigures {
    /// Routed calls this month.
    pub routed_calls: u64,
    /// Of those, answered by the cheap model.
    pub cheap_calls: u64,
    /// What the routed calls cost.
    pub cost_usd: f64,
    /// What they would have cost, all on the strong model.
    pub all_strong_usd: f64,
    /// The difference.
    pub saved_usd: f64,
}

/// `GET /api/metrics/cost-analysis`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct CostAnalysis {
    /// When it was computed.
    pub now: DateTime<Utc>,
    /// The start of this (UTC) month.
    pub month_start: DateTime<Utc>,
    /// Spent this month, in USD.
    pub spend_to_date_usd: f64,
    /// Spent today (UTC).
    pub spend_today_usd: f64,
    /// Average spend per day over the last 7 days.
    pub burn_rate_usd_per_day: f64,
    /// This month's spend at its end, if the burn rate holds.
    pub projected_month_usd: f64,
    /// Calls this month of models with an unknown price (not counted).
    pub unpriced_calls: u64,
    /// The most expensive agents this month (at most 10).
    pub top_agents: Vec<AgentSpend>,
    /// Spend by user (the agents' owners) this month, most first.
    pub users: Vec<UserSpend>,
    /// The tools whose output cost the most this month (at most 10).
    pub top_tools: Vec<ToolSpend>,
    /// Prompt caching this month.
    pub cache: CacheFigures,
    /// Model routing this month.
    pub routing: RoutingFigures,
}

fn days_in_month(now: DateTime<Utc>) -> i64 {
    let (y, m) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .map(|next| (next - month_start(now).date_naive()).num_days())
        .unwrap_or(30)
}

/// Prices of the configured models, by (provider, model).
fn prices(providers: &[ProviderConfig]) -> HashMap<(String, String), Price> {
    let mut out = HashMap::new();
    for p in providers {
        for m in &p.models {
            if let Some(price) = m.price() {
                out.insert((p.name.clone(), m.name.clone()), price);
            }
        }
    }
    out
}

/// The cost analysis at `now` of the agents in `scope`.
pub async fn cost_analysis(
    store: &Store,
    providers: &[ProviderConfig],
    scope: &Scope,
    now: DateTime<Utc>,
) -> Result<CostAnalysis, StoreError> {
    let month_start = month_start(now);
    let week_start = now - Duration::days(7);
    let from = month_start.min(week_start);
    let end = now + Duration::seconds(1);
    let mut records = store.usage_between(from, end, None).await?;
    records.retain(|u| scope.has(&u.agent_id));
    let prices = prices(providers);
    let today = day_start(now);

    let mut spend_to_date = 0.0;
    let mut spend_today = 0.0;
    let mut last_week = 0.0;
    let mut unpriced = 0;
    let mut per_agent: HashMap<String, (f64, u64)> = HashMap::new();
    let mut per_user: BTreeMap<UsageUser, (f64, f64, u64)> = BTreeMap::new();
    let mut cache = CacheFigures {
        input_tokens: 0,
        cached_tokens: 0,
        hit_ratio: None,
        saved_usd: 0.0,
    };
    for u in &records {
        if u.ts >= week_start {
            last_week += u.cost_usd;
        }
        if u.ts < month_start {
            continue;
        }
        spend_to_date += u.cost_usd;
        if u.ts >= today {
            spend_today += u.cost_usd;
        }
        if !u.price_known {
            unpriced += 1;
        }
        let a = per_agent.entry(u.agent_id.clone()).or_default();
        a.0 += u.cost_usd;
        a.1 += 1;
        if let Some(owner) = scope.owner(&u.agent_id) {
            let s = per_user.entry(owner.clone()).or_default();
            s.0 += u.cost_usd;
            if u.ts >= today {
                s.1 += u.cost_usd;
            }
            s.2 += 1;
        }
        cache.input_tokens += u.input_tokens;
        cache.cached_tokens += u.cached_tokens;
        if let Some(p) = prices.get(&(u.provider.clone(), u.model.clone())) {
            let cached = u.cached_tokens.min(u.input_tokens) as f64;
            cache.saved_usd += cached * (p.input_per_mtok - p.cached_input_per_mtok) / 1e6;
        }
    }
    let routing = routing_figures(records.iter().filter(|u| u.ts >= month_start), &prices);
    cache.hit_ratio =
        (cache.input_tokens > 0).then(|| cache.cached_tokens as f64 / cache.input_tokens as f64);

    // Days of data in the burn window: a store younger than a week averages
    // over what it has, not over empty days.
    let window_start = records.first().map_or(now, |u| u.ts.max(week_start));
    let window_days = ((now - window_start).num_seconds() as f64 / 86400.0).clamp(1.0, 7.0);
    let burn = last_week / window_days;
    let elapsed_days = (now - month_start).num_seconds() as f64 / 86400.0;
    let remaining_days = (days_in_month(now) as f64 - elapsed_days).max(0.0);

    let agents = store.list_agents(true).await?;
    let names: HashMap<&str, &paddock_store::AgentRecord> =
        agents.iter().map(|a| (a.id.as_str(), a)).collect();
    let mut top_agents: Vec<AgentSpend> = per_agent
        .into_iter()
        .map(|(id, (cost, calls))| AgentSpend {
            name: names
                .get(id.as_str())
                .map_or_else(String::new, |a| a.name.clone()),
            agent_id: id,
            cost_usd: cost,
            model_calls: calls,
        })
        .collect();
    top_agents.sort_by(|a, b| {
        b.cost_usd
            .total_cmp(&a.cost_usd)
            .then(a.agent_id.cmp(&b.agent_id))
    });
    top_agents.truncate(10);
    let mut users: Vec<UserSpend> = per_user
        .into_iter()
        .map(|(user, (cost, today, calls))| UserSpend {
            user,
            cost_usd: cost,
            cost_today_usd: today,
            model_calls: calls,
        })
        .collect();
    users.sort_by(|a, b| b.cost_usd.total_cmp(&a.cost_usd).then(a.user.cmp(&b.user)));

    let mut tools: HashMap<String, ToolSpend> = HashMap::new();
    for e in store
        .events_of_type_between("tool.result", month_start, end, None)
        .await?
    {
        let EventBody::ToolResult { tool, content, .. } = &e.body else {
            continue;
        };
        if !scope.has(&e.agent_id) {
            continue;
        }
        let tokens = content.len().div_ceil(4) as u64;
        let price = names
            .get(e.agent_id.as_str())
            .and_then(|a| {
                prices.get(&(
                    a.config.model.provider.clone(),
                    a.config.model.model.clone(),
                ))
            })
            .map_or(0.0, |p| p.input_per_mtok);
        let t = tools.entry(tool.clone()).or_insert_with(|| ToolSpend {
            tool: tool.clone(),
            calls: 0,
            result_tokens: 0,
            estimated_cost_usd: 0.0,
        });
        t.calls += 1;
        t.result_tokens += tokens;
        t.estimated_cost_usd += tokens as f64 * price / 1e6;
    }
    let mut top_tools: Vec<ToolSpend> = tools.into_values().collect();
    top_tools.sort_by(|a, b| {
        b.estimated_cost_usd
            .total_cmp(&a.estimated_cost_usd)
            .then(b.result_tokens.cmp(&a.result_tokens))
            .then(a.tool.cmp(&b.tool))
    });
    top_tools.truncate(10);

    Ok(CostAnalysis {
        now,
        month_start,
        spend_to_date_usd: spend_to_date,
        spend_today_usd: spend_today,
        burn_rate_usd_per_day: burn,
        projected_month_usd: spend_to_date + burn * remaining_days,
        unpriced_calls: unpriced,
        top_agents,
        users,
        top_tools,
        cache,
        routing,
    })
}

/// What routed calls cost against the same tokens on the router's strong
/// model. Calls whose strong model has no known price are left out.
fn routing_figures<'a>(
    records: impl Iterator<Item = &'a UsageRecord>,
    prices: &HashMap<(String, String), Price>,
) -> RoutingFigures {
    let mut r = RoutingFigures {
        routed_calls: 0,
        cheap_calls: 0,
        cost_usd: 0.0,
        all_strong_usd: 0.0,
        saved_usd: 0.0,
    };
    for u in records {
        let Some(route) = &u.route else { continue };
        let Some(strong) = prices.get(&(route.strong.provider.clone(), route.strong.model.clone()))
        else {
            continue;
        };
        r.routed_calls += 1;
        if route.tier == Tier::Cheap {
            r.cheap_calls += 1;
        }
        r.cost_usd += u.cost_usd;
        r.all_strong_usd += strong.cost(&paddock_llm::TokenUsage {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cached_tokens: u.cached_tokens,
            reasoning_tokens: u.reasoning_tokens,
        });
    }
    r.saved_usd = r.all_strong_usd - r.cost_usd;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rec(agent: &str, day: u32, provider: &str, model: &str, cost: f64) -> UsageRecord {
        UsageRecord {
            agent_id: agent.into(),
            ts: Utc
                .with_ymd_and_hms(2026, 11, day, 12, 0, 0)
                .single()
                .unwrap_or_default(),
            provider: provider.into(),
            model: model.into(),
            input_tokens: 100,
            output_tokens: 10,
            cached_tokens: 25,
            cost_usd: cost,
            price_known: cost > 0.0,
            duration_ms: 5,
            ttft_ms: None,
            route: None,
            reasoning_tokens: 0,
            failover: Vec::new(),
        }
    }

    #[test]
    fn group_by_parses_strictly() {
        assert_eq!(
            GroupBy::parse_list("day, model,day").unwrap(),
            [GroupBy::Model, GroupBy::Day]
        );
        assert_eq!(
            GroupBy::parse_list("day,user").unwrap(),
            [GroupBy::User, GroupBy::Day]
        );
        assert!(GroupBy::parse_list("week").unwrap_err().contains("`week`"));
        assert_eq!(GroupBy::parse_list("").unwrap(), []);
    }

    #[test]
    fn rows_group_and_total_exactly() {
        let records = [
            rec("a", 1, "p", "m1", 0.5),
            rec("a", 1, "p", "m2", 0.25),
            rec("b", 2, "p", "m1", 1.0),
            rec("b", 2, "q", "local", 0.0),
        ];
        let from = Utc::now();
        let user = |id: &str| UsageUser {
            id: id.into(),
            name: format!("{id}-name"),
        };
        let scope = Scope {
            agents: HashMap::from([("a".to_string(), user("u1")), ("b".to_string(), user("u2"))]),
        };
        let r = usage_report(
            &records,
            &scope,
            from,
            from,
            &[GroupBy::Model, GroupBy::Day],
        );
        let keys: Vec<_> = r
            .rows
            .iter()
            .map(|x| {
                (
                    x.provider.clone().unwrap_or_default(),
                    x.model.clone().unwrap_or_default(),
                    x.day.clone().unwrap_or_default(),
                    x.model_calls,
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                ("p".into(), "m1".into(), "2026-11-01".into(), 1),
                ("p".into(), "m1".into(), "2026-11-02".into(), 1),
                ("p".into(), "m2".into(), "2026-11-01".into(), 1),
                ("q".into(), "local".into(), "2026-11-02".into(), 1),
            ]
        );
        assert_eq!(r.total.model_calls, 4);
        assert_eq!(r.total.cost_usd, 1.75);
        assert_eq!(r.total.unpriced_calls, 1);
        assert_eq!(r.total.input_tokens, 400);
        let by_agent = usage_report(&records, &scope, from, from, &[GroupBy::Agent]);
        assert_eq!(by_agent.rows.len(), 2);
        assert_eq!(by_agent.rows[1].cost_usd, 1.0);
        assert_eq!(by_agent.rows[0].model, None);
        assert_eq!(by_agent.rows[0].user, None);

        // By user: each agent's owner, with id and name.
        let by_user = usage_report(&records, &scope, from, from, &[GroupBy::User, GroupBy::Day]);
        let keys: Vec<_> = by_user
            .rows
            .iter()
            .map(|x| (x.user.clone(), x.day.clone(), x.model_calls, x.cost_usd))
            .collect();
        assert_eq!(
            keys,
            [
                (Some(user("u1")), Some("2026-11-01".into()), 2, 0.75),
                (Some(user("u2")), Some("2026-11-02".into()), 2, 1.0),
            ]
        );

        // Out of scope, an agent counts nowhere, not even in the total.
        let only_b = Scope {
            agents: HashMap::from([("b".to_string(), user("u2"))]),
        };
        let r = usage_report(&records, &only_b, from, from, &[GroupBy::Agent]);
        assert_eq!(r.rows.len(), 1);
        assert_eq!(r.rows[0].agent_id.as_deref(), Some("b"));
        assert_eq!((r.total.model_calls, r.total.cost_usd), (2, 1.0));
    }

    #[test]
    fn routing_savings_are_priced_at_the_strong_model() {
        let mut prices = HashMap::new();
        let price = |i, o| Price {
            input_per_mtok: i,
            cached_input_per_mtok: i / 2.0,
            output_per_mtok: o,
        };
        prices.insert(("p".to_string(), "big".to_string()), price(10.0, 20.0));
        let route = |tier: Tier| paddock_protocol::events::RouteInfo {
            router: "r".into(),
            tier,
            reason: "x".into(),
            strong: paddock_protocol::agent::ModelRef {
                provider: "p".into(),
                model: "big".into(),
            },
        };
        let mut cheap = rec("a", 1, "p", "small", 0.0001);
        cheap.route = Some(route(Tier::Cheap));
        let mut strong = rec("a", 1, "p", "big", 0.0012);
        strong.route = Some(route(Tier::Strong));
        let plain = rec("b", 1, "p", "small", 1.0);
        let r = routing_figures([cheap, strong, plain].iter(), &prices);
        assert_eq!((r.routed_calls, r.cheap_calls), (2, 1));
        // 75 fresh + 25 cached input, 10 output on the big model.
        let big = (75.0 * 10.0 + 25.0 * 5.0 + 10.0 * 20.0) / 1e6;
        assert!((r.all_strong_usd - 2.0 * big).abs() < 1e-12, "{r:?}");
        assert!((r.saved_usd - (2.0 * big - 0.0013)).abs() < 1e-12, "{r:?}");
    }

    #[test]
    fn month_arithmetic() {
        let t = Utc
            .with_ymd_and_hms(2026, 12, 31, 23, 0, 0)
            .single()
            .unwrap_or_default();
        assert_eq!(days_in_month(t), 31);
        assert_eq!(month_start(t).to_rfc3339(), "2026-12-01T00:00:00+00:00");
        let feb = Utc
            .with_ymd_and_hms(2028, 2, 10, 0, 0, 0)
            .single()
            .unwrap_or_default();
        assert_eq!(days_in_month(feb), 29);
        assert_eq!(day_start(t).to_rfc3339(), "2026-12-31T00:00:00+00:00");
    }
}
