//! A choice between values the question names, held by one column: 'cartoons directed by "Ben
//! Jones" or "Brandon Vietti"', "customers in Brazil, Chile or Peru". pgask writes the condition
//! itself as one IN list (`cartoon."Directed_by" IN ('Ben Jones', 'Brandon Vietti')`): where the
//! model would end without it ([`Scope::condition_for`]), and in the strict fallback, whose
//! grammar takes it whole ([`crate::ask::generate::grammar::Spec::written`]) and whose query is
//! dropped when it writes the values any other way ([`Scope::choice_turned`]).
//!
//! Only where every value the question names is one of the choice, the values follow one
//! another in the question separated by commas and a last "or" ("either" before the first
//! aside), and one column holds them all ([`Scope::value_holder`]).

use super::fallback::{or_anywhere, where_uses};
use super::lexer::{Kind, Tok};
use super::Scope;
use crate::ask::catalog::quote_ident;
use crate::ask::generate::shape::NEGATIONS;

/// The values of one choice and the column that holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Choice {
    pub table: String,
    pub column: String,
    /// The values as stored, in the question's order.
    pub values: Vec<String>,
}

impl Choice {
    /// The condition on `qualifier` + column: `q."Directed_by" IN ('Ben Jones', 'Brandon
    /// Vietti')`.
    pub(super) fn condition(&self, qualifier: &str) -> String {
        let list: Vec<String> = self
            .values
            .iter()
            .map(|v| format!("'{}'", v.replace('\'', "''")))
            .collect();
        format!(
            "{qualifier}{} IN ({})",
            quote_ident(&self.column),
            list.join(", ")
        )
    }
}

/// Whether `between` (the text between two values of a choice) only separates them: quotes,
/// spaces and commas, and "or" before the last value (`last`), a comma before the others.
fn separates(between: &str, last: bool) -> bool {
    let words: Vec<&str> = between
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '"' | '\'' | '“' | '”'))
        .filter(|w| !w.is_empty())
        .collect();
    if last {
        words == ["or"]
    } else {
        words.is_empty() && between.contains(',')
    }
}

impl Scope {
    /// The choice between values the question names ([`Choice`]): two to four values, all
    /// it names, each once, one after another with only commas, quotes and a last "or"
    /// between them, held by one column. `None` otherwise, or where the question has a word
    /// of negation.
    pub(super) fn value_choice(&self) -> Option<Choice> {
        if !(2..=4).contains(&self.values.len()) {
            return None;
        }
        let q = self.question.to_lowercase();
        // Each value's place in the question (the first; every value must be there as
        // written).
        let mut found: Vec<(usize, usize, &String)> = Vec::new();
        for v in &self.values {
            let lower = v.to_lowercase();
            // (A value named twice may be a condition of its own too: "employees in London or
            // Paris with a manager in London".)
            if q.matches(&lower).count() != 1 {
                return None;
            }
            let at = q.find(&lower)?;
            found.push((at, at + lower.len(), v));
        }
        // Any negation may be the choice's ("weren't directed by", "not … either A or B").
        let negated = q
            .split(|c: char| !c.is_alphanumeric() && !matches!(c, '\'' | '’'))
            .any(|w| NEGATIONS.contains(&w) || w.ends_with("n't") || w.ends_with("n’t"));
        if negated {
            return None;
        }
        found.sort();
        let seps = found.windows(2).enumerate().all(|(k, w)| {
            let between = q.get(w[0].1..w[1].0).unwrap_or("x");
            w[0].1 <= w[1].0 && separates(between, k + 2 == found.len())
        });
        if !seps {
            return None;
        }
        let mut holder: Option<(&String, &String)> = None;
        for (_, _, v) in &found {
            let (_, t, c) = self.value_holder(v)?;
            if holder.is_some_and(|h| h != (t, c)) {
                return None;
            }
            holder = Some((t, c));
        }
        let (table, column) = holder?;
        Some(Choice {
            table: table.clone(),
            column: column.clone(),
            values: found.iter().map(|(_, _, v)| (*v).clone()).collect(),
        })
    }

    /// Whether the strict fallback's query `toks` (`text`) writes the question's choice
    /// ([`Self::value_choice`]) other than as pgask's one IN list: not at all, more than once,
    /// a value outside it, a second condition on its column, or beside an OR.
    pub(super) fn choice_turned(&self, c: &Choice, toks: &[Tok<'_>], text: &str) -> bool {
        let written = self
            .catalog
            .tables
            .iter()
            .filter(|t| t.name == c.table)
            .map(|t| c.condition(&format!("{}.", t.written())))
            .find(|cond| text.contains(cond.as_str()));
        let Some(cond) = written else {
            return true;
        };
        let named = toks
            .iter()
            .filter(|t| t.kind == Kind::Literal && t.text.starts_with('\''))
            .filter(|t| {
                let lower = t.text.to_lowercase();
                c.values.iter().any(|v| lower.contains(&v.to_lowercase()))
            })
            .count();
        text.matches(cond.as_str()).count() != 1
            || named != c.values.len()
            || where_uses(toks, &c.table, &c.column) != 1
            || or_anywhere(toks)
    }
}

#[cfg(test)]
mod tests {
    use super::separates;

    #[test]
    fn only_commas_quotes_and_a_last_or_separate_a_choice() {
        assert!(separates("\" or \"", true));
        assert!(separates(" or ", true));
        assert!(separates(", or ", true));
        assert!(separates(", ", false));
        assert!(!separates(" and ", true));
        assert!(!separates(" or not ", true));
        assert!(!separates(" ", false));
        assert!(!separates(" or ", false));
    }
}
