//! Locating a config mistake: the line and column of a TOML error or of the key whose value is
//! wrong, so `pgask check` can point at it.

use std::fmt;
use std::path::Path;

/// One thing wrong with a config, with where it is when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl Problem {
    pub(super) fn from_toml(text: &str, e: &toml::de::Error) -> Problem {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unzip();
        Problem {
            file: None,
            line,
            column,
            message: e.message().trim().to_string(),
        }
    }

    /// A problem with the value of `key` (dotted), placed at that key in `text` when present.
    pub(super) fn at_key(text: &str, key: &str, message: String) -> Problem {
        let (line, column) = key_offset(text, key).map(|o| line_col(text, o)).unzip();
        Problem {
            file: None,
            line,
            column,
            message: format!("{key}: {message}"),
        }
    }

    pub(super) fn override_of(key: &str, message: String) -> Problem {
        Problem {
            file: None,
            line: None,
            column: None,
            message: format!("{key}: {message}"),
        }
    }

    pub(super) fn in_file(mut self, path: &Path) -> Problem {
        self.file = Some(path.display().to_string());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}:")?;
        }
        if let Some(line) = self.line {
            write!(f, "{line}:")?;
            if let Some(col) = self.column {
                write!(f, "{col}:")?;
            }
        }
        if self.file.is_some() || self.line.is_some() {
            f.write_str(" ")?;
        }
        f.write_str(&self.message)
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// Byte offset of a dotted key (or of its table header) in a TOML text.
fn key_offset(text: &str, dotted: &str) -> Option<usize> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let mut table = doc.as_table();
    let mut parts = dotted.split('.').peekable();
    while let Some(part) = parts.next() {
        let (key, item) = table.get_key_value(part)?;
        if parts.peek().is_none() {
            return key.span().or_else(|| item.span()).map(|s| s.start);
        }
        table = item.as_table()?;
    }
    None
}

/// Validates a config file and returns every problem found (at most one per pass, as serde stops
/// at the first); an empty list means the file is good.
pub fn check_file(path: &Path) -> Vec<Problem> {
    match std::fs::read_to_string(path) {
        Err(e) => vec![Problem {
            file: Some(path.display().to_string()),
            line: None,
            column: None,
            message: format!("cannot read: {e}"),
        }],
        Ok(text) => match super::Config::parse(&text) {
            Ok(_) => Vec::new(),
            Err(p) => vec![p.in_file(path)],
        },
    }
}
