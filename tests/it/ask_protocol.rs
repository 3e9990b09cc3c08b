//! Asks in the extended protocol (Parse/Describe/Bind/Execute/Sync, named statements, Flush),
//! the read-only layer with the guard switched off, privileges, client cancel and disconnect
//! during generation: through the proxy with a scripted LLM, so every answer can be asserted.

use crate::common;

use std::time::Duration;

use common::ask::{
    bind, close, column_names, describe, execute, execute_rows, first_column, flush, parse, proxy,
    proxy_with, sync, tags, texts,
};
use common::raw::{messages, query, sqlstate, RawClient};
use common::Cluster;
use pgask::ask::generate::backend::Backend;
use tokio::io::AsyncWriteExt;

const ARTISTS: &str = "SELECT artist_id, name FROM artist ORDER BY artist_id LIMIT 3";

fn scripted_requests(p: &common::Proxy) -> usize {
    match &*p.shared.asker.as_ref().unwrap().backend() {
        Backend::Scripted(s) => s.requests().len(),
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_ask_statement_describes_its_sql_and_runs_like_any_prepared_statement() {
    let Some((p, db)) = proxy(&[ARTISTS], |_| {}).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let prep = [
        parse("s1", "-- ask: the first three artists"),
        describe(b'S', "s1"),
        sync(),
    ]
    .concat();
    let got = c.exchange(&prep, 1).await.unwrap();
    let t = tags(&got);
    assert!(t.contains("1tT") && t.ends_with('Z'), "{t}");
    assert_eq!(column_names(&got), ["artist_id", "name"]);
    assert!(
        texts(&got, b'N').join("\n").contains(ARTISTS),
        "the NOTICE shows the SQL"
    );
    let run = [bind("", "s1"), execute(""), sync()].concat();
    for _ in 0..2 {
        let got = c.exchange(&run, 1).await.unwrap();
        assert_eq!(first_column(&got), ["1", "2", "3"], "{}", tags(&got));
        assert!(texts(&got, b'C').iter().any(|t| t.starts_with("SELECT 3")));
        assert_eq!(messages(&got).last().unwrap().1[5..], *b"I");
    }
    assert_eq!(scripted_requests(&p), 1, "executions do not generate again");
    let got = c
        .exchange(&[close(b'S', "s1"), sync()].concat(), 1)
        .await
        .unwrap();
    assert_eq!(tags(&got), "3Z");
    let got = c.exchange(&run, 1).await.unwrap();
    assert_eq!(
        sqlstate(&got).as_deref(),
        Some("26000"),
        "closed like any statement"
    );
    let got = c.exchange(&query("SELECT 6 * 7"), 1).await.unwrap();
    assert_eq!(first_column(&got), ["42"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unnamed_ask_in_one_batch_and_the_other_directives() {
    let Some((p, db)) = proxy(&[ARTISTS], |c| c.ask.max_rows = 2).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let batch = |sql: &str| {
        [
            parse("", sql),
            bind("", ""),
            describe(b'P', ""),
            execute(""),
            sync(),
        ]
        .concat()
    };
    let got = c
        .exchange(&batch("-- ask: the first artists"), 1)
        .await
        .unwrap();
    assert_eq!(first_column(&got), ["1", "2"], "capped at ask.max_rows");
    let got = c
        .exchange(&batch("-- ask sql: the first artists"), 1)
        .await
        .unwrap();
    assert_eq!(column_names(&got), ["sql"]);
    assert_eq!(first_column(&got), [ARTISTS]);
    let got = c
        .exchange(&batch("-- ask tables: artists and their albums"), 1)
        .await
        .unwrap();
    assert_eq!(column_names(&got), ["table", "score", "reason"]);
    assert!(first_column(&got).iter().any(|t| t == "public.artist"));
    let got = c
        .exchange(&batch("-- ask path: artist -> track"), 1)
        .await
        .unwrap();
    assert_eq!(column_names(&got), ["step", "join"]);
    assert_eq!(first_column(&got), ["1", "2"]);
    let got = c
        .exchange(
            &batch("-- ask explain: SELECT name FROM artist WHERE artist_id > 2 ORDER BY name"),
            1,
        )
        .await
        .unwrap();
    assert_eq!(column_names(&got), ["step", "clause", "meaning"]);
    assert_eq!(first_column(&got), ["1", "2", "3", "4"]);
    let rows = texts(&got, b'D').join("\n");
    assert!(
        rows.contains("from artist") && rows.contains("only rows where artist_id is more than 2"),
        "{rows}"
    );
    // Empty: the connection's last ask.
    let got = c.exchange(&batch("-- ask explain:"), 1).await.unwrap();
    let rows = texts(&got, b'D').join("\n");
    assert!(
        rows.contains("keeps the top 3") && rows.contains("lowest artist_id first"),
        "{rows}"
    );
}

/// The second column of every DataRow.
fn second_column(bytes: &[u8]) -> Vec<String> {
    messages(bytes)
        .into_iter()
        .filter(|(t, _)| *t == b'D')
        .map(|(_, b)| {
            let first = i32::from_be_bytes(b[7..11].try_into().unwrap()) as usize;
            let at = 11 + first;
            let len = i32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
            String::from_utf8_lossy(&b[at + 4..at + 4 + len]).into_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_suggest_gives_questions_whose_sql_runs_over_both_protocols() {
    let Some((p, db)) = proxy(&[ARTISTS], |_| {}).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let got = c.exchange(&query("-- ask suggest:"), 1).await.unwrap();
    assert_eq!(column_names(&got), ["question", "sql"]);
    let questions = first_column(&got);
    let sqls = second_column(&got);
    assert!(questions.len() >= 8, "{questions:?}");
    assert!(
        questions.iter().any(|q| q.starts_with("How many")),
        "{questions:?}"
    );
    for sql in &sqls {
        let ran = c.exchange(&query(sql), 1).await.unwrap();
        assert_eq!(sqlstate(&ran), None, "{sql}");
        assert!(!first_column(&ran).is_empty(), "{sql} gave no rows");
    }
    assert_eq!(scripted_requests(&p), 0, "no model involved");
    let batch = [
        parse("", "-- ask suggest: albums and artists"),
        bind("", ""),
        describe(b'P', ""),
        execute(""),
        sync(),
    ]
    .concat();
    let got = c.exchange(&batch, 1).await.unwrap();
    assert_eq!(column_names(&got), ["question", "sql"]);
    let sqls = second_column(&got);
    assert!(
        sqls.iter().any(|s| s.contains("album")) && sqls.iter().any(|s| s.contains("artist")),
        "{sqls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_suggest_offers_a_role_only_what_it_may_read() {
    let cluster = Cluster::shared();
    let Some((p, db)) = proxy(&[ARTISTS], |_| {}).await else {
        return;
    };
    cluster.psql_as(
        "postgres",
        &db,
        "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM trust_user; \
         GRANT SELECT ON artist, album TO trust_user; \
         GRANT SELECT (track_id, name) ON track TO trust_user",
    );
    let mut c = RawClient::connect(p.port(), "trust_user", &db).await;
    let got = c.exchange(&query("-- ask suggest:"), 1).await.unwrap();
    let sqls = second_column(&got);
    assert!(sqls.iter().any(|s| s.contains("track")), "{sqls:?}");
    for sql in &sqls {
        for hidden in [
            "milliseconds",
            "unit_price",
            "bytes",
            "composer",
            "invoice",
            "customer",
        ] {
            assert!(
                !sql.contains(hidden),
                "{hidden} shown to a role that cannot read it: {sql}"
            );
        }
        let ran = c.exchange(&query(sql), 1).await.unwrap();
        assert_eq!(sqlstate(&ran), None, "{sql}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_explain_over_the_simple_protocol() {
    let Some((p, db)) = proxy(&[ARTISTS], |_| {}).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let got = c.exchange(&query("-- ask explain:"), 1).await.unwrap();
    assert_eq!(sqlstate(&got).as_deref(), Some("55000"), "no ask yet");
    let got = c
        .exchange(
            &query("-- ask explain: SELECT g.name, count(*) FROM track t JOIN genre g ON g.genre_id = t.genre_id GROUP BY g.name"),
            1,
        )
        .await
        .unwrap();
    let rows = texts(&got, b'D').join("\n");
    for needle in [
        "the number of rows",
        "track as t",
        "joined with genre as g",
        "one row per g.name",
    ] {
        assert!(rows.contains(needle), "{needle:?} missing: {rows}");
    }
    let got = c
        .exchange(&query("-- ask explain: DELETE FROM track"), 1)
        .await
        .unwrap();
    assert_eq!(sqlstate(&got).as_deref(), Some("0A000"));
    let got = c
        .exchange(&query("-- ask explain: SELEC 1"), 1)
        .await
        .unwrap();
    assert_eq!(sqlstate(&got).as_deref(), Some("42601"));
    let got = c.exchange(&query("SELECT 6 * 7"), 1).await.unwrap();
    assert_eq!(first_column(&got), ["42"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_ask_before_flush_fails_until_sync_like_a_failed_parse() {
    let Some((p, db)) = proxy(&["SELECT no_such_column FROM artist"], |c| {
        c.ask.max_attempts = 2
    })
    .await
    else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    c.stream
        .write_all(&[parse("", "-- ask: colours"), describe(b'S', ""), flush()].concat())
        .await
        .unwrap();
    // No ReadyForQuery comes before Sync: read the ErrorResponse by sending the rest.
    let got = c
        .exchange(&[bind("", ""), execute(""), sync()].concat(), 1)
        .await
        .unwrap();
    assert_eq!(sqlstate(&got).as_deref(), Some("42703"));
    let t = tags(&got);
    assert!(
        !t.contains('2') && !t.contains('D'),
        "the rest up to Sync is dropped: {t}"
    );
    assert!(t.ends_with('Z') && t.matches('E').count() == 1, "{t}");
    let got = c.exchange(&query("SELECT 1"), 1).await.unwrap();
    assert_eq!(first_column(&got), ["1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extended_ask_inside_a_transaction_leaves_it_as_it_was() {
    let Some((p, db)) = proxy(&["SELECT count(*) FROM genre"], |_| {}).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    c.exchange(
        &query("BEGIN; INSERT INTO genre (genre_id, name) VALUES (9001, 'probe')"),
        1,
    )
    .await
    .unwrap();
    let got = c
        .exchange(
            &[
                parse("", "-- ask: how many genres"),
                bind("", ""),
                execute(""),
                sync(),
            ]
            .concat(),
            1,
        )
        .await
        .unwrap();
    assert_eq!(first_column(&got), ["26"], "sees the transaction's own row");
    assert_eq!(messages(&got).last().unwrap().1[5..], *b"T");
    let got = c
        .exchange(&query("SHOW transaction_read_only"), 1)
        .await
        .unwrap();
    assert_eq!(first_column(&got), ["off"]);
    c.exchange(&query("ROLLBACK"), 1).await.unwrap();
}

/// pgJDBC with autocommit off and a fetch size sends Parse, Bind, Describe and Execute with a
/// row count in one request, then Execute again for more. The portal is bound inside the ask's
/// scope, whose end destroys it, yet every row comes once and the portal then ends, as
/// PostgreSQL would answer, and the transaction goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_portal_is_fetched_in_parts_inside_a_transaction() {
    let Some((p, db)) = proxy(&[ARTISTS], |_| {}).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    c.exchange(&query("BEGIN; CREATE TEMP TABLE kept AS SELECT 7 AS x"), 1)
        .await
        .unwrap();
    let first = [
        parse("S_1", "-- ask: the first three artists"),
        bind("C_1", "S_1"),
        describe(b'P', "C_1"),
        execute_rows("C_1", 2),
        sync(),
    ]
    .concat();
    let more = [execute_rows("C_1", 2), sync()].concat();
    let got = c.exchange(&first, 1).await.unwrap();
    // (The notices show the ask's SQL.)
    assert_eq!(tags(&got).replace('N', ""), "12TDDsZ");
    assert_eq!(second_column(&got), ["AC/DC", "Accept"]);
    let got = c.exchange(&more, 1).await.unwrap();
    assert_eq!(tags(&got), "DCZ");
    assert_eq!(second_column(&got), ["Aerosmith"]);
    assert_eq!(texts(&got, b'C'), ["SELECT 1\0"]);
    let got = c.exchange(&more, 1).await.unwrap();
    assert_eq!(texts(&got, b'C'), ["SELECT 0\0"]);
    assert_eq!(messages(&got).last().unwrap().1[5..], *b"T");
    // Bound again and fetched exactly to its end: suspended, then done.
    let again = [bind("C_1", "S_1"), execute_rows("C_1", 3), sync()].concat();
    assert_eq!(tags(&c.exchange(&again, 1).await.unwrap()), "2DDDsZ");
    let got = c
        .exchange(&[execute_rows("C_1", 3), sync()].concat(), 1)
        .await
        .unwrap();
    assert_eq!(tags(&got), "CZ");
    let got = c.exchange(&query("SELECT x FROM kept"), 1).await.unwrap();
    assert_eq!(first_column(&got), ["7"]);
    c.exchange(&query("COMMIT"), 1).await.unwrap();
    // The transaction ended, and its portals with it.
    let got = c.exchange(&more, 1).await.unwrap();
    assert_eq!(sqlstate(&got).as_deref(), Some("34000"));
}

/// Rows pgask kept for a portal are never served once PostgreSQL no longer has that portal: it
/// was closed and bound again, or its transaction ended. A portal bound in a request of its own
/// (asyncpg) is the server's, fetched and moved by the server; two Executes of one portal in a
/// request each get their rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_rows_are_never_served_for_another_portal_or_transaction() {
    const ALBUMS: &str = "SELECT album_id, title FROM album ORDER BY album_id LIMIT 5";
    let Some((p, db)) = proxy(&[ARTISTS, ALBUMS], |c| c.ask.cache_ttl_secs = 0).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let fetch = |portal: &str, n: u32| [execute_rows(portal, n), sync()].concat();
    c.exchange(&query("BEGIN"), 1).await.unwrap();
    let first = [
        parse("S1", "-- ask: the first three artists"),
        bind("c1", "S1"),
        execute_rows("c1", 1),
        sync(),
    ]
    .concat();
    let got = c.exchange(&first, 1).await.unwrap();
    assert_eq!(second_column(&got), ["AC/DC"]);
    let prepare = [parse("S2", "-- ask: five album titles"), sync()].concat();
    c.exchange(&prepare, 1).await.unwrap();
    // Closed and bound again to the albums: its rows are the albums'.
    let rebind = [
        close(b'P', "c1"),
        bind("c1", "S2"),
        execute_rows("c1", 2),
        sync(),
    ]
    .concat();
    let got = c.exchange(&rebind, 1).await.unwrap();
    assert_eq!(tags(&got).replace('N', ""), "32DDsZ");
    // Statements between fetches that leave portals alone (pgJDBC's autosave releases a
    // savepoint after each) leave the kept rows too.
    c.exchange(
        &query("SAVEPOINT s; RELEASE SAVEPOINT s; CREATE TEMP TABLE t (x int); DELETE FROM t"),
        1,
    )
    .await
    .unwrap();
    let got = c.exchange(&fetch("c1", 2), 1).await.unwrap();
    assert_eq!(
        second_column(&got),
        ["Restless and Wild", "Let There Be Rock"]
    );
    // Fetched, closed and bound again in one request: never the first binding's rows.
    let again = [
        bind("c4", "S1"),
        execute_rows("c4", 1),
        close(b'P', "c4"),
        bind("c4", "S2"),
        sync(),
    ]
    .concat();
    let got = c.exchange(&again, 1).await.unwrap();
    assert_eq!(second_column(&got), ["AC/DC"]);
    let got = c.exchange(&fetch("c4", 2), 1).await.unwrap();
    assert!(!second_column(&got).contains(&"Accept".to_string()));
    // The transaction ended: PostgreSQL has no portal c1 in the next one.
    c.exchange(&query("COMMIT; BEGIN"), 1).await.unwrap();
    let got = c.exchange(&fetch("c1", 2), 1).await.unwrap();
    assert_eq!(sqlstate(&got).as_deref(), Some("34000"));
    c.exchange(&query("ROLLBACK; BEGIN"), 1).await.unwrap();
    // Bound in a request of its own: the server keeps and moves the portal.
    c.exchange(&[bind("c2", "S2"), sync()].concat(), 1)
        .await
        .unwrap();
    let got = c.exchange(&fetch("c2", 2), 1).await.unwrap();
    assert_eq!(tags(&got), "DDsZ");
    let got = c.exchange(&query("MOVE FORWARD 2 IN c2"), 1).await.unwrap();
    assert_eq!(texts(&got, b'C'), ["MOVE 2\0"]);
    let got = c.exchange(&fetch("c2", 5), 1).await.unwrap();
    assert_eq!(second_column(&got), ["Big Ones"]);
    // Two Executes of one portal in one request.
    let twice = [
        bind("c3", "S1"),
        execute_rows("c3", 1),
        execute_rows("c3", 1),
        sync(),
    ]
    .concat();
    let got = c.exchange(&twice, 1).await.unwrap();
    assert_eq!(tags(&got), "2DsDsZ");
    assert_eq!(second_column(&got), ["AC/DC", "Accept"]);
    c.exchange(&query("ROLLBACK"), 1).await.unwrap();
    // A message before the ask failed: PostgreSQL skips the rest up to Sync, and so does pgask.
    let failing = [
        describe(b'S', "nosuch"),
        parse("", "-- ask: the first three artists"),
        bind("", ""),
        execute(""),
        sync(),
    ]
    .concat();
    let got = c.exchange(&failing, 1).await.unwrap();
    assert_eq!(tags(&got), "EZ");
    assert_eq!(sqlstate(&got).as_deref(), Some("26000"));
}

/// A request that executes an ask and also commits, rolls back or releases a savepoint would end
/// the ask's read-only scope, and what follows would run outside it: refused whole, nothing runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_request_that_ends_a_transaction_is_refused_whole() {
    let Some((p, db)) = proxy(&["SELECT count(*) FROM genre"], |_| {}).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let insert = "INSERT INTO genre (genre_id, name) VALUES (9002, 'escaped')";
    let ask_then = |sql: &str| {
        [
            parse("", "-- ask: how many genres"),
            bind("", ""),
            execute(""),
            parse("", sql),
            bind("", ""),
            execute(""),
            parse("", insert),
            bind("", ""),
            execute(""),
            sync(),
        ]
        .concat()
    };
    for status in ["idle", "in a transaction"] {
        if status != "idle" {
            c.exchange(&query("BEGIN"), 1).await.unwrap();
        }
        for control in [
            "COMMIT",
            "ROLLBACK",
            "RELEASE SAVEPOINT s",
            "-- x\rCOMMIT",
            "/* /* */ select */ COMMIT",
            ";/* x */COMMIT",
        ] {
            let got = c.exchange(&ask_then(control), 1).await.unwrap();
            assert_eq!(
                sqlstate(&got).as_deref(),
                Some("0A000"),
                "{control}, {status}"
            );
            assert_eq!(tags(&got), "EZ", "{control}, {status}");
        }
        // A COMMIT prepared earlier under a name is known too.
        c.exchange(&[parse("cm", "COMMIT"), sync()].concat(), 1)
            .await
            .unwrap();
        let named = [
            parse("", "-- ask: how many genres"),
            bind("", ""),
            execute(""),
            bind("", "cm"),
            execute(""),
            sync(),
        ]
        .concat();
        let got = c.exchange(&named, 1).await.unwrap();
        assert_eq!(sqlstate(&got).as_deref(), Some("0A000"), "named, {status}");
        // So is one whose name a failed Parse tried to take, and a portal bound to it before.
        let got = c
            .exchange(&[parse("cm", "SELECT 1"), sync()].concat(), 1)
            .await
            .unwrap();
        assert_eq!(sqlstate(&got).as_deref(), Some("42P05"));
        if status != "idle" {
            c.exchange(&query("ROLLBACK; BEGIN"), 1).await.unwrap();
        }
        let got = c.exchange(&named, 1).await.unwrap();
        assert_eq!(
            sqlstate(&got).as_deref(),
            Some("0A000"),
            "re-parsed, {status}"
        );
        c.exchange(&[bind("pc", "cm"), sync()].concat(), 1)
            .await
            .unwrap();
        let prebound = [
            parse("", "-- ask: how many genres"),
            bind("", ""),
            execute(""),
            execute("pc"),
            parse("", insert),
            bind("", ""),
            execute(""),
            sync(),
        ]
        .concat();
        let got = c.exchange(&prebound, 1).await.unwrap();
        assert_eq!(
            sqlstate(&got).as_deref(),
            Some("0A000"),
            "bound before, {status}"
        );
        // Bound, then its statement closed, within the request: judged as it arrived.
        let closed = [
            parse("", "-- ask: how many genres"),
            bind("pc", "cm"),
            close(b'S', "cm"),
            execute("pc"),
            bind("", ""),
            execute(""),
            parse("", insert),
            bind("", ""),
            execute(""),
            sync(),
        ]
        .concat();
        let got = c.exchange(&closed, 1).await.unwrap();
        assert_eq!(sqlstate(&got).as_deref(), Some("0A000"), "closed, {status}");
        // That Close never reached the server: the statement is still a COMMIT.
        let got = c.exchange(&named, 1).await.unwrap();
        assert_eq!(
            sqlstate(&got).as_deref(),
            Some("0A000"),
            "after a refused Close, {status}"
        );
        c.exchange(&[close(b'S', "cm"), sync()].concat(), 1)
            .await
            .unwrap();
        if status != "idle" {
            let got = c.exchange(&query("ROLLBACK"), 1).await.unwrap();
            assert_eq!(messages(&got).last().unwrap().1[5..], *b"I");
        }
    }
    let got = c
        .exchange(
            &query("SELECT count(*) FROM genre WHERE genre_id = 9002"),
            1,
        )
        .await
        .unwrap();
    assert_eq!(first_column(&got), ["0"]);
}

/// An ask statement prepared before keeps running only inside the read-only scope: executed
/// after unsynced statements of a pipeline (psycopg 3 after an insert), the pipeline fails at it
/// (an Execute of a portal that cannot exist, named for why), and nothing of it is kept; a failed re-Parse of its name does not make
/// it an ordinary statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_ask_never_runs_outside_the_scope() {
    let Some((p, db)) = proxy(&["SELECT count(*) FROM genre"], |_| {}).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    c.exchange(&[parse("a", "-- ask: how many genres"), sync()].concat(), 1)
        .await
        .unwrap();
    let insert = |id: u32| {
        [
            parse(
                "",
                &format!("INSERT INTO genre (genre_id, name) VALUES ({id}, 'x')"),
            ),
            bind("", ""),
            execute(""),
        ]
        .concat()
    };
    let pipeline = [
        insert(9101),
        bind("pa", "a"),
        execute("pa"),
        insert(9102),
        sync(),
    ]
    .concat();
    let got = c.exchange(&pipeline, 1).await.unwrap();
    // The insert's own answers, then the refusal: no answer to a message the client never sent.
    assert_eq!(tags(&got), "12CEZ");
    assert_eq!(sqlstate(&got).as_deref(), Some("34000"));
    assert!(String::from_utf8_lossy(&got).contains("send Sync before it"));
    // PostgreSQL keeps `a` after a failed re-Parse; so does pgask.
    let got = c
        .exchange(&[parse("a", "SELECT 1"), sync()].concat(), 1)
        .await
        .unwrap();
    assert_eq!(sqlstate(&got).as_deref(), Some("42P05"));
    let run = [bind("pa", "a"), execute("pa"), insert(9103), sync()].concat();
    let got = c.exchange(&run, 1).await.unwrap();
    assert_eq!(sqlstate(&got).as_deref(), Some("25006"), "{}", tags(&got));
    let got = c
        .exchange(
            &query("SELECT count(*) FROM genre WHERE genre_id > 9100"),
            1,
        )
        .await
        .unwrap();
    assert_eq!(first_column(&got), ["0"]);
}

/// SQL reaches protocol-level prepared statements by name: `EXECUTE a` or `CREATE TABLE … AS
/// EXECUTE a` would run an ask's SQL outside its read-only scope. They are refused (0A000) in a
/// simple Query and in a Parse; other prepared statements still run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_statement_is_never_run_through_sql() {
    let Some((p, db)) = proxy(&["SELECT count(*) FROM genre"], |_| {}).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    c.exchange(
        &[
            parse("a", "-- ask: how many genres"),
            parse("b", "SELECT 7"),
            sync(),
        ]
        .concat(),
        1,
    )
    .await
    .unwrap();
    for text in [
        "EXECUTE a",
        "execute A;",
        "SELECT 1; /* x */ CREATE TABLE copied AS EXECUTE a",
        "EXPLAIN ANALYZE EXECUTE a",
    ] {
        let got = c.exchange(&query(text), 1).await.unwrap();
        assert_eq!(sqlstate(&got).as_deref(), Some("0A000"), "{text}");
        assert!(String::from_utf8_lossy(&got).contains("\"a\" is an ask's"));
    }
    let got = c
        .exchange(&query("SELECT to_regclass('copied') IS NULL"), 1)
        .await
        .unwrap();
    assert_eq!(first_column(&got), ["t"]);
    // The same through the extended protocol: the Parse fails, the rest is skipped to Sync.
    let got = c
        .exchange(
            &[parse("", "EXECUTE a"), bind("", ""), execute(""), sync()].concat(),
            1,
        )
        .await
        .unwrap();
    assert_eq!(tags(&got), "EZ");
    assert_eq!(sqlstate(&got).as_deref(), Some("0A000"));
    // Everything else runs: another prepared statement, the words in a string.
    let got = c.exchange(&query("EXECUTE b"), 1).await.unwrap();
    assert_eq!(first_column(&got), ["7"]);
    let got = c
        .exchange(&query("SELECT 'EXECUTE a' -- EXECUTE a"), 1)
        .await
        .unwrap();
    assert_eq!(first_column(&got), ["EXECUTE a"]);
}

/// An answer built on a value found by looking in a table with row-level security is not cached
/// for the role: the lookup ran on the asking session (its policies may read its settings, such
/// as a tenant), and the next session of the same role must not be handed SQL carrying what the
/// first one saw. Other answers, also with values found in tables without policies, are cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_with_a_value_found_in_the_data_is_not_cached_for_the_role() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("asks.jsonl");
    let Some((p, _)) = proxy(&["SELECT count(*) FROM album"; 7], move |c| {
        c.history.file = history;
    })
    .await
    else {
        return;
    };
    // A copy of its own: other tests change the shared one's catalog (a grant, a table), and
    // with it the cache's key, and this test turns row-level security on.
    let Some(db) = common::data::private_copy(Cluster::shared(), "chinook", "cache_rls") else {
        return;
    };
    async fn ask(port: u16, db: &str, q: &str) {
        let mut c = RawClient::connect(port, "postgres", db).await;
        let got = c.exchange(&query(q), 1).await.unwrap();
        assert_eq!(sqlstate(&got), None, "{}", String::from_utf8_lossy(&got));
    }
    const AC_DC: &str = "-- ask: how many albums has the artist 'AC/DC'";
    for _ in 0..2 {
        ask(p.port(), &db, "-- ask: how many albums are there").await;
        // Found in artist.name, a table every connection of the role reads alike.
        ask(p.port(), &db, AC_DC).await;
    }
    assert_eq!(
        scripted_requests(&p),
        2,
        "the second session's answers are cached"
    );
    // With row-level security on artist, what a connection finds there is its own.
    Cluster::shared().psql_as(
        "postgres",
        &db,
        "ALTER TABLE artist ENABLE ROW LEVEL SECURITY; CREATE POLICY everyone ON artist USING (true)",
    );
    for _ in 0..2 {
        ask(p.port(), &db, AC_DC).await;
    }
    assert_eq!(
        scripted_requests(&p),
        4,
        "'AC/DC' was found in artist.name on the first session: generated again"
    );
    // Marked good, such an answer is no example for the role's other connections; another is.
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    for (q, private) in [(AC_DC, true), ("-- ask: how many albums are there", false)] {
        c.exchange(&query(q), 1).await.unwrap();
        let got = c
            .exchange(&query("-- ask feedback: good"), 1)
            .await
            .unwrap();
        let said = first_column(&got).join(" ");
        assert_eq!(said.contains("not an example"), private, "{said}");
    }
    // Corrected, likewise (a correction pasted from the NOTICE keeps the value): no example,
    // and not the role's cached answer.
    c.exchange(&query(AC_DC), 1).await.unwrap();
    let got = c
        .exchange(
            &query("-- ask feedback: SELECT count(*) AS n FROM artist WHERE name = 'AC/DC'"),
            1,
        )
        .await
        .unwrap();
    let said = first_column(&got).join(" ");
    assert!(
        said.contains("recorded corrected") && said.contains("not an example"),
        "{said}"
    );
    let mut other = RawClient::connect(p.port(), "postgres", &db).await;
    let got = other.exchange(&query("-- ask examples:"), 1).await.unwrap();
    let listed = String::from_utf8_lossy(&got).into_owned();
    assert!(listed.contains("how many albums are there"), "{listed}");
    assert!(!listed.contains("AC/DC"), "{listed}");
    let asked = scripted_requests(&p);
    let got = other.exchange(&query(AC_DC), 1).await.unwrap();
    assert!(
        !String::from_utf8_lossy(&got).contains("AS n"),
        "the correction was served"
    );
    assert_eq!(scripted_requests(&p), asked + 1, "generated afresh");
}

/// psycopg 3's pipeline mode: an ask on the unnamed statement, then a statement with a
/// parameter on the unnamed statement again. The ask takes no parameter; the next one does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parameter_of_the_next_statement_is_not_the_asks() {
    let Some((p, db)) = proxy(&[ARTISTS], |_| {}).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let mut with_param = Vec::new();
    pgask::net::messages::write_message(&mut with_param, b'P', |b| {
        b.extend_from_slice(b"\0SELECT $1::int\0");
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&23u32.to_be_bytes());
    });
    let mut bound = Vec::new();
    pgask::net::messages::write_message(&mut bound, b'B', |b| {
        b.extend_from_slice(b"\0\0");
        b.extend_from_slice(&0u16.to_be_bytes());
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes());
        b.push(b'5');
        b.extend_from_slice(&0u16.to_be_bytes());
    });
    let request = [
        parse("", "-- ask: the first three artists"),
        bind("", ""),
        execute(""),
        with_param,
        bound,
        execute(""),
        sync(),
    ]
    .concat();
    let got = c.exchange(&request, 1).await.unwrap();
    assert_eq!(sqlstate(&got), None, "{}", tags(&got));
    assert_eq!(first_column(&got), ["1", "2", "3", "5"]);
}

/// pgJDBC with autocommit off puts its BEGIN, and a Close of the last portal, unsynced in front
/// of the next statement. An ask there runs inside the transaction begun; the client gets the
/// answers to the BEGIN and the Close first, and one ReadyForQuery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_right_after_an_unsynced_begin_runs_in_that_transaction() {
    let Some((p, db)) = proxy(&[ARTISTS], |_| {}).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let request = [
        parse("", "BEGIN"),
        bind("", ""),
        execute(""),
        close(b'P', "C_2"),
        parse("", "-- ask: the first three artists"),
        bind("", ""),
        execute(""),
        sync(),
    ]
    .concat();
    let got = c.exchange(&request, 1).await.unwrap();
    assert_eq!(tags(&got).replace('N', ""), "12C312DDDCZ");
    assert_eq!(texts(&got, b'C')[0], "BEGIN\0");
    assert_eq!(second_column(&got), ["AC/DC", "Accept", "Aerosmith"]);
    assert_eq!(messages(&got).last().unwrap().1[5..], *b"T");
    // Still the client's own read-write transaction.
    let got = c
        .exchange(&query("SHOW transaction_read_only"), 1)
        .await
        .unwrap();
    assert_eq!(first_column(&got), ["off"]);
    assert_eq!(messages(&got).last().unwrap().1[5..], *b"T");
    c.exchange(&query("ROLLBACK"), 1).await.unwrap();
    // Anything else unsynced before an ask is still refused like a failing statement.
    let request = [
        parse("", "SELECT 1"),
        bind("", ""),
        execute(""),
        parse("", "-- ask: the first three artists"),
        bind("", ""),
        execute(""),
        sync(),
    ]
    .concat();
    let got = c.exchange(&request, 1).await.unwrap();
    assert_eq!(sqlstate(&got).as_deref(), Some("0A000"));
}

async fn genres(direct: &tokio_postgres::Client) -> (i64, String) {
    let row = direct
        .query_one(
            "SELECT count(*), string_agg(name, ',' ORDER BY genre_id) FROM genre",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// The third layer alone: with the guard off, writes reach the server inside the read-only
/// transaction and are refused there (simple and extended protocol).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_guard_off_the_read_only_transaction_still_refuses_writes() {
    // What each gets: a read-only violation, the statement timeout, or (lo_import, which
    // PostgreSQL 15 allows in a read-only transaction) success that the scope's rollback undoes.
    let writes = [
        (
            "INSERT INTO genre (genre_id, name) VALUES (9002, 'x')",
            Some("25006"),
        ),
        ("DELETE FROM genre", Some("25006")),
        ("UPDATE genre SET name = 'y'", Some("25006")),
        (
            "WITH d AS (DELETE FROM genre RETURNING *) SELECT count(*) FROM d",
            Some("25006"),
        ),
        ("SELECT * FROM genre FOR UPDATE", Some("25006")),
        ("SELECT * INTO genre_copy FROM genre", Some("25006")),
        ("SELECT lo_import('/etc/hosts')", None),
        ("SELECT pg_sleep(60)", Some("57014")),
    ];
    let cluster = Cluster::shared();
    for (sql, want) in writes {
        let Some((p, db)) = proxy(&[sql], |c| {
            c.ask.max_attempts = 1;
            c.ask.statement_timeout_ms = 300;
        })
        .await
        else {
            return;
        };
        p.shared.asker.as_ref().unwrap().disable_guard_for_tests();
        let direct = cluster.client("postgres", &db).await;
        let before = genres(&direct).await;
        let mut c = RawClient::connect(p.port(), "postgres", &db).await;
        let got = c
            .exchange(&query("-- ask: change genres"), 1)
            .await
            .unwrap();
        assert_eq!(sqlstate(&got).as_deref(), want, "{sql}");
        let ext = [
            parse("", "-- ask: change genres again"),
            bind("", ""),
            execute(""),
            sync(),
        ]
        .concat();
        let got = c.exchange(&ext, 1).await.unwrap();
        assert_eq!(sqlstate(&got).as_deref(), want, "{sql}");
        assert_eq!(messages(&got).last().unwrap().1[5..], *b"I");
        assert_eq!(genres(&direct).await, before, "{sql}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_cannot_use_tables_the_role_may_not_read() {
    let cluster = Cluster::shared();
    let Some((p, db)) = proxy(&["SELECT count(*) FROM customer"], |c| {
        c.ask.max_attempts = 1
    })
    .await
    else {
        return;
    };
    cluster.psql_as(
        "postgres",
        &db,
        "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM trust_user; GRANT SELECT ON artist, album TO trust_user",
    );
    let mut c = RawClient::connect(p.port(), "trust_user", &db).await;
    let got = c
        .exchange(&query("-- ask: how many customers"), 1)
        .await
        .unwrap();
    assert_eq!(
        sqlstate(&got).as_deref(),
        Some("42P01"),
        "reported like a missing table"
    );
    if let Backend::Scripted(s) = &*p.shared.asker.as_ref().unwrap().backend() {
        for r in s.requests() {
            for m in &r.messages {
                assert!(
                    !m.content.contains("TABLE customer") && !m.content.contains("customer."),
                    "the prompt shows the unreadable table: {}",
                    m.content
                );
            }
        }
    }
    let got = c
        .exchange(&query("-- ask tables: customers invoices artists"), 1)
        .await
        .unwrap();
    let tables = first_column(&got);
    assert!(
        !tables.is_empty()
            && tables
                .iter()
                .all(|t| t == "public.artist" || t == "public.album"),
        "{tables:?}"
    );
    // The same SQL as the owner works: it was the role, not the SQL.
    let mut owner = RawClient::connect(p.port(), "postgres", &db).await;
    let got = owner
        .exchange(&query("-- ask: how many customers"), 1)
        .await
        .unwrap();
    assert_eq!(first_column(&got), ["59"]);
}

/// Sends the CancelRequest for `c`'s session, with the key pgask gave it at startup.
async fn cancel(c: &RawClient, port: u16) {
    let (_, k) = messages(&c.startup_response)
        .into_iter()
        .find(|(t, _)| *t == b'K')
        .expect("BackendKeyData");
    let key = pgask::net::messages::parse_backend_key_data(&k[5..]).unwrap();
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(&key.cancel_request()).await.unwrap();
}

async fn wait_for_notice(c: &mut RawClient, text: &str) {
    use tokio::io::AsyncReadExt;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(text) {
        let n = tokio::time::timeout(Duration::from_secs(30), c.stream.read(&mut buf))
            .await
            .expect("the notice came")
            .unwrap();
        assert!(n > 0, "closed");
        seen.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_request_stops_an_ask_while_it_generates() {
    let slow = Backend::scripted_slowly([ARTISTS], Duration::from_secs(60));
    let Some((p, db)) = proxy_with(slow, |_| {}).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    c.stream
        .write_all(&query("-- ask: the first artists"))
        .await
        .unwrap();
    wait_for_notice(&mut c, "generating SQL").await;
    cancel(&c, p.port()).await;
    // The 60 s generation is abandoned within 2 s.
    let got = c
        .read_until_ready_within(1, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(sqlstate(&got).as_deref(), Some("57014"));
    assert_eq!(messages(&got).last().unwrap().1[5..], *b"I");
    let got = c.exchange(&query("SELECT 1"), 1).await.unwrap();
    assert_eq!(first_column(&got), ["1"]);
}

/// The server's backend is terminated (pg_terminate_backend) while an ask generates: the
/// client hears PostgreSQL's own FATAL 57P01, as it would without pgask, and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_backend_during_an_ask_reaches_the_client_as_57p01() {
    let slow = Backend::scripted_slowly([ARTISTS], Duration::from_secs(3));
    let Some((p, db)) = proxy_with(slow, |_| {}).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let got = c
        .exchange(&query("SELECT pg_backend_pid()"), 1)
        .await
        .unwrap();
    let pid = first_column(&got).remove(0);
    c.stream
        .write_all(&query("-- ask: the first artists"))
        .await
        .unwrap();
    wait_for_notice(&mut c, "generating SQL").await;
    Cluster::shared().psql_as(
        "postgres",
        "postgres",
        &format!("SELECT pg_terminate_backend({pid})"),
    );
    let got = c.read_to_close().await;
    let codes: Vec<String> = messages(&got)
        .iter()
        .filter(|(t, _)| *t == b'E')
        .filter_map(|(_, m)| sqlstate(m))
        .collect();
    assert_eq!(codes, ["57P01"], "{}", tags(&got));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_mid_generation_ends_its_session() {
    let slow = Backend::scripted_slowly([ARTISTS], Duration::from_secs(60));
    let Some((p, db)) = proxy_with(slow, |_| {}).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    assert_eq!(p.shared.cancels.len(), 1);
    c.stream
        .write_all(&query("-- ask: the first artists"))
        .await
        .unwrap();
    wait_for_notice(&mut c, "generating SQL").await;
    drop(c);
    for _ in 0..100 {
        if p.shared.cancels.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the session (and its generation) outlived the client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_connections_use_the_upstream_tls_settings() {
    use pgask::config::UpstreamTls;
    let cluster = Cluster::shared_tls();
    let Some(db) = common::data::dataset(cluster, "chinook") else {
        return;
    };
    let Some(embedder) = common::data::embedder() else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let cdir = cache.path().to_path_buf();
    let p = common::Proxy::start_with(cluster, |c| {
        c.retrieval.embedder_dir = embedder;
        c.retrieval.cache_dir = cdir;
        c.upstream.tls = UpstreamTls::VerifyFull;
        c.upstream.host = "localhost".into();
        c.upstream.ca_file = cluster.ca_file.clone();
    })
    .await;
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let got = c
        .exchange(&query("-- ask tables: artists"), 1)
        .await
        .unwrap();
    assert!(
        first_column(&got).iter().any(|t| t == "public.artist"),
        "{:?}",
        texts(&got, b'E')
    );
    let direct = cluster.client("postgres", &db).await;
    let ssl: Vec<bool> = direct
        .query(
            "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = 'pgask catalog'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        ssl,
        [true],
        "one catalog connection, kept open and encrypted"
    );
    // A second ask reuses it.
    c.exchange(&query("-- ask tables: albums"), 1)
        .await
        .unwrap();
    let n: i64 = direct
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgask catalog'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_request_stops_an_ask_while_its_query_runs() {
    // Passes the guard, plans at once, and would run for hours.
    let endless = "SELECT count(*) FROM track a, track b, track c, track d";
    let Some((p, db)) = proxy(&[endless], |_| {}).await else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    c.stream
        .write_all(&query("-- ask: count everything"))
        .await
        .unwrap();
    wait_for_notice(&mut c, "generating SQL").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    cancel(&c, p.port()).await;
    let got = c
        .read_until_ready_within(1, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(sqlstate(&got).as_deref(), Some("57014"));
    assert_eq!(messages(&got).last().unwrap().1[5..], *b"I");
    let got = c.exchange(&query("SELECT 1"), 1).await.unwrap();
    assert_eq!(first_column(&got), ["1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswerable_question_is_a_clear_error_and_nothing_runs() {
    let Some((p, db)) = proxy(&["SELECT count(*) FROM artist"], |c| {
        c.llm.min_relevance = 0.99
    })
    .await
    else {
        return;
    };
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let got = c
        .exchange(
            &query("-- ask: what will the weather be in Paris tomorrow"),
            1,
        )
        .await
        .unwrap();
    assert_eq!(sqlstate(&got).as_deref(), Some("42P01"));
    assert!(texts(&got, b'E')
        .join("")
        .contains("does not seem answerable"));
    assert_eq!(scripted_requests(&p), 0, "nothing was generated");
    assert!(!tags(&got).contains('D'));
}

/// An ask pipelined after statements not yet ended by Sync cannot open its read-only
/// transaction inside theirs (and rolling that back would undo the client's writes): the server
/// runs a statement that fails in its place, so the pipeline aborts and skips to Sync exactly as
/// for any failing statement, and the client's earlier write is rolled back, not kept. The
/// messages before the ask reach the server as they arrive (their answers come before Sync).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_inside_an_unsynced_pipeline_fails_like_a_statement() {
    let Some((p, db)) = proxy(&[ARTISTS], |_| {}).await else {
        return;
    };
    let direct = Cluster::shared().client("postgres", &db).await;
    direct
        .batch_execute("CREATE TABLE IF NOT EXISTS pipe_probe (n int); DELETE FROM pipe_probe")
        .await
        .unwrap();
    for (what, ask) in [
        ("simple", query("-- ask: the first three artists")),
        (
            "extended",
            [
                parse("", "-- ask: the first three artists"),
                bind("", ""),
                execute(""),
            ]
            .concat(),
        ),
    ] {
        let mut c = RawClient::connect(p.port(), "postgres", &db).await;
        let head = [
            parse("", "INSERT INTO pipe_probe VALUES (1)"),
            bind("", ""),
            execute(""),
            flush(),
        ]
        .concat();
        c.stream.write_all(&head).await.unwrap();
        let got = c
            .read_until_tag(b'C', Duration::from_secs(5))
            .await
            .expect("the INSERT is answered before any Sync");
        assert!(tags(&got).starts_with("12C"), "{what}: {}", tags(&got));
        let readies = usize::from(what == "simple") + 1;
        let asked_before = scripted_requests(&p);
        let got = c.exchange(&[ask, sync()].concat(), readies).await.unwrap();
        assert_eq!(
            sqlstate(&got).as_deref(),
            Some("0A000"),
            "{what}: {}",
            tags(&got)
        );
        assert!(
            texts(&got, b'E').join(" ").contains("not yet synced"),
            "{what}: {:?}",
            texts(&got, b'E')
        );
        assert_eq!(messages(&got).last().unwrap().1[5..], *b"I");
        assert_eq!(
            scripted_requests(&p),
            asked_before,
            "{what}: the model was asked"
        );
        let n: i64 = direct
            .query_one("SELECT count(*) FROM pipe_probe", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{what}: the pipeline's write was rolled back");
        // The session goes on, and the same ask after Sync is answered.
        let got = c
            .exchange(&query("-- ask: the first three artists"), 1)
            .await
            .unwrap();
        assert_eq!(
            first_column(&got),
            ["1", "2", "3"],
            "{what}: {}",
            tags(&got)
        );
    }
}
