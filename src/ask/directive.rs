//! Recognising an ask: a statement that, after any other leading comments, is nothing but one
//! `-- ask…:` comment (one or several lines) or `/* ask…: … */`, plus whitespace and `;`.
//! Everything else is an ordinary statement and passes through untouched.

use std::fmt;

/// The directives, as users write them after `ask`.
pub const DIRECTIVES: [&str; 9] = [
    "ask:",
    "ask sql:",
    "ask tables:",
    "ask path:",
    "ask feedback:",
    "ask examples:",
    "ask forget:",
    "ask explain:",
    "ask suggest:",
];

/// A directive that is not one of [`DIRECTIVES`] or is written wrong, or a statement that
/// reaches an ask by SQL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectiveError {
    #[error("unknown pgask directive \"ask {0}:\"")]
    Unknown(String),
    #[error("{name} needs {what}", name = directive_name(.0), what = .1)]
    Empty(&'static str, &'static str),
    #[error("one ask per statement, this one has {0}")]
    Several(usize),
    /// Not a directive: an ordinary statement that runs an ask's prepared statement through
    /// SQL (`EXECUTE a`), outside the ask's read-only scope.
    #[error("\"{0}\" is an ask's prepared statement: its SQL runs only through the protocol's Execute, inside pgask's read-only scope, not through EXECUTE")]
    RunsAsk(String),
}

/// How a directive is written: `ask:` or `ask sql:`.
fn directive_name(word: &str) -> String {
    if word.is_empty() {
        "\"ask:\"".into()
    } else {
        format!("\"ask {word}:\"")
    }
}

impl DirectiveError {
    /// What the user can write instead.
    pub fn hint(&self) -> String {
        match self {
            DirectiveError::Unknown(_) => format!("valid directives: {}", DIRECTIVES.join(", ")),
            DirectiveError::Empty(..) => {
                "example: -- ask: top 5 customers by revenue in 2024".into()
            }
            DirectiveError::Several(_) => {
                "end each ask with ; (psql sends every line up to ; as one statement)".into()
            }
            DirectiveError::RunsAsk(_) => {
                "execute the statement with Bind and Execute, or ask again with -- ask: …".into()
            }
        }
    }

    /// The SQLSTATE the client hears: a syntax error for a directive written wrong, "feature
    /// not supported" for an ask's statement run through SQL.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            DirectiveError::RunsAsk(_) => "0A000",
            _ => "42601",
        }
    }
}

/// What an ask wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directive {
    /// `ask:` the rows of generated SQL.
    Rows(String),
    /// `ask sql:` the generated SQL as one row, not run.
    Sql(String),
    /// `ask tables:` ranked tables.
    Tables(String),
    /// `ask path: a -> b` the join path.
    Path { from: String, to: String },
    /// `ask feedback:` good / bad / a corrected SQL statement.
    Feedback(Feedback),
    /// `ask examples:` the few-shot examples this role's prompts may show.
    Examples,
    /// `ask forget: <id>` takes an example back.
    Forget(String),
    /// `ask explain: <SQL>` the query in words, one row per clause; empty: the last ask's SQL.
    Explain(String),
    /// `ask suggest: [topic]` questions this schema can answer (about the topic's tables).
    Suggest(String),
}

impl Directive {
    /// The user's text of the directive (the question, words, SQL or id), for size limits.
    pub fn text_len(&self) -> usize {
        match self {
            Directive::Rows(t)
            | Directive::Sql(t)
            | Directive::Tables(t)
            | Directive::Forget(t)
            | Directive::Explain(t)
            | Directive::Suggest(t) => t.len(),
            Directive::Path { from, to } => from.len() + to.len(),
            Directive::Feedback(Feedback::Bad(t) | Feedback::Corrected(t)) => t.len(),
            Directive::Feedback(Feedback::Good) | Directive::Examples => 0,
        }
    }
}

/// Feedback on the connection's last ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feedback {
    Good,
    Bad(String),
    Corrected(String),
}

impl fmt::Display for Feedback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Feedback::Good => write!(f, "good"),
            Feedback::Bad(why) if why.is_empty() => write!(f, "bad"),
            Feedback::Bad(why) => write!(f, "bad: {why}"),
            Feedback::Corrected(sql) => write!(f, "corrected: {sql}"),
        }
    }
}

/// The comments a statement starts with, and whether anything but whitespace and `;` follows.
struct Comments<'a> {
    comments: Vec<&'a str>,
    rest_is_empty: bool,
}

fn leading_comments(sql: &str) -> Option<Comments<'_>> {
    let mut comments = Vec::new();
    let mut s = sql;
    loop {
        s = s.trim_start_matches(|c: char| c.is_whitespace() || c == ';');
        if let Some(body) = s.strip_prefix("--") {
            let end = body.find('\n').unwrap_or(body.len());
            comments.push(body[..end].trim_end_matches('\r'));
            s = &body[end..];
        } else if let Some(body) = s.strip_prefix("/*") {
            // PostgreSQL block comments nest.
            let mut depth = 1;
            let mut i = 0;
            let b = body.as_bytes();
            while depth > 0 {
                if i + 1 >= b.len() {
                    return None;
                }
                if b[i] == b'/' && b[i + 1] == b'*' {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b[i + 1] == b'/' {
                    depth -= 1;
                    i += 2;
                } else {
                    i += 1;
                }
            }
            comments.push(&body[..i - 2]);
            s = &body[i..];
        } else {
            return Some(Comments {
                comments,
                rest_is_empty: s.is_empty(),
            });
        }
    }
}

/// The directive of a statement: `None` for an ordinary statement (including one that merely
/// starts with an ask comment followed by SQL), `Some(Err)` for an unknown `ask xyz:`.
pub fn parse(sql: &str) -> Option<Result<Directive, DirectiveError>> {
    // Cheap tests first: this runs on every simple Query and Parse.
    let start = sql.trim_start_matches(|c: char| c.is_whitespace() || c == ';');
    if !(start.starts_with("--") || start.starts_with("/*")) {
        return None;
    }
    if !sql
        .as_bytes()
        .windows(3)
        .any(|w| w.eq_ignore_ascii_case(b"ask"))
    {
        return None;
    }
    let c = leading_comments(sql)?;
    if !c.rest_is_empty {
        return None;
    }
    let start = c.comments.iter().position(|t| head(t).is_some())?;
    let (word, first) = head(c.comments[start])?;
    let asks = 1 + c.comments[start + 1..]
        .iter()
        .filter(|t| head(t).is_some())
        .count();
    if asks > 1 {
        return Some(Err(DirectiveError::Several(asks)));
    }
    // Later line comments continue the question (a question wrapped over several lines).
    let mut text = first.trim().to_string();
    for more in &c.comments[start + 1..] {
        let more = more.trim();
        if !more.is_empty() {
            text.push(' ');
            text.push_str(more);
        }
    }
    let text = text.trim_end_matches([';', ' ', '\t']).to_string();
    let text = if word == "feedback" || word == "explain" {
        text
    } else {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    Some(directive(&word, text))
}

/// `ask <word>:` at the start of a comment: the word (lower case, may be empty) and the rest.
fn head(comment: &str) -> Option<(String, &str)> {
    let t = comment.trim_start();
    let after = t
        .get(..3)
        .filter(|p| p.eq_ignore_ascii_case("ask"))
        .map(|_| &t[3..])?;
    let colon = after.find(':')?;
    let word = after[..colon].trim();
    // `-- asked about x: ...` or `-- ask me anything: ...` are ordinary comments; a directive
    // word is one letters-only word (or none), separated from `ask` by whitespace.
    if !(word.is_empty()
        || (after.starts_with(char::is_whitespace)
            && word.chars().all(|ch| ch.is_ascii_alphabetic())))
    {
        return None;
    }
    Some((word.to_ascii_lowercase(), &after[colon + 1..]))
}

fn directive(word: &str, text: String) -> Result<Directive, DirectiveError> {
    let need = |d: &'static str, what: &'static str, text: String| {
        if text.is_empty() {
            Err(DirectiveError::Empty(d, what))
        } else {
            Ok(text)
        }
    };
    match word {
        "" => need("", "a question", text).map(Directive::Rows),
        "sql" => need("sql", "a question", text).map(Directive::Sql),
        "tables" => need("tables", "some words", text).map(Directive::Tables),
        "path" => {
            let (from, to) = text
                .split_once("->")
                .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
                .filter(|(a, b)| !a.is_empty() && !b.is_empty())
                .ok_or(DirectiveError::Empty(
                    "path",
                    "two tables: <table> -> <table>",
                ))?;
            Ok(Directive::Path { from, to })
        }
        "feedback" => {
            let lower = text.to_ascii_lowercase();
            if lower == "good" || lower == "good." {
                Ok(Directive::Feedback(Feedback::Good))
            } else if lower == "bad" || lower.starts_with("bad:") || lower.starts_with("bad ") {
                Ok(Directive::Feedback(Feedback::Bad(
                    text[3..].trim_start_matches([':', ' ']).trim().to_string(),
                )))
            } else if text.is_empty() {
                Err(DirectiveError::Empty(
                    "feedback",
                    "good, bad, or a corrected SQL statement",
                ))
            } else {
                Ok(Directive::Feedback(Feedback::Corrected(text)))
            }
        }
        "examples" => Ok(Directive::Examples),
        "explain" => Ok(Directive::Explain(text)),
        "suggest" => Ok(Directive::Suggest(text)),
        "forget" => need(
            "forget",
            "the id of an example (see -- ask examples:)",
            text,
        )
        .map(Directive::Forget),
        other => Err(DirectiveError::Unknown(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(q: &str) -> Option<Result<Directive, DirectiveError>> {
        Some(Ok(Directive::Rows(q.into())))
    }

    #[test]
    fn simple_asks() {
        assert_eq!(parse("-- ask: top 5 customers"), rows("top 5 customers"));
        assert_eq!(
            parse("  -- ask:top 5 customers ;\n"),
            rows("top 5 customers")
        );
        assert_eq!(parse("/* ask: top 5 customers */"), rows("top 5 customers"));
        assert_eq!(parse("-- ASK: Top 5"), rows("Top 5"));
        assert_eq!(
            parse("-- ask sql: how many tracks"),
            Some(Ok(Directive::Sql("how many tracks".into())))
        );
        assert_eq!(
            parse("-- ask tables: invoices and customers"),
            Some(Ok(Directive::Tables("invoices and customers".into())))
        );
        assert_eq!(
            parse("-- ask path: invoice_line -> artist"),
            Some(Ok(Directive::Path {
                from: "invoice_line".into(),
                to: "artist".into()
            }))
        );
    }

    #[test]
    fn several_lines_and_leading_comments() {
        assert_eq!(
            parse("-- ask: customers who bought\n--   jazz tracks in 2024\n;"),
            rows("customers who bought jazz tracks in 2024")
        );
        assert_eq!(
            parse("-- Metabase:: userID: 1 queryType: native queryHash: ab12\n-- ask: how many albums"),
            rows("how many albums")
        );
        assert_eq!(
            parse("/* Metabase:: userID: 1 */ /* ask: how many albums */"),
            rows("how many albums")
        );
        assert_eq!(
            parse("/* ask: nested /* comment */ works */"),
            rows("nested /* comment */ works")
        );
    }

    #[test]
    fn two_asks_in_one_statement_are_refused_not_merged() {
        assert_eq!(
            parse("-- ask: how many albums\n-- ask: how many artists"),
            Some(Err(DirectiveError::Several(2)))
        );
        assert_eq!(
            parse("/* ask: a */ /* ask sql: b */ -- ask tables: c"),
            Some(Err(DirectiveError::Several(3)))
        );
        // A wrapped line that merely starts with the word is still the question.
        assert_eq!(
            parse("-- ask: customers who\n-- asked for refunds"),
            rows("customers who asked for refunds")
        );
    }

    #[test]
    fn ordinary_statements_pass() {
        assert_eq!(parse("SELECT 1"), None);
        assert_eq!(parse("-- ask: what\nSELECT 1"), None);
        assert_eq!(parse("SELECT 1 -- ask: x"), None);
        assert_eq!(parse("-- asked about it: no"), None);
        assert_eq!(parse("-- task: nothing"), None);
        assert_eq!(parse("-- just a comment"), None);
        assert_eq!(parse("/* ask: unterminated"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("SELECT 'ask'"), None);
    }

    #[test]
    fn unknown_and_empty_directives() {
        let e = parse("-- ask xyz: hello").unwrap().unwrap_err();
        assert_eq!(e, DirectiveError::Unknown("xyz".into()));
        assert!(e.hint().contains("ask sql:") && e.hint().contains("ask feedback:"));
        let e = parse("-- ask:   ").unwrap().unwrap_err();
        assert_eq!(e.to_string(), "\"ask:\" needs a question");
        let e = parse("-- ask sql:").unwrap().unwrap_err();
        assert_eq!(e.to_string(), "\"ask sql:\" needs a question");
        assert_eq!(parse("-- ask examples:"), Some(Ok(Directive::Examples)));
        assert_eq!(
            parse("-- ask forget: 18c-1-0"),
            Some(Ok(Directive::Forget("18c-1-0".into())))
        );
        assert!(matches!(
            parse("-- ask path: a"),
            Some(Err(DirectiveError::Empty(..)))
        ));
    }

    #[test]
    fn feedback() {
        let fb = |s: &str| match parse(s) {
            Some(Ok(Directive::Feedback(f))) => f,
            other => panic!("{other:?}"),
        };
        assert_eq!(fb("-- ask feedback: good"), Feedback::Good);
        assert_eq!(fb("-- ask feedback: bad"), Feedback::Bad(String::new()));
        assert_eq!(
            fb("-- ask feedback: bad: wrong year"),
            Feedback::Bad("wrong year".into())
        );
        assert_eq!(
            fb("-- ask feedback: SELECT count(*) FROM album"),
            Feedback::Corrected("SELECT count(*) FROM album".into())
        );
    }
}
