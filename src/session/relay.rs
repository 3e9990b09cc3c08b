//! The relay after login: client messages go upstream as they arrive (each shown to the request
//! hook first; only an ask and the rest of its request are held), server bytes go to the client
//! exactly as read. Only headers are looked at, to find message boundaries and to follow
//! ReadyForQuery and COPY.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;

use super::link::{Answered, Answerer, AskSession, Link, ToClient};
use super::request::{
    awaits_ready, ends_request, resets, AskNames, AskRequest, Mark, Request, RequestHook,
};
use super::unsynced::Unsynced;
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
    /// The client left while an ask ran (what the ask ran upstream is cancelled).
    ClientGone,
    /// The client closed its connection between statements; the server was told goodbye and
    /// finishes what runs by itself, as it would had its own client left.
    ClientClosed,
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
    /// Woken at every ReadyForQuery passed to the client, and when COPY FROM STDIN begins.
    ready: Notify,
    /// The server waits for COPY data from the client (CopyInResponse or CopyBothResponse came;
    /// cleared by the client's CopyDone or CopyFail, or a ReadyForQuery): nothing the client
    /// sends is an ask.
    copy_in: AtomicBool,
    /// The client sent Terminate; the server ends the session once what runs has finished.
    terminated: AtomicBool,
    /// Counts what may have destroyed portals: a transaction's end or failure, and a command
    /// passed to the client whose tag is COMMIT, ROLLBACK (to a savepoint too), CLOSE CURSOR,
    /// DISCARD ALL, PREPARE TRANSACTION, DECLARE CURSOR, DO or CALL ([`destroys_portals`]):
    /// rows pgask keeps for an ask portal ([`crate::ask::execute::fetch`]) are of one epoch.
    portal_epoch: AtomicU64,
}

impl Default for SessionState {
    fn default() -> Self {
        SessionState {
            pending: AtomicU32::new(0),
            tx_status: AtomicU8::new(b'I'),
            ready: Notify::new(),
            copy_in: AtomicBool::new(false),
            terminated: AtomicBool::new(false),
            portal_epoch: AtomicU64::new(0),
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

    /// See [`SessionState::portal_epoch`]'s field.
    pub fn portal_epoch(&self) -> u64 {
        self.portal_epoch.load(Ordering::Acquire)
    }

    /// Whether the client sent Terminate.
    pub fn terminated(&self) -> bool {
        self.terminated.load(Ordering::Acquire)
    }

    /// Follows one server message passed to the client (`head`: a CommandComplete's tag as far
    /// as it is known).
    fn server_message(&self, tag: u8, first: Option<u8>, head: &[u8]) {
        match tag {
            b'Z' => {
                if first != Some(b'T') {
                    self.portal_epoch.fetch_add(1, Ordering::AcqRel);
                }
                self.tx_status
                    .store(first.unwrap_or(b'I'), Ordering::Release);
                self.copy_in.store(false, Ordering::Release);
                let _ = self
                    .pending
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| p.checked_sub(1));
                self.ready.notify_waiters();
            }
            b'G' | b'W' => {
                self.copy_in.store(true, Ordering::Release);
                self.ready.notify_waiters();
            }
            b'C' if destroys_portals(head) => {
                self.portal_epoch.fetch_add(1, Ordering::AcqRel);
            }
            _ => {}
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
    // Extended-protocol messages went upstream since the last Query, Sync or FunctionCall: the
    // server is inside their implicit transaction, where an ask cannot open its own.
    let mut unsynced = Unsynced::No;
    loop {
        // Up to here the bytes go upstream after this pass.
        let mut ready = 0;
        let mut terminate = false;
        let mut ask = None;
        while let Some(h) = next_frame(&buf[scanned..], cx.max_message)? {
            if h.tag == b'X' && held.is_some() {
                // Terminate is never part of an ask: the ask's request ends before it.
                let pass = Pass {
                    ready: &mut ready,
                    unsynced: &mut unsynced,
                };
                ask = pass.close(cx, &buf, (&mut held, &mut executes), &names, scanned);
                if ask.is_some() {
                    break;
                }
            }
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
            if matches!(h.tag, b'c' | b'f') {
                // CopyDone or CopyFail: what follows may be an ask again.
                cx.state.copy_in.store(false, Ordering::Release);
            }
            let mark = match asks {
                // During COPY FROM STDIN nothing is an ask (the server refuses a Query there).
                Some(_) if !cx.state.copy_in.load(Ordering::Acquire) => {
                    cx.hook
                        .on_message(h.tag, &buf[start + 5..scanned], &mut names)
                }
                _ => Mark::Plain,
            };
            // The next client of a pooled connection starts without the last one's asks
            // (follow-ups, `ask: #1`, feedback). (The ask statements' names stay: a statement
            // the server still has after a refused DISCARD ALL is still an ask.)
            if mark == Mark::Plain && resets(h.tag, &buf[start + 5..scanned]) {
                if let Some(io) = asks.as_deref_mut() {
                    io.session.memory = Default::default();
                }
            }
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
                unsynced = unsynced.after(h.tag, &buf[start + 5..scanned], &|n| names.is_begin(n));
            }
            if h.tag == b'X' {
                terminate = true;
                break;
            }
            if ends_request(h.tag) && held.is_some() {
                let pass = Pass {
                    ready: &mut ready,
                    unsynced: &mut unsynced,
                };
                ask = pass.close(cx, &buf, (&mut held, &mut executes), &names, scanned);
                if ask.is_some() {
                    break;
                }
            }
        }
        if let Some(mut from) = held.filter(|&f| scanned - f >= EARLY_FORWARD) {
            // An ask whose request never ends: its bytes go upstream as they are, behind a
            // failing statement when they execute an ask (the server then skips them up to
            // Sync; they would run outside the read-only scope).
            if std::mem::take(&mut executes) {
                wr.write_all(&buf[..from])
                    .await
                    .map_err(SessionError::UpstreamIo)?;
                wr.write_all(&refusal())
                    .await
                    .map_err(SessionError::UpstreamIo)?;
                tally.bytes(from);
                buf.advance(from);
                scanned -= from;
                unsynced = Unsynced::Other;
                from = 0;
            }
            unsynced = unsynced.after_bytes(&buf[from..scanned], &|n| names.is_begin(n));
            held = None;
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
            // its results; the server's close ends the session.
            return terminated(rd, wr, cx.state).await;
        }
        if let (Some((request, own, _, len)), Some(io)) = (ask.take(), asks.as_deref_mut()) {
            // What came before the ask was sent above; the ask's own bytes are its to send.
            let mine = buf.split_to(len);
            scanned -= len;
            let asked = Asked {
                request,
                own,
                unsynced,
                bytes: &mine,
            };
            // Rows kept for portals closed or bound again since are freed.
            io.session.suspended.retain_live(|p| names.binding(p));
            match answer(rd, wr, cx, io, asked, &mut buf).await? {
                None => return Ok(End::ClientGone),
                Some((a, sent)) => {
                    discarding = a.discard_until_sync;
                    if let Unsynced::Harmless(_) = unsynced {
                        // The ask synced it.
                        unsynced = Unsynced::No;
                    }
                    if sent {
                        unsynced = unsynced.after_bytes(&mine, &|n| names.is_begin(n));
                    }
                }
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
            // The client left: tell the server goodbye (it finishes what runs, as it would when
            // its own client left, and then ends); nobody is left to read the results.
            let _ = wr.write_all(&TERMINATE).await;
            let _ = wr.shutdown().await;
            return Ok(End::ClientClosed);
        }
    }
}

/// An ask the frontend found: its request, how many ReadyForQuery its own messages await, where
/// it starts in the buffer and how long it is.
type Found = (AskRequest, u32, usize, usize);

/// Where the frontend's pass stands when a held part ends.
struct Pass<'a> {
    /// Bytes before this go upstream after the pass.
    ready: &'a mut usize,
    unsynced: &'a mut Unsynced,
}

impl Pass<'_> {
    /// Ends the held part (where it starts, and whether it executes an ask portal; both are
    /// reset) at `end`: the ask it holds, which stops the pass before it, or `None` when the held
    /// messages are not an ask after all and go on as they are.
    fn close(
        self,
        cx: &RelayContext<'_>,
        buf: &[u8],
        (held, executes): (&mut Option<usize>, &mut bool),
        names: &AskNames,
        end: usize,
    ) -> Option<Found> {
        let from = held.take()?;
        let bytes = &buf[from..end];
        match cx
            .hook
            .ask(Request { bytes }, std::mem::take(executes), names)
        {
            Some(request) => {
                let own = Request { bytes }
                    .messages()
                    .filter(|(t, _)| awaits_ready(*t))
                    .count() as u32;
                *self.ready = from;
                Some((request, own, from, end - from))
            }
            None => {
                *self.unsynced = self.unsynced.after_bytes(bytes, &|n| names.is_begin(n));
                *self.ready = end;
                None
            }
        }
    }
}

/// A Terminate message.
const TERMINATE: [u8; 5] = [b'X', 0, 0, 0, 4];

/// After the client's Terminate went upstream: PostgreSQL reads it once the statement before it
/// has finished and its results are sent, then closes, and the backend relay ends the session.
/// Meanwhile the client is read only to notice it leave (then nobody waits for the results, and
/// the session ends at once; the server still finishes and ends by itself).
async fn terminated<R, W>(rd: &mut R, wr: &mut W, state: &SessionState) -> Result<End, SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    state.terminated.store(true, Ordering::Release);
    let _ = wr.shutdown().await;
    let mut sink = [0u8; 1024];
    loop {
        match rd.read(&mut sink).await {
            Ok(0) | Err(_) => return Ok(End::Terminated),
            Ok(_) => {}
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

/// One ask as the frontend relay holds it.
struct Asked<'b> {
    request: AskRequest,
    /// How many ReadyForQuery its own messages await.
    own: u32,
    /// Extended-protocol messages sent before it and still without Sync.
    unsynced: Unsynced,
    /// Its messages as the client sent them.
    bytes: &'b [u8],
}

/// What the server runs instead of an ask that follows pipelined messages not yet ended by Sync:
/// it fails as that statement, so the server aborts the pipeline's implicit transaction and
/// skips to Sync exactly as it would for any failing statement (the ask's own read-only
/// transaction cannot start inside another, and rolling that one back would undo the client's
/// earlier writes).
const REFUSE_IN_PIPELINE: &str = "DO $pgask$ BEGIN RAISE EXCEPTION USING ERRCODE = '0A000', \
    MESSAGE = 'pgask: an ask cannot follow statements of a pipeline that are not yet synced', \
    HINT = 'Send Sync (end the pipeline) before the ask.'; END $pgask$";

/// Runs one ask once the answers to everything before it have reached the client. The client
/// is read meanwhile (into `buf`, for later) only to notice it leaving; `None` if it left.
/// With the answer comes whether the ask's bytes (as sent, or rewritten) went upstream.
async fn answer<R, W>(
    rd: &mut R,
    wr: &mut W,
    cx: &RelayContext<'_>,
    io: &mut AskIo<'_>,
    asked: Asked<'_>,
    buf: &mut BytesMut,
) -> Result<Option<(Answered, bool)>, SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send,
{
    let Asked {
        request,
        own,
        unsynced,
        bytes,
    } = asked;
    if unsynced == Unsynced::Other {
        // In the server's order, with the server's semantics: no waiting needed.
        let sent = refused_in_pipeline(&request, bytes);
        wr.write_all(&sent)
            .await
            .map_err(SessionError::UpstreamIo)?;
        return Ok(Some((Answered::default(), true)));
    }
    let state = cx.state;
    loop {
        let woken = state.ready.notified();
        if state.copy_in.load(Ordering::Acquire) {
            // The server waits for COPY data: it refuses the message itself (08P01).
            wr.write_all(bytes)
                .await
                .map_err(SessionError::UpstreamIo)?;
            return Ok(Some((Answered::default(), true)));
        }
        if state.pending.load(Ordering::Acquire) <= own {
            break;
        }
        tokio::select! {
            () = woken => {}
            n = rd.read_buf(buf), if buf.len() < EARLY_FORWARD => {
                if n.map_err(SessionError::ClientIo)? == 0 {
                    return Ok(None);
                }
            }
        }
    }
    let mut status = cx.state.tx_status();
    io.session.suspended.expire(cx.state.portal_epoch());
    io.cancel.begin();
    let mut link = Link::new(wr, &mut io.captured, &io.to_client, &io.cancel);
    let mut skipped = None;
    if let Unsynced::Harmless(_) = unsynced {
        let (now, failed) = sync_harmless(&mut link)
            .await
            .map_err(|e| SessionError::Protocol(format!("ask: {e}")))?;
        status = now;
        cx.state.tx_status.store(status, Ordering::Release);
        if failed {
            // One of them failed: like PostgreSQL, the rest of the request is skipped up to its
            // Sync, which gets the ReadyForQuery.
            let answered = skipped_after_error(&mut link, &request, bytes, status)
                .await
                .map_err(|e| SessionError::Protocol(format!("ask: {e}")))?;
            skipped = Some(answered);
        }
    }
    let answered = match skipped {
        Some(answered) => answered,
        None => {
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
    Ok(Some((answered, false)))
}

/// Ends the client's unsynced messages that change nothing but maybe begin a transaction
/// ([`Unsynced::Harmless`]) with a Sync of pgask's own: the answers to them go to the client,
/// its ReadyForQuery does not (the client's own Sync is still to come, in the ask's request).
/// The ask then runs inside the transaction begun, if one was. Returns the status the server
/// gave, and whether one of the messages failed (the ask must then not run).
async fn sync_harmless(link: &mut Link<'_>) -> Result<(u8, bool), super::link::LinkError> {
    link.upstream(&SYNC).await?;
    let mut failed = false;
    loop {
        let m = link.recv().await?;
        if m.tag == b'Z' {
            return Ok((m.body().first().copied().unwrap_or(b'I'), failed));
        }
        failed |= m.tag == b'E';
        link.client(m.raw).await?;
    }
}

/// What the client is owed for an ask skipped because a message before it failed: a
/// ReadyForQuery for its Sync (an extended request), or nothing until its next Sync (a request
/// without Sync, or a simple Query, which PostgreSQL skips as well).
async fn skipped_after_error(
    link: &mut Link<'_>,
    request: &AskRequest,
    bytes: &[u8],
    status: u8,
) -> Result<Answered, super::link::LinkError> {
    let last = Request { bytes }.messages().last().map(|(t, _)| t);
    match (request, last) {
        (AskRequest::Extended(_), Some(b'S')) => {
            link.client(crate::ask::execute::wire::ready_for_query(status))
                .await?;
            Ok(Answered {
                readies: 1,
                discard_until_sync: false,
            })
        }
        (AskRequest::Simple(_), _) => Ok(Answered {
            // The Query awaits no ReadyForQuery now.
            readies: 1,
            discard_until_sync: true,
        }),
        _ => Ok(Answered {
            readies: 0,
            discard_until_sync: true,
        }),
    }
}

/// A Sync message.
const SYNC: [u8; 5] = [b'S', 0, 0, 0, 4];

/// A message the server refuses at once with nothing before its error: an Execute of a portal
/// that cannot exist (its name says why), so the pipeline aborts and skips to Sync. (A Parse
/// and Bind of a failing statement would add ParseComplete and BindComplete the client never
/// asked for.)
fn refusal() -> Vec<u8> {
    crate::ask::execute::wire::execute(REFUSAL_PORTAL.as_bytes(), 0)
}

/// The portal [`refusal`] executes (PostgreSQL answers 34000 `portal "…" does not exist`).
const REFUSAL_PORTAL: &str = "pgask: no ask after unsynced statements; send Sync before it";

/// The ask's messages with its first ask statement replaced by [`REFUSE_IN_PIPELINE`] (a Query
/// for a simple ask, the Parse's text for an extended one); an ask that only executes an
/// earlier ask statement gets the failing statement in front ([`refusal`]).
fn refused_in_pipeline(request: &AskRequest, bytes: &[u8]) -> Vec<u8> {
    use crate::net::messages::{cstring, write_message};
    let mut out = Vec::with_capacity(bytes.len() + REFUSE_IN_PIPELINE.len());
    match request {
        AskRequest::Simple(_) => {
            write_message(&mut out, b'Q', |b| cstring(b, REFUSE_IN_PIPELINE));
        }
        AskRequest::Extended(ext) => {
            let first = ext.parses.first();
            if first.is_none() {
                // It only executes an ask statement prepared before: the failing statement goes
                // first, and the server skips the rest.
                out.extend_from_slice(&refusal());
            }
            for (index, (tag, body)) in (Request { bytes }).messages().enumerate() {
                match first {
                    Some(p) if p.index == index => write_message(&mut out, b'P', |b| {
                        cstring(b, &p.statement);
                        cstring(b, REFUSE_IN_PIPELINE);
                        b.extend_from_slice(&p.param_types);
                    }),
                    _ => write_message(&mut out, tag, |b| b.extend_from_slice(body)),
                }
            }
        }
    }
    out
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
                if h.tag == b'E' && msg.as_deref().is_some_and(|m| is_fatal(&m[5..])) {
                    // The server ends the session (pg_terminate_backend, shutdown): the client
                    // hears it in the server's words, as without pgask, and the session ends
                    // when the server closes.
                    if let Some(m) = msg.take() {
                        wr.write_all(&m).await.map_err(SessionError::ClientIo)?;
                        tally.bytes(m.len());
                    }
                    last_tag = b'E';
                    continue;
                }
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
            cx.state
                .server_message(seen.header.tag, seen.first, seen.head.as_slice());
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

/// Command tags after which a portal may be gone.
const PORTAL_ENDS: [&[u8]; 11] = [
    b"COMMIT",
    b"COMMIT PREPARED",
    b"ROLLBACK",
    b"ROLLBACK PREPARED",
    b"CLOSE CURSOR",
    b"CLOSE CURSOR ALL",
    b"DISCARD ALL",
    b"PREPARE TRANSACTION",
    // A cursor of the same name, or one closed or rolled back to inside a block.
    b"DECLARE CURSOR",
    b"DO",
    b"CALL",
];

/// Whether a CommandComplete whose body starts with `head` may have destroyed portals: its tag
/// is one of [`PORTAL_ENDS`], or, when only part of the tag is known, could be.
fn destroys_portals(head: &[u8]) -> bool {
    match head.iter().position(|&b| b == 0) {
        Some(end) => PORTAL_ENDS.contains(&&head[..end]),
        None => PORTAL_ENDS
            .iter()
            .any(|t| t.starts_with(head) || head.starts_with(t)),
    }
}

/// Whether an ErrorResponse body is FATAL or PANIC: the server closes the session after it.
fn is_fatal(body: &[u8]) -> bool {
    let mut rest = body;
    while let Some((&code, tail)) = rest.split_first() {
        if code == 0 {
            break;
        }
        let Some(end) = tail.iter().position(|&b| b == 0) else {
            break;
        };
        let value = &tail[..end];
        if (code == b'V' || code == b'S') && (value == b"FATAL" || value == b"PANIC") {
            return true;
        }
        rest = &tail[end + 1..];
    }
    false
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

#[cfg(test)]
mod tests {
    use super::{destroys_portals, is_fatal};

    #[test]
    fn only_tags_that_end_portals_move_the_epoch() {
        for tag in [
            "COMMIT",
            "ROLLBACK",
            "CLOSE CURSOR ALL",
            "DISCARD ALL",
            "PREPARE TRANSACTION",
        ] {
            assert!(destroys_portals(format!("{tag}\0").as_bytes()), "{tag}");
        }
        for tag in [
            "RELEASE",
            "DELETE 3",
            "CREATE TABLE",
            "COPY 2",
            "SELECT 5",
            "COMMENT",
            "PREPARE",
        ] {
            assert!(!destroys_portals(format!("{tag}\0").as_bytes()), "{tag}");
        }
        // Known only in part: judged by what it could still be.
        assert!(destroys_portals(b"ROLL") && destroys_portals(b""));
        assert!(!destroys_portals(b"RELE"));
    }

    #[test]
    fn a_fatal_error_is_told_from_an_error() {
        let fatal = b"SFATAL\0VFATAL\0C57P01\0Mterminating connection\0\0";
        let localized = b"SSCHWERWIEGEND\0VFATAL\0C57P01\0\0";
        let error = b"SERROR\0VERROR\0C42P01\0Mno such table\0\0";
        assert!(is_fatal(fatal) && is_fatal(localized));
        assert!(!is_fatal(error) && !is_fatal(b"") && !is_fatal(b"SFATAL"));
    }
}
