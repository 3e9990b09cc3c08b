//! The full profile: the read-only PostgreSQL people write, over the chosen tables.
//!
//! Nesting is unrolled to a fixed depth (`DEPTH` levels of parentheses, function arguments and
//! subqueries) and every list has an upper bound, so each sentence is finite and a sampler that
//! wanders (a random-weight model does) still reaches the end. Two variants of each expression
//! level differ only in what an unqualified name may be: real columns (`s`), or also names the
//! query defined (`f`, used in the body after a WITH clause).

use super::gbnf::{lit, trie, Rules};
use super::{GrammarError, Spec};

/// Levels of nesting below the top-level query.
const DEPTH: usize = 4;

/// The aggregates among [`FUNCTIONS`] (which lists them first).
pub const AGGREGATES: &[&str] = FUNCTIONS.split_at(12).0;

/// Functions callable as `name(args)`, the aggregates first; upper-case spellings are accepted
/// too.
pub const FUNCTIONS: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "string_agg",
    "array_agg",
    "bool_and",
    "bool_or",
    "stddev",
    "variance",
    "every",
    "coalesce",
    "nullif",
    "greatest",
    "least",
    "lower",
    "upper",
    "length",
    "char_length",
    "substring",
    "substr",
    "trim",
    "ltrim",
    "rtrim",
    "btrim",
    "replace",
    "concat",
    "concat_ws",
    "left",
    "right",
    "split_part",
    "initcap",
    "lpad",
    "rpad",
    "strpos",
    "reverse",
    "repeat",
    "md5",
    "to_char",
    "to_date",
    "to_timestamp",
    "to_number",
    "round",
    "abs",
    "ceil",
    "ceiling",
    "floor",
    "power",
    "sqrt",
    "mod",
    "sign",
    "trunc",
    "ln",
    "log",
    "exp",
    "random",
    "date_trunc",
    "date_part",
    "age",
    "now",
    "make_date",
    "make_interval",
    "justify_days",
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
    "percentile_cont",
    "percentile_disc",
    "mode",
    "format",
    "position",
    "extract",
];

/// Type names that take no modifier (`TEXT(5)` and `INT(5)` fail in PostgreSQL).
const TYPES: &[&str] = &[
    "INT",
    "INTEGER",
    "BIGINT",
    "SMALLINT",
    "INT2",
    "INT4",
    "INT8",
    "REAL",
    "DOUBLE PRECISION",
    "FLOAT4",
    "FLOAT8",
    "TEXT",
    "DATE",
    "TIMESTAMPTZ",
    "BOOLEAN",
    "BOOL",
    "MONEY",
    "UUID",
];

/// Each type that takes a modifier, with the modifiers PostgreSQL 15 takes for it: a numeric's
/// precision, or a precision to 99 and a scale of one digit below it (a scale as large as the
/// precision leaves no integer digit, and a constant cast to it overflows); a character type's length
/// from 1; a time's fractional digits, 0 to 6; a float's bits, 1 to 53.
const MODIFIED_TYPES: &[(&str, &str)] = &[
    ("NUMERIC", NUMERIC_MODIFIER),
    ("DECIMAL", NUMERIC_MODIFIER),
    ("VARCHAR", LENGTH_MODIFIER),
    ("CHARACTER VARYING", LENGTH_MODIFIER),
    ("CHAR", LENGTH_MODIFIER),
    ("CHARACTER", LENGTH_MODIFIER),
    ("TIME", TIME_MODIFIER),
    ("TIMESTAMP", TIME_MODIFIER),
    ("INTERVAL", TIME_MODIFIER),
    ("FLOAT", "\"(\" ( [1-9] | [1-4] [0-9] | \"5\" [0-3] ) \")\""),
];
const NUMERIC_MODIFIER: &str = "\"(\" ( [1-9] [0-9]? | numeric-scale ) \")\"";
/// A numeric's precision and scale, the scale below the precision.
const NUMERIC_SCALE: &str = "( \"1\" \",\" \" \"? \"0\" | \"2\" \",\" \" \"? [0-1] | \"3\" \",\" \" \"? [0-2] | \"4\" \",\" \" \"? [0-3] | \"5\" \",\" \" \"? [0-4] | \"6\" \",\" \" \"? [0-5] | \"7\" \",\" \" \"? [0-6] | \"8\" \",\" \" \"? [0-7] | \"9\" \",\" \" \"? [0-8] | [1-9] [0-9] \",\" \" \"? [0-9] )";
const LENGTH_MODIFIER: &str = "\"(\" [1-9] [0-9]{0,3} \")\"";
const TIME_MODIFIER: &str = "\"(\" [0-6] \")\"";

const FIELDS: &[&str] = &[
    "YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND", "DOW", "ISODOW", "DOY", "WEEK", "QUARTER",
    "EPOCH", "DECADE", "CENTURY",
];

pub fn rules(spec: &Spec) -> Result<Rules, GrammarError> {
    let mut r = Rules::default();
    // A model ends an answer with a newline, as in plain text (a base model's examples do): the
    // newline may follow a complete query only, so it ends the answer instead of the model
    // being pushed into `WHERE …` by a grammar with no way to stop. It may start with a space:
    // a completion prompt ends at `SQL:`, and the model writes ` SELECT` as in its examples.
    let defined = !spec.defined.is_empty();
    if defined && !spec.required.is_empty() {
        // The question named a metric: the answer's own SELECT list starts with one, as defined
        // (column order is the one freedom this takes; a small model left to choose where to
        // put it wrote other items first and never reached it).
        let s = format!("{DEPTH}s");
        r.add(
            "root",
            &format!(
                "\" \"? \"SELECT \" required ( \" AS \" name )? ( \", \" ditem ){{0,6}} \" FROM \" tbl dpart{{0,7}} stail-{s} order-{s}? limit? \"\\n\"?"
            ),
        )?;
        // No table aliases in that FROM list: an alias hides the table's own name, which the
        // metric's columns are qualified by (`FROM order_lines ol` breaks `order_lines.qty`).
        r.add(
            "dpart",
            &format!("jkind tbl ( \" ON \" expr-{s} | using ) | jbare tbl"),
        )?;
        // Beside a metric, `*` cannot stand (it is ungrouped), and a model that likes `SELECT *`
        // must not be able to fill the list with it.
        r.add("ditem", &format!("expr-{s} ( \" AS \" name )?"))?;
    } else {
        r.add("root", &format!("\" \"? query-{DEPTH} \"\\n\"?"))?;
    }
    names(&mut r, spec)?;
    lexical(&mut r)?;
    if defined {
        let whole: Vec<String> = spec.defined.iter().map(|e| lit(e)).collect();
        r.add("defined", &whole.join(" | "))?;
        if !spec.required.is_empty() {
            let whole: Vec<String> = spec.required.iter().map(|e| lit(e)).collect();
            r.add("required", &whole.join(" | "))?;
        }
    }
    for d in 0..=DEPTH {
        query(&mut r, d)?;
        for v in ['s', 'f'] {
            select(&mut r, d, v, !spec.partial)?;
            expr(&mut r, d, v, defined)?;
        }
    }
    Ok(r)
}

/// Tables, their columns, and free names.
fn names(r: &mut Rules, spec: &Spec) -> Result<(), GrammarError> {
    let mut tables: Vec<String> = spec.tables.iter().map(|t| t.name.clone()).collect();
    tables.extend(
        spec.tables
            .iter()
            .filter(|t| !t.name.contains('.') && !t.name.starts_with('"'))
            .map(|t| format!("public.{}", t.name)),
    );
    r.add("tbl", &trie(&tables))?;
    let mut cols: Vec<String> = spec
        .tables
        .iter()
        .flat_map(|t| t.columns.iter().map(|c| c.name.clone()))
        .collect();
    cols.sort();
    cols.dedup();
    r.add("col", &trie(&cols))?;
    // `table.column` with that table's own columns.
    let mut per_table = Vec::new();
    for (i, t) in spec.tables.iter().enumerate() {
        let cs: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
        if cs.is_empty() {
            continue;
        }
        r.add(&format!("tcols-{i}"), &trie(&cs))?;
        per_table.push(format!("{} \".\" tcols-{i}", lit(&t.name)));
    }
    r.add("tq", &per_table.join(" | "))?;
    r.add("name", "[a-z_] [a-z0-9_]{0,30}")?;
    // Table aliases are short (`t`, `il`, `avgs`), as people write them: a long made-up
    // qualifier (`artist_name_character_varying_1.artist_id`) is how small models invent
    // tables, and a short one cannot be a keyword the grammar would then refuse to parse.
    r.add("alias", "[a-z] [a-z0-9_]{0,4}")?;
    // Qualified references: `table.column`, `alias.column`, `alias.defined_name`.
    r.add("qref", "tq | alias \".\" ( col | name )")?;
    r.add("colref-s", "qref | col")?;
    r.add("colref-f", "qref | col | name")?;
    Ok(())
}

/// Literals, operators, types: the same at every level.
fn lexical(r: &mut Rules) -> Result<(), GrammarError> {
    r.add("int", "[0-9]{1,12}")?;
    r.add("num", "[0-9]{1,12} ( \".\" [0-9]{1,8} )?")?;
    r.add("str", "\"'\" ( [^'\\n] | \"''\" ){0,60} \"'\"")?;
    r.add(
        "literal",
        "num | str | \"NULL\" | \"TRUE\" | \"FALSE\" | ( \"DATE\" | \"TIMESTAMP\" | \"TIME\" ) \" \" str | interval",
    )?;
    r.add(
        "interval",
        &format!("\"INTERVAL \" str ( \" \" ( {} ) )?", alts(FIELDS)),
    )?;
    let modified: Vec<String> = MODIFIED_TYPES
        .iter()
        .map(|(name, modifier)| format!("{} ( {modifier} )?", lit(name)))
        .collect();
    r.add("numeric-scale", NUMERIC_SCALE)?;
    r.add(
        "type",
        &format!("( {} | {} ) \"[]\"?", alts(TYPES), modified.join(" | ")),
    )?;
    for ((call, min, max), names) in call_groups() {
        let names: Vec<String> = names
            .iter()
            .flat_map(|f| [f.to_string(), f.to_uppercase()])
            .collect();
        r.add(&group_rule(call, min, max), &trie(&names))?;
    }
    r.add("field", &alts(FIELDS))?;
    r.add(
        "cmp",
        "\" = \" | \" <> \" | \" != \" | \" < \" | \" <= \" | \" > \" | \" >= \"",
    )?;
    r.add("addop", "\" + \" | \" - \" | \" || \"")?;
    r.add("mulop", "\" * \" | \" / \" | \" % \"")?;
    r.add(
        "setop",
        "\" UNION \" | \" UNION ALL \" | \" UNION DISTINCT \" | \" INTERSECT \" | \" INTERSECT ALL \" | \" EXCEPT \" | \" EXCEPT ALL \"",
    )?;
    r.add(
        "limit",
        "\" LIMIT \" ( int | \"ALL\" ) ( \" OFFSET \" int ( \" ROWS\" )? )? | \" OFFSET \" int ( \" ROWS\" | \" ROW\" )? fetch? | fetch",
    )?;
    r.add(
        "fetch",
        "\" FETCH \" ( \"FIRST\" | \"NEXT\" ) ( \" \" int )? ( \" ROWS\" | \" ROW\" ) ( \" ONLY\" | \" WITH TIES\" )",
    )?;
    r.add(
        "frame",
        "( \"ROWS\" | \"RANGE\" | \"GROUPS\" ) \" \" ( \"BETWEEN \" bound \" AND \" bound | bound )",
    )?;
    r.add(
        "bound",
        "\"UNBOUNDED PRECEDING\" | \"UNBOUNDED FOLLOWING\" | \"CURRENT ROW\" | ( int | interval ) ( \" PRECEDING\" | \" FOLLOWING\" )",
    )?;
    // A table's alias renames nothing else: `FROM customer c (id, n, …)` is how a small model
    // invents columns (it wrote eight made-up names after every alias). A derived table may
    // still name its columns.
    r.add("talias", "( \" AS \" | \" \" ) alias")?;
    r.add(
        "dalias",
        "talias ( \" (\" name ( \", \" name ){0,7} \")\" )?",
    )?;
    r.add(
        "jkind",
        "\" JOIN \" | \" INNER JOIN \" | \" LEFT JOIN \" | \" LEFT OUTER JOIN \" | \" RIGHT JOIN \" | \" RIGHT OUTER JOIN \" | \" FULL JOIN \" | \" FULL OUTER JOIN \"",
    )?;
    r.add(
        "jbare",
        "\" CROSS JOIN \" | \" NATURAL JOIN \" | \" NATURAL LEFT JOIN \" | \" NATURAL INNER JOIN \" | \", \"",
    )?;
    r.add(
        "using",
        "\" USING\" \" \"? \"(\" col ( \", \" col ){0,3} \")\"",
    )?;
    Ok(())
}

fn alts(words: &[&str]) -> String {
    words.iter().map(|w| lit(w)).collect::<Vec<_>>().join(" | ")
}

/// How a function is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// An aggregate: `DISTINCT` and `ORDER BY` among its arguments, `FILTER` and `OVER` after.
    Aggregate,
    /// An ordinary function: arguments only (`upper(x) OVER ()` is an error).
    Plain,
    /// A window function: `OVER` is required.
    Window,
    /// An ordered-set aggregate: `WITHIN GROUP (ORDER BY …)` is required.
    OrderedSet,
}

/// How a function is called, with its least and most arguments.
pub type Signature = (Call, usize, usize);

/// Most arguments a variadic function is given here.
const MANY: usize = 12;

/// How PostgreSQL lets `name` (one of [`FUNCTIONS`]) be called, and its least and most
/// arguments; `None` for the two with a syntax of their own (`position(a IN b)`,
/// `extract(f FROM x)`). A call PostgreSQL has no function for (`lead()`, `sqrt(a, b)`,
/// `rank()` without `OVER`) fails to plan, so the grammar never writes one.
pub fn signature(name: &str) -> Option<Signature> {
    use Call::*;
    Some(match name {
        "string_agg" => (Aggregate, 2, 2),
        n if AGGREGATES.contains(&n) => (Aggregate, 1, 1),
        "coalesce" | "greatest" | "least" | "concat" | "format" => (Plain, 1, MANY),
        "concat_ws" => (Plain, 2, MANY),
        "nullif" | "left" | "right" | "strpos" | "repeat" | "to_char" | "to_date" | "to_number"
        | "power" | "mod" | "date_part" => (Plain, 2, 2),
        "substring" | "substr" | "lpad" | "rpad" | "date_trunc" => (Plain, 2, 3),
        "replace" | "split_part" | "make_date" => (Plain, 3, 3),
        "trim" | "ltrim" | "rtrim" | "btrim" | "to_timestamp" | "round" | "trunc" | "log"
        | "age" => (Plain, 1, 2),
        "make_interval" => (Plain, 1, 7),
        "random" | "now" => (Plain, 0, 0),
        "row_number" | "rank" | "dense_rank" | "percent_rank" | "cume_dist" => (Window, 0, 0),
        "ntile" | "first_value" | "last_value" => (Window, 1, 1),
        "lag" | "lead" => (Window, 1, 3),
        "nth_value" => (Window, 2, 2),
        "percentile_cont" | "percentile_disc" => (OrderedSet, 1, 1),
        "mode" => (OrderedSet, 0, 0),
        "position" | "extract" => return None,
        _ => (Plain, 1, 1),
    })
}

/// The distinct signatures of [`FUNCTIONS`] with the functions of each, in a fixed order
/// (`count`, called with `*` too, has a rule of its own).
fn call_groups() -> Vec<(Signature, Vec<&'static str>)> {
    let mut out: Vec<(Signature, Vec<&'static str>)> = Vec::new();
    for f in FUNCTIONS.iter().filter(|f| **f != "count") {
        let Some(sig) = signature(f) else { continue };
        match out.iter_mut().find(|(s, _)| *s == sig) {
            Some((_, names)) => names.push(f),
            None => out.push((sig, vec![f])),
        }
    }
    out
}

/// The rule naming the functions of one signature.
fn group_rule(call: Call, min: usize, max: usize) -> String {
    let kind = match call {
        Call::Aggregate => "agg",
        Call::Plain => "fn",
        Call::Window => "win",
        Call::OrderedSet => "os",
    };
    format!("fname-{kind}-{min}-{max}")
}

/// The function calls of expression level `s` (`{level}{variant}`), whose arguments are
/// expressions of that level: each signature's names with as many arguments as they take and
/// the clauses their kind allows or needs.
fn calls(s: &str) -> Vec<String> {
    let e = format!("expr-{s}");
    let args = |min: usize, max: usize| -> String {
        if max == 0 {
            return String::new();
        }
        let more = if max > 1 {
            format!(" ( \", \" {e} ){{{},{}}}", min.saturating_sub(1), max - 1)
        } else {
            String::new()
        };
        if min == 0 {
            format!("( {e}{more} )?")
        } else {
            format!("{e}{more}")
        }
    };
    let order = format!("\" ORDER BY \" oitem-{s} ( \", \" oitem-{s} ){{0,2}}");
    let filter = format!("( \" FILTER (WHERE \" {e} \")\" )?");
    let over = format!("\" OVER \" ( win-{s} | name )");
    // An aggregate over a window takes neither DISTINCT nor ORDER BY among its arguments, and
    // one with DISTINCT may only be ordered by its arguments (left out: it rarely is).
    let aggregate = |name: &str, a: &str| {
        format!(
            "{name} \"(\" ( \"DISTINCT \" {a} \")\" {filter} | {a} ( {order} \")\" {filter} | \")\" {filter} ( {over} )? ) )"
        )
    };
    let mut out = vec![
        format!("( \"count(\" | \"COUNT(\" ) \"*)\" {filter} ( {over} )?"),
        aggregate("( \"count\" | \"COUNT\" )", &e),
    ];
    for ((call, min, max), _) in call_groups() {
        let name = group_rule(call, min, max);
        let a = args(min, max);
        out.push(match call {
            Call::Aggregate => aggregate(&name, &a),
            Call::Plain => format!("{name} \"(\" {a} \")\""),
            Call::Window => format!("{name} \"(\" {a} \")\" {over}"),
            Call::OrderedSet => format!(
                "{name} \"(\" {a} \")\" \" WITHIN GROUP (ORDER BY \" oitem-{s} \")\" {filter}"
            ),
        });
    }
    out
}

/// `query-d`: optional WITH, set operations, ORDER BY, LIMIT.
fn query(r: &mut Rules, d: usize) -> Result<(), GrammarError> {
    let plain = format!("body-{d}s order-{d}s? limit?");
    let free = format!("body-{d}f order-{d}f? limit?");
    if d == 0 {
        r.add(&format!("fquery-{d}"), &free)?;
        return r.add(&format!("query-{d}"), &plain);
    }
    let p = d - 1;
    r.add(&format!("query-{d}"), &format!("with-{d} {free} | {plain}"))?;
    // Inside a WITH (CTE bodies, their subqueries) CTE names and their columns may be used.
    r.add(&format!("fquery-{d}"), &format!("with-{d}? {free}"))?;
    r.add(
        &format!("with-{d}"),
        &format!("\"WITH \" ( \"RECURSIVE \" )? cte-{d} ( \", \" cte-{d} ){{0,3}} \" \""),
    )?;
    r.add(
        &format!("cte-{d}"),
        &format!(
            "name ( \" \"? \"(\" name ( \", \" name ){{0,7}} \")\" )? \" AS \" ( \"MATERIALIZED \" | \"NOT MATERIALIZED \" )? \"(\" fquery-{p} \")\""
        ),
    )
}

/// Whether a SELECT over a derived table may name its columns unqualified (any name, as the
/// grammar cannot know them). Off: small models used it to invent columns (`SELECT
/// artist_name, … FROM artist, (SELECT …) AS q`); a derived table's columns are still reachable
/// qualified (`q.total`), and CTE columns after a WITH stay free.
const DERIVED_BARE_COLUMNS: bool = false;

/// `body`, `select`, FROM with joins, GROUP BY, HAVING, WINDOW, ORDER BY of one variant; `*` and
/// `t.*` among the items when `stars`.
fn select(r: &mut Rules, d: usize, v: char, stars: bool) -> Result<(), GrammarError> {
    let s = format!("{d}{v}");
    // Subqueries of the free variant may read CTE names and the columns they define.
    let sub = |p: usize| {
        if v == 'f' {
            format!("fquery-{p}")
        } else {
            format!("query-{p}")
        }
    };
    let free_table = if v == 'f' { " | name talias?" } else { "" };
    let (term, tref) = if d == 0 {
        (format!("select-{s}"), format!("tbl talias?{free_table}"))
    } else {
        let p = d - 1;
        let mut term = format!("select-{s} | \"(\" {} \")\"", sub(p));
        if v == 's' && DERIVED_BARE_COLUMNS {
            term.push_str(&format!(" | dselect-{d}"));
        }
        (
            term,
            format!("tbl talias?{free_table} | \"(\" {} \")\" dalias", sub(p)),
        )
    };
    r.add(
        &format!("body-{s}"),
        &format!("term-{s} ( setop term-{s} ){{0,3}}"),
    )?;
    r.add(&format!("term-{s}"), &term)?;
    r.add(
        &format!("stail-{s}"),
        &format!(
            "( \" WHERE \" expr-{s} )? group-{s}? ( \" HAVING \" expr-{s} )? ( \" WINDOW \" name \" AS \" win-{s} )?"
        ),
    )?;
    // A SELECT reads a FROM; only constants and scalar subqueries may go without one (`SELECT
    // 100.0 * (SELECT …) / (SELECT …)`), so `SELECT *` or a bare column cannot end a query.
    r.add(
        &format!("select-{s}"),
        &format!(
            "\"SELECT \" distinct-{s}? ( items-{s} from-{s} stail-{s} | nitem-{s} ( \", \" nitem-{s} ){{0,7}} )"
        ),
    )?;
    let nterm = if d == 0 {
        "literal".to_string()
    } else {
        format!("literal | \"(\" {} \")\"", sub(d - 1))
    };
    r.add(&format!("nterm-{s}"), &nterm)?;
    r.add(
        &format!("nitem-{s}"),
        &format!("nterm-{s} ( ( addop | mulop ) nterm-{s} ){{0,4}} ( \" AS \" name )?"),
    )?;
    r.add(
        &format!("distinct-{s}"),
        &format!("\"DISTINCT \" | \"ALL \" | \"DISTINCT ON (\" expr-{s} ( \", \" expr-{s} ){{0,3}} \") \""),
    )?;
    r.add(
        &format!("items-{s}"),
        &format!("item-{s} ( \", \" item-{s} ){{0,15}}"),
    )?;
    let star = if stars {
        "\"*\" | ( tbl | alias ) \".*\" | "
    } else {
        ""
    };
    r.add(
        &format!("item-{s}"),
        &format!("{star}expr-{s} ( \" AS \" name )?"),
    )?;
    r.add(&format!("tref-{s}"), &tref)?;
    r.add(&format!("jcond-{s}"), &format!("\" ON \" expr-{s} | using"))?;
    r.add(
        &format!("jpart-{s}"),
        &format!("jkind tref-{s} jcond-{s} | jbare tref-{s}"),
    )?;
    r.add(
        &format!("from-{s}"),
        &format!("\" FROM \" tref-{s} ( jpart-{s} ){{0,7}}"),
    )?;
    if d > 0 && v == 'f' {
        // A SELECT over a derived table may name that table's columns unqualified; the
        // derived table must really be there, in FROM or in a join.
        let p = d - 1;
        r.add(
            &format!("dtref-{d}"),
            &format!("\"(\" fquery-{p} \")\" dalias"),
        )?;
        r.add(
            &format!("dfrom-{d}"),
            &format!(
                "\" FROM \" ( dtref-{d} | tref-{d}s ( jpart-{d}s ){{0,3}} ( jkind dtref-{d} jcond-{s} | jbare dtref-{d} ) ) ( jpart-{d}s ){{0,6}}"
            ),
        )?;
        r.add(
            &format!("dselect-{d}"),
            &format!("\"SELECT \" distinct-{s}? items-{s} dfrom-{d} stail-{s}"),
        )?;
    }
    r.add(
        &format!("group-{s}"),
        &format!("\" GROUP BY \" expr-{s} ( \", \" expr-{s} ){{0,7}}"),
    )?;
    r.add(
        &format!("order-{s}"),
        &format!("\" ORDER BY \" oitem-{s} ( \", \" oitem-{s} ){{0,5}}"),
    )?;
    // ORDER BY may name an output alias.
    r.add(
        &format!("oitem-{s}"),
        &format!(
            "( expr-{s} | name ) ( \" ASC\" | \" DESC\" )? ( \" NULLS FIRST\" | \" NULLS LAST\" )?"
        ),
    )?;
    r.add(
        &format!("win-{s}"),
        &format!(
            "\"(\" ( wpart-{s} ( \" \" wob-{s} )? ( \" \" frame )? | wob-{s} ( \" \" frame )? | frame )? \")\""
        ),
    )?;
    r.add(
        &format!("wpart-{s}"),
        &format!("\"PARTITION BY \" expr-{s} ( \", \" expr-{s} ){{0,3}}"),
    )?;
    r.add(
        &format!("wob-{s}"),
        &format!("\"ORDER BY \" oitem-{s} ( \", \" oitem-{s} ){{0,3}}"),
    )
}

/// Expressions of level `d`, variant `v`: precedence climbing with bounded chains; parentheses,
/// function arguments and subqueries go one level down. With `defined`, the question's metrics
/// and dimensions are one more primary.
fn expr(r: &mut Rules, d: usize, v: char, defined: bool) -> Result<(), GrammarError> {
    let s = format!("{d}{v}");
    r.add(
        &format!("expr-{s}"),
        &format!("conj-{s} ( \" OR \" conj-{s} ){{0,4}}"),
    )?;
    r.add(
        &format!("conj-{s}"),
        &format!("neg-{s} ( \" AND \" neg-{s} ){{0,5}}"),
    )?;
    r.add(&format!("neg-{s}"), &format!("( \"NOT \" )? pred-{s}"))?;
    let mut tails = vec![
        format!("cmp sum-{s}"),
        format!("\" IS \" ( \"NOT \" )? ( \"NULL\" | \"TRUE\" | \"FALSE\" | \"DISTINCT FROM \" sum-{s} )"),
        format!("( \" NOT\" )? \" BETWEEN \" sum-{s} \" AND \" sum-{s}"),
        format!("( \" NOT\" )? ( \" LIKE \" | \" ILIKE \" ) sum-{s}"),
        format!("( \" NOT\" )? \" IN (\" sum-{s} ( \", \" sum-{s} ){{0,9}} \")\""),
    ];
    let sub = |p: usize| {
        if v == 'f' {
            format!("fquery-{p}")
        } else {
            format!("query-{p}")
        }
    };
    if d > 0 {
        let q = sub(d - 1);
        tails.push(format!("( \" NOT\" )? \" IN (\" {q} \")\""));
        tails.push(format!(
            "cmp ( \"ANY\" | \"ALL\" | \"SOME\" ) \" \"? \"(\" {q} \")\""
        ));
    }
    r.add(&format!("ptail-{s}"), &tails.join(" | "))?;
    r.add(&format!("pred-{s}"), &format!("sum-{s} ptail-{s}?"))?;
    r.add(
        &format!("sum-{s}"),
        &format!("prod-{s} ( addop prod-{s} ){{0,5}}"),
    )?;
    r.add(
        &format!("prod-{s}"),
        &format!("unary-{s} ( mulop unary-{s} ){{0,3}}"),
    )?;
    r.add(
        &format!("unary-{s}"),
        &format!("\"-\"? prim-{s} ( \"::\" type ){{0,2}}"),
    )?;
    let mut prims = vec![
        "literal".to_string(),
        format!("colref-{v}"),
        "\"CURRENT_DATE\" | \"CURRENT_TIMESTAMP\" | \"CURRENT_TIME\" | \"LOCALTIMESTAMP\" | \"current_date\" | \"current_timestamp\" | \"current_time\" | \"localtimestamp\""
            .to_string(),
    ];
    if defined {
        prims.insert(0, "defined".to_string());
    }
    if d > 0 {
        let p = d - 1;
        let e = format!("expr-{p}{v}");
        prims.push(format!("\"(\" {e} ( \", \" {e} ){{0,5}} \")\""));
        let q = sub(p);
        prims.push(format!("\"(\" {q} \")\""));
        prims.push(format!("( \"NOT \" )? \"EXISTS (\" {q} \")\""));
        prims.push(format!("\"CAST(\" {e} \" AS \" type \")\""));
        prims.push(format!("\"EXTRACT(\" field \" FROM \" {e} \")\""));
        prims.push(format!(
            "( \"SUBSTRING(\" | \"substring(\" ) {e} \" FROM \" {e} ( \" FOR \" {e} )? \")\""
        ));
        prims.push(format!(
            "( \"POSITION(\" | \"position(\" ) sum-{p}{v} \" IN \" {e} \")\""
        ));
        prims.push(format!(
            "\"TRIM(\" ( ( \"BOTH \" | \"LEADING \" | \"TRAILING \" ) ( {e} \" \" )? \"FROM \" )? ( {e} \" FROM \" )? {e} \")\""
        ));
        prims.push(format!(
            "\"CASE \" ( {e} \" \" )? ( \"WHEN \" {e} \" THEN \" {e} \" \" ){{1,8}} ( \"ELSE \" {e} \" \" )? \"END\""
        ));
        prims.extend(calls(&format!("{p}{v}")));
    }
    r.add(&format!("prim-{s}"), &prims.join(" | "))
}
