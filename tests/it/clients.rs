//! Real clients through pgask: psql, pgbench in all three protocols, tokio-postgres, and the
//! driver programs in `tests/clients/` (psycopg 3, asyncpg, node-postgres, pgJDBC), each logging
//! in with SCRAM. A driver whose runtime is missing is skipped locally but fails under CI=true,
//! where `.ci/run` installs them all.

use crate::common;

use std::path::Path;
use std::process::Output;

use common::cluster::ALICE_PASSWORD;
use common::{Cluster, Proxy};
use tokio::process::Command;

async fn output(cmd: &mut Command) -> Output {
    tokio::time::timeout(std::time::Duration::from_secs(180), cmd.output())
        .await
        .expect("client timed out")
        .expect("client could not start")
}

fn assert_ok(what: &str, out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn pg_tool(cluster: &Cluster, tool: &str, proxy: &Proxy, db: &str) -> Command {
    let mut c = Command::new(cluster.bin.join(tool));
    c.env("PGHOST", "127.0.0.1")
        .env("PGPORT", proxy.port().to_string())
        .env("PGUSER", "alice")
        .env("PGPASSWORD", ALICE_PASSWORD)
        .env("PGDATABASE", db)
        .env("PGSSLMODE", "disable");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_commands_scripts_and_copy() {
    let cluster = Cluster::shared();
    let db = cluster.create_db("psql");
    let proxy = Proxy::start(cluster).await;
    let out = output(
        pg_tool(cluster, "psql", &proxy, &db)
            .args(["-XAtc", "SELECT current_user || ':' || 'Grüße'"]),
    )
    .await;
    assert_eq!(assert_ok("psql -c", &out).trim(), "alice:Grüße");

    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.sql");
    std::fs::write(
        &script,
        "\\set ON_ERROR_STOP 1\nCREATE TABLE t(id int PRIMARY KEY, name text);\nINSERT INTO t SELECT g, 'n' || g FROM generate_series(1, 300) g;\n\
         BEGIN;\nUPDATE t SET name = upper(name) WHERE id <= 10;\nCOMMIT;\nSELECT count(*) FILTER (WHERE name LIKE 'N%') FROM t;\n",
    )
    .unwrap();
    let out = output(
        pg_tool(cluster, "psql", &proxy, &db)
            .arg("-XAtqf")
            .arg(&script),
    )
    .await;
    assert_eq!(assert_ok("psql -f", &out).trim(), "10");

    let csv = dir.path().join("out.csv");
    let copy_out = format!("\\copy t TO '{}' CSV", csv.display());
    assert_ok(
        "\\copy to",
        &output(pg_tool(cluster, "psql", &proxy, &db).args(["-Xc", &copy_out])).await,
    );
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 300);
    let copy_in = format!("\\copy t2 FROM '{}' CSV", csv.display());
    let out = output(pg_tool(cluster, "psql", &proxy, &db).args([
        "-XAtq",
        "-c",
        "CREATE TABLE t2 (LIKE t)",
        "-c",
        &copy_in,
        "-c",
        "SELECT count(*), sum(id) FROM t2",
    ]))
    .await;
    assert!(assert_ok("\\copy from", &out).contains("300|45150"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_in_every_protocol() {
    let cluster = Cluster::shared();
    let db = cluster.create_db("bench");
    let proxy = Proxy::start(cluster).await;
    assert_ok(
        "pgbench -i",
        &output(pg_tool(cluster, "pgbench", &proxy, &db).args(["-i", "-s", "1", "-q"])).await,
    );
    for protocol in ["simple", "extended", "prepared"] {
        let out = output(
            pg_tool(cluster, "pgbench", &proxy, &db)
                .args(["-c", "4", "-j", "2", "-t", "50", "-M", protocol]),
        )
        .await;
        let stdout = assert_ok(&format!("pgbench -M {protocol}"), &out);
        assert!(
            stdout.contains("number of transactions actually processed: 200/200"),
            "{protocol}: {stdout}"
        );
        assert!(
            stdout.contains("number of failed transactions: 0"),
            "{protocol}: {stdout}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_query_prepare_transaction_copy() {
    use futures_util::SinkExt;
    let cluster = Cluster::shared();
    let db = cluster.create_db("tpg");
    let proxy = Proxy::start(cluster).await;
    let (mut client, conn) = tokio_postgres::connect(
        &proxy.url("alice", ALICE_PASSWORD, &db),
        tokio_postgres::NoTls,
    )
    .await
    .expect("SCRAM login through pgask");
    tokio::spawn(conn);
    let row = client
        .query_one("SELECT 'Grüße, 日本語'::text, NULL::int, 12.5::float8", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "Grüße, 日本語");
    assert_eq!(row.get::<_, Option<i32>>(1), None);
    client
        .batch_execute("CREATE TABLE kv(k int PRIMARY KEY, v text)")
        .await
        .unwrap();
    let insert = client
        .prepare("INSERT INTO kv VALUES ($1, $2)")
        .await
        .unwrap();
    for k in 0..20 {
        client
            .execute(&insert, &[&k, &format!("v{k}")])
            .await
            .unwrap();
    }
    let tx = client.transaction().await.unwrap();
    tx.execute("DELETE FROM kv WHERE k < 10", &[])
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let n: i64 = client
        .query_one("SELECT count(*) FROM kv", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 20);
    let sink = client.copy_in("COPY kv FROM STDIN").await.unwrap();
    futures_util::pin_mut!(sink);
    sink.send(bytes::Bytes::from_static(
        b"100\thundred\n101\tone-oh-one\n",
    ))
    .await
    .unwrap();
    assert_eq!(sink.finish().await.unwrap(), 2);
    let err = client.query_one("SELECT 1/0", &[]).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::DIVISION_BY_ZERO)
    );
    let n: i64 = client
        .query_one("SELECT count(*) FROM kv", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 22, "the session is usable after an error");
}

/// Runs a driver program with the connection in PG* variables; `None` if its runtime is absent.
async fn run_driver(
    program: &str,
    args: &[&str],
    cwd: Option<&Path>,
    proxy: &Proxy,
    db: &str,
) -> Option<Output> {
    if std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{program} is missing; .ci/run must install it"
        );
        eprintln!("skipping: {program} not installed");
        return None;
    }
    let mut c = Command::new(program);
    c.args(args)
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", proxy.port().to_string())
        .env("PGUSER", "alice")
        .env("PGPASSWORD", ALICE_PASSWORD)
        .env("PGDATABASE", db)
        .env("PGSSLMODE", "disable");
    if let Some(dir) = cwd {
        c.current_dir(dir);
    }
    Some(output(&mut c).await)
}

fn clients_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients"))
}

/// Python drivers need their module importable; skip locally when it is not.
fn python_has(module: &str) -> bool {
    common::runtime_present("python3", &["-c", &format!("import {module}")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg3_through_pgask() {
    if !python_has("psycopg") {
        return;
    }
    let cluster = Cluster::shared();
    let db = cluster.create_db("psycopg");
    let proxy = Proxy::start(cluster).await;
    let script = clients_dir().join("psycopg_client.py");
    let out = run_driver("python3", &[script.to_str().unwrap()], None, &proxy, &db)
        .await
        .unwrap();
    assert!(assert_ok("psycopg", &out).contains("OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asyncpg_through_pgask() {
    if !python_has("asyncpg") {
        return;
    }
    let cluster = Cluster::shared();
    let db = cluster.create_db("asyncpg");
    let proxy = Proxy::start(cluster).await;
    let script = clients_dir().join("asyncpg_client.py");
    let out = run_driver("python3", &[script.to_str().unwrap()], None, &proxy, &db)
        .await
        .unwrap();
    assert!(assert_ok("asyncpg", &out).contains("OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_postgres_through_pgask() {
    let dir = clients_dir().join("node");
    if !dir.join("node_modules/pg").is_dir() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "node_modules missing; .ci/run must run npm ci"
        );
        eprintln!("skipping: run npm ci in tests/clients/node");
        return;
    }
    let cluster = Cluster::shared();
    let db = cluster.create_db("node");
    let proxy = Proxy::start(cluster).await;
    if let Some(out) = run_driver("node", &["pg_client.js"], Some(&dir), &proxy, &db).await {
        assert!(assert_ok("node-postgres", &out).contains("OK"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_through_pgask() {
    let jar = Path::new("/usr/share/java/postgresql.jar");
    if !jar.is_file() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "pgJDBC missing; .ci/run must install libpostgresql-jdbc-java"
        );
        eprintln!("skipping: pgJDBC not installed");
        return;
    }
    let classes = tempfile::tempdir().unwrap();
    let src = clients_dir().join("jdbc/JdbcClient.java");
    let javac = output(
        Command::new("javac")
            .args(["-encoding", "UTF-8", "-cp"])
            .arg(jar)
            .arg("-d")
            .arg(classes.path())
            .arg(&src),
    )
    .await;
    assert_ok("javac", &javac);
    let cluster = Cluster::shared();
    let db = cluster.create_db("jdbc");
    let proxy = Proxy::start(cluster).await;
    let cp = format!("{}:{}", classes.path().display(), jar.display());
    let out = run_driver("java", &["-cp", &cp, "JdbcClient"], None, &proxy, &db)
        .await
        .unwrap();
    assert!(assert_ok("pgJDBC", &out).contains("OK"));
}

/// psycopg 3 over libpq: a pipeline's error and a flushed result arrive without Sync, an idle
/// cancel does not hit the next statement, and Terminate after a running statement still gets
/// its results (`tests/clients/psycopg_timing.py`), directly and through pgask.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_pipeline_cancel_and_terminate_timing() {
    if !python_has("psycopg") {
        return;
    }
    let cluster = Cluster::shared();
    let db = cluster.create_db("timing");
    let proxy = Proxy::start(cluster).await;
    let script = clients_dir().join("psycopg_timing.py");
    let out = run_driver("python3", &[script.to_str().unwrap()], None, &proxy, &db)
        .await
        .unwrap();
    assert!(assert_ok("psycopg timing", &out).contains("OK timing"));
}
