//! The ask's loop and its correction policy: the answer reused from this connection or the
//! answer cache, else up to `ask.max_attempts` attempts, each through the stages ([`context`],
//! [`generate`], [`validate`], [`select`]) and then the run (`ask:`) or the plan (`ask sql:`).
//! A failed attempt's SQL and PostgreSQL's error go into the next prompt; a missing table or
//! column widens retrieval once; a cached answer that no longer passes is dropped. The
//! [`Outcome`] becomes the history record, the connection's memory and the final NOTICE.
//!
//! [`context`]: super::context
//! [`generate`]: super::generate
//! [`validate`]: super::validate
//! [`select`]: super::select

use std::time::Instant;

use super::context::{cache_key, normalise, wants_more_tables, Context};
use super::generate::ModelTime;
use super::outcome::{Clock, Outcome, Source};
use super::select::{self, Proposal};
use super::validate::{rejected, Rejected};
use super::{AskError, Asker};
use crate::ask::execute::{self, wire, ExecError};
use crate::ask::generate::prompt::{Failure, PromptInput};
use crate::ask::generate::protocol::Stop;
use crate::ask::history::{now_ms, AskRecord, Event};
use crate::ask::memory::{follows_up, Turn};
use crate::session::link::{AskSession, Link};

/// Rows each candidate may return in its trial run before the vote.
const VOTE_ROWS: u32 = 100;

/// The notice for an answer written under the strict fallback.
const FALLBACK: &str = "pgask: the model's query under the full grammar could not be run whole (a dead end, or cut off); this answer's query was written again under the strict grammar, a smaller SQL that may leave out part of the question";
/// The notice for an answer whose query the model did not finish.
const SHORTENED: &str = "pgask: the model did not finish its query; this answer ran the longest start of it that could be closed into a whole query, which may leave out part of the question";

/// What becomes of the SQL once it passed the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Run it and stream its rows (`ask:` as a simple Query).
    Run,
    /// Only plan it (`ask sql:`, and extended-protocol asks, which the client then executes).
    Check,
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
            role: who.role.clone(),
            database: who.database.clone(),
            directive: if mode == Mode::Run { "rows" } else { "sql" }.into(),
            ..AskRecord::default()
        };
        let mut clock = Clock::default();
        let mut readings = Vec::new();
        let mut key = String::new();
        let mut from_data = false;
        let r = self
            .produce_in(
                session,
                question,
                link,
                status,
                mode,
                (
                    &mut rec,
                    &mut clock,
                    &mut readings,
                    &mut key,
                    &mut from_data,
                ),
            )
            .await;
        rec.timings = clock.ms();
        rec.tokens_in = clock.tokens_in;
        rec.tokens_out = clock.tokens_out;
        match &r {
            Ok(outcome) => outcome.record(&mut rec, &clock),
            Err(AskError::Cancelled) => rec.outcome = "cancelled".into(),
            Err(e) => {
                rec.outcome = "failed".into();
                rec.sqlstate = Some(e.sqlstate());
                rec.errors.push(e.to_string());
            }
        }
        if !matches!(r, Err(AskError::Link(_))) {
            self.history.record(Event::Ask(rec.clone()));
        }
        if r.is_err() {
            unanswered(session, question);
        }
        let outcome = r?;
        let sql = outcome.sql().to_string();
        let repeated = matches!(
            outcome,
            Outcome::Answered {
                source: Source::Repeated,
                ..
            }
        );
        // The answer's SQL: the first reading when the rows listed the readings instead.
        let sql = readings.first().cloned().unwrap_or(sql);
        if let (Some(_), Some(last)) = (reading_number(question), session.memory.last().cloned()) {
            // The chosen reading now answers the last ask (feedback and explain refer to it).
            session.memory.replace_last(Turn {
                sql: sql.clone(),
                record: rec.id.clone(),
                bad: false,
                ..last
            });
        } else if repeated {
            // Answered again from memory: that ask is the last one again.
            session
                .memory
                .answered_again(|q| normalise(q) == normalise(question));
        } else {
            let follows = session.memory.followed_by(question);
            session.memory.push(Turn {
                question: question.to_string(),
                sql: sql.clone(),
                database: who.database.clone(),
                record: rec.id.clone(),
                readings,
                key,
                follows,
                bad: false,
                from_data,
            });
        }
        Ok(sql)
    }

    /// The loop of one ask; `out` receives what [`Out`] lists.
    async fn produce_in(
        &self,
        session: &AskSession,
        question: &str,
        link: &mut Link<'_>,
        status: u8,
        mode: Mode,
        out: Out<'_>,
    ) -> Result<Outcome, AskError> {
        let (rec, clock, readings, key_out, from_data_out) = out;
        let who = &session.who;
        // One configuration for the whole ask, even if a reload lands in the middle of it.
        let cfg = self.cfg();
        let started = Instant::now();
        link.client(wire::notice("pgask: retrieving tables…"))
            .await?;
        let (db, access) = {
            let cancelled = link.cancelled();
            tokio::pin!(cancelled);
            tokio::select! {
                r = self.db(who) => r?,
                () = &mut cancelled => return Err(AskError::Cancelled),
            }
        };
        let key = cache_key(who, &db, question, &session.memory.context_key(question));
        key_out.clone_from(&key);
        // Answers the role marked bad for this question: not given again (below).
        let marked_bad = self.marked_bad.get(&key).unwrap_or_default();
        let mut reused = match reading_number(question) {
            Some(n) => {
                let last = session.memory.last().ok_or(AskError::NoAskYet)?;
                let sql = n.and_then(|n| last.reading(n)).ok_or(AskError::NoReading {
                    n: n.unwrap_or(0),
                    have: last.readings(),
                })?;
                Some((sql.to_string(), Source::Reading(n.unwrap_or(0))))
            }
            // A follow-up means what it follows: only the last ask again is the same ask (a
            // driver parsing it again), not "by country" after another question.
            None => (if follows_up(question) {
                session
                    .memory
                    .last()
                    .filter(|t| normalise(&t.question) == normalise(question) && !t.bad)
            } else {
                session
                    .memory
                    .answer_to(|q| normalise(q) == normalise(question))
            })
            .map(|t| (t.sql.clone(), Source::Repeated))
            .or_else(|| {
                self.answers
                    .get(&key)
                    .map(|sql: String| (sql, Source::Cached))
            }),
        };
        let mut context: Option<Context> = None;
        let mut examples: Option<Vec<(String, String)>> = None;
        clock.retrieve = started.elapsed();
        let limits = self.limits();
        let mut model = ModelTime::new(cfg.llm.timeout_secs);
        let attempts = cfg.ask.max_attempts.max(1);
        let mut attempt = 0;
        let mut failure: Option<Failure> = None;
        loop {
            if link.is_cancelled() {
                return Err(AskError::Cancelled);
            }
            // Readings belong to the attempt that answers, not to an earlier one.
            readings.clear();
            let mut after_run: Option<(String, Option<String>)> = None;
            // A candidate of this attempt cut off at a dead end (never run).
            let mut cut_off: Option<(String, Stop)> = None;
            // Stages 1 and 2: the context and the candidates (or the reused answer).
            let (proposals, mut source) = match reused.take() {
                Some((sql, source)) => (
                    vec![Proposal {
                        sql,
                        count: 1,
                        logprob: 0.0,
                        shortened: false,
                        fallback: false,
                    }],
                    source,
                ),
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
                        let mut k = cfg.retrieval.top_k;
                        if widen {
                            link.client(wire::notice(
                                "pgask: a table or column was missing; widening the table search…",
                            ))
                            .await?;
                            k *= 2;
                        }
                        context = Some(
                            self.context((&db, &access), question, (k, widen), link, status)
                                .await?,
                        );
                        clock.retrieve += r0.elapsed();
                    }
                    let Some(ctx) = context.as_ref() else {
                        break;
                    };
                    if examples.is_none() {
                        examples = Some(self.examples(&db, who, &access, question).await);
                    }
                    let input = PromptInput {
                        question,
                        tables: ctx.tables.clone(),
                        joins: ctx.joins.clone(),
                        glossary: glossary_lines(&self.glossary, ctx, question),
                        examples: match examples.as_ref() {
                            // The question's metrics are shown in use either way, last.
                            Some(own) if !own.is_empty() => {
                                own.iter().chain(&ctx.metric_demos).cloned().collect()
                            }
                            // A retry goes without the examples the failed attempts had
                            // last: a small model copies the nearest example's form, so the
                            // next one gets the next-best form (correcting from the error
                            // text alone is beyond it).
                            _ => {
                                let keep = ctx.demos.len().saturating_sub(attempt - 1).max(1);
                                ctx.demos[..keep.min(ctx.demos.len())]
                                    .iter()
                                    .chain(&ctx.metric_demos)
                                    .cloned()
                                    .collect()
                            }
                        },
                        history: session.memory.pairs_for(question),
                        retry: failure.clone(),
                        base_model: failure.is_some()
                            && self.backend.load_full().base_model().await,
                        max_columns: cfg.llm.max_prompt_columns,
                        whole: ctx.whole,
                        focus: ctx.retrieved,
                    };
                    let g0 = Instant::now();
                    let mut generated = self
                        .generate(link, ctx, &input, &mut model, &cfg, (attempt, attempts))
                        .await?;
                    if ctx.tie && attempt == 1 && input.tables.len() > 1 {
                        // Retrieval's best tables tie on the question's key word: the question
                        // read with the other one first is a candidate too, and its result
                        // becomes another reading when it differs.
                        let mut other = input.clone();
                        other.tables.swap(0, 1);
                        match self
                            .generate(link, ctx, &other, &mut model, &cfg, (attempt, attempts))
                            .await
                        {
                            Ok(more) => generated.extend(more),
                            Err(AskError::Cancelled) => return Err(AskError::Cancelled),
                            // The first reading stands on its own.
                            Err(e) => tracing::info!(error = %e, "the other reading failed"),
                        }
                    }
                    clock.generate += g0.elapsed();
                    for c in &generated {
                        clock.tokens_in += c.output.prompt_tokens;
                        clock.tokens_out += c.output.generated_tokens;
                    }
                    let source = Source::Generated {
                        attempts: attempt,
                        agreed: None,
                    };
                    let scope = cfg.llm.scope_check.then_some(&ctx.scope);
                    cut_off = generated
                        .iter()
                        .find(|c| select::held_back(c, scope))
                        .map(select::told);
                    (select::distinct(generated, scope), source)
                }
            };
            let generated = matches!(source, Source::Generated { .. });
            // A query the model did not end, finished by pgask (cut back and closed): said
            // once it ran, and never kept as the question's answer.
            let shortened = proposals.iter().any(|p| p.shortened);
            rec.sql = proposals.first().map(|p| p.sql.clone());
            rec.attempts = attempt;

            // Stage 3: the guard on every candidate.
            let c0 = Instant::now();
            let mut passed = Vec::new();
            let mut refused = None;
            let reading = matches!(source, Source::Reading(_));
            for p in proposals {
                if !reading && marked_bad.iter().any(|b| same_sql(b, &p.sql)) {
                    refused.get_or_insert_with(|| was_marked_bad(p.sql.clone()));
                    continue;
                }
                match self.guard_sql(&p.sql, &db, &access) {
                    Ok(()) => passed.push(p),
                    Err(f) => {
                        refused.get_or_insert(f);
                    }
                }
            }
            clock.check += c0.elapsed();
            let Some(first) = passed.first() else {
                if let Source::Reading(n) = source {
                    let f = refused.unwrap_or_default();
                    return Err(reading_failed(n, f));
                }
                if !generated {
                    self.answers.invalidate(&key);
                    continue;
                }
                let f = refused
                    .or_else(|| {
                        cut_off.map(|(sql, stop)| match stop {
                            Stop::Closed => too_long(sql),
                            Stop::DeadEnd => dead_end(sql),
                            _ => unfinished(sql),
                        })
                    })
                    .unwrap_or_default();
                rec.errors.push(if f.sqlstate.is_empty() {
                    f.message.clone()
                } else {
                    format!("{} ({})", f.message, f.sqlstate)
                });
                tracing::debug!(attempt, sqlstate = %f.sqlstate, sql = %f.sql, "attempt failed: {}", f.message);
                failure = Some(f);
                continue;
            };
            if link.is_cancelled() {
                return Err(AskError::Cancelled);
            }

            // Stage 4: with several distinct candidates, the vote by execution.
            let total: usize = passed.iter().map(|p| p.count).sum();
            let mut ambiguous = false;
            let chosen = if passed.len() > 1 {
                // The trial runs do not need the model: the next ask may use it meanwhile.
                model.release();
                let v0 = Instant::now();
                let vote = select::vote(link, &passed, status, &limits, VOTE_ROWS).await;
                clock.check += v0.elapsed();
                match vote {
                    Ok(v) => {
                        source = Source::Generated {
                            attempts: attempt,
                            agreed: Some((v.agreed, total)),
                        };
                        let mut all = vec![(passed[v.winner].sql.clone(), v.agreed)];
                        all.extend(v.others.iter().map(|&(i, n)| (passed[i].sql.clone(), n)));
                        // Candidates that failed in the trial runs are no reading.
                        let total: usize = all.iter().map(|(_, n)| n).sum();
                        *readings = if all.len() > 1 {
                            all.iter().map(|(sql, _)| sql.clone()).collect()
                        } else {
                            Vec::new()
                        };
                        // Said once the answer ran: a failed run is corrected, and its
                        // readings are not offered.
                        let run = mode == Mode::Run;
                        after_run = Some(readings_notice(&all, total, run));
                        if run && no_good_reading(v.agreed, total, all.len()) {
                            // No reading is better than another: the readings are the answer.
                            ambiguous = true;
                            readings_table(&all).to_sql()
                        } else {
                            passed[v.winner].sql.clone()
                        }
                    }
                    Err(Rejected::Correctable(f)) => {
                        rec.errors.push(format!("{} ({})", f.message, f.sqlstate));
                        tracing::debug!(attempt, sqlstate = %f.sqlstate, sql = %f.sql, "attempt failed in the vote: {}", f.message);
                        failure = Some(f);
                        continue;
                    }
                    Err(Rejected::Cancelled) => return Err(AskError::Cancelled),
                    Err(Rejected::Fatal(e)) => return Err(e),
                }
            } else {
                if total > 1 {
                    source = Source::Generated {
                        attempts: attempt,
                        agreed: Some((total, total)),
                    };
                }
                first.sql.clone()
            };
            rec.sql = Some(chosen.clone());
            let fallback = passed.iter().any(|p| p.fallback && p.sql == chosen);

            // The run, or the plan.
            let done = match mode {
                Mode::Run => {
                    // The rows may take as long as the client reads them: the model is free
                    // for the next ask meanwhile.
                    model.release();
                    let x0 = Instant::now();
                    let r = execute::run(link, &chosen, status, &limits).await;
                    clock.execute += x0.elapsed();
                    r.map(|done| (Some(done.rows), done.truncated.then_some(limits.max_rows)))
                }
                Mode::Check => {
                    let c0 = Instant::now();
                    let r = execute::check(link, &chosen, status, &limits).await;
                    clock.check += c0.elapsed();
                    r.map(|_| (None, None))
                }
            };
            let error = match done {
                Ok((rows, truncated)) => {
                    // (Not an answer that carries what this session found in the data.)
                    let personal = context.as_ref().is_some_and(|c| c.from_data);
                    *from_data_out = personal;
                    if generated && !ambiguous && !shortened && !personal && !fallback {
                        self.answers.insert(key.clone(), chosen.clone());
                    }
                    if shortened && !fallback {
                        link.client(wire::notice_with_hint(
                            SHORTENED,
                            Some("Ask again, or narrower: the model ran out of room."),
                        ))
                        .await?;
                    }
                    if fallback {
                        link.client(wire::notice_with_hint(
                            FALLBACK,
                            Some("Ask again in other words; with llm.strict_fallback = false the ask fails instead."),
                        ))
                        .await?;
                    }
                    if let Some((text, hint)) = after_run.take() {
                        link.client(wire::notice_with_hint(&text, hint.as_deref()))
                            .await?;
                    }
                    let outcome = Outcome::Answered {
                        sql: chosen,
                        source,
                        rows,
                        truncated,
                    };
                    if let Some(summary) = outcome.summary(clock) {
                        link.client(wire::notice(&summary.render())).await?;
                    }
                    return Ok(outcome);
                }
                // Rows (and the server's error) already reached the client.
                Err(ExecError::After(e)) => {
                    return Ok(Outcome::FailedAfterRows {
                        sql: chosen,
                        error: e.to_string(),
                    })
                }
                Err(e) => match rejected(e, &chosen, link.is_cancelled()) {
                    Rejected::Correctable(f) => f,
                    Rejected::Cancelled => return Err(AskError::Cancelled),
                    Rejected::Fatal(e) => return Err(e),
                },
            };
            if let Source::Reading(n) = source {
                return Err(reading_failed(n, error));
            }
            if !generated {
                self.answers.invalidate(&key);
                continue;
            }
            rec.errors
                .push(format!("{} ({})", error.message, error.sqlstate));
            tracing::debug!(attempt, sqlstate = %error.sqlstate, sql = %error.sql, "attempt failed: {}", error.message);
            failure = Some(error);
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

/// The prompt's glossary: the terms the question uses, then its metrics and dimensions with
/// their expressions (the grammar offers each whole).
fn glossary_lines(
    glossary: &crate::ask::glossary::Glossary,
    ctx: &Context,
    question: &str,
) -> Vec<(String, String)> {
    let mut lines = glossary.matching(question);
    for d in &ctx.defined {
        let what = if d.description.is_empty() {
            String::new()
        } else {
            format!(" ({})", d.description)
        };
        lines.push((
            format!("{} ({})", d.name.replace('_', " "), d.kind),
            format!("{}{what}", d.written()),
        ));
    }
    lines
}

/// `#2` (or `# 2`): a reading of the last ask, which `-- ask: #2` runs; `Some(None)` for `#0`
/// or a number too large (an error, never a question for the model).
fn reading_number(question: &str) -> Option<Option<usize>> {
    let rest = question.trim().strip_prefix('#')?.trim();
    // "#1 selling product" is a question; only `#` and digits pick a reading.
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(rest.parse().ok().filter(|&n| n >= 1))
}

fn reading_failed(n: usize, f: Failure) -> AskError {
    AskError::ReadingFailed {
        n,
        error: f.message,
        sqlstate: if f.sqlstate.is_empty() {
            "XX000".into()
        } else {
            f.sqlstate
        },
    }
}

/// No two candidates gave the same result, and there were at least 3 and 2 results: no
/// reading stands out, so the ask answers with the readings instead of rows (`-- ask sql:`
/// still answers with the first reading, and its NOTICE lists the rest).
fn no_good_reading(agreed: usize, total: usize, readings: usize) -> bool {
    agreed == 1 && total >= 3 && readings >= 2
}

/// The NOTICE after a vote: how many agreed, and the other readings with a HINT saying how to
/// run them (when no reading stands out and the ask runs, the rows list them instead).
fn readings_notice(all: &[(String, usize)], total: usize, run: bool) -> (String, Option<String>) {
    let agreed = all.first().map_or(0, |(_, n)| *n);
    let mut text = format!("pgask: {agreed} of {total} candidates agreed on the result");
    if all.len() < 2 {
        return (text, None);
    }
    if run && no_good_reading(agreed, total, all.len()) {
        text = format!(
            "pgask: the {total} candidates gave {} different results; no reading stands out, so \
             the answer lists them instead of rows",
            all.len()
        );
    } else {
        text.push_str("; other readings:");
        for (i, (sql, n)) in all.iter().enumerate().skip(1) {
            let who = if *n == 1 { "candidate" } else { "candidates" };
            text.push_str(&format!("\n#{} ({n} {who}): {sql}", i + 1));
        }
    }
    let hint = format!(
        "-- ask: #2 runs the second reading (#1 to #{} of this ask)",
        all.len()
    );
    (text, Some(hint))
}

/// The readings as rows: number, candidates that gave its result, SQL.
fn readings_table(all: &[(String, usize)]) -> super::lookup::Table {
    super::lookup::Table {
        columns: vec!["reading", "candidates", "sql"],
        rows: all
            .iter()
            .enumerate()
            .map(|(i, (sql, n))| vec![format!("#{}", i + 1), n.to_string(), sql.clone()])
            .collect(),
    }
}

/// What the next attempt is told of a query pgask had to end in the closing window.
fn too_long(sql: String) -> Failure {
    Failure {
        sql,
        sqlstate: "54000".into(),
        message: "the query did not end within its token budget: write a shorter one".into(),
        position: None,
        hint: None,
    }
}

/// After `question` got no answer, feedback must not land on the answer before it (`#N` picks
/// a reading of that answer and leaves it in place).
pub(super) fn unanswered(session: &mut AskSession, question: &str) {
    if reading_number(question).is_none() {
        session.memory.unanswered();
    }
}

/// The failure of an attempt whose candidate was cut off at its token budget or in a loop
/// where the scope check would not let it end: it may plan, but it does not answer the
/// question (a value it names still unused, a name undefined, a sort missing), so it is not
/// run (42601, like [`dead_end`]).
fn unfinished(sql: String) -> Failure {
    Failure {
        sql,
        sqlstate: "42601".into(),
        message: "the query was cut off (at its token budget or in a loop) where it could not \
                  end: it does not yet do what the question asks; write a shorter one that does"
            .into(),
        position: None,
        hint: None,
    }
}

/// A candidate the role marked bad for this question before (`ask feedback: bad`).
fn was_marked_bad(sql: String) -> Failure {
    Failure {
        sql,
        sqlstate: "42000".into(),
        message: "this query was marked as a wrong answer to the question: write a different one"
            .into(),
        position: None,
        hint: None,
    }
}

/// The same SQL but for spacing and a final semicolon.
pub(super) fn same_sql(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.trim()
            .trim_end_matches(';')
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    norm(a) == norm(b)
}

/// The failure of an attempt whose every candidate was cut off at a dead end of the sampler's
/// scope check: no query was written to the end (what PostgreSQL says of a query that stops
/// short: 42601).
fn dead_end(sql: String) -> Failure {
    Failure {
        sql,
        sqlstate: "42601".into(),
        message: "the query was cut off: every way to go on used a name or a form this database \
                  cannot run"
            .into(),
        position: None,
        hint: None,
    }
}

/// What one ask's loop hands back besides its outcome: the history record's fields, the
/// clock, the readings when candidates disagreed (the answer's first), the answer cache's key,
/// and whether the answer carries a value found in the connection's data.
type Out<'a> = (
    &'a mut AskRecord,
    &'a mut Clock,
    &'a mut Vec<String>,
    &'a mut String,
    &'a mut bool,
);
