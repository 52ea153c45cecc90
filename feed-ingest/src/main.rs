//! `feed-ingest`: reads documents and enqueues them — on the SQS ingest queue when given its URL (the
//! `export` lines of `docclass infra up`), else as envelopes, one JSON object per line, on stdout.
//!
//! Files (`--input`) are read once. Feeds (`--feed URL`, or a feed list with `--config`) are polled until
//! the process is stopped, each document enqueued once (the de-duplication store: `--seen-db` or
//! `--seen-table`); `--once` polls each feed once and exits, `--dry-run` prints what would be enqueued.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use adapters_embedded::StdoutSink;
use clap::Parser;
use docclass_types::topology::env;
use docclass_types::{Document, Limits, MessageSink};
use feed_ingest::{FeedMetrics, FeedPoller, FeedState, PollOutcome, PollSettings, SeenStore};
use feeds::{FeedDefaults, FeedList, FeedSpec, Fetcher, FetcherConfig, ReadError};
use service_kit::{AwsArgs, CommonArgs, sqs_queue};
use tokio_util::sync::CancellationToken;

/// The default port of `/healthz`, `/metrics` and `/feeds` (the classifiers and writer use 9101–9103).
const METRICS_PORT: u16 = docclass_types::default_ports::FEED_INGEST;

/// Reads RSS/Atom feeds, JSON Lines files (gzipped or not), folders of text files, or - for stdin, and
/// enqueues them.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Inputs to read once, in order.
    #[arg(long, num_args = 1.., required_unless_present_any = ["feed", "config", "feeds_toml", "healthcheck"])]
    input: Vec<PathBuf>,
    /// RSS or Atom feeds to poll (http or https); repeat for several.
    #[arg(long)]
    feed: Vec<String>,
    /// A feed list (TOML: URLs, intervals, label mappings; see the README).
    #[arg(long, env = env::FEEDS)]
    config: Option<PathBuf>,
    /// The feed list itself, as TOML text (what a task definition on ECS carries: no file to mount).
    #[arg(long, env = env::FEEDS_TOML, conflicts_with = "config", hide_env_values = true)]
    feeds_toml: Option<String>,
    /// How often each `--feed` is polled (the feed list sets its own), e.g. "15m", "1h".
    #[arg(long, value_parser = parse_interval, default_value = "15m")]
    interval: Duration,
    /// Poll each feed once and exit.
    #[arg(long)]
    once: bool,
    /// With --once: print each entry that would be enqueued, one JSON object per line, and enqueue nothing.
    #[arg(long, requires = "once")]
    dry_run: bool,
    /// Remember enqueued documents in this SQLite file, so no poll or restart enqueues one twice.
    #[arg(long, env = env::SEEN_DB, conflicts_with = "seen_table")]
    seen_db: Option<PathBuf>,
    /// Remember enqueued documents in this DynamoDB table (`docclass infra up` makes `<stack>-seen`).
    #[arg(long, env = env::SEEN_TABLE)]
    seen_table: Option<String>,
    /// The largest feed response accepted, in bytes.
    #[arg(long, default_value_t = FetcherConfig::default().max_bytes)]
    max_feed_bytes: usize,
    /// The largest document (title + text) enqueued, in bytes; larger ones are counted and left out.
    #[arg(long, default_value_t = Limits::DEFAULT_MAX_TEXT_BYTES)]
    max_document_bytes: usize,
    /// Fetch feeds from loopback, private and link-local addresses too (on-premises feeds, tests).
    /// Without it they are refused, after DNS and on every redirect: a feed must not lead feed-ingest to
    /// the task's credentials endpoint (169.254.170.2), instance metadata or its own network.
    #[arg(long, env = env::ALLOW_PRIVATE_ADDRESSES)]
    allow_private_addresses: bool,
    /// Seconds a feed may take to answer in full (at most 300).
    #[arg(long, value_parser = parse_feed_timeout, default_value_t = FetcherConfig::default().timeout.as_secs_f64())]
    feed_timeout_secs: f64,
    /// The SQS ingest queue; without it, envelopes go to stdout.
    #[arg(long, env = env::INGEST_QUEUE_URL)]
    queue_url: Option<String>,
    #[command(flatten)]
    aws: AwsArgs,
    /// Log format, metrics address (`/healthz`, `/metrics` and `/feeds` while polling) and health check.
    #[command(flatten)]
    common: CommonArgs,
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(text).map_err(|error| error.to_string())?;
    feeds::check_interval("--interval", interval).map_err(|error| error.to_string())?;
    Ok(interval)
}

fn parse_feed_timeout(text: &str) -> Result<f64, String> {
    let seconds: f64 = text.parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if seconds > 0.0 && seconds <= 300.0 { Ok(seconds) } else { Err(format!("{text} is not within (0, 300] seconds")) }
}

// One worker thread for the async side (SQS and DynamoDB calls, timers): against the default (a thread per
// core), 15 % more documents a second and 20 % less CPU (scripts/bench-aws.sh). Not the current-thread
// runtime the other services run: `--input` reads its documents through a blocking iterator on the main
// thread (`enqueue::until_stopped`), and the signal task that ends it must run on another
// (feed-ingest/tests/it/stops.rs hangs without it).
#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> std::process::ExitCode {
    service_kit::exit_code("feed-ingest", run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    args.common.exit_if_healthcheck(METRICS_PORT);
    args.common.init_logging();
    if !args.feed.is_empty() || args.config.is_some() || args.feeds_toml.is_some() {
        return poll_feeds(&args).await;
    }
    let mut sources = Vec::new();
    for input in &args.input {
        sources.push(feeds::read_documents(input)?);
    }
    // SIGTERM or Ctrl-C ends the reading; what was read is sent, and the summary says where it stopped.
    let stop = CancellationToken::new();
    worker_runtime::cancel_on_shutdown_signal(stop.clone());
    let documents = feed_ingest::until_stopped(sources.into_iter().flatten(), stop.clone());
    let stats = match &args.queue_url {
        Some(url) => enqueue(documents, &sqs_queue(&args.aws, url).await).await,
        None => enqueue(documents, &StdoutSink::default()).await,
    };
    tracing::info!(
        enqueued = stats.enqueued,
        unreadable = stats.unreadable,
        refused = stats.refused,
        stopped = stop.is_cancelled(),
        "feed-ingest finished"
    );
    anyhow::ensure!(
        !stop.is_cancelled(),
        "stopped by a signal after enqueueing {} documents; the rest of the input was not read",
        stats.enqueued
    );
    // What could be read went out; what could not is said, and the exit status says it too.
    anyhow::ensure!(
        stats.unreadable + stats.refused == 0,
        "{} records unreadable and {} documents too large for a queue message were not enqueued ({} were); the log names each",
        stats.unreadable,
        stats.refused,
        stats.enqueued
    );
    Ok(())
}

async fn enqueue<S: MessageSink>(
    documents: impl Iterator<Item = Result<Document, ReadError>>,
    sink: &S,
) -> feed_ingest::IngestStats {
    feed_ingest::enqueue(documents, sink, |_| {}).await
}

/// The feeds of the list and of `--feed`, and how to poll them.
fn feed_specs(args: &Args) -> anyhow::Result<(Vec<FeedSpec>, PollSettings)> {
    let list =
        match (&args.config, &args.feeds_toml) {
            (Some(path), _) => Some(FeedList::load(path)?),
            (None, Some(text)) => Some(FeedList::parse(text).map_err(|error| {
                anyhow::anyhow!("in the feed list of --feeds-toml ({}): {error:#}", env::FEEDS_TOML)
            })?),
            (None, None) => None,
        };
    let (mut feeds, defaults) = match list {
        Some(list) => (list.feeds(), list.defaults),
        None => (Vec::new(), FeedDefaults::default()),
    };
    feeds.extend(args.feed.iter().map(|url| FeedSpec::new(url, args.interval)));
    anyhow::ensure!(!feeds.is_empty(), "the feed list names no feeds");
    let settings =
        PollSettings { limits: Limits { max_text_bytes: args.max_document_bytes }, ..PollSettings::from(&defaults) };
    Ok((feeds, settings))
}

async fn poll_feeds(args: &Args) -> anyhow::Result<()> {
    let (feeds, settings) = feed_specs(args)?;
    let fetcher = Fetcher::new(FetcherConfig {
        max_bytes: args.max_feed_bytes,
        timeout: Duration::from_secs_f64(args.feed_timeout_secs),
        private_addresses: if args.allow_private_addresses {
            feeds::PrivateAddresses::Allow
        } else {
            feeds::PrivateAddresses::Refuse
        },
        ..FetcherConfig::default()
    })?;
    if args.dry_run {
        return dry_run(&fetcher, &feeds).await;
    }
    let seen = seen_store(args).await?;
    anyhow::ensure!(
        args.once || !matches!(seen, SeenStore::Nothing),
        "polling needs a de-duplication store, or every poll would enqueue each feed again: \
         give --seen-db FILE (SQLite) or --seen-table NAME (DynamoDB), or poll just --once"
    );
    match &args.queue_url {
        Some(url) => poll(args, feeds, settings, fetcher, sqs_queue(&args.aws, url).await, seen).await,
        None => poll(args, feeds, settings, fetcher, StdoutSink::default(), seen).await,
    }
}

async fn seen_store(args: &Args) -> anyhow::Result<SeenStore> {
    if let Some(table) = &args.seen_table {
        let config = adapters_aws::load_sdk_config(&args.aws.settings()).await;
        return Ok(SeenStore::Dynamo(adapters_aws::DynamoSeen::new(aws_sdk_dynamodb::Client::new(&config), table)));
    }
    match &args.seen_db {
        Some(path) => Ok(SeenStore::Sqlite(adapters_embedded::SqliteSeen::open(path)?)),
        None => Ok(SeenStore::Nothing),
    }
}

/// `--once`: every feed polled once, concurrently; a feed that fails is reported on stderr and the others
/// still go through; the exit status is 0 either way. Otherwise: polling until SIGTERM or Ctrl-C.
async fn poll<S: MessageSink>(
    args: &Args,
    feeds: Vec<FeedSpec>,
    settings: PollSettings,
    fetcher: Fetcher,
    sink: S,
    seen: SeenStore,
) -> anyhow::Result<()> {
    let metrics = FeedMetrics::default();
    let poller = Arc::new(FeedPoller::new(fetcher, sink, seen, metrics.clone(), settings));
    if args.once {
        let polls = feeds.iter().map(|feed| {
            let poller = poller.clone();
            async move { (feed, poller.poll_once(feed, &mut FeedState::default()).await) }
        });
        for (feed, outcome) in futures_util::future::join_all(polls).await {
            if let PollOutcome::Failed { kind, detail } = outcome {
                eprintln!("feed-ingest: {} ({kind}): {detail}", feed.url);
            }
        }
        return Ok(());
    }
    let shutdown = CancellationToken::new();
    worker_runtime::cancel_on_shutdown_signal(shutdown.clone());
    let mut registry = prometheus_client::registry::Registry::default();
    metrics.register(&mut registry);
    service_kit::serve_health_with(
        args.common.metrics_addr_or(METRICS_PORT),
        registry,
        metrics.router(),
        shutdown.clone(),
    )
    .await?;
    tracing::info!(feeds = feeds.len(), "polling");
    poller.run(feeds, shutdown).await;
    tracing::info!("feed-ingest stopped");
    Ok(())
}

/// `--once --dry-run`: prints each entry that would be enqueued (relabelled as the feed list says); a
/// feed that fails is reported on stderr and the others still print.
async fn dry_run(fetcher: &Fetcher, feeds: &[FeedSpec]) -> anyhow::Result<()> {
    for (feed, entries) in feeds.iter().zip(feeds::fetch_once(fetcher, feeds).await) {
        match entries {
            Ok(entries) => {
                for mut entry in entries {
                    feed.labels.apply(&mut entry);
                    println!("{}", serde_json::to_string(&entry)?);
                }
            }
            Err(error) => eprintln!("feed-ingest: {}: {error:#}", feed.url),
        }
    }
    Ok(())
}
