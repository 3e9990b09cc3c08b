//! Where SQL comes from: the local llama.cpp worker (the default), or a scripted test double
//! that returns chosen SQL in order, so the loop around generation can be tested exactly.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::protocol::{Output, Stop};
use super::supervisor::{Request, Supervisor, SupervisorError};

/// An LLM backend.
pub enum Backend {
    Llama(Box<Supervisor>),
    /// Answers with these texts in turn; when they run out, the last one again.
    Scripted(Mutex<VecDeque<String>>),
}

impl Backend {
    pub fn scripted<S: Into<String>>(answers: impl IntoIterator<Item = S>) -> Backend {
        Backend::Scripted(Mutex::new(answers.into_iter().map(Into::into).collect()))
    }

    pub async fn generate(&self, req: Request) -> Result<Output, SupervisorError> {
        match self {
            Backend::Llama(s) => s.generate(req).await,
            Backend::Scripted(answers) => {
                let mut a = answers.lock().unwrap_or_else(|e| e.into_inner());
                let text = if a.len() > 1 {
                    a.pop_front().unwrap_or_default()
                } else {
                    a.front().cloned().unwrap_or_default()
                };
                Ok(Output {
                    generated_tokens: text.split_whitespace().count(),
                    text,
                    prompt_tokens: 0,
                    reused_tokens: 0,
                    grammar_resamples: 0,
                    grammar_checked: 0,
                    stop: Stop::Eos,
                    prompt_ms: 0.0,
                    generate_ms: 0.0,
                    grammar_ms: 0.0,
                    grammar_build_ms: 0.0,
                })
            }
        }
    }
}
