//! What a question's own words ask of its query's form: which catalog examples it gets.
//!
//! A small model tends to answer a simpler question than the one asked: `SELECT count(*) FROM
//! customers` for "how many customers are there in each country", no filter for "customers in
//! Brazil", no ORDER BY for "the ten longest tracks". It copies the form of the nearest example,
//! so the words that ask for more are read here and the examples in that form
//! ([`super::shaped`]) are made and shown last. (Holding the decoder to these demands instead
//! was measured and dropped: see BENCHMARKS.md.)
//!
//! Each only from unambiguous words:
//! - **literals**: numbers (digits; number words; "one" only after a comparison), quoted text,
//!   and capitalised words inside a sentence that name no table or column (`Brazil`, `AC/DC`,
//!   `General Manager`);
//! - **grouped**: "each", "per" or "for every" with an aggregate word ("how many", "average",
//!   "total", …);
//! - **ordered**: a superlative ("most", "longest", "top", …; not "at most"); **limit**: "top
//!   5", "the ten longest";
//! - **negated**: "no", "never", "without", "not";
//! - **compared**: "more than", "before", "at least", ….

use serde::{Deserialize, Serialize};

use crate::ask::catalog::{Catalog, TableId};

/// A value the question names, which the query must use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Literal {
    /// Digits (`5`, `2023`, `1.5`): a numeric literal equal to it, or text containing it.
    Number(String),
    /// Text (lower case): a string literal containing it.
    Text(String),
}

/// What the question demands (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    pub literals: Vec<Literal>,
    pub grouped: bool,
    pub ordered: bool,
    pub limit: Option<u64>,
    pub negated: bool,
    pub compared: bool,
}

/// Number words a question may write for digits ("ten" is 10; "one" only where it compares).
pub const NUMBER_WORDS: &[(&str, &str)] = &[
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
    ("ten", "10"),
    ("eleven", "11"),
    ("twelve", "12"),
    ("fifteen", "15"),
    ("twenty", "20"),
    ("fifty", "50"),
    ("hundred", "100"),
];

const SUPERLATIVES: &[&str] = &[
    "most", "least", "top", "highest", "lowest", "largest", "smallest", "biggest", "longest",
    "shortest", "oldest", "newest", "youngest", "latest", "earliest", "cheapest", "best", "worst",
    "fewest", "greatest",
];

const AGGREGATE_WORDS: &[&str] = &[
    "how many",
    "number of",
    "count",
    "average",
    "mean",
    "total",
    "sum",
    "maximum",
    "minimum",
];

const COMPARISONS: &[&str] = &[
    "more than",
    "less than",
    "fewer than",
    "greater than",
    "higher than",
    "lower than",
    "larger than",
    "smaller than",
    "bigger than",
    "cheaper than",
    "older than",
    "younger than",
    "at least",
    "at most",
    "above",
    "below",
    "before",
    "after",
    "exceed",
    "exceeds",
];

/// Words that negate: the question's shape is negated, and a label or a flag within three
/// words after one ("not cancelled") is no condition pgask writes as it is.
pub const NEGATIONS: &[&str] = &["no", "never", "without", "not", "none", "nobody", "nothing"];

/// Whether one of [`NEGATIONS`] stands within the three words before `words[at]` ("not
/// cancelled", "customers not in Germany").
pub fn negated_at<S: AsRef<str>>(words: &[S], at: usize) -> bool {
    words
        .get(at.saturating_sub(3)..at)
        .unwrap_or_default()
        .iter()
        .any(|w| NEGATIONS.contains(&w.as_ref()))
}

/// The months' names, lower case.
pub const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Capitalised words that are not values (and [`MONTHS`]).
const NOT_VALUES: &[&str] = &[
    "i",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "sql",
    "id",
    "ids",
];

/// The names [`Shape::of`] takes: names a question may write in capitals that are not values: every table's, and the chosen
/// tables' columns (lower case).
pub fn names(catalog: &Catalog, chosen: &[TableId]) -> Vec<String> {
    let mut names: Vec<String> = catalog
        .tables
        .iter()
        .map(|t| t.name.to_lowercase())
        .collect();
    for t in chosen.iter().filter_map(|&t| catalog.tables.get(t)) {
        names.extend(t.columns.iter().map(|c| c.name.to_lowercase()));
    }
    names
}

/// A word of the question with where it stands.
struct Word<'a> {
    text: &'a str,
    /// The first word of a sentence.
    starts: bool,
}

fn words(question: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut starts = true;
    for raw in question.split_whitespace() {
        let text = raw.trim_matches(|c: char| !c.is_alphanumeric());
        if !text.is_empty() {
            out.push(Word { text, starts });
        }
        starts = raw.ends_with(['.', '?', '!', ':', ';']);
    }
    out
}

impl Shape {
    /// The demands of `question` over tables and columns named `names` (lower case), whose
    /// capitalised mentions are names, not values.
    pub fn of(question: &str, names: &[String]) -> Shape {
        let lower = question.to_lowercase();
        let ws = words(question);
        let lw: Vec<String> = ws.iter().map(|w| w.text.to_lowercase()).collect();
        let has_word = |w: &str| lw.iter().any(|x| x == w);
        let has_phrase = |p: &str| {
            let p: Vec<&str> = p.split(' ').collect();
            lw.windows(p.len())
                .any(|win| win.iter().zip(&p).all(|(a, b)| a == b))
        };
        let mut shape = Shape::default();
        let push = |l: Literal, shape: &mut Shape| {
            if !shape.literals.contains(&l) {
                shape.literals.push(l);
            }
        };
        // Quoted text: a quote that opens after a non-word character and closes before one
        // (so the apostrophes of "What's each artist's total?" quote nothing).
        for q in ['\'', '"'] {
            let chars: Vec<(usize, char)> = question.char_indices().collect();
            let word = |k: Option<&(usize, char)>| k.is_some_and(|(_, c)| c.is_alphanumeric());
            let mut open: Option<usize> = None;
            for (k, &(at, c)) in chars.iter().enumerate() {
                if c != q {
                    continue;
                }
                match open {
                    None if !word(k.checked_sub(1).and_then(|p| chars.get(p))) => {
                        open = Some(at + c.len_utf8());
                    }
                    Some(from) if !word(chars.get(k + 1)) => {
                        let inner = question[from..at].trim();
                        if !inner.is_empty() {
                            push(Literal::Text(inner.to_lowercase()), &mut shape);
                        }
                        open = None;
                    }
                    _ => {}
                }
            }
        }
        // Numbers.
        let comparison_before = |k: usize| {
            COMPARISONS.iter().any(|c| {
                let c: Vec<&str> = c.split(' ').collect();
                k >= c.len() && lw[k - c.len()..k].iter().zip(&c).all(|(a, b)| a == b)
            })
        };
        let mut counts: Vec<(usize, String)> = Vec::new();
        for (k, w) in lw.iter().enumerate() {
            let digits = w.chars().all(|c| c.is_ascii_digit() || c == '.')
                && w.chars().next().is_some_and(|c| c.is_ascii_digit())
                && w.matches('.').count() <= 1;
            let number = if digits {
                Some(w.trim_end_matches('.').to_string())
            } else if let Some((_, n)) = NUMBER_WORDS.iter().find(|(name, _)| name == w) {
                Some((*n).to_string())
            } else if w == "one" && comparison_before(k) {
                Some("1".to_string())
            } else {
                None
            };
            if let Some(n) = number {
                counts.push((k, n.clone()));
                push(Literal::Number(n), &mut shape);
            }
        }
        // Capitalised words inside a sentence, runs of them as one value.
        let mut k = 0;
        while k < ws.len() {
            let value_like = |w: &Word<'_>| {
                let first = w.text.chars().next().is_some_and(char::is_uppercase);
                let l = w.text.to_lowercase();
                first
                    && !w.starts
                    && !NOT_VALUES.contains(&l.as_str())
                    && !MONTHS.contains(&l.as_str())
                    && !names
                        .iter()
                        .any(|n| *n == l || n.trim_end_matches('s') == l.trim_end_matches('s'))
            };
            if value_like(&ws[k]) {
                let from = k;
                while k + 1 < ws.len() && value_like(&ws[k + 1]) {
                    k += 1;
                }
                let phrase: Vec<&str> = ws[from..=k].iter().map(|w| w.text).collect();
                push(Literal::Text(phrase.join(" ").to_lowercase()), &mut shape);
            }
            k += 1;
        }
        let aggregate = AGGREGATE_WORDS.iter().any(|a| has_phrase(a));
        // "the most tracks", "the fewest albums": a count per row, so a grouped query ("the
        // most expensive" is a plain order).
        let most_of_a_noun = lw.windows(2).enumerate().any(|(k, p)| {
            let noun = names.iter().any(|n| {
                let n = n.trim_end_matches('s');
                !n.is_empty() && n == p[1].trim_end_matches('s')
            }) || (p[1].ends_with('s')
                && !["ss", "us", "is"].iter().any(|e| p[1].ends_with(e)));
            matches!(p[0].as_str(), "most" | "fewest" | "least")
                && !(k > 0 && lw[k - 1] == "at")
                && noun
        });
        shape.grouped = most_of_a_noun
            || aggregate && (has_word("each") || has_word("per") || has_phrase("for every"));
        // "at least 3" and "at most 3" compare; they do not order.
        // "best finishes" for a column `best_finish` names it; it does not order.
        let names_a_column = |k: usize| {
            lw.get(k + 1).is_some_and(|next| {
                let one = [next.strip_suffix("es"), next.strip_suffix('s'), Some(next)];
                one.iter().flatten().any(|w| {
                    let pair = format!("{}_{w}", lw[k]);
                    names.iter().any(|n| n.contains(&pair))
                })
            })
        };
        // Words of the values the question names ("the album Greatest Hits").
        let in_values: Vec<String> = shape
            .literals
            .iter()
            .filter_map(|l| match l {
                Literal::Text(t) => Some(t.split(' ').map(str::to_string).collect::<Vec<_>>()),
                Literal::Number(_) => None,
            })
            .flatten()
            .collect();
        let superlative = lw.iter().enumerate().any(|(k, w)| {
            let before = |j: usize, x: &str| k >= j && lw[k - j] == x;
            let next = lw.get(k + 1).map(String::as_str);
            SUPERLATIVES.contains(&w.as_str())
                // "at least 3", "at (the) most 3", "most of their tracks", "the top of".
                && !(matches!(w.as_str(), "most" | "least")
                    && (before(1, "at") || (before(1, "the") && before(2, "at"))))
                && !(matches!(w.as_str(), "most" | "top") && next == Some("of"))
                && !names_a_column(k)
                && !in_values.contains(w)
        });
        let in_order = ["first", "last"]
            .iter()
            .any(|f| SUPERLATIVES.iter().any(|s| has_phrase(&format!("{s} {f}"))))
            || has_word("sorted")
            || has_phrase("in order of")
            || has_phrase("in order by")
            || has_phrase("alphabetical order")
            || has_phrase("in alphabetical")
            || has_phrase("descending order")
            || has_phrase("ascending order")
            || has_phrase("ordered by");
        shape.ordered = superlative || in_order;
        if shape.ordered {
            // A count next to the superlative or "top"/"first": "top 5", "the ten longest",
            // "five most expensive", "first 3".
            shape.limit = counts.iter().find_map(|(k, n)| {
                let near = |j: usize| {
                    lw.get(j).is_some_and(|w| {
                        SUPERLATIVES.contains(&w.as_str()) || w == "first" || w == "top"
                    })
                };
                (near(k + 1) || near(k.wrapping_sub(1)) || near(k + 2))
                    .then(|| n.parse().ok())
                    .flatten()
            });
        }
        shape.negated = NEGATIONS.iter().any(|n| has_word(n)) || lower.contains("n't");
        shape.compared = COMPARISONS.iter().any(|c| has_phrase(c));
        shape
    }

    /// Whether the question demands nothing.
    pub fn is_empty(&self) -> bool {
        *self == Shape::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["customer", "country", "track", "artist", "album", "name"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn a_proper_noun_inside_a_sentence_is_a_value_and_a_sentence_start_is_not() {
        let s = Shape::of(
            "Which customers live in Brazil? Give their first and last names.",
            &names(),
        );
        assert_eq!(s.literals, vec![Literal::Text("brazil".into())]);
        assert!(!s.grouped && !s.ordered && !s.negated && !s.compared);
        let s = Shape::of("Which tracks did Jimi Hendrix compose?", &names());
        assert_eq!(s.literals, vec![Literal::Text("jimi hendrix".into())]);
        let s = Shape::of("What are the titles of the albums by AC/DC?", &names());
        assert_eq!(s.literals, vec![Literal::Text("ac/dc".into())]);
        // A table's name in capitals and a month are not values.
        let s = Shape::of("How many orders of Customer 7 came in May?", &names());
        assert_eq!(s.literals, vec![Literal::Number("7".into())]);
        // Apostrophes quote nothing; quotes around a value do.
        let s = Shape::of(
            "What's each artist's total? Name 'Let There Be Rock'.",
            &names(),
        );
        assert_eq!(s.literals, vec![Literal::Text("let there be rock".into())]);
        let s = Shape::of("Which artists have at least 3 albums?", &names());
        assert!(s.compared && !s.ordered, "{s:?}");
    }

    #[test]
    fn counts_ordering_grouping_negation_and_comparison_are_read() {
        let s = Shape::of(
            "What are the ten longest tracks and how long are they?",
            &names(),
        );
        assert!(s.ordered);
        assert_eq!(s.limit, Some(10));
        let s = Shape::of(
            "Who are the top 5 customers by total amount spent?",
            &names(),
        );
        assert_eq!(s.limit, Some(5));
        let s = Shape::of("How many tracks are there in each genre?", &names());
        assert!(s.grouped && !s.ordered);
        let s = Shape::of("Total sales per billing country, highest first.", &names());
        assert!(s.grouped && s.ordered && s.limit.is_none());
        // "the most <noun>" counts per row; "the most <adjective>" only orders.
        let s = Shape::of("Which artist has the most tracks?", &names());
        assert!(s.grouped && s.ordered, "{s:?}");
        let s = Shape::of("Which genre sold the most units?", &names());
        assert!(s.grouped, "{s:?}");
        let s = Shape::of("Which is the most expensive track?", &names());
        assert!(!s.grouped && s.ordered, "{s:?}");
        let s = Shape::of("Which artists have at most 3 albums?", &names());
        assert!(!s.grouped, "{s:?}");
        // Superlatives that ask for no order.
        for q in [
            "How many tracks are on the album Greatest Hits?",
            "Which artists have most of their tracks in one genre?",
            "Which products are in order 10248?",
            "Which employee is at the top of the chart?",
            "Which artists have at the most 3 albums?",
        ] {
            assert!(!Shape::of(q, &names()).ordered, "{q}");
        }
        let s = Shape::of(
            "List the best finishes of poker players.",
            &["best_finish".to_string()],
        );
        assert!(!s.ordered, "{s:?}");
        let s = Shape::of("Which artists have no albums?", &names());
        assert!(s.negated);
        let s = Shape::of("How many tracks cost more than one dollar?", &names());
        assert!(s.compared);
        assert_eq!(s.literals, vec![Literal::Number("1".into())]);
        let s = Shape::of("List the first and last names of all employees.", &names());
        assert!(s.is_empty(), "{s:?}");
    }
}
