//! The seam where the ask pipeline hooks into a session: a complete client request (everything
//! up to and including a Query, Sync, Flush or FunctionCall) is shown to a [`RequestHook`] after it
//! has fully arrived and before any of it is sent upstream.

use std::collections::HashSet;

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
    /// It ends with Sync (else with Flush or another message).
    pub sync: bool,
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
    portals: HashSet<Vec<u8>>,
}

impl AskNames {
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty() && self.portals.is_empty()
    }
}

/// Looks at each complete request of a session. Implementations must be cheap for requests they
/// do not handle: this runs on the passthrough path.
pub trait RequestHook: Send + Sync {
    fn on_request(&self, request: Request<'_>, names: &mut AskNames) -> Verdict;
}

/// The hook of a proxy without the ask pipeline: forward everything.
#[derive(Debug, Default)]
pub struct Passthrough;

impl RequestHook for Passthrough {
    fn on_request(&self, _request: Request<'_>, _names: &mut AskNames) -> Verdict {
        Verdict::Forward
    }
}

/// The hook of a proxy that answers asks: a simple Query whose text is a directive, or an
/// extended-protocol request that parses one or executes a portal bound to one.
#[derive(Debug, Default)]
pub struct AskHook;

/// A NUL-terminated string at the start of `b`, and what follows it.
fn cstr(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = b.iter().position(|&c| c == 0)?;
    Some((&b[..end], &b[end + 1..]))
}

fn directive_of(text: &[u8]) -> Option<Result<Directive, DirectiveError>> {
    directive::parse(std::str::from_utf8(text).ok()?)
}

impl RequestHook for AskHook {
    fn on_request(&self, request: Request<'_>, names: &mut AskNames) -> Verdict {
        let mut msgs = request.messages();
        if let (Some((b'Q', body)), None) = (msgs.next(), msgs.next()) {
            let text = body.strip_suffix(&[0]).unwrap_or(body);
            if let Some(d) = directive_of(text) {
                return Verdict::Ask(AskRequest::Simple(d));
            }
            // A simple Query destroys the unnamed statement and portal.
            if !names.is_empty() {
                names.statements.remove(&b""[..]);
                names.portals.remove(&b""[..]);
            }
            return Verdict::Forward;
        }
        let mut ext = Extended::default();
        let mut involved = false;
        let mut last = 0u8;
        for (index, (tag, body)) in request.messages().enumerate() {
            last = tag;
            match tag {
                b'P' => {
                    let Some((name, rest)) = cstr(body) else {
                        continue;
                    };
                    let Some((text, param_types)) = cstr(rest) else {
                        continue;
                    };
                    match directive_of(text) {
                        Some(directive) => {
                            names.statements.insert(name.to_vec());
                            ext.parses.push(AskParse {
                                index,
                                statement: String::from_utf8_lossy(name).into_owned(),
                                directive,
                                param_types: param_types.to_vec(),
                            });
                            involved = true;
                        }
                        None if !names.statements.is_empty() => {
                            names.statements.remove(name);
                        }
                        None => {}
                    }
                }
                b'B' if !names.is_empty() => {
                    let Some((portal, rest)) = cstr(body) else {
                        continue;
                    };
                    let Some((statement, _)) = cstr(rest) else {
                        continue;
                    };
                    if names.statements.contains(statement) {
                        names.portals.insert(portal.to_vec());
                    } else {
                        names.portals.remove(portal);
                    }
                }
                b'E' if !names.portals.is_empty() => {
                    if let Some((portal, _)) = cstr(body) {
                        if names.portals.contains(portal) {
                            ext.executes = true;
                            involved = true;
                        }
                    }
                }
                b'C' if !names.is_empty() => {
                    if let Some((&kind, rest)) = body.split_first() {
                        if let Some((name, _)) = cstr(rest) {
                            match kind {
                                b'S' => names.statements.remove(name),
                                _ => names.portals.remove(name),
                            };
                        }
                    }
                }
                _ => {}
            }
        }
        if !involved {
            return Verdict::Forward;
        }
        ext.sync = last == b'S';
        ext.bytes = request.bytes.to_vec();
        Verdict::Ask(AskRequest::Extended(ext))
    }
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
    fn splits_messages() {
        let bytes = [b'P', 0, 0, 0, 6, 1, 2, b'S', 0, 0, 0, 4];
        let got: Vec<_> = Request { bytes: &bytes }.messages().collect();
        assert_eq!(got, vec![(b'P', &[1u8, 2][..]), (b'S', &[][..])]);
    }
}
