//! BM25 over word stems, for tables (name, comment, column words) and for columns.

use std::collections::HashMap;

use super::words::words;

const K1: f32 = 1.2;
const B: f32 = 0.75;

/// A BM25 index over a fixed set of documents.
#[derive(Debug, Clone, Default)]
pub struct Bm25 {
    /// Per term: (document, term frequency).
    postings: HashMap<String, Vec<(u32, u32)>>,
    lengths: Vec<u32>,
    avg_len: f32,
}

impl Bm25 {
    /// Indexes the documents; a document's position is its id.
    pub fn new<'a>(docs: impl IntoIterator<Item = &'a str>) -> Bm25 {
        let mut postings: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        let mut lengths = Vec::new();
        for (id, doc) in docs.into_iter().enumerate() {
            let ws = words(doc);
            lengths.push(ws.len() as u32);
            let mut tf: HashMap<String, u32> = HashMap::new();
            for w in ws {
                *tf.entry(w).or_default() += 1;
            }
            for (w, n) in tf {
                postings.entry(w).or_default().push((id as u32, n));
            }
        }
        let avg_len = if lengths.is_empty() {
            1.0
        } else {
            lengths.iter().sum::<u32>() as f32 / lengths.len() as f32
        };
        Bm25 {
            postings,
            lengths,
            avg_len: avg_len.max(1.0),
        }
    }

    /// Scores of documents containing at least one query word, best first.
    pub fn search(&self, query: &str, allowed: impl Fn(usize) -> bool) -> Vec<(usize, f32)> {
        let n = self.lengths.len() as f32;
        let mut scores: HashMap<usize, f32> = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for w in words(query) {
            if !seen.insert(w.clone()) {
                continue;
            }
            let Some(list) = self.postings.get(&w) else {
                continue;
            };
            let idf = ((n - list.len() as f32 + 0.5) / (list.len() as f32 + 0.5) + 1.0).ln();
            for &(doc, tf) in list {
                let doc = doc as usize;
                if !allowed(doc) {
                    continue;
                }
                let tf = tf as f32;
                let norm = tf * (K1 + 1.0)
                    / (tf + K1 * (1.0 - B + B * self.lengths[doc] as f32 / self.avg_len));
                *scores.entry(doc).or_default() += idf * norm;
            }
        }
        let mut out: Vec<(usize, f32)> = scores.into_iter().collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_matching_documents_first() {
        let idx = Bm25::new([
            "customer first name last name email",
            "invoice total billing country",
            "track name composer",
        ]);
        let hits = idx.search("total invoices by country", |_| true);
        assert_eq!(hits[0].0, 1);
        assert!(
            idx.search("invoice", |d| d != 1).is_empty(),
            "filter applies"
        );
    }
}
