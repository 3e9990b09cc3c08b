//! Statements that reach an ask's prepared statement or portal through SQL. A protocol-level
//! statement or portal that was an ask holds the ask's generated SQL on the server, and SQL
//! reaches both by name: `EXECUTE a` (also inside `CREATE TABLE t AS EXECUTE a` or `EXPLAIN
//! ANALYZE EXECUTE a`) runs a prepared statement, `FETCH` and `MOVE` read a portal. Run that way,
//! the ask's SQL would run outside its read-only scope (no `transaction_read_only`, statement
//! timeout or search path), so such a statement is refused instead of forwarded.

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// The name of an ask statement (`statement(name)`) or portal (`portal(name)`) that `text`
/// reaches through SQL, if any. Unquoted names are folded to lower case, as PostgreSQL folds
/// them; string literals, dollar-quoted bodies and comments are not read. A text the tokenizer
/// cannot read reaches nothing (the server refuses it as it stands).
pub fn reached(
    text: &[u8],
    statement: &dyn Fn(&[u8]) -> bool,
    portal: &dyn Fn(&[u8]) -> bool,
) -> Option<String> {
    // Runs on statements of a session that has asked: a text without the words is passed over
    // without tokenizing it.
    if !mentions(text) {
        return None;
    }
    let has = |w: &[u8]| text.windows(w.len()).any(|x| x.eq_ignore_ascii_case(w));
    if has(b"u&\"") {
        // A Unicode-escaped name (`U&"\0061"`) is not decoded here: refused whole.
        return Some("U&\"…\"".into());
    }
    // A text in another client encoding: its ASCII words and names read the same.
    let text = String::from_utf8_lossy(text);
    let found = reached_in(&text, statement, portal);
    if found.is_some() || !text.contains('\\') {
        return found;
    }
    // With `standard_conforming_strings` off a backslash escapes a quote (`'\''`), which the
    // tokenizer reads otherwise: the text is read once more with the quotes left out, so
    // nothing hides in what might be a string.
    reached_in(&text.replace('\'', " "), statement, portal)
}

/// Whether `text` has one of the words that reach a statement or a portal.
pub fn mentions(text: &[u8]) -> bool {
    let has = |w: &[u8]| text.windows(w.len()).any(|x| x.eq_ignore_ascii_case(w));
    has(b"execute") || has(b"fetch") || has(b"move")
}

/// Whether two names are the same to PostgreSQL, which cuts names to 63 bytes (at a character
/// boundary), protocol-level statement and portal names and SQL identifiers alike.
pub fn same_name(a: &[u8], b: &[u8]) -> bool {
    cut(a) == cut(b)
}

/// `name` cut to PostgreSQL's 63 bytes at a character boundary.
fn cut(name: &[u8]) -> &[u8] {
    const MAX: usize = 63;
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
fn reached_in(
    text: &str,
    statement: &dyn Fn(&[u8]) -> bool,
    portal: &dyn Fn(&[u8]) -> bool,
) -> Option<String> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, text)
        .tokenize()
        .ok()?;
    let tokens: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    for statement_tokens in tokens.split(|t| *t == Token::SemiColon) {
        let names: Vec<Option<(String, bool)>> = statement_tokens.iter().map(name).collect();
        let is = |n: &Option<(String, bool)>, k: &str| matches!(n, Some((w, false)) if w == k);
        if names
            .first()
            .is_some_and(|n| is(n, "fetch") || is(n, "move"))
        {
            if let Some((w, _)) = names
                .iter()
                .skip(1)
                .flatten()
                .find(|(w, _)| portal(w.as_bytes()))
            {
                return Some(w.clone());
            }
        }
        for pair in names.windows(2) {
            if let [kw, Some((w, _))] = pair {
                if is(kw, "execute") && statement(w.as_bytes()) {
                    return Some(w.clone());
                }
            }
        }
    }
    None
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
        reached(
            text.as_bytes(),
            &|n| [&b"a"[..], b"S_1", LONG].iter().any(|s| same_name(s, n)),
            &|n| n == b"pa" || n == b"C_2",
        )
    }

    #[test]
    fn names_are_compared_as_postgresql_cuts_them_and_hidden_forms_are_refused() {
        let cut = String::from_utf8_lossy(&LONG[..63]).into_owned();
        assert_eq!(reaches(&format!("EXECUTE {cut}")).as_deref(), Some(&*cut));
        assert!(reaches(&format!("EXECUTE {cut}_and_more")).is_some());
        assert!(reaches(r#"EXECUTE U&"\0061""#).is_some());
        // Another client encoding (LATIN1 é), and a backslash-escaped quote as PostgreSQL
        // reads it with standard_conforming_strings off.
        let mut latin1 = b"SELECT '".to_vec();
        latin1.push(0xE9);
        latin1.extend_from_slice(b"'; EXECUTE a");
        assert!(reached(&latin1, &|n| n == b"a", &|_| false).is_some());
        assert!(reaches(r"SELECT '\''; EXECUTE a; --'").is_some());
        // A character cut in two is left whole.
        assert!(same_name(
            "é".repeat(40).as_bytes(),
            "é".repeat(31).as_bytes()
        ));
        assert!(!same_name(b"a", b"b"));
    }

    #[test]
    fn execute_and_fetch_of_ask_names_are_found() {
        assert_eq!(reaches("EXECUTE a").as_deref(), Some("a"));
        assert_eq!(reaches("execute A;").as_deref(), Some("a"));
        assert_eq!(reaches("EXECUTE \"S_1\"").as_deref(), Some("S_1"));
        assert_eq!(reaches("create table t as execute a").as_deref(), Some("a"));
        assert_eq!(reaches("EXPLAIN ANALYZE EXECUTE a").as_deref(), Some("a"));
        assert_eq!(
            reaches("SELECT 1; /* x */ EXECUTE a(1)").as_deref(),
            Some("a")
        );
        assert_eq!(reaches("FETCH ALL FROM pa").as_deref(), Some("pa"));
        assert_eq!(reaches("fetch 5 in \"C_2\"").as_deref(), Some("C_2"));
        assert_eq!(reaches("MOVE pa").as_deref(), Some("pa"));
        assert_eq!(reaches("select 1;FETCH NEXT pa").as_deref(), Some("pa"));
    }

    #[test]
    fn other_statements_reach_nothing() {
        // Another statement's name, a quoted name in another case, the words in strings,
        // comments and dollar-quoted bodies, FETCH FIRST in a SELECT.
        assert_eq!(reaches("EXECUTE b"), None);
        assert_eq!(reaches("EXECUTE \"A\""), None);
        assert_eq!(reaches("EXECUTE s_1"), None);
        assert_eq!(reaches("SELECT 'EXECUTE a'"), None);
        assert_eq!(reaches("SELECT 1 -- EXECUTE a"), None);
        assert_eq!(reaches("DO $$ BEGIN EXECUTE a; END $$"), None);
        assert_eq!(reaches("SELECT pa FROM t FETCH FIRST 1 ROWS ONLY"), None);
        assert_eq!(reaches("FETCH ALL FROM c"), None);
        assert_eq!(reaches("SELECT 'unterminated"), None);
        assert_eq!(reaches("SELECT a FROM pa"), None);
    }
}
