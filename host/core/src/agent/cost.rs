//! Cost control: the budgets checked before each model call (from an
//! estimate of the call's cost) and the model router's choice between a
//! cheap and a strong model.
//!
//! The estimate is the prompt only: its bytes (messages and tool schemas)
//! turned into tokens with the transcript's calibration (the provider's own
//! count of the previous prompt, or 4 bytes a token before the first call),
//! priced at the model's full input price (no cache discount), plus, when
//! the agent caps answers with `max_tokens`, that many tokens at the output
//! price. Without `max_tokens` the answer is not estimated, so a budget can
//! be passed by at most one answer's output.

use super::context::Item;
use crate::agent::config::{Budgets, RouterConfig};
use chrono::{DateTime, Utc};
use paddock_llm::config::Price;
use paddock_protocol::agent::{Tier, day_start, month_start};
use paddock_store::{DocKind, Store, StoreError, UsageRecord};
use std::borrow::Cow;
use std::sync::RwLock;

/// The name of the stored document holding the budgets set through the API
/// (kind [`DocKind::Setting`]).
pub const BUDGETS_DOC: &str = "budgets";

/// The global budgets in force: the configuration's, or the ones set
/// through `PUT /api/config/budgets` (stored, so they outlive a restart).
pub struct GlobalBudgets {
    current: RwLock<(Budgets, bool)>,
}

impl GlobalBudgets {
    /// Budgets from the configuration, not yet overridden.
    pub fn new(config: Budgets) -> GlobalBudgets {
        GlobalBudgets {
            current: RwLock::new((config, false)),
        }
    }

    /// The configuration's budgets, overridden by the stored ones if any.
    pub async fn load(store: &Store, config: Budgets) -> Result<GlobalBudgets, StoreError> {
        let budgets = GlobalBudgets::new(config);
        if let Some(doc) = store.get_doc(DocKind::Setting, BUDGETS_DOC).await? {
            match serde_json::from_value::<Budgets>(doc.body) {
                Ok(b) => budgets.set(b),
                Err(e) => {
                    tracing::error!(error = %e, "the stored budgets are not valid; using the configuration's")
                }
            }
        }
        Ok(budgets)
    }

    /// The budgets in force and whether they were set through the API.
    pub fn get(&self) -> (Budgets, bool) {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set(&self, budgets: Budgets) {
        match self.current.write() {
            Ok(mut c) => *c = (budgets, true),
            Err(poisoned) => *poisoned.into_inner() = (budgets, true),
        }
    }

    /// Stores `budgets` and puts them in force.
    pub async fn replace(&self, store: &Store, budgets: Budgets) -> Result<(), StoreError> {
        let body = serde_json::to_value(&budgets).unwrap_or_default();
        store.put_doc(DocKind::Setting, BUDGETS_DOC, &body).await?;
        self.set(budgets);
        Ok(())
    }
}

/// Dollars spent today and this month (UTC), by one agent and by all.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Spend {
    /// By the agent today.
    pub agent_today: f64,
    /// By the agent this month.
    pub agent_month: f64,
    /// By all agents today (0 unless read for all).
    pub all_today: f64,
    /// By all agents this month (0 unless read for all).
    pub all_month: f64,
}

impl Spend {
    /// Sums `records` (this month's usage) per period: `agent`'s, and
    /// everyone's.
    pub fn of(records: &[UsageRecord], agent: Option<&str>, day: DateTime<Utc>) -> Spend {
        let mut s = Spend::default();
        for u in records {
            let today = u.ts >= day;
            s.all_month += u.cost_usd;
            if today {
                s.all_today += u.cost_usd;
            }
            if agent == Some(u.agent_id.as_str()) {
                s.agent_month += u.cost_usd;
                if today {
                    s.agent_today += u.cost_usd;
                }
            }
        }
        s
    }

    /// Reads this month's usage once: every agent's when `all`, else only
    /// `agent`'s.
    pub async fn read(
        store: &Store,
        agent: Option<&str>,
        all: bool,
        now: DateTime<Utc>,
    ) -> Result<Spend, StoreError> {
        // A second ahead: what was stored in this very instant counts.
        let to = now + chrono::Duration::seconds(1);
        let records = store
            .usage_between(month_start(now), to, if all { None } else { agent })
            .await?;
        let mut spend = Spend::of(&records, agent, day_start(now));
        if !all {
            (spend.all_today, spend.all_month) = (0.0, 0.0);
        }
        Ok(spend)
    }
}

/// The estimated cost in USD of a call with `prompt_tokens` of prompt:
/// every prompt token at the input price, plus `max_output_tokens` (when
/// the agent caps answers) at the output price.
pub fn estimate_cost(price: &Price, prompt_tokens: u64, max_output_tokens: Option<u32>) -> f64 {
    (prompt_tokens as f64 * price.input_per_mtok
        + f64::from(max_output_tokens.unwrap_or(0)) * price.output_per_mtok)
        / 1_000_000.0
}

/// Dollars spent today and this month (UTC) by the agents of some owners.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OwnersSpend {
    /// Today.
    pub today: f64,
    /// This month.
    pub month: f64,
}

impl OwnersSpend {
    /// Sums `records` (this month's usage, each with its agent's owner)
    /// of the agents whose owner is one of `owners`.
    pub fn of(
        records: &[(String, UsageRecord)],
        owners: &[String],
        day: DateTime<Utc>,
    ) -> OwnersSpend {
        let mut s = OwnersSpend::default();
        for (owner, u) in records {
            if !owners.contains(owner) {
                continue;
            }
            s.month += u.cost_usd;
            if u.ts >= day {
                s.today += u.cost_usd;
            }
        }
        s
    }
}

/// One budget that applies to a call: which, its limit and what was spent
/// in its period.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetUse {
    /// Its name in words, e.g. "agent daily budget (limits.daily_usd)" or
    /// "user alice's daily budget (budgets.users)".
    pub name: Cow<'static, str>,
    /// The period's spend in words, e.g. "today (UTC)".
    pub period: Cow<'static, str>,
    /// The limit in USD.
    pub limit: f64,
    /// Dollars spent in its period so far.
    pub spent: f64,
}

/// The first budget that spending `estimate` more would exceed, as the
/// refusal's message.
pub fn exceeded(budgets: &[BudgetUse], estimate: f64) -> Option<String> {
    budgets.iter().find(|b| b.spent + estimate > b.limit).map(|b| {
        format!(
            "the {} of ${:.6} would be exceeded: ${:.6} spent {}, and the next model call is estimated at ${:.6}; nothing was sent to the model",
            b.name, b.limit, b.spent, b.period, estimate
        )
    })
}

/// What the router knows about the conversation before a call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RouteInput {
    /// The tools the latest answer called, with whether each is read-only;
    /// None when the latest answer called none (or there is none): this is
    /// the first call of a run.
    pub previous_calls: Option<Vec<(String, bool)>>,
    /// Consecutive failures of the cheap model so far in this run.
    pub cheap_failures: u32,
}

/// The router's choice for one call: the tier and why.
pub fn route(router: &RouterConfig, input: &RouteInput) -> (Tier, String) {
    let n = router.escalate_after_failures;
    if input.cheap_failures >= n {
        return (
            Tier::Strong,
            format!(
                "the cheap model failed {} times in a row (escalate_after_failures = {n})",
                input.cheap_failures
            ),
        );
    }
    let Some(calls) = &input.previous_calls else {
        return (
            router.first_call,
            format!(
                "first call of the run (first_call = {})",
                router.first_call.as_str()
            ),
        );
    };
    let writers: Vec<&str> = calls
        .iter()
        .filter(|(_, ro)| !ro)
        .map(|(n, _)| n.as_str())
        .collect();
    if writers.is_empty() {
        let names: Vec<&str> = calls.iter().map(|(n, _)| n.as_str()).collect();
        (
            Tier::Cheap,
            format!("the previous turn only read: {}", dedup(names).join(", ")),
        )
    } else {
        (
            Tier::Strong,
            format!(
                "the previous turn called a tool that is not read-only: {}",
                dedup(writers).join(", ")
            ),
        )
    }
}

fn dedup(mut names: Vec<&str>) -> Vec<&str> {
    let mut seen = std::collections::BTreeSet::new();
    names.retain(|n| seen.insert(*n));
    names
}

/// The tool names the latest answer of `items` called, or None when it
/// called none (or there is no answer yet).
pub fn previous_tools(items: &[Item]) -> Option<Vec<String>> {
    items.iter().rev().find_map(|i| match i {
        Item::Assistant { tool_calls, .. } if !tool_calls.is_empty() => {
            Some(Some(tool_calls.iter().map(|c| c.name.clone()).collect()))
        }
        Item::Assistant { .. } => Some(None),
        _ => None,
    })?
}

/// Consecutive failures of the cheap model, within one run.
#[derive(Debug, Default)]
pub struct FailureCounter {
    /// Failures in a row.
    pub count: u32,
    /// The latest answer's tier and its tool calls run / failed so far.
    turn: Option<(Tier, u32, u32)>,
}

impl FailureCounter {
    /// A model call of `tier` answered.
    pub fn answered(&mut self, tier: Tier) {
        self.turn = Some((tier, 0, 0));
    }

    /// A model call of `tier` failed.
    pub fn call_failed(&mut self, tier: Tier) {
        self.turn = None;
        match tier {
            Tier::Cheap => self.count += 1,
            Tier::Strong => self.count = 0,
        }
    }

    /// One of the latest answer's tool calls ended.
    pub fn tool_ended(&mut self, failed: bool) {
        if let Some((_, ran, bad)) = &mut self.turn {
            *ran += 1;
            if failed {
                *bad += 1;
            }
        }
    }

    /// Before the next call: settles the latest answer (a cheap answer
    /// whose tool calls all failed is a failure; any other cheap answer
    /// ends the streak; a strong one resets it) and returns the count.
    pub fn settle(&mut self) -> u32 {
        match self.turn.take() {
            Some((Tier::Cheap, ran, bad)) if ran > 0 && bad == ran => self.count += 1,
            Some(_) => self.count = 0,
            None => {}
        }
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::ModelRef;
    use chrono::TimeZone;

    fn router(first: Tier) -> RouterConfig {
        let m = |model: &str| ModelRef {
            provider: "p".into(),
            model: model.into(),
        };
        RouterConfig {
            name: "r".into(),
            cheap: m("mini"),
            strong: m("big"),
            escalate_after_failures: 2,
            first_call: first,
        }
    }

    fn calls(c: &[(&str, bool)]) -> Option<Vec<(String, bool)>> {
        Some(c.iter().map(|(n, r)| (n.to_string(), *r)).collect())
    }

    #[test]
    fn routes_reads_cheap_edits_strong_and_escalates() {
        let r = router(Tier::Cheap);
        let first = route(&r, &RouteInput::default());
        assert_eq!(first.0, Tier::Cheap);
        assert!(first.1.contains("first call"), "{}", first.1);
        assert_eq!(
            route(&router(Tier::Strong), &RouteInput::default()).0,
            Tier::Strong
        );
        let read = route(
            &r,
            &RouteInput {
                previous_calls: calls(&[
                    ("read_file", true),
                    ("list_dir", true),
                    ("read_file", true),
                ]),
                cheap_failures: 1,
            },
        );
        assert_eq!(
            read,
            (
                Tier::Cheap,
                "the previous turn only read: read_file, list_dir".into()
            )
        );
        let edit = route(
            &r,
            &RouteInput {
                previous_calls: calls(&[("read_file", true), ("write_file", false)]),
                cheap_failures: 0,
            },
        );
        assert_eq!(
            edit,
            (
                Tier::Strong,
                "the previous turn called a tool that is not read-only: write_file".into()
            )
        );
        let failed = route(
            &r,
            &RouteInput {
                previous_calls: calls(&[("read_file", true)]),
                cheap_failures: 2,
            },
        );
        assert_eq!(failed.0, Tier::Strong);
        assert!(failed.1.contains("failed 2 times"), "{}", failed.1);
    }

    #[test]
    fn failures_count_failed_calls_and_turns_whose_tools_all_failed() {
        let mut f = FailureCounter::default();
        assert_eq!(f.settle(), 0);
        f.answered(Tier::Cheap);
        f.tool_ended(true);
        f.tool_ended(true);
        assert_eq!(f.settle(), 1, "every tool call failed");
        f.call_failed(Tier::Cheap);
        assert_eq!(f.settle(), 2, "a failed model call");
        f.answered(Tier::Strong);
        assert_eq!(f.settle(), 0, "a strong answer resets");
        f.answered(Tier::Cheap);
        f.tool_ended(true);
        f.tool_ended(false);
        assert_eq!(f.settle(), 0, "one call succeeded");
        f.answered(Tier::Cheap);
        assert_eq!(f.settle(), 0, "an answer without tool calls is a success");
    }

    #[test]
    fn previous_tools_reads_the_latest_answer() {
        use crate::agent::fixtures::answer;
        assert_eq!(previous_tools(&[]), None);
        let user = Item::User { text: "x".into() };
        assert_eq!(previous_tools(std::slice::from_ref(&user)), None);
        let items = vec![
            user.clone(),
            answer(&["read_file"]),
            answer(&["write_file"]),
        ];
        assert_eq!(previous_tools(&items), Some(vec!["write_file".to_string()]));
        let items = vec![answer(&["read_file"]), user, answer(&[])];
        assert_eq!(
            previous_tools(&items),
            None,
            "the latest answer called nothing"
        );
    }

    #[test]
    fn estimates_and_budget_checks() {
        let p = Price {
            input_per_mtok: 2.0,
            cached_input_per_mtok: 1.0,
            output_per_mtok: 8.0,
        };
        assert_eq!(estimate_cost(&p, 500_000, None), 1.0);
        assert_eq!(estimate_cost(&p, 500_000, Some(125_000)), 2.0);
        let b = |name: &'static str, limit, spent| BudgetUse {
            name: name.into(),
            period: "today (UTC)".into(),
            limit,
            spent,
        };
        let budgets = [
            b("agent daily budget", 1.0, 0.5),
            b("global daily budget", 10.0, 9.5),
        ];
        assert_eq!(exceeded(&budgets, 0.1), None);
        assert_eq!(
            exceeded(&budgets, 0.5),
            None,
            "reaching a budget exactly is allowed"
        );
        let m = exceeded(&budgets, 0.6).unwrap_or_default();
        assert!(m.starts_with("the agent daily budget of $1.000000"), "{m}");
        assert!(m.contains("$0.500000 spent today (UTC)"), "{m}");
        let m = exceeded(&budgets[1..], 0.6).unwrap_or_default();
        assert!(m.contains("global daily budget"), "{m}");
    }

    #[test]
    fn spend_splits_today_from_the_month_and_the_agent_from_all() {
        let at = |agent: &str, day: u32, cost: f64| UsageRecord {
            agent_id: agent.into(),
            ts: Utc.with_ymd_and_hms(2026, 11, day, 12, 0, 0).unwrap(),
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
        };
        let records = [
            at("a", 3, 1.0),
            at("b", 3, 2.0),
            at("a", 17, 0.25),
            at("b", 17, 4.0),
        ];
        let day = Utc.with_ymd_and_hms(2026, 11, 17, 0, 0, 0).unwrap();
        let s = Spend::of(&records, Some("a"), day);
        assert_eq!(
            s,
            Spend {
                agent_today: 0.25,
                agent_month: 1.25,
                all_today: 4.25,
                all_month: 7.25,
            }
        );
        let none = Spend::of(&[], None, day);
        assert!(none.all_month.is_sign_positive(), "no spend is +0, not -0");

        let owned: Vec<(String, UsageRecord)> = records
            .iter()
            .map(|u| {
                let owner = if u.agent_id == "a" { "alice" } else { "bob" };
                (owner.to_string(), u.clone())
            })
            .collect();
        let alice = OwnersSpend::of(&owned, &["alice".to_string()], day);
        assert_eq!(
            alice,
            OwnersSpend {
                today: 0.25,
                month: 1.25
            }
        );
        let both = OwnersSpend::of(&owned, &["alice".to_string(), "bob".to_string()], day);
        assert_eq!(
            both,
            OwnersSpend {
                today: 4.25,
                month: 7.25
            }
        );
        assert_eq!(OwnersSpend::of(&owned, &[], day), OwnersSpend::default());
    }

    #[test]
    fn periods_start_at_utc_midnight_and_the_first_of_the_month() {
        let t = Utc.with_ymd_and_hms(2026, 11, 17, 15, 4, 5).unwrap();
        assert_eq!(
            day_start(t),
            Utc.with_ymd_and_hms(2026, 11, 17, 0, 0, 0).unwrap()
        );
        assert_eq!(
            month_start(t),
            Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
        );
    }
}
