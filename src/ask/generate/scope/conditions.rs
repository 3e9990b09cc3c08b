//! What a WHERE condition starts with, judged at its first column:
//!
//! - a text column the answer shows that holds no value the question names while one is
//!   still unused and the query reads its table (`SELECT company_name … WHERE company_name` is
//!   refused while 'Germany', held by `country`, waits). Refusing the value later is too late:
//!   the model does not go back to the column;
//! - a number column the question names by its words next to a number the query has not
//!   written yet (`WHERE unit_price < 10` is refused for "fewer than 10 units in stock" while
//!   `units_in_stock` is unused).

use super::aliases::Binding;
use super::columns::{has_all_words, is_number, is_text, same_word};
use super::lexer::{lex, string_literals, Kind, Tok};
use super::question::question_numbers;
use super::{key_name, Level, Scope};
use crate::ask::catalog::quote_ident;
use crate::ask::generate::shape::NUMBER_WORDS;

impl Scope {
    /// The same scope, where `holders` (`(value as stored, table, column)`) says which columns
    /// hold the values the question names.
    pub fn with_holders(mut self, holders: &[(String, String, String)]) -> Scope {
        for h in holders {
            if !self.holders.contains(h) {
                self.holders.push(h.clone());
            }
        }
        self
    }

    /// 1 when token `i` writes a text column that starts a WHERE condition of level `l`
    /// (after WHERE, AND, OR or NOT) while a value the question names is not used yet and a
    /// column holding it belongs to a table the level reads, and the column is none of those
    /// but one the level's SELECT list shows.
    /// A bare name is judged once written whole; a qualified one as soon as no holding column
    /// starts with it.
    pub(super) fn off_value_column(
        &self,
        toks: &[Tok<'_>],
        i: usize,
        l: &Level,
        bindings: &[Binding],
        visible: &[usize],
    ) -> usize {
        let Some(t) = toks.get(i) else {
            return 0;
        };
        if self.holders.is_empty() || t.kind != Kind::Ident {
            return 0;
        }
        let Some(qualified) = condition_start(toks, i) else {
            return 0;
        };
        // Values not in any string literal yet.
        let used = string_literals(&toks[..i]);
        let waiting: Vec<&(String, String, String)> = self
            .holders
            .iter()
            .filter(|(v, _, _)| {
                let v = v.to_lowercase();
                !used.iter().any(|u| u.contains(&v))
            })
            .collect();
        let read = |table: &str| {
            l.tables
                .iter()
                .flatten()
                .filter_map(|&id| self.catalog.tables.get(id))
                .any(|t| t.name == table)
        };
        if !waiting.iter().any(|(_, table, _)| read(table)) {
            return 0;
        }
        let next = toks.get(i + 1);
        let name = t.name();
        let tables = self.tables_of(&toks[..=i], bindings, visible);
        // A column the answer shows (`SELECT company_name … WHERE company_name = 'Germany'`:
        // the model repeats its answer column); another (`status = 'pending'` before
        // `country = 'Spain'`) may filter on a value the question does not spell out.
        let shown = |column: &str| {
            l.selected.iter().any(|item| {
                let item = item.trim().to_lowercase();
                item == column || item.ends_with(&format!(".{column}"))
            })
        };
        let holds = |table: &str, column: &str| {
            waiting
                .iter()
                .any(|(_, ht, hc)| ht == table && hc == column)
        };
        if !t.complete {
            // A qualified column being written: refused once every column of its table it
            // may still become is a text column that holds no waiting value.
            let [table] = tables.as_slice() else {
                return 0;
            };
            if !qualified || !waiting.iter().any(|(_, ht, _)| *ht == table.name) {
                return 0;
            }
            let mut may = table.columns.iter().filter(|c| c.name.starts_with(&name));
            let mut any = false;
            let off = may.all(|c| {
                any = true;
                is_text(&c.data_type) && !holds(&table.name, &c.name) && shown(&c.name)
            });
            return usize::from(any && off);
        }
        if next.is_some_and(|n| n.is(Kind::Punct, ".") || n.is(Kind::Punct, "(")) {
            return 0;
        }
        let columns: Vec<(&str, &crate::ask::catalog::Column)> = tables
            .iter()
            .filter_map(|t| t.column(&name).map(|c| (t.name.as_str(), c)))
            .collect();
        let off = !columns.is_empty()
            && columns.iter().all(|(_, c)| is_text(&c.data_type))
            && !columns.iter().any(|(t, c)| holds(t, &c.name))
            && shown(&name);
        usize::from(off)
    }
}

impl Scope {
    /// The condition pgask writes for a model that wanted to end `text` while a condition the
    /// question sets is all it lacks ([`Scope::only_wants_condition`]) and did not go on with
    /// one itself: ` WHERE o.status = 'cancelled'` (or ` AND …` after a WHERE) for the first
    /// waiting value held by a table the query's FROM list reads, ` WHERE discontinued` for
    /// a flag the question names. Only for one plain SELECT whose FROM list ends the text
    /// (no GROUP BY, ORDER BY, LIMIT, set operation or CTE, nothing open); `None` otherwise.
    ///
    /// Last, the comparison with an average the question sets ([`super::averages`]):
    /// ` WHERE total > (SELECT avg(total) FROM invoice)`.
    pub fn condition_for(&self, text: &str) -> Option<String> {
        self.condition_in(text, false)
    }

    /// The condition the strict fallback's steered pass writes where it would end, sort,
    /// limit or group without it (or starts its own WHERE or AND), always qualified by the
    /// table as the FROM list writes it (the strict profile writes no bare column): ` WHERE
    /// customer.country = 'Brazil'` (or ` AND …`) for the first waiting value whose holder
    /// ([`Self::value_holder`]) a table of its FROM list is, then ` WHERE
    /// products.discontinued` for a flag the question names, then a year's range
    /// ([`Self::year_condition`]), then the comparison with an average (which the strict
    /// grammar takes whole: [`crate::ask::generate::grammar::Spec::written`]); `None` as for
    /// [`Self::condition_for`].
    pub fn strict_condition_for(&self, text: &str) -> Option<String> {
        self.condition_in(text, true)
    }

    /// [`Self::condition_for`], or with `strict`, [`Self::strict_condition_for`].
    fn condition_in(&self, text: &str, strict: bool) -> Option<String> {
        let toks = lex(text);
        if !toks.first()?.is(Kind::Keyword, "SELECT") {
            return None;
        }
        // The FROM list's tables (with their aliases, and as written: `course_teach.course`)
        // at depth 0, and whether a WHERE is there.
        let mut depth = 0usize;
        let mut in_from = false;
        let mut where_at = None;
        let mut items: Vec<(String, Option<String>, String)> = Vec::new();
        for (i, t) in toks.iter().enumerate() {
            match (t.kind, t.text) {
                (Kind::Punct, "(") => depth += 1,
                (Kind::Punct, ")") => depth = depth.checked_sub(1)?,
                _ if depth > 0 => {}
                (Kind::Keyword, "FROM") => in_from = true,
                (Kind::Keyword, "WHERE") => {
                    in_from = false;
                    where_at = Some(i);
                }
                // An AND after a top-level OR would bind to its last branch only.
                (Kind::Keyword, "OR") if where_at.is_some() => return None,
                (
                    Kind::Keyword,
                    "GROUP" | "HAVING" | "ORDER" | "LIMIT" | "OFFSET" | "FETCH" | "UNION"
                    | "INTERSECT" | "EXCEPT" | "WINDOW" | "WITH",
                ) => return None,
                (Kind::Ident, _) if in_from => {
                    let prev = i.checked_sub(1).and_then(|p| toks.get(p));
                    let starts = prev.is_some_and(|p| {
                        p.is(Kind::Keyword, "FROM")
                            || p.is(Kind::Keyword, "JOIN")
                            || p.is(Kind::Punct, ",")
                    });
                    // The table after its schema (`FROM course_teach.course`).
                    let schema = i >= 3
                        && prev.is_some_and(|p| p.is(Kind::Punct, "."))
                        && toks[i - 2].kind == Kind::Ident
                        && (toks[i - 3].is(Kind::Keyword, "FROM")
                            || toks[i - 3].is(Kind::Keyword, "JOIN")
                            || toks[i - 3].is(Kind::Punct, ","));
                    if starts {
                        items.push((t.name(), None, t.text.to_string()));
                    } else if schema {
                        if let Some(last) = items.last_mut() {
                            last.0 = t.name();
                            last.2 = text[toks[i - 2].start..t.end].to_string();
                        }
                    } else if prev
                        .is_some_and(|p| p.kind == Kind::Ident || p.is(Kind::Keyword, "AS"))
                    {
                        if let Some(last) = items.last_mut().filter(|l| l.1.is_none()) {
                            last.1 = Some(t.name());
                        }
                    }
                }
                _ => {}
            }
        }
        // (Called where the grammar lets the text end: what it ends with is whole; a text
        // that ends with a word or a mark waiting for more is refused all the same.)
        let last = toks.last()?;
        let waits = (last.kind == Kind::Punct && last.text != ")")
            || [
                "WHERE", "AND", "OR", "NOT", "FROM", "JOIN", "ON", "SELECT", "AS",
            ]
            .iter()
            .any(|k| last.is(Kind::Keyword, k));
        if depth != 0 || items.is_empty() || waits {
            return None;
        }
        // The table read once (a self-join leaves it to the model), by its alias, its name
        // when other tables are read too, or bare.
        let qualifier = |table: &str| -> Option<String> {
            let mut reads = items.iter().filter(|(n, _, _)| n == table);
            let (name, alias, written) = reads.next()?;
            if reads.next().is_some() {
                return None;
            }
            Some(match alias {
                Some(a) => format!("{}.", quote_ident(a)),
                // (Strict qualifies a column by the table as its FROM list writes it.)
                None if strict => format!("{written}."),
                None if items.len() > 1 => format!("{}.", quote_ident(name)),
                None => String::new(),
            })
        };
        // A column a condition already names gets no second one (`status = 'pending' AND
        // status = 'processing'` is no row at all).
        let conditioned = |column: &str| {
            where_at.is_some_and(|w| {
                toks[w..]
                    .iter()
                    .any(|t| t.kind == Kind::Ident && t.name() == column)
            })
        };
        let lead = if where_at.is_some() {
            " AND "
        } else {
            " WHERE "
        };
        let used = string_literals(&toks);
        // A choice between values one column holds: one IN list
        // (`q."Directed_by" IN ('Ben Jones', 'Brandon Vietti')`), never one of its values
        // alone.
        let choice = self.value_choice();
        if let Some(c) = &choice {
            let unused = c.values.iter().all(|v| {
                let v = v.to_lowercase();
                !used.iter().any(|u| u.contains(&v))
            });
            if unused && !conditioned(&c.column) {
                if let Some(q) = qualifier(&c.table) {
                    return Some(format!("{lead}{}", c.condition(&q)));
                }
            }
        }
        for (value, table, column) in &self.holders {
            let v = value.to_lowercase();
            // A value the question negates ("not in Germany") is the model's to write; one
            // with a backslash could read otherwise under `standard_conforming_strings = off`.
            if used.iter().any(|u| u.contains(&v))
                || choice.as_ref().is_some_and(|c| c.values.contains(value))
                || self.negates(value)
                || value.contains('\\')
                || conditioned(column)
                || (strict
                    && self
                        .value_holder(value)
                        .is_none_or(|h| (&h.1, &h.2) != (table, column)))
            {
                continue;
            }
            if let Some(q) = qualifier(table) {
                let literal = value.replace('\'', "''");
                return Some(format!("{lead}{q}{} = '{literal}'", quote_ident(column)));
            }
        }
        let named: Vec<String> = self
            .flags_named()
            .into_iter()
            .filter(|(_, c)| !toks.iter().any(|t| t.kind == Kind::Ident && t.name() == *c))
            .filter_map(|(t, c)| Some(format!("{}{}", qualifier(&t)?, quote_ident(&c))))
            .collect();
        if let Some(c) = named.first() {
            return Some(format!("{lead}{c}"));
        }
        if strict {
            let read: Vec<String> = items.iter().map(|(n, _, _)| n.clone()).collect();
            if let Some(y) = self.year_condition(text, &read, qualifier, lead) {
                return Some(y);
            }
        }
        // A comparison with an average, on the table read once (not a second time on a
        // column a condition already names).
        let a = self.average_compared()?;
        if conditioned(&a.column) || toks.iter().any(|t| t.text.eq_ignore_ascii_case(a.func)) {
            return None;
        }
        Some(format!("{lead}{}", a.condition(&qualifier(&a.table)?)))
    }
}

/// Whether token `i` is the column a condition starts with (after WHERE, AND, OR or NOT,
/// qualified or not): `Some(qualified)`.
fn condition_start(toks: &[Tok<'_>], i: usize) -> Option<bool> {
    let qualified = i >= 2 && toks[i - 1].is(Kind::Punct, ".");
    let before = if qualified {
        i.checked_sub(3)
    } else {
        i.checked_sub(1)
    };
    let starts = before.and_then(|b| toks.get(b)).is_some_and(|p| {
        ["WHERE", "AND", "OR", "NOT"]
            .iter()
            .any(|k| p.is(Kind::Keyword, k))
    });
    starts.then_some(qualified)
}

/// Whether the question's `words` name the column `name` next to one of the `numbers` (its
/// words as a phrase starting within two words after the number, or ending within two words
/// before it: "fewer than 10 units in stock", "a credit limit above 50000"; not "orders above
/// 500 were charged a shipping fee").
fn named_near(name: &str, words: &[&str], numbers: &[&String]) -> bool {
    let parts: Vec<&str> = name.split('_').filter(|p| !p.is_empty()).collect();
    let number_at = |k: usize| {
        words.get(k).is_some_and(|w| {
            numbers.iter().any(|n| {
                *w == n.as_str()
                    || NUMBER_WORDS
                        .iter()
                        .any(|(word, digits)| w == word && *digits == n.as_str())
            })
        })
    };
    if parts.is_empty() || words.len() < parts.len() {
        return false;
    }
    (0..=words.len() - parts.len()).any(|a| {
        let b = a + parts.len() - 1;
        parts
            .iter()
            .enumerate()
            .all(|(j, p)| same_word(words[a + j], p))
            && ((1..=2).any(|d| a.checked_sub(d).is_some_and(number_at))
                || (1..=2).any(|d| number_at(b + d)))
    })
}

impl Scope {
    /// 1 when token `i` writes a number column that starts a WHERE condition of level `l`
    /// while the question names a number the query has not written and names next to it, by
    /// all its words, another number column of the same table (one the level reads) that the
    /// query has not used (keys aside), and the question does not name this one.
    pub(super) fn unnamed_number_column(
        &self,
        toks: &[Tok<'_>],
        i: usize,
        l: &Level,
        bindings: &[Binding],
        visible: &[usize],
    ) -> usize {
        let Some(t) = toks.get(i).filter(|t| t.kind == Kind::Ident) else {
            return 0;
        };
        let Some(qualified) = condition_start(toks, i) else {
            return 0;
        };
        let written: Vec<&str> = toks[..i]
            .iter()
            .filter(|t| t.kind == Kind::Literal)
            .map(|t| t.text.trim_matches('\''))
            .collect();
        let numbers = question_numbers(&self.question);
        let unwritten: Vec<&String> = numbers
            .iter()
            .filter(|n| !written.contains(&n.as_str()))
            .collect();
        if unwritten.is_empty() {
            return 0;
        }
        let words = self.question_words();
        let used = |c: &str| {
            toks[..i]
                .iter()
                .any(|t| t.kind == Kind::Ident && t.name() == c)
        };
        let name = t.name();
        let tables = self.tables_of(&toks[..=i], bindings, visible);
        // Of the table being written from, and one the level reads (`student.age` named by
        // "age" says nothing about `pets.pet_age`).
        let read = |id: usize| l.tables.contains(&Some(id));
        let named_unused = tables
            .iter()
            .filter(|t| {
                self.catalog
                    .tables
                    .iter()
                    .position(|c| c.name == t.name)
                    .is_some_and(read)
            })
            .flat_map(|t| t.columns.iter())
            .any(|c| {
                is_number(&c.data_type)
                    && !key_name(&c.name)
                    && !used(&c.name)
                    && named_near(&c.name, &words, &unwritten)
            });
        if !named_unused {
            return 0;
        }
        let off = |c: &crate::ask::catalog::Column| {
            is_number(&c.data_type) && !key_name(&c.name) && !has_all_words(&c.name, &words)
        };
        if !t.complete {
            // A qualified column being written: refused once every column of its table it
            // may still become is a number column the question does not name.
            let [table] = tables.as_slice() else {
                return 0;
            };
            let mut may = table
                .columns
                .iter()
                .filter(|c| c.name.starts_with(&name))
                .peekable();
            return usize::from(qualified && may.peek().is_some() && may.all(off));
        }
        if toks
            .get(i + 1)
            .is_some_and(|n| n.is(Kind::Punct, ".") || n.is(Kind::Punct, "("))
        {
            return 0;
        }
        let columns: Vec<&crate::ask::catalog::Column> =
            tables.iter().filter_map(|t| t.column(&name)).collect();
        usize::from(!columns.is_empty() && columns.into_iter().all(off))
    }
}
