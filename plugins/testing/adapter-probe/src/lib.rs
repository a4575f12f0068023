//! `adapter-probe`: a test MCP adapter with fixed, config-free behaviour, so
//! the host's adapter calls can be checked end to end (tests/plugin_host.rs).
//! It is never installed by default.
//!
//! It is written against the raw bindings rather than the SDK so that it can
//! also answer what the SDK never lets an adapter answer (malformed JSON).
//!
//! `list-tools`
//! - hides every tool whose description contains `[hidden]`, and the tools
//!   named `get-env` and `printEnv`;
//! - shows `echo` as `say` (same description and schema);
//! - shows `bad-schema` with the input schema `[]` (not an object: a
//!   contract breach the host must refuse);
//! - shows every other tool unchanged.
//!
//! `on-call`, in this order
//! - `trap-me`: panics (the host must contain the trap);
//! - `spin-me`: loops forever (the host must stop it at its deadline);
//! - arguments whose JSON text contains `forbidden`: refused with
//!   `refused by adapter-probe: forbidden argument`;
//! - `say` is routed back to `echo`;
//! - for `say`/`echo`, a `message` argument starting with `rewrite:` is
//!   replaced by the rest of it, uppercased;
//! - `bad-arguments`: forwarded with the arguments `[1,2]` (not an object);
//! - `other-server`: forwarded to the server `elsewhere`;
//! - anything else: forwarded unchanged.
//!
//! `on-result`
//! - for a call to `bad-result`: returns `not json`;
//! - otherwise returns the result unchanged (it appends nothing).

wit_bindgen::generate!({
    path: "../../../wit/v0.1.0",
    world: "mcp-adapter",
});

use exports::paddock::plugin::adapter::{CallDecision, Guest, McpCall, McpTool, Shown};
use serde_json::Value;

struct AdapterProbe;

export!(AdapterProbe);

/// Tools hidden by name.
const HIDDEN_NAMES: &[&str] = &["get-env", "printEnv"];

/// The refusal text for arguments containing `forbidden`.
const FORBIDDEN: &str = "refused by adapter-probe: forbidden argument";

impl Guest for AdapterProbe {
    fn list_tools(_server: String, tools: Vec<McpTool>) -> Vec<Shown> {
        tools
            .into_iter()
            .filter(|t| {
                !t.description.contains("[hidden]") && !HIDDEN_NAMES.contains(&t.name.as_str())
            })
            .map(|t| {
                let original = t.name.clone();
                let tool = match t.name.as_str() {
                    "echo" => McpTool {
                        name: "say".into(),
                        ..t
                    },
                    "bad-schema" => McpTool {
                        input_schema: "[]".into(),
                        ..t
                    },
                    _ => t,
                };
                Shown { original, tool }
            })
            .collect()
    }

    fn on_call(mut call: McpCall) -> CallDecision {
        match call.tool.as_str() {
            "trap-me" => panic!("adapter-probe: trap-me was called"),
            "spin-me" => spin(),
            _ => {}
        }
        if call.arguments.contains("forbidden") {
            return CallDecision::Refuse(FORBIDDEN.into());
        }
        if call.tool == "say" {
            call.tool = "echo".into();
        }
        match call.tool.as_str() {
            "echo" => call.arguments = rewrite(&call.arguments),
            "bad-arguments" => call.arguments = "[1,2]".into(),
            "other-server" => call.server = "elsewhere".into(),
            _ => {}
        }
        CallDecision::Forward(call)
    }

    fn on_result(call: McpCall, result: String) -> String {
        if call.tool == "bad-result" {
            return "not json".into();
        }
        result
    }
}

/// Never returns: burns CPU until the host stops the instance.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// `message: "rewrite:abc"` becomes `message: "ABC"`; anything else is
/// returned as it came.
fn rewrite(arguments: &str) -> String {
    let Ok(Value::Object(mut args)) = serde_json::from_str::<Value>(arguments) else {
        return arguments.to_string();
    };
    let Some(rest) = args
        .get("message")
        .and_then(Value::as_str)
        .and_then(|m| m.strip_prefix("rewrite:"))
    else {
        return arguments.to_string();
    };
    let upper = rest.to_uppercase();
    args.insert("message".into(), Value::String(upper));
    Value::Object(args).to_string()
}
