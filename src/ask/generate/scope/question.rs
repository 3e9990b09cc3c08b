//! What the question asks of the query: the years and numbers it names, the table it names first,
//! whether it asks for things or an amount, an average, a key.

use super::columns::{has_all_words, same_word};
use super::lexer::{Kind, Tok};
use super::{key_name, Level, Scope};
use crate::ask::generate::shape::{negated_at, NUMBER_WORDS};

/// The words of the lower-cased question `q`.
fn lower_words(q: &str) -> Vec<&str> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Whether the question's lower-case `words` hold `phrase`'s first word (`_` or space
/// separated, singular or plural) after a negation ([`negated_at`]).
fn negates_in(words: &[&str], phrase: &str) -> bool {
    let lower = phrase.to_lowercase();
    let Some(first) = lower
        .split(|c: char| !c.is_alphanumeric())
        .find(|w| !w.is_empty())
    else {
        return false;
    };
    words
        .iter()
        .enumerate()
        .any(|(k, w)| same_word(w, first) && negated_at(words, k))
}

/// The numbers `question` names: its digits (`3,000` is 3000) and number words ("ten").
pub(super) fn question_numbers(question: &str) -> Vec<String> {
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

impl Scope {
    /// Each year the question names ("in 2023") is written in the query (`'2023-01-01'`,
    /// `= 2023`), or, in a question with a range's word, the year next to it ("after 2023":
    /// `'2024-01-01'`): 1 per year missing.
    pub(super) fn years_unmet(&self, s: &str) -> usize {
        let (years, ranged) = self.years_named();
        years
            .into_iter()
            // "after 2023" is `>= '2024-01-01'`, "up to 2024" `< '2025-01-01'`: next to a
            // range's word, the year next to it counts ("in 2023" wants 2023).
            .filter(|&y| {
                let near = if ranged { y - 1..=y + 1 } else { y..=y };
                !near.into_iter().any(|y| s.contains(&y.to_string()))
            })
            .count()
    }

    /// The years the question names (four digits from 1900 to 2099, each time it writes one),
    /// and whether it has a range's word ("after", "between", "to", …).
    pub(super) fn years_named(&self) -> (Vec<u32>, bool) {
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
        let years = self
            .question
            .split(|c: char| !c.is_ascii_digit())
            .filter(|w| w.len() == 4)
            .filter_map(|w| w.parse::<u32>().ok())
            .filter(|y| (1900..2100).contains(y))
            .collect();
        (years, ranged)
    }

    /// The answer's first FROM item, a chosen table being named: when the question names one
    /// chosen table, not one that extends its name and is not named itself (`FROM invoice_line` for
    /// "how many invoices", `FROM product_categories` for "how many products": the model
    /// wrote the named table's word and went on). 1 when it is, or can only become one.
    pub(super) fn first_table_extends_named(&self, name: &str, complete: bool) -> usize {
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
        let named: Vec<&String> = tables
            .iter()
            .filter(|t| self.question_has_words_of(t))
            .collect();
        // A question that names two tables may start at a bridge between them
        // (`FROM singer_in_concert JOIN singer …` for singers and concerts).
        let extends = |(t, parents): &(&String, Vec<&String>)| {
            !named.contains(t) && parents.iter().any(|p| named.contains(p))
        };
        usize::from(named.len() == 1 && could_be.iter().all(extends))
    }

    /// The question's words (it is kept in lower case).
    pub(super) fn question_words(&self) -> Vec<&str> {
        self.question
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect()
    }

    /// Whether the question asks for an average ("average", "mean") and names no sum ("sum",
    /// or "total" other than in "average total …").
    pub(super) fn asks_average(&self) -> bool {
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
    pub(super) fn asks_for_things(&self) -> bool {
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

    /// Whether the question asks for one count of things: "how many" followed by a chosen
    /// table's word ("How many tracks have never been sold?") or by "different", "distinct"
    /// or "unique" ("In how many different cities do customers live?"), and no word of groups
    /// ("each", "per", "every", "by"), at the question's start. "How many milliseconds long
    /// is …" (a column's value) and "…, and how many?" (a count beside a name) are not such
    /// questions. `Some(true)` when the count is of different things (`count(DISTINCT`).
    pub(super) fn one_count(&self) -> Option<bool> {
        let words = self.question_words();
        let k = words.windows(2).position(|w| w == ["how", "many"])?;
        // The question starts with it ("In how many …" too); "the teachers' names and how many
        // courses they teach" asks for names beside the counts.
        if !(k == 0 || (k == 1 && matches!(words[0], "in" | "on" | "at" | "for" | "from" | "to"))) {
            return None;
        }
        // Groups, and amounts other than a count ("How many tracks does an album have on
        // average?", "… at most?").
        if self.asks_average()
            || words.iter().any(|w| {
                matches!(
                    *w,
                    "each"
                        | "per"
                        | "every"
                        | "by"
                        | "average"
                        | "mean"
                        | "median"
                        | "most"
                        | "least"
                        | "maximum"
                        | "minimum"
                        | "max"
                        | "min"
                        | "percent"
                        | "percentage"
                        | "share"
                        | "ratio"
                )
            })
        {
            return None;
        }
        // A word of the question is a word of a name, in the singular or the plural.
        let same = |q: &str, w: &str| {
            same_word(q, w) || q.strip_suffix("ies").is_some_and(|s| w == format!("{s}y"))
        };
        let after = &words[k + 2..];
        match after.first() {
            Some(&("different" | "distinct" | "unique")) => Some(true),
            Some(_) => self
                .catalog
                .tables
                .iter()
                .any(|t| {
                    // The table's words in order ("how many invoice lines": `invoice_line`; not
                    // "how many days …" for `business_days`).
                    let name = t.name.to_lowercase();
                    let parts: Vec<&str> = name.split('_').filter(|p| !p.is_empty()).collect();
                    !parts.is_empty()
                        && parts.len() <= after.len()
                        && parts.iter().zip(after).all(|(p, q)| same(q, p))
                })
                .then_some(false),
            None => None,
        }
    }

    /// How many columns the question's "Give …" sentence asks for ("Give the company name.":
    /// one; "Give their first and last names.": two; "Give the category name and the count.":
    /// two), or `None` when it has none, names more than four things or asks for everything
    /// ("Give me all the information about …").
    pub(super) fn give_count(&self) -> Option<usize> {
        let q = self.question.as_str();
        let at = if q.starts_with("give ") {
            0
        } else {
            q.find(". give ")
                .or_else(|| q.find("? give "))
                .or_else(|| q.find("! give "))
                .map(|k| k + 2)?
        };
        let rest = &q[at + "give ".len()..];
        // The sentence ends at `.`, `?` or `!` before a space or the end (not in `1.98` or
        // `i.e`); a sentence after it may ask for more ("… Include the total too."), and then
        // the count is not known.
        let bytes = rest.as_bytes();
        let end = (0..bytes.len())
            .find(|&k| {
                matches!(bytes[k], b'.' | b'?' | b'!')
                    && bytes.get(k + 1).is_none_or(|b| b.is_ascii_whitespace())
            })
            .unwrap_or(bytes.len());
        if !rest[end..]
            .trim_start_matches(['.', '?', '!'])
            .trim()
            .is_empty()
        {
            return None;
        }
        let sentence = &rest[..end];
        let words: Vec<&str> = sentence
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .filter(|w| !w.is_empty())
            .collect();
        // "Give me all the information about hiring.": every column; "Give the total sales
        // for each country.": the groups' keys beside the amounts.
        if words.iter().any(|w| {
            matches!(
                *w,
                "all"
                    | "everything"
                    | "information"
                    | "info"
                    | "details"
                    | "columns"
                    | "each"
                    | "per"
                    | "every"
                    | "by"
            )
        }) {
            return None;
        }
        let mut parts = vec![sentence.to_string()];
        for joint in [
            " and ",
            ",",
            " along with ",
            " together with ",
            " as well as ",
            " with ",
            " plus ",
            "&",
            "/",
        ] {
            parts = parts
                .iter()
                .flat_map(|p| p.split(joint).map(str::to_string).collect::<Vec<_>>())
                .collect();
        }
        parts.retain(|p| !p.trim().is_empty());
        // A "name" that is two columns here (`first_name`, `last_name`, and no `name`).
        let split_names = {
            let has = |c: &str| {
                self.catalog
                    .tables
                    .iter()
                    .any(|t| t.columns.iter().any(|k| k.name.eq_ignore_ascii_case(c)))
            };
            has("first_name") && has("last_name") && !has("name")
        };
        let n: usize = parts
            .iter()
            .map(|p| {
                let ws: Vec<&str> = p.split_whitespace().collect();
                let named = ws.iter().any(|w| matches!(*w, "name" | "names"));
                let whole = !ws.iter().any(|w| matches!(*w, "first" | "last" | "full"));
                if split_names && named && whole {
                    2
                } else {
                    1
                }
            })
            .sum();
        (1..=4).contains(&n).then_some(n)
    }

    /// Whether the question names the table `table` as a phrase ([`Scope::question_names`])
    /// or has all its words in any order, each in the singular or the plural ("the category of
    /// the product" names `product_categories` as well as `products`).
    pub(super) fn question_has_words_of(&self, table: &str) -> bool {
        self.question_names(table) || has_all_words(&table.to_lowercase(), &self.question_words())
    }

    /// Boolean columns of the chosen tables whose name the question writes ("discontinued
    /// products": `discontinued`; "the headquarters office": `is_headquarters`) and that the
    /// query `toks` never names: the answer leaves out a condition the question sets.
    pub(super) fn flags_unnamed(&self, toks: &[Tok<'_>]) -> usize {
        self.flags_named()
            .iter()
            .filter(|(_, c)| {
                !toks
                    .iter()
                    .any(|t| t.kind == Kind::Ident && t.name().eq_ignore_ascii_case(c))
            })
            .count()
    }

    /// Whether the question writes `phrase`'s first word (`_` or space separated, singular or
    /// plural) within three words after a negation ("not cancelled", "customers not in
    /// Germany").
    pub(super) fn negates(&self, phrase: &str) -> bool {
        let q = self.question.to_lowercase();
        negates_in(&lower_words(&q), phrase)
    }

    /// The boolean columns of the chosen tables whose name the question writes (without an
    /// `is_` or `has_`), as `(table, column)`. Not after a negation ("products not
    /// discontinued"): the answer needs the opposite, which the model must write itself.
    pub(super) fn flags_named(&self) -> Vec<(String, String)> {
        self.flags_written(false)
    }

    /// The boolean columns of the chosen tables whose name the question writes (without an
    /// `is_` or `has_`), as `(table, column)`: after a negation (`negated`), or not.
    pub(super) fn flags_written(&self, negated: bool) -> Vec<(String, String)> {
        let q = self.question.to_lowercase();
        let words = lower_words(&q);
        let mut out = Vec::new();
        for t in &self.catalog.tables {
            for c in t.columns.iter().filter(|c| c.data_type == "boolean") {
                let name = c.name.to_lowercase();
                let core = name
                    .strip_prefix("is_")
                    .or_else(|| name.strip_prefix("has_"))
                    .unwrap_or(&name);
                if has_all_words(core, &words) && negates_in(&words, core) == negated {
                    out.push((t.name.clone(), c.name.clone()));
                }
            }
        }
        out
    }

    /// Whether the question names the table `table` (its words, `media_type` as "media type",
    /// in the singular or the plural).
    pub(super) fn question_names(&self, table: &str) -> bool {
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
    pub(super) fn first_table_lacks(&self, name: &str, complete: bool, l: &Level) -> usize {
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
        let mut could_be = self.tables_written_as(name, complete);
        let first = could_be.clone().next();
        usize::from(
            first.is_some() && !could_be.any(|t| wanted.iter().any(|c| t.column(c).is_some())),
        )
    }

    /// The chosen tables a FROM item's name `name` (lower case; still growing unless
    /// `complete`) stands for or can still become.
    fn tables_written_as<'a>(
        &'a self,
        name: &'a str,
        complete: bool,
    ) -> impl Iterator<Item = &'a crate::ask::catalog::Table> + Clone + 'a {
        self.catalog.tables.iter().filter(move |t| {
            let own = t.name.to_lowercase();
            if complete {
                own == name
            } else {
                own.starts_with(name)
            }
        })
    }

    /// 1 when the question names one chosen table, the SELECT list named bare only columns
    /// that table holds (keys aside, and at least one other), and the answer's first FROM item
    /// `name` (or every chosen table it can still become) is another table ("the average unit
    /// price of products": `FROM order_lines`, which has a `unit_price` too). A name that is no
    /// chosen table's is free.
    pub(super) fn first_table_not_named(&self, name: &str, complete: bool, l: &Level) -> usize {
        if !l.pending.is_empty() {
            return 0;
        }
        // Keys are shared by design (`count(DISTINCT customer_id) FROM payments` for "how many
        // customers paid by card"): only the other columns say where to read.
        let columns: Vec<&String> = l.pending_columns.iter().filter(|c| !key_name(c)).collect();
        if columns.is_empty() {
            return 0;
        }
        let named: Vec<&crate::ask::catalog::Table> = self
            .catalog
            .tables
            .iter()
            .filter(|t| self.question_has_words_of(&t.name))
            .collect();
        let [holder] = named.as_slice() else {
            return 0;
        };
        if !columns.iter().all(|c| holder.column(c).is_some()) {
            return 0;
        }
        let could_be: Vec<&crate::ask::catalog::Table> =
            self.tables_written_as(name, complete).collect();
        usize::from(!could_be.is_empty() && !could_be.iter().any(|t| t.name == holder.name))
    }

    /// Whether the question asks for the key `column` (of one of `tables`) as an answer
    /// column: it asks for ids (`ids of …`, `customer id`, `identifier`), or it names the
    /// key's table (`invoice` for `invoice_id`, or for `id` of `invoices`) and that table has
    /// no name to show instead (`name`, `title`, `…_name`: `each media type` wants
    /// `media_type.name`, but an invoice is known by its number).
    pub(super) fn asks_for_key(
        &self,
        column: &str,
        tables: &[&crate::ask::catalog::Table],
    ) -> bool {
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
}
