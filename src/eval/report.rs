//! The results of an eval run: one record per question, the summary table by category (VA, EX,
//! TS, attempts, latency percentiles per stage, tokens), the JSON file, and `--compare` of two
//! result files question by question.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ask::history::StageMs;

/// Why a result file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a pgask eval result file: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
}

/// One question's outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QuestionResult {
    pub id: String,
    pub question: String,
    pub category: String,
    pub db: String,
    pub gold: Vec<String>,
    /// The predicted SQL (generated, or from `--predictions`, or the gold with `--oracle`).
    pub sql: Option<String>,
    /// Why VA, EX or TS failed, in words.
    pub error: Option<String>,
    /// The predicted SQL parsed and ran.
    pub va: bool,
    /// Its result equals a gold query's on the original database.
    pub ex: bool,
    /// …and on every variant database.
    pub ts: bool,
    pub attempts: Option<usize>,
    /// Set when pgask reused an answer instead of generating (`from the answer cache`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused: Option<String>,
    pub stages: StageMs,
    /// Wall-clock milliseconds from sending the ask to its last row.
    pub total_ms: f64,
    pub tokens_in: usize,
    pub tokens_out: usize,
    /// With `--retrieval-only`: the gold tables and what retrieval ranked, best first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gold_tables: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retrieved: Vec<String>,
}

/// A whole run, as written to the JSON file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `ask`, `oracle`, `predictions` or `retrieval`.
    pub mode: String,
    pub questions_file: String,
    /// Numbers compare after rounding to this many decimal places.
    pub float_digits: u32,
    /// Variant databases TS was measured on (0: TS equals EX).
    pub variants: usize,
    /// The k values of the recall columns (`--retrieval-only`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ks: Vec<usize>,
    pub results: Vec<QuestionResult>,
}

impl Report {
    pub fn write(&self, path: &Path) -> Result<(), ReportError> {
        let text = serde_json::to_string_pretty(self).map_err(|source| ReportError::Json {
            path: path.display().to_string(),
            source,
        })?;
        std::fs::write(path, text + "\n").map_err(|source| ReportError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    pub fn read(path: &Path) -> Result<Report, ReportError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReportError::Io {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ReportError::Json {
            path: path.display().to_string(),
            source,
        })
    }

    /// Share of questions with VA, EX and TS, over all questions.
    pub fn overall(&self) -> Scores {
        Scores::of(self.results.iter())
    }

    /// The summary table: one row per category and one for all.
    pub fn table(&self) -> String {
        let mut by: BTreeMap<&str, Vec<&QuestionResult>> = BTreeMap::new();
        for r in &self.results {
            by.entry(r.category.as_str()).or_default().push(r);
        }
        let mut rows: Vec<(String, Vec<&QuestionResult>)> =
            by.into_iter().map(|(c, rs)| (c.to_string(), rs)).collect();
        if rows.len() != 1 {
            rows.push(("all".into(), self.results.iter().collect()));
        }
        if self.mode == "retrieval" {
            return self.recall_table(&rows);
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<16} {:>5} {:>6} {:>6} {:>6} {:>8} {:>15} {:>15} {:>15} {:>15} {:>15} {:>13}",
            "category",
            "n",
            "VA",
            "EX",
            "TS",
            "attempts",
            "retrieve p50/95",
            "generate p50/95",
            "check p50/95",
            "execute p50/95",
            "total p50/95",
            "tokens in/out"
        );
        for (name, rs) in &rows {
            let s = Scores::of(rs.iter().copied());
            let attempts: Vec<f64> = rs
                .iter()
                .filter_map(|r| r.attempts)
                .map(|a| a as f64)
                .collect();
            let stage = |f: fn(&QuestionResult) -> f64| {
                let v: Vec<f64> = rs.iter().map(|r| f(r)).collect();
                format!("{:.0}/{:.0} ms", percentile(&v, 50.0), percentile(&v, 95.0))
            };
            let n = rs.len().max(1) as f64;
            let tin = rs.iter().map(|r| r.tokens_in).sum::<usize>() as f64 / n;
            let tout = rs.iter().map(|r| r.tokens_out).sum::<usize>() as f64 / n;
            let _ = writeln!(
                out,
                "{:<16} {:>5} {:>5.1}% {:>5.1}% {:>5.1}% {:>8} {:>15} {:>15} {:>15} {:>15} {:>15} {:>13}",
                name,
                rs.len(),
                s.va * 100.0,
                s.ex * 100.0,
                s.ts * 100.0,
                if attempts.is_empty() {
                    "-".to_string()
                } else {
                    format!("{:.2}", attempts.iter().sum::<f64>() / attempts.len() as f64)
                },
                stage(|r| r.stages.retrieve),
                stage(|r| r.stages.generate),
                stage(|r| r.stages.check),
                stage(|r| r.stages.execute),
                stage(|r| r.total_ms),
                format!("{tin:.0}/{tout:.0}")
            );
        }
        let _ = writeln!(
            out,
            "VA: the SQL ran; EX: same rows as a gold query (multiset unless the gold orders, \
             ties on its first key in any order; column order free; numbers rounded to {} decimals); TS: EX on the original and {} \
             variant database(s).",
            self.float_digits, self.variants
        );
        out
    }

    fn recall_table(&self, rows: &[(String, Vec<&QuestionResult>)]) -> String {
        let mut out = String::new();
        let _ = write!(out, "{:<16} {:>5}", "category", "n");
        for k in &self.ks {
            let _ = write!(
                out,
                " {:>12} {:>10}",
                format!("strict@{k}"),
                format!("mean@{k}")
            );
        }
        out.push('\n');
        for (name, rs) in rows {
            let _ = write!(out, "{:<16} {:>5}", name, rs.len());
            for &k in &self.ks {
                let (strict, mean) = recall(rs, k);
                let _ = write!(out, " {:>11.1}% {:>9.1}%", strict * 100.0, mean * 100.0);
            }
            out.push('\n');
        }
        out.push_str(
            "strict@k: every gold table among the first k retrieved; mean@k: the share of gold \
             tables among them.\n",
        );
        out
    }

    /// The questions that failed, with why.
    pub fn failures(&self) -> String {
        let mut out = String::new();
        for r in &self.results {
            let failed = if self.mode == "retrieval" {
                let k = self.ks.iter().max().copied().unwrap_or(0);
                recall(&[r], k).0 < 1.0
            } else {
                !(r.va && r.ex && r.ts)
            };
            if failed {
                let what = if self.mode == "retrieval" {
                    "recall".to_string()
                } else if !r.va {
                    "VA".into()
                } else if !r.ex {
                    "EX".into()
                } else {
                    "TS".into()
                };
                let why = r.error.as_deref().unwrap_or("");
                let _ = writeln!(out, "FAIL {what:<6} {}: {} — {why}", r.id, r.question);
            }
        }
        out
    }
}

/// Mean strict and fractional recall@k of gold tables over `rs`.
fn recall(rs: &[&QuestionResult], k: usize) -> (f64, f64) {
    let with_gold: Vec<_> = rs.iter().filter(|r| !r.gold_tables.is_empty()).collect();
    if with_gold.is_empty() {
        return (0.0, 0.0);
    }
    let mut strict = 0.0;
    let mut mean = 0.0;
    for r in &with_gold {
        let gold: std::collections::BTreeSet<String> = r.gold_tables.iter().cloned().collect();
        let got = super::tables::recall_at_k(&gold, &r.retrieved, k);
        strict += f64::from(u8::from(got.strict));
        mean += got.fraction;
    }
    let n = with_gold.len() as f64;
    (strict / n, mean / n)
}

/// Shares of questions passing each metric.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scores {
    pub n: usize,
    pub va: f64,
    pub ex: f64,
    pub ts: f64,
}

impl Scores {
    fn of<'a>(rs: impl Iterator<Item = &'a QuestionResult>) -> Scores {
        let (mut n, mut va, mut ex, mut ts) = (0usize, 0usize, 0usize, 0usize);
        for r in rs {
            n += 1;
            va += usize::from(r.va);
            ex += usize::from(r.ex);
            ts += usize::from(r.ts);
        }
        let share = |x: usize| if n == 0 { 0.0 } else { x as f64 / n as f64 };
        Scores {
            n,
            va: share(va),
            ex: share(ex),
            ts: share(ts),
        }
    }
}

/// The nearest-rank percentile of `values` (0 when empty).
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// `--compare A B`: the overall scores of both and every question whose VA/EX/TS changed.
pub fn compare(a: &Report, b: &Report) -> String {
    let mut out = String::new();
    let (sa, sb) = (a.overall(), b.overall());
    let _ = writeln!(out, "{:<8} {:>8} {:>8} {:>8}", "", "VA", "EX", "TS");
    for (name, s) in [("A", sa), ("B", sb)] {
        let _ = writeln!(
            out,
            "{name:<8} {:>7.1}% {:>7.1}% {:>7.1}%",
            s.va * 100.0,
            s.ex * 100.0,
            s.ts * 100.0
        );
    }
    let _ = writeln!(
        out,
        "{:<8} {:>+7.1}  {:>+7.1}  {:>+7.1}",
        "B − A",
        (sb.va - sa.va) * 100.0,
        (sb.ex - sa.ex) * 100.0,
        (sb.ts - sa.ts) * 100.0
    );
    let in_b: BTreeMap<&str, &QuestionResult> =
        b.results.iter().map(|r| (r.id.as_str(), r)).collect();
    let (mut better, mut worse, mut missing) = (0, 0, 0);
    for ra in &a.results {
        let Some(rb) = in_b.get(ra.id.as_str()) else {
            missing += 1;
            continue;
        };
        let before = (ra.va, ra.ex, ra.ts);
        let after = (rb.va, rb.ex, rb.ts);
        if before == after {
            continue;
        }
        let score = |t: (bool, bool, bool)| u8::from(t.0) + u8::from(t.1) + u8::from(t.2);
        let sign = if score(after) > score(before) {
            better += 1;
            "+"
        } else {
            worse += 1;
            "-"
        };
        let flags = |t: (bool, bool, bool)| {
            format!(
                "{}{}{}",
                if t.0 { "VA " } else { "" },
                if t.1 { "EX " } else { "" },
                if t.2 { "TS" } else { "" }
            )
        };
        let _ = writeln!(
            out,
            "{sign} {}: {} [{}] -> [{}]\n    A: {}\n    B: {}",
            ra.id,
            ra.question,
            flags(before).trim(),
            flags(after).trim(),
            ra.sql.as_deref().unwrap_or("(none)"),
            rb.sql.as_deref().unwrap_or("(none)")
        );
    }
    let _ = writeln!(
        out,
        "{better} better, {worse} worse, {missing} of A's questions not in B"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, va: bool, ex: bool, ts: bool) -> QuestionResult {
        QuestionResult {
            id: id.into(),
            question: format!("q {id}"),
            category: "c".into(),
            va,
            ex,
            ts,
            total_ms: 10.0,
            ..Default::default()
        }
    }

    #[test]
    fn scores_percentiles_and_compare() {
        let a = Report {
            mode: "ask".into(),
            results: vec![
                result("1", true, true, true),
                result("2", true, false, false),
            ],
            ..Default::default()
        };
        let s = a.overall();
        assert_eq!((s.n, s.va, s.ex, s.ts), (2, 1.0, 0.5, 0.5));
        assert!(a.failures().contains("FAIL EX     2"), "{}", a.failures());
        assert!(!a.failures().contains(" 1: "));
        let b = Report {
            results: vec![
                result("1", true, true, false),
                result("2", true, true, true),
            ],
            ..a.clone()
        };
        let diff = compare(&a, &b);
        assert!(diff.contains("- 1:") && diff.contains("+ 2:"), "{diff}");
        assert!(diff.contains("1 better, 1 worse"), "{diff}");
        assert_eq!(percentile(&[5.0, 1.0, 3.0, 2.0, 4.0], 50.0), 3.0);
        assert_eq!(percentile(&[5.0, 1.0, 3.0, 2.0, 4.0], 95.0), 5.0);
        assert!(a.table().contains("50.0%"), "{}", a.table());
    }

    #[test]
    fn recall_counts_gold_tables_in_the_top_k() {
        let r = QuestionResult {
            gold_tables: vec!["artist".into(), "album".into()],
            retrieved: vec![
                "public.album".into(),
                "public.track".into(),
                "public.artist".into(),
            ],
            ..Default::default()
        };
        assert_eq!(recall(&[&r], 1), (0.0, 0.5));
        assert_eq!(recall(&[&r], 3), (1.0, 1.0));
    }
}
