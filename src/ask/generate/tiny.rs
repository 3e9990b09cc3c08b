//! Random-weight GGUF models for tests and benchmarks: a real tokenizer vocabulary copied from a
//! vocabulary GGUF (llama.cpp ships them, e.g. `ggml-vocab-llama-spm.gguf`) plus seeded random
//! llama-architecture weights of any shape. No model can be downloaded where CI runs, yet the real
//! llama.cpp path (load, tokenize, decode, grammar) must run; these files make that possible.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};

/// Writing the model failed.
#[derive(Debug, thiserror::Error)]
pub enum TinyError {
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("vocabulary file {0}: {1}")]
    Vocab(String, String),
    #[error("tensor: {0}")]
    Tensor(#[from] candle_core::Error),
}

/// The shape of a llama-architecture model.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub embd: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub ff: usize,
    pub context: usize,
    /// Weight type of the matrices (F32, Q8_0, Q4K).
    pub dtype: GgmlDType,
}

impl Shape {
    /// A few MB; fast enough for many generations in a test.
    pub const TINY: Shape = Shape {
        embd: 64,
        layers: 2,
        heads: 4,
        kv_heads: 2,
        ff: 128,
        context: 4096,
        dtype: GgmlDType::F32,
    };
    /// The layer sizes of Qwen2.5-0.5B (its own vocabulary is replaced by the given one).
    pub const QWEN_05B: Shape = Shape {
        embd: 896,
        layers: 24,
        heads: 14,
        kv_heads: 2,
        ff: 4864,
        context: 4096,
        dtype: GgmlDType::Q8_0,
    };
    /// The layer sizes of Qwen2.5-1.5B.
    pub const QWEN_15B: Shape = Shape {
        embd: 1536,
        layers: 28,
        heads: 12,
        kv_heads: 2,
        ff: 8960,
        context: 4096,
        dtype: GgmlDType::Q8_0,
    };
}

/// Writes a model with `vocab`'s tokenizer and random weights drawn from `seed` to `out`.
pub fn write(vocab: &Path, shape: Shape, seed: u64, out: &Path) -> Result<(), TinyError> {
    let vname = vocab.display().to_string();
    let mut f = File::open(vocab).map_err(|e| TinyError::Io(vname.clone(), e))?;
    let content = gguf_file::Content::read(&mut f)
        .map_err(|e| TinyError::Vocab(vname.clone(), e.to_string()))?;
    let n_vocab = content
        .metadata
        .get("tokenizer.ggml.tokens")
        .and_then(|v| v.to_vec().ok())
        .map(|v| v.len())
        .ok_or_else(|| TinyError::Vocab(vname.clone(), "no tokenizer.ggml.tokens".into()))?;
    let u32v = |n: usize| Value::U32(n as u32);
    let mut meta: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String("llama".into())),
        (
            "general.name".into(),
            Value::String("pgask random-weight test model".into()),
        ),
        ("llama.context_length".into(), u32v(shape.context)),
        ("llama.embedding_length".into(), u32v(shape.embd)),
        ("llama.block_count".into(), u32v(shape.layers)),
        ("llama.feed_forward_length".into(), u32v(shape.ff)),
        ("llama.attention.head_count".into(), u32v(shape.heads)),
        ("llama.attention.head_count_kv".into(), u32v(shape.kv_heads)),
        (
            "llama.rope.dimension_count".into(),
            u32v(shape.embd / shape.heads),
        ),
        (
            "llama.attention.layer_norm_rms_epsilon".into(),
            Value::F32(1e-5),
        ),
        ("llama.vocab_size".into(), u32v(n_vocab)),
    ];
    let mut keys: Vec<&String> = content
        .metadata
        .keys()
        .filter(|k| k.starts_with("tokenizer."))
        .collect();
    keys.sort();
    for k in keys {
        meta.push((k.clone(), content.metadata[k].clone()));
    }

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let head_dim = shape.embd / shape.heads;
    let kv = head_dim * shape.kv_heads;
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    let mut matrix = |rows: usize, cols: usize, dtype: GgmlDType| -> Result<QTensor, TinyError> {
        let scale = 1.0 / (cols as f32).sqrt();
        let data: Vec<f32> = (0..rows * cols)
            .map(|_| rng.random_range(-scale..scale))
            .collect();
        let t = Tensor::from_vec(data, (rows, cols), &Device::Cpu)?;
        Ok(QTensor::quantize(&t, dtype)?)
    };
    let ones = |n: usize| -> Result<QTensor, TinyError> {
        let t = Tensor::ones(n, candle_core::DType::F32, &Device::Cpu)?;
        Ok(QTensor::quantize(&t, GgmlDType::F32)?)
    };
    tensors.push((
        "token_embd.weight".into(),
        matrix(n_vocab, shape.embd, shape.dtype)?,
    ));
    for l in 0..shape.layers {
        let b = format!("blk.{l}");
        tensors.push((format!("{b}.attn_norm.weight"), ones(shape.embd)?));
        tensors.push((
            format!("{b}.attn_q.weight"),
            matrix(shape.embd, shape.embd, shape.dtype)?,
        ));
        tensors.push((
            format!("{b}.attn_k.weight"),
            matrix(kv, shape.embd, shape.dtype)?,
        ));
        tensors.push((
            format!("{b}.attn_v.weight"),
            matrix(kv, shape.embd, shape.dtype)?,
        ));
        tensors.push((
            format!("{b}.attn_output.weight"),
            matrix(shape.embd, shape.embd, shape.dtype)?,
        ));
        tensors.push((format!("{b}.ffn_norm.weight"), ones(shape.embd)?));
        tensors.push((
            format!("{b}.ffn_gate.weight"),
            matrix(shape.ff, shape.embd, shape.dtype)?,
        ));
        tensors.push((
            format!("{b}.ffn_up.weight"),
            matrix(shape.ff, shape.embd, shape.dtype)?,
        ));
        tensors.push((
            format!("{b}.ffn_down.weight"),
            matrix(shape.embd, shape.ff, shape.dtype)?,
        ));
    }
    tensors.push(("output_norm.weight".into(), ones(shape.embd)?));
    tensors.push((
        "output.weight".into(),
        matrix(n_vocab, shape.embd, shape.dtype)?,
    ));

    let oname = out.display().to_string();
    let file = File::create(out).map_err(|e| TinyError::Io(oname.clone(), e))?;
    let mut w = BufWriter::new(file);
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut w, &meta_refs, &tensor_refs)
        .map_err(|e| TinyError::Vocab(oname.clone(), e.to_string()))?;
    use std::io::Write;
    w.flush().map_err(|e| TinyError::Io(oname, e))?;
    Ok(())
}
