//! `topic-classifier`: adds each document's topic. On SQS when given queue URLs (the `export` lines of
//! `docclass infra up`), else over stdin → stdout.

use std::path::PathBuf;

use clap::Parser;
use docclass_types::topology::env;
use service_kit::{AwsArgs, ClassifierQueues, ServiceArgs, load_model, serve_classifier};
use topic_classifier::ClassifyTopic;

/// Adds the top-level topic to each document.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Model file [default: the model `docclass run` caches].
    #[arg(long, env = env::MODEL)]
    model: Option<PathBuf>,
    /// Where the default model is cached.
    #[arg(long, env = env::CACHE_DIR)]
    cache_dir: Option<PathBuf>,
    /// Below this confidence, answer `unknown` instead of a guess (see `docclass eval --min-score`).
    #[arg(long, env = env::MIN_SCORE, default_value_t = 0.0)]
    min_score: f32,
    /// SQS queue to read documents from; without it, envelopes are read on stdin and written to stdout.
    #[arg(long, env = env::INGEST_QUEUE_URL)]
    input_queue_url: Option<String>,
    /// SQS queue for documents with their topic (needed with --input-queue-url).
    #[arg(long, env = env::SUBTOPIC_QUEUE_URL)]
    output_queue_url: Option<String>,
    /// SQS dead-letter queue of the input queue (needed with --input-queue-url).
    #[arg(long, env = env::INGEST_DLQ_URL)]
    dead_letter_queue_url: Option<String>,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    service: ServiceArgs,
}

/// This service's default port for `/healthz` and `/metrics`: each service has its own, so all of them
/// can run side by side on one host.
const METRICS_PORT: u16 = docclass_types::default_ports::TOPIC_CLASSIFIER;

// One thread for the async side (SQS and DynamoDB calls, timers), the main one; classification runs on
// the blocking pool. Against a thread per core: 15 % more documents a second and 20 % less CPU
// (scripts/bench-aws.sh); against one worker thread beside the main one, with the SDK's stalled-stream
// protection off too, 0.90 → 0.77 CPU-s per 1,000 documents (scripts/bench-scale.sh, docs/measurements.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    service_kit::exit_code("topic-classifier", run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    args.service.common.exit_if_healthcheck(METRICS_PORT);
    let model = load_model(args.model.as_deref(), args.cache_dir.as_deref())?;
    let handler = ClassifyTopic::new(model).with_min_score(args.min_score);
    let queues = ClassifierQueues {
        input: args.input_queue_url.as_deref(),
        output: args.output_queue_url.as_deref(),
        dead_letters: args.dead_letter_queue_url.as_deref(),
    };
    serve_classifier("topic-classifier", METRICS_PORT, handler, queues, &args.aws, &args.service).await?;
    Ok(())
}
