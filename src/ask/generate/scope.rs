//! The decoder's scope check, run in pgask's own sampler on every drawn token (as PICARD does
//! with incremental parsing): a token is refused when it would make the query so far worse
//! than it was, and the model's next-best token is used instead. The grammar keeps tables and
//! columns to the chosen ones; this check adds what a context-free grammar cannot know:
//!
//! - a qualifier (`a.`) written after its query's FROM must be a table or alias defined
//!   before it; one written in the SELECT list must be defined by the time the FROM list ends,
//!   and so must one of a subquery inside that SELECT list that its own FROM does not define
//!   (a correlated scalar subquery: `SELECT (SELECT count(*) FROM album l WHERE l.artist_id =
//!   a.artist_id) FROM artist a`);
//! - the column after a qualifier must belong to the table the qualifier stands for;
//! - no item twice in a SELECT list, GROUP BY, ORDER BY or one AND/OR chain;
//! - no constant as an ORDER BY or GROUP BY item other than a position in the SELECT list
//!   (`ORDER BY 'x'`, `GROUP BY 3` after two items), and none as a WHERE, HAVING or ON
//!   condition unless cast to boolean (`ON 'x'::VARCHAR`);
//! - no literal twice unless the question has it (`= 1000 AND … = 1000`), 0 and 1 aside;
//! - no comma between FROM items (a cross join; joins are written with JOIN … ON);
//! - no text literal compared with a number column (`artist_id = 'AC/DC'`), and no column
//!   compared with one of a type PostgreSQL cannot compare it with (`a.album_id = p.name`,
//!   `= p.name::TEXT`; one name on both sides is a shared key, left to PostgreSQL), and no text
//!   cast to a number, yes/no, amount or array it cannot be read as (`'abc'::DECIMAL`,
//!   `'abc'::TEXT[]`);
//! - no bare column that is not boolean as a WHERE, HAVING or ON condition, and no aggregate or
//!   window function in WHERE, ON or GROUP BY;
//! - no column compared with itself (`t.track_id = t.track_id`, a join condition that joins
//!   nothing, `x = x::integer`);
//! - a FROM alias that extends a qualifier the SELECT list used and nothing defined yet is
//!   refused as it is written (`SELECT a.title … FROM playlist a_1`), and a FROM name that
//!   defines one must have the columns written after it; one undefined qualifier's columns
//!   must all be one table's; a subquery's aliases do not define the enclosing query's;
//! - a `USING (c)` column is in the table just joined and in one before it, and in only one
//!   unless an earlier NATURAL join or USING list merged theirs;
//! - no unqualified column that two FROM items of its level have (42702): refused as it is
//!   written after the FROM list (ORDER BY may name an output column instead), and for one the
//!   SELECT list named bare, at the ON of the join that makes it so or where the FROM list
//!   ends; the columns a NATURAL join or a USING list merged count once (off once a NATURAL
//!   join meets an item whose columns are not known here, and beside `DISTINCT ON`);
//! - no cast between a date or time column and a number (`invoice_date::INTEGER`, 42846) nor
//!   from a date or time constant to a number, yes/no or uuid (`now()::UUID`), no
//!   text cast to or written as a date, time or interval it cannot be (`'checkout'::INTERVAL`,
//!   `DATE 'x'`, 22007), no text as a number function's argument (`floor('abc')`, 22P02;
//!   `avg('1')`, 42725), no `TRUE`, `FALSE` or `NULL` as an ORDER BY or GROUP BY item, no
//!   text compared with `TRUE` or `FALSE` that is no yes/no (`'abc' = TRUE`, `'a' BETWEEN 'b'
//!   AND TRUE`, 22P02);
//! - a known call's result compared only with a column of a type it compares with
//!   (`char_length(x) <> name`, 42883) or a text it can read (`length(x) = 'abc'`, 22P02), and
//!   a yes/no column only with a yes/no text (`discontinued = 'abc'`): whole operands only,
//!   judged once the text goes on past them;
//! - the first FROM item, when it is a chosen table, holds a column the SELECT list named
//!   bare, if it named any and no qualifier (`SELECT sum(total) FROM invoice_line` is refused
//!   at `_line`);
//! - a key column (`id`, `…_id`) on either side of `||` (`artist_id || (SELECT …`), or of
//!   `+ - * / %` in a SELECT list (`track_id * 100`);
//! - a name after AS repeating two words in a row (`AS track_id_track_id`);
//! - a derived table's columns are its SELECT items' names (an alias, a column, a known
//!   function's), renamed by a column list after its alias (more names than columns: 42P10):
//!   a bare or qualified name it does not give is refused (42703), as are two FROM items of
//!   one alias at one level (42712) and a `*` item in a subquery that stands for one value
//!   (`x IN (SELECT * …)`, a scalar SELECT item; 42601);
//! - no `*`, `/` or `%` after a date, time or timestamp, nor `%` after an interval or a float,
//!   judged at the operator after a cast or a column (42883);
//! - the model's loops: a select item that is a bare column compared with something
//!   (`t.a = t.b, t.a = t.c, …`) or a `||` chain of columns compared with anything
//!   (`e.fax || e.email = e.phone || …`), one column twice in one SELECT, GROUP BY or ORDER BY item
//!   outside calls (`x || x`), a row constructor in an expression (`x || (a, b)`), the same
//!   subquery twice, a derived table inside a derived table;
//! - a FROM item (right after FROM or JOIN, outside a call's parentheses and ON conditions)
//!   names a chosen table or a CTE written before it (`FROM zzz` is refused as soon as no such
//!   name starts with it, inside a CTE too);
//! - the answer's first FROM table does not extend the name of the one chosen table the
//!   question names (`FROM invoice_line` for "how many invoices");
//! - a key column is not ordered against a number the question does not name (`track_id > 1`
//!   for "more than one dollar");
//! - a bare name in a SELECT list before its FROM is a chosen table's column, a name the text
//!   defined before it, or an aggregate's whole argument (`avg(s)` over a derived table), not a
//!   name only a later derived table could define (`SELECT fly, gra …`);
//! - a column beside an aggregate in one SELECT item needs a GROUP BY (`count(*) * t.price`,
//!   42803); a CTE's column list names no more columns than its body gives (42P10);
//! - no text column under a number function or `sum` (42883), no text before a comparison or an
//!   arithmetic operator with a number column (`'abc' >= t.id`, 22P02), no number, date or
//!   yes/no operand of LIKE (42883), no cast of a cast between a number and a date or time, no
//!   cast to an array or to money of anything but its text (42846);
//! - at the end, every name resolves (the guard's own resolver over the chosen tables),
//!   every value the question names that the database holds is used in a string literal,
//!   every boolean column it names is used, a comparison with an average it sets on a named
//!   column computes one (`avg(`, [`averages`]), and every year it names (or the one next to
//!   it) is written in the query.
//!
//! The check works on the text alone (a small lexer and a stack of query levels), so it holds
//! for any model and tokenizer. Problems that the text already had are not counted against the
//! next token: [`Scope::rejects`] compares the count before and after it.

use serde::{Deserialize, Serialize};

use self::aliases::Binding;
use self::columns::{is_number, is_text, is_time};
use self::constants::{constant_item, text_against_truth};
use self::cte::{cte_body, cte_ended_before, list_width, recursive, starts_cte};
use self::items::{
    aggregate_item, cast_type, close_item, close_list, never_compare, no_yes_no,
    outside_parentheses, reads_as_time, top_level_operands, ungrouped, unmatched, yes_or_no,
    CAST_TYPES,
};
use self::lexer::{ident_name, lex, string_literals, Kind, Tok};
use self::repeats::{
    column_in_third_item, compared_chain, equated_twice, repeated_column, same_item_compared,
    same_item_qualifier, self_comparisons, words_repeated,
};
use crate::ask::catalog::{Catalog, TableId};
use crate::ask::generate::grammar::{signature, Call, AGGREGATES, FUNCTIONS};

/// Whether the query sorts (ORDER BY) or takes a maximum or minimum (`max(`, `MIN (`).
fn sorts(toks: &[Tok<'_>]) -> bool {
    toks.iter().enumerate().any(|(i, t)| {
        t.text.eq_ignore_ascii_case("ORDER")
            || (t.text.eq_ignore_ascii_case("max") || t.text.eq_ignore_ascii_case("min"))
                && toks.get(i + 1).is_some_and(|n| n.text == "(")
    })
}

/// What the sampler checks names against: the chosen tables and the question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scope {
    /// Only the chosen tables (without sample values or comments).
    pub catalog: Catalog,
    /// The user's question: literals it contains may repeat.
    pub question: String,
    /// Words of the glossary's definitions offered whole (`regexp_replace(…)`): functions the
    /// grammar's own list may not have, so a name being written may start one of them.
    #[serde(default)]
    pub words: Vec<String>,
    /// Values the question names that the database holds (as stored): the answer must use
    /// each in a string literal (in any case, `LIKE` patterns included) before it ends.
    #[serde(default)]
    pub values: Vec<String>,
    /// Where those values are stored: `(value, table, column)`.
    #[serde(default)]
    pub holders: Vec<(String, String, String)>,
    /// The question asks for an order ("the most tracks", "the ten longest", "highest
    /// first"): the answer must sort (ORDER BY) or take a maximum or minimum before it ends.
    #[serde(default)]
    pub ordered: bool,
    /// The grammar can write a subquery in a condition (not `strict`): a comparison with an
    /// average the question sets is then required ([`averages`]).
    #[serde(default = "yes")]
    pub subqueries: bool,
    /// That comparison, read from the question once.
    #[serde(skip)]
    average: std::sync::OnceLock<Option<averages::Compared>>,
}

fn yes() -> bool {
    true
}

/// The first table of the query's top-level FROM list, by its name (after its schema).
fn first_from_table(toks: &[Tok<'_>]) -> Option<String> {
    let mut depth = 0usize;
    let at = toks.iter().position(|t| {
        match t.text {
            "(" => depth += 1,
            ")" => depth = depth.saturating_sub(1),
            _ => {}
        }
        depth == 0 && t.is(Kind::Keyword, "FROM")
    })?;
    // (`schema.table`: the name after the last dot.)
    let mut k = at + 1;
    loop {
        let t = toks.get(k).filter(|t| t.kind == Kind::Ident)?;
        if !toks.get(k + 1).is_some_and(|n| n.is(Kind::Punct, ".")) {
            return Some(t.name());
        }
        k += 2;
    }
}

/// The clause a query level is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clause {
    Select,
    From,
    Where,
    Group,
    Having,
    Order,
    Other,
}

/// One parenthesis level of the text; `query` when it holds a SELECT.
#[derive(Debug)]
struct Level {
    query: bool,
    clause: Clause,
    /// Qualifiers used in the SELECT list before FROM, with the token index they are at.
    pending: Vec<String>,
    /// The columns written after those qualifiers: `(qualifier, column)`.
    pending_refs: Vec<(String, String)>,
    /// Unqualified column names used in the SELECT list before FROM.
    pending_columns: Vec<String>,
    /// The FROM items so far: a chosen table, or `None` for one whose columns are not known
    /// here (a CTE, a derived table), which turns the unqualified-column check off.
    tables: Vec<Option<TableId>>,
    /// Output names (`AS n`) of the SELECT list, which ORDER BY and GROUP BY may use.
    outputs: Vec<String>,
    /// A list of names, not expressions: `AS t (a, b)`, `USING (a)`.
    names_only: bool,
    /// That list is a join's `USING (…)`.
    using: bool,
    /// The NATURAL joins and USING lists of the level's FROM list so far, which merge columns
    /// of one name.
    merges: usize,
    /// The columns the FROM items so far make visible, by name, with how many items give
    /// each one unmerged (a NATURAL join or a USING list makes one of two).
    columns: Vec<(String, usize)>,
    /// The next FROM item is joined NATURAL.
    natural: bool,
    /// A NATURAL join met an item whose columns are not known here, or an item's columns were
    /// renamed (`JOIN genre g (id, label)`): the level's columns are not known (the ambiguity
    /// check is off).
    opaque: bool,
    /// The SELECT list has a `DISTINCT ON (…)`, whose names may be output names: its bare
    /// names are not judged for ambiguity.
    distinct_on: bool,
    /// A FROM item in parentheses (a derived table).
    derived: bool,
    /// Parentheses whose commas separate a call's arguments or a list (`f(a, b)`,
    /// `IN (1, 2)`), not a row constructor (`x || (a, b)`).
    list: bool,
    /// Where the level's `(` is (byte offset).
    start: usize,
    /// The level's id, as [`Binding::level`] numbers them.
    id: usize,
    /// SELECT items with an aggregate call, and items with a column but no aggregate.
    aggregates: usize,
    plain: usize,
    /// Whether the level has a GROUP BY.
    grouped: bool,
    /// Whether the level has an ORDER BY (`FETCH … WITH TIES` needs one), or is one
    /// parenthesised query that has (`(SELECT … ORDER BY a) FETCH … WITH TIES`).
    ordered: bool,
    /// A set operation (UNION, INTERSECT, EXCEPT) joined this level's queries.
    set_op: bool,
    /// The first branch's SELECT items, which each later branch's must match in type.
    branch: Vec<String>,
    /// How many columns the first branch gives, when the text tells (`t.*` counted by its
    /// table): each later branch must give as many (42601).
    branch_width: Option<usize>,
    /// The SELECT items of the last query in parentheses that ended at this level (a first
    /// branch written `(SELECT …) UNION …`).
    last_child: Vec<String>,
    /// In the FROM list, inside a join's ON condition.
    on_cond: bool,
    /// The open ON condition: the token after its ON, and the binding of the item it joins
    /// (which the condition must use).
    on_tok: Option<usize>,
    joined: Option<usize>,
    /// Items of the current list clause, and where the current item started (byte offset).
    items: Vec<String>,
    item_start: Option<usize>,
    /// The SELECT list's items once it has ended (without their output names).
    selected: Vec<String>,
    /// The names of the columns the current SELECT list's items give, and of the ended
    /// list's ([`items::output_name`]: `None` where the text does not tell).
    names: Vec<Option<String>>,
    selected_names: Vec<Option<String>>,
    /// A FROM item whose columns are not known here (a CTE, a derived table with a `*`):
    /// unqualified names are not judged.
    unknown: bool,
    /// The columns of the last FROM item, when known: what a column list after its alias
    /// (`AS s (a, b)`) renames.
    last_item: Option<Vec<String>>,
}

impl Level {
    fn new(query: bool) -> Level {
        Level {
            query,
            clause: Clause::Other,
            pending: Vec::new(),
            pending_refs: Vec::new(),
            pending_columns: Vec::new(),
            tables: Vec::new(),
            outputs: Vec::new(),
            names_only: false,
            using: false,
            merges: 0,
            columns: Vec::new(),
            natural: false,
            opaque: false,
            distinct_on: false,
            derived: false,
            list: false,
            start: 0,
            id: 0,
            aggregates: 0,
            plain: 0,
            grouped: false,
            ordered: false,
            set_op: false,
            branch: Vec::new(),
            branch_width: None,
            last_child: Vec::new(),
            selected: Vec::new(),
            names: Vec::new(),
            selected_names: Vec::new(),
            unknown: false,
            last_item: None,
            on_cond: false,
            on_tok: None,
            joined: None,
            items: Vec::new(),
            item_start: None,
        }
    }
}

impl Level {
    /// Adds a FROM item (`None` for one whose columns are not known here, with the names of
    /// its `columns` when they are): a NATURAL join merges the names both sides have, any
    /// other join adds them. True when the NATURAL join's common name is twice on its left
    /// (`a CROSS JOIN b NATURAL JOIN b`: PostgreSQL refuses it, 42702).
    fn add_item(&mut self, id: Option<TableId>, columns: Option<Vec<String>>) -> bool {
        let natural = std::mem::take(&mut self.natural);
        if natural && (columns.is_none() || self.tables.contains(&None)) {
            self.opaque = true;
        }
        self.unknown |= columns.is_none();
        // (A column list after a NATURAL join's item renames what the join merged: not
        // followed here.)
        self.last_item = columns.clone().filter(|_| !natural);
        let mut twice = false;
        for c in columns.unwrap_or_default() {
            match self.columns.iter_mut().find(|(n, _)| *n == c) {
                Some((_, k)) if !natural => *k += 1,
                Some((_, k)) => twice |= *k >= 2,
                None => self.columns.push((c, 1)),
            }
        }
        self.tables.push(id);
        twice && !self.opaque
    }

    /// A column list after the last FROM item's alias (`AS s (a, b)`) names its first
    /// columns: true when it names more than the item has (42P10). An item whose columns are
    /// not known stays so.
    fn rename_last(&mut self, list: &[String]) -> bool {
        let Some(old) = self.last_item.take() else {
            self.unknown = true;
            return false;
        };
        for c in &old {
            if let Some(k) = self.columns.iter().position(|(n, _)| n == c) {
                self.columns[k].1 -= 1;
                if self.columns[k].1 == 0 {
                    self.columns.remove(k);
                }
            }
        }
        let renamed: Vec<String> = list
            .iter()
            .cloned()
            .chain(old.iter().skip(list.len()).cloned())
            .collect();
        for c in &renamed {
            match self.columns.iter_mut().find(|(n, _)| n == c) {
                Some((_, k)) => *k += 1,
                None => self.columns.push((c.clone(), 1)),
            }
        }
        let over = list.len() > old.len();
        self.last_item = Some(renamed);
        over
    }

    /// A `USING (name)` column: one column from here on.
    fn merge(&mut self, name: &str) {
        if let Some((_, k)) = self.columns.iter_mut().find(|(n, _)| n == name) {
            *k = 1;
        }
    }

    /// How many FROM items give the column `name` unmerged.
    fn visible(&self, name: &str) -> usize {
        self.columns
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, k)| *k)
    }
}

/// Lower-case words the grammar writes where a column could stand that are not columns.
const CONSTANTS: &[&str] = &[
    "current_date",
    "current_timestamp",
    "current_time",
    "localtimestamp",
    "localtime",
];

/// The aggregates that answer "how many": a count, or a sum of quantities ("how many units").
const COUNTS: &[&str] = &["count", "sum"];

impl Scope {
    /// The scope of `tables` of `full`, for `question`.
    pub fn new(full: &Catalog, tables: &[TableId], question: &str) -> Scope {
        let mut catalog = Catalog {
            database: full.database.clone(),
            fingerprint: String::new(),
            extensions: full.extensions.clone(),
            tables: Vec::new(),
        };
        let kept: Vec<TableId> = tables
            .iter()
            .copied()
            .filter(|&t| t < full.tables.len())
            .fold(Vec::new(), |mut kept, t| {
                if !kept.contains(&t) {
                    kept.push(t);
                }
                kept
            });
        for &t in &kept {
            let Some(table) = full.tables.get(t) else {
                continue;
            };
            let mut table = table.clone();
            table.comment = None;
            // The keys between chosen tables, as this scope numbers them (the finisher joins
            // two qualifiers' tables by one).
            table
                .foreign_keys
                .retain_mut(|fk| match kept.iter().position(|&k| k == fk.target) {
                    Some(k) => {
                        fk.target = k;
                        true
                    }
                    None => false,
                });
            for c in &mut table.columns {
                c.comment = None;
                c.samples.clear();
                c.enum_labels.clear();
                c.default = None;
            }
            catalog.tables.push(table);
        }
        Scope {
            catalog,
            question: question.to_lowercase(),
            words: Vec::new(),
            values: Vec::new(),
            holders: Vec::new(),
            ordered: false,
            subqueries: true,
            average: std::sync::OnceLock::new(),
        }
    }

    /// The names of the chosen tables, their schemas and their columns, each once.
    pub fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in &self.catalog.tables {
            let cols = t.columns.iter().map(|c| c.name.clone());
            for n in [t.name.clone(), t.schema.clone()].into_iter().chain(cols) {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        out
    }

    /// The same scope, for a grammar that can (`true`) or cannot write a subquery in a
    /// condition.
    pub fn with_subqueries(mut self, subqueries: bool) -> Scope {
        self.subqueries = subqueries;
        self.average = std::sync::OnceLock::new();
        self
    }

    /// The same scope, where the answer must sort or take a maximum or minimum when
    /// `ordered` (the question asks for an order).
    pub fn with_order(mut self, ordered: bool) -> Scope {
        self.ordered = ordered;
        self
    }

    /// The same scope, where the answer must use each of `values` (the values the question
    /// names, as the database stores them) as a string literal.
    pub fn with_values(mut self, values: &[String]) -> Scope {
        for v in values {
            if !self.values.contains(v) {
                self.values.push(v.clone());
            }
        }
        self
    }

    /// The same scope, where the words of `definitions` (written out whole by the grammar) may
    /// also be being written.
    pub fn with_definitions(mut self, definitions: &[String]) -> Scope {
        for d in definitions {
            for t in lex(d).iter().filter(|t| t.kind == Kind::Ident) {
                let w = t.name();
                if !self.words.contains(&w) {
                    self.words.push(w);
                }
            }
        }
        self
    }

    /// Whether the sort its question asks for ([`Self::ordered`]) is all the answer `text`
    /// lacks to end: the model that wanted to end there is steered to an ORDER BY (not when a
    /// value must still go into a WHERE, which cannot follow it).
    pub fn only_wants_sort(&self, text: &str) -> bool {
        self.ordered && !sorts(&lex(text)) && self.count(text, true, false) == 0
    }

    /// The conditions the question sets that the query `toks` leaves out: values it names that
    /// the database holds, in no string literal (in any case: `ILIKE '%brazil%'` uses one
    /// too), boolean columns it names ([`Self::flags_unnamed`]), and a comparison with an
    /// average ([`Self::average_unmet`]).
    fn conditions_unmet(&self, toks: &[Tok<'_>]) -> usize {
        let texts = string_literals(toks);
        let values = self
            .values
            .iter()
            .filter(|v| {
                let v = v.to_lowercase();
                !texts.iter().any(|t| t.contains(&v))
            })
            .count();
        values + self.flags_unnamed(toks) + self.average_unmet(toks)
    }

    /// Whether the question asks for an order ([`Self::with_order`]) that `text` does not
    /// give yet (no ORDER BY, no maximum or minimum): the strict fallback's steered pass then
    /// goes on with ` ORDER` where it would end.
    pub fn lacks_sort(&self, text: &str) -> bool {
        self.ordered && !sorts(&lex(text))
    }

    /// Whether conditions the question sets ([`Self::conditions_unmet`]) are all the answer
    /// `text` lacks to end (its sort aside): the model that wanted to end there is steered to
    /// a WHERE or an AND.
    pub fn only_wants_condition(&self, text: &str) -> bool {
        let unmet = self.conditions_unmet(&lex(text));
        unmet > 0 && self.count(text, true, false) == unmet
    }

    /// Whether the whole query `text` leaves out what its question sets: a condition
    /// ([`Self::conditions_unmet`]: a value or flag it names, a comparison with an average), a
    /// year it names, or the sort it asks for, or writes a condition otherwise than pgask
    /// writes it into the strict fallback ([`Self::fallback_turned`]), or starts its FROM list
    /// with a table extending the one the question names (`FROM invoice_line JOIN invoice`
    /// for "how many invoices", as the full pass refuses it). Such a query answers another
    /// question (the strict fallback's, judged once written).
    pub fn leaves_out(&self, text: &str) -> bool {
        let toks = lex(text);
        self.conditions_unmet(&toks) > 0
            || self.years_unmet(text) > 0
            || (self.ordered && !sorts(&toks))
            || self.fallback_turned(&toks, text)
            || first_from_table(&toks).is_some_and(|t| self.first_table_extends_named(&t, true) > 0)
            // (Years compared with a column of years reach the fallback with other numbers
            // it may leave out: "after 1950 with a population above 1000000".)
            || (self.year_compared().is_some() && !self.writes_every_number(text))
    }

    /// Whether the question sets a condition pgask reads in it: a value it names that the
    /// database holds, a flag (a boolean column it names), a year, or a comparison with an
    /// average. The strict fallback is written for such a question only where pgask writes
    /// each of its conditions itself ([`Self::strict_may_answer`]): strict cannot compare with
    /// an average, and whether the model's own `NOT flag` or `<> 'value'` keeps a condition or
    /// turns it round is more than a whole-query check can tell.
    pub fn sets_conditions(&self) -> bool {
        !self.values.is_empty()
            || !self.flags_named().is_empty()
            || self.years_unmet("") > 0
            || self.average_compared().is_some()
    }

    /// Whether appending `piece` to `text` adds a problem (`end`: the answer ends with it).
    /// At the end the query must have no problem at all: one the text already had could
    /// otherwise hide a new one (a missing GROUP BY counted only at the end).
    pub fn rejects(&self, text: &str, piece: &str, end: bool) -> bool {
        let mut next = String::with_capacity(text.len() + piece.len());
        next.push_str(text);
        next.push_str(piece);
        if end {
            return self.problems(&next, true) > 0;
        }
        self.problems(&next, false) > self.problems(text, false)
    }

    /// The problems of a list clause that has just ended: a GROUP BY that leaves a shown
    /// column out ([`Self::group_misses`]), a later branch of a set operation whose SELECT
    /// list gives another number of columns than the first's ([`Self::width_differs`]).
    fn list_ended(&self, l: &Level, bindings: &[Binding]) -> usize {
        self.group_misses(l, bindings)
            + self.width_differs(l, bindings)
            + self.order_aggregates(l, bindings)
    }

    /// One problem when an ORDER BY list has just ended with an aggregate of its own query
    /// while the SELECT list, with no aggregate and no GROUP BY, shows a column of the level's
    /// own FROM items (`SELECT t.* … ORDER BY variance(1)`: the aggregate makes the query one
    /// group, 42803). An enclosing query's column, a constant or a window is no such column.
    /// After a set operation no aggregate may sort (`… UNION SELECT … ORDER BY count(*)`:
    /// 0A000).
    fn order_aggregates(&self, l: &Level, bindings: &[Binding]) -> usize {
        if l.clause != Clause::Order || !l.query || !l.items.iter().any(|i| aggregate_item(i)) {
            return 0;
        }
        if l.set_op {
            return 1;
        }
        if l.grouped || l.aggregates > 0 {
            return 0;
        }
        let table_of = |q: &str| self.level_table(q, l.id, bindings);
        let own = |item: &String| {
            let item = item.trim();
            if let Some(q) = item.strip_suffix(".*") {
                return bare_column(q) && table_of(q).is_some();
            }
            if !bare_column(item) {
                return false;
            }
            match item.rsplit_once('.') {
                Some((q, c)) => table_of(q).is_some_and(|t| t.column(&ident_name(c)).is_some()),
                None => self.holders(&ident_name(item), &l.tables) > 0,
            }
        };
        usize::from(l.selected.iter().any(own))
    }

    /// One problem when a GROUP BY list has just ended (`l.items`) without a column the
    /// SELECT list shows bare or as `t.*` (`SELECT artist.name, count(*) … GROUP BY
    /// track_id`: PostgreSQL refuses it, 42803). A column is covered by itself (qualified or
    /// not) or by its table's primary key (PostgreSQL's functional dependency), `t.*` by the
    /// key; a text constant (`GROUP BY 'x'::VARCHAR`) covers nothing. Lists by position
    /// (`GROUP BY 1`) or by output name, and columns of a CTE or derived table, are not
    /// judged.
    fn group_misses(&self, l: &Level, bindings: &[Binding]) -> usize {
        if l.clause != Clause::Group || !l.query || l.items.is_empty() {
            return 0;
        }
        // Names compared without quotes or case (lenient: a false match only lets through a
        // query that PostgreSQL then judges).
        let norm = |s: &str| s.trim().replace('"', "").to_lowercase();
        let split = |item: &str| -> (Option<String>, String) {
            let item = norm(item);
            // (The qualifier's last part: `public.artist.artist_id` is `artist`'s.)
            match item.rsplit_once('.') {
                Some((q, c)) => (
                    Some(q.rsplit('.').next().unwrap_or(q).to_string()),
                    c.to_string(),
                ),
                None => (None, item),
            }
        };
        // By position, by output name or a grouping set (`ROLLUP (…)`, `(a, b)`): not judged.
        // A text constant groups by nothing (`GROUP BY 'x'::VARCHAR`), nor does any other
        // expression group a bare column (`GROUP BY payment_id <> 0` leaves `payment_id` out,
        // 42803: Gemma's): left out, so that a list of only those leaves every column
        // outside the groups.
        // (`GROUP BY DISTINCT a`, PostgreSQL 14's, likewise.)
        let grouping_set = |g: &str| {
            let u = g.trim_start().to_ascii_uppercase();
            ["(", "ROLLUP", "CUBE", "GROUPING", "DISTINCT ", "ALL "]
                .iter()
                .any(|w| u.starts_with(w))
        };
        // A name written in capitals (`T1.ID`, Spider's) groups as the column it may be (a
        // keyword, `TRUE`, then groups nothing the list shows).
        let capitals = |g: &str| {
            let g = g.trim();
            !g.is_empty()
                && !g.starts_with(|c: char| c.is_ascii_digit())
                && g.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.') || b >= 0x80)
        };
        let not_judged = l.items.iter().any(|g| {
            g.trim().bytes().all(|b| b.is_ascii_digit())
                || l.outputs.iter().any(|o| norm(o) == norm(g))
                || grouping_set(g)
        });
        if not_judged {
            return 0;
        }
        let items: Vec<&String> = l
            .items
            .iter()
            .filter(|g| !constant_item(g) && (bare_column(g) || capitals(g)))
            .collect();
        let groups: Vec<(Option<String>, String)> = items.iter().map(|g| split(g)).collect();
        // Whether table `t`'s primary key is grouped, each column bare or by a qualifier
        // `names_t` takes for the table (a table with no key, or none known: not judged).
        let key_grouped = |t: TableId, names_t: &dyn Fn(&str) -> bool| {
            self.catalog.tables.get(t).is_none_or(|tab| {
                tab.primary_key.is_empty()
                    || tab.primary_key.iter().all(|k| {
                        groups
                            .iter()
                            .any(|(gq, gc)| *gc == norm(k) && gq.as_deref().is_none_or(names_t))
                    })
            })
        };
        // `t.*` is covered by its table's primary key, as a column of it is.
        let star = |item: &str| item.strip_suffix(".*").is_some_and(bare_column);
        let missing = l
            .selected
            .iter()
            .filter(|item| bare_column(item) || star(item.trim()))
            .any(|item| {
                let (q, c) = split(item);
                let named = groups
                    .iter()
                    .any(|(gq, gc)| *gc == c && (gq == &q || gq.is_none() || q.is_none()));
                // The primary key of the item's table (unqualified items are not judged,
                // unless nothing is grouped and they are a column of the level's own tables:
                // not `current_date`, nor an enclosing query's column).
                let keyed = match &q {
                    None if groups.is_empty() => self.holders(&c, &l.tables) == 0,
                    // Grouped, an unqualified column of exactly one of the level's own tables
                    // (`SELECT country, avg(total) FROM customer JOIN invoice … GROUP BY
                    // invoice_id`) is covered by that table's primary key only.
                    None => self.sole_owner(&c, &l.tables).is_none_or(|t| {
                        key_grouped(t, &|gq: &str| {
                            bindings.iter().any(|b| {
                                norm(&b.name) == gq && b.level == l.id && b.table == Some(t)
                            })
                        })
                    }),
                    Some(q) => {
                        // This level's own FROM item (an enclosing query's is not judged).
                        let table = bindings
                            .iter()
                            .find(|b| norm(&b.name) == *q && b.level == l.id)
                            .map(|b| b.table);
                        match table {
                            Some(Some(t)) => key_grouped(t, &|gq: &str| gq == q),
                            // A CTE, a derived table or an unknown qualifier: not judged here.
                            _ => true,
                        }
                    }
                };
                !named && !keyed
            });
        usize::from(missing)
    }

    /// Whether the name at `toks[i]` stands where a FROM item's name does: right after FROM or
    /// JOIN (or after a schema and its dot there), not inside a call's parentheses
    /// (`EXTRACT(YEAR FROM d)`) nor after a comma (a derived table's column list, a call's
    /// arguments; commas between FROM items are refused on their own). `Some(false)`: a FROM
    /// item under a schema no chosen table is in (`FROM album.zzz`).
    fn at_from_item(&self, toks: &[Tok<'_>], i: usize) -> Option<bool> {
        let keyword = |k: usize| {
            from_keyword(toks, k) || toks.get(k).is_some_and(|t| t.is(Kind::Keyword, "JOIN"))
        };
        let (at, chosen) = match i.checked_sub(1) {
            Some(p) if keyword(p) => (p, true),
            Some(p) if toks[p].is(Kind::Punct, ".") && p >= 2 && keyword(p - 2) => {
                let schema = toks[p - 1].name();
                (
                    p - 2,
                    self.catalog.tables.iter().any(|t| t.schema == schema),
                )
            }
            _ => return None,
        };
        // The innermost parenthesis open at the keyword: a query's (`(SELECT`, `(WITH`,
        // `((`), a join group's (`FROM (a JOIN b …)`) or none; else a call's or an
        // expression's.
        let mut depth = 0usize;
        for k in (0..at).rev() {
            if toks[k].is(Kind::Punct, ")") {
                depth += 1;
            } else if toks[k].is(Kind::Punct, "(") {
                if depth == 0 {
                    let query = toks.get(k + 1).is_some_and(|n| {
                        n.is(Kind::Keyword, "SELECT")
                            || n.is(Kind::Keyword, "WITH")
                            || n.is(Kind::Punct, "(")
                    });
                    let group = k > 0 && keyword(k - 1);
                    return (query || group).then_some(chosen);
                }
                depth -= 1;
            }
        }
        Some(chosen)
    }

    /// Whether `name` at token `at` in a FROM item's place names a chosen table or a CTE
    /// that ended before it; while it is not `complete`, whether one of those (or a chosen
    /// table's schema, `FROM sales.`) starts with it.
    fn names_a_from_item(
        &self,
        name: &str,
        complete: bool,
        (at, toks): (usize, &[Tok<'_>]),
        bindings: &[Binding],
    ) -> bool {
        let fits = |n: &str| n == name || (!complete && n.starts_with(name));
        // `WITH RECURSIVE`: a CTE's body may name it.
        let recursive = recursive(toks);
        self.catalog
            .tables
            .iter()
            .any(|t| fits(&t.name) || (!complete && t.schema.starts_with(name)))
            || bindings
                .iter()
                .any(|b| b.cte && fits(&b.name) && (recursive || cte_ended_before(toks, b.at, at)))
    }

    fn table_named(&self, name: &str) -> Option<TableId> {
        self.catalog.tables.iter().position(|t| t.name == name)
    }

    /// The FROM clauses that could follow `text`, a SELECT list the model wrote no FROM for,
    /// for the finisher to try, the tables `hint` (the model's whole text) names first
    /// ([`tails::from_tails`]).
    pub fn from_tails(&self, text: &str, hint: &str) -> Vec<String> {
        tails::from_tails(&self.catalog.tables, text, hint)
    }

    /// The CTE a WITH's main query would read: the last one of the top-level WITH list `text`
    /// starts with (none after `WITH RECURSIVE`, where a body may read its own CTE, nor for a
    /// text that does not start with WITH).
    pub fn main_cte(&self, text: &str) -> Option<String> {
        let toks = lex(text);
        if !toks.first().is_some_and(|t| t.is(Kind::Keyword, "WITH")) || recursive(&toks) {
            return None;
        }
        self.bindings(&toks)
            .into_iter()
            .rev()
            .find(|b| b.cte && b.level == 0)
            .map(|b| b.name)
    }

    /// The number of problems in `s` (see the module docs); `end`: nothing follows.
    pub fn problems(&self, s: &str, end: bool) -> usize {
        self.count(s, end, self.ordered)
    }

    /// [`Self::problems`], with the question's order demand ([`Self::ordered`]) as `ordered`.
    /// A cast's type still being written (`x::INTE`) is judged as the best of the types it
    /// can become (`INTEGER`, `INTERVAL`, or an array of one): refused as soon as every one
    /// of them would be, not after its last letter, where the dead end costs a backtrack a
    /// letter.
    fn count(&self, s: &str, end: bool, ordered: bool) -> usize {
        if !end {
            if let Some((head, start)) = partial_type(s) {
                // (A word of the glossary's definitions may be a type the grammar's list does
                // not have, `::int4range`, `::mood`: judged as written.)
                let words = self.words.iter().map(|w| w.to_ascii_uppercase());
                let best = CAST_TYPES
                    .iter()
                    .map(|(w, _)| w.to_string())
                    .chain(words)
                    .filter(|w| w.starts_with(&start))
                    // (An array of the type too: `'{1,2}'::INT[]`.)
                    .flat_map(|w| [format!("{head}{w} "), format!("{head}{w}[] ")])
                    .map(|t| self.count_whole(&t, false, ordered))
                    .min();
                if let Some(best) = best {
                    return best;
                }
            }
        }
        self.count_whole(s, end, ordered)
    }

    /// [`Self::count`] of a text whose last word is judged as it stands.
    fn count_whole(&self, s: &str, end: bool, ordered: bool) -> usize {
        let mut toks = lex(s);
        if end {
            for t in &mut toks {
                t.complete = true;
            }
        }
        let bindings = self.bindings(&toks);
        // Defined before `at` at one of the `visible` query levels (the current one and those
        // enclosing it, not a subquery's inside that has ended).
        let bound_before = |q: &str, at: usize, visible: &[usize]| {
            bindings
                .iter()
                .any(|b| b.name == q && b.at < at && b.seen_from(visible))
        };
        // Query level ids, numbered as `bindings` numbers them.
        let mut ids = 0;
        let mut problems = bindings.iter().filter(|b| b.reserved).count();
        // The same FROM name twice at one level (`FROM t, t`; `JOIN (…) s … JOIN (…) s`,
        // 42712).
        problems += bindings
            .iter()
            .enumerate()
            .filter(|(k, b)| {
                bindings[..*k].iter().any(|e| {
                    e.name == b.name
                        && e.level == b.level
                        && (b.table.is_some() || (!b.cte && !e.cte))
                })
            })
            .count();
        let mut stack = vec![Level::new(true)];
        let mut literals: Vec<String> = Vec::new();
        let mut subqueries: Vec<(usize, Clause, &str)> = Vec::new();
        // Derived tables whose columns the text tells: the token index of their `)` and the
        // columns' names (renamed by a column list after the alias).
        let mut derived: Vec<(usize, Vec<String>)> = Vec::new();
        for (i, t) in toks.iter().enumerate() {
            let next = toks.get(i + 1);
            let qi = stack.iter().rposition(|l| l.query).unwrap_or(0);
            let visible: Vec<usize> = stack.iter().map(|l| l.id).collect();
            // A select item that is a bare column compared with something (`t.a = t.b`,
            // `artist_id IN (SELECT …)`, `a NOT IN …`, `a AND …`; `a IS NULL AS missing` is free): a yes/no column no question asks for, and the
            // start of the model's loops (`t.a = t.b, t.a = t.c, …`).
            if stack.len() - 1 == qi
                && stack[qi].clause == Clause::Select
                && comparison(&toks, i)
                && stack[qi]
                    .item_start
                    .and_then(|st| s.get(st..t.start))
                    .is_some_and(bare_column)
            {
                problems += 1;
            }
            // A key column in a concatenation (`artist_id || (SELECT …`, `genre_id ||
            // genre.name`): an id glued to text answers no question, and it is how the
            // model's loops start. The left operand is judged at the second `|`, the right one
            // once its name is complete (and not cast: `|| artist_id::text`).
            let concat_at = |k: usize| {
                k >= 2
                    && toks[k - 1].is(Kind::Punct, "|")
                    && toks[k - 2].is(Kind::Punct, "|")
                    && toks[k - 2].end == toks[k - 1].start
            };
            if concat_at(i + 1)
                && toks[i - 1].end == t.start
                && toks
                    .get(i.wrapping_sub(2))
                    .is_some_and(|c| c.kind == Kind::Ident)
                && self.key_column(&toks[..i - 1], &bindings, &visible)
            {
                problems += 1;
            }
            // Arithmetic on a key in a SELECT list (`track_id * 100`, `customer_id + 1`,
            // `artist_id % (…`): the model counting up. (Elsewhere it has uses: `id % 2 = 1`,
            // `ON b.id = a.id + 1`.)
            let arithmetic = |k: usize| {
                toks.get(k).is_some_and(|o| {
                    o.kind == Kind::Punct && matches!(o.text, "+" | "-" | "*" | "/" | "%")
                })
            };
            // Whether `toks[k]` is a text column standing as an operand (not a cast's type).
            let text_operand = |k: usize| {
                toks[k].kind == Kind::Ident
                    && !(k >= 1 && toks[k - 1].is(Kind::Punct, "::"))
                    && self.text_column(&toks[..=k], &bindings, &visible)
            };
            // `name * 2`, `e.phone % e.fax`: arithmetic on a text column has no operator
            // (42883). The left operand is judged at the operator (at `%` only where pg_trgm
            // is not installed: with it, `name % 'x'` is its similarity, judged below), the
            // right one (further below) once its name is complete and not cast (a text column
            // after `%` too).
            let trigram = self.catalog.has_extension("pg_trgm");
            if arithmetic(i)
                && !(trigram && t.is(Kind::Punct, "%"))
                && i >= 1
                && text_operand(i - 1)
            {
                problems += 1;
            }
            // `x::TEXT / y`, `x::VARCHAR(77) - y`, `x::BOOL + y`: a text or a yes/no has no
            // arithmetic (42883); `'abc' / y::NUMERIC`: a text literal with no digit is no
            // number, date or interval (22P02). Judged at the operator (not `%` where pg_trgm
            // makes it the similarity of two texts).
            if arithmetic(i)
                && i >= 1
                && (cast_to_text_or_bool(&toks[..i]) || wordy_literal(&toks[..i]))
                && !(trigram && t.is(Kind::Punct, "%"))
                && !toks.get(i + 1).is_some_and(|n| n.is(Kind::Punct, ">"))
            {
                problems += 1;
            }
            // `x::TIMESTAMP / y`, `invoice_date * 2`, `x::REAL % y`: `*`, `/` and `%` bind
            // first, so their left operand is the cast or the column just before them, and
            // PostgreSQL has no such operator for a date or time (nor `%` for an interval or a
            // floating-point number; 42883). Judged at the operator.
            if i >= 2 && matches!(t.text, "*" | "/" | "%") && t.kind == Kind::Punct {
                let left = &toks[..i];
                let bad = match cast_end_type(left) {
                    Some(ty) => no_product_for(t.text, ty),
                    // (A column only where every name the query binds is a chosen table: a
                    // CTE's or a derived table's column of a table column's name is another.)
                    None => {
                        toks[i - 1].kind == Kind::Ident
                            && !toks[i - 2].is(Kind::Punct, "::")
                            && bindings.iter().all(|b| b.table.is_some())
                            && self.column_is(left, &bindings, &visible, |c| {
                                no_product_for(t.text, &c.data_type)
                            })
                    }
                };
                if bad {
                    problems += 1;
                }
            }
            let in_select = stack.len() - 1 == qi && stack[qi].clause == Clause::Select;
            // Whether the token `w` starts the answer's own first select item.
            let starts_answer = |w: &Tok<'_>| {
                in_select
                    && qi == 0
                    && stack[qi].items.is_empty()
                    && stack[qi]
                        .item_start
                        .and_then(|st| s.get(st..w.start))
                        .is_some_and(|before| before.trim().is_empty())
            };
            // … with a word.
            let opens_answer =
                |w: &Tok<'_>| matches!(w.kind, Kind::Ident | Kind::Keyword) && starts_answer(w);
            // "What is the average total amount of orders?": the answer's first item is no
            // `sum` (a call, or the name of an alias the model turns to next) for a question
            // that asks for an average and names no sum (a subquery may sum: the average of
            // per-customer totals).
            if t.complete
                && t.text.eq_ignore_ascii_case("sum")
                && opens_answer(t)
                && self.asks_average()
            {
                problems += 1;
            }
            // "Which employees were hired before 2003?": the answer's first item is no
            // aggregate (`SELECT count(*) …` answers "how many"); refused at its `(`.
            if t.is(Kind::Punct, "(")
                && i >= 1
                && AGGREGATES.contains(&toks[i - 1].text.to_lowercase().as_str())
                && opens_answer(&toks[i - 1])
                && self.asks_for_things()
            {
                problems += 1;
            }
            // "Which customer has the highest credit limit? Give the company name.": the answer
            // shows as many columns as the "Give …" sentence names, no more (the comma that
            // would start another is refused) and no `*` (every column of a row).
            // (The question is read only at a comma or a star.)
            if in_select && qi == 0 && (t.is(Kind::Punct, ",") || t.is(Kind::Punct, "*")) {
                if let Some(n) = self.give_count() {
                    let star = t.is(Kind::Punct, "*")
                        && i >= 1
                        && (toks[i - 1].is(Kind::Punct, ",")
                            || toks[i - 1].is(Kind::Punct, ".")
                            || toks[i - 1].text.eq_ignore_ascii_case("select")
                            || toks[i - 1].text.eq_ignore_ascii_case("distinct"));
                    let another = t.is(Kind::Punct, ",") && stack[qi].items.len() + 1 >= n;
                    problems += usize::from(star || another);
                }
            }
            // "How many tracks have never been sold?": one count's answer starts with `count(`
            // or `sum(` ("how many units"), not with a column (`SELECT t.name …` lists the
            // tracks), `*`, a constant or another aggregate (`max(track_id)`); a word is refused as soon
            // as neither starts with it (refused only once complete, `t` grew into `t1m`). "In how many different cities …":
            // the count is of DISTINCT values.
            if starts_answer(t) && self.one_count().is_some() {
                let word = t.text.to_lowercase();
                let fits = match t.kind {
                    Kind::Ident | Kind::Keyword if t.complete => {
                        COUNTS.contains(&word.as_str())
                            && next.is_some_and(|n| n.is(Kind::Punct, "("))
                    }
                    Kind::Ident | Kind::Keyword => COUNTS.iter().any(|a| a.starts_with(&word)),
                    // A scalar subquery may count (`(SELECT count(*) …) - …`); a constant
                    // (`SELECT 1 FROM track …`) or `*` does not.
                    _ => t.is(Kind::Punct, "("),
                };
                problems += usize::from(!fits);
            }
            // (`SELECT count(` at the top level: no parenthesis open before that SELECT.)
            let top_count = i >= 3
                && toks[i - 1].is(Kind::Punct, "(")
                && toks[i - 2].text.eq_ignore_ascii_case("count")
                && toks[i - 3].text.eq_ignore_ascii_case("select")
                && toks[..i - 3].iter().fold(0i32, |d, p| {
                    d + i32::from(p.is(Kind::Punct, "(")) - i32::from(p.is(Kind::Punct, ")"))
                }) == 0;
            if top_count && self.one_count() == Some(true) {
                let word = t.text.to_lowercase();
                let distinct = if t.complete {
                    word == "distinct"
                } else {
                    "distinct".starts_with(&word)
                };
                problems += usize::from(!distinct);
            }
            if in_select
                && arithmetic(i)
                && i >= 1
                && toks[i - 1].kind == Kind::Ident
                && self.key_column(&toks[..i], &bindings, &visible)
            {
                problems += 1;
            }
            // Arithmetic on a text column (`artist.name * album.title`): PostgreSQL has no
            // such operator (42883), and the model loops through it. Judged at the operator.
            if arithmetic(i)
                && t.text != "%"
                && i >= 1
                && toks[i - 1].kind == Kind::Ident
                && !toks.get(i + 1).is_some_and(|n| n.is(Kind::Punct, ">"))
                && self.text_column(&toks[..i], &bindings, &visible)
            {
                problems += 1;
            }
            let item_so_far = stack[qi].item_start.and_then(|st| s.get(st..t.start));
            // AND / OR joining a select item's conditions (`a IS NULL AND a != 0 AND …`): a
            // chain of yes/no tests no question asks for as a column. Inside a CASE, a call or
            // parentheses it is free, and so is BETWEEN's own AND. OR is refused as soon as it
            // is written (ORDER comes in one piece and is not).
            if in_select
                && (t.is(Kind::Keyword, "AND") || t.is(Kind::Keyword, "OR"))
                && item_so_far.is_some_and(|item| !in_case(item) && !awaits_range_end(item, t))
            {
                problems += 1;
            }
            // In a GROUP BY or ORDER BY key, AND / OR after an operand that is no yes/no
            // (`GROUP BY payment_id AND payments.amount AND …`, Gemma's): 42804 once the key
            // ends, refused at the word (once whole: `GROUP BY name OR` may become ORDER).
            let in_key =
                stack.len() - 1 == qi && matches!(stack[qi].clause, Clause::Group | Clause::Order);
            if in_key
                && t.complete
                && (t.is(Kind::Keyword, "AND") || t.is(Kind::Keyword, "OR"))
                // (Not after a BETWEEN: its bounds are no operands of AND.)
                && item_so_far.is_some_and(|item| {
                    !item.contains(" BETWEEN ")
                        && top_level_operands(item)
                            .last()
                            .is_some_and(|o| no_yes_no(o.trim(), &self.catalog))
                })
            {
                problems += 1;
            }
            // `invoice_line_id IS NOT FALSE`: a truth test of a column that is not boolean
            // (PostgreSQL: 42804), the start of a list of such tests.
            if t.kind == Kind::Keyword && matches!(t.text, "TRUE" | "FALSE" | "UNKNOWN") {
                let is = match i.checked_sub(1).map(|k| &toks[k]) {
                    Some(p) if p.is(Kind::Keyword, "NOT") => i.checked_sub(2),
                    _ => i.checked_sub(1),
                }
                .filter(|&k| toks[k].is(Kind::Keyword, "IS"));
                // The column alone before IS (`a = b IS TRUE` tests the comparison).
                if let Some(k) = is.filter(|&k| {
                    k >= 1 && toks[k - 1].kind == Kind::Ident && starts_operand(&toks[..k])
                }) {
                    let before = &toks[..k];
                    if self.text_column(before, &bindings, &visible)
                        || self.numeric_column(before, &bindings, &visible)
                    {
                        problems += 1;
                    }
                }
            }
            // `x IN (SELECT * FROM employee)`, `= (SELECT e.* …)`: a subquery compared with a
            // value or computed with gives one column, and a `*` gives every column of its
            // tables (42601, Gemma's). (`EXISTS (SELECT * …)` and derived tables may.)
            if t.is(Kind::Punct, "*")
                && qi > 0
                && stack[qi].clause == Clause::Select
                && star_item(&toks, i)
                && toks
                    .iter()
                    .rposition(|x| x.start < stack[qi].start)
                    .is_some_and(|b| {
                        // (Not after a row, `(a, b) IN (SELECT * …)`, nor a call's value.)
                        let row = b >= 1 && toks[b - 1].is(Kind::Punct, ")");
                        // (`UNION ALL (SELECT * …)` is a branch.)
                        let branch = b >= 1
                            && toks[b].is(Kind::Keyword, "ALL")
                            && matches!(toks[b - 1].text, "UNION" | "INTERSECT" | "EXCEPT");
                        // A scalar subquery as a SELECT item: `SELECT a.name, (SELECT * …)`.
                        let item = stack[qi - 1].clause == Clause::Select
                            && stack[qi - 1].query
                            && (toks[b].is(Kind::Punct, ",")
                                || toks[b].is(Kind::Keyword, "SELECT"));
                        (takes_a_value(&toks[b]) && !row && !branch) || item
                    })
            {
                problems += 1;
            }
            // `ON pt.track_id = p.playlist_id`: the keys of two different tables are equal
            // by accident only.
            if self.keys_of_two_tables(&toks, i) {
                problems += 1;
            }
            // `JOIN orders o ON o.order_id = o.order_date`: a join condition that compares
            // one FROM item with itself links nothing (the model's loop of `o.a = o.b - 1`).
            if stack[qi].on_cond && same_item_compared(&toks, i) {
                problems += 1;
            }
            // … and `p1.k = p2.k` on one table's primary key, judged where the operand
            // ends: at a keyword, a `)` or the end of the query.
            if stack[qi].on_cond {
                let ended = if t.kind == Kind::Keyword || t.is(Kind::Punct, ")") {
                    i.checked_sub(1)
                } else {
                    (end && i + 1 == toks.len()).then_some(i)
                };
                if ended.is_some_and(|c| self.self_join_on_key(&toks, c, &bindings, &visible)) {
                    problems += 1;
                }
            }
            // `p2.name::INTEGER`, `CAST(p2.name AS INTEGER)`: a name or a title is words, never
            // a number (22P02 once run; Gemma's `ON p1.category_id = p2.name::INTEGER`): the
            // type `t` a name column at `toks[c]` is cast to.
            let name_as_number = |c: usize| {
                toks[c].kind == Kind::Ident
                    && name_column(&toks[c].name())
                    && cast_type(t.text).is_some_and(|ty| comparable(ty, "integer"))
                    && self.text_column(&toks[..=c], &bindings, &visible)
            };
            if matches!(t.kind, Kind::Ident | Kind::Keyword)
                && t.complete
                && i >= 4
                && toks[i - 1].is(Kind::Keyword, "AS")
                && name_as_number(i - 2)
            {
                let start = if toks[i - 3].is(Kind::Punct, ".") && i >= 5 {
                    i - 4
                } else {
                    i - 2
                };
                if start >= 2
                    && toks[start - 1].is(Kind::Punct, "(")
                    && toks[start - 2].text.eq_ignore_ascii_case("cast")
                {
                    problems += 1;
                }
            }
            // `employee.state % employee.phone::INT`, `name % 2`: after a text column, `%` is
            // pg_trgm's similarity or nothing, and takes a text (42883 otherwise), judged at
            // the token after it.
            if i >= 2
                && toks[i - 1].is(Kind::Punct, "%")
                && !(t.kind == Kind::Literal && t.text.starts_with('\''))
                && text_operand(i - 2)
            {
                problems += 1;
            }
            // `x::FLOAT ILIKE …`, `t.year LIKE …`: LIKE reads a text; a number, date or yes/no
            // before it has no such operator (42883), judged at the word.
            if t.kind == Kind::Keyword && t.complete && matches!(t.text, "LIKE" | "ILIKE") {
                let k = if i >= 1 && toks[i - 1].is(Kind::Keyword, "NOT") {
                    i.checked_sub(2)
                } else {
                    i.checked_sub(1)
                };
                // (Only an operand that stands alone: `'INV-' || i.id LIKE …` reads the text
                // `||` makes.)
                let alone = |end: usize| {
                    let start = if end >= 2 && toks[end - 1].is(Kind::Punct, ".") {
                        end - 2
                    } else {
                        end
                    };
                    toks[start].kind == Kind::Ident
                        && (start == 0
                            || toks[start - 1].kind == Kind::Keyword
                            || toks[start - 1].is(Kind::Punct, "(")
                            || toks[start - 1].is(Kind::Punct, ","))
                };
                if let Some(k) = k {
                    let cast = k >= 2
                        && toks[k - 1].is(Kind::Punct, "::")
                        && matches!(toks[k].kind, Kind::Ident | Kind::Keyword);
                    let bad = if cast {
                        alone(k - 2) && cast_type(toks[k].text).is_some_and(|ty| !is_text(ty))
                    } else {
                        alone(k)
                            && !toks.get(k + 1).is_some_and(|n| n.is(Kind::Punct, "("))
                            && (self.numeric_column(&toks[..=k], &bindings, &visible)
                                || self.time_column(&toks[..=k], &bindings, &visible)
                                || self.boolean_column(&toks[..=k], &bindings, &visible))
                    };
                    problems += usize::from(bad);
                }
            }
            // A cast's type, written whole (`::TEXT`, `::int`).
            if matches!(t.kind, Kind::Ident | Kind::Keyword)
                && t.complete
                && i >= 2
                && toks[i - 1].is(Kind::Punct, "::")
            {
                let ty = cast_type(t.text);
                if name_as_number(i - 2) {
                    problems += 1;
                }
                // `x::INT8::TIME`, `x::INTERVAL::REAL`: a cast of a cast between a number and
                // a date or time, and `x::INT::TEXT[]`, of a scalar that is no text to an
                // array (42846).
                let array = next.is_some_and(|n| n.is(Kind::Punct, "["));
                if i >= 4
                    && toks[i - 3].is(Kind::Punct, "::")
                    && matches!(toks[i - 2].kind, Kind::Ident | Kind::Keyword)
                {
                    let from = cast_type(toks[i - 2].text);
                    let bad = match (from, ty) {
                        (Some(a), Some(b)) => {
                            (is_number(a) && is_time(b))
                                || (is_time(a) && (is_number(b) || b == "boolean"))
                                || (b == "uuid" && !is_text(a) && a != "uuid")
                        }
                        _ => false,
                    };
                    problems += usize::from(bad);
                }
                // `x::BOOL[]`, `t.major::INTEGER[]`: an array made by a cast of anything but
                // its text (`'{1,2}'::INT[]`, judged below) is a random model's, and most such
                // casts do not exist (42846); `x::MONEY` (but a money text, `'12.50'::MONEY`),
                // whose arithmetic and comparisons with numbers do not exist (42883), likewise:
                // no question asks for either.
                let literal =
                    toks[i - 2].kind == Kind::Literal && toks[i - 2].text.starts_with('\'');
                if !literal && (array || ty == Some("money")) {
                    problems += 1;
                }
                // `'abc'::DECIMAL`: a text PostgreSQL cannot read as the number or yes/no it
                // is cast to (22P02, even in EXPLAIN: the constant is folded).
                // (`('x')::TIME` too: the parentheses change nothing.)
                let mut lit = if i >= 4
                    && toks[i - 2].is(Kind::Punct, ")")
                    && toks[i - 4].is(Kind::Punct, "(")
                    // (not a call's: `upper('x')::TIME` is the call's value)
                    && !(i >= 5
                        && (toks[i - 5].kind == Kind::Ident
                            || FUNCTIONS.iter().any(|f| f.eq_ignore_ascii_case(toks[i - 5].text))))
                {
                    i - 3
                } else {
                    i - 2
                };
                // `'abc'::VARCHAR::BIGINT`: a cast to a text keeps the text as it is.
                while lit >= 2
                    && toks[lit - 1].is(Kind::Punct, "::")
                    && matches!(toks[lit].kind, Kind::Ident | Kind::Keyword)
                    // (Not CHAR: without a length it keeps one character, `'12abc'::CHAR`.)
                    && matches!(
                        cast_type(toks[lit].text),
                        Some("text" | "character varying")
                    )
                {
                    lit -= 2;
                }
                // `('abc')::VARCHAR::BIGINT`: the parentheses around the text change nothing
                // (not a call's: `upper('x')::TEXT::INT` is the call's value).
                if lit < i - 2
                    && lit >= 2
                    && toks[lit].is(Kind::Punct, ")")
                    && toks[lit - 2].is(Kind::Punct, "(")
                    && !(lit >= 3
                        && (toks[lit - 3].kind == Kind::Ident
                            || FUNCTIONS
                                .iter()
                                .any(|f| f.eq_ignore_ascii_case(toks[lit - 3].text))))
                {
                    lit -= 1;
                }
                if toks[lit].kind == Kind::Literal && toks[lit].text.starts_with('\'') {
                    let value = toks[lit].text.trim_matches('\'').trim();
                    // `'x'::TEXT[]`: an array's text is written in braces (22P02).
                    let array = next.is_some_and(|n| n.is(Kind::Punct, "["));
                    problems += usize::from(unreadable_as(value, ty, array));
                }
                // `now()::UUID`, `current_date::INTEGER`: a date or time cast to what
                // PostgreSQL has no cast to from one (42846).
                let now_call = i >= 4
                    && toks[i - 2].is(Kind::Punct, ")")
                    && toks[i - 3].is(Kind::Punct, "(")
                    && toks[i - 4].text.eq_ignore_ascii_case("now");
                let time_value = now_call
                    || (matches!(toks[i - 2].kind, Kind::Ident | Kind::Keyword)
                        && CONSTANTS.contains(&toks[i - 2].text.to_ascii_lowercase().as_str()));
                if time_value
                    && ty.is_some_and(|ty| {
                        is_number(ty) || matches!(ty, "boolean" | "uuid" | "money")
                    })
                {
                    problems += 1;
                }
                if toks[i - 2].kind == Kind::Ident {
                    // `invoice_date::INTEGER`, `track_id::DATE`: casts PostgreSQL does not
                    // have between a date or time and a number (42846).
                    let column = &toks[..i - 1];
                    let to_number = ty.is_some_and(|ty| is_number(ty) || ty == "boolean");
                    let to_time = ty.is_some_and(is_time);
                    // (`t.position::UUID`: a number, date or yes/no column to a uuid.)
                    let scalar = |c: &[Tok<'_>]| {
                        self.numeric_column(c, &bindings, &visible)
                            || self.time_column(c, &bindings, &visible)
                            || self.boolean_column(c, &bindings, &visible)
                    };
                    let to_uuid = ty == Some("uuid");
                    if (to_number && self.time_column(column, &bindings, &visible))
                        || (to_time && self.numeric_column(column, &bindings, &visible))
                        || (to_uuid && scalar(column))
                    {
                        problems += 1;
                    }
                    // `= p.name::TEXT` against an integer: the cast decides the right side's
                    // type.
                    let col = i - 2;
                    let col = if col >= 2 && toks[col - 1].is(Kind::Punct, ".") {
                        col - 2
                    } else {
                        col
                    };
                    if let (Some(end), Some(ty)) = (compared_column(&toks[..col]), ty) {
                        let left = self.columns_of(&toks[..end], &bindings, &visible);
                        problems += usize::from(never_compare(&left, &[ty]));
                    }
                }
            }
            if t.kind == Kind::Ident
                && t.complete
                && !next.is_some_and(|n| n.is(Kind::Punct, "(") || n.is(Kind::Punct, "."))
            {
                let operand = if i >= 2 && toks[i - 1].is(Kind::Punct, ".") {
                    i - 2
                } else {
                    i
                };
                let cast = next.is_some_and(|n| n.kind == Kind::Punct && n.text.starts_with(':'));
                if concat_at(operand) && !cast && self.key_column(&toks[..=i], &bindings, &visible)
                {
                    problems += 1;
                }
                // `ON a.album_id = p.name`: two columns of types PostgreSQL has no operator for
                // (42883), judged when the right one ends (a cast after it is free). Columns of
                // one name are left to PostgreSQL: that is a join on a shared key, which a
                // database's foreign keys give one type (Spider's schemas, typed loosely, do
                // not, and their answers join so).
                if let Some(end) = compared_column(&toks[..operand]).filter(|_| !cast) {
                    let left = self.columns_of(&toks[..end], &bindings, &visible);
                    let right = self.columns_of(&toks[..=i], &bindings, &visible);
                    let same_name = left.iter().any(|a| right.iter().any(|b| a.name == b.name));
                    let types: Vec<&str> = right.iter().map(|b| b.data_type.as_str()).collect();
                    problems += usize::from(!same_name && never_compare(&left, &types));
                }
                // `char_length(x) <> t.name`: a call's result and a column of types
                // PostgreSQL has no operator for (42883).
                if let Some(ty) = compared_call(&toks[..operand]).filter(|_| {
                    !cast && whole_operand(next, end) && !stack[qi].tables.contains(&None)
                }) {
                    let right = self.columns_of(&toks[..=i], &bindings, &visible);
                    problems += usize::from(never_compare(&right, &[ty]));
                }
                // The right side of a binary operator (after a name, a literal or `)`).
                let binary = operand >= 2
                    && arithmetic(operand - 1)
                    && (matches!(toks[operand - 2].kind, Kind::Ident | Kind::Literal)
                        || toks[operand - 2].is(Kind::Punct, ")"));
                if in_select && binary && self.key_column(&toks[..=i], &bindings, &visible) {
                    problems += 1;
                }
                if binary && !cast && self.text_column(&toks[..=i], &bindings, &visible) {
                    problems += 1;
                }
                // A key column as an item of the answer's own SELECT list (`SELECT t.track_id,
                // t.media_type_id, …`) when the question asks for no id: keys are how the
                // model's junk lists start, and a reader wants names, not numbers. Counted,
                // inside a call, in a subquery or a CTE, a key is free.
                if stack.len() == 1
                    && in_select
                    && stack[qi]
                        .item_start
                        .and_then(|st| s.get(st..t.end))
                        .is_some_and(bare_column)
                    && self.key_column(&toks[..=i], &bindings, &visible)
                    && !self
                        .asks_for_key(&t.name(), &self.tables_of(&toks[..=i], &bindings, &visible))
                {
                    problems += 1;
                }
            }
            // The same rule while the name is written: a name that can only become such a
            // key is refused at once (`SELECT artist_`), not after it is whole, when the model
            // could only take it back token by token.
            if t.kind == Kind::Ident
                && !t.complete
                && stack.len() == 1
                && in_select
                && stack[qi]
                    .item_start
                    .and_then(|st| s.get(st..t.end))
                    .is_some_and(bare_column)
                && self.only_keys_ahead(&toks[..=i], &bindings, &visible)
            {
                problems += 1;
            }
            // `ON o.a = o.`: every column after that qualifier compares the FROM item with
            // itself (below); refused at the qualifier.
            if stack[qi].on_cond && same_item_qualifier(&toks, i) {
                problems += 1;
            }
            // `'abc' = TRUE`, `'a' NOT BETWEEN 'b' AND TRUE`: a text read as a yes/no it is
            // not (22P02), judged once the right operand is whole.
            if t.complete && whole_operand(next, end) && text_against_truth(&toks[..=i]) {
                problems += 1;
            }
            match t.kind {
                Kind::Punct if t.text == "(" => {
                    let mut l = Level::new(false);
                    ids += 1;
                    l.id = ids;
                    let prev = i.checked_sub(1).and_then(|p| toks.get(p));
                    l.using = prev.is_some_and(|p| p.is(Kind::Keyword, "USING"));
                    l.names_only = l.using || bindings.iter().any(|b| b.at + 1 == i);
                    // `JOIN genre g (id, label)`: the item's columns are renamed, so what the
                    // level's columns are is not known here.
                    if l.names_only && !l.using && stack[qi].clause == Clause::From {
                        stack[qi].opaque = true;
                    }
                    l.start = t.start;
                    l.list = prev.is_some_and(|p| opens_list(p, t));
                    l.derived = stack[qi].clause == Clause::From
                        && prev.is_some_and(|p| {
                            p.is(Kind::Keyword, "FROM")
                                || p.is(Kind::Keyword, "JOIN")
                                || p.is(Kind::Punct, ",")
                        });
                    // A derived table inside a derived table: the model copying its own
                    // query into FROM, level after level.
                    if l.derived && stack.iter().any(|o| o.derived) {
                        problems += 1;
                    }
                    // (What a column list after this item renames is not the item before it.)
                    if l.derived {
                        stack[qi].last_item = None;
                    }
                    stack.push(l);
                }
                Kind::Punct if t.text == ")" && stack.len() > 1 => {
                    if let Some(mut l) = stack.pop() {
                        // The same subquery twice (`(SELECT artist_id FROM track)` as one
                        // select item and again as another).
                        if let Some(parent) = stack.last().filter(|_| l.query && t.complete) {
                            let key = (
                                parent.id,
                                parent.clause,
                                s.get(l.start..t.end).unwrap_or_default(),
                            );
                            if subqueries.contains(&key) {
                                problems += 1;
                            }
                            subqueries.push(key);
                        }
                        // `AS s (a, b)`: the list renames the item's columns.
                        if let Some(parent) = stack.last_mut().filter(|p| {
                            l.names_only && !l.using && p.clause == Clause::From && t.complete
                        }) {
                            let list: Vec<String> = toks[..i]
                                .iter()
                                .filter(|x| {
                                    x.start > l.start
                                        && matches!(x.kind, Kind::Ident | Kind::Keyword)
                                })
                                .map(|x| x.name())
                                .collect();
                            if parent.rename_last(&list) {
                                problems += 1;
                            }
                            // (The derived table the list is after: `) s (` or `) AS s (`.)
                            let open = toks.iter().rposition(|x| x.start == l.start);
                            if let Some(entry) = open.and_then(|o| {
                                derived
                                    .iter_mut()
                                    .find(|(close, _)| *close + 2 == o || *close + 3 == o)
                            }) {
                                match &parent.last_item {
                                    Some(renamed) => entry.1.clone_from(renamed),
                                    None => entry.1.clear(),
                                }
                            }
                        }
                        problems += self.on_misses_joined(&toks, &mut l, i, &bindings);
                        problems += close_list(s, &mut l, t.start, &self.catalog);
                        problems += self.list_ended(&l, &bindings);
                        problems +=
                            self.close_from(&mut l, &stack, |q| bound_before(q, i, &visible));
                        problems += ungrouped(&l);
                        // A branch of a set operation in parentheses (`UNION (SELECT …)`,
                        // `UNION ((SELECT …))`): matched with the first branch; and kept, in
                        // case it is the first branch (`(SELECT …) UNION …`).
                        let items = if l.query {
                            l.selected.clone()
                        } else {
                            std::mem::take(&mut l.last_child)
                        };
                        let before = toks.iter().rposition(|x| x.start < l.start);
                        // `WITH c (a, b) AS (SELECT x …)`: a CTE's column list names more
                        // columns than its body gives (42P10); a `*` is not counted here.
                        let open = before.map_or(0, |k| k + 1);
                        let cte_list = bindings
                            .iter()
                            .find(|b| b.cte && cte_body(&toks, b.at) == Some(open))
                            .map_or(0, |b| list_width(&toks, b.at));
                        if !items.is_empty()
                            && !items.iter().any(|x| x.ends_with('*'))
                            && cte_list > items.len()
                        {
                            problems += 1;
                        }
                        let after = before.map(|k| &toks[k]);
                        let set_word = |k: usize| {
                            toks.get(k).is_some_and(|a| {
                                a.kind == Kind::Keyword
                                    && matches!(a.text, "UNION" | "INTERSECT" | "EXCEPT")
                            })
                        };
                        // `UNION (`, `UNION ALL (`; not `>= ALL (SELECT …)`.
                        let branch = before.is_some_and(|k| {
                            set_word(k)
                                || (matches!(toks[k].text, "ALL" | "DISTINCT")
                                    && k > 0
                                    && set_word(k - 1))
                        });
                        let wrapped = after.is_some_and(|a| a.is(Kind::Punct, "("));
                        if let Some(parent) = stack.last_mut().filter(|_| !items.is_empty()) {
                            if branch && parent.set_op && !parent.branch.is_empty() {
                                problems += unmatched(&parent.branch, &items, &self.catalog);
                            }
                            if l.query || wrapped || branch {
                                parent.last_child = items;
                            }
                        }
                        // `(SELECT … ORDER BY a)` as the whole query of its level: a FETCH
                        // after it may take WITH TIES (not after a set operation).
                        if let Some(parent) = stack.last_mut().filter(|p| {
                            l.query && l.ordered && p.clause == Clause::Other && !p.set_op
                        }) {
                            parent.ordered = true;
                        }
                        // A derived table: its columns are its SELECT items' names, when
                        // the text tells each (not after a set operation, whose names are
                        // its first branch's).
                        if let Some(parent) = stack
                            .last_mut()
                            .filter(|p| l.query && p.query && p.clause == Clause::From)
                        {
                            // (A subquery in an ON condition is no FROM item: not judged.)
                            let names: Option<Vec<String>> =
                                (!l.set_op && !parent.on_cond && !l.selected_names.is_empty())
                                    .then(|| l.selected_names.iter().cloned().collect())
                                    .flatten();
                            if let Some(names) = &names {
                                derived.push((i, names.clone()));
                            }
                            if parent.add_item(None, names) {
                                problems += 1;
                            }
                        } else if let Some(parent) = stack
                            .last_mut()
                            .filter(|p| l.derived && !l.query && p.clause == Clause::From)
                        {
                            // `FROM ((SELECT …)) t`, `FROM ((SELECT …) UNION (SELECT …)) t`:
                            // an item whose columns are not followed here.
                            let _ = parent.add_item(None, None);
                        }
                    }
                }
                Kind::Punct if t.text == "," => {
                    // A row constructor in an expression (`office_id || (city, office_id)`):
                    // no answer needs one, and the model loops through them.
                    if stack
                        .last()
                        .is_some_and(|l| !l.query && !l.list && !l.names_only)
                    {
                        problems += 1;
                    }
                    let top = stack.len() - 1 == qi;
                    let l = &mut stack[qi];
                    if matches!(l.clause, Clause::Select | Clause::Group | Clause::Order) && top {
                        problems += close_item(s, l, t.start, &self.catalog);
                        l.item_start = Some(t.end);
                    }
                    // `FROM a, b`: a cross join unless a WHERE condition links them, which a
                    // small model rarely writes; `FROM invoice_line, invoice, track` ran
                    // until the statement timeout. Joins are written with JOIN … ON.
                    if l.clause == Clause::From && top {
                        problems += 1;
                        l.on_cond = false;
                    }
                }
                Kind::Keyword => {
                    let top = stack.len() - 1;
                    let prev = i.checked_sub(1).and_then(|k| toks.get(k));
                    let clause = match t.text {
                        "SELECT" => Some(Clause::Select),
                        "FROM"
                            if stack[top].query
                                && stack[top].clause == Clause::Select
                                && from_keyword(&toks, i) =>
                        {
                            Some(Clause::From)
                        }
                        "WHERE" => Some(Clause::Where),
                        // `percentile_cont(0.5) WITHIN GROUP (ORDER BY x)` is no GROUP BY.
                        "GROUP" if !prev.is_some_and(|p| p.is(Kind::Keyword, "WITHIN")) => {
                            Some(Clause::Group)
                        }
                        "HAVING" => Some(Clause::Having),
                        "ORDER" => Some(Clause::Order),
                        "LIMIT" | "OFFSET" | "FETCH" | "UNION" | "INTERSECT" | "EXCEPT"
                        | "WINDOW" => Some(Clause::Other),
                        _ => None,
                    };
                    match clause {
                        Some(c) => {
                            let (outer, own) = stack.split_at_mut(top);
                            let l = &mut own[0];
                            problems += self.on_misses_joined(&toks, l, i, &bindings);
                            problems += close_list(s, l, t.start, &self.catalog);
                            problems += self.list_ended(l, &bindings);
                            if l.clause == Clause::From || c == Clause::Other {
                                problems +=
                                    self.close_from(l, outer, |q| bound_before(q, i, &visible));
                            }
                            l.on_cond = false;
                            // A question that asks for an order: a LIMIT before any sort keeps
                            // the rows a sort should have chosen, and no ORDER BY can follow it.
                            // (The answer's own level; a subquery may take any rows.)
                            if ordered
                                && top == 0
                                && matches!(t.text, "LIMIT" | "FETCH" | "OFFSET")
                                && !l.ordered
                            {
                                problems += 1;
                            }
                            if c == Clause::Group {
                                l.grouped = true;
                            }
                            l.ordered |= c == Clause::Order;
                            if matches!(c, Clause::Having | Clause::Order | Clause::Other) {
                                problems += ungrouped(l);
                                // Counted once.
                                l.grouped |= l.aggregates > 0 && l.plain > 0;
                            }
                            if c == Clause::Select {
                                l.query = true;
                            }
                            if matches!(t.text, "UNION" | "INTERSECT" | "EXCEPT") {
                                // The first branch's items, for the later branches' types:
                                // this level's own SELECT, or a query in parentheses just
                                // before.
                                if l.branch.is_empty() && !l.selected.is_empty() {
                                    let width = self.width(&l.selected, l.id, &bindings);
                                    l.branch_width = width;
                                }
                                if l.branch.is_empty() {
                                    l.branch = if !l.selected.is_empty() {
                                        l.selected.clone()
                                    } else if prev.is_some_and(|p| p.is(Kind::Punct, ")")) {
                                        l.last_child.clone()
                                    } else {
                                        Vec::new()
                                    };
                                }
                                l.selected.clear();
                                l.selected_names.clear();
                                // The next branch is a SELECT of its own.
                                // (Its output names stay: ORDER BY after the last branch
                                // may use the first branch's.)
                                l.tables.clear();
                                l.pending_refs.clear();
                                l.merges = 0;
                                l.columns.clear();
                                l.natural = false;
                                l.opaque = false;
                                l.unknown = false;
                                l.last_item = None;
                                l.distinct_on = false;
                                l.set_op = true;
                                l.ordered = false;
                                ids += 1;
                                l.id = ids;
                                l.aggregates = 0;
                                l.plain = 0;
                                l.grouped = false;
                            }
                            l.clause = c;
                            l.items.clear();
                            l.names.clear();
                            let body = if matches!(c, Clause::Group | Clause::Order) {
                                // After `GROUP BY` / `ORDER BY`.
                                toks.get(i + 1).filter(|n| n.is(Kind::Keyword, "BY"))
                            } else {
                                Some(t)
                            };
                            l.item_start = body.map(|b| b.end);
                        }
                        // `FETCH FIRST n ROWS WITH TIES` without an ORDER BY: PostgreSQL
                        // refuses it (42601); refused from the `W`.
                        None if "WITH".starts_with(t.text)
                            && !stack[top].ordered
                            && stack[top].clause == Clause::Other
                            && prev.is_some_and(|p| {
                                p.is(Kind::Keyword, "ROWS") || p.is(Kind::Keyword, "ROW")
                            }) =>
                        {
                            problems += 1;
                        }
                        // An ON condition is a chain like WHERE's: no item twice in it.
                        None if t.text == "ON" && stack[top].clause == Clause::From => {
                            // `SELECT name … FROM track JOIN genre ON`: a column the SELECT
                            // list named bare is in two FROM items (42702), and a join with ON
                            // merges no columns; refused at its ON (`USING (name)` may follow
                            // the table, and would merge it).
                            problems += self.ambiguous_pending(&stack[top]);
                            let l = &mut stack[top];
                            l.on_cond = true;
                            l.on_tok = Some(i + 1);
                            l.joined = bindings
                                .iter()
                                .rposition(|b| b.at < i && b.level == l.id && !b.cte);
                            l.items.clear();
                            l.item_start = Some(t.end);
                        }
                        // The next join ends the ON condition before it (judged at its
                        // JOIN: `ON LEFT(a.x, 1) = …` is a call, not a join).
                        None if t.text == "JOIN" => {
                            let l = &mut stack[top];
                            problems += self.on_misses_joined(&toks, l, i, &bindings);
                            problems += close_list(s, l, t.start, &self.catalog);
                            l.on_cond = false;
                        }
                        None if matches!(t.text, "AND" | "OR") => {
                            let l = &mut stack[top];
                            // `x BETWEEN a AND b`: that AND is the range's own.
                            let between = t.text == "AND"
                                && l.item_start.and_then(|st| s.get(st..t.start)).is_some_and(
                                    |item| {
                                        let outer = outside_parentheses(item);
                                        outer.contains(" BETWEEN ") && !outer.contains(" AND ")
                                    },
                                );
                            if (matches!(l.clause, Clause::Where | Clause::Having) || l.on_cond)
                                && !between
                            {
                                problems += close_item(s, l, t.start, &self.catalog);
                                l.item_start = Some(t.end);
                            }
                        }
                        // `SELECT t.a, t.b, t.a AS c`: the expression before AS is final, and
                        // equal to an earlier item it is that item twice (the alias after it
                        // could otherwise grow for ever before the item is judged).
                        None if matches!(t.text, "NATURAL" | "USING")
                            && stack[top].clause == Clause::From =>
                        {
                            stack[top].merges += 1;
                            stack[top].natural |= t.text == "NATURAL";
                        }
                        None if t.text == "ON"
                            && stack[top].clause == Clause::Select
                            && prev.is_some_and(|p| p.is(Kind::Keyword, "DISTINCT")) =>
                        {
                            stack[top].distinct_on = true;
                        }
                        None if t.text == "AS"
                            && top == qi
                            && stack[top].clause == Clause::Select =>
                        {
                            let l = &stack[top];
                            if let Some(item) = l.item_start.and_then(|st| s.get(st..t.start)) {
                                let item = item.trim();
                                if !item.is_empty() && l.items.iter().any(|x| x == item) {
                                    problems += 1;
                                }
                            }
                        }
                        None => {}
                    }
                }
                // An aggregate or a window function in WHERE, ON or GROUP BY (`WHERE count(*)
                // > 3`, `WHERE row_number() OVER (…) <= 3`): PostgreSQL refuses it (HAVING is
                // where an aggregate goes, a subquery where a window's row number is kept).
                Kind::Ident
                    if next.is_some_and(|n| n.is(Kind::Punct, "("))
                        && (AGGREGATES.contains(&t.text.to_lowercase().as_str())
                            || matches!(
                                signature(&t.text.to_lowercase()),
                                Some((Call::Window | Call::OrderedSet, _, _))
                            ))
                        && matches!(
                            stack[qi].clause,
                            Clause::Where | Clause::From | Clause::Group
                        ) =>
                {
                    problems += 1;
                }
                // `invoice_date > 10`: a number against a date, time or interval column has no
                // operator (42883); refused at its first digit, so the model writes a date or
                // compares another column.
                Kind::Literal
                    if t.text.starts_with(|c: char| c.is_ascii_digit())
                        && compared_column(&toks[..i]).is_some_and(|end| {
                            self.time_column(&toks[..end], &bindings, &visible)
                        }) =>
                {
                    problems += 1;
                    if t.complete {
                        literals.push(t.text.to_string());
                    }
                }
                // `artist_id = 'AC/DC'`: text against a number column fails at run time;
                // refused at its opening quote, so the model picks another column or value.
                Kind::Literal
                    if t.text.starts_with('\'')
                        && compared_column(&toks[..i]).is_some_and(|end| {
                            self.numeric_column(&toks[..end], &bindings, &visible)
                        }) =>
                {
                    problems += 1;
                    if t.complete {
                        literals.push(t.text.to_string());
                    }
                }
                // `discontinued = 'abc'`: a text PostgreSQL cannot read as the yes/no column
                // it is compared with (22P02); `length(name) = 'abc'`, as the number a call
                // gives (22P02).
                // (Only a whole operand on both sides, and beside FROM items whose columns are
                // known: `name || discontinued = 'x'`, `discontinued = 'a' LIKE 'a%'` and a
                // CTE's `discontinued` are other things.)
                Kind::Literal
                    if t.complete
                        && t.text.starts_with('\'')
                        && whole_operand(next, end)
                        && !stack[qi].tables.contains(&None)
                        && (compared_column(&toks[..i]).is_some_and(|end| {
                            !yes_or_no(t.text.trim_matches('\''))
                                && starts_operand(&toks[..end])
                                && self.boolean_column(&toks[..end], &bindings, &visible)
                        }) || compared_call(&toks[..i]).is_some_and(|ty| {
                            is_number(ty)
                                && t.text.trim_matches('\'').trim().parse::<f64>().is_err()
                        })) =>
                {
                    problems += 1;
                    literals.push(t.text.to_string());
                }
                Kind::Literal if t.complete => {
                    // `INTERVAL 'checkout'`, `DATE '2010'`: a typed constant PostgreSQL
                    // cannot read (22007).
                    let typed = i >= 1
                        && matches!(toks[i - 1].kind, Kind::Keyword | Kind::Ident)
                        && cast_type(toks[i - 1].text).is_some_and(is_time)
                        && !(i >= 2 && toks[i - 2].is(Kind::Punct, "::"));
                    if typed
                        && t.text.starts_with('\'')
                        && !reads_as_time(t.text.trim_matches('\''))
                    {
                        problems += 1;
                    }
                    // `floor('abc')`, `sqrt('x')`: a text a number function reads as a number
                    // (22P02); `avg('1')`: no function takes an untyped text (42725).
                    // (Judged at the `)` or `,` after it: `sum('1'::numeric)` casts it.)
                    let alone =
                        next.is_some_and(|n| n.is(Kind::Punct, ")") || n.is(Kind::Punct, ","));
                    if t.text.starts_with('\'')
                        && alone
                        && i >= 2
                        && toks[i - 1].is(Kind::Punct, "(")
                    {
                        let f = toks[i - 2].text.to_ascii_lowercase();
                        let value = t.text.trim_matches('\'').trim().to_ascii_lowercase();
                        // (`'0x1F'` is left to PostgreSQL: 16 reads hexadecimal, 15 does not.)
                        let number = value.parse::<f64>().is_ok()
                            || ["0x", "0o", "0b"].iter().any(|p| value.starts_with(p));
                        if toks[i - 2].kind == Kind::Ident
                            && ((NUMBER_FUNCTIONS.contains(&f.as_str()) && !number)
                                || matches!(f.as_str(), "avg" | "sum"))
                        {
                            problems += 1;
                        }
                    }
                    let value = t.text.trim_matches('\'').to_lowercase();
                    if literals.contains(&t.text.to_string())
                        && !matches!(value.as_str(), "0" | "1")
                        && !self.question.contains(&value)
                    {
                        problems += 1;
                    }
                    literals.push(t.text.to_string());
                }
                Kind::Ident => {
                    let prev = i.checked_sub(1).and_then(|p| toks.get(p));
                    if self.text_against_number((&toks, i), &bindings, &visible) {
                        problems += 1;
                    }
                    if let Some(l) = stack.last().filter(|l| l.using) {
                        problems += self.using_column(t, &stack[qi].tables, stack[qi].merges > 1);
                        // `USING (playlist_id, playlist_id)`: PostgreSQL refuses it (42701).
                        let earlier = toks[..i]
                            .iter()
                            .rev()
                            .take_while(|e| e.start > l.start)
                            .any(|e| e.kind == Kind::Ident && e.name() == t.name());
                        if t.complete && earlier {
                            problems += 1;
                        }
                        if t.complete {
                            stack[qi].merge(&t.name());
                        }
                    }
                    // `FROM sales.orders`: a schema, not a qualifier.
                    let schema = prev.is_some_and(|p| {
                        p.is(Kind::Keyword, "FROM")
                            || p.is(Kind::Keyword, "JOIN")
                            // (Not a comma of a list in parentheses: `AS s (a, b)`,
                            // `USING (a, b)`.)
                            || (p.is(Kind::Punct, ",")
                                && stack[qi].clause == Clause::From
                                && stack.len() - 1 == qi)
                    });
                    let qualifier = next
                        .is_some_and(|n| n.is(Kind::Punct, ".") && n.start == t.end)
                        && !prev.is_some_and(|p| p.is(Kind::Punct, "."))
                        && !schema;
                    let table_position = schema
                        || (prev.is_some_and(|p| p.is(Kind::Punct, "."))
                            && i.checked_sub(3).and_then(|k| toks.get(k)).is_some_and(|k| {
                                k.is(Kind::Keyword, "FROM")
                                    || k.is(Kind::Keyword, "JOIN")
                                    || k.is(Kind::Punct, ",")
                            }));
                    let followed = next.is_some_and(|n| {
                        n.is(Kind::Punct, ".") && n.start == t.end || n.is(Kind::Punct, "(")
                    });
                    let after = prev.is_some_and(|p| {
                        p.is(Kind::Punct, ".")
                            || p.is(Kind::Punct, "::")
                            || p.is(Kind::Keyword, "AS")
                    });
                    let cte = starts_cte(&toks, i);
                    let name = t.name();
                    // `AS track_id_track_id`: a name after AS that repeats two words in a row
                    // (or one word three times) is the model looping inside a name.
                    // So is a name of a FROM item's column list (`AS s (select_countr_y_from_
                    // s_from_s_s)`, Gemma's).
                    let renames = stack.last().is_some_and(|l| {
                        l.names_only && !l.using && stack[qi].clause == Clause::From
                    });
                    if (prev.is_some_and(|p| p.is(Kind::Keyword, "AS")) || renames)
                        && words_repeated(&name, t.complete)
                    {
                        problems += 1;
                    }
                    if stack.len() - 1 == qi
                        && stack[qi].clause == Clause::From
                        && !stack[qi].on_cond
                    {
                        // The chosen table an alias here would stand for.
                        let owner = match prev {
                            Some(p) if p.kind == Kind::Ident => self.table_named(&p.name()),
                            Some(p) if p.is(Kind::Keyword, "AS") => i
                                .checked_sub(2)
                                .and_then(|k| toks.get(k))
                                .filter(|k| k.kind == Kind::Ident)
                                .and_then(|k| self.table_named(&k.name())),
                            _ => None,
                        };
                        problems += self.pending_alias(
                            t,
                            (i, &visible),
                            (prev, next, schema, owner),
                            &stack[qi],
                            &bindings,
                        );
                    }
                    problems += self.off_value_column(&toks, i, &stack[qi], &bindings, &visible);
                    problems +=
                        self.unnamed_number_column(&toks, i, &stack[qi], &bindings, &visible);
                    // The first FROM item, a chosen table being named: it must hold a column
                    // the SELECT list named bare (`SELECT sum(total) FROM invoice_line` for
                    // `invoice`: the model then adds joins for ever, looking for `total`).
                    if table_position
                        && !followed
                        && stack.len() - 1 == qi
                        && stack[qi].clause == Clause::From
                        && stack[qi].tables.is_empty()
                    {
                        // (A CTE's name being written is free.)
                        let cte = bindings.iter().any(|b| {
                            b.cte
                                && b.at < i
                                && (b.name == name || (!t.complete && b.name.starts_with(&name)))
                        });
                        if !cte {
                            problems += self.first_table_lacks(&name, t.complete, &stack[qi]);
                            if qi == 0 {
                                problems += self.first_table_extends_named(&name, t.complete);
                                problems +=
                                    self.first_table_not_named(&name, t.complete, &stack[qi]);
                            }
                        }
                    }
                    // A FROM item's name: a chosen table or a CTE defined before it, or, while
                    // it is being written, a start of one (or of a chosen table's schema).
                    if !followed && stack[qi].clause == Clause::From && !stack[qi].on_cond {
                        match self.at_from_item(&toks, i) {
                            Some(false) => problems += 1,
                            Some(true)
                                if !self.names_a_from_item(
                                    &name,
                                    t.complete,
                                    (i, &toks),
                                    &bindings,
                                ) =>
                            {
                                problems += 1;
                            }
                            _ => {}
                        }
                    }
                    if table_position && !followed && t.complete && stack[qi].clause == Clause::From
                    {
                        // A FROM item: a chosen table, or a name (a CTE) whose columns are
                        // not known here. A table a fourth time in one FROM list is a loop
                        // (`JOIN playlist_track p1 … JOIN playlist_track p2 …`), not a
                        // question's answer (three times is a manager's manager).
                        let id = self.table_named(&name);
                        if id.is_some()
                            && stack[qi].tables.iter().filter(|t| **t == id).count() >= 3
                        {
                            problems += 1;
                        }
                        let columns = id
                            .and_then(|t| self.catalog.tables.get(t))
                            .map(|t| t.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>());
                        if stack[qi].add_item(id, columns) {
                            problems += 1;
                        }
                    } else if t.complete
                        && stack[qi].clause == Clause::Select
                        && prev.is_some_and(|p| p.is(Kind::Keyword, "AS"))
                    {
                        stack[qi].outputs.push(name.clone());
                    } else if t.complete
                        && !qualifier
                        && !followed
                        && !after
                        && !cte
                        && !table_position
                        && !bindings.iter().any(|b| b.at == i)
                        && !stack.last().is_some_and(|l| l.names_only)
                        && !CONSTANTS.contains(&name.as_str())
                    {
                        // An unqualified column.
                        let (outer, own) = stack.split_at_mut(qi);
                        let l = &mut own[0];
                        match l.clause {
                            Clause::Select => {
                                // (A named window, `OVER w`, and an output name in `DISTINCT
                                // ON (…)` are no columns.)
                                let window = prev.is_some_and(|p| p.is(Kind::Keyword, "OVER"));
                                if !window
                                    && !l.distinct_on
                                    && !self.may_be_column(&name, (&toks, i), &bindings)
                                {
                                    problems += 1;
                                }
                                l.pending_columns.push(name.clone());
                            }
                            // Before a SELECT (`WITH c AS`), after LIMIT: no column here.
                            Clause::Other => {}
                            c => {
                                let outputs = matches!(c, Clause::Order | Clause::Group);
                                if self.column_known(&name, l, outer, outputs) == Some(false) {
                                    problems += 1;
                                }
                                // `… JOIN genre g ON … WHERE name = 'Rock'`: a name two FROM
                                // items have (42702); the model qualifies it instead. GROUP BY
                                // reads input columns first, as PostgreSQL does; ORDER BY is
                                // not judged (it takes output names first, which `t.name`,
                                // `t.name::text`, `t.*` or a set operation's first branch
                                // give without an AS).
                                if c != Clause::Order && self.ambiguous(&name, l) {
                                    problems += 1;
                                }
                            }
                        }
                    } else if !t.complete
                        && !after
                        && !table_position
                        && !prev.is_some_and(|p| p.kind == Kind::Ident)
                        && !stack.last().is_some_and(|l| l.names_only)
                        && !self.may_become_name(&name, (&stack, qi), (&toks, i), &bindings)
                    {
                        // A name being written where a column stands that no column, function,
                        // table or alias starts with (`ON invoice_line…` when neither table has
                        // such a column): refused now, while other words can still follow.
                        problems += 1;
                    }
                    if qualifier {
                        let q = t.name();
                        // A short alias (`a`, `ar`, `t1`) or a chosen table's name: what a
                        // FROM list still to come may define.
                        let may_come = q.chars().count() <= 3 || self.table_named(&q).is_some();
                        // The enclosing query whose SELECT list this subquery is in, before
                        // its FROM list: a correlated subquery's qualifier waits for that.
                        let waiting = stack[..qi]
                            .iter()
                            .rposition(|o| o.query)
                            .filter(|&o| stack[o].clause == Clause::Select);
                        let l = &mut stack[qi];
                        if l.clause == Clause::Select {
                            // Written before FROM.
                            if !may_come && !bound_before(&q, i, &visible) {
                                problems += 1;
                            }
                            l.pending.push(q.clone());
                        } else if !bound_before(&q, i, &visible) {
                            match waiting.filter(|_| may_come) {
                                Some(o) => {
                                    stack[o].pending.push(q.clone());
                                    if let Some(col) = toks.get(i + 2).filter(|c| {
                                        c.kind == Kind::Ident && c.complete && c.start == t.end + 1
                                    }) {
                                        stack[o].pending_refs.push((q.clone(), col.name()));
                                    }
                                }
                                None => problems += 1,
                            }
                        }
                        // The columns of the derived table it names, if it names one (not in
                        // a SELECT list before its FROM, which may bind its own `t`).
                        let of_derived =
                            derived_columns(&derived, (&toks, i), &bindings, &visible, &q)
                                .filter(|_| stack[qi].clause != Clause::Select);
                        // A column being written after it must be the start of one it can be.
                        if let Some(part) = toks.get(i + 2).filter(|c| {
                            c.kind == Kind::Ident && !c.complete && c.start == t.end + 1
                        }) {
                            let part = part.name();
                            let fits = |table: &crate::ask::catalog::Table| {
                                table.columns.iter().any(|c| c.name.starts_with(&part))
                            };
                            let possible = match self.table_of(&q, (i, &visible), &bindings) {
                                Some(table) => fits(table),
                                None if of_derived.is_some() => of_derived
                                    .is_some_and(|n| n.iter().any(|c| c.starts_with(&part))),
                                None => {
                                    // With the qualifier's earlier columns.
                                    let earlier = &stack[qi].pending_refs;
                                    bindings.iter().any(|b| b.name == q)
                                        || bindings.iter().any(|b| b.table.is_none())
                                        || self.catalog.tables.iter().any(|t| {
                                            fits(t)
                                                && earlier
                                                    .iter()
                                                    .filter(|(p, _)| *p == q)
                                                    .all(|(_, c)| t.column(c).is_some())
                                        })
                                }
                            };
                            if !possible {
                                problems += 1;
                            }
                        }
                        // The column after it.
                        if let Some(col) = toks.get(i + 2).filter(|c| {
                            c.kind == Kind::Ident
                                && c.complete
                                && c.start == t.end + 1
                                && !toks.get(i + 3).is_some_and(|n| n.is(Kind::Punct, "("))
                        }) {
                            let col = col.name();
                            if stack[qi].clause == Clause::Select {
                                stack[qi].pending_refs.push((q.clone(), col.clone()));
                            }
                            if let Some(table) = self.table_of(&q, (i, &visible), &bindings) {
                                if table.column(&col).is_none() {
                                    problems += 1;
                                }
                            } else if let Some(names) = of_derived {
                                // `t.total` after `(SELECT count(*) AS n …) t` (42703).
                                if !names.contains(&col) {
                                    problems += 1;
                                }
                            } else if !bindings.iter().any(|b| b.name == q)
                                && bindings.iter().all(|b| b.table.is_some())
                            {
                                // A qualifier not defined yet, in a query without CTEs or
                                // derived tables: its columns must be one chosen table's
                                // (`e.invoice_line_id, e.customer_id` fits none).
                                let cols: Vec<&str> = stack[qi]
                                    .pending_refs
                                    .iter()
                                    .filter(|(p, _)| *p == q)
                                    .map(|(_, c)| c.as_str())
                                    .chain(std::iter::once(col.as_str()))
                                    .collect();
                                if !self
                                    .catalog
                                    .tables
                                    .iter()
                                    .any(|t| cols.iter().all(|c| t.column(c).is_some()))
                                {
                                    problems += 1;
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        problems += self_comparisons(&toks);
        problems += equated_twice(&toks);
        // The open item of a SELECT list, GROUP BY or ORDER BY naming one column twice, or
        // a SELECT item a column two earlier ones name (at the end, closing the item counts
        // it).
        if let Some((l, item)) = stack.iter().rev().find(|l| l.query && !end).and_then(|l| {
            matches!(l.clause, Clause::Select | Clause::Group | Clause::Order)
                .then_some(l.item_start?)
                .and_then(|st| s.get(st..))
                .map(|item| (l, item))
        }) {
            problems += usize::from(
                repeated_column(item, false)
                    || (l.clause == Clause::Select
                        && (column_in_third_item(&l.items, item, false) || compared_chain(item))),
            );
        }
        if end {
            while let Some(mut l) = stack.pop() {
                let visible: Vec<usize> = stack.iter().chain([&l]).map(|l| l.id).collect();
                problems += self.on_misses_joined(&toks, &mut l, toks.len(), &bindings);
                problems += close_list(s, &mut l, s.len(), &self.catalog);
                problems += self.list_ended(&l, &bindings);
                problems += self.close_from(&mut l, &stack, |q| {
                    bindings
                        .iter()
                        .any(|b| b.name == q && b.seen_from(&visible))
                });
                problems += ungrouped(&l);
            }
            if crate::ask::guard::names_resolve(s, &self.catalog).is_err() {
                problems += 1;
            }
            problems += self.conditions_unmet(&toks);
            if ordered && !sorts(&toks) {
                problems += 1;
            }
            problems += self.years_unmet(s);
        }
        problems += self.keys_against_numbers(&toks, &bindings);
        problems
    }

    /// The FROM list of a level ended: every qualifier its SELECT list used must be defined,
    /// and every unqualified column must be one of its tables' (or an enclosing query's).
    fn close_from(&self, l: &mut Level, outer: &[Level], bound: impl Fn(&str) -> bool) -> usize {
        // (A bare SELECT-list column two FROM items have, as at a join's ON.)
        let mut n = l.pending.iter().filter(|q| !bound(q)).count() + self.ambiguous_pending(l);
        l.pending.clear();
        l.pending_refs.clear();
        let columns = std::mem::take(&mut l.pending_columns);
        n += columns
            .iter()
            .filter(|c| self.column_known(c, l, outer, false) == Some(false))
            .count();
        n
    }
}

/// Functions of numbers only: a text literal as their first argument must be one.
pub(super) const NUMBER_FUNCTIONS: &[&str] = &[
    "abs", "ceil", "ceiling", "floor", "power", "sqrt", "mod", "sign", "trunc", "round", "ln",
    "log", "exp", "stddev", "variance",
];

/// The text before a cast's type still being written and that type's start in upper case,
/// when `s` ends with one (`x::inte` gives `x::` and `INTE`).
fn partial_type(s: &str) -> Option<(&str, String)> {
    let word = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    (word.len() < s.len() && word.ends_with("::"))
        .then(|| (word, s[word.len()..].to_ascii_uppercase()))
}

/// Whether PostgreSQL cannot read the text `value` as type `ty` (22P02, 22007; even in
/// EXPLAIN, where the constant is folded): not a number as a number, not a yes/no as a
/// boolean, nothing like a date as a date or time, and as an array (`array`) anything not in
/// braces.
fn unreadable_as(value: &str, ty: Option<&str>, array: bool) -> bool {
    match ty {
        _ if array => !(value.starts_with('{') && value.ends_with('}')),
        Some("boolean") => !yes_or_no(value),
        Some("money") => value
            .trim_start_matches('-')
            .trim_start_matches('$')
            .replace(',', "")
            .parse::<f64>()
            .is_err(),
        Some(ty) if comparable(ty, "integer") => value.parse::<f64>().is_err(),
        // `'checkout'::INTERVAL`, `'2010'::DATE` (22007).
        Some(ty) if is_time(ty) => !reads_as_time(value),
        _ => false,
    }
}

/// Whether PostgreSQL can compare or merge columns of types `a` and `b` (as information_schema
/// spells them) without a cast: the same family (text, number, date and time, boolean), or a
/// type this check does not know (PostgreSQL judges those).
fn comparable(a: &str, b: &str) -> bool {
    fn family(d: &str) -> Option<u8> {
        // `character varying(40)`, `numeric(10,2)`, `timestamp(3) with time zone`: the name
        // without its modifier; a domain or any other type by its own name is not known.
        let mut name = String::with_capacity(d.len());
        let mut depth = 0usize;
        for c in d.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ if depth == 0 => name.push(c),
                _ => {}
            }
        }
        match name.trim() {
            "text" | "character varying" | "character" | "citext" | "name" => Some(0),
            "smallint" | "integer" | "bigint" | "numeric" | "real" | "double precision" => Some(1),
            "date" | "timestamp without time zone" | "timestamp with time zone" => Some(2),
            "time without time zone" | "time with time zone" => Some(4),
            "boolean" => Some(3),
            "money" => Some(5),
            // A time compares with an interval (PostgreSQL casts the time).
            "interval" => Some(4),
            _ => None,
        }
    }
    match (family(a), family(b)) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

/// Where the column compared with what follows `toks` ends (exclusive), when `toks` end with
/// `col =`, `col <>`, `col >=` and the like.
fn compared_column(toks: &[Tok<'_>]) -> Option<usize> {
    let end = comparison_at(toks)?;
    (end >= 1 && toks[end - 1].kind == Kind::Ident).then_some(end)
}

/// Where the comparison operator that `toks` end with (`=`, `<>`, `>=`, `!=`, …) starts.
fn comparison_at(toks: &[Tok<'_>]) -> Option<usize> {
    let n = toks.len();
    let op = |k: usize| {
        toks.get(k)
            .is_some_and(|t| t.kind == Kind::Punct && matches!(t.text, "=" | "<" | ">" | "!"))
    };
    if n >= 2 && op(n - 1) && op(n - 2) {
        Some(n - 2)
    } else if n >= 1 && op(n - 1) {
        Some(n - 1)
    } else {
        None
    }
}

/// Whether the name (or qualified name, or call) that `toks` ends with starts an operand: what
/// comes before it opens one (`(`, `,`, WHERE, AND, ON, …), not an operator it is the right
/// side of (`name || discontinued`).
fn starts_operand(toks: &[Tok<'_>]) -> bool {
    let n = toks.len();
    let first = if n >= 3 && toks[n - 2].is(Kind::Punct, ".") {
        n - 3
    } else {
        n.saturating_sub(1)
    };
    let Some(before) = first.checked_sub(1).and_then(|k| toks.get(k)) else {
        return true;
    };
    before.is(Kind::Punct, "(")
        || before.is(Kind::Punct, ",")
        || [
            "WHERE", "AND", "OR", "NOT", "ON", "HAVING", "WHEN", "THEN", "ELSE", "SELECT",
        ]
        .iter()
        .any(|w| before.is(Kind::Keyword, w))
}

/// The columns of the derived table the qualifier `q` at `toks[i]` names, when the text tells
/// them (`derived`: each derived table's `)` and its columns' names, empty when not known).
fn derived_columns<'a>(
    derived: &'a [(usize, Vec<String>)],
    (toks, i): (&[Tok<'_>], usize),
    bindings: &[Binding],
    visible: &[usize],
    q: &str,
) -> Option<&'a [String]> {
    // (Only a name the query binds once: a subquery's SELECT list may name its own `t` before
    // the FROM that binds it, and models give every derived table the same alias.)
    let mut named = bindings.iter().filter(|b| b.name == q);
    let b = named.next().filter(|_| named.next().is_none())?;
    if !b.seen_from(visible) || b.table.is_some() || b.cte || b.at >= i {
        return None;
    }
    derived
        .iter()
        .find(|(close, names)| {
            !names.is_empty()
                && (*close + 1 == b.at
                    || (*close + 2 == b.at
                        && toks
                            .get(close + 1)
                            .is_some_and(|a| a.is(Kind::Keyword, "AS"))))
        })
        .map(|(_, names)| names.as_slice())
}

/// Whether the `*` at `toks[i]` is a SELECT item (`SELECT *`, `, t.*`), not a product or
/// `count(*)`.
fn star_item(toks: &[Tok<'_>], i: usize) -> bool {
    let opens = |k: usize| {
        toks[k].is(Kind::Keyword, "SELECT")
            || toks[k].is(Kind::Keyword, "DISTINCT")
            || toks[k].is(Kind::Punct, ",")
    };
    (i >= 1 && opens(i - 1))
        || (i >= 3
            && toks[i - 1].is(Kind::Punct, ".")
            && toks[i - 2].kind == Kind::Ident
            && opens(i - 3))
}

/// Whether a subquery in parentheses after `before` stands for one value: the right side of
/// IN, ANY, ALL, SOME, a comparison, arithmetic or `||`.
fn takes_a_value(before: &Tok<'_>) -> bool {
    (before.kind == Kind::Keyword && matches!(before.text, "IN" | "ANY" | "ALL" | "SOME"))
        || (before.kind == Kind::Punct
            && matches!(
                before.text,
                "=" | "<" | ">" | "!" | "+" | "-" | "*" | "/" | "%" | "|"
            ))
}

/// Whether the token `n` after an operand goes on with it (`x || …`, `x - …`, `x LIKE …`,
/// `x IN …`): what is compared is then more than the operand.
fn continues_operand(n: &Tok<'_>) -> bool {
    let word = n.text.to_ascii_uppercase();
    (n.kind == Kind::Punct
        && matches!(
            n.text,
            "::" | "|"
                | "+"
                | "-"
                | "*"
                | "/"
                | "%"
                | "^"
                | "["
                | ":"
                | "~"
                | "!"
                | "@"
                | "&"
                | "#"
        ))
        || (matches!(n.kind, Kind::Keyword | Kind::Ident)
            && !word.is_empty()
            && [
                "LIKE", "ILIKE", "SIMILAR", "IN", "BETWEEN", "IS", "COLLATE", "AT", "NOT",
            ]
            .iter()
            .any(|w| w.starts_with(&word)))
}

/// Whether an operand followed by `next` (`None`: the text ends there) is whole: the text goes
/// on past it with something that does not continue it, or ends (`end`). Judged one token
/// late, so `price || ''` is not taken for `price`.
fn whole_operand(next: Option<&Tok<'_>>, end: bool) -> bool {
    match next {
        Some(n) => !continues_operand(n),
        None => end,
    }
}

/// The type a call gives (as information_schema spells it) when the tokens end with one and a
/// comparison operator after it (`char_length(x) <>`); `None` for a call this does not know.
fn compared_call(toks: &[Tok<'_>]) -> Option<&'static str> {
    let end = comparison_at(toks)?;
    if end < 3 || !toks[end - 1].is(Kind::Punct, ")") {
        return None;
    }
    // The call's `(`: the one that closes at `end - 1`.
    let mut depth = 0usize;
    let mut open = None;
    for k in (0..end).rev() {
        if toks[k].is(Kind::Punct, ")") {
            depth += 1;
        } else if toks[k].is(Kind::Punct, "(") {
            depth -= 1;
            if depth == 0 {
                open = Some(k);
                break;
            }
        }
    }
    let at = open?.checked_sub(1)?;
    let f = toks.get(at)?;
    // The call must be the whole left operand (`'x' || length(n) =` compares a text).
    if !matches!(f.kind, Kind::Ident | Kind::Keyword) || !starts_operand(&toks[..=at]) {
        return None;
    }
    Some(match f.text.to_ascii_lowercase().as_str() {
        "length" | "char_length" | "strpos" => "integer",
        "count" => "bigint",
        // (Not `lower`/`upper`: of a range they give its bound.)
        "initcap" | "trim" | "ltrim" | "rtrim" | "btrim" | "replace" | "concat" | "concat_ws"
        | "left" | "right" | "split_part" | "lpad" | "rpad" | "reverse" | "repeat" | "md5"
        | "to_char" | "substr" | "substring" => "text",
        "sqrt" | "floor" | "ceil" | "ceiling" | "power" | "ln" | "log" | "exp" | "sign" => {
            "double precision"
        }
        "to_date" | "make_date" => "date",
        _ => return None,
    })
}

/// Whether `toks[k]` is a FROM that starts a FROM clause: not the one of `a IS [NOT] DISTINCT
/// FROM b`.
fn from_keyword(toks: &[Tok<'_>], k: usize) -> bool {
    toks.get(k).is_some_and(|t| t.is(Kind::Keyword, "FROM"))
        && !(k > 0 && toks[k - 1].is(Kind::Keyword, "DISTINCT"))
}

/// Whether the parenthesis `open` after `p` holds a call's arguments or a list (`f(a, b)`,
/// `ROUND(x, 2)`, `NUMERIC(10, 2)`, `IN (1, 2)`, `OVER (PARTITION BY a, b)`), not a row
/// constructor (`x || (a, b)`).
fn opens_list(p: &Tok<'_>, open: &Tok<'_>) -> bool {
    p.kind == Kind::Ident
        || (p.kind == Kind::Keyword
            && (p.end == open.start
                || matches!(
                    p.text,
                    "IN" | "VALUES" | "ROLLUP" | "CUBE" | "SETS" | "OVER" | "FILTER" | "ON"
                )))
}

/// Whether `toks[i]` starts a comparison: `=`, `<`, `>`, `!=`, `IN`, `LIKE`, `ILIKE`, `BETWEEN`.
fn comparison(toks: &[Tok<'_>], i: usize) -> bool {
    let op = |t: &Tok<'_>| t.kind == Kind::Punct && matches!(t.text, "=" | "<" | ">" | "!");
    let t = &toks[i];
    (op(t) && !i.checked_sub(1).is_some_and(|p| op(&toks[p])))
        || (t.kind == Kind::Keyword
            && matches!(
                t.text,
                "IN" | "LIKE" | "ILIKE" | "BETWEEN" | "NOT" | "AND" | "OR"
            ))
}

/// Whether a select item so far is inside a CASE it has not ended.
fn in_case(item: &str) -> bool {
    let toks = lex(item);
    let count = |w: &str| toks.iter().filter(|t| t.is(Kind::Keyword, w)).count();
    count("CASE") > count("END")
}

/// Whether the AND `t` after a select item so far is a `BETWEEN a AND b`'s own.
fn awaits_range_end(item: &str, t: &Tok<'_>) -> bool {
    t.text == "AND"
        && item
            .rfind(" BETWEEN ")
            .is_some_and(|k| !item[k..].contains(" AND "))
}

/// Whether a column's name makes it a row's name: `name`, `title` or `…_name`.
fn name_column(name: &str) -> bool {
    name == "name" || name == "title" || name.ends_with("_name")
}

/// Whether a column's name makes it a key: `id` or `…_id`. (The scope's catalog has no foreign
/// keys, and a primary key such as `year` or `date` is a measure too: the name decides.)
fn key_name(name: &str) -> bool {
    name == "id" || name.ends_with("_id")
}

/// Whether a select item so far is one column and nothing else (`a`, `t.a`, `"A"`).
fn bare_column(item: &str) -> bool {
    let item = item.trim();
    !item.is_empty()
        && !item.starts_with(|c: char| c.is_ascii_digit())
        && item.bytes().any(|b| b.is_ascii_lowercase() || b == b'"')
        && item
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'"') || b >= 0x80)
}

mod aliases;
mod averages;
mod columns;
mod conditions;
mod constants;
mod cte;
mod fallback;
mod items;
mod lexer;
pub mod memo;
mod question;
mod repeats;
mod tails;
mod value_choice;
mod year_numbers;

/// Whether `toks` ends with a cast to a text or boolean type (`::TEXT`, `::VARCHAR(77)`,
/// `::CHARACTER VARYING`, `::BOOL`), whose value no arithmetic operator takes.
fn cast_to_text_or_bool(toks: &[Tok<'_>]) -> bool {
    cast_end_type(toks).is_some_and(|ty| is_text(ty) || ty == "boolean")
}

/// The type `toks` end with a cast to (`x::TEXT`, `x::VARCHAR(77)`, `x::CHARACTER VARYING`,
/// `x::DOUBLE PRECISION`), as information_schema spells it.
fn cast_end_type(toks: &[Tok<'_>]) -> Option<&'static str> {
    let mut k = toks.len();
    // A length: `(77)`.
    if k >= 3
        && toks[k - 1].is(Kind::Punct, ")")
        && toks[k - 2].kind == Kind::Literal
        && toks[k - 3].is(Kind::Punct, "(")
    {
        k -= 3;
    }
    // `CHARACTER VARYING`, `DOUBLE PRECISION`: the type's first word is judged.
    if k >= 2
        && (toks[k - 1].text.eq_ignore_ascii_case("varying")
            || toks[k - 1].text.eq_ignore_ascii_case("precision"))
    {
        k -= 1;
    }
    if k >= 2 && toks[k - 2].is(Kind::Punct, "::") {
        cast_type(toks[k - 1].text)
    } else {
        None
    }
}

/// Whether PostgreSQL has no operator `op` (`*`, `/` or `%`) with a left operand of type `ty`:
/// a date, timestamp or time has none of them, an interval no `%`, a real or double
/// precision no `%` (42883).
fn no_product_for(op: &str, ty: &str) -> bool {
    if ty.starts_with("interval") || ty == "real" || ty.starts_with("double precision") {
        op == "%"
    } else {
        is_time(ty)
    }
}

/// Whether `toks` ends with a text literal that holds no digit, no special date, time or
/// number word (`'now'`, `'today'`, `'infinity'`, `'NaN'`, …) and no JSON (`'{}'`), with no
/// type keyword before it (`DATE 'today'`, `JSONB '["a"]'`): no arithmetic operator reads it
/// as a number, a date or an interval.
fn wordy_literal(toks: &[Tok<'_>]) -> bool {
    let Some(lit) = toks.last() else {
        return false;
    };
    if lit.kind != Kind::Literal || !lit.text.starts_with('\'') {
        return false;
    }
    let inner = lit.text.trim_matches('\'').trim().to_lowercase();
    // (A JSON object or array is a jsonb's: `'{}' - t.id::TEXT`.)
    let special = items::SPECIAL_TIMES.contains(&inner.as_str())
        || ["nan", "inf", "-inf"].contains(&inner.as_str())
        || inner.starts_with('{')
        || inner.starts_with('[');
    let typed = toks.len() >= 2 && {
        let t = toks[toks.len() - 2].text;
        cast_type(t).is_some()
            || ["zone", "json", "jsonb", "inet", "cidr", "pg_lsn"]
                .iter()
                .any(|w| t.eq_ignore_ascii_case(w))
    };
    !special && !typed && !inner.bytes().any(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests;
