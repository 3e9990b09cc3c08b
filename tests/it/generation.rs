//! SQL generation with the real llama.cpp path: random-weight models written by the tests from
//! real tokenizer vocabularies, grammars built from chinook and northwind in a throwaway
//! PostgreSQL, the supervised worker process (cancel, crash, bad grammar), KV prefix reuse, and
//! grammar coverage of a hand-written query corpus checked by llama.cpp's own grammar matcher.

use crate::common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::data;
use common::Cluster;
use pgask::ask::catalog::{self, Access, Catalog, CatalogOptions};
use pgask::ask::generate::grammar::{self, Profile, Spec};
use pgask::ask::generate::llama::matcher::{Matcher, Verdict};
use pgask::ask::generate::prompt::{self, Failure, PromptInput, Templates};
use pgask::ask::generate::protocol::{ChatMessage, Stop};
use pgask::ask::generate::supervisor::{Request, Supervisor, SupervisorError, WorkerSpec};
use pgask::ask::generate::tiny::Shape;
use pgask::ask::guard::{self, Policy};
use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

async fn load_catalog(cluster: &Cluster, name: &str) -> Option<(Catalog, tokio_postgres::Client)> {
    let db = data::dataset(cluster, name)?;
    let client = cluster.client("postgres", &db).await;
    let cat = catalog::load(&client, &CatalogOptions::default())
        .await
        .expect("catalog");
    Some((cat, client))
}

/// Every table of the catalog with the joins its foreign keys give.
fn whole_spec(cat: &Catalog) -> Spec {
    let all: Vec<usize> = (0..cat.tables.len()).collect();
    Spec::from_catalog(cat, &all, &[])
}

fn spec_for(cat: &Catalog, tables: &[String]) -> Spec {
    let ids: Vec<usize> = tables
        .iter()
        .map(|t| cat.find_name(t).unwrap_or_else(|| panic!("no table {t}")))
        .collect();
    Spec::from_catalog(cat, &ids, &[])
}

/// Asserts that seed `seed`'s `sql` passes the guard's name check and plans.
async fn resolves_and_plans(
    sql: &str,
    seed: u32,
    (policy, cat, client): (&Policy, &Catalog, &tokio_postgres::Client),
) {
    guard::check(sql, policy, cat, &Access::all(cat))
        .unwrap_or_else(|e| panic!("seed {seed}: {e}: {sql}"));
    client
        .simple_query(&format!("EXPLAIN {sql}"))
        .await
        .unwrap_or_else(|e| panic!("seed {seed}: EXPLAIN failed: {e}: {sql}"));
}

/// Chinook and llama.cpp's grammar matcher over the vocabulary `vocab`.
async fn chinook_and_a_matcher(vocab: &str) -> Option<(Catalog, tokio_postgres::Client, Matcher)> {
    let (cat, client) = load_catalog(Cluster::shared(), "chinook").await?;
    let vocab = data::vocab(vocab)?;
    Some((cat, client, Matcher::load(&vocab).unwrap()))
}

/// Chinook, a random-weight model of `seed`, and the artist table as the chosen one.
async fn artists_and_a_random_model(
    seed: u64,
) -> Option<(Catalog, tokio_postgres::Client, PathBuf, Vec<usize>)> {
    let (cat, client) = load_catalog(Cluster::shared(), "chinook").await?;
    let model = data::model("llama-spm", Shape::TINY, seed)?;
    let ids = cat.find_name("artist").into_iter().collect();
    Some((cat, client, model, ids))
}

fn worker_spec(model: PathBuf) -> WorkerSpec {
    WorkerSpec {
        program: PathBuf::from(env!("CARGO_BIN_EXE_pgask")),
        model,
        threads: 2,
        context: 4096,
        chat_template: "auto".into(),
        top_k: 40,
        load_timeout: Duration::from_secs(120),
    }
}

fn worker(model: PathBuf) -> Supervisor {
    Supervisor::new(worker_spec(model))
}

fn request(question: &str, grammar: Option<String>, max_tokens: usize, seed: u32) -> Request {
    Request {
        messages: vec![
            ChatMessage::new("system", "Write one PostgreSQL query."),
            ChatMessage::new("user", question),
        ],
        grammar,
        max_tokens,
        temperature: 1.0,
        seed,
        scope: None,
        closing: false,
        fallback: None,
    }
}

/// A grammar that lets a random model write `OR` terms of 1 to 3 digits for longer than its
/// token budget, each term a point where the query may end.
const OR_CHAIN: &str = "root ::= \"SELECT name FROM artist WHERE artist_id = \" num ( \" OR artist_id = \" num ){0,40}\nnum ::= [1-9] [0-9]{0,2}";

/// The scope check over `artists_and_a_random_model`'s tables, for the question "artists".
fn artists_scope(cat: &Catalog, ids: &[usize]) -> pgask::ask::generate::scope::Scope {
    pgask::ask::generate::scope::Scope::new(cat, ids, "artists")
}

fn parse_one(sql: &str) -> Result<Statement, String> {
    let mut stmts = Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| e.to_string())?;
    if stmts.len() != 1 {
        return Err(format!("{} statements", stmts.len()));
    }
    Ok(stmts.remove(0))
}

/// 50 generations from a random-weight model under the strict grammar of chinook: every one is
/// complete, parses, names only real tables and columns, and plans on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_grammar_generations_parse_name_real_columns_and_explain() {
    let cluster = Cluster::shared();
    let Some((cat, client)) = load_catalog(cluster, "chinook").await else {
        return;
    };
    let Some(model) = data::model("llama-spm", Shape::TINY, 7) else {
        return;
    };
    let g = grammar::build(&whole_spec(&cat), Profile::Strict).unwrap();
    let llm = worker(model);
    let policy = Policy::new(guard::default_functions());
    let mut lengths = Vec::new();
    for seed in 0..50 {
        let out = llm
            .generate(request("anything", Some(g.text.clone()), 300, seed))
            .await
            .unwrap();
        assert_eq!(
            out.stop,
            Stop::Eos,
            "seed {seed} did not finish: {}",
            out.text
        );
        let sql = out.text.trim();
        resolves_and_plans(sql, seed, (&policy, &cat, &client)).await;
        lengths.push(out.generated_tokens);
    }
    let distinct: HashSet<usize> = lengths.iter().copied().collect();
    assert!(
        distinct.len() > 10,
        "seeds should give different queries: {lengths:?}"
    );
}

/// What each profile lets through, decided by llama.cpp's matcher: real names pass; invented
/// tables and columns, tables that were not chosen, writes, several statements, locking and
/// SELECT INTO do not. The strict profile also refuses out-of-scope columns and ungrouped ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grammars_admit_real_names_and_refuse_invented_ones_and_writes() {
    let Some((cat, _client, m)) = chinook_and_a_matcher("deepseek-coder").await else {
        return;
    };
    let spec = spec_for(&cat, &["customer".into(), "invoice".into()]);
    let full = grammar::build(&spec, Profile::Full).unwrap();
    let strict = grammar::build(&spec, Profile::Strict).unwrap();
    let ok = |g: &grammar::Grammar, sql: &str| {
        assert_eq!(
            m.check(&g.text, sql).unwrap(),
            Verdict::Accepted,
            "{:?} should accept {sql}",
            g.profile
        );
    };
    let no = |g: &grammar::Grammar, sql: &str| {
        assert_ne!(
            m.check(&g.text, sql).unwrap(),
            Verdict::Accepted,
            "{:?} should refuse {sql}",
            g.profile
        );
    };
    ok(&full, "SELECT first_name FROM customer");
    ok(&full, "SELECT c.first_name, SUM(i.total) AS revenue FROM customer AS c JOIN invoice AS i ON i.customer_id = c.customer_id GROUP BY c.first_name ORDER BY revenue DESC LIMIT 5");
    ok(&full, "WITH t AS (SELECT customer_id, SUM(total) AS spend FROM invoice GROUP BY customer_id) SELECT spend FROM t");
    // What small models used to invent names with: a SELECT with no FROM, a long made-up
    // qualifier, bare columns of a derived table (qualify them: `q.total`).
    no(&full, "SELECT *");
    no(&full, "SELECT customer_id");
    ok(
        &full,
        "SELECT 100.0 * (SELECT count(*) FROM invoice) / (SELECT count(*) FROM customer)",
    );
    no(
        &full,
        "SELECT customer_name_character_varying.customer_id FROM customer",
    );
    no(
        &full,
        "SELECT total_spend FROM (SELECT sum(total) AS total_spend FROM invoice) AS q",
    );
    ok(
        &full,
        "SELECT q.total_spend FROM (SELECT sum(total) AS total_spend FROM invoice) AS q",
    );
    no(&full, "SELECT customer_name FROM customer");
    no(&full, "SELECT first_name FROM customers");
    no(&full, "SELECT name FROM track");
    no(&full, "DELETE FROM customer");
    no(&full, "SELECT 1; DROP TABLE customer");
    no(&full, "SELECT first_name FROM customer FOR UPDATE");
    no(&full, "SELECT * INTO x FROM customer");
    no(
        &full,
        "WITH d AS (DELETE FROM customer RETURNING *) SELECT * FROM d",
    );
    ok(
        &strict,
        "SELECT customer.first_name FROM customer WHERE customer.country = 'USA' LIMIT 5",
    );
    ok(&strict, "SELECT customer.country, count(*) FROM invoice JOIN customer ON customer.customer_id = invoice.customer_id GROUP BY 1 ORDER BY 2 DESC NULLS LAST");
    no(&strict, "SELECT customer.first_name FROM invoice");
    no(&strict, "SELECT customer.country, count(*) FROM customer");
    no(
        &strict,
        "SELECT customer.first_name FROM customer WHERE customer.customer_id = 'abc'",
    );
    no(&strict, "SELECT first_name FROM customer");
    // Strict's text literals take `/ & . , -` (a value pgask writes: 'AC/DC'), no quote.
    ok(
        &strict,
        "SELECT customer.first_name FROM customer WHERE customer.company = 'AC/DC & Co., Ltd-'",
    );
    no(
        &strict,
        "SELECT customer.first_name FROM customer WHERE customer.company = 'O''Brien'",
    );
    // Descending, NULLs come last ("the highest" is a value).
    no(
        &strict,
        "SELECT customer.first_name FROM customer ORDER BY customer.first_name DESC",
    );
    // For a question that asks for an order, every strict query sorts or takes a smallest or
    // largest value: no other one-row aggregate, no plain or DISTINCT rows without ORDER BY.
    let mut ordered = spec.clone();
    ordered.ordered = true;
    let sorted = grammar::build(&ordered, Profile::Strict).unwrap();
    for sql in [
        "SELECT customer.first_name FROM customer ORDER BY customer.first_name DESC NULLS LAST LIMIT 5",
        "SELECT DISTINCT customer.country FROM customer ORDER BY 1",
        "SELECT customer.country, count(*) FROM invoice JOIN customer ON customer.customer_id = invoice.customer_id GROUP BY 1 ORDER BY count(*) DESC NULLS LAST LIMIT 1",
        "SELECT max(invoice.total) FROM invoice",
        "SELECT min(invoice.invoice_date), max(invoice.total) FROM invoice WHERE invoice.total > 1",
    ] {
        ok(&strict, sql);
        ok(&sorted, sql);
    }
    for sql in [
        "SELECT count(*) FROM customer",
        "SELECT sum(invoice.total) FROM invoice",
        "SELECT max(customer.first_name) FROM customer",
        "SELECT customer.first_name FROM customer LIMIT 5",
        "SELECT DISTINCT customer.country FROM customer",
        "SELECT customer.country, count(*) FROM customer GROUP BY 1",
    ] {
        ok(&strict, sql);
        no(&sorted, sql);
    }
}

/// Function calls are written only as PostgreSQL has them: llama.cpp's matcher accepts each call
/// PostgreSQL plans and refuses each it cannot (wrong number of arguments, a window function
/// without `OVER`, `OVER` or `FILTER` after an ordinary function, an ordered-set aggregate
/// without `WITHIN GROUP`, `DISTINCT` in an aggregate over a window). PostgreSQL's EXPLAIN
/// confirms both sides, so the lists cannot drift from what it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_calls_take_the_arguments_and_clauses_postgresql_needs() {
    let Some((cat, client, matcher)) = chinook_and_a_matcher("llama-spm").await else {
        return;
    };
    let g = grammar::build(&spec_for(&cat, &["track".to_string()]), Profile::Full).unwrap();
    let plans = [
        "count(*)",
        "count(DISTINCT genre_id)",
        "count(*) OVER ()",
        "sum(milliseconds) FILTER (WHERE genre_id = 1)",
        "string_agg(name, ', ' ORDER BY name)",
        "avg(milliseconds) OVER (PARTITION BY genre_id)",
        "lead(name) OVER (ORDER BY track_id)",
        "lag(name, 1, 'none') OVER (ORDER BY track_id)",
        "rank() OVER (ORDER BY milliseconds DESC)",
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY milliseconds)",
        "mode() WITHIN GROUP (ORDER BY genre_id)",
        "round(unit_price, 1)",
        "round(unit_price)",
        "coalesce(composer, name, 'none')",
        "date_trunc('month', now())",
        "now()",
        "substr(name, 1, 3)",
    ];
    let fails = [
        "lead() OVER (ORDER BY track_id)",
        "lead(name)",
        "rank()",
        "row_number(track_id) OVER ()",
        "upper(name) OVER ()",
        "sum(*)",
        "count(genre_id, album_id)",
        "sqrt(milliseconds, 2)",
        "upper()",
        "now(1)",
        "percentile_cont(0.5)",
        "count(DISTINCT genre_id) OVER ()",
        "lower(name) FILTER (WHERE genre_id = 1)",
        "replace(name, 'a')",
    ];
    for call in plans.iter().chain(&fails) {
        let sql = format!("SELECT {call} FROM track");
        let verdict = matcher.check(&g.text, &sql).unwrap();
        let planned = client.simple_query(&format!("EXPLAIN {sql}")).await;
        if plans.contains(call) {
            assert_eq!(verdict, Verdict::Accepted, "refused: {sql}");
            planned.unwrap_or_else(|e| panic!("{sql}: {e}"));
        } else {
            assert_ne!(verdict, Verdict::Accepted, "accepted: {sql}");
            assert!(planned.is_err(), "PostgreSQL plans {sql}");
        }
    }
}

#[derive(serde::Deserialize)]
struct CorpusQuery {
    db: String,
    tables: Vec<String>,
    sql: String,
}

/// Every hand-written query of `tests/generation/queries.jsonl`, in sqlparser's canonical form,
/// is accepted by the full grammar built from its own tables (llama.cpp's matcher decides).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_grammar_accepts_the_hand_written_corpus() {
    let cluster = Cluster::shared();
    let Some((chinook, _c1)) = load_catalog(cluster, "chinook").await else {
        return;
    };
    let Some((northwind, _c2)) = load_catalog(cluster, "northwind").await else {
        return;
    };
    let Some(vocab) = data::vocab("llama-spm") else {
        return;
    };
    let matcher = Matcher::load(&vocab).unwrap();
    let corpus = include_str!("../generation/queries.jsonl");
    let mut failures = Vec::new();
    let mut n = 0;
    for line in corpus.lines().filter(|l| !l.trim().is_empty()) {
        let q: CorpusQuery = serde_json::from_str(line).unwrap();
        let cat = if q.db == "chinook" {
            &chinook
        } else {
            &northwind
        };
        let canonical = parse_one(&q.sql).unwrap().to_string();
        let g = grammar::build(&spec_for(cat, &q.tables), Profile::Full).unwrap();
        match matcher.check(&g.text, &canonical).unwrap() {
            Verdict::Accepted => {}
            Verdict::RejectedAt(i) => failures.push(format!(
                "{}\n    rejected at: {}",
                canonical,
                &canonical[i.min(canonical.len())..]
            )),
        }
        n += 1;
    }
    assert!(n >= 150, "corpus has {n} queries");
    assert!(
        failures.is_empty(),
        "{} of {n} rejected:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A metric of the glossary is offered whole: llama.cpp's matcher accepts it wherever an
/// expression may stand; when the question names it, a random-weight model writes it whole in
/// every generation (the grammar requires it first and then allows only its text) and never
/// makes the query fail (no alias hides its table); without the definition the same seeds
/// never write it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_defined_metric_is_decoded_whole_by_a_random_model() {
    let cluster = Cluster::shared();
    let Some((cat, client)) = load_catalog(cluster, "chinook").await else {
        return;
    };
    let (Some(model), Some(vocab)) = (
        data::model("llama-spm", Shape::TINY, 11),
        data::vocab("llama-spm"),
    ) else {
        return;
    };
    let metric = "/* revenue */ sum(invoice_line.unit_price * invoice_line.quantity)";
    let tables = ["invoice_line".to_string()];
    let ids: Vec<usize> = tables.iter().filter_map(|t| cat.find_name(t)).collect();
    let mut offered = spec_for(&cat, &tables);
    offered.defined = vec![metric.to_string()];
    let g = grammar::build(&offered, Profile::Full).unwrap();
    let matcher = Matcher::load(&vocab).unwrap();
    for sql in [
        format!("SELECT invoice_line.track_id, {metric} FROM invoice_line GROUP BY invoice_line.track_id"),
        format!("SELECT invoice_line.track_id FROM invoice_line GROUP BY invoice_line.track_id HAVING {metric} > 1"),
    ] {
        assert_eq!(matcher.check(&g.text, &sql).unwrap(), Verdict::Accepted, "{sql}");
    }
    let llm = worker(model);
    let policy = Policy::new(guard::default_functions());
    let (mut whole, mut planned, mut finished) = ([0usize; 2], 0, 0);
    for (i, defined) in [vec![metric.to_string()], vec![]].into_iter().enumerate() {
        let mut spec = spec_for(&cat, &tables);
        spec.required = defined.clone();
        spec.defined = defined;
        let g = grammar::build(&spec, Profile::Full).unwrap();
        for seed in 0..20 {
            let mut req = request("revenue", Some(g.text.clone()), 200, seed);
            req.scope = Some(pgask::ask::generate::scope::Scope::new(
                &cat, &ids, "revenue",
            ));
            let out = llm.generate(req).await.unwrap();
            let sql = out.text.trim();
            if !sql.contains(metric) {
                continue;
            }
            whole[i] += 1;
            if out.stop == Stop::Eos {
                finished += 1;
                // A random model's other items may still name what does not exist (the guard
                // catches that); the metric's own table must never be the problem.
                match guard::check(sql, &policy, &cat, &Access::all(&cat)) {
                    Ok(_) => {
                        if client.simple_query(&format!("EXPLAIN {sql}")).await.is_ok() {
                            planned += 1;
                        }
                    }
                    Err(e) => assert!(
                        !e.to_string().contains("invoice_line"),
                        "seed {seed}: {e}: {sql}"
                    ),
                }
            }
        }
    }
    eprintln!(
        "metric written whole: {} of 20 with it required, {} without; {planned} of {finished} finished ones plan",
        whole[0], whole[1]
    );
    assert_eq!(whole[0], 20);
    assert_eq!(whole[1], 0);
    // Most random generations are cut off at a dead end (never run); of those that end, the
    // metric's own table is never the problem (asserted above) and some plan outright.
    assert!(planned >= 3, "{planned} of {finished} planned");
}

/// A query the model does not end (cut off at `max_tokens`, in a loop or at a dead end) is
/// finished: its longest start that the grammar and the scope check let end, closed by the
/// fewest closing words, without cutting a number in two. The grammar lets a random model write
/// `OR` terms of 1 to 3 digits for longer than its token budget; each cut-off query must come
/// back as the longest start made of whole terms (never ending in ` OR artist_id = ` or at `12`
/// of `123`), or as the whole text closed with the one closing word this grammar takes there (`1`
/// after ` = `); and it must name only real columns and plan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_the_model_did_not_end_is_finished() {
    let Some((cat, client, model, ids)) = artists_and_a_random_model(13).await else {
        return;
    };
    let grammar = OR_CHAIN;
    let whole = |sql: &str| {
        sql.strip_prefix("SELECT name FROM artist WHERE ")
            .is_some_and(|rest| {
                rest.split(" OR ").all(|term| {
                    term.strip_prefix("artist_id = ").is_some_and(|n| {
                        (1..=3).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit())
                    })
                })
            })
    };
    let llm = worker(model);
    let policy = Policy::new(guard::default_functions());
    let (mut finished, mut closed, mut cut) = (0, 0, 0);
    for seed in 0..12 {
        let mut req = request("artists", Some(grammar.to_string()), 64, seed);
        req.scope = Some(artists_scope(&cat, &ids));
        let out = llm.generate(req).await.unwrap();
        let text = out.text.as_str();
        if out.stop == Stop::Eos {
            assert_eq!(out.finished, None, "seed {seed}: an ended query");
            continue;
        }
        cut += 1;
        // The longest start made of whole terms, not followed by another digit.
        let expected = (1..=text.len())
            .rev()
            .filter(|&i| text.is_char_boundary(i))
            .map(|i| &text[..i])
            .find(|p| whole(p) && !text[p.len()..].starts_with(|c: char| c.is_ascii_digit()));
        let Some(sql) = out.finished.as_deref() else {
            assert_eq!(expected, None, "seed {seed}: {text}");
            continue;
        };
        assert!(whole(sql), "seed {seed}: {sql}");
        let closing = sql
            .strip_prefix(text)
            .filter(|tail| text.ends_with(" = ") && matches!(*tail, "1" | "11" | "111"));
        if closing.is_some() {
            closed += 1;
        } else {
            assert_eq!(Some(sql), expected, "seed {seed}, {:?}: {text}", out.stop);
        }
        finished += 1;
        resolves_and_plans(sql, seed, (&policy, &cat, &client)).await;
    }
    eprintln!("{finished} of {cut} cut-off generations finished, {closed} of them closed");
    assert!(finished >= 3, "{finished} of {cut}: the test proves little");
}

/// A query cut off inside a string literal and a parenthesis is closed with `'` and `)` (the
/// closing words the grammar takes there), keeping every byte the model wrote: the random model
/// writes letters for far longer than its budget of 48 tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_cut_off_inside_a_string_is_closed() {
    let grammar = "root ::= \"SELECT name FROM artist WHERE (name = '\" [a-z]+ \"')\"";
    // (Cut off before the string, nothing after `FROM artist` can end.)
    closed_inside_a_string(grammar, "')", true).await;
}

/// Six generations under `grammar`, which puts a string of letters in the query: each one cut
/// off inside it is finished as its text and `closing`, and plans. `before`: one cut off
/// before the string is not finished at all.
async fn closed_inside_a_string(grammar: &str, closing: &str, before: bool) {
    let Some((cat, client, model, ids)) = artists_and_a_random_model(17).await else {
        return;
    };
    let llm = worker(model);
    let policy = Policy::new(guard::default_functions());
    let mut inside = 0;
    for seed in 0..6 {
        let mut req = request("artists", Some(grammar.to_string()), 48, seed);
        req.scope = Some(artists_scope(&cat, &ids));
        let out = llm.generate(req).await.unwrap();
        assert_eq!(out.stop, Stop::MaxTokens, "seed {seed}: {}", out.text);
        if !out.text.contains("= '") {
            if before {
                assert_eq!(out.finished, None, "seed {seed}: {}", out.text);
            }
            continue;
        }
        inside += 1;
        let sql = out.finished.as_deref().unwrap_or_default();
        assert_eq!(sql, format!("{}{closing}", out.text), "seed {seed}");
        resolves_and_plans(sql, seed, (&policy, &cat, &client)).await;
    }
    assert!(inside >= 3, "{inside} of 6 were cut off inside the string");
}

/// A query cut off before its FROM is given the FROM its SELECT list asks for: the random
/// model writes `SELECT a.name, …` and then letters inside a string item for longer than its
/// budget, so no start of it reads a table; the finisher keeps its whole items and writes the
/// table that has their columns, with the alias their qualifier waits for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_select_list_cut_off_before_its_from_is_given_it() {
    let Some((cat, client, model, ids)) = artists_and_a_random_model(17).await else {
        return;
    };
    let grammar = "root ::= \"SELECT a.\" c ( \", a.\" c )? ( \", '\" [a-z]+ \"'\" )? \" FROM artist a\"\nc ::= \"name\" | \"artist_id\"";
    let llm = worker(model);
    let policy = Policy::new(guard::default_functions());
    let mut given = 0;
    for seed in 0..48 {
        let mut req = request("artists", Some(grammar.to_string()), 40, seed);
        req.scope = Some(artists_scope(&cat, &ids));
        let out = llm.generate(req).await.unwrap();
        let Some(cut) = out.text.find(", '") else {
            continue;
        };
        if out.stop.complete() {
            continue;
        }
        given += 1;
        let expected = format!("{} FROM artist a", &out.text[..cut]);
        assert_eq!(
            out.finished.as_deref(),
            Some(expected.as_str()),
            "seed {seed}"
        );
        resolves_and_plans(&expected, seed, (&policy, &cat, &client)).await;
    }
    eprintln!("{given} of 48 generations were given their FROM");
    assert!(given >= 3, "{given} of 48 were cut off inside the string");
}

/// A WITH cut off inside its CTE is closed and given its main query: the random model writes
/// letters inside the CTE's string for longer than its budget; the finisher closes the string
/// and the CTE and writes ` SELECT * FROM c`, the one main query the grammar and the scope
/// check take there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_with_cut_off_inside_its_cte_is_given_its_main_query() {
    let grammar = "root ::= \"WITH c AS (SELECT name FROM artist WHERE (name = '\" [a-z]+ \"')) SELECT \" ( \"*\" | \"name\" ) \" FROM c\"";
    closed_inside_a_string(grammar, "')) SELECT * FROM c", false).await;
}

/// In the closing window (the last quarter of `max_tokens`) a query is ended at its first
/// whole point instead of running to the cut: the random model writes `OR` terms for longer
/// than its 64 tokens, so without the window it is cut off; with it, the same seeds end with a
/// whole query (`Stop::Closed`) that names real columns and plans.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_running_out_of_tokens_is_ended_whole_in_the_closing_window() {
    let Some((cat, client, model, ids)) = artists_and_a_random_model(13).await else {
        return;
    };
    let grammar = OR_CHAIN;
    let llm = worker(model);
    let policy = Policy::new(guard::default_functions());
    let (mut cut, mut saved) = (0, 0);
    for seed in 0..16 {
        let mut req = request("artists", Some(grammar.to_string()), 64, seed);
        req.scope = Some(artists_scope(&cat, &ids));
        let open = llm.generate(req.clone()).await.unwrap();
        req.closing = true;
        let closed = llm.generate(req).await.unwrap();
        if open.stop.complete() {
            continue;
        }
        cut += 1;
        if closed.stop == Stop::Closed {
            saved += 1;
            // Ended inside the window, after its start: the model's own tokens up to there.
            assert!(
                closed.generated_tokens >= 48 && closed.generated_tokens < 64,
                "seed {seed}: {} tokens",
                closed.generated_tokens
            );
            assert!(
                open.text.starts_with(&closed.text),
                "seed {seed}: {}",
                closed.text
            );
            // Never inside a number the model was still writing.
            let next = open.text[closed.text.len()..].bytes().next();
            assert!(
                !next.is_some_and(|b| b.is_ascii_digit()),
                "seed {seed}: {}",
                open.text
            );
            // Handed on as a finished query (run with a notice).
            assert_eq!(closed.finished.as_deref(), Some(closed.text.as_str()));
            assert!(!closed.stop.complete());
            resolves_and_plans(&closed.text, seed, (&policy, &cat, &client)).await;
        }
    }
    eprintln!("{saved} of {cut} cut-off generations ended whole in the closing window");
    assert!(cut >= 5, "{cut} of 16 were cut off: the test proves little");
    assert!(saved * 2 >= cut, "{saved} of {cut}");
}

/// An end the model draws itself inside the closing window stays its own (`Stop::Eos`, run on
/// any attempt), not pgask's: the grammar forces one query, and the budget is cut so that its
/// end falls inside the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_the_model_draws_in_the_closing_window_is_its_own() {
    let Some((cat, _client, model, ids)) = artists_and_a_random_model(13).await else {
        return;
    };
    let sql = format!("SELECT name FROM artist WHERE name = '{}'", "ab".repeat(40));
    let grammar = format!("root ::= \"{sql}\"");
    let llm = worker(model);
    for seed in 0..3 {
        let mut req = request("artists", Some(grammar.clone()), 400, seed);
        req.scope = Some(artists_scope(&cat, &ids));
        let free = llm.generate(req.clone()).await.unwrap();
        assert_eq!(free.stop, Stop::Eos, "seed {seed}: {}", free.text);
        // The same draws, in a budget whose last quarter holds the end.
        let k = free.generated_tokens;
        assert!(k >= 4, "seed {seed}: {k} tokens");
        req.max_tokens = k + 1;
        req.closing = true;
        let out = llm.generate(req).await.unwrap();
        assert_eq!(out.text, sql, "seed {seed}");
        assert_eq!(out.stop, Stop::Eos, "seed {seed}: {k} tokens");
        assert_eq!(out.finished, None, "seed {seed}");
    }
}

/// A dead end of the scope check is backed out of: after `artist_id = 7 OR artist_id = ` the
/// grammar allows `7` or `8` and then only the end; a `7` is fine until the end makes it a
/// repeated literal, when no token is left that the check accepts. The sampler then takes the
/// `7` back and never draws it there again, so every seed ends with `8`, whatever the random
/// model preferred.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_end_is_backed_out_of_and_the_next_choice_taken() {
    let Some((cat, _client, model, ids)) = artists_and_a_random_model(5).await else {
        return;
    };
    let prefix = "SELECT name FROM artist WHERE artist_id = 7 OR artist_id = ";
    let grammar = format!("root ::= \"{prefix}\" ( \"7\" | \"8\" ) \"\\n\"");
    let llm = worker(model);
    let mut backtracked = 0;
    for seed in 0..12 {
        let mut req = request("artists", Some(grammar.clone()), 60, seed);
        req.scope = Some(artists_scope(&cat, &ids));
        let out = llm.generate(req).await.unwrap();
        assert_eq!(out.text.trim_end(), format!("{prefix}8"), "seed {seed}");
        backtracked += usize::from(out.backtracks > 0);
    }
    eprintln!("{backtracked} of 12 generations backed out of a dead end");
    assert!(
        backtracked > 0,
        "no seed chose the 7 first: the test proves nothing"
    );
}

/// A candidate the full grammar leads into a dead end (or that is cut off with nothing to
/// finish) is written again under the strict profile (the job's fallback), whose query plans
/// and, steered to its FROM at the end of the budget, ends whole even from a short budget;
/// without the fallback the same job leaves nothing to run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_end_is_written_again_under_the_strict_grammar() {
    let Some((cat, client, model, _)) = artists_and_a_random_model(5).await else {
        return;
    };
    // One way only, and the scope check refuses its end (the question names no 7, so a second
    // `7` is a literal repeated for nothing): every way on is a dead end.
    let dead = "SELECT name FROM artist WHERE artist_id = 7 OR artist_id = 7";
    let grammar = format!("root ::= \"{dead}\" \"\\n\"");
    // The strict profile over a wide table (a query of many items is long).
    let strict = grammar::build(
        &spec_for(&cat, &["artist".into(), "invoice".into()]),
        Profile::Strict,
    )
    .unwrap()
    .text;
    // The scope check over the same tables, as the pipeline sets it.
    let both: Vec<usize> = ["artist", "invoice"]
        .iter()
        .filter_map(|t| cat.find_name(t))
        .collect();
    assert_eq!(both.len(), 2);
    let scope = pgask::ask::generate::scope::Scope::new(&cat, &both, "artists");
    let policy = Policy::new(guard::default_functions());
    let llm = worker(model);
    for (seed, max_tokens) in [(0, 60), (1, 60), (2, 12), (3, 12), (4, 12)] {
        let mut req = request("artists", Some(grammar.clone()), max_tokens, seed);
        req.scope = Some(scope.clone());
        req.closing = true;
        let alone = llm.generate(req.clone()).await.unwrap();
        if max_tokens == 60 {
            assert_eq!(alone.stop, Stop::DeadEnd, "seed {seed}: {}", alone.text);
        }
        assert!(!alone.has_query(), "seed {seed}: {alone:?}");
        assert!(alone.fallback_from.is_none());

        req.fallback = Some(strict.clone());
        let out = llm.generate(req).await.unwrap();
        let first = out
            .fallback_from
            .as_ref()
            .unwrap_or_else(|| panic!("seed {seed}: no fallback: {out:?}"));
        assert!(
            dead.starts_with(first.text.trim_end()),
            "seed {seed}: {first:?}"
        );
        assert_eq!(first.stop, alone.stop, "seed {seed}");
        assert!(
            matches!(out.stop, Stop::Eos | Stop::Closed),
            "seed {seed}: the strict query did not end: {out:?}"
        );
        let sql = out.finished.as_deref().unwrap_or(&out.text).trim();
        assert!(!sql.contains("= 7 OR"), "seed {seed}: {sql}");
        resolves_and_plans(sql, seed, (&policy, &cat, &client)).await;
        // The costs of both passes are counted.
        assert!(out.generated_tokens > alone.generated_tokens, "seed {seed}");
        assert!(out.backtracks >= alone.backtracks, "seed {seed}");
    }
    // Where the question asks for an order, the steered pass goes on with ` ORDER` where it
    // would end without one, and its query sorts.
    let mut sorted = 0;
    for seed in 0..8 {
        // (A short budget: the steered pass is soon in its closing window, where it would
        // otherwise end at the first place it may.)
        let mut req = request("artists", Some(grammar.clone()), 12, seed);
        req.scope = Some(scope.clone().with_order(true));
        req.closing = true;
        req.fallback = Some(strict.clone());
        let out = llm.generate(req).await.unwrap();
        assert!(
            out.fallback_from.is_some(),
            "seed {seed}: no fallback: {out:?}"
        );
        if out.has_query() {
            let sql = out.finished.as_deref().unwrap_or(&out.text).trim();
            assert!(
                sql.contains("ORDER BY") || sql.contains("max(") || sql.contains("min("),
                "seed {seed}: {sql}"
            );
            resolves_and_plans(sql, seed, (&policy, &cat, &client)).await;
            sorted += 1;
        }
    }
    eprintln!("ordered question: {sorted} of 8 fallbacks sort");
    assert!(
        sorted >= 6,
        "{sorted} of 8 fallbacks sort: the steering to ORDER BY is off"
    );
    // The fallback's query is judged whole by what the question asks: one that cannot sort
    // (a grammar with no ORDER BY) is not left to run, and the first pass stands.
    let unsortable = "root ::= \"SELECT name FROM artist\" \"\\n\"".to_string();
    for seed in 0..2 {
        let mut req = request("artists", Some(grammar.clone()), 60, seed);
        req.scope = Some(scope.clone().with_order(true));
        req.closing = true;
        req.fallback = Some(unsortable.clone());
        let out = llm.generate(req).await.unwrap();
        let first = out
            .fallback_from
            .clone()
            .unwrap_or_else(|| panic!("seed {seed}: no fallback: {out:?}"));
        assert!(!out.has_query(), "seed {seed}: {out:?}");
        assert_eq!(out.text, first.text, "seed {seed}");
        assert_eq!(out.stop, first.stop, "seed {seed}");
        assert!(out.finished.is_none(), "seed {seed}");
        // Without the order, the same fallback is kept.
        let mut req = request("artists", Some(grammar.clone()), 60, seed);
        req.scope = Some(scope.clone());
        req.closing = true;
        req.fallback = Some(unsortable.clone());
        let out = llm.generate(req).await.unwrap();
        assert_eq!(out.text.trim(), "SELECT name FROM artist", "seed {seed}");
    }
    // A question that names a value a column holds: the steered pass writes its condition
    // (`invoice.billing_country = 'Brazil'`, which a random model never would) where it would
    // end, sort or group without it, and its query is kept only with it.
    let brazil = pgask::ask::generate::scope::Scope::new(&cat, &both, "invoices from Brazil")
        .with_values(&["Brazil".to_string()])
        .with_holders(&[(
            "Brazil".to_string(),
            "invoice".to_string(),
            "billing_country".to_string(),
        )]);
    // (The fallback's grammar as the pipeline builds it: every query reads the holder's
    // table, its conditions joined by AND.)
    let both_spec = spec_for(&cat, &["artist".into(), "invoice".into()]);
    let strict_for = |sc: &pgask::ask::generate::scope::Scope| {
        grammar::build(&sc.strict_spec(&both_spec), Profile::Strict)
            .unwrap()
            .text
    };
    let kept = fallbacks_that_keep(
        &llm,
        (&grammar, &strict_for(&brazil)),
        ("invoices from Brazil", &brazil),
        &["invoice.billing_country = 'Brazil'"],
        (&policy, &cat, &client),
    )
    .await;
    eprintln!("question with a value: {kept} of 16 fallbacks keep it");
    // (15 and 14 of 16 on 2026-12-07; 7 and 6 before the fallback's queries had to read the
    // holder's table and wrapped up after its condition.)
    assert!(
        kept >= 10,
        "{kept} of 16 fallbacks write the value: the steering to its condition is off"
    );
    // A choice between two values one column holds: one IN list pgask writes (the strict
    // grammar takes it whole), its "or" no alternative.
    let either =
        pgask::ask::generate::scope::Scope::new(&cat, &both, "invoices from Brazil or Chile")
            .with_values(&["Brazil".to_string(), "Chile".to_string()])
            .with_holders(&[
                (
                    "Brazil".to_string(),
                    "invoice".to_string(),
                    "billing_country".to_string(),
                ),
                (
                    "Chile".to_string(),
                    "invoice".to_string(),
                    "billing_country".to_string(),
                ),
            ]);
    assert!(either.strict_may_answer());
    let kept = fallbacks_that_keep(
        &llm,
        (&grammar, &strict_for(&either)),
        ("invoices from Brazil or Chile", &either),
        &["invoice.billing_country IN ('Brazil', 'Chile')"],
        (&policy, &cat, &client),
    )
    .await;
    eprintln!("question with a choice of values: {kept} of 16 fallbacks keep it");
    assert!(
        kept >= 10,
        "{kept} of 16 fallbacks write the choice: the steering to its condition is off"
    );
    // A question that names a year: the range on the one date column of the tables read.
    let year = pgask::ask::generate::scope::Scope::new(&cat, &both, "invoices issued in 2011");
    let kept = fallbacks_that_keep(
        &llm,
        (&grammar, &strict_for(&year)),
        ("invoices issued in 2011", &year),
        &["invoice.invoice_date >= '2011-01-01' AND invoice.invoice_date < '2012-01-01'"],
        (&policy, &cat, &client),
    )
    .await;
    eprintln!("question with a year: {kept} of 16 fallbacks keep it");
    // (15 and 14 of 16 on 2026-12-07; 7 and 6 before the fallback's queries had to read the
    // holder's table and wrapped up after its condition.)
    assert!(
        kept >= 10,
        "{kept} of 16 fallbacks write the year: the steering to its condition is off"
    );
    // A question that sets a condition pgask cannot write (a year after a range's word) gets
    // no fallback pass at all: strict could write it turned round.
    let mut req = request("artists after 2021", Some(grammar.clone()), 60, 0);
    req.scope = Some(pgask::ask::generate::scope::Scope::new(
        &cat,
        &both,
        "artists after 2021",
    ));
    req.closing = true;
    req.fallback = Some(strict.clone());
    let out = llm.generate(req).await.unwrap();
    assert!(out.fallback_from.is_none() && !out.has_query(), "{out:?}");
}

/// A pass without the scope check (the strict fallback's) writes no select item twice, even
/// where its grammar can only end the repeated item: the item's last token is taken back and
/// another drawn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_without_the_scope_check_takes_back_a_repeated_item_it_cannot_leave() {
    let Some((_, _, model, _)) = artists_and_a_random_model(5).await else {
        return;
    };
    // Three items of three: a random draw repeats one nearly four times in five.
    let grammar = "root ::= \"SELECT \" item \", \" item \", \" item \" FROM artist\"\nitem ::= \"artist.name\" | \"artist.artist_id\" | \"count(*)\"".to_string();
    let llm = worker(model);
    let mut backed = 0;
    for seed in 0..12 {
        let out = llm
            .generate(request("artists", Some(grammar.clone()), 60, seed))
            .await
            .unwrap();
        let sql = out.text.trim();
        let list = sql
            .strip_prefix("SELECT ")
            .and_then(|l| l.strip_suffix(" FROM artist"))
            .unwrap_or_else(|| panic!("seed {seed}: {sql}"));
        let mut items: Vec<&str> = list.split(", ").collect();
        assert_eq!(items.len(), 3, "seed {seed}: {sql}");
        items.sort_unstable();
        items.dedup();
        assert_eq!(items.len(), 3, "seed {seed}: an item twice: {sql}");
        backed += usize::from(out.backtracks > 0);
    }
    eprintln!("{backed} of 12 generations took a repeated item back");
    assert!(
        backed > 0,
        "no seed repeated an item: the test proves nothing"
    );
}

/// A query pgask finished after the full pass ran out of backtracks (the model's lost text,
/// closed where the grammar lets it end) gives way to the strict fallback when the fallback
/// answers the question; when the fallback leaves no query, the finished one stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_finished_after_a_dead_end_gives_way_to_a_fallback_that_answers() {
    let Some((cat, client, model, _)) = artists_and_a_random_model(5).await else {
        return;
    };
    // The query may end after `artist`; past it, one way only, longer than the backtracks,
    // to a literal repeated for nothing that the scope check refuses.
    let grammar = "root ::= \"SELECT name FROM artist\" ( \" WHERE artist_id IN (SELECT artist_id FROM artist WHERE name IS NOT NULL AND name <> 'x') AND artist_id = 7 OR artist_id = 7\" )?".to_string();
    let both: Vec<usize> = ["artist", "invoice"]
        .iter()
        .filter_map(|t| cat.find_name(t))
        .collect();
    let scope = pgask::ask::generate::scope::Scope::new(&cat, &both, "artists");
    let strict = grammar::build(
        &spec_for(&cat, &["artist".into(), "invoice".into()]),
        Profile::Strict,
    )
    .unwrap()
    .text;
    // A fallback that cannot end within the steered pass's budget leaves no query.
    let endless = format!(
        "root ::= \"SELECT name FROM artist WHERE {}artist_id = 7\\n\"",
        "artist_id = 7 OR ".repeat(120)
    );
    let policy = Policy::new(guard::default_functions());
    let llm = worker(model);
    let mut lost = 0;
    for seed in 0..8 {
        let mut req = request("artists", Some(grammar.clone()), 200, seed);
        req.scope = Some(scope.clone());
        req.closing = true;
        let alone = llm.generate(req.clone()).await.unwrap();
        let Some(finished) = alone
            .finished
            .clone()
            .filter(|_| alone.stop == Stop::DeadEnd)
        else {
            continue;
        };
        lost += 1;
        assert_eq!(finished.trim(), "SELECT name FROM artist", "seed {seed}");
        req.fallback = Some(strict.clone());
        let out = llm.generate(req.clone()).await.unwrap();
        let first = out
            .fallback_from
            .as_ref()
            .unwrap_or_else(|| panic!("seed {seed}: no fallback: {out:?}"));
        assert_eq!(first.stop, Stop::DeadEnd, "seed {seed}");
        let sql = out.finished.as_deref().unwrap_or(&out.text).trim();
        assert!(!sql.contains("= 7"), "seed {seed}: {sql}");
        resolves_and_plans(sql, seed, (&policy, &cat, &client)).await;
        req.fallback = Some(endless.clone());
        let out = llm.generate(req).await.unwrap();
        assert!(out.fallback_from.is_none(), "seed {seed}: {out:?}");
        assert_eq!(
            out.finished.as_deref(),
            Some(finished.as_str()),
            "seed {seed}"
        );
        assert_eq!(out.stop, Stop::DeadEnd, "seed {seed}");
        assert!(out.generated_tokens > alone.generated_tokens, "seed {seed}");
    }
    eprintln!("{lost} of 8 first passes ran out of backtracks and were finished");
    assert!(
        lost > 0,
        "no seed took the long way: the test proves nothing"
    );
}

/// Of 16 seeds of the dead-end `grammar` with the `strict` fallback, over `question` and its
/// `scope`, how many fallbacks are kept; each kept one must hold all of `must`, no OR, and
/// plan.
async fn fallbacks_that_keep(
    llm: &Supervisor,
    (grammar, strict): (&str, &str),
    (question, scope): (&str, &pgask::ask::generate::scope::Scope),
    must: &[&str],
    (policy, cat, client): (&Policy, &Catalog, &tokio_postgres::Client),
) -> usize {
    let mut kept = 0;
    for seed in 0..16 {
        let mut req = request(question, Some(grammar.to_string()), 60, seed);
        req.scope = Some(scope.clone());
        req.closing = true;
        req.fallback = Some(strict.to_string());
        let out = llm.generate(req).await.unwrap();
        assert!(
            out.fallback_from.is_some(),
            "seed {seed}: no fallback: {out:?}"
        );
        if out.has_query() {
            let sql = out.finished.as_deref().unwrap_or(&out.text).trim();
            assert!(
                must.iter().all(|m| sql.contains(m)) && !sql.contains(" OR "),
                "seed {seed}: {sql}"
            );
            resolves_and_plans(sql, seed, (policy, cat, client)).await;
            kept += 1;
        }
    }
    kept
}

/// A grammar llama.cpp cannot parse is an error from the worker, which keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_grammar_is_an_error_not_an_abort() {
    let Some(model) = data::model("llama-spm", Shape::TINY, 7) else {
        return;
    };
    let llm = worker(model);
    let err = llm
        .generate(request("x", Some("root ::= ( \"a\" ".into()), 10, 1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SupervisorError::Failed(m) if m.contains("grammar")),
        "{err}"
    );
    let pid = llm.pid().await;
    let ok = llm
        .generate(request("x", Some("root ::= \"SELECT 1\"".into()), 10, 1))
        .await
        .unwrap();
    assert_eq!(ok.text, "SELECT 1");
    assert_eq!(llm.pid().await, pid, "the same worker answered");
    assert_eq!(llm.starts(), 1);
}

/// Dropping a generation stops it within a token or so: the next job does not wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_a_long_generation() {
    let shape = Shape {
        embd: 256,
        layers: 4,
        heads: 4,
        kv_heads: 4,
        ff: 512,
        ..Shape::TINY
    };
    let Some(model) = data::model("llama-spm", shape, 3) else {
        return;
    };
    let llm = worker(model);
    // Measure this model's speed, so the long job is known to need well over 10 s.
    let probe = llm.generate(request("x", None, 200, 1)).await.unwrap();
    let per_token = probe.generate_ms / probe.generated_tokens.max(1) as f64;
    let long = ((12_000.0 / per_token) as usize).clamp(500, 3500);
    let started = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_millis(300),
        llm.generate(request("x", None, long, 2)),
    )
    .await;
    assert!(r.is_err(), "the long job should still be running");
    let next = llm.generate(request("x", None, 5, 3)).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(next.generated_tokens, 5);
    let full = Duration::from_secs_f64(per_token * long as f64 / 1e3);
    assert!(
        waited < full / 3,
        "cancel took too long: {waited:?} (the whole job: {full:?})"
    );
}

/// A cancel while a long prompt is still being evaluated stops it between chunks: the cancelled
/// job leaves only the chunks it finished in the prefix cache, which the same prompt asked next
/// reuses. Judged by what was evaluated, not by wall-clock time (CI runs tests side by side on
/// two cores, so times measured minutes apart are not comparable).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_a_long_prompt_evaluation() {
    let shape = Shape {
        embd: 512,
        layers: 8,
        heads: 8,
        kv_heads: 8,
        ff: 1024,
        ..Shape::TINY
    };
    let Some(model) = data::model("llama-spm", shape, 5) else {
        return;
    };
    let llm = worker(model);
    let long = |seed| request(&"x ".repeat(3500), None, 1, seed);
    // This model's time for the whole prompt; a short prompt then clears the prefix cache.
    let probe = llm.generate(long(1)).await.unwrap();
    let whole = probe.prompt_tokens;
    assert!(whole > 6 * 512, "the prompt spans several chunks: {whole}");
    let full = Duration::from_secs_f64(probe.prompt_ms / 1e3);
    llm.generate(request("y", None, 1, 2)).await.unwrap();
    let r = tokio::time::timeout(full / 6, llm.generate(long(3))).await;
    assert!(r.is_err(), "the prompt should still be evaluated");
    // Queued behind the cancelled job: starts from what it left in the cache.
    let next = llm.generate(long(4)).await.unwrap();
    assert_eq!(next.generated_tokens, 1);
    assert!(
        next.reused_tokens + 512 < whole,
        "the cancelled job evaluated {} of {whole} prompt tokens",
        next.reused_tokens
    );
}

/// The worker reports a model without a chat template as a base model (prompted as a plain
/// completion, its retries shown no failed query); a layout forced in the config is not one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_without_a_chat_template_is_reported_as_a_base_model() {
    let Some(model) = data::model("llama-spm", Shape::TINY, 7) else {
        return;
    };
    let auto = worker(model.clone());
    assert!(
        !auto.completion().await,
        "nothing is known before the worker starts"
    );
    auto.model().await.unwrap();
    assert!(auto.completion().await);
    let chatml = Supervisor::new(WorkerSpec {
        chat_template: "chatml".into(),
        ..worker_spec(model)
    });
    chatml.model().await.unwrap();
    assert!(!chatml.completion().await);
}

/// A worker killed mid-generation fails only that job; the next one starts a new worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_generation_is_restarted() {
    let Some(model) = data::model("llama-spm", Shape::TINY, 7) else {
        return;
    };
    let llm = std::sync::Arc::new(worker(model));
    llm.model().await.unwrap();
    // A random-weight model sometimes ends a long answer by itself within the 200 ms (its floats
    // are summed by threads in no fixed order): such a round is not a kill mid-generation, and
    // another seed is tried.
    let mut died = None;
    for seed in 1..=5 {
        let pid = llm.pid().await.expect("worker running");
        let l2 = llm.clone();
        let job = tokio::spawn(async move { l2.generate(request("x", None, 3900, seed)).await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        if job.is_finished() {
            continue;
        }
        // SAFETY: plain kill(2) on the worker's pid.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let r = tokio::time::timeout(Duration::from_secs(10), job)
            .await
            .expect("the waiting ask must not hang")
            .unwrap();
        assert!(matches!(r, Err(SupervisorError::Died)), "{r:?}");
        died = Some(pid);
        break;
    }
    let pid = died.expect("no seed kept the model generating for 200 ms");
    let ok = llm
        .generate(request("x", Some("root ::= \"SELECT 1\"".into()), 10, 1))
        .await
        .unwrap();
    assert_eq!(ok.text, "SELECT 1");
    assert_eq!(llm.starts(), 2);
    assert_ne!(llm.pid().await, Some(pid));
}

/// A missing model is a clear error naming the file, before any process starts.
#[tokio::test]
async fn a_missing_model_names_the_file() {
    let llm = worker(PathBuf::from("/nonexistent/models/model.gguf"));
    let err = llm.generate(request("x", None, 5, 1)).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("/nonexistent/models/model.gguf"), "{msg}");
    assert!(msg.contains("pgask models fetch"), "{msg}");
    assert_eq!(llm.starts(), 0);
}

/// A second ask over the same schema re-evaluates only the question part of the prompt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_prefix_is_reused_from_the_kv_cache() {
    let cluster = Cluster::shared();
    let Some((cat, _client)) = load_catalog(cluster, "chinook").await else {
        return;
    };
    let Some(model) = data::model("llama-spm", Shape::TINY, 7) else {
        return;
    };
    let llm = worker(model);
    let templates = Templates::default();
    let tables: Vec<(usize, Vec<String>)> = (0..cat.tables.len()).map(|t| (t, vec![])).collect();
    let g = grammar::build(&whole_spec(&cat), Profile::Strict).unwrap();
    let mut outs = Vec::new();
    for q in [
        "top 5 customers by revenue",
        "how many tracks per genre in 2024?",
    ] {
        let input = PromptInput {
            question: q,
            tables: tables.clone(),
            max_columns: 30,
            ..Default::default()
        };
        let msgs = prompt::messages(&templates, &cat, &input);
        outs.push(
            llm.generate(Request {
                messages: msgs,
                grammar: Some(g.text.clone()),
                max_tokens: 64,
                temperature: 0.0,
                seed: 1,
                scope: None,
                closing: false,
                fallback: None,
            })
            .await
            .unwrap(),
        );
    }
    let second = &outs[1];
    let evaluated = second.prompt_tokens - second.reused_tokens;
    assert!(second.prompt_tokens > 500, "{second:?}");
    assert!(
        (evaluated as f64) <= 0.1 * second.prompt_tokens as f64,
        "re-evaluated {evaluated} of {} prompt tokens",
        second.prompt_tokens
    );
}

/// The prompt carries the DDL with keys and references, comments, and on a retry the failed SQL
/// with PostgreSQL's error and position.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_carry_ddl_references_and_the_previous_error() {
    let cluster = Cluster::shared();
    let Some((cat, _client)) = load_catalog(cluster, "chinook").await else {
        return;
    };
    let album = cat.find_name("album").unwrap();
    let artist = cat.find_name("artist").unwrap();
    let input = PromptInput {
        question: "albums per artist {not a placeholder}",
        tables: vec![(album, vec![]), (artist, vec![])],
        joins: vec!["JOIN artist ON artist.artist_id = album.artist_id".into()],
        glossary: vec![("band".into(), "an artist".into())],
        retry: Some(Failure {
            sql: "SELECT nme FROM artist".into(),
            sqlstate: "42703".into(),
            message: "column \"nme\" does not exist".into(),
            position: Some(8),
            hint: Some("Perhaps you meant to reference the column \"artist.name\".".into()),
        }),
        max_columns: 30,
        ..Default::default()
    };
    let msgs = prompt::messages(&Templates::default(), &cat, &input);
    let (system, user) = (&msgs[0].content, &msgs[1].content);
    assert!(system.contains("CREATE TABLE album ("), "{system}");
    assert!(
        system.contains("artist_id integer NOT NULL REFERENCES artist(artist_id)"),
        "{system}"
    );
    assert!(system.contains("album_id integer PRIMARY KEY"), "{system}");
    assert!(user.contains("- band: an artist"), "{user}");
    assert!(
        user.contains("JOIN artist ON artist.artist_id = album.artist_id"),
        "{user}"
    );
    assert!(user.contains("42703"), "{user}");
    assert!(user.contains("at character 8: nme FROM artist"), "{user}");
    assert!(user.contains("Perhaps you meant"), "{user}");
    assert!(user.contains("{not a placeholder}"), "{user}");
    assert!(user.contains("SELECT nme FROM artist"), "{user}");
    // A base model gets the error without the failed query, which it would copy.
    let base = PromptInput {
        base_model: true,
        ..input
    };
    let user = &prompt::messages(&Templates::default(), &cat, &base)[1].content;
    assert!(user.contains("42703"), "{user}");
    assert!(user.contains("column \"nme\" does not exist"), "{user}");
    assert!(user.contains("Perhaps you meant"), "{user}");
    assert!(!user.contains("SELECT nme"), "{user}");
}
