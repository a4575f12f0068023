//! What a pipeline's stages feed the next one, as far as it can be known
//! from the command line alone: the literal text of `echo`, `printf` and
//! here-strings, passed through `cat`/`tee` and decoded by `base64 -d`,
//! `xxd -r -p` and `rev`. Used to see what text a pipeline pipes into a
//! shell.

use paddock_sdk::shell::Command;

/// Readers of the network (their output is a download).
pub const DOWNLOADERS: &[&str] = &[
    "curl",
    "wget",
    "fetch",
    "aria2c",
    "axel",
    "http",
    "https",
    "xh",
    "curlie",
    "lwp-request",
    "GET",
    "nc",
    "ncat",
    "netcat",
];

/// What flows out of a sequence of pipeline stages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flow {
    /// The text, when it is known.
    pub text: Option<String>,
    /// The decodings applied on the way (`base64`, `hex`, `rev`, `gzip`,
    /// `tr`…), in order.
    pub decoded: Vec<&'static str>,
    /// Whether a stage downloaded from the network (the text of the first
    /// one, for messages).
    pub download: Option<String>,
}

/// Whether `cmd` (unwrapped) reads from the network.
pub fn is_downloader(cmd: &Command) -> bool {
    cmd.program().is_some_and(|p| DOWNLOADERS.contains(&p))
}

/// The bodies of `cmd`'s here-documents, found in `src`, the text `cmd`
/// was parsed from: the lines after the line its text ends on, up to each
/// delimiter. Empty when they cannot be found.
pub fn heredoc_bodies(src: &str, cmd: &Command) -> Vec<String> {
    let docs: Vec<(&str, bool)> = cmd
        .redirects
        .iter()
        .filter(|r| r.op.ends_with("<<") || r.op.ends_with("<<-"))
        .map(|r| (r.target.as_str(), r.op.ends_with('-')))
        .collect();
    if docs.is_empty() || cmd.text.is_empty() {
        return Vec::new();
    }
    let Some(at) = src.find(cmd.text.as_str()) else {
        return Vec::new();
    };
    let after = &src[at + cmd.text.len()..];
    let Some(nl) = after.find('\n') else {
        return Vec::new();
    };
    let mut lines = after[nl + 1..].split('\n');
    let mut out = Vec::new();
    for (delim, strip_tabs) in docs {
        let mut body = String::new();
        for line in lines.by_ref() {
            let line = if strip_tabs {
                line.trim_start_matches('\t')
            } else {
                line
            };
            if line == delim || line.strip_suffix('\r') == Some(delim) {
                break;
            }
            body.push_str(line);
            body.push('\n');
        }
        out.push(body);
    }
    out
}

/// What flows out of `stages` (each already unwrapped), in order; `here[i]`
/// holds the here-document bodies of stage `i` (see [`heredoc_bodies`]).
pub fn flow(stages: &[Command], here: &[Vec<String>]) -> Flow {
    let mut out = Flow::default();
    for (i, cmd) in stages.iter().enumerate() {
        let input = cmd
            .redirects
            .iter()
            .rev()
            .find(|r| r.op.ends_with("<<<"))
            .map(|r| format!("{}\n", r.target))
            .or_else(|| here.get(i).and_then(|docs| docs.first().cloned()));
        let incoming = input.or_else(|| out.text.take());
        let prog = cmd.program().unwrap_or("");
        let args = cmd.args();
        out.text = match prog {
            "echo" => Some(echo(args)),
            "printf" => printf(args),
            "cat" if operands(args).is_empty() => incoming,
            "tee" => incoming,
            "base64" | "base32"
                if has_flag(args, 'd', &["--decode"]) || has_flag(args, 'D', &[]) =>
            {
                out.decoded
                    .push(if prog == "base64" { "base64" } else { "base32" });
                if prog == "base64" && operands(args).is_empty() {
                    incoming.and_then(|t| base64_decode(&t))
                } else {
                    None
                }
            }
            "openssl"
                if args
                    .iter()
                    .any(|a| a == "base64" || a == "-base64" || a == "-a")
                    && args.iter().any(|a| a == "-d") =>
            {
                out.decoded.push("base64");
                incoming.and_then(|t| base64_decode(&t))
            }
            "xxd" if has_flag(args, 'r', &["-revert"]) => {
                out.decoded.push("hex");
                if has_flag(args, 'p', &["-plain", "-ps", "-postscript"])
                    && operands(args).is_empty()
                {
                    incoming.and_then(|t| hex_decode(&t))
                } else {
                    None
                }
            }
            "rev" if operands(args).is_empty() => {
                out.decoded.push("rev");
                incoming.map(|t| {
                    t.lines()
                        .map(|l| l.chars().rev().collect::<String>())
                        .collect::<Vec<_>>()
                        .join("\n")
                })
            }
            "tr" => {
                out.decoded.push("tr");
                None
            }
            "gunzip" | "zcat" | "gzip" | "bzcat" | "xzcat" | "unxz" | "bunzip2" | "zstdcat" => {
                if prog != "gzip" || has_flag(args, 'd', &["--decompress"]) {
                    out.decoded.push("gzip");
                }
                None
            }
            _ => {
                if is_downloader(cmd) && out.download.is_none() {
                    out.download = Some(cmd.text.clone());
                }
                None
            }
        };
    }
    out
}

/// Non-option arguments.
fn operands(args: &[String]) -> Vec<&String> {
    args.iter()
        .filter(|a| !a.starts_with('-') || a.as_str() == "-")
        .collect()
}

/// Whether a short flag (alone or in a cluster) or one of the long forms
/// (given without their leading `-`) is present.
fn has_flag(args: &[String], short: char, long: &[&str]) -> bool {
    args.iter().any(|a| {
        if let Some(l) = a.strip_prefix("--") {
            return long.iter().any(|x| x.trim_start_matches('-') == l);
        }
        match a.strip_prefix('-') {
            Some(cluster) if !cluster.is_empty() => {
                cluster.contains(short) || long.contains(&cluster)
            }
            _ => false,
        }
    })
}

/// What `echo ARGS` prints.
fn echo(args: &[String]) -> String {
    let mut escapes = false;
    let mut newline = true;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let flags = a
            .strip_prefix('-')
            .filter(|f| !f.is_empty() && f.chars().all(|c| matches!(c, 'n' | 'e' | 'E')));
        let Some(flags) = flags else { break };
        for c in flags.chars() {
            match c {
                'n' => newline = false,
                'e' => escapes = true,
                _ => escapes = false,
            }
        }
        i += 1;
    }
    let mut text = args.get(i..).unwrap_or(&[]).join(" ");
    if escapes {
        text = unescape(&text);
    }
    if newline {
        text.push('\n');
    }
    text
}

/// What `printf FORMAT ARGS` prints (`%s`, `%b` and `%%` only; anything
/// else makes it unknown).
fn printf(args: &[String]) -> Option<String> {
    let mut args = args.iter().skip_while(|a| a.as_str() == "--");
    let format = args.next()?;
    let format = unescape(format);
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('s') => out.push_str(args.next().map_or("", String::as_str)),
            Some('b') => out.push_str(&unescape(args.next().map_or("", String::as_str))),
            _ => return None,
        }
    }
    Some(out)
}

/// Backslash escapes as `echo -e` and `printf` read them.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('x') => {
                let mut n = 0u32;
                let mut count = 0;
                while count < 2 {
                    match chars.peek().and_then(|d| d.to_digit(16)) {
                        Some(d) => {
                            n = n * 16 + d;
                            chars.next();
                            count += 1;
                        }
                        None => break,
                    }
                }
                match char::from_u32(n) {
                    Some(ch) if count > 0 => out.push(ch),
                    _ => out.push_str("\\x"),
                }
            }
            Some('0') => {
                let mut n = 0u32;
                for _ in 0..3 {
                    match chars.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            n = n * 8 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                if let Some(ch) = char::from_u32(n) {
                    out.push(ch);
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Base64 (standard or URL-safe alphabet, padding optional, whitespace
/// ignored) decoded as lossy UTF-8; `None` when it is not base64.
pub fn base64_decode(text: &str) -> Option<String> {
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in text.chars() {
        let v = match c {
            'A'..='Z' => c as u32 - 'A' as u32,
            'a'..='z' => c as u32 - 'a' as u32 + 26,
            '0'..='9' => c as u32 - '0' as u32 + 52,
            '+' | '-' => 62,
            '/' | '_' => 63,
            '=' => break,
            c if c.is_whitespace() => continue,
            _ => return None,
        };
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push(((bits >> nbits) & 0xff) as u8);
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Plain hex (whitespace ignored) decoded as lossy UTF-8.
pub fn hex_decode(text: &str) -> Option<String> {
    let digits: Vec<u32> = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_digit(16))
        .collect::<Option<_>>()?;
    let bytes: Vec<u8> = digits
        .chunks(2)
        .map(|pair| pair.iter().fold(0u32, |n, d| n * 16 + d) as u8)
        .collect();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_sdk::shell;

    fn stages(src: &str) -> Vec<Command> {
        let script = shell::parse(src).unwrap();
        script.pipelines[0]
            .commands
            .iter()
            .map(Command::unwrapped)
            .collect()
    }

    #[test]
    fn decodes() {
        assert_eq!(base64_decode("cm0gLXJmIC8=").as_deref(), Some("rm -rf /"));
        assert_eq!(base64_decode("cm0gLXJmIC8").as_deref(), Some("rm -rf /"));
        assert_eq!(
            base64_decode("cm0g\nLXJm IC8=\n").as_deref(),
            Some("rm -rf /")
        );
        assert_eq!(base64_decode("not base64!"), None);
        assert_eq!(hex_decode("726d202d7266202f").as_deref(), Some("rm -rf /"));
        assert_eq!(hex_decode("72 6d\n").as_deref(), Some("rm"));
        assert_eq!(hex_decode("zz"), None);
    }

    #[test]
    fn flows() {
        let f = flow(&stages("echo cm0gLXJmIC8= | base64 -d"), &[]);
        assert_eq!(f.text.as_deref(), Some("rm -rf /"));
        assert_eq!(f.decoded, ["base64"]);
        let f = flow(&stages("printf '%s' cm0gLXJmIC8= | base64 --decode"), &[]);
        assert_eq!(f.text.as_deref(), Some("rm -rf /"));
        let f = flow(&stages("base64 -d <<< cm0gLXJmIC8="), &[]);
        assert_eq!(f.text.as_deref(), Some("rm -rf /"));
        let f = flow(&stages("echo 726d202d7266202f | xxd -r -p"), &[]);
        assert_eq!(f.text.as_deref(), Some("rm -rf /"));
        assert_eq!(f.decoded, ["hex"]);
        let f = flow(&stages("echo '/ fr- mr' | rev"), &[]);
        assert_eq!(f.text.as_deref(), Some("rm -rf /"));
        let f = flow(&stages("echo -e 'rm\\x20-rf /'"), &[]);
        assert_eq!(f.text.as_deref(), Some("rm -rf /\n"));
        let f = flow(&stages("echo -n hi | cat | tee"), &[]);
        assert_eq!(f.text.as_deref(), Some("hi"));
        let f = flow(&stages("cat payload.b64 | base64 -d"), &[]);
        assert_eq!(f.text, None);
        assert_eq!(f.decoded, ["base64"]);
        let f = flow(&stages("curl -s https://x | gunzip"), &[]);
        assert_eq!(f.download.as_deref(), Some("curl -s https://x"));
        assert_eq!(f.decoded, ["gzip"]);
        let f = flow(&stages("printf '%d' 5"), &[]);
        assert_eq!(f.text, None);
        let src = "cat <<'EOF' | sh\nrm -rf /\n\tEOF\nEOF\nls";
        let script = shell::parse(src).unwrap();
        let bodies = heredoc_bodies(src, &script.pipelines[0].commands[0]);
        assert_eq!(bodies, ["rm -rf /\n\tEOF\n"]);
        let f = flow(&stages(src)[..1], &[bodies]);
        assert_eq!(f.text.as_deref(), Some("rm -rf /\n\tEOF\n"));
        let src = "cat <<-X\n\ta\n\tX\n";
        let script = shell::parse(src).unwrap();
        assert_eq!(
            heredoc_bodies(src, &script.pipelines[0].commands[0]),
            ["a\n"]
        );
        assert!(heredoc_bodies("ls", &script.pipelines[0].commands[0]).is_empty());
    }
}
