//! Name checks by scope, the way PostgreSQL's parser resolves names: each FROM item becomes a
//! relation visible under its alias (or its own name when it has none), with the columns it
//! really has — a readable catalog table's readable columns, a CTE's or derived table's output
//! columns. A column or qualifier must resolve in the innermost scope that has it, then outward
//! (correlated subqueries); LATERAL items see the items before them, ON sees only its own join
//! tree, ORDER BY and GROUP BY may name output columns. An alias never makes a table name valid:
//! `SELECT 1 AS nosuch FROM nosuch` is refused like `SELECT * FROM nosuch`. Tables the role
//! cannot read are reported as missing, never as forbidden, so an ask does not reveal that they
//! exist. What is left (ambiguity, types) is EXPLAIN's job on the session.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Distinct, Expr, GroupByExpr, Join, JoinConstraint, JoinOperator, OrderBy, OrderByKind, Query,
    Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, TableAlias, TableFactor,
    TableWithJoins, Visit, Visitor,
};

use super::{fold, parts, GuardError};
use crate::ask::catalog::{Access, Catalog, TableId};

/// The columns a relation has.
#[derive(Debug, Clone)]
enum Cols {
    /// A readable catalog table: its readable columns.
    Table(TableId),
    /// Output columns of a CTE, derived table or VALUES.
    Named(Vec<String>),
    /// Not known here (set-returning functions and the like): any name goes, EXPLAIN decides.
    Any,
}

/// One FROM item as the rest of the query sees it.
#[derive(Debug, Clone)]
struct Rel {
    name: String,
    /// The schema of an unaliased catalog table (`schema.table.column` must match it).
    schema: Option<String>,
    cols: Cols,
}

/// The names one level of a query adds: its CTEs (query level) or its FROM items (select level).
#[derive(Default)]
struct Frame {
    rels: Vec<Rel>,
    ctes: Vec<(String, Cols)>,
}

struct Resolver<'a> {
    catalog: &'a Catalog,
    access: &'a Access,
    frames: Vec<Frame>,
}

/// Column references and the subqueries of one expression (subqueries are checked on their
/// own, with the expression's scope as their outer scope).
#[derive(Default)]
struct Collect {
    depth: usize,
    names: Vec<Vec<String>>,
    subqueries: Vec<Query>,
}

impl Visitor for Collect {
    type Break = ();

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if self.depth == 0 {
            self.subqueries.push(q.clone());
        }
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        match e {
            Expr::Identifier(i) => self.names.push(vec![fold(i)]),
            Expr::CompoundIdentifier(p) => self.names.push(p.iter().map(fold).collect()),
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// The name PostgreSQL gives an unaliased output column.
fn output_name(e: &Expr) -> String {
    match e {
        Expr::Identifier(i) => fold(i),
        Expr::CompoundIdentifier(p) => p.last().map(fold).unwrap_or_default(),
        Expr::Function(f) => parts(&f.name).last().cloned().unwrap_or_default(),
        Expr::Cast { expr, .. } | Expr::Nested(expr) => output_name(expr),
        Expr::Case { .. } => "case".into(),
        Expr::Extract { .. } => "extract".into(),
        Expr::Substring { .. } => "substring".into(),
        Expr::Trim { .. } => "btrim".into(),
        Expr::Position { .. } => "position".into(),
        Expr::Ceil { .. } => "ceil".into(),
        Expr::Floor { .. } => "floor".into(),
        Expr::AtTimeZone { .. } => "timezone".into(),
        Expr::Exists { .. } => "exists".into(),
        Expr::Subquery(q) => match q.body.as_ref() {
            SetExpr::Select(s) => match s.projection.as_slice() {
                [SelectItem::ExprWithAlias { alias, .. }] => fold(alias),
                [SelectItem::UnnamedExpr(e)] => output_name(e),
                _ => "?column?".into(),
            },
            _ => "?column?".into(),
        },
        _ => "?column?".into(),
    }
}

/// The columns after an alias's column list renamed the first ones.
fn renamed(cols: Cols, alias: Option<&TableAlias>, resolver: &Resolver) -> Cols {
    let Some(a) = alias.filter(|a| !a.columns.is_empty()) else {
        return cols;
    };
    let mut names: Vec<String> = a.columns.iter().map(|c| fold(&c.name)).collect();
    match resolver.names(&cols) {
        Some(base) => {
            names.extend(base.into_iter().skip(a.columns.len()));
            Cols::Named(names)
        }
        None => Cols::Any,
    }
}

impl Resolver<'_> {
    /// The column names a relation has, when known.
    fn names(&self, cols: &Cols) -> Option<Vec<String>> {
        match cols {
            Cols::Table(t) => Some(
                self.catalog.tables[*t]
                    .columns
                    .iter()
                    .filter(|c| self.access.can_read_column(*t, &c.name))
                    .map(|c| c.name.clone())
                    .collect(),
            ),
            Cols::Named(n) => Some(n.clone()),
            Cols::Any => None,
        }
    }

    /// A whole-row use of a relation (`*`, `t.*`, `TABLE t`, a bare `t`) reads every column: a
    /// table with a column the role may not read is refused for it, as PostgreSQL would.
    fn whole(&self, cols: &Cols, name: &str) -> Result<(), GuardError> {
        if let Cols::Table(t) = cols {
            let table = &self.catalog.tables[*t];
            if table
                .columns
                .iter()
                .any(|c| !self.access.can_read_column(*t, &c.name))
            {
                return Err(GuardError::UnknownColumn(format!("{name}.*")));
            }
        }
        Ok(())
    }

    fn has(&self, cols: &Cols, column: &str) -> bool {
        match cols {
            Cols::Table(t) => {
                self.catalog.tables[*t].column(column).is_some()
                    && self.access.can_read_column(*t, column)
            }
            Cols::Named(n) => n.iter().any(|c| c == column),
            Cols::Any => true,
        }
    }

    /// The readable catalog table a relation name means (search path: `public`, then any schema).
    fn table(&self, p: &[String]) -> Option<TableId> {
        let t = match p {
            [name] => self
                .catalog
                .find("public", name)
                .or_else(|| self.catalog.find_name(name)),
            [.., schema, name] => self.catalog.find(schema, name),
            [] => None,
        }?;
        self.access.can_read(t).then_some(t)
    }

    fn cte(&self, name: &str) -> Option<Cols> {
        self.frames.iter().rev().find_map(|f| {
            f.ctes
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, c)| c.clone())
        })
    }

    /// Runs `f` with `rels` as an extra innermost scope.
    fn within<T>(
        &mut self,
        rels: Vec<Rel>,
        f: impl FnOnce(&mut Self) -> Result<T, GuardError>,
    ) -> Result<T, GuardError> {
        self.frames.push(Frame { rels, ctes: vec![] });
        let r = f(self);
        self.frames.pop();
        r
    }

    fn query(&mut self, q: &Query) -> Result<Cols, GuardError> {
        self.frames.push(Frame::default());
        let r = self.query_in(q);
        self.frames.pop();
        r
    }

    fn query_in(&mut self, q: &Query) -> Result<Cols, GuardError> {
        if let Some(w) = &q.with {
            // WITH RECURSIVE: every CTE of the list sees every other (and itself).
            if w.recursive {
                for cte in &w.cte_tables {
                    let early = if cte.alias.columns.is_empty() {
                        Cols::Any
                    } else {
                        Cols::Named(cte.alias.columns.iter().map(|c| fold(&c.name)).collect())
                    };
                    self.top().ctes.push((fold(&cte.alias.name), early));
                }
            }
            for cte in &w.cte_tables {
                let name = fold(&cte.alias.name);
                let cols = self.query(&cte.query)?;
                let cols = renamed(cols, Some(&cte.alias), self);
                let top = self.top();
                top.ctes.retain(|(n, _)| n != &name);
                top.ctes.push((name, cols));
            }
        }
        let cols = self.body(&q.body, q.order_by.as_ref())?;
        if let Some(limit) = &q.limit_clause {
            self.expressions(limit)?;
        }
        if let Some(fetch) = &q.fetch {
            self.expressions(fetch)?;
        }
        Ok(cols)
    }

    fn top(&mut self) -> &mut Frame {
        if self.frames.is_empty() {
            self.frames.push(Frame::default());
        }
        let last = self.frames.len() - 1;
        &mut self.frames[last]
    }

    fn body(&mut self, b: &SetExpr, order_by: Option<&OrderBy>) -> Result<Cols, GuardError> {
        let cols = match b {
            SetExpr::Select(s) => return self.select(s, order_by),
            SetExpr::Query(q) => self.query(q)?,
            SetExpr::SetOperation { left, right, .. } => {
                let cols = self.body(left, None)?;
                self.body(right, None)?;
                cols
            }
            SetExpr::Values(v) => {
                for row in &v.rows {
                    for e in &row.content {
                        self.expr(e)?;
                    }
                }
                let n = v.rows.first().map_or(0, |r| r.content.len());
                Cols::Named((1..=n).map(|i| format!("column{i}")).collect())
            }
            SetExpr::Table(t) => {
                let mut p: Vec<String> = Vec::new();
                p.extend(t.schema_name.iter().map(|n| n.to_lowercase()));
                p.extend(t.table_name.iter().map(|n| n.to_lowercase()));
                let id = self
                    .table(&p)
                    .ok_or_else(|| GuardError::UnknownTable(p.join(".")))?;
                self.whole(&Cols::Table(id), &p.join("."))?;
                Cols::Table(id)
            }
            _ => Cols::Any,
        };
        // ORDER BY of a set operation or parenthesized query sees only its output columns.
        if let Some(order) = order_by {
            let outputs = self.names(&cols);
            self.within(
                vec![Rel {
                    name: String::new(),
                    schema: None,
                    cols: outputs.map_or(Cols::Any, Cols::Named),
                }],
                |r| r.order_by(order, &[]),
            )?;
        }
        Ok(cols)
    }

    fn order_by(&mut self, order: &OrderBy, outputs: &[String]) -> Result<(), GuardError> {
        if let OrderByKind::Expressions(items) = &order.kind {
            for item in items {
                match &item.expr {
                    Expr::Identifier(i) if outputs.contains(&fold(i)) => {}
                    e => self.expr(e)?,
                }
            }
        }
        Ok(())
    }

    fn select(&mut self, s: &Select, order_by: Option<&OrderBy>) -> Result<Cols, GuardError> {
        let mut rels = Vec::new();
        for item in &s.from {
            self.join_tree(item, &mut rels)?;
        }
        self.within(rels, |r| r.select_in(s, order_by))
    }

    fn select_in(&mut self, s: &Select, order_by: Option<&OrderBy>) -> Result<Cols, GuardError> {
        // Output column names, and whether every one is known (a `*` over a function is not).
        let mut outputs: Vec<String> = Vec::new();
        let mut complete = true;
        for item in &s.projection {
            match item {
                SelectItem::UnnamedExpr(e) => {
                    self.expr(e)?;
                    outputs.push(output_name(e));
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    self.expr(expr)?;
                    outputs.push(fold(alias));
                }
                SelectItem::QualifiedWildcard(
                    SelectItemQualifiedWildcardKind::ObjectName(n),
                    _,
                ) => {
                    let qual = parts(n).last().cloned().unwrap_or_default();
                    let rel = self.relation(&qual)?;
                    self.whole(&rel.cols, &qual)?;
                    match self.names(&rel.cols) {
                        Some(n) => outputs.extend(n),
                        None => complete = false,
                    }
                }
                SelectItem::Wildcard(_) => {
                    let rels = self
                        .frames
                        .last()
                        .map(|f| f.rels.clone())
                        .unwrap_or_default();
                    for rel in rels {
                        self.whole(&rel.cols, &rel.name)?;
                        match self.names(&rel.cols) {
                            Some(n) => outputs.extend(n),
                            None => complete = false,
                        }
                    }
                }
                other => {
                    self.expressions(other)?;
                    complete = false;
                }
            }
        }
        if let Some(e) = &s.selection {
            self.expr(e)?;
        }
        if let Some(e) = &s.having {
            self.expr(e)?;
        }
        if let GroupByExpr::Expressions(exprs, _) = &s.group_by {
            for e in exprs {
                match e {
                    Expr::Identifier(i) if outputs.contains(&fold(i)) => {}
                    e => self.expr(e)?,
                }
            }
        }
        if let Some(Distinct::On(exprs)) = &s.distinct {
            for e in exprs {
                match e {
                    // Like ORDER BY, DISTINCT ON may name an output column.
                    Expr::Identifier(i) if outputs.contains(&fold(i)) => {}
                    e => self.expr(e)?,
                }
            }
        }
        // Whatever else the select has (WINDOW definitions, QUALIFY, ...), by the same rules.
        let mut rest = s.clone();
        rest.from.clear();
        rest.projection.clear();
        rest.selection = None;
        rest.having = None;
        rest.group_by = GroupByExpr::Expressions(vec![], vec![]);
        rest.distinct = None;
        self.expressions(&rest)?;
        if let Some(order) = order_by {
            self.order_by(order, &outputs)?;
        }
        Ok(if complete {
            Cols::Named(outputs)
        } else {
            Cols::Any
        })
    }

    /// The relation a qualifier names, innermost scope first.
    fn relation(&self, qual: &str) -> Result<Rel, GuardError> {
        self.schema_relation(None, qual)
    }

    /// The relation `schema.qual` (or `qual`) names, innermost scope first.
    fn schema_relation(&self, schema: Option<&String>, qual: &str) -> Result<Rel, GuardError> {
        let matches =
            |r: &&Rel| r.name == qual && (schema.is_none() || r.schema.as_ref() == schema);
        self.frames
            .iter()
            .rev()
            .find_map(|f| f.rels.iter().rev().find(matches).cloned())
            .ok_or_else(|| match schema {
                Some(s) => GuardError::UnknownQualifier(format!("{s}.{qual}")),
                None => GuardError::UnknownQualifier(qual.to_string()),
            })
    }

    fn column(&self, name: &[String]) -> Result<(), GuardError> {
        match name {
            [] => Ok(()),
            [column] => {
                for f in self.frames.iter().rev() {
                    if f.rels.iter().any(|r| self.has(&r.cols, column)) {
                        return Ok(());
                    }
                    if let Some(r) = f.rels.iter().find(|r| &r.name == column) {
                        // A whole-row reference.
                        return self.whole(&r.cols, column);
                    }
                }
                Err(GuardError::UnknownColumn(column.clone()))
            }
            [qual, column] => self.qualified(None, qual, column),
            [.., schema, qual, column] => self.qualified(Some(schema), qual, column),
        }
    }

    fn qualified(
        &self,
        schema: Option<&String>,
        qual: &str,
        column: &str,
    ) -> Result<(), GuardError> {
        let rel = self.schema_relation(schema, qual)?;
        if self.has(&rel.cols, column) {
            Ok(())
        } else {
            Err(GuardError::UnknownColumn(format!("{qual}.{column}")))
        }
    }

    /// Checks every column reference and subquery of `node` in the current scope.
    fn expressions<V: Visit>(&mut self, node: &V) -> Result<(), GuardError> {
        let mut c = Collect::default();
        let _ = node.visit(&mut c);
        for name in &c.names {
            self.column(name)?;
        }
        for q in &c.subqueries {
            self.query(q)?;
        }
        Ok(())
    }

    fn expr(&mut self, e: &Expr) -> Result<(), GuardError> {
        self.expressions(e)
    }

    /// Adds one comma-separated FROM item (a relation and its joins) to `rels`.
    fn join_tree(&mut self, item: &TableWithJoins, rels: &mut Vec<Rel>) -> Result<(), GuardError> {
        let start = rels.len();
        let added = self.factor(&item.relation, &rels[..])?;
        rels.extend(added);
        for join in &item.joins {
            let left = rels.len();
            let added = self.factor(&join.relation, &rels[..])?;
            rels.extend(added);
            if let Some(constraint) = constraint(join) {
                match constraint {
                    JoinConstraint::On(e) => {
                        let tree = rels[start..].to_vec();
                        self.within(tree, |r| r.expr(e))?;
                    }
                    JoinConstraint::Using(cols) => {
                        for c in cols {
                            let name = parts(c).last().cloned().unwrap_or_default();
                            let on = |side: &[Rel]| side.iter().any(|r| self.has(&r.cols, &name));
                            if !on(&rels[start..left]) || !on(&rels[left..]) {
                                return Err(GuardError::UnknownColumn(name));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The relations one FROM factor adds; `before` are the items before it (for LATERAL).
    fn factor(&mut self, f: &TableFactor, before: &[Rel]) -> Result<Vec<Rel>, GuardError> {
        let alias_name = |alias: &Option<TableAlias>| alias.as_ref().map(|a| fold(&a.name));
        let rel = match f {
            TableFactor::Table {
                name,
                alias,
                args: None,
                ..
            } => {
                let p = parts(name);
                let own = p.last().cloned().unwrap_or_default();
                let (cols, schema) = match (p.len(), self.cte(&own)) {
                    (1, Some(cols)) => (cols, None),
                    _ => {
                        let t = self
                            .table(&p)
                            .ok_or_else(|| GuardError::UnknownTable(p.join(".")))?;
                        let schema = self.catalog.tables[t].schema.clone();
                        (Cols::Table(t), alias.is_none().then_some(schema))
                    }
                };
                Rel {
                    name: alias_name(alias).unwrap_or(own),
                    schema,
                    cols: renamed(cols, alias.as_ref(), self),
                }
            }
            TableFactor::Derived {
                lateral,
                subquery,
                alias,
                ..
            } => {
                let cols = if *lateral {
                    self.within(before.to_vec(), |r| r.query(subquery))?
                } else {
                    self.query(subquery)?
                };
                Rel {
                    name: alias_name(alias).unwrap_or_default(),
                    schema: None,
                    cols: renamed(cols, alias.as_ref(), self),
                }
            }
            TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                let mut inner = before.to_vec();
                self.join_tree(table_with_joins, &mut inner)?;
                let added = inner.split_off(before.len());
                return Ok(match alias_name(alias) {
                    Some(name) => {
                        // An aliased join hides its members; its columns are theirs.
                        let mut all = Some(Vec::new());
                        for r in &added {
                            match (self.names(&r.cols), all.as_mut()) {
                                (Some(n), Some(a)) => a.extend(n),
                                _ => all = None,
                            }
                        }
                        let cols = all.map_or(Cols::Any, Cols::Named);
                        vec![Rel {
                            name,
                            schema: None,
                            cols: renamed(cols, alias.as_ref(), self),
                        }]
                    }
                    None => added,
                });
            }
            other => {
                // Functions in FROM see the items before them, like LATERAL.
                self.within(before.to_vec(), |r| r.expressions(other))?;
                let (name, alias) = match other {
                    TableFactor::Table { name, alias, .. }
                    | TableFactor::Function { name, alias, .. } => {
                        (parts(name).last().cloned().unwrap_or_default(), alias)
                    }
                    TableFactor::UNNEST { alias, .. } => ("unnest".to_string(), alias),
                    _ => (String::new(), &None),
                };
                // A function in FROM gives one column named like it (or its alias), or the
                // alias's column list; UNNEST and the like may give more: unknown.
                let cols = match (other, alias.as_ref()) {
                    (_, Some(a)) if !a.columns.is_empty() => {
                        Cols::Named(a.columns.iter().map(|c| fold(&c.name)).collect())
                    }
                    (TableFactor::Table { .. } | TableFactor::Function { .. }, _) => {
                        Cols::Named(vec![alias_name(alias).unwrap_or_else(|| name.clone())])
                    }
                    _ => Cols::Any,
                };
                Rel {
                    name: alias_name(alias).unwrap_or(name),
                    schema: None,
                    cols,
                }
            }
        };
        Ok(vec![rel])
    }
}

fn constraint(join: &Join) -> Option<&JoinConstraint> {
    match &join.join_operator {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c)
        | JoinOperator::Right(c)
        | JoinOperator::RightOuter(c)
        | JoinOperator::FullOuter(c)
        | JoinOperator::CrossJoin(c)
        | JoinOperator::Semi(c)
        | JoinOperator::LeftSemi(c)
        | JoinOperator::RightSemi(c)
        | JoinOperator::Anti(c)
        | JoinOperator::LeftAnti(c)
        | JoinOperator::RightAnti(c)
        | JoinOperator::StraightJoin(c) => Some(c),
        JoinOperator::AsOf { constraint, .. } => Some(constraint),
        _ => None,
    }
}

pub(super) fn check(q: &Query, catalog: &Catalog, access: &Access) -> Result<(), GuardError> {
    let mut r = Resolver {
        catalog,
        access,
        frames: Vec::new(),
    };
    r.query(q).map(|_| ())
}
