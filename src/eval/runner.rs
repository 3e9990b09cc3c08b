//! One eval run: loads the questions, makes the TS variant databases, starts pgask in-process
//! (or uses `--through`), and for every question gets a prediction (an ask through pgask, the
//! gold with `--oracle`, or `--predictions`), runs it and the gold directly on the database and
//! its variants, and compares the results.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::config::Host;
use tokio_postgres::{AsyncMessage, Client, NoTls, SimpleQueryMessage};

use super::compare::{self, ResultSet};
use super::questions::{self, Format, Question, QuestionsError};
use super::report::{QuestionResult, Report, ReportError};
use super::tables;
use super::ties;
use super::variants::{self, VariantSpec, VariantsError};
use crate::ask::pipeline::summary::Summary;
use crate::config::Config;
use crate::server::{Server, ServerError, Shared};

/// Why an eval run could not be done (a question that fails is a result, not an error).
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Questions(#[from] QuestionsError),
    #[error("--db {0}")]
    BadUrl(String),
    #[error("connecting to {what}: {source}")]
    Connect {
        what: String,
        source: tokio_postgres::Error,
    },
    #[error("making the TS variant databases: {0}")]
    Variants(#[from] VariantsError),
    #[error("starting pgask in-process: {0}")]
    Server(#[from] ServerError),
    #[error("{path}: {reason}")]
    Predictions { path: String, reason: String },
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("{0} has no questions")]
    Empty(String),
    #[error("interrupted; the variant databases were dropped")]
    Interrupted,
}

/// Where predictions come from.
#[derive(Debug, Clone)]
pub enum Predictor {
    /// `-- ask:` through pgask: the real path.
    Ask,
    /// The gold SQL itself, to prove the harness.
    Oracle,
    /// A file of SQL: JSONL objects with `sql` (and `id` or `question`), or one SQL per line.
    File(PathBuf),
}

/// What `pgask eval` was asked to do.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub questions: PathBuf,
    pub format: Option<Format>,
    /// The database, as a libpq URL or key=value string; a question's `db` replaces its dbname.
    pub db: String,
    /// A running pgask (`host:port`); `None` starts one in-process in front of `db`.
    pub through: Option<String>,
    pub predictor: Predictor,
    /// Only retrieval: recall@k of the gold tables, nothing generated.
    pub retrieval_only: bool,
    pub ks: Vec<usize>,
    /// Variant databases for TS (0: TS is EX).
    pub variants: usize,
    pub seed: u64,
    pub float_digits: u32,
    /// Statement timeout of the direct gold and prediction runs.
    pub timeout_secs: u64,
    /// Leave the variant databases in place (they are dropped otherwise).
    pub keep_variants: bool,
}

/// Runs the whole evaluation. `config` is the in-process pgask's config (ignored with
/// `through`); `progress` draws a progress bar.
pub async fn run(opts: &EvalOptions, config: Config, progress: bool) -> Result<Report, EvalError> {
    let qs = questions::load(&opts.questions, opts.format)?;
    if qs.is_empty() {
        return Err(EvalError::Empty(opts.questions.display().to_string()));
    }
    let base = tokio_postgres::Config::from_str(&opts.db)
        .map_err(|e| EvalError::BadUrl(format!("{}: {e}", opts.db)))?;
    let (host, port) = tcp_address(&base)?;
    let default_db = base
        .get_dbname()
        .map(str::to_string)
        .or_else(|| base.get_user().map(str::to_string))
        .unwrap_or_else(|| "postgres".into());
    let db_of = |q: &Question| q.db.clone().unwrap_or_else(|| default_db.clone());
    let executes = !opts.retrieval_only;
    let evaluated: BTreeSet<String> = qs.iter().map(&db_of).collect();
    // Everything that can fail on bad input fails before any variant database exists.
    let predictions = match &opts.predictor {
        Predictor::File(path) => Some(Predictions::load(path)?),
        _ => None,
    };
    let through_addr = opts.through.as_deref().map(split_address).transpose()?;
    let mut runner = Runner {
        base: base.clone(),
        clients: HashMap::new(),
        timeout: opts.timeout_secs,
    };
    let admin = if executes && opts.variants > 0 {
        Some(runner.admin(&evaluated).await?)
    } else {
        None
    };
    let stop = interrupt();
    let mut variant_dbs: HashMap<String, Vec<String>> = HashMap::new();
    let mut in_process: Option<(Arc<Shared>, tokio::task::JoinHandle<()>)> = None;
    let outcome = async {
        // Variants first: CREATE DATABASE … TEMPLATE needs the source without connections.
        if let Some(admin) = &admin {
            let spec = VariantSpec {
                count: opts.variants,
                seed: opts.seed,
                ..VariantSpec::default()
            };
            for db in &evaluated {
                let names = variants::make_variants(admin, db, &spec, runner.connector()).await?;
                variant_dbs.insert(db.clone(), names);
                if stop.is_cancelled() {
                    return Err(EvalError::Interrupted);
                }
            }
        }
        // A database that cannot be reached fails the run instead of scoring every question 0.
        if executes {
            for db in &evaluated {
                let client = runner.open(db, None, false).await?;
                runner.clients.insert(db.clone(), client);
            }
        }
        let needs_pgask = opts.retrieval_only || matches!(opts.predictor, Predictor::Ask);
        let through = match (&through_addr, needs_pgask) {
            (_, false) => None,
            (Some(addr), true) => Some(addr.clone()),
            (None, true) => {
                let (shared, task, port) = start_pgask(config, &host, port, opts).await?;
                in_process = Some((shared, task));
                Some(("127.0.0.1".to_string(), port))
            }
        };
        let bar = progress.then(|| {
            let bar = indicatif::ProgressBar::new(qs.len() as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        let mut results = Vec::with_capacity(qs.len());
        for (i, q) in qs.iter().enumerate() {
            if stop.is_cancelled() {
                return Err(EvalError::Interrupted);
            }
            let db = db_of(q);
            let mut r = QuestionResult {
                id: q.id.clone(),
                question: q.question.clone(),
                category: q.category.clone(),
                db: db.clone(),
                gold: q.gold.clone(),
                ..Default::default()
            };
            if opts.retrieval_only {
                runner.retrieval(q, &db, through.as_ref(), &mut r).await;
            } else {
                let answered = match (&opts.predictor, &through) {
                    (Predictor::Ask, Some(addr)) => runner.ask(q, &db, addr, &mut r).await,
                    (Predictor::Ask, None) => false,
                    (Predictor::Oracle, _) => {
                        r.sql = q.gold.first().cloned();
                        r.sql.is_some()
                    }
                    (Predictor::File(_), _) => {
                        r.sql = predictions.as_ref().and_then(|p| p.find(q, i));
                        if r.sql.is_none() {
                            r.error = Some("no prediction for this question".into());
                        }
                        r.sql.is_some()
                    }
                };
                let empty = Vec::new();
                let vdbs = variant_dbs.get(&db).unwrap_or(&empty);
                runner.judge(q, &db, vdbs, opts, answered, &mut r).await;
            }
            if let Some(bar) = &bar {
                bar.set_message(q.id.clone());
                bar.inc(1);
            }
            results.push(r);
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        Ok(results)
    }
    .await;

    // Whatever happened: close what points at the variants, drop them, stop pgask.
    runner.clients.clear();
    if let Some(admin) = &admin {
        if !opts.keep_variants {
            let all: Vec<String> = variant_dbs.values().flatten().cloned().collect();
            if let Err(e) = variants::drop_variants(admin, &all).await {
                tracing::warn!(error = %e, "dropping the variant databases");
            }
        }
    }
    if let Some((shared, task)) = in_process {
        shared.shutdown.cancel();
        shared.force_close.cancel();
        let _ = task.await;
    }
    let results = outcome?;
    Ok(Report {
        mode: if opts.retrieval_only {
            "retrieval"
        } else {
            match opts.predictor {
                Predictor::Ask => "ask",
                Predictor::Oracle => "oracle",
                Predictor::File(_) => "predictions",
            }
        }
        .into(),
        questions_file: opts.questions.display().to_string(),
        float_digits: opts.float_digits,
        variants: if opts.retrieval_only {
            0
        } else {
            opts.variants
        },
        ks: if opts.retrieval_only {
            opts.ks.clone()
        } else {
            vec![]
        },
        results,
    })
}

/// pgask in-process in front of the database, on a free loopback port: no ask history (the
/// eval's JSON is the record), no answer cache (every question is generated), and retrieval as
/// deep as the largest `--k`.
async fn start_pgask(
    mut config: Config,
    host: &str,
    port: u16,
    opts: &EvalOptions,
) -> Result<(Arc<Shared>, tokio::task::JoinHandle<()>, u16), EvalError> {
    config.listen_addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.upstream.host = host.to_string();
    config.upstream.port = port;
    config.history.file = PathBuf::new();
    config.history.store = crate::config::HistoryStore::None;
    config.ask.cache_ttl_secs = 0;
    if opts.retrieval_only {
        let deepest = opts.ks.iter().copied().max().unwrap_or(0);
        config.retrieval.top_k = config.retrieval.top_k.max(deepest);
    }
    let server = Server::bind(config).await?;
    let addr = server.local_addr().map_err(|source| ServerError::Bind {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        source,
    })?;
    let shared = server.shared();
    Ok((shared, tokio::spawn(server.run()), addr.port()))
}

/// Cancelled on Ctrl-C, so a run stops between questions and still drops its variants.
fn interrupt() -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            t.cancel();
        }
    });
    token
}

fn tcp_address(c: &tokio_postgres::Config) -> Result<(String, u16), EvalError> {
    let host = match c.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        None => "127.0.0.1".into(),
        #[allow(unreachable_patterns)]
        Some(_) => {
            return Err(EvalError::BadUrl(
                "must name a TCP host (the eval points the pgask it starts at a TCP address)"
                    .into(),
            ))
        }
    };
    Ok((host, c.get_ports().first().copied().unwrap_or(5432)))
}

fn split_address(addr: &str) -> Result<(String, u16), EvalError> {
    let (h, p) = addr
        .rsplit_once(':')
        .ok_or_else(|| EvalError::BadUrl(format!("--through {addr}: expected host:port")))?;
    let port = p
        .parse()
        .map_err(|_| EvalError::BadUrl(format!("--through {addr}: bad port")))?;
    Ok((h.trim_matches(['[', ']']).to_string(), port))
}

/// Direct connections to the database and its variants, one per database.
struct Runner {
    base: tokio_postgres::Config,
    clients: HashMap<String, Client>,
    timeout: u64,
}

type Connect = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Client, tokio_postgres::Error>> + Send>,
>;

impl Runner {
    /// A client for CREATE/DROP DATABASE, on a database that is not being evaluated (a copy
    /// needs its source without connections) and without a statement timeout (copying a large
    /// database takes a while).
    async fn admin(&self, evaluated: &BTreeSet<String>) -> Result<Client, EvalError> {
        let mut last = None;
        for db in ["postgres", "template1"] {
            if evaluated.contains(db) {
                continue;
            }
            match self.open(db, None, true).await {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(EvalError::BadUrl("no admin database".into())))
    }

    fn connector(&self) -> impl Fn(String) -> Connect {
        let base = self.base.clone();
        move |db: String| {
            let mut c = base.clone();
            c.dbname(&db);
            Box::pin(async move {
                let (client, conn) = c.connect(NoTls).await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(client)
            }) as Connect
        }
    }

    /// Connects to `db` directly, or through pgask at `via`, handing NOTICEs to `notices`.
    async fn open(
        &self,
        db: &str,
        via: Option<(&(String, u16), tokio::sync::mpsc::UnboundedSender<String>)>,
        admin: bool,
    ) -> Result<Client, EvalError> {
        let mut c = self.base.clone();
        c.dbname(db).application_name("pgask eval");
        let (what, notices) = match via {
            Some(((host, port), tx)) => {
                // host() and port() append; pgask replaces the database's address.
                let mut p = tokio_postgres::Config::new();
                p.host(host)
                    .port(*port)
                    .dbname(db)
                    .application_name("pgask eval");
                if let Some(user) = c.get_user() {
                    p.user(user);
                }
                if let Some(password) = c.get_password() {
                    p.password(password);
                }
                if let Some(t) = c.get_connect_timeout() {
                    p.connect_timeout(*t);
                }
                c = p;
                (format!("pgask at {host}:{port} ({db})"), Some(tx))
            }
            None => {
                // Added to the URL's own options (search_path and the like). Read-only by
                // default, so SQL that ends the read-only transaction early still cannot write.
                let own = c.get_options().unwrap_or_default();
                let options = if admin {
                    format!("{own} -c statement_timeout=0")
                } else {
                    format!(
                        "{own} -c statement_timeout={} -c default_transaction_read_only=on",
                        self.timeout * 1000
                    )
                };
                c.options(options.trim_start());
                (format!("database {db}"), None)
            }
        };
        let (client, mut conn) = c
            .connect(NoTls)
            .await
            .map_err(|source| EvalError::Connect { what, source })?;
        tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notice(n))) => {
                        if let Some(tx) = &notices {
                            let _ = tx.send(n.message().to_string());
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                }
            }
        });
        Ok(client)
    }

    async fn direct(&mut self, db: &str) -> Result<&Client, String> {
        if self.clients.get(db).is_none_or(Client::is_closed) {
            let c = self
                .open(db, None, false)
                .await
                .map_err(|e| e.to_string())?;
            self.clients.insert(db.to_string(), c);
        }
        self.clients
            .get(db)
            .ok_or_else(|| format!("no connection to {db}"))
    }

    /// Runs `sql` directly on `db` inside a read-only transaction that is rolled back, through
    /// a cursor: at most [`MAX_ROWS`] rows are read (and the statement stops after `--timeout`),
    /// so a wrong prediction (a cross join of millions of rows) is judged
    /// wrong instead of filling the memory. One statement only: the cursor is declared over the
    /// extended protocol, which refuses several.
    async fn fetch(&mut self, db: &str, sql: &str) -> Result<ResultSet, String> {
        let client = self.direct(db).await?;
        let db_error = |e: tokio_postgres::Error| match e.as_db_error() {
            Some(d) => format!("{} ({})", d.message(), d.code().code()),
            None => e.to_string(),
        };
        // The connection's statement_timeout (`--timeout`) bounds how long it runs.
        client
            .batch_execute("BEGIN READ ONLY")
            .await
            .map_err(db_error)?;
        let query = sql.trim().trim_end_matches(';');
        let result = match client
            .execute(
                &format!("DECLARE pgask_eval NO SCROLL CURSOR FOR {query}"),
                &[],
            )
            .await
        {
            Ok(_) => {
                client
                    .simple_query(&format!("FETCH FORWARD {} FROM pgask_eval", MAX_ROWS + 1))
                    .await
            }
            Err(e) => Err(e),
        };
        let _ = client.batch_execute("ROLLBACK").await;
        let set = result_set(result.map_err(db_error)?);
        if set.rows.len() > MAX_ROWS {
            return Err(format!("more than {MAX_ROWS} rows"));
        }
        Ok(set)
    }

    /// The ask through pgask on a fresh connection (no conversation memory across questions);
    /// whether pgask answered it.
    async fn ask(
        &mut self,
        q: &Question,
        db: &str,
        addr: &(String, u16),
        r: &mut QuestionResult,
    ) -> bool {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let client = match self.open(db, Some((addr, tx)), false).await {
            Ok(c) => c,
            Err(e) => {
                r.error = Some(e.to_string());
                return false;
            }
        };
        let question = q.question.split_whitespace().collect::<Vec<_>>().join(" ");
        let t0 = Instant::now();
        let answer = client.simple_query(&format!("-- ask: {question}")).await;
        r.total_ms = t0.elapsed().as_secs_f64() * 1e3;
        // The connection task has handed over every NOTICE before the answer completed.
        tokio::time::sleep(Duration::from_millis(1)).await;
        while let Ok(text) = rx.try_recv() {
            if let Some(s) = Summary::parse(&text) {
                r.sql = Some(s.sql);
                r.attempts = s.attempts;
                r.reused = s.reused;
                r.stages = s.stages;
                r.tokens_in = s.tokens_in;
                r.tokens_out = s.tokens_out;
            }
        }
        let Err(e) = answer else {
            if r.sql.is_none() {
                r.error =
                    Some("answered without pgask's SQL NOTICE (is --through a pgask?)".into());
                return false;
            }
            return true;
        };
        {
            let message = e
                .as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_else(|| e.to_string());
            if let Some(n) = message
                .strip_prefix("pgask: gave up after ")
                .and_then(|s| s.split(' ').next())
                .and_then(|n| n.parse().ok())
            {
                r.attempts = Some(n);
            }
            if r.sql.is_none() {
                r.sql = message
                    .split_once("last SQL: ")
                    .map(|(_, s)| s.rsplit_once("; last error:").map_or(s, |(s, _)| s))
                    .map(str::to_string);
            }
            r.error = Some(message);
        }
        false
    }

    /// VA, EX and TS of `r.sql` against the gold queries.
    async fn judge(
        &mut self,
        q: &Question,
        db: &str,
        variant_dbs: &[String],
        opts: &EvalOptions,
        answered: bool,
        r: &mut QuestionResult,
    ) {
        let Some(sql) = r.sql.clone() else {
            return;
        };
        if !answered {
            return;
        }
        let mut gold = Vec::new();
        let mut gold_errors = Vec::new();
        for g in &q.gold {
            match self.fetch(db, g).await {
                Ok(rs) => gold.push((g.clone(), rs)),
                Err(e) => gold_errors.push(format!("gold failed: {e}")),
            }
        }
        let predicted = self.fetch(db, &sql).await;
        let predicted = match predicted {
            Ok(p) => p,
            Err(e) => {
                r.va = false;
                r.error.get_or_insert(e);
                return;
            }
        };
        r.va = true;
        if gold.is_empty() {
            r.error = Some(gold_errors.join("; "));
            return;
        }
        let options = |g: &str| compare::Options {
            ordered: compare::gold_is_ordered(g),
            allow_extra_columns: q.allow_extra_columns,
            float_digits: opts.float_digits,
        };
        // Ordered golds: rows tied on the first ORDER BY key (not equal in every row) may come
        // in any order.
        let same = |g: &str, grs: &ResultSet, p: &ResultSet| {
            let o = options(g);
            // Not with extra predicted columns (defog's convention): they would sort the
            // predicted rows of a tie differently from the gold's.
            match ties::first_key_column(g, grs).filter(|_| o.ordered && !o.allow_extra_columns) {
                Some(k) => {
                    let (grs, p) = ties::settle(grs, p, k, o.float_digits);
                    compare::same(&grs, &p, &o)
                }
                None => compare::same(grs, p, &o),
            }
        };
        let mut alive: Vec<&String> = gold
            .iter()
            .filter(|(g, rs)| same(g, rs, &predicted))
            .map(|(g, _)| g)
            .collect();
        r.ex = !alive.is_empty();
        if !r.ex {
            let g = &gold[0].1;
            r.error = Some(format!(
                "different result: gold {} rows × {} columns, predicted {} × {}",
                g.rows.len(),
                g.columns.len(),
                predicted.rows.len(),
                predicted.columns.len()
            ));
            return;
        }
        for v in variant_dbs {
            // A gold query that fails on a variant (division by zero, a scalar subquery with
            // several rows after the data changed) says nothing about the prediction there.
            let mut golds = Vec::new();
            let mut skipped = Vec::new();
            for g in alive {
                match self.fetch(v, g).await {
                    Ok(grs) => golds.push((g, grs)),
                    Err(_) => skipped.push(g),
                }
            }
            if golds.is_empty() {
                alive = skipped;
                continue;
            }
            let p = match self.fetch(v, &sql).await {
                Ok(p) => p,
                Err(e) => {
                    r.error = Some(format!("failed on variant {v}: {e}"));
                    return;
                }
            };
            alive = golds
                .into_iter()
                .filter(|(g, grs)| same(g, grs, &p))
                .map(|(g, _)| g)
                .chain(skipped)
                .collect();
            if alive.is_empty() {
                r.error = Some(format!(
                    "same result as the gold on {db}, different on variant {v}"
                ));
                return;
            }
        }
        r.ts = true;
    }

    /// `--retrieval-only`: the gold tables and `ask tables:`'s ranking.
    async fn retrieval(
        &mut self,
        q: &Question,
        db: &str,
        through: Option<&(String, u16)>,
        r: &mut QuestionResult,
    ) {
        let gold: BTreeSet<String> = q
            .gold
            .iter()
            .find_map(|g| tables::gold_tables(g).ok())
            .unwrap_or_default();
        r.gold_tables = gold.into_iter().collect();
        let Some(addr) = through else { return };
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let client = match self.open(db, Some((addr, tx)), false).await {
            Ok(c) => c,
            Err(e) => {
                r.error = Some(e.to_string());
                return;
            }
        };
        let question = q.question.split_whitespace().collect::<Vec<_>>().join(" ");
        let t0 = Instant::now();
        match client
            .simple_query(&format!("-- ask tables: {question}"))
            .await
        {
            Ok(messages) => {
                r.retrieved = result_set(messages)
                    .rows
                    .into_iter()
                    .filter_map(|row| row.into_iter().next().flatten())
                    .collect();
                r.va = true;
            }
            Err(e) => r.error = Some(e.to_string()),
        }
        r.total_ms = t0.elapsed().as_secs_f64() * 1e3;
        r.stages.retrieve = r.total_ms;
    }
}

/// Rows an evaluated query may return; more is judged as an error.
const MAX_ROWS: usize = 100_000;

/// The last statement's columns and rows.
fn result_set(messages: Vec<SimpleQueryMessage>) -> ResultSet {
    let mut out = ResultSet {
        columns: vec![],
        rows: vec![],
    };
    let mut fresh = true;
    for m in messages {
        match m {
            SimpleQueryMessage::RowDescription(cols) => {
                out = ResultSet {
                    columns: cols.iter().map(|c| c.name().to_string()).collect(),
                    rows: vec![],
                };
                fresh = false;
            }
            SimpleQueryMessage::Row(row) => {
                if fresh {
                    out.columns = row.columns().iter().map(|c| c.name().to_string()).collect();
                    fresh = false;
                }
                out.rows.push(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                );
            }
            SimpleQueryMessage::CommandComplete(_) => fresh = true,
            _ => {}
        }
    }
    out
}

/// `--predictions`: SQL by question id, by question text, or by position.
#[derive(Debug)]
struct Predictions {
    by_key: HashMap<String, String>,
    in_order: Vec<String>,
}

impl Predictions {
    fn load(path: &Path) -> Result<Predictions, EvalError> {
        let fail = |reason: String| EvalError::Predictions {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let mut p = Predictions {
            by_key: HashMap::new(),
            in_order: vec![],
        };
        let jsonl = path.extension().is_some_and(|e| e == "jsonl");
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if !jsonl {
                p.in_order.push(line.to_string());
                continue;
            }
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| fail(format!("line {}: {e}", n + 1)))?;
            let sql = ["sql", "predicted_sql", "query"]
                .iter()
                .find_map(|k| v.get(*k).and_then(|s| s.as_str()))
                .ok_or_else(|| fail(format!("line {}: no \"sql\" field", n + 1)))?
                .to_string();
            for k in ["id", "question"] {
                if let Some(key) = v.get(k).and_then(|s| s.as_str()) {
                    p.by_key.insert(format!("{k}\u{1}{key}"), sql.clone());
                }
            }
            p.in_order.push(sql);
        }
        Ok(p)
    }

    fn find(&self, q: &Question, index: usize) -> Option<String> {
        self.by_key
            .get(&format!("id\u{1}{}", q.id))
            .or_else(|| self.by_key.get(&format!("question\u{1}{}", q.question)))
            .cloned()
            .or_else(|| {
                // Only a plain one-per-line file is matched by position.
                self.by_key
                    .is_empty()
                    .then(|| self.in_order.get(index).cloned())
                    .flatten()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_predictions() {
        assert_eq!(
            split_address("127.0.0.1:6432").unwrap(),
            ("127.0.0.1".into(), 6432)
        );
        assert_eq!(split_address("[::1]:6432").unwrap(), ("::1".into(), 6432));
        assert!(split_address("nohost").is_err());
        let dir = std::env::temp_dir().join(format!("pgask-eval-pred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("p.jsonl");
        std::fs::write(&f, "{\"id\": \"a:1\", \"sql\": \"SELECT 1\"}\n\n{\"question\": \"two?\", \"sql\": \"SELECT 2\"}\n").unwrap();
        let p = Predictions::load(&f).unwrap();
        let q = |id: &str, text: &str| Question {
            id: id.into(),
            question: text.into(),
            gold: vec![],
            db: None,
            category: "c".into(),
            allow_extra_columns: false,
        };
        assert_eq!(p.find(&q("a:1", "x"), 5).as_deref(), Some("SELECT 1"));
        assert_eq!(p.find(&q("a:2", "two?"), 0).as_deref(), Some("SELECT 2"));
        assert_eq!(p.find(&q("a:3", "three?"), 0), None);
        std::fs::write(dir.join("bad.jsonl"), "{\"id\": 1}\n").unwrap();
        assert!(Predictions::load(&dir.join("bad.jsonl"))
            .unwrap_err()
            .to_string()
            .contains("line 1"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
