//! The proxy process: the listener with its connection cap, the state sessions share, SIGHUP
//! reload, and graceful shutdown (stop accepting, close idle sessions, give busy ones a grace
//! period, then close them with 57P01).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn, Instrument};

use crate::config::{Config, ConfigError, Overrides};
use crate::net::tls::{self, TlsError};
use crate::session::cancel::CancelMap;
use crate::session::request::{AskHook, Passthrough, RequestHook};
use crate::session::upstream::Upstream;

/// The proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    #[error("cannot install signal handlers: {0}")]
    Signal(std::io::Error),
}

/// What the config turns into: TLS material and the upstream, rebuilt on reload.
pub struct Runtime {
    pub acceptor: Option<tokio_rustls::TlsAcceptor>,
    pub upstream: Upstream,
}

impl Runtime {
    pub fn build(config: &Config) -> Result<Runtime, TlsError> {
        let acceptor = match (&config.tls.cert, &config.tls.key) {
            (Some(cert), Some(key)) if config.client_tls_enabled() => {
                Some(tls::acceptor(cert, key)?)
            }
            _ => None,
        };
        Ok(Runtime {
            acceptor,
            upstream: Upstream::from_config(&config.upstream)?,
        })
    }
}

/// State every session shares.
pub struct Shared {
    pub config: ArcSwap<Config>,
    pub runtime: ArcSwap<Runtime>,
    pub cancels: CancelMap,
    pub hook: Arc<dyn RequestHook>,
    /// The ask pipeline; `None` when asks are turned off (`ask.enabled = false`).
    pub asker: Option<Arc<crate::ask::pipeline::Asker>>,
    /// Cancelled when shutdown starts: stop accepting, close sessions as they become idle.
    pub shutdown: CancellationToken,
    /// Cancelled when the grace period is over: close every session.
    pub force_close: CancellationToken,
}

impl Shared {
    pub fn new(config: Config) -> Result<Shared, TlsError> {
        let runtime = Runtime::build(&config)?;
        let asker = config
            .ask
            .enabled
            .then(|| Arc::new(crate::ask::pipeline::Asker::new(&config)));
        let hook: Arc<dyn RequestHook> = if asker.is_some() {
            Arc::new(AskHook)
        } else {
            Arc::new(Passthrough)
        };
        Ok(Shared {
            asker,
            hook,
            config: ArcSwap::from_pointee(config),
            runtime: ArcSwap::from_pointee(runtime),
            cancels: CancelMap::default(),
            shutdown: CancellationToken::new(),
            force_close: CancellationToken::new(),
        })
    }
}

/// Where a reload reads its config from.
pub struct ReloadSource {
    pub path: PathBuf,
    pub required: bool,
    pub overrides: Overrides,
}

/// A bound, running proxy.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl Server {
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        let addr = config.listen_addr;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        Ok(Server {
            listener,
            shared: Arc::new(Shared::new(config)?),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Accepts until shutdown starts, then waits for sessions to finish (closing the rest when
    /// the grace period ends).
    pub async fn run(self) {
        let shared = self.shared;
        let max = shared.config.load().max_connections;
        let permits = Arc::new(Semaphore::new(max));
        let sessions = TaskTracker::new();
        let mut next_id: u64 = 0;
        info!(addr = %self.listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "pgask listening");
        loop {
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                () = shared.shutdown.cancelled() => break,
            };
            let (tcp, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            next_id += 1;
            let permit = permits.clone().try_acquire_owned().ok();
            let span = tracing::info_span!("session", id = next_id, %peer);
            sessions.spawn(crate::session::serve(tcp, shared.clone(), permit).instrument(span));
        }
        drop(self.listener);
        sessions.close();
        let grace = Duration::from_secs(shared.config.load().shutdown_grace_secs);
        info!(
            sessions = sessions.len(),
            grace_secs = grace.as_secs(),
            "shutting down"
        );
        if tokio::time::timeout(grace, sessions.wait()).await.is_err() {
            warn!(
                sessions = sessions.len(),
                "grace period over; closing the remaining sessions"
            );
            shared.force_close.cancel();
            sessions.wait().await;
        }
        info!("pgask stopped");
    }
}

/// Loads the config again and swaps in what can change at runtime; the rest keeps its value and
/// a warning says a restart is needed.
pub fn reload(shared: &Shared, source: &ReloadSource) -> Result<(), ServerError> {
    let fresh = source
        .overrides
        .apply(Config::load(&source.path, source.required)?)?;
    let runtime = Runtime::build(&fresh)?;
    let current = shared.config.load_full();
    let mut next = fresh.clone();
    // The running [llm] with what a reload may change taken from the file: any other
    // difference is a setting only a restart applies.
    let mut running_llm = current.llm.clone();
    for_reload(&mut running_llm, &fresh.llm);
    for (changed, name) in [
        (fresh.listen_addr != current.listen_addr, "listen_addr"),
        (
            fresh.max_connections != current.max_connections,
            "max_connections",
        ),
        (fresh.metrics_addr != current.metrics_addr, "metrics_addr"),
        (fresh.log != current.log, "log"),
        (fresh.ask.enabled != current.ask.enabled, "ask.enabled"),
        (
            running_llm != fresh.llm,
            "llm (backend, model, api_*, threads, context, top_k, chat_template, load_timeout_secs, parallel)",
        ),
        (
            fresh.ask.glossary != current.ask.glossary
                || fresh.ask.cache_ttl_secs != current.ask.cache_ttl_secs,
            "ask.glossary, ask.cache_ttl_secs",
        ),
        (fresh.history != current.history, "history"),
        (
            fresh.retrieval.embedder_dir != current.retrieval.embedder_dir
                || fresh.retrieval.cache_dir != current.retrieval.cache_dir
                || fresh.retrieval.reranker_dir != current.retrieval.reranker_dir,
            "retrieval (embedder_dir, cache_dir, reranker_dir)",
        ),
    ] {
        if changed {
            warn!(
                setting = name,
                "changed in the config, but only a restart applies it"
            );
        }
    }
    next.listen_addr = current.listen_addr;
    next.max_connections = current.max_connections;
    next.metrics_addr = current.metrics_addr;
    next.log = current.log.clone();
    // What only a restart applies keeps its running value, so the live config tells the truth.
    next.ask.enabled = current.ask.enabled;
    next.ask.glossary = current.ask.glossary.clone();
    next.ask.cache_ttl_secs = current.ask.cache_ttl_secs;
    next.history = current.history.clone();
    next.retrieval.embedder_dir = current.retrieval.embedder_dir.clone();
    next.retrieval.cache_dir = current.retrieval.cache_dir.clone();
    next.retrieval.reranker_dir = current.retrieval.reranker_dir.clone();
    next.llm = running_llm;
    shared.runtime.store(Arc::new(runtime));
    if let Some(asker) = &shared.asker {
        asker.reload(&next);
    }
    shared.config.store(Arc::new(next));
    info!("configuration reloaded");
    Ok(())
}

/// The `[llm]` settings documented "reload: yes", from `fresh` into the running `llm`.
fn for_reload(llm: &mut crate::config::LlmConfig, fresh: &crate::config::LlmConfig) {
    llm.max_tokens = fresh.max_tokens;
    llm.temperature = fresh.temperature;
    llm.seed = fresh.seed;
    llm.candidates = fresh.candidates;
    llm.grammar = fresh.grammar;
    llm.prompt_dir = fresh.prompt_dir.clone();
    llm.max_prompt_columns = fresh.max_prompt_columns;
    llm.min_relevance = fresh.min_relevance;
    llm.relevance_check = fresh.relevance_check;
    llm.timeout_secs = fresh.timeout_secs;
    llm.max_queue = fresh.max_queue;
}

/// SIGTERM/SIGINT start shutdown (a second one forces it), SIGHUP reloads.
pub fn spawn_signal_handlers(shared: Arc<Shared>, source: ReloadSource) -> Result<(), ServerError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(ServerError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ServerError::Signal)?;
    let mut hup = signal(SignalKind::hangup()).map_err(ServerError::Signal)?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
                _ = hup.recv() => {
                    if let Err(e) = reload(&shared, &source) {
                        warn!(error = %e, "reload failed; keeping the running configuration");
                    }
                    continue;
                }
            }
            if shared.shutdown.is_cancelled() {
                warn!("second stop signal: closing every session now");
                shared.force_close.cancel();
            } else {
                shared.shutdown.cancel();
            }
        }
    });
    Ok(())
}
