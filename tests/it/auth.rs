//! Login through pgask: every authentication method relayed without pgask knowing a password,
//! TLS on either side (SSLRequest and PostgreSQL 17 direct TLS with ALPN), `tls.mode = require`,
//! and SCRAM channel binding through a TLS-terminating proxy.

use crate::common;

use std::process::Command;
use std::sync::Arc;

use common::cluster::{make_certs, ALICE_PASSWORD, CLEAR_PASSWORD, MD5_PASSWORD};
use common::raw::{sqlstate, startup_packet};
use common::{Cluster, Proxy};
use pgask::config::{ClientTls, Config, UpstreamTls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn login(proxy: &Proxy, user: &str, password: &str) -> Result<String, tokio_postgres::Error> {
    let client = proxy.connect(user, password, "postgres").await?;
    Ok(client
        .query_one("SELECT current_user::text", &[])
        .await?
        .get(0))
}

#[tokio::test]
async fn every_password_method_is_relayed() {
    let cluster = Cluster::shared();
    let proxy = Proxy::start(cluster).await;
    assert_eq!(
        login(&proxy, "alice", ALICE_PASSWORD).await.unwrap(),
        "alice"
    );
    assert_eq!(
        login(&proxy, "md5_user", MD5_PASSWORD).await.unwrap(),
        "md5_user"
    );
    assert_eq!(
        login(&proxy, "clear_user", CLEAR_PASSWORD).await.unwrap(),
        "clear_user"
    );
    assert_eq!(login(&proxy, "trust_user", "").await.unwrap(), "trust_user");
    let err = login(&proxy, "alice", "wrong").await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD),
        "{err}"
    );
    // The failed login left nothing behind: the proxy still serves.
    assert_eq!(
        login(&proxy, "alice", ALICE_PASSWORD).await.unwrap(),
        "alice"
    );
}

/// pgask with a client-side certificate, in front of the TLS cluster.
async fn tls_proxy(upstream_tls: UpstreamTls, mode: ClientTls) -> (Proxy, tempfile::TempDir) {
    let cluster = Cluster::shared_tls();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = make_certs();
    std::fs::write(dir.path().join("c.crt"), cert).unwrap();
    std::fs::write(dir.path().join("c.key"), key).unwrap();
    let (c, k) = (dir.path().join("c.crt"), dir.path().join("c.key"));
    let proxy = Proxy::start_with(cluster, |cfg: &mut Config| {
        cfg.tls.cert = Some(c);
        cfg.tls.key = Some(k);
        cfg.tls.mode = mode;
        cfg.upstream.tls = upstream_tls;
        cfg.upstream.host = "localhost".into();
        cfg.upstream.ca_file = cluster.ca_file.clone();
    })
    .await;
    (proxy, dir)
}

const TLS_BOTH: &str = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_on_both_sides_with_scram() {
    let (proxy, _dir) = tls_proxy(UpstreamTls::VerifyFull, ClientTls::Require).await;
    let p = proxy.port();
    let (ok, out) = tokio::task::spawn_blocking(move || {
        psql_port(&format!("sslmode=require channel_binding=disable port={p}"))
    })
    .await
    .unwrap();
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "t", "the upstream connection is TLS too");
    // Plain clients are refused with a clear error.
    let (ok, out) =
        tokio::task::spawn_blocking(move || psql_port(&format!("sslmode=disable port={p}")))
            .await
            .unwrap();
    assert!(
        !ok && out.contains("requires an SSL/TLS connection"),
        "{out}"
    );
    // libpq's default channel_binding=prefer announces binding support ("y"): a TLS upstream
    // refuses that, and with verify-full pgask says why instead of hanging.
    let (ok, out) =
        tokio::task::spawn_blocking(move || psql_port(&format!("sslmode=require port={p}")))
            .await
            .unwrap();
    assert!(
        !ok && out.contains("channel binding cannot pass through pgask"),
        "{out}"
    );
    // A client that insists on channel binding is told by its own library that it is not offered.
    let (ok, out) = tokio::task::spawn_blocking(move || {
        psql_port(&format!("sslmode=require channel_binding=require port={p}"))
    })
    .await
    .unwrap();
    assert!(
        !ok && out.to_lowercase().contains("channel binding"),
        "{out}"
    );
    drop(proxy);
}

fn psql_port(conninfo: &str) -> (bool, String) {
    let cluster = Cluster::shared_tls();
    let dsn = format!("host=127.0.0.1 user=alice dbname=postgres {conninfo}");
    let out = Command::new(cluster.bin.join("psql"))
        .args(["-XAtc", TLS_BOTH, &dsn])
        .env("PGPASSWORD", ALICE_PASSWORD)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_binding_falls_back_to_plain_upstream_when_preferred() {
    let (proxy, _dir) = tls_proxy(UpstreamTls::Prefer, ClientTls::Allow).await;
    let p = proxy.port();
    let (ok, out) =
        tokio::task::spawn_blocking(move || psql_port(&format!("sslmode=require port={p}")))
            .await
            .unwrap();
    assert!(ok, "{out}");
    assert_eq!(
        out.trim(),
        "f",
        "the login was replayed over a plain upstream connection"
    );
    let (ok, out) = tokio::task::spawn_blocking(move || {
        psql_port(&format!("sslmode=require channel_binding=disable port={p}"))
    })
    .await
    .unwrap();
    assert!(ok, "{out}");
    assert_eq!(
        out.trim(),
        "t",
        "clients without binding keep a TLS upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_tls_needs_alpn() {
    let (proxy, dir) = tls_proxy(UpstreamTls::Require, ClientTls::Allow).await;
    let _ = dir;
    let connect = |alpn: bool| {
        // pgask's own upstream config in `require` mode: encrypt without checking the certificate.
        let mut config = pgask::net::tls::client_config(UpstreamTls::Require, None).unwrap();
        if alpn {
            config.alpn_protocols = vec![b"postgresql".to_vec()];
        }
        tokio_rustls::TlsConnector::from(Arc::new(config))
    };
    let tcp = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    let mut tls = connect(true)
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .expect("direct TLS handshake");
    tls.write_all(&startup_packet(&[
        ("user", "trust_user"),
        ("database", "postgres"),
    ]))
    .await
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(&[b'Z', 0, 0, 0, 5, b'I']) {
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), tls.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed during login");
        got.extend_from_slice(&buf[..n]);
    }
    // Without ALPN the connection is not served.
    let tcp = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    match connect(false)
        .connect("localhost".try_into().unwrap(), tcp)
        .await
    {
        Err(_) => {}
        Ok(mut tls) => {
            let _ = tls
                .write_all(&startup_packet(&[("user", "trust_user")]))
                .await;
            let mut rest = Vec::new();
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                tls.read_to_end(&mut rest),
            )
            .await;
            assert!(!rest.windows(2).any(|w| w == b"Z\0"), "served without ALPN");
        }
    }
}

#[tokio::test]
async fn ssl_and_gssenc_requests_are_answered_n_without_a_certificate() {
    let cluster = Cluster::shared();
    let proxy = Proxy::start(cluster).await;
    let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(&[0, 0, 0, 8, 4, 210, 22, 48]).await.unwrap(); // GSSENCRequest
    assert_eq!(s.read_u8().await.unwrap(), b'N');
    s.write_all(&[0, 0, 0, 8, 4, 210, 22, 47]).await.unwrap(); // SSLRequest
    assert_eq!(s.read_u8().await.unwrap(), b'N');
    s.write_all(&startup_packet(&[
        ("user", "trust_user"),
        ("database", "nosuchdb"),
    ]))
    .await
    .unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    // The server's own authentication error comes back unchanged.
    assert_eq!(sqlstate(&rest).as_deref(), Some("3D000"));
}
