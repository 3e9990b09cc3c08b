//! Answers that are not generated SQL: `ask tables:` (ranked tables), `ask path:` (join path)
//! and `ask feedback:` (stored with the connection's last ask). Each is a small table of text,
//! sent as rows to a simple Query, or turned into a `VALUES` query for the extended protocol so
//! that Describe and Execute behave as for any statement.

use crate::ask::catalog::TableId;
use crate::ask::directive::{Directive, Feedback};
use crate::ask::execute::{self, wire};
use crate::ask::guard;
use crate::ask::history::{now_ms, Event, FeedbackRecord, ForgetRecord};
use crate::ask::retrieve::graph::join_clauses;
use crate::session::link::{AskSession, Link};

use moka::ops::compute::Op;

use super::correct::same_sql;
use super::{validate, AskError, Asker};

/// Answers marked bad kept per question (the oldest go first).
const MAX_MARKED_BAD: usize = 8;

/// Rows of text columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn one(column: &'static str, value: String) -> Table {
        Table {
            columns: vec![column],
            rows: vec![vec![value]],
        }
    }

    /// Sends the rows as the answer to a simple Query (without ReadyForQuery).
    pub async fn send(&self, link: &mut Link<'_>) -> Result<(), AskError> {
        link.client(wire::row_description(&self.columns)).await?;
        for row in &self.rows {
            let values: Vec<Option<&str>> = row.iter().map(|v| Some(v.as_str())).collect();
            link.client(wire::data_row(&values)).await?;
        }
        link.client(wire::command_complete(&format!(
            "SELECT {}",
            self.rows.len()
        )))
        .await?;
        Ok(())
    }

    /// A query returning these rows (text columns, same names).
    pub fn to_sql(&self) -> String {
        let names: Vec<String> = self.columns.iter().map(|c| quote_ident(c)).collect();
        if self.rows.is_empty() {
            let cols: Vec<String> = names.iter().map(|n| format!("NULL::text AS {n}")).collect();
            return format!("SELECT {} WHERE false", cols.join(", "));
        }
        let rows: Vec<String> = self
            .rows
            .iter()
            .map(|r| {
                let vals: Vec<String> = r.iter().map(|v| literal(v)).collect();
                format!("({})", vals.join(", "))
            })
            .collect();
        format!(
            "SELECT * FROM (VALUES {}) AS pgask({})",
            rows.join(", "),
            names.join(", ")
        )
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A text literal that means the same whatever `standard_conforming_strings` is: dollar quoting
/// with a tag that does not occur in the text.
pub fn literal(text: &str) -> String {
    let mut tag = "$pgask$".to_string();
    let mut n = 0;
    // The literal ends at the first occurrence of the tag after the opening one.
    while format!("{text}{tag}").find(&tag) != Some(text.len()) {
        n += 1;
        tag = format!("$pgask{n}$");
    }
    format!("{tag}{text}{tag}::text")
}

impl Asker {
    /// [`Self::lookup`], a correction first guarded and planned on the client's session
    /// ([`Self::plan_correction`]): the one way both protocols answer the lookups.
    pub(super) async fn look_up(
        &self,
        session: &mut AskSession,
        directive: Directive,
        link: &mut Link<'_>,
        status: u8,
    ) -> Result<Table, AskError> {
        self.plan_correction(session, &directive, link, status)
            .await?;
        self.lookup(session, directive).await
    }

    /// A corrected statement (`ask feedback: SELECT …`) becomes the cached answer to its
    /// question: it is planned first, in the read-only scope and within `ask.max_cost`, as a
    /// generated one is. One that fails to plan, or would cost more, is refused with
    /// PostgreSQL's error (a correction that runs for its whole `statement_timeout` would
    /// otherwise be given to the next asker of the question).
    async fn plan_correction(
        &self,
        session: &AskSession,
        directive: &Directive,
        link: &mut Link<'_>,
        status: u8,
    ) -> Result<(), AskError> {
        let Directive::Feedback(Feedback::Corrected(sql)) = directive else {
            return Ok(());
        };
        // The guard first (a write is refused for what it is, not planned).
        let (db, access) = self.db(&session.who).await?;
        guard::check(sql, &self.policy.load(), &db.retriever.catalog, &access)
            .map_err(AskError::BadCorrection)?;
        let sql = sql.trim().trim_end_matches(';');
        let Err(e) = execute::check(link, sql, status, &self.limits()).await else {
            return Ok(());
        };
        match validate::rejected(e, sql, link.is_cancelled()) {
            validate::Rejected::Correctable(f) => Err(AskError::CorrectionFails {
                sqlstate: f.sqlstate,
                message: f.message,
            }),
            validate::Rejected::Cancelled => Err(AskError::Cancelled),
            validate::Rejected::Fatal(e) => Err(e),
        }
    }

    /// `ask tables:`, `ask path:` and `ask feedback:`. Called through [`Asker::look_up`],
    /// which guards and plans a correction first.
    async fn lookup(
        &self,
        session: &mut AskSession,
        directive: Directive,
    ) -> Result<Table, AskError> {
        match directive {
            Directive::Tables(words) => self.tables(session, &words).await,
            Directive::Path { from, to } => self.path(session, &from, &to).await,
            Directive::Feedback(f) => self.feedback(session, f).await,
            Directive::Examples => self.list_examples(session).await,
            Directive::Forget(id) => self.forget(session, &id).await,
            Directive::Explain(sql) => self.explain(session, &sql).await,
            Directive::Suggest(topic) => self.suggest(session, &topic).await,
            Directive::Rows(_) | Directive::Sql(_) => Err(AskError::Server(
                "a question reached the lookup answers".into(),
            )),
        }
    }

    async fn tables(&self, session: &AskSession, words: &str) -> Result<Table, AskError> {
        let (db, access) = self.db(&session.who).await?;
        let r = db.retriever.clone();
        let words = words.to_string();
        let k = self.cfg().retrieval.top_k;
        let ranked = tokio::task::spawn_blocking(move || r.search(&words, &access, k))
            .await
            .map_err(|e| AskError::Retrieval(e.to_string()))?
            .map_err(|e| AskError::Retrieval(e.to_string()))?;
        let cat = &db.retriever.catalog;
        Ok(Table {
            columns: vec!["table", "score", "reason"],
            rows: ranked
                .iter()
                .map(|r| {
                    vec![
                        cat.tables[r.table].qualified(),
                        format!("{:.3}", r.score),
                        r.reason.clone(),
                    ]
                })
                .collect(),
        })
    }

    async fn path(&self, session: &AskSession, from: &str, to: &str) -> Result<Table, AskError> {
        let (db, access) = self.db(&session.who).await?;
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
        Ok(Table {
            columns: vec!["step", "join"],
            rows: join_clauses(cat, &steps)
                .into_iter()
                .enumerate()
                .map(|(i, j)| vec![(i + 1).to_string(), j])
                .collect(),
        })
    }

    /// `ask suggest:` questions the catalog's templates make (no model), over the tables
    /// retrieval ranks for the topic, or over every readable table, biggest first.
    async fn suggest(&self, session: &AskSession, topic: &str) -> Result<Table, AskError> {
        const SUGGESTIONS: usize = 12;
        let (db, access) = self.db(&session.who).await?;
        let cat = &db.retriever.catalog;
        let tables: Vec<TableId> = if topic.trim().is_empty() {
            let mut all: Vec<TableId> = (0..cat.tables.len())
                .filter(|&t| access.can_read(t))
                .collect();
            all.sort_by(|&a, &b| cat.tables[b].rows.total_cmp(&cat.tables[a].rows));
            all
        } else {
            let r = db.retriever.clone();
            let (words, a2) = (topic.to_string(), access.clone());
            let k = self.cfg().retrieval.top_k;
            tokio::task::spawn_blocking(move || r.search(&words, &a2, k))
                .await
                .map_err(|e| AskError::Retrieval(e.to_string()))?
                .map_err(|e| AskError::Retrieval(e.to_string()))?
                .iter()
                .map(|r| r.table)
                .collect()
        };
        // Only what this role could run: the guard with its privileges drops templates over
        // columns (and sample values of columns) it may not read.
        let policy = self.policy.load();
        let all = crate::ask::generate::demos::suggestions(cat, &tables, usize::MAX);
        let pairs: Vec<(String, String)> = all
            .into_iter()
            .filter(|(_, sql)| guard::check(sql, &policy, cat, &access).is_ok())
            .take(SUGGESTIONS)
            .collect();
        Ok(Table {
            columns: vec!["question", "sql"],
            rows: pairs.into_iter().map(|(q, s)| vec![q, s]).collect(),
        })
    }

    /// `ask explain:` the statement (or the connection's last ask) in words, one row per clause;
    /// tables the role may read show their catalog comment.
    async fn explain(&self, session: &AskSession, sql: &str) -> Result<Table, AskError> {
        let sql = if sql.trim().is_empty() {
            session.memory.last().ok_or(AskError::NoAskYet)?.sql.clone()
        } else {
            sql.to_string()
        };
        let (db, access) = self.db(&session.who).await?;
        let cat = &db.retriever.catalog;
        let comments = |name: &sqlparser::ast::ObjectName| {
            let parts: Vec<String> = name
                .0
                .iter()
                .map(|p| p.to_string().trim_matches('"').to_string())
                .collect();
            let id = match parts.as_slice() {
                [schema, table] => cat.find(schema, table),
                [table] => cat.find_name(table),
                _ => None,
            }?;
            access
                .can_read(id)
                .then(|| cat.tables[id].comment.clone())
                .flatten()
        };
        let clauses = crate::ask::explain::explain(&sql, &comments)?;
        Ok(Table {
            columns: vec!["step", "clause", "meaning"],
            rows: clauses
                .into_iter()
                .enumerate()
                .map(|(i, c)| vec![(i + 1).to_string(), c.clause.to_string(), c.text])
                .collect(),
        })
    }

    /// The examples this role's prompts may show, newest last.
    async fn list_examples(&self, session: &AskSession) -> Result<Table, AskError> {
        let (db, access) = self.db(&session.who).await?;
        let examples = self.visible_examples(&db, &session.who, &access).await;
        Ok(Table {
            columns: vec!["id", "role", "question", "sql"],
            rows: examples
                .into_iter()
                .map(|e| vec![e.id, e.role, e.question, e.sql])
                .collect(),
        })
    }

    /// Takes an example back: a role may forget its own, a role of `ask.feedback_roles` any.
    async fn forget(&self, session: &AskSession, id: &str) -> Result<Table, AskError> {
        let who = &session.who;
        let all = self.history.examples(&who.database).await;
        let trusted = self.cfg().ask.feedback_roles.contains(&who.role);
        let mine: Vec<_> = all
            .iter()
            .filter(|e| e.id == id && (trusted || e.role == who.role))
            .collect();
        if mine.is_empty() {
            return Err(AskError::NoSuchExample(id.to_string()));
        }
        if let Some((key, sql)) = self.corrections.remove(id) {
            // Unless a later answer has replaced it.
            if self.answers.get(&key).is_some_and(|a| a == sql) {
                self.answers.invalidate(&key);
            }
        }
        self.history.record(Event::Forget(ForgetRecord {
            ask: id.to_string(),
            at_ms: now_ms(),
            role: who.role.clone(),
            database: who.database.clone(),
        }));
        Ok(Table::one(
            "forget",
            format!("forgot {} example(s) of ask {id}", mine.len()),
        ))
    }

    /// Stores feedback with the connection's last ask. A corrected statement has passed the
    /// guard and planned ([`Asker::plan_correction`]: it becomes a few-shot example); good and corrected pairs are examples from now on.
    /// The answer itself follows the verdict at once: a bad one is dropped from the answer
    /// cache and never given again for that question (the next ask generates afresh and
    /// refuses it), a corrected one replaces it (asking again gets the correction, and so do
    /// follow-ups), a good one is kept. A follow-up is recorded with the question it followed.
    async fn feedback(&self, session: &mut AskSession, f: Feedback) -> Result<Table, AskError> {
        let last = session.memory.last().cloned().ok_or(AskError::NoAskYet)?;
        // An answer with a value found in this connection's data is no example for others, nor
        // is a correction of it (which likely keeps the value).
        let private = last
            .from_data
            .then(|| crate::ask::history::PRIVATE.to_string());
        let (verdict, sql, note) = match &f {
            Feedback::Good => ("good", last.sql.clone(), private.clone()),
            Feedback::Bad(why) => (
                "bad",
                last.sql.clone(),
                (!why.is_empty()).then(|| why.clone()),
            ),
            // (Guarded and planned before: [`Asker::plan_correction`].)
            Feedback::Corrected(sql) => (
                "corrected",
                sql.trim().trim_end_matches(';').to_string(),
                private.clone(),
            ),
        };
        self.history.record(Event::Feedback(FeedbackRecord {
            ask: last.record.clone(),
            at_ms: now_ms(),
            role: session.who.role.clone(),
            database: session.who.database.clone(),
            question: last.whole_question(),
            sql: sql.clone(),
            verdict: verdict.into(),
            note,
        }));
        // The list of answers marked bad under this key, updated in one step (two connections
        // judging at once keep both verdicts), of at most MAX_MARKED_BAD, newest last.
        let marking = verdict == "bad";
        self.marked_bad
            .entry(last.key.clone())
            .and_compute_with(|now| {
                let mut bad = now.map(|e| e.into_value()).unwrap_or_default();
                bad.retain(|b| !same_sql(b, &sql));
                if marking {
                    bad.push(sql.clone());
                }
                let over = bad.len().saturating_sub(MAX_MARKED_BAD);
                bad.drain(..over);
                if bad.is_empty() {
                    Op::Remove
                } else {
                    Op::Put(bad)
                }
            });
        match verdict {
            "bad" => {
                self.answers.invalidate(&last.key);
                session.memory.judge_last(None);
            }
            "corrected" if last.from_data => {
                // This connection's own: not the role's answer in the cache.
                self.answers.invalidate(&last.key);
                session.memory.judge_last(Some(sql));
            }
            "corrected" => {
                // (Forgetting the example takes the cached correction back too.)
                self.answers.insert(last.key.clone(), sql.clone());
                self.corrections
                    .insert(last.record.clone(), (last.key.clone(), sql.clone()));
                session.memory.judge_last(Some(sql));
            }
            // A good answer stays as it was: the pipeline keeps out of the cache what it must
            // not repeat silently (readings shown as a table, queries it finished itself).
            _ => session.memory.judge_last(Some(sql)),
        }
        let said = match private.filter(|_| verdict != "bad") {
            Some(p) => format!(" ({p})"),
            None => String::new(),
        };
        Ok(Table::one(
            "feedback",
            format!("recorded {verdict} for \"{}\"{said}", last.question),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_survive_dollar_signs() {
        assert_eq!(literal("a'b"), "$pgask$a'b$pgask$::text");
        let tricky = "x $pgask$ y";
        let l = literal(tricky);
        assert!(l.starts_with("$pgask1$") && l.contains(tricky), "{l}");
        assert!(literal("ends with $pgask").starts_with("$pgask1$"));
    }

    #[test]
    fn an_empty_table_is_still_a_query_with_its_columns() {
        let t = Table {
            columns: vec!["step", "join"],
            rows: vec![],
        };
        assert_eq!(
            t.to_sql(),
            "SELECT NULL::text AS \"step\", NULL::text AS \"join\" WHERE false"
        );
        let t = Table::one("sql", "SELECT 1".into());
        assert_eq!(
            t.to_sql(),
            "SELECT * FROM (VALUES ($pgask$SELECT 1$pgask$::text)) AS pgask(\"sql\")"
        );
    }
}
