use super::*;
use crate::ask::history::{FeedbackRecord, StageMs};

const DAY: u64 = 86_400_000;
/// 2026-12-01T00:00Z.
const DEC1: u64 = 1_796_083_200_000;

fn ask(id: &str, at_ms: u64, question: &str, outcome: &str) -> AskRecord {
    AskRecord {
        id: id.into(),
        at_ms,
        question: question.into(),
        role: "alice".into(),
        database: "shop".into(),
        directive: "rows".into(),
        outcome: outcome.into(),
        attempts: 1,
        ..AskRecord::default()
    }
}

/// A history of six asks over two days, feedback and one line that is not an event.
fn fixture() -> String {
    let mut a1 = ask("a1", DEC1 + 1_000, "how many customers", "answered");
    a1.sql = Some("SELECT count(*) FROM customers".into());
    a1.timings = StageMs {
        retrieve: 12.0,
        generate: 900.0,
        check: 3.0,
        execute: 5.0,
    };
    let mut a2 = ask("a2", DEC1 + 2_000, "revenue per country", "answered");
    a2.sql = Some(
        "SELECT c.country, sum(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id \
         GROUP BY c.country"
            .into(),
    );
    a2.attempts = 2;
    a2.timings.generate = 2_500.0;
    let mut a3 = ask("a3", DEC1 + 3_000, "orders by ship mode", "failed");
    a3.attempts = 3;
    a3.errors = vec![
        "column \"ship_mode\" does not exist (42703)".into(),
        "column \"mode\" does not exist (42703)".into(),
    ];
    let mut a4 = ask("a4", DEC1 + DAY + 5, "slowest query ever", "failed");
    a4.errors = vec!["pgask: gave up after 1 attempt".into()];
    a4.sqlstate = Some("57014".into());
    a4.timings.execute = 30_000.0;
    let mut a5 = ask("a5", DEC1 + DAY + 6, "how many customers", "cached");
    a5.sql = Some("SELECT count(*) FROM customers".into());
    a5.attempts = 0;
    let a6 = ask("a6", DEC1 + DAY + 7, "stop", "cancelled");
    let bad = FeedbackRecord {
        ask: "a2".into(),
        at_ms: DEC1 + DAY + 10,
        question: "revenue per country".into(),
        sql: "SELECT c.country, sum(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.country".into(),
        verdict: "bad".into(),
        note: Some("net of refunds".into()),
        ..FeedbackRecord::default()
    };
    let corrected = FeedbackRecord {
        verdict: "corrected".into(),
        sql: "SELECT country, sum(net) FROM revenue GROUP BY country".into(),
        note: None,
        at_ms: DEC1 + DAY + 11,
        ..bad.clone()
    };
    let good = FeedbackRecord {
        ask: "a1".into(),
        verdict: "good".into(),
        at_ms: DEC1 + DAY + 12,
        ..FeedbackRecord::default()
    };
    let mut lines: Vec<String> = [a1, a2, a3, a4, a5, a6]
        .into_iter()
        .map(|a| serde_json::to_string(&Event::Ask(a)).expect("serialises"))
        .collect();
    for f in [bad, corrected, good] {
        lines.push(serde_json::to_string(&Event::Feedback(f)).expect("serialises"));
    }
    lines.insert(3, "not json at all".into());
    lines.join("\n") + "\n"
}

fn loaded() -> Loaded {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("asks.jsonl");
    std::fs::write(&path, fixture()).expect("write fixture");
    load(&path).expect("load")
}

#[test]
fn counts_outcomes_days_and_attempts() {
    let l = loaded();
    assert_eq!(l.skipped, 1);
    let r = build(&l, 0);
    assert_eq!(r.asks, 6);
    assert_eq!((r.answered, r.failed, r.cancelled, r.cached), (3, 2, 1, 1));
    assert!((r.success_rate - 0.5).abs() < 1e-9);
    // a5 came from the cache: no attempts; the other five made 1 + 2 + 3 + 1 + 1.
    assert!((r.mean_attempts - 8.0 / 5.0).abs() < 1e-9);
    assert_eq!(
        r.days,
        vec![
            Day {
                date: "2026-12-01".into(),
                asks: 3,
                answered: 2
            },
            Day {
                date: "2026-12-02".into(),
                asks: 3,
                answered: 1
            },
        ]
    );
    assert_eq!(r.skipped_lines, 1);
}

#[test]
fn failures_are_grouped_by_the_last_sqlstate() {
    let r = build(&loaded(), 0);
    let kinds: Vec<(&str, usize)> = r
        .failures
        .iter()
        .map(|f| (f.sqlstate.as_str(), f.asks))
        .collect();
    assert_eq!(kinds, vec![("42703", 1), ("57014", 1)]);
    assert_eq!(r.failures[0].questions, vec!["orders by ship mode"]);
}

#[test]
fn tables_slowest_and_bad_answers() {
    let r = build(&loaded(), 0);
    assert_eq!(
        r.tables,
        vec![("customers".to_string(), 3), ("orders".to_string(), 1)]
    );
    let generate: Vec<(f64, &str)> = r
        .slowest
        .iter()
        .filter(|s| s.stage == "generate")
        .map(|s| (s.ms, s.question.as_str()))
        .collect();
    assert_eq!(
        generate,
        vec![
            (2_500.0, "revenue per country"),
            (900.0, "how many customers")
        ]
    );
    assert_eq!(r.slowest.iter().filter(|s| s.stage == "execute").count(), 2);
    assert_eq!(r.bad.len(), 1);
    let b = &r.bad[0];
    assert_eq!(b.ask, "a2");
    assert!(b.sql.as_deref().is_some_and(|s| s.contains("JOIN orders")));
    assert_eq!(
        b.correction.as_deref(),
        Some("SELECT country, sum(net) FROM revenue GROUP BY country")
    );
    assert_eq!(b.note.as_deref(), Some("net of refunds"));
    let text = r.text();
    for needle in [
        "asks: 6  answered: 3 (50.0%)",
        "2026-12-02",
        "42703  1 asks",
        "orders by ship mode",
        "corrected: SELECT country",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

#[test]
fn since_leaves_out_older_asks_and_feedback() {
    let l = loaded();
    let r = build(&l, DEC1 + DAY);
    assert_eq!((r.asks, r.answered, r.failed), (3, 1, 1));
    assert_eq!(r.days.len(), 1);
    assert_eq!(r.failures[0].sqlstate, "57014");
    // The feedback came on the second day, about an ask of the first: still listed, with its SQL.
    assert_eq!(r.bad.len(), 1);
    assert!(r.bad[0].sql.is_some());
    let none = build(&l, DEC1 + 3 * DAY);
    assert_eq!(
        (none.asks, none.success_rate, none.mean_attempts),
        (0, 0.0, 0.0)
    );
    assert!(none.bad.is_empty());
}

#[test]
fn since_parses_dates_times_and_ages() {
    let now = DEC1 + DAY;
    assert_eq!(parse_since("2026-12-01", now).ok(), Some(DEC1));
    assert_eq!(
        parse_since("2026-12-01T06:30", now).ok(),
        Some(DEC1 + (6 * 60 + 30) * 60_000)
    );
    assert_eq!(parse_since("1970-01-01", now).ok(), Some(0));
    assert_eq!(parse_since("36h", now).ok(), Some(now - 36 * 3_600_000));
    assert_eq!(parse_since("7d", now).ok(), Some(now - 7 * DAY));
    assert_eq!(parse_since("90m", now).ok(), Some(now - 90 * 60_000));
    for bad in [
        "yesterday",
        "2026-13-01",
        "2026-12-01T25:00",
        "d",
        "-3d",
        "",
    ] {
        assert!(parse_since(bad, now).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn dates_round_trip() {
    for (ms, date) in [
        (0, "1970-01-01"),
        (DEC1, "2026-12-01"),
        (DEC1 - 1, "2026-11-30"),
        (951_782_400_000, "2000-02-29"),
    ] {
        assert_eq!(civil_date(ms), date);
    }
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let e = load(Path::new("/nonexistent/asks.jsonl")).expect_err("missing file");
    assert!(e.to_string().contains("/nonexistent/asks.jsonl"));
}

#[test]
fn repeated_asks_are_answers_and_torn_lines_are_skipped() {
    let mut again = ask("r1", DEC1, "how many customers", "repeated");
    again.sql = Some("SELECT count(*) FROM Customers".into());
    again.attempts = 0;
    let mut bytes = serde_json::to_vec(&Event::Ask(again)).expect("serialises");
    bytes.extend_from_slice(b"\n{\"event\":\"ask\",\"question\":\"torn \xe2\x82");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("asks.jsonl");
    std::fs::write(&path, bytes).expect("write");
    let l = load(&path).expect("a torn last line is not fatal");
    assert_eq!((l.events.len(), l.skipped), (1, 1));
    let r = build(&l, 0);
    assert_eq!((r.answered, r.repeated, r.failed), (1, 1, 0));
    assert!(r.failures.is_empty());
    assert_eq!(r.mean_attempts, 0.0);
    assert_eq!(r.tables, vec![("customers".to_string(), 1)]);
}

#[test]
fn cte_names_are_not_tables_and_user_text_cannot_drive_the_terminal() {
    assert_eq!(
        tables_of(
            "WITH big AS (SELECT * FROM invoice) SELECT * FROM big JOIN \"Customer\" c ON true"
        ),
        vec!["invoice".to_string(), "Customer".to_string()]
    );
    let mut a = ask("x", DEC1, "evil\u{1b}[2J\nforged line", "failed");
    a.sqlstate = Some("42703".into());
    let r = build(
        &Loaded {
            events: vec![Event::Ask(a)],
            skipped: 0,
        },
        0,
    );
    let text = r.text();
    assert!(
        !text.contains('\u{1b}') && text.contains("evil\\u{1b}[2J\\nforged line"),
        "{text}"
    );
}

#[test]
fn huge_ages_and_dates_out_of_range_do_not_overflow() {
    let now = DEC1;
    assert_eq!(parse_since("1830034134296583w", now).ok(), Some(0));
    assert_eq!(parse_since("18446744073709551615m", now).ok(), Some(0));
    for bad in ["292278000-01-01", "9223372036854775807-01-01", "1969-12-31"] {
        assert!(parse_since(bad, now).is_err(), "{bad:?} accepted");
    }
}
