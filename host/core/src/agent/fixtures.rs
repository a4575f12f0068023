//! Values the agent layer's unit tests build again and again: a plain
//! agent configuration and a model answer that calls tools.

use super::context::Item;
use paddock_llm::ToolCallRequest;
use paddock_protocol::agent::{AgentConfig, ModelRef};
use std::path::PathBuf;

/// An agent named `name` working in `workspace`, on model `p/m`, with every
/// other setting at its default.
pub(crate) fn config(name: &str, workspace: PathBuf) -> AgentConfig {
    AgentConfig {
        name: name.into(),
        system_prompt: String::new(),
        model: ModelRef {
            provider: "p".into(),
            model: "m".into(),
        },
        router: None,
        temperature: None,
        max_tokens: None,
        reasoning_effort: None,
        verbosity: None,
        workspace,
        workspace_id: None,
        tools: None,
        mcp_servers: Vec::new(),
        network: Default::default(),
        environment: None,
        limits: Default::default(),
        template: None,
        approval_mode: Default::default(),
        approval_timeout_secs: None,
        rules: Vec::new(),
        read_only: false,
        delegation: None,
        parent: None,
        owner: None,
    }
}

/// A model answer with no text that calls the tools `names` (call ids
/// `c-NAME`, no arguments).
pub(crate) fn answer(names: &[&str]) -> Item {
    Item::Assistant {
        text: None,
        tool_calls: names
            .iter()
            .map(|n| ToolCallRequest {
                id: format!("c-{n}"),
                name: n.to_string(),
                arguments: "{}".into(),
            })
            .collect(),
        reasoning: Vec::new(),
    }
}
