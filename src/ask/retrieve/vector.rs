//! The vector index over table documents: usearch with cosine distance, saved beside a small
//! manifest and reloaded when the catalog fingerprint and the embedder are unchanged. Vectors of
//! documents whose text did not change are reused when the catalog changes, so a rebuild embeds
//! only what is new.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

/// The index could not be built, saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    #[error("vector index: {0}")]
    Usearch(String),
    #[error("index cache {path}: {reason}")]
    Cache { path: PathBuf, reason: String },
}

fn usearch_err(e: impl std::fmt::Display) -> VectorError {
    VectorError::Usearch(e.to_string())
}

/// An index of one vector per document, keyed by document position.
pub struct VectorIndex {
    index: Index,
    /// Document text hash -> position, to reuse vectors across rebuilds.
    hashes: Vec<u64>,
    dims: usize,
}

impl std::fmt::Debug for VectorIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VectorIndex({} x {})", self.hashes.len(), self.dims)
    }
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    dims: usize,
    hashes: Vec<u64>,
}

fn options(dims: usize) -> IndexOptions {
    IndexOptions {
        dimensions: dims,
        metric: MetricKind::Cos,
        quantization: ScalarKind::F32,
        connectivity: 0,
        expansion_add: 0,
        expansion_search: 0,
        multi: false,
    }
}

/// A stable 64-bit hash of a document text (FNV-1a), for the reuse map.
pub fn text_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl VectorIndex {
    /// Builds the index from vectors in document order; `hashes` identify each document's text
    /// (and embedder) so a later build can reuse its vector.
    pub fn build(
        dims: usize,
        hashes: Vec<u64>,
        vectors: &[Vec<f32>],
    ) -> Result<VectorIndex, VectorError> {
        let index = Index::new(&options(dims)).map_err(usearch_err)?;
        index.reserve(vectors.len().max(1)).map_err(usearch_err)?;
        for (key, v) in vectors.iter().enumerate() {
            index.add(key as u64, v).map_err(usearch_err)?;
        }
        Ok(VectorIndex {
            index,
            hashes,
            dims,
        })
    }

    /// The vector stored for a document.
    pub fn vector(&self, key: usize) -> Option<Vec<f32>> {
        let mut v = vec![0f32; self.dims];
        let n = self.index.get(key as u64, &mut v).ok()?;
        (n > 0).then_some(v)
    }

    /// Every stored vector with its document hash, for a rebuild after a catalog change.
    pub fn entries(&self) -> impl Iterator<Item = (u64, Vec<f32>)> + '_ {
        self.hashes
            .iter()
            .enumerate()
            .filter_map(|(i, h)| self.vector(i).map(|v| (*h, v)))
    }

    /// The `k` nearest documents that pass `allowed`, with cosine similarity, best first.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        allowed: impl Fn(usize) -> bool,
    ) -> Result<Vec<(usize, f32)>, VectorError> {
        if self.hashes.is_empty() {
            return Ok(Vec::new());
        }
        let m = self
            .index
            .filtered_search(query, k, |key| allowed(key as usize))
            .map_err(usearch_err)?;
        Ok(m.keys
            .iter()
            .zip(&m.distances)
            .map(|(k, d)| (*k as usize, 1.0 - d))
            .collect())
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Writes `index.usearch` and `manifest.json` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), VectorError> {
        let cache = |reason: String| VectorError::Cache {
            path: dir.to_path_buf(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| cache(e.to_string()))?;
        let path = dir.join("index.usearch");
        self.index
            .save(&path.to_string_lossy())
            .map_err(usearch_err)?;
        let manifest = serde_json::to_vec(&Manifest {
            dims: self.dims,
            hashes: self.hashes.clone(),
        })
        .map_err(|e| cache(e.to_string()))?;
        std::fs::write(dir.join("manifest.json"), manifest).map_err(|e| cache(e.to_string()))
    }

    /// Reads an index written by [`save`](Self::save).
    pub fn load(dir: &Path) -> Result<VectorIndex, VectorError> {
        let cache = |reason: String| VectorError::Cache {
            path: dir.to_path_buf(),
            reason,
        };
        let text = std::fs::read(dir.join("manifest.json")).map_err(|e| cache(e.to_string()))?;
        let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| cache(e.to_string()))?;
        let index = Index::new(&options(manifest.dims)).map_err(usearch_err)?;
        index
            .load(&dir.join("index.usearch").to_string_lossy())
            .map_err(usearch_err)?;
        if index.size() != manifest.hashes.len() {
            return Err(cache(format!(
                "index holds {} vectors, manifest {}",
                index.size(),
                manifest.hashes.len()
            )));
        }
        Ok(VectorIndex {
            index,
            hashes: manifest.hashes,
            dims: manifest.dims,
        })
    }
}
