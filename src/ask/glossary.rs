//! The glossary: business terms and what they mean in this database (`config/glossary.toml`),
//! given to the model when the question uses the term.
//!
//! ```toml
//! [terms]
//! revenue = "sum(invoice_line.unit_price * invoice_line.quantity)"
//! "active customer" = "a customer with an invoice in the last 12 months"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

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
}

/// Terms and their meaning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Glossary {
    /// (lower-cased term, meaning)
    terms: Vec<(String, String)>,
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
        let f: File = toml::from_str(text)?;
        Ok(Glossary {
            terms: f
                .terms
                .into_iter()
                .map(|(t, m)| (t.trim().to_lowercase(), m))
                .filter(|(t, _)| !t.is_empty())
                .collect(),
        })
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The entries whose term occurs in the question as whole words (case-insensitive; a
    /// trailing plural "s" matches too).
    pub fn matching(&self, question: &str) -> Vec<(String, String)> {
        let words: Vec<String> = question
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        self.terms
            .iter()
            .filter(|(term, _)| {
                let want: Vec<&str> = term.split_whitespace().collect();
                !want.is_empty()
                    && words.windows(want.len()).any(|w| {
                        w.iter().zip(&want).all(|(have, want)| {
                            have == want || have.strip_suffix('s') == Some(want)
                        })
                    })
            })
            .cloned()
            .collect()
    }
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
}
