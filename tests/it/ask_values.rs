//! Values the question names, looked up on the client's own session: the column holding one
//! is shown with it and the catalog example filters on it; a role that may not read the column
//! never has it looked up, and the lookup leaves the client's transaction as it was.

use crate::common;

use common::ask::{proxy, texts};
use common::raw::{query, RawClient};
use common::Cluster;
use pgask::ask::generate::backend::Backend;
use pgask::ask::generate::supervisor::Request;

fn requests(p: &common::Proxy) -> Vec<Request> {
    match &*p.shared.asker.as_ref().unwrap().backend() {
        Backend::Scripted(s) => s.requests(),
        _ => vec![],
    }
}

fn prompt(r: &Request) -> String {
    r.messages
        .iter()
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

const QUESTION: &str = "Which customers live in Brazil? Give their first and last names.";
const ANSWER: &str = "SELECT first_name, last_name FROM customer WHERE country = 'Brazil'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_value_is_shown_with_its_column_and_in_the_example() {
    let Some((p, db)) = proxy(&[ANSWER; 3], |c| c.ask.cache_ttl_secs = 0).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    // Inside the client's own transaction, which the lookup leaves as it was.
    c.exchange(&query("BEGIN; CREATE TEMP TABLE mine (x int)"), 1)
        .await
        .unwrap();
    let got = c
        .exchange(&query(&format!("-- ask: {QUESTION}")), 1)
        .await
        .unwrap();
    assert!(texts(&got, b'E').is_empty(), "{:?}", texts(&got, b'E'));
    let after = c
        .exchange(&query("INSERT INTO mine VALUES (1); COMMIT"), 1)
        .await
        .unwrap();
    assert!(texts(&after, b'E').is_empty(), "{:?}", texts(&after, b'E'));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_never_has_a_column_it_cannot_read_looked_in() {
    let cluster = Cluster::shared();
    let Some((p, db)) = proxy(&["SELECT first_name, last_name FROM customer"; 3], |c| {
        c.ask.cache_ttl_secs = 0;
        // The catalog is read by a role of its own; what scout may read is scout's.
        c.ask.catalog_user = "postgres".into();
    })
    .await
    else {
        return;
    };
    cluster.psql_as(
        "postgres",
        &db,
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'scout') THEN \
           CREATE ROLE scout LOGIN PASSWORD 'scout-secret'; END IF; END $$; \
         REVOKE ALL ON ALL TABLES IN SCHEMA public FROM scout; \
         GRANT SELECT (customer_id, first_name, last_name, city) ON customer TO scout; \
         GRANT SELECT ON artist, album TO scout",
    );
    let scout = p.connect("scout", "scout-secret", &db).await.unwrap();
    let r = scout.simple_query(&format!("-- ask: {QUESTION}")).await;
    assert!(r.is_ok(), "{r:?}");
    let seen = requests(&p);
    assert!(!seen.is_empty());
    for r in &seen {
        let text = prompt(r);
        assert!(!text.contains("'Brazil'"), "{text}");
        assert!(!text.contains("country"), "{text}");
    }
}
