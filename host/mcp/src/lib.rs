//! MCP servers: the `mcpServers.json` configuration, the clients (stdio,
//! streamable HTTP, legacy HTTP+SSE), their supervision and health, and the
//! MCP tools agents see as `<server>__<tool>`.
//!
//! - [`config`]: the file format, `${VAR}` expansion, validation.
//! - [`catalog`]: well-known servers and the variables they need.
//! - [`client`]: one connection: start, initialise, call, results as text.
//! - [`sse`]: the legacy HTTP+SSE transport (rmcp has none).
//! - [`manager`]: every server, supervised; tools for agents; health.

pub mod catalog;
pub mod client;
pub mod config;
pub mod manager;
pub mod sse;

pub use config::{ConfigError, ServerSpec, TransportKind};
pub use manager::{
    CallOutcome, ExposedTool, FileSource, Health, McpManager, ServerView, Source, State, TestReport,
};

/// Why an MCP operation failed.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// No server of that name.
    #[error("no MCP server named `{0}`")]
    UnknownServer(String),
    /// No such tool (or its server has not listed it).
    #[error("unknown MCP tool `{0}` (its server has not listed it)")]
    UnknownTool(String),
    /// A server of that name exists.
    #[error("an MCP server named `{name}` already exists (from {})", match from { Source::File => "mcpServers.json", Source::Api => "the API" })]
    Exists {
        /// The name.
        name: String,
        /// Where the existing one comes from.
        from: Source,
    },
    /// File entries cannot be changed through the API.
    #[error(
        "MCP server `{0}` is defined in mcpServers.json and is read-only here; edit the file instead"
    )]
    ReadOnly(String),
    /// A configuration error.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The server cannot take calls now.
    #[error("MCP server `{server}` is unavailable: {reason}")]
    Unavailable {
        /// The server.
        server: String,
        /// Why.
        reason: String,
    },
    /// The call failed at the server or on the way.
    #[error("MCP server `{server}`: {error}")]
    Client {
        /// The server.
        server: String,
        /// What happened.
        error: client::ClientError,
    },
    /// An adapter failed (the call was not made, or its result withheld).
    #[error("MCP adapter `{adapter}` failed: {reason}")]
    Adapter {
        /// The adapter plugin.
        adapter: String,
        /// Why.
        reason: String,
    },
    /// An adapter refused the call.
    #[error("refused by MCP adapter `{adapter}`: {reason}")]
    Refused {
        /// The adapter plugin.
        adapter: String,
        /// Its reason.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] paddock_store::StoreError),
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}
