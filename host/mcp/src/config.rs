//! `mcpServers.json`: the format other MCP clients use, with `${VAR}`
//! expansion from the environment and a few optional Paddock settings.
//!
//! ```json
//! {"mcpServers": {
//!   "git":  {"command": "uvx", "args": ["mcp-server-git"], "env": {"X": "${X}"}, "cwd": "/srv"},
//!   "docs": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}},
//!   "old":  {"url": "http://127.0.0.1:3001/sse", "transport": "sse"}
//! }}
//! ```
//! Paddock's own settings per server (all optional): `transport` (or `type`),
//! `disabled`, `eager` (start with the host instead of on first use),
//! `startupTimeoutMs` (default 10 000), `toolTimeoutMs` (default 60 000),
//! `adapters` (the `mcp-adapter` plugins it goes through, in order; default:
//! the built-in `mcp-redact`).
//!
//! A broken file (not JSON, no `mcpServers` object) is an error for the whole
//! file; a broken entry (unknown field or transport, no command, an unset
//! variable) is an error of that server only, so the others still work.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Start-up timeout when a server sets none.
pub const DEFAULT_STARTUP_TIMEOUT_MS: u64 = 10_000;
/// Tool-call timeout when a server sets none.
pub const DEFAULT_TOOL_TIMEOUT_MS: u64 = 60_000;
/// The adapters a server goes through when it names none.
pub const DEFAULT_ADAPTERS: &[&str] = &["mcp-redact"];
/// Longest server name (names prefix tool names, which models cap at 64).
pub const MAX_NAME: usize = 32;
/// Longest accepted timeout (one hour).
const MAX_TIMEOUT_MS: u64 = 3_600_000;

/// What is wrong with a configuration.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The file is not a valid `{"mcpServers": {…}}` document.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// One server's entry is wrong.
    #[error("MCP server `{server}`: {reason}")]
    Server {
        /// The server.
        server: String,
        /// What is wrong.
        reason: String,
    },
    /// A `${VAR}` names an unset variable.
    #[error("MCP server `{server}`: environment variable `{var}` is not set (used in {field})")]
    UnsetVar {
        /// The server.
        server: String,
        /// The variable.
        var: String,
        /// Where it is used.
        field: String,
    },
}

/// How a server is reached, as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum TransportKind {
    /// A child process speaking JSON-RPC on stdin/stdout.
    #[serde(rename = "stdio")]
    Stdio,
    /// Streamable HTTP (protocol 2025-03-26 and later).
    #[serde(rename = "streamable-http", alias = "http", alias = "streamableHttp")]
    StreamableHttp,
    /// The legacy HTTP+SSE transport (protocol 2024-11-05).
    #[serde(rename = "sse")]
    Sse,
}

impl TransportKind {
    /// Its name in configs and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Stdio => "stdio",
            TransportKind::StreamableHttp => "streamable-http",
            TransportKind::Sse => "sse",
        }
    }
}

/// One server's entry as written (variables not yet expanded). API-added
/// servers are stored in this form.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerSpec {
    /// The program of a stdio server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment variables set for it (on top of the host's `PATH`,
    /// `HOME`, locale and temp-dir variables; nothing else of the host's
    /// environment is passed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Its working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// The URL of an HTTP server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// HTTP headers sent with every request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The transport; when absent, `stdio` for a command and
    /// `streamable-http` for a URL.
    #[serde(default, alias = "type", skip_serializing_if = "Option::is_none")]
    pub transport: Option<TransportKind>,
    /// Listed but never started.
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
    /// Started with the host rather than by the first agent that needs it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub eager: bool,
    /// How long connecting may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_timeout_ms: Option<u64>,
    /// How long one tool call may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_timeout_ms: Option<u64>,
    /// The `mcp-adapter` plugins its traffic goes through, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapters: Option<Vec<String>>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// How to reach a server, variables expanded.
#[derive(Clone, Debug, PartialEq)]
pub enum Transport {
    /// A child process.
    Stdio {
        /// The program.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Its extra environment.
        env: BTreeMap<String, String>,
        /// Its working directory.
        cwd: Option<PathBuf>,
    },
    /// Streamable HTTP.
    StreamableHttp {
        /// The endpoint.
        url: String,
        /// Extra headers.
        headers: BTreeMap<String, String>,
    },
    /// Legacy HTTP+SSE.
    Sse {
        /// The event-stream URL.
        url: String,
        /// Extra headers.
        headers: BTreeMap<String, String>,
    },
}

impl Transport {
    /// Its kind.
    pub fn kind(&self) -> TransportKind {
        match self {
            Transport::Stdio { .. } => TransportKind::Stdio,
            Transport::StreamableHttp { .. } => TransportKind::StreamableHttp,
            Transport::Sse { .. } => TransportKind::Sse,
        }
    }
}

/// A server ready to be started.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// How to reach it.
    pub transport: Transport,
    /// Start-up timeout.
    pub startup_timeout: Duration,
    /// Per-call timeout.
    pub tool_timeout: Duration,
    /// Start with the host.
    pub eager: bool,
    /// Adapters, in order.
    pub adapters: Vec<String>,
    /// The adapters are the defaults (used when installed), not named in
    /// the entry (which must then be installed).
    pub default_adapters: bool,
    /// Values of the variables its entry expanded (they are secrets as far
    /// as logs and events are concerned).
    pub expanded_values: Vec<String>,
}

/// Checks a server name: 1 to 32 of `A-Za-z0-9_-`, no `__` (the separator
/// of `<server>__<tool>`).
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!("name must be 1 to {MAX_NAME} characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "name `{name}` may only contain letters, digits, `-` and `_`"
        ));
    }
    if name.contains("__") {
        return Err(format!(
            "name `{name}` must not contain `__` (it separates server and tool in tool names)"
        ));
    }
    Ok(())
}

impl ServerSpec {
    /// Parses one entry, naming the server in any error.
    pub fn from_value(name: &str, value: &serde_json::Value) -> Result<ServerSpec, ConfigError> {
        // The path names the field at fault (`args: invalid type…`).
        serde_path_to_error::deserialize(value.clone()).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            ConfigError::Server {
                server: name.to_string(),
                reason: if path == "." {
                    inner.to_string()
                } else {
                    format!("{path}: {inner}")
                },
            }
        })
    }

    /// Checks the entry and expands its variables with `lookup`.
    pub fn resolve(
        &self,
        name: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Resolved, ConfigError> {
        let bad = |reason: String| ConfigError::Server {
            server: name.to_string(),
            reason,
        };
        check_name(name).map_err(bad)?;
        let mut values = Vec::new();
        let mut expand = |field: &str, text: &str| -> Result<String, ConfigError> {
            expand_vars(text, lookup, &mut values).map_err(|e| match e {
                ExpandError::Unset(var) => ConfigError::UnsetVar {
                    server: name.to_string(),
                    var,
                    field: field.to_string(),
                },
                ExpandError::Syntax(reason) => bad(format!("{field}: {reason}")),
            })
        };
        let kind = match (self.transport, &self.command, &self.url) {
            (_, Some(_), Some(_)) => {
                return Err(bad(
                    "has both `command` and `url`: a server is either a program (stdio) or a URL"
                        .into(),
                ));
            }
            (None | Some(TransportKind::Stdio), Some(_), None) => TransportKind::Stdio,
            (Some(TransportKind::Stdio), None, _) => {
                return Err(bad("transport `stdio` needs a `command`".into()));
            }
            (None, None, Some(_)) => TransportKind::StreamableHttp,
            (Some(k), None, Some(_)) => k,
            (Some(k), Some(_), None) => {
                return Err(bad(format!(
                    "transport `{}` needs a `url`, not a `command`",
                    k.as_str()
                )));
            }
            (Some(k), None, None) => {
                return Err(bad(format!("transport `{}` needs a `url`", k.as_str())));
            }
            (None, None, None) => {
                return Err(bad(
                    "needs a `command` (a stdio server) or a `url` (an HTTP server)".into(),
                ));
            }
        };
        let transport = match kind {
            TransportKind::Stdio => {
                if !self.headers.is_empty() {
                    return Err(bad(
                        "`headers` apply to HTTP servers, not to a command".into()
                    ));
                }
                let command = expand("command", self.command.as_deref().unwrap_or_default())?;
                if command.trim().is_empty() {
                    return Err(bad("`command` is empty".into()));
                }
                let args = self
                    .args
                    .iter()
                    .enumerate()
                    .map(|(i, a)| expand(&format!("args[{i}]"), a))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut env = BTreeMap::new();
                for (k, v) in &self.env {
                    if k.is_empty() || k.contains('=') || k.contains('\0') {
                        return Err(bad(format!("env: `{k}` is not a variable name")));
                    }
                    env.insert(k.clone(), expand(&format!("env.{k}"), v)?);
                }
                let cwd = match &self.cwd {
                    Some(c) => {
                        let c = PathBuf::from(expand("cwd", c)?);
                        if !c.is_absolute() {
                            return Err(bad(format!(
                                "cwd `{}` must be an absolute path",
                                c.display()
                            )));
                        }
                        Some(c)
                    }
                    None => None,
                };
                Transport::Stdio {
                    command,
                    args,
                    env,
                    cwd,
                }
            }
            TransportKind::StreamableHttp | TransportKind::Sse => {
                if !self.args.is_empty() || !self.env.is_empty() || self.cwd.is_some() {
                    return Err(bad(
                        "`args`, `env` and `cwd` apply to a command, not to a URL".into(),
                    ));
                }
                let url = expand("url", self.url.as_deref().unwrap_or_default())?;
                check_url(&url).map_err(bad)?;
                let mut headers = BTreeMap::new();
                for (k, v) in &self.headers {
                    let value = expand(&format!("headers.{k}"), v)?;
                    if http::HeaderName::from_bytes(k.as_bytes()).is_err()
                        || http::HeaderValue::from_str(&value).is_err()
                    {
                        return Err(bad(format!("headers: `{k}` is not a valid HTTP header")));
                    }
                    headers.insert(k.clone(), value);
                }
                if kind == TransportKind::Sse {
                    Transport::Sse { url, headers }
                } else {
                    Transport::StreamableHttp { url, headers }
                }
            }
        };
        let timeout = |field: &str, v: Option<u64>, default: u64| {
            let ms = v.unwrap_or(default);
            if ms == 0 || ms > MAX_TIMEOUT_MS {
                Err(bad(format!(
                    "{field} must be between 1 and {MAX_TIMEOUT_MS} ms"
                )))
            } else {
                Ok(Duration::from_millis(ms))
            }
        };
        let adapters = match &self.adapters {
            Some(list) => {
                for a in list {
                    if a.trim().is_empty() {
                        return Err(bad("adapters: an adapter name is empty".into()));
                    }
                }
                list.clone()
            }
            None => DEFAULT_ADAPTERS.iter().map(|s| s.to_string()).collect(),
        };
        Ok(Resolved {
            transport,
            startup_timeout: timeout(
                "startupTimeoutMs",
                self.startup_timeout_ms,
                DEFAULT_STARTUP_TIMEOUT_MS,
            )?,
            tool_timeout: timeout(
                "toolTimeoutMs",
                self.tool_timeout_ms,
                DEFAULT_TOOL_TIMEOUT_MS,
            )?,
            eager: self.eager,
            adapters,
            default_adapters: self.adapters.is_none(),
            expanded_values: values,
        })
    }

    /// Its transport kind as it will be used (for listings of entries that
    /// do not resolve).
    pub fn kind(&self) -> Option<TransportKind> {
        self.transport.or(match (&self.command, &self.url) {
            (Some(_), None) => Some(TransportKind::Stdio),
            (None, Some(_)) => Some(TransportKind::StreamableHttp),
            _ => None,
        })
    }

    /// The variables its entry references (`${VAR}`).
    pub fn referenced_vars(&self) -> Vec<String> {
        let mut out = Vec::new();
        let fields = self
            .command
            .iter()
            .chain(&self.args)
            .chain(self.env.values())
            .chain(&self.cwd)
            .chain(&self.url)
            .chain(self.headers.values());
        for f in fields {
            let mut rest = f.as_str();
            while let Some(start) = rest.find("${") {
                let after = &rest[start + 2..];
                let Some(end) = after.find('}') else { break };
                let inner = &after[..end];
                let var = inner.split_once(":-").map_or(inner, |(v, _)| v);
                if !var.is_empty() && !out.iter().any(|o| o == var) {
                    out.push(var.to_string());
                }
                rest = &after[end + 1..];
            }
        }
        out
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("url `{url}` is not a URL: {e}"))?;
    match parsed.scheme() {
        "http" | "https" => {}
        other => {
            return Err(format!(
                "url `{url}`: scheme `{other}` is not supported (use http or https)"
            ));
        }
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("url `{url}` has no host"));
    }
    Ok(())
}

enum ExpandError {
    Unset(String),
    Syntax(String),
}

/// Expands `${VAR}` and `${VAR:-default}`; `$$` is a literal `$`. Records
/// each expanded value in `values`.
fn expand_vars(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    values: &mut Vec<String>,
) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| ExpandError::Syntax(format!("unclosed `${{` in `{text}`")))?;
            let inner = &body[..end];
            let (var, default) = match inner.split_once(":-") {
                Some((v, d)) => (v, Some(d)),
                None => (inner, None),
            };
            if var.is_empty()
                || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                || var.starts_with(|c: char| c.is_ascii_digit())
            {
                return Err(ExpandError::Syntax(format!(
                    "`${{{inner}}}` is not a variable reference (use `${{NAME}}` or `${{NAME:-default}}`)"
                )));
            }
            match (lookup(var), default) {
                (Some(v), _) if !v.is_empty() => {
                    values.push(v.clone());
                    out.push_str(&v);
                }
                // Set but empty, no default: empty.
                (Some(_), None) => {}
                (_, Some(d)) => out.push_str(d),
                (None, None) => return Err(ExpandError::Unset(var.to_string())),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// One entry of a file: its spec, or why it could not be read.
pub type Entry = (String, Result<ServerSpec, ConfigError>);

/// Parses the text of an `mcpServers.json`; entries in file order.
pub fn parse(path: &str, text: &str) -> Result<Vec<Entry>, ConfigError> {
    let file = |reason: String| ConfigError::File {
        path: path.to_string(),
        reason,
    };
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| file(format!("not valid JSON: {e}")))?;
    let obj = doc
        .as_object()
        .ok_or_else(|| file("expected an object `{\"mcpServers\": {…}}`".into()))?;
    for key in obj.keys() {
        if key != "mcpServers" {
            return Err(file(format!(
                "unknown top-level key `{key}` (expected `mcpServers`)"
            )));
        }
    }
    let servers = match obj.get("mcpServers") {
        Some(serde_json::Value::Object(m)) => m,
        Some(_) => {
            return Err(file(
                "`mcpServers` must be an object of servers by name".into(),
            ));
        }
        None => return Err(file("missing `mcpServers`".into())),
    };
    Ok(servers
        .iter()
        .map(|(name, value)| {
            let spec = check_name(name)
                .map_err(|reason| ConfigError::Server {
                    server: name.clone(),
                    reason,
                })
                .and_then(|()| ServerSpec::from_value(name, value));
            (name.clone(), spec)
        })
        .collect())
}

/// Reads an `mcpServers.json`. A missing file is an error only when
/// `required` (it was named explicitly); otherwise it means no servers.
pub fn load(path: &Path, required: bool) -> Result<Vec<Entry>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&path.display().to_string(), &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(Vec::new()),
        Err(e) => Err(ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cr3t-token".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn resolve(json: &str) -> Result<Resolved, ConfigError> {
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        ServerSpec::from_value("srv", &v)?.resolve("srv", &env)
    }

    #[test]
    fn stdio_entry_expands_variables() {
        let r = resolve(
            r#"{"command": "npx", "args": ["-y", "pkg", "--token=${TOKEN}"],
                "env": {"A": "${TOKEN}", "B": "${NOPE:-fallback}", "C": "$$HOME"}, "cwd": "/tmp"}"#,
        )
        .unwrap();
        let Transport::Stdio {
            command,
            args,
            env,
            cwd,
        } = r.transport
        else {
            panic!("not stdio")
        };
        assert_eq!(command, "npx");
        assert_eq!(args[2], "--token=s3cr3t-token");
        assert_eq!(env["A"], "s3cr3t-token");
        assert_eq!(env["B"], "fallback");
        assert_eq!(env["C"], "$HOME");
        assert_eq!(cwd, Some(PathBuf::from("/tmp")));
        assert_eq!(r.expanded_values, vec!["s3cr3t-token", "s3cr3t-token"]);
        assert_eq!(r.adapters, vec!["mcp-redact"]);
        assert_eq!(r.startup_timeout, Duration::from_secs(10));
        assert_eq!(r.tool_timeout, Duration::from_secs(60));
    }

    #[test]
    fn unset_variable_names_server_and_variable() {
        let e = resolve(r#"{"url": "https://x.example/mcp", "headers": {"Authorization": "Bearer ${GH_TOKEN}"}}"#)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "MCP server `srv`: environment variable `GH_TOKEN` is not set (used in headers.Authorization)"
        );
        // An empty value with no default is used as is; with a default, the default.
        let r = resolve(r#"{"command": "x", "args": ["${EMPTY}", "${EMPTY:-d}"]}"#).unwrap();
        let Transport::Stdio { args, .. } = r.transport else {
            panic!()
        };
        assert_eq!(args, vec!["", "d"]);
    }

    #[test]
    fn transports_are_inferred_or_named() {
        assert_eq!(
            resolve(r#"{"url": "http://127.0.0.1:1/mcp"}"#)
                .unwrap()
                .transport
                .kind(),
            TransportKind::StreamableHttp
        );
        for (t, k) in [
            ("sse", TransportKind::Sse),
            ("streamable-http", TransportKind::StreamableHttp),
            ("http", TransportKind::StreamableHttp),
        ] {
            let r = resolve(&format!(r#"{{"url": "http://h/x", "transport": "{t}"}}"#)).unwrap();
            assert_eq!(r.transport.kind(), k);
            let r = resolve(&format!(r#"{{"url": "http://h/x", "type": "{t}"}}"#)).unwrap();
            assert_eq!(r.transport.kind(), k);
        }
    }

    #[test]
    fn bad_entries_are_clear() {
        let cases = [
            (
                r#"{"url": "http://h/x", "transport": "websocket"}"#,
                "unknown variant `websocket`",
            ),
            (r#"{}"#, "needs a `command`"),
            (
                r#"{"command": "x", "url": "http://h"}"#,
                "both `command` and `url`",
            ),
            (r#"{"transport": "sse", "command": "x"}"#, "needs a `url`"),
            (r#"{"url": "ftp://h/x"}"#, "scheme `ftp`"),
            (r#"{"url": "not a url"}"#, "is not a URL"),
            (
                r#"{"command": "x", "comand": "y"}"#,
                "unknown field `comand`",
            ),
            (r#"{"command": "x", "cwd": "rel"}"#, "absolute"),
            (
                r#"{"command": "x", "args": ["${1X}"]}"#,
                "not a variable reference",
            ),
            (r#"{"command": "x", "args": ["${X"]}"#, "unclosed"),
            (r#"{"command": "  "}"#, "empty"),
            (r#"{"command": "x", "toolTimeoutMs": 0}"#, "toolTimeoutMs"),
            (
                r#"{"url": "http://h", "headers": {"bad header": "v"}}"#,
                "not a valid HTTP header",
            ),
            (
                r#"{"url": "http://h", "args": ["a"]}"#,
                "apply to a command",
            ),
        ];
        for (json, want) in cases {
            let e = resolve(json).unwrap_err().to_string();
            assert!(e.contains(want), "{json}: {e}");
            assert!(e.starts_with("MCP server `srv`"), "{e}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("git").is_ok());
        assert!(check_name("my-server_2").is_ok());
        for bad in ["", "a b", "a__b", "a.b", &"x".repeat(33)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn files_parse_per_entry() {
        let entries = parse(
            "f.json",
            r#"{"mcpServers": {"ok": {"command": "x"}, "bad": {"nope": 1}, "a.b": {"command": "x"}}}"#,
        )
        .unwrap();
        assert_eq!(entries.len(), 3);
        assert!(entries.iter().any(|(n, s)| n == "ok" && s.is_ok()));
        assert!(entries.iter().any(|(n, s)| n == "bad" && s.is_err()));
        assert!(entries.iter().any(|(n, s)| n == "a.b" && s.is_err()));
        for (text, want) in [
            ("{", "not valid JSON"),
            ("[]", "expected an object"),
            (r#"{"servers": {}}"#, "unknown top-level key"),
            (r#"{"mcpServers": []}"#, "must be an object"),
        ] {
            let e = parse("f.json", text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        assert!(
            load(Path::new("/nonexistent/mcp.json"), false)
                .unwrap()
                .is_empty()
        );
        assert!(load(Path::new("/nonexistent/mcp.json"), true).is_err());
    }

    #[test]
    fn referenced_vars_are_listed() {
        let spec: ServerSpec = serde_json::from_str(
            r#"{"command": "x", "args": ["${A}", "${B:-d}"], "env": {"K": "${A}${C}"}}"#,
        )
        .unwrap();
        assert_eq!(spec.referenced_vars(), vec!["A", "B", "C"]);
    }
}
