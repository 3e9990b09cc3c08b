//! Which tables and columns a role may SELECT. Retrieval, join paths and anything shown to a
//! client are filtered through [`Access`], so an ask never learns of a table its role cannot read.

use std::collections::{HashMap, HashSet};

use tokio_postgres::Client;

use super::{Catalog, CatalogError, TableId};

/// What one role may read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// Tables the role may SELECT as a whole.
    pub tables: HashSet<TableId>,
    /// Tables it may read only some columns of, with those columns.
    pub columns: HashMap<TableId, Vec<String>>,
}

impl Access {
    /// Everything in the catalog (for trusted tools such as benchmarks).
    pub fn all(catalog: &Catalog) -> Access {
        Access {
            tables: (0..catalog.tables.len()).collect(),
            columns: HashMap::new(),
        }
    }

    /// Whether any part of the table is readable.
    pub fn can_read(&self, t: TableId) -> bool {
        self.tables.contains(&t) || self.columns.contains_key(&t)
    }

    /// Whether a column is readable.
    pub fn can_read_column(&self, t: TableId, column: &str) -> bool {
        self.tables.contains(&t)
            || self
                .columns
                .get(&t)
                .is_some_and(|c| c.iter().any(|n| n == column))
    }
}

/// Asks the server what `role` may read (as `has_table_privilege` / `has_column_privilege`).
pub async fn readable(
    client: &Client,
    catalog: &Catalog,
    role: &str,
) -> Result<Access, CatalogError> {
    let oids: Vec<u32> = catalog.tables.iter().map(|t| t.oid).collect();
    let rows = client
        .query(
            "SELECT o, has_table_privilege($1, o, 'SELECT'), has_any_column_privilege($1, o, 'SELECT')
             FROM unnest($2::oid[]) AS o",
            &[&role, &oids],
        )
        .await?;
    let by_oid: HashMap<u32, TableId> = catalog
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.oid, i))
        .collect();
    let mut access = Access::default();
    let mut partial = Vec::new();
    for r in rows {
        let Some(&t) = by_oid.get(&r.get::<_, u32>(0)) else {
            continue;
        };
        if r.get(1) {
            access.tables.insert(t);
        } else if r.get(2) {
            partial.push(catalog.tables[t].oid);
        }
    }
    if !partial.is_empty() {
        let rows = client
            .query(
                "SELECT a.attrelid, a.attname::text FROM pg_attribute a
                 WHERE a.attrelid = ANY($2::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
                   AND has_column_privilege($1, a.attrelid, a.attnum, 'SELECT')
                 ORDER BY a.attrelid, a.attnum",
                &[&role, &partial],
            )
            .await?;
        for r in rows {
            if let Some(&t) = by_oid.get(&r.get::<_, u32>(0)) {
                access.columns.entry(t).or_default().push(r.get(1));
            }
        }
    }
    Ok(access)
}
