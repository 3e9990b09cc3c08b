//! What an ask gets of its session while it runs: the upstream writer, the server's messages
//! (captured by the backend relay instead of being passed to the client), and a channel to the
//! client that goes through the backend relay, so the ask's messages keep their order with
//! everything else the client receives.

use std::future::Future;
use std::pin::Pin;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::cancel::AskSignal;

use crate::ask::memory::Conversation;
use crate::net::frame::Header;
use crate::session::request::AskRequest;

/// Who is asking: the session's login role and database, and the role its asks act as.
#[derive(Debug, Clone, Default)]
pub struct Who {
    pub user: String,
    pub database: String,
    /// The session's `current_user`, read before each ask: after `SET ROLE` or `SET SESSION
    /// AUTHORIZATION` the tables, examples, answers and history an ask sees are that role's,
    /// not the login role's. The login role until the first ask.
    pub role: String,
}

/// Answers asks (the ask pipeline implements it). The answer writes everything the client is
/// owed for the request, or forwards the request (rewritten) to the server.
pub trait Answerer: Send + Sync {
    fn answer<'a>(
        &'a self,
        session: &'a mut AskSession,
        request: AskRequest,
        link: &'a mut Link<'_>,
        status: u8,
    ) -> Pin<Box<dyn Future<Output = Result<Answered, LinkError>> + Send + 'a>>;
}

/// What a session keeps for its asks: who asks, and its conversation so far.
#[derive(Debug, Default)]
pub struct AskSession {
    pub who: Who,
    pub memory: Conversation,
    /// Rows of ask portals fetched in part inside the client's transaction.
    pub suspended: crate::ask::execute::fetch::Suspended,
}

/// How an answer left the session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Answered {
    /// ReadyForQuery messages the ask wrote itself (instead of the server).
    pub readies: u32,
    /// The ask failed in a request that did not end with Sync: like PostgreSQL after an error,
    /// the session drops the client's messages up to the next Sync and answers that Sync.
    pub discard_until_sync: bool,
}

/// The session went away under the ask.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("upstream connection: {0}")]
    Upstream(std::io::Error),
    #[error("the upstream server closed the connection")]
    UpstreamClosed,
    #[error("the client connection is gone")]
    ClientGone,
    #[error("malformed message from the upstream server")]
    Malformed,
}

/// Work for the backend relay, in order.
#[derive(Debug)]
pub enum ToClient {
    /// Bytes for the client.
    Bytes(Vec<u8>),
    /// From now on, hand server messages to the ask; acknowledged once switched.
    Capture(oneshot::Sender<()>),
    /// Back to passing server bytes to the client.
    Release,
}

/// One message from the server: type byte and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub tag: u8,
    /// The whole message, header included (forwarded to the client as it is).
    pub raw: Vec<u8>,
}

impl Msg {
    pub fn from_raw(raw: Vec<u8>) -> Result<Msg, LinkError> {
        match Header::read(&raw) {
            Some(Ok(h)) if h.total() == raw.len() => Ok(Msg { tag: h.tag, raw }),
            _ => Err(LinkError::Malformed),
        }
    }

    pub fn body(&self) -> &[u8] {
        &self.raw[5..]
    }
}

/// The ask's handle on its session.
pub struct Link<'a> {
    upstream: &'a mut (dyn AsyncWrite + Unpin + Send),
    captured: &'a mut mpsc::Receiver<Vec<u8>>,
    to_client: &'a mpsc::Sender<ToClient>,
    cancel: &'a AskSignal,
    capturing: bool,
    last_status: Option<u8>,
}

impl<'a> Link<'a> {
    pub fn new(
        upstream: &'a mut (dyn AsyncWrite + Unpin + Send),
        captured: &'a mut mpsc::Receiver<Vec<u8>>,
        to_client: &'a mpsc::Sender<ToClient>,
        cancel: &'a AskSignal,
    ) -> Link<'a> {
        Link {
            upstream,
            captured,
            to_client,
            cancel,
            capturing: false,
            last_status: None,
        }
    }

    /// Sends bytes to the client (after everything the relay already passed on).
    pub async fn client(&mut self, bytes: Vec<u8>) -> Result<(), LinkError> {
        self.to_client
            .send(ToClient::Bytes(bytes))
            .await
            .map_err(|_| LinkError::ClientGone)
    }

    /// Sends bytes to the server, capturing its answers.
    pub async fn upstream(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        if !self.capturing {
            let (tx, rx) = oneshot::channel();
            self.to_client
                .send(ToClient::Capture(tx))
                .await
                .map_err(|_| LinkError::ClientGone)?;
            rx.await.map_err(|_| LinkError::ClientGone)?;
            self.capturing = true;
        }
        self.cancel.set_offline(false);
        self.upstream
            .write_all(bytes)
            .await
            .map_err(LinkError::Upstream)?;
        self.upstream.flush().await.map_err(LinkError::Upstream)
    }

    /// The next whole message from the server.
    pub async fn recv(&mut self) -> Result<Msg, LinkError> {
        let raw = self
            .captured
            .recv()
            .await
            .ok_or(LinkError::UpstreamClosed)?;
        let m = Msg::from_raw(raw)?;
        if m.tag == b'Z' {
            self.last_status = m.body().first().copied();
            self.cancel.set_offline(true);
        }
        Ok(m)
    }

    /// The transaction status of the last ReadyForQuery the ask received, if any.
    pub fn last_status(&self) -> Option<u8> {
        self.last_status
    }

    /// Completes when the client sends a CancelRequest for this session (only requests made
    /// while this future exists count).
    pub fn cancelled(&self) -> tokio::sync::futures::Notified<'a> {
        self.cancel.notified()
    }

    /// Whether the client cancelled since the ask began.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Sends bytes to the server with its answers going straight to the client again (capture
    /// ends first). For a request whose answers the ask does not need to see.
    pub async fn forward(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.release().await;
        self.cancel.end();
        self.upstream
            .write_all(bytes)
            .await
            .map_err(LinkError::Upstream)?;
        self.upstream.flush().await.map_err(LinkError::Upstream)
    }

    /// Stops capturing: server bytes go to the client again. Call only when the server owes
    /// nothing more (after the ReadyForQuery of the last request).
    pub async fn release(&mut self) {
        if self.capturing {
            let _ = self.to_client.send(ToClient::Release).await;
            self.capturing = false;
        }
    }
}
