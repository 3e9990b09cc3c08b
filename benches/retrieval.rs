//! Retrieval benchmark on Spider dev: the 166 schemas of `tables.json` are created (empty, with
//! their types, primary and foreign keys) as schemas of one throwaway database; for each of the
//! 1,034 questions the gold tables come from the gold SQL, and strict / mean recall@k of the
//! dense, lexical, fused and reranked rankings are reported, within the question's own schema and
//! over the union of all tables. Then index build time and search latency at 876 tables and at
//! a synthetic 10,000-table schema.
//!
//! `cargo bench --profile dev --bench retrieval` (full, ~10 min), or with `PGASK_BENCH_SMOKE=1`
//! a few schemas and 300 synthetic tables (what CI runs through `cargo test --bench retrieval`).
//! Paths: `PGASK_SPIDER_DIR` (default `../shared/datasets/spider`), `PGASK_EMBEDDER_DIR`
//! (default `../shared/models/all-MiniLM-L6-v2`); `OUT=FILE` writes the tables as Markdown.

#[allow(dead_code)]
#[path = "../tests/it/common/cluster.rs"]
mod cluster;
#[path = "common/spider.rs"]
mod spider;

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgask::ask::catalog::{self, quote_ident, Access, CatalogOptions};
use pgask::ask::retrieve::embed::Embedder;
use pgask::ask::retrieve::{embedding_cache, Mode, Retriever};
use serde_json::Value;

const KS: [usize; 3] = [3, 5, 10];
const MODES: [(Mode, &str); 4] = [
    (Mode::Dense, "dense"),
    (Mode::Lexical, "lexical"),
    (Mode::Fused, "fused (RRF)"),
    (Mode::Reranked, "fused + rerank"),
];

fn env_path(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/")).join(default))
}

/// Table names after FROM / JOIN (and comma lists) in a gold query.
fn gold_tables(sql: &str) -> Vec<String> {
    let toks: Vec<String> = sql
        .replace('(', " ( ")
        .replace(')', " ) ")
        .replace(',', " , ")
        .replace(';', " ")
        .split_whitespace()
        .map(|t| t.trim_matches('"').trim_matches('`').to_string())
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i].to_lowercase();
        if (t == "from" || t == "join") && i + 1 < toks.len() && toks[i + 1] != "(" {
            out.push(toks[i + 1].to_lowercase());
            // FROM a AS x , b AS y
            let mut j = i + 2;
            loop {
                while j < toks.len() && toks[j] != "," && !is_clause(&toks[j]) {
                    j += 1;
                }
                if j + 1 < toks.len() && toks[j] == "," && t == "from" && toks[j + 1] != "(" {
                    out.push(toks[j + 1].to_lowercase());
                    j += 2;
                } else {
                    break;
                }
            }
        }
        i += 1;
    }
    out.sort();
    out.dedup();
    out
}

fn is_clause(t: &str) -> bool {
    matches!(
        t.to_lowercase().as_str(),
        "where"
            | "group"
            | "order"
            | "limit"
            | "join"
            | "on"
            | "union"
            | "intersect"
            | "except"
            | "having"
            | ")"
            | "("
            | "select"
    )
}

#[derive(Default, Clone)]
struct Tally {
    strict: [usize; 3],
    mean: [f64; 3],
    n: usize,
}

impl Tally {
    fn add(&mut self, ranking: &[usize], gold: &HashSet<usize>) {
        self.n += 1;
        for (i, k) in KS.iter().enumerate() {
            let hit = ranking.iter().take(*k).filter(|t| gold.contains(t)).count();
            self.strict[i] += usize::from(hit == gold.len());
            self.mean[i] += hit as f64 / gold.len() as f64;
        }
    }
    fn row(&self, label: &str) -> String {
        let n = self.n.max(1) as f64;
        let s: Vec<String> = (0..3)
            .map(|i| format!("{:.3}", self.strict[i] as f64 / n))
            .collect();
        let m: Vec<String> = (0..3).map(|i| format!("{:.3}", self.mean[i] / n)).collect();
        format!("| {label} | {} | {} |", s.join(" | "), m.join(" | "))
    }
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v.get(((v.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or_default()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let smoke = std::env::var("PGASK_BENCH_SMOKE").is_ok();
    let spider = env_path("PGASK_SPIDER_DIR", "../shared/datasets/spider");
    let embedder = Arc::new(
        Embedder::load(&env_path(
            "PGASK_EMBEDDER_DIR",
            "../shared/models/all-MiniLM-L6-v2",
        ))
        .expect("embedder"),
    );
    let tables: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(spider.join("tables.json")).expect("tables.json"),
    )
    .unwrap();
    let dev: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(spider.join("dev.json")).expect("dev.json"))
            .unwrap();
    let schemas: Vec<&Value> = if smoke {
        tables
            .iter()
            .filter(|d| {
                ["concert_singer", "pets_1", "car_1"].contains(&d["db_id"].as_str().unwrap())
            })
            .collect()
    } else {
        tables.iter().collect()
    };
    let wanted: HashSet<&str> = schemas
        .iter()
        .map(|d| d["db_id"].as_str().unwrap())
        .collect();

    let cluster = cluster::Cluster::start(cluster::ClusterOpts::default());
    cluster.psql_as("postgres", "postgres", "CREATE DATABASE spider");
    let url = format!(
        "host=127.0.0.1 port={} user=postgres dbname=spider",
        cluster.port
    );
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut fks = Vec::new();
    for db in &schemas {
        let (ddl, f) = spider::schema_ddl(db);
        client
            .batch_execute(&ddl)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", db["db_id"]));
        fks.extend(f);
    }
    client.batch_execute(&fks.join("\n")).await.unwrap();

    let started = Instant::now();
    let cat = catalog::load(&client, &CatalogOptions::default())
        .await
        .unwrap();
    let catalog_time = started.elapsed();
    let fk_count: usize = cat.tables.iter().map(|t| t.foreign_keys.len()).sum();
    let started = Instant::now();
    let r = Retriever::build(
        cat.clone(),
        embedder.clone(),
        embedding_cache(100_000),
        None,
    )
    .unwrap();
    let build_time = started.elapsed();

    let mut by_schema: HashMap<&str, Access> = HashMap::new();
    for (i, t) in cat.tables.iter().enumerate() {
        by_schema
            .entry(t.schema.as_str())
            .or_default()
            .tables
            .insert(i);
    }
    let union = Access::all(&cat);
    let mut per_schema = vec![Tally::default(); MODES.len()];
    let mut over_union = vec![Tally::default(); MODES.len()];
    let mut latencies = Vec::new();
    let mut skipped = 0;
    for q in dev
        .iter()
        .filter(|q| wanted.contains(q["db_id"].as_str().unwrap()))
    {
        let schema = q["db_id"].as_str().unwrap();
        let gold: HashSet<usize> = gold_tables(q["query"].as_str().unwrap())
            .iter()
            .filter_map(|name| {
                cat.tables
                    .iter()
                    .position(|t| t.schema == schema && t.name.to_lowercase() == *name)
            })
            .collect();
        if gold.is_empty() {
            skipped += 1;
            continue;
        }
        let question = q["question"].as_str().unwrap();
        for (m, (mode, _)) in MODES.iter().enumerate() {
            per_schema[m].add(&r.rank(question, &by_schema[schema], *mode).unwrap(), &gold);
            over_union[m].add(&r.rank(question, &union, *mode).unwrap(), &gold);
        }
        // The rank() calls above cached this question's embedding: this is retrieval proper.
        let t0 = Instant::now();
        r.search(question, &union, 10).unwrap();
        latencies.push(t0.elapsed());
    }

    // A synthetic schema of many tables, for latency at scale.
    let n_synth = if smoke { 300 } else { 10_000 };
    cluster.psql_as("postgres", "postgres", "CREATE DATABASE synth");
    let url = format!(
        "host=127.0.0.1 port={} user=postgres dbname=synth",
        cluster.port
    );
    let (synth, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let nouns = [
        "customer",
        "order",
        "invoice",
        "product",
        "supplier",
        "shipment",
        "payment",
        "employee",
        "office",
        "region",
        "account",
        "ledger",
        "contract",
        "ticket",
        "asset",
        "vendor",
        "warehouse",
        "campaign",
        "lead",
        "policy",
    ];
    let attrs = [
        "status", "amount", "created", "country", "category", "priority", "score", "notes",
        "total", "code",
    ];
    let mut ddl = String::new();
    for i in 0..n_synth {
        if i % 500 == 0 && !ddl.is_empty() {
            synth
                .batch_execute(&std::mem::take(&mut ddl))
                .await
                .unwrap();
        }
        let (a, b) = (
            nouns[i % nouns.len()],
            nouns[(i / nouns.len()) % nouns.len()],
        );
        let name = format!("{a}_{b}_{i}");
        let _ = writeln!(
            ddl,
            "CREATE TABLE {} (id int PRIMARY KEY, {}_id int, {} text, {} numeric, label text);",
            quote_ident(&name),
            b,
            attrs[i % attrs.len()],
            attrs[(i / 7) % attrs.len()].to_owned() + "_v"
        );
    }
    synth.batch_execute(&ddl).await.unwrap();
    let t0 = Instant::now();
    let synth_cat = catalog::load(&synth, &CatalogOptions::default())
        .await
        .unwrap();
    let synth_catalog_time = t0.elapsed();
    let t0 = Instant::now();
    let synth_r =
        Retriever::build(synth_cat.clone(), embedder, embedding_cache(100_000), None).unwrap();
    let synth_build = t0.elapsed();
    let synth_access = Access::all(&synth_cat);
    let (mut synth_cold, mut synth_lat) = (Vec::new(), Vec::new());
    for q in dev.iter().take(if smoke { 30 } else { 300 }) {
        let question = q["question"].as_str().unwrap();
        let t0 = Instant::now();
        synth_r.search(question, &synth_access, 10).unwrap();
        synth_cold.push(t0.elapsed());
        let t0 = Instant::now();
        synth_r.search(question, &synth_access, 10).unwrap();
        synth_lat.push(t0.elapsed());
    }

    let mut out = String::new();
    let _ = writeln!(out, "Spider dev retrieval: {} schemas, {} tables, {} foreign keys created, {} questions ({} without a parsable gold table skipped)", schemas.len(), cat.tables.len(), fk_count, per_schema[0].n, skipped);
    for (title, tallies) in [
        ("within the question's own schema", &per_schema),
        ("over the union of all tables", &over_union),
    ] {
        let _ = writeln!(out, "\n**Recall {title}**\n\n| ranking | strict@3 | strict@5 | strict@10 | mean@3 | mean@5 | mean@10 |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        for (m, (_, label)) in MODES.iter().enumerate() {
            let _ = writeln!(out, "{}", tallies[m].row(label));
        }
    }
    let _ = writeln!(out, "\nSearch = top 10 over all tables. \"cached\": the question's embedding is already in the cache (retrieval proper); \"with embedding\": includes embedding the question.\n");
    let _ = writeln!(out, "| scale | catalog load | index build | p50 cached | p95 cached | p50 with embedding | p95 with embedding |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let p = |v: &Vec<Duration>, q: f64| format!("{:.2?}", percentile(v.clone(), q));
    let _ = writeln!(
        out,
        "| {} tables (Spider) | {catalog_time:.2?} | {build_time:.2?} | {} | {} | | |",
        cat.tables.len(),
        p(&latencies, 0.5),
        p(&latencies, 0.95)
    );
    let _ = writeln!(
        out,
        "| {} tables (synthetic) | {synth_catalog_time:.2?} | {synth_build:.2?} | {} | {} | {} | {} |",
        synth_cat.tables.len(),
        p(&synth_lat, 0.5),
        p(&synth_lat, 0.95),
        p(&synth_cold, 0.5),
        p(&synth_cold, 0.95)
    );
    println!("{out}");
    if let Ok(path) = std::env::var("OUT") {
        std::fs::write(path, &out).unwrap();
    }
    assert!(per_schema[0].n > 0, "no question was evaluated");
}
