//! Paddock: a self-hosted host for coding agents.
//!
//! - [`agent`]: agents, the loop and their lifecycle.
//! - [`llm`]: the OpenAI-compatible model client and the scripted model.
//! - [`events`]: event types and the in-process bus.
//! - [`plugins`]: the WebAssembly plugin host (tools, risk assessors, MCP
//!   adapters), capabilities and limits.
//! - [`config`], `paddock.toml`.
//! - [`bench`]: `paddock bench …` measurements.

pub mod agent;
pub mod bench;
pub mod config;
pub mod events;
pub mod llm;
pub mod plugins;
