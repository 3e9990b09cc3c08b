//! The prompt a question gets over a small database: the whole schema in a fixed order with
//! the join hints (the same system text for every question, so the model's KV cache keeps it),
//! retrieval's tables named for the question, and the catalog example in the form the question
//! asks for shown last. A scripted LLM records each request.

use crate::common;

use common::ask::{proxy, requests, texts};
use common::raw::{query, RawClient};
use pgask::ask::generate::supervisor::Request;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_schema_is_shown_whole_and_the_question_s_form_comes_last() {
    let script = [
        "SELECT count(*) FROM artist",
        "SELECT a.name FROM artist a WHERE NOT EXISTS (SELECT 1 FROM album b WHERE b.artist_id = a.artist_id)",
        "SELECT count(*) FROM artist",
    ];
    let Some((p, db)) = proxy(&script, |c| c.ask.cache_ttl_secs = 0).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    for q in [
        "How many artists are there?",
        "Which artists have no albums?",
    ] {
        let got = c
            .exchange(&query(&format!("-- ask: {q}")), 1)
            .await
            .unwrap();
        assert!(texts(&got, b'E').is_empty(), "{q}: {:?}", texts(&got, b'E'));
    }
    let seen = requests(&p);
    assert_eq!(seen.len(), 2);
    let system = |r: &Request| r.messages[0].content.clone();
    let user = |r: &Request| r.messages[1].content.clone();
    // Every chinook table, the join hints, and the same text for both questions.
    for t in [
        "artist",
        "album",
        "track",
        "invoice_line",
        "playlist_track",
        "employee",
    ] {
        assert!(
            system(&seen[0]).contains(&format!("CREATE TABLE {t} (")),
            "{t}: {}",
            system(&seen[0])
        );
    }
    assert!(system(&seen[0]).contains("Join hints:"));
    assert_eq!(system(&seen[0]), system(&seen[1]));
    // The question's own part names retrieval's tables and ends with the question.
    let second = user(&seen[1]);
    assert!(second.contains("Tables for this question: "), "{second}");
    assert!(!second.contains("Join hints:"), "{second}");
    // The last example before the question has the question's form: no children.
    let examples = second.split("\n\n").next().unwrap_or_default();
    let last_sql = examples
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("SQL: "))
        .unwrap_or_default();
    assert!(last_sql.contains("NOT EXISTS"), "{second}");
    assert!(
        last_sql.contains("FROM artist") && last_sql.contains("FROM album"),
        "{last_sql}"
    );
    // With the whole schema off, only retrieval's tables are shown, best first.
    drop(c);
    let Some((p, db)) = proxy(&script[..1], |c| {
        c.ask.cache_ttl_secs = 0;
        c.retrieval.whole_schema = 0;
        c.retrieval.top_k = 2;
    })
    .await
    else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    c.exchange(&query("-- ask: How many artists are there?"), 1)
        .await
        .unwrap();
    let seen = requests(&p);
    let tables = system(&seen[0]).matches("CREATE TABLE ").count();
    assert_eq!(tables, 2, "{}", system(&seen[0]));
    assert!(user(&seen[0]).contains("Join hints:") || !system(&seen[0]).contains("Join hints:"));
}
