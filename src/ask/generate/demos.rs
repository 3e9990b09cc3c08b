//! Few-shot examples for a database that has no examples of its own yet (from feedback): made
//! from the chosen tables' own catalog by fixed templates (a count, a list of the label column,
//! a sum, an average, a maximum and a top 3 of a numeric column, a count over a threshold, a
//! filter by an enum label or sample value, a count per parent row over each foreign key to
//! another chosen table), pooled with the generic examples from another schema, and the ones
//! most like the question chosen, the likest last (nearest the question). Small models copy
//! the form of the nearest example; with the real names in it, the copy is a query over this
//! database. No LLM, no data read.

use super::shape::Shape;
use crate::ask::catalog::{quote_ident, Catalog, Table, TableId};

/// Up to `max` examples for `question`: the catalog's templates over the best three of `tables`
/// (each with the columns retrieval found likely for the question, which pick the measure)
/// and those in the form its `shape` asks for ([`super::shaped`]), or the `generic` (question,
/// SQL) pairs when the catalog gives none; the ones whose form fits the shape best, then
/// sharing most words with the question, in rising order of likeness.
pub fn for_question(
    catalog: &Catalog,
    tables: &[(TableId, Vec<String>)],
    question: &str,
    shape: &Shape,
    generic: &[(String, String)],
    max: usize,
) -> Vec<(String, String)> {
    if max == 0 {
        return vec![];
    }
    let chosen: Vec<TableId> = tables.iter().map(|(t, _)| *t).collect();
    let mut pool: Vec<(String, String)> = Vec::new();
    for (t, likely) in tables.iter().take(3) {
        if let Some(table) = catalog.tables.get(*t) {
            pool.extend(for_table(catalog, table, &chosen, likely));
            for pair in super::shaped::for_table(catalog, table, &chosen, likely, question, shape) {
                if !pool.contains(&pair) {
                    pool.push(pair);
                }
            }
        }
    }
    if pool.is_empty() {
        pool.extend(generic.iter().cloned());
    }
    let q = words_of(question);
    let mut scored: Vec<(f32, usize)> = pool
        .iter()
        .enumerate()
        .map(|(i, (text, _))| {
            let w = words_of(text);
            let inter = q.iter().filter(|x| w.contains(*x)).count() as f32;
            let union = (q.len() + w.len()) as f32 - inter;
            let form = super::shaped::fit(shape, &pool[i].1);
            (form + inter / union.max(1.0), i)
        })
        .collect();
    // Best first (ties: the catalog's own before the generic ones), then the chosen few in
    // rising order.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.truncate(max);
    scored.reverse();
    scored.into_iter().map(|(_, i)| pool[i].clone()).collect()
}

/// Questions this schema can answer (`-- ask suggest:`), with the SQL that answers each: the
/// same templates over `tables` (in their order), one of each kind per round — a count, a
/// list, a top 3 by a measure, a count per parent row, a total, a filter, an average, a
/// maximum — so a short list shows every kind the schema allows. Parents count when they are
/// among `tables` too.
pub fn suggestions(catalog: &Catalog, tables: &[TableId], max: usize) -> Vec<(String, String)> {
    // The templates of `for_table`, by how their questions start (most specific first).
    const KINDS: [(&str, &str); 8] = [
        ("How many", "does each"),
        ("How many", ""),
        ("List the", ""),
        ("Which 3", ""),
        ("What is the total", ""),
        ("Which", ""),
        ("What is the average", ""),
        ("What is the highest", ""),
    ];
    let kind = |q: &str| {
        KINDS
            .iter()
            .position(|(start, inside)| q.starts_with(start) && q.contains(inside))
    };
    let mut by_kind: Vec<Vec<(String, String)>> = vec![Vec::new(); KINDS.len()];
    for t in tables {
        let Some(table) = catalog.tables.get(*t) else {
            continue;
        };
        for pair in for_table(catalog, table, tables, &[]) {
            // An arbitrary threshold makes a poor suggestion.
            if let (Some(k), false) = (kind(&pair.0), pair.0.contains("greater than 10")) {
                by_kind[k].push(pair);
            }
        }
    }
    // Counts, lists and top 3 lead; then a count per parent row and the rest.
    let order = [1, 2, 3, 0, 4, 5, 6, 7];
    let mut out: Vec<(String, String)> = Vec::new();
    let deepest = by_kind.iter().map(Vec::len).max().unwrap_or(0);
    for round in 0..deepest {
        for &k in &order {
            if out.len() >= max {
                return out;
            }
            if let Some(pair) = by_kind[k].get(round) {
                if !out.contains(pair) {
                    out.push(pair.clone());
                }
            }
        }
    }
    out
}

/// The (question, SQL) pairs of a `Question: …` / `SQL: …` text (the generic examples file).
pub fn parse_pairs(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut question: Option<String> = None;
    for line in text.lines() {
        if let Some(q) = line.strip_prefix("Question: ") {
            question = Some(q.trim().to_string());
        } else if let (Some(sql), Some(q)) = (line.strip_prefix("SQL: "), question.take()) {
            out.push((q, sql.trim().to_string()));
        }
    }
    out
}

pub(super) fn words_of(s: &str) -> Vec<String> {
    let mut w: Vec<String> = s
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| singular(&w.to_lowercase()))
        .collect();
    w.sort();
    w.dedup();
    w
}

fn for_table(
    catalog: &Catalog,
    t: &Table,
    chosen: &[TableId],
    likely: &[String],
) -> Vec<(String, String)> {
    let name = table_name(t);
    let plural = plural(&words(&t.name));
    let mut out = vec![(
        format!("How many {plural} are there?"),
        format!("SELECT count(*) FROM {name}"),
    )];
    let label = label_columns(t);
    let cols = label.iter().map(|c| quote_ident(c)).collect::<Vec<_>>();
    if !label.is_empty() {
        out.push((
            format!("List the {} of all {plural}.", and_list(&label, true)),
            format!("SELECT {} FROM {name}", cols.join(", ")),
        ));
    }
    if let Some(num) = numeric_column(t, likely) {
        let (n, nq) = (words(num), quote_ident(num));
        out.push((
            format!("What is the total {n} of all {plural}?"),
            format!("SELECT sum({nq}) FROM {name}"),
        ));
        out.push((
            format!("What is the average {n} of {plural}?"),
            format!("SELECT avg({nq}) FROM {name}"),
        ));
        out.push((
            format!(
                "What is the highest {n} of any {}?",
                singular(&words(&t.name))
            ),
            format!("SELECT max({nq}) FROM {name}"),
        ));
        out.push((
            format!("How many {plural} have a {n} greater than 10?"),
            format!("SELECT count(*) FROM {name} WHERE {nq} > 10"),
        ));
        if !label.is_empty() {
            out.push((
                format!(
                    "Which 3 {plural} have the highest {n}? Give their {} and {n}.",
                    and_list(&label, true)
                ),
                format!(
                    "SELECT {}, {nq} FROM {name} ORDER BY {nq} DESC LIMIT 3",
                    cols.join(", ")
                ),
            ));
        }
    }
    if let (Some((col, value)), false) = (a_value(t), label.is_empty()) {
        out.push((
            format!(
                "Which {plural} have {} {value}? Give their {}.",
                words(col),
                and_list(&label, true)
            ),
            format!(
                "SELECT {} FROM {name} WHERE {} = '{}'",
                cols.join(", "),
                quote_ident(col),
                value.replace('\'', "''")
            ),
        ));
    }
    // A count per parent row over each foreign key to another chosen table.
    for (fk, parent, plabel) in labelled_parents(catalog, t, chosen) {
        let (c, p) = aliases(&t.name, &parent.name);
        let shown: Vec<String> = plabel
            .iter()
            .map(|x| format!("{p}.{}", quote_ident(x)))
            .collect();
        let mut group = vec![format!("{p}.{}", quote_ident(&fk.target_columns[0]))];
        group.extend(shown.iter().cloned());
        out.push((
            format!(
                "How many {plural} does each {} have? Give its {} and the count.",
                words(&singular(&parent.name)),
                and_list(&plabel, false)
            ),
            format!(
                "SELECT {}, count(*) FROM {} {p} JOIN {name} {c} ON {c}.{} = {p}.{} GROUP BY {}",
                shown.join(", "),
                table_name(parent),
                quote_ident(&fk.columns[0]),
                quote_ident(&fk.target_columns[0]),
                group.join(", ")
            ),
        ));
    }
    out
}

/// `t`'s single-column foreign keys to another of the `chosen` tables that has a label
/// column, with that parent and its label columns.
pub(super) fn labelled_parents<'a>(
    catalog: &'a Catalog,
    t: &'a Table,
    chosen: &'a [TableId],
) -> impl Iterator<Item = (&'a crate::ask::catalog::ForeignKey, &'a Table, Vec<String>)> + 'a {
    t.foreign_keys.iter().filter_map(move |fk| {
        let parent = catalog.tables.get(fk.target)?;
        let plabel = label_columns(parent);
        (!plabel.is_empty()
            && fk.columns.len() == 1
            && parent.name != t.name
            && chosen.contains(&fk.target))
        .then_some((fk, parent, plabel))
    })
}

pub(super) fn table_name(t: &Table) -> String {
    if t.schema == "public" {
        quote_ident(&t.name)
    } else {
        t.qualified()
    }
}

/// Two different short aliases for a child and its parent table.
pub(super) fn aliases(child: &str, parent: &str) -> (String, String) {
    let first = |s: &str| s.chars().next().unwrap_or('t').to_ascii_lowercase();
    let (c, p) = (first(child), first(parent));
    if c == p {
        (format!("{c}1"), format!("{p}2"))
    } else {
        (c.to_string(), p.to_string())
    }
}

pub(super) fn words(name: &str) -> String {
    name.replace('_', " ").to_lowercase()
}

pub(super) fn plural(w: &str) -> String {
    if w.ends_with('s') {
        w.to_string()
    } else if let Some(stem) = w
        .strip_suffix('y')
        .filter(|s| !s.ends_with(['a', 'e', 'o', 'u']))
    {
        format!("{stem}ies")
    } else if w.ends_with("ch") || w.ends_with("sh") || w.ends_with('x') {
        format!("{w}es")
    } else {
        format!("{w}s")
    }
}

pub(super) fn singular(w: &str) -> String {
    if let Some(stem) = w.strip_suffix("ies") {
        format!("{stem}y")
    } else if w.ends_with("ss") {
        w.to_string()
    } else {
        w.strip_suffix('s').unwrap_or(w).to_string()
    }
}

/// `first names and last names` / `first name and last name`.
pub(super) fn and_list(cols: &[String], many: bool) -> String {
    let ws: Vec<String> = cols
        .iter()
        .map(|c| if many { plural(&words(c)) } else { words(c) })
        .collect();
    ws.join(" and ")
}

pub(super) fn is_key(t: &Table, col: &str) -> bool {
    t.primary_key.iter().any(|c| c == col)
        || t.foreign_keys
            .iter()
            .any(|fk| fk.columns.iter().any(|c| c == col))
        || col.ends_with("_id")
        || col == "id"
}

pub(super) fn is_text(data_type: &str) -> bool {
    data_type == "text" || data_type.starts_with("character") || data_type == "citext"
}

/// The columns that name a row: `name`, `title`, `first_name` + `last_name`, `x_name`, or the
/// first text column that is not a key.
pub(super) fn label_columns(t: &Table) -> Vec<String> {
    let has = |n: &str| t.columns.iter().any(|c| c.name == n);
    for n in ["name", "title"] {
        if has(n) {
            return vec![n.to_string()];
        }
    }
    if has("first_name") && has("last_name") {
        return vec!["first_name".into(), "last_name".into()];
    }
    if let Some(c) = t
        .columns
        .iter()
        .find(|c| c.name.ends_with("_name") && is_text(&c.data_type))
    {
        return vec![c.name.clone()];
    }
    t.columns
        .iter()
        .find(|c| is_text(&c.data_type) && !is_key(t, &c.name))
        .map(|c| vec![c.name.clone()])
        .unwrap_or_default()
}

/// A measure: the numeric column retrieval found likeliest, else the first numeric column that
/// is not a key.
pub(super) fn numeric_column<'a>(t: &'a Table, likely: &[String]) -> Option<&'a str> {
    let numeric = |c: &&crate::ask::catalog::Column| {
        let d = c.data_type.as_str();
        (d.starts_with("numeric")
            || d == "integer"
            || d == "bigint"
            || d == "smallint"
            || d == "real"
            || d == "double precision"
            || d == "money")
            && !is_key(t, &c.name)
    };
    likely
        .iter()
        .find_map(|l| t.columns.iter().filter(numeric).find(|c| &c.name == l))
        .or_else(|| t.columns.iter().find(numeric))
        .map(|c| c.name.as_str())
}

/// A column with a known value (an enum label, or a sample value where sampling is on).
fn a_value(t: &Table) -> Option<(&str, &str)> {
    t.columns.iter().find_map(|c| {
        let v = c.enum_labels.first().or_else(|| c.samples.first())?;
        (!is_key(t, &c.name) && !v.is_empty() && v.len() <= 40)
            .then_some((c.name.as_str(), v.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ask::catalog::{Column, ForeignKey};

    fn col(name: &str, data_type: &str) -> Column {
        Column::new(name, data_type)
    }

    fn table(name: &str, columns: Vec<Column>, pk: &str, fks: Vec<ForeignKey>) -> Table {
        Table {
            primary_key: vec![pk.into()],
            foreign_keys: fks,
            ..Table::new(name, columns)
        }
    }

    fn shop() -> Catalog {
        let mut status = col("status", "text");
        status.enum_labels = vec!["shipped".into()];
        Catalog {
            database: "shop".into(),
            fingerprint: String::new(),
            extensions: Vec::new(),
            tables: vec![
                table(
                    "category",
                    vec![col("category_id", "integer"), col("name", "text")],
                    "category_id",
                    vec![],
                ),
                table(
                    "product",
                    vec![
                        col("product_id", "integer"),
                        col("title", "character varying(80)"),
                        col("category_id", "integer"),
                        col("unit_price", "numeric(10,2)"),
                        status,
                    ],
                    "product_id",
                    vec![ForeignKey {
                        name: "fk".into(),
                        columns: vec!["category_id".into()],
                        target: 0,
                        target_columns: vec!["category_id".into()],
                    }],
                ),
            ],
        }
    }

    #[test]
    fn suggestions_span_the_tables_in_turns_and_pass_the_guard() {
        let catalog = shop();
        // One of each kind per round, so a short list shows every kind.
        let got = suggestions(&catalog, &[1, 0], 8);
        let questions: Vec<&str> = got.iter().map(|(q, _)| q.as_str()).collect();
        assert_eq!(
            questions,
            [
                "How many products are there?",
                "List the titles of all products.",
                "Which 3 products have the highest unit price? Give their titles and unit price.",
                "How many products does each category have? Give its name and the count.",
                "What is the total unit price of all products?",
                "Which products have status shipped? Give their titles.",
                "What is the average unit price of products?",
                "What is the highest unit price of any product?",
            ],
            "{questions:?}"
        );
        assert_eq!(got.len(), 8);
        assert!(questions.iter().all(|q| !q.contains("greater than 10")));
        let all = suggestions(&catalog, &[1, 0], 100);
        assert!(
            all.iter().any(|(q, _)| q
                == "How many products does each category have? Give its name and the count."),
            "{all:?}"
        );
        let access = crate::ask::catalog::Access::all(&catalog);
        let policy = crate::ask::guard::Policy::new(crate::ask::guard::default_functions());
        for (_, s) in &all {
            crate::ask::guard::check(s, &policy, &catalog, &access)
                .unwrap_or_else(|e| panic!("{s}: {e}"));
        }
        // A table alone: its own suggestions, no join to a parent outside the list.
        let one = suggestions(&catalog, &[1], 100);
        assert!(one.iter().all(|(_, s)| !s.contains("JOIN")), "{one:?}");
        assert!(suggestions(&catalog, &[], 10).is_empty());
    }

    #[test]
    fn examples_use_the_real_names_and_parse() {
        let catalog = shop();
        let tables = [(1, vec![]), (0, vec![])];
        let ex = for_question(&catalog, &tables, "", &Shape::default(), &[], 40);
        let sqls: Vec<&str> = ex.iter().map(|(_, s)| s.as_str()).collect();
        assert!(sqls.contains(&"SELECT count(*) FROM product"), "{sqls:?}");
        assert!(sqls.contains(&"SELECT count(*) FROM category"), "{sqls:?}");
        assert!(sqls.contains(&"SELECT title FROM product"), "{sqls:?}");
        assert!(
            sqls.contains(
                &"SELECT title, unit_price FROM product ORDER BY unit_price DESC LIMIT 3"
            ),
            "{sqls:?}"
        );
        assert!(sqls.contains(&"SELECT title FROM product WHERE status = 'shipped'"));
        assert!(sqls.contains(
            &"SELECT c.name, count(*) FROM category c JOIN product p ON p.category_id = c.category_id GROUP BY c.category_id, c.name"
        ), "{sqls:?}");
        let questions: Vec<&str> = ex.iter().map(|(q, _)| q.as_str()).collect();
        assert!(questions.contains(&"How many products are there?"));
        assert!(questions.contains(&"How many categories are there?"));
        // Each one passes the guard over this catalog.
        let access = crate::ask::catalog::Access::all(&catalog);
        let policy = crate::ask::guard::Policy::new(crate::ask::guard::default_functions());
        for s in &sqls {
            crate::ask::guard::check(s, &policy, &catalog, &access)
                .unwrap_or_else(|e| panic!("{s}: {e}"));
        }
        // The examples most like the question come last, nearest to it.
        let generic = parse_pairs("Question: Which students live in Paris?\nSQL: SELECT name FROM students WHERE city = 'Paris'\n");
        assert_eq!(generic.len(), 1);
        let few = for_question(
            &catalog,
            &tables,
            "How many products does each category have?",
            &Shape::of("How many products does each category have?", &[]),
            &generic,
            3,
        );
        assert_eq!(few.len(), 3);
        assert!(few[2].1.contains("GROUP BY"), "{few:?}");
        // The generic examples only stand in when the catalog gives none.
        let few = for_question(
            &catalog,
            &[],
            "Which products live in Paris?",
            &Shape::default(),
            &generic,
            2,
        );
        assert_eq!(few, generic);
    }

    #[test]
    fn plural_and_singular() {
        assert_eq!(plural("media type"), "media types");
        assert_eq!(plural("category"), "categories");
        assert_eq!(plural("day"), "days");
        assert_eq!(plural("box"), "boxes");
        assert_eq!(plural("orders"), "orders");
        assert_eq!(singular("categories"), "category");
        assert_eq!(singular("orders"), "order");
        assert_eq!(singular("address"), "address");
    }
}
