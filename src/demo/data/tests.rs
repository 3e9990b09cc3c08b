//! The demo script: deterministic, parseable, complete, and its rows consistent.

use std::collections::{HashMap, HashSet};

use sqlparser::ast::{SetExpr, Statement};

use super::generate::{generate, END, START};
use super::*;

const TABLES: [&str; 8] = [
    "offices",
    "employees",
    "product_categories",
    "products",
    "customers",
    "orders",
    "order_lines",
    "payments",
];

fn table<'a>(tables: &'a [Table], name: &str) -> &'a Table {
    tables.iter().find(|t| t.name == name).unwrap()
}

/// The values of one column.
fn column<'a>(t: &'a Table, name: &str) -> Vec<&'a Val> {
    let i = t.columns.split(", ").position(|c| c == name).unwrap();
    t.rows.iter().map(|r| &r[i]).collect()
}

fn num(v: &Val) -> i64 {
    match v {
        Val::Int(i) | Val::Dec2(i) | Val::Date(i) => *i,
        other => panic!("not a number: {other:?}"),
    }
}

#[test]
fn the_script_is_the_same_on_every_call() {
    assert_eq!(demo_sql(), demo_sql());
}

#[test]
fn dates_convert_both_ways() {
    assert_eq!(day(1970, 1, 1), 0);
    assert_eq!(START, 18_993);
    assert_eq!(civil(END), (2024, 12, 31));
    assert_eq!(civil(day(2024, 2, 29)), (2024, 2, 29));
    for d in START - 1500..END + 1500 {
        let (y, m, dd) = civil(d);
        assert_eq!(day(y as i32, m as u32, dd as u32), d);
    }
}

#[test]
fn every_table_is_created_commented_and_loaded_in_order() {
    let sql = demo_sql();
    let names: Vec<_> = generate().iter().map(|t| t.name).collect();
    assert_eq!(names, TABLES);
    for name in TABLES {
        assert!(sql.contains(&format!("CREATE TABLE {name} (")), "{name}");
        assert!(
            sql.contains(&format!("COMMENT ON TABLE {name} IS '")),
            "{name}"
        );
        assert!(sql.contains(&format!("INSERT INTO {name} (")), "{name}");
    }
    assert!(sql.starts_with("--") && sql.ends_with("COMMIT;\nANALYZE;\n"));
}

#[test]
fn every_statement_parses_and_every_row_is_inserted() {
    let sql = demo_sql();
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let statements = sqlparser::parser::Parser::parse_sql(&dialect, &sql).unwrap();
    assert_eq!(statements.len(), sql.matches(";\n").count());
    let count = |f: fn(&Statement) -> bool| statements.iter().filter(|s| f(s)).count();
    assert_eq!(
        count(|s| matches!(s, Statement::CreateTable(_))),
        TABLES.len()
    );
    let comments = count(|s| matches!(s, Statement::Comment { .. }));
    assert_eq!(comments, sql.matches("\nCOMMENT ON ").count());
    let inserted: usize = (statements.iter())
        .filter_map(|s| match s {
            Statement::Insert(i) => match i.source.as_deref().map(|q| q.body.as_ref()) {
                Some(SetExpr::Values(v)) => Some(v.rows.len()),
                _ => None,
            },
            _ => None,
        })
        .sum();
    assert_eq!(
        inserted,
        generate().iter().map(|t| t.rows.len()).sum::<usize>()
    );
}

#[test]
fn row_counts_are_as_documented() {
    let tables = generate();
    let len = |name| table(&tables, name).rows.len();
    assert_eq!(len("offices"), 8);
    assert_eq!(len("employees"), 40);
    assert_eq!(len("product_categories"), 10);
    assert_eq!(len("products"), 120);
    assert_eq!(len("customers"), 500);
    assert_eq!(len("orders"), 2500);
    assert!(
        (6500..7800).contains(&len("order_lines")),
        "{}",
        len("order_lines")
    );
    assert!(
        (2100..2800).contains(&len("payments")),
        "{}",
        len("payments")
    );
    for t in &tables {
        let width = t.columns.split(", ").count();
        assert!(t.rows.iter().all(|r| r.len() == width), "{}", t.name);
    }
}

#[test]
fn keys_are_unique_and_foreign_keys_resolve() {
    let tables = generate();
    let fks = [
        ("employees", "office_id", "offices", "office_id"),
        ("employees", "reports_to", "employees", "employee_id"),
        (
            "products",
            "category_id",
            "product_categories",
            "category_id",
        ),
        ("customers", "sales_rep_id", "employees", "employee_id"),
        ("orders", "customer_id", "customers", "customer_id"),
        ("order_lines", "order_id", "orders", "order_id"),
        ("order_lines", "product_id", "products", "product_id"),
        ("payments", "customer_id", "customers", "customer_id"),
        ("payments", "order_id", "orders", "order_id"),
    ];
    for (t, c, rt, rc) in fks {
        let keys: HashSet<_> = column(table(&tables, rt), rc).into_iter().collect();
        for v in column(table(&tables, t), c) {
            assert!(*v == Val::Null || keys.contains(v), "{t}.{c} = {v:?}");
        }
    }
    for (t, key) in IDENTITIES {
        let ids = column(table(&tables, t), key);
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "{t}");
    }
    let lines = table(&tables, "order_lines");
    let line_keys: HashSet<_> = (column(lines, "order_id").into_iter())
        .zip(column(lines, "line_no"))
        .collect();
    assert_eq!(line_keys.len(), lines.rows.len());
    let emails = column(table(&tables, "employees"), "email");
    assert_eq!(emails.iter().collect::<HashSet<_>>().len(), emails.len());
    // A payment for an order comes from that order's customer.
    let orders = table(&tables, "orders");
    let owner: HashMap<_, _> = (column(orders, "order_id").into_iter())
        .zip(column(orders, "customer_id"))
        .collect();
    let payments = table(&tables, "payments");
    for (o, c) in column(payments, "order_id")
        .into_iter()
        .zip(column(payments, "customer_id"))
    {
        assert!(
            *o == Val::Null || owner[o] == c,
            "payment of {o:?} by {c:?}"
        );
    }
}

#[test]
fn order_totals_match_their_lines_and_payments_never_exceed_them() {
    let tables = generate();
    let (orders, lines) = (table(&tables, "orders"), table(&tables, "order_lines"));
    // order_id, line_no, product_id, quantity, unit_price, discount
    let mut net: HashMap<i64, i64> = HashMap::new();
    for l in &lines.rows {
        *net.entry(num(&l[0])).or_default() += num(&l[3]) * num(&l[4]) * (100 - num(&l[5]));
    }
    // payment_id, customer_id, order_id, amount, ...
    let mut paid: HashMap<i64, i64> = HashMap::new();
    for p in &table(&tables, "payments").rows {
        if p[2] != Val::Null {
            *paid.entry(num(&p[2])).or_default() += num(&p[3]);
        }
    }
    // order_id, customer_id, order_date, status, shipped_date, shipping_fee, total_amount
    for o in &orders.rows {
        let (id, date, total) = (num(&o[0]), num(&o[2]), num(&o[6]));
        assert_eq!((net[&id] + 50) / 100 + num(&o[5]), total, "order {id}");
        assert!((START..=END).contains(&date), "order {id}");
        if o[4] != Val::Null {
            assert!((date..=END).contains(&num(&o[4])), "order {id}");
        }
        let status = &o[3];
        if [Val::text("cancelled"), Val::text("pending")].contains(status) {
            assert!(!paid.contains_key(&id), "order {id} is {status:?} but paid");
        }
        assert!(paid.get(&id).copied().unwrap_or(0) <= total, "order {id}");
    }
    let paid_share = paid.len() as f64 / orders.rows.len() as f64;
    assert!((0.85..0.97).contains(&paid_share), "{paid_share}");
}

#[test]
fn some_products_were_never_ordered_and_some_customers_never_ordered() {
    let tables = generate();
    let ordered: HashSet<_> = column(table(&tables, "order_lines"), "product_id")
        .into_iter()
        .collect();
    let products = table(&tables, "products").rows.len();
    assert_eq!(products - ordered.len(), PRODUCTS_NEVER_ORDERED);
    let buyers: HashSet<_> = column(table(&tables, "orders"), "customer_id")
        .into_iter()
        .collect();
    assert!((400..495).contains(&buyers.len()), "{}", buyers.len());
}

/// The newest product of each of the ten categories.
const PRODUCTS_NEVER_ORDERED: usize = 10;

#[test]
fn example_asks_are_plain_questions() {
    for ask in example_asks() {
        assert!(!ask.is_empty() && !ask.starts_with("--"), "{ask}");
    }
}
