//! The inference worker process (`pgask llm-worker`): loads the model once, then answers jobs
//! from stdin one at a time on its main thread while a reader thread takes cancels. Anything that
//! aborts inside llama.cpp ends only this process; the [`super::supervisor`] restarts it.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};

use super::llama::{Engine, EngineConfig, EngineError};
use super::protocol::{FromWorker, Job, Output, Stop, ToWorker};

/// Runs the worker until stdin closes; returns the process exit code.
pub fn run(model: &Path, cfg: &EngineConfig) -> i32 {
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let mut engine = match Engine::load(model, cfg) {
        Ok(e) => e,
        Err(e) => {
            send(
                &out,
                &FromWorker::LoadFailed {
                    error: e.to_string(),
                },
            );
            return 2;
        }
    };
    send(
        &out,
        &FromWorker::Ready {
            model: engine.description.clone(),
            completion: engine.completion(),
        },
    );
    let cancelled: Arc<Mutex<HashSet<u64>>> = Arc::default();
    let (tx, rx) = mpsc::channel::<Job>();
    let reader_cancelled = cancelled.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str::<ToWorker>(&line) {
                Ok(ToWorker::Generate(job)) => {
                    if tx.send(*job).is_err() {
                        break;
                    }
                }
                Ok(ToWorker::Cancel { id }) => {
                    if let Ok(mut c) = reader_cancelled.lock() {
                        c.insert(id);
                    }
                }
                Err(e) => eprintln!("pgask llm-worker: bad request line: {e}"),
            }
        }
        // stdin closed: dropping `tx` ends the job loop.
    });
    for job in rx {
        let is_cancelled = || {
            cancelled
                .lock()
                .map(|c| c.contains(&job.id))
                .unwrap_or(false)
        };
        let msg = if is_cancelled() {
            FromWorker::Done {
                id: job.id,
                output: cancelled_output(),
            }
        } else {
            match engine.run(&job, &is_cancelled) {
                Ok(output) => FromWorker::Done { id: job.id, output },
                Err(e) => FromWorker::Failed {
                    id: job.id,
                    too_long: matches!(e, EngineError::TooLong { .. }),
                    error: e.to_string(),
                },
            }
        };
        if let Ok(mut c) = cancelled.lock() {
            c.remove(&job.id);
        }
        send(&out, &msg);
    }
    0
}

fn cancelled_output() -> Output {
    Output {
        text: String::new(),
        prompt_tokens: 0,
        reused_tokens: 0,
        generated_tokens: 0,
        grammar_resamples: 0,
        grammar_checked: 0,
        stop: Stop::Cancelled,
        prompt_ms: 0.0,
        generate_ms: 0.0,
        grammar_ms: 0.0,
        grammar_build_ms: 0.0,
        mean_logprob: 0.0,
        finished: None,
        finish_ms: 0.0,
        fallback_from: None,
        scope_refusals: 0,
        backtracks: 0,
        reused_logits: 0,
    }
}

fn send(out: &Mutex<std::io::Stdout>, msg: &FromWorker) {
    let Ok(line) = serde_json::to_string(msg) else {
        return;
    };
    if let Ok(mut o) = out.lock() {
        let _ = writeln!(o, "{line}");
        let _ = o.flush();
    }
}
