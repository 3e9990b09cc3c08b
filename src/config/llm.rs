//! `[llm]`: the model that writes SQL and how it runs.

use std::path::PathBuf;

use serde::Deserialize;

use crate::ask::generate::grammar::Profile;

/// Where SQL is generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmBackend {
    /// llama.cpp in a worker process pgask supervises, with the model at `llm.model`.
    Llama,
    /// An OpenAI-compatible HTTP server (llama.cpp server, vLLM, Ollama) at `llm.api_base`.
    Openai,
}

/// `[llm]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// `llama` (local, the default) or `openai` (an OpenAI-compatible server). Reload: no.
    pub backend: LlmBackend,
    /// Base URL of the OpenAI-compatible API, up to and including `/v1`.
    /// Default `http://127.0.0.1:8080/v1`. Reload: no.
    pub api_base: String,
    /// Model name sent to that server. Default empty (the server's default model). Reload: no.
    pub api_model: String,
    /// Environment variable holding its API key (sent as a Bearer token when set).
    /// Default `PGASK_LLM_API_KEY`. Reload: no.
    pub api_key_env: String,
    /// Send the GBNF grammar along (in `api_grammar_field`); other servers ignore it and the
    /// guard + correction loop do the rest. Default true. Reload: no.
    pub api_grammar: bool,
    /// The request field that carries the grammar, dotted for a nested one: `grammar`
    /// (llama.cpp's `llama-server`, llama-cpp-python), `guided_grammar` (vLLM up to 0.10),
    /// `structured_outputs.grammar` (vLLM from 0.11). Default `grammar`. Reload: no.
    pub api_grammar_field: String,
    /// Seconds one API request may take. Default 120. Reload: no.
    pub api_timeout_secs: u64,
    /// GGUF model file. Default `models/model.gguf`. Reload: no.
    pub model: PathBuf,
    /// CPU threads for inference. Default 0 = the number of cores. Reload: no.
    pub threads: u32,
    /// Context window in tokens (prompt plus answer). Default 4096. Reload: no.
    pub context: u32,
    /// Most tokens one answer may have (a strict fallback may go on past
    /// it, as many again and at least 256, within the context: `strict_fallback`). Default
    /// 384. Reload: yes.
    pub max_tokens: usize,
    /// Sampling temperature of the first attempt's first candidate; 0 is greedy. A retry after
    /// a failed attempt starts one step up the candidates' ladder (0.5, 0.7, 0.9, at most 1.1).
    /// Default 0. Reload: yes.
    pub temperature: f32,
    /// Seed of the first candidate; later candidates (and retries) add 1 each. Default 42.
    /// Reload: yes.
    pub seed: u32,
    /// Top-k applied after the grammar; 0 turns it off. Default 40. Reload: no.
    pub top_k: i32,
    /// Candidates generated per attempt (different seeds, rising temperature); with more than
    /// one, the answer is the result most of them share (each runs read-only on at most 100
    /// rows first). Default 1. Reload: yes.
    pub candidates: usize,
    /// `auto` uses the model's own chat template, or a plain completion prompt for a base model
    /// without one; `completion`; `chatml`; or a template name llama.cpp knows (`llama3`,
    /// `phi3`, ...). Default `auto`. Reload: no.
    pub chat_template: String,
    /// `full` (all of read-only SQL; the schema check and EXPLAIN catch misuse) or `strict` (a
    /// smaller SQL in which every query plans; for small models). Default `full`. Reload: yes.
    pub grammar: Profile,
    /// The sampler refuses a token that would use a name the query has not defined, repeat a
    /// list item or an unjustified literal (local backend only; a server sees the grammar
    /// alone). Default true. Reload: yes.
    pub scope_check: bool,
    /// With `grammar = "full"`: a candidate the full grammar leads into a dead end (or that
    /// is cut off with no start that can be finished, or that pgask could only finish after
    /// a dead end) is written again under the strict profile, on any attempt, and that query
    /// runs (with a NOTICE, never cached) instead of the attempt failing, unless another
    /// candidate of the attempt ended under the full grammar, or it leaves out the order the
    /// question asks for (its steered pass goes on to an ORDER BY where it would end without
    /// one) or a condition it sets (pgask writes `column = 'value'`, `flag`, a year's date
    /// range, years compared with a column of years or a comparison with an average for it);
    /// a query finished after a dead end then stands. Only with `scope_check` on, for a
    /// question with no negation, "or" or comparison word but those of the conditions pgask
    /// writes, whose conditions are at most one value (held by one column, or the one whose
    /// table the question names; at most 20 letters, digits, spaces and `/&.,-`) or a choice
    /// between values one column holds (`IN (…)`), one flag, one year and one comparison with
    /// an average, a minimum or a maximum (years its subquery reads are its own), three in all
    /// (local backend only). Default true. Reload: yes.
    pub strict_fallback: bool,
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
    /// Seconds one ask may spend waiting for the model and generating (every attempt
    /// together); then it fails with SQLSTATE 57014 naming this setting. 0 = no limit.
    /// Default 120. Reload: yes.
    pub timeout_secs: u64,
    /// Asks that may wait for the model at once; one more is refused at once with SQLSTATE
    /// 53300 ("N asks waiting"). Default 16. Reload: yes.
    pub max_queue: usize,
    /// Asks generating at the same time; the others wait in turn (first come, first served)
    /// and hear their place in the queue. A local worker runs one; an OpenAI-compatible server
    /// may take more. Default 1. Reload: no.
    pub parallel: usize,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            backend: LlmBackend::Llama,
            api_base: "http://127.0.0.1:8080/v1".into(),
            api_model: String::new(),
            api_key_env: "PGASK_LLM_API_KEY".into(),
            api_grammar: true,
            api_grammar_field: "grammar".into(),
            api_timeout_secs: 120,
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
            scope_check: true,
            strict_fallback: true,
            prompt_dir: None,
            max_prompt_columns: 30,
            min_relevance: 0.0,
            relevance_check: false,
            load_timeout_secs: 300,
            timeout_secs: 120,
            max_queue: 16,
            parallel: 1,
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
        if self.backend == LlmBackend::Openai
            && !(self.api_base.starts_with("http://") || self.api_base.starts_with("https://"))
        {
            return Err(("llm.api_base", "must be an http:// or https:// URL".into()));
        }
        if self
            .api_grammar_field
            .split('.')
            .any(|part| part.is_empty() || part.chars().any(char::is_whitespace))
        {
            return Err((
                "llm.api_grammar_field",
                "must be a field name, dotted for a nested one (e.g. grammar)".into(),
            ));
        }
        Ok(())
    }
}
