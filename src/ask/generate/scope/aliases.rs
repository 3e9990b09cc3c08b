//! The names a query defines for its FROM items (tables, aliases, CTEs), and the alias a FROM item
//! must take when the SELECT list already used a qualifier.

use super::cte::starts_cte;
use super::lexer::{Kind, Tok};
use super::{Level, Scope};
use crate::ask::catalog::TableId;

/// A name the query defines for a FROM item: a table's own name, an alias, a CTE name.
pub(super) struct Binding {
    pub(super) name: String,
    /// An unquoted reserved word: the query cannot parse.
    pub(super) reserved: bool,
    pub(super) at: usize,
    /// The query level (one parenthesis level or one branch of a set operation) it is
    /// defined in.
    pub(super) level: usize,
    /// The chosen table it stands for, if it is one.
    pub(super) table: Option<TableId>,
    /// A CTE's name: seen from every level after it.
    pub(super) cte: bool,
}

impl Binding {
    /// Whether the binding can be seen from a query level whose enclosing levels (itself
    /// included) are `visible`.
    pub(super) fn seen_from(&self, visible: &[usize]) -> bool {
        self.cte || visible.contains(&self.level)
    }
}

/// Words PostgreSQL reserves (of up to six letters, the grammar's alias length): as an alias
/// they make the query fail to parse (`FROM customer order`).
pub(super) const RESERVED: &[&str] = &[
    "all", "and", "any", "array", "as", "asc", "both", "case", "cast", "check", "cross", "desc",
    "do", "else", "end", "except", "false", "fetch", "for", "from", "full", "grant", "group",
    "having", "ilike", "in", "inner", "into", "is", "join", "left", "like", "limit", "not", "null",
    "offset", "on", "only", "or", "order", "outer", "right", "select", "some", "table", "then",
    "to", "true", "union", "unique", "user", "using", "when", "where", "window", "with",
];

/// Whether `name` is a reserved word glued to more by an underscore (`on_id`, `where_`): as an
/// alias, the keyword the model meant to write.
pub(super) fn keyword_start(name: &str) -> bool {
    name.split_once('_')
        .is_some_and(|(word, _)| RESERVED.contains(&word.to_ascii_lowercase().as_str()))
}

/// Keywords that follow a FROM item, which the model glues to a one-letter alias (`ajoin`);
/// short ones are left out, since `con` (`c` + `on`) is a fine alias.
pub(super) const GLUED: &[&str] = &[
    "join", "left", "right", "inner", "full", "cross", "where", "group", "order", "limit", "union",
];

/// Whether the alias `name` reads as a short name for the table `table`, with or without a
/// number: a start of its name or of one of its words (`tr`, `cat` for `product_categories`),
/// or a start of its words' initials (`il` for `invoice_line`).
pub(super) fn abbreviates(name: &str, table: &str) -> bool {
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
pub(super) fn numbered(q: &str, name: &str, complete: bool) -> bool {
    let stem = q.trim_end_matches(|c: char| c.is_ascii_digit());
    if stem.len() < q.len() {
        return name.strip_prefix(stem).is_some_and(|n| {
            n.chars().all(|c| c.is_ascii_digit()) && (!complete || !n.is_empty())
        });
    }
    q.chars().count() == 1 && name.chars().count() == 1 && name.chars().all(char::is_alphabetic)
}

impl Scope {
    /// A FROM item's name (alias or table) while the SELECT list used qualifiers the FROM list
    /// has not defined yet: one that extends such a qualifier is refused as it is written
    /// (`SELECT a.title … FROM playlist a_1`: `a` can no longer be defined by it), and a name
    /// that defines one must stand for a table with the columns written after it. Other names
    /// are free: `SELECT t2.name FROM concert AS t1 JOIN stadium AS t2` names the join partner
    /// first. But an alias of a chosen table that has every column written after some such
    /// qualifier must be one of them (`SELECT ar.name … FROM artist x` is refused at `x`): the
    /// model that writes another would join on for ever, looking for a place to define it.
    /// Free: another of the qualifier's series (`t1` while `t2` waits, `a` while `b` does) and
    /// a short name for the table itself (`FROM track t` while `mt` waits). A table left
    /// without an alias is judged at the word after it when only single letters naming no
    /// other table wait (`JOIN track ON` while `e.track_id` does).
    /// `table`: the name is a table's own (after FROM, JOIN or a comma); `next`: the token after
    /// it; `owner`: the chosen table an alias there would stand for.
    pub(super) fn pending_alias(
        &self,
        t: &Tok<'_>,
        (i, visible): (usize, &[usize]),
        (prev, next, table, owner): (Option<&Tok<'_>>, Option<&Tok<'_>>, bool, Option<TableId>),
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
        // Whether `tbl` has every column written after the qualifier `q`.
        let holds = |tbl: &crate::ask::catalog::Table, q: &str| {
            l.pending_refs
                .iter()
                .filter(|(p, _)| p == q)
                .all(|(_, c)| c == "*" || tbl.column(c).is_some())
        };
        // A chosen table with every column written after one of those qualifiers.
        let fits = |id: TableId| {
            self.catalog
                .tables
                .get(id)
                .is_some_and(|tbl| unbound.iter().any(|q| holds(tbl, q)))
        };
        // `t1` while `t2` waits, `a` while `b` does (a self-join names its partner first).
        let sibling =
            |name: &str, complete: bool| unbound.iter().any(|q| numbered(q, name, complete));
        // Whether a waiting qualifier reads as a short name for another chosen table that has
        // its columns (`mt` for `media_type`): the item may be that table's partner.
        let elsewhere = |owner: Option<TableId>| {
            unbound.iter().any(|q| {
                self.catalog.tables.iter().enumerate().any(|(id, tbl)| {
                    Some(id) != owner && abbreviates(q, &tbl.name) && holds(tbl, q)
                })
            })
        };
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
            // A chosen table left without an alias (`JOIN track ON …` while only `e.track_id`
            // waits) must take the alias once the word after it shows it has none, when every
            // waiting qualifier it fits is a single letter naming no other chosen table (`mgr`,
            // `rep` name a role another item will take: `FROM customer JOIN employee rep`).
            let unaliased = next.is_some_and(|n| {
                (n.complete || n.kind == Kind::Punct)
                    && !(n.kind == Kind::Ident
                        || n.is(Kind::Keyword, "AS")
                        || n.is(Kind::Punct, "."))
            });
            let letters = b
                .table
                .and_then(|id| self.catalog.tables.get(id))
                .is_some_and(|tbl| {
                    unbound
                        .iter()
                        .filter(|q| holds(tbl, q))
                        .all(|q| q.chars().count() == 1)
                });
            if table
                && t.complete
                && unaliased
                && letters
                && b.table.is_some_and(fits)
                && !unbound.contains(&&b.name)
                && !elsewhere(b.table)
            {
                n += 1;
            }
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

    /// The names FROM items define, where they are defined, and the chosen table behind each.
    pub(super) fn bindings(&self, toks: &[Tok<'_>]) -> Vec<Binding> {
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
            let after_table =
                prev.is_some_and(|p| p.kind == Kind::Ident || p.is(Kind::Keyword, "AS"));
            // (After a derived table's `)` too: `FROM (SELECT …) where (…)`.)
            let after_item = after_table
                || prev
                    .is_some_and(|p| p.is(Kind::Punct, ")") && stack.last().is_some_and(|l| l.1));
            // `JOIN playlist on_id`: the keyword the model meant, written in lower case and
            // glued to more; refused as soon as the `_` is written.
            // (A table's alias only: `(SELECT …) all_t` is a fine name for a derived table.)
            let keyword_glued =
                keyword_start(t.text) && after_table && stack.last().is_some_and(|l| l.1);
            let final_alias = keyword_glued
                || (t.text.len() >= 5
                    && (RESERVED.contains(&t.text) || stack.last().is_some_and(|l| l.1))
                    && after_item);
            if !t.complete && !final_alias {
                continue;
            }
            // `FROM t x (a, b)`: an alias with its column names, not a function call.
            let column_list = next.is_some_and(|n| n.is(Kind::Punct, "("))
                && stack.last().is_some_and(|l| l.1)
                && after_item;
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
                    reserved: !t.text.starts_with('"')
                        && (RESERVED.contains(&t.text) || (keyword_start(t.text) && after_table)),
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
