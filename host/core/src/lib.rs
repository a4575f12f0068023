//! Paddock's core: what an agent does and what it may do.
//!
//! - [`agent`]: agents — the loop (turns, tool orchestration, approvals,
//!   budgets and routing), their lifecycle, context, cost and redaction.
//! - [`policy`]: the policy pipeline: rules, risk assessors, approval modes.
//! - [`workspace`]: the directories agents work in: worktrees, files,
//!   diffs, merges, backups.
//! - [`metrics`]: Prometheus metrics, per-agent figures, usage and cost.
//! - [`bus`]: the in-process event bus.
//! - [`cluster`]: this host among several on one PostgreSQL database:
//!   requests to other hosts, placement, the relay of their agents' events.
//! - [`config`]: the configuration file, `paddock.toml`.
//! - [`auth`]: its `[auth]` section: single sign-on providers.
//! - [`environments`]: named environments (the file's and the API's) and
//!   choosing an agent's, or its workspace's devcontainer.json.
//! - [`secrets`]: secrets sealed at rest under the master key.
//! - [`provider_admin`]: the model providers of the file and of the API,
//!   their keys, testing them, and the default model.
//! - [`eval`]: evaluations: an agent configuration run over tasks in the
//!   SWE-bench format, patches checked, results kept and compared.
//! - [`workflow`]: workflow definitions and their durable runs (steps of
//!   agents, verify commands, human gates, fan-outs, merges).
//!
//! It sits above the store, the sandboxes, the plugin host, the model
//! clients and MCP, and below the API and the binary.

pub mod agent;
pub mod auth;
pub mod bus;
pub mod cluster;
pub mod config;
pub mod environments;
pub mod eval;
pub mod metrics;
pub mod policy;
pub mod provider_admin;
pub mod secrets;
pub mod workflow;
pub mod workspace;
