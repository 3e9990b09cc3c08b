//! The relay after login: client messages go upstream as they arrive (each shown to the request
//! hook first; only an ask and the rest of its request are held), server bytes go to the client
//! exactly as read. Only headers are looked at, to find message boundaries and to follow
//! ReadyForQuery, and (for an ask that arrives in the middle of a pipeline) which of the messages
//! sent before it have been answered.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;

use super::link::{Answered, Answerer, AskSession, Link, ToClient};
use super::request::{
    awaits_ready, ends_request, AskNames, AskRequest, Mark, Request, RequestHook,
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
    /// The client sent Terminate (and the server, having read it, closed the connection).
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
    /// Woken at every ReadyForQuery passed to the client (and, while an ask waits for them, at
    /// the answers to pipelined messages).
    ready: Notify,
    /// Extended-protocol messages answered since the last ReadyForQuery (ParseComplete,
    /// BindComplete, CloseComplete, NoData, RowDescription, CommandComplete,
    /// EmptyQueryResponse, PortalSuspended: one each for Parse, Bind, Close, Describe, Execute).
    answered: AtomicU32,
    /// An ErrorResponse came since the last ReadyForQuery: the server skips to the next Sync.
    failed: AtomicBool,
    /// The server waits for COPY data from the client (CopyInResponse or CopyBothResponse came,
    /// no ReadyForQuery since): nothing the client sends is an ask.
    copy_in: AtomicBool,
    /// An ask waits for `answered`, `failed` or `copy_in`: wake it.
    watching: AtomicBool,
    /// The client sent Terminate; the server ends the session once what runs has finished.
    terminated: AtomicBool,
}

impl Default for SessionState {
    fn default() -> Self {
        SessionState {
            pending: AtomicU32::new(0),
            tx_status: AtomicU8::new(b'I'),
            ready: Notify::new(),
            answered: AtomicU32::new(0),
            failed: AtomicBool::new(false),
            copy_in: AtomicBool::new(false),
            watching: AtomicBool::new(false),
            terminated: AtomicBool::new(false),
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

    /// Whether the client sent Terminate.
    pub fn terminated(&self) -> bool {
        self.terminated.load(Ordering::Acquire)
    }

    /// Follows one server message passed to the client.
    fn server_message(&self, tag: u8, first: Option<u8>) {
        match tag {
            b'Z' => {
                self.tx_status
                    .store(first.unwrap_or(b'I'), Ordering::Release);
                self.answered.store(0, Ordering::Release);
                self.failed.store(false, Ordering::Release);
                self.copy_in.store(false, Ordering::Release);
                let _ = self
                    .pending
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| p.checked_sub(1));
                self.ready.notify_waiters();
                return;
            }
            b'1' | b'2' | b'3' | b'n' | b'T' | b'C' | b'I' | b's' => {
                self.answered.fetch_add(1, Ordering::AcqRel);
            }
            b'E' => self.failed.store(true, Ordering::Release),
            b'G' | b'W' => self.copy_in.store(true, Ordering::Release),
            _ => return,
        }
        if self.watching.load(Ordering::Acquire) {
            self.ready.notify_waiters();
        }
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
    // Where the held part (an ask and the rest of its request) starts in `buf`, and whether it
    // executes an ask portal.
    let mut held: Option<usize> = None;
    let mut executes = false;
    // Parse/Bind/Describe/Execute/Close messages sent since the last Query, Sync or FunctionCall:
    // an ask arriving after them waits for their answers before it uses the session.
    let mut unanswered: u32 = 0;
    loop {
        // Up to here the bytes go upstream after this pass.
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
            let start = scanned;
            scanned += h.total();
            if awaits_ready(h.tag) {
                cx.state.pending.fetch_add(1, Ordering::AcqRel);
            }
            let mark = match asks {
                // During COPY FROM STDIN nothing is an ask (the server refuses a Query there).
                Some(_) if !cx.state.copy_in.load(Ordering::Acquire) => {
                    cx.hook
                        .on_message(h.tag, &buf[start + 5..scanned], &mut names)
                }
                _ => Mark::Plain,
            };
            match mark {
                Mark::Plain => {}
                Mark::Ask => {
                    held.get_or_insert(start);
                }
                Mark::Execute => {
                    executes = true;
                    held.get_or_insert(start);
                }
            }
            if held.is_none() {
                // Sent at the end of this pass, as it arrived.
                ready = scanned;
                if awaits_ready(h.tag) {
                    unanswered = 0;
                } else if matches!(h.tag, b'P' | b'B' | b'D' | b'E' | b'C') {
                    unanswered += 1;
                }
            }
            if ends_request(h.tag) {
                if let Some(from) = held.take() {
                    let request = cx.hook.ask(
                        Request {
                            bytes: &buf[from..scanned],
                        },
                        executes,
                    );
                    executes = false;
                    if let Some(request) = request {
                        let own = Request {
                            bytes: &buf[from..scanned],
                        }
                        .messages()
                        .filter(|(t, _)| awaits_ready(*t))
                        .count() as u32;
                        ask = Some((request, own, scanned - from));
                        ready = from;
                        break;
                    }
                    ready = scanned;
                }
            }
            if h.tag == b'X' {
                terminate = true;
                break;
            }
        }
        if held.is_some_and(|f| scanned - f >= EARLY_FORWARD) {
            // An ask whose request never ends: its bytes go upstream as they are.
            held = None;
            executes = false;
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
            held = held.map(|f| f - ready);
        }
        if terminate {
            // PostgreSQL reads Terminate after the statement before it has finished and sent
            // its results; the server's close ends the session (the backend relay sees it).
            return Ok(terminated(wr, cx.state).await);
        }
        if let (Some((request, own, len)), Some(io)) = (ask.take(), asks.as_deref_mut()) {
            // What came before the ask was sent above; the ask's own bytes are its to send.
            let mine = buf.split_to(len);
            scanned -= len;
            let before = std::mem::take(&mut unanswered);
            let asked = Asked {
                request,
                own,
                before,
                bytes: &mine,
            };
            match answer(rd, wr, cx, io, asked, &mut buf).await? {
                None => return Ok(End::ClientGone),
                Some(a) => discarding = a.discard_until_sync,
            }
            unanswered = unanswered_in(&mine);
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
            // A client that closed its side: PostgreSQL would finish what runs, send its results
            // (a half-closed client still reads them) and then end; a Terminate does the same.
            wr.write_all(&TERMINATE)
                .await
                .map_err(SessionError::UpstreamIo)?;
            return Ok(terminated(wr, cx.state).await);
        }
    }
}

/// A Terminate message.
const TERMINATE: [u8; 5] = [b'X', 0, 0, 0, 4];

/// After Terminate went upstream: closes the sending side, as a client that leaves does (a
/// server in COPY FROM STDIN refuses the Terminate and ends at the close), and waits for the
/// server to close (the backend relay ends the session then), so this never completes.
async fn terminated<W: AsyncWrite + Unpin>(wr: &mut W, state: &SessionState) -> End {
    state.terminated.store(true, Ordering::Release);
    let _ = wr.shutdown().await;
    std::future::pending::<()>().await;
    End::Terminated
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

/// One ask as the frontend relay holds it.
struct Asked<'b> {
    request: AskRequest,
    /// How many ReadyForQuery its own messages await.
    own: u32,
    /// Pipelined Parse/Bind/Describe/Execute/Close messages sent before it, since the last
    /// Query, Sync or FunctionCall, whose answers must reach the client first.
    before: u32,
    /// Its messages as the client sent them.
    bytes: &'b [u8],
}

/// Parse/Bind/Describe/Execute/Close messages in `bytes` after its last Query, Sync or
/// FunctionCall (answers still to come once they are sent).
fn unanswered_in(bytes: &[u8]) -> u32 {
    Request { bytes }
        .messages()
        .fold(0, |n, (tag, _)| match tag {
            t if awaits_ready(t) => 0,
            b'P' | b'B' | b'D' | b'E' | b'C' => n + 1,
            _ => n,
        })
}

/// A Flush message: PostgreSQL keeps its answers to pipelined messages until Sync or Flush.
const FLUSH: [u8; 5] = [b'H', 0, 0, 0, 4];

/// What an ask found once everything before it was answered.
enum Turn {
    /// The session is the ask's.
    Go,
    /// The server skips or refuses the ask's messages (an earlier pipelined message failed, or
    /// COPY FROM STDIN is in progress): they go upstream unchanged, as PostgreSQL would see them.
    AsSent,
}

/// Runs one ask once the answers to everything before it have reached the client. The client
/// is read meanwhile (into `buf`, for later) only to notice it leaving; `None` if it left.
async fn answer<R, W>(
    rd: &mut R,
    wr: &mut W,
    cx: &RelayContext<'_>,
    io: &mut AskIo<'_>,
    asked: Asked<'_>,
    buf: &mut BytesMut,
) -> Result<Option<Answered>, SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send,
{
    let Asked {
        request,
        own,
        before,
        bytes,
    } = asked;
    if before > 0 {
        wr.write_all(&FLUSH)
            .await
            .map_err(SessionError::UpstreamIo)?;
    }
    let state = cx.state;
    state.watching.store(true, Ordering::Release);
    let turn = loop {
        let woken = state.ready.notified();
        if state.copy_in.load(Ordering::Acquire) {
            break Turn::AsSent;
        }
        if state.pending.load(Ordering::Acquire) <= own {
            if before == 0 {
                break Turn::Go;
            }
            if state.failed.load(Ordering::Acquire) {
                break Turn::AsSent;
            }
            if state.answered.load(Ordering::Acquire) >= before {
                break Turn::Go;
            }
        }
        tokio::select! {
            () = woken => {}
            n = rd.read_buf(buf), if buf.len() < EARLY_FORWARD => {
                if n.map_err(SessionError::ClientIo)? == 0 {
                    state.watching.store(false, Ordering::Release);
                    return Ok(None);
                }
            }
        }
    };
    state.watching.store(false, Ordering::Release);
    if let Turn::AsSent = turn {
        wr.write_all(bytes)
            .await
            .map_err(SessionError::UpstreamIo)?;
        return Ok(Some(Answered::default()));
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
            ready_seen |= seen.header.tag == b'Z';
            cx.state.server_message(seen.header.tag, seen.first);
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
