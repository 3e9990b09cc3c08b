//! Partial fetches of ask portals inside a client transaction (pgJDBC with autocommit off and a
//! fetch size, a driver's cursor): an Execute with a row count leaves a portal suspended, and
//! the client comes back for more rows with another Execute.
//!
//! An ask portal cannot outlive its read-only scope: rolling back to the scope's savepoint
//! destroys every portal that ran inside it. So pgask runs the first Execute to the end in the
//! scope, hands the client the rows it asked for and PortalSuspended, as PostgreSQL would, and
//! answers the later Executes of that portal from the rows it kept (`SELECT n` once they run
//! out, `SELECT 0` after that). The rows are at most `ask.max_rows` (the `LIMIT` of
//! [`super::capped`]). They go when the portal is bound again or the transaction has ended.

use std::collections::{HashMap, VecDeque};

use crate::net::messages::write_message;
use crate::session::link::Msg;
use crate::session::request::{cstr as split_cstr, Request};

use super::wire;

/// Rows kept for the suspended ask portals of one session, by portal name.
#[derive(Debug, Default)]
pub struct Suspended {
    portals: HashMap<Vec<u8>, VecDeque<Vec<u8>>>,
}

impl Suspended {
    /// Forgets every portal: the transaction they belonged to has ended.
    pub fn clear(&mut self) {
        self.portals.clear();
    }

    /// Forgets the portals that `request` binds again.
    pub fn forget_bound(&mut self, request: &[u8]) {
        if self.portals.is_empty() {
            return;
        }
        for (tag, body) in messages(request) {
            if tag == b'B' {
                if let Some((portal, _)) = split_cstr(body) {
                    self.portals.remove(portal);
                }
            }
        }
    }

    /// The answer to `request` from kept rows (without ReadyForQuery), when it holds nothing but
    /// Executes of suspended portals, Sync and Flush; `None` when the server must see it.
    pub fn serve(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        let mut executes = Vec::new();
        for (tag, body) in messages(request) {
            match tag {
                b'E' => {
                    let (portal, rest) = split_cstr(body)?;
                    if !self.portals.contains_key(portal) {
                        return None;
                    }
                    executes.push((portal, row_count(rest)));
                }
                b'S' | b'H' => {}
                _ => return None,
            }
        }
        if executes.is_empty() {
            return None;
        }
        let mut out = Vec::new();
        for (portal, n) in executes {
            let rows = self.portals.get_mut(portal)?;
            let take = if n == 0 {
                rows.len()
            } else {
                rows.len().min(n)
            };
            for row in rows.drain(..take) {
                out.extend_from_slice(&row);
            }
            if n > 0 && take == n {
                out.extend_from_slice(&PORTAL_SUSPENDED);
            } else {
                out.extend_from_slice(&wire::command_complete(&format!("SELECT {take}")));
            }
        }
        Some(out)
    }
}

/// PortalSuspended.
const PORTAL_SUSPENDED: [u8; 5] = [b's', 0, 0, 0, 4];

/// One Execute of a request, as its answers pass.
#[derive(Debug)]
struct Run {
    /// The ask portal whose row count became "all", with the count the client asked for.
    whole: Option<(Vec<u8>, usize)>,
    sent: usize,
    kept: VecDeque<Vec<u8>>,
}

/// The Executes of one request, in order, so that the server's answers to each are known.
#[derive(Debug, Default)]
pub struct Fetch {
    runs: VecDeque<Run>,
}

/// `request` with every Execute of one of `ask_portals` that asks for some rows asking for all
/// of them instead, and what to do with the answers.
pub fn whole(request: &[u8], ask_portals: &[Vec<u8>]) -> (Vec<u8>, Fetch) {
    let mut out = Vec::with_capacity(request.len());
    let mut fetch = Fetch::default();
    for (tag, body) in messages(request) {
        let run = match (tag, split_cstr(body)) {
            (b'E', Some((portal, rest))) => {
                let n = row_count(rest);
                let ask = ask_portals.iter().any(|p| p == portal);
                if ask && n > 0 {
                    write_message(&mut out, b'E', |b| {
                        b.extend_from_slice(portal);
                        b.push(0);
                        b.extend_from_slice(&0u32.to_be_bytes());
                    });
                    fetch.runs.push_back(Run {
                        whole: Some((portal.to_vec(), n)),
                        sent: 0,
                        kept: VecDeque::new(),
                    });
                    continue;
                }
                Some(Run {
                    whole: None,
                    sent: 0,
                    kept: VecDeque::new(),
                })
            }
            _ => None,
        };
        fetch.runs.extend(run);
        write_message(&mut out, tag, |b| b.extend_from_slice(body));
    }
    (out, fetch)
}

impl Fetch {
    /// What the client gets for the server's message `m` (nothing for a row kept for later);
    /// a portal left suspended goes to `suspended`.
    pub fn relay(&mut self, m: Msg, suspended: &mut Suspended) -> Option<Vec<u8>> {
        match m.tag {
            b'D' => {
                let Some(run) = self.runs.front_mut() else {
                    return Some(m.raw);
                };
                match &run.whole {
                    Some((_, n)) if run.sent >= *n => {
                        run.kept.push_back(m.raw);
                        None
                    }
                    _ => {
                        run.sent += 1;
                        Some(m.raw)
                    }
                }
            }
            b'C' | b'I' | b's' => match self.runs.pop_front() {
                Some(Run {
                    whole: Some((portal, n)),
                    sent,
                    kept,
                }) if m.tag == b'C' && sent == n => {
                    suspended.portals.insert(portal, kept);
                    Some(PORTAL_SUSPENDED.to_vec())
                }
                _ => Some(m.raw),
            },
            b'E' => {
                // The server skips the rest of the request.
                self.runs.clear();
                Some(m.raw)
            }
            _ => Some(m.raw),
        }
    }
}

/// The row count of an Execute's body after its portal name (0: all rows).
fn row_count(rest: &[u8]) -> usize {
    match rest.get(..4) {
        Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
        None => 0,
    }
}

/// The messages of a request: type byte and body.
fn messages(bytes: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    Request { bytes }.messages()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execute(portal: &str, n: u32) -> Vec<u8> {
        let mut out = Vec::new();
        write_message(&mut out, b'E', |b| {
            b.extend_from_slice(portal.as_bytes());
            b.push(0);
            b.extend_from_slice(&n.to_be_bytes());
        });
        out
    }

    fn sync() -> Vec<u8> {
        vec![b'S', 0, 0, 0, 4]
    }

    fn row(v: &str) -> Msg {
        Msg::from_raw(wire::data_row(&[Some(v)])).unwrap()
    }

    fn tags(bytes: &[u8]) -> Vec<char> {
        messages(bytes).map(|(t, _)| t as char).collect()
    }

    /// Runs the first fetch of `n` rows of a five-row answer; what the client got.
    fn first_fetch(n: u32, suspended: &mut Suspended) -> Vec<u8> {
        let request = [execute("c1", n), sync()].concat();
        let (sent, mut fetch) = whole(&request, &[b"c1".to_vec()]);
        assert_eq!(sent, [execute("c1", 0), sync()].concat());
        let mut answers: Vec<Msg> = (1..=5).map(|i| row(&i.to_string())).collect();
        answers.push(Msg::from_raw(wire::command_complete("SELECT 5")).unwrap());
        answers
            .into_iter()
            .filter_map(|m| fetch.relay(m, suspended))
            .flatten()
            .collect()
    }

    #[test]
    fn a_partial_fetch_is_suspended_and_served_from_the_kept_rows() {
        let mut suspended = Suspended::default();
        let got = first_fetch(2, &mut suspended);
        assert_eq!(tags(&got), ['D', 'D', 's']);
        let next = [execute("c1", 2), sync()].concat();
        assert_eq!(tags(&suspended.serve(&next).unwrap()), ['D', 'D', 's']);
        let last = suspended.serve(&next).unwrap();
        assert_eq!(tags(&last), ['D', 'C']);
        assert!(last.ends_with(&wire::command_complete("SELECT 1")));
        let after = suspended.serve(&next).unwrap();
        assert_eq!(after, wire::command_complete("SELECT 0"));
    }

    #[test]
    fn a_fetch_of_everything_passes_as_the_server_sent_it() {
        let mut suspended = Suspended::default();
        let got = first_fetch(10, &mut suspended);
        assert_eq!(tags(&got), ['D', 'D', 'D', 'D', 'D', 'C']);
        assert!(suspended
            .serve(&[execute("c1", 2), sync()].concat())
            .is_none());
    }

    #[test]
    fn other_portals_and_other_messages_go_to_the_server() {
        let mut suspended = Suspended::default();
        first_fetch(2, &mut suspended);
        assert!(suspended
            .serve(&[execute("other", 2), sync()].concat())
            .is_none());
        let close = {
            let mut out = Vec::new();
            write_message(&mut out, b'C', |b| b.extend_from_slice(b"Pc1\0"));
            out
        };
        assert!(suspended
            .serve(&[execute("c1", 2), close, sync()].concat())
            .is_none());
        // Bound again: a new portal, run by the server.
        let bind = {
            let mut out = Vec::new();
            write_message(&mut out, b'B', |b| {
                b.extend_from_slice(b"c1\0s1\0\0\0\0\0\0\0")
            });
            out
        };
        suspended.forget_bound(&bind);
        assert!(suspended
            .serve(&[execute("c1", 2), sync()].concat())
            .is_none());
    }

    #[test]
    fn executes_of_other_portals_keep_their_count() {
        let request = [execute("plain", 3), execute("c1", 2), sync()].concat();
        let (sent, mut fetch) = whole(&request, &[b"c1".to_vec()]);
        assert_eq!(
            sent,
            [execute("plain", 3), execute("c1", 0), sync()].concat()
        );
        let mut suspended = Suspended::default();
        let answers = [
            row("a"),
            row("b"),
            row("c"),
            Msg::from_raw(PORTAL_SUSPENDED.to_vec()).unwrap(),
            row("1"),
            row("2"),
            row("3"),
            Msg::from_raw(wire::command_complete("SELECT 3")).unwrap(),
        ];
        let got: Vec<u8> = answers
            .into_iter()
            .filter_map(|m| fetch.relay(m, &mut suspended))
            .flatten()
            .collect();
        assert_eq!(tags(&got), ['D', 'D', 'D', 's', 'D', 'D', 's']);
    }
}
