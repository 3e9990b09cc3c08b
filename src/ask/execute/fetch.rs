//! Partial fetches of ask portals inside a client transaction (pgJDBC with autocommit off and a
//! fetch size or `setMaxRows`): an Execute with a row count leaves a portal suspended, and the
//! client comes back for more rows with another Execute.
//!
//! An ask portal bound inside its read-only scope cannot outlive the scope: rolling back to the
//! scope's savepoint destroys it. So pgask runs such a portal's first Execute to the end in the
//! scope, hands the client the rows it asked for and PortalSuspended, as PostgreSQL would, and
//! answers the later Executes of that portal (each alone in its request, with Sync or Flush)
//! from the rows it kept (`SELECT n` once they run out, `SELECT 0` after that). A portal bound
//! in a request of its own (asyncpg, tokio-postgres) lives outside the scope and is fetched by
//! the server itself.
//!
//! Kept rows are of one binding of the portal ([`AskNames::binding`]: Close, a new Bind, a
//! simple Query for the unnamed portal end it) and one portal epoch of the session (a
//! transaction's end and anything that may destroy portals end it): what PostgreSQL no longer
//! has is never served. They are at most `ask.max_rows` per portal (the `LIMIT` of
//! [`super::capped`]) and [`MAX_KEPT_BYTES`] per session; past that the client gets the rest
//! of the rows at once, with CommandComplete, instead of PortalSuspended.
//!
//! [`AskNames::binding`]: crate::session::request::AskNames::binding

use std::collections::{HashMap, VecDeque};

use crate::net::messages::write_message;
use crate::session::link::Msg;
use crate::session::request::{cstr as split_cstr, Request};

use super::wire;

/// Most bytes of rows a session keeps for suspended portals.
pub const MAX_KEPT_BYTES: usize = 8 << 20;

/// Rows kept for one suspended ask portal.
#[derive(Debug)]
struct Kept {
    binding: u64,
    rows: VecDeque<Vec<u8>>,
}

/// Rows kept for the suspended ask portals of one session, by portal name.
#[derive(Debug, Default)]
pub struct Suspended {
    portals: HashMap<Vec<u8>, Kept>,
    bytes: usize,
    /// The session's portal epoch the rows belong to.
    epoch: u64,
}

impl Suspended {
    /// Forgets every portal when the session's portal epoch is no longer theirs (called before
    /// each ask).
    pub fn expire(&mut self, epoch: u64) {
        if epoch != self.epoch {
            self.portals.clear();
            self.bytes = 0;
            self.epoch = epoch;
        }
    }

    /// Keeps `rows` (`bytes` long) for the portal of `w`, in place of any it had.
    fn keep(&mut self, w: Whole, rows: VecDeque<Vec<u8>>, bytes: usize) {
        self.bytes += bytes;
        let kept = Kept {
            binding: w.binding,
            rows,
        };
        if let Some(old) = self.portals.insert(w.portal, kept) {
            self.bytes -= old.rows.iter().map(Vec::len).sum::<usize>();
        }
    }

    /// Forgets the portals that are no longer the binding `binding` says they are (closed,
    /// bound again, destroyed by a simple Query): their rows no longer count against the cap.
    pub fn retain_live(&mut self, binding: impl Fn(&[u8]) -> Option<u64>) {
        let before = self.portals.len();
        self.portals
            .retain(|name, kept| binding(name) == Some(kept.binding));
        if self.portals.len() != before {
            self.bytes = self
                .portals
                .values()
                .flat_map(|k| k.rows.iter())
                .map(Vec::len)
                .sum();
        }
    }

    /// The answer to `request` from kept rows (without ReadyForQuery), when it holds nothing but
    /// Executes of suspended portals (each still the binding in `ask_portals`), Sync and Flush;
    /// `None` when the server must see it.
    pub fn serve(&mut self, request: &[u8], ask_portals: &[(Vec<u8>, u64)]) -> Option<Vec<u8>> {
        let mut executes = Vec::new();
        for (tag, body) in messages(request) {
            match tag {
                b'E' => {
                    let (portal, rest) = split_cstr(body)?;
                    let binding = ask_portals.iter().find(|(p, _)| p == portal)?.1;
                    if self.portals.get(portal)?.binding != binding {
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
            let kept = self.portals.get_mut(portal)?;
            let take = if n == 0 {
                kept.rows.len()
            } else {
                kept.rows.len().min(n)
            };
            for row in kept.rows.drain(..take) {
                self.bytes -= row.len();
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

/// An Execute whose row count became "all".
#[derive(Debug)]
struct Whole {
    portal: Vec<u8>,
    binding: u64,
    /// The count the client asked for.
    n: usize,
}

/// One Execute of a request, as its answers pass.
#[derive(Debug, Default)]
struct Run {
    whole: Option<Whole>,
    sent: usize,
    kept: VecDeque<Vec<u8>>,
    kept_bytes: usize,
    /// Past [`MAX_KEPT_BYTES`]: everything goes to the client.
    overflow: bool,
}

/// The Executes of one request, in order, so that the server's answers to each are known.
#[derive(Debug, Default)]
pub struct Fetch {
    runs: VecDeque<Run>,
}

/// `request` with the Execute of each of `ask_portals` that asks for some rows asking for all
/// of them instead, and what to do with the answers. Only in a request of nothing but asks
/// (Parse at `ask_parses`, Bind and Execute of ask portals, Describe, Close, Sync, Flush: a
/// COMMIT in it would end the transaction unseen), and only for a portal the request binds
/// once (the scope's end would destroy it), executes once and does not close.
pub fn whole(
    request: &[u8],
    ask_parses: &[usize],
    ask_portals: &[(Vec<u8>, u64)],
) -> (Vec<u8>, Fetch) {
    let binding = |portal: &[u8]| ask_portals.iter().find(|(p, _)| p == portal).map(|p| p.1);
    let mut binds: HashMap<&[u8], usize> = HashMap::new();
    let mut executes: HashMap<&[u8], usize> = HashMap::new();
    let mut closed: Vec<&[u8]> = Vec::new();
    let mut only_asks = true;
    for (index, (tag, body)) in messages(request).enumerate() {
        let name = split_cstr(body).map(|(n, _)| n);
        match (tag, name) {
            (b'P', _) => only_asks &= ask_parses.contains(&index),
            (b'B', Some(portal)) => {
                only_asks &= binding(portal).is_some();
                *binds.entry(portal).or_default() += 1;
            }
            (b'E', Some(portal)) => {
                only_asks &= binding(portal).is_some();
                *executes.entry(portal).or_default() += 1;
            }
            (b'C', _) => {
                if let Some((b'P', rest)) = body.split_first() {
                    closed.extend(split_cstr(rest).map(|(n, _)| n));
                }
            }
            (b'D' | b'S' | b'H', _) => {}
            _ => only_asks = false,
        }
    }
    let mut bound: Vec<&[u8]> = Vec::new();
    let mut out = Vec::with_capacity(request.len());
    let mut fetch = Fetch::default();
    for (tag, body) in messages(request) {
        match (tag, split_cstr(body)) {
            (b'B', Some((portal, _))) => bound.push(portal),
            (b'E', Some((portal, rest))) => {
                let n = row_count(rest);
                let alone = binds.get(portal) == Some(&1)
                    && executes.get(portal) == Some(&1)
                    && !closed.contains(&portal);
                match binding(portal) {
                    Some(binding) if only_asks && alone && n > 0 && bound.contains(&portal) => {
                        out.extend_from_slice(&wire::execute(portal, 0));
                        fetch.runs.push_back(Run {
                            whole: Some(Whole {
                                portal: portal.to_vec(),
                                binding,
                                n,
                            }),
                            ..Run::default()
                        });
                        continue;
                    }
                    _ => fetch.runs.push_back(Run::default()),
                }
            }
            _ => {}
        }
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
                    Some(w) if run.sent >= w.n && !run.overflow => {
                        if suspended.bytes + run.kept_bytes + m.raw.len() <= MAX_KEPT_BYTES {
                            run.kept_bytes += m.raw.len();
                            run.kept.push_back(m.raw);
                            return None;
                        }
                        // Too much to keep: the rest goes now, and the portal ends.
                        run.overflow = true;
                        let mut out: Vec<u8> = run.kept.drain(..).flatten().collect();
                        out.extend_from_slice(&m.raw);
                        Some(out)
                    }
                    _ => {
                        run.sent += 1;
                        Some(m.raw)
                    }
                }
            }
            b'C' | b'I' | b's' => match self.runs.pop_front() {
                Some(Run {
                    whole: Some(w),
                    sent,
                    kept,
                    kept_bytes,
                    overflow: false,
                }) if m.tag == b'C' && sent == w.n => {
                    suspended.keep(w, kept, kept_bytes);
                    Some(PORTAL_SUSPENDED.to_vec())
                }
                Some(Run {
                    whole: Some(w),
                    overflow: true,
                    ..
                }) if m.tag == b'C' => {
                    // Every row went: later Executes of the portal get none, as from PostgreSQL.
                    suspended.keep(w, VecDeque::new(), 0);
                    Some(m.raw)
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
        wire::execute(portal.as_bytes(), n)
    }

    fn bind(portal: &str) -> Vec<u8> {
        let mut out = Vec::new();
        write_message(&mut out, b'B', |b| {
            b.extend_from_slice(portal.as_bytes());
            b.extend_from_slice(b"\0s1\0\0\0\0\0\0\0");
        });
        out
    }

    fn sync() -> Vec<u8> {
        vec![b'S', 0, 0, 0, 4]
    }

    fn row(v: &str) -> Msg {
        Msg::from_raw(wire::data_row(&[Some(v)])).unwrap()
    }

    fn done(n: usize) -> Msg {
        Msg::from_raw(wire::command_complete(&format!("SELECT {n}"))).unwrap()
    }

    fn tags(bytes: &[u8]) -> Vec<char> {
        messages(bytes).map(|(t, _)| t as char).collect()
    }

    fn c1(binding: u64) -> Vec<(Vec<u8>, u64)> {
        vec![(b"c1".to_vec(), binding)]
    }

    /// Runs the first fetch of `n` rows of a five-row answer (binding 1); what the client got.
    fn first_fetch(n: u32, suspended: &mut Suspended) -> Vec<u8> {
        let request = [bind("c1"), execute("c1", n), sync()].concat();
        let (sent, mut fetch) = whole(&request, &[], &c1(1));
        assert_eq!(sent, [bind("c1"), execute("c1", 0), sync()].concat());
        let mut answers: Vec<Msg> = (1..=5).map(|i| row(&i.to_string())).collect();
        answers.push(done(5));
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
        let serve = |s: &mut Suspended| s.serve(&next, &c1(1)).unwrap();
        assert_eq!(tags(&serve(&mut suspended)), ['D', 'D', 's']);
        let last = serve(&mut suspended);
        assert_eq!(tags(&last), ['D', 'C']);
        assert!(last.ends_with(&wire::command_complete("SELECT 1")));
        assert_eq!(serve(&mut suspended), wire::command_complete("SELECT 0"));
    }

    #[test]
    fn a_fetch_of_everything_passes_as_the_server_sent_it() {
        let mut suspended = Suspended::default();
        let got = first_fetch(10, &mut suspended);
        assert_eq!(tags(&got), ['D', 'D', 'D', 'D', 'D', 'C']);
        assert!(suspended
            .serve(&[execute("c1", 2), sync()].concat(), &c1(1))
            .is_none());
    }

    #[test]
    fn rows_of_portals_bound_again_are_freed() {
        let mut suspended = Suspended::default();
        first_fetch(2, &mut suspended);
        assert!(suspended.bytes > 0);
        suspended.retain_live(|_| Some(1));
        assert!(suspended.bytes > 0);
        suspended.retain_live(|_| Some(2));
        assert_eq!(suspended.bytes, 0);
        assert!(suspended.portals.is_empty());
    }

    #[test]
    fn rows_of_another_binding_or_epoch_are_never_served() {
        let next = [execute("c1", 2), sync()].concat();
        let mut suspended = Suspended::default();
        first_fetch(2, &mut suspended);
        // Bound again (or closed and bound again): not the portal the rows were of.
        assert!(suspended.serve(&next, &c1(2)).is_none());
        assert!(suspended.serve(&next, &[]).is_none());
        assert!(suspended
            .serve(&[execute("other", 2), sync()].concat(), &c1(1))
            .is_none());
        // Anything but Executes of kept portals goes to the server.
        let close = {
            let mut out = Vec::new();
            write_message(&mut out, b'C', |b| b.extend_from_slice(b"Pc1\0"));
            out
        };
        assert!(suspended
            .serve(&[execute("c1", 2), close, sync()].concat(), &c1(1))
            .is_none());
        assert!(suspended.serve(&next, &c1(1)).is_some());
        // The transaction ended (or a portal may have been destroyed): all gone.
        suspended.expire(1);
        assert!(suspended.serve(&next, &c1(1)).is_none());
        assert_eq!(suspended.bytes, 0);
    }

    #[test]
    fn only_a_portal_bound_and_executed_once_in_a_request_of_asks_is_fetched_whole() {
        let unchanged = |request: Vec<u8>, portals: &[(Vec<u8>, u64)]| {
            assert_eq!(whole(&request, &[], portals).0, request);
        };
        // Bound earlier (outside the scope): the server keeps it.
        unchanged([execute("c1", 2), sync()].concat(), &c1(1));
        // Executed twice: the server answers both, as asked.
        unchanged(
            [bind("c1"), execute("c1", 2), execute("c1", 2), sync()].concat(),
            &c1(1),
        );
        // Bound twice, or closed, in the request: the rows would be of another binding.
        unchanged(
            [bind("c1"), execute("c1", 2), bind("c1"), sync()].concat(),
            &c1(1),
        );
        let close = {
            let mut out = Vec::new();
            write_message(&mut out, b'C', |b| b.extend_from_slice(b"Pc1\0"));
            out
        };
        unchanged(
            [bind("c1"), execute("c1", 2), close, sync()].concat(),
            &c1(1),
        );
        // Not an ask portal.
        unchanged([bind("c1"), execute("c1", 2), sync()].concat(), &[]);
        // Beside a statement that is no ask (a COMMIT would end the transaction unseen).
        let commit = {
            let mut out = Vec::new();
            write_message(&mut out, b'P', |b| b.extend_from_slice(b"\0COMMIT\0\0\0"));
            out
        };
        unchanged(
            [bind("c1"), execute("c1", 2), commit.clone(), sync()].concat(),
            &c1(1),
        );
        // The same Parse as an ask's: the request is all asks.
        let request = [commit, bind("c1"), execute("c1", 2), sync()].concat();
        assert_ne!(whole(&request, &[0], &c1(1)).0, request);
    }

    #[test]
    fn executes_that_ask_for_everything_keep_their_answers() {
        let portals = [(b"p".to_vec(), 2), (b"c1".to_vec(), 1)];
        let request = [
            bind("p"),
            execute("p", 0),
            bind("c1"),
            execute("c1", 2),
            sync(),
        ]
        .concat();
        let (sent, mut fetch) = whole(&request, &[], &portals);
        assert_eq!(
            sent,
            [
                bind("p"),
                execute("p", 0),
                bind("c1"),
                execute("c1", 0),
                sync()
            ]
            .concat()
        );
        let mut suspended = Suspended::default();
        let answers = [
            row("a"),
            row("b"),
            row("c"),
            done(3),
            row("1"),
            row("2"),
            row("3"),
            done(3),
        ];
        let got: Vec<u8> = answers
            .into_iter()
            .filter_map(|m| fetch.relay(m, &mut suspended))
            .flatten()
            .collect();
        assert_eq!(tags(&got), ['D', 'D', 'D', 'C', 'D', 'D', 's']);
    }

    #[test]
    fn past_the_memory_cap_the_rest_goes_at_once() {
        let request = [bind("c1"), execute("c1", 1), sync()].concat();
        let (_, mut fetch) = whole(&request, &[], &c1(1));
        let mut suspended = Suspended::default();
        let wide = "x".repeat(MAX_KEPT_BYTES / 3);
        let mut got = Vec::new();
        for _ in 0..5 {
            got.extend(fetch.relay(row(&wide), &mut suspended).unwrap_or_default());
        }
        got.extend(fetch.relay(done(5), &mut suspended).unwrap());
        assert_eq!(tags(&got), ['D', 'D', 'D', 'D', 'D', 'C']);
        assert_eq!(suspended.bytes, 0);
        // Every row went: the next Execute gets none, as from PostgreSQL.
        let next = [execute("c1", 1), sync()].concat();
        let after = suspended.serve(&next, &c1(1)).unwrap();
        assert_eq!(after, wire::command_complete("SELECT 0"));
    }
}
