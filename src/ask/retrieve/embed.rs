//! Sentence embeddings with a BERT-family model through candle: masked mean pooling and L2
//! normalisation, batched, at most 256 tokens. The model is a directory holding `config.json`,
//! `tokenizer.json` and `model.safetensors` (all-MiniLM-L6-v2 by default; any BERT sentence
//! model, such as multilingual-e5-small with its `query: `/`passage: ` prefixes, fits).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// Longest input in tokens (the length all-MiniLM-L6-v2 was trained with).
pub const MAX_TOKENS: usize = 256;
/// Texts embedded in one forward pass.
const BATCH: usize = 32;

/// The embedder could not load or run.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("embedding model directory {dir} is missing {file}; put a sentence-transformers BERT model there (config.json, tokenizer.json, model.safetensors) or set retrieval.embedder_dir")]
    Missing { dir: PathBuf, file: &'static str },
    #[error("cannot read {path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("model: {0}")]
    Model(#[from] candle_core::Error),
}

/// A loaded sentence-embedding model.
pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dims: usize,
    /// Identifies the model in cache keys: directory name and hidden size.
    id: String,
    query_prefix: String,
    passage_prefix: String,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Embedder({})", self.id)
    }
}

/// The three files of a BERT-family model directory, opened for the CPU: config, weights
/// (memory-mapped) and the tokenizer padded per batch and cut at [`MAX_TOKENS`].
pub(super) struct BertFiles {
    pub config: Config,
    pub vb: VarBuilder<'static>,
    pub tokenizer: Tokenizer,
}

impl BertFiles {
    pub(super) fn open(dir: &Path) -> Result<BertFiles, EmbedError> {
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
        // SAFETY: the weights file is mapped read-only and not modified while pgask runs.
        let vb = unsafe {
            VarBuilder::from_mmaped_safetensors(
                &[dir.join("model.safetensors")],
                DType::F32,
                &Device::Cpu,
            )?
        };
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        // The file may pin padding/truncation (MiniLM's says 128); pad per batch, cut at 256.
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
        Ok(BertFiles {
            config,
            vb,
            tokenizer,
        })
    }
}

impl Embedder {
    /// Loads the model in `dir` on the CPU.
    pub fn load(dir: &Path) -> Result<Embedder, EmbedError> {
        let BertFiles {
            config,
            vb,
            tokenizer,
        } = BertFiles::open(dir)?;
        let device = Device::Cpu;
        let model = BertModel::load(vb, &config)?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let e5 = name.contains("e5");
        Ok(Embedder {
            model,
            tokenizer,
            device,
            dims: config.hidden_size,
            id: format!("{name}-{}", config.hidden_size),
            query_prefix: if e5 { "query: ".into() } else { String::new() },
            passage_prefix: if e5 {
                "passage: ".into()
            } else {
                String::new()
            },
        })
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Embeds a question.
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut v = self.embed(&[format!("{}{text}", self.query_prefix)])?;
        Ok(v.pop().unwrap_or_default())
    }

    /// Embeds documents (table and column descriptions).
    pub fn embed_passages(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if self.passage_prefix.is_empty() {
            return self.embed(texts);
        }
        let prefixed: Vec<String> = texts
            .iter()
            .map(|t| format!("{}{t}", self.passage_prefix))
            .collect();
        self.embed(&prefixed)
    }

    /// Unit-length embeddings of `texts`, in order.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            out.extend(self.embed_batch(chunk)?);
        }
        Ok(out)
    }

    fn embed_batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encodings = self
            .tokenizer
            .encode_batch(inputs, true)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        let to_tensor =
            |f: &dyn Fn(&tokenizers::Encoding) -> Vec<u32>| -> Result<Tensor, EmbedError> {
                let rows: Vec<Tensor> = encodings
                    .iter()
                    .map(|e| Tensor::new(f(e).as_slice(), &self.device))
                    .collect::<Result<_, _>>()?;
                Ok(Tensor::stack(&rows, 0)?)
            };
        let ids = to_tensor(&|e| e.get_ids().to_vec())?;
        let type_ids = to_tensor(&|e| e.get_type_ids().to_vec())?;
        let mask = to_tensor(&|e| e.get_attention_mask().to_vec())?;
        let hidden = self.model.forward(&ids, &type_ids, Some(&mask))?;
        // Mean over real tokens only, then unit length.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        Ok(mean.broadcast_div(&norm)?.to_vec2::<f32>()?)
    }
}

/// Cosine of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
