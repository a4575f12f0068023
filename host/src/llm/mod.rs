//! The model side: an OpenAI-compatible streaming client with retries and
//! pricing, and the scripted model server used by tests, benchmarks and
//! offline demos.

pub mod types;

pub use types::{
    ChatMessage, ChatRequest, Completion, FinishReason, StreamNote, TokenUsage, ToolCallRequest,
    ToolDef,
};
