//! Write Paddock plugins — tools, MCP adapters and risk assessors — in Rust.
//!
//! A tool plugin is a WebAssembly component (target `wasm32-wasip2`) that
//! exports the `paddock:plugin/tools` interface of the WIT package
//! `paddock:plugin@0.2.0`. This crate hides the bindings: describe your tools
//! with a [`Toolbox`], derive their input types with serde and schemars, and
//! export them with [`export_tools!`].
//!
//! ```no_run
//! use paddock_sdk::prelude::*;
//!
//! /// Input of `word_count`.
//! #[derive(Deserialize, JsonSchema)]
//! struct WordCountInput {
//!     /// The text whose words to count.
//!     text: String,
//! }
//!
//! fn toolbox() -> Toolbox {
//!     Toolbox::new().read_only_tool(
//!         "word_count",
//!         "Count the whitespace-separated words of `text`.",
//!         |input: WordCountInput, _ctx: &CallContext| {
//!             Ok(input.text.split_whitespace().count().to_string())
//!         },
//!     )
//! }
//!
//! paddock_sdk::export_tools!(toolbox);
//! ```
//!
//! Every call runs in a fresh instance of the component: nothing stays in
//! memory from one call to the next, and the toolbox is rebuilt per call.
//! Files are reached with ordinary `std::fs` calls under `/workspace` (when
//! the plugin was granted `fs`); commands with [`exec`] (when granted `exec`).
//!
//! MCP adapters (the `mcp-adapter` world) are written with the [`adapter`]
//! module and [`export_adapter!`]; risk assessors (the `risk-assessor`
//! world), which judge every tool call before it runs, with the [`assessor`]
//! module and [`export_assessor!`]; lifecycle hooks (the `hooks` world), told
//! about agents' runs and able to add context, allow/ask/deny or rewrite tool
//! calls and redact results, with the [`hooks`] module and [`export_hooks!`].
//! [`shell`] parses shell command lines for
//! policy checks (what they run, where they write), as the built-in
//! `default-assessor` and the host's rules do. [`secrets`] holds the token
//! shapes and the redaction the host and the `mcp-redact` adapter share.

#![warn(missing_docs)]

// Lets the generated bindings (and the macros below) name this crate as
// `paddock_sdk` from inside it as well as from plugin crates.
extern crate self as paddock_sdk;

use std::fmt;

use serde::de::DeserializeOwned;

/// The raw bindings generated from the WIT contract (`paddock:plugin@0.2.0`,
/// world `tool`). Plugin authors rarely need them directly.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/v0.2.0",
        world: "tool",
        pub_export_macro: true,
        default_bindings_module: "paddock_sdk::bindings",
        runtime_path: "paddock_sdk::__private::wit_bindgen::rt",
        additional_derives: [PartialEq, Eq],
    });
}

/// The raw bindings of the `mcp-adapter` world (`paddock:plugin@0.2.0`),
/// which [`adapter`] wraps. Plugin authors rarely need them directly.
#[allow(missing_docs)]
pub mod adapter_bindings {
    wit_bindgen::generate!({
        path: "../wit/v0.2.0",
        world: "mcp-adapter",
        pub_export_macro: true,
        default_bindings_module: "paddock_sdk::adapter_bindings",
        runtime_path: "paddock_sdk::__private::wit_bindgen::rt",
        additional_derives: [PartialEq, Eq],
        with: {
            "paddock:plugin/log@0.2.0": crate::bindings::paddock::plugin::log,
        },
    });
}

/// The raw bindings of the `risk-assessor` world (`paddock:plugin@0.2.0`),
/// which [`assessor`] wraps. Plugin authors rarely need them directly.
#[allow(missing_docs)]
pub mod assessor_bindings {
    wit_bindgen::generate!({
        path: "../wit/v0.2.0",
        world: "risk-assessor",
        pub_export_macro: true,
        default_bindings_module: "paddock_sdk::assessor_bindings",
        runtime_path: "paddock_sdk::__private::wit_bindgen::rt",
        additional_derives: [PartialEq, Eq],
        with: {
            "paddock:plugin/log@0.2.0": crate::bindings::paddock::plugin::log,
        },
    });
}

/// The raw bindings of the `hooks` world (`paddock:plugin@0.2.0`), which
/// [`hooks`] wraps. Plugin authors rarely need them directly.
#[allow(missing_docs)]
pub mod hooks_bindings {
    wit_bindgen::generate!({
        path: "../wit/v0.2.0",
        world: "hooks",
        pub_export_macro: true,
        default_bindings_module: "paddock_sdk::hooks_bindings",
        runtime_path: "paddock_sdk::__private::wit_bindgen::rt",
        additional_derives: [PartialEq, Eq],
        with: {
            "paddock:plugin/log@0.2.0": crate::bindings::paddock::plugin::log,
            "paddock:plugin/types@0.2.0": crate::assessor_bindings::paddock::plugin::types,
        },
    });
}

pub use bindings::paddock::plugin::types::{CallContext, ToolError, ToolOutput, ToolSpec};

/// What a tool handler returns on success. Anything `Into<Output>` works:
/// `String`, `&str`, or a [`ToolOutput`] built with [`ToolOutput::text`].
pub type Output = ToolOutput;

pub use schemars::JsonSchema;
pub use serde::Deserialize;

/// The versions of schemars, serde and serde_json this SDK uses. Derives
/// look for crates named `schemars` and `serde`, so depend on them directly
/// (same major versions) or point the derives here, e.g.
/// `#[schemars(crate = "paddock_sdk::schemars")]`.
pub use schemars;
pub use serde;
pub use serde_json;

pub mod adapter;
pub mod assessor;
pub mod hooks;
pub mod report;
/// Secrets: known token shapes and given values, found and redacted (from `paddock-scan`, shared with the host).
pub use paddock_scan::secrets;
/// Shell command lines, parsed as the policy reads them (from `paddock-scan`, shared with the host).
pub use paddock_scan::shell;

/// Everything a plugin usually needs: `use paddock_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::log::{debug, error, info, trace, warn};
    pub use crate::{CallContext, Output, ToolError, ToolOutput, Toolbox};
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
}

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}

// ---------------------------------------------------------------------------
// Outputs and errors
// ---------------------------------------------------------------------------

impl ToolOutput {
    /// A result made of text for the model, with no structured part.
    pub fn text(content: impl Into<String>) -> Self {
        ToolOutput {
            content: content.into(),
            structured: None,
        }
    }

    /// Attach a machine-readable form of the result (for the dashboard and
    /// API clients; the model does not see it). A value that fails to
    /// serialize is left out.
    pub fn with_structured<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
        self.structured = serde_json::to_string(value).ok();
        self
    }
}

impl From<String> for ToolOutput {
    fn from(content: String) -> Self {
        ToolOutput::text(content)
    }
}

impl From<&str> for ToolOutput {
    fn from(content: &str) -> Self {
        ToolOutput::text(content)
    }
}

impl From<&String> for ToolOutput {
    fn from(content: &String) -> Self {
        ToolOutput::text(content.as_str())
    }
}

impl ToolError {
    /// The input did not match the schema or made no sense (name the field).
    pub fn invalid_input(message: impl Into<String>) -> Self {
        ToolError::InvalidInput(message.into())
    }

    /// A capability the call needs was not granted, or the request reaches
    /// beyond what the tool allows (a path outside the workspace...).
    pub fn denied(message: impl Into<String>) -> Self {
        ToolError::Denied(message.into())
    }

    /// The call was valid but failed (file missing, text not found...).
    pub fn failed(message: impl Into<String>) -> Self {
        ToolError::Failed(message.into())
    }

    /// This plugin has no tool of that name.
    pub fn unknown_tool(name: impl Into<String>) -> Self {
        ToolError::UnknownTool(name.into())
    }

    /// The kind as the host prints it: `invalid-input`, `unknown-tool`,
    /// `denied` or `failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            ToolError::InvalidInput(_) => "invalid-input",
            ToolError::UnknownTool(_) => "unknown-tool",
            ToolError::Denied(_) => "denied",
            ToolError::Failed(_) => "failed",
        }
    }

    /// The message shown to the model and the user.
    pub fn message(&self) -> &str {
        match self {
            ToolError::InvalidInput(m)
            | ToolError::UnknownTool(m)
            | ToolError::Denied(m)
            | ToolError::Failed(m) => m,
        }
    }
}

impl From<exec::ExecError> for ToolError {
    fn from(err: exec::ExecError) -> Self {
        match err {
            exec::ExecError::Denied(m) => ToolError::Denied(m),
            exec::ExecError::Unavailable(m) => ToolError::Failed(m),
            exec::ExecError::Invalid(m) => ToolError::Failed(format!("invalid command: {m}")),
            exec::ExecError::Failed(m) => ToolError::Failed(m),
        }
    }
}

impl CallContext {
    /// A context for calling tools natively in tests.
    pub fn for_tests() -> Self {
        CallContext {
            agent_id: "test-agent".to_string(),
            call_id: "test-call".to_string(),
            workspace: "/workspace".to_string(),
        }
    }
}

// ---------------------------------------------------------------------------
// Toolbox
// ---------------------------------------------------------------------------

type Handler = Box<dyn Fn(&str, &CallContext) -> Result<ToolOutput, ToolError>>;

struct Tool {
    name: String,
    description: String,
    read_only: bool,
    schema: fn() -> serde_json::Value,
    handler: Handler,
}

/// The tools a plugin offers, built once per call by the function given to
/// [`export_tools!`].
///
/// ```
/// use paddock_sdk::prelude::*;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Greet {
///     /// Who to greet.
///     name: String,
/// }
///
/// let toolbox = Toolbox::new().read_only_tool(
///     "greet",
///     "Say hello to someone.",
///     |input: Greet, _ctx: &CallContext| Ok(format!("hello, {}", input.name)),
/// );
/// let out = toolbox
///     .invoke("greet", r#"{"name":"Ada"}"#, &CallContext::for_tests())
///     .unwrap();
/// assert_eq!(out.content, "hello, Ada");
/// ```
#[derive(Default)]
pub struct Toolbox {
    tools: Vec<Tool>,
}

impl fmt::Debug for Toolbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.tools.iter().map(|t| &t.name))
            .finish()
    }
}

/// Whether `name` is a valid tool name: `^[a-z][a-z0-9_]{0,63}$`.
pub fn is_valid_tool_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 64
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

impl Toolbox {
    /// An empty toolbox.
    pub fn new() -> Self {
        Toolbox::default()
    }

    /// Add a tool that may change things (write files, run commands...).
    ///
    /// `Input` is deserialized from the call's JSON input; its JSON Schema
    /// (derived with schemars, doc comments become descriptions) is what the
    /// model sees. Input that does not match becomes
    /// [`ToolError::InvalidInput`] without calling `handler`.
    ///
    /// # Panics
    ///
    /// When `name` does not match `^[a-z][a-z0-9_]{0,63}$` or is already
    /// taken: these are mistakes in the plugin's code, caught by its first
    /// test or at install time.
    pub fn tool<Input, O>(
        self,
        name: &str,
        description: &str,
        handler: impl Fn(Input, &CallContext) -> Result<O, ToolError> + 'static,
    ) -> Self
    where
        Input: DeserializeOwned + JsonSchema,
        O: Into<ToolOutput>,
    {
        self.add(name, description, false, handler)
    }

    /// Add a tool that never changes anything outside its own instance
    /// (reads, listings, searches). Hosts in `read-only` approval mode run
    /// these without asking. Otherwise the same as [`Toolbox::tool`].
    pub fn read_only_tool<Input, O>(
        self,
        name: &str,
        description: &str,
        handler: impl Fn(Input, &CallContext) -> Result<O, ToolError> + 'static,
    ) -> Self
    where
        Input: DeserializeOwned + JsonSchema,
        O: Into<ToolOutput>,
    {
        self.add(name, description, true, handler)
    }

    /// Add a tool, read-only or not as `read_only` says.
    pub fn add<Input, O>(
        mut self,
        name: &str,
        description: &str,
        read_only: bool,
        handler: impl Fn(Input, &CallContext) -> Result<O, ToolError> + 'static,
    ) -> Self
    where
        Input: DeserializeOwned + JsonSchema,
        O: Into<ToolOutput>,
    {
        assert!(
            is_valid_tool_name(name),
            "paddock-sdk: invalid tool name {name:?}: it must match ^[a-z][a-z0-9_]{{0,63}}$"
        );
        assert!(
            self.tools.iter().all(|t| t.name != name),
            "paddock-sdk: tool {name:?} is added twice"
        );
        let tool_name = name.to_string();
        let handler: Handler = Box::new(move |input: &str, ctx: &CallContext| {
            let input = parse_input::<Input>(&tool_name, input)?;
            handler(input, ctx).map(Into::into)
        });
        self.tools.push(Tool {
            name: name.to_string(),
            description: description.to_string(),
            read_only,
            schema: input_schema::<Input>,
            handler,
        });
        self
    }

    /// The names of the tools, in the order they were added.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tools.iter().map(|t| t.name.as_str())
    }

    /// The tool specs returned by `describe()`.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools
            .iter()
            .map(|t| ToolSpec {
                name: t.name.clone(),
                description: t.description.clone(),
                input_schema: schema_string(&(t.schema)()),
                read_only: t.read_only,
            })
            .collect()
    }

    /// Run tool `name` with the JSON `input`.
    pub fn invoke(
        &self,
        name: &str,
        input: &str,
        ctx: &CallContext,
    ) -> Result<ToolOutput, ToolError> {
        match self.tools.iter().find(|t| t.name == name) {
            Some(tool) => (tool.handler)(input, ctx),
            None => {
                let known: Vec<&str> = self.names().collect();
                Err(ToolError::UnknownTool(format!(
                    "no tool named `{name}` in this plugin (it offers: {})",
                    if known.is_empty() {
                        "nothing".to_string()
                    } else {
                        known.join(", ")
                    }
                )))
            }
        }
    }
}

/// Deserialize a tool's input, turning failures into
/// [`ToolError::InvalidInput`] that names the problem. A blank input counts
/// as `{}`.
pub fn parse_input<Input: DeserializeOwned>(tool: &str, input: &str) -> Result<Input, ToolError> {
    let input = if input.trim().is_empty() { "{}" } else { input };
    serde_json::from_str(input).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "input is not valid JSON"
            }
            _ => "input does not match the schema",
        };
        ToolError::InvalidInput(format!("{tool}: {what}: {e}"))
    })
}

/// The JSON Schema of `Input` as the model sees it: draft 2020-12, with the
/// top-level `$schema` and `title` keys left out (they only cost tokens).
///
/// # Panics
///
/// When the schema's top level is not `"type": "object"` (the input type
/// must be a struct or a map) — a mistake in the plugin's code.
pub fn input_schema<Input: JsonSchema>() -> serde_json::Value {
    let schema = schemars::schema_for!(Input);
    let mut value = schema.to_value();
    if let Some(obj) = value.as_object_mut() {
        obj.remove("$schema");
        obj.remove("title");
    }
    tidy_schema(&mut value);
    assert!(
        value.get("type").and_then(|t| t.as_str()) == Some("object"),
        "paddock-sdk: the input type {} must be a struct with named fields (its JSON Schema must have \"type\": \"object\")",
        std::any::type_name::<Input>()
    );
    value
}

/// Make a derived schema easier on models, without changing what the input
/// type accepts:
///
/// - an optional property (not `required`) is described by its own type:
///   `Option<u32>` gives `"type": "integer"` rather than
///   `"type": ["integer", "null"], "default": null` (an explicit `null`
///   is still accepted when deserializing);
/// - doc comments are unwrapped like Markdown paragraphs: a single line
///   break between two lines of text becomes a space.
pub fn tidy_schema(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let required: Vec<String> = map
                .get("required")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(Value::Object(props)) = map.get_mut("properties") {
                for (name, prop) in props.iter_mut() {
                    if !required.contains(name) {
                        drop_null(prop);
                    }
                }
            }
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(text) if key == "description" => *text = unwrap_lines(text),
                    _ => tidy_schema(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(tidy_schema),
        _ => {}
    }
}

/// Remove the `null` alternative (and a `null` default) from an optional
/// property's schema.
fn drop_null(prop: &mut serde_json::Value) {
    use serde_json::Value;
    let Some(obj) = prop.as_object_mut() else {
        return;
    };
    if obj.get("default") == Some(&Value::Null) {
        obj.remove("default");
    }
    if let Some(Value::Array(types)) = obj.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            obj.insert("type".to_string(), only);
        }
    }
    // `Option<SomeStruct>`: {"anyOf": [{"$ref": ...}, {"type": "null"}]}.
    let is_null = |v: &Value| {
        v.as_object()
            .is_some_and(|o| o.len() == 1 && o.get("type") == Some(&Value::String("null".into())))
    };
    if let Some(Value::Array(any)) = obj.get("anyOf")
        && any.len() == 2
        && any.iter().any(is_null)
        && let Some(Value::Object(other)) = any.iter().find(|v| !is_null(v)).cloned()
    {
        obj.remove("anyOf");
        for (k, v) in other {
            obj.entry(k).or_insert(v);
        }
    }
}

/// Join the lines of a paragraph: a line break between two non-empty lines
/// becomes a space, unless the next line looks like a list item, a heading,
/// a table row, a code fence or is indented.
fn unwrap_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        out.push_str(line);
        if let Some(next) = lines.peek() {
            let structural = next.is_empty()
                || line.trim().is_empty()
                || next.starts_with([' ', '\t', '-', '*', '+', '#', '|', '>', '`'])
                || next
                    .split_once(". ")
                    .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
            out.push(if structural { '\n' } else { ' ' });
        }
    }
    out
}

/// Serialize a schema deterministically: keys sorted at every level, no
/// whitespace. The same input type always gives byte-identical text, which
/// keeps the model's prompt prefix cacheable.
pub fn schema_string(value: &serde_json::Value) -> String {
    fn sorted(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<(&String, &serde_json::Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                serde_json::Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sorted(v)))
                        .collect(),
                )
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(sorted).collect())
            }
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

// ---------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------

/// Export a toolbox as the plugin's `paddock:plugin/tools` implementation.
///
/// Give it a function (or closure) returning a [`Toolbox`]; it is called on
/// every `describe` and `invoke` (each call runs in a fresh instance anyway).
/// Use it once per crate, at the crate root or in any module.
///
/// The exports are only generated when compiling for WebAssembly; native
/// builds (`cargo test`) compile the toolbox without exporting anything, so
/// tests can call `toolbox().invoke(...)` directly.
///
/// ```ignore
/// fn toolbox() -> paddock_sdk::Toolbox { /* ... */ }
/// paddock_sdk::export_tools!(toolbox);
/// ```
#[macro_export]
macro_rules! export_tools {
    ($make:expr $(,)?) => {
        // Keeps the toolbox function "used" in native builds, where nothing
        // is exported (native unit tests call the toolbox directly).
        #[doc(hidden)]
        #[allow(dead_code)]
        fn __paddock_sdk_toolbox() -> $crate::Toolbox {
            ($make)()
        }

        #[cfg(target_family = "wasm")]
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        struct __paddock_sdk_ToolPlugin;

        #[cfg(target_family = "wasm")]
        impl $crate::bindings::exports::paddock::plugin::tools::Guest for __paddock_sdk_ToolPlugin {
            fn describe() -> ::std::vec::Vec<$crate::ToolSpec> {
                __paddock_sdk_toolbox().specs()
            }

            fn invoke(
                name: ::std::string::String,
                input: ::std::string::String,
                context: $crate::CallContext,
            ) -> ::std::result::Result<$crate::ToolOutput, $crate::ToolError> {
                __paddock_sdk_toolbox().invoke(&name, &input, &context)
            }
        }

        // The component's exports only exist in WebAssembly builds: native
        // linkers reject the component-model export names.
        #[cfg(target_family = "wasm")]
        $crate::bindings::export!(__paddock_sdk_ToolPlugin with_types_in $crate::bindings);
    };
}

// ---------------------------------------------------------------------------
// Imports: log and exec
// ---------------------------------------------------------------------------

/// Write to the host's log, tagged with the plugin, agent and call.
///
/// When compiled natively (unit tests), lines go to standard error instead.
pub mod log {
    use crate::bindings::paddock::plugin::log::Level;

    /// Log `message` at `level`.
    pub fn log(level: Level, message: &str) {
        #[cfg(target_family = "wasm")]
        crate::bindings::paddock::plugin::log::log(level, message);
        #[cfg(not(target_family = "wasm"))]
        eprintln!("[{level:?}] {message}");
    }

    /// Log at trace level.
    pub fn trace(message: impl AsRef<str>) {
        log(Level::Trace, message.as_ref());
    }

    /// Log at debug level.
    pub fn debug(message: impl AsRef<str>) {
        log(Level::Debug, message.as_ref());
    }

    /// Log at info level.
    pub fn info(message: impl AsRef<str>) {
        log(Level::Info, message.as_ref());
    }

    /// Log at warn level.
    pub fn warn(message: impl AsRef<str>) {
        log(Level::Warn, message.as_ref());
    }

    /// Log at error level.
    pub fn error(message: impl AsRef<str>) {
        log(Level::Error, message.as_ref());
    }

    pub use crate::bindings::paddock::plugin::log::Level as LogLevel;
}

/// Run commands in the agent's sandbox. Only plugins granted the `exec`
/// capability can; for the others every function returns
/// [`ExecError::Denied`](exec::ExecError::Denied). `ExecError` converts into [`ToolError`]
/// with `?`.
///
/// These functions call into the host; they cannot run natively.
///
/// ```no_run
/// use paddock_sdk::exec::{self, Command};
/// use paddock_sdk::ToolError;
///
/// fn status() -> Result<String, ToolError> {
///     let out = exec::run(&Command::new(["git", "status", "--short"]).timeout_ms(5_000))?;
///     Ok(format!("exit {:?}\n{}", out.exit_code, out.stdout))
/// }
/// ```
pub mod exec {
    pub use crate::bindings::paddock::plugin::exec::{
        Command, ExecError, JobId, JobStatus, Output, kill, poll, run, spawn,
    };

    impl Command {
        /// A command with these arguments (`argv[0]` is the program), run in
        /// `/workspace` with the host's default timeout and output cap.
        pub fn new<I, S>(argv: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            Command {
                argv: argv.into_iter().map(Into::into).collect(),
                cwd: None,
                env: Vec::new(),
                timeout_ms: None,
                max_output_bytes: None,
                stdin: None,
            }
        }

        /// Run in this directory (a sandbox path).
        pub fn cwd(mut self, dir: impl Into<String>) -> Self {
            self.cwd = Some(dir.into());
            self
        }

        /// Add an environment variable.
        pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.env.push((name.into(), value.into()));
            self
        }

        /// Kill the command after this many milliseconds.
        pub fn timeout_ms(mut self, ms: u64) -> Self {
            self.timeout_ms = Some(ms);
            self
        }

        /// Keep at most this many bytes of stdout and of stderr each.
        pub fn max_output_bytes(mut self, bytes: u64) -> Self {
            self.max_output_bytes = Some(bytes);
            self
        }

        /// Write this text to the command's standard input.
        pub fn stdin(mut self, text: impl Into<String>) -> Self {
            self.stdin = Some(text.into());
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, JsonSchema)]
    struct CountInput {
        /// The text whose words to count.
        text: String,
        /// Count only words at least this long.
        #[serde(default)]
        min_len: Option<u32>,
    }

    fn toolbox() -> Toolbox {
        Toolbox::new()
            .read_only_tool(
                "word_count",
                "Count words.",
                |input: CountInput, _ctx: &CallContext| {
                    let min = input.min_len.unwrap_or(0) as usize;
                    Ok(input
                        .text
                        .split_whitespace()
                        .filter(|w| w.chars().count() >= min)
                        .count()
                        .to_string())
                },
            )
            .tool::<CountInput, _>("fail", "Always fails.", |_, _| {
                Err::<String, _>(ToolError::failed("nope"))
            })
    }

    fn call(name: &str, input: &str) -> Result<ToolOutput, ToolError> {
        toolbox().invoke(name, input, &CallContext::for_tests())
    }

    #[test]
    fn valid_names() {
        assert!(is_valid_tool_name("a"));
        assert!(is_valid_tool_name("read_file2"));
        assert!(is_valid_tool_name(&"a".repeat(64)));
        assert!(!is_valid_tool_name(&"a".repeat(65)));
        assert!(!is_valid_tool_name(""));
        assert!(!is_valid_tool_name("Read"));
        assert!(!is_valid_tool_name("1abc"));
        assert!(!is_valid_tool_name("read-file"));
        assert!(!is_valid_tool_name("réad"));
    }

    #[test]
    fn specs_have_object_schemas_and_flags() {
        let specs = toolbox().specs();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].name, "word_count");
        assert_eq!(specs[0].description, "Count words.");
        assert!(specs[0].read_only);
        assert!(!specs[1].read_only);
        let schema: serde_json::Value = serde_json::from_str(&specs[0].input_schema).unwrap();
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["properties"]["text"]["type"], "string");
        assert_eq!(
            schema["properties"]["text"]["description"],
            "The text whose words to count."
        );
        assert_eq!(schema["required"], serde_json::json!(["text"]));
        assert!(schema.get("$schema").is_none());
        assert!(schema.get("title").is_none());
    }

    #[test]
    fn optional_fields_are_plain_types_and_docs_unwrapped() {
        /// Input with optional fields.
        #[derive(Deserialize, JsonSchema)]
        #[allow(dead_code)]
        struct Opt {
            /// First line
            /// second line.
            ///
            /// New paragraph:
            /// - item one
            /// - item two
            a: Option<u32>,
            #[serde(default)]
            b: bool,
            c: Option<Inner>,
            d: Option<String>,
        }
        #[derive(Deserialize, JsonSchema)]
        #[allow(dead_code)]
        struct Inner {
            x: u8,
        }
        let schema = input_schema::<Opt>();
        let props = &schema["properties"];
        assert_eq!(props["a"]["type"], "integer");
        assert!(props["a"].get("default").is_none());
        assert_eq!(
            props["a"]["description"],
            "First line second line.\n\nNew paragraph:\n- item one\n- item two"
        );
        assert_eq!(props["b"]["type"], "boolean");
        assert_eq!(props["b"]["default"], false);
        assert_eq!(props["d"]["type"], "string");
        assert!(props["c"].get("anyOf").is_none(), "{schema}");
        assert!(props["c"]["$ref"].is_string(), "{schema}");
        assert_eq!(schema["description"], "Input with optional fields.");
        // Nulls are still accepted.
        let parsed: Opt = parse_input("t", r#"{"a":null,"c":null,"d":null}"#).unwrap();
        assert!(parsed.a.is_none());
    }

    #[test]
    fn schema_text_is_deterministic_and_sorted() {
        let a = toolbox().specs()[0].input_schema.clone();
        let b = toolbox().specs()[0].input_schema.clone();
        assert_eq!(a, b);
        assert!(!a.contains('\n'));
        // Keys are sorted at the top level: properties < required < type.
        let p = a.find("\"properties\"").unwrap();
        let r = a.find("\"required\"").unwrap();
        let t = a.rfind("\"type\":\"object\"").unwrap();
        assert!(p < r && r < t, "{a}");
    }

    #[test]
    fn invoke_runs_the_handler() {
        assert_eq!(
            call("word_count", r#"{"text":"a b  c"}"#).unwrap().content,
            "3"
        );
        assert_eq!(
            call("word_count", r#"{"text":"a bb ccc","min_len":2}"#)
                .unwrap()
                .content,
            "2"
        );
        assert_eq!(
            call("word_count", r#"{"text":"x","min_len":null}"#)
                .unwrap()
                .content,
            "1"
        );
        assert_eq!(
            call("fail", r#"{"text":""}"#).unwrap_err(),
            ToolError::Failed("nope".into())
        );
    }

    #[test]
    fn missing_field_is_invalid_input_naming_it() {
        let err = call("word_count", "{}").unwrap_err();
        assert_eq!(err.kind(), "invalid-input");
        assert!(err.message().contains("missing field `text`"), "{err}");
        assert!(err.message().starts_with("word_count:"), "{err}");
    }

    #[test]
    fn wrong_type_is_invalid_input() {
        let err = call("word_count", r#"{"text": 5}"#).unwrap_err();
        assert_eq!(err.kind(), "invalid-input");
        assert!(err.message().contains("invalid type"), "{err}");
        let err = call("word_count", r#"{"text":"a","min_len":-1}"#).unwrap_err();
        assert_eq!(err.kind(), "invalid-input");
    }

    #[test]
    fn malformed_json_is_invalid_input() {
        for bad in ["{", "not json", "[1,2]", "null", "\"text\""] {
            let err = call("word_count", bad).unwrap_err();
            assert_eq!(err.kind(), "invalid-input", "{bad}: {err}");
        }
        let err = call("word_count", "{").unwrap_err();
        assert!(err.message().contains("not valid JSON"), "{err}");
    }

    #[test]
    fn blank_input_counts_as_empty_object() {
        let err = call("word_count", "  ").unwrap_err();
        assert!(err.message().contains("missing field `text`"), "{err}");
    }

    #[test]
    fn unknown_tool() {
        let err = call("nope", "{}").unwrap_err();
        assert_eq!(err.kind(), "unknown-tool");
        assert!(err.message().contains("`nope`"), "{err}");
        assert!(err.message().contains("word_count, fail"), "{err}");
        let err = Toolbox::new()
            .invoke("x", "{}", &CallContext::for_tests())
            .unwrap_err();
        assert!(err.message().contains("nothing"), "{err}");
    }

    #[test]
    fn outputs_convert() {
        let o: ToolOutput = "hi".into();
        assert_eq!(o.content, "hi");
        assert!(o.structured.is_none());
        let o = ToolOutput::text("x").with_structured(&serde_json::json!({"n": 1}));
        assert_eq!(o.structured.as_deref(), Some(r#"{"n":1}"#));
    }

    #[test]
    #[should_panic(expected = "invalid tool name")]
    fn bad_name_panics_at_build_time() {
        let _ = Toolbox::new().tool("Bad-Name", "", |_: CountInput, _: &CallContext| Ok("x"));
    }

    #[test]
    #[should_panic(expected = "added twice")]
    fn duplicate_name_panics_at_build_time() {
        let _ = toolbox().tool("fail", "", |_: CountInput, _: &CallContext| Ok("x"));
    }

    #[test]
    #[should_panic(expected = "must be a struct")]
    fn non_object_input_panics() {
        let _ = input_schema::<String>();
    }

    #[test]
    fn exec_errors_convert() {
        let e: ToolError = exec::ExecError::Denied("no exec".into()).into();
        assert_eq!(e, ToolError::Denied("no exec".into()));
        let e: ToolError = exec::ExecError::Unavailable("no sandbox".into()).into();
        assert_eq!(e.kind(), "failed");
    }

    #[test]
    fn exec_command_builder() {
        let c = exec::Command::new(["git", "status"])
            .cwd("/workspace/sub")
            .env("A", "b")
            .timeout_ms(5)
            .max_output_bytes(10)
            .stdin("in");
        assert_eq!(c.argv, vec!["git", "status"]);
        assert_eq!(c.cwd.as_deref(), Some("/workspace/sub"));
        assert_eq!(c.env, vec![("A".to_string(), "b".to_string())]);
        assert_eq!(c.timeout_ms, Some(5));
        assert_eq!(c.max_output_bytes, Some(10));
        assert_eq!(c.stdin.as_deref(), Some("in"));
    }
}
