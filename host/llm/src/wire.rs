//! The Chat Completions wire format as the client reads and writes it: the
//! request body (async-openai's `CreateChatCompletionRequest`), lenient
//! stream-chunk types, and a small Server-Sent Events decoder.
//!
//! Chunks are read with our own types rather than async-openai's
//! `CreateChatCompletionStreamResponse`: that type rejects a chunk whose
//! `finish_reason` is not one of OpenAI's five (vLLM's `abort`, other
//! servers' extensions) or that omits `created`/`object`, and an
//! OpenAI-compatible server is allowed those liberties.

use crate::{ChatMessage, ChatRequest, FinishReason};
use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestToolMessage,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, ChatCompletionStreamOptions, ChatCompletionTool,
    ChatCompletionTools, CreateChatCompletionRequest, FunctionCall, FunctionObject,
};
use serde::Deserialize;

/// The streaming request body for `req`: `stream: true` with
/// `stream_options.include_usage`, the tools, and `prompt_cache_key`.
/// `max_tokens` is sent as `max_completion_tokens`, OpenAI's current name.
pub fn request_body(req: &ChatRequest) -> CreateChatCompletionRequest {
    let messages = req.messages.iter().map(message).collect();
    let tools = (!req.tools.is_empty()).then(|| {
        req.tools
            .iter()
            .map(|t| {
                ChatCompletionTools::Function(ChatCompletionTool {
                    function: FunctionObject {
                        name: t.name.clone(),
                        description: Some(t.description.clone()),
                        parameters: Some(t.parameters.clone()),
                        strict: None,
                    },
                })
            })
            .collect()
    });
    CreateChatCompletionRequest {
        model: req.model.clone(),
        messages,
        tools,
        temperature: req.temperature,
        max_completion_tokens: req.max_tokens,
        prompt_cache_key: req.prompt_cache_key.clone(),
        stream: Some(true),
        stream_options: Some(ChatCompletionStreamOptions {
            include_usage: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[allow(deprecated)] // the struct literal names the deprecated `function_call`
fn message(m: &ChatMessage) -> ChatCompletionRequestMessage {
    match m {
        ChatMessage::System { content } => {
            ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
                content: ChatCompletionRequestSystemMessageContent::Text(content.clone()),
                name: None,
            })
        }
        ChatMessage::User { content } => {
            ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
                content: ChatCompletionRequestUserMessageContent::Text(content.clone()),
                name: None,
            })
        }
        ChatMessage::Assistant {
            content,
            tool_calls,
            ..
        } => ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
            content: content
                .clone()
                .map(ChatCompletionRequestAssistantMessageContent::Text),
            refusal: None,
            name: None,
            audio: None,
            tool_calls: (!tool_calls.is_empty()).then(|| {
                tool_calls
                    .iter()
                    .map(|c| {
                        ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                            id: c.id.clone(),
                            function: FunctionCall {
                                name: c.name.clone(),
                                arguments: c.arguments.clone(),
                            },
                        })
                    })
                    .collect()
            }),
            function_call: None,
        }),
        ChatMessage::Tool {
            tool_call_id,
            content,
        } => ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
            content: ChatCompletionRequestToolMessageContent::Text(content.clone()),
            tool_call_id: tool_call_id.clone(),
        }),
    }
}

/// One `chat.completion.chunk`, reading only what the client uses.
#[derive(Debug, Default, Deserialize)]
pub struct Chunk {
    /// The choices (empty on the usage chunk).
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Usage, on the last chunk when `include_usage` was asked.
    #[serde(default)]
    pub usage: Option<Usage>,
}

/// One choice of a chunk.
#[derive(Debug, Default, Deserialize)]
pub struct ChunkChoice {
    /// The choice's index (Paddock asks for one).
    #[serde(default)]
    pub index: u32,
    /// What this chunk adds.
    #[serde(default)]
    pub delta: Delta,
    /// Set on the choice's last chunk.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// What a chunk adds to the answer.
#[derive(Debug, Default, Deserialize)]
pub struct Delta {
    /// A piece of text.
    #[serde(default)]
    pub content: Option<String>,
    /// A piece of a refusal (kept as text).
    #[serde(default)]
    pub refusal: Option<String>,
    /// Pieces of tool calls.
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
}

/// A piece of one tool call; `index` says which.
#[derive(Debug, Default, Deserialize)]
pub struct ToolCallDelta {
    /// Which call (0-based, in the model's order).
    #[serde(default)]
    pub index: u32,
    /// The call's id, on its first piece.
    #[serde(default)]
    pub id: Option<String>,
    /// Name and/or an arguments fragment.
    #[serde(default)]
    pub function: Option<FunctionDelta>,
}

/// Name and arguments pieces of a tool call.
#[derive(Debug, Default, Deserialize)]
pub struct FunctionDelta {
    /// The name (usually whole, on the first piece).
    #[serde(default)]
    pub name: Option<String>,
    /// A fragment of the arguments text.
    #[serde(default)]
    pub arguments: Option<String>,
}

/// Token usage as providers report it.
#[derive(Debug, Default, Deserialize)]
pub struct Usage {
    /// Prompt tokens, cached ones included.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Completion tokens.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Details of the prompt tokens.
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Details of the completion tokens.
    #[serde(default)]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

/// Details of the completion tokens.
#[derive(Debug, Default, Deserialize)]
pub struct CompletionTokensDetails {
    /// Completion tokens the model spent reasoning (o-series models over
    /// Chat Completions).
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

/// Details of the prompt tokens.
#[derive(Debug, Default, Deserialize)]
pub struct PromptTokensDetails {
    /// Prompt tokens served from the cache.
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

/// The wire name of a finish reason as our type.
pub fn finish_reason(s: &str) -> FinishReason {
    match s {
        "stop" => FinishReason::Stop,
        "tool_calls" => FinishReason::ToolCalls,
        "length" => FinishReason::Length,
        "content_filter" => FinishReason::ContentFilter,
        "function_call" => FinishReason::FunctionCall,
        other => FinishReason::Other(other.to_string()),
    }
}

/// Decodes a Server-Sent Events byte stream into the `data` of each event.
/// Handles `\n`, `\r\n` and `\r` line ends, multi-line data, comments and
/// events split anywhere across reads.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
    data: Option<String>,
}

impl SseDecoder {
    /// Feeds bytes; returns the data of every event they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n' || b == b'\r') {
            // A lone `\r` at the end may be the first half of `\r\n`.
            if self.buf[pos] == b'\r' && pos + 1 == self.buf.len() {
                break;
            }
            let skip = if self.buf[pos] == b'\r' && self.buf.get(pos + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            let line: Vec<u8> = self.buf.drain(..pos + skip).take(pos).collect();
            let line = String::from_utf8_lossy(&line);
            if line.is_empty() {
                if let Some(d) = self.data.take() {
                    events.push(d);
                }
                continue;
            }
            let (field, value) = match line.find(':') {
                Some(0) => continue, // a comment
                Some(i) => {
                    let v = &line[i + 1..];
                    (&line[..i], v.strip_prefix(' ').unwrap_or(v))
                }
                None => (&line[..], ""),
            };
            if field == "data" {
                match &mut self.data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(value);
                    }
                    None => self.data = Some(value.to_string()),
                }
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_protocol::llm::{ToolCallRequest, ToolDef};

    #[test]
    fn sse_events_split_anywhere() {
        let text =
            ": keep-alive\r\ndata: {\"a\":1}\r\n\r\ndata: x\ndata: y\n\nevent: e\ndata: [DONE]\n\n";
        for split in 0..text.len() {
            let mut d = SseDecoder::default();
            let mut got = d.feed(&text.as_bytes()[..split]);
            got.extend(d.feed(&text.as_bytes()[split..]));
            assert_eq!(got, vec!["{\"a\":1}", "x\ny", "[DONE]"], "split at {split}");
        }
    }

    #[test]
    fn request_body_has_stream_options_tools_and_cache_key() {
        let req = ChatRequest {
            model: "m".into(),
            messages: vec![
                ChatMessage::System {
                    content: "sys".into(),
                },
                ChatMessage::User {
                    content: "hi".into(),
                },
                ChatMessage::Assistant {
                    content: None,
                    tool_calls: vec![ToolCallRequest {
                        id: "call_1".into(),
                        name: "read_file".into(),
                        arguments: "{\"path\":\"a\"}".into(),
                    }],
                    reasoning: Vec::new(),
                },
                ChatMessage::Tool {
                    tool_call_id: "call_1".into(),
                    content: "text".into(),
                },
            ],
            tools: vec![ToolDef {
                name: "read_file".into(),
                description: "reads".into(),
                parameters: serde_json::json!({"type": "object"}),
            }],
            temperature: Some(0.5),
            max_tokens: Some(100),
            prompt_cache_key: Some("agent-1".into()),
            reasoning: false,
            reasoning_effort: None,
            verbosity: None,
        };
        let v = serde_json::to_value(request_body(&req)).unwrap();
        assert_eq!(v["stream"], true);
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["prompt_cache_key"], "agent-1");
        assert_eq!(v["max_completion_tokens"], 100);
        assert_eq!(v["tools"][0]["type"], "function");
        assert_eq!(v["tools"][0]["function"]["name"], "read_file");
        assert_eq!(v["messages"][0]["role"], "system");
        assert_eq!(v["messages"][2]["role"], "assistant");
        assert_eq!(v["messages"][2]["tool_calls"][0]["type"], "function");
        assert_eq!(
            v["messages"][2]["tool_calls"][0]["function"]["arguments"],
            "{\"path\":\"a\"}"
        );
        assert_eq!(v["messages"][3]["role"], "tool");
        assert_eq!(v["messages"][3]["tool_call_id"], "call_1");
    }

    #[test]
    fn finish_reasons_map() {
        for (s, f) in [
            ("stop", FinishReason::Stop),
            ("tool_calls", FinishReason::ToolCalls),
            ("length", FinishReason::Length),
            ("content_filter", FinishReason::ContentFilter),
            ("function_call", FinishReason::FunctionCall),
            ("abort", FinishReason::Other("abort".into())),
        ] {
            assert_eq!(finish_reason(s), f);
            assert_eq!(f.as_str(), s);
        }
    }
}
