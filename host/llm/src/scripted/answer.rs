//! A turn's answer independent of the wire API: its text, reasoning, tool
//! calls and usage already cut into the deltas both routes stream, the
//! opaque encrypted reasoning a turn gives, the `Frames` each route renders
//! it as, and the OpenAI error body both routes answer with.

use super::script::{Deltas, Turn};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use paddock_protocol::llm::FinishReason;
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

/// An OpenAI error body (`{"error": {"message", "type", "param", "code"}}`).
pub(super) fn openai_error(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    param: Option<&str>,
    message: &str,
) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": param, "code": code}});
    (status, axum::Json(body)).into_response()
}

fn now_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

/// A latency-probe token, `t<unix_micros> `, stamped now.
pub(super) fn stamp() -> String {
    format!("t{} ", now_micros())
}

/// One route's rendering of an answer as a list of SSE frames, sent in
/// order by [`produce`] (which paces the token frames and injects cuts and
/// hangs by frame position), or as one JSON body.
pub(super) trait Frames: Send + 'static {
    /// How many frames the stream has.
    fn len(&self) -> usize;
    /// Whether frame `i` carries a token (paced by `tokens_per_second`).
    fn is_token(&self, i: usize) -> bool;
    /// The frame that ends the answer (`finish_reason` chunk,
    /// `response.completed`): a cut happens before it at the latest.
    fn final_index(&self) -> usize;
    /// Where a `cut` without `at_chunk` happens: just after the first
    /// argument fragment of the first tool call; without tool calls, in
    /// the middle of the text.
    fn default_cut(&self) -> usize;
    /// Frame `i` as sent, `data: …\n\n` (and an `event:` line where the API
    /// has one). Called once per frame, in order.
    fn render(&mut self, i: usize) -> String;
    /// The non-streaming answer.
    fn whole(&self) -> Value;
}

/// Where an answer is: its conversation and turn, for ids and tokens.
pub(super) struct Place<'a> {
    /// The conversation's key (a hash of its first user message).
    pub(super) key: u64,
    /// The conversation's first user message.
    pub(super) first_user: &'a str,
    /// The scenario's position.
    pub(super) scenario: usize,
    /// The turn's position in it.
    pub(super) index: usize,
}

/// A tool call of an answer.
pub(super) struct Call {
    /// `call_…`: the id the client answers with.
    pub(super) id: String,
    /// `fc_…`: the output item's id (Responses API).
    pub(super) item_id: String,
    /// The tool.
    pub(super) name: String,
    /// The arguments text.
    pub(super) arguments: String,
    /// The arguments in 4-character fragments, as streamed.
    pub(super) fragments: Vec<String>,
}

/// The reasoning an answer starts with (Responses API).
pub(super) struct Reasoning {
    /// `rs_…`.
    pub(super) id: String,
    /// The summary.
    pub(super) summary: String,
    /// The summary as streamed.
    pub(super) pieces: Vec<String>,
    /// The opaque encrypted reasoning.
    pub(super) encrypted: String,
}

/// Usage numbers, the script's or computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Usage {
    /// Prompt tokens.
    pub(super) prompt: u64,
    /// Completion tokens (including the reasoning ones).
    pub(super) completion: u64,
    /// Cached prompt tokens.
    pub(super) cached: u64,
    /// Reasoning tokens.
    pub(super) reasoning: u64,
}

/// A turn's answer, independent of the wire API: its parts already cut
/// into the deltas both renderings stream.
pub(super) struct Answer {
    /// The model the request named.
    pub(super) model: String,
    /// Unix seconds.
    pub(super) created: u64,
    /// The pace (tokens per second; 0: as fast as possible).
    pub(super) pace: f64,
    /// `t<unix_micros> ` tokens sent before the text.
    pub(super) stamps: u32,
    /// The text.
    pub(super) text: Option<String>,
    /// The text as streamed.
    pub(super) text_pieces: Vec<String>,
    /// The reasoning, if any.
    pub(super) reasoning: Option<Reasoning>,
    /// The tool calls.
    pub(super) calls: Vec<Call>,
    /// Why it stops.
    pub(super) finish_reason: FinishReason,
    /// Its usage.
    pub(super) usage: Usage,
    /// `msg_…`: the message item's id (Responses API).
    pub(super) message_id: String,
}

/// Splits text into words, each with the whitespace after it.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_space = false;
    for ch in text.chars() {
        if !ch.is_whitespace() && in_space {
            out.push(std::mem::take(&mut cur));
            in_space = false;
        }
        if ch.is_whitespace() {
            in_space = true;
        }
        cur.push(ch);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Splits text into pieces of 4 characters.
fn fours(text: &str) -> Vec<String> {
    sized(text, 4, 4)
}

/// Splits text into pieces of `min`, `min + 1`, …, `max`, `min`, …
/// characters (each at least 1).
fn sized(text: &str, min: usize, max: usize) -> Vec<String> {
    let (min, max) = (min.max(1), max.max(min.max(1)));
    let mut sizes = (min..=max).cycle();
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let n = sizes.next().unwrap_or(min);
        out.push(chars.by_ref().take(n).collect());
    }
    out
}

fn split(text: &str, deltas: Deltas) -> Vec<String> {
    match deltas {
        Deltas::Words => words(text),
        Deltas::Chars { min, max } => sized(text, min, max),
    }
}

impl Answer {
    pub(super) fn new(turn: &Turn, model: &str, at: Place<'_>, request_bytes: usize) -> Answer {
        let Place {
            key,
            first_user,
            scenario,
            index,
        } = at;
        let text_pieces = turn
            .text
            .as_deref()
            .map(|t| split(t, turn.deltas))
            .unwrap_or_default();
        let calls: Vec<Call> = turn
            .tool_calls
            .iter()
            .enumerate()
            .map(|(i, c)| Call {
                id: format!("call_{key:016x}_{index}_{i}"),
                item_id: format!("fc_{key:016x}_{index}_{i}"),
                name: c.name.clone(),
                arguments: c.arguments.clone(),
                fragments: fours(&c.arguments),
            })
            .collect();
        let reasoning = turn.reasoning.as_ref().map(|summary| Reasoning {
            id: format!("rs_{key:016x}_{index}"),
            summary: summary.clone(),
            pieces: split(summary, turn.deltas),
            encrypted: encrypted_reasoning(first_user, scenario, index),
        });
        let reasoning_tokens = turn
            .usage
            .reasoning_tokens
            .unwrap_or_else(|| reasoning.as_ref().map_or(0, |r| r.pieces.len() as u64));
        let streamed = u64::from(turn.stamp_tokens)
            + text_pieces.len() as u64
            + calls
                .iter()
                .map(|c| 1 + c.fragments.len() as u64)
                .sum::<u64>();
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Answer {
            model: model.to_string(),
            created,
            pace: turn.tokens_per_second,
            stamps: turn.stamp_tokens,
            text: turn.text.clone(),
            text_pieces,
            reasoning,
            calls,
            finish_reason: turn.finish_reason.clone(),
            usage: Usage {
                prompt: turn
                    .usage
                    .prompt_tokens
                    .unwrap_or((request_bytes as u64).div_ceil(4)),
                completion: turn
                    .usage
                    .completion_tokens
                    .unwrap_or(streamed + reasoning_tokens),
                cached: turn.usage.cached_tokens.unwrap_or(0),
                reasoning: reasoning_tokens,
            },
            message_id: format!("msg_{key:016x}_{index}"),
        }
    }

    /// Whether the answer has a message (text or stamps).
    pub(super) fn has_message(&self) -> bool {
        self.text.is_some() || self.stamps > 0
    }

    /// The whole text, stamped now.
    pub(super) fn full_text(&self) -> String {
        let mut t = String::new();
        for _ in 0..self.stamps {
            t.push_str(&stamp());
        }
        t.push_str(self.text.as_deref().unwrap_or(""));
        t
    }
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

    #[test]
    fn words_keep_their_spaces() {
        assert_eq!(
            words("Hello big  world\n"),
            vec!["Hello ", "big  ", "world\n"]
        );
        assert_eq!(words(" lead"), vec![" ", "lead"]);
        assert_eq!(fours("{\"a\": 1}"), vec!["{\"a\"", ": 1}"]);
        assert_eq!(
            sized("CANARYq7Zp3xé", 1, 3),
            vec!["C", "AN", "ARY", "q", "7Z", "p3x", "é"]
        );
        assert_eq!(sized("abcde", 2, 2), vec!["ab", "cd", "e"]);
        assert_eq!(words("").len(), 0);
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
