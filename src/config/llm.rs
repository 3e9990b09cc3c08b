//! `[llm]`: the model that writes SQL and how it runs.

use std::path::PathBuf;

use serde::Deserialize;

use crate::ask::generate::grammar::Profile;

/// `[llm]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// GGUF model file. Default `models/model.gguf`. Reload: no.
    pub model: PathBuf,
    /// CPU threads for inference. Default 0 = the number of cores. Reload: no.
    pub threads: u32,
    /// Context window in tokens (prompt plus answer). Default 4096. Reload: no.
    pub context: u32,
    /// Most tokens one answer may have. Default 384. Reload: yes.
    pub max_tokens: usize,
    /// Sampling temperature; 0 is greedy. Default 0. Reload: yes.
    pub temperature: f32,
    /// Seed of the first candidate; later candidates add 1 each. Default 42. Reload: yes.
    pub seed: u32,
    /// Top-k applied after the grammar; 0 turns it off. Default 40. Reload: no.
    pub top_k: i32,
    /// Candidates generated per attempt (different seeds, rising temperature). Default 1.
    /// Reload: yes.
    pub candidates: usize,
    /// `auto` uses the model's own chat template (chatml when it has none); otherwise a template
    /// name llama.cpp knows (`chatml`, `llama3`, `phi3`, ...). Default `auto`. Reload: no.
    pub chat_template: String,
    /// `full` (all of read-only SQL; the schema check and EXPLAIN catch misuse) or `strict` (a
    /// smaller SQL in which every query plans; for small models). Default `full`. Reload: yes.
    pub grammar: Profile,
    /// Directory with `system.txt`, `user.txt`, `relevance.txt` replacing the built-in prompts
    /// (see `config/prompts/`). Default unset. Reload: yes.
    pub prompt_dir: Option<PathBuf>,
    /// Wide tables show at most this many columns in the prompt. Default 30. Reload: yes.
    pub max_prompt_columns: usize,
    /// Asks whose best table scores below this are refused as unrelated to the schema.
    /// Default 0 (off). Reload: yes.
    pub min_relevance: f32,
    /// Ask the model a grammar-constrained yes/no "can this be answered" first. Default false.
    /// Reload: yes.
    pub relevance_check: bool,
    /// Seconds loading the model may take. Default 300. Reload: no.
    pub load_timeout_secs: u64,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            model: "models/model.gguf".into(),
            threads: 0,
            context: 4096,
            max_tokens: 384,
            temperature: 0.0,
            seed: 42,
            top_k: 40,
            candidates: 1,
            chat_template: "auto".into(),
            grammar: Profile::Full,
            prompt_dir: None,
            max_prompt_columns: 30,
            min_relevance: 0.0,
            relevance_check: false,
            load_timeout_secs: 300,
        }
    }
}

impl LlmConfig {
    /// The thread count to use: the configured one, or the machine's cores.
    pub fn effective_threads(&self) -> u32 {
        if self.threads > 0 {
            return self.threads;
        }
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(2)
    }

    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.max_tokens == 0 {
            return Err(("llm.max_tokens", "must be at least 1".into()));
        }
        if self.candidates == 0 {
            return Err(("llm.candidates", "must be at least 1".into()));
        }
        if (self.max_tokens as u64) + 64 > self.context as u64 {
            return Err((
                "llm.context",
                "must exceed llm.max_tokens by at least 64".into(),
            ));
        }
        if !(0.0..=5.0).contains(&self.temperature) {
            return Err(("llm.temperature", "must be between 0 and 5".into()));
        }
        Ok(())
    }
}
