//! The strict profile: a smaller SQL in which every sentence plans without error.
//!
//! A query is built over one *scope*: a single chosen table, or tables linked by a join of the
//! spec (pairs, and chains of two joins). Columns are always qualified with their table, so they
//! are never ambiguous and never out of scope. Expressions are typed: numbers with numbers, text
//! with text literals, times with well-formed date literals, enum columns with their own labels.
//! Aggregate queries put their grouped columns first and group by ordinals, so every selected
//! column is grouped. Literals never fold into errors (no division, no zero divisor, valid dates).
//! For a question that asks for an order ([`Spec::ordered`]), every query sorts or takes a
//! smallest or largest value. NULLs come last when it sorts in descending order.

use super::gbnf::{lit, trie, Rules};
use super::{GColumn, GrammarError, Spec, ValueKind};

/// At most this many scopes (tables alone, then joined pairs, then chains).
const MAX_SCOPES: usize = 24;

/// One scope: tables in FROM order with the ON clause that joins each to an earlier one.
struct Scope {
    from: String,
    tables: Vec<usize>,
}

pub fn rules(spec: &Spec) -> Result<Rules, GrammarError> {
    let mut r = Rules::default();
    let scopes = scopes(spec);
    let mut roots = Vec::new();
    lexical(&mut r)?;
    for (i, scope) in scopes.iter().enumerate() {
        if scope_rules(&mut r, spec, scope, i)? {
            roots.push(format!("q-{i}"));
        }
    }
    if roots.is_empty() {
        return Err(GrammarError::NoTables);
    }
    // An answer may end with a newline (see the full profile's root).
    r.add(
        "root",
        &format!("\" \"? ( {} ) \"\\n\"?", roots.join(" | ")),
    )?;
    Ok(r)
}

fn lexical(r: &mut Rules) -> Result<(), GrammarError> {
    r.add("numlit", "[1-9] [0-9]{0,3} ( \".\" [0-9]{1,2} )?")?;
    // (With `/ & . , -`: values such as 'AC/DC', 'Rock & Roll', 'St. Louis', 'Coca-Cola', which
    // pgask writes into a strict query where the question names one.)
    r.add("textlit", "\"'\" [a-zA-Z0-9 /&.,-]{0,20} \"'\"")?;
    r.add("likelit", "\"'\" \"%\"? [a-zA-Z0-9 ]{1,15} \"%\"? \"'\"")?;
    r.add(
        "datelit",
        "\"'\" ( \"19\" [5-9] [0-9] | \"20\" [0-2] [0-9] ) \"-\" ( \"0\" [1-9] | \"1\" [0-2] ) \"-\" ( \"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8] ) \"'\"",
    )?;
    r.add(
        "cmp",
        "\" = \" | \" <> \" | \" < \" | \" <= \" | \" > \" | \" >= \"",
    )?;
    r.add("arith", "\" + \" | \" - \" | \" * \"")?;
    r.add(
        "unit",
        "\"'year'\" | \"'quarter'\" | \"'month'\" | \"'week'\" | \"'day'\"",
    )?;
    r.add("limit", "\" LIMIT \" [1-9] [0-9]{0,2}")?;
    // (NULLs last when descending, as ascending puts them: "the highest" is a value.)
    r.add("dir", "\" ASC\" | \" DESC NULLS LAST\"")?;
    Ok(())
}

/// Single tables, then joined pairs, then chains of two joins; of those, only the ones that
/// read every table of [`Spec::reads`].
fn scopes(spec: &Spec) -> Vec<Scope> {
    let mut out: Vec<Scope> = spec
        .tables
        .iter()
        .enumerate()
        .filter(|(_, t)| !t.columns.is_empty())
        .map(|(i, t)| Scope {
            from: t.name.clone(),
            tables: vec![i],
        })
        .collect();
    let on = |j: &super::GJoin| -> String {
        let (a, b) = (&spec.tables[j.left].name, &spec.tables[j.right].name);
        j.pairs
            .iter()
            .map(|(x, y)| format!("{b}.{y} = {a}.{x}"))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let joins: Vec<&super::GJoin> = spec
        .joins
        .iter()
        .filter(|j| j.left != j.right && !j.pairs.is_empty())
        .collect();
    for j in &joins {
        out.push(Scope {
            from: format!(
                "{} JOIN {} ON {}",
                spec.tables[j.left].name,
                spec.tables[j.right].name,
                on(j)
            ),
            tables: vec![j.left, j.right],
        });
    }
    let reads_all = |s: &Scope| {
        spec.reads
            .iter()
            .all(|r| s.tables.iter().any(|&t| spec.tables[t].name == *r))
    };
    // (None where none does: no query of the fallback could have its conditions.)
    out.retain(reads_all);
    // Nor one that starts from a table extending the named one's name.
    let first_ok = |s: &Scope| {
        s.tables
            .first()
            .is_some_and(|&t| !spec.not_first.contains(&spec.tables[t].name))
    };
    out.retain(first_ok);
    for a in &joins {
        for b in &joins {
            if out.len() >= MAX_SCOPES {
                return out;
            }
            // a: x-y, b: y-z (z new) gives x JOIN y JOIN z.
            if a.right == b.left && b.right != a.left {
                let chain = Scope {
                    from: format!(
                        "{} JOIN {} ON {} JOIN {} ON {}",
                        spec.tables[a.left].name,
                        spec.tables[a.right].name,
                        on(a),
                        spec.tables[b.right].name,
                        on(b)
                    ),
                    tables: vec![a.left, a.right, b.right],
                };
                if reads_all(&chain) && first_ok(&chain) {
                    out.push(chain);
                }
            }
        }
    }
    out.truncate(MAX_SCOPES);
    out
}

/// The rules of one scope; false when the scope has nothing to select.
fn scope_rules(r: &mut Rules, spec: &Spec, scope: &Scope, i: usize) -> Result<bool, GrammarError> {
    // Every column of the scope, qualified with its table.
    let cols: Vec<(String, &GColumn)> = scope
        .tables
        .iter()
        .flat_map(|&t| {
            let table = &spec.tables[t];
            table
                .columns
                .iter()
                .map(move |c| (format!("{}.{}", table.name, c.name), c))
        })
        .collect();
    let by_kind = |k: ValueKind| -> Vec<String> {
        let mut v: Vec<String> = cols
            .iter()
            .filter(|(_, c)| c.kind == k)
            .map(|(q, _)| q.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let num = by_kind(ValueKind::Number);
    let text = by_kind(ValueKind::Text);
    let time = by_kind(ValueKind::Time);
    let boolean = by_kind(ValueKind::Bool);
    let other = by_kind(ValueKind::Other);
    let enums: Vec<(String, Vec<String>)> = cols
        .iter()
        .filter(|(_, c)| c.kind == ValueKind::Enum && !c.labels.is_empty())
        .map(|(q, c)| (q.clone(), c.labels.clone()))
        .collect();
    let n = |k: &str| format!("{k}-{i}");
    let mut any: Vec<String> = Vec::new();
    let mut ordered: Vec<String> = Vec::new(); // values with min/max and ORDER BY
    let mut conds: Vec<String> = Vec::new();
    let mut groupable: Vec<String> = Vec::new();
    let mut aggs: Vec<String> = vec!["\"count(*)\"".to_string()];
    let mut having: Vec<String> = vec!["\"count(*)\"".to_string()];
    // Number and date columns, whose smallest and largest values answer an ordered question
    // (`max(total)`; a text's is only the last in the alphabet).
    let mut extremes: Vec<String> = Vec::new();
    if !num.is_empty() {
        r.add(&n("ncol"), &trie(&num))?;
        r.add(
            &n("num"),
            &format!(
                "{c} ( arith ( {c} | numlit ) )? | \"abs(\" {c} \")\" | \"round(\" {c} \")\"",
                c = n("ncol")
            ),
        )?;
        any.push(n("num"));
        ordered.push(n("num"));
        groupable.push(n("ncol"));
        conds.push(format!("{} cmp ( {} | numlit )", n("num"), n("ncol")));
        conds.push(format!(
            "{} \" BETWEEN \" numlit \" AND \" numlit",
            n("ncol")
        ));
        conds.push(format!(
            "{} \" IN (\" numlit ( \", \" numlit ){{0,3}} \")\"",
            n("ncol")
        ));
        for f in ["sum", "avg", "min", "max"] {
            aggs.push(format!("\"{f}(\" {} \")\"", n("ncol")));
        }
        extremes.push(n("ncol"));
        having.push(format!("( \"sum(\" | \"avg(\" ) {} \")\"", n("ncol")));
    }
    if !text.is_empty() {
        r.add(&n("tcol"), &trie(&text))?;
        r.add(
            &n("text"),
            &format!("{c} | ( \"lower(\" | \"upper(\" ) {c} \")\"", c = n("tcol")),
        )?;
        any.push(n("text"));
        any.push(format!("\"length(\" {} \")\"", n("tcol")));
        ordered.push(n("text"));
        groupable.push(n("tcol"));
        conds.push(format!("{} cmp textlit", n("text")));
        conds.push(format!(
            "{} ( \" NOT\" )? ( \" LIKE \" | \" ILIKE \" ) likelit",
            n("text")
        ));
        for f in ["min", "max"] {
            aggs.push(format!("\"{f}(\" {} \")\"", n("tcol")));
        }
        aggs.push(format!("\"count(DISTINCT \" {} \")\"", n("tcol")));
        having.push(format!("\"count(DISTINCT \" {} \")\"", n("tcol")));
    }
    if !time.is_empty() {
        r.add(&n("dcol"), &trie(&time))?;
        any.push(n("dcol"));
        ordered.push(n("dcol"));
        groupable.push(n("dcol"));
        groupable.push(format!("\"date_trunc(\" unit \", \" {} \")\"", n("dcol")));
        groupable.push(format!("\"EXTRACT(YEAR FROM \" {} \")\"", n("dcol")));
        conds.push(format!("{} cmp datelit", n("dcol")));
        conds.push(format!(
            "{} \" BETWEEN \" datelit \" AND \" datelit",
            n("dcol")
        ));
        for f in ["min", "max"] {
            aggs.push(format!("\"{f}(\" {} \")\"", n("dcol")));
        }
        extremes.push(n("dcol"));
    }
    if !boolean.is_empty() {
        r.add(&n("bcol"), &trie(&boolean))?;
        any.push(n("bcol"));
        groupable.push(n("bcol"));
        conds.push(format!("( \"NOT \" )? {}", n("bcol")));
    }
    for (col, labels) in &enums {
        let labels: Vec<String> = labels
            .iter()
            .map(|l| lit(&format!("'{}'", l.replace('\'', "''"))))
            .collect();
        any.push(lit(col));
        groupable.push(lit(col));
        conds.push(format!(
            "{} ( \" = \" | \" <> \" ) ( {} )",
            lit(col),
            labels.join(" | ")
        ));
    }
    // Columns of other types are shown, never made DISTINCT or sorted (json, xml and point
    // have no equality or ordering: 42883).
    let comparable = any.clone();
    for c in &other {
        any.push(lit(c));
    }
    let all_cols: Vec<String> = num
        .iter()
        .chain(&text)
        .chain(&time)
        .chain(&boolean)
        .chain(&other)
        .chain(enums.iter().map(|(c, _)| c))
        .cloned()
        .collect();
    if all_cols.is_empty() {
        return Ok(false);
    }
    r.add(&n("acol"), &trie(&all_cols))?;
    conds.push(format!("{} \" IS \" ( \"NOT \" )? \"NULL\"", n("acol")));
    aggs.push(format!("\"count(\" {} \")\"", n("acol")));
    // The conditions pgask writes on a table of the scope (read whole, as written).
    for (table, cond) in &spec.written {
        if scope.tables.iter().any(|&t| spec.tables[t].name == *table) {
            conds.push(lit(cond));
        }
    }
    r.add(&n("from"), &format!("\" FROM \" {}", lit(&scope.from)))?;
    r.add(&n("cond"), &conds.join(" | "))?;
    // (AND only where pgask writes conditions: a row an OR lets through need not have them.)
    let joins = if spec.reads.is_empty() {
        "( \" AND \" | \" OR \" )"
    } else {
        "\" AND \""
    };
    r.add(
        &n("where"),
        &format!("\" WHERE \" {c} ( {joins} {c} ){{0,2}}", c = n("cond")),
    )?;
    r.add(&n("item"), &any.join(" | "))?;
    r.add(
        &n("items"),
        &format!("{it} ( \", \" {it} ){{0,5}}", it = n("item")),
    )?;
    r.add(&n("agg"), &aggs.join(" | "))?;
    r.add(
        &n("aggs"),
        &format!("{a} ( \", \" {a} ){{0,2}}", a = n("agg")),
    )?;
    r.add(
        &n("having"),
        &format!("\" HAVING \" ( {} ) cmp numlit", having.join(" | ")),
    )?;
    let (from, wh) = (n("from"), n("where"));
    // For a question that asks for an order, every query sorts: the ORDER BY is no option, and
    // the one-row aggregate form is left to the smallest and largest values (a plain one with
    // nothing to sort by is left out).
    let sorts = if spec.ordered { "" } else { "?" };
    let mut forms = Vec::new();
    if !ordered.is_empty() {
        r.add(&n("ord"), &ordered.join(" | "))?;
        // Plain rows.
        forms.push(format!(
            "\"SELECT \" {} {from} {wh}? ( \" ORDER BY \" {} dir? ){sorts} limit?",
            n("items"),
            n("ord")
        ));
    } else if !spec.ordered {
        forms.push(format!("\"SELECT \" {} {from} {wh}? limit?", n("items")));
    }
    if !spec.ordered {
        // One row of aggregates.
        forms.push(format!("\"SELECT \" {} {from} {wh}?", n("aggs")));
    } else if !extremes.is_empty() {
        // One row of the smallest or largest values ("the highest total": `max(…)`).
        r.add(
            &n("ext"),
            &format!("( \"min(\" | \"max(\" ) ( {} ) \")\"", extremes.join(" | ")),
        )?;
        forms.push(format!(
            "\"SELECT \" {e} ( \", \" {e} ){{0,2}} {from} {wh}?",
            e = n("ext")
        ));
    }
    if !comparable.is_empty() {
        r.add(&n("ditem"), &comparable.join(" | "))?;
        r.add(
            &n("ditems"),
            &format!("{it} ( \", \" {it} ){{0,5}}", it = n("ditem")),
        )?;
        forms.push(format!(
            "\"SELECT DISTINCT \" {} {from} {wh}? ( \" ORDER BY 1\" dir? ){sorts} limit?",
            n("ditems")
        ));
    }
    if !groupable.is_empty() {
        r.add(&n("gexp"), &groupable.join(" | "))?;
        let gorder = format!(
            "( \" ORDER BY \" ( {} | \"1\" | \"2\" ) dir? ){sorts}",
            n("agg")
        );
        let g = n("gexp");
        forms.push(format!(
            "\"SELECT \" {g} \", \" {aggs} {from} {wh}? \" GROUP BY 1\" {h}? {gorder} limit?",
            aggs = n("aggs"),
            h = n("having")
        ));
        forms.push(format!(
            "\"SELECT \" {g} \", \" {g} \", \" {aggs} {from} {wh}? \" GROUP BY 1, 2\" {h}? {gorder} limit?",
            aggs = n("aggs"),
            h = n("having")
        ));
    }
    if forms.is_empty() {
        return Ok(false);
    }
    r.add(&n("q"), &forms.join(" | "))?;
    Ok(true)
}
