use std::collections::HashMap;

use super::*;
use crate::ask::catalog::{Column, Table};

fn table(oid: u32, name: &str, cols: &[&str]) -> Table {
    Table {
        oid,
        rows: 10.0,
        ..Table::new(
            name,
            cols.iter().map(|c| Column::new(c, "integer")).collect(),
        )
    }
}

fn catalog() -> Catalog {
    Catalog {
        database: "shop".into(),
        fingerprint: "f".into(),
        extensions: Vec::new(),
        tables: vec![
            table(1, "customer", &["customer_id", "name", "city"]),
            table(
                2,
                "invoice",
                &["invoice_id", "customer_id", "total", "Year"],
            ),
            table(3, "salary", &["employee_id", "amount"]),
        ],
    }
}

/// Everything but `salary`.
fn access() -> Access {
    Access {
        tables: [0, 1].into_iter().collect(),
        columns: HashMap::new(),
    }
}

fn run(sql: &str) -> Result<(), GuardError> {
    let policy = Policy::new(default_functions());
    check(sql, &policy, &catalog(), &access()).map(|_| ())
}

#[test]
fn accepts_read_only_queries() {
    for sql in [
        "SELECT name FROM customer",
        "SELECT c.name, sum(i.total) AS revenue FROM customer c JOIN invoice i ON i.customer_id = c.customer_id GROUP BY 1 ORDER BY revenue DESC LIMIT 5",
        "WITH t AS (SELECT customer_id, sum(total) AS s FROM invoice GROUP BY customer_id) SELECT t.s, c.name FROM t JOIN customer c USING (customer_id)",
        "SELECT x.n FROM (SELECT count(*) AS n FROM invoice) AS x",
        "SELECT \"Year\", count(*) FROM invoice GROUP BY \"Year\"",
        "SELECT public.customer.name FROM public.customer",
        "SELECT date_trunc('month', now()), current_date",
        "SELECT name FROM customer WHERE customer_id IN (SELECT customer_id FROM invoice WHERE total > 10)",
        "SELECT rank() OVER (PARTITION BY city ORDER BY customer_id) FROM customer",
        "SELECT n FROM generate_series(1, 3) AS g(n)",
    ] {
        assert_eq!(run(sql), Ok(()), "{sql}");
    }
}

#[test]
fn refuses_writes_in_every_form() {
    let cases = [
        ("DELETE FROM invoice", "42501"),
        ("UPDATE invoice SET total = 0", "42501"),
        ("INSERT INTO customer VALUES (1, 'x', 'y')", "42501"),
        ("DROP TABLE customer", "42501"),
        (
            "WITH x AS (DELETE FROM invoice RETURNING *) SELECT * FROM x",
            "42501",
        ),
        (
            "WITH x AS (UPDATE invoice SET total = 0 RETURNING *) SELECT 1",
            "42501",
        ),
        ("SELECT * FROM invoice FOR UPDATE", "42501"),
        ("SELECT * FROM invoice FOR SHARE", "42501"),
        ("SELECT * INTO copy FROM invoice", "42501"),
        ("SELECT pg_sleep(60)", "42501"),
        ("SELECT lo_import('/etc/passwd')", "42501"),
        ("SELECT pg_catalog.pg_read_file('x')", "42501"),
        ("SELECT myschema.count(*) FROM invoice", "42501"),
        ("SELECT * FROM dblink('x', 'y') AS t(a int)", "42501"),
        ("SELECT 1; SELECT 2", "42601"),
        ("SELEC 1", "42601"),
        ("SET statement_timeout = 0", "42501"),
    ];
    for (sql, state) in cases {
        let e = run(sql).expect_err(sql);
        assert_eq!(e.sqlstate(), state, "{sql}: {e}");
    }
}

#[test]
fn refuses_unknown_and_unreadable_names_without_saying_which() {
    assert_eq!(
        run("SELECT * FROM nosuch"),
        Err(GuardError::UnknownTable("nosuch".into()))
    );
    // Unreadable looks exactly like missing.
    assert_eq!(
        run("SELECT amount FROM salary"),
        Err(GuardError::UnknownTable("salary".into()))
    );
    assert_eq!(
        run("SELECT nickname FROM customer"),
        Err(GuardError::UnknownColumn("nickname".into()))
    );
    assert_eq!(
        run("SELECT c.total FROM customer c"),
        Err(GuardError::UnknownColumn("c.total".into()))
    );
    assert_eq!(
        run("SELECT z.name FROM customer c"),
        Err(GuardError::UnknownQualifier("z".into()))
    );
    // Unquoted names fold to lower case, so Year is not "Year".
    assert_eq!(
        run("SELECT Year FROM invoice"),
        Err(GuardError::UnknownColumn("year".into()))
    );
    assert!(run("SELECT * FROM nosuch").unwrap_err().wants_more_tables());
}

#[test]
fn column_privileges_are_respected() {
    let policy = Policy::new(default_functions());
    let mut access = access();
    access.tables.remove(&0);
    access.columns.insert(0, vec!["name".into()]);
    assert!(check("SELECT name FROM customer", &policy, &catalog(), &access).is_ok());
    assert_eq!(
        check("SELECT city FROM customer", &policy, &catalog(), &access).map(|_| ()),
        Err(GuardError::UnknownColumn("city".into()))
    );
}

/// Whole-row uses read every column, `TABLE` names a table, functions and aliased joins in FROM
/// have known columns: none of them lets a name through that PostgreSQL would refuse.
#[test]
fn whole_rows_table_commands_and_functions_resolve_like_postgres() {
    let policy = Policy::new(default_functions());
    let mut partial = access();
    partial.tables.remove(&0);
    partial.columns.insert(0, vec!["name".into()]);
    let cat = catalog();
    let run_as = |sql: &str, a: &Access| check(sql, &policy, &cat, a).map(|_| ());
    for sql in [
        "SELECT * FROM customer",
        "SELECT c.* FROM customer c",
        "SELECT customer FROM customer",
        "WITH x AS (TABLE public.customer) SELECT city FROM x",
        "SELECT x.city FROM (customer c JOIN invoice i USING (customer_id)) AS x",
        "SELECT city FROM customer, generate_series(1, 2) g",
    ] {
        assert!(
            run_as(sql, &partial).is_err(),
            "{sql} reads an unreadable column"
        );
    }
    assert!(run_as(
        "SELECT name FROM customer, generate_series(1, 2) g",
        &partial
    )
    .is_ok());
    for (sql, ok) in [
        ("WITH x AS (TABLE public.nosuch) SELECT 1 FROM x", false),
        ("WITH x AS (TABLE public.customer) SELECT city FROM x", true),
        (
            "WITH x AS (TABLE public.customer) SELECT nosuch FROM x",
            false,
        ),
        (
            "SELECT nosuch FROM customer, generate_series(1, 2) g",
            false,
        ),
        ("SELECT g FROM customer, generate_series(1, 2) g", true),
        ("SELECT n FROM generate_series(1, 2) AS g(n)", true),
        (
            "SELECT x.total FROM (customer c JOIN invoice i USING (customer_id)) AS x",
            true,
        ),
        (
            "SELECT x.nosuch FROM (customer c JOIN invoice i USING (customer_id)) AS x",
            false,
        ),
        (
            "SELECT DISTINCT ON (town) city AS town, name FROM customer ORDER BY town",
            true,
        ),
        (
            "SELECT t.substring FROM (SELECT substring(name FROM 1 FOR 3) FROM customer) t",
            true,
        ),
        (
            "SELECT name, (SELECT count(*) FROM invoice) FROM customer ORDER BY count",
            true,
        ),
    ] {
        assert_eq!(
            run_as(sql, &access()).is_ok(),
            ok,
            "{sql}: {:?}",
            run_as(sql, &access())
        );
    }
}

#[test]
fn row_limits_are_read_only_from_plain_top_level_numbers() {
    assert_eq!(row_limit("SELECT 1 LIMIT 5"), Some(5));
    assert_eq!(row_limit("SELECT 1 FETCH FIRST 7 ROWS ONLY"), Some(7));
    assert_eq!(row_limit("SELECT 1 FETCH FIRST 7 ROWS WITH TIES"), None);
    assert_eq!(row_limit("SELECT * FROM (SELECT 1 LIMIT 5) s"), None);
    assert_eq!(row_limit("SELECT 1 LIMIT 2 + 3"), None);
    assert_eq!(row_limit("SELECT 1"), None);
}

#[test]
fn from_only_reads_the_table_itself() {
    let policy = Policy::new(default_functions());
    let cat = catalog();
    let run = |sql: &str| check(sql, &policy, &cat, &access()).map(|_| ());
    assert_eq!(run("SELECT city FROM ONLY customer"), Ok(()));
    assert_eq!(run("SELECT c.city FROM ONLY customer AS c"), Ok(()));
    assert_eq!(run("SELECT city FROM ONLY public.customer"), Ok(()));
    assert!(run("SELECT nosuch FROM ONLY customer").is_err());
    assert!(run("SELECT 1 FROM ONLY nosuch").is_err());
}
