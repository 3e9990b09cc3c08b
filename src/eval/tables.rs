//! Retrieval recall for `pgask eval`: which base tables a gold query reads, and how many of
//! them the schema retrieval put in its top k.
//!
//! Table names are compared unqualified and lower-cased (`public.Invoice` and `invoice` are the
//! same table), because gold SQL rarely names the schema while retrieval reports
//! `schema.table`. Names defined by a WITH clause in scope are not base tables, and neither are
//! set-returning functions in FROM (`generate_series(1, 3)`).

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::ops::ControlFlow;

use sqlparser::ast::{ObjectName, Query, TableFactor, Visit, Visitor};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::{Parser, ParserError};

/// Why the tables of a gold query could not be found.
#[derive(Debug, thiserror::Error)]
pub enum TablesError {
    #[error("cannot parse the gold SQL: {0}")]
    Parse(#[from] ParserError),
}

/// How much of the gold query's tables the retrieval found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recall {
    /// Every gold table is in the top k (true when the query reads no table).
    pub strict: bool,
    /// Share of the gold tables in the top k, 0.0 to 1.0 (1.0 when the query reads no table).
    pub fraction: f64,
}

/// The base tables `sql` reads: unqualified, lower-cased, CTE names excluded.
pub fn gold_tables(sql: &str) -> Result<BTreeSet<String>, TablesError> {
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)?;
    let mut collector = TableCollector::default();
    let ControlFlow::Continue(()) = statements.visit(&mut collector);
    Ok(collector.tables)
}

/// Whether a retrieved name (`schema.table`, possibly quoted) is the gold table `gold`, a name
/// as [`gold_tables`] returns it (already unqualified; compared case-insensitively).
pub fn matches(gold: &str, retrieved: &str) -> bool {
    gold.to_lowercase() == unqualified(retrieved)
}

/// The last dot-separated part of a possibly qualified, possibly double-quoted name, without
/// quotes and lower-cased: `"Sales"."Invoice"` → `invoice`.
pub fn unqualified(name: &str) -> String {
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in name.char_indices() {
        match c {
            '"' => quoted = !quoted, // a doubled "" toggles twice and stays inside
            '.' if !quoted => start = i + 1,
            _ => {}
        }
    }
    let last = name[start..].trim();
    let last = match last.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => last.to_string(),
    };
    last.to_lowercase()
}

/// Recall of the gold tables among the first `k` retrieved names.
pub fn recall_at_k(gold: &BTreeSet<String>, retrieved: &[String], k: usize) -> Recall {
    if gold.is_empty() {
        return Recall {
            strict: true,
            fraction: 1.0,
        };
    }
    let top = &retrieved[..k.min(retrieved.len())];
    let found = gold
        .iter()
        .filter(|g| top.iter().any(|r| matches(g, r)))
        .count();
    Recall {
        strict: found == gold.len(),
        fraction: found as f64 / gold.len() as f64,
    }
}

/// Collects table names read in FROM/JOIN, tracking which CTE names are in scope.
#[derive(Default)]
struct TableCollector {
    /// CTE names (lower-cased) of each enclosing query with a WITH clause.
    cte_scopes: Vec<Vec<String>>,
    tables: BTreeSet<String>,
}

impl TableCollector {
    fn is_cte(&self, name: &ObjectName) -> bool {
        let [part] = name.0.as_slice() else {
            return false; // a qualified name is never a CTE
        };
        let Some(ident) = part.as_ident() else {
            return false;
        };
        let lower = ident.value.to_lowercase();
        self.cte_scopes.iter().flatten().any(|cte| *cte == lower)
    }
}

impl Visitor for TableCollector {
    type Break = Infallible;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<Infallible> {
        let names = query
            .with
            .iter()
            .flat_map(|with| &with.cte_tables)
            .map(|cte| cte.alias.name.value.to_lowercase())
            .collect();
        self.cte_scopes.push(names);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<Infallible> {
        self.cte_scopes.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<Infallible> {
        if let TableFactor::Table {
            name, args: None, ..
        } = factor
        {
            let last = name.0.last().and_then(|part| part.as_ident());
            if let (Some(ident), false) = (last, self.is_cte(name)) {
                self.tables.insert(ident.value.to_lowercase());
            }
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(sql: &str) -> Vec<String> {
        gold_tables(sql).unwrap().into_iter().collect()
    }

    #[test]
    fn joins_and_aliases() {
        assert_eq!(
            tables(
                "SELECT c.name, sum(i.total) FROM customer c JOIN invoice AS i ON i.cid = c.id \
                 LEFT JOIN invoice_line l USING (iid), genre GROUP BY 1"
            ),
            ["customer", "genre", "invoice", "invoice_line"]
        );
    }

    #[test]
    fn subqueries_everywhere() {
        assert_eq!(
            tables(
                "SELECT a FROM (SELECT a FROM t1) s WHERE a IN (SELECT a FROM t2) \
                 AND EXISTS (SELECT 1 FROM t3 WHERE t3.a = s.a) \
                 UNION SELECT (SELECT max(b) FROM t4) FROM t5"
            ),
            ["t1", "t2", "t3", "t4", "t5"]
        );
    }

    #[test]
    fn cte_names_are_not_tables() {
        assert_eq!(
            tables(
                "WITH recent AS (SELECT * FROM orders WHERE d > now()), \
                 big AS (SELECT * FROM recent WHERE total > 10) \
                 SELECT * FROM big JOIN customer ON true"
            ),
            ["customer", "orders"]
        );
        // A recursive CTE references itself; a qualified name is a table even if a CTE shares it.
        assert_eq!(
            tables(
                "WITH RECURSIVE tree AS (SELECT id FROM node UNION ALL \
                 SELECT n.id FROM node n JOIN tree t ON n.parent = t.id) \
                 SELECT * FROM tree, public.tree"
            ),
            ["node", "tree"]
        );
        // Outside its query, a CTE name is a table again.
        assert_eq!(
            tables("SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x) s, x"),
            ["x"]
        );
    }

    #[test]
    fn qualified_and_quoted_names() {
        assert_eq!(
            tables(r#"SELECT * FROM public.Invoice JOIN "Sales"."Customer" c ON true"#),
            ["customer", "invoice"]
        );
        assert_eq!(tables("SELECT * FROM generate_series(1, 3) g, t"), ["t"]);
        assert!(tables("SELECT 1").is_empty());
        assert!(gold_tables("SELEC * FROM t").is_err());
    }

    #[test]
    fn name_matching() {
        assert!(matches("invoice", "public.invoice"));
        assert!(matches("invoice", "Invoice"));
        assert!(matches("invoice", r#""Sales"."Invoice""#));
        assert!(matches("my.table", r#"public."My.Table""#));
        assert_eq!(tables(r#"SELECT * FROM public."My.Table""#), ["my.table"]);
        assert!(!matches("invoice", "public.invoice_line"));
        assert_eq!(unqualified(r#"s."we""ird""#), "we\"ird");
    }

    #[test]
    fn recall_numbers() {
        let gold: BTreeSet<String> = ["customer", "invoice", "track"]
            .into_iter()
            .map(String::from)
            .collect();
        let retrieved: Vec<String> = [
            "public.invoice",
            "public.album",
            "public.customer",
            "public.track",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        let r = recall_at_k(&gold, &retrieved, 3);
        assert!(!r.strict);
        assert!((r.fraction - 2.0 / 3.0).abs() < 1e-12);
        let r = recall_at_k(&gold, &retrieved, 4);
        assert_eq!(
            r,
            Recall {
                strict: true,
                fraction: 1.0
            }
        );
        let r = recall_at_k(&gold, &retrieved, 10);
        assert!(r.strict);
        assert_eq!(recall_at_k(&gold, &retrieved, 0).fraction, 0.0);
        assert_eq!(
            recall_at_k(&BTreeSet::new(), &[], 5),
            Recall {
                strict: true,
                fraction: 1.0
            }
        );
    }
}
