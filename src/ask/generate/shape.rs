//! What a question's own words demand of its query's shape, for the sampler's scope check.
//!
//! A small model tends to answer a simpler question than the one asked: `SELECT count(*) FROM
//! customers` for "how many customers are there in each country", no filter for "customers in
//! Brazil", no ORDER BY for "the ten longest tracks". The words that ask for more are few and
//! plain, so they are read here and the decoder holds the model to them (as it holds it to real
//! names): an answer may not end while a demand is unmet, and a grouped question's SELECT list
//! may not reach FROM without a grouping key beside its aggregate. The model's next-best token
//! is used instead, so it writes the filter, the grouping or the ordering itself.
//!
//! Demands, each only from unambiguous words:
//! - **literals**: numbers (digits; number words; "one" only after a comparison), quoted text,
//!   and capitalised words inside a sentence that name no table or column (`Brazil`, `AC/DC`,
//!   `General Manager`) must appear in the query (a number may sit inside a date literal);
//! - **grouped**: "each", "per" or "for every" with an aggregate word ("how many", "average",
//!   "total", …): the top-level SELECT has a plain item beside an aggregate;
//! - **ordered**: a superlative ("most", "longest", "top", …): a top-level ORDER BY, or a
//!   max()/min() when no count of rows is asked for; **limit**: "top 5", "the ten longest":
//!   `LIMIT 5`, `LIMIT 10`;
//! - **negated**: "no", "never", "without", "not": NOT, IS NULL, `<>`, `!=` or EXCEPT;
//! - **compared**: "more than", "before", "at least", …: a `<` or `>` or BETWEEN.
//!
//! Only the first attempt is held to them: a retry (after PostgreSQL refused the query) is free,
//! so a demand read wrongly costs time, never the answer.

use serde::{Deserialize, Serialize};

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

/// What a query text has, as the scope check's lexer saw it (top level: outside parentheses).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// String literals (lower case, without quotes) and numbers anywhere.
    pub texts: Vec<String>,
    pub numbers: Vec<String>,
    pub top_order: bool,
    /// The top-level LIMIT's number, if any.
    pub top_limit: Option<u64>,
    /// A max() or min() call anywhere.
    pub extreme: bool,
    pub negation: bool,
    pub comparison: bool,
}

const NUMBER_WORDS: &[(&str, &str)] = &[
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

const NEGATIONS: &[&str] = &["no", "never", "without", "not", "none", "nobody", "nothing"];

/// Capitalised words that are not values.
const NOT_VALUES: &[&str] = &[
    "i",
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
        // Quoted text.
        for q in ['\'', '"'] {
            let parts: Vec<&str> = question.split(q).collect();
            for (k, p) in parts.iter().enumerate() {
                if k % 2 == 1 && k + 1 < parts.len() && !p.trim().is_empty() {
                    push(Literal::Text(p.trim().to_lowercase()), &mut shape);
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
                && w.chars().next().is_some_and(|c| c.is_ascii_digit());
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
        shape.grouped =
            aggregate && (has_word("each") || has_word("per") || has_phrase("for every"));
        let superlative = SUPERLATIVES.iter().any(|s| has_word(s));
        let in_order = ["first", "last"]
            .iter()
            .any(|f| SUPERLATIVES.iter().any(|s| has_phrase(&format!("{s} {f}"))))
            || has_word("sorted")
            || has_phrase("in order");
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

    /// The demands a whole query with `facts` leaves unmet (each counts one).
    pub fn unmet(&self, facts: &Facts) -> usize {
        let mut n = 0;
        for l in &self.literals {
            let met = match l {
                Literal::Number(d) => {
                    facts.numbers.iter().any(|x| same_number(x, d))
                        || facts.texts.iter().any(|t| t.contains(d.as_str()))
                }
                Literal::Text(t) => facts.texts.iter().any(|x| x.contains(t.as_str())),
            };
            n += usize::from(!met);
        }
        if let Some(limit) = self.limit {
            n += usize::from(facts.top_limit != Some(limit) || !facts.top_order);
        } else if self.ordered {
            n += usize::from(!facts.top_order && !facts.extreme);
        }
        n += usize::from(self.negated && !facts.negation);
        n += usize::from(self.compared && !facts.comparison);
        n
    }
}

fn same_number(a: &str, b: &str) -> bool {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
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
        let s = Shape::of("Which artists have no albums?", &names());
        assert!(s.negated);
        let s = Shape::of("How many tracks cost more than one dollar?", &names());
        assert!(s.compared);
        assert_eq!(s.literals, vec![Literal::Number("1".into())]);
        let s = Shape::of("List the first and last names of all employees.", &names());
        assert!(s.is_empty(), "{s:?}");
    }

    #[test]
    fn a_query_meets_the_demands_or_counts_what_it_lacks() {
        let s = Shape::of("How many invoices were issued in 2023?", &names());
        let mut f = Facts::default();
        assert_eq!(s.unmet(&f), 1);
        f.texts.push("2023-01-01".into());
        assert_eq!(s.unmet(&f), 0, "a year inside a date literal");
        let s = Shape::of("What are the five most expensive products?", &names());
        let mut f = Facts {
            numbers: vec!["5".into()],
            top_limit: Some(5),
            ..Facts::default()
        };
        assert_eq!(s.unmet(&f), 1, "LIMIT 5 without ORDER BY");
        f.top_order = true;
        assert_eq!(s.unmet(&f), 0);
        let s = Shape::of("What is the price of the most expensive track?", &names());
        let f = Facts {
            extreme: true,
            ..Facts::default()
        };
        assert_eq!(
            s.unmet(&f),
            0,
            "max() answers a superlative without a count"
        );
    }
}
