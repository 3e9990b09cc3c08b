//! The seam where the ask pipeline hooks into a session: a complete client request (everything
//! up to and including a Query, Sync, Flush or FunctionCall) is shown to a [`RequestHook`] after it
//! has fully arrived and before any of it is sent upstream.

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
    /// A simple Query that is an ask directive (or a malformed one): answered by pgask.
    Ask(Result<Directive, DirectiveError>),
}

/// Looks at each complete request of a session. Implementations must be cheap for requests they
/// do not handle: this runs on the passthrough path.
pub trait RequestHook: Send + Sync {
    fn on_request(&self, request: Request<'_>) -> Verdict;
}

/// The hook of a proxy without the ask pipeline: forward everything.
#[derive(Debug, Default)]
pub struct Passthrough;

impl RequestHook for Passthrough {
    fn on_request(&self, _request: Request<'_>) -> Verdict {
        Verdict::Forward
    }
}

/// The hook of a proxy that answers asks: a request that is one simple Query whose text is an
/// ask directive. (Extended-protocol asks are not recognised yet and pass through: PostgreSQL
/// then sees an empty statement.)
#[derive(Debug, Default)]
pub struct AskHook;

impl RequestHook for AskHook {
    fn on_request(&self, request: Request<'_>) -> Verdict {
        let mut msgs = request.messages();
        let (Some((b'Q', body)), None) = (msgs.next(), msgs.next()) else {
            return Verdict::Forward;
        };
        let text = body.strip_suffix(&[0]).unwrap_or(body);
        let Ok(text) = std::str::from_utf8(text) else {
            return Verdict::Forward;
        };
        match directive::parse(text) {
            Some(d) => Verdict::Ask(d),
            None => Verdict::Forward,
        }
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
