//! Calls into `mcp-adapter` components: filtering and renaming the tools an
//! MCP server lists, refusing or rewriting calls, redacting results.
//!
//! Each call runs like a tool call (the same [`LoadedPlugin`] machinery: a
//! fresh instance on the blocking pool, the adapter's memory and time limits,
//! only its effective capabilities), but with no agent workspace. Whatever
//! the guest does — trap, run past its deadline, answer JSON the contract
//! does not allow — becomes a [`PluginError`] naming the adapter.

use super::bindings::v0_1_0::mcp_adapter::exports::paddock::plugin::adapter as wit;
use super::bindings::v0_2_0::mcp_adapter::exports::paddock::plugin::adapter as wit2;
use super::host::{PluginError, PluginHost};
use super::manifest::World;
use super::runtime::AdapterPre;
use super::runtime::{CallError, CallTarget, LoadedPlugin};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// A tool as an MCP server lists it (or as an adapter shows it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct McpTool {
    /// The tool's name.
    pub name: String,
    /// The tool's description.
    pub description: String,
    /// The tool's input JSON Schema; always a JSON object in what an adapter
    /// returns.
    pub input_schema: serde_json::Value,
}

/// A tool an adapter lets agents see.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShownTool {
    /// The server's own name for the tool (one of the names it listed), used
    /// to route calls back.
    pub original: String,
    /// The tool as agents see it.
    pub tool: McpTool,
}

/// A call to an MCP tool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct McpCall {
    /// The MCP server's name from `mcpServers.json`.
    pub server: String,
    /// The tool's name.
    pub tool: String,
    /// The arguments: a JSON object (`null` counts as `{}`).
    pub arguments: serde_json::Value,
}

/// What an adapter decided about a call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallDecision {
    /// Send this call to the server. Its `server` is always the one the call
    /// was made to and its `arguments` a JSON object.
    Forward(McpCall),
    /// Do not send it; the text goes back to the model as a tool error.
    Refuse(String),
}

/// Where an adapter call says it comes from in logs and in the host's
/// `log` tags (adapters have no agent or workspace).
fn target(step: &str) -> CallTarget {
    CallTarget {
        agent_id: String::new(),
        call_id: format!("mcp-adapter:{step}"),
        workspace: None,
        ..Default::default()
    }
}

/// The JSON text of a call's arguments, which must be an object.
fn arguments_text(adapter: &str, call: &McpCall) -> Result<String, PluginError> {
    match &call.arguments {
        serde_json::Value::Null => Ok("{}".to_string()),
        v @ serde_json::Value::Object(_) => Ok(v.to_string()),
        other => Err(PluginError::Invalid(format!(
            "cannot pass the call to `{}` through MCP adapter `{adapter}`: its arguments must be a JSON object, not {}",
            call.tool,
            json_kind(other)
        ))),
    }
}

fn to_wit_call(adapter: &str, call: &McpCall) -> Result<wit::McpCall, PluginError> {
    Ok(wit::McpCall {
        server: call.server.clone(),
        tool: call.tool.clone(),
        arguments: arguments_text(adapter, call)?,
    })
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Checks what `list-tools` returned against what the server listed.
fn validate_shown(
    plugin: &LoadedPlugin,
    listed: &BTreeSet<&str>,
    shown: Vec<wit::Shown>,
) -> Result<Vec<ShownTool>, CallError> {
    let mut names = BTreeSet::new();
    let mut out = Vec::with_capacity(shown.len());
    for s in shown {
        let name = s.tool.name;
        if name.is_empty() {
            return Err(plugin.contract(format!(
                "list-tools showed a tool with an empty name (for `{}`)",
                s.original
            )));
        }
        if !listed.contains(s.original.as_str()) {
            return Err(plugin.contract(format!(
                "list-tools showed `{name}` as the server's tool `{}`, which the server did not list",
                s.original
            )));
        }
        if !names.insert(name.clone()) {
            return Err(plugin.contract(format!("list-tools showed two tools named `{name}`")));
        }
        let schema: serde_json::Value =
            serde_json::from_str(&s.tool.input_schema).map_err(|e| {
                plugin.contract(format!(
                    "list-tools: the input schema of `{name}` is not JSON: {e}"
                ))
            })?;
        if !schema.is_object() {
            return Err(plugin.contract(format!(
                "list-tools: the input schema of `{name}` must be a JSON object, not {}",
                json_kind(&schema)
            )));
        }
        out.push(ShownTool {
            original: s.original,
            tool: McpTool {
                name,
                description: s.tool.description,
                input_schema: schema,
            },
        });
    }
    Ok(out)
}

/// Checks what `on-call` returned.
fn validate_decision(
    plugin: &LoadedPlugin,
    server: &str,
    decision: wit::CallDecision,
) -> Result<CallDecision, CallError> {
    match decision {
        wit::CallDecision::Refuse(why) => Ok(CallDecision::Refuse(why)),
        wit::CallDecision::Forward(call) => {
            if call.server != server {
                return Err(plugin.contract(format!(
                    "on-call forwarded a call to server `{}`; an adapter may not move a call from server `{server}` to another",
                    call.server
                )));
            }
            if call.tool.is_empty() {
                return Err(plugin.contract("on-call forwarded a call with no tool name".into()));
            }
            let arguments: serde_json::Value =
                serde_json::from_str(&call.arguments).map_err(|e| {
                    plugin.contract(format!(
                        "on-call forwarded arguments to `{}` that are not JSON: {e}",
                        call.tool
                    ))
                })?;
            if !arguments.is_object() {
                return Err(plugin.contract(format!(
                    "on-call forwarded arguments to `{}` that are {}, not a JSON object",
                    call.tool,
                    json_kind(&arguments)
                )));
            }
            Ok(CallDecision::Forward(McpCall {
                server: call.server,
                tool: call.tool,
                arguments,
            }))
        }
    }
}

/// Checks what `on-result` returned: JSON of the same kind as the result
/// it was given (an object for a `CallToolResult`).
fn validate_result(
    plugin: &LoadedPlugin,
    tool: &str,
    given: &serde_json::Value,
    returned: &str,
) -> Result<serde_json::Value, CallError> {
    let value: serde_json::Value = serde_json::from_str(returned).map_err(|e| {
        plugin.contract(format!(
            "on-result returned a result for `{tool}` that is not JSON: {e}"
        ))
    })?;
    if given.is_object() && !value.is_object() {
        return Err(plugin.contract(format!(
            "on-result returned {} for `{tool}`; a CallToolResult is a JSON object",
            json_kind(&value)
        )));
    }
    Ok(value)
}

impl LoadedPlugin {
    /// Runs `list-tools` in a fresh instance.
    async fn list_tools(
        self: &Arc<Self>,
        server: String,
        tools: Vec<wit::McpTool>,
    ) -> Result<Vec<ShownTool>, CallError> {
        self.off_thread(async move |this| {
            let pre = this.adapter_pre().ok_or_else(|| not_an_adapter(&this))?;
            let shown = match pre {
                AdapterPre::V0_1_0(pre) => {
                    this.with_instance(&target("list-tools"), async |store| {
                        let inst = pre.instantiate_async(&mut *store).await?;
                        inst.paddock_plugin_adapter()
                            .call_list_tools(&mut *store, &server, &tools)
                            .await
                    })
                    .await?
                }
                AdapterPre::V0_2_0(pre) => {
                    let tools2: Vec<wit2::McpTool> = tools.iter().map(tool_v2).collect();
                    this.with_instance(&target("list-tools"), async |store| {
                        let inst = pre.instantiate_async(&mut *store).await?;
                        inst.paddock_plugin_adapter()
                            .call_list_tools(&mut *store, &server, &tools2)
                            .await
                    })
                    .await?
                    .into_iter()
                    .map(shown_v1)
                    .collect()
                }
            };
            let listed: BTreeSet<&str> = tools.iter().map(|t| t.name.as_str()).collect();
            validate_shown(&this, &listed, shown)
        })
        .await
    }

    /// Runs `on-call` in a fresh instance.
    async fn on_call(self: &Arc<Self>, call: wit::McpCall) -> Result<CallDecision, CallError> {
        self.off_thread(async move |this| {
            let pre = this.adapter_pre().ok_or_else(|| not_an_adapter(&this))?;
            let decision = match pre {
                AdapterPre::V0_1_0(pre) => {
                    this.with_instance(&target("on-call"), async |store| {
                        let inst = pre.instantiate_async(&mut *store).await?;
                        inst.paddock_plugin_adapter()
                            .call_on_call(&mut *store, &call)
                            .await
                    })
                    .await?
                }
                AdapterPre::V0_2_0(pre) => {
                    let call2 = call_v2(&call);
                    let d = this
                        .with_instance(&target("on-call"), async |store| {
                            let inst = pre.instantiate_async(&mut *store).await?;
                            inst.paddock_plugin_adapter()
                                .call_on_call(&mut *store, &call2)
                                .await
                        })
                        .await?;
                    decision_v1(d)
                }
            };
            validate_decision(&this, &call.server, decision)
        })
        .await
    }

    /// Runs `on-result` in a fresh instance.
    async fn on_result(
        self: &Arc<Self>,
        call: wit::McpCall,
        result: serde_json::Value,
    ) -> Result<serde_json::Value, CallError> {
        self.off_thread(async move |this| {
            let pre = this.adapter_pre().ok_or_else(|| not_an_adapter(&this))?;
            let text = result.to_string();
            let returned = match pre {
                AdapterPre::V0_1_0(pre) => {
                    this.with_instance(&target("on-result"), async |store| {
                        let inst = pre.instantiate_async(&mut *store).await?;
                        inst.paddock_plugin_adapter()
                            .call_on_result(&mut *store, &call, &text)
                            .await
                    })
                    .await?
                }
                AdapterPre::V0_2_0(pre) => {
                    let call2 = call_v2(&call);
                    this.with_instance(&target("on-result"), async |store| {
                        let inst = pre.instantiate_async(&mut *store).await?;
                        inst.paddock_plugin_adapter()
                            .call_on_result(&mut *store, &call2, &text)
                            .await
                    })
                    .await?
                }
            };
            validate_result(&this, &call.tool, &result, &returned)
        })
        .await
    }
}

/// 0.2.0's adapter types are 0.1.0's under a new package: field by field.
fn tool_v2(t: &wit::McpTool) -> wit2::McpTool {
    wit2::McpTool {
        name: t.name.clone(),
        description: t.description.clone(),
        input_schema: t.input_schema.clone(),
    }
}

fn call_v2(c: &wit::McpCall) -> wit2::McpCall {
    wit2::McpCall {
        server: c.server.clone(),
        tool: c.tool.clone(),
        arguments: c.arguments.clone(),
    }
}

fn shown_v1(s: wit2::Shown) -> wit::Shown {
    wit::Shown {
        original: s.original,
        tool: wit::McpTool {
            name: s.tool.name,
            description: s.tool.description,
            input_schema: s.tool.input_schema,
        },
    }
}

fn decision_v1(d: wit2::CallDecision) -> wit::CallDecision {
    match d {
        wit2::CallDecision::Forward(c) => wit::CallDecision::Forward(wit::McpCall {
            server: c.server,
            tool: c.tool,
            arguments: c.arguments,
        }),
        wit2::CallDecision::Refuse(why) => wit::CallDecision::Refuse(why),
    }
}

fn not_an_adapter(plugin: &LoadedPlugin) -> CallError {
    plugin.contract(format!(
        "a `{}` plugin is not an MCP adapter",
        plugin.world()
    ))
}

impl PluginHost {
    /// The loaded adapter `name`: installed, enabled and of world
    /// `mcp-adapter`.
    fn load_adapter(&self, name: &str) -> Result<Arc<LoadedPlugin>, PluginError> {
        self.load_enabled(name, World::McpAdapter, "an MCP adapter")
    }

    /// The loaded plugin `name`, which must be installed, enabled and of
    /// `world` (`what` names the world for messages, article included).
    pub(super) fn load_enabled(
        &self,
        name: &str,
        world: World,
        what: &str,
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        let record = self.get(name)?.record;
        if record.world != world {
            return Err(PluginError::Invalid(format!(
                "plugin `{name}` is a `{}` plugin, not {what} (world `{world}`)",
                record.world
            )));
        }
        if !record.enabled {
            return Err(PluginError::Invalid(format!(
                "plugin `{name}` ({what}) is disabled (`paddock plugin enable {name}`)"
            )));
        }
        self.load_record(&record)
    }

    /// Lets adapter `adapter` filter, rename or re-describe the tools that
    /// MCP server `server` lists. Tools missing from the answer are hidden.
    pub async fn adapter_list_tools(
        &self,
        adapter: &str,
        server: &str,
        tools: Vec<McpTool>,
    ) -> Result<Vec<ShownTool>, PluginError> {
        let plugin = self.load_adapter(adapter)?;
        let raw = tools
            .into_iter()
            .map(|t| wit::McpTool {
                name: t.name,
                description: t.description,
                input_schema: t.input_schema.to_string(),
            })
            .collect();
        let span = tracing::info_span!("mcp_adapter", adapter, server, step = "list-tools");
        traced(plugin.list_tools(server.to_string(), raw))
            .instrument(span)
            .await
    }

    /// Lets adapter `adapter` forward (possibly rewritten) or refuse `call`,
    /// whose `tool` is the name shown to the agent.
    pub async fn adapter_on_call(
        &self,
        adapter: &str,
        call: &McpCall,
    ) -> Result<CallDecision, PluginError> {
        let plugin = self.load_adapter(adapter)?;
        let raw = to_wit_call(adapter, call)?;
        let span = tracing::info_span!("mcp_adapter", adapter, server = %call.server, tool = %call.tool, step = "on-call");
        traced(plugin.on_call(raw)).instrument(span).await
    }

    /// Lets adapter `adapter` inspect or redact `result` (an MCP
    /// `CallToolResult`) of `call` before the agent sees it.
    pub async fn adapter_on_result(
        &self,
        adapter: &str,
        call: &McpCall,
        result: serde_json::Value,
    ) -> Result<serde_json::Value, PluginError> {
        let plugin = self.load_adapter(adapter)?;
        let raw = to_wit_call(adapter, call)?;
        let span = tracing::info_span!("mcp_adapter", adapter, server = %call.server, tool = %call.tool, step = "on-result");
        traced(plugin.on_result(raw, result)).instrument(span).await
    }
}

/// Awaits an adapter call, logging its outcome.
async fn traced<R>(call: impl Future<Output = Result<R, CallError>>) -> Result<R, PluginError> {
    let started = Instant::now();
    let result = call.await;
    match &result {
        Ok(_) => tracing::debug!(
            elapsed_us = started.elapsed().as_micros() as u64,
            "MCP adapter call succeeded"
        ),
        Err(e) => tracing::warn!(error = %e, "MCP adapter call failed"),
    }
    // `CallError`s name the plugin ("plugin `x` crashed: ...").
    result.map_err(|e| PluginError::Tool(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_must_be_an_object() {
        let call = |arguments| McpCall {
            server: "s".into(),
            tool: "t".into(),
            arguments,
        };
        assert_eq!(arguments_text("a", &call(json!(null))).unwrap(), "{}");
        assert_eq!(
            arguments_text("a", &call(json!({"x": 1}))).unwrap(),
            r#"{"x":1}"#
        );
        let err = arguments_text("redact", &call(json!([1]))).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("`redact`") && text.contains("an array"),
            "{text}"
        );
    }

    #[test]
    fn decisions_serialize_readably() {
        let d = CallDecision::Refuse("no".into());
        assert_eq!(serde_json::to_value(&d).unwrap(), json!({"refuse": "no"}));
    }
}
