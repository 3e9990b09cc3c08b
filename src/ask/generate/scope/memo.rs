//! The problem counts of texts the scope check has judged, kept for the next check: the sampler
//! judges every candidate token against the same text, and the text a drawn token made is the
//! next step's start, so most counts would otherwise be computed twice.

use std::cell::RefCell;
use std::collections::VecDeque;

use super::Scope;

/// Texts judged last, with their problem count as a query still being written.
pub(super) const KEEP: usize = 64;

/// A memo of [`Scope::problems`] (not at an end) for one generation's texts.
#[derive(Debug, Default)]
pub struct Judged {
    pub(super) seen: RefCell<VecDeque<(String, usize)>>,
}

impl Judged {
    /// The problems of `text` under `scope`, from the memo when it was judged lately.
    fn count(&self, scope: &Scope, text: &str) -> usize {
        if let Some((_, n)) = self.seen.borrow().iter().find(|(t, _)| t == text) {
            return *n;
        }
        let n = scope.problems(text, false);
        let mut seen = self.seen.borrow_mut();
        if seen.len() == KEEP {
            seen.pop_front();
        }
        seen.push_back((text.to_string(), n));
        n
    }
}

impl Scope {
    /// [`Scope::rejects`] with the counts of texts judged before taken from `judged`.
    pub fn rejects_judged(&self, judged: &Judged, text: &str, piece: &str, end: bool) -> bool {
        if end {
            return self.rejects(text, piece, true);
        }
        let next = format!("{text}{piece}");
        judged.count(self, &next) > judged.count(self, text)
    }
}
