//! `mcp-redact`: Paddock's built-in MCP adapter. It shows every tool of the
//! servers it is bound to unchanged and forwards every call unchanged; in
//! `on-result` it replaces with `[REDACTED]` every token-shaped string (the
//! shapes of [`paddock_sdk::secrets::TOKEN_PATTERNS`]) and every value (6
//! characters or more) of the environment variables it was granted, in every
//! string of the `CallToolResult` — text contents, resource text,
//! `structuredContent`, at any depth, object keys included.
//!
//! The host gives a plugin exactly the environment variables it was granted,
//! so the secrets it knows are the granted ones: its manifest requests the
//! usual secret names, and as a built-in it is granted them on first start.

use paddock_sdk::adapter::{Adapter, McpCall};
use paddock_sdk::secrets::Redactor;
use serde_json::Value;

/// The adapter: a redactor for token shapes and known secret values.
#[derive(Clone, Debug, Default)]
pub struct Redact {
    redactor: Redactor,
}

impl Redact {
    /// Redacts token shapes and the value of every variable in this
    /// process's environment — in the plugin, the granted ones.
    pub fn from_env() -> Redact {
        Redact {
            redactor: Redactor::from_whole_env(),
        }
    }

    /// Redacts token shapes and these values.
    pub fn with_values(values: impl IntoIterator<Item = String>) -> Redact {
        Redact {
            redactor: Redactor::with_values(values),
        }
    }
}

impl Adapter for Redact {
    fn on_result(&self, call: &McpCall, mut result: Value) -> Value {
        if self.redactor.redact_json(&mut result) {
            paddock_sdk::log::info(format!(
                "redacted secrets from the result of `{}` on `{}`",
                call.tool, call.server
            ));
        }
        result
    }
}

paddock_sdk::export_adapter!(Redact::from_env);

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_sdk::adapter::raw::{self, RawCallDecision, RawMcpCall, RawMcpTool};
    use paddock_sdk::secrets::REDACTED;
    use serde_json::json;

    const GHP: &str = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    const SECRET: &str = "brave-secret-value-42";

    fn call() -> McpCall {
        McpCall::new("search", "brave_web_search", json!({"query": "rust"}))
    }

    fn adapter() -> Redact {
        Redact::with_values([SECRET.to_string(), "short".to_string()])
    }

    #[test]
    fn redacts_every_string_of_a_call_tool_result() {
        let result = json!({
            "content": [
                {"type": "text", "text": format!("token {GHP} and key {SECRET}.")},
                {"type": "resource", "resource": {"uri": "file:///a", "mimeType": "text/plain", "text": format!("x={SECRET}")}},
                {"type": "image", "data": "aGVsbG8=", "mimeType": "image/png"}
            ],
            "structuredContent": {"deep": {"list": [SECRET, 7, null, {"k": GHP}]}},
            "isError": false
        });
        let out = adapter().on_result(&call(), result);
        assert_eq!(
            out,
            json!({
                "content": [
                    {"type": "text", "text": format!("token {REDACTED} and key {REDACTED}.")},
                    {"type": "resource", "resource": {"uri": "file:///a", "mimeType": "text/plain", "text": format!("x={REDACTED}")}},
                    {"type": "image", "data": "aGVsbG8=", "mimeType": "image/png"}
                ],
                "structuredContent": {"deep": {"list": [REDACTED, 7, null, {"k": REDACTED}]}},
                "isError": false
            })
        );
    }

    #[test]
    fn short_values_and_clean_results_are_left_alone() {
        let result = json!({"content": [{"type": "text", "text": "a short answer"}]});
        assert_eq!(adapter().on_result(&call(), result.clone()), result);
    }

    #[test]
    fn tools_and_calls_pass_unchanged() {
        let tool = RawMcpTool {
            name: "brave_web_search".into(),
            description: format!("Search. Example key: {GHP}"),
            input_schema: r#"{"type":"object"}"#.into(),
        };
        let shown = raw::list_tools(&adapter(), "search".into(), vec![tool.clone()]);
        assert_eq!(shown.len(), 1);
        assert_eq!(shown[0].original, tool.name);
        assert_eq!(shown[0].tool, tool);
        let c = RawMcpCall {
            server: "search".into(),
            tool: "brave_web_search".into(),
            arguments: format!(r#"{{"query":"{SECRET}"}}"#),
        };
        assert_eq!(
            raw::on_call(&adapter(), c.clone()),
            RawCallDecision::Forward(c)
        );
    }

    #[test]
    fn raw_results_are_redacted_and_non_json_is_withheld() {
        let c = RawMcpCall {
            server: "s".into(),
            tool: "t".into(),
            arguments: "{}".into(),
        };
        let out = raw::on_result(
            &adapter(),
            c.clone(),
            json!({"content": [{"type": "text", "text": GHP}]}).to_string(),
        );
        assert_eq!(
            out,
            json!({"content": [{"type": "text", "text": REDACTED}]}).to_string()
        );
        let out = raw::on_result(&adapter(), c, format!("not json {SECRET}"));
        assert!(!out.contains(SECRET), "{out}");
        assert!(out.contains("isError"), "{out}");
    }
}
