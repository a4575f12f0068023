//! Agents: their configuration, the loop (model → tools → model), their
//! lifecycle under the agent manager, and context management.

pub mod config;
