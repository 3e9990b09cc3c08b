//! Precision of constrained decoding: the share of generated queries that pass the guard's
//! name check and PostgreSQL's EXPLAIN on the first attempt, with the default decoder (grammar
//! and the sampler's scope check) against the grammar alone, paired (same prompt, same seed).
//! A random-weight model writes whatever the decoder lets through, so it finds every hole:
//! chinook and northwind (loaded from `../shared`) and 20 Spider schemas (created empty), with
//! each schema's tables as the chosen ones; two seeds per question with the default decoder,
//! one with the grammar alone. A query the model did not end is finished (its longest start that
//! can end, closed by the fewest closing words; counted apart). Queries the model ended or that
//! were finished and still fail are printed. With `PGASK_REAL_MODEL` (Gemma) it also measures
//! generated tokens/s with grammar and scope check ÷ without, paired runs on the same prompts.
//!
//! `cargo bench --profile dev --bench precision` (full: 20 Spider schemas × 12 questions,
//! chinook and northwind × 20, = 560 default-decoder generations), or `PGASK_BENCH_SMOKE=1 cargo test
//! --bench precision` (3 schemas, a few questions: checks that it runs). `PGASK_BENCH_ONLY=speed`
//! runs only the speed pairs with `PGASK_REAL_MODEL`; `PGASK_PRECISION_TARGETS=singer,chinook` only
//! those targets.

#[allow(dead_code)]
#[path = "../tests/it/common/cluster.rs"]
mod cluster;
#[path = "common/spider.rs"]
mod spider;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pgask::ask::catalog::{self, Access, Catalog, CatalogOptions, TableId};
use pgask::ask::generate::grammar::{self, Profile, Spec};
use pgask::ask::generate::llama::{Engine, EngineConfig};
use pgask::ask::generate::prompt::{self, PromptInput, Templates};
use pgask::ask::generate::protocol::{Job, Output, Stop};
use pgask::ask::generate::scope::Scope;
use pgask::ask::generate::shape::{self, Shape as QuestionShape};
use pgask::ask::generate::tiny::{self, Shape};
use pgask::ask::guard::{self, Policy};
use pgask::ask::retrieve::graph::JoinGraph;
use serde_json::Value;

/// The clone the bench runs in: cargo says so when it runs the bench (a binary built in another
/// clone, reused because its sources look unchanged, would read that clone's files), else the
/// one it was built in.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn env_path(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join(default))
}

fn smoke() -> bool {
    std::env::var_os("PGASK_BENCH_SMOKE").is_some()
}

/// `PGASK_BENCH_ONLY=speed`: only Gemma's constrained ÷ unconstrained speed (12 pairs).
fn speed_only() -> bool {
    std::env::var("PGASK_BENCH_ONLY").as_deref() == Ok("speed")
}

/// One schema to generate over: its database, the chosen tables, the questions.
struct Target {
    label: String,
    db: String,
    tables: Vec<TableId>,
    questions: Vec<String>,
}

/// Counts of one decoder over all targets.
#[derive(Default)]
struct Tally {
    n: usize,
    complete: usize,
    names_ok: usize,
    plans: usize,
    /// Ended by the model and planned.
    complete_plans: usize,
    /// Ended by pgask in the closing window (a whole query), and of those the ones that planned.
    closed: usize,
    closed_plans: usize,
    /// Not ended by the model, finished by pgask.
    shortened: usize,
    /// Of those, the ones that planned.
    short_plans: usize,
    /// Bytes of the model's text the finished queries kept, and the bytes it wrote.
    kept: (usize, usize),
    /// Time spent finishing (ms), in all and at most, over the generations not ended.
    finish_ms: (f64, f64, usize),
    refusals: usize,
    /// Written again under the strict profile (no query under the full grammar), and of those
    /// the ones that planned.
    fallbacks: usize,
    fallback_plans: usize,
    /// Strict fallbacks that planned for questions that ask for an order (steered to an
    /// ORDER BY).
    ordered_fallback_plans: usize,
    /// Strict fallbacks that planned for questions that name a value (its condition written
    /// by pgask).
    valued_fallback_plans: usize,
    /// Queries the model ended itself under the full grammar that planned.
    model_plans: usize,
    tokens: usize,
    ms: f64,
    failures: BTreeMap<String, usize>,
}

impl Tally {
    fn pct(&self, x: usize) -> String {
        format!("{:.1}%", 100.0 * x as f64 / self.n.max(1) as f64)
    }
}

fn engine(model: &Path) -> Engine {
    let cfg = EngineConfig {
        threads: std::thread::available_parallelism()
            .map(|n| n.get() as i32)
            .unwrap_or(2),
        context: 4096,
        chat_template: "auto".into(),
        top_k: 40,
    };
    Engine::load(model, &cfg).expect("load model")
}

/// The values `question` names that `tables`' text columns hold, as the pipeline's lookup finds
/// them (lower-cased match, the stored spelling): `(value, table, column)`.
async fn named_values(
    client: &tokio_postgres::Client,
    catalog: &Catalog,
    tables: &[TableId],
    question: &str,
) -> Vec<(String, String, String)> {
    let names = shape::names(catalog, tables);
    let mut out = Vec::new();
    for l in QuestionShape::of(question, &names).literals.iter().take(3) {
        let shape::Literal::Text(v) = l else {
            continue;
        };
        for t in tables.iter().filter_map(|&t| catalog.tables.get(t)) {
            for c in &t.columns {
                let text = c.data_type == "text" || c.data_type.starts_with("character");
                if !text || v.trim().is_empty() {
                    continue;
                }
                let col = catalog::quote_ident(&c.name);
                let sql = format!(
                    "SELECT {col}::text FROM {} WHERE lower({col}::text) = $1 LIMIT 1",
                    t.qualified()
                );
                if let Ok(Some(row)) = client.query_opt(&sql, &[v]).await {
                    if let Ok(stored) = row.try_get::<_, String>(0) {
                        out.push((stored, t.name.clone(), c.name.clone()));
                    }
                }
            }
        }
    }
    out
}

fn job(
    catalog: &Catalog,
    t: &Target,
    (question, holders): (&str, &[(String, String, String)]),
    seed: u32,
    scoped: bool,
    temperature: f32,
) -> Job {
    let graph = JoinGraph::new(catalog);
    let access = Access::all(catalog);
    let steps = graph.connect(&t.tables, &access);
    let mut spec = Spec::from_catalog(catalog, &t.tables, &steps);
    // The question's order demand, as the pipeline sets it.
    let names = shape::names(catalog, &t.tables);
    let ordered = QuestionShape::of(question, &names).ordered;
    spec.ordered = ordered;
    let g = grammar::build(&spec, Profile::Full).expect("grammar");
    let mut values: Vec<String> = Vec::new();
    for (v, _, _) in holders {
        if !values.contains(v) {
            values.push(v.clone());
        }
    }
    let scope = Scope::new(catalog, &t.tables, question)
        .with_order(ordered)
        .with_values(&values)
        .with_holders(holders);
    // As the pipeline asks (`llm.strict_fallback`, its queries reading the tables of the
    // conditions pgask writes); `PGASK_BENCH_NO_FALLBACK=1` measures without.
    let fallback = (scoped && std::env::var_os("PGASK_BENCH_NO_FALLBACK").is_none())
        .then(|| grammar::build(&scope.strict_spec(&spec), Profile::Strict).ok())
        .flatten()
        .map(|g| g.text);
    let input = PromptInput {
        question,
        tables: t.tables.iter().map(|&id| (id, vec![])).collect(),
        max_columns: 30,
        ..Default::default()
    };
    Job {
        id: 1,
        messages: prompt::messages(&Templates::default(), catalog, &input),
        grammar: Some(g.text),
        max_tokens: if smoke() { 48 } else { 200 },
        temperature,
        seed,
        always_mask: false,
        scope: scoped.then_some(scope),
        // As the pipeline asks.
        closing: true,
        fallback,
    }
}

async fn explain(client: &tokio_postgres::Client, sql: &str) -> Result<(), String> {
    client
        .batch_execute(&format!("EXPLAIN {sql}"))
        .await
        .map_err(|e| {
            e.as_db_error()
                .map(|d| d.code().code().to_string())
                .unwrap_or_else(|| e.to_string())
        })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // `RUST_LOG=pgask::ask::generate=trace` shows each scope refusal and backtrack.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let spider_dir = env_path("PGASK_SPIDER_DIR", "../shared/datasets/spider");
    let vocab =
        env_path("PGASK_VOCAB_DIR", "../shared/models/vocab").join("ggml-vocab-llama-spm.gguf");
    let cluster = cluster::Cluster::start(cluster::ClusterOpts::default());
    let url = |db: &str| {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={db}",
            cluster.port
        )
    };
    let mut clients = BTreeMap::new();
    let mut catalogs = BTreeMap::new();
    for (db, var, file) in [
        (
            "chinook",
            "PGASK_CHINOOK_SQL",
            "../shared/datasets/postgres/chinook.sql",
        ),
        (
            "northwind",
            "PGASK_NORTHWIND_SQL",
            "../shared/datasets/postgres/northwind.sql",
        ),
    ] {
        // psql: the dumps hold psql meta-commands; chinook's creates its own database.
        let sql = std::fs::read_to_string(env_path(var, file)).expect("sample database");
        if db == "chinook" {
            cluster.psql_as("postgres", "postgres", &sql);
        } else {
            cluster.psql_as("postgres", "postgres", &format!("CREATE DATABASE {db}"));
            cluster.psql_as("postgres", db, &sql);
        }
        let (c, conn) = tokio_postgres::connect(&url(db), tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        clients.insert(db.to_string(), c);
    }
    cluster.psql_as("postgres", "postgres", "CREATE DATABASE spider");
    let (c, conn) = tokio_postgres::connect(&url("spider"), tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let tables: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(spider_dir.join("tables.json")).expect("tables.json"),
    )
    .expect("tables.json");
    let dev: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(spider_dir.join("dev.json")).expect("dev.json"),
    )
    .expect("dev.json");
    let mut ids: Vec<&str> = dev.iter().filter_map(|q| q["db_id"].as_str()).collect();
    ids.dedup();
    ids.sort_unstable();
    ids.dedup();
    let schemas: Vec<&str> = ids.into_iter().take(if smoke() { 2 } else { 20 }).collect();
    let mut fks = Vec::new();
    for db in tables
        .iter()
        .filter(|d| schemas.contains(&d["db_id"].as_str().unwrap_or("")))
    {
        let (ddl, f) = spider::schema_ddl(db);
        c.batch_execute(&ddl).await.expect("spider ddl");
        fks.extend(f);
    }
    c.batch_execute(&fks.join("\n")).await.expect("spider fks");
    clients.insert("spider".to_string(), c);
    for (db, c) in &clients {
        let cat = catalog::load(c, &CatalogOptions::default())
            .await
            .expect("catalog");
        catalogs.insert(db.clone(), cat);
    }

    let per = if smoke() { 2 } else { 12 };
    let mut targets = Vec::new();
    let eval_questions = |file: &str| -> Vec<String> {
        let path = manifest_dir().join(file);
        let questions: Vec<String> = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v["question"].as_str().map(str::to_string))
            .collect();
        assert!(
            !questions.is_empty(),
            "no questions in {} (rebuild the bench in this clone)",
            path.display()
        );
        questions
    };
    for (db, file) in [
        ("chinook", "tests/eval/chinook.jsonl"),
        ("northwind", "tests/eval/demo.jsonl"),
    ] {
        let cat = &catalogs[db];
        targets.push(Target {
            label: db.to_string(),
            db: db.to_string(),
            tables: (0..cat.tables.len())
                .filter(|&t| cat.tables[t].schema == "public")
                .collect(),
            questions: eval_questions(file)
                .into_iter()
                .take(if smoke() { 2 } else { 20 })
                .collect(),
        });
    }
    let spider_cat = &catalogs["spider"];
    for s in &schemas {
        targets.push(Target {
            label: s.to_string(),
            db: "spider".into(),
            tables: (0..spider_cat.tables.len())
                .filter(|&t| spider_cat.tables[t].schema == *s)
                .collect(),
            questions: dev
                .iter()
                .filter(|q| q["db_id"].as_str() == Some(s))
                .filter_map(|q| q["question"].as_str().map(str::to_string))
                .take(per)
                .collect(),
        });
    }

    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tmp.path().join("tiny.gguf");
    tiny::write(&vocab, Shape::TINY, 7, &model).expect("write model");
    let mut eng = engine(&model);
    let policy = Policy::new(guard::default_functions());
    let never = || false;
    let mut tallies = [Tally::default(), Tally::default()];
    // `PGASK_PRECISION_TARGETS=singer,chinook`: only those targets (to look into one).
    let only: Option<Vec<String>> = std::env::var("PGASK_PRECISION_TARGETS")
        .ok()
        .map(|v| v.split(',').map(str::to_string).collect());
    let chosen = |t: &&Target| only.as_ref().is_none_or(|o| o.contains(&t.label));
    for t in targets.iter().filter(|_| !speed_only()).filter(chosen) {
        let cat = &catalogs[&t.db];
        let client = &clients[&t.db];
        for (qi, question) in t.questions.iter().enumerate() {
            // The values it names, as the pipeline looks them up.
            let holders = named_values(client, cat, &t.tables, question).await;
            // Two seeds with the default decoder, the first also with the grammar alone.
            for (k, scoped, seed) in [(0, true, 0), (0, true, 1000), (1, false, 0)] {
                let j = job(
                    cat,
                    t,
                    (question, &holders),
                    1 + seed + qi as u32,
                    scoped,
                    1.0,
                );
                let o: Output = eng.run(&j, &never).expect("generate");
                // A query the model did not end is judged finished, as any attempt runs it.
                let shortened = o.finished.is_some() && o.stop != Stop::Closed;
                let sql = o.finished.as_deref().unwrap_or(&o.text).trim();
                let tally = &mut tallies[k];
                tally.n += 1;
                tally.tokens += o.generated_tokens;
                tally.ms += o.generate_ms;
                tally.refusals += o.scope_refusals;
                tally.fallbacks += usize::from(o.fallback_from.is_some());
                if o.stop == Stop::Eos {
                    tally.complete += 1;
                }
                tally.closed += usize::from(o.stop == Stop::Closed);
                tally.shortened += usize::from(shortened);
                if matches!(o.stop, Stop::MaxTokens | Stop::Repeating | Stop::DeadEnd) {
                    tally.finish_ms.0 += o.finish_ms;
                    tally.finish_ms.1 = tally.finish_ms.1.max(o.finish_ms);
                    tally.finish_ms.2 += 1;
                }
                if let Some(f) = o.finished.as_deref() {
                    let same = f.bytes().zip(o.text.bytes()).take_while(|(a, b)| a == b);
                    tally.kept.0 += same.count();
                    tally.kept.1 += o.text.len();
                }
                let verdict = match guard::check(sql, &policy, cat, &Access::all(cat)) {
                    Err(e) => Err(format!("guard {}", e.sqlstate())),
                    Ok(_) => {
                        tally.names_ok += 1;
                        explain(client, sql)
                            .await
                            .map_err(|c| format!("EXPLAIN {c}"))
                    }
                };
                match verdict {
                    Ok(()) => {
                        tally.plans += 1;
                        if o.fallback_from.is_some()
                            && std::env::var_os("PRECISION_SHOW_FALLBACKS").is_some()
                        {
                            println!("{} | strict fallback | {question} | {sql}", t.label);
                        }
                        if o.stop == Stop::Eos {
                            tally.complete_plans += 1;
                        }
                        tally.closed_plans += usize::from(o.stop == Stop::Closed);
                        tally.short_plans += usize::from(shortened);
                        tally.fallback_plans += usize::from(o.fallback_from.is_some());
                        let ordered = j.scope.as_ref().is_some_and(|s| s.lacks_sort(""));
                        let valued = j.scope.as_ref().is_some_and(|s| !s.values.is_empty());
                        tally.valued_fallback_plans +=
                            usize::from(o.fallback_from.is_some() && valued);
                        tally.model_plans +=
                            usize::from(o.fallback_from.is_none() && o.stop == Stop::Eos);
                        tally.ordered_fallback_plans +=
                            usize::from(o.fallback_from.is_some() && ordered);
                    }
                    Err(kind) => {
                        if scoped
                            && (o.finished.is_some()
                                || o.stop.complete()
                                || std::env::var_os("PRECISION_VERBOSE").is_some())
                        {
                            // (A text pgask finished is a query it would run; a dead end's
                            // own text never is.)
                            let made = match (o.finished.is_some(), o.fallback_from.is_some()) {
                                (true, true) => ", strict fallback, finished by pgask",
                                (false, true) => ", strict fallback",
                                (true, false) => ", finished by pgask",
                                (false, false) => "",
                            };
                            println!(
                                "{} | {kind} | {:?} at {} tokens, {} backtracks{made} | {question} | {sql}",
                                t.label, o.stop, o.generated_tokens, o.backtracks
                            );
                        }
                        *tally.failures.entry(kind).or_default() += 1;
                    }
                }
            }
        }
    }
    if speed_only() {
        println!("(PGASK_BENCH_ONLY=speed: the random-weight precision run is skipped)");
    }
    // A fallback's first pass is the generation without it (same seed and prompt): without
    // the fallback (`llm.strict_fallback = false`), those generations leave nothing to run.
    let d = &tallies[0];
    println!(
        "# default decoder, first attempt (as any attempt: the model's own end, pgask's closing and finishing, or the strict fallback): plans {} of {} with the strict fallback, {} of {} without it; the model itself ended {} of them under the full grammar",
        d.plans,
        d.n,
        d.plans - d.fallback_plans,
        d.n,
        d.model_plans
    );
    println!(
        "# strict fallbacks that plan: {} of {}; {} answer questions that ask for an order (steered to an ORDER BY), {} questions that name a value (its condition written by pgask)",
        d.fallback_plans, d.fallbacks, d.ordered_fallback_plans, d.valued_fallback_plans
    );
    println!(
        "# precision: random-weight model (tiny shape, llama SPM vocabulary), {} targets, temperature 1.0, one generation each (the default decoder with the strict fallback; a query the model did not end is judged finished or closed, as any attempt runs it)",
        targets.len()
    );
    println!("| decoder | generations | ended by the model | names resolve (guard) | plans (EXPLAIN) | of those ended by the model: plan | closed by pgask (closing window): plan | finished by pgask: plan | queries pgask would run: plan | text kept when finished | finishing mean / max | strict fallbacks: plan | scope refusals | tok/s | failures |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for (name, t) in ["grammar + scope check (default)", "grammar alone"]
        .iter()
        .zip(&tallies)
    {
        println!(
            "| {name} | {} | {} | {} | {} | {:.1}% ({} of {}) | {:.1}% ({} of {}) | {:.1}% ({} of {}) | {:.1}% ({} of {}) | {:.0}% | {:.0} / {:.0} ms | {} of {} | {} | {:.0} | {} |",
            t.n,
            t.pct(t.complete),
            t.pct(t.names_ok),
            t.pct(t.plans),
            100.0 * t.complete_plans as f64 / t.complete.max(1) as f64,
            t.complete_plans,
            t.complete,
            100.0 * t.closed_plans as f64 / t.closed.max(1) as f64,
            t.closed_plans,
            t.closed,
            100.0 * t.short_plans as f64 / t.shortened.max(1) as f64,
            t.short_plans,
            t.shortened,
            // Ended by the model, closed in the window, or finished: what an attempt runs.
            100.0 * (t.complete_plans + t.closed_plans + t.short_plans) as f64
                / (t.complete + t.closed + t.shortened).max(1) as f64,
            t.complete_plans + t.closed_plans + t.short_plans,
            t.complete + t.closed + t.shortened,
            100.0 * t.kept.0 as f64 / t.kept.1.max(1) as f64,
            t.finish_ms.0 / t.finish_ms.2.max(1) as f64,
            t.finish_ms.1,
            t.fallback_plans,
            t.fallbacks,
            t.refusals,
            t.tokens as f64 / t.ms.max(1e-9) * 1e3,
            t.failures
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    // Speed with the trained model: grammar and scope check against no constraint at all.
    let Some(real) = std::env::var_os("PGASK_REAL_MODEL")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
    else {
        println!("\n(no PGASK_REAL_MODEL: the speed ratio with Gemma is skipped)");
        return;
    };
    let mut eng = engine(&real);
    let chinook = &targets[0];
    let cat = &catalogs["chinook"];
    // Decoding time: generation without the finishing of a query not ended (reported apart).
    let (mut c_tok, mut c_ms, mut f_tok, mut f_ms, mut finishing) = (0, 0.0, 0, 0.0, 0.0);
    let decode_ms = |o: &Output| o.generate_ms - o.finish_ms;
    let mut ratios = Vec::new();
    for (qi, question) in chinook
        .questions
        .iter()
        .enumerate()
        .take(if smoke() { 2 } else { 12 })
    {
        let holders = named_values(&clients["chinook"], cat, &chinook.tables, question).await;
        let mut j = job(cat, chinook, (question, &holders), 1 + qi as u32, true, 0.0);
        j.max_tokens = 48;
        let constrained = eng.run(&j, &never).expect("generate");
        j.grammar = None;
        j.scope = None;
        j.fallback = None;
        let free = eng.run(&j, &never).expect("generate");
        println!(
            "pair {qi}: constrained {} tok in {:.0} ms (grammar + scope {:.0} ms, {} refusals, {} backtracks, {:?}, then finishing {:.0} ms); unconstrained {} tok in {:.0} ms",
            constrained.generated_tokens,
            decode_ms(&constrained),
            constrained.grammar_ms,
            constrained.scope_refusals,
            constrained.backtracks,
            constrained.stop,
            constrained.finish_ms,
            free.generated_tokens,
            decode_ms(&free)
        );
        if std::env::var_os("PRECISION_VERBOSE").is_some() {
            println!("  constrained text: {}", constrained.text.trim());
        }
        c_tok += constrained.generated_tokens;
        c_ms += decode_ms(&constrained);
        finishing += constrained.finish_ms;
        f_tok += free.generated_tokens;
        f_ms += decode_ms(&free);
        let rate = |o: &Output| o.generated_tokens as f64 / decode_ms(o).max(1e-9);
        if constrained.generated_tokens > 0 && free.generated_tokens > 0 {
            ratios.push(rate(&constrained) / rate(&free));
        }
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "\n# speed with {}: {} paired runs (greedy, same prompt)\n| decoder | tokens | tok/s |\n| --- | ---: | ---: |\n| grammar + scope check | {c_tok} | {:.1} |\n| unconstrained | {f_tok} | {:.1} |\nratio of totals {:.2}; median of per-pair ratios {:.2}; finishing the queries not ended {finishing:.0} ms in all",
        real.display(),
        ratios.len(),
        c_tok as f64 / c_ms * 1e3,
        f_tok as f64 / f_ms * 1e3,
        (c_tok as f64 / c_ms) / (f_tok as f64 / f_ms),
        ratios.get(ratios.len() / 2).copied().unwrap_or(0.0)
    );
}
