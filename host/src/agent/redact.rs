//! Secret redaction: values of configured secret environment variables and
//! token-shaped strings are replaced before anything is stored or broadcast.

use crate::events::EventBody;
use regex::Regex;
use std::sync::OnceLock;

/// What a redacted secret becomes.
pub const REDACTED: &str = "[REDACTED]";

/// Shortest env value treated as a secret (shorter values, like `1` or
/// `true`, would redact ordinary text).
const MIN_SECRET_LEN: usize = 6;

/// Replaces secrets in text.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    /// Literal secret values, longest first (so a value containing another
    /// is replaced whole).
    values: Vec<String>,
}

fn token_patterns() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // Each alternative is a widely used credential shape.
        let patterns = [
            r"sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}", // OpenAI / Anthropic keys
            r"gh[pousr]_[A-Za-z0-9]{30,}",            // GitHub tokens
            r"github_pat_[A-Za-z0-9_]{30,}",          // GitHub fine-grained
            r"glpat-[A-Za-z0-9_\-]{20,}",             // GitLab
            r"xox[abposr]-[A-Za-z0-9\-]{10,}",        // Slack
            r"AKIA[0-9A-Z]{16}",                      // AWS access key id
            r"AIza[0-9A-Za-z_\-]{35}",                // Google API key
            r"(?i)bearer\s+[A-Za-z0-9._~+/\-]{20,}=*", // bearer tokens
            r"eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}", // JWTs
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
        ];
        // The patterns are constants; a failure here is a programming error
        // caught by the unit tests, so fall back to a regex matching nothing.
        Regex::new(&patterns.join("|")).unwrap_or_else(|_| never())
    })
}

fn never() -> Regex {
    #[allow(clippy::unwrap_used)]
    Regex::new(r"[^\s\S]").unwrap()
}

impl Redactor {
    /// A redactor for the values of the named environment variables (unset
    /// or too short values are ignored) plus token shapes.
    pub fn from_env(names: &[String]) -> Redactor {
        Redactor::with_values(names.iter().filter_map(|n| std::env::var(n).ok()))
    }

    /// A redactor for these literal values plus token shapes.
    pub fn with_values(values: impl IntoIterator<Item = String>) -> Redactor {
        let mut values: Vec<String> = values
            .into_iter()
            .filter(|v| v.trim().len() >= MIN_SECRET_LEN)
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Redactor { values }
    }

    /// The text with every secret replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = std::borrow::Cow::Borrowed(text);
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = std::borrow::Cow::Owned(out.replace(v.as_str(), REDACTED));
            }
        }
        match token_patterns().replace_all(&out, REDACTED) {
            std::borrow::Cow::Borrowed(_) => out.into_owned(),
            std::borrow::Cow::Owned(s) => s,
        }
    }

    /// An event body with every string of its data redacted (a body whose
    /// redacted data no longer fits its type is kept as it was; strings
    /// only get shorter placeholders, so this does not happen in practice).
    pub fn redact_event(&self, body: EventBody) -> EventBody {
        let mut data = body.data();
        self.redact_json(&mut data);
        EventBody::from_parts(body.type_name(), data).unwrap_or(body)
    }

    /// Redacts every string (and object key) inside a JSON value.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => {
                let r = self.redact(s);
                if r != *s {
                    *s = r;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            serde_json::Value::Object(map) => {
                let entries: Vec<(String, serde_json::Value)> = std::mem::take(map)
                    .into_iter()
                    .map(|(k, mut v)| {
                        self.redact_json(&mut v);
                        (self.redact(&k), v)
                    })
                    .collect();
                map.extend(entries);
            }
            _ => {}
        }
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
    fn plain_text_is_untouched() {
        let r = Redactor::with_values(["s3cr3t-value".to_string()]);
        let t = "fn main() { println!(\"hello\"); } // skeleton sk- short";
        assert_eq!(r.redact(t), t);
    }
}
