//! Metrics and dimensions of the glossary in an ask: a named metric's table joins the search,
//! the prompt and an example show it, and the grammar requires it whole as the first column; a
//! role that cannot read a metric's columns never sees it. A scripted LLM records each request.

use crate::common;

use common::ask::{first_column, proxy, requests, texts};
use common::raw::{query, RawClient};
use common::Cluster;
use pgask::ask::generate::supervisor::Request;

const REVENUE: &str = "/* revenue */ sum(invoice_line.unit_price * invoice_line.quantity)";

fn glossary() -> std::path::PathBuf {
    let dir = tempfile::tempdir().unwrap().keep();
    common::cluster::remove_at_exit(dir.clone());
    let path = dir.join("metrics.toml");
    std::fs::write(
        &path,
        "[metrics.revenue]\n\
         description = \"money from invoice lines\"\n\
         sql = \"sum(invoice_line.unit_price * invoice_line.quantity)\"\n\
         synonyms = [\"turnover\"]\n\
         [metrics.listening_time]\n\
         description = \"total length of tracks\"\n\
         sql = \"sum(track.milliseconds)\"\n",
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_metric_is_required_whole_and_shown_in_the_prompt() {
    let answer = format!("SELECT {REVENUE} FROM invoice_line");
    let path = glossary();
    let Some((p, db)) = proxy(&[answer.as_str()], |c| c.ask.glossary = path).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let got = c
        .exchange(&query("-- ask: what is our turnover?"), 1)
        .await
        .unwrap();
    assert_eq!(first_column(&got), ["2328.60"], "{:?}", texts(&got, b'E'));
    let seen = requests(&p);
    let req = seen.last().expect("one generation");
    let grammar = req.grammar.as_deref().unwrap_or("");
    assert!(
        grammar.starts_with("root ::= \" \"? \"SELECT \" required")
            && grammar.contains(&format!("required ::= \"{REVENUE}\"")),
        "{grammar}"
    );
    let prompt: String = req.messages.iter().map(|m| m.content.as_str()).collect();
    assert!(
        prompt.contains("CREATE TABLE invoice_line")
            && prompt.contains(&format!("- revenue (metric): {REVENUE}"))
            && prompt.contains(&format!("SQL: SELECT {REVENUE} FROM invoice_line")),
        "{prompt}"
    );
    // A question that neither names nor means a metric gets none of them.
    c.exchange(&query("-- ask: list the first 3 artists"), 1)
        .await
        .unwrap();
    let seen = requests(&p);
    let grammar = seen
        .last()
        .and_then(|r| r.grammar.clone())
        .unwrap_or_default();
    assert!(!grammar.contains("/* "), "{grammar}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_never_sees_a_metric_over_columns_it_cannot_read() {
    let cluster = Cluster::shared();
    let path = glossary();
    let Some((p, db)) = proxy(&["SELECT count(*) FROM track"; 4], |c| {
        c.ask.glossary = path
    })
    .await
    else {
        return;
    };
    cluster.psql_as(
        "postgres",
        &db,
        "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM trust_user; \
         GRANT SELECT ON artist, album TO trust_user; \
         GRANT SELECT (track_id, name) ON track TO trust_user",
    );
    let question = query("-- ask: what is the listening time of all tracks?");
    let mut c = RawClient::connect(p.port(), "trust_user", &db).await;
    c.exchange(&question, 1).await.unwrap();
    let theirs = requests(&p).len();
    let mut own = RawClient::connect(p.port(), "postgres", &db).await;
    own.exchange(&question, 1).await.unwrap();
    let seen = requests(&p);
    assert!(
        theirs >= 1 && seen.len() > theirs,
        "{theirs} then {}",
        seen.len()
    );
    let shown = |r: &Request| {
        let prompt: String = r.messages.iter().map(|m| m.content.as_str()).collect();
        prompt.contains("listening_time")
            || r.grammar
                .as_deref()
                .unwrap_or("")
                .contains("track.milliseconds")
    };
    assert!(
        !seen[..theirs].iter().any(shown),
        "offered to a role without track.milliseconds"
    );
    assert!(
        seen[theirs..].iter().any(shown),
        "the superuser is offered it"
    );
}
