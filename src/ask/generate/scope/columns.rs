//! Columns by table and qualifier: which a name may still become, which a qualifier stands for,
//! USING and join-key checks, text, number and key columns.

use super::aliases::Binding;
use super::cte::{cte_end, recursive};
use super::lexer::{Kind, Tok};
use super::question::question_numbers;
use super::{comparable, key_name, Clause, Level, Scope, CONSTANTS};
use crate::ask::catalog::TableId;
use crate::ask::generate::grammar::{AGGREGATES, FUNCTIONS};

impl Scope {
    /// Whether an unqualified `name` is a column of the level's FROM items or of an enclosing
    /// query's (or, with `outputs`, an output name of the level); `None` when that cannot be
    /// told (a FROM item whose columns are not known, an enclosing FROM not written yet).
    pub(super) fn column_known(
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
    pub(super) fn may_become_name(
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

    /// Whether the whole unqualified name `name` at `toks[at]` in a SELECT list (before its
    /// FROM) can stand for a column there: a chosen table's column, a name the question's
    /// definitions use, a table or alias the query bound (a whole row), or a name the text
    /// defined before it (an output name after AS, a CTE's or derived table's column list).
    /// An aggregate's whole argument (`avg(s)`) may also be a derived table's column, defined
    /// later in the FROM list. Any other name (`SELECT fly, gra …`, a random model's) could
    /// only be one too, and is refused.
    pub(super) fn may_be_column(
        &self,
        name: &str,
        (toks, at): (&[Tok<'_>], usize),
        bindings: &[Binding],
    ) -> bool {
        let defined_before = toks[..at].iter().enumerate().any(|(j, t)| {
            t.kind == Kind::Ident
                && t.name() == name
                && j > 0
                && (toks[j - 1].is(Kind::Keyword, "AS")
                    || toks[j - 1].is(Kind::Punct, "(")
                    || toks[j - 1].is(Kind::Punct, ","))
        });
        // `avg(s)`, `max(n)` over a derived table's measure (`FROM (SELECT … sum(price) AS s
        // … GROUP BY …) AS t`): an aggregate's whole argument.
        let aggregated = at >= 2
            && toks[at - 1].is(Kind::Punct, "(")
            && AGGREGATES.contains(&toks[at - 2].text.to_ascii_lowercase().as_str())
            && toks.get(at + 1).is_some_and(|t| t.is(Kind::Punct, ")"));
        defined_before
            || aggregated
            || self.words.iter().any(|w| w == name)
            || bindings.iter().any(|b| b.name == name)
            || FUNCTIONS.contains(&name)
            || self
                .catalog
                .tables
                .iter()
                .any(|t| t.columns.iter().any(|c| c.name == name))
    }

    /// Whether the whole column `toks[at]` (`c` or `q.c`, nothing after it but the end of its
    /// operand) is a text column read as a number, or a number column compared with a text:
    /// `variance(t.country)`, `sum(name)` (42883: no such function of text), a number, date or
    /// yes/no column as a LIKE pattern (`'x' LIKE t.year`, 42883), and `'abc' >= t.id`
    /// (22P02; the other order, `t.id >= 'abc'`, is refused at its quote).
    pub(super) fn text_against_number(
        &self,
        (toks, at): (&[Tok<'_>], usize),
        bindings: &[Binding],
        visible: &[usize],
    ) -> bool {
        let punct = |k: usize, p: &str| toks.get(k).is_some_and(|t| t.is(Kind::Punct, p));
        let start = if at >= 2 && punct(at - 1, ".") {
            at - 2
        } else {
            at
        };
        // After `*`, `/` or `%` the column is the literal's operand whatever follows (`'abc' /
        // t.id + 1`: every reading fails), once its name is whole and no call's or
        // qualifier's; after `+` or `-`, unless what follows binds first and may make it
        // something else (`'10:00' + t.n * INTERVAL '1 minute'` is an interval,
        // `'{}' - t.id::TEXT` a jsonb), and not before the next token says which.
        let op_before = |ops: &[&str]| start >= 1 && ops.iter().any(|p| punct(start - 1, p));
        let added = op_before(&["+", "-"]);
        let binds_first = ["*", "/", "%", "::", ":"].iter().any(|p| punct(at + 1, p));
        let arithmetic = op_before(&["*", "/", "%"]) || (added && !binds_first);
        let ends = match toks.get(at + 1) {
            None => !added && toks.get(at).is_some_and(|t| t.complete),
            Some(_) if arithmetic => !punct(at + 1, ".") && !punct(at + 1, "("),
            Some(n) => n.kind == Kind::Keyword || punct(at + 1, ")") || punct(at + 1, ","),
        };
        if !ends {
            return false;
        }
        let column = &toks[..=at];
        if start >= 2
            && punct(start - 1, "(")
            && matches!(toks[start - 2].kind, Kind::Ident | Kind::Keyword)
        {
            let f = toks[start - 2].text.to_ascii_lowercase();
            // (Not `avg`: Spider's gold averages columns its SQLite schemas type as text,
            // `avg(mpg)`, which loaded as they are would fail: 10 of its dev queries.)
            let reads_number = super::NUMBER_FUNCTIONS.contains(&f.as_str()) || f == "sum";
            return reads_number
                && punct(at + 1, ")")
                && self.text_column(column, bindings, visible);
        }
        // `'x' LIKE t.year`: a number, date or yes/no column as a pattern (42883).
        let like = |k: usize| {
            toks.get(k)
                .is_some_and(|t| t.kind == Kind::Keyword && matches!(t.text, "LIKE" | "ILIKE"))
        };
        if start >= 1 && like(start - 1) {
            return self.numeric_column(column, bindings, visible)
                || self.time_column(column, bindings, visible)
                || self.boolean_column(column, bindings, visible);
        }
        // `'abc' >= c`: the operator's tokens (`=`, `<`, `>`, `<=`, `>=`, `<>`, `!=`), a text
        // literal that is no number before them, and nothing glued before the literal.
        let mut op = start;
        while op > 0 && ["=", "<", ">", "!"].iter().any(|p| punct(op - 1, p)) && start - op < 2 {
            op -= 1;
        }
        // (Or an arithmetic operator: `'abc' / t.id` reads the text as a number too.)
        if op == start && op > 0 && ["+", "-", "*", "/", "%"].iter().any(|p| punct(op - 1, p)) {
            op -= 1;
        }
        if op == start || op == 0 {
            return false;
        }
        let lit = &toks[op - 1];
        let text = lit.kind == Kind::Literal
            && lit.text.starts_with('\'')
            && lit.text.trim_matches('\'').trim().parse::<f64>().is_err();
        // (A keyword that types the literal makes it no bare text: `DATE '2024-01-01' + t.days`,
        // `INTERVAL '1 day' * t.n`, `… AT TIME ZONE 'UTC' - …`.)
        let typed = |t: &Tok<'_>| {
            super::items::cast_type(t.text).is_some()
                || ["zone", "jsonb", "inet", "cidr", "pg_lsn"]
                    .iter()
                    .any(|w| t.text.eq_ignore_ascii_case(w))
        };
        let whole = op < 2
            || (matches!(toks[op - 2].kind, Kind::Keyword) && !typed(&toks[op - 2]))
            || punct(op - 2, "(")
            || punct(op - 2, ",");
        text && whole && self.numeric_column(column, bindings, visible)
    }

    /// Whether an unqualified `name` is a column of two or more of the level's FROM items
    /// (the same table twice counts twice) that no NATURAL join or USING list merged, which
    /// PostgreSQL refuses as ambiguous (42702). Never once a NATURAL join met an item whose
    /// columns are not known here.
    pub(super) fn ambiguous(&self, name: &str, l: &Level) -> bool {
        !l.opaque && l.visible(name) >= 2
    }

    /// How many of the FROM items `tables` (chosen tables; `None` for one whose columns are
    /// not known here) have the column `name`.
    pub(super) fn holders(&self, name: &str, tables: &[Option<TableId>]) -> usize {
        tables
            .iter()
            .flatten()
            .filter_map(|t| self.catalog.tables.get(*t))
            .filter(|t| t.column(name).is_some())
            .count()
    }

    /// The one table among a level's FROM items (`tables`) with a column `name` (in lower
    /// case, unquoted); `None` when none has it, several do, or an item's columns are not
    /// known (a CTE, a derived table).
    pub(super) fn sole_owner(&self, name: &str, tables: &[Option<TableId>]) -> Option<TableId> {
        if tables.contains(&None) {
            return None;
        }
        let mut owners = tables.iter().flatten().copied().filter(|&t| {
            self.catalog.tables.get(t).is_some_and(|tab| {
                tab.columns
                    .iter()
                    .any(|c| c.name.replace('"', "").to_lowercase() == name)
            })
        });
        let first = owners.next()?;
        owners.next().is_none().then_some(first)
    }

    /// 1 when a column the level's SELECT list named bare is ambiguous among its FROM items
    /// (see [`Scope::ambiguous`]).
    pub(super) fn ambiguous_pending(&self, l: &Level) -> usize {
        usize::from(!l.distinct_on && l.pending_columns.iter().any(|c| self.ambiguous(c, l)))
    }

    /// [`Scope::column_known`] for any column name that `fits`.
    pub(super) fn column_matching(
        &self,
        fits: impl Fn(&str) -> bool,
        own: &Level,
        outer: &[Level],
        outputs: bool,
    ) -> Option<bool> {
        // (An output name is one after AS, or the name PostgreSQL gives an item without one:
        // `ORDER BY count` after `count(*)`.)
        if outputs
            && (own.outputs.iter().any(|o| fits(o))
                || own.selected_names.iter().flatten().any(|o| fits(o)))
        {
            return Some(true);
        }
        let levels = outer.iter().filter(|l| l.query).chain(std::iter::once(own));
        let mut found = false;
        for l in levels {
            if !std::ptr::eq(l, own) && l.clause == Clause::Select {
                return None;
            }
            // A derived table's columns, when its SELECT list tells them, are among the
            // level's.
            if l.unknown {
                return None;
            }
            for t in l.tables.iter().flatten() {
                let table = self.catalog.tables.get(*t)?;
                found |= table.columns.iter().any(|c| fits(&c.name));
            }
            found |= l.columns.iter().any(|(c, _)| fits(c));
        }
        Some(found)
    }

    /// A name in a join's `USING (…)`: a column of the table just joined and of one before it
    /// (one problem when it cannot be; a name being written must start such a column), and
    /// of only one, unless an earlier NATURAL join or USING list (`merged`) may have merged
    /// theirs (`people a CROSS JOIN people b JOIN people c USING (id)`: 42702).
    pub(super) fn using_column(
        &self,
        t: &Tok<'_>,
        tables: &[Option<TableId>],
        merged: bool,
    ) -> usize {
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
        let twice = !merged && self.holders(&name, before) >= 2;
        usize::from(
            joined.is_some_and(|j| j.column(&name).is_none())
                || earlier.is_some_and(|e| !e.contains(&true))
                || twice,
        )
    }

    /// Whether the tokens up to `toks[i]` end an equality of two columns named for the keys of
    /// two different chosen tables (`track_id = playlist_id`, qualified or not; judged once the
    /// right name is complete). A key named otherwise (`support_rep_id = employee_id`, `id`) is
    /// free: it may well point at that table.
    pub(super) fn keys_of_two_tables(&self, toks: &[Tok<'_>], i: usize) -> bool {
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

    /// Whether `toks[i]` ends `p1.k = p2.k`, a whole operand standing alone in a join
    /// condition (not after NOT), where `p1` and `p2` are one chosen table, both defined at one
    /// query level, and `k` is its primary key: a table joined to itself on its key is the
    /// table again (Gemma's `FROM product_categories p1 JOIN product_categories p2 ON
    /// p1.category_id = p2.category_id` for "products in the Computers category"). The caller
    /// judges it once the operand has ended (`ON b.id = a.id + 1` is the next row).
    pub(super) fn self_join_on_key(
        &self,
        toks: &[Tok<'_>],
        i: usize,
        bindings: &[Binding],
        visible: &[usize],
    ) -> bool {
        if i < 6 || i >= toks.len() {
            return false;
        }
        let ident = |k: usize| toks[k].kind == Kind::Ident;
        let dot = |k: usize| toks[k].is(Kind::Punct, ".");
        let shape = ident(i - 6)
            && dot(i - 5)
            && ident(i - 4)
            && toks[i - 3].is(Kind::Punct, "=")
            && ident(i - 2)
            && dot(i - 1)
            && ident(i);
        let alone = i == 6
            || (toks[i - 7].kind == Kind::Keyword && !toks[i - 7].is(Kind::Keyword, "NOT"))
            || toks[i - 7].is(Kind::Punct, "(");
        if !shape || !alone || toks[i - 4].name() != toks[i].name() {
            return false;
        }
        let (q1, q2) = (toks[i - 6].name(), toks[i - 2].name());
        let level = |q: &str| {
            bindings
                .iter()
                .rev()
                .find(|b| b.name == q && b.seen_from(visible))
                .map(|b| b.level)
        };
        let at = level(&q1);
        if q1 == q2 || at.is_none() || at != level(&q2) {
            return false;
        }
        match (
            self.table_of(&q1, (i - 6, visible), bindings),
            self.table_of(&q2, (i - 2, visible), bindings),
        ) {
            (Some(a), Some(b)) => std::ptr::eq(a, b) && a.primary_key == [toks[i].name()],
            _ => false,
        }
    }

    /// Whether the column the tokens end with (`col` or `q.col`) is `such` in every table it
    /// could belong to (and belongs to one).
    pub(super) fn column_is(
        &self,
        toks: &[Tok<'_>],
        bindings: &[Binding],
        visible: &[usize],
        such: impl Fn(&crate::ask::catalog::Column) -> bool,
    ) -> bool {
        let columns = self.columns_of(toks, bindings, visible);
        !columns.is_empty() && columns.into_iter().all(such)
    }

    /// [`Self::column_is`] of a text type.
    pub(super) fn text_column(&self, toks: &[Tok<'_>], b: &[Binding], v: &[usize]) -> bool {
        self.column_is(toks, b, v, |c| is_text(&c.data_type))
    }

    /// [`Self::column_is`] of a numeric type.
    pub(super) fn numeric_column(&self, toks: &[Tok<'_>], b: &[Binding], v: &[usize]) -> bool {
        self.column_is(toks, b, v, |c| is_number(&c.data_type))
    }

    /// [`Self::column_is`] of the boolean type.
    pub(super) fn boolean_column(&self, toks: &[Tok<'_>], b: &[Binding], v: &[usize]) -> bool {
        self.column_is(toks, b, v, |c| c.data_type == "boolean")
    }

    /// [`Self::column_is`] of a date, time or interval type.
    pub(super) fn time_column(&self, toks: &[Tok<'_>], b: &[Binding], v: &[usize]) -> bool {
        self.column_is(toks, b, v, |c| is_time(&c.data_type))
    }

    /// [`Self::column_is`] a key: a column named `id` or `…_id` (of every chosen table with
    /// that name when unqualified or not defined yet). (The scope's catalog keeps only the
    /// foreign keys between chosen tables, and a primary key such as `year` or `date` is a
    /// measure too: the name decides.)
    pub(super) fn key_column(&self, toks: &[Tok<'_>], b: &[Binding], v: &[usize]) -> bool {
        self.column_is(toks, b, v, |c| key_name(&c.name))
    }

    /// Whether the name being written that `toks` ends with (`artist_`, `a.artist_`) can only
    /// become a key column the question does not ask for ([`Self::asks_for_key`]): no other
    /// column, nor (unqualified) a function, table, alias or word starts with it. Names of up
    /// to three letters may still become an alias, and a CTE's or derived table's qualifier has
    /// columns not known here: never judged.
    pub(super) fn only_keys_ahead(
        &self,
        toks: &[Tok<'_>],
        bindings: &[Binding],
        visible: &[usize],
    ) -> bool {
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
    pub(super) fn columns_of(
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
    pub(super) fn table_of(
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
    pub(super) fn on_misses_joined(
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

    /// The chosen tables the column reference `toks` ends with can belong to: its
    /// qualifier's, or, unqualified or with a qualifier not defined yet, every chosen table
    /// with that column; none for a CTE's or derived table's qualifier, whose columns are not
    /// known here.
    pub(super) fn tables_of(
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

    /// Key columns ordered against a number the question does not name (`track_id > 1` for
    /// "tracks that cost more than one dollar"): an id is no quantity. Equality is free
    /// (`artist_id = 1`, a row picked).
    pub(super) fn keys_against_numbers(&self, toks: &[Tok<'_>], bindings: &[Binding]) -> usize {
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
}

/// Whether a column type is text (not an array).
pub(super) fn is_text(d: &str) -> bool {
    !d.ends_with("[]")
        && ["text", "character", "varchar", "citext"]
            .iter()
            .any(|n| d.starts_with(n))
}

/// Whether a column type is a number (not an array).
pub(super) fn is_number(d: &str) -> bool {
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
}

/// Whether a column type is a date, a time, a timestamp or an interval (not an array).
pub(super) fn is_time(d: &str) -> bool {
    !d.ends_with("[]")
        && ["date", "time", "timestamp", "interval"]
            .iter()
            .any(|n| d.starts_with(n))
}

/// Whether `words` (the question's) have every word of `name` (split at `_`), each in the
/// singular or the plural ([`same_word`]).
pub(super) fn has_all_words(name: &str, words: &[&str]) -> bool {
    let parts: Vec<&str> = name.split('_').filter(|p| !p.is_empty()).collect();
    !parts.is_empty() && parts.iter().all(|p| words.iter().any(|q| same_word(q, p)))
}

/// Whether the question's word `q` is the name's word `w`, in the singular or the plural
/// (`units` for `unit`, `category` for `categories`).
pub(super) fn same_word(q: &str, w: &str) -> bool {
    q == w
        || q.strip_suffix('s') == Some(w)
        || q.strip_suffix("es") == Some(w)
        || w.strip_suffix('s') == Some(q)
        || w.strip_suffix("ies")
            .is_some_and(|stem| q.strip_suffix('y') == Some(stem))
}
