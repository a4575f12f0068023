//! The scripted model's Responses-API rendering (`POST /v1/responses`): a
//! turn's answer as OpenAI's semantic event stream (`response.created`, …,
//! `response.completed` or `response.incomplete`, each with its
//! `sequence_number`, no `[DONE]`) or as one `response` object; the request
//! fields a response echoes; the opaque encrypted reasoning a turn gives and
//! the `requires_reasoning` check that it came back. Reading the request's
//! `input` is [`Conversation::from_responses`]; selection, faults and pacing
//! are shared with Chat Completions in [`super::server`].

use super::script::{Conversation, Script, Selected};
use super::server::{Answer, Frames, openai_error, stamp};
use axum::http::StatusCode;
use axum::response::Response;
use paddock_protocol::llm::FinishReason;
use serde_json::{Map, Value, json};

/// What a Responses request asks of the answer, and the request fields
/// its `response` object echoes (OpenAI's defaults when absent).
pub(super) struct ResponsesOptions {
    include_encrypted: bool,
    echo: Map<String, Value>,
}

impl ResponsesOptions {
    /// Reads them from the request body.
    pub(super) fn from_request(v: &Value) -> ResponsesOptions {
        let include_encrypted = v.get("include").and_then(Value::as_array).is_some_and(|a| {
            a.iter()
                .any(|x| x.as_str() == Some("reasoning.encrypted_content"))
        });
        let field = |name: &str, default: Value| {
            v.get(name)
                .filter(|x| !x.is_null())
                .cloned()
                .unwrap_or(default)
        };
        let mut text = json!({"format": {"type": "text"}});
        if let (Some(t), Some(asked)) = (
            text.as_object_mut(),
            v.get("text").and_then(Value::as_object),
        ) {
            t.extend(asked.iter().map(|(k, x)| (k.clone(), x.clone())));
        }
        let reasoning = json!({
            "effort": v.pointer("/reasoning/effort").cloned().unwrap_or(Value::Null),
            "summary": v.pointer("/reasoning/summary").cloned().unwrap_or(Value::Null),
        });
        let mut echo = Map::new();
        for (name, value) in [
            ("instructions", field("instructions", Value::Null)),
            ("max_output_tokens", field("max_output_tokens", Value::Null)),
            (
                "parallel_tool_calls",
                field("parallel_tool_calls", json!(true)),
            ),
            ("previous_response_id", Value::Null),
            ("reasoning", reasoning),
            ("store", field("store", json!(true))),
            ("temperature", field("temperature", json!(1.0))),
            ("text", text),
            ("tool_choice", field("tool_choice", json!("auto"))),
            ("tools", field("tools", json!([]))),
            ("top_p", field("top_p", json!(1.0))),
            ("truncation", field("truncation", json!("disabled"))),
            ("user", field("user", Value::Null)),
            ("metadata", field("metadata", json!({}))),
        ] {
            echo.insert(name.to_string(), value);
        }
        ResponsesOptions {
            include_encrypted,
            echo,
        }
    }
}

/// One event of the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    Created,
    InProgress,
    ReasoningAdded,
    SummaryPartAdded,
    SummaryDelta(usize),
    SummaryTextDone,
    SummaryPartDone,
    ReasoningDone,
    MessageAdded,
    ContentPartAdded,
    Stamp,
    TextDelta(usize),
    TextDone,
    ContentPartDone,
    MessageDone,
    CallAdded(usize),
    ArgsDelta(usize, usize),
    ArgsDone(usize),
    CallDone(usize),
    End,
}

/// A turn's answer as a Responses event stream (or one `response`).
pub(super) struct ResponsesStream {
    answer: Answer,
    options: ResponsesOptions,
    id: String,
    events: Vec<Event>,
    /// The message text sent so far (stamps as they were sent).
    sent_text: String,
}

impl ResponsesStream {
    /// Lays out the events of `answer`: the reasoning item, the message,
    /// then one item per tool call, in that output order.
    pub(super) fn new(answer: Answer, options: ResponsesOptions) -> ResponsesStream {
        let mut events = vec![Event::Created, Event::InProgress];
        if let Some(r) = &answer.reasoning {
            events.extend([Event::ReasoningAdded, Event::SummaryPartAdded]);
            events.extend((0..r.pieces.len()).map(Event::SummaryDelta));
            events.extend([
                Event::SummaryTextDone,
                Event::SummaryPartDone,
                Event::ReasoningDone,
            ]);
        }
        if answer.has_message() {
            events.extend([Event::MessageAdded, Event::ContentPartAdded]);
            events.extend((0..answer.stamps).map(|_| Event::Stamp));
            events.extend((0..answer.text_pieces.len()).map(Event::TextDelta));
            events.extend([Event::TextDone, Event::ContentPartDone, Event::MessageDone]);
        }
        for (i, c) in answer.calls.iter().enumerate() {
            events.push(Event::CallAdded(i));
            events.extend((0..c.fragments.len()).map(|f| Event::ArgsDelta(i, f)));
            events.extend([Event::ArgsDone(i), Event::CallDone(i)]);
        }
        events.push(Event::End);
        ResponsesStream {
            answer,
            options,
            id: format!("resp_{}", uuid::Uuid::new_v4().simple()),
            events,
            sent_text: String::new(),
        }
    }

    fn message_index(&self) -> usize {
        usize::from(self.answer.reasoning.is_some())
    }

    fn call_index(&self, i: usize) -> usize {
        self.message_index() + usize::from(self.answer.has_message()) + i
    }

    /// `incomplete_details.reason` when the turn's finish reason makes the
    /// response incomplete.
    fn incomplete_reason(&self) -> Option<&'static str> {
        match self.answer.finish_reason {
            FinishReason::Length => Some("max_output_tokens"),
            FinishReason::ContentFilter => Some("content_filter"),
            _ => None,
        }
    }

    fn reasoning_item(&self, done: bool) -> Value {
        let Some(r) = &self.answer.reasoning else {
            return Value::Null;
        };
        let summary = if done {
            json!([{"type": "summary_text", "text": r.summary}])
        } else {
            json!([])
        };
        let encrypted = if self.options.include_encrypted {
            json!(r.encrypted)
        } else {
            Value::Null
        };
        json!({"id": r.id, "type": "reasoning", "summary": summary, "encrypted_content": encrypted})
    }

    fn message_item(&self, text: Option<&str>) -> Value {
        let id = &self.answer.message_id;
        match text {
            None => json!({"id": id, "type": "message", "status": "in_progress",
                "content": [], "role": "assistant"}),
            Some(t) => {
                let status = if self.incomplete_reason().is_some() {
                    "incomplete"
                } else {
                    "completed"
                };
                json!({"id": id, "type": "message", "status": status,
                    "content": [output_text(t)], "role": "assistant"})
            }
        }
    }

    fn call_item(&self, i: usize, done: bool) -> Value {
        let Some(c) = self.answer.calls.get(i) else {
            return Value::Null;
        };
        let (status, arguments) = if done {
            ("completed", c.arguments.as_str())
        } else {
            ("in_progress", "")
        };
        json!({"id": c.item_id, "type": "function_call", "status": status,
            "arguments": arguments, "call_id": c.id, "name": c.name})
    }

    fn output(&self, text: &str) -> Vec<Value> {
        let mut out = Vec::new();
        if self.answer.reasoning.is_some() {
            out.push(self.reasoning_item(true));
        }
        if self.answer.has_message() {
            out.push(self.message_item(Some(text)));
        }
        out.extend((0..self.answer.calls.len()).map(|i| self.call_item(i, true)));
        out
    }

    fn usage(&self) -> Value {
        let u = self.answer.usage;
        json!({
            "input_tokens": u.prompt,
            "input_tokens_details": {"cached_tokens": u.cached},
            "output_tokens": u.completion,
            "output_tokens_details": {"reasoning_tokens": u.reasoning},
            "total_tokens": u.prompt + u.completion,
        })
    }

    fn response(&self, status: &str, output: Vec<Value>, usage: Value, incomplete: Value) -> Value {
        let mut r = Map::new();
        for (name, value) in [
            ("id", json!(self.id)),
            ("object", json!("response")),
            ("created_at", json!(self.answer.created)),
            ("status", json!(status)),
            ("error", Value::Null),
            ("incomplete_details", incomplete),
            ("model", json!(self.answer.model)),
            ("output", Value::Array(output)),
            ("usage", usage),
        ] {
            r.insert(name.to_string(), value);
        }
        r.extend(
            self.options
                .echo
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        Value::Object(r)
    }

    /// The finished response, with `text` as the message's text.
    fn finished(&self, text: &str) -> Value {
        let (status, details) = match self.incomplete_reason() {
            Some(reason) => ("incomplete", json!({"reason": reason})),
            None => ("completed", Value::Null),
        };
        self.response(status, self.output(text), self.usage(), details)
    }

    fn in_progress(&self) -> Value {
        self.response("in_progress", Vec::new(), Value::Null, Value::Null)
    }

    /// The event's JSON, without its `sequence_number`.
    fn event(&mut self, e: Event) -> Value {
        let a = &self.answer;
        let (rs_id, summary) = a
            .reasoning
            .as_ref()
            .map(|r| (r.id.clone(), r.summary.clone()))
            .unwrap_or_default();
        let msg = self.message_index();
        let msg_id = a.message_id.clone();
        let call = |i: usize| {
            a.calls
                .get(i)
                .map(|c| (c.item_id.clone(), c.arguments.clone()))
                .unwrap_or_default()
        };
        match e {
            Event::Created => {
                json!({"type": "response.created", "response": self.in_progress()})
            }
            Event::InProgress => {
                json!({"type": "response.in_progress", "response": self.in_progress()})
            }
            Event::ReasoningAdded => json!({"type": "response.output_item.added",
                "output_index": 0, "item": self.reasoning_item(false)}),
            Event::SummaryPartAdded => json!({"type": "response.reasoning_summary_part.added",
                "item_id": rs_id, "output_index": 0, "summary_index": 0,
                "part": {"type": "summary_text", "text": ""}}),
            Event::SummaryDelta(k) => {
                let delta = a.reasoning.as_ref().and_then(|r| r.pieces.get(k));
                json!({"type": "response.reasoning_summary_text.delta", "item_id": rs_id,
                    "output_index": 0, "summary_index": 0, "delta": delta})
            }
            Event::SummaryTextDone => json!({"type": "response.reasoning_summary_text.done",
                "item_id": rs_id, "output_index": 0, "summary_index": 0, "text": summary}),
            Event::SummaryPartDone => json!({"type": "response.reasoning_summary_part.done",
                "item_id": rs_id, "output_index": 0, "summary_index": 0,
                "part": {"type": "summary_text", "text": summary}}),
            Event::ReasoningDone => json!({"type": "response.output_item.done",
                "output_index": 0, "item": self.reasoning_item(true)}),
            Event::MessageAdded => json!({"type": "response.output_item.added",
                "output_index": msg, "item": self.message_item(None)}),
            Event::ContentPartAdded => json!({"type": "response.content_part.added",
                "item_id": msg_id, "output_index": msg, "content_index": 0,
                "part": output_text("")}),
            Event::Stamp | Event::TextDelta(_) => {
                let delta = match e {
                    Event::TextDelta(k) => a.text_pieces.get(k).cloned().unwrap_or_default(),
                    _ => stamp(),
                };
                self.sent_text.push_str(&delta);
                json!({"type": "response.output_text.delta", "item_id": msg_id,
                    "output_index": msg, "content_index": 0, "delta": delta, "logprobs": []})
            }
            Event::TextDone => json!({"type": "response.output_text.done",
                "item_id": msg_id, "output_index": msg, "content_index": 0,
                "text": self.sent_text, "logprobs": []}),
            Event::ContentPartDone => json!({"type": "response.content_part.done",
                "item_id": msg_id, "output_index": msg, "content_index": 0,
                "part": output_text(&self.sent_text)}),
            Event::MessageDone => json!({"type": "response.output_item.done",
                "output_index": msg, "item": self.message_item(Some(&self.sent_text))}),
            Event::CallAdded(i) => json!({"type": "response.output_item.added",
                "output_index": self.call_index(i), "item": self.call_item(i, false)}),
            Event::ArgsDelta(i, f) => {
                let delta = a.calls.get(i).and_then(|c| c.fragments.get(f));
                json!({"type": "response.function_call_arguments.delta",
                    "item_id": call(i).0, "output_index": self.call_index(i), "delta": delta})
            }
            Event::ArgsDone(i) => {
                let (item_id, arguments) = call(i);
                json!({"type": "response.function_call_arguments.done",
                    "item_id": item_id, "output_index": self.call_index(i), "arguments": arguments})
            }
            Event::CallDone(i) => json!({"type": "response.output_item.done",
                "output_index": self.call_index(i), "item": self.call_item(i, true)}),
            Event::End => {
                let kind = if self.incomplete_reason().is_some() {
                    "response.incomplete"
                } else {
                    "response.completed"
                };
                json!({"type": kind, "response": self.finished(&self.sent_text)})
            }
        }
    }
}

fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text})
}

impl Frames for ResponsesStream {
    fn len(&self) -> usize {
        self.events.len()
    }

    fn is_token(&self, i: usize) -> bool {
        matches!(
            self.events.get(i),
            Some(
                Event::SummaryDelta(_) | Event::Stamp | Event::TextDelta(_) | Event::ArgsDelta(..)
            )
        )
    }

    fn final_index(&self) -> usize {
        self.events.len().saturating_sub(1)
    }

    fn default_cut(&self) -> usize {
        if let Some(i) = self
            .events
            .iter()
            .position(|e| matches!(e, Event::ArgsDelta(..)))
        {
            return i + 1;
        }
        let text: Vec<usize> = self
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e, Event::Stamp | Event::TextDelta(_)))
            .map(|(i, _)| i)
            .collect();
        match text.first() {
            Some(first) => first + text.len().div_ceil(2),
            None => (self.final_index() / 2).max(1),
        }
    }

    fn render(&mut self, i: usize) -> String {
        let Some(e) = self.events.get(i).copied() else {
            return String::new();
        };
        let mut v = self.event(e);
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        v["sequence_number"] = json!(i);
        format!("event: {kind}\ndata: {v}\n\n")
    }

    fn whole(&self) -> Value {
        self.finished(&self.answer.full_text())
    }
}

/// The `requires_reasoning` check: `None` when the request carries back
/// the encrypted reasoning the scenario's previous turn gave in this
/// conversation, else the HTTP 400 (`reasoning_missing`) saying so.
pub(super) fn missing_reasoning(
    script: &Script,
    sel: &Selected<'_>,
    convo: &Conversation,
) -> Option<Response> {
    // Validation guarantees a previous turn with `reasoning`.
    let previous = sel.index.checked_sub(1)?;
    let gave = script.turn(sel.scenario, previous)?;
    let want = encrypted_reasoning(&convo.first_user, sel.scenario, previous);
    if convo.reasoning.contains(&want) {
        return None;
    }
    let got = match convo.reasoning.len() {
        0 => "the request's input has no `reasoning` item with `encrypted_content`".to_string(),
        n => format!(
            "the request's input has {n} `reasoning` item(s) with `encrypted_content`, none of them that one"
        ),
    };
    let message = format!(
        "scripted model: {} requires the encrypted reasoning that {} gave, sent back as an input `reasoning` item with its `encrypted_content` (asked for with `include: [\"reasoning.encrypted_content\"]`); {got}",
        sel.turn.label, gave.label
    );
    tracing::warn!(turn = %sel.turn.label, "{message}");
    Some(openai_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        Some("reasoning_missing"),
        Some("input"),
        &message,
    ))
}

const REASONING_KEY: &[u8] = b"paddock scripted model: encrypted reasoning";

/// FNV-1a over `parts`, each prefixed with its length.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in (part.len() as u64).to_le_bytes().iter().chain(part.iter()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// The splitmix64 finalizer: spreads every input bit over the output.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The opaque `encrypted_content` of the reasoning turn `index` of scenario
/// `scenario` gives in the conversation starting with `first_user`: a
/// keyed hash of the three, base64 after a Fernet-like prefix, the same in
/// every run, so a later request can be checked for it.
pub(super) fn encrypted_reasoning(first_user: &str, scenario: usize, index: usize) -> String {
    let mut bytes = Vec::with_capacity(48);
    for block in 0u8..6 {
        let h = fnv1a(&[
            REASONING_KEY,
            &[block],
            first_user.as_bytes(),
            &(scenario as u64).to_le_bytes(),
            &(index as u64).to_le_bytes(),
        ]);
        bytes.extend(mix(h).to_be_bytes());
    }
    format!("gAAAAAB{}", base64(&bytes))
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripted::{RunningModel, ScriptedModel};
    use futures::StreamExt as _;
    use std::time::{Duration, Instant};

    async fn start(yaml: &str) -> RunningModel {
        ScriptedModel::start(
            Script::from_yaml_str(yaml).unwrap(),
            ([127, 0, 0, 1], 0).into(),
        )
        .await
        .unwrap()
    }

    async fn post(m: &RunningModel, route: &str, body: Value) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/{route}", m.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// The events of a Responses stream (each frame checked: an `event:`
    /// line naming the data's `type`, then one `data:` line), and whether
    /// the body ended cleanly.
    async fn events(resp: reqwest::Response) -> (Vec<Value>, bool) {
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        let mut body = Vec::new();
        let mut clean = true;
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) => body.extend_from_slice(&b),
                Err(_) => {
                    clean = false;
                    break;
                }
            }
        }
        let text = String::from_utf8(body).unwrap();
        assert!(!text.contains("[DONE]"));
        let mut out = Vec::new();
        for frame in text.split("\n\n").filter(|f| !f.is_empty()) {
            let mut lines = frame.lines();
            let kind = lines.next().unwrap().strip_prefix("event: ").unwrap();
            let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
            assert!(lines.next().is_none(), "{frame:?}");
            let v: Value = serde_json::from_str(data).unwrap();
            assert_eq!(v["type"], kind);
            out.push(v);
        }
        (out, clean)
    }

    fn types(events: &[Value]) -> Vec<&str> {
        events.iter().map(|e| e["type"].as_str().unwrap()).collect()
    }

    fn joined(events: &[Value], kind: &str, field: &str) -> String {
        events
            .iter()
            .filter(|e| e["type"] == kind)
            .map(|e| e[field].as_str().unwrap())
            .collect()
    }

    const TURN: &str = r#"
model: m
delta_chars: 5
turns:
  - reasoning: "Read both files first."
    text: "Reading them."
    tool_calls:
      - name: read_file
        arguments: {path: "a.txt"}
      - name: read_file
        raw_arguments: '{"path": "b'
    usage: {cached_tokens: 4}
"#;

    #[tokio::test]
    async fn a_turn_streams_reasoning_text_and_two_calls_in_order() {
        let m = start(TURN).await;
        let tools = json!([{"type": "function", "name": "read_file", "parameters": {}}]);
        let resp = post(
            &m,
            "responses",
            json!({"model": "gpt-x", "stream": true, "input": "hello", "tools": tools,
                "include": ["reasoning.encrypted_content"], "store": false}),
        )
        .await;
        let (ev, clean) = events(resp).await;
        assert!(clean);

        let args = [r#"{"path":"a.txt"}"#, r#"{"path": "b"#];
        let mut want = vec![
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
        ];
        // "Read both files first." in pieces of 5 characters.
        want.extend(["response.reasoning_summary_text.delta"; 5]);
        want.extend([
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
        ]);
        want.extend(["response.output_text.delta"; 3]);
        want.extend([
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
        ]);
        for a in args {
            want.push("response.output_item.added");
            want.extend(vec![
                "response.function_call_arguments.delta";
                a.len().div_ceil(4)
            ]);
            want.extend([
                "response.function_call_arguments.done",
                "response.output_item.done",
            ]);
        }
        want.push("response.completed");
        assert_eq!(types(&ev), want);
        for (i, e) in ev.iter().enumerate() {
            assert_eq!(e["sequence_number"], i, "{e}");
        }

        // The opening events carry the response in progress.
        for e in &ev[..2] {
            let r = &e["response"];
            assert_eq!(r["status"], "in_progress");
            assert_eq!(r["output"], json!([]));
            assert!(r["usage"].is_null());
            assert!(r["id"].as_str().unwrap().starts_with("resp_"));
            assert_eq!(r["object"], "response");
            assert_eq!(r["model"], "gpt-x");
            assert_eq!(r["tools"], tools);
            assert_eq!(r["store"], false);
        }

        // Reasoning: output 0, its summary streamed, the encrypted content.
        let rs = &ev[2]["item"];
        assert_eq!(rs["type"], "reasoning");
        let rs_id = rs["id"].as_str().unwrap();
        assert!(rs_id.starts_with("rs_"));
        assert_eq!(rs["summary"], json!([]));
        let summary = joined(&ev, "response.reasoning_summary_text.delta", "delta");
        assert_eq!(summary, "Read both files first.");
        for e in ev.iter().filter(|e| {
            e["type"]
                .as_str()
                .unwrap()
                .starts_with("response.reasoning_summary")
        }) {
            assert_eq!(e["item_id"], rs_id);
            assert_eq!(e["output_index"], 0);
            assert_eq!(e["summary_index"], 0);
        }
        assert_eq!(ev[4 + 5]["text"], summary);
        assert_eq!(ev[5 + 5]["part"]["text"], summary);
        let rs_done = &ev[6 + 5]["item"];
        assert_eq!(
            rs_done["summary"],
            json!([{"type": "summary_text", "text": summary}])
        );
        let encrypted = rs_done["encrypted_content"].as_str().unwrap();
        assert_eq!(encrypted, encrypted_reasoning("hello", 0, 0));
        assert!(encrypted.starts_with("gAAAAAB"));

        // The message: output 1.
        let msg = &ev[12]["item"];
        assert_eq!(msg["type"], "message");
        assert_eq!(msg["status"], "in_progress");
        assert_eq!(msg["role"], "assistant");
        assert_eq!(ev[12]["output_index"], 1);
        let text = joined(&ev, "response.output_text.delta", "delta");
        assert_eq!(text, "Reading them.");
        assert_eq!(ev[17]["text"], text);
        assert_eq!(ev[18]["part"]["text"], text);
        assert_eq!(ev[19]["item"]["content"][0]["text"], text);
        assert_eq!(ev[19]["item"]["status"], "completed");

        // The calls: outputs 2 and 3, arguments reassembled exactly.
        let added: Vec<&Value> = ev
            .iter()
            .filter(|e| e["type"] == "response.output_item.added")
            .skip(2)
            .collect();
        for (k, a) in args.iter().enumerate() {
            let item = &added[k]["item"];
            assert_eq!(added[k]["output_index"], 2 + k);
            assert_eq!(item["type"], "function_call");
            assert_eq!(item["arguments"], "");
            assert_eq!(item["name"], "read_file");
            let fc = item["id"].as_str().unwrap();
            assert!(fc.starts_with("fc_"));
            assert!(item["call_id"].as_str().unwrap().starts_with("call_"));
            let deltas: String = ev
                .iter()
                .filter(|e| {
                    e["type"] == "response.function_call_arguments.delta" && e["item_id"] == fc
                })
                .map(|e| e["delta"].as_str().unwrap())
                .collect();
            assert_eq!(deltas, *a);
            let done = ev
                .iter()
                .find(|e| {
                    e["type"] == "response.function_call_arguments.done" && e["item_id"] == fc
                })
                .unwrap();
            assert_eq!(done["arguments"], *a);
            assert_eq!(done["output_index"], 2 + k);
        }

        // The final response: every item as its `output_item.done` said.
        let done_items: Vec<Value> = ev
            .iter()
            .filter(|e| e["type"] == "response.output_item.done")
            .map(|e| e["item"].clone())
            .collect();
        let r = &ev.last().unwrap()["response"];
        assert_eq!(r["status"], "completed");
        assert!(r["incomplete_details"].is_null());
        assert_eq!(r["output"], Value::Array(done_items));
        assert_eq!(r["output"][3]["arguments"], args[1]);
        assert_eq!(r["output"][3]["status"], "completed");
        let u = &r["usage"];
        assert!(u["input_tokens"].as_u64().unwrap() > 0);
        assert_eq!(u["input_tokens_details"]["cached_tokens"], 4);
        // 3 text pieces + (1 + 4) + (1 + 3) call tokens + 5 reasoning.
        assert_eq!(u["output_tokens"], 17);
        assert_eq!(u["output_tokens_details"]["reasoning_tokens"], 5);
        assert_eq!(
            u["total_tokens"].as_u64().unwrap(),
            u["input_tokens"].as_u64().unwrap() + 17
        );
        assert_eq!(r["id"], ev[0]["response"]["id"]);
        let stats = m.stats();
        assert_eq!((stats.requests, stats.streams_finished), (1, 1));
    }

    #[tokio::test]
    async fn the_whole_response_and_the_chat_route_answer_the_same_turn() {
        let m = start(TURN).await;
        let resp = post(&m, "responses", json!({"model": "m", "input": "hello"})).await;
        assert_eq!(resp.status(), 200);
        let r: Value = resp.json().await.unwrap();
        assert_eq!(r["object"], "response");
        assert_eq!(r["status"], "completed");
        let kinds: Vec<&str> = r["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            ["reasoning", "message", "function_call", "function_call"]
        );
        // Without `include`, no encrypted content.
        assert!(r["output"][0]["encrypted_content"].is_null());
        assert_eq!(r["output"][1]["content"][0]["text"], "Reading them.");
        assert_eq!(r["output"][2]["arguments"], r#"{"path":"a.txt"}"#);
        assert_eq!(r["usage"]["output_tokens_details"]["reasoning_tokens"], 5);

        // Over Chat Completions the reasoning is not sent, but counted.
        let c: Value = post(
            &m,
            "chat/completions",
            json!({"model": "m", "messages": [{"role": "user", "content": "hello"}]}),
        )
        .await
        .json()
        .await
        .unwrap();
        let msg = &c["choices"][0]["message"];
        assert_eq!(msg["content"], "Reading them.");
        assert!(msg.get("reasoning").is_none());
        assert_eq!(
            msg["tool_calls"][1]["function"]["arguments"],
            r#"{"path": "b"#
        );
        assert_eq!(
            msg["tool_calls"][0]["id"], r["output"][2]["call_id"],
            "the same call ids on both routes"
        );
        assert_eq!(c["usage"]["completion_tokens"], 17);
        assert_eq!(
            c["usage"]["completion_tokens_details"]["reasoning_tokens"],
            5
        );
        assert_eq!(m.stats().requests, 2);
        let log = m.requests();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0]["input"], "hello");
        assert_eq!(log[1]["messages"][0]["content"], "hello");
    }

    #[tokio::test]
    async fn usage_overrides_apply_to_both_routes() {
        let m = start(
            "turns:\n  - text: hi\n    usage: {prompt_tokens: 100, completion_tokens: 20, cached_tokens: 50, reasoning_tokens: 8}\n",
        )
        .await;
        let r: Value = post(&m, "responses", json!({"model": "m", "input": "x"}))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            r["usage"],
            json!({"input_tokens": 100, "input_tokens_details": {"cached_tokens": 50},
                "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 8},
                "total_tokens": 120})
        );
        let c: Value = post(
            &m,
            "chat/completions",
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await
        .json()
        .await
        .unwrap();
        let u = &c["usage"];
        assert_eq!(
            (
                &u["prompt_tokens"],
                &u["completion_tokens"],
                &u["total_tokens"]
            ),
            (&json!(100), &json!(20), &json!(120))
        );
        assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 50);
        assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], 8);
    }

    #[tokio::test]
    async fn length_and_content_filter_end_incomplete() {
        let m = start(
            r#"
scenarios:
  - match: "^long"
    turns: [{text: "cut short", finish_reason: length}]
  - match: "^filtered"
    turns: [{text: "no", finish_reason: content_filter}]
"#,
        )
        .await;
        for (input, reason) in [
            ("long", "max_output_tokens"),
            ("filtered", "content_filter"),
        ] {
            let (ev, clean) = events(
                post(
                    &m,
                    "responses",
                    json!({"model": "m", "input": input, "stream": true}),
                )
                .await,
            )
            .await;
            assert!(clean);
            let last = ev.last().unwrap();
            assert_eq!(last["type"], "response.incomplete");
            assert_eq!(last["response"]["status"], "incomplete");
            assert_eq!(last["response"]["incomplete_details"]["reason"], reason);
            assert_eq!(last["response"]["output"][0]["status"], "incomplete");
            assert!(!types(&ev).contains(&"response.completed"));
            let whole: Value = post(&m, "responses", json!({"model": "m", "input": input}))
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(whole["status"], "incomplete");
            assert_eq!(whole["incomplete_details"]["reason"], reason);
        }
    }

    #[tokio::test]
    async fn faults_work_on_the_responses_route() {
        let m = start(
            r#"
scenarios:
  - match: "^rate"
    turns: [{text: "after the wait", fault: {type: rate_limit, retry_after: 3, times: 1}}]
  - match: "^boom"
    turns: [{text: "after the error", fault: {type: server_error, times: 1}}]
  - match: "^cut"
    turns:
      - reasoning: "about to call"
        text: "calling"
        tool_calls: [{name: f, arguments: {a: "0123456789"}}]
        fault: {type: cut}
  - match: "^halfcut"
    turns: [{text: "one two three four", fault: {type: cut}}]
  - match: "^hang"
    turns: [{text: "late", fault: {type: hang, at_chunk: 2, seconds: 0.3}}]
  - match: "^quiet"
    turns: [{text: "late", fault: {type: hang, at_chunk: 0, seconds: 0.2}}]
  - match: "^paced"
    turns: [{reasoning: "a b c d e", text: "f g h i j", tokens_per_second: 50}]
  - match: "^stamped"
    turns: [{stamp_tokens: 3, text: "end"}]
"#,
        )
        .await;
        let ask =
            |input: &str, stream: bool| json!({"model": "gpt-r", "input": input, "stream": stream});

        let resp = post(&m, "responses", ask("rate", true)).await;
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["retry-after"].to_str().unwrap(), "3");
        let e: Value = resp.json().await.unwrap();
        assert_eq!(e["error"]["code"], "rate_limit_exceeded");
        assert_eq!(e["error"]["type"], "requests");
        assert!(e["error"]["message"].as_str().unwrap().contains("gpt-r"));
        let (ev, _) = events(post(&m, "responses", ask("rate", true)).await).await;
        assert_eq!(ev.last().unwrap()["type"], "response.completed");

        let resp = post(&m, "responses", ask("boom", false)).await;
        assert_eq!(resp.status(), 500);
        let e: Value = resp.json().await.unwrap();
        assert_eq!(e["error"]["type"], "server_error");
        assert_eq!(
            post(&m, "responses", ask("boom", false)).await.status(),
            200
        );

        // Cut inside the first call's arguments, every time.
        for _ in 0..2 {
            let (ev, clean) = events(post(&m, "responses", ask("cut", true)).await).await;
            assert!(!clean, "the connection is dropped");
            let last = ev.last().unwrap();
            assert_eq!(
                last["type"],
                "response.function_call_arguments.delta",
                "{:?}",
                types(&ev)
            );
            assert_eq!(
                types(&ev)
                    .iter()
                    .filter(|t| **t == "response.function_call_arguments.delta")
                    .count(),
                1
            );
        }
        let before = m.stats().streams_cut;
        assert_eq!(before, 2);
        let resp = reqwest::Client::new()
            .post(format!("{}/responses", m.base_url()))
            .json(&ask("cut", false))
            .send()
            .await;
        // Not streaming: the body breaks (or the request fails outright).
        if let Ok(r) = resp {
            assert!(r.bytes().await.is_err());
        }
        assert_eq!(m.stats().streams_cut, 3);
        // Without calls: in the middle of the text (2 of 4 words).
        let (ev, clean) = events(post(&m, "responses", ask("halfcut", true)).await).await;
        assert!(!clean);
        assert_eq!(
            joined(&ev, "response.output_text.delta", "delta"),
            "one two "
        );

        // Hang after two events, then the rest.
        let t = Instant::now();
        let (ev, clean) = events(post(&m, "responses", ask("hang", true)).await).await;
        assert!(clean && t.elapsed() >= Duration::from_millis(300));
        assert_eq!(ev.last().unwrap()["type"], "response.completed");
        // Hang before the headers, not streaming.
        let t = Instant::now();
        let resp = post(&m, "responses", ask("quiet", false)).await;
        assert!(t.elapsed() >= Duration::from_millis(200));
        assert_eq!(resp.status(), 200);

        // Pacing covers the summary and the text: 10 tokens at 50/s.
        let t = Instant::now();
        let (ev, clean) = events(post(&m, "responses", ask("paced", true)).await).await;
        assert!(clean);
        assert!(
            t.elapsed() >= Duration::from_millis(190),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(
            joined(&ev, "response.reasoning_summary_text.delta", "delta"),
            "a b c d e"
        );

        // Stamps are text deltas; the done events and the response hold
        // them as sent.
        let (ev, _) = events(post(&m, "responses", ask("stamped", true)).await).await;
        let text = joined(&ev, "response.output_text.delta", "delta");
        let stamps: Vec<&str> = text.trim_end_matches("end").split_whitespace().collect();
        assert_eq!(stamps.len(), 3);
        for s in stamps {
            assert!(s.starts_with('t') && s[1..].parse::<u128>().is_ok(), "{s}");
        }
        let done = ev
            .iter()
            .find(|e| e["type"] == "response.output_text.done")
            .unwrap();
        assert_eq!(done["text"], text.as_str());
        let last = ev.last().unwrap();
        assert_eq!(
            last["response"]["output"][0]["content"][0]["text"],
            text.as_str()
        );
    }

    const REASONING: &str = r#"
turns:
  - reasoning: "I should read the file."
    tool_calls: [{name: read_file, arguments: {path: a}}]
  - requires_reasoning: true
    text: "Done."
"#;

    #[tokio::test]
    async fn requires_reasoning_refuses_a_client_that_drops_it() {
        let m = start(REASONING).await;
        let first: Value = post(
            &m,
            "responses",
            json!({"model": "m", "input": "go", "include": ["reasoning.encrypted_content"]}),
        )
        .await
        .json()
        .await
        .unwrap();
        let rs = first["output"][0].clone();
        let call = first["output"][1].clone();
        assert_eq!(rs["type"], "reasoning");
        assert!(rs["encrypted_content"].is_string());
        let call_id = call["call_id"].clone();
        let output =
            json!({"type": "function_call_output", "call_id": call_id, "output": "text of a"});
        let user = json!({"role": "user", "content": "go"});
        let next = |items: Vec<Value>| json!({"model": "m", "input": items});

        // Sent back: answered.
        let resp = post(
            &m,
            "responses",
            next(vec![user.clone(), rs.clone(), call.clone(), output.clone()]),
        )
        .await;
        assert_eq!(resp.status(), 200);
        let r: Value = resp.json().await.unwrap();
        assert_eq!(r["output"][0]["content"][0]["text"], "Done.");

        // Dropped: refused, loudly.
        let resp = post(
            &m,
            "responses",
            next(vec![user.clone(), call.clone(), output.clone()]),
        )
        .await;
        assert_eq!(resp.status(), 400);
        let e: Value = resp.json().await.unwrap();
        assert_eq!(e["error"]["code"], "reasoning_missing");
        assert_eq!(e["error"]["type"], "invalid_request_error");
        assert_eq!(e["error"]["param"], "input");
        let msg = e["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("turn 1 requires the encrypted reasoning that turn 0 gave"),
            "{msg}"
        );
        assert!(msg.contains("no `reasoning` item"), "{msg}");

        // Another conversation's reasoning is not this one's.
        let mut other = rs.clone();
        other["encrypted_content"] = json!(encrypted_reasoning("something else", 0, 0));
        let resp = post(
            &m,
            "responses",
            next(vec![user.clone(), other, call.clone(), output.clone()]),
        )
        .await;
        assert_eq!(resp.status(), 400);
        let e: Value = resp.json().await.unwrap();
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("1 `reasoning` item(s) with `encrypted_content`, none of them that one")
        );

        // Chat Completions cannot carry reasoning: not checked there.
        let resp = post(
            &m,
            "chat/completions",
            json!({"model": "m", "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "tool_calls": [{"id": call_id, "type": "function",
                    "function": {"name": "read_file", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": call_id, "content": "text of a"}]}),
        )
        .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(m.stats().divergences, 0);
    }

    const EXPECTING: &str = r#"
turns:
  - tool_calls: [{name: run, arguments: {}}]
    expect: {system: "be careful", user: "go"}
  - text: "ok"
    expect: {tool_results: ["exit 0"]}
"#;

    #[tokio::test]
    async fn expect_holds_or_diverges_on_both_routes() {
        let m = start(EXPECTING).await;
        let chat = |system: &str, tool: Option<&str>| {
            let mut messages = vec![
                json!({"role": "system", "content": system}),
                json!({"role": "user", "content": "go"}),
            ];
            if let Some(t) = tool {
                messages.push(
                    json!({"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
                    "function": {"name": "run", "arguments": "{}"}}]}),
                );
                messages.push(json!({"role": "tool", "tool_call_id": "c", "content": t}));
            }
            json!({"model": "m", "messages": messages})
        };
        let refused = |resp: reqwest::Response| async move {
            assert_eq!(resp.status(), 400);
            let e: Value = resp.json().await.unwrap();
            assert_eq!(e["error"]["code"], "script_divergence");
            e["error"]["message"].as_str().unwrap().to_string()
        };

        assert_eq!(
            post(&m, "chat/completions", chat("be careful", None))
                .await
                .status(),
            200
        );
        let msg = refused(post(&m, "chat/completions", chat("be quick", None)).await).await;
        assert_eq!(
            msg,
            "the run diverges from the script at turn 0: the system message differs: \
             expected \"be careful\", got \"be quick\" (first difference at character 3)"
        );
        assert_eq!(
            post(&m, "chat/completions", chat("be careful", Some("exit 0")))
                .await
                .status(),
            200
        );
        let msg =
            refused(post(&m, "chat/completions", chat("be careful", Some("exit 1"))).await).await;
        assert!(
            msg.starts_with(
                "the run diverges from the script at turn 1: tool result 1 of 1 differs"
            ),
            "{msg}"
        );

        // The Responses route: `instructions` or a developer message.
        let ok = post(
            &m,
            "responses",
            json!({"model": "m", "instructions": "be careful", "input": "go"}),
        )
        .await;
        assert_eq!(ok.status(), 200);
        let developer = json!({"model": "m", "input": [
            {"role": "developer", "content": "be careful"}, {"role": "user", "content": "go"}]});
        assert_eq!(post(&m, "responses", developer).await.status(), 200);
        let msg = refused(
            post(
                &m,
                "responses",
                json!({"model": "m", "instructions": "be careful", "input": "stop"}),
            )
            .await,
        )
        .await;
        assert!(
            msg.contains("the last user message differs: expected \"go\", got \"stop\""),
            "{msg}"
        );
        let second = |output: &str| {
            json!({"model": "m", "instructions": "be careful", "input": [
                {"role": "user", "content": "go"},
                {"type": "function_call", "call_id": "c", "name": "run", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c", "output": output}]})
        };
        assert_eq!(post(&m, "responses", second("exit 0")).await.status(), 200);
        let msg = refused(post(&m, "responses", second("exit 0 ")).await).await;
        assert!(msg.contains("got \"exit 0 \""), "{msg}");

        let s = m.stats();
        assert_eq!(s.divergences, 4);
        assert_eq!(s.requests, 9);
    }

    #[tokio::test]
    async fn bad_requests_are_refused_like_openai() {
        let m = start("turns:\n  - text: hi\n").await;
        let param = |resp: reqwest::Response| async move {
            assert_eq!(resp.status(), 400);
            let e: Value = resp.json().await.unwrap();
            assert_eq!(e["error"]["type"], "invalid_request_error");
            e["error"]["param"].clone()
        };
        assert_eq!(
            param(post(&m, "responses", json!({"input": "x"})).await).await,
            "model"
        );
        assert_eq!(
            param(post(&m, "responses", json!({"model": "m"})).await).await,
            "input"
        );
        assert_eq!(
            param(post(&m, "responses", json!({"model": "m", "input": []})).await).await,
            "input"
        );
        assert_eq!(
            param(
                post(
                    &m,
                    "responses",
                    json!({"model": "m", "input": "x", "instructions": 3})
                )
                .await
            )
            .await,
            "instructions"
        );
        // A second assistant turn the script does not have.
        let resp = post(
            &m,
            "responses",
            json!({"model": "m", "input": [{"role": "user", "content": "x"},
                {"role": "assistant", "content": "hi"}, {"role": "user", "content": "y"}]}),
        )
        .await;
        assert_eq!(param(resp).await, "input");
        let resp = reqwest::Client::new()
            .post(format!("{}/responses", m.base_url()))
            .header("content-type", "application/json")
            .body("{nope")
            .send()
            .await
            .unwrap();
        assert!(param(resp).await.is_null());
        let resp = reqwest::Client::new()
            .get(format!("{}/nothing", m.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
        let e: Value = resp.json().await.unwrap();
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("POST /v1/responses")
        );
        assert_eq!(m.stats().requests, 6);
    }

    #[test]
    fn encrypted_reasoning_is_stable_and_distinct() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        let a = encrypted_reasoning("fix the bug", 0, 1);
        assert_eq!(a, encrypted_reasoning("fix the bug", 0, 1));
        assert_eq!(a.len(), "gAAAAAB".len() + 64);
        for other in [
            encrypted_reasoning("fix the bug", 0, 2),
            encrypted_reasoning("fix the bug", 1, 1),
            encrypted_reasoning("fix the bug!", 0, 1),
        ] {
            assert_ne!(a, other);
        }
    }
}
