//! Paddock: a self-hosted host for coding agents.
//!
//! - [`plugins`]: the WebAssembly plugin host (tools, risk assessors, MCP
//!   adapters), capabilities and limits.
//! - [`bench`]: `paddock bench …` measurements.

pub mod bench;
pub mod plugins;
