//! How a command's outcome reads for a model: the pieces `execute_bash` and
//! `git_operation` share (and any plugin that runs commands may use) — the
//! exit line, a human duration, and each stream as a tagged block, cut to a
//! cap with its start and end kept.

use crate::exec::Output;

/// Bytes of stdout, and of stderr, to ask of the host per command. The host
/// keeps the first and the last half of each stream and marks the cut.
pub const STREAM_CAP: u64 = 64 * 1024;

/// A stream longer than this is cut again here (keeping its start and end),
/// in case a host kept more than was asked: the result must stay well under
/// the host's cap on a tool's answer.
pub const STREAM_HARD_CAP: usize = STREAM_CAP as usize + 4 * 1024;

/// `1234` → `1.2 s`, `40` → `40 ms`.
pub fn human_duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// `text` cut to about `max` bytes, keeping its first and last halves (on
/// character boundaries) with a marker in between; unchanged when it fits.
/// The flag says whether anything was cut.
pub fn fit(text: &str, max: usize, stream: &str) -> (String, bool) {
    if text.len() <= max {
        return (text.to_string(), false);
    }
    let mut head_end = max / 2;
    while !text.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let mut tail_start = text.len() - max / 2;
    while !text.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    let cut = tail_start - head_end;
    (
        format!(
            "{}\n[… {cut} bytes of {stream} cut …]\n{}",
            &text[..head_end],
            &text[tail_start..]
        ),
        true,
    )
}

/// One stream as a tagged block: `<stdout>\n…\n</stdout>`, or
/// `<stdout></stdout>` when empty.
pub fn block(tag: &str, text: &str) -> String {
    if text.is_empty() {
        return format!("<{tag}></{tag}>\n");
    }
    let (text, _) = fit(text, STREAM_HARD_CAP, tag);
    let newline = if text.ends_with('\n') { "" } else { "\n" };
    format!("<{tag}>\n{text}{newline}</{tag}>\n")
}

/// Whether a stream was cut, by the host or by [`block`].
pub fn was_truncated(out: &Output) -> bool {
    out.truncated || out.stdout.len() > STREAM_HARD_CAP || out.stderr.len() > STREAM_HARD_CAP
}

/// The `exit_code: …` line.
pub fn exit_line(out: &Output) -> String {
    match out.exit_code {
        Some(code) => format!("exit_code: {code}"),
        None if out.timed_out => "exit_code: none (timed out)".to_string(),
        None => "exit_code: none (killed by a signal)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting() {
        assert_eq!(fit("short", 10, "stdout"), ("short".to_string(), false));
        let (cut, was_cut) = fit(
            &format!("{}é{}", "a".repeat(10), "b".repeat(10)),
            10,
            "stdout",
        );
        assert!(was_cut);
        assert!(cut.starts_with("aaaaa\n[… "), "{cut}");
        assert!(cut.ends_with("\nbbbbb"), "{cut}");
        assert!(cut.contains("bytes of stdout cut"), "{cut}");
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(85), "85 ms");
        assert_eq!(human_duration(61_000), "61.0 s");
    }

    #[test]
    fn blocks() {
        assert_eq!(block("stdout", ""), "<stdout></stdout>\n");
        assert_eq!(block("stderr", "x"), "<stderr>\nx\n</stderr>\n");
    }
}
