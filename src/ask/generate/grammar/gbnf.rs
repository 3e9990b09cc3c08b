//! Writing GBNF text: string literals with escapes, identifier tries (so a grammar with thousands
//! of names keeps one parse stack per shared prefix instead of one per name), and a rule list
//! that refuses duplicate names.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::GrammarError;

/// A GBNF string literal for `s`.
pub fn lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An alternation of `names` factored into a trie: `"cust" ("omer" ("_id")? | "oms")`.
/// Empty input gives a rule that matches nothing useful, so callers must not ask for it.
pub fn trie(names: &[String]) -> String {
    let mut root = Node::default();
    for n in names.iter().filter(|n| !n.is_empty()) {
        let mut node = &mut root;
        for c in n.chars() {
            node = node.children.entry(c).or_default();
        }
        node.terminal = true;
    }
    emit(&root)
}

#[derive(Default)]
struct Node {
    terminal: bool,
    children: BTreeMap<char, Node>,
}

fn emit(node: &Node) -> String {
    let alts: Vec<String> = node
        .children
        .iter()
        .map(|(c, child)| {
            // Compress chains of single-child, non-terminal nodes into one literal.
            let mut label = String::from(*c);
            let mut n = child;
            while !n.terminal && n.children.len() == 1 {
                let Some((c2, next)) = n.children.iter().next() else {
                    break;
                };
                label.push(*c2);
                n = next;
            }
            let rest = emit(n);
            if rest.is_empty() {
                lit(&label)
            } else {
                format!("{} {}", lit(&label), rest)
            }
        })
        .collect();
    match (alts.len(), node.terminal) {
        (0, _) => String::new(),
        (1, false) => alts[0].clone(),
        (_, false) => format!("( {} )", alts.join(" | ")),
        (_, true) => format!("( {} )?", alts.join(" | ")),
    }
}

/// An ordered list of rules; the first one added is `root`'s neighbour only by convention.
#[derive(Default)]
pub struct Rules {
    text: String,
    names: std::collections::HashSet<String>,
}

impl Rules {
    pub fn add(&mut self, name: &str, body: &str) -> Result<(), GrammarError> {
        if !self.names.insert(name.to_string()) {
            return Err(GrammarError::Internal(format!("rule {name} defined twice")));
        }
        let _ = writeln!(self.text, "{name} ::= {body}");
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn into_text(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(lit(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn trie_factors_shared_prefixes() {
        let names: Vec<String> = ["customer", "customer_id", "customs", "album"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let t = trie(&names);
        assert_eq!(
            t, r#"( "album" | "custom" ( "er" ( "_id" )? | "s" ) )"#,
            "{t}"
        );
        assert_eq!(trie(&["x".to_string()]), r#""x""#);
    }

    #[test]
    fn duplicate_rules_are_refused() {
        let mut r = Rules::default();
        r.add("a", "\"x\"").unwrap();
        assert!(r.add("a", "\"y\"").is_err());
    }
}
