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
    let has = |w: &[u8]| text.windows(w.len()).any(|x| x.eq_ignore_ascii_case(w));
    if !(has(b"execute") || has(b"fetch") || has(b"move")) {
        return None;
    }
    let text = std::str::from_utf8(text).ok()?;
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

    fn reaches(text: &str) -> Option<String> {
        reached(text.as_bytes(), &|n| n == b"a" || n == b"S_1", &|n| {
            n == b"pa" || n == b"C_2"
        })
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
