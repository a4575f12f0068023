//! Secret redaction: values of configured secret environment variables and
//! token-shaped strings are replaced before anything is stored or broadcast
//! — whole events here, text that streams in pieces (model deltas, command
//! output) through a [`RedactStream`], which never lets a secret out split
//! across pieces.

use paddock_protocol::events::EventBody;
use std::sync::{Arc, RwLock};

/// What a redacted secret becomes.
pub use paddock_scan::secrets::REDACTED;

/// Redaction of text that arrives in pieces.
pub use paddock_scan::secrets::RedactStream;

/// Replaces secrets in text: the literal values it was given and the token
/// shapes of [`paddock_scan::secrets::TOKEN_PATTERNS`] (shared with the
/// `mcp-redact` adapter, so the patterns exist once).
///
/// Values can be added while agents run ([`Redactor::add`], e.g. a
/// provider key entered through the API); clones share them. Text that
/// streams takes the values of the moment its stream starts
/// ([`Redactor::current`]).
#[derive(Clone, Default)]
pub struct Redactor(Arc<RwLock<Values>>);

#[derive(Default)]
struct Values {
    literal: Vec<String>,
    redactor: Arc<paddock_scan::secrets::Redactor>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} values)", self.current().value_count())
    }
}

impl Redactor {
    /// A redactor for these literal values plus token shapes.
    pub fn with_values(values: impl IntoIterator<Item = String>) -> Redactor {
        let literal: Vec<String> = values.into_iter().collect();
        let redactor = Arc::new(paddock_scan::secrets::Redactor::with_values(
            literal.iter().cloned(),
        ));
        Redactor(Arc::new(RwLock::new(Values { literal, redactor })))
    }

    /// Redacts `value` too from now on, everywhere this redactor (or a
    /// clone) is used. Values too short to be secrets are ignored, as at
    /// start.
    pub fn add(&self, value: &str) {
        let mut v = self.0.write().unwrap_or_else(|e| e.into_inner());
        if v.literal.iter().any(|l| l == value) {
            return;
        }
        v.literal.push(value.to_string());
        v.redactor = Arc::new(paddock_scan::secrets::Redactor::with_values(
            v.literal.iter().cloned(),
        ));
    }

    /// The redactor as it is now (the values added so far): what a text
    /// that streams in pieces is redacted with, through its
    /// [`stream`](paddock_scan::secrets::Redactor::stream) — what that
    /// emits never holds a secret, even one split across pieces, and put
    /// together is [`Redactor::redact`] of the whole text.
    pub fn current(&self) -> Arc<paddock_scan::secrets::Redactor> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .redactor
            .clone()
    }

    /// The text with every secret replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        self.current().redact(text)
    }

    /// An event body with every string of its data redacted (a body whose
    /// redacted data no longer fits its type is kept as it was; strings
    /// only get shorter placeholders, so this does not happen in practice).
    ///
    /// An answer's reasoning items are the exception: their ids and
    /// encrypted reasoning are the provider's opaque ciphertext, sent back
    /// verbatim (a placeholder in them would break the chain of thought),
    /// so only their readable summaries are redacted.
    pub fn redact_event(&self, body: EventBody) -> EventBody {
        let mut data = body.data();
        let opaque = match data.get_mut("reasoning") {
            Some(r) if matches!(body, EventBody::MessageAssistant { .. }) => {
                let items = r.as_array_mut().map(std::mem::take).unwrap_or_default();
                let mut summaries = serde_json::Value::Array(
                    items
                        .iter()
                        .map(|i| i.get("summary").cloned().unwrap_or_default())
                        .collect(),
                );
                self.redact_json(&mut summaries);
                Some((items, summaries))
            }
            _ => None,
        };
        self.redact_json(&mut data);
        if let Some((mut items, serde_json::Value::Array(summaries))) = opaque {
            for (item, summary) in items.iter_mut().zip(summaries) {
                if let Some(obj) = item.as_object_mut()
                    && !summary.is_null()
                {
                    obj.insert("summary".into(), summary);
                }
            }
            data["reasoning"] = serde_json::Value::Array(items);
        }
        EventBody::from_parts(body.type_name(), data).unwrap_or(body)
    }

    /// Redacts every string (and object key) inside a JSON value.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        self.current().redact_json(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_configured_values_and_token_shapes() {
        let r = Redactor::with_values(["hunter2-secret-value".to_string(), "1".to_string()]);
        let text = "pw=hunter2-secret-value key sk-proj-abcdefghijklmnopqrstuvwxyz012345 \
                    gh ghp_abcdefghijklmnopqrstuvwxyz0123456789 aws AKIAABCDEFGHIJKLMNOP \
                    Authorization: Bearer abcdefghijklmnopqrstuvwxyz.123 count 1";
        let out = r.redact(text);
        assert!(!out.contains("hunter2"), "{out}");
        assert!(!out.contains("sk-proj-abc"), "{out}");
        assert!(!out.contains("ghp_abc"), "{out}");
        assert!(!out.contains("AKIAABC"), "{out}");
        assert!(!out.contains("abcdefghijklmnopqrstuvwxyz.123"), "{out}");
        assert!(
            out.ends_with("count 1"),
            "short values are not secrets: {out}"
        );
        assert_eq!(out.matches(REDACTED).count(), 5, "{out}");
    }

    #[test]
    fn redacts_private_keys_and_json_strings() {
        let r = Redactor::default();
        let pem = "x\n-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\nBBBB\n-----END OPENSSH PRIVATE KEY-----\ny";
        assert_eq!(r.redact(pem), format!("x\n{REDACTED}\ny"));
        let mut v =
            serde_json::json!({"a": ["ok", {"b": "token sk-abcdefghijklmnopqrstuvwxyz"}], "n": 3});
        r.redact_json(&mut v);
        assert_eq!(v["a"][1]["b"], format!("token {REDACTED}"));
        assert_eq!(v["a"][0], "ok");
        assert_eq!(v["n"], 3);
    }

    #[test]
    fn values_added_later_are_redacted_by_every_clone() {
        let r = Redactor::with_values(Vec::new());
        let clone = r.clone();
        let before = r.current();
        r.add("late-added-secret-value-1234");
        r.add("late-added-secret-value-1234");
        assert_eq!(
            clone.redact("key late-added-secret-value-1234"),
            format!("key {REDACTED}")
        );
        let current = clone.current();
        let mut s = current.stream();
        let mut out = s.push("late-added-sec");
        out.push_str(&s.push("ret-value-1234 ok"));
        out.push_str(&s.finish());
        assert_eq!(out, format!("{REDACTED} ok"));
        assert_eq!(before.value_count(), 0, "a running stream keeps its values");
        assert_eq!(r.current().value_count(), 1);
    }

    #[test]
    fn plain_text_is_untouched() {
        let r = Redactor::with_values(["s3cr3t-value".to_string()]);
        let t = "fn main() { println!(\"hello\"); } // skeleton sk- short";
        assert_eq!(r.redact(t), t);
    }

    #[test]
    fn reasoning_keeps_its_ciphertext_and_loses_secrets_in_its_summary() {
        use paddock_protocol::llm::ReasoningItem;
        let r = Redactor::with_values(["hunter2-secret-value".to_string()]);
        // Ciphertext that happens to hold a token shape and the secret.
        let cipher =
            "gAAAA-sk-proj-abcdefghijklmnopqrstuvwxyz012345-hunter2-secret-value".to_string();
        let body = EventBody::MessageAssistant {
            text: Some("the password is hunter2-secret-value".into()),
            tool_calls: Vec::new(),
            finish_reason: "stop".into(),
            reasoning: vec![ReasoningItem {
                id: "rs_1".into(),
                summary: vec!["I read hunter2-secret-value".into(), "then".into()],
                encrypted_content: Some(cipher.clone()),
            }],
        };
        let EventBody::MessageAssistant {
            text, reasoning, ..
        } = r.redact_event(body)
        else {
            panic!("not an answer");
        };
        assert!(!text.unwrap().contains("hunter2"));
        assert_eq!(reasoning.len(), 1);
        assert_eq!(reasoning[0].id, "rs_1");
        assert_eq!(
            reasoning[0].encrypted_content.as_deref(),
            Some(cipher.as_str())
        );
        assert!(
            !reasoning[0].summary[0].contains("hunter2"),
            "{:?}",
            reasoning[0]
        );
        assert_eq!(reasoning[0].summary[1], "then");
    }
}
