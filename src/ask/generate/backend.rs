//! Where SQL comes from: the local llama.cpp worker (the default), an OpenAI-compatible server
//! (`llm.backend = "openai"`), or a scripted test double that returns chosen SQL in order, so the
//! loop around generation can be tested exactly.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use super::openai::OpenAi;
use super::protocol::{FirstPass, Output, Stop};
use super::supervisor::{Request, Supervisor, WorkerSpec};
use super::GenerateError;
use crate::config::{LlmBackend, LlmConfig};

/// A scripted answer that starts with this is a generation that ended at a dead end: `dead
/// end: <its text> => <the strict fallback's query>` (the latter only when the request has a
/// fallback grammar; without ` => …`, the fallback left no query either, as when it is
/// dropped).
pub const SCRIPTED_DEAD_END: &str = "dead end: ";

/// An LLM backend.
pub enum Backend {
    Llama(Box<Supervisor>),
    OpenAi(Box<OpenAi>),
    /// The configured backend could not be set up; every ask gets this error.
    Broken(String),
    /// A test double: answers with chosen texts in turn.
    Scripted(Script),
}

/// Chosen answers (when they run out, the last one again), an optional delay before each, and
/// the requests received, so tests can look at the prompts.
#[derive(Default)]
pub struct Script {
    answers: Mutex<VecDeque<String>>,
    delay: Duration,
    seen: Mutex<Vec<Request>>,
}

impl Script {
    /// The requests received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Backend {
    /// The backend `[llm]` asks for. Nothing is loaded or contacted until the first ask.
    pub fn from_config(llm: &LlmConfig) -> Backend {
        match llm.backend {
            LlmBackend::Llama => Backend::Llama(Box::new(Supervisor::new(WorkerSpec {
                program: std::env::current_exe().unwrap_or_else(|_| "pgask".into()),
                model: llm.model.clone(),
                threads: llm.effective_threads(),
                context: llm.context,
                chat_template: llm.chat_template.clone(),
                top_k: llm.top_k,
                load_timeout: Duration::from_secs(llm.load_timeout_secs),
            }))),
            LlmBackend::Openai => match OpenAi::new(llm) {
                Ok(api) => Backend::OpenAi(Box::new(api)),
                Err(e) => Backend::Broken(e.to_string()),
            },
        }
    }

    pub fn scripted<S: Into<String>>(answers: impl IntoIterator<Item = S>) -> Backend {
        Self::scripted_slowly(answers, Duration::ZERO)
    }

    /// A script that waits `delay` before each answer (a long generation, for cancel tests).
    pub fn scripted_slowly<S: Into<String>>(
        answers: impl IntoIterator<Item = S>,
        delay: Duration,
    ) -> Backend {
        Backend::Scripted(Script {
            answers: Mutex::new(answers.into_iter().map(Into::into).collect()),
            delay,
            seen: Mutex::new(Vec::new()),
        })
    }

    /// Whether the model is a base model prompted as a plain completion (known once the local
    /// worker has loaded it; a chat API never is).
    pub async fn base_model(&self) -> bool {
        match self {
            Backend::Llama(s) => s.completion().await,
            _ => false,
        }
    }

    pub async fn generate(&self, req: Request) -> Result<Output, GenerateError> {
        match self {
            Backend::Llama(s) => Ok(s.generate(req).await?),
            Backend::OpenAi(api) => Ok(api.generate(req).await?),
            Backend::Broken(why) => Err(GenerateError::Unavailable(why.clone())),
            Backend::Scripted(script) => {
                let fallback = req.fallback.is_some();
                script
                    .seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(req);
                if !script.delay.is_zero() {
                    tokio::time::sleep(script.delay).await;
                }
                let mut a = script.answers.lock().unwrap_or_else(|e| e.into_inner());
                let text = if a.len() > 1 {
                    a.pop_front().unwrap_or_default()
                } else {
                    a.front().cloned().unwrap_or_default()
                };
                // `dead end: <text> => <strict query>`: a first pass that left no query, and
                // the query a request with a fallback grammar gets written after it.
                let (text, stop, fallback_from) = match text.strip_prefix(SCRIPTED_DEAD_END) {
                    Some(rest) => {
                        let (first, strict) = match rest.split_once(" => ") {
                            Some((first, strict)) => (first, Some(strict)),
                            None => (rest, None),
                        };
                        let pass = FirstPass {
                            text: first.to_string(),
                            stop: Stop::DeadEnd,
                        };
                        match (fallback, strict) {
                            (true, Some(strict)) => (strict.to_string(), Stop::Eos, Some(pass)),
                            (true, None) => (first.to_string(), Stop::DeadEnd, Some(pass)),
                            (false, _) => (first.to_string(), Stop::DeadEnd, None),
                        }
                    }
                    None => (text, Stop::Eos, None),
                };
                Ok(Output {
                    generated_tokens: text.split_whitespace().count(),
                    text,
                    prompt_tokens: 0,
                    reused_tokens: 0,
                    grammar_resamples: 0,
                    grammar_checked: 0,
                    stop,
                    prompt_ms: 0.0,
                    generate_ms: 0.0,
                    grammar_ms: 0.0,
                    grammar_build_ms: 0.0,
                    mean_logprob: 0.0,
                    finished: None,
                    finish_ms: 0.0,
                    fallback_from,
                    scope_refusals: 0,
                    backtracks: 0,
                    reused_logits: 0,
                })
            }
        }
    }
}
