//! Guarded execution on the client's own upstream session, the third read-only layer.
//!
//! - Client idle: `BEGIN READ ONLY` + `SET LOCAL statement_timeout`, EXPLAIN, the query as a
//!   portal limited to `max_rows`, then `COMMIT` (nothing could be written).
//! - Inside a client transaction: `SAVEPOINT` + `SET LOCAL transaction_read_only = on` +
//!   `SET LOCAL statement_timeout`, the same, then `ROLLBACK TO SAVEPOINT` + `RELEASE`: the
//!   server refuses every write, and rolling back to the savepoint also restores the two
//!   settings, so the client's transaction (its writes, settings and snapshot) is as it was.
//! - Inside a failed transaction: refused with 25P02, as PostgreSQL would.
//!
//! Internal statements' answers are swallowed; the client sees RowDescription, DataRows as they
//! arrive, and CommandComplete `SELECT n`.
//!
//! An extended-protocol request that executes an ask statement runs in the same scope
//! ([`forward_read_only`]): everything in it is read-only, and the row cap is a `LIMIT` around the
//! statement ([`capped`]), since the client chooses its own Execute row count.

pub mod fetch;
pub mod wire;

use crate::session::link::{Link, LinkError, Msg};
use wire::ServerError;

/// Savepoint name used inside client transactions: `pgask_` and a number drawn when the process
/// starts, so that no client's own savepoint is taken for it (its ROLLBACK TO would undo the
/// client's work since its savepoint).
fn savepoint() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        use std::hash::BuildHasher;
        let n = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
        format!("pgask_{n:016x}")
    })
}

/// Execution failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The server refused the query before any row reached the client: correctable.
    #[error("{0}")]
    Before(ServerError),
    /// The server failed after rows were sent (already forwarded to the client).
    #[error("{0}")]
    After(ServerError),
    #[error("the estimated cost {cost:.0} exceeds ask.max_cost {max:.0}")]
    TooCostly { cost: f64, max: f64 },
    #[error("unexpected message '{0}' from the server")]
    Unexpected(char),
}

/// Limits of one execution.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_rows: u32,
    pub statement_timeout_ms: u64,
    /// 0: no ceiling.
    pub max_cost: f64,
}

/// What an execution did.
#[derive(Debug, Clone, Default)]
pub struct Executed {
    pub rows: u64,
    /// The portal had more rows than `max_rows`.
    pub truncated: bool,
    pub cost: f64,
}

/// `sql` returning at most `max_rows` rows: wrapped in an outer `LIMIT` unless its own plain
/// top-level limit is already within it. Anything but one query is left as it is (the guard
/// refuses it; with the guard off, the server's read-only transaction does).
pub fn capped(sql: &str, max_rows: u32) -> String {
    if !crate::ask::guard::is_one_query(sql) {
        return sql.to_string();
    }
    match crate::ask::guard::row_limit(sql) {
        Some(n) if n <= u64::from(max_rows) => sql.to_string(),
        _ => format!("SELECT * FROM (\n{sql}\n) AS pgask_rows LIMIT {max_rows}"),
    }
}

/// Sends a client's extended-protocol request (ending with Sync) inside the read-only scope and
/// passes every answer to the client as it arrives, through `relay` (which may keep or replace
/// it), except the request's ReadyForQuery: the caller sends that one, with the status the
/// session has after the scope closed.
pub async fn forward_read_only(
    link: &mut Link<'_>,
    request: &[u8],
    status: u8,
    limits: &Limits,
    mut relay: impl FnMut(Msg) -> Option<Vec<u8>> + Send,
) -> Result<(), ExecError> {
    open(link, status, limits).await?;
    link.upstream(request).await?;
    loop {
        let m = link.recv().await?;
        if m.tag == b'Z' {
            break;
        }
        if let Some(bytes) = relay(m) {
            link.client(bytes).await?;
        }
    }
    close(link, status).await
}

/// Runs a simple Query, returning its messages up to ReadyForQuery, or the first error.
async fn simple(link: &mut Link<'_>, sql: &str) -> Result<Vec<Msg>, ExecError> {
    link.upstream(&wire::query(sql)).await?;
    let mut out = Vec::new();
    let mut err = None;
    loop {
        let m = link.recv().await?;
        match m.tag {
            b'Z' => break,
            b'E' => err = Some(wire::server_error(m.body())),
            // Notifications and parameter changes belong to the client.
            b'A' | b'S' => link.client(m.raw.clone()).await?,
            _ => out.push(m),
        }
    }
    match err {
        Some(e) => Err(ExecError::Before(e)),
        None => Ok(out),
    }
}

/// The schema path inside the scope: names resolve as the catalog writes them (a table of
/// `public` bare, [`crate::ask::catalog::Table::written`]), whatever the session's own path is
/// (`SET search_path = hidden, public` would put `hidden.customers` under `FROM customers`),
/// and a temporary table of the same name comes last, not first. pg_catalog stays first, as
/// PostgreSQL puts it by default: no table of `public` stands in for a built-in function.
const SEARCH_PATH: &str = "pg_catalog, public, pg_temp";

/// Opens the read-only scope for a session with transaction status `status`.
async fn open(link: &mut Link<'_>, status: u8, limits: &Limits) -> Result<(), ExecError> {
    let timeout = limits.statement_timeout_ms;
    let sql = if status == b'T' {
        let savepoint = savepoint();
        format!(
            "SAVEPOINT {savepoint}; SET LOCAL transaction_read_only = on; SET LOCAL statement_timeout = {timeout}; SET LOCAL search_path = {SEARCH_PATH}"
        )
    } else {
        format!(
            "BEGIN READ ONLY; SET LOCAL statement_timeout = {timeout}; SET LOCAL search_path = {SEARCH_PATH}"
        )
    };
    let opened = simple(link, &sql).await.map(|_| ());
    if let Err(ExecError::Before(_)) = &opened {
        // A statement after BEGIN or SAVEPOINT failed (a cancel between them): undo what did
        // run, so the session is left as it was.
        let _ = close(link, status).await;
    }
    opened
}

/// Closes the scope, leaving the session as it was before [`open`].
async fn close(link: &mut Link<'_>, status: u8) -> Result<(), ExecError> {
    let sql = if status == b'T' {
        let savepoint = savepoint();
        format!("ROLLBACK TO SAVEPOINT {savepoint}; RELEASE SAVEPOINT {savepoint}")
    } else {
        "ROLLBACK".to_string()
    };
    simple(link, &sql).await.map(|_| ())
}

/// The fields of the first DataRow among `msgs`, as text (NULL as `None`; no row: none).
fn first_row(msgs: &[Msg]) -> Vec<Option<String>> {
    msgs.iter()
        .find(|m| m.tag == b'D')
        .map(|m| text_fields(m.body()))
        .unwrap_or_default()
}

/// The first column of the first DataRow among `msgs`, as text (NULL and no row: `None`).
fn first_field(msgs: &[Msg]) -> Option<String> {
    first_row(msgs).into_iter().next().flatten()
}

/// The session's `client_encoding` (asks are answered in UTF-8 only) and `current_user` (the
/// role it acts as after `SET ROLE`), in one round trip.
pub async fn encoding_and_role(link: &mut Link<'_>) -> Result<(String, String), ExecError> {
    let msgs = simple(
        link,
        "SELECT pg_catalog.current_setting('client_encoding'), CURRENT_USER",
    )
    .await?;
    let mut fields = first_row(&msgs).into_iter();
    let encoding = fields.next().flatten().unwrap_or_default();
    let role = fields.next().flatten().unwrap_or_default();
    Ok((encoding, role))
}

/// Runs pgask's own small queries in one read-only scope, in order, keeping their rows from the
/// client: each one's first row as text fields (NULL as `None`; no row: an empty row). Each
/// runs with the time left before `deadline` as its `statement_timeout`. Stops at the first
/// that fails (a timeout included), at the deadline, or at the client's cancel, with the rows
/// of those before it. An error means the scope could not be closed or the link failed: the
/// session is no longer as the client left it.
pub async fn first_rows(
    link: &mut Link<'_>,
    sqls: &[String],
    status: u8,
    limits: &Limits,
    deadline: std::time::Instant,
) -> Result<Vec<Vec<Option<String>>>, ExecError> {
    let mut out = Vec::new();
    if sqls.is_empty() {
        return Ok(out);
    }
    match open(link, status, limits).await {
        Err(ExecError::Before(e)) => {
            tracing::debug!(error = %e, "the read-only scope did not open");
            return Ok(out);
        }
        other => other?,
    }
    for sql in sqls {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || link.is_cancelled() {
            break;
        }
        let ms = left.as_millis().clamp(1, 1_000_000);
        match simple(link, &format!("SET LOCAL statement_timeout = {ms}; {sql}")).await {
            Ok(msgs) => out.push(first_row(&msgs)),
            Err(ExecError::Before(e)) => {
                tracing::debug!(error = %e, "an internal query failed");
                break;
            }
            Err(e) => return Err(e),
        }
    }
    close(link, status).await?;
    Ok(out)
}

/// A DataRow's fields as text (a malformed row gives the fields before the fault).
fn text_fields(body: &[u8]) -> Vec<Option<String>> {
    let mut out = Vec::new();
    let Some(n) = body.get(..2).map(|b| i16::from_be_bytes([b[0], b[1]])) else {
        return out;
    };
    let mut at = 2;
    for _ in 0..n.max(0) {
        let Some(len) = body
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(i32::from_be_bytes)
        else {
            break;
        };
        at += 4;
        match usize::try_from(len) {
            Err(_) => out.push(None),
            Ok(len) => {
                let Some(v) = body.get(at..at + len) else {
                    break;
                };
                out.push(Some(String::from_utf8_lossy(v).into_owned()));
                at += len;
            }
        }
    }
    out
}

/// The planner's total cost of `sql` (EXPLAIN without running it).
async fn explain(link: &mut Link<'_>, sql: &str) -> Result<f64, ExecError> {
    let msgs = simple(link, &format!("EXPLAIN (FORMAT JSON) {sql}")).await?;
    let plan = first_field(&msgs).and_then(|v| serde_json::from_str::<serde_json::Value>(&v).ok());
    Ok(plan
        .as_ref()
        .and_then(|p| p.pointer("/0/Plan/Total Cost"))
        .and_then(|c| c.as_f64())
        .unwrap_or(0.0))
}

/// Plans `sql` in the read-only scope without running it: the check before an `ask sql:`.
pub async fn check(
    link: &mut Link<'_>,
    sql: &str,
    status: u8,
    limits: &Limits,
) -> Result<f64, ExecError> {
    open(link, status, limits).await?;
    let r = explain(link, sql).await;
    close(link, status).await?;
    let cost = r?;
    if limits.max_cost > 0.0 && cost > limits.max_cost {
        return Err(ExecError::TooCostly {
            cost,
            max: limits.max_cost,
        });
    }
    Ok(cost)
}

/// Plans and runs `sql` read-only, streaming its rows to the client.
pub async fn run(
    link: &mut Link<'_>,
    sql: &str,
    status: u8,
    limits: &Limits,
) -> Result<Executed, ExecError> {
    open(link, status, limits).await?;
    let r = run_open(link, sql, limits).await;
    // The scope is closed whatever happened (an error aborted it; close rolls it back).
    let closed = close(link, status).await;
    let done = r?;
    closed?;
    Ok(done)
}

/// What a candidate's trial run returned: enough to tell whether two candidates answer alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sampled {
    /// A digest of the column count and the rows as a multiset (row order does not count).
    pub digest: u64,
    /// Rows read (at most the sample size).
    pub rows: u64,
}

/// Plans and runs `sql` read-only with at most `sample_rows` rows, keeping the rows from the
/// client: the trial run of one candidate before the vote. Notifications and parameter changes
/// still reach the client; notices of the trial do not (the winner's run repeats them).
pub async fn sample(
    link: &mut Link<'_>,
    sql: &str,
    status: u8,
    limits: &Limits,
    sample_rows: u32,
) -> Result<Sampled, ExecError> {
    open(link, status, limits).await?;
    let r = sample_open(link, sql, limits, sample_rows).await;
    let closed = close(link, status).await;
    let done = r?;
    closed?;
    Ok(done)
}

async fn sample_open(
    link: &mut Link<'_>,
    sql: &str,
    limits: &Limits,
    sample_rows: u32,
) -> Result<Sampled, ExecError> {
    use std::hash::{Hash, Hasher};
    let cost = explain(link, sql).await?;
    if limits.max_cost > 0.0 && cost > limits.max_cost {
        return Err(ExecError::TooCostly {
            cost,
            max: limits.max_cost,
        });
    }
    link.upstream(&wire::run_portal(sql, sample_rows.max(1)))
        .await?;
    let mut rows: Vec<Vec<u8>> = Vec::new();
    let mut columns = 0u16;
    let mut err = None;
    loop {
        let m = link.recv().await?;
        match m.tag {
            b'T' => {
                columns = m
                    .body()
                    .get(..2)
                    .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
            }
            b'D' => rows.push(m.body().to_vec()),
            b'E' => err = Some(ExecError::Before(wire::server_error(m.body()))),
            b'A' | b'S' => link.client(m.raw).await?,
            b'Z' => break,
            _ => {}
        }
    }
    if let Some(e) = err {
        return Err(e);
    }
    rows.sort_unstable();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    columns.hash(&mut h);
    rows.hash(&mut h);
    Ok(Sampled {
        digest: h.finish(),
        rows: rows.len() as u64,
    })
}

async fn run_open(link: &mut Link<'_>, sql: &str, limits: &Limits) -> Result<Executed, ExecError> {
    let cost = explain(link, sql).await?;
    if limits.max_cost > 0.0 && cost > limits.max_cost {
        return Err(ExecError::TooCostly {
            cost,
            max: limits.max_cost,
        });
    }
    link.upstream(&wire::run_portal(sql, limits.max_rows))
        .await?;
    let mut done = Executed {
        cost,
        ..Executed::default()
    };
    // RowDescription is held back until the first row, so that an error before any row is
    // still correctable without the client having seen anything.
    let mut description: Option<Vec<u8>> = None;
    let mut err = None;
    loop {
        let m = link.recv().await?;
        match m.tag {
            b'1' | b'2' | b'n' => {}
            b'T' => description = Some(m.raw),
            b'D' => {
                if let Some(d) = description.take() {
                    link.client(d).await?;
                }
                done.rows += 1;
                link.client(m.raw).await?;
            }
            b's' | b'C' => {
                done.truncated = m.tag == b's';
                if let Some(d) = description.take() {
                    link.client(d).await?;
                }
                link.client(wire::command_complete(&format!("SELECT {}", done.rows)))
                    .await?;
            }
            b'E' => {
                let e = wire::server_error(m.body());
                err = Some(if done.rows == 0 {
                    ExecError::Before(e)
                } else {
                    link.client(m.raw).await?;
                    ExecError::After(e)
                });
            }
            b'A' | b'S' | b'N' => link.client(m.raw).await?,
            b'Z' => break,
            other => err = err.or(Some(ExecError::Unexpected(other as char))),
        }
    }
    match err {
        Some(e) => Err(e),
        None => Ok(done),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_row_fields_are_read_as_text_with_nulls() {
        let row = wire::data_row(&[Some("Brazil"), None, Some("")]);
        assert_eq!(
            text_fields(&row[5..]),
            vec![Some("Brazil".to_string()), None, Some(String::new())]
        );
        // A row cut short gives the fields before the cut, and no panic.
        assert_eq!(text_fields(&row[5..12]), vec![]);
        assert_eq!(text_fields(&[]), vec![]);
    }
}
