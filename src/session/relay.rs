//! The relay after login: client bytes go upstream one complete request at a time (shown to the
//! request hook first), server bytes go to the client exactly as read. Only headers are looked
//! at, to find request boundaries and to follow ReadyForQuery.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::request::{awaits_ready, ends_request, Request, RequestHook, Verdict};
use super::SessionError;
use crate::metrics::{Direction, Tally};
use crate::net::frame::{next_frame, Header, StreamScanner};

/// Client bytes that are not yet a complete request are sent on once this many are waiting, so
/// an endless run of Bind/Execute without Sync cannot grow the buffer without bound.
const EARLY_FORWARD: usize = 1 << 20;
/// Server bytes read at once.
const SERVER_READ: usize = 32 * 1024;

/// How the relay ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The client sent Terminate.
    Terminated,
    /// The client closed its connection.
    ClientGone,
    /// The server closed the connection; `after_error` if its last message was an ErrorResponse.
    UpstreamClosed { after_error: bool },
    /// Shutdown reached this session while it was idle.
    Shutdown,
}

/// Session state both directions see.
#[derive(Debug)]
pub struct SessionState {
    /// Requests sent upstream whose ReadyForQuery has not come back.
    pending: AtomicU32,
    /// Transaction status of the last ReadyForQuery: b'I', b'T' or b'E'.
    tx_status: AtomicU8,
}

impl Default for SessionState {
    fn default() -> Self {
        SessionState {
            pending: AtomicU32::new(0),
            tx_status: AtomicU8::new(b'I'),
        }
    }
}

impl SessionState {
    /// Idle: nothing in flight and not inside a transaction block.
    pub fn is_idle(&self) -> bool {
        self.pending.load(Ordering::Acquire) == 0 && self.tx_status.load(Ordering::Acquire) == b'I'
    }

    pub fn tx_status(&self) -> u8 {
        self.tx_status.load(Ordering::Acquire)
    }
}

/// What the relay needs besides the four stream halves.
pub struct RelayContext<'a> {
    pub state: &'a SessionState,
    pub hook: &'a dyn RequestHook,
    pub max_message: usize,
    pub shutdown: &'a CancellationToken,
}

/// Client to server.
pub async fn frontend<R, W>(
    rd: &mut R,
    wr: &mut W,
    cx: &RelayContext<'_>,
) -> Result<End, SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut tally = Tally::new(Direction::ToUpstream);
    let mut buf = BytesMut::with_capacity(8 * 1024);
    // Bytes at the front of `buf` holding complete messages already looked at.
    let mut scanned = 0;
    loop {
        // Up to the end of the last complete request found in this pass.
        let mut ready = 0;
        let mut terminate = false;
        while let Some(h) = next_frame(&buf[scanned..], cx.max_message)? {
            tally.message(h.tag);
            scanned += h.total();
            if awaits_ready(h.tag) {
                cx.state.pending.fetch_add(1, Ordering::AcqRel);
            }
            if ends_request(h.tag) {
                let Verdict::Forward = cx.hook.on_request(Request {
                    bytes: &buf[ready..scanned],
                });
                ready = scanned;
            }
            if h.tag == b'X' {
                terminate = true;
                break;
            }
        }
        if scanned - ready >= EARLY_FORWARD {
            ready = scanned;
        }
        if ready > 0 {
            wr.write_all(&buf[..ready])
                .await
                .map_err(SessionError::UpstreamIo)?;
            tally.bytes(ready);
            tally.tick();
            buf.advance(ready);
            scanned -= ready;
        }
        if terminate {
            return Ok(End::Terminated);
        }
        if buf.is_empty() && buf.capacity() > EARLY_FORWARD {
            buf = BytesMut::with_capacity(8 * 1024);
        }
        // Make room for the whole next message when its header is in (its size is checked).
        let want = match Header::read(&buf[scanned..]) {
            Some(Ok(h)) => h.total().saturating_sub(buf.len() - scanned).max(4096),
            _ => 8 * 1024,
        };
        buf.reserve(want);
        let n = rd
            .read_buf(&mut buf)
            .await
            .map_err(SessionError::ClientIo)?;
        if n == 0 {
            return Ok(End::ClientGone);
        }
    }
}

/// Server to client.
pub async fn backend<R, W>(
    rd: &mut R,
    wr: &mut W,
    cx: &RelayContext<'_>,
) -> Result<End, SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut tally = Tally::new(Direction::ToClient);
    let mut buf = vec![0u8; SERVER_READ];
    let mut scanner = StreamScanner::default();
    let mut last_tag = 0u8;
    loop {
        let n = rd.read(&mut buf).await.map_err(SessionError::UpstreamIo)?;
        if n == 0 {
            return Ok(End::UpstreamClosed {
                after_error: last_tag == b'E',
            });
        }
        let mut ready_seen = false;
        scanner.feed(&buf[..n], |seen| {
            tally.message(seen.header.tag);
            last_tag = seen.header.tag;
            if seen.header.tag == b'Z' {
                ready_seen = true;
                cx.state
                    .tx_status
                    .store(seen.first.unwrap_or(b'I'), Ordering::Release);
                let _ = cx
                    .state
                    .pending
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| p.checked_sub(1));
            }
        })?;
        wr.write_all(&buf[..n])
            .await
            .map_err(SessionError::ClientIo)?;
        tally.bytes(n);
        tally.tick();
        if ready_seen && cx.shutdown.is_cancelled() && cx.state.is_idle() {
            return Ok(End::Shutdown);
        }
    }
}
