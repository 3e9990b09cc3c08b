//! The llama.cpp engine: one model and one context, a KV cache reused across requests that
//! share a prompt prefix, and a sampler that checks the grammar only for the token it drew.
//!
//! Sampling: the token is drawn from the unconstrained distribution (top-k, temperature) and
//! checked against the grammar alone; only when the grammar rejects it is the grammar applied
//! (through [`mask`](super::mask), which checks prefix stand-ins and the best candidates first)
//! and the token drawn again from what is left. The result has exactly the distribution of
//! applying the grammar to the whole vocabulary first, at a fraction of the cost. The grammar is always
//! applied *before* top-k, so a top-k that the grammar empties cannot occur (the abort seen with
//! `top_k` before the grammar sampler). Grammar construction and `accept` go through
//! llama-cpp-2's exception-catching wrappers and come back as errors.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;

use super::super::protocol::{ChatMessage, FirstPass, Job, Output, Stop, CUE};
use super::super::scope::memo::Judged;
use super::super::scope::Scope;
use super::finish::{distance, finish, moves_away, reads_a_table, Closers};
use super::mask::{ends_mid_char, MaskStats, Masker, Prefixes};

/// What the engine can fail with.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("llama.cpp backend: {0}")]
    Backend(String),
    #[error("cannot load model {path}: {reason}")]
    Load { path: String, reason: String },
    #[error("cannot create a context: {0}")]
    Context(String),
    #[error("the grammar does not parse (llama.cpp rejected it)")]
    Grammar,
    #[error("chat template: {0}")]
    Template(String),
    #[error("prompt of {prompt} tokens plus {max} to generate exceeds the context of {ctx}")]
    TooLong {
        prompt: usize,
        max: usize,
        ctx: usize,
    },
    #[error("llama.cpp decode failed: {0}")]
    Decode(String),
    #[error("the grammar allows no token here (dead end after {0:?})")]
    DeadEnd(String),
}

/// llama.cpp's backend, initialised once per process (a second init is an error in llama-cpp-2).
pub fn backend() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            let mut b = LlamaBackend::init().map_err(|e| e.to_string())?;
            if std::env::var_os("PGASK_LLAMA_LOG").is_none() {
                b.void_logs();
            }
            Ok(b)
        })
        .as_ref()
        .map_err(|e| EngineError::Backend(e.clone()))
}

/// Engine settings fixed at load time.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub threads: i32,
    pub context: u32,
    /// `auto`: the model's own chat template, or a plain completion prompt for a base model
    /// without one; `completion`; `chatml`; or a template name llama.cpp knows.
    pub chat_template: String,
    pub top_k: i32,
}

/// A loaded model with its context and the tokens currently in the KV cache.
pub struct Engine {
    model: &'static LlamaModel,
    ctx: LlamaContext<'static>,
    cached: Vec<LlamaToken>,
    template: Option<LlamaChatTemplate>,
    layout: Layout,
    top_k: i32,
    prefixes: Prefixes,
    /// The words a query the model did not end is closed with.
    closers: Closers,
    masker: Masker,
    /// Output positions whose logits are kept for backtracking ([`KEPT_LOGITS`]).
    kept_logits: usize,
    pub description: String,
}

impl Engine {
    pub fn load(path: &Path, cfg: &EngineConfig) -> Result<Engine, EngineError> {
        let backend = backend()?;
        if !path.is_file() {
            return Err(EngineError::Load {
                path: path.display().to_string(),
                reason: "no such file".into(),
            });
        }
        let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
            .map_err(|e| EngineError::Load {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        // The worker keeps one model for its whole life; leaking it gives the context a
        // 'static borrow without a self-referential struct.
        let model: &'static LlamaModel = Box::leak(Box::new(model));
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(cfg.context.max(256)))
            .with_n_batch(512)
            .with_n_threads(cfg.threads.max(1))
            .with_n_threads_batch(cfg.threads.max(1));
        let ctx = model
            .new_context(backend, params)
            .map_err(|e| EngineError::Context(e.to_string()))?;
        let (template, layout) = match cfg.chat_template.as_str() {
            "auto" => match model.chat_template(None).ok() {
                Some(t) => (Some(t), Layout::Template),
                None => (None, Layout::Completion),
            },
            "completion" => (None, Layout::Completion),
            "chatml" => (None, Layout::ChatMl),
            name => (
                Some(
                    LlamaChatTemplate::new(name)
                        .map_err(|e| EngineError::Template(e.to_string()))?,
                ),
                Layout::Template,
            ),
        };
        let description = format!(
            "{} ({} params, {} layers, vocab {}, template {})",
            path.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            model.n_params(),
            model.n_layer(),
            model.n_vocab(),
            match layout {
                Layout::Template => "chat template",
                Layout::ChatMl => "chatml",
                Layout::Completion => "plain completion (no chat template)",
            }
        );
        Ok(Engine {
            model,
            ctx,
            cached: Vec::new(),
            template,
            layout,
            top_k: cfg.top_k,
            prefixes: Prefixes::new(model),
            closers: Closers::new(model),
            masker: Masker::default(),
            kept_logits: KEPT_LOGITS,
            description,
        })
    }

    pub fn model(&self) -> &'static LlamaModel {
        self.model
    }

    /// How many output positions' logits a backtrack may reuse (0: every step back decodes
    /// again; for tests, which compare the two).
    pub fn keep_logits(&mut self, positions: usize) {
        self.kept_logits = positions;
    }

    /// The chat messages as the model expects them, ending with the assistant's turn (or, for
    /// a base model, with the cue its answer follows).
    pub fn format(&self, messages: &[ChatMessage]) -> Result<String, EngineError> {
        if self.layout == Layout::Completion {
            return Ok(completion(messages));
        }
        let messages: Vec<ChatMessage> =
            messages.iter().filter(|m| m.role != CUE).cloned().collect();
        let messages = messages.as_slice();
        if let (Some(t), Layout::Template) = (&self.template, self.layout) {
            let chat: Result<Vec<LlamaChatMessage>, _> = messages
                .iter()
                .map(|m| LlamaChatMessage::new(m.role.clone(), m.content.clone()))
                .collect();
            let chat = chat.map_err(|e| EngineError::Template(e.to_string()))?;
            if let Ok(s) = self.model.apply_chat_template(t, &chat, true) {
                return Ok(s);
            }
        }
        Ok(chatml(messages))
    }

    /// Whether prompts are laid out as a plain completion (a base model without a chat
    /// template).
    pub fn completion(&self) -> bool {
        self.layout == Layout::Completion
    }

    /// Runs one job. `cancelled` is polled before every token and every 512 prompt tokens.
    /// When the job's grammar leaves no query to run (a dead end, or cut off with no start
    /// that can be finished), or only one pgask finished after a dead end, and the job has a
    /// fallback grammar and a scope check whose question the strict profile may answer
    /// ([`Scope::strict_may_answer`]: no condition pgask reads, or only those pgask writes
    /// itself: a value it names or a choice between values, a flag, a year, a comparison with
    /// an average, a minimum or a maximum), the candidate is written again under that one
    /// (the prompt's KV cache is reused), without the scope check while it is written and
    /// dropped when it leaves out what the question sets or writes a condition otherwise than
    /// pgask does ([`Scope::leaves_out`]): the fallback is the strict profile, whose every
    /// sentence plans. A query finished after a dead end stands when the fallback leaves no
    /// query that answers and writes every number the question names.
    ///
    /// [`Scope::strict_may_answer`]: super::super::scope::Scope::strict_may_answer
    /// [`Scope::leaves_out`]: super::super::scope::Scope::leaves_out
    pub fn run(&mut self, job: &Job, cancelled: &dyn Fn() -> bool) -> Result<Output, EngineError> {
        let mut first = self.run_once(job, cancelled, None)?;
        // A query finished by pgask after a dead end is the model's lost text closed where
        // it could be (`int - x::INTERVAL`, `sqrt(boolean)`): a fallback that answers the
        // question is the better query, and it stands only when there is none.
        let lost = first.stop == Stop::DeadEnd && first.finished.is_some();
        // (Not for a question that sets a condition strict cannot be trusted with: see
        // `Scope::strict_may_answer`.)
        let (Some(fallback), Some(scope)) = (
            job.fallback.as_ref(),
            job.scope.as_ref().filter(|s| {
                first.stop != Stop::Cancelled
                    && (!first.has_query() || lost)
                    && s.strict_may_answer()
            }),
        ) else {
            return Ok(first);
        };
        let again = Job {
            id: job.id,
            messages: job.messages.clone(),
            grammar: Some(fallback.clone()),
            max_tokens: job.max_tokens,
            temperature: job.temperature,
            seed: job.seed,
            always_mask: job.always_mask,
            scope: None,
            closing: job.closing,
            fallback: None,
        };
        let mut second = match self.run_once(&again, cancelled, Some(scope)) {
            Ok(o) => o,
            Err(e) => {
                // The first pass stands (the attempt goes on as without a fallback).
                tracing::warn!(error = %e, "the fallback grammar's pass failed");
                return Ok(first);
            }
        };
        // Judged whole by what the question asks: one that leaves out the order it asks for
        // answers another question. (Not by every rule of the scope check: strict writes no
        // alias, no key arithmetic and no unknown name, and most of its queries break one of
        // the rules of style.)
        let written = second.finished.as_deref().unwrap_or(&second.text);
        // (In place of a finished query, only one that also writes every number the question
        // names: "longer than 300000 ms" may be what the finished one kept.)
        let answers = second.has_query()
            && !scope.leaves_out(written.trim_end())
            && (!lost || scope.writes_every_number(written));
        // (A cancelled second pass is the attempt's end, as without a first query.)
        if lost && !answers && second.stop != Stop::Cancelled {
            tracing::debug!(sql = %written.trim(), question = %scope.question, "the fallback does not answer; the first pass's finished query stands");
            first.add_costs(&second);
            return Ok(first);
        }
        if second.has_query() && !answers {
            tracing::debug!(sql = %written.trim(), question = %scope.question, "the fallback's query does not answer the question");
            second.text = first.text.clone();
            second.stop = first.stop;
            second.finished = None;
        }
        tracing::debug!(first = %first.text.trim(), stop = ?first.stop, "no query to run, or one finished after a dead end: written again under the fallback grammar");
        second.add_costs(&first);
        second.prompt_tokens = first.prompt_tokens;
        second.reused_tokens = first.reused_tokens;
        second.fallback_from = Some(FirstPass {
            text: first.text,
            stop: first.stop,
        });
        Ok(second)
    }

    /// One pass of `run`. A `steered` pass (the fallback's, when the job has a closing window;
    /// `steer` is the question's scope, which judges it afterwards) has its whole `max_tokens`
    /// (less when the context is nearly full), then a window past it (as many again, at least
    /// [`STEERED_EXTRA`], within the context) in which it ends where it may and goes on to its
    /// ` FROM` or ` GROUP` where the model would start one more item or condition: a strict
    /// query is short once steered, and one cut off before its FROM could not be finished.
    /// For a question that asks for an order ([`Scope::lacks_sort`]), it goes on with
    /// ` ORDER` wherever it would end or limit without one (the model's end, its LIMIT, the
    /// window's end, one more condition), when the grammar allows it: a query without it would be dropped. For a
    /// question that names values, a flag or a year, it writes their condition
    /// ([`Scope::strict_condition_for`], ` WHERE customer.country = 'Brazil'`) first, where it
    /// would end, sort, limit or group without it, where it starts a WHERE or an AND of its own,
    /// or in the window where it would start one more item or condition, when the grammar
    /// takes all of it.
    fn run_once(
        &mut self,
        job: &Job,
        cancelled: &dyn Fn() -> bool,
        steer: Option<&Scope>,
    ) -> Result<Output, EngineError> {
        let steered = steer.is_some();
        let started = Instant::now();
        let mut grammar = match &job.grammar {
            Some(g) => Some(
                LlamaSampler::grammar(self.model, g, "root").map_err(|_| EngineError::Grammar)?,
            ),
            None => None,
        };
        let grammar_build_ms = started.elapsed().as_secs_f64() * 1e3;
        // The strict grammar's FROM lists, which a steered pass's FROM is one of.
        let from_lists: Vec<String> = if steered {
            job.grammar
                .as_deref()
                .map(from_literals)
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let prompt = self.format(&job.messages)?;
        let vocab = self.model.vocab();
        let tokens = vocab.tokenize(prompt.as_bytes(), true, true);
        let n_ctx = self.ctx.n_ctx() as usize;
        if tokens.len() + job.max_tokens > n_ctx {
            return Err(EngineError::TooLong {
                prompt: tokens.len(),
                max: job.max_tokens,
                ctx: n_ctx,
            });
        }
        // Reuse the cached prefix; at least one prompt token is evaluated to get logits.
        let mut keep = self
            .cached
            .iter()
            .zip(&tokens)
            .take_while(|(a, b)| a == b)
            .count();
        keep = keep.min(tokens.len().saturating_sub(1));
        self.ctx
            .clear_kv_cache_seq(Some(0), Some(keep as u32), None)
            .map_err(|e| EngineError::Decode(e.to_string()))?;
        self.cached.truncate(keep);
        let t0 = Instant::now();
        let mut batch = LlamaBatch::new(512, 1);
        let mut last = 0;
        // Up to here the prompt is in the KV cache (a cancel stops its evaluation between
        // chunks: a long prompt takes seconds on a small CPU).
        let mut evaluated = keep;
        for chunk_start in (keep..tokens.len()).step_by(512) {
            if cancelled() {
                break;
            }
            batch.clear();
            let end = (chunk_start + 512).min(tokens.len());
            for (i, tok) in tokens.iter().enumerate().take(end).skip(chunk_start) {
                batch
                    .add(*tok, i as i32, &[0], i + 1 == tokens.len())
                    .map_err(|e| EngineError::Decode(e.to_string()))?;
            }
            self.ctx
                .decode(&mut batch)
                .map_err(|e| EngineError::Decode(e.to_string()))?;
            last = batch.n_tokens() - 1;
            evaluated = end;
        }
        self.cached.extend_from_slice(&tokens[keep..evaluated]);
        let prompt_ms = t0.elapsed().as_secs_f64() * 1e3;

        let t1 = Instant::now();
        let mut chain = sampler_chain(job.temperature, job.seed, self.top_k);
        let mut text: Vec<u8> = Vec::new();
        let mut generated = 0;
        let mut resamples = 0;
        let mut grammar_ns = 0u128;
        let mut mask = MaskStats::default();
        let mut stop = Stop::MaxTokens;
        let mut pos = tokens.len() as i32;
        let mut logprob = 0f64;
        let mut scope_refusals = 0;
        let mut out_tokens: Vec<LlamaToken> = Vec::new();
        // Per generated token: its text's length and log-probability (undone by a backtrack).
        let mut undo: Vec<(usize, f64)> = Vec::new();
        // Tokens a backtrack took back, per output position: not drawn there again.
        let mut banned: Vec<Vec<LlamaToken>> = Vec::new();
        let mut backtracks = 0;
        let mut reused_logits = 0;
        let mut retreat = false;
        // Texts found to be dead ends: nothing that starts with one is written again, however
        // it is tokenized (` BETWE`+`EN` and ` BETWEE`+`N` are one dead end, not two).
        let mut dead: Vec<Vec<u8>> = Vec::new();
        // Problem counts of the texts the scope check judged lately (each candidate is judged
        // against the same text, and the text a drawn token made starts the next step).
        let judged = Judged::default();
        // The raw logits at the last few output positions, so that taking a token back needs
        // no decode step to see the model's choices there again.
        let mut seen = Recent::new(self.kept_logits);
        // Logits taken from `seen` for the next draw instead of the context's.
        let mut restored: Option<Vec<f32>> = None;
        // The tokens still to write of a condition the question sets, which pgask writes when
        // the model wanted to end without it ([`Scope::condition_for`]).
        let mut forced: VecDeque<LlamaToken> = VecDeque::new();
        // Times a steered pass tried whether the grammar takes a condition the question sets
        // ([`Scope::strict_condition_for`]).
        let mut condition_tries = 0;
        // Such a condition pgask wrote in this pass, and where in the text it starts: it
        // counts as written while the text still holds it (a backtrack may take it back).
        let mut written: Option<(usize, Vec<u8>)> = None;
        // The closing window: the last quarter of the budget, where the query is steered to an
        // end ([`closing`]).
        // The tokens this pass may write: a steered pass's run past `max_tokens`.
        let budget = if steered && job.closing {
            steered_budget(job.max_tokens, n_ctx.saturating_sub(tokens.len()))
        } else {
            job.max_tokens
        };
        // A steered pass has its whole `max_tokens` before the window, which runs past it.
        let closing_from = if steered && job.closing {
            job.max_tokens
                .min(budget.saturating_sub((budget / CLOSING_SHARE).max(1)))
        } else if job.closing {
            job.max_tokens
                .saturating_sub((job.max_tokens / CLOSING_SHARE).max(1))
        } else {
            usize::MAX
        };
        if evaluated < tokens.len() {
            stop = Stop::Cancelled;
        }
        // The first tokens of the words that take the steered pass to where it may end: its
        // FROM, and the GROUP BY a grouped strict query needs.
        let toward_end: Vec<LlamaToken> = if steered {
            [" FROM", " GROUP"]
                .iter()
                .filter_map(|w| spell(self.model, w)?.first().copied())
                .collect()
        } else {
            Vec::new()
        };
        // The tokens of ` ORDER`, for a steered pass whose question asks for an order (the
        // first is taken where the pass would end, the rest written after it).
        // (None where the first token is only ` OR` or ` `: the grammar could take it for the
        // operator or a space and go on with something else.)
        // The first token of ` WHERE`, which a condition pgask writes where the FROM list
        // may end starts with.
        // Each also without its space, for a text that ends with one the model wrote (`…"id" `
        // then `W`): pgask's words then start without theirs.
        let where_toks: [Option<LlamaToken>; 2] = [" WHERE", "WHERE"].map(|w| {
            steer
                .and_then(|_| spell(self.model, w))
                .and_then(|t| t.first().copied())
        });
        let order_toks: [Vec<LlamaToken>; 2] = [" ORDER", "ORDER"].map(|w| {
            steer
                .filter(|s| s.lacks_sort(""))
                .and_then(|_| spell(self.model, w))
                .filter(|t| {
                    t.first().is_some_and(|&f| {
                        let p = self.model.vocab().token_to_piece(f, false, None);
                        starts_order(&[b" ".as_slice(), p.trim_ascii_start()].concat())
                    })
                })
                .unwrap_or_default()
        });
        while evaluated == tokens.len() && generated < budget {
            if cancelled() {
                stop = Stop::Cancelled;
                break;
            }
            if std::mem::take(&mut retreat) {
                restored = None;
                forced.clear();
                // Take the last token back, never draw it there again, and go on from the
                // model's next choice (every later position's bans are forgotten).
                let back = grammar.as_ref().and_then(|_| out_tokens.pop());
                if let (Some(back), Some(g)) = (back, grammar.as_mut()) {
                    backtracks += 1;
                    if !dead.iter().any(|d| text.starts_with(d)) {
                        dead.push(text.clone());
                    }
                    generated -= 1;
                    let (len, lp) = undo.pop().unwrap_or_default();
                    text.truncate(text.len().saturating_sub(len));
                    logprob -= lp;
                    let at = out_tokens.len();
                    banned.truncate(at + 1);
                    banned.resize(at + 1, Vec::new());
                    banned[at].push(back);
                    replay(g, &out_tokens);
                    if let Some(logits) = seen.logits_at(at) {
                        reused_logits += 1;
                        // The logits there were kept: only the token's cache entry goes.
                        let back_pos = tokens.len() + at;
                        self.ctx
                            .clear_kv_cache_seq(Some(0), Some(back_pos as u32), None)
                            .map_err(|e| EngineError::Decode(e.to_string()))?;
                        self.cached.truncate(back_pos);
                        restored = Some(logits);
                        pos = back_pos as i32;
                        continue;
                    }
                    // The logits after the token before it, recomputed.
                    let prev = out_tokens.last().or(tokens.last()).copied();
                    let prev_pos = tokens.len() + at - 1;
                    self.ctx
                        .clear_kv_cache_seq(Some(0), Some(prev_pos as u32), None)
                        .map_err(|e| EngineError::Decode(e.to_string()))?;
                    self.cached.truncate(prev_pos);
                    if let Some(prev) = prev {
                        batch.clear();
                        batch
                            .add(prev, prev_pos as i32, &[0], true)
                            .map_err(|e| EngineError::Decode(e.to_string()))?;
                        self.ctx
                            .decode(&mut batch)
                            .map_err(|e| EngineError::Decode(e.to_string()))?;
                        self.cached.push(prev);
                    }
                    pos = prev_pos as i32 + 1;
                    last = 0;
                }
                continue;
            }
            let closing = generated >= closing_from;
            let raw: &[f32] = match &restored {
                Some(v) => v,
                None => {
                    let fresh = self.ctx.get_logits_ith(last);
                    if grammar.is_some() {
                        seen.keep(out_tokens.len(), fresh);
                    }
                    fresh
                }
            };
            let masked: Vec<f32>;
            let logits = match banned.get(out_tokens.len()).filter(|b| !b.is_empty()) {
                Some(b) => {
                    masked = without(raw, b);
                    &masked[..]
                }
                None => raw,
            };
            // A token of a condition pgask is writing (below): taken as it is, while the
            // grammar allows it.
            let forced_tok = forced
                .pop_front()
                .filter(|&f| grammar.as_mut().is_some_and(|g| allowed(g, f)));
            if forced_tok.is_none() {
                forced.clear();
            }
            let mut tok = if let Some(f) = forced_tok {
                f
            } else if job.always_mask && grammar.is_some() {
                LlamaToken(-1)
            } else {
                draw(logits, &mut chain)
            };
            if let Some(g) = grammar.as_mut() {
                let tg = Instant::now();
                if forced_tok.is_none() {
                    if job.always_mask {
                        // llama.cpp's own whole-vocabulary mask (the benchmark's reference).
                        let mut all = array(logits);
                        g.apply(&mut all);
                        mask.checked += all.data.len();
                        all.data.retain(|d| d.logit() != f32::NEG_INFINITY);
                        tok = pick(all.data, &mut chain, &text)?;
                    } else if !allowed(g, tok) {
                        resamples += 1;
                        let need = if job.temperature <= 0.0 {
                            Some(1)
                        } else {
                            usize::try_from(self.top_k).ok().filter(|&k| k > 0)
                        };
                        let found = self.masker.allowed(
                            g,
                            &self.prefixes,
                            logits,
                            need,
                            !ends_mid_char(&text),
                            &mut mask,
                        );
                        // Tokens taken back here have no logit left, so the masker leaves them out.
                        if found.is_empty() && !std::ptr::eq(logits, raw) {
                            if backtracks < MAX_BACKTRACKS && !out_tokens.is_empty() {
                                // Every token the grammar allows here was taken back before.
                                retreat = true;
                                continue;
                            }
                            if !out_tokens.is_empty() {
                                // Out of backtracks, and every way on was a dead end before.
                                stop = Stop::DeadEnd;
                                break;
                            }
                            let again = self.masker.allowed(
                                g,
                                &self.prefixes,
                                raw,
                                need,
                                !ends_mid_char(&text),
                                &mut mask,
                            );
                            tok = pick(again, &mut chain, &text)?;
                        } else {
                            tok = pick(found, &mut chain, &text)?;
                        }
                    }
                    // The steered pass's FROM list: where every one of the strict grammar's
                    // it can still become goes on the same way, the token taken is the
                    // longest allowed one that goes on so (a join chain written a few
                    // characters at a time can otherwise run out of tokens: `…"Templates".
                    // "Template_ID" = "cre_Doc_Template_Mgt"."Documents"."Templ…`).
                    if forced_tok.is_none() && !from_lists.is_empty() {
                        if let Some(rest) = from_rest(&text, &from_lists) {
                            let found = self.masker.allowed(
                                g,
                                &self.prefixes,
                                logits,
                                None,
                                !ends_mid_char(&text),
                                &mut mask,
                            );
                            let vocab = self.model.vocab();
                            let longest = found
                                .iter()
                                .map(|d| (d.id(), vocab.token_to_piece(d.id(), false, None)))
                                .filter(|(_, p)| !p.is_empty() && rest.as_bytes().starts_with(p))
                                .max_by_key(|(_, p)| p.len());
                            if let Some((t, _)) = longest {
                                tok = t;
                            }
                        }
                    }
                    grammar_ns += tg.elapsed().as_nanos();
                    // In the closing window the query ends where it may, before the model starts
                    // something new (not inside a word or number it is still writing, nor before
                    // a sort's direction).
                    let mut piece = self.model.vocab().token_to_piece(tok, false, None);
                    // (An end the model drew itself is its own: `Eos` below.)
                    let mut model_ends = self.model.vocab().is_eog(tok) || piece.contains(&b'\n');
                    // The steered pass writes no space alone (`"id"` + ` ` + `WHERE`): where
                    // a clause or a condition starts is read from a word with its space, and
                    // pgask's words start with theirs. The best allowed token that is more
                    // than a space is taken instead, where there is one.
                    // (Only after a whole operand or name, where a keyword comes next: not
                    // after an operator or a keyword that waits for a number, `> ` + `5`, nor
                    // inside a literal.)
                    let spaces = |p: &[u8]| !p.is_empty() && p.iter().all(|&b| b == b' ');
                    if steer.is_some()
                        && forced_tok.is_none()
                        && !model_ends
                        && spaces(&piece)
                        && ends_operand(&text)
                        && !in_text_literal(&text)
                    {
                        let fresh = best_allowed_where(
                            &mut self.masker,
                            g,
                            &self.prefixes,
                            self.model,
                            logits,
                            &text,
                            &mut mask,
                            |t, p| !self.model.vocab().is_eog(t) && !spaces(p),
                        );
                        if !fresh.is_empty() {
                            resamples += 1;
                            tok = pick(fresh, &mut chain, &text)?;
                            piece = self.model.vocab().token_to_piece(tok, false, None);
                            model_ends = self.model.vocab().is_eog(tok) || piece.contains(&b'\n');
                        }
                    }
                    // The steered pass of a question that asks for an order goes on with
                    // ` ORDER` where it would end or limit without one (the model's end, its
                    // LIMIT, the closing window's end, one more item or condition).
                    // (The model's end only where its token is nothing but the end: `5\n`
                    // would lose its 5.)
                    let only_end = self.model.vocab().is_eog(tok)
                        || piece.iter().all(|b| b.is_ascii_whitespace());
                    // After a space of the model's own, pgask's words go without theirs, and
                    // the model's next word is read as if it had its space.
                    let after_space = text.last() == Some(&b' ');
                    // (A space alone after pgask's condition starts one more word: the pass
                    // wraps up there, where the grammar may end, before it.)
                    let lone_space = !piece.is_empty() && piece.iter().all(|&b| b == b' ');
                    let spaced = with_space(&text, &piece);
                    // Once pgask has written every condition the question sets, one more of
                    // the model's (` AND`, or ` A`+`ND`, or a space alone) is none the question sets: the pass
                    // wraps up there as in its closing window (with the sort the question asks
                    // for, or the end). Not while a number the question names is unwritten
                    // ("from Brazil over 10": the model's `total > 10` is the question's), nor
                    // at ` OR`, which starts ORDER BY where pgask writes conditions (their
                    // grammar has no OR).
                    let wrote_condition = written
                        .as_ref()
                        .is_some_and(|(at, c)| text.get(*at..).is_some_and(|t| t.starts_with(c)));
                    let wrap_up = closing
                        || (wrote_condition
                            && forced_tok.is_none()
                            && forced.is_empty()
                            && (adds_one_more(&spaced)
                                || writes(&spaced.to_ascii_uppercase(), b" AND", 1)
                                || lone_space)
                            && (lone_space
                                || !b" ORDER".starts_with(&spaced.to_ascii_uppercase()))
                            && !before_where(&text)
                            && steer.is_some_and(|s| {
                                let so_far = String::from_utf8_lossy(&text);
                                s.strict_condition_for(&so_far).is_none()
                                    && s.writes_every_number(&so_far)
                            }));
                    let order_toks = &order_toks[usize::from(after_space)];
                    let where_tok = where_toks[usize::from(after_space)];
                    let sorting = order_toks.first().copied().filter(|&o| {
                        ((model_ends && only_end)
                            || starts_limit(&spaced)
                            || (wrap_up
                                && !continues(&text, &piece)
                                && (reads_a_table(&text) || adds_one_more(&piece))))
                            && !in_text_literal(&text)
                            && !ends_mid_char(&text)
                            && allowed(g, o)
                            && steer.is_some_and(|s| s.lacks_sort(&String::from_utf8_lossy(&text)))
                    });
                    // The condition of the values the question names, before any sort:
                    // wherever the FROM list may end before the model's own WHERE (its next
                    // token, whatever it is, could only go on with the FROM list or start a
                    // clause, ` OR`+`DER` and ` G`+`ROUP` too), or where its WHERE or AND
                    // starts. (Not inside a condition pgask is writing.)
                    // (Not for a ` JOIN` the FROM list goes on with in the closing window;
                    // the grammar is tried whole at most `MAX_CONDITION_TRIES` times a pass,
                    // and only where it takes the condition's first token.)
                    let conditioning = steer
                        .filter(|_| {
                            forced_tok.is_none()
                                && condition_tries < MAX_CONDITION_TRIES
                                && ((model_ends && only_end)
                                    || starts_clause(&spaced)
                                    || starts_condition(&text, &spaced)
                                    || (ends_from_list(&text, &spaced)
                                        && where_tok.is_some_and(|w| allowed(g, w)))
                                    || (closing
                                        && !continues(&text, &piece)
                                        && !starts_join(&piece)
                                        && (reads_a_table(&text) || adds_one_more(&piece))))
                                && !in_text_literal(&text)
                                && !ends_mid_char(&text)
                        })
                        .and_then(|s| s.strict_condition_for(&String::from_utf8_lossy(&text)))
                        .and_then(|c| {
                            spell(self.model, if after_space { c.trim_start() } else { &c })
                        })
                        .filter(|c| c.first().is_some_and(|&f| allowed(g, f)))
                        .filter(|c| {
                            condition_tries += 1;
                            takes_all(g, &out_tokens, c)
                        });
                    let sorting = sorting.filter(|_| conditioning.is_none());
                    if let Some(c) = &conditioning {
                        let words = c
                            .iter()
                            .flat_map(|&t| self.model.vocab().token_to_piece(t, false, None));
                        written = Some((text.len(), words.collect()));
                        tok = c[0];
                        piece = self.model.vocab().token_to_piece(tok, false, None);
                        model_ends = false;
                        forced = c[1..].iter().copied().collect();
                    }
                    if let Some(o) = sorting {
                        tok = o;
                        piece = self.model.vocab().token_to_piece(tok, false, None);
                        model_ends = false;
                        forced = order_toks[1..].iter().copied().collect();
                    }
                    if wrap_up
                        && sorting.is_none()
                        && conditioning.is_none()
                        && !model_ends
                        && !continues(&text, &piece)
                        && reads_a_table(&text)
                    {
                        let so_far = String::from_utf8_lossy(&text);
                        let eos = self.model.vocab().eos();
                        if !ends_mid_char(&text)
                            && allowed(g, eos)
                            && job
                                .scope
                                .as_ref()
                                .is_none_or(|s| !s.rejects(&so_far, "", true))
                        {
                            stop = Stop::Closed;
                            break;
                        }
                    }
                    // The steered pass, where the model would start one more item or
                    // condition, goes on to its FROM or GROUP BY instead when the grammar
                    // allows it (a strict query may end soon after them); never inside a word,
                    // number or text literal.
                    if closing
                        && !toward_end.is_empty()
                        && conditioning.is_none()
                        && forced_tok.is_none()
                        && !model_ends
                        && !toward_end.contains(&tok)
                        && adds_one_more(&piece)
                        && !continues(&text, &piece)
                        && !in_text_literal(&text)
                        && !ends_mid_char(&text)
                    {
                        if let Some(&to) = toward_end.iter().find(|&&t| allowed(g, t)) {
                            tok = to;
                            piece = self.model.vocab().token_to_piece(tok, false, None);
                        }
                    }
                    // pgask's condition ends where pgask ended it: the model's next token does
                    // not go on with its last word (`> 1950` + `.5`, `'Brazil'` + `'`).
                    let just_written = written
                        .as_ref()
                        .is_some_and(|(at, c)| at + c.len() == text.len() && text.ends_with(c));
                    if just_written
                        && forced_tok.is_none()
                        && forced.is_empty()
                        && conditioning.is_none()
                        && extends_last_word(&text, &piece)
                    {
                        let fresh = best_allowed_where(
                            &mut self.masker,
                            g,
                            &self.prefixes,
                            self.model,
                            logits,
                            &text,
                            &mut mask,
                            |_, p| !extends_last_word(&text, p),
                        );
                        if !fresh.is_empty() {
                            resamples += 1;
                            tok = pick(fresh, &mut chain, &text)?;
                            piece = self.model.vocab().token_to_piece(tok, false, None);
                        }
                    }
                    // No select item twice: a token that would end an item equal to an earlier one
                    // of the same list gives way to the best allowed token that does not. Where
                    // the grammar allows none (strict's `genre.name, genre.name` can only end
                    // there), a pass without the scope check takes the item back: its text is a
                    // dead end (however the model spells it again), and its last token goes.
                    // (With the scope check, its own refusals and dead ends do the same.)
                    let unscoped = job.scope.is_none();
                    // (A piece that spells the dead text's last word in part is refused too:
                    // `count` + `(*` + `)` is `count(*)` again.)
                    let into_dead = |p: &[u8]| {
                        unscoped
                            && dead.iter().any(|d| {
                                let Some(rest) = d.strip_prefix(text.as_slice()) else {
                                    return false;
                                };
                                !rest.is_empty()
                                    && (p.starts_with(rest)
                                        || (rest.starts_with(p)
                                            && text.len() + p.len() > last_word_start(d)))
                            })
                    };
                    let repeated = repeats_item(&text, &piece);
                    if repeated || into_dead(&piece) {
                        let tg = Instant::now();
                        let fresh = best_allowed_where(
                            &mut self.masker,
                            g,
                            &self.prefixes,
                            self.model,
                            logits,
                            &text,
                            &mut mask,
                            |_, p| !repeats_item(&text, p) && !into_dead(p),
                        );
                        grammar_ns += tg.elapsed().as_nanos();
                        if !fresh.is_empty() {
                            resamples += 1;
                            tok = pick(fresh, &mut chain, &text)?;
                        } else if unscoped && backtracks < MAX_BACKTRACKS && !out_tokens.is_empty()
                        {
                            let item = text.trim_ascii_end().to_vec();
                            if repeated && !dead.iter().any(|d| item.starts_with(d)) {
                                dead.push(item);
                            }
                            retreat = true;
                            continue;
                        }
                    }
                    // The scope check: no name the query has not defined, no item or literal twice.
                    let whole_chars = !ends_mid_char(
                        &[
                            text.as_slice(),
                            &self.model.vocab().token_to_piece(tok, false, None),
                        ]
                        .concat(),
                    );
                    if let Some(scope) = job.scope.as_ref().filter(|_| whole_chars) {
                        let tg = Instant::now();
                        let so_far = String::from_utf8_lossy(&text);
                        // How far the text is from an end, for the closing window's check.
                        let far = closing.then(|| distance(&so_far));
                        let piece_of = |t: LlamaToken| {
                            let eog = self.model.vocab().is_eog(t);
                            let p = self.model.vocab().token_to_piece(t, false, None);
                            let end = eog || p.contains(&b'\n');
                            (p, end)
                        };
                        let refuses = |t: LlamaToken| {
                            let (p, end) = piece_of(t);
                            let piece = String::from_utf8_lossy(&p);
                            // Into a dead end found before (the text so far is never in one:
                            // it would have been refused when it was written).
                            dead.iter().any(|d| {
                                d.len() > text.len()
                                    && d.starts_with(&text)
                                    && p.starts_with(&d[text.len()..])
                            }) || scope.rejects_judged(&judged, &so_far, &piece, end)
                                || far.is_some_and(|f| !end && moves_away(&so_far, f, &piece))
                        };
                        if refuses(tok) {
                            tracing::trace!(
                                text = %so_far,
                                piece = %String::from_utf8_lossy(&piece_of(tok).0),
                                backtracks,
                                "scope refused"
                            );
                            let good = |d: &LlamaTokenData| {
                                let (p, _) = piece_of(d.id());
                                d.logit() != f32::NEG_INFINITY
                                    && !repeats_item(&text, &p)
                                    && !refuses(d.id())
                            };
                            // The model wanted to end and may not, only for want of the sort its
                            // question asks for (below).
                            let wants_sort = piece_of(tok).1 && scope.only_wants_sort(&so_far);
                            // Likewise for a condition the question sets (a value it names, a
                            // flag, a comparison with an average), which pgask then writes
                            // when it can (below).
                            let wants_condition = piece_of(tok).1
                                && !wants_sort
                                && scope.only_wants_condition(&so_far);
                            // Only as many good tokens as the draw can use are looked for, best
                            // first: greedy takes the best, top-k the best k (each candidate's
                            // check costs a scope check of the whole text); the sort rule looks
                            // at all of them.
                            let limit = if wants_sort {
                                usize::MAX
                            } else if job.temperature <= 0.0 {
                                1
                            } else {
                                usize::try_from(self.top_k)
                                    .ok()
                                    .filter(|&k| k > 0)
                                    .unwrap_or(usize::MAX)
                            };
                            let best_good =
                                |mut found: Vec<LlamaTokenData>| -> Vec<LlamaTokenData> {
                                    found.sort_by(|a, b| b.logit().total_cmp(&a.logit()));
                                    found.into_iter().filter(good).take(limit).collect()
                                };
                            // Greedy decoding takes the best good token: when one is among the
                            // best few the grammar allows, no wider search is needed (every
                            // token not checked has a lower logit).
                            let mut fresh: Vec<_> = Vec::new();
                            if job.temperature <= 0.0 {
                                fresh = self.masker.allowed(
                                    g,
                                    &self.prefixes,
                                    logits,
                                    Some(1),
                                    !ends_mid_char(&text),
                                    &mut mask,
                                );
                                fresh = best_good(fresh);
                            }
                            if fresh.is_empty() {
                                fresh = self.masker.allowed(
                                    g,
                                    &self.prefixes,
                                    logits,
                                    Some(SCOPE_ALTERNATIVES),
                                    !ends_mid_char(&text),
                                    &mut mask,
                                );
                                fresh = best_good(fresh);
                            }
                            // The model wanted to end and may not, only for want of the sort its
                            // question asks for: it goes on with ` ORDER` if it would write that
                            // at all (not with more of the list it was ending: `GROUP BY a, b` +
                            // `, c` …).
                            // The condition the question sets, written by pgask: the model
                            // that ends without it rarely finds the column and the value itself
                            // (`WHERE order_id IN (SELECT …)` for "How many orders were
                            // cancelled?").
                            let written = wants_condition
                                .then(|| scope.condition_for(&so_far))
                                .flatten()
                                .and_then(|c| spell(self.model, &c))
                                // (Not again where a step back took it back.)
                                .filter(|toks| {
                                    toks.first().is_some_and(|&t| {
                                        allowed(g, t)
                                            && !banned
                                                .get(out_tokens.len())
                                                .is_some_and(|b| b.contains(&t))
                                    })
                                });
                            if let Some(toks) = written {
                                forced = toks.into_iter().collect();
                                fresh = forced
                                    .pop_front()
                                    .map(|t| vec![LlamaTokenData::new(t, 0.0, 0.0)])
                                    .unwrap_or_default();
                            } else if wants_sort {
                                let on: Vec<_> = fresh
                                    .iter()
                                    .filter(|d| starts_order(&piece_of(d.id()).0))
                                    .cloned()
                                    .collect();
                                if !on.is_empty() {
                                    fresh = on;
                                }
                            }
                            if !fresh.is_empty() {
                                scope_refusals += 1;
                                tok = pick(fresh, &mut chain, &text)?;
                            } else if backtracks < MAX_BACKTRACKS && !out_tokens.is_empty() {
                                // A dead end: every good token here breaks the query (the problem
                                // was made earlier: `FROM t x` before a qualifier `a.` that now
                                // can never be defined). Take the last token back.
                                retreat = true;
                                grammar_ns += tg.elapsed().as_nanos();
                                continue;
                            } else if !out_tokens.is_empty() {
                                // Out of backtracks: whatever follows is junk (a query that
                                // ran would answer nothing); the next attempt starts afresh.
                                stop = Stop::DeadEnd;
                                break;
                            }
                        }
                        grammar_ns += tg.elapsed().as_nanos();
                    }
                }
                if self.model.vocab().is_eog(tok) {
                    stop = Stop::Eos;
                    break;
                }
                let tg = Instant::now();
                if !accept(g, tok) {
                    return Err(EngineError::DeadEnd(
                        String::from_utf8_lossy(&text).into_owned(),
                    ));
                }
                grammar_ns += tg.elapsed().as_nanos();
            } else if self.model.vocab().is_eog(tok) {
                stop = Stop::Eos;
                break;
            }
            let lp = log_prob(raw, tok);
            logprob += lp;
            generated += 1;
            let piece = vocab.token_to_piece(tok, false, None);
            undo.push((piece.len(), lp));
            text.extend(piece);
            batch.clear();
            batch
                .add(tok, pos, &[0], true)
                .map_err(|e| EngineError::Decode(e.to_string()))?;
            self.ctx
                .decode(&mut batch)
                .map_err(|e| EngineError::Decode(e.to_string()))?;
            self.cached.push(tok);
            pos += 1;
            last = 0;
            restored = None;
            out_tokens.push(tok);
            if looping(&out_tokens) {
                stop = Stop::Repeating;
                break;
            }
        }
        // The query the model did not end, finished.
        // A query ended in the closing window is pgask's ending, not the model's: it goes the
        // way of a finished one (run with a notice, never cached).
        let mut finished =
            (stop == Stop::Closed).then(|| String::from_utf8_lossy(&text).into_owned());
        let tf = Instant::now();
        if matches!(stop, Stop::MaxTokens | Stop::Repeating | Stop::DeadEnd) {
            if let Some(g) = grammar.as_mut() {
                let lens: Vec<usize> = undo.iter().map(|u| u.0).collect();
                let eos = self.model.vocab().eos();
                finished = finish(
                    g,
                    eos,
                    &self.closers,
                    &out_tokens,
                    &lens,
                    &text,
                    job.scope.as_ref(),
                    &|t: &str| spell(self.model, t),
                )
                .map(|(bytes, tail)| format!("{}{tail}", String::from_utf8_lossy(&text[..bytes])));
            }
        }
        Ok(Output {
            text: String::from_utf8_lossy(&text).into_owned(),
            prompt_tokens: tokens.len(),
            reused_tokens: keep,
            generated_tokens: generated,
            grammar_resamples: resamples,
            grammar_checked: mask.checked,
            stop,
            prompt_ms,
            generate_ms: t1.elapsed().as_secs_f64() * 1e3,
            grammar_ms: grammar_ns as f64 / 1e6,
            grammar_build_ms,
            scope_refusals,
            backtracks,
            reused_logits,
            mean_logprob: if generated == 0 {
                0.0
            } else {
                logprob / generated as f64
            },
            finished,
            finish_ms: tf.elapsed().as_secs_f64() * 1e3,
            fallback_from: None,
        })
    }
}

/// The tokens a steered pass may write: `max_tokens`, then as many again (at least
/// [`STEERED_EXTRA`]), within the `room` the context leaves after the prompt.
fn steered_budget(max_tokens: usize, room: usize) -> usize {
    (max_tokens + max_tokens.max(STEERED_EXTRA)).min(room.max(max_tokens))
}

/// Whether `piece` starts one more list item or condition (`,`, ` AND`, ` OR`; not ` ORDER`).
fn adds_one_more(piece: &[u8]) -> bool {
    let upper = piece.to_ascii_uppercase();
    upper.starts_with(b",")
        || upper.starts_with(b" AND")
        || (upper.starts_with(b" OR") && !starts_order(piece))
}

/// Whether `piece` starts a clause after which no condition can be written (` ORDER`,
/// ` LIMIT`, ` GROUP`, or a start of one longer than ` OR`, ` L`, ` G`).
fn starts_clause(piece: &[u8]) -> bool {
    let upper = piece.to_ascii_uppercase();
    starts_order(piece) || starts_limit(piece) || writes(&upper, b" GROUP", 2)
}

/// Whether `piece` starts a condition of the model's own after `text` (` WHERE`, or ` AND`
/// once a WHERE is written, not in a join's ON; or a start of one longer than ` W`, ` A`):
/// pgask writes the question's in its place.
fn starts_condition(text: &[u8], piece: &[u8]) -> bool {
    let upper = piece.to_ascii_uppercase();
    writes(&upper, b" WHERE", 2)
        || (writes(&upper, b" AND", 2)
            && text
                .to_ascii_uppercase()
                .windows(7)
                .any(|w| w == b" WHERE "))
}

/// Whether `piece` would end the FROM list `text` writes before any WHERE, where pgask may
/// write the question's condition first: it does not go on with the text (a word, a number,
/// a quoted name), nor start a JOIN or an ON clause's AND (` J`, ` AN` too). The strict
/// profile has no OR there: ` OR` starts an ORDER BY.
fn ends_from_list(text: &[u8], piece: &[u8]) -> bool {
    let upper = piece.to_ascii_uppercase();
    let starts = |word: &[u8]| upper.starts_with(word) || word.starts_with(&upper);
    before_where(text) && !continues(text, piece) && !starts(b" JOIN") && !starts(b" AND")
}

/// Whether `text` has a FROM list and no WHERE yet (outside text literals and quoted names;
/// the strict profile writes neither in a subquery).
fn before_where(text: &[u8]) -> bool {
    let (mut single, mut double) = (false, false);
    let mut outside: Vec<u8> = Vec::with_capacity(text.len());
    for &b in text {
        match b {
            b'\'' if !double => single = !single,
            b'"' if !single => double = !double,
            _ if single || double => {}
            _ => outside.push(b.to_ascii_uppercase()),
        }
    }
    let has = |w: &[u8]| outside.windows(w.len()).any(|x| x == w);
    has(b" FROM ") && !has(b" WHERE ")
}

/// Whether `piece` starts a JOIN (` JOIN`, or a start of it longer than ` J`).
fn starts_join(piece: &[u8]) -> bool {
    writes(&piece.to_ascii_uppercase(), b" JOIN", 2)
}

/// Whether `piece` starts a LIMIT (` LIMIT`, or a start of it longer than ` L`).
fn starts_limit(piece: &[u8]) -> bool {
    writes(&piece.to_ascii_uppercase(), b" LIMIT", 2)
}

/// Whether `grammar`, having taken `done`, takes all of `next` after it; the grammar is left
/// as it was (having taken `done`).
fn takes_all(grammar: &mut LlamaSampler, done: &[LlamaToken], next: &[LlamaToken]) -> bool {
    let all = next.iter().all(|&t| accept(grammar, t));
    replay(grammar, done);
    all
}

/// Resets `grammar` and feeds it `tokens` again (tokens it took before).
fn replay(grammar: &mut LlamaSampler, tokens: &[LlamaToken]) {
    grammar.reset();
    for &t in tokens {
        grammar.accept(t);
    }
}

/// Whether `sql` ends inside a text literal (quotes inside a quoted name do not count).
fn in_text_literal(sql: &[u8]) -> bool {
    let (mut single, mut double) = (false, false);
    for &b in sql {
        match b {
            b'\'' if !double => single = !single,
            b'"' if !single => double = !double,
            _ => {}
        }
    }
    single
}

/// Whether `piece` writes ` ORDER` or a start of it longer than ` OR` (which is as much the
/// operator).
fn starts_order(piece: &[u8]) -> bool {
    writes(&piece.to_ascii_uppercase(), b" ORDER", 3)
}

/// Whether the upper-cased `piece` writes `word`: all of it (and more), or a start of it
/// longer than `least` bytes.
fn writes(piece: &[u8], word: &[u8], least: usize) -> bool {
    piece.starts_with(word) || (piece.len() > least && word.starts_with(piece))
}

/// The FROM lists of a strict grammar's text (`from-3 ::= " FROM " "a JOIN b ON …"`), as
/// SQL.
fn from_literals(grammar: &str) -> Vec<String> {
    grammar
        .lines()
        .filter(|l| l.starts_with("from-"))
        .filter_map(|l| l.split_once(" ::= \" FROM \" \""))
        .filter_map(|(_, rest)| rest.strip_suffix('"'))
        .map(unescape)
        .collect()
}

/// A GBNF string literal's text (`\"` is `"`, `\\` is `\`, `\n` a newline).
fn unescape(lit: &str) -> String {
    let mut out = String::with_capacity(lit.len());
    let mut chars = lit.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(o) => out.push(o),
            None => {}
        }
    }
    out
}

/// The part of a FROM list that `text` (before any WHERE, after its last ` FROM `) goes on
/// with in every one of `lists` it can still become, when there is one.
fn from_rest(text: &[u8], lists: &[String]) -> Option<String> {
    if !before_where(text) {
        return None;
    }
    let text = std::str::from_utf8(text).ok()?;
    let (head, written) = text.rsplit_once(" FROM ")?;
    // (The query's own FROM, not `EXTRACT(YEAR FROM …`.)
    let open = head.matches('(').count();
    if open != head.matches(')').count() || written.contains('(') {
        return None;
    }
    let rests: Vec<&str> = lists
        .iter()
        .filter_map(|l| l.strip_prefix(written))
        .collect();
    // (A list that is whole here may end the FROM list: the model chooses.)
    if rests.iter().any(|r| r.is_empty()) {
        return None;
    }
    let (first, rests) = rests.split_first()?;
    let mut common = first.len();
    for r in rests {
        common = common.min(
            first
                .bytes()
                .zip(r.bytes())
                .take_while(|(a, b)| a == b)
                .count(),
        );
    }
    while !first.is_char_boundary(common) {
        common -= 1;
    }
    (common > 0).then(|| first[..common].to_string())
}

/// Of the 16 best tokens the grammar allows after `text`, the ones whose piece `keep` takes,
/// best first: the draw's alternatives where a rule turns its token down.
#[allow(clippy::too_many_arguments)]
fn best_allowed_where(
    masker: &mut Masker,
    grammar: &mut LlamaSampler,
    prefixes: &Prefixes,
    model: &LlamaModel,
    logits: &[f32],
    text: &[u8],
    mask: &mut MaskStats,
    keep: impl Fn(LlamaToken, &[u8]) -> bool,
) -> Vec<LlamaTokenData> {
    masker
        .allowed(
            grammar,
            prefixes,
            logits,
            Some(16),
            !ends_mid_char(text),
            mask,
        )
        .into_iter()
        .filter(|d| keep(d.id(), &model.vocab().token_to_piece(d.id(), false, None)))
        .collect()
}

/// Whether `piece` goes on with the last word of `text`: more of a word or number
/// (`1950` + `.5`), or a doubled quote (`'Brazil'` + `'`); not a clause after it.
fn extends_last_word(text: &[u8], piece: &[u8]) -> bool {
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_' || *b >= 0x80;
    let glued = text.last().is_some_and(word) && piece.first().is_some_and(word);
    // A quote doubled inside a literal or a quoted name (`'Guns N''`).
    let quote = |q: u8| text.last() == Some(&q) && piece.first() == Some(&q);
    glued || quote(b'\'') || quote(b'"') || piece.first() == Some(&b'.')
}

/// `piece` as read after `text`: with a leading space where `text` ends with one the model
/// wrote alone (`… x ` + `DESC` is ` DESC`).
fn with_space(text: &[u8], piece: &[u8]) -> Vec<u8> {
    if text.last() == Some(&b' ') && !piece.starts_with(b" ") {
        [b" ".as_slice(), piece].concat()
    } else {
        piece.to_vec()
    }
}

/// Whether `text` ends with a whole operand or name after which a keyword comes (a word
/// that is no keyword waiting for more, a number, a quoted name, a literal, `)` or `*`).
fn ends_operand(text: &[u8]) -> bool {
    let Some(&last) = text.last() else {
        return false;
    };
    if !(last.is_ascii_alphanumeric() || matches!(last, b'_' | b'"' | b'\'' | b')' | b'*')) {
        return false;
    }
    let start = text
        .iter()
        .rposition(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
        .map_or(0, |k| k + 1);
    let word = String::from_utf8_lossy(&text[start..]).to_ascii_uppercase();
    !matches!(
        word.as_str(),
        "LIMIT"
            | "BY"
            | "AND"
            | "OR"
            | "WHERE"
            | "SELECT"
            | "FROM"
            | "JOIN"
            | "ON"
            | "NOT"
            | "BETWEEN"
            | "IN"
            | "IS"
            | "LIKE"
            | "ILIKE"
            | "DISTINCT"
            | "AS"
            | "HAVING"
            | "OFFSET"
            | "FETCH"
            | "FIRST"
            | "NEXT"
            | "CASE"
            | "WHEN"
            | "THEN"
            | "ELSE"
    )
}

/// Whether `piece` goes on with what `text` ends with: more of a word or number (`12` + `3`,
/// `invoice` + `_line`), a doubled quote, or a sort's direction or a LIMIT (` DESC`, ` LIMIT`),
/// so the query may not be ended between them.
fn continues(text: &[u8], piece: &[u8]) -> bool {
    // (After a space, the piece is read with it: `… x ` + `DESC`.)
    let upper = with_space(text, piece).to_ascii_uppercase();
    // A sort's direction and the short tails after it (`LIMIT 5` of "the top 5").
    let tail = [
        &b" DESC"[..],
        b" ASC",
        b" NULLS",
        b" LIMIT",
        b" OFFSET",
        b" FETCH",
    ]
    .iter()
    .any(|d| writes(&upper, d, 2));
    extends_last_word(text, piece) || tail
}

/// Where the last word of `text` starts (its trailing marks aside: the `count` of
/// `…, count(*)`, the `name` of `…, artist.name`).
fn last_word_start(text: &[u8]) -> usize {
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_' || !b.is_ascii();
    let end = text.iter().rposition(word).map_or(0, |k| k + 1);
    text[..end]
        .iter()
        .rposition(|b| !word(b))
        .map_or(0, |k| k + 1)
}

/// Whether appending `piece` to the SQL `text` ends a select item (with `,` or ` FROM`), or
/// its expression (with ` AS`), equal to an earlier item of the same SELECT list (`SELECT
/// artist_id, artist_id`, `SELECT t.a, t.b, t.a AS c`): the degenerate repetition small models
/// fall into. Refused at ` AS`, before the alias, which could otherwise grow for ever. The
/// spaces that end `text` are read with `piece`, and a piece that starts ` FROM` or ` AS`
/// with more than its space (` F`, ` FR`, ` A`) ends the item too: a vocabulary that spells
/// ` FROM` in pieces (` ` + `FROM`, ` F` + `ROM`) does not slip a repeated item past.
pub fn repeats_item(text: &[u8], piece: &[u8]) -> bool {
    let kept = text.trim_ascii_end().len();
    let piece = [&text[kept..], piece].concat();
    let text = &text[..kept];
    let starts =
        |word: &[u8]| piece.starts_with(word) || (piece.len() >= 2 && word.starts_with(&piece));
    if !(piece.first() == Some(&b',') || starts(b" FROM") || starts(b" AS")) {
        return false;
    }
    let Ok(t) = std::str::from_utf8(text) else {
        return false;
    };
    // The current SELECT list: after the last SELECT at the depth the text ends at.
    let bytes = t.as_bytes();
    let mut depth = 0i32;
    let mut start = None;
    let mut in_str = false;
    let mut i = bytes.len();
    while i > 0 {
        i -= 1;
        match bytes[i] {
            b'\'' => in_str = !in_str,
            b')' if !in_str => depth += 1,
            b'(' if !in_str => {
                if depth == 0 {
                    return false;
                }
                depth -= 1;
            }
            _ => {}
        }
        if depth == 0 && !in_str && bytes[i..].starts_with(b"SELECT ") {
            start = Some(i + 7);
            break;
        }
    }
    let Some(start) = start else { return false };
    let list = t[start..].trim_start_matches("DISTINCT ");
    if list.contains(" FROM ") {
        return false;
    }
    let mut items = Vec::new();
    let (mut d, mut from, mut quoted) = (0i32, 0usize, false);
    for (j, c) in list.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => d += 1,
            ')' if !quoted => d -= 1,
            ',' if !quoted && d == 0 => {
                items.push(list[from..j].trim());
                from = j + 1;
            }
            _ => {}
        }
    }
    // An output alias does not make an item new (`artist_id AS artist_id`).
    let bare = |item: &str| -> String {
        let item = item.trim();
        match item.rfind(" AS ") {
            Some(k) if !item[k + 4..].contains([' ', '(', ')', '\'']) => item[..k].to_string(),
            _ => item.to_string(),
        }
    };
    let last = bare(&list[from..]);
    !last.is_empty() && items.iter().any(|i| bare(i) == last)
}

/// How many output positions' logits are kept for backtracking (each is a vocabulary's worth
/// of floats: 1 MiB for a 262k vocabulary).
const KEPT_LOGITS: usize = 6;

/// The raw logits at the latest output positions, their buffers reused.
#[derive(Debug)]
struct Recent {
    /// (output position, logits), oldest first.
    kept: Vec<(usize, Vec<f32>)>,
    /// How many positions are kept.
    capacity: usize,
}

impl Recent {
    fn new(capacity: usize) -> Recent {
        Recent {
            kept: Vec::new(),
            capacity,
        }
    }

    /// Keeps a copy of the logits at output position `at` (dropping any kept for it or later:
    /// a new draw there replaces them).
    fn keep(&mut self, at: usize, logits: &[f32]) {
        let mut spare = None;
        while let Some(k) = self.kept.iter().position(|(p, _)| *p >= at) {
            spare = Some(self.kept.remove(k).1);
        }
        if self.capacity == 0 {
            return;
        }
        if self.kept.len() >= self.capacity {
            spare = Some(self.kept.remove(0).1);
        }
        let mut buf = spare.unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(logits);
        self.kept.push((at, buf));
    }

    /// A copy of the logits kept for output position `at`, if any (they stay kept, for
    /// another step back to there; later positions are dropped).
    fn logits_at(&mut self, at: usize) -> Option<Vec<f32>> {
        self.kept.retain(|(p, _)| *p <= at);
        self.kept
            .iter()
            .find(|(p, _)| *p == at)
            .map(|(_, l)| l.clone())
    }
}

/// Allowed tokens the sampler looks at when the scope check refused the drawn one.
const SCOPE_ALTERNATIVES: usize = 32;

/// The closing window is the last 1/`CLOSING_SHARE` of `max_tokens`: there the query ends at
/// its first point where it reads a table and may end (the grammar, the scope check), and a
/// token that leaves it further from an end ([`moves_away`]) gives way to the next best one.
/// A model that would not end in time (a random one, one in a loop of joins) then ends with a
/// whole query instead of being cut off.
const CLOSING_SHARE: usize = 4;

/// Tokens one generation may take back at dead ends (each costs one decode step).
const MAX_BACKTRACKS: usize = 24;
/// How many times a steered pass tries whether its grammar takes the condition of a value
/// the question names (each try resets the grammar and replays the pass's tokens).
const MAX_CONDITION_TRIES: usize = 8;
/// Tokens a steered pass may write past `max_tokens` at least (within the context): room for
/// a strict query's FROM, join conditions and GROUP BY after the window opens.
const STEERED_EXTRA: usize = 256;

/// The logits with `banned` tokens made impossible.
fn without(logits: &[f32], banned: &[LlamaToken]) -> Vec<f32> {
    let mut v = logits.to_vec();
    for t in banned {
        if let Some(l) = usize::try_from(t.0).ok().and_then(|i| v.get_mut(i)) {
            *l = f32::NEG_INFINITY;
        }
    }
    v
}

/// Whether the last tokens are one short sequence over and over (at least 3 times and 24
/// tokens): a model stuck in a loop, cut off instead of running to `max_tokens`.
pub fn looping<T: PartialEq>(tokens: &[T]) -> bool {
    (1..=16).any(|period| {
        let span = (period * 3).max(24);
        tokens.len() >= span && {
            let tail = &tokens[tokens.len() - span..];
            tail.iter().zip(&tail[period..]).all(|(a, b)| a == b)
        }
    })
}

/// The model's log-probability of `tok` (log-softmax of the raw logits).
fn log_prob(logits: &[f32], tok: LlamaToken) -> f64 {
    let Some(&l) = usize::try_from(tok.0).ok().and_then(|i| logits.get(i)) else {
        return f64::NEG_INFINITY;
    };
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&x| f64::from(x - max).exp()).sum();
    f64::from(l - max) - sum.ln()
}

fn sampler_chain(temperature: f32, seed: u32, top_k: i32) -> LlamaSampler {
    if temperature <= 0.0 {
        return LlamaSampler::greedy();
    }
    let mut s = Vec::new();
    if top_k > 0 {
        s.push(LlamaSampler::top_k(top_k));
    }
    s.push(LlamaSampler::temp(temperature));
    s.push(LlamaSampler::dist(seed));
    LlamaSampler::chain_simple(s)
}

fn array(logits: &[f32]) -> LlamaTokenDataArray {
    LlamaTokenDataArray::from_iter(
        logits
            .iter()
            .enumerate()
            .map(|(i, &l)| LlamaTokenData::new(LlamaToken(i as i32), l, 0.0)),
        false,
    )
}

/// Draws from the tokens the grammar allows (with their logits); none is a dead end.
fn pick(
    allowed: Vec<LlamaTokenData>,
    chain: &mut LlamaSampler,
    text: &[u8],
) -> Result<LlamaToken, EngineError> {
    let dead = || EngineError::DeadEnd(String::from_utf8_lossy(text).into_owned());
    if allowed.is_empty() {
        return Err(dead());
    }
    let mut arr = LlamaTokenDataArray::new(allowed, false);
    arr.apply_sampler(chain);
    arr.selected_token().ok_or_else(dead)
}

/// Draws from the unconstrained distribution.
fn draw(logits: &[f32], chain: &mut LlamaSampler) -> LlamaToken {
    let mut all = array(logits);
    all.apply_sampler(chain);
    all.selected_token().unwrap_or(LlamaToken(0))
}

/// The tokens that spell `text` exactly, if the vocabulary has them: a tokenizer that puts a
/// space before the text (SentencePiece's prefix) is given it without its own leading space.
pub fn spell(model: &LlamaModel, text: &str) -> Option<Vec<LlamaToken>> {
    let vocab = model.vocab();
    let spells = |toks: &[LlamaToken]| {
        let spelled: Vec<u8> = toks
            .iter()
            .flat_map(|&t| vocab.token_to_piece(t, false, None))
            .collect();
        spelled == text.as_bytes()
    };
    let toks = vocab.tokenize(text.as_bytes(), false, false);
    if spells(&toks) {
        return Some(toks);
    }
    let bare = text.strip_prefix(' ')?;
    let toks = vocab.tokenize(bare.as_bytes(), false, false);
    spells(&toks).then_some(toks)
}

/// Whether the grammar allows `tok` next, checked on a one-token array.
pub fn allowed(grammar: &mut LlamaSampler, tok: LlamaToken) -> bool {
    let mut one = LlamaTokenDataArray::new(vec![LlamaTokenData::new(tok, 0.0, 0.0)], false);
    grammar.apply(&mut one);
    one.data
        .first()
        .is_some_and(|d| d.logit() != f32::NEG_INFINITY)
}

/// Advances `grammar` by `tok` if the grammar allows it, and says whether it did. llama.cpp
/// throws (and, without its C++ `common` shim, aborts) when a grammar is fed a token it rejects,
/// so every accept goes through this check first.
pub fn accept(grammar: &mut LlamaSampler, tok: LlamaToken) -> bool {
    if !allowed(grammar, tok) {
        return false;
    }
    grammar.accept(tok);
    true
}

/// How a prompt is laid out for the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// The model's (or a named) chat template.
    Template,
    /// chatml, for chat models whose template llama.cpp does not know.
    ChatMl,
    /// Plain text for a base model that never saw a chat format: the instructions and schema,
    /// the question, then the cue (`SQL:`) the answer follows, like the examples before it.
    Completion,
}

/// The plain-completion layout of a prompt.
pub fn completion(messages: &[ChatMessage]) -> String {
    let mut s = String::new();
    let mut cue = "SQL:";
    for m in messages {
        match m.role.as_str() {
            r if r == CUE => cue = m.content.as_str(),
            "assistant" => {
                s.push_str("SQL: ");
                s.push_str(&m.content);
                s.push_str("\n\n");
            }
            _ => {
                s.push_str(&m.content);
                s.push_str("\n\n");
            }
        }
    }
    // The cue on the line after the question, as `SQL:` follows each example's question; and
    // no space after it: SentencePiece vocabularies carry a word's space in front of it
    // (`▁SELECT`), so a prompt ending in a bare space leaves the model to continue with a token
    // it never saw after one. The grammars allow the space the model then writes.
    let kept = s.trim_end_matches('\n').len();
    s.truncate(kept);
    s.push('\n');
    s.push_str(cue);
    s
}

/// The chatml layout, for models without a template llama.cpp knows.
pub fn chatml(messages: &[ChatMessage]) -> String {
    let mut s = String::new();
    for m in messages {
        s.push_str(&format!(
            "<|im_start|>{}\n{}<|im_end|>\n",
            m.role, m.content
        ));
    }
    s.push_str("<|im_start|>assistant\n");
    s
}

#[cfg(test)]
mod repeat_tests {
    use super::{
        adds_one_more, before_where, continues, ends_from_list, ends_operand, extends_last_word,
        from_literals, from_rest, in_text_literal, looping, repeats_item, starts_clause,
        starts_condition, starts_limit, starts_order, steered_budget,
    };

    #[test]
    fn a_from_list_goes_on_where_every_list_it_can_become_does() {
        let lit = |l: &str| format!("\"{}\"", l.replace('"', "\\\""));
        let lists = [
            "s.\"Docs\"",
            "s.\"Docs\" JOIN s.\"Templates\" ON s.\"Templates\".id = s.\"Docs\".tid",
            "s.\"Paragraphs\"",
        ];
        let grammar: String = lists
            .iter()
            .enumerate()
            .map(|(i, l)| format!("from-{i} ::= \" FROM \" {}\n", lit(l)))
            .collect();
        let read = from_literals(&grammar);
        assert_eq!(read, lists);
        // Right after `s.` the lists share only the quote, after it they part: the model
        // chooses.
        assert_eq!(from_rest(b"SELECT x FROM s.", &read).as_deref(), Some("\""));
        assert_eq!(from_rest(b"SELECT x FROM s.\"", &read), None);
        // Once `JOIN` is written, only the chain is left.
        assert_eq!(
            from_rest(b"SELECT x FROM s.\"Docs\" J", &read).as_deref(),
            Some("OIN s.\"Templates\" ON s.\"Templates\".id = s.\"Docs\".tid")
        );
        // `s."P` becomes one list only.
        assert_eq!(
            from_rest(b"SELECT x FROM s.\"P", &read).as_deref(),
            Some("aragraphs\"")
        );
        // Not where one list is whole and another goes on (`s."Docs"` may end there).
        assert_eq!(from_rest(b"SELECT x FROM s.\"Docs\"", &read), None);
        // Not inside a call's FROM.
        assert_eq!(from_rest(b"SELECT EXTRACT(YEAR FROM s.", &read), None);
        // Not after a WHERE, nor once a list is whole.
        assert_eq!(
            from_rest(b"SELECT x FROM s.\"Paragraphs\" WHERE ", &read),
            None
        );
        assert_eq!(from_rest(b"SELECT x FROM s.\"Paragraphs\"", &read), None);
    }

    #[test]
    fn a_lone_space_is_swapped_only_after_a_whole_operand_and_a_word_is_extended_only_glued() {
        assert!(ends_operand(
            b"SELECT a FROM t JOIN u ON u.\"id\" = t.\"id\""
        ));
        assert!(ends_operand(b"SELECT count(*)"));
        assert!(ends_operand(b"WHERE t.y > 1950"));
        for waits in [
            "WHERE t.y >",
            "ORDER BY t.y DESC LIMIT",
            "WHERE t.y BETWEEN",
            "SELECT",
        ] {
            assert!(!ends_operand(waits.as_bytes()), "{waits}");
        }
        assert!(extends_last_word(b"t.y > 1950", b".5"));
        assert!(extends_last_word(b"t.y > 1950", b"5"));
        assert!(extends_last_word(b"t.c = 'Brazil'", b"'"));
        assert!(!extends_last_word(b"t.c = 'Brazil'", b" LIMIT"));
        assert!(!extends_last_word(b"t.y > 1950", b" ORDER"));
    }

    #[test]
    fn an_order_by_is_told_from_the_operator_it_starts_like() {
        for p in [" ORDER", " ORD", " ORDER BY", " order"] {
            assert!(starts_order(p.as_bytes()), "{p}");
        }
        for p in [" OR", " O", ",", "ORDER", " ORDINAL", " WHERE"] {
            assert!(!starts_order(p.as_bytes()), "{p}");
        }
        // A clause after which no condition can be written, told from a condition's words.
        for p in [" LIMIT", " LI", " GROUP", " GR", " ORDER", " limit"] {
            assert!(starts_clause(p.as_bytes()), "{p}");
        }
        for p in [
            " L",
            " G",
            " OR",
            " AND",
            " WHERE",
            " LIKE",
            " GREATEST",
            "LIMIT",
        ] {
            assert!(!starts_clause(p.as_bytes()), "{p}");
        }
        assert!(starts_limit(b" LIMIT 5") && !starts_limit(b" LIKE"));
        // The model's own condition, where pgask writes the question's instead; not an AND
        // of a join's ON.
        let from = b"SELECT a.x FROM a JOIN b ON b.k = a.k";
        let wh = b"SELECT a.x FROM a WHERE a.y > 1";
        for p in [" WHERE", " WH", " WHERE lower("] {
            assert!(starts_condition(from, p.as_bytes()), "{p}");
        }
        for p in [" AND", " AN", " and"] {
            assert!(starts_condition(wh, p.as_bytes()), "{p}");
            assert!(!starts_condition(from, p.as_bytes()), "{p}");
        }
        for p in [" W", " A", " ASC", " AS", " ORDER", "WHERE", " ANY"] {
            assert!(!starts_condition(wh, p.as_bytes()), "{p}");
        }
    }

    #[test]
    fn a_query_is_not_ended_inside_what_the_model_is_still_writing() {
        assert!(continues(b"... LIMIT 1", b"0"));
        assert!(continues(b"SELECT count(*) FROM invoice", b"_line"));
        assert!(continues(b"... ORDER BY milliseconds", b" DESC"));
        assert!(continues(b"... ORDER BY milliseconds", b" DE"));
        assert!(continues(b"... FROM album a", b".title"));
        assert!(!continues(b"... WHERE a = 12", b" OR"));
        assert!(continues(b"... ORDER BY x DESC", b" LIMIT"));
        assert!(continues(b"... WHERE name = 'Guns N'", b"'"));
        assert!(!continues(b"SELECT a FROM t", b","));
        assert!(!continues(b"SELECT a FROM t", b" D"));
    }

    #[test]
    fn kept_logits_are_the_latest_positions_and_a_redraw_replaces_later_ones() {
        let mut r = super::Recent::new(3);
        for at in 0..5 {
            r.keep(at, &[at as f32; 4]);
        }
        assert_eq!(r.logits_at(4), Some(vec![4.0; 4]));
        // Going back to 3 forgets 4; 3 stays for a second step back there.
        assert_eq!(r.logits_at(3), Some(vec![3.0; 4]));
        assert_eq!(r.logits_at(4), None);
        assert_eq!(r.logits_at(3), Some(vec![3.0; 4]));
        // A new draw at 2 replaces what was kept for 2 and later.
        r.keep(2, &[9.0; 4]);
        assert_eq!(r.logits_at(3), None);
        assert_eq!(r.logits_at(2), Some(vec![9.0; 4]));
        assert_eq!(r.logits_at(1), None, "only the last 3 positions were kept");
        let mut none = super::Recent::new(0);
        none.keep(0, &[1.0]);
        assert_eq!(none.logits_at(0), None);
    }

    #[test]
    fn a_condition_is_written_anywhere_before_the_model_s_where() {
        assert!(before_where(b"SELECT a.x FROM a"));
        assert!(before_where(b"SELECT a.x FROM a JOIN b ON b.id = a.b_id"));
        assert!(!before_where(b"SELECT a.x FROM a WHERE a.y = 1"));
        assert!(!before_where(b"SELECT a.x"));
        // Words in literals and quoted names are no clause.
        assert!(before_where(b"SELECT 'x WHERE y' FROM a"));
        assert!(!before_where(b"SELECT \"a FROM b\" "));
        // Where the FROM list may end: not in a word it goes on with, a JOIN or an ON's AND;
        // ` OR` and ` G` start an ORDER BY and a GROUP BY there.
        let from = b"SELECT a.x FROM a JOIN b ON b.id = a.b_id";
        for piece in [" OR", " G", " ORDER", " W", "\n", " GROUP"] {
            assert!(ends_from_list(from, piece.as_bytes()), "{piece:?}");
        }
        for piece in [" J", " JOIN", " JO", " A", " AND", " ", "_id", "2"] {
            assert!(!ends_from_list(from, piece.as_bytes()), "{piece:?}");
        }
        assert!(!ends_from_list(
            b"SELECT a.x FROM a WHERE a.y = 1",
            b" ORDER"
        ));
    }

    #[test]
    fn a_steered_pass_turns_only_one_more_item_or_condition_outside_text() {
        for more in [&b","[..], b", ", b" AND", b" and", b" OR", b" OR "] {
            assert!(adds_one_more(more), "{}", String::from_utf8_lossy(more));
        }
        for not in [
            &b"5"[..],
            b".",
            b" IS",
            b" WHERE",
            b" FROM",
            b")",
            b" ",
            b"'",
            b" ORDER",
            b" ORD",
        ] {
            assert!(!adds_one_more(not), "{}", String::from_utf8_lossy(not));
        }
        assert!(in_text_literal(b"SELECT a FROM t WHERE t.b = 'x, y"));
        assert!(!in_text_literal(b"SELECT a FROM t WHERE t.b = 'it''s'"));
        // A quote inside a quoted name is no literal's.
        assert!(!in_text_literal(b"SELECT \"it's\".a FROM \"it's\""));
        assert!(in_text_literal(
            b"SELECT \"it's\".a FROM \"it's\" WHERE x = 'a"
        ));
        // As many again (at least 256), within the context, never below max_tokens.
        assert_eq!(steered_budget(384, 4000), 768);
        assert_eq!(steered_budget(48, 4000), 304);
        assert_eq!(steered_budget(384, 500), 500);
        assert_eq!(steered_budget(384, 384), 384);
    }

    #[test]
    fn a_loop_of_tokens_is_cut_but_a_long_list_is_not() {
        let mut t: Vec<u32> = (0..30).collect();
        assert!(!looping(&t));
        for _ in 0..8 {
            t.extend([7, 8, 9]);
        }
        assert!(looping(&t), "a 3-token cycle 8 times");
        let mut same = vec![1u32; 23];
        assert!(!looping(&same));
        same.push(1);
        assert!(looping(&same));
    }

    #[test]
    fn a_completion_prompt_ends_at_the_cue_with_no_bare_space() {
        use super::super::super::protocol::{ChatMessage, CUE};
        let p = super::completion(&[
            ChatMessage::new("system", "schema"),
            ChatMessage::new("user", "Question: how many?"),
            ChatMessage::new(CUE, "SQL:"),
        ]);
        assert!(p.ends_with("Question: how many?\nSQL:"), "{p:?}");
    }

    #[test]
    fn a_multibyte_name_in_the_list_is_no_panic() {
        assert!(!repeats_item("SELECT \"prénom\"".as_bytes(), b","));
        assert!(repeats_item(
            "SELECT \"prénom\", \"prénom\"".as_bytes(),
            b","
        ));
    }

    #[test]
    fn a_repeated_select_item_is_caught_where_it_ends() {
        assert!(repeats_item(b"SELECT artist_id, artist_id", b","));
        assert!(repeats_item(b"SELECT a.name, count(*), a.name", b" FROM"));
        assert!(!repeats_item(b"SELECT artist_id, name", b","));
        assert!(!repeats_item(b"SELECT artist_id, artist_", b"id"));
        assert!(repeats_item(b"SELECT t.a, t.b, t.a", b" AS"));
        assert_eq!(super::last_word_start(b"SELECT a, count(*)"), 10);
        assert_eq!(super::last_word_start(b"SELECT a, artist.name"), 17);
        // ` FROM` in pieces: the space read with the next piece, or a start of it.
        assert!(repeats_item(b"SELECT count(*), count(*) ", b"FROM"));
        assert!(repeats_item(b"SELECT count(*), count(*)", b" F"));
        assert!(!repeats_item(b"SELECT count(*), count(*)", b" "));
        assert!(!repeats_item(b"SELECT count(*), count(*) ", b"+"));
        assert!(!repeats_item(b"SELECT t.a, t.b", b" AS"));
        assert!(!repeats_item(b"SELECT t.a, CAST(t.a", b" AS"));
        assert!(!repeats_item(b"SELECT a FROM t WHERE x IN (SELECT b", b","));
        assert!(repeats_item(
            b"SELECT x FROM t WHERE y IN (SELECT b, b",
            b","
        ));
        assert!(!repeats_item(b"SELECT 'a, a', a", b","));
        assert!(!repeats_item(b"SELECT count(a, a)", b","));
        assert!(repeats_item(
            b"SELECT artist_id, artist_id AS artist_id",
            b","
        ));
        assert!(!repeats_item(
            b"SELECT artist_id, artist_id + 1 AS next",
            b","
        ));
    }
}
