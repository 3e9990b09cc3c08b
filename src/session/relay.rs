//! The relay after login: client bytes go upstream one complete request at a time (shown to the
//! request hook first), server bytes go to the client exactly as read. Only headers are looked
//! at, to find request boundaries and to follow ReadyForQuery.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;

use super::link::{Answered, Answerer, AskSession, Link, ToClient};
use super::request::{
    awaits_ready, ends_request, AskNames, AskRequest, Request, RequestHook, Verdict,
};
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
    /// Woken at every ReadyForQuery passed to the client.
    ready: Notify,
}

impl Default for SessionState {
    fn default() -> Self {
        SessionState {
            pending: AtomicU32::new(0),
            tx_status: AtomicU8::new(b'I'),
            ready: Notify::new(),
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

/// Client to server. Asks (when `asks` is given) are answered in place: what came before them
/// is sent, their earlier answers are awaited, and the ask runs with the session to itself.
pub async fn frontend<R, W>(
    rd: &mut R,
    wr: &mut W,
    cx: &RelayContext<'_>,
    mut asks: Option<&mut AskIo<'_>>,
) -> Result<End, SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send,
{
    let mut tally = Tally::new(Direction::ToUpstream);
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut names = AskNames::default();
    // After an ask failed in a request without Sync: drop messages up to the next Sync.
    let mut discarding = false;
    // Bytes at the front of `buf` holding complete messages already looked at.
    let mut scanned = 0;
    loop {
        // Up to the end of the last complete request found in this pass.
        let mut ready = 0;
        let mut terminate = false;
        let mut ask = None;
        while let Some(h) = next_frame(&buf[scanned..], cx.max_message)? {
            tally.message(h.tag);
            if discarding && h.tag != b'X' {
                // Nothing was forwarded in this pass yet (discarding starts a pass).
                buf.advance(h.total());
                if h.tag == b'S' {
                    discarding = false;
                    if let Some(io) = asks.as_deref_mut() {
                        let z = crate::ask::execute::wire::ready_for_query(cx.state.tx_status());
                        if io.to_client.send(ToClient::Bytes(z)).await.is_err() {
                            return Ok(End::ClientGone);
                        }
                    }
                }
                continue;
            }
            scanned += h.total();
            if awaits_ready(h.tag) {
                cx.state.pending.fetch_add(1, Ordering::AcqRel);
            }
            if ends_request(h.tag) {
                let verdict = cx.hook.on_request(
                    Request {
                        bytes: &buf[ready..scanned],
                    },
                    &mut names,
                );
                match verdict {
                    Verdict::Ask(request) if asks.is_some() => {
                        let own = Request {
                            bytes: &buf[ready..scanned],
                        }
                        .messages()
                        .filter(|(t, _)| awaits_ready(*t))
                        .count() as u32;
                        ask = Some((request, own));
                        break;
                    }
                    _ => ready = scanned,
                }
            }
            if h.tag == b'X' {
                terminate = true;
                break;
            }
        }
        if ask.is_none() && scanned - ready >= EARLY_FORWARD {
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
        if let (Some((request, own)), Some(io)) = (ask.take(), asks.as_deref_mut()) {
            // What came before the ask was sent above; the ask's own bytes are its to send.
            buf.advance(scanned);
            scanned = 0;
            match answer(rd, wr, cx, io, request, own, &mut buf).await? {
                None => return Ok(End::ClientGone),
                Some(a) => discarding = a.discard_until_sync,
            }
            continue;
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

/// The frontend relay's side of the ask channels.
pub struct AskIo<'a> {
    pub answerer: &'a dyn Answerer,
    pub session: AskSession,
    pub to_client: mpsc::Sender<ToClient>,
    pub captured: mpsc::Receiver<Vec<u8>>,
    /// Tells the ask about the client's CancelRequests.
    pub cancel: std::sync::Arc<super::cancel::AskSignal>,
}

/// Runs one ask once the answers to everything before it have reached the client (`own` is
/// the number of ReadyForQuery its own request awaits). The client is read meanwhile (into
/// `buf`, for later) only to notice it leaving; `None` if it left.
async fn answer<R, W>(
    rd: &mut R,
    wr: &mut W,
    cx: &RelayContext<'_>,
    io: &mut AskIo<'_>,
    request: AskRequest,
    own: u32,
    buf: &mut BytesMut,
) -> Result<Option<Answered>, SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send,
{
    loop {
        let woken = cx.state.ready.notified();
        if cx.state.pending.load(Ordering::Acquire) <= own {
            break;
        }
        woken.await;
    }
    let status = cx.state.tx_status();
    io.cancel.begin();
    let mut link = Link::new(wr, &mut io.captured, &io.to_client, &io.cancel);
    let answered = {
        let run = io
            .answerer
            .answer(&mut io.session, request, &mut link, status);
        tokio::pin!(run);
        loop {
            tokio::select! {
                r = &mut run => {
                    break r.map_err(|e| SessionError::Protocol(format!("ask: {e}")))?;
                }
                n = rd.read_buf(buf), if buf.len() < EARLY_FORWARD => {
                    if n.map_err(SessionError::ClientIo)? == 0 {
                        io.cancel.end();
                        return Ok(None);
                    }
                }
            }
        }
    };
    io.cancel.end();
    link.release().await;
    for _ in 0..answered.readies {
        let _ = cx
            .state
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| p.checked_sub(1));
    }
    Ok(Some(answered))
}

/// The backend relay's side of the ask channels.
pub struct Capture<'a> {
    /// Work from the ask, in order.
    pub control: &'a mut mpsc::Receiver<ToClient>,
    /// Server messages while an ask captures them.
    pub captured: &'a mpsc::Sender<Vec<u8>>,
}

/// Largest server message an ask accepts while capturing.
const MAX_CAPTURED: usize = 1 << 30;

/// Server to client; while an ask captures, server messages go to the ask instead.
pub async fn backend<R, W>(
    rd: &mut R,
    wr: &mut W,
    cx: &RelayContext<'_>,
    cap: Capture<'_>,
) -> Result<End, SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut tally = Tally::new(Direction::ToClient);
    let mut buf = vec![0u8; SERVER_READ];
    let mut scanner = StreamScanner::default();
    let mut last_tag = 0u8;
    let mut control_open = true;
    // Capture asked for while a message was half passed on: switch at its end.
    let mut capture_wanted: Option<oneshot::Sender<()>> = None;
    let mut capturing = false;
    let mut held = BytesMut::new();
    loop {
        let n = tokio::select! {
            biased;
            work = cap.control.recv(), if control_open && capture_wanted.is_none() => {
                match work {
                    None => control_open = false,
                    Some(ToClient::Bytes(b)) => {
                        wr.write_all(&b).await.map_err(SessionError::ClientIo)?;
                        tally.bytes(b.len());
                    }
                    Some(ToClient::Capture(ack)) => {
                        if scanner.at_boundary() {
                            capturing = true;
                            let _ = ack.send(());
                        } else {
                            capture_wanted = Some(ack);
                        }
                    }
                    Some(ToClient::Release) => {
                        capturing = false;
                        pass_held(wr, &mut held, &mut scanner).await?;
                    }
                }
                continue;
            }
            n = rd.read(&mut buf) => n.map_err(SessionError::UpstreamIo)?,
        };
        if n == 0 {
            return Ok(End::UpstreamClosed {
                after_error: last_tag == b'E',
            });
        }
        if capturing {
            held.extend_from_slice(&buf[..n]);
            let mut release = false;
            while let Some(h) = next_frame(&held, MAX_CAPTURED)? {
                let mut msg = Some(held.split_to(h.total()).to_vec());
                // While the ask is not taking messages (it is busy sending rows to the client),
                // keep passing its messages on, or each would wait for the other for ever.
                while msg.is_some() {
                    tokio::select! {
                        biased;
                        work = cap.control.recv(), if control_open => match work {
                            None => control_open = false,
                            Some(ToClient::Bytes(b)) => {
                                wr.write_all(&b).await.map_err(SessionError::ClientIo)?;
                                tally.bytes(b.len());
                            }
                            Some(ToClient::Capture(ack)) => {
                                let _ = ack.send(());
                            }
                            Some(ToClient::Release) => release = true,
                        },
                        permit = cap.captured.reserve() => {
                            // The ask may have gone (client disconnect): its messages are dropped.
                            if let (Ok(p), Some(m)) = (permit, msg.take()) {
                                p.send(m);
                            }
                            msg = None;
                        }
                    }
                }
            }
            if release {
                capturing = false;
                pass_held(wr, &mut held, &mut scanner).await?;
            }
            continue;
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
                cx.state.ready.notify_waiters();
            }
        })?;
        wr.write_all(&buf[..n])
            .await
            .map_err(SessionError::ClientIo)?;
        tally.bytes(n);
        tally.tick();
        if let Some(ack) = capture_wanted.take_if(|_| scanner.at_boundary()) {
            capturing = true;
            let _ = ack.send(());
        }
        if ready_seen && cx.shutdown.is_cancelled() && cx.state.is_idle() {
            return Ok(End::Shutdown);
        }
    }
}

/// After a capture ends, server bytes not yet handed to the ask go to the client.
async fn pass_held<W: AsyncWrite + Unpin>(
    wr: &mut W,
    held: &mut BytesMut,
    scanner: &mut StreamScanner,
) -> Result<(), SessionError> {
    if !held.is_empty() {
        wr.write_all(held).await.map_err(SessionError::ClientIo)?;
        scanner.feed(held, |_| {})?;
        held.clear();
    }
    Ok(())
}
