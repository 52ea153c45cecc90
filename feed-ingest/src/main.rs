//! `feed-ingest`: reads documents and writes them as envelopes, one JSON object per line, on stdout —
//! the input of `topic-classifier`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use service_kit::StdoutSink;
use worker_runtime::telemetry::{self, LogFormat};

/// Reads JSON Lines files (gzipped or not), folders of text files, or - for stdin, and writes envelopes.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Inputs to read, in order.
    #[arg(long, num_args = 1.., required = true)]
    input: Vec<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    telemetry::init(LogFormat::Text, "info");
    let mut sources = Vec::new();
    for input in &args.input {
        sources.push(feed_ingest::read_documents(input).with_context(|| format!("reading {}", input.display()))?);
    }
    let stats = feed_ingest::enqueue(sources.into_iter().flatten(), &StdoutSink::default(), |_| {}).await;
    tracing::info!(
        enqueued = stats.enqueued,
        unreadable = stats.unreadable,
        refused = stats.refused,
        "feed-ingest finished"
    );
    Ok(())
}
