//! CancelRequest through pgask: the client's key (pgask's own) reaches the right upstream
//! backend, and a wrong key is ignored as PostgreSQL ignores it.

use crate::common;

use std::time::{Duration, Instant};

use common::{Cluster, Proxy};
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_cancel_stops_a_long_query_within_two_seconds() {
    let cluster = Cluster::shared();
    let proxy = Proxy::start(cluster).await;
    let client = proxy.alice().await;
    let token = client.cancel_token();
    let started = Instant::now();
    let query = tokio::spawn(async move {
        let r = client.query_one("SELECT pg_sleep(30)", &[]).await;
        (r, client)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    token
        .cancel_query(tokio_postgres::NoTls)
        .await
        .expect("cancel sent");
    let (result, client) = tokio::time::timeout(Duration::from_secs(2), query)
        .await
        .expect("cancelled within 2 s")
        .unwrap();
    let err = result.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::QUERY_CANCELED),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    // The session goes on.
    let n: i32 = client.query_one("SELECT 7", &[]).await.unwrap().get(0);
    assert_eq!(n, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_cancels_nothing() {
    let cluster = Cluster::shared();
    let proxy = Proxy::start(cluster).await;
    let client = proxy.alice().await;
    let pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let query = tokio::spawn(async move {
        let r = client
            .query_one("SELECT pg_sleep(1)", &[])
            .await
            .map(|_| ());
        (r, client)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The right pid (pgask keeps the backend's pid) with a made-up secret.
    let key = pgask::net::startup::CancelKey {
        pid: pid as u32,
        secret: vec![1, 2, 3, 4],
    };
    let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(&key.cancel_request()).await.unwrap();
    let (result, _client) = query.await.unwrap();
    result.expect("the query was not cancelled");
    assert_eq!(proxy.shared.cancels.len(), 1, "one live session registered");
}

/// The client's cancel key from its startup response (BackendKeyData).
fn key_of(c: &common::RawClient) -> pgask::net::startup::CancelKey {
    let (_, k) = common::raw::messages(&c.startup_response)
        .into_iter()
        .find(|(t, _)| *t == b'K')
        .expect("BackendKeyData");
    pgask::net::messages::parse_backend_key_data(&k[5..]).unwrap()
}

/// A cancel for an idle session, sent as libpq sends it: the CancelRequest, then wait until the
/// server side closes the connection, and only then the next statement. PostgreSQL closes once
/// the signal is delivered, so the next statement is never hit; a proxy that closes the client's
/// side before the server has it lets the statement race the signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_is_delivered_before_the_client_sees_it_done() {
    use tokio::io::AsyncReadExt;
    let cluster = Cluster::shared();
    let proxy = Proxy::start(cluster).await;
    for (what, port) in [("direct", cluster.port), ("pgask", proxy.port())] {
        let mut c = common::RawClient::connect(port, "postgres", "postgres").await;
        let key = key_of(&c);
        let mut cancelled = 0;
        let rounds = 40;
        for _ in 0..rounds {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            s.write_all(&key.cancel_request()).await.unwrap();
            let mut sink = Vec::new();
            tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut sink))
                .await
                .expect("the cancel connection is closed within 5 s")
                .unwrap();
            let got = c
                .exchange(&common::raw::query("SELECT pg_sleep(0.02)"), 1)
                .await
                .unwrap();
            cancelled += usize::from(common::raw::sqlstate(&got).as_deref() == Some("57014"));
        }
        assert_eq!(
            cancelled, 0,
            "{what}: {cancelled} of {rounds} statements after an idle cancel were cancelled"
        );
    }
}

/// Terminate after a statement: PostgreSQL reads it once the statement is done, so the client
/// gets the results and then the close; pgask must not close the client first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_waits_for_the_running_statement_like_postgres() {
    let cluster = Cluster::shared();
    let proxy = Proxy::start(cluster).await;
    let mut results = Vec::new();
    for port in [cluster.port, proxy.port()] {
        let mut c = common::RawClient::connect(port, "postgres", "postgres").await;
        let mut bytes = common::raw::query("SELECT pg_sleep(0.5)");
        common::raw::msg(&mut bytes, b'X', &[]);
        let started = Instant::now();
        c.stream.write_all(&bytes).await.unwrap();
        let got = c.read_to_close().await;
        let took = started.elapsed();
        let tags: Vec<u8> = common::raw::messages(&got)
            .iter()
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(
            tags,
            b"TDCZ",
            "port {port}: {:?}",
            String::from_utf8_lossy(&got)
        );
        assert!(took >= Duration::from_millis(450), "closed after {took:?}");
        assert!(took < Duration::from_secs(4), "closed after {took:?}");
        results.push(got);
    }
    assert_eq!(results[0], results[1]);
    // The session is gone from pgask too.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !proxy.shared.cancels.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(proxy.shared.cancels.is_empty(), "the session ended");
}
