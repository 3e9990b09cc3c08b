//! The `pgask` command: run the proxy (the default), check a config file, list or fetch the
//! models, or (internally) be the inference worker.

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
    /// The model files the config needs: list them, or fetch the defaults.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// The inference worker process pgask starts for itself (JSON lines on stdin/stdout).
    #[command(hide = true)]
    LlmWorker(WorkerArgs),
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Each configured model file: present or missing, size, SHA-256.
    List,
    /// Download the missing default models from the Hugging Face hub (resumable, checked).
    Fetch,
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
        Command::Models(m) => match models(&path, required, cli.overrides, m) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pgask: {e:#}");
                ExitCode::FAILURE
            }
        },
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

fn models(
    path: &std::path::Path,
    required: bool,
    overrides: Overrides,
    command: ModelsCommand,
) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let config = overrides.apply(Config::load(path, required)?)?;
    match command {
        ModelsCommand::List => print!("{}", pgask::models::list(&config)?),
        ModelsCommand::Fetch => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")?;
            let progress = std::io::stderr().is_terminal();
            let written = runtime.block_on(pgask::models::fetch(&config, progress))?;
            if written.is_empty() {
                println!("every model file is already in place");
            }
            for p in written {
                println!("fetched {}", p.display());
            }
        }
    }
    Ok(())
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
