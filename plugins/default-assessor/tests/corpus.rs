//! Runs every case of `corpus.toml` through `assess` and reports every
//! mismatch (not just the first) before failing.

use paddock_default_assessor::assess;
use paddock_sdk::assessor::{Action, Level, ToolCall, raw};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    tool: String,
    input: toml::Value,
    level: String,
    action: Option<String>,
    /// A part the reason must contain.
    reason: Option<String>,
    #[allow(dead_code)]
    note: Option<String>,
}

impl Case {
    /// The call's input as JSON: a string stands for `{"command": …}`.
    fn input(&self) -> Value {
        match &self.input {
            toml::Value::String(s) => serde_json::json!({ "command": s }),
            other => serde_json::to_value(other).expect("TOML converts to JSON"),
        }
    }
}

fn corpus() -> Vec<Case> {
    let text = include_str!("corpus.toml");
    let corpus: Corpus = toml::from_str(text).unwrap_or_else(|e| {
        panic!(
            "corpus.toml does not parse: {} at {:?}",
            e.message(),
            e.span()
        )
    });
    corpus.case
}

#[test]
fn corpus_is_well_formed() {
    let cases = corpus();
    assert!(cases.len() >= 120, "only {} cases", cases.len());
    for (i, case) in cases.iter().enumerate() {
        assert!(
            case.level.parse::<Level>().is_ok(),
            "case {i}: bad level {:?}",
            case.level
        );
        if let Some(a) = &case.action {
            assert!(a.parse::<Action>().is_ok(), "case {i}: bad action {a:?}");
        }
        assert!(case.input().is_object(), "case {i}: input is not an object");
    }
    for level in Level::ALL {
        let n = cases
            .iter()
            .filter(|c| c.level.parse::<Level>() == Ok(level))
            .count();
        assert!(n >= 10, "only {n} cases at level {level}");
    }
}

#[test]
fn every_case_gets_its_verdict() {
    let cases = corpus();
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let input = case.input();
        let call = ToolCall::new(case.tool.clone(), input.clone());
        let got = assess(&call);
        let want_level: Level = case.level.parse().expect("level");
        let want_action: Option<Action> =
            case.action.as_deref().map(|a| a.parse().expect("action"));
        let level_ok = got.level == want_level;
        let action_ok = want_action.is_none_or(|a| a == got.action);
        let reason_ok = case
            .reason
            .as_deref()
            .is_none_or(|r| got.reason.contains(r));
        if !(level_ok && action_ok && reason_ok) {
            failures.push(format!(
                "case {i}: {} {}\n    expected {}/{}{}, got {}/{}: {}",
                case.tool,
                input,
                want_level,
                want_action.map_or("any", Action::as_str),
                case.reason.as_deref().map_or(String::new(), |r| format!(
                    " with a reason containing {r:?}"
                )),
                got.level,
                got.action,
                got.reason
            ));
        }
        if got.reason.trim().is_empty() {
            failures.push(format!("case {i}: empty reason"));
        }
        if got.level > Level::Low && got.action == Action::Allow {
            failures.push(format!("case {i}: {} but allowed", got.level));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn the_raw_glue_gives_the_same_verdicts() {
    for case in corpus() {
        let input = case.input();
        let call = ToolCall::new(case.tool.clone(), input.clone());
        let direct = assess(&call);
        let through = raw::assess(
            &assess,
            raw::RawToolCall {
                tool: case.tool.clone(),
                input: input.to_string(),
                agent_id: "agent".into(),
                call_id: "call".into(),
            },
        );
        assert_eq!(
            through,
            raw::assessment_to_raw(direct),
            "{} {input}",
            case.tool
        );
    }
}
