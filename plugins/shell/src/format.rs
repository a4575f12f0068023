//! How a command's outcome reads for the model.
//!
//! ```text
//! exit_code: 1
//! duration: 2.4 s
//! <stdout>
//! running 3 tests
//! test parse ... FAILED
//! </stdout>
//! <stderr>
//! error: test failed, to rerun pass `--lib`
//! </stderr>
//! note: …
//! ```
//!
//! A stream with no output reads `<stdout></stdout>`. Notes (timeout,
//! signal, truncation) come last, one per line, each starting `note:`.

use paddock_sdk::exec::Output;
use serde_json::json;

pub use paddock_sdk::report::{
    STREAM_CAP, STREAM_HARD_CAP, block, exit_line, fit, human_duration, was_truncated,
};

/// The name and a gloss of the signals a model most often meets.
fn signal_gloss(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        6 => "SIGABRT: the program aborted, e.g. a failed assertion or a panic with panic=abort",
        9 => "SIGKILL: often the sandbox's memory limit (out of memory)",
        11 => "SIGSEGV: a segmentation fault",
        13 => "SIGPIPE: the reader of a pipe went away, usually harmless after `| head`",
        15 => "SIGTERM: something asked it to stop",
        _ => return None,
    })
}

/// Notes about the outcome: timeout, signals, well-known exit codes,
/// truncation. `timeout_secs` is the limit the command ran under.
pub fn notes(out: &Output, timeout_secs: u64, truncated: bool) -> Vec<String> {
    let mut notes = Vec::new();
    if out.timed_out {
        notes.push(format!(
            "timed out: killed after {timeout_secs} s; output so far above. Give a larger \
             `timeout_secs` (at most 600), or for servers and watchers use `background: true`."
        ));
    } else {
        match out.exit_code {
            None => notes.push(
                "killed by a signal before it exited (no exit code): the sandbox may have run \
                 out of memory or processes, or the command was killed."
                    .to_string(),
            ),
            Some(126) => notes.push(
                "exit code 126: a program was found but could not be run (not executable? \
                 try `chmod +x` or run it through its interpreter)."
                    .to_string(),
            ),
            Some(127) => notes.push(
                "exit code 127: command not found: the program is not installed in the sandbox \
                 or not on PATH."
                    .to_string(),
            ),
            Some(code) if (129..=192).contains(&code) => {
                let signal = code - 128;
                let gloss = signal_gloss(signal)
                    .map(|g| format!(" ({g})"))
                    .unwrap_or_default();
                notes.push(format!(
                    "exit code {code} = 128 + {signal}: a process was killed by signal {signal}{gloss}."
                ));
            }
            Some(_) => {}
        }
    }
    if truncated {
        notes.push(truncation_note());
    }
    notes
}

/// The note on output that was cut.
pub fn truncation_note() -> String {
    format!(
        "output truncated: each stream keeps its first and last {} KiB (the cut is marked \
         above). Narrow it with grep, head or tail, or redirect it to a file under /workspace \
         and read the parts you need.",
        STREAM_CAP / 2 / 1024
    )
}

/// The body shared by finished commands and jobs: the duration (labelled
/// `label`), the two streams and the notes.
pub fn body(label: &str, out: &Output, notes: &[String]) -> String {
    let mut text = format!("{label}: {}\n", human_duration(out.duration_ms));
    text.push_str(&block("stdout", &out.stdout));
    text.push_str(&block("stderr", &out.stderr));
    for note in notes {
        text.push_str("note: ");
        text.push_str(note);
        text.push('\n');
    }
    text
}

/// A finished command as the model reads it.
pub fn render(out: &Output, timeout_secs: u64) -> String {
    let notes = notes(out, timeout_secs, was_truncated(out));
    format!("{}\n{}", exit_line(out), body("duration", out, &notes))
}

/// The machine-readable outcome (the model does not see it).
pub fn structured(out: &Output) -> serde_json::Value {
    json!({
        "exit_code": out.exit_code,
        "timed_out": out.timed_out,
        "truncated": was_truncated(out),
        "duration_ms": out.duration_ms,
        "stdout_bytes": out.stdout.len(),
        "stderr_bytes": out.stderr.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn output(code: Option<i32>, stdout: &str, stderr: &str) -> Output {
        Output {
            exit_code: code,
            stdout: stdout.to_string(),
            stderr: stderr.to_string(),
            truncated: false,
            timed_out: false,
            duration_ms: 1234,
        }
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(0), "0 ms");
        assert_eq!(human_duration(999), "999 ms");
        assert_eq!(human_duration(1234), "1.2 s");
        assert_eq!(human_duration(600_000), "600.0 s");
    }

    #[test]
    fn success_renders_exit_code_and_streams() {
        let text = render(&output(Some(0), "hi\n", ""), 30);
        assert_eq!(
            text,
            "exit_code: 0\nduration: 1.2 s\n<stdout>\nhi\n</stdout>\n<stderr></stderr>\n"
        );
    }

    #[test]
    fn stream_without_final_newline_gets_one() {
        let text = render(&output(Some(2), "", "boom"), 30);
        assert!(
            text.contains("<stdout></stdout>\n<stderr>\nboom\n</stderr>\n"),
            "{text}"
        );
        assert!(text.starts_with("exit_code: 2\n"), "{text}");
        assert!(!text.contains("note:"), "{text}");
    }

    #[test]
    fn timeout_note() {
        let mut out = output(None, "partial\n", "");
        out.timed_out = true;
        let text = render(&out, 45);
        assert!(text.starts_with("exit_code: none (timed out)\n"), "{text}");
        assert!(
            text.contains("note: timed out: killed after 45 s; output so far above."),
            "{text}"
        );
        assert!(text.contains("background: true"), "{text}");
        assert!(text.contains("<stdout>\npartial\n</stdout>"), "{text}");
    }

    #[test]
    fn signal_notes() {
        let text = render(&output(None, "", ""), 30);
        assert!(
            text.starts_with("exit_code: none (killed by a signal)"),
            "{text}"
        );
        assert!(text.contains("note: killed by a signal"), "{text}");
        let text = render(&output(Some(137), "", ""), 30);
        assert!(text.contains("128 + 9"), "{text}");
        assert!(text.contains("SIGKILL"), "{text}");
        let text = render(&output(Some(139), "", ""), 30);
        assert!(text.contains("SIGSEGV"), "{text}");
        let text = render(&output(Some(160), "", ""), 30);
        assert!(text.contains("killed by signal 32."), "{text}");
        let text = render(&output(Some(127), "", "bash: nope: command not found"), 30);
        assert!(text.contains("command not found: the program"), "{text}");
        for code in [1, 2, 128, 255] {
            let text = render(&output(Some(code), "", ""), 30);
            assert!(!text.contains("note:"), "{code}: {text}");
        }
    }

    #[test]
    fn truncation_note() {
        let mut out = output(Some(0), "a\n[… 10 bytes of stdout cut: …]\nb\n", "");
        out.truncated = true;
        let text = render(&out, 30);
        assert!(text.contains("note: output truncated"), "{text}");
        assert!(text.contains("first and last 32 KiB"), "{text}");
        assert_eq!(structured(&out)["truncated"], true);
    }

    #[test]
    fn oversized_streams_are_cut_here_too() {
        let big = format!("{}é{}", "a".repeat(STREAM_HARD_CAP), "z".repeat(100));
        let out = output(Some(0), &big, "");
        let text = render(&out, 30);
        assert!(text.len() < STREAM_HARD_CAP + 1000, "{}", text.len());
        assert!(text.contains("bytes of stdout cut"), "cut marker");
        assert!(text.contains(&"z".repeat(100)), "keeps the end");
        assert!(text.contains("note: output truncated"));
        assert_eq!(structured(&out)["truncated"], true);
    }

    #[test]
    fn fit_respects_char_boundaries() {
        let (s, cut) = fit("ééééé", 5, "stdout");
        assert!(cut);
        assert!(s.starts_with('é') && s.ends_with('é'), "{s}");
        assert_eq!(fit("short", 5, "stdout"), ("short".to_string(), false));
    }

    #[test]
    fn structured_form() {
        let v = structured(&output(Some(3), "ab", "c"));
        assert_eq!(v["exit_code"], 3);
        assert_eq!(v["timed_out"], false);
        assert_eq!(v["duration_ms"], 1234);
        assert_eq!(v["stdout_bytes"], 2);
        assert_eq!(v["stderr_bytes"], 1);
        assert!(structured(&output(None, "", ""))["exit_code"].is_null());
    }
}
