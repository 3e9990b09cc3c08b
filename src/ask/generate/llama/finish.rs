//! Finishing a query the model did not end (cut off at `max_tokens`, in a loop, or at a dead
//! end): the longest start of what it wrote that the grammar and the scope check can carry to
//! an end, closed by the fewest closing words.
//!
//! A start is tried only where it cuts no word, number or quoted name in two (`LIMIT 1` of
//! `LIMIT 10`) and once it reads a table. At each one, from the longest, the query may end as
//! it is (the grammar allows the end of text and the scope check finds nothing wrong with it as
//! a whole query), or, at the last few, a short best-first search appends closing words
//! ([`CLOSING`]: `)`, `'`, ` 1`, ` END`, ` TRUE`, …) that the grammar takes and that add no
//! problem, until it may end: `… WHERE (a.title = 'Bal` becomes `… WHERE (a.title = 'Bal')`,
//! `SELECT count(` becomes `SELECT count(*)`.
//!
//! When no such start can be finished (most often the model never reached its FROM), the
//! latest starts where a FROM may follow are given the one their SELECT list asks for
//! ([`Scope::from_tails`]: a chosen table whose columns the list names, with the alias its
//! qualifier waits for), then closed the same way: `SELECT ir_.title, floor(-umf` becomes
//! `SELECT ir_.title FROM album ir_`. Every step is checked by the same grammar and scope
//! check as a drawn token, so a finished query is held to the same rules as an ended one; the
//! search is bounded in steps, and returns nothing when no start can be finished.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet, VecDeque};

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;

use super::super::scope::Scope;
use super::engine::{accept, allowed};
use super::mask::ends_mid_char;
use crate::ask::catalog::quote_ident;

/// The words a query is closed with, most generic first (each must be one token of the
/// vocabulary to be used; most vocabularies have them all).
/// (No ` ON`: `JOIN t` closed with ` ON TRUE` is a cross join that inflates every count.)
pub const CLOSING: &[&str] = &[
    ")", "'", " 1", "1", " END", " TRUE", " NULL", " AND", " THEN", " WHEN", " ELSE", " AS",
    " TEXT", "*", " BY",
];

/// Closing words that are values: never the operand of a comparison (`name = 1` invents a
/// condition the question did not ask, and compares a text with a number).
const VALUES: &[&str] = &[" 1", "1", " TRUE", " NULL", "'"];

/// Search steps (expanded partial queries) over all starts of one query.
const STEPS: usize = 24;
/// The latest starts the search closes.
const CLOSED_STARTS: usize = 3;
/// The latest open SELECT lists (no FROM yet) given a FROM when no start that reads a table
/// can be finished.
const FROM_STARTS: usize = 4;
/// Closing words one finish may append.
const MAX_WORDS: usize = 10;

/// The closing words as the model's tokens.
#[derive(Debug, Clone, Default)]
pub struct Closers {
    words: Vec<(LlamaToken, String)>,
}

impl Closers {
    /// The closing words the vocabulary of `model` has as single tokens.
    pub fn new(model: &LlamaModel) -> Closers {
        let vocab = model.vocab();
        let n = vocab.n_tokens().max(0);
        let mut found: Vec<Option<LlamaToken>> = vec![None; CLOSING.len()];
        for i in 0..n {
            let t = LlamaToken(i);
            if vocab.is_eog(t) {
                continue;
            }
            let piece = vocab.token_to_piece(t, false, None);
            if let Some(k) = CLOSING
                .iter()
                .position(|w| w.as_bytes() == piece.as_slice())
            {
                found[k].get_or_insert(t);
            }
        }
        Closers {
            words: found
                .into_iter()
                .zip(CLOSING)
                .filter_map(|(t, w)| t.map(|t| (t, (*w).to_string())))
                .collect(),
        }
    }
}

/// One partial query of the search.
struct Node {
    /// The closing words appended so far.
    tail: String,
    /// The grammar's state after the tail; made from the parent's only when the node is
    /// expanded (most nodes pushed never are, and a state is costly to copy).
    grammar: Option<LlamaSampler>,
    /// The node this one extends, and the closing word's tokens it appends.
    parent: (usize, Vec<LlamaToken>),
    words: usize,
}

/// The longest start of the generated tokens `out` (whose texts are `lens` bytes long and make
/// up `text`) that reads a table the model named (`FROM t`: a start before it would answer
/// nothing the question asked, `SELECT 1`) and can be finished, finished: its length in bytes
/// and the closing words appended (empty when it may end as it is). The last [`CLOSED_STARTS`]
/// starts are closed by the search; earlier ones only end as they are (a grammar state after a
/// long text can hold many stacks, which makes every step of a search costly). `None` when no
/// start can be finished. `grammar` is reset and left in no particular state.
#[allow(clippy::too_many_arguments)]
pub fn finish(
    grammar: &mut LlamaSampler,
    end: LlamaToken,
    closers: &Closers,
    out: &[LlamaToken],
    lens: &[usize],
    text: &[u8],
    scope: Option<&Scope>,
    spell: &dyn Fn(&str) -> Option<Vec<LlamaToken>>,
) -> Option<(usize, String)> {
    let word =
        |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || b"_.\"'".contains(b));
    grammar.reset();
    // Every start that cuts no word in two (its length in tokens and bytes), with whether the
    // grammar lets it end.
    let mut starts: Vec<(usize, usize, bool)> = Vec::new();
    let mut bytes = 0;
    // Once a start reads a table, every longer one does.
    let mut reads = false;
    // The starts before that where a FROM may follow (their lengths in tokens and bytes).
    let from = scope.and_then(|_| spell(" FROM")?.first().copied());
    let mut open_lists: Vec<(usize, usize)> = Vec::new();
    for (n, (tok, len)) in out.iter().zip(lens).enumerate() {
        if !accept(grammar, *tok) {
            break;
        }
        bytes += len;
        let start = text.get(..bytes).unwrap_or_default();
        reads = reads || reads_a_table(start);
        let splits_word = word(start.last()) && word(text.get(bytes));
        if !splits_word && !ends_mid_char(start) {
            if reads {
                starts.push((n + 1, bytes, allowed(grammar, end)));
            } else if from.is_some_and(|f| allowed(grammar, f)) {
                open_lists.push((n + 1, bytes));
            }
        }
    }
    // The grammar's states at the latest starts, taken on a second pass (a state is costly to
    // copy, accepting a token again is not).
    let latest = &starts[starts.len().saturating_sub(CLOSED_STARTS)..];
    let ns: Vec<usize> = latest.iter().map(|s| s.0).collect();
    let states = states_at(grammar, out, &ns);
    let starts: Vec<(usize, bool)> = starts.into_iter().map(|(_, b, e)| (b, e)).collect();
    let as_text = |bytes: usize| String::from_utf8_lossy(text.get(..bytes).unwrap_or_default());
    // A WITH's main query, once its CTE list is closed: ` SELECT * FROM c` for the list's last
    // CTE ([`Scope::main_cte`]).
    let whole = as_text(text.len());
    let mains: Vec<(Vec<LlamaToken>, String)> = scope
        .and_then(|s| s.main_cte(&whole))
        .into_iter()
        .filter_map(|c| {
            let word = format!(" SELECT * FROM {}", quote_ident(&c));
            spell(&word).map(|t| (t, word))
        })
        .collect();
    let words = (closers, mains.as_slice());
    let mut steps = STEPS;
    let closed = states.len();
    for ((bytes, _), g) in starts.iter().rev().zip(states.into_iter().rev()) {
        let (found, used) = close(&as_text(*bytes), g, end, words, scope, steps);
        steps = steps.saturating_sub(used);
        if let Some(tail) = found {
            return Some((*bytes, tail));
        }
    }
    let ended = starts
        .iter()
        .rev()
        .skip(closed)
        .find(|(bytes, ends)| {
            *ends && scope.is_none_or(|s| s.problems(&as_text(*bytes), true) == 0)
        })
        .map(|(bytes, _)| (*bytes, String::new()));
    if ended.is_some() {
        return ended;
    }
    // No start that reads the model's own table can be finished: the latest open SELECT lists,
    // given the FROM their columns ask for.
    // (Those whose list asks for a FROM at all: a later item may use a second alias, which no
    // one table defines, where an earlier start still has one.)
    let scope = scope?;
    let mut latest: Vec<(usize, usize, Vec<String>)> = open_lists
        .iter()
        .rev()
        .map(|&(n, bytes)| (n, bytes, scope.from_tails(&as_text(bytes), &whole)))
        .filter(|(_, _, tails)| !tails.is_empty())
        .take(FROM_STARTS)
        .collect();
    latest.reverse();
    let ns: Vec<usize> = latest.iter().map(|s| s.0).collect();
    let states = states_at(grammar, out, &ns);
    let mut steps = STEPS;
    for ((_, bytes, tails), g) in latest.into_iter().rev().zip(states.into_iter().rev()) {
        let start = as_text(bytes);
        for tail in tails {
            let Some(toks) = spell(&tail) else {
                continue;
            };
            let mut g = g.clone();
            if !toks.iter().all(|&t| accept(&mut g, t)) {
                continue;
            }
            let (found, used) = close(&format!("{start}{tail}"), g, end, words, Some(scope), steps);
            steps = steps.saturating_sub(used);
            if let Some(closing) = found {
                return Some((bytes, format!("{tail}{closing}")));
            }
            if steps == 0 {
                return None;
            }
        }
    }
    None
}

/// The grammar's states after the first `ns[i]` tokens of `out` (`ns` ascending), taken by
/// accepting the tokens again from a reset (a state is costly to copy, accepting a token again
/// is not). `grammar` is left after the last.
fn states_at(
    grammar: &mut LlamaSampler,
    out: &[LlamaToken],
    ns: &[usize],
) -> VecDeque<LlamaSampler> {
    let mut states = VecDeque::new();
    if ns.is_empty() {
        return states;
    }
    grammar.reset();
    let mut done = 0;
    for &n in ns {
        for tok in out.get(done..n).unwrap_or_default() {
            accept(grammar, *tok);
        }
        done = n;
        states.push_back(grammar.clone());
    }
    states
}

/// The fewest closing words after `start` (whose grammar state is `grammar`) with which the
/// query may end, and the search steps spent.
fn close(
    start: &str,
    grammar: LlamaSampler,
    end: LlamaToken,
    (closers, mains): (&Closers, &[(Vec<LlamaToken>, String)]),
    scope: Option<&Scope>,
    budget: usize,
) -> (Option<String>, usize) {
    let mut nodes = vec![Node {
        tail: String::new(),
        grammar: Some(grammar),
        parent: (0, Vec::new()),
        words: 0,
    }];
    // Best first by words written plus the words still needed at least ([`still_open`]), then
    // by the order of discovery (the more generic word first).
    let mut queue = BinaryHeap::new();
    queue.push(Reverse((still_open(start), 0usize)));
    let mut seen: HashSet<String> = HashSet::new();
    let mut steps = 0;
    while let Some(Reverse((_, k))) = queue.pop() {
        // The start itself is always tried (it may end as it is).
        if steps >= budget.max(1) {
            break;
        }
        steps += 1;
        let query = format!("{start}{}", nodes[k].tail);
        if nodes[k].grammar.is_none() {
            let (p, toks) = nodes[k].parent.clone();
            let mut g = nodes.get(p).and_then(|n| n.grammar.clone());
            if let Some(mut state) = g.take() {
                // The first token was checked when the node was made; the rest of a word of
                // several tokens is checked here.
                let first = toks.first().copied();
                if let Some(t) = first {
                    state.accept(t);
                }
                if toks.iter().skip(1).all(|&t| accept(&mut state, t)) {
                    g = Some(state);
                }
            }
            nodes[k].grammar = g;
        }
        let Some(grammar) = nodes[k].grammar.as_mut() else {
            continue;
        };
        let (ends, next_words) = takes(grammar, end, closers, mains);
        if ends && scope.is_none_or(|s| s.problems(&query, true) == 0) {
            return (Some(std::mem::take(&mut nodes[k].tail)), steps);
        }
        if nodes[k].words >= MAX_WORDS {
            continue;
        }
        let before = scope.map(|s| s.problems(&query, false));
        let compared = after_comparison(&query);
        for (tok, word) in next_words {
            if compared && VALUES.contains(&word) {
                continue;
            }
            let tail = format!("{}{word}", nodes[k].tail);
            if !seen.insert(tail.clone()) {
                continue;
            }
            let next = format!("{start}{tail}");
            if let (Some(s), Some(before)) = (scope, before) {
                if s.problems(&next, false) > before {
                    continue;
                }
            }
            let words = nodes[k].words + 1;
            let id = nodes.len();
            queue.push(Reverse((words + still_open(&next), id)));
            nodes.push(Node {
                tail,
                grammar: None,
                parent: (k, tok.to_vec()),
                words,
            });
        }
    }
    (None, steps)
}

/// Whether `sql` ends with a comparison waiting for its right side (`=`, `<`, `LIKE`, …).
fn after_comparison(sql: &str) -> bool {
    let t = sql.trim_end().to_ascii_uppercase();
    t.ends_with(['=', '<', '>'])
        || [" LIKE", " ILIKE", " BETWEEN", " IN ("]
            .iter()
            .any(|w| t.ends_with(w))
}

/// How far `sql` is from an end: the closing words it needs ([`still_open`]), and, while it
/// reads no table yet, the words to a FROM (`SELECT a` needs two, `SELECT a FROM` one).
pub fn distance(sql: &str) -> usize {
    let from = if reads_a_table(sql.as_bytes()) || sql.trim_end().ends_with(" FROM") {
        0
    } else {
        2
    };
    still_open(sql) + from
}

/// Whether appending `piece` to `sql` (at [`distance`] `from`, computed once for the many
/// pieces tried after one text) leaves it further from an end. A text that needs nothing yet
/// may not end (`… WHERE b`, a value the question names not yet used) may take one step away
/// (` =`, ` WHERE`).
pub fn moves_away(sql: &str, from: usize, piece: &str) -> bool {
    // A call's parenthesis (`count(`, `sum(`) is as near an end as the name before it: the
    // answer may need one to end at all (an ORDER BY for a count).
    let call = piece.starts_with('(')
        && sql
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
    if call {
        return false;
    }
    distance(&format!("{sql}{piece}")) > from.max(1)
}

/// Whether `sql` has a FROM followed by a name, outside quotes: it reads a table.
pub fn reads_a_table(sql: &[u8]) -> bool {
    let (mut single, mut double) = (false, false);
    // Per open parenthesis, whether it is a call's (`EXTRACT(YEAR FROM d)` reads no table).
    let mut calls: Vec<bool> = Vec::new();
    for (i, &b) in sql.iter().enumerate() {
        match b {
            b'\'' if !double => single = !single,
            b'"' if !single => double = !double,
            b'(' if !single && !double => {
                let before = i.checked_sub(1).map(|k| sql[k]);
                calls.push(before.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_'));
            }
            b')' if !single && !double => {
                calls.pop();
            }
            b'F' | b'f' if !single && !double && !calls.last().copied().unwrap_or(false) => {
                let before = i.checked_sub(1).map(|k| sql[k]);
                let word = sql
                    .get(i..i + 4)
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"FROM"));
                let starts = !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_');
                let rest = sql.get(i + 4..).unwrap_or_default();
                let spaced = rest.len() - rest.trim_ascii_start().len();
                let name = rest
                    .trim_ascii_start()
                    .first()
                    .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_' || *c == b'"');
                if word && starts && spaced > 0 && name {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// Whether the grammar in state `grammar` allows the end (`end`) next, and the closing words it
/// takes, checked in one pass (a grammar state after a random model's text can hold many
/// stacks, each walked once per check).
fn takes<'a>(
    grammar: &mut LlamaSampler,
    end: LlamaToken,
    closers: &'a Closers,
    mains: &'a [(Vec<LlamaToken>, String)],
) -> (bool, Vec<(&'a [LlamaToken], &'a str)>) {
    let mut firsts: Vec<LlamaToken> = closers.words.iter().map(|(t, _)| *t).collect();
    firsts.extend(mains.iter().filter_map(|(t, _)| t.first().copied()));
    firsts.sort_by_key(|t| t.0);
    firsts.dedup();
    let mut all = LlamaTokenDataArray::new(
        std::iter::once(end)
            .chain(firsts)
            .map(|t| LlamaTokenData::new(t, 0.0, 0.0))
            .collect(),
        false,
    );
    grammar.apply(&mut all);
    let ok: HashSet<LlamaToken> = all
        .data
        .iter()
        .filter(|d| d.logit() != f32::NEG_INFINITY)
        .map(|d| d.id())
        .collect();
    let words = closers
        .words
        .iter()
        .map(|(t, w)| (std::slice::from_ref(t), w.as_str()))
        .chain(mains.iter().map(|(t, w)| (t.as_slice(), w.as_str())))
        .filter(|(t, _)| t.first().is_some_and(|f| ok.contains(f)))
        .collect();
    (ok.contains(&end), words)
}

/// How many closing words `sql` needs at least: one for an open string, one per open
/// parenthesis and `CASE`, and one for an operand it waits for (after `=`, `,`, `(`, `AND`,
/// `WHERE`, …).
pub fn still_open(sql: &str) -> usize {
    let (mut depth, mut cases, mut quoted) = (0usize, 0usize, false);
    let mut last = String::new();
    let mut word = String::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == '\'' {
                quoted = false;
            }
            continue;
        }
        match c {
            '\'' => {
                quoted = true;
                last = "'".into();
            }
            '(' => {
                depth += 1;
                last = "(".into();
            }
            ')' => {
                depth = depth.saturating_sub(1);
                last = ")".into();
            }
            c if c.is_alphanumeric() || c == '_' || c == '"' || c == '.' => {
                word.push(c);
                if !chars
                    .peek()
                    .is_some_and(|n| n.is_alphanumeric() || *n == '_' || *n == '"' || *n == '.')
                {
                    let w = std::mem::take(&mut word).to_ascii_uppercase();
                    match w.as_str() {
                        "CASE" => cases += 1,
                        "END" => cases = cases.saturating_sub(1),
                        _ => {}
                    }
                    last = w;
                }
            }
            c if c.is_whitespace() => {}
            c => last = c.to_string(),
        }
    }
    let waits = matches!(
        last.as_str(),
        "=" | "<"
            | ">"
            | "+"
            | "-"
            | "*"
            | "/"
            | "%"
            | "|"
            | ","
            | "("
            | "SELECT"
            | "DISTINCT"
            | "WHERE"
            | "AND"
            | "OR"
            | "NOT"
            | "ON"
            | "BY"
            | "HAVING"
            | "LIMIT"
            | "OFFSET"
            | "WHEN"
            | "THEN"
            | "ELSE"
            | "IN"
            | "LIKE"
            | "ILIKE"
            | "BETWEEN"
            | "IS"
            | "AS"
            | "CASE"
            | "FROM"
            | "JOIN"
    );
    usize::from(quoted) + depth + cases + usize::from(waits && !quoted)
}

#[cfg(test)]
mod tests {
    use super::{after_comparison, reads_a_table, still_open};

    #[test]
    fn a_comparison_waiting_for_its_right_side_is_seen() {
        assert!(after_comparison("SELECT a FROM t WHERE name ="));
        assert!(after_comparison("SELECT a FROM t WHERE name like "));
        assert!(after_comparison("SELECT a FROM t WHERE x <>"));
        assert!(!after_comparison("SELECT a FROM t WHERE x = 1"));
        assert!(!after_comparison("SELECT a FROM t LIMIT"));
    }

    #[test]
    fn a_start_reads_a_table_once_a_name_follows_from() {
        assert!(reads_a_table(b"SELECT name FROM artist"));
        assert!(reads_a_table(b"SELECT count(*) from \"Artist\" WHERE"));
        assert!(!reads_a_table(b"SELECT name FROM "));
        assert!(!reads_a_table(b"SELECT 'a FROM b'"));
        assert!(!reads_a_table(b"SELECT fromage FROM"));
        assert!(!reads_a_table(b"SELECT 1"));
        assert!(reads_a_table(b"SELECT (SELECT 1 FROM t)"));
        assert!(!reads_a_table(b"SELECT EXTRACT(YEAR FROM invoice_date)"));
        assert!(reads_a_table(b"SELECT EXTRACT(YEAR FROM d) FROM invoice"));
    }

    #[test]
    fn a_piece_that_moves_away_from_an_end_is_seen() {
        let moves_away =
            |sql: &str, piece: &str| super::moves_away(sql, super::distance(sql), piece);
        // A new item, operator or clause moves away; closing and the FROM come nearer.
        assert!(moves_away("SELECT a", ","));
        assert!(moves_away("SELECT a FROM t WHERE", " ("));
        assert!(moves_away("SELECT a FROM t WHERE b = (", "("));
        // One step from a text that needs nothing yet cannot end: `b = 1`.
        assert!(!moves_away("SELECT a FROM t WHERE b", " ="));
        assert!(!moves_away("SELECT a FROM t", " WHERE"));
        assert!(moves_away("SELECT a FROM t WHERE x IN", " ("));
        assert!(!moves_away("SELECT count(*", ")"));
        // A call's parenthesis is neutral: `ORDER BY count(*)` must stay writable.
        assert!(!moves_away(
            "SELECT a FROM t GROUP BY a ORDER BY count",
            "("
        ));
        assert!(!moves_away("SELECT a", " FROM"));
        assert!(!moves_away("SELECT a FROM", " t"));
        assert!(!moves_away("SELECT a FROM t WHERE b = 'x", "yz"));
        assert!(!moves_away("SELECT a_b", "_c"));
    }

    #[test]
    fn what_a_query_still_needs_is_counted() {
        assert_eq!(still_open("SELECT name FROM artist"), 0);
        assert_eq!(still_open("SELECT name FROM artist WHERE"), 1);
        assert_eq!(still_open("SELECT count("), 2);
        assert_eq!(still_open("SELECT a FROM t WHERE (b = 'Bal"), 2);
        assert_eq!(still_open("SELECT a FROM t WHERE b = 'it''s (x'"), 0);
        assert_eq!(still_open("SELECT CASE WHEN a = 1 THEN 2"), 1);
        assert_eq!(still_open("SELECT CASE WHEN a = 1 THEN 2 END"), 0);
        assert_eq!(still_open("SELECT a FROM t ORDER BY"), 1);
        assert_eq!(still_open("SELECT t.a_b, x"), 0);
    }
}
