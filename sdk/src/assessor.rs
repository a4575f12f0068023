//! Write Paddock risk assessors in Rust.
//!
//! A risk assessor is a WebAssembly component of the `risk-assessor` world
//! of `paddock:plugin@0.2.0`: the host hands it every tool call an agent
//! makes, before the call runs, and it answers how risky the call is
//! ([`Level`]), what it suggests doing ([`Action`]) and why (a sentence a
//! human reads in the approval prompt). The host's policy has the last word.
//!
//! This module hides the bindings and the JSON string of the contract:
//! write a function from [`ToolCall`] to [`Assessment`] and export it with
//! [`export_assessor!`](crate::export_assessor). [`shell`](crate::shell)
//! parses the command lines of shell tools.
//!
//! ```
//! use paddock_sdk::assessor::{Action, Assessment, Level, ToolCall};
//!
//! /// Asks before any shell command that mentions production.
//! fn assess(call: &ToolCall) -> Assessment {
//!     match call.str_field("command") {
//!         Some(cmd) if cmd.contains("production") => {
//!             Assessment::ask(Level::High, "the command mentions production")
//!         }
//!         _ => Assessment::allow("no rule applies"),
//!     }
//! }
//!
//! paddock_sdk::export_assessor!(assess);
//! # fn main() {
//! # let call = ToolCall::new("execute_bash", paddock_sdk::serde_json::json!({"command": "deploy production"}));
//! # assert_eq!(assess(&call).action, Action::Ask);
//! # assert_eq!(assess(&call).level, Level::High);
//! # }
//! ```
//!
//! Every call runs in a fresh instance of the component. Assessors get no
//! workspace, no network and no environment unless granted; they should be
//! pure functions of the call. A trap, a timeout or a malformed answer
//! counts as `ask` for the host, never as `allow`.
//!
//! What the host hands over is a JSON object; should the input ever not be
//! one, the glue fails closed without calling the assessor: the answer is
//! [`Level::High`] with [`Action::Ask`], never `allow`.

use std::fmt;
use std::str::FromStr;

use crate::assessor_bindings::paddock::plugin::types as wit;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How risky a tool call is, from [`Level::Low`] to [`Level::Critical`]
/// (ordered: `Low < Medium < High < Critical`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Reads or harmless local changes.
    Low,
    /// Changes that are easy to undo or only reach the workspace.
    Medium,
    /// Changes that are hard to undo or reach beyond the workspace.
    High,
    /// Destructive or system-wide changes; exfiltration.
    Critical,
}

/// What should happen to a tool call (ordered by strictness:
/// `Allow < Ask < Deny`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Run it.
    Allow,
    /// Ask a human first.
    Ask,
    /// Refuse it.
    Deny,
}

impl Level {
    /// Every level, from the lowest.
    pub const ALL: [Level; 4] = [Level::Low, Level::Medium, Level::High, Level::Critical];

    /// The level as the contract spells it: `low`, `medium`, `high`,
    /// `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

impl Action {
    /// Every action, from the most permissive.
    pub const ALL: [Action; 3] = [Action::Allow, Action::Ask, Action::Deny];

    /// The action as the contract spells it: `allow`, `ask`, `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Ask => "ask",
            Action::Deny => "deny",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not a level or an action name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName(pub String);

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown name `{}`", self.0)
    }
}

impl std::error::Error for UnknownName {}

impl FromStr for Level {
    type Err = UnknownName;

    /// `low`, `medium`, `high` or `critical` (any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownName(s.to_string()))
    }
}

impl FromStr for Action {
    type Err = UnknownName;

    /// `allow`, `ask` or `deny` (any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownName(s.to_string()))
    }
}

/// A tool call as the policy pipeline sees it, before it runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The tool's name as offered to the model (for MCP tools,
    /// `<server>__<tool>`).
    pub tool: String,
    /// The call's arguments: always a JSON object.
    pub input: Value,
    /// The agent making the call.
    pub agent_id: String,
    /// The model's id for this call.
    pub call_id: String,
}

impl ToolCall {
    /// A call to `tool` with `input`, from agent `test-agent` with call id
    /// `test-call` (for tests). Input that is not a JSON object counts as
    /// `{}`.
    pub fn new(tool: impl Into<String>, input: Value) -> Self {
        ToolCall {
            tool: tool.into(),
            input: if input.is_object() {
                input
            } else {
                Value::Object(serde_json::Map::new())
            },
            agent_id: "test-agent".to_string(),
            call_id: "test-call".to_string(),
        }
    }

    /// The input field `name`, if it is a string.
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.input.get(name).and_then(Value::as_str)
    }
}

/// An assessor's verdict on one tool call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    /// How risky the call is.
    pub level: Level,
    /// What the assessor suggests; the host's policy has the last word.
    pub action: Action,
    /// Why, in one sentence a human reads in an approval prompt.
    pub reason: String,
}

impl Assessment {
    /// A verdict.
    pub fn new(level: Level, action: Action, reason: impl Into<String>) -> Self {
        Assessment {
            level,
            action,
            reason: reason.into(),
        }
    }

    /// Low risk: run it.
    pub fn allow(reason: impl Into<String>) -> Self {
        Assessment::new(Level::Low, Action::Allow, reason)
    }

    /// Ask a human first, at this level.
    pub fn ask(level: Level, reason: impl Into<String>) -> Self {
        Assessment::new(level, Action::Ask, reason)
    }

    /// Refuse, at this level.
    pub fn deny(level: Level, reason: impl Into<String>) -> Self {
        Assessment::new(level, Action::Deny, reason)
    }

    /// Whether this verdict is more severe than `other`: a higher level, or
    /// the same level with a stricter action.
    pub fn is_more_severe_than(&self, other: &Assessment) -> bool {
        (self.level, self.action) > (other.level, other.action)
    }

    /// The more severe of two verdicts (see
    /// [`is_more_severe_than`](Assessment::is_more_severe_than)); on a tie,
    /// `self`.
    pub fn max(self, other: Assessment) -> Assessment {
        if other.is_more_severe_than(&self) {
            other
        } else {
            self
        }
    }
}

/// A risk assessor: anything that turns a [`ToolCall`] into an
/// [`Assessment`]. Implemented for every `Fn(&ToolCall) -> Assessment`.
pub trait Assessor {
    /// Judge one tool call.
    fn assess(&self, call: &ToolCall) -> Assessment;
}

impl<F> Assessor for F
where
    F: Fn(&ToolCall) -> Assessment,
{
    fn assess(&self, call: &ToolCall) -> Assessment {
        self(call)
    }
}

/// The glue [`export_assessor!`](crate::export_assessor) runs: the
/// contract's records to and from the typed values of this module. Public
/// so that native tests can drive an assessor exactly as the host does.
pub mod raw {
    use super::*;

    pub use crate::assessor_bindings::paddock::plugin::types::{
        Action as RawAction, Assessment as RawAssessment, RiskLevel as RawLevel,
        ToolCall as RawToolCall,
    };

    /// The contract's form of a level.
    pub fn level_to_raw(level: Level) -> wit::RiskLevel {
        match level {
            Level::Low => wit::RiskLevel::Low,
            Level::Medium => wit::RiskLevel::Medium,
            Level::High => wit::RiskLevel::High,
            Level::Critical => wit::RiskLevel::Critical,
        }
    }

    /// The contract's form of an action.
    pub fn action_to_raw(action: Action) -> wit::Action {
        match action {
            Action::Allow => wit::Action::Allow,
            Action::Ask => wit::Action::Ask,
            Action::Deny => wit::Action::Deny,
        }
    }

    /// The contract's form of an assessment.
    pub fn assessment_to_raw(a: Assessment) -> wit::Assessment {
        wit::Assessment {
            level: level_to_raw(a.level),
            action: action_to_raw(a.action),
            reason: a.reason,
        }
    }

    /// The typed call, or why the input is not a JSON object.
    pub fn call_from_raw(call: wit::ToolCall) -> Result<ToolCall, String> {
        match serde_json::from_str::<Value>(&call.input) {
            Ok(input @ Value::Object(_)) => Ok(ToolCall {
                tool: call.tool,
                input,
                agent_id: call.agent_id,
                call_id: call.call_id,
            }),
            Ok(other) => Err(format!(
                "the input of `{}` is {}, not a JSON object",
                call.tool,
                kind_of(&other)
            )),
            Err(e) => Err(format!("the input of `{}` is not JSON ({e})", call.tool)),
        }
    }

    fn kind_of(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }

    /// `assess`: input that is not a JSON object is not given to the
    /// assessor; the answer is then high/ask, never allow.
    pub fn assess(assessor: &impl Assessor, call: wit::ToolCall) -> wit::Assessment {
        match call_from_raw(call) {
            Ok(call) => assessment_to_raw(assessor.assess(&call)),
            Err(why) => {
                crate::log::warn(format!("not assessed: {why}"));
                assessment_to_raw(Assessment::ask(
                    Level::High,
                    format!("could not be assessed: {why}"),
                ))
            }
        }
    }
}

/// Export a risk assessor as the plugin's `paddock:plugin/assessor`
/// implementation.
///
/// Give it a function (or closure) from `&ToolCall` to `Assessment`; it is
/// called on every `assess` (each runs in a fresh instance). Use it once per
/// crate.
///
/// As with [`export_tools!`](crate::export_tools), the exports are only
/// generated when compiling for WebAssembly: native tests call the function
/// (or [`assessor::raw::assess`](crate::assessor::raw::assess)) directly.
///
/// ```ignore
/// fn assess(call: &paddock_sdk::assessor::ToolCall) -> paddock_sdk::assessor::Assessment { /* ... */ }
/// paddock_sdk::export_assessor!(assess);
/// ```
#[macro_export]
macro_rules! export_assessor {
    ($assess:expr $(,)?) => {
        // Keeps the function "used" in native builds, where nothing is
        // exported.
        #[doc(hidden)]
        #[allow(dead_code)]
        fn __paddock_sdk_assess(
            call: &$crate::assessor::ToolCall,
        ) -> $crate::assessor::Assessment {
            ($assess)(call)
        }

        #[cfg(target_family = "wasm")]
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        struct __paddock_sdk_AssessorPlugin;

        #[cfg(target_family = "wasm")]
        impl $crate::assessor_bindings::exports::paddock::plugin::assessor::Guest
            for __paddock_sdk_AssessorPlugin
        {
            fn assess(
                call: $crate::assessor::raw::RawToolCall,
            ) -> $crate::assessor::raw::RawAssessment {
                $crate::assessor::raw::assess(&__paddock_sdk_assess, call)
            }
        }

        #[cfg(target_family = "wasm")]
        $crate::assessor_bindings::export!(__paddock_sdk_AssessorPlugin with_types_in $crate::assessor_bindings);
    };
}

#[cfg(test)]
mod tests {
    use super::raw::{RawAction, RawLevel, RawToolCall};
    use super::*;
    use serde_json::json;

    fn raw_call(tool: &str, input: &str) -> RawToolCall {
        RawToolCall {
            tool: tool.into(),
            input: input.into(),
            agent_id: "a1".into(),
            call_id: "c1".into(),
        }
    }

    fn by_command(call: &ToolCall) -> Assessment {
        match call.str_field("command") {
            Some("rm -rf /") => Assessment::deny(Level::Critical, "no"),
            Some(_) => {
                Assessment::ask(Level::Medium, format!("{} {}", call.agent_id, call.call_id))
            }
            None => Assessment::allow("nothing"),
        }
    }

    #[test]
    fn levels_and_actions_are_ordered_and_named() {
        assert!(Level::Low < Level::Medium && Level::Medium < Level::High);
        assert!(Level::High < Level::Critical);
        assert!(Action::Allow < Action::Ask && Action::Ask < Action::Deny);
        for l in Level::ALL {
            assert_eq!(l.as_str().parse::<Level>(), Ok(l));
            assert_eq!(l.to_string(), l.as_str());
        }
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>(), Ok(a));
        }
        assert_eq!(" HIGH ".parse::<Level>(), Ok(Level::High));
        assert!("severe".parse::<Level>().is_err());
        assert_eq!(
            "maybe".parse::<Action>().unwrap_err().to_string(),
            "unknown name `maybe`"
        );
        assert_eq!(
            serde_json::to_value(Level::Critical).unwrap(),
            json!("critical")
        );
        assert_eq!(
            serde_json::from_value::<Action>(json!("deny")).unwrap(),
            Action::Deny
        );
    }

    #[test]
    fn max_prefers_level_then_action() {
        let low = Assessment::allow("a");
        let med_ask = Assessment::ask(Level::Medium, "b");
        let high_ask = Assessment::ask(Level::High, "c");
        let high_deny = Assessment::deny(Level::High, "d");
        let crit = Assessment::deny(Level::Critical, "e");
        assert_eq!(low.clone().max(med_ask.clone()), med_ask);
        assert_eq!(med_ask.clone().max(low.clone()), med_ask);
        assert_eq!(high_ask.clone().max(high_deny.clone()), high_deny);
        assert_eq!(high_deny.clone().max(crit.clone()), crit);
        assert_eq!(crit.clone().max(high_deny.clone()), crit);
        // Ties keep the first.
        let other = Assessment::ask(Level::Medium, "other");
        assert_eq!(med_ask.clone().max(other).reason, "b");
        assert!(high_deny.is_more_severe_than(&high_ask));
        assert!(!high_ask.is_more_severe_than(&high_ask));
    }

    #[test]
    fn tool_call_helpers() {
        let call = ToolCall::new("t", json!({"command": "ls", "n": 1}));
        assert_eq!(call.str_field("command"), Some("ls"));
        assert_eq!(call.str_field("n"), None);
        assert_eq!(call.agent_id, "test-agent");
        assert_eq!(ToolCall::new("t", json!([1])).input, json!({}));
    }

    #[test]
    fn raw_glue_passes_calls_and_verdicts() {
        let out = raw::assess(
            &by_command,
            raw_call("execute_bash", r#"{"command":"rm -rf /"}"#),
        );
        assert_eq!(out.level, RawLevel::Critical);
        assert_eq!(out.action, RawAction::Deny);
        assert_eq!(out.reason, "no");
        let out = raw::assess(&by_command, raw_call("execute_bash", r#"{"command":"ls"}"#));
        assert_eq!((out.level, out.action), (RawLevel::Medium, RawAction::Ask));
        assert_eq!(out.reason, "a1 c1");
        let out = raw::assess(&by_command, raw_call("read_file", "{}"));
        assert_eq!((out.level, out.action), (RawLevel::Low, RawAction::Allow));
        // Closures work too.
        let out = raw::assess(
            &|_: &ToolCall| Assessment::deny(Level::High, "x"),
            raw_call("t", "{}"),
        );
        assert_eq!(out.action, RawAction::Deny);
    }

    #[test]
    fn input_that_is_not_an_object_fails_closed() {
        let allow_all = |_: &ToolCall| Assessment::allow("fine");
        for (input, what) in [
            ("", "not JSON"),
            ("not json", "not JSON"),
            ("[1,2]", "an array"),
            ("null", "null"),
            ("\"rm -rf /\"", "a string"),
            ("42", "a number"),
            ("{\"a\":", "not JSON"),
        ] {
            let out = raw::assess(&allow_all, raw_call("execute_bash", input));
            assert_eq!(out.level, RawLevel::High, "{input:?}");
            assert_eq!(out.action, RawAction::Ask, "{input:?}");
            assert!(out.reason.contains("execute_bash"), "{}", out.reason);
            assert!(out.reason.contains(what), "{input:?}: {}", out.reason);
        }
    }

    #[test]
    fn export_macro_accepts_functions_and_closures() {
        mod with_fn {
            use super::*;
            crate::export_assessor!(by_command);
            pub fn run(call: &ToolCall) -> Assessment {
                __paddock_sdk_assess(call)
            }
        }
        mod with_closure {
            use super::*;
            crate::export_assessor!(|call: &ToolCall| Assessment::ask(
                Level::Low,
                call.tool.clone()
            ));
            pub fn run(call: &ToolCall) -> Assessment {
                __paddock_sdk_assess(call)
            }
        }
        let call = ToolCall::new("x", json!({"command": "rm -rf /"}));
        assert_eq!(with_fn::run(&call).level, Level::Critical);
        assert_eq!(with_closure::run(&call).reason, "x");
    }
}
