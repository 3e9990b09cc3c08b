//! `[ask]`: how asks are answered and guarded.

use std::path::PathBuf;

use serde::Deserialize;

/// `[ask]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AskConfig {
    /// Answer `-- ask:` directives; false makes pgask a plain proxy. Default true. Reload: no.
    pub enabled: bool,
    /// Generation attempts per ask, each after a validation or execution error. Default 3.
    /// Reload: yes.
    pub max_attempts: usize,
    /// Most rows an ask returns (the portal stops there). Default 1000. Reload: yes.
    pub max_rows: u32,
    /// `statement_timeout` of an ask's query, in milliseconds. Default 30000. Reload: yes.
    pub statement_timeout_ms: u64,
    /// Refuse plans whose estimated total cost exceeds this (a correctable error: "add a
    /// filter or LIMIT"); 0 turns it off. Default 0. Reload: yes.
    pub max_cost: f64,
    /// Functions allowed besides the built-in allow-list (common aggregate, string, math and
    /// date functions). Default none. Reload: yes.
    pub extra_functions: Vec<String>,
    /// Role whose connection reads the catalog; empty: the asking client's own role.
    /// Default empty. Reload: yes.
    pub catalog_user: String,
    /// Environment variable holding that role's password, if the server asks for one.
    /// Default `PGASK_CATALOG_PASSWORD`. Reload: yes.
    pub catalog_password_env: String,
    /// Business terms and their meaning (`[terms]` table), given to the model when a question
    /// uses one; a missing file is an empty glossary. Default `config/glossary.toml`.
    /// Reload: no.
    pub glossary: PathBuf,
    /// Seconds a generated answer is reused for the same question (same database, catalog,
    /// role and conversation); 0 turns the answer cache off. Default 600. Reload: no.
    pub cache_ttl_secs: u64,
    /// Few-shot examples (good and corrected answers from `ask feedback:`) in each prompt,
    /// the most similar questions first. Default 3. Reload: yes.
    pub examples: usize,
    /// While a database has no examples of its own: up to this many examples made from the
    /// chosen tables' catalog (a count, a list, a top 3, an average, a count per parent row) in
    /// place of the generic ones from another schema; 0 shows the generic ones. Default 6.
    /// Reload: yes.
    pub catalog_examples: usize,
    /// A value the question names ("Brazil", a quoted string) is looked up in the chosen
    /// tables' text columns, read-only on the client's session as its role, for at most this
    /// many milliseconds; a column holding it is shown with it and the catalog examples filter
    /// on it; only outside a transaction block, in tables and materialized views of at most
    /// 200,000 estimated rows. Sensitive columns and tables are never looked in. 0 turns it off;
    /// at most 10000. Default 300. Reload: yes.
    pub value_lookup_ms: u64,
    /// Roles trusted to teach everyone: a prompt gets the asking role's own examples (its
    /// `good` and corrected feedback) plus those of these roles, and only examples whose every
    /// table and column the asking role may read. These roles may also `-- ask forget:` any
    /// example; other roles only their own. Default none. Reload: yes.
    pub feedback_roles: Vec<String>,
    /// Longest question (or other directive text) in bytes; a longer one is refused with
    /// SQLSTATE 54000 before anything is done with it. Default 4096. Reload: yes.
    pub max_question_bytes: usize,
}

impl Default for AskConfig {
    fn default() -> Self {
        AskConfig {
            enabled: true,
            max_attempts: 3,
            max_rows: 1000,
            statement_timeout_ms: 30_000,
            max_cost: 0.0,
            extra_functions: vec![],
            catalog_user: String::new(),
            catalog_password_env: "PGASK_CATALOG_PASSWORD".into(),
            glossary: "config/glossary.toml".into(),
            cache_ttl_secs: 600,
            examples: 3,
            catalog_examples: 6,
            value_lookup_ms: 300,
            feedback_roles: vec![],
            max_question_bytes: 4096,
        }
    }
}
