//! Years a question compares a column that holds years as numbers or text with: "singers whose
//! birth year is either 1948 or 1949", "countries that became independent after 1950",
//! "museums opened before 2009". The strict fallback writes that condition itself
//! (`singer."Birth_Year" IN (1948, 1949)`, `country."IndepYear" > 1950`, `museum."Open_Year" <
//! '2009'`), as it writes a whole calendar year's range on a date column
//! ([`Scope::strict_year`]), and drops a fallback query that writes it any other way.
//!
//! Only one phrase of the question may name years, in one of a few plain forms (`in Y`,
//! `after Y`, `since Y`, `before Y`, `until Y`, `Y or later`, `later than Y`, `prior to Y`,
//! `[either] Y1 or Y2`, `between Y1 and Y2`, `from Y1 to Y2`), and the chosen tables must have
//! exactly one column it can be about (its name holds "year"; of several, the only one whose
//! other words the question names) and no date or timestamp column ("in 2023" may mean one).

use super::fallback::where_uses;
use super::lexer::{Kind, Tok};
use super::Scope;
use crate::ask::catalog::quote_ident;
use crate::ask::generate::grammar::ValueKind;

/// What the question says of the years.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Form {
    /// `column op year`.
    Cmp(&'static str, u32),
    /// `column IN (a, b)` (number columns only).
    In(Vec<u32>),
    /// `column BETWEEN a AND b` (number columns only).
    Between(u32, u32),
}

/// The comparison of one year column with the years the question names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct YearCompared {
    pub table: String,
    pub column: String,
    pub form: Form,
    /// The question's lower-cased text without the phrase (for the fallback's word checks:
    /// "after" and "or" are the condition's, not a negation or an alternative).
    pub rest: String,
    /// The column holds text: years are written as text literals.
    text: bool,
}

impl YearCompared {
    /// What follows the column in the condition: ` IN (1948, 1949)`, ` > 1950`, ` < '2009'`.
    pub(super) fn tail(&self) -> String {
        let year = |y: u32| {
            if self.text {
                format!("'{y}'")
            } else {
                y.to_string()
            }
        };
        match &self.form {
            Form::Cmp(op, y) => format!(" {op} {}", year(*y)),
            Form::In(ys) => format!(
                " IN ({})",
                ys.iter()
                    .map(|y| y.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Form::Between(a, b) => format!(" BETWEEN {a} AND {b}"),
        }
    }

    /// The years the condition writes.
    pub(super) fn years(&self) -> Vec<u32> {
        match &self.form {
            Form::Cmp(_, y) => vec![*y],
            Form::In(ys) => ys.clone(),
            Form::Between(a, b) => vec![*a, *b],
        }
    }
}

/// Words that move or widen a year's bound: the question gets no condition of pgask's.
const MODIFIERS: &[&str] = &[
    "onwards",
    "onward",
    "inclusive",
    "inclusively",
    "exclusive",
    "exclusively",
    "latest",
    "earliest",
    "prior",
    "later",
    "earlier",
    "beyond",
    "older",
    "newer",
    "after",
    "before",
    "since",
    "until",
    "till",
    "through",
    "between",
    "around",
    "approximately",
    "circa",
    "roughly",
    "decade",
    "decades",
];

/// Whether a column's name says it holds years: a part that is or ends with "year"
/// (`Birth_Year`, `IndepYear`, `year`), or "yr"; not `years_working` or `yearly_total`.
pub(super) fn holds_years(name: &str) -> bool {
    name.to_lowercase()
        .split('_')
        .any(|p| p.ends_with("year") || p == "yr")
}

/// The lower-cased words of `q` with their byte spans.
fn spans(q: &str) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in q.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i, &q[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, q.len(), &q[s..]));
    }
    out
}

/// A year word: four digits from 1900 to 2099.
fn year_of(w: &str) -> Option<u32> {
    (w.len() == 4 && w.bytes().all(|b| b.is_ascii_digit()))
        .then(|| w.parse::<u32>().ok())
        .flatten()
        .filter(|y| (1900..2100).contains(y))
}

/// Words that bound a year on their own.
const BOUNDS: &[&str] = &[
    "to",
    "than",
    "after",
    "before",
    "since",
    "until",
    "till",
    "through",
    "following",
    "by",
    "between",
    "and",
    "or",
];

/// The phrase naming the years among `words` (lower case): its form and the word range it
/// covers.
pub(super) fn phrase(words: &[&str]) -> Option<(Form, usize, usize)> {
    let at: Vec<usize> = (0..words.len())
        .filter(|&k| year_of(words[k]).is_some())
        .collect();
    let w = |k: usize| words.get(k).copied().unwrap_or("");
    let before = |k: usize, d: usize| k.checked_sub(d).map_or("", w);
    match at.as_slice() {
        [k] => {
            let k = *k;
            let y = year_of(w(k))?;
            // `Y or later`, `Y and after` (not after another bound: "prior to 1990 and
            // later remastered").
            if matches!(w(k + 1), "or" | "and") {
                if !matches!(before(k, 1), "in" | "from" | "of") && BOUNDS.contains(&before(k, 1)) {
                    return None;
                }
                let op = match w(k + 2) {
                    "later" | "after" | "newer" => ">=",
                    "earlier" | "before" | "older" => "<=",
                    _ => return None,
                };
                let start = k - usize::from(matches!(before(k, 1), "in" | "from" | "of"));
                return Some((Form::Cmp(op, y), start, k + 2));
            }
            let (op, start) = match (before(k, 2), before(k, 1)) {
                ("prior", "to") => ("<", k - 2),
                ("later" | "newer", "than") => (">", k - 2),
                ("earlier" | "older", "than") => ("<", k - 2),
                (_, "after" | "following") => (">", k - 1),
                (_, "since") => (">=", k - 1),
                (_, "before") => ("<", k - 1),
                (_, "until" | "till" | "through") => ("<=", k - 1),
                (_, "in" | "during") => ("=", k - 1),
                _ => return None,
            };
            Some((Form::Cmp(op, y), start, k))
        }
        [a, b] if *b == a + 2 => {
            let (ya, yb) = (year_of(w(*a))?, year_of(w(*b))?);
            match (before(*a, 1), w(a + 1)) {
                (lead, "or") => {
                    let start = a - usize::from(matches!(lead, "either" | "in"));
                    let start = if lead == "either" && before(start, 1) == "in" {
                        start - 1
                    } else {
                        start
                    };
                    (ya != yb).then(|| (Form::In(vec![ya, yb]), start, *b))
                }
                ("between", "and") | ("from", "to") if ya < yb => {
                    Some((Form::Between(ya, yb), a - 1, *b))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

impl Scope {
    /// The comparison of a year column with the years the question names, for the strict
    /// fallback (see the module's docs); `None` where the question or the tables leave room
    /// for another reading.
    pub(super) fn year_compared(&self) -> Option<YearCompared> {
        let q = self.question.to_lowercase();
        let words = spans(&q);
        let plain: Vec<&str> = words.iter().map(|(_, _, w)| *w).collect();
        let (form, first, last) = phrase(&plain)?;
        let times = self.catalog.tables.iter().any(|t| {
            t.columns
                .iter()
                .any(|c| ValueKind::of(&c.data_type, false) == ValueKind::Time)
        });
        if times {
            return None;
        }
        let holders: Vec<(&str, &str, bool)> = self
            .catalog
            .tables
            .iter()
            .flat_map(|t| t.columns.iter().map(move |c| (t, c)))
            .filter(|(_, c)| holds_years(&c.name))
            .filter_map(|(t, c)| match ValueKind::of(&c.data_type, false) {
                ValueKind::Number => Some((t.name.as_str(), c.name.as_str(), false)),
                ValueKind::Text => Some((t.name.as_str(), c.name.as_str(), true)),
                _ => None,
            })
            .collect();
        let holder = match holders.as_slice() {
            [one] => *one,
            _ => {
                // The only one whose other words ("birth" of `birth_year`; of a bare `year`,
                // its table's) the question names within four words before the phrase.
                let near = &plain[first.saturating_sub(4)..first];
                let named: Vec<&(&str, &str, bool)> = holders
                    .iter()
                    .filter(|(t, c, _)| {
                        let lower = c.to_lowercase();
                        let mut own: Vec<&str> = lower
                            .split('_')
                            .filter(|p| p.len() >= 3 && !p.ends_with("year"))
                            .collect();
                        let table = t.to_lowercase();
                        if own.is_empty() {
                            own = table.split('_').filter(|p| p.len() >= 3).collect();
                        }
                        own.iter().any(|p| near.iter().any(|w| w.starts_with(p)))
                    })
                    .collect();
                let [one] = named.as_slice() else {
                    return None;
                };
                **one
            }
        };
        let (table, column, text) = holder;
        if text && !matches!(form, Form::Cmp(..)) {
            return None;
        }
        let rest = format!("{} {}", &q[..words[first].0], &q[words[last].1..]);
        // Words that move or widen the bound outside the phrase ("in 1980 onwards", "before
        // 2009 inclusive", "in 2009 at the latest").
        if spans(&rest).iter().any(|(_, _, w)| MODIFIERS.contains(w)) {
            return None;
        }
        Some(YearCompared {
            table: table.to_string(),
            column: column.to_string(),
            form,
            rest,
            text,
        })
    }

    /// Whether the year comparison ([`Self::year_compared`]) is written in the fallback's query
    /// `toks` (`text`) other than as pgask writes it: its column followed by its tail, once,
    /// no year of it anywhere else, no OR.
    pub(super) fn year_compared_turned(
        &self,
        y: &YearCompared,
        toks: &[Tok<'_>],
        text: &str,
    ) -> bool {
        let tail = y.tail();
        let column = quote_ident(&y.column);
        let found: Vec<usize> = text
            .match_indices(&format!("{column}{tail}"))
            .map(|(at, _)| at)
            .filter(|&at| {
                let after = &text[at + column.len() + tail.len()..];
                !after.starts_with(|c: char| c.is_alphanumeric() || c == '.' || c == '_')
            })
            .collect();
        let [at] = found.as_slice() else {
            return true;
        };
        // A condition of its own: ` WHERE ` or ` AND ` before the column and its qualifiers
        // (not `a."Population" + a."IndepYear" > 1950`).
        let head = text[..*at]
            .trim_end_matches(|c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '"'));
        if !(head.ends_with(" WHERE ") || head.ends_with(" AND ")) {
            return true;
        }
        let rest = format!(
            "{}{}",
            &text[..*at],
            &text[at + column.len() + tail.len()..]
        );
        let uses = where_uses(toks, &y.table, &y.column);
        y.years().iter().any(|n| rest.contains(&n.to_string()))
            || uses != 1
            || toks.iter().any(|t| t.is(Kind::Keyword, "OR"))
    }
}

#[cfg(test)]
mod tests {
    use super::{phrase, Form};

    fn read(q: &str) -> Option<(Form, usize, usize)> {
        let words: Vec<&str> = q.split(' ').collect();
        phrase(&words)
    }

    #[test]
    fn the_phrase_naming_years_gives_the_comparison() {
        assert_eq!(
            read("singers whose birth year is either 1948 or 1949"),
            Some((Form::In(vec![1948, 1949]), 5, 8))
        );
        assert_eq!(
            read("countries that became independent after 1950"),
            Some((Form::Cmp(">", 1950), 4, 5))
        );
        assert_eq!(
            read("museums open before 2009"),
            Some((Form::Cmp("<", 2009), 2, 3))
        );
        assert_eq!(
            read("films released in 2006 or later"),
            Some((Form::Cmp(">=", 2006), 2, 5))
        );
        assert_eq!(
            read("cars made between 1970 and 1975"),
            Some((Form::Between(1970, 1975), 2, 5))
        );
        assert_eq!(
            read("albums released prior to 1990"),
            Some((Form::Cmp("<", 1990), 2, 4))
        );
        // Years the phrase does not place, or years in two phrases: no reading.
        assert_eq!(read("cars of 1970"), None);
        assert_eq!(read("films in 2006 and singers after 1990"), None);
        assert_eq!(read("cars made between 1975 and 1970"), None);
        assert_eq!(read("the 1990 budget"), None);
    }
}
