//! Asks from real drivers through pgask: psycopg 3 and asyncpg (Python), pgJDBC (what DBeaver
//! and Metabase use, with Metabase's leading comment). Each driver program in `tests/clients/`
//! checks rows, column names from Describe, re-executed prepared asks and the NOTICE. A missing
//! runtime is skipped locally but fails under CI=true, where `.ci/run` installs them all.

use crate::common;

use std::path::Path;
use std::process::Output;

use common::ask::proxy;
use tokio::process::Command;

const ARTISTS: &str = "SELECT artist_id, name FROM artist ORDER BY artist_id LIMIT 3";

fn clients_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients"))
}

/// Runs a driver program against a proxy answering every ask with [`ARTISTS`].
async fn run(program: &str, args: &[&str]) -> Option<Output> {
    let (p, db) = proxy(&[ARTISTS], |_| {}).await?;
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(180),
        Command::new(program)
            .args(args)
            .env("PGHOST", "127.0.0.1")
            .env("PGPORT", p.port().to_string())
            .env("PGUSER", "postgres")
            .env("PGDATABASE", db)
            .env("PGSSLMODE", "disable")
            .output(),
    )
    .await
    .expect("driver timed out")
    .expect("driver started");
    Some(out)
}

fn assert_ok(what: &str, out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("OK ask {what}")),
        "{what}: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg3_asks() {
    if !common::runtime_present("python3", &["-c", "import psycopg"]) {
        return;
    }
    let script = clients_dir().join("ask_psycopg.py");
    if let Some(out) = run("python3", &[script.to_str().unwrap()]).await {
        assert_ok("psycopg", &out);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asyncpg_asks() {
    if !common::runtime_present("python3", &["-c", "import asyncpg"]) {
        return;
    }
    let script = clients_dir().join("ask_asyncpg.py");
    if let Some(out) = run("python3", &[script.to_str().unwrap()]).await {
        assert_ok("asyncpg", &out);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_asks_with_a_metabase_comment() {
    let jar = Path::new("/usr/share/java/postgresql.jar");
    if !common::runtime_present("javac", &["-version"]) || !jar.is_file() {
        assert!(std::env::var("CI").as_deref() != Ok("true") || jar.is_file());
        return;
    }
    let classes = tempfile::tempdir().unwrap();
    let javac = Command::new("javac")
        .args(["-encoding", "UTF-8", "-cp"])
        .arg(jar)
        .arg("-d")
        .arg(classes.path())
        .arg(clients_dir().join("jdbc/AskJdbc.java"))
        .output()
        .await
        .unwrap();
    assert!(
        javac.status.success(),
        "{}",
        String::from_utf8_lossy(&javac.stderr)
    );
    let cp = format!("{}:{}", classes.path().display(), jar.display());
    if let Some(out) = run("java", &["-cp", &cp, "AskJdbc"]).await {
        assert_ok("jdbc", &out);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_asks_in_both_protocols() {
    let Some((p, db)) = proxy(&[ARTISTS], |_| {}).await else {
        return;
    };
    let (client, conn) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=postgres dbname={db} sslmode=disable",
            p.port()
        ),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    // Extended: a named statement, described, then executed twice.
    let stmt = client
        .prepare("-- ask: the first three artists")
        .await
        .unwrap();
    let cols: Vec<&str> = stmt.columns().iter().map(|c| c.name()).collect();
    assert_eq!(cols, ["artist_id", "name"]);
    for _ in 0..2 {
        let rows = client.query(&stmt, &[]).await.unwrap();
        let names: Vec<String> = rows.iter().map(|r| r.get(1)).collect();
        assert_eq!(names, ["AC/DC", "Accept", "Aerosmith"]);
    }
    // Simple protocol.
    let msgs = client
        .simple_query("-- ask: the first three artists, simply")
        .await
        .unwrap();
    let names: Vec<String> = msgs
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(1).map(String::from),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["AC/DC", "Accept", "Aerosmith"]);
}
