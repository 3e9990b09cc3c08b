//! The `pgask` binary: `pgask check`, graceful shutdown on SIGTERM, config reload on SIGHUP, and
//! the Prometheus endpoint.

use crate::common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cluster::{free_port, ALICE_PASSWORD};
use common::Cluster;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_pgask");

fn write_config(path: &Path, listen: u16, upstream: u16, extra: &str) {
    std::fs::write(
        path,
        format!("listen_addr = \"127.0.0.1:{listen}\"\nshutdown_grace_secs = 5\n{extra}\n[upstream]\nport = {upstream}\ntls = \"disable\"\n"),
    )
    .unwrap();
}

fn spawn(config: &Path) -> Child {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .stderr(Stdio::null())
        .spawn()
        .expect("start pgask")
}

async fn wait_listening(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("pgask did not start listening on {port}");
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, sig) };
}

async fn connect(port: u16) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let url =
        format!("host=127.0.0.1 port={port} user=alice password={ALICE_PASSWORD} dbname=postgres");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

#[test]
fn check_reports_the_line_of_a_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    write_config(&good, 1, 2, "");
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "listen_addr = \"127.0.0.1:1\"\n\n[upstream]\nport = \"five\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("bad.toml:4:"), "{err}");
    // The repository's own config and examples are valid.
    for f in ["proxy.toml", "config/plain.toml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(f);
        let out = Command::new(BIN)
            .args(["check", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `pgask check --db` plans every metric and dimension of the glossary and prints each that does
/// not plan with its line; one that is not an expression is reported without a database.
#[test]
fn check_plans_the_glossary_metrics_and_names_the_line_of_one_that_does_not_plan() {
    let cluster = Cluster::shared();
    let Some(db) = common::data::dataset(cluster, "chinook") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let glossary = dir.path().join("metrics.toml");
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        format!("[ask]\nglossary = {:?}\n", glossary.display().to_string()),
    )
    .unwrap();
    let conninfo = format!(
        "host=127.0.0.1 port={} user=postgres dbname={db}",
        cluster.port
    );
    let check = |with_db: bool| {
        let mut c = Command::new(BIN);
        c.args(["check", "--config"]).arg(&config);
        if with_db {
            c.args(["--db", &conninfo]);
        }
        c.output().unwrap()
    };
    let good = "[metrics.revenue]\ndescription = \"invoice lines\"\nsql = \"sum(invoice_line.unit_price * invoice_line.quantity)\"\n\n[dimensions.invoice_month]\nsql = \"date_trunc('month', invoice.invoice_date)\"\n";
    std::fs::write(&glossary, good).unwrap();
    let out = check(true);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("2 metrics and dimensions, each plans"),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A column that does not exist, in the `sql` on line 9: only the database can tell.
    let bad = format!("{good}\n[metrics.tracks_sold]\nsql = \"sum(invoice_line.quantiy)\"\n");
    std::fs::write(&glossary, &bad).unwrap();
    assert!(check(false).status.success());
    let out = check(true);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("metrics.toml:9: metric tracks_sold does not plan") && err.contains("42703"),
        "{err}"
    );
    // Not one expression: reported with its line, no database needed.
    std::fs::write(
        &glossary,
        format!("{good}[metrics.x]\nsql = \"sum(invoice_line.quantity) FROM invoice_line\"\n"),
    )
    .unwrap();
    let out = check(false);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("metrics.toml:8: metric x"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_idle_sessions_and_lets_busy_ones_finish() {
    let cluster = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("p.toml");
    write_config(&config, port, cluster.port, "");
    let mut child = spawn(&config);
    wait_listening(port).await;
    let idle = connect(port).await.unwrap();
    let busy = connect(port).await.unwrap();
    let work = tokio::spawn(async move {
        busy.batch_execute("BEGIN").await?;
        busy.query_one("SELECT pg_sleep(1.5)", &[]).await?;
        busy.batch_execute("COMMIT").await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped = Instant::now();
    signal(&child, libc::SIGTERM);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let err = idle.query_one("SELECT 1", &[]).await.unwrap_err();
    assert!(
        err.is_closed() || err.code().map(|c| c.code()) == Some("57P01"),
        "idle session: {err}"
    );
    assert!(
        connect(port).await.is_err(),
        "no new connections after SIGTERM"
    );
    work.await
        .unwrap()
        .expect("the busy session finished its transaction");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "exited before the grace period ran out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_upstream() {
    let cluster = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("p.toml");
    write_config(&config, port, free_port(), "");
    let mut child = spawn(&config);
    wait_listening(port).await;
    let Err(err) = connect(port).await else {
        panic!("upstream is wrong at first")
    };
    assert_eq!(err.code().map(|c| c.code()), Some("08001"), "{err}");
    write_config(&config, port, cluster.port, "");
    signal(&child, libc::SIGHUP);
    let mut ok = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if connect(port).await.is_ok() {
            ok = true;
            break;
        }
    }
    child.kill().unwrap();
    let _ = child.wait();
    assert!(ok, "SIGHUP did not apply the new upstream port");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_counts_sessions_and_messages() {
    let cluster = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let (port, metrics) = (free_port(), free_port());
    let config = dir.path().join("p.toml");
    write_config(
        &config,
        port,
        cluster.port,
        &format!("metrics_addr = \"127.0.0.1:{metrics}\"\nlogin_timeout_secs = 1"),
    );
    let mut child = spawn(&config);
    wait_listening(port).await;
    let client = connect(port).await.unwrap();
    client.simple_query("SELECT 1").await.unwrap();
    drop(client);
    // A connection that never sends its startup packet is closed at the login timeout, and
    // counted.
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), silent.read_to_end(&mut rest))
        .await
        .expect("the silent connection was not closed")
        .unwrap();
    let mut body = String::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        body = scrape(metrics).await;
        if body.contains("type=\"Q\"") && body.contains("login_timeout") {
            break;
        }
    }
    assert!(
        body.contains("pgask_errors_total{kind=\"login_timeout\"} 1"),
        "{body}"
    );
    child.kill().unwrap();
    let _ = child.wait();
    assert!(body.contains("pgask_sessions_total 1"), "{body}");
    assert!(
        body.contains("pgask_messages_total{direction=\"client_to_upstream\",type=\"Q\"} 1"),
        "{body}"
    );
    assert!(body.contains("pgask_upstream_connect_seconds"), "{body}");
}

async fn scrape(port: u16) -> String {
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return String::new();
    };
    let _ = s
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .await;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await;
    out
}

/// A stand-in OpenAI-compatible server that answers by the question: "broken" gets SQL naming a
/// column that does not exist, "slow" a query that runs for minutes, anything else a list of
/// artists. Returns its port and the questions of the requests it received.
async fn routed_llm() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let Some((buf, head_end)) = common::llm_server::read_request(&mut s).await else {
                    return;
                };
                let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
                let sql = if body.contains("broken") {
                    "SELECT nosuch FROM artist"
                } else if body.contains("slow") {
                    "SELECT count(*) FROM track a, track b, track c"
                } else {
                    "SELECT artist_id FROM artist"
                };
                log.lock().unwrap().push(body);
                let reply = serde_json::json!({
                    "choices": [{"message": {"role": "assistant", "content": sql}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 9}
                })
                .to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    (port, seen)
}

/// The issue's own reproduction: after `max_attempts = 1`, `statement_timeout_ms`, `max_rows =
/// 5` and a SIGHUP, the next asks make one attempt, stop at the new timeout and return 5 rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_ask_settings_to_the_next_ask() {
    let cluster = Cluster::shared();
    let Some(db) = common::data::dataset(cluster, "chinook") else {
        return;
    };
    let Some(embedder) = common::data::embedder() else {
        return;
    };
    let (llm, seen) = routed_llm().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("p.toml");
    let write = |ask: &str| {
        write_config(
            &config,
            port,
            cluster.port,
            &format!(
                "[ask]\n{ask}\n[llm]\nbackend = \"openai\"\napi_base = \"http://127.0.0.1:{llm}/v1\"\n\
                 [retrieval]\nembedder_dir = \"{}\"\ncache_dir = \"{}\"\n[history]\nfile = \"\"\n",
                embedder.display(),
                dir.path().join("cache").display()
            ),
        )
    };
    write("cache_ttl_secs = 0");
    let mut child = spawn(&config);
    wait_listening(port).await;
    let mut c = common::raw::RawClient::connect(port, "postgres", &db).await;
    let ask = |q: &str| common::raw::query(&format!("-- ask: {q}"));
    let got = c.exchange(&ask("list the artists"), 1).await.unwrap();
    assert_eq!(common::ask::first_column(&got).len(), 275);
    c.exchange(&ask("broken question one"), 1).await.unwrap();
    let tries = |seen: &std::sync::Mutex<Vec<String>>, q: &str| {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|b| b.contains(q))
            .count()
    };
    assert_eq!(tries(&seen, "broken question one"), 3, "max_attempts = 3");

    write("cache_ttl_secs = 0\nmax_attempts = 1\nmax_rows = 5\nstatement_timeout_ms = 300");
    signal(&child, libc::SIGHUP);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = c.exchange(&ask("list the artists again"), 1).await.unwrap();
    let rows = common::ask::first_column(&got).len();
    c.exchange(&ask("broken question two"), 1).await.unwrap();
    let t = Instant::now();
    let slow =
        tokio::time::timeout(Duration::from_secs(20), c.exchange(&ask("a slow count"), 1)).await;
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(rows, 5, "max_rows = 5 after SIGHUP");
    assert_eq!(
        tries(&seen, "broken question two"),
        1,
        "max_attempts = 1 after SIGHUP"
    );
    let slow = slow.expect("statement_timeout_ms did not apply").unwrap();
    assert_eq!(
        common::raw::sqlstate(&slow).as_deref(),
        Some("57014"),
        "{:?}",
        common::ask::texts(&slow, b'E')
    );
    assert!(t.elapsed() < Duration::from_secs(10));
}
