//! OpenAI's Responses API as the client speaks it: the request body for
//! `POST {base_url}/responses`, lenient types for the streamed semantic
//! events, and the [`Assembler`] that turns one attempt's events into a
//! [`Completion`]. The HTTP, the retries and the Server-Sent Events decoding
//! ([`super::wire::SseDecoder`]) are shared with Chat Completions.
//!
//! Requests are stateless: `store: false`, never `previous_response_id`; the
//! whole conversation is sent each time, with the model's encrypted
//! reasoning (`include: ["reasoning.encrypted_content"]`) carried back by
//! Paddock as `reasoning` input items.
//!
//! The body is built with our own serde types rather than async-openai's
//! `CreateResponse`: its `ResponseTextParam` always serializes
//! `text.format` (`{"type": "text"}`) next to the verbosity, so it cannot
//! write the body this client sends (`text: {"verbosity": …}` only), and its
//! input items model far more than the four kinds Paddock sends. The events
//! are read with our own types for the same reason as Chat Completions
//! chunks (see [`super::wire`]): every field is optional, an unknown event
//! type or output item is ignored instead of failing the stream, so a
//! compatible server or a newer API version cannot break an answer.

use crate::{
    ChatMessage, ChatRequest, Completion, FinishReason, StreamNote, TokenUsage, ToolCallRequest,
};
use paddock_protocol::llm::{ReasoningEffort, ReasoningItem, Verbosity};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The streaming request body for `POST {base_url}/responses`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestBody<'a> {
    /// The model.
    pub model: &'a str,
    /// The conversation as input items.
    pub input: Vec<InputItem<'a>>,
    /// The tools offered (function tools only).
    pub tools: Vec<FunctionTool<'a>>,
    /// Always `auto`: the model picks between answering and calling tools.
    pub tool_choice: ToolChoice,
    /// Always true: the model may ask for several calls at once.
    pub parallel_tool_calls: bool,
    /// Always true.
    pub stream: bool,
    /// Always false: nothing is kept at the provider, so every request
    /// carries the whole conversation.
    pub store: bool,
    /// Routes this agent's requests to the same prompt cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_cache_key: Option<&'a str>,
    /// Cap on the answer's tokens, reasoning included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Text settings (only the verbosity), when a verbosity is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<TextParam>,
    /// Extra output asked for: the encrypted reasoning, for reasoning models.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<Include>,
    /// Reasoning settings, for reasoning models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<ReasoningParam>,
}

/// `tool_choice`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    Auto,
}

/// A value of `include`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Include {
    /// The encrypted reasoning of each reasoning item.
    #[serde(rename = "reasoning.encrypted_content")]
    ReasoningEncryptedContent,
}

/// `text`: how the answer's text is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TextParam {
    /// How long the answers are.
    pub verbosity: Verbosity,
}

/// `reasoning`: the reasoning settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReasoningParam {
    /// Which summary of its reasoning the model gives.
    pub summary: SummaryMode,
    /// How hard the model thinks (the model's default when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effort: Option<ReasoningEffort>,
}

/// `reasoning.summary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SummaryMode {
    /// The most detailed summary the model offers.
    Auto,
}

/// A function tool offered to the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename = "function")]
pub struct FunctionTool<'a> {
    /// Its name.
    pub name: &'a str,
    /// What it does.
    pub description: &'a str,
    /// JSON Schema of its arguments.
    pub parameters: &'a serde_json::Value,
    /// Always false: Paddock's schemas are not written for strict mode.
    pub strict: bool,
}

/// The role of an input message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The system prompt (the Responses API's name for it).
    Developer,
    /// The user.
    User,
    /// An earlier answer of the model.
    Assistant,
}

/// One item of `input`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputItem<'a> {
    /// A message with plain-text content.
    Message {
        /// Who wrote it.
        role: Role,
        /// Its text.
        content: &'a str,
    },
    /// A reasoning item of an earlier answer, sent back verbatim.
    Reasoning {
        /// The provider's id (`rs_…`).
        #[serde(skip_serializing_if = "str::is_empty")]
        id: &'a str,
        /// The summary's parts.
        summary: Vec<SummaryText<'a>>,
        /// The encrypted reasoning.
        encrypted_content: &'a str,
    },
    /// A tool call of an earlier answer.
    FunctionCall {
        /// The call's id, which its output names.
        call_id: &'a str,
        /// The tool.
        name: &'a str,
        /// The arguments, a JSON text.
        arguments: &'a str,
    },
    /// The result of a tool call.
    FunctionCallOutput {
        /// The call it answers.
        call_id: &'a str,
        /// The result.
        output: &'a str,
    },
}

/// One part of a reasoning summary in a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename = "summary_text")]
pub struct SummaryText<'a> {
    /// The part's text.
    pub text: &'a str,
}

/// The request body for `req`.
///
/// A reasoning item is sent back only when `req.reasoning` is set and the
/// item carries its encrypted content: with `store: false` the provider
/// keeps nothing, so an item without it cannot be resolved (OpenAI answers
/// 404 "Item with id 'rs_…' not found"), and a model that does not reason
/// (say, a failover target) has no use for another model's reasoning.
pub fn request_body(req: &ChatRequest) -> RequestBody<'_> {
    let mut input = Vec::with_capacity(req.messages.len());
    for m in &req.messages {
        push_input(&mut input, m, req.reasoning);
    }
    RequestBody {
        model: &req.model,
        input,
        tools: req
            .tools
            .iter()
            .map(|t| FunctionTool {
                name: &t.name,
                description: &t.description,
                parameters: &t.parameters,
                strict: false,
            })
            .collect(),
        tool_choice: ToolChoice::Auto,
        parallel_tool_calls: true,
        stream: true,
        store: false,
        prompt_cache_key: req.prompt_cache_key.as_deref(),
        max_output_tokens: req.max_tokens,
        temperature: req.temperature,
        text: req.verbosity.map(|verbosity| TextParam { verbosity }),
        include: if req.reasoning {
            vec![Include::ReasoningEncryptedContent]
        } else {
            Vec::new()
        },
        reasoning: req.reasoning.then_some(ReasoningParam {
            summary: SummaryMode::Auto,
            effort: req.reasoning_effort,
        }),
    }
}

fn push_input<'a>(input: &mut Vec<InputItem<'a>>, m: &'a ChatMessage, reasoning: bool) {
    match m {
        ChatMessage::System { content } => input.push(InputItem::Message {
            role: Role::Developer,
            content,
        }),
        ChatMessage::User { content } => input.push(InputItem::Message {
            role: Role::User,
            content,
        }),
        ChatMessage::Assistant {
            content,
            tool_calls,
            reasoning: items,
        } => {
            if reasoning {
                for r in items {
                    if let Some(encrypted) = &r.encrypted_content {
                        input.push(InputItem::Reasoning {
                            id: &r.id,
                            summary: r.summary.iter().map(|text| SummaryText { text }).collect(),
                            encrypted_content: encrypted,
                        });
                    }
                }
            }
            if let Some(text) = content.as_deref().filter(|t| !t.is_empty()) {
                input.push(InputItem::Message {
                    role: Role::Assistant,
                    content: text,
                });
            }
            for c in tool_calls {
                input.push(InputItem::FunctionCall {
                    call_id: &c.id,
                    name: &c.name,
                    arguments: &c.arguments,
                });
            }
        }
        ChatMessage::Tool {
            tool_call_id,
            content,
        } => input.push(InputItem::FunctionCallOutput {
            call_id: tool_call_id,
            output: content,
        }),
    }
}

/// One streamed event (the JSON `data` of a Server-Sent Event), reading
/// only what the client uses. Every event also carries a
/// `sequence_number`; events arrive in order over one connection, so it is
/// not needed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    /// The response was created.
    #[serde(rename = "response.created")]
    Created {},
    /// The model is working.
    #[serde(rename = "response.in_progress")]
    InProgress {},
    /// An output item begins.
    #[serde(rename = "response.output_item.added")]
    OutputItemAdded {
        /// Its position in the output.
        output_index: Option<u32>,
        /// The item as it begins (usually without content).
        item: Option<OutputItem>,
    },
    /// An output item is complete: it is given whole.
    #[serde(rename = "response.output_item.done")]
    OutputItemDone {
        /// Its position in the output.
        output_index: Option<u32>,
        /// The whole item.
        item: Option<OutputItem>,
    },
    /// A piece of a message's text.
    #[serde(rename = "response.output_text.delta")]
    OutputTextDelta {
        /// The message's id.
        item_id: Option<String>,
        /// The message's position in the output.
        output_index: Option<u32>,
        /// The piece.
        #[serde(default)]
        delta: String,
    },
    /// A piece of a refusal (kept as text).
    #[serde(rename = "response.refusal.delta")]
    RefusalDelta {
        /// The message's id.
        item_id: Option<String>,
        /// The message's position in the output.
        output_index: Option<u32>,
        /// The piece.
        #[serde(default)]
        delta: String,
    },
    /// A piece of a function call's arguments.
    #[serde(rename = "response.function_call_arguments.delta")]
    FunctionCallArgumentsDelta {
        /// The call item's id (`fc_…`, not the `call_id`).
        item_id: Option<String>,
        /// The call's position in the output.
        output_index: Option<u32>,
        /// The piece.
        #[serde(default)]
        delta: String,
    },
    /// A function call's whole arguments.
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionCallArgumentsDone {
        /// The call item's id.
        item_id: Option<String>,
        /// The call's position in the output.
        output_index: Option<u32>,
        /// The whole arguments.
        arguments: Option<String>,
    },
    /// A piece of one part of a reasoning summary.
    #[serde(rename = "response.reasoning_summary_text.delta")]
    ReasoningSummaryTextDelta {
        /// The reasoning item's id.
        item_id: Option<String>,
        /// The reasoning item's position in the output.
        output_index: Option<u32>,
        /// Which part of the summary.
        #[serde(default)]
        summary_index: u32,
        /// The piece.
        #[serde(default)]
        delta: String,
    },
    /// One part of a reasoning summary, whole.
    #[serde(rename = "response.reasoning_summary_text.done")]
    ReasoningSummaryTextDone {
        /// The reasoning item's id.
        item_id: Option<String>,
        /// The reasoning item's position in the output.
        output_index: Option<u32>,
        /// Which part of the summary.
        #[serde(default)]
        summary_index: u32,
        /// The part's text.
        text: Option<String>,
    },
    /// The response is complete.
    #[serde(rename = "response.completed")]
    Completed {
        /// The whole response.
        response: Option<Response>,
    },
    /// The response ended early (`max_output_tokens`, a content filter).
    #[serde(rename = "response.incomplete")]
    Incomplete {
        /// The response as far as it got.
        response: Option<Response>,
    },
    /// The response failed at the provider.
    #[serde(rename = "response.failed")]
    Failed {
        /// The response, with its `error`.
        response: Option<Response>,
    },
    /// An error in the stream.
    #[serde(rename = "error")]
    Error {
        /// Its code.
        code: Option<String>,
        /// Its message.
        message: Option<String>,
        /// The Chat-Completions-style nested error some servers send.
        error: Option<ErrorBody>,
    },
    /// Any other event (content parts, annotations, built-in tools, …):
    /// ignored.
    #[serde(other)]
    Other,
}

/// A response object, as the final event carries it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Response {
    /// `completed`, `incomplete`, `failed`, …
    pub status: Option<String>,
    /// The output items, in order.
    pub output: Option<Vec<OutputItem>>,
    /// Token usage.
    pub usage: Option<Usage>,
    /// Why the response is incomplete.
    pub incomplete_details: Option<IncompleteDetails>,
    /// Why the response failed.
    pub error: Option<ErrorBody>,
}

/// `incomplete_details`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct IncompleteDetails {
    /// `max_output_tokens`, `content_filter`, …
    pub reason: Option<String>,
}

/// An error object (`response.error`, or nested in an `error` event).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ErrorBody {
    /// Its code (`server_error`, `rate_limit_exceeded`, …).
    pub code: Option<String>,
    /// Its message.
    pub message: Option<String>,
}

/// Token usage of a response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Usage {
    /// Input tokens, cached ones included.
    #[serde(default)]
    pub input_tokens: u64,
    /// Details of the input tokens.
    pub input_tokens_details: Option<InputTokensDetails>,
    /// Output tokens, reasoning included.
    #[serde(default)]
    pub output_tokens: u64,
    /// Details of the output tokens.
    pub output_tokens_details: Option<OutputTokensDetails>,
}

/// Details of the input tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct InputTokensDetails {
    /// Input tokens served from the prompt cache.
    pub cached_tokens: Option<u64>,
}

/// Details of the output tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OutputTokensDetails {
    /// Output tokens spent reasoning.
    pub reasoning_tokens: Option<u64>,
}

/// An output item of a response.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    /// A message of the model.
    Message {
        /// Its id (`msg_…`).
        id: Option<String>,
        /// Its parts (absent: not known yet).
        content: Option<Vec<ContentPart>>,
    },
    /// A call of a function tool.
    FunctionCall {
        /// The item's id (`fc_…`).
        id: Option<String>,
        /// The call's id (`call_…`): the id its output must name.
        call_id: Option<String>,
        /// The tool.
        name: Option<String>,
        /// The arguments, a JSON text (absent: not known yet).
        arguments: Option<String>,
    },
    /// The model's reasoning.
    Reasoning {
        /// Its id (`rs_…`).
        id: Option<String>,
        /// The summary's parts (absent: not known yet).
        summary: Option<Vec<SummaryPart>>,
        /// The encrypted reasoning, when it was asked for.
        encrypted_content: Option<String>,
    },
    /// Any other item (built-in tools, …): ignored.
    #[serde(other)]
    Other,
}

/// A part of an output message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// Text.
    OutputText {
        /// The text.
        #[serde(default)]
        text: String,
    },
    /// A refusal (kept as text).
    Refusal {
        /// The refusal's text.
        #[serde(default)]
        refusal: String,
    },
    /// Anything else: ignored.
    #[serde(other)]
    Other,
}

/// A part of a reasoning summary.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SummaryPart {
    /// Text.
    SummaryText {
        /// The text.
        #[serde(default)]
        text: String,
    },
    /// Anything else: ignored.
    #[serde(other)]
    Other,
}

/// An event that ends the attempt with a failure worth retrying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamFailure {
    /// `response.failed`.
    #[error("the response failed: {0}")]
    Failed(String),
    /// An `error` event.
    #[error("error in the stream: {0}")]
    Error(String),
}

impl StreamFailure {
    /// The provider's message (which may need redacting).
    pub fn message(&self) -> &str {
        match self {
            StreamFailure::Failed(m) | StreamFailure::Error(m) => m,
        }
    }
}

/// Why a finished stream does not make a complete answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FinishError {
    /// The stream ended without `response.completed` or
    /// `response.incomplete`.
    #[error("the stream ended before the response was complete (no response.completed)")]
    Unfinished,
    /// A function call has no name.
    #[error("function call #{index} of the output has no name")]
    NamelessCall {
        /// Its position in the output.
        index: u32,
    },
}

/// How the response ended.
#[derive(Debug)]
enum End {
    Completed(Response),
    Incomplete(Response),
}

/// What the stream said about one output item.
#[derive(Debug, Default)]
struct Slot {
    /// The item as `output_item.added` gave it.
    added: Option<OutputItem>,
    /// The item as `output_item.done` gave it (whole).
    done: Option<OutputItem>,
    /// Text pieces of a message.
    text: String,
    /// Argument pieces of a function call.
    arguments: String,
    /// The whole arguments from `function_call_arguments.done`.
    arguments_done: Option<String>,
    /// Summary parts of a reasoning item, by `summary_index`.
    summary: BTreeMap<u32, String>,
}

/// The state of one streamed answer over the Responses API. Output items
/// are kept by `output_index` (events that give only an `item_id` are
/// matched through `output_item.added`), so pieces of different items may
/// interleave. Nothing leaves the assembler but the live notes until the
/// response is complete: tool calls come only from a completed (or
/// incomplete) response, and only whole items.
#[derive(Debug, Default)]
pub struct Assembler {
    slots: BTreeMap<u32, Slot>,
    ids: HashMap<String, u32>,
    end: Option<End>,
    /// The slot of the last text piece shown.
    last_text: Option<u32>,
    /// The slot and summary part of the last reasoning piece shown.
    last_summary: Option<(u32, u32)>,
}

/// Between two messages or two summary parts.
const SEPARATOR: &str = "\n\n";

impl Assembler {
    /// Adds one event; returns what to show live (text or reasoning), or
    /// the failure the event reports.
    pub fn push(&mut self, event: Event) -> Result<Option<StreamNote>, StreamFailure> {
        match event {
            Event::OutputItemAdded { output_index, item } => {
                if let (Some(i), Some(item)) = (output_index, item) {
                    if let Some(id) = item_id(&item) {
                        self.ids.insert(id.to_string(), i);
                    }
                    self.slots.entry(i).or_default().added = Some(item);
                }
            }
            Event::OutputItemDone { output_index, item } => {
                if let Some(item) = item {
                    let i = output_index.or_else(|| item_id(&item).and_then(|id| self.index(id)));
                    if let Some(i) = i {
                        self.slots.entry(i).or_default().done = Some(item);
                    }
                }
            }
            Event::OutputTextDelta {
                item_id,
                output_index,
                delta,
            }
            | Event::RefusalDelta {
                item_id,
                output_index,
                delta,
            } => {
                let Some(i) = self.locate(item_id, output_index) else {
                    return Ok(None);
                };
                if delta.is_empty() {
                    return Ok(None);
                }
                self.slots.entry(i).or_default().text.push_str(&delta);
                let shown = match self.last_text.replace(i) {
                    Some(j) if j != i => format!("{SEPARATOR}{delta}"),
                    _ => delta,
                };
                return Ok(Some(StreamNote::Delta(shown)));
            }
            Event::FunctionCallArgumentsDelta {
                item_id,
                output_index,
                delta,
            } => {
                if let Some(i) = self.locate(item_id, output_index) {
                    self.slots.entry(i).or_default().arguments.push_str(&delta);
                }
            }
            Event::FunctionCallArgumentsDone {
                item_id,
                output_index,
                arguments,
            } => {
                if let (Some(i), Some(a)) = (self.locate(item_id, output_index), arguments) {
                    self.slots.entry(i).or_default().arguments_done = Some(a);
                }
            }
            Event::ReasoningSummaryTextDelta {
                item_id,
                output_index,
                summary_index,
                delta,
            } => {
                let Some(i) = self.locate(item_id, output_index) else {
                    return Ok(None);
                };
                if delta.is_empty() {
                    return Ok(None);
                }
                let slot = self.slots.entry(i).or_default();
                slot.summary
                    .entry(summary_index)
                    .or_default()
                    .push_str(&delta);
                let shown = match self.last_summary.replace((i, summary_index)) {
                    Some(prev) if prev != (i, summary_index) => format!("{SEPARATOR}{delta}"),
                    _ => delta,
                };
                return Ok(Some(StreamNote::Reasoning(shown)));
            }
            Event::ReasoningSummaryTextDone {
                item_id,
                output_index,
                summary_index,
                text,
            } => {
                if let (Some(i), Some(text)) = (self.locate(item_id, output_index), text) {
                    self.slots
                        .entry(i)
                        .or_default()
                        .summary
                        .insert(summary_index, text);
                }
            }
            Event::Completed { response } => {
                self.end = Some(End::Completed(response.unwrap_or_default()));
            }
            Event::Incomplete { response } => {
                self.end = Some(End::Incomplete(response.unwrap_or_default()));
            }
            Event::Failed { response } => {
                let error = response.and_then(|r| r.error);
                return Err(StreamFailure::Failed(error_text(error.as_ref())));
            }
            Event::Error {
                code,
                message,
                error,
            } => {
                let body = match error {
                    Some(nested) if message.is_none() => nested,
                    _ => ErrorBody { code, message },
                };
                return Err(StreamFailure::Error(error_text(Some(&body))));
            }
            Event::Created {} | Event::InProgress {} | Event::Other => {}
        }
        Ok(None)
    }

    /// Whether the response has ended (`response.completed` or
    /// `response.incomplete`); nothing after it matters.
    pub fn finished(&self) -> bool {
        self.end.is_some()
    }

    /// The position of the item with id `id`.
    fn index(&self, id: &str) -> Option<u32> {
        self.ids.get(id).copied()
    }

    /// The position an event names: its `output_index`, or else the
    /// position of its `item_id`.
    fn locate(&self, item_id: Option<String>, output_index: Option<u32>) -> Option<u32> {
        output_index.or_else(|| item_id.and_then(|id| self.index(&id)))
    }

    /// The complete answer. `attempts` is recorded as given.
    pub fn finish(mut self, attempts: u32) -> Result<Completion, FinishError> {
        let (mut response, incomplete) = match self.end.take() {
            None => return Err(FinishError::Unfinished),
            Some(End::Completed(r)) => (r, false),
            Some(End::Incomplete(r)) => (r, true),
        };
        // The final response lists its output whole; a server that leaves
        // it empty is read from the items that were done (and the text of
        // messages that were only streamed).
        let items: Vec<(u32, OutputItem)> = match response.output.take() {
            Some(output) if !output.is_empty() => (0u32..).zip(output).collect(),
            _ => self
                .slots
                .iter_mut()
                .filter_map(|(&i, s)| match s.done.take() {
                    Some(item) => Some((i, item)),
                    None => match &s.added {
                        Some(OutputItem::Message { id, .. }) => Some((
                            i,
                            OutputItem::Message {
                                id: id.clone(),
                                content: None,
                            },
                        )),
                        _ => None,
                    },
                })
                .collect(),
        };
        let mut texts = Vec::new();
        let mut saw_message = false;
        let mut tool_calls = Vec::new();
        let mut reasoning = Vec::new();
        for (i, item) in items {
            let slot = self.slots.get(&i);
            match item {
                OutputItem::Message { content, .. } => {
                    saw_message = true;
                    let text = match content {
                        Some(parts) => parts
                            .into_iter()
                            .map(|p| match p {
                                ContentPart::OutputText { text } => text,
                                ContentPart::Refusal { refusal } => refusal,
                                ContentPart::Other => String::new(),
                            })
                            .collect(),
                        None => slot.map(|s| s.text.clone()).unwrap_or_default(),
                    };
                    if !text.is_empty() {
                        texts.push(text);
                    }
                }
                OutputItem::FunctionCall {
                    id,
                    call_id,
                    name,
                    arguments,
                } => {
                    let name = name.filter(|n| !n.is_empty()).or_else(|| {
                        slot.and_then(|s| match &s.added {
                            Some(OutputItem::FunctionCall { name, .. }) => name.clone(),
                            _ => None,
                        })
                    });
                    let Some(name) = name.filter(|n| !n.is_empty()) else {
                        return Err(FinishError::NamelessCall { index: i });
                    };
                    let arguments = arguments
                        .or_else(|| slot.and_then(|s| s.arguments_done.clone()))
                        .or_else(|| slot.map(|s| s.arguments.clone()))
                        .unwrap_or_default();
                    let id = call_id
                        .filter(|c| !c.is_empty())
                        .or(id.filter(|c| !c.is_empty()))
                        .unwrap_or_else(|| format!("call_{i}"));
                    tool_calls.push(ToolCallRequest {
                        id,
                        name,
                        arguments,
                    });
                }
                OutputItem::Reasoning {
                    id,
                    summary,
                    encrypted_content,
                } => {
                    let summary = match summary {
                        Some(parts) => parts
                            .into_iter()
                            .filter_map(|p| match p {
                                SummaryPart::SummaryText { text } => Some(text),
                                SummaryPart::Other => None,
                            })
                            .collect(),
                        None => slot
                            .map(|s| s.summary.values().cloned().collect())
                            .unwrap_or_default(),
                    };
                    reasoning.push(ReasoningItem {
                        id: id.unwrap_or_default(),
                        summary,
                        encrypted_content,
                    });
                }
                OutputItem::Other => {}
            }
        }
        let finish_reason = if incomplete {
            match response
                .incomplete_details
                .and_then(|d| d.reason)
                .as_deref()
            {
                Some("max_output_tokens") => FinishReason::Length,
                Some("content_filter") => FinishReason::ContentFilter,
                Some(other) => FinishReason::Other(other.to_string()),
                None => FinishReason::Other("incomplete".into()),
            }
        } else if tool_calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        };
        let usage = response
            .usage
            .map(|u| TokenUsage {
                input_tokens: u.input_tokens,
                output_tokens: u.output_tokens,
                cached_tokens: u
                    .input_tokens_details
                    .and_then(|d| d.cached_tokens)
                    .unwrap_or(0),
                reasoning_tokens: u
                    .output_tokens_details
                    .and_then(|d| d.reasoning_tokens)
                    .unwrap_or(0),
            })
            .unwrap_or_default();
        Ok(Completion {
            content: saw_message.then(|| texts.join(SEPARATOR)),
            tool_calls,
            reasoning,
            finish_reason,
            usage,
            attempts,
        })
    }
}

/// The provider's id of an output item.
fn item_id(item: &OutputItem) -> Option<&str> {
    match item {
        OutputItem::Message { id, .. }
        | OutputItem::FunctionCall { id, .. }
        | OutputItem::Reasoning { id, .. } => id.as_deref(),
        OutputItem::Other => None,
    }
}

/// `message (code)` of an error object.
fn error_text(e: Option<&ErrorBody>) -> String {
    let message = e
        .and_then(|e| e.message.as_deref())
        .filter(|m| !m.is_empty());
    let code = e.and_then(|e| e.code.as_deref()).filter(|c| !c.is_empty());
    match (message, code) {
        (Some(m), Some(c)) => format!("{m} ({c})"),
        (Some(m), None) => m.to_string(),
        (None, Some(c)) => c.to_string(),
        (None, None) => "no error message".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ToolDef;
    use serde_json::json;

    fn request(reasoning: bool) -> ChatRequest {
        ChatRequest {
            model: "gpt-5".into(),
            messages: vec![
                ChatMessage::System {
                    content: "sys".into(),
                },
                ChatMessage::User {
                    content: "hi".into(),
                },
                ChatMessage::Assistant {
                    content: Some("Looking.".into()),
                    tool_calls: vec![
                        ToolCallRequest {
                            id: "call_1".into(),
                            name: "read_file".into(),
                            arguments: "{\"path\":\"a\"}".into(),
                        },
                        ToolCallRequest {
                            id: "call_2".into(),
                            name: "list_dir".into(),
                            arguments: "{}".into(),
                        },
                    ],
                    reasoning: vec![
                        ReasoningItem {
                            id: "rs_1".into(),
                            summary: vec!["First.".into(), "Second.".into()],
                            encrypted_content: Some("enc1".into()),
                        },
                        // Not resolvable with `store: false`: never sent.
                        ReasoningItem {
                            id: "rs_2".into(),
                            summary: vec!["Lost.".into()],
                            encrypted_content: None,
                        },
                    ],
                },
                ChatMessage::Tool {
                    tool_call_id: "call_1".into(),
                    content: "text of a".into(),
                },
                ChatMessage::Tool {
                    tool_call_id: "call_2".into(),
                    content: "a".into(),
                },
                // Text only; an empty text is not sent.
                ChatMessage::Assistant {
                    content: Some(String::new()),
                    tool_calls: vec![],
                    reasoning: vec![ReasoningItem {
                        id: "rs_3".into(),
                        summary: vec![],
                        encrypted_content: Some("enc3".into()),
                    }],
                },
                ChatMessage::User {
                    content: "more".into(),
                },
            ],
            tools: vec![ToolDef {
                name: "read_file".into(),
                description: "Reads a file.".into(),
                parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
            }],
            temperature: None,
            max_tokens: Some(1000),
            prompt_cache_key: Some("agent-1".into()),
            reasoning,
            reasoning_effort: None,
            verbosity: None,
        }
    }

    #[test]
    fn request_body_with_reasoning_is_exact() {
        let mut req = request(true);
        req.reasoning_effort = Some(ReasoningEffort::High);
        req.verbosity = Some(Verbosity::Low);
        req.temperature = Some(0.5);
        let v = serde_json::to_value(request_body(&req)).unwrap();
        assert_eq!(
            v,
            json!({
                "model": "gpt-5",
                "input": [
                    {"type": "message", "role": "developer", "content": "sys"},
                    {"type": "message", "role": "user", "content": "hi"},
                    {"type": "reasoning", "id": "rs_1", "summary": [
                        {"type": "summary_text", "text": "First."},
                        {"type": "summary_text", "text": "Second."}
                    ], "encrypted_content": "enc1"},
                    {"type": "message", "role": "assistant", "content": "Looking."},
                    {"type": "function_call", "call_id": "call_1", "name": "read_file", "arguments": "{\"path\":\"a\"}"},
                    {"type": "function_call", "call_id": "call_2", "name": "list_dir", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "call_1", "output": "text of a"},
                    {"type": "function_call_output", "call_id": "call_2", "output": "a"},
                    {"type": "reasoning", "id": "rs_3", "summary": [], "encrypted_content": "enc3"},
                    {"type": "message", "role": "user", "content": "more"}
                ],
                "tools": [{
                    "type": "function",
                    "name": "read_file",
                    "description": "Reads a file.",
                    "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
                    "strict": false
                }],
                "tool_choice": "auto",
                "parallel_tool_calls": true,
                "stream": true,
                "store": false,
                "prompt_cache_key": "agent-1",
                "max_output_tokens": 1000,
                "temperature": 0.5,
                "text": {"verbosity": "low"},
                "include": ["reasoning.encrypted_content"],
                "reasoning": {"summary": "auto", "effort": "high"}
            })
        );
    }

    #[test]
    fn request_body_without_reasoning() {
        let req = request(false);
        let v = serde_json::to_value(request_body(&req)).unwrap();
        let obj = v.as_object().unwrap();
        for absent in [
            "include",
            "reasoning",
            "text",
            "temperature",
            "previous_response_id",
        ] {
            assert!(!obj.contains_key(absent), "{absent} in {v}");
        }
        let kinds: Vec<&str> = v["input"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "message",
                "message",
                "message",
                "function_call",
                "function_call",
                "function_call_output",
                "function_call_output",
                "message"
            ]
        );
        assert_eq!(v["store"], false);
        assert_eq!(v["stream"], true);
    }

    #[test]
    fn effort_and_verbosity_alone() {
        let mut req = request(true);
        req.messages.truncate(2);
        req.tools.clear();
        req.max_tokens = None;
        req.prompt_cache_key = None;
        let v = serde_json::to_value(request_body(&req)).unwrap();
        assert_eq!(v["reasoning"], json!({"summary": "auto"}));
        assert_eq!(v["tools"], json!([]));
        assert!(v.get("max_output_tokens").is_none());
        assert!(v.get("prompt_cache_key").is_none());
        for (effort, name) in [
            (ReasoningEffort::None, "none"),
            (ReasoningEffort::Minimal, "minimal"),
            (ReasoningEffort::Low, "low"),
            (ReasoningEffort::Medium, "medium"),
            (ReasoningEffort::High, "high"),
            (ReasoningEffort::Xhigh, "xhigh"),
        ] {
            req.reasoning_effort = Some(effort);
            let v = serde_json::to_value(request_body(&req)).unwrap();
            assert_eq!(v["reasoning"]["effort"], name);
        }
        for (verbosity, name) in [
            (Verbosity::Low, "low"),
            (Verbosity::Medium, "medium"),
            (Verbosity::High, "high"),
        ] {
            req.verbosity = Some(verbosity);
            req.reasoning = false;
            let v = serde_json::to_value(request_body(&req)).unwrap();
            assert_eq!(v["text"], json!({"verbosity": name}));
            assert!(v.get("reasoning").is_none());
        }
    }

    fn ev(v: serde_json::Value) -> Event {
        serde_json::from_value(v).unwrap()
    }

    /// Pushes every event; the notes, and the answer or the failure.
    fn run(
        events: Vec<serde_json::Value>,
    ) -> (
        Vec<StreamNote>,
        Result<Result<Completion, FinishError>, StreamFailure>,
    ) {
        let mut a = Assembler::default();
        let mut notes = Vec::new();
        for e in events {
            match a.push(ev(e)) {
                Ok(Some(n)) => notes.push(n),
                Ok(None) => {}
                Err(f) => return (notes, Err(f)),
            }
        }
        (notes, Ok(a.finish(1)))
    }

    fn completed(output: serde_json::Value, usage: serde_json::Value) -> serde_json::Value {
        json!({"type": "response.completed", "sequence_number": 99, "response": {
            "id": "resp_1", "object": "response", "status": "completed",
            "output": output, "usage": usage
        }})
    }

    fn added(i: u32, item: serde_json::Value) -> serde_json::Value {
        json!({"type": "response.output_item.added", "output_index": i, "item": item})
    }

    fn done(i: u32, item: serde_json::Value) -> serde_json::Value {
        json!({"type": "response.output_item.done", "output_index": i, "item": item})
    }

    fn text_delta(i: u32, id: &str, d: &str) -> serde_json::Value {
        json!({"type": "response.output_text.delta", "item_id": id, "output_index": i, "content_index": 0, "delta": d})
    }

    /// Arguments pieces named by item id only.
    fn args_delta(id: &str, d: &str) -> serde_json::Value {
        json!({"type": "response.function_call_arguments.delta", "item_id": id, "delta": d})
    }

    fn call(id: &str, call_id: &str, name: &str, args: Option<&str>) -> serde_json::Value {
        let mut v = json!({"type": "function_call", "id": id, "call_id": call_id, "name": name, "status": "completed"});
        if let Some(a) = args {
            v["arguments"] = a.into();
        }
        v
    }

    fn message(id: &str, text: &str) -> serde_json::Value {
        json!({"type": "message", "id": id, "role": "assistant", "status": "completed",
               "content": [{"type": "output_text", "text": text, "annotations": []}]})
    }

    fn reasoning(id: &str, parts: &[&str], enc: &str) -> serde_json::Value {
        let summary: Vec<_> = parts
            .iter()
            .map(|t| json!({"type": "summary_text", "text": t}))
            .collect();
        json!({"type": "reasoning", "id": id, "summary": summary, "encrypted_content": enc})
    }

    /// A reasoning item, a message and two calls, their pieces interleaved;
    /// `whole_output`: whether `response.completed` lists the output.
    fn interleaved(whole_output: bool) -> Vec<serde_json::Value> {
        let output = json!([
            reasoning("rs_1", &["Plan A.", "Plan B."], "ENC"),
            message("msg_1", "Reading both."),
            call("fc_1", "call_a", "read_file", Some("{\"path\":\"a\"}")),
            call("fc_2", "call_b", "read_file", Some("{\"path\":\"b\"}")),
        ]);
        vec![
            json!({"type": "response.created", "sequence_number": 0, "response": {"id": "resp_1", "status": "in_progress", "output": []}}),
            json!({"type": "response.in_progress", "sequence_number": 1, "response": {"id": "resp_1"}}),
            added(0, json!({"type": "reasoning", "id": "rs_1", "summary": []})),
            json!({"type": "response.reasoning_summary_part.added", "item_id": "rs_1", "output_index": 0, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}),
            json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "output_index": 0, "summary_index": 0, "delta": "Plan"}),
            added(
                1,
                json!({"type": "message", "id": "msg_1", "role": "assistant", "content": []}),
            ),
            text_delta(1, "msg_1", "Reading "),
            json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "summary_index": 0, "delta": " A."}),
            added(
                2,
                json!({"type": "function_call", "id": "fc_1", "call_id": "call_a", "name": "read_file", "arguments": ""}),
            ),
            args_delta("fc_1", "{\"pa"),
            added(
                3,
                json!({"type": "function_call", "id": "fc_2", "call_id": "call_b", "name": "read_file", "arguments": ""}),
            ),
            args_delta("fc_2", "{\"path\""),
            text_delta(1, "msg_1", "both."),
            json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "output_index": 0, "summary_index": 1, "delta": "Plan B."}),
            args_delta("fc_1", "th\":\"a\"}"),
            json!({"type": "response.function_call_arguments.done", "item_id": "fc_1", "output_index": 2, "arguments": "{\"path\":\"a\"}"}),
            done(
                2,
                call("fc_1", "call_a", "read_file", Some("{\"path\":\"a\"}")),
            ),
            args_delta("fc_2", ":\"b\"}"),
            done(0, reasoning("rs_1", &["Plan A.", "Plan B."], "ENC")),
            done(1, message("msg_1", "Reading both.")),
            done(
                3,
                call("fc_2", "call_b", "read_file", Some("{\"path\":\"b\"}")),
            ),
            completed(
                if whole_output { output } else { json!([]) },
                json!({"input_tokens": 120, "input_tokens_details": {"cached_tokens": 64},
                       "output_tokens": 50, "output_tokens_details": {"reasoning_tokens": 20},
                       "total_tokens": 170}),
            ),
        ]
    }

    fn expected_interleaved() -> Completion {
        Completion {
            content: Some("Reading both.".into()),
            tool_calls: vec![
                ToolCallRequest {
                    id: "call_a".into(),
                    name: "read_file".into(),
                    arguments: "{\"path\":\"a\"}".into(),
                },
                ToolCallRequest {
                    id: "call_b".into(),
                    name: "read_file".into(),
                    arguments: "{\"path\":\"b\"}".into(),
                },
            ],
            reasoning: vec![ReasoningItem {
                id: "rs_1".into(),
                summary: vec!["Plan A.".into(), "Plan B.".into()],
                encrypted_content: Some("ENC".into()),
            }],
            finish_reason: FinishReason::ToolCalls,
            usage: TokenUsage {
                input_tokens: 120,
                output_tokens: 50,
                cached_tokens: 64,
                reasoning_tokens: 20,
            },
            attempts: 1,
        }
    }

    #[test]
    fn interleaved_items_assemble() {
        for whole_output in [true, false] {
            let (notes, c) = run(interleaved(whole_output));
            assert_eq!(
                c.unwrap().unwrap(),
                expected_interleaved(),
                "{whole_output}"
            );
            assert_eq!(
                notes,
                vec![
                    StreamNote::Reasoning("Plan".into()),
                    StreamNote::Delta("Reading ".into()),
                    StreamNote::Reasoning(" A.".into()),
                    StreamNote::Delta("both.".into()),
                    StreamNote::Reasoning("\n\nPlan B.".into()),
                ]
            );
        }
    }

    #[test]
    fn arguments_split_anywhere() {
        let args = "{\"path\": \"dir/é.txt\", \"n\": [1, 2]}";
        let other = "{\"x\": true}";
        for split in (0..=args.len()).filter(|&i| args.is_char_boundary(i)) {
            // Only the pieces: the items' `.done` leave the arguments out.
            let mut events = vec![
                added(0, call("fc_1", "call_1", "read_file", Some(""))),
                added(1, call("fc_2", "call_2", "grep", None)),
                args_delta("fc_1", &args[..split]),
                args_delta("fc_2", &other[..split.min(other.len())]),
                args_delta("fc_1", &args[split..]),
                args_delta("fc_2", &other[split.min(other.len())..]),
            ];
            events.push(done(0, call("fc_1", "call_1", "read_file", None)));
            events.push(done(1, call("fc_2", "call_2", "grep", None)));
            events.push(completed(json!([]), json!(null)));
            let c = run(events).1.unwrap().unwrap();
            let got: Vec<(&str, &str, &str)> = c
                .tool_calls
                .iter()
                .map(|t| (t.id.as_str(), t.name.as_str(), t.arguments.as_str()))
                .collect();
            assert_eq!(
                got,
                [("call_1", "read_file", args), ("call_2", "grep", other)],
                "split at {split}"
            );
            assert_eq!(c.finish_reason, FinishReason::ToolCalls);
            assert_eq!(c.content, None);
        }
    }

    #[test]
    fn whole_arguments_win_over_pieces() {
        // `function_call_arguments.done` when the item's `.done` has none;
        // the item's own arguments over both.
        let (_, c) = run(vec![
            added(0, call("fc_1", "call_1", "f", Some(""))),
            args_delta("fc_1", "{\"garbled"),
            json!({"type": "response.function_call_arguments.done", "output_index": 0, "arguments": "{\"a\":1}"}),
            done(0, call("fc_1", "call_1", "f", None)),
            added(1, call("fc_2", "call_2", "g", Some(""))),
            args_delta("fc_2", "{\"garbled"),
            json!({"type": "response.function_call_arguments.done", "item_id": "fc_2", "arguments": "{\"b\":"}),
            done(1, call("fc_2", "call_2", "g", Some("{\"b\":2}"))),
            completed(json!([]), json!(null)),
        ]);
        let c = c.unwrap().unwrap();
        assert_eq!(c.tool_calls[0].arguments, "{\"a\":1}");
        assert_eq!(c.tool_calls[1].arguments, "{\"b\":2}");
    }

    #[test]
    fn only_whole_items_become_calls() {
        // A call whose `.done` never came is not an answer, even in a
        // completed response that lists no output.
        let (_, c) = run(vec![
            added(0, call("fc_1", "call_1", "f", Some(""))),
            args_delta("fc_1", "{}"),
            added(1, json!({"type": "message", "id": "msg_1", "content": []})),
            text_delta(1, "msg_1", "Hi"),
            completed(json!([]), json!(null)),
        ]);
        let c = c.unwrap().unwrap();
        assert!(c.tool_calls.is_empty());
        assert_eq!(c.content.as_deref(), Some("Hi"));
        assert_eq!(c.finish_reason, FinishReason::Stop);
        // A cut stream surfaces nothing at all.
        let mut events = interleaved(true);
        events.pop();
        let (_, c) = run(events);
        assert_eq!(c.unwrap().unwrap_err(), FinishError::Unfinished);
    }

    #[test]
    fn incomplete_responses_map_their_reason() {
        for (reason, finish) in [
            (json!("max_output_tokens"), FinishReason::Length),
            (json!("content_filter"), FinishReason::ContentFilter),
            (
                json!("tool_budget"),
                FinishReason::Other("tool_budget".into()),
            ),
            (json!(null), FinishReason::Other("incomplete".into())),
        ] {
            let (notes, c) = run(vec![
                added(0, json!({"type": "message", "id": "msg_1", "content": []})),
                text_delta(0, "msg_1", "Partial"),
                json!({"type": "response.incomplete", "response": {
                    "status": "incomplete",
                    "incomplete_details": {"reason": reason},
                    "output": [{"type": "message", "id": "msg_1", "status": "incomplete",
                                "content": [{"type": "output_text", "text": "Partial"}]}],
                    "usage": {"input_tokens": 5, "output_tokens": 7}
                }}),
            ]);
            let c = c.unwrap().unwrap();
            assert_eq!(c.finish_reason, finish);
            assert_eq!(c.content.as_deref(), Some("Partial"));
            assert_eq!(c.usage.output_tokens, 7);
            assert_eq!(notes, vec![StreamNote::Delta("Partial".into())]);
        }
    }

    #[test]
    fn failures_and_errors() {
        let (_, r) = run(vec![
            text_delta(0, "msg_1", "x"),
            json!({"type": "response.failed", "response": {"status": "failed",
                "error": {"code": "server_error", "message": "The server had an error."}}}),
        ]);
        let f = r.unwrap_err();
        assert_eq!(
            f,
            StreamFailure::Failed("The server had an error. (server_error)".into())
        );
        assert_eq!(
            f.to_string(),
            "the response failed: The server had an error. (server_error)"
        );
        let (_, r) = run(vec![
            json!({"type": "error", "code": "rate_limit_exceeded", "message": "Slow down.", "param": null, "sequence_number": 3}),
        ]);
        assert_eq!(
            r.unwrap_err(),
            StreamFailure::Error("Slow down. (rate_limit_exceeded)".into())
        );
        let (_, r) = run(vec![
            json!({"type": "error", "error": {"message": "Nested.", "code": null}}),
        ]);
        assert_eq!(r.unwrap_err().message(), "Nested.");
        let (_, r) = run(vec![json!({"type": "response.failed"})]);
        assert_eq!(
            r.unwrap_err(),
            StreamFailure::Failed("no error message".into())
        );
    }

    #[test]
    fn unknown_events_and_items_are_ignored() {
        let (notes, c) = run(vec![
            json!({"type": "response.queued", "response": {}}),
            added(
                0,
                json!({"type": "web_search_call", "id": "ws_1", "status": "in_progress"}),
            ),
            json!({"type": "response.web_search_call.searching", "item_id": "ws_1", "output_index": 0}),
            done(
                0,
                json!({"type": "web_search_call", "id": "ws_1", "status": "completed"}),
            ),
            added(1, json!({"type": "message", "id": "msg_1", "content": []})),
            json!({"type": "response.content_part.added", "item_id": "msg_1", "output_index": 1, "content_index": 0, "part": {"type": "output_text", "text": ""}}),
            text_delta(1, "msg_1", "Done"),
            json!({"type": "response.output_text.annotation.added", "item_id": "msg_1", "annotation": {"type": "url_citation"}}),
            json!({"type": "response.refusal.delta", "item_id": "msg_1", "output_index": 1, "delta": " (no)"}),
            json!({"type": "response.output_text.done", "item_id": "msg_1", "output_index": 1, "text": "Done"}),
            json!({"type": "response.something_new", "whatever": [1, 2, 3]}),
            completed(
                json!([
                    {"type": "web_search_call", "id": "ws_1", "status": "completed"},
                    {"type": "message", "id": "msg_1", "content": [
                        {"type": "output_text", "text": "Done"},
                        {"type": "output_audio", "data": "…"},
                        {"type": "refusal", "refusal": " (no)"}
                    ]}
                ]),
                json!({"input_tokens": 1, "output_tokens": 2}),
            ),
        ]);
        let c = c.unwrap().unwrap();
        assert_eq!(c.content.as_deref(), Some("Done (no)"));
        assert_eq!(c.finish_reason, FinishReason::Stop);
        assert!(c.tool_calls.is_empty() && c.reasoning.is_empty());
        assert_eq!(
            c.usage,
            TokenUsage {
                input_tokens: 1,
                output_tokens: 2,
                cached_tokens: 0,
                reasoning_tokens: 0,
            }
        );
        assert_eq!(
            notes,
            vec![
                StreamNote::Delta("Done".into()),
                StreamNote::Delta(" (no)".into())
            ]
        );
    }

    #[test]
    fn two_messages_are_separated_live_and_in_the_answer() {
        let (notes, c) = run(vec![
            text_delta(0, "msg_1", "First."),
            text_delta(2, "msg_2", "Second."),
            done(0, message("msg_1", "First.")),
            done(1, reasoning("rs_1", &[], "E")),
            done(2, message("msg_2", "Second.")),
            completed(json!([]), json!(null)),
        ]);
        let c = c.unwrap().unwrap();
        assert_eq!(c.content.as_deref(), Some("First.\n\nSecond."));
        let live: String = notes
            .iter()
            .map(|n| match n {
                StreamNote::Delta(t) => t.as_str(),
                _ => "",
            })
            .collect();
        assert_eq!(live, "First.\n\nSecond.");
        assert_eq!(c.reasoning[0].summary, Vec::<String>::new());
    }

    #[test]
    fn nameless_call_and_missing_ids() {
        let (_, c) = run(vec![
            done(
                0,
                json!({"type": "function_call", "id": "fc_1", "call_id": "call_1", "arguments": "{}"}),
            ),
            completed(json!([]), json!(null)),
        ]);
        assert_eq!(
            c.unwrap().unwrap_err(),
            FinishError::NamelessCall { index: 0 }
        );
        // The name from `.added`; an id made up when neither is given.
        let (_, c) = run(vec![
            added(4, json!({"type": "function_call", "name": "f"})),
            done(4, json!({"type": "function_call", "arguments": "{}"})),
            completed(json!([]), json!(null)),
        ]);
        let call = &c.unwrap().unwrap().tool_calls[0];
        assert_eq!(
            (
                call.id.as_str(),
                call.name.as_str(),
                call.arguments.as_str()
            ),
            ("call_4", "f", "{}")
        );
    }

    #[test]
    fn summary_from_pieces_when_the_item_has_none() {
        let (_, c) = run(vec![
            added(0, json!({"type": "reasoning", "id": "rs_1"})),
            json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "summary_index": 1, "delta": "Two"}),
            json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "summary_index": 0, "delta": "On"}),
            json!({"type": "response.reasoning_summary_text.done", "item_id": "rs_1", "summary_index": 0, "text": "One"}),
            done(
                0,
                json!({"type": "reasoning", "id": "rs_1", "encrypted_content": "E"}),
            ),
            completed(json!([]), json!(null)),
        ]);
        assert_eq!(
            c.unwrap().unwrap().reasoning,
            vec![ReasoningItem {
                id: "rs_1".into(),
                summary: vec!["One".into(), "Two".into()],
                encrypted_content: Some("E".into()),
            }]
        );
    }
}
