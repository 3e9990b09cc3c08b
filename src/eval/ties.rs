//! Ties in an ordered gold result. A question says "highest first", not how rows with the same
//! total are ordered, so gold queries add tie-breakers (`ORDER BY sales DESC, country`) that
//! the question never asked for, and a gold with one key leaves tied rows in whatever order
//! the plan gives. Here rows that tie on the gold's first ORDER BY key (consecutive equal
//! values of the output column it names) are put in one canonical order within each tie, in
//! the gold result and at the same positions in the predicted one, before the ordered
//! comparison: the order between ties still counts, the order within one does not.

use sqlparser::ast::{Expr, OrderByKind, SetExpr, Statement, Value};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::compare::{normalised, ResultSet};

/// The gold result's column that holds the first ORDER BY key of `sql`: by position
/// (`ORDER BY 2`), or the one output column named as the key is (`sales`, `t.milliseconds`,
/// `count(*)` as `count`). `None` when the query has no ORDER BY or the column is not clear.
pub fn first_key_column(sql: &str, gold: &ResultSet) -> Option<usize> {
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
    let [Statement::Query(query)] = statements.as_slice() else {
        return None;
    };
    let mut query = query;
    while query.order_by.is_none() {
        match query.body.as_ref() {
            SetExpr::Query(inner) => query = inner,
            _ => return None,
        }
    }
    let OrderByKind::Expressions(keys) = &query.order_by.as_ref()?.kind else {
        return None;
    };
    let name = match &keys.first()?.expr {
        Expr::Value(v) => {
            return match &v.value {
                Value::Number(n, _) => n
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| n.checked_sub(1))
                    .filter(|&n| n < gold.columns.len()),
                _ => None,
            }
        }
        Expr::Identifier(i) => i.value.clone(),
        Expr::CompoundIdentifier(parts) => parts.last()?.value.clone(),
        Expr::Function(f) => f.name.to_string().rsplit('.').next()?.to_string(),
        _ => return None,
    };
    let mut matching = gold
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.eq_ignore_ascii_case(&name));
    match (matching.next(), matching.next()) {
        (Some((k, _)), None) => Some(k),
        _ => None,
    }
}

/// Both results with the rows of each gold tie on column `key` in one canonical order (by the
/// row's sorted normalised values, which no column order changes). The predicted result is
/// cut at the gold's tie boundaries; one of another length is returned as it is.
pub fn settle(
    gold: &ResultSet,
    predicted: &ResultSet,
    key: usize,
    digits: u32,
) -> (ResultSet, ResultSet) {
    let (mut g, mut p) = (gold.clone(), predicted.clone());
    if g.rows.len() != p.rows.len() {
        return (g, p);
    }
    let key_of = |row: &[Option<String>]| row.get(key).map(|v| normalised(v.as_deref(), digits));
    let canonical = |row: &Vec<Option<String>>| {
        let mut values: Vec<String> = row
            .iter()
            .map(|v| normalised(v.as_deref(), digits))
            .collect();
        values.sort();
        values
    };
    let mut start = 0;
    while start < g.rows.len() {
        let value = key_of(&g.rows[start]);
        let mut end = start + 1;
        while end < g.rows.len() && key_of(&g.rows[end]) == value {
            end += 1;
        }
        if end - start > 1 {
            g.rows[start..end].sort_by_cached_key(canonical);
            p.rows[start..end].sort_by_cached_key(canonical);
        }
        start = end;
    }
    (g, p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::compare::{same, Options};

    fn rs(columns: &[&str], rows: &[&[&str]]) -> ResultSet {
        ResultSet {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| Some(v.to_string())).collect())
                .collect(),
        }
    }

    const ORDERED: Options = Options {
        ordered: true,
        allow_extra_columns: false,
        float_digits: 6,
    };

    #[test]
    fn the_first_key_is_found_by_name_position_or_function() {
        let g = rs(&["billing_country", "sales"], &[]);
        let first = |sql: &str| first_key_column(sql, &g);
        assert_eq!(
            first("SELECT billing_country, sum(total) AS sales FROM invoice GROUP BY 1 ORDER BY sales DESC, billing_country"),
            Some(1)
        );
        assert_eq!(first("SELECT a, b FROM t ORDER BY 1"), Some(0));
        assert_eq!(
            first("SELECT a, b FROM t ORDER BY i.billing_country"),
            Some(0)
        );
        assert_eq!(first("SELECT a, b FROM t ORDER BY 7"), None);
        assert_eq!(first("SELECT a, b FROM t ORDER BY a + b"), None);
        assert_eq!(first("SELECT a, b FROM t"), None);
        let c = rs(&["name", "count"], &[]);
        assert_eq!(
            first_key_column(
                "SELECT name, count(*) FROM t GROUP BY name ORDER BY count(*) DESC",
                &c
            ),
            Some(1)
        );
    }

    #[test]
    fn rows_tied_on_the_first_key_may_come_in_either_order() {
        let gold = rs(
            &["country", "sales"],
            &[
                &["USA", "523.06"],
                &["Hungary", "45.62"],
                &["Ireland", "45.62"],
                &["Chile", "40"],
            ],
        );
        // Ireland before Hungary (a tie), columns swapped: the same answer.
        let tied = rs(
            &["total", "billing_country"],
            &[
                &["523.06", "USA"],
                &["45.62", "Ireland"],
                &["45.62", "Hungary"],
                &["40", "Chile"],
            ],
        );
        assert!(!same(&gold, &tied, &ORDERED));
        let (g, p) = settle(&gold, &tied, 1, 6);
        assert!(same(&g, &p, &ORDERED));
        // Rows out of order across different keys still differ.
        let wrong = rs(
            &["country", "sales"],
            &[
                &["Hungary", "45.62"],
                &["USA", "523.06"],
                &["Ireland", "45.62"],
                &["Chile", "40"],
            ],
        );
        let (g, p) = settle(&gold, &wrong, 1, 6);
        assert!(!same(&g, &p, &ORDERED));
    }
}
