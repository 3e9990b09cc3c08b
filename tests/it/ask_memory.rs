//! What asks remember: follow-ups see the connection's earlier asks, the glossary reaches the
//! prompt, `ask feedback:` is stored (JSONL file and the shared `pgask` schema) and turns good
//! and corrected answers into few-shot examples, the answer cache, and the OpenAI-compatible
//! backend against a stand-in HTTP server.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::ask::{first_column, proxy, texts};
use common::raw::{query, sqlstate, RawClient};
use common::{data, Cluster, Proxy};
use pgask::ask::generate::backend::Backend;
use pgask::config::{HistoryStore, LlmBackend};
use tokio::io::AsyncWriteExt;

/// The prompt (all chat messages) of every generation the scripted backend was asked for.
fn prompts(p: &Proxy) -> Vec<String> {
    match &*p.shared.asker.as_ref().unwrap().backend() {
        Backend::Scripted(s) => s
            .requests()
            .iter()
            .map(|r| {
                r.messages
                    .iter()
                    .map(|m| m.content.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect(),
        _ => vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_ups_glossary_feedback_examples_and_the_answer_cache() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history/asks.jsonl");
    let glossary = dir.path().join("glossary.toml");
    std::fs::write(
        &glossary,
        "[terms]\n\"big spender\" = \"a customer whose invoices total more than 40\"\n",
    )
    .unwrap();
    let (h, g) = (history.clone(), glossary.clone());
    let Some((p, db)) = proxy(
        &[
            "SELECT count(*) FROM customer",
            "SELECT count(*) FROM customer WHERE country = 'USA'",
        ],
        move |c| {
            c.history.file = h;
            c.ask.glossary = g;
        },
    )
    .await
    else {
        return;
    };
    let mut a = RawClient::connect(p.port(), "postgres", &db).await;
    let got = a
        .exchange(&query("-- ask feedback: good"), 1)
        .await
        .unwrap();
    assert_eq!(
        sqlstate(&got).as_deref(),
        Some("55000"),
        "no ask to rate yet"
    );
    let got = a
        .exchange(&query("-- ask: how many customers?"), 1)
        .await
        .unwrap();
    assert_eq!(first_column(&got), ["59"]);

    // Another connection asking the same: answered from the cache, no generation.
    let asked = prompts(&p).len();
    let mut b = RawClient::connect(p.port(), "postgres", &db).await;
    let got = b
        .exchange(&query("-- ask: How many  customers"), 1)
        .await
        .unwrap();
    assert_eq!(first_column(&got), ["59"]);
    assert!(texts(&got, b'N').join("").contains("answer cache"));
    assert_eq!(prompts(&p).len(), asked);

    // A follow-up sees the earlier ask; the glossary term reaches the prompt.
    let got = a
        .exchange(&query("-- ask: now only big spenders in the USA"), 1)
        .await
        .unwrap();
    assert_eq!(first_column(&got), ["13"]);
    let last = prompts(&p).pop().unwrap();
    assert!(
        last.contains("how many customers?") && last.contains("SELECT count(*) FROM customer"),
        "{last}"
    );
    assert!(
        last.contains("a customer whose invoices total more than 40"),
        "{last}"
    );

    let got = a
        .exchange(&query("-- ask feedback: good"), 1)
        .await
        .unwrap();
    assert!(first_column(&got)[0].starts_with("recorded good"));
    let got = a
        .exchange(&query("-- ask feedback: DELETE FROM customer"), 1)
        .await
        .unwrap();
    assert_eq!(sqlstate(&got).as_deref(), Some("42501"));
    let corrected =
        "SELECT count(*) FROM customer WHERE country = 'USA' AND support_rep_id IS NOT NULL";
    let got = a
        .exchange(&query(&format!("-- ask feedback: {corrected};")), 1)
        .await
        .unwrap();
    assert!(first_column(&got)[0].starts_with("recorded corrected"));

    // A new connection asking something similar gets the corrected pair as an example.
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    c.exchange(&query("-- ask: customers in the USA?"), 1)
        .await
        .unwrap();
    let last = prompts(&p).pop().unwrap();
    assert!(last.contains(corrected), "{last}");

    // Everything is in the JSONL history.
    let mut lines = String::new();
    for _ in 0..50 {
        lines = std::fs::read_to_string(&history).unwrap_or_default();
        if lines.matches("\"event\":\"feedback\"").count() == 2
            && lines.matches("\"event\":\"ask\"").count() == 4
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outcomes: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "ask")
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["answered", "cached", "answered", "answered"]);
    let verdicts: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "feedback")
        .map(|e| e["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["good", "corrected"]);
    assert!(events[0]["timings"]["generate"].is_number());
    assert_eq!(events[0]["role"], "postgres");

    // `pgask history` reads the same file back.
    let report = pgask::report::build(&pgask::report::load(&history).unwrap(), 0);
    assert_eq!(
        (report.asks, report.answered, report.cached, report.failed),
        (4, 4, 1, 0)
    );
    assert_eq!(report.days.len(), 1);
    assert_eq!(report.tables.first(), Some(&("customer".to_string(), 4)));
    assert_eq!(report.bad.len(), 1, "{:?}", report.bad);
    assert_eq!(report.bad[0].correction.as_deref(), Some(corrected));
    assert!(report.bad[0].sql.is_some());
}

/// Feedback changes the answer it judges, at once: a bad answer is neither repeated by the
/// connection nor served from the answer cache, and the model writing it again is refused
/// (the next attempt's answer runs); a correction answers the question from then on, in every
/// connection; feedback on a follow-up is recorded with the question it followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_changes_the_answer_it_judges() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("asks.jsonl");
    let h = history.clone();
    let Some((p, db)) = proxy(
        &[
            "SELECT count(*) FROM artist",
            "SELECT count(*) FROM artist",
            "SELECT count(*) FROM album",
            "SELECT count(*) FROM genre",
            "SELECT count(*) FROM genre WHERE name LIKE 'R%'",
            "SELECT count(*) FROM genre WHERE name LIKE 'R%'",
            "SELECT count(*) FROM genre WHERE name ILIKE 'r%'",
            "SELECT nothing FROM nowhere",
        ],
        move |c| {
            c.history.file = h;
            c.ask.max_question_bytes = 300;
        },
    )
    .await
    else {
        return;
    };
    let mut a = RawClient::connect(p.port(), "postgres", &db).await;
    let got = ask(&mut a, "-- ask: How many albums are there?".into()).await;
    assert_eq!(
        first_column(&got),
        ["275"],
        "the script's wrong answer first"
    );
    let got = ask(&mut a, "-- ask feedback: bad: that counts artists".into()).await;
    assert!(first_column(&got)[0].starts_with("recorded bad"), "{got:?}");

    // Asked again: not repeated, not from the cache; the same SQL again is refused.
    let asked = prompts(&p).len();
    let got = ask(&mut a, "-- ask: How many albums are there?".into()).await;
    assert_eq!(first_column(&got), ["347"], "{:?}", texts(&got, b'N'));
    assert_eq!(
        prompts(&p).len(),
        asked + 2,
        "one refused attempt, then the next"
    );

    // Another connection gets the new answer from the cache, and corrects it.
    let mut b = RawClient::connect(p.port(), "postgres", &db).await;
    let got = ask(&mut b, "-- ask: how many albums are there".into()).await;
    assert_eq!(first_column(&got), ["347"]);
    assert!(texts(&got, b'N').join("").contains("answer cache"));
    let corrected = "SELECT count(DISTINCT title) AS albums FROM album";
    let got = ask(&mut b, format!("-- ask feedback: {corrected}")).await;
    assert!(
        first_column(&got)[0].starts_with("recorded corrected"),
        "{got:?}"
    );
    let asked = prompts(&p).len();
    for c in [
        &mut b,
        &mut RawClient::connect(p.port(), "postgres", &db).await,
    ] {
        let got = ask(c, "-- ask: How many albums are there?".into()).await;
        let notices = texts(&got, b'N').join("\n");
        assert!(notices.contains(corrected), "{notices}");
    }
    assert_eq!(
        prompts(&p).len(),
        asked,
        "the correction answers without the model"
    );

    // Feedback on a follow-up keeps the question it followed; a bad follow-up asked again is
    // keyed, shown and followed without the bad answer.
    let got = ask(&mut a, "-- ask: How many genres are there?".into()).await;
    assert_eq!(first_column(&got), ["25"]);
    ask(&mut a, "-- ask: only those starting with R".into()).await;
    ask(&mut a, "-- ask feedback: bad".into()).await;
    let asked = prompts(&p).len();
    let got = ask(&mut a, "-- ask: only those starting with R".into()).await;
    let notices = texts(&got, b'N').join("\n");
    assert!(notices.contains("ILIKE 'r%'"), "{notices}");
    let shown = prompts(&p);
    assert_eq!(
        shown.len(),
        asked + 2,
        "the bad answer again, refused; then the next"
    );
    assert!(
        !shown[asked].contains("LIKE 'R%'"),
        "the bad answer shown to the model"
    );
    ask(&mut a, "-- ask feedback: good".into()).await;

    // After a failed ask there is nothing to rate (not the ask before it); an answer repeated
    // from memory is the last ask again.
    let got = ask(&mut a, "-- ask: What is the meaning of nothing?".into()).await;
    assert!(sqlstate(&got).is_some(), "{got:?}");
    let got = ask(&mut a, "-- ask feedback: bad".into()).await;
    assert_eq!(sqlstate(&got).as_deref(), Some("55000"), "{got:?}");
    let got = ask(&mut a, "-- ask: How many genres are there?".into()).await;
    assert_eq!(first_column(&got), ["25"]);
    let got = ask(
        &mut a,
        "-- ask feedback: SELECT count(*) AS genres FROM genre".into(),
    )
    .await;
    assert_eq!(
        first_column(&got),
        ["recorded corrected for \"How many genres are there?\""]
    );
    // A question refused before the pipeline (too long) leaves nothing to rate either.
    let got = ask(
        &mut a,
        format!("-- ask: how many {}?", "genres ".repeat(60)),
    )
    .await;
    assert_eq!(sqlstate(&got).as_deref(), Some("54000"), "{got:?}");
    let got = ask(&mut a, "-- ask feedback: bad".into()).await;
    assert_eq!(sqlstate(&got).as_deref(), Some("55000"), "{got:?}");

    let mut recorded = String::new();
    for _ in 0..50 {
        recorded = std::fs::read_to_string(&history).unwrap_or_default();
        if recorded.matches("\"event\":\"feedback\"").count() == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let questions: Vec<String> = recorded
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "feedback")
        .map(|e| e["question"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        questions,
        [
            "How many albums are there?",
            "how many albums are there",
            "How many genres are there? \u{2014} only those starting with R",
            "How many genres are there? \u{2014} only those starting with R",
            "How many genres are there?",
        ]
    );
}

/// Only a follow-up is shown the connection's earlier asks, and the same follow-up after
/// another ask is asked afresh, not answered with what it meant before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_follow_ups_see_earlier_asks_and_mean_what_they_follow() {
    let Some((p, db)) = proxy(
        &[
            "SELECT count(*) FROM customer",
            "SELECT name FROM genre",
            "SELECT country, count(*) FROM customer GROUP BY country",
            "SELECT count(*) FROM invoice",
            "SELECT billing_country, count(*) FROM invoice GROUP BY billing_country",
        ],
        |c| c.ask.cache_ttl_secs = 0,
    )
    .await
    else {
        return;
    };
    let mut a = RawClient::connect(p.port(), "postgres", &db).await;
    let mut ask = async |q: &str| {
        let got = a
            .exchange(&query(&format!("-- ask: {q}")), 1)
            .await
            .unwrap();
        assert!(sqlstate(&got).is_none(), "{q}: {:?}", texts(&got, b'E'));
        got
    };
    ask("how many customers?").await;
    ask("List the names of all genres.").await;
    let standalone = prompts(&p).pop().unwrap();
    assert!(!standalone.contains("how many customers?"), "{standalone}");
    ask("by country").await;
    let follow = prompts(&p).pop().unwrap();
    assert!(follow.contains("how many customers?"), "{follow}");
    ask("how many invoices?").await;
    // The same words again, after another ask: generated afresh (the fifth script entry).
    let asked = prompts(&p).len();
    let got = ask("by country").await;
    assert_eq!(prompts(&p).len(), asked + 1);
    assert!(
        texts(&got, b'N').join("").contains("billing_country"),
        "{:?}",
        texts(&got, b'N')
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_history_store_is_shared_by_replicas() {
    let cluster = Cluster::shared();
    let store = cluster.create_db("pgask_history");
    let s1 = store.clone();
    let Some((p, db)) = proxy(&["SELECT count(*) FROM album"], move |c| {
        c.history.store = HistoryStore::Postgres;
        c.history.database = s1;
    })
    .await
    else {
        return;
    };
    let mut a = RawClient::connect(p.port(), "postgres", &db).await;
    a.exchange(&query("-- ask: how many albums"), 1)
        .await
        .unwrap();
    let got = a
        .exchange(&query("-- ask feedback: good"), 1)
        .await
        .unwrap();
    assert!(first_column(&got)[0].starts_with("recorded good"));
    let direct = cluster.client("postgres", &store).await;
    let mut stored = (0i64, 0i64);
    for _ in 0..50 {
        let row = direct
            .query_one(
                "SELECT (SELECT count(*) FROM pgask.asks), (SELECT count(*) FROM pgask.feedback WHERE verdict = 'good' AND sql = 'SELECT count(*) FROM album')",
                &[],
            )
            .await;
        if let Ok(row) = row {
            stored = (row.get(0), row.get(1));
            if stored == (1, 1) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored, (1, 1));

    // A second replica (nothing in its memory) finds the example in the store.
    let s2 = store.clone();
    let Some((p2, _)) = proxy(&["SELECT 1"], move |c| {
        c.history.store = HistoryStore::Postgres;
        c.history.database = s2;
    })
    .await
    else {
        return;
    };
    let mut b = RawClient::connect(p2.port(), "postgres", &db).await;
    b.exchange(&query("-- ask: how many albums are there"), 1)
        .await
        .unwrap();
    let last = prompts(&p2).pop().unwrap();
    assert!(last.contains("SELECT count(*) FROM album"), "{last}");
}

/// A stand-in OpenAI-compatible server: answers every chat completion with `sql`, refusing
/// requests that carry a grammar when `refuse_grammar`; records each request.
async fn fake_llm_server(
    sql: &'static str,
    refuse_grammar: bool,
) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let Some((buf, head_end)) = crate::common::llm_server::read_request(&mut s).await
                else {
                    return;
                };
                let request = String::from_utf8_lossy(&buf).into_owned();
                let body: serde_json::Value = serde_json::from_slice(&buf[head_end..]).unwrap();
                log.lock().unwrap().push(request);
                let (status, reply) = if refuse_grammar && body.get("grammar").is_some() {
                    (
                        "400 Bad Request",
                        serde_json::json!({"error": "unknown field grammar"}),
                    )
                } else {
                    (
                        "200 OK",
                        serde_json::json!({
                            "choices": [{"message": {"role": "assistant", "content": format!("```sql\n{sql}\n```")}, "finish_reason": "stop"}],
                            "usage": {"prompt_tokens": 100, "completion_tokens": 9}
                        }),
                    )
                };
                let text = reply.to_string();
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_backend_sends_the_grammar_and_falls_back_without_it() {
    let cluster = Cluster::shared();
    let Some(db) = data::dataset(cluster, "chinook") else {
        return;
    };
    let Some(embedder) = data::embedder() else {
        return;
    };
    for refuse in [false, true] {
        let (port, seen) = fake_llm_server("SELECT count(*) FROM album", refuse).await;
        let cache = tempfile::tempdir().unwrap();
        let (e, cdir) = (embedder.clone(), cache.path().to_path_buf());
        std::env::set_var("PGASK_TEST_OPENAI_KEY", "sk-test");
        let p = Proxy::start_with(cluster, move |c| {
            c.retrieval.embedder_dir = e;
            c.retrieval.cache_dir = cdir;
            c.llm.backend = LlmBackend::Openai;
            c.llm.api_base = format!("http://127.0.0.1:{port}/v1");
            c.llm.api_model = "sqlcoder".into();
            c.llm.api_key_env = "PGASK_TEST_OPENAI_KEY".into();
        })
        .await;
        let mut a = RawClient::connect(p.port(), "postgres", &db).await;
        for q in ["how many albums", "the number of albums"] {
            let got = a
                .exchange(&query(&format!("-- ask: {q}")), 1)
                .await
                .unwrap();
            assert_eq!(first_column(&got), ["347"], "{:?}", texts(&got, b'E'));
        }
        // Asking the first question again reuses its answer: no request.
        let got = a
            .exchange(&query("-- ask: How many albums?"), 1)
            .await
            .unwrap();
        assert_eq!(first_column(&got), ["347"]);
        let reqs = seen.lock().unwrap().clone();
        let first = &reqs[0];
        assert!(first.starts_with("POST /v1/chat/completions"), "{first}");
        assert!(first
            .to_lowercase()
            .contains("authorization: bearer sk-test"));
        assert!(first.contains("\"grammar\":\"") && first.contains("root ::="));
        assert!(first.contains("\"model\":\"sqlcoder\""));
        if refuse {
            // Refused once with the grammar, asked again without it, and never sent it again.
            assert_eq!(reqs.len(), 3, "{reqs:#?}");
            assert!(!reqs[1].contains("\"grammar\""));
            assert!(!reqs[2].contains("\"grammar\""));
        } else {
            assert_eq!(reqs.len(), 2);
            assert!(reqs[1].contains("\"grammar\""));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_openai_server_is_a_clear_error() {
    let cluster = Cluster::shared();
    let Some(db) = data::dataset(cluster, "chinook") else {
        return;
    };
    let Some(embedder) = data::embedder() else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let cdir = cache.path().to_path_buf();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = Proxy::start_with(cluster, move |c| {
        c.retrieval.embedder_dir = embedder;
        c.retrieval.cache_dir = cdir;
        c.llm.backend = LlmBackend::Openai;
        c.llm.api_base = format!("http://127.0.0.1:{port}/v1");
    })
    .await;
    let mut a = RawClient::connect(p.port(), "postgres", &db).await;
    let got = a
        .exchange(&query("-- ask: how many albums"), 1)
        .await
        .unwrap();
    assert_eq!(sqlstate(&got).as_deref(), Some("58000"));
    assert!(texts(&got, b'E')
        .join("")
        .contains(&format!("127.0.0.1:{port}")));
    let got = a.exchange(&query("SELECT 2"), 1).await.unwrap();
    assert_eq!(first_column(&got), ["2"]);
}

async fn ask(c: &mut RawClient, sql: String) -> Vec<u8> {
    c.exchange(&query(&sql), 1).await.unwrap()
}

/// Few-shot examples stay within what a role may read and whom it trusts: a correction naming
/// `customer` never reaches the prompt of a role that cannot read `customer`, an untrusted
/// role's corrections reach only its own prompts, `bad` feedback is never an example, and
/// `ask examples:` / `ask forget:` list and take back examples (others' only for trusted roles).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_stay_within_the_role_that_may_read_and_trusts_them() {
    let cluster = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("asks.jsonl");
    let h = history.clone();
    let Some((p, db)) = proxy(
        &[
            "SELECT count(*) FROM artist",
            "SELECT email FROM customer",
            "SELECT count(*) FROM album",
        ],
        move |c| {
            c.history.file = h;
            c.ask.feedback_roles = vec!["postgres".into()];
            c.ask.max_attempts = 1;
        },
    )
    .await
    else {
        return;
    };
    // The same grants as `an_ask_cannot_use_tables_the_role_may_not_read`: artist and album.
    cluster.psql_as(
        "postgres",
        &db,
        "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM trust_user; GRANT SELECT ON artist, album TO trust_user",
    );
    let mut admin = RawClient::connect(p.port(), "postgres", &db).await;
    ask(&mut admin, "-- ask: how many artists".into()).await;
    let got = ask(
        &mut admin,
        "-- ask feedback: SELECT count(*) AS artists FROM artist".into(),
    )
    .await;
    assert!(first_column(&got)[0].starts_with("recorded corrected"));
    ask(&mut admin, "-- ask: customer emails".into()).await;
    ask(
        &mut admin,
        "-- ask feedback: SELECT email, phone FROM customer".into(),
    )
    .await;
    ask(&mut admin, "-- ask: how many albums".into()).await;
    ask(&mut admin, "-- ask feedback: bad: wrong table".into()).await;

    let mut clerk = RawClient::connect(p.port(), "trust_user", &db).await;
    ask(&mut clerk, "-- ask: number of artists".into()).await;
    let prompt = prompts(&p).pop().unwrap();
    assert!(
        prompt.contains("count(*) AS artists FROM artist"),
        "{prompt}"
    );
    assert!(
        !prompt.contains("phone") && !prompt.contains("customer"),
        "an example names a table the role cannot read: {prompt}"
    );
    assert!(
        !prompt.contains("how many albums"),
        "bad feedback became an example"
    );
    let got = ask(&mut clerk, "-- ask examples:".into()).await;
    let trusted_ids = first_column(&got);
    assert_eq!(trusted_ids.len(), 1, "{got:?}");

    // The clerk's own correction teaches the clerk, not the trusted role.
    ask(
        &mut clerk,
        "-- ask feedback: SELECT count(DISTINCT name) AS clerk_count FROM artist".into(),
    )
    .await;
    ask(&mut clerk, "-- ask: how many artists are listed".into()).await;
    assert!(prompts(&p).pop().unwrap().contains("clerk_count"));
    ask(&mut admin, "-- ask: count the artists".into()).await;
    assert!(!prompts(&p).pop().unwrap().contains("clerk_count"));

    // Forgetting: not someone else's example without trust; one's own, yes; a trusted role, any.
    let got = ask(&mut clerk, format!("-- ask forget: {}", trusted_ids[0])).await;
    assert_eq!(sqlstate(&got).as_deref(), Some("42704"));
    let got = ask(&mut clerk, "-- ask examples:".into()).await;
    let ids = first_column(&got);
    assert_eq!(ids.len(), 2, "{ids:?}");
    let own = ids.iter().find(|i| **i != trusted_ids[0]).unwrap().clone();
    let got = ask(&mut clerk, format!("-- ask forget: {own}")).await;
    assert!(first_column(&got)[0].starts_with("forgot 1"), "{got:?}");
    let got = ask(&mut admin, format!("-- ask forget: {}", trusted_ids[0])).await;
    assert!(first_column(&got)[0].starts_with("forgot"), "{got:?}");
    let got = ask(&mut clerk, "-- ask examples:".into()).await;
    assert!(first_column(&got).is_empty());

    let mut forgets = 0;
    for _ in 0..50 {
        let lines = std::fs::read_to_string(&history).unwrap_or_default();
        forgets = lines.matches("\"event\":\"forget\"").count();
        if forgets == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(forgets, 2, "forgets are kept in the history file");
}

/// A correction becomes the cached answer to its question: it is planned first, and one that
/// PostgreSQL refuses, or that costs more than `ask.max_cost`, is refused with that error and
/// leaves the answer as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_is_planned_before_it_is_kept() {
    let Some((p, db)) = proxy(&["SELECT count(*) FROM customer"], |c| {
        c.ask.max_cost = 1e6;
    })
    .await
    else {
        return;
    };
    let mut a = RawClient::connect(p.port(), "postgres", &db).await;
    let got = a
        .exchange(&query("-- ask: how many customers?"), 1)
        .await
        .unwrap();
    assert_eq!(first_column(&got), ["59"]);
    for (correction, state) in [
        // The guard passes it; PostgreSQL has no `text > integer`.
        (
            "SELECT count(*) FROM customer WHERE first_name > 5",
            "42883",
        ),
        // Billions of rows: over the cost limit.
        (
            "SELECT count(*) FROM customer, invoice, invoice_line, track",
            "54000",
        ),
    ] {
        let got = a
            .exchange(&query(&format!("-- ask feedback: {correction}")), 1)
            .await
            .unwrap();
        assert_eq!(sqlstate(&got).as_deref(), Some(state), "{correction}");
    }
    // The answer cache still gives the first answer.
    let mut b = RawClient::connect(p.port(), "postgres", &db).await;
    let got = b
        .exchange(&query("-- ask: how many customers?"), 1)
        .await
        .unwrap();
    assert_eq!(first_column(&got), ["59"]);
}
