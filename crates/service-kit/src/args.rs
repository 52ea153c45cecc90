//! The flags the service binaries share: how a service logs and serves its health (`CommonArgs`, every
//! binary, feed-ingest included), how a pool of workers runs (`WorkerArgs`), how AWS is reached
//! (`AwsArgs`), and all of a classifier's (`ClassifierArgs`, one type for both classifiers: what differs
//! between them is a [`ClassifierService`] value, not a copied `main.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use adapters_aws::AwsSettings;
use docclass_types::topology::{Queue, env, timeouts};
use worker_runtime::telemetry::{self, LogFormat};

/// Flags every service takes (flattened into each binary's own).
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Log line format on stderr: text or json.
    #[arg(long, env = env::LOG_FORMAT, default_value = "text", value_parser = parse_log_format)]
    pub log_format: LogFormat,
    /// Address of the `/healthz` and `/metrics` endpoint [default: 127.0.0.1 on the service's own port:
    /// feed-ingest 9100, topic-classifier 9101, subtopic-classifier 9102, table-writer 9103; the images
    /// and task definitions set 0.0.0.0, for the orchestrator and the scraper].
    #[arg(long, env = env::METRICS_ADDR)]
    pub metrics_addr: Option<SocketAddr>,
    /// Ask the running service's `/healthz` (at the metrics address) and exit 0 if it is healthy, else
    /// 1: the container health check of images that have no shell or curl.
    #[arg(long)]
    pub healthcheck: bool,
}

impl CommonArgs {
    /// With `--healthcheck`, checks the service on its metrics address and exits; else returns.
    pub fn exit_if_healthcheck(&self, default_port: u16) {
        crate::health::exit_if_healthcheck(self.healthcheck, self.metrics_addr_or(default_port));
    }

    /// The metrics address, or the service's default port on loopback: a service started by hand on a
    /// laptop or a shared host does not publish its metrics to the network unless told to.
    pub fn metrics_addr_or(&self, default_port: u16) -> SocketAddr {
        self.metrics_addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], default_port)))
    }

    /// Starts logging on stderr in the chosen format.
    pub fn init_logging(&self) {
        telemetry::init(self.log_format, "info");
    }
}

/// Flags of every service that runs a pool of workers over a queue (the classifiers and the writer).
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    /// Concurrent workers (1 to 256).
    #[arg(long, env = env::WORKERS, default_value_t = 2, value_parser = parse_workers)]
    pub workers: usize,
    /// Where dead letters are appended, one JSON object per line with `reason`, `detail`, `queue` and the
    /// original `body`.
    #[arg(long, env = env::DEAD_LETTERS, default_value = "dead-letters.jsonl")]
    pub dead_letters: PathBuf,
    /// How long a received message stays hidden from other workers (SQS mode), in seconds; the runtime
    /// extends it every half timeout while a batch is worked on. A crashed worker's messages come back
    /// after it. The one visibility setting: the queue's own attribute is only a default for consumers
    /// that name none.
    #[arg(long = "visibility-timeout-secs", env = env::VISIBILITY_TIMEOUT_SECS, value_parser = parse_seconds,
          default_value = VISIBILITY_DEFAULT.as_str())]
    pub visibility_timeout: Duration,
    /// Log format, metrics address and health check.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Where a pool's live model comes from, besides the file it starts with: `docclass run` and both
/// classifiers take these.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelStoreArgs {
    /// A model store (a folder, or s3://bucket/prefix) whose live model is served and swapped, with no
    /// restart, when `docclass model publish` or `promote` moves it; the model file serves only while
    /// the store names none or cannot be reached.
    #[arg(long, env = env::MODEL_STORE, value_parser = parse_store)]
    pub model_store: Option<model_store::StoreUri>,
    /// Seconds between two looks at the store's live pointer (one conditional read each).
    #[arg(long = "model-store-interval-secs", env = env::MODEL_STORE_INTERVAL_SECS, value_parser = parse_seconds,
          default_value = "30")]
    pub model_store_interval: Duration,
    /// Promote, drop, confirm or roll back only after both models answered this many labelled
    /// documents (docs/models.md, "Judging a candidate").
    #[arg(long, env = env::PROMOTE_AFTER_DOCUMENTS, default_value_t = model_store::verdict::DEFAULT_MIN_DOCUMENTS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub promote_after_documents: u64,
    /// Record the shadow model's figures but decide nothing: promotions and rollbacks are left to
    /// `docclass model promote` and `rollback`.
    #[arg(long, env = env::NO_AUTO_PROMOTE)]
    pub no_auto_promote: bool,
    /// Send this share (0–100 %) of documents to the candidate's answer, chosen by a hash of their id.
    #[arg(long, env = env::CANARY_PERCENT, default_value_t = 0.0, value_parser = parse_percent)]
    pub canary_percent: f64,
}

fn parse_percent(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(percent) if (0.0..=100.0).contains(&percent) => Ok(percent),
        _ => Err(format!("{text:?} is not a share from 0 to 100 (%)")),
    }
}

fn parse_store(text: &str) -> Result<model_store::StoreUri, String> {
    text.parse()
}

/// How to reach AWS, from flags and the standard AWS environment variables.
#[derive(Debug, Clone, clap::Args)]
pub struct AwsArgs {
    /// An AWS-compatible endpoint (LocalStack, moto server); unset for AWS itself.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// The AWS region [default: the SDK's chain: AWS_REGION, profile, instance metadata].
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
}

impl AwsArgs {
    /// The SDK settings these flags describe; credentials come from the SDK's default chain
    /// (environment, ECS task role, instance metadata).
    pub fn settings(&self) -> AwsSettings {
        AwsSettings { endpoint_url: self.endpoint_url.clone(), region: self.region.clone(), static_credentials: None }
    }
}

/// What makes a classifier service itself: its name and description, the queues it sits between, its
/// default metrics port. The topic and subtopic binaries each hold one as a constant.
#[derive(Debug, Clone, Copy)]
pub struct ClassifierService {
    /// The binary's name, for `--help`, logs and errors.
    pub name: &'static str,
    /// One line on what it does, for `--help`.
    pub about: &'static str,
    /// Its version, for `--version` (the binary's `CARGO_PKG_VERSION`).
    pub version: &'static str,
    /// The queue it consumes; its URL variable and its dead-letter queue's come from the topology.
    pub input: Queue,
    /// The queue its results go to.
    pub output: Queue,
    /// Its own default port for `/healthz` and `/metrics`.
    pub metrics_port: u16,
}

/// A classifier's flags; [`ClassifierArgs::parse_for`] names the queue variables after its service.
#[derive(Debug, Clone, clap::Parser)]
pub struct ClassifierArgs {
    /// Model file [default: the model `docclass run` caches].
    #[arg(long, env = env::MODEL)]
    pub model: Option<PathBuf>,
    /// Where the default model is cached.
    #[arg(long, env = env::CACHE_DIR)]
    pub cache_dir: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub store: ModelStoreArgs,
    /// Below this confidence (0 to 1), answer `unknown` instead of a guess (see `docclass eval
    /// --min-score`).
    #[arg(long, env = env::MIN_SCORE, default_value_t = 0.0, value_parser = parse_score)]
    pub min_score: f32,
    /// SQS queue to read documents from; without it, envelopes are read on stdin and written to stdout.
    #[arg(long)]
    pub input_queue_url: Option<String>,
    /// SQS queue for the documents it classified (needed with --input-queue-url).
    #[arg(long)]
    pub output_queue_url: Option<String>,
    /// SQS dead-letter queue of the input queue (needed with --input-queue-url).
    #[arg(long)]
    pub dead_letter_queue_url: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub aws: AwsArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub worker: WorkerArgs,
}

impl ClassifierArgs {
    /// Parses the command line of `service`: its name, description and version in `--help`, and each
    /// queue flag read from the topology's variable for its queues (`DOCCLASS_INGEST_QUEUE_URL`, …).
    /// Exits with clap's message on bad flags, as `Parser::parse` does.
    pub fn parse_for(service: &ClassifierService) -> Self {
        let mut matches = Self::command_for(service).get_matches();
        <Self as clap::FromArgMatches>::from_arg_matches_mut(&mut matches).unwrap_or_else(|error| error.exit())
    }

    fn command_for(service: &ClassifierService) -> clap::Command {
        <Self as clap::CommandFactory>::command()
            .name(service.name)
            .bin_name(service.name)
            .about(service.about)
            .version(service.version)
            .mut_arg("input_queue_url", |arg| arg.env(service.input.url_var()))
            .mut_arg("output_queue_url", |arg| arg.env(service.output.url_var()))
            .mut_arg("dead_letter_queue_url", |arg| arg.env(service.input.dead_letter_url_var()))
    }
}

/// `timeouts::VISIBILITY` as the text clap shows and parses as the default: the topology stays the one
/// home of the value.
static VISIBILITY_DEFAULT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| timeouts::VISIBILITY.as_secs().to_string());

/// The most workers a pool takes: far more than a task's cores can use, so a typo (`--workers 100000`)
/// is refused instead of starting a hundred thousand receive loops.
pub const MAX_WORKERS: usize = 256;

/// A pool's workers: 1 to [`MAX_WORKERS`]. Every binary's `--workers` reads through it.
///
/// # Errors
/// The one line clap shows when it is not.
pub fn parse_workers(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(workers) if (1..=MAX_WORKERS).contains(&workers) => Ok(workers),
        _ => Err(format!("{text:?} is not a number of workers from 1 to {MAX_WORKERS}")),
    }
}

/// A confidence threshold: a number from 0 to 1 (`NaN` meant "route everything" to one command and
/// "route nothing" to another; now it is refused by every one). Every `--min-score` reads through it.
///
/// # Errors
/// The one line clap shows when it is not.
pub fn parse_score(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(score) if (0.0..=1.0).contains(&score) => Ok(score),
        _ => Err(format!("{text:?} is not a confidence from 0 to 1")),
    }
}

/// A whole number of seconds, at least one.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(seconds) if seconds > 0 => Ok(Duration::from_secs(seconds)),
        _ => Err(format!("{text:?} is not a whole number of seconds above 0")),
    }
}

fn parse_log_format(value: &str) -> Result<LogFormat, String> {
    match value {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("unknown log format {other:?}: use text or json")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--workers` and `--min-score` take what makes sense, and say so in one line otherwise.
    #[test]
    fn workers_and_scores_are_refused_out_of_range() {
        assert_eq!(parse_workers("4"), Ok(4));
        for bad in ["0", "100000", "-1", "many"] {
            assert!(parse_workers(bad).unwrap_err().contains("from 1 to 256"), "{bad}");
        }
        assert_eq!(parse_score("0.5"), Ok(0.5));
        for bad in ["NaN", "-0.1", "1.5", "inf", "x"] {
            assert!(parse_score(bad).unwrap_err().contains("from 0 to 1"), "{bad}");
        }
    }

    /// Both classifiers are one type: what tells them apart is which of the topology's variables each
    /// queue flag reads.
    #[test]
    fn each_classifier_reads_its_own_queues_variables() {
        let subtopic = ClassifierService {
            name: "subtopic-classifier",
            about: "a test",
            version: "0",
            input: Queue::Subtopic,
            output: Queue::Results,
            metrics_port: 1,
        };
        let help = ClassifierArgs::command_for(&subtopic).render_long_help().to_string();
        for variable in [env::SUBTOPIC_QUEUE_URL, env::RESULTS_QUEUE_URL, env::SUBTOPIC_DLQ_URL] {
            assert!(help.contains(variable), "{variable} in:\n{help}");
        }
        assert!(!help.contains(env::INGEST_QUEUE_URL), "{help}");
        let mut matches = ClassifierArgs::command_for(&subtopic)
            .try_get_matches_from(["subtopic-classifier", "--input-queue-url", "q", "--min-score", "0.5"])
            .unwrap();
        let args = <ClassifierArgs as clap::FromArgMatches>::from_arg_matches_mut(&mut matches).unwrap();
        assert_eq!((args.input_queue_url.as_deref(), args.min_score), (Some("q"), 0.5));
    }
}
