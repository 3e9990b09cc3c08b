//! The NOTICE that ends an answered ask: the SQL, then one line with how it was produced, the
//! rows, per-stage milliseconds and tokens. [`Summary::parse`] reads it back, so tools that only
//! see the wire (`pgask eval --through`) get the same numbers.

use crate::ask::history::StageMs;

/// What the last NOTICE of an answered ask says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub sql: String,
    /// Generation attempts; `None` when the answer was reused or came from the cache.
    pub attempts: Option<usize>,
    /// With several candidates: how many gave the winner's result, of how many there were.
    pub agreed: Option<(usize, usize)>,
    /// How the answer came about when not generated (`from the answer cache`, …).
    pub reused: Option<String>,
    /// The rows part as shown (`rows: 12`, `rows: 1000 (cut at …)`, `planned with EXPLAIN …`).
    pub rows: String,
    pub stages: StageMs,
    pub tokens_in: usize,
    pub tokens_out: usize,
}

const PREFIX: &str = "pgask: ";

impl Summary {
    /// The NOTICE text.
    pub fn render(&self) -> String {
        let how = match (&self.reused, self.attempts) {
            (Some(r), _) => r.clone(),
            (None, a) => match self.agreed {
                Some((n, of)) => format!(
                    "attempts: {} ({n} of {of} candidates agreed)",
                    a.unwrap_or(0)
                ),
                None => format!("attempts: {}", a.unwrap_or(0)),
            },
        };
        let t = &self.stages;
        format!(
            "{PREFIX}{}\n-- {how}; {}; retrieve {:.0} ms, generate {:.0} ms, check {:.0} ms, \
             execute {:.0} ms; tokens {} in, {} out",
            self.sql,
            self.rows,
            t.retrieve,
            t.generate,
            t.check,
            t.execute,
            self.tokens_in,
            self.tokens_out
        )
    }

    /// Reads a NOTICE written by [`Summary::render`]; `None` for any other NOTICE.
    pub fn parse(text: &str) -> Option<Summary> {
        let body = text.strip_prefix(PREFIX)?;
        let (sql, line) = body.rsplit_once("\n-- ")?;
        let parts: Vec<&str> = line.split("; ").collect();
        let [how, rows, stages, tokens] = parts.as_slice() else {
            return None;
        };
        let (attempts, agreed, reused) = match how.strip_prefix("attempts: ") {
            Some(n) => match n.split_once(" (") {
                Some((n, votes)) => {
                    let (a, of) = votes
                        .strip_suffix(" candidates agreed)")?
                        .split_once(" of ")?;
                    (
                        Some(n.parse().ok()?),
                        Some((a.parse().ok()?, of.parse().ok()?)),
                        None,
                    )
                }
                None => (Some(n.parse().ok()?), None, None),
            },
            None => (None, None, Some(how.to_string())),
        };
        let mut ms = [0f64; 4];
        for (slot, (part, name)) in ms.iter_mut().zip(
            stages
                .split(", ")
                .zip(["retrieve", "generate", "check", "execute"]),
        ) {
            let v = part.strip_prefix(name)?.trim().strip_suffix(" ms")?;
            *slot = v.parse().ok()?;
        }
        let (tin, tout) = tokens
            .strip_prefix("tokens ")?
            .strip_suffix(" out")?
            .split_once(" in, ")?;
        Some(Summary {
            sql: sql.to_string(),
            attempts,
            agreed,
            reused,
            rows: rows.to_string(),
            stages: StageMs {
                retrieve: ms[0],
                generate: ms[1],
                check: ms[2],
                execute: ms[3],
            },
            tokens_in: tin.parse().ok()?,
            tokens_out: tout.parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_and_parse_round_trip() {
        let s = Summary {
            sql: "SELECT a\nFROM t; -- x".into(),
            attempts: Some(2),
            agreed: None,
            reused: None,
            rows: "rows: 1000 (cut at ask.max_rows = 1000)".into(),
            stages: StageMs {
                retrieve: 12.0,
                generate: 340.0,
                check: 1.0,
                execute: 9.0,
            },
            tokens_in: 1061,
            tokens_out: 42,
        };
        assert_eq!(Summary::parse(&s.render()), Some(s.clone()));
        let voted = Summary {
            agreed: Some((2, 3)),
            ..s.clone()
        };
        assert_eq!(Summary::parse(&voted.render()), Some(voted));
        let cached = Summary {
            attempts: None,
            reused: Some("from the answer cache".into()),
            ..s
        };
        assert_eq!(Summary::parse(&cached.render()), Some(cached));
        assert_eq!(Summary::parse("pgask: retrieving tables…"), None);
    }
}
