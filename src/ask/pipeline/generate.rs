//! Stage 2, generation: the prompt from the context, a turn at the model (first come, first
//! served, with `llm.timeout_secs` counted from the first wait), the optional relevance check,
//! and `llm.candidates` queries from the model, any of which a client cancel stops.

use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;

use super::context::Context;
use super::{AskError, Asker};
use crate::ask::execute::wire;
use crate::ask::generate::prompt::{self, PromptInput};
use crate::ask::generate::{self as generation, Candidate, Settings};
use crate::config::Config;
use crate::session::link::Link;

/// The ask's time at the model: its deadline (set at the first wait) and its turn (held for
/// every attempt, given up while rows stream to the client).
pub(super) struct ModelTime {
    timeout_secs: u64,
    deadline: Option<tokio::time::Instant>,
    turn: Option<OwnedSemaphorePermit>,
}

impl ModelTime {
    pub fn new(timeout_secs: u64) -> ModelTime {
        ModelTime {
            timeout_secs,
            deadline: None,
            turn: None,
        }
    }

    /// Frees the model for the next ask (a retry waits for its turn again).
    pub fn release(&mut self) {
        self.turn = None;
    }

    fn deadline(&mut self) -> tokio::time::Instant {
        let secs = if self.timeout_secs == 0 {
            365 * 24 * 3600
        } else {
            self.timeout_secs
        };
        *self
            .deadline
            .get_or_insert_with(|| tokio::time::Instant::now() + Duration::from_secs(secs))
    }
}

/// Sampling settings of attempt `n` (from 1) from the configuration.
pub(super) fn settings(cfg: &Config, n: usize) -> Settings {
    Settings {
        max_tokens: cfg.llm.max_tokens,
        temperature: cfg.llm.temperature,
        seed: cfg.llm.seed,
        candidates: cfg.llm.candidates,
        shift: n.saturating_sub(1),
    }
}

impl Asker {
    /// One attempt's candidates for `input` over the context's grammar.
    pub(super) async fn generate(
        &self,
        link: &mut Link<'_>,
        ctx: &Context,
        input: &PromptInput<'_>,
        model: &mut ModelTime,
        cfg: &Config,
        attempt: (usize, usize),
    ) -> Result<Vec<Candidate>, AskError> {
        let cancelled = link.cancelled();
        tokio::pin!(cancelled);
        if link.is_cancelled() {
            return Err(AskError::Cancelled);
        }
        let templates = self.templates.load();
        let messages = prompt::messages(&templates, &ctx.catalog, input);
        tracing::debug!(?messages, "prompt");
        tracing::trace!(grammar = %ctx.grammar.text, "grammar");
        let backend = self.backend.load_full();
        let (n, of) = attempt;
        let settings = settings(cfg, n);
        let expired = tokio::time::sleep_until(model.deadline());
        tokio::pin!(expired);
        let timeout = model.timeout_secs;
        if model.turn.is_none() {
            let wait = self.model_turn(link);
            model.turn = Some(tokio::select! {
                r = wait => r?,
                () = &mut cancelled => return Err(AskError::Cancelled),
                () = &mut expired => return Err(AskError::Timeout(timeout)),
            });
            if cfg.llm.relevance_check {
                // A grammar-constrained yes/no first: no SQL for a question the tables cannot
                // answer.
                let check = prompt::relevance(&templates, &ctx.catalog, input);
                tokio::select! {
                    r = generation::check_with_model(&backend, &check, settings.seed) => r?,
                    () = &mut cancelled => return Err(AskError::Cancelled),
                    () = &mut expired => return Err(AskError::Timeout(timeout)),
                }
            }
        }
        let k = settings.candidates.max(1);
        link.client(wire::notice(&if k > 1 {
            format!("pgask: generating {k} candidate queries (attempt {n} of {of})…")
        } else {
            format!("pgask: generating SQL (attempt {n} of {of})…")
        }))
        .await?;
        let scope = cfg.llm.scope_check.then_some(&ctx.scope);
        // The strict fallback only with the scope check, which judges it; on every attempt (a
        // question that asks for an order too: its steered pass takes ` ORDER` where it would
        // end without one, and a retry under the full grammar sorted no better with Gemma,
        // BENCHMARKS.md, and cost an attempt).
        let fallback = ctx.fallback.as_ref().filter(|_| scope.is_some());
        let generated = tokio::select! {
            r = generation::candidates(&backend, &messages, (&ctx.grammar, fallback), scope, &settings) => r?,
            () = &mut cancelled => return Err(AskError::Cancelled),
            () = &mut expired => return Err(AskError::Timeout(timeout)),
        };
        Ok(generated)
    }

    /// Waits for a turn at the model (first come, first served), telling the user how many asks
    /// are ahead; refuses at once when `llm.max_queue` asks already wait. The turn is held for
    /// the rest of the ask (all its attempts), so asks finish one after another instead of all
    /// late together.
    async fn model_turn(
        &self,
        link: &mut Link<'_>,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, AskError> {
        use std::sync::atomic::Ordering;
        if let Ok(p) = self.model_slots.clone().try_acquire_owned() {
            return Ok(p);
        }
        let max = self.cfg().llm.max_queue;
        let waiting = self.model_waiting.fetch_add(1, Ordering::AcqRel);
        struct Leave<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let _leave = Leave(&self.model_waiting);
        if waiting >= max {
            return Err(AskError::QueueFull { waiting, max });
        }
        let ahead = waiting + self.parallel;
        link.client(wire::notice(&format!(
            "pgask: waiting for the model, {ahead} ask{} ahead of this one…",
            if ahead == 1 { "" } else { "s" }
        )))
        .await?;
        self.model_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| AskError::Server(e.to_string()))
    }
}
