//! `llm.candidates = k > 1`: k queries per attempt, each run read-only with a small row limit,
//! and the answer is the one whose result most of them share. A scripted LLM (one answer per
//! candidate) makes the vote exact.

use crate::common;

use common::ask::{first_column, proxy, texts};
use common::raw::{query, sqlstate, RawClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_is_the_result_most_candidates_share_not_the_first() {
    let script = [
        "SELECT count(*) FROM album",
        "SELECT count(*) FROM artist",
        "SELECT count(artist_id) FROM artist",
    ];
    let Some((p, db)) = proxy(&script, |c| c.llm.candidates = 3).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let got = c
        .exchange(&query("-- ask: how many artists are there?"), 1)
        .await
        .unwrap();
    assert_eq!(first_column(&got), vec!["275"], "{:?}", texts(&got, b'E'));
    let notices = texts(&got, b'N').join("\n");
    assert!(
        notices.contains("generating 3 candidate queries")
            && notices.contains("2 of 3 candidates agreed"),
        "{notices}"
    );
    // The NOTICE's SQL is the winner (the first of its group), and the trial runs of the
    // other candidates sent the client no rows of their own.
    assert!(
        notices.contains("pgask: SELECT count(*) FROM artist\n"),
        "{notices}"
    );
    assert_eq!(
        texts(&got, b'T').len(),
        1,
        "one RowDescription: only the answer's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_that_fails_is_left_out_and_identical_ones_agree() {
    let script = [
        "SELECT count(*) / 0 FROM artist",
        "SELECT count(*) FROM album",
        "SELECT count(*) FROM album",
    ];
    let Some((p, db)) = proxy(&script, |c| c.llm.candidates = 3).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    // Inside a transaction: the trial runs leave it as it was.
    c.exchange(&query("BEGIN"), 1).await.unwrap();
    let got = c
        .exchange(&query("-- ask: how many albums?"), 1)
        .await
        .unwrap();
    assert_eq!(first_column(&got), vec!["347"], "{:?}", texts(&got, b'E'));
    let notices = texts(&got, b'N').join("\n");
    assert!(notices.contains("2 of 3 candidates agreed"), "{notices}");
    let after = c.exchange(&query("SELECT 1"), 1).await.unwrap();
    assert_eq!(first_column(&after), vec!["1"]);
    c.exchange(&query("COMMIT"), 1).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_candidate_fails_the_next_attempt_is_told_why() {
    // Attempt 1: both fail (one at the guard, one in PostgreSQL); attempt 2 answers.
    let script = [
        "SELECT count(*) FROM artists",
        "SELECT name + 1 FROM artist",
        "SELECT count(*) FROM media_type",
        "SELECT count(*) FROM media_type",
    ];
    let Some((p, db)) = proxy(&script, |c| c.llm.candidates = 2).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let got = c
        .exchange(&query("-- ask: how many media types?"), 1)
        .await
        .unwrap();
    assert_eq!(first_column(&got), vec!["5"], "{:?}", texts(&got, b'E'));
    let notices = texts(&got, b'N').join("\n");
    assert!(
        notices.contains("attempts: 2 (2 of 2 candidates agreed)"),
        "{notices}"
    );
    // `ask sql:` votes as well, and only plans the winner.
    let script_sql = c
        .exchange(&query("-- ask sql: how many media types are there?"), 1)
        .await
        .unwrap();
    assert!(
        sqlstate(&script_sql).is_none(),
        "{:?}",
        texts(&script_sql, b'E')
    );
}

/// Candidates that disagree leave other readings: the NOTICE lists them with a HINT, and
/// `-- ask: #2` runs the second without the model, over both protocols.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_readings_are_listed_and_hash_two_runs_the_second() {
    use common::ask::{bind, describe, execute, parse, sync};
    let script = [
        "SELECT count(*) FROM artist",
        "SELECT count(*) FROM album",
        "SELECT count(artist_id) FROM artist",
    ];
    let Some((p, db)) = proxy(&script, |c| c.llm.candidates = 3).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    // No ask yet: nothing to pick from (and `#…` never goes to the model).
    let early = c.exchange(&query("-- ask: #2"), 1).await.unwrap();
    assert_eq!(sqlstate(&early).as_deref(), Some("55000"));
    let got = c
        .exchange(&query("-- ask: how many artists are there?"), 1)
        .await
        .unwrap();
    assert_eq!(first_column(&got), vec!["275"], "{:?}", texts(&got, b'E'));
    for bad in ["-- ask: #0", "-- ask: # 3", "-- ask: #99999999999999999999"] {
        let got = c.exchange(&query(bad), 1).await.unwrap();
        assert_eq!(sqlstate(&got).as_deref(), Some("22023"), "{bad}");
    }
    let notices = texts(&got, b'N').join("\n");
    assert!(
        notices.contains("2 of 3 candidates agreed on the result; other readings:")
            && notices.contains("#2 (1 candidate): SELECT count(*) FROM album")
            && notices.contains("-- ask: #2 runs the second reading"),
        "{notices}"
    );
    let second = c.exchange(&query("-- ask: #2"), 1).await.unwrap();
    assert_eq!(
        first_column(&second),
        vec!["347"],
        "{:?}",
        texts(&second, b'E')
    );
    assert!(
        texts(&second, b'N')
            .join("\n")
            .contains("reading #2 of the last ask"),
        "{:?}",
        texts(&second, b'N')
    );
    let none = c.exchange(&query("-- ask: #3"), 1).await.unwrap();
    assert_eq!(sqlstate(&none).as_deref(), Some("22023"));
    let batch = [
        parse("", "-- ask: #1"),
        bind("", ""),
        describe(b'P', ""),
        execute(""),
        sync(),
    ]
    .concat();
    let first = c.exchange(&batch, 1).await.unwrap();
    assert_eq!(
        first_column(&first),
        vec!["275"],
        "{:?}",
        texts(&first, b'E')
    );
}

/// When no two candidates agree, no reading stands out: the answer is the readings, not rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_agreement_the_answer_lists_the_readings() {
    use common::ask::column_names;
    let script = [
        "SELECT count(*) FROM artist",
        "SELECT count(*) FROM album",
        "SELECT count(*) FROM genre",
    ];
    let Some((p, db)) = proxy(&script, |c| c.llm.candidates = 3).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let got = c
        .exchange(&query("-- ask: how many of them are there?"), 1)
        .await
        .unwrap();
    assert_eq!(column_names(&got), ["reading", "candidates", "sql"]);
    assert_eq!(first_column(&got), ["#1", "#2", "#3"]);
    let notices = texts(&got, b'N').join("\n");
    assert!(notices.contains("no reading stands out"), "{notices}");
    let third = c.exchange(&query("-- ask: #3"), 1).await.unwrap();
    assert_eq!(
        first_column(&third),
        vec!["25"],
        "{:?}",
        texts(&third, b'E')
    );
}
