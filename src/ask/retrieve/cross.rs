//! Cross-encoder reranking: a BERT sequence-classification model (for example
//! cross-encoder/ms-marco-MiniLM-L-6-v2) reads the question and a table document together and
//! scores their relevance; sharper than comparing two separate embeddings, and slower, so it
//! only reorders the few best candidates of the hybrid ranking.

use std::path::Path;

use candle_core::{Device, Tensor, D};
use candle_nn::{Linear, Module};
use candle_transformers::models::bert::BertModel;
use tokenizers::{EncodeInput, Tokenizer};

use super::embed::{BertFiles, EmbedError};

/// A loaded cross-encoder.
pub struct CrossEncoder {
    bert: BertModel,
    pooler: Linear,
    classifier: Linear,
    tokenizer: Tokenizer,
    device: Device,
}

impl std::fmt::Debug for CrossEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CrossEncoder")
    }
}

impl CrossEncoder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` (BertForSequenceClassification
    /// layout: `bert.*`, `bert.pooler.dense`, `classifier` with one output) from `dir`.
    pub fn load(dir: &Path) -> Result<CrossEncoder, EmbedError> {
        let BertFiles {
            config,
            vb,
            tokenizer,
        } = BertFiles::open(dir)?;
        let device = Device::Cpu;
        let bert = BertModel::load(vb.pp("bert"), &config)?;
        let h = config.hidden_size;
        let pooler = candle_nn::linear(h, h, vb.pp("bert.pooler.dense"))?;
        let classifier = candle_nn::linear(h, 1, vb.pp("classifier"))?;
        Ok(CrossEncoder {
            bert,
            pooler,
            classifier,
            tokenizer,
            device,
        })
    }

    /// Relevance logits of each document for the question (higher is more relevant).
    pub fn score(&self, question: &str, docs: &[String]) -> Result<Vec<f32>, EmbedError> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let pairs: Vec<EncodeInput> = docs
            .iter()
            .map(|d| EncodeInput::Dual(question.into(), d.as_str().into()))
            .collect();
        let enc = self
            .tokenizer
            .encode_batch(pairs, true)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        let stack = |f: &dyn Fn(&tokenizers::Encoding) -> &[u32]| -> Result<Tensor, EmbedError> {
            let rows: Vec<Tensor> = enc
                .iter()
                .map(|e| Tensor::new(f(e), &self.device))
                .collect::<Result<_, _>>()?;
            Ok(Tensor::stack(&rows, 0)?)
        };
        let ids = stack(&|e| e.get_ids())?;
        let types = stack(&|e| e.get_type_ids())?;
        let mask = stack(&|e| e.get_attention_mask())?;
        let hidden = self.bert.forward(&ids, &types, Some(&mask))?;
        let cls = hidden.narrow(1, 0, 1)?.squeeze(1)?;
        let pooled = self.pooler.forward(&cls)?.tanh()?;
        let logits = self.classifier.forward(&pooled)?.squeeze(D::Minus1)?;
        Ok(logits.to_vec1::<f32>()?)
    }
}
