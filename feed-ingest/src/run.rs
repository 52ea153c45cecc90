//! What feed-ingest does with its flags: read the inputs once, or poll the feeds — with a dry run, a
//! de-duplication store, and `/healthz`, `/metrics` and `/feeds` while polling. Here rather than in
//! `main.rs` so that each piece can be tested without starting a process.

use std::sync::Arc;
use std::time::Duration;

use adapters_embedded::StdoutSink;
use docclass_types::topology::env;
use docclass_types::{Document, Limits, MessageSink};
use feeds::{FeedDefaults, FeedList, FeedSpec, Fetcher, FetcherConfig, ReadError};
use service_kit::sqs_queue;
use tokio_util::sync::CancellationToken;

use crate::args::{Args, METRICS_PORT};
use crate::{FeedMetrics, FeedPoller, FeedState, PollOutcome, PollSettings, SeenStore};

/// Reads the inputs once, or polls the feeds (until `shutdown`, or once with `--once`), as `args` say.
///
/// # Errors
/// When an input or the feed list cannot be read, a store or queue cannot be reached, or reading stopped
/// early (a signal, unreadable records, documents too large): the message says which and how many.
pub async fn run(args: &Args, shutdown: CancellationToken) -> anyhow::Result<()> {
    if !args.feed.is_empty() || args.config.is_some() || args.feeds_toml.is_some() {
        return poll_feeds(args, shutdown).await;
    }
    let mut sources = Vec::new();
    for input in &args.input {
        sources.push(feeds::read_documents(input)?);
    }
    // The shutdown (SIGTERM or Ctrl-C in the binary) ends the reading; what was read is sent, and the
    // summary says where it stopped.
    let stop = shutdown;
    let documents = crate::until_stopped(sources.into_iter().flatten(), stop.clone());
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
) -> crate::IngestStats {
    crate::enqueue(documents, sink, |_| {}).await
}

/// The feeds of the list and of `--feed`, and how to poll them.
///
/// # Errors
/// When the feed list cannot be read or names no feeds.
pub fn feed_specs(args: &Args) -> anyhow::Result<(Vec<FeedSpec>, PollSettings)> {
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

async fn poll_feeds(args: &Args, shutdown: CancellationToken) -> anyhow::Result<()> {
    let (feeds, settings) = feed_specs(args)?;
    let fetcher = Fetcher::new(FetcherConfig {
        max_bytes: args.max_feed_bytes,
        timeout: Duration::from_secs_f64(args.feed_timeout_secs),
        private_addresses: args.private_addresses(),
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
        Some(url) => poll(args, feeds, settings, fetcher, sqs_queue(&args.aws, url).await, seen, shutdown).await,
        None => poll(args, feeds, settings, fetcher, StdoutSink::default(), seen, shutdown).await,
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
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let metrics = FeedMetrics::default();
    let poller = Arc::new(FeedPoller::new(fetcher, sink, seen, metrics.clone(), settings));
    if args.once {
        // A panic while polling one feed (a bug, or a parser's) fails that feed, not the others: each
        // poll is caught on its own, so the entries of the feeds read beside it still go out.
        let polls = feeds.iter().map(|feed| {
            let poller = poller.clone();
            async move {
                let mut state = FeedState::default();
                let poll = std::panic::AssertUnwindSafe(poller.poll_once(feed, &mut state));
                let outcome = futures_util::FutureExt::catch_unwind(poll).await.unwrap_or_else(|_| {
                    let detail = "polling it panicked (a bug: please report it)".to_owned();
                    PollOutcome::Failed { kind: "panicked", detail }
                });
                (feed, outcome)
            }
        });
        for (feed, outcome) in futures_util::future::join_all(polls).await {
            if let PollOutcome::Failed { kind, detail } = outcome {
                service_kit::say_error("feed-ingest", &format!("{} ({kind}): {detail}", feed.shown()));
            }
        }
        return Ok(());
    }
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
            Err(error) => {
                // A fetch error names the URL itself, a parse error does not: name it once either way.
                let text = format!("{error:#}");
                let reason = text.strip_prefix(&format!("{}: ", feed.url)).unwrap_or(&text).replace(&feed.url, "…");
                service_kit::say_error("feed-ingest", &format!("{}: {reason}", feed.shown()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn the_feed_list_and_the_feed_flags_add_up() {
        let toml = "[[feed]]\nurl = \"https://export.arxiv.org/rss/cs\"\ninterval = \"1h\"\n";
        let args = Args::parse_from([
            "feed-ingest",
            "--feeds-toml",
            toml,
            "--feed",
            "https://example.org/atom.xml",
            "--interval",
            "30m",
            "--max-document-bytes",
            "1000",
        ]);
        let (feeds, settings) = feed_specs(&args).unwrap();
        let found: Vec<(&str, Duration)> = feeds.iter().map(|feed| (feed.url.as_str(), feed.interval)).collect();
        assert_eq!(
            found,
            [
                ("https://export.arxiv.org/rss/cs", Duration::from_secs(3600)),
                ("https://example.org/atom.xml", Duration::from_secs(1800))
            ]
        );
        assert_eq!(settings.limits.max_text_bytes, 1000);
    }

    #[test]
    fn an_empty_feed_list_is_refused_by_name() {
        let args = Args::parse_from(["feed-ingest", "--feeds-toml", ""]);
        let error = feed_specs(&args).unwrap_err().to_string();
        assert!(error.contains("names no feeds"), "{error}");
    }
}
