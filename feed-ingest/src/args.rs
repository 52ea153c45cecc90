//! feed-ingest's command line: every flag, read into [`Args`]. The binary parses it and hands it to
//! [`crate::run`].

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use docclass_types::Limits;
use docclass_types::topology::env;
use feeds::FetcherConfig;
use service_kit::{AwsArgs, CommonArgs};

/// The default port of `/healthz`, `/metrics` and `/feeds` (the classifiers and writer use 9101–9103).
pub const METRICS_PORT: u16 = docclass_types::default_ports::FEED_INGEST;

/// Reads RSS/Atom feeds, JSON Lines files (gzipped or not), folders of text files, or - for stdin, and
/// enqueues them.
#[derive(Debug, Parser)]
#[command(name = "feed-ingest", version, about)]
pub struct Args {
    /// Inputs to read once, in order.
    #[arg(long, num_args = 1.., required_unless_present_any = ["feed", "config", "feeds_toml", "healthcheck"])]
    pub input: Vec<PathBuf>,
    /// RSS or Atom feeds to poll (http or https); repeat for several.
    #[arg(long)]
    pub feed: Vec<String>,
    /// A feed list (TOML: URLs, intervals, label mappings; see the README).
    #[arg(long, env = env::FEEDS)]
    pub config: Option<PathBuf>,
    /// The feed list itself, as TOML text (what a task definition on ECS carries: no file to mount).
    #[arg(long, env = env::FEEDS_TOML, conflicts_with = "config", hide_env_values = true)]
    pub feeds_toml: Option<String>,
    /// How often each `--feed` is polled (the feed list sets its own), e.g. "15m", "1h".
    #[arg(long, value_parser = parse_interval, default_value = "15m")]
    pub interval: Duration,
    /// Poll each feed once and exit.
    #[arg(long)]
    pub once: bool,
    /// With --once: print each entry that would be enqueued, one JSON object per line, and enqueue nothing.
    #[arg(long, requires = "once")]
    pub dry_run: bool,
    /// Remember enqueued documents in this SQLite file, so no poll or restart enqueues one twice.
    #[arg(long, env = env::SEEN_DB, conflicts_with = "seen_table")]
    pub seen_db: Option<PathBuf>,
    /// Remember enqueued documents in this DynamoDB table (`docclass infra up` makes `<stack>-seen`).
    #[arg(long, env = env::SEEN_TABLE)]
    pub seen_table: Option<String>,
    /// The largest feed response accepted, in bytes.
    #[arg(long, default_value_t = FetcherConfig::default().max_bytes)]
    pub max_feed_bytes: usize,
    /// The largest document (title + text) enqueued, in bytes; larger ones are counted and left out.
    #[arg(long, default_value_t = Limits::DEFAULT_MAX_TEXT_BYTES)]
    pub max_document_bytes: usize,
    /// Fetch feeds from loopback, private and link-local addresses too (on-premises feeds, tests).
    /// Without it they are refused, after DNS and on every redirect: a feed must not lead feed-ingest to
    /// the task's credentials endpoint (169.254.170.2), instance metadata or its own network.
    #[arg(long, env = env::ALLOW_PRIVATE_ADDRESSES)]
    pub allow_private_addresses: bool,
    /// Fetch from this private network all the same, and from no other (`10.20.0.0/16`, `127.0.0.1/32`;
    /// repeat, or comma-separate in the variable): narrower than --allow-private-addresses, so a feed on
    /// the office network cannot lead to the credentials endpoint.
    #[arg(long = "allow-private-network", env = env::ALLOW_PRIVATE_NETWORKS, value_delimiter = ',', value_name = "CIDR")]
    pub allow_private_networks: Vec<feeds::IpNet>,
    /// Seconds a feed may take to answer in full (at most 300).
    #[arg(long, value_parser = parse_feed_timeout, default_value_t = FetcherConfig::default().timeout.as_secs_f64())]
    pub feed_timeout_secs: f64,
    /// The SQS ingest queue; without it, envelopes go to stdout.
    #[arg(long, env = env::INGEST_QUEUE_URL)]
    pub queue_url: Option<String>,
    /// How AWS is reached (the queue and the DynamoDB de-duplication table).
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Log format, metrics address (`/healthz`, `/metrics` and `/feeds` while polling) and health check.
    #[command(flatten)]
    pub common: CommonArgs,
}

impl Args {
    /// The addresses the fetcher may connect to, from the two flags.
    pub fn private_addresses(&self) -> feeds::PrivateAddresses {
        if self.allow_private_addresses {
            feeds::PrivateAddresses::allow_all()
        } else {
            feeds::PrivateAddresses::allowing(self.allow_private_networks.clone())
        }
    }
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
