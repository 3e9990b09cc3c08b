//! The seam where the ask pipeline hooks into a session: every client message is shown to a
//! [`RequestHook`] as it arrives. Ordinary messages go upstream at once (a pipelining client may
//! wait for their results before it sends Sync); from a message that starts an ask to the end of
//! its request (a Query, Sync, Flush, FunctionCall, ...), the messages are held for the asker.

use std::collections::{HashMap, HashSet};

use crate::ask::directive::{self, Directive, DirectiveError};
use crate::net::frame::Header;

/// A complete request: whole client messages, as raw bytes.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub bytes: &'a [u8],
}

impl<'a> Request<'a> {
    /// The messages of the request: type byte and body.
    pub fn messages(&self) -> impl Iterator<Item = (u8, &'a [u8])> + 'a {
        let mut rest = self.bytes;
        std::iter::from_fn(move || {
            let header = Header::read(rest)?.ok()?;
            let (msg, tail) = rest.split_at(header.total().min(rest.len()));
            rest = tail;
            Some((header.tag, &msg[5..]))
        })
    }
}

/// What the session does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Send the bytes upstream unchanged (every normal statement).
    Forward,
    /// The request is, or uses, an ask: answered by pgask.
    Ask(AskRequest),
}

/// A request pgask answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AskRequest {
    /// One simple Query whose text is an ask directive (or a malformed one).
    Simple(Result<Directive, DirectiveError>),
    /// Extended-protocol messages that prepare an ask or execute a prepared one.
    Extended(Extended),
}

/// An extended-protocol request (up to Sync or Flush) that involves asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extended {
    /// The whole request, as the client sent it.
    pub bytes: Vec<u8>,
    /// Its Parse messages whose text is an ask.
    pub parses: Vec<AskParse>,
    /// It executes a portal bound to an ask statement: it must run read-only.
    pub executes: bool,
    /// The ask portals its Execute messages name, each with its binding
    /// ([`AskNames::binding`]): a partial fetch of one inside a transaction is kept by pgask
    /// ([`crate::ask::execute::fetch`]).
    pub ask_portals: Vec<(Vec<u8>, u64)>,
    /// It ends with Sync (else with Flush or another message).
    pub sync: bool,
    /// It parses or binds a statement that begins or ends a transaction or savepoint
    /// ([`controls_transaction`]): with an ask's Execute it could end the read-only scope.
    pub controls: bool,
}

/// A Parse message whose query text is an ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AskParse {
    /// Position of the message in the request.
    pub index: usize,
    /// The prepared statement's name ("" for the unnamed one).
    pub statement: String,
    pub directive: Result<Directive, DirectiveError>,
    /// The rest of the Parse body after the query text (the parameter types), kept as sent.
    pub param_types: Vec<u8>,
}

/// The prepared statements and portals of one session that are asks, so that executing them
/// later (a named statement re-executed, a portal bound earlier) is recognised too.
#[derive(Debug, Default)]
pub struct AskNames {
    statements: HashSet<Vec<u8>>,
    /// Each ask portal with the number of the Bind that made it.
    portals: HashMap<Vec<u8>, u64>,
    binds: u64,
    /// Prepared statements (of any kind) that begin or end a transaction or savepoint
    /// ([`controls_transaction`]), marked for good once parsed (the unnamed one until parsed
    /// again).
    controls: HashSet<Vec<u8>>,
    /// The request being received, as far as it could end an ask's scope.
    request: Current,
    /// Past [`MAX_MARKED`] statement names in `controls`: every named statement a request
    /// binds that is no ask's counts as one that could end a scope (names are kept for good,
    /// and a client that parses many would otherwise grow them without bound).
    overflow: bool,
    /// Named statements parsed as a lone transaction start ([`super::unsynced::begins`]):
    /// pgJDBC binds its prepared BEGIN unsynced before the next statement.
    begins: HashSet<Vec<u8>>,
    /// Named portals that were ask portals, since closed or bound again (maybe in a request the
    /// server skipped or never saw): an Execute of one is still held, and refused unless the
    /// same request binds it ([`Current::controls`]).
    retired: HashSet<Vec<u8>>,
}

/// What the request being received did, message by message (the state of the names after the
/// whole request would hide a statement closed or a portal bound again within it).
#[derive(Debug, Default)]
struct Current {
    /// It parsed or bound a statement that begins or ends a transaction or savepoint, or
    /// executed a portal it did not bind that is no ask's (it could be anything).
    controls: bool,
    /// The portals it bound (all of it, also before its first ask message).
    bound: Vec<Vec<u8>>,
    /// A message of it was marked (an ask): what came before went upstream already, and the
    /// rules for what precedes an ask judge that ([`super::unsynced`]).
    held: bool,
    /// Its last message ended it: the next message starts another.
    ended: bool,
}

impl AskNames {
    /// Starts a new [`Current`] when the last message ended a request.
    fn begin_message(&mut self) {
        let request = &mut self.request;
        if std::mem::take(&mut request.ended) {
            request.held = false;
            request.controls = false;
            request.bound.clear();
        }
    }

    /// Follows one message, marked `mark`, for [`Current`] (from the request's first marked
    /// message on: the held part an ask is made of).
    fn follow(&mut self, tag: u8, body: &[u8], mark: Mark) {
        let request = &mut self.request;
        if mark != Mark::Plain && !request.held {
            request.held = true;
            request.controls = false;
        }
        match (tag, cstr(body)) {
            (b'P', Some((name, _))) => request.controls |= self.controls.contains(name),
            (b'B', Some((portal, rest))) => {
                request.bound.push(portal.to_vec());
                request.controls |= cstr(rest).is_some_and(|(s, _)| {
                    self.controls.contains(s)
                        || (self.overflow && !s.is_empty() && !self.statements.contains(s))
                });
            }
            (b'E', Some((portal, _))) => {
                request.controls |= !self.portals.contains_key(portal)
                    && !request.bound.iter().any(|p| p == portal);
            }
            _ => {}
        }
        request.ended = ends_request(tag);
    }

    /// Whether the named statement `name` was parsed as a lone transaction start.
    pub fn is_begin(&self, name: &[u8]) -> bool {
        self.begins.contains(name)
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty() && self.portals.is_empty() && self.retired.is_empty()
    }

    /// `portal` is no longer the ask portal it was (its binding ends); a named one is retired.
    fn retire(&mut self, portal: &[u8]) {
        if self.portals.remove(portal).is_some() && !portal.is_empty() {
            self.retired.insert(portal.to_vec());
        }
    }

    /// Which Bind made `portal`, when it is bound to an ask statement: a portal closed, bound
    /// again or destroyed is never the same binding again.
    pub fn binding(&self, portal: &[u8]) -> Option<u64> {
        self.portals.get(portal).copied()
    }
}

/// The most statement names a session keeps marked as transaction controls or lone BEGINs
/// (each set); names of up to a message's size could otherwise grow a session without bound.
const MAX_MARKED: usize = 256;

/// What one client message means for the ask path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// An ordinary message: it goes upstream as soon as it has arrived.
    Plain,
    /// A Query or Parse whose text is an ask, or a Bind of an ask statement: held, with the rest
    /// of its request, for the asker.
    Ask,
    /// An Execute of a portal bound to an ask statement: held too, and run read-only.
    Execute,
}

/// Looks at each client message of a session, in order, as it arrives. Implementations must be
/// cheap for messages they do not handle: this runs on the passthrough path.
pub trait RequestHook: Send + Sync {
    /// Classifies one message (type byte and body) and follows the session's ask statements and
    /// portals in `names`. Called exactly once per message.
    fn on_message(&self, tag: u8, body: &[u8], names: &mut AskNames) -> Mark;

    /// The ask made of `held`: the client's messages from the first one marked [`Mark::Ask`] or
    /// [`Mark::Execute`] to the end of its request; `executes` if an Execute was marked;
    /// `names` as they stand after it.
    fn ask(&self, held: Request<'_>, executes: bool, names: &AskNames) -> Option<AskRequest>;

    /// Classifies a whole request at once (everything before its first marked message would be
    /// forwarded; the verdict is about the rest). For tests and tools; the relay works message by
    /// message.
    fn on_request(&self, request: Request<'_>, names: &mut AskNames) -> Verdict {
        let mut held = None;
        let mut executes = false;
        let mut at = 0;
        for (tag, body) in request.messages() {
            match self.on_message(tag, body, names) {
                Mark::Plain => {}
                Mark::Ask => {
                    held.get_or_insert(at);
                }
                Mark::Execute => {
                    executes = true;
                    held.get_or_insert(at);
                }
            }
            at += 5 + body.len();
        }
        held.and_then(|from| {
            self.ask(
                Request {
                    bytes: &request.bytes[from..],
                },
                executes,
                names,
            )
        })
        .map_or(Verdict::Forward, Verdict::Ask)
    }
}

/// The hook of a proxy without the ask pipeline: forward everything.
#[derive(Debug, Default)]
pub struct Passthrough;

impl RequestHook for Passthrough {
    fn on_message(&self, _tag: u8, _body: &[u8], _names: &mut AskNames) -> Mark {
        Mark::Plain
    }

    fn ask(&self, _held: Request<'_>, _executes: bool, _names: &AskNames) -> Option<AskRequest> {
        None
    }
}

/// Whether a client message's statement text (a Query's, or a Parse's after its name) holds
/// `DISCARD ALL` ([`discards_all`]).
pub fn resets(tag: u8, body: &[u8]) -> bool {
    match tag {
        b'Q' => discards_all(body.strip_suffix(&[0]).unwrap_or(body)),
        b'P' => cstr(body)
            .and_then(|(_, rest)| cstr(rest))
            .is_some_and(|(text, _)| discards_all(text)),
        _ => false,
    }
}

/// Whether a statement text holds `DISCARD ALL`, a pooler's reset between clients
/// (PgBouncer's `server_reset_query`, Npgsql's pool reset): the session's conversation with
/// pgask ends with it. Comments are skipped; a false match (the words in a string, a DISCARD
/// ALL the server refuses) only forgets the conversation early. A text without the word (every
/// other statement on the passthrough path) is passed over without a copy.
fn discards_all(text: &[u8]) -> bool {
    if !text.windows(7).any(|w| w.eq_ignore_ascii_case(b"discard")) {
        return false;
    }
    let text = String::from_utf8_lossy(text).to_ascii_lowercase();
    let mut plain = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |end| &after[end + 2..]);
            plain.push(' ');
        } else if let Some(after) = rest.strip_prefix("--") {
            rest = after.find('\n').map_or("", |end| &after[end..]);
        } else {
            let mut chars = rest.chars();
            plain.extend(chars.next());
            rest = chars.as_str();
        }
    }
    plain
        .split(';')
        .any(|s| s.split_whitespace().eq(["discard", "all"]))
}

/// The hook of a proxy that answers asks: a simple Query whose text is a directive, or
/// extended-protocol messages that parse one or execute a portal bound to one.
#[derive(Debug, Default)]
pub struct AskHook;

/// Whether a statement's text begins or ends a transaction or savepoint (BEGIN, START, COMMIT,
/// END, ROLLBACK, ABORT, SAVEPOINT, RELEASE, PREPARE TRANSACTION, DISCARD ALL), after leading
/// comments. Inside an ask's read-only scope such a statement would end the scope (a COMMIT
/// commits it, a ROLLBACK TO its savepoint undoes its settings), and what follows would run
/// without it.
pub fn controls_transaction(text: &[u8]) -> bool {
    // Runs on every Parse: the words are compared in place, never copied.
    let (first, rest) = word(text);
    let is = |w: &[u8], k: &[u8]| w.eq_ignore_ascii_case(k);
    let second = || word(rest).0;
    const ENDS: [&[u8]; 8] = [
        b"begin",
        b"start",
        b"commit",
        b"end",
        b"rollback",
        b"abort",
        b"savepoint",
        b"release",
    ];
    if ENDS.iter().any(|k| is(first, k)) {
        return true;
    }
    (is(first, b"prepare") && is(second(), b"transaction"))
        || (is(first, b"discard") && is(second(), b"all"))
}

/// The next word of `text` past whitespace, comments and empty statements (letters only), and
/// what follows it.
fn word(text: &[u8]) -> (&[u8], &[u8]) {
    let t = past_comments(text);
    let t = t.strip_prefix(b"(").map_or(t, past_comments);
    let end = t
        .iter()
        .position(|b| !b.is_ascii_alphabetic())
        .unwrap_or(t.len());
    t.split_at(end)
}

/// `text` after its leading whitespace, comments and empty statements (`;`), read as PostgreSQL
/// reads them (a `--` comment ends at a newline or carriage return; block comments nest).
fn past_comments(text: &[u8]) -> &[u8] {
    let mut t = text;
    loop {
        t = t.trim_ascii_start();
        if let Some(rest) = t.strip_prefix(b";") {
            t = rest;
            continue;
        }
        if let Some(rest) = t.strip_prefix(b"--") {
            let end = rest
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
                .unwrap_or(rest.len());
            t = &rest[end..];
        } else if let Some(rest) = t.strip_prefix(b"/*") {
            let mut depth = 1;
            let mut i = 0;
            while depth > 0 && i < rest.len() {
                match rest.get(i..i + 2) {
                    Some(b"/*") => {
                        depth += 1;
                        i += 2;
                    }
                    Some(b"*/") => {
                        depth -= 1;
                        i += 2;
                    }
                    _ => i += 1,
                }
            }
            t = &rest[i..];
        } else {
            return t;
        }
    }
}

/// A NUL-terminated string at the start of `b`, and what follows it.
pub(crate) fn cstr(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = b.iter().position(|&c| c == 0)?;
    Some((&b[..end], &b[end + 1..]))
}

/// The directive of a statement's text. Text that is not UTF-8 (a client in another encoding)
/// is read lossily, so that an ask is still recognised and refused in words, not passed on as
/// an empty comment.
fn directive_of(text: &[u8]) -> Option<Result<Directive, DirectiveError>> {
    match std::str::from_utf8(text) {
        Ok(t) => directive::parse(t),
        Err(_) => {
            let start = text.trim_ascii_start();
            if !(start.starts_with(b"--") || start.starts_with(b"/*")) {
                return None;
            }
            directive::parse(&String::from_utf8_lossy(text))
        }
    }
}

/// The directive of a statement's text, or the refusal of a text that runs one of the
/// session's ask statements through SQL ([`runs_ask`]).
fn directive_in(text: &[u8], names: &AskNames) -> Option<Result<Directive, DirectiveError>> {
    directive_of(text).or_else(|| runs_ask(text, names).map(|n| Err(DirectiveError::RunsAsk(n))))
}

/// The ask statement of the session that `text` runs through SQL ([`super::reach`]).
fn runs_ask(text: &[u8], names: &AskNames) -> Option<String> {
    if names.is_empty() {
        return None;
    }
    super::reach::reached(text, &|n| {
        names
            .statements
            .iter()
            .any(|s| super::reach::same_name(s, n))
    })
}

impl RequestHook for AskHook {
    fn on_message(&self, tag: u8, body: &[u8], names: &mut AskNames) -> Mark {
        names.begin_message();
        let mark = mark(tag, body, names);
        names.follow(tag, body, mark);
        mark
    }

    fn ask(&self, held: Request<'_>, executes: bool, names: &AskNames) -> Option<AskRequest> {
        ask(held, executes, names)
    }
}

/// What one client message is for the ask path; follows the ask statements and portals, and the
/// statements that control transactions, in `names`.
fn mark(tag: u8, body: &[u8], names: &mut AskNames) -> Mark {
    match tag {
        b'Q' => {
            let text = body.strip_suffix(&[0]).unwrap_or(body);
            // (A Query refused for reaching an ask never reaches the server.)
            if directive_in(text, names).is_some() {
                return Mark::Ask;
            }
            // A simple Query destroys the unnamed statement and portal.
            if !names.is_empty() {
                names.statements.remove(&b""[..]);
                names.portals.remove(&b""[..]);
            }
            names.controls.remove(&b""[..]);
            Mark::Plain
        }
        b'P' => {
            let Some((name, rest)) = cstr(body) else {
                return Mark::Plain;
            };
            let Some((text, _)) = cstr(rest) else {
                return Mark::Plain;
            };
            if runs_ask(text, names).is_some() {
                // Refused, it never reaches the server: the name stays what it was.
                return Mark::Ask;
            }
            if !name.is_empty() {
                if super::unsynced::begins(rest) {
                    // (Past the bound, a named BEGIN is no lone start: the ask after it is
                    // refused as after any unsynced statement.)
                    if names.begins.len() < MAX_MARKED {
                        names.begins.insert(name.to_vec());
                    }
                } else if !names.begins.is_empty() {
                    names.begins.remove(name);
                }
            }
            if controls_transaction(text) {
                if names.controls.len() < MAX_MARKED || name.is_empty() {
                    names.controls.insert(name.to_vec());
                } else {
                    names.overflow = true;
                }
            } else if name.is_empty() && !names.controls.is_empty() {
                // A named statement keeps its mark for good: parsing another statement under
                // its name fails while it exists, and a Close in a request pgask refuses never
                // reaches the server.
                names.controls.remove(name);
            }
            if directive_of(text).is_some() {
                names.statements.insert(name.to_vec());
                return Mark::Ask;
            }
            if name.is_empty() && !names.statements.is_empty() {
                // A named ask statement stays an ask for good, as a COMMIT stays marked: a
                // failed Parse or a Close the server skipped or never saw leaves it there.
                names.statements.remove(name);
            }
            Mark::Plain
        }
        b'B' if !names.is_empty() => {
            let Some((portal, rest)) = cstr(body) else {
                return Mark::Plain;
            };
            let Some((statement, _)) = cstr(rest) else {
                return Mark::Plain;
            };
            if names.statements.contains(statement) {
                names.binds += 1;
                names.portals.insert(portal.to_vec(), names.binds);
                names.retired.remove(portal);
                // Held with its Execute: the read-only scope must begin before the Bind
                // (a scope opened after it would destroy the unnamed portal).
                return Mark::Ask;
            }
            names.retire(portal);
            Mark::Plain
        }
        b'E' if !names.is_empty() => match cstr(body) {
            Some((portal, _)) if names.portals.contains_key(portal) => Mark::Execute,
            // A retired portal the same request bound again is that request's own.
            Some((portal, _))
                if names.retired.contains(portal)
                    && !names.request.bound.iter().any(|p| p == portal) =>
            {
                Mark::Execute
            }
            _ => Mark::Plain,
        },
        b'C' if !names.is_empty() => {
            if let Some((&kind, rest)) = body.split_first() {
                if let Some((name, _)) = cstr(rest) {
                    // A named ask statement stays one (see Parse above).
                    if kind != b'S' {
                        names.retire(name);
                    }
                }
            }
            Mark::Plain
        }
        _ => Mark::Plain,
    }
}

/// The ask made of `held` ([`RequestHook::ask`]).
fn ask(held: Request<'_>, executes: bool, names: &AskNames) -> Option<AskRequest> {
    let mut msgs = held.messages();
    if let (Some((b'Q', body)), None) = (msgs.next(), msgs.next()) {
        let text = body.strip_suffix(&[0]).unwrap_or(body);
        return directive_in(text, names).map(AskRequest::Simple);
    }
    let mut ext = Extended {
        executes,
        ..Default::default()
    };
    let mut last = 0u8;
    ext.controls = names.request.controls;
    for (index, (tag, body)) in held.messages().enumerate() {
        last = tag;
        if tag == b'E' {
            if let Some((portal, _)) = cstr(body) {
                let known = ext.ask_portals.iter().any(|(p, _)| p == portal);
                if let (Some(binding), false) = (names.binding(portal), known) {
                    ext.ask_portals.push((portal.to_vec(), binding));
                }
            }
        }
        if tag != b'P' {
            continue;
        }
        let Some((name, rest)) = cstr(body) else {
            continue;
        };
        let Some((text, param_types)) = cstr(rest) else {
            continue;
        };
        if let Some(directive) = directive_in(text, names) {
            ext.parses.push(AskParse {
                index,
                statement: String::from_utf8_lossy(name).into_owned(),
                directive,
                param_types: param_types.to_vec(),
            });
        }
    }
    if ext.parses.is_empty() && !ext.executes {
        return None;
    }
    ext.sync = last == b'S';
    ext.bytes = held.bytes.to_vec();
    Some(AskRequest::Extended(ext))
}

/// Whether a client message ends a request. Parse, Bind, Describe, Execute and Close only take
/// effect at the next Sync or Flush, so they wait; anything else (Query, Sync, Flush,
/// FunctionCall, COPY data, Terminate, or a type the server will reject) goes now.
pub fn ends_request(tag: u8) -> bool {
    !matches!(tag, b'P' | b'B' | b'D' | b'E' | b'C')
}

/// Whether a client message will be answered by exactly one ReadyForQuery.
pub fn awaits_ready(tag: u8) -> bool {
    matches!(tag, b'Q' | b'S' | b'F')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_control_is_told_from_other_statements() {
        for sql in [
            "COMMIT",
            "  rollback to savepoint pgask_ask",
            "/* x */ END",
            "-- c\nRELEASE SAVEPOINT s",
            "prepare transaction 'x'",
            "BEGIN",
            "commit and chain",
        ] {
            assert!(controls_transaction(sql.as_bytes()), "{sql}");
        }
        for sql in [
            "SELECT 1",
            "INSERT INTO t VALUES (1)",
            "PREPARE p AS SELECT 1",
            "ending",
        ] {
            assert!(!controls_transaction(sql.as_bytes()), "{sql}");
        }
    }

    #[test]
    fn splits_messages() {
        let bytes = [b'P', 0, 0, 0, 6, 1, 2, b'S', 0, 0, 0, 4];
        let got: Vec<_> = Request { bytes: &bytes }.messages().collect();
        assert_eq!(got, vec![(b'P', &[1u8, 2][..]), (b'S', &[][..])]);
    }

    #[test]
    fn finds_discard_all_past_comments_and_case() {
        for text in [
            "DISCARD ALL",
            "discard all;",
            "/* pooler reset */ DISCARD ALL",
            "discard  all -- x",
            "SELECT 1; DISCARD\nALL",
        ] {
            assert!(discards_all(text.as_bytes()), "{text}");
        }
        for text in [
            "DISCARD PLANS",
            "SELECT 'discard'",
            "-- DISCARD ALL",
            "DISCARD ALL x",
        ] {
            assert!(!discards_all(text.as_bytes()), "{text}");
        }
    }

    #[test]
    fn a_reset_is_found_in_a_query_or_a_parse() {
        assert!(resets(b'Q', b"DISCARD ALL\0"));
        // Parse: statement name, text, parameter count.
        assert!(resets(b'P', b"s1\0/* reset */ DISCARD ALL\0\0\0"));
        assert!(resets(b'P', b"\0discard all\0\0\0"));
        assert!(!resets(b'P', b"s1\0SELECT 1\0\0\0"));
        assert!(!resets(b'B', b"DISCARD ALL\0"));
    }
}
