//! pgask in front of a server on the same host through its Unix socket (`upstream.host` is the
//! socket directory, as in libpq): statements, cancels and the goodbye work as over TCP, and the
//! server sees a local connection.

use crate::common;

use std::time::{Duration, Instant};

use common::{Cluster, Proxy};
use pgask::config::{Config, UpstreamTls};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_directory_as_upstream_host_relays_statements_and_cancels() {
    let cluster = Cluster::shared();
    let dir = cluster.dir.display().to_string();
    let proxy = Proxy::start_with(cluster, |c| c.upstream.host = dir.clone()).await;
    let client = proxy
        .connect("postgres", "", "postgres")
        .await
        .expect("login through pgask over the socket");
    // A connection over a Unix socket has no server address.
    let row = client
        .query_one("SELECT inet_server_addr() IS NULL, 6 * 7", &[])
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0), "the server saw a TCP connection");
    assert_eq!(row.get::<_, i32>(1), 42);
    // A cancel reaches the backend through the socket too.
    let token = client.cancel_token();
    let query = tokio::spawn(async move {
        let r = client.query_one("SELECT pg_sleep(30)", &[]).await;
        (r, client)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    token
        .cancel_query(tokio_postgres::NoTls)
        .await
        .expect("cancel sent");
    let (result, client) = tokio::time::timeout(Duration::from_secs(3), query)
        .await
        .expect("cancelled within 3 s")
        .unwrap();
    let err = result.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::QUERY_CANCELED),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    let n: i32 = client.query_one("SELECT 7", &[]).await.unwrap().get(0);
    assert_eq!(n, 7);
}

#[tokio::test]
async fn a_missing_socket_is_a_clear_connection_error() {
    let cluster = Cluster::shared();
    let proxy = Proxy::start_with(cluster, |c| {
        c.upstream.host = "/nonexistent-pgask-dir".into();
    })
    .await;
    let err = proxy
        .connect("postgres", "", "postgres")
        .await
        .expect_err("no server there");
    let db = err.as_db_error().expect("an ErrorResponse from pgask");
    assert_eq!(db.code().code(), "08001", "{db:?}");
    assert!(
        db.message()
            .contains(&format!("/nonexistent-pgask-dir/.s.PGSQL.{}", cluster.port)),
        "{}",
        db.message()
    );
}

#[test]
fn tls_cannot_be_required_over_a_socket() {
    let mut c = Config::default();
    c.upstream.host = "/var/run/postgresql".into();
    c.upstream.tls = UpstreamTls::Require;
    let err = c.validate().expect_err("require over a socket");
    assert_eq!(err.0, "upstream.tls");
    c.upstream.tls = UpstreamTls::Prefer;
    c.validate()
        .expect("prefer falls back to plain over a socket");
}

/// pgask's own connections (catalog, history store) follow `upstream.host` too: over the
/// socket with the default `tls = "prefer"` they connect without TLS.
#[tokio::test]
async fn pgasks_own_connections_reach_a_socket_directory_with_tls_prefer() {
    let cluster = Cluster::shared();
    let mut upstream = Config::default().upstream;
    upstream.host = cluster.dir.display().to_string();
    upstream.port = cluster.port;
    assert_eq!(upstream.tls, UpstreamTls::Prefer);
    let mut pg = tokio_postgres::Config::new();
    pg.host(&upstream.host)
        .port(upstream.port)
        .user("postgres")
        .dbname("postgres");
    let client = pgask::net::pg_tls::connect(&pg, &upstream)
        .await
        .expect("connect over the socket");
    let local: bool = client
        .query_one("SELECT inet_server_addr() IS NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert!(local);
}
