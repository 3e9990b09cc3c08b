//! `[history]`: where asks and feedback are recorded.

use std::path::PathBuf;

use serde::Deserialize;

/// Where the shared history lives besides the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HistoryStore {
    /// The JSONL file only.
    None,
    /// Also tables in a `pgask` schema of `history.database` on the upstream server (created by
    /// pgask), shared by every replica.
    Postgres,
}

/// `[history]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// JSONL file every ask and feedback is appended to; empty turns it off.
    /// Default `history/asks.jsonl`. Reload: no.
    pub file: PathBuf,
    /// `none` or `postgres`. Default `none`. Reload: no.
    pub store: HistoryStore,
    /// Database on the upstream server holding the `pgask` schema. Default `postgres`.
    /// Reload: no.
    pub database: String,
    /// Role that writes it (needs CREATE on the database the first time). Default `postgres`.
    /// Reload: no.
    pub user: String,
    /// Environment variable with that role's password. Default `PGASK_HISTORY_PASSWORD`.
    /// Reload: no.
    pub password_env: String,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            file: "history/asks.jsonl".into(),
            store: HistoryStore::None,
            database: "postgres".into(),
            user: "postgres".into(),
            password_env: "PGASK_HISTORY_PASSWORD".into(),
        }
    }
}
