//! The SQL guard, the second of an ask's three read-only layers: generated SQL must be exactly
//! one read-only query (no data-modifying CTE, `SELECT INTO`, locking clause, or function
//! outside an allow-list) that names only tables and columns the asking role may read. Each
//! refusal carries the SQLSTATE PostgreSQL itself would use, so the correction loop can feed it
//! back to the model like a server error. EXPLAIN on the session is the next check (`execute`).

mod names;

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, FunctionArguments, ObjectName, ObjectNamePart, Query, SetExpr, Statement, TableFactor,
    Visit, Visitor,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::ask::catalog::{Access, Catalog};

/// Why generated SQL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("syntax error: {0}")]
    Syntax(String),
    #[error("an ask must be exactly one statement, got {0}")]
    Statements(usize),
    #[error("an ask may only run a query, not {0}")]
    NotAQuery(String),
    #[error("an ask may not {0}")]
    Writes(&'static str),
    #[error("function {0}() is not allowed in an ask")]
    Function(String),
    #[error("relation \"{0}\" does not exist")]
    UnknownTable(String),
    #[error("column \"{0}\" does not exist")]
    UnknownColumn(String),
    #[error("missing FROM-clause entry for table \"{0}\"")]
    UnknownQualifier(String),
}

impl GuardError {
    /// The SQLSTATE PostgreSQL uses for the same mistake.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            GuardError::Syntax(_) | GuardError::Statements(_) => "42601",
            GuardError::NotAQuery(_) | GuardError::Writes(_) | GuardError::Function(_) => "42501",
            GuardError::UnknownTable(_) | GuardError::UnknownQualifier(_) => "42P01",
            GuardError::UnknownColumn(_) => "42703",
        }
    }

    /// A hint for the model (and the user) on how to fix it.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            GuardError::Function(_) => {
                Some("use only common aggregate, string, math and date functions")
            }
            GuardError::UnknownTable(_) => Some("use only the tables in the schema"),
            GuardError::UnknownColumn(_) => Some("use only columns of the tables in the schema"),
            GuardError::NotAQuery(_) | GuardError::Writes(_) => Some("write a single SELECT"),
            _ => None,
        }
    }

    /// Whether a wider retrieval (more tables) might fix it.
    pub fn wants_more_tables(&self) -> bool {
        matches!(
            self,
            GuardError::UnknownTable(_) | GuardError::UnknownColumn(_)
        )
    }
}

/// What the guard allows.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Function names (lower case) an ask may call.
    pub functions: HashSet<String>,
}

impl Policy {
    pub fn new<S: AsRef<str>>(functions: impl IntoIterator<Item = S>) -> Policy {
        Policy {
            functions: functions
                .into_iter()
                .map(|f| f.as_ref().to_ascii_lowercase())
                .collect(),
        }
    }
}

/// Default function allow-list: the grammar's functions plus SQL's niladic date/time functions.
pub fn default_functions() -> Vec<String> {
    let mut f: Vec<String> = crate::ask::generate::grammar::FUNCTIONS
        .iter()
        .map(|s| s.to_string())
        .collect();
    for extra in [
        "current_date",
        "current_time",
        "current_timestamp",
        "localtime",
        "localtimestamp",
        "generate_series",
        "date",
        "makeinterval",
        "cardinality",
        "array_length",
        "unnest",
    ] {
        f.push(extra.to_string());
    }
    f
}

/// PostgreSQL's folding: unquoted names are lower case.
fn fold(i: &sqlparser::ast::Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

fn parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => fold(i),
            other => other.to_string(),
        })
        .collect()
}

/// Parses `sql` as PostgreSQL. sqlparser reads `FROM ONLY t` (the table without its
/// inheritance children) as a table named `only` aliased `t`; the keyword changes no name, no
/// column and nothing written, so it is dropped after FROM, JOIN or a comma before parsing.
pub fn parse(sql: &str) -> Result<Vec<Statement>, ParserError> {
    let dialect = PostgreSqlDialect {};
    if !sql
        .as_bytes()
        .windows(4)
        .any(|w| w.eq_ignore_ascii_case(b"only"))
    {
        return Parser::parse_sql(&dialect, sql);
    }
    let tokens = Tokenizer::new(&dialect, sql).tokenize()?;
    let mut kept: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut before: Option<Token> = None;
    for t in tokens {
        if matches!(t, Token::Whitespace(_)) {
            kept.push(t);
            continue;
        }
        let only =
            matches!(&t, Token::Word(w) if w.keyword == Keyword::ONLY && w.quote_style.is_none());
        let after_from = match &before {
            Some(Token::Word(w)) => {
                w.quote_style.is_none() && matches!(w.keyword, Keyword::FROM | Keyword::JOIN)
            }
            Some(Token::Comma) => true,
            _ => false,
        };
        before = Some(t.clone());
        if only && after_from {
            continue;
        }
        kept.push(t);
    }
    Parser::new(&dialect).with_tokens(kept).parse_statements()
}

/// Whether `sql` parses as exactly one query whose WITH queries (if any) are queries too, so
/// that it can be wrapped in an outer SELECT.
pub fn is_one_query(sql: &str) -> bool {
    let Ok(stmts) = parse(sql) else {
        return false;
    };
    let [Statement::Query(q)] = stmts.as_slice() else {
        return false;
    };
    if matches!(&*q.body, SetExpr::Select(s) if s.into.is_some()) {
        return false;
    }
    q.with.as_ref().is_none_or(|w| {
        w.cte_tables.iter().all(|c| {
            !matches!(
                *c.query.body,
                SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_)
            )
        })
    })
}

/// The row count a query's own top-level `LIMIT n` (or `FETCH FIRST n`) allows, if it is a
/// plain number: when it is within `ask.max_rows`, no outer limit is needed.
pub fn row_limit(sql: &str) -> Option<u64> {
    let stmts = parse(sql).ok()?;
    let [Statement::Query(q)] = stmts.as_slice() else {
        return None;
    };
    let number = |e: &Expr| match e {
        Expr::Value(v) => match &v.value {
            sqlparser::ast::Value::Number(n, _) => n.parse::<u64>().ok(),
            _ => None,
        },
        _ => None,
    };
    let limit = match &q.limit_clause {
        Some(sqlparser::ast::LimitClause::LimitOffset { limit: Some(e), .. }) => number(e),
        Some(sqlparser::ast::LimitClause::OffsetCommaLimit { limit, .. }) => number(limit),
        _ => None,
    };
    limit.or_else(|| {
        let fetch = q.fetch.as_ref().filter(|f| !f.with_ties && !f.percent)?;
        fetch.quantity.as_ref().and_then(number)
    })
}

/// Parses `sql` and checks it against the policy, the catalog and what the role may read.
pub fn check(
    sql: &str,
    policy: &Policy,
    catalog: &Catalog,
    access: &Access,
) -> Result<Statement, GuardError> {
    let mut stmts = parse(sql).map_err(|e| GuardError::Syntax(e.to_string()))?;
    if stmts.len() != 1 {
        return Err(GuardError::Statements(stmts.len()));
    }
    let stmt = stmts.remove(0);
    let Statement::Query(query) = &stmt else {
        let kind = stmt.to_string();
        let kind = kind.split_whitespace().next().unwrap_or("").to_uppercase();
        return Err(GuardError::NotAQuery(kind));
    };
    let mut shape = ReadOnly { policy, err: None };
    let _ = query.visit(&mut shape);
    if let Some(e) = shape.err {
        return Err(e);
    }
    names::check(query, catalog, access)?;
    Ok(stmt)
}

/// Whether every name in `sql` (one query) resolves in `catalog` (all of it readable): the
/// name part of [`check`] alone, for the decoder's final check of a candidate. `Ok` too when
/// `sql` is not one query (that is the grammar's and the full guard's business).
pub fn names_resolve(sql: &str, catalog: &Catalog) -> Result<(), GuardError> {
    let Ok(stmts) = parse(sql) else {
        return Ok(());
    };
    match stmts.as_slice() {
        [Statement::Query(q)] => names::check(q, catalog, &Access::all(catalog)),
        _ => Ok(()),
    }
}

/// Finds anything that could write, lock or call a function outside the allow-list.
struct ReadOnly<'a> {
    policy: &'a Policy,
    err: Option<GuardError>,
}

impl ReadOnly<'_> {
    fn fail(&mut self, e: GuardError) -> ControlFlow<()> {
        self.err = Some(e);
        ControlFlow::Break(())
    }

    fn function(&mut self, name: &ObjectName) -> ControlFlow<()> {
        let p = parts(name);
        let bare = p.last().cloned().unwrap_or_default();
        let schema_ok = p.len() == 1 || (p.len() == 2 && p[0] == "pg_catalog");
        if !schema_ok || !self.policy.functions.contains(&bare) {
            return self.fail(GuardError::Function(p.join(".")));
        }
        ControlFlow::Continue(())
    }
}

impl Visitor for ReadOnly<'_> {
    type Break = ();

    fn pre_visit_statement(&mut self, _s: &Statement) -> ControlFlow<()> {
        // Statements nested in a query are data-modifying CTEs (the top level is checked first).
        self.fail(GuardError::Writes("modify data in a WITH query"))
    }

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if !q.locks.is_empty() {
            return self.fail(GuardError::Writes("lock rows (FOR UPDATE / FOR SHARE)"));
        }
        let mut bodies = vec![q.body.as_ref()];
        while let Some(b) = bodies.pop() {
            match b {
                SetExpr::Select(s) if s.into.is_some() => {
                    return self.fail(GuardError::Writes("create a table (SELECT INTO)"));
                }
                SetExpr::Insert(_)
                | SetExpr::Update(_)
                | SetExpr::Delete(_)
                | SetExpr::Merge(_) => {
                    return self.fail(GuardError::Writes("modify data in a WITH query"));
                }
                SetExpr::SetOperation { left, right, .. } => {
                    bodies.push(left);
                    bodies.push(right);
                }
                _ => {}
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<()> {
        match t {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            } => self.function(name),
            TableFactor::Function { name, .. } => self.function(name),
            TableFactor::TableFunction { .. } => self.fail(GuardError::Function("TABLE".into())),
            _ => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = e {
            if let FunctionArguments::Subquery(_) = f.args {
                return self.fail(GuardError::Function(f.name.to_string()));
            }
            return self.function(&f.name);
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests;
