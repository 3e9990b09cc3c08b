//! Join paths: a graph of foreign keys (and, marked as inferred, `<table>_id` columns that match
//! another table's key by name and type where no foreign key says so), shortest paths between
//! two tables with their JOIN clauses, and the bridge tables that connect a chosen set.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use crate::ask::catalog::{quote_ident, Access, Catalog, Table, TableId};

use super::words::stem;

/// Declared foreign keys cost 2, inferred links 3, so a declared path wins a tie.
const DECLARED: u32 = 2;
const INFERRED: u32 = 3;

/// One way to join two tables: `from.from_cols = to.to_cols`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub to: TableId,
    pub from_cols: Vec<String>,
    pub to_cols: Vec<String>,
    /// True for links guessed from column names, not declared by a foreign key.
    pub inferred: bool,
}

/// A step of a join path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub from: TableId,
    pub edge: Edge,
}

/// The join graph of one catalog.
#[derive(Debug, Clone, Default)]
pub struct JoinGraph {
    edges: Vec<Vec<Edge>>,
}

impl JoinGraph {
    pub fn new(catalog: &Catalog) -> JoinGraph {
        let n = catalog.tables.len();
        let mut edges: Vec<Vec<Edge>> = vec![Vec::new(); n];
        let mut linked: HashSet<(TableId, TableId)> = HashSet::new();
        for (t, table) in catalog.tables.iter().enumerate() {
            for fk in &table.foreign_keys {
                edges[t].push(Edge {
                    to: fk.target,
                    from_cols: fk.columns.clone(),
                    to_cols: fk.target_columns.clone(),
                    inferred: false,
                });
                edges[fk.target].push(Edge {
                    to: t,
                    from_cols: fk.target_columns.clone(),
                    to_cols: fk.columns.clone(),
                    inferred: false,
                });
                linked.insert((t.min(fk.target), t.max(fk.target)));
            }
        }
        infer_links(catalog, &mut edges, &linked);
        JoinGraph { edges }
    }

    /// Edges out of a table.
    pub fn edges(&self, t: TableId) -> &[Edge] {
        &self.edges[t]
    }

    /// The cheapest path from `from` to `to` through tables the role may read.
    pub fn path(&self, from: TableId, to: TableId, access: &Access) -> Option<Vec<Step>> {
        if !access.can_read(from) || !access.can_read(to) {
            return None;
        }
        let mut dist: HashMap<TableId, u32> = HashMap::from([(from, 0)]);
        let mut prev: HashMap<TableId, Step> = HashMap::new();
        let mut heap = BinaryHeap::from([Reverse((0u32, from))]);
        while let Some(Reverse((d, t))) = heap.pop() {
            if t == to {
                break;
            }
            if d > dist.get(&t).copied().unwrap_or(u32::MAX) {
                continue;
            }
            for e in &self.edges[t] {
                if !access.can_read(e.to)
                    || !e.from_cols.iter().all(|c| access.can_read_column(t, c))
                    || !e.to_cols.iter().all(|c| access.can_read_column(e.to, c))
                {
                    continue;
                }
                let nd = d + if e.inferred { INFERRED } else { DECLARED };
                if nd < dist.get(&e.to).copied().unwrap_or(u32::MAX) {
                    dist.insert(e.to, nd);
                    prev.insert(
                        e.to,
                        Step {
                            from: t,
                            edge: e.clone(),
                        },
                    );
                    heap.push(Reverse((nd, e.to)));
                }
            }
        }
        let mut steps = Vec::new();
        let mut at = to;
        while at != from {
            let step = prev.get(&at)?.clone();
            at = step.from;
            steps.push(step);
        }
        steps.reverse();
        Some(steps)
    }

    /// Tables connecting all of `terminals`: a Steiner tree approximated by growing from the
    /// first terminal, each time adding the shortest path to the nearest terminal not yet in.
    /// Returns the joins in an order that can be written as one FROM clause.
    pub fn connect(&self, terminals: &[TableId], access: &Access) -> Vec<Step> {
        let mut in_tree: Vec<TableId> = terminals.iter().copied().take(1).collect();
        let mut steps: Vec<Step> = Vec::new();
        let mut remaining: Vec<TableId> = terminals
            .iter()
            .copied()
            .skip(1)
            .filter(|t| !in_tree.contains(t))
            .collect();
        while !remaining.is_empty() {
            let best = remaining
                .iter()
                .enumerate()
                .flat_map(|(i, &goal)| {
                    in_tree
                        .iter()
                        .filter_map(move |&src| self.path(src, goal, access).map(|p| (i, p)))
                })
                .min_by_key(|(_, p)| p.len());
            let Some((i, path)) = best else { break };
            remaining.remove(i);
            for step in path {
                if !in_tree.contains(&step.edge.to) {
                    in_tree.push(step.edge.to);
                    steps.push(step);
                }
            }
            remaining.retain(|t| !in_tree.contains(t));
        }
        steps
    }
}

/// `JOIN b ON b.x = a.y` for each step, tables schema-qualified.
pub fn join_clauses(catalog: &Catalog, steps: &[Step]) -> Vec<String> {
    join_clauses_named(catalog, steps, Table::qualified)
}

/// `JOIN b ON b.x = a.y` for each step, each table as `name` writes it.
pub fn join_clauses_named(
    catalog: &Catalog,
    steps: &[Step],
    name: impl Fn(&Table) -> String,
) -> Vec<String> {
    steps
        .iter()
        .map(|s| {
            let (a, b) = (
                name(&catalog.tables[s.from]),
                name(&catalog.tables[s.edge.to]),
            );
            let on: Vec<String> = s
                .edge
                .from_cols
                .iter()
                .zip(&s.edge.to_cols)
                .map(|(x, y)| format!("{b}.{} = {a}.{}", quote_ident(y), quote_ident(x)))
                .collect();
            format!("JOIN {b} ON {}", on.join(" AND "))
        })
        .collect()
}

/// Adds inferred edges: a column `<name>_id` (or `<name>id`) whose `<name>` is another table's
/// name, singular or plural, pointing at that table's one-column primary key of the same type.
fn infer_links(catalog: &Catalog, edges: &mut [Vec<Edge>], linked: &HashSet<(TableId, TableId)>) {
    let mut by_name: HashMap<String, Vec<TableId>> = HashMap::new();
    for (i, t) in catalog.tables.iter().enumerate() {
        if t.primary_key.len() == 1 {
            by_name
                .entry(stem(&t.name.to_lowercase()))
                .or_default()
                .push(i);
        }
    }
    for (a, table) in catalog.tables.iter().enumerate() {
        for col in &table.columns {
            let lower = col.name.to_lowercase();
            let Some(base) = lower
                .strip_suffix("_id")
                .or_else(|| lower.strip_suffix("id"))
                .filter(|b| !b.is_empty())
            else {
                continue;
            };
            for &b in by_name
                .get(&stem(base.trim_end_matches('_')))
                .into_iter()
                .flatten()
            {
                let target = &catalog.tables[b];
                let pk = &target.primary_key[0];
                let same_type = target
                    .column(pk)
                    .is_some_and(|c| c.data_type == col.data_type);
                if a == b || !same_type || linked.contains(&(a.min(b), a.max(b))) {
                    continue;
                }
                if edges[a].iter().any(|e| e.to == b) {
                    continue;
                }
                edges[a].push(Edge {
                    to: b,
                    from_cols: vec![col.name.clone()],
                    to_cols: vec![pk.clone()],
                    inferred: true,
                });
                edges[b].push(Edge {
                    to: a,
                    from_cols: vec![pk.clone()],
                    to_cols: vec![col.name.clone()],
                    inferred: true,
                });
            }
        }
    }
}
