//! `pgask history`: a report over the ask history file (the JSONL file every ask and every piece
//! of feedback is appended to): asks per day, how many were answered, attempts, the SQLSTATEs
//! asks failed with and their questions, the slowest asks per stage, the tables asked about most
//! and the answers users called bad, with their corrections.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sqlparser::ast::visit_relations;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::ask::history::{AskRecord, Event};

/// Why no report could be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("history file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "--since {0:?}: expected a date (2026-12-01), a date and time (2026-12-01T08:00) \
         or an age (90m, 36h, 7d)"
    )]
    Since(String),
}

/// How many questions, tables and slow asks each list shows.
const TOP: usize = 5;

/// The history read back: asks and feedback, in file order, and how many lines were unreadable.
#[derive(Debug, Default)]
pub struct Loaded {
    pub events: Vec<Event>,
    pub skipped: usize,
}

/// Reads a JSONL history file (lines that are not history events are counted and skipped).
pub fn load(path: &Path) -> Result<Loaded, ReportError> {
    let file = std::fs::File::open(path).map_err(|source| ReportError::File {
        path: path.into(),
        source,
    })?;
    let mut loaded = Loaded::default();
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|source| ReportError::File {
                path: path.into(),
                source,
            })?;
        if n == 0 {
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        // A line torn by a crash (even mid-character) is skipped, not fatal.
        match serde_json::from_slice::<Event>(&line) {
            Ok(e) => loaded.events.push(e),
            Err(_) => loaded.skipped += 1,
        }
    }
    Ok(loaded)
}

/// `--since`: a UTC date, a UTC date and time, or an age before `now_ms`. Milliseconds since the
/// Unix epoch.
pub fn parse_since(text: &str, now_ms: u64) -> Result<u64, ReportError> {
    let bad = || ReportError::Since(text.to_string());
    let t = text.trim();
    if let Some(unit) = t
        .chars()
        .last()
        .filter(|c| matches!(c, 'm' | 'h' | 'd' | 'w'))
    {
        let n: u64 = t[..t.len() - 1].parse().map_err(|_| bad())?;
        let per: u64 = match unit {
            'm' => 1,
            'h' => 60,
            'd' => 60 * 24,
            _ => 60 * 24 * 7,
        };
        let ms = n.saturating_mul(per).saturating_mul(60_000);
        return Ok(now_ms.saturating_sub(ms));
    }
    let (date, time) = t.split_once(['T', ' ']).unwrap_or((t, "00:00"));
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (Some(Some(y)), Some(Some(m)), Some(Some(day))) = (d.next(), d.next(), d.next()) else {
        return Err(bad());
    };
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    let mut hm = time.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (Some(Some(h)), Some(Some(min))) = (hm.next(), hm.next()) else {
        return Err(bad());
    };
    if !(0..24).contains(&h) || !(0..60).contains(&min) {
        return Err(bad());
    }
    let days = days_from_civil(y, m, day);
    let ms = (days * 86_400 + h * 3_600 + min * 60) * 1_000;
    u64::try_from(ms).map_err(|_| bad())
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The UTC date (YYYY-MM-DD) of milliseconds since the Unix epoch.
fn civil_date(ms: u64) -> String {
    let z = (ms / 86_400_000) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// One day's asks.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Day {
    pub date: String,
    pub asks: usize,
    pub answered: usize,
}

/// A failure kind: the SQLSTATE of the last error (or `guard` and the like when the SQL never
/// reached the server), how often, and some of the questions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub sqlstate: String,
    pub asks: usize,
    pub questions: Vec<String>,
}

/// One of the slowest asks in a stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Slow {
    pub stage: &'static str,
    pub ms: f64,
    pub question: String,
}

/// An answer its user called bad, and what they said it should have been.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bad {
    pub ask: String,
    pub question: String,
    pub sql: Option<String>,
    pub correction: Option<String>,
    pub note: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// Asks counted (at or after `since`).
    pub asks: usize,
    /// Answered (from the model or the answer cache).
    pub answered: usize,
    pub failed: usize,
    pub cancelled: usize,
    pub cached: usize,
    /// Answered again from the connection's memory (the same question, or a driver's new Parse
    /// of the same ask statement).
    pub repeated: usize,
    /// answered ÷ asks, 0 without asks.
    pub success_rate: f64,
    /// Mean attempts of the asks that reached the model (cached answers make none).
    pub mean_attempts: f64,
    pub days: Vec<Day>,
    pub failures: Vec<Failure>,
    pub slowest: Vec<Slow>,
    /// Tables named by the answered SQL, most asked first.
    pub tables: Vec<(String, usize)>,
    pub bad: Vec<Bad>,
    /// Lines of the file that were not history events.
    pub skipped_lines: usize,
}

/// What an ask failed with: the SQLSTATE it recorded, else (records of older versions) the
/// latest one its errors name (`message (XXXXX)`), else `unknown`.
fn failure_kind(rec: &AskRecord) -> String {
    if let Some(code) = rec.sqlstate.as_deref().filter(|c| !c.is_empty()) {
        return code.to_string();
    }
    rec.errors
        .iter()
        .rev()
        .find_map(|e| {
            e.trim_end()
                .strip_suffix(')')
                .and_then(|s| s.rsplit_once('('))
                .map(|(_, c)| c)
                .filter(|c| c.len() == 5 && c.bytes().all(|b| b.is_ascii_alphanumeric()))
        })
        .unwrap_or("unknown")
        .to_string()
}

/// The tables a query reads (last name part, lower case as written).
fn tables_of(sql: &str) -> Vec<String> {
    let Ok(statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else {
        return vec![];
    };
    // The query's own CTE names are not tables.
    let mut ctes: Vec<String> = Vec::new();
    let _ = sqlparser::ast::visit_statements(&statements, |st| {
        if let sqlparser::ast::Statement::Query(q) = st {
            if let Some(w) = &q.with {
                ctes.extend(w.cte_tables.iter().map(|c| c.alias.name.value.clone()));
            }
        }
        ControlFlow::<()>::Continue(())
    });
    let mut out = Vec::new();
    let _ = visit_relations(&statements, |name| {
        if let Some(ident) = name.0.last().and_then(|p| p.as_ident()) {
            // Unquoted names fold to lower case, as PostgreSQL folds them.
            let t = match ident.quote_style {
                Some(_) => ident.value.clone(),
                None => ident.value.to_lowercase(),
            };
            let cte = name.0.len() == 1 && ctes.contains(&ident.value);
            if !cte && !out.contains(&t) {
                out.push(t);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    out
}

/// Builds the report over the events at or after `since_ms`.
pub fn build(loaded: &Loaded, since_ms: u64) -> Report {
    let mut r = Report {
        skipped_lines: loaded.skipped,
        ..Report::default()
    };
    let mut days: BTreeMap<String, Day> = BTreeMap::new();
    let mut failures: HashMap<String, Failure> = HashMap::new();
    let mut tables: HashMap<String, usize> = HashMap::new();
    let mut asks: HashMap<&str, &AskRecord> = HashMap::new();
    let mut slow: Vec<Slow> = Vec::new();
    let (mut attempts, mut generated) = (0usize, 0usize);
    for event in &loaded.events {
        let Event::Ask(rec) = event else { continue };
        asks.insert(rec.id.as_str(), rec);
        if rec.at_ms < since_ms {
            continue;
        }
        r.asks += 1;
        let day = days
            .entry(civil_date(rec.at_ms))
            .or_insert_with_key(|k| Day {
                date: k.clone(),
                ..Day::default()
            });
        day.asks += 1;
        match rec.outcome.as_str() {
            "answered" | "cached" | "repeated" | "reading" => {
                r.answered += 1;
                day.answered += 1;
                match rec.outcome.as_str() {
                    "cached" => r.cached += 1,
                    "repeated" => r.repeated += 1,
                    _ => {}
                }
                for t in rec.sql.as_deref().map(tables_of).unwrap_or_default() {
                    *tables.entry(t).or_default() += 1;
                }
            }
            "cancelled" => r.cancelled += 1,
            _ => {
                r.failed += 1;
                let f = failures
                    .entry(failure_kind(rec))
                    .or_insert_with_key(|k| Failure {
                        sqlstate: k.clone(),
                        asks: 0,
                        questions: vec![],
                    });
                f.asks += 1;
                if f.questions.len() < TOP && !f.questions.contains(&rec.question) {
                    f.questions.push(rec.question.clone());
                }
            }
        }
        if !matches!(rec.outcome.as_str(), "cached" | "repeated" | "reading") && rec.attempts > 0 {
            attempts += rec.attempts;
            generated += 1;
        }
        let t = rec.timings;
        for (stage, ms) in [
            ("retrieve", t.retrieve),
            ("generate", t.generate),
            ("check", t.check),
            ("execute", t.execute),
        ] {
            slow.push(Slow {
                stage,
                ms,
                question: rec.question.clone(),
            });
        }
    }
    r.success_rate = if r.asks == 0 {
        0.0
    } else {
        r.answered as f64 / r.asks as f64
    };
    r.mean_attempts = if generated == 0 {
        0.0
    } else {
        attempts as f64 / generated as f64
    };
    r.days = days.into_values().collect();
    r.failures = failures.into_values().collect();
    r.failures
        .sort_by(|a, b| b.asks.cmp(&a.asks).then(a.sqlstate.cmp(&b.sqlstate)));
    let mut tables: Vec<(String, usize)> = tables.into_iter().collect();
    tables.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    tables.truncate(TOP * 2);
    r.tables = tables;
    for stage in ["retrieve", "generate", "check", "execute"] {
        let mut of: Vec<&Slow> = slow.iter().filter(|s| s.stage == stage).collect();
        of.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        r.slowest
            .extend(of.into_iter().take(3).filter(|s| s.ms > 0.0).cloned());
    }
    r.bad = bad_answers(&loaded.events, &asks, since_ms);
    r
}

/// Asks marked `bad` (at or after `since_ms`), each with the correction given for the same ask
/// if there is one.
fn bad_answers(events: &[Event], asks: &HashMap<&str, &AskRecord>, since_ms: u64) -> Vec<Bad> {
    let mut out: Vec<Bad> = Vec::new();
    for event in events {
        let Event::Feedback(f) = event else { continue };
        if f.at_ms < since_ms || !matches!(f.verdict.as_str(), "bad" | "corrected") {
            continue;
        }
        let at = match out.iter().position(|b| b.ask == f.ask) {
            Some(i) => i,
            None => {
                out.push(Bad {
                    ask: f.ask.clone(),
                    question: f.question.clone(),
                    sql: asks.get(f.ask.as_str()).and_then(|a| a.sql.clone()),
                    correction: None,
                    note: None,
                });
                out.len() - 1
            }
        };
        let entry = &mut out[at];
        if f.verdict == "corrected" {
            entry.correction = Some(f.sql.clone());
        }
        if f.note.is_some() {
            entry.note = f.note.clone();
        }
    }
    out
}

/// User text made safe for a terminal: control characters (newlines, escape sequences) are
/// shown escaped instead of acting.
fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

impl Report {
    /// The report as text for a terminal.
    pub fn text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let pct = |x: f64| format!("{:.1}%", x * 100.0);
        let _ = writeln!(
            s,
            "asks: {}  answered: {} ({})  failed: {}  cancelled: {}  from the answer cache: {}  \
             repeated: {}",
            self.asks,
            self.answered,
            pct(self.success_rate),
            self.failed,
            self.cancelled,
            self.cached,
            self.repeated
        );
        let _ = writeln!(
            s,
            "mean attempts per ask that reached the model: {:.2}",
            self.mean_attempts
        );
        if self.skipped_lines > 0 {
            let _ = writeln!(
                s,
                "({} lines of the file were not history events)",
                self.skipped_lines
            );
        }
        let _ = writeln!(s, "\nper day (UTC):");
        for d in &self.days {
            let rate = if d.asks == 0 {
                0.0
            } else {
                d.answered as f64 / d.asks as f64
            };
            let _ = writeln!(
                s,
                "  {}  {:>5} asks  {:>5} answered  {:>6}",
                d.date,
                d.asks,
                d.answered,
                pct(rate)
            );
        }
        if !self.failures.is_empty() {
            let _ = writeln!(s, "\nfailures by SQLSTATE:");
            for f in &self.failures {
                let _ = writeln!(s, "  {}  {} asks", f.sqlstate, f.asks);
                for q in &f.questions {
                    let _ = writeln!(s, "      {}", shown(q));
                }
            }
        }
        if !self.slowest.is_empty() {
            let _ = writeln!(s, "\nslowest asks per stage:");
            for w in &self.slowest {
                let _ = writeln!(
                    s,
                    "  {:<8}  {:>9.0} ms  {}",
                    w.stage,
                    w.ms,
                    shown(&w.question)
                );
            }
        }
        if !self.tables.is_empty() {
            let _ = writeln!(s, "\ntables most asked about:");
            for (t, n) in &self.tables {
                let _ = writeln!(s, "  {n:>5}  {}", shown(t));
            }
        }
        if !self.bad.is_empty() {
            let _ = writeln!(s, "\nanswers marked bad:");
            for b in &self.bad {
                let _ = writeln!(s, "  {}  {}", shown(&b.ask), shown(&b.question));
                if let Some(sql) = &b.sql {
                    let _ = writeln!(s, "      answered: {}", shown(sql));
                }
                if let Some(c) = &b.correction {
                    let _ = writeln!(s, "      corrected: {}", shown(c));
                }
                if let Some(n) = &b.note {
                    let _ = writeln!(s, "      note: {}", shown(n));
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests;
