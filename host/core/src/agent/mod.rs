//! Agents: their configuration, the loop (model → tools → model), their
//! lifecycle under the agent manager, context management and secret
//! redaction.

pub mod config;
pub mod context;
pub mod cost;
pub mod manager;
pub mod redact;
pub mod runner;

pub use manager::{Manager, Remember};
pub use paddock_protocol::agent::{AgentConfig, ModelRef};
pub use runner::{Agent, AgentDeps, AgentError, Provider};
