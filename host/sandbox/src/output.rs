//! A command's output: captured up to a cap per stream (head and tail kept,
//! with a note saying how much was cut) and streamed to a sink while the
//! command runs.

use tokio::sync::mpsc;

/// Which stream a chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamKind {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl StreamKind {
    /// `stdout` or `stderr`.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Stdout => "stdout",
            StreamKind::Stderr => "stderr",
        }
    }
}

/// A piece of output as it arrives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputChunk {
    /// The stream.
    pub stream: StreamKind,
    /// The text (lossy UTF-8 of the bytes read).
    pub text: String,
}

/// Where live output goes (the agent turns it into `tool.output` events).
/// Unbounded, but each command sends at most its output cap per stream.
pub type OutputSink = mpsc::UnboundedSender<OutputChunk>;

/// Captures one stream: the first half of the cap and the last half, so a
/// long test run keeps both its start and its summary.
#[derive(Debug)]
pub struct Capture {
    stream: StreamKind,
    cap: usize,
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    total: u64,
    streamed: usize,
    sink: Option<OutputSink>,
    /// The first bytes of a character whose last bytes are not read yet,
    /// streamed with them.
    split: Vec<u8>,
}

impl Capture {
    /// A capture of `stream` keeping at most `cap` bytes, streaming the
    /// first `cap` bytes to `sink`.
    pub fn new(stream: StreamKind, cap: usize, sink: Option<OutputSink>) -> Capture {
        Capture {
            stream,
            cap,
            head: Vec::new(),
            tail: std::collections::VecDeque::new(),
            total: 0,
            streamed: 0,
            sink,
            split: Vec::new(),
        }
    }

    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if self.sink.is_some() && self.streamed < self.cap {
            let n = bytes.len().min(self.cap - self.streamed);
            self.streamed += n;
            let text = self.decode(&bytes[..n]);
            if !text.is_empty()
                && let Some(sink) = &self.sink
                && sink
                    .send(OutputChunk {
                        stream: self.stream,
                        text,
                    })
                    .is_err()
            {
                self.sink = None;
            }
        }
        let head_cap = self.cap - self.cap / 2;
        let mut rest = bytes;
        if self.head.len() < head_cap {
            let n = rest.len().min(head_cap - self.head.len());
            self.head.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
        let tail_cap = self.cap / 2;
        if tail_cap == 0 {
            return;
        }
        if rest.len() >= tail_cap {
            self.tail.clear();
            self.tail.extend(&rest[rest.len() - tail_cap..]);
        } else {
            let overflow = (self.tail.len() + rest.len()).saturating_sub(tail_cap);
            self.tail.drain(..overflow);
            self.tail.extend(rest);
        }
    }

    /// The text of bytes to stream. A character split across reads is held
    /// back until its last byte is read, so it is streamed whole — not as
    /// two U+FFFD, nor a secret holding it as two halves that redaction
    /// cannot recognise; bytes that are not UTF-8 become U+FFFD as before.
    /// A character cut off by the end of the output (or by the cap) is not
    /// streamed; the captured text shows it as U+FFFD.
    fn decode(&mut self, bytes: &[u8]) -> String {
        if self.split.is_empty() && incomplete_suffix(bytes) == 0 {
            return String::from_utf8_lossy(bytes).into_owned();
        }
        let mut all = std::mem::take(&mut self.split);
        all.extend_from_slice(bytes);
        self.split = all.split_off(all.len() - incomplete_suffix(&all));
        String::from_utf8_lossy(&all).into_owned()
    }

    /// Bytes seen in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Whether bytes were dropped.
    pub fn truncated(&self) -> bool {
        self.total > (self.head.len() + self.tail.len()) as u64
    }

    /// The text kept so far (lossy UTF-8), with a note where bytes were cut.
    pub fn text(&self) -> String {
        let kept = (self.head.len() + self.tail.len()) as u64;
        let mut out = String::from_utf8_lossy(&self.head).into_owned();
        if self.total > kept {
            out.push_str(&format!(
                "\n[… {} bytes of {} cut: output over {} bytes …]\n",
                self.total - kept,
                self.stream.as_str(),
                self.cap
            ));
        }
        let (a, b) = self.tail.as_slices();
        let mut tail = a.to_vec();
        tail.extend_from_slice(b);
        out.push_str(&String::from_utf8_lossy(&tail));
        out
    }
}

/// How many bytes at the end of `bytes` begin a character whose last
/// bytes are missing (0 to 3).
fn incomplete_suffix(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let b = bytes[bytes.len() - back];
        if b & 0xC0 == 0x80 {
            // A continuation byte: its lead is further back.
            continue;
        }
        let len = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return 0,
        };
        return if len > back { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_everything_under_the_cap() {
        let mut c = Capture::new(StreamKind::Stdout, 100, None);
        c.push(b"hello ");
        c.push(b"world");
        assert_eq!(c.text(), "hello world");
        assert!(!c.truncated());
    }

    #[test]
    fn keeps_head_and_tail_over_the_cap() {
        let mut c = Capture::new(StreamKind::Stderr, 10, None);
        for i in 0..100u8 {
            c.push(&[b'a' + (i % 26)]);
        }
        assert!(c.truncated());
        assert_eq!(c.total(), 100);
        let t = c.text();
        assert!(t.starts_with("abcde\n[… 90 bytes of stderr cut"), "{t}");
        // The last five bytes pushed were indexes 95..100 → 'r'..'v'.
        assert!(t.ends_with("rstuv"), "{t}");
    }

    #[test]
    fn tail_of_one_big_push() {
        let mut c = Capture::new(StreamKind::Stdout, 4, None);
        c.push(b"0123456789");
        assert_eq!(
            c.text(),
            "01\n[… 6 bytes of stdout cut: output over 4 bytes …]\n89"
        );
    }

    #[test]
    fn a_character_split_across_reads_is_streamed_whole() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut c = Capture::new(StreamKind::Stdout, 1000, Some(tx));
        let text = "pässwörd 日本 🦀 x";
        for b in text.as_bytes() {
            c.push(&[*b]);
        }
        c.push(&[0xE6, 0x97]);
        c.push(&[0xFF, b'!']);
        let mut got = Vec::new();
        while let Ok(chunk) = rx.try_recv() {
            got.push(chunk.text);
        }
        assert_eq!(got.concat(), format!("{text}\u{FFFD}\u{FFFD}!"), "{got:?}");
        // Each piece of multi-byte characters came whole or not at all.
        assert!(got.iter().all(|t| !t.is_empty()), "{got:?}");
        assert_eq!(incomplete_suffix("é".as_bytes()), 0);
        assert_eq!(incomplete_suffix(&"🦀".as_bytes()[..3]), 3);
        assert_eq!(incomplete_suffix(&[b'a', 0xC3]), 1);
        assert_eq!(incomplete_suffix(&[0x80, 0x80, 0x80]), 0);
    }

    #[test]
    fn streams_only_up_to_the_cap() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut c = Capture::new(StreamKind::Stdout, 8, Some(tx));
        c.push(b"12345");
        c.push(b"67890");
        c.push(b"more");
        let mut got = String::new();
        while let Ok(chunk) = rx.try_recv() {
            got.push_str(&chunk.text);
        }
        assert_eq!(got, "12345678");
    }
}
