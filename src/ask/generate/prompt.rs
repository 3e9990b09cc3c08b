//! Prompts: the system message (instructions and the compact DDL of the chosen tables, stable
//! for the same tables so its KV cache is reused) and the user message (glossary entries,
//! few-shot examples, the connection's previous asks, join hints, the question and, on a retry,
//! the failed SQL with PostgreSQL's error). The texts are templates in `config/prompts/`, built
//! in and overridable with `llm.prompt_dir`.

use std::path::Path;

use crate::ask::catalog::{quote_ident, Catalog, TableId};

use super::protocol::ChatMessage;

/// A template could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("prompt template {0}: {1}")]
    Read(String, std::io::Error),
}

const SYSTEM: &str = include_str!("../../../config/prompts/system.txt");
const USER: &str = include_str!("../../../config/prompts/user.txt");
const RELEVANCE: &str = include_str!("../../../config/prompts/relevance.txt");
const EXAMPLES: &str = include_str!("../../../config/prompts/examples.txt");

/// The templates.
#[derive(Debug, Clone)]
pub struct Templates {
    pub system: String,
    pub user: String,
    pub relevance: String,
    /// Generic question → SQL pairs over a made-up schema, shown while a database has no
    /// examples of its own from feedback: they show the form of an answer (count(*), a column
    /// list, a filter, a join with GROUP BY) that small models otherwise skip for `SELECT *`.
    pub examples: String,
}

impl Default for Templates {
    fn default() -> Self {
        Templates {
            system: SYSTEM.to_string(),
            user: USER.to_string(),
            relevance: RELEVANCE.to_string(),
            examples: EXAMPLES.to_string(),
        }
    }
}

impl Templates {
    /// The built-in templates, each replaced by `dir/<name>.txt` where that file exists.
    pub fn load(dir: Option<&Path>) -> Result<Templates, PromptError> {
        let mut t = Templates::default();
        let Some(dir) = dir else { return Ok(t) };
        for (name, slot) in [
            ("system", &mut t.system),
            ("user", &mut t.user),
            ("relevance", &mut t.relevance),
            ("examples", &mut t.examples),
        ] {
            let p = dir.join(format!("{name}.txt"));
            if p.is_file() {
                *slot = std::fs::read_to_string(&p)
                    .map_err(|e| PromptError::Read(p.display().to_string(), e))?;
            }
        }
        Ok(t)
    }
}

/// PostgreSQL's answer to a failed attempt, fed back on the next one.
#[derive(Debug, Clone, Default)]
pub struct Failure {
    pub sql: String,
    pub sqlstate: String,
    pub message: String,
    /// 1-based character position in `sql`, as PostgreSQL reports it.
    pub position: Option<usize>,
    pub hint: Option<String>,
}

/// Everything one prompt is made of.
#[derive(Debug, Clone, Default)]
pub struct PromptInput<'a> {
    pub question: &'a str,
    /// Chosen tables with the columns retrieval found most likely.
    pub tables: Vec<(TableId, Vec<String>)>,
    pub joins: Vec<String>,
    pub glossary: Vec<(String, String)>,
    pub examples: Vec<(String, String)>,
    pub history: Vec<(String, String)>,
    pub retry: Option<Failure>,
    /// The model is a base model: a retry shows PostgreSQL's error without the failed query,
    /// which a small base model copies instead of correcting (it is the text nearest the cue).
    pub base_model: bool,
    /// Wide tables show at most this many columns (keys and likely columns first).
    pub max_columns: usize,
    /// The tables are the whole schema: shown in catalog order with no likely columns, and
    /// the join hints beside them, so the system text is the same for every question; the
    /// user text then names the first `focus` of `tables` (retrieval's best) for the question.
    pub whole: bool,
    pub focus: usize,
}

/// The chat messages for a SQL generation.
pub fn messages(t: &Templates, catalog: &Catalog, input: &PromptInput<'_>) -> Vec<ChatMessage> {
    let mut system = t.system.replace("{schema}", &schema(catalog, input));
    if input.whole && !input.joins.is_empty() {
        let mut joins = input.joins.clone();
        joins.sort();
        system = format!("{}\n\nJoin hints:\n{}", system.trim_end(), joins.join("\n"));
    }
    let user = fill(&t.user, catalog, input, &t.examples);
    vec![
        ChatMessage::new("system", system.trim_end()),
        ChatMessage::new("user", user.trim_end()),
        ChatMessage::new(super::protocol::CUE, "SQL:"),
    ]
}

/// The chat messages for the yes/no relevance question.
pub fn relevance(t: &Templates, catalog: &Catalog, input: &PromptInput<'_>) -> Vec<ChatMessage> {
    let system = t.system.replace("{schema}", &schema(catalog, input));
    vec![
        ChatMessage::new("system", system.trim_end()),
        ChatMessage::new(
            "user",
            t.relevance.replace("{question}", input.question).trim_end(),
        ),
        ChatMessage::new(super::protocol::CUE, "Answer:"),
    ]
}

fn fill(template: &str, catalog: &Catalog, input: &PromptInput<'_>, generic: &str) -> String {
    let section = |title: &str, items: &[(String, String)], fmt: &dyn Fn(&str, &str) -> String| {
        if items.is_empty() {
            return String::new();
        }
        let mut s = format!("{title}\n");
        for (a, b) in items {
            s.push_str(&fmt(a, b));
        }
        s.push('\n');
        s
    };
    let glossary = section("Glossary:", &input.glossary, &|a, b| {
        format!("- {a}: {b}\n")
    });
    let examples = if input.examples.is_empty() && !generic.trim().is_empty() {
        format!(
            "Examples (from another database):\n{}\n\n",
            generic.trim_end()
        )
    } else {
        section("Examples:", &input.examples, &|q, sql| {
            format!("Question: {q}\nSQL: {sql}\n")
        })
    };
    let history = section(
        "Earlier questions in this conversation (the new one may refine them):",
        &input.history,
        &|q, sql| format!("Question: {q}\nSQL: {sql}\n"),
    );
    let joins = if input.whole {
        // The joins are in the system text; the question's likeliest tables are named here.
        let names: Vec<String> = input
            .tables
            .iter()
            .take(input.focus.min(3))
            .filter_map(|(t, _)| catalog.tables.get(*t).map(name_of))
            .collect();
        if names.is_empty() {
            String::new()
        } else {
            format!("Tables for this question: {}\n\n", names.join(", "))
        }
    } else if input.joins.is_empty() {
        String::new()
    } else {
        format!("Join hints:\n{}\n\n", input.joins.join("\n"))
    };
    let retry = input
        .retry
        .as_ref()
        .map(|f| retry_text(f, input.base_model))
        .unwrap_or_default();
    // Substitute the question last, so braces in it are never read as placeholders.
    template
        .replace("{glossary}", &glossary)
        .replace("{examples}", &examples)
        .replace("{history}", &history)
        .replace("{joins}", &joins)
        .replace("{retry}", &retry)
        .replace("{question}", input.question)
}

fn retry_text(f: &Failure, base_model: bool) -> String {
    // A base model is shown the error alone (no query, so no position in it either).
    let mut s = if base_model {
        format!(
            "\nAn earlier query failed: PostgreSQL error {}: {}\n",
            f.sqlstate, f.message
        )
    } else {
        format!(
            "\nThis query failed:\n{}\nPostgreSQL error {}: {}\n",
            f.sql, f.sqlstate, f.message
        )
    };
    if let Some(p) = f.position.filter(|_| !base_model) {
        let at: String = f.sql.chars().skip(p.saturating_sub(1)).take(30).collect();
        s.push_str(&format!("at character {p}: {at}\n"));
    }
    if let Some(h) = &f.hint {
        s.push_str(&format!("Hint: {h}\n"));
    }
    if !base_model {
        s.push_str("Write a corrected query.\n");
    }
    s
}

/// Compact DDL of the chosen tables, in retrieval's order (the same question gives the same
/// text, so its KV cache is reused); a whole schema in catalog order, the same for every
/// question.
pub fn schema(catalog: &Catalog, input: &PromptInput<'_>) -> String {
    let mut ids: Vec<&(TableId, Vec<String>)> = input
        .tables
        .iter()
        .filter(|(t, _)| *t < catalog.tables.len())
        .collect();
    // Retrieval's order, best first: a small model reads the first table as the likeliest.
    let mut seen = std::collections::HashSet::new();
    ids.retain(|(t, _)| seen.insert(*t));
    if input.whole {
        ids.sort_by_key(|(t, _)| *t);
    }
    let mut out = String::new();
    for (t, likely) in ids {
        let likely: &[String] = if input.whole { &[] } else { likely };
        out.push_str(&table_ddl(catalog, *t, likely, input.max_columns.max(4)));
        out.push('\n');
    }
    out
}

fn table_ddl(catalog: &Catalog, t: TableId, likely: &[String], max: usize) -> String {
    let table = &catalog.tables[t];
    let fk_of = |col: &str| {
        table.foreign_keys.iter().find_map(|fk| {
            let i = fk.columns.iter().position(|c| c == col)?;
            let target = catalog.tables.get(fk.target)?;
            Some(format!(
                " REFERENCES {}({})",
                name_of(target),
                quote_ident(fk.target_columns.get(i)?)
            ))
        })
    };
    // Keys and likely columns always; then the rest in order up to `max`.
    let mut shown: Vec<usize> = Vec::new();
    for (i, c) in table.columns.iter().enumerate() {
        let key = table.primary_key.contains(&c.name)
            || table
                .foreign_keys
                .iter()
                .any(|fk| fk.columns.contains(&c.name));
        if key || likely.contains(&c.name) {
            shown.push(i);
        }
    }
    for i in 0..table.columns.len() {
        if shown.len() >= max {
            break;
        }
        if !shown.contains(&i) {
            shown.push(i);
        }
    }
    shown.sort_unstable();
    let mut s = format!("CREATE TABLE {} (", name_of(table));
    if let Some(c) = &table.comment {
        s.push_str(&format!(" -- {}", one_line(c)));
    }
    s.push('\n');
    for (n, &i) in shown.iter().enumerate() {
        let c = &table.columns[i];
        s.push_str(&format!("  {} {}", quote_ident(&c.name), c.data_type));
        if table.primary_key.len() == 1 && table.primary_key[0] == c.name {
            s.push_str(" PRIMARY KEY");
        } else if !c.nullable {
            s.push_str(" NOT NULL");
        }
        if let Some(r) = fk_of(&c.name) {
            s.push_str(&r);
        }
        if n + 1 < shown.len() || table.primary_key.len() > 1 {
            s.push(',');
        }
        let mut notes = Vec::new();
        if let Some(cm) = &c.comment {
            notes.push(one_line(cm));
        }
        if !c.enum_labels.is_empty() {
            notes.push(format!("one of: {}", quoted(&c.enum_labels)));
        }
        if !c.samples.is_empty() {
            notes.push(format!("e.g. {}", quoted(&c.samples)));
        }
        if !notes.is_empty() {
            s.push_str(&format!(" -- {}", notes.join("; ")));
        }
        s.push('\n');
    }
    if table.primary_key.len() > 1 {
        let pk: Vec<String> = table.primary_key.iter().map(|c| quote_ident(c)).collect();
        s.push_str(&format!("  PRIMARY KEY ({})\n", pk.join(", ")));
    }
    if shown.len() < table.columns.len() {
        s.push_str(&format!(
            "  -- {} more columns not shown\n",
            table.columns.len() - shown.len()
        ));
    }
    s.push_str(");");
    s
}

fn name_of(t: &crate::ask::catalog::Table) -> String {
    if t.schema == "public" {
        quote_ident(&t.name)
    } else {
        t.qualified()
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn quoted(v: &[String]) -> String {
    v.iter()
        .take(8)
        .map(|x| format!("'{}'", x.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Lower-case words of a text, for the overlap measures below.
fn words(s: &str) -> std::collections::HashSet<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 1)
        .map(|w| w.to_lowercase())
        .collect()
}

/// Glossary entries whose term occurs in the question (as whole words, any case).
pub fn matching_glossary(question: &str, glossary: &[(String, String)]) -> Vec<(String, String)> {
    let q: Vec<String> = question
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .collect();
    glossary
        .iter()
        .filter(|(term, _)| {
            let t: Vec<String> = term
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(|w| w.to_lowercase())
                .collect();
            !t.is_empty() && q.windows(t.len()).any(|w| w == t.as_slice())
        })
        .cloned()
        .collect()
}

/// The `k` examples most similar to the question (word overlap, Jaccard), best first; examples
/// sharing no word are left out.
pub fn similar_examples(
    question: &str,
    pool: &[(String, String)],
    k: usize,
) -> Vec<(String, String)> {
    let q = words(question);
    let mut scored: Vec<(f32, &(String, String))> = pool
        .iter()
        .map(|e| {
            let w = words(&e.0);
            let inter = q.intersection(&w).count() as f32;
            let union = q.union(&w).count().max(1) as f32;
            (inter / union, e)
        })
        .filter(|(s, _)| *s > 0.0)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(k).map(|(_, e)| e.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn glossary_terms_match_whole_words() {
        let g = pairs(&[
            ("active customer", "bought in the last 90 days"),
            ("arr", "annual recurring revenue"),
        ]);
        let m = matching_glossary(
            "How many Active Customers... no: active customer in Q1?",
            &g,
        );
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].0, "active customer");
        assert!(
            matching_glossary("carry on", &g).is_empty(),
            "arr inside carry is no match"
        );
    }

    #[test]
    fn examples_are_ranked_by_overlap() {
        let pool = pairs(&[
            ("top customers by revenue", "SELECT 1"),
            ("tracks per genre", "SELECT 2"),
            ("revenue per month", "SELECT 3"),
        ]);
        let got = similar_examples("top 5 customers by revenue in 2024", &pool, 2);
        assert_eq!(got[0].1, "SELECT 1");
        assert_eq!(got[1].1, "SELECT 3");
        assert_eq!(got.len(), 2);
    }
}
