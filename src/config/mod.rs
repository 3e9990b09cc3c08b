//! pgask's configuration: the schema of `proxy.toml`, its defaults, and the `PGASK_*` / CLI
//! overrides. A config is validated as a whole before it is used or swapped in on SIGHUP.
//!
//! Every field says its default and whether SIGHUP applies it to a running proxy ("reload: yes")
//! or only a restart does ("reload: no"). Settings that reload take effect for new connections.

mod ask;
mod check;
mod history;
mod llm;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use ask::AskConfig;
pub use check::{check_file, Problem};
pub use history::{HistoryConfig, HistoryStore};
pub use llm::{LlmBackend, LlmConfig};

/// A config that cannot be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Problem),
}

/// The whole `proxy.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address clients connect to. Default `127.0.0.1:6432`. Reload: no.
    pub listen_addr: SocketAddr,
    /// Most client connections served at once; more get SQLSTATE 53300. Default 1000. Reload: no.
    pub max_connections: usize,
    /// Seconds a client has to finish TLS, startup and authentication. Default 15. Reload: yes.
    pub login_timeout_secs: u64,
    /// Largest client message accepted, checked before it is buffered; larger ones end the
    /// session with 08P01. Default 64 MiB. Reload: yes.
    pub max_message_bytes: usize,
    /// Seconds that busy sessions get to finish after SIGTERM/SIGINT before they are closed with
    /// 57P01; idle sessions close at once. Default 30. Reload: yes.
    pub shutdown_grace_secs: u64,
    /// Where Prometheus scrapes `/metrics`; unset means no metrics endpoint. Default unset.
    /// Reload: no.
    pub metrics_addr: Option<SocketAddr>,
    pub log: LogConfig,
    pub upstream: UpstreamConfig,
    pub tls: TlsConfig,
    pub catalog: CatalogConfig,
    pub retrieval: RetrievalConfig,
    pub llm: LlmConfig,
    pub ask: AskConfig,
    pub history: HistoryConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 6432)),
            max_connections: 1000,
            login_timeout_secs: 15,
            max_message_bytes: 64 << 20,
            shutdown_grace_secs: 30,
            metrics_addr: None,
            log: LogConfig::default(),
            upstream: UpstreamConfig::default(),
            tls: TlsConfig::default(),
            catalog: CatalogConfig::default(),
            ask: AskConfig::default(),
            history: HistoryConfig::default(),
            retrieval: RetrievalConfig::default(),
            llm: LlmConfig::default(),
        }
    }
}

/// `[log]`: tracing output.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`. Default `text`. Reload: no.
    pub format: LogFormat,
    /// A tracing filter (`info`, `pgask=debug`...); `RUST_LOG` wins when set. Default `info`.
    /// Reload: no.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// `[upstream]`: the PostgreSQL server behind pgask.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// Host name or IP address, or the server's socket directory (a path such as
    /// `/var/run/postgresql`, as in libpq: a server on the same host is then reached without
    /// TCP, which costs both sides less per message; no TLS there). Default `127.0.0.1`.
    /// Reload: yes.
    pub host: String,
    /// Default 5432. Reload: yes.
    pub port: u16,
    /// `disable`, `prefer`, `require` or `verify-full`, as libpq's sslmode. Default `prefer`.
    /// Reload: yes.
    pub tls: UpstreamTls,
    /// PEM CA bundle to verify the server with; required by `verify-full`, and when given,
    /// `require` and `prefer` verify the chain too. Default unset. Reload: yes.
    pub ca_file: Option<PathBuf>,
    /// Seconds to wait for the TCP connection. Default 10. Reload: yes.
    pub connect_timeout_secs: u64,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            host: "127.0.0.1".into(),
            port: 5432,
            tls: UpstreamTls::Prefer,
            ca_file: None,
            connect_timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum UpstreamTls {
    Disable,
    Prefer,
    Require,
    VerifyFull,
}

/// `[tls]`: TLS between clients and pgask.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// `disable` (answer SSLRequest with N), `allow` (TLS when cert and key are set) or
    /// `require` (refuse clients without TLS with 28000). Default `allow`. Reload: yes.
    pub mode: ClientTls,
    /// PEM certificate chain. Default unset. Reload: yes.
    pub cert: Option<PathBuf>,
    /// PEM private key. Default unset. Reload: yes.
    pub key: Option<PathBuf>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            mode: ClientTls::Allow,
            cert: None,
            key: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientTls {
    Disable,
    Allow,
    Require,
}

/// `[catalog]`: what pgask reads about the schema.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// Read a few common values of low-cardinality text columns (from pg_stats) into the
    /// catalog, to match question literals and show in prompts. Default false. Reload: yes.
    pub sample_values: bool,
    /// Lower-case substrings of column names or comments that mark a column sensitive: such
    /// columns never get sample values. Default: email, mail, phone, fax, password, passwd,
    /// secret, token, ssn, card, iban, address, birth, salary, tax. Reload: yes.
    pub sensitive_patterns: Vec<String>,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig {
            sample_values: false,
            sensitive_patterns: crate::ask::catalog::CatalogOptions::default_sensitive(),
        }
    }
}

/// `[retrieval]`: finding the tables a question needs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrievalConfig {
    /// Sentence-embedding model directory (config.json, tokenizer.json, model.safetensors).
    /// A directory name containing "e5" turns on the query:/passage: prefixes. Default
    /// `models/all-MiniLM-L6-v2`. Reload: no.
    pub embedder_dir: PathBuf,
    /// Where vector indexes are saved, per database, embedder and catalog fingerprint.
    /// Default `models/cache`. Reload: no.
    pub cache_dir: PathBuf,
    /// Tables handed to generation. Default 8. Reload: yes.
    pub top_k: usize,
    /// A database whose tables the asking role may read number at most this many is shown to
    /// the model whole, in a fixed order, whatever retrieval ranks first: every ask's prompt
    /// then starts with the same schema, which the model's KV cache keeps, so only the first
    /// ask pays to read it. Retrieval still picks the examples. 0 turns it off. Default 12.
    /// Reload: yes.
    pub whole_schema: usize,
    /// Optional cross-encoder (BERT sequence classification, e.g. ms-marco-MiniLM-L-6-v2) that
    /// reorders the best candidates; unset means the hybrid reranker alone. Default unset.
    /// Reload: no.
    pub reranker_dir: Option<PathBuf>,
}

impl Default for RetrievalConfig {
    fn default() -> Self {
        RetrievalConfig {
            embedder_dir: "models/all-MiniLM-L6-v2".into(),
            cache_dir: "models/cache".into(),
            top_k: 8,
            whole_schema: 12,
            reranker_dir: None,
        }
    }
}

impl Config {
    /// Parses and validates a config file's text; `path` only names it in messages.
    pub fn parse(text: &str) -> Result<Config, Problem> {
        let config: Config = toml::from_str(text).map_err(|e| Problem::from_toml(text, &e))?;
        config
            .validate()
            .map_err(|(key, msg)| Problem::at_key(text, key, msg))?;
        Ok(config)
    }

    /// Reads `path`; a missing file is an error only when `required`, else the defaults apply.
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text).map_err(|p| ConfigError::Invalid(p.in_file(path))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok(Config::default())
            }
            Err(source) => Err(ConfigError::Read {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Checks what serde cannot: values that are each fine but do not work together. Returns the
    /// dotted key at fault and what is wrong.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.max_connections == 0 {
            return Err(("max_connections", "must be at least 1".into()));
        }
        if self.max_message_bytes < 1024 {
            return Err(("max_message_bytes", "must be at least 1024".into()));
        }
        if self.login_timeout_secs == 0 {
            return Err(("login_timeout_secs", "must be at least 1".into()));
        }
        self.llm.validate()?;
        if self.retrieval.top_k == 0 {
            return Err(("retrieval.top_k", "must be at least 1".into()));
        }
        if self.upstream.host.is_empty() {
            return Err(("upstream.host", "must not be empty".into()));
        }
        if self.upstream.host.starts_with('/')
            && matches!(
                self.upstream.tls,
                UpstreamTls::Require | UpstreamTls::VerifyFull
            )
        {
            return Err((
                "upstream.tls",
                "a socket directory as upstream.host has no TLS: use \"prefer\" or \"disable\""
                    .into(),
            ));
        }
        if self.upstream.tls == UpstreamTls::VerifyFull && self.upstream.ca_file.is_none() {
            return Err(("upstream.tls", "verify-full needs upstream.ca_file".into()));
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(("tls", "set both tls.cert and tls.key, or neither".into()));
        }
        if self.tls.mode == ClientTls::Require && self.tls.cert.is_none() {
            return Err(("tls.mode", "require needs tls.cert and tls.key".into()));
        }
        for (key, path) in [
            ("tls.cert", &self.tls.cert),
            ("tls.key", &self.tls.key),
            ("upstream.ca_file", &self.upstream.ca_file),
        ] {
            if let Some(p) = path {
                if !p.is_file() {
                    return Err((key, format!("no such file: {}", p.display())));
                }
            }
        }
        Ok(())
    }

    /// Whether clients are offered TLS.
    pub fn client_tls_enabled(&self) -> bool {
        self.tls.mode != ClientTls::Disable && self.tls.cert.is_some()
    }
}

/// Overrides from CLI flags and `PGASK_*` variables (clap reads both), applied over the file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// Address to listen on.
    #[arg(long = "listen", env = "PGASK_LISTEN_ADDR")]
    pub listen_addr: Option<SocketAddr>,
    /// Upstream PostgreSQL host.
    #[arg(long, env = "PGASK_UPSTREAM_HOST")]
    pub upstream_host: Option<String>,
    /// Upstream PostgreSQL port.
    #[arg(long, env = "PGASK_UPSTREAM_PORT")]
    pub upstream_port: Option<u16>,
    /// Upstream TLS mode.
    #[arg(long, env = "PGASK_UPSTREAM_TLS", value_enum)]
    pub upstream_tls: Option<UpstreamTls>,
    /// Prometheus metrics address.
    #[arg(long, env = "PGASK_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Most concurrent client connections.
    #[arg(long, env = "PGASK_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Log format.
    #[arg(long, env = "PGASK_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter.
    #[arg(long, env = "PGASK_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Sentence-embedding model directory.
    #[arg(long, env = "PGASK_EMBEDDER_DIR")]
    pub embedder_dir: Option<PathBuf>,
    /// GGUF model file of the local LLM.
    #[arg(long, env = "PGASK_LLM_MODEL")]
    pub llm_model: Option<PathBuf>,
}

impl Overrides {
    /// Applies the overrides that are set, then validates the result.
    pub fn apply(&self, mut c: Config) -> Result<Config, ConfigError> {
        if let Some(v) = self.listen_addr {
            c.listen_addr = v;
        }
        if let Some(v) = &self.upstream_host {
            c.upstream.host = v.clone();
        }
        if let Some(v) = self.upstream_port {
            c.upstream.port = v;
        }
        if let Some(v) = self.upstream_tls {
            c.upstream.tls = v;
        }
        if let Some(v) = self.metrics_addr {
            c.metrics_addr = Some(v);
        }
        if let Some(v) = self.max_connections {
            c.max_connections = v;
        }
        if let Some(v) = self.log_format {
            c.log.format = v;
        }
        if let Some(v) = &self.log_level {
            c.log.level = v.clone();
        }
        if let Some(v) = &self.embedder_dir {
            c.retrieval.embedder_dir = v.clone();
        }
        if let Some(v) = &self.llm_model {
            c.llm.model = v.clone();
        }
        c.validate()
            .map_err(|(key, msg)| ConfigError::Invalid(Problem::override_of(key, msg)))?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_proxy_toml_is_the_default() {
        let text = include_str!("../../proxy.toml");
        assert_eq!(Config::parse(text).unwrap(), Config::default());
    }

    #[test]
    fn unknown_field_is_reported_with_its_line() {
        let p = Config::parse("listen_addr = \"127.0.0.1:1\"\n\n[upstream]\nhots = \"x\"\n")
            .unwrap_err();
        assert_eq!(p.line, Some(4), "{p}");
        assert!(p.message.contains("hots"), "{p}");
    }

    #[test]
    fn semantic_error_points_at_the_key() {
        let p = Config::parse("[upstream]\nport = 5433\ntls = \"verify-full\"\n").unwrap_err();
        assert_eq!(p.line, Some(3), "{p}");
        assert!(p.message.contains("ca_file"), "{p}");
    }

    #[test]
    fn overrides_win_and_are_validated() {
        let o = Overrides {
            upstream_port: Some(7777),
            ..Default::default()
        };
        assert_eq!(o.apply(Config::default()).unwrap().upstream.port, 7777);
        let bad = Overrides {
            max_connections: Some(0),
            ..Default::default()
        };
        assert!(bad.apply(Config::default()).is_err());
    }
}
