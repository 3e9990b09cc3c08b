//! The demo database `pgask demo` loads: Paper Trail, a small office-supply wholesaler
//! (offices, employees, product categories, products, customers, orders, order lines,
//! payments) as one SQL script. Every table and every non-obvious column has a comment, since
//! comments reach the LLM's prompt; the few thousand rows come from a fixed seed, so every run,
//! machine and pgask version sees the same data and the same answers.
//!
//! Layout: `data/schema.sql` (tables, indexes, comments), `data/generate.rs` (the rows),
//! `data/names.rs` (word lists); this file assembles the script.

mod generate;
mod names;
#[cfg(test)]
mod tests;

use std::fmt::Write;

/// The demo database's metrics and dimensions (glossary format): the demo's `ask.glossary`.
pub const METRICS: &str = include_str!("data/metrics.toml");

/// The database the demo creates and loads.
pub const DEMO_DATABASE: &str = "pgask_demo";

/// Questions the demo schema answers, to show a first-time user (without the `-- ask:` prefix).
pub fn example_asks() -> [&'static str; 5] {
    [
        "top 5 customers by total payments in 2024",
        "monthly revenue in 2023",
        "which products were never ordered",
        "average order value per office",
        "employees and how many customers each one manages",
    ]
}

/// The whole script: schema and comments, rows, sequence positions, ANALYZE. It runs on an
/// empty database in one `batch_execute` or with `psql -f`, in one transaction.
pub fn demo_sql() -> String {
    let mut out = String::with_capacity(1 << 20);
    out.push_str(SCHEMA);
    for table in generate::generate() {
        write_inserts(&mut out, &table);
    }
    // Ids were inserted explicitly: move each identity past them so later inserts work.
    for (table, key) in IDENTITIES {
        let _ = writeln!(
            out,
            "SELECT setval(pg_get_serial_sequence('{table}', '{key}'), max({key})) FROM {table};"
        );
    }
    // ANALYZE fills pg_stats, which pgask's optional sample values read.
    out.push_str("COMMIT;\nANALYZE;\n");
    out
}

/// Tables, indexes and comments; opens the transaction the rows are loaded in.
const SCHEMA: &str = include_str!("data/schema.sql");

/// Rows per INSERT statement.
const BATCH: usize = 500;

/// Tables with an identity key, and that key.
const IDENTITIES: [(&str, &str); 7] = [
    ("offices", "office_id"),
    ("employees", "employee_id"),
    ("product_categories", "category_id"),
    ("products", "product_id"),
    ("customers", "customer_id"),
    ("orders", "order_id"),
    ("payments", "payment_id"),
];

/// One table's rows before they become INSERTs.
struct Table {
    name: &'static str,
    /// Column names as the INSERT lists them, comma-separated, in the order of each row.
    columns: &'static str,
    rows: Vec<Vec<Val>>,
}

impl Table {
    fn new(name: &'static str, columns: &'static str, rows: Vec<Vec<Val>>) -> Table {
        Table {
            name,
            columns,
            rows,
        }
    }
}

/// A value as the script writes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Val {
    Null,
    Int(i64),
    Bool(bool),
    Text(String),
    /// Days since 1970-01-01.
    Date(i64),
    /// Days since 1970-01-01 and seconds into that day, UTC.
    Ts(i64, i64),
    /// A numeric with two decimals, in hundredths (cents for money, percent for fractions).
    Dec2(i64),
}

impl Val {
    fn text(s: &str) -> Val {
        Val::Text(s.to_string())
    }

    fn write_sql(&self, out: &mut String) {
        let _ = match self {
            Val::Null => write!(out, "NULL"),
            Val::Int(i) => write!(out, "{i}"),
            Val::Bool(b) => write!(out, "{b}"),
            Val::Text(s) => write!(out, "'{}'", s.replace('\'', "''")),
            Val::Date(d) => {
                let (y, m, d) = civil(*d);
                write!(out, "'{y:04}-{m:02}-{d:02}'")
            }
            Val::Ts(d, s) => {
                let (y, m, d) = civil(*d);
                let (h, mi, s) = (s / 3600, s / 60 % 60, s % 60);
                write!(out, "'{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}+00'")
            }
            Val::Dec2(c) => {
                let sign = if *c < 0 { "-" } else { "" };
                write!(out, "{sign}{}.{:02}", c.abs() / 100, c.abs() % 100)
            }
        };
    }
}

/// Multi-row INSERTs of `BATCH` rows each.
fn write_inserts(out: &mut String, table: &Table) {
    for chunk in table.rows.chunks(BATCH) {
        let _ = write!(out, "INSERT INTO {} ({}) VALUES", table.name, table.columns);
        for (i, row) in chunk.iter().enumerate() {
            out.push_str(if i == 0 { "\n  (" } else { ",\n  (" });
            for (j, v) in row.iter().enumerate() {
                if j > 0 {
                    out.push_str(", ");
                }
                v.write_sql(out);
            }
            out.push(')');
        }
        out.push_str(";\n");
    }
}

/// Days since 1970-01-01 of a date (H. Hinnant's `days_from_civil`, for years after 0).
const fn day(y: i32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y } as i64;
    let (era, yoe) = (y / 400, y % 400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// The (year, month, day) of a day number (`civil_from_days`).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}
