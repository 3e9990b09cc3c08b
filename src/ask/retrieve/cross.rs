//! Cross-encoder reranking: a BERT sequence-classification model (for example
//! cross-encoder/ms-marco-MiniLM-L-6-v2) reads the question and a table document together and
//! scores their relevance; sharper than comparing two separate embeddings, and slower, so it
//! only reorders the few best candidates of the hybrid ranking.

use std::path::Path;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{Linear, Module, VarBuilder};
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{EncodeInput, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::embed::{EmbedError, MAX_TOKENS};

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
        for file in ["config.json", "tokenizer.json", "model.safetensors"] {
            if !dir.join(file).is_file() {
                return Err(EmbedError::Missing {
                    dir: dir.to_path_buf(),
                    file,
                });
            }
        }
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| EmbedError::Config {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let config: Config = serde_json::from_str(&text).map_err(|e| EmbedError::Config {
            path,
            reason: e.to_string(),
        })?;
        let device = Device::Cpu;
        // SAFETY: the weights file is mapped read-only and not modified while pgask runs.
        let vb = unsafe {
            VarBuilder::from_mmaped_safetensors(
                &[dir.join("model.safetensors")],
                DType::F32,
                &device,
            )?
        };
        let bert = BertModel::load(vb.pp("bert"), &config)?;
        let h = config.hidden_size;
        let pooler = candle_nn::linear(h, h, vb.pp("bert.pooler.dense"))?;
        let classifier = candle_nn::linear(h, 1, vb.pp("classifier"))?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
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
