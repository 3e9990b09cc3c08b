//! The ask pipeline behind a session, one file per stage:
//!
//! - [`context`]: catalog (per database, rebuilt when its fingerprint changes), retrieval, FK
//!   paths, the grammar, few-shot examples;
//! - [`generate`]: the prompt, a turn at the model, the candidates;
//! - [`validate`]: the guard, and what a server error means (correctable, cancel, fatal);
//! - [`select`]: the vote among candidates by their results;
//! - [`correct`]: the loop around them (retries with PostgreSQL's error, widening, the answer
//!   cache) and the run or plan of the chosen SQL;
//! - [`outcome`]: the typed result, which becomes the history record and the final NOTICE.
//!
//! Besides: extended-protocol asks ([`extended`]); `ask tables:`, `ask path:` and
//! `ask feedback:` ([`lookup`]). Everything the client sees for a request ends with one
//! ReadyForQuery carrying the session's own transaction status.

mod context;
mod correct;
mod extended;
mod generate;
mod lookup;
mod outcome;
mod select;
pub mod summary;
mod validate;
mod values;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::Mutex;

use crate::ask::catalog::{self, Access, CatalogOptions};
use crate::ask::directive::{Directive, DirectiveError};
use crate::ask::execute::{self, wire, Limits};
use crate::ask::generate::backend::Backend;
use crate::ask::generate::prompt::Templates;
use crate::ask::generate::{self as generation};
use crate::ask::glossary::Glossary;
use crate::ask::guard::{self, Policy};
use crate::ask::history::History;
use crate::ask::retrieve::embed::Embedder;
use crate::ask::retrieve::{embedding_cache, EmbeddingCache, Retriever};
use crate::config::Config;
use crate::net::messages::{ErrorResponse, Severity};
use crate::session::link::{Answered, Answerer, AskSession, Link, LinkError, Who};
use crate::session::request::AskRequest;

/// An ask failed before SQL could run; becomes one ErrorResponse.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("{0}")]
    Directive(#[from] DirectiveError),
    #[error("cannot read the catalog of database \"{db}\": {reason}")]
    Catalog { db: String, reason: String },
    #[error("table retrieval: {0}")]
    Retrieval(String),
    #[error("{0}")]
    Generate(#[from] generation::GenerateError),
    #[error("cannot build the grammar: {0}")]
    Grammar(String),
    #[error("gave up after {attempts} attempts; last SQL: {sql}; last error: {error}")]
    GaveUp {
        attempts: usize,
        sql: String,
        error: String,
        sqlstate: String,
    },
    #[error("there is no reading #{n} of the last ask; it had {have}")]
    NoReading { n: usize, have: usize },
    #[error("reading #{n} of the last ask failed: {error}")]
    ReadingFailed {
        n: usize,
        error: String,
        sqlstate: String,
    },
    #[error("current transaction is aborted, asks are ignored until end of transaction block")]
    Aborted,
    #[error("unknown table \"{0}\"")]
    UnknownTable(String),
    #[error("canceling the ask due to user request")]
    Cancelled,
    #[error("the connection's last ask has no answer (there was none yet, or it failed or was cancelled): feedback, an empty explain and #N are about the last answer")]
    NoAskYet,
    #[error("the question is {len} bytes; ask.max_question_bytes allows {max}")]
    QuestionTooLong { len: usize, max: usize },
    #[error("canceling the ask: it took longer than llm.timeout_secs ({0} s)")]
    Timeout(u64),
    #[error("{waiting} asks are waiting for the model (llm.max_queue = {max}); try again later")]
    QueueFull { waiting: usize, max: usize },
    #[error("asks need client_encoding UTF8; this session uses {0}")]
    Encoding(String),
    #[error("no example \"{0}\" that this role may forget")]
    NoSuchExample(String),
    #[error("{0}")]
    Explain(#[from] crate::ask::explain::ExplainError),
    #[error("the corrected SQL is not accepted: {0}")]
    BadCorrection(guard::GuardError),
    #[error("the corrected SQL does not plan: {message}")]
    CorrectionFails { sqlstate: String, message: String },
    #[error("an ask's Execute must be followed by Sync (pgask runs it in a read-only transaction that ends there)")]
    ExecuteWithoutSync,
    #[error("an ask's Execute cannot share its request with a statement that begins or ends a transaction or savepoint (pgask runs the request inside a read-only scope that statement would end)")]
    TransactionControl,
    #[error("an ask takes no parameters (its statement has {0}): pgask would answer with SQL made for one value and run it with any other")]
    Parameters(usize),
    #[error("unexpected answer from the server: {0}")]
    Server(String),
    #[error(transparent)]
    Link(#[from] LinkError),
}

impl AskError {
    /// The SQLSTATE the client hears this error with.
    pub fn sqlstate(&self) -> String {
        match self {
            AskError::Directive(d) => d.sqlstate().to_string(),
            AskError::Catalog { .. } => "58000".into(),
            AskError::Retrieval(_) | AskError::Grammar(_) | AskError::Server(_) => "XX000".into(),
            AskError::Generate(generation::GenerateError::Unanswerable(_)) => "42P01".into(),
            AskError::Generate(generation::GenerateError::Worker(w)) => {
                w.sqlstate_and_hint().0.into()
            }
            AskError::Generate(_) => "58000".into(),
            AskError::GaveUp { sqlstate, .. } => sqlstate.clone(),
            AskError::Aborted => "25P02".into(),
            AskError::UnknownTable(_) => "42P01".into(),
            AskError::Cancelled => "57014".into(),
            AskError::NoAskYet => "55000".into(),
            AskError::NoReading { .. } => "22023".into(),
            AskError::ReadingFailed { sqlstate, .. } => sqlstate.clone(),
            AskError::NoSuchExample(_) => "42704".into(),
            AskError::Explain(crate::ask::explain::ExplainError::NotQuery) => "0A000".into(),
            AskError::Explain(_) => "42601".into(),
            AskError::QuestionTooLong { .. } => "54000".into(),
            AskError::Timeout(_) => "57014".into(),
            AskError::QueueFull { .. } => "53300".into(),
            AskError::Encoding(_) => "22021".into(),
            AskError::BadCorrection(e) => e.sqlstate().into(),
            AskError::CorrectionFails { sqlstate, .. } => sqlstate.clone(),
            AskError::ExecuteWithoutSync
            | AskError::Parameters(_)
            | AskError::TransactionControl => "0A000".into(),
            AskError::Link(_) => "08006".into(),
        }
    }

    fn response(&self) -> ErrorResponse {
        let e = ErrorResponse::new(Severity::Error, self.sqlstate(), format!("pgask: {self}"));
        match self {
            AskError::Directive(d) => e.hint(d.hint()),
            AskError::Generate(generation::GenerateError::Worker(w)) => {
                e.hint(w.sqlstate_and_hint().1)
            }
            AskError::NoAskYet => {
                e.hint("ask something first, e.g. -- ask: how many customers are there?")
            }
            AskError::NoReading { .. } => {
                e.hint("-- ask: #N runs a reading listed in the last answer's NOTICE")
            }
            AskError::Encoding(_) => e.hint("SET client_encoding = 'UTF8' before asking"),
            AskError::QuestionTooLong { .. } => e.hint("ask a shorter question"),
            AskError::TransactionControl => {
                e.hint("send Sync after the ask, then COMMIT, ROLLBACK or the savepoint command")
            }
            AskError::Parameters(_) => e.hint(
                "write the values into the question, e.g. -- ask: customers in Brazil \
                 (psycopg: pass the text with no parameters, or use a ClientCursor)",
            ),
            _ => e,
        }
    }
}

/// How long a catalog connection is reused before a new one is opened.
const CATALOG_TTL: Duration = Duration::from_secs(60);

type CatalogClients = HashMap<(String, String, u64), (Arc<tokio_postgres::Client>, Instant)>;

/// Retrieval state of one database.
struct Db {
    fingerprint: String,
    retriever: Arc<Retriever>,
}

/// One database's retrieval state, built (or rebuilt) under its own lock.
type DbSlot = Arc<Mutex<Option<Arc<Db>>>>;

/// The pipeline, shared by every session of the proxy.
pub struct Asker {
    /// The live configuration: a reload (SIGHUP) swaps it, and the next ask reads the new one.
    config: ArcSwap<Config>,
    backend: ArcSwap<Backend>,
    templates: ArcSwap<Templates>,
    policy: ArcSwap<Policy>,
    glossary: Arc<Glossary>,
    history: History,
    /// Generated SQL by (database, catalog fingerprint, role, question, conversation).
    answers: moka::sync::Cache<String, String>,
    /// Answers marked bad (`ask feedback: bad`) under the same key: never given again (for a
    /// day, at most eight per key).
    marked_bad: moka::sync::Cache<String, Vec<String>>,
    /// The answer cache's key and the correction of each corrected ask (by its history id),
    /// so that forgetting the example takes the cached correction back too.
    corrections: moka::sync::Cache<String, (String, String)>,
    embedder: tokio::sync::OnceCell<Result<Arc<Embedder>, String>>,
    vectors: EmbeddingCache,
    /// Retrieval state per database, each behind its own lock: a build in one database (catalog
    /// load and embedding can take a minute for thousands of tables) holds up only the asks of
    /// that database, which wait for it instead of building twice.
    dbs: std::sync::Mutex<HashMap<String, DbSlot>>,
    /// Catalog connections by (database, role), reused for [`CATALOG_TTL`].
    catalogs: Mutex<CatalogClients>,
    /// Tests switch the guard off to show the read-only transaction holding on its own.
    guard_off: std::sync::atomic::AtomicBool,
    /// Turns at the model: `llm.parallel` asks generate, the rest wait in order.
    model_slots: Arc<tokio::sync::Semaphore>,
    /// Asks waiting for a turn now.
    model_waiting: std::sync::atomic::AtomicUsize,
    /// `llm.parallel` at start (the number of turns).
    parallel: usize,
    /// Bumped by every reload (part of the catalog connections' key).
    generation: std::sync::atomic::AtomicU64,
}

impl Asker {
    pub fn new(config: &Config) -> Asker {
        let mut functions = guard::default_functions();
        functions.extend(config.ask.extra_functions.iter().cloned());
        let glossary = Glossary::load(&config.ask.glossary).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the glossary is not used");
            Glossary::default()
        });
        for p in glossary.problems() {
            tracing::warn!(file = %config.ask.glossary.display(), "left out of the glossary: {p}");
        }
        let ttl = Duration::from_secs(config.ask.cache_ttl_secs.max(1));
        Asker {
            config: ArcSwap::from_pointee(config.clone()),
            backend: ArcSwap::from_pointee(Backend::from_config(&config.llm)),
            templates: ArcSwap::from_pointee(
                Templates::load(config.llm.prompt_dir.as_deref()).unwrap_or_default(),
            ),
            policy: ArcSwap::from_pointee(Policy::new(functions)),
            glossary: Arc::new(glossary),
            history: History::start(&config.history, &config.upstream),
            answers: moka::sync::Cache::builder()
                .max_capacity(if config.ask.cache_ttl_secs == 0 {
                    0
                } else {
                    10_000
                })
                .time_to_live(ttl)
                .build(),
            marked_bad: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(24 * 3600))
                .build(),
            corrections: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(ttl)
                .build(),
            embedder: tokio::sync::OnceCell::new(),
            vectors: embedding_cache(10_000),
            dbs: std::sync::Mutex::new(HashMap::new()),
            catalogs: Mutex::new(HashMap::new()),
            guard_off: Default::default(),
            model_slots: Arc::new(tokio::sync::Semaphore::new(config.llm.parallel.max(1))),
            model_waiting: Default::default(),
            parallel: config.llm.parallel.max(1),
            generation: Default::default(),
        }
    }

    /// The configuration in force now.
    fn cfg(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// Applies a reloaded configuration: every setting documented "reload: yes" takes effect
    /// with the next ask (prompt templates are read again; catalog connections are reopened
    /// to a new upstream; catalogs are rebuilt when their options changed).
    pub fn reload(&self, next: &Config) {
        let old = self.cfg();
        // Templates are read again on every reload (edited in place or moved).
        match Templates::load(next.llm.prompt_dir.as_deref()) {
            Ok(t) => self.templates.store(Arc::new(t)),
            Err(e) => tracing::warn!(error = %e, "prompt templates not reloaded"),
        }
        // Catalog connections are keyed by the config generation: after a reload none of the
        // old ones (old upstream, old catalog_user) is used again.
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        if let Ok(mut c) = self.catalogs.try_lock() {
            c.clear();
        }
        if next.upstream != old.upstream {
            self.history.retarget(&next.upstream);
        }
        if next.ask.extra_functions != old.ask.extra_functions {
            let mut functions = guard::default_functions();
            functions.extend(next.ask.extra_functions.iter().cloned());
            self.policy.store(Arc::new(Policy::new(functions)));
        }
        if next.catalog != old.catalog {
            self.dbs.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
        self.config.store(Arc::new(next.clone()));
    }

    /// The LLM backend in use.
    pub fn backend(&self) -> Arc<Backend> {
        self.backend.load_full()
    }

    /// Turns the SQL guard off: only for tests of the other read-only layers.
    #[doc(hidden)]
    pub fn disable_guard_for_tests(&self) {
        self.guard_off
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Replaces the LLM backend (tests use a scripted one).
    pub fn set_backend(&self, backend: Backend) {
        self.backend.store(Arc::new(backend));
    }

    fn limits(&self) -> Limits {
        let cfg = self.cfg();
        Limits {
            max_rows: cfg.ask.max_rows,
            statement_timeout_ms: cfg.ask.statement_timeout_ms,
            max_cost: cfg.ask.max_cost,
        }
    }

    /// A connection for reading the catalog, as the configured role or the client's own.
    async fn catalog_client(&self, who: &Who) -> Result<Arc<tokio_postgres::Client>, String> {
        let cfg = self.cfg();
        let up = &cfg.upstream;
        let user = if cfg.ask.catalog_user.is_empty() {
            &who.user
        } else {
            &cfg.ask.catalog_user
        };
        let key = (
            who.database.clone(),
            user.clone(),
            self.generation.load(std::sync::atomic::Ordering::Acquire),
        );
        {
            let mut open = self.catalogs.lock().await;
            match open.get(&key) {
                Some((c, at)) if !c.is_closed() && at.elapsed() < CATALOG_TTL => {
                    return Ok(c.clone())
                }
                _ => {
                    open.remove(&key);
                }
            }
        }
        let mut pg = tokio_postgres::Config::new();
        pg.host(&up.host)
            .port(up.port)
            .user(user)
            .dbname(&who.database)
            .application_name("pgask catalog")
            .connect_timeout(Duration::from_secs(up.connect_timeout_secs));
        if let Ok(pw) = std::env::var(&cfg.ask.catalog_password_env) {
            pg.password(pw);
        }
        let client = Arc::new(crate::net::pg_tls::connect(&pg, up).await?);
        self.catalogs
            .lock()
            .await
            .insert(key, (client.clone(), Instant::now()));
        Ok(client)
    }

    /// The database's retrieval state (rebuilt when the catalog changed) and the role's access.
    async fn db(&self, who: &Who) -> Result<(Arc<Db>, Access), AskError> {
        let fail = |reason: String| AskError::Catalog {
            db: who.database.clone(),
            reason,
        };
        let client = self.catalog_client(who).await.map_err(fail)?;
        let fingerprint = catalog::fingerprint(&client)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let slot = self
            .dbs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(who.database.clone())
            .or_default()
            .clone();
        let mut current = slot.lock().await;
        let db = match current.as_ref() {
            Some(db) if db.fingerprint == fingerprint => db.clone(),
            _ => {
                let cfg = self.cfg();
                let options = CatalogOptions {
                    sample_values: cfg.catalog.sample_values,
                    sensitive: cfg.catalog.sensitive_patterns.clone(),
                };
                let cat = catalog::load(&client, &options)
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                let embedder = self.embedder().await?;
                let vectors = self.vectors.clone();
                let cache_dir = cfg.retrieval.cache_dir.clone();
                let fp = cat.fingerprint.clone();
                let retriever = tokio::task::spawn_blocking(move || {
                    Retriever::build(cat, embedder, vectors, Some(&cache_dir))
                })
                .await
                .map_err(|e| AskError::Retrieval(e.to_string()))?
                .map_err(|e| AskError::Retrieval(e.to_string()))?;
                let db = Arc::new(Db {
                    fingerprint: fp,
                    retriever: Arc::new(retriever),
                });
                *current = Some(db.clone());
                db
            }
        };
        drop(current);
        let access = catalog::readable(&client, &db.retriever.catalog, &who.role)
            .await
            .map_err(|e| fail(e.to_string()))?;
        Ok((db, access))
    }

    /// The role's text embedder (loaded once).
    async fn embedder(&self) -> Result<Arc<Embedder>, AskError> {
        self.embedder
            .get_or_init(|| async {
                let dir = self.cfg().retrieval.embedder_dir.clone();
                tokio::task::spawn_blocking(move || Embedder::load(&dir))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map(Arc::new).map_err(|e| e.to_string()))
            })
            .await
            .clone()
            .map_err(AskError::Retrieval)
    }

    async fn simple(
        &self,
        session: &mut AskSession,
        directive: Result<Directive, DirectiveError>,
        link: &mut Link<'_>,
        status: u8,
    ) -> Result<(), AskError> {
        let directive = directive?;
        let admitted = if status == b'E' {
            Err(AskError::Aborted)
        } else {
            self.admit(session, &directive, link).await
        };
        if let Err(e) = admitted {
            unanswered(session, &directive);
            return Err(e);
        }
        match directive {
            Directive::Rows(q) => self
                .produce(session, &q, link, status, correct::Mode::Run)
                .await
                .map(|_| ()),
            Directive::Sql(q) => {
                let sql = self
                    .produce(session, &q, link, status, correct::Mode::Check)
                    .await?;
                lookup::Table::one("sql", sql).send(link).await
            }
            other => {
                self.look_up(session, other, link, status)
                    .await?
                    .send(link)
                    .await
            }
        }
    }
}

/// A question refused before it reached the pipeline (too long, in an aborted transaction,
/// in another encoding) is still the connection's latest ask ([`correct::unanswered`]).
fn unanswered(session: &mut AskSession, directive: &Directive) {
    if let Directive::Rows(q) | Directive::Sql(q) = directive {
        correct::unanswered(session, q);
    }
}

impl Asker {
    /// Checks before a directive is acted on: its size, and a session in UTF-8 (the question is
    /// read, and SQL, NOTICEs and answers are written, in UTF-8; in another client encoding
    /// they would arrive garbled or, for a question, not at all). Reads the role the session
    /// acts as now ([`Who::role`]) in the same round trip.
    async fn admit(
        &self,
        session: &mut AskSession,
        directive: &Directive,
        link: &mut Link<'_>,
    ) -> Result<(), AskError> {
        let (len, max) = (directive.text_len(), self.cfg().ask.max_question_bytes);
        if max > 0 && len > max {
            return Err(AskError::QuestionTooLong { len, max });
        }
        let (encoding, role) = execute::encoding_and_role(link)
            .await
            .map_err(|e| match e {
                execute::ExecError::Link(l) => AskError::Link(l),
                other => AskError::Server(other.to_string()),
            })?;
        // Another role now (`SET ROLE`): the conversation so far was the other role's, its
        // answers, feedback and `ask explain:` are not this one's.
        if !role.is_empty() && role != session.who.role {
            session.memory = Default::default();
            session.who.role = role;
        }
        let e = encoding.to_ascii_uppercase();
        if !(e == "UTF8" || e == "UNICODE" || e == "SQL_ASCII") {
            return Err(AskError::Encoding(encoding));
        }
        Ok(())
    }
}

impl Answerer for Asker {
    fn answer<'a>(
        &'a self,
        session: &'a mut AskSession,
        request: AskRequest,
        link: &'a mut Link<'_>,
        status: u8,
    ) -> Pin<Box<dyn Future<Output = Result<Answered, LinkError>> + Send + 'a>> {
        Box::pin(async move {
            match request {
                AskRequest::Extended(ext) => self.extended(session, ext, link, status).await,
                AskRequest::Simple(directive) => {
                    match self.simple(session, directive, link, status).await {
                        Ok(()) => {}
                        Err(AskError::Link(e)) => return Err(e),
                        Err(e) => {
                            let who = &session.who;
                            tracing::info!(error = %e, user = %who.user, db = %who.database, "ask failed");
                            link.client(e.response().encode()).await?;
                        }
                    }
                    link.release().await;
                    // The session's status as the server last reported it: if a scope could
                    // not be closed (a cancel landing between its statements), the client
                    // learns the truth instead of the status it had before.
                    let now = link.last_status().unwrap_or(status);
                    link.client(wire::ready_for_query(now)).await?;
                    Ok(Answered {
                        readies: 1,
                        discard_until_sync: false,
                    })
                }
            }
        })
    }
}
