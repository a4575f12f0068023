//! The streaming redactor (feature `streaming`): [`RedactStream`] redacts
//! text that arrives in pieces exactly as [`Redactor::redact`] redacts the
//! whole, holding back only what could still become a secret. Token shapes
//! are followed byte by byte with a DFA of the token shapes (built once,
//! on first use), which is why this is a feature: it pulls in a DFA builder
//! that plugins redacting whole results do not need.

use super::{REDACTED, Redactor, token_alternation};
use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::util::{primitives::StateID, start};
use regex_automata::{Anchored, MatchKind};
use std::borrow::Cow;
use std::sync::OnceLock;

impl Redactor {
    /// A redactor for text that arrives in pieces (see [`RedactStream`]).
    pub fn stream(&self) -> RedactStream<'_> {
        RedactStream {
            literals: self
                .values
                .iter()
                .map(|v| LiteralHold {
                    value: v,
                    held: String::new(),
                })
                .collect(),
            tokens: TokenHold::default(),
        }
    }
}

/// Most bytes a [`RedactStream`] holds back for a possible token. A token
/// shape still going on past this many bytes (a PEM key body, a huge
/// token-like blob) is emitted as [`REDACTED`] at once and whatever
/// continues it is swallowed until it ends, so memory stays bounded and
/// nothing of it leaks. Literal values are held back at most their own
/// length (less one byte) each.
pub const MAX_HELD_BYTES: usize = 4096;

/// Redacts text that arrives in pieces — a model's deltas, a command's
/// output — so that no secret is ever emitted split across pieces.
///
/// Each [`push`](RedactStream::push) returns the redacted text that can no
/// longer become part of a secret and holds back the rest: the tail that
/// is a prefix of a literal value, or a token shape that has begun (or may
/// be beginning: `s` could start `sk-`) and may go on. Ordinary text is
/// held back only where it could start a secret, by the few characters
/// that could (`e` of `eyJ`, `bea` of `bearer`), until the next piece
/// shows it does not. [`finish`](RedactStream::finish) returns the redacted
/// rest at the end of the stream. Put together, everything returned is
/// exactly [`Redactor::redact`] of the whole text, whatever the pieces —
/// except for a token shape held past [`MAX_HELD_BYTES`] that never
/// completes, which is redacted too.
///
/// ```
/// use paddock_scan::secrets::{Redactor, REDACTED};
///
/// let r = Redactor::with_values(["CANARYq7Zp3xW9vK2mT8".to_string()]);
/// let mut s = r.stream();
/// let mut seen = String::new();
/// for piece in ["pw: CANA", "RYq7", "Zp3x", "W9vK", "2mT8", " ok"] {
///     let out = s.push(piece);
///     assert!(!out.contains("RYq7"));
///     seen.push_str(&out);
/// }
/// seen.push_str(&s.finish());
/// assert_eq!(seen, format!("pw: {REDACTED} ok"));
/// ```
#[derive(Debug)]
pub struct RedactStream<'a> {
    /// One stage per literal value, in the order [`Redactor::redact_cow`]
    /// replaces them; each feeds the next.
    literals: Vec<LiteralHold<'a>>,
    /// The token shapes, fed by the last literal stage.
    tokens: TokenHold,
}

impl RedactStream<'_> {
    /// Takes the next piece; returns the redacted text that is safe to
    /// emit now (often all of it, sometimes less, possibly nothing).
    pub fn push(&mut self, text: &str) -> String {
        self.feed(text, false)
    }

    /// Ends the stream: returns the redacted text still held back. The
    /// stream is then empty, ready for a new text.
    pub fn finish(&mut self) -> String {
        self.feed("", true)
    }

    /// Forgets what is held back, unredacted and unemitted: the text it
    /// belongs to was abandoned (a model attempt that is retried). The
    /// stream is then empty, ready for a new text.
    pub fn discard(&mut self) {
        for stage in &mut self.literals {
            stage.held.clear();
        }
        self.tokens = TokenHold::default();
    }

    /// Bytes held back now.
    pub fn held(&self) -> usize {
        self.literals.iter().map(|l| l.held.len()).sum::<usize>() + self.tokens.held.len()
    }

    fn feed(&mut self, text: &str, end: bool) -> String {
        let mut text = Cow::Borrowed(text);
        for stage in &mut self.literals {
            if stage.passes(&text) {
                continue;
            }
            let mut out = String::with_capacity(text.len());
            stage.push(&text, end, &mut out);
            text = Cow::Owned(out);
        }
        let mut out = String::with_capacity(text.len());
        self.tokens.push(&text, end, &mut out);
        out
    }
}

/// The stage that replaces one literal value, as `str::replace` does on the
/// whole text (leftmost occurrences, not overlapping).
#[derive(Debug)]
struct LiteralHold<'a> {
    value: &'a str,
    /// The tail that is a proper prefix of `value`.
    held: String,
}

impl LiteralHold<'_> {
    /// Whether `text` goes through untouched: nothing is held and it holds
    /// neither an occurrence of the value nor the start of one.
    fn passes(&self, text: &str) -> bool {
        self.held.is_empty() && !text.as_bytes().contains(&self.value.as_bytes()[0])
    }

    fn push(&mut self, text: &str, end: bool, out: &mut String) {
        self.held.push_str(text);
        let mut done = 0;
        for (i, v) in self.held.match_indices(self.value) {
            out.push_str(&self.held[done..i]);
            out.push_str(REDACTED);
            done = i + v.len();
        }
        // The earliest tail that the value could continue. A value starts
        // with a whole character, so a match is at a character boundary.
        let bytes = self.held.as_bytes();
        let value = self.value.as_bytes();
        let keep = if end {
            bytes.len()
        } else {
            let lowest = done.max((bytes.len() + 1).saturating_sub(value.len()));
            (lowest..bytes.len())
                .find(|&k| value.starts_with(&bytes[k..]))
                .unwrap_or(bytes.len())
        };
        out.push_str(&self.held[done..keep]);
        self.held.drain(..keep);
    }
}

/// [`TOKEN_PATTERNS`](super::TOKEN_PATTERNS) as a DFA that runs anchored
/// at a start position and says, byte by byte, whether a token starting
/// there can still go on (dead state: no), and where its match ends
/// (leftmost-first, as [`token_regex`](super::token_regex); match states
/// come one byte late).
struct TokenDfa {
    dfa: dense::DFA<Vec<u32>>,
    start: StateID,
    /// Bytes a token can start with.
    starts: [bool; 256],
}

/// The token DFA, built once per process on first use (about 230 KiB),
/// or `None` should it ever fail to build.
fn token_dfa() -> Option<&'static TokenDfa> {
    static DFA: OnceLock<Option<TokenDfa>> = OnceLock::new();
    DFA.get_or_init(|| {
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .start_kind(StartKind::Anchored)
                    .match_kind(MatchKind::LeftmostFirst),
            )
            .build(&token_alternation())
            .ok()?;
        let start = dfa
            .start_state(&start::Config::new().anchored(Anchored::Yes))
            .ok()?;
        let mut starts = [false; 256];
        for (b, s) in starts.iter_mut().enumerate() {
            *s = !dfa.is_dead_state(dfa.next_state(start, b as u8));
        }
        Some(TokenDfa { dfa, start, starts })
    })
    .as_ref()
}

/// How a token run over the bytes given to it went.
enum Run {
    /// It may still go on: its state, and where its latest match ends.
    Open(StateID, Option<usize>),
    /// It ended: where its match ends (none: no token there), and the byte
    /// that ended it (the end of the text at the end of the stream).
    Ended(Option<usize>, usize),
}

impl TokenDfa {
    /// Runs the DFA from `state` over `bytes[from..]`; `end`: the text ends
    /// there.
    fn run(
        &self,
        mut state: StateID,
        mut matched: Option<usize>,
        bytes: &[u8],
        from: usize,
        end: bool,
    ) -> Run {
        for (i, &b) in bytes.iter().enumerate().skip(from) {
            state = self.dfa.next_state(state, b);
            if self.dfa.is_special_state(state) {
                if self.dfa.is_dead_state(state) || self.dfa.is_quit_state(state) {
                    return Run::Ended(matched, i);
                }
                if self.dfa.is_match_state(state) {
                    matched = Some(i);
                }
            }
        }
        if end {
            if self.dfa.is_match_state(self.dfa.next_eoi_state(state)) {
                matched = Some(bytes.len());
            }
            return Run::Ended(matched, bytes.len());
        }
        Run::Open(state, matched)
    }
}

/// A token that began at the start of [`TokenHold::held`] and may go on.
#[derive(Clone, Copy, Debug)]
struct Open {
    state: StateID,
    /// Where its latest match ends in `held`.
    matched: Option<usize>,
    /// It outgrew [`MAX_HELD_BYTES`] and was emitted as [`REDACTED`]:
    /// `held` keeps only what came after its latest match.
    swallowed: bool,
}

/// The stage that replaces token shapes, as `token_regex().replace_all`
/// does on the whole text.
#[derive(Debug, Default)]
struct TokenHold {
    /// Text not emitted yet: empty, or the text of `open`.
    held: String,
    open: Option<Open>,
}

impl TokenHold {
    fn push(&mut self, text: &str, end: bool, out: &mut String) {
        let Some(dfa) = token_dfa() else {
            // Without the DFA: hold everything, redact it whole at the end
            // or when it grows too big.
            self.held.push_str(text);
            if end || self.held.len() > MAX_HELD_BYTES {
                out.push_str(&Redactor::default().redact(&self.held));
                self.held.clear();
            }
            return;
        };
        let from = self.held.len();
        self.held.push_str(text);
        let bytes = self.held.as_bytes();
        // Emitted (or swallowed) up to `done`; candidates from `next`.
        let (mut done, mut next) = (0, 0);
        if let Some(open) = self.open.take() {
            match dfa.run(open.state, open.matched, bytes, from, end) {
                Run::Open(state, matched) => {
                    self.open = Some(Open {
                        state,
                        matched,
                        swallowed: open.swallowed,
                    });
                    self.bound(out);
                    return;
                }
                Run::Ended(Some(e), _) => {
                    if !open.swallowed {
                        out.push_str(REDACTED);
                    }
                    (done, next) = (e, e);
                }
                Run::Ended(None, at) if open.swallowed => {
                    // It never became a token: redacted all the same, up
                    // to the character that ended it.
                    let at = (0..=at)
                        .rev()
                        .find(|&i| self.held.is_char_boundary(i))
                        .unwrap_or(0);
                    (done, next) = (at, at);
                }
                Run::Ended(None, _) => next = 1,
            }
        }
        while let Some(c) = (next..bytes.len())
            .find(|&i| dfa.starts[bytes[i] as usize] && self.held.is_char_boundary(i))
        {
            match dfa.run(dfa.start, None, bytes, c, end) {
                Run::Open(state, matched) => {
                    out.push_str(&self.held[done..c]);
                    done = c;
                    self.open = Some(Open {
                        state,
                        matched: matched.map(|m| m - c),
                        swallowed: false,
                    });
                    break;
                }
                Run::Ended(Some(e), _) => {
                    out.push_str(&self.held[done..c]);
                    out.push_str(REDACTED);
                    (done, next) = (e, e);
                }
                Run::Ended(None, _) => next = c + 1,
            }
        }
        if self.open.is_none() {
            out.push_str(&self.held[done..]);
            done = self.held.len();
        }
        self.held.drain(..done);
        self.bound(out);
    }

    /// Keeps what is held within [`MAX_HELD_BYTES`]: an open token that
    /// outgrew it is emitted as [`REDACTED`] now and swallowed from then
    /// on; a swallowed one keeps only the text after its latest match (what
    /// follows its end, should it end there).
    fn bound(&mut self, out: &mut String) {
        let Some(open) = &mut self.open else {
            return;
        };
        if !open.swallowed && self.held.len() > MAX_HELD_BYTES {
            out.push_str(REDACTED);
            open.swallowed = true;
        }
        if open.swallowed {
            match open.matched {
                Some(e) if self.held.len() - e <= MAX_HELD_BYTES => {
                    self.held.drain(..e);
                    open.matched = Some(0);
                }
                _ => {
                    self.held.clear();
                    open.matched = None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64*), so failures repeat.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
        fn chars(&mut self, class: &str, n: usize) -> String {
            let class: Vec<char> = class.chars().collect();
            (0..n).map(|_| class[self.below(class.len())]).collect()
        }
    }

    const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    /// Literal values of the generated texts: one contains another, two
    /// overlap, one has multi-byte characters, one looks like the redaction
    /// placeholder.
    const VALUES: &[&str] = &[
        "CANARYq7Zp3xW9vK2mT8",
        "q7Zp3x",
        "hunter2-hunter2",
        "er2-hunter2-extra",
        "pässwörd-日本-🦀",
        "ED]tail-secret",
    ];

    /// A text mixing prose, multi-byte characters, literal values, token
    /// shapes (complete, too short, cut off) and their prefixes.
    fn random_text(rng: &mut Rng) -> String {
        let mut t = String::new();
        for _ in 0..rng.below(12) + 1 {
            match rng.below(16) {
                0 => t.push_str(rng.pick(VALUES)),
                1 => {
                    let v = rng.pick(VALUES);
                    let cut = rng.below(v.chars().count());
                    t.extend(v.chars().take(cut));
                }
                2 => {
                    let n = rng.below(30) + 5;
                    t.push_str(&format!("sk-{}", rng.chars(ALNUM, n)));
                }
                3 => {
                    let n = rng.below(40) + 20;
                    let p = rng.pick(&["ghp_", "gho_", "ghs_", "github_pat_", "glpat-", "xoxb-"]);
                    t.push_str(&format!("{p}{}", rng.chars(ALNUM, n)));
                }
                4 => {
                    let n = rng.below(6) + 14;
                    t.push_str(&format!(
                        "AKIA{}",
                        rng.chars("ABCDEFGHIJKLMNOP0123456789", n)
                    ));
                }
                5 => {
                    let (a, b, c) = (rng.below(14) + 5, rng.below(14) + 5, rng.below(14) + 5);
                    t.push_str(&format!(
                        "eyJ{}.eyJ{}.{}",
                        rng.chars(ALNUM, a),
                        rng.chars(ALNUM, b),
                        rng.chars(ALNUM, c)
                    ));
                }
                6 => {
                    let n = rng.below(20) + 12;
                    let b = rng.pick(&["Bearer ", "bearer  ", "BEARER\t", "bearer\u{a0}"]);
                    t.push_str(&format!(
                        "{b}{}{}",
                        rng.chars(ALNUM, n),
                        rng.pick(&["", "=", "=="])
                    ));
                }
                7 => {
                    let n = rng.below(80) + 1;
                    let body = rng.chars(ALNUM, n);
                    let end = rng.pick(&["-----END RSA PRIVATE KEY-----", "", "-----END RSA"]);
                    t.push_str(&format!("-----BEGIN RSA PRIVATE KEY-----\n{body}\n{end}"));
                }
                8 => t.push_str(rng.pick(&[
                    "s",
                    "sk",
                    "sk-",
                    "gh",
                    "ghp",
                    "github_",
                    "xox",
                    "AKI",
                    "AIz",
                    "eyJ",
                    "eyJab.",
                    "b",
                    "bea",
                    "bearer",
                    "-",
                    "-----",
                    "-----BEGIN ",
                    "-----BEGIN RSA PRIV",
                ])),
                9 => t.push_str(rng.pick(&["[REDACTED]", "[RED", "ACTED]", "ED]", "]"])),
                10 => t.push_str(rng.pick(&["é", "日本語", "🦀", "\u{2010}", "\u{a0}", "ſ", "K"])),
                _ => t.push_str(rng.pick(&[
                    "the ", "beast ", "sees ", "a key: ", "\n", "  ", "x=", "-- ", "gap ",
                    "token ", "eye ", "Axe ", "bubble ", "a.b ", "====",
                ])),
            }
        }
        t
    }

    /// Splits `text` at random character boundaries into pieces of 1 to
    /// `max` characters.
    fn random_pieces(rng: &mut Rng, text: &str, max: usize) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        let mut pieces = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let n = (rng.below(max) + 1).min(chars.len() - i);
            pieces.push(chars[i..i + n].iter().collect());
            i += n;
        }
        pieces
    }

    fn streamed(r: &Redactor, pieces: &[String]) -> String {
        let mut s = r.stream();
        let mut out = String::new();
        for p in pieces {
            out.push_str(&s.push(p));
        }
        out.push_str(&s.finish());
        assert_eq!(s.held(), 0);
        out
    }

    #[test]
    fn streamed_pieces_put_together_are_the_redaction_of_the_whole() {
        let r = Redactor::with_values(VALUES.iter().map(|v| v.to_string()));
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..4000 {
            let text = random_text(&mut rng);
            let max = [1, 2, 3, 5, 16, 1000][round % 6];
            let pieces = random_pieces(&mut rng, &text, max);
            assert_eq!(
                streamed(&r, &pieces),
                r.redact(&text),
                "round {round}, pieces {pieces:?}"
            );
        }
    }

    #[test]
    fn a_secret_in_pieces_of_one_to_three_characters_never_goes_out_split() {
        let secret = "CANARYq7Zp3xW9vK2mT8";
        let token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
        let r = Redactor::with_values([secret.to_string()]);
        let text = format!("the key is {secret}, the token {token}; done");
        let mut rng = Rng(7);
        for _ in 0..500 {
            let pieces = random_pieces(&mut rng, &text, 3);
            let mut s = r.stream();
            let mut out = String::new();
            for p in &pieces {
                let o = s.push(p);
                // Nothing of either secret is ever emitted, even in part.
                assert!(!o.contains("RYq7") && !o.contains("abcdef"), "{o:?}");
                out.push_str(&o);
            }
            out.push_str(&s.finish());
            assert_eq!(
                out,
                format!("the key is {REDACTED}, the token {REDACTED}; done")
            );
        }
    }

    #[test]
    fn ordinary_text_is_held_back_only_where_a_secret_could_start() {
        let r = Redactor::with_values(["CANARYq7Zp3xW9vK2mT8".to_string()]);
        let mut s = r.stream();
        assert_eq!(s.push("Hello world, "), "Hello world, ");
        // `e` could begin `eyJ`, `C` the value: held until the next piece.
        assert_eq!(s.push("nice"), "nic");
        assert_eq!(s.held(), 1);
        assert_eq!(s.push(" day. C"), "e day. ");
        assert_eq!(s.push("at"), "Cat");
        assert_eq!(s.held(), 0);
        assert_eq!(s.finish(), "");
        let prose = "It works: the function returns 42 and the tests pass.\n";
        let mut rng = Rng(3);
        let plain = Redactor::default();
        for max in [1, 3, 8] {
            let mut s = plain.stream();
            let mut out = String::new();
            for piece in random_pieces(&mut rng, prose, max) {
                out.push_str(&s.push(&piece));
                assert!(s.held() <= 1, "{piece:?} left {} bytes held", s.held());
            }
            out.push_str(&s.finish());
            assert_eq!(out, prose);
        }
    }

    #[test]
    fn what_is_held_stays_bounded_and_long_secrets_are_swallowed_whole() {
        let r = Redactor::default();
        let feed = |text: &str, piece: usize| {
            let mut s = r.stream();
            let mut out = String::new();
            let mut max_held = 0;
            let chars: Vec<char> = text.chars().collect();
            for chunk in chars.chunks(piece) {
                out.push_str(&s.push(&chunk.iter().collect::<String>()));
                max_held = max_held.max(s.held());
            }
            out.push_str(&s.finish());
            (out, max_held)
        };
        // A token-shaped megabyte: one placeholder, never more than the cap held.
        let blob = format!("a sk-{} b", "x".repeat(1 << 20));
        let (out, held) = feed(&blob, 7);
        assert_eq!(out, format!("a {REDACTED} b"));
        assert_eq!(out, r.redact(&blob));
        assert!(held <= MAX_HELD_BYTES + 7, "{held}");
        // A private key longer than the cap, exactly as redacted whole.
        let pem = format!(
            "key:\n-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\nnext",
            "QUJD\n".repeat(3000)
        );
        let (out, held) = feed(&pem, 5);
        assert_eq!(out, format!("key:\n{REDACTED}\nnext"));
        assert!(held <= MAX_HELD_BYTES + 5, "{held}");
        // …and one cut off by the end of the stream.
        let (out, _) = feed(&pem[..pem.len() / 2], 64);
        assert_eq!(out, format!("key:\n{REDACTED}"));
        // A shape that looked like a token past the cap and then was not
        // one is redacted all the same (the only case where the stream
        // redacts more than the whole text would), up to the character
        // that ended it — here one whose encoding ended it mid-way.
        let text = format!("bearer{}x\u{2010}after", " ".repeat(5000));
        let (out, held) = feed(&text, 1);
        assert_eq!(out, format!("{REDACTED}\u{2010}after"));
        assert!(held <= MAX_HELD_BYTES + 1, "{held}");
    }

    #[test]
    fn a_stream_starts_over_after_finish() {
        let r = Redactor::with_values(["hunter2-hunter2".to_string()]);
        let mut s = r.stream();
        assert_eq!(s.push("pw hunter2-hun"), "pw ");
        assert_eq!(s.finish(), "hunter2-hun");
        assert_eq!(s.push("ter2"), "ter2");
        assert_eq!(s.finish(), "");
        assert_eq!(s.push("pw hunter2-hun"), "pw ");
        assert_eq!(s.push("ter2 sk-abc"), format!("{REDACTED} "));
        assert_eq!(s.push("def"), "");
        assert!(s.held() > 0);
        s.discard();
        assert_eq!(s.held(), 0);
        assert_eq!(s.push("ter2"), "ter2");
        assert_eq!(s.finish(), "");
    }
}
