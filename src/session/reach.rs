//! Statements that run an ask's prepared statement through SQL. A protocol-level statement that
//! was an ask holds the ask's generated SQL on the server, and SQL reaches it by name: `EXECUTE
//! a` (also inside `CREATE TABLE t AS EXECUTE a` or `EXPLAIN ANALYZE EXECUTE a`). Run that way,
//! the ask's SQL would run outside its read-only scope (no `transaction_read_only`, statement
//! timeout or search path), so such a statement is refused instead of forwarded. (`FETCH` and
//! `MOVE` of an ask portal the server keeps, bound in a request of its own, are left alone:
//! asyncpg's `cursor.forward()` is a `MOVE`, and the portal was planned inside the scope.)
//!
//! This guards against accidents, not a determined client: SQL in strings (a `DO` block's
//! dynamic `EXECUTE`), a statement parsed before the ask it names existed, and texts read with
//! `standard_conforming_strings` off or in a client encoding that is not ASCII-compatible still
//! reach the ask. What they reach is SQL the guard passed, shown in the ask's NOTICE, run as the
//! client's own role.

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// The name of an ask statement (`statement(name)`) that `text` executes through SQL, if any.
/// Unquoted names are folded to lower case, as PostgreSQL folds them; string literals,
/// dollar-quoted bodies and comments are not read. A text the tokenizer cannot read reaches
/// nothing (the server refuses it as it stands).
pub fn reached(text: &[u8], statement: &dyn Fn(&[u8]) -> bool) -> Option<String> {
    // Runs on statements of a session that has asked: a text without the words is passed over
    // without tokenizing it.
    if !mentions(text) {
        return None;
    }
    // A text in another client encoding: its ASCII words and names read the same.
    reached_in(&String::from_utf8_lossy(text), statement)
}

/// Whether `text` has the word that runs a prepared statement.
fn mentions(text: &[u8]) -> bool {
    text.windows(7).any(|x| x.eq_ignore_ascii_case(b"execute"))
}

/// Whether the protocol-level statement name `protocol` is the one the SQL identifier `sql`
/// names to PostgreSQL, which keeps 63 bytes of both: of a protocol name its first 63 bytes, of
/// an identifier as many whole characters as fit.
pub fn same_name(protocol: &[u8], sql: &[u8]) -> bool {
    &protocol[..protocol.len().min(MAX)] == cut(sql)
}

/// The bytes PostgreSQL keeps of a name.
const MAX: usize = 63;

/// An identifier cut to [`MAX`] bytes at a character boundary.
fn cut(name: &[u8]) -> &[u8] {
    if name.len() <= MAX {
        return name;
    }
    let mut end = MAX;
    // Not inside a UTF-8 character: back over continuation bytes.
    while end > 0 && name.get(end).is_some_and(|b| b & 0xC0 == 0x80) {
        end -= 1;
    }
    &name[..end]
}

/// [`reached`] over UTF-8 text.
fn reached_in(text: &str, statement: &dyn Fn(&[u8]) -> bool) -> Option<String> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, text)
        .tokenize()
        .ok()?;
    let tokens: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    // (A `;` is no name: nothing pairs across it.)
    names(&tokens).windows(2).find_map(|pair| match pair {
        [Some((kw, false)), Some((w, _))] if kw == "execute" && statement(w.as_bytes()) => {
            Some(w.clone())
        }
        _ => None,
    })
}

/// Each token of a text as the name PostgreSQL reads there, if it is one ([`name`]); a
/// Unicode-escaped name (`U&"\0061"`, maybe with `UESCAPE '!'`) is one name, decoded, in the
/// place of its first token.
fn names(tokens: &[Token]) -> Vec<Option<(String, bool)>> {
    let mut out: Vec<Option<(String, bool)>> = tokens.iter().map(name).collect();
    for i in 0..tokens.len() {
        let (Some(Token::Word(u)), Some(Token::Ampersand), Some(Token::Word(body))) =
            (tokens.get(i), tokens.get(i + 1), tokens.get(i + 2))
        else {
            continue;
        };
        if !(u.quote_style.is_none() && u.value.eq_ignore_ascii_case("u"))
            || body.quote_style != Some('"')
        {
            continue;
        }
        let escape = match (tokens.get(i + 3), tokens.get(i + 4)) {
            (Some(Token::Word(w)), Some(Token::SingleQuotedString(e)))
                if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("uescape") =>
            {
                e.chars().next().unwrap_or('\\')
            }
            _ => '\\',
        };
        let decoded = unicode_escaped(&body.value, escape).unwrap_or_else(|| body.value.clone());
        out[i] = Some((decoded, true));
        out[i + 1] = None;
        out[i + 2] = None;
    }
    out
}

/// The text of a `U&"…"` name with its escapes (`\XXXX`, `\+XXXXXX`, a doubled escape
/// character) decoded; none for an escape PostgreSQL would refuse.
fn unicode_escaped(body: &str, escape: char) -> Option<String> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != escape {
            out.push(c);
            continue;
        }
        let digits = match chars.peek() {
            Some(&e) if e == escape => {
                chars.next();
                out.push(escape);
                continue;
            }
            Some('+') => {
                chars.next();
                6
            }
            _ => 4,
        };
        let hex: String = (0..digits).map(|_| chars.next()).collect::<Option<_>>()?;
        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
    }
    Some(out)
}

/// A word token as PostgreSQL names it (unquoted: folded to lower case) and whether it was
/// quoted.
fn name(t: &Token) -> Option<(String, bool)> {
    match t {
        Token::Word(w) if w.quote_style == Some('"') => Some((w.value.clone(), true)),
        Token::Word(w) if w.quote_style.is_none() => Some((w.value.to_ascii_lowercase(), false)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: &[u8] = b"a_statement_name_of_seventy_bytes_which_postgresql_cuts_to_63_bytes";

    fn reaches(text: &str) -> Option<String> {
        reached(text.as_bytes(), &|n| {
            [&b"a"[..], b"S_1", LONG].iter().any(|s| same_name(s, n))
        })
    }

    #[test]
    fn names_are_compared_as_postgresql_cuts_and_escapes_them() {
        let cut = String::from_utf8_lossy(&LONG[..63]).into_owned();
        assert_eq!(reaches(&format!("EXECUTE {cut}")).as_deref(), Some(&*cut));
        assert!(reaches(&format!("EXECUTE {cut}_and_more")).is_some());
        assert_eq!(reaches(r#"EXECUTE U&"\0061""#).as_deref(), Some("a"));
        assert_eq!(reaches(r#"EXECUTE u&"S\+00005F1""#).as_deref(), Some("S_1"));
        assert_eq!(
            reaches(r#"EXECUTE U&"S!005F1" UESCAPE '!'"#).as_deref(),
            Some("S_1")
        );
        assert_eq!(
            reaches(r#"SELECT U&"d\0061t\0061", 'executed' FROM t"#),
            None
        );
        // Another client encoding (LATIN1 é): its ASCII words read the same.
        let mut latin1 = b"SELECT '".to_vec();
        latin1.push(0xE9);
        latin1.extend_from_slice(b"'; EXECUTE a");
        assert!(reached(&latin1, &|n| n == b"a").is_some());
        // An identifier keeps whole characters; a protocol name its first 63 bytes, so a
        // multibyte name cut inside a character is found by no identifier.
        let e = |n: usize| "é".repeat(n);
        assert!(same_name(e(31).as_bytes(), e(40).as_bytes()));
        assert!(!same_name(e(40).as_bytes(), e(40).as_bytes()));
        assert!(!same_name(b"a", b"b"));
    }

    #[test]
    fn executes_of_ask_statements_are_found() {
        assert_eq!(reaches("EXECUTE a").as_deref(), Some("a"));
        assert_eq!(reaches("execute A;").as_deref(), Some("a"));
        assert_eq!(reaches("EXECUTE \"S_1\"").as_deref(), Some("S_1"));
        assert_eq!(reaches("create table t as execute a").as_deref(), Some("a"));
        assert_eq!(reaches("EXPLAIN ANALYZE EXECUTE a").as_deref(), Some("a"));
        assert_eq!(
            reaches("SELECT 1; /* x */ EXECUTE a(1)").as_deref(),
            Some("a")
        );
    }

    #[test]
    fn other_statements_reach_nothing() {
        // Another statement's name, a quoted name in another case, the words in strings,
        // comments and dollar-quoted bodies; FETCH and MOVE of a portal (asyncpg's
        // `cursor.forward()` moves a portal the server keeps).
        assert_eq!(reaches("EXECUTE b"), None);
        assert_eq!(reaches("EXECUTE \"A\""), None);
        assert_eq!(reaches("EXECUTE s_1"), None);
        assert_eq!(reaches("SELECT 'EXECUTE a'"), None);
        assert_eq!(reaches("SELECT 1 -- EXECUTE a"), None);
        assert_eq!(reaches("DO $$ BEGIN EXECUTE a; END $$"), None);
        assert_eq!(reaches("FETCH ALL FROM a"), None);
        assert_eq!(reaches("MOVE FORWARD 2 IN a"), None);
        assert_eq!(reaches("SELECT 'unterminated"), None);
        assert_eq!(reaches("SELECT a FROM t WHERE executed"), None);
    }
}
