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
//! - a `USING (c)` column is in the table just joined and in one before it;
//! - the first FROM item, when it is a chosen table, holds a column the SELECT list named
//!   bare, if it named any and no qualifier (`SELECT sum(total) FROM invoice_line` is refused
//!   at `_line`);
//! - a key column (`id`, `…_id`) on either side of `||` (`artist_id || (SELECT …`), or of
//!   `+ - * / %` in a SELECT list (`track_id * 100`);
//! - a name after AS repeating two words in a row (`AS track_id_track_id`);
//! - the model's loops: a select item that is a bare column compared with something
//!   (`t.a = t.b, t.a = t.c, …`), one column twice in one SELECT, GROUP BY or ORDER BY item
//!   outside calls (`x || x`), a row constructor in an expression (`x || (a, b)`), the same
//!   subquery twice, a derived table inside a derived table;
//! - a FROM item (right after FROM or JOIN, outside a call's parentheses and ON conditions)
//!   names a chosen table or a CTE written before it (`FROM zzz` is refused as soon as no such
//!   name starts with it, inside a CTE too);
//! - the answer's first FROM table does not extend the name of the one chosen table the
//!   question names (`FROM invoice_line` for "how many invoices");
//! - a key column is not ordered against a number the question does not name (`track_id > 1`
//!   for "more than one dollar");
//! - at the end, every name resolves (the guard's own resolver over the chosen tables),
//!   every value the question names that the database holds is used in a string literal, and
//!   every year it names (or the one next to it) is written in the query.
//!
//! The check works on the text alone (a small lexer and a stack of query levels), so it holds
//! for any model and tokenizer. Problems that the text already had are not counted against the
//! next token: [`Scope::rejects`] compares the count before and after it.

use serde::{Deserialize, Serialize};

use crate::ask::catalog::{Catalog, TableId};
use crate::ask::generate::grammar::{signature, Call, AGGREGATES, FUNCTIONS};
use crate::ask::generate::shape::NUMBER_WORDS;

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
    /// The question asks for an order ("the most tracks", "the ten longest", "highest
    /// first"): the answer must sort (ORDER BY) or take a maximum or minimum before it ends.
    #[serde(default)]
    pub ordered: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ident,
    Keyword,
    Literal,
    Punct,
}

#[derive(Debug, Clone, Copy)]
struct Tok<'a> {
    kind: Kind,
    text: &'a str,
    start: usize,
    end: usize,
    /// False for a token that reaches the end of the text and could still grow.
    complete: bool,
}

impl Tok<'_> {
    fn is(&self, kind: Kind, text: &str) -> bool {
        self.kind == kind && self.text == text
    }

    /// The identifier's name: quotes removed, unquoted names folded to lower case.
    fn name(&self) -> String {
        match self.text.strip_prefix('"') {
            Some(q) => q.strip_suffix('"').unwrap_or(q).replace("\"\"", "\""),
            None => self.text.to_lowercase(),
        }
    }
}

fn lex(s: &str) -> Vec<Tok<'_>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            // A comment (a metric's name before its expression): no token, even unclosed.
            i = s[i + 2..].find("*/").map_or(b.len(), |end| i + 2 + end + 2);
            continue;
        }
        let start = i;
        let (kind, closed) = if c == b'\'' || c == b'"' {
            // A literal or a quoted identifier; a doubled quote stays inside.
            i += 1;
            let mut closed = false;
            while i < b.len() {
                if b[i] == c {
                    if b.get(i + 1) == Some(&c) {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    closed = true;
                    break;
                }
                i += 1;
            }
            // A closing quote at the very end may still become a doubled one.
            (
                if c == b'\'' {
                    Kind::Literal
                } else {
                    Kind::Ident
                },
                closed && i < b.len(),
            )
        } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80) {
                i += 1;
            }
            let w = &s[start..i];
            let keyword = w.bytes().any(|x| x.is_ascii_uppercase())
                && !w.bytes().any(|x| x.is_ascii_lowercase());
            (
                if keyword { Kind::Keyword } else { Kind::Ident },
                i < b.len(),
            )
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            (Kind::Literal, i < b.len())
        } else {
            i += 1;
            if c == b':' && b.get(i) == Some(&b':') {
                i += 1;
            }
            (Kind::Punct, true)
        };
        out.push(Tok {
            kind,
            text: &s[start..i],
            start,
            end: i,
            complete: closed,
        });
    }
    out
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
            last_child: Vec::new(),
            selected: Vec::new(),
            on_cond: false,
            on_tok: None,
            joined: None,
            items: Vec::new(),
            item_start: None,
        }
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

/// Words PostgreSQL reserves (of up to six letters, the grammar's alias length): as an alias
/// they make the query fail to parse (`FROM customer order`).
const RESERVED: &[&str] = &[
    "all", "and", "any", "array", "as", "asc", "both", "case", "cast", "check", "cross", "desc",
    "do", "else", "end", "except", "false", "fetch", "for", "from", "full", "grant", "group",
    "having", "ilike", "in", "inner", "into", "is", "join", "left", "like", "limit", "not", "null",
    "offset", "on", "only", "or", "order", "outer", "right", "select", "some", "table", "then",
    "to", "true", "union", "unique", "user", "using", "when", "where", "window", "with",
];

/// Keywords that follow a FROM item, which the model glues to a one-letter alias (`ajoin`);
/// short ones are left out, since `con` (`c` + `on`) is a fine alias.
const GLUED: &[&str] = &[
    "join", "left", "right", "inner", "full", "cross", "where", "group", "order", "limit", "union",
];

/// A name the query defines for a FROM item: a table's own name, an alias, a CTE name.
struct Binding {
    name: String,
    /// An unquoted reserved word: the query cannot parse.
    reserved: bool,
    at: usize,
    /// The query level (one parenthesis level or one branch of a set operation) it is
    /// defined in.
    level: usize,
    /// The chosen table it stands for, if it is one.
    table: Option<TableId>,
    /// A CTE's name: seen from every level after it.
    cte: bool,
}

impl Binding {
    /// Whether the binding can be seen from a query level whose enclosing levels (itself
    /// included) are `visible`.
    fn seen_from(&self, visible: &[usize]) -> bool {
        self.cte || visible.contains(&self.level)
    }
}

impl Scope {
    /// The scope of `tables` of `full`, for `question`.
    pub fn new(full: &Catalog, tables: &[TableId], question: &str) -> Scope {
        let mut catalog = Catalog {
            database: full.database.clone(),
            fingerprint: String::new(),
            tables: Vec::new(),
        };
        for &t in tables {
            let Some(table) = full.tables.get(t) else {
                continue;
            };
            let mut table = table.clone();
            table.comment = None;
            table.foreign_keys.clear();
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
            ordered: false,
        }
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

    /// Whether the question asks for the key `column` (of one of `tables`) as an answer
    /// column: it asks for ids (`ids of …`, `customer id`, `identifier`), or it names the
    /// key's table (`invoice` for `invoice_id`, or for `id` of `invoices`) and that table has
    /// no name to show instead (`name`, `title`, `…_name`: `each media type` wants
    /// `media_type.name`, but an invoice is known by its number).
    fn asks_for_key(&self, column: &str, tables: &[&crate::ask::catalog::Table]) -> bool {
        let ids = self
            .question
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| matches!(w, "id" | "ids" | "identifier" | "identifiers"));
        let labelled = |t: &crate::ask::catalog::Table| {
            t.columns
                .iter()
                .any(|c| c.name == "name" || c.name == "title" || c.name.ends_with("_name"))
        };
        let named = |stem: &str| {
            let words = stem.replace('_', " ");
            let one = words
                .strip_suffix("ies")
                .map(|w| format!("{w}y"))
                .or_else(|| words.strip_suffix('s').map(str::to_string))
                .unwrap_or_else(|| words.clone());
            self.question.contains(&words) || self.question.contains(&one)
        };
        let column = column.to_lowercase();
        // `invoice_id`: the table `invoice`; `id`: the table it is the id of.
        let stems: Vec<(String, Option<&crate::ask::catalog::Table>)> =
            match column.strip_suffix("_id").filter(|s| !s.is_empty()) {
                Some(stem) => {
                    let t = self
                        .table_named(stem)
                        .and_then(|t| self.catalog.tables.get(t));
                    vec![(stem.to_string(), t)]
                }
                None => tables
                    .iter()
                    .map(|t| (t.name.to_lowercase(), Some(*t)))
                    .collect(),
            };
        let per_row = stems
            .iter()
            .any(|(stem, t)| !t.is_some_and(labelled) && named(stem));
        ids || per_row
    }

    /// The chosen tables the column reference `toks` ends with can belong to: its
    /// qualifier's, or, unqualified or with a qualifier not defined yet, every chosen table
    /// with that column; none for a CTE's or derived table's qualifier, whose columns are not
    /// known here.
    fn tables_of(
        &self,
        toks: &[Tok<'_>],
        bindings: &[Binding],
        visible: &[usize],
    ) -> Vec<&crate::ask::catalog::Table> {
        let Some(col) = toks.last() else {
            return Vec::new();
        };
        let name = col.name();
        let n = toks.len();
        let qualified = n >= 3 && toks[n - 2].is(Kind::Punct, ".");
        let q = qualified.then(|| toks[n - 3].name());
        match q
            .as_ref()
            .and_then(|q| self.table_of(q, (n - 3, visible), bindings))
        {
            Some(t) => vec![t],
            None if q
                .as_ref()
                .is_some_and(|q| bindings.iter().any(|b| &b.name == q)) =>
            {
                Vec::new()
            }
            None => self
                .catalog
                .tables
                .iter()
                .filter(|t| t.column(&name).is_some())
                .collect(),
        }
    }

    /// One problem when a GROUP BY list has just ended (`l.items`) without a column the
    /// SELECT list shows bare (`SELECT artist.name, count(*) … GROUP BY track_id`: PostgreSQL
    /// refuses it, 42803). A column is covered by itself (qualified or not) or by its table's
    /// primary key (PostgreSQL's functional dependency). Lists by position (`GROUP BY 1`) or
    /// by output name, and columns of a CTE or derived table, are not judged.
    fn group_misses(&self, l: &Level, bindings: &[Binding]) -> usize {
        if l.clause != Clause::Group || !l.query || l.items.is_empty() {
            return 0;
        }
        // Names compared without quotes or case (lenient: a false match only lets through a
        // query that PostgreSQL then judges).
        let norm = |s: &str| s.trim().replace('"', "").to_lowercase();
        let split = |item: &str| -> (Option<String>, String) {
            let item = norm(item);
            match item.rsplit_once('.') {
                Some((q, c)) => (Some(q.to_string()), c.to_string()),
                None => (None, item),
            }
        };
        // By position, by output name, by an expression or a grouping set (`ROLLUP (…)`): not
        // judged.
        let not_judged = l.items.iter().any(|g| {
            g.trim().bytes().all(|b| b.is_ascii_digit())
                || l.outputs.iter().any(|o| norm(o) == norm(g))
                || !bare_column(g)
        });
        if not_judged {
            return 0;
        }
        let groups: Vec<(Option<String>, String)> = l.items.iter().map(|g| split(g)).collect();
        let missing = l
            .selected
            .iter()
            .filter(|item| bare_column(item))
            .any(|item| {
                let (q, c) = split(item);
                let named = groups
                    .iter()
                    .any(|(gq, gc)| *gc == c && (gq == &q || gq.is_none() || q.is_none()));
                // The primary key of the item's table (unqualified items are not judged).
                let keyed = match &q {
                    None => true,
                    Some(q) => {
                        // This level's own FROM item (an enclosing query's is not judged).
                        let table = bindings
                            .iter()
                            .find(|b| norm(&b.name) == *q && b.level == l.id)
                            .map(|b| b.table);
                        match table {
                            Some(Some(t)) => match self.catalog.tables.get(t) {
                                Some(t) if !t.primary_key.is_empty() => {
                                    t.primary_key.iter().all(|k| {
                                        groups.iter().any(|(gq, gc)| {
                                            *gc == norm(k)
                                                && (gq.as_deref() == Some(q.as_str())
                                                    || gq.is_none())
                                        })
                                    })
                                }
                                _ => true,
                            },
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

    /// The number of problems in `s` (see the module docs); `end`: nothing follows.
    pub fn problems(&self, s: &str, end: bool) -> usize {
        self.count(s, end, self.ordered)
    }

    /// [`Self::problems`], with the question's order demand ([`Self::ordered`]) as `ordered`.
    fn count(&self, s: &str, end: bool, ordered: bool) -> usize {
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
        // The same FROM name twice at one level (`FROM t, t`).
        problems += bindings
            .iter()
            .enumerate()
            .filter(|(k, b)| {
                bindings[..*k]
                    .iter()
                    .any(|e| e.name == b.name && e.level == b.level && b.table.is_some())
            })
            .count();
        let mut stack = vec![Level::new(true)];
        let mut literals: Vec<String> = Vec::new();
        let mut subqueries: Vec<(usize, Clause, &str)> = Vec::new();
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
            let in_select = stack.len() - 1 == qi && stack[qi].clause == Clause::Select;
            // Whether the word `w` starts the answer's own first select item.
            let opens_answer = |w: &Tok<'_>| {
                in_select
                    && qi == 0
                    && matches!(w.kind, Kind::Ident | Kind::Keyword)
                    && stack[qi].items.is_empty()
                    && stack[qi]
                        .item_start
                        .and_then(|st| s.get(st..w.start))
                        .is_some_and(|before| before.trim().is_empty())
            };
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
            // `invoice_line_id IS NOT FALSE`: a truth test of a column that is not boolean
            // (PostgreSQL: 42804), the start of a list of such tests.
            if t.kind == Kind::Keyword && matches!(t.text, "TRUE" | "FALSE" | "UNKNOWN") {
                let is = match i.checked_sub(1).map(|k| &toks[k]) {
                    Some(p) if p.is(Kind::Keyword, "NOT") => i.checked_sub(2),
                    _ => i.checked_sub(1),
                }
                .filter(|&k| toks[k].is(Kind::Keyword, "IS"));
                // The column alone before IS (`a = b IS TRUE` tests the comparison).
                let alone = |k: usize| {
                    let first = if k >= 3 && toks[k - 2].is(Kind::Punct, ".") {
                        k - 3
                    } else {
                        k - 1
                    };
                    first == 0
                        || toks[first - 1].is(Kind::Punct, "(")
                        || toks[first - 1].is(Kind::Punct, ",")
                        || [
                            "SELECT", "WHERE", "AND", "OR", "ON", "HAVING", "WHEN", "THEN", "ELSE",
                        ]
                        .iter()
                        .any(|w| toks[first - 1].is(Kind::Keyword, w))
                };
                if let Some(k) =
                    is.filter(|&k| k >= 1 && toks[k - 1].kind == Kind::Ident && alone(k))
                {
                    let before = &toks[..k];
                    if self.text_column(before, &bindings, &visible)
                        || self.numeric_column(before, &bindings, &visible)
                    {
                        problems += 1;
                    }
                }
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
            // A cast's type, written whole (`::TEXT`, `::int`).
            if matches!(t.kind, Kind::Ident | Kind::Keyword)
                && t.complete
                && i >= 2
                && toks[i - 1].is(Kind::Punct, "::")
            {
                let ty = cast_type(t.text);
                // `'abc'::DECIMAL`: a text PostgreSQL cannot read as the number or yes/no it
                // is cast to (22P02, even in EXPLAIN: the constant is folded).
                if toks[i - 2].kind == Kind::Literal && toks[i - 2].text.starts_with('\'') {
                    let value = toks[i - 2].text.trim_matches('\'').trim();
                    // `'x'::TEXT[]`: an array's text is written in braces (22P02).
                    let array = next.is_some_and(|n| n.is(Kind::Punct, "["));
                    let bad = match ty {
                        _ if array => !(value.starts_with('{') && value.ends_with('}')),
                        Some("boolean") => !yes_or_no(value),
                        Some("money") => value
                            .trim_start_matches('-')
                            .trim_start_matches('$')
                            .replace(',', "")
                            .parse::<f64>()
                            .is_err(),
                        Some(ty) if comparable(ty, "integer") => value.parse::<f64>().is_err(),
                        _ => false,
                    };
                    problems += usize::from(bad);
                }
                // `= p.name::TEXT` against an integer: the cast decides the right side's type.
                if toks[i - 2].kind == Kind::Ident {
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
                // The right side of a binary operator (after a name, a literal or `)`).
                let binary = operand >= 2
                    && arithmetic(operand - 1)
                    && (matches!(toks[operand - 2].kind, Kind::Ident | Kind::Literal)
                        || toks[operand - 2].is(Kind::Punct, ")"));
                if in_select && binary && self.key_column(&toks[..=i], &bindings, &visible) {
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
            match t.kind {
                Kind::Punct if t.text == "(" => {
                    let mut l = Level::new(false);
                    ids += 1;
                    l.id = ids;
                    let prev = i.checked_sub(1).and_then(|p| toks.get(p));
                    l.using = prev.is_some_and(|p| p.is(Kind::Keyword, "USING"));
                    l.names_only = l.using || bindings.iter().any(|b| b.at + 1 == i);
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
                        problems += self.on_misses_joined(&toks, &mut l, i, &bindings);
                        problems += close_list(s, &mut l, t.start, &self.catalog);
                        problems += self.group_misses(&l, &bindings);
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
                        // A derived table: its columns are not known here.
                        if let Some(parent) = stack
                            .last_mut()
                            .filter(|p| l.query && p.query && p.clause == Clause::From)
                        {
                            parent.tables.push(None);
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
                            problems += self.group_misses(l, &bindings);
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
                                // The next branch is a SELECT of its own.
                                // (Its output names stay: ORDER BY after the last branch
                                // may use the first branch's.)
                                l.tables.clear();
                                l.pending_refs.clear();
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
                Kind::Literal if t.complete => {
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
                    if let Some(l) = stack.last().filter(|l| l.using) {
                        problems += self.using_column(t, &stack[qi].tables);
                        // `USING (playlist_id, playlist_id)`: PostgreSQL refuses it (42701).
                        let earlier = toks[..i]
                            .iter()
                            .rev()
                            .take_while(|e| e.start > l.start)
                            .any(|e| e.kind == Kind::Ident && e.name() == t.name());
                        if t.complete && earlier {
                            problems += 1;
                        }
                    }
                    // `FROM sales.orders`: a schema, not a qualifier.
                    let schema = prev.is_some_and(|p| {
                        p.is(Kind::Keyword, "FROM")
                            || p.is(Kind::Keyword, "JOIN")
                            || (p.is(Kind::Punct, ",") && stack[qi].clause == Clause::From)
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
                    if prev.is_some_and(|p| p.is(Kind::Keyword, "AS"))
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
                            (prev, schema, owner),
                            &stack[qi],
                            &bindings,
                        );
                    }
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
                        stack[qi].tables.push(id);
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
                            Clause::Select => l.pending_columns.push(name.clone()),
                            // Before a SELECT (`WITH c AS`), after LIMIT: no column here.
                            Clause::Other => {}
                            c => {
                                let outputs = matches!(c, Clause::Order | Clause::Group);
                                if self.column_known(&name, l, outer, outputs) == Some(false) {
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
        // The open item of a SELECT list, GROUP BY or ORDER BY naming one column twice (at
        // the end, closing the item counts it).
        if let Some(item) = stack.iter().rev().find(|l| l.query && !end).and_then(|l| {
            matches!(l.clause, Clause::Select | Clause::Group | Clause::Order)
                .then_some(l.item_start?)
                .and_then(|st| s.get(st..))
        }) {
            problems += usize::from(repeated_column(item, false));
        }
        if end {
            while let Some(mut l) = stack.pop() {
                let visible: Vec<usize> = stack.iter().chain([&l]).map(|l| l.id).collect();
                problems += self.on_misses_joined(&toks, &mut l, toks.len(), &bindings);
                problems += close_list(s, &mut l, s.len(), &self.catalog);
                problems += self.group_misses(&l, &bindings);
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
            // In any string literal, in any case (`ILIKE '%brazil%'` uses it too).
            let texts: Vec<String> = toks
                .iter()
                .filter(|t| t.kind == Kind::Literal && t.text.starts_with('\''))
                .map(|t| t.text.replace("''", "'").to_lowercase())
                .collect();
            problems += self
                .values
                .iter()
                .filter(|v| {
                    let v = v.to_lowercase();
                    !texts.iter().any(|t| t.contains(&v))
                })
                .count();
            if ordered && !sorts(&toks) {
                problems += 1;
            }
            problems += self.years_unmet(s);
        }
        problems += self.keys_against_numbers(&toks, &bindings);
        problems
    }

    /// Each year the question names ("in 2023") is written in the query (`'2023-01-01'`,
    /// `= 2023`), or, in a question with a range's word, the year next to it ("after 2023":
    /// `'2024-01-01'`): 1 per year missing.
    fn years_unmet(&self, s: &str) -> usize {
        let lower = self.question.to_lowercase();
        let ranged = lower.split(|c: char| !c.is_alphabetic()).any(|w| {
            matches!(
                w,
                "after"
                    | "before"
                    | "since"
                    | "until"
                    | "till"
                    | "through"
                    | "between"
                    | "from"
                    | "to"
                    | "later"
                    | "earlier"
                    | "prior"
                    | "following"
                    | "preceding"
            )
        });
        self.question
            .split(|c: char| !c.is_ascii_digit())
            .filter(|w| w.len() == 4)
            .filter_map(|w| w.parse::<u32>().ok())
            .filter(|y| (1900..2100).contains(y))
            // "after 2023" is `>= '2024-01-01'`, "up to 2024" `< '2025-01-01'`: next to a
            // range's word, the year next to it counts ("in 2023" wants 2023).
            .filter(|&y| {
                let near = if ranged { y - 1..=y + 1 } else { y..=y };
                !near.into_iter().any(|y| s.contains(&y.to_string()))
            })
            .count()
    }

    /// Key columns ordered against a number the question does not name (`track_id > 1` for
    /// "tracks that cost more than one dollar"): an id is no quantity. Equality is free
    /// (`artist_id = 1`, a row picked).
    fn keys_against_numbers(&self, toks: &[Tok<'_>], bindings: &[Binding]) -> usize {
        let number = |t: &Tok<'_>| {
            t.kind == Kind::Literal && t.text.starts_with(|c: char| c.is_ascii_digit())
        };
        // `<`, `>`, `<=`, `>=` (not `<>`).
        let order = |a: Option<&Tok<'_>>, b: Option<&Tok<'_>>| {
            let punct = |t: Option<&Tok<'_>>, x: &str| t.is_some_and(|t| t.is(Kind::Punct, x));
            let one = punct(a, "<") || punct(a, ">");
            one && !(punct(a, "<") && punct(b, ">"))
        };
        let key_at = |k: usize| {
            toks.get(k).is_some_and(|t| {
                t.kind == Kind::Ident
                    && key_name(&t.name())
                    && !bindings.iter().any(|b| b.name == t.name())
            })
        };
        let eq = |k: usize| toks.get(k).is_some_and(|t| t.is(Kind::Punct, "="));
        // The numbers the question names, read only when a key is ordered against one.
        let mut numbers: Option<Vec<String>> = None;
        let mut n = 0;
        for (i, t) in toks.iter().enumerate().filter(|(_, t)| number(t)) {
            // `key > 5`, `key >= 5`; `5 < key`, `5 <= key`; a sign before the number (`> -1`).
            let signed =
                i > 0 && (toks[i - 1].is(Kind::Punct, "-") || toks[i - 1].is(Kind::Punct, "+"));
            let at = if signed { i - 1 } else { i };
            let op = if at > 0 && eq(at - 1) {
                at.checked_sub(2)
            } else {
                at.checked_sub(1)
            };
            let before = op.is_some_and(|op| {
                order(toks.get(op), toks.get(op + 1)) && op > 0 && key_at(op - 1)
            });
            let close = if eq(i + 2) { i + 3 } else { i + 2 };
            let after = order(toks.get(i + 1), toks.get(i + 2)) && key_at(close);
            if !(before || after) {
                continue;
            }
            // (A number still being written may become one the question names.)
            let named = numbers
                .get_or_insert_with(|| question_numbers(&self.question))
                .iter()
                .any(|q| q == t.text || (!t.complete && q.starts_with(t.text)));
            n += usize::from(!named);
        }
        n
    }

    /// The answer's first FROM item, a chosen table being named: when the question names one
    /// chosen table, not one that extends its name and is not named itself (`FROM invoice_line` for
    /// "how many invoices", `FROM product_categories` for "how many products": the model
    /// wrote the named table's word and went on). 1 when it is, or can only become one.
    fn first_table_extends_named(&self, name: &str, complete: bool) -> usize {
        let name = name.to_lowercase();
        let name = name.as_str();
        let stem = |t: &str| t.strip_suffix('s').unwrap_or(t).to_string();
        let tables: Vec<String> = self
            .catalog
            .tables
            .iter()
            .map(|t| t.name.to_lowercase())
            .collect();
        // The tables it can still be, each with the tables whose name it extends (`invoice` +
        // `_line`): when one extends none, it is free (cheap string tests first: this runs
        // for every token once a FROM item is written).
        let could_be: Vec<(&String, Vec<&String>)> = tables
            .iter()
            .filter(|t| {
                if complete {
                    *t == name
                } else {
                    t.starts_with(name)
                }
            })
            .map(|t| {
                let parents = tables
                    .iter()
                    .filter(|n| *n != t && t.starts_with(&format!("{}_", stem(n))))
                    .collect();
                (t, parents)
            })
            .collect();
        if could_be.is_empty() || could_be.iter().any(|(_, parents)| parents.is_empty()) {
            return 0;
        }
        let named: Vec<&String> = tables.iter().filter(|t| self.question_names(t)).collect();
        // A question that names two tables may start at a bridge between them
        // (`FROM singer_in_concert JOIN singer …` for singers and concerts).
        let extends = |(t, parents): &(&String, Vec<&String>)| {
            !named.contains(t) && parents.iter().any(|p| named.contains(p))
        };
        usize::from(named.len() == 1 && could_be.iter().all(extends))
    }

    /// The question's words (it is kept in lower case).
    fn question_words(&self) -> Vec<&str> {
        self.question
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect()
    }

    /// Whether the question asks for an average ("average", "mean") and names no sum ("sum",
    /// or "total" other than in "average total …").
    fn asks_average(&self) -> bool {
        let words = self.question_words();
        let average = |w: &str| matches!(w, "average" | "mean");
        let sum = words.iter().enumerate().any(|(k, w)| {
            matches!(*w, "sum" | "sums")
                || (*w == "total" && !k.checked_sub(1).is_some_and(|p| average(words[p])))
        });
        words.iter().any(|w| average(w)) && !sum
    }

    /// Whether the question asks for things, not an amount: it starts with "which", "who",
    /// "list", "show", "name" or "give" and has no word of a count or an aggregate
    /// ("how many", "number", "total", "average", …).
    fn asks_for_things(&self) -> bool {
        const ASKS: &[&str] = &["which", "who", "list", "show", "name", "give"];
        const AMOUNTS: &[&str] = &[
            "how many",
            "number",
            "numbers",
            "count",
            "counts",
            "total",
            "totals",
            "average",
            "averages",
            "mean",
            "sum",
            "sums",
            "percent",
            "percentage",
            "maximum",
            "minimum",
            "max",
            "min",
            "how much",
            "how long",
            "highest",
            "lowest",
            "earliest",
            "latest",
            "longest",
            "shortest",
            "oldest",
            "newest",
            "youngest",
            "largest",
            "smallest",
            "biggest",
            "most",
            "least",
            "fewest",
            "first",
            "last",
            "recent",
            "revenue",
            "sales",
            "amount",
            "amounts",
            "summary",
            "summarize",
            "statistics",
            "range",
            "string",
        ];
        let words = self.question_words();
        // "more than the average customer" compares with an average; it asks for none.
        let q = format!(" {} ", words.join(" "))
            .replace(" than the average ", " than ")
            .replace(" than average ", " than ");
        words.first().is_some_and(|f| ASKS.contains(f))
            && !AMOUNTS.iter().any(|w| q.contains(&format!(" {w} ")))
    }

    /// Whether the question names the table `table` (its words, `media_type` as "media type",
    /// in the singular or the plural).
    fn question_names(&self, table: &str) -> bool {
        let q: String = self
            .question
            .to_lowercase()
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { ' ' })
            .collect();
        let q = format!(" {} ", q.split_whitespace().collect::<Vec<_>>().join(" "));
        let words = table.replace('_', " ");
        let mut forms = vec![words.clone(), format!("{words}s"), format!("{words}es")];
        if let Some(w) = words.strip_suffix("ies") {
            forms.push(format!("{w}y"));
        } else if let Some(w) = words.strip_suffix('s') {
            forms.push(w.to_string());
        }
        if let Some(w) = words.strip_suffix('y') {
            forms.push(format!("{w}ies"));
        }
        forms
            .iter()
            .filter(|f| !f.trim().is_empty())
            .any(|f| q.contains(&format!(" {f} ")))
    }

    /// 1 when the SELECT list named chosen tables' columns bare and the first FROM item
    /// `name` (or, while it is being written, every chosen table it can still become) holds
    /// none of them. A name that is no chosen table's (a CTE, a schema) is free.
    fn first_table_lacks(&self, name: &str, complete: bool, l: &Level) -> usize {
        // A SELECT list with qualifiers is a join's: its first item may be the partner
        // (`SELECT avg(ranking), t1.first_name FROM players AS t1 JOIN rankings …`).
        if !l.pending.is_empty() {
            return 0;
        }
        let wanted: Vec<&String> = l
            .pending_columns
            .iter()
            .filter(|c| self.catalog.tables.iter().any(|t| t.column(c).is_some()))
            .collect();
        if wanted.is_empty() {
            return 0;
        }
        let mut could_be = self.catalog.tables.iter().filter(|t| {
            let own = t.name.to_lowercase();
            if complete {
                own == name
            } else {
                own.starts_with(name)
            }
        });
        let first = could_be.clone().next();
        usize::from(
            first.is_some() && !could_be.any(|t| wanted.iter().any(|c| t.column(c).is_some())),
        )
    }

    /// The FROM list of a level ended: every qualifier its SELECT list used must be defined,
    /// and every unqualified column must be one of its tables' (or an enclosing query's).
    fn close_from(&self, l: &mut Level, outer: &[Level], bound: impl Fn(&str) -> bool) -> usize {
        let mut n = l.pending.iter().filter(|q| !bound(q)).count();
        l.pending.clear();
        l.pending_refs.clear();
        let columns = std::mem::take(&mut l.pending_columns);
        n += columns
            .iter()
            .filter(|c| self.column_known(c, l, outer, false) == Some(false))
            .count();
        n
    }

    /// Whether an unqualified `name` is a column of the level's FROM items or of an enclosing
    /// query's (or, with `outputs`, an output name of the level); `None` when that cannot be
    /// told (a FROM item whose columns are not known, an enclosing FROM not written yet).
    fn column_known(
        &self,
        name: &str,
        own: &Level,
        outer: &[Level],
        outputs: bool,
    ) -> Option<bool> {
        self.column_matching(|c| c == name, own, outer, outputs)
    }

    /// Whether the unfinished word `part`, at the query level `qi` of `stack`, can still become
    /// a name that stands where a column does: a column of the level's tables (or an enclosing
    /// query's, or an output name in ORDER BY and GROUP BY), a function, a constant, or a table
    /// or alias the query has bound, about to qualify a column. Checked in the SELECT list
    /// (see below), WHERE, ON, GROUP BY, HAVING and ORDER BY.
    fn may_become_name(
        &self,
        part: &str,
        (stack, qi): (&[Level], usize),
        (toks, at): (&[Tok<'_>], usize),
        bindings: &[Binding],
    ) -> bool {
        let (outer, own) = stack.split_at(qi);
        let Some(l) = own.first() else {
            return true;
        };
        let checked = match l.clause {
            Clause::Where | Clause::Group | Clause::Having | Clause::Order => true,
            Clause::From => l.on_cond,
            _ => false,
        };
        let starts = |n: &str| n.starts_with(part);
        if l.clause == Clause::Select {
            // Before FROM: any chosen table's column or name, a function, a bound name, or a
            // short alias (up to 3 letters) that FROM will define; a derived table's columns
            // are not known here, a CTE's are among the names it wrote (not inside its own
            // body, unless RECURSIVE).
            let recursive = recursive(toks);
            let cte_names = |b: &Binding| {
                recursive
                    || cte_end(toks, b.at).is_some_and(|end| {
                        // `c (n) AS (…)`: its column list names its columns, the body's do not.
                        let list = toks.get(b.at + 1).is_some_and(|t| t.is(Kind::Punct, "("));
                        let span = if list {
                            let close = toks[b.at + 1..end]
                                .iter()
                                .position(|t| t.is(Kind::Punct, ")"))
                                .map_or(end, |k| b.at + 1 + k);
                            &toks[b.at + 1..close]
                        } else {
                            &toks[b.at + 1..end]
                        };
                        end < at
                            && span
                                .iter()
                                .any(|t| t.kind == Kind::Ident && starts(&t.name()))
                    })
            };
            return part.chars().count() <= 3
                || bindings
                    .iter()
                    .any(|b| starts(&b.name) || (b.table.is_none() && (!b.cte || cte_names(b))))
                || FUNCTIONS.iter().any(|f| starts(f))
                || self.words.iter().any(|w| starts(w))
                || CONSTANTS.iter().any(|c| starts(c))
                || self
                    .catalog
                    .tables
                    .iter()
                    .any(|t| starts(&t.name) || t.columns.iter().any(|c| starts(&c.name)));
        }
        !checked
            || FUNCTIONS.iter().any(|f| starts(f))
            || self.words.iter().any(|w| starts(w))
            || CONSTANTS.iter().any(|c| starts(c))
            || bindings.iter().any(|b| starts(&b.name))
            || self.column_matching(
                starts,
                l,
                outer,
                matches!(l.clause, Clause::Order | Clause::Group),
            ) != Some(false)
    }

    /// [`Scope::column_known`] for any column name that `fits`.
    fn column_matching(
        &self,
        fits: impl Fn(&str) -> bool,
        own: &Level,
        outer: &[Level],
        outputs: bool,
    ) -> Option<bool> {
        if outputs && own.outputs.iter().any(|o| fits(o)) {
            return Some(true);
        }
        let levels = outer.iter().filter(|l| l.query).chain(std::iter::once(own));
        let mut found = false;
        for l in levels {
            if !std::ptr::eq(l, own) && l.clause == Clause::Select {
                return None;
            }
            for t in &l.tables {
                let table = self.catalog.tables.get((*t)?)?;
                found |= table.columns.iter().any(|c| fits(&c.name));
            }
        }
        Some(found)
    }

    /// A name in a join's `USING (…)`: a column of the table just joined and of one before it
    /// (one problem when it cannot be; a name being written must start such a column).
    fn using_column(&self, t: &Tok<'_>, tables: &[Option<TableId>]) -> usize {
        let Some((last, before)) = tables.split_last() else {
            return 0;
        };
        let name = t.name();
        let table = |id: &Option<TableId>| id.and_then(|id| self.catalog.tables.get(id));
        let joined = table(last);
        // Whether an earlier table has the column `c` with a type the joined table's `c` can
        // be matched with (`USING (id)` of an integer and a text id: 42804).
        let merges = |earlier: &crate::ask::catalog::Table, c: &str| {
            earlier.column(c).is_some_and(|theirs| {
                joined
                    .and_then(|j| j.column(c))
                    .is_none_or(|ours| comparable(&ours.data_type, &theirs.data_type))
            })
        };
        if !t.complete {
            // It must start a column of the table just joined that a table before it has too
            // (when those are known).
            let Some(joined) = joined else {
                return 0;
            };
            let earlier: Option<Vec<&crate::ask::catalog::Table>> =
                before.iter().map(table).collect();
            let shared = |c: &str| {
                earlier
                    .as_ref()
                    .is_none_or(|e| e.iter().any(|t| merges(t, c)))
            };
            return usize::from(
                !joined
                    .columns
                    .iter()
                    .any(|c| c.name.starts_with(&name) && shared(&c.name)),
            );
        }
        let earlier: Option<Vec<bool>> = before
            .iter()
            .map(|b| table(b).map(|t| merges(t, &name)))
            .collect();
        usize::from(
            joined.is_some_and(|j| j.column(&name).is_none())
                || earlier.is_some_and(|e| !e.contains(&true)),
        )
    }

    /// A FROM item's name (alias or table) while the SELECT list used qualifiers the FROM list
    /// has not defined yet: one that extends such a qualifier is refused as it is written
    /// (`SELECT a.title … FROM playlist a_1`: `a` can no longer be defined by it), and a name
    /// that defines one must stand for a table with the columns written after it. Other names
    /// are free: `SELECT t2.name FROM concert AS t1 JOIN stadium AS t2` names the join partner
    /// first. But an alias of a chosen table that has every column written after some such
    /// qualifier must be one of them (`SELECT ar.name … FROM artist x` is refused at `x`): the
    /// model that writes another would join on for ever, looking for a place to define it.
    /// Free: another of the qualifier's series (`t1` while `t2` waits, `a` while `b` does) and
    /// a short name for the table itself (`FROM track t` while `mt` waits).
    /// `table`: the name is a table's own (after FROM, JOIN or a comma); `owner`: the chosen
    /// table an alias there would stand for.
    fn pending_alias(
        &self,
        t: &Tok<'_>,
        (i, visible): (usize, &[usize]),
        (prev, table, owner): (Option<&Tok<'_>>, bool, Option<TableId>),
        l: &Level,
        bindings: &[Binding],
    ) -> usize {
        let unbound: Vec<&String> = l
            .pending
            .iter()
            .filter(|q| {
                !bindings
                    .iter()
                    .any(|b| b.name == **q && b.at < i && b.seen_from(visible))
            })
            .collect();
        // `a_1`, `a1` for `a`: the model's loop, not another table's alias (`al`, `pt`); and
        // `ajoin`, the alias `a` glued to the keyword after it.
        let extends = |name: &str| {
            !unbound.iter().any(|q| q.starts_with(name))
                && unbound.iter().any(|q| {
                    name.strip_prefix(q.as_str()).is_some_and(|rest| {
                        rest.starts_with(|c: char| c == '_' || c.is_ascii_digit())
                            || GLUED.contains(&rest)
                    })
                })
        };
        if unbound.is_empty() {
            return 0;
        }
        // A chosen table with every column written after one of those qualifiers.
        let fits = |id: TableId| {
            self.catalog.tables.get(id).is_some_and(|tbl| {
                unbound.iter().any(|q| {
                    l.pending_refs
                        .iter()
                        .filter(|(p, _)| p == *q)
                        .all(|(_, c)| c == "*" || tbl.column(c).is_some())
                })
            })
        };
        // `t1` while `t2` waits, `a` while `b` does (a self-join names its partner first).
        let sibling =
            |name: &str, complete: bool| unbound.iter().any(|q| numbered(q, name, complete));
        // `t` for `track`, `e` for `employee`: an alias a person writes for its own table,
        // whatever the SELECT list waits for (`SELECT mt.name … FROM track t JOIN media_type
        // mt`).
        let own = |id: Option<TableId>, name: &str| {
            id.and_then(|id| self.catalog.tables.get(id))
                .is_some_and(|t| abbreviates(name, &t.name))
        };
        if let Some(b) = bindings.iter().find(|b| b.at == i) {
            let other = b.table.is_some_and(fits)
                && !unbound.contains(&&b.name)
                && !sibling(&b.name, true)
                && !own(b.table, &b.name);
            let mut n = usize::from(!table && (extends(&b.name) || other));
            if let Some(table) = b.table.and_then(|id| self.catalog.tables.get(id)) {
                n += l
                    .pending_refs
                    .iter()
                    .filter(|(q, c)| *q == b.name && table.column(c).is_none())
                    .count();
            }
            return n;
        }
        let alias = !table
            && prev.is_some_and(|p| {
                p.kind == Kind::Ident || p.is(Kind::Keyword, "AS") || p.is(Kind::Punct, ")")
            });
        let name = t.name();
        let other = owner.is_some_and(fits)
            && !unbound.iter().any(|q| q.starts_with(&name))
            && !sibling(&name, false)
            && !own(owner, &name);
        usize::from(!t.complete && alias && (extends(&name) || other))
    }

    /// Whether the tokens up to `toks[i]` end an equality of two columns named for the keys of
    /// two different chosen tables (`track_id = playlist_id`, qualified or not; judged once the
    /// right name is complete). A key named otherwise (`support_rep_id = employee_id`, `id`) is
    /// free: it may well point at that table.
    fn keys_of_two_tables(&self, toks: &[Tok<'_>], i: usize) -> bool {
        let t = &toks[i];
        let next = toks.get(i + 1);
        if t.kind != Kind::Ident
            || !t.complete
            || next.is_some_and(|n| n.is(Kind::Punct, "(") || n.is(Kind::Punct, "."))
        {
            return false;
        }
        let start = |k: usize| {
            if k >= 2 && toks[k - 1].is(Kind::Punct, ".") && toks[k - 2].kind == Kind::Ident {
                k - 2
            } else {
                k
            }
        };
        let right = start(i);
        if right < 2 || !toks[right - 1].is(Kind::Punct, "=") {
            return false;
        }
        let left = &toks[right - 2];
        if left.kind != Kind::Ident {
            return false;
        }
        let left_start = start(right - 2);
        let op =
            |k: usize| toks[k].kind == Kind::Punct && matches!(toks[k].text, "=" | "<" | ">" | "!");
        if left_start > 0 && op(left_start - 1) {
            return false;
        }
        let table = |name: &str| {
            name.strip_suffix("_id")
                .filter(|stem| !stem.is_empty())
                .and_then(|stem| self.table_named(stem))
        };
        match (table(&left.name()), table(&t.name())) {
            (Some(a), Some(b)) => a != b,
            _ => false,
        }
    }

    /// Whether the column the tokens end with (`col` or `q.col`) has a text type in every
    /// table it could belong to.
    fn text_column(&self, toks: &[Tok<'_>], bindings: &[Binding], visible: &[usize]) -> bool {
        let text = |d: &str| {
            !d.ends_with("[]")
                && ["text", "character", "varchar", "citext"]
                    .iter()
                    .any(|n| d.starts_with(n))
        };
        let columns = self.columns_of(toks, bindings, visible);
        !columns.is_empty() && columns.iter().all(|c| text(&c.data_type))
    }

    /// Whether the column the tokens end with (`col` or `q.col`) has a numeric type in every
    /// table it could belong to.
    fn numeric_column(&self, toks: &[Tok<'_>], bindings: &[Binding], visible: &[usize]) -> bool {
        let numeric = |d: &str| {
            !d.ends_with("[]")
                && [
                    "integer",
                    "bigint",
                    "smallint",
                    "numeric",
                    "real",
                    "double precision",
                ]
                .iter()
                .any(|n| d.starts_with(n))
        };
        let columns = self.columns_of(toks, bindings, visible);
        !columns.is_empty() && columns.iter().all(|c| numeric(&c.data_type))
    }

    /// Whether the column reference `toks` ends with is a key: a column named `id` or `…_id`
    /// of its table (of every chosen table with that name when unqualified or not defined yet).
    /// (The scope's catalog has no foreign keys, and a primary key such as `year` or `date` is
    /// a measure too: the name decides.)
    fn key_column(&self, toks: &[Tok<'_>], bindings: &[Binding], visible: &[usize]) -> bool {
        let columns = self.columns_of(toks, bindings, visible);
        !columns.is_empty() && columns.iter().all(|c| key_name(&c.name))
    }

    /// Whether the name being written that `toks` ends with (`artist_`, `a.artist_`) can only
    /// become a key column the question does not ask for ([`Self::asks_for_key`]): no other
    /// column, nor (unqualified) a function, table, alias or word starts with it. Names of up
    /// to three letters may still become an alias, and a CTE's or derived table's qualifier has
    /// columns not known here: never judged.
    fn only_keys_ahead(&self, toks: &[Tok<'_>], bindings: &[Binding], visible: &[usize]) -> bool {
        let Some(t) = toks.last() else {
            return false;
        };
        let part = t.name();
        let starts = |n: &str| n.starts_with(part.as_str());
        let n = toks.len();
        let q = (n >= 3 && toks[n - 2].is(Kind::Punct, ".")).then(|| toks[n - 3].name());
        let tables: Vec<&crate::ask::catalog::Table> = match &q {
            Some(q) => match self.table_of(q, (n - 3, visible), bindings) {
                Some(t) => vec![t],
                None if bindings.iter().any(|b| &b.name == q) => return false,
                None => self.catalog.tables.iter().collect(),
            },
            None => {
                if part.chars().count() <= 3
                    || bindings
                        .iter()
                        .any(|b| b.table.is_none() || starts(&b.name))
                    || FUNCTIONS.iter().any(|f| starts(f))
                    || self.words.iter().any(|w| starts(w))
                    || CONSTANTS.iter().any(|c| starts(c))
                    || self.catalog.tables.iter().any(|t| starts(&t.name))
                {
                    return false;
                }
                self.catalog.tables.iter().collect()
            }
        };
        let mut keys = 0;
        for c in tables
            .iter()
            .flat_map(|t| t.columns.iter())
            .filter(|c| starts(&c.name))
        {
            let owners: Vec<_> = tables
                .iter()
                .copied()
                .filter(|t| t.column(&c.name).is_some())
                .collect();
            if !key_name(&c.name) || self.asks_for_key(&c.name, &owners) {
                return false;
            }
            keys += 1;
        }
        keys > 0
    }

    /// The columns the reference `toks` ends with can be: that column of each of
    /// [`Self::tables_of`].
    fn columns_of(
        &self,
        toks: &[Tok<'_>],
        bindings: &[Binding],
        visible: &[usize],
    ) -> Vec<&crate::ask::catalog::Column> {
        let name = toks.last().map(|t| t.name()).unwrap_or_default();
        self.tables_of(toks, bindings, visible)
            .into_iter()
            .filter_map(|t| t.column(&name))
            .collect()
    }

    /// The table a qualifier at token `at` stands for: an alias of a chosen table (the latest
    /// defined before it: each branch of a set operation may reuse `t1`; else the first one
    /// after it, for a SELECT list written before its FROM), or its own name.
    fn table_of(
        &self,
        q: &str,
        (at, visible): (usize, &[usize]),
        bindings: &[Binding],
    ) -> Option<&crate::ask::catalog::Table> {
        let named = |b: &&Binding| b.name == q && b.seen_from(visible);
        let binding = bindings
            .iter()
            .rev()
            .filter(named)
            .find(|b| b.at < at)
            .or_else(|| bindings.iter().find(named));
        let t = match binding {
            Some(b) => b.table?,
            None => self.table_named(q)?,
        };
        self.catalog.tables.get(t)
    }

    /// 1 when the level's open ON condition (closed at token `upto`) does not use the item it
    /// joins: `JOIN playlist p2 ON p1.track_id = a.name::INTEGER` joins every row of `p2` to
    /// every row (the model's loop of joins). Its qualifier, or a bare column of its table,
    /// uses it; an item whose columns are not known here (a derived table, a CTE) any bare
    /// name. The condition is judged once.
    fn on_misses_joined(
        &self,
        toks: &[Tok<'_>],
        l: &mut Level,
        upto: usize,
        bindings: &[Binding],
    ) -> usize {
        let (Some(from), Some(b)) = (l.on_tok.take(), l.joined.take()) else {
            return 0;
        };
        let Some(joined) = bindings.get(b) else {
            return 0;
        };
        let table = joined.table.and_then(|t| self.catalog.tables.get(t));
        let cond = toks.get(from..upto.min(toks.len())).unwrap_or_default();
        let uses = cond.iter().enumerate().any(|(k, t)| {
            if t.kind != Kind::Ident {
                return false;
            }
            let next = cond.get(k + 1);
            let prev = k.checked_sub(1).and_then(|p| cond.get(p));
            if next.is_some_and(|n| n.is(Kind::Punct, ".")) {
                return t.name() == joined.name;
            }
            let bare = !prev.is_some_and(|p| p.is(Kind::Punct, "."))
                && !next.is_some_and(|n| n.is(Kind::Punct, "("));
            bare && table.is_none_or(|tb| tb.column(&t.name()).is_some())
        });
        usize::from(!uses)
    }

    /// The names FROM items define, where they are defined, and the chosen table behind each.
    fn bindings(&self, toks: &[Tok<'_>]) -> Vec<Binding> {
        let mut out = Vec::new();
        // Per parenthesis level: (holds a SELECT, is in its FROM list, query level id).
        let mut stack: Vec<(bool, bool, usize)> = vec![(true, false, 0)];
        let mut ids = 0;
        for (i, t) in toks.iter().enumerate() {
            match (t.kind, t.text) {
                (Kind::Punct, "(") => {
                    ids += 1;
                    stack.push((false, false, ids));
                }
                (Kind::Punct, ")") if stack.len() > 1 => {
                    stack.pop();
                }
                (Kind::Keyword, "SELECT") => {
                    if let Some(l) = stack.last_mut() {
                        l.0 = true;
                        l.1 = false;
                    }
                }
                (Kind::Keyword, "UNION" | "INTERSECT" | "EXCEPT") => {
                    // The next branch is a query level of its own.
                    ids += 1;
                    if let Some(l) = stack.last_mut() {
                        l.1 = false;
                        l.2 = ids;
                    }
                }
                (Kind::Keyword, "FROM") => {
                    if let Some(l) = stack.last_mut().filter(|l| l.0) {
                        l.1 = true;
                    }
                }
                (
                    Kind::Keyword,
                    "WHERE" | "GROUP" | "HAVING" | "ORDER" | "LIMIT" | "OFFSET" | "FETCH",
                ) => {
                    if let Some(l) = stack.last_mut() {
                        l.1 = false;
                    }
                }
                _ => {}
            }
            if t.kind != Kind::Ident {
                continue;
            }
            let next = toks.get(i + 1);
            let prev = i.checked_sub(1).and_then(|p| toks.get(p));
            // An alias at the grammar's longest (5 letters) cannot grow: `FROM track order` is
            // refused when `order` is written, not one token later when nothing else can follow.
            // Any alias of that length is final too, so a repeated one (`JOIN track ica_1 …
            // JOIN invoice_line ica_1`) is refused as it is written.
            let final_alias = t.text.len() >= 5
                && (RESERVED.contains(&t.text) || stack.last().is_some_and(|l| l.1))
                && prev.is_some_and(|p| p.kind == Kind::Ident || p.is(Kind::Keyword, "AS"));
            if !t.complete && !final_alias {
                continue;
            }
            // `FROM t x (a, b)`: an alias with its column names, not a function call.
            let column_list = next.is_some_and(|n| n.is(Kind::Punct, "("))
                && stack.last().is_some_and(|l| l.1)
                && prev.is_some_and(|p| p.kind == Kind::Ident || p.is(Kind::Keyword, "AS"));
            if next.is_some_and(|n| n.is(Kind::Punct, ".") || n.is(Kind::Punct, "("))
                && !column_list
                && !starts_cte(toks, i)
            {
                continue;
            }
            let prev2 = i.checked_sub(2).and_then(|p| toks.get(p));
            let in_from = stack.last().is_some_and(|l| l.1);
            // A CTE: `name [(a, b)] AS [[NOT] MATERIALIZED] (`.
            let cte = starts_cte(toks, i);
            let table = |tok: &Tok<'_>| {
                if tok.kind == Kind::Ident {
                    self.table_named(&tok.name())
                } else {
                    None
                }
            };
            // `FROM artist a`: the alias is bound, not the table's own name.
            let aliased = next.is_some_and(|n| n.kind == Kind::Ident || n.is(Kind::Keyword, "AS"));
            let binding = match prev {
                _ if cte => Some(None),
                // `FROM sales.orders`
                Some(p)
                    if in_from
                        && p.is(Kind::Punct, ".")
                        && !aliased
                        && i.checked_sub(3).and_then(|k| toks.get(k)).is_some_and(|k| {
                            k.is(Kind::Keyword, "FROM")
                                || k.is(Kind::Keyword, "JOIN")
                                || k.is(Kind::Punct, ",")
                        }) =>
                {
                    Some(self.table_named(&t.name()))
                }
                Some(p)
                    if !aliased
                        && (p.is(Kind::Keyword, "FROM")
                            || p.is(Kind::Keyword, "JOIN")
                            || (in_from && p.is(Kind::Punct, ","))) =>
                {
                    Some(self.table_named(&t.name()))
                }
                Some(p) if in_from && p.kind == Kind::Ident => Some(table(p)),
                Some(p) if in_from && p.is(Kind::Punct, ")") => Some(None),
                Some(p) if in_from && p.is(Kind::Keyword, "AS") => Some(prev2.and_then(table)),
                _ => None,
            };
            if let Some(table) = binding {
                out.push(Binding {
                    name: t.name(),
                    reserved: !t.text.starts_with('"') && RESERVED.contains(&t.text),
                    level: stack.last().map_or(0, |l| l.2),
                    at: i,
                    table,
                    cte,
                });
            }
        }
        out
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
    let n = toks.len();
    let op = |k: usize| {
        toks.get(k)
            .is_some_and(|t| t.kind == Kind::Punct && matches!(t.text, "=" | "<" | ">" | "!"))
    };
    let end = if n >= 2 && op(n - 1) && op(n - 2) {
        n - 2
    } else if n >= 1 && op(n - 1) {
        n - 1
    } else {
        return None;
    };
    (end >= 1 && toks[end - 1].kind == Kind::Ident).then_some(end)
}

/// Whether `toks[k]` is a FROM that starts a FROM clause: not the one of `a IS [NOT] DISTINCT
/// FROM b`.
fn from_keyword(toks: &[Tok<'_>], k: usize) -> bool {
    toks.get(k).is_some_and(|t| t.is(Kind::Keyword, "FROM"))
        && !(k > 0 && toks[k - 1].is(Kind::Keyword, "DISTINCT"))
}

/// The numbers `question` names: its digits (`3,000` is 3000) and number words ("ten").
fn question_numbers(question: &str) -> Vec<String> {
    let q: Vec<char> = question.chars().collect();
    let plain: String = q
        .iter()
        .enumerate()
        .filter(|&(k, c)| {
            !(*c == ','
                && k > 0
                && q[k - 1].is_ascii_digit()
                && q.get(k + 1).is_some_and(char::is_ascii_digit))
        })
        .map(|(_, c)| *c)
        .collect();
    let lower = question.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphabetic()).collect();
    plain
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .chain(
            NUMBER_WORDS
                .iter()
                .filter(|(w, _)| words.contains(w))
                .map(|(_, n)| n.to_string()),
        )
        .collect()
}

/// Whether the alias `name` reads as a short name for the table `table`, with or without a
/// number: a start of its name or of one of its words (`tr`, `cat` for `product_categories`),
/// or a start of its words' initials (`il` for `invoice_line`).
fn abbreviates(name: &str, table: &str) -> bool {
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if stem.is_empty() {
        return false;
    }
    let table = table.to_lowercase();
    let words: Vec<&str> = table.split('_').filter(|w| !w.is_empty()).collect();
    let initials: String = words.iter().filter_map(|w| w.chars().next()).collect();
    table.starts_with(stem)
        || words.iter().any(|w| w.starts_with(stem))
        || initials.starts_with(stem)
}

/// Whether the alias `name` (still growing unless `complete`) is of the series `q` is of:
/// the same letters and another number (`t1` of `t2`), or another single letter (`a` of `b`).
fn numbered(q: &str, name: &str, complete: bool) -> bool {
    let stem = q.trim_end_matches(|c: char| c.is_ascii_digit());
    if stem.len() < q.len() {
        return name.strip_prefix(stem).is_some_and(|n| {
            n.chars().all(|c| c.is_ascii_digit()) && (!complete || !n.is_empty())
        });
    }
    q.chars().count() == 1 && name.chars().count() == 1 && name.chars().all(char::is_alphabetic)
}

/// Whether the name at `toks[i]` starts a CTE: `name [(a, b)] AS [[NOT] MATERIALIZED] (`.
fn starts_cte(toks: &[Tok<'_>], i: usize) -> bool {
    cte_body(toks, i).is_some()
}

/// Whether the query says `WITH RECURSIVE` (a CTE's own body may then name it).
fn recursive(toks: &[Tok<'_>]) -> bool {
    toks.iter()
        .any(|t| t.text.eq_ignore_ascii_case("RECURSIVE"))
}

/// Whether the CTE named at `toks[i]` has ended (its body's `)` written) before `toks[at]`:
/// only then can a FROM item name it (a CTE's own body cannot, without RECURSIVE).
fn cte_ended_before(toks: &[Tok<'_>], i: usize, at: usize) -> bool {
    cte_end(toks, i).is_some_and(|k| k < at)
}

/// Where the body's `)` of the CTE named at `toks[i]` is, once written.
fn cte_end(toks: &[Tok<'_>], i: usize) -> Option<usize> {
    let open = cte_body(toks, i)?;
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate().skip(open) {
        if t.is(Kind::Punct, "(") {
            depth += 1;
        } else if t.is(Kind::Punct, ")") {
            depth -= 1;
            if depth == 0 {
                return Some(k);
            }
        }
    }
    None
}

/// Where the body's `(` of the CTE named at `toks[i]` is, if the name starts a CTE.
fn cte_body(toks: &[Tok<'_>], i: usize) -> Option<usize> {
    let mut k = i + 1;
    if toks.get(k).is_some_and(|t| t.is(Kind::Punct, "(")) {
        // The column list: names and commas up to its `)`.
        k += 1;
        while toks
            .get(k)
            .is_some_and(|t| t.kind == Kind::Ident || t.is(Kind::Punct, ","))
        {
            k += 1;
        }
        if !toks.get(k).is_some_and(|t| t.is(Kind::Punct, ")")) {
            return None;
        }
        k += 1;
    }
    if !toks.get(k).is_some_and(|t| t.is(Kind::Keyword, "AS")) {
        return None;
    }
    k += 1;
    if toks.get(k).is_some_and(|t| t.is(Kind::Keyword, "NOT")) {
        k += 1;
    }
    if toks
        .get(k)
        .is_some_and(|t| t.text.eq_ignore_ascii_case("MATERIALIZED"))
    {
        k += 1;
    }
    toks.get(k)
        .is_some_and(|t| t.is(Kind::Punct, "("))
        .then_some(k)
}

/// Whether `name` repeats two `_`-separated words in a row (`track_id_track_id`) or has one
/// word three times; `year_over_year` is fine. While the name is being written (`complete`
/// false) its last word may still grow and is not counted.
fn words_repeated(name: &str, complete: bool) -> bool {
    let mut words: Vec<&str> = name.split('_').collect();
    if !complete {
        words.pop();
    }
    words.retain(|w| !w.is_empty());
    let pairs: Vec<(&str, &str)> = words.windows(2).map(|w| (w[0], w[1])).collect();
    pairs
        .iter()
        .enumerate()
        .any(|(k, p)| pairs[..k.saturating_sub(1)].contains(p))
        || words
            .iter()
            .any(|w| words.iter().filter(|x| *x == w).count() >= 3)
}

/// `x = 1 AND x = 2`: one column equated with a literal twice in one AND chain (never true, or
/// the same condition twice), counted when the second literal starts. Any other keyword (OR,
/// NOT, a clause, CASE's WHEN), a comma and each parenthesis start a new chain; `<=`, `>=` and
/// `!=` are not equalities.
fn equated_twice(toks: &[Tok<'_>]) -> usize {
    let mut chains: Vec<Vec<String>> = vec![Vec::new()];
    let mut n = 0;
    for (i, t) in toks.iter().enumerate() {
        match t.kind {
            Kind::Punct if t.text == "(" => chains.push(Vec::new()),
            Kind::Punct if t.text == ")" && chains.len() > 1 => {
                chains.pop();
            }
            Kind::Punct if matches!(t.text, "," | ";") => {
                if let Some(c) = chains.last_mut() {
                    c.clear();
                }
            }
            Kind::Keyword if !t.text.eq_ignore_ascii_case("AND") => {
                if let Some(c) = chains.last_mut() {
                    c.clear();
                }
            }
            Kind::Literal if i >= 2 && toks[i - 1].is(Kind::Punct, "=") => {
                let k = i - 2;
                if toks[k].kind != Kind::Ident {
                    continue;
                }
                let qualified =
                    k >= 2 && toks[k - 1].is(Kind::Punct, ".") && toks[k - 2].kind == Kind::Ident;
                // `a + b = 1`: an expression, not a column.
                let from = if qualified { k - 2 } else { k };
                if from >= 1
                    && toks[from - 1].kind == Kind::Punct
                    && !matches!(toks[from - 1].text, "(" | ",")
                {
                    continue;
                }
                let key = if qualified {
                    format!("{}.{}", toks[k - 2].name(), toks[k].name())
                } else {
                    toks[k].name()
                };
                if let Some(c) = chains.last_mut() {
                    if c.contains(&key) {
                        n += 1;
                    } else {
                        c.push(key);
                    }
                }
            }
            _ => {}
        }
    }
    n
}

/// Comparisons of a column with itself (`a.id = a.id`, `x <> x`, `x = x + 1`), each counted
/// once the right side's name is complete.
fn self_comparisons(toks: &[Tok<'_>]) -> usize {
    let is_op = |t: &Tok<'_>| t.kind == Kind::Punct && matches!(t.text, "=" | "<" | ">" | "!");
    let is = |k: usize, text: &str| toks.get(k).is_some_and(|t| t.is(Kind::Punct, text));
    let ident = |k: usize| toks.get(k).is_some_and(|t| t.kind == Kind::Ident);
    let mut n = 0;
    let mut i = 1;
    while i < toks.len() {
        if !is_op(&toks[i]) || is_op(&toks[i - 1]) {
            i += 1;
            continue;
        }
        let op_end = if toks.get(i + 1).is_some_and(is_op) {
            i + 2
        } else {
            i + 1
        };
        // The left side: `c` or `q.c`, standing alone before the operator.
        let left = if i >= 3 && ident(i - 1) && is(i - 2, ".") && ident(i - 3) {
            i - 3
        } else if ident(i - 1) {
            i - 1
        } else {
            i = op_end;
            continue;
        };
        let alone = left == 0
            || toks[left - 1].kind == Kind::Keyword
            || is(left - 1, "(")
            || is(left - 1, ",");
        let right_end = if ident(op_end) && is(op_end + 1, ".") && ident(op_end + 2) {
            op_end + 3
        } else if ident(op_end) {
            op_end + 1
        } else {
            i = op_end;
            continue;
        };
        // Known once the name is complete; what follows does not save it (`x = x + 1` is
        // never true, `x = x || x` is a loop, `x = x::integer` is true or fails).
        let complete = toks[right_end - 1].complete
            && toks.get(right_end).is_none_or(|t| {
                let glued = t.start == toks[right_end - 1].end;
                !(t.is(Kind::Punct, "(") || (t.is(Kind::Punct, ".") && glued))
            });
        let same = right_end - op_end == i - left
            && toks[left..i]
                .iter()
                .zip(&toks[op_end..right_end])
                .all(|(a, b)| a.text == b.text);
        if alone && complete && same {
            n += 1;
        }
        i = op_end;
    }
    n
}

/// The list item that ends at `at` (exclusive): one problem if its level already has it, one
/// if it is a constant where none can stand (see [`literal`]).
fn close_item(s: &str, l: &mut Level, at: usize, cat: &Catalog) -> usize {
    let Some(start) = l.item_start.take() else {
        return 0;
    };
    let Some(raw) = s.get(start..at) else {
        return 0;
    };
    let mut item = raw.trim();
    if l.clause == Clause::Select {
        // An output alias does not make an item new.
        if let Some(k) = item.rfind(" AS ") {
            if !item[k + 4..].contains([' ', '(', ')', '\'']) {
                item = &item[..k];
            }
        }
    }
    if l.clause == Clause::Order {
        item = item
            .trim_end_matches(" NULLS FIRST")
            .trim_end_matches(" NULLS LAST")
            .trim_end_matches(" DESC")
            .trim_end_matches(" ASC");
    }
    if item.is_empty() {
        return 0;
    }
    if l.clause == Clause::Select {
        let lower = item.to_lowercase();
        // (A scalar subquery's aggregate is its own.)
        let aggregate = AGGREGATES.iter().any(|f| lower.contains(&format!("{f}(")))
            && !lower.contains(" over ")
            && !lower.contains("(select ");
        if aggregate {
            l.aggregates += 1;
        } else if (item.bytes().any(|b| b.is_ascii_lowercase() || b == b'"')
            && !item.starts_with('\''))
            || item == "*"
            || item.ends_with(".*")
        {
            l.plain += 1;
        }
    }
    let constant = match l.clause {
        // `ORDER BY 'x'`, `GROUP BY 2.5`, `ORDER BY 7` after two items: a constant there is a
        // position in the SELECT list or nothing (42601, 42P10).
        // (A window's or a call's ORDER BY sorts by the constant: free.)
        Clause::Group | Clause::Order if l.query => match literal(item) {
            Some(Literal::Text) | Some(Literal::Decimal) | Some(Literal::Negative) => true,
            Some(Literal::Integer(n)) => {
                // `SELECT *` has as many positions as columns: not counted here.
                let counted =
                    !l.selected.is_empty() && !l.selected.iter().any(|i| i.ends_with('*'));
                counted && (n == 0 || n > l.selected.len() as u64)
            }
            None => false,
        },
        // `ON 'x'::VARCHAR`, `WHERE 1`, `AND t.milliseconds`: a condition that is no yes/no
        // (42804); a bare column when every chosen table's column of that name is known and
        // not boolean.
        _ if l.on_cond || matches!(l.clause, Clause::Where | Clause::Having) => {
            non_boolean_constant(item) || non_boolean_column(item, cat) || non_boolean_call(item)
        }
        _ => false,
    };
    // `GROUP BY c.customer_id OR c.support_rep_id`: an operand of AND/OR outside a condition
    // that is no yes/no (42804).
    let constant = constant
        || (matches!(l.clause, Clause::Select | Clause::Group | Clause::Order)
            && !item.contains(" BETWEEN ")
            && {
                let outer = outside_parentheses(item);
                outer.contains(" AND ") || outer.contains(" OR ")
            }
            && top_level_operands(item).iter().any(|o| {
                non_boolean_constant(o) || non_boolean_column(o, cat) || non_boolean_call(o)
            }));
    let dup = l.items.iter().any(|x| x == item);
    l.items.push(item.to_string());
    let looped = matches!(l.clause, Clause::Select | Clause::Group | Clause::Order)
        && repeated_column(item, true);
    usize::from(dup) + usize::from(looped) + usize::from(constant)
}

/// Whether `item` is a column alone (`c`, `t.c`, `NOT c`) that no chosen table has as a
/// boolean: every column of that name has a known type that is not.
fn non_boolean_column(item: &str, cat: &Catalog) -> bool {
    let item = item.strip_prefix("NOT ").unwrap_or(item);
    let name = item.rsplit('.').next().unwrap_or(item);
    let ident = |w: &str| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'"')
    };
    if !item.split('.').all(ident) || item.split('.').count() > 2 {
        return false;
    }
    let name = name.trim_matches('"');
    let columns: Vec<_> = cat.tables.iter().filter_map(|t| t.column(name)).collect();
    // A known type that does not compare with boolean is text, a number, a date or a time.
    !columns.is_empty() && columns.iter().all(|c| !comparable(&c.data_type, "boolean"))
}

/// Whether none of the columns `left` could stand for compares with any of the types
/// `right` (an empty side judges nothing).
fn never_compare(left: &[&crate::ask::catalog::Column], right: &[&str]) -> bool {
    !left.is_empty()
        && !right.is_empty()
        && left
            .iter()
            .all(|a| right.iter().all(|b| !comparable(&a.data_type, b)))
}

/// Whether PostgreSQL reads the text `value` as a yes/no (`'t'`, `'yes'`, `'off'`).
fn yes_or_no(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    // Any start of `true`, `false`, `yes`, `no`; `on`, `of(f)` (`o` alone is either).
    !v.is_empty()
        && (["true", "false", "yes", "no"]
            .iter()
            .any(|w| w.starts_with(&v))
            || matches!(v.as_str(), "on" | "of" | "off" | "1" | "0"))
}

/// The type a cast names (`TEXT`, `int`), as information_schema spells it; `None` for one
/// not known here.
fn cast_type(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_uppercase().as_str() {
        "INT" | "INTEGER" | "INT4" => "integer",
        "BIGINT" | "INT8" => "bigint",
        "SMALLINT" | "INT2" => "smallint",
        "NUMERIC" | "DECIMAL" => "numeric",
        "REAL" | "FLOAT4" => "real",
        "FLOAT" | "FLOAT8" | "DOUBLE" => "double precision",
        "TEXT" => "text",
        "VARCHAR" => "character varying",
        "CHAR" | "CHARACTER" => "character",
        "DATE" => "date",
        "TIMESTAMP" => "timestamp without time zone",
        "TIMESTAMPTZ" => "timestamp with time zone",
        "TIME" => "time without time zone",
        "BOOL" | "BOOLEAN" => "boolean",
        "MONEY" => "money",
        "INTERVAL" => "interval",
        "UUID" => "uuid",
        _ => return None,
    })
}

/// `item` with what is inside parentheses (and string literals) left out.
fn outside_parentheses(item: &str) -> String {
    let mut out = String::with_capacity(item.len());
    let (mut depth, mut quoted) = (0usize, false);
    for c in item.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth = depth.saturating_sub(1),
            _ if depth == 0 && !quoted => out.push(c),
            _ => {}
        }
    }
    out
}

/// A literal standing alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Literal {
    Text,
    Integer(u64),
    Decimal,
    /// A number with a minus sign (`-1`: PostgreSQL folds the sign into the constant, so in
    /// ORDER BY it is a position, and never a valid one).
    Negative,
}

/// What `item` is when it is one literal and nothing else (`'a''b'`, `12`, `1.5`, `-1`).
fn literal(item: &str) -> Option<Literal> {
    if let Some(n) = item.strip_prefix('-') {
        return literal(n.trim_start())
            .filter(|l| *l != Literal::Text)
            .map(|_| Literal::Negative);
    }
    if let Some(inner) = item.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        // Quotes inside are doubled, never alone.
        return (!inner.replace("''", "").contains('\'')).then_some(Literal::Text);
    }
    if !item.is_empty() && item.bytes().all(|b| b.is_ascii_digit()) {
        return Some(item.parse().map_or(Literal::Decimal, Literal::Integer));
    }
    let (whole, frac) = item.split_once('.')?;
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    (digits(whole) && digits(frac) && !(whole.is_empty() && frac.is_empty()))
        .then_some(Literal::Decimal)
}

/// A condition `item` without the NOTs before it and the parentheses around it (`NOT (1)` is
/// `1`).
fn operand(item: &str) -> &str {
    let mut item = item.trim();
    loop {
        if let Some(rest) = item.strip_prefix("NOT ") {
            item = rest.trim();
        } else if item.starts_with('(')
            && item.ends_with(')')
            && outside_parentheses(item).is_empty()
        {
            item = item[1..item.len() - 1].trim();
        } else {
            return item;
        }
    }
}

/// Whether a condition `item` is a literal, cast or not, in parentheses or after NOT or not,
/// that is not a yes/no (`'x'::VARCHAR`, `1`, `(1)`, `NOT 1`; `'t'::BOOLEAN` and `'yes'`, which
/// PostgreSQL reads as one, are).
fn non_boolean_constant(item: &str) -> bool {
    let item = operand(item);
    if item
        .strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .is_some_and(yes_or_no)
    {
        return false;
    }
    let mut parts = item.split("::");
    let base = parts.next().unwrap_or_default().trim();
    let casts: Vec<String> = parts.map(|c| c.trim().to_ascii_uppercase()).collect();
    // Each cast a type name and nothing after it (`'2010-01-01'::DATE <= d` compares).
    let types = casts.iter().all(|c| {
        c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" (),[]".contains(&b))
            && !c.contains("  ")
            && c.split(' ').count() <= 3
    });
    literal(base).is_some() && types && !casts.last().is_some_and(|c| c.starts_with("BOOL"))
}

/// The operands of the AND and OR outside parentheses and quotes of `item`.
fn top_level_operands(item: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut from) = (0usize, false, 0usize);
    let b = item.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth = depth.saturating_sub(1),
            b' ' if !quoted && depth == 0 => {
                for w in [" AND ", " OR "] {
                    if item[i..].starts_with(w) {
                        out.push(item[from..i].trim());
                        from = i + w.len();
                        i = from - 1;
                        break;
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    out.push(item[from..].trim());
    out
}

/// Whether `item` is one call alone (`AGE(1, 2)`, `NOT upper(name)`, `(round(x))`) of a
/// function of the grammar's that never returns a yes/no: as a condition it is 42804. A call
/// that can (`coalesce(flag, false)`, `bool_or(x)`) or one the grammar does not know is
/// left to PostgreSQL.
fn non_boolean_call(item: &str) -> bool {
    let item = operand(item);
    let Some(open) = item.find('(') else {
        return false;
    };
    let name = item[..open].trim().to_lowercase();
    // The call's own parentheses end the item: nothing compares its value.
    let called = item.ends_with(')') && outside_parentheses(&item[open..]).is_empty();
    let may_be_boolean = [
        "coalesce",
        "nullif",
        "greatest",
        "least",
        "bool_and",
        "bool_or",
        "every",
        "min",
        "max",
        "first_value",
        "last_value",
        "nth_value",
        "lag",
        "lead",
        "mode",
    ];
    called && FUNCTIONS.contains(&name.as_str()) && !may_be_boolean.contains(&name.as_str())
}

/// A query level whose SELECT list mixes aggregates and plain columns needs a GROUP BY; one
/// problem when it ends (or reaches HAVING, ORDER BY or LIMIT) without one.
fn ungrouped(l: &Level) -> usize {
    usize::from(l.query && l.aggregates > 0 && l.plain > 0 && !l.grouped)
}

/// The current list clause of a level ends at `at` (the SELECT list's items are kept for the
/// GROUP BY check).
fn close_list(s: &str, l: &mut Level, at: usize, cat: &Catalog) -> usize {
    let mut problems = close_list_items(s, l, at, cat);
    if l.clause == Clause::Select {
        l.selected = l.items.clone();
        if l.set_op {
            problems += unmatched(&l.branch, &l.selected, cat);
        }
    }
    problems
}

/// The type of a SELECT item as far as the text tells: a literal's, a cast's, or the type every
/// chosen column of its name has.
#[derive(Debug, Clone, PartialEq)]
enum ItemType {
    /// A text literal (PostgreSQL reads it as the other branch's type), with its text.
    Text(String),
    /// A type as information_schema spells it.
    Of(String),
}

fn item_type(item: &str, cat: &Catalog) -> Option<ItemType> {
    let item = item.trim();
    if let Some((base, ty)) = item.rsplit_once("::") {
        // One value cast (`x::INT`), not an expression ending in a cast (`a::date - b::date`).
        if base.contains(' ') {
            return None;
        }
        return cast_type(ty.trim()).map(|t| ItemType::Of(t.to_string()));
    }
    match literal(item) {
        Some(Literal::Text) => {
            let inner = &item[1..item.len() - 1];
            return Some(ItemType::Text(inner.replace("''", "'")));
        }
        Some(_) => return Some(ItemType::Of("numeric".into())),
        None => {}
    }
    if item.eq_ignore_ascii_case("TRUE") || item.eq_ignore_ascii_case("FALSE") {
        return Some(ItemType::Of("boolean".into()));
    }
    let now = match item.to_ascii_lowercase().as_str() {
        "current_date" => Some("date"),
        "current_timestamp" => Some("timestamp with time zone"),
        "localtimestamp" => Some("timestamp without time zone"),
        "current_time" => Some("time with time zone"),
        "localtime" => Some("time without time zone"),
        _ => None,
    };
    if let Some(ty) = now {
        return Some(ItemType::Of(ty.into()));
    }
    let name = item.rsplit('.').next().unwrap_or(item).trim_matches('"');
    let plain = item.split('.').count() <= 2
        && item
            .split('.')
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    if !plain {
        return None;
    }
    let types: Vec<&str> = cat
        .tables
        .iter()
        .filter_map(|t| t.column(name))
        .map(|c| c.data_type.as_str())
        .collect();
    let first = *types.first()?;
    types
        .iter()
        .all(|t| comparable(t, first) && comparable(first, t))
        .then(|| ItemType::Of(first.to_string()))
}

/// How many items of a set operation's later branch `items` PostgreSQL cannot match with the
/// first branch's `branch` (`SELECT region … EXCEPT SELECT TRUE`: 42804; `SELECT product_id …
/// INTERSECT SELECT 'abc'`: 22P02); an item whose type the text does not tell matches anything.
fn unmatched(branch: &[String], items: &[String], cat: &Catalog) -> usize {
    let ty = |t: &ItemType| -> Option<String> {
        match t {
            ItemType::Of(ty) => Some(ty.clone()),
            ItemType::Text(_) => None,
        }
    };
    let reads = |text: &str, as_type: &str| {
        if comparable(as_type, "boolean") && !comparable(as_type, "integer") {
            yes_or_no(text)
        } else if comparable(as_type, "integer") && !comparable(as_type, "text") {
            text.trim().parse::<f64>().is_ok()
        } else {
            true
        }
    };
    branch
        .iter()
        .zip(items)
        .filter(|(a, b)| match (item_type(a, cat), item_type(b, cat)) {
            (Some(ItemType::Text(t)), Some(other)) | (Some(other), Some(ItemType::Text(t))) => {
                ty(&other).is_some_and(|o| !reads(&t, &o))
            }
            (Some(x), Some(y)) => match (ty(&x), ty(&y)) {
                (Some(x), Some(y)) => !comparable(&x, &y),
                _ => false,
            },
            _ => false,
        })
        .count()
}

fn close_list_items(s: &str, l: &mut Level, at: usize, cat: &Catalog) -> usize {
    if l.on_cond
        || matches!(
            l.clause,
            Clause::Select | Clause::Group | Clause::Order | Clause::Where | Clause::Having
        )
    {
        close_item(s, l, at, cat)
    } else {
        0
    }
}

/// Whether a list item names one column twice, joined by nothing but `||`, AND, OR, a comma or
/// an opening parenthesis, outside any call (`a.x || a.x`, `x OR x`, `x || (x, y)`): the model
/// looping inside one item. Arithmetic (`(price - cost) / price`) and calls (`max(x) - min(x)`)
/// may name a column twice, and so may a CASE.
/// `closed`: the item has ended (its last name is complete).
fn repeated_column(item: &str, closed: bool) -> bool {
    let mut toks = lex(item);
    if closed {
        for t in &mut toks {
            t.complete = true;
        }
    }
    if toks.iter().any(|t| t.is(Kind::Keyword, "CASE")) {
        return false;
    }
    let joiner = |t: &Tok<'_>| {
        (t.kind == Kind::Punct && matches!(t.text, "|" | "(" | ","))
            || (t.kind == Kind::Keyword && matches!(t.text, "AND" | "OR"))
    };
    let mut calls = Vec::new();
    // Each name and the token index just after its last occurrence.
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|p| toks.get(p));
        let next = toks.get(i + 1);
        match t.kind {
            Kind::Punct if t.text == "(" => {
                // A call's arguments, or a subquery: not this item's own columns.
                calls.push(
                    prev.is_some_and(|p| opens_list(p, t))
                        || next.is_some_and(|n| n.is(Kind::Keyword, "SELECT")),
                );
            }
            Kind::Punct if t.text == ")" => {
                calls.pop();
            }
            Kind::Ident
                if t.complete
                    && !calls.contains(&true)
                    && !next.is_some_and(|n| n.is(Kind::Punct, "(") || n.is(Kind::Punct, "."))
                    && !prev
                        .is_some_and(|p| p.is(Kind::Punct, "::") || p.is(Kind::Keyword, "AS")) =>
            {
                let qualified = prev.is_some_and(|d| d.is(Kind::Punct, ".")) && i >= 2;
                let (name, start) = if qualified {
                    (format!("{}.{}", toks[i - 2].name(), t.name()), i - 2)
                } else {
                    (t.name(), i)
                };
                match seen.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, after)) => {
                        if toks
                            .get(*after..start)
                            .is_some_and(|between| between.iter().all(joiner))
                        {
                            return true;
                        }
                        *after = i + 1;
                    }
                    None => seen.push((name, i + 1)),
                }
            }
            _ => {}
        }
    }
    false
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

/// Whether the tokens up to `toks[i]` end an equality of two columns of one qualifier
/// (`o.order_id = o.order_date`, judged once the right column's name is complete; a column with
/// itself is [`self_comparisons`]'s). Other comparisons are free: a LEFT JOIN's
/// `ON t.done_at > t.due_at` filters the joined rows. (`o.total = o.quantity * p.price` is
/// refused too: letting arithmetic go on let the model write `o.order_id = o.order_date - 1…`.)
fn same_item_compared(toks: &[Tok<'_>], i: usize) -> bool {
    let t = &toks[i];
    let next = toks.get(i + 1);
    if t.kind != Kind::Ident
        || !t.complete
        || next.is_some_and(|n| n.is(Kind::Punct, "(") || n.is(Kind::Punct, "."))
        || i < 6
    {
        return false;
    }
    let op =
        |k: usize| toks[k].kind == Kind::Punct && matches!(toks[k].text, "=" | "<" | ">" | "!");
    let qualified = |k: usize| {
        toks[k].kind == Kind::Ident
            && toks[k + 1].is(Kind::Punct, ".")
            && toks[k + 2].kind == Kind::Ident
    };
    // `q . c = q . c`, with `=` alone (not `>=`, `<=`, `!=`) and the left side standing
    // alone (not `p.a * o.b = o.c`).
    if !qualified(i - 2) || !toks[i - 3].is(Kind::Punct, "=") || op(i - 4) {
        return false;
    }
    let left = i - 6;
    let alone =
        left == 0 || toks[left - 1].kind == Kind::Keyword || toks[left - 1].is(Kind::Punct, "(");
    if !qualified(left) || !alone {
        return false;
    }
    let right_q = toks[i - 2].name();
    let left_q = toks[left].name();
    right_q == left_q && toks[left + 2].name() != t.name()
}

/// Whether a column's name makes it a key: `id` or `…_id`. (The scope's catalog has no foreign
/// keys, and a primary key such as `year` or `date` is a measure too: the name decides.)
fn key_name(name: &str) -> bool {
    name == "id" || name.ends_with("_id")
}

/// Whether the tokens up to `toks[i]` end `q.c = q.`, alone in a join condition: whatever
/// column follows, [`same_item_compared`] refuses it.
fn same_item_qualifier(toks: &[Tok<'_>], i: usize) -> bool {
    if i < 5 || !toks[i].is(Kind::Punct, ".") || !toks[i - 2].is(Kind::Punct, "=") {
        return false;
    }
    let ident = |k: usize| toks[k].kind == Kind::Ident;
    let left = i - 5;
    let alone =
        left == 0 || toks[left - 1].kind == Kind::Keyword || toks[left - 1].is(Kind::Punct, "(");
    ident(left)
        && toks[left + 1].is(Kind::Punct, ".")
        && ident(left + 2)
        && ident(i - 1)
        && alone
        && toks[left].name() == toks[i - 1].name()
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

mod names;
#[cfg(test)]
mod tests;
