//! Asks answered by a trained model on the local llama.cpp path: Gemma 3 270M (base) from
//! `PGASK_REAL_MODEL` (`.ci/fetch-model`; required under `CI=true`, skipped elsewhere when
//! absent), default configuration, over chinook. It asserts what holds for any trained model
//! behind pgask's decoder, not exact SQL: every answer plans and runs, names only real tables
//! and columns, repeats no select item, and easy questions come back with the right rows.

use crate::common;

use std::time::Duration;

use common::ask::{first_column, llama, proxy_with, texts};
use common::llm_server::real_model;
use common::raw::{query, sqlstate, RawClient};
use common::Cluster;
use pgask::ask::pipeline::summary::Summary;

/// Easy questions with their gold SQL (counts, lists, a count per parent row, a named value).
const EASY: &[(&str, &str)] = &[
    ("How many artists are there?", "SELECT count(*) FROM artist"),
    ("How many albums are there?", "SELECT count(*) FROM album"),
    ("List the names of all media types.", "SELECT name FROM media_type"),
    ("List the names of all genres.", "SELECT name FROM genre"),
    (
        "How many albums does each artist have?",
        "SELECT ar.name, count(*) FROM artist ar JOIN album al ON al.artist_id = ar.artist_id GROUP BY ar.artist_id, ar.name",
    ),
    // A value the question names, which the lookup finds in its column.
    (
        "Which customers live in Brazil? Give their first and last names.",
        "SELECT first_name, last_name FROM customer WHERE country = 'Brazil'",
    ),
    (
        "Which tracks did Jimi Hendrix compose?",
        "SELECT name FROM track WHERE composer = 'Jimi Hendrix'",
    ),
];

/// The messages answering `-- ask: question` on `c` (a CPU-bound model may take minutes).
async fn ask(c: &mut RawClient, question: &str) -> Vec<u8> {
    use tokio::io::AsyncWriteExt;
    c.stream
        .write_all(&query(&format!("-- ask: {question}")))
        .await
        .unwrap();
    c.read_until_ready_within(1, Duration::from_secs(180))
        .await
        .unwrap()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemma_answers_easy_questions_with_real_names_and_right_rows() {
    let Some(model) = real_model() else {
        return;
    };
    let Some((p, db)) = proxy_with(llama(model, 4096), |c| {
        c.ask.cache_ttl_secs = 0;
    })
    .await
    else {
        return;
    };
    let direct = Cluster::shared().client("postgres", &db).await;
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let mut right = 0;
    for (question, gold) in EASY {
        let got = ask(&mut c, question).await;
        assert!(
            sqlstate(&got).is_none(),
            "{question}: {:?}",
            texts(&got, b'E')
        );
        let sql = texts(&got, b'N')
            .iter()
            .find_map(|n| {
                n.split('\0')
                    .find_map(|f| f.strip_prefix('M'))
                    .and_then(Summary::parse)
            })
            .map(|s| s.sql)
            .unwrap_or_else(|| panic!("{question}: no summary NOTICE"));
        // No select item twice (aliases aside).
        let list = sql
            .split_once(" FROM ")
            .map_or(sql.as_str(), |(l, _)| l)
            .trim_start_matches("SELECT ");
        let items: Vec<&str> = list
            .split(", ")
            .map(|i| i.split(" AS ").next().unwrap_or(i))
            .collect();
        let mut unique = items.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), items.len(), "{question}: {sql}");
        let want: Vec<String> = direct
            .query(*gold, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| match r.columns()[0].type_().name() {
                "int8" => r.get::<_, i64>(0).to_string(),
                _ => r.get::<_, String>(0),
            })
            .collect();
        let ok = sorted(first_column(&got)) == sorted(want);
        eprintln!(
            "{question} -> {sql} ({})",
            if ok { "right" } else { "wrong" }
        );
        right += usize::from(ok);
    }
    assert!(
        right >= 3,
        "{right} of {} easy questions answered right",
        EASY.len()
    );
}

/// `-- ask suggest:` offers questions the pipeline should answer: a sample of them, asked of
/// Gemma, must plan and run (VA), and the count is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemma_answers_what_ask_suggest_offers() {
    let Some(model) = real_model() else {
        return;
    };
    let Some((p, db)) = proxy_with(llama(model, 4096), |c| {
        c.ask.cache_ttl_secs = 0;
    })
    .await
    else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let got = c.exchange(&query("-- ask suggest:"), 1).await.unwrap();
    let questions = first_column(&got);
    assert!(questions.len() >= 4, "{questions:?}");
    let sample: Vec<&String> = questions
        .iter()
        .step_by(questions.len() / 4)
        .take(4)
        .collect();
    let mut ran = 0;
    for question in &sample {
        let got = ask(&mut c, question).await;
        let ok = sqlstate(&got).is_none();
        eprintln!(
            "suggested: {question} -> {}",
            if ok { "ran" } else { "failed" }
        );
        ran += usize::from(ok);
    }
    eprintln!("suggestions VA: {ran} of {}", sample.len());
    assert!(
        ran >= 3,
        "{ran} of {} suggested questions ran",
        sample.len()
    );
}

/// A value the question writes in lower case, held by a CHECK list ("cancelled"), and a flag it
/// names ("discontinued"): the catalog reads the list as labels, so the answer must filter on
/// them, and where the model ends without the condition pgask writes it. Whatever the model,
/// the counts must be the gold ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemma_filters_on_a_check_list_value_and_a_named_flag() {
    let Some(model) = real_model() else {
        return;
    };
    let Some(embedder) = common::data::embedder() else {
        return;
    };
    let cluster = Cluster::shared();
    let db = cluster.create_db("checks");
    cluster.psql_as(
        "postgres",
        &db,
        "CREATE TABLE orders (order_id int PRIMARY KEY, placed date NOT NULL,
                              status text NOT NULL CHECK (status IN ('pending', 'shipped', 'cancelled')));
         INSERT INTO orders SELECT g, date '2024-01-01' + g,
                (ARRAY['pending', 'shipped', 'cancelled'])[1 + g % 3] FROM generate_series(1, 40) g;
         CREATE TABLE products (product_id int PRIMARY KEY, name text NOT NULL,
                                discontinued boolean NOT NULL DEFAULT false);
         INSERT INTO products SELECT g, 'product ' || g, g % 4 = 0 FROM generate_series(1, 20) g;
         ANALYZE;",
    );
    let cache = tempfile::tempdir().unwrap().keep();
    common::cluster::remove_at_exit(cache.clone());
    let p = common::Proxy::start_with(cluster, |c| {
        c.retrieval.embedder_dir = embedder;
        c.retrieval.cache_dir = cache;
        c.ask.cache_ttl_secs = 0;
    })
    .await;
    p.shared
        .asker
        .as_ref()
        .unwrap()
        .set_backend(llama(model, 4096));
    let direct = cluster.client("postgres", &db).await;
    // One session: the second question is no follow-up, so its prompt shows no earlier ask
    // (Gemma copied the first answer's `FROM orders WHERE status = 'cancelled'` when it did).
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    for (question, gold) in [
        (
            "How many orders were cancelled?",
            "SELECT count(*) FROM orders WHERE status = 'cancelled'",
        ),
        (
            "How many products are discontinued?",
            "SELECT count(*) FROM products WHERE discontinued",
        ),
    ] {
        let got = ask(&mut c, question).await;
        assert!(
            sqlstate(&got).is_none(),
            "{question}: {:?}",
            texts(&got, b'E')
        );
        let want: i64 = direct.query_one(gold, &[]).await.unwrap().get(0);
        assert_eq!(
            first_column(&got),
            vec![want.to_string()],
            "{question}: {:?}",
            texts(&got, b'N')
        );
    }
}
