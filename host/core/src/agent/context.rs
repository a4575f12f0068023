//! Context management: the conversation rebuilt from an agent's stored
//! events, what the agent must do next, long tool outputs cut to head and
//! tail, and stale tool outputs masked when the prompt nears the model's
//! context window.
//!
//! The prompt prefix stays byte-identical between turns so provider-side
//! prompt caching hits: history is append-only, tools are sorted, and the
//! masking boundary only moves in batches (when the threshold is crossed, all
//! tool outputs but the latest turns' are masked at once).

use crate::policy::{Action, RiskLevel};
use paddock_llm::{ChatMessage, ToolCallRequest};
use paddock_protocol::events::{Event, EventBody};
use paddock_protocol::hooks::{HookOutcome, HookRecord};
use paddock_protocol::llm::ReasoningItem;
use std::collections::HashSet;

/// Tool results of this many latest assistant turns are never masked.
const KEEP_RECENT_TURNS: usize = 2;

/// One conversation item, from a stored event.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// A user message.
    User {
        /// Its text.
        text: String,
    },
    /// A model answer.
    Assistant {
        /// Its text.
        text: Option<String>,
        /// Its tool calls.
        tool_calls: Vec<ToolCallRequest>,
        /// Its reasoning items (Responses API), sent back with it.
        reasoning: Vec<ReasoningItem>,
    },
    /// A tool call was started (recorded before it ran).
    ToolStarted {
        /// The call.
        call_id: String,
        /// Whether the tool only reads.
        read_only: bool,
    },
    /// A tool call's result.
    ToolResult {
        /// The call.
        call_id: String,
        /// The tool.
        tool: String,
        /// What the model sees.
        content: String,
    },
    /// A step of a call through the policy pipeline.
    Gate {
        /// The call.
        call_id: String,
        /// Where it stands.
        gate: Gate,
    },
    /// A hook rewrote a call's arguments: the call runs with these (the
    /// model's answer keeps what it asked for).
    Rewrite {
        /// The call.
        call_id: String,
        /// The arguments it runs with, as JSON text.
        arguments: String,
    },
}

/// Where a tool call stands in the policy pipeline, from its events.
#[derive(Clone, Debug, PartialEq)]
pub enum Gate {
    /// The pipeline decided; no approval was asked yet.
    Decided {
        /// What it decided.
        action: Action,
        /// The risk level.
        level: RiskLevel,
        /// Why.
        reasons: Vec<String>,
    },
    /// An approval was asked and not yet recorded as decided.
    Requested,
    /// The approval was decided.
    Resolved {
        /// Whether the call runs.
        approved: bool,
        /// What the model is told when it does not.
        refusal: String,
    },
}

/// What the agent has to do next.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Ask the model.
    CallModel,
    /// Run this tool call (of the latest answer); `started` when a
    /// `tool.call` was recorded without a result (the host stopped mid-call).
    RunTool {
        /// The call.
        call: ToolCallRequest,
        /// Whether it was already started once.
        started: bool,
        /// Whether the started call's tool only reads.
        read_only: bool,
        /// How far the policy pipeline got with it.
        gate: Option<Gate>,
    },
    /// Nothing: wait for a user message.
    Idle,
}

/// What the model is told about a call a human did not approve.
pub fn refusal(status: &str, by: &str, reason: Option<&str>) -> String {
    let why = match status {
        "expired" => "nobody approved it in time".to_string(),
        "cancelled" => "the approval was cancelled".to_string(),
        _ => format!("denied by {by}"),
    };
    match reason {
        Some(r) if !r.trim().is_empty() => format!("not run: {why}: {}", r.trim()),
        _ => format!("not run: {why}"),
    }
}

/// A conversation and its masking state.
#[derive(Clone, Debug, Default)]
pub struct Transcript {
    system: String,
    items: Vec<Item>,
    /// Tool results at indexes below this are masked.
    mask_before: usize,
    /// Learned tokens per byte of request (from the provider's usage).
    tokens_per_byte: Option<f64>,
}

/// A prepared request: messages and what masking saved.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    /// The messages to send.
    pub messages: Vec<ChatMessage>,
    /// Estimated prompt tokens saved by masking.
    pub tokens_saved: u64,
    /// Bytes of the messages' contents (for calibration).
    pub bytes: usize,
}

impl Transcript {
    /// An empty conversation with this system prompt.
    pub fn new(system: &str) -> Transcript {
        Transcript {
            system: system.to_string(),
            ..Transcript::default()
        }
    }

    /// Rebuilds a conversation from stored events (in seq order).
    pub fn from_events<'a>(
        system: &str,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Transcript {
        let mut t = Transcript::new(system);
        for e in events {
            t.push_event(&e.body);
        }
        t
    }

    /// Adds what a stored event contributes (others are ignored).
    pub fn push_event(&mut self, body: &EventBody) {
        let item = match body {
            EventBody::MessageUser { text } => Item::User { text: text.clone() },
            EventBody::MessageAssistant {
                text,
                tool_calls,
                reasoning,
                ..
            } => Item::Assistant {
                text: text.clone(),
                tool_calls: tool_calls.clone(),
                reasoning: reasoning.clone(),
            },
            EventBody::ToolCall {
                call_id, read_only, ..
            } => Item::ToolStarted {
                call_id: call_id.clone(),
                read_only: *read_only,
            },
            EventBody::ToolResult {
                call_id,
                tool,
                content,
                ..
            } => Item::ToolResult {
                call_id: call_id.clone(),
                tool: tool.clone(),
                content: content.clone(),
            },
            EventBody::PolicyDecision {
                call_id, decision, ..
            } => Item::Gate {
                call_id: call_id.clone(),
                gate: Gate::Decided {
                    action: decision.action,
                    level: decision.level,
                    reasons: decision.reasons.clone(),
                },
            },
            EventBody::ApprovalRequested { call_id, .. } => Item::Gate {
                call_id: call_id.clone(),
                gate: Gate::Requested,
            },
            EventBody::ApprovalDecided {
                call_id,
                approved,
                status,
                by,
                reason,
                ..
            } => Item::Gate {
                call_id: call_id.clone(),
                gate: Gate::Resolved {
                    approved: *approved,
                    refusal: refusal(status.as_str(), by, reason.as_deref()),
                },
            },
            EventBody::Hook(HookRecord {
                call_id: Some(call_id),
                outcome: HookOutcome::Rewrote { arguments, .. },
                ..
            }) => Item::Rewrite {
                call_id: call_id.clone(),
                arguments: arguments.to_string(),
            },
            _ => return,
        };
        self.items.push(item);
    }

    /// The items so far.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// The text of the latest user message, if any.
    pub fn last_user_message(&self) -> Option<String> {
        self.items.iter().rev().find_map(|i| match i {
            Item::User { text } => Some(text.clone()),
            _ => None,
        })
    }

    /// What to do next: run the latest answer's first unresolved tool call,
    /// ask the model if something new (user message, tool results) came
    /// after its latest answer, else nothing.
    pub fn next_step(&self) -> Step {
        let last_answer = self
            .items
            .iter()
            .rposition(|i| matches!(i, Item::Assistant { .. }));
        if let Some(a) = last_answer
            && let Item::Assistant { tool_calls, .. } = &self.items[a]
        {
            let after = &self.items[a + 1..];
            for call in tool_calls {
                let resolved = after
                    .iter()
                    .any(|i| matches!(i, Item::ToolResult { call_id, .. } if *call_id == call.id));
                if resolved {
                    continue;
                }
                let started = after.iter().find_map(|i| match i {
                    Item::ToolStarted { call_id, read_only } if *call_id == call.id => {
                        Some(*read_only)
                    }
                    _ => None,
                });
                let gate = after.iter().rev().find_map(|i| match i {
                    Item::Gate { call_id, gate } if *call_id == call.id => Some(gate.clone()),
                    _ => None,
                });
                let rewritten = after.iter().rev().find_map(|i| match i {
                    Item::Rewrite { call_id, arguments } if *call_id == call.id => {
                        Some(arguments.clone())
                    }
                    _ => None,
                });
                let mut call = call.clone();
                if let Some(arguments) = rewritten {
                    call.arguments = arguments;
                }
                return Step::RunTool {
                    call,
                    started: started.is_some(),
                    read_only: started.unwrap_or(false),
                    gate,
                };
            }
        }
        let start = last_answer.map(|a| a + 1).unwrap_or(0);
        let fresh = self.items[start..]
            .iter()
            .any(|i| matches!(i, Item::User { .. } | Item::ToolResult { .. }));
        if fresh { Step::CallModel } else { Step::Idle }
    }

    /// Records the provider's count of prompt tokens for a request of
    /// `bytes` bytes, to estimate later requests.
    pub fn calibrate(&mut self, bytes: usize, input_tokens: u64) {
        if bytes > 0 && input_tokens > 0 {
            self.tokens_per_byte = Some(input_tokens as f64 / bytes as f64);
        }
    }

    /// Estimated tokens of a request of `bytes` bytes: the calibration of
    /// the latest call, or 4 bytes a token before the first.
    pub fn estimate_tokens(&self, bytes: usize) -> u64 {
        (bytes as f64 * self.tokens_per_byte.unwrap_or(0.25)).ceil() as u64
    }

    /// The messages for the next model call. When the estimate exceeds
    /// `budget_tokens`, every tool output older than the latest
    /// [`KEEP_RECENT_TURNS`] answers is masked (once, as a batch); the
    /// system prompt and user messages are never masked.
    pub fn prepare(&mut self, budget_tokens: u64, overhead_bytes: usize) -> Prepared {
        let first = self.render();
        if self.estimate_tokens(first.bytes + overhead_bytes) <= budget_tokens {
            return first;
        }
        let boundary = self
            .items
            .iter()
            .enumerate()
            .filter(|(_, i)| matches!(i, Item::Assistant { .. }))
            .map(|(n, _)| n)
            .rev()
            .nth(KEEP_RECENT_TURNS - 1)
            .unwrap_or(0);
        if boundary > self.mask_before {
            self.mask_before = boundary;
            return self.render();
        }
        first
    }

    /// The messages with the current masking. User messages that arrived
    /// while tool calls were open are placed after those calls' results.
    fn render(&self) -> Prepared {
        let mut messages = vec![ChatMessage::System {
            content: self.system.clone(),
        }];
        let mut bytes = self.system.len();
        let mut saved_bytes = 0usize;
        let mut open: HashSet<&str> = HashSet::new();
        let mut deferred: Vec<&str> = Vec::new();
        for (n, item) in self.items.iter().enumerate() {
            match item {
                Item::User { text } => {
                    if open.is_empty() {
                        bytes += text.len();
                        messages.push(ChatMessage::User {
                            content: text.clone(),
                        });
                    } else {
                        deferred.push(text);
                    }
                }
                Item::Assistant {
                    text,
                    tool_calls,
                    reasoning,
                } => {
                    // An answer while calls are open cannot happen in a
                    // consistent log; close them defensively.
                    open.clear();
                    bytes += text.as_deref().map_or(0, str::len)
                        + tool_calls
                            .iter()
                            .map(|c| c.name.len() + c.arguments.len())
                            .sum::<usize>()
                        + reasoning
                            .iter()
                            .map(|r| {
                                r.summary.iter().map(String::len).sum::<usize>()
                                    + r.encrypted_content.as_deref().map_or(0, str::len)
                            })
                            .sum::<usize>();
                    open.extend(tool_calls.iter().map(|c| c.id.as_str()));
                    messages.push(ChatMessage::Assistant {
                        content: text.clone(),
                        tool_calls: tool_calls.clone(),
                        reasoning: reasoning.clone(),
                    });
                }
                Item::ToolStarted { .. } | Item::Gate { .. } | Item::Rewrite { .. } => {}
                Item::ToolResult {
                    call_id,
                    tool,
                    content,
                } => {
                    if !open.remove(call_id.as_str()) {
                        continue;
                    }
                    let content = if n < self.mask_before {
                        let placeholder = mask_placeholder(tool, content.len());
                        saved_bytes += content.len().saturating_sub(placeholder.len());
                        placeholder
                    } else {
                        content.clone()
                    };
                    bytes += content.len();
                    messages.push(ChatMessage::Tool {
                        tool_call_id: call_id.clone(),
                        content,
                    });
                    if open.is_empty() {
                        for text in deferred.drain(..) {
                            bytes += text.len();
                            messages.push(ChatMessage::User {
                                content: text.to_string(),
                            });
                        }
                    }
                }
            }
        }
        for text in deferred {
            bytes += text.len();
            messages.push(ChatMessage::User {
                content: text.to_string(),
            });
        }
        Prepared {
            messages,
            tokens_saved: self.estimate_tokens(saved_bytes),
            bytes,
        }
    }
}

/// The one line that replaces a masked tool output.
pub fn mask_placeholder(tool: &str, len: usize) -> String {
    format!(
        "[output of `{tool}` ({len} bytes) masked to save context; call the tool again if you need it]"
    )
}

/// Cuts `text` to at most about `max` bytes: its head and tail with a note of
/// what was cut. Returns the text and the number of bytes cut.
pub fn truncate_output(text: &str, max: usize) -> (String, u64) {
    if text.len() <= max {
        return (text.to_string(), 0);
    }
    let head_len = floor_boundary(text, max * 6 / 10);
    let tail_start = ceil_boundary(text, text.len() - (max - max * 6 / 10));
    let cut = tail_start - head_len;
    (
        format!(
            "{}\n[… {cut} bytes cut from the middle of this output …]\n{}",
            &text[..head_len],
            &text[tail_start..]
        ),
        cut as u64,
    )
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str) -> ToolCallRequest {
        ToolCallRequest {
            id: id.into(),
            name: "read_file".into(),
            arguments: "{}".into(),
        }
    }
    fn answer(calls: &[&str]) -> Item {
        Item::Assistant {
            text: None,
            tool_calls: calls.iter().map(|c| call(c)).collect(),
            reasoning: vec![],
        }
    }
    fn result(id: &str, content: &str) -> Item {
        Item::ToolResult {
            call_id: id.into(),
            tool: "read_file".into(),
            content: content.into(),
        }
    }
    fn user(t: &str) -> Item {
        Item::User { text: t.into() }
    }

    #[test]
    fn next_step_follows_the_log() {
        let mut t = Transcript::new("sys");
        assert_eq!(t.next_step(), Step::Idle);
        t.items.push(user("task"));
        assert_eq!(t.next_step(), Step::CallModel);
        t.items.push(answer(&["a", "b"]));
        assert!(
            matches!(t.next_step(), Step::RunTool { call, started: false, .. } if call.id == "a")
        );
        t.items.push(Item::ToolStarted {
            call_id: "a".into(),
            read_only: true,
        });
        assert!(
            matches!(t.next_step(), Step::RunTool { call, started: true, read_only: true, .. } if call.id == "a")
        );
        t.items.push(result("a", "x"));
        assert!(
            matches!(t.next_step(), Step::RunTool { call, started: false, .. } if call.id == "b")
        );
        t.items.push(result("b", "y"));
        assert_eq!(t.next_step(), Step::CallModel);
        t.items.push(Item::Assistant {
            text: Some("done".into()),
            tool_calls: vec![],
            reasoning: vec![],
        });
        assert_eq!(t.next_step(), Step::Idle);
        t.items.push(user("more"));
        assert_eq!(t.next_step(), Step::CallModel);
    }

    #[test]
    fn the_latest_gate_of_a_call_is_its_state() {
        let mut t = Transcript::new("sys");
        t.items.push(user("task"));
        t.items.push(answer(&["a"]));
        let gate = |t: &Transcript| match t.next_step() {
            Step::RunTool { gate, .. } => gate,
            other => panic!("{other:?}"),
        };
        assert_eq!(gate(&t), None);
        for (e, want) in [
            (
                EventBody::PolicyDecision {
                    call_id: "a".into(),
                    tool: "t".into(),
                    decision: crate::policy::Decision {
                        action: Action::Ask,
                        level: RiskLevel::Medium,
                        reasons: vec!["why".into()],
                        rule: None,
                        rule_scope: None,
                        mode: Default::default(),
                        verdicts: vec![],
                    },
                },
                Gate::Decided {
                    action: Action::Ask,
                    level: RiskLevel::Medium,
                    reasons: vec!["why".into()],
                },
            ),
            (
                EventBody::ApprovalRequested {
                    call_id: "a".into(),
                    tool: "t".into(),
                    arguments: serde_json::json!({}),
                    level: RiskLevel::Medium,
                    reasons: vec![],
                    diff: None,
                    remember: paddock_protocol::events::RememberRules {
                        agent: "allow t".into(),
                        always: "allow t".into(),
                    },
                    expires_at: None,
                },
                Gate::Requested,
            ),
            (
                EventBody::ApprovalDecided {
                    call_id: "a".into(),
                    tool: "t".into(),
                    approved: false,
                    status: paddock_store::ApprovalStatus::Denied,
                    by: "alice".into(),
                    reason: Some("no".into()),
                    rule: None,
                    rule_scope: None,
                },
                Gate::Resolved {
                    approved: false,
                    refusal: "not run: denied by alice: no".into(),
                },
            ),
        ] {
            t.push_event(&e);
            assert_eq!(gate(&t), Some(want));
        }
        // Gates never reach the model.
        let prepared = t.prepare(1_000_000, 0);
        assert_eq!(prepared.messages.len(), 3, "{:?}", prepared.messages);
    }

    #[test]
    fn a_rewritten_call_runs_with_its_new_arguments_but_the_answer_keeps_the_old() {
        let mut t = Transcript::new("sys");
        t.items.push(user("task"));
        t.items.push(answer(&["a"]));
        t.push_event(&EventBody::Hook(HookRecord {
            hook: "h".into(),
            event: paddock_protocol::hooks::HookEvent::BeforeToolCall,
            call_id: Some("a".into()),
            outcome: HookOutcome::Rewrote {
                original: serde_json::json!({}),
                arguments: serde_json::json!({"path": "new"}),
            },
            duration_us: 1,
        }));
        match t.next_step() {
            Step::RunTool { call, .. } => assert_eq!(call.arguments, r#"{"path":"new"}"#),
            other => panic!("{other:?}"),
        }
        assert_eq!(t.last_user_message().as_deref(), Some("task"));
        // What the model asked for is what it is shown again.
        let sent = serde_json::to_string(&t.render().messages).unwrap();
        assert!(!sent.contains("new"), "{sent}");
    }

    #[test]
    fn user_messages_during_tool_calls_follow_the_results() {
        let mut t = Transcript::new("sys");
        t.items = vec![
            user("task"),
            answer(&["a"]),
            user("also this"),
            result("a", "out"),
        ];
        let p = t.prepare(u64::MAX, 0);
        let roles: Vec<&str> = p
            .messages
            .iter()
            .map(|m| match m {
                ChatMessage::System { .. } => "system",
                ChatMessage::User { .. } => "user",
                ChatMessage::Assistant { .. } => "assistant",
                ChatMessage::Tool { .. } => "tool",
            })
            .collect();
        assert_eq!(roles, ["system", "user", "assistant", "tool", "user"]);
    }

    #[test]
    fn masking_keeps_task_latest_user_and_recent_turns_and_is_stable() {
        let mut t = Transcript::new("sys");
        t.items.push(user("the task statement"));
        for n in 0..6 {
            let id = format!("c{n}");
            t.items.push(answer(&[&id]));
            t.items.push(result(&id, &"x".repeat(4000)));
        }
        t.items.push(user("latest user message"));
        let unmasked = t.clone().prepare(u64::MAX, 0);
        assert_eq!(unmasked.tokens_saved, 0);
        let p = t.prepare(2600, 0);
        assert!(p.tokens_saved > 3000, "{}", p.tokens_saved);
        let text = serde_json::to_string(&p.messages).unwrap();
        assert!(text.contains("the task statement"));
        assert!(text.contains("latest user message"));
        let masked = p
            .messages
            .iter()
            .filter(|m| matches!(m, ChatMessage::Tool { content, .. } if content.starts_with("[output of")))
            .count();
        assert_eq!(
            masked, 4,
            "all but the two latest turns' outputs are masked"
        );
        // The next turn keeps the same prefix: masking moves in batches.
        t.items.push(answer(&["c6"]));
        t.items.push(result("c6", "small"));
        let q = t.prepare(2600, 0);
        assert_eq!(&q.messages[..p.messages.len()], &p.messages[..]);
    }

    #[test]
    fn truncation_keeps_head_and_tail_on_char_boundaries() {
        let text = format!("{}{}{}", "h".repeat(100), "é".repeat(1000), "t".repeat(100));
        let (out, cut) = truncate_output(&text, 300);
        assert!(out.starts_with("hhhh"));
        assert!(out.ends_with("tttt"));
        assert!(out.contains("bytes cut"));
        assert!(cut > 1500);
        assert_eq!(truncate_output("short", 300), ("short".to_string(), 0));
    }
}
