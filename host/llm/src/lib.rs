//! The model side: a streaming client of OpenAI-compatible providers (Chat
//! Completions or the Responses API) with retries and pricing, and the
//! scripted model server used by tests, benchmarks and offline demos.

pub mod assemble;
pub mod breaker;
pub mod client;
pub mod config;
pub mod responses;
pub mod retry;
pub mod scripted;
pub mod wire;

pub use client::probe::ProbeReport;
pub use client::{LlmError, ModelClient};
pub use paddock_protocol::llm::{
    ChatMessage, ChatRequest, Completion, FinishReason, StreamNote, TokenUsage, ToolCallRequest,
    ToolDef,
};
pub use retry::RetryBudget;
