//! Stage 4, choosing among candidates by execution: distinct candidate queries each run inside
//! the read-only scope with a small row limit, and the answer is the one whose result most
//! candidates share (ties: the higher mean token log-probability). Queries that fail are left
//! out of the vote; when all fail, the first failure is what the next attempt corrects. The
//! other results are the ask's other readings (`-- ask: #2` runs the second).

use super::validate::{rejected, Rejected};
use crate::ask::execute::{self, Limits};
use crate::ask::generate::protocol::Stop;
use crate::ask::generate::scope::Scope;
use crate::ask::generate::Candidate;
use crate::session::link::Link;

/// One distinct candidate query and how many candidates wrote it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Proposal {
    pub sql: String,
    pub count: usize,
    /// The best mean token log-probability among the candidates that wrote it.
    pub logprob: f64,
    /// A query the model did not end, finished by pgask (cut back to a whole start and
    /// closed).
    pub shortened: bool,
    /// Written under the strict profile after the full grammar left no query to run
    /// ([`Output::fallback_from`](crate::ask::generate::protocol::Output)).
    pub fallback: bool,
}

/// The distinct queries among `candidates`, in order of first appearance. Queries the model
/// did not end (cut off at `max_tokens`, in a loop or at a dead end of the scope check, or
/// ended by pgask in the closing window) are left out unless no candidate finished. Such a
/// query is run finished ([`Output::finished`](crate::ask::generate::protocol::Output): its
/// longest start that the grammar and the scope check let end, closed) on any attempt, with
/// a notice; one that cannot be finished is tried as written (its error is what the next
/// attempt corrects) only where it was cut off at `max_tokens` or in a loop and the scope
/// check (`scope`, when on) would let it end: one it would not (a value the question names
/// still unused, `… GROUP BY 1, 2 LIMIT 752` without 'Brazil') could plan and answer another
/// question. A strict fallback with a query runs likewise, unless a candidate ended under the
/// full grammar.
pub(super) fn distinct(candidates: Vec<Candidate>, scope: Option<&Scope>) -> Vec<Proposal> {
    let any_complete = candidates.iter().any(|c| c.complete);
    let mut out: Vec<Proposal> = Vec::new();
    for c in candidates {
        if any_complete && !c.complete {
            continue;
        }
        if held_back(&c, scope) {
            continue;
        }
        let (sql, shortened) = match c.output.finished.as_deref() {
            Some(w) if !c.complete => (w.trim().to_string(), true),
            _ => (c.sql, false),
        };
        let lp = c.output.mean_logprob;
        let fallback = c.output.fallback_from.is_some();
        match out.iter_mut().find(|p| p.sql == sql) {
            Some(p) => {
                p.count += 1;
                p.logprob = p.logprob.max(lp);
                // (Candidates the model ended and others are never both here: see
                // `any_complete`.) Written by pgask's finishing or the fallback for any of
                // them, it is marked so: a NOTICE, no cache.
                p.shortened |= shortened;
                p.fallback |= fallback;
            }
            None => out.push(Proposal {
                sql,
                count: 1,
                logprob: lp,
                shortened,
                fallback,
            }),
        }
    }
    out
}

/// Whether `c` has nothing to run: cut off with no start pgask can finish, at a dead end or
/// where `scope` refuses its end; or written under the strict fallback with no query either.
/// Never a proposal, and what the next attempt is told of ([`told`]).
pub(super) fn held_back(c: &Candidate, scope: Option<&Scope>) -> bool {
    if c.output.fallback_from.is_some() {
        return !c.output.has_query();
    }
    if c.output.finished.is_some() {
        return false;
    }
    // (The scope check of the whole text only where the stop does not already say.)
    matches!(c.output.stop, Stop::DeadEnd | Stop::Closed)
        || (!c.complete && scope.is_some_and(|s| s.rejects(&c.sql, "", true)))
}

/// What the next attempt is told of a held-back candidate: its text and why it stopped (for a
/// strict fallback, its first pass under the full grammar).
pub(super) fn told(c: &Candidate) -> (String, Stop) {
    match &c.output.fallback_from {
        Some(first) => (first.text.trim().to_string(), first.stop),
        None => (c.sql.clone(), c.output.stop),
    }
}

/// The result of a vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Vote {
    /// Index of the winning proposal.
    pub winner: usize,
    /// Candidates whose result is the winner's.
    pub agreed: usize,
    /// The other readings: the best proposal of each other result, with the candidates that
    /// gave that result, larger groups first.
    pub others: Vec<(usize, usize)>,
}

/// Groups proposals by their result digest (`None`: it failed) and picks the largest group;
/// between groups of one size, the one holding the highest log-probability; within the group,
/// the proposal most candidates wrote, then the likelier.
pub(super) fn tally(proposals: &[Proposal], digests: &[Option<u64>]) -> Option<Vote> {
    let mut groups: Vec<(u64, usize, f64, usize)> = Vec::new(); // digest, size, best lp, best
    for (i, (p, d)) in proposals.iter().zip(digests).enumerate() {
        let Some(d) = *d else { continue };
        match groups.iter_mut().find(|g| g.0 == d) {
            Some(g) => {
                g.1 += p.count;
                let best = &proposals[g.3];
                if (p.count, p.logprob) > (best.count, best.logprob) {
                    g.3 = i;
                }
                g.2 = g.2.max(p.logprob);
            }
            None => groups.push((d, p.count, p.logprob, i)),
        }
    }
    // Largest group first; between groups of one size, the likelier.
    groups.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.total_cmp(&a.2)));
    let mut groups = groups.into_iter();
    let (_, agreed, _, winner) = groups.next()?;
    Some(Vote {
        winner,
        agreed,
        others: groups.map(|(_, n, _, best)| (best, n)).collect(),
    })
}

/// Runs each proposal read-only (at most `sample_rows` rows, kept from the client) and votes.
pub(super) async fn vote(
    link: &mut Link<'_>,
    proposals: &[Proposal],
    status: u8,
    limits: &Limits,
    sample_rows: u32,
) -> Result<Vote, Rejected> {
    let mut digests = Vec::with_capacity(proposals.len());
    let mut first_failure = None;
    for p in proposals {
        if link.is_cancelled() {
            return Err(Rejected::Cancelled);
        }
        match execute::sample(link, &p.sql, status, limits, sample_rows).await {
            Ok(s) => digests.push(Some(s.digest)),
            Err(e) => match rejected(e, &p.sql, link.is_cancelled()) {
                Rejected::Correctable(f) => {
                    first_failure.get_or_insert(f);
                    digests.push(None);
                }
                other => return Err(other),
            },
        }
    }
    tally(proposals, &digests)
        .ok_or_else(|| Rejected::Correctable(first_failure.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ask::generate::protocol::Output;

    fn cand(sql: &str, stop: Stop) -> Candidate {
        Candidate {
            sql: sql.into(),
            complete: stop.complete(),
            output: Output {
                text: sql.into(),
                prompt_tokens: 0,
                reused_tokens: 0,
                generated_tokens: 1,
                grammar_resamples: 0,
                grammar_checked: 0,
                stop,
                prompt_ms: 0.0,
                generate_ms: 0.0,
                grammar_ms: 0.0,
                scope_refusals: 0,
                backtracks: 24,
                reused_logits: 0,
                grammar_build_ms: 0.0,
                mean_logprob: -1.0,
                finished: None,
                finish_ms: 0.0,
                fallback_from: None,
            },
        }
    }

    #[test]
    fn a_query_the_model_did_not_end_runs_finished_on_any_attempt() {
        // Alone, a query cut off at max_tokens with nothing to finish is still tried as
        // written (it may have been whole, and its error is what the next attempt corrects).
        let cut = distinct(
            vec![cand("SELECT name FROM artist WHERE", Stop::MaxTokens)],
            None,
        );
        assert_eq!(cut.len(), 1);
        assert!(!cut[0].shortened);
        // One cut off at a dead end with nothing to finish is not, even alone: it stops short
        // of what was meant.
        let dead = distinct(vec![cand("SELECT name FROM artist", Stop::DeadEnd)], None);
        assert!(dead.is_empty());
        let both = distinct(
            vec![
                cand("SELECT name FROM artist", Stop::DeadEnd),
                cand("SELECT title FROM album", Stop::MaxTokens),
            ],
            None,
        );
        assert_eq!(both.len(), 1);
        assert_eq!(both[0].sql, "SELECT title FROM album");
        // Its finished query is run instead, on any attempt, marked (a notice, no cache);
        // never before one the model ended.
        let mut short = cand(
            "SELECT name FROM artist WHERE artist_id = 1 AND",
            Stop::DeadEnd,
        );
        short.output.finished = Some("SELECT name FROM artist WHERE artist_id = 1 ".into());
        assert!(!held_back(&short, None));
        let run = distinct(vec![short.clone()], None);
        assert_eq!(run.len(), 1);
        assert_eq!(run[0].sql, "SELECT name FROM artist WHERE artist_id = 1");
        assert!(run[0].shortened);
        let finished = distinct(
            vec![short, cand("SELECT title FROM album", Stop::Eos)],
            None,
        );
        assert_eq!(finished.len(), 1);
        assert_eq!(finished[0].sql, "SELECT title FROM album");
        assert!(!finished[0].shortened);
        // One pgask ended in the closing window goes the same way, with the notice.
        let mut closed = cand("SELECT name FROM artist WHERE artist_id = 12", Stop::Closed);
        closed.output.finished = Some(closed.sql.clone());
        let run = distinct(vec![closed], None);
        assert_eq!(run.len(), 1);
        assert!(run[0].shortened);
    }

    #[test]
    fn a_strict_fallback_runs_on_any_attempt_and_a_retry_hears_of_the_first_pass() {
        use crate::ask::generate::protocol::FirstPass;
        let mut strict = cand("SELECT artist.name FROM artist", Stop::Eos);
        // (As `candidates` makes it: no query the model ended under the attempt's grammar.)
        strict.complete = false;
        strict.output.fallback_from = Some(FirstPass {
            text: "SELECT a.name FROM artist x ".into(),
            stop: Stop::DeadEnd,
        });
        // It runs on any attempt, marked; held back (no query), the retry is told of the dead
        // end the full grammar led into, not of the strict query (one that fails when it runs
        // is corrected from its own error, like any query that ran).
        assert!(!held_back(&strict, None));
        let first = distinct(vec![strict.clone()], None);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].sql, "SELECT artist.name FROM artist");
        assert!(first[0].fallback && !first[0].shortened);
        assert_eq!(
            told(&strict),
            ("SELECT a.name FROM artist x".to_string(), Stop::DeadEnd)
        );
        // Beside a query the model ended under the full grammar, that one is run.
        let both = distinct(
            vec![strict.clone(), cand("SELECT title FROM album", Stop::Eos)],
            None,
        );
        assert_eq!(both.len(), 1);
        assert_eq!(both[0].sql, "SELECT title FROM album");
        assert!(!both[0].fallback);
        // The same query from a candidate finished by pgask: both marks stay (no cache); one
        // the model ended under the full grammar leaves the fallback out.
        let mut finished = cand("SELECT artist.name FROM artist WHERE", Stop::MaxTokens);
        finished.output.finished = Some("SELECT artist.name FROM artist".into());
        for pair in [
            vec![strict.clone(), finished.clone()],
            vec![finished.clone(), strict.clone()],
        ] {
            let one = distinct(pair, None);
            assert_eq!(one.len(), 1);
            assert!(one[0].fallback && one[0].shortened, "{one:?}");
        }
        let ended = cand("SELECT artist.name FROM artist", Stop::Eos);
        for pair in [
            vec![strict.clone(), ended.clone()],
            vec![ended, strict.clone()],
        ] {
            let one = distinct(pair, None);
            assert_eq!(one.len(), 1);
            assert!(!one[0].fallback && !one[0].shortened, "{one:?}");
        }
        // A strict pass finished by pgask runs finished on any attempt, marked both ways.
        let mut cut = strict.clone();
        cut.sql = "SELECT artist.name FROM artist WHERE".into();
        cut.output.stop = Stop::MaxTokens;
        cut.output.finished = Some("SELECT artist.name FROM artist ".into());
        let one = distinct(vec![cut.clone()], None);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].sql, "SELECT artist.name FROM artist");
        assert!(one[0].fallback && one[0].shortened, "{one:?}");
        // One cut off with nothing to finish has nothing to run.
        cut.output.finished = None;
        assert!(held_back(&cut, None));
        assert!(distinct(vec![cut.clone()], None).is_empty());
    }

    #[test]
    fn a_query_cut_off_where_the_scope_refuses_its_end_is_never_run() {
        use crate::ask::catalog::{Catalog, Column, Table};
        let catalog = Catalog {
            database: "chinook".into(),
            fingerprint: String::new(),
            extensions: Vec::new(),
            tables: vec![Table::new(
                "customer",
                vec![
                    Column::new("customer_id", "integer"),
                    Column::new("country", "text"),
                ],
            )],
        };
        let scope =
            Scope::new(&catalog, &[0], "customers in Brazil").with_values(&["Brazil".into()]);
        // It plans, but it does not use the value: held back on every attempt (what the next
        // attempt is told of), unless a finished query can run.
        let cut = cand(
            "SELECT customer_id FROM customer LIMIT 752",
            Stop::MaxTokens,
        );
        assert!(held_back(&cut, Some(&scope)));
        assert!(distinct(vec![cut.clone()], Some(&scope)).is_empty());
        // Without the scope check it is tried as written, as before.
        assert_eq!(distinct(vec![cut.clone()], None).len(), 1);
        // One that does use it may end there, and runs.
        let good = cand(
            "SELECT customer_id FROM customer WHERE country = 'Brazil'",
            Stop::MaxTokens,
        );
        assert!(!held_back(&good, Some(&scope)));
        assert_eq!(distinct(vec![good], Some(&scope)).len(), 1);
    }

    fn p(sql: &str, count: usize, logprob: f64) -> Proposal {
        Proposal {
            sql: sql.into(),
            count,
            logprob,
            shortened: false,
            fallback: false,
        }
    }

    #[test]
    fn the_largest_group_of_equal_results_wins() {
        let props = [
            p("a", 1, -0.1),
            p("b", 1, -0.9),
            p("c", 1, -0.8),
            p("d", 1, -0.05),
        ];
        // b and c return the same rows; a and d differ; d failed.
        let v = tally(&props, &[Some(1), Some(2), Some(2), None]);
        assert_eq!(
            v,
            Some(Vote {
                winner: 2,
                agreed: 2,
                others: vec![(0, 1)],
            })
        );
    }

    #[test]
    fn ties_go_to_the_likelier_and_identical_texts_count_twice() {
        let props = [p("a", 1, -0.5), p("b", 1, -0.2)];
        assert_eq!(
            tally(&props, &[Some(1), Some(2)]).map(|v| v.winner),
            Some(1)
        );
        let props = [p("a", 2, -0.5), p("b", 1, -0.2)];
        assert_eq!(
            tally(&props, &[Some(1), Some(2)]),
            Some(Vote {
                winner: 0,
                agreed: 2,
                others: vec![(1, 1)],
            })
        );
        assert_eq!(tally(&props, &[None, None]), None);
    }
}
