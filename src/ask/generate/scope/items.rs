//! Select items and lists when they close: the type an item has, constants and calls that are no
//! condition, set-operation branches that do not match, ungrouped columns.

use super::aliases::Binding;
use super::lexer::{ident_name, lex, Kind};
use super::repeats::{column_in_third_item, compared_chain, repeated_column};
use super::{comparable, Clause, Level, Scope, CONSTANTS};
use crate::ask::catalog::{Catalog, Table};
use crate::ask::generate::grammar::{signature, Call, AGGREGATES, FUNCTIONS};

/// The list item that ends at `at` (exclusive): one problem if its level already has it, one
/// if it is a constant where none can stand (see [`literal`]).
pub(super) fn close_item(s: &str, l: &mut Level, at: usize, cat: &Catalog) -> usize {
    let Some(start) = l.item_start.take() else {
        return 0;
    };
    let Some(raw) = s.get(start..at) else {
        return 0;
    };
    let mut item = raw.trim();
    if l.clause == Clause::Select {
        l.names.push(output_name(item));
        // An output alias does not make an item new.
        if let Some(k) = item.rfind(" AS ") {
            if !item[k + 4..].contains([' ', '(', ')', '\'']) {
                item = &item[..k];
            }
        }
    }
    if l.clause == Clause::Order {
        item = item
            .trim_end_matches(" NULLS FIRST")
            .trim_end_matches(" NULLS LAST")
            .trim_end_matches(" DESC")
            .trim_end_matches(" ASC");
    }
    if item.is_empty() {
        return 0;
    }
    if l.clause == Clause::Select {
        let (aggregate, plain, qualified) = own_reads(item);
        if aggregate {
            l.aggregates += 1;
        }
        // A column beside an aggregate in one item: qualified, it is judged in the outermost
        // query only (in a subquery it may be an enclosing query's, `max(m.price) - l.price`,
        // fixed per group).
        if plain && (!aggregate || l.id == 0 || !qualified) {
            l.plain += 1;
        }
    }
    let constant = match l.clause {
        // `ORDER BY 'x'`, `GROUP BY 2.5`, `ORDER BY 7` after two items: a constant there is a
        // position in the SELECT list or nothing (42601, 42P10).
        // (A window's or a call's ORDER BY sorts by the constant: free.)
        Clause::Group | Clause::Order if l.query => match literal(item) {
            Some(Literal::Text) | Some(Literal::Decimal) | Some(Literal::Negative) => true,
            Some(Literal::Integer(n)) => {
                // `SELECT *` has as many positions as columns: not counted here.
                let counted =
                    !l.selected.is_empty() && !l.selected.iter().any(|i| i.ends_with('*'));
                counted && (n == 0 || n > l.selected.len() as u64)
            }
            // `ORDER BY TRUE`, `GROUP BY NULL`: constants too (42601).
            None => matches!(
                item.to_ascii_uppercase().as_str(),
                "TRUE" | "FALSE" | "NULL"
            ),
        },
        // `ON 'x'::VARCHAR`, `WHERE 1`, `AND t.milliseconds`: a condition that is no yes/no
        // (42804); a bare column when every chosen table's column of that name is known and
        // not boolean.
        _ if l.on_cond || matches!(l.clause, Clause::Where | Clause::Having) => {
            no_yes_no(item, cat)
        }
        _ => false,
    };
    // `GROUP BY c.customer_id OR c.support_rep_id`: an operand of AND/OR outside a condition
    // that is no yes/no (42804).
    let constant = constant
        || (matches!(l.clause, Clause::Select | Clause::Group | Clause::Order)
            && !item.contains(" BETWEEN ")
            && {
                let outer = outside_parentheses(item);
                outer.contains(" AND ") || outer.contains(" OR ")
            }
            && top_level_operands(item).iter().any(|o| no_yes_no(o, cat)));
    // `SELECT method, count(*) FROM payments GROUP BY payment_id`: one table grouped by its
    // primary key has a group for each row, and an aggregate beside it reads one row (Gemma's
    // answer to "the total amount paid with each payment method").
    let per_row = l.clause == Clause::Group
        && l.query
        && l.aggregates > 0
        && match l.tables.as_slice() {
            [Some(t)] => cat.tables.get(*t).is_some_and(|t| {
                let column = item.rsplit('.').next().unwrap_or(item);
                !item.contains(['(', ' ', '\''])
                    && t.primary_key.len() == 1
                    && t.primary_key[0] == ident_name(column)
            }),
            _ => false,
        };
    let dup = l.items.iter().any(|x| x == item);
    let looped = (matches!(l.clause, Clause::Select | Clause::Group | Clause::Order)
        && repeated_column(item, true))
        || (l.clause == Clause::Select
            && (column_in_third_item(&l.items, item, true) || compared_chain(item)));
    l.items.push(item.to_string());
    usize::from(dup) + usize::from(looped) + usize::from(constant) + usize::from(per_row)
}

/// The name of the column a SELECT item gives, when the text tells: its alias (`… AS n`,
/// `count(*) n`), its column (`t.name`), or its call (`count(*)` gives `count`); `None` for
/// anything else (`*`, `t.*`, a cast, an expression), whose name is not judged here.
pub(super) fn output_name(item: &str) -> Option<String> {
    let toks = lex(item);
    let toks = match toks.first() {
        Some(t) if t.is(Kind::Keyword, "DISTINCT") || t.is(Kind::Keyword, "ALL") => &toks[1..],
        _ => &toks[..],
    };
    let n = toks.len();
    let last = toks.last()?;
    let named = |k: usize| matches!(toks[k].kind, Kind::Ident | Kind::Keyword);
    if n >= 2 && toks[n - 2].is(Kind::Keyword, "AS") && named(n - 1) {
        return Some(last.name());
    }
    match n {
        1 if last.kind == Kind::Ident => return Some(last.name()),
        3 if toks[1].is(Kind::Punct, ".") && named(0) && named(2) => return Some(last.name()),
        _ => {}
    }
    // `count(*) n`, `t.name label`: an alias without AS.
    if n >= 2
        && last.kind == Kind::Ident
        && (toks[n - 2].kind == Kind::Ident || toks[n - 2].is(Kind::Punct, ")"))
        && !(n >= 3 && toks[n - 3].is(Kind::Punct, "::"))
    {
        return Some(last.name());
    }
    // One call over the whole item: PostgreSQL names the column after the function (not
    // CAST's, which takes the type's).
    let call = n >= 3
        && named(0)
        && !toks[0].is(Kind::Keyword, "CAST")
        && toks[1].is(Kind::Punct, "(")
        && last.is(Kind::Punct, ")")
        && {
            let mut depth = 0usize;
            toks[1..].iter().enumerate().all(|(k, t)| {
                if t.is(Kind::Punct, "(") {
                    depth += 1;
                } else if t.is(Kind::Punct, ")") {
                    depth = depth.saturating_sub(1);
                }
                depth > 0 || k + 2 == n
            })
        };
    // (Only functions the grammar knows by their own name: `TRIM` gives `btrim`, `EXTRACT`
    // `date_part` before PostgreSQL 14, `NOT (…)` is no call.)
    let name = toks[0].name();
    (call
        && !matches!(name.as_str(), "trim" | "extract")
        && (FUNCTIONS.contains(&name.as_str()) || AGGREGATES.contains(&name.as_str())))
    .then_some(name)
}

/// `item` with its scalar subqueries (`(SELECT …)`) and string literals left out: what is left
/// is its own query's.
fn own_part(item: &str) -> String {
    let toks = lex(item);
    let mut out = String::with_capacity(item.len());
    let mut skip_to: Option<usize> = None;
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate() {
        if let Some(d) = skip_to {
            if t.is(Kind::Punct, "(") {
                depth += 1;
            } else if t.is(Kind::Punct, ")") {
                depth -= 1;
                if depth == d {
                    skip_to = None;
                }
            }
            continue;
        }
        if t.is(Kind::Punct, "(") {
            if toks
                .get(k + 1)
                .is_some_and(|n| n.text.eq_ignore_ascii_case("select"))
            {
                skip_to = Some(depth);
                depth += 1;
                // (Empty parentheses: no word of the subquery's stands for it.)
                out.push_str(" ()");
                continue;
            }
            depth += 1;
        } else if t.is(Kind::Punct, ")") {
            depth = depth.saturating_sub(1);
        }
        out.push(' ');
        if t.kind == Kind::Literal && t.text.starts_with('\'') {
            out.push_str("''");
        } else {
            out.push_str(t.text);
        }
    }
    out
}

/// Whether `item` calls an aggregate of its own query (not a window's, nor a scalar
/// subquery's).
pub(super) fn aggregate_item(item: &str) -> bool {
    own_reads(item).0
}

/// What the SELECT item `item` holds of its own query (outside scalar subqueries and string
/// literals, and not in a window): whether it calls an aggregate (the grammar's or an
/// ordered-set one: `percentile_cont(0.5) WITHIN GROUP (…)`), and whether it names a column
/// outside the aggregates' parentheses: a name that is no call, no cast's type and no date or
/// time constant, or a `*` (`current_date`, `now()`, `round(2.5)` and windows name none of
/// theirs); and whether one of those names is qualified.
fn own_reads(item: &str) -> (bool, bool, bool) {
    let star = item == "*" || item.ends_with(".*");
    let own = own_part(item);
    let toks = lex(&own);
    if toks.iter().any(|t| t.text.eq_ignore_ascii_case("over")) {
        return (false, star, false);
    }
    let call = |k: usize| toks.get(k + 1).is_some_and(|n| n.is(Kind::Punct, "("));
    let aggregate = toks.iter().enumerate().any(|(k, t)| {
        let f = t.text.to_ascii_lowercase();
        matches!(t.kind, Kind::Ident | Kind::Keyword)
            && call(k)
            && (AGGREGATES.contains(&f.as_str())
                || matches!(signature(&f), Some((Call::OrderedSet, _, _))))
    });
    // The tokens inside an aggregate's parentheses (with a FILTER's or WITHIN GROUP's after
    // them), whose columns are the aggregate's: `sum(x)` reads no column of its own row, and
    // `count(*) * t.price` does (42803 without a GROUP BY).
    let mut inside = vec![false; toks.len()];
    let mut k = 0;
    while k < toks.len() {
        let f = toks[k].text.to_ascii_lowercase();
        let is_aggregate = matches!(toks[k].kind, Kind::Ident | Kind::Keyword)
            && call(k)
            && (AGGREGATES.contains(&f.as_str())
                || matches!(signature(&f), Some((Call::OrderedSet, _, _))));
        if !is_aggregate {
            k += 1;
            continue;
        }
        let mut at = k + 1;
        loop {
            let mut depth = 0usize;
            while at < toks.len() {
                inside[at] = true;
                if toks[at].is(Kind::Punct, "(") {
                    depth += 1;
                } else if toks[at].is(Kind::Punct, ")") {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                }
                at += 1;
            }
            at += 1;
            // `FILTER (WHERE …)`, `WITHIN GROUP (ORDER BY …)`: the aggregate's too.
            let word =
                |j: usize, w: &str| toks.get(j).is_some_and(|t| t.text.eq_ignore_ascii_case(w));
            let open = |j: usize| toks.get(j).is_some_and(|t| t.is(Kind::Punct, "("));
            if word(at, "filter") && open(at + 1) {
                at += 1;
            } else if word(at, "within") && word(at + 1, "group") && open(at + 2) {
                at += 2;
            } else {
                break;
            }
        }
        k = at;
    }
    let columns: Vec<usize> = (0..toks.len())
        .filter(|&k| {
            let t = &toks[k];
            t.kind == Kind::Ident
                && !inside[k]
                && !call(k)
                && (k == 0 || !toks[k - 1].is(Kind::Punct, "::"))
                && !CONSTANTS.contains(&t.text.to_ascii_lowercase().as_str())
        })
        .collect();
    let qualified = columns
        .iter()
        .any(|&k| toks.get(k + 1).is_some_and(|n| n.is(Kind::Punct, ".")));
    (aggregate, star || !columns.is_empty(), qualified)
}

/// Whether the operand `item` is no yes/no: a constant, a column or a call that is not one
/// (an operand of AND, OR or a condition: 42804).
pub(super) fn no_yes_no(item: &str, cat: &Catalog) -> bool {
    non_boolean_constant(item) || non_boolean_column(item, cat) || non_boolean_call(item)
}

/// Whether `item` is a column alone (`c`, `t.c`, `NOT c`) that no chosen table has as a
/// boolean: every column of that name has a known type that is not.
pub(super) fn non_boolean_column(item: &str, cat: &Catalog) -> bool {
    let item = item.strip_prefix("NOT ").unwrap_or(item);
    let name = item.rsplit('.').next().unwrap_or(item);
    let ident = |w: &str| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'"')
    };
    if !item.split('.').all(ident) || item.split('.').count() > 2 {
        return false;
    }
    let name = name.trim_matches('"');
    let columns: Vec<_> = cat.tables.iter().filter_map(|t| t.column(name)).collect();
    // A known type that does not compare with boolean is text, a number, a date or a time.
    !columns.is_empty() && columns.iter().all(|c| !comparable(&c.data_type, "boolean"))
}

/// Whether none of the columns `left` could stand for compares with any of the types
/// `right` (an empty side judges nothing).
pub(super) fn never_compare(left: &[&crate::ask::catalog::Column], right: &[&str]) -> bool {
    !left.is_empty()
        && !right.is_empty()
        && left
            .iter()
            .all(|a| right.iter().all(|b| !comparable(&a.data_type, b)))
}

/// Whether PostgreSQL reads the text `value` as a yes/no (`'t'`, `'yes'`, `'off'`).
pub(super) fn yes_or_no(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    // Any start of `true`, `false`, `yes`, `no`; `on`, `of(f)` (`o` alone is either).
    !v.is_empty()
        && (["true", "false", "yes", "no"]
            .iter()
            .any(|w| w.starts_with(&v))
            || matches!(v.as_str(), "on" | "of" | "off" | "1" | "0"))
}

/// The special values PostgreSQL reads as a date, time or timestamp.
pub(super) const SPECIAL_TIMES: &[&str] = &[
    "now",
    "today",
    "tomorrow",
    "yesterday",
    "epoch",
    "infinity",
    "-infinity",
    "allballs",
];

/// Whether PostgreSQL may read the text `value` as a date, time, timestamp or interval, as far
/// as this tells: a text that starts with a special value (`now`, `today`, `epoch`,
/// `infinity`, …) or has a digit, and only the letters, digits and separators dates and
/// intervals are written with
/// (`2010-01-01`, `Jan 5 2010 10:00 America/Sao_Paulo`, `3 days ago`, `P1D`). Loose on
/// purpose: a text the server refuses may pass (`'2010'::DATE`); `'checkout'::INTERVAL`, no
/// digit, and `'" clubs 1'`, a quote, do not.
pub(super) fn reads_as_time(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    let first = v.split_ascii_whitespace().next().unwrap_or_default();
    // (`'today Europe/Paris'`, `'tomorrow zulu'`: a special value then a zone or a time.)
    let special = SPECIAL_TIMES.contains(&first);
    (special || v.bytes().any(|b| b.is_ascii_digit()))
        && v.bytes().all(|b| {
            b.is_ascii_alphanumeric() || b.is_ascii_whitespace() || b":+-./,@_".contains(&b)
        })
}

/// The words a cast's type may be written with (the grammar's types, one word each), with the
/// type each names as information_schema spells it.
pub(super) const CAST_TYPES: &[(&str, &str)] = &[
    ("INT", "integer"),
    ("INTEGER", "integer"),
    ("INT4", "integer"),
    ("BIGINT", "bigint"),
    ("INT8", "bigint"),
    ("SMALLINT", "smallint"),
    ("INT2", "smallint"),
    ("NUMERIC", "numeric"),
    ("DECIMAL", "numeric"),
    ("REAL", "real"),
    ("FLOAT4", "real"),
    ("FLOAT", "double precision"),
    ("FLOAT8", "double precision"),
    ("DOUBLE", "double precision"),
    ("TEXT", "text"),
    ("VARCHAR", "character varying"),
    ("CHAR", "character"),
    ("CHARACTER", "character"),
    ("DATE", "date"),
    ("TIMESTAMP", "timestamp without time zone"),
    ("TIMESTAMPTZ", "timestamp with time zone"),
    ("TIME", "time without time zone"),
    ("BOOL", "boolean"),
    ("BOOLEAN", "boolean"),
    ("MONEY", "money"),
    ("INTERVAL", "interval"),
    ("UUID", "uuid"),
];

/// The type a cast names (`TEXT`, `int`), as information_schema spells it; `None` for one
/// not known here.
pub(super) fn cast_type(name: &str) -> Option<&'static str> {
    CAST_TYPES
        .iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(name))
        .map(|&(_, ty)| ty)
}

/// `item` with what is inside parentheses (and string literals) left out.
pub(super) fn outside_parentheses(item: &str) -> String {
    let mut out = String::with_capacity(item.len());
    let (mut depth, mut quoted) = (0usize, false);
    for c in item.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth = depth.saturating_sub(1),
            _ if depth == 0 && !quoted => out.push(c),
            _ => {}
        }
    }
    out
}

/// A literal standing alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Literal {
    Text,
    Integer(u64),
    Decimal,
    /// A number with a minus sign (`-1`: PostgreSQL folds the sign into the constant, so in
    /// ORDER BY it is a position, and never a valid one).
    Negative,
}

/// What `item` is when it is one literal and nothing else (`'a''b'`, `12`, `1.5`, `-1`).
pub(super) fn literal(item: &str) -> Option<Literal> {
    if let Some(n) = item.strip_prefix('-') {
        return literal(n.trim_start())
            .filter(|l| *l != Literal::Text)
            .map(|_| Literal::Negative);
    }
    if let Some(inner) = item.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        // Quotes inside are doubled, never alone.
        return (!inner.replace("''", "").contains('\'')).then_some(Literal::Text);
    }
    if !item.is_empty() && item.bytes().all(|b| b.is_ascii_digit()) {
        return Some(item.parse().map_or(Literal::Decimal, Literal::Integer));
    }
    let (whole, frac) = item.split_once('.')?;
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    (digits(whole) && digits(frac) && !(whole.is_empty() && frac.is_empty()))
        .then_some(Literal::Decimal)
}

/// A condition `item` without the NOTs before it and the parentheses around it (`NOT (1)` is
/// `1`).
pub(super) fn operand(item: &str) -> &str {
    let mut item = item.trim();
    loop {
        if let Some(rest) = item.strip_prefix("NOT ") {
            item = rest.trim();
        } else if item.starts_with('(')
            && item.ends_with(')')
            && outside_parentheses(item).is_empty()
        {
            item = item[1..item.len() - 1].trim();
        } else {
            return item;
        }
    }
}

/// Whether a condition `item` is a literal, cast or not, in parentheses or after NOT or not,
/// that is not a yes/no (`'x'::VARCHAR`, `1`, `(1)`, `NOT 1`; `'t'::BOOLEAN` and `'yes'`, which
/// PostgreSQL reads as one, are).
pub(super) fn non_boolean_constant(item: &str) -> bool {
    let item = operand(item);
    if item
        .strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .is_some_and(yes_or_no)
    {
        return false;
    }
    let mut parts = item.split("::");
    let base = parts.next().unwrap_or_default().trim();
    let casts: Vec<String> = parts.map(|c| c.trim().to_ascii_uppercase()).collect();
    // Each cast a type name and nothing after it (`'2010-01-01'::DATE <= d` compares).
    let types = casts.iter().all(|c| {
        c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" (),[]".contains(&b))
            && !c.contains("  ")
            && c.split(' ').count() <= 3
    });
    literal(base).is_some() && types && !casts.last().is_some_and(|c| c.starts_with("BOOL"))
}

/// The operands of the AND and OR outside parentheses and quotes of `item`.
pub(super) fn top_level_operands(item: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut from) = (0usize, false, 0usize);
    let b = item.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth = depth.saturating_sub(1),
            b' ' if !quoted && depth == 0 => {
                for w in [" AND ", " OR "] {
                    if item[i..].starts_with(w) {
                        out.push(item[from..i].trim());
                        from = i + w.len();
                        i = from - 1;
                        break;
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    out.push(item[from..].trim());
    out
}

/// Whether `item` is one call alone (`AGE(1, 2)`, `NOT upper(name)`, `(round(x))`) of a
/// function of the grammar's that never returns a yes/no: as a condition it is 42804. A call
/// that can (`coalesce(flag, false)`, `bool_or(x)`) or one the grammar does not know is
/// left to PostgreSQL.
pub(super) fn non_boolean_call(item: &str) -> bool {
    let item = operand(item);
    let Some(open) = item.find('(') else {
        return false;
    };
    let name = item[..open].trim().to_lowercase();
    // The call's own parentheses end the item: nothing compares its value.
    let called = item.ends_with(')') && outside_parentheses(&item[open..]).is_empty();
    let may_be_boolean = [
        "coalesce",
        "nullif",
        "greatest",
        "least",
        "bool_and",
        "bool_or",
        "every",
        "min",
        "max",
        "first_value",
        "last_value",
        "nth_value",
        "lag",
        "lead",
        "mode",
    ];
    called && FUNCTIONS.contains(&name.as_str()) && !may_be_boolean.contains(&name.as_str())
}

/// A query level whose SELECT list mixes aggregates and plain columns needs a GROUP BY; one
/// problem when it ends (or reaches HAVING, ORDER BY or LIMIT) without one.
pub(super) fn ungrouped(l: &Level) -> usize {
    usize::from(l.query && l.aggregates > 0 && l.plain > 0 && !l.grouped)
}

/// The current list clause of a level ends at `at` (the SELECT list's items are kept for the
/// GROUP BY check).
pub(super) fn close_list(s: &str, l: &mut Level, at: usize, cat: &Catalog) -> usize {
    let mut problems = close_list_items(s, l, at, cat);
    if l.clause == Clause::Select {
        l.selected = l.items.clone();
        l.selected_names = l.names.clone();
        if l.set_op {
            problems += unmatched(&l.branch, &l.selected, cat);
        }
    }
    problems
}

/// The type of a SELECT item as far as the text tells: a literal's, a cast's, or the type every
/// chosen column of its name has.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ItemType {
    /// A text literal (PostgreSQL reads it as the other branch's type), with its text.
    Text(String),
    /// A type as information_schema spells it.
    Of(String),
}

pub(super) fn item_type(item: &str, cat: &Catalog) -> Option<ItemType> {
    let item = item.trim();
    if let Some((base, ty)) = item.rsplit_once("::") {
        // One value cast (`x::INT`), not an expression ending in a cast (`a::date - b::date`).
        if base.contains(' ') {
            return None;
        }
        return cast_type(ty.trim()).map(|t| ItemType::Of(t.to_string()));
    }
    match literal(item) {
        Some(Literal::Text) => {
            let inner = &item[1..item.len() - 1];
            return Some(ItemType::Text(inner.replace("''", "'")));
        }
        Some(_) => return Some(ItemType::Of("numeric".into())),
        None => {}
    }
    if item.eq_ignore_ascii_case("TRUE") || item.eq_ignore_ascii_case("FALSE") {
        return Some(ItemType::Of("boolean".into()));
    }
    let now = match item.to_ascii_lowercase().as_str() {
        "current_date" => Some("date"),
        "current_timestamp" => Some("timestamp with time zone"),
        "localtimestamp" => Some("timestamp without time zone"),
        "current_time" => Some("time with time zone"),
        "localtime" => Some("time without time zone"),
        _ => None,
    };
    if let Some(ty) = now {
        return Some(ItemType::Of(ty.into()));
    }
    let name = item.rsplit('.').next().unwrap_or(item).trim_matches('"');
    let plain = item.split('.').count() <= 2
        && item
            .split('.')
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    if !plain {
        return None;
    }
    let types: Vec<&str> = cat
        .tables
        .iter()
        .filter_map(|t| t.column(name))
        .map(|c| c.data_type.as_str())
        .collect();
    let first = *types.first()?;
    types
        .iter()
        .all(|t| comparable(t, first) && comparable(first, t))
        .then(|| ItemType::Of(first.to_string()))
}

/// How many items of a set operation's later branch `items` PostgreSQL cannot match with the
/// first branch's `branch` (`SELECT region … EXCEPT SELECT TRUE`: 42804; `SELECT product_id …
/// INTERSECT SELECT 'abc'`: 22P02); an item whose type the text does not tell matches anything.
pub(super) fn unmatched(branch: &[String], items: &[String], cat: &Catalog) -> usize {
    let ty = |t: &ItemType| -> Option<String> {
        match t {
            ItemType::Of(ty) => Some(ty.clone()),
            ItemType::Text(_) => None,
        }
    };
    let reads = |text: &str, as_type: &str| {
        if comparable(as_type, "boolean") && !comparable(as_type, "integer") {
            yes_or_no(text)
        } else if comparable(as_type, "integer") && !comparable(as_type, "text") {
            text.trim().parse::<f64>().is_ok()
        } else {
            true
        }
    };
    branch
        .iter()
        .zip(items)
        .filter(|(a, b)| match (item_type(a, cat), item_type(b, cat)) {
            (Some(ItemType::Text(t)), Some(other)) | (Some(other), Some(ItemType::Text(t))) => {
                ty(&other).is_some_and(|o| !reads(&t, &o))
            }
            (Some(x), Some(y)) => match (ty(&x), ty(&y)) {
                (Some(x), Some(y)) => !comparable(&x, &y),
                _ => false,
            },
            _ => false,
        })
        .count()
}

pub(super) fn close_list_items(s: &str, l: &mut Level, at: usize, cat: &Catalog) -> usize {
    if l.on_cond
        || matches!(
            l.clause,
            Clause::Select | Clause::Group | Clause::Order | Clause::Where | Clause::Having
        )
    {
        close_item(s, l, at, cat)
    } else {
        0
    }
}

impl Scope {
    /// How many columns the SELECT items `items` of the query level `level` give, when the
    /// text tells: one each, and a `t.*` as many as its chosen table has; `None` for `*`, a
    /// `t.*` of anything else, or an item an array's comma split.
    pub(super) fn width(
        &self,
        items: &[String],
        level: usize,
        bindings: &[Binding],
    ) -> Option<usize> {
        items
            .iter()
            .map(|item| {
                let item = item.trim();
                // (`ARRAY[1, 2]`: its comma split the item, so the count is not known.)
                if item == "*" || item.contains(['[', ']']) {
                    return None;
                }
                let Some(q) = item.strip_suffix(".*") else {
                    return Some(1);
                };
                let q = q.rsplit('.').next().unwrap_or(q);
                // (A CTE of the name is no chosen table, whatever the binding says.)
                if bindings.iter().any(|b| b.cte && b.name == ident_name(q)) {
                    return None;
                }
                self.level_table(q, level, bindings)
                    .map(|t| t.columns.len())
            })
            .sum()
    }

    /// The chosen table that the name `q` (as written) stands for at the query level `level`.
    pub(super) fn level_table(
        &self,
        q: &str,
        level: usize,
        bindings: &[Binding],
    ) -> Option<&Table> {
        let q = ident_name(q);
        bindings
            .iter()
            .find(|b| b.level == level && !b.cte && b.name == q)
            .and_then(|b| b.table)
            .and_then(|t| self.catalog.tables.get(t))
    }

    /// One problem when a later branch of a set operation has just ended its SELECT list with
    /// another number of columns than the first branch gave (`SELECT a.* … UNION SELECT
    /// TRUE`: PostgreSQL refuses it, 42601), when the text tells both.
    pub(super) fn width_differs(&self, l: &Level, bindings: &[Binding]) -> usize {
        if l.clause != Clause::Select || !l.set_op || l.selected.is_empty() {
            return 0;
        }
        let ours = self.width(&l.selected, l.id, bindings);
        usize::from(matches!((l.branch_width, ours), (Some(a), Some(b)) if a != b))
    }
}
