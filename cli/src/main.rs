//! `docclass`: train and judge models, and run the whole pipeline in one process.

mod commands;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use docclass_types::topology::env;
use worker_runtime::telemetry::{self, LogFormat};

/// Document classification pipeline: topic, then subtopic, stored per document.
#[derive(Debug, Parser)]
#[command(name = "docclass", version, about)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Settings every subcommand shares.
#[derive(Debug, clap::Args)]
pub struct Global {
    /// Which labelled corpus `train`, `eval`, `run` and `bench` read when given no files, and whose
    /// cached default model they use [default: 20ng; with `--data` files, their ids decide: arXiv ids
    /// mean the arXiv recipe].
    #[arg(long, env = env::CORPUS, global = true, value_enum)]
    corpus: Option<docclass::data::Corpus>,
    /// Folder holding the labelled corpora (20ng/train.jsonl.gz, arxiv/train.jsonl.gz, …); found
    /// automatically in a shared/data above the current folder when not given.
    #[arg(long, env = env::DATA_DIR, global = true)]
    data_dir: Option<PathBuf>,
    /// Where the default model is cached [default: $XDG_CACHE_HOME/docclass or ~/.cache/docclass].
    #[arg(long, env = env::CACHE_DIR, global = true)]
    cache_dir: Option<PathBuf>,
    /// Log line format on stderr: text or json.
    #[arg(long, env = env::LOG_FORMAT, default_value = "text", global = true, value_parser = parse_log_format)]
    log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a two-level (topic → subtopic) model from labelled JSON Lines.
    Train(commands::train::TrainArgs),
    /// Report a model's accuracy and macro-F1 on labelled JSON Lines.
    Eval(commands::eval::EvalArgs),
    /// What a model file is, and the model store: publish, status, promote, rollback, list.
    Model(commands::model::ModelArgs),
    /// Run the whole pipeline in this process on the embedded queue and SQLite table.
    Run(commands::run::RunArgs),
    /// Measure classification and end-to-end throughput.
    Bench(commands::bench::BenchArgs),
    /// Create or delete the SQS queues and DynamoDB table of a pipeline.
    Infra(commands::infra::InfraArgs),
    /// Serve a live status page of a pipeline (and its figures as JSON on /api/status).
    Dashboard(Box<commands::dashboard::DashboardArgs>),
    /// Show results from the table (DynamoDB with --table or DOCCLASS_TABLE, else SQLite).
    Results(commands::results::ResultsArgs),
    /// Inspect dead letters, or move them back to their queue after a fix.
    Dlq(commands::dlq::DlqArgs),
    /// See what a running feed-ingest's feeds are doing.
    Feeds(commands::feeds::FeedsArgs),
    /// Harvest labelled documents to train on (arXiv's OAI-PMH interface).
    Harvest(commands::harvest::HarvestArgs),
    /// Deploy to Amazon ECS from a stack file (the same commands as the `deploy` binary).
    #[cfg(feature = "deploy")]
    Deploy(deploy::cli::DeployArgs),
}

/// `docclass eval | head` should end quietly when `head` has read enough, as Unix tools do. Rust ignores
/// SIGPIPE, so the next `println!` would panic with a backtrace instead; the default action ends the
/// process at once. (The services never write to a pipe that closes early; only this CLI needs it.)
fn restore_default_sigpipe() {
    #[cfg(unix)]
    #[allow(unsafe_code, reason = "libc::signal: std has no safe way to restore SIGPIPE's default")]
    // SAFETY: called first in `main`, before any other thread exists; setting a signal's disposition to
    // its default has no other effect.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn parse_log_format(value: &str) -> Result<LogFormat, String> {
    match value {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("unknown log format {other:?}: use text or json")),
    }
}

fn main() -> std::process::ExitCode {
    restore_default_sigpipe();
    let cli = Cli::parse();
    telemetry::init(cli.global.log_format, "warn,docclass=info,model_store=info,service_kit=info");
    let result = match cli.command {
        Command::Train(args) => commands::train::run(&cli.global, args),
        Command::Eval(args) => commands::eval::run(&cli.global, args),
        Command::Model(args) => commands::model::run(args),
        Command::Run(args) => commands::run::run(&cli.global, args),
        Command::Bench(args) => commands::bench::run(&cli.global, args),
        Command::Infra(args) => commands::infra::run(args),
        Command::Dashboard(args) => commands::dashboard::run(*args),
        Command::Results(args) => commands::results::run(args),
        Command::Dlq(args) => commands::dlq::run(args),
        Command::Feeds(args) => commands::feeds::run(args),
        Command::Harvest(args) => commands::harvest::run(args),
        #[cfg(feature = "deploy")]
        Command::Deploy(args) => deploy::cli::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
