//! GBNF grammars for the LLM, built from the tables retrieval chose, so the model can only write
//! a read-only query over names that exist.
//!
//! Two profiles:
//! - [`Profile::Full`] covers the PostgreSQL a person writes (WITH [RECURSIVE], joins of every
//!   kind, subqueries, windows, set operations, CASE, casts, ...). Tables are limited to the chosen
//!   ones and CTE names; columns to their real columns, qualified or not, plus names the query
//!   itself defines (output aliases in ORDER BY, CTE columns after a WITH, and `alias.column`). A
//!   context-free grammar cannot check *which* names a query defined or which table a column
//!   belongs to, so the schema check and EXPLAIN stay in the loop. The question's metrics and
//!   dimensions ([`Spec::defined`]) are offered whole, as one alternative of every expression.
//! - [`Profile::Strict`] is a smaller language in which every sentence plans without error: each
//!   query is built over one join scope (a table, or tables linked by a foreign key) with
//!   qualified columns of those tables only, expressions are typed (numbers, text, times,
//!   booleans, enum labels), and grouping uses ordinals so every selected column is grouped.
//!
//! The text targets the canonical form sqlparser prints (upper-case keywords, single spaces),
//! which is also what the coverage checks compare against.

mod full;

pub use full::{signature, Call, AGGREGATES, FUNCTIONS};
mod gbnf;
mod strict;

use crate::ask::catalog::{quote_ident, Catalog, TableId};
use crate::ask::retrieve::graph::Step;

/// Building a grammar failed.
#[derive(Debug, thiserror::Error)]
pub enum GrammarError {
    #[error("no tables to build a grammar from")]
    NoTables,
    #[error("grammar builder bug: {0}")]
    Internal(String),
}

/// Which language the grammar allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    #[default]
    Full,
    Strict,
}

/// What a column's values are, for the strict profile's typed expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Number,
    Text,
    Time,
    Bool,
    /// An enum with known labels: compared with those labels only.
    Enum,
    /// Anything else (json, arrays, intervals, money, ...): selected and counted, never computed.
    Other,
}

impl ValueKind {
    /// Classifies a type as `format_type` prints it.
    pub fn of(data_type: &str, has_labels: bool) -> ValueKind {
        let t = data_type.to_ascii_lowercase();
        // (An array of an enum has its element's labels, and no label is an array.)
        if t.ends_with("[]") {
            return ValueKind::Other;
        }
        if has_labels {
            return ValueKind::Enum;
        }
        let base = t.split('(').next().unwrap_or("").trim();
        match base {
            "smallint" | "integer" | "bigint" | "numeric" | "decimal" | "real"
            | "double precision" | "int" | "int2" | "int4" | "int8" | "float4" | "float8" => {
                ValueKind::Number
            }
            "text" | "character varying" | "varchar" | "character" | "char" | "bpchar" | "name"
            | "citext" => ValueKind::Text,
            "date"
            | "timestamp without time zone"
            | "timestamp with time zone"
            | "timestamp"
            | "timestamptz" => ValueKind::Time,
            "boolean" | "bool" => ValueKind::Bool,
            // (`timestamp(3) with time zone` is `timestamp` before its modifier; a domain
            // named `timestamp_ms` over a bigint is no time.)
            _ => ValueKind::Other,
        }
    }
}

/// A column as the grammar sees it.
#[derive(Debug, Clone)]
pub struct GColumn {
    /// As written in SQL (quoted when needed).
    pub name: String,
    pub kind: ValueKind,
    /// Enum labels, for the strict profile.
    pub labels: Vec<String>,
}

/// A table as the grammar sees it.
#[derive(Debug, Clone)]
pub struct GTable {
    /// As written in SQL: quoted when needed, schema-qualified outside `public`.
    pub name: String,
    pub columns: Vec<GColumn>,
}

/// A join the strict profile may use: `right.rcol = left.lcol` for each pair.
#[derive(Debug, Clone)]
pub struct GJoin {
    pub left: usize,
    pub right: usize,
    pub pairs: Vec<(String, String)>,
}

/// Everything a grammar is built from.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub tables: Vec<GTable>,
    pub joins: Vec<GJoin>,
    /// Expressions of the question's metrics and dimensions, each offered whole wherever an
    /// expression may stand (full profile).
    pub defined: Vec<String>,
    /// Metrics the question named: the top-level SELECT list must start with one of them.
    pub required: Vec<String>,
    /// A chosen table is readable only in part (column privileges): `*` and `t.*` would read
    /// columns the role may not, so the full profile offers neither.
    pub partial: bool,
    /// The question asks for an order ("the ten longest", "highest first"): every query of the
    /// strict profile sorts (an ORDER BY in every form) or takes smallest or largest values
    /// (its one-row aggregate form has only `min` and `max`), so its fallback cannot leave the
    /// order out.
    pub ordered: bool,
    /// Tables (as written in SQL) every query of the strict profile reads: those of the
    /// conditions pgask writes into its fallback (the table that holds the value the question
    /// names, its flag's, its year's), so the model's FROM leaves pgask somewhere to write
    /// them; their conditions are joined by AND only (an OR lets rows through without
    /// pgask's). With no scope that reads them all, the strict profile has no query (and no
    /// grammar). The full profile ignores it.
    pub reads: Vec<String>,
    /// Conditions pgask writes into the strict profile's queries that its own rules cannot
    /// (a comparison with an average: `invoice.total > (SELECT avg(total) FROM invoice)`; a
    /// choice between values: `cartoon."Directed_by" IN ('Ben Jones', 'Brandon Vietti')`), each
    /// with the table (as written) a query must read to take it. The full profile ignores it.
    pub written: Vec<(String, String)>,
    /// Tables (as written) no query of the strict profile starts its FROM list with: those
    /// that extend the name of the table the question names (`invoice_line` for "how many
    /// invoices", whose join would count lines). The full profile ignores it.
    pub not_first: Vec<String>,
}

/// A built grammar.
#[derive(Debug, Clone)]
pub struct Grammar {
    pub text: String,
    pub rules: usize,
    pub profile: Profile,
}

impl Spec {
    /// The chosen tables of a catalog, with the joins of `steps` (retrieval's join path).
    pub fn from_catalog(catalog: &Catalog, chosen: &[TableId], steps: &[Step]) -> Spec {
        let mut ids: Vec<TableId> = Vec::new();
        for &t in chosen
            .iter()
            .chain(steps.iter().flat_map(|s| [&s.from, &s.edge.to]))
        {
            if t < catalog.tables.len() && !ids.contains(&t) {
                ids.push(t);
            }
        }
        let tables = ids
            .iter()
            .map(|&t| {
                let table = &catalog.tables[t];
                let name = table.written();
                GTable {
                    name,
                    columns: table
                        .columns
                        .iter()
                        .map(|c| GColumn {
                            name: quote_ident(&c.name),
                            kind: ValueKind::of(&c.data_type, !c.enum_labels.is_empty()),
                            labels: c.enum_labels.clone(),
                        })
                        .collect(),
                }
            })
            .collect();
        let pos = |t: TableId| ids.iter().position(|&x| x == t);
        let pairs = |from: &[String], to: &[String]| -> Vec<(String, String)> {
            from.iter()
                .zip(to)
                .map(|(x, y)| (quote_ident(x), quote_ident(y)))
                .collect()
        };
        let mut joins = Vec::new();
        // Declared links between any two chosen tables, plus the retrieval path's steps.
        for (i, &a) in ids.iter().enumerate() {
            for fk in &catalog.tables[a].foreign_keys {
                if let Some(j) = pos(fk.target) {
                    if i != j {
                        joins.push(GJoin {
                            left: i,
                            right: j,
                            pairs: pairs(&fk.columns, &fk.target_columns),
                        });
                    }
                }
            }
        }
        for s in steps {
            if let (Some(i), Some(j)) = (pos(s.from), pos(s.edge.to)) {
                let known = joins
                    .iter()
                    .any(|g| (g.left, g.right) == (i, j) || (g.left, g.right) == (j, i));
                if !known && i != j {
                    joins.push(GJoin {
                        left: i,
                        right: j,
                        pairs: pairs(&s.edge.from_cols, &s.edge.to_cols),
                    });
                }
            }
        }
        Spec {
            tables,
            joins,
            defined: Vec::new(),
            required: Vec::new(),
            partial: false,
            ordered: false,
            reads: Vec::new(),
            written: Vec::new(),
            not_first: Vec::new(),
        }
    }
}

/// Builds the grammar of `profile` for `spec`.
pub fn build(spec: &Spec, profile: Profile) -> Result<Grammar, GrammarError> {
    if spec.tables.is_empty() || spec.tables.iter().all(|t| t.columns.is_empty()) {
        return Err(GrammarError::NoTables);
    }
    let rules = match profile {
        Profile::Full => full::rules(spec)?,
        Profile::Strict => strict::rules(spec)?,
    };
    let n = rules.len();
    Ok(Grammar {
        text: rules.into_text(),
        rules: n,
        profile,
    })
}

/// A grammar that accepts exactly `yes` or `no`, for the relevance question.
pub fn yes_no() -> Grammar {
    Grammar {
        text: "root ::= \" \"? ( \"yes\" | \"no\" )\n".to_string(),
        rules: 1,
        profile: Profile::Strict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_classified() {
        assert_eq!(ValueKind::of("numeric(10,2)", false), ValueKind::Number);
        assert_eq!(
            ValueKind::of("character varying(40)", false),
            ValueKind::Text
        );
        assert_eq!(
            ValueKind::of("timestamp without time zone", false),
            ValueKind::Time
        );
        assert_eq!(ValueKind::of("integer[]", false), ValueKind::Other);
        assert_eq!(ValueKind::of("mood", true), ValueKind::Enum);
        assert_eq!(ValueKind::of("jsonb", false), ValueKind::Other);
        assert_eq!(ValueKind::of("money", false), ValueKind::Other);
        assert_eq!(
            ValueKind::of("timestamp(3) with time zone", false),
            ValueKind::Time
        );
        assert_eq!(ValueKind::of("timestamp_ms", false), ValueKind::Other);
        // An array of an enum has its element's labels, and is no enum.
        assert_eq!(ValueKind::of("mood[]", true), ValueKind::Other);
    }
}

#[cfg(test)]
mod defined_tests {
    use super::*;

    #[test]
    fn a_defined_expression_is_one_alternative_of_every_expression() {
        let spec = Spec {
            tables: vec![GTable {
                name: "order_lines".into(),
                columns: vec![GColumn {
                    name: "quantity".into(),
                    kind: ValueKind::Number,
                    labels: vec![],
                }],
            }],
            joins: vec![],
            defined: vec!["/* units */ sum(order_lines.quantity)".into()],
            required: vec![],
            partial: false,
            ordered: false,
            reads: vec![],
            written: vec![],
            not_first: vec![],
        };
        let g = build(&spec, Profile::Full).unwrap();
        assert!(
            g.text
                .contains("defined ::= \"/* units */ sum(order_lines.quantity)\""),
            "{}",
            g.text
        );
        let prims = g.text.lines().filter(|l| l.starts_with("prim-")).count();
        let with = g
            .text
            .lines()
            .filter(|l| l.starts_with("prim-") && l.contains(" defined |"))
            .count();
        assert!(prims >= 10 && with == prims, "{with} of {prims}");
        let plain = build(
            &Spec {
                defined: vec![],
                ..spec.clone()
            },
            Profile::Full,
        )
        .unwrap();
        assert!(!plain.text.contains("defined"));
        let required = build(
            &Spec {
                required: vec!["/* units */ sum(order_lines.quantity)".into()],
                ..spec
            },
            Profile::Full,
        )
        .unwrap();
        assert!(
            required.text.starts_with("root ::= \" \"? \"SELECT \""),
            "{}",
            required.text
        );
        assert!(required
            .text
            .contains("\"SELECT \" required ( \" AS \" name )?"));
        assert!(required
            .text
            .contains("required ::= \"/* units */ sum(order_lines.quantity)\""));
    }

    #[test]
    fn a_table_read_in_part_offers_no_star() {
        let spec = Spec {
            tables: vec![GTable {
                name: "employee".into(),
                columns: vec![GColumn {
                    name: "name".into(),
                    kind: ValueKind::Text,
                    labels: vec![],
                }],
            }],
            ..Default::default()
        };
        let items = |g: &Grammar| -> Vec<String> {
            g.text
                .lines()
                .filter(|l| l.starts_with("item-"))
                .map(String::from)
                .collect()
        };
        let whole = build(&spec, Profile::Full).unwrap();
        assert!(items(&whole)
            .iter()
            .all(|l| l.contains("\"*\" | ( tbl | alias ) \".*\"")));
        let part = build(
            &Spec {
                partial: true,
                ..spec
            },
            Profile::Full,
        )
        .unwrap();
        let lines = items(&part);
        assert!(!lines.is_empty());
        assert!(lines.iter().all(|l| !l.contains('*')), "{lines:?}");
        assert!(part.text.contains("\"*)\""), "count(*) reads no column");
    }
}

#[cfg(test)]
mod strict_tests {
    use super::*;

    #[test]
    fn a_column_without_equality_is_shown_but_never_made_distinct() {
        let col = |name: &str, kind| GColumn {
            name: name.into(),
            kind,
            labels: vec![],
        };
        let spec = Spec {
            tables: vec![GTable {
                name: "events".into(),
                columns: vec![
                    col("payload", ValueKind::Other),
                    col("title", ValueKind::Text),
                ],
            }],
            joins: vec![],
            defined: vec![],
            required: vec![],
            partial: false,
            ordered: false,
            reads: vec![],
            written: vec![],
            not_first: vec![],
        };
        let g = build(&spec, Profile::Strict).unwrap();
        let rule = |name: &str| {
            g.text
                .lines()
                .find(|l| l.starts_with(&format!("{name} ::=")))
                .unwrap_or_else(|| panic!("no {name}: {}", g.text))
                .to_string()
        };
        assert!(rule("item-0").contains("events.payload"));
        let distinct = rule("ditem-0");
        assert!(distinct.contains("text-0"), "{distinct}");
        assert!(!distinct.contains("payload"), "{distinct}");
        assert!(
            g.text.contains("\"SELECT DISTINCT \" ditems-0"),
            "{}",
            g.text
        );
        // Nothing comparable: no DISTINCT form at all.
        let only = Spec {
            tables: vec![GTable {
                name: "events".into(),
                columns: vec![col("payload", ValueKind::Other)],
            }],
            ..spec
        };
        let g = build(&only, Profile::Strict).unwrap();
        assert!(!g.text.contains("DISTINCT \""), "{}", g.text);
    }
}
