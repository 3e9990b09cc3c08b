//! The `pgask` command: run the proxy (the default), check a config file, list or fetch the
//! models, run the demo or an eval, or (internally) be the inference worker.

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
    /// Validate a config file and its glossary and print each mistake with its line; with
    /// `--db`, also plan every metric and dimension against that database.
    Check(CheckArgs),
    /// The model files the config needs: list them, or fetch the defaults.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// A throwaway PostgreSQL with a demo business database, and pgask in front of it.
    Demo(DemoArgs),
    /// Measure answer quality (VA, EX, TS) on a question set with gold SQL.
    Eval(Box<EvalArgs>),
    /// A report over the ask history file: asks per day, success rate, attempts, failures by
    /// SQLSTATE, the slowest asks per stage, tables asked about, answers marked bad.
    History(HistoryArgs),
    /// The inference worker process pgask starts for itself (JSON lines on stdin/stdout).
    #[command(hide = true)]
    LlmWorker(WorkerArgs),
}

#[derive(clap::Args)]
struct CheckArgs {
    /// A database (libpq URL or key=value string) to plan the glossary's metrics and
    /// dimensions against with EXPLAIN.
    #[arg(long)]
    db: Option<String>,
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Each configured model file: present or missing, size, SHA-256.
    List,
    /// Download the missing default models from the Hugging Face hub (resumable, checked).
    Fetch,
}

#[derive(clap::Args)]
struct DemoArgs {
    /// Print the demo database's SQL script (schema, comments, rows) and exit.
    #[arg(long)]
    sql: bool,
    /// Do not download missing models first.
    #[arg(long)]
    no_fetch: bool,
}

#[derive(clap::Args)]
struct EvalArgs {
    /// Questions: .jsonl (question, gold_sql, db, category), Spider's dev.json, or defog's .csv.
    #[arg(long, required_unless_present = "compare")]
    questions: Option<PathBuf>,
    /// Force the question format instead of going by the extension.
    #[arg(long, value_enum)]
    format: Option<EvalFormat>,
    /// The database (libpq URL or key=value string); a question's `db` replaces the dbname.
    #[arg(long, required_unless_present = "compare")]
    db: Option<String>,
    /// A running pgask (host:port) to ask through; by default one starts in-process.
    #[arg(long)]
    through: Option<String>,
    /// Use the gold SQL as the prediction (proves the harness: 100% on a consistent set).
    #[arg(long, conflicts_with = "predictions")]
    oracle: bool,
    /// Predictions instead of asks: JSONL with `sql` and `id` or `question`, or one SQL per line.
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// Only retrieval: strict and mean recall@k of the gold tables, nothing generated.
    #[arg(long)]
    retrieval_only: bool,
    /// The k values of `--retrieval-only`.
    #[arg(long, value_delimiter = ',', default_value = "1,3,5,10")]
    k: Vec<usize>,
    /// Variant databases for TS (0: TS equals EX).
    #[arg(long, default_value_t = 3)]
    variants: usize,
    /// Seed of the variant databases.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Numbers compare after rounding to this many decimal places.
    #[arg(long, default_value_t = 6)]
    float_digits: u32,
    /// Statement timeout (seconds) of the direct gold and prediction runs.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Keep the variant databases instead of dropping them at the end.
    #[arg(long)]
    keep_variants: bool,
    /// Where the JSON with every question's SQL, error and timings goes.
    #[arg(long, default_value = "eval-results.json")]
    out: PathBuf,
    /// Compare two result files question by question instead of running.
    #[arg(long, num_args = 2, value_names = ["A", "B"])]
    compare: Option<Vec<PathBuf>>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum EvalFormat {
    Jsonl,
    Spider,
    Defog,
}

#[derive(clap::Args)]
struct HistoryArgs {
    /// The history file (default: `[history] file` of the config).
    #[arg(long)]
    file: Option<PathBuf>,
    /// Only asks and feedback since a UTC date (2026-12-01), date and time (2026-12-01T08:00)
    /// or age (90m, 36h, 7d).
    #[arg(long)]
    since: Option<String>,
    /// The report as JSON.
    #[arg(long)]
    json: bool,
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
        Command::Check(a) => check(&path, required, a),
        Command::Models(m) => match models(&path, required, cli.overrides, m) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pgask: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Demo(a) => match demo(&path, required, cli.overrides, a) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pgask: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Eval(a) => match eval(&path, required, cli.overrides, *a) {
            Ok(code) => code,
            Err(e) => {
                // Eval's errors already say what caused them; the chain would repeat it.
                eprintln!("pgask: {e}");
                ExitCode::FAILURE
            }
        },
        Command::History(a) => match history(&path, required, cli.overrides, a) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pgask: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::LlmWorker(a) => {
            // The worker writes to the proxy's stderr, filtered by RUST_LOG alone (the engine's
            // per-token traces: `RUST_LOG=pgask::ask::generate::llama=trace`).
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(false)
                .with_writer(std::io::stderr)
                .try_init();
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

fn check(path: &std::path::Path, required: bool, args: CheckArgs) -> ExitCode {
    let mut problems: Vec<String> = Vec::new();
    if required || path.exists() {
        problems.extend(check_file(path).iter().map(ToString::to_string));
    }
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("{p}");
        }
        return ExitCode::FAILURE;
    }
    let config = match Config::load(path, required) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pgask: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let file = &config.ask.glossary;
    let glossary = match pgask::ask::glossary::Glossary::load(file) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    problems.extend(
        glossary
            .problems()
            .iter()
            .map(|p| format!("{}:{}: {p}", file.display(), p.line())),
    );
    if let Some(db) = &args.db {
        match plan_glossary(db, &glossary) {
            Ok(failed) => problems.extend(
                failed
                    .iter()
                    .map(|p| format!("{}:{}: {p}", file.display(), p.line)),
            ),
            Err(e) => problems.push(format!("pgask: {e:#}")),
        }
    }
    if problems.is_empty() {
        println!(
            "{}: ok; {}: {} metrics and dimensions{}",
            path.display(),
            file.display(),
            glossary.definitions().len(),
            if args.db.is_some() {
                ", each plans"
            } else {
                ""
            }
        );
        return ExitCode::SUCCESS;
    }
    for p in &problems {
        eprintln!("{p}");
    }
    ExitCode::FAILURE
}

/// Plans the glossary's definitions against `db` (EXPLAIN only).
fn plan_glossary(
    db: &str,
    glossary: &pgask::ask::glossary::Glossary,
) -> anyhow::Result<Vec<pgask::ask::semantic::PlanFailure>> {
    let mut config: tokio_postgres::Config = db.parse().context("the --db connection string")?;
    // An unreachable host or a locked table must not hang the check.
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(10));
    }
    config.options("-c statement_timeout=10000 -c lock_timeout=5000");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let (client, conn) = config
            .connect(tokio_postgres::NoTls)
            .await
            .context("connecting to --db")?;
        let task = tokio::spawn(conn);
        let failed = pgask::ask::semantic::plan(&client, glossary.definitions()).await;
        drop(client);
        let _ = task.await;
        Ok(failed)
    })
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

fn demo(
    path: &std::path::Path,
    required: bool,
    overrides: Overrides,
    args: DemoArgs,
) -> anyhow::Result<()> {
    if args.sql {
        print!("{}", pgask::demo::data::demo_sql());
        return Ok(());
    }
    let config = overrides.apply(Config::load(path, required)?)?;
    init_tracing(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let options = pgask::demo::DemoOptions {
        fetch_models: !args.no_fetch,
    };
    runtime.block_on(pgask::demo::run(config, options))?;
    Ok(())
}

fn eval(
    path: &std::path::Path,
    required: bool,
    overrides: Overrides,
    args: EvalArgs,
) -> anyhow::Result<ExitCode> {
    use pgask::eval::questions::Format;
    use std::io::IsTerminal;
    if let Some(files) = &args.compare {
        let [a, b] = files.as_slice() else {
            anyhow::bail!("--compare takes two result files");
        };
        let (a, b) = (pgask::eval::Report::read(a)?, pgask::eval::Report::read(b)?);
        print!("{}", pgask::eval::compare_reports(&a, &b));
        return Ok(ExitCode::SUCCESS);
    }
    let config = overrides.apply(Config::load(path, required)?)?;
    init_tracing(&config);
    let options = pgask::eval::EvalOptions {
        questions: args.questions.context("--questions is required")?,
        format: args.format.map(|f| match f {
            EvalFormat::Jsonl => Format::Jsonl,
            EvalFormat::Spider => Format::Spider,
            EvalFormat::Defog => Format::Defog,
        }),
        db: args.db.context("--db is required")?,
        through: args.through,
        predictor: match (args.oracle, args.predictions) {
            (true, _) => pgask::eval::Predictor::Oracle,
            (false, Some(p)) => pgask::eval::Predictor::File(p),
            (false, None) => pgask::eval::Predictor::Ask,
        },
        retrieval_only: args.retrieval_only,
        ks: args.k,
        variants: args.variants,
        seed: args.seed,
        float_digits: args.float_digits,
        timeout_secs: args.timeout,
        keep_variants: args.keep_variants,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let progress = std::io::stderr().is_terminal();
    let report = runtime.block_on(pgask::eval::run(&options, config, progress))?;
    report.write(&args.out)?;
    print!("{}", report.failures());
    print!("{}", report.table());
    println!("every question: {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

fn history(
    path: &std::path::Path,
    required: bool,
    overrides: Overrides,
    args: HistoryArgs,
) -> anyhow::Result<()> {
    use pgask::report;
    let file = match args.file {
        Some(f) => f,
        None => {
            let config = overrides.apply(Config::load(path, required)?)?;
            if config.history.file.as_os_str().is_empty() {
                anyhow::bail!("the config turns the history file off ([history] file = \"\"); name one with --file");
            }
            config.history.file
        }
    };
    let now = pgask::ask::history::now_ms();
    let since = match &args.since {
        Some(s) => report::parse_since(s, now)?,
        None => 0,
    };
    let loaded = report::load(&file)?;
    let r = report::build(&loaded, since);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", r.text());
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
    // Colour codes only on a terminal: in a log file or CI output they are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
