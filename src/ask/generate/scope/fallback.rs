//! What the strict fallback may answer, the conditions pgask writes into it, and how its query
//! is judged once written.
//!
//! The strict profile plans whatever it writes, but a condition the question sets is more than
//! it can be trusted with: left to the model, it drops it or turns it round. So pgask writes
//! each one itself in the steered pass ([`Scope::strict_condition_for`]), and drops a fallback
//! query that writes one any other way ([`Scope::leaves_out`]):
//!
//! - a value the question names, held by one column pgask can tell
//!   ([`Scope::value_holder`]): `customer.country = 'Brazil'`; or a choice between values one
//!   column holds ([`super::value_choice`]), taken whole: `cartoon."Directed_by" IN ('Ben
//!   Jones', 'Brandon Vietti')`;
//! - a flag (a boolean column the question names): `products.discontinued`;
//! - a year, with no range's word: `invoice.invoice_date >= '2023-01-01' AND
//!   invoice.invoice_date < '2024-01-01'`;
//! - years compared with a column that holds years as numbers or text
//!   ([`super::year_numbers`]): `country."IndepYear" > 1950`, `singer."Birth_Year" IN (1948,
//!   1949)`;
//! - a comparison with an average, a minimum or a maximum ([`super::averages`]), which the
//!   strict grammar takes whole as pgask writes it ([`Spec::written`]): `invoice.total >
//!   (SELECT avg(total) FROM invoice)`.
//!
//! A question with a word of negation, alternative or comparison, or more than one of a kind
//! gets no fallback ([`Scope::strict_may_answer`]).
//! Every query of the fallback's grammar reads the tables of those conditions
//! ([`Scope::strict_spec`]), so the model's FROM leaves pgask somewhere to write them.

use super::averages;
use super::columns::same_word;
use super::lexer::{lex, Kind, Tok};
use super::question::question_numbers;
use super::year_numbers::holds_years;
use super::Scope;
use crate::ask::catalog::{quote_ident, Table};
use crate::ask::generate::grammar::{Spec, ValueKind};
use crate::ask::generate::shape::MONTHS;

/// Words that negate or widen a value the question names, or place it in a comparison:
/// the strict fallback does not write `column = 'value'` for such a question
/// ([`Scope::strict_may_answer`]).
const NEGATION_WORDS: &[&str] = &[
    "not",
    "no",
    "never",
    "without",
    "except",
    "excluding",
    "exclude",
    "excludes",
    "excluded",
    "outside",
    "none",
    "nobody",
    "nothing",
    "neither",
    "nor",
    "or",
    "other",
    "others",
    "besides",
    "unless",
    "cannot",
    "but",
    "apart",
    "non",
    "unlike",
    "else",
    "dont",
    "doesnt",
    "didnt",
    "isnt",
    "arent",
    "wasnt",
    "werent",
    "hasnt",
    "havent",
    "cant",
    "wont",
    "than",
    "same",
    "after",
    "before",
    "since",
    "until",
    "including",
    "include",
    "includes",
    "also",
    "false",
    "unset",
    "aside",
    "excl",
    "minus",
    "instead",
    "ignoring",
    "ignore",
    "omit",
    "omitting",
    "0",
];

/// Words that name a part of a year (and [`MONTHS`]): the strict fallback writes no whole
/// year's range for a question with one ([`Scope::strict_year`]).
const PARTS_OF_A_YEAR: &[&str] = &[
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "quarter",
    "quarters",
    "quarterly",
    "fiscal",
    "season",
    "seasons",
    "semester",
    "decade",
    "decades",
    "century",
    "winter",
    "spring",
    "summer",
    "autumn",
    "fall",
    "christmas",
    "easter",
    "week",
    "weekend",
    "half",
    "halves",
    "month",
    "months",
    "day",
    "days",
    "ytd",
    "end",
    "beginning",
    "middle",
    "mid",
    "early",
    "late",
    "today",
    "yesterday",
];

/// What a text literal pgask writes into a strict query may hold: what the strict profile's
/// own text literals may (`textlit`).
fn strict_text(v: &str) -> bool {
    (1..=20).contains(&v.len())
        && v.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b' ' | b'/' | b'&' | b'.' | b',' | b'-')
        })
}

impl Scope {
    /// Whether the strict fallback may be written for the question: it sets no condition
    /// pgask reads ([`Self::sets_conditions`]), or only those pgask writes itself, at most one
    /// of each kind: a value it names, held by one column pgask knows
    /// ([`Self::value_holder`]) and written as strict's text literals are ([`strict_text`]),
    /// or a choice between values ([`Self::value_choice`]); a flag; a year with no range's
    /// word ([`Self::strict_year`]) or years compared with a column of years; a comparison with
    /// an average, a minimum or a maximum. The question must have no word of negation,
    /// alternative or comparison (`not`, `n't`, `except`, `other`, `or`, `than`, …: pgask's
    /// condition could turn it round; the words of those conditions are theirs). The
    /// steered pass writes the conditions
    /// ([`Self::strict_condition_for`]), and the query is judged by them
    /// ([`Self::leaves_out`]).
    pub fn strict_may_answer(&self) -> bool {
        if !self.sets_conditions() {
            // (A flag the question negates sets no condition pgask reads, and the model's
            // own `NOT discontinued` is more than a whole-query check can tell.)
            return !self.flag_negated();
        }
        // Years compared with a column of years: the phrase naming them is the condition's
        // ("after 1950", "either 1948 or 1949"), not a negation or an alternative.
        let compared = self
            .strict_year()
            .is_none()
            .then(|| self.year_compared())
            .flatten();
        let mut q = compared
            .as_ref()
            .map_or_else(|| self.question.to_lowercase(), |c| c.rest.clone());
        // A choice between values one column holds: its "or" is the IN list's
        // ("directed by "Ben Jones" or "Brandon Vietti"").
        let choice = self.value_choice();
        if let Some(c) = &choice {
            let lower: Vec<String> = c.values.iter().map(|v| v.to_lowercase()).collect();
            let (Some(first), Some(last)) = (lower.first(), lower.last()) else {
                return false;
            };
            if let (Some(a), Some(b)) = (q.find(first.as_str()), q.find(last.as_str())) {
                if a <= b {
                    q = format!("{} {}", &q[..a], &q[b + last.len()..]);
                }
            }
        }
        // ("more than the average price": the comparison's `than` is pgask's condition.)
        // (Only where the question has one average, minimum or maximum: pgask writes one
        // comparison.)
        let compared_with = self.average_compared();
        let averages: Vec<&str> = q
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| {
                let func = averages::aggregate_of(w);
                func.is_some() && func == compared_with.as_ref().map(|a| a.func)
            })
            .collect();
        if let (Some(_), [word]) = (&compared_with, averages.as_slice()) {
            let word = word.to_string();
            for phrase in [format!("than the {word}"), format!("than {word}")] {
                q = q.replacen(&phrase, &word, 1);
            }
        }
        // (Also a question that places the value in a comparison: "more than Brazil", "the
        // same city as Nancy", "after Nancy".)
        let negation = q
            .split(|c: char| !c.is_alphanumeric() && !matches!(c, '\'' | '’' | '‘' | 'ʼ' | '`'))
            .any(|w| {
                ["n't", "n’t", "n‘t", "nʼt", "n`t"]
                    .iter()
                    .any(|e| w.ends_with(e))
                    || NEGATION_WORDS.contains(&w)
            });
        let value = match (&choice, self.values.as_slice()) {
            (Some(c), _) => c.values.iter().all(|v| strict_text(v)),
            (None, []) => true,
            (None, [v]) => strict_text(v) && self.value_holder(v).is_some(),
            _ => false,
        };
        // (A year needs a date column to be written on, and takes two of strict's three
        // conditions.)
        let no_year = self.years_named().0.is_empty();
        let year = no_year
            || (self.strict_year().is_some() && self.year_column().is_some())
            || compared.is_some();
        let values = if choice.is_some() {
            1
        } else {
            self.values.len()
        };
        // (Years the comparison's subquery reads are part of its condition.)
        let conditions = values
            + self.flags_named().len()
            + if no_year || self.years_within_average() {
                0
            } else {
                2
            }
            + usize::from(self.average_compared().is_some());
        !negation
            && !q.contains("w/o")
            && value
            && self.flags_named().len() <= 1
            && year
            && conditions <= 3
    }

    /// Whether the question names a boolean column of the chosen tables after a negation
    /// ("products not discontinued", which [`Self::flags_named`] leaves out).
    fn flag_negated(&self) -> bool {
        !self.flags_written(true).is_empty()
    }

    /// The strict fallback's spec: `spec` whose every query reads the tables of the
    /// conditions pgask writes ([`Spec::reads`]: the value's holder, the flag's table, the
    /// year column's), where the question may have a fallback ([`Self::strict_may_answer`]).
    pub fn strict_spec(&self, spec: &Spec) -> Spec {
        let mut out = spec.clone();
        // No query starts from a table extending the named one's name (the full pass refuses
        // it too: [`Self::first_table_extends_named`]).
        out.not_first = self
            .catalog
            .tables
            .iter()
            .filter(|t| self.first_table_extends_named(&t.name, true) > 0)
            .map(|t| t.written())
            .collect();
        if !self.strict_may_answer() {
            return out;
        }
        // A choice between values, which strict's own rules cannot write: its table's queries
        // take its IN list whole (`tvshow."Cartoon"."Directed_by" IN ('Ben Jones', 'Brandon
        // Vietti')`).
        let value = match (self.value_choice(), self.values.as_slice()) {
            (Some(c), _) => {
                for t in self.catalog.tables.iter().filter(|t| t.name == c.table) {
                    let cond = c.condition(&format!("{}.", t.written()));
                    out.written.push((t.written(), cond));
                }
                Some(c.table)
            }
            (None, [v]) => self.value_holder(v).map(|(_, t, _)| t.clone()),
            _ => None,
        };
        let flag = self.flags_named().into_iter().next().map(|(t, _)| t);
        let year = match self.strict_year() {
            Some(_) => self.year_column().map(|(t, _)| t),
            None if self.years_within_average() => None,
            None => self.year_compared().map(|c| c.table),
        };
        // A comparison with an average, which strict's own rules cannot write: its table's
        // queries take it whole, as pgask writes it (`car_1.cars_data."Weight" < (SELECT
        // avg("Weight") FROM car_1.cars_data)`).
        let average = self.average_compared().map(|a| {
            let cond = a.condition(&format!("{}.", a.written));
            out.written.push((a.written.clone(), cond));
            a.table
        });
        for name in [value, flag, year, average].into_iter().flatten() {
            let written: Vec<String> = self
                .catalog
                .tables
                .iter()
                .filter(|t| t.name == name)
                .map(|t| t.written())
                .collect();
            // (Two chosen tables of that name in two schemas: either may be meant.)
            if let [one] = written.as_slice() {
                if !out.reads.contains(one) {
                    out.reads.push(one.clone());
                }
            }
        }
        out
    }

    /// Whether `text` writes every number the question names, as a number of its own
    /// (`2023` in `'2023-01-01'`, not `10` in `2010`): only then is one more condition of the
    /// model's after pgask's none the question sets.
    pub fn writes_every_number(&self, text: &str) -> bool {
        let written: Vec<&str> = text
            .split(|c: char| !c.is_ascii_digit())
            .filter(|n| !n.is_empty())
            .collect();
        question_numbers(&self.question)
            .iter()
            .all(|n| written.contains(&n.as_str()))
    }

    /// The one column that holds the value `v` (as stored) for the strict fallback:
    /// - its only holder;
    /// - of several, the only one whose table the question names ("customers in Brazil":
    ///   `customer.country`, not `invoice.billing_country`), unless another table it names
    ///   refers to another holder's by a foreign key ("tracks on albums by AC/DC");
    /// - where it names none of theirs, the only one whose table a table it names refers to,
    ///   by one foreign key ("albums by AC/DC": `artist.name`, the album's artist, not
    ///   `track.composer`), when no table it names has a column of a holder's column name
    ///   (the value lookup may have missed it there: "customers in Calgary" is no
    ///   `employee.city` of their support rep).
    pub(super) fn value_holder(&self, v: &str) -> Option<&(String, String, String)> {
        let held: Vec<&(String, String, String)> =
            self.holders.iter().filter(|(h, _, _)| h == v).collect();
        if let [one] = held.as_slice() {
            return Some(one);
        }
        let named: Vec<&Table> = self
            .catalog
            .tables
            .iter()
            .filter(|t| self.question_names(&t.name.to_lowercase()))
            .collect();
        // The foreign keys from the named tables (but `but`) to the table `to`.
        let keys = |to: &str, but: Option<&str>| -> usize {
            named
                .iter()
                .filter(|from| Some(from.name.as_str()) != but)
                .flat_map(|from| &from.foreign_keys)
                .filter(|fk| {
                    self.catalog
                        .tables
                        .get(fk.target)
                        .is_some_and(|t| t.name == to)
                })
                .count()
        };
        let own: Vec<&(String, String, String)> = held
            .iter()
            .copied()
            .filter(|(_, t, _)| named.iter().any(|n| n.name == *t))
            .collect();
        match own.as_slice() {
            [one] => {
                let other = held
                    .iter()
                    .any(|(_, t, _)| *t != one.1 && keys(t, Some(&one.1)) > 0);
                return (!other).then_some(*one);
            }
            [] => {}
            _ => return None,
        }
        let referred: Vec<&(String, String, String)> = held
            .iter()
            .copied()
            .filter(|(_, t, _)| keys(t, None) > 0)
            .collect();
        let [one] = referred.as_slice() else {
            return None;
        };
        let column_named = named.iter().any(|n| {
            n.columns
                .iter()
                .any(|c| held.iter().any(|(_, _, h)| c.name == *h))
        });
        (keys(&one.1, None) == 1 && !column_named).then_some(*one)
    }

    /// The one year the question names, as a whole calendar year the strict fallback writes
    /// the range of: right after "in" or "during" ("invoices issued in 2023", not "the first
    /// half of 2023", "a salary of 2000"), with no
    /// range's word ("after 2023", "from 2021 to 2023"), no part of a year named (a month, a
    /// quarter, a fiscal year, a season), not glued to more (`2023-03-15`, `1990s`, `$2023`),
    /// from 1950 to 2028 (strict's dates), and no column of the chosen tables that holds years
    /// as numbers or text (`release_year`, `Year`: "in 2023" may mean it).
    pub(super) fn strict_year(&self) -> Option<u32> {
        let (mut years, ranged) = self.years_named();
        years.sort_unstable();
        years.dedup();
        let [y] = years.as_slice() else {
            return None;
        };
        let q = self.question.to_lowercase();
        let part = q.split(|c: char| !c.is_alphanumeric()).any(|w| {
            PARTS_OF_A_YEAR.contains(&w)
                || MONTHS.contains(&w)
                || (w.len() == 2
                    && (w.starts_with('q') || w.starts_with('h'))
                    && w.ends_with(|c: char| ('1'..='4').contains(&c)))
                || w.starts_with("fy")
        });
        let year = y.to_string();
        let alone = q.match_indices(&year).all(|(at, _)| {
            let before = &q[..at];
            let after = &q[at + year.len()..];
            let glued_before = before
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || matches!(c, '-' | '/' | '$' | '.' | '\''));
            let mut rest = after.chars();
            let glued_after = match rest.next() {
                Some(c) if c.is_alphanumeric() || matches!(c, '-' | '/' | '\'' | '’' | '%') => {
                    true
                }
                Some('.' | ',') => rest.next().is_some_and(|c| c.is_ascii_digit()),
                _ => false,
            };
            let word = before
                .trim_end()
                .rsplit(|c: char| !c.is_alphanumeric())
                .next()
                .unwrap_or("");
            !glued_before && !glued_after && matches!(word, "in" | "during")
        });
        let numeric_year = self.catalog.tables.iter().any(|t| {
            t.columns.iter().any(|c| {
                (holds_years(&c.name)
                    || c.name
                        .to_lowercase()
                        .split('_')
                        .any(|p| matches!(p, "years")))
                    && ValueKind::of(&c.data_type, false) != ValueKind::Time
            })
        });
        (!ranged && !part && alone && !numeric_year && (1950..=2028).contains(y)).then_some(*y)
    }

    /// The year's condition for the strict fallback: ` WHERE invoice.invoice_date >=
    /// '2023-01-01' AND invoice.invoice_date < '2024-01-01'`, on the question's date column
    /// ([`Self::year_column`]), the column qualified by `qualifier`; only where the tables
    /// `read` (by name) hold it.
    pub(super) fn year_condition(
        &self,
        text: &str,
        read: &[String],
        qualifier: impl Fn(&str) -> Option<String>,
        lead: &str,
    ) -> Option<String> {
        // (Years a comparison's subquery reads are written with it.)
        if self.years_unmet(text) == 0 || self.years_within_average() {
            return None;
        }
        let Some(y) = self.strict_year() else {
            // Years compared with a column of years: ` WHERE country."IndepYear" > 1950`.
            let c = self.year_compared()?;
            if !read.contains(&c.table) {
                return None;
            }
            let q = qualifier(&c.table)?;
            return Some(format!("{lead}{q}{}{}", quote_ident(&c.column), c.tail()));
        };
        let (table, column) = self.year_column()?;
        if !read.contains(&table) {
            return None;
        }
        let c = format!("{}{}", qualifier(&table)?, quote_ident(&column));
        Some(format!(
            "{lead}{c} >= '{y}-01-01' AND {c} < '{}-01-01'",
            y + 1
        ))
    }

    /// The date or timestamp column a year condition is written on, as `(table, column)`: the
    /// only one of the chosen tables, or of several, the only one a word of the question
    /// starts with a word of its name (`hire_date` for "hired in 2003"; of the words of its
    /// table's name only when no other word tells them apart).
    fn year_column(&self) -> Option<(String, String)> {
        let times: Vec<(String, String)> = self
            .catalog
            .tables
            .iter()
            .flat_map(|t| {
                t.columns
                    .iter()
                    .filter(|c| ValueKind::of(&c.data_type, false) == ValueKind::Time)
                    .map(move |c| (t.name.clone(), c.name.clone()))
            })
            .collect();
        if let [one] = times.as_slice() {
            return Some(one.clone());
        }
        let q = self.question.to_lowercase();
        let words: Vec<&str> = q
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() >= 3)
            .collect();
        // The columns a word of the question starts with a word of the name of (`date`, `time`
        // and the like aside; with `own`, also the words of the table's name: `order_date` of
        // `orders` for "orders placed in 2023", once no other word tells the columns apart).
        let named = |own: bool| -> Vec<&(String, String)> {
            times
                .iter()
                .filter(|(t, c)| {
                    let table = t.to_lowercase();
                    c.to_lowercase()
                        .split('_')
                        .filter(|p| p.len() >= 3 && !matches!(*p, "date" | "time" | "day"))
                        .filter(|p| own || !table.split('_').any(|w| same_word(w, p)))
                        .any(|p| words.iter().any(|w| w.starts_with(p)))
                })
                .collect()
        };
        [false, true]
            .into_iter()
            .find_map(|own| match named(own).as_slice() {
                [one] => Some((*one).clone()),
                _ => None,
            })
    }

    /// Whether a condition the question sets is written in the strict fallback's query `toks`
    /// other than as pgask writes it ([`Self::strict_condition_for`]): a value
    /// ([`Self::values_turned`]), a flag ([`Self::flag_turned`]) or a year
    /// ([`Self::year_turned`]).
    pub(super) fn fallback_turned(&self, toks: &[Tok<'_>], text: &str) -> bool {
        self.values_turned(toks, text)
            || self.flag_turned(toks)
            || self.year_turned(toks, text)
            || self.average_turned(toks, text)
    }

    /// Whether the comparison with an average the question sets ([`Self::average_compared`])
    /// is written other than once as pgask writes it, or its column compared again, or beside
    /// an OR.
    fn average_turned(&self, toks: &[Tok<'_>], text: &str) -> bool {
        let Some(a) = self.average_compared() else {
            return false;
        };
        let cond = a.condition(&format!("{}.", a.written));
        // (Years its subquery reads, nowhere else: `AND museum."Open_Year" > '2010'` outside
        // restricts the rows compared too.)
        let outside = text.replacen(&cond, " ", 1);
        let years_outside = !a.within.is_empty()
            && self
                .year_compared()
                .is_some_and(|y| y.years().iter().any(|n| outside.contains(&n.to_string())));
        // (The condition names the column twice: qualified, and in `avg(…)`.)
        years_outside
            || text.matches(&cond).count() != 1
            || where_uses(toks, &a.table, &a.column) != 2
            || or_anywhere(toks)
    }

    /// Whether a value the question names is written other than as `column = 'value'`
    /// (`lower(c) = 'Brazil'` finds nothing, `<> 'Brazil'` the opposite, `LIKE` and `<=`
    /// another set), on another column than its holder's ([`Self::value_holder`]), or beside
    /// an OR (which widens what the value narrows): whether another form keeps the condition
    /// is more than a whole-query check can tell.
    fn values_turned(&self, toks: &[Tok<'_>], text: &str) -> bool {
        if let Some(c) = self.value_choice() {
            return self.choice_turned(&c, toks, text);
        }
        // (The query is whole: a literal that ends it with its quote is closed, though the
        // lexer leaves it open, as a `''` could follow.)
        let unquoted = |t: &Tok<'_>| {
            let inner = t.text.strip_prefix('\'').unwrap_or(t.text);
            inner.strip_suffix('\'').unwrap_or(inner).replace("''", "'")
        };
        let named = |t: &Tok<'_>| {
            let text = unquoted(t).to_lowercase();
            t.kind == Kind::Literal
                && t.text.starts_with('\'')
                && self.values.iter().any(|v| text.contains(&v.to_lowercase()))
        };
        let mut any = false;
        for (i, t) in toks.iter().enumerate() {
            if !named(t) {
                continue;
            }
            any = true;
            // The value as stored (`'brazil'` finds nothing, `'Rock And Roll'` is another),
            // compared with the column that holds it (of the table that holds it, where the
            // column is qualified: `employee.country` is not `customer.country`).
            let text = unquoted(t);
            let table = (i >= 4 && toks[i - 3].is(Kind::Punct, ".")).then(|| toks[i - 4].name());
            let plain = i >= 2
                && toks[i - 1].is(Kind::Punct, "=")
                && toks[i - 2].kind == Kind::Ident
                && self.value_holder(&text).is_some_and(|(_, ht, c)| {
                    *c == toks[i - 2].name() && table.as_ref().is_none_or(|q| q == ht)
                })
                && !toks
                    .get(i + 1)
                    .is_some_and(|n| n.kind == Kind::Punct && n.text != ")");
            if !plain {
                return true;
            }
        }
        // (No second condition on the holder: `AND country IS NULL` leaves no row.)
        let again = self.values.iter().any(|v| {
            self.value_holder(v)
                .is_some_and(|(_, t, c)| where_uses(toks, t, c) > 1)
        });
        any && (again || or_anywhere(toks))
    }

    /// Whether a flag the question names is written other than as a condition of its own
    /// (`WHERE products.discontinued`, `AND discontinued`): after NOT, before IS or `=`, only in
    /// the SELECT list, twice in the WHERE clause, or beside an OR.
    fn flag_turned(&self, toks: &[Tok<'_>]) -> bool {
        let flags = self.flags_named();
        if flags.is_empty() {
            return false;
        }
        for (table, column) in &flags {
            let mut written = false;
            for (i, t) in toks.iter().enumerate() {
                if t.kind != Kind::Ident || !t.name().eq_ignore_ascii_case(column) {
                    continue;
                }
                let start = name_start(toks, i);
                let before = start.checked_sub(1).map(|k| &toks[k]);
                if before.is_some_and(|b| b.is(Kind::Keyword, "NOT")) {
                    return true;
                }
                let after = toks.get(i + 1);
                let ends = after.is_none_or(|a| {
                    ["AND", "ORDER", "LIMIT", "GROUP"]
                        .iter()
                        .any(|k| a.is(Kind::Keyword, k))
                });
                let opens = before
                    .is_some_and(|b| b.is(Kind::Keyword, "WHERE") || b.is(Kind::Keyword, "AND"));
                if opens && ends {
                    written = true;
                } else if opens {
                    // `WHERE discontinued IS NULL`, `= FALSE`.
                    return true;
                }
            }
            if !written || where_uses(toks, table, column) > 1 {
                return true;
            }
        }
        or_anywhere(toks)
    }

    /// Whether the year the question names ([`Self::strict_year`]) is written other than as
    /// the range on its date column that pgask writes ([`Self::year_condition`]), or anywhere
    /// outside it (`total = 2023`), or the column is compared again (`AND d > '2023-05-01'`),
    /// or beside an OR.
    fn year_turned(&self, toks: &[Tok<'_>], text: &str) -> bool {
        if self.years_named().0.is_empty() {
            return false;
        }
        let Some(y) = self.strict_year() else {
            // (Years a comparison's subquery reads are judged with it: `average_turned`.)
            return !self.years_within_average()
                && self
                    .year_compared()
                    .is_none_or(|c| self.year_compared_turned(&c, toks, text));
        };
        let Some((table, column)) = self.year_column() else {
            return true;
        };
        let opening = format!(" >= '{y}-01-01' AND ");
        let Some(at) = text.find(&opening) else {
            return true;
        };
        // The column: what pgask wrote after ` WHERE ` or ` AND `.
        let head = &text[..at];
        let Some(c) = [" WHERE ", " AND "]
            .iter()
            .filter_map(|lead| head.rfind(lead).map(|k| &head[k + lead.len()..]))
            .min_by_key(|c| c.len())
        else {
            return true;
        };
        let closing = format!("{c} < '{}-01-01'", y + 1);
        let tail = &text[at + opening.len()..];
        // The question's column, of its table where qualified (`course_teach.course."Date"`).
        let written = lex(c);
        let n = written.len();
        let same = n >= 1
            && written[n - 1].kind == Kind::Ident
            && written[n - 1].name() == column
            && (n == 1
                || (n >= 3
                    && written[n - 2].is(Kind::Punct, ".")
                    && written[n - 3].name() == table));
        if !same || !tail.starts_with(&closing) || where_uses(toks, &table, &column) != 2 {
            return true;
        }
        let rest = format!(
            "{}{}",
            &head[..head.len() - c.len()],
            &tail[closing.len()..]
        );
        rest.contains(&y.to_string()) || or_anywhere(toks)
    }
}

/// Where the name that ends at token `i` starts: before its qualifiers (`schema.table.col`).
fn name_start(toks: &[Tok<'_>], i: usize) -> usize {
    let mut start = i;
    while start >= 2 && toks[start - 1].is(Kind::Punct, ".") && toks[start - 2].kind == Kind::Ident
    {
        start -= 2;
    }
    start
}

/// How many times the WHERE clause (to its ORDER BY, GROUP BY or LIMIT) names `column`, bare
/// or qualified by `table`.
pub(super) fn where_uses(toks: &[Tok<'_>], table: &str, column: &str) -> usize {
    let Some(w) = toks.iter().position(|t| t.is(Kind::Keyword, "WHERE")) else {
        return 0;
    };
    toks.iter()
        .enumerate()
        .skip(w + 1)
        .take_while(|(_, t)| {
            !["ORDER", "GROUP", "LIMIT", "HAVING"]
                .iter()
                .any(|k| t.is(Kind::Keyword, k))
        })
        .filter(|&(i, t)| {
            t.kind == Kind::Ident
                && t.name() == column
                && !(i >= 2 && toks[i - 1].is(Kind::Punct, ".") && toks[i - 2].name() != table)
        })
        .count()
}

/// Whether the query has an OR anywhere.
pub(super) fn or_anywhere(toks: &[Tok<'_>]) -> bool {
    toks.iter().any(|t| t.is(Kind::Keyword, "OR"))
}
