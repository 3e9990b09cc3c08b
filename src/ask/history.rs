//! The ask history: every ask (question, role, database, SQL, attempts, errors, timings,
//! outcome) and every `ask feedback:`, appended to a JSONL file and, with
//! `history.store = "postgres"`, to tables in a `pgask` schema that the proxy creates: the shared
//! store of several pgask replicas. Good and corrected answers come back from either store as
//! few-shot examples for later asks on the same database.
//!
//! Writes never hold up an answer: they go through a channel to one background task, which
//! logs and drops what it cannot store.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::warn;

use crate::config::{HistoryConfig, HistoryStore, UpstreamConfig};

/// What could not be read back from a store.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("history database: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("cannot connect to the history database: {0}")]
    Connect(String),
}

/// Per-stage timings of an ask, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StageMs {
    pub retrieve: f64,
    pub generate: f64,
    pub check: f64,
    pub execute: f64,
}

/// One ask.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AskRecord {
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub question: String,
    pub role: String,
    pub database: String,
    /// `rows` (`ask:`) or `sql` (`ask sql:`).
    pub directive: String,
    /// The last SQL tried (the one answered with, when the outcome is `answered`).
    pub sql: Option<String>,
    pub attempts: usize,
    /// The errors that led to corrections, and the final one if it failed.
    pub errors: Vec<String>,
    pub timings: StageMs,
    /// `answered`, `failed`, `failed after rows`, `cancelled`, `cached` or `repeated`.
    pub outcome: String,
    pub rows: Option<u64>,
    /// Prompt and generated tokens over every attempt.
    #[serde(default)]
    pub tokens_in: usize,
    #[serde(default)]
    pub tokens_out: usize,
    /// With several candidates: how many gave the answer's result, of how many that ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<[usize; 2]>,
    /// The SQLSTATE a failed ask ended with (what the client heard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqlstate: Option<String>,
}

/// Feedback on an earlier ask.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedbackRecord {
    /// The ask it is about.
    pub ask: String,
    pub at_ms: u64,
    pub role: String,
    pub database: String,
    pub question: String,
    /// The SQL it is about: the ask's, or the user's correction.
    pub sql: String,
    /// `good`, `bad` or `corrected`.
    pub verdict: String,
    pub note: Option<String>,
}

/// The note of a good verdict on an answer that carries a value found by looking in the asking
/// connection's data (under its row-level security and settings): recorded, but no example
/// for the role's other connections. Never reworded: recorded verdicts carry it as it is.
pub const PRIVATE: &str =
    "not an example: it carries a value found in the asking connection's data";

impl FeedbackRecord {
    /// Whether this pair is a good example of question → SQL.
    pub fn is_example(&self) -> bool {
        (self.verdict == "good" || self.verdict == "corrected")
            && self.note.as_deref() != Some(PRIVATE)
    }
}

/// An example taken back (`-- ask forget:`): the examples of that ask no longer reach prompts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ForgetRecord {
    /// The ask whose examples are forgotten.
    pub ask: String,
    pub at_ms: u64,
    /// Who took it back.
    pub role: String,
    pub database: String,
}

/// One line of the JSONL file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event {
    Ask(AskRecord),
    Feedback(FeedbackRecord),
    Forget(ForgetRecord),
}

/// A question with SQL that answered it well, and who said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// The ask it came from (what `-- ask forget:` names).
    pub id: String,
    /// The role that gave the feedback.
    pub role: String,
    pub question: String,
    pub sql: String,
}

impl Example {
    fn from_feedback(f: &FeedbackRecord) -> Example {
        Example {
            id: f.ask.clone(),
            role: f.role.clone(),
            question: f.question.clone(),
            sql: f.sql.clone(),
        }
    }
}

/// The history of the proxy: writer task, and the examples per database.
pub struct History {
    tx: Option<mpsc::UnboundedSender<Event>>,
    /// The writer's inputs until its task starts (at the first record, inside the runtime).
    idle: Mutex<Option<Writer>>,
    examples: Mutex<HashMap<String, Vec<Example>>>,
    /// Databases whose examples were read from the Postgres store.
    loaded: tokio::sync::Mutex<std::collections::HashSet<String>>,
    config: HistoryConfig,
    /// Where the Postgres store is (`None`: no store); a reload may move it.
    store: StoreTarget,
    next: AtomicU64,
}

/// The Postgres store's connection settings, shared with the writer task.
type StoreTarget = std::sync::Arc<Mutex<Option<(tokio_postgres::Config, UpstreamConfig)>>>;

struct Writer {
    rx: mpsc::UnboundedReceiver<Event>,
    file: Option<PathBuf>,
    db: StoreTarget,
}

/// Connection settings of the Postgres store on `upstream`.
fn store_config(config: &HistoryConfig, upstream: &UpstreamConfig) -> tokio_postgres::Config {
    let mut c = tokio_postgres::Config::new();
    c.host(&upstream.host)
        .port(upstream.port)
        .user(if config.user.is_empty() {
            "postgres"
        } else {
            &config.user
        })
        .dbname(&config.database)
        .application_name("pgask history")
        .connect_timeout(Duration::from_secs(upstream.connect_timeout_secs));
    if let Ok(pw) = std::env::var(&config.password_env) {
        c.password(pw);
    }
    c
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Schema and tables of the Postgres store.
const SCHEMA: &str = "CREATE SCHEMA IF NOT EXISTS pgask;
CREATE TABLE IF NOT EXISTS pgask.asks (
    id text PRIMARY KEY,
    at timestamptz NOT NULL,
    question text NOT NULL,
    role text NOT NULL,
    database text NOT NULL,
    directive text NOT NULL,
    sql text,
    attempts int NOT NULL,
    errors jsonb NOT NULL,
    timings jsonb NOT NULL,
    outcome text NOT NULL,
    rows bigint
);
CREATE TABLE IF NOT EXISTS pgask.feedback (
    id bigserial PRIMARY KEY,
    ask text NOT NULL,
    at timestamptz NOT NULL,
    role text NOT NULL,
    database text NOT NULL,
    question text NOT NULL,
    sql text NOT NULL,
    verdict text NOT NULL CHECK (verdict IN ('good', 'bad', 'corrected')),
    note text
);
CREATE INDEX IF NOT EXISTS feedback_database ON pgask.feedback (database, at);";

impl History {
    /// Reads the examples of the JSONL file; the writer starts with the first record.
    pub fn start(config: &HistoryConfig, upstream: &UpstreamConfig) -> History {
        let file = (!config.file.as_os_str().is_empty()).then(|| config.file.clone());
        let mut examples: HashMap<String, Vec<Example>> = HashMap::new();
        if let Some(path) = &file {
            match read_feedback(path) {
                Ok(found) => {
                    for event in &found {
                        apply(&mut examples, event);
                    }
                }
                Err(e) => warn!(error = %e, "could not read the ask history"),
            }
        }
        let db = (config.store == HistoryStore::Postgres)
            .then(|| (store_config(config, upstream), upstream.clone()));
        let has_db = db.is_some();
        let store: StoreTarget = std::sync::Arc::new(Mutex::new(db));
        let (tx, idle) = if file.is_some() || has_db {
            let (tx, rx) = mpsc::unbounded_channel();
            let w = Writer {
                rx,
                file,
                db: store.clone(),
            };
            (Some(tx), Some(w))
        } else {
            (None, None)
        };
        History {
            tx,
            idle: Mutex::new(idle),
            examples: Mutex::new(examples),
            loaded: Default::default(),
            config: config.clone(),
            store,
            next: AtomicU64::new(0),
        }
    }

    /// Follows a new upstream (a reload): the store is reached there from the next write on.
    pub fn retarget(&self, upstream: &UpstreamConfig) {
        let mut t = self.store.lock().unwrap_or_else(|e| e.into_inner());
        if t.is_some() {
            *t = Some((store_config(&self.config, upstream), upstream.clone()));
        }
    }

    /// A fresh id for an ask record.
    pub fn new_id(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{:x}-{}-{n}", now_ms(), std::process::id())
    }

    pub fn record(&self, event: Event) {
        apply(
            &mut self.examples.lock().unwrap_or_else(|e| e.into_inner()),
            &event,
        );
        if let Some(w) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).take() {
            tokio::spawn(writer(w.rx, w.file, w.db));
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(event);
        }
    }

    /// The examples of a database (read once from the Postgres store when there is one).
    pub async fn examples(&self, database: &str) -> Vec<Example> {
        let target = self.store.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some((cfg, upstream)) = &target {
            let mut loaded = self.loaded.lock().await;
            if !loaded.contains(database) {
                match load_examples(cfg, upstream, database).await {
                    Ok(found) => {
                        let mut all = self.examples.lock().unwrap_or_else(|e| e.into_inner());
                        for f in found {
                            apply(&mut all, &Event::Feedback(f));
                        }
                        loaded.insert(database.to_string());
                    }
                    Err(e) => warn!(error = %e, "could not read examples from the history store"),
                }
            }
        }
        self.examples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(database)
            .cloned()
            .unwrap_or_default()
    }
}

/// What an event does to the examples: good and corrected feedback adds one, forget removes
/// those of its ask.
fn apply(examples: &mut HashMap<String, Vec<Example>>, event: &Event) {
    match event {
        Event::Feedback(f) => {
            let list = examples.entry(f.database.clone()).or_default();
            // One example per ask: the latest feedback on it wins (a later `bad` takes it back).
            list.retain(|e| e.id != f.ask);
            if f.is_example() {
                if list.iter().filter(|e| e.role == f.role).count() >= MAX_EXAMPLES_PER_ROLE {
                    if let Some(oldest) = list.iter().position(|e| e.role == f.role) {
                        list.remove(oldest);
                    }
                }
                list.push(Example::from_feedback(f));
            }
        }
        Event::Forget(f) => {
            if let Some(list) = examples.get_mut(&f.database) {
                list.retain(|e| e.id != f.ask);
            }
        }
        Event::Ask(_) => {}
    }
}

/// Examples kept per role and database (the oldest go first): one role cannot flood the pool.
const MAX_EXAMPLES_PER_ROLE: usize = 200;

/// The feedback and forget lines of a JSONL history file, in order (a missing file has none;
/// bad lines are skipped).
pub fn read_feedback(path: &Path) -> Result<Vec<Event>, HistoryError> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(source) => {
            return Err(HistoryError::File {
                path: path.into(),
                source,
            })
        }
    };
    let mut out = Vec::new();
    for line in std::io::BufReader::new(f).lines() {
        let line = line.map_err(|source| HistoryError::File {
            path: path.into(),
            source,
        })?;
        if let Ok(e @ (Event::Feedback(_) | Event::Forget(_))) = serde_json::from_str(&line) {
            out.push(e);
        }
    }
    Ok(out)
}

/// The feedback on a database in the Postgres store, oldest first (the latest 2,000).
async fn load_examples(
    cfg: &tokio_postgres::Config,
    upstream: &UpstreamConfig,
    database: &str,
) -> Result<Vec<FeedbackRecord>, HistoryError> {
    let client = connect_store(cfg, upstream).await?;
    let rows = client
        .query(
            "SELECT ask, role, question, sql, verdict, note FROM (
               SELECT * FROM pgask.feedback WHERE database = $1 ORDER BY at DESC, id DESC LIMIT 2000
             ) f ORDER BY at, id",
            &[&database],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| FeedbackRecord {
            ask: r.get(0),
            role: r.get(1),
            question: r.get(2),
            sql: r.get(3),
            verdict: r.get(4),
            note: r.get(5),
            database: database.to_string(),
            ..FeedbackRecord::default()
        })
        .collect())
}

/// Appends events to the file and the database until every sender is gone.
async fn writer(
    mut rx: mpsc::UnboundedReceiver<Event>,
    file: Option<PathBuf>,
    target: StoreTarget,
) {
    let mut client: Option<tokio_postgres::Client> = None;
    let mut connected_to: Option<(tokio_postgres::Config, UpstreamConfig)> = None;
    while let Some(event) = rx.recv().await {
        let db = target.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if db != connected_to {
            // A reload moved the store: reconnect there.
            client = None;
            connected_to = db.clone();
        }
        if let Some(path) = &file {
            let path = path.clone();
            let line = serde_json::to_string(&event).unwrap_or_default();
            let r = tokio::task::spawn_blocking(move || append(&path, &line)).await;
            if let Ok(Err(e)) = r {
                warn!(error = %e, "could not append to the ask history file");
            }
        }
        if let Some((cfg, upstream)) = &db {
            if client.as_ref().is_none_or(|c| c.is_closed()) {
                client = match connect_store(cfg, upstream).await {
                    Ok(c) => Some(c),
                    Err(e) => {
                        warn!(error = %e, "could not reach the history database");
                        None
                    }
                };
            }
            if let Some(c) = &client {
                if let Err(e) = insert(c, &event).await {
                    warn!(error = %e, "could not store an ask in the history database");
                }
            }
        }
    }
}

fn append(path: &Path, line: &str) -> Result<(), HistoryError> {
    let err = |source| HistoryError::File {
        path: path.into(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err)?;
    // One write per line, so concurrent appenders do not interleave within a line.
    f.write_all(format!("{line}\n").as_bytes()).map_err(err)
}

async fn connect_store(
    cfg: &tokio_postgres::Config,
    upstream: &UpstreamConfig,
) -> Result<tokio_postgres::Client, HistoryError> {
    let client = crate::net::pg_tls::connect(cfg, upstream)
        .await
        .map_err(HistoryError::Connect)?;
    client.batch_execute(SCHEMA).await?;
    Ok(client)
}

async fn insert(c: &tokio_postgres::Client, event: &Event) -> Result<(), HistoryError> {
    match event {
        Event::Ask(a) => {
            let errors = serde_json::to_string(&a.errors).unwrap_or_else(|_| "[]".into());
            let timings = serde_json::to_string(&a.timings).unwrap_or_else(|_| "{}".into());
            c.execute(
                "INSERT INTO pgask.asks (id, at, question, role, database, directive, sql, attempts, errors, timings, outcome, rows)
                 VALUES ($1, to_timestamp($2::float8 / 1000), $3, $4, $5, $6, $7, $8, $9::text::jsonb, $10::text::jsonb, $11, $12)
                 ON CONFLICT (id) DO NOTHING",
                &[
                    &a.id,
                    &(a.at_ms as f64),
                    &a.question,
                    &a.role,
                    &a.database,
                    &a.directive,
                    &a.sql,
                    &(a.attempts as i32),
                    &errors,
                    &timings,
                    &a.outcome,
                    &a.rows.map(|r| r as i64),
                ],
            )
            .await?;
        }
        Event::Feedback(f) => {
            c.execute(
                "INSERT INTO pgask.feedback (ask, at, role, database, question, sql, verdict, note)
                 VALUES ($1, to_timestamp($2::float8 / 1000), $3, $4, $5, $6, $7, $8)",
                &[
                    &f.ask,
                    &(f.at_ms as f64),
                    &f.role,
                    &f.database,
                    &f.question,
                    &f.sql,
                    &f.verdict,
                    &f.note,
                ],
            )
            .await?;
        }
        Event::Forget(f) => {
            c.execute(
                "DELETE FROM pgask.feedback
                 WHERE ask = $1 AND database = $2 AND verdict IN ('good', 'corrected')",
                &[&f.ask, &f.database],
            )
            .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feedback_lines_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h/asks.jsonl");
        let ask = Event::Ask(AskRecord {
            id: "1".into(),
            question: "how many".into(),
            ..Default::default()
        });
        let fb = FeedbackRecord {
            ask: "1".into(),
            database: "db".into(),
            question: "how many".into(),
            sql: "SELECT 1".into(),
            verdict: "corrected".into(),
            ..Default::default()
        };
        for e in [&ask, &Event::Feedback(fb.clone())] {
            append(&path, &serde_json::to_string(e).unwrap()).unwrap();
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"not json\n")
            .unwrap();
        let forget = Event::Forget(ForgetRecord {
            ask: "1".into(),
            database: "db".into(),
            ..Default::default()
        });
        append(&path, &serde_json::to_string(&forget).unwrap()).unwrap();
        let events = read_feedback(&path).unwrap();
        assert_eq!(events, vec![Event::Feedback(fb.clone()), forget]);
        let mut examples = HashMap::new();
        apply(&mut examples, &events[0]);
        assert_eq!(examples["db"].len(), 1);
        apply(&mut examples, &events[1]);
        assert!(examples["db"].is_empty(), "forget takes the example back");
        assert!(read_feedback(&dir.path().join("missing"))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn one_example_per_ask_and_a_cap_per_role() {
        let fb = |ask: &str, role: &str, verdict: &str| {
            Event::Feedback(FeedbackRecord {
                ask: ask.into(),
                role: role.into(),
                database: "db".into(),
                question: format!("q{ask}"),
                sql: format!("SELECT {ask}"),
                verdict: verdict.into(),
                ..Default::default()
            })
        };
        let mut examples = HashMap::new();
        apply(&mut examples, &fb("1", "a", "good"));
        apply(&mut examples, &fb("1", "a", "corrected"));
        assert_eq!(
            examples["db"].len(),
            1,
            "a later verdict replaces the earlier"
        );
        apply(&mut examples, &fb("1", "a", "bad"));
        assert!(
            examples["db"].is_empty(),
            "a later bad takes the example back"
        );
        // A good answer carrying a value found in the asker's data is no example.
        if let Event::Feedback(mut private) = fb("p", "a", "good") {
            private.note = Some(PRIVATE.into());
            apply(&mut examples, &Event::Feedback(private));
        }
        assert!(examples["db"].is_empty(), "a private good is no example");
        apply(&mut examples, &fb("t", "trusted", "good"));
        for i in 0..MAX_EXAMPLES_PER_ROLE + 50 {
            apply(&mut examples, &fb(&format!("f{i}"), "flood", "corrected"));
        }
        let list = &examples["db"];
        assert_eq!(
            list.iter().filter(|e| e.role == "flood").count(),
            MAX_EXAMPLES_PER_ROLE
        );
        assert!(
            list.iter().any(|e| e.role == "trusted"),
            "a flood pushes out only its own"
        );
    }
}
