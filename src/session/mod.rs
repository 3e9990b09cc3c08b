//! One client's life: handshake, upstream login, relay, and the goodbye. The session never looks
//! inside a message it does not act on; see `relay` for what it reads.

pub mod cancel;
pub mod client;
pub mod link;
pub mod reach;
pub mod relay;
pub mod request;
pub mod unsynced;
pub mod upstream;

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tracing::{debug, info, warn};

use crate::net::frame::FrameError;
use crate::net::messages::{ErrorResponse, MessageError, Severity};
use crate::net::startup::StartupError;
use crate::net::tls::TlsError;
use crate::server::Shared;
use client::Hello;
use relay::{End, RelayContext, SessionState};

/// Why a session ended early.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("client connection: {0}")]
    ClientIo(std::io::Error),
    #[error("client closed the connection")]
    ClientGone,
    #[error("client TLS: {0}")]
    ClientTls(String),
    #[error("direct TLS attempted but no certificate is configured")]
    DirectTlsUnavailable,
    #[error("upstream connection: {0}")]
    UpstreamIo(std::io::Error),
    #[error("could not connect to upstream server {addr}: {reason}")]
    UpstreamConnect { addr: String, reason: String },
    #[error("upstream refused the login")]
    UpstreamRejected,
    #[error("SCRAM channel binding cannot pass through pgask")]
    ChannelBinding,
    #[error("{0}")]
    Protocol(String),
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error(transparent)]
    Message(#[from] MessageError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("authentication timed out")]
    LoginTimeout,
}

impl SessionError {
    /// The ErrorResponse a client still listening should get, if any.
    pub fn client_error(&self) -> Option<ErrorResponse> {
        use SessionError::*;
        Some(match self {
            ClientIo(_) | ClientGone | ClientTls(_) | DirectTlsUnavailable | UpstreamRejected => return None,
            UpstreamIo(e) => ErrorResponse::connection_failure(format!("lost the connection to the upstream server: {e}")),
            UpstreamConnect { .. } | Tls(_) => ErrorResponse::cannot_connect(self.to_string()),
            ChannelBinding => ErrorResponse::new(Severity::Fatal, "28000", "SCRAM channel binding cannot pass through pgask")
                .detail("pgask terminates TLS, so the client and the server would bind to different channels; the server refuses a client that announces binding support")
                .hint("connect with channel_binding=disable, or set upstream.tls = \"prefer\" or \"disable\" in pgask"),
            Protocol(m) => ErrorResponse::protocol_violation(m.clone()),
            Frame(e) => ErrorResponse::protocol_violation(e.to_string()),
            Startup(StartupError::UnsupportedProtocol { .. }) => ErrorResponse::new(Severity::Fatal, "0A000", self.to_string()),
            Startup(e) => ErrorResponse::protocol_violation(e.to_string()),
            Message(e) => ErrorResponse::connection_failure(e.to_string()),
            LoginTimeout => ErrorResponse::login_timeout(),
        })
    }

    /// A short label for the errors metric.
    pub fn kind(&self) -> &'static str {
        use SessionError::*;
        match self {
            ClientIo(_) | ClientGone => "client_io",
            ClientTls(_) | DirectTlsUnavailable => "client_tls",
            UpstreamIo(_) => "upstream_io",
            UpstreamConnect { .. } | Tls(_) => "upstream_connect",
            UpstreamRejected => "upstream_rejected",
            ChannelBinding => "channel_binding",
            Protocol(_) | Frame(_) | Startup(_) => "protocol",
            Message(_) => "upstream_protocol",
            LoginTimeout => "login_timeout",
        }
    }
}

/// Serves one accepted connection to its end. `permit` is `None` when the connection cap is
/// reached: the client is then told so once it has said what it wants (cancels still work).
pub async fn serve(
    tcp: TcpStream,
    shared: Arc<Shared>,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
) {
    let _ = tcp.set_nodelay(true);
    let config = shared.config.load_full();
    let login_timeout = Duration::from_secs(config.login_timeout_secs);
    let runtime = shared.runtime.load_full();
    let hello =
        tokio::time::timeout(login_timeout, client::hello(tcp, runtime.acceptor.as_ref())).await;
    let (mut stream, startup) = match hello {
        Err(_) => {
            metrics::counter!("pgask_errors_total", "kind" => SessionError::LoginTimeout.kind())
                .increment(1);
            return info!(
                secs = login_timeout.as_secs(),
                "closed a connection that did not finish startup within login_timeout_secs"
            );
        }
        Ok(Err(e)) => {
            metrics::counter!("pgask_errors_total", "kind" => e.kind()).increment(1);
            return debug!(error = %e, "handshake failed");
        }
        Ok(Ok(Hello::Cancel { mut stream, key })) => {
            match cancel::forward(&shared.cancels, &key).await {
                Ok(true) => info!(pid = key.pid, "forwarded a cancel request"),
                Ok(false) => debug!(
                    pid = key.pid,
                    "ignored a cancel request with an unknown key"
                ),
                Err(e) => warn!(error = %e, "could not forward a cancel request"),
            }
            let _ = stream.shutdown().await;
            return;
        }
        Ok(Ok(Hello::Startup { stream, startup })) => (stream, startup),
    };
    if permit.is_none() {
        let _ = stream
            .write_all(&ErrorResponse::too_many_connections(config.max_connections).encode())
            .await;
        return;
    }
    if config.tls.mode == crate::config::ClientTls::Require && !stream.is_tls() {
        let _ = stream
            .write_all(&ErrorResponse::tls_required().encode())
            .await;
        return;
    }
    let user = startup.param("user").unwrap_or_default().to_string();
    let database = startup.param("database").unwrap_or(&user).to_string();
    info!(%user, %database, tls = stream.is_tls(), "session started");
    metrics::counter!("pgask_sessions_total").increment(1);
    metrics::gauge!("pgask_sessions_active").increment(1.0);
    let login = tokio::time::timeout(
        login_timeout,
        upstream::login(&mut stream, &startup, &runtime.upstream, &shared.cancels),
    )
    .await;
    let result = match login {
        Err(_) => Err(SessionError::LoginTimeout),
        Ok(Err(e)) => Err(e),
        Ok(Ok(logged_in)) => {
            let who = link::Who {
                role: user.clone(),
                user,
                database,
            };
            run(
                &mut stream,
                logged_in,
                &shared,
                config.max_message_bytes,
                who,
            )
            .await
        }
    };
    finish(&mut stream, result).await;
    metrics::gauge!("pgask_sessions_active").decrement(1.0);
}

/// Relays until either side ends; returns how it ended.
async fn run(
    client: &mut crate::net::stream::Stream,
    login: upstream::LoggedIn,
    shared: &Shared,
    max_message: usize,
    who: link::Who,
) -> Result<End, SessionError> {
    let cancel_key = login.cancel;
    let state = SessionState::default();
    let cx = RelayContext {
        state: &state,
        hook: shared.hook.as_ref(),
        max_message,
        shutdown: &shared.shutdown,
    };
    let mut upstream = login.upstream;
    let (to_client, mut control) = tokio::sync::mpsc::channel(64);
    let (captured_tx, captured) = tokio::sync::mpsc::channel(256);
    let cancel = cancel_key
        .as_ref()
        .map(|g| g.asks.clone())
        .unwrap_or_default();
    let mut asks = shared.asker.as_deref().map(|a| relay::AskIo {
        answerer: a,
        session: link::AskSession {
            who,
            ..Default::default()
        },
        to_client,
        captured,
        cancel,
    });
    let end = {
        let (mut crd, mut cwr) = tokio::io::split(&mut *client);
        let (mut urd, mut uwr) = tokio::io::split(&mut upstream);
        let capture = relay::Capture {
            control: &mut control,
            captured: &captured_tx,
        };
        let end = tokio::select! {
            r = relay::frontend(&mut crd, &mut uwr, &cx, asks.as_mut()) => r,
            r = relay::backend(&mut urd, &mut cwr, &cx, capture) => r,
            () = wait_for_shutdown(shared, &state) => Ok(End::Shutdown),
        };
        match end {
            // After Terminate the server closes; a client that left first just misses the rest.
            Ok(End::UpstreamClosed { .. }) | Err(SessionError::ClientIo(_))
                if state.terminated() =>
            {
                Ok(End::Terminated)
            }
            other => other,
        }
    };
    // A client that left mid-ask may have left a query running upstream: cancel it.
    if matches!(end, Ok(End::ClientGone)) && !state.is_idle() {
        if let Some(key) = cancel_key.as_ref().map(|g| g.key.clone()) {
            let _ = cancel::forward(&shared.cancels, &key).await;
        }
    }
    drop(cancel_key);
    // Whatever ended the session, tell the server goodbye so it rolls back and frees the backend.
    if !matches!(
        end,
        Ok(End::Terminated)
            | Ok(End::ClientClosed)
            | Ok(End::UpstreamClosed { .. })
            | Err(SessionError::UpstreamIo(_))
    ) {
        let _ = upstream.write_all(&[b'X', 0, 0, 0, 4]).await;
    }
    let _ = upstream.shutdown().await;
    end
}

/// Completes when shutdown reaches an idle session, or when the grace period is over.
async fn wait_for_shutdown(shared: &Shared, state: &SessionState) {
    shared.shutdown.cancelled().await;
    if !state.is_idle() {
        shared.force_close.cancelled().await;
    }
}

/// Tells the client why its session ends, when it is still there to hear it.
async fn finish(client: &mut crate::net::stream::Stream, result: Result<End, SessionError>) {
    let goodbye = match &result {
        Ok(End::Terminated)
        | Ok(End::ClientGone)
        | Ok(End::ClientClosed)
        | Ok(End::UpstreamClosed { after_error: true }) => None,
        Ok(End::UpstreamClosed { after_error: false }) => Some(ErrorResponse::connection_failure(
            "the upstream server closed the connection unexpectedly",
        )),
        Ok(End::Shutdown) => Some(ErrorResponse::admin_shutdown()),
        Err(e) => e.client_error(),
    };
    match &result {
        Ok(end) => info!(?end, "session ended"),
        Err(e @ SessionError::LoginTimeout) => {
            crate::metrics::error(e.kind());
            info!(error = %e, "session ended");
        }
        Err(e) => {
            crate::metrics::error(e.kind());
            warn!(error = %e, "session ended with an error");
        }
    }
    if let Some(err) = goodbye {
        let _ = client.write_all(&err.encode()).await;
    }
    let _ = client.shutdown().await;
}
