//! Table retrieval: which tables (and columns) a question needs. Dense search over table
//! documents (candle embedder + usearch index), BM25 over identifier words, reciprocal rank
//! fusion, a hybrid reranker, and foreign-key join paths; everything filtered by what the
//! asking role may read.

pub mod cross;
pub mod docs;
pub mod embed;
pub mod graph;
pub mod lexical;
pub mod rank;
pub mod vector;
pub mod words;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::ask::catalog::{Access, Catalog, TableId};
use embed::{EmbedError, Embedder};
use graph::JoinGraph;
use lexical::Bm25;
pub use rank::Ranked;
use vector::{text_hash, VectorError, VectorIndex};

/// Retrieval failed.
#[derive(Debug, thiserror::Error)]
pub enum RetrieveError {
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Vector(#[from] VectorError),
}

/// Candidates each retriever contributes to fusion.
const CANDIDATES: usize = 40;

/// Tables with scores, best first.
type Scored = Vec<(TableId, f32)>;

/// Which ranking to produce (all but `Reranked` exist to measure the parts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Dense,
    Lexical,
    Fused,
    Reranked,
}

/// Embeddings by text hash, shared by every index of the process (and so across rebuilds).
pub type EmbeddingCache = moka::sync::Cache<u64, Arc<Vec<f32>>>;

/// A new embedding cache holding up to `entries` vectors.
pub fn embedding_cache(entries: u64) -> EmbeddingCache {
    moka::sync::Cache::new(entries)
}

/// The retrieval state of one catalog.
pub struct Retriever {
    pub catalog: Arc<Catalog>,
    pub graph: JoinGraph,
    embedder: Arc<Embedder>,
    cache: EmbeddingCache,
    vectors: VectorIndex,
    tables_lex: Bm25,
    columns_lex: Bm25,
    /// Owner table of each column document.
    column_owner: Vec<TableId>,
    /// Table documents, for the cross-encoder.
    docs: Vec<String>,
    cross: Option<Arc<cross::CrossEncoder>>,
    /// Documents this build had to embed (0 when the index came from disk).
    embedded: usize,
}

/// Candidates of the hybrid ranking that a cross-encoder rescores.
const CROSS_CANDIDATES: usize = 15;

impl std::fmt::Debug for Retriever {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Retriever({} tables, {:?})",
            self.catalog.tables.len(),
            self.vectors
        )
    }
}

/// Where an index of this catalog and embedder lives under the cache directory.
pub fn index_dir(cache_dir: &Path, catalog: &Catalog, embedder: &Embedder) -> PathBuf {
    cache_dir
        .join(&catalog.database)
        .join(embedder.id())
        .join(&catalog.fingerprint)
}

impl Retriever {
    /// Builds retrieval for `catalog`. With a cache dir, an index saved for the same database,
    /// fingerprint and embedder is loaded instead of embedding again, and a new one is saved.
    /// Unchanged documents reuse vectors from the embedding cache.
    pub fn build(
        catalog: Catalog,
        embedder: Arc<Embedder>,
        cache: EmbeddingCache,
        cache_dir: Option<&Path>,
    ) -> Result<Retriever, RetrieveError> {
        let docs: Vec<String> = catalog
            .tables
            .iter()
            .map(|t| docs::table_doc(&catalog, t))
            .collect();
        let dir = cache_dir.map(|c| index_dir(c, &catalog, &embedder));
        let loaded = dir
            .as_deref()
            .filter(|d| d.join("manifest.json").is_file())
            .and_then(|d| VectorIndex::load(d).ok());
        let mut embedded = 0;
        let vectors = match loaded {
            Some(v) if v.len() == docs.len() => v,
            _ => {
                if let Some(d) = &dir {
                    seed_from_siblings(d, &cache);
                }
                let keys: Vec<u64> = docs.iter().map(|d| doc_key(&embedder, d)).collect();
                let (vecs, n) = embed_with_cache(&embedder, &cache, &docs, &keys)?;
                embedded = n;
                let index = VectorIndex::build(embedder.dims(), keys, &vecs)?;
                if let Some(d) = &dir {
                    index.save(d)?;
                }
                index
            }
        };
        let mut column_docs = Vec::new();
        let mut column_owner = Vec::new();
        for (t, table) in catalog.tables.iter().enumerate() {
            for c in &table.columns {
                column_docs.push(docs::column_doc(table, c));
                column_owner.push(t);
            }
        }
        let tables_lex = Bm25::new(docs.iter().map(String::as_str));
        let columns_lex = Bm25::new(column_docs.iter().map(String::as_str));
        let graph = JoinGraph::new(&catalog);
        Ok(Retriever {
            catalog: Arc::new(catalog),
            graph,
            embedder,
            cache,
            vectors,
            tables_lex,
            columns_lex,
            column_owner,
            docs,
            cross: None,
            embedded,
        })
    }

    /// Reorders the best candidates with a cross-encoder from now on.
    pub fn with_cross_encoder(mut self, cross: Arc<cross::CrossEncoder>) -> Retriever {
        self.cross = Some(cross);
        self
    }

    /// The best `k` tables for a question among those `access` allows.
    pub fn search(
        &self,
        question: &str,
        access: &Access,
        k: usize,
    ) -> Result<Vec<Ranked>, RetrieveError> {
        let (dense, lexical) = self.parts(question, access)?;
        let fused = rank::fuse(&[&dense, &lexical]);
        let ev = rank::Evidence {
            catalog: &self.catalog,
            graph: &self.graph,
            question,
            dense: &dense.iter().copied().collect(),
            lexical: &lexical.iter().copied().collect(),
        };
        let mut ranked = rank::rerank(&ev, &fused[..fused.len().min(CANDIDATES)]);
        if let Some(cross) = &self.cross {
            let n = ranked.len().min(CROSS_CANDIDATES);
            let docs: Vec<String> = ranked[..n]
                .iter()
                .map(|r| self.docs[r.table].clone())
                .collect();
            for (r, s) in ranked[..n].iter_mut().zip(cross.score(question, &docs)?) {
                r.score = 1.0 / (1.0 + (-s).exp());
                r.reason = format!("cross-encoder {:.2}; {}", r.score, r.reason);
            }
            ranked[..n].sort_by(|a, b| b.score.total_cmp(&a.score).then(a.table.cmp(&b.table)));
        }
        ranked.truncate(k);
        Ok(ranked)
    }

    /// One ranking of table ids, for measuring each part.
    pub fn rank(
        &self,
        question: &str,
        access: &Access,
        mode: Mode,
    ) -> Result<Vec<TableId>, RetrieveError> {
        let ids = |v: Vec<(TableId, f32)>| v.into_iter().map(|(t, _)| t).collect();
        Ok(match mode {
            Mode::Dense => ids(self.parts(question, access)?.0),
            Mode::Lexical => ids(self.parts(question, access)?.1),
            Mode::Fused => {
                let (d, l) = self.parts(question, access)?;
                ids(rank::fuse(&[&d, &l]))
            }
            Mode::Reranked => self
                .search(question, access, CANDIDATES)?
                .into_iter()
                .map(|r| r.table)
                .collect(),
        })
    }

    /// Dense and lexical rankings (each best first, at most [`CANDIDATES`]).
    fn parts(&self, question: &str, access: &Access) -> Result<(Scored, Scored), RetrieveError> {
        let q = self.query_vector(question)?;
        let dense = self
            .vectors
            .search(&q, CANDIDATES, |t| access.can_read(t))?;
        // Table documents and column documents both vote for their table.
        let mut lex: HashMap<TableId, f32> = HashMap::new();
        for (t, s) in self.tables_lex.search(question, |t| access.can_read(t)) {
            *lex.entry(t).or_default() += s;
        }
        let readable_column = |c: usize| access.can_read(self.column_owner[c]);
        for (c, s) in self
            .columns_lex
            .search(question, readable_column)
            .into_iter()
            .take(4 * CANDIDATES)
        {
            let t = self.column_owner[c];
            let e = lex.entry(t).or_default();
            *e = e.max(s * 0.5 + *e);
        }
        let mut lexical = rank::sorted(lex.into_iter().collect());
        lexical.truncate(CANDIDATES);
        Ok((dense, lexical))
    }

    fn query_vector(&self, question: &str) -> Result<Arc<Vec<f32>>, RetrieveError> {
        let key = text_hash(&format!("query:{question}"));
        if let Some(v) = self.cache.get(&key) {
            return Ok(v);
        }
        let v = Arc::new(self.embedder.embed_query(question)?);
        self.cache.insert(key, v.clone());
        Ok(v)
    }

    /// The `n` of `questions` closest in meaning to `question`, best first (for choosing
    /// few-shot examples); vectors come from the embedding cache when it has them.
    pub fn similar_questions(
        &self,
        question: &str,
        questions: &[String],
        n: usize,
    ) -> Result<Vec<usize>, RetrieveError> {
        let q = self.query_vector(question)?;
        let mut scored = Vec::with_capacity(questions.len());
        for (i, other) in questions.iter().enumerate() {
            scored.push((embed::cosine(&q, &self.query_vector(other)?), i));
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        Ok(scored.into_iter().take(n).map(|(_, i)| i).collect())
    }

    /// The cosine similarity of a question to each text (for matching metrics by meaning).
    pub fn similarities(
        &self,
        question: &str,
        texts: &[String],
    ) -> Result<Vec<f32>, RetrieveError> {
        let q = self.query_vector(question)?;
        texts
            .iter()
            .map(|t| Ok(embed::cosine(&q, &self.query_vector(t)?)))
            .collect()
    }

    /// Documents embedded by the build (the rest came from disk or the embedding cache).
    pub fn embedded_on_build(&self) -> usize {
        self.embedded
    }

    /// Number of table documents indexed.
    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }
}

/// The cache key of a document embedded by `embedder`.
fn doc_key(embedder: &Embedder, doc: &str) -> u64 {
    text_hash(&format!("{}:{doc}", embedder.id()))
}

/// Puts the vectors of indexes saved for earlier fingerprints of the same database and embedder
/// into the cache, so a changed catalog only embeds the documents that changed.
fn seed_from_siblings(dir: &Path, cache: &EmbeddingCache) {
    let Some(parent) = dir.parent() else { return };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path == dir {
            continue;
        }
        if let Ok(old) = VectorIndex::load(&path) {
            for (h, v) in old.entries() {
                cache.insert(h, Arc::new(v));
            }
        }
    }
}

/// Embeds documents, taking what the cache already has; returns the vectors and how many
/// documents had to be embedded.
fn embed_with_cache(
    embedder: &Embedder,
    cache: &EmbeddingCache,
    docs: &[String],
    keys: &[u64],
) -> Result<(Vec<Vec<f32>>, usize), EmbedError> {
    let mut out: Vec<Option<Vec<f32>>> = keys
        .iter()
        .map(|k| cache.get(k).map(|v| v.as_ref().clone()))
        .collect();
    let missing: Vec<usize> = (0..docs.len()).filter(|&i| out[i].is_none()).collect();
    let texts: Vec<String> = missing.iter().map(|&i| docs[i].clone()).collect();
    // A progress bar on stderr when it is a terminal (indicatif draws nothing otherwise) and
    // the index is big enough to take a while.
    let bar = (texts.len() >= 64).then(|| {
        let bar = indicatif::ProgressBar::new(texts.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "pgask: indexing tables {bar:30} {pos}/{len} {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut vectors = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(64) {
        vectors.extend(embedder.embed_passages(chunk)?);
        if let Some(bar) = &bar {
            bar.inc(chunk.len() as u64);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    for (&i, v) in missing.iter().zip(vectors) {
        cache.insert(keys[i], Arc::new(v.clone()));
        out[i] = Some(v);
    }
    Ok((
        out.into_iter().map(Option::unwrap_or_default).collect(),
        missing.len(),
    ))
}

/// Rebuilds retrieval when the catalog changed: one fingerprint query when it did not. Call it
/// after DDL passed through (see [`crate::ask::catalog::is_ddl_tag`]) and now and then.
pub async fn refresh(
    current: &Retriever,
    client: &tokio_postgres::Client,
    options: &crate::ask::catalog::CatalogOptions,
    cache_dir: Option<&Path>,
) -> Result<Option<Retriever>, RefreshError> {
    if crate::ask::catalog::fingerprint(client).await? == current.catalog.fingerprint {
        return Ok(None);
    }
    let catalog = crate::ask::catalog::load(client, options).await?;
    Ok(Some(Retriever::build(
        catalog,
        current.embedder.clone(),
        current.cache.clone(),
        cache_dir,
    )?))
}

/// Refreshing failed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error(transparent)]
    Catalog(#[from] crate::ask::catalog::CatalogError),
    #[error(transparent)]
    Retrieve(#[from] RetrieveError),
}
