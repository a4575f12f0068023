//! The model-facing types shared by the client, the scripted model and the
//! agent loop. They mirror OpenAI's Chat Completions shapes, without the
//! parts Paddock does not use, plus what the Responses API adds: reasoning
//! items carried between turns, reasoning effort and verbosity.

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
        /// The reasoning items the answer came with (Responses API), sent
        /// back before it so the model continues the same chain of thought.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        reasoning: Vec<ReasoningItem>,
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

/// A reasoning item of a Responses-API answer: the model's reasoning,
/// encrypted by the provider (opaque to Paddock) and sent back verbatim on
/// the next request, with the readable summary the model gave of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReasoningItem {
    /// The provider's id of the item (`rs_…`).
    pub id: String,
    /// The summary's parts, as the model wrote them (none when the model
    /// gave no summary).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub summary: Vec<String>,
    /// The encrypted reasoning (`include: ["reasoning.encrypted_content"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_content: Option<String>,
}

/// Which wire API a provider speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum WireApi {
    /// Chat Completions (`POST {base_url}/chat/completions`): every
    /// OpenAI-compatible server.
    #[default]
    Chat,
    /// OpenAI's Responses API (`POST {base_url}/responses`), stateless
    /// (`store: false`) with the encrypted reasoning carried by Paddock.
    Responses,
}

impl WireApi {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            WireApi::Chat => "chat",
            WireApi::Responses => "responses",
        }
    }
}

/// How hard a reasoning model thinks (Responses API `reasoning.effort`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum ReasoningEffort {
    /// No reasoning (models that allow it).
    None,
    /// The least.
    Minimal,
    /// Low.
    Low,
    /// Medium (the models' usual default).
    Medium,
    /// High.
    High,
    /// The most (models that allow it).
    Xhigh,
}

impl ReasoningEffort {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasoningEffort::None => "none",
            ReasoningEffort::Minimal => "minimal",
            ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
            ReasoningEffort::Xhigh => "xhigh",
        }
    }
}

/// How long the model's answers are (Responses API `text.verbosity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Verbosity {
    /// Terse.
    Low,
    /// The default.
    Medium,
    /// Thorough.
    High,
}

impl Verbosity {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verbosity::Low => "low",
            Verbosity::Medium => "medium",
            Verbosity::High => "high",
        }
    }
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
    /// Whether the model reasons: over the Responses API, its encrypted
    /// reasoning and a summary are asked for (`include`,
    /// `reasoning.summary`), which models that do not reason refuse.
    pub reasoning: bool,
    /// Reasoning effort (Responses API; not sent over Chat Completions).
    pub reasoning_effort: Option<ReasoningEffort>,
    /// Answer verbosity (Responses API; not sent over Chat Completions).
    pub verbosity: Option<Verbosity>,
}

/// Why the model stopped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A natural end.
    Stop,
    /// It asked for tools.
    ToolCalls,
    /// It hit `max_tokens` (or, over the Responses API, was incomplete
    /// for `max_output_tokens`).
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
    /// Output tokens spent reasoning (part of `output_tokens`).
    #[serde(default)]
    pub reasoning_tokens: u64,
}

/// A complete model answer, assembled from the stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// The text, if any.
    pub content: Option<String>,
    /// Complete tool calls (every one with its full arguments text).
    pub tool_calls: Vec<ToolCallRequest>,
    /// Reasoning items (Responses API), to send back on the next request.
    pub reasoning: Vec<ReasoningItem>,
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
    /// A piece of the model's reasoning summary (its thinking, shown live).
    Reasoning(String),
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
