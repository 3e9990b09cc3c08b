//! Whether a GBNF grammar accepts a text, decided by llama.cpp's own grammar engine: the text
//! is fed one byte at a time through single-byte tokens of a vocabulary, each checked with the
//! grammar before it is accepted, and the end must allow end-of-generation. Used by the
//! coverage tests and benchmarks; any model file (even vocabulary-only) provides the tokens.

use std::path::Path;

use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use super::engine::{accept, allowed, backend, EngineError};

/// A vocabulary with one token per byte value.
pub struct Matcher {
    model: LlamaModel,
    bytes: Vec<Option<LlamaToken>>,
}

/// Where a text was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// Rejected at this byte offset (the text's length: it ended too early).
    RejectedAt(usize),
}

impl Matcher {
    /// Loads the vocabulary of a GGUF file (weights are not needed).
    pub fn load(path: &Path) -> Result<Matcher, EngineError> {
        let params = LlamaModelParams::default().with_vocab_only(true);
        let model = LlamaModel::load_from_file(backend()?, path, &params).map_err(|e| {
            EngineError::Load {
                path: path.display().to_string(),
                reason: e.to_string(),
            }
        })?;
        let mut bytes = vec![None; 256];
        let vocab = model.vocab();
        for i in 0..model.n_vocab() {
            let t = LlamaToken(i);
            if vocab.is_control(t) {
                continue;
            }
            let piece = vocab.token_to_piece(t, false, None);
            if let [b] = piece.as_slice() {
                bytes[*b as usize].get_or_insert(t);
            }
        }
        Ok(Matcher { model, bytes })
    }

    /// Checks `text` against `grammar` (GBNF with a `root` rule).
    pub fn check(&self, grammar: &str, text: &str) -> Result<Verdict, EngineError> {
        let mut g = LlamaSampler::grammar(&self.model, grammar, "root")
            .map_err(|_| EngineError::Grammar)?;
        for (i, b) in text.bytes().enumerate() {
            let Some(tok) = self.bytes[b as usize] else {
                return Ok(Verdict::RejectedAt(i));
            };
            if !accept(&mut g, tok) {
                return Ok(Verdict::RejectedAt(i));
            }
        }
        let eos = self.model.vocab().eos();
        Ok(if allowed(&mut g, eos) {
            Verdict::Accepted
        } else {
            Verdict::RejectedAt(text.len())
        })
    }
}
