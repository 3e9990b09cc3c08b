//! Name checks: every relation is a catalog table the role may read (or a name the query
//! defines with WITH), every qualified column belongs to its table and is readable, and every
//! bare name is a readable column of a table the query reads or a name the query defines.
//! Tables the role cannot read are reported as missing, never as forbidden, so an ask does not
//! reveal that they exist. Finer scoping mistakes are left to EXPLAIN on the session.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Query, SelectItem, SetExpr, TableFactor, Visit, Visitor};

use super::{fold, parts, GuardError};
use crate::ask::catalog::{Access, Catalog, TableId};

#[derive(Default)]
struct Refs {
    /// Relations read: their name parts.
    relations: Vec<Vec<String>>,
    /// Qualifier → real table (by alias, or by the table's own name).
    qualifiers: HashMap<String, Vec<Vec<String>>>,
    /// Column references: qualifier (if any) and name.
    columns: Vec<(Option<String>, String)>,
    /// Names the query defines: CTEs, aliases, their columns, output names.
    defined: HashSet<String>,
}

impl Visitor for Refs {
    type Break = ();

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if let Some(w) = &q.with {
            for cte in &w.cte_tables {
                self.defined.insert(fold(&cte.alias.name));
                for c in &cte.alias.columns {
                    self.defined.insert(fold(&c.name));
                }
            }
        }
        let mut bodies = vec![q.body.as_ref()];
        while let Some(b) = bodies.pop() {
            match b {
                SetExpr::Select(s) => {
                    for item in &s.projection {
                        if let SelectItem::ExprWithAlias { alias, .. } = item {
                            self.defined.insert(fold(alias));
                        }
                    }
                }
                SetExpr::SetOperation { left, right, .. } => {
                    bodies.push(left);
                    bodies.push(right);
                }
                SetExpr::Query(q) => bodies.push(&q.body),
                _ => {}
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<()> {
        let alias = match t {
            TableFactor::Table {
                name,
                alias,
                args: None,
                ..
            } => {
                let p = parts(name);
                let key = alias
                    .as_ref()
                    .map(|a| fold(&a.name))
                    .or_else(|| p.last().cloned())
                    .unwrap_or_default();
                self.qualifiers.entry(key).or_default().push(p.clone());
                self.relations.push(p);
                alias
            }
            TableFactor::Table { alias, .. }
            | TableFactor::Derived { alias, .. }
            | TableFactor::Function { alias, .. }
            | TableFactor::UNNEST { alias, .. } => alias,
            _ => &None,
        };
        if let Some(a) = alias {
            if !matches!(t, TableFactor::Table { args: None, .. }) {
                self.defined.insert(fold(&a.name));
            }
            for c in &a.columns {
                self.defined.insert(fold(&c.name));
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        match e {
            Expr::Identifier(i) => self.columns.push((None, fold(i))),
            Expr::CompoundIdentifier(p) if p.len() >= 2 => {
                let n = p.len();
                self.columns.push((Some(fold(&p[n - 2])), fold(&p[n - 1])));
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// The readable catalog table a relation name means (search path: `public`, then any schema).
fn resolve(catalog: &Catalog, access: &Access, p: &[String]) -> Option<TableId> {
    let t = match p {
        [name] => catalog
            .find("public", name)
            .or_else(|| catalog.find_name(name)),
        [.., schema, name] => catalog.find(schema, name),
        [] => None,
    }?;
    access.can_read(t).then_some(t)
}

pub(super) fn check(q: &Query, catalog: &Catalog, access: &Access) -> Result<(), GuardError> {
    let mut refs = Refs::default();
    let _ = q.visit(&mut refs);
    let mut read: Vec<TableId> = Vec::new();
    for p in &refs.relations {
        let bare = p.last().cloned().unwrap_or_default();
        if p.len() == 1 && refs.defined.contains(&bare) {
            continue;
        }
        match resolve(catalog, access, p) {
            Some(t) => read.push(t),
            None => return Err(GuardError::UnknownTable(p.join("."))),
        }
    }
    let readable_column =
        |t: TableId, c: &str| catalog.tables[t].column(c).is_some() && access.can_read_column(t, c);
    for (qualifier, column) in &refs.columns {
        if let Some(qual) = qualifier {
            if let Some(rels) = refs.qualifiers.get(qual) {
                let tables: Vec<TableId> = rels
                    .iter()
                    .filter_map(|p| resolve(catalog, access, p))
                    .collect();
                if !tables.is_empty() {
                    if tables.iter().any(|&t| readable_column(t, column)) {
                        continue;
                    }
                    return Err(GuardError::UnknownColumn(format!("{qual}.{column}")));
                }
                // A CTE read under its own name: its columns are the query's own.
                continue;
            }
            if refs.defined.contains(qual) {
                continue;
            }
            return Err(GuardError::UnknownQualifier(qual.clone()));
        }
        if refs.defined.contains(column) || read.iter().any(|&t| readable_column(t, column)) {
            continue;
        }
        return Err(GuardError::UnknownColumn(column.clone()));
    }
    Ok(())
}
