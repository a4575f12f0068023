//! Secret redaction shared by the host and by plugins: the token shapes
//! Paddock recognises ([`TOKEN_PATTERNS`]) and a [`Redactor`] that replaces
//! them, and literal secret values, with [`REDACTED`] in text and JSON.
//!
//! The host redacts what it stores and broadcasts with this module; the
//! built-in `mcp-redact` adapter redacts MCP results with it. Both compile
//! it natively and for `wasm32-wasip2`, so the patterns exist once.
//!
//! Text that arrives in pieces (a model's deltas, a command's output) goes
//! through a `RedactStream` (feature `streaming`): it holds back only a tail
//! that could still become part of a secret, so no secret is ever emitted
//! split across pieces, and what it emits, put together, is exactly the
//! redaction of the whole text.
//!
//! ```
//! use paddock_scan::secrets::{Redactor, REDACTED};
//!
//! let r = Redactor::with_values(["hunter2-hunter2".to_string()]);
//! let out = r.redact("pw hunter2-hunter2, token ghp_abcdefghijklmnopqrstuvwxyz0123456789");
//! assert_eq!(out, format!("pw {REDACTED}, token {REDACTED}"));
//! ```

use regex::Regex;
use std::borrow::Cow;
use std::sync::OnceLock;

#[cfg(feature = "streaming")]
mod stream;
#[cfg(feature = "streaming")]
pub use stream::{MAX_HELD_BYTES, RedactStream};

/// What a redacted secret becomes.
pub const REDACTED: &str = "[REDACTED]";

/// Shortest literal value treated as a secret: shorter values (like `1` or
/// `true`) would redact ordinary text.
pub const MIN_SECRET_LEN: usize = 6;

/// Widely used credential shapes, as regular expressions (Rust `regex`
/// syntax). A string matching any of them is a secret wherever it appears.
pub const TOKEN_PATTERNS: &[&str] = &[
    // OpenAI / Anthropic keys
    r"sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}",
    // GitHub tokens (personal, OAuth, user-to-server, server-to-server, refresh)
    r"gh[pousr]_[A-Za-z0-9]{30,}",
    // GitHub fine-grained personal access tokens
    r"github_pat_[A-Za-z0-9_]{30,}",
    // GitLab personal access tokens
    r"glpat-[A-Za-z0-9_\-]{20,}",
    // Slack tokens
    r"xox[abposr]-[A-Za-z0-9\-]{10,}",
    // AWS access key ids
    r"AKIA[0-9A-Z]{16}",
    // Google API keys
    r"AIza[0-9A-Za-z_\-]{35}",
    // Bearer tokens (an `Authorization` header's value)
    r"(?i)bearer\s+[A-Za-z0-9._~+/\-]{20,}=*",
    // JSON Web Tokens
    r"eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}",
    // PEM private keys, to their end marker (or the end of the text)
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
];

/// Literal pieces with which every shape of [`TOKEN_PATTERNS`] starts
/// (`bearer` in any case). A text with none of them cannot hold a token and
/// is not scanned — so the common case never compiles the expression, which
/// is most of the cost of a fresh plugin instance that redacts.
const TOKEN_ANCHORS: &[&str] = &[
    "sk-",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xox",
    "AKIA",
    "AIza",
    "eyJ",
    "-----BEGIN ",
];

/// Whether the text contains a piece every token shape has (see
/// `TOKEN_ANCHORS`); false means it holds no token.
pub fn may_hold_token(text: &str) -> bool {
    TOKEN_ANCHORS.iter().any(|a| text.contains(a))
        || text
            .as_bytes()
            .windows(6)
            .any(|w| w.eq_ignore_ascii_case(b"bearer"))
}

/// [`TOKEN_PATTERNS`] as one alternation, each in a group of its own so a
/// flag one of them sets (the bearer shape's `(?i)`) stays its own: joined
/// bare, `(?i)` would reach every pattern after it.
pub(crate) fn token_alternation() -> String {
    TOKEN_PATTERNS
        .iter()
        .map(|p| format!("(?:{p})"))
        .collect::<Vec<_>>()
        .join("|")
}

/// [`TOKEN_PATTERNS`] as one regular expression, compiled once per process
/// (per instance, in a plugin).
pub fn token_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // The patterns are constants and the unit tests compile them, so
        // this cannot fail in a released build; should it ever, match
        // nothing rather than panic.
        Regex::new(&token_alternation())
            .or_else(|_| Regex::new(r"[^\s\S]"))
            .unwrap_or_else(|_| unreachable!("a constant, valid regular expression"))
    })
}

/// Replaces secrets — literal values and token shapes — with [`REDACTED`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Redactor {
    /// Literal secret values, longest first (so a value containing another
    /// is replaced whole).
    values: Vec<String>,
}

impl Redactor {
    /// A redactor for these literal values plus the token shapes. Values
    /// shorter than [`MIN_SECRET_LEN`] (ignoring surrounding whitespace) are
    /// ignored.
    pub fn with_values(values: impl IntoIterator<Item = String>) -> Redactor {
        let mut values: Vec<String> = values
            .into_iter()
            .filter(|v| v.trim().len() >= MIN_SECRET_LEN)
            .collect();
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        values.dedup();
        Redactor { values }
    }

    /// A redactor for the values of these environment variables (unset or
    /// too short values are ignored) plus the token shapes.
    pub fn from_env<S: AsRef<str>>(names: &[S]) -> Redactor {
        Redactor::with_values(names.iter().filter_map(|n| std::env::var(n.as_ref()).ok()))
    }

    /// A redactor for the value of every environment variable this process
    /// sees, plus the token shapes. Meant for plugins: a plugin's
    /// environment holds exactly the variables it was granted.
    pub fn from_whole_env() -> Redactor {
        Redactor::with_values(std::env::vars_os().filter_map(|(_, v)| v.into_string().ok()))
    }

    /// How many literal values this redactor replaces.
    pub fn value_count(&self) -> usize {
        self.values.len()
    }

    /// The text with every secret replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        self.redact_cow(text).into_owned()
    }

    /// Like [`Redactor::redact`], without copying text that has no secret.
    pub fn redact_cow<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = Cow::Owned(out.replace(v.as_str(), REDACTED));
            }
        }
        if !may_hold_token(&out) {
            return out;
        }
        match out {
            Cow::Borrowed(t) => token_regex().replace_all(t, REDACTED),
            Cow::Owned(t) => match token_regex().replace_all(&t, REDACTED) {
                Cow::Borrowed(_) => Cow::Owned(t),
                Cow::Owned(s) => Cow::Owned(s),
            },
        }
    }

    /// Redacts every string and every object key inside a JSON value, at
    /// any depth. Returns whether anything changed.
    pub fn redact_json(&self, value: &mut serde_json::Value) -> bool {
        match value {
            serde_json::Value::String(s) => match self.redact_cow(s) {
                Cow::Borrowed(_) => false,
                Cow::Owned(r) => {
                    *s = r;
                    true
                }
            },
            serde_json::Value::Array(items) => items
                .iter_mut()
                .fold(false, |changed, v| self.redact_json(v) | changed),
            serde_json::Value::Object(map) => {
                let mut changed = false;
                let entries: Vec<(String, serde_json::Value)> = std::mem::take(map)
                    .into_iter()
                    .map(|(k, mut v)| {
                        changed |= self.redact_json(&mut v);
                        let key = match self.redact_cow(&k) {
                            Cow::Borrowed(_) => k,
                            Cow::Owned(r) => {
                                changed = true;
                                r
                            }
                        };
                        (key, v)
                    })
                    .collect();
                map.extend(entries);
                changed
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles_alone() {
        for p in TOKEN_PATTERNS {
            assert!(Regex::new(p).is_ok(), "{p}");
        }
        assert!(token_regex().is_match("ghp_abcdefghijklmnopqrstuvwxyz0123456789"));
    }

    #[test]
    fn each_shape_is_recognised() {
        let samples = [
            "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
            "sk-ant-abcdefghijklmnopqrstuvwxyz012345",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "gho_abcdefghijklmnopqrstuvwxyz0123456789",
            "github_pat_11ABCDEFG0abcdefghijklmnopqrstuvwxyz",
            "glpat-abcdefghijklmnopqrst",
            "xoxb-1234567890-abcdef",
            "AKIAABCDEFGHIJKLMNOP",
            "AIzaSyA-abcdefghijklmnopqrstuvwxyz01234",
            "Bearer abcdefghijklmnopqrstuvwxyz.123",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnop",
        ];
        let r = Redactor::default();
        for s in samples {
            assert_eq!(
                r.redact(&format!("a {s} b")),
                format!("a {REDACTED} b"),
                "{s}"
            );
        }
    }

    #[test]
    fn every_shape_has_an_anchor_so_the_prefilter_never_hides_a_token() {
        let samples = [
            "ghu_abcdefghijklmnopqrstuvwxyz0123456789",
            "ghs_abcdefghijklmnopqrstuvwxyz0123456789",
            "ghr_abcdefghijklmnopqrstuvwxyz0123456789",
            "xoxp-1234567890-abcdef",
            "bEaReR abcdefghijklmnopqrstuvwxyz.123",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----",
        ];
        for s in samples {
            assert!(token_regex().is_match(s), "{s}");
            assert!(may_hold_token(s), "{s}");
            assert_eq!(Redactor::default().redact(s), REDACTED, "{s}");
        }
        // Ordinary text is not scanned at all.
        for plain in ["the highest thought", "ask - me", "{\"sum\": 42}", ""] {
            assert!(!may_hold_token(plain), "{plain}");
        }
    }

    #[test]
    fn redacts_values_and_shapes() {
        let r = Redactor::with_values(["hunter2-secret-value".to_string(), "1".to_string()]);
        assert_eq!(r.value_count(), 1, "short values are not secrets");
        let text = "pw=hunter2-secret-value key sk-proj-abcdefghijklmnopqrstuvwxyz012345 \
                    gh ghp_abcdefghijklmnopqrstuvwxyz0123456789 count 1";
        let out = r.redact(text);
        assert_eq!(
            out,
            format!("pw={REDACTED} key {REDACTED} gh {REDACTED} count 1")
        );
    }

    #[test]
    fn longer_values_win_over_their_substrings() {
        let r = Redactor::with_values(["secret".to_string(), "secret-and-more".to_string()]);
        assert_eq!(r.redact("x secret-and-more y"), format!("x {REDACTED} y"));
    }

    #[test]
    fn private_keys_are_redacted_whole() {
        let pem = "x\n-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\nBBBB\n-----END OPENSSH PRIVATE KEY-----\ny";
        assert_eq!(Redactor::default().redact(pem), format!("x\n{REDACTED}\ny"));
    }

    #[test]
    fn plain_text_is_borrowed_and_untouched() {
        let r = Redactor::with_values(["s3cr3t-value".to_string()]);
        let t = "fn main() { println!(\"hello\"); } // skeleton sk- short";
        assert!(matches!(r.redact_cow(t), Cow::Borrowed(_)));
        assert_eq!(r.redact(t), t);
    }

    #[test]
    fn json_strings_and_keys_are_redacted_at_any_depth() {
        let r = Redactor::with_values(["hunter2-secret".to_string()]);
        let mut v = serde_json::json!({
            "a": ["ok", {"b": "token sk-abcdefghijklmnopqrstuvwxyz"}],
            "n": 3,
            "hunter2-secret": true,
        });
        assert!(r.redact_json(&mut v));
        assert_eq!(v["a"][1]["b"], format!("token {REDACTED}"));
        assert_eq!(v["a"][0], "ok");
        assert_eq!(v["n"], 3);
        assert_eq!(v[REDACTED], true);
        let mut clean = serde_json::json!({"a": ["ok", 1, null]});
        assert!(!r.redact_json(&mut clean));
    }

    #[test]
    fn a_flag_of_one_shape_stays_its_own() {
        // `(?i)` belongs to the bearer shape only.
        assert!(token_regex().is_match("BEARER abcdefghijklmnopqrstuvwxyz.123"));
        for other in [
            "EYJhbGciOiJIUzI1NiJ9.EYJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnop",
            "-----begin rsa private key-----\nMIIEabc\n",
            "SK-abcdefghijklmnopqrstuvwxyz",
        ] {
            assert!(!token_regex().is_match(other), "{other}");
            assert_eq!(Redactor::default().redact(other), other);
        }
    }

    #[test]
    fn from_env_ignores_unset_names() {
        let r = Redactor::from_env(&["PADDOCK_SDK_TEST_SURELY_UNSET_VARIABLE"]);
        assert_eq!(r.value_count(), 0);
    }
}
