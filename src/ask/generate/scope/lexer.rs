//! The scope check's small lexer: the text as identifiers, keywords, literals and punctuation, each
//! marked complete or still able to grow.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Ident,
    Keyword,
    Literal,
    Punct,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Tok<'a> {
    pub(super) kind: Kind,
    pub(super) text: &'a str,
    pub(super) start: usize,
    pub(super) end: usize,
    /// False for a token that reaches the end of the text and could still grow.
    pub(super) complete: bool,
}

impl Tok<'_> {
    pub(super) fn is(&self, kind: Kind, text: &str) -> bool {
        self.kind == kind && self.text == text
    }

    /// The identifier's name ([`ident_name`]).
    pub(super) fn name(&self) -> String {
        ident_name(self.text)
    }
}

/// A name as written, quoted or not, as PostgreSQL reads it: quotes removed, unquoted names
/// folded to lower case.
pub(super) fn ident_name(text: &str) -> String {
    match text.strip_prefix('"') {
        Some(q) => q.strip_suffix('"').unwrap_or(q).replace("\"\"", "\""),
        None => text.to_lowercase(),
    }
}

pub(super) fn lex(s: &str) -> Vec<Tok<'_>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            // A comment (a metric's name before its expression): no token, even unclosed.
            i = s[i + 2..].find("*/").map_or(b.len(), |end| i + 2 + end + 2);
            continue;
        }
        let start = i;
        let (kind, closed) = if c == b'\'' || c == b'"' {
            // A literal or a quoted identifier; a doubled quote stays inside.
            i += 1;
            let mut closed = false;
            while i < b.len() {
                if b[i] == c {
                    if b.get(i + 1) == Some(&c) {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    closed = true;
                    break;
                }
                i += 1;
            }
            // A closing quote at the very end may still become a doubled one.
            (
                if c == b'\'' {
                    Kind::Literal
                } else {
                    Kind::Ident
                },
                closed && i < b.len(),
            )
        } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80) {
                i += 1;
            }
            let w = &s[start..i];
            let keyword = w.bytes().any(|x| x.is_ascii_uppercase())
                && !w.bytes().any(|x| x.is_ascii_lowercase());
            (
                if keyword { Kind::Keyword } else { Kind::Ident },
                i < b.len(),
            )
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            (Kind::Literal, i < b.len())
        } else {
            i += 1;
            if c == b':' && b.get(i) == Some(&b':') {
                i += 1;
            }
            (Kind::Punct, true)
        };
        out.push(Tok {
            kind,
            text: &s[start..i],
            start,
            end: i,
            complete: closed,
        });
    }
    out
}

/// The texts of the string literals among `toks`, quotes undoubled, in lower case.
pub(super) fn string_literals(toks: &[Tok<'_>]) -> Vec<String> {
    toks.iter()
        .filter(|t| t.kind == Kind::Literal && t.text.starts_with('\''))
        .map(|t| t.text.replace("''", "'").to_lowercase())
        .collect()
}
