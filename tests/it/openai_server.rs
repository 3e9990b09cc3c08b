//! `backend = "openai"` against a real OpenAI-compatible server: llama-cpp-python's, serving the
//! trained Gemma 3 270M on loopback (see `common::llm_server`). Shows that asks are answered
//! through it over both protocols, that the GBNF grammar is sent and honoured (each answer the
//! server finished is accepted by the grammar pgask sent, checked with llama.cpp's own grammar
//! engine), that a refused `grammar` field is retried without it, that the server killed
//! mid-answer gives the client a clear error while passthrough goes on, and that two pgask
//! replicas share the server and the PostgreSQL history store.

use crate::common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::ask::{first_column, texts};
use common::llm_server::{post_json, real_model, LlmServer, Relay};
use common::raw::{messages, query, sqlstate, RawClient};
use common::{data, Cluster, Proxy};
use pgask::ask::generate::llama::matcher::{Matcher, Verdict};
use pgask::config::{HistoryStore, LlmBackend};
use serde_json::json;

/// Sends an ask and reads its answer (generation on 2 cores takes a while).
async fn ask(c: &mut RawClient, text: &str) -> Vec<u8> {
    use tokio::io::AsyncWriteExt;
    c.stream.write_all(&query(text)).await.unwrap();
    c.read_until_ready_within(1, Duration::from_secs(180))
        .await
        .unwrap()
}

/// Corrected answers an operator gave earlier (`ask feedback:`), as the JSONL history file holds
/// them: the few-shot examples the prompt carries. A 270M base model copies their shape; without
/// them it rarely writes a query that plans (measuring that is `pgask eval`'s job, not this
/// test's).
fn seeded_history(db: &str) -> std::path::PathBuf {
    use pgask::ask::history::{Event, FeedbackRecord};
    let dir = tempfile::tempdir().unwrap().keep();
    common::cluster::remove_at_exit(dir.clone());
    let path = dir.join("asks.jsonl");
    let mut lines = String::new();
    for (question, sql) in [
        ("how many albums are there?", "SELECT count(*) FROM album"),
        (
            "how many customers are there?",
            "SELECT count(*) FROM customer",
        ),
        ("list the names of all genres", "SELECT name FROM genre"),
        ("list the titles of all albums", "SELECT title FROM album"),
    ] {
        let fb = FeedbackRecord {
            ask: format!("seed-{}", lines.len()),
            at_ms: 1,
            role: "postgres".into(),
            database: db.into(),
            question: question.into(),
            sql: sql.into(),
            verdict: "corrected".into(),
            note: None,
        };
        lines.push_str(&serde_json::to_string(&Event::Feedback(fb)).unwrap());
        lines.push('\n');
    }
    std::fs::write(&path, lines).unwrap();
    path
}

/// A pgask in front of the shared cluster whose LLM is the server behind `relay`.
async fn replica(relay_port: u16, store: &str, db: &str) -> Option<Proxy> {
    let embedder = data::embedder()?;
    let cache = tempfile::tempdir().unwrap().keep();
    common::cluster::remove_at_exit(cache.clone());
    let store = store.to_string();
    let history = seeded_history(db);
    Some(
        Proxy::start_with(Cluster::shared(), move |c| {
            c.retrieval.embedder_dir = embedder;
            c.retrieval.cache_dir = cache;
            c.llm.backend = LlmBackend::Openai;
            c.llm.api_base = format!("http://127.0.0.1:{relay_port}/v1");
            c.llm.api_timeout_secs = 120;
            c.llm.max_tokens = 64;
            c.llm.temperature = 0.0;
            c.history.store = HistoryStore::Postgres;
            c.history.database = store;
            c.history.file = history;
        })
        .await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_llama_cpp_server_behind_backend_openai() {
    let Some(mut server) = LlmServer::start().await else {
        return;
    };
    let cluster = Cluster::shared();
    let Some(db) = data::dataset(cluster, "chinook") else {
        return;
    };
    let Some(model) = real_model() else {
        return;
    };

    // The server honours `grammar`: only the two strings the grammar allows can come back.
    let direct = post_json(
        server.port,
        "/v1/chat/completions",
        &json!({
            "messages": [{"role": "user", "content": "Write any SQL query."}],
            "max_tokens": 16,
            "temperature": 0,
            "grammar": "root ::= \"SELECT 1\" | \"SELECT 2\"",
        }),
    )
    .await;
    let content = direct
        .pointer("/choices/0/message/content")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    assert!(
        content == "SELECT 1" || content == "SELECT 2",
        "grammar not honoured: {direct}"
    );

    let relay = Relay::start(server.port).await;
    let store = cluster.create_db("llm_history");
    let (Some(p1), Some(p2)) = (
        replica(relay.port, &store, &db).await,
        replica(relay.port, &store, &db).await,
    ) else {
        return;
    };

    // Simple protocol on replica 1.
    let mut a = RawClient::connect(p1.port(), "postgres", &db).await;
    let started = Instant::now();
    // Questions an example answers (the examples only steer the model: the SQL is still
    // generated by the server under the grammar and checked by pgask).
    let got = ask(&mut a, "-- ask: how many albums are there?").await;
    eprintln!("simple ask through the server: {:?}", started.elapsed());
    let tags: String = messages(&got).iter().map(|(t, _)| *t as char).collect();
    assert!(
        sqlstate(&got).is_none()
            && tags.contains("TD")
            && tags.contains('C')
            && tags.ends_with('Z'),
        "simple ask not answered: {tags} {:?} {:?}\nfirst request: {}",
        texts(&got, b'E'),
        texts(&got, b'N'),
        relay
            .bodies()
            .first()
            .map(|b| b.to_string())
            .unwrap_or_default()
    );
    let notice = texts(&got, b'N').join(" ");
    assert!(notice.contains("SELECT"), "{notice}");

    // Extended protocol (tokio-postgres prepares and executes) on replica 2.
    let c2 = p2.connect("postgres", "", &db).await.unwrap();
    let rows = c2
        .query("-- ask: list the names of all genres", &[])
        .await
        .unwrap_or_else(|e| panic!("extended ask not answered: {e:?}"));
    assert!(!rows.is_empty());

    // Every request carried the grammar; every answer the server finished (not cut off by
    // max_tokens) is a sentence of the grammar it was sent with.
    let bodies = relay.bodies();
    let answers = relay.answers();
    assert!(bodies.len() >= 2, "{bodies:#?}");
    assert!(bodies.iter().all(|b| b["grammar"]
        .as_str()
        .is_some_and(|g| g.contains("root ::="))));
    let matcher = Matcher::load(&model).unwrap();
    let mut finished = 0;
    for (body, answer) in bodies.iter().zip(&answers) {
        let choice = &answer["choices"][0];
        if choice["finish_reason"] != "stop" {
            continue;
        }
        let text = choice["message"]["content"].as_str().unwrap();
        let grammar = body["grammar"].as_str().unwrap();
        assert_eq!(
            matcher.check(grammar, text).unwrap(),
            Verdict::Accepted,
            "the server's answer breaks the grammar it was sent: {text}"
        );
        finished += 1;
    }
    assert!(finished >= 1, "no answer ended by itself: {answers:#?}");

    // Both replicas wrote to the shared history store.
    let direct = cluster.client("postgres", &store).await;
    let mut questions = Vec::new();
    for _ in 0..50 {
        questions = direct
            .query("SELECT question FROM pgask.asks ORDER BY at", &[])
            .await
            .map(|rows| rows.iter().map(|r| r.get::<_, String>(0)).collect())
            .unwrap_or_default();
        if questions.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        questions.iter().any(|q| q.contains("albums"))
            && questions.iter().any(|q| q.contains("genres")),
        "{questions:?}"
    );

    // A server that refuses the field: asked again without it, and not sent it again.
    relay.refuse_grammar.store(true, Ordering::Release);
    let Some(p3) = replica(relay.port, &store, &db).await else {
        return;
    };
    let before = relay.bodies().len();
    let mut b = RawClient::connect(p3.port(), "postgres", &db).await;
    let got = ask(&mut b, "-- ask: how many customers are there?").await;
    let sent = relay.bodies()[before..].to_vec();
    assert!(sent.len() >= 2, "{sent:#?}");
    assert!(sent[0].get("grammar").is_some());
    assert!(
        sent[1..].iter().all(|b| b.get("grammar").is_none()),
        "{sent:#?}"
    );
    // Without a grammar the base model may not write valid SQL: rows or a clear error.
    let tags: String = messages(&got).iter().map(|(t, _)| *t as char).collect();
    let answered = sqlstate(&got).is_none() && tags.contains("TD");
    let failed_clearly = sqlstate(&got).is_some() && tags.ends_with('Z');
    assert!(
        answered || failed_clearly,
        "{tags}: {:?}",
        texts(&got, b'E')
    );
    relay.refuse_grammar.store(false, Ordering::Release);

    // The server killed mid-answer: the asking client gets a clear error soon after, and its
    // session and everyone else's passthrough go on.
    let asking = tokio::spawn(async move {
        let got = ask(&mut a, "-- ask: which customers live in Brazil?").await;
        (got, a)
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while !relay.in_flight.load(Ordering::Acquire) {
        assert!(
            Instant::now() < deadline,
            "the ask never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = Instant::now();
    server.kill();
    let (got, mut a) = tokio::time::timeout(Duration::from_secs(30), asking)
        .await
        .expect("the ask ends after the server died")
        .unwrap();
    assert!(killed.elapsed() < Duration::from_secs(30));
    assert_eq!(
        sqlstate(&got).as_deref(),
        Some("58000"),
        "{:?}",
        texts(&got, b'E')
    );
    assert!(
        texts(&got, b'E')
            .join(" ")
            .contains(&relay.port.to_string()),
        "the error names the server: {:?}",
        texts(&got, b'E')
    );
    let got = a.exchange(&query("SELECT 2"), 1).await.unwrap();
    assert_eq!(first_column(&got), ["2"]);
    let other = p2.connect("postgres", "", &db).await.unwrap();
    let n: i64 = other
        .query_one("SELECT count(*) FROM artist", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 275);
}
