//! Shared test data from `../shared` (or the env vars `.ci/run` sets): the sample databases
//! loaded into a cluster, vocabulary GGUFs, and random-weight models written from them. Outside CI
//! a missing file skips the test (returns `None`); under `CI=true` it fails.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use pgask::ask::generate::tiny::{self, Shape};

use super::cluster::{remove_at_exit, Cluster};

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(rel)
}

fn missing(what: &str, err: impl std::fmt::Display) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI must provide {what}: {err}"
    );
    eprintln!("skipping: {what}: {err}");
}

/// The MiniLM embedder directory: `PGASK_EMBEDDER_DIR` (set by .ci/run) or `../shared/models/...`.
pub fn embedder_dir() -> PathBuf {
    std::env::var_os("PGASK_EMBEDDER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| shared("models/all-MiniLM-L6-v2"))
}

/// The embedder directory when its weights are there (skipped outside CI when absent).
pub fn embedder() -> Option<PathBuf> {
    let dir = embedder_dir();
    let weights = dir.join("model.safetensors");
    if weights.is_file() {
        Some(dir)
    } else {
        missing(&weights.display().to_string(), "not found");
        None
    }
}

/// `chinook` or `northwind` loaded once into `cluster`; returns the database name.
pub fn dataset(cluster: &Cluster, name: &str) -> Option<String> {
    static LOADED: Mutex<Vec<(u16, String)>> = Mutex::new(Vec::new());
    let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    if loaded.iter().any(|(p, n)| *p == cluster.port && n == name) {
        return Some(name.to_string());
    }
    let var = format!("PGASK_{}_SQL", name.to_uppercase());
    let path = std::env::var_os(&var)
        .map(PathBuf::from)
        .unwrap_or_else(|| shared(&format!("datasets/postgres/{name}.sql")));
    let sql = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => {
            missing(&path.display().to_string(), e);
            return None;
        }
    };
    if name == "chinook" {
        // The chinook script creates and connects to its own database.
        cluster.psql_as("postgres", "postgres", &sql);
    } else {
        cluster.psql_as("postgres", "postgres", &format!("CREATE DATABASE {name}"));
        cluster.psql_as("postgres", name, &sql);
    }
    // A copy nobody connects to: the template of private copies (CREATE DATABASE ... TEMPLATE
    // needs its source without connections, and tests may add tables to the shared one).
    cluster.psql_as(
        "postgres",
        "postgres",
        &format!("CREATE DATABASE {name}_pristine TEMPLATE {name}"),
    );
    loaded.push((cluster.port, name.to_string()));
    Some(name.to_string())
}

/// A private copy of dataset `name` named `copy` (made afresh): for a test whose roles,
/// policies or grants must touch no other test's (the shared copy's catalog is every ask
/// test's). One copy at a time: CREATE DATABASE … TEMPLATE needs its source without other
/// connections.
pub fn private_copy(cluster: &Cluster, name: &str, copy: &str) -> Option<String> {
    static COPYING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let source = pristine(cluster, name)?;
    let _one_at_a_time = COPYING.lock().unwrap_or_else(|e| e.into_inner());
    cluster.psql_as(
        "postgres",
        "postgres",
        &format!("DROP DATABASE IF EXISTS {copy}; CREATE DATABASE {copy} TEMPLATE {source}"),
    );
    Some(copy.to_string())
}

/// The untouched copy of `dataset(cluster, name)`, to make private copies from; never connect
/// to it.
pub fn pristine(cluster: &Cluster, name: &str) -> Option<String> {
    dataset(cluster, name).map(|n| format!("{n}_pristine"))
}

/// A vocabulary GGUF (`llama-spm` or `deepseek-coder`).
pub fn vocab(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("PGASK_VOCAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| shared("models/vocab"));
    let p = dir.join(format!("ggml-vocab-{name}.gguf"));
    if p.is_file() {
        Some(p)
    } else {
        missing(&p.display().to_string(), "not found");
        None
    }
}

/// A random-weight model with `vocab`'s tokenizer, written once per test binary.
pub fn model(vocab_name: &str, shape: Shape, seed: u64) -> Option<PathBuf> {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    static MADE: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let v = vocab(vocab_name)?;
    let key = format!("{vocab_name}-{}x{}-{seed}", shape.embd, shape.layers);
    let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = made.iter().find(|(k, _)| *k == key) {
        return Some(p.clone());
    }
    let dir = DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("pgask-test-models-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("model dir");
        remove_at_exit(d.clone());
        d
    });
    let out = dir.join(format!("{key}.gguf"));
    tiny::write(&v, shape, seed, &out).expect("write random-weight model");
    made.push((key, out.clone()));
    Some(out)
}

/// A config file in `dir` for tests that run the pgask binary: `top` (top-level keys), the tiny
/// `model` under the strict grammar when given, the embedder with its index cache in `dir`, and
/// no ask history (it would land in the working tree).
pub fn config_file(
    dir: &std::path::Path,
    embedder: &std::path::Path,
    model: Option<&std::path::Path>,
    top: &str,
) -> PathBuf {
    let llm = model
        .map(|m| {
            format!(
                "[llm]\nmodel = \"{}\"\ngrammar = \"strict\"\nmax_tokens = 160\n",
                m.display()
            )
        })
        .unwrap_or_default();
    let path = dir.join("pgask.toml");
    std::fs::write(
        &path,
        format!(
            "{top}\n{llm}[retrieval]\nembedder_dir = \"{}\"\ncache_dir = \"{}\"\n[history]\nfile = \"\"\n",
            embedder.display(),
            dir.join("cache").display()
        ),
    )
    .expect("write the test config");
    path
}
