//! Constants where PostgreSQL reads them by what they stand beside: a text compared with
//! `TRUE` or `FALSE` is read as a yes/no (`'abc' = TRUE`, `'a' NOT BETWEEN 'b' AND TRUE`:
//! 22P02 when it is none), and a text constant as a GROUP BY item groups by nothing (`GROUP BY
//! 'x'::VARCHAR` leaves every column of the SELECT list outside the groups: 42803).

use super::items::yes_or_no;
use super::lexer::{lex, Kind, Tok};
use super::{comparison_at, CONSTANTS};

/// Whether the tokens end with a comparison of single-token operands that sets a text that is
/// no yes/no against `TRUE` or `FALSE`: `'abc' = TRUE`, `FALSE <> 'x'`, `'a' [NOT] BETWEEN 'b'
/// AND TRUE`. The left operand must start after what cannot make it part of a bigger one
/// (`(`, `,`, WHERE, ON, BY, NOT, …; not after AND, which may end a BETWEEN whose result is
/// compared: `x BETWEEN 'a' AND 'b' = TRUE` is a yes/no against TRUE). Judged on a whole right
/// operand, so the caller checks what follows.
pub(super) fn text_against_truth(toks: &[Tok<'_>]) -> bool {
    let Some((last, before)) = toks.split_last() else {
        return false;
    };
    let truth = |t: &Tok<'_>| t.is(Kind::Keyword, "TRUE") || t.is(Kind::Keyword, "FALSE");
    let text = |t: &Tok<'_>| {
        t.kind == Kind::Literal
            && t.complete
            && t.text.len() >= 2
            && t.text.starts_with('\'')
            && !yes_or_no(t.text.trim_matches('\''))
    };
    let clash = |ops: &[&Tok<'_>]| ops.iter().any(|t| truth(t)) && ops.iter().any(|t| text(t));
    // Whether the operand at `k` stands alone on its left.
    let alone = |k: usize| {
        let Some(p) = k.checked_sub(1).and_then(|p| toks.get(p)) else {
            return true;
        };
        p.is(Kind::Punct, "(")
            || p.is(Kind::Punct, ",")
            || [
                "WHERE", "ON", "HAVING", "WHEN", "THEN", "ELSE", "SELECT", "BY", "NOT",
            ]
            .iter()
            .any(|w| p.is(Kind::Keyword, w))
    };
    if let Some(op) = comparison_at(before) {
        return op >= 1 && alone(op - 1) && clash(&[&toks[op - 1], last]);
    }
    // `a [NOT] BETWEEN b AND c`
    let n = toks.len();
    if n >= 5 && toks[n - 2].is(Kind::Keyword, "AND") && toks[n - 4].is(Kind::Keyword, "BETWEEN") {
        let left = if toks[n - 5].is(Kind::Keyword, "NOT") {
            n.checked_sub(6)
        } else {
            Some(n - 5)
        };
        if let Some(left) = left {
            return alone(left) && clash(&[&toks[left], &toks[n - 3], last]);
        }
    }
    false
}

/// Whether a GROUP BY item is a constant expression (`'x'`, `'x'::VARCHAR(10)`,
/// `current_timestamp`, `now()`, `'a' NOT BETWEEN 'b' AND NULL`): one that names no column, so
/// it groups by nothing. Its words are literals, types after `::`, date and time constants and
/// the operators' keywords; any other word may be a column (an upper-case word too, which the
/// lexer takes for a keyword: `NAME`).
pub(super) fn constant_item(item: &str) -> bool {
    const OPERATORS: &[&str] = &[
        "NOT",
        "BETWEEN",
        "SYMMETRIC",
        "AND",
        "OR",
        "IS",
        "NULL",
        "TRUE",
        "FALSE",
        "LIKE",
        "ILIKE",
        "IN",
        "DISTINCT",
        "FROM",
    ];
    // (The space ends a literal at the item's end, which could otherwise still grow.)
    let text = format!("{} ", item.trim());
    let toks = lex(&text);
    // (A number alone is a position in the SELECT list, in parentheses too: `GROUP BY (1)`.)
    let inner: Vec<_> = toks
        .iter()
        .filter(|t| !t.is(Kind::Punct, "(") && !t.is(Kind::Punct, ")"))
        .collect();
    let position =
        inner.len() == 1 && inner[0].kind == Kind::Literal && !inner[0].text.starts_with('\'');
    !toks.is_empty()
        && !position
        && toks.iter().enumerate().all(|(k, t)| {
            let word = t.text.to_ascii_lowercase();
            let after_cast = k >= 1 && toks[k - 1].is(Kind::Punct, "::");
            let now = word == "now" && toks.get(k + 1).is_some_and(|n| n.is(Kind::Punct, "("));
            match t.kind {
                Kind::Literal => t.complete,
                Kind::Punct => !t.text.starts_with('.'),
                Kind::Keyword => {
                    after_cast
                        || now
                        || OPERATORS.contains(&t.text)
                        || CONSTANTS.contains(&word.as_str())
                }
                Kind::Ident => after_cast || now || CONSTANTS.contains(&word.as_str()),
            }
        })
}
