//! Values the question names, looked up on the client's own session: the column holding one
//! is shown with it and the catalog example filters on it; rows or columns the asking role may
//! not read are not looked in, and nothing is looked up inside the client's transaction.

use crate::common;

use common::ask::{prompt, proxy, requests, texts};
use common::raw::{query, RawClient};
use common::Cluster;

const QUESTION: &str = "Which customers live in Brazil? Give their first and last names.";
const ANSWER: &str = "SELECT first_name, last_name FROM customer WHERE country = 'Brazil'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_value_is_shown_with_its_column_and_in_the_example() {
    let Some((p, db)) = proxy(&[ANSWER; 3], |c| c.ask.cache_ttl_secs = 0).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let got = c
        .exchange(&query(&format!("-- ask: {QUESTION}")), 1)
        .await
        .unwrap();
    assert!(texts(&got, b'E').is_empty(), "{:?}", texts(&got, b'E'));
    let seen = requests(&p);
    let text = prompt(&seen[0]);
    // The column as stored, and only where the database has it.
    assert!(
        text.contains("country character varying(40), -- e.g. 'Brazil'"),
        "{text}"
    );
    assert!(!text.contains("first_name character varying(40) NOT NULL, -- e.g. 'Brazil'"));
    // The example nearest the question filters on that column.
    let user = &seen[0].messages[1].content;
    let last_sql = user
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("SQL: "))
        .unwrap_or_default();
    assert!(last_sql.contains("country = 'Brazil'"), "{user}");
    // Not guessed as a name: no example takes Brazil for a customer's first name.
    assert!(!user.contains("first_name = 'Brazil'"), "{user}");

    // Inside the client's transaction nothing is looked up, and the transaction and its
    // settings are as the client left them.
    c.exchange(&query("BEGIN; CREATE TEMP TABLE mine (x int)"), 1)
        .await
        .unwrap();
    // Another question: the same one would be answered from the connection's memory.
    let got = c
        .exchange(
            &query("-- ask: Which customers live in Brazil? Give their names."),
            1,
        )
        .await
        .unwrap();
    assert!(texts(&got, b'E').is_empty(), "{:?}", texts(&got, b'E'));
    let text = prompt(requests(&p).last().unwrap());
    assert!(!text.contains("e.g. 'Brazil'"), "{text}");
    let after = c
        .exchange(
            &query("INSERT INTO mine VALUES (1); SHOW statement_timeout; COMMIT"),
            1,
        )
        .await
        .unwrap();
    assert!(texts(&after, b'E').is_empty(), "{:?}", texts(&after, b'E'));
    assert_eq!(common::ask::first_column(&after), vec!["0"]);

    // Off: nothing is looked up.
    let Some((p, db)) = proxy(&[ANSWER; 3], |c| {
        c.ask.cache_ttl_secs = 0;
        c.ask.value_lookup_ms = 0;
    })
    .await
    else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    c.exchange(&query(&format!("-- ask: {QUESTION}")), 1)
        .await
        .unwrap();
    let text = prompt(&requests(&p)[0]);
    assert!(!text.contains("e.g. 'Brazil'"), "{text}");
}

/// The lookup runs as the asking role: rows its row-level security hides are not found, and a
/// column it may not read is not looked in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lookup_sees_only_what_the_role_may_read() {
    let cluster = Cluster::shared();
    let Some(pristine) = common::data::pristine(cluster, "chinook") else {
        return;
    };
    let db = cluster.create_db("values_rls");
    cluster.psql_as("postgres", "postgres", &format!("DROP DATABASE {db}"));
    cluster.psql_as(
        "postgres",
        "postgres",
        &format!("CREATE DATABASE {db} TEMPLATE {pristine}"),
    );
    cluster.psql_as(
        "postgres",
        &db,
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'scout') THEN \
           CREATE ROLE scout LOGIN PASSWORD 'scout-secret'; END IF; \
           IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'clerk2') THEN \
           CREATE ROLE clerk2 LOGIN PASSWORD 'clerk2-secret'; END IF; END $$; \
         GRANT SELECT ON customer, invoice TO scout; \
         GRANT SELECT (customer_id, first_name, last_name, city) ON customer TO clerk2; \
         ALTER TABLE customer ENABLE ROW LEVEL SECURITY; \
         ALTER TABLE invoice ENABLE ROW LEVEL SECURITY; \
         CREATE POLICY not_brazil ON customer TO scout USING (country <> 'Brazil'); \
         CREATE POLICY not_brazil ON invoice TO scout USING (billing_country <> 'Brazil'); \
         CREATE POLICY all_rows ON customer TO clerk2 USING (true)",
    );
    let Some((p, _)) = proxy(&["SELECT first_name, last_name FROM customer"; 9], |c| {
        c.ask.cache_ttl_secs = 0;
        // The catalog is read by a role of its own; what is looked up is the asker's.
        c.ask.catalog_user = "postgres".into();
    })
    .await
    else {
        return;
    };
    let ask = format!("-- ask: {QUESTION}");
    let mut seen = 0;
    for (role, password) in [("scout", "scout-secret"), ("clerk2", "clerk2-secret")] {
        let client = p.connect(role, password, &db).await.unwrap();
        let r = client.simple_query(&ask).await;
        assert!(r.is_ok(), "{role}: {r:?}");
        let all = requests(&p);
        assert!(all.len() > seen, "{role}: no prompt");
        for r in &all[seen..] {
            let text = prompt(r);
            assert!(!text.contains("e.g. 'Brazil'"), "{role}: {text}");
        }
        seen = all.len();
    }
    // The superuser, whom no policy hides anything from, gets it in the same database.
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    c.exchange(&query(&ask), 1).await.unwrap();
    let text = prompt(requests(&p).last().unwrap());
    assert!(text.contains("-- e.g. 'Brazil'"), "{text}");
}
