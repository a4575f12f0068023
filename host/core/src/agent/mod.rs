//! Agents: their configuration and how it is resolved from a request, a
//! template and the defaults, the loop (model → tools → model), their
//! lifecycle under the agent manager, delegation to sub-agents
//! ([`delegate`]), following their events, context
//! management, secret redaction and the model providers they call; and
//! the gate their sandboxes' egress proxies ask ([`network`]); with several
//! hosts on one database, the loops that keep this host's share of them
//! ([`hosting`]).

pub mod actor;
pub mod config;
pub mod context;
pub mod cost;
pub mod delegate;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod follow;
pub mod hosting;
pub mod manager;
pub mod network;
pub mod outcome;
pub mod providers;
pub mod redact;
pub mod remote;
pub mod resolve;
pub mod runner;

pub use actor::Actor;
pub use manager::{Manager, Remember};
pub use paddock_protocol::agent::{AgentConfig, ModelRef};
pub use providers::{Provider, Providers};
pub use runner::{Agent, AgentDeps, AgentError};
