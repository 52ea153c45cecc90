//! `feed-ingest`: reads documents and enqueues them — on the SQS ingest queue when given its URL (the
//! `export` lines of `docclass infra up`), else as envelopes, one JSON object per line, on stdout.
//!
//! `--feed URL --once` fetches RSS/Atom feeds once; with `--dry-run` it prints each entry that would be
//! enqueued and needs no queue.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use docclass_types::Document;
use feed_ingest::ReadError;
use feed_ingest::feed::{Fetcher, FetcherConfig};
use service_kit::{AwsArgs, StdoutSink, sqs_queue};
use worker_runtime::telemetry::{self, LogFormat};

/// Reads RSS/Atom feeds, JSON Lines files (gzipped or not), folders of text files, or - for stdin, and
/// enqueues them.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Inputs to read, in order.
    #[arg(long, num_args = 1.., required_unless_present = "feed")]
    input: Vec<PathBuf>,
    /// RSS or Atom feeds to fetch (http or https); repeat for several.
    #[arg(long)]
    feed: Vec<String>,
    /// Fetch each feed once and exit (continuous polling is not there yet).
    #[arg(long, requires = "feed")]
    once: bool,
    /// Print each feed entry that would be enqueued, one JSON object per line, and enqueue nothing.
    #[arg(long, requires = "feed")]
    dry_run: bool,
    /// The largest feed response accepted, in bytes.
    #[arg(long, default_value_t = FetcherConfig::default().max_bytes)]
    max_feed_bytes: usize,
    /// Seconds a feed may take to answer in full.
    #[arg(long, default_value_t = FetcherConfig::default().timeout.as_secs_f64())]
    feed_timeout_secs: f64,
    /// The SQS ingest queue; without it, envelopes go to stdout.
    #[arg(long, env = "DOCCLASS_INGEST_QUEUE_URL")]
    queue_url: Option<String>,
    #[command(flatten)]
    aws: AwsArgs,
}

// One thread for the async side (SQS and DynamoDB calls, timers); classification runs on the blocking
// pool. Measured with scripts/bench-aws.sh on ministack: against the default (a thread per core), 15 %
// more documents a second and 20 % less CPU per document, the other threads' wake-ups saved.
#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    telemetry::init(LogFormat::Text, "info");
    if !args.feed.is_empty() {
        return feeds_once(&args).await;
    }
    let mut sources = Vec::new();
    for input in &args.input {
        sources.push(feed_ingest::read_documents(input).with_context(|| format!("reading {}", input.display()))?);
    }
    let stats = enqueue(&args, sources.into_iter().flatten()).await;
    tracing::info!(
        enqueued = stats.enqueued,
        unreadable = stats.unreadable,
        refused = stats.refused,
        "feed-ingest finished"
    );
    Ok(())
}

/// Enqueues on the SQS ingest queue when its URL is given, else on stdout.
async fn enqueue(
    args: &Args,
    documents: impl Iterator<Item = Result<Document, ReadError>>,
) -> feed_ingest::IngestStats {
    match &args.queue_url {
        Some(url) => feed_ingest::enqueue(documents, &sqs_queue(&args.aws, url).await, |_| {}).await,
        None => feed_ingest::enqueue(documents, &StdoutSink::default(), |_| {}).await,
    }
}

/// `--feed … --once [--dry-run]`: every feed fetched once, concurrently; a feed that fails is reported on
/// stderr and the others still go through; the exit status is 0 either way, as for a poll.
async fn feeds_once(args: &Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.once, "--feed needs --once: continuous polling of feeds is not there yet");
    let config = FetcherConfig {
        max_bytes: args.max_feed_bytes,
        timeout: std::time::Duration::from_secs_f64(args.feed_timeout_secs),
        ..FetcherConfig::default()
    };
    let fetcher = Fetcher::new(config)?;
    let mut documents = Vec::new();
    for (url, entries) in feed_ingest::fetch_feeds_once(&fetcher, &args.feed).await {
        match entries {
            Ok(entries) => {
                tracing::info!(feed = %url, entries = entries.len(), "feed read");
                for entry in entries {
                    if args.dry_run {
                        println!("{}", serde_json::to_string(&entry)?);
                    } else {
                        documents.push(Ok(entry.into_document(&url)));
                    }
                }
            }
            Err(error) => eprintln!("feed-ingest: {url}: {error:#}"),
        }
    }
    if args.dry_run {
        return Ok(());
    }
    let stats = enqueue(args, documents.into_iter()).await;
    tracing::info!(enqueued = stats.enqueued, refused = stats.refused, "feed-ingest finished");
    Ok(())
}
