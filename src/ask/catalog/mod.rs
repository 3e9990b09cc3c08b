//! The schema catalog: tables, views and their columns, keys, comments and enum labels, read
//! from PostgreSQL's system catalogs without touching any rows, with a fingerprint that changes
//! exactly when the catalog does, and the privilege filter for a role.

mod checks;
mod introspect;
mod privileges;

use serde::{Deserialize, Serialize};

pub use introspect::{fingerprint, load, CatalogOptions};
pub use privileges::{readable, Access};

/// Reading the catalog failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog query failed: {0}")]
    Query(#[from] tokio_postgres::Error),
}

/// Index of a table in [`Catalog::tables`].
pub type TableId = usize;

/// What kind of relation a table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableKind {
    Table,
    View,
    MaterializedView,
    Partitioned,
    Foreign,
}

impl TableKind {
    fn from_relkind(k: &str) -> TableKind {
        match k {
            "v" => TableKind::View,
            "m" => TableKind::MaterializedView,
            "p" => TableKind::Partitioned,
            "f" => TableKind::Foreign,
            _ => TableKind::Table,
        }
    }
}

/// One column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// As `format_type` prints it (`integer`, `character varying(40)`, `text[]`, a domain name).
    pub data_type: String,
    pub nullable: bool,
    pub default: Option<String>,
    pub comment: Option<String>,
    /// Labels when the type is an enum (or an array of, or a domain over, one), or the values a
    /// one-column CHECK constraint allows (`CHECK (status IN ('pending', 'shipped'))`).
    pub enum_labels: Vec<String>,
    /// A few values, only with `catalog.sample_values` on and never for sensitive columns.
    pub samples: Vec<String>,
}

impl Column {
    /// A nullable column with no default, comment, enum labels or samples.
    pub fn new(name: &str, data_type: &str) -> Column {
        Column {
            name: name.into(),
            data_type: data_type.into(),
            nullable: true,
            default: None,
            comment: None,
            enum_labels: vec![],
            samples: vec![],
        }
    }
}

/// A foreign key, possibly over several columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub target: TableId,
    pub target_columns: Vec<String>,
}

/// One table, view, materialized view, partitioned or foreign table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub kind: TableKind,
    pub comment: Option<String>,
    /// The planner's row estimate (`reltuples`; -1 when never analysed).
    pub rows: f64,
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
    pub unique: Vec<Vec<String>>,
    pub foreign_keys: Vec<ForeignKey>,
    /// Row-level security is on (`relrowsecurity`): what a session reads of it may depend on
    /// its role and settings (a tenant a policy reads).
    #[serde(default)]
    pub row_security: bool,
}

impl Table {
    /// An ordinary table in `public` with `columns` and no keys, comment or row estimate.
    pub fn new(name: &str, columns: Vec<Column>) -> Table {
        Table {
            oid: 0,
            schema: "public".into(),
            name: name.into(),
            kind: TableKind::Table,
            comment: None,
            rows: 0.0,
            columns,
            primary_key: vec![],
            unique: vec![],
            foreign_keys: vec![],
            row_security: false,
        }
    }

    /// `schema.name`, quoted where PostgreSQL needs it.
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    /// As people write it in a query: bare in `public`, schema-qualified elsewhere.
    pub fn written(&self) -> String {
        if self.schema == "public" {
            quote_ident(&self.name)
        } else {
            self.qualified()
        }
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Everything retrieval needs to know about one database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub database: String,
    /// Changes when any table, column, key, comment, enum or extension the scope check knows
    /// changes, and only then.
    pub fingerprint: String,
    pub tables: Vec<Table>,
    /// The extensions the scope check knows operators of (today `pg_trgm`), by name, where
    /// installed in a schema on the search path: `name % 'text'` is pg_trgm's similarity, and
    /// no operator without it.
    #[serde(default)]
    pub extensions: Vec<String>,
}

impl Catalog {
    /// A table by schema and name.
    pub fn find(&self, schema: &str, name: &str) -> Option<TableId> {
        self.tables
            .iter()
            .position(|t| t.schema == schema && t.name == name)
    }

    /// Whether the extension `name` is installed.
    pub fn has_extension(&self, name: &str) -> bool {
        self.extensions.iter().any(|e| e == name)
    }

    /// A table by bare name (the first match across schemas).
    pub fn find_name(&self, name: &str) -> Option<TableId> {
        self.tables.iter().position(|t| t.name == name)
    }
}

/// Whether a CommandComplete tag reports DDL that can change the catalog (the trigger for a
/// retrieval refresh; a periodic fingerprint check catches the rest).
pub fn is_ddl_tag(tag: &str) -> bool {
    [
        "CREATE",
        "ALTER",
        "DROP",
        "COMMENT",
        "GRANT",
        "REVOKE",
        "IMPORT FOREIGN SCHEMA",
        "REFRESH MATERIALIZED VIEW",
    ]
    .iter()
    .any(|p| tag.starts_with(p))
}

/// Quotes an identifier when it is not a plain lower-case name.
pub fn quote_ident(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain && !is_reserved(s) {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}

fn is_reserved(s: &str) -> bool {
    const RESERVED: &[&str] = &[
        "all",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "case",
        "cast",
        "check",
        "collate",
        "column",
        "constraint",
        "create",
        "default",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "from",
        "grant",
        "group",
        "having",
        "in",
        "intersect",
        "into",
        "limit",
        "not",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "primary",
        "references",
        "select",
        "table",
        "then",
        "to",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "when",
        "where",
        "window",
        "with",
    ];
    RESERVED.contains(&s)
}

#[cfg(test)]
mod tests {
    use super::quote_ident;

    #[test]
    fn ddl_tags() {
        assert!(super::is_ddl_tag("CREATE TABLE"));
        assert!(super::is_ddl_tag("COMMENT"));
        assert!(!super::is_ddl_tag("SELECT 3"));
        assert!(!super::is_ddl_tag("INSERT 0 1"));
    }

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote_ident("invoice_line"), "invoice_line");
        assert_eq!(quote_ident("Invoice"), "\"Invoice\"");
        assert_eq!(quote_ident("order"), "\"order\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
