//! `pgask demo`: a throwaway PostgreSQL with a built-in demo business database, and pgask in
//! front of it, for a first look in one command. Ctrl-C (or SIGTERM) stops both and removes the
//! cluster's temp dir.

pub mod cluster;
pub mod data;

use std::io::IsTerminal;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::{Config, UpstreamTls};
use crate::server::{Server, ServerError};
use cluster::{ClusterError, LocalCluster};

/// Why the demo stopped early.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("loading the demo database: {0}")]
    Load(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("the demo setup task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("listening for signals: {0}")]
    Signal(std::io::Error),
}

/// What the demo does besides the cluster and the proxy.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    /// Download missing models from the Hugging Face hub before starting.
    pub fetch_models: bool,
}

/// Runs the demo until Ctrl-C or SIGTERM. `config` is used as it is, except that its upstream
/// becomes the throwaway cluster.
pub async fn run(mut config: Config, options: DemoOptions) -> Result<(), DemoError> {
    let stop = stop_signal()?;
    println!("pgask demo: starting a throwaway PostgreSQL…");
    let mut cluster = tokio::task::spawn_blocking(LocalCluster::start).await??;
    println!(
        "  cluster:  {} (port {})",
        cluster.dir.display(),
        cluster.port
    );
    let result = serve(&mut config, &cluster, options, &stop).await;
    println!("pgask demo: stopping; removing {}", cluster.dir.display());
    tokio::task::spawn_blocking(move || cluster.stop()).await?;
    result
}

async fn serve(
    config: &mut Config,
    cluster: &LocalCluster,
    options: DemoOptions,
    stop: &CancellationToken,
) -> Result<(), DemoError> {
    let rows = tokio::select! {
        r = load(cluster.port) => r?,
        () = stop.cancelled() => return Ok(()),
    };
    println!("  database: {} ({rows} rows)", data::DEMO_DATABASE);
    tokio::select! {
        () = models(config, options) => {}
        () = stop.cancelled() => return Ok(()),
    }
    // The cluster trusts every local login as superuser: pgask must not offer that to the
    // network, whatever listen_addr the config has.
    if !config.listen_addr.ip().is_loopback() {
        println!(
            "  note:     listening on 127.0.0.1 instead of {} (the demo's superuser has no password)",
            config.listen_addr
        );
        config
            .listen_addr
            .set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    config.upstream.host = "127.0.0.1".into();
    config.upstream.port = cluster.port;
    config.upstream.tls = UpstreamTls::Disable;
    config.shutdown_grace_secs = config.shutdown_grace_secs.min(2);
    // The demo database's own metrics and dimensions (a glossary for another database would
    // only mislead the model here).
    let glossary = cluster.dir.join("metrics.toml");
    match std::fs::write(&glossary, data::METRICS) {
        Ok(()) => {
            println!(
                "  metrics:  {} (revenue, gross margin, payroll, …)",
                glossary.display()
            );
            config.ask.glossary = glossary;
        }
        Err(e) => tracing::warn!(error = %e, "the demo's metrics file could not be written"),
    }
    let server = Server::bind(config.clone()).await?;
    let addr = server.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen_addr,
        source,
    })?;
    let shared = server.shared();
    let task = tokio::spawn(server.run());
    print_welcome(addr);
    tokio::select! {
        _ = tokio::time::timeout(std::time::Duration::from_secs(10), print_suggestions(addr)) => {}
        () = stop.cancelled() => {}
    }
    stop.cancelled().await;
    shutdown(shared, task).await;
    Ok(())
}

/// Creates the demo database and fills it; returns the number of rows loaded.
async fn load(port: u16) -> Result<i64, DemoError> {
    let admin = connect(port, "postgres").await?;
    admin
        .batch_execute(&format!("CREATE DATABASE {}", data::DEMO_DATABASE))
        .await?;
    let demo = connect(port, data::DEMO_DATABASE).await?;
    demo.batch_execute(&data::demo_sql()).await?;
    // ANALYZE makes the planner's statistics (and the row count below) current.
    demo.batch_execute("ANALYZE").await?;
    let counted = demo
        .query_one(
            "SELECT coalesce(sum(reltuples), 0)::int8 FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND c.relkind = 'r'",
            &[],
        )
        .await?;
    Ok(counted.get::<_, i64>(0))
}

async fn connect(port: u16, db: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let url = format!("host=127.0.0.1 port={port} user=postgres dbname={db}");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "demo load connection");
        }
    });
    Ok(client)
}

/// Fetches missing models when asked to, and says what asks can do without them.
async fn models(config: &Config, options: DemoOptions) {
    let missing: Vec<_> = crate::models::needed(config)
        .into_iter()
        .filter(|f| !f.dest.is_file())
        .collect();
    if missing.is_empty() {
        return;
    }
    if options.fetch_models {
        println!("  models:   fetching the missing model files (skip with --no-fetch)…");
        match crate::models::fetch(config, std::io::stderr().is_terminal()).await {
            Ok(_) => return,
            Err(e) => println!("  models:   {e}"),
        }
    }
    for f in crate::models::needed(config) {
        if !f.dest.is_file() {
            println!("  missing:  {} ({})", f.dest.display(), f.role);
        }
    }
    println!(
        "  Without them plain SQL works and asks answer with an error saying what is missing; \
         `pgask models fetch` gets them."
    );
}

fn print_welcome(addr: std::net::SocketAddr) {
    let port = addr.port();
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    println!("  pgask:    listening on {addr}");
    println!();
    println!("Connect with:");
    println!(
        "  psql \"host={host} port={port} user=postgres dbname={}\"",
        data::DEMO_DATABASE
    );
    println!();
    println!("and ask (psql sends /* */ comments; `psql -c \"-- ask: …\"` works too):");
    for q in data::example_asks() {
        println!("  /* ask: {q} */;");
    }
    println!(
        "  /* ask sql: {} */;   -- only the SQL",
        data::example_asks()[0]
    );
    println!();
    println!("Ctrl-C stops pgask and the cluster and removes it.");
}

/// A few questions the demo database can answer, from pgask's own `-- ask suggest:` (no model
/// needed), asked through the proxy that just started.
async fn print_suggestions(addr: std::net::SocketAddr) {
    let url = format!(
        "host=127.0.0.1 port={} user=postgres dbname={}",
        addr.port(),
        data::DEMO_DATABASE
    );
    let Ok((client, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await else {
        return;
    };
    let conn = tokio::spawn(conn);
    if let Ok(messages) = client.simple_query("-- ask suggest:").await {
        let questions: Vec<String> = messages
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
            .take(4)
            .collect();
        if !questions.is_empty() {
            println!(
                "Questions this database can answer (`/* ask suggest: [topic] */;` lists more):"
            );
            for q in questions {
                println!("  /* ask: {q} */;");
            }
            println!();
        }
    }
    drop(client);
    let _ = conn.await;
}

/// Stops accepting and waits for the sessions (busy ones get `shutdown_grace_secs`).
async fn shutdown(shared: Arc<crate::server::Shared>, task: tokio::task::JoinHandle<()>) {
    shared.shutdown.cancel();
    if let Err(e) = task.await {
        tracing::warn!(error = %e, "the demo proxy task failed");
    }
}

/// Cancelled on the first SIGINT or SIGTERM.
fn stop_signal() -> Result<CancellationToken, DemoError> {
    use tokio::signal::unix::{signal, SignalKind};
    let token = CancellationToken::new();
    let mut int = signal(SignalKind::interrupt()).map_err(DemoError::Signal)?;
    let mut term = signal(SignalKind::terminate()).map_err(DemoError::Signal)?;
    let t = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        t.cancel();
    });
    Ok(token)
}
