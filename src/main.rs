//! The `pgask` command: run the proxy (the default), check a config file, or (internally) be
//! the inference worker.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use pgask::config::{check_file, Config, LogFormat, Overrides};
use pgask::server::{self, ReloadSource, Server};

#[derive(Parser)]
#[command(
    name = "pgask",
    version,
    about = "PostgreSQL proxy that answers questions written as SQL comments"
)]
struct Cli {
    /// Config file; a missing default file means built-in defaults.
    #[arg(long, short, env = "PGASK_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    overrides: Overrides,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy (the default when no command is given).
    Run,
    /// Validate a config file and print each mistake with its line.
    Check,
    /// The inference worker process pgask starts for itself (JSON lines on stdin/stdout).
    #[command(hide = true)]
    LlmWorker(WorkerArgs),
}

#[derive(clap::Args)]
struct WorkerArgs {
    #[arg(long)]
    model: PathBuf,
    #[arg(long, default_value_t = 2)]
    threads: i32,
    #[arg(long, default_value_t = 4096)]
    context: u32,
    #[arg(long, default_value = "auto")]
    chat_template: String,
    #[arg(long, default_value_t = 40)]
    top_k: i32,
}

const DEFAULT_CONFIG: &str = "proxy.toml";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (path, required) = match &cli.config {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(DEFAULT_CONFIG), false),
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::Check => check(&path),
        Command::LlmWorker(a) => {
            let cfg = pgask::ask::generate::llama::EngineConfig {
                threads: a.threads,
                context: a.context,
                chat_template: a.chat_template,
                top_k: a.top_k,
            };
            let code = pgask::ask::generate::worker::run(&a.model, &cfg);
            ExitCode::from(code as u8)
        }
        Command::Run => match run(path, required, cli.overrides) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pgask: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    let problems = check_file(path);
    if problems.is_empty() {
        println!("{}: ok", path.display());
        return ExitCode::SUCCESS;
    }
    for p in &problems {
        eprintln!("{p}");
    }
    ExitCode::FAILURE
}

fn run(path: PathBuf, required: bool, overrides: Overrides) -> anyhow::Result<()> {
    let config = overrides.apply(Config::load(&path, required)?)?;
    init_tracing(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        if let Some(addr) = config.metrics_addr {
            pgask::metrics::install(addr)?;
        }
        let server = Server::bind(config).await?;
        server::spawn_signal_handlers(
            server.shared(),
            ReloadSource {
                path,
                required,
                overrides,
            },
        )?;
        server.run().await;
        Ok(())
    })
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
