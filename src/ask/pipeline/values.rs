//! Stage 1b, value linking: a value the question names ("Brazil", "AC/DC", a quoted string) is
//! looked up in the chosen tables' text columns, read-only on the client's own session (so with
//! its role, its privileges and its row-level security), within `ask.value_lookup_ms`. A column
//! holding it gets the value, as the database spells it, first among its samples: the prompt
//! shows it beside the column (`-- e.g. 'Brazil'`) and the catalog examples filter on it, so
//! the model need not guess which column a value belongs to. Sensitive columns (the
//! `catalog.sensitive_patterns`) are never looked in.

use std::time::{Duration, Instant};

use crate::ask::catalog::{quote_ident, Catalog, TableId, TableKind};
use crate::ask::execute::{self, ExecError, Limits};
use crate::ask::generate::shape::{self, Literal, Shape};
use crate::session::link::Link;

use super::lookup::literal;

/// Most columns looked in per ask (over every value); the question's own tables come first.
const MAX_PROBES: usize = 48;
/// Values the question names that are looked up.
const MAX_VALUES: usize = 3;
/// Samples a column keeps (the found value first).
const MAX_SAMPLES: usize = 8;
/// Tables the planner estimates larger than this are not looked in: `lower(col)` cannot use a
/// plain index, so each value not there is a whole scan.
const MAX_ROWS: f64 = 200_000.0;

/// One column to look in for one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Probe {
    pub table: TableId,
    pub column: usize,
    /// Lower case, as the question's shape holds it.
    pub value: String,
}

/// Whether a column of this type holds text worth looking in (not arrays, not enums, whose
/// labels the catalog already has).
fn is_text(data_type: &str) -> bool {
    !data_type.ends_with("[]")
        && (data_type == "text"
            || data_type == "citext"
            || data_type.starts_with("character")
            || data_type.starts_with("varchar")
            || data_type.starts_with("char"))
}

/// The columns to look in, table by table in `tables`' order: text columns the catalog (already
/// cut to what the role may read) has, not sensitive, and not already showing the value; of
/// tables and materialized views (a view runs its query per probe, a foreign table fetches
/// remote rows) of at most [`MAX_ROWS`] estimated rows, whose names are not sensitive.
pub(super) fn probes(
    catalog: &Catalog,
    tables: &[TableId],
    shape: &Shape,
    sensitive: &[String],
) -> Vec<Probe> {
    let values = text_values(shape);
    let marked = |s: &str| {
        let s = s.to_lowercase();
        sensitive.iter().any(|p| s.contains(p.as_str()))
    };
    let mut out = Vec::new();
    for &t in tables {
        let Some(table) = catalog.tables.get(t) else {
            continue;
        };
        let scannable = matches!(
            table.kind,
            TableKind::Table | TableKind::Partitioned | TableKind::MaterializedView
        ) && table.rows <= MAX_ROWS;
        if !scannable || marked(&table.name) || table.comment.as_deref().is_some_and(marked) {
            continue;
        }
        for (i, c) in table.columns.iter().enumerate() {
            if !is_text(&c.data_type)
                || !c.enum_labels.is_empty()
                || marked(&c.name)
                || c.comment.as_deref().is_some_and(marked)
            {
                continue;
            }
            for v in &values {
                if c.samples.iter().any(|s| s.to_lowercase() == **v) {
                    continue;
                }
                out.push(Probe {
                    table: t,
                    column: i,
                    value: (*v).clone(),
                });
            }
        }
    }
    out.truncate(MAX_PROBES);
    out
}

/// The values the question names ([`MAX_VALUES`] at most), lower case.
fn text_values(shape: &Shape) -> Vec<&String> {
    shape
        .literals
        .iter()
        .filter_map(|l| match l {
            Literal::Text(v) if !v.trim().is_empty() => Some(v),
            _ => None,
        })
        .take(MAX_VALUES)
        .collect()
}

/// Values the question names ([`Shape::literals`]: quoted or capitalised) that the catalog
/// already shows among a column's samples of `tables` ("Brazil" among `customer.country`'s,
/// with `catalog.sample_values` on): exactly what the lookup would have found there, without
/// a query. The lookup ([`probes`]) skips such columns, so without this a value every holder
/// already shows would be no value at all, and the answer would not have to use it.
pub(super) fn sampled(
    catalog: &Catalog,
    tables: &[TableId],
    shape: &Shape,
) -> Vec<(Probe, String)> {
    let values = text_values(shape);
    let mut out = Vec::new();
    for &t in tables {
        let Some(table) = catalog.tables.get(t) else {
            continue;
        };
        for (i, c) in table.columns.iter().enumerate() {
            for v in &values {
                if let Some(stored) = c.samples.iter().find(|s| s.to_lowercase() == **v) {
                    let probe = Probe {
                        table: t,
                        column: i,
                        value: (*v).clone(),
                    };
                    out.push((probe, stored.clone()));
                }
            }
        }
    }
    out
}

/// Labels of the chosen tables' columns (enum labels, a CHECK constraint's values) that the
/// question writes, in any case, as whole words (`mid_market` as "mid market" or "mid-market",
/// the last word also plural): found without a query, since the schema already says which
/// column holds them ("How many orders were cancelled?": `orders.status`, `'cancelled'`).
/// Left out: labels under three letters (`'y'`, `'no'`) and common words (`'check'`, `'new'`,
/// `'other'`), which read as ordinary words; a label the question negates ("not cancelled",
/// "other than shipped": the answer must not equal it, so it is no value to use); and a label
/// followed by a word of another column of its table ("the shipped date": that column is
/// meant).
pub(super) fn labelled(
    catalog: &Catalog,
    tables: &[TableId],
    question: &str,
) -> Vec<(Probe, String)> {
    let words: Vec<String> = question
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    // Where the label's words stand in the question: the first one's index and their number.
    let written_at = |label: &str| -> Option<(usize, usize)> {
        let parts: Vec<String> = label
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let n = parts.len();
        if n == 0 {
            return None;
        }
        let at = words.windows(n).position(|w| {
            w.iter().zip(&parts).enumerate().all(|(k, (q, l))| {
                q == l || (k + 1 == n && (q == &format!("{l}s") || q == &format!("{l}es")))
            })
        })?;
        Some((at, n))
    };
    let negated = |at: usize| {
        shape::negated_at(&words, at)
            || (at >= 2 && words[at - 2] == "other" && words[at - 1] == "than")
    };
    let mut out = Vec::new();
    for &t in tables {
        let Some(table) = catalog.tables.get(t) else {
            continue;
        };
        // A word of another column of the table ("shipped date": `shipped_date`, not
        // `status`); the label's own column confirms it ("the enterprise segment").
        let column_word = |w: &str, own: usize| {
            table
                .columns
                .iter()
                .enumerate()
                .any(|(k, c)| k != own && c.name.to_lowercase().split('_').any(|p| p == w))
        };
        for (i, c) in table.columns.iter().enumerate() {
            for label in &c.enum_labels {
                if label.chars().count() < 3 || COMMON.contains(&label.to_lowercase().as_str()) {
                    continue;
                }
                let Some((at, n)) = written_at(label) else {
                    continue;
                };
                if negated(at) || words.get(at + n).is_some_and(|w| column_word(w, i)) {
                    continue;
                }
                out.push((
                    Probe {
                        table: t,
                        column: i,
                        value: label.to_lowercase(),
                    },
                    label.clone(),
                ));
            }
        }
    }
    out
}

/// Labels that are common words of questions, never taken as values from the question alone.
const COMMON: &[&str] = &[
    "all", "any", "none", "some", "other", "others", "new", "old", "check", "yes", "true", "false",
    "default", "unknown", "total", "count", "first", "last",
];

/// One query per table: for each of its probes, the column's value as stored (NULL when no row
/// has it); each scan stops at its first match.
pub(super) fn queries(catalog: &Catalog, probes: &[Probe]) -> Vec<(TableId, String)> {
    let mut out: Vec<(TableId, Vec<String>)> = Vec::new();
    for p in probes {
        let Some(table) = catalog.tables.get(p.table) else {
            continue;
        };
        let Some(c) = table.columns.get(p.column) else {
            continue;
        };
        let col = quote_ident(&c.name);
        let item = format!(
            "(SELECT {col}::text FROM {} WHERE lower({col}::text) = {} LIMIT 1)",
            table.qualified(),
            literal(&p.value)
        );
        match out.iter_mut().find(|(t, _)| *t == p.table) {
            Some((_, items)) => items.push(item),
            None => out.push((p.table, vec![item])),
        }
    }
    out.into_iter()
        .map(|(t, items)| (t, format!("SELECT {}", items.join(", "))))
        .collect()
}

/// Gives each found value to its column, first among the samples.
pub(super) fn apply(catalog: &mut Catalog, found: &[(Probe, String)]) {
    for (p, stored) in found {
        let Some(c) = catalog
            .tables
            .get_mut(p.table)
            .and_then(|t| t.columns.get_mut(p.column))
        else {
            continue;
        };
        c.samples.retain(|s| s != stored);
        c.samples.insert(0, stored.clone());
        c.samples.truncate(MAX_SAMPLES);
    }
}

/// The values found, once each as stored (one value per value the question names: the first
/// column's spelling).
pub(super) fn distinct(found: &[(Probe, String)]) -> Vec<String> {
    let mut out: Vec<(&str, &String)> = Vec::new();
    for (p, stored) in found {
        if !out.iter().any(|(v, _)| *v == p.value) {
            out.push((&p.value, stored));
        }
    }
    out.into_iter().map(|(_, s)| s.clone()).collect()
}

/// Where each value found is stored: `(value as stored, table, column)`, every column of
/// `catalog` that holds it (the one the lookup found it in, and any whose samples or labels
/// already show it: those were never probed).
pub(super) fn holders(
    catalog: &Catalog,
    found: &[(Probe, String)],
) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    for (p, stored) in found {
        let value = p.value.to_lowercase();
        for t in &catalog.tables {
            for c in &t.columns {
                let holds = c
                    .samples
                    .iter()
                    .chain(&c.enum_labels)
                    .any(|s| s.to_lowercase() == value);
                let h = (stored.clone(), t.name.clone(), c.name.clone());
                if holds && !out.contains(&h) {
                    out.push(h);
                }
            }
        }
    }
    out
}

/// Runs the lookups on the client's session within `budget`: the values found, with their
/// probes. A query that fails or runs out of time ends the lookup with what was found before
/// it (the read-only scope is rolled back either way); only the link's failure is an error.
pub(super) async fn look_up(
    link: &mut Link<'_>,
    catalog: &Catalog,
    probes: &[Probe],
    status: u8,
    budget: Duration,
) -> Result<Vec<(Probe, String)>, ExecError> {
    let started = Instant::now();
    let limits = Limits {
        max_rows: 1,
        statement_timeout_ms: u64::try_from(budget.as_millis()).unwrap_or(u64::MAX).max(1),
        max_cost: 0.0,
    };
    let queries = queries(catalog, probes);
    let sqls: Vec<String> = queries.iter().map(|(_, q)| q.clone()).collect();
    let rows = execute::first_rows(link, &sqls, status, &limits, started + budget).await?;
    let mut found = Vec::new();
    for ((t, _), row) in queries.iter().zip(rows) {
        let mine = probes.iter().filter(|p| p.table == *t);
        for (p, v) in mine.zip(row) {
            if let Some(v) = v {
                found.push((p.clone(), v));
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ask::catalog::{Column, Table};

    fn col(name: &str, data_type: &str) -> Column {
        Column::new(name, data_type)
    }

    fn catalog() -> Catalog {
        Catalog {
            database: "shop".into(),
            fingerprint: String::new(),
            extensions: Vec::new(),
            tables: vec![Table {
                oid: 1,
                rows: 10.0,
                primary_key: vec!["customer_id".into()],
                ..Table::new(
                    "customer",
                    vec![
                        col("customer_id", "integer"),
                        col("country", "character varying(40)"),
                        col("email", "text"),
                        col("tags", "text[]"),
                        col("Note", "text"),
                    ],
                )
            }],
        }
    }

    fn shape(q: &str) -> Shape {
        Shape::of(q, &[])
    }

    #[test]
    fn text_columns_are_probed_but_not_sensitive_arrays_or_numbers() {
        let c = catalog();
        let p = probes(
            &c,
            &[0],
            &shape("Which customers live in Brazil?"),
            &["mail".into()],
        );
        let cols: Vec<&str> = p
            .iter()
            .map(|p| c.tables[0].columns[p.column].name.as_str())
            .collect();
        assert_eq!(cols, vec!["country", "Note"]);
        assert!(p.iter().all(|p| p.value == "brazil"));
        assert!(probes(&c, &[0], &shape("How many customers are there?"), &[]).is_empty());
    }

    #[test]
    fn labels_the_question_writes_are_found_without_a_query() {
        let mut c = catalog();
        c.tables[0].columns.push(col("segment", "text"));
        c.tables[0].columns[5].enum_labels = vec![
            "enterprise".into(),
            "mid_market".into(),
            "small_business".into(),
            "no".into(),
        ];
        let found = |q: &str| -> Vec<String> {
            labelled(&c, &[0], q).into_iter().map(|(_, v)| v).collect()
        };
        assert_eq!(
            found("Which customers are in the Enterprise segment?"),
            vec!["enterprise"]
        );
        assert_eq!(
            found("How many mid-market customers are there?"),
            vec!["mid_market"]
        );
        assert_eq!(found("Count the small businesses."), vec!["small_business"]);
        // Whole words only, and no label of under three letters.
        assert!(found("Which enterprising customers buy the most?").is_empty());
        assert!(found("Is there no customer in the market?").is_empty());
        // Only the chosen tables' columns.
        assert!(labelled(&c, &[], "the enterprise segment").is_empty());
        // Negated, followed by a column's word, or a common word: no value.
        assert!(found("How many customers are not enterprise customers?").is_empty());
        assert!(found("Customers other than small business ones").is_empty());
        assert!(found("Which enterprise note mentions a refund?").is_empty());
        assert_eq!(
            found("Which customers are in the enterprise segment?"),
            vec!["enterprise"]
        );
        c.tables[0].columns[5].enum_labels.push("check".into());
        assert!(labelled(&c, &[0], "Check the number of customers.").is_empty());
        let (p, _) = &labelled(&c, &[0], "enterprise customers")[0];
        assert_eq!((p.table, p.column, p.value.as_str()), (0, 5, "enterprise"));
    }

    #[test]
    fn holders_include_columns_whose_samples_already_show_the_value() {
        let mut c = catalog();
        let mut office = Table::new(
            "office",
            vec![col("office_id", "integer"), col("country", "text")],
        );
        office.oid = 2;
        c.tables.push(office);
        // `customer.country` shows Brazil among its samples, so only `office.country` was
        // probed and found it.
        c.tables[0].columns[1].samples = vec!["Brazil".into(), "Chile".into()];
        let found = vec![(
            Probe {
                table: 1,
                column: 1,
                value: "brazil".into(),
            },
            "Brazil".to_string(),
        )];
        apply(&mut c, &found);
        let h = holders(&c, &found);
        assert_eq!(
            h,
            vec![
                (
                    "Brazil".to_string(),
                    "customer".to_string(),
                    "country".to_string()
                ),
                (
                    "Brazil".to_string(),
                    "office".to_string(),
                    "country".to_string()
                ),
            ]
        );
    }

    #[test]
    fn values_already_among_the_samples_are_found_without_a_query() {
        let mut c = catalog();
        c.tables[0].columns[1].samples = vec!["USA".into(), "Brazil".into()];
        let q = shape("Which customers live in Brazil?");
        // The lookup skips the column that shows the value ...
        let p = probes(&c, &[0], &q, &[]);
        assert!(p.iter().all(|p| p.column != 1), "{p:?}");
        // ... so the samples must give it, spelled as stored, for the answer to have to use it.
        let found = sampled(&c, &[0], &q);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].0.column, found[0].1.as_str()), (1, "Brazil"));
        assert_eq!(distinct(&found), vec!["Brazil".to_string()]);
        assert!(sampled(&c, &[0], &shape("Which customers live in Chile?")).is_empty());
        assert!(sampled(&c, &[], &q).is_empty());
        // Short values too, as the lookup would find them ("customers in CA").
        c.tables[0].columns[1].samples.push("CA".into());
        let ca = sampled(&c, &[0], &shape("How many customers are in CA?"));
        assert_eq!(ca.len(), 1, "{ca:?}");
    }

    #[test]
    fn views_large_tables_and_sensitive_tables_are_not_looked_in() {
        let q = shape("Which customers live in Brazil?");
        for edit in [
            (|t: &mut Table| t.kind = TableKind::View) as fn(&mut Table),
            |t| t.kind = TableKind::Foreign,
            |t| t.rows = 5_000_000.0,
            |t| t.name = "customer_secret".into(),
        ] {
            let mut c = catalog();
            edit(&mut c.tables[0]);
            assert!(probes(&c, &[0], &q, &["secret".into()]).is_empty());
        }
        // Never analysed (-1 rows): looked in.
        let mut c = catalog();
        c.tables[0].rows = -1.0;
        assert!(!probes(&c, &[0], &q, &[]).is_empty());
    }

    #[test]
    fn one_query_per_table_with_quoted_names_and_literals() {
        let c = catalog();
        let p = probes(
            &c,
            &[0],
            &shape("Which customers live in 'O'Hara'?"),
            &["mail".into()],
        );
        let q = queries(&c, &p);
        assert_eq!(q.len(), 1);
        let sql = &q[0].1;
        assert!(sql.contains("lower(country::text) = "), "{sql}");
        assert!(sql.contains("lower(\"Note\"::text)"), "{sql}");
        assert!(sql.contains("FROM public.customer"), "{sql}");
        // The value goes in dollar-quoted: a quote in it cannot end the literal.
        assert!(crate::ask::guard::is_one_query(sql), "{sql}");
    }

    #[test]
    fn a_found_value_comes_first_among_the_samples() {
        let mut c = catalog();
        c.tables[0].columns[1].samples = vec!["Chile".into(), "Brazil".into()];
        let p = Probe {
            table: 0,
            column: 1,
            value: "brazil".into(),
        };
        apply(&mut c, &[(p, "Brazil".into())]);
        assert_eq!(c.tables[0].columns[1].samples, vec!["Brazil", "Chile"]);
        // A column already showing the value is not looked in again.
        let p = probes(&c, &[0], &shape("Which customers live in Brazil?"), &[]);
        assert!(p.iter().all(|p| p.column != 1));
    }
}
