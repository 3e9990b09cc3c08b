//! CancelRequest through pgask: the client's key (pgask's own) reaches the right upstream
//! backend, and a wrong key is ignored as PostgreSQL ignores it.

mod common;

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
