//! The FROM clause a SELECT list the model wrote no FROM for asks for: `SELECT ir_.title, …`
//! cut off before its FROM names a table (`album`, which has `title`) and an alias (`ir_`), so
//! the finisher can write ` FROM album ir_` after it instead of giving the query up; two
//! qualifiers get two tables a foreign key joins (` FROM album a JOIN artist b ON b.artist_id
//! = a.artist_id`). Only a table whose columns the list names is offered (a list that names no
//! column of any chosen table gets none: `SELECT 1 FROM album` answers nothing the question
//! asked).

use super::lexer::{lex, Kind, Tok};
use crate::ask::catalog::{quote_ident, Table};

/// The FROM clauses (each starting with a space) that could follow `text`, whose last SELECT
/// list is open and has no FROM: per chosen table of `tables` (in their order) whose columns
/// the list names, ` FROM table` or ` FROM table alias` for the one qualifier the list uses
/// that is no table's name; for two such qualifiers, the two tables a foreign key joins
/// ([`joined`]). Empty when the list names no column of any of them, uses three such
/// qualifiers, or ends inside a string. Tables `hint` (the whole text) names come first. The
/// caller checks each with the grammar and the scope check.
pub(super) fn from_tails(tables: &[Table], text: &str, hint: &str) -> Vec<String> {
    let toks = lex(text);
    // Inside a string literal the list cannot end.
    let open_string = |t: &str| t.starts_with('\'') && t.matches('\'').count() % 2 == 1;
    if toks
        .last()
        .is_some_and(|t| t.kind == Kind::Literal && open_string(t.text))
    {
        return Vec::new();
    }
    let Some(select) = toks
        .iter()
        .rposition(|t| t.kind == Kind::Keyword && t.text.eq_ignore_ascii_case("SELECT"))
    else {
        return Vec::new();
    };
    let list = &toks[select + 1..];
    // A FROM of the list's own (not a call's: `EXTRACT(YEAR FROM d)`).
    let mut depth = 0usize;
    for t in list {
        if t.is(Kind::Punct, "(") {
            depth += 1;
        } else if t.is(Kind::Punct, ")") {
            depth = depth.saturating_sub(1);
        } else if depth == 0 && t.kind == Kind::Keyword && t.text.eq_ignore_ascii_case("FROM") {
            return Vec::new();
        }
    }
    let is_table = |q: &str| tables.iter().any(|t| t.name == q || t.schema == q);
    // Each column reference of the list: its qualifier (if any) and its name.
    let mut refs: Vec<(Option<String>, String)> = Vec::new();
    let mut k = 0;
    while k < list.len() {
        let t = &list[k];
        let dotted = list
            .get(k + 1)
            .is_some_and(|d| d.text == "." && d.start == t.end);
        if t.kind == Kind::Ident && dotted {
            // `q.c` (or `q.*`): the name after the dot belongs to `q`.
            let after = list.get(k + 2);
            let name = after.map_or_else(String::new, |a| match a.kind {
                Kind::Ident => a.name(),
                _ => a.text.to_string(),
            });
            refs.push((Some(t.name()), name));
            k += 3;
            continue;
        }
        // A bare name that is no call's (`count(`, `floor(`) and no output alias (`AS n`).
        let call = list.get(k + 1).is_some_and(|p| p.text == "(");
        let aliased = k > 0 && list[k - 1].is(Kind::Keyword, "AS");
        if t.kind == Kind::Ident && !call && !aliased {
            refs.push((None, t.name()));
        }
        k += 1;
    }
    let mut pending: Vec<String> = refs
        .iter()
        .filter_map(|(q, _)| q.clone())
        .filter(|q| !is_table(q))
        .collect();
    pending.sort();
    pending.dedup();
    // The model's whole text, read once: the names it wrote, and the aliases the list's own
    // FROM gives chosen tables, where the text goes on to one.
    let hint = lex(hint);
    let names: Vec<String> = hint
        .iter()
        .filter(|t| t.kind == Kind::Ident)
        .map(|t| t.name())
        .collect();
    let bound = bound_in(tables, &hint, select);
    if let [a, b] = pending.as_slice() {
        return joined(tables, &refs, (a, b), (&names, &bound));
    }
    if pending.len() > 1 {
        return Vec::new();
    }
    let alias = pending.first();
    // The tables the model named in the rest of its text (`hint`) first: a column two tables
    // have is the one its own FROM read.
    let order = hinted(tables, &names);
    // The table the model's own text gave the alias (`FROM album ir_ …`, cut off later).
    let own = alias.and_then(|a| own_table(&bound, a));
    let mut out = Vec::new();
    for (i, t) in order {
        if own.is_some_and(|o| o != i) {
            continue;
        }
        let has = |c: &str| c == "*" || t.columns.iter().any(|col| col.name == c);
        let fits = refs.iter().all(|(q, c)| match q {
            Some(q) if Some(q) == alias => has(c),
            // Another table's own qualifier must be that table.
            Some(q) => *q == t.name && has(c),
            // A bare column of any chosen table must be one of this one's.
            None => {
                has(c)
                    || !tables
                        .iter()
                        .any(|o| o.columns.iter().any(|x| x.name == *c))
            }
        });
        let named = refs
            .iter()
            .any(|(_, c)| c != "*" && t.columns.iter().any(|col| col.name == *c));
        if !(fits && named) {
            continue;
        }
        // As the search path finds it, and in `public` qualified too.
        let mut spellings = vec![spelled(t)];
        if t.schema == "public" {
            spellings.push(format!("public.{}", quote_ident(&t.name)));
        }
        for s in spellings {
            out.push(match alias {
                Some(a) => format!(" FROM {s} {a}"),
                None => format!(" FROM {s}"),
            });
        }
    }
    out
}

/// The chosen tables, those among `names` (the model's text's) first, in their order
/// otherwise.
fn hinted<'a>(tables: &'a [Table], names: &[String]) -> Vec<(usize, &'a Table)> {
    let mut order: Vec<(usize, &Table)> = tables.iter().enumerate().collect();
    order.sort_by_key(|(_, t)| !names.contains(&t.name));
    order
}

/// The table `bound` ([`bound_in`]) gives the alias `q`, by its index.
fn own_table(bound: &[(String, usize)], q: &str) -> Option<usize> {
    bound.iter().find(|(b, _)| b == q).map(|(_, i)| *i)
}

/// A table as the search path finds it: bare in `public`, qualified elsewhere.
fn spelled(t: &Table) -> String {
    if t.schema == "public" || t.schema.is_empty() {
        quote_ident(&t.name)
    } else {
        format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.name))
    }
}

/// ` FROM t a JOIN u b ON b.k = a.k` for a list whose columns are all under the two
/// qualifiers `a` and `b`: the pair of two chosen tables with their columns that a one-column
/// foreign key joins (either way), when only one pair does or `names` (the model's text's)
/// has both tables of only one.
fn joined(
    tables: &[Table],
    refs: &[(Option<String>, String)],
    (a, b): (&String, &String),
    (names, bound): (&[String], &[(String, usize)]),
) -> Vec<String> {
    if refs.iter().any(|(q, _)| q.is_none()) || refs.iter().all(|(_, c)| c == "*") {
        return Vec::new();
    }
    let fits = |t: &Table, q: &String| {
        refs.iter()
            .filter(|(p, _)| p.as_ref() == Some(q))
            .all(|(_, c)| c == "*" || t.columns.iter().any(|col| col.name == *c))
    };
    let order = hinted(tables, names);
    let mut pairs: Vec<(bool, String)> = Vec::new();
    // (An alias the model's own text gave a table stands for that one.)
    let mine = |q: &String, i: usize| own_table(bound, q).is_none_or(|o| o == i);
    for &(i, t) in order.iter().filter(|(i, t)| fits(t, a) && mine(a, *i)) {
        // (Not a table with itself: which alias is the manager is not in the columns.)
        for &(j, u) in order
            .iter()
            .filter(|(j, u)| *j != i && fits(u, b) && mine(b, *j))
        {
            // (t's column, u's column) of each one-column key between them.
            let keys = t
                .foreign_keys
                .iter()
                .filter(|fk| fk.target == j)
                .filter_map(|fk| match (&fk.columns[..], &fk.target_columns[..]) {
                    ([c], [k]) => Some((c.clone(), k.clone())),
                    _ => None,
                })
                .chain(
                    u.foreign_keys
                        .iter()
                        .filter(|fk| fk.target == i)
                        .filter_map(|fk| match (&fk.columns[..], &fk.target_columns[..]) {
                            ([c], [k]) => Some((k.clone(), c.clone())),
                            _ => None,
                        }),
                );
            for (tc, uc) in keys {
                pairs.push((
                    names.contains(&t.name) && names.contains(&u.name),
                    format!(
                        " FROM {} {a} JOIN {} {b} ON {b}.{} = {a}.{}",
                        spelled(t),
                        spelled(u),
                        quote_ident(&uc),
                        quote_ident(&tc)
                    ),
                ));
            }
        }
    }
    // One join, or the one both of whose tables the model's own text names: with two left
    // (`SELECT c.first_name, e.first_name` fits customer and employee either way round) the
    // columns do not say which table each alias stands for.
    let both: Vec<&String> = pairs.iter().filter(|(n, _)| *n).map(|(_, p)| p).collect();
    match (pairs.as_slice(), both.as_slice()) {
        ([(_, one)], _) => vec![one.clone()],
        (_, [one]) => vec![(*one).clone()],
        _ => Vec::new(),
    }
}

/// The aliases the FROM list of the SELECT at token `select` of `toks` (the model's whole
/// text) gives chosen tables (`FROM album ir_`, `JOIN public.album AS ir_`), with the table's
/// index in `tables`: only items of that query's own level (not a subquery's), and a qualified
/// table only in its schema.
fn bound_in(tables: &[Table], toks: &[Tok<'_>], select: usize) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    let (mut depth, mut in_from) = (0usize, false);
    let mut k = select + 1;
    while k < toks.len() {
        let t = &toks[k];
        k += 1;
        if t.is(Kind::Punct, "(") {
            depth += 1;
            continue;
        }
        if t.is(Kind::Punct, ")") {
            if depth == 0 {
                break;
            }
            depth -= 1;
            continue;
        }
        if depth > 0 {
            continue;
        }
        let item_start = match t.kind {
            Kind::Keyword => match t.text {
                "FROM" => {
                    in_from = true;
                    true
                }
                "JOIN" => in_from,
                "WHERE" | "GROUP" | "HAVING" | "ORDER" | "LIMIT" | "UNION" | "INTERSECT"
                | "EXCEPT" | "WINDOW" | "OFFSET" | "FETCH" => {
                    in_from = false;
                    false
                }
                _ => false,
            },
            _ => in_from && t.is(Kind::Punct, ","),
        };
        if !item_start {
            continue;
        }
        // `[schema .] table [AS] alias` after FROM, JOIN or a comma of the FROM list.
        let mut at = k;
        let schema = match (toks.get(at), toks.get(at + 1)) {
            (Some(s), Some(d)) if s.kind == Kind::Ident && d.is(Kind::Punct, ".") => {
                at += 2;
                Some(s.name())
            }
            _ => None,
        };
        let Some(name) = toks.get(at).filter(|n| n.kind == Kind::Ident) else {
            continue;
        };
        let Some(i) = tables
            .iter()
            .position(|x| x.name == name.name() && schema.as_ref().is_none_or(|s| *s == x.schema))
        else {
            continue;
        };
        at += 1;
        if toks.get(at).is_some_and(|n| n.is(Kind::Keyword, "AS")) {
            at += 1;
        }
        let Some(alias) = toks.get(at).filter(|n| n.kind == Kind::Ident) else {
            continue;
        };
        let used = toks
            .get(at + 1)
            .is_some_and(|n| n.text == "." || n.text == "(");
        if !used && !out.iter().any(|(a, _)| *a == alias.name()) {
            out.push((alias.name(), i));
        }
    }
    out
}
