//! A forgiving tokenizer for short interpreter programs (Python, Perl,
//! Ruby, JavaScript, PHP): string literals with their quoting rules,
//! dotted names (`os.path.join`, `File::Path::rmtree`, `$ua->post`),
//! punctuation and statement ends. It never fails: text it does not
//! understand becomes punctuation, an unterminated string runs to the end.

use super::Lang;

/// One token, with its byte span in the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tok {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

/// What a token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A name, possibly dotted (`os.path.join`, `FileUtils.rm_rf`,
    /// `File::Path::rmtree`, `$ua->post`, `process.env.HOME`), with its
    /// sigil (`$x`, `%ENV`, `@a`); a method called on a value starts with
    /// a dot (`.rmSync` in `require('fs').rmSync(…)`).
    Ident(String),
    /// A string literal's value (escapes resolved; interpolations kept as
    /// written).
    Str(String),
    /// A string the language runs as a shell command: backquotes (Perl,
    /// Ruby, PHP), `qx{…}` (Perl), `%x(…)` (Ruby).
    Shell(String),
    /// A number.
    Num,
    /// Any other character.
    Punct(char),
    /// The end of a statement: `;`, or a newline outside brackets.
    End,
}

/// The tokens of `src` read as `lang`.
pub fn tokens(src: &str, lang: Lang) -> Vec<Tok> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut depth: i32 = 0;
    let push = |out: &mut Vec<Tok>, kind: Kind, start: usize, end: usize| {
        out.push(Tok { kind, start, end });
    };
    while i < b.len() {
        let c = b[i];
        let start = i;
        // Comments.
        let hash_comment = c == b'#'
            && !matches!(lang, Lang::JavaScript)
            && !(lang == Lang::Perl && i > 0 && b[i - 1] == b'$');
        let slash_comment = matches!(lang, Lang::JavaScript | Lang::Php)
            && c == b'/'
            && matches!(b.get(i + 1), Some(b'/' | b'*'));
        if hash_comment || (slash_comment && b[i + 1] == b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if slash_comment {
            i += 2;
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i = (i + 2).min(b.len());
            continue;
        }
        match c {
            b'\n' => {
                if depth <= 0 && !continues_line(b, i) {
                    push(&mut out, Kind::End, i, i + 1);
                }
                i += 1;
            }
            b';' => {
                push(&mut out, Kind::End, i, i + 1);
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            b'(' | b'[' | b'{' => {
                depth += 1;
                push(&mut out, Kind::Punct(c as char), i, i + 1);
                i += 1;
            }
            b')' | b']' | b'}' => {
                depth -= 1;
                push(&mut out, Kind::Punct(c as char), i, i + 1);
                i += 1;
            }
            b'\'' | b'"' => {
                let (value, next) = quoted(src, i, lang, false);
                push(&mut out, Kind::Str(value), start, next);
                i = next;
            }
            b'`' => {
                let (value, next) = quoted(src, i, lang, false);
                let kind = if lang == Lang::JavaScript {
                    Kind::Str(value)
                } else {
                    Kind::Shell(value)
                };
                push(&mut out, kind, start, next);
                i = next;
            }
            c if c.is_ascii_digit() => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_')
                {
                    i += 1;
                }
                push(&mut out, Kind::Num, start, i);
            }
            _ => {
                if let Some((kind, next)) = quote_operator(src, i, lang) {
                    push(&mut out, kind, start, next);
                    i = next;
                    continue;
                }
                if lang == Lang::Python
                    && let Some((value, next)) = prefixed_string(src, i)
                {
                    push(&mut out, Kind::Str(value), start, next);
                    i = next;
                    continue;
                }
                if let Some(next) = ident_end(b, i, lang, out.last()) {
                    push(&mut out, Kind::Ident(src[i..next].to_string()), start, next);
                    i = next;
                    continue;
                }
                let ch = src[i..].chars().next().unwrap_or(' ');
                push(&mut out, Kind::Punct(ch), i, i + ch.len_utf8());
                i += ch.len_utf8();
            }
        }
    }
    out
}

/// Whether the newline at `i` continues the line (a backslash before it).
fn continues_line(b: &[u8], i: usize) -> bool {
    i > 0 && b[i - 1] == b'\\'
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

/// Where an identifier starting at `i` ends, dotted continuations
/// included; `None` when no identifier starts there.
fn ident_end(b: &[u8], i: usize, lang: Lang, prev: Option<&Tok>) -> Option<usize> {
    let c = b[i];
    let mut j = i;
    let sigil = match lang {
        Lang::Perl => matches!(c, b'$' | b'@' | b'%'),
        Lang::Php => c == b'$',
        Lang::Ruby => matches!(c, b'$' | b'@'),
        Lang::JavaScript => c == b'$',
        Lang::Python => false,
    };
    if sigil {
        j += 1;
        while b.get(j) == Some(&b'@') {
            j += 1;
        }
        if !b.get(j).is_some_and(|&n| is_ident_start(n) || n == b'_') {
            return None;
        }
    } else if c == b'.' {
        // A method on a value: `).rmSync`, `'x'.split` (in Perl and PHP a
        // dot joins strings).
        if matches!(lang, Lang::Perl | Lang::Php) {
            return None;
        }
        let after_value = prev.is_some_and(|t| {
            matches!(
                t.kind,
                Kind::Punct(')' | ']') | Kind::Str(_) | Kind::Ident(_)
            )
        });
        if !(after_value && b.get(i + 1).is_some_and(|&n| is_ident_start(n))) {
            return None;
        }
        j += 1;
    } else if !is_ident_start(c) {
        return None;
    }
    while j < b.len() && is_ident_char(b[j]) {
        j += 1;
    }
    // Continuations: `.name`, `::name`, `->name`, `?.name`.
    loop {
        let rest = &b[j..];
        let skip = if rest.starts_with(b"::") || rest.starts_with(b"->") || rest.starts_with(b"?.")
        {
            2
        } else if rest.starts_with(b".") && lang != Lang::Perl && lang != Lang::Php {
            1
        } else {
            break;
        };
        if !b.get(j + skip).is_some_and(|&n| is_ident_start(n)) {
            break;
        }
        j += skip;
        while j < b.len() && is_ident_char(b[j]) {
            j += 1;
        }
    }
    Some(j)
}

/// The closing delimiter of an opening one (`(` → `)`, others themselves).
fn closer(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        '{' => '}',
        '<' => '>',
        c => c,
    }
}

/// Perl's `q`, `qq`, `qx`, `qw` and Ruby's `%q`, `%Q`, `%x`, `%w`, `%()`.
fn quote_operator(src: &str, i: usize, lang: Lang) -> Option<(Kind, usize)> {
    let b = src.as_bytes();
    if i > 0 && (is_ident_char(b[i - 1]) || matches!(b[i - 1], b'$' | b'@' | b'%' | b'.')) {
        return None;
    }
    let (op, len) = match lang {
        Lang::Perl => {
            let word_end = (i..b.len()).find(|&k| !b[k].is_ascii_alphabetic())?;
            match &src[i..word_end] {
                w @ ("q" | "qq" | "qx" | "qw") => (w, w.len()),
                _ => return None,
            }
        }
        Lang::Ruby if b[i] == b'%' => match b.get(i + 1) {
            Some(b'q') => ("q", 2),
            Some(b'Q') => ("qq", 2),
            Some(b'x') => ("qx", 2),
            Some(b'w' | b'W') => ("qw", 2),
            Some(b'(' | b'[' | b'{' | b'|' | b'!') => ("qq", 1),
            _ => return None,
        },
        _ => return None,
    };
    let open = src[i + len..].chars().next()?;
    if open.is_alphanumeric()
        || open.is_whitespace()
        || matches!(open, '_' | ',' | ';' | ')' | ']' | '}' | '>')
    {
        return None;
    }
    if lang == Lang::Perl && matches!(open, '=' | '>' | ')') {
        return None;
    }
    let close = closer(open);
    let body_start = i + len + open.len_utf8();
    let mut nest = 0;
    let mut value = String::new();
    let mut end = src.len();
    let mut chars = src[body_start..].char_indices();
    while let Some((k, ch)) = chars.next() {
        if ch == '\\' {
            if let Some((_, n)) = chars.next() {
                if n != close && n != open {
                    value.push('\\');
                }
                value.push(n);
            }
            continue;
        }
        if ch == open && open != close {
            nest += 1;
        } else if ch == close {
            if nest == 0 {
                end = body_start + k + ch.len_utf8();
                break;
            }
            nest -= 1;
        }
        value.push(ch);
    }
    let kind = match op {
        "qx" => Kind::Shell(value),
        _ => Kind::Str(value),
    };
    Some((kind, end))
}

/// Python's prefixed strings: `r'…'`, `f"…"`, `b'…'`, `rb"""…"""`.
fn prefixed_string(src: &str, i: usize) -> Option<(String, usize)> {
    let b = src.as_bytes();
    if i > 0 && is_ident_char(b[i - 1]) {
        return None;
    }
    let mut j = i;
    while j < b.len() && j - i < 2 && matches!(b[j].to_ascii_lowercase(), b'r' | b'b' | b'u' | b'f')
    {
        j += 1;
    }
    if j == i || !matches!(b.get(j), Some(b'\'' | b'"')) {
        return None;
    }
    let raw = src[i..j].to_ascii_lowercase().contains('r');
    let (value, next) = quoted(src, j, Lang::Python, raw);
    Some((value, next))
}

/// A quoted string starting at `i` (its quote character at `i`; Python's
/// triple quotes too): its value and where it ends.
fn quoted(src: &str, i: usize, lang: Lang, raw: bool) -> (String, usize) {
    let b = src.as_bytes();
    let q = b[i];
    let triple = lang == Lang::Python && b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q);
    let body = if triple { i + 3 } else { i + 1 };
    // Single-quoted strings in Perl, Ruby and PHP only escape `\\` and `\'`.
    let literal = raw || (q == b'\'' && matches!(lang, Lang::Perl | Lang::Ruby | Lang::Php));
    let mut value = String::new();
    let mut chars = src[body..].char_indices();
    while let Some((k, ch)) = chars.next() {
        let at = body + k;
        if ch == '\\' {
            let Some((_, n)) = chars.next() else { break };
            if literal {
                if n != '\\' && n != q as char {
                    value.push('\\');
                }
                value.push(n);
                continue;
            }
            match n {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'r' => value.push('\r'),
                '0' => value.push('\0'),
                '\n' => {}
                other => value.push(other),
            }
            continue;
        }
        if ch as u32 == u32::from(q) {
            if !triple {
                return (value, at + 1);
            }
            if b.get(at + 1) == Some(&q) && b.get(at + 2) == Some(&q) {
                return (value, at + 3);
            }
        }
        value.push(ch);
    }
    (value, src.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str, lang: Lang) -> Vec<Kind> {
        tokens(src, lang).into_iter().map(|t| t.kind).collect()
    }

    fn ident(s: &str) -> Kind {
        Kind::Ident(s.into())
    }

    fn s(v: &str) -> Kind {
        Kind::Str(v.into())
    }

    #[test]
    fn python() {
        assert_eq!(
            kinds("import shutil; shutil.rmtree('/')  # gone", Lang::Python),
            [
                ident("import"),
                ident("shutil"),
                Kind::End,
                ident("shutil.rmtree"),
                Kind::Punct('('),
                s("/"),
                Kind::Punct(')'),
            ]
        );
        assert_eq!(
            kinds(r#"f"{x}\n" + r'\d' + '''a'b''' + "q\"q""#, Lang::Python),
            [
                s("{x}\n"),
                Kind::Punct('+'),
                s("\\d"),
                Kind::Punct('+'),
                s("a'b"),
                Kind::Punct('+'),
                s("q\"q"),
            ]
        );
        // A newline inside brackets does not end the statement.
        assert_eq!(
            kinds("f(1,\n 2)\ng()", Lang::Python).len(),
            10,
            "{:?}",
            kinds("f(1,\n 2)\ng()", Lang::Python)
        );
    }

    #[test]
    fn perl_and_ruby_quotes() {
        assert_eq!(
            kinds("system qq{rm -rf $ENV{HOME}}; `ls`", Lang::Perl),
            [
                ident("system"),
                s("rm -rf $ENV{HOME}"),
                Kind::End,
                Kind::Shell("ls".into()),
            ]
        );
        assert_eq!(
            kinds("File::Path::rmtree('/'); $ua->post($u)", Lang::Perl)[0],
            ident("File::Path::rmtree")
        );
        assert_eq!(
            kinds("%x(rm -rf ~); FileUtils.rm_rf 'x'", Lang::Ruby),
            [
                Kind::Shell("rm -rf ~".into()),
                Kind::End,
                ident("FileUtils.rm_rf"),
                s("x"),
            ]
        );
        assert_eq!(kinds("'a\\nb'", Lang::Ruby), [s("a\\nb")]);
        assert_eq!(kinds("$x % 2", Lang::Ruby)[1], Kind::Punct('%'));
    }

    #[test]
    fn javascript_methods_and_comments() {
        assert_eq!(
            kinds(
                "require('fs').rmSync(`/`, {recursive: true}) // x\n/* y */",
                Lang::JavaScript
            ),
            [
                ident("require"),
                Kind::Punct('('),
                s("fs"),
                Kind::Punct(')'),
                ident(".rmSync"),
                Kind::Punct('('),
                s("/"),
                Kind::Punct(','),
                Kind::Punct('{'),
                ident("recursive"),
                Kind::Punct(':'),
                ident("true"),
                Kind::Punct('}'),
                Kind::Punct(')'),
                Kind::End,
            ]
        );
        assert_eq!(kinds("a?.b.c", Lang::JavaScript), [ident("a?.b.c")]);
    }

    #[test]
    fn never_fails() {
        for src in [
            "'unterminated",
            "q{",
            "%x(",
            "\"\\",
            "`",
            "r'''",
            "/*",
            "$",
            "@@",
        ] {
            for lang in Lang::ALL {
                let _ = tokens(src, lang);
            }
        }
    }
}
