//! A comparison with an average, a minimum or a maximum the question sets: "How many invoices
//! are above the average invoice total?", "Which products cost more than the average product
//! price?", "museums which have more staff than the minimum staff number of all museums opened
//! after 2010". The words after "average" ("minimum", "maximum", …) name one number column of
//! the chosen tables (`invoice.total`, `products.unit_price`, `museum."Num_of_Staff"`); the
//! answer must then compute it (`avg(`, `min(`, `max(`) before it ends, and a model that ends
//! without one gets ` WHERE total > (SELECT avg(total) FROM invoice)` written for it
//! ([`Scope::condition_for`]). A phrase of years after the column's ("of all museums opened
//! after 2010") restricts the rows the subquery reads (` WHERE "Open_Year" > '2010'`, as
//! [`super::year_numbers`] reads it). Without a column named ("more than the average
//! customer") nothing is required: the model's reading stands.

use super::columns::{is_number, same_word};
use super::lexer::Tok;
use super::year_numbers::phrase as year_phrase;
use super::{key_name, Scope};
use crate::ask::catalog::quote_ident;
use crate::ask::generate::shape::{NEGATIONS, NUMBER_WORDS};

/// A comparison of a column with its average, minimum or maximum: `column op (SELECT
/// avg(column) FROM table)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compared {
    /// The table, as a query writes it (bare in `public`).
    pub written: String,
    /// The table's name, as the FROM list reads it.
    pub table: String,
    pub column: String,
    /// `>`, `<`, `>=` or `<=`.
    pub op: &'static str,
    /// `avg`, `min` or `max`.
    pub func: &'static str,
    /// The subquery's own condition, from a phrase of years after the column's (` WHERE
    /// "Open_Year" > '2010'`), or empty.
    pub within: String,
}

impl Compared {
    /// The condition on `qualifier` + column (` > (SELECT avg(total) FROM invoice)`).
    pub fn condition(&self, qualifier: &str) -> String {
        let c = quote_ident(&self.column);
        format!(
            "{qualifier}{c} {} (SELECT {}({c}) FROM {}{})",
            self.op, self.func, self.written, self.within
        )
    }
}

/// The function a word of the comparison names: "average", "mean" → `avg`; "minimum",
/// "lowest", "smallest" → `min`; "maximum", "highest", "largest", "greatest" → `max`.
pub(super) fn aggregate_of(word: &str) -> Option<&'static str> {
    match word {
        "average" | "mean" => Some("avg"),
        "minimum" | "lowest" | "smallest" => Some("min"),
        "maximum" | "highest" | "largest" | "greatest" => Some("max"),
        _ => None,
    }
}

/// Whether a word of the question names a part of a column's name: the same word, or
/// "number" for `num` or `no` (`Num_of_Staff`).
fn names_part(w: &str, part: &str) -> bool {
    same_word(w, part) || (w == "number" && matches!(part, "num" | "no" | "nbr"))
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

/// The comparison a phrase ending just before `at` ("average" at `at`, after an optional
/// "the") asks for, and where it starts: "more/greater/higher/larger/bigger/longer than",
/// "above", "over", "exceeds" → `>`; "less/fewer/lower/smaller/shorter/cheaper than",
/// "below", "under" → `<`; "at least" → `>=`, "at most" → `<=`; "… or above" adds `=`. One
/// word may stand between the comparative and "than" ("more staff than"): the third value
/// is its place (`None` without one).
fn comparison_before(words: &[String], at: usize) -> Option<(&'static str, usize, Option<usize>)> {
    let mut k = at.checked_sub(1)?;
    if words[k] == "the" || words[k] == "an" {
        k = k.checked_sub(1)?;
    }
    let before = |k: usize| {
        k.checked_sub(1)
            .and_then(|p| words.get(p))
            .map(String::as_str)
    };
    let comparative = |w: &str| match w {
        "more" | "greater" | "higher" | "larger" | "bigger" | "longer" | "costlier" => Some(">"),
        "less" | "fewer" | "lower" | "smaller" | "shorter" | "cheaper" => Some("<"),
        _ => None,
    };
    let mut noun = None;
    let (op, from) = match words[k].as_str() {
        "above" | "over" | "exceeds" | "exceed" | "exceeding" => (">", k),
        "below" | "under" => ("<", k),
        "least" if before(k) == Some("at") => (">=", k - 1),
        "most" if before(k) == Some("at") => ("<=", k - 1),
        "than" => match comparative(before(k)?) {
            Some(op) => (op, k - 1),
            // "more staff than": the word between names what is compared.
            None => {
                let op = comparative(before(k - 1)?)?;
                if before(k).is_none_or(|w| w.is_empty() || w.parse::<f64>().is_ok()) {
                    return None;
                }
                noun = Some(k - 1);
                (op, k - 2)
            }
        },
        _ => return None,
    };
    Some(match (op, before(from)) {
        (">", Some("or")) => (">=", from - 1, noun),
        ("<", Some("or")) => ("<=", from - 1, noun),
        _ => (op, from, noun),
    })
}

impl Scope {
    /// The comparison with an average the question sets ([`Self::read_average`]), read once.
    pub(super) fn average_compared(&self) -> Option<Compared> {
        self.average.get_or_init(|| self.read_average()).clone()
    }

    /// The comparison with an average (minimum, maximum: [`aggregate_of`]) the question sets,
    /// when the words after "average" name exactly one number column (not a key) of the chosen
    /// tables, each word a word of the column's name or of its table's, at least one of the
    /// column's ("invoice total": `invoice.total`; "product price": `products.unit_price`),
    /// and the phrase ends the clause, or goes on with a phrase of years that restricts the
    /// subquery ([`Self::restriction`]). Not when no column's own name holds the aggregate's
    /// word (`jobs.min_salary` for "below the minimum salary"), not when the grammar writes no subquery (`strict`), for a question about each
    /// group ("each", "per", "every"), an average restricted further ("… total in 2021", "…
    /// per customer", "the average number of orders"), a negated comparison ("not above",
    /// "aren't above"), a difference ("how much more than"), or when the clause before the
    /// comparison names another number column ("a bonus higher than the average salary").
    fn read_average(&self) -> Option<Compared> {
        if !self.subqueries {
            return None;
        }
        let words = words_and_breaks(&self.question);
        if words
            .iter()
            .any(|w| matches!(w.as_str(), "each" | "per" | "every"))
        {
            return None;
        }
        let (at, func, op, from, noun) = words.iter().enumerate().find_map(|(at, w)| {
            let func = aggregate_of(w)?;
            let (op, from, noun) = comparison_before(&words, at)?;
            Some((at, func, op, from, noun))
        })?;
        let noun = noun.map(|k| words[k].as_str());
        let clause_start = words[..from]
            .iter()
            .rposition(String::is_empty)
            .map_or(0, |k| k + 1);
        let clause = &words[clause_start..from];
        let negated = clause.iter().enumerate().any(|(k, w)| {
            NEGATIONS.contains(&w.as_str()) || (w == "t" && k >= 1 && clause[k - 1].ends_with('n'))
        });
        // An amount on top of the average ("5 dollars more than", "10% above", "twice") or
        // a difference ("how much more than") is no plain comparison.
        let amount = clause.iter().any(|w| {
            w.parse::<f64>().is_ok()
                || NUMBER_WORDS.iter().any(|(n, _)| n == w)
                || matches!(w.as_str(), "much" | "percent" | "times" | "twice")
        });
        let excluded = clause
            .iter()
            .any(|w| matches!(w.as_str(), "excluding" | "except" | "besides"));
        if negated || amount || excluded {
            return None;
        }
        // The tables the clause names ("How many invoices …"): the averaged column must be
        // one of theirs ("Which tracks cost more than the average invoice total?" compares a
        // track's price, not `invoice.total`).
        // Each table with the words of its name.
        let tables: Vec<(&crate::ask::catalog::Table, Vec<String>)> = self
            .catalog
            .tables
            .iter()
            .map(|t| {
                let name = t.name.to_lowercase();
                let parts = name.split('_').filter(|p| !p.is_empty());
                (t, parts.map(str::to_string).collect())
            })
            .collect();
        let subjects: Vec<&str> = tables
            .iter()
            .filter(|(_, parts)| {
                clause
                    .iter()
                    .any(|w| parts.last().is_some_and(|p| same_word(w, p)))
            })
            .map(|(t, _)| t.name.as_str())
            .collect();
        let rest = &words[at + 1..];
        let len = rest.iter().take_while(|w| !w.is_empty()).count();
        let mut phrase: Vec<&str> = rest[..len].iter().map(String::as_str).collect();
        // "… of all museums opened after 2010": the rows the subquery reads.
        let mut restricted = None;
        if let Some(p) = phrase.iter().position(|w| PHRASE_ENDS.contains(w)) {
            restricted = Some(self.restriction(&phrase[p..])?);
            phrase.truncate(p);
        }
        if phrase.is_empty() || phrase.len() > 3 {
            return None;
        }
        // A column named for the aggregate ("below the minimum salary" and `jobs.min_salary`)
        // is what the question compares with.
        let own: &[&str] = match func {
            "avg" => &["avg", "average", "mean"],
            "min" => &["min", "minimum", "lowest"],
            _ => &["max", "maximum", "highest"],
        };
        let named_for_it = self
            .catalog
            .tables
            .iter()
            .flat_map(|t| &t.columns)
            .any(|c| {
                let lower = c.name.to_lowercase();
                let parts: Vec<&str> = lower.split('_').collect();
                parts.iter().any(|p| own.contains(p))
                    && phrase.iter().any(|w| parts.iter().any(|p| same_word(w, p)))
            });
        if named_for_it {
            return None;
        }
        let mut found: Vec<(usize, Compared)> = Vec::new();
        for (t, table_parts) in &tables {
            if !subjects.is_empty() && !subjects.contains(&t.name.as_str()) {
                continue;
            }
            let of_table = |w: &str| table_parts.iter().any(|p| same_word(w, p));
            // The clause's words that may name a column: "cost" after the table's own word
            // is its verb ("products cost more than …"), not `unit_cost`.
            let nouns: Vec<&str> = clause
                .iter()
                .enumerate()
                .filter(|(k, w)| {
                    let verb = matches!(w.as_str(), "cost" | "costs")
                        && k.checked_sub(1).is_some_and(|p| of_table(&clause[p]));
                    !verb
                })
                .map(|(_, w)| w.as_str())
                .collect();
            let numbers = t
                .columns
                .iter()
                .filter(|c| is_number(&c.data_type) && !key_name(&c.name.to_lowercase()));
            // (A phrase of years restricts the rows of the table it names.)
            if restricted.as_ref().is_some_and(|named| !of_table(named)) {
                continue;
            }
            for c in numbers.clone() {
                let lower = c.name.to_lowercase();
                let parts: Vec<&str> = lower.split('_').filter(|p| !p.is_empty()).collect();
                let of_column = |w: &str| parts.iter().any(|p| names_part(w, p));
                if !phrase.iter().all(|w| of_column(w) || of_table(w))
                    || !phrase.iter().any(|w| of_column(w))
                    || noun.is_some_and(|w| !of_column(w))
                {
                    continue;
                }
                let within = match &restricted {
                    None => String::new(),
                    Some(_) => match self.year_compared() {
                        Some(y) if y.table == t.name => {
                            format!(" WHERE {}{}", quote_ident(&y.column), y.tail())
                        }
                        _ => continue,
                    },
                };
                // Another number column of the table named before the comparison is what is
                // compared ("a bonus higher than the average salary").
                let other = numbers.clone().any(|o| {
                    o.name != c.name
                        && o.name
                            .to_lowercase()
                            .split('_')
                            .any(|p| !parts.contains(&p) && nouns.iter().any(|w| same_word(w, p)))
                });
                if other {
                    return None;
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
                        func,
                        within,
                    },
                ));
            }
        }
        let best = found.iter().map(|(s, _)| *s).max()?;
        let mut top = found.into_iter().filter(|(s, _)| *s == best);
        let (_, one) = top.next()?;
        top.next().is_none().then_some(one)
    }

    /// The phrase after the compared column's words that restricts the subquery's rows,
    /// `words` from its first word: "of [all|the] <table's word> [that|which|who|were|…]
    /// [a verb] <a phrase of years>" ending the clause ("of all museums opened after 2010"):
    /// the table's word (the years are read by [`Self::year_compared`]). `None` for any other
    /// phrase.
    fn restriction(&self, words: &[&str]) -> Option<String> {
        let mut k = usize::from(words.first() == Some(&"of"));
        if k == 0 {
            return None;
        }
        if matches!(words.get(k), Some(&("all" | "the"))) {
            k += 1;
        }
        let table = (*words.get(k)?).to_string();
        let tail = &words[k + 1..];
        // ("of all museums not opened after 2010", "… except those opened after 2010", "…
        // opened no later than 2010": the years turned round.)
        let turned = words.iter().any(|w| {
            NEGATIONS.contains(w)
                || *w == "t" // ("weren't" is "weren", "t")
                || matches!(*w, "except" | "excluding" | "besides" | "but" | "other" | "others")
        });
        if turned {
            return None;
        }
        let (_, first, last) = year_phrase(tail)?;
        let lead = &tail[..first];
        let plain = lead.len() <= 3
            && lead.iter().all(|w| {
                !PHRASE_ENDS.contains(w)
                    || matches!(*w, "that" | "which" | "who" | "were" | "was" | "are" | "is")
            });
        (plain && last + 1 == tail.len()).then_some(table)
    }

    /// Whether the question's phrase of years ([`Self::year_compared`]) is the subquery's of a
    /// comparison with an aggregate ([`Compared::within`]), not a condition of its own.
    pub(super) fn years_within_average(&self) -> bool {
        self.average_compared()
            .is_some_and(|a| !a.within.is_empty())
    }

    /// 1 when the question sets a comparison with an average, minimum or maximum
    /// ([`Self::average_compared`]) and the query `toks` computes none (`avg(`, `min(` or
    /// `max(` nowhere).
    pub(super) fn average_unmet(&self, toks: &[Tok<'_>]) -> usize {
        let Some(a) = self.average_compared() else {
            return 0;
        };
        let computed = toks.iter().enumerate().any(|(i, t)| {
            t.text.eq_ignore_ascii_case(a.func) && toks.get(i + 1).is_some_and(|n| n.text == "(")
        });
        usize::from(!computed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_comparison_is_read_from_the_words_before_average() {
        let read = |q: &str| {
            let w = words_and_breaks(q);
            let at = w.iter().position(|w| w == "average").unwrap();
            comparison_before(&w, at).map(|(op, _, _)| op)
        };
        assert_eq!(
            read("How many invoices are above the average invoice total?"),
            Some(">")
        );
        assert_eq!(read("tracks shorter than average length"), Some("<"));
        assert_eq!(read("totals at least the average total"), Some(">="));
        assert_eq!(
            read("totals equal to or above the average total"),
            Some(">=")
        );
        assert_eq!(read("What is the average invoice total?"), None);
        assert_eq!(
            read("museums with more staff than the average staff"),
            Some(">")
        );
        assert_eq!(read("more than 5 than the average"), None);
        assert_eq!(words_and_breaks("a, b?")[1], "");
    }
}
