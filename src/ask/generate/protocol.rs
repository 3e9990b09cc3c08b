//! Messages between pgask and its inference worker process: one JSON object per line on the
//! worker's stdin (jobs and cancels) and stdout (results).

use serde::{Deserialize, Serialize};

/// The role of the last message of a prompt that only a plain completion shows: the words the
/// answer follows (`SQL:`, `Answer:`). Chat templates and chat APIs leave it out.
pub const CUE: &str = "cue";

/// One chat message of a prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: role.to_string(),
            content: content.into(),
        }
    }
}

/// One generation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: u64,
    pub messages: Vec<ChatMessage>,
    /// GBNF text with a `root` rule; none for free text.
    pub grammar: Option<String>,
    pub max_tokens: usize,
    pub temperature: f32,
    pub seed: u32,
    /// Apply the grammar to the whole vocabulary at every step instead of checking the drawn
    /// token first (same distribution, much slower; kept to measure the difference).
    #[serde(default)]
    pub always_mask: bool,
    /// The chosen tables and the question, for the sampler's scope check; none: grammar only.
    #[serde(default)]
    pub scope: Option<super::scope::Scope>,
    /// Steer the query to an end in the last quarter of `max_tokens` (the engine's closing
    /// window; a fallback's window runs past `max_tokens`) instead of letting it run to the
    /// cut.
    #[serde(default)]
    pub closing: bool,
    /// A grammar every sentence of which plans (the strict profile): when the first pass under
    /// `grammar` leaves no query to run (a dead end, or cut off with no start that can be
    /// finished) and the strict profile may answer `scope`'s question (no condition pgask
    /// reads in it, or only values it names), the candidate is written again under this one,
    /// without the scope check while it is written, and dropped when it leaves out the order
    /// or a value the question asks for.
    #[serde(default)]
    pub fallback: Option<String>,
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stop {
    /// The model ended its answer (and the grammar allowed it).
    Eos,
    MaxTokens,
    Cancelled,
    /// The same tokens kept coming back: cut off early (as incomplete as `MaxTokens`).
    Repeating,
    /// The scope check refused every way on and no step back was left: cut off there (as
    /// incomplete as `MaxTokens`).
    DeadEnd,
    /// pgask ended the query where it could end, in the last part of the budget where it
    /// steers toward an end ([`Job::closing`]); the text is also in `Output::finished`, and is
    /// treated as a finished query, not one the model ended.
    Closed,
}

impl Stop {
    /// Whether the model itself ended its answer.
    pub fn complete(self) -> bool {
        self == Stop::Eos
    }
}

/// What one generation produced, with its costs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Output {
    pub text: String,
    pub prompt_tokens: usize,
    /// Prompt tokens whose KV entries were reused from the previous request.
    pub reused_tokens: usize,
    pub generated_tokens: usize,
    /// Tokens the grammar rejected, drawn again from the constrained distribution.
    pub grammar_resamples: usize,
    /// Tokens handed to llama.cpp's grammar check for those resamples, in total.
    #[serde(default)]
    pub grammar_checked: usize,
    pub stop: Stop,
    pub prompt_ms: f64,
    pub generate_ms: f64,
    /// Time spent checking and applying the grammar while generating.
    pub grammar_ms: f64,
    /// Tokens the scope check refused (a name not defined, an item or literal twice).
    #[serde(default)]
    pub scope_refusals: usize,
    /// Tokens taken back at dead ends of the scope check.
    pub backtracks: usize,
    /// Of those, the ones that reused the logits kept for the position (no decode step).
    #[serde(default)]
    pub reused_logits: usize,
    /// Time llama.cpp took to parse the grammar.
    pub grammar_build_ms: f64,
    /// Mean log-probability of the generated tokens under the model (before the grammar's
    /// constraint); 0 when the backend does not report it. Breaks ties between candidates.
    #[serde(default)]
    pub mean_logprob: f64,
    /// When the model did not end the query (`stop` says why): the longest start of `text`
    /// that the grammar and the scope check let end, closed by the fewest closing words (`)`,
    /// `'`, ` 1`, …; none when it may end as it is): a whole query made of what the model
    /// wrote. `None` when no start of it can be finished.
    #[serde(default)]
    pub finished: Option<String>,
    /// Time spent finishing it (part of `generate_ms`).
    #[serde(default)]
    pub finish_ms: f64,
    /// When this query was written under the job's fallback grammar: the first pass, which
    /// left no query to run (its costs are counted in this output's).
    #[serde(default)]
    pub fallback_from: Option<FirstPass>,
}

/// The pass under the job's own grammar that left no query, when a fallback followed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirstPass {
    pub text: String,
    /// Why it stopped (a dead end, the token budget, a loop).
    pub stop: Stop,
}

impl Output {
    /// Whether the generation left a query to run: one the model ended, one pgask ended in
    /// the closing window, or one it finished from a start of the text.
    pub fn has_query(&self) -> bool {
        self.stop == Stop::Eos || self.finished.is_some()
    }

    /// Adds what another pass of the same candidate cost (its times, tokens, resamples,
    /// refusals and backtracks): one candidate written twice reports both passes.
    pub fn add_costs(&mut self, other: &Output) {
        self.prompt_ms += other.prompt_ms;
        self.generate_ms += other.generate_ms;
        self.grammar_ms += other.grammar_ms;
        self.grammar_build_ms += other.grammar_build_ms;
        self.finish_ms += other.finish_ms;
        self.generated_tokens += other.generated_tokens;
        self.grammar_resamples += other.grammar_resamples;
        self.grammar_checked += other.grammar_checked;
        self.scope_refusals += other.scope_refusals;
        self.backtracks += other.backtracks;
        self.reused_logits += other.reused_logits;
    }
}

/// pgask → worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ToWorker {
    /// Boxed: a job is large and a cancel is small.
    Generate(Box<Job>),
    Cancel {
        id: u64,
    },
}

/// Worker → pgask.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum FromWorker {
    /// The model is loaded; sent once at start.
    Ready {
        model: String,
        /// The prompt is laid out as a plain completion: a base model, no chat template.
        #[serde(default)]
        completion: bool,
    },
    /// Loading failed; the worker exits after this.
    LoadFailed {
        error: String,
    },
    Done {
        id: u64,
        output: Output,
    },
    Failed {
        id: u64,
        error: String,
        /// The prompt does not fit the context (not a fault of the worker).
        #[serde(default)]
        too_long: bool,
    },
}
