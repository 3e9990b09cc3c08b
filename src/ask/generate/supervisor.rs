//! pgask's side of the inference worker: starts `pgask llm-worker` on first use, sends it jobs,
//! routes results back to the waiting asks, turns a dropped ask into a cancel, and starts a new
//! worker after one dies (a crash fails only the jobs it had; every other session goes on).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{oneshot, Mutex};

use super::protocol::{ChatMessage, FromWorker, Job, Output, ToWorker};

/// Why a generation did not produce output.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SupervisorError {
    #[error("no LLM model at {0}: run `pgask models fetch`, or put a GGUF file there (see models/README.md)")]
    NoModel(String),
    #[error("cannot start the inference worker: {0}")]
    Spawn(String),
    #[error("the inference worker could not load the model: {0}")]
    Load(String),
    #[error("the inference worker died while generating (it is restarted for the next ask)")]
    Died,
    #[error("generation failed: {0}")]
    Failed(String),
    #[error("{0}")]
    TooLong(String),
}

impl SupervisorError {
    /// The SQLSTATE of an ask that failed this way, and a hint for the user.
    pub fn sqlstate_and_hint(&self) -> (&'static str, &'static str) {
        match self {
            SupervisorError::NoModel(_) => (
                "58P01",
                "pgask needs a GGUF model at llm.model: run `pgask models fetch`, or put one there by hand",
            ),
            SupervisorError::Spawn(_) => (
                "58000",
                "pgask could not start its inference worker process; see pgask's log",
            ),
            SupervisorError::Load(_) => (
                "58030",
                "the model file could not be loaded: check that llm.model is a complete GGUF file and that there is memory for it",
            ),
            SupervisorError::Died => (
                "XX000",
                "the inference worker crashed and is restarted; ask again",
            ),
            SupervisorError::Failed(_) => ("XX000", "see pgask's log for the worker's error"),
            SupervisorError::TooLong(_) => (
                "54000",
                "ask a shorter question, or raise llm.context (or lower retrieval.top_k)",
            ),
        }
    }
}

/// How to start the worker.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    pub program: PathBuf,
    pub model: PathBuf,
    pub threads: u32,
    pub context: u32,
    pub chat_template: String,
    pub top_k: i32,
    /// How long loading the model may take.
    pub load_timeout: Duration,
}

impl WorkerSpec {
    fn args(&self) -> Vec<String> {
        vec![
            "llm-worker".into(),
            "--model".into(),
            self.model.display().to_string(),
            "--threads".into(),
            self.threads.to_string(),
            "--context".into(),
            self.context.to_string(),
            "--chat-template".into(),
            self.chat_template.clone(),
            "--top-k".into(),
            self.top_k.to_string(),
        ]
    }
}

type Pending = Arc<StdMutex<HashMap<u64, oneshot::Sender<Result<Output, SupervisorError>>>>>;

struct Running {
    child: Child,
    stdin: Arc<Mutex<ChildStdin>>,
    pending: Pending,
    alive: Arc<AtomicBool>,
    model: String,
    completion: bool,
}

/// One supervised worker; cheap to share behind an `Arc`.
pub struct Supervisor {
    spec: WorkerSpec,
    running: Mutex<Option<Running>>,
    next_id: AtomicU64,
    starts: AtomicU64,
}

/// A generation request (the supervisor assigns the id).
#[derive(Debug, Clone)]
pub struct Request {
    pub messages: Vec<ChatMessage>,
    pub grammar: Option<String>,
    pub max_tokens: usize,
    pub temperature: f32,
    pub seed: u32,
    /// Names the sampler checks each token against ([`Scope`](super::scope::Scope)).
    pub scope: Option<super::scope::Scope>,
    /// Steer the query to an end before `max_tokens` ([`Job::closing`]).
    pub closing: bool,
    /// The grammar a candidate that leaves no query is written again under ([`Job::fallback`]).
    pub fallback: Option<String>,
}

impl Supervisor {
    pub fn new(spec: WorkerSpec) -> Supervisor {
        Supervisor {
            spec,
            running: Mutex::new(None),
            next_id: AtomicU64::new(1),
            starts: AtomicU64::new(0),
        }
    }

    /// How many worker processes were started so far.
    pub fn starts(&self) -> u64 {
        self.starts.load(Ordering::Relaxed)
    }

    /// The running worker's pid, if any.
    pub async fn pid(&self) -> Option<u32> {
        let r = self.running.lock().await;
        r.as_ref()
            .filter(|r| r.alive.load(Ordering::Relaxed))
            .and_then(|r| r.child.id())
    }

    /// The loaded model's description, starting the worker if needed.
    pub async fn model(&self) -> Result<String, SupervisorError> {
        let mut r = self.running.lock().await;
        self.ensure(&mut r).await?;
        Ok(r.as_ref().map(|r| r.model.clone()).unwrap_or_default())
    }

    /// Whether the running worker lays prompts out as a plain completion (a base model);
    /// false before a worker has started.
    pub async fn completion(&self) -> bool {
        self.running
            .lock()
            .await
            .as_ref()
            .is_some_and(|r| r.completion)
    }

    /// Generates; dropping the returned future cancels the job within one token.
    pub async fn generate(&self, req: Request) -> Result<Output, SupervisorError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let stdin = {
            let mut r = self.running.lock().await;
            self.ensure(&mut r).await?;
            let Some(run) = r.as_ref() else {
                return Err(SupervisorError::Died);
            };
            if let Ok(mut p) = run.pending.lock() {
                p.insert(id, tx);
            }
            run.stdin.clone()
        };
        let job = ToWorker::Generate(Box::new(Job {
            id,
            messages: req.messages,
            grammar: req.grammar,
            max_tokens: req.max_tokens,
            temperature: req.temperature,
            seed: req.seed,
            always_mask: false,
            scope: req.scope,
            closing: req.closing,
            fallback: req.fallback,
        }));
        let guard = CancelOnDrop {
            id,
            stdin: Some(stdin.clone()),
        };
        write_line(&stdin, &job).await?;
        let result = rx.await.unwrap_or(Err(SupervisorError::Died));
        guard.disarm();
        result
    }

    async fn ensure(&self, running: &mut Option<Running>) -> Result<(), SupervisorError> {
        if let Some(r) = running.as_mut() {
            if r.alive.load(Ordering::Relaxed) {
                return Ok(());
            }
            let _ = r.child.start_kill();
            let _ = r.child.wait().await;
            *running = None;
        }
        if !self.spec.model.is_file() {
            return Err(SupervisorError::NoModel(
                self.spec.model.display().to_string(),
            ));
        }
        *running = Some(self.spawn().await?);
        Ok(())
    }

    async fn spawn(&self) -> Result<Running, SupervisorError> {
        let mut child = Command::new(&self.spec.program)
            .args(self.spec.args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| SupervisorError::Spawn(format!("{}: {e}", self.spec.program.display())))?;
        self.starts.fetch_add(1, Ordering::Relaxed);
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(SupervisorError::Spawn("no pipes to the worker".into()));
        };
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(self.spec.load_timeout, lines.next_line())
            .await
            .map_err(|_| SupervisorError::Load("timed out loading the model".into()))?
            .map_err(|e| SupervisorError::Spawn(e.to_string()))?;
        let (model, completion) = match first.as_deref().map(serde_json::from_str::<FromWorker>) {
            Some(Ok(FromWorker::Ready { model, completion })) => (model, completion),
            Some(Ok(FromWorker::LoadFailed { error })) => return Err(SupervisorError::Load(error)),
            Some(Ok(other)) => {
                return Err(SupervisorError::Spawn(format!("unexpected {other:?}")));
            }
            Some(Err(e)) => return Err(SupervisorError::Spawn(e.to_string())),
            None => {
                return Err(SupervisorError::Load(
                    "the worker exited while loading".into(),
                ))
            }
        };
        tracing::info!(model, "inference worker ready");
        let pending: Pending = Arc::default();
        let alive = Arc::new(AtomicBool::new(true));
        let (p, a) = (pending.clone(), alive.clone());
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                match serde_json::from_str::<FromWorker>(&line) {
                    Ok(FromWorker::Done { id, output }) => deliver(&p, id, Ok(output)),
                    Ok(FromWorker::Failed {
                        id,
                        error,
                        too_long,
                    }) => deliver(
                        &p,
                        id,
                        Err(if too_long {
                            SupervisorError::TooLong(error)
                        } else {
                            SupervisorError::Failed(error)
                        }),
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("bad line from the inference worker: {e}"),
                }
            }
            // The worker is gone: every waiting ask fails now, the next one restarts it.
            a.store(false, Ordering::Relaxed);
            tracing::warn!("inference worker exited");
            if let Ok(mut p) = p.lock() {
                for (_, tx) in p.drain() {
                    let _ = tx.send(Err(SupervisorError::Died));
                }
            }
        });
        Ok(Running {
            child,
            stdin: Arc::new(Mutex::new(stdin)),
            pending,
            alive,
            model,
            completion,
        })
    }
}

fn deliver(p: &Pending, id: u64, r: Result<Output, SupervisorError>) {
    let tx = p.lock().ok().and_then(|mut p| p.remove(&id));
    if let Some(tx) = tx {
        let _ = tx.send(r);
    }
}

async fn write_line(stdin: &Mutex<ChildStdin>, msg: &ToWorker) -> Result<(), SupervisorError> {
    let mut line =
        serde_json::to_string(msg).map_err(|e| SupervisorError::Failed(e.to_string()))?;
    line.push('\n');
    let mut s = stdin.lock().await;
    s.write_all(line.as_bytes())
        .await
        .map_err(|_| SupervisorError::Died)?;
    s.flush().await.map_err(|_| SupervisorError::Died)
}

/// Sends a cancel for a job whose waiter went away before its result arrived.
struct CancelOnDrop {
    id: u64,
    stdin: Option<Arc<Mutex<ChildStdin>>>,
}

impl CancelOnDrop {
    fn disarm(mut self) {
        self.stdin = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(stdin) = self.stdin.take() {
            let id = self.id;
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = write_line(&stdin, &ToWorker::Cancel { id }).await;
                });
            }
        }
    }
}
