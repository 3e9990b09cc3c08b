//! The names a query under this scope may go on with: what the sampler's lexicon offers at a
//! dead end (see `llama::lexicon`).

use super::{lex, Kind, Scope};
use crate::ask::generate::grammar::FUNCTIONS;

impl Scope {
    /// The chosen tables' names, schemas and columns, the grammar's functions, the glossary's
    /// words, and the names `text` itself has written (aliases, CTEs, qualifiers it used), each
    /// once. A name written quoted or in capitals is given as the text has it.
    pub fn names_in_play(&self, text: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |n: &str| {
            if !n.is_empty() && !out.iter().any(|o| o == n) {
                out.push(n.to_string());
            }
        };
        for t in &self.catalog.tables {
            add(&t.name);
            add(&t.schema);
            for c in &t.columns {
                add(&c.name);
            }
        }
        for f in FUNCTIONS {
            add(f);
        }
        for w in &self.words {
            add(w);
        }
        for t in lex(text) {
            if t.kind == Kind::Ident && t.complete {
                add(t.text);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::ask::catalog::{Catalog, Column, Table};
    use crate::ask::generate::scope::Scope;

    #[test]
    fn tables_columns_functions_and_the_texts_own_names() {
        let catalog = Catalog {
            database: "chinook".into(),
            fingerprint: String::new(),
            tables: vec![Table::new(
                "album",
                vec![
                    Column::new("title", "text"),
                    Column::new("album_id", "integer"),
                ],
            )],
        };
        let sc = Scope::new(&catalog, &[0], "albums");
        let names = sc.names_in_play("SELECT al.title FROM album al JOIN ");
        for n in ["album", "title", "album_id", "count", "al"] {
            assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
        }
        assert_eq!(names.iter().filter(|n| *n == "album").count(), 1);
        // A word still being written is no name yet.
        assert!(!sc.names_in_play("SELECT ti").iter().any(|n| n == "ti"));
    }
}
