//! The scripted model's script: its file format (YAML or JSON), validation
//! with errors that name the scenario, turn and field, the reading of a
//! request's conversation (Chat Completions `messages` or Responses
//! `input`), the stateless matching of a conversation to a turn, and the
//! replay assertions (`expect`) a turn makes about the request it answers.

use paddock_protocol::llm::FinishReason;
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

/// A bad script, named precisely.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The file could not be read.
    #[error("cannot read the script {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The script is not valid.
    #[error("the script {origin} is not valid: {message}")]
    Invalid {
        /// The file (or `<string>`).
        origin: String,
        /// What is wrong, and where.
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptFile {
    #[serde(default = "default_model")]
    model: String,
    #[serde(default)]
    tokens_per_second: f64,
    #[serde(default)]
    delta_chars: Option<serde_json::Value>,
    #[serde(default)]
    scenarios: Vec<ScenarioFile>,
    #[serde(default)]
    turns: Vec<TurnFile>,
}

fn default_model() -> String {
    "scripted".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "match")]
    matches: Option<String>,
    turns: Vec<TurnFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TurnFile {
    #[serde(default)]
    when: Option<WhenFile>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallFile>,
    #[serde(default)]
    tokens_per_second: Option<f64>,
    #[serde(default)]
    delta_chars: Option<serde_json::Value>,
    #[serde(default)]
    stamp_tokens: Option<u32>,
    #[serde(default)]
    finish_reason: Option<FinishReason>,
    #[serde(default)]
    usage: Option<UsageSpec>,
    #[serde(default)]
    fault: Option<Fault>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    requires_reasoning: bool,
    #[serde(default)]
    expect: Option<Expect>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WhenFile {
    #[serde(default)]
    turn: Option<usize>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    tool: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolCallFile {
    name: String,
    #[serde(default)]
    arguments: Option<serde_json::Value>,
    #[serde(default)]
    raw_arguments: Option<String>,
}

/// Usage numbers a turn reports instead of the computed ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageSpec {
    /// Prompt tokens (default: the request's bytes / 4).
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    /// Completion tokens (default: the tokens streamed).
    #[serde(default)]
    pub completion_tokens: Option<u64>,
    /// Cached prompt tokens (default 0).
    #[serde(default)]
    pub cached_tokens: Option<u64>,
    /// Completion tokens spent reasoning, part of `completion_tokens`
    /// (default: the tokens of the turn's `reasoning` summary, else 0).
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

/// What a turn expects of the request it answers (replay assertions, as
/// `paddock export-script` writes them): each given field must equal the
/// request's — date-times and durations in it aside — or the scripted
/// model answers HTTP 400 `script_divergence`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The system prompt: the Responses `instructions` when given, else the
    /// first system or developer message.
    #[serde(default)]
    pub system: Option<String>,
    /// The last user message.
    #[serde(default)]
    pub user: Option<String>,
    /// The tool results since the last assistant turn, in order (the same
    /// number of them too).
    #[serde(default)]
    pub tool_results: Option<Vec<String>>,
}

/// A fault a turn injects instead of (or in the middle of) its answer.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// HTTP 429 with `Retry-After: retry_after` (seconds).
    RateLimit {
        /// Seconds to ask the client to wait (default 1).
        #[serde(default = "one")]
        retry_after: u64,
        /// Only the first `times` asks of this turn in a conversation.
        #[serde(default)]
        times: Option<u32>,
    },
    /// HTTP 500.
    ServerError {
        /// Only the first `times` asks of this turn in a conversation.
        #[serde(default)]
        times: Option<u32>,
    },
    /// Stream `at_chunk` chunks, then drop the connection without `[DONE]`.
    Cut {
        /// Chunks sent before the cut (default: through the first argument
        /// fragment of the first tool call, or half the text).
        #[serde(default)]
        at_chunk: Option<usize>,
        /// Only the first `times` asks of this turn in a conversation.
        #[serde(default)]
        times: Option<u32>,
    },
    /// Send `at_chunk` chunks (0: not even the response headers), then
    /// nothing for `seconds` (absent: until the client goes away), then the
    /// rest of the answer.
    Hang {
        /// Seconds of silence (absent: forever).
        #[serde(default)]
        seconds: Option<f64>,
        /// Chunks sent before the silence (default 1: the role chunk).
        #[serde(default)]
        at_chunk: Option<usize>,
        /// Only the first `times` asks of this turn in a conversation.
        #[serde(default)]
        times: Option<u32>,
    },
}

fn one() -> u64 {
    1
}

impl Fault {
    /// How many asks the fault applies to (`None`: all).
    pub fn times(&self) -> Option<u32> {
        match self {
            Fault::RateLimit { times, .. }
            | Fault::ServerError { times }
            | Fault::Cut { times, .. }
            | Fault::Hang { times, .. } => *times,
        }
    }
}

/// A tool call a turn makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptToolCall {
    /// The tool.
    pub name: String,
    /// The arguments text as streamed (possibly invalid JSON).
    pub arguments: String,
}

/// One answer of the script.
#[derive(Clone, Debug)]
pub struct Turn {
    /// Where the turn is (`scenario 1 (name), turn 2`), for messages.
    pub label: String,
    when: Option<When>,
    /// The text, if any.
    pub text: Option<String>,
    /// The tool calls, in order.
    pub tool_calls: Vec<ScriptToolCall>,
    /// The pace (0: as fast as possible).
    pub tokens_per_second: f64,
    /// How the text is cut into deltas.
    pub deltas: Deltas,
    /// Text tokens of the form `t<unix_micros> ` sent before the text.
    pub stamp_tokens: u32,
    /// The finish reason (default `tool_calls` when it calls tools, else `stop`).
    pub finish_reason: FinishReason,
    /// Usage overrides.
    pub usage: UsageSpec,
    /// The fault, if any.
    pub fault: Option<Fault>,
    /// The reasoning summary the answer starts with over the Responses API
    /// (not sent over Chat Completions).
    pub reasoning: Option<String>,
    /// Whether the request must carry back the encrypted reasoning of the
    /// scenario's previous turn (Responses API only).
    pub requires_reasoning: bool,
    /// The replay assertions, if any.
    pub expect: Option<Expect>,
}

/// How a turn's text is cut into deltas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Deltas {
    /// Word by word, each word with the whitespace after it.
    #[default]
    Words,
    /// Pieces of `min`, `min + 1`, …, `max`, `min`, … characters.
    Chars {
        /// The smallest piece (at least 1).
        min: usize,
        /// The largest piece (at least `min`).
        max: usize,
    },
}

impl Deltas {
    /// Reads `delta_chars`: absent (words), a whole number N >= 1 (pieces
    /// of N characters) or a range `[min, max]` of them.
    fn parse(value: Option<&serde_json::Value>) -> Result<Deltas, String> {
        let Some(value) = value else {
            return Ok(Deltas::Words);
        };
        let count = |v: &serde_json::Value| v.as_u64().filter(|n| *n >= 1).map(|n| n as usize);
        let bad = || {
            format!(
                "must be a whole number >= 1 or a range [min, max] of them (min <= max), not {value}"
            )
        };
        match value {
            serde_json::Value::Array(pair) => match pair.as_slice() {
                [a, b] => match (count(a), count(b)) {
                    (Some(min), Some(max)) if min <= max => Ok(Deltas::Chars { min, max }),
                    _ => Err(bad()),
                },
                _ => Err(bad()),
            },
            v => count(v)
                .map(|n| Deltas::Chars { min: n, max: n })
                .ok_or_else(bad),
        }
    }
}

#[derive(Clone, Debug)]
struct When {
    turn: Option<usize>,
    user: Option<Regex>,
    tool: Option<Regex>,
}

#[derive(Clone, Debug)]
struct Scenario {
    matches: Option<Regex>,
    turns: Vec<Turn>,
}

/// A loaded, validated script.
#[derive(Clone, Debug)]
pub struct Script {
    /// The model id `/v1/models` lists.
    pub model: String,
    scenarios: Vec<Scenario>,
}

/// What the matching reads of a request's conversation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conversation {
    /// The first user message ("" when none).
    pub first_user: String,
    /// The last user message.
    pub last_user: Option<String>,
    /// The last tool result.
    pub last_tool: Option<String>,
    /// Assistant turns already in the conversation.
    pub assistant_turns: usize,
    /// The system prompt: the Responses `instructions` when given, else the
    /// first system or developer message.
    pub system: Option<String>,
    /// The tool results since the last assistant turn, in order.
    pub tool_results: Vec<String>,
    /// The encrypted reasoning sent back (`encrypted_content` of the
    /// Responses input's `reasoning` items), in order.
    pub reasoning: Vec<String>,
}

/// A Responses-API `input` the scripted model refuses, as OpenAI would.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InputError {
    /// The offending parameter (`input`, `input[3].role`).
    pub param: String,
    /// What is wrong.
    pub message: String,
}

impl Conversation {
    /// Reads an OpenAI `messages` array (content as a string or text parts).
    pub fn from_messages(messages: &[Value]) -> Conversation {
        let mut c = Conversation::default();
        let mut first = None;
        for m in messages {
            let text = content_text(m.get("content"));
            match m.get("role").and_then(|r| r.as_str()) {
                Some("user") => {
                    if first.is_none() {
                        first = Some(text.clone());
                    }
                    c.last_user = Some(text);
                }
                Some("system") | Some("developer") if c.system.is_none() => {
                    c.system = Some(text);
                }
                Some("tool") | Some("function") => {
                    c.tool_results.push(text.clone());
                    c.last_tool = Some(text);
                }
                Some("assistant") => {
                    c.assistant_turns += 1;
                    c.tool_results.clear();
                }
                _ => {}
            }
        }
        c.first_user = first.unwrap_or_default();
        c
    }

    /// Reads a Responses-API request's `input` (a string: one user message;
    /// or a list of items) and `instructions`. An assistant turn is a run
    /// of consecutive model-output items (assistant `message`,
    /// `function_call`, `reasoning`): one answer is several items. Item
    /// types the scripted model does not know are skipped.
    pub fn from_responses(
        input: Option<&Value>,
        instructions: Option<&str>,
    ) -> Result<Conversation, InputError> {
        let bad = |param: String, message: String| InputError { param, message };
        let items = match input {
            Some(Value::String(s)) if !s.is_empty() => {
                return Ok(Conversation {
                    first_user: s.clone(),
                    last_user: Some(s.clone()),
                    system: instructions.map(str::to_string),
                    ..Conversation::default()
                });
            }
            Some(Value::Array(items)) if !items.is_empty() => items,
            Some(Value::String(_)) | Some(Value::Array(_)) | None | Some(Value::Null) => {
                return Err(bad(
                    "input".into(),
                    "Missing required parameter: 'input' (a non-empty string or list of items)."
                        .into(),
                ));
            }
            Some(other) => {
                return Err(bad(
                    "input".into(),
                    format!(
                        "Invalid type for 'input': expected a string or an array of items, but got {}.",
                        json_kind(other)
                    ),
                ));
            }
        };
        let mut c = Conversation::default();
        let mut first = None;
        let mut in_output = false;
        for (i, item) in items.iter().enumerate() {
            let Some(obj) = item.as_object() else {
                return Err(bad(
                    format!("input[{i}]"),
                    format!(
                        "Invalid type for 'input[{i}]': expected an object, but got {}.",
                        json_kind(item)
                    ),
                ));
            };
            let kind = obj.get("type").and_then(Value::as_str);
            let role = obj.get("role").and_then(Value::as_str);
            let output = match (kind, role) {
                (Some("message") | None, Some(role)) => {
                    let text = content_text(obj.get("content"));
                    match role {
                        "user" => {
                            if first.is_none() {
                                first = Some(text.clone());
                            }
                            c.last_user = Some(text);
                            false
                        }
                        "system" | "developer" => {
                            if c.system.is_none() {
                                c.system = Some(text);
                            }
                            false
                        }
                        "assistant" => true,
                        other => {
                            return Err(bad(
                                format!("input[{i}].role"),
                                format!(
                                    "Invalid value: '{other}'. Supported values are: 'user', 'system', 'developer' and 'assistant'."
                                ),
                            ));
                        }
                    }
                }
                (Some("message") | None, None) => {
                    return Err(bad(
                        format!("input[{i}].role"),
                        format!("Missing required parameter: 'input[{i}].role'."),
                    ));
                }
                (Some("function_call"), _) => true,
                (Some("reasoning"), _) => {
                    if let Some(e) = obj.get("encrypted_content").and_then(Value::as_str) {
                        c.reasoning.push(e.to_string());
                    }
                    true
                }
                (Some("function_call_output"), _) => {
                    let text = content_text(obj.get("output"));
                    c.tool_results.push(text.clone());
                    c.last_tool = Some(text);
                    false
                }
                (Some(_), _) => continue,
            };
            if output && !in_output {
                c.assistant_turns += 1;
                c.tool_results.clear();
            }
            in_output = output;
        }
        c.first_user = first.unwrap_or_default();
        if let Some(i) = instructions {
            c.system = Some(i.to_string());
        }
        Ok(c)
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn content_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(|t| t.as_str()))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// Characters of context shown on each side of a divergence.
const DIVERGENCE_CONTEXT: usize = 60;

/// `expected`'s and `got`'s text around their first difference, and where
/// it is (in characters).
fn first_difference(expected: &str, got: &str) -> (usize, String, String) {
    let e: Vec<char> = expected.chars().collect();
    let g: Vec<char> = got.chars().collect();
    let at = e
        .iter()
        .zip(&g)
        .position(|(a, b)| a != b)
        .unwrap_or(e.len().min(g.len()));
    let around = |chars: &[char]| {
        let start = at.saturating_sub(DIVERGENCE_CONTEXT);
        let end = at.saturating_add(DIVERGENCE_CONTEXT).min(chars.len());
        let mid: String = chars.get(start..end).unwrap_or_default().iter().collect();
        format!(
            "{}{mid:?}{}",
            if start > 0 { "…" } else { "" },
            if end < chars.len() { "…" } else { "" }
        )
    };
    (at, around(&e), around(&g))
}

/// What changes from one run to the next without the run changing: date-
/// times (`2026-12-06T07:29:36Z`, the compact `20261206T072936Z` of a
/// backup's name) and durations (`9 ms`, `1.25s`).
static VOLATILE: std::sync::LazyLock<Option<Regex>> = std::sync::LazyLock::new(|| {
    Regex::new(
        r"\d{4}-?\d{2}-?\d{2}[T ]\d{2}:?\d{2}:?\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?|\b\d+(?:\.\d+)?\s?(?:ns|µs|us|ms)\b|\b\d+\.\d+\s?s\b",
    )
    .ok()
});

/// `text` with its date-times and durations replaced by one placeholder.
fn steady(text: &str) -> std::borrow::Cow<'_, str> {
    match VOLATILE.as_ref() {
        Some(re) => re.replace_all(text, "<varies>"),
        None => std::borrow::Cow::Borrowed(text),
    }
}

/// "<what> differs: expected …, got …", when `got` is not `expected` —
/// date-times and durations aside, which differ from run to run.
fn compare(what: &str, expected: &str, got: Option<&str>) -> Option<String> {
    match got {
        Some(got) if got == expected || steady(got) == steady(expected) => None,
        Some(got) => {
            let (at, e, g) = first_difference(expected, got);
            Some(format!(
                "{what} differs: expected {e}, got {g} (first difference at character {at})"
            ))
        }
        None => {
            let (_, e, _) = first_difference(expected, "");
            Some(format!("{what} differs: expected {e}, got none"))
        }
    }
}

impl Turn {
    /// Checks the turn's `expect` against the conversation: `None` when it
    /// holds (or there is none), else the message of the `script_divergence`
    /// error, "the run diverges from the script at <turn>: <what> differs:
    /// expected …, got …", with the text around the first difference.
    pub fn divergence(&self, c: &Conversation) -> Option<String> {
        let expect = self.expect.as_ref()?;
        let found = expect
            .system
            .as_deref()
            .and_then(|e| compare("the system message", e, c.system.as_deref()))
            .or_else(|| {
                expect
                    .user
                    .as_deref()
                    .and_then(|e| compare("the last user message", e, c.last_user.as_deref()))
            })
            .or_else(|| {
                let want = expect.tool_results.as_ref()?;
                let n = want.len();
                want.iter()
                    .zip(&c.tool_results)
                    .enumerate()
                    .find_map(|(k, (e, g))| {
                        compare(&format!("tool result {} of {n}", k + 1), e, Some(g))
                    })
                    .or_else(|| {
                        (c.tool_results.len() != n).then(|| {
                            format!(
                                "the number of tool results since the last assistant turn differs: expected {n}, got {}",
                                c.tool_results.len()
                            )
                        })
                    })
            })?;
        Some(format!(
            "the run diverges from the script at {}: {found}",
            self.label
        ))
    }
}

/// The turn that answers a conversation, and where it is.
#[derive(Debug)]
pub struct Selected<'a> {
    /// The turn.
    pub turn: &'a Turn,
    /// Its scenario's position.
    pub scenario: usize,
    /// Its position in the scenario.
    pub index: usize,
}

impl Script {
    /// Reads a script; `.json` files are JSON, anything else YAML.
    pub fn load(path: &Path) -> Result<Script, ScriptError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let origin = path.display().to_string();
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            let file: ScriptFile =
                serde_json::from_str(&text).map_err(|e| ScriptError::Invalid {
                    origin: origin.clone(),
                    message: e.to_string(),
                })?;
            Script::build(file, &origin)
        } else {
            Script::parse_yaml(&text, &origin)
        }
    }

    /// Parses a YAML script (JSON is YAML too).
    pub fn from_yaml_str(text: &str) -> Result<Script, ScriptError> {
        Script::parse_yaml(text, "<string>")
    }

    fn parse_yaml(text: &str, origin: &str) -> Result<Script, ScriptError> {
        let file: ScriptFile = serde_yaml_ng::from_str(text).map_err(|e| ScriptError::Invalid {
            origin: origin.into(),
            message: e.to_string(),
        })?;
        Script::build(file, origin)
    }

    fn build(file: ScriptFile, origin: &str) -> Result<Script, ScriptError> {
        let invalid = |message: String| ScriptError::Invalid {
            origin: origin.into(),
            message,
        };
        let pace_ok = |p: f64| p.is_finite() && p >= 0.0;
        if !pace_ok(file.tokens_per_second) {
            return Err(invalid(
                "tokens_per_second must be a number >= 0 (0: as fast as possible)".into(),
            ));
        }
        let file_deltas = Deltas::parse(file.delta_chars.as_ref())
            .map_err(|m| invalid(format!("`delta_chars`: {m}")))?;
        let mut scenarios = Vec::new();
        let mut raw: Vec<(String, Option<String>, Vec<TurnFile>)> = Vec::new();
        for (i, s) in file.scenarios.into_iter().enumerate() {
            let label = match &s.name {
                Some(n) => format!("scenario {i} ({n})"),
                None => format!("scenario {i}"),
            };
            raw.push((label, s.matches, s.turns));
        }
        if !file.turns.is_empty() {
            raw.push(("turns".into(), None, file.turns));
        }
        if raw.is_empty() {
            return Err(invalid("it has no `turns` and no `scenarios`".into()));
        }
        for (label, matches, turns) in raw {
            let matches = matches
                .map(|m| Regex::new(&m))
                .transpose()
                .map_err(|e| invalid(format!("{label}: `match` is not a valid regex: {e}")))?;
            if turns.is_empty() {
                return Err(invalid(format!("{label}: `turns` is empty")));
            }
            let mut built = Vec::new();
            for (j, t) in turns.into_iter().enumerate() {
                let tl = if label == "turns" {
                    format!("turn {j}")
                } else {
                    format!("{label}, turn {j}")
                };
                let err = |field: &str, msg: String| invalid(format!("{tl}: `{field}`: {msg}"));
                let regex = |field: &str, r: Option<String>| {
                    r.map(|r| Regex::new(&r))
                        .transpose()
                        .map_err(|e| err(field, format!("not a valid regex: {e}")))
                };
                let when = match t.when {
                    None => None,
                    Some(w) => Some(When {
                        turn: w.turn,
                        user: regex("when.user", w.user)?,
                        tool: regex("when.tool", w.tool)?,
                    }),
                };
                let pace = t.tokens_per_second.unwrap_or(file.tokens_per_second);
                if !pace_ok(pace) {
                    return Err(err("tokens_per_second", "must be a number >= 0".into()));
                }
                let deltas = match &t.delta_chars {
                    None => file_deltas,
                    Some(v) => Deltas::parse(Some(v)).map_err(|m| err("delta_chars", m))?,
                };
                let mut calls = Vec::new();
                for (k, c) in t.tool_calls.into_iter().enumerate() {
                    if c.name.is_empty() {
                        return Err(err(&format!("tool_calls[{k}].name"), "is empty".into()));
                    }
                    let arguments = match (c.arguments, c.raw_arguments) {
                        (Some(_), Some(_)) => {
                            return Err(err(
                                &format!("tool_calls[{k}]"),
                                "give `arguments` or `raw_arguments`, not both".into(),
                            ));
                        }
                        (Some(v), None) => v.to_string(),
                        (None, Some(raw)) => raw,
                        (None, None) => "{}".into(),
                    };
                    calls.push(ScriptToolCall {
                        name: c.name,
                        arguments,
                    });
                }
                let stamp = t.stamp_tokens.unwrap_or(0);
                if t.text.is_none() && calls.is_empty() && stamp == 0 && t.fault.is_none() {
                    return Err(invalid(format!(
                        "{tl}: it answers nothing: give `text`, `tool_calls`, `stamp_tokens` or a `fault`"
                    )));
                }
                if let Some(Fault::Hang {
                    seconds: Some(s), ..
                }) = &t.fault
                    && !(s.is_finite() && *s >= 0.0)
                {
                    return Err(err("fault.seconds", "must be a number >= 0".into()));
                }
                let finish_reason = t.finish_reason.unwrap_or(if calls.is_empty() {
                    FinishReason::Stop
                } else {
                    FinishReason::ToolCalls
                });
                if t.reasoning.as_deref().is_some_and(str::is_empty) {
                    return Err(err("reasoning", "is empty".into()));
                }
                if t.requires_reasoning {
                    let previous: Option<&Turn> = j.checked_sub(1).and_then(|p| built.get(p));
                    match previous {
                        None => {
                            return Err(err(
                                "requires_reasoning",
                                "the first turn of a scenario has no previous turn whose reasoning it could require".into(),
                            ));
                        }
                        Some(p) if p.reasoning.is_none() => {
                            return Err(err(
                                "requires_reasoning",
                                format!(
                                    "the previous turn ({}) gives no `reasoning` to send back",
                                    p.label
                                ),
                            ));
                        }
                        Some(_) => {}
                    }
                }
                if let Some(e) = &t.expect
                    && e.system.is_none()
                    && e.user.is_none()
                    && e.tool_results.is_none()
                {
                    return Err(err(
                        "expect",
                        "give at least one of `system`, `user`, `tool_results`".into(),
                    ));
                }
                built.push(Turn {
                    label: tl,
                    when,
                    text: t.text,
                    tool_calls: calls,
                    tokens_per_second: pace,
                    deltas,
                    stamp_tokens: stamp,
                    finish_reason,
                    usage: t.usage.unwrap_or_default(),
                    fault: t.fault,
                    reasoning: t.reasoning,
                    requires_reasoning: t.requires_reasoning,
                    expect: t.expect,
                });
            }
            scenarios.push(Scenario {
                matches,
                turns: built,
            });
        }
        Ok(Script {
            model: file.model,
            scenarios,
        })
    }

    /// The turn at `index` of the scenario at `scenario` (the top-level
    /// `turns` are the last scenario).
    pub fn turn(&self, scenario: usize, index: usize) -> Option<&Turn> {
        self.scenarios.get(scenario)?.turns.get(index)
    }

    /// The turn answering `c`: the first scenario whose `match` accepts the
    /// first user message and that has a matching turn; in it, the first
    /// turn that matches. A turn without `when` matches when the
    /// conversation holds as many assistant messages as its position in the
    /// list; a turn with `when` matches when all its conditions hold.
    pub fn select(&self, c: &Conversation) -> Option<Selected<'_>> {
        for (si, s) in self.scenarios.iter().enumerate() {
            if let Some(m) = &s.matches
                && !m.is_match(&c.first_user)
            {
                continue;
            }
            for (ti, t) in s.turns.iter().enumerate() {
                let ok = match &t.when {
                    None => ti == c.assistant_turns,
                    Some(w) => {
                        w.turn.is_none_or(|n| n == c.assistant_turns)
                            && w.user.as_ref().is_none_or(|r| {
                                c.last_user.as_deref().is_some_and(|u| r.is_match(u))
                            })
                            && w.tool.as_ref().is_none_or(|r| {
                                c.last_tool.as_deref().is_some_and(|u| r.is_match(u))
                            })
                    }
                };
                if ok {
                    return Some(Selected {
                        turn: t,
                        scenario: si,
                        index: ti,
                    });
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn convo(first: &str, last_tool: Option<&str>, assistant_turns: usize) -> Conversation {
        Conversation {
            first_user: first.into(),
            last_user: Some(first.into()),
            last_tool: last_tool.map(str::to_string),
            assistant_turns,
            ..Conversation::default()
        }
    }

    #[test]
    fn ordered_turns_and_scenarios() {
        let s = Script::from_yaml_str(
            r#"
scenarios:
  - name: bug
    match: "fix the bug"
    turns:
      - tool_calls: [{name: read_file, arguments: {path: a.txt}}]
      - when: {tool: "^error"}
        text: "retrying"
      - text: "done"
turns:
  - text: "hello"
  - text: "again"
"#,
        )
        .unwrap();
        let pick = |c: &Conversation| s.select(c).map(|t| t.turn.label.clone());
        assert_eq!(
            pick(&convo("please fix the bug", None, 0)).unwrap(),
            "scenario 0 (bug), turn 0"
        );
        assert_eq!(
            s.select(&convo("fix the bug", None, 0))
                .unwrap()
                .turn
                .tool_calls[0]
                .arguments,
            r#"{"path":"a.txt"}"#
        );
        assert_eq!(
            pick(&convo("fix the bug", Some("error: x"), 1)).unwrap(),
            "scenario 0 (bug), turn 1"
        );
        assert_eq!(
            pick(&convo("fix the bug", Some("ok"), 2)).unwrap(),
            "scenario 0 (bug), turn 2"
        );
        assert_eq!(pick(&convo("hi", None, 1)).unwrap(), "turn 1");
        assert_eq!(pick(&convo("hi", None, 5)), None);
    }

    #[test]
    fn conversation_from_messages() {
        let m: Vec<serde_json::Value> = serde_json::from_str(
            r#"[{"role":"system","content":"s"},{"role":"user","content":"first"},
                {"role":"assistant","content":null,"tool_calls":[]},
                {"role":"tool","tool_call_id":"c","content":[{"type":"text","text":"out"}]},
                {"role":"user","content":"second"}]"#,
        )
        .unwrap();
        let c = Conversation::from_messages(&m);
        assert_eq!(c.first_user, "first");
        assert_eq!(c.last_user.as_deref(), Some("second"));
        assert_eq!(c.last_tool.as_deref(), Some("out"));
        assert_eq!(c.assistant_turns, 1);
    }

    #[test]
    fn chat_tool_results_are_those_since_the_last_assistant_message() {
        let m: Vec<Value> = serde_json::from_str(
            r#"[{"role":"developer","content":"be brief"},{"role":"system","content":"later"},
                {"role":"user","content":"go"},
                {"role":"assistant","tool_calls":[]},
                {"role":"tool","tool_call_id":"a","content":"one"},
                {"role":"assistant","tool_calls":[]},
                {"role":"tool","tool_call_id":"b","content":"two"},
                {"role":"tool","tool_call_id":"c","content":"three"}]"#,
        )
        .unwrap();
        let c = Conversation::from_messages(&m);
        assert_eq!(c.system.as_deref(), Some("be brief"));
        assert_eq!(c.tool_results, ["two", "three"]);
        assert_eq!(c.last_tool.as_deref(), Some("three"));
        assert_eq!(c.assistant_turns, 2);
        assert!(c.reasoning.is_empty());
    }

    #[test]
    fn responses_input_groups_model_output_items_into_turns() {
        let input: Value = serde_json::from_str(
            r#"[{"type":"message","role":"developer","content":"dev prompt"},
                {"role":"user","content":[{"type":"input_text","text":"fix "},{"type":"input_text","text":"it"}]},
                {"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"enc-1"},
                {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Looking."}]},
                {"type":"function_call","call_id":"call_a","name":"read","arguments":"{}"},
                {"type":"function_call","call_id":"call_b","name":"read","arguments":"{}"},
                {"type":"function_call_output","call_id":"call_a","output":"out a"},
                {"type":"function_call_output","call_id":"call_b","output":[{"type":"input_text","text":"out b"}]},
                {"type":"item_reference","id":"x"},
                {"type":"reasoning","id":"rs_2","summary":[]},
                {"type":"function_call","call_id":"call_c","name":"write","arguments":"{}"},
                {"type":"function_call_output","call_id":"call_c","output":"out c"},
                {"type":"message","role":"user","content":"and now?"},
                {"type":"message","role":"assistant","content":"Done."},
                {"type":"message","role":"user","content":"thanks"}]"#,
        )
        .unwrap();
        let c = Conversation::from_responses(Some(&input), None).unwrap();
        assert_eq!(c.first_user, "fix it");
        assert_eq!(c.last_user.as_deref(), Some("thanks"));
        assert_eq!(c.system.as_deref(), Some("dev prompt"));
        // [reasoning, message, call, call], [reasoning, call], [message].
        assert_eq!(c.assistant_turns, 3);
        assert_eq!(c.last_tool.as_deref(), Some("out c"));
        assert!(c.tool_results.is_empty(), "{:?}", c.tool_results);
        assert_eq!(c.reasoning, ["enc-1"]);

        // Tool results since the last model output, in order.
        let cut = Value::Array(input.as_array().unwrap()[..8].to_vec());
        let c = Conversation::from_responses(Some(&cut), Some("the instructions")).unwrap();
        assert_eq!(c.assistant_turns, 1);
        assert_eq!(c.tool_results, ["out a", "out b"]);
        assert_eq!(c.system.as_deref(), Some("the instructions"));

        let c = Conversation::from_responses(Some(&json!("hello")), None).unwrap();
        assert_eq!(c.first_user, "hello");
        assert_eq!(c.last_user.as_deref(), Some("hello"));
        assert_eq!(c.assistant_turns, 0);
    }

    #[test]
    fn bad_responses_input_names_the_parameter() {
        let err = |v: Option<Value>| Conversation::from_responses(v.as_ref(), None).unwrap_err();
        assert_eq!(err(None).param, "input");
        assert_eq!(err(Some(json!(""))).param, "input");
        assert_eq!(err(Some(json!([]))).param, "input");
        assert!(err(Some(json!(3))).message.contains("a number"));
        assert_eq!(err(Some(json!(["hi"]))).param, "input[0]");
        let e = err(Some(
            json!([{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}]),
        ));
        assert_eq!(e.param, "input[1].role");
        assert!(e.message.contains("'tool'"), "{}", e.message);
        assert_eq!(
            err(Some(json!([{"type": "message", "content": "a"}]))).param,
            "input[0].role"
        );
    }

    fn expecting(expect: &str) -> Script {
        Script::from_yaml_str(&format!(
            "scenarios:\n  - name: s\n    turns:\n      - text: a\n      - text: b\n        expect: {expect}\n"
        ))
        .unwrap()
    }

    #[test]
    fn expect_reports_the_first_difference_with_context() {
        let long = "x".repeat(100);
        let s = expecting(&format!(
            "{{system: \"sys\", user: \"{long}ABC{long}\", tool_results: [\"r1\", \"r2\"]}}"
        ));
        let mut c = convo("hi", None, 1);
        c.system = Some("sys".into());
        c.last_user = Some(format!("{long}ABC{long}"));
        c.tool_results = vec!["r1".into(), "r2".into()];
        let turn = s.select(&c).unwrap().turn;
        assert_eq!(turn.divergence(&c), None);

        let mut d = c.clone();
        d.last_user = Some(format!("{long}ABD{long}"));
        let m = turn.divergence(&d).unwrap();
        // 60 characters each side: 58 x's and "AB" before, the "C" or
        // "D" and 59 x's after.
        let (before, after) = ("x".repeat(58), "x".repeat(59));
        assert_eq!(
            m,
            format!(
                "the run diverges from the script at scenario 0 (s), turn 1: the last user message differs: \
                 expected …\"{before}ABC{after}\"…, got …\"{before}ABD{after}\"… (first difference at character 102)"
            )
        );

        let mut d = c.clone();
        d.system = None;
        let m = turn.divergence(&d).unwrap();
        assert!(
            m.ends_with("the system message differs: expected \"sys\", got none"),
            "{m}"
        );

        let mut d = c.clone();
        d.tool_results = vec!["r1".into(), "r2 but longer".into()];
        let m = turn.divergence(&d).unwrap();
        assert!(
            m.contains("tool result 2 of 2 differs: expected \"r2\", got \"r2 but longer\" (first difference at character 2)"),
            "{m}"
        );

        let mut d = c.clone();
        d.tool_results.push("r3".into());
        let m = turn.divergence(&d).unwrap();
        assert!(m.ends_with("differs: expected 2, got 3"), "{m}");

        // Turns without `expect` accept anything.
        let first = s.select(&convo("anything", None, 0)).unwrap().turn;
        assert_eq!(first.divergence(&d), None);
    }

    #[test]
    fn reasoning_fields_parse() {
        let s = Script::from_yaml_str(
            "turns:\n  - reasoning: \"thinking\"\n    text: a\n    finish_reason: length\n    usage: {reasoning_tokens: 7}\n  - requires_reasoning: true\n    text: b\n",
        )
        .unwrap();
        let t = s.select(&convo("x", None, 0)).unwrap().turn;
        assert_eq!(t.reasoning.as_deref(), Some("thinking"));
        assert_eq!(t.finish_reason, FinishReason::Length);
        assert_eq!(t.usage.reasoning_tokens, Some(7));
        assert!(!t.requires_reasoning);
        let t = s.select(&convo("x", None, 1)).unwrap().turn;
        assert!(t.requires_reasoning);
        assert_eq!(t.finish_reason, FinishReason::Stop);
        assert_eq!(s.turn(0, 1).unwrap().label, "turn 1");
        assert!(s.turn(0, 2).is_none());
    }

    #[test]
    fn errors_name_the_turn_and_field() {
        let cases = [
            (
                "turns:\n  - text: a\n  - when: {user: \"(\"}\n    text: b\n",
                "turn 1: `when.user`",
            ),
            (
                "scenarios:\n  - name: x\n    turns:\n      - {}\n",
                "scenario 0 (x), turn 0: it answers nothing",
            ),
            (
                "turns:\n  - tool_calls: [{name: f, arguments: {}, raw_arguments: \"{\"}]\n",
                "turn 0: `tool_calls[0]`",
            ),
            ("turns:\n  - text: a\n    colour: red\n", "colour"),
            (
                "turns:\n  - text: a\n    fault: {type: explode}\n",
                "explode",
            ),
            (
                "turns:\n  - text: a\n    tokens_per_second: -1\n",
                "turn 0: `tokens_per_second`",
            ),
            (
                "turns:\n  - text: a\n  - text: b\n    delta_chars: 0\n",
                "turn 1: `delta_chars`: must be a whole number >= 1",
            ),
            (
                "turns:\n  - text: a\n    delta_chars: [3, 1]\n",
                "turn 0: `delta_chars`: must be a whole number >= 1 or a range [min, max]",
            ),
            (
                "turns:\n  - text: a\n    delta_chars: [1, 2, 3]\n",
                "turn 0: `delta_chars`",
            ),
            (
                "turns:\n  - text: a\n    delta_chars: two\n",
                "turn 0: `delta_chars`",
            ),
            (
                "delta_chars: 1.5\nturns:\n  - text: a\n",
                "`delta_chars`: must be",
            ),
            ("model: m\n", "no `turns`"),
            (
                "turns:\n  - text: a\n    requires_reasoning: true\n",
                "turn 0: `requires_reasoning`: the first turn of a scenario",
            ),
            (
                "scenarios:\n  - name: r\n    turns:\n      - text: a\n      - text: b\n        requires_reasoning: true\n",
                "scenario 0 (r), turn 1: `requires_reasoning`: the previous turn (scenario 0 (r), turn 0) gives no `reasoning`",
            ),
            (
                "turns:\n  - text: a\n    reasoning: \"\"\n",
                "turn 0: `reasoning`: is empty",
            ),
            (
                "turns:\n  - text: a\n    expect: {}\n",
                "turn 0: `expect`: give at least one of",
            ),
            ("turns:\n  - text: a\n    expect: {users: x}\n", "users"),
            (
                "turns:\n  - text: a\n    expect: {tool_results: x}\n",
                "tool_results",
            ),
            (
                "turns:\n  - text: a\n    usage: {reasoning: 3}\n",
                "reasoning",
            ),
        ];
        for (text, want) in cases {
            let e = Script::from_yaml_str(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn delta_sizes_parse_with_a_script_wide_default() {
        let s = Script::from_yaml_str(
            "delta_chars: [1, 3]\nturns:\n  - text: a\n  - text: b\n    delta_chars: 2\n  - text: c\n",
        )
        .unwrap();
        let deltas = |n| s.select(&convo("x", None, n)).unwrap().turn.deltas;
        assert_eq!(deltas(0), Deltas::Chars { min: 1, max: 3 });
        assert_eq!(deltas(1), Deltas::Chars { min: 2, max: 2 });
        assert_eq!(deltas(2), Deltas::Chars { min: 1, max: 3 });
        let words = Script::from_yaml_str("turns:\n  - text: a\n").unwrap();
        assert_eq!(
            words.select(&convo("x", None, 0)).unwrap().turn.deltas,
            Deltas::Words
        );
    }

    #[test]
    fn faults_parse() {
        let s = Script::from_yaml_str(
            "turns:\n  - text: a\n    fault: {type: rate_limit, retry_after: 2, times: 1}\n",
        )
        .unwrap();
        let t = s.select(&convo("x", None, 0)).unwrap().turn;
        assert_eq!(
            t.fault,
            Some(Fault::RateLimit {
                retry_after: 2,
                times: Some(1)
            })
        );
        assert_eq!(t.fault.as_ref().unwrap().times(), Some(1));
    }

    #[test]
    fn the_readme_example_is_a_valid_script() {
        let readme = include_str!("../../../../README.md");
        let section = readme
            .split("## The scripted model")
            .nth(1)
            .expect("README has the section");
        let yaml = section
            .split("```yaml\n")
            .nth(1)
            .and_then(|s| s.split("```").next())
            .expect("the section has a YAML example");
        let s = Script::from_yaml_str(yaml).unwrap();
        let t = s
            .select(&convo("please fix the bug", None, 0))
            .unwrap()
            .turn;
        assert_eq!(t.tool_calls[1].arguments, "{\"path\": ");
        assert_eq!(
            s.select(&convo("hi", None, 1)).unwrap().turn.stamp_tokens,
            50
        );
        let think = s.select(&convo("think hard", None, 1)).unwrap().turn;
        assert!(think.requires_reasoning);
        assert_eq!(think.finish_reason, FinishReason::Length);
        assert_eq!(
            think.expect.as_ref().unwrap().tool_results.as_deref(),
            Some(&["ok".to_string()][..])
        );
        assert!(
            s.select(&convo("think hard", None, 0))
                .unwrap()
                .turn
                .reasoning
                .is_some()
        );
    }

    #[test]
    fn date_times_and_durations_do_not_make_a_divergence() {
        assert_eq!(
            compare(
                "r",
                "backed up at `.paddock/backups/a.txt.20261206T072936Z` (9 ms, 1.5s)",
                Some("backed up at `.paddock/backups/a.txt.20261206T072937Z` (12 ms, 0.25s)")
            ),
            None
        );
        assert_eq!(
            compare(
                "r",
                "at 2026-12-06T07:29:36.123Z",
                Some("at 2026-12-07 08:00:00")
            ),
            None
        );
        // Anything else still differs, numbers included.
        let m = compare("r", "3 passed, 0 failed", Some("2 passed, 1 failed")).unwrap();
        assert!(m.contains("expected \"3 passed"), "{m}");
        assert!(compare("r", "hello", Some("hello, changed")).is_some());
    }
}
