//! Tool output is untrusted: before a result reaches the model, characters
//! a human reviewing the log cannot see are removed — Unicode tag
//! characters (the "ASCII smuggling" block), zero-width and bidirectional
//! controls, variation-selector smuggling, C0/C1 control characters other
//! than tab and line breaks, and terminal escape sequences. The agent
//! records how many were removed.

use std::borrow::Cow;

/// Whether `c` is removed from tool output.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{E0000}'..='\u{E007F}'     // tag characters
        | '\u{E0100}'..='\u{E01EF}'   // variation selectors supplement
        | '\u{200B}'..='\u{200F}'     // zero-width space/joiners, LRM, RLM
        | '\u{202A}'..='\u{202E}'     // bidi embeddings and overrides
        | '\u{2060}'..='\u{2064}'     // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}'     // bidi isolates
        | '\u{061C}'                  // Arabic letter mark
        | '\u{180E}'                  // Mongolian vowel separator
        | '\u{FEFF}'                  // zero-width no-break space
        | '\u{FFF9}'..='\u{FFFB}'     // interlinear annotation
        | '\u{7F}'..='\u{9F}'         // DEL and C1 controls
    ) || (c < ' ' && !matches!(c, '\t' | '\n' | '\r'))
}

/// `text` without invisible characters and terminal escape sequences, and
/// how many characters were removed.
pub fn strip_invisible(text: &str) -> (Cow<'_, str>, u64) {
    if !text.chars().any(invisible) {
        return (Cow::Borrowed(text), 0);
    }
    let mut out = String::with_capacity(text.len());
    let mut removed = 0u64;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1B}' {
            removed += 1;
            match chars.peek() {
                // CSI: ESC [ parameters… final byte (@ to ~).
                Some('[') => {
                    chars.next();
                    removed += 1;
                    for n in chars.by_ref() {
                        removed += 1;
                        if ('@'..='~').contains(&n) {
                            break;
                        }
                    }
                }
                // OSC: ESC ] … BEL or ESC \.
                Some(']') => {
                    chars.next();
                    removed += 1;
                    while let Some(n) = chars.next() {
                        removed += 1;
                        if n == '\u{7}' {
                            break;
                        }
                        if n == '\u{1B}' && chars.peek() == Some(&'\\') {
                            chars.next();
                            removed += 1;
                            break;
                        }
                    }
                }
                // Two-character escapes (ESC c, ESC (B…).
                Some(n) if !n.is_whitespace() => {
                    chars.next();
                    removed += 1;
                }
                _ => {}
            }
            continue;
        }
        if invisible(c) {
            removed += 1;
        } else {
            out.push(c);
        }
    }
    (Cow::Owned(out), removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_is_borrowed() {
        let (t, n) = strip_invisible("plain\ttext\nwith lines\r\n and émoji 👍🏽");
        assert!(matches!(t, Cow::Borrowed(_)));
        assert_eq!(n, 0);
    }

    #[test]
    fn tags_zero_width_and_bidi_are_removed() {
        // "ignore previous" hidden in tag characters.
        let hidden: String = "ignore"
            .chars()
            .map(|c| char::from_u32(0xE0000 + c as u32).unwrap())
            .collect();
        let text = format!("ok{hidden}\u{200B}done\u{202E}cba\u{2066}x\u{FEFF}\u{E0101}");
        let (t, n) = strip_invisible(&text);
        assert_eq!(t, "okdonecbax");
        assert_eq!(n, 6 + 5);
    }

    #[test]
    fn controls_and_terminal_escapes_are_removed() {
        let (t, n) = strip_invisible("\u{1B}[1;31mred\u{1B}[0m bell\u{7} nul\u{0} c1\u{85}");
        assert_eq!(t, "red bell nul c1");
        assert_eq!(n, 7 + 4 + 3);
        let (t, _) = strip_invisible("a\u{1B}]0;title\u{7}b\u{1B}]8;;http://x\u{1B}\\c");
        assert_eq!(t, "abc");
        let (t, _) = strip_invisible("a\u{1B}");
        assert_eq!(t, "a");
    }
}
