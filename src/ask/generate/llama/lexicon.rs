//! The words a query may go on with where the model's own best tokens are all refused.
//!
//! At a dead end the sampler has looked at the model's best few tokens that the grammar allows
//! and the scope check refused every one. Often the way on is a name the query needs (the rest
//! of `postal` in `c.postal`, an alias the SELECT list already used, a column of the table
//! just named) or a short SQL word (`.`, `)`, ` FROM`), far down a weak model's list: a
//! random-weight model spreads its probability over thousands of name pieces. The lexicon
//! lists the vocabulary's tokens that spell a start of such a word, so the sampler can check
//! those few (the grammar and the scope check still decide) and take the model's best among
//! them before it takes a token back.

use std::collections::{HashMap, HashSet};

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

/// SQL words and punctuation a query goes on with, as the grammar spells them.
const WORDS: &[&str] = &[
    ".",
    ",",
    "(",
    ")",
    "*",
    "'",
    "=",
    " =",
    " <",
    " >",
    " (",
    " *",
    " '",
    " 1",
    "1",
    " FROM",
    " JOIN",
    " ON",
    " USING",
    " WHERE",
    " AS",
    " AND",
    " OR",
    " NOT",
    " IS",
    " NULL",
    " IN",
    " LIKE",
    " GROUP BY",
    " ORDER BY",
    " HAVING",
    " LIMIT",
    " DESC",
    " ASC",
    " DISTINCT",
    " CASE",
    " WHEN",
    " THEN",
    " ELSE",
    " END",
    " TRUE",
    "SELECT",
    " SELECT",
];

/// The model's vocabulary by the text of each token.
#[derive(Debug, Default)]
pub struct Lexicon {
    tokens: HashMap<Vec<u8>, LlamaToken>,
}

impl Lexicon {
    /// Indexes the ordinary tokens of `model` by their text (the first token of each text).
    pub fn new(model: &LlamaModel) -> Lexicon {
        let vocab = model.vocab();
        let mut tokens = HashMap::new();
        for i in 0..vocab.n_tokens().max(0) {
            let t = LlamaToken(i);
            if vocab.is_eog(t) {
                continue;
            }
            let piece = vocab.token_to_piece(t, false, None);
            if !piece.is_empty() {
                tokens.entry(piece).or_insert(t);
            }
        }
        Lexicon { tokens }
    }

    /// A lexicon over the given token texts (for tests).
    pub fn from_pieces<'a>(pieces: impl IntoIterator<Item = (&'a str, LlamaToken)>) -> Lexicon {
        let mut tokens = HashMap::new();
        for (p, t) in pieces {
            tokens.entry(p.as_bytes().to_vec()).or_insert(t);
        }
        Lexicon { tokens }
    }

    /// The tokens that spell a start of a next word for `text`: the rest of the word it ends
    /// with when `names` or [`WORDS`] has one that goes on from it, a whole name of `names`
    /// (after a space or not), or an SQL word of [`WORDS`]. Each token once, in no order.
    pub fn continuations(&self, text: &[u8], names: &[String]) -> Vec<LlamaToken> {
        let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
        let start = text.len() - text.iter().rev().take_while(|b| word(b)).count();
        let partial = &text[start..];
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut spell = |s: &[u8]| {
            for k in 1..=s.len() {
                if let Some(&t) = self.tokens.get(&s[..k]) {
                    if seen.insert(t) {
                        out.push(t);
                    }
                }
            }
        };
        let names = names.iter().map(String::as_str);
        for w in names.clone().chain(WORDS.iter().copied()) {
            let w = w.as_bytes();
            if !partial.is_empty() && w.len() > partial.len() && w.starts_with(partial) {
                spell(&w[partial.len()..]);
            }
        }
        for w in WORDS {
            spell(w.as_bytes());
        }
        for n in names {
            spell(n.as_bytes());
            spell(format!(" {n}").as_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIECES: &[&str] = &[
        "_", "_code", "_c", "code", ".", " FROM", " F", "post", " post", " al", " album", ")", "zz",
    ];

    fn lexicon() -> Lexicon {
        Lexicon::from_pieces(
            PIECES
                .iter()
                .enumerate()
                .map(|(i, p)| (*p, LlamaToken(i as i32))),
        )
    }

    fn texts(text: &str, names: &[&str]) -> Vec<&'static str> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        lexicon()
            .continuations(text.as_bytes(), &names)
            .into_iter()
            .map(|t| PIECES[t.0 as usize])
            .collect()
    }

    #[test]
    fn the_rest_of_a_name_being_written_is_offered() {
        let got = texts("SELECT c.postal", &["postal_code", "album"]);
        // The rest of `postal_code` in every length the vocabulary has.
        for p in ["_", "_c", "_code"] {
            assert!(got.contains(&p), "{p} missing from {got:?}");
        }
        // Whole names and SQL words, never a piece that spells none (`zz`, `code` alone).
        for p in [" album", " al", " FROM", " F", ".", ")"] {
            assert!(got.contains(&p), "{p} missing from {got:?}");
        }
        assert!(!got.contains(&"zz") && !got.contains(&"code"), "{got:?}");
        // Without a word being written, no rest of one.
        assert!(!texts("SELECT c.", &["postal_code"]).contains(&"_c"));
    }

    #[test]
    fn each_token_is_offered_once() {
        let got = texts("SELECT ", &["album", "album", "post"]);
        let mut unique = got.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), got.len());
    }
}
