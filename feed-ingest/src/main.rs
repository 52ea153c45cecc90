//! `feed-ingest`: reads documents and enqueues them — on the SQS ingest queue when given its URL (the
//! `export` lines of `docclass infra up`), else as envelopes, one JSON object per line, on stdout.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use service_kit::{AwsArgs, StdoutSink, sqs_queue};
use worker_runtime::telemetry::{self, LogFormat};

/// Reads JSON Lines files (gzipped or not), folders of text files, or - for stdin, and enqueues them.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Inputs to read, in order.
    #[arg(long, num_args = 1.., required = true)]
    input: Vec<PathBuf>,
    /// The SQS ingest queue; without it, envelopes go to stdout.
    #[arg(long, env = "DOCCLASS_INGEST_QUEUE_URL")]
    queue_url: Option<String>,
    #[command(flatten)]
    aws: AwsArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    telemetry::init(LogFormat::Text, "info");
    let mut sources = Vec::new();
    for input in &args.input {
        sources.push(feed_ingest::read_documents(input).with_context(|| format!("reading {}", input.display()))?);
    }
    let documents = sources.into_iter().flatten();
    let stats = match &args.queue_url {
        Some(url) => feed_ingest::enqueue(documents, &sqs_queue(&args.aws, url).await, |_| {}).await,
        None => feed_ingest::enqueue(documents, &StdoutSink::default(), |_| {}).await,
    };
    tracing::info!(
        enqueued = stats.enqueued,
        unreadable = stats.unreadable,
        refused = stats.refused,
        "feed-ingest finished"
    );
    Ok(())
}
