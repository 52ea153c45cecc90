//! `docclass dashboard`: one self-contained web page (HTML, SVG and a little JavaScript compiled into the
//! binary: no CDN, no build chain) that shows what a pipeline is doing and refreshes itself, and
//! `/api/status`, the same figures as JSON for scripts.
//!
//! It serves each way the pipeline runs:
//! - an embedded run's SQLite file (`--db`), and while `docclass run --dashboard` goes, that run's
//!   queues and workers, live;
//! - the compose stack and AWS (`--table`, the queue URLs `docclass infra up` exports): queues from
//!   SQS (age of the oldest message from CloudWatch where it has data), dead letters peeked at in the
//!   dead-letter queues, results from the DynamoDB table (one scan per `--table-every-secs`), pools from
//!   ECS (`--cluster`) or the Docker Engine API (`--compose PROJECT`), and each service's `/metrics`
//!   given with `--metrics SERVICE=URL`.
//!
//! Read-only, loopback unless told otherwise; a part that cannot be read is shown as unreachable,
//! never as zero.

mod live;
mod results;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use adapters_aws::{DynamoTable, load_sdk_config};
use anyhow::Context;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::{DateTime, Utc};
use docclass_types::topology::env;
use docclass_types::{Queue, ResultTable};
use serde::Serialize;
use service_kit::AwsArgs;

pub use live::{EmbeddedQueues, HandledCounts};
use live::{PoolSource, PoolView, QueueView, Rates, Scraper, ServiceView, SqsQueues, StageRate};
use results::{DeadLetters, Figures};

/// Arguments of `docclass dashboard`.
#[derive(Debug, clap::Args)]
pub struct DashboardArgs {
    /// The SQLite file an embedded run wrote (`docclass run --db`).
    #[arg(long, default_value = docclass_types::topology::DEFAULT_DB)]
    db: PathBuf,
    /// Where to serve the page; loopback unless told otherwise.
    #[arg(long, default_value = "127.0.0.1:9200")]
    addr: SocketAddr,
    /// Seconds between the page's refreshes.
    #[arg(long, default_value_t = 3)]
    refresh_secs: u32,
    /// The DynamoDB result table (as `docclass infra up` exports it): serve the running stack, on AWS
    /// or the compose stack's emulator, instead of --db.
    #[arg(long, env = env::TABLE)]
    table: Option<String>,
    /// Seconds between reads of the DynamoDB table (each one a scan of it) and looks at the
    /// dead-letter queues; the page refreshes the queues in between.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3600))]
    table_every_secs: u32,
    /// The ECS cluster whose services `<stack>-<service>` are the pools.
    #[cfg(feature = "deploy")]
    #[arg(long, conflicts_with = "compose")]
    cluster: Option<String>,
    /// The compose project whose containers are the pools (through the Docker Engine API).
    #[cfg(feature = "deploy")]
    #[arg(long)]
    compose: Option<String>,
    /// The stack's name: the prefix of its ECS services.
    #[arg(long, env = env::STACK, default_value = docclass_types::topology::DEFAULT_STACK)]
    stack: String,
    /// A service's metrics endpoint to show, as SERVICE=URL (e.g.
    /// topic-classifier=http://127.0.0.1:9102/metrics); repeat for each.
    #[arg(long = "metrics", value_name = "SERVICE=URL", value_parser = metrics_target)]
    metrics: Vec<(String, String)>,
    #[command(flatten)]
    queues: super::dlq::QueueUrls,
    #[command(flatten)]
    aws: AwsArgs,
}

fn metrics_target(text: &str) -> Result<(String, String), String> {
    let (service, url) =
        text.split_once('=').ok_or("give SERVICE=URL, e.g. topic-classifier=http://127.0.0.1:9102/metrics")?;
    let parsed = reqwest::Url::parse(url).map_err(|error| format!("{url}: {error}"))?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(format!("{url}: not an http(s) URL"));
    }
    Ok((service.to_owned(), url.to_owned()))
}

/// The page, with its style and script inline.
const PAGE: &str = include_str!("page.html");

/// Where the results come from.
enum ResultSource {
    /// An embedded run's SQLite file, read at most once per refresh interval.
    Sqlite(PathBuf),
    /// The DynamoDB table, scanned at most once per `every`.
    Dynamo { table: DynamoTable, every: Duration },
}

/// Where the queues come from.
enum QueueSource {
    /// Not known here: why.
    Unknown(String),
    /// The embedded run's, in this process.
    Embedded(EmbeddedQueues),
    /// SQS.
    Sqs(Box<SqsQueues>),
}

/// One reading of the table and the dead-letter queues: when, the figures, the letters.
type Reading = (Instant, Result<Figures, String>, Result<DeadLetters, String>);

/// Everything the dashboard reads.
pub struct Sources {
    results: ResultSource,
    queues: QueueSource,
    pools: PoolSource,
    scraper: Scraper,
    /// The last reading of the table and the dead letters, with when it was taken.
    cached: tokio::sync::Mutex<Option<Reading>>,
    refresh_secs: u32,
    /// The embedded run's per-stage counts, when serving one.
    stage_counts: Option<Arc<HandledCounts>>,
    rates: Rates,
}

impl Sources {
    /// What `docclass run --dashboard` shows: its SQLite file, its queues, its workers per stage and what
    /// each stage has handled.
    pub fn embedded(db: PathBuf, queues: EmbeddedQueues, workers: usize, counts: Arc<HandledCounts>) -> Self {
        let mut sources = Self::new(
            ResultSource::Sqlite(db),
            QueueSource::Embedded(queues),
            PoolSource::Embedded(workers),
            Vec::new(),
            2,
        );
        sources.stage_counts = Some(counts);
        sources
    }

    fn new(
        results: ResultSource,
        queues: QueueSource,
        pools: PoolSource,
        metrics: Vec<(String, String)>,
        refresh_secs: u32,
    ) -> Self {
        Self {
            results,
            queues,
            pools,
            scraper: Scraper::new(metrics),
            cached: tokio::sync::Mutex::new(None),
            refresh_secs: refresh_secs.max(1),
            stage_counts: None,
            rates: Rates::default(),
        }
    }

    /// The sources `args` name.
    async fn of(args: &DashboardArgs) -> anyhow::Result<Self> {
        let Some(table) = &args.table else {
            let why = "an embedded run's queues live only while it runs (docclass run --dashboard shows them)";
            return Ok(Self::new(
                ResultSource::Sqlite(args.db.clone()),
                QueueSource::Unknown(why.into()),
                PoolSource::Unknown("an embedded run's workers live only while it runs".into()),
                args.metrics.clone(),
                args.refresh_secs,
            ));
        };
        let config = load_sdk_config(&args.aws.settings()).await;
        let results = ResultSource::Dynamo {
            table: DynamoTable::new(aws_sdk_dynamodb::Client::new(&config), table),
            every: Duration::from_secs(u64::from(args.table_every_secs)),
        };
        let urls: Vec<_> = Queue::ALL
            .into_iter()
            .filter_map(|queue| {
                let (url, dead_letters) = args.queues.given(queue);
                Some((queue, url?.to_owned(), dead_letters.map(str::to_owned)))
            })
            .collect();
        let queues = if urls.is_empty() {
            QueueSource::Unknown(format!(
                "no queue URLs: set {} and the others (eval \"$(docclass infra up)\" does)",
                env::INGEST_QUEUE_URL
            ))
        } else {
            let sqs = aws_sdk_sqs::Client::new(&config);
            QueueSource::Sqs(Box::new(SqsQueues::new(sqs, aws_sdk_cloudwatch::Client::new(&config), urls)))
        };
        Ok(Self::new(results, queues, pools(args).await?, args.metrics.clone(), args.refresh_secs))
    }

    /// Everything, now.
    async fn status(&self) -> Status {
        let (source, results, dead_letters) = match &self.results {
            ResultSource::Sqlite(db) => {
                // Read at most once per refresh, however many pages ask: the reading scans the whole
                // table, and a run writing it must not lose its cores to the readers.
                let mut cached = self.cached.lock().await;
                let every = Duration::from_secs(u64::from(self.refresh_secs));
                if cached.as_ref().is_none_or(|(at, _, _)| at.elapsed() >= every) {
                    let (figures, letters) = results::sqlite_reading(db).await;
                    *cached = Some((Instant::now(), figures, letters));
                }
                let (_, figures, letters) = cached.as_ref().expect("just filled");
                (format!("sqlite:{}", db.display()), figures.clone(), letters.clone())
            }
            ResultSource::Dynamo { table, every } => {
                let mut cached = self.cached.lock().await;
                if cached.as_ref().is_none_or(|(at, _, _)| at.elapsed() >= *every) {
                    let figures = read_table(table).await;
                    let letters = match &self.queues {
                        QueueSource::Sqs(queues) => queues.dead_letters().await,
                        _ => Err("no dead-letter queue URLs".to_owned()),
                    };
                    *cached = Some((Instant::now(), figures, letters));
                }
                let (at, figures, letters) = cached.as_ref().expect("just filled");
                let read_at = Utc::now() - chrono::Duration::from_std(at.elapsed()).unwrap_or_default();
                (
                    format!("dynamodb:{} (read {})", table.name(), read_at.format("%H:%M:%S")),
                    figures.clone(),
                    letters.clone(),
                )
            }
        };
        let queues = match &self.queues {
            QueueSource::Unknown(why) => Err(why.clone()),
            QueueSource::Embedded(queues) => Ok(queues.read()),
            QueueSource::Sqs(queues) => queues.read().await,
        };
        let (results_written, figures) = match results {
            Ok(figures) => (Some(figures.results_written), Ok(figures)),
            Err(why) => (None, Err(why)),
        };
        let part = |pick: fn(&Figures) -> serde_json::Value| match &figures {
            Ok(figures) => Part::Known(pick(figures)),
            Err(why) => Part::Unreachable { unreachable: why.clone() },
        };
        Status {
            source,
            generated_at: Utc::now(),
            refresh_secs: self.refresh_secs,
            results_written,
            per_topic: part(|f| serde_json::json!(f.per_topic)),
            per_subtopic: part(|f| serde_json::json!(f.per_subtopic)),
            confidence_histogram: part(|f| serde_json::json!(f.confidence_histogram)),
            model_versions: part(|f| serde_json::json!(f.model_versions)),
            agreement: part(|f| serde_json::json!(f.agreement)),
            throughput: part(|f| serde_json::json!(f.throughput)),
            latest: part(|f| serde_json::json!(f.latest)),
            dead_letters: Part::of(dead_letters),
            queues: Part::of(queues),
            pools: Part::of(self.pools.read().await),
            stages: Vec::new(),
            services: self.scraper.read().await,
        }
        .with_stages(self)
    }
}

/// Every row of the table, added up. One scan: read capacity in proportion to the table's size.
async fn read_table(table: &DynamoTable) -> Result<Figures, String> {
    let rows = table.list(usize::MAX).await.map_err(|error| error.to_string())?;
    let mut summary = results::Summary::default();
    for row in rows {
        summary.add(row.into());
    }
    Ok(summary.finish())
}

#[cfg(feature = "deploy")]
async fn pools(args: &DashboardArgs) -> anyhow::Result<PoolSource> {
    if let Some(cluster) = &args.cluster {
        let clients = deploy::aws::Clients::new(&args.aws.settings()).await;
        return Ok(PoolSource::Ecs { clients, cluster: cluster.clone(), stack: args.stack.clone() });
    }
    if let Some(project) = &args.compose {
        let pools = deploy::compose::ComposePools::connect(project, 30).await?;
        return Ok(PoolSource::Compose(pools));
    }
    Ok(PoolSource::Unknown("give --cluster (ECS) or --compose PROJECT (Docker) to see the pools".into()))
}

#[cfg(not(feature = "deploy"))]
async fn pools(_: &DashboardArgs) -> anyhow::Result<PoolSource> {
    Ok(PoolSource::Unknown("this build has no deploy feature: pools are not read".into()))
}

pub fn run(args: DashboardArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let sources = Sources::of(&args).await?;
        let listener = bind(args.addr).await?;
        let what =
            args.table.as_deref().map_or_else(|| args.db.display().to_string(), |table| format!("table {table}"));
        eprintln!("dashboard of {what} on http://{}/ (Ctrl-C to stop)", listener.local_addr()?);
        serve(listener, sources, worker_runtime::shutdown_signal()).await
    })
}

/// The dashboard's listener on `addr`.
///
/// # Errors
/// When the address cannot be bound.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding the dashboard to {addr}"))
}

/// Serves the dashboard of `sources` on `listener` until `shutdown` completes: what `docclass
/// dashboard` runs, and `docclass run --dashboard` beside its run.
///
/// # Errors
/// When serving fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    sources: Sources,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app =
        axum::Router::new().route("/", get(page)).route("/api/status", get(api_status)).with_state(Arc::new(sources));
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

async fn page(State(sources): State<Arc<Sources>>) -> impl IntoResponse {
    let html = PAGE.replace("{{REFRESH_MS}}", &(u64::from(sources.refresh_secs) * 1000).to_string());
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html)
}

async fn api_status(State(sources): State<Arc<Sources>>) -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Json(sources.status().await))
}

/// What `/api/status` answers. A part that could not be read is `{"unreachable": "why"}`.
#[derive(Debug, Serialize)]
struct Status {
    source: String,
    generated_at: DateTime<Utc>,
    refresh_secs: u32,
    /// Rows in the table; absent when the table is unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    results_written: Option<u64>,
    /// Topic → rows.
    per_topic: Part<serde_json::Value>,
    /// Subtopic → rows.
    per_subtopic: Part<serde_json::Value>,
    /// Subtopic confidence in ten bins of 0.1.
    confidence_histogram: Part<serde_json::Value>,
    /// Model version → decisions (topic and subtopic models).
    model_versions: Part<serde_json::Value>,
    /// How often predictions agree with the labels documents carried.
    agreement: Part<serde_json::Value>,
    /// Rows written per minute over the last minutes, oldest first, and end-to-end latency.
    throughput: Part<serde_json::Value>,
    latest: Part<serde_json::Value>,
    dead_letters: Part<DeadLetters>,
    /// Each queue: visible, in flight, age of the oldest message, dead letters.
    queues: Part<Vec<QueueView>>,
    /// Each pool: desired and running.
    pools: Part<Vec<PoolView>>,
    /// Messages handled per minute by each stage whose counts are known (the embedded run's, or the
    /// services whose `/metrics` was given), over the refreshes of the last minutes.
    stages: Vec<StageRate>,
    /// Each service whose `/metrics` was given.
    services: Vec<ServiceView>,
}

impl Status {
    /// Records this reading's per-stage counts and fills in the rates.
    fn with_stages(mut self, sources: &Sources) -> Self {
        if let Some(counts) = &sources.stage_counts {
            for (stage, count) in HandledCounts::STAGES.iter().zip(counts.get()) {
                sources.rates.record(stage, count as f64);
            }
        }
        for service in &self.services {
            if let Some(handled) = service.counters.as_ref().and_then(|counters| counters.get("handled")) {
                sources.rates.record(&service.service, *handled);
            }
        }
        self.stages = sources.rates.per_minute();
        self
    }
}

/// A figure, or why it could not be read.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Part<T> {
    Known(T),
    Unreachable { unreachable: String },
}

impl<T> Part<T> {
    fn of(result: Result<T, String>) -> Self {
        match result {
            Ok(value) => Part::Known(value),
            Err(unreachable) => Part::Unreachable { unreachable },
        }
    }
}
