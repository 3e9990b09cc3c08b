//! A comparison with an average the question sets: "How many invoices are above the average
//! invoice total?", "Which products cost more than the average product price?". The words
//! after "average" name one number column of the chosen tables (`invoice.total`,
//! `products.unit_price`); the answer must then compute an average (`avg(`) before it ends,
//! and a model that ends without one gets ` WHERE total > (SELECT avg(total) FROM invoice)`
//! written for it ([`Scope::condition_for`]). Without a column named ("more than the average
//! customer") nothing is required: the model's reading stands.

use super::columns::{is_number, same_word};
use super::lexer::Tok;
use super::{key_name, Scope};
use crate::ask::catalog::quote_ident;

/// A comparison of a column with its average: `column op (SELECT avg(column) FROM table)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Compared {
    /// The table, as a query writes it (bare in `public`).
    pub written: String,
    /// The table's name, as the FROM list reads it.
    pub table: String,
    pub column: String,
    /// `>` or `<`.
    pub op: &'static str,
}

impl Compared {
    /// The condition on `qualifier` + column (` > (SELECT avg(total) FROM invoice)`).
    pub fn condition(&self, qualifier: &str) -> String {
        let c = quote_ident(&self.column);
        format!(
            "{qualifier}{c} {} (SELECT avg({c}) FROM {})",
            self.op, self.written
        )
    }
}

/// Words that end the phrase naming what is averaged ("the average invoice total in 2021").
const PHRASE_ENDS: &[&str] = &[
    "in", "for", "of", "per", "by", "and", "or", "that", "which", "who", "with", "across", "over",
    "during", "from", "at", "on", "to", "is", "are", "was", "were",
];

/// The question's lower-case words, a sentence or clause break (`.`, `?`, `,`, …) as "".
fn words_and_breaks(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in q.chars() {
        if c.is_alphanumeric() || c == '_' {
            word.extend(c.to_lowercase());
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if matches!(c, '.' | '?' | '!' | ',' | ';' | ':') {
            out.push(String::new());
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// The comparison operator a comparison ending just before `at` ("average" at `at`, after
/// an optional "the") asks for: "more/greater/higher/larger/bigger than", "above", "over",
/// "exceeds" → `>`; "less/fewer/lower/smaller than", "below", "under" → `<`.
fn comparison_before(words: &[String], at: usize) -> Option<&'static str> {
    let mut k = at.checked_sub(1)?;
    if words[k] == "the" || words[k] == "an" {
        k = k.checked_sub(1)?;
    }
    let w = words[k].as_str();
    match w {
        "above" | "exceeds" | "exceed" | "exceeding" => return Some(">"),
        "below" | "under" => return Some("<"),
        "than" => {}
        _ => return None,
    }
    match words.get(k.checked_sub(1)?)?.as_str() {
        "more" | "greater" | "higher" | "larger" | "bigger" | "longer" | "costlier" => Some(">"),
        "less" | "fewer" | "lower" | "smaller" | "shorter" | "cheaper" => Some("<"),
        _ => None,
    }
}

impl Scope {
    /// The comparison with an average the question sets, when the words after "average" name
    /// exactly one number column (not a key) of the chosen tables: each word is a word of the
    /// column's name or of its table's, at least one of the column's ("invoice total":
    /// `invoice.total`; "product price": `products.unit_price`). A negated comparison ("not
    /// above the average") is left to the model.
    pub(super) fn average_compared(&self) -> Option<Compared> {
        let words = words_and_breaks(&self.question);
        let at = words.iter().position(|w| w == "average" || w == "mean")?;
        let op = comparison_before(&words, at)?;
        if words[..at]
            .iter()
            .rev()
            .take(4)
            .any(|w| matches!(w.as_str(), "not" | "never" | "no"))
        {
            return None;
        }
        let phrase: Vec<&str> = words[at + 1..]
            .iter()
            .take_while(|w| !w.is_empty() && !PHRASE_ENDS.contains(&w.as_str()))
            .take(3)
            .map(String::as_str)
            .collect();
        if phrase.is_empty() {
            return None;
        }
        let mut found: Vec<(usize, Compared)> = Vec::new();
        for t in &self.catalog.tables {
            let table_parts: Vec<&str> = t.name.split('_').filter(|p| !p.is_empty()).collect();
            for c in &t.columns {
                if !is_number(&c.data_type) || key_name(&c.name.to_lowercase()) {
                    continue;
                }
                let lower = c.name.to_lowercase();
                let parts: Vec<&str> = lower.split('_').filter(|p| !p.is_empty()).collect();
                let of_column = |w: &str| parts.iter().any(|p| same_word(w, p));
                let of_table = |w: &str| table_parts.iter().any(|p| same_word(w, p));
                if !phrase.iter().all(|w| of_column(w) || of_table(w))
                    || !phrase.iter().any(|w| of_column(w))
                {
                    continue;
                }
                // A column whose table the phrase also names is the better reading.
                let score = usize::from(phrase.iter().any(|w| of_table(w) && !of_column(w)));
                found.push((
                    score,
                    Compared {
                        written: t.written(),
                        table: t.name.clone(),
                        column: c.name.clone(),
                        op,
                    },
                ));
            }
        }
        let best = found.iter().map(|(s, _)| *s).max()?;
        let mut top = found.into_iter().filter(|(s, _)| *s == best);
        let (_, one) = top.next()?;
        top.next().is_none().then_some(one)
    }

    /// 1 when the question sets a comparison with an average ([`Self::average_compared`]) and
    /// the query `toks` computes none (`avg(` nowhere).
    pub(super) fn average_unmet(&self, toks: &[Tok<'_>]) -> usize {
        if self.average_compared().is_none() {
            return 0;
        }
        let averages = toks.iter().enumerate().any(|(i, t)| {
            t.text.eq_ignore_ascii_case("avg") && toks.get(i + 1).is_some_and(|n| n.text == "(")
        });
        usize::from(!averages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_comparison_is_read_from_the_words_before_average() {
        let w = words_and_breaks("How many invoices are above the average invoice total?");
        let at = w.iter().position(|w| w == "average").unwrap();
        assert_eq!(comparison_before(&w, at), Some(">"));
        let w = words_and_breaks("tracks shorter than average length");
        let at = w.iter().position(|w| w == "average").unwrap();
        assert_eq!(comparison_before(&w, at), Some("<"));
        let w = words_and_breaks("What is the average invoice total?");
        let at = w.iter().position(|w| w == "average").unwrap();
        assert_eq!(comparison_before(&w, at), None);
        assert_eq!(words_and_breaks("a, b?")[1], "");
    }
}
