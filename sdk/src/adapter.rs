//! Write Paddock MCP adapters in Rust.
//!
//! An MCP adapter is a WebAssembly component of the `mcp-adapter` world of
//! `paddock:plugin@0.2.0`: it sits between agents and an MCP server and may
//! hide, rename or re-describe the tools the server lists, refuse or rewrite
//! calls, and redact results. This module hides the bindings and the JSON
//! strings of the contract: implement [`Adapter`] (every method has a
//! pass-through default) on a type, and export it with
//! [`export_adapter!`](crate::export_adapter).
//!
//! ```
//! use paddock_sdk::adapter::{Adapter, CallDecision, McpCall, McpTool, ShownTool};
//!
//! /// Hides `delete_*` tools and refuses calls to them.
//! struct NoDeletes;
//!
//! impl Adapter for NoDeletes {
//!     fn list_tools(&self, _server: &str, tools: Vec<McpTool>) -> Vec<ShownTool> {
//!         tools
//!             .into_iter()
//!             .filter(|t| !t.name.starts_with("delete_"))
//!             .map(McpTool::show)
//!             .collect()
//!     }
//!
//!     fn on_call(&self, call: McpCall) -> CallDecision {
//!         if call.tool.starts_with("delete_") {
//!             return CallDecision::Refuse("deleting is not allowed here".into());
//!         }
//!         CallDecision::Forward(call)
//!     }
//! }
//!
//! paddock_sdk::export_adapter!(|| NoDeletes);
//! # fn main() {
//! # let call = McpCall::new("srv", "delete_repo", paddock_sdk::serde_json::json!({}));
//! # assert!(matches!(NoDeletes.on_call(call), CallDecision::Refuse(_)));
//! # }
//! ```
//!
//! Every call (`list-tools`, `on-call`, `on-result`) runs in a fresh
//! instance of the component, and the adapter value is made anew for each.
//! The environment holds exactly the variables the plugin was granted
//! (`env = [...]` in its manifest); there is no workspace.
//!
//! What the host hands over is valid JSON; should it ever not be, the glue
//! fails closed: a tool whose schema is not a JSON object is hidden, a call
//! whose arguments are not a JSON object is refused, and a result that is
//! not JSON is replaced by an error result — never passed on unread.

use crate::adapter_bindings::exports::paddock::plugin::adapter as wit;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A tool as an MCP server lists it (or as an adapter shows it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct McpTool {
    /// The tool's name.
    pub name: String,
    /// The tool's description.
    pub description: String,
    /// The tool's input JSON Schema (a JSON object).
    pub input_schema: Value,
}

/// A tool the adapter lets agents see.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShownTool {
    /// The server's own name for the tool; calls to the shown name are
    /// routed back to it.
    pub original: String,
    /// The tool as agents see it.
    pub tool: McpTool,
}

/// A call to an MCP tool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct McpCall {
    /// The MCP server's name from `mcpServers.json`.
    pub server: String,
    /// The tool's name: in `on_call`, the name shown to the agent; in a
    /// forwarded call and in `on_result`, the server's name for it.
    pub tool: String,
    /// The call's arguments.
    pub arguments: Map<String, Value>,
}

/// What to do with a call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CallDecision {
    /// Send this call (possibly rewritten) to the server. The host insists
    /// that its `server` is the one the call was made to.
    Forward(McpCall),
    /// Do not send it; the text goes back to the model as a tool error.
    Refuse(String),
}

impl McpTool {
    /// Show this tool unchanged.
    pub fn show(self) -> ShownTool {
        ShownTool {
            original: self.name.clone(),
            tool: self,
        }
    }

    /// Show this tool under another name; calls to `name` reach it. (Your
    /// `on_call` sees the new name and must route it back: set the call's
    /// `tool` to the original before forwarding.)
    pub fn show_as(self, name: impl Into<String>) -> ShownTool {
        let original = self.name.clone();
        ShownTool {
            original,
            tool: McpTool {
                name: name.into(),
                ..self
            },
        }
    }
}

impl McpCall {
    /// A call; `arguments` that are not a JSON object count as `{}`.
    pub fn new(server: impl Into<String>, tool: impl Into<String>, arguments: Value) -> Self {
        McpCall {
            server: server.into(),
            tool: tool.into(),
            arguments: match arguments {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        }
    }

    /// The argument `name` as a string, if it is one.
    pub fn str_arg(&self, name: &str) -> Option<&str> {
        self.arguments.get(name).and_then(Value::as_str)
    }
}

/// A `CallToolResult` carrying one text block, marked as an error: what an
/// adapter returns from `on_result` instead of a result it must not pass on.
pub fn error_result(text: impl Into<String>) -> Value {
    serde_json::json!({
        "content": [{"type": "text", "text": text.into()}],
        "isError": true,
    })
}

/// An MCP adapter. Every method has a default that changes nothing, so
/// implement only what the adapter is for.
pub trait Adapter {
    /// Filter, rename or re-describe the tools `server` lists. Tools left
    /// out of the answer are hidden from agents. Default: all, unchanged.
    fn list_tools(&self, server: &str, tools: Vec<McpTool>) -> Vec<ShownTool> {
        let _ = server;
        tools.into_iter().map(McpTool::show).collect()
    }

    /// Inspect a call (with the tool name shown to the agent) before it
    /// reaches the server: forward it, possibly rewritten (route a renamed
    /// tool back to its original name here), or refuse it. Default: forward
    /// unchanged.
    fn on_call(&self, call: McpCall) -> CallDecision {
        CallDecision::Forward(call)
    }

    /// Inspect (and e.g. redact) the server's `CallToolResult` before the
    /// agent sees it; return it in the same shape. Default: unchanged.
    fn on_result(&self, call: &McpCall, result: Value) -> Value {
        let _ = call;
        result
    }
}

/// The glue [`export_adapter!`](crate::export_adapter) runs: the contract's
/// JSON strings to and from the typed values of this module. Public so that
/// native tests can drive an adapter exactly as the host does.
pub mod raw {
    use super::*;

    pub use crate::adapter_bindings::exports::paddock::plugin::adapter::{
        CallDecision as RawCallDecision, McpCall as RawMcpCall, McpTool as RawMcpTool,
        Shown as RawShown,
    };

    fn call_from_raw(call: wit::McpCall) -> Result<McpCall, String> {
        let arguments = if call.arguments.trim().is_empty() {
            Map::new()
        } else {
            match serde_json::from_str::<Value>(&call.arguments) {
                Ok(Value::Object(map)) => map,
                Ok(other) => {
                    return Err(format!(
                        "the arguments of `{}` are not a JSON object (got {})",
                        call.tool,
                        kind_of(&other)
                    ));
                }
                Err(e) => {
                    return Err(format!(
                        "the arguments of `{}` are not JSON: {e}",
                        call.tool
                    ));
                }
            }
        };
        Ok(McpCall {
            server: call.server,
            tool: call.tool,
            arguments,
        })
    }

    fn call_to_raw(call: McpCall) -> wit::McpCall {
        wit::McpCall {
            server: call.server,
            tool: call.tool,
            arguments: Value::Object(call.arguments).to_string(),
        }
    }

    fn tool_to_raw(tool: McpTool) -> wit::McpTool {
        wit::McpTool {
            name: tool.name,
            description: tool.description,
            input_schema: tool.input_schema.to_string(),
        }
    }

    fn kind_of(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }

    /// `list-tools`: tools whose schema is not a JSON object are hidden
    /// (and logged) before the adapter sees the list.
    pub fn list_tools(
        adapter: &impl Adapter,
        server: String,
        tools: Vec<wit::McpTool>,
    ) -> Vec<wit::Shown> {
        let tools = tools
            .into_iter()
            .filter_map(|t| match serde_json::from_str::<Value>(&t.input_schema) {
                Ok(schema @ Value::Object(_)) => Some(McpTool {
                    name: t.name,
                    description: t.description,
                    input_schema: schema,
                }),
                _ => {
                    crate::log::warn(format!(
                        "hiding tool `{}` of `{server}`: its input schema is not a JSON object",
                        t.name
                    ));
                    None
                }
            })
            .collect();
        adapter
            .list_tools(&server, tools)
            .into_iter()
            .map(|s| wit::Shown {
                original: s.original,
                tool: tool_to_raw(s.tool),
            })
            .collect()
    }

    /// `on-call`: a call whose arguments are not a JSON object is refused.
    pub fn on_call(adapter: &impl Adapter, call: wit::McpCall) -> wit::CallDecision {
        match call_from_raw(call) {
            Ok(call) => match adapter.on_call(call) {
                CallDecision::Forward(call) => wit::CallDecision::Forward(call_to_raw(call)),
                CallDecision::Refuse(why) => wit::CallDecision::Refuse(why),
            },
            Err(why) => wit::CallDecision::Refuse(format!("refused by the MCP adapter: {why}")),
        }
    }

    /// `on-result`: a result that is not JSON (or a call whose arguments
    /// are not a JSON object) gives an error result in its place.
    pub fn on_result(adapter: &impl Adapter, call: wit::McpCall, result: String) -> String {
        let call = match call_from_raw(call) {
            Ok(c) => c,
            Err(why) => {
                return error_result(format!("result withheld by the MCP adapter: {why}"))
                    .to_string();
            }
        };
        match serde_json::from_str::<Value>(&result) {
            Ok(value) => adapter.on_result(&call, value).to_string(),
            Err(e) => error_result(format!(
                "result withheld by the MCP adapter: the result of `{}` is not JSON: {e}",
                call.tool
            ))
            .to_string(),
        }
    }
}

/// Export an [`Adapter`] as the plugin's `paddock:plugin/adapter`
/// implementation.
///
/// Give it a function (or closure) returning the adapter; it is called on
/// every `list-tools`, `on-call` and `on-result` (each runs in a fresh
/// instance anyway). Use it once per crate.
///
/// As with [`export_tools!`](crate::export_tools), the exports are only
/// generated when compiling for WebAssembly: native tests call the adapter
/// (or [`adapter::raw`](crate::adapter::raw)) directly.
///
/// ```ignore
/// struct MyAdapter;
/// impl paddock_sdk::adapter::Adapter for MyAdapter { /* ... */ }
/// paddock_sdk::export_adapter!(|| MyAdapter);
/// ```
#[macro_export]
macro_rules! export_adapter {
    ($make:expr $(,)?) => {
        // Keeps the constructor "used" in native builds, where nothing is
        // exported.
        #[doc(hidden)]
        #[allow(dead_code)]
        fn __paddock_sdk_adapter() -> impl $crate::adapter::Adapter {
            ($make)()
        }

        #[cfg(target_family = "wasm")]
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        struct __paddock_sdk_AdapterPlugin;

        #[cfg(target_family = "wasm")]
        impl $crate::adapter_bindings::exports::paddock::plugin::adapter::Guest
            for __paddock_sdk_AdapterPlugin
        {
            fn list_tools(
                server: ::std::string::String,
                tools: ::std::vec::Vec<$crate::adapter::raw::RawMcpTool>,
            ) -> ::std::vec::Vec<$crate::adapter::raw::RawShown> {
                $crate::adapter::raw::list_tools(&__paddock_sdk_adapter(), server, tools)
            }

            fn on_call(
                call: $crate::adapter::raw::RawMcpCall,
            ) -> $crate::adapter::raw::RawCallDecision {
                $crate::adapter::raw::on_call(&__paddock_sdk_adapter(), call)
            }

            fn on_result(
                call: $crate::adapter::raw::RawMcpCall,
                result: ::std::string::String,
            ) -> ::std::string::String {
                $crate::adapter::raw::on_result(&__paddock_sdk_adapter(), call, result)
            }
        }

        #[cfg(target_family = "wasm")]
        $crate::adapter_bindings::export!(__paddock_sdk_AdapterPlugin with_types_in $crate::adapter_bindings);
    };
}

#[cfg(test)]
mod tests {
    use super::raw::{RawCallDecision, RawMcpCall, RawMcpTool};
    use super::*;
    use serde_json::json;

    struct PassThrough;
    impl Adapter for PassThrough {}

    /// Renames `echo` to `say`, refuses `boom`, tags results.
    struct Renamer;
    impl Adapter for Renamer {
        fn list_tools(&self, _server: &str, tools: Vec<McpTool>) -> Vec<ShownTool> {
            tools
                .into_iter()
                .map(|t| {
                    if t.name == "echo" {
                        t.show_as("say")
                    } else {
                        t.show()
                    }
                })
                .collect()
        }
        fn on_call(&self, mut call: McpCall) -> CallDecision {
            match call.tool.as_str() {
                "boom" => CallDecision::Refuse("no".into()),
                "say" => {
                    call.tool = "echo".into();
                    CallDecision::Forward(call)
                }
                _ => CallDecision::Forward(call),
            }
        }
        fn on_result(&self, call: &McpCall, mut result: Value) -> Value {
            result["tagged"] = json!(call.tool);
            result
        }
    }

    fn raw_tool(name: &str, schema: &str) -> RawMcpTool {
        RawMcpTool {
            name: name.into(),
            description: format!("{name} tool"),
            input_schema: schema.into(),
        }
    }

    fn raw_call(tool: &str, arguments: &str) -> RawMcpCall {
        RawMcpCall {
            server: "srv".into(),
            tool: tool.into(),
            arguments: arguments.into(),
        }
    }

    #[test]
    fn defaults_pass_everything_through() {
        let shown = raw::list_tools(
            &PassThrough,
            "srv".into(),
            vec![raw_tool("a", r#"{"type":"object"}"#)],
        );
        assert_eq!(shown.len(), 1);
        assert_eq!(shown[0].original, "a");
        assert_eq!(shown[0].tool, raw_tool("a", r#"{"type":"object"}"#));
        let decision = raw::on_call(&PassThrough, raw_call("a", r#"{"x":1}"#));
        assert_eq!(
            decision,
            RawCallDecision::Forward(raw_call("a", r#"{"x":1}"#))
        );
        let out = raw::on_result(
            &PassThrough,
            raw_call("a", "{}"),
            r#"{"content":[]}"#.into(),
        );
        assert_eq!(out, r#"{"content":[]}"#);
    }

    #[test]
    fn renames_route_back_and_refusals_pass() {
        let shown = raw::list_tools(
            &Renamer,
            "srv".into(),
            vec![raw_tool("echo", "{}"), raw_tool("other", "{}")],
        );
        assert_eq!(shown[0].original, "echo");
        assert_eq!(shown[0].tool.name, "say");
        assert_eq!(shown[0].tool.description, "echo tool");
        assert_eq!(shown[1].tool.name, "other");
        assert_eq!(
            raw::on_call(&Renamer, raw_call("say", "")),
            RawCallDecision::Forward(raw_call("echo", "{}"))
        );
        assert_eq!(
            raw::on_call(&Renamer, raw_call("boom", "{}")),
            RawCallDecision::Refuse("no".into())
        );
        let out = raw::on_result(&Renamer, raw_call("echo", "{}"), "{}".into());
        assert_eq!(out, r#"{"tagged":"echo"}"#);
    }

    #[test]
    fn malformed_input_fails_closed() {
        let shown = raw::list_tools(
            &PassThrough,
            "srv".into(),
            vec![
                raw_tool("bad", "not json"),
                raw_tool("arr", "[]"),
                raw_tool("ok", "{}"),
            ],
        );
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert_eq!(shown[0].original, "ok");

        for args in ["[1]", "nope", "\"s\""] {
            match raw::on_call(&PassThrough, raw_call("a", args)) {
                RawCallDecision::Refuse(why) => assert!(why.contains("`a`"), "{why}"),
                other => panic!("{args}: {other:?}"),
            }
        }

        let out = raw::on_result(&PassThrough, raw_call("a", "{}"), "secret text".into());
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["isError"], true);
        assert!(!out.contains("secret text"), "{out}");
        let out = raw::on_result(&PassThrough, raw_call("a", "[1]"), "{}".into());
        assert!(out.contains("isError"), "{out}");
    }

    #[test]
    fn helpers() {
        let c = McpCall::new("s", "t", json!({"message": "hi", "n": 1}));
        assert_eq!(c.str_arg("message"), Some("hi"));
        assert_eq!(c.str_arg("n"), None);
        assert!(McpCall::new("s", "t", json!([1])).arguments.is_empty());
        let e = error_result("gone");
        assert_eq!(e["content"][0]["text"], "gone");
        assert_eq!(e["isError"], true);
    }
}
