//! A stored run as a script: `paddock export-script` turns an agent's
//! events into a scripted-model script that answers as the model did —
//! the same text, tool calls (arguments byte for byte), reasoning
//! summaries, finish reasons and token counts — and asserts, turn by turn,
//! that the replayed run sends what the recorded one received: the system
//! prompt, the user's message and the tool results. A replay that differs
//! stops at the first difference with the scripted model's
//! `script_divergence` error, which names the turn and what differs.

use paddock_protocol::events::{Event, EventBody};
use serde::Serialize;

/// The script of one run.
#[derive(Debug, Serialize)]
struct ScriptOut {
    model: String,
    turns: Vec<TurnOut>,
}

#[derive(Debug, Serialize)]
struct TurnOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    expect: Option<ExpectOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<CallOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<UsageOut>,
}

#[derive(Debug, Default, Serialize)]
struct ExpectOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_results: Vec<String>,
}

#[derive(Debug, Serialize)]
struct CallOut {
    name: String,
    raw_arguments: String,
}

#[derive(Debug, Serialize)]
struct UsageOut {
    prompt_tokens: u64,
    completion_tokens: u64,
    cached_tokens: u64,
    reasoning_tokens: u64,
}

/// Why a log cannot be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The log has no `agent.created` event (not an agent's log).
    #[error("the log has no agent.created event")]
    NotAnAgent,
    /// The model never answered: there is nothing to replay.
    #[error("the agent's model never answered: there is nothing to replay")]
    NoAnswers,
    /// The script could not be written.
    #[error("cannot write the script: {0}")]
    Write(String),
}

/// What the export says about the run, for its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The script (YAML, with a header of comments).
    pub yaml: String,
    /// The model's answers (the script's turns).
    pub turns: usize,
    /// The first user message (the task).
    pub task: String,
}

/// The script of the run in `events` (one agent's log, in seq order).
pub fn script_from_events(agent_id: &str, events: &[Event]) -> Result<Exported, ExportError> {
    let mut config = None;
    let mut turns: Vec<TurnOut> = Vec::new();
    let mut pending = ExpectOut::default();
    let mut task = None;
    let mut system_checked = false;
    for e in events {
        match &e.body {
            EventBody::AgentCreated { config: c } => config = Some((**c).clone()),
            EventBody::MessageUser { text } => {
                task.get_or_insert_with(|| text.clone());
                pending.user = Some(text.clone());
            }
            EventBody::ToolResult { content, .. } => pending.tool_results.push(content.clone()),
            EventBody::MessageAssistant {
                text,
                tool_calls,
                finish_reason,
                reasoning,
            } => {
                let mut expect = std::mem::take(&mut pending);
                if !system_checked {
                    system_checked = true;
                    expect.system = config.as_ref().map(|c| c.system_prompt.clone());
                }
                let summary: Vec<&str> = reasoning
                    .iter()
                    .flat_map(|r| r.summary.iter().map(String::as_str))
                    .collect();
                // An answer the user interrupted is replayed as the part
                // that was kept, ending normally.
                let finish = match finish_reason.as_str() {
                    "stop" | "tool_calls" | "interrupted" => None,
                    other => Some(other.to_string()),
                };
                let has_expect = expect.system.is_some()
                    || expect.user.is_some()
                    || !expect.tool_results.is_empty();
                turns.push(TurnOut {
                    expect: has_expect.then_some(expect),
                    reasoning: (!summary.is_empty()).then(|| summary.join("\n\n")),
                    // A turn must answer something: an empty answer is
                    // replayed as empty text.
                    text: match (text, tool_calls.is_empty()) {
                        (None, true) => Some(String::new()),
                        (t, _) => t.clone(),
                    },
                    tool_calls: tool_calls
                        .iter()
                        .map(|c| CallOut {
                            name: c.name.clone(),
                            raw_arguments: c.arguments.clone(),
                        })
                        .collect(),
                    finish_reason: finish,
                    usage: None,
                });
            }
            EventBody::Usage {
                input_tokens,
                output_tokens,
                cached_tokens,
                reasoning_tokens,
                ..
            } => {
                if let Some(t) = turns.last_mut()
                    && t.usage.is_none()
                {
                    t.usage = Some(UsageOut {
                        prompt_tokens: *input_tokens,
                        completion_tokens: *output_tokens,
                        cached_tokens: *cached_tokens,
                        reasoning_tokens: *reasoning_tokens,
                    });
                }
            }
            _ => {}
        }
    }
    let config = config.ok_or(ExportError::NotAnAgent)?;
    if turns.is_empty() {
        return Err(ExportError::NoAnswers);
    }
    let task = task.unwrap_or_default();
    let count = turns.len();
    let script = ScriptOut {
        model: config.model.model.clone(),
        turns,
    };
    let body = serde_yaml_ng::to_string(&script).map_err(|e| ExportError::Write(e.to_string()))?;
    let first_line = task.lines().next().unwrap_or("");
    let yaml = format!(
        "# The run of agent {agent_id} (`{name}`, model `{provider}/{model}`), exported by\n\
         # `paddock export-script`: {count} model answers; each turn's `expect` is what the\n\
         # recorded run sent the model before that answer.\n\
         # Replay it offline:\n\
         #   paddock scripted-model --script THIS_FILE          # prints its URL\n\
         #   paddock run --model-url URL --model {model} --api chat|responses \\\n\
         #     --workspace A_COPY_OF_THE_STARTING_WORKSPACE --system-prompt '…' '{first_line}'\n\
         # A replay that sends something else stops with `script_divergence`, naming the turn.\n{body}",
        name = config.name,
        provider = config.model.provider,
        model = config.model.model,
    );
    Ok(Exported {
        yaml,
        turns: count,
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_protocol::llm::{ReasoningItem, ToolCallRequest};

    fn event(seq: u64, body: EventBody) -> Event {
        Event {
            seq,
            agent_id: "a1".into(),
            ts: chrono::Utc::now(),
            body,
        }
    }

    fn log() -> Vec<Event> {
        let config: paddock_protocol::agent::AgentConfig =
            serde_json::from_value(serde_json::json!({
                "name": "fixer",
                "system_prompt": "You fix bugs.",
                "model": {"provider": "openai", "model": "gpt-5"},
                "workspace": "/tmp/ws",
            }))
            .unwrap();
        let usage = |input, output| EventBody::Usage {
            provider: "openai".into(),
            model: "gpt-5".into(),
            input_tokens: input,
            output_tokens: output,
            cached_tokens: 3,
            reasoning_tokens: 7,
            cost_usd: 0.0,
            price_known: false,
            duration_ms: 1,
            ttft_ms: None,
            attempts: 1,
            masked_tokens_saved: 0,
            route: None,
            failover: Vec::new(),
        };
        let bodies = vec![
            EventBody::AgentCreated {
                config: Box::new(config),
            },
            EventBody::MessageUser {
                text: "fix the bug".into(),
            },
            EventBody::MessageAssistant {
                text: None,
                tool_calls: vec![
                    ToolCallRequest {
                        id: "call_1".into(),
                        name: "read_file".into(),
                        arguments: "{\"path\": \"a.txt\"}".into(),
                    },
                    ToolCallRequest {
                        id: "call_2".into(),
                        name: "execute_bash".into(),
                        arguments: "{\"command\": \"ls".into(),
                    },
                ],
                finish_reason: "tool_calls".into(),
                reasoning: vec![ReasoningItem {
                    id: "rs_1".into(),
                    summary: vec!["Look first.".into(), "Then list.".into()],
                    encrypted_content: Some("opaque".into()),
                }],
            },
            usage(100, 20),
            EventBody::ToolResult {
                call_id: "call_1".into(),
                tool: "read_file".into(),
                success: true,
                content: "hello\n".into(),
                duration_ms: 1,
                truncated_bytes: 0,
                stripped_chars: 0,
                exit_code: None,
                approval_wait_ms: None,
            },
            EventBody::ToolResult {
                call_id: "call_2".into(),
                tool: "execute_bash".into(),
                success: false,
                content: "invalid arguments".into(),
                duration_ms: 1,
                truncated_bytes: 0,
                stripped_chars: 0,
                exit_code: None,
                approval_wait_ms: None,
            },
            EventBody::MessageAssistant {
                text: Some("Done: it was a typo.".into()),
                tool_calls: Vec::new(),
                finish_reason: "stop".into(),
                reasoning: Vec::new(),
            },
            usage(150, 10),
        ];
        bodies
            .into_iter()
            .enumerate()
            .map(|(i, b)| event(i as u64 + 1, b))
            .collect()
    }

    #[test]
    fn a_run_becomes_turns_with_what_each_answer_received() {
        let out = script_from_events("a1", &log()).unwrap();
        assert_eq!((out.turns, out.task.as_str()), (2, "fix the bug"));
        // The scripted model takes it as it is.
        crate::scripted::Script::from_yaml_str(&out.yaml).unwrap();
        assert!(
            out.yaml.starts_with("# The run of agent a1 (`fixer`"),
            "{}",
            out.yaml
        );
        let v: serde_json::Value = serde_yaml_ng::from_str(&out.yaml).unwrap();
        assert_eq!(v["model"], "gpt-5");
        let t0 = &v["turns"][0];
        assert_eq!(t0["expect"]["system"], "You fix bugs.");
        assert_eq!(t0["expect"]["user"], "fix the bug");
        assert!(t0["expect"].get("tool_results").is_none());
        assert_eq!(t0["reasoning"], "Look first.\n\nThen list.");
        assert_eq!(t0["tool_calls"][0]["name"], "read_file");
        assert_eq!(
            t0["tool_calls"][0]["raw_arguments"],
            "{\"path\": \"a.txt\"}"
        );
        assert_eq!(
            t0["tool_calls"][1]["raw_arguments"], "{\"command\": \"ls",
            "kept byte for byte, even invalid"
        );
        assert_eq!(t0["usage"]["prompt_tokens"], 100);
        assert_eq!(t0["usage"]["reasoning_tokens"], 7);
        let t1 = &v["turns"][1];
        assert!(t1["expect"].get("system").is_none() && t1["expect"].get("user").is_none());
        assert_eq!(
            t1["expect"]["tool_results"],
            serde_json::json!(["hello\n", "invalid arguments"])
        );
        assert_eq!(t1["text"], "Done: it was a typo.");
        assert!(t1.get("finish_reason").is_none());
        assert_eq!(t1["usage"]["completion_tokens"], 10);
    }

    #[test]
    fn a_log_without_answers_or_agent_is_refused() {
        let events = log();
        assert!(matches!(
            script_from_events("a1", &events[..2]),
            Err(ExportError::NoAnswers)
        ));
        assert!(matches!(
            script_from_events("a1", &events[1..]),
            Err(ExportError::NotAnAgent)
        ));
    }
}
