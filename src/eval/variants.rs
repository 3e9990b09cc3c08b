//! Variant databases for test-suite accuracy (TS): copies of an eval database with the same schema
//! but different data, so a generated query that matches the gold query's result only by accident
//! of the original data (`unit_price > 1.5` where `> 1` was meant, and every price is 0.99 or 1.99)
//! gives a different answer on at least one variant.
//!
//! Like the "distilled" databases of the test-suite-sql-eval paper, each variant is a
//! `CREATE DATABASE … TEMPLATE` copy of the source that is then, table by table and
//! deterministically for a seed:
//! 1. sampled: about `1 - keep_fraction` of the rows that no foreign key references are deleted
//!    (tables that reference others are thinned first, which frees more of their parents), so every
//!    foreign key still holds;
//! 2. perturbed, in columns outside every primary key, unique constraint or index and foreign key
//!    and that are neither generated nor identity columns: numbers are scaled by a factor drawn
//!    per row from [0.5, 1.5) (integers rounded), dates and timestamps shifted by -200..=200 days,
//!    text values shuffled among the rows, and about 30% of booleans flipped. Other types stay.
//!    Each column is updated under a savepoint; one that fails (a check constraint, a domain,
//!    an overflow, a trigger) is rolled back and left as it was;
//! 3. vacuumed and analyzed.
//!
//! Randomness comes from the server's `random()` after a `setseed()` derived from the seed, the
//! table and the column, drawn over the rows in primary-key order (whole-row text order without a
//! primary key), so the same seed gives the same variant whatever the physical row order.

use std::future::Future;

use tokio_postgres::Client;

/// PostgreSQL truncates longer identifiers, so a longer variant name would not be the one created.
const MAX_IDENTIFIER_BYTES: usize = 63;

/// Share of rows kept when sampling, unless a spec says otherwise.
pub const DEFAULT_KEEP_FRACTION: f64 = 0.7;

/// Share of boolean values flipped.
const BOOL_FLIP_FRACTION: f64 = 0.3;

/// Largest date shift, in days, either way.
const MAX_DAY_SHIFT: i32 = 200;

/// Why variants could not be made or dropped.
#[derive(Debug, thiserror::Error)]
pub enum VariantsError {
    #[error("keep_fraction must be within 0..=1, got {0}")]
    KeepFraction(f64),
    #[error("variant database name \"{0}\" is longer than PostgreSQL's limit of 63 bytes")]
    NameTooLong(String),
    #[error(
        "cannot copy database \"{source_db}\": other sessions are connected to it \
         (CREATE DATABASE ... TEMPLATE needs it idle); create the variants before anything \
         else connects to \"{source_db}\""
    )]
    SourceInUse { source_db: String },
    #[error("cannot create variant \"{name}\" from \"{source_db}\": {error}")]
    Create {
        name: String,
        source_db: String,
        error: PgError,
    },
    #[error("cannot drop database \"{name}\": {error}")]
    Drop { name: String, error: PgError },
    #[error("cannot connect to variant \"{name}\": {error}")]
    Connect { name: String, error: PgError },
    #[error("{action}: {error}")]
    Sql { action: String, error: PgError },
}

/// A `tokio_postgres::Error` whose message shows the server's error, not just "db error".
#[derive(Debug)]
pub struct PgError(pub tokio_postgres::Error);

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_db_error() {
            Some(db) => write!(f, "{} ({})", db.message(), db.code().code()),
            None => match std::error::Error::source(&self.0) {
                Some(cause) => write!(f, "{}: {cause}", self.0),
                None => write!(f, "{}", self.0),
            },
        }
    }
}

impl std::error::Error for PgError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn sql_error(action: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> VariantsError {
    let action = action.into();
    move |e| VariantsError::Sql {
        action,
        error: PgError(e),
    }
}

/// How many variants to make and how.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantSpec {
    /// Number of variant databases; each costs a full copy of the source.
    pub count: usize,
    /// Variant `i` (1-based) uses `seed + i`, so runs with the same seed compare the same data.
    pub seed: u64,
    /// Share of unreferenced rows kept in each table (default 0.7): lower thins more.
    pub keep_fraction: f64,
}

impl Default for VariantSpec {
    fn default() -> Self {
        VariantSpec {
            count: 3,
            seed: 0,
            keep_fraction: DEFAULT_KEEP_FRACTION,
        }
    }
}

/// The name of variant `i` (1-based) of `source`.
pub fn variant_name(source: &str, i: usize) -> String {
    format!("{source}_ts{i}")
}

/// Creates `spec.count` variants of `source` named `<source>_ts<i>` (i = 1..=count), dropping
/// stale databases of those names first, and returns their names.
///
/// `admin` is connected, as a role that may create databases from `source`, to a database other
/// than `source` on the same server; nothing else may be connected to `source` meanwhile.
/// `connect` opens a client to the named database, so the caller decides host, user and TLS.
/// On failure, the variants made so far are dropped again.
pub async fn make_variants<F, Fut>(
    admin: &Client,
    source: &str,
    spec: &VariantSpec,
    connect: F,
) -> Result<Vec<String>, VariantsError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Client, tokio_postgres::Error>>,
{
    check_keep_fraction(spec.keep_fraction)?;
    let names: Vec<String> = (1..=spec.count).map(|i| variant_name(source, i)).collect();
    if let Some(long) = names.iter().find(|n| n.len() > MAX_IDENTIFIER_BYTES) {
        return Err(VariantsError::NameTooLong(long.clone()));
    }
    drop_variants(admin, &names).await?;
    for (i, name) in (1u64..).zip(&names) {
        if let Err(e) = make_variant(admin, source, name, spec, i, &connect).await {
            // Leave no half-made variants behind; the first error is the one worth reporting.
            if let Err(cleanup) = drop_variants(admin, &names).await {
                tracing::debug!(%cleanup, "cannot drop the variants after a failure");
            }
            return Err(e);
        }
    }
    Ok(names)
}

/// Copies `source` to `name` and perturbs the copy with seed `spec.seed + i`.
async fn make_variant<F, Fut>(
    admin: &Client,
    source: &str,
    name: &str,
    spec: &VariantSpec,
    i: u64,
    connect: &F,
) -> Result<(), VariantsError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Client, tokio_postgres::Error>>,
{
    copy_database(admin, source, name).await?;
    let mut client = connect(name.to_string())
        .await
        .map_err(|e| VariantsError::Connect {
            name: name.to_string(),
            error: PgError(e),
        })?;
    let report = perturb(&mut client, spec.seed.wrapping_add(i), spec.keep_fraction).await?;
    tracing::debug!(
        variant = %name,
        tables = report.tables,
        deleted_rows = report.deleted_rows,
        perturbed = report.perturbed.len(),
        skipped = ?report.skipped,
        "made a test-suite variant"
    );
    Ok(())
}

/// Drops the named databases if they exist, ending sessions still connected to them.
pub async fn drop_variants(admin: &Client, names: &[String]) -> Result<(), VariantsError> {
    for name in names {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name));
        admin
            .batch_execute(&sql)
            .await
            .map_err(|e| VariantsError::Drop {
                name: name.clone(),
                error: PgError(e),
            })?;
    }
    Ok(())
}

async fn copy_database(admin: &Client, source: &str, name: &str) -> Result<(), VariantsError> {
    let sql = format!(
        "CREATE DATABASE {} TEMPLATE {}",
        quote_ident(name),
        quote_ident(source)
    );
    admin.batch_execute(&sql).await.map_err(|e| {
        if e.code() == Some(&tokio_postgres::error::SqlState::OBJECT_IN_USE) {
            VariantsError::SourceInUse {
                source_db: source.to_string(),
            }
        } else {
            VariantsError::Create {
                name: name.to_string(),
                source_db: source.to_string(),
                error: PgError(e),
            }
        }
    })
}

fn check_keep_fraction(keep: f64) -> Result<(), VariantsError> {
    if (0.0..=1.0).contains(&keep) {
        Ok(())
    } else {
        Err(VariantsError::KeepFraction(keep))
    }
}

/// What [`perturb`] did to one database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PerturbReport {
    /// Tables sampled and perturbed.
    pub tables: usize,
    /// Rows deleted by sampling, over all tables.
    pub deleted_rows: u64,
    /// Columns perturbed, as `schema.table.column`.
    pub perturbed: Vec<String>,
    /// Steps the server refused and that were rolled back.
    pub skipped: Vec<Skipped>,
}

/// A sampling or perturbation step that failed and was rolled back, leaving the data as it was.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// `schema.table`.
    pub table: String,
    /// The column, or `None` for the row sampling.
    pub column: Option<String>,
    /// The server's error message.
    pub reason: String,
}

/// Samples and perturbs every ordinary table of the database `client` is connected to (see the
/// module docs), deterministically for `seed`, then vacuums and analyzes them.
pub async fn perturb(
    client: &mut Client,
    seed: u64,
    keep_fraction: f64,
) -> Result<PerturbReport, VariantsError> {
    check_keep_fraction(keep_fraction)?;
    let tables = order_children_first(load_tables(client).await?);
    let mut report = PerturbReport {
        tables: tables.len(),
        ..PerturbReport::default()
    };
    for table in &tables {
        perturb_table(client, table, seed, keep_fraction, &mut report).await?;
        client
            .batch_execute(&format!("VACUUM (ANALYZE) {}", table.quoted))
            .await
            .map_err(sql_error(format!("VACUUM {}", table.name)))?;
    }
    Ok(report)
}

/// One ordinary table and what sampling and perturbing it needs to know.
#[derive(Debug, Clone)]
struct Table {
    oid: u32,
    /// `schema.table`, for reports.
    name: String,
    /// Quoted `"schema"."table"`, for SQL.
    quoted: String,
    /// Deterministic row order over alias `_r`: the primary key, else the whole row as text.
    order_by: String,
    /// `NOT EXISTS (…)` per foreign key referencing this table (alias `_r`), AND-ed.
    unreferenced: Option<String>,
    /// Tables with a foreign key to this one (other than itself).
    referenced_by: Vec<u32>,
    columns: Vec<Column>,
}

#[derive(Debug, Clone)]
struct Column {
    name: String,
    quoted: String,
    /// `format_type` of the declared type (a domain stays a domain, so its checks apply).
    declared: String,
    kind: Kind,
}

/// How a column is perturbed, from its (domain's base) type.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Integer,
    Numeric,
    Float,
    Date,
    Timestamp,
    Text,
    Bool,
}

impl Kind {
    fn from_type(name: &str) -> Option<Kind> {
        Some(match name {
            "int2" | "int4" | "int8" => Kind::Integer,
            "numeric" => Kind::Numeric,
            "float4" | "float8" => Kind::Float,
            "date" => Kind::Date,
            "timestamp" | "timestamptz" => Kind::Timestamp,
            "text" | "varchar" | "bpchar" => Kind::Text,
            "bool" => Kind::Bool,
            _ => return None,
        })
    }
}

const TABLES_SQL: &str = "
SELECT c.oid, n.nspname || '.' || c.relname, format('%I.%I', n.nspname, c.relname),
       (SELECT string_agg('_r.' || quote_ident(a.attname), ', ' ORDER BY k.ord)
          FROM pg_constraint pk
          CROSS JOIN unnest(pk.conkey) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = pk.conrelid AND a.attnum = k.attnum
         WHERE pk.conrelid = c.oid AND pk.contype = 'p')
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r'
   AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND d.deptype = 'e')
 ORDER BY n.nspname, c.relname";

/// Foreign keys referencing table `$1` (or a partitioned table it is a partition of): the
/// referencing table and the join condition between its rows `_c` and the referenced rows `_r`.
const REFERENCING_SQL: &str = "
SELECT con.conrelid, format('%I.%I', n.nspname, c.relname),
       (SELECT string_agg(format('_c.%I = _r.%I', ca.attname, pa.attname), ' AND ' ORDER BY k.ord)
          FROM unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(ck, pk, ord)
          JOIN pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = k.ck
          JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = k.pk)
  FROM pg_constraint con
  JOIN pg_class c ON c.oid = con.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE con.contype = 'f'
   AND (con.confrelid = $1 OR con.confrelid IN (SELECT relid FROM pg_partition_ancestors($1)))
 ORDER BY con.conname, con.oid";

/// Columns of table `$1` that may be perturbed, with their declared and base type names.
const COLUMNS_SQL: &str = "
SELECT a.attname, quote_ident(a.attname), format_type(a.atttypid, a.atttypmod),
       COALESCE((SELECT b.typname FROM pg_type b WHERE b.oid = NULLIF(t.typbasetype, 0)), t.typname)
  FROM pg_attribute a
  JOIN pg_type t ON t.oid = a.atttypid
 WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
   AND a.attgenerated = '' AND a.attidentity = ''
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                    WHERE k.contype IN ('p', 'u', 'f')
                      AND ((k.conrelid = a.attrelid AND a.attnum = ANY (k.conkey))
                        OR (k.confrelid = a.attrelid AND a.attnum = ANY (k.confkey))))
   AND NOT EXISTS (SELECT 1 FROM pg_index i
                    WHERE i.indrelid = a.attrelid AND i.indisunique AND a.attnum = ANY (i.indkey))
 ORDER BY a.attnum";

async fn load_tables(client: &Client) -> Result<Vec<Table>, VariantsError> {
    let action = "reading the tables from pg_catalog";
    let rows = client
        .query(TABLES_SQL, &[])
        .await
        .map_err(sql_error(action))?;
    let mut tables = Vec::with_capacity(rows.len());
    for row in rows {
        let primary_key: Option<String> = get(&row, 3, action)?;
        let mut table = Table {
            oid: get(&row, 0, action)?,
            name: get(&row, 1, action)?,
            quoted: get(&row, 2, action)?,
            order_by: primary_key.unwrap_or_else(|| "ROW(_r.*)::text".to_string()),
            unreferenced: None,
            referenced_by: Vec::new(),
            columns: Vec::new(),
        };
        load_references(client, &mut table).await?;
        load_columns(client, &mut table).await?;
        tables.push(table);
    }
    Ok(tables)
}

async fn load_references(client: &Client, table: &mut Table) -> Result<(), VariantsError> {
    let action = &format!("reading the foreign keys to {}", table.name);
    let rows = client
        .query(REFERENCING_SQL, &[&table.oid])
        .await
        .map_err(sql_error(action))?;
    let mut conditions = Vec::new();
    for row in rows {
        let child: u32 = get(&row, 0, action)?;
        let quoted: String = get(&row, 1, action)?;
        let Some(join) = get::<Option<String>>(&row, 2, action)? else {
            continue;
        };
        conditions.push(format!(
            "NOT EXISTS (SELECT 1 FROM {quoted} _c WHERE {join})"
        ));
        if child != table.oid && !table.referenced_by.contains(&child) {
            table.referenced_by.push(child);
        }
    }
    table.unreferenced = (!conditions.is_empty()).then(|| conditions.join(" AND "));
    Ok(())
}

async fn load_columns(client: &Client, table: &mut Table) -> Result<(), VariantsError> {
    let action = &format!("reading the columns of {}", table.name);
    let rows = client
        .query(COLUMNS_SQL, &[&table.oid])
        .await
        .map_err(sql_error(action))?;
    for row in rows {
        let base: String = get(&row, 3, action)?;
        if let Some(kind) = Kind::from_type(&base) {
            table.columns.push(Column {
                name: get(&row, 0, action)?,
                quoted: get(&row, 1, action)?,
                declared: get(&row, 2, action)?,
                kind,
            });
        }
    }
    Ok(())
}

/// Column `i` of a catalog row.
fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    i: usize,
    action: &str,
) -> Result<T, VariantsError> {
    row.try_get(i).map_err(sql_error(action))
}

/// Orders tables so that each comes after every table referencing it (when foreign keys form a
/// cycle, the first remaining table by name breaks it), so that sampling a table sees its
/// children already thinned.
fn order_children_first(mut remaining: Vec<Table>) -> Vec<Table> {
    let mut ordered: Vec<Table> = Vec::with_capacity(remaining.len());
    while !remaining.is_empty() {
        let done = |oid: &u32| ordered.iter().any(|t| t.oid == *oid);
        let pending = |oid: &u32| remaining.iter().any(|t| t.oid == *oid);
        let next = remaining
            .iter()
            .position(|t| t.referenced_by.iter().all(|c| done(c) || !pending(c)))
            .unwrap_or(0);
        ordered.push(remaining.remove(next));
    }
    ordered
}

/// Samples then perturbs one table in one transaction, each step under a savepoint.
async fn perturb_table(
    client: &mut Client,
    table: &Table,
    seed: u64,
    keep_fraction: f64,
    report: &mut PerturbReport,
) -> Result<(), VariantsError> {
    let begin = format!("BEGIN on {}", table.name);
    let mut tx = client.transaction().await.map_err(sql_error(begin))?;
    let sample = sample_sql(table);
    let deleted = run_step(
        &mut tx,
        table,
        None,
        step_seed(seed, &table.name, ""),
        &sample,
        &[&keep_fraction],
        report,
    )
    .await?;
    report.deleted_rows += deleted.unwrap_or(0);
    for column in &table.columns {
        let sql = perturb_sql(table, column);
        let changed = run_step(
            &mut tx,
            table,
            Some(column),
            step_seed(seed, &table.name, &column.name),
            &sql,
            &[],
            report,
        )
        .await?;
        if changed.is_some() {
            report
                .perturbed
                .push(format!("{}.{}", table.name, column.name));
        }
    }
    let commit = format!("COMMIT on {}", table.name);
    tx.commit().await.map_err(sql_error(commit))
}

/// Runs one seeded statement under a savepoint; returns its row count, or `None` when the server
/// refused it (then rolled back and recorded in `report.skipped`).
async fn run_step(
    tx: &mut tokio_postgres::Transaction<'_>,
    table: &Table,
    column: Option<&Column>,
    seed: f64,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    report: &mut PerturbReport,
) -> Result<Option<u64>, VariantsError> {
    let what = match column {
        Some(c) => format!("perturbing {}.{}", table.name, c.name),
        None => format!("sampling {}", table.name),
    };
    let sp = tx
        .savepoint("pgask_variant")
        .await
        .map_err(sql_error(&what))?;
    sp.execute("SELECT setseed($1)", &[&seed])
        .await
        .map_err(sql_error(&what))?;
    match sp.execute(sql, params).await {
        Ok(n) => {
            sp.commit().await.map_err(sql_error(&what))?;
            Ok(Some(n))
        }
        Err(e) if is_refusal(&e) => {
            let reason = e
                .as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_default();
            tracing::debug!(%what, %reason, "skipped: the server refused the change");
            sp.rollback().await.map_err(sql_error(&what))?;
            report.skipped.push(Skipped {
                table: table.name.clone(),
                column: column.map(|c| c.name.clone()),
                reason,
            });
            Ok(None)
        }
        Err(e) => Err(sql_error(what)(e)),
    }
}

/// Whether the server rejected a statement for its data (a constraint, a domain, an overflow, a
/// trigger, a permission), as opposed to the connection or the server going away.
fn is_refusal(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|db| {
        let class = db.code().code().get(..2).unwrap_or_default();
        !matches!(class, "08" | "53" | "57" | "58" | "XX")
    })
}

/// Deletes about `1 - $1` of the rows no foreign key references, drawing in row order.
fn sample_sql(table: &Table) -> String {
    let filter = table
        .unreferenced
        .as_deref()
        .map(|c| format!(" WHERE {c}"))
        .unwrap_or_default();
    format!(
        "WITH _o AS MATERIALIZED (SELECT _r.ctid AS _id FROM ONLY {t} _r{filter} ORDER BY {o}),
              _p AS MATERIALIZED (SELECT _id, random() AS _x FROM _o)
         DELETE FROM ONLY {t} _u USING _p WHERE _u.ctid = _p._id AND _p._x >= $1",
        t = table.quoted,
        o = table.order_by,
    )
}

/// The UPDATE that perturbs one column, drawing per row in row order.
fn perturb_sql(table: &Table, column: &Column) -> String {
    let (t, o, c, ty) = (
        &table.quoted,
        &table.order_by,
        &column.quoted,
        &column.declared,
    );
    let scale = "0.5 + random()".to_string();
    let shift = format!(
        "floor(random() * {}) - {MAX_DAY_SHIFT}",
        2 * MAX_DAY_SHIFT + 1
    );
    let (draw, set, filter) = match column.kind {
        Kind::Text => return shuffle_sql(table, column),
        Kind::Integer => (scale, format!("round(_u.{c} * _p._x)::{ty}"), String::new()),
        Kind::Numeric => (
            scale,
            format!("(_u.{c} * _p._x::numeric)::{ty}"),
            String::new(),
        ),
        Kind::Float => (scale, format!("(_u.{c} * _p._x)::{ty}"), String::new()),
        Kind::Date => (
            shift,
            format!("(_u.{c} + _p._x::integer)::{ty}"),
            String::new(),
        ),
        Kind::Timestamp => (
            shift,
            format!("(_u.{c} + _p._x * interval '1 day')::{ty}"),
            String::new(),
        ),
        Kind::Bool => (
            "random()".to_string(),
            format!("NOT _u.{c}"),
            format!(" AND _p._x < {BOOL_FLIP_FRACTION}"),
        ),
    };
    format!(
        "WITH _o AS MATERIALIZED (SELECT _r.ctid AS _id FROM ONLY {t} _r ORDER BY {o}),
              _p AS MATERIALIZED (SELECT _id, {draw} AS _x FROM _o)
         UPDATE ONLY {t} _u SET {c} = {set}
           FROM _p WHERE _u.ctid = _p._id AND _u.{c} IS NOT NULL{filter}"
    )
}

/// The UPDATE that shuffles a text column: values drawn in random order are dealt to the rows
/// in row order, a permutation that keeps the column's values but not their rows.
fn shuffle_sql(table: &Table, column: &Column) -> String {
    let (t, o, c) = (&table.quoted, &table.order_by, &column.quoted);
    format!(
        "WITH _o AS MATERIALIZED (SELECT _r.ctid AS _id, _r.{c} AS _v,
                                         row_number() OVER (ORDER BY {o}) AS _n
                                    FROM ONLY {t} _r),
              _s AS MATERIALIZED (SELECT _v, _n, random() AS _x
                                    FROM (SELECT _v, _n FROM _o ORDER BY _n) _q),
              _k AS (SELECT _v, row_number() OVER (ORDER BY _x, _n) AS _n FROM _s)
         UPDATE ONLY {t} _u SET {c} = _k._v
           FROM _o JOIN _k USING (_n)
          WHERE _u.ctid = _o._id AND _u.{c} IS DISTINCT FROM _k._v"
    )
}

/// The `setseed` argument, in [-1, 1], for one step: a hash of the variant's seed, the table and
/// the column (empty for sampling), so each step's draws depend on nothing else.
fn step_seed(seed: u64, table: &str, column: &str) -> f64 {
    // FNV-1a: stable across Rust versions, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in seed
        .to_le_bytes()
        .iter()
        .chain(table.as_bytes())
        .chain([0u8].iter())
        .chain(column.as_bytes())
    {
        h ^= u64::from(*byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // splitmix64 finaliser spreads the bits before taking the top 53.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// `name` as a double-quoted SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("chinook"), "\"chinook\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn step_seeds_are_in_range_and_differ() {
        let a = step_seed(1, "public.track", "unit_price");
        let b = step_seed(2, "public.track", "unit_price");
        let c = step_seed(1, "public.track", "");
        for s in [a, b, c] {
            assert!((-1.0..=1.0).contains(&s), "{s}");
        }
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, step_seed(1, "public.track", "unit_price"));
    }

    #[test]
    fn keep_fraction_is_checked() {
        assert!(check_keep_fraction(0.7).is_ok());
        assert!(check_keep_fraction(1.5).is_err());
        assert!(check_keep_fraction(f64::NAN).is_err());
    }
}
