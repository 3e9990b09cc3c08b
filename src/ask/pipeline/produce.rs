//! The generate → check → correct loop of one question: the answer cache first; then
//! retrieval, a prompt with the connection's earlier asks, matching glossary entries and few-shot
//! examples, the grammar, generation (stopped by a client cancel), the guard, EXPLAIN, and for
//! `ask:` the guarded run. A missing table or column widens retrieval once. NOTICEs tell the
//! user what happens; a history record and the connection's memory keep the outcome.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::summary::Summary;
use super::{AskError, Asker, Db};
use crate::ask::catalog::{Access, Catalog, TableId};
use crate::ask::execute::{self, wire, ExecError};
use crate::ask::generate::grammar::{self, Grammar, Spec};
use crate::ask::generate::prompt::{self, Failure, PromptInput};
use crate::ask::generate::{self as generation, Settings};
use crate::ask::guard;
use crate::ask::history::{now_ms, AskRecord, Event, Example, StageMs};
use crate::ask::memory::Turn;
use crate::ask::retrieve::graph::join_clauses;
use crate::session::link::{AskSession, Link, Who};

/// What becomes of the SQL once it passed the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Run it and stream its rows (`ask:` as a simple Query).
    Run,
    /// Only plan it (`ask sql:`, and extended-protocol asks, which the client then executes).
    Check,
}

/// Retrieval's choice for a question and what is built from it.
struct Context {
    catalog: Arc<Catalog>,
    tables: Vec<(TableId, Vec<String>)>,
    joins: Vec<String>,
    grammar: Grammar,
    widened: bool,
}

/// Stage times of one ask.
#[derive(Default)]
struct Clock {
    retrieve: Duration,
    generate: Duration,
    check: Duration,
    execute: Duration,
    tokens_in: usize,
    tokens_out: usize,
}

impl Clock {
    fn ms(&self) -> StageMs {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        StageMs {
            retrieve: ms(self.retrieve),
            generate: ms(self.generate),
            check: ms(self.check),
            execute: ms(self.execute),
        }
    }
}

/// The answer-cache key part of a question: case and spacing do not matter.
fn normalise(question: &str) -> String {
    question
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches(['?', '.', '!', ' '])
        .to_string()
}

/// Whether an error comes from a relation or column that is not among the chosen tables.
fn wants_more_tables(sqlstate: &str) -> bool {
    sqlstate == "42P01" || sqlstate == "42703"
}

impl Asker {
    /// Answers one question with SQL that passed every check (and, in [`Mode::Run`], ran).
    pub(super) async fn produce(
        &self,
        session: &mut AskSession,
        question: &str,
        link: &mut Link<'_>,
        status: u8,
        mode: Mode,
    ) -> Result<String, AskError> {
        let who = session.who.clone();
        let mut rec = AskRecord {
            id: self.history.new_id(),
            at_ms: now_ms(),
            question: question.to_string(),
            role: who.user.clone(),
            database: who.database.clone(),
            directive: if mode == Mode::Run { "rows" } else { "sql" }.into(),
            ..AskRecord::default()
        };
        let r = self
            .produce_in(session, question, link, status, mode, &mut rec)
            .await;
        match &r {
            Ok(_) if rec.outcome.is_empty() => rec.outcome = "answered".into(),
            Ok(_) => {}
            Err(AskError::Cancelled) => rec.outcome = "cancelled".into(),
            Err(e) => {
                rec.outcome = "failed".into();
                rec.errors.push(e.to_string());
            }
        }
        if !matches!(r, Err(AskError::Link(_))) {
            self.history.record(Event::Ask(rec.clone()));
        }
        if let (Ok(sql), false) = (&r, rec.outcome == "repeated") {
            session.memory.push(Turn {
                question: question.to_string(),
                sql: sql.clone(),
                database: who.database.clone(),
                record: rec.id.clone(),
            });
        }
        r
    }

    async fn produce_in(
        &self,
        session: &AskSession,
        question: &str,
        link: &mut Link<'_>,
        status: u8,
        mode: Mode,
        rec: &mut AskRecord,
    ) -> Result<String, AskError> {
        let who = &session.who;
        // One configuration for the whole ask, even if a reload lands in the middle of it.
        let cfg = self.cfg();
        let mut clock = Clock::default();
        let started = Instant::now();
        let cancelled = link.cancelled();
        tokio::pin!(cancelled);
        link.client(wire::notice("pgask: retrieving tables…"))
            .await?;
        let (db, access) = tokio::select! {
            r = self.db(who) => r?,
            () = &mut cancelled => return Err(AskError::Cancelled),
        };
        let key = format!(
            "{}\u{1}{}\u{1}{}\u{1}{}\u{1}{}",
            who.database,
            db.fingerprint,
            who.user,
            normalise(question),
            session.memory.context_key()
        );
        let asked_before = session
            .memory
            .answer_to(|q| normalise(q) == normalise(question))
            .map(|t| t.sql.clone());
        let repeated = asked_before.is_some();
        let mut cached = asked_before.or_else(|| self.answers.get(&key));
        let mut context: Option<Context> = None;
        let mut examples: Option<Vec<(String, String)>> = None;
        clock.retrieve = started.elapsed();
        let settings = Settings {
            max_tokens: cfg.llm.max_tokens,
            temperature: cfg.llm.temperature,
            seed: cfg.llm.seed,
            candidates: cfg.llm.candidates,
        };
        let limits = self.limits();
        // llm.timeout_secs counts from the first wait for the model: retrieval and an index
        // build are not the model's time.
        let timeout = cfg.llm.timeout_secs;
        let mut deadline: Option<tokio::time::Instant> = None;
        let mut turn: Option<tokio::sync::OwnedSemaphorePermit> = None;
        let attempts = cfg.ask.max_attempts.max(1);
        let mut attempt = 0;
        let mut failure: Option<Failure> = None;
        loop {
            if link.is_cancelled() {
                return Err(AskError::Cancelled);
            }
            let from_cache = cached.is_some();
            let sql = match cached.take() {
                Some(sql) => sql,
                None => {
                    attempt += 1;
                    if attempt > attempts {
                        break;
                    }
                    let widen = context.as_ref().is_some_and(|c| !c.widened)
                        && failure
                            .as_ref()
                            .is_some_and(|f| wants_more_tables(&f.sqlstate));
                    if context.is_none() || widen {
                        let r0 = Instant::now();
                        let k = cfg.retrieval.top_k;
                        let k = if widen {
                            link.client(wire::notice(
                                "pgask: a table or column was missing; widening the table search…",
                            ))
                            .await?;
                            k * 2
                        } else {
                            k
                        };
                        context = Some(self.context(&db, &access, question, k, widen).await?);
                        clock.retrieve += r0.elapsed();
                    }
                    let Some(ctx) = context.as_ref() else {
                        break;
                    };
                    if examples.is_none() {
                        examples = Some(self.examples(&db, who, &access, question).await);
                    }
                    let g0 = Instant::now();
                    let input = PromptInput {
                        question,
                        tables: ctx.tables.clone(),
                        joins: ctx.joins.clone(),
                        glossary: self.glossary.matching(question),
                        examples: examples.clone().unwrap_or_default(),
                        history: session.memory.pairs(),
                        retry: failure.clone(),
                        max_columns: cfg.llm.max_prompt_columns,
                    };
                    let messages = prompt::messages(&self.templates.load(), &ctx.catalog, &input);
                    let backend = self.backend.load_full();
                    let deadline = *deadline.get_or_insert_with(|| {
                        tokio::time::Instant::now()
                            + Duration::from_secs(if timeout == 0 {
                                365 * 24 * 3600
                            } else {
                                timeout
                            })
                    });
                    let expired = tokio::time::sleep_until(deadline);
                    tokio::pin!(expired);
                    if turn.is_none() {
                        let wait = self.model_turn(link);
                        turn = Some(tokio::select! {
                            r = wait => r?,
                            () = &mut cancelled => return Err(AskError::Cancelled),
                            () = &mut expired => return Err(AskError::Timeout(timeout)),
                        });
                        if cfg.llm.relevance_check {
                            // A grammar-constrained yes/no first: no SQL for a question the
                            // tables cannot answer.
                            let check =
                                prompt::relevance(&self.templates.load(), &ctx.catalog, &input);
                            tokio::select! {
                                r = generation::check_with_model(&backend, &check, settings.seed) => r?,
                                () = &mut cancelled => return Err(AskError::Cancelled),
                                () = &mut expired => return Err(AskError::Timeout(timeout)),
                            }
                        }
                    }
                    link.client(wire::notice(&format!(
                        "pgask: generating SQL (attempt {attempt} of {attempts})…"
                    )))
                    .await?;
                    let generated = tokio::select! {
                        r = generation::candidates(&backend, &messages, &ctx.grammar, &settings) => r?,
                        () = &mut cancelled => return Err(AskError::Cancelled),
                        () = &mut expired => return Err(AskError::Timeout(timeout)),
                    };
                    clock.generate += g0.elapsed();
                    for c in &generated {
                        clock.tokens_in += c.output.prompt_tokens;
                        clock.tokens_out += c.output.generated_tokens;
                    }
                    generated
                        .into_iter()
                        .next()
                        .map(|c| c.sql)
                        .unwrap_or_default()
                }
            };
            rec.sql = Some(sql.clone());
            rec.attempts = attempt;
            let c0 = Instant::now();
            let catalog = &db.retriever.catalog;
            let guarded = if self.guard_off.load(std::sync::atomic::Ordering::Relaxed) {
                Ok(())
            } else {
                guard::check(&sql, &self.policy.load(), catalog, &access).map(|_| ())
            };
            if let Err(e) = guarded {
                clock.check += c0.elapsed();
                if from_cache {
                    self.answers.invalidate(&key);
                    continue;
                }
                rec.errors.push(e.to_string());
                failure = Some(Failure {
                    sql: sql.clone(),
                    sqlstate: e.sqlstate().into(),
                    message: e.to_string(),
                    position: None,
                    hint: e.hint().map(Into::into),
                });
                continue;
            }
            if link.is_cancelled() {
                return Err(AskError::Cancelled);
            }
            let outcome = match mode {
                Mode::Run => {
                    // The rows may take as long as the client reads them: the model is free
                    // for the next ask meanwhile (a retry waits for its turn again).
                    turn = None;
                    let x0 = Instant::now();
                    let r = execute::run(link, &sql, status, &limits).await;
                    clock.execute += x0.elapsed();
                    r.map(|done| (Some(done.rows), done.truncated))
                }
                Mode::Check => {
                    let r = execute::check(link, &sql, status, &limits).await;
                    clock.check += c0.elapsed();
                    r.map(|_| (None, false))
                }
            };
            let error = match outcome {
                Ok((rows, truncated)) => {
                    rec.rows = rows;
                    rec.timings = clock.ms();
                    if repeated && from_cache {
                        rec.outcome = "repeated".into();
                    } else if from_cache {
                        rec.outcome = "cached".into();
                    } else {
                        self.answers.insert(key, sql.clone());
                    }
                    let what = match rows {
                        Some(n) if truncated => {
                            format!("rows: {n} (cut at ask.max_rows = {})", limits.max_rows)
                        }
                        Some(n) => format!("rows: {n}"),
                        None => "planned with EXPLAIN, not run here".into(),
                    };
                    let reused = if repeated && from_cache {
                        Some("asked before in this connection, answer reused".to_string())
                    } else if from_cache {
                        Some("from the answer cache".to_string())
                    } else {
                        None
                    };
                    let summary = Summary {
                        sql: sql.clone(),
                        attempts: Some(attempt),
                        reused,
                        rows: what,
                        stages: clock.ms(),
                        tokens_in: clock.tokens_in,
                        tokens_out: clock.tokens_out,
                    };
                    rec.tokens_in = clock.tokens_in;
                    rec.tokens_out = clock.tokens_out;
                    link.client(wire::notice(&summary.render())).await?;
                    return Ok(sql);
                }
                // A client cancel (a statement timeout is correctable: the model can filter).
                Err(ExecError::Before(e))
                    if e.sqlstate == "57014" && !e.message.contains("timeout") =>
                {
                    return Err(AskError::Cancelled)
                }
                Err(ExecError::Before(e)) => Failure {
                    sql: sql.clone(),
                    sqlstate: e.sqlstate.clone(),
                    message: e.message.clone(),
                    position: e.position,
                    hint: e.hint.clone(),
                },
                Err(ExecError::TooCostly { cost, max }) => Failure {
                    sql: sql.clone(),
                    sqlstate: "54000".into(),
                    message: format!("the plan's estimated cost {cost:.0} exceeds {max:.0}"),
                    position: None,
                    hint: Some("add a filter or a LIMIT".into()),
                },
                // Rows (and the server's error) already reached the client: nothing to correct.
                Err(ExecError::After(e)) => {
                    rec.outcome = "failed after rows".into();
                    rec.errors.push(e.to_string());
                    rec.timings = clock.ms();
                    return Ok(sql);
                }
                Err(ExecError::Link(e)) => return Err(e.into()),
                Err(e @ ExecError::Unexpected(_)) => return Err(AskError::Server(e.to_string())),
            };
            if from_cache {
                self.answers.invalidate(&key);
                continue;
            }
            rec.errors
                .push(format!("{} ({})", error.message, error.sqlstate));
            failure = Some(error);
        }
        rec.timings = clock.ms();
        rec.tokens_in = clock.tokens_in;
        rec.tokens_out = clock.tokens_out;
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

    /// Retrieval for a question: `k` tables, the FK paths between them, prompt parts, grammar.
    async fn context(
        &self,
        db: &Db,
        access: &Access,
        question: &str,
        k: usize,
        widened: bool,
    ) -> Result<Context, AskError> {
        let r = db.retriever.clone();
        let q = question.to_string();
        let a2 = access.clone();
        let ranked = tokio::task::spawn_blocking(move || r.search(&q, &a2, k))
            .await
            .map_err(|e| AskError::Retrieval(e.to_string()))?
            .map_err(|e| AskError::Retrieval(e.to_string()))?;
        generation::check_scores(&ranked, self.cfg().llm.min_relevance)?;
        let catalog = db.retriever.catalog.clone();
        let chosen: Vec<_> = ranked.iter().map(|r| r.table).collect();
        let steps = db.retriever.graph.connect(&chosen, access);
        let spec = Spec::from_catalog(&catalog, &chosen, &steps);
        let grammar = grammar::build(&spec, self.cfg().llm.grammar)
            .map_err(|e| AskError::Grammar(e.to_string()))?;
        Ok(Context {
            tables: ranked
                .iter()
                .map(|r| (r.table, r.columns.clone()))
                .collect(),
            joins: join_clauses(&catalog, &steps),
            catalog,
            grammar,
            widened,
        })
    }

    /// Waits for a turn at the model (first come, first served), telling the user how many asks
    /// are ahead; refuses at once when `llm.max_queue` asks already wait. The turn is held for
    /// the rest of the ask (all its attempts), so asks finish one after another instead of all
    /// late together.
    async fn model_turn(
        &self,
        link: &mut Link<'_>,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, AskError> {
        use std::sync::atomic::Ordering;
        if let Ok(p) = self.model_slots.clone().try_acquire_owned() {
            return Ok(p);
        }
        let max = self.cfg().llm.max_queue;
        let waiting = self.model_waiting.fetch_add(1, Ordering::AcqRel);
        struct Leave<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let _leave = Leave(&self.model_waiting);
        if waiting >= max {
            return Err(AskError::QueueFull { waiting, max });
        }
        let ahead = waiting + self.parallel;
        link.client(wire::notice(&format!(
            "pgask: waiting for the model, {ahead} ask{} ahead of this one…",
            if ahead == 1 { "" } else { "s" }
        )))
        .await?;
        self.model_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| AskError::Server(e.to_string()))
    }

    /// Few-shot examples for a question: the stored good pairs of the database most similar to
    /// it, among those the asking role may see ([`Asker::visible_examples`]).
    async fn examples(
        &self,
        db: &Db,
        who: &Who,
        access: &Access,
        question: &str,
    ) -> Vec<(String, String)> {
        let n = self.cfg().ask.examples;
        if n == 0 {
            return vec![];
        }
        let all = self.visible_examples(db, who, access).await;
        if all.is_empty() {
            return vec![];
        }
        let questions: Vec<String> = all.iter().map(|e| e.question.clone()).collect();
        let r = db.retriever.clone();
        let q = question.to_string();
        let best = tokio::task::spawn_blocking(move || r.similar_questions(&q, &questions, n))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        best.into_iter()
            .filter_map(|i| all.get(i))
            .map(|e| (e.question.clone(), e.sql.clone()))
            .collect()
    }

    /// The examples a role's prompts may show: its own and those of `ask.feedback_roles`, and
    /// only those whose every table and column it may read (they pass the guard as its own SQL
    /// would), so no example leaks names across roles.
    pub(super) async fn visible_examples(
        &self,
        db: &Db,
        who: &Who,
        access: &Access,
    ) -> Vec<Example> {
        let trusted = &self.cfg().ask.feedback_roles;
        self.history
            .examples(&who.database)
            .await
            .into_iter()
            .filter(|e| e.role == who.user || trusted.contains(&e.role))
            .filter(|e| {
                guard::check(&e.sql, &self.policy.load(), &db.retriever.catalog, access).is_ok()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_differing_in_case_and_spacing_share_a_key() {
        assert_eq!(
            normalise("  Top 5  Customers by revenue? "),
            normalise("top 5 customers BY revenue")
        );
        assert_ne!(normalise("top 5"), normalise("top 6"));
    }
}
