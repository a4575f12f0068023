//! How git's outcome reads for the model (the same layout as
//! `execute_bash`):
//!
//! ```text
//! $ git commit -m 'Fix the parser'
//! exit_code: 0
//! duration: 85 ms
//! <stdout>
//! [main 1a2b3c4] Fix the parser
//!  1 file changed, 2 insertions(+)
//! </stdout>
//! <stderr></stderr>
//! ```
//!
//! followed by `note:` lines (timeout, no network, no repository, output
//! cut).

use paddock_sdk::exec::Output;

/// Bytes of stdout, and of stderr, asked of the host. The host keeps the
/// first and the last half of each stream and marks the cut.
pub const STREAM_CAP: u64 = 64 * 1024;

/// A stream longer than this is cut again here, in case a host kept more
/// than was asked: the result must stay well under the host's cap.
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
/// character boundaries) with a marker in between.
pub fn fit(text: &str, max: usize, stream: &str) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut head_end = max / 2;
    while !text.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let mut tail_start = text.len() - max / 2;
    while !text.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    format!(
        "{}\n[… {} bytes of {stream} cut …]\n{}",
        &text[..head_end],
        tail_start - head_end,
        &text[tail_start..]
    )
}

/// One stream as a tagged block.
pub fn block(tag: &str, text: &str) -> String {
    if text.is_empty() {
        return format!("<{tag}></{tag}>\n");
    }
    let text = fit(text, STREAM_HARD_CAP, tag);
    let newline = if text.ends_with('\n') { "" } else { "\n" };
    format!("<{tag}>\n{text}{newline}</{tag}>\n")
}

/// Whether a stream was cut, by the host or here.
pub fn was_truncated(out: &Output) -> bool {
    out.truncated || out.stdout.len() > STREAM_HARD_CAP || out.stderr.len() > STREAM_HARD_CAP
}

/// An argument as a shell would need it quoted, for the `$ git …` line.
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    '-' | '_' | '.' | '/' | ':' | '@' | '%' | '+' | '=' | ',' | '^' | '~'
                )
        });
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// The command line as the first line of the result.
pub fn command_line(argv: &[String]) -> String {
    let words: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
    format!("$ {}", words.join(" "))
}

/// The whole result.
pub fn render(argv: &[String], out: &Output, notes: &[String]) -> String {
    let exit = match out.exit_code {
        Some(code) => format!("exit_code: {code}"),
        None if out.timed_out => "exit_code: none (timed out)".to_string(),
        None => "exit_code: none (killed by a signal)".to_string(),
    };
    let mut text = format!(
        "{}\n{exit}\nduration: {}\n",
        command_line(argv),
        human_duration(out.duration_ms)
    );
    text.push_str(&block("stdout", &out.stdout));
    text.push_str(&block("stderr", &out.stderr));
    for note in notes {
        text.push_str("note: ");
        text.push_str(note);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("status"), "status");
        assert_eq!(shell_quote("--format=%h"), "--format=%h");
        assert_eq!(shell_quote("HEAD~1"), "HEAD~1");
        assert_eq!(shell_quote("Fix the parser"), "'Fix the parser'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a*b"), "'a*b'");
        let argv: Vec<String> = ["git", "commit", "-m", "x y"].map(String::from).into();
        assert_eq!(command_line(&argv), "$ git commit -m 'x y'");
    }

    #[test]
    fn fitting() {
        assert_eq!(fit("short", 10, "stdout"), "short");
        let cut = fit(
            &format!("{}é{}", "a".repeat(10), "b".repeat(10)),
            10,
            "stdout",
        );
        assert!(cut.starts_with("aaaaa\n[… "), "{cut}");
        assert!(cut.ends_with("\nbbbbb"), "{cut}");
        assert!(cut.contains("bytes of stdout cut"), "{cut}");
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(85), "85 ms");
        assert_eq!(human_duration(61_000), "61.0 s");
    }
}
