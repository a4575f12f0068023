//! Paddock: a self-hosted host for coding agents.
//!
//! - [`agent`]: agents, the loop and their lifecycle.
//! - [`api`]: the REST + WebSocket API.
//! - [`app`]: a running Paddock assembled from its parts.
//! - [`store`]: the durable event log (SQLite, PostgreSQL).
//! - [`llm`]: the OpenAI-compatible model client and the scripted model.
//! - [`events`]: event types and the in-process bus.
//! - [`plugins`]: the WebAssembly plugin host (tools, risk assessors, MCP
//!   adapters), capabilities and limits.
//! - [`mcp`]: MCP servers: `mcpServers.json`, clients, supervision, MCP
//!   tools for agents.
//! - [`policy`]: the policy pipeline: rules, risk assessors, approval modes.
//! - [`sandbox`]: where shell commands run (Docker, bubblewrap).
//! - [`workspace`]: the directories agents work in: worktrees, files,
//!   diffs, merges, backups.
//! - [`config`]: the configuration file, `paddock.toml`.
//! - [`bench`]: `paddock bench …` measurements.

pub mod agent;
pub mod api;
pub mod app;
pub mod bench;
pub mod config;
pub mod events;
pub mod llm;
pub mod mcp;
pub mod metrics;
pub mod plugins;
pub mod policy;
pub mod sandbox;
pub mod store;
pub mod workspace;
