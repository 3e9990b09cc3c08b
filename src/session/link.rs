//! What an ask gets of its session while it runs: the upstream writer, the server's messages
//! (captured by the backend relay instead of being passed to the client), and a channel to the
//! client that goes through the backend relay, so the ask's messages keep their order with
//! everything else the client receives.

use std::future::Future;
use std::pin::Pin;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::ask::directive::{Directive, DirectiveError};
use crate::net::frame::Header;

/// Who is asking: the session's login role and database.
#[derive(Debug, Clone)]
pub struct Who {
    pub user: String,
    pub database: String,
}

/// Answers asks (the ask pipeline implements it). The answer writes everything the client is
/// owed, ReadyForQuery included, with `status` (the session's transaction status) in it.
pub trait Answerer: Send + Sync {
    fn answer<'a>(
        &'a self,
        who: &'a Who,
        directive: Result<Directive, DirectiveError>,
        link: &'a mut Link<'_>,
        status: u8,
    ) -> Pin<Box<dyn Future<Output = Result<(), LinkError>> + Send + 'a>>;
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
    capturing: bool,
}

impl<'a> Link<'a> {
    pub fn new(
        upstream: &'a mut (dyn AsyncWrite + Unpin + Send),
        captured: &'a mut mpsc::Receiver<Vec<u8>>,
        to_client: &'a mpsc::Sender<ToClient>,
    ) -> Link<'a> {
        Link {
            upstream,
            captured,
            to_client,
            capturing: false,
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
        Msg::from_raw(raw)
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
