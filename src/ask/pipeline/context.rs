//! Stage 1, the context of a question: the answer-cache key, retrieval's tables (widened once
//! when a name was missing), the FK paths between them, the grammar built from their real
//! names, and the few-shot examples the asking role may see.

use std::sync::Arc;

use super::{AskError, Asker, Db};
use crate::ask::catalog::{Access, Catalog, TableId};
use crate::ask::generate::demos;
use crate::ask::generate::grammar::{self, Grammar, Spec};
use crate::ask::generate::scope::Scope;
use crate::ask::generate::{self as generation};
use crate::ask::guard;
use crate::ask::history::Example;
use crate::ask::retrieve::graph::join_clauses;
use crate::session::link::Who;

/// Retrieval's choice for a question and what is built from it.
pub(super) struct Context {
    pub catalog: Arc<Catalog>,
    pub tables: Vec<(TableId, Vec<String>)>,
    pub joins: Vec<String>,
    pub grammar: Grammar,
    /// The chosen tables and the question, for the sampler's scope check.
    pub scope: Scope,
    /// Examples made from the chosen tables' catalog (used while the database has none).
    pub demos: Vec<(String, String)>,
    pub widened: bool,
}

/// The answer-cache key part of a question: case and spacing do not matter.
pub(super) fn normalise(question: &str) -> String {
    question
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches(['?', '.', '!', ' '])
        .to_string()
}

/// Whether an error comes from a relation or column that is not among the chosen tables: the
/// one failure that widens retrieval.
pub(super) fn wants_more_tables(sqlstate: &str) -> bool {
    sqlstate == "42P01" || sqlstate == "42703"
}

/// The answer cache's key: database, catalog fingerprint, role, question and conversation.
pub(super) fn cache_key(who: &Who, db: &Db, question: &str, conversation: &str) -> String {
    format!(
        "{}\u{1}{}\u{1}{}\u{1}{}\u{1}{}",
        who.database,
        db.fingerprint,
        who.user,
        normalise(question),
        conversation
    )
}

impl Asker {
    /// Retrieval for a question: `k` tables, the FK paths between them, prompt parts, grammar.
    pub(super) async fn context(
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
        let tables: Vec<(TableId, Vec<String>)> = ranked
            .iter()
            .map(|r| (r.table, r.columns.clone()))
            .collect();
        Ok(Context {
            joins: join_clauses(&catalog, &steps),
            scope: Scope::new(&catalog, &chosen, question),
            demos: demos::for_question(
                &catalog,
                &tables,
                question,
                &demos::parse_pairs(&self.templates.load().examples),
                self.cfg().ask.catalog_examples,
            ),
            tables,
            catalog,
            grammar,
            widened,
        })
    }

    /// Few-shot examples for a question: the stored good pairs of the database most similar to
    /// it, among those the asking role may see ([`Asker::visible_examples`]).
    pub(super) async fn examples(
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
