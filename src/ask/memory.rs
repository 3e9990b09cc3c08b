//! What one connection remembers of its asks: the last few questions with the SQL that answered
//! them (shown to the model so that a follow-up such as "now only in 2024" has its context), and
//! the last ask, which `ask feedback:` refers to, with its other readings (`-- ask: #2`).

use std::collections::VecDeque;

/// Asks kept per connection for follow-ups.
const KEEP: usize = 4;

/// Between a follow-up and the question it followed, as feedback records them.
const CHAIN: &str = " \u{2014} ";

/// One answered ask of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub question: String,
    pub sql: String,
    /// The database it was asked in (a connection has one, but the record says so anyway).
    pub database: String,
    /// Its id in the history, for feedback.
    pub record: String,
    /// When its candidates disagreed: every reading's SQL, the answer's first (`-- ask: #2`
    /// runs the second). Empty when there was one reading.
    pub readings: Vec<String>,
    /// The answer cache's key it was asked under: feedback replaces or drops that answer.
    pub key: String,
    /// For a follow-up, the questions it followed, oldest first (the first question and the
    /// newest, at most [`KEEP`] with it): feedback records them together, since the follow-up
    /// alone means nothing elsewhere. Empty for a question that stands alone.
    pub follows: Vec<String>,
    /// Marked bad by `ask feedback: bad`: never given again as the answer to its question.
    pub bad: bool,
    /// Its SQL carries a value found by looking in this connection's data (its row-level
    /// security, its settings): marked good, it is no example for the role's other connections.
    pub from_data: bool,
}

impl Turn {
    /// The SQL of reading `n` (1-based): the answer itself for 1.
    pub fn reading(&self, n: usize) -> Option<&str> {
        match (n, self.readings.is_empty()) {
            (1, true) => Some(&self.sql),
            (_, false) => self.readings.get(n.checked_sub(1)?).map(String::as_str),
            _ => None,
        }
    }

    /// How many readings it had.
    pub fn readings(&self) -> usize {
        self.readings.len().max(1)
    }

    /// The question as a whole: a follow-up with the question it followed ("Which customers
    /// live in Brazil? — now only those with an invoice"), otherwise the question itself.
    pub fn whole_question(&self) -> String {
        let mut all = self.follows.clone();
        all.push(self.question.clone());
        all.join(CHAIN)
    }
}

/// The asks of one connection, oldest first.
#[derive(Debug, Default)]
pub struct Conversation {
    turns: VecDeque<Turn>,
    /// The connection's latest ask failed or was cancelled: it has no answer to rate, explain
    /// or pick a reading of (and no earlier one stands in for it).
    unanswered: bool,
}

impl Conversation {
    pub fn push(&mut self, turn: Turn) {
        if self.turns.len() == KEEP {
            self.turns.pop_front();
        }
        self.turns.push_back(turn);
        self.unanswered = false;
    }

    /// Replaces the last ask (with the reading the user chose of it).
    pub fn replace_last(&mut self, turn: Turn) {
        self.turns.pop_back();
        self.turns.push_back(turn);
        self.unanswered = false;
    }

    /// The latest ask got no answer (it failed or was cancelled).
    pub fn unanswered(&mut self) {
        self.unanswered = true;
    }

    /// An earlier ask answered again from memory is the last ask again (feedback refers to
    /// it): the newest turn `same` matches, not marked bad, moves to the back.
    pub fn answered_again(&mut self, same: impl Fn(&str) -> bool) {
        if let Some(k) = self.turns.iter().rposition(|t| !t.bad && same(&t.question)) {
            if let Some(t) = self.turns.remove(k) {
                self.turns.push_back(t);
            }
        }
        self.unanswered = false;
    }

    /// The last ask, which feedback, an empty explain and `#N` refer to: `None` when there is
    /// none or the latest ask got no answer.
    pub fn last(&self) -> Option<&Turn> {
        self.turns.back().filter(|_| !self.unanswered)
    }

    /// Feedback on the last ask: `Some(sql)` corrects its answer (follow-ups build on the
    /// correction, and asking again gets it), `None` marks it bad (asking again asks afresh).
    pub fn judge_last(&mut self, correction: Option<String>) {
        if let Some(t) = self.turns.back_mut() {
            match correction {
                Some(sql) => {
                    if t.sql != sql {
                        t.sql = sql;
                        t.readings.clear();
                    }
                    t.bad = false;
                }
                None => t.bad = true,
            }
        }
    }

    /// The questions the next ask follows when it is a follow-up: those of the last ask not
    /// marked bad, with the questions that one followed; of a long chain the first question
    /// and the newest, [`KEEP`] with the follow-up itself.
    pub fn followed_by(&self, question: &str) -> Vec<String> {
        if !follows_up(question) {
            return Vec::new();
        }
        let Some(last) = self.turns.iter().rev().find(|t| !t.bad) else {
            return Vec::new();
        };
        let mut chain = last.follows.clone();
        chain.push(last.question.clone());
        if chain.len() > KEEP - 1 {
            let newest = chain.split_off(chain.len() - (KEEP - 2));
            chain.truncate(1);
            chain.extend(newest);
        }
        chain
    }

    /// (question, SQL) of the earlier asks, oldest first, for the prompt (an answer marked
    /// bad is not shown: the model would copy it).
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.turns
            .iter()
            .filter(|t| !t.bad)
            .map(|t| (t.question.clone(), t.sql.clone()))
            .collect()
    }

    /// The SQL of an earlier ask with this question (compared by `same`), newest first: asking
    /// the same again, or a driver parsing the same ask statement again, gets the same answer.
    /// An answer marked bad is no answer.
    pub fn answer_to(&self, same: impl Fn(&str) -> bool) -> Option<&Turn> {
        self.turns
            .iter()
            .rev()
            .find(|t| !t.bad && same(&t.question))
    }

    /// (question, SQL) of the earlier asks for `question`'s prompt: all of them when it reads
    /// as a follow-up ([`follows_up`]), none otherwise. A small model copies the SQL it is shown
    /// last, so an unrelated question asked after "How many orders were cancelled?" came back
    /// as `… FROM orders WHERE status = 'cancelled'`.
    pub fn pairs_for(&self, question: &str) -> Vec<(String, String)> {
        if follows_up(question) {
            self.pairs()
        } else {
            Vec::new()
        }
    }

    /// A short fingerprint of the conversation `question` is asked in, part of the answer cache
    /// key: the same follow-up after different earlier asks may mean something else (empty
    /// for a question that is no follow-up: its prompt shows no earlier ask).
    pub fn context_key(&self, question: &str) -> String {
        if !follows_up(question) {
            return String::new();
        }
        self.turns
            .iter()
            .filter(|t| !t.bad)
            .map(|t| t.sql.as_str())
            .collect::<Vec<_>>()
            .join("\u{1}")
    }
}

/// Whether a question reads as a refinement of the ones before it: it starts (after "please",
/// "ok", "can you", …) with a word that continues ("and", "now", "only", "what about", "sort",
/// …), refers back ("those", "them", "ones", "too", …), or is too short to stand alone ("in
/// 2024?", "by country"). Words with an ordinary sense in a standalone question ("same",
/// "previous", "above", "what's") do not count.
pub fn follows_up(question: &str) -> bool {
    let lower = question.to_lowercase().replace('\u{2019}', "'");
    let mut words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .collect();
    // Fillers before the first word that counts ("please also …", "ok now …", "can you sort …").
    while let Some(w) = words.first() {
        match *w {
            "please" | "ok" | "okay" | "so" | "or" | "well" => {
                words.remove(0);
            }
            "can" | "could" | "would" if words.get(1) == Some(&"you") => {
                words.drain(..2);
            }
            _ => break,
        }
    }
    const STARTS: &[&str] = &[
        "and",
        "now",
        "only",
        "also",
        "but",
        "then",
        "instead",
        "just",
        "except",
        "excluding",
        "exclude",
        "without",
        "sort",
        "group",
        "limit",
        "break",
        "filter",
    ];
    const BACK: &[&str] = &["those", "these", "them", "instead", "ones", "too"];
    let about = matches!(words.as_slice(), ["what" | "how", "about", ..]);
    words.len() < 3
        || about
        || words.first().is_some_and(|w| STARTS.contains(w))
        || words.iter().any(|w| BACK.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(i: usize) -> Turn {
        Turn {
            question: format!("q{i}"),
            sql: format!("SELECT {i}"),
            database: "db".into(),
            record: i.to_string(),
            readings: vec![],
            key: format!("k{i}"),
            follows: Vec::new(),
            bad: false,
            from_data: false,
        }
    }

    #[test]
    fn an_answer_marked_bad_is_not_given_again_and_a_correction_is() {
        let mut c = Conversation::default();
        c.push(turn(1));
        c.push(turn(2));
        c.judge_last(None);
        assert!(c.answer_to(|q| q == "q2").is_none(), "marked bad");
        assert_eq!(
            c.answer_to(|q| q == "q1").map(|t| t.sql.as_str()),
            Some("SELECT 1")
        );
        c.judge_last(Some("SELECT 22".into()));
        let t = c.answer_to(|q| q == "q2").expect("corrected");
        assert_eq!(t.sql, "SELECT 22");
        assert_eq!(
            c.pairs()[1].1,
            "SELECT 22",
            "follow-ups build on the correction"
        );
    }

    #[test]
    fn a_follow_up_is_recorded_with_what_it_followed() {
        let mut c = Conversation::default();
        let mut first = turn(1);
        first.question = "Which customers live in Brazil?".into();
        c.push(first);
        assert!(c.followed_by("How many tracks are there?").is_empty());
        let follows = c.followed_by("now only those with an invoice");
        assert_eq!(follows, ["Which customers live in Brazil?"]);
        let mut second = turn(2);
        second.question = "now only those with an invoice".into();
        second.follows = follows;
        c.push(second);
        assert_eq!(
            c.last().map(Turn::whole_question).as_deref(),
            Some("Which customers live in Brazil? \u{2014} now only those with an invoice")
        );
        // A follow-up of a follow-up carries the whole chain: the first question and the
        // newest, KEEP with itself (a question may hold the separator itself).
        let third = c.followed_by("and sort them by name \u{2014} by last name");
        assert_eq!(
            third,
            [
                "Which customers live in Brazil?",
                "now only those with an invoice"
            ]
        );
        for i in 0..10 {
            let q = format!("and only page {i}");
            let mut t = turn(10 + i);
            t.follows = c.followed_by(&q);
            t.question = q;
            c.push(t);
        }
        let chain = c.last().map(|t| t.follows.clone()).unwrap_or_default();
        assert_eq!(
            chain,
            [
                "Which customers live in Brazil?",
                "and only page 7",
                "and only page 8"
            ]
        );
        // An answer marked bad is not what the next follow-up follows, nor shown, nor keyed.
        let key = c.context_key("and only page 10");
        let mut bad = turn(30);
        bad.question = "and only page 10".into();
        c.push(bad);
        c.judge_last(None);
        assert_ne!(
            c.context_key("and only page 10"),
            key,
            "KEEP turns: the oldest left"
        );
        assert!(c.pairs().iter().all(|(q, _)| q != "and only page 10"));
        assert!(c
            .followed_by("and only page 11")
            .last()
            .is_some_and(|f| f == "and only page 9"));
    }

    #[test]
    fn a_bad_answer_is_left_out_of_the_context_key() {
        let mut c = Conversation::default();
        c.push(turn(1));
        let key = c.context_key("and only big ones");
        c.push(turn(2));
        c.judge_last(None);
        assert_eq!(c.context_key("and only big ones"), key);
    }

    #[test]
    fn a_failed_ask_leaves_nothing_to_rate_and_a_repeated_one_is_the_last_again() {
        let mut c = Conversation::default();
        c.push(turn(1));
        c.push(turn(2));
        c.unanswered();
        assert!(
            c.last().is_none(),
            "feedback would rate the ask before the failed one"
        );
        c.answered_again(|q| q == "q1");
        assert_eq!(c.last().map(|t| t.question.as_str()), Some("q1"));
        c.push(turn(3));
        assert_eq!(c.last().map(|t| t.question.as_str()), Some("q3"));
    }

    #[test]
    fn keeps_the_last_few_in_order() {
        let mut c = Conversation::default();
        assert!(c.last().is_none());
        for i in 0..6 {
            c.push(turn(i));
        }
        let pairs = c.pairs();
        assert_eq!(pairs.len(), KEEP);
        assert_eq!(pairs[0].0, format!("q{}", 6 - KEEP));
        assert_eq!(c.last().unwrap().sql, "SELECT 5");
    }

    #[test]
    fn only_a_follow_up_sees_the_earlier_asks() {
        let mut c = Conversation::default();
        c.push(turn(1));
        for q in [
            "now only big spenders in the USA",
            "And in 2024?",
            "What about Germany?",
            "by country",
            "Sort those by name.",
            "Which of them live in Paris?",
            "Please also include the totals",
            "Can you sort that by date?",
            "Exclude the ones from Canada",
        ] {
            assert!(follows_up(q), "{q}");
            assert_eq!(c.pairs_for(q).len(), 1, "{q}");
            assert!(!c.context_key(q).is_empty(), "{q}");
        }
        for q in [
            "How many products are discontinued?",
            "List the names of all genres.",
            "Which customers are in the enterprise segment? Give their company names.",
            "In how many different cities do customers live?",
            "Which customers spent more than the average customer?",
            "How many products?",
            "What\u{2019}s the total revenue in 2024?",
            "Which products are priced above 20?",
            "Customers in the same city as their rep",
            "Order 10248 contains which products?",
        ] {
            assert!(!follows_up(q), "{q}");
            assert!(c.pairs_for(q).is_empty(), "{q}");
            assert_eq!(c.context_key(q), "", "{q}");
        }
    }

    #[test]
    fn readings_are_numbered_from_one() {
        let mut t = turn(1);
        assert_eq!(t.reading(1), Some("SELECT 1"));
        assert_eq!(t.reading(2), None);
        assert_eq!(t.reading(0), None);
        t.readings = vec!["SELECT 1".into(), "SELECT 2".into()];
        assert_eq!(t.reading(2), Some("SELECT 2"));
        assert_eq!(t.reading(3), None);
        assert_eq!(t.readings(), 2);
    }
}
