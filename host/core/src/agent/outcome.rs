//! What one run of an agent came to, read from its event log: the run a
//! user message started ends at the first `agent.status` after it that is
//! not a working status (idle, error, limited, stopped). [`await_run`]
//! follows the log until then (through the bus, so it works for an agent
//! another host runs, and after a restart of either); [`stored_run`]
//! answers from the store alone, without waiting. Both give the final
//! answer and a short summary of what the run did: the files its tools
//! changed, the commands it ran, its cost. Delegation (a parent waiting on
//! its children) and workflows (a step waiting on its agent) read runs
//! this way, never through an agent's in-memory state.

use super::follow::Follow;
use crate::bus::Bus;
use paddock_protocol::events::{AgentStatus, ErrorCode, Event, EventBody};
use paddock_store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Events read from the store at once by [`stored_run`].
const PAGE: u32 = 500;

/// Most commands and files a summary lists (the counts are exact).
const LISTED: usize = 20;

/// How a run ended and what it did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunOutcome {
    /// The agent's status when the run ended: `idle` (it answered),
    /// `error`, `limited` or `stopped`.
    pub status: AgentStatus,
    /// Why it ended so (the reason of that `agent.status`), when not idle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The code of the `error` that ended it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
    /// The last answer of the run (its final message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// Files its tools wrote or edited (a tool's `path` argument), first
    /// 20, in the order first changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files_changed: Vec<String>,
    /// Commands it ran (a tool's `command` argument), first 20.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// Tool calls it made.
    pub tool_calls: u32,
    /// What its model calls cost, in dollars.
    pub cost_usd: f64,
    /// The seq of the `agent.status` that ended it.
    pub end_seq: u64,
}

impl RunOutcome {
    /// Whether the run ended with an answer (idle), not an error or limit.
    pub fn succeeded(&self) -> bool {
        self.status == AgentStatus::Idle && self.reason.is_none()
    }

    /// A few lines for a model or a person: the answer, then what changed.
    pub fn report(&self) -> String {
        let mut out = String::new();
        if self.succeeded() {
            out.push_str(self.answer.as_deref().unwrap_or("(no answer)"));
        } else {
            out.push_str(&format!(
                "the run ended {}: {}",
                self.status.as_str(),
                self.reason.as_deref().unwrap_or("no reason given")
            ));
            if let Some(answer) = &self.answer {
                out.push_str(&format!("\nlast answer: {answer}"));
            }
        }
        out.push_str(&format!(
            "\n\n[{} tool call(s), ${:.4}",
            self.tool_calls, self.cost_usd
        ));
        if !self.files_changed.is_empty() {
            out.push_str(&format!(
                "; files changed: {}",
                self.files_changed.join(", ")
            ));
        }
        if !self.commands.is_empty() {
            out.push_str(&format!("; commands: {}", self.commands.join(" | ")));
        }
        out.push(']');
        out
    }
}

/// A run's outcome being read, event by event.
struct Tally {
    outcome: RunOutcome,
    /// Distinct files and commands seen (beyond those listed).
    files: std::collections::BTreeSet<String>,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            outcome: RunOutcome {
                status: AgentStatus::Thinking,
                reason: None,
                error_code: None,
                answer: None,
                files_changed: Vec::new(),
                commands: Vec::new(),
                tool_calls: 0,
                cost_usd: 0.0,
                end_seq: 0,
            },
            files: Default::default(),
        }
    }
}

impl Tally {
    /// Takes one event of the run; returns true when it ended it.
    fn push(&mut self, event: &Event) -> bool {
        let o = &mut self.outcome;
        match &event.body {
            EventBody::MessageAssistant { text: Some(t), .. } if !t.is_empty() => {
                o.answer = Some(t.clone());
            }
            EventBody::ToolCall {
                arguments,
                read_only,
                ..
            } => {
                o.tool_calls += 1;
                if let Some(c) = arguments.get("command").and_then(|c| c.as_str())
                    && o.commands.len() < LISTED
                {
                    o.commands.push(c.to_string());
                }
                if !read_only
                    && let Some(p) = arguments.get("path").and_then(|p| p.as_str())
                    && self.files.insert(p.to_string())
                    && o.files_changed.len() < LISTED
                {
                    o.files_changed.push(p.to_string());
                }
            }
            EventBody::Usage { cost_usd, .. } => o.cost_usd += cost_usd,
            EventBody::Error { code, .. } => o.error_code = Some(*code),
            EventBody::AgentStatus {
                status,
                reason,
                code,
            } if status.ends_run() => {
                o.status = *status;
                o.reason = reason.clone();
                o.end_seq = event.seq;
                if code.is_some() {
                    o.error_code = *code;
                } else if *status == AgentStatus::Idle && reason.is_none() {
                    o.error_code = None;
                }
                return true;
            }
            _ => {}
        }
        false
    }
}

/// Waits for the run that the event at `after` (its user message) started
/// to end, following the agent's log; its outcome. `None` when the log
/// ends first (the agent was purged).
pub async fn await_run(
    store: &Store,
    bus: &Bus,
    agent: &str,
    after: u64,
) -> Result<Option<RunOutcome>, StoreError> {
    let mut follow = Follow::subscribe(store.clone(), bus, agent, after);
    let mut tally = Tally::default();
    while let Some(item) = follow.next().await? {
        if let Some(event) = item.event()
            && event.body.is_durable()
            && tally.push(event)
        {
            return Ok(Some(tally.outcome));
        }
    }
    Ok(None)
}

/// The outcome of the run the event at `after` started, if the store
/// shows it ended; `None` while it runs.
pub async fn stored_run(
    store: &Store,
    agent: &str,
    after: u64,
) -> Result<Option<RunOutcome>, StoreError> {
    let mut tally = Tally::default();
    let mut last = after;
    loop {
        let page = store.events_after(agent, last, PAGE).await?;
        let Some(end) = page.last().map(|e| e.seq) else {
            return Ok(None);
        };
        for event in &page {
            if tally.push(event) {
                return Ok(Some(tally.outcome));
            }
        }
        last = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, body: EventBody) -> Event {
        Event {
            seq,
            agent_id: "a".into(),
            ts: chrono::DateTime::from_timestamp(0, 0).unwrap_or_default(),
            body,
        }
    }

    #[test]
    fn tally_reads_answer_files_commands_cost_and_end() {
        let mut t = Tally::default();
        let call = |seq, tool: &str, args: serde_json::Value, read_only| {
            event(
                seq,
                EventBody::ToolCall {
                    call_id: format!("c{seq}"),
                    tool: tool.into(),
                    arguments: args,
                    read_only,
                    sandbox: None,
                },
            )
        };
        assert!(!t.push(&call(
            2,
            "write_file",
            serde_json::json!({"path": "src/a.rs"}),
            false
        )));
        assert!(!t.push(&call(
            3,
            "read_file",
            serde_json::json!({"path": "src/b.rs"}),
            true
        )));
        assert!(!t.push(&call(
            4,
            "edit_file",
            serde_json::json!({"path": "src/a.rs"}),
            false
        )));
        assert!(!t.push(&call(
            5,
            "execute_bash",
            serde_json::json!({"command": "cargo test"}),
            false
        )));
        let status = |seq, status, reason: Option<&str>| {
            event(
                seq,
                EventBody::AgentStatus {
                    status,
                    reason: reason.map(str::to_string),
                    code: None,
                },
            )
        };
        assert!(!t.push(&status(6, AgentStatus::Thinking, None)));
        assert!(t.push(&status(7, AgentStatus::Idle, None)));
        let o = t.outcome;
        assert_eq!(o.files_changed, ["src/a.rs"]);
        assert_eq!(o.commands, ["cargo test"]);
        assert_eq!(o.tool_calls, 4);
        assert_eq!(o.end_seq, 7);
        assert!(o.succeeded());
        let report = o.report();
        assert!(report.contains("files changed: src/a.rs"), "{report}");
    }
}
