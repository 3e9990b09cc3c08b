//! A model's repetitions: a name repeating its words, a column equated twice or with itself, one
//! column twice in one item, the same item compared again.

use super::lexer::{lex, Kind, Tok};
use super::opens_list;

/// Whether `name` repeats two `_`-separated words in a row (`track_id_track_id`) or has one
/// word three times; `year_over_year` is fine. While the name is being written (`complete`
/// false) its last word may still grow and is not counted.
pub(super) fn words_repeated(name: &str, complete: bool) -> bool {
    let mut words: Vec<&str> = name.split('_').collect();
    if !complete {
        words.pop();
    }
    words.retain(|w| !w.is_empty());
    let pairs: Vec<(&str, &str)> = words.windows(2).map(|w| (w[0], w[1])).collect();
    pairs
        .iter()
        .enumerate()
        .any(|(k, p)| pairs[..k.saturating_sub(1)].contains(p))
        || words
            .iter()
            .any(|w| words.iter().filter(|x| *x == w).count() >= 3)
}

/// `x = 1 AND x = 2`: one column equated with a literal twice in one AND chain (never true, or
/// the same condition twice), counted when the second literal starts. Any other keyword (OR,
/// NOT, a clause, CASE's WHEN), a comma and each parenthesis start a new chain; `<=`, `>=` and
/// `!=` are not equalities.
pub(super) fn equated_twice(toks: &[Tok<'_>]) -> usize {
    let mut chains: Vec<Vec<String>> = vec![Vec::new()];
    let mut n = 0;
    for (i, t) in toks.iter().enumerate() {
        match t.kind {
            Kind::Punct if t.text == "(" => chains.push(Vec::new()),
            Kind::Punct if t.text == ")" && chains.len() > 1 => {
                chains.pop();
            }
            Kind::Punct if matches!(t.text, "," | ";") => {
                if let Some(c) = chains.last_mut() {
                    c.clear();
                }
            }
            Kind::Keyword if !t.text.eq_ignore_ascii_case("AND") => {
                if let Some(c) = chains.last_mut() {
                    c.clear();
                }
            }
            Kind::Literal if i >= 2 && toks[i - 1].is(Kind::Punct, "=") => {
                let k = i - 2;
                if toks[k].kind != Kind::Ident {
                    continue;
                }
                let qualified =
                    k >= 2 && toks[k - 1].is(Kind::Punct, ".") && toks[k - 2].kind == Kind::Ident;
                // `a + b = 1`: an expression, not a column.
                let from = if qualified { k - 2 } else { k };
                if from >= 1
                    && toks[from - 1].kind == Kind::Punct
                    && !matches!(toks[from - 1].text, "(" | ",")
                {
                    continue;
                }
                let key = if qualified {
                    format!("{}.{}", toks[k - 2].name(), toks[k].name())
                } else {
                    toks[k].name()
                };
                if let Some(c) = chains.last_mut() {
                    if c.contains(&key) {
                        n += 1;
                    } else {
                        c.push(key);
                    }
                }
            }
            _ => {}
        }
    }
    n
}

/// Comparisons of a column with itself (`a.id = a.id`, `x <> x`, `x = x + 1`), each counted
/// once the right side's name is complete.
pub(super) fn self_comparisons(toks: &[Tok<'_>]) -> usize {
    let is_op = |t: &Tok<'_>| t.kind == Kind::Punct && matches!(t.text, "=" | "<" | ">" | "!");
    let is = |k: usize, text: &str| toks.get(k).is_some_and(|t| t.is(Kind::Punct, text));
    let ident = |k: usize| toks.get(k).is_some_and(|t| t.kind == Kind::Ident);
    let mut n = 0;
    let mut i = 1;
    while i < toks.len() {
        if !is_op(&toks[i]) || is_op(&toks[i - 1]) {
            i += 1;
            continue;
        }
        let op_end = if toks.get(i + 1).is_some_and(is_op) {
            i + 2
        } else {
            i + 1
        };
        // The left side: `c` or `q.c`, standing alone before the operator.
        let left = if i >= 3 && ident(i - 1) && is(i - 2, ".") && ident(i - 3) {
            i - 3
        } else if ident(i - 1) {
            i - 1
        } else {
            i = op_end;
            continue;
        };
        let alone = left == 0
            || toks[left - 1].kind == Kind::Keyword
            || is(left - 1, "(")
            || is(left - 1, ",");
        let right_end = if ident(op_end) && is(op_end + 1, ".") && ident(op_end + 2) {
            op_end + 3
        } else if ident(op_end) {
            op_end + 1
        } else {
            i = op_end;
            continue;
        };
        // Known once the name is complete; what follows does not save it (`x = x + 1` is
        // never true, `x = x || x` is a loop, `x = x::integer` is true or fails).
        let complete = toks[right_end - 1].complete
            && toks.get(right_end).is_none_or(|t| {
                let glued = t.start == toks[right_end - 1].end;
                !(t.is(Kind::Punct, "(") || (t.is(Kind::Punct, ".") && glued))
            });
        let same = right_end - op_end == i - left
            && toks[left..i]
                .iter()
                .zip(&toks[op_end..right_end])
                .all(|(a, b)| a.text == b.text);
        if alone && complete && same {
            n += 1;
        }
        i = op_end;
    }
    n
}

/// The columns `toks` (one list item) name outside calls and subqueries, each with the index
/// of its first token (the qualifier's, if any) and of its last. Names followed by `(` or `.`,
/// a cast's type and an output alias are no columns; a name still being written is left out.
fn own_columns(toks: &[Tok<'_>]) -> Vec<(String, usize, usize)> {
    let mut calls = Vec::new();
    let mut out = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|p| toks.get(p));
        let next = toks.get(i + 1);
        match t.kind {
            Kind::Punct if t.text == "(" => {
                // A call's arguments, or a subquery: not this item's own columns.
                calls.push(
                    prev.is_some_and(|p| opens_list(p, t))
                        || next.is_some_and(|n| n.is(Kind::Keyword, "SELECT")),
                );
            }
            Kind::Punct if t.text == ")" => {
                calls.pop();
            }
            Kind::Ident
                if t.complete
                    && !calls.contains(&true)
                    && !next.is_some_and(|n| n.is(Kind::Punct, "(") || n.is(Kind::Punct, "."))
                    && !prev
                        .is_some_and(|p| p.is(Kind::Punct, "::") || p.is(Kind::Keyword, "AS")) =>
            {
                let qualified = prev.is_some_and(|d| d.is(Kind::Punct, ".")) && i >= 2;
                out.push(if qualified {
                    (format!("{}.{}", toks[i - 2].name(), t.name()), i - 2, i)
                } else {
                    (t.name(), i, i)
                });
            }
            _ => {}
        }
    }
    out
}

/// The tokens of a list item, every one complete once the item has `closed`.
fn item_tokens(item: &str, closed: bool) -> Vec<Tok<'_>> {
    let mut toks = lex(item);
    if closed {
        for t in &mut toks {
            t.complete = true;
        }
    }
    toks
}

/// Whether `toks[k]` is an operand of a chain of columns: a name, a literal, or a cast
/// (`::INTEGER`).
fn chain_operand(toks: &[Tok<'_>], k: usize) -> bool {
    let t = &toks[k];
    matches!(t.kind, Kind::Ident | Kind::Literal)
        || t.is(Kind::Punct, ".")
        || t.is(Kind::Punct, "::")
        || (t.kind == Kind::Keyword && k > 0 && toks[k - 1].is(Kind::Punct, "::"))
}

/// Whether a list item names one column twice in one chain of operands joined by nothing but
/// `||`, AND, OR, a comma or an opening parenthesis, outside any call (`a.x || a.x`, `x OR x`,
/// `x || (x, y)`, `e.fax || e.email || e.phone || e.fax`, `x::TEXT || y || x`): the model
/// looping inside one item. Other names, literals and casts may stand between the two; an
/// operator, a call or a keyword ends the chain. Arithmetic (`(price - cost) / price`), calls
/// (`max(x) - min(x)`) and comparisons (`x = 1 OR x = 2`) may name a column twice, and so may
/// a CASE.
/// `closed`: the item has ended (its last name is complete).
pub(super) fn repeated_column(item: &str, closed: bool) -> bool {
    let toks = item_tokens(item, closed);
    if toks.iter().any(|t| t.is(Kind::Keyword, "CASE")) {
        return false;
    }
    let joiner = |t: &Tok<'_>| {
        (t.kind == Kind::Punct && matches!(t.text, "|" | "(" | ","))
            || (t.kind == Kind::Keyword && matches!(t.text, "AND" | "OR"))
    };
    // Each name and the token index just after its last occurrence.
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (name, start, last) in own_columns(&toks) {
        match seen.iter_mut().find(|(n, _)| *n == name) {
            Some((_, after)) => {
                if (*after..start).all(|k| joiner(&toks[k]) || chain_operand(&toks, k)) {
                    return true;
                }
                *after = last + 1;
            }
            None => seen.push((name, last + 1)),
        }
    }
    false
}

/// The columns of a list item that is one column or one chain of operands joined by `||`,
/// AND or OR (names, literals, casts, calls: `e.fax || e.email`, `upper(name) || x`); none
/// for any other item (arithmetic, a comparison, a parenthesised expression, a CASE).
fn chain_columns(item: &str, closed: bool) -> Vec<String> {
    let toks = item_tokens(item, closed);
    // Calls' arguments are skipped; a parenthesis that opens no call ends the reading.
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate() {
        if t.is(Kind::Punct, "(") {
            let call = k > 0 && opens_list(&toks[k - 1], t);
            if depth == 0 && !call {
                return Vec::new();
            }
            depth += 1;
            continue;
        }
        if t.is(Kind::Punct, ")") {
            depth = depth.saturating_sub(1);
            continue;
        }
        let part = chain_operand(&toks, k)
            || t.is(Kind::Punct, "|")
            || (t.kind == Kind::Keyword && matches!(t.text, "AND" | "OR"));
        if depth == 0 && !part {
            return Vec::new();
        }
    }
    own_columns(&toks).into_iter().map(|(n, _, _)| n).collect()
}

/// Whether a SELECT item compares a chain of two or more columns joined by `||` with
/// something (`e.fax || e.email = e.phone || e.fax …`, `… IN (SELECT count(…) …)`, Gemma's):
/// the model looping through the
/// same columns, no question's answer. Judged at the comparison operator.
pub(super) fn compared_chain(item: &str) -> bool {
    let toks = lex(item);
    let Some(op) = toks.iter().position(|t| {
        (t.kind == Kind::Punct && matches!(t.text, "=" | "<" | ">" | "!"))
            || (t.kind == Kind::Keyword
                && matches!(t.text, "IN" | "LIKE" | "ILIKE" | "BETWEEN" | "NOT"))
    }) else {
        return false;
    };
    let before = &item[..toks[op].start];
    toks[..op]
        .windows(2)
        .any(|w| w[0].is(Kind::Punct, "|") && w[1].is(Kind::Punct, "|"))
        && chain_columns(before, true).len() >= 2
}

/// Whether a SELECT item that is a chain of columns ([`chain_columns`]; judged from its second
/// column on: one column alone may still become a chain or end the list) names a column two
/// earlier items of its list that are a column or a chain of them already name: `SELECT e.email, e.phone, e.email
/// || e.phone, e.fax || e.email || …` is a model shuffling the same columns until its budget
/// runs out. (`SELECT first_name, last_name, first_name || ' ' || last_name` names each
/// twice; derived measures such as `price - cost`, `(price - cost) / price` are free.)
pub(super) fn column_in_third_item(earlier: &[String], item: &str, closed: bool) -> bool {
    let own = chain_columns(item, closed);
    if own.len() < 2 {
        return false;
    }
    let before: Vec<Vec<String>> = earlier.iter().map(|e| chain_columns(e, true)).collect();
    own.iter()
        .any(|n| before.iter().filter(|b| b.contains(n)).count() >= 2)
}

/// Whether the tokens up to `toks[i]` end an equality of two columns of one qualifier
/// (`o.order_id = o.order_date`, judged once the right column's name is complete; a column with
/// itself is [`self_comparisons`]'s). Other comparisons are free: a LEFT JOIN's
/// `ON t.done_at > t.due_at` filters the joined rows. (`o.total = o.quantity * p.price` is
/// refused too: letting arithmetic go on let the model write `o.order_id = o.order_date - 1…`.)
pub(super) fn same_item_compared(toks: &[Tok<'_>], i: usize) -> bool {
    let t = &toks[i];
    let next = toks.get(i + 1);
    if t.kind != Kind::Ident
        || !t.complete
        || next.is_some_and(|n| n.is(Kind::Punct, "(") || n.is(Kind::Punct, "."))
        || i < 6
    {
        return false;
    }
    let op =
        |k: usize| toks[k].kind == Kind::Punct && matches!(toks[k].text, "=" | "<" | ">" | "!");
    let qualified = |k: usize| {
        toks[k].kind == Kind::Ident
            && toks[k + 1].is(Kind::Punct, ".")
            && toks[k + 2].kind == Kind::Ident
    };
    // `q . c = q . c`, with `=` alone (not `>=`, `<=`, `!=`) and the left side standing
    // alone (not `p.a * o.b = o.c`).
    if !qualified(i - 2) || !toks[i - 3].is(Kind::Punct, "=") || op(i - 4) {
        return false;
    }
    let left = i - 6;
    let alone =
        left == 0 || toks[left - 1].kind == Kind::Keyword || toks[left - 1].is(Kind::Punct, "(");
    if !qualified(left) || !alone {
        return false;
    }
    let right_q = toks[i - 2].name();
    let left_q = toks[left].name();
    right_q == left_q && toks[left + 2].name() != t.name()
}

/// Whether the tokens up to `toks[i]` end `q.c = q.`, alone in a join condition: whatever
/// column follows, [`same_item_compared`] refuses it.
pub(super) fn same_item_qualifier(toks: &[Tok<'_>], i: usize) -> bool {
    if i < 5 || !toks[i].is(Kind::Punct, ".") || !toks[i - 2].is(Kind::Punct, "=") {
        return false;
    }
    let ident = |k: usize| toks[k].kind == Kind::Ident;
    let left = i - 5;
    let alone =
        left == 0 || toks[left - 1].kind == Kind::Keyword || toks[left - 1].is(Kind::Punct, "(");
    ident(left)
        && toks[left + 1].is(Kind::Punct, ".")
        && ident(left + 2)
        && ident(i - 1)
        && alone
        && toks[left].name() == toks[i - 1].name()
}
