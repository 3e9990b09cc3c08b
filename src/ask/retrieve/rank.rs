//! Combining the retrievers: reciprocal rank fusion of dense and lexical rankings, then a
//! deterministic hybrid reranker (dense similarity, lexical score, table-name and column-name
//! matches, foreign-key connectivity to the other strong candidates) that also says why.

use std::collections::{HashMap, HashSet};

use crate::ask::catalog::{Catalog, TableId};

use super::graph::JoinGraph;
use super::words::words;

/// The usual RRF constant.
const RRF_K: f32 = 60.0;

/// Reciprocal rank fusion of several rankings (best first).
pub fn fuse(rankings: &[&[(TableId, f32)]]) -> Vec<(TableId, f32)> {
    let mut scores: HashMap<TableId, f32> = HashMap::new();
    for ranking in rankings {
        for (rank, (t, _)) in ranking.iter().enumerate() {
            *scores.entry(*t).or_default() += 1.0 / (RRF_K + rank as f32 + 1.0);
        }
    }
    sorted(scores.into_iter().collect())
}

pub fn sorted(mut v: Vec<(TableId, f32)>) -> Vec<(TableId, f32)> {
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// A table chosen for a question.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub table: TableId,
    pub score: f32,
    /// Columns most likely needed: those the question mentions, then keys.
    pub columns: Vec<String>,
    /// Which words and columns matched, for `-- ask tables:` and the prompt.
    pub reason: String,
}

/// Inputs of the reranker for one question.
pub struct Evidence<'a> {
    pub catalog: &'a Catalog,
    pub graph: &'a JoinGraph,
    pub question: &'a str,
    pub dense: &'a HashMap<TableId, f32>,
    pub lexical: &'a HashMap<TableId, f32>,
}

/// Reranks fused candidates by weighted features.
pub fn rerank(ev: &Evidence<'_>, candidates: &[(TableId, f32)]) -> Vec<Ranked> {
    let q: Vec<String> = words(ev.question);
    let qset: HashSet<&str> = q.iter().map(String::as_str).collect();
    let max_lex = candidates
        .iter()
        .filter_map(|(t, _)| ev.lexical.get(t))
        .fold(0f32, |a, b| a.max(*b))
        .max(1e-6);
    let strong: HashSet<TableId> = candidates.iter().take(5).map(|(t, _)| *t).collect();
    // The fused (RRF) score itself is a feature: the reranker refines fusion, it does not replace it.
    let fused_score: HashMap<TableId, f32> = candidates.iter().copied().collect();
    // Tables a question needs usually live in one schema: each schema's share of the five
    // strongest candidates' fused score is a feature.
    let mut schema_vote: HashMap<&str, f32> = HashMap::new();
    for (t, s) in candidates.iter().take(5) {
        *schema_vote
            .entry(ev.catalog.tables[*t].schema.as_str())
            .or_default() += *s;
    }
    let vote_total: f32 = schema_vote.values().sum::<f32>().max(1e-6);
    let max_fused = candidates
        .iter()
        .map(|(_, s)| *s)
        .fold(0f32, f32::max)
        .max(1e-6);
    let mut out: Vec<Ranked> = candidates
        .iter()
        .map(|&(t, _)| {
            let table = &ev.catalog.tables[t];
            let name_words: HashSet<String> = words(&table.name).into_iter().collect();
            let name_hits: Vec<&str> = qset
                .iter()
                .copied()
                .filter(|w| name_words.contains(*w))
                .collect();
            let mut col_hits: Vec<(String, Vec<&str>)> = Vec::new();
            for c in &table.columns {
                let cw: HashSet<String> = words(&c.name).into_iter().collect();
                let hits: Vec<&str> = qset
                    .iter()
                    .copied()
                    .filter(|w| cw.contains(*w) && !name_words.contains(*w))
                    .collect();
                if !hits.is_empty() {
                    col_hits.push((c.name.clone(), hits));
                }
            }
            let col_words: HashSet<&str> = col_hits
                .iter()
                .flat_map(|(_, h)| h.iter().copied())
                .collect();
            let dense = ev.dense.get(&t).copied().unwrap_or(0.0).max(0.0);
            let lexical = ev.lexical.get(&t).copied().unwrap_or(0.0) / max_lex;
            let name = if q.is_empty() {
                0.0
            } else {
                (name_hits.len() as f32 / name_words.len().max(1) as f32).min(1.0)
            };
            let cols = if qset.is_empty() {
                0.0
            } else {
                col_words.len() as f32 / qset.len() as f32
            };
            let connected = ev
                .graph
                .edges(t)
                .iter()
                .any(|e| e.to != t && strong.contains(&e.to));
            let fused = fused_score.get(&t).copied().unwrap_or(0.0) / max_fused;
            let schema = schema_vote
                .get(table.schema.as_str())
                .copied()
                .unwrap_or(0.0)
                / vote_total;
            let score = 0.15 * schema
                + 0.40 * fused
                + 0.25 * dense
                + 0.10 * lexical
                + 0.10 * name
                + 0.05 * cols
                + if connected { 0.10 } else { 0.0 };
            let mut columns: Vec<String> = col_hits.iter().map(|(c, _)| c.clone()).collect();
            for k in table
                .primary_key
                .iter()
                .chain(table.foreign_keys.iter().flat_map(|fk| fk.columns.iter()))
            {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
            columns.truncate(8);
            let mut reason = format!("dense {dense:.2}, lexical {lexical:.2}");
            if !name_hits.is_empty() {
                reason.push_str(&format!("; name matches {}", name_hits.join(", ")));
            }
            if !col_hits.is_empty() {
                let list: Vec<String> = col_hits
                    .iter()
                    .take(4)
                    .map(|(c, h)| format!("{c} ({})", h.join(", ")))
                    .collect();
                reason.push_str(&format!("; columns {}", list.join(", ")));
            }
            if connected {
                reason.push_str("; joins a top candidate");
            }
            Ranked {
                table: t,
                score,
                columns,
                reason,
            }
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.table.cmp(&b.table)));
    out
}
