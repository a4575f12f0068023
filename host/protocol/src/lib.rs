//! Paddock's shared vocabulary: the types that cross a boundary — stored in
//! the event log, sent over the API and the WebSocket, read by the dashboard
//! and by tests. Types only: serde, no runtime (no tokio, sqlx or wasmtime),
//! so that a change of storage or of the loop cannot silently change the wire.
//!
//! - [`events`]: an agent's events and their bodies, and its statuses.
//! - [`agent`]: an agent's configuration, model reference, limits, routing tiers.
//! - [`llm`]: the model-facing messages, tool calls and token usage.
//! - [`identity`]: user roles, token scopes, what an agent is shared with.
//! - [`network`]: what a sandbox may reach (off, on, an allow-list of hosts).
//! - [`eval`]: evaluation tasks (SWE-bench format), runs, results and
//!   comparisons.
//! - [`workflow`]: workflow definitions, a run's events, statuses and views.
//! - [`policy`]: risk levels, actions, approval modes, verdicts, decisions,
//!   rule specs and scopes, approval statuses.
//!
//! Feature `openapi` derives `utoipa::ToSchema` for the API's document;
//! feature `clap` lets the command line parse the enums it takes.

pub mod agent;
pub mod cluster;
pub mod eval;
pub mod events;
pub mod hooks;
pub mod identity;
pub mod llm;
pub mod network;
pub mod policy;
pub mod workflow;

/// Whether `name` is a plain name, as templates, prompts and workspaces
/// have: 1 to 64 of `A-Z a-z 0-9 . _ -`, starting with a letter or digit
/// (so it is safe in paths, branch names and URLs).
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}
