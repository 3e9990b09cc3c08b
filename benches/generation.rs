//! Generation benchmark: grammar coverage of Spider dev gold queries (and the share the
//! sampler's scope check lets through at every prefix), grammar build times,
//! decoding speed with and without the grammar on random-weight models shaped like Qwen2.5
//! 0.5B/1.5B, and prompt tokens re-evaluated on a second ask over the same schema.
//!
//! `cargo bench --bench generation` (full run; set PGASK_BENCH_15B=1 to add the 1.5B shape), or
//! `PGASK_BENCH_SMOKE=1 cargo test --bench generation` (a few queries, the tiny model: checks the
//! benchmark still runs); `PGASK_BENCH_ONLY=coverage` stops after the coverage. Data come from `PGASK_SPIDER_DIR` and `PGASK_VOCAB_DIR` (default
//! `../shared/...`).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use pgask::ask::catalog::{quote_ident, Catalog, Column, Table};
use pgask::ask::generate::grammar::{self, GColumn, GTable, Profile, Spec, ValueKind};
use pgask::ask::generate::llama::matcher::{Matcher, Verdict};
use pgask::ask::generate::llama::{Engine, EngineConfig};
use pgask::ask::generate::protocol::{ChatMessage, Job};
use pgask::ask::generate::scope::Scope;
use pgask::ask::generate::shape::{self, Shape as QuestionShape};
use pgask::ask::generate::tiny::{self, Shape};
use serde_json::Value;
use sqlparser::ast::{Statement, TableFactor, Visit, Visitor};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

fn env_path(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/")).join(default))
}

fn smoke() -> bool {
    std::env::var_os("PGASK_BENCH_SMOKE").is_some()
}

fn main() {
    let spider = env_path("PGASK_SPIDER_DIR", "../shared/datasets/spider");
    let vocab_dir = env_path("PGASK_VOCAB_DIR", "../shared/models/vocab");
    let spm = vocab_dir.join("ggml-vocab-llama-spm.gguf");
    println!(
        "# generation benchmark{}",
        if smoke() { " (smoke)" } else { "" }
    );
    coverage(&spider, &spm);
    if std::env::var("PGASK_BENCH_ONLY").as_deref() == Ok("coverage") {
        return;
    }
    build_times();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut shapes = vec![("tiny", Shape::TINY)];
    if !smoke() {
        shapes.push(("qwen2.5-0.5b-shape Q8_0", Shape::QWEN_05B));
        if std::env::var_os("PGASK_BENCH_15B").is_some() {
            shapes.push(("qwen2.5-1.5b-shape Q8_0", Shape::QWEN_15B));
        }
    }
    for (label, shape) in shapes {
        let path = tmp.path().join(format!("{}.gguf", label.replace(' ', "_")));
        let t = Instant::now();
        tiny::write(&spm, shape, 1, &path).expect("write model");
        println!(
            "\n## speed: {label} (written in {:.1} s)",
            t.elapsed().as_secs_f64()
        );
        speed(&path);
    }
}

// ---------------------------------------------------------------------------------------------
// Coverage

struct SpiderDb {
    spec: Spec,
    names: HashSet<String>,
    /// The same tables as a catalog, for the scope check.
    catalog: Catalog,
}

fn kind(t: &str) -> ValueKind {
    match t {
        "number" => ValueKind::Number,
        "time" => ValueKind::Time,
        "boolean" => ValueKind::Bool,
        "text" => ValueKind::Text,
        _ => ValueKind::Other,
    }
}

fn spider_dbs(tables_json: &Value) -> BTreeMap<String, SpiderDb> {
    let mut out = BTreeMap::new();
    for db in tables_json.as_array().into_iter().flatten() {
        let id = db["db_id"].as_str().unwrap_or_default().to_string();
        let tnames: Vec<String> = db["table_names_original"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t.as_str().unwrap_or_default().to_lowercase())
            .collect();
        let types: Vec<&str> = db["column_types"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t.as_str().unwrap_or_default())
            .collect();
        let mut tables: Vec<GTable> = tnames
            .iter()
            .map(|t| GTable {
                name: quote_ident(t),
                columns: vec![],
            })
            .collect();
        let mut names: HashSet<String> = tnames.iter().cloned().collect();
        let mut catalog = Catalog {
            database: id.clone(),
            fingerprint: String::new(),
            extensions: Vec::new(),
            tables: tnames.iter().map(|t| Table::new(t, vec![])).collect(),
        };
        for (i, c) in db["column_names_original"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let (Some(t), Some(name)) = (c[0].as_i64(), c[1].as_str()) else {
                continue;
            };
            if t < 0 {
                continue;
            }
            let name = name.to_lowercase();
            names.insert(name.clone());
            if let Some(ct) = catalog.tables.get_mut(t as usize) {
                if !ct.columns.iter().any(|c| c.name == name) {
                    let data_type = match types.get(i).copied() {
                        Some("number") => "numeric",
                        Some("time") => "timestamp without time zone",
                        Some("boolean") => "boolean",
                        _ => "text",
                    };
                    ct.columns.push(Column::new(&name, data_type));
                }
            }
            let cols = &mut tables[t as usize].columns;
            let q = quote_ident(&name);
            if !cols.iter().any(|c| c.name == q) {
                cols.push(GColumn {
                    name: q,
                    kind: kind(types.get(i).copied().unwrap_or("text")),
                    labels: vec![],
                });
            }
        }
        out.insert(
            id,
            SpiderDb {
                spec: Spec {
                    tables,
                    ..Spec::default()
                },
                names,
                catalog,
            },
        );
    }
    out
}

/// Mechanical SQLite → PostgreSQL conversion: unquoted names folded to lower case (PostgreSQL
/// folds them too), double-quoted strings that are not names become '...' literals, and the
/// result printed in sqlparser's canonical form.
fn convert(sql: &str, names: &HashSet<String>) -> Result<String, String> {
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize()
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    for t in tokens {
        match t {
            Token::Word(w) if w.quote_style == Some('"') => {
                let lower = w.value.to_lowercase();
                if names.contains(&lower) {
                    out.push_str(&quote_ident(&lower));
                } else {
                    out.push_str(&format!("'{}'", w.value.replace('\'', "''")));
                }
            }
            Token::Word(w) if w.quote_style.is_none() => out.push_str(&w.value.to_lowercase()),
            other => out.push_str(&other.to_string()),
        }
    }
    let mut stmts = Parser::parse_sql(&dialect, &out).map_err(|e| e.to_string())?;
    if stmts.len() != 1 {
        return Err("not one statement".into());
    }
    Ok(stmts.remove(0).to_string())
}

/// The shortest prefix of `sql` (one character at a time) after which the scope check refuses
/// the next character, or the end.
fn refused_prefix(scope: &Scope, sql: &str) -> Option<String> {
    for (i, c) in sql.char_indices().skip(1) {
        let (prefix, rest) = sql.split_at(i);
        if scope.rejects(prefix, &rest[..c.len_utf8()], false) {
            return Some(format!("{prefix}|{c}"));
        }
    }
    scope.rejects(sql, "", true).then(|| format!("{sql}|<end>"))
}

/// The last `n` characters of `s`.
fn tail(s: &str, n: usize) -> &str {
    let k = s.char_indices().rev().nth(n).map_or(0, |(k, _)| k);
    &s[k..]
}

#[derive(Default)]
struct Relations(Vec<String>);

impl Visitor for Relations {
    type Break = ();
    fn pre_visit_table_factor(&mut self, t: &TableFactor) -> std::ops::ControlFlow<()> {
        if let TableFactor::Table { name, .. } = t {
            self.0.push(name.to_string());
        }
        std::ops::ControlFlow::Continue(())
    }
}

fn coverage(spider: &std::path::Path, vocab: &std::path::Path) {
    let (Ok(dev), Ok(tables)) = (
        std::fs::read_to_string(spider.join("dev.json")),
        std::fs::read_to_string(spider.join("tables.json")),
    ) else {
        println!(
            "coverage: Spider not found under {}; skipped",
            spider.display()
        );
        return;
    };
    let dev: Value = serde_json::from_str(&dev).expect("dev.json");
    let dbs = spider_dbs(&serde_json::from_str(&tables).expect("tables.json"));
    let matcher = Matcher::load(vocab).expect("vocabulary for the matcher");
    let limit = if smoke() { 40 } else { usize::MAX };
    let (mut total, mut unconverted) = (0, 0);
    let mut accepted = [0usize; 2];
    // Of the full profile's accepted queries: refused by the scope check somewhere.
    let mut scope_refused: Vec<(String, String)> = Vec::new();
    let mut fails: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let t = Instant::now();
    for q in dev.as_array().into_iter().flatten().take(limit) {
        let (Some(db), Some(sql)) = (q["db_id"].as_str(), q["query"].as_str()) else {
            continue;
        };
        let Some(db) = dbs.get(db) else { continue };
        total += 1;
        let Ok(canonical) = convert(sql, &db.names) else {
            unconverted += 1;
            continue;
        };
        let Ok(stmt) = Parser::parse_sql(&PostgreSqlDialect {}, &canonical) else {
            unconverted += 1;
            continue;
        };
        let mut rel = Relations::default();
        let _ = stmt.first().map(|s: &Statement| s.visit(&mut rel));
        let used: Vec<GTable> = db
            .spec
            .tables
            .iter()
            .filter(|t| rel.0.iter().any(|r| r == &t.name))
            .cloned()
            .collect();
        let spec = Spec {
            tables: if used.is_empty() {
                db.spec.tables.clone()
            } else {
                used
            },
            ..Spec::default()
        };
        for (i, profile) in [Profile::Full, Profile::Strict].into_iter().enumerate() {
            let g = grammar::build(&spec, profile).expect("grammar");
            match matcher.check(&g.text, &canonical).expect("matcher") {
                Verdict::Accepted if profile == Profile::Full => {
                    accepted[i] += 1;
                    let ids: Vec<usize> = (0..db.catalog.tables.len())
                        .filter(|&t| rel.0.is_empty() || rel.0.contains(&db.catalog.tables[t].name))
                        .collect();
                    let question = q["question"].as_str().unwrap_or_default();
                    // The question's order demand too, as the pipeline sets it.
                    let names = shape::names(&db.catalog, &ids);
                    let ordered = QuestionShape::of(question, &names).ordered;
                    let scope = Scope::new(&db.catalog, &ids, question).with_order(ordered);
                    if let Some(prefix) = refused_prefix(&scope, &canonical) {
                        scope_refused.push((prefix, canonical.clone()));
                    }
                }
                Verdict::Accepted => accepted[i] += 1,
                Verdict::RejectedAt(at) if profile == Profile::Full => {
                    let rest = &canonical[at.min(canonical.len())..];
                    let word: String = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or("<end>")
                        .chars()
                        .take(16)
                        .collect();
                    let e = fails.entry(word).or_insert((0, canonical.clone()));
                    e.0 += 1;
                }
                Verdict::RejectedAt(_) => {}
            }
        }
    }
    println!(
        "\n## grammar coverage, Spider dev ({total} gold queries, {:.1} s)",
        t.elapsed().as_secs_f64()
    );
    println!(
        "not convertible to PostgreSQL mechanically: {unconverted}\nfull profile accepted: {} = {:.1}% of all, {:.1}% of converted\nstrict profile accepted: {} = {:.1}%",
        accepted[0],
        100.0 * accepted[0] as f64 / total.max(1) as f64,
        100.0 * accepted[0] as f64 / (total - unconverted).max(1) as f64,
        accepted[1],
        100.0 * accepted[1] as f64 / total.max(1) as f64,
    );
    println!(
        "full profile and the scope check at every prefix: {} = {:.1}% of all ({} accepted queries refused somewhere); the first refusals:",
        accepted[0] - scope_refused.len(),
        100.0 * (accepted[0] - scope_refused.len()) as f64 / total.max(1) as f64,
        scope_refused.len()
    );
    for (prefix, sql) in scope_refused.iter().take(if smoke() { 40 } else { 60 }) {
        println!("  refused at `…{}`  in {sql}", tail(prefix, 40));
    }
    let mut fails: Vec<_> = fails.into_iter().collect();
    fails.sort_by_key(|f| std::cmp::Reverse(f.1 .0));
    println!("full-profile rejections by the text where they stop (count, example):");
    for (word, (n, example)) in fails.iter().take(12) {
        println!("  {n:4}  at `{word}`  e.g. {example}");
    }
}

// ---------------------------------------------------------------------------------------------
// Grammar build time

fn synthetic(columns: usize) -> Spec {
    let per_table = 10;
    let tables = columns.div_ceil(per_table);
    Spec {
        tables: (0..tables)
            .map(|t| GTable {
                name: format!("table_{t}"),
                columns: (0..per_table)
                    .map(|c| GColumn {
                        name: format!("column_{t}_{c}"),
                        kind: [ValueKind::Number, ValueKind::Text, ValueKind::Time][c % 3],
                        labels: vec![],
                    })
                    .collect(),
            })
            .collect(),
        ..Spec::default()
    }
}

fn build_times() {
    println!("\n## grammar build time (pgask builder; llama.cpp parse is in the speed section)");
    println!("columns | full: rules, bytes, ms | strict: rules, bytes, ms");
    for cols in [10, 100, 1000] {
        let spec = synthetic(cols);
        let mut row = format!("{cols:>7}");
        for p in [Profile::Full, Profile::Strict] {
            let reps = 20;
            let t = Instant::now();
            let mut g = None;
            for _ in 0..reps {
                g = Some(grammar::build(&spec, p).expect("grammar"));
            }
            let ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
            let g = g.expect("built");
            row.push_str(&format!(
                " | {} rules, {} B, {ms:.2} ms",
                g.rules,
                g.text.len()
            ));
        }
        println!("{row}");
    }
}

// ---------------------------------------------------------------------------------------------
// Speed

fn prompt(spec: &Spec, question: &str) -> Vec<ChatMessage> {
    let mut ddl = String::new();
    for t in &spec.tables {
        ddl.push_str(&format!("CREATE TABLE {} (\n", t.name));
        for c in &t.columns {
            ddl.push_str(&format!("  {} {:?},\n", c.name, c.kind));
        }
        ddl.push_str(");\n");
    }
    vec![
        ChatMessage::new(
            "system",
            format!("You write one PostgreSQL query over these tables.\n{ddl}"),
        ),
        ChatMessage::new("user", format!("Question: {question}")),
    ]
}

fn speed(model: &std::path::Path) {
    let cfg = EngineConfig {
        threads: std::thread::available_parallelism()
            .map(|n| n.get() as i32)
            .unwrap_or(2),
        context: 4096,
        chat_template: "auto".into(),
        top_k: 40,
    };
    let mut engine = Engine::load(model, &cfg).expect("load");
    println!("{}", engine.description);
    let n = if smoke() { 16 } else { 48 };
    let never = || false;
    let job = |messages: Vec<ChatMessage>, grammar: Option<String>, seed: u32, always: bool| Job {
        id: 1,
        messages,
        grammar,
        max_tokens: n,
        temperature: 1.0,
        seed,
        always_mask: always,
        scope: None,
        closing: false,
        fallback: None,
    };
    // Prompt speed and KV reuse on a 100-column schema.
    let spec = synthetic(100);
    let first = engine
        .run(
            &job(prompt(&spec, "top 5 customers by revenue"), None, 1, false),
            &never,
        )
        .expect("run");
    let second = engine
        .run(
            &job(
                prompt(&spec, "how many orders per month in 2024?"),
                None,
                2,
                false,
            ),
            &never,
        )
        .expect("run");
    println!(
        "prompt: {} tokens in {:.0} ms = {:.0} tok/s; second ask re-evaluated {} of {} prompt tokens ({:.1}%)",
        first.prompt_tokens,
        first.prompt_ms,
        first.prompt_tokens as f64 / first.prompt_ms * 1e3,
        second.prompt_tokens - second.reused_tokens,
        second.prompt_tokens,
        100.0 * (second.prompt_tokens - second.reused_tokens) as f64 / second.prompt_tokens as f64
    );
    let msgs = prompt(&synthetic(10), "list everything");
    // The machine's speed drifts by tens of percent over a run, so every grammar run is paired
    // with an unconstrained run right before it (same seed) and the ratio is taken per pair.
    for temperature in [0.0f32, 1.0] {
        println!(
            "\ndecoding at temperature {temperature} (same prompt, {n} tokens max, 3 seeds each, each paired with an unconstrained run):"
        );
        println!("grammar | columns | tok/s | unconstrained tok/s (paired) | ratio | grammar ms/token | 1 - grammar share | resampled | checked per resample | llama.cpp grammar parse ms");
        let once = |engine: &mut Engine, g: Option<String>, seed: u32, always: bool| {
            let mut j = job(msgs.clone(), g, seed, always);
            j.temperature = temperature;
            engine.run(&j, &never).expect("run")
        };
        let rate = |engine: &mut Engine, g: String, always: bool| {
            let (mut toks, mut ms, mut gms, mut res, mut checked, mut parse) =
                (0, 0.0, 0.0, 0, 0, 0.0);
            let (mut base_toks, mut base_ms) = (0, 0.0);
            for seed in 1..=3 {
                let b = once(engine, None, seed, false);
                base_toks += b.generated_tokens;
                base_ms += b.generate_ms;
                let o = once(engine, Some(g.clone()), seed, always);
                toks += o.generated_tokens;
                ms += o.generate_ms;
                gms += o.grammar_ms;
                res += o.grammar_resamples;
                checked += o.grammar_checked;
                parse += o.grammar_build_ms;
            }
            let per = if always { toks } else { res };
            let r = toks as f64 / ms * 1e3;
            let base = base_toks as f64 / base_ms * 1e3;
            let gpt = gms / toks.max(1) as f64;
            format!(
                "{r:.1} | {base:.1} | {:.2} | {gpt:.2} | {:.2} | {res}/{toks} | {} | {:.1}",
                r / base,
                1.0 - gms / ms,
                checked / per.max(1),
                parse / 3.0
            )
        };
        for cols in [10, 100, 1000] {
            let spec = synthetic(cols);
            for (label, p) in [("full", Profile::Full), ("strict", Profile::Strict)] {
                let g = grammar::build(&spec, p).expect("grammar").text;
                println!("{label} | {cols} | {}", rate(&mut engine, g.clone(), false));
                if cols == 1000 && p == Profile::Full {
                    println!(
                        "{label}, llama.cpp whole-vocabulary mask every token | {cols} | {}",
                        rate(&mut engine, g, true)
                    );
                }
            }
        }
    }
}
