//! Stage 1, the context of a question: the answer-cache key, retrieval's tables (widened once
//! when a name was missing), the FK paths between them, the grammar built from their real
//! names, and the few-shot examples the asking role may see.

use std::sync::Arc;

use super::{AskError, Asker, Db};
use crate::ask::catalog::{Access, Catalog, Table, TableId};
use crate::ask::execute::ExecError;
use crate::ask::generate::demos;
use crate::ask::generate::grammar::{self, Grammar, Spec};
use crate::ask::generate::scope::Scope;
use crate::ask::generate::shape::{self, Shape};
use crate::ask::generate::{self as generation};
use crate::ask::guard;
use crate::ask::history::Example;
use crate::ask::retrieve::graph::{join_clauses, join_clauses_named};
use crate::ask::retrieve::Ranked;
use crate::ask::semantic::Definition;
use crate::session::link::{Link, Who};

use super::values;

/// Retrieval's choice for a question and what is built from it.
pub(super) struct Context {
    pub catalog: Arc<Catalog>,
    pub tables: Vec<(TableId, Vec<String>)>,
    pub joins: Vec<String>,
    pub grammar: Grammar,
    /// The strict profile over the same tables, for a candidate the full grammar leads into a
    /// dead end (`llm.strict_fallback`); none under `strict` or when it has nothing to select.
    pub fallback: Option<Grammar>,
    /// The chosen tables and the question, for the sampler's scope check.
    pub scope: Scope,
    /// Examples made from the chosen tables' catalog (used while the database has none).
    pub demos: Vec<(String, String)>,
    /// Examples of the question's metrics and dimensions in use (always shown, last).
    pub metric_demos: Vec<(String, String)>,
    /// The question's metrics and dimensions, for the prompt (the grammar offers them whole).
    pub defined: Vec<Definition>,
    /// Retrieval's two best tables tie on the question's key word: the ask also reads the
    /// question with the second one first, and the other reading is offered.
    pub tie: bool,
    pub widened: bool,
    /// The tables are every table the role may read (`retrieval.whole_schema`): retrieval's
    /// first, then the rest; the prompt shows them in catalog order.
    pub whole: bool,
    /// How many of `tables` retrieval chose (the rest complete a whole schema).
    pub retrieved: usize,
    /// A value the question names was found by looking in a table with row-level security on
    /// the client's session (its policies may read its settings, such as a tenant): the answer
    /// may carry what this session saw, and is not cached for the role.
    pub from_data: bool,
}

/// The catalog with the values the question names given to their columns
/// ([`Asker::link_values`]).
struct Linked {
    catalog: Arc<Catalog>,
    values: Vec<String>,
    holders: Vec<(String, String, String)>,
    from_data: bool,
}

/// Two table scores this close (of about 0 to 1) tie.
const TIE: f32 = 0.05;

/// Whether retrieval's two best tables tie on the question's key word: their scores are within
/// [`TIE`] and a word of the question names both (`products` 1.00 and `product_categories` 0.99
/// for "show the products and their categories" on the demo database), so either could be what
/// the question means.
pub(super) fn tie_on_key_word(catalog: &Catalog, ranked: &[Ranked], question: &str) -> bool {
    let [a, b, ..] = ranked else {
        return false;
    };
    if (a.score - b.score).abs() > TIE {
        return false;
    }
    let stem = |w: &str| w.to_lowercase().trim_end_matches('s').to_string();
    let words: Vec<String> = question
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() >= 3)
        .map(stem)
        .collect();
    let parts = |t: TableId| -> Vec<String> {
        catalog
            .tables
            .get(t)
            .map(|t| t.name.split('_').map(stem).collect())
            .unwrap_or_default()
    };
    let (pa, pb) = (parts(a.table), parts(b.table));
    words.iter().any(|w| pa.contains(w) && pb.contains(w))
}

/// The catalog as the role may see it, for the prompt, grammar, scope and examples of the
/// `chosen` tables: a table it may read only in part keeps only its readable columns (their
/// comments and sample values go with the others), and no key names a column it may not read
/// or points at a table it may not read. The same catalog when nothing needs hiding.
fn for_role(catalog: &Arc<Catalog>, chosen: &[TableId], access: &Access) -> Arc<Catalog> {
    let hides = |t: &TableId| {
        catalog.tables.get(*t).is_some_and(|table| {
            access.columns.contains_key(t)
                || table
                    .foreign_keys
                    .iter()
                    .any(|fk| !access.can_read(fk.target))
        })
    };
    if !chosen.iter().any(hides) {
        return catalog.clone();
    }
    let mut own = (**catalog).clone();
    for &t in chosen {
        let Some(table) = own.tables.get_mut(t) else {
            continue;
        };
        let readable = |c: &String| access.can_read_column(t, c);
        table.columns.retain(|c| access.can_read_column(t, &c.name));
        if !table.primary_key.iter().all(readable) {
            table.primary_key.clear();
        }
        table.unique.retain(|u| u.iter().all(readable));
        table.foreign_keys.retain(|fk| {
            access.can_read(fk.target)
                && fk.columns.iter().all(readable)
                && fk
                    .target_columns
                    .iter()
                    .all(|c| access.can_read_column(fk.target, c))
        });
    }
    Arc::new(own)
}

/// The value lookup's longest budget, whatever `ask.value_lookup_ms` says.
const MAX_LOOKUP_MS: u64 = 10_000;

/// A metric or dimension matches a question by meaning from this cosine similarity on (its
/// name, description and synonyms against the question), besides matching by its words.
const DEFINITION_SIMILARITY: f32 = 0.55;

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
        who.role,
        normalise(question),
        conversation
    )
}

/// The glossary's metrics and dimensions a question uses (by their words, or by meaning), each
/// with its tables; those naming a table the role may not read, or that does not exist, are
/// left out.
fn definitions(
    r: &crate::ask::retrieve::Retriever,
    glossary: &crate::ask::glossary::Glossary,
    question: &str,
    access: &Access,
) -> Vec<(Definition, Vec<TableId>)> {
    let all = glossary.definitions();
    if all.is_empty() {
        return Vec::new();
    }
    let by_words = glossary.matching_definitions(question);
    let docs: Vec<String> = all.iter().map(Definition::document).collect();
    let close = r.similarities(question, &docs).unwrap_or_default();
    all.iter()
        .enumerate()
        .filter(|(i, d)| {
            by_words.contains(d) || close.get(*i).is_some_and(|&s| s >= DEFINITION_SIMILARITY)
        })
        .filter_map(|(_, d)| {
            let ids: Option<Vec<TableId>> =
                d.tables.iter().map(|t| find_table(&r.catalog, t)).collect();
            let ids = ids?;
            // Every column it reads must be readable by the role (column grants included).
            let readable = d.columns.iter().all(|(t, c)| {
                let id = find_table(&r.catalog, t);
                id.is_some_and(|id| {
                    r.catalog.tables[id].column(c).is_some() && access.can_read_column(id, c)
                })
            });
            (readable && ids.iter().all(|&t| access.can_read(t))).then(|| (d.clone(), ids))
        })
        .collect()
}

/// A definition's table (`name` or `schema.name`): in `public` first, then in any schema.
fn find_table(catalog: &Catalog, t: &str) -> Option<TableId> {
    match t.split_once('.') {
        Some((schema, name)) => catalog.find(schema, name),
        None => catalog.find("public", t).or_else(|| catalog.find_name(t)),
    }
}

/// Examples that use the question's metrics and dimensions as written: each metric in total,
/// each dimension with a count, and a metric by a dimension when the question has both (the
/// metric first, as the grammar requires when the question names it). Examples of a metric per
/// parent row were tried and dropped: the model copied them for unrelated groupings (EX 25%
/// against 30% without them on `tests/eval/demo_metrics.jsonl`).
fn definition_demos(
    catalog: &Catalog,
    db: &Db,
    access: &Access,
    defined: &[(Definition, Vec<TableId>)],
) -> Vec<(String, String)> {
    use crate::ask::semantic::Kind;
    let from = |ids: &[TableId]| -> Option<String> {
        let first = catalog.tables.get(*ids.first()?)?;
        let steps = db.retriever.graph.connect(ids, access);
        // Names as people write them: unqualified in `public`.
        let joins = join_clauses_named(catalog, &steps, Table::written);
        let joined: std::collections::HashSet<TableId> = std::iter::once(ids[0])
            .chain(steps.iter().flat_map(|s| [s.from, s.edge.to]))
            .collect();
        ids.iter().all(|t| joined.contains(t)).then(|| {
            format!("{} {}", first.written(), joins.join(" "))
                .trim_end()
                .to_string()
        })
    };
    let phrase = |d: &Definition| d.name.replace('_', " ");
    let mut out = Vec::new();
    for (d, ids) in defined {
        let Some(f) = from(ids) else { continue };
        out.push(match d.kind {
            Kind::Metric => (
                format!("What is the total {}?", phrase(d)),
                format!("SELECT {} FROM {f}", d.written()),
            ),
            Kind::Dimension => (
                format!("How many are there per {}?", phrase(d)),
                format!("SELECT {}, count(*) FROM {f} GROUP BY 1", d.written()),
            ),
        });
    }
    let metric = defined.iter().find(|(d, _)| d.kind == Kind::Metric);
    let dimension = defined.iter().find(|(d, _)| d.kind == Kind::Dimension);
    if let (Some((m, mi)), Some((dm, di))) = (metric, dimension) {
        let mut ids = mi.clone();
        ids.extend(di.iter().filter(|t| !mi.contains(t)));
        if let Some(f) = from(&ids) {
            out.push((
                format!("What is the {} per {}?", phrase(m), phrase(dm)),
                format!(
                    "SELECT {}, {} FROM {f} GROUP BY 2",
                    m.written(),
                    dm.written()
                ),
            ));
        }
    }
    out
}

impl Asker {
    /// Retrieval for a question: `k` tables, the FK paths between them, prompt parts, grammar.
    pub(super) async fn context(
        &self,
        (db, access): (&Db, &Access),
        question: &str,
        (k, widened): (usize, bool),
        link: &mut Link<'_>,
        status: u8,
    ) -> Result<Context, AskError> {
        let r = db.retriever.clone();
        let q = question.to_string();
        let a2 = access.clone();
        // Definitions are offered by the full grammar; the strict one cannot write them.
        let full = self.cfg().llm.grammar == grammar::Profile::Full;
        let glossary = self.glossary.clone();
        // Metrics the question names (not only means): its answer must use one.
        let named: Vec<String> = self
            .glossary
            .matching_definitions(question)
            .into_iter()
            .map(|d| d.name.clone())
            .collect();
        let (mut ranked, defined) = tokio::task::spawn_blocking(move || {
            let ranked = r.search(&q, &a2, k)?;
            let defined = if full {
                definitions(&r, &glossary, &q, &a2)
            } else {
                Vec::new()
            };
            Ok::<_, crate::ask::retrieve::RetrieveError>((ranked, defined))
        })
        .await
        .map_err(|e| AskError::Retrieval(e.to_string()))?
        .map_err(|e| AskError::Retrieval(e.to_string()))?;
        let catalog = db.retriever.catalog.clone();
        let retrieved = ranked.len();
        // A matched metric's tables join the chosen ones.
        for (_, ids) in &defined {
            for &t in ids {
                if !ranked.iter().any(|r| r.table == t) {
                    ranked.push(Ranked {
                        table: t,
                        score: 1.0,
                        columns: Vec::new(),
                        reason: "a metric or dimension of the question needs it".into(),
                    });
                }
            }
        }
        let metric_demos = definition_demos(&catalog, db, access, &defined);
        // A question that names a metric is about its tables; one that only means one is
        // judged by retrieval's own tables.
        let judged = if named.is_empty() {
            &ranked[..retrieved]
        } else {
            &ranked[..]
        };
        generation::check_scores(judged, self.cfg().llm.min_relevance)?;
        let required: Vec<String> = defined
            .iter()
            .filter(|(d, _)| {
                d.kind == crate::ask::semantic::Kind::Metric && named.contains(&d.name)
            })
            .map(|(d, _)| d.written())
            .collect();
        let defined: Vec<Definition> = defined.into_iter().map(|(d, _)| d).collect();
        let tie = tie_on_key_word(&catalog, &ranked, question);
        // A small database is shown whole (after retrieval's tables, which pick the examples).
        let whole_max = self.cfg().retrieval.whole_schema;
        let readable: Vec<TableId> = (0..catalog.tables.len())
            .filter(|&t| access.can_read(t))
            .collect();
        let whole = whole_max > 0 && readable.len() <= whole_max;
        let focus = ranked.len();
        if whole {
            for t in readable {
                if !ranked.iter().any(|r| r.table == t) {
                    ranked.push(Ranked {
                        table: t,
                        score: 0.0,
                        columns: Vec::new(),
                        reason: "the database is small enough to show whole".into(),
                    });
                }
            }
        }
        let mut chosen: Vec<_> = ranked.iter().map(|r| r.table).collect();
        if whole {
            // The same joins for every question.
            chosen.sort_unstable();
        }
        let steps = db.retriever.graph.connect(&chosen, access);
        // What the model sees of the chosen tables, and of those the join path goes through, is
        // what the role may read.
        let mut used = chosen.clone();
        for s in &steps {
            for t in [s.from, s.edge.to] {
                if !used.contains(&t) {
                    used.push(t);
                }
            }
        }
        let catalog = for_role(&catalog, &used, access);
        let shape = Shape::of(question, &shape::names(&catalog, &chosen));
        // Retrieval's own tables are looked in first.
        let order: Vec<TableId> = ranked.iter().map(|r| r.table).collect();
        let Linked {
            catalog,
            values,
            holders,
            from_data,
        } = self
            .link_values(
                link,
                catalog,
                (&order, order.get(..focus).unwrap_or(&order)),
                (question, &shape),
                status,
            )
            .await?;
        let mut spec = Spec::from_catalog(&catalog, &chosen, &steps);
        spec.defined = defined.iter().map(Definition::written).collect();
        spec.required = required;
        spec.partial = used.iter().any(|t| access.columns.contains_key(t));
        spec.ordered = shape.ordered;
        let grammar = grammar::build(&spec, self.cfg().llm.grammar)
            .map_err(|e| AskError::Grammar(e.to_string()))?;
        let scope = Scope::new(&catalog, &chosen, question)
            .with_definitions(&spec.defined)
            .with_values(&values)
            .with_holders(&holders)
            .with_order(shape.ordered)
            .with_subqueries(self.cfg().llm.grammar == grammar::Profile::Full);
        // (Built only where it can be used: the fallback needs the scope check to judge it.)
        // Its queries read the tables of the conditions pgask writes into it.
        let fallback = (self.cfg().llm.grammar == grammar::Profile::Full
            && self.cfg().llm.strict_fallback
            && self.cfg().llm.scope_check)
            .then(|| grammar::build(&scope.strict_spec(&spec), grammar::Profile::Strict).ok())
            .flatten();
        let tables: Vec<(TableId, Vec<String>)> = ranked
            .iter()
            .map(|r| (r.table, r.columns.clone()))
            .collect();
        Ok(Context {
            joins: join_clauses(&catalog, &steps),
            scope,
            demos: demos::for_question(
                &catalog,
                &tables,
                question,
                &shape,
                &demos::parse_pairs(&self.templates.load().examples),
                self.cfg().ask.catalog_examples,
            ),
            // The question's own metrics last: a base model copies the nearest example.
            metric_demos,
            tables,
            catalog,
            grammar,
            fallback,
            defined,
            tie,
            widened,
            whole,
            retrieved: focus,
            from_data,
        })
    }

    /// The catalog with the values the question names given to the columns holding them
    /// ([`values`](super::values)), and those values as stored; the same catalog when none is
    /// found. Labels the question writes are found from the schema alone; the lookup in the
    /// data is skipped when it is off or the client is inside a transaction block (its scans
    /// would take the client's locks and, under SERIALIZABLE, predicate locks a savepoint
    /// keeps).
    async fn link_values(
        &self,
        link: &mut Link<'_>,
        catalog: Arc<Catalog>,
        (tables, own): (&[TableId], &[TableId]),
        (question, shape): (&str, &Shape),
        status: u8,
    ) -> Result<Linked, AskError> {
        let cfg = self.cfg();
        // Labels only of retrieval's own tables, not of those a small database adds whole.
        let mut found = values::labelled(&catalog, own, question);
        found.extend(values::sampled(&catalog, tables, shape));
        let mut from_data = false;
        let probes = if cfg.ask.value_lookup_ms == 0 || status != b'I' {
            Vec::new()
        } else {
            values::probes(&catalog, tables, shape, &cfg.catalog.sensitive_patterns)
        };
        if !probes.is_empty() {
            let budget =
                std::time::Duration::from_millis(cfg.ask.value_lookup_ms.min(MAX_LOOKUP_MS));
            match values::look_up(link, &catalog, &probes, status, budget).await {
                Ok(more) => {
                    // (A value found in a table without row-level security reads the same on
                    // every connection of the role.)
                    from_data = more.iter().any(|(probe, _)| {
                        catalog
                            .tables
                            .get(probe.table)
                            .is_some_and(|t| t.row_security)
                    });
                    found.extend(more);
                }
                Err(ExecError::Link(e)) => return Err(e.into()),
                // The read-only scope did not close: nothing more may run on this session.
                Err(e) => return Err(AskError::Server(e.to_string())),
            }
            if link.is_cancelled() {
                return Err(AskError::Cancelled);
            }
        }
        tracing::debug!(
            probes = probes.len(),
            found = found.len(),
            "values looked up"
        );
        if found.is_empty() {
            return Ok(Linked {
                catalog,
                values: Vec::new(),
                holders: Vec::new(),
                from_data,
            });
        }
        let mut own = (*catalog).clone();
        values::apply(&mut own, &found);
        Ok(Linked {
            holders: values::holders(&own, &found),
            values: values::distinct(&found),
            catalog: Arc::new(own),
            from_data,
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
            .filter(|e| e.role == who.role || trusted.contains(&e.role))
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

    #[test]
    fn the_model_sees_only_the_columns_and_tables_the_role_may_read() {
        use crate::ask::catalog::{Column, ForeignKey};
        let col = |n: &str| Column {
            comment: Some(format!("about {n}")),
            samples: vec![format!("{n} value")],
            ..Column::new(n, "text")
        };
        let table = |name: &str, cols: &[&str], fks: Vec<ForeignKey>| Table {
            primary_key: vec![cols[0].to_string()],
            foreign_keys: fks,
            ..Table::new(name, cols.iter().map(|c| col(c)).collect())
        };
        let fk = |col: &str, target: TableId| ForeignKey {
            name: "fk".into(),
            columns: vec![col.into()],
            target,
            target_columns: vec!["id".into()],
        };
        let catalog = Arc::new(Catalog {
            database: "d".into(),
            fingerprint: String::new(),
            extensions: Vec::new(),
            tables: vec![
                table(
                    "staff",
                    &["id", "name", "salary", "team_id"],
                    vec![fk("team_id", 1)],
                ),
                table("team", &["id", "name"], vec![]),
                table("secret", &["id"], vec![]),
            ],
        });
        let mut access = Access::default();
        access.columns.insert(0, vec!["id".into(), "name".into()]);
        access.tables.insert(1);
        let seen = for_role(&catalog, &[0, 1], &access);
        let staff = &seen.tables[0];
        let names: Vec<&str> = staff.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "name"]);
        assert!(staff.foreign_keys.is_empty(), "team_id is not readable");
        // Nothing to hide: the same catalog, not a copy.
        let all = Access::all(&catalog);
        assert!(Arc::ptr_eq(&for_role(&catalog, &[0, 1], &all), &catalog));
        // A key to a table the role may not read goes; the table's own columns stay.
        let mut refs = (*catalog).clone();
        refs.tables[1].foreign_keys.push(fk("id", 2));
        let refs = Arc::new(refs);
        let mut access = Access::default();
        access.tables.extend([0, 1]);
        let seen = for_role(&refs, &[1], &access);
        assert!(seen.tables[1].foreign_keys.is_empty());
        assert_eq!(seen.tables[1].columns.len(), 2);
    }

    #[test]
    fn the_two_best_tables_tie_on_a_word_that_names_both() {
        use crate::ask::catalog::Table;
        let table = |name: &str| Table::new(name, vec![]);
        let catalog = Catalog {
            database: "d".into(),
            fingerprint: String::new(),
            extensions: Vec::new(),
            tables: vec![table("orders"), table("order_lines"), table("customers")],
        };
        let ranked = |scores: &[(TableId, f32)]| -> Vec<Ranked> {
            scores
                .iter()
                .map(|&(table, score)| Ranked {
                    table,
                    score,
                    columns: vec![],
                    reason: String::new(),
                })
                .collect()
        };
        let close = ranked(&[(0, 0.61), (1, 0.58), (2, 0.2)]);
        assert!(tie_on_key_word(&catalog, &close, "List the orders of May"));
        // Far apart, or no word that names both: no tie.
        assert!(!tie_on_key_word(
            &catalog,
            &ranked(&[(0, 0.8), (1, 0.5)]),
            "the orders"
        ));
        assert!(!tie_on_key_word(&catalog, &close, "what was sold in May"));
        let other = ranked(&[(0, 0.6), (2, 0.6)]);
        assert!(!tie_on_key_word(&catalog, &other, "orders of customers"));
        assert!(!tie_on_key_word(&catalog, &close[..1], "orders"));
    }
}
