//! The text retrieval sees of each table and column: words of the name, the comment, columns
//! with their types and comments, foreign-key targets and enum labels.

use crate::ask::catalog::{Catalog, Table};

use super::words::spaced;

/// Columns listed in a table document at most; wide tables keep their keys and the first ones.
const MAX_DOC_COLUMNS: usize = 60;

/// The document of one table.
pub fn table_doc(catalog: &Catalog, t: &Table) -> String {
    let mut doc = format!("{} ({})", spaced(&t.name), t.name);
    if let Some(c) = &t.comment {
        doc.push_str(": ");
        doc.push_str(c);
    }
    doc.push_str(". Columns: ");
    let cols: Vec<String> = t
        .columns
        .iter()
        .take(MAX_DOC_COLUMNS)
        .map(|c| {
            let mut s = spaced(&c.name);
            if let Some(comment) = &c.comment {
                s.push_str(&format!(" ({comment})"));
            }
            if !c.enum_labels.is_empty() {
                s.push_str(&format!(" [{}]", c.enum_labels.join(", ")));
            }
            s
        })
        .collect();
    doc.push_str(&cols.join(", "));
    if !t.foreign_keys.is_empty() {
        let targets: Vec<String> = t
            .foreign_keys
            .iter()
            .map(|fk| spaced(&catalog.tables[fk.target].name))
            .collect();
        doc.push_str(". Refers to: ");
        doc.push_str(&targets.join(", "));
    }
    doc
}

/// The document of one column: table and column words, type, comment, labels and samples.
pub fn column_doc(t: &Table, c: &crate::ask::catalog::Column) -> String {
    let mut doc = format!("{} {} {}", spaced(&t.name), spaced(&c.name), c.data_type);
    if let Some(comment) = &c.comment {
        doc.push(' ');
        doc.push_str(comment);
    }
    for v in c.enum_labels.iter().chain(&c.samples) {
        doc.push(' ');
        doc.push_str(v);
    }
    doc
}
