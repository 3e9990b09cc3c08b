//! `pgask demo` as a newcomer runs it: started in the background, psql connects to the address
//! it prints, a normal query and an `-- ask sql:` succeed, and SIGINT stops it, leaving no
//! cluster and no temp dir behind.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::cluster::pg_bin_dir;
use common::data;
use pgask::ask::generate::tiny::Shape;

/// Reads the demo's stdout on a thread and hands each line over.
fn lines(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            eprintln!("demo> {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Sends SIGINT to the demo if an assertion fails before the test does, so its cluster and
/// temp dir go away even then.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
            let _ = self.0.wait();
        }
    }
}

fn psql(conn: &str, sql: &str) -> std::process::Output {
    Command::new(pg_bin_dir().join("psql"))
        .args([conn, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGSSLMODE", "disable")
        .output()
        .expect("psql")
}

#[test]
fn demo_serves_queries_and_asks_and_cleans_up_on_sigint() {
    let (Some(embedder), Some(model)) =
        (data::embedder(), data::model("llama-spm", Shape::TINY, 7))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = data::config_file(
        dir.path(),
        &embedder,
        Some(&model),
        "listen_addr = \"127.0.0.1:0\"",
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgask"));
    // CI's PGASK_* variables would override the config file.
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PGASK_")) {
        cmd.env_remove(k);
    }
    let mut child = cmd
        .arg("--config")
        .arg(&config)
        .args(["demo", "--no-fetch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start pgask demo");
    let rx = lines(child.stdout.take().unwrap());
    let mut child = KillOnDrop(child);

    let mut cluster_dir = None;
    let mut cluster_port = None;
    let mut conn = None;
    let mut asks = 0;
    let mut metrics = false;
    let mut suggestions: Option<usize> = None;
    while conn.is_none() || asks < 5 || suggestions.unwrap_or(0) < 2 {
        let line = rx
            .recv_timeout(Duration::from_secs(180))
            .expect("the demo printed its psql command, five asks and suggestions");
        let t = line.trim();
        metrics |= t.starts_with("metrics:") && t.contains("metrics.toml");
        if t.starts_with("Questions this database can answer") {
            suggestions = Some(0);
        }
        if let (Some(n), true) = (suggestions.as_mut(), t.starts_with("/* ask: ")) {
            *n += 1;
            continue;
        }
        if let Some(rest) = t.strip_prefix("cluster:") {
            let (path, port) = rest.trim().split_once(" (port ").unwrap();
            cluster_dir = Some(PathBuf::from(path));
            cluster_port = port.trim_end_matches(')').parse::<u16>().ok();
        }
        if let Some(rest) = t.strip_prefix("psql \"") {
            conn = Some(rest.trim_end_matches('"').to_string());
        }
        if t.starts_with("/* ask: ") {
            asks += 1;
        }
    }
    assert!(metrics, "the demo names its metrics file");
    let (conn, cluster_dir) = (conn.unwrap(), cluster_dir.expect("cluster dir printed"));
    assert!(
        cluster_dir.join("data").is_dir(),
        "{}",
        cluster_dir.display()
    );

    let out = psql(&conn, "SELECT count(*) FROM customers");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let customers: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(customers > 100, "{customers} customers");

    let out = psql(&conn, "-- ask sql: how many orders did each customer place");
    let sql = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(sql.trim_start().starts_with("SELECT"), "{sql}");

    // The demo's metrics file is valid for the demo database: every definition passes
    // `pgask check --db` against it.
    let check = cluster_dir.join("check.toml");
    let metrics = cluster_dir.join("metrics.toml").display().to_string();
    std::fs::write(&check, format!("[ask]\nglossary = {metrics:?}\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pgask"))
        .args(["check", "--config"])
        .arg(&check)
        .arg("--db")
        .arg(format!(
            "host=127.0.0.1 port={} user=postgres dbname=pgask_demo",
            cluster_port.expect("cluster port printed")
        ))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("10 metrics and dimensions, each plans"),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.0.id() as i32, libc::SIGINT) }, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the demo did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
    assert!(
        !cluster_dir.exists(),
        "{} left behind",
        cluster_dir.display()
    );
    // Nothing listens any more: neither pgask nor the cluster.
    let out = psql(&conn, "SELECT 1");
    assert!(!out.status.success());
    let port = cluster_port.expect("cluster port printed");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the cluster still listens on {port}"
    );
}
