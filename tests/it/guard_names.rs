//! The guard's name resolution against PostgreSQL's own: a corpus of tricky name cases over
//! chinook (`tests/guard/names.jsonl`: shadowing, CTEs named like tables, self-joins, LATERAL,
//! derived tables, USING, NATURAL, schema-qualified and quoted names), each with the verdict
//! PostgreSQL 15 gives for EXPLAIN. The test re-checks that verdict on the server, then requires
//! the guard to accept every query that plans and to refuse every unknown relation (42P01) or
//! column (42703) with the same SQLSTATE. Other errors (ambiguity, duplicates) are EXPLAIN's.

use crate::common;

use common::data;
use common::Cluster;
use pgask::ask::catalog::{self, Access, CatalogOptions};
use pgask::ask::guard::{self, Policy};

const CORPUS: &str = include_str!("../guard/names.jsonl");

/// Where the guard is stricter than PostgreSQL by design (it refuses, the server would not):
/// system catalogs are not part of what an ask may read, `a.count` is `count(a)` in disguise,
/// and sqlparser does not parse `JOIN … USING (…) AS alias`.
const STRICTER: &[&str] = &[
    "SELECT a.count FROM artist a",
    "SELECT x.artist_id, album.title FROM artist JOIN album USING (artist_id) AS x",
    "SELECT x.title FROM artist JOIN album USING (artist_id) AS x",
    "SELECT relname FROM pg_catalog.pg_class WHERE relkind = 'r'",
    "SELECT relname FROM pg_class",
    "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
];

#[tokio::test]
async fn the_guard_resolves_names_like_postgres() {
    let cluster = Cluster::shared();
    let Some(db) = data::dataset(cluster, "chinook") else {
        return;
    };
    let client = cluster.client("postgres", &db).await;
    let cat = catalog::load(&client, &CatalogOptions::default())
        .await
        .expect("catalog");
    let access = Access::all(&cat);
    let mut functions = guard::default_functions();
    functions.push("row_number".into());
    let policy = Policy::new(functions);
    let mut failures = Vec::new();
    let (mut accepted, mut refused, mut left_to_explain) = (0, 0, 0);
    for line in CORPUS.lines().filter(|l| !l.trim().is_empty()) {
        let case: serde_json::Value = serde_json::from_str(line).expect("corpus line");
        let sql = case["sql"].as_str().expect("sql");
        let verdict = case["verdict"].as_str().expect("verdict");
        let server = match client.batch_execute(&format!("EXPLAIN {sql}")).await {
            Ok(()) => "ok".to_string(),
            Err(e) => e
                .code()
                .map(|c| c.code().to_string())
                .unwrap_or_else(|| e.to_string()),
        };
        assert_eq!(server, verdict, "the corpus is out of date for {sql}");
        let ours = match guard::check(sql, &policy, &cat, &access) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.sqlstate().to_string(),
        };
        if STRICTER.contains(&sql) {
            assert_ne!(ours, "ok", "{sql} is listed as refused by design");
            continue;
        }
        match verdict {
            "ok" if ours == "ok" => accepted += 1,
            "42P01" | "42703" if ours == verdict => refused += 1,
            "ok" | "42P01" | "42703" => {
                failures.push(format!("{sql}\n    postgres: {verdict}, guard: {ours}"))
            }
            _ => left_to_explain += 1,
        }
    }
    eprintln!("accepted {accepted}, refused {refused}, left to EXPLAIN {left_to_explain}");
    assert!(accepted >= 25 && refused >= 25, "the corpus shrank");
    assert!(
        failures.is_empty(),
        "{} of the corpus resolved differently from PostgreSQL:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
