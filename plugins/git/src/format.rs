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

pub use paddock_sdk::report::{STREAM_CAP, block, exit_line, human_duration, was_truncated};

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
    let mut text = format!(
        "{}\n{}\nduration: {}\n",
        command_line(argv),
        exit_line(out),
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
}
