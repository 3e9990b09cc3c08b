//! SQL generation: the prompt from the chosen tables, the GBNF grammar that keeps the model to
//! real names and read-only SQL, and the LLM that writes it. llama.cpp runs in a supervised
//! worker process ([`supervisor`] on pgask's side, [`worker`] inside it), so nothing it does can
//! take the proxy down, and inference never runs on the async I/O threads; or an
//! OpenAI-compatible server does the inference ([`openai`]).

pub mod backend;
pub mod demos;
pub mod grammar;
pub mod llama;
pub mod openai;
pub mod prompt;
pub mod protocol;
pub mod scope;
pub mod shape;
pub mod shaped;
pub mod supervisor;
pub mod tiny;
pub mod worker;

use crate::ask::retrieve::rank::Ranked;
use backend::Backend;
use protocol::{ChatMessage, Output};
use supervisor::{Request, SupervisorError};

/// Generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Worker(#[from] SupervisorError),
    #[error(transparent)]
    Api(#[from] openai::ApiError),
    #[error("the LLM backend is not usable: {0}")]
    Unavailable(String),
    #[error("the question does not seem answerable from this database's tables: {0}")]
    Unanswerable(String),
}

/// Sampling settings of one attempt.
#[derive(Debug, Clone)]
pub struct Settings {
    pub max_tokens: usize,
    pub temperature: f32,
    pub seed: u32,
    pub candidates: usize,
    /// Steps the candidates start hotter than the first attempt's: a retry's (attempt `n`
    /// shifts by `n - 1`) would otherwise decode greedily into the same dead end again.
    pub shift: usize,
}

/// One generated query.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub sql: String,
    /// False when generation stopped at `max_tokens` (the SQL is cut off), and for a query
    /// written under the strict fallback.
    pub complete: bool,
    pub output: Output,
}

/// Generates `settings.candidates` queries, each with its own seed; after the first the
/// temperature rises so candidates differ even when the first is greedy. A retry
/// (`settings.shift > 0`) starts one step further along that ladder per failed attempt. A
/// candidate that leaves no query under `grammar` is written again under `fallback` (the local
/// backend only: [`Job::fallback`](protocol::Job::fallback)).
pub async fn candidates(
    llm: &Backend,
    messages: &[ChatMessage],
    (grammar, fallback): (&grammar::Grammar, Option<&grammar::Grammar>),
    scope: Option<&scope::Scope>,
    settings: &Settings,
) -> Result<Vec<Candidate>, GenerateError> {
    let mut out = Vec::with_capacity(settings.candidates);
    for i in 0..settings.candidates.max(1) {
        let step = i + settings.shift;
        let temperature = ladder(settings.temperature, step);
        let output = llm
            .generate(Request {
                messages: messages.to_vec(),
                grammar: Some(grammar.text.clone()),
                max_tokens: settings.max_tokens,
                temperature,
                // Apart from every earlier attempt's candidates.
                seed: settings
                    .seed
                    .wrapping_add((i + settings.shift * settings.candidates.max(1)) as u32),
                scope: scope.cloned(),
                closing: true,
                fallback: fallback.map(|g| g.text.clone()),
            })
            .await?;
        tracing::debug!(
            prompt_tokens = output.prompt_tokens,
            reused_tokens = output.reused_tokens,
            prompt_ms = output.prompt_ms,
            generated = output.generated_tokens,
            generate_ms = output.generate_ms,
            grammar_build_ms = output.grammar_build_ms,
            scope_refusals = output.scope_refusals,
            backtracks = output.backtracks,
            reused_logits = output.reused_logits,
            stop = ?output.stop,
            fallback = output.fallback_from.is_some(),
            temperature,
            sql = %output.text.trim(),
            "candidate"
        );
        out.push(Candidate {
            sql: output.text.trim().to_string(),
            // (A strict fallback is no query the model ended under the attempt's grammar.)
            complete: output.stop.complete() && output.fallback_from.is_none(),
            output,
        });
    }
    Ok(out)
}

/// The temperature of the candidate `step` places along: the configured one first, then from at
/// least 0.3 up by 0.2 a step, never above 1.1 (hotter, a small model's SQL falls apart) or
/// the configured temperature when that is higher.
fn ladder(base: f32, step: usize) -> f32 {
    if step == 0 {
        base
    } else {
        (base.max(0.3) + 0.2 * step.min(4) as f32).min(base.max(1.1))
    }
}

/// Refuses a question whose best table scores below `min_score` (0 turns the check off).
pub fn check_scores(ranked: &[Ranked], min_score: f32) -> Result<(), GenerateError> {
    let best = ranked.iter().map(|r| r.score).fold(f32::MIN, f32::max);
    if ranked.is_empty() || (min_score > 0.0 && best < min_score) {
        return Err(GenerateError::Unanswerable(format!(
            "no table matches it well enough (best score {:.3}, threshold {min_score})",
            if ranked.is_empty() { 0.0 } else { best }
        )));
    }
    Ok(())
}

/// Asks the model a grammar-constrained yes/no: can the question be answered from the schema?
pub async fn check_with_model(
    llm: &Backend,
    messages: &[ChatMessage],
    seed: u32,
) -> Result<(), GenerateError> {
    let out = llm
        .generate(Request {
            messages: messages.to_vec(),
            grammar: Some(grammar::yes_no().text),
            max_tokens: 2,
            temperature: 0.0,
            seed,
            scope: None,
            closing: false,
            fallback: None,
        })
        .await?;
    if out.text.trim() == "no" {
        return Err(GenerateError::Unanswerable(
            "the model judged that these tables cannot answer it".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::ladder;

    #[test]
    fn retries_and_later_candidates_run_hotter_within_a_cap() {
        let t: Vec<f32> = (0..7).map(|s| ladder(0.0, s)).collect();
        let want = [0.0, 0.5, 0.7, 0.9, 1.1, 1.1, 1.1];
        for (got, want) in t.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{t:?}");
        }
        // A configured temperature above the cap is kept, never lowered or raised further.
        assert!((ladder(2.0, 3) - 2.0).abs() < 1e-6);
        assert!((ladder(0.8, 0) - 0.8).abs() < 1e-6);
    }
}
