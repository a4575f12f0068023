//! The wire protocol between the host and `paddock-sandboxd`, over one
//! unix-socket connection per command (closing it kills the command).
//!
//! Every message is a frame: one byte of [`Kind`], a big-endian `u32`
//! length, then that many bytes of payload (at most [`MAX_FRAME`]). The
//! host sends [`Kind::Run`] first (a [`Request`]), then any
//! [`Kind::Stdin`] chunks and [`Kind::StdinEof`], and [`Kind::Kill`] (or
//! simply closes) to kill. The server answers [`Kind::Started`] (the
//! command's pid inside the sandbox), [`Kind::Stdout`]/[`Kind::Stderr`]
//! chunks as they come, and finally [`Kind::Exit`] (an [`Exit`]) or
//! [`Kind::Error`] (an [`ErrorReply`]: the command did not start).
//!
//! Strings are a `u32` length then UTF-8 bytes; integers are big-endian.

use std::io::{self, Read, Write};

/// The largest payload of one frame (output is sent in smaller chunks).
pub const MAX_FRAME: usize = 1 << 20;
/// Where the server's socket is inside the sandbox.
pub const SOCKET_IN_SANDBOX: &str = "/run/paddock/cmd.sock";
/// Where the egress proxy's socket is inside the sandbox.
pub const EGRESS_IN_SANDBOX: &str = "/run/paddock/egress.sock";
/// The directory both sockets are in, inside the sandbox.
pub const RUN_DIR_IN_SANDBOX: &str = "/run/paddock";
/// The TCP port on the sandbox's loopback that the server bridges to the
/// egress proxy (`http://127.0.0.1:3128` is the commands' proxy).
pub const EGRESS_PORT: u16 = 3128;
/// The line the server prints on its stdout once it listens.
pub const READY_LINE: &str = "paddock-sandboxd ready";

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Host → server: a [`Request`] (the first frame, once).
    Run,
    /// Host → server: bytes for the command's stdin.
    Stdin,
    /// Host → server: stdin ends (empty payload).
    StdinEof,
    /// Host → server: kill the command and what it started (empty).
    Kill,
    /// Server → host: the command runs; its pid inside the sandbox (`u32`).
    Started,
    /// Server → host: bytes the command wrote to stdout.
    Stdout,
    /// Server → host: bytes the command wrote to stderr.
    Stderr,
    /// Server → host: the command ended (an [`Exit`]); the last frame.
    Exit,
    /// Server → host: the command did not start (an [`ErrorReply`]); the
    /// last frame.
    Error,
}

impl Kind {
    /// The byte on the wire.
    pub fn byte(self) -> u8 {
        match self {
            Kind::Run => b'R',
            Kind::Stdin => b'I',
            Kind::StdinEof => b'C',
            Kind::Kill => b'K',
            Kind::Started => b'P',
            Kind::Stdout => b'O',
            Kind::Stderr => b'E',
            Kind::Exit => b'X',
            Kind::Error => b'F',
        }
    }

    /// The kind a byte names.
    pub fn from_byte(b: u8) -> Option<Kind> {
        [
            Kind::Run,
            Kind::Stdin,
            Kind::StdinEof,
            Kind::Kill,
            Kind::Started,
            Kind::Stdout,
            Kind::Stderr,
            Kind::Exit,
            Kind::Error,
        ]
        .into_iter()
        .find(|k| k.byte() == b)
    }
}

/// Why a frame or a body could not be read.
#[derive(Debug)]
pub enum ProtoError {
    /// Reading or writing failed (or the peer closed mid-frame).
    Io(io::Error),
    /// The bytes are not a valid frame or body; the text says what.
    Malformed(String),
}

impl std::fmt::Display for ProtoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtoError::Io(e) => write!(f, "{e}"),
            ProtoError::Malformed(m) => write!(f, "malformed message: {m}"),
        }
    }
}

impl std::error::Error for ProtoError {}

impl From<io::Error> for ProtoError {
    fn from(e: io::Error) -> Self {
        ProtoError::Io(e)
    }
}

fn malformed<T>(what: impl Into<String>) -> Result<T, ProtoError> {
    Err(ProtoError::Malformed(what.into()))
}

/// One frame's header and payload, encoded.
pub fn encode_frame(kind: Kind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + payload.len());
    out.push(kind.byte());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Writes one frame (one `write_all` of header and payload).
pub fn write_frame(w: &mut impl Write, kind: Kind, payload: &[u8]) -> io::Result<()> {
    if payload.len() > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a frame of {} bytes is over the limit", payload.len()),
        ));
    }
    w.write_all(&encode_frame(kind, payload))
}

/// Parses a frame header: the kind and the payload's length.
pub fn parse_header(header: [u8; 5]) -> Result<(Kind, usize), ProtoError> {
    let Some(kind) = Kind::from_byte(header[0]) else {
        return malformed(format!("unknown frame kind {:#04x}", header[0]));
    };
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_FRAME {
        return malformed(format!("a frame of {len} bytes is over the limit"));
    }
    Ok((kind, len))
}

/// Reads one frame; `Ok(None)` at a clean end of stream (between frames).
pub fn read_frame(r: &mut impl Read) -> Result<Option<(Kind, Vec<u8>)>, ProtoError> {
    let mut header = [0u8; 5];
    let mut got = 0;
    while got < header.len() {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let (kind, len) = parse_header(header)?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some((kind, payload)))
}

/// Appends encoded values to a payload.
#[derive(Default)]
pub struct Encoder(Vec<u8>);

impl Encoder {
    /// An empty payload.
    pub fn new() -> Encoder {
        Encoder(Vec::new())
    }
    /// A byte.
    pub fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    /// A big-endian `u32`.
    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A big-endian `i32`.
    pub fn i32(mut self, v: i32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A big-endian `u64`.
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A length-prefixed string.
    pub fn str(self, s: &str) -> Self {
        let mut e = self.u32(s.len() as u32);
        e.0.extend_from_slice(s.as_bytes());
        e
    }
    /// The payload.
    pub fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// Reads encoded values from a payload, in order.
pub struct Decoder<'a> {
    rest: &'a [u8],
}

impl<'a> Decoder<'a> {
    /// Reads `payload` from its start.
    pub fn new(payload: &'a [u8]) -> Decoder<'a> {
        Decoder { rest: payload }
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ProtoError> {
        if self.rest.len() < n {
            return malformed(format!("{what} is cut short"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    /// A byte.
    pub fn u8(&mut self, what: &str) -> Result<u8, ProtoError> {
        Ok(self.take(1, what)?[0])
    }
    /// A big-endian `u32`.
    pub fn u32(&mut self, what: &str) -> Result<u32, ProtoError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A big-endian `i32`.
    pub fn i32(&mut self, what: &str) -> Result<i32, ProtoError> {
        Ok(self.u32(what)? as i32)
    }
    /// A big-endian `u64`.
    pub fn u64(&mut self, what: &str) -> Result<u64, ProtoError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    /// A length-prefixed UTF-8 string without NUL bytes.
    pub fn str(&mut self, what: &str) -> Result<String, ProtoError> {
        let len = self.u32(what)? as usize;
        let bytes = self.take(len, what)?;
        let s = std::str::from_utf8(bytes)
            .map_err(|_| ProtoError::Malformed(format!("{what} is not UTF-8")))?;
        if s.contains('\0') {
            return malformed(format!("{what} contains a NUL byte"));
        }
        Ok(s.to_string())
    }
    /// A count of items, each at least `min_size` bytes, that must fit.
    pub fn count(&mut self, what: &str, min_size: usize) -> Result<usize, ProtoError> {
        let n = self.u32(what)? as usize;
        if n.saturating_mul(min_size.max(1)) > self.rest.len() {
            return malformed(format!("{what}: {n} items cannot fit"));
        }
        Ok(n)
    }
    /// Checks nothing is left.
    pub fn end(&self, what: &str) -> Result<(), ProtoError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            malformed(format!("{} stray bytes after {what}", self.rest.len()))
        }
    }
}

/// A command to run (the [`Kind::Run`] frame).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// Program and arguments; `argv[0]` is looked up in the command's
    /// `PATH` unless it holds a `/`.
    pub argv: Vec<String>,
    /// Absolute working directory inside the sandbox.
    pub cwd: String,
    /// Variables set on top of the server's own environment.
    pub env: Vec<(String, String)>,
    /// A background job: what it leaves running is not killed when it
    /// ends, and no foreground command's clean-up kills its session.
    pub background: bool,
    /// Whether stdin is a pipe fed by [`Kind::Stdin`] frames (else
    /// `/dev/null`).
    pub stdin: bool,
}

impl Request {
    /// The payload of its frame.
    pub fn encode(&self) -> Vec<u8> {
        let flags = u8::from(self.background) | (u8::from(self.stdin) << 1);
        let mut e = Encoder::new().u8(flags).str(&self.cwd);
        e = e.u32(self.argv.len() as u32);
        for a in &self.argv {
            e = e.str(a);
        }
        e = e.u32(self.env.len() as u32);
        for (k, v) in &self.env {
            e = e.str(k).str(v);
        }
        e.finish()
    }

    /// Reads and checks a request (non-empty argv, absolute cwd, valid
    /// environment names).
    pub fn decode(payload: &[u8]) -> Result<Request, ProtoError> {
        let mut d = Decoder::new(payload);
        let flags = d.u8("the flags")?;
        if flags & !0b11 != 0 {
            return malformed(format!("unknown flags {flags:#04x}"));
        }
        let cwd = d.str("the working directory")?;
        let n = d.count("the arguments", 4)?;
        let argv = (0..n)
            .map(|_| d.str("an argument"))
            .collect::<Result<Vec<_>, _>>()?;
        let n = d.count("the environment", 8)?;
        let env = (0..n)
            .map(|_| Ok((d.str("a variable name")?, d.str("a variable value")?)))
            .collect::<Result<Vec<_>, ProtoError>>()?;
        d.end("the request")?;
        if argv.first().is_none_or(String::is_empty) {
            return malformed("the command is empty");
        }
        if !cwd.starts_with('/') {
            return malformed(format!("the working directory `{cwd}` is not absolute"));
        }
        if let Some((k, _)) = env.iter().find(|(k, _)| k.is_empty() || k.contains('=')) {
            return malformed(format!("invalid environment variable name `{k}`"));
        }
        Ok(Request {
            argv,
            cwd,
            env,
            background: flags & 1 != 0,
            stdin: flags & 2 != 0,
        })
    }
}

/// How a command ended (the [`Kind::Exit`] frame), with what it used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exit {
    /// Its exit status, when it exited.
    pub code: Option<i32>,
    /// The signal that killed it, when one did.
    pub signal: Option<i32>,
    /// User CPU time of the command's main process and the children it
    /// waited for, in microseconds.
    pub user_usec: u64,
    /// System CPU time, likewise.
    pub system_usec: u64,
    /// Largest resident set size, in KiB.
    pub max_rss_kib: u64,
}

impl Exit {
    /// The payload of its frame.
    pub fn encode(&self) -> Vec<u8> {
        let (how, value) = match (self.code, self.signal) {
            (Some(c), _) => (0, c),
            (None, Some(s)) => (1, s),
            (None, None) => (2, 0),
        };
        Encoder::new()
            .u8(how)
            .i32(value)
            .u64(self.user_usec)
            .u64(self.system_usec)
            .u64(self.max_rss_kib)
            .finish()
    }

    /// Reads an exit.
    pub fn decode(payload: &[u8]) -> Result<Exit, ProtoError> {
        let mut d = Decoder::new(payload);
        let how = d.u8("the exit kind")?;
        let value = d.i32("the exit value")?;
        let (code, signal) = match how {
            0 => (Some(value), None),
            1 => (None, Some(value)),
            2 => (None, None),
            other => return malformed(format!("unknown exit kind {other}")),
        };
        let exit = Exit {
            code,
            signal,
            user_usec: d.u64("the user time")?,
            system_usec: d.u64("the system time")?,
            max_rss_kib: d.u64("the resident set size")?,
        };
        d.end("the exit")?;
        Ok(exit)
    }
}

/// Why a command did not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// The working directory does not exist (or is not a directory).
    NoCwd,
    /// The request was malformed.
    BadRequest,
    /// The server could not fork or make pipes.
    Failed,
}

/// The [`Kind::Error`] frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorReply {
    /// What kind of failure.
    pub code: ErrorCode,
    /// What happened, for a person.
    pub message: String,
}

impl ErrorReply {
    /// The payload of its frame.
    pub fn encode(&self) -> Vec<u8> {
        let code = match self.code {
            ErrorCode::NoCwd => 1,
            ErrorCode::BadRequest => 2,
            ErrorCode::Failed => 3,
        };
        Encoder::new().u8(code).str(&self.message).finish()
    }

    /// Reads an error reply.
    pub fn decode(payload: &[u8]) -> Result<ErrorReply, ProtoError> {
        let mut d = Decoder::new(payload);
        let code = match d.u8("the error code")? {
            1 => ErrorCode::NoCwd,
            2 => ErrorCode::BadRequest,
            3 => ErrorCode::Failed,
            other => return malformed(format!("unknown error code {other}")),
        };
        let message = d.str("the error message")?;
        d.end("the error")?;
        Ok(ErrorReply { code, message })
    }
}

/// A complete frame from the front of `inbox`, if there is one.
pub fn take_frame(inbox: &mut Vec<u8>) -> Result<Option<(Kind, Vec<u8>)>, ProtoError> {
    if inbox.len() < 5 {
        return Ok(None);
    }
    let mut header = [0u8; 5];
    header.copy_from_slice(&inbox[..5]);
    let (kind, len) = parse_header(header)?;
    if inbox.len() < 5 + len {
        return Ok(None);
    }
    let payload = inbox[5..5 + len].to_vec();
    inbox.drain(..5 + len);
    Ok(Some((kind, payload)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut wire = Vec::new();
        write_frame(&mut wire, Kind::Stdout, b"hello").unwrap();
        write_frame(&mut wire, Kind::Kill, b"").unwrap();
        let mut r = &wire[..];
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Some((Kind::Stdout, b"hello".to_vec()))
        );
        assert_eq!(read_frame(&mut r).unwrap(), Some((Kind::Kill, vec![])));
        assert_eq!(read_frame(&mut r).unwrap(), None);
    }

    #[test]
    fn bad_frames_are_refused() {
        // Unknown kind.
        assert!(matches!(
            read_frame(&mut &[b'Z', 0, 0, 0, 0][..]),
            Err(ProtoError::Malformed(_))
        ));
        // Over the size limit.
        let big = ((MAX_FRAME + 1) as u32).to_be_bytes();
        let header = [b'O', big[0], big[1], big[2], big[3]];
        assert!(matches!(
            read_frame(&mut &header[..]),
            Err(ProtoError::Malformed(_))
        ));
        // Cut short in the header and in the payload.
        assert!(matches!(
            read_frame(&mut &[b'O', 0, 0][..]),
            Err(ProtoError::Io(_))
        ));
        assert!(matches!(
            read_frame(&mut &[b'O', 0, 0, 0, 9, 1, 2][..]),
            Err(ProtoError::Io(_))
        ));
        assert!(write_frame(&mut Vec::new(), Kind::Stdout, &vec![0; MAX_FRAME + 1]).is_err());
    }

    #[test]
    fn requests_round_trip() {
        let req = Request {
            argv: vec!["sh".into(), "-c".into(), "echo ünïcode".into()],
            cwd: "/workspace/sub".into(),
            env: vec![("A".into(), "b=c".into()), ("EMPTY".into(), String::new())],
            background: true,
            stdin: true,
        };
        assert_eq!(Request::decode(&req.encode()).unwrap(), req);
        let plain = Request {
            argv: vec!["true".into()],
            cwd: "/".into(),
            ..Request::default()
        };
        assert_eq!(Request::decode(&plain.encode()).unwrap(), plain);
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let base = Request {
            argv: vec!["true".into()],
            cwd: "/workspace".into(),
            ..Request::default()
        };
        let cases = [
            (
                Request {
                    argv: vec![],
                    ..base.clone()
                },
                "empty",
            ),
            (
                Request {
                    cwd: "rel".into(),
                    ..base.clone()
                },
                "not absolute",
            ),
            (
                Request {
                    env: vec![("A=B".into(), "x".into())],
                    ..base.clone()
                },
                "variable name",
            ),
            (
                Request {
                    argv: vec!["a\0b".into()],
                    ..base.clone()
                },
                "NUL",
            ),
        ];
        for (req, says) in cases {
            let e = Request::decode(&req.encode()).unwrap_err().to_string();
            assert!(e.contains(says), "{e} should say {says}");
        }
        let mut stray = base.encode();
        stray.push(0);
        assert!(Request::decode(&stray).is_err());
        // A huge count cannot make us allocate.
        let lying = Encoder::new().u8(0).str("/").u32(u32::MAX).finish();
        assert!(
            Request::decode(&lying)
                .unwrap_err()
                .to_string()
                .contains("cannot fit")
        );
        assert!(Request::decode(&[0x80]).is_err());
    }

    #[test]
    fn exits_and_errors_round_trip() {
        for exit in [
            Exit {
                code: Some(3),
                user_usec: 1,
                system_usec: 2,
                max_rss_kib: 3,
                ..Exit::default()
            },
            Exit {
                signal: Some(9),
                ..Exit::default()
            },
            Exit::default(),
        ] {
            assert_eq!(Exit::decode(&exit.encode()).unwrap(), exit);
        }
        let e = ErrorReply {
            code: ErrorCode::NoCwd,
            message: "no such directory".into(),
        };
        assert_eq!(ErrorReply::decode(&e.encode()).unwrap(), e);
        assert!(ErrorReply::decode(&[9, 0, 0, 0, 0]).is_err());
    }
}
