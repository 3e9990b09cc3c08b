//! `-- ask explain: <SQL>`: a query in plain words, one row per clause, built from its syntax
//! tree and the catalog's table comments — no model, so the same query always reads the same
//! and a user can check an answer without reading SQL ("counts tracks per genre, only tracks
//! longer than 300000 ms, highest first, top 5").

use sqlparser::ast::{
    BinaryOperator, Distinct, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr,
    Join, JoinConstraint, JoinOperator, LimitClause, ObjectName, OrderByKind, Query, SelectItem,
    SetExpr, SetOperator, Statement, TableFactor, TableWithJoins, UnaryOperator, Value,
};

/// Why a statement cannot be explained.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("cannot parse the statement: {0}")]
    Parse(String),
    #[error("only one statement can be explained, got {0}")]
    Count(usize),
    #[error("only queries (SELECT, WITH, VALUES, TABLE) can be explained")]
    NotQuery,
}

/// One clause in words: what kind of clause and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    pub clause: &'static str,
    pub text: String,
}

/// The comment of a table by its name as written, if the catalog has one.
pub type Comments<'a> = &'a dyn Fn(&ObjectName) -> Option<String>;

/// The clauses of `sql` in words.
pub fn explain(sql: &str, comments: Comments<'_>) -> Result<Vec<Clause>, ExplainError> {
    let statements =
        crate::ask::guard::parse(sql).map_err(|e| ExplainError::Parse(e.to_string()))?;
    let [statement] = statements.as_slice() else {
        return Err(ExplainError::Count(statements.len()));
    };
    let Statement::Query(q) = statement else {
        return Err(ExplainError::NotQuery);
    };
    let mut out = Vec::new();
    Words {
        comments,
        depth: std::cell::Cell::new(0),
    }
    .query(q, &mut out, "");
    Ok(out)
}

struct Words<'a> {
    comments: Comments<'a>,
    /// How deep [`Words::expr`] is: a chain of thousands of operators stays SQL instead of
    /// recursing off the stack.
    depth: std::cell::Cell<usize>,
}

/// Deeper expressions than this are shown as SQL.
const MAX_DEPTH: usize = 48;

impl Words<'_> {
    /// The clauses of a query; `prefix` names nested parts ("in t: ").
    fn query(&self, q: &Query, out: &mut Vec<Clause>, prefix: &str) {
        let push = |out: &mut Vec<Clause>, clause, text: String| {
            out.push(Clause {
                clause,
                text: format!("{prefix}{text}"),
            })
        };
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                let name = cte.alias.name.value.clone();
                push(
                    out,
                    "with",
                    format!(
                        "first works out {name}{}:",
                        if with.recursive { " (recursively)" } else { "" }
                    ),
                );
                self.query(&cte.query, out, &format!("{prefix}{name}: "));
            }
        }
        self.set_expr(&q.body, out, prefix);
        if let Some(order) = &q.order_by {
            if let OrderByKind::Expressions(keys) = &order.kind {
                let keys: Vec<String> = keys
                    .iter()
                    .map(|k| {
                        let desc =
                            matches!(k.options.sort, Some(sqlparser::ast::OrderBySort::Desc));
                        let e = self.position_key(&k.expr, &q.body);
                        if desc {
                            format!("highest {e} first")
                        } else {
                            format!("lowest {e} first")
                        }
                    })
                    .collect();
                push(
                    out,
                    "order by",
                    format!("sorted by {}", keys.join(", then ")),
                );
            }
        }
        if let Some(LimitClause::LimitOffset { limit, offset, .. }) = &q.limit_clause {
            if let Some(o) = offset {
                push(
                    out,
                    "offset",
                    format!("skips the first {}", self.expr(&o.value)),
                );
            }
            if let Some(l) = limit {
                let text = if q.order_by.is_some() {
                    format!("keeps the top {}", self.expr(l))
                } else {
                    format!("keeps at most {} rows (in no set order)", self.expr(l))
                };
                push(out, "limit", text);
            }
        }
        if let Some(f) = &q.fetch {
            if let Some(n) = &f.quantity {
                push(out, "limit", format!("keeps the first {}", self.expr(n)));
            }
        }
    }

    /// An ORDER BY or GROUP BY key: a position (`ORDER BY 2`) reads as that output column when
    /// the select list says which one it is (no `*` before it), else as "output column n".
    fn position_key(&self, key: &Expr, body: &SetExpr) -> String {
        let position = match key {
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => n.parse::<usize>().ok(),
                _ => None,
            },
            _ => None,
        };
        let Some(n) = position else {
            return self.expr(key);
        };
        let item = match body {
            SetExpr::Select(s)
                if n >= 1
                    && s.projection.iter().take(n).all(|i| {
                        matches!(
                            i,
                            SelectItem::UnnamedExpr(_) | SelectItem::ExprWithAlias { .. }
                        )
                    }) =>
            {
                s.projection.get(n - 1)
            }
            _ => None,
        };
        match item {
            Some(SelectItem::UnnamedExpr(e)) => self.expr(e),
            Some(SelectItem::ExprWithAlias { alias, .. }) => alias.value.clone(),
            _ => format!("output column {n}"),
        }
    }

    fn set_expr(&self, body: &SetExpr, out: &mut Vec<Clause>, prefix: &str) {
        match body {
            SetExpr::Select(s) => {
                let mut what: Vec<String> = Vec::new();
                for item in &s.projection {
                    what.push(match item {
                        SelectItem::UnnamedExpr(e) => self.expr(e),
                        SelectItem::ExprWithAlias { expr, alias } => {
                            format!("{} (as {})", self.expr(expr), alias.value)
                        }
                        SelectItem::QualifiedWildcard(kind, _) => {
                            format!("every column of {kind}")
                        }
                        SelectItem::Wildcard(_) => "every column".into(),
                        other => other.to_string(),
                    });
                }
                let distinct = match &s.distinct {
                    Some(Distinct::Distinct) => "distinct rows of ".to_string(),
                    Some(Distinct::On(keys)) => {
                        let keys: Vec<String> = keys.iter().map(|k| self.expr(k)).collect();
                        format!(
                            "one row per {} (the first in the sort order): ",
                            keys.join(" and ")
                        )
                    }
                    _ => String::new(),
                };
                out.push(Clause {
                    clause: "select",
                    text: format!("{prefix}shows {distinct}{}", what.join(", ")),
                });
                if !s.from.is_empty() {
                    let from: Vec<String> =
                        s.from.iter().map(|t| self.from(t, out, prefix)).collect();
                    out.push(Clause {
                        clause: "from",
                        text: format!(
                            "{prefix}from {}",
                            from.join(", combined with every row of ")
                        ),
                    });
                }
                if let Some(w) = &s.selection {
                    out.push(Clause {
                        clause: "where",
                        text: format!("{prefix}only rows where {}", self.expr(w)),
                    });
                }
                if let GroupByExpr::Expressions(keys, _) = &s.group_by {
                    if !keys.is_empty() {
                        let keys: Vec<String> =
                            keys.iter().map(|k| self.position_key(k, body)).collect();
                        out.push(Clause {
                            clause: "group by",
                            text: format!("{prefix}one row per {}", keys.join(" and ")),
                        });
                    }
                } else {
                    out.push(Clause {
                        clause: "group by",
                        text: format!("{prefix}one row per combination of the plain columns"),
                    });
                }
                if let Some(h) = &s.having {
                    out.push(Clause {
                        clause: "having",
                        text: format!("{prefix}only groups where {}", self.expr(h)),
                    });
                }
            }
            SetExpr::Query(q) => self.query(q, out, prefix),
            SetExpr::SetOperation {
                left,
                op,
                right,
                set_quantifier,
            } => {
                self.set_expr(left, out, prefix);
                let all = matches!(set_quantifier, sqlparser::ast::SetQuantifier::All);
                let how = match op {
                    SetOperator::Union => "adds the rows of",
                    SetOperator::Intersect => "keeps only the rows also in",
                    _ => "removes the rows of",
                };
                let dups = if all { "" } else { " (duplicate rows removed)" };
                out.push(Clause {
                    clause: "set operation",
                    text: format!("{prefix}then {how}{dups}:"),
                });
                self.set_expr(right, out, prefix);
            }
            SetExpr::Values(v) => out.push(Clause {
                clause: "values",
                text: format!("{prefix}the listed rows ({} of them)", v.rows.len()),
            }),
            SetExpr::Table(t) => out.push(Clause {
                clause: "from",
                text: format!(
                    "{prefix}every row of {}",
                    t.table_name.clone().unwrap_or_default()
                ),
            }),
            other => out.push(Clause {
                clause: "query",
                text: format!("{prefix}{other}"),
            }),
        }
    }

    /// A FROM item in words (a derived table adds its own clauses to `out`).
    fn from(&self, t: &TableWithJoins, out: &mut Vec<Clause>, prefix: &str) -> String {
        let mut text = self.factor(&t.relation, out, prefix);
        for j in &t.joins {
            text.push_str(&self.join(j, out, prefix));
        }
        text
    }

    fn factor(&self, f: &TableFactor, out: &mut Vec<Clause>, prefix: &str) -> String {
        match f {
            TableFactor::Table { name, alias, .. } => {
                let mut s = name.to_string();
                if let Some(c) = (self.comments)(name) {
                    s.push_str(&format!(" ({})", c.trim_end_matches('.')));
                }
                if let Some(a) = alias {
                    s.push_str(&format!(" as {}", a.name.value));
                }
                s
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let name = alias
                    .as_ref()
                    .map_or_else(|| "a subquery".to_string(), |a| a.name.value.clone());
                self.query(subquery, out, &format!("{prefix}{name}: "));
                format!("{name} (worked out above)")
            }
            other => other.to_string(),
        }
    }

    fn join(&self, j: &Join, out: &mut Vec<Clause>, prefix: &str) -> String {
        let (how, constraint) = match &j.join_operator {
            JoinOperator::Join(c) | JoinOperator::Inner(c) => ("joined with", Some(c)),
            JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => {
                ("joined (keeping every row of the left side) with", Some(c))
            }
            JoinOperator::Right(c) | JoinOperator::RightOuter(c) => {
                ("joined (keeping every row of the right side) with", Some(c))
            }
            JoinOperator::FullOuter(c) => ("joined (keeping unmatched rows of both) with", Some(c)),
            JoinOperator::CrossJoin(c) => ("combined with every row of", Some(c)),
            _ => ("joined with", None),
        };
        let target = self.factor(&j.relation, out, prefix);
        let on = match constraint {
            Some(JoinConstraint::On(e)) => format!(" on {}", self.expr(e)),
            Some(JoinConstraint::Using(cols)) => {
                let cols: Vec<String> = cols.iter().map(|c| c.to_string()).collect();
                format!(" on the same {}", cols.join(" and "))
            }
            Some(JoinConstraint::Natural) => " on every column of the same name".into(),
            _ => String::new(),
        };
        format!(", {how} {target}{on}")
    }

    /// An expression in words; what has no wording stays SQL.
    fn expr(&self, e: &Expr) -> String {
        let d = self.depth.get();
        if d >= MAX_DEPTH {
            return "(…)".into();
        }
        self.depth.set(d + 1);
        let words = self.expr_words(e);
        self.depth.set(d);
        words
    }

    fn expr_words(&self, e: &Expr) -> String {
        match e {
            Expr::Identifier(i) => i.value.clone(),
            Expr::CompoundIdentifier(parts) => parts
                .iter()
                .map(|p| p.value.as_str())
                .collect::<Vec<_>>()
                .join("."),
            Expr::Nested(inner) => format!("({})", self.expr(inner)),
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) => format!("'{s}'"),
                Value::Null => "missing".into(),
                other => other.to_string(),
            },
            Expr::BinaryOp { left, op, right } => {
                let is_null = |x: &Expr| matches!(x, Expr::Value(v) if v.value == Value::Null);
                if matches!(
                    op,
                    BinaryOperator::Eq
                        | BinaryOperator::NotEq
                        | BinaryOperator::Gt
                        | BinaryOperator::Lt
                        | BinaryOperator::GtEq
                        | BinaryOperator::LtEq
                ) && (is_null(left) || is_null(right))
                {
                    return format!("{e} (a comparison with NULL: never true)");
                }
                let (l, r) = (self.expr(left), self.expr(right));
                let word = match op {
                    BinaryOperator::Eq => "is",
                    BinaryOperator::NotEq => "is not",
                    BinaryOperator::Gt => "is more than",
                    BinaryOperator::Lt => "is less than",
                    BinaryOperator::GtEq => "is at least",
                    BinaryOperator::LtEq => "is at most",
                    BinaryOperator::And => "and",
                    BinaryOperator::Or => "or",
                    BinaryOperator::Plus => "plus",
                    BinaryOperator::Minus => "minus",
                    BinaryOperator::Multiply => "times",
                    BinaryOperator::Divide => "divided by",
                    BinaryOperator::StringConcat => "followed by",
                    _ => return e.to_string(),
                };
                format!("{l} {word} {r}")
            }
            Expr::UnaryOp { op, expr } => match op {
                UnaryOperator::Not => format!("not ({})", self.expr(expr)),
                UnaryOperator::Minus => format!("-{}", self.expr(expr)),
                _ => e.to_string(),
            },
            Expr::IsNull(x) => format!("{} is missing", self.expr(x)),
            Expr::IsNotNull(x) => format!("{} is present", self.expr(x)),
            Expr::IsTrue(x) => format!("{} is true", self.expr(x)),
            Expr::IsFalse(x) => format!("{} is false", self.expr(x)),
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let items: Vec<String> = list.iter().map(|i| self.expr(i)).collect();
                let neg = if *negated { "none" } else { "one" };
                format!("{} is {neg} of {}", self.expr(expr), items.join(", "))
            }
            Expr::InSubquery {
                expr,
                subquery,
                negated,
            } => format!(
                "{} is {}among {}",
                self.expr(expr),
                if *negated { "not " } else { "" },
                self.subquery(subquery)
            ),
            Expr::Exists { subquery, negated } => match self.simple(subquery) {
                Some((_, from, cond)) => format!(
                    "there is {} row of {from}{}",
                    if *negated { "no" } else { "a" },
                    cond.map(|c| format!(" where {c}")).unwrap_or_default()
                ),
                None => format!(
                    "{} rows exist in {}",
                    if *negated { "no" } else { "some" },
                    self.subquery(subquery)
                ),
            },
            Expr::Subquery(q) => self.subquery(q),
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => format!(
                "{} is {}between {} and {}",
                self.expr(expr),
                if *negated { "not " } else { "" },
                self.expr(low),
                self.expr(high)
            ),
            Expr::Like {
                negated,
                expr,
                pattern,
                ..
            } => format!(
                "{} {} the pattern {}",
                self.expr(expr),
                if *negated {
                    "does not match"
                } else {
                    "matches"
                },
                self.expr(pattern)
            ),
            Expr::ILike {
                negated,
                expr,
                pattern,
                ..
            } => format!(
                "{} {} the pattern {} (any case)",
                self.expr(expr),
                if *negated {
                    "does not match"
                } else {
                    "matches"
                },
                self.expr(pattern)
            ),
            Expr::Function(f) => self.function(f).unwrap_or_else(|| e.to_string()),
            Expr::Cast {
                expr, data_type, ..
            } => format!("{} as {data_type}", self.expr(expr)),
            _ => e.to_string(),
        }
    }

    /// Aggregates and a few common functions in words.
    fn function(&self, f: &sqlparser::ast::Function) -> Option<String> {
        if f.over.is_some() || !f.within_group.is_empty() {
            return None;
        }
        let name = f.name.to_string().to_ascii_lowercase();
        let FunctionArguments::List(list) = &f.args else {
            return match name.as_str() {
                "now" | "current_timestamp" => Some("now".into()),
                "current_date" => Some("today".into()),
                _ => None,
            };
        };
        if !list.clauses.is_empty() {
            return None;
        }
        let distinct = matches!(
            list.duplicate_treatment,
            Some(sqlparser::ast::DuplicateTreatment::Distinct)
        );
        let args: Vec<String> = list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => self.expr(e),
                FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => "*".into(),
                other => other.to_string(),
            })
            .collect();
        let one = args.first().cloned().unwrap_or_default();
        let of = if distinct {
            format!("distinct {one}")
        } else {
            one.clone()
        };
        let only = f
            .filter
            .as_ref()
            .map(|w| format!(" (only rows where {})", self.expr(w)))
            .unwrap_or_default();
        let words = match name.as_str() {
            "count" if one == "*" || one.is_empty() => "the number of rows".into(),
            "count" => format!("the number of {of}"),
            "sum" => format!("the total of {of}"),
            "avg" => format!("the average of {of}"),
            "min" => format!("the smallest {of}"),
            "max" => format!("the largest {of}"),
            "round" => format!("{one} rounded"),
            "lower" | "upper" | "coalesce" | "date_trunc" | "extract" | "date_part" | "length"
            | "abs" | "string_agg" | "array_agg" => {
                format!("{name}({})", args.join(", "))
            }
            _ => return None,
        };
        Some(format!("{words}{only}"))
    }

    /// A one-level subquery's parts in words: what it shows, from where, under which condition
    /// (`None` for anything with more clauses).
    fn simple(&self, q: &Query) -> Option<(String, String, Option<String>)> {
        let SetExpr::Select(s) = &*q.body else {
            return None;
        };
        let grouped = !matches!(&s.group_by, GroupByExpr::Expressions(k, _) if k.is_empty());
        if q.with.is_some()
            || q.order_by.is_some()
            || q.limit_clause.is_some()
            || grouped
            || s.having.is_some()
            || s.from.is_empty()
        {
            return None;
        }
        let mut nested = Vec::new();
        let what: Vec<String> = s
            .projection
            .iter()
            .map(|i| match i {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                    self.expr(e)
                }
                other => other.to_string(),
            })
            .collect();
        let from: Vec<String> = s
            .from
            .iter()
            .map(|t| self.from(t, &mut nested, ""))
            .collect();
        if !nested.is_empty() {
            return None;
        }
        let cond = s.selection.as_ref().map(|w| self.expr(w));
        Some((what.join(", "), from.join(" and "), cond))
    }

    /// A subquery in one phrase: what it shows, from where, under which condition.
    fn subquery(&self, q: &Query) -> String {
        if let Some((what, from, cond)) = self.simple(q) {
            let cond = cond.map(|c| format!(" where {c}")).unwrap_or_default();
            return format!("({what} of {from}{cond})");
        }
        let mut parts = Vec::new();
        self.query(q, &mut parts, "");
        let words: Vec<String> = parts.into_iter().map(|c| c.text).collect();
        format!("the {} (subquery)", words.join("; "))
    }
}

#[cfg(test)]
mod tests;
