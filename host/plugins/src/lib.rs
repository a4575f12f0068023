//! The plugin host: loads WebAssembly components (tools, risk assessors, MCP
//! adapters, lifecycle hooks), confines each to the capabilities an admin granted it, and runs
//! every call in a fresh instance under memory, time and output limits.

pub mod adapter;
pub mod assessor;
pub mod bindings;
pub mod capability;
pub mod engine;
pub mod hooks;
pub mod host;
pub mod manifest;
pub mod net;
pub mod registry;
pub mod runtime;

pub use adapter::{CallDecision, McpCall, McpTool, ShownTool};
pub use assessor::Assessment;
pub use capability::Capability;
pub use hooks::{Event as HookPayload, HookAnswer, HookCall, RunEnd};
pub use host::{
    HostOptions, InstallSource, PluginError, PluginHost, PluginInfo, ToolCallFailure, ToolInfo,
};
pub use manifest::{Limits, Manifest, World};
pub use paddock_sandbox::exec::{
    BoxFuture, ExecBackend, ExecFailure, ExecOutcome, ExecRequest, JobState, SharedExec,
};
pub use registry::{PluginOrigin, PluginRecord};
pub use runtime::{CallError, CallTarget, ToolOutput, ToolSpec};
