//! Metrics and dimensions defined once (the glossary's `[metrics]` and `[dimensions]`): a name,
//! a description, a SQL expression over qualified columns and the tables it needs. When a
//! question matches one, retrieval adds its tables, the prompt shows it, and the grammar offers
//! the whole expression as one alternative, so the model can take it as written.
//!
//! ```toml
//! [metrics.revenue]
//! description = "money from order lines: quantity times unit price, less the discount"
//! sql = "sum(order_lines.quantity * order_lines.unit_price * (1 - order_lines.discount))"
//! synonyms = ["sales", "turnover"]
//!
//! [dimensions.order_month]
//! description = "the calendar month of an order"
//! sql = "date_trunc('month', orders.order_date)"
//! ```
//!
//! `tables` may be given; by default it is every qualifier of the expression.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use serde::Deserialize;
use sqlparser::ast::{visit_expressions, Expr, SelectItem, SetExpr, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// A definition that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SemanticError {
    #[error("{kind} {name}: the name must be lower-case letters, digits and _")]
    Name {
        line: usize,
        kind: Kind,
        name: String,
    },
    #[error("{kind} {name}: `sql` is not one SQL expression: {reason}")]
    Syntax {
        line: usize,
        kind: Kind,
        name: String,
        reason: String,
    },
    #[error("{kind} {name}: column {column} must be qualified by its table")]
    Unqualified {
        line: usize,
        kind: Kind,
        name: String,
        column: String,
    },
    #[error("the metrics and dimensions were left out: {message}")]
    File { line: usize, message: String },
    #[error("{kind} {name}: `sql` is missing")]
    Missing {
        line: usize,
        kind: Kind,
        name: String,
    },
    #[error("{kind} {name}: `tables` entry {table:?} is not a table name (name or schema.name)")]
    BadTable {
        line: usize,
        kind: Kind,
        name: String,
        table: String,
    },
    #[error("{kind} {name}: {table} is used in `sql` but not listed in `tables`")]
    Unlisted {
        line: usize,
        kind: Kind,
        name: String,
        table: String,
    },
}

impl SemanticError {
    /// The line of the definition's `sql` in the file.
    pub fn line(&self) -> usize {
        match self {
            SemanticError::Name { line, .. }
            | SemanticError::File { line, .. }
            | SemanticError::Missing { line, .. }
            | SemanticError::BadTable { line, .. }
            | SemanticError::Syntax { line, .. }
            | SemanticError::Unqualified { line, .. }
            | SemanticError::Unlisted { line, .. } => *line,
        }
    }
}

/// A metric (an aggregate: revenue, margin) or a dimension (what to group by: month, region).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Metric,
    Dimension,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Metric => "metric",
            Kind::Dimension => "dimension",
        })
    }
}

/// One entry as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Entry {
    #[serde(default)]
    description: String,
    sql: Option<toml::Spanned<String>>,
    #[serde(default)]
    tables: Vec<String>,
    #[serde(default)]
    synonyms: Vec<String>,
}

/// A checked definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub kind: Kind,
    pub name: String,
    pub description: String,
    /// The expression exactly as the grammar offers it.
    pub sql: String,
    /// The tables it needs, lower-cased (schema-qualified outside `public`).
    pub tables: Vec<String>,
    /// Its (table, column) references, which the asking role must be able to read.
    pub columns: Vec<(String, String)>,
    /// Phrases that match it besides its name (lower-cased).
    pub synonyms: Vec<String>,
    /// The line of its `sql` in the file.
    pub line: usize,
}

impl Definition {
    /// The phrases a question may use for it: the name with spaces for `_`, and the synonyms.
    pub fn phrases(&self) -> Vec<String> {
        let mut p = vec![self.name.replace('_', " ")];
        p.extend(self.synonyms.iter().cloned());
        p
    }

    /// How the grammar offers it and the prompt shows it: its name as a comment, then the
    /// expression (`/* revenue */ sum(…)`). The comment is the one choice a model makes; the
    /// grammar then allows only the expression, so it comes out whole, and the answer's SQL says
    /// which definition it used.
    pub fn written(&self) -> String {
        format!("/* {} */ {}", self.name, self.sql)
    }

    /// The text embedded to match questions by meaning.
    pub fn document(&self) -> String {
        format!(
            "{}: {} ({})",
            self.name.replace('_', " "),
            self.description,
            self.synonyms.join(", ")
        )
    }
}

/// A definition that does not plan against a database, with PostgreSQL's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanFailure {
    pub line: usize,
    pub kind: Kind,
    pub name: String,
    pub sqlstate: String,
    pub message: String,
}

impl std::fmt::Display for PlanFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} does not plan: {} ({})",
            self.kind, self.name, self.message, self.sqlstate
        )
    }
}

/// The query that proves a definition is usable: a metric aggregates over its tables (so it
/// stands with an empty GROUP BY), a dimension groups them.
pub fn probe(d: &Definition) -> String {
    let from: Vec<String> = d
        .tables
        .iter()
        .map(|t| {
            t.split('.')
                .map(crate::ask::catalog::quote_ident)
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect();
    let from = from.join(", ");
    match d.kind {
        Kind::Metric => format!("SELECT {} FROM {from} GROUP BY ()", d.sql),
        Kind::Dimension => format!("SELECT {} FROM {from} GROUP BY 1", d.sql),
    }
}

/// Plans every definition's probe with EXPLAIN over the extended protocol (one statement only;
/// names, types and grouping are checked, nothing runs) and returns those that fail.
pub async fn plan(client: &tokio_postgres::Client, defs: &[Definition]) -> Vec<PlanFailure> {
    let mut failed = Vec::new();
    for d in defs {
        if let Err(e) = client.query(&format!("EXPLAIN {}", probe(d)), &[]).await {
            let (sqlstate, message) = match e.as_db_error() {
                Some(db) => (db.code().code().to_string(), db.message().to_string()),
                None => (String::new(), e.to_string()),
            };
            failed.push(PlanFailure {
                line: d.line,
                kind: d.kind,
                name: d.name.clone(),
                sqlstate,
                message,
            });
        }
    }
    failed
}

/// Checks the entries of one section; `text` is the file, for line numbers.
pub(crate) fn definitions(
    kind: Kind,
    entries: BTreeMap<String, Entry>,
    text: &str,
) -> (Vec<Definition>, Vec<SemanticError>) {
    let mut ok = Vec::new();
    let mut problems = Vec::new();
    for (name, e) in entries {
        let at = match &e.sql {
            Some(sql) => sql.span().start,
            // No `sql`: the line of the entry's header.
            None => text.find(&format!(".{name}]")).unwrap_or(0),
        };
        let line = text[..at.min(text.len())].matches('\n').count() + 1;
        match definition(kind, &name, e, line) {
            Ok(d) => ok.push(d),
            Err(p) => problems.push(p),
        }
    }
    (ok, problems)
}

fn definition(kind: Kind, name: &str, e: Entry, line: usize) -> Result<Definition, SemanticError> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(SemanticError::Name {
            line,
            kind,
            name: name.into(),
        });
    }
    let Some(sql) = e.sql else {
        return Err(SemanticError::Missing {
            line,
            kind,
            name: name.into(),
        });
    };
    let (sql, qualifiers, columns) = parse_expr(sql.get_ref()).map_err(|reason| match reason {
        Problem::Syntax(reason) => SemanticError::Syntax {
            line,
            kind,
            name: name.into(),
            reason,
        },
        Problem::Unqualified(column) => SemanticError::Unqualified {
            line,
            kind,
            name: name.into(),
            column,
        },
    })?;
    let listed: Vec<String> = e.tables.iter().map(|t| t.trim().to_lowercase()).collect();
    if let Some(t) = listed.iter().find(|t| !is_table_name(t)) {
        return Err(SemanticError::BadTable {
            line,
            kind,
            name: name.into(),
            table: t.clone(),
        });
    }
    let tables = if listed.is_empty() {
        qualifiers
    } else {
        if let Some(t) = qualifiers.iter().find(|q| !listed.contains(q)) {
            return Err(SemanticError::Unlisted {
                line,
                kind,
                name: name.into(),
                table: t.clone(),
            });
        }
        listed
    };
    Ok(Definition {
        kind,
        name: name.into(),
        description: e.description.trim().to_string(),
        sql,
        tables,
        columns,
        synonyms: e
            .synonyms
            .iter()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect(),
        line,
    })
}

enum Problem {
    Syntax(String),
    Unqualified(String),
}

/// An expression's canonical text, its tables and its (table, column) references.
type Parsed = (String, Vec<String>, Vec<(String, String)>);

/// `name` or `schema.name`, letters, digits and `_` only: safe to write into SQL as it is.
fn is_table_name(t: &str) -> bool {
    let parts: Vec<&str> = t.split('.').collect();
    parts.len() <= 2
        && parts.iter().all(|p| {
            p.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// An expression in sqlparser's canonical form (what the grammar offers: comments, line breaks
/// and a trailing `;` gone, string literals untouched), the tables its columns are qualified by
/// (`t.c` gives `t`, `s.t.c` gives `s.t`) in order of appearance, and each (table, column); an
/// unqualified column is refused, as it would be ambiguous in a join.
fn parse_expr(sql: &str) -> Result<Parsed, Problem> {
    let mut stmts = Parser::parse_sql(&PostgreSqlDialect {}, &format!("SELECT {sql}"))
        .map_err(|e| Problem::Syntax(e.to_string()))?;
    let one = match (stmts.pop(), stmts.is_empty()) {
        (Some(Statement::Query(q)), true) => match *q.body {
            SetExpr::Select(s)
                if s.from.is_empty() && s.selection.is_none() && s.projection.len() == 1 =>
            {
                match s.projection.into_iter().next() {
                    Some(SelectItem::UnnamedExpr(e)) => Some(e),
                    _ => None,
                }
            }
            _ => None,
        },
        _ => None,
    };
    let Some(expr) = one else {
        return Err(Problem::Syntax(
            "write one expression, without AS, FROM or a trailing clause".into(),
        ));
    };
    let mut subquery = false;
    let _ = sqlparser::ast::visit_relations(&expr, |_| {
        subquery = true;
        ControlFlow::<()>::Break(())
    });
    if subquery {
        // Its tables would escape the role's access check.
        return Err(Problem::Syntax(
            "a subquery is not allowed: write an expression over the listed tables".into(),
        ));
    }
    let mut tables: Vec<String> = Vec::new();
    let mut columns: Vec<(String, String)> = Vec::new();
    let mut bare = None;
    let fold = |p: &sqlparser::ast::Ident| match p.quote_style {
        Some(_) => p.value.clone(),
        None => p.value.to_lowercase(),
    };
    let _ = visit_expressions(&expr, |e| {
        match e {
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let t = parts[..parts.len() - 1]
                    .iter()
                    .map(fold)
                    .collect::<Vec<_>>()
                    .join(".");
                let t = t.strip_prefix("public.").map(str::to_string).unwrap_or(t);
                if !tables.contains(&t) {
                    tables.push(t.clone());
                }
                columns.push((t, fold(&parts[parts.len() - 1])));
            }
            Expr::Identifier(i) if bare.is_none() => bare = Some(i.value.clone()),
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    if let Some(c) = bare {
        return Err(Problem::Unqualified(c));
    }
    if tables.is_empty() {
        return Err(Problem::Syntax(
            "it reads no column: qualify the columns it uses by their table".into(),
        ));
    }
    Ok((expr.to_string(), tables, columns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Vec<Definition>, Vec<SemanticError>) {
        #[derive(Deserialize)]
        struct F {
            metrics: BTreeMap<String, Entry>,
        }
        let f: F = toml::from_str(text).unwrap();
        definitions(Kind::Metric, f.metrics, text)
    }

    #[test]
    fn tables_come_from_the_qualifiers_and_lines_are_counted() {
        let (ok, bad) = parse(
            "[metrics.revenue]\ndescription = \"money\"\nsql = \"sum(order_lines.quantity *  public.order_lines.unit_price)\"\n\n[metrics.margin]\nsql = \"sum(p.price - cost)\"\n",
        );
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].tables, ["order_lines"]);
        assert_eq!(
            ok[0].sql,
            "sum(order_lines.quantity * public.order_lines.unit_price)"
        );
        assert_eq!(
            ok[0].columns,
            [
                ("order_lines".to_string(), "quantity".to_string()),
                ("order_lines".to_string(), "unit_price".to_string())
            ]
        );
        assert_eq!(ok[0].line, 3);
        assert_eq!(
            bad,
            [SemanticError::Unqualified {
                line: 6,
                kind: Kind::Metric,
                name: "margin".into(),
                column: "cost".into()
            }]
        );
    }

    #[test]
    fn a_statement_or_a_bad_name_is_refused() {
        let (ok, bad) = parse(
            "[metrics.a]\nsql = \"sum(t.x) FROM t\"\n[metrics.Bad]\nsql = \"sum(t.x)\"\n[metrics.b]\nsql = \"count(t.x)\"\ntables = [\"u\"]\n",
        );
        assert!(ok.is_empty());
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert!(matches!(bad[0], SemanticError::Name { line: 4, .. }));
        assert!(matches!(bad[1], SemanticError::Syntax { line: 2, .. }));
        assert!(matches!(bad[2], SemanticError::Unlisted { ref table, .. } if table == "t"));
    }

    #[test]
    fn table_names_are_checked_and_text_is_canonical() {
        let (ok, bad) = parse(
            "[metrics.a]\nsql = \"sum(t.x)\"\ntables = [\"t; DROP TABLE u\"]\n[metrics.b]\nsql = \"\"\"count(t.status = 'on  hold') -- held\n;\"\"\"\n[metrics.c]\ndescription = \"no sql\"\n[metrics.d]\nsql = \"count(*)\"\n[metrics.e]\nsql = \"sum(t.x) + (SELECT count(*) FROM salaries)\"\n",
        );
        assert_eq!(ok.len(), 1, "{bad:?}");
        assert_eq!(ok[0].sql, "count(t.status = 'on  hold')");
        assert!(
            matches!(bad[0], SemanticError::BadTable { line: 2, .. }),
            "{bad:?}"
        );
        assert!(
            matches!(bad[1], SemanticError::Missing { line: 7, .. }),
            "{bad:?}"
        );
        assert!(
            matches!(bad[2], SemanticError::Syntax { line: 10, .. }),
            "{bad:?}"
        );
    }
}
