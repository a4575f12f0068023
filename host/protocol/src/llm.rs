//! The model-facing types shared by the client, the scripted model and the
//! agent loop. They mirror OpenAI's Chat Completions shapes, without the
//! parts Paddock does not use.

use serde::{Deserialize, Serialize};

/// One message of a conversation as sent to the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum ChatMessage {
    /// The system prompt.
    System {
        /// Its text.
        content: String,
    },
    /// A user message.
    User {
        /// Its text.
        content: String,
    },
    /// A model answer: text, tool calls, or both.
    Assistant {
        /// The text, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<String>,
        /// The tool calls, in the model's order.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCallRequest>,
    },
    /// The result of one tool call.
    Tool {
        /// The call this answers.
        tool_call_id: String,
        /// The result as the model sees it.
        content: String,
    },
}

/// A tool call the model asked for, with its arguments exactly as the model
/// sent them (a JSON text, which may be invalid).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolCallRequest {
    /// The model's id for the call (`call_…`).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, a JSON text.
    pub arguments: String,
}

/// A tool offered to the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolDef {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its arguments.
    pub parameters: serde_json::Value,
}

/// One request to the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model's name at the provider.
    pub model: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// The tools offered (empty: none).
    pub tools: Vec<ToolDef>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Cap on the answer's tokens.
    pub max_tokens: Option<u32>,
    /// Sent as `prompt_cache_key` so the provider routes this agent's
    /// requests to the same prompt cache.
    pub prompt_cache_key: Option<String>,
}

/// Why the model stopped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A natural end.
    Stop,
    /// It asked for tools.
    ToolCalls,
    /// It hit `max_tokens`.
    Length,
    /// The provider filtered the content.
    ContentFilter,
    /// The legacy `function_call`.
    FunctionCall,
    /// Anything else the provider said (kept verbatim).
    #[serde(untagged)]
    Other(String),
}

impl FinishReason {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::Length => "length",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::FunctionCall => "function_call",
            FinishReason::Other(s) => s,
        }
    }
}

/// Tokens of one model call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Prompt tokens (including the cached ones).
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Prompt tokens served from the provider's cache.
    pub cached_tokens: u64,
}

/// A complete model answer, assembled from the stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// The text, if any.
    pub content: Option<String>,
    /// Complete tool calls (every one with its full arguments text).
    pub tool_calls: Vec<ToolCallRequest>,
    /// Why it stopped.
    pub finish_reason: FinishReason,
    /// Its usage (zero when the provider sent none).
    pub usage: TokenUsage,
    /// Attempts it took (1 = no retry).
    pub attempts: u32,
}

/// What the client reports while a request runs.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamNote {
    /// A piece of the answer's text.
    Delta(String),
    /// The attempt failed and will be retried after `wait_ms`; text deltas
    /// sent so far belong to the abandoned attempt.
    Retrying {
        /// The attempt that failed (1-based).
        attempt: u32,
        /// How long the client waits before the next attempt.
        wait_ms: u64,
        /// Why (no secrets).
        reason: String,
    },
}
