use super::*;

fn no_comments(_: &ObjectName) -> Option<String> {
    None
}

fn words(sql: &str) -> String {
    explain(sql, &no_comments)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|c| format!("[{}] {}", c.clause, c.text))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every clause kind the grammar can write, with what the words must mention: each table and
/// each filter (column and value).
const CORPUS: &[(&str, &[&str])] = &[
    ("SELECT count(*) FROM artist", &["the number of rows", "artist"]),
    ("SELECT name FROM genre", &["shows name", "from genre"]),
    ("SELECT * FROM album", &["every column", "album"]),
    ("SELECT DISTINCT country FROM customer", &["distinct rows of country", "customer"]),
    (
        "SELECT first_name, last_name FROM customer WHERE country = 'Brazil'",
        &["customer", "country is 'Brazil'"],
    ),
    (
        "SELECT count(*) FROM track WHERE unit_price > 1",
        &["track", "unit_price is more than 1"],
    ),
    (
        "SELECT name FROM track WHERE milliseconds >= 300000 AND genre_id <> 1",
        &["milliseconds is at least 300000", "genre_id is not 1", "track"],
    ),
    (
        "SELECT name FROM track WHERE composer IS NULL",
        &["composer is missing", "track"],
    ),
    (
        "SELECT name FROM track WHERE composer IS NOT NULL",
        &["composer is present"],
    ),
    (
        "SELECT title FROM album WHERE artist_id IN (1, 2, 3)",
        &["artist_id is one of 1, 2, 3", "album"],
    ),
    (
        "SELECT title FROM album WHERE artist_id NOT IN (1, 2)",
        &["artist_id is none of 1, 2"],
    ),
    (
        "SELECT name FROM track WHERE unit_price BETWEEN 0.5 AND 1",
        &["unit_price is between 0.5 and 1"],
    ),
    (
        "SELECT name FROM artist WHERE name LIKE 'A%'",
        &["name matches the pattern 'A%'", "artist"],
    ),
    (
        "SELECT name FROM artist WHERE name ILIKE '%rock%'",
        &["matches the pattern '%rock%' (any case)"],
    ),
    (
        "SELECT name FROM genre WHERE NOT (name = 'Jazz' OR name = 'Blues')",
        &["not ((name is 'Jazz' or name is 'Blues'))", "genre"],
    ),
    (
        "SELECT billing_country, sum(total) FROM invoice GROUP BY billing_country",
        &["the total of total", "one row per billing_country", "invoice"],
    ),
    (
        "SELECT genre_id, avg(milliseconds) AS mean_ms FROM track GROUP BY genre_id HAVING count(*) > 10",
        &["the average of milliseconds (as mean_ms)", "one row per genre_id", "only groups where the number of rows is more than 10", "track"],
    ),
    (
        "SELECT max(total), min(total) FROM invoice WHERE billing_city = 'Paris'",
        &["the largest total", "the smallest total", "billing_city is 'Paris'", "invoice"],
    ),
    (
        "SELECT count(DISTINCT billing_country) FROM invoice",
        &["the number of distinct billing_country", "invoice"],
    ),
    (
        "SELECT name FROM track ORDER BY milliseconds DESC LIMIT 5",
        &["highest milliseconds first", "keeps the top 5", "track"],
    ),
    (
        "SELECT name FROM track ORDER BY name LIMIT 10 OFFSET 20",
        &["lowest name first", "skips the first 20", "keeps the top 10"],
    ),
    (
        "SELECT name FROM artist LIMIT 3",
        &["keeps at most 3 rows", "artist"],
    ),
    (
        "SELECT a.name, count(*) FROM artist a JOIN album al ON al.artist_id = a.artist_id GROUP BY a.name ORDER BY count(*) DESC LIMIT 5",
        &["artist as a", "joined with album as al", "al.artist_id is a.artist_id", "one row per a.name", "highest the number of rows first", "top 5"],
    ),
    (
        "SELECT c.first_name, i.total FROM customer c LEFT JOIN invoice i ON i.customer_id = c.customer_id WHERE i.total > 10",
        &["customer as c", "keeping every row of the left side", "invoice as i", "i.total is more than 10"],
    ),
    (
        "SELECT t.name, g.name FROM track t JOIN genre g USING (genre_id) WHERE g.name = 'Rock'",
        &["track as t", "genre as g", "on the same genre_id", "g.name is 'Rock'"],
    ),
    (
        "SELECT t.name FROM track t JOIN album al ON al.album_id = t.album_id JOIN artist ar ON ar.artist_id = al.artist_id WHERE ar.name = 'AC/DC'",
        &["track as t", "album as al", "artist as ar", "ar.name is 'AC/DC'"],
    ),
    (
        "SELECT name FROM track WHERE album_id IN (SELECT album_id FROM album WHERE artist_id = 1)",
        &["album_id is among (album_id of album where artist_id is 1)", "track"],
    ),
    (
        "SELECT name FROM artist a WHERE EXISTS (SELECT 1 FROM album al WHERE al.artist_id = a.artist_id)",
        &["there is a row of album as al where al.artist_id is a.artist_id", "artist as a"],
    ),
    (
        "SELECT name FROM track WHERE unit_price > (SELECT avg(unit_price) FROM track)",
        &["unit_price is more than (the average of unit_price of track)"],
    ),
    (
        "WITH big AS (SELECT customer_id, sum(total) AS spent FROM invoice GROUP BY customer_id) SELECT c.last_name FROM customer c JOIN big b ON b.customer_id = c.customer_id WHERE b.spent > 40",
        &["first works out big", "big: shows customer_id", "invoice", "customer as c", "b.spent is more than 40"],
    ),
    (
        "SELECT x.country, x.n FROM (SELECT country, count(*) AS n FROM customer GROUP BY country) x WHERE x.n > 5",
        &["x: shows country", "customer", "x (worked out above)", "x.n is more than 5"],
    ),
    (
        "SELECT name FROM artist UNION SELECT name FROM genre",
        &["artist", "then adds the rows of (duplicate rows removed)", "genre"],
    ),
    (
        "SELECT customer_id FROM customer EXCEPT SELECT customer_id FROM invoice WHERE total > 20",
        &["customer", "removes the rows of", "invoice", "total is more than 20"],
    ),
    (
        "SELECT name, unit_price * 2 AS doubled FROM track WHERE media_type_id = 1 OR media_type_id = 2",
        &["unit_price times 2 (as doubled)", "media_type_id is 1 or media_type_id is 2", "track"],
    ),
    (
        "SELECT billing_country, round(sum(total), 2) FROM invoice WHERE invoice_date >= '2024-01-01' GROUP BY billing_country ORDER BY 2 DESC",
        &["the total of total rounded", "invoice_date is at least '2024-01-01'", "highest the total of total rounded first", "invoice"],
    ),
    ("VALUES (1, 'a'), (2, 'b')", &["the listed rows (2 of them)"]),
];

#[test]
fn every_table_and_filter_of_the_corpus_is_in_the_words() {
    assert!(CORPUS.len() >= 30);
    for (sql, needles) in CORPUS {
        let text = words(sql);
        for n in *needles {
            assert!(text.contains(n), "{n:?} missing for {sql}:\n{text}");
        }
        // Every table the query reads is named.
        let parsed = crate::ask::guard::parse(sql).expect("parses");
        let _ = sqlparser::ast::visit_relations(&parsed, |name| {
            assert!(
                text.contains(&name.to_string()),
                "{name} missing for {sql}:\n{text}"
            );
            std::ops::ControlFlow::<()>::Continue(())
        });
    }
}

#[test]
fn clauses_come_one_per_row_in_reading_order() {
    let got = explain(
        "SELECT genre_id, count(*) FROM track WHERE unit_price > 1 GROUP BY genre_id \
         HAVING count(*) > 2 ORDER BY 2 DESC LIMIT 3",
        &no_comments,
    )
    .expect("explains");
    let kinds: Vec<&str> = got.iter().map(|c| c.clause).collect();
    assert_eq!(
        kinds,
        ["select", "from", "where", "group by", "having", "order by", "limit"]
    );
}

#[test]
fn table_comments_from_the_catalog_are_shown() {
    let comments = |n: &ObjectName| (n.to_string() == "invoice").then(|| "One sale.".to_string());
    let got = explain("SELECT count(*) FROM invoice", &comments).expect("explains");
    assert!(
        got.iter().any(|c| c.text == "from invoice (One sale)"),
        "{got:?}"
    );
}

#[test]
fn what_is_not_one_query_is_refused() {
    for (sql, want) in [
        ("DELETE FROM track", "only queries"),
        ("SELECT 1; SELECT 2", "only one statement"),
        ("SELEC 1", "cannot parse"),
    ] {
        let e = explain(sql, &no_comments).expect_err(sql);
        assert!(e.to_string().contains(want), "{sql}: {e}");
    }
}

#[test]
fn nulls_filters_positions_and_grouping_read_right() {
    let w = words("SELECT name FROM track WHERE composer = NULL");
    assert!(w.contains("never true"), "{w}");
    let w = words("SELECT count(*) FILTER (WHERE total > 10) FROM invoice");
    assert!(
        w.contains("the number of rows (only rows where total is more than 10)"),
        "{w}"
    );
    let w = words("SELECT (unit_price - 1) * 2 FROM track");
    assert!(w.contains("(unit_price minus 1) times 2"), "{w}");
    let w = words("SELECT billing_country, count(*) FROM invoice GROUP BY 1 ORDER BY 2 DESC");
    assert!(w.contains("one row per billing_country"), "{w}");
    assert!(w.contains("highest the number of rows first"), "{w}");
    let w = words("SELECT *, total FROM invoice ORDER BY 2");
    assert!(w.contains("lowest output column 2 first"), "{w}");
    let w = words("SELECT DISTINCT ON (customer_id) customer_id, total FROM invoice ORDER BY customer_id, total DESC");
    assert!(
        w.contains("one row per customer_id (the first in the sort order)"),
        "{w}"
    );
    let w = words("SELECT name FROM artist UNION ALL SELECT name FROM genre");
    assert!(w.contains("then adds the rows of:"), "{w}");
    let w = words("SELECT total::int FROM invoice");
    assert!(w.contains("total as INT"), "{w}");
}

#[test]
fn a_long_operator_chain_stays_sql_instead_of_overflowing() {
    let sql = format!("SELECT {} FROM track", vec!["1"; 2000].join(" + "));
    let w = words(&sql);
    assert!(w.contains("(…)"), "{}", &w[..200.min(w.len())]);
}
