//! What the client's extended-protocol messages left open upstream when an ask arrives: an ask
//! cannot run inside a pipeline's implicit transaction (its own read-only transaction cannot
//! start there, and rolling it back would undo the pipeline's earlier writes), except after a
//! lone transaction start and messages that change nothing. pgJDBC with autocommit off sends its
//! `BEGIN`, and a Close of the last portal, unsynced in front of the next statement; the ask
//! syncs those itself (their answers go to the client) and runs inside the transaction begun.

use super::request::{awaits_ready, cstr, Request};

/// Extended-protocol messages that went upstream since the last Query, Sync or FunctionCall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unsynced {
    /// None: the server is between requests.
    #[default]
    No,
    /// Only messages that change nothing (Describe, Close, Flush; pgJDBC closes the last
    /// statement's portal in front of the next one), and at most one transaction start
    /// (`BEGIN`, `START TRANSACTION`) through the unnamed statement and portal.
    Harmless(Begin),
    /// Anything else.
    Other,
}

/// How far a transaction start among [`Unsynced::Harmless`] messages went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begin {
    None,
    /// Parsed, under the statement name with this hash (pgJDBC names it once it is prepared on
    /// the server).
    Parsed(u64),
    /// Bound to the unnamed portal (and maybe executed).
    Bound,
}

/// A statement name's hash, to tell the BEGIN's Bind from any other.
fn name_hash(name: &[u8]) -> u64 {
    name.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

impl Unsynced {
    /// After a message of type `tag` with `body` went upstream; `known_begin` tells the named
    /// statements parsed in earlier requests as a lone transaction start.
    pub fn after(self, tag: u8, body: &[u8], known_begin: &dyn Fn(&[u8]) -> bool) -> Unsynced {
        use Unsynced::*;
        let harmless = |begin| match self {
            Other => Other,
            _ => Harmless(begin),
        };
        let begin = match self {
            Harmless(b) => b,
            _ => Begin::None,
        };
        match tag {
            t if awaits_ready(t) => No,
            b'P' => match cstr(body) {
                Some((name, rest)) if begin == Begin::None && begins(rest) => {
                    harmless(Begin::Parsed(name_hash(name)))
                }
                _ => Other,
            },
            // Bind of the BEGIN to the unnamed portal, and its Execute.
            b'B' => match cstr(body).map(|(portal, rest)| (portal, cstr(rest))) {
                Some((b"", Some((statement, _))))
                    if begin == Begin::Parsed(name_hash(statement))
                        || (begin == Begin::None && known_begin(statement)) =>
                {
                    harmless(Begin::Bound)
                }
                _ => Other,
            },
            b'E' => match cstr(body) {
                Some((b"", _)) if begin == Begin::Bound => self,
                _ => Other,
            },
            b'D' | b'C' => harmless(begin),
            _ => self,
        }
    }

    /// After every message of `bytes` went upstream.
    pub fn after_bytes(self, bytes: &[u8], known_begin: &dyn Fn(&[u8]) -> bool) -> Unsynced {
        Request { bytes }
            .messages()
            .fold(self, |u, (tag, body)| u.after(tag, body, known_begin))
    }
}

/// Whether a Parse's text (up to its NUL) is one statement that starts a transaction.
pub fn begins(rest: &[u8]) -> bool {
    let Some((text, _)) = cstr(rest) else {
        return false;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return false;
    };
    let text = text.trim().trim_end_matches(';').trim_end();
    if text.contains(';') {
        return false;
    }
    let mut words = text.split_ascii_whitespace().map(str::to_ascii_lowercase);
    match words.next().as_deref() {
        Some("begin") => true,
        Some("start") => words.next().as_deref() == Some("transaction"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::messages::{cstring, write_message};

    fn msg(tag: u8, fields: &[&str], tail: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_message(&mut out, tag, |b| {
            for f in fields {
                cstring(b, f);
            }
            b.extend_from_slice(tail);
        });
        out
    }

    fn begin_then(text: &str) -> Unsynced {
        let bytes = [
            msg(b'P', &["", text], &[0, 0]),
            msg(b'B', &["", ""], &[0, 0, 0, 0, 0, 0]),
            msg(b'E', &[""], &[0, 0, 0, 0]),
        ]
        .concat();
        Unsynced::No.after_bytes(&bytes, &NONE)
    }

    const BEGUN: Unsynced = Unsynced::Harmless(Begin::Bound);

    /// No statement is known as a BEGIN from before.
    const NONE: fn(&[u8]) -> bool = |_| false;

    #[test]
    fn a_lone_transaction_start_is_told_apart() {
        assert_eq!(begin_then("BEGIN"), BEGUN);
        assert_eq!(begin_then("begin read only;"), BEGUN);
        assert_eq!(
            begin_then("START TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
            BEGUN
        );
        assert_eq!(begin_then("BEGIN; DELETE FROM t"), Unsynced::Other);
        assert_eq!(begin_then("INSERT INTO t VALUES (1)"), Unsynced::Other);
        assert_eq!(begin_then("START"), Unsynced::Other);
    }

    #[test]
    fn anything_after_the_begin_makes_it_other() {
        let begun = begin_then("BEGIN");
        let named = msg(b'B', &["", "S_3"], &[0, 0, 0, 0, 0, 0]);
        assert_eq!(begun.after_bytes(&named, &NONE), Unsynced::Other);
        let parse = msg(b'P', &["", "UPDATE t SET x = 1"], &[0, 0]);
        assert_eq!(begun.after_bytes(&parse, &NONE), Unsynced::Other);
        let execute = msg(b'E', &["C_1"], &[0, 0, 0, 0]);
        assert_eq!(begun.after_bytes(&execute, &NONE), Unsynced::Other);
        assert_eq!(begun.after(b'H', &[], &NONE), BEGUN);
        assert_eq!(begun.after(b'C', b"PC_2\0", &NONE), BEGUN);
        assert_eq!(begun.after(b'S', &[], &NONE), Unsynced::No);
        // A second BEGIN is not a lone one.
        assert_eq!(
            begun.after_bytes(&msg(b'P', &["", "BEGIN"], &[0, 0]), &NONE),
            Unsynced::Other
        );
        // A named BEGIN (pgJDBC, once the statement is prepared on the server) is one too, bound
        // under its own name; a Bind of another name is not.
        let named = |statement: &str| {
            [
                msg(b'P', &["S_1", "BEGIN"], &[0, 0]),
                msg(b'B', &["", statement], &[0, 0, 0, 0, 0, 0]),
                msg(b'E', &[""], &[0, 0, 0, 0]),
            ]
            .concat()
        };
        assert_eq!(Unsynced::No.after_bytes(&named("S_1"), &NONE), BEGUN);
        assert_eq!(
            Unsynced::No.after_bytes(&named("S_2"), &NONE),
            Unsynced::Other
        );
        // Bound alone, when an earlier request parsed it as a BEGIN.
        let bound = [
            msg(b'B', &["", "S_1"], &[0, 0, 0, 0, 0, 0]),
            msg(b'E', &[""], &[0, 0, 0, 0]),
        ]
        .concat();
        let known: fn(&[u8]) -> bool = |s| s == b"S_1";
        assert_eq!(Unsynced::No.after_bytes(&bound, &known), BEGUN);
        assert_eq!(Unsynced::No.after_bytes(&bound, &NONE), Unsynced::Other);
        assert_eq!(Unsynced::No.after(b'H', &[], &NONE), Unsynced::No);
    }

    #[test]
    fn closes_and_describes_change_nothing() {
        let closed = Unsynced::No.after(b'C', b"PC_2\0", &NONE);
        assert_eq!(closed, Unsynced::Harmless(Begin::None));
        assert_eq!(closed.after(b'D', b"SS_1\0", &NONE), closed);
        // The unnamed statement may be anything parsed before: its Bind is not harmless.
        let bind = msg(b'B', &["", ""], &[0, 0, 0, 0, 0, 0]);
        assert_eq!(closed.after_bytes(&bind, &NONE), Unsynced::Other);
        let execute = msg(b'E', &[""], &[0, 0, 0, 0]);
        assert_eq!(closed.after_bytes(&execute, &NONE), Unsynced::Other);
        assert_eq!(
            Unsynced::Other.after(b'C', b"PC_2\0", &NONE),
            Unsynced::Other
        );
    }
}
