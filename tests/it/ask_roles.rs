//! Asks act as the session's current role and forget a pooled client's asks: `SET ROLE` narrows
//! what `ask tables:` shows, `DISCARD ALL` (a pooler's reset) ends the conversation, and the
//! catalog shared by every role carries no sample values of a table with row-level security or
//! column privileges, and a role granted only some columns is offered no `*`.
//! The session's own schema path and temporary tables do not change which table an ask reads.

use crate::common;

use common::ask::{first_column, proxy};
use common::raw::{query, sqlstate, RawClient};
use common::Cluster;
use pgask::ask::catalog::{self, CatalogOptions};

/// A copy of chinook of its own (its roles and policies touch no other test's).
fn chinook_copy(prefix: &str) -> Option<String> {
    let cluster = Cluster::shared();
    let db = cluster.create_db(prefix);
    common::data::private_copy(cluster, "chinook", &db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_role_narrows_what_asks_see_and_discard_all_ends_the_conversation() {
    let cluster = Cluster::shared();
    let Some(db) = chinook_copy("roles") else {
        return;
    };
    cluster.psql_as(
        "postgres",
        &db,
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lookout') THEN \
           CREATE ROLE lookout; END IF; END $$; \
         GRANT SELECT ON artist TO lookout",
    );
    let Some((p, _)) = proxy(&["SELECT count(*) FROM artist"; 4], |c| {
        c.ask.cache_ttl_secs = 0;
    })
    .await
    else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let tables = "-- ask tables: customers and their invoices, artists";
    let names = |got: &[u8]| first_column(got).join(" ");
    let got = c.exchange(&query(tables), 1).await.unwrap();
    assert!(names(&got).contains("invoice"), "{}", names(&got));
    let got = c
        .exchange(&query("-- ask: how many artists?"), 1)
        .await
        .unwrap();
    assert_eq!(first_column(&got), ["275"]);
    c.exchange(&query("SET ROLE lookout"), 1).await.unwrap();
    // The login role's ask is not lookout's to explain or rate.
    let got = c.exchange(&query("-- ask explain:"), 1).await.unwrap();
    assert_eq!(sqlstate(&got).as_deref(), Some("55000"));
    let got = c.exchange(&query(tables), 1).await.unwrap();
    let seen = names(&got);
    assert!(
        seen.contains("artist") && !seen.contains("invoice") && !seen.contains("customer"),
        "as lookout: {seen}"
    );
    // Asked as lookout, the answer runs as lookout.
    let got = c
        .exchange(&query("-- ask: how many artists?"), 1)
        .await
        .unwrap();
    assert_eq!(first_column(&got), ["275"]);
    let got = c.exchange(&query("-- ask explain:"), 1).await.unwrap();
    assert_eq!(sqlstate(&got), None, "the last ask is explained");
    // A pooler's reset: the next client starts with no ask of the last one's to explain,
    // rate or pick a reading of.
    c.exchange(&query("DISCARD ALL"), 1).await.unwrap();
    for directive in ["-- ask explain:", "-- ask feedback: good"] {
        let got = c.exchange(&query(directive), 1).await.unwrap();
        assert_eq!(sqlstate(&got).as_deref(), Some("55000"), "{directive}");
    }
    // DISCARD ALL reset the role too: the login role's tables again.
    let got = c.exchange(&query(tables), 1).await.unwrap();
    assert!(names(&got).contains("invoice"), "{}", names(&got));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_sample_values_of_a_table_with_row_level_security_or_column_grants() {
    let cluster = Cluster::shared();
    let Some(db) = chinook_copy("rls_samples") else {
        return;
    };
    let client = cluster.client("postgres", &db).await;
    let before = catalog::fingerprint(&client).await.unwrap();
    cluster.psql_as(
        "postgres",
        &db,
        "ALTER TABLE customer ENABLE ROW LEVEL SECURITY; ANALYZE customer; ANALYZE invoice",
    );
    // Turning row-level security on rebuilds the catalog (and drops the samples).
    assert_ne!(catalog::fingerprint(&client).await.unwrap(), before);
    let options = CatalogOptions {
        sample_values: true,
        ..CatalogOptions::default()
    };
    let cat = catalog::load(&client, &options).await.unwrap();
    let samples = |table: &str, column: &str| {
        let t = cat.find_name(table).unwrap();
        cat.tables[t]
            .columns
            .iter()
            .find(|c| c.name == column)
            .unwrap()
            .samples
            .clone()
    };
    // Statistics of a table without policies are read; the customers' countries, which a
    // policy could hide from a role, are not.
    assert!(!samples("invoice", "billing_country").is_empty());
    assert!(samples("customer", "country").is_empty());
    // Nor a table with column privileges: a role granted some columns may not read the others.
    let before = catalog::fingerprint(&client).await.unwrap();
    cluster.psql_as(
        "postgres",
        &db,
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'auditor') THEN \
           CREATE ROLE auditor; END IF; END $$; \
         GRANT SELECT (invoice_id, total) ON invoice TO auditor",
    );
    assert_ne!(catalog::fingerprint(&client).await.unwrap(), before);
    let cat = catalog::load(&client, &options).await.unwrap();
    let t = cat.find_name("invoice").unwrap();
    let column = cat.tables[t].column("billing_country").unwrap();
    assert!(column.samples.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_search_path_and_temporary_tables_do_not_move_an_ask() {
    let Some((p, db)) = proxy(&["SELECT count(*) FROM artist"; 3], |c| {
        c.ask.cache_ttl_secs = 0;
    })
    .await
    else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let ask = "-- ask: how many artists are there?";
    // A temporary table of the same name, which PostgreSQL searches first by default.
    c.exchange(&query("CREATE TEMP TABLE artist (n int)"), 1)
        .await
        .unwrap();
    let got = c.exchange(&query(ask), 1).await.unwrap();
    assert_eq!(first_column(&got), ["275"]);
    // A path without public.
    c.exchange(&query("SET search_path = pg_catalog"), 1)
        .await
        .unwrap();
    let got = c.exchange(&query(ask), 1).await.unwrap();
    assert_eq!(first_column(&got), ["275"]);
    // The session's own path is as it set it.
    let got = c.exchange(&query("SHOW search_path"), 1).await.unwrap();
    assert_eq!(first_column(&got), ["pg_catalog"]);
}

/// A role granted only some columns of a table: the grammar offers it no `*` (PostgreSQL would
/// refuse one, after three attempts), and neither the prompt nor the grammar names the columns it
/// may not read; its ask runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_with_column_grants_is_offered_no_star() {
    let cluster = Cluster::shared();
    let Some(db) = chinook_copy("column_grants") else {
        return;
    };
    cluster.psql_as(
        "postgres",
        &db,
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'clerk') THEN \
           CREATE ROLE clerk; END IF; END $$; \
         GRANT SELECT (employee_id, first_name, last_name, title) ON employee TO clerk",
    );
    let Some((p, _)) = proxy(
        &["SELECT first_name FROM employee ORDER BY employee_id LIMIT 2"],
        |c| {
            c.ask.cache_ttl_secs = 0;
        },
    )
    .await
    else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    c.exchange(&query("SET ROLE clerk"), 1).await.unwrap();
    let got = c
        .exchange(&query("-- ask: first names of the employees"), 1)
        .await
        .unwrap();
    assert_eq!(first_column(&got), ["Andrew", "Nancy"]);
    let seen = common::ask::requests(&p);
    let req = seen.last().expect("a generation request");
    let grammar = req.grammar.as_deref().unwrap_or("");
    let items: Vec<&str> = grammar.lines().filter(|l| l.starts_with("item-")).collect();
    assert!(
        !items.is_empty() && items.iter().all(|l| !l.contains('*')),
        "{items:?}"
    );
    let prompt = common::ask::prompt(req);
    for hidden in ["birth_date", "salary", "home_phone", "address"] {
        assert!(
            !prompt.contains(hidden) && !grammar.contains(hidden),
            "{hidden}"
        );
    }
    assert!(prompt.contains("first_name"));
}
