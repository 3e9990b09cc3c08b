//! Catalog and retrieval against a throwaway PostgreSQL: every object kind in the catalog, the
//! fingerprint, the privilege filter, the real MiniLM embedder, index save/load, and join paths
//! on chinook.

use crate::common;

use std::sync::{Arc, OnceLock};

use common::{data, Cluster};
use pgask::ask::catalog::{self, Access, CatalogOptions, TableKind};
use pgask::ask::retrieve::embed::{cosine, Embedder};
use pgask::ask::retrieve::graph::{join_clauses, JoinGraph};
use pgask::ask::retrieve::vector::VectorIndex;
use pgask::ask::retrieve::{embedding_cache, Retriever};

/// The real embedder, loaded once; `None` (test skipped) only outside CI when it is absent.
fn embedder() -> Option<Arc<Embedder>> {
    static E: OnceLock<Option<Arc<Embedder>>> = OnceLock::new();
    E.get_or_init(|| match Embedder::load(&data::embedder_dir()) {
        Ok(e) => Some(Arc::new(e)),
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI must provide the embedder: {e}"
            );
            eprintln!("skipping embedder tests: {e}");
            None
        }
    })
    .clone()
}

const OBJECTS: &str = "
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TABLE parent (a int, b int, name text NOT NULL DEFAULT 'x', PRIMARY KEY (a, b));
COMMENT ON TABLE parent IS 'Parents of things';
COMMENT ON COLUMN parent.name IS 'display name';
CREATE TABLE child (id int PRIMARY KEY, pa int, pb int, feeling mood, tags text[], qty posint, code text UNIQUE,
                    status varchar(20) CHECK (status IN ('open', 'it''s shut')),
                    size text CHECK (size IN ('s', 'm') AND length(size) = 1),
                    FOREIGN KEY (pa, pb) REFERENCES parent (a, b));
ALTER TABLE child ADD CONSTRAINT code_list CHECK (code IN ('a', 'b')) NOT VALID;
CREATE VIEW v_child AS SELECT id, feeling FROM child;
CREATE MATERIALIZED VIEW mv AS SELECT count(*) AS n FROM child;
CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE FOREIGN DATA WRAPPER dummy;
CREATE SERVER srv FOREIGN DATA WRAPPER dummy;
CREATE FOREIGN TABLE remote (x int) SERVER srv;
INSERT INTO parent SELECT g, g FROM generate_series(1, 100) g;
ANALYZE parent;
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_reads_every_object_kind() {
    let cluster = Cluster::shared();
    let db = cluster.create_db("cat");
    cluster.psql_as("postgres", &db, OBJECTS);
    let client = cluster.client("postgres", &db).await;
    let cat = catalog::load(&client, &CatalogOptions::default())
        .await
        .unwrap();
    let kind = |name: &str| {
        cat.tables[cat
            .find("public", name)
            .unwrap_or_else(|| panic!("{name} missing"))]
        .kind
    };
    assert_eq!(kind("parent"), TableKind::Table);
    assert_eq!(kind("v_child"), TableKind::View);
    assert_eq!(kind("mv"), TableKind::MaterializedView);
    assert_eq!(kind("events"), TableKind::Partitioned);
    assert_eq!(kind("remote"), TableKind::Foreign);
    assert!(
        cat.find("public", "events_2024").is_none(),
        "partitions hide behind their parent"
    );
    let parent = &cat.tables[cat.find("public", "parent").unwrap()];
    assert_eq!(parent.primary_key, vec!["a", "b"]);
    assert_eq!(parent.comment.as_deref(), Some("Parents of things"));
    let name = parent.column("name").unwrap();
    assert_eq!(
        (
            name.nullable,
            name.default.as_deref(),
            name.comment.as_deref()
        ),
        (false, Some("'x'::text"), Some("display name"))
    );
    assert!(
        (parent.rows - 100.0).abs() < 1.0,
        "row estimate {}",
        parent.rows
    );
    let child = &cat.tables[cat.find("public", "child").unwrap()];
    assert_eq!(
        child.column("feeling").unwrap().enum_labels,
        vec!["sad", "ok", "happy"]
    );
    // A one-column CHECK list reads like an enum's labels; any other CHECK does not.
    assert_eq!(
        child.column("status").unwrap().enum_labels,
        vec!["open", "it's shut"]
    );
    assert!(child.column("size").unwrap().enum_labels.is_empty());
    // Not while the constraint is NOT VALID (older rows may hold anything).
    assert!(child.column("code").unwrap().enum_labels.is_empty());
    assert_eq!(child.column("qty").unwrap().data_type, "posint");
    assert_eq!(child.column("tags").unwrap().data_type, "text[]");
    assert_eq!(child.unique, vec![vec!["code".to_string()]]);
    let fk = &child.foreign_keys[0];
    assert_eq!(
        (
            fk.columns.clone(),
            cat.tables[fk.target].name.as_str(),
            fk.target_columns.clone()
        ),
        (
            vec!["pa".into(), "pb".into()],
            "parent",
            vec!["a".into(), "b".into()]
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fingerprint_changes_on_ddl_only() {
    let cluster = Cluster::shared();
    let db = cluster.create_db("fp");
    cluster.psql_as("postgres", &db, OBJECTS);
    let client = cluster.client("postgres", &db).await;
    let f0 = catalog::fingerprint(&client).await.unwrap();
    client
        .batch_execute(
            "INSERT INTO parent VALUES (1000, 1000); ANALYZE parent; REFRESH MATERIALIZED VIEW mv",
        )
        .await
        .unwrap();
    assert_eq!(
        catalog::fingerprint(&client).await.unwrap(),
        f0,
        "data and statistics are not DDL"
    );
    client
        .batch_execute("ALTER TABLE child ADD COLUMN note text")
        .await
        .unwrap();
    let f1 = catalog::fingerprint(&client).await.unwrap();
    assert_ne!(f1, f0);
    client
        .batch_execute("COMMENT ON COLUMN child.note IS 'free text'")
        .await
        .unwrap();
    let f2 = catalog::fingerprint(&client).await.unwrap();
    assert_ne!(f2, f1);
    client
        .batch_execute("ALTER TYPE mood ADD VALUE 'angry'")
        .await
        .unwrap();
    let f3 = catalog::fingerprint(&client).await.unwrap();
    assert_ne!(f3, f2);
    // An extension brings operators the scope check allows only with it (pg_trgm's `%`);
    // another (functions only) changes nothing: the retrieval index is keyed by it.
    client
        .batch_execute("CREATE EXTENSION pgcrypto")
        .await
        .unwrap();
    assert_eq!(catalog::fingerprint(&client).await.unwrap(), f3);
    let before = catalog::load(&client, &CatalogOptions::default())
        .await
        .unwrap();
    assert!(!before.has_extension("pg_trgm"), "{:?}", before.extensions);
    client
        .batch_execute("CREATE EXTENSION pg_trgm")
        .await
        .unwrap();
    assert_ne!(catalog::fingerprint(&client).await.unwrap(), f3);
    let after = catalog::load(&client, &CatalogOptions::default())
        .await
        .unwrap();
    assert!(after.has_extension("pg_trgm"), "{:?}", after.extensions);
    assert_eq!(
        after.fingerprint,
        catalog::fingerprint(&client).await.unwrap()
    );
}

/// Loads chinook once per test binary and returns its catalog.
async fn chinook(cluster: &Cluster) -> Option<catalog::Catalog> {
    let db = data::dataset(cluster, "chinook")?;
    Some(
        catalog::load(
            &cluster.client("postgres", &db).await,
            &CatalogOptions::default(),
        )
        .await
        .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chinook_join_path_customer_to_track() {
    let cluster = Cluster::shared();
    let Some(cat) = chinook(cluster).await else {
        return;
    };
    let graph = JoinGraph::new(&cat);
    let all = Access::all(&cat);
    let id = |n: &str| cat.find_name(n).unwrap_or_else(|| panic!("{n}"));
    let path = graph
        .path(id("customer"), id("track"), &all)
        .expect("a path");
    let names: Vec<&str> = std::iter::once("customer")
        .chain(path.iter().map(|s| cat.tables[s.edge.to].name.as_str()))
        .collect();
    assert_eq!(names, vec!["customer", "invoice", "invoice_line", "track"]);
    assert!(path.iter().all(|s| !s.edge.inferred));
    let clauses = join_clauses(&cat, &path);
    assert_eq!(
        clauses[0],
        "JOIN public.invoice ON public.invoice.customer_id = public.customer.customer_id"
    );
    // Connecting artist and customer needs the bridge tables in between.
    let steps = graph.connect(&[id("artist"), id("customer")], &all);
    let bridged: Vec<&str> = steps
        .iter()
        .map(|s| cat.tables[s.edge.to].name.as_str())
        .collect();
    assert_eq!(
        bridged,
        vec!["album", "track", "invoice_line", "invoice", "customer"]
    );
}

#[test]
fn embedder_ranks_paraphrases_above_unrelated_text() {
    let Some(e) = embedder() else { return };
    let v = e
        .embed(&[
            "How many customers live in Berlin?".into(),
            "Count the clients residing in Berlin".into(),
            "The weather is sunny and warm today".into(),
        ])
        .unwrap();
    assert_eq!(v[0].len(), 384);
    let norm: f32 = v[0].iter().map(|x| x * x).sum();
    assert!((norm - 1.0).abs() < 1e-4, "unit length");
    let (para, unrelated) = (cosine(&v[0], &v[1]), cosine(&v[0], &v[2]));
    assert!(
        para > unrelated + 0.2,
        "paraphrase {para} vs unrelated {unrelated}"
    );
    // A missing model is a clear error naming the directory.
    let err = Embedder::load(std::path::Path::new("/nonexistent/model"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/nonexistent/model") && err.contains("config.json"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_save_load_gives_identical_results_and_retrieval_finds_tables() {
    let Some(e) = embedder() else { return };
    let cluster = Cluster::shared();
    let Some(cat) = chinook(cluster).await else {
        return;
    };
    let docs: Vec<String> = cat
        .tables
        .iter()
        .map(|t| pgask::ask::retrieve::docs::table_doc(&cat, t))
        .collect();
    let vecs = e.embed_passages(&docs).unwrap();
    let hashes = docs
        .iter()
        .map(|d| pgask::ask::retrieve::vector::text_hash(d))
        .collect();
    let index = VectorIndex::build(e.dims(), hashes, &vecs).unwrap();
    let dir = tempfile::tempdir().unwrap();
    index.save(dir.path()).unwrap();
    let loaded = VectorIndex::load(dir.path()).unwrap();
    let q = e.embed_query("songs by genre").unwrap();
    assert_eq!(
        index.search(&q, 5, |_| true).unwrap(),
        loaded.search(&q, 5, |_| true).unwrap()
    );

    // The retriever saves its index under the cache dir and loads it the second time.
    let cache = embedding_cache(10_000);
    let r1 = Retriever::build(cat.clone(), e.clone(), cache, Some(dir.path())).unwrap();
    let all = Access::all(&cat);
    let top = r1
        .search("Which employee supports the most customers?", &all, 3)
        .unwrap();
    let names: Vec<&str> = top
        .iter()
        .map(|r| cat.tables[r.table].name.as_str())
        .collect();
    assert!(
        names.contains(&"employee") && names.contains(&"customer"),
        "{names:?}"
    );
    assert!(!top[0].reason.is_empty());
    let r2 = Retriever::build(
        cat.clone(),
        e.clone(),
        embedding_cache(10),
        Some(dir.path()),
    )
    .unwrap();
    let again = r2
        .search("Which employee supports the most customers?", &all, 3)
        .unwrap();
    assert_eq!(top, again);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_never_sees_tables_it_cannot_select() {
    let Some(e) = embedder() else { return };
    let cluster = Cluster::shared();
    let Some(cat) = chinook(cluster).await else {
        return;
    };
    cluster.psql_as(
        "postgres",
        "chinook",
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'clerk') THEN CREATE ROLE clerk; END IF; END $$;
         REVOKE ALL ON ALL TABLES IN SCHEMA public FROM clerk;
         GRANT SELECT ON customer, track, album, artist TO clerk;
         GRANT SELECT (invoice_id, customer_id) ON invoice TO clerk;",
    );
    let client = cluster.client("postgres", "chinook").await;
    let access = catalog::readable(&client, &cat, "clerk").await.unwrap();
    let id = |n: &str| cat.find_name(n).unwrap();
    assert!(
        access.can_read(id("customer"))
            && !access.can_read(id("invoice_line"))
            && !access.can_read(id("employee"))
    );
    assert_eq!(
        access.columns.get(&id("invoice")),
        Some(&vec!["invoice_id".to_string(), "customer_id".to_string()])
    );
    let r = Retriever::build(cat.clone(), e, embedding_cache(1000), None).unwrap();
    for q in [
        "invoice lines with unit price and quantity",
        "employees and their managers",
        "list all customers",
    ] {
        for hit in r.search(q, &access, 10).unwrap() {
            assert!(
                access.can_read(hit.table),
                "{q}: got {}",
                cat.tables[hit.table].name
            );
        }
    }
    // customer -> track needs invoice_line, which clerk cannot read: no path.
    assert!(r.graph.path(id("customer"), id("track"), &access).is_none());
    assert!(r.graph.path(id("album"), id("artist"), &access).is_some());
}

/// Writes a tiny random-weight BERT cross-encoder (MiniLM's tokenizer) into `dir`.
fn tiny_cross_encoder(dir: &std::path::Path) {
    use candle_core::{DType, Device};
    use candle_nn::{VarBuilder, VarMap};
    let config = serde_json::json!({
        "vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": 64, "hidden_act": "gelu", "hidden_dropout_prob": 0.0, "max_position_embeddings": 512,
        "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0,
        "position_embedding_type": "absolute", "use_cache": false, "model_type": "bert"
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    std::fs::copy(
        data::embedder_dir().join("tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .unwrap();
    let cfg: candle_transformers::models::bert::Config = serde_json::from_value(config).unwrap();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    candle_transformers::models::bert::BertModel::load(vb.pp("bert"), &cfg).unwrap();
    candle_nn::linear(32, 32, vb.pp("bert.pooler.dense")).unwrap();
    candle_nn::linear(32, 1, vb.pp("classifier")).unwrap();
    varmap.save(dir.join("model.safetensors")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_cross_encoder_reorders_the_candidates() {
    use pgask::ask::retrieve::cross::CrossEncoder;
    let Some(e) = embedder() else { return };
    let dir = tempfile::tempdir().unwrap();
    tiny_cross_encoder(dir.path());
    let cross = Arc::new(CrossEncoder::load(dir.path()).unwrap());
    let docs = vec![
        "invoice total billing country".to_string(),
        "track name composer milliseconds".to_string(),
    ];
    let s1 = cross.score("total sales per country", &docs).unwrap();
    assert_eq!(
        s1,
        cross.score("total sales per country", &docs).unwrap(),
        "deterministic"
    );
    assert!(s1.iter().all(|x| x.is_finite()) && s1[0] != s1[1]);

    let cluster = Cluster::shared();
    let Some(cat) = chinook(cluster).await else {
        return;
    };
    let all = Access::all(&cat);
    let r = Retriever::build(cat.clone(), e, embedding_cache(1000), None)
        .unwrap()
        .with_cross_encoder(cross.clone());
    let top = r
        .search("total sales per billing country", &all, 15)
        .unwrap();
    let crossed: Vec<f32> = top.iter().map(|t| t.score).collect();
    assert!(
        crossed.windows(2).all(|w| w[0] >= w[1]),
        "ordered by the cross-encoder: {crossed:?}"
    );
    assert!(top.iter().all(|t| t.reason.starts_with("cross-encoder")));
    // The scores are the model's: recompute one.
    let doc = pgask::ask::retrieve::docs::table_doc(&cat, &cat.tables[top[0].table]);
    let logit = cross
        .score("total sales per billing country", &[doc])
        .unwrap()[0];
    assert!((1.0 / (1.0 + (-logit).exp()) - top[0].score).abs() < 1e-5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_catalog_embeds_only_what_changed_and_refresh_follows_ddl() {
    let Some(e) = embedder() else { return };
    let cluster = Cluster::shared();
    let db = cluster.create_db("refresh");
    cluster.psql_as("postgres", &db, OBJECTS);
    let client = cluster.client("postgres", &db).await;
    let options = CatalogOptions::default();
    let cat = catalog::load(&client, &options).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = Retriever::build(
        cat.clone(),
        e.clone(),
        embedding_cache(1000),
        Some(dir.path()),
    )
    .unwrap();
    assert_eq!(first.embedded_on_build(), cat.tables.len());
    // Same fingerprint: the saved index is loaded, nothing is embedded (fresh in-memory cache).
    let again = Retriever::build(
        cat.clone(),
        e.clone(),
        embedding_cache(1000),
        Some(dir.path()),
    )
    .unwrap();
    assert_eq!(again.embedded_on_build(), 0);
    // No DDL: refresh costs one fingerprint query and rebuilds nothing.
    assert!(
        pgask::ask::retrieve::refresh(&again, &client, &options, Some(dir.path()))
            .await
            .unwrap()
            .is_none()
    );
    // DDL on one table: refresh rebuilds, embedding only that table's document even with a
    // cold in-memory cache, because the previous index on disk seeds it.
    client
        .batch_execute("COMMENT ON TABLE child IS 'Children of parents'")
        .await
        .unwrap();
    let fresh = Retriever::build(
        cat.clone(),
        e.clone(),
        embedding_cache(1000),
        Some(dir.path()),
    )
    .unwrap();
    let next = pgask::ask::retrieve::refresh(&fresh, &client, &options, Some(dir.path()))
        .await
        .unwrap()
        .expect("catalog changed");
    assert_ne!(next.catalog.fingerprint, cat.fingerprint);
    assert_eq!(
        next.embedded_on_build(),
        1,
        "only child's document changed; the rest came from the previous index on disk"
    );
}
