//! Common table expressions in the token stream: where a CTE starts, where its body opens and
//! closes, and whether the query says RECURSIVE.

use super::lexer::{Kind, Tok};

/// Whether the name at `toks[i]` starts a CTE: `name [(a, b)] AS [[NOT] MATERIALIZED] (`.
pub(super) fn starts_cte(toks: &[Tok<'_>], i: usize) -> bool {
    cte_body(toks, i).is_some()
}

/// Whether the query says `WITH RECURSIVE` (a CTE's own body may then name it).
pub(super) fn recursive(toks: &[Tok<'_>]) -> bool {
    toks.iter()
        .any(|t| t.text.eq_ignore_ascii_case("RECURSIVE"))
}

/// Whether the CTE named at `toks[i]` has ended (its body's `)` written) before `toks[at]`:
/// only then can a FROM item name it (a CTE's own body cannot, without RECURSIVE).
pub(super) fn cte_ended_before(toks: &[Tok<'_>], i: usize, at: usize) -> bool {
    cte_end(toks, i).is_some_and(|k| k < at)
}

/// Where the body's `)` of the CTE named at `toks[i]` is, once written.
pub(super) fn cte_end(toks: &[Tok<'_>], i: usize) -> Option<usize> {
    let open = cte_body(toks, i)?;
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate().skip(open) {
        if t.is(Kind::Punct, "(") {
            depth += 1;
        } else if t.is(Kind::Punct, ")") {
            depth -= 1;
            if depth == 0 {
                return Some(k);
            }
        }
    }
    None
}

/// Where the body's `(` of the CTE named at `toks[i]` is, if the name starts a CTE.
pub(super) fn cte_body(toks: &[Tok<'_>], i: usize) -> Option<usize> {
    let mut k = i + 1;
    if toks.get(k).is_some_and(|t| t.is(Kind::Punct, "(")) {
        // The column list: names and commas up to its `)`.
        k += 1;
        while toks
            .get(k)
            .is_some_and(|t| t.kind == Kind::Ident || t.is(Kind::Punct, ","))
        {
            k += 1;
        }
        if !toks.get(k).is_some_and(|t| t.is(Kind::Punct, ")")) {
            return None;
        }
        k += 1;
    }
    if !toks.get(k).is_some_and(|t| t.is(Kind::Keyword, "AS")) {
        return None;
    }
    k += 1;
    if toks.get(k).is_some_and(|t| t.is(Kind::Keyword, "NOT")) {
        k += 1;
    }
    if toks
        .get(k)
        .is_some_and(|t| t.text.eq_ignore_ascii_case("MATERIALIZED"))
    {
        k += 1;
    }
    toks.get(k)
        .is_some_and(|t| t.is(Kind::Punct, "("))
        .then_some(k)
}

/// How many names the column list of the CTE named at `toks[i]` has (`c (a, b) AS …`: 2; none
/// without a list).
pub(super) fn list_width(toks: &[Tok<'_>], i: usize) -> usize {
    if !toks.get(i + 1).is_some_and(|t| t.is(Kind::Punct, "(")) {
        return 0;
    }
    toks[i + 2..]
        .iter()
        .take_while(|t| !t.is(Kind::Punct, ")"))
        .filter(|t| t.kind == Kind::Ident)
        .count()
}
