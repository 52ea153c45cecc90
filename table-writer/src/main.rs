//! `table-writer`: stores one row per classified document — in DynamoDB when given the results queue
//! URL (the `export` lines of `docclass infra up`), else in SQLite from envelopes on stdin.

use std::path::PathBuf;

use adapters_aws::DynamoTable;
use adapters_embedded::SqliteTable;
use anyhow::Context;
use clap::Parser;
use docclass_types::topology::env;
use service_kit::{AwsArgs, SqsService, WorkerArgs, serve_sqs, serve_stdio};
use table_writer::PassToTable;
use worker_runtime::ToTable;

/// Stores each classified document as one row of the result table.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// SQS queue of classified documents; without it, envelopes are read on stdin and written to --db.
    #[arg(long, env = env::RESULTS_QUEUE_URL)]
    input_queue_url: Option<String>,
    /// The DynamoDB table (needed with --input-queue-url).
    #[arg(long, env = env::TABLE)]
    table: Option<String>,
    /// SQS dead-letter queue of the results queue (needed with --input-queue-url).
    #[arg(long, env = env::RESULTS_DLQ_URL)]
    dead_letter_queue_url: Option<String>,
    /// The SQLite file holding the `results` table (stdin mode).
    #[arg(long, env = env::DB, default_value = docclass_types::topology::DEFAULT_DB)]
    db: PathBuf,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    worker: WorkerArgs,
}

/// This service's default port for `/healthz` and `/metrics`: each service has its own, so all of them
/// can run side by side on one host.
const METRICS_PORT: u16 = docclass_types::default_ports::TABLE_WRITER;

// One thread for the async side (SQS and DynamoDB calls, timers), the main one; classification runs on
// the blocking pool. Against a thread per core: 15 % more documents a second and 20 % less CPU
// (scripts/bench-aws.sh); against one worker thread beside the main one, with the SDK's stalled-stream
// protection off too, 0.90 → 0.77 CPU-s per 1,000 documents (scripts/bench-scale.sh, docs/measurements.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    service_kit::exit_code("table-writer", run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    args.worker.common.exit_if_healthcheck(METRICS_PORT);
    let shutdown = service_kit::shutdown_on_signal();
    match &args.input_queue_url {
        Some(input) => {
            let table = args.table.clone().with_context(|| format!("--table ({}) is needed", env::TABLE))?;
            let dead_letters = args
                .dead_letter_queue_url
                .as_deref()
                .with_context(|| format!("--dead-letter-queue-url ({}) is needed", env::RESULTS_DLQ_URL))?;
            let stage = SqsService {
                name: "table-writer",
                default_metrics_port: METRICS_PORT,
                source_url: input,
                dead_letter_url: dead_letters,
            };
            let to_table = |config: &aws_config::SdkConfig| {
                ToTable(DynamoTable::new(aws_sdk_dynamodb::Client::new(config), table))
            };
            serve_sqs(stage, PassToTable, to_table, &args.aws, &args.worker, shutdown).await?;
        }
        None => {
            let table = SqliteTable::open(&args.db)?;
            serve_stdio("table-writer", METRICS_PORT, PassToTable, ToTable(table), &args.worker, shutdown).await?;
        }
    }
    Ok(())
}
