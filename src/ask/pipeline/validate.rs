//! Stage 3, validation: the guard (one read-only query over names the role may read) on each
//! candidate, and what an execution error means for the ask: a correctable failure the next
//! attempt is told about, the client's cancel, or an error that ends the ask.

use super::{AskError, Asker, Db};
use crate::ask::catalog::Access;
use crate::ask::execute::ExecError;
use crate::ask::generate::prompt::Failure;
use crate::ask::guard;

/// Why a query was not answered with.
#[derive(Debug)]
pub(super) enum Rejected {
    /// Correctable: the next attempt sees the SQL and PostgreSQL's (or the guard's) error.
    Correctable(Failure),
    /// The client cancelled (its CancelRequest reached the server while the query ran).
    Cancelled,
    /// Not correctable: the ask ends with this error.
    Fatal(AskError),
}

impl Asker {
    /// The guard's verdict on `sql` for a role with `access`.
    pub(super) fn guard_sql(&self, sql: &str, db: &Db, access: &Access) -> Result<(), Failure> {
        if self.guard_off.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        guard::check(sql, &self.policy.load(), &db.retriever.catalog, access)
            .map(|_| ())
            .map_err(|e| Failure {
                sql: sql.to_string(),
                sqlstate: e.sqlstate().into(),
                message: e.to_string(),
                position: None,
                hint: e.hint().map(Into::into),
            })
    }
}

/// What an error from planning or running `sql` (before any row reached the client) means.
/// `cancelled` is the session's cancel flag: 57014 is the client's cancel only when the client
/// asked for one; otherwise it is `statement_timeout`, which the model can correct by filtering.
pub(super) fn rejected(e: ExecError, sql: &str, cancelled: bool) -> Rejected {
    match e {
        ExecError::Before(e) if e.sqlstate == "57014" && cancelled => Rejected::Cancelled,
        ExecError::Before(e) | ExecError::After(e) => Rejected::Correctable(Failure {
            sql: sql.to_string(),
            sqlstate: e.sqlstate,
            message: e.message,
            position: e.position,
            hint: e.hint,
        }),
        ExecError::TooCostly { cost, max } => Rejected::Correctable(Failure {
            sql: sql.to_string(),
            sqlstate: "54000".into(),
            message: format!("the plan's estimated cost {cost:.0} exceeds {max:.0}"),
            position: None,
            hint: Some("add a filter or a LIMIT".into()),
        }),
        ExecError::Link(e) => Rejected::Fatal(e.into()),
        e @ ExecError::Unexpected(_) => Rejected::Fatal(AskError::Server(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ask::execute::wire::ServerError;

    fn server(sqlstate: &str, message: &str) -> ExecError {
        ExecError::Before(ServerError {
            sqlstate: sqlstate.into(),
            message: message.into(),
            ..ServerError::default()
        })
    }

    #[test]
    fn a_57014_is_a_cancel_only_when_the_client_cancelled() {
        // The message text does not decide: a server in another language says neither word.
        let e = || server("57014", "Abbruch der Anweisung");
        assert!(matches!(
            rejected(e(), "SELECT 1", true),
            Rejected::Cancelled
        ));
        match rejected(e(), "SELECT 1", false) {
            Rejected::Correctable(f) => assert_eq!(f.sqlstate, "57014"),
            other => panic!("a statement timeout is correctable, got {other:?}"),
        }
        match rejected(
            server("42703", "column \"x\" does not exist"),
            "SELECT x",
            true,
        ) {
            Rejected::Correctable(f) => {
                assert_eq!((f.sqlstate.as_str(), f.sql.as_str()), ("42703", "SELECT x"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            rejected(ExecError::TooCostly { cost: 2e9, max: 1e6 }, "SELECT 1", false),
            Rejected::Correctable(f) if f.sqlstate == "54000"
        ));
        assert!(matches!(
            rejected(ExecError::Unexpected('?'), "SELECT 1", false),
            Rejected::Fatal(_)
        ));
    }
}
