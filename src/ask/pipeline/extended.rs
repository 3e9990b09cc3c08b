//! Asks in the extended protocol (pgJDBC, asyncpg, psycopg 3, node-postgres with parameters):
//! the SQL is generated and checked when the Parse arrives, and the Parse is rewritten to carry
//! it. PostgreSQL itself then answers Describe with the real ParameterDescription and
//! RowDescription and keeps the statement, so a named ask statement can be re-executed and
//! closed like any other. A request that executes a portal of an ask statement (now or later)
//! runs in the read-only scope of [`crate::ask::execute`], capped at `ask.max_rows`.
//!
//! A failed ask answers like a failed Parse: an ErrorResponse, then (when the request did not
//! end with Sync) the session drops the client's messages up to its next Sync. The client's
//! transaction is left as it was.

use crate::ask::directive::Directive;
use crate::ask::execute::{self, fetch, wire, ExecError};
use crate::net::messages::{cstring, write_message};
use crate::session::link::{Answered, AskSession, Link, LinkError};
use crate::session::request::{cstr, AskParse, Extended, Request};

use super::correct::Mode;
use super::lookup::Table;
use super::{AskError, Asker};

impl Asker {
    pub(super) async fn extended(
        &self,
        session: &mut AskSession,
        ext: Extended,
        link: &mut Link<'_>,
        status: u8,
    ) -> Result<Answered, LinkError> {
        match self.extended_in(session, &ext, link, status).await {
            Ok(a) => Ok(a),
            Err(AskError::Link(e)) => Err(e),
            Err(e) => {
                let who = &session.who;
                tracing::info!(error = %e, user = %who.user, db = %who.database, "ask failed");
                link.release().await;
                link.client(e.response().encode()).await?;
                if ext.sync {
                    let now = link.last_status().unwrap_or(status);
                    link.client(wire::ready_for_query(now)).await?;
                    Ok(Answered {
                        readies: 1,
                        discard_until_sync: false,
                    })
                } else {
                    Ok(Answered {
                        readies: 0,
                        discard_until_sync: true,
                    })
                }
            }
        }
    }

    async fn extended_in(
        &self,
        session: &mut AskSession,
        ext: &Extended,
        link: &mut Link<'_>,
        status: u8,
    ) -> Result<Answered, AskError> {
        if ext.executes && ext.controls {
            return Err(AskError::TransactionControl);
        }
        if status == b'E' {
            // PostgreSQL refuses everything but the end of the transaction, in its own words.
            link.forward(&ext.bytes).await?;
            return Ok(Answered::default());
        }
        if ext.executes && status == b'T' && ext.parses.is_empty() {
            if let Some(reply) = session.suspended.serve(&ext.bytes, &ext.ask_portals) {
                // The next rows of a portal fetched in part, as kept.
                link.client(reply).await?;
                if !ext.sync {
                    return Ok(Answered::default());
                }
                link.client(wire::ready_for_query(status)).await?;
                return Ok(Answered {
                    readies: 1,
                    discard_until_sync: false,
                });
            }
        }
        if ext.executes && !ext.sync {
            return Err(AskError::ExecuteWithoutSync);
        }
        let mut texts = Vec::with_capacity(ext.parses.len());
        for p in &ext.parses {
            let directive = p.directive.clone()?;
            let n = parameters(&ext.bytes, p);
            if n > 0 {
                super::unanswered(session, &directive);
                return Err(AskError::Parameters(n));
            }
            if let Err(e) = self.admit(session, &directive, link).await {
                super::unanswered(session, &directive);
                return Err(e);
            }
            let sql = match directive {
                Directive::Rows(q) => {
                    let sql = self.produce(session, &q, link, status, Mode::Check).await?;
                    execute::capped(&sql, self.cfg().ask.max_rows)
                }
                Directive::Sql(q) => {
                    let sql = self.produce(session, &q, link, status, Mode::Check).await?;
                    Table::one("sql", sql).to_sql()
                }
                other => self.look_up(session, other, link, status).await?.to_sql(),
            };
            texts.push(sql);
        }
        let bytes = rewrite(&ext.bytes, &ext.parses, &texts);
        if !ext.executes {
            link.forward(&bytes).await?;
            return Ok(Answered::default());
        }
        // Inside a transaction a portal could be fetched in part and come back for more, but the
        // scope's end destroys it: its rows are fetched whole and kept.
        let (bytes, mut fetch) = match status {
            b'T' => {
                let parses: Vec<usize> = ext.parses.iter().map(|p| p.index).collect();
                fetch::whole(&bytes, &parses, &ext.ask_portals)
            }
            _ => (bytes, fetch::Fetch::default()),
        };
        let suspended = &mut session.suspended;
        let relay = |m| fetch.relay(m, suspended);
        match execute::forward_read_only(link, &bytes, status, &self.limits(), relay).await {
            Ok(()) => {}
            Err(ExecError::Link(e)) => return Err(e.into()),
            Err(e) => return Err(AskError::Server(e.to_string())),
        }
        link.release().await;
        let now = link.last_status().unwrap_or(status);
        link.client(wire::ready_for_query(now)).await?;
        Ok(Answered {
            readies: 1,
            discard_until_sync: false,
        })
    }
}

/// How many parameters the ask statement of `p` takes: those its Parse declares, or those a
/// Bind of it in the same request supplies (psycopg 3 sends `%s` inside the comment as `$1`).
fn parameters(request: &[u8], p: &AskParse) -> usize {
    let declared = p
        .param_types
        .get(..2)
        .map_or(0, |b| i16::from_be_bytes([b[0], b[1]]).max(0) as usize);
    let name = p.statement.as_bytes();
    // Up to a Parse or Close that makes the name another statement's.
    let redefines = |(tag, body): &(u8, &[u8])| match tag {
        b'P' => cstr(body).is_some_and(|(n, _)| n == name),
        b'C' => body.split_first().is_some_and(|(&kind, rest)| {
            kind == b'S' && cstr(rest).is_some_and(|(n, _)| n == name)
        }),
        _ => false,
    };
    let supplied = Request { bytes: request }
        .messages()
        .skip(p.index + 1)
        .take_while(|m| !redefines(m))
        .filter(|(tag, _)| *tag == b'B')
        .filter_map(|(_, body)| {
            let (_, rest) = cstr(body)?;
            let (statement, rest) = cstr(rest)?;
            if statement != name {
                return None;
            }
            let formats = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
            let at = 2 + 2 * formats;
            let n = i16::from_be_bytes([*rest.get(at)?, *rest.get(at + 1)?]);
            Some(n.max(0) as usize)
        })
        .max()
        .unwrap_or(0);
    declared.max(supplied)
}

/// The request with each ask Parse carrying its SQL instead of the question (same statement
/// name and parameter types); every other message is copied as it is.
fn rewrite(request: &[u8], parses: &[AskParse], texts: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(request.len() + texts.iter().map(String::len).sum::<usize>());
    let mut rest = request;
    let mut index = 0;
    while let Some(Ok(h)) = crate::net::frame::Header::read(rest) {
        let total = h.total().min(rest.len());
        let (msg, tail) = rest.split_at(total);
        match parses.iter().zip(texts).find(|(p, _)| p.index == index) {
            Some((p, sql)) => write_message(&mut out, b'P', |b| {
                cstring(b, &p.statement);
                cstring(b, sql);
                b.extend_from_slice(&p.param_types);
            }),
            None => out.extend_from_slice(msg),
        }
        rest = tail;
        index += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ask::directive;
    use crate::session::request::{AskHook, AskNames, AskRequest, Request, RequestHook, Verdict};

    fn parse(name: &str, sql: &str) -> Vec<u8> {
        let mut out = Vec::new();
        write_message(&mut out, b'P', |b| {
            cstring(b, name);
            cstring(b, sql);
            b.extend_from_slice(&1u16.to_be_bytes());
            b.extend_from_slice(&23u32.to_be_bytes());
        });
        out
    }

    fn bind_execute_sync(portal: &str, statement: &str) -> Vec<u8> {
        let mut out = Vec::new();
        write_message(&mut out, b'B', |b| {
            cstring(b, portal);
            cstring(b, statement);
            b.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        });
        out.extend_from_slice(&wire::execute(portal.as_bytes(), 0));
        write_message(&mut out, b'S', |_| {});
        out
    }

    fn verdict(names: &mut AskNames, bytes: &[u8]) -> Verdict {
        AskHook.on_request(Request { bytes }, names)
    }

    #[test]
    fn the_parse_is_rewritten_and_the_rest_kept() {
        let mut req = parse("s1", "-- ask: how many albums?");
        req.extend(bind_execute_sync("", "s1"));
        let mut names = AskNames::default();
        let Verdict::Ask(AskRequest::Extended(ext)) = verdict(&mut names, &req) else {
            panic!("not an ask");
        };
        assert!(ext.executes && ext.sync);
        assert_eq!(ext.parses.len(), 1);
        assert_eq!(
            ext.parses[0].directive,
            Ok(Directive::Rows("how many albums?".into()))
        );
        let out = rewrite(&req, &ext.parses, &["SELECT count(*) FROM album".into()]);
        let want = [
            parse("s1", "SELECT count(*) FROM album"),
            bind_execute_sync("", "s1"),
        ]
        .concat();
        assert_eq!(out, want);
        assert!(directive::parse("SELECT count(*) FROM album").is_none());
    }

    #[test]
    fn later_executions_of_ask_statements_are_recognised_until_closed() {
        let mut names = AskNames::default();
        let mut prep = parse("s1", "/* ask: top artists */");
        write_message(&mut prep, b'S', |_| {});
        assert!(matches!(
            verdict(&mut names, &prep),
            Verdict::Ask(AskRequest::Extended(Extended {
                executes: false,
                ..
            }))
        ));
        // Executing it later: read-only.
        let run = bind_execute_sync("p", "s1");
        assert!(matches!(
            verdict(&mut names, &run),
            Verdict::Ask(AskRequest::Extended(Extended { executes: true, .. }))
        ));
        // Another statement through the same portal name: ordinary again.
        let mut other = parse("s2", "INSERT INTO t VALUES (1)");
        other.extend(bind_execute_sync("p", "s2"));
        assert_eq!(verdict(&mut names, &other), Verdict::Forward);
        // Closed: still an ask (a Close the server skipped or never saw would otherwise let
        // the statement run outside the scope; PostgreSQL refuses to bind a closed one).
        let mut close = Vec::new();
        write_message(&mut close, b'C', |b| {
            b.push(b'S');
            cstring(b, "s1");
        });
        write_message(&mut close, b'S', |_| {});
        assert_eq!(verdict(&mut names, &close), Verdict::Forward);
        assert!(matches!(
            verdict(&mut names, &run),
            Verdict::Ask(AskRequest::Extended(Extended { executes: true, .. }))
        ));
        // A portal that was an ask's, executed alone later without being bound again: held,
        // and refused (it could be anything now).
        let mut again = Vec::new();
        write_message(&mut again, b'E', |b| {
            cstring(b, "p");
            b.extend_from_slice(&0u32.to_be_bytes());
        });
        write_message(&mut again, b'S', |_| {});
        let mut rebind = parse("s3", "SELECT 1");
        rebind.extend(bind_execute_sync("p", "s3"));
        assert_eq!(verdict(&mut names, &rebind), Verdict::Forward);
        assert!(matches!(
            verdict(&mut names, &again),
            Verdict::Ask(AskRequest::Extended(Extended { controls: true, .. }))
        ));
    }

    #[test]
    fn marked_statement_names_are_bounded_and_past_the_bound_any_named_bind_may_control() {
        let mut names = AskNames::default();
        let mut prep = parse("s1", "-- ask: how many albums?");
        write_message(&mut prep, b'S', |_| {});
        verdict(&mut names, &prep);
        let run = bind_execute_sync("", "s1");
        let mut other = parse("plain", "SELECT 1");
        write_message(&mut other, b'S', |_| {});
        verdict(&mut names, &other);
        let with_plain = |names: &mut AskNames| {
            let mut req = Vec::new();
            write_message(&mut req, b'B', |b| {
                cstring(b, "");
                cstring(b, "s1");
                b.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            });
            write_message(&mut req, b'B', |b| {
                cstring(b, "q");
                cstring(b, "plain");
                b.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            });
            req.extend(wire::execute(b"", 0));
            write_message(&mut req, b'S', |_| {});
            matches!(
                verdict(names, &req),
                Verdict::Ask(AskRequest::Extended(Extended { controls: true, .. }))
            )
        };
        assert!(!with_plain(&mut names), "a known plain statement");
        // A client that parses many named COMMITs (with names of any size) keeps a bounded
        // set; past it, a named statement bound with an ask could be one of them.
        for i in 0..300 {
            let mut commit = parse(&format!("c{i}{}", "x".repeat(1000)), "COMMIT");
            write_message(&mut commit, b'S', |_| {});
            verdict(&mut names, &commit);
        }
        assert!(with_plain(&mut names), "past the bound");
        assert!(!matches!(
            verdict(&mut names, &run),
            Verdict::Ask(AskRequest::Extended(Extended { controls: true, .. }))
        ));
    }

    #[test]
    fn ordinary_extended_requests_pass() {
        let mut names = AskNames::default();
        let mut req = parse("", "SELECT 1 -- ask: not a directive");
        req.extend(bind_execute_sync("", ""));
        assert_eq!(verdict(&mut names, &req), Verdict::Forward);
        assert!(names.is_empty());
    }
}
