//! `pgask eval` on chinook with the hand-written question set `tests/eval/chinook.jsonl`: the
//! oracle scores 100% on VA, EX and TS; a prediction file with known mistakes scores exactly as
//! low as it should and names the failing questions; TS catches a query that is right only by
//! accident on the original data; and a run with the tiny random-weight model completes.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{data, Cluster};
use pgask::ask::generate::tiny::Shape;
use pgask::eval::Report;

const QUESTIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/eval/chinook.jsonl");

/// A private copy of chinook (variants are made from it, which needs it without connections).
fn chinook_copy(cluster: &Cluster, name: &str) -> Option<String> {
    data::private_copy(cluster, "chinook", name)
}

fn eval(cluster: &Cluster, db: &str, out: &Path, extra: &[&str], config: Option<&Path>) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgask"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PGASK_")) {
        cmd.env_remove(k);
    }
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let output = cmd
        .args(["eval", "--questions", QUESTIONS, "--db"])
        .arg(format!(
            "host=127.0.0.1 port={} user=postgres dbname={db}",
            cluster.port
        ))
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("run pgask eval");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{stdout}");
    stdout
}

fn question_count() -> usize {
    std::fs::read_to_string(QUESTIONS)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

#[test]
fn the_oracle_scores_everything() {
    let cluster = Cluster::shared();
    let Some(db) = chinook_copy(cluster, "eval_oracle") else {
        return;
    };
    assert!(question_count() >= 30);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("oracle.json");
    let stdout = eval(cluster, &db, &out, &["--oracle", "--variants", "2"], None);
    let report = Report::read(&out).unwrap();
    assert_eq!(report.results.len(), question_count());
    let s = report.overall();
    assert_eq!((s.va, s.ex, s.ts), (1.0, 1.0, 1.0), "{stdout}");
    assert!(stdout.contains("100.0%"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
    // The variants are dropped afterwards.
    let left = cluster.psql_as(
        "postgres",
        "postgres",
        "SELECT count(*) FROM pg_database WHERE datname LIKE 'eval_oracle_ts%'",
    );
    assert_eq!(left.trim(), "0");
}

/// Every gold query as the prediction, except for these (question → predicted SQL).
fn predictions(dir: &Path, changes: &[(&str, &str)]) -> PathBuf {
    let mut out = String::new();
    for line in std::fs::read_to_string(QUESTIONS).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let q = v["question"].as_str().unwrap();
        let sql = changes
            .iter()
            .find(|(c, _)| *c == q)
            .map(|(_, s)| s.to_string())
            .unwrap_or_else(|| v["gold_sql"].as_str().unwrap().to_string());
        out.push_str(&serde_json::json!({"question": q, "sql": sql}).to_string());
        out.push('\n');
    }
    let path = dir.join("predictions.jsonl");
    std::fs::write(&path, out).unwrap();
    path
}

const ACCIDENT: &str = "How many tracks cost more than one dollar?";

#[test]
fn wrong_predictions_score_lower_and_are_named() {
    let cluster = Cluster::shared();
    let Some(db) = chinook_copy(cluster, "eval_wrong") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let preds = predictions(
        dir.path(),
        &[
            // Not valid: a column that does not exist.
            ("What is the total amount of all invoices?", "SELECT sum(totl) FROM invoice"),
            // Runs, wrong table.
            ("List the names of all media types.", "SELECT name FROM genre"),
            // The gold's rows in another order, where the gold orders its output.
            (
                "What are the ten longest tracks and how long are they in milliseconds?",
                "SELECT name, milliseconds FROM (SELECT name, milliseconds, track_id FROM track \
                 ORDER BY milliseconds DESC, track_id LIMIT 10) t ORDER BY milliseconds, track_id",
            ),
            // Right only by accident: prices are 0.99 or 1.99 in the original data.
            (ACCIDENT, "SELECT count(*) FROM track WHERE unit_price > 1.5"),
            // Right, written differently: other columns order and aggregate form.
            (
                "How many albums does each artist have?",
                "SELECT count(al.album_id), ar.name FROM album al JOIN artist ar USING (artist_id) GROUP BY ar.artist_id",
            ),
            ("How many artists are there?", "SELECT count(artist_id) FROM artist"),
            // Tries to end the read-only transaction and write: refused, and counted invalid.
            (
                "Which customers have no support representative?",
                "COMMIT; DELETE FROM invoice_line",
            ),
        ],
    );
    let out = dir.path().join("wrong.json");
    let stdout = eval(
        cluster,
        &db,
        &out,
        &["--predictions", preds.to_str().unwrap(), "--variants", "2"],
        None,
    );
    let report = Report::read(&out).unwrap();
    let n = question_count() as f64;
    let s = report.overall();
    assert_eq!(s.va, (n - 2.0) / n, "{stdout}");
    assert_eq!(s.ex, (n - 4.0) / n, "{stdout}");
    assert_eq!(s.ts, (n - 5.0) / n, "{stdout}");
    let lines = cluster.psql_as("postgres", &db, "SELECT count(*) FROM invoice_line");
    assert_eq!(lines.trim(), "2240", "the prediction wrote to the database");
    let by_q = |q: &str| report.results.iter().find(|r| r.question == q).unwrap();
    // TS tells the accident from the right rewrite; EX cannot.
    let accident = by_q(ACCIDENT);
    assert!(accident.va && accident.ex && !accident.ts, "{accident:?}");
    let rewrite = by_q("How many albums does each artist have?");
    assert!(rewrite.va && rewrite.ex && rewrite.ts, "{rewrite:?}");
    for q in [
        "What is the total amount of all invoices?",
        "List the names of all media types.",
        "What are the ten longest tracks",
        "Which customers have no support representative?",
        ACCIDENT,
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("FAIL") && l.contains(q)),
            "{q} not named:\n{stdout}"
        );
    }
    assert_eq!(stdout.lines().filter(|l| l.starts_with("FAIL")).count(), 5);

    // --compare shows what changed against the oracle.
    let oracle = dir.path().join("oracle.json");
    eval(
        cluster,
        &db,
        &oracle,
        &["--oracle", "--variants", "0"],
        None,
    );
    let diff = Command::new(env!("CARGO_BIN_EXE_pgask"))
        .args(["eval", "--compare"])
        .arg(&oracle)
        .arg(&out)
        .output()
        .unwrap();
    let diff = String::from_utf8_lossy(&diff.stdout);
    assert!(diff.contains("0 better, 5 worse"), "{diff}");
    assert!(diff.contains(ACCIDENT), "{diff}");
}

#[test]
fn retrieval_only_reports_recall() {
    let cluster = Cluster::shared();
    let (Some(db), Some(embedder)) = (chinook_copy(cluster, "eval_recall"), data::embedder())
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = data::config_file(dir.path(), &embedder, None, "");
    let out = dir.path().join("recall.json");
    let stdout = eval(
        cluster,
        &db,
        &out,
        &["--retrieval-only", "--k", "1,5"],
        Some(&config),
    );
    let report = Report::read(&out).unwrap();
    assert_eq!(report.mode, "retrieval");
    let artists = report
        .results
        .iter()
        .find(|r| r.question == "How many artists are there?")
        .unwrap();
    assert_eq!(artists.gold_tables, vec!["artist".to_string()]);
    assert!(!artists.retrieved.is_empty());
    assert!(stdout.contains("strict@5"), "{stdout}");
    // MiniLM + BM25 find most gold tables in the top 5 on this small schema.
    let all = stdout
        .lines()
        .find(|l| l.starts_with("all"))
        .unwrap_or(&stdout);
    eprintln!("{all}");
}

#[test]
fn a_tiny_random_model_run_completes() {
    let cluster = Cluster::shared();
    let (Some(db), Some(embedder), Some(model)) = (
        chinook_copy(cluster, "eval_tiny"),
        data::embedder(),
        data::model("llama-spm", Shape::TINY, 7),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = data::config_file(dir.path(), &embedder, Some(&model), "");
    let out = dir.path().join("tiny.json");
    let stdout = eval(cluster, &db, &out, &["--variants", "1"], Some(&config));
    let report = Report::read(&out).unwrap();
    assert_eq!(report.mode, "ask");
    assert_eq!(report.results.len(), question_count());
    // Random weights under the strict grammar write SQL that runs; it answers nothing right.
    let answered = report.results.iter().filter(|r| r.va).count();
    assert!(answered > 0, "{stdout}");
    for r in report.results.iter().filter(|r| r.va) {
        let sql = r.sql.as_deref().unwrap();
        assert!(sql.starts_with("SELECT"), "{sql}");
        assert!(r.attempts.unwrap_or(0) >= 1 && r.tokens_out > 0, "{r:?}");
        assert!(r.stages.generate > 0.0, "{r:?}");
    }
    assert!(stdout.contains("VA") && stdout.contains("EX"), "{stdout}");
}

#[test]
fn an_unreachable_database_fails_the_run_instead_of_scoring_zero() {
    let cluster = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("none.json");
    // A database that does not exist, and a port nothing listens on.
    let port = common::cluster::free_port();
    for db in [
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=no_such_db",
            cluster.port
        ),
        format!("host=127.0.0.1 port={port} user=postgres dbname=chinook connect_timeout=5"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_pgask"))
            .args([
                "eval",
                "--questions",
                QUESTIONS,
                "--oracle",
                "--variants",
                "0",
                "--db",
            ])
            .arg(&db)
            .arg("--out")
            .arg(&out)
            .output()
            .expect("run pgask eval");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{db}: {stderr}");
        assert!(stderr.contains("connecting to database"), "{db}: {stderr}");
        assert!(!out.exists(), "{db}: no report is written");
    }
}
