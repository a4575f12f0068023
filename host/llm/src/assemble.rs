//! Assembles one streamed answer from its chunks: text, tool calls whose
//! ids, names and argument fragments arrive in pieces keyed by `index`,
//! the finish reason and the usage. Nothing leaves the assembler until the
//! stream is complete, so a broken attempt never surfaces a tool call.

use super::wire::{Chunk, finish_reason};
use crate::{Completion, FinishReason, TokenUsage, ToolCallRequest};
use std::collections::BTreeMap;

#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// The state of one streamed answer.
#[derive(Debug, Default)]
pub struct Assembler {
    content: String,
    saw_content: bool,
    calls: BTreeMap<u32, PartialCall>,
    finish: Option<FinishReason>,
    usage: Option<TokenUsage>,
}

/// Why a finished stream does not make a complete answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssembleError {
    /// The stream ended without a `finish_reason`.
    #[error("the stream ended before the answer was finished")]
    Unfinished,
    /// A tool call never received its name.
    #[error("tool call #{index} has no name")]
    NamelessCall {
        /// Its index.
        index: u32,
    },
}

impl Assembler {
    /// Adds one chunk; returns the text it adds (to show live).
    pub fn push(&mut self, chunk: Chunk) -> Option<String> {
        if let Some(u) = chunk.usage {
            self.usage = Some(TokenUsage {
                input_tokens: u.prompt_tokens,
                output_tokens: u.completion_tokens,
                cached_tokens: u
                    .prompt_tokens_details
                    .and_then(|d| d.cached_tokens)
                    .unwrap_or(0),
                reasoning_tokens: u
                    .completion_tokens_details
                    .and_then(|d| d.reasoning_tokens)
                    .unwrap_or(0),
            });
        }
        let mut text = String::new();
        // Paddock asks for one choice; others (n > 1) are ignored.
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            for piece in [choice.delta.content, choice.delta.refusal]
                .into_iter()
                .flatten()
            {
                self.saw_content = true;
                text.push_str(&piece);
            }
            for d in choice.delta.tool_calls.unwrap_or_default() {
                let call = self.calls.entry(d.index).or_default();
                if let Some(id) = d.id.filter(|id| !id.is_empty())
                    && call.id.is_empty()
                {
                    call.id = id;
                }
                if let Some(f) = d.function {
                    // Most servers send the whole name once; some repeat it on
                    // every piece, a few split it. Append only what is new.
                    if let Some(name) = f.name.filter(|n| !n.is_empty())
                        && name != call.name
                    {
                        call.name.push_str(&name);
                    }
                    if let Some(args) = f.arguments {
                        call.arguments.push_str(&args);
                    }
                }
            }
            if let Some(r) = choice.finish_reason.filter(|r| !r.is_empty()) {
                self.finish = Some(finish_reason(&r));
            }
        }
        self.content.push_str(&text);
        (!text.is_empty()).then_some(text)
    }

    /// Whether a finish reason has arrived.
    pub fn finished(&self) -> bool {
        self.finish.is_some()
    }

    /// The complete answer. `attempts` is recorded as given.
    pub fn finish(self, attempts: u32) -> Result<Completion, AssembleError> {
        let finish_reason = self.finish.ok_or(AssembleError::Unfinished)?;
        let mut tool_calls = Vec::with_capacity(self.calls.len());
        for (index, c) in self.calls {
            if c.name.is_empty() {
                return Err(AssembleError::NamelessCall { index });
            }
            let id = if c.id.is_empty() {
                // Some local servers omit ids; the agent loop needs one.
                format!("call_{index}")
            } else {
                c.id
            };
            tool_calls.push(ToolCallRequest {
                id,
                name: c.name,
                arguments: c.arguments,
            });
        }
        Ok(Completion {
            content: self.saw_content.then_some(self.content),
            tool_calls,
            reasoning: Vec::new(),
            finish_reason,
            usage: self.usage.unwrap_or_default(),
            attempts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(v: serde_json::Value) -> Chunk {
        serde_json::from_value(v).unwrap()
    }

    fn call_piece(index: u32, id: Option<&str>, name: Option<&str>, args: &str) -> Chunk {
        let mut tc = serde_json::json!({"index": index, "function": {"arguments": args}});
        if let Some(id) = id {
            tc["id"] = id.into();
            tc["type"] = "function".into();
        }
        if let Some(n) = name {
            tc["function"]["name"] = n.into();
        }
        chunk(
            serde_json::json!({"choices": [{"index": 0, "delta": {"tool_calls": [tc]}, "finish_reason": null}]}),
        )
    }

    fn finish(reason: &str) -> Chunk {
        chunk(serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}))
    }

    #[test]
    fn text_pieces_and_usage() {
        let mut a = Assembler::default();
        assert_eq!(
            a.push(chunk(serde_json::json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}))),
            None
        );
        assert_eq!(
            a.push(chunk(
                serde_json::json!({"choices": [{"index": 0, "delta": {"content": "Hel"}}]})
            )),
            Some("Hel".into())
        );
        a.push(chunk(
            serde_json::json!({"choices": [{"index": 0, "delta": {"content": "lo"}}]}),
        ));
        assert!(!a.finished());
        a.push(finish("stop"));
        a.push(chunk(serde_json::json!({"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12, "prompt_tokens_details": {"cached_tokens": 4}}})));
        let c = a.finish(1).unwrap();
        assert_eq!(c.content.as_deref(), Some("Hello"));
        assert_eq!(c.finish_reason, FinishReason::Stop);
        assert_eq!(
            c.usage,
            TokenUsage {
                input_tokens: 10,
                output_tokens: 2,
                cached_tokens: 4,
                reasoning_tokens: 0,
            }
        );
        assert!(c.tool_calls.is_empty());
    }

    #[test]
    fn tool_calls_split_across_many_chunks_in_parallel() {
        let mut a = Assembler::default();
        a.push(call_piece(0, Some("call_a"), Some("read_file"), ""));
        a.push(call_piece(0, None, None, "{\"pa"));
        a.push(call_piece(1, Some("call_b"), Some("list_"), "{"));
        a.push(call_piece(1, None, Some("dir"), ""));
        a.push(call_piece(0, None, None, "th\": \"a"));
        a.push(call_piece(1, None, None, "}"));
        // A server repeating the whole name on a later piece.
        a.push(call_piece(0, None, Some("read_file"), ".txt\"}"));
        // Both pieces in one chunk.
        a.push(chunk(serde_json::json!({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 2, "id": "call_c", "type": "function", "function": {"name": "x", "arguments": "{}"}},
            {"index": 1, "function": {"arguments": ""}}
        ]}}]})));
        a.push(finish("tool_calls"));
        let c = a.finish(2).unwrap();
        assert_eq!(c.attempts, 2);
        assert_eq!(c.content, None);
        assert_eq!(c.finish_reason, FinishReason::ToolCalls);
        let calls: Vec<(&str, &str, &str)> = c
            .tool_calls
            .iter()
            .map(|t| (t.id.as_str(), t.name.as_str(), t.arguments.as_str()))
            .collect();
        assert_eq!(
            calls,
            vec![
                ("call_a", "read_file", "{\"path\": \"a.txt\"}"),
                ("call_b", "list_dir", "{}"),
                ("call_c", "x", "{}"),
            ]
        );
    }

    #[test]
    fn malformed_arguments_are_kept_raw() {
        let mut a = Assembler::default();
        a.push(call_piece(0, Some("call_a"), Some("f"), "{\"path\": "));
        a.push(finish("tool_calls"));
        assert_eq!(a.finish(1).unwrap().tool_calls[0].arguments, "{\"path\": ");
    }

    #[test]
    fn every_finish_reason() {
        for (s, f) in [
            ("stop", FinishReason::Stop),
            ("tool_calls", FinishReason::ToolCalls),
            ("length", FinishReason::Length),
            ("content_filter", FinishReason::ContentFilter),
            ("function_call", FinishReason::FunctionCall),
            ("abort", FinishReason::Other("abort".into())),
        ] {
            let mut a = Assembler::default();
            a.push(finish(s));
            assert!(a.finished());
            assert_eq!(a.finish(1).unwrap().finish_reason, f);
        }
    }

    #[test]
    fn unfinished_or_nameless_is_an_error() {
        let mut a = Assembler::default();
        a.push(call_piece(0, Some("call_a"), Some("f"), "{"));
        assert_eq!(a.finish(1).unwrap_err(), AssembleError::Unfinished);
        let mut a = Assembler::default();
        a.push(call_piece(0, Some("call_a"), None, "{}"));
        a.push(finish("tool_calls"));
        assert_eq!(
            a.finish(1).unwrap_err(),
            AssembleError::NamelessCall { index: 0 }
        );
        // No id at all: one is made up so the loop can answer the call.
        let mut a = Assembler::default();
        a.push(call_piece(3, None, Some("f"), "{}"));
        a.push(finish("tool_calls"));
        assert_eq!(a.finish(1).unwrap().tool_calls[0].id, "call_3");
    }
}
