//! Bad input never takes pgask down: oversized and truncated messages, unknown message types,
//! garbage before startup and a client vanishing mid-COPY each end only their own session, with
//! an ErrorResponse where the client is still there, while a concurrent session keeps working.

use crate::common;

use std::time::Duration;

use common::cluster::ALICE_PASSWORD;
use common::raw::{msg, query, sqlstate, RawClient};
use common::{Cluster, Proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A healthy session opened before the bad input arrives, checked after each case.
async fn bystander(proxy: &Proxy) -> tokio_postgres::Client {
    let client = proxy.alice().await;
    client
}

async fn still_serves(client: &tokio_postgres::Client, what: &str) {
    let n: i32 = client
        .query_one("SELECT 41 + 1", &[])
        .await
        .unwrap_or_else(|e| panic!("bystander broken after {what}: {e}"))
        .get(0);
    assert_eq!(n, 42);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_end_only_their_session() {
    let cluster = Cluster::shared();
    let proxy = Proxy::start_with(cluster, |c| c.max_message_bytes = 1 << 20).await;
    let other = bystander(&proxy).await;

    // A length over max_message_bytes is refused from the header alone.
    let mut c = RawClient::connect(proxy.port(), "trust_user", "postgres").await;
    c.stream.write_all(&[b'Q', 0, 0x20, 0, 0]).await.unwrap();
    let reply = c.read_to_close().await;
    assert_eq!(
        sqlstate(&reply).as_deref(),
        Some("08P01"),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
    assert!(String::from_utf8_lossy(&reply).contains("over the limit"));
    still_serves(&other, "oversized message").await;

    // An impossible length (less than 4).
    let mut c = RawClient::connect(proxy.port(), "trust_user", "postgres").await;
    c.stream.write_all(&[b'Q', 0, 0, 0, 2]).await.unwrap();
    assert_eq!(sqlstate(&c.read_to_close().await).as_deref(), Some("08P01"));
    still_serves(&other, "bad length").await;

    // A truncated frame, then the client hangs up: the session just ends.
    let mut c = RawClient::connect(proxy.port(), "trust_user", "postgres").await;
    c.stream
        .write_all(&[b'Q', 0, 0, 0, 100, b'S', b'E', b'L'])
        .await
        .unwrap();
    c.stream.shutdown().await.unwrap();
    let _ = c.read_to_close().await;
    still_serves(&other, "truncated frame").await;

    // An unknown message type is the server's to refuse, and its error comes back.
    let mut c = RawClient::connect(proxy.port(), "trust_user", "postgres").await;
    let mut bytes = Vec::new();
    msg(&mut bytes, b'y', b"");
    c.stream.write_all(&bytes).await.unwrap();
    let reply = c.read_to_close().await;
    assert_eq!(sqlstate(&reply).as_deref(), Some("08P01"));
    assert!(String::from_utf8_lossy(&reply).contains("invalid frontend message type"));
    still_serves(&other, "unknown message type").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_before_startup_gets_a_protocol_error() {
    let cluster = Cluster::shared();
    let proxy = Proxy::start(cluster).await;
    let other = bystander(&proxy).await;
    for garbage in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0, 0, 0, 9, 0, 2, 0, 0, 0],
        &[0, 0, 0, 8, 0, 3, 0, 0],
        &[0xff; 64],
    ] {
        let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
        s.write_all(garbage).await.unwrap();
        let mut reply = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut reply))
            .await
            .expect("closed promptly")
            .unwrap();
        let code = sqlstate(&reply);
        assert!(
            matches!(code.as_deref(), Some("08P01") | Some("0A000")),
            "{garbage:?} -> {code:?}"
        );
        still_serves(&other, "garbage").await;
    }
    // A client that connects and says nothing is dropped at the login timeout, not kept forever.
    let proxy = Proxy::start_with(cluster, |c| c.login_timeout_secs = 1).await;
    let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut reply))
        .await
        .expect("login timeout closes")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_vanishing_mid_copy_loses_nothing_else() {
    let cluster = Cluster::shared();
    let db = cluster.create_db("midcopy");
    cluster.psql_as(
        "postgres",
        &db,
        "CREATE TABLE target(id int, name text); GRANT ALL ON target TO PUBLIC",
    );
    let proxy = Proxy::start(cluster).await;
    let other = bystander(&proxy).await;
    let mut c = RawClient::connect(proxy.port(), "trust_user", &db).await;
    let mut bytes = query("COPY target FROM STDIN");
    for i in 0..1000 {
        msg(&mut bytes, b'd', format!("{i}\trow {i}\n").as_bytes());
    }
    c.stream.write_all(&bytes).await.unwrap();
    let mut first = [0u8; 1];
    c.stream.read_exact(&mut first).await.unwrap();
    assert_eq!(first[0], b'G', "CopyInResponse");
    drop(c);
    // The server aborts the COPY: no rows land and the backend goes away.
    let mut gone = false;
    for _ in 0..50 {
        let left = cluster.psql_as(
            "postgres",
            &db,
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY target%'",
        );
        if left.trim() == "0" {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the upstream COPY session was not closed");
    assert_eq!(
        cluster
            .psql_as("postgres", &db, "SELECT count(*) FROM target")
            .trim(),
        "0"
    );
    still_serves(&other, "client gone mid-COPY").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_upstream_is_08001_and_too_many_clients_53300() {
    let cluster = Cluster::shared();
    let dead_port = common::cluster::free_port();
    let proxy = Proxy::start_with(cluster, |c| c.upstream.port = dead_port).await;
    let err = tokio_postgres::connect(&proxy.url("alice", "x", "postgres"), tokio_postgres::NoTls)
        .await
        .err()
        .expect("no upstream");
    assert_eq!(err.code().map(|c| c.code()), Some("08001"), "{err}");

    let proxy = Proxy::start_with(cluster, |c| c.max_connections = 1).await;
    let _first = bystander(&proxy).await;
    let err = tokio_postgres::connect(
        &proxy.url("alice", ALICE_PASSWORD, "postgres"),
        tokio_postgres::NoTls,
    )
    .await
    .err()
    .expect("over the cap");
    assert_eq!(err.code().map(|c| c.code()), Some("53300"), "{err}");
    still_serves(&_first, "connection cap").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_dying_mid_query_is_reported() {
    let cluster = Cluster::shared();
    let proxy = Proxy::start(cluster).await;
    let other = bystander(&proxy).await;
    let (victim, conn) = tokio_postgres::connect(
        &proxy.url("alice", ALICE_PASSWORD, "postgres"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    let conn = tokio::spawn(conn);
    let pid: i32 = victim
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let sleeper = tokio::spawn(async move { victim.query_one("SELECT pg_sleep(30)", &[]).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.psql_as(
        "postgres",
        "postgres",
        &format!("SELECT pg_terminate_backend({pid})"),
    );
    let err = tokio::time::timeout(Duration::from_secs(5), sleeper)
        .await
        .expect("no hang")
        .unwrap()
        .unwrap_err();
    let code = err
        .code()
        .map(|c| c.code().to_string())
        .or_else(|| conn.is_finished().then(|| "closed".into()));
    assert!(
        matches!(code.as_deref(), Some("57P01") | Some("closed")),
        "{err} {code:?}"
    );
    still_serves(&other, "upstream backend terminated").await;
}
