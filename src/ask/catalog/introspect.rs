//! Reads the catalog with a handful of queries over pg_class, pg_attribute, pg_constraint (keys,
//! and CHECK lists of values), pg_enum, pg_stats and pg_extension; cost grows with the number of columns, never with rows.

use std::collections::HashMap;

use tokio_postgres::Client;

use super::{checks, Catalog, CatalogError, Column, ForeignKey, Table, TableKind};

/// Relations pgask knows about: tables, views, materialized views, partitioned and foreign
/// tables outside the system schemas and pgask's own; partitions hide behind their parent.
const RELATIONS: &str = "
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND NOT c.relispartition
      AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgask')
      AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

/// The extensions whose operators the scope check knows (pg_trgm's `text % text`), as an SQL
/// list: the catalog notes them where they are installed in a schema on the search path, and
/// the fingerprint changes when one is installed, dropped or moved, or, with one installed,
/// when the search path changes (and for no other extension, so that the retrieval index keyed
/// by it is not rebuilt for nothing).
const JUDGED: &str = "'pg_trgm'";

/// What to read besides the structure.
#[derive(Debug, Clone, Default)]
pub struct CatalogOptions {
    /// Read a few common values of low-cardinality text columns from pg_stats.
    pub sample_values: bool,
    /// Lower-case substrings of column names or comments that mark a column sensitive; such
    /// columns never get sample values.
    pub sensitive: Vec<String>,
}

impl CatalogOptions {
    /// The default sensitive-name patterns.
    pub fn default_sensitive() -> Vec<String> {
        [
            "email", "mail", "phone", "fax", "password", "passwd", "secret", "token", "ssn",
            "card", "iban", "address", "birth", "salary", "tax",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

/// The catalog fingerprint, computed by the server in one query: an md5 over every table (with
/// whether row-level security is on: its sample values are then dropped), column (with whether
/// it has column privileges, which drop them too), key, CHECK
/// constraint, comment, enum label and installed extension the scope check knows ([`JUDGED`];
/// row counts and statistics are left out, so ANALYZE and data changes do not count).
pub async fn fingerprint(client: &Client) -> Result<String, CatalogError> {
    let sql = format!(
        "SELECT md5(coalesce(string_agg(x, '|' ORDER BY x), '')) FROM (
           SELECT 't' || c.oid || ':' || n.nspname || '.' || c.relname || ':' || c.relkind::text || ':' || c.relrowsecurity || ':' || coalesce(obj_description(c.oid, 'pg_class'), '') AS x {RELATIONS}
           UNION ALL
           SELECT 'c' || a.attrelid || ':' || a.attnum || ':' || a.attname || ':' || format_type(a.atttypid, a.atttypmod) || ':' || a.attnotnull || ':'
                  || coalesce(pg_get_expr(d.adbin, d.adrelid), '') || ':' || coalesce(col_description(a.attrelid, a.attnum), '') || ':' || (a.attacl IS NOT NULL)
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
           WHERE a.attnum > 0 AND NOT a.attisdropped AND c.oid IN (SELECT c.oid {RELATIONS})
           UNION ALL
           SELECT 'k' || k.conrelid || ':' || k.conname || ':' || pg_get_constraintdef(k.oid) FROM pg_constraint k
           WHERE k.contype IN ('p', 'u', 'f', 'c') AND k.conrelid IN (SELECT c.oid {RELATIONS})
           UNION ALL
           SELECT 'e' || enumtypid || ':' || enumsortorder || ':' || enumlabel FROM pg_enum
           UNION ALL
           SELECT 'x' || e.extname || ':' || e.extnamespace FROM pg_extension e WHERE e.extname IN ({JUDGED})
           UNION ALL
           SELECT 'p' || array_to_string(current_schemas(false), ',') WHERE EXISTS (SELECT 1 FROM pg_extension WHERE extname IN ({JUDGED}))
         ) s"
    );
    Ok(client.query_one(&sql, &[]).await?.get(0))
}

/// Reads the whole catalog of the connected database.
pub async fn load(client: &Client, options: &CatalogOptions) -> Result<Catalog, CatalogError> {
    let database: String = client
        .query_one("SELECT current_database()::text", &[])
        .await?
        .get(0);
    let fingerprint = fingerprint(client).await?;
    let rows = client
        .query(
            &format!(
                "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text, obj_description(c.oid, 'pg_class'), c.reltuples::float8, c.relrowsecurity
                 {RELATIONS} ORDER BY n.nspname, c.relname"
            ),
            &[],
        )
        .await?;
    let mut tables: Vec<Table> = rows
        .iter()
        .map(|r| Table {
            oid: r.get(0),
            schema: r.get(1),
            name: r.get(2),
            kind: TableKind::from_relkind(r.get(3)),
            comment: r.get(4),
            rows: r.get(5),
            columns: Vec::new(),
            primary_key: Vec::new(),
            unique: Vec::new(),
            foreign_keys: Vec::new(),
            row_security: r.get(6),
        })
        .collect();
    let by_oid: HashMap<u32, usize> = tables.iter().enumerate().map(|(i, t)| (t.oid, i)).collect();
    let attnames = load_columns(client, &mut tables, &by_oid).await?;
    load_keys(client, &mut tables, &by_oid, &attnames).await?;
    if options.sample_values {
        load_samples(client, &mut tables, &by_oid, &options.sensitive).await?;
    }
    let extensions = client
        .query(
            &format!(
                "SELECT e.extname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                 WHERE e.extname IN ({JUDGED}) AND n.nspname = ANY (current_schemas(false)) ORDER BY 1"
            ),
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(Catalog {
        database,
        fingerprint,
        tables,
        extensions,
    })
}

/// Column names by (table oid, attnum), for resolving key column numbers.
type AttNames = HashMap<(u32, i16), String>;

async fn load_columns(
    client: &Client,
    tables: &mut [Table],
    by_oid: &HashMap<u32, usize>,
) -> Result<AttNames, CatalogError> {
    let labels: HashMap<u32, Vec<String>> = client
        .query("SELECT enumtypid, array_agg(enumlabel::text ORDER BY enumsortorder) FROM pg_enum GROUP BY enumtypid", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let rows = client
        .query(
            &format!(
                "SELECT a.attrelid, a.attnum, a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
                        pg_get_expr(d.adbin, d.adrelid), col_description(a.attrelid, a.attnum), a.atttypid, t.typbasetype, t.typelem
                 FROM pg_attribute a
                 JOIN pg_type t ON t.oid = a.atttypid
                 LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                 WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attrelid IN (SELECT c.oid {RELATIONS})
                 ORDER BY a.attrelid, a.attnum"
            ),
            &[],
        )
        .await?;
    let mut names = AttNames::new();
    for r in rows {
        let oid: u32 = r.get(0);
        let Some(&t) = by_oid.get(&oid) else { continue };
        let name: String = r.get(2);
        names.insert((oid, r.get(1)), name.clone());
        let enum_labels = [r.get::<_, u32>(7), r.get(8), r.get(9)]
            .iter()
            .find_map(|ty| labels.get(ty))
            .cloned()
            .unwrap_or_default();
        tables[t].columns.push(Column {
            name,
            data_type: r.get(3),
            nullable: r.get(4),
            default: r.get(5),
            comment: r.get(6),
            enum_labels,
            samples: Vec::new(),
        });
    }
    Ok(names)
}

async fn load_keys(
    client: &Client,
    tables: &mut [Table],
    by_oid: &HashMap<u32, usize>,
    names: &AttNames,
) -> Result<(), CatalogError> {
    let rows = client
        .query(
            "SELECT conrelid, contype::text, conname::text, conkey, confrelid, confkey,
                    CASE WHEN contype = 'c' AND convalidated THEN pg_get_constraintdef(oid) END
             FROM pg_constraint
             WHERE contype IN ('p', 'u', 'f') OR (contype = 'c' AND cardinality(conkey) = 1)
             ORDER BY conrelid, conname",
            &[],
        )
        .await?;
    for r in rows {
        let rel: u32 = r.get(0);
        let Some(&t) = by_oid.get(&rel) else { continue };
        let cols = |rel: u32, nums: Option<Vec<i16>>| -> Vec<String> {
            nums.unwrap_or_default()
                .iter()
                .filter_map(|n| names.get(&(rel, *n)).cloned())
                .collect()
        };
        let columns = cols(rel, r.get(3));
        match r.get::<_, &str>(1) {
            "p" => tables[t].primary_key = columns,
            "u" => tables[t].unique.push(columns),
            "c" => {
                // A text column held to a list of values: shown like an enum's labels (not
                // while the constraint is NOT VALID: older rows may hold anything).
                let Some(def) = r.get::<_, Option<String>>(6) else {
                    continue;
                };
                let Some(name) = columns.first() else {
                    continue;
                };
                if let Some(col) = tables[t].columns.iter_mut().find(|c| &c.name == name) {
                    if col.enum_labels.is_empty() && checks::text_type(&col.data_type) {
                        if let Some(values) = checks::allowed_values(&def, name) {
                            col.enum_labels = values;
                        }
                    }
                }
            }
            _ => {
                let target_oid: u32 = r.get(4);
                let Some(&target) = by_oid.get(&target_oid) else {
                    continue;
                };
                let target_columns = cols(target_oid, r.get(5));
                tables[t].foreign_keys.push(ForeignKey {
                    name: r.get(2),
                    columns,
                    target,
                    target_columns,
                });
            }
        }
    }
    Ok(())
}

/// Common values of low-cardinality text columns, from the planner's statistics (no row is
/// read; the server shows only statistics the connected role may see). Never of a table with
/// row-level security or with column privileges: the catalog is shared by every role of the
/// database, and its statistics summarise rows a role's policies hide from it, or columns a role
/// granted only some others may not read (their values would match its questions in retrieval).
async fn load_samples(
    client: &Client,
    tables: &mut [Table],
    by_oid: &HashMap<u32, usize>,
    sensitive: &[String],
) -> Result<(), CatalogError> {
    let rows = client
        .query(
            "SELECT c.oid, s.attname::text, s.most_common_vals::text::text[]
             FROM pg_stats s JOIN pg_namespace n ON n.nspname = s.schemaname
             JOIN pg_class c ON c.relname = s.tablename AND c.relnamespace = n.oid
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = s.attname
             JOIN pg_type t ON t.oid = a.atttypid
             WHERE s.most_common_vals IS NOT NULL AND t.typcategory IN ('S', 'E')
               AND NOT c.relrowsecurity
               AND NOT EXISTS (SELECT 1 FROM pg_attribute x WHERE x.attrelid = c.oid AND x.attacl IS NOT NULL)
               -- A negative n_distinct is a fraction of the rows (small tables have those).
               AND (CASE WHEN s.n_distinct < 0 THEN -s.n_distinct * greatest(c.reltuples, 0)
                         ELSE s.n_distinct END) BETWEEN 1 AND 50",
            &[],
        )
        .await?;
    for r in rows {
        let Some(&t) = by_oid.get(&r.get::<_, u32>(0)) else {
            continue;
        };
        let name: String = r.get(1);
        let values: Vec<String> = r.get(2);
        if let Some(col) = tables[t].columns.iter_mut().find(|c| c.name == name) {
            let marked = |s: &str| {
                sensitive
                    .iter()
                    .any(|p| s.to_lowercase().contains(p.as_str()))
            };
            if !marked(&col.name) && !col.comment.as_deref().is_some_and(marked) {
                col.samples = values.into_iter().take(8).collect();
            }
        }
    }
    Ok(())
}
