//! The ask path against hostile or unusual input: questions from a client in another encoding,
//! questions far too long, asks during COPY IN. Each gets a clear ErrorResponse (or PostgreSQL's
//! own answer) and the session carries on.

use crate::common;

use std::time::Duration;

use common::ask::{first_column, llama, proxy, sync, texts};
use common::raw::{messages, query, sqlstate, RawClient};

/// A simple Query carrying raw bytes (not necessarily UTF-8).
fn query_bytes(text: &[u8]) -> Vec<u8> {
    let mut body = text.to_vec();
    body.push(0);
    let mut out = vec![b'Q'];
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// A Parse of the unnamed statement carrying raw bytes.
fn parse_bytes(text: &[u8]) -> Vec<u8> {
    let mut body = vec![0u8];
    body.extend_from_slice(text);
    body.extend_from_slice(&[0, 0, 0]);
    let mut out = vec![b'P'];
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_from_a_latin1_client_is_refused_in_words_not_dropped() {
    let Some((p, db)) = proxy(
        &["SELECT count(*) FROM customer WHERE city = 'São Paulo'"],
        |_| {},
    )
    .await
    else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    c.exchange(&query("SET client_encoding = 'LATIN1'"), 1)
        .await
        .unwrap();
    // "São Paulo" in LATIN1: 0xE3 is not UTF-8.
    let question = b"-- ask: how many customers live in S\xe3o Paulo?";
    let got = c.exchange(&query_bytes(question), 1).await.unwrap();
    assert_eq!(sqlstate(&got).as_deref(), Some("22021"), "{got:?}");
    let text = texts(&got, b'E').join(" ");
    assert!(text.contains("LATIN1") && text.contains("UTF8"), "{text}");
    assert!(
        !messages(&got).iter().any(|(t, _)| *t == b'I'),
        "not an empty query"
    );
    // The same over the extended protocol.
    let mut ext = parse_bytes(question);
    ext.extend(sync());
    let got = c.exchange(&ext, 1).await.unwrap();
    assert_eq!(sqlstate(&got).as_deref(), Some("22021"), "{got:?}");
    // Back in UTF-8 the question is answered.
    c.exchange(&query("SET client_encoding = 'UTF8'"), 1)
        .await
        .unwrap();
    let got = c
        .exchange(&query("-- ask: how many customers live in São Paulo?"), 1)
        .await
        .unwrap();
    assert_eq!(first_column(&got), ["2"], "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_over_the_size_cap_is_refused_before_anything_else() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("asks.jsonl");
    let h = history.clone();
    let Some((p, db)) = proxy(&["SELECT count(*) FROM artist"], move |c| {
        c.history.file = h;
        c.ask.max_question_bytes = 1000;
    })
    .await
    else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let long = format!("-- ask: how many artists {}", "and more ".repeat(100_000));
    let got = c.exchange(&query(&long), 1).await.unwrap();
    assert_eq!(sqlstate(&got).as_deref(), Some("54000"), "{got:?}");
    assert!(texts(&got, b'E').join(" ").contains("max_question_bytes"));
    let got = c
        .exchange(&query("-- ask: how many artists"), 1)
        .await
        .unwrap();
    assert_eq!(first_column(&got), ["275"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let written = std::fs::read_to_string(&history).unwrap_or_default();
    assert!(
        written.len() < 10_000 && !written.contains("and more and more"),
        "the refused question reached the history ({} bytes)",
        written.len()
    );
}

/// During COPY FROM STDIN nothing is an ask: a Query there is the protocol violation PostgreSQL
/// answers itself (08P01, then it closes), and the session and its backend end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_during_copy_in_gets_postgres_own_answer_and_the_session_ends() {
    let cluster = common::Cluster::shared();
    let Some((p, db)) = proxy(&["SELECT count(*) FROM artist"], |_| {}).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    c.exchange(&query("CREATE TEMP TABLE copy_ask_probe(x int)"), 1)
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    c.stream
        .write_all(&query("COPY copy_ask_probe FROM STDIN"))
        .await
        .unwrap();
    let mut first = [0u8; 1];
    c.stream.read_exact(&mut first).await.unwrap();
    assert_eq!(first[0], b'G', "CopyInResponse");
    let mut rest = [0u8; 4];
    c.stream.read_exact(&mut rest).await.unwrap();
    let len = u32::from_be_bytes(rest) as usize - 4;
    let mut body = vec![0u8; len];
    c.stream.read_exact(&mut body).await.unwrap();
    // Directly, PostgreSQL answers 08P01 and closes the connection (synchronization lost).
    c.stream
        .write_all(&query("-- ask: how many artists"))
        .await
        .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), c.stream.read_to_end(&mut got))
        .await
        .expect("no answer to a Query during COPY IN")
        .unwrap();
    assert_eq!(sqlstate(&got).as_deref(), Some("08P01"), "{got:?}");
    drop(c);
    let mut left = String::new();
    for _ in 0..100 {
        left = cluster.psql_as(
            "postgres",
            &db,
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY copy_ask_probe%' OR query LIKE '-- ask: how many artists%'",
        );
        if left.trim() == "0" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        left.trim(),
        "0",
        "the session's backend outlived its client"
    );
}

/// Each way the model side fails has its own SQLSTATE and words: a missing model points at
/// `pgask models fetch` (58P01); a prompt that does not fit the context is a limit (54000) and
/// says which setting to change, not that a model is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_failures_each_have_their_own_error() {
    use pgask::ask::generate::tiny::Shape;
    let Some(model) = common::data::model("llama-spm", Shape::TINY, 7) else {
        return;
    };
    let missing = tempfile::tempdir().unwrap().path().join("none.gguf");
    let Some((p, db)) =
        common::ask::proxy_with(llama(missing, 4096), |c| c.ask.max_attempts = 1).await
    else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let got = c
        .exchange(&query("-- ask: how many artists"), 1)
        .await
        .unwrap();
    assert_eq!(sqlstate(&got).as_deref(), Some("58P01"), "{got:?}");
    assert!(texts(&got, b'E').join(" ").contains("models fetch"));

    // A context of 256 tokens cannot hold the schema prompt.
    p.shared
        .asker
        .as_ref()
        .unwrap()
        .set_backend(llama(model, 256));
    let got = c
        .exchange(&query("-- ask: how many artists"), 1)
        .await
        .unwrap();
    let words = texts(&got, b'E').join(" ");
    assert_eq!(sqlstate(&got).as_deref(), Some("54000"), "{words}");
    assert!(
        words.contains("llm.context") && !words.contains("models fetch"),
        "{words}"
    );
}

/// An ask that the model does not answer in `llm.timeout_secs` fails with 57014 naming the
/// setting; asks beyond `llm.max_queue` are refused at once with 53300; the ones that wait are
/// told their place and are answered in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_models_time_out_and_the_queue_is_bounded() {
    use pgask::ask::generate::backend::Backend;
    use tokio::io::AsyncWriteExt;
    let slow = Backend::scripted_slowly(["SELECT count(*) FROM artist"], Duration::from_secs(3));
    let Some((p, db)) = common::ask::proxy_with(slow, |c| {
        c.llm.timeout_secs = 1;
        c.llm.max_queue = 1;
        c.ask.cache_ttl_secs = 0;
    })
    .await
    else {
        return;
    };
    let mut a = RawClient::connect(p.port(), "postgres", &db).await;
    let t = std::time::Instant::now();
    let got = a
        .exchange(&query("-- ask: how many artists"), 1)
        .await
        .unwrap();
    assert_eq!(sqlstate(&got).as_deref(), Some("57014"), "{got:?}");
    assert!(texts(&got, b'E').join(" ").contains("llm.timeout_secs"));
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );

    // Now with time enough: one generates, one waits (and is told), the third is refused.
    let asker = p.shared.asker.as_ref().unwrap();
    asker.set_backend(Backend::scripted_slowly(
        ["SELECT count(*) FROM artist"],
        Duration::from_millis(1500),
    ));
    let mut next = (**p.shared.config.load()).clone();
    next.llm.timeout_secs = 30;
    asker.reload(&next);
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(RawClient::connect(p.port(), "postgres", &db).await);
    }
    for (i, c) in clients.iter_mut().enumerate() {
        c.stream
            .write_all(&query(&format!("-- ask: how many artists {i}")))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut states = Vec::new();
    let mut waited = 0;
    for c in clients.iter_mut() {
        let got = c
            .read_until_ready_within(1, Duration::from_secs(30))
            .await
            .unwrap();
        states.push(sqlstate(&got));
        if texts(&got, b'N').join(" ").contains("1 ask ahead") {
            waited += 1;
        }
    }
    assert_eq!(
        states,
        [None, None, Some("53300".to_string())],
        "{states:?}"
    );
    assert_eq!(waited, 1, "the second ask hears its place");
}

/// An index build in one database does not hold up asks in another: while a database of 1000
/// tables is being indexed, an ask in chinook (already indexed) is answered before that build
/// ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_build_blocks_only_its_own_database() {
    use pgask::ask::generate::backend::Backend;
    use tokio::io::AsyncWriteExt;
    let cluster = common::Cluster::shared();
    let big = cluster.create_db("wide");
    let mut ddl = String::new();
    for i in 0..1000 {
        ddl.push_str(&format!(
            "CREATE TABLE ledger_{i} (id int PRIMARY KEY, amount_{i} numeric, note_{i} text); \
             COMMENT ON TABLE ledger_{i} IS 'ledger number {i} of branch {}';",
            i * 7919 % 1000
        ));
    }
    cluster.psql_as("postgres", &big, &ddl);
    let slow = Backend::scripted_slowly(["SELECT 1"], Duration::from_millis(200));
    let Some((p, db)) = proxy(&["SELECT count(*) FROM artist"], |_| {}).await else {
        return;
    };
    p.shared.asker.as_ref().unwrap().set_backend(slow);
    // chinook is indexed before the race starts.
    let mut warm = RawClient::connect(p.port(), "postgres", &db).await;
    warm.exchange(&query("-- ask tables: artists"), 1)
        .await
        .unwrap();
    let mut wide = RawClient::connect(p.port(), "postgres", &big).await;
    let mut small = RawClient::connect(p.port(), "postgres", &db).await;
    let start = std::time::Instant::now();
    wide.stream
        .write_all(&query("-- ask tables: total amount of ledger 5"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let small_done = tokio::spawn(async move {
        small
            .exchange(&query("-- ask: how many artists"), 1)
            .await
            .unwrap();
        std::time::Instant::now()
    });
    // `ask tables:` answers as soon as the big database's index is built.
    wide.read_until_ready_within(1, Duration::from_secs(300))
        .await
        .unwrap();
    let built = std::time::Instant::now();
    let small_done = small_done.await.unwrap();
    eprintln!(
        "chinook answered after {:?}; the other build ended after {:?}",
        small_done - start,
        built - start
    );
    assert!(
        small_done < built,
        "the chinook ask waited for the other database's index build: chinook answered after {:?}, the build ended after {:?}",
        small_done - start,
        built - start
    );
}

/// A client that stops reading its rows does not hold the model: the next ask in another
/// session is answered while the first one's rows wait in the socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_does_not_hold_the_model() {
    use tokio::io::AsyncWriteExt;
    let Some((p, db)) = proxy(
        &[
            "SELECT a.name, b.name FROM track a, track b",
            "SELECT count(*) FROM artist",
        ],
        |c| {
            c.ask.max_rows = 1_000_000;
            c.ask.cache_ttl_secs = 0;
        },
    )
    .await
    else {
        return;
    };
    let mut stalled = RawClient::connect(p.port(), "postgres", &db).await;
    stalled
        .stream
        .write_all(&query("-- ask: every pair of tracks"))
        .await
        .unwrap();
    // Its rows fill the socket buffers; it never reads them.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut other = RawClient::connect(p.port(), "postgres", &db).await;
    let got = tokio::time::timeout(
        Duration::from_secs(20),
        other.exchange(&query("-- ask: how many artists"), 1),
    )
    .await
    .expect("the second ask waited for a client that does not read")
    .unwrap();
    assert_eq!(first_column(&got), ["275"]);
}
