//! Ties in an ordered gold result. A question says "highest first", not how rows with the same
//! total are ordered, so gold queries add tie-breakers (`ORDER BY sales DESC, country`) that
//! the question never asked for, and a gold with one key leaves tied rows in whatever order
//! the plan gives. Here rows that tie on the gold's first ORDER BY key (consecutive equal
//! values of the output column it names) are put in one canonical order within each tie, in
//! the gold result and at the same positions in the predicted one, before the ordered
//! comparison: the order between ties still counts, the order within one does not.

use sqlparser::ast::{Expr, OrderByKind, SelectItem, SetExpr, Statement, Value};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::compare::{normalised, ResultSet};

/// The gold result's column that holds the first ORDER BY key of `sql`: by position
/// (`ORDER BY 2`), as an output alias or plain column name (`sales`), or as an expression
/// written exactly as one select item (`c.name`, `count(*)`). `None` when the query has no
/// ORDER BY, a `*` is in its select list, or the column is not clear.
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
    let key = &keys.first()?.expr;
    if let Expr::Value(v) = key {
        return match &v.value {
            Value::Number(n, _) => n
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .filter(|&n| n < gold.columns.len()),
            _ => None,
        };
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let written = key.to_string();
    let bare = match key {
        Expr::Identifier(i) => Some(i.value.to_lowercase()),
        _ => None,
    };
    let mut found = None;
    for (i, item) in select.projection.iter().enumerate() {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.to_lowercase())),
            // Columns after a `*` are at positions the select list does not say.
            _ => return None,
        };
        let named = match expr {
            Expr::Identifier(c) => Some(c.value.to_lowercase()),
            Expr::CompoundIdentifier(parts) => parts.last().map(|c| c.value.to_lowercase()),
            _ => None,
        };
        let matches = match &bare {
            // A bare name is an output name first (PostgreSQL's rule for ORDER BY).
            Some(b) => alias.as_ref().or(named.as_ref()) == Some(b),
            None => expr.to_string() == written,
        };
        if matches {
            if found.is_some() {
                return None;
            }
            found = Some(i);
        }
    }
    found.filter(|&i| i < gold.columns.len())
}

/// Both results with the rows of each gold tie on column `key` in one canonical order (by the
/// row's sorted normalised values, which no column order changes). The predicted result is
/// cut at the gold's tie boundaries; one of another length, or a key equal in every row, leaves
/// both as they are.
pub fn settle(
    gold: &ResultSet,
    predicted: &ResultSet,
    key: usize,
    digits: u32,
) -> (ResultSet, ResultSet) {
    let (mut g, mut p) = (gold.clone(), predicted.clone());
    let key_of = |row: &[Option<String>]| row.get(key).map(|v| normalised(v.as_deref(), digits));
    // A key the same in every row orders nothing: the gold's later keys are the order asked for.
    let constant = g.rows.windows(2).all(|w| key_of(&w[0]) == key_of(&w[1]));
    if g.rows.len() != p.rows.len() || constant {
        return (g, p);
    }
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
            first("SELECT i.billing_country, b FROM t ORDER BY i.billing_country"),
            Some(0)
        );
        assert_eq!(first("SELECT *, b FROM t ORDER BY b"), None);
        // A qualified key is the select item written the same way, not another table's
        // column of the same name; a key that is no select item is none.
        let s = rs(&["name", "course"], &[]);
        let sql = "SELECT s.name, c.name AS course FROM s JOIN c ON true ORDER BY c.name";
        assert_eq!(first_key_column(sql, &s), Some(1));
        let q = rs(&["country", "sum"], &[]);
        let sql = "SELECT country, sum(quantity) FROM t GROUP BY 1 ORDER BY sum(total) DESC";
        assert_eq!(first_key_column(sql, &q), None);
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
    fn a_key_equal_in_every_row_leaves_the_order_to_the_later_keys() {
        let gold = rs(&["dept", "name"], &[&["X", "Ann"], &["X", "Bob"]]);
        let other = rs(&["dept", "name"], &[&["X", "Bob"], &["X", "Ann"]]);
        let (g, p) = settle(&gold, &other, 0, 6);
        assert!(!same(&g, &p, &ORDERED));
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
