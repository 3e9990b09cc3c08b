//! The glossary: business terms and what they mean in this database (`config/glossary.toml`),
//! given to the model when the question uses the term.
//!
//! ```toml
//! [terms]
//! revenue = "sum(invoice_line.unit_price * invoice_line.quantity)"
//! "active customer" = "a customer with an invoice in the last 12 months"
//! ```
//!
//! The same file defines metrics and dimensions ([`crate::ask::semantic`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ask::semantic::{self, Definition, Entry, Kind, SemanticError};

/// The glossary file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum GlossaryError {
    #[error("cannot read the glossary {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the glossary {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    terms: BTreeMap<String, String>,
    #[serde(default)]
    metrics: BTreeMap<String, Entry>,
    #[serde(default)]
    dimensions: BTreeMap<String, Entry>,
}

/// Terms and their meaning, metrics and dimensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Glossary {
    /// (lower-cased term, meaning)
    terms: Vec<(String, String)>,
    /// Metrics, then dimensions, that passed their checks.
    definitions: Vec<Definition>,
    /// Definitions left out, each with its line (`pgask check` prints them).
    problems: Vec<SemanticError>,
}

impl Glossary {
    /// Reads a glossary; a missing file is an empty glossary.
    pub fn load(path: &Path) -> Result<Glossary, GlossaryError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Glossary::default()),
            Err(source) => {
                return Err(GlossaryError::Read {
                    path: path.into(),
                    source,
                })
            }
        };
        Self::parse(&text).map_err(|source| GlossaryError::Parse {
            path: path.into(),
            source: Box::new(source),
        })
    }

    pub fn parse(text: &str) -> Result<Glossary, toml::de::Error> {
        let f: File = match toml::from_str(text) {
            Ok(f) => f,
            Err(e) => return Self::parse_terms_only(text, e),
        };
        let (mut definitions, mut problems) = semantic::definitions(Kind::Metric, f.metrics, text);
        let (d, p) = semantic::definitions(Kind::Dimension, f.dimensions, text);
        definitions.extend(d);
        problems.extend(p);
        Ok(Glossary {
            definitions,
            problems,
            terms: normalised(f.terms),
        })
    }

    /// A file whose metrics or dimensions do not deserialize (a misspelled key, `sql = 5`) keeps
    /// its terms; the definitions are left out with the parser's message and line.
    fn parse_terms_only(text: &str, error: toml::de::Error) -> Result<Glossary, toml::de::Error> {
        #[derive(Deserialize)]
        struct Lenient {
            #[serde(default)]
            terms: BTreeMap<String, String>,
            #[serde(default)]
            metrics: Option<toml::Value>,
            #[serde(default)]
            dimensions: Option<toml::Value>,
        }
        let Ok(f) = toml::from_str::<Lenient>(text) else {
            return Err(error);
        };
        let _ = (f.metrics, f.dimensions);
        let line = error.span().map_or(0, |r| {
            text[..r.start.min(text.len())].matches('\n').count() + 1
        });
        Ok(Glossary {
            terms: normalised(f.terms),
            definitions: Vec::new(),
            problems: vec![SemanticError::File {
                line,
                message: error.message().to_string(),
            }],
        })
    }

    /// Terms, metrics and dimensions.
    pub fn len(&self) -> usize {
        self.terms.len() + self.definitions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every usable metric and dimension.
    pub fn definitions(&self) -> &[Definition] {
        &self.definitions
    }

    /// The definitions that were left out and why.
    pub fn problems(&self) -> &[SemanticError] {
        &self.problems
    }

    /// The metrics and dimensions whose name or a synonym occurs in the question as whole
    /// words (like terms).
    pub fn matching_definitions(&self, question: &str) -> Vec<&Definition> {
        let words = words(question);
        self.definitions
            .iter()
            .filter(|d| d.phrases().iter().any(|p| has_phrase(&words, p)))
            .collect()
    }

    /// The entries whose term occurs in the question as whole words (case-insensitive; a
    /// trailing plural "s" matches too).
    pub fn matching(&self, question: &str) -> Vec<(String, String)> {
        let words = words(question);
        self.terms
            .iter()
            .filter(|(term, _)| has_phrase(&words, term))
            .cloned()
            .collect()
    }
}

/// Terms lower-cased and trimmed; empty ones dropped.
fn normalised(terms: BTreeMap<String, String>) -> Vec<(String, String)> {
    terms
        .into_iter()
        .map(|(t, m)| (t.trim().to_lowercase(), m))
        .filter(|(t, _)| !t.is_empty())
        .collect()
}

/// A question's words, lower-cased.
fn words(question: &str) -> Vec<String> {
    question
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether `phrase` occurs in `words` as whole words (a trailing plural "s" matches too).
fn has_phrase(words: &[String], phrase: &str) -> bool {
    let want: Vec<&str> = phrase.split_whitespace().collect();
    !want.is_empty()
        && words.windows(want.len()).any(|w| {
            w.iter()
                .zip(&want)
                .all(|(have, want)| have == want || have.strip_suffix('s') == Some(want))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_whole_words_and_phrases() {
        let g = Glossary::parse(
            "[terms]\nrevenue = \"sum(total)\"\n\"Active customer\" = \"bought this year\"\nrev = \"no\"\n",
        )
        .unwrap();
        assert_eq!(g.len(), 3);
        let got = g.matching("Revenue of active customers by country");
        let terms: Vec<_> = got.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(terms, ["active customer", "revenue"]);
        assert!(g.matching("reverse order").is_empty());
    }

    #[test]
    fn a_missing_file_is_empty_and_a_bad_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Glossary::load(&dir.path().join("none.toml"))
            .unwrap()
            .is_empty());
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[terms]\nrevenue = 3\n").unwrap();
        assert!(matches!(
            Glossary::load(&bad),
            Err(GlossaryError::Parse { .. })
        ));
    }

    #[test]
    fn metrics_and_dimensions_match_by_name_and_synonym() {
        let g = Glossary::parse(
            "[metrics.net_revenue]\nsql = \"sum(o.total)\"\nsynonyms = [\"sales\"]\n[dimensions.order_month]\nsql = \"date_trunc('month', o.day)\"\n[dimensions.bad]\nsql = \"x\"\n",
        )
        .unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g.problems().len(), 1);
        let names = |q: &str| -> Vec<String> {
            g.matching_definitions(q)
                .iter()
                .map(|d| d.name.clone())
                .collect()
        };
        assert_eq!(
            names("Net revenue by order month"),
            ["net_revenue", "order_month"]
        );
        assert_eq!(names("total sales per country"), ["net_revenue"]);
        assert!(names("revenue per month").is_empty());
    }

    #[test]
    fn a_misspelled_metric_key_leaves_the_terms_in_place() {
        let g = Glossary::parse(
            "[terms]\nchurn = \"gone\"\n\n[metrics.revenue]\nsql = \"sum(o.total)\"\nsynonym = [\"sales\"]\n",
        )
        .unwrap();
        assert_eq!(g.matching("churn rate").len(), 1);
        assert!(g.definitions().is_empty());
        assert_eq!(g.problems().len(), 1);
        assert_eq!(g.problems()[0].line(), 6, "{}", g.problems()[0]);
    }
}
