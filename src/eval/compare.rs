//! Result comparison for execution accuracy (EX) and test-suite accuracy (TS).
//!
//! Two results are the same when some mapping of gold columns onto predicted columns makes
//! their rows equal, as in Spider's test-suite-sql-eval:
//!
//! - Column names are ignored and column order does not matter: the mapping is a permutation,
//!   or an injection when [`Options::allow_extra_columns`] lets the prediction have more
//!   columns (defog's convention: the gold columns must be a subset).
//! - Rows are compared as multisets (duplicates count), or as sequences when
//!   [`Options::ordered`] (the gold query has a top-level ORDER BY, see [`gold_is_ordered`]).
//!   The row counts must be equal.
//! - Values are `simple_query` text. A value that reads as a decimal number (`42`, `-0.50`,
//!   `1e3`, `3.140`) compares as that number rounded half away from zero to
//!   [`Options::float_digits`] decimals, exactly (no binary floating point), so `3.14`,
//!   `3.140` and `3.1400000001` are equal at 6 digits. `NaN`, `Infinity`, booleans (`t`/`f`)
//!   and everything else compare as exact text; NULL equals NULL.
//!
//! The column search prunes with each column's sorted values (or its sequence, when ordered),
//! merges predicted columns holding identical values, and checks row multisets on every partial
//! mapping; a work budget stops pathological wide results, which then count as different.

use std::collections::HashMap;

use sqlparser::ast::{Query, SetExpr, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// Decimal places numbers are rounded to before comparing, unless [`Options`] says otherwise.
pub const DEFAULT_FLOAT_DIGITS: u32 = 6;

/// Exponents beyond this make a value text, so `1e999999999` cannot allocate a huge string.
const MAX_EXPONENT: i64 = 4096;

/// Cells the column search may look at before giving up (then the results count as different).
const SEARCH_BUDGET: u64 = 50_000_000;

/// A query result as `simple_query` returns it: every value is text or NULL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultSet {
    /// Column names; kept for reports, ignored by the comparison.
    pub columns: Vec<String>,
    /// Rows, each with one value per column.
    pub rows: Vec<Vec<Option<String>>>,
}

/// How two results are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Row order matters: the gold query orders its result (default false).
    pub ordered: bool,
    /// The prediction may have columns the gold result lacks (default false; true for defog).
    pub allow_extra_columns: bool,
    /// Numbers compare after rounding to this many decimals (default [`DEFAULT_FLOAT_DIGITS`]);
    /// reports should state it.
    pub float_digits: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ordered: false,
            allow_extra_columns: false,
            float_digits: DEFAULT_FLOAT_DIGITS,
        }
    }
}

/// Whether `predicted` answers the same as `gold` under `opts` (see the module docs).
pub fn same(gold: &ResultSet, predicted: &ResultSet, opts: &Options) -> bool {
    let (g_cols, p_cols) = (gold.columns.len(), predicted.columns.len());
    let widths_fit = g_cols == p_cols || (opts.allow_extra_columns && g_cols < p_cols);
    if !widths_fit || gold.rows.len() != predicted.rows.len() {
        return false;
    }
    let mut interner = Interner::new(opts.float_digits);
    let (Some(gold_cols), Some(pred_cols)) = (interner.columns(gold), interner.columns(predicted))
    else {
        return false; // a row whose width differs from the column count
    };
    let search = Search::new(&gold_cols, &pred_cols, gold.rows.len(), opts.ordered);
    match search.map(Search::run) {
        Some(Ok(found)) => found,
        Some(Err(BudgetSpent)) => {
            tracing::warn!(
                gold_columns = g_cols,
                predicted_columns = p_cols,
                rows = gold.rows.len(),
                "result comparison gave up on the column search; counted as different"
            );
            false
        }
        None => false,
    }
}

/// Whether the top-level query has ORDER BY (also inside a parenthesised body). SQL that does
/// not parse as one PostgreSQL query counts as unordered.
pub fn gold_is_ordered(sql: &str) -> bool {
    match Parser::parse_sql(&PostgreSqlDialect {}, sql).as_deref() {
        Ok([Statement::Query(query)]) => query_is_ordered(query),
        _ => false,
    }
}

fn query_is_ordered(query: &Query) -> bool {
    if query.order_by.is_some() {
        return true;
    }
    match query.body.as_ref() {
        SetExpr::Query(inner) => query_is_ordered(inner),
        _ => false,
    }
}

// ---- values -----------------------------------------------------------------------------------

/// A value after normalisation; numbers are canonical `digits` `e` `exponent` strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Norm<'a> {
    Null,
    Number(String),
    Text(&'a str),
}

/// Gives every distinct normalised value a small id shared by both results.
struct Interner<'a> {
    ids: HashMap<Norm<'a>, u32>,
    digits: u32,
}

impl<'a> Interner<'a> {
    fn new(digits: u32) -> Self {
        Interner {
            ids: HashMap::new(),
            digits,
        }
    }

    /// Column-major value ids, or `None` when a row's width differs from the column count.
    fn columns(&mut self, set: &'a ResultSet) -> Option<Vec<Vec<u32>>> {
        let width = set.columns.len();
        let mut cols = vec![Vec::with_capacity(set.rows.len()); width];
        for row in &set.rows {
            if row.len() != width {
                return None;
            }
            for (col, value) in cols.iter_mut().zip(row) {
                col.push(self.id(value.as_deref()));
            }
        }
        Some(cols)
    }

    fn id(&mut self, value: Option<&'a str>) -> u32 {
        let norm = match value {
            None => Norm::Null,
            Some(text) => match canonical_number(text, self.digits) {
                Some(number) => Norm::Number(number),
                None => Norm::Text(text),
            },
        };
        let next = self.ids.len() as u32;
        *self.ids.entry(norm).or_insert(next)
    }
}

/// A value as the comparison sees it, as one string: numbers canonical and rounded, NULL
/// apart from every text.
pub(crate) fn normalised(value: Option<&str>, digits: u32) -> String {
    match value {
        None => "\0null".into(),
        Some(t) => canonical_number(t, digits).map_or_else(|| format!("t{t}"), |n| format!("n{n}")),
    }
}

/// `text` as a canonical rounded number, or `None` when it is not a plain decimal number.
///
/// Grammar: `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`.
fn canonical_number(text: &str, digits: u32) -> Option<String> {
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], parse_exponent(&body[at + 1..])?),
        None => (body, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.len() + frac_part.len() == 0 || !all_digits(int_part) || !all_digits(frac_part) {
        return None;
    }
    // value = mantissa_digits × 10^scale
    let mut mantissa_digits: Vec<u8> = int_part.bytes().chain(frac_part.bytes()).collect();
    let scale = exponent - frac_part.len() as i64;
    let scale = round_digits(&mut mantissa_digits, scale, -i64::from(digits));
    Some(render_number(negative, &mantissa_digits, scale))
}

fn parse_exponent(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude: i64 = digits.parse().ok().filter(|&e| e <= MAX_EXPONENT)?;
    Some(if text.starts_with('-') {
        -magnitude
    } else {
        magnitude
    })
}

/// Rounds `digits × 10^scale` half away from zero to a multiple of `10^min_scale`; returns the
/// new scale.
fn round_digits(digits: &mut Vec<u8>, scale: i64, min_scale: i64) -> i64 {
    if scale >= min_scale {
        return scale;
    }
    let drop = (min_scale - scale) as u64; // digits to remove from the right
    if drop > digits.len() as u64 {
        digits.clear(); // even the first dropped digit is an implicit leading zero
        return min_scale;
    }
    let keep = digits.len() - drop as usize;
    let round_up = digits[keep] >= b'5';
    digits.truncate(keep);
    if round_up {
        let mut carry = true;
        for d in digits.iter_mut().rev() {
            if *d == b'9' {
                *d = b'0';
            } else {
                *d += 1;
                carry = false;
                break;
            }
        }
        if carry {
            digits.insert(0, b'1');
        }
    }
    min_scale
}

/// `[-]digits e scale` with no leading or trailing zeros in `digits`; zero is `0`.
fn render_number(negative: bool, digits: &[u8], mut scale: i64) -> String {
    let start = digits
        .iter()
        .position(|&d| d != b'0')
        .unwrap_or(digits.len());
    let mut significant = &digits[start..];
    while let [rest @ .., b'0'] = significant {
        significant = rest;
        scale += 1;
    }
    if significant.is_empty() {
        return "0".to_string();
    }
    let sign = if negative { "-" } else { "" };
    let digits = String::from_utf8_lossy(significant);
    format!("{sign}{digits}e{scale}")
}

// ---- column search ----------------------------------------------------------------------------

/// The search budget ran out.
#[derive(Debug)]
struct BudgetSpent;

/// Finds a mapping of gold columns onto predicted columns under which the rows match.
struct Search<'a> {
    gold: &'a [Vec<u32>],
    rows: usize,
    ordered: bool,
    /// Distinct predicted column contents, each with how many predicted columns hold it.
    classes: Vec<(&'a [u32], usize)>,
    /// Gold columns in the order they are assigned: fewest candidates first.
    order: Vec<usize>,
    /// Candidate classes of each gold column (by gold column index).
    candidates: Vec<Vec<usize>>,
    /// Row fingerprints of the gold columns `order[..=d]`, sorted unless ordered.
    gold_keys: Vec<Vec<u64>>,
    budget: u64,
}

impl<'a> Search<'a> {
    /// Prepares the search; `None` when some gold column has no candidate at all.
    fn new(gold: &'a [Vec<u32>], pred: &'a [Vec<u32>], rows: usize, ordered: bool) -> Option<Self> {
        let mut class_of: HashMap<&[u32], usize> = HashMap::new();
        let mut classes: Vec<(&[u32], usize)> = Vec::new();
        for col in pred {
            let next = classes.len();
            let class = *class_of.entry(col.as_slice()).or_insert(next);
            if class == next {
                classes.push((col, 0));
            }
            classes[class].1 += 1;
        }
        // Classes by signature: the column's value sequence, or its sorted values.
        let signature = |col: &[u32]| {
            let mut sig = col.to_vec();
            if !ordered {
                sig.sort_unstable();
            }
            sig
        };
        let mut by_signature: HashMap<Vec<u32>, Vec<usize>> = HashMap::new();
        for (class, (col, _)) in classes.iter().enumerate() {
            by_signature.entry(signature(col)).or_default().push(class);
        }
        let candidates: Vec<Vec<usize>> = gold
            .iter()
            .map(|col| by_signature.get(&signature(col)).cloned())
            .collect::<Option<_>>()?;
        // Each signature must have as many predicted columns as gold columns need.
        let mut need: HashMap<&[usize], usize> = HashMap::new();
        for c in &candidates {
            *need.entry(c.as_slice()).or_default() += 1;
        }
        let fits = need
            .iter()
            .all(|(cands, n)| cands.iter().map(|&c| classes[c].1).sum::<usize>() >= *n);
        if !fits {
            return None;
        }
        let mut order: Vec<usize> = (0..gold.len()).collect();
        order.sort_by_key(|&g| candidates[g].len());
        let mut gold_keys = Vec::with_capacity(order.len());
        let mut keys = vec![0u64; rows];
        for &g in &order {
            keys = extend_keys(&keys, &gold[g]);
            let mut sorted = keys.clone();
            if !ordered {
                sorted.sort_unstable();
            }
            gold_keys.push(sorted);
        }
        Some(Search {
            gold,
            rows,
            ordered,
            classes,
            order,
            candidates,
            gold_keys,
            budget: SEARCH_BUDGET,
        })
    }

    fn run(mut self) -> Result<bool, BudgetSpent> {
        let mut remaining: Vec<usize> = self.classes.iter().map(|&(_, n)| n).collect();
        let mut mapping = vec![0usize; self.gold.len()];
        let keys = vec![0u64; self.rows];
        self.assign(0, &keys, &mut remaining, &mut mapping)
    }

    /// Tries every candidate for gold column `order[depth]`, given the predicted row
    /// fingerprints of the columns mapped so far.
    fn assign(
        &mut self,
        depth: usize,
        keys: &[u64],
        remaining: &mut [usize],
        mapping: &mut [usize],
    ) -> Result<bool, BudgetSpent> {
        if depth == self.order.len() {
            return Ok(self.rows_match(mapping));
        }
        let g = self.order[depth];
        for i in 0..self.candidates[g].len() {
            let class = self.candidates[g][i];
            if remaining[class] == 0 {
                continue;
            }
            self.budget = self
                .budget
                .checked_sub(self.rows as u64 + 1)
                .ok_or(BudgetSpent)?;
            let next = extend_keys(keys, self.classes[class].0);
            let mut sorted = next.clone();
            if !self.ordered {
                sorted.sort_unstable();
            }
            if sorted != self.gold_keys[depth] {
                continue;
            }
            remaining[class] -= 1;
            mapping[g] = class;
            let found = self.assign(depth + 1, &next, remaining, mapping)?;
            remaining[class] += 1;
            if found {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Exact check of a complete mapping (fingerprints can collide).
    fn rows_match(&self, mapping: &[usize]) -> bool {
        let mut gold_rows: Vec<Vec<u32>> = (0..self.rows)
            .map(|r| self.gold.iter().map(|col| col[r]).collect())
            .collect();
        let mut pred_rows: Vec<Vec<u32>> = (0..self.rows)
            .map(|r| {
                mapping
                    .iter()
                    .map(|&class| self.classes[class].0[r])
                    .collect()
            })
            .collect();
        if !self.ordered {
            gold_rows.sort_unstable();
            pred_rows.sort_unstable();
        }
        gold_rows == pred_rows
    }
}

/// Row fingerprints extended by one more column's values.
fn extend_keys(keys: &[u64], col: &[u32]) -> Vec<u64> {
    keys.iter().zip(col).map(|(&k, &v)| mix(k, v)).collect()
}

/// An order-dependent 64-bit mix (splitmix64's finaliser).
fn mix(key: u64, value: u32) -> u64 {
    let mut x = key.rotate_left(17) ^ (u64::from(value) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A result from rows of `&str`, where `"NULL"` stands for SQL NULL.
    fn rs(columns: &[&str], rows: &[&[&str]]) -> ResultSet {
        ResultSet {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: rows
                .iter()
                .map(|row| {
                    row.iter()
                        .map(|v| (*v != "NULL").then(|| v.to_string()))
                        .collect()
                })
                .collect(),
        }
    }

    const UNORDERED: Options = Options {
        ordered: false,
        allow_extra_columns: false,
        float_digits: DEFAULT_FLOAT_DIGITS,
    };
    const ORDERED: Options = Options {
        ordered: true,
        ..UNORDERED
    };
    const EXTRA: Options = Options {
        allow_extra_columns: true,
        ..UNORDERED
    };

    #[test]
    fn identical_results_are_same() {
        let a = rs(&["id", "name"], &[&["1", "ann"], &["2", "bob"]]);
        assert!(same(&a, &a, &UNORDERED));
        assert!(same(&a, &a, &ORDERED));
        assert_eq!(Options::default(), UNORDERED);
    }

    #[test]
    fn column_permutation_and_names_are_ignored() {
        let gold = rs(&["id", "name"], &[&["1", "ann"], &["2", "bob"]]);
        let pred = rs(&["n", "i"], &[&["ann", "1"], &["bob", "2"]]);
        assert!(same(&gold, &pred, &UNORDERED));
        assert!(same(&gold, &pred, &ORDERED));
        // Same column multisets, but the rows pair values differently.
        let crossed = rs(&["n", "i"], &[&["bob", "1"], &["ann", "2"]]);
        assert!(!same(&gold, &crossed, &UNORDERED));
    }

    #[test]
    fn duplicate_rows_count() {
        let gold = rs(&["x"], &[&["1"], &["1"], &["2"]]);
        assert!(same(
            &gold,
            &rs(&["x"], &[&["2"], &["1"], &["1"]]),
            &UNORDERED
        ));
        assert!(!same(
            &gold,
            &rs(&["x"], &[&["1"], &["2"], &["2"]]),
            &UNORDERED
        ));
        assert!(!same(&gold, &rs(&["x"], &[&["1"], &["2"]]), &UNORDERED));
    }

    #[test]
    fn ordered_needs_the_same_sequence() {
        let gold = rs(&["a", "b"], &[&["1", "x"], &["2", "y"]]);
        let reversed = rs(&["a", "b"], &[&["2", "y"], &["1", "x"]]);
        assert!(same(&gold, &reversed, &UNORDERED));
        assert!(!same(&gold, &reversed, &ORDERED));
        let permuted = rs(&["b", "a"], &[&["x", "1"], &["y", "2"]]);
        assert!(same(&gold, &permuted, &ORDERED));
    }

    #[test]
    fn numbers_compare_after_rounding() {
        let gold = rs(
            &["v"],
            &[&["3.14"], &["1000"], &["-0.50"], &["0"], &["2.5"]],
        );
        let pred = rs(
            &["v"],
            &[
                &["3.1400000001"],
                &["1e3"],
                &["-.5"],
                &["-0.000"],
                &["2.4999999"],
            ],
        );
        assert!(same(&gold, &pred, &ORDERED));
        assert!(!same(
            &rs(&["v"], &[&["3.14"]]),
            &rs(&["v"], &[&["3.15"]]),
            &UNORDERED
        ));
        let coarse = Options {
            float_digits: 1,
            ..UNORDERED
        };
        assert!(same(
            &rs(&["v"], &[&["3.14"]]),
            &rs(&["v"], &[&["3.1"]]),
            &coarse
        ));
        let integers = Options {
            float_digits: 0,
            ..UNORDERED
        };
        assert!(same(
            &rs(&["v"], &[&["3.4"]]),
            &rs(&["v"], &[&["3"]]),
            &integers
        ));
        assert!(!same(
            &rs(&["v"], &[&["3.5"]]),
            &rs(&["v"], &[&["3"]]),
            &integers
        ));
        assert!(same(
            &rs(&["v"], &[&["-3.5"]]),
            &rs(&["v"], &[&["-4"]]),
            &integers
        ));
    }

    #[test]
    fn canonical_numbers() {
        let c = |s| canonical_number(s, 6);
        assert_eq!(c("3.140"), Some("314e-2".into()));
        assert_eq!(c("3.14"), c("3.1400000001"));
        assert_eq!(c("0.0000005"), Some("1e-6".into()));
        assert_eq!(c("0.0000004"), Some("0".into()));
        assert_eq!(c("-0"), Some("0".into()));
        assert_eq!(c("9.9999999"), Some("1e1".into()));
        assert_eq!(c("1E+3"), c("1000"));
        assert_eq!(
            c("12345678901234567890123"),
            Some("12345678901234567890123e0".into())
        );
        assert_ne!(c("9007199254740993"), c("9007199254740992"));
        for text in [
            "", "-", ".", "1.2.3", "1e", "e5", "NaN", "Infinity", "t", " 1", "1e99999",
        ] {
            assert_eq!(c(text), None, "{text:?}");
        }
    }

    #[test]
    fn booleans_nulls_and_text() {
        let gold = rs(&["b", "n"], &[&["t", "NULL"], &["f", "x"]]);
        assert!(same(
            &gold,
            &rs(&["b", "n"], &[&["f", "x"], &["t", "NULL"]]),
            &UNORDERED
        ));
        assert!(!same(
            &gold,
            &rs(&["b", "n"], &[&["true", "NULL"], &["f", "x"]]),
            &UNORDERED
        ));
        // NULL is not the empty string nor the text "NULL".
        let null = rs(&["a"], &[&["NULL"]]);
        assert!(!same(&null, &rs(&["a"], &[&[""]]), &UNORDERED));
        assert!(same(&null, &null, &UNORDERED));
        assert!(!same(
            &rs(&["a"], &[&["Ann"]]),
            &rs(&["a"], &[&["ann"]]),
            &UNORDERED
        ));
    }

    #[test]
    fn extra_columns_only_when_allowed() {
        let gold = rs(&["name"], &[&["ann"], &["bob"]]);
        let pred = rs(&["id", "name"], &[&["1", "ann"], &["2", "bob"]]);
        assert!(!same(&gold, &pred, &UNORDERED));
        assert!(same(&gold, &pred, &EXTRA));
        // Never fewer columns than the gold result.
        assert!(!same(&pred, &gold, &EXTRA));
        // The extra column cannot stand in for a missing one.
        let wrong = rs(&["id", "other"], &[&["1", "x"], &["2", "y"]]);
        assert!(!same(&gold, &wrong, &EXTRA));
        // Ordered with extra columns: the gold rows in order after projection.
        let ordered_extra = Options {
            ordered: true,
            ..EXTRA
        };
        assert!(same(&gold, &pred, &ordered_extra));
        let pred_rev = rs(&["id", "name"], &[&["2", "bob"], &["1", "ann"]]);
        assert!(!same(&gold, &pred_rev, &ordered_extra));
    }

    #[test]
    fn identical_and_look_alike_columns() {
        // Two columns with the same values: either mapping works.
        let gold = rs(&["a", "b"], &[&["1", "1"], &["2", "2"]]);
        let pred = rs(&["x", "y"], &[&["2", "2"], &["1", "1"]]);
        assert!(same(&gold, &pred, &UNORDERED));
        // Same multisets per column but only one pairing keeps the rows.
        let gold = rs(
            &["a", "b", "c"],
            &[&["1", "2", "x"], &["2", "3", "y"], &["3", "1", "z"]],
        );
        let pred = rs(
            &["c", "b", "a"],
            &[&["z", "1", "3"], &["x", "2", "1"], &["y", "3", "2"]],
        );
        assert!(same(&gold, &pred, &UNORDERED));
        let bad = rs(
            &["a", "b", "c"],
            &[&["1", "2", "y"], &["2", "3", "z"], &["3", "1", "x"]],
        );
        assert!(!same(&gold, &bad, &UNORDERED));
        // Swapping two columns can itself be a valid mapping.
        let gold = rs(&["a", "b"], &[&["1", "2"], &["2", "1"]]);
        let swapped = rs(&["a", "b"], &[&["2", "1"], &["1", "2"]]);
        assert!(same(&gold, &swapped, &ORDERED));
        // A duplicated gold column needs two predicted columns.
        let gold = rs(&["a", "a2"], &[&["1", "1"]]);
        let pred = rs(&["a", "b"], &[&["1", "2"]]);
        assert!(!same(&gold, &pred, &EXTRA));
    }

    #[test]
    fn empty_results() {
        let empty2 = rs(&["a", "b"], &[]);
        assert!(same(&empty2, &rs(&["x", "y"], &[]), &UNORDERED));
        assert!(!same(&empty2, &rs(&["x"], &[]), &UNORDERED));
        assert!(!same(&empty2, &rs(&["x", "y", "z"], &[]), &UNORDERED));
        assert!(same(&empty2, &rs(&["x", "y", "z"], &[]), &EXTRA));
        assert!(!same(&empty2, &rs(&["a", "b"], &[&["1", "2"]]), &UNORDERED));
        assert!(same(&rs(&[], &[]), &rs(&[], &[]), &UNORDERED));
    }

    #[test]
    fn ragged_rows_are_different_not_a_panic() {
        let good = rs(&["a", "b"], &[&["1", "2"]]);
        let ragged = ResultSet {
            columns: vec!["a".into(), "b".into()],
            rows: vec![vec![Some("1".into())]],
        };
        assert!(!same(&good, &ragged, &UNORDERED));
        assert!(!same(&ragged, &good, &UNORDERED));
    }

    #[test]
    fn wide_results_stay_fast() {
        // 12 columns that all hold the same multiset, rotated per column: 12! permutations,
        // but the partial row checks leave only the right one.
        let width = 12;
        let rows: Vec<Vec<Option<String>>> = (0..200)
            .map(|r| {
                (0..width)
                    .map(|c| Some(((r + c) % 200).to_string()))
                    .collect()
            })
            .collect();
        let gold = ResultSet {
            columns: (0..width).map(|c| format!("c{c}")).collect(),
            rows: rows.clone(),
        };
        let mut pred = gold.clone();
        for row in &mut pred.rows {
            row.reverse();
        }
        pred.rows.reverse();
        assert!(same(&gold, &pred, &UNORDERED));
        pred.rows[0][0] = Some("x".into());
        assert!(!same(&gold, &pred, &UNORDERED));
    }

    #[test]
    fn order_by_detection() {
        assert!(gold_is_ordered("SELECT a FROM t ORDER BY a"));
        assert!(gold_is_ordered("SELECT a FROM t ORDER BY a DESC LIMIT 3;"));
        assert!(gold_is_ordered("(SELECT a FROM t ORDER BY a) LIMIT 2"));
        assert!(gold_is_ordered(
            "SELECT a FROM t UNION SELECT b FROM u ORDER BY 1"
        ));
        assert!(!gold_is_ordered(
            "SELECT a FROM (SELECT a FROM t ORDER BY a) s"
        ));
        assert!(!gold_is_ordered(
            "SELECT a FROM t WHERE a IN (SELECT b FROM u ORDER BY b)"
        ));
        assert!(!gold_is_ordered("SELECT a FROM t LIMIT 1"));
        assert!(!gold_is_ordered("SELEC a FROM t ORDER BY a"));
        assert!(!gold_is_ordered("SELECT 1 ORDER BY 1; SELECT 2 ORDER BY 1"));
    }
}
