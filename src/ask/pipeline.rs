//! The ask pipeline behind a session: directive → catalog (per database, rebuilt when its
//! fingerprint changes) → retrieval → prompt and grammar → generation → guard → EXPLAIN →
//! guarded execution, with the correction loop around generation and the NOTICEs that tell the
//! user what happened. Everything the client sees ends with one ReadyForQuery carrying the
//! session's own transaction status.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::Mutex;

use crate::ask::catalog::{self, Access, CatalogOptions};
use crate::ask::directive::{Directive, DirectiveError};
use crate::ask::execute::{self, wire, ExecError, Limits};
use crate::ask::generate::backend::Backend;
use crate::ask::generate::grammar::{self, Spec};
use crate::ask::generate::prompt::{self, Failure, PromptInput, Templates};
use crate::ask::generate::supervisor::{Supervisor, WorkerSpec};
use crate::ask::generate::{self as generation, Settings};
use crate::ask::guard::{self, Policy};
use crate::ask::retrieve::embed::Embedder;
use crate::ask::retrieve::graph::join_clauses;
use crate::ask::retrieve::{embedding_cache, EmbeddingCache, Retriever};
use crate::config::{Config, UpstreamTls};
use crate::net::messages::{ErrorResponse, Severity};
use crate::session::link::{Answerer, Link, LinkError, Who};

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
    #[error("current transaction is aborted, asks are ignored until end of transaction block")]
    Aborted,
    #[error("unknown table \"{0}\"")]
    UnknownTable(String),
    #[error("\"ask feedback:\" is not supported yet")]
    NotYet,
    #[error(transparent)]
    Link(#[from] LinkError),
}

impl AskError {
    fn response(&self) -> ErrorResponse {
        let code = match self {
            AskError::Directive(_) => "42601".to_string(),
            AskError::Catalog { .. } => "58000".into(),
            AskError::Retrieval(_) | AskError::Grammar(_) => "XX000".into(),
            AskError::Generate(generation::GenerateError::Unanswerable(_)) => "42P01".into(),
            AskError::Generate(_) => "58000".into(),
            AskError::GaveUp { sqlstate, .. } => sqlstate.clone(),
            AskError::Aborted => "25P02".into(),
            AskError::UnknownTable(_) => "42P01".into(),
            AskError::NotYet => "0A000".into(),
            AskError::Link(_) => "08006".into(),
        };
        let e = ErrorResponse::new(Severity::Error, code, format!("pgask: {self}"));
        match self {
            AskError::Directive(d) => e.hint(d.hint()),
            AskError::Generate(generation::GenerateError::Worker(_)) => e.hint(
                "pgask needs a GGUF model at llm.model: run `pgask models fetch`, or put one there by hand",
            ),
            _ => e,
        }
    }
}

/// Retrieval state of one database.
struct Db {
    fingerprint: String,
    retriever: Arc<Retriever>,
}

/// The pipeline, shared by every session of the proxy.
pub struct Asker {
    config: Config,
    backend: ArcSwap<Backend>,
    templates: Templates,
    policy: Policy,
    embedder: tokio::sync::OnceCell<Result<Arc<Embedder>, String>>,
    vectors: EmbeddingCache,
    dbs: Mutex<HashMap<String, Arc<Db>>>,
}

/// Per-stage timings of one ask.
#[derive(Debug, Default)]
struct Timings {
    retrieve: Duration,
    generate: Duration,
    check: Duration,
    execute: Duration,
}

impl Asker {
    pub fn new(config: &Config) -> Asker {
        let llm = &config.llm;
        let spec = WorkerSpec {
            program: std::env::current_exe().unwrap_or_else(|_| "pgask".into()),
            model: llm.model.clone(),
            threads: llm.threads,
            context: llm.context,
            chat_template: llm.chat_template.clone(),
            top_k: llm.top_k,
            load_timeout: Duration::from_secs(llm.load_timeout_secs),
        };
        let mut functions = guard::default_functions();
        functions.extend(config.ask.extra_functions.iter().cloned());
        Asker {
            config: config.clone(),
            backend: ArcSwap::from_pointee(Backend::Llama(Box::new(Supervisor::new(spec)))),
            templates: Templates::load(llm.prompt_dir.as_deref()).unwrap_or_default(),
            policy: Policy::new(functions),
            embedder: tokio::sync::OnceCell::new(),
            vectors: embedding_cache(10_000),
            dbs: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the LLM backend (tests use a scripted one).
    pub fn set_backend(&self, backend: Backend) {
        self.backend.store(Arc::new(backend));
    }

    fn limits(&self) -> Limits {
        Limits {
            max_rows: self.config.ask.max_rows,
            statement_timeout_ms: self.config.ask.statement_timeout_ms,
            max_cost: self.config.ask.max_cost,
        }
    }

    /// A connection for reading the catalog, as the configured role or the client's own.
    async fn catalog_client(&self, who: &Who) -> Result<tokio_postgres::Client, String> {
        let up = &self.config.upstream;
        if matches!(up.tls, UpstreamTls::Require | UpstreamTls::VerifyFull) {
            return Err("catalog connections over TLS are not supported yet".into());
        }
        let mut cfg = tokio_postgres::Config::new();
        let user = if self.config.ask.catalog_user.is_empty() {
            &who.user
        } else {
            &self.config.ask.catalog_user
        };
        cfg.host(&up.host)
            .port(up.port)
            .user(user)
            .dbname(&who.database)
            .application_name("pgask catalog")
            .connect_timeout(Duration::from_secs(up.connect_timeout_secs));
        if let Ok(pw) = std::env::var(&self.config.ask.catalog_password_env) {
            cfg.password(pw);
        }
        let (client, conn) = cfg
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
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
        let mut dbs = self.dbs.lock().await;
        let db = match dbs.get(&who.database) {
            Some(db) if db.fingerprint == fingerprint => db.clone(),
            _ => {
                let options = CatalogOptions {
                    sample_values: self.config.catalog.sample_values,
                    sensitive: self.config.catalog.sensitive_patterns.clone(),
                };
                let cat = catalog::load(&client, &options)
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                let embedder = self
                    .embedder
                    .get_or_init(|| async {
                        let dir = self.config.retrieval.embedder_dir.clone();
                        tokio::task::spawn_blocking(move || Embedder::load(&dir))
                            .await
                            .map_err(|e| e.to_string())
                            .and_then(|r| r.map(Arc::new).map_err(|e| e.to_string()))
                    })
                    .await
                    .clone()
                    .map_err(AskError::Retrieval)?;
                let vectors = self.vectors.clone();
                let cache_dir = self.config.retrieval.cache_dir.clone();
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
                dbs.insert(who.database.clone(), db.clone());
                db
            }
        };
        drop(dbs);
        let access = catalog::readable(&client, &db.retriever.catalog, &who.user)
            .await
            .map_err(|e| fail(e.to_string()))?;
        Ok((db, access))
    }

    async fn run(
        &self,
        who: &Who,
        directive: Result<Directive, DirectiveError>,
        link: &mut Link<'_>,
        status: u8,
    ) -> Result<(), AskError> {
        let directive = directive?;
        if status == b'E' {
            return Err(AskError::Aborted);
        }
        match directive {
            Directive::Rows(q) => self.answer(who, &q, link, status, true).await,
            Directive::Sql(q) => self.answer(who, &q, link, status, false).await,
            Directive::Tables(words) => self.tables(who, &words, link).await,
            Directive::Path { from, to } => self.path(who, &from, &to, link).await,
            Directive::Feedback(_) => Err(AskError::NotYet),
        }
    }

    async fn tables(&self, who: &Who, words: &str, link: &mut Link<'_>) -> Result<(), AskError> {
        let (db, access) = self.db(who).await?;
        let r = db.retriever.clone();
        let words = words.to_string();
        let k = self.config.retrieval.top_k;
        let ranked = tokio::task::spawn_blocking(move || r.search(&words, &access, k))
            .await
            .map_err(|e| AskError::Retrieval(e.to_string()))?
            .map_err(|e| AskError::Retrieval(e.to_string()))?;
        let cat = &db.retriever.catalog;
        link.client(wire::row_description(&["table", "score", "reason"]))
            .await?;
        for r in &ranked {
            let score = format!("{:.3}", r.score);
            let name = cat.tables[r.table].qualified();
            link.client(wire::data_row(&[
                Some(&name),
                Some(&score),
                Some(&r.reason),
            ]))
            .await?;
        }
        link.client(wire::command_complete(&format!("SELECT {}", ranked.len())))
            .await?;
        Ok(())
    }

    async fn path(
        &self,
        who: &Who,
        from: &str,
        to: &str,
        link: &mut Link<'_>,
    ) -> Result<(), AskError> {
        let (db, access) = self.db(who).await?;
        let cat = &db.retriever.catalog;
        let find = |name: &str| {
            let (schema, bare) = name.split_once('.').unwrap_or(("public", name));
            cat.find(schema, bare)
                .or_else(|| cat.find_name(bare))
                .filter(|&t| access.can_read(t))
                .ok_or_else(|| AskError::UnknownTable(name.to_string()))
        };
        let (a, b) = (find(from)?, find(to)?);
        let steps = db.retriever.graph.path(a, b, &access).unwrap_or_default();
        link.client(wire::row_description(&["step", "join"]))
            .await?;
        let joins = join_clauses(cat, &steps);
        for (i, j) in joins.iter().enumerate() {
            let n = (i + 1).to_string();
            link.client(wire::data_row(&[Some(&n), Some(j)])).await?;
        }
        link.client(wire::command_complete(&format!("SELECT {}", joins.len())))
            .await?;
        Ok(())
    }

    /// `ask:` (run the SQL) and `ask sql:` (return it).
    async fn answer(
        &self,
        who: &Who,
        question: &str,
        link: &mut Link<'_>,
        status: u8,
        run: bool,
    ) -> Result<(), AskError> {
        let mut t = Timings::default();
        let started = Instant::now();
        link.client(wire::notice("pgask: retrieving tables…"))
            .await?;
        let (db, access) = self.db(who).await?;
        let r = db.retriever.clone();
        let q = question.to_string();
        let k = self.config.retrieval.top_k;
        let a2 = access.clone();
        let ranked = tokio::task::spawn_blocking(move || r.search(&q, &a2, k))
            .await
            .map_err(|e| AskError::Retrieval(e.to_string()))?
            .map_err(|e| AskError::Retrieval(e.to_string()))?;
        generation::check_scores(&ranked, self.config.llm.min_relevance)?;
        let cat = db.retriever.catalog.clone();
        let chosen: Vec<_> = ranked.iter().map(|r| r.table).collect();
        let steps = db.retriever.graph.connect(&chosen, &access);
        let spec = Spec::from_catalog(&cat, &chosen, &steps);
        let g = grammar::build(&spec, self.config.llm.grammar)
            .map_err(|e| AskError::Grammar(e.to_string()))?;
        t.retrieve = started.elapsed();
        let input = PromptInput {
            question,
            tables: ranked
                .iter()
                .map(|r| (r.table, r.columns.clone()))
                .collect(),
            joins: join_clauses(&cat, &steps),
            max_columns: self.config.llm.max_prompt_columns,
            ..PromptInput::default()
        };
        let settings = Settings {
            max_tokens: self.config.llm.max_tokens,
            temperature: self.config.llm.temperature,
            seed: self.config.llm.seed,
            candidates: self.config.llm.candidates,
        };
        let limits = self.limits();
        let attempts = self.config.ask.max_attempts.max(1);
        let mut failure: Option<Failure> = None;
        for attempt in 1..=attempts {
            link.client(wire::notice(&format!(
                "pgask: generating SQL (attempt {attempt} of {attempts})…"
            )))
            .await?;
            let g0 = Instant::now();
            let input = PromptInput {
                retry: failure.clone(),
                ..input.clone()
            };
            let messages = prompt::messages(&self.templates, &cat, &input);
            let backend = self.backend.load_full();
            let mut cands = generation::candidates(&backend, &messages, &g, &settings).await?;
            t.generate += g0.elapsed();
            let sql = cands.drain(..).next().map(|c| c.sql).unwrap_or_default();
            let c0 = Instant::now();
            if let Err(e) = guard::check(&sql, &self.policy, &cat, &access) {
                t.check += c0.elapsed();
                failure = Some(Failure {
                    sql: sql.clone(),
                    sqlstate: e.sqlstate().into(),
                    message: e.to_string(),
                    position: None,
                    hint: e.hint().map(Into::into),
                });
                continue;
            }
            let outcome = if run {
                let x0 = Instant::now();
                let r = execute::run(link, &sql, status, &limits).await;
                t.execute += x0.elapsed();
                r.map(|done| (done.rows, done.truncated))
            } else {
                let r = execute::check(link, &sql, status, &limits).await;
                t.check += c0.elapsed();
                r.map(|_| (0, false))
            };
            match outcome {
                Ok((rows, truncated)) => {
                    if !run {
                        link.client(wire::row_description(&["sql"])).await?;
                        link.client(wire::data_row(&[Some(&sql)])).await?;
                        link.client(wire::command_complete("SELECT 1")).await?;
                    }
                    let ms = |d: Duration| d.as_secs_f64() * 1e3;
                    link.client(wire::notice(&format!(
                        "pgask: {sql}\n-- attempts: {attempt}; rows: {rows}{}; retrieve {:.0} ms, generate {:.0} ms, check {:.0} ms, execute {:.0} ms",
                        if truncated { format!(" (cut at ask.max_rows = {})", limits.max_rows) } else { String::new() },
                        ms(t.retrieve), ms(t.generate), ms(t.check), ms(t.execute)
                    )))
                    .await?;
                    return Ok(());
                }
                Err(ExecError::Before(e)) => {
                    failure = Some(Failure {
                        sql: sql.clone(),
                        sqlstate: e.sqlstate.clone(),
                        message: e.message.clone(),
                        position: e.position,
                        hint: e.hint.clone(),
                    });
                }
                Err(ExecError::TooCostly { cost, max }) => {
                    failure = Some(Failure {
                        sql: sql.clone(),
                        sqlstate: "54000".into(),
                        message: format!("the plan's estimated cost {cost:.0} exceeds {max:.0}"),
                        position: None,
                        hint: Some("add a filter or a LIMIT".into()),
                    });
                }
                // Rows (and the server's error) already reached the client: nothing to correct.
                Err(ExecError::After(_)) => return Ok(()),
                Err(ExecError::Link(e)) => return Err(e.into()),
                Err(e @ ExecError::Unexpected(_)) => {
                    return Err(AskError::Retrieval(e.to_string()))
                }
            }
        }
        let f = failure.unwrap_or_default();
        Err(AskError::GaveUp {
            attempts,
            sql: f.sql,
            error: f.message,
            sqlstate: if f.sqlstate.is_empty() {
                "XX000".into()
            } else {
                f.sqlstate
            },
        })
    }
}

impl Answerer for Asker {
    fn answer<'a>(
        &'a self,
        who: &'a Who,
        directive: Result<Directive, DirectiveError>,
        link: &'a mut Link<'_>,
        status: u8,
    ) -> Pin<Box<dyn Future<Output = Result<(), LinkError>> + Send + 'a>> {
        Box::pin(async move {
            match self.run(who, directive, link, status).await {
                Ok(()) => {}
                Err(AskError::Link(e)) => return Err(e),
                Err(e) => {
                    tracing::info!(error = %e, user = %who.user, db = %who.database, "ask failed");
                    link.client(e.response().encode()).await?;
                }
            }
            link.release().await;
            link.client(wire::ready_for_query(status)).await
        })
    }
}
